#include "sessions/sessions.h"

#include <Poco/Net/NetException.h>
#include <linux/sockios.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "tsan.h"

namespace plughost::sessions {

namespace {

using Clock = std::chrono::steady_clock;
using plughost::CloseReason;

constexpr std::size_t kReadBufferSize = 64 * 1024;
constexpr int kMaxEvents = 256;
// How often a loop looks for idle sessions and stuck closes; also the resolution of idle_timeout.
constexpr auto kSweepInterval = std::chrono::milliseconds(100);
// A close() whose output the client never reads gives up after this.
constexpr auto kCloseLinger = std::chrono::seconds(5);

std::atomic<std::uint64_t> nextSessionId{1};

// The session whose input this I/O thread is delivering, until it has written a reply directly (see
// SessionImpl::send); null on every other thread.
thread_local SessionImpl* replyingTo = nullptr;

std::string peerOf(const Poco::Net::StreamSocket& socket) {
    try {
        return socket.peerAddress().toString();
    } catch (const Poco::Exception&) {
        return "unknown";
    }
}

// The data path's system calls without libc's cancellation-point wrappers: in a multi-threaded process
// each recv/send/epoll_wait wrapper switches the thread to asynchronous cancellation and back, two atomic
// compare-and-swaps per call. plughost never cancels a thread. Under ThreadSanitizer the wrappers stay:
// its interceptors model the ordering a socket gives.
#if defined(__SANITIZE_THREAD__)
#define PLUGHOST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PLUGHOST_TSAN 1
#endif
#endif
#if defined(PLUGHOST_TSAN)
ssize_t sysRecv(int fd, void* buffer, std::size_t size, int flags) { return ::recv(fd, buffer, size, flags); }
ssize_t sysSend(int fd, const void* data, std::size_t size, int flags) {
    return ::send(fd, data, size, flags);
}
int sysEpollWait(int epoll, epoll_event* events, int max, int timeoutMs) {
    return ::epoll_wait(epoll, events, max, timeoutMs);
}
#else
ssize_t sysRecv(int fd, void* buffer, std::size_t size, int flags) {
    return ::syscall(SYS_recvfrom, fd, buffer, size, flags, nullptr, nullptr);
}
ssize_t sysSend(int fd, const void* data, std::size_t size, int flags) {
    return ::syscall(SYS_sendto, fd, data, size, flags, nullptr, 0);
}
int sysEpollWait(int epoll, epoll_event* events, int max, int timeoutMs) {
    return static_cast<int>(::syscall(SYS_epoll_pwait, epoll, events, max, timeoutMs, nullptr, 0));
}
#endif

[[noreturn]] void throwErrno(const char* what) {
    throw std::system_error(errno, std::generic_category(), what);
}

}  // namespace

// ---- SessionImpl -------------------------------------------------------------

void DurationHistogram::record(std::chrono::steady_clock::duration duration) {
    const double seconds = std::chrono::duration<double>(duration).count();
    std::size_t bucket = 0;
    while (bucket < kBoundsSeconds.size() && seconds > kBoundsSeconds[bucket]) {
        ++bucket;
    }
    buckets[bucket].fetch_add(1, std::memory_order_relaxed);
    sumMicroseconds.fetch_add(
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(duration).count()),
        std::memory_order_relaxed);
}

SessionImpl::SessionImpl(Poco::Net::StreamSocket socket, std::shared_ptr<SessionOwner> owner,
                         admission::Ticket ticket, std::shared_ptr<const transports::TlsContext> tls,
                         std::shared_ptr<const transports::WebSocketSettings> websocket, EventLoop& loop)
    : id_(nextSessionId++),
      socket_(std::move(socket)),
      fd_(socket_.impl()->sockfd()),
      peer_(peerOf(socket_)),
      owner_(std::move(owner)),
      plugin_(owner_->plugin()),
      framing_(owner_->framing()),
      maxLine_(owner_->limits().maxLine),
      maxQueue_(owner_->limits().maxQueue),
      idleTimeout_(owner_->limits().idleTimeout),
      sendTimeout_(owner_->limits().sendTimeout),
      loop_(loop),
      ticket_(std::move(ticket)),
      openedAt_(Clock::now()),
      lines_(maxLine_),
      lastActivity_(Clock::now()),
      ws_(std::move(websocket)) {
    if (ws_) {
        // The request must arrive within handshake_timeout (after TLS's own, when both are set).
        handshakeDeadline_ = lastActivity_ + owner_->limits().handshakeTimeout;
        wsLastData_ = lastActivity_.time_since_epoch().count();
    }
    if (tls) {
        tls_ = std::make_unique<transports::TlsConnection>(std::move(tls), fd_);
        phase_ = Phase::Handshaking;
        handshakeDeadline_ = lastActivity_ + owner_->limits().handshakeTimeout;
    }
}

SessionImpl::~SessionImpl() {
    tsan::handOver(socket_.impl());  // the socket's last reference may be dropped on another thread
}

