#include "services/admission.h"

#include <Poco/Net/NetException.h>
#include <sys/socket.h>

#include <algorithm>

#include "system/logging.h"

namespace plughost::admission {

bool HostLimits::tryTake() {
    std::size_t current = connections_.load(std::memory_order_relaxed);
    for (;;) {
        const std::size_t limit = maxConnections();
        if (limit > 0 && current >= limit) {
            return false;
        }
        if (connections_.compare_exchange_weak(current, current + 1, std::memory_order_relaxed)) {
            return true;
        }
    }
}

std::size_t Ledger::admitted() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return admitted_;
}

std::size_t Ledger::fromAddress(const std::string& address) const {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto found = perAddress_.find(address);
    return found == perAddress_.end() ? 0 : found->second;
}

void Ledger::add(const std::string& address) {
    std::lock_guard<std::mutex> lock(mutex_);
    ++admitted_;
    ++perAddress_[address];
}

void Ledger::remove(const std::string& address) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        --admitted_;
        const auto found = perAddress_.find(address);
        if (found != perAddress_.end() && --found->second == 0) {
            perAddress_.erase(found);
        }
    }
    host_->give();
}

Ticket::Ticket(std::shared_ptr<Ledger> ledger, std::string address)
    : ledger_(std::move(ledger)), address_(std::move(address)) {
    ledger_->add(address_);
}

Ticket& Ticket::operator=(Ticket&& other) noexcept {
    if (this != &other) {
        release();
        ledger_ = std::move(other.ledger_);
        address_ = std::move(other.address_);
    }
    return *this;
}

void Ticket::release() noexcept {
    if (ledger_) {
        const std::shared_ptr<Ledger> ledger = std::move(ledger_);
        ledger_.reset();
        ledger->remove(address_);
    }
}

Gate::Gate(std::string service, const config::Limits& limits, std::shared_ptr<HostLimits> host, bool explain)
    : service_(std::move(service)),
      limits_(limits),
      host_(host ? std::move(host) : std::make_shared<HostLimits>()),
      ledger_(std::make_shared<Ledger>(host_)),
      explain_(explain),
      log_(Poco::Logger::get("plughost")) {}

Ticket Gate::refuse(Poco::Net::StreamSocket* socket, std::atomic<std::uint64_t>& counter, const char* reason,
                    const char* message, const std::string& address) {
    counter.fetch_add(1, std::memory_order_relaxed);
    if (explain_ && socket != nullptr) {
        // Line-based clients get a reason; raw protocols get nothing they did not ask for.
        const int fd = socket->impl()->sockfd();
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
    std::lock_guard<std::mutex> lock(logMutex_);
    ++unlogged_;
    const auto now = std::chrono::steady_clock::now();
    if (now - lastLog_ >= std::chrono::seconds(1)) {
        logging::about(log_, Poco::Message::PRIO_WARNING, service_, "",
                       "service " + service_ + ": refused " + std::to_string(unlogged_) +
                           " connection(s) since the last report (latest: " + std::string(reason) + " from " +
                           address + ")");
        unlogged_ = 0;
        lastLog_ = now;
    }
    return {};
}

Ticket Gate::admit(Poco::Net::StreamSocket& socket) {
    Poco::Net::IPAddress ip;
    try {
        ip = socket.peerAddress().host();
    } catch (const Poco::Exception&) {
        return {};  // gone before we looked
    }
    return decide(ip, &socket);
}

Ticket Gate::admit(const Poco::Net::IPAddress& ip) { return decide(ip, nullptr); }

Ticket Gate::decide(const Poco::Net::IPAddress& ip, Poco::Net::StreamSocket* socket) {
    const std::string address = ip.toString();
    const config::Limits& limits = limits_;
    if (!limits.admits(ip)) {
        return refuse(socket, refusals_.acl, "acl", "access denied", address);
    }
    std::unique_lock<std::mutex> lock(mutex_);
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
            return refuse(socket, refusals_.rate, "rate",
                          "too many new connections from your address; slow down", address);
        }
        bucket = &found->second;
    }
    // The host-wide place last: checked and taken in one step, across services.
    if (!host_->tryTake()) {
        lock.unlock();
        return refuse(socket, refusals_.limit, "limit", "server busy", address);
    }
    if (bucket != nullptr) {
        bucket->tokens -= 1.0;
    }
    return Ticket(ledger_, address);
}

}  // namespace plughost::admission
