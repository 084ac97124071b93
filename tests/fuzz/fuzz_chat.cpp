// libFuzzer: the real chat plugin (loaded as the host loads it) fed arbitrary
// lines by two members, in the line dialect and in the irc dialect: the text
// cleaner and the command parsers must never crash, nothing relayed may carry
// a control byte (but IRC's CRLF and CTCP's \x01) or invalid UTF-8, and no IRC
// line may pass 512 bytes.
#include <cstddef>
#include <cstdint>
#include <string>

#include "../plugins/driver.h"

namespace {

// Well-formed UTF-8 (Unicode table 3-7) without C0 controls but tab and newline, DEL or C1 controls.
bool clean(const std::string& text) {
    for (std::size_t i = 0; i < text.size();) {
        const auto lead = static_cast<unsigned char>(text[i]);
        if (lead < 0x80) {
            if ((lead < 0x20 && lead != '\n' && lead != '\t') || lead == 0x7f) {
                return false;
            }
            ++i;
            continue;
        }
        if (lead < 0xC2 || lead > 0xF4) {
            return false;
        }
        const std::size_t length = lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
        if (i + length > text.size()) {
            return false;
        }
        const auto first = static_cast<unsigned char>(text[i + 1]);
        const unsigned low = lead == 0xE0 ? 0xA0 : lead == 0xF0 ? 0x90 : 0x80;
        const unsigned high = lead == 0xED ? 0x9F : lead == 0xF4 ? 0x8F : 0xBF;
        if (first < low || first > high || (lead == 0xC2 && first < 0xA0)) {
            return false;  // also C1 controls, U+0080-U+009F
        }
        for (std::size_t k = 2; k < length; ++k) {
            const auto next = static_cast<unsigned char>(text[i + k]);
            if (next < 0x80 || next > 0xBF) {
                return false;
            }
        }
        i += length;
    }
    return true;
}

// IRC output: lines of at most 512 bytes ending in CRLF, clean once CRLF and
// CTCP's \x01 are set aside.
bool cleanIrc(const std::string& text) {
    std::string plain;
    std::size_t start = 0;
    while (start < text.size()) {
        const auto end = text.find("\r\n", start);
        if (end == std::string::npos || end + 2 - start > 512) {
            return false;
        }
        for (std::size_t i = start; i < end; ++i) {
            if (text[i] != '\x01') {
                plain += text[i];
            }
        }
        plain += '\n';
        start = end + 2;
    }
    return clean(plain);
}

void feed(plughost::test::PluginDriver& driver, plughost::test::MemorySession& speaker,
          const std::string& input) {
    std::size_t start = 0;
    while (start <= input.size()) {
        const auto end = input.find('\n', start);
        driver.say(speaker, std::string_view(input).substr(
                                start, end == std::string::npos ? std::string::npos : end - start));
        if (end == std::string::npos) {
            break;
        }
        start = end + 1;
    }
}

void irc(const std::string& input) {
    static plughost::test::PluginDriver driver(
        "services:\n  irc:\n    plugin: chat\n    listen: 0\n"
        "    settings: {dialect: irc, server_name: fuzz.test, history: 3}\n");
    auto speaker = driver.open();
    auto listener = driver.open();
    const std::string nick = "l" + std::to_string(listener->id());
    driver.say(*listener, "NICK " + nick);
    driver.say(*listener, "USER l 0 * :l");
    driver.say(*listener, "JOIN #f");
    driver.say(*speaker, "NICK s" + std::to_string(speaker->id()));
    driver.say(*speaker, "USER s 0 * :s");
    driver.say(*speaker, "JOIN #f");
    listener->take();
    feed(driver, *speaker, input);
    if (!cleanIrc(listener->take()) || !cleanIrc(speaker->take())) {
        __builtin_trap();
    }
    driver.leave(*speaker, plughost::CloseReason::PeerClosed);
    driver.leave(*listener, plughost::CloseReason::PeerClosed);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static plughost::test::PluginDriver driver(
        "services:\n  room:\n    plugin: chat\n    listen: 0\n    settings: {history: 3}\n");
    auto speaker = driver.open();
    auto listener = driver.open();
    driver.say(*listener, "listener" + std::to_string(listener->id()));
    const std::string input(reinterpret_cast<const char*>(data), size);
    std::size_t start = 0;
    while (start <= input.size()) {
        const auto end = input.find('\n', start);
        driver.say(*speaker, std::string_view(input).substr(
                                 start, end == std::string::npos ? std::string::npos : end - start));
        if (end == std::string::npos) {
            break;
        }
        start = end + 1;
    }
    if (!clean(listener->take())) {
        __builtin_trap();
    }
    driver.leave(*speaker, plughost::CloseReason::PeerClosed);
    driver.leave(*listener, plughost::CloseReason::PeerClosed);
    irc(input);
    return 0;
}
