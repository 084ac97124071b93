#pragma once
// sessions: the I/O threads. Poco's TCPServer accepts; each accepted socket is
// handed to one of a few epoll loops that read, frame, call the plugin and
// write. Thread-per-connection would cost ~14 KiB and a thread per idle client
// and ~40% of the throughput (POCO-NOTES.md), so sessions are event driven.

#include <Poco/Net/StreamSocket.h>
#include <plughost/service.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "plugins/adapter.h"
#include "services/admission.h"
#include "sessions/framing.h"
#include "transports/tls.h"
#include "transports/websocket.h"

namespace plughost::sessions {

// How long sessions lasted, as a Prometheus histogram: counts per bucket (not
// cumulative; the last bucket is everything above the largest bound) and the sum.
// record() is called once per session, when it finishes: a few relaxed atomic adds,
// no lock, no allocation. Readers may see a sum a session ahead of the counts.
struct DurationHistogram {
    static constexpr std::array<double, 6> kBoundsSeconds = {0.1, 1, 10, 60, 600, 3600};
    std::array<std::atomic<std::uint64_t>, kBoundsSeconds.size() + 1> buckets{};
    std::atomic<std::uint64_t> sumMicroseconds{0};

    void record(std::chrono::steady_clock::duration duration);
};

// Per-service counters; written by I/O threads, read by anyone.
struct Stats {
    std::atomic<std::uint64_t> current{0};
    std::atomic<std::uint64_t> accepted{0};
    std::atomic<std::uint64_t> bytesIn{0};
    std::atomic<std::uint64_t> bytesOut{0};
    std::atomic<std::uint64_t> errors{0};  // exceptions escaping plugin callbacks
    std::atomic<std::uint64_t> tooSlow{
        0};  // sessions closed because they stopped reading (or took nothing for send_timeout)
    DurationHistogram sessionDurations;
    std::atomic<std::uint64_t> tlsHandshakes{0};  // TLS sessions that reached the plugin
    std::atomic<std::uint64_t> tlsFailed[transports::kTlsFailureCount] = {};  // by TlsFailure
    // UDP (transports/udp.h): datagrams received and sent, and those dropped, by UdpDrop.
    std::atomic<std::uint64_t> udpIn{0};
    std::atomic<std::uint64_t> udpOut{0};
    std::atomic<std::uint64_t> udpDropped[6] = {};
    // WebSocket (transports/websocket.h): upgrades that reached the plugin, refused ones by WsRefusal,
    // and static files answered (any status).
    std::atomic<std::uint64_t> wsUpgrades{0};
    std::atomic<std::uint64_t> wsRefused[transports::kWsRefusalCount] = {};
    std::atomic<std::uint64_t> httpRequests{0};
    // The plugin's own counters (service_count, ABI 2.3); shared with its handle.
    std::shared_ptr<plugins::Counters> plugin = std::make_shared<plugins::Counters>();
};

// Why a UDP datagram was dropped (the index into Stats::udpDropped).
enum class UdpDrop { LowPort, Refused, Amplification, TooLarge, SendFailed, Closed };
constexpr std::size_t kUdpDropCount = 6;
const char* udpDropName(UdpDrop drop);
// A session id no other session (TCP, TLS or UDP) has. Any thread.
std::uint64_t newSessionId();  // "low_port", "refused", "amplification", "too_large", ...

// A descriptor in a loop's epoll set that is not a TCP session (a UDP endpoint). I/O thread only.
class FdHandler {
public:
    virtual ~FdHandler() = default;
    // EPOLLIN (or an error) on the descriptor; `buffer` is the loop's scratch space.
    virtual void ready(std::uint32_t events, char* buffer, std::size_t capacity) = 0;
    // Every sweep interval (100 ms): expire what is idle.
    virtual void sweep(std::chrono::steady_clock::time_point now) = 0;
    // The loop is shutting down: end everything with CloseReason::Shutdown.
    virtual void shutdown() = 0;
};

class SessionImpl;

// The service side of a session: the plugin and what the host enforces for it.
// A session keeps its owner alive until it finishes, so the plugin outlives its
// last callback; then it lets go, so a handle a plugin keeps does not keep the service.
class SessionOwner {
public:
    virtual ~SessionOwner() = default;
    virtual plugins::Instance& plugin() = 0;
    virtual plughost::Framing framing() const = 0;
    virtual const config::Limits& limits() const = 0;
    virtual Stats& stats() = 0;
    // An exception escaped a plugin callback: log it with service and plugin. Any thread.
    virtual void pluginFailed(const char* callback, const std::string& what) = 0;
    // Registry of live sessions, so a stopping service can close its own. Called on the I/O thread.
    virtual void sessionOpened(const std::shared_ptr<SessionImpl>& session) = 0;
    virtual void sessionClosed(const SessionImpl& session) = 0;
    // A TLS handshake failed (already counted in stats): the session never reached the plugin.
    virtual void tlsFailed(const std::string& peer, transports::TlsFailure failure,
                           const std::string& detail) = 0;
};

class EventLoop;

// One connection. The I/O thread owning it reads, frames and calls the plugin;
// send() and close() may come from any thread and only touch the socket under
// the session's mutex, which the I/O thread also holds when it closes the fd.
// To the plugin it is a plughost_session handle (plugins::SessionPort).
class SessionImpl final : public plugins::SessionPort, public std::enable_shared_from_this<SessionImpl> {
public:
    // With `tls`, the session handshakes first and the plugin hears of it once that succeeded.
    // With `websocket`, it reads an HTTP request first: an upgrade opens the plugin's session, anything else
    // is answered (a static file or a refusal) and closed.
    SessionImpl(Poco::Net::StreamSocket socket, std::shared_ptr<SessionOwner> owner, admission::Ticket ticket,
                std::shared_ptr<const transports::TlsContext> tls,
                std::shared_ptr<const transports::WebSocketSettings> websocket, EventLoop& loop);
    ~SessionImpl();

