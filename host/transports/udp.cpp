#include "transports/udp.h"

#include <Poco/Net/IPAddress.h>
#include <Poco/Net/SocketAddress.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace plughost::udp {

namespace {

using Clock = std::chrono::steady_clock;
using plughost::CloseReason;
using sessions::UdpDrop;

// The endpoint whose received batch this I/O thread is delivering (see UdpEndpoint::batch).
thread_local const UdpEndpoint* delivering = nullptr;
struct Delivering {
    explicit Delivering(const UdpEndpoint* endpoint) { delivering = endpoint; }
    ~Delivering() { delivering = nullptr; }
    Delivering(const Delivering&) = delete;
    Delivering& operator=(const Delivering&) = delete;
};

std::int64_t ticks(Clock::time_point when) { return when.time_since_epoch().count(); }

// The session key: the address family, port and address bytes.
std::string keyOf(const sockaddr_storage& address) {
    if (address.ss_family == AF_INET6) {
        const auto& in6 = reinterpret_cast<const sockaddr_in6&>(address);
        std::string key(1, '6');
        key.append(reinterpret_cast<const char*>(&in6.sin6_port), sizeof in6.sin6_port);
        key.append(reinterpret_cast<const char*>(&in6.sin6_addr), sizeof in6.sin6_addr);
        return key;
    }
    const auto& in4 = reinterpret_cast<const sockaddr_in&>(address);
    std::string key(1, '4');
    key.append(reinterpret_cast<const char*>(&in4.sin_port), sizeof in4.sin_port);
    key.append(reinterpret_cast<const char*>(&in4.sin_addr), sizeof in4.sin_addr);
    return key;
}

std::uint16_t portOf(const sockaddr_storage& address) {
    return address.ss_family == AF_INET6 ? ntohs(reinterpret_cast<const sockaddr_in6&>(address).sin6_port)
                                         : ntohs(reinterpret_cast<const sockaddr_in&>(address).sin_port);
}

}  // namespace

// ---- UdpSocket ---------------------------------------------------------------

UdpSocket::UdpSocket(const config::ListenAddress& address) : ipv6_(address.isIPv6()) {
    const Poco::Net::SocketAddress where(address.host, address.port);
    fd_ = ::socket(ipv6_ ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
        throw std::system_error(errno, std::generic_category(), "socket");
    }
    if (ipv6_) {
        const int only = 1;  // like the TCP listeners: [::] is IPv6 only
        ::setsockopt(fd_, IPPROTO_IPV6, IPV6_V6ONLY, &only, sizeof only);
    }
    // A larger receive buffer rides out bursts between two turns of the loop.
    const int size = 1 << 20;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    if (::bind(fd_, where.addr(), where.length()) != 0) {
        const int error = errno;
        ::close(fd_);
        throw std::system_error(error, std::generic_category(), "bind " + address.text() + "/udp");
    }
}

UdpSocket::~UdpSocket() {
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

std::string UdpSocket::bound() const {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        return "?";
    }
    return Poco::Net::SocketAddress(reinterpret_cast<const sockaddr*>(&address), length).toString();
}

// ---- UdpSession --------------------------------------------------------------

UdpSession::UdpSession(std::shared_ptr<UdpEndpoint> endpoint, const sockaddr_storage& peer,
                       socklen_t peerLength, std::string peerText, std::string key, admission::Ticket ticket)
    : id_(sessions::newSessionId()),
      endpoint_(std::move(endpoint)),
      peerAddress_(peer),
      peerLength_(peerLength),
      peerText_(std::move(peerText)),
      key_(std::move(key)),
      ticket_(std::move(ticket)),
      openedAt_(Clock::now()) {
    lastActivity_ = ticks(openedAt_);
}

template <class Callback>
bool UdpSession::guarded(const char* name, Callback callback) {
    if (callback()) {
        return true;
    }
    auto* owner = endpoint_->owner();
    owner->pluginFailed(name, plugins::Instance::failure());
    owner->stats().errors.fetch_add(1, std::memory_order_relaxed);
    finish(CloseReason::Error);
    return false;
}

void UdpSession::open() {
    auto* owner = endpoint_->owner();
    owner->stats().accepted.fetch_add(1, std::memory_order_relaxed);
    owner->stats().current.fetch_add(1, std::memory_order_relaxed);
    pluginOpened_ = true;
    guarded("on_open", [this, owner] { return owner->plugin().open(*this, pluginData_); });
}