// Bytes are queued and written by the session's I/O thread at the end of its
// current batch of events: everything sent to one client in a batch (a busy
// chat room) goes out in one system call instead of one per message.
bool SessionImpl::send(std::string_view bytes) {
    if (!ws_) {
        return queue(bytes);
    }
    // WebSocket: Raw sends are binary messages; Lines sends are cut into lines, each a text message
    // (binary under binary.ircv3.net, or when the line is not UTF-8, which a text message must be).
    std::lock_guard<std::mutex> order(wsSendMutex_);
    if (wsState_ != WsState::Open) {
        return false;
    }
    std::string frames;
    if (framing_ == plughost::Framing::Raw) {
        if (bytes.empty()) {
            return true;
        }
        transports::encodeFrame(frames, transports::WsOpcode::Binary, bytes);
    } else {
        while (!bytes.empty()) {
            const std::size_t newline = bytes.find('\n');
            if (newline == std::string_view::npos) {
                wsPartialLine_.append(bytes.data(), bytes.size());
                if (wsPartialLine_.size() > maxQueue_) {
                    // A "line" that never ends is not held without bound: it goes out as it is.
                    transports::encodeFrame(frames, transports::WsOpcode::Binary, wsPartialLine_);
                    wsPartialLine_.clear();
                }
                break;
            }
            std::string_view line = bytes.substr(0, newline);
            std::string whole;
            if (!wsPartialLine_.empty()) {
                wsPartialLine_.append(line.data(), line.size());
                whole.swap(wsPartialLine_);
                line = whole;
            }
            if (!line.empty() && line.back() == '\r') {
                line.remove_suffix(1);
            }
            const bool binary = wsBinaryLines_ || !transports::validUtf8(line);
            transports::encodeFrame(frames,
                                    binary ? transports::WsOpcode::Binary : transports::WsOpcode::Text, line);
            bytes.remove_prefix(newline + 1);
        }
        if (frames.empty()) {
            return true;
        }
    }
    wsLastData_.store(Clock::now().time_since_epoch().count(), std::memory_order_relaxed);
    return queue(frames);
}

bool SessionImpl::queue(std::string_view bytes) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (phase_ != Phase::Open) {
            return false;
        }
        if (bytes.empty()) {
            return true;
        }
        // Too slow: the kernel already refused more (we wait for EPOLLOUT) and the queue is full.
        if (writeArmed_ && outbound_.size() - outboundHead_ + bytes.size() > maxQueue_) {
            owner_->stats().tooSlow.fetch_add(1, std::memory_order_relaxed);
            shutdownLocked(Phase::Aborting, CloseReason::TooSlow);
            return false;
        }
        // The first reply to the input being delivered, with nothing queued before it, is written at
        // once from the caller's bytes (request/response, echo): no copy, no flush to schedule. Any more
        // output in the same batch is queued and written at its end, as below.
        if (replyingTo == this && outboundHead_ == outbound_.size() && !writeArmed_ && !flushScheduled_) {
            replyingTo = nullptr;
            const ssize_t n = writeSomeLocked(bytes.data(), bytes.size());
            if (n > 0) {
                wroteLocked(static_cast<std::size_t>(n));
                bytes.remove_prefix(static_cast<std::size_t>(n));
                if (bytes.empty()) {
                    return true;
                }
            }
            // The kernel took part or none, or failed: the rest goes the usual way (the flush sees the
            // same failure and ends the session as it always did).
        }
        if (outboundHead_ > 0 && outboundHead_ * 2 >= outbound_.size()) {
            outbound_.erase(0, outboundHead_);
            outboundHead_ = 0;
        }
        outbound_.append(bytes.data(), bytes.size());
        if (flushScheduled_ || writeArmed_) {
            return true;  // a flush or an EPOLLOUT is already coming
        }
        flushScheduled_ = true;
    }
    loop_.scheduleFlush(shared_from_this());
    return true;
}

void SessionImpl::retain() {
    std::lock_guard<std::mutex> lock(pinMutex_);
    if (pins_++ == 0) {
        pinned_ = shared_from_this();
    }
}

void SessionImpl::release() {
    std::shared_ptr<SessionImpl> last;  // dropped after the lock: it may be the final reference
    {
        std::lock_guard<std::mutex> lock(pinMutex_);
        if (pins_ > 0 && --pins_ == 0) {
            last = std::move(pinned_);
        }
    }
}

std::size_t SessionImpl::queued() {
    std::lock_guard<std::mutex> lock(mutex_);
    return outbound_.size() - outboundHead_;
}

void SessionImpl::connection(plughost_connection& out) const {
    if (ws_) {
        out.websocket = 1;
        out.websocket_path = wsPath_.data();
        out.websocket_path_length = wsPath_.size();
        out.websocket_subprotocol = wsSubprotocol_.data();
        out.websocket_subprotocol_length = wsSubprotocol_.size();
        out.origin = wsOrigin_.data();
        out.origin_length = wsOrigin_.size();
    }
    if (!tls_) {
        out.transport = PLUGHOST_TRANSPORT_TCP;
        return;
    }
    out.transport = PLUGHOST_TRANSPORT_TLS;
    out.tls_version = tlsInfo_.version.data();
    out.tls_version_length = tlsInfo_.version.size();
    out.tls_cipher = tlsInfo_.cipher.data();
    out.tls_cipher_length = tlsInfo_.cipher.size();
    out.peer_subject = tlsInfo_.peerSubject.data();
    out.peer_subject_length = tlsInfo_.peerSubject.size();
    out.server_name = tlsInfo_.serverName.data();
    out.server_name_length = tlsInfo_.serverName.size();
}

void SessionImpl::flushScheduled() {
    bool finished = false;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        flushScheduled_ = false;
        if (phase_ != Phase::Open && phase_ != Phase::Closing) {
            return;
        }
        if (!flushLocked()) {
            shutdownLocked(Phase::Aborting, CloseReason::Reset);
            return;
        }
        lastActivity_ = loop_.batchTime();  // traffic either way keeps a session from counting as idle
        if (outboundHead_ < outbound_.size()) {
            // The kernel is full: hold the rest, and give up on a client that lets it grow past max_queue.
            if (outbound_.size() - outboundHead_ > maxQueue_) {
                owner_->stats().tooSlow.fetch_add(1, std::memory_order_relaxed);
                shutdownLocked(Phase::Aborting, CloseReason::TooSlow);
                return;
            }
            armWriteLocked(true);
        } else {
            finished = phase_ == Phase::Closing;
        }
    }
    if (finished) {
        finish(CloseReason::Closed);
    }
}

void SessionImpl::close() { closeGracefully(CloseReason::Closed); }

