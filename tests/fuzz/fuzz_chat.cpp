// libFuzzer: the real chat plugin (loaded as the host loads it) fed arbitrary
// lines by two members: the text cleaner and the command parser must never
// crash, and nothing relayed may carry a control byte or invalid UTF-8.
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
    return 0;
}
