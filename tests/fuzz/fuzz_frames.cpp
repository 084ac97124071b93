// libFuzzer: the WebSocket frame decoder never crashes, never hands out a message over its limit or a
// text message that is not UTF-8, stops at the first error or close, and decodes the same however the
// stream is cut (the first byte of the input chooses the cut).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "transports/websocket.h"

namespace {

using plughost::transports::FrameDecoder;

std::vector<std::string> decode(std::string_view stream, std::size_t step) {
    FrameDecoder decoder(1024);
    std::vector<std::string> events;
    auto take = [&](const FrameDecoder::Event& event) {
        if (event.kind == FrameDecoder::Event::Kind::Message) {
            if (event.payload.size() > 1024 ||
                (event.text && !plughost::transports::validUtf8(event.payload))) {
                __builtin_trap();
            }
        }
        events.push_back(std::to_string(static_cast<int>(event.kind)) + ":" + std::to_string(event.code) +
                         ":" + std::string(event.payload));
    };
    for (std::size_t at = 0; at < stream.size(); at += step) {
        decoder.feed(stream.substr(at, step), take);
    }
    return events;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    const std::size_t step = 1 + data[0] % 7;
    const std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);
    if (decode(stream, stream.size() + 1) != decode(stream, step)) {
        __builtin_trap();
    }
    // What the encoder writes, a client's mask added, decodes to itself.
    std::string frame;
    plughost::transports::encodeFrame(frame, plughost::transports::WsOpcode::Binary,
                                      stream.substr(0, std::min<std::size_t>(stream.size(), 1000)));
    frame[1] = static_cast<char>(frame[1] | 0x80);
    const std::size_t header = 2 + ((frame[1] & 0x7f) == 126 ? 2 : 0);
    frame.insert(header, std::string(4, '\0'));
    FrameDecoder decoder(1024);
    bool seen = false;
    decoder.feed(frame, [&](const FrameDecoder::Event& event) {
        seen = event.kind == FrameDecoder::Event::Kind::Message &&
               event.payload == stream.substr(0, std::min<std::size_t>(stream.size(), 1000));
    });
    if (!seen) {
        __builtin_trap();
    }
    return 0;
}