void SessionImpl::closeStalled() {
    owner_->stats().tooSlow.fetch_add(1, std::memory_order_relaxed);
    abort(CloseReason::TooSlow);
    finish(CloseReason::TooSlow);
}

void SessionImpl::closeGracefully(CloseReason reason) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (phase_ == Phase::Handshaking) {
        shutdownLocked(Phase::Aborting, reason);  // nothing was said yet; nothing to flush
        return;
    }
    if (phase_ != Phase::Open) {
        return;
    }
    wsCloseLocked(wsCloseCode(reason), plughost::describe(reason));
    reason_ = reason;
    phase_ = Phase::Closing;
    closingSince_ = Clock::now();
    // Never finish inside the caller's callback: an EPOLLOUT event lets the
    // I/O thread flush what is queued and then finish.
    armWriteLocked(true);
}

void SessionImpl::abort(CloseReason reason) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (phase_ == Phase::Open || phase_ == Phase::Closing || phase_ == Phase::Handshaking) {
        shutdownLocked(Phase::Aborting, reason);
    }
}

void SessionImpl::shutdownLocked(Phase phase, CloseReason reason) {
    reason_ = reason;
    phase_ = phase;
    if (reason != CloseReason::TooSlow && reason != CloseReason::Reset) {
        wsCloseLocked(wsCloseCode(reason), plughost::describe(reason));
        flushLocked();  // best effort, never blocking: what was sent before the end still goes out
    }
    outbound_.clear();
    outboundHead_ = 0;
    // The shutdown wakes the I/O thread (EPOLLHUP), which then finishes the session.
    ::shutdown(fd_, SHUT_RDWR);
}

void SessionImpl::armWriteLocked(bool wanted) {
    if (writeArmed_ == wanted) {
        return;
    }
    epoll_event event{};
    event.events =
        (readClosed_ ? 0u : static_cast<unsigned>(EPOLLIN)) | (wanted ? static_cast<unsigned>(EPOLLOUT) : 0u);
    event.data.ptr = this;
    if (::epoll_ctl(loop_.epoll(), EPOLL_CTL_MOD, fd_, &event) == 0) {
        writeArmed_ = wanted;
    }
}

ssize_t SessionImpl::writeSomeLocked(const char* data, std::size_t size) {
    if (!tls_) {
        ssize_t n;
        do {
            n = sysSend(fd_, data, size, MSG_NOSIGNAL | MSG_DONTWAIT);
        } while (n < 0 && errno == EINTR);
        return n;
    }
    std::size_t n = 0;
    switch (tls_->write(data, size, n)) {
        case transports::TlsStatus::Done:
            return static_cast<ssize_t>(n);
        case transports::TlsStatus::WantRead:
            tlsWriteWantsRead_ = true;  // the next readable() flushes again
            errno = EAGAIN;
            return -1;
        case transports::TlsStatus::WantWrite:
            errno = EAGAIN;
            return -1;
        default:
            errno = EPIPE;
            return -1;
    }
}

bool SessionImpl::flushLocked() {
    if (phase_ == Phase::Handshaking) {
        return true;  // plugins see the session once the handshake is done; nothing was queued before
    }
    while (outboundHead_ < outbound_.size()) {
        const ssize_t n = writeSomeLocked(outbound_.data() + outboundHead_, outbound_.size() - outboundHead_);
        if (n < 0) {
            return errno == EAGAIN || errno == EWOULDBLOCK;
        }
        outboundHead_ += static_cast<std::size_t>(n);
        wroteLocked(static_cast<std::size_t>(n));
    }
    outbound_.clear();
    outboundHead_ = 0;
    if (outbound_.capacity() > 64 * 1024) {
        outbound_.shrink_to_fit();  // a burst's buffer is not kept by an idle session
    }
    return true;
}

// The kernel took `n` more bytes: counted, and owed to the client until it acknowledges them.
void SessionImpl::wroteLocked(std::size_t n) {
    written_ += static_cast<std::uint64_t>(n);
    if (!kernelOwed_.load(std::memory_order_relaxed)) {
        lastTaken_ = Clock::now();  // send_timeout counts from here until the client takes some of it
        kernelOwed_.store(true, std::memory_order_relaxed);
    }
    owner_->stats().bytesOut.fetch_add(n, std::memory_order_relaxed);
}

// Runs a plugin callback; one that reports failure closes this session only.
template <class Callback>
bool SessionImpl::guarded(const char* name, Callback callback) {
    if (callback()) {
        return true;
    }
    owner_->pluginFailed(name, plugins::Instance::failure());
    owner_->stats().errors.fetch_add(1, std::memory_order_relaxed);
    abort(CloseReason::Error);
    return false;
}

void SessionImpl::opened() {
    owner_->stats().accepted.fetch_add(1, std::memory_order_relaxed);
    owner_->stats().current.fetch_add(1, std::memory_order_relaxed);
    owner_->sessionOpened(shared_from_this());
    if (phase_ == Phase::Handshaking) {
        return;  // the plugin hears of a TLS session once its handshake succeeded
    }
    if (ws_) {
        return;  // nor of a WebSocket session before its upgrade
    }
    pluginOpened_ = true;
    guarded("on_open", [this] { return plugin_.open(*this, pluginData_); });
}