    // SessionPort: what the plugin may do, from any thread.
    std::uint64_t id() const override { return id_; }
    const std::string& peer() const override { return peer_; }
    bool send(std::string_view bytes) override;
    void close() override;
    // A plugin that keeps the handle keeps the session object (not the connection) alive.
    void retain() override;
    void release() override;
    std::size_t queued() override;
    void connection(plughost_connection& out) const override;

    // Ends the session at once for `reason` (too slow, shutdown, reload). Any thread.
    void abort(plughost::CloseReason reason);
    // Closes once queued output is sent (or after a linger), reporting `reason`. Any thread.
    void closeGracefully(plughost::CloseReason reason);

    // For the EventLoop that owns the session: its I/O thread only.
    int fd() const { return fd_; }
    bool finished() const { return phase_ == Phase::Closed; }
    void opened();
    void readable(char* buffer, std::size_t capacity);  // EPOLLIN, EPOLLHUP or EPOLLERR
    void writable(char* buffer, std::size_t capacity);  // EPOLLOUT
    void flushScheduled();                              // the end of the batch in which send() queued output
    // Idle for idle_timeout, a TLS handshake not done within handshake_timeout, or a close() whose
    // output was not taken within the linger.
    bool expired(std::chrono::steady_clock::time_point now);
    void closeExpired();
    // Output owed and none of it taken by the client for send_timeout.
    bool stalled(std::chrono::steady_clock::time_point now);
    void closeStalled();
    void finish(plughost::CloseReason reason);

private:
    enum class Phase { Handshaking, Open, Closing, Aborting, Closed };

    // I/O thread only.
    void deliver(const char* data, std::size_t size);
    void handshake(char* buffer, std::size_t capacity);
    void readTls(char* buffer, std::size_t capacity);
    void peerEnded(bool eof, Phase phase);
    void tlsFailed(transports::TlsFailure failure);
    void deliverLines(const char* data, std::size_t size);
    // WebSocket, I/O thread only: the request, then frames.
    void wsInput(const char* data, std::size_t size);
    void wsRequest();
    void wsFrames(std::string_view data);
    void wsMessage(bool text, std::string_view payload);
    void wsRefused(transports::WsRefusal refusal, const std::string& response);
    // The code and reason a close for `reason` carries.
    static std::uint16_t wsCloseCode(plughost::CloseReason reason);
    // Queues bytes as they are (no framing): what send() does once framed.
    bool queue(std::string_view bytes);
    template <class Callback>
    bool guarded(const char* name, Callback callback);

    // Under mutex_.
    bool flushLocked();
    // WebSocket: appends a close frame to the output, once.
    void wsCloseLocked(std::uint16_t code, std::string_view why);
    // Writes what the transport takes of `data` now: the count, or -1 with errno (EAGAIN: wait).
    ssize_t writeSomeLocked(const char* data, std::size_t size);
    void wroteLocked(std::size_t n);
    void shutdownLocked(Phase phase, plughost::CloseReason reason);
    void armWriteLocked(bool wanted);