void UdpSession::datagram(const char* data, std::size_t size, Clock::time_point now) {
    auto* owner = endpoint_->owner();
    {
        std::lock_guard<std::mutex> lock(mutex_);
        received_ += size;
    }
    lastActivity_ = ticks(now);
    owner->stats().bytesIn.fetch_add(size, std::memory_order_relaxed);
    plugins::Instance& plugin = owner->plugin();
    if (owner->framing() == plughost::Framing::Raw) {
        guarded("on_data", [&] { return plugin.data(*this, pluginData_, std::string_view(data, size)); });
        return;
    }
    // Lines: each line of the datagram, the last one also without its "\n". A datagram is whole: no line
    // continues into the next one.
    const std::size_t maxLine = endpoint_->limits().maxLine;
    std::string_view rest(data, size);
    while (!rest.empty() && !closed_ && !closeRequested_) {
        const std::size_t newline = rest.find('\n');
        std::string_view line = rest.substr(0, newline);
        rest.remove_prefix(newline == std::string_view::npos ? rest.size() : newline + 1);
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        if (line.size() > maxLine) {
            if (!guarded("on_line_too_long",
                         [&] { return plugin.lineTooLong(*this, pluginData_, maxLine); })) {
                return;
            }
            continue;
        }
        if (!guarded("on_data", [&] { return plugin.data(*this, pluginData_, line); })) {
            return;
        }
    }
}

bool UdpSession::send(std::string_view bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_ || closeRequested_ || !endpoint_) {
        return false;
    }
    auto* owner = endpoint_->owner();
    sessions::Stats& stats = owner->stats();
    const std::size_t max = endpoint_->maxDatagram();
    if (bytes.size() > max) {
        stats.udpDropped[static_cast<std::size_t>(UdpDrop::TooLarge)].fetch_add(1, std::memory_order_relaxed);
        if (!toldTooLarge_) {
            toldTooLarge_ = true;
            endpoint_->udpOwner()->udpRefusedSend(peerText_, bytes.size(), max);
        }
        return false;
    }
    const double budget = endpoint_->limits().udpAmplification * static_cast<double>(received_);
    if (static_cast<double>(sent_ + bytes.size()) > budget) {
        stats.udpDropped[static_cast<std::size_t>(UdpDrop::Amplification)].fetch_add(
            1, std::memory_order_relaxed);
        return false;
    }
    if (endpoint_->batch(peerAddress_, peerLength_, bytes)) {
        sent_ += bytes.size();
        lastActivity_ = ticks(Clock::now());
        return true;  // counted when the batch goes out
    }
    ssize_t n;
    do {
        n = ::sendto(endpoint_->fd(), bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL,
                     reinterpret_cast<const sockaddr*>(&peerAddress_), peerLength_);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        // EAGAIN (the socket's buffer is full) or a peer the kernel refuses: the datagram is lost, as UDP
        // datagrams may be; the session stays.
        stats.udpDropped[static_cast<std::size_t>(UdpDrop::SendFailed)].fetch_add(1,
                                                                                  std::memory_order_relaxed);
        return true;
    }
    sent_ += bytes.size();
    lastActivity_ = ticks(Clock::now());
    stats.udpOut.fetch_add(1, std::memory_order_relaxed);
    stats.bytesOut.fetch_add(bytes.size(), std::memory_order_relaxed);
    return true;
}

void UdpSession::close() {
    if (closeRequested_.exchange(true)) {
        return;
    }
    std::shared_ptr<UdpEndpoint> endpoint;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        endpoint = endpoint_;
    }
    if (endpoint) {
        endpoint->closeLater(shared_from_this());
    }
}

void UdpSession::retain() {
    std::lock_guard<std::mutex> lock(pinMutex_);
    if (pins_++ == 0) {
        pinned_ = shared_from_this();
    }
}

void UdpSession::release() {
    std::shared_ptr<UdpSession> last;  // dropped after the lock: it may be the final reference
    std::lock_guard<std::mutex> lock(pinMutex_);
    if (pins_ > 0 && --pins_ == 0) {
        last = std::move(pinned_);
    }
}

void UdpSession::connection(plughost_connection& out) const { out.transport = PLUGHOST_TRANSPORT_UDP; }

bool UdpSession::idle(Clock::time_point now) const {
    const auto timeout = endpoint_->limits().udpIdleTimeout();
    return timeout.count() > 0 &&
           ticks(now) - lastActivity_.load() > std::chrono::duration_cast<Clock::duration>(timeout).count();
}