// One step of a TLS handshake, on EPOLLIN or EPOLLOUT.
void SessionImpl::handshake(char* buffer, std::size_t capacity) {
    transports::TlsStatus status;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (phase_ != Phase::Handshaking) {
            return;
        }
        status = tls_->handshake();
        if (status == transports::TlsStatus::Done) {
            tlsInfo_ = tls_->info();  // read-only from here on: any thread may look
            phase_ = Phase::Open;
            armWriteLocked(false);
        } else if (status == transports::TlsStatus::WantWrite || status == transports::TlsStatus::WantRead) {
            armWriteLocked(status == transports::TlsStatus::WantWrite);
            return;
        }
    }
    if (status != transports::TlsStatus::Done) {
        tlsFailed(status == transports::TlsStatus::Closed ? transports::TlsFailure::UnexpectedEof
                                                          : tls_->failure());
        return;
    }
    owner_->stats().tlsHandshakes.fetch_add(1, std::memory_order_relaxed);
    lastActivity_ = loop_.batchTime();
    if (ws_) {
        handshakeDeadline_ = lastActivity_ + owner_->limits().handshakeTimeout;  // now for the upgrade
        readTls(buffer, capacity);
        return;
    }
    pluginOpened_ = true;
    if (!guarded("on_open", [this] { return plugin_.open(*this, pluginData_); })) {
        return;
    }
    // The client's first bytes may have come with its last handshake flight and wait inside OpenSSL.
    readTls(buffer, capacity);
}

void SessionImpl::tlsFailed(transports::TlsFailure failure) {
    owner_->stats().tlsFailed[static_cast<std::size_t>(failure)].fetch_add(1, std::memory_order_relaxed);
    owner_->tlsFailed(peer_, failure, tls_->failureDetail());
    abort(CloseReason::Reset);
    finish(CloseReason::Reset);
}

// Plaintext from a TLS session: read until OpenSSL needs the socket again. A
// record's plaintext that OpenSSL holds is read here, not left waiting for an
// epoll event that will not come.
void SessionImpl::readTls(char* buffer, std::size_t capacity) {
    for (;;) {
        transports::TlsStatus status;
        std::size_t n = 0;
        bool flush = false;
        bool pending = false;
        Phase phase;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            phase = phase_;
            if (phase != Phase::Open && phase != Phase::Closing) {
                return;
            }
            status = tls_->read(buffer, capacity, n);
            if (status == transports::TlsStatus::WantWrite) {
                armWriteLocked(true);  // resumed from writable()
            }
            flush = tlsWriteWantsRead_ && status != transports::TlsStatus::Failed;
            pending = status == transports::TlsStatus::Done && tls_->pending();
        }
        if (flush) {
            std::lock_guard<std::mutex> lock(mutex_);
            tlsWriteWantsRead_ = false;
            if (!flushLocked()) {
                shutdownLocked(Phase::Aborting, CloseReason::Reset);
                return;
            }
            if (outboundHead_ < outbound_.size()) {
                armWriteLocked(true);
            }
        }
        switch (status) {
            case transports::TlsStatus::Done:
                owner_->stats().bytesIn.fetch_add(n, std::memory_order_relaxed);
                lastActivity_ = loop_.batchTime();
                if (phase == Phase::Open) {
                    replyingTo = this;
                    deliver(buffer, n);
                    replyingTo = nullptr;
                }
                if (!pending) {
                    return;  // anything more is still in the socket: epoll says when
                }
                break;
            case transports::TlsStatus::WantRead:
            case transports::TlsStatus::WantWrite:
                return;
            case transports::TlsStatus::Closed:
                peerEnded(true, phase);
                return;
            case transports::TlsStatus::Failed:
                peerEnded(false, phase);
                return;
        }
    }
}

void SessionImpl::readable(char* buffer, std::size_t capacity) {
    const Phase phase = phase_;
    if (phase == Phase::Aborting) {
        finish(CloseReason::Reset);
        return;
    }
    if (tls_) {
        if (phase == Phase::Handshaking) {
            handshake(buffer, capacity);
        } else {
            readTls(buffer, capacity);
        }
        return;
    }
    ssize_t n;
    do {
        n = sysRecv(fd_, buffer, capacity, 0);
    } while (n < 0 && errno == EINTR);
    if (n > 0) {
        owner_->stats().bytesIn.fetch_add(static_cast<std::size_t>(n), std::memory_order_relaxed);
        lastActivity_ = loop_.batchTime();
        if (phase == Phase::Open) {
            replyingTo = this;
            deliver(buffer, static_cast<std::size_t>(n));
            replyingTo = nullptr;
        }
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return;
    }
    peerEnded(n == 0, phase);
}

// The client closed its side (`eof`) or the connection failed.
void SessionImpl::peerEnded(bool eof, Phase phase) {
    const CloseReason reason = eof ? CloseReason::PeerClosed : CloseReason::Reset;
    {
        // A half-closed client still gets everything it is owed, then the session
        // ends — also when the plugin had already closed it with output queued.
        // Once EOF is seen the loop stops watching for input: a later wake-up here is a hang-up or an error.
        std::lock_guard<std::mutex> lock(mutex_);
        if (eof && !readClosed_ && (phase_ == Phase::Open || phase_ == Phase::Closing) &&
            outboundHead_ < outbound_.size()) {
            if (phase_ == Phase::Open) {
                reason_ = reason;
                phase_ = Phase::Closing;
                closingSince_ = Clock::now();
            }
            readClosed_ = true;
            writeArmed_ = false;
            armWriteLocked(true);
            return;
        }
    }
    finish(phase == Phase::Closing ? CloseReason::Closed : reason);
}

void SessionImpl::writable(char* buffer, std::size_t capacity) {
    if (phase_ == Phase::Handshaking) {
        handshake(buffer, capacity);
        return;
    }
    bool done = false;
    bool readWaiting = false;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (phase_ == Phase::Aborting) {
            done = true;
        } else if (!flushLocked()) {
            reason_ = CloseReason::Reset;
            phase_ = Phase::Aborting;
            done = true;
        } else if (outboundHead_ == outbound_.size()) {
            armWriteLocked(false);
            done = phase_ == Phase::Closing;
            // A TLS read that needed to write (a key update's answer) goes on now.
            readWaiting = tls_ != nullptr && !done;
        }
        lastActivity_ = loop_.batchTime();
    }
    if (done) {
        finish(CloseReason::Reset);
    } else if (readWaiting) {
        readTls(buffer, capacity);
    }
}

