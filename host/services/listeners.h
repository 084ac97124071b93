#pragma once
// listeners: the listening sockets of a service. Each address has Poco's
// TCPServer with a private pool that only accepts: admission runs on the accept
// thread (a refusal is immediate, never queued), and the pool thread hands each
// admitted connection, with its admission ticket, to the service and returns,
// so the pool never fills with long-lived clients (POCO-NOTES.md). Knows
// nothing of sessions or plugins: only the Target interface below.

#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/Net/TCPServer.h>
#include <Poco/ThreadPool.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "config/config.h"
#include "services/admission.h"
#include "transports/tls.h"
#include "transports/websocket.h"

namespace plughost::listeners {

// Listening sockets waiting for a service, by configured address ("127.0.0.1:80").
// Bound before privileges are dropped, and handed from a service that a reload
// restarts to its successor, so neither a privileged port nor queued clients are lost.
using SpareSockets = std::multimap<std::string, Poco::Net::ServerSocket>;

// Binds and listens on one address (SO_REUSEADDR; never SO_REUSEPORT, which would
// let a second host share the port silently). Its accepted sockets can carry a
// ticket through Poco's queue. Throws Poco::Exception.
Poco::Net::ServerSocket bind(const config::ListenAddress& address);

// Takes over a listening socket the service manager passed (socket activation):
// the same kind of socket bind() makes, on the descriptor `fd`, which it now owns.
Poco::Net::ServerSocket adoptListening(int fd);

// Whether the listening socket serves `address` (compared as resolved addresses:
// family, IP and port; port 0 never matches). Never throws.
bool serves(const Poco::Net::ServerSocket& socket, const config::ListenAddress& address);

// What a listener hands its connections to.
class Target {
public:
    virtual ~Target() = default;
    // On the accept thread, before Poco queues the connection: a held ticket admits it.
    virtual admission::Ticket admit(Poco::Net::StreamSocket& socket) = 0;
    // The same decision, counted alike, but the refused client is told nothing (a WebSocket listener
    // tells it with a close frame once it has upgraded).
    virtual admission::Ticket admitQuietly(const Poco::Net::IPAddress& address) = 0;
    // On a pool thread: the admitted connection (non-blocking, TCP_NODELAY), its ticket, and the TLS
    // context it handshakes with (null: plain TCP).
    virtual void adopt(Poco::Net::StreamSocket socket, admission::Ticket ticket,
                       std::shared_ptr<const transports::TlsContext> tls,
                       std::shared_ptr<const transports::WebSocketSettings> websocket) = 0;
};

// The TLS context a listener's new connections get; a reload replaces it while
// connections already accepted keep the one they began with.
class TlsSlot {
public:
    explicit TlsSlot(std::shared_ptr<const transports::TlsContext> context) : context_(std::move(context)) {}
    std::shared_ptr<const transports::TlsContext> get() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return context_;
    }
    void set(std::shared_ptr<const transports::TlsContext> context) {
        std::lock_guard<std::mutex> lock(mutex_);
        context_ = std::move(context);
    }

private:
    mutable std::mutex mutex_;
    std::shared_ptr<const transports::TlsContext> context_;
};

// One listening address: its socket, Poco's TCPServer, and a private pool.
class Listener {
public:
    // With a TLS context, connections handshake before the service hears of them; with WebSocket
    // settings, they upgrade (or are served a static file) before it does.
    Listener(Poco::Net::ServerSocket socket, const std::weak_ptr<Target>& target,
             std::shared_ptr<const transports::TlsContext> tls = nullptr,
             std::shared_ptr<const transports::WebSocketSettings> websocket = nullptr);
    ~Listener();
    Listener(const Listener&) = delete;
    Listener& operator=(const Listener&) = delete;

    void start();
    // Stops accepting. Poco 1.11's stop() leaves the listening socket open: it is
    // closed here, or handed to `keep` under `address` (clients waiting in its
    // backlog stay there for the successor).
    void stop(const std::string& address = "", SpareSockets* keep = nullptr);
    const std::string& bound() const { return bound_; }
    bool tls() const { return tls_->get() != nullptr; }
    // A WebSocket listener with `static:` files: a browser can open it.
    bool servesPage() const { return servesPage_; }
    // New certificates for the connections accepted from now on (a reload).
    void setTls(std::shared_ptr<const transports::TlsContext> context) { tls_->set(std::move(context)); }

private:
    std::shared_ptr<TlsSlot> tls_;
    Poco::Net::ServerSocket socket_;
    Poco::ThreadPool pool_;
    std::unique_ptr<Poco::Net::TCPServer> server_;
    std::string bound_;
    bool servesPage_ = false;
    bool stopped_ = false;
};

}  // namespace plughost::listeners