void UdpSession::finish(CloseReason reason) {
    if (closed_.exchange(true)) {
        return;
    }
    if (closeRequested_ && reason != CloseReason::Error) {
        reason = CloseReason::Closed;
    }
    std::shared_ptr<UdpEndpoint> endpoint = endpoint_;  // alive through the end of this call
    auto* owner = endpoint->owner();
    ticket_.release();
    owner->stats().current.fetch_sub(1, std::memory_order_relaxed);
    if (pluginOpened_) {
        owner->stats().sessionDurations.record(Clock::now() - openedAt_);
        if (!owner->plugin().close(*this, pluginData_, reason)) {
            owner->pluginFailed("on_close", plugins::Instance::failure());
            owner->stats().errors.fetch_add(1, std::memory_order_relaxed);
        }
    }
    pluginData_ = nullptr;
    {
        std::lock_guard<std::mutex> lock(mutex_);  // no send() is using it
        endpoint_.reset();
    }
    endpoint->ended(*this);
}

// ---- UdpEndpoint -------------------------------------------------------------

UdpEndpoint::UdpEndpoint(std::shared_ptr<UdpSocket> socket, std::shared_ptr<UdpOwner> owner,
                         sessions::EventLoop& loop)
    : socket_(std::move(socket)),
      owner_(std::move(owner)),
      ownerPtr_(&owner_->owner()),
      limits_(ownerPtr_->limits()),
      loop_(loop),
      buffers_(kBatch * 65536),
      messages_(kBatch),
      vectors_(kBatch),
      addresses_(kBatch),
      outMessages_(kBatch),
      outVectors_(kBatch) {
    outBytes_.reserve(kBatchBytes);
    outgoing_.reserve(kBatch);
}

UdpEndpoint::~UdpEndpoint() = default;

void UdpEndpoint::start() {
    auto self = shared_from_this();
    loop_.post([self] {
        if (self->stopped_ || self->watching_) {
            return;
        }
        self->watching_ = self->loop_.watch(self->socket_->fd(), self);
    });
}

void UdpEndpoint::stop(CloseReason reason, const std::string& address, SpareUdpSockets* keep) {
    if (keep != nullptr) {
        keep->emplace(address, socket_);
    }
    auto self = shared_from_this();
    loop_.post([self, reason] { self->closeAll(reason); });
}

void UdpEndpoint::closeAll(CloseReason reason) {
    if (stopped_) {
        return;
    }
    stopped_ = true;
    if (watching_) {
        watching_ = false;
        loop_.unwatch(socket_->fd(), *this);  // after this, only the posted task holds us
    }
    std::vector<std::shared_ptr<UdpSession>> live;
    live.reserve(sessions_.size());
    for (const auto& entry : sessions_) {
        live.push_back(entry.second);
    }
    for (const auto& session : live) {
        session->finish(reason);
    }
    sessions_.clear();
    // The service may go now: nothing of ours calls it any more.
    owner_.reset();
}

void UdpEndpoint::shutdown() { closeAll(CloseReason::Shutdown); }

void UdpEndpoint::closeLater(const std::shared_ptr<UdpSession>& session) {
    std::weak_ptr<UdpSession> weak = session;
    loop_.post([weak] {
        if (auto live = weak.lock()) {
            live->finish(CloseReason::Closed);
        }
    });
}

void UdpEndpoint::ended(const UdpSession& session) {
    const auto found = sessions_.find(session.key());
    if (found != sessions_.end() && found->second.get() == &session) {
        sessions_.erase(found);
    }
}

void UdpEndpoint::drop(UdpDrop why) {
    ownerPtr_->stats().udpDropped[static_cast<std::size_t>(why)].fetch_add(1, std::memory_order_relaxed);
}