    const std::uint64_t id_;
    Poco::Net::StreamSocket socket_;
    const int fd_;
    std::string peer_;
    std::shared_ptr<SessionOwner> owner_;
    plugins::Instance& plugin_;
    const plughost::Framing framing_;
    // The limits a session needs, copied: config::Limits also holds access lists.
    const std::size_t maxLine_;
    const std::size_t maxQueue_;
    const std::chrono::milliseconds idleTimeout_;
    const std::chrono::milliseconds sendTimeout_;
    EventLoop& loop_;
    admission::Ticket ticket_;                              // given back when the session finishes
    const std::chrono::steady_clock::time_point openedAt_;  // for the session duration histogram

    std::mutex mutex_;
    std::atomic<Phase> phase_{Phase::Open};
    // TLS state, used under mutex_ (OpenSSL's connection is not safe for a read on the I/O thread and a
    // write from a plugin's thread at once); null for plain TCP.
    std::unique_ptr<transports::TlsConnection> tls_;
    bool tlsWriteWantsRead_ = false;  // TLS: a write waits for the peer's bytes (a key update)
    // Set once the handshake is done, before the plugin hears of the session; read-only after.
    transports::TlsInfo tlsInfo_;
    plughost::CloseReason reason_ = plughost::CloseReason::Closed;  // why, once not Open
    std::string outbound_;                                          // unsent bytes from outboundHead_ on
    std::size_t outboundHead_ = 0;
    bool writeArmed_ = false;      // waiting for EPOLLOUT: the kernel took no more
    bool flushScheduled_ = false;  // the I/O thread will write at the end of its batch
    bool readClosed_ = false;      // the peer sent EOF while output was still owed
    // send_timeout: bytes the kernel took in all, and when the client last took any of them.
    std::uint64_t written_ = 0;
    std::uint64_t acknowledged_ = 0;       // by the client, as of the last check
    std::atomic<bool> kernelOwed_{false};  // written since the kernel's queue was last seen empty
    std::chrono::steady_clock::time_point lastTaken_;

    // I/O thread only.
    framing::LineFramer lines_;
    std::chrono::steady_clock::time_point lastActivity_;
    std::chrono::steady_clock::time_point closingSince_;
    void* pluginData_ = nullptr;  // the plugin's per-session pointer (on_open's session_data)
    bool pluginOpened_ = false;   // on_open ran: on_close is owed
    std::chrono::steady_clock::time_point handshakeDeadline_;

    // WebSocket; null settings: plain TCP or TLS.
    std::shared_ptr<const transports::WebSocketSettings> ws_;
    enum class WsState { Request, Open, Done };
    std::atomic<WsState> wsState_{WsState::Request};       // written on the I/O thread under mutex_
    std::string wsBuffer_;                                 // I/O thread: the request head so far
    std::unique_ptr<transports::FrameDecoder> wsDecoder_;  // I/O thread, once open
    bool wsBinaryLines_ = false;  // binary.ircv3.net: lines go out as binary messages; read-only once open
    // The upgrade request's path, the chosen subprotocol and Origin: set before on_open, read-only after.
    std::string wsPath_;
    std::string wsSubprotocol_;
    std::string wsOrigin_;
    bool wsCloseSent_ = false;   // under mutex_
    std::mutex wsSendMutex_;     // keeps frames in the order the plugin sent them; before mutex_
    std::string wsPartialLine_;  // under wsSendMutex_: a sent line without its newline yet
    std::chrono::steady_clock::time_point wsLastInput_;  // I/O thread: any frame from the client
    std::chrono::steady_clock::time_point wsPingSent_;   // I/O thread
    bool wsPingOwed_ = false;                            // I/O thread: a ping is out, no answer yet
    std::atomic<std::int64_t> wsLastData_{0};            // steady clock ticks: a message either way (idle)

    // What the plugin's retained handles hold: the object, until the last release().
    std::mutex pinMutex_;
    std::size_t pins_ = 0;
    std::shared_ptr<SessionImpl> pinned_;
};

// One I/O thread with its own epoll set.
class EventLoop {
public:
    EventLoop();
    ~EventLoop();  // stops the thread; sessions still open are closed with Shutdown
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;