// `reason` applies to a session that was open; one already closing or aborting
// ends for the reason recorded when that began.
void SessionImpl::finish(CloseReason reason) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (phase_ == Phase::Closed) {
            return;
        }
        if (phase_ != Phase::Open) {
            reason = reason_;
        }
        if (reason != CloseReason::Reset && reason != CloseReason::TooSlow) {
            wsCloseLocked(wsCloseCode(reason), plughost::describe(reason));  // a shutdown's 1001, say
            if (wsCloseSent_) {
                flushLocked();  // best effort, never blocking
            }
        }
        phase_ = Phase::Closed;
        ::epoll_ctl(loop_.epoll(), EPOLL_CTL_DEL, fd_, nullptr);
        if (tls_ && reason != CloseReason::Reset && reason != CloseReason::TooSlow) {
            tls_->shutdown();  // close_notify, so the client knows nothing was cut off
        }
        // Unread input would turn the close into a reset that can destroy what the
        // client has not read yet; drain a bounded amount first.
        char sink[4096];
        for (int i = 0; i < 16 && ::recv(fd_, sink, sizeof sink, MSG_DONTWAIT) > 0; ++i) {
        }
        try {
            socket_.close();
        } catch (const Poco::Exception&) {
        }
        outbound_.clear();
        outbound_.shrink_to_fit();
    }
    ticket_.release();
    owner_->stats().current.fetch_sub(1, std::memory_order_relaxed);
    if (pluginOpened_) {
        owner_->stats().sessionDurations.record(Clock::now() - openedAt_);
    }
    if (pluginOpened_ && !plugin_.close(*this, pluginData_, reason)) {
        owner_->pluginFailed("on_close", plugins::Instance::failure());
        owner_->stats().errors.fetch_add(1, std::memory_order_relaxed);
    }
    pluginData_ = nullptr;
    owner_->sessionClosed(*this);
    // A plugin may keep a handle to this session after on_close. Let go of the
    // owner (service → plugin → handle → session → owner would be a cycle
    // keeping the service and its library alive for good). Nothing touches
    // owner_ once the phase is Closed; not under mutex_, as the last owner going
    // runs the plugin's destroy(), which may release handles.
    owner_.reset();
    loop_.retire(shared_from_this());
}

void SessionImpl::deliver(const char* data, std::size_t size) {
    if (ws_) {
        wsInput(data, size);
        return;
    }
    if (framing_ == plughost::Framing::Raw) {
        guarded("on_data", [&] { return plugin_.data(*this, pluginData_, std::string_view(data, size)); });
    } else {
        deliverLines(data, size);
    }
}

void SessionImpl::deliverLines(const char* data, std::size_t size) {
    lines_.feed(
        std::string_view(data, size),
        [this](std::string_view line) {
            guarded("on_data", [&] { return plugin_.data(*this, pluginData_, line); });
        },
        [this] {
            guarded("on_line_too_long", [this] { return plugin_.lineTooLong(*this, pluginData_, maxLine_); });
        },
        [this] { return phase_ == Phase::Open; });
}

// ---- WebSocket ---------------------------------------------------------------

std::uint16_t SessionImpl::wsCloseCode(CloseReason reason) {
    switch (reason) {
        case CloseReason::Shutdown:
        case CloseReason::Reload:
            return transports::close_code::kGoingAway;
        case CloseReason::Error:
            return transports::close_code::kInternalError;
        case CloseReason::TooSlow:
            return transports::close_code::kPolicy;
        default:
            return transports::close_code::kNormal;
    }
}

void SessionImpl::wsCloseLocked(std::uint16_t code, std::string_view why) {
    if (!ws_ || wsState_ != WsState::Open || wsCloseSent_) {
        return;
    }
    wsCloseSent_ = true;
    if (outboundHead_ > 0) {
        outbound_.erase(0, outboundHead_);
        outboundHead_ = 0;
    }
    transports::encodeClose(outbound_, code, why);
}

void SessionImpl::wsInput(const char* data, std::size_t size) {
    if (wsState_ == WsState::Request) {
        wsBuffer_.append(data, size);
        wsRequest();
    } else if (wsState_ == WsState::Open) {
        wsFrames(std::string_view(data, size));
    }
}

void SessionImpl::wsRefused(transports::WsRefusal refusal, const std::string& response) {
    owner_->stats().wsRefused[static_cast<std::size_t>(refusal)].fetch_add(1, std::memory_order_relaxed);
    queue(response);
    wsState_ = WsState::Done;
    closeGracefully(CloseReason::Closed);
}

