#include "services.h"

#include "context.h"
#include "tsan.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>
#include <thread>

#include <Poco/Net/NetException.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/ServerSocketImpl.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocketImpl.h>
#include <Poco/Net/TCPServer.h>
#include <Poco/Net/TCPServerConnection.h>
#include <Poco/Net/TCPServerConnectionFactory.h>
#include <Poco/ThreadPool.h>

namespace plughost::services {

const char* stateName(State state) {
    switch (state) {
        case State::Disabled: return "disabled";
        case State::Failed: return "failed";
        case State::Running: return "running";
        case State::Stopped: return "stopped";
    }
    return "unknown";
}

namespace {

// An accepted connection that carries its admission ticket through Poco's
// queue: when Poco drops a queued connection (its queue full, TCPServer::stop(),
// a hand-off that finds the service gone), the ticket goes with the socket and
// gives its places back.
class TicketedSocketImpl final : public Poco::Net::StreamSocketImpl {
public:
    explicit TicketedSocketImpl(poco_socket_t fd) : StreamSocketImpl(fd) {}
    ~TicketedSocketImpl() override { tsan::takeOver(this); }  // Poco may drop the last reference on any thread
    admission::Ticket ticket;  // set by the admission filter (accept thread), taken by the hand-off (pool thread)
};

// A listening socket whose accepted connections are TicketedSocketImpls.
class TicketingServerSocketImpl final : public Poco::Net::ServerSocketImpl {
public:
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
    TicketingServerSocket() : ServerSocket(new TicketingServerSocketImpl, true) {}  // the Socket owns its impl
};

// Poco runs this on a pool thread right after accepting. It only hands the
// socket to an I/O loop and returns, so the pool never fills up with
// long-lived connections (the starvation POCO-NOTES.md describes).
// Its constructor cannot throw: a throwing one leaks a pool slot in Poco 1.11.
class Handoff final : public Poco::Net::TCPServerConnection {
public:
    Handoff(const Poco::Net::StreamSocket& socket, std::weak_ptr<HostedService> service, sessions::EventLoops& loops) noexcept
        : TCPServerConnection(socket), service_(std::move(service)), loops_(loops) {}

    void run() override {
        const auto service = service_.lock();
        auto* ticketed = dynamic_cast<TicketedSocketImpl*>(socket().impl());
        admission::Ticket ticket = ticketed != nullptr ? std::move(ticketed->ticket) : admission::Ticket();
        tsan::handOver(socket().impl());
        if (!service) {
            return;  // the ticket gives the places back; the socket is dropped
        }
        try {
            Poco::Net::StreamSocket client = socket();
            client.setBlocking(false);
            client.setNoDelay(true);  // replies are small and latency matters more than packet count
            // The kernel's send buffer keeps its normal, self-tuning size, so a client
            // that keeps reading rides out a burst; send_timeout finds one that stopped.
            loops_.adopt(std::move(client), service, std::move(ticket));
        } catch (const Poco::Exception&) {
            // The client went away before its session began; the ticket gives its places back.
        }
    }

private:
    std::weak_ptr<HostedService> service_;
    sessions::EventLoops& loops_;
};

class HandoffFactory final : public Poco::Net::TCPServerConnectionFactory {
public:
    HandoffFactory(std::weak_ptr<HostedService> service, sessions::EventLoops& loops)
        : service_(std::move(service)), loops_(loops) {}

    Poco::Net::TCPServerConnection* createConnection(const Poco::Net::StreamSocket& socket) override {
        return new Handoff(socket, service_, loops_);  // Poco's interface: the dispatcher takes ownership
    }

private:
    std::weak_ptr<HostedService> service_;
    sessions::EventLoops& loops_;
};

// Runs on the accept thread before a connection is queued, so refusals are
// immediate instead of waiting in Poco's queue.
class AdmissionFilter final : public Poco::Net::TCPServerConnectionFilter {
public:
    explicit AdmissionFilter(std::weak_ptr<HostedService> service) : service_(std::move(service)) {}

