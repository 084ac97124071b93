#include "transports/websocket.h"

#include <Poco/Base64Encoder.h>
#include <Poco/SHA1Engine.h>

#include <cctype>
#include <sstream>

namespace plughost::transports {

namespace {

std::string lower(std::string text) {
    for (char& c : text) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return text;
}

// Whether a comma-separated header value holds `token` (case-insensitive).
bool hasToken(const std::string* value, const std::string& token) {
    if (value == nullptr) {
        return false;
    }
    std::stringstream items(lower(*value));
    std::string item;
    while (std::getline(items, item, ',')) {
        const std::size_t start = item.find_first_not_of(" \t");
        const std::size_t end = item.find_last_not_of(" \t");
        if (start != std::string::npos && item.substr(start, end - start + 1) == token) {
            return true;
        }
    }
    return false;
}

UpgradeDecision refuse(WsRefusal refusal, int status, const std::string& headers, const std::string& body) {
    UpgradeDecision decision;
    decision.kind = UpgradeDecision::Kind::Refuse;
    decision.refusal = refusal;
    decision.response = httpResponse(status, headers, body);
    return decision;
}

}  // namespace

const char* refusalName(WsRefusal refusal) {
    static const char* const names[kWsRefusalCount] = {"bad_request", "not_found", "version",
                                                       "origin",      "too_large", "timeout"};
    return names[static_cast<std::size_t>(refusal)];
}

std::string acceptKey(std::string_view key) {
    Poco::SHA1Engine sha1;
    sha1.update(std::string(key) + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    const auto& digest = sha1.digest();
    std::ostringstream out;
    Poco::Base64Encoder base64(out);
    base64.write(reinterpret_cast<const char*>(digest.data()), static_cast<std::streamsize>(digest.size()));
    base64.close();
    return out.str();
}

UpgradeDecision decideUpgrade(const HttpRequest& request, const WebSocketSettings& settings) {
    const bool upgrade = hasToken(request.header("upgrade"), "websocket");
    if (!upgrade) {
        if (!settings.staticDir.empty()) {
            UpgradeDecision decision;
            decision.kind = UpgradeDecision::Kind::Static;
            return decision;
        }
        return refuse(WsRefusal::BadRequest, 426, "Upgrade: websocket\r\n",
                      "this address speaks WebSocket: send an upgrade request\n");
    }
    std::string path = request.target;
    const std::size_t query = path.find('?');
    if (query != std::string::npos) {
        path.resize(query);
    }
    if (request.method != "GET" || request.version != "HTTP/1.1") {
        return refuse(WsRefusal::BadRequest, 400, "",
                      "bad request: a WebSocket upgrade is a GET over HTTP/1.1\n");
    }
    if (!hasToken(request.header("connection"), "upgrade")) {
        return refuse(WsRefusal::BadRequest, 400, "", "bad request: Connection: Upgrade is missing\n");
    }
    const std::string* key = request.header("sec-websocket-key");
    if (key == nullptr || key->size() != 24) {
        return refuse(WsRefusal::BadRequest, 400, "",
                      "bad request: Sec-WebSocket-Key is missing or not 16 bytes in base64\n");
    }
    const std::string* version = request.header("sec-websocket-version");
    if (version == nullptr || *version != "13") {
        return refuse(WsRefusal::Version, 426, "Sec-WebSocket-Version: 13\r\n",
                      "upgrade required: this server speaks WebSocket version 13\n");
    }
    if (path != settings.path) {
        return refuse(WsRefusal::NotFound, 404, "",
                      "not found: WebSocket is served on " + settings.path + "\n");
    }
    if (!settings.origins.empty()) {
        const std::string* origin = request.header("origin");
        bool allowed = false;
        for (const std::string& wanted : settings.origins) {
            allowed = allowed || (origin != nullptr && *origin == wanted);
        }
        if (!allowed) {
            return refuse(WsRefusal::Origin, 403, "", "forbidden: this origin may not connect\n");
        }
    }
    UpgradeDecision decision;
    decision.kind = UpgradeDecision::Kind::Upgrade;
    const std::string* offered = request.header("sec-websocket-protocol");
    for (const char* protocol : {"text.ircv3.net", "binary.ircv3.net"}) {
        if (decision.subprotocol.empty() && hasToken(offered, protocol)) {
            decision.subprotocol = protocol;
        }
    }
    decision.response =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: " +
        acceptKey(*key) + "\r\n";
    if (!decision.subprotocol.empty()) {
        decision.response += "Sec-WebSocket-Protocol: " + decision.subprotocol + "\r\n";
    }
    decision.response += "\r\n";
    return decision;
}

void encodeFrame(std::string& out, WsOpcode opcode, std::string_view payload) {
    out.push_back(static_cast<char>(0x80 | static_cast<std::uint8_t>(opcode)));
    const std::size_t size = payload.size();
    if (size < 126) {
        out.push_back(static_cast<char>(size));
    } else if (size <= 0xffff) {
        out.push_back(126);
        out.push_back(static_cast<char>(size >> 8));
        out.push_back(static_cast<char>(size & 0xff));
    } else {
        out.push_back(127);
        for (int shift = 56; shift >= 0; shift -= 8) {
            out.push_back(static_cast<char>((static_cast<std::uint64_t>(size) >> shift) & 0xff));
        }
    }
    out.append(payload.data(), payload.size());
}

void encodeClose(std::string& out, std::uint16_t code, std::string_view reason) {
    std::string payload;
    payload.push_back(static_cast<char>(code >> 8));
    payload.push_back(static_cast<char>(code & 0xff));
    payload.append(reason.substr(0, 123).data(), std::min<std::size_t>(reason.size(), 123));
    encodeFrame(out, WsOpcode::Close, payload);
}

bool validUtf8(std::string_view text) {
    std::size_t i = 0;
    const std::size_t n = text.size();
    while (i < n) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t length;
        std::uint32_t point;
        if (c >= 0xc2 && c <= 0xdf) {
            length = 2;
            point = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            length = 3;
            point = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            length = 4;
            point = c & 0x07;
        } else {
            return false;
        }
        if (i + length > n) {
            return false;
        }
        for (std::size_t k = 1; k < length; ++k) {
            const auto next = static_cast<unsigned char>(text[i + k]);
            if ((next & 0xc0) != 0x80) {
                return false;
            }
            point = (point << 6) | (next & 0x3f);
        }
        // Overlong forms, surrogates and what lies past U+10FFFF.
        if ((length == 3 && point < 0x800) || (length == 4 && (point < 0x10000 || point > 0x10ffff)) ||
            (point >= 0xd800 && point <= 0xdfff)) {
            return false;
        }
        i += length;
    }
    return true;
}

std::size_t FrameDecoder::fail(Event& e, std::uint16_t code, const char* why) {
    e.kind = Event::Kind::Error;
    e.code = code;
    e.error = why;
    return 1;  // anything non-zero: the decoder stops
}

std::size_t FrameDecoder::next(std::string_view data, Event& e) {
    if (data.size() < 2) {
        return 0;
    }
    const auto b0 = static_cast<std::uint8_t>(data[0]);
    const auto b1 = static_cast<std::uint8_t>(data[1]);
    const bool fin = (b0 & 0x80) != 0;
    const std::uint8_t opcode = b0 & 0x0f;
    if ((b0 & 0x70) != 0) {
        return fail(e, close_code::kProtocolError, "reserved bits set without an extension");
    }
    const bool control = (opcode & 0x08) != 0;
    if (opcode != 0 && opcode != 1 && opcode != 2 && opcode != 8 && opcode != 9 && opcode != 10) {
        return fail(e, close_code::kProtocolError, "reserved opcode");
    }
    if ((b1 & 0x80) == 0) {
        return fail(e, close_code::kProtocolError, "client frames must be masked");
    }
    std::uint64_t length = b1 & 0x7f;
    std::size_t header = 2;
    if (control && (length > 125 || !fin)) {
        return fail(e, close_code::kProtocolError, "control frames are short and never fragmented");
    }
    if (length == 126) {
        if (data.size() < 4) {
            return 0;
        }
        length = (static_cast<std::uint64_t>(static_cast<std::uint8_t>(data[2])) << 8) |
                 static_cast<std::uint8_t>(data[3]);
        header = 4;
        if (length < 126) {
            return fail(e, close_code::kProtocolError, "length not in its shortest form");
        }
    } else if (length == 127) {
        if (data.size() < 10) {
            return 0;
        }
        length = 0;
        for (int i = 2; i < 10; ++i) {
            length = (length << 8) | static_cast<std::uint8_t>(data[static_cast<std::size_t>(i)]);
        }
        header = 10;
        if ((length >> 63) != 0 || length <= 0xffff) {
            return fail(e, close_code::kProtocolError, "length not in its shortest form");
        }
    }
    if (!control) {
        if (opcode == 0 && !inMessage_) {
            return fail(e, close_code::kProtocolError, "a continuation without a message to continue");
        }
        if (opcode != 0 && inMessage_) {
            return fail(e, close_code::kProtocolError, "a new message before the last one ended");
        }
        // Refused as soon as the header says so: the payload is never buffered.
        if (length > maxMessage_ || message_.size() + length > maxMessage_) {
            return fail(e, close_code::kTooBig, "message too big");
        }
    }
    const std::size_t total = header + 4 + static_cast<std::size_t>(length);
    if (data.size() < total) {
        return 0;
    }
    const char* mask = data.data() + header;
    const char* payload = mask + 4;
    std::string& target = control ? control_ : message_;
    if (control) {
        control_.clear();
    }
    const std::size_t start = target.size();
    target.resize(start + static_cast<std::size_t>(length));
    for (std::size_t i = 0; i < length; ++i) {
        target[start + i] = static_cast<char>(payload[i] ^ mask[i & 3]);
    }
    if (control) {
        if (opcode == 9) {
            e.kind = Event::Kind::Ping;
            e.payload = control_;
        } else if (opcode == 10) {
            e.kind = Event::Kind::Pong;
            e.payload = control_;
        } else {
            if (length == 1) {
                return fail(e, close_code::kProtocolError, "a close frame's code is two bytes");
            }
            e.kind = Event::Kind::Close;
            e.code = 1005;
            if (length >= 2) {
                e.code = static_cast<std::uint16_t>((static_cast<std::uint8_t>(control_[0]) << 8) |
                                                    static_cast<std::uint8_t>(control_[1]));
                const bool known = (e.code >= 1000 && e.code <= 1003) || (e.code >= 1007 && e.code <= 1011) ||
                                   (e.code >= 3000 && e.code <= 4999);
                if (!known) {
                    return fail(e, close_code::kProtocolError, "invalid close code");
                }
                e.payload = std::string_view(control_).substr(2);
                if (!validUtf8(e.payload)) {
                    return fail(e, close_code::kInvalidData, "invalid UTF-8 in the close reason");
                }
            }
        }
        return total;
    }
    if (opcode != 0) {
        inMessage_ = true;
        messageText_ = opcode == 1;
    }
    if (!fin) {
        e.kind = Event::Kind::None;
        return total;
    }
    inMessage_ = false;
    if (messageText_ && !validUtf8(message_)) {
        return fail(e, close_code::kInvalidData, "invalid UTF-8 in a text message");
    }
    e.kind = Event::Kind::Message;
    e.text = messageText_;
    e.payload = message_;
    return total;
}

}  // namespace plughost::transports