void SessionImpl::wsRequest() {
    transports::HttpRequest request;
    std::size_t used = 0;
    switch (transports::parseRequest(wsBuffer_, request, used)) {
        case transports::HttpParse::Incomplete:
            return;
        case transports::HttpParse::TooLarge:
            wsRefused(transports::WsRefusal::TooLarge,
                      transports::httpResponse(431, "", "request header fields too large\n"));
            return;
        case transports::HttpParse::Bad:
            wsRefused(transports::WsRefusal::BadRequest,
                      transports::httpResponse(400, "", "bad request: not an HTTP/1.1 request\n"));
            return;
        case transports::HttpParse::Done:
            break;
    }
    const transports::UpgradeDecision decision = transports::decideUpgrade(request, *ws_);
    if (decision.kind == transports::UpgradeDecision::Kind::Static && ws_->refused) {
        queue(transports::httpResponse(403, "", "forbidden: refused by a limit or an access rule\n"));
        wsState_ = WsState::Done;  // counted by admission already
        closeGracefully(CloseReason::Closed);
        return;
    }
    if (decision.kind == transports::UpgradeDecision::Kind::Static) {
        owner_->stats().httpRequests.fetch_add(1, std::memory_order_relaxed);
        queue(transports::serveStatic(ws_->staticDir, request));
        wsState_ = WsState::Done;
        closeGracefully(CloseReason::Closed);
        return;
    }
    if (decision.kind == transports::UpgradeDecision::Kind::Refuse) {
        wsRefused(decision.refusal, decision.response);
        return;
    }
    if (ws_->refused) {
        // Refused by a limit or an access rule (already counted and logged by admission): upgraded
        // only to say so with 1008; the plugin never hears of it.
        queue(decision.response);
        {
            std::lock_guard<std::mutex> lock(mutex_);
            wsState_ = WsState::Open;
            wsCloseLocked(transports::close_code::kPolicy, "refused by a limit or an access rule");
            wsState_ = WsState::Done;
        }
        closeGracefully(CloseReason::Closed);
        return;
    }
    queue(decision.response);  // before anything the plugin's on_open sends
    wsBinaryLines_ = decision.subprotocol == "binary.ircv3.net";
    wsPath_ = request.target;
    wsSubprotocol_ = decision.subprotocol;
    if (const std::string* origin = request.header("origin")) {
        wsOrigin_ = *origin;
    }
    // 1009 past max_line for a line service (a message of several lines counts whole), max_queue for raw.
    wsDecoder_ = std::make_unique<transports::FrameDecoder>(framing_ == plughost::Framing::Lines ? maxLine_
                                                                                                 : maxQueue_);
    wsLastInput_ = loop_.batchTime();
    wsLastData_.store(Clock::now().time_since_epoch().count(), std::memory_order_relaxed);
    {
        std::lock_guard<std::mutex> lock(mutex_);
        wsState_ = WsState::Open;
    }
    owner_->stats().wsUpgrades.fetch_add(1, std::memory_order_relaxed);
    const std::string rest = wsBuffer_.substr(used);
    wsBuffer_.clear();
    wsBuffer_.shrink_to_fit();
    pluginOpened_ = true;
    if (!guarded("on_open", [this] { return plugin_.open(*this, pluginData_); })) {
        return;
    }
    if (!rest.empty() && phase_ == Phase::Open) {
        wsFrames(rest);
    }
}

void SessionImpl::wsFrames(std::string_view data) {
    wsLastInput_ = loop_.batchTime();
    wsPingOwed_ = false;  // any bytes from the client show it is alive
    using Event = transports::FrameDecoder::Event;
    // Ends the session with a close frame carrying `code`, then (once it is sent) the connection.
    auto closeWith = [this](std::uint16_t code, std::string_view why, CloseReason reason) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (phase_ != Phase::Open) {
            return;
        }
        wsCloseLocked(code, why);
        reason_ = reason;
        phase_ = Phase::Closing;
        closingSince_ = Clock::now();
        armWriteLocked(true);
    };
    wsDecoder_->feed(data, [&](const Event& event) {
        if (phase_ != Phase::Open) {
            return;
        }
        switch (event.kind) {
            case Event::Kind::Message:
                wsLastData_.store(loop_.batchTime().time_since_epoch().count(), std::memory_order_relaxed);
                wsMessage(event.text, event.payload);
                break;
            case Event::Kind::Ping: {
                std::string pong;
                transports::encodeFrame(pong, transports::WsOpcode::Pong, event.payload);
                queue(pong);
                break;
            }
            case Event::Kind::Close:
                // The client's close: answered with its code (1000 when it gave none), then the end.
                closeWith(event.code == 1005 ? transports::close_code::kNormal : event.code, "",
                          CloseReason::PeerClosed);
                break;
            case Event::Kind::Error:
                closeWith(event.code, event.error, CloseReason::Reset);
                break;
            case Event::Kind::Pong:
            case Event::Kind::None:
                break;
        }
    });
}

void SessionImpl::wsMessage(bool text, std::string_view payload) {
    (void)text;  // text and binary messages map alike; the decoder checked a text message's UTF-8
    if (framing_ == plughost::Framing::Raw) {
        guarded("on_data", [&] { return plugin_.data(*this, pluginData_, payload); });
        return;
    }
    // Each line of the message, without its "\n" (or "\r\n"); a final "\n" ends the last line.
    do {
        const std::size_t newline = payload.find('\n');
        std::string_view line = payload.substr(0, newline);
        payload = newline == std::string_view::npos ? std::string_view() : payload.substr(newline + 1);
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        if (!guarded("on_data", [&] { return plugin_.data(*this, pluginData_, line); })) {
            return;
        }
    } while (!payload.empty() && phase_ == Phase::Open);
}

bool SessionImpl::expired(Clock::time_point now) {
    const Phase phase = phase_;
    if (phase == Phase::Handshaking) {
        return now > handshakeDeadline_;
    }
    if (ws_ && phase == Phase::Open) {
        const WsState state = wsState_;
        if (state == WsState::Request) {
            return now > handshakeDeadline_;
        }
        if (state == WsState::Open && ws_->pingIntervalMs > 0) {
            const auto interval = std::chrono::milliseconds(ws_->pingIntervalMs);
            if (wsPingOwed_) {
                if (now - wsPingSent_ > interval) {
                    return true;  // no answer to a ping for an interval: dead
                }
            } else if (now - wsLastInput_ > interval) {
                std::string ping;
                transports::encodeFrame(ping, transports::WsOpcode::Ping, "");
                wsPingOwed_ = true;
                wsPingSent_ = now;
                queue(ping);
            }
        }
        // Idle means no message either way: pings and pongs keep a connection alive, not a session.
        const Clock::time_point lastData{Clock::duration(wsLastData_.load(std::memory_order_relaxed))};
        return idleTimeout_.count() > 0 && now - lastData > idleTimeout_;
    }
    if (phase == Phase::Closing) {
        std::lock_guard<std::mutex> lock(mutex_);  // close() may set closingSince_ from any thread
        return now - closingSince_ > kCloseLinger;
    }
    return phase == Phase::Open && idleTimeout_.count() > 0 && now - lastActivity_ > idleTimeout_;
}