    bool accept(const Poco::Net::StreamSocket& socket) override {
        const auto service = service_.lock();
        auto* ticketed = dynamic_cast<TicketedSocketImpl*>(socket.impl());
        if (!service || ticketed == nullptr) {
            return false;
        }
        Poco::Net::StreamSocket client(socket);
        ticketed->ticket = service->admit(client);
        return ticketed->ticket.held();
    }

private:
    std::weak_ptr<HostedService> service_;
};

}  // namespace

namespace {

Poco::Net::ServerSocket bindListener(const config::ListenAddress& address) {
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

}  // namespace

// One listening address: its socket, Poco's TCPServer, and a private pool.
class Listener {
public:
    Listener(Poco::Net::ServerSocket socket, const std::weak_ptr<HostedService>& service, sessions::EventLoops& loops)
        : socket_(std::move(socket)), pool_("accept", 1, 2, 10), bound_(socket_.address().toString()) {
        auto params = new Poco::Net::TCPServerParams();  // Poco's AutoPtr takes ownership
        params->setMaxThreads(2);
        params->setMaxQueued(4096);  // a queued connection waits only for a hand-off, never for a session to end
        params->setThreadIdleTime(Poco::Timespan(1, 0));
        server_ = std::make_unique<Poco::Net::TCPServer>(new HandoffFactory(service, loops), pool_, socket_, params);
        server_->setConnectionFilter(new AdmissionFilter(service));
    }

    ~Listener() { stop(); }

    void start() { server_->start(); }

