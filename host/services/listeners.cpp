#include "services/listeners.h"

#include <Poco/Net/NetException.h>
#include <Poco/Net/ServerSocketImpl.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocketImpl.h>
#include <Poco/Net/TCPServerConnection.h>
#include <Poco/Net/TCPServerConnectionFactory.h>
#include <sys/socket.h>

#include <cerrno>

#include "tsan.h"

namespace plughost::listeners {

namespace {

// An accepted connection that carries its admission ticket through Poco's
// queue: when Poco drops a queued connection (its queue full, TCPServer::stop(),
// a hand-off that finds the service gone), the ticket goes with the socket and
// gives its places back.
class TicketedSocketImpl final : public Poco::Net::StreamSocketImpl {
public:
    explicit TicketedSocketImpl(poco_socket_t fd) : StreamSocketImpl(fd) {}
    ~TicketedSocketImpl() override {
        tsan::takeOver(this);
    }  // Poco may drop the last reference on any thread
    admission::Ticket
        ticket;            // set by the admission filter (accept thread), taken by the hand-off (pool thread)
    bool refused = false;  // WebSocket: admitted only to hear a 1008 close (see WebSocketSettings::refused)
};

// A listening socket whose accepted connections are TicketedSocketImpls.
class TicketingServerSocketImpl final : public Poco::Net::ServerSocketImpl {
public:
    TicketingServerSocketImpl() = default;
    // A listening socket someone else made (socket activation); this impl owns it from now on.
    explicit TicketingServerSocketImpl(poco_socket_t fd) { reset(fd); }

    Poco::Net::SocketImpl* acceptConnection(Poco::Net::SocketAddress& client) override {
        sockaddr_storage address{};
        socklen_t length = sizeof address;
        int fd;
        do {
            fd = ::accept4(sockfd(), reinterpret_cast<sockaddr*>(&address), &length, SOCK_CLOEXEC);
        } while (fd < 0 && errno == EINTR);
        if (fd < 0) {
            error();  // throws, as Poco's own accept does
        }
        client = Poco::Net::SocketAddress(reinterpret_cast<const sockaddr*>(&address), length);
        return new TicketedSocketImpl(fd);  // Poco's interface: the StreamSocket made from it takes ownership
    }
};

class TicketingServerSocket final : public Poco::Net::ServerSocket {
public:
    TicketingServerSocket()
        : ServerSocket(new TicketingServerSocketImpl, true) {}  // the Socket owns its impl
    explicit TicketingServerSocket(poco_socket_t fd)
        : ServerSocket(new TicketingServerSocketImpl(fd), true) {}
};

// Poco runs this on a pool thread right after accepting. It only hands the
// socket to an I/O loop and returns, so the pool never fills up with
// long-lived connections (the starvation POCO-NOTES.md describes).
// Its constructor cannot throw: a throwing one leaks a pool slot in Poco 1.11.
class Handoff final : public Poco::Net::TCPServerConnection {
public:
    Handoff(const Poco::Net::StreamSocket& socket, std::weak_ptr<Target> target,
            std::shared_ptr<const transports::TlsContext> tls,
            std::shared_ptr<const transports::WebSocketSettings> websocket) noexcept
        : TCPServerConnection(socket),
          target_(std::move(target)),
          tls_(std::move(tls)),
          websocket_(std::move(websocket)) {}

    void run() override {
        const auto target = target_.lock();
        auto* ticketed = dynamic_cast<TicketedSocketImpl*>(socket().impl());
        admission::Ticket ticket = ticketed != nullptr ? std::move(ticketed->ticket) : admission::Ticket();
        if (ticketed != nullptr && ticketed->refused && websocket_) {
            auto refused = std::make_shared<transports::WebSocketSettings>(*websocket_);
            refused->refused = true;
            websocket_ = std::move(refused);
        }
        tsan::handOver(socket().impl());
        if (!target) {
            return;  // the ticket gives the places back; the socket is dropped
        }
        try {
            Poco::Net::StreamSocket client = socket();
            client.setBlocking(false);
            client.setNoDelay(true);  // replies are small and latency matters more than packet count
            // The kernel's send buffer keeps its normal, self-tuning size, so a client
            // that keeps reading rides out a burst; send_timeout finds one that stopped.
            target->adopt(std::move(client), std::move(ticket), std::move(tls_), std::move(websocket_));
        } catch (const Poco::Exception&) {
            // The client went away before its session began; the ticket gives its places back.
        }
    }

private:
    std::weak_ptr<Target> target_;
    std::shared_ptr<const transports::TlsContext> tls_;
    std::shared_ptr<const transports::WebSocketSettings> websocket_;
};

class HandoffFactory final : public Poco::Net::TCPServerConnectionFactory {
public:
    HandoffFactory(std::weak_ptr<Target> target, std::shared_ptr<TlsSlot> tls,
                   std::shared_ptr<const transports::WebSocketSettings> websocket)
        : target_(std::move(target)), tls_(std::move(tls)), websocket_(std::move(websocket)) {}