void SessionImpl::closeExpired() {
    if (phase_ == Phase::Handshaking) {
        tlsFailed(transports::TlsFailure::Timeout);
    } else if (ws_ && phase_ == Phase::Open && wsState_ == WsState::Request) {
        wsRefused(transports::WsRefusal::Timeout,
                  transports::httpResponse(
                      408, "", "request timeout: no complete request within handshake_timeout\n"));
    } else {
        finish(CloseReason::IdleTimeout);
    }
}

// send_timeout: output is owed — queued here, or in the kernel's send queue not
// yet taken by the client — and the client has taken none of it for that long.
// Kernel buffers keep their normal size, so a client that keeps reading rides
// out a burst; one that stops is found by this, whatever the traffic.
bool SessionImpl::stalled(Clock::time_point now) {
    if (sendTimeout_.count() <= 0 || !kernelOwed_.load(std::memory_order_relaxed)) {
        return false;  // most sessions, most of the time: no lock, no system call
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (phase_ != Phase::Open && phase_ != Phase::Closing) {
        return false;
    }
    int unacknowledged = 0;
    if (::ioctl(fd_, SIOCOUTQ, &unacknowledged) != 0 || unacknowledged < 0) {
        return false;
    }
    // SIOCOUTQ counts what is on the wire: for TLS that is ciphertext, records and all.
    const std::uint64_t sent = tls_ ? tls_->written() : written_;
    const std::uint64_t taken = sent - static_cast<std::uint64_t>(unacknowledged);
    if (taken != acknowledged_) {
        acknowledged_ = taken;
        lastTaken_ = now;
    }
    if (unacknowledged == 0 && outboundHead_ == outbound_.size()) {
        kernelOwed_.store(false, std::memory_order_relaxed);
        return false;
    }
    return now - lastTaken_ > sendTimeout_;
}

// ---- EventLoop ---------------------------------------------------------------

EventLoop::EventLoop() : readBuffer_(kReadBufferSize) {
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) {
        throwErrno("epoll_create1");
    }
    wakeFd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wakeFd_ < 0) {
        ::close(epoll_);
        throwErrno("eventfd");
    }
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.ptr = nullptr;  // the wake-up descriptor
    ::epoll_ctl(epoll_, EPOLL_CTL_ADD, wakeFd_, &event);
    thread_ = std::thread([this] { run(); });
}

EventLoop::~EventLoop() {
    requestStop();
    join();
    ::close(wakeFd_);
    ::close(epoll_);
}

void EventLoop::requestStop() {
    stopping_ = true;
    wake();
}

void EventLoop::join() {
    if (thread_.joinable()) {
        thread_.join();
    }
}

void EventLoop::wake() {
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(wakeFd_, &one, sizeof one);
}

void EventLoop::adopt(Poco::Net::StreamSocket socket, std::shared_ptr<SessionOwner> owner,
                      admission::Ticket ticket, std::shared_ptr<const transports::TlsContext> tls,
                      std::shared_ptr<const transports::WebSocketSettings> websocket) {
    {
        std::lock_guard<std::mutex> lock(pendingMutex_);
        pending_.push_back(
            {std::move(socket), std::move(owner), std::move(ticket), std::move(tls), std::move(websocket)});
    }
    wake();
}

void EventLoop::adoptPending() {
    std::uint64_t counter;
    [[maybe_unused]] const ssize_t n = ::read(wakeFd_, &counter, sizeof counter);
    std::vector<Arrival> arrived;
    std::vector<std::function<void()>> tasks;
    {
        std::lock_guard<std::mutex> lock(pendingMutex_);
        arrived.swap(pending_);
        tasks.swap(tasks_);
    }
    for (auto& task : tasks) {
        task();
    }
    for (auto& arrival : arrived) {
        auto session = std::make_shared<SessionImpl>(std::move(arrival.socket), std::move(arrival.owner),
                                                     std::move(arrival.ticket), std::move(arrival.tls),
                                                     std::move(arrival.websocket), *this);
        epoll_event event{};
        event.events = EPOLLIN;
        event.data.ptr = session.get();
        if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, session->fd(), &event) != 0) {
            continue;  // the socket is closed and its places given back as the session is dropped
        }
        sessions_.emplace(session.get(), session);
        count_.fetch_add(1, std::memory_order_relaxed);
        session->opened();
    }
}

void EventLoop::post(std::function<void()> task) {
    {
        std::lock_guard<std::mutex> lock(pendingMutex_);
        tasks_.push_back(std::move(task));
    }
    wake();
}

bool EventLoop::watch(int fd, const std::shared_ptr<FdHandler>& handler) {
    epoll_event event{};
    event.events = EPOLLIN;
    // Sessions are at least 8-byte aligned: a set low bit marks a handler.
    event.data.u64 = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(handler.get())) | 1u;
    if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &event) != 0) {
        return false;
    }
    handlers_.emplace(handler.get(), handler);
    return true;
}

void EventLoop::unwatch(int fd, FdHandler& handler) {
    ::epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
    const auto found = handlers_.find(&handler);
    if (found != handlers_.end()) {
        // Events for it may still wait in this batch: it is freed with the retired sessions.
        retiredHandlers_.push_back(std::move(found->second));
        handlers_.erase(found);
    }
}

std::uint64_t newSessionId() { return nextSessionId++; }

const char* udpDropName(UdpDrop drop) {
    static const char* const names[kUdpDropCount] = {"low_port",  "refused",     "amplification",
                                                     "too_large", "send_failed", "closed"};
    return names[static_cast<std::size_t>(drop)];
}

void EventLoop::scheduleFlush(std::shared_ptr<SessionImpl> session) {
    if (std::this_thread::get_id() == threadId_) {
        dirty_.push_back(std::move(session));
        return;
    }
    bool first;
    {
        std::lock_guard<std::mutex> lock(pendingMutex_);
        first = remoteDirty_.empty();
        remoteDirty_.push_back(std::move(session));
        remoteDirtyPending_.store(true, std::memory_order_relaxed);
    }
    if (first) {
        wake();
    }
}

