// libFuzzer: the real chat plugin (loaded as the host loads it) fed arbitrary
// lines by two members: the text cleaner and the command parser must never
// crash, and nothing relayed may carry a control byte or invalid UTF-8.
#include <cstddef>
#include <cstdint>
#include <string>

#include "../plugins/driver.h"

namespace {

bool clean(const std::string& text) {
    for (std::size_t i = 0; i < text.size();) {
        const auto byte = static_cast<unsigned char>(text[i]);
        if (byte < 0x80) {
            if ((byte < 0x20 && byte != '\n' && byte != '\t') || byte == 0x7f) {
                return false;
            }
            ++i;
            continue;
        }
        const std::size_t length = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : byte >= 0xC0 ? 2 : 0;
        if (length == 0 || i + length > text.size()) {
            return false;
        }
        i += length;
    }
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static plughost::test::PluginDriver driver("services:\n  room:\n    plugin: chat\n    listen: 0\n    settings: {history: 3}\n");
    auto speaker = driver.open();
    auto listener = driver.open();
    driver.say(*listener, "listener" + std::to_string(listener->id()));
    const std::string input(reinterpret_cast<const char*>(data), size);
    std::size_t start = 0;
    while (start <= input.size()) {
        const auto end = input.find('\n', start);
        driver.say(*speaker, std::string_view(input).substr(start, end == std::string::npos ? std::string::npos : end - start));
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