void UdpEndpoint::ready(std::uint32_t, char*, std::size_t) {
    // A bounded number of batches per wake-up, so other descriptors of this loop get their turn.
    for (int round = 0; round < 8 && !stopped_; ++round) {
        for (std::size_t i = 0; i < kBatch; ++i) {
            vectors_[i] = {buffers_.data() + i * 65536, 65536};
            messages_[i] = {};
            messages_[i].msg_hdr.msg_iov = &vectors_[i];
            messages_[i].msg_hdr.msg_iovlen = 1;
            messages_[i].msg_hdr.msg_name = &addresses_[i];
            messages_[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
        }
        int n;
        do {
            n = ::recvmmsg(socket_->fd(), messages_.data(), kBatch, MSG_DONTWAIT, nullptr);
        } while (n < 0 && errno == EINTR);
        if (n <= 0) {
            return;  // EAGAIN: drained; an ICMP error reported on the socket is only read away
        }
        {
            const Delivering guard(this);
            receive(static_cast<std::size_t>(n));
        }
        flush();
        if (static_cast<std::size_t>(n) < kBatch) {
            return;
        }
    }
}

void UdpEndpoint::receive(std::size_t count) {
    sessions::Stats& stats = ownerPtr_->stats();
    const auto now = loop_.batchTime();
    for (std::size_t i = 0; i < count && !stopped_; ++i) {
        const sockaddr_storage& from = addresses_[i];
        const std::size_t size = messages_[i].msg_len;
        stats.udpIn.fetch_add(1, std::memory_order_relaxed);
        if (portOf(from) < 1024) {
            drop(UdpDrop::LowPort);  // an echo, chargen or DNS port bounced at us: never answered
            continue;
        }
        const std::string key = keyOf(from);
        auto found = sessions_.find(key);
        if (found == sessions_.end()) {
            const Poco::Net::SocketAddress peer(reinterpret_cast<const sockaddr*>(&from),
                                                messages_[i].msg_hdr.msg_namelen);
            admission::Ticket ticket = owner_->admit(peer.host());
            if (!ticket.held()) {
                drop(UdpDrop::Refused);
                continue;
            }
            auto session =
                std::make_shared<UdpSession>(shared_from_this(), from, messages_[i].msg_hdr.msg_namelen,
                                             peer.toString(), key, std::move(ticket));
            found = sessions_.emplace(key, session).first;
            session->open();
            if (session->finished()) {
                continue;
            }
        }
        const std::shared_ptr<UdpSession> session = found->second;  // it may end inside the callback
        session->datagram(buffers_.data() + i * 65536, size, now);
    }
}

bool UdpEndpoint::batch(const sockaddr_storage& address, socklen_t length, std::string_view bytes) {
    if (delivering != this) {
        return false;  // another thread, or this one outside a delivery: sent at once
    }
    if (outgoing_.size() == kBatch || outBytes_.size() + bytes.size() > kBatchBytes) {
        flush();
    }
    Outgoing out;
    out.offset = outBytes_.size();
    out.length = bytes.size();
    std::memcpy(&out.address, &address, length);
    out.addressLength = length;
    outBytes_.insert(outBytes_.end(), bytes.begin(), bytes.end());
    outgoing_.push_back(out);
    return true;
}

void UdpEndpoint::flush() {
    const std::size_t count = outgoing_.size();
    if (count == 0) {
        return;
    }
    for (std::size_t i = 0; i < count; ++i) {
        Outgoing& out = outgoing_[i];
        outVectors_[i] = {outBytes_.data() + out.offset, out.length};
        outMessages_[i] = {};
        outMessages_[i].msg_hdr.msg_iov = &outVectors_[i];
        outMessages_[i].msg_hdr.msg_iovlen = 1;
        outMessages_[i].msg_hdr.msg_name = &out.address;
        outMessages_[i].msg_hdr.msg_namelen = out.addressLength;
    }
    sessions::Stats& stats = ownerPtr_->stats();
    std::size_t done = 0;
    while (done < count) {
        const int n = ::sendmmsg(socket_->fd(), outMessages_.data() + done,
                                 static_cast<unsigned>(count - done), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            // The first unsent one failed (EAGAIN: the socket's buffer is full; or a peer the kernel
            // refuses): it is lost, as a UDP datagram may be; the rest are tried again.
            drop(UdpDrop::SendFailed);
            ++done;
            continue;
        }
        for (std::size_t i = done; i < done + static_cast<std::size_t>(n); ++i) {
            stats.bytesOut.fetch_add(outgoing_[i].length, std::memory_order_relaxed);
        }
        stats.udpOut.fetch_add(static_cast<std::uint64_t>(n), std::memory_order_relaxed);
        done += static_cast<std::size_t>(n);
    }
    outgoing_.clear();
    outBytes_.clear();
}

void UdpEndpoint::sweep(Clock::time_point now) {
    std::vector<std::shared_ptr<UdpSession>> idle;
    for (const auto& entry : sessions_) {
        if (entry.second->idle(now)) {
            idle.push_back(entry.second);
        }
    }
    for (const auto& session : idle) {
        session->finish(CloseReason::IdleTimeout);
    }
}

}  // namespace plughost::udp
