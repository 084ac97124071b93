// libFuzzer: the HTTP request parser and the upgrade decision never crash, never read past the input,
// hold a bounded head (431 past kMaxRequestHeader), and give the same answer however the bytes arrive;
// the static file server, fed what parsed, never names a file outside its folder.
#include <cstddef>
#include <cstdint>
#include <string>

#include "transports/http.h"
#include "transports/websocket.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string input(reinterpret_cast<const char*>(data), size);
    plughost::transports::HttpRequest request;
    std::size_t used = 0;
    const auto whole = plughost::transports::parseRequest(input, request, used);
    if (whole == plughost::transports::HttpParse::Done) {
        if (used > input.size() || used > plughost::transports::kMaxRequestHeader) {
            __builtin_trap();
        }
        // Byte by byte, as a slow client sends it: Done at the same length, never earlier.
        for (std::size_t n = 1; n < used; ++n) {
            plughost::transports::HttpRequest partial;
            std::size_t partialUsed = 0;
            if (plughost::transports::parseRequest(std::string_view(input).substr(0, n), partial,
                                                   partialUsed) == plughost::transports::HttpParse::Done) {
                __builtin_trap();
            }
        }
        plughost::transports::WebSocketSettings settings;
        settings.path = "/chat";
        settings.origins = {"https://chat.example.org"};
        const auto decision = plughost::transports::decideUpgrade(request, settings);
        if (decision.response.empty() &&
            decision.kind != plughost::transports::UpgradeDecision::Kind::Static) {
            __builtin_trap();
        }
        // A folder that does not exist: every answer is an error, whatever the path says.
        const std::string answer = plughost::transports::serveStatic("/nonexistent-plughost-fuzz", request);
        if (answer.rfind("HTTP/1.1 200", 0) == 0) {
            __builtin_trap();
        }
    }
    if (whole == plughost::transports::HttpParse::Incomplete &&
        size > plughost::transports::kMaxRequestHeader) {
        __builtin_trap();
    }
    return 0;
}
