#pragma once
// One client connection as a C++ plugin sees it. Header-only, compiled into the
// plugin on top of the C ABI (abi.h).

#include <plughost/abi.h>

#include <any>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace plughost {

// Why a session ended; handed to Service::onClose.
enum class CloseReason : std::int32_t {
    PeerClosed = PLUGHOST_CLOSE_PEER_CLOSED,    // the client closed its side (EOF)
    Reset = PLUGHOST_CLOSE_RESET,               // the connection was reset or failed
    IdleTimeout = PLUGHOST_CLOSE_IDLE_TIMEOUT,  // no traffic either way for the service's idle_timeout
    TooSlow =
        PLUGHOST_CLOSE_TOO_SLOW,  // the client stopped reading: max_queue overflowed, or send_timeout passed
    Closed = PLUGHOST_CLOSE_CLOSED,      // the plugin called Session::close()
    Shutdown = PLUGHOST_CLOSE_SHUTDOWN,  // the host is stopping
    Reload = PLUGHOST_CLOSE_RELOAD,      // the service was removed, disabled or restarted by a reload
    Error = PLUGHOST_CLOSE_ERROR,        // a plugin callback failed (an exception escaped it)
};

// A short human-readable word for a reason ("peer closed", "too slow", ...).
inline const char* describe(CloseReason reason) {
    switch (reason) {
        case CloseReason::PeerClosed:
            return "peer closed";
        case CloseReason::Reset:
            return "connection reset";
        case CloseReason::IdleTimeout:
            return "idle timeout";
        case CloseReason::TooSlow:
            return "too slow";
        case CloseReason::Closed:
            return "closed";
        case CloseReason::Shutdown:
            return "server shutting down";
        case CloseReason::Reload:
            return "reload";
        case CloseReason::Error:
            return "error";
    }
    return "unknown";
}

// How a client reached a service (plughost_connection in abi.h).
enum class Transport : std::int32_t {
    Tcp = PLUGHOST_TRANSPORT_TCP,
    Tls = PLUGHOST_TRANSPORT_TLS,  // TCP with TLS, terminated by the host: the plugin sees plaintext
    Udp = PLUGHOST_TRANSPORT_UDP,
};

// A session's connection as the host knows it. For TLS, what was negotiated, the subject of the client
// certificate the host verified (RFC 2253, empty without client_ca) and the server name asked for.
struct Connection {
    Transport transport = Transport::Tcp;
    std::string_view tlsVersion;
    std::string_view tlsCipher;
    std::string_view peerSubject;
    std::string_view serverName;
    // ABI 2.3: a session that arrived as a WebSocket upgrade (over TCP or TLS), with the request's path,
    // the subprotocol the host chose (text.ircv3.net or binary.ircv3.net, else empty) and its Origin.
    bool webSocket = false;
    std::string_view webSocketPath;
    std::string_view webSocketSubprotocol;
    std::string_view origin;
};

namespace detail {
struct SessionAccess;
}

// A handle to one connection. The SDK makes one per connection before onOpen;
// a plugin that needs it beyond a callback (a chat room sending to other
// members) keeps shared_from_this(). A kept handle stays safe to use after the
// connection closed: send() and close() then do nothing.
class Session : public std::enable_shared_from_this<Session> {
public:
    ~Session() { host_->session_release(handle_); }
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    // Unique within the host's lifetime. Safe from any thread.
    std::uint64_t id() const { return id_; }

    // The client's address, "127.0.0.1:51234" or "[::1]:51234". Safe from any thread.
    const std::string& peer() const { return peer_; }

    // Queues bytes for the client. Safe from any thread, never blocks, keeps
    // the order of calls. A client that stops reading is closed as too slow
    // (CloseReason::TooSlow) instead. Returns false once the session is closed or closing.
    bool send(std::string_view bytes) {
        return host_->session_send(handle_, bytes.data(), bytes.size()) == PLUGHOST_OK;
    }

    // Closes the session once everything queued so far is sent.
    // Safe from any thread; later send() calls are dropped.
    void close() { host_->session_close(handle_); }

    // Bytes queued for the client that the kernel has not taken yet. Safe from any thread.
    std::size_t queued() const { return host_->session_queued(handle_); }

    // How the client reached the service: the transport and, for TLS, what was negotiated and the
    // client certificate the host verified. Safe from any thread; the views live as long as the Session.
    Connection connection() const {
        plughost_connection info{};
        info.size = sizeof info;
        host_->session_connection(handle_, &info);
        auto view = [](const char* text, std::size_t length) {
            return text != nullptr ? std::string_view(text, length) : std::string_view();
        };
        return {static_cast<Transport>(info.transport),
                view(info.tls_version, info.tls_version_length),
                view(info.tls_cipher, info.tls_cipher_length),
                view(info.peer_subject, info.peer_subject_length),
                view(info.server_name, info.server_name_length),
                info.websocket != 0,
                view(info.websocket_path, info.websocket_path_length),
                view(info.websocket_subprotocol, info.websocket_subprotocol_length),
                view(info.origin, info.origin_length)};
    }

    // The plugin's own per-session state, empty when the session opens.
    // Touch it only from this session's callbacks (they never run concurrently).
    std::any& state() { return state_; }

    // The C handle, for code that talks to abi.h directly.
    plughost_session* handle() const { return handle_; }

private:
    friend struct detail::SessionAccess;
    Session(const plughost_host_api* host, plughost_session* handle)
        : host_(host), handle_(handle), id_(host->session_id(handle)) {
        host_->session_retain(handle_);
        const char* peer = nullptr;
        std::size_t length = 0;
        host_->session_peer(handle_, &peer, &length);
        peer_.assign(peer, length);
    }

    const plughost_host_api* host_;
    plughost_session* handle_;
    std::uint64_t id_;
    std::string peer_;
    std::any state_;
};

namespace detail {
// Creates the Session the SDK hands to the plugin (its constructor is private
// so that plugins only ever see the host's sessions).
struct SessionAccess {
    static std::shared_ptr<Session> make(const plughost_host_api* host, plughost_session* handle) {
        return std::shared_ptr<Session>(
            new Session(host, handle));  // private constructor: make_shared cannot reach it
    }
};
}  // namespace detail

}  // namespace plughost
