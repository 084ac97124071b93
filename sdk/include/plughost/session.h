#pragma once
// One client connection as a plugin sees it.

#include <any>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace plughost {

// Why a session ended; handed to Service::onClose.
enum class CloseReason {
    PeerClosed,   // the client closed its side (EOF)
    Reset,        // the connection was reset or failed
    IdleTimeout,  // no traffic either way for the service's idle_timeout
    TooSlow,      // the client stopped reading and its outbound queue overflowed
    Closed,       // the plugin called Session::close()
    Shutdown,     // the host is stopping
    Reload,       // the service was removed, disabled or restarted by a reload
    Limit,        // a host limit ended it
    Error,        // an exception escaped a plugin callback
};

// A short human-readable word for a reason ("peer closed", "too slow", ...).
inline const char* describe(CloseReason reason) {
    switch (reason) {
        case CloseReason::PeerClosed: return "peer closed";
        case CloseReason::Reset: return "connection reset";
        case CloseReason::IdleTimeout: return "idle timeout";
        case CloseReason::TooSlow: return "too slow";
        case CloseReason::Closed: return "closed";
        case CloseReason::Shutdown: return "server shutting down";
        case CloseReason::Reload: return "reload";
        case CloseReason::Limit: return "limit";
        case CloseReason::Error: return "error";
    }
    return "unknown";
}

// A handle to one connection. The host owns it; a plugin that needs it beyond
// a callback (a chat room sending to other members) keeps shared_from_this().
// A handle stays safe to use after the connection closed: send() and close()
// then do nothing.
class Session : public std::enable_shared_from_this<Session> {
public:
    virtual ~Session() = default;

    // Unique within the host's lifetime. Safe from any thread.
    virtual std::uint64_t id() const = 0;

    // The client's address, "127.0.0.1:51234" or "[::1]:51234". Safe from any thread.
    virtual const std::string& peer() const = 0;

    // Queues bytes for the client. Safe from any thread, never blocks, keeps
    // the order of calls. When the bounded outbound queue (max_queue)
    // overflows because the client stopped reading, the session is closed
    // with CloseReason::TooSlow instead.
    virtual void send(std::string_view bytes) = 0;

    // Closes the session once everything queued so far is sent.
    // Safe from any thread; later send() calls are dropped.
    virtual void close() = 0;

    // The plugin's own per-session state, empty when the session opens.
    // Touch it only from this session's callbacks (they never run concurrently).
    virtual std::any& state() = 0;
};

}  // namespace plughost