void EventLoop::flushDirty() {
    // Only a hint, set under the lock: one missed here was pushed onto an empty list, so it woke the loop
    // and the next batch takes it.
    if (remoteDirtyPending_.load(std::memory_order_relaxed)) {
        std::lock_guard<std::mutex> lock(pendingMutex_);
        dirty_.insert(dirty_.end(), std::make_move_iterator(remoteDirty_.begin()),
                      std::make_move_iterator(remoteDirty_.end()));
        remoteDirty_.clear();
        remoteDirtyPending_.store(false, std::memory_order_relaxed);
    }
    // Flushing never calls a plugin, but finishing a closed session does; it may schedule more, which
    // land at the end and are flushed in this same pass. By index, keeping dirty_'s capacity: no
    // allocation per batch.
    for (std::size_t i = 0; i < dirty_.size(); ++i) {
        const std::shared_ptr<SessionImpl> session = std::move(dirty_[i]);
        session->flushScheduled();
    }
    dirty_.clear();
}

void EventLoop::retire(const std::shared_ptr<SessionImpl>& session) {
    if (sessions_.erase(session.get()) > 0) {
        count_.fetch_sub(1, std::memory_order_relaxed);
    }
    retired_.push_back(session);
}

void EventLoop::sweep() {
    const auto now = Clock::now();
    std::vector<SessionImpl*> expired;
    std::vector<SessionImpl*> stalled;
    for (const auto& [raw, session] : sessions_) {
        if (session->expired(now)) {
            expired.push_back(raw);
        } else if (session->stalled(now)) {
            stalled.push_back(raw);
        }
    }
    for (SessionImpl* session : expired) {
        session->closeExpired();
    }
    for (SessionImpl* session : stalled) {
        session->closeStalled();
    }
    for (const auto& entry : handlers_) {
        entry.second->sweep(now);
    }
}

void EventLoop::run() {
    threadId_ = std::this_thread::get_id();
    epoll_event events[kMaxEvents];
    auto nextSweep = Clock::now() + kSweepInterval;
    while (!stopping_) {
        // One relaxed store a turn, from this thread only: the watchdog's proof of life.
        heartbeat_.store(heartbeat_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        const int ready = sysEpollWait(epoll_, events, kMaxEvents, static_cast<int>(kSweepInterval.count()));
        batchTime_ = Clock::now();  // one clock read per batch, not one per event
        for (int i = 0; i < ready; ++i) {
            const std::uint64_t tag = events[i].data.u64;
            if (tag & 1u) {
                auto* handler =
                    reinterpret_cast<FdHandler*>(static_cast<std::uintptr_t>(tag & ~std::uint64_t{1}));
                if (handlers_.count(handler) != 0) {
                    handler->ready(events[i].events, readBuffer_.data(), readBuffer_.size());
                }
                continue;
            }
            auto* session = static_cast<SessionImpl*>(events[i].data.ptr);
            if (session == nullptr) {
                adoptPending();
                continue;
            }
            if (session->finished()) {
                continue;  // finished earlier in this batch; retired_ keeps it alive until the batch ends
            }
            const std::uint32_t flags = events[i].events;
            if (flags & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                session->readable(readBuffer_.data(), readBuffer_.size());
            }
            if ((flags & EPOLLOUT) && !session->finished()) {
                session->writable(readBuffer_.data(), readBuffer_.size());
            }
        }
        if (batchTime_ >= nextSweep) {
            sweep();
            nextSweep = Clock::now() + kSweepInterval;
        }
        flushDirty();
        retired_.clear();
        retiredHandlers_.clear();
    }
    adoptPending();
    std::vector<std::shared_ptr<FdHandler>> handlers;
    for (const auto& entry : handlers_) {
        handlers.push_back(entry.second);
    }
    for (const auto& handler : handlers) {
        handler->shutdown();
    }
    handlers_.clear();
    retiredHandlers_.clear();
    std::vector<std::shared_ptr<SessionImpl>> remaining;
    for (const auto& entry : sessions_) {
        remaining.push_back(entry.second);
    }
    for (const auto& session : remaining) {
        session->finish(CloseReason::Shutdown);
    }
    dirty_.clear();
    {
        std::lock_guard<std::mutex> lock(pendingMutex_);
        remoteDirty_.clear();
    }
    retired_.clear();
}

// ---- EventLoops --------------------------------------------------------------

EventLoops::EventLoops(unsigned threads) {
    if (threads == 0) {
        threads = std::max(1u, std::thread::hardware_concurrency());
    }
    for (unsigned i = 0; i < threads; ++i) {
        loops_.push_back(std::make_unique<EventLoop>());
    }
}

EventLoops::~EventLoops() {
    for (auto& loop : loops_) {
        loop->requestStop();
    }
    for (auto& loop : loops_) {
        loop->join();
    }
    loops_.clear();
}

std::vector<std::uint64_t> EventLoops::heartbeats() const {
    std::vector<std::uint64_t> beats;
    beats.reserve(loops_.size());
    for (const auto& loop : loops_) {
        beats.push_back(loop->heartbeat());
    }
    return beats;
}

void EventLoops::adopt(Poco::Net::StreamSocket socket, std::shared_ptr<SessionOwner> owner,
                       admission::Ticket ticket, std::shared_ptr<const transports::TlsContext> tls,
                       std::shared_ptr<const transports::WebSocketSettings> websocket) {
    loops_[next_.fetch_add(1, std::memory_order_relaxed) % loops_.size()]->adopt(
        std::move(socket), std::move(owner), std::move(ticket), std::move(tls), std::move(websocket));
}

}  // namespace plughost::sessions
