#pragma once
// transports/websocket: RFC 6455, server side, as a layer of a listen entry — above TLS when both are
// set, below the plugin. A codec of our own rather than websocketpp 0.8.2: the whole protocol is a
// header parser, a frame decoder and an encoder, and owning it lets the close codes follow the host's
// close reasons and the limits (max_line, max_queue) apply while a frame is still arriving; websocketpp is
// unmaintained since 2020 and would bring its own connection state machine, handlers and timers to wire
// around ours (../shared/LIBRARIES.md). Poco supplies SHA-1 and Base64 for the accept key.
//
// Owns: the upgrade decision (path, Origin, version, subprotocol) and the framing, as pure functions
// and one decoder object per connection. It never touches sockets, epoll, sessions or plugins: the
// session feeds it bytes and sends what it returns. Fuzzed in tests/fuzz/fuzz_websocket.cpp.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "transports/http.h"

namespace plughost::transports {

// A listen entry's `websocket:` (and `static:`), checked by the config reader.
struct WebSocketSettings {
    std::string path = "/";            // the request target the upgrade must name
    std::vector<std::string> origins;  // when not empty, Origin must equal one of them
    std::string staticDir;             // absolute, resolved; empty: no static files
    // A client silent this long is pinged; one that then stays silent as long again is dead. 0: never.
    // Set on the copy a listener hands connections that admission refused (a limit or an access rule):
    // they still upgrade, to hear close code 1008 instead of a "! reason" line no browser could read.
    bool refused = false;
    std::int64_t pingIntervalMs = 30000;
};

// Why an upgrade was refused; counted per reason in status and metrics (websocket_refused).
enum class WsRefusal {
    BadRequest,  // not HTTP, malformed, or a GET that is not an upgrade where no static files are served
    NotFound,    // the upgrade names another path
    Version,     // Sec-WebSocket-Version is not 13 (426)
    Origin,      // origins is set and Origin is none of them (403)
    TooLarge,    // the request header grew past kMaxRequestHeader (431)
    Timeout,     // the request did not arrive within handshake_timeout
};
constexpr std::size_t kWsRefusalCount = static_cast<std::size_t>(WsRefusal::Timeout) + 1;
const char* refusalName(WsRefusal refusal);  // "bad_request", "not_found", ...

// What to do with a complete request.
struct UpgradeDecision {
    enum class Kind { Upgrade, Refuse, Static } kind = Kind::Refuse;
    std::string response;  // the bytes to send: "101 Switching Protocols", or the refusal
    WsRefusal refusal = WsRefusal::BadRequest;
    std::string subprotocol;  // text.ircv3.net, binary.ircv3.net, or empty
};
UpgradeDecision decideUpgrade(const HttpRequest& request, const WebSocketSettings& settings);
// Sec-WebSocket-Accept for a Sec-WebSocket-Key.
std::string acceptKey(std::string_view key);

enum class WsOpcode : std::uint8_t { Continuation = 0, Text = 1, Binary = 2, Close = 8, Ping = 9, Pong = 10 };

// The close codes the host sends.
namespace close_code {
constexpr std::uint16_t kNormal = 1000;
constexpr std::uint16_t kGoingAway = 1001;
constexpr std::uint16_t kProtocolError = 1002;
constexpr std::uint16_t kInvalidData = 1007;  // invalid UTF-8 in a text message
constexpr std::uint16_t kPolicy = 1008;
constexpr std::uint16_t kTooBig = 1009;
constexpr std::uint16_t kInternalError = 1011;
}  // namespace close_code

// One frame from the server (never masked), appended to `out`.
void encodeFrame(std::string& out, WsOpcode opcode, std::string_view payload);
// A close frame with a code and a short reason (cut to fit a control frame).
void encodeClose(std::string& out, std::uint16_t code, std::string_view reason);

bool validUtf8(std::string_view text);

// Cuts a client's byte stream into messages and control frames. Checks what RFC 6455 asks of a client:
// masking, reserved bits and opcodes, control frames short and unfragmented, continuations in order,
// UTF-8 in text messages and close reasons, and a message size limit checked as each frame header
// arrives (a frame announcing too much is refused before its payload is read).
class FrameDecoder {
public:
    explicit FrameDecoder(std::size_t maxMessage) : maxMessage_(maxMessage) {}

    struct Event {
        enum class Kind {
            None,
            Message,
            Ping,
            Pong,
            Close,
            Error
        } kind = Kind::None;       // None: a fragment, taken
        bool text = false;         // Message: a text (true) or binary message
        std::string_view payload;  // Message, Ping, Pong: valid until the next feed(); Close: the reason
        std::uint16_t code = 0;  // Close: the client's code (1005 when it gave none); Error: the code to send
        const char* error = "";  // Error: why, for the close reason
    };

    // Decodes what arrived; calls `event(const Event&)` for each complete message or control frame, and
    // stops after an Error or a Close (further input is ignored). Returns false once stopped.
    template <class Handler>
    bool feed(std::string_view data, Handler&& event) {
        if (stopped_) {
            return false;
        }
        buffer_.append(data.data(), data.size());
        std::size_t used = 0;
        while (!stopped_) {
            Event e{};
            e.kind = Event::Kind::None;
            const std::size_t n = next(std::string_view(buffer_).substr(used), e);
            if (n == 0) {
                break;
            }
            used += n;
            if (e.kind == Event::Kind::Error || e.kind == Event::Kind::Close) {
                stopped_ = true;
            }
            if (e.kind != Event::Kind::None) {
                event(e);
            }
            if (e.kind == Event::Kind::Message) {
                message_.clear();
            }
        }
        buffer_.erase(0, used);
        if (buffer_.capacity() > 64 * 1024 && buffer_.size() < 1024) {
            buffer_.shrink_to_fit();
        }
        return !stopped_;
    }

    bool stopped() const { return stopped_; }

private:
    // Decodes one frame from `data`: the bytes it used (0: incomplete), with `e` filled in.
    std::size_t next(std::string_view data, Event& e);
    std::size_t fail(Event& e, std::uint16_t code, const char* why);

    const std::size_t maxMessage_;
    std::string buffer_;   // bytes not yet decoded
    std::string message_;  // the fragments of a message so far
    std::string control_;  // an unmasked control payload
    bool inMessage_ = false;
    bool messageText_ = false;
    bool stopped_ = false;
};

}  // namespace plughost::transports
