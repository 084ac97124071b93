#pragma once
// admission: who may begin a session. A Gate decides on the accept thread (access
// rules, the service's, the host's and the per-address limits, the rate), and
// what admitting a connection took (a place under the service's
// max_connections, its per-address count and the host-wide max_connections),
// held as a move-only ticket that travels with the socket: from the admission
// filter on the accept thread, through Poco's queue and the hand-off, to the
// session. Whoever drops it last gives the places back, exactly once — a session
// that finishes, or Poco dropping a queued connection (its queue full,
// TCPServer::stop(), a hand-off that finds its service gone).

#include <Poco/Logger.h>
#include <Poco/Net/IPAddress.h>
#include <Poco/Net/StreamSocket.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "config/config.h"

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
    Ticket(Ticket&& other) noexcept
        : ledger_(std::move(other.ledger_)), address_(std::move(other.address_)) {}
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

// Why connections were turned away before a session began.
struct Refusals {
    std::atomic<std::uint64_t> limit{0};  // max_connections (the service's or the host's)
    std::atomic<std::uint64_t> perIp{0};  // max_per_ip
    std::atomic<std::uint64_t> rate{0};   // rate
    std::atomic<std::uint64_t> acl{0};    // allow/deny
};

// One service's admission, consulted on its accept threads.
class Gate {
public:
    // `explain`: tell a refused client why with one "! reason" line (line-based
    // plugins); raw protocols get nothing they did not ask for.
    Gate(std::string service, const config::Limits& limits, std::shared_ptr<HostLimits> host, bool explain);

    // Access rules, then the service's limit, the per-address limit, the rate,
    // and the host-wide limit last. A held ticket admits; an empty one refused
    // (counted, and logged at most once a second with a count).
    Ticket admit(Poco::Net::StreamSocket& socket);
    // The same for a UDP peer's first datagram: a refusal is counted and logged, never answered.
    Ticket admit(const Poco::Net::IPAddress& address);
    const Refusals& refusals() const { return refusals_; }

private:
    Ticket decide(const Poco::Net::IPAddress& ip, Poco::Net::StreamSocket* socket);
    Ticket refuse(Poco::Net::StreamSocket* socket, std::atomic<std::uint64_t>& counter, const char* reason,
                  const char* message, const std::string& address);

    struct Bucket {
        double tokens;
        std::chrono::steady_clock::time_point refilled;
    };
    const std::string service_;
    const config::Limits limits_;
    const std::shared_ptr<HostLimits> host_;
    const std::shared_ptr<Ledger> ledger_;
    const bool explain_;
    Poco::Logger& log_;
    Refusals refusals_;
    std::mutex mutex_;  // one admission at a time; tickets given back meanwhile only make room
    std::unordered_map<std::string, Bucket> buckets_;
    // A flood of refusals must not flood the log.
    std::mutex logMutex_;
    std::chrono::steady_clock::time_point lastLog_{};
    std::uint64_t unlogged_ = 0;
};

}  // namespace plughost::admission
