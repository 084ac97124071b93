#include "text.h"

namespace chat {

std::string cleanText(std::string_view in) {
    const auto at = [&](std::size_t i) { return static_cast<unsigned char>(in[i]); };
    std::string out;
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size();) {
        const unsigned lead = at(i);
        const bool stray = lead >= 0x80 && (lead < 0xC2 || lead > 0xF4);  // can never start a character
        // Continuation bytes the lead needs, and the range allowed for the first of them.
        const std::size_t need = lead < 0xC2 || stray ? 0 : lead < 0xE0 ? 1 : lead < 0xF0 ? 2 : 3;
        const unsigned low = lead == 0xE0 ? 0xA0 : lead == 0xF0 ? 0x90 : 0x80;
        const unsigned high = lead == 0xED ? 0x9F : lead == 0xF4 ? 0x8F : 0xBF;
        std::size_t k = 1;  // the well-formed part so far
        while (k <= need && i + k < in.size() && at(i + k) >= (k == 1 ? low : 0x80u) &&
               at(i + k) <= (k == 1 ? high : 0xBFu)) {
            ++k;
        }
        if (stray || k <= need) {
            out += "\xEF\xBF\xBD";
        } else if ((lead >= 0x20 && lead != 0x7f && (lead != 0xC2 || at(i + 1) >= 0xA0)) || lead == '\t') {
            out.append(in.substr(i, k));  // C0, DEL and C1 go: some terminals honour U+009B as an escape
        }
        i += k;
    }
    return out;
}

std::string fold(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        } else if (c == '[' || c == ']' || c == '\\') {
            c = static_cast<char>(c + 32);  // [ ] \ -> { } |
        } else if (c == '~') {
            c = '^';
        }
    }
    return out;
}

std::string trimmed(std::string_view text) {
    const auto begin = text.find_first_not_of(" \t\r\n");
    const auto end = text.find_last_not_of(" \t\r\n");
    return begin == std::string_view::npos ? "" : std::string(text.substr(begin, end - begin + 1));
}

std::string_view cutUtf8(std::string_view text, std::size_t max) {
    if (text.size() <= max) {
        return text;
    }
    std::size_t end = max;
    while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) {
        --end;  // text[end] continues a character: cut before its lead
    }
    return text.substr(0, end);
}

std::string roomName(std::string_view typed) {
    if (!typed.empty() && typed.front() == '#') {
        typed.remove_prefix(1);
    }
    if (typed.empty() || typed.size() > 49) {
        return "";
    }
    for (const char c : typed) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || c == ',' || c == ':' || c == 0x7f || c == '#') {
            return "";
        }
    }
    return std::string(typed);
}

}  // namespace chat