    // Takes over an accepted socket and the places admitting it took; the session
    // opens on this loop's thread. Any thread.
    void adopt(Poco::Net::StreamSocket socket, std::shared_ptr<SessionOwner> owner, admission::Ticket ticket,
               std::shared_ptr<const transports::TlsContext> tls = nullptr,
               std::shared_ptr<const transports::WebSocketSettings> websocket = nullptr);
    // Stopping is two steps so that no loop is destroyed while another still runs
    // (and may hand it work): ask every loop to stop, then join every thread.
    void requestStop();
    void join();
    std::size_t sessionCount() const { return count_.load(); }
    // Grows on every turn of the loop (at least every sweep interval, 100 ms, when
    // idle); a value that stops growing means the thread is stuck, e.g. in a
    // plugin callback that does not return. Any thread.
    std::uint64_t heartbeat() const { return heartbeat_.load(std::memory_order_relaxed); }

    // For the sessions on this loop.
    int epoll() const { return epoll_; }
    // Writes the session's queue at the end of the current batch. Any thread.
    void scheduleFlush(std::shared_ptr<SessionImpl> session);
    // The session finished: freed after the current batch. I/O thread only.
    void retire(const std::shared_ptr<SessionImpl>& session);
    // When the current batch of events began (one clock read per batch). I/O thread only.
    std::chrono::steady_clock::time_point batchTime() const { return batchTime_; }
    // Runs `task` on this loop's thread, soon (after the current batch). Any thread.
    void post(std::function<void()> task);
    // Adds a descriptor with its handler to this loop's epoll set (EPOLLIN), and takes it out again;
    // the handler must outlive its registration. I/O thread only. watch() returns false with errno.
    bool watch(int fd, const std::shared_ptr<FdHandler>& handler);
    void unwatch(int fd, FdHandler& handler);

private:
    void run();
    void wake();
    void adoptPending();
    void sweep();
    void flushDirty();

    int epoll_ = -1;
    int wakeFd_ = -1;
    std::atomic<bool> stopping_{false};
    std::atomic<std::size_t> count_{0};
    std::atomic<std::uint64_t> heartbeat_{0};  // written by the I/O thread only
    std::mutex pendingMutex_;
    struct Arrival {
        Poco::Net::StreamSocket socket;
        std::shared_ptr<SessionOwner> owner;
        admission::Ticket ticket;
        std::shared_ptr<const transports::TlsContext> tls;
        std::shared_ptr<const transports::WebSocketSettings> websocket;
    };
    std::vector<Arrival> pending_;
    std::vector<std::function<void()>> tasks_;  // from post(); under pendingMutex_
    // Handlers in the epoll set; their epoll data is the pointer with the low bit set. I/O thread only.
    std::unordered_map<FdHandler*, std::shared_ptr<FdHandler>> handlers_;
    std::vector<std::shared_ptr<FdHandler>> retiredHandlers_;                  // unwatched this batch
    std::unordered_map<SessionImpl*, std::shared_ptr<SessionImpl>> sessions_;  // I/O thread only
    std::vector<std::shared_ptr<SessionImpl>> retired_;  // freed after each batch of events
    std::vector<std::shared_ptr<SessionImpl>> dirty_;    // to flush after this batch; I/O thread only
    std::vector<std::shared_ptr<SessionImpl>>
        remoteDirty_;                              // the same, from other threads; under pendingMutex_
    std::atomic<bool> remoteDirtyPending_{false};  // remoteDirty_ is not empty (written under pendingMutex_)
    std::atomic<std::thread::id> threadId_{};
    std::chrono::steady_clock::time_point
        batchTime_{};  // when the current batch of events began; I/O thread only
    std::vector<char> readBuffer_;
    std::thread thread_;
};

// The host's I/O threads; sessions are spread over them round-robin.
class EventLoops {
public:
    explicit EventLoops(unsigned threads);
    // Stops every loop, joins every thread, and only then destroys them: a loop
    // finishing its sessions may still send to sessions of another.
    ~EventLoops();
    EventLoops(const EventLoops&) = delete;
    EventLoops& operator=(const EventLoops&) = delete;
    void adopt(Poco::Net::StreamSocket socket, std::shared_ptr<SessionOwner> owner, admission::Ticket ticket,
               std::shared_ptr<const transports::TlsContext> tls = nullptr,
               std::shared_ptr<const transports::WebSocketSettings> websocket = nullptr);
    std::size_t size() const { return loops_.size(); }
    // The loop that gets the next thing to own (round-robin, like adopt()).
    EventLoop& next() { return *loops_[next_.fetch_add(1, std::memory_order_relaxed) % loops_.size()]; }
    // Each loop's heartbeat(), in loop order. Any thread.
    std::vector<std::uint64_t> heartbeats() const;

private:
    std::vector<std::unique_ptr<EventLoop>> loops_;
    std::atomic<std::size_t> next_{0};
};

}  // namespace plughost::sessions
