// libFuzzer: any text must come out of the config loader as a value or a ConfigError, nothing else.
#include <cstddef>
#include <cstdint>
#include <string>

#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    try {
        const auto config = plughost::config::parse(text, "fuzz.yaml", "/tmp");
        for (const auto& service : config.services) {
            (void)service.fingerprint();
        }
    } catch (const plughost::config::ConfigError& error) {
        if (error.problems().empty()) {
            __builtin_trap();  // an error must say what is wrong
        }
    }
    return 0;
}