    Poco::Net::TCPServerConnection* createConnection(const Poco::Net::StreamSocket& socket) override {
        // Poco's interface: the dispatcher takes ownership
        return new Handoff(socket, target_, tls_->get(), websocket_);
    }

private:
    std::weak_ptr<Target> target_;
    std::shared_ptr<TlsSlot> tls_;
    std::shared_ptr<const transports::WebSocketSettings> websocket_;
};

// Runs on the accept thread before a connection is queued, so refusals are
// immediate instead of waiting in Poco's queue.
class AdmissionFilter final : public Poco::Net::TCPServerConnectionFilter {
public:
    AdmissionFilter(std::weak_ptr<Target> target, bool websocket)
        : target_(std::move(target)), websocket_(websocket) {}

    bool accept(const Poco::Net::StreamSocket& socket) override {
        const auto target = target_.lock();
        auto* ticketed = dynamic_cast<TicketedSocketImpl*>(socket.impl());
        if (!target || ticketed == nullptr) {
            return false;
        }
        Poco::Net::StreamSocket client(socket);
        if (websocket_) {
            try {
                ticketed->ticket = target->admitQuietly(client.peerAddress().host());
            } catch (const Poco::Exception&) {
                return false;  // gone before we looked
            }
            ticketed->refused = !ticketed->ticket.held();
            return true;
        }
        ticketed->ticket = target->admit(client);
        return ticketed->ticket.held();
    }

private:
    std::weak_ptr<Target> target_;
    const bool websocket_;
};

}  // namespace

Poco::Net::ServerSocket bind(const config::ListenAddress& address) {
    TicketingServerSocket socket;
    const Poco::Net::SocketAddress where(address.host, address.port);
    // SO_REUSEADDR so a restart can rebind at once; never SO_REUSEPORT, which
    // Poco's two-argument bind() also sets and which lets a second host share the port silently.
    if (address.isIPv6()) {
        socket.bind6(where, true, false, true);
    } else {
        socket.bind(where, true, false);
    }
    socket.listen(1024);
    return socket;
}

Poco::Net::ServerSocket adoptListening(int fd) { return TicketingServerSocket(fd); }

bool serves(const Poco::Net::ServerSocket& socket, const config::ListenAddress& address) {
    if (address.port == 0) {
        return false;
    }
    try {
        return socket.address() == Poco::Net::SocketAddress(address.host, address.port);
    } catch (const Poco::Exception&) {
        return false;
    }
}

Listener::Listener(Poco::Net::ServerSocket socket, const std::weak_ptr<Target>& target,
                   std::shared_ptr<const transports::TlsContext> tls,
                   std::shared_ptr<const transports::WebSocketSettings> websocket)
    : tls_(std::make_shared<TlsSlot>(std::move(tls))),
      socket_(std::move(socket)),
      pool_("accept", 1, 2, 10),
      bound_(socket_.address().toString()),
      servesPage_(websocket != nullptr && !websocket->staticDir.empty()) {
    auto params = new Poco::Net::TCPServerParams();  // Poco's AutoPtr takes ownership
    params->setMaxThreads(2);
    params->setMaxQueued(4096);  // a queued connection waits only for a hand-off, never for a session to end
    params->setThreadIdleTime(Poco::Timespan(1, 0));
    server_ = std::make_unique<Poco::Net::TCPServer>(new HandoffFactory(target, tls_, websocket), pool_,
                                                     socket_, params);
    server_->setConnectionFilter(new AdmissionFilter(target, websocket != nullptr));
}

Listener::~Listener() { stop(); }

void Listener::start() { server_->start(); }

void Listener::stop(const std::string& address, SpareSockets* keep) {
    if (stopped_) {
        return;
    }
    stopped_ = true;
    server_->stop();
    if (keep != nullptr) {
        keep->emplace(address, socket_);
    } else {
        try {
            socket_.close();
        } catch (const Poco::Exception&) {
        }
    }
    pool_.joinAll();
}

}  // namespace plughost::listeners