    // Stops accepting. Poco 1.11's stop() leaves the listening socket open: it is
    // closed here, or handed to `keep` (clients waiting in its backlog stay there).
    void stop(const std::string& address = "", SpareSockets* keep = nullptr) {
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

    const std::string& bound() const { return bound_; }

private:
    Poco::Net::ServerSocket socket_;
    Poco::ThreadPool pool_;
    std::unique_ptr<Poco::Net::TCPServer> server_;
    std::string bound_;
    bool stopped_ = false;
};

HostedService::HostedService(config::ServiceConfig config, std::shared_ptr<HostLimits> hostLimits)
    : config_(std::move(config)),
      log_(Poco::Logger::get("plughost")),
      hostLimits_(hostLimits ? std::move(hostLimits) : std::make_shared<HostLimits>()),
      ledger_(std::make_shared<admission::Ledger>(hostLimits_)) {}

HostedService::~HostedService() {
    listeners_.clear();
}

void HostedService::fail(std::string problem) {
    state_ = State::Failed;
    problem_ = std::move(problem);
}

std::shared_ptr<HostedService> HostedService::prepare(const config::ServiceConfig& config, const plugins::Catalog& catalog,
                                                      std::shared_ptr<HostLimits> hostLimits) {
    std::shared_ptr<HostedService> service(new HostedService(config, std::move(hostLimits)));  // private constructor
    const std::string path = "services." + config.name;
    std::string why;
    service->library_ = catalog.find(config.plugin, why);
    if (!service->library_) {
        service->pluginUnavailable_ = true;
        service->configProblems_.push_back({config.at, path + ".plugin", why});
        service->fail(why);
        return service;
    }
    service->instance_ = plugins::Instance::create(service->library_, config, service->configProblems_);
    if (!service->instance_) {
        service->fail(service->configProblems_.front().format());
        return service;
    }
    service->framing_ = service->instance_->framing();
    service->state_ = config.enabled ? State::Stopped : State::Disabled;
    if (!config.enabled) {
        service->instance_.reset();  // validated, but a disabled service holds no plugin state
    }
    return service;
}

void HostedService::start(sessions::EventLoops& loops, SpareSockets& spare) {
    if (state_ != State::Stopped) {
        return;
    }
    for (const auto& address : config_.listen) {
        const auto found = spare.find(address.text());
        try {
            Poco::Net::ServerSocket socket = found != spare.end() ? found->second : bindListener(address);
            if (found != spare.end()) {
                spare.erase(found);
            }
            listeners_.push_back(std::make_unique<Listener>(socket, weak_from_this(), loops));
        } catch (const Poco::Exception& error) {
            std::string reason = "cannot listen on " + address.text() + ": " + error.message();
            if (address.port > 0 && address.port < 1024 && ::geteuid() != 0) {
                reason += " (a port below 1024 needs root or CAP_NET_BIND_SERVICE; the host binds its ports at start, "
                          "before dropping privileges, so a new one needs a restart)";
            }
            listeners_.clear();
            fail(reason);
            return;
        }
    }
    for (auto& listener : listeners_) {
        listener->start();
    }
    state_ = State::Running;
}

std::vector<std::shared_ptr<sessions::SessionImpl>> HostedService::liveSessions() {
    std::vector<std::shared_ptr<sessions::SessionImpl>> live;
    std::lock_guard<std::mutex> lock(sessionsMutex_);
    for (const auto& entry : sessions_) {
        if (auto session = entry.second.lock()) {
            live.push_back(std::move(session));
        }
    }
    return live;
}

void HostedService::beginStop(plughost::CloseReason reason, SpareSockets* keep) {
    for (std::size_t i = 0; i < listeners_.size(); ++i) {
        listeners_[i]->stop(i < config_.listen.size() ? config_.listen[i].text() : "", keep);
    }
    if (state_ != State::Running) {
        return;
    }
    if (!instance_->stopping()) {
        pluginFailed("on_stopping", plugins::Instance::failure());
    }
    for (const auto& session : liveSessions()) {
        session->closeGracefully(reason);
    }
}

void HostedService::finishStop(plughost::CloseReason reason, std::chrono::steady_clock::time_point deadline) {
    if (state_ != State::Running) {
        return;
    }
    auto waitUntil = [this](std::chrono::steady_clock::time_point until) {
        while (stats_.current.load() > 0 && std::chrono::steady_clock::now() < until) {
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    };
    waitUntil(deadline);
    // Whoever has not read their last bytes by now is cut off.
    for (const auto& session : liveSessions()) {
        session->abort(reason);
    }
    waitUntil(std::max(deadline, std::chrono::steady_clock::now()) + std::chrono::seconds(1));
    state_ = State::Stopped;
}

std::string HostedService::pluginVersion() const {
    return library_ ? library_->version() : "";
}

std::vector<std::string> HostedService::boundAddresses() const {
    std::vector<std::string> addresses;
    for (const auto& listener : listeners_) {
        addresses.push_back(listener->bound());
    }
    return addresses;
}

void HostedService::pluginFailed(const char* callback, const std::string& what) {
    log_.error("%s (plugin %s): %s failed: %s", config_.name, config_.plugin, std::string(callback), context::escapeControl(what));
}

void HostedService::sessionOpened(const std::shared_ptr<sessions::SessionImpl>& session) {
    std::lock_guard<std::mutex> lock(sessionsMutex_);
    sessions_.emplace(session->id(), session);
}

void HostedService::sessionClosed(const sessions::SessionImpl& session) {
    std::lock_guard<std::mutex> lock(sessionsMutex_);
    sessions_.erase(session.id());
}

admission::Ticket HostedService::refuse(Poco::Net::StreamSocket& socket, std::atomic<std::uint64_t>& counter,
                                        const char* reason, const char* message, const std::string& address) {
    counter.fetch_add(1, std::memory_order_relaxed);
    if (framing_ == plughost::Framing::Lines) {
        // Line-based clients get a reason; raw protocols get nothing they did not ask for.
        const int fd = socket.impl()->sockfd();
        const std::string line = std::string("! ") + message + "\n";
        ::send(fd, line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        // The FIN goes right after the line. Input the client already sent is read
        // away (a bounded amount, never waiting): closing with unread input would
        // send a reset, which can destroy the line before the client reads it.
        ::shutdown(fd, SHUT_WR);
        char sink[4096];
        for (int i = 0; i < 16 && ::recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0; ++i) {
        }
    }
    std::lock_guard<std::mutex> lock(refusalLogMutex_);
    ++unloggedRefusals_;
    const auto now = std::chrono::steady_clock::now();
    if (now - lastRefusalLog_ >= std::chrono::seconds(1)) {
        log_.warning("service %s: refused %s connection(s) since the last report (latest: %s from %s)", config_.name,
                     std::to_string(unloggedRefusals_), std::string(reason), address);
        unloggedRefusals_ = 0;
        lastRefusalLog_ = now;
    }
    return {};
}

admission::Ticket HostedService::admit(Poco::Net::StreamSocket& socket) {
    Poco::Net::IPAddress ip;
    try {
        ip = socket.peerAddress().host();
    } catch (const Poco::Exception&) {
        return {};  // gone before we looked
    }
    const std::string address = ip.toString();
    const config::Limits& limits = config_.limits;
    if (!limits.admits(ip)) {
        return refuse(socket, refusals_.acl, "acl", "access denied", address);
    }
    // One admission at a time per service; tickets given back meanwhile only make room.
    std::unique_lock<std::mutex> lock(admissionMutex_);
    if (ledger_->admitted() >= limits.maxConnections) {
        lock.unlock();
        return refuse(socket, refusals_.limit, "limit", "server busy", address);
    }
    if (limits.maxPerIp > 0 && ledger_->fromAddress(address) >= limits.maxPerIp) {
        lock.unlock();
        return refuse(socket, refusals_.perIp, "per_ip", "too many connections from your address", address);
    }
    Bucket* bucket = nullptr;
    if (limits.rate > 0) {
        // A token bucket per address, holding up to one second's worth (at least one).
        const double burst = std::max(1.0, limits.rate);
        const auto now = std::chrono::steady_clock::now();
        if (buckets_.size() > 4096) {
            // Forget addresses whose buckets have refilled: they are as good as new.
            for (auto it = buckets_.begin(); it != buckets_.end();) {
                const double idle = std::chrono::duration<double>(now - it->second.refilled).count();
                it = it->second.tokens + idle * limits.rate >= burst ? buckets_.erase(it) : std::next(it);
            }
        }
        auto [found, created] = buckets_.try_emplace(address, Bucket{burst, now});
        if (!created) {
            const double elapsed = std::chrono::duration<double>(now - found->second.refilled).count();
            found->second.tokens = std::min(burst, found->second.tokens + elapsed * limits.rate);
            found->second.refilled = now;
        }
        if (found->second.tokens < 1.0) {
            lock.unlock();
            return refuse(socket, refusals_.rate, "rate", "too many new connections from your address; slow down", address);
        }
        bucket = &found->second;
    }
    // The host-wide place last: checked and taken in one step, across services.
    if (!hostLimits_->tryTake()) {
        lock.unlock();
        return refuse(socket, refusals_.limit, "limit", "server busy", address);
    }
    if (bucket != nullptr) {
        bucket->tokens -= 1.0;
    }
    return admission::Ticket(ledger_, address);
}

Services::Services(unsigned ioThreads) : loops_(ioThreads) {}

Services::~Services() {
    stop(plughost::CloseReason::Shutdown, std::chrono::milliseconds(1000));
}

void Services::bind(const config::HostConfig& config) {
    for (const auto& service : config.services) {
        for (const auto& address : service.enabled ? service.listen : std::vector<config::ListenAddress>{}) {
            try {
                spare_.emplace(address.text(), bindListener(address));
            } catch (const Poco::Exception&) {
                // The service binds again when it starts and fails there, with the reason.
            }
        }
    }
}

void Services::start(const config::HostConfig& config, const plugins::Catalog& catalog) {
    hostLimits_->setMaxConnections(config.maxConnections);
    for (const auto& serviceConfig : config.services) {
        auto service = HostedService::prepare(serviceConfig, catalog, hostLimits_);
        service->start(loops_, spare_);
        services_.push_back(std::move(service));
    }
    spare_.clear();  // sockets of services that failed to prepare
}

namespace {

// Same settings, same plugin bytes, and not failed: nothing to restart.
bool unchanged(const HostedService& running, const config::ServiceConfig& wanted, const plugins::Catalog& catalog) {
    if (running.state() == State::Failed || running.config().fingerprint() != wanted.fingerprint()) {
        return false;
    }
    std::string why;
    const auto library = catalog.find(wanted.plugin, why);
    return library && running.library() && library->contentHash() == running.library()->contentHash();
}

}  // namespace

std::vector<config::Problem> Services::reload(const config::HostConfig& config, const plugins::Catalog& catalog,
                                              std::vector<ReloadChange>& changes,
                                              std::vector<std::shared_ptr<HostedService>>& draining) {
    changes.clear();
    draining.clear();
    std::map<std::string, std::shared_ptr<HostedService>> current;
    for (const auto& service : services_) {
        current.emplace(service->name(), service);
    }
    // Validate: everything new is prepared before anything running is touched.
    std::vector<std::shared_ptr<HostedService>> next;
    std::vector<std::shared_ptr<HostedService>> fresh;
    std::vector<config::Problem> problems;
    for (const auto& wanted : config.services) {
        const auto found = current.find(wanted.name);
        if (found != current.end() && unchanged(*found->second, wanted, catalog)) {
            next.push_back(found->second);
            continue;
        }
        auto service = HostedService::prepare(wanted, catalog, hostLimits_);
        if (!service->configProblems().empty() && !service->pluginUnavailable()) {
            problems.insert(problems.end(), service->configProblems().begin(), service->configProblems().end());
        }
        next.push_back(service);
        fresh.push_back(std::move(service));
    }
    if (!problems.empty()) {
        return problems;
    }

    // Swap: stop what goes away or changes (its listening sockets are kept for a
    // successor), then start what is new. The old sessions drain meanwhile; the
    // caller waits for them (finishDraining) without holding up anything else.
    hostLimits_->setMaxConnections(config.maxConnections);
    std::map<std::string, std::shared_ptr<HostedService>> replaced;
    for (const auto& service : services_) {
        if (std::find(next.begin(), next.end(), service) == next.end()) {
            service->beginStop(plughost::CloseReason::Reload, &spare_);
            replaced.emplace(service->name(), service);
            draining.push_back(service);
        }
    }
    for (const auto& service : next) {
        const auto old = replaced.find(service->name());
        const bool isFresh = std::find(fresh.begin(), fresh.end(), service) != fresh.end();
        if (isFresh) {
            service->start(loops_, spare_);
        }
        std::string outcome;
        if (service->state() == State::Failed) {
            outcome = "failed: " + service->problem();
        } else if (!isFresh) {
            outcome = "unchanged";
        } else if (old == replaced.end()) {
            outcome = "added";
        } else if (old->second->config().enabled != service->config().enabled) {
            outcome = service->config().enabled ? "changed (enabled)" : "changed (disabled)";
        } else {
            outcome = "changed (restarted)";
        }
        changes.push_back({service->name(), outcome});
    }
    for (const auto& service : services_) {
        if (!config.find(service->name())) {
            changes.push_back({service->name(), "removed"});
        }
    }
    spare_.clear();  // addresses nobody uses any more
    services_ = std::move(next);
    return {};
}

std::vector<std::shared_ptr<HostedService>> Services::beginStop(plughost::CloseReason reason) {
    for (auto& service : services_) {
        service->beginStop(reason);
    }
    return services_;
}

void Services::finishDraining(const std::vector<std::shared_ptr<HostedService>>& draining, plughost::CloseReason reason,
                              std::chrono::steady_clock::time_point deadline) {
    for (const auto& service : draining) {
        service->finishStop(reason, deadline);
    }
}

void Services::stop(plughost::CloseReason reason, std::chrono::milliseconds drain) {
    const auto draining = beginStop(reason);
    finishDraining(draining, reason, std::chrono::steady_clock::now() + drain);
}

}  // namespace plughost::services
