#pragma once
// udp: a service's UDP listen address. One UdpEndpoint per address, owned by one
// EventLoop thread (its socket is in that loop's epoll set through the FdHandler
// hook). Each remote address:port is a UdpSession, opened on its first datagram
// (admission applies then) and closed after the UDP idle timeout; each datagram
// is one on_data (Raw) or one per line (Lines); each send() is one datagram:
// during the delivery of a received batch, the endpoint's thread collects the
// replies and sends them in one sendmmsg after it; any other send goes out at
// once from the calling thread. The reflection rules: datagrams from
// source ports below 1024 are dropped, and a session never sends its peer more
// than udp_amplification times the bytes the peer sent it.

#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "plugins/adapter.h"
#include "services/admission.h"
#include "sessions/sessions.h"

namespace plughost::udp {

// The largest payload of one datagram: 65,535 minus the IP and UDP headers.
constexpr std::size_t kMaxDatagramIPv4 = 65507;
constexpr std::size_t kMaxDatagramIPv6 = 65527;

// A bound UDP socket (non-blocking, close-on-exec; no SO_REUSEADDR, so a second
// host cannot share the port). Closed when the last owner lets go.
class UdpSocket {
public:
    // Throws std::system_error naming the address.
    explicit UdpSocket(const config::ListenAddress& address);
    ~UdpSocket();
    UdpSocket(const UdpSocket&) = delete;
    UdpSocket& operator=(const UdpSocket&) = delete;
    int fd() const { return fd_; }
    bool ipv6() const { return ipv6_; }
    std::string bound() const;  // "127.0.0.1:7007"

private:
    int fd_ = -1;
    bool ipv6_ = false;
};

// UDP sockets waiting for a service (bound before the privilege drop, or handed over by a reload).
using SpareUdpSockets = std::multimap<std::string, std::shared_ptr<UdpSocket>>;

class UdpEndpoint;

// One remote address:port. The plugin's handle; send() and close() from any thread.
class UdpSession final : public plugins::SessionPort, public std::enable_shared_from_this<UdpSession> {
public:
    UdpSession(std::shared_ptr<UdpEndpoint> endpoint, const sockaddr_storage& peer, socklen_t peerLength,
               std::string peerText, std::string key, admission::Ticket ticket);

    std::uint64_t id() const override { return id_; }
    const std::string& peer() const override { return peerText_; }
    bool send(std::string_view bytes) override;
    void close() override;
    void retain() override;
    void release() override;
    std::size_t queued() override { return 0; }
    void connection(plughost_connection& out) const override;

    // The endpoint's I/O thread only.
    void open();
    void datagram(const char* data, std::size_t size, std::chrono::steady_clock::time_point now);
    bool idle(std::chrono::steady_clock::time_point now) const;
    void finish(plughost::CloseReason reason);
    bool finished() const { return closed_.load(); }
    const std::string& key() const { return key_; }  // the endpoint's key for the peer

private:
    template <class Callback>
    bool guarded(const char* name, Callback callback);

    const std::uint64_t id_;
    std::shared_ptr<UdpEndpoint> endpoint_;  // let go once finished
    sockaddr_storage peerAddress_;
    socklen_t peerLength_;
    const std::string peerText_;
    const std::string key_;
    admission::Ticket ticket_;
    const std::chrono::steady_clock::time_point openedAt_;

    std::mutex mutex_;  // send() against finish(): endpoint_ is not let go under a sender
    std::atomic<bool> closed_{false};
    std::atomic<bool> closeRequested_{false};
    std::uint64_t received_ = 0;  // bytes from the peer; under mutex_
    std::uint64_t sent_ = 0;      // bytes to the peer; under mutex_
    bool toldTooLarge_ = false;   // the log line about a too large send, once per session

    // I/O thread only.
    std::atomic<std::int64_t> lastActivity_{0};  // steady clock ticks; send() touches it too
    void* pluginData_ = nullptr;
    bool pluginOpened_ = false;

