#pragma once
// ticket: what admitting a connection took (a place under the service's
// max_connections, its per-address count and the host-wide max_connections),
// held as a move-only ticket that travels with the socket: from the admission
// filter on the accept thread, through Poco's queue and the hand-off, to the
// session. Whoever drops it last gives the places back, exactly once — a session
// that finishes, or Poco dropping a queued connection (its queue full,
// TCPServer::stop(), a hand-off that finds its service gone).

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace plughost::admission {

// Connections across every service of the host. Safe from any thread.
class HostLimits {
public:
    // 0 = no limit. A reload may change it while accept threads admit.
    void setMaxConnections(std::size_t limit) { maxConnections_.store(limit, std::memory_order_relaxed); }
    std::size_t maxConnections() const { return maxConnections_.load(std::memory_order_relaxed); }
    std::size_t connections() const { return connections_.load(std::memory_order_relaxed); }
    // Takes one place if the limit allows: checked and taken in one step, so
    // services accepting at once cannot pass the limit together.
    bool tryTake();
    void give() { connections_.fetch_sub(1, std::memory_order_relaxed); }

private:
    std::atomic<std::size_t> maxConnections_{0};
    std::atomic<std::size_t> connections_{0};
};

// One service's admitted connections: how many, and how many per address. Safe from any thread.
class Ledger {
public:
    explicit Ledger(std::shared_ptr<HostLimits> host) : host_(std::move(host)) {}
    std::size_t admitted() const;
    std::size_t fromAddress(const std::string& address) const;
    const std::shared_ptr<HostLimits>& host() const { return host_; }

private:
    friend class Ticket;
    void add(const std::string& address);
    void remove(const std::string& address);

    const std::shared_ptr<HostLimits> host_;
    mutable std::mutex mutex_;
    std::size_t admitted_ = 0;
    std::unordered_map<std::string, std::size_t> perAddress_;
};

// The places one admitted connection holds. Move-only; an empty ticket holds none.
class Ticket {
public:
    Ticket() = default;
    // Records a connection from `address` in `ledger`; the host-wide place must
    // already be taken (HostLimits::tryTake) and is given back with the rest.
    Ticket(std::shared_ptr<Ledger> ledger, std::string address);
    ~Ticket() { release(); }
    Ticket(Ticket&& other) noexcept : ledger_(std::move(other.ledger_)), address_(std::move(other.address_)) {}
    Ticket& operator=(Ticket&& other) noexcept;
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;

    bool held() const { return ledger_ != nullptr; }
    // Gives the places back now; later calls (and the destructor) do nothing.
    void release() noexcept;

private:
    std::shared_ptr<Ledger> ledger_;
    std::string address_;
};

}  // namespace plughost::admission
