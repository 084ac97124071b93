#pragma once
// The load generator's WebSocket client (RFC 6455, client side; `--websocket PATH`): the upgrade
// request and the check of its answer, a masked frame writer and a reader of server frames. Pure
// functions and one reader object per connection: no sockets, no epoll (loadgen.cpp does the I/O).
// OpenSSL supplies SHA-1, Base64 and the random keys; nothing else is needed.
//
// Not a general client: no extensions (no permessage-deflate, which neither the bench's servers nor
// its clients use), no subprotocols, and a close frame from the server simply ends the connection.

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace wsclient {

enum Opcode : std::uint8_t { kContinuation = 0, kText = 1, kBinary = 2, kClose = 8, kPing = 9, kPong = 10 };

inline std::string base64(const unsigned char* data, std::size_t size) {
    std::string out(4 * ((size + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(&out[0]), data, static_cast<int>(size));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

// A Sec-WebSocket-Key: 16 random bytes in Base64.
inline std::string newKey() {
    unsigned char nonce[16];
    RAND_bytes(nonce, sizeof nonce);
    return base64(nonce, sizeof nonce);
}

// The Sec-WebSocket-Accept a server must answer `key` with.
inline std::string acceptFor(std::string_view key) {
    const std::string text = std::string(key) + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
    return base64(digest, sizeof digest);
}

inline std::string upgradeRequest(std::string_view host, std::string_view path, std::string_view key) {
    std::string request;
    request.append("GET ").append(path).append(" HTTP/1.1\r\nHost: ").append(host);
    request.append("\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ").append(key);
    request.append("\r\nSec-WebSocket-Version: 13\r\n\r\n");
    return request;
}

enum class Upgrade { Incomplete, Done, Refused };

// Checks the server's answer at the front of `in`: 101, `Upgrade: websocket`, `Connection: Upgrade`
// and the accept key for our key. Done: the head is removed from `in` (what follows it is frames).
// Refused: `error` says why (the status line, or the header that is wrong).
inline Upgrade parseUpgradeResponse(std::string& in, std::string_view accept, std::string& error) {
    constexpr std::size_t kMaxHead = 8192;
    const std::size_t end = in.find("\r\n\r\n");
    if (end == std::string::npos) {
        if (in.size() > kMaxHead) {
            error = "the answer to the upgrade has no end within 8 KiB";
            return Upgrade::Refused;
        }
        return Upgrade::Incomplete;
    }
    const std::string_view head(in.data(), end + 2);  // each line ends "\r\n"
    auto lower = [](std::string_view text) {
        std::string out(text);
        std::transform(out.begin(), out.end(), out.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        return out;
    };
    const std::size_t firstEnd = head.find("\r\n");
    const std::string_view status = head.substr(0, firstEnd);
    if (status.compare(0, 13, "HTTP/1.1 101 ") != 0 && status != "HTTP/1.1 101") {
        error = "upgrade refused: " + std::string(status.substr(0, 120));
        return Upgrade::Refused;
    }
    bool upgrade = false, connection = false, accepted = false;
    for (std::size_t at = firstEnd + 2; at < head.size();) {
        const std::size_t next = head.find("\r\n", at);
        const std::string_view line = head.substr(at, next - at);
        at = next + 2;
        const std::size_t colon = line.find(':');
        if (colon == std::string_view::npos) {
            continue;
        }
        const std::string name = lower(line.substr(0, colon));
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
            value.remove_prefix(1);
        }
        while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
            value.remove_suffix(1);
        }
        if (name == "upgrade") {
            upgrade = lower(value) == "websocket";
        } else if (name == "connection") {
            connection = lower(value).find("upgrade") != std::string::npos;
        } else if (name == "sec-websocket-accept") {
            accepted = value == accept;
        }
    }
    if (!upgrade || !connection || !accepted) {
        error = !upgrade      ? "the 101 has no Upgrade: websocket"
                : !connection ? "the 101 has no Connection: Upgrade"
                              : "the 101's Sec-WebSocket-Accept is not the one for our key";
        return Upgrade::Refused;
    }
    in.erase(0, end + 4);
    return Upgrade::Done;
}

// Masking keys: RFC 6455 wants them unpredictable to the network path (against cache poisoning by
// proxies); a load generator on loopback only needs them to vary, so a xorshift seeded from
// RAND_bytes, not a cryptographic generator per frame.
class Masker {
public:
    Masker() {
        RAND_bytes(reinterpret_cast<unsigned char*>(&state_), sizeof state_);
        state_ |= 1;
    }
    std::uint32_t next() {
        state_ ^= state_ << 13;
        state_ ^= state_ >> 17;
        state_ ^= state_ << 5;
        return state_;
    }

private:
    std::uint32_t state_ = 1;
};

// Appends one client frame (FIN set, masked with `mask`) holding `size` bytes of `data`.
inline void appendFrame(std::string& out, Opcode opcode, const char* data, std::size_t size,
                        std::uint32_t mask) {
    char header[14];
    std::size_t length = 0;
    header[length++] = static_cast<char>(0x80 | opcode);
    if (size < 126) {
        header[length++] = static_cast<char>(0x80 | size);
    } else if (size <= 0xffff) {
        header[length++] = static_cast<char>(0x80 | 126);
        header[length++] = static_cast<char>(size >> 8);
        header[length++] = static_cast<char>(size & 0xff);
    } else {
        header[length++] = static_cast<char>(0x80 | 127);
        for (int shift = 56; shift >= 0; shift -= 8) {
            header[length++] = static_cast<char>((static_cast<std::uint64_t>(size) >> shift) & 0xff);
        }
    }
    const char key[4] = {static_cast<char>(mask >> 24), static_cast<char>(mask >> 16),
                         static_cast<char>(mask >> 8), static_cast<char>(mask)};
    std::copy(key, key + 4, header + length);
    length += 4;
    out.append(header, length);
    const std::size_t start = out.size();
    out.resize(start + size);
    char* payload = &out[start];
    for (std::size_t i = 0; i < size; ++i) {
        payload[i] = static_cast<char>(data[i] ^ key[i & 3]);
    }
}

// A close frame with a status code and no reason.
inline void appendClose(std::string& out, std::uint16_t code, std::uint32_t mask) {
    const char payload[2] = {static_cast<char>(code >> 8), static_cast<char>(code & 0xff)};
    appendFrame(out, kClose, payload, sizeof payload, mask);
}

// Cuts a server's byte stream into messages and control frames: frames may come several to a read or
// split across reads, and a message may be fragmented. Checks what RFC 6455 asks of a server's frames:
// unmasked, no reserved bits or opcodes, control frames short and whole, continuations in order.
class FrameReader {
public:
    explicit FrameReader(std::size_t maxMessage = 64 * 1024 * 1024) : maxMessage_(maxMessage) {}

    // Calls `on(Opcode, std::string_view payload)` for each complete message (kText or kBinary) and
    // control frame (kPing, kPong, kClose); the payload is valid during the call only. Returns false
    // on a protocol error (error() says which; the reader then takes nothing more) - a close frame is
    // delivered, not an error.
    template <class Handler>
    bool feed(const char* data, std::size_t size, Handler&& on) {
        if (!error_.empty()) {
            return false;
        }
        std::string_view input(data, size);
        if (!buffer_.empty()) {  // the rest of a frame that was split across reads
            buffer_.append(data, size);
            input = buffer_;
        }
        std::size_t used = 0;
        for (std::size_t n; error_.empty() && (n = next(input.substr(used), on)) > 0;) {
            used += n;
        }
        if (!error_.empty()) {
            return false;
        }
        if (buffer_.empty()) {
            buffer_.assign(input.data() + used, input.size() - used);
        } else {
            buffer_.erase(0, used);
        }
        return true;
    }
    const std::string& error() const { return error_; }

private:
    // Decodes one frame at the front of `data`: the bytes it took (0: incomplete, or an error).
    template <class Handler>
    std::size_t next(std::string_view data, Handler& on) {
        if (data.size() < 2) {
            return 0;
        }
        const auto b0 = static_cast<std::uint8_t>(data[0]);
        const auto b1 = static_cast<std::uint8_t>(data[1]);
        const bool fin = (b0 & 0x80) != 0;
        const auto opcode = static_cast<std::uint8_t>(b0 & 0x0f);
        const bool control = (opcode & 0x08) != 0;
        if ((b0 & 0x70) != 0) {
            return fail("reserved bits set");
        }
        if (opcode > kBinary && opcode != kClose && opcode != kPing && opcode != kPong) {
            return fail("reserved opcode");
        }
        if ((b1 & 0x80) != 0) {
            return fail("a server frame is masked");
        }
        std::uint64_t length = b1 & 0x7f;
        std::size_t header = 2;
        if (control && (length > 125 || !fin)) {
            return fail("a control frame is long or fragmented");
        }
        if (length == 126) {
            if (data.size() < 4) {
                return 0;
            }
            length = (static_cast<std::uint64_t>(static_cast<std::uint8_t>(data[2])) << 8) |
                     static_cast<std::uint8_t>(data[3]);
            header = 4;
        } else if (length == 127) {
            if (data.size() < 10) {
                return 0;
            }
            length = 0;
            for (std::size_t i = 2; i < 10; ++i) {
                length = (length << 8) | static_cast<std::uint8_t>(data[i]);
            }
            header = 10;
        }
        if (!control) {
            if ((opcode == kContinuation) != inMessage_) {
                return fail(inMessage_ ? "a new message before the last one ended"
                                       : "a continuation without a message");
            }
            if (length > maxMessage_ || message_.size() + length > maxMessage_) {
                return fail("a message over the reader's limit");
            }
        }
        if (data.size() - header < length) {
            return 0;
        }
        const std::string_view payload = data.substr(header, static_cast<std::size_t>(length));
        if (control) {
            on(static_cast<Opcode>(opcode), payload);
        } else if (fin && !inMessage_) {
            on(static_cast<Opcode>(opcode), payload);  // whole in one frame: no copy
        } else {
            if (!inMessage_) {
                inMessage_ = true;
                messageOpcode_ = static_cast<Opcode>(opcode);
            }
            message_.append(payload.data(), payload.size());
            if (fin) {
                inMessage_ = false;
                on(messageOpcode_, std::string_view(message_));
                message_.clear();
            }
        }
        return header + static_cast<std::size_t>(length);
    }
    std::size_t fail(const char* why) {
        error_ = why;
        return 0;
    }

    const std::size_t maxMessage_;
    std::string buffer_;   // the start of a frame not complete yet
    std::string message_;  // the fragments of a message so far
    Opcode messageOpcode_ = kBinary;
    bool inMessage_ = false;
    std::string error_;
};

}  // namespace wsclient