    std::mutex pinMutex_;
    std::size_t pins_ = 0;
    std::shared_ptr<UdpSession> pinned_;
};

// What a UDP endpoint needs from its service beside the SessionOwner part.
class UdpOwner {
public:
    virtual ~UdpOwner() = default;
    virtual sessions::SessionOwner& owner() = 0;
    virtual admission::Ticket admit(const Poco::Net::IPAddress& address) = 0;
    virtual void udpRefusedSend(const std::string& peer, std::size_t size, std::size_t max) = 0;
};

// One UDP listen address of a service, on one I/O loop.
class UdpEndpoint final : public sessions::FdHandler, public std::enable_shared_from_this<UdpEndpoint> {
public:
    UdpEndpoint(std::shared_ptr<UdpSocket> socket, std::shared_ptr<UdpOwner> owner,
                sessions::EventLoop& loop);
    ~UdpEndpoint() override;

    // Joins the loop's epoll set (on the loop's thread, soon). Any thread.
    void start();
    // Stops receiving and ends every session with `reason`; the socket goes to `keep` under
    // `address` if given (a reload hands it to the successor). Any thread; the sessions end on the
    // loop's thread, soon.
    void stop(plughost::CloseReason reason, const std::string& address = "", SpareUdpSockets* keep = nullptr);
    std::string bound() const { return socket_->bound(); }
    std::size_t maxDatagram() const { return socket_->ipv6() ? kMaxDatagramIPv6 : kMaxDatagramIPv4; }

    // FdHandler, on the loop's thread.
    void ready(std::uint32_t events, char* buffer, std::size_t capacity) override;
    void sweep(std::chrono::steady_clock::time_point now) override;
    void shutdown() override;

    // For the sessions.
    sessions::SessionOwner* owner() { return ownerPtr_; }
    UdpOwner* udpOwner() { return owner_.get(); }
    int fd() const { return socket_->fd(); }
    sessions::EventLoop& loop() { return loop_; }
    const config::Limits& limits() const { return limits_; }
    void closeLater(const std::shared_ptr<UdpSession>& session);  // any thread
    void ended(const UdpSession& session);                        // I/O thread
    // A datagram a session of this endpoint sends while the endpoint delivers a received batch, on
    // its I/O thread: copied into the send batch, which goes out in one sendmmsg when the batch is
    // delivered (or full). False on any other thread or outside a delivery: send it at once.
    bool batch(const sockaddr_storage& address, socklen_t length, std::string_view bytes);

private:
    void receive(std::size_t count);
    void closeAll(plughost::CloseReason reason);
    void drop(sessions::UdpDrop why);

    std::shared_ptr<UdpSocket> socket_;
    std::shared_ptr<UdpOwner> owner_;  // let go once stopped
    sessions::SessionOwner* ownerPtr_ = nullptr;
    const config::Limits limits_;
    sessions::EventLoop& loop_;
    bool watching_ = false;
    bool stopped_ = false;                                                   // I/O thread only
    std::unordered_map<std::string, std::shared_ptr<UdpSession>> sessions_;  // by address bytes; I/O thread

    void flush();  // sends the send batch; I/O thread

    // recvmmsg's batch.
    static constexpr std::size_t kBatch = 32;
    std::vector<char> buffers_;
    std::vector<mmsghdr> messages_;
    std::vector<iovec> vectors_;
    std::vector<sockaddr_storage> addresses_;

    // sendmmsg's batch (I/O thread only): what the sessions answered during the current delivery. An
    // echo then costs one sendmmsg per received batch instead of one sendto per datagram (bench/:
    // "UDP echo"). At most kBatch datagrams and kBatchBytes; a fuller batch is sent first.
    static constexpr std::size_t kBatchBytes = 256 * 1024;
    struct Outgoing {
        std::size_t offset = 0;  // in outBytes_
        std::size_t length = 0;
        sockaddr_storage address{};
        socklen_t addressLength = 0;
    };
    std::vector<char> outBytes_;
    std::vector<Outgoing> outgoing_;
    std::vector<mmsghdr> outMessages_;
    std::vector<iovec> outVectors_;
};

}  // namespace plughost::udp
