// plughost-loadgen: the project's load generator (epoll, non-blocking sockets, TCP_NODELAY).
//
//   echo    [--host H] --port P --conns N --size S [--inflight W] [--duration SEC] [--warmup SEC]
//           [--threads T] [--round-trips N] [--server-pid PID] [--websocket PATH]
//   chat    [--host H] --port P --members N --senders K --rate R [--duration SEC]
//           --dialect line|seed|ncat|irc [--stalled 1] [--burst 1] [--threads T] [--grace SEC]
//           [--join-timeout SEC] [--sources N] [--websocket PATH]
//   hold    [--host H] --port P --conns N --pid PID [--size S] [--timeout SEC] [--checkpoints N,N...]
//   startup --exec PLUGHOSTD --config FILE [--server-cpu C] [--timeout SEC]
//   handshakes [--host H] --port P [--conns N] [--duration SEC] [--warmup SEC] [--server-pid PID[,PID]]
//   udp     [--host H] --port P [--peers N] [--size S] [--window W] [--duration SEC] [--warmup SEC]
//           [--server-pid PID]
// echo and hold take --tls 1 (a full TLS 1.3 handshake on every connection first, then the same loop
// through OpenSSL); --tls-version and --tls-group choose the protocol and key exchange.
// echo and chat take --websocket PATH (an RFC 6455 upgrade of PATH on every connection first; echo then
// sends each message as one masked binary frame, chat each line as one text message; wsclient.h).
//
// Each mode prints a human-readable summary and, last, one machine-readable line
//   RESULT key=value key=value ...
// Exit status: 0 = everything verified; 1 = the run completed but something did not verify (a wrong
// echoed byte, a refused or dropped connection, a lost chat message); 2 = bad usage.
// Traffic goes to loopback only: --host must be in 127.0.0.0/8 or ::1.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "wsclient.h"

namespace {

using u64 = std::uint64_t;

// CLOCK_MONOTONIC in nanoseconds: the send and receive stamps of chat messages come from here.
u64 nowNs() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<u64>(ts.tv_sec) * 1'000'000'000ULL + static_cast<u64>(ts.tv_nsec);
}

u64 secondsToNs(double seconds) { return static_cast<u64>(seconds * 1e9); }

int msUntil(u64 deadline, u64 now, int cap) {
    if (deadline <= now) {
        return 0;
    }
    return static_cast<int>(std::min<u64>((deadline - now + 999'999) / 1'000'000, static_cast<u64>(cap)));
}

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// "--key value" pairs after the mode; unknown keys and malformed numbers are usage errors.
class Options {
public:
    Options(int argc, char** argv, const std::set<std::string>& allowed) {
        for (int i = 2; i < argc; i += 2) {
            const std::string key = argv[i];
            if (key.size() < 3 || key.compare(0, 2, "--") != 0 || i + 1 >= argc) {
                throw UsageError("expected --option VALUE, got '" + key + "'");
            }
            if (allowed.count(key.substr(2)) == 0) {
                throw UsageError("unknown option " + key);
            }
            values_[key.substr(2)] = argv[i + 1];
        }
    }
    bool has(const std::string& key) const { return values_.count(key) != 0; }
    std::string text(const std::string& key, const std::string& fallback = "") const {
        const auto found = values_.find(key);
        return found == values_.end() ? fallback : found->second;
    }
    std::string required(const std::string& key) const {
        if (!has(key)) {
            throw UsageError("--" + key + " is required");
        }
        return text(key);
    }
    double number(const std::string& key, double fallback, double min, double max) const {
        if (!has(key)) {
            return fallback;
        }
        const std::string& value = values_.at(key);
        char* end = nullptr;
        errno = 0;
        const double parsed = std::strtod(value.c_str(), &end);
        if (value.empty() || *end != '\0' || errno != 0 || !(parsed >= min && parsed <= max)) {
            throw UsageError("--" + key + " must be a number from " + std::to_string(min) + " to " +
                             std::to_string(max) + ", got '" + value + "'");
        }
        return parsed;
    }
    long integer(const std::string& key, long fallback, long min, long max) const {
        const double value =
            number(key, static_cast<double>(fallback), static_cast<double>(min), static_cast<double>(max));
        if (value != static_cast<double>(static_cast<long>(value))) {
            throw UsageError("--" + key + " must be a whole number");
        }
        return static_cast<long>(value);
    }

private:
    std::map<std::string, std::string> values_;
};

// A loopback address and port; anything else is refused before a packet is sent.
struct Endpoint {
    sockaddr_storage address{};
    socklen_t length = 0;
    int family = AF_INET;
};

Endpoint loopbackEndpoint(const std::string& host, long port) {
    if (port < 1 || port > 65535) {
        throw UsageError("--port must be 1..65535");
    }
    Endpoint endpoint;
    in_addr v4{};
    in6_addr v6{};
    const std::string name = host == "localhost" ? "127.0.0.1" : host;
    if (::inet_pton(AF_INET, name.c_str(), &v4) == 1) {
        if ((ntohl(v4.s_addr) >> 24) != 127) {
            throw UsageError("--host " + host + " is not a loopback address (127.0.0.0/8 or ::1)");
        }
        auto* in = reinterpret_cast<sockaddr_in*>(&endpoint.address);
        in->sin_family = AF_INET;
        in->sin_addr = v4;
        in->sin_port = htons(static_cast<std::uint16_t>(port));
        endpoint.length = sizeof(sockaddr_in);
        endpoint.family = AF_INET;
    } else if (::inet_pton(AF_INET6, name.c_str(), &v6) == 1) {
        if (!IN6_IS_ADDR_LOOPBACK(&v6)) {
            throw UsageError("--host " + host + " is not a loopback address (127.0.0.0/8 or ::1)");
        }
        auto* in6 = reinterpret_cast<sockaddr_in6*>(&endpoint.address);
        in6->sin6_family = AF_INET6;
        in6->sin6_addr = v6;
        in6->sin6_port = htons(static_cast<std::uint16_t>(port));
        endpoint.length = sizeof(sockaddr_in6);
        endpoint.family = AF_INET6;
    } else {
        throw UsageError("--host must be a numeric loopback address (127.0.0.0/8 or ::1), got '" + host +
                         "'");
    }
    return endpoint;
}

Endpoint endpointFrom(const Options& options) {
    return loopbackEndpoint(options.text("host", "127.0.0.1"), options.integer("port", 0, 0, 65535));
}

// Starts a non-blocking connect (from the loopback source address 127.0.0.N when `source` is N > 0,
// for more connections than one address's ephemeral ports give); -1 (errno set) if it failed at once.
int startConnect(const Endpoint& endpoint, int receiveBuffer, unsigned source = 0) {
    const int fd = ::socket(endpoint.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    if (source > 0 && endpoint.family == AF_INET) {
        sockaddr_in from{};
        from.sin_family = AF_INET;
        from.sin_addr.s_addr = htonl((127u << 24) | source);
        if (::bind(fd, reinterpret_cast<const sockaddr*>(&from), sizeof from) != 0) {
            const int saved = errno;
            ::close(fd);
            errno = saved;
            return -1;
        }
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (receiveBuffer > 0) {  // before connect, so the advertised window is small from the start
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receiveBuffer, sizeof receiveBuffer);
    }
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&endpoint.address), endpoint.length) != 0 &&
        errno != EINPROGRESS) {
        const int saved = errno;
        ::close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

struct Opened {
    std::vector<int> fds;  // one per requested connection; -1 where it failed
    std::size_t failed = 0;
    std::string firstError;
};

// Opens `count` connections with at most kPending handshakes in flight (a small listen backlog then
// costs no SYN retransmits), each complete or failed by `deadline`.
Opened openConnections(const Endpoint& endpoint, std::size_t count, u64 deadline, int receiveBuffer = 0) {
    constexpr std::size_t kPending = 64;
    Opened opened;
    opened.fds.assign(count, -1);
    auto fail = [&](const std::string& why) {
        ++opened.failed;
        if (opened.firstError.empty()) {
            opened.firstError = why;
        }
    };
    const int epoll = ::epoll_create1(EPOLL_CLOEXEC);
    std::map<int, std::size_t> pending;  // fd -> index
    std::size_t next = 0;
    epoll_event events[kPending];
    while (next < count || !pending.empty()) {
        const u64 now = nowNs();
        if (now >= deadline) {
            break;
        }
        while (next < count && pending.size() < kPending) {
            const int fd = startConnect(endpoint, receiveBuffer);
            if (fd < 0) {
                fail(std::string("connect: ") + std::strerror(errno));
                ++next;
                continue;
            }
            epoll_event event{};
            event.events = EPOLLOUT;
            event.data.fd = fd;
            ::epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event);
            pending[fd] = next++;
        }
        const int ready = ::epoll_wait(epoll, events, static_cast<int>(kPending), msUntil(deadline, now, 50));
        for (int i = 0; i < ready; ++i) {
            const int fd = events[i].data.fd;
            int error = 0;
            socklen_t length = sizeof error;
            ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
            ::epoll_ctl(epoll, EPOLL_CTL_DEL, fd, nullptr);
            const std::size_t index = pending.at(fd);
            pending.erase(fd);
            if (error != 0) {
                fail(std::string("connect: ") + std::strerror(error));
                ::close(fd);
            } else {
                opened.fds[index] = fd;
            }
        }
    }
    for (const auto& entry : pending) {
        ::close(entry.first);
        fail("connect: no answer before the deadline");
    }
    opened.failed += count - next;  // never started: the deadline came first
    ::close(epoll);
    return opened;
}

// ---- TLS (--tls 1) -------------------------------------------------------------------------------

struct SslContextFree {
    void operator()(SSL_CTX* context) const { SSL_CTX_free(context); }
};
struct SslFree {
    void operator()(SSL* ssl) const { SSL_free(ssl); }
};
using SslContextPtr = std::unique_ptr<SSL_CTX, SslContextFree>;
using SslPtr = std::unique_ptr<SSL, SslFree>;

// The client side of every TLS cell, the same against every server: TLS 1.3 with OpenSSL's default
// cipher suites, one key-exchange group (--tls-group, X25519 unless told), no session cache and no
// tickets, so that every connection is a full handshake. The bench's certificate is a throwaway: not
// verified.
SslContextPtr clientContext(const Options& options) {
    SslContextPtr context(SSL_CTX_new(TLS_client_method()));
    if (!context) {
        throw std::runtime_error("SSL_CTX_new failed");
    }
    const std::string version = options.text("tls-version", "1.3");
    const int protocol = version == "1.2" ? TLS1_2_VERSION : TLS1_3_VERSION;
    if (version != "1.2" && version != "1.3") {
        throw UsageError("--tls-version must be 1.2 or 1.3");
    }
    SSL_CTX_set_min_proto_version(context.get(), protocol);
    SSL_CTX_set_max_proto_version(context.get(), protocol);
    const std::string group = options.text("tls-group", "X25519");
    if (SSL_CTX_set1_groups_list(context.get(), group.c_str()) != 1) {
        throw UsageError("--tls-group: OpenSSL does not know '" + group + "'");
    }
    SSL_CTX_set_session_cache_mode(context.get(), SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(context.get(), SSL_OP_NO_TICKET);
    SSL_CTX_set_verify(context.get(), SSL_VERIFY_NONE, nullptr);
    SSL_CTX_set_mode(context.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                        SSL_MODE_RELEASE_BUFFERS);
    return context;
}

bool tlsWanted(const Options& options) { return options.integer("tls", 0, 0, 1) == 1; }

std::string sslErrorText() {
    const unsigned long code = ERR_get_error();
    ERR_clear_error();
    if (code == 0) {
        return std::strerror(errno);
    }
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    return text;
}

// An OpenSSL result mapped to the socket calls' convention: -1 with EAGAIN when it must wait, 0 when
// the peer closed, -1 with ECONNRESET on any other failure.
ssize_t sslResult(SSL* ssl, int result, std::size_t done) {
    if (result == 1) {
        return static_cast<ssize_t>(done);
    }
    const int error = SSL_get_error(ssl, result);
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
        errno = EAGAIN;
        return -1;
    }
    ERR_clear_error();
    if (error == SSL_ERROR_ZERO_RETURN) {
        return 0;
    }
    errno = ECONNRESET;
    return -1;
}

// send/recv over a plain socket (ssl null) or through its TLS session.
ssize_t linkSend(int fd, SSL* ssl, const char* data, std::size_t length) {
    if (ssl == nullptr) {
        return ::send(fd, data, length, MSG_NOSIGNAL);
    }
    std::size_t written = 0;
    const int result = SSL_write_ex(ssl, data, length, &written);  // before `written` is read
    return sslResult(ssl, result, written);
}
ssize_t linkRecv(int fd, SSL* ssl, char* data, std::size_t length) {
    if (ssl == nullptr) {
        return ::recv(fd, data, length, 0);
    }
    std::size_t read = 0;
    const int result = SSL_read_ex(ssl, data, length, &read);
    return sslResult(ssl, result, read);
}

// Completes the TLS handshake on every connected fd (fds[i] < 0 stays without), all at once on one
// epoll; fails[] those that did not complete by the deadline. Returns one session per fd (null where
// none).
std::vector<SslPtr> handshakeAll(SSL_CTX* context, const std::vector<int>& fds, u64 deadline,
                                 std::size_t& failed, std::string& firstError) {
    std::vector<SslPtr> sessions(fds.size());
    const int epoll = ::epoll_create1(EPOLL_CLOEXEC);
    std::size_t pending = 0;
    auto fail = [&](std::size_t index, const std::string& why) {
        ::epoll_ctl(epoll, EPOLL_CTL_DEL, fds[index], nullptr);
        sessions[index].reset();
        ++failed;
        --pending;
        if (firstError.empty()) {
            firstError = why;
        }
    };
    // Advances one handshake; re-arms epoll for what OpenSSL waits for.
    auto step = [&](std::size_t index) {
        SSL* ssl = sessions[index].get();
        const int result = SSL_do_handshake(ssl);
        if (result == 1) {
            ::epoll_ctl(epoll, EPOLL_CTL_DEL, fds[index], nullptr);
            --pending;
            return;
        }
        const int error = SSL_get_error(ssl, result);
        if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) {
            fail(index, "TLS handshake: " + sslErrorText());
            return;
        }
        epoll_event event{};
        event.events = error == SSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT;
        event.data.u64 = index;
        ::epoll_ctl(epoll, EPOLL_CTL_MOD, fds[index], &event);
    };
    for (std::size_t i = 0; i < fds.size(); ++i) {
        if (fds[i] < 0) {
            continue;
        }
        sessions[i].reset(SSL_new(context));
        SSL_set_fd(sessions[i].get(), fds[i]);
        SSL_set_connect_state(sessions[i].get());
        SSL_set_tlsext_host_name(sessions[i].get(), "localhost");
        epoll_event event{};
        event.events = EPOLLOUT;
        event.data.u64 = i;
        ::epoll_ctl(epoll, EPOLL_CTL_ADD, fds[i], &event);
        ++pending;
    }
    epoll_event events[512];
    while (pending > 0 && nowNs() < deadline) {
        const int ready = ::epoll_wait(epoll, events, 512, msUntil(deadline, nowNs(), 100));
        for (int e = 0; e < ready; ++e) {
            const auto index = static_cast<std::size_t>(events[e].data.u64);
            if (sessions[index]) {
                step(index);
            }
        }
    }
    for (std::size_t i = 0; i < fds.size() && pending > 0; ++i) {
        if (sessions[i] && !SSL_is_init_finished(sessions[i].get())) {
            fail(i, "TLS handshake: not complete by the deadline");
        }
    }
    ::close(epoll);
    return sessions;
}

// ---- WebSocket (--websocket PATH) ----------------------------------------------------------------

// --websocket PATH: the target of the upgrade request; empty without the option (plain TCP).
std::string websocketPath(const Options& options) {
    if (!options.has("websocket")) {
        return "";
    }
    const std::string path = options.text("websocket");
    if (path.empty() || path[0] != '/') {
        throw UsageError("--websocket must be a request path such as /echo, got '" + path + "'");
    }
    return path;
}

// The Host header of an upgrade request to `endpoint`: 127.0.0.1:PORT or [::1]:PORT.
std::string hostHeader(const Endpoint& endpoint) {
    char address[INET6_ADDRSTRLEN] = "";
    unsigned port = 0;
    if (endpoint.family == AF_INET6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&endpoint.address);
        ::inet_ntop(AF_INET6, &in6->sin6_addr, address, sizeof address);
        port = ntohs(in6->sin6_port);
        return "[" + std::string(address) + "]:" + std::to_string(port);
    }
    const auto* in = reinterpret_cast<const sockaddr_in*>(&endpoint.address);
    ::inet_ntop(AF_INET, &in->sin_addr, address, sizeof address);
    port = ntohs(in->sin_port);
    return std::string(address) + ":" + std::to_string(port);
}

// Upgrades every connected fd (fds[i] < 0 stays without) to WebSocket, all at once on one epoll: sends
// the request, then checks the 101 and its accept key. One refused or unanswered by the deadline is
// closed (fds[i] = -1) and counted in `failed`. Returns, per fd, the bytes that followed the 101 head
// (frames the server sent at once).
std::vector<std::string> upgradeAll(std::vector<int>& fds, const std::string& host, const std::string& path,
                                    u64 deadline, std::size_t& failed, std::string& firstError) {
    struct Upgrading {
        std::string out, in, accept;
        bool done = true;
    };
    std::vector<Upgrading> state(fds.size());
    std::vector<std::string> rest(fds.size());
    const int epoll = ::epoll_create1(EPOLL_CLOEXEC);
    std::size_t pending = 0;
    auto finish = [&](std::size_t i, const std::string& why) {  // why: empty once upgraded
        ::epoll_ctl(epoll, EPOLL_CTL_DEL, fds[i], nullptr);
        state[i].done = true;
        --pending;
        if (!why.empty()) {
            ++failed;
            if (firstError.empty()) {
                firstError = why;
            }
            ::close(fds[i]);
            fds[i] = -1;
        }
    };
    for (std::size_t i = 0; i < fds.size(); ++i) {
        if (fds[i] < 0) {
            continue;
        }
        const std::string key = wsclient::newKey();
        state[i].accept = wsclient::acceptFor(key);
        state[i].out = wsclient::upgradeRequest(host, path, key);
        state[i].done = false;
        epoll_event event{};
        event.events = EPOLLIN | EPOLLOUT;
        event.data.u64 = i;
        ::epoll_ctl(epoll, EPOLL_CTL_ADD, fds[i], &event);
        ++pending;
    }
    epoll_event events[512];
    while (pending > 0 && nowNs() < deadline) {
        const int ready = ::epoll_wait(epoll, events, 512, msUntil(deadline, nowNs(), 100));
        for (int e = 0; e < ready; ++e) {
            const auto i = static_cast<std::size_t>(events[e].data.u64);
            Upgrading& u = state[i];
            if (!u.done && !u.out.empty() && (events[e].events & EPOLLOUT)) {
                const ssize_t n = ::send(fds[i], u.out.data(), u.out.size(), MSG_NOSIGNAL);
                if (n < 0 && errno != EAGAIN) {
                    finish(i, std::string("upgrade: send: ") + std::strerror(errno));
                    continue;
                }
                u.out.erase(0, n > 0 ? static_cast<std::size_t>(n) : 0);
                if (u.out.empty()) {
                    epoll_event event{};
                    event.events = EPOLLIN;
                    event.data.u64 = i;
                    ::epoll_ctl(epoll, EPOLL_CTL_MOD, fds[i], &event);
                }
            }
            if (u.done || !(events[e].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
                continue;
            }
            char chunk[4096];
            const ssize_t n = ::recv(fds[i], chunk, sizeof chunk, 0);
            if (n == 0 || (n < 0 && errno != EAGAIN)) {
                finish(i, n == 0 ? "upgrade: the server closed the connection"
                                 : std::string("upgrade: recv: ") + std::strerror(errno));
                continue;
            }
            u.in.append(chunk, n > 0 ? static_cast<std::size_t>(n) : 0);
            std::string error;
            const wsclient::Upgrade answer = wsclient::parseUpgradeResponse(u.in, u.accept, error);
            if (answer == wsclient::Upgrade::Done) {
                rest[i].swap(u.in);
                finish(i, "");
            } else if (answer == wsclient::Upgrade::Refused) {
                finish(i, "upgrade: " + error);
            }
        }
    }
    for (std::size_t i = 0; i < fds.size(); ++i) {
        if (!state[i].done) {
            finish(i, "upgrade: no 101 before the deadline");
        }
    }
    ::close(epoll);
    return rest;
}

// --server-pid A[,B...]: the processes whose CPU time is the server's (HAProxy and the echo server
// behind it count together).
std::vector<long> pidList(const Options& options, const std::string& key) {
    std::vector<long> pids;
    const std::string list = options.text(key, "");
    std::size_t at = 0;
    while (at < list.size()) {
        const std::size_t comma = std::min(list.find(',', at), list.size());
        const std::string item = list.substr(at, comma - at);
        char* end = nullptr;
        const long value = std::strtol(item.c_str(), &end, 10);
        if (value <= 0 || *end != '\0') {
            throw UsageError("--" + key + " must be a process id or a comma-separated list of them");
        }
        pids.push_back(value);
        at = comma + 1;
    }
    return pids;
}

// CPU seconds this process (every thread) has used: the load generator must not be the bottleneck,
// so each mode reports its own CPU use over the measurement as a share of one core.
double cpuSeconds() {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

// CPU seconds (user + system, every thread) process PID has used, from /proc/PID/stat; -1 if unreadable.
double processCpuSeconds(long pid) {
    if (pid <= 0) {
        return -1;
    }
    std::ifstream file("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    const std::size_t close = stat.rfind(')');  // the command name may hold spaces
    if (close == std::string::npos) {
        return -1;
    }
    std::istringstream fields(stat.substr(close + 2));
    std::string field;
    unsigned long long utime = 0, stime = 0;
    for (int i = 3; fields >> field; ++i) {  // field 3 is the state; utime is 14, stime 15
        if (i == 14) {
            utime = std::strtoull(field.c_str(), nullptr, 10);
        } else if (i == 15) {
            stime = std::strtoull(field.c_str(), nullptr, 10);
            break;
        }
    }
    return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}
// The CPU seconds of several processes together; -1 if any is unknown (or none is given).
double processesCpuSeconds(const std::vector<long>& pids) {
    double total = pids.empty() ? -1 : 0;
    for (const long pid : pids) {
        const double seconds = processCpuSeconds(pid);
        if (seconds < 0) {
            return -1;
        }
        total += seconds;
    }
    return total;
}

// Raises the descriptor limit as far as allowed; returns the soft limit now in force.
rlim_t raiseFileLimit() {
    rlimit limit{};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
    ::getrlimit(RLIMIT_NOFILE, &limit);
    return limit.rlim_cur;
}

// Nearest-rank percentile in µs of nanosecond samples (sorted in place).
struct Percentiles {
    double p50 = 0, p90 = 0, p99 = 0, max = 0;
};
Percentiles percentiles(std::vector<u64>& samples) {
    Percentiles result;
    if (samples.empty()) {
        return result;
    }
    std::sort(samples.begin(), samples.end());
    auto at = [&](double p) {
        const auto rank =
            static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(samples.size())));
        return static_cast<double>(samples[std::min(samples.size(), std::max<std::size_t>(rank, 1)) - 1]) /
               1000.0;
    };
    result.p50 = at(50);
    result.p90 = at(90);
    result.p99 = at(99);
    result.max = static_cast<double>(samples.back()) / 1000.0;
    return result;
}

// ---- echo --------------------------------------------------------------------------------------

// Connection c's stream is table[(start_c + position) % kPeriod]: pseudo-random, deterministic per
// connection, so every echoed byte is checked where it lands. Any chunk up to kMaxChunk is contiguous.
constexpr std::size_t kPeriod = 65521;  // prime
constexpr std::size_t kMaxChunk = 256 * 1024;
const char* patternTable() {
    static const std::vector<char> table = [] {
        std::vector<char> bytes(kPeriod + kMaxChunk);
        std::uint32_t state = 2463534242u;
        for (std::size_t i = 0; i < kPeriod; ++i) {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            bytes[i] = static_cast<char>(state >> 24);
        }
        for (std::size_t i = kPeriod; i < bytes.size(); ++i) {
            bytes[i] = bytes[i - kPeriod];
        }
        return bytes;
    }();
    return table.data();
}
std::size_t patternStart(std::size_t connection) { return (connection * 7919) % kPeriod; }
const char* patternAt(std::size_t start, u64 position) {
    return patternTable() + (start + position) % kPeriod;
}

struct EchoConnection {
    int fd = -1;
    SSL* ssl = nullptr;      // --tls: the session over fd (owned by runEcho)
    std::size_t start = 0;   // pattern offset
    u64 sent = 0;            // bytes sent
    u64 allowed = 0;         // bytes the window of W messages allows to be sent
    u64 received = 0;        // bytes received and checked
    u64 completed = 0;       // messages fully echoed
    std::vector<u64> began;  // when each message in flight was released, by message number % W
    bool wantWrite = false;
    bool dead = false;
    // --websocket: each message is one masked binary frame; `wire` holds frames the socket has not
    // taken yet (from wireHead), `reader` the server's frames, whose payloads are the echoed stream.
    bool ws = false;
    std::string wire;
    std::size_t wireHead = 0;
    std::string early;  // what the server sent right behind its 101, before any message of ours
    wsclient::FrameReader reader;
    wsclient::Masker masker;
};

struct EchoStats {
    u64 messages = 0, bytes = 0, corruptBytes = 0, extraBytes = 0, closed = 0;
    u64 wsErrors = 0;  // --websocket: protocol errors, text where binary was sent, close frames
    std::string firstWsError;
    std::vector<u64> latencies;
};

// quota: messages each connection sends in all (0: no limit); the worker returns once every
// connection has had all of its echoed (or died).
void echoWorker(std::vector<EchoConnection>& connections, std::size_t size, std::size_t inflight, u64 quota,
                EchoStats& stats, const std::atomic<bool>& measuring, const std::atomic<bool>& stop) {
    const int epoll = ::epoll_create1(EPOLL_CLOEXEC);
    std::vector<char> buffer(kMaxChunk);
    auto watch = [&](EchoConnection& c, int op) {
        epoll_event event{};
        event.events = EPOLLIN | (c.wantWrite ? static_cast<std::uint32_t>(EPOLLOUT) : 0u);
        event.data.ptr = &c;
        ::epoll_ctl(epoll, op, c.fd, &event);
    };
    auto lose = [&](EchoConnection& c) {
        c.dead = true;
        ++stats.closed;
        ::epoll_ctl(epoll, EPOLL_CTL_DEL, c.fd, nullptr);
    };
    auto wsError = [&](const std::string& why) {
        if (stats.wsErrors++ == 0) {
            stats.firstWsError = why;
        }
    };
    // Sends what the window allows; asks for EPOLLOUT only while the socket is full. WebSocket: every
    // released message becomes one frame first, and the frames go out as the bytes would.
    auto pump = [&](EchoConnection& c) {
        if (c.ws) {
            for (; c.sent < c.allowed; c.sent += size) {
                wsclient::appendFrame(c.wire, wsclient::kBinary, patternAt(c.start, c.sent), size,
                                      c.masker.next());
            }
            while (c.wireHead < c.wire.size()) {
                const ssize_t n =
                    ::send(c.fd, c.wire.data() + c.wireHead, c.wire.size() - c.wireHead, MSG_NOSIGNAL);
                if (n < 0) {
                    if (errno != EAGAIN) {
                        lose(c);
                        return;
                    }
                    break;
                }
                c.wireHead += static_cast<std::size_t>(n);
            }
            if (c.wireHead == c.wire.size()) {
                c.wire.clear();
                c.wireHead = 0;
            }
        }
        while (!c.ws && c.sent < c.allowed) {
            const std::size_t length = static_cast<std::size_t>(std::min<u64>(c.allowed - c.sent, kMaxChunk));
            const ssize_t n = linkSend(c.fd, c.ssl, patternAt(c.start, c.sent), length);
            if (n < 0) {
                if (errno != EAGAIN) {
                    lose(c);
                    return;
                }
                break;
            }
            c.sent += static_cast<u64>(n);
        }
        const bool want = c.ws ? !c.wire.empty() : c.sent < c.allowed;
        if (want != c.wantWrite) {
            c.wantWrite = want;
            watch(c, EPOLL_CTL_MOD);
        }
    };
    std::size_t unfinished = connections.size();
    // Echoed bytes (a WebSocket message's payload), checked against what was sent; every whole message
    // is a round trip and releases the next.
    auto consume = [&](EchoConnection& c, const char* data, std::size_t length) {
        if (c.received + length > c.sent) {  // more than was sent: the excess is wrong by definition
            stats.extraBytes += c.received + length - c.sent;
            length = static_cast<std::size_t>(c.sent - c.received);
        }
        const char* expected = patternAt(c.start, c.received);
        if (std::memcmp(data, expected, length) != 0) {
            for (std::size_t b = 0; b < length; ++b) {
                stats.corruptBytes += data[b] != expected[b] ? 1 : 0;
            }
        }
        c.received += length;
        const u64 now = nowNs();
        const bool counting = measuring.load(std::memory_order_relaxed);
        while (c.received >= (c.completed + 1) * size) {
            const std::size_t slot = c.completed % inflight;
            if (counting) {
                stats.latencies.push_back(now - c.began[slot]);
                ++stats.messages;
                stats.bytes += size;
            }
            ++c.completed;
            c.began[slot] = now;  // the message that replaces it is released now
            if (quota == 0 || c.completed + inflight <= quota) {
                c.allowed += size;
            }
            if (quota > 0 && c.completed == quota) {
                --unfinished;
            }
        }
    };
    // WebSocket: the server's frames; false once the connection must end (a close frame or an error).
    auto frames = [&](EchoConnection& c, const char* data, std::size_t length) {
        bool open = true;
        const bool valid =
            c.reader.feed(data, length, [&](wsclient::Opcode opcode, std::string_view payload) {
                if (!open) {
                    return;
                }
                if (opcode == wsclient::kBinary) {
                    consume(c, payload.data(), payload.size());
                } else if (opcode == wsclient::kPing) {
                    wsclient::appendFrame(c.wire, wsclient::kPong, payload.data(), payload.size(),
                                          c.masker.next());
                } else if (opcode == wsclient::kText) {
                    wsError("a text message echoed a binary one");
                    consume(c, payload.data(), payload.size());
                } else if (opcode == wsclient::kClose) {
                    wsError("the server sent a close frame");
                    open = false;
                }
            });
        if (!valid) {
            wsError("server frames: " + c.reader.error());
        }
        return valid && open;
    };
    for (auto& c : connections) {
        c.began.assign(inflight, nowNs());
        c.allowed = size * (quota > 0 ? std::min<u64>(inflight, quota) : inflight);
        watch(c, EPOLL_CTL_ADD);
        if (c.ws && !c.early.empty() && !frames(c, c.early.data(), c.early.size())) {
            lose(c);  // a ping is answered; a message before ours counts as extra bytes
            --unfinished;
            continue;
        }
        pump(c);
    }
    epoll_event events[256];
    while (!stop.load(std::memory_order_relaxed) && (quota == 0 || unfinished > 0)) {
        const int ready = ::epoll_wait(epoll, events, 256, 20);
        for (int i = 0; i < ready; ++i) {
            auto& c = *static_cast<EchoConnection*>(events[i].data.ptr);
            if (c.dead) {
                continue;
            }
            // One read per event; through TLS, until OpenSSL holds nothing more (epoll cannot see what
            // it has already taken off the socket).
            for (bool more = (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0; more;) {
                const ssize_t n = linkRecv(c.fd, c.ssl, buffer.data(), buffer.size());
                more = c.ssl != nullptr && n > 0;
                const bool ended = n == 0 || (n < 0 && errno != EAGAIN) ||
                                   (n > 0 && c.ws && !frames(c, buffer.data(), static_cast<std::size_t>(n)));
                if (ended) {
                    const bool done = quota > 0 && c.completed >= quota;
                    lose(c);
                    unfinished -= done ? 0 : 1;
                    break;
                }
                if (n > 0 && !c.ws) {
                    consume(c, buffer.data(), static_cast<std::size_t>(n));
                }
            }
            if (!c.dead) {
                pump(c);
            }
        }
    }
    ::close(epoll);
}

int runEcho(const Options& options) {
    const Endpoint endpoint = endpointFrom(options);
    const auto conns = static_cast<std::size_t>(options.integer("conns", 1, 1, 1'000'000));
    const auto size = static_cast<std::size_t>(options.integer("size", 64, 1, 64 * 1024 * 1024));
    const auto inflight = static_cast<std::size_t>(options.integer("inflight", 1, 1, 4096));
    const double duration = options.number("duration", 3, 0.05, 3600);
    const double warmup = options.number("warmup", 0.5, 0, 600);
    const auto threads =
        std::min<std::size_t>(conns, static_cast<std::size_t>(options.integer("threads", 1, 1, 256)));
    // --round-trips N: exactly N round trips in all (N / conns per connection, rounded up), counted from
    // the first; no warm-up, no duration. For profiles that compare servers on the same work.
    const auto roundTrips = static_cast<u64>(options.integer("round-trips", 0, 0, 1'000'000'000'000LL));
    const u64 quota = roundTrips > 0 ? (roundTrips + conns - 1) / conns : 0;
    // --server-pid PID: that process's CPU time over exactly the measured window, per round trip.
    const std::vector<long> serverPids = pidList(options, "server-pid");
    const long serverPid = serverPids.empty() ? 0 : serverPids.front();
    // --tls 1: every connection completes a TLS handshake first; the echo loop then runs through it.
    SslContextPtr context = tlsWanted(options) ? clientContext(options) : nullptr;
    // --websocket PATH: every connection upgrades first; each message is then one binary frame.
    const std::string wsPath = websocketPath(options);
    if (!wsPath.empty() && context) {
        throw UsageError("--websocket and --tls 1 together are not supported");
    }
    if (!wsPath.empty() && size > kMaxChunk) {
        throw UsageError("--size must be at most " + std::to_string(kMaxChunk) + " with --websocket");
    }
    if (raiseFileLimit() < conns + 16) {
        std::printf("echo: the descriptor limit allows fewer than %zu connections\n", conns);
    }

    Opened opened = openConnections(endpoint, conns, nowNs() + secondsToNs(30));
    std::vector<SslPtr> sessions(opened.fds.size());
    if (context) {
        sessions = handshakeAll(context.get(), opened.fds, nowNs() + secondsToNs(30), opened.failed,
                                opened.firstError);
    }
    std::vector<std::string> early(opened.fds.size());
    if (!wsPath.empty()) {
        early = upgradeAll(opened.fds, hostHeader(endpoint), wsPath, nowNs() + secondsToNs(30), opened.failed,
                           opened.firstError);
    }
    std::vector<std::vector<EchoConnection>> shares(threads);
    std::size_t index = 0;
    for (const int fd : opened.fds) {
        if (fd >= 0 && context && !sessions[index]) {
            ::close(fd);  // its handshake failed (counted)
        } else if (fd >= 0) {
            EchoConnection c;
            c.fd = fd;
            c.ssl = sessions[index].get();
            c.start = patternStart(index);
            c.ws = !wsPath.empty();
            c.early.swap(early[index]);
            shares[index % threads].push_back(c);
        }
        ++index;
    }
    std::vector<EchoStats> stats(threads);
    std::atomic<bool> measuring{false};
    std::atomic<bool> stop{false};
    std::vector<std::thread> workers;
    measuring = quota > 0;  // a fixed number of round trips counts every one
    const double quotaCpuBefore = cpuSeconds();
    double serverCpu = -1, serverCpuBefore = quota > 0 ? processesCpuSeconds(serverPids) : -1;
    const auto quotaBegan = std::chrono::steady_clock::now();
    for (std::size_t t = 0; t < threads; ++t) {
        workers.emplace_back(
            [&, t] { echoWorker(shares[t], size, inflight, quota, stats[t], measuring, stop); });
    }
    double seconds = 0, cpuShare = 0;
    if (quota > 0) {
        for (auto& worker : workers) {
            worker.join();
        }
        seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - quotaBegan).count();
        cpuShare = (cpuSeconds() - quotaCpuBefore) / seconds;
        serverCpu = processesCpuSeconds(serverPids);
    } else {
        // Timed phases of the measurement itself, not waits for an event.
        const auto began = std::chrono::steady_clock::now();
        std::this_thread::sleep_until(began + std::chrono::duration<double>(warmup));
        measuring = true;
        serverCpuBefore = processesCpuSeconds(serverPids);
        const double cpuBefore = cpuSeconds();
        const auto measureBegan = std::chrono::steady_clock::now();
        std::this_thread::sleep_until(measureBegan + std::chrono::duration<double>(duration));
        measuring = false;
        serverCpu = processesCpuSeconds(serverPids);
        seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - measureBegan).count();
        cpuShare = (cpuSeconds() - cpuBefore) / seconds;
        stop = true;
        for (auto& worker : workers) {
            worker.join();
        }
    }
    EchoStats total;
    for (auto& s : stats) {
        total.messages += s.messages;
        total.bytes += s.bytes;
        total.corruptBytes += s.corruptBytes;
        total.extraBytes += s.extraBytes;
        total.closed += s.closed;
        total.wsErrors += s.wsErrors;
        if (total.firstWsError.empty()) {
            total.firstWsError = s.firstWsError;
        }
        total.latencies.insert(total.latencies.end(), s.latencies.begin(), s.latencies.end());
    }
    for (auto& share : shares) {
        for (auto& c : share) {
            if (c.ws && !c.dead && c.wire.empty()) {  // a close frame, as a polite client ends
                std::string bye;
                wsclient::appendClose(bye, 1000, c.masker.next());
                ::send(c.fd, bye.data(), bye.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
            }
            ::close(c.fd);
        }
    }
    const double rate = static_cast<double>(total.messages) / seconds;
    const double megabytes = static_cast<double>(total.bytes) / seconds / 1e6;
    const Percentiles p = percentiles(total.latencies);
    const u64 errors = opened.failed + total.closed + total.corruptBytes + total.extraBytes + total.wsErrors;
    // CPU per round trip in µs: the server's (if --server-pid) and this process's own.
    const double messages = static_cast<double>(std::max<u64>(total.messages, 1));
    const bool serverKnown = serverCpu >= 0 && serverCpuBefore >= 0;
    const double serverShare = serverKnown ? (serverCpu - serverCpuBefore) / seconds : -1;
    const double serverUsPerRt = serverKnown ? (serverCpu - serverCpuBefore) * 1e6 / messages : -1;
    const double loadgenUsPerRt = cpuShare * seconds * 1e6 / messages;
    std::printf("echo%s: %zu connections x %zu B, %zu in flight each, %zu thread(s), %.2f s measured\n",
                wsPath.empty() ? "" : " over WebSocket", conns, size, inflight, threads, seconds);
    std::printf("  %llu round trips: %.0f round trips/s, %.2f MB/s echoed\n",
                static_cast<unsigned long long>(total.messages), rate, megabytes);
    std::printf(
        "  latency p50 %.1f  p90 %.1f  p99 %.1f  max %.1f us; the load generator used %.0f%% of a CPU%s\n",
        p.p50, p.p90, p.p99, p.max, cpuShare * 100,
        cpuShare > 0.9 * static_cast<double>(threads) ? " (near its limit: it may be the bottleneck)" : "");
    if (serverKnown) {
        std::printf(
            "  CPU per round trip: server (pid %ld) %.3f us (%.0f%% of a CPU), load generator %.3f us\n",
            serverPid, serverUsPerRt, serverShare * 100, loadgenUsPerRt);
    }
    std::printf(
        "  verification: %zu connect failures%s%s, %llu closed by the server, %llu wrong bytes, %llu extra "
        "bytes\n",
        opened.failed, opened.failed ? " - " : "", opened.firstError.c_str(),
        static_cast<unsigned long long>(total.closed), static_cast<unsigned long long>(total.corruptBytes),
        static_cast<unsigned long long>(total.extraBytes));
    if (total.wsErrors > 0) {
        std::printf("  WebSocket: %llu errors, first: %s\n", static_cast<unsigned long long>(total.wsErrors),
                    total.firstWsError.c_str());
    }
    std::printf(
        "RESULT mode=echo tls=%d websocket=%d conns=%zu size=%zu inflight=%zu threads=%zu seconds=%.3f "
        "round_trips=%llu "
        "rtt_per_s=%.0f mb_per_s=%.2f p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%.1f loadgen_cpu=%.2f "
        "loadgen_us_per_rt=%.3f server_cpu=%.3f server_us_per_rt=%.3f connect_failed=%zu "
        "closed=%llu corrupt_bytes=%llu extra_bytes=%llu ws_errors=%llu errors=%llu\n",
        context ? 1 : 0, wsPath.empty() ? 0 : 1, conns, size, inflight, threads, seconds,
        static_cast<unsigned long long>(total.messages), rate, megabytes, p.p50, p.p90, p.p99, p.max,
        cpuShare, loadgenUsPerRt, serverShare, serverUsPerRt, opened.failed,
        static_cast<unsigned long long>(total.closed), static_cast<unsigned long long>(total.corruptBytes),
        static_cast<unsigned long long>(total.extraBytes), static_cast<unsigned long long>(total.wsErrors),
        static_cast<unsigned long long>(errors));
    return errors == 0 && total.messages > 0 ? 0 : 1;
}

// ---- chat --------------------------------------------------------------------------------------

enum class Dialect { Line, Seed, Ncat, Irc };

// The IRC channel every member joins (--dialect irc).
constexpr const char* kIrcChannel = "#bench";

struct Member {
    int fd = -1;
    std::size_t index = 0;
    std::string nick;
    bool stalled = false;
    bool nickSent = false;
    bool registered = false;  // irc: 001 seen, JOIN sent
    bool joined = false;
    bool probed = false;  // has seen a probe: the server relays to it
    bool connecting = false;
    bool admitted = false;  // the server has spoken on this connection: it was accepted
    u64 connectedAt = 0;
    bool gone = false;
    bool wantWrite = false;
    std::string in;                       // received bytes not yet parsed (an incomplete line)
    std::string out;                      // bytes the socket did not take yet
    std::vector<std::vector<bool>> seen;  // by sender, by sequence number
    std::vector<long long> highest;       // by sender: highest sequence number seen
    // --websocket: the upgrade first, then every line is one text message each way. `out` and `in`
    // still hold lines; `wire` holds the request and the frames the socket has not taken yet, `raw` the
    // answer to the upgrade so far.
    bool ws = false;
    bool upgraded = false;
    std::string accept;  // the Sec-WebSocket-Accept the server must answer
    std::string raw;
    std::string wire;
    std::string wsError;  // why the server's side ended: a refused upgrade, a close frame, bad frames
    u64 pongs = 0;        // the server's pings answered
    wsclient::FrameReader reader;
    wsclient::Masker masker;
};

struct ChatStats {
    u64 received = 0, duplicated = 0, reordered = 0, unexpected = 0, foreign = 0, malformed = 0;
    u64 serverErrors = 0, dropped = 0, lastReceiveNs = 0;
    std::string firstServerError;
    std::vector<u64> latencies;
};

// What every chat thread shares; the counters decide together when every delivery has arrived.
struct ChatRun {
    Dialect dialect = Dialect::Line;
    std::uint32_t id = 0;  // in every marker: lines from an earlier run (history, stragglers) are foreign
    std::size_t senders = 0;
    std::size_t perSender = 0;  // messages each sender sends
    u64 receiversPerMessage = 0;
    bool burst = false;          // every sender on the same tick instead of spread over the interval
    std::size_t sources = 0;     // --sources N: members connect from 127.0.0.1 .. 127.0.0.N in turn
    std::string wsPath, wsHost;  // --websocket PATH (empty: plain TCP) and the Host header it goes with
    u64 startNs = 0, intervalNs = 0, graceUntilNs = 0;
    std::atomic<u64> sent{0};
    std::atomic<u64> received{0};
    std::atomic<std::size_t> sendersDone{0};
};

// Reads an unsigned number at text[pos] (moving pos past it); false if there is none.
bool parseNumber(std::string_view text, std::size_t& pos, unsigned base, u64& value) {
    const std::size_t start = pos;
    value = 0;
    while (pos < text.size() && pos - start < 20) {
        const char c = text[pos];
        unsigned digit = 0;
        if (c >= '0' && c <= '9') {
            digit = static_cast<unsigned>(c - '0');
        } else if (base == 16 && c >= 'a' && c <= 'f') {
            digit = static_cast<unsigned>(c - 'a' + 10);
        } else {
            break;
        }
        value = value * base + digit;
        ++pos;
    }
    return pos > start;
}

// Parses "RUN SENDER SEQ SENT_NS~" (the text after "~m ").
bool parseMarker(std::string_view text, std::size_t pos, u64 (&fields)[4]) {
    for (int i = 0; i < 4; ++i) {
        if (!parseNumber(text, pos, i == 0 ? 16 : 10, fields[i]) || pos >= text.size() ||
            text[pos] != (i == 3 ? '~' : ' ')) {
            return false;
        }
        ++pos;
    }
    return true;
}

// Finds every "~m RUN SENDER SEQ SENT_NS~" in one received line, whatever prefix the server added.
void scanLine(Member& member, std::string_view line, const ChatRun& run, ChatStats& stats) {
    for (std::size_t at = line.find("~m "); at != std::string_view::npos; at = line.find("~m ", at + 3)) {
        u64 fields[4];
        if (!parseMarker(line, at + 3, fields)) {
            ++stats.malformed;
            continue;
        }
        const u64 now = nowNs();
        const u64 id = fields[0], sender = fields[1], seq = fields[2], sentAt = fields[3];
        if (id != run.id) {
            ++stats.foreign;
            continue;
        }
        if (sender >= run.senders || seq >= run.perSender) {
            ++stats.malformed;
            continue;
        }
        if (sender == member.index && run.dialect != Dialect::Seed) {
            ++stats.unexpected;  // this dialect never echoes a message to its sender
            continue;
        }
        auto&& mark = member.seen[sender][seq];
        if (mark) {
            ++stats.duplicated;
            continue;
        }
        mark = true;
        if (static_cast<long long>(seq) < member.highest[sender]) {
            ++stats.reordered;
        }
        member.highest[sender] = std::max(member.highest[sender], static_cast<long long>(seq));
        ++stats.received;
        stats.latencies.push_back(now - sentAt);
        stats.lastReceiveNs = now;
    }
}

std::string messageText(const ChatRun& run, const Member& sender, const char* marker) {
    if (run.dialect == Dialect::Irc) {
        return std::string("PRIVMSG ") + kIrcChannel + " :" + marker + "\r\n";
    }
    std::string text = run.dialect == Dialect::Seed ? sender.nick + ": " : "";
    return text + marker + "\n";  // seed has no framing: the newline is ours, for our parser
}

// WebSocket: each complete line of `out` becomes one masked text message in `wire`, without its "\n"
// (or "\r\n").
void frameLines(Member& member) {
    std::size_t start = 0;
    for (std::size_t end; (end = member.out.find('\n', start)) != std::string::npos; start = end + 1) {
        const std::size_t length = end - start - (end > start && member.out[end - 1] == '\r' ? 1 : 0);
        wsclient::appendFrame(member.wire, wsclient::kText, member.out.data() + start, length,
                              member.masker.next());
    }
    member.out.erase(0, start);
}

// Writes what it can; the rest waits for EPOLLOUT. False if the connection failed.
bool flush(Member& member, int epoll) {
    if (member.ws && member.upgraded) {
        frameLines(member);  // not before the 101: a client waits for it before sending frames
    }
    std::string& pending = member.ws ? member.wire : member.out;
    while (!pending.empty()) {
        const ssize_t n = ::send(member.fd, pending.data(), pending.size(), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno != EAGAIN) {
                return false;
            }
            break;
        }
        pending.erase(0, static_cast<std::size_t>(n));
    }
    const bool want = !pending.empty();
    if (want != member.wantWrite && epoll >= 0) {
        member.wantWrite = want;
        epoll_event event{};
        event.events = EPOLLIN | (want ? static_cast<std::uint32_t>(EPOLLOUT) : 0u);
        event.data.ptr = &member;
        ::epoll_ctl(epoll, EPOLL_CTL_MOD, member.fd, &event);
    }
    return true;
}

// WebSocket input: first the answer to the upgrade, then frames; each text (or binary) message is one
// line of `in`, and a ping is answered (a pong in `wire`, for the next flush). False when the server
// refused the upgrade, sent a close frame or broke the protocol (`wsError` says which).
bool wsInput(Member& member, const char* data, std::size_t size) {
    if (!member.upgraded) {
        member.raw.append(data, size);
        const wsclient::Upgrade answer =
            wsclient::parseUpgradeResponse(member.raw, member.accept, member.wsError);
        if (answer != wsclient::Upgrade::Done) {
            return answer == wsclient::Upgrade::Incomplete;
        }
        member.upgraded = true;
        std::string rest;
        rest.swap(member.raw);
        return rest.empty() || wsInput(member, rest.data(), rest.size());
    }
    bool open = true;
    const bool valid = member.reader.feed(data, size, [&](wsclient::Opcode opcode, std::string_view payload) {
        if (!open) {
            return;
        }
        if (opcode == wsclient::kText || opcode == wsclient::kBinary) {
            member.in.append(payload.data(), payload.size());
            member.in.push_back('\n');
        } else if (opcode == wsclient::kPing) {
            wsclient::appendFrame(member.wire, wsclient::kPong, payload.data(), payload.size(),
                                  member.masker.next());
            ++member.pongs;
        } else if (opcode == wsclient::kClose) {
            const unsigned code = payload.size() >= 2 ? (static_cast<unsigned char>(payload[0]) << 8) |
                                                            static_cast<unsigned char>(payload[1])
                                                      : 1005;
            member.wsError = "the server sent a close frame, code " + std::to_string(code) +
                             (payload.size() > 2 ? " (" + std::string(payload.substr(2)) + ")" : "");
            open = false;
        }
    });
    if (!valid) {
        member.wsError = "server frames: " + member.reader.error();
    }
    return valid && open;
}

// Reads what is there (bounded per call so one busy member cannot starve the rest). False on EOF/error.
bool receive(Member& member, std::size_t maxReads) {
    char chunk[65536];
    for (std::size_t i = 0; i < maxReads; ++i) {
        const ssize_t n = ::recv(member.fd, chunk, sizeof chunk, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            return false;
        }
        if (n < 0) {
            return true;
        }
        if (member.ws) {
            if (!wsInput(member, chunk, static_cast<std::size_t>(n))) {
                return false;
            }
        } else {
            member.in.append(chunk, static_cast<std::size_t>(n));
        }
        if (static_cast<std::size_t>(n) < sizeof chunk) {
            return true;
        }
    }
    return true;
}

bool startsWith(std::string_view text, std::string_view prefix) {
    return text.size() >= prefix.size() && text.compare(0, prefix.size(), prefix) == 0;
}

bool containsNoCase(std::string_view text, std::string_view word) {
    return std::search(text.begin(), text.end(), word.begin(), word.end(), [](char a, char b) {
               return std::tolower(static_cast<unsigned char>(a)) ==
                      std::tolower(static_cast<unsigned char>(b));
           }) != text.end();
}

// The IRC command of a line (after an optional ":prefix "), and the text after it.
std::string_view ircCommand(std::string_view line, std::string_view& rest) {
    if (!line.empty() && line.back() == '\r') {
        line.remove_suffix(1);
    }
    if (startsWith(line, ":")) {
        const std::size_t space = line.find(' ');
        line = space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
    }
    const std::size_t space = line.find(' ');
    rest = space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
    return line.substr(0, space);
}

// irc: answers a server's PING (true if the line was one).
bool answerPing(Member& member, std::string_view line) {
    std::string_view rest;
    if (ircCommand(line, rest) != "PING") {
        return false;
    }
    member.out += "PONG " + std::string(rest) + "\r\n";
    return true;
}

// irc: NICK and USER at once, PONG to every PING, JOIN after 001; seated at our own JOIN echo (the
// server has added us to the channel). An ERROR line or a numeric that refuses the nickname, the
// registration or the JOIN is the error text.
std::string advanceIrcHandshake(Member& member) {
    if (!member.nickSent) {
        member.out += "NICK " + member.nick + "\r\nUSER " + member.nick + " 0 * :bench\r\n";
        member.nickSent = true;
    }
    std::size_t start = 0;
    for (std::size_t end; !member.joined && (end = member.in.find('\n', start)) != std::string::npos;
         start = end + 1) {
        const std::string_view line(member.in.data() + start, end - start);
        std::string_view rest;
        const std::string_view command = ircCommand(line, rest);
        if (answerPing(member, line)) {
            continue;
        }
        if (command == "ERROR" || command == "432" || command == "433" || command == "436" ||
            command == "451" || command == "461" || command == "465" || command == "471" ||
            command == "473" || command == "474" || command == "475" || command == "405") {
            return std::string(line.substr(0, 200));
        }
        if (command == "001" && !member.registered) {
            member.registered = true;
            member.out += std::string("JOIN ") + kIrcChannel + "\r\n";
        } else if (command == "JOIN" && member.registered && startsWith(line, ":" + member.nick + "!")) {
            member.joined = true;
        }
    }
    member.in.erase(0, start);
    return "";
}

// The nickname handshake of each dialect. Returns an error text if the server refused us.
std::string advanceHandshake(Member& member, Dialect dialect) {
    if (dialect == Dialect::Ncat) {
        member.joined = true;  // no handshake: ncat relays to a client from its first byte
        return "";
    }
    if (dialect == Dialect::Irc) {
        return advanceIrcHandshake(member);
    }
    if (dialect == Dialect::Seed) {
        // The server sends exactly "NICK"; we answer raw; "Connected to server!" confirms.
        if (!member.nickSent && member.in.find("NICK") != std::string::npos) {
            member.out += member.nick;
            member.nickSent = true;
            member.in.erase(0, member.in.find("NICK") + 4);
        }
        if (member.nickSent && member.in.find("Connected to server!") != std::string::npos) {
            member.joined = true;
        }
        return "";
    }
    // line: "* " lines (motd, a prompt that asks for a nickname), "nick\n", then a "* " line naming us.
    std::size_t start = 0;
    for (std::size_t end; !member.joined && (end = member.in.find('\n', start)) != std::string::npos;
         start = end + 1) {
        const std::string_view line(member.in.data() + start, end - start);
        if (startsWith(line, "! ")) {
            return std::string(line);
        }
        if (!member.nickSent && startsWith(line, "* ") && containsNoCase(line, "nick")) {
            member.out += member.nick + "\n";
            member.nickSent = true;
        } else if (member.nickSent && startsWith(line, "* ") &&
                   line.find(member.nick) != std::string_view::npos) {
            member.joined = true;
        }
    }
    member.in.erase(0, start);
    return "";
}

// One measuring thread: its share of members (each read by this thread only) and of senders.
void chatWorker(std::vector<Member*> members, ChatRun& run, ChatStats& stats) {
    const int epoll = ::epoll_create1(EPOLL_CLOEXEC);
    std::vector<Member*> senders;
    for (Member* m : members) {
        epoll_event event{};
        event.events = EPOLLIN;
        event.data.ptr = m;
        ::epoll_ctl(epoll, EPOLL_CTL_ADD, m->fd, &event);
        m->wantWrite = false;
        if (m->index < run.senders) {
            senders.push_back(m);
        }
    }
    // Sender s sends message k at start + (k + s/K) * interval: R per second each, the senders evenly
    // spread over the interval (independent clients do not talk in lockstep). --burst 1: all at once.
    auto dueAt = [&](std::size_t s, std::size_t k) {
        const double phase = run.burst ? 0.0 : static_cast<double>(s) / static_cast<double>(run.senders);
        return run.startNs +
               static_cast<u64>((static_cast<double>(k) + phase) * static_cast<double>(run.intervalNs));
    };
    std::vector<std::size_t> nextSeq(senders.size(), 0);
    auto drop = [&](Member& m) {
        if (!m.gone) {
            m.gone = true;
            ++stats.dropped;
            ::epoll_ctl(epoll, EPOLL_CTL_DEL, m.fd, nullptr);
        }
    };
    epoll_event events[512];
    for (;;) {
        const u64 now = nowNs();
        u64 wake = now + 5'000'000;  // re-check whether every delivery has arrived
        for (std::size_t i = 0; i < senders.size(); ++i) {
            Member& m = *senders[i];
            if (nextSeq[i] >= run.perSender) {
                continue;
            }
            std::size_t batch = 0;
            while (nextSeq[i] < run.perSender && dueAt(m.index, nextSeq[i]) <= now) {
                char marker[96];
                std::snprintf(marker, sizeof marker, "~m %x %zu %zu %llu~", run.id, m.index, nextSeq[i]++,
                              static_cast<unsigned long long>(nowNs()));
                m.out += messageText(run, m, marker);
                ++batch;
            }
            if (batch > 0) {
                run.sent.fetch_add(batch);
                if (!m.gone && !flush(m, epoll)) {
                    drop(m);
                }
            }
            if (nextSeq[i] >= run.perSender) {
                run.sendersDone.fetch_add(1);
            } else {
                wake = std::min(wake, dueAt(m.index, nextSeq[i]));
            }
        }
        const bool allSent = run.sendersDone.load() == run.senders;
        if (allSent && run.received.load() >= run.sent.load() * run.receiversPerMessage) {
            break;
        }
        if (now >= run.graceUntilNs) {
            break;
        }
        const int ready =
            ::epoll_wait(epoll, events, 512, msUntil(std::min(wake, run.graceUntilNs), now, 50));
        u64 got = 0;
        for (int e = 0; e < ready; ++e) {
            Member& m = *static_cast<Member*>(events[e].data.ptr);
            if (m.gone) {
                continue;
            }
            if ((events[e].events & EPOLLOUT) && !flush(m, epoll)) {
                drop(m);
                continue;
            }
            if (!(events[e].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
                continue;
            }
            const bool open = receive(m, 4);
            const u64 before = stats.received;
            bool pongs = false;
            std::size_t start = 0;
            for (std::size_t end; (end = m.in.find('\n', start)) != std::string::npos; start = end + 1) {
                const std::string_view line(m.in.data() + start, end - start);
                if (run.dialect == Dialect::Line && startsWith(line, "! ")) {
                    if (stats.serverErrors++ == 0) {
                        stats.firstServerError = std::string(line);
                    }
                }
                if (run.dialect == Dialect::Irc) {
                    std::string_view rest;
                    const std::string_view command = ircCommand(line, rest);
                    if (answerPing(m, line)) {
                        pongs = true;
                    } else if (command == "ERROR" ||
                               (command.size() == 3 && command[0] >= '4' && command[0] <= '5')) {
                        // An error numeric (flood, 404 cannot send, ...) or the server's ERROR.
                        if (stats.serverErrors++ == 0) {
                            stats.firstServerError = std::string(line.substr(0, 200));
                        }
                    }
                }
                scanLine(m, line, run, stats);
            }
            m.in.erase(0, start);
            got += stats.received - before;
            if ((pongs || !m.wire.empty()) && !flush(m, epoll)) {  // WebSocket: pongs wait in wire
                drop(m);
                continue;
            }
            if (!open) {
                drop(m);
            }
        }
        if (got > 0) {
            run.received.fetch_add(got);
        }
    }
    ::close(epoll);
}

// Seats every member: connections open a few at a time, each counted as admitted once the server
// says anything (ncat listens with a backlog of 10, and with SYN cookies a connection the server never
// accepted still looks open to us); then the nickname handshakes; then member 0 sends probes until every
// other member has seen one - from then on the server relays to all of them. False (and `error`) if not
// everyone was seated by the deadline.
bool joinRoom(std::vector<Member>& room, const Endpoint& endpoint, const ChatRun& run, u64 deadline,
              std::string& error) {
    constexpr std::size_t kAdmitWindow = 8;        // connections the server has not spoken on yet
    constexpr u64 kSilentAdmitNs = 1'000'000'000;  // a server that greets nobody: admitted after this
    const int epoll = ::epoll_create1(EPOLL_CLOEXEC);
    char probe[24];
    std::snprintf(probe, sizeof probe, "~p %x ", run.id);
    std::size_t next = 0, unadmitted = 0, probesSent = 0;
    u64 nextProbe = 0;
    bool ready = false;
    auto admit = [&](Member& m) {
        if (!m.admitted) {
            m.admitted = true;
            --unadmitted;
        }
    };
    epoll_event events[512];
    while (error.empty()) {
        u64 now = nowNs();
        if (now >= deadline) {
            error = "not every member was seated before the join deadline";
            break;
        }
        while (next < room.size() && unadmitted < kAdmitWindow) {
            Member& m = room[next++];
            // The stalled member gets a small receive window, as a client on a slow link has: its
            // backlog builds up in the server, not in our kernel.
            m.fd = startConnect(endpoint, m.stalled ? 2048 : 0,
                                run.sources > 0 ? static_cast<unsigned>(1 + m.index % run.sources) : 0);
            if (m.fd < 0) {
                error = std::string("connect: ") + std::strerror(errno);
                break;
            }
            m.connecting = true;
            m.connectedAt = now;
            ++unadmitted;
            epoll_event event{};
            event.events = EPOLLIN | EPOLLOUT;
            event.data.ptr = &m;
            ::epoll_ctl(epoll, EPOLL_CTL_ADD, m.fd, &event);
        }
        if (!error.empty()) {
            break;
        }
        for (std::size_t i = 0; i < next && unadmitted > 0; ++i) {
            if (!room[i].connecting && !room[i].admitted && now - room[i].connectedAt > kSilentAdmitNs) {
                admit(room[i]);
            }
        }
        if (next == room.size() &&
            std::all_of(room.begin(), room.end(), [](const Member& m) { return m.joined; })) {
            if (std::all_of(room.begin() + 1, room.end(), [](const Member& m) { return m.probed; })) {
                ready = true;
                break;
            }
            if (now >= nextProbe) {
                char marker[48];
                std::snprintf(marker, sizeof marker, "~p %x %zu~", run.id, probesSent++);
                room[0].out += messageText(run, room[0], marker);
                nextProbe = now + 20'000'000;
                if (!flush(room[0], -1)) {
                    error = "member 0 could not send";
                    break;
                }
            }
        }
        const int n = ::epoll_wait(epoll, events, 512, msUntil(deadline, now, 20));
        now = nowNs();
        for (int e = 0; e < n && error.empty(); ++e) {
            Member& m = *static_cast<Member*>(events[e].data.ptr);
            if (m.connecting) {
                int failure = 0;
                socklen_t length = sizeof failure;
                ::getsockopt(m.fd, SOL_SOCKET, SO_ERROR, &failure, &length);
                if (failure != 0) {
                    error = std::string("connect: ") + std::strerror(failure);
                    break;
                }
                if (!(events[e].events & EPOLLOUT)) {
                    continue;
                }
                m.connecting = false;
                m.connectedAt = now;
                epoll_event event{};
                event.events = EPOLLIN;
                event.data.ptr = &m;
                ::epoll_ctl(epoll, EPOLL_CTL_MOD, m.fd, &event);
                if (m.ws) {  // the upgrade request; the dialect begins once the 101 is in
                    const std::string key = wsclient::newKey();
                    m.accept = wsclient::acceptFor(key);
                    m.wire = wsclient::upgradeRequest(run.wsHost, run.wsPath, key);
                    if (!flush(m, -1)) {
                        error = "member " + m.nick + " could not send its upgrade request";
                    }
                    continue;
                }
                if (run.dialect == Dialect::Irc) {  // the client speaks first: NICK and USER
                    error = advanceHandshake(m, run.dialect);
                    if (!flush(m, -1)) {
                        error = "member " + m.nick + " could not send NICK and USER";
                    }
                }
                continue;
            }
            if (!(events[e].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
                continue;
            }
            if (!receive(m, 4)) {
                error = "the server closed member " + m.nick + " while it was joining";
                if (!m.wsError.empty()) {
                    error += ": " + m.wsError;
                }
                if (!m.in.empty()) {
                    error += " (last said: " + m.in.substr(0, 120) + ")";
                }
                break;
            }
            if (!m.in.empty() || m.upgraded) {
                admit(m);
            }
            if (m.ws && !m.wire.empty() && !flush(m, -1)) {
                error = "member " + m.nick + " could not answer a ping";
            }
            if (!m.joined) {
                error = advanceHandshake(m, run.dialect);
                if (!flush(m, -1)) {
                    error = "member " + m.nick + " could not send its nickname";
                }
            }
            if (m.joined && run.dialect == Dialect::Irc && m.in.find("PING") != std::string::npos) {
                std::size_t start = 0;
                for (std::size_t end; (end = m.in.find('\n', start)) != std::string::npos; start = end + 1) {
                    answerPing(m, std::string_view(m.in.data() + start, end - start));
                }
                if (!flush(m, -1)) {
                    error = "member " + m.nick + " could not answer a PING";
                }
            }
            if (m.joined) {
                m.probed = m.probed || m.in.find(probe) != std::string::npos;
                // Keep only a probe's length: enough to find one split across two reads.
                if (m.in.size() > 32) {
                    m.in.erase(0, m.in.size() - 32);
                }
            }
        }
    }
    ::close(epoll);  // the measuring threads watch the members with their own
    return ready;
}

int runChat(const Options& options) {
    const Endpoint endpoint = endpointFrom(options);
    const auto memberCount = static_cast<std::size_t>(options.integer("members", 10, 2, 100'000));
    const auto senderCount = static_cast<std::size_t>(options.integer("senders", 1, 1, 100'000));
    const double rate = options.number("rate", 10, 0.1, 100'000);
    const double duration = options.number("duration", 3, 0.05, 3600);
    const double grace = options.number("grace", 3, 0, 600);
    const double joinTimeout = options.number("join-timeout", 30, 0.1, 600);
    const bool withStalled = options.integer("stalled", 0, 0, 1) == 1;
    const auto threads = static_cast<std::size_t>(options.integer("threads", 1, 1, 64));
    const std::string dialectName = options.required("dialect");
    if (senderCount > memberCount) {
        throw UsageError("--senders cannot exceed --members");
    }
    ChatRun run;
    run.burst = options.integer("burst", 0, 0, 1) == 1;
    run.sources = static_cast<std::size_t>(options.integer("sources", 0, 0, 254));
    if (run.sources > 0 && endpoint.family != AF_INET) {
        throw UsageError("--sources needs an IPv4 --host");
    }
    run.wsPath = websocketPath(options);
    run.wsHost = hostHeader(endpoint);
    if (!run.wsPath.empty() && dialectName != "line") {
        throw UsageError("--websocket goes with --dialect line (one text message a line)");
    }
    if (dialectName == "line") {
        run.dialect = Dialect::Line;
    } else if (dialectName == "seed") {
        run.dialect = Dialect::Seed;
    } else if (dialectName == "ncat") {
        run.dialect = Dialect::Ncat;
    } else if (dialectName == "irc") {
        run.dialect = Dialect::Irc;
    } else {
        throw UsageError("--dialect must be line, seed, ncat or irc");
    }
    run.id = static_cast<std::uint32_t>((nowNs() ^ (static_cast<u64>(::getpid()) << 20)) & 0xffffffu);
    run.senders = senderCount;
    run.perSender = std::max<std::size_t>(1, static_cast<std::size_t>(rate * duration + 0.5));
    run.intervalNs = static_cast<u64>(1e9 / rate);
    run.receiversPerMessage = run.dialect == Dialect::Seed ? memberCount : memberCount - 1;
    const std::size_t total = memberCount + (withStalled ? 1 : 0);
    if (raiseFileLimit() < total + 16) {
        std::printf("chat: the descriptor limit allows fewer than %zu connections\n", total);
    }

    // IRC servers allow 9 characters (RFC 1459; ngircd's default MaxNickLength): b, 3 hex digits of the
    // run, 5 digits of the member.
    char nickPrefix[16];
    if (run.dialect == Dialect::Irc) {
        std::snprintf(nickPrefix, sizeof nickPrefix, "b%03x", run.id & 0xfffu);
    } else {
        std::snprintf(nickPrefix, sizeof nickPrefix, "b%06x-", run.id);
    }
    std::vector<Member> room(total);
    for (std::size_t i = 0; i < total; ++i) {
        Member& m = room[i];
        m.index = i;
        m.ws = !run.wsPath.empty();
        m.stalled = withStalled && i == total - 1;
        char number[24];
        std::snprintf(number, sizeof number, "%05zu", i);  // fixed width: no nick is a prefix of another
        m.nick = nickPrefix + std::string(number);
        m.seen.assign(senderCount, std::vector<bool>(run.perSender, false));
        m.highest.assign(senderCount, -1);
    }
    const u64 joinBegan = nowNs();
    std::string joinError;
    const bool ready = joinRoom(room, endpoint, run, joinBegan + secondsToNs(joinTimeout), joinError);
    const std::size_t joined = static_cast<std::size_t>(std::count_if(
        room.begin(), room.end(), [](const Member& m) { return m.joined && (m.probed || m.index == 0); }));
    const double joinMs = static_cast<double>(nowNs() - joinBegan) / 1e6;
    if (!ready) {
        if (joinError.empty()) {
            joinError = "not every member joined within " + std::to_string(joinTimeout) + " s";
        }
        std::printf("chat (%s): %zu of %zu members joined in %.0f ms: %s\n", dialectName.c_str(), joined,
                    total, joinMs, joinError.c_str());
        std::printf(
            "RESULT mode=chat dialect=%s members=%zu joined=%zu join_ms=%.0f join_failed=1 errors=1\n",
            dialectName.c_str(), memberCount, joined, joinMs);
        for (auto& m : room) {
            if (m.fd >= 0) {
                ::close(m.fd);
            }
        }
        return 1;
    }
    // Late probes and notices are not part of the measurement.
    for (auto& m : room) {
        receive(m, 64);
        m.in.clear();
    }

    // Measure: the stalled member is never read again; everyone else is split across the threads.
    std::vector<std::vector<Member*>> shares(std::min(threads, memberCount));
    for (std::size_t i = 0; i < memberCount; ++i) {
        shares[i % shares.size()].push_back(&room[i]);
    }
    run.startNs = nowNs() + 1'000'000;
    run.graceUntilNs = run.startNs + secondsToNs(duration) + secondsToNs(grace);
    std::vector<ChatStats> stats(shares.size());
    const double cpuBefore = cpuSeconds();
    const u64 measureBegan = nowNs();
    std::vector<std::thread> workers;
    for (std::size_t t = 0; t < shares.size(); ++t) {
        workers.emplace_back([&, t] { chatWorker(shares[t], run, stats[t]); });
    }
    for (auto& worker : workers) {
        worker.join();
    }
    const double cpuShare = (cpuSeconds() - cpuBefore) / (static_cast<double>(nowNs() - measureBegan) / 1e9);

    int stalledClosed = -1;
    if (withStalled) {
        // Drain it now: the server's close shows after what it was sent. Silence for 1 s (or 10 s in
        // all) means the server kept it.
        Member& stalled = room.back();
        stalledClosed = 0;
        const u64 deadline = nowNs() + secondsToNs(10);
        u64 quietUntil = nowNs() + secondsToNs(1);
        const int epoll = ::epoll_create1(EPOLL_CLOEXEC);
        epoll_event event{};
        event.events = EPOLLIN;
        ::epoll_ctl(epoll, EPOLL_CTL_ADD, stalled.fd, &event);
        while (nowNs() < std::min(deadline, quietUntil)) {
            if (::epoll_wait(epoll, &event, 1, msUntil(std::min(deadline, quietUntil), nowNs(), 100)) > 0) {
                if (!receive(stalled, 16)) {
                    stalledClosed = 1;
                    break;
                }
                stalled.in.clear();
                quietUntil = nowNs() + secondsToNs(1);
            }
        }
        ::close(epoll);
    }

    ChatStats sum;
    for (auto& s : stats) {
        sum.received += s.received;
        sum.duplicated += s.duplicated;
        sum.reordered += s.reordered;
        sum.unexpected += s.unexpected;
        sum.foreign += s.foreign;
        sum.malformed += s.malformed;
        sum.serverErrors += s.serverErrors;
        sum.dropped += s.dropped;
        sum.lastReceiveNs = std::max(sum.lastReceiveNs, s.lastReceiveNs);
        if (sum.firstServerError.empty()) {
            sum.firstServerError = s.firstServerError;
        }
        sum.latencies.insert(sum.latencies.end(), s.latencies.begin(), s.latencies.end());
    }
    u64 pongs = 0;
    for (auto& m : room) {
        pongs += m.pongs;
        if (m.ws && m.upgraded && m.wire.empty() && !m.gone) {  // a close frame, as a polite client ends
            std::string bye;
            wsclient::appendClose(bye, 1000, m.masker.next());
            ::send(m.fd, bye.data(), bye.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        }
        ::close(m.fd);
    }
    const u64 sent = run.sent.load();
    const u64 expected = sent * run.receiversPerMessage;
    const u64 lost = expected > sum.received ? expected - sum.received : 0;
    const double activeSeconds = sum.lastReceiveNs > run.startNs
                                     ? static_cast<double>(sum.lastReceiveNs - run.startNs) / 1e9
                                     : duration;
    const double deliveriesPerSecond = static_cast<double>(sum.received) / activeSeconds;
    const Percentiles p = percentiles(sum.latencies);
    const u64 errors = lost + sum.duplicated + sum.reordered + sum.unexpected + sum.malformed +
                       sum.serverErrors + sum.dropped;
    std::printf("chat (%s%s): %zu members%s, %zu senders x %g msg/s for %g s (joined in %.0f ms)\n",
                dialectName.c_str(), run.wsPath.empty() ? "" : " over WebSocket", memberCount,
                withStalled ? " + 1 that never reads" : "", senderCount, rate, duration, joinMs);
    std::printf(
        "  sent %llu messages; expected %llu deliveries, received %llu: lost %llu, duplicated %llu, "
        "out of order %llu, to the sender %llu\n",
        static_cast<unsigned long long>(sent), static_cast<unsigned long long>(expected),
        static_cast<unsigned long long>(sum.received), static_cast<unsigned long long>(lost),
        static_cast<unsigned long long>(sum.duplicated), static_cast<unsigned long long>(sum.reordered),
        static_cast<unsigned long long>(sum.unexpected));
    std::printf(
        "  %.0f deliveries/s; delivery latency p50 %.1f  p99 %.1f  max %.1f us; the load generator used "
        "%.0f%% of a CPU%s\n",
        deliveriesPerSecond, p.p50, p.p99, p.max, cpuShare * 100,
        cpuShare > 0.9 * static_cast<double>(shares.size()) ? " (near its limit: it may be the bottleneck)"
                                                            : "");
    if (sum.malformed + sum.serverErrors + sum.dropped + sum.foreign > 0) {
        std::printf(
            "  also: %llu malformed markers, %llu from another run (ignored), %llu members dropped by the "
            "server, %llu error lines%s%s\n",
            static_cast<unsigned long long>(sum.malformed), static_cast<unsigned long long>(sum.foreign),
            static_cast<unsigned long long>(sum.dropped), static_cast<unsigned long long>(sum.serverErrors),
            sum.firstServerError.empty() ? "" : ", first: ", sum.firstServerError.c_str());
    }
    if (withStalled) {
        std::printf("  the member that never reads was %s\n",
                    stalledClosed == 1 ? "closed by the server" : "NOT closed by the server");
    }
    std::printf(
        "RESULT mode=chat dialect=%s websocket=%d members=%zu joined=%zu senders=%zu rate=%g duration=%g "
        "burst=%d join_ms=%.0f "
        "sent=%llu expected=%llu received=%llu lost=%llu duplicated=%llu reordered=%llu unexpected=%llu "
        "deliveries_per_s=%.0f p50_us=%.1f p99_us=%.1f max_us=%.1f loadgen_cpu=%.2f stalled_closed=%d "
        "dropped=%llu pongs=%llu malformed=%llu server_errors=%llu errors=%llu\n",
        dialectName.c_str(), run.wsPath.empty() ? 0 : 1, memberCount, joined, senderCount, rate, duration,
        run.burst ? 1 : 0, joinMs, static_cast<unsigned long long>(sent),
        static_cast<unsigned long long>(expected), static_cast<unsigned long long>(sum.received),
        static_cast<unsigned long long>(lost), static_cast<unsigned long long>(sum.duplicated),
        static_cast<unsigned long long>(sum.reordered), static_cast<unsigned long long>(sum.unexpected),
        deliveriesPerSecond, p.p50, p.p99, p.max, cpuShare, stalledClosed,
        static_cast<unsigned long long>(sum.dropped), static_cast<unsigned long long>(pongs),
        static_cast<unsigned long long>(sum.malformed), static_cast<unsigned long long>(sum.serverErrors),
        static_cast<unsigned long long>(errors));
    return errors == 0 && sent > 0 ? 0 : 1;
}

// ---- hold --------------------------------------------------------------------------------------

long residentKiB(long pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) == 0) {
            return std::strtol(line.c_str() + 6, nullptr, 10);
        }
    }
    return -1;
}

// Sockets the process holds (-1 if /proc does not let us look): how many connections it accepted.
long socketCount(long pid) {
    const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
    DIR* handle = ::opendir(dir.c_str());
    if (handle == nullptr) {
        return -1;
    }
    long count = 0;
    char target[64];
    while (const dirent* entry = ::readdir(handle)) {
        const std::string path = dir + "/" + entry->d_name;
        const ssize_t n = ::readlink(path.c_str(), target, sizeof target - 1);
        if (n > 0) {
            target[n] = '\0';
            count += std::strncmp(target, "socket:", 7) == 0 ? 1 : 0;
        }
    }
    ::closedir(handle);
    return count;
}

// A /proc/meminfo field in KiB (-1 if absent).
long meminfoKiB(const char* field) {
    std::ifstream meminfo("/proc/meminfo");
    std::string line;
    const std::size_t length = std::strlen(field);
    while (std::getline(meminfo, line)) {
        if (line.compare(0, length, field) == 0 && line.size() > length && line[length] == ':') {
            return std::strtol(line.c_str() + length + 1, nullptr, 10);
        }
    }
    return -1;
}

// The kernel's TCP socket-buffer memory in KiB (/proc/net/sockstat "TCP: ... mem PAGES"), -1 if unknown.
long tcpBufferKiB() {
    std::ifstream sockstat("/proc/net/sockstat");
    std::string line;
    while (std::getline(sockstat, line)) {
        if (line.rfind("TCP:", 0) == 0) {
            const std::size_t at = line.find(" mem ");
            return at == std::string::npos
                       ? -1
                       : std::strtol(line.c_str() + at + 5, nullptr, 10) * (::sysconf(_SC_PAGESIZE) / 1024);
        }
    }
    return -1;
}

int runHold(const Options& options) {
    const Endpoint endpoint = endpointFrom(options);
    const auto conns = static_cast<std::size_t>(options.integer("conns", 100, 1, 1'000'000));
    const auto size = static_cast<std::size_t>(options.integer("size", 16, 1, 4096));
    options.required("pid");
    const long pid = options.integer("pid", 0, 1, 1L << 22);
    const double timeout = options.number("timeout", 60, 1, 600);
    // --tls 1: each connection completes a TLS handshake before its echo. --extra-pid PID: a second
    // process (the echo server behind a TLS proxy) whose resident memory is reported beside.
    SslContextPtr context = tlsWanted(options) ? clientContext(options) : nullptr;
    const long extraPid = options.integer("extra-pid", 0, 0, 1L << 22);
    // --checkpoints 5000,10000: also the server's resident memory once that many are open and verified.
    std::vector<std::size_t> stages;
    {
        const std::string list = options.text("checkpoints", "");
        std::size_t at = 0;
        while (at < list.size()) {
            const std::size_t comma = std::min(list.find(',', at), list.size());
            const std::string item = list.substr(at, comma - at);  // alive while strtoul's end points into it
            char* end = nullptr;
            const unsigned long value = std::strtoul(item.c_str(), &end, 10);
            if (value == 0 || *end != '\0') {
                throw UsageError("--checkpoints must be a comma-separated list of connection counts");
            }
            stages.push_back(value);
            at = comma + 1;
        }
    }
    if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
        throw UsageError("--pid " + std::to_string(pid) + ": no such process");
    }
    const rlim_t limit = raiseFileLimit();
    std::size_t target = conns;
    if (limit < conns + 16) {
        target = limit > 16 ? static_cast<std::size_t>(limit) - 16 : 0;
        std::printf("hold: the descriptor limit (%llu) allows only %zu of %zu connections\n",
                    static_cast<unsigned long long>(limit), target, conns);
    }
    std::sort(stages.begin(), stages.end());
    stages.erase(std::remove_if(stages.begin(), stages.end(), [&](std::size_t c) { return c >= target; }),
                 stages.end());
    stages.push_back(target);
    const long rssBefore = residentKiB(pid);
    const long extraBefore = extraPid > 0 ? residentKiB(extraPid) : -1;
    const long socketsBefore = socketCount(pid);
    const long slabBefore = meminfoKiB("Slab");
    const long buffersBefore = tcpBufferKiB();
    const u64 deadline = nowNs() + secondsToNs(timeout);

    // Every connection still works: a small message each way, checked byte for byte.
    struct Held {
        int fd;
        std::size_t start;
        std::string got;
        SslPtr ssl;
    };
    std::vector<Held> held;
    held.reserve(target);
    Opened opened;
    double connectMs = 0;
    std::size_t verified = 0, wrong = 0, failed = 0, waiting = 0;
    std::string checkpoints;
    const int epoll = ::epoll_create1(EPOLL_CLOEXEC);
    for (const std::size_t stage : stages) {
        const u64 stageBegan = nowNs();
        // With --tls, connections are opened and their handshakes completed 256 at a time, as clients
        // that connect and then speak at once would (a server's handshake timeout runs from accept).
        Opened more;
        std::vector<SslPtr> sessions;
        const std::size_t batch = context ? 256 : stage - opened.fds.size();
        for (std::size_t left = stage - opened.fds.size(); left > 0;) {
            const std::size_t count = std::min(left, batch);
            Opened some = openConnections(endpoint, count, deadline);
            more.failed += some.failed;
            if (more.firstError.empty()) {
                more.firstError = some.firstError;
            }
            std::vector<SslPtr> made(some.fds.size());
            if (context) {
                made = handshakeAll(context.get(), some.fds, deadline, more.failed, more.firstError);
            }
            more.fds.insert(more.fds.end(), some.fds.begin(), some.fds.end());
            for (auto& session : made) {
                sessions.push_back(std::move(session));
            }
            left -= count;
        }
        connectMs += static_cast<double>(nowNs() - stageBegan) / 1e6;
        opened.failed += more.failed;
        if (opened.firstError.empty()) {
            opened.firstError = more.firstError;
        }
        const std::size_t first = held.size();
        for (std::size_t m = 0; m < more.fds.size(); ++m) {
            const int fd = more.fds[m];
            const std::size_t index = opened.fds.size();
            opened.fds.push_back(fd);
            if (fd >= 0 && context && !sessions[m]) {
                ::close(fd);  // its handshake failed (counted)
            } else if (fd >= 0) {
                held.push_back(Held{fd, patternStart(index), {}, std::move(sessions[m])});
            }
        }
        for (std::size_t i = first; i < held.size(); ++i) {
            Held& h = held[i];
            if (linkSend(h.fd, h.ssl.get(), patternAt(h.start, 0), size) != static_cast<ssize_t>(size)) {
                ++failed;
                continue;
            }
            epoll_event event{};
            event.events = EPOLLIN;
            event.data.ptr = &h;
            ::epoll_ctl(epoll, EPOLL_CTL_ADD, h.fd, &event);
            ++waiting;
        }
        epoll_event events[512];
        while (waiting > 0 && nowNs() < deadline) {
            const int n = ::epoll_wait(epoll, events, 512, msUntil(deadline, nowNs(), 100));
            for (int e = 0; e < n; ++e) {
                Held& h = *static_cast<Held*>(events[e].data.ptr);
                char chunk[4096];
                const ssize_t got = linkRecv(h.fd, h.ssl.get(), chunk, sizeof chunk);
                if (got < 0 && errno == EAGAIN) {
                    continue;
                }
                if (got > 0) {
                    h.got.append(chunk, static_cast<std::size_t>(got));
                }
                if (got <= 0 || h.got.size() >= size) {
                    ::epoll_ctl(epoll, EPOLL_CTL_DEL, h.fd, nullptr);
                    --waiting;
                    if (got <= 0) {
                        ++failed;
                    } else if (h.got == std::string(patternAt(h.start, 0), size)) {
                        ++verified;
                    } else {
                        ++wrong;
                    }
                    std::string().swap(h.got);
                }
            }
        }
        // Resident memory once these are open and have each echoed: per connection from the start.
        const long rss = residentKiB(pid);
        const double perConnection =
            rssBefore >= 0 && rss >= 0 && !held.empty()
                ? static_cast<double>(rss - rssBefore) / static_cast<double>(held.size())
                : -1;
        char text[96];
        std::snprintf(text, sizeof text, "%s%zu:%.2f", checkpoints.empty() ? "" : ",", held.size(),
                      perConnection);
        checkpoints += text;
        std::printf("  %zu open, %zu verified: server RSS %ld KiB (%.2f KiB per connection)\n", held.size(),
                    verified, rss, perConnection);
    }
    ::close(epoll);
    const long rssAfter = residentKiB(pid);
    const long extraAfter = extraPid > 0 ? residentKiB(extraPid) : -1;
    const long socketsAfter = socketCount(pid);
    const long slabAfter = meminfoKiB("Slab");
    const long buffersAfter = tcpBufferKiB();
    const long accepted = socketsBefore >= 0 && socketsAfter >= 0 ? socketsAfter - socketsBefore : -1;
    const std::size_t open = held.size();
    const double perConnection = rssBefore >= 0 && rssAfter >= 0 && open > 0
                                     ? static_cast<double>(rssAfter - rssBefore) / static_cast<double>(open)
                                     : -1;
    const double extraPerConnection =
        extraBefore >= 0 && extraAfter >= 0 && open > 0
            ? static_cast<double>(extraAfter - extraBefore) / static_cast<double>(open)
            : -1;
    // Kernel memory for both ends of each loopback connection (machine-wide, so anything else running
    // adds noise): slab (socket, inode, dentry, file, epoll entries) and TCP buffers.
    const double slabPerConnection =
        slabBefore >= 0 && slabAfter >= 0 && open > 0
            ? static_cast<double>(slabAfter - slabBefore) / static_cast<double>(open)
            : -1;
    const double buffersPerConnection =
        buffersBefore >= 0 && buffersAfter >= 0 && open > 0
            ? static_cast<double>(buffersAfter - buffersBefore) / static_cast<double>(open)
            : -1;
    std::printf(
        "hold: %zu of %zu connections open in %.0f ms (%zu failed%s%s); server holds %ld more sockets\n",
        open, conns, connectMs, opened.failed, opened.failed ? ": " : "", opened.firstError.c_str(),
        accepted);
    std::printf("  %zu echoed correctly, %zu wrong, %zu closed or silent, %zu unanswered by the deadline\n",
                verified, wrong, failed, waiting);
    std::printf("  server RSS %ld KiB -> %ld KiB: %.2f KiB per connection\n", rssBefore, rssAfter,
                perConnection);
    if (extraPid > 0) {
        std::printf("  pid %ld RSS %ld KiB -> %ld KiB: %.2f KiB per connection\n", extraPid, extraBefore,
                    extraAfter, extraPerConnection);
    }
    std::printf(
        "  kernel, both ends of each connection: slab %.2f KiB, TCP buffers %.2f KiB per connection\n",
        slabPerConnection, buffersPerConnection);
    std::printf(
        "RESULT mode=hold tls=%d extra_kib_per_conn=%.2f conns=%zu open=%zu accepted=%ld verified=%zu "
        "wrong=%zu failed=%zu connect_ms=%.0f "
        "rss_before_kib=%ld rss_after_kib=%ld kib_per_conn=%.2f checkpoints=%s kernel_slab_kib_per_conn=%.2f "
        "kernel_tcp_buffer_kib_per_conn=%.2f errors=%zu\n",
        context ? 1 : 0, extraPerConnection, conns, open, accepted, verified, wrong, failed + waiting,
        connectMs, rssBefore, rssAfter, perConnection, checkpoints.c_str(), slabPerConnection,
        buffersPerConnection, conns - verified);
    for (const auto& h : held) {
        ::close(h.fd);
    }
    return verified == conns ? 0 : 1;
}

// ---- handshakes --------------------------------------------------------------------------------

// New TLS connections per second: N slots, each connects, completes a full handshake (no session is
// ever reused), sends one byte and waits for its echo (proof that the server finished its side),
// sends close_notify, closes, and starts over.
int runHandshakes(const Options& options) {
    const Endpoint endpoint = endpointFrom(options);
    const auto conns = static_cast<std::size_t>(options.integer("conns", 16, 1, 10'000));
    const double duration = options.number("duration", 3, 0.05, 3600);
    const double warmup = options.number("warmup", 0.5, 0, 600);
    const std::vector<long> serverPids = pidList(options, "server-pid");
    SslContextPtr context = clientContext(options);
    raiseFileLimit();
    enum class Stage { Connecting, Handshaking, Echoing };
    struct Slot {
        int fd = -1;
        SslPtr ssl;
        Stage stage = Stage::Connecting;
        bool sent = false;
        u64 began = 0;
    };
    std::vector<Slot> slots(conns);
    const int epoll = ::epoll_create1(EPOLL_CLOEXEC);
    u64 completed = 0, failed = 0, measuredCompleted = 0;
    std::string firstError;
    std::vector<u64> latencies;
    bool measuring = false;
    auto arm = [&](std::size_t index, std::uint32_t events, int op) {
        epoll_event event{};
        event.events = events;
        event.data.u64 = index;
        ::epoll_ctl(epoll, op, slots[index].fd, &event);
    };
    auto start = [&](std::size_t index) {
        Slot& slot = slots[index];
        slot = Slot{};
        slot.began = nowNs();
        slot.fd = startConnect(endpoint, 0);
        if (slot.fd < 0) {
            ++failed;
            if (firstError.empty()) {
                firstError = std::string("connect: ") + std::strerror(errno);
            }
            return false;
        }
        arm(index, EPOLLOUT, EPOLL_CTL_ADD);
        return true;
    };
    auto finish = [&](std::size_t index, const std::string& error) {
        Slot& slot = slots[index];
        if (error.empty()) {
            ++completed;
            if (measuring) {
                ++measuredCompleted;
                latencies.push_back(nowNs() - slot.began);
            }
            SSL_shutdown(slot.ssl.get());  // close_notify; its answer is not awaited
        } else {
            ++failed;
            if (firstError.empty()) {
                firstError = error;
            }
        }
        ::epoll_ctl(epoll, EPOLL_CTL_DEL, slot.fd, nullptr);
        slot.ssl.reset();
        ::close(slot.fd);
        slot.fd = -1;
    };
    // Moves one slot on as far as it can go without waiting; re-arms epoll for what it waits for.
    auto advance = [&](std::size_t index) {
        Slot& slot = slots[index];
        if (slot.stage == Stage::Connecting) {
            int error = 0;
            socklen_t length = sizeof error;
            ::getsockopt(slot.fd, SOL_SOCKET, SO_ERROR, &error, &length);
            if (error != 0) {
                finish(index, std::string("connect: ") + std::strerror(error));
                return;
            }
            slot.ssl.reset(SSL_new(context.get()));
            SSL_set_fd(slot.ssl.get(), slot.fd);
            SSL_set_connect_state(slot.ssl.get());
            SSL_set_tlsext_host_name(slot.ssl.get(), "localhost");
            slot.stage = Stage::Handshaking;
        }
        if (slot.stage == Stage::Handshaking) {
            const int result = SSL_do_handshake(slot.ssl.get());
            if (result != 1) {
                const int error = SSL_get_error(slot.ssl.get(), result);
                if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
                    arm(index, error == SSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT, EPOLL_CTL_MOD);
                } else {
                    finish(index, "TLS handshake: " + sslErrorText());
                }
                return;
            }
            slot.stage = Stage::Echoing;
        }
        if (!slot.sent) {
            const ssize_t n = linkSend(slot.fd, slot.ssl.get(), "x", 1);
            if (n == 1) {
                slot.sent = true;
            } else if (!(n < 0 && errno == EAGAIN)) {
                finish(index, "send after the handshake failed");
                return;
            }
        }
        char byte = 0;
        const ssize_t n = slot.sent ? linkRecv(slot.fd, slot.ssl.get(), &byte, 1) : -1;
        if (n == 1) {
            finish(index, byte == 'x' ? "" : "the echoed byte is wrong");
        } else if (n == 0 || (n < 0 && errno != EAGAIN)) {
            finish(index, "closed by the server after the handshake");
        } else {
            arm(index, slot.sent ? EPOLLIN : EPOLLOUT, EPOLL_CTL_MOD);
        }
    };
    const u64 began = nowNs();
    const u64 measureFrom = began + secondsToNs(warmup);
    const u64 measureUntil = measureFrom + secondsToNs(duration);
    double serverBefore = -1, cpuBefore = 0;
    for (std::size_t i = 0; i < conns; ++i) {
        start(i);
    }
    epoll_event events[512];
    u64 now = nowNs();
    while (now < measureUntil) {
        if (!measuring && now >= measureFrom) {
            measuring = true;
            serverBefore = processesCpuSeconds(serverPids);
            cpuBefore = cpuSeconds();
        }
        const int ready =
            ::epoll_wait(epoll, events, 512, msUntil(measuring ? measureUntil : measureFrom, now, 20));
        for (int e = 0; e < ready; ++e) {
            const auto index = static_cast<std::size_t>(events[e].data.u64);
            if (slots[index].fd >= 0) {
                advance(index);
            }
            if (slots[index].fd < 0) {
                start(index);
            }
        }
        for (std::size_t i = 0; i < conns; ++i) {  // a slot whose connect failed at once starts again
            if (slots[i].fd < 0 && failed < 1000) {
                start(i);
            }
        }
        now = nowNs();
    }
    const double serverAfter = processesCpuSeconds(serverPids);
    const double seconds = static_cast<double>(nowNs() - measureFrom) / 1e9;
    const double cpuShare = (cpuSeconds() - cpuBefore) / seconds;
    for (std::size_t i = 0; i < conns; ++i) {
        if (slots[i].fd >= 0) {
            slots[i].ssl.reset();
            ::close(slots[i].fd);
        }
    }
    ::close(epoll);
    const double rate = static_cast<double>(measuredCompleted) / seconds;
    const bool serverKnown = serverBefore >= 0 && serverAfter >= 0;
    const double serverUs = serverKnown && measuredCompleted > 0
                                ? (serverAfter - serverBefore) * 1e6 / static_cast<double>(measuredCompleted)
                                : -1;
    const double serverShare = serverKnown ? (serverAfter - serverBefore) / seconds : -1;
    const Percentiles p = percentiles(latencies);
    std::printf(
        "handshakes: %zu at a time, %.2f s measured: %llu full TLS handshakes (%.0f/s), %llu failed%s%s\n",
        conns, seconds, static_cast<unsigned long long>(measuredCompleted), rate,
        static_cast<unsigned long long>(failed), failed ? ": " : "", firstError.c_str());
    std::printf(
        "  connect to echoed byte p50 %.1f p99 %.1f us; server CPU %.1f us per handshake (%.0f%% of a "
        "CPU); the load generator used %.0f%% of a CPU\n",
        p.p50, p.p99, serverUs, serverShare * 100, cpuShare * 100);
    std::printf(
        "RESULT mode=handshakes conns=%zu seconds=%.3f handshakes=%llu handshakes_per_s=%.0f p50_us=%.1f "
        "p99_us=%.1f server_us_per_handshake=%.2f server_cpu=%.3f loadgen_cpu=%.2f errors=%llu\n",
        conns, seconds, static_cast<unsigned long long>(measuredCompleted), rate, p.p50, p.p99, serverUs,
        serverShare, cpuShare, static_cast<unsigned long long>(failed));
    return failed == 0 && completed > 0 ? 0 : 1;
}

// ---- udp ---------------------------------------------------------------------------------------

// Datagrams per second: P peers (one socket each, its own source port), each keeping W datagrams of S
// bytes in flight; every echoed datagram is checked byte for byte (an 8-byte sequence number, then the
// peer's pattern). A peer that hears nothing for 100 ms counts what it has in flight as lost and sends
// W new ones.
int runUdp(const Options& options) {
    const Endpoint endpoint = endpointFrom(options);
    const auto peers = static_cast<std::size_t>(options.integer("peers", 50, 1, 10'000));
    const auto size = static_cast<std::size_t>(options.integer("size", 64, 8, 65'000));
    const auto window = static_cast<std::size_t>(options.integer("window", 4, 1, 1024));
    const double duration = options.number("duration", 3, 0.05, 3600);
    const double warmup = options.number("warmup", 0.5, 0, 600);
    const std::vector<long> serverPids = pidList(options, "server-pid");
    struct Peer {
        int fd = -1;
        std::size_t start = 0;
        u64 next = 0;  // sequence number of the next datagram
        u64 inFlight = 0;
        u64 heardAt = 0;
    };
    std::vector<Peer> all(peers);
    const int epoll = ::epoll_create1(EPOLL_CLOEXEC);
    std::vector<char> out(size), in(size + 1);
    u64 sent = 0, received = 0, lost = 0, wrong = 0, measured = 0, sendFailed = 0;
    bool measuring = false;
    auto sendOne = [&](Peer& peer) {
        std::memcpy(out.data(), &peer.next, 8);
        std::memcpy(out.data() + 8, patternAt(peer.start, peer.next % 4096), size - 8);
        if (::send(peer.fd, out.data(), size, 0) == static_cast<ssize_t>(size)) {
            ++peer.next;
            ++peer.inFlight;
            ++sent;
        } else {
            ++sendFailed;
        }
    };
    for (std::size_t i = 0; i < peers; ++i) {
        Peer& peer = all[i];
        peer.fd = ::socket(endpoint.family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (peer.fd < 0 ||
            ::connect(peer.fd, reinterpret_cast<const sockaddr*>(&endpoint.address), endpoint.length) != 0) {
            std::printf("udp: socket/connect: %s\n", std::strerror(errno));
            return 1;
        }
        peer.start = patternStart(i);
        epoll_event event{};
        event.events = EPOLLIN;
        event.data.u64 = i;
        ::epoll_ctl(epoll, EPOLL_CTL_ADD, peer.fd, &event);
    }
    const u64 began = nowNs();
    for (auto& peer : all) {
        peer.heardAt = began;
        for (std::size_t w = 0; w < window; ++w) {
            sendOne(peer);
        }
    }
    const u64 measureFrom = began + secondsToNs(warmup);
    const u64 measureUntil = measureFrom + secondsToNs(duration);
    double serverBefore = -1, cpuBefore = 0;
    epoll_event events[512];
    u64 now = nowNs(), lastSweep = now;
    while (now < measureUntil) {
        if (!measuring && now >= measureFrom) {
            measuring = true;
            serverBefore = processesCpuSeconds(serverPids);
            cpuBefore = cpuSeconds();
        }
        const int ready = ::epoll_wait(epoll, events, 512, 10);
        now = nowNs();
        for (int e = 0; e < ready; ++e) {
            Peer& peer = all[events[e].data.u64];
            for (;;) {
                const ssize_t n = ::recv(peer.fd, in.data(), in.size(), 0);
                if (n < 0) {
                    break;  // EAGAIN, or an ICMP error the next send reports again
                }
                u64 sequence = 0;
                std::memcpy(&sequence, in.data(), std::min<std::size_t>(8, static_cast<std::size_t>(n)));
                const bool right =
                    static_cast<std::size_t>(n) == size && sequence < peer.next &&
                    std::memcmp(in.data() + 8, patternAt(peer.start, sequence % 4096), size - 8) == 0;
                wrong += right ? 0 : 1;
                ++received;
                measured += measuring ? 1 : 0;
                peer.heardAt = now;
                if (peer.inFlight > 0) {
                    --peer.inFlight;
                }
                sendOne(peer);
            }
        }
        if (now - lastSweep > 20'000'000) {  // a peer silent for 100 ms: its datagrams are lost
            lastSweep = now;
            for (auto& peer : all) {
                if (now - peer.heardAt > 100'000'000) {
                    lost += peer.inFlight;
                    peer.inFlight = 0;
                    peer.heardAt = now;
                    for (std::size_t w = 0; w < window; ++w) {
                        sendOne(peer);
                    }
                }
            }
        }
    }
    const double serverAfter = processesCpuSeconds(serverPids);
    const double seconds = static_cast<double>(nowNs() - measureFrom) / 1e9;
    const double cpuShare = (cpuSeconds() - cpuBefore) / seconds;
    // What is still in flight gets 200 ms to arrive; what does not is lost too.
    const u64 graceUntil = nowNs() + 200'000'000;
    u64 outstanding = 0;
    for (auto& peer : all) {
        outstanding += peer.inFlight;
    }
    while (outstanding > 0 && nowNs() < graceUntil) {
        const int ready = ::epoll_wait(epoll, events, 512, msUntil(graceUntil, nowNs(), 50));
        for (int e = 0; e < ready; ++e) {
            Peer& peer = all[events[e].data.u64];
            while (::recv(peer.fd, in.data(), in.size(), 0) >= 0) {
                ++received;
                if (peer.inFlight > 0) {
                    --peer.inFlight;
                    --outstanding;
                }
            }
        }
    }
    lost += outstanding;
    for (auto& peer : all) {
        ::close(peer.fd);
    }
    ::close(epoll);
    const double rate = static_cast<double>(measured) / seconds;
    const bool serverKnown = serverBefore >= 0 && serverAfter >= 0;
    const double serverUs =
        serverKnown && measured > 0 ? (serverAfter - serverBefore) * 1e6 / static_cast<double>(measured) : -1;
    std::printf("udp: %zu peers x %zu B, %zu in flight each, %.2f s measured: %.0f datagrams/s echoed\n",
                peers, size, window, seconds, rate);
    std::printf(
        "  sent %llu, received %llu, lost %llu (%.3f%%), wrong %llu, send failures %llu; server CPU %.2f us "
        "per datagram; the load generator used %.0f%% of a CPU\n",
        static_cast<unsigned long long>(sent), static_cast<unsigned long long>(received),
        static_cast<unsigned long long>(lost),
        sent ? 100.0 * static_cast<double>(lost) / static_cast<double>(sent) : 0,
        static_cast<unsigned long long>(wrong), static_cast<unsigned long long>(sendFailed), serverUs,
        cpuShare * 100);
    std::printf(
        "RESULT mode=udp peers=%zu size=%zu window=%zu seconds=%.3f datagrams_per_s=%.0f sent=%llu "
        "received=%llu lost=%llu wrong=%llu send_failed=%llu server_us_per_datagram=%.3f loadgen_cpu=%.2f "
        "errors=%llu\n",
        peers, size, window, seconds, rate, static_cast<unsigned long long>(sent),
        static_cast<unsigned long long>(received), static_cast<unsigned long long>(lost),
        static_cast<unsigned long long>(wrong), static_cast<unsigned long long>(sendFailed), serverUs,
        cpuShare, static_cast<unsigned long long>(wrong + (measured == 0 ? 1 : 0)));
    return wrong == 0 && measured > 0 ? 0 : 1;
}

// ---- startup -----------------------------------------------------------------------------------

// Milliseconds from exec of plughostd to every listener in its ready file accepting a connection.
int runStartup(const Options& options) {
    const std::string binary = options.required("exec");
    const std::string config = options.required("config");
    const long cpu = options.integer("server-cpu", -1, -1, 1023);
    const double timeout = options.number("timeout", 10, 0.1, 120);
    char scratch[] = "/tmp/plughost-startup-XXXXXX";
    if (::mkdtemp(scratch) == nullptr) {
        std::perror("mkdtemp");
        return 1;
    }
    const std::string ready = std::string(scratch) + "/ready";
    const u64 began = nowNs();
    const u64 deadline = began + secondsToNs(timeout);
    const pid_t child = ::fork();
    if (child == 0) {
        if (cpu >= 0) {
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET(static_cast<int>(cpu), &set);
            ::sched_setaffinity(0, sizeof set, &set);
        }
        const int null = ::open("/dev/null", O_WRONLY);
        ::dup2(null, 1);
        ::dup2(null, 2);
        ::execl(binary.c_str(), binary.c_str(), "--config", config.c_str(), "--ready-file", ready.c_str(),
                nullptr);
        ::_exit(127);
    }
    std::string problem;
    int status = 0;
    bool exited = false;
    struct stat info {};
    // Poll (bounded) for the ready file; a host that exits early ends the wait at once.
    while (::stat(ready.c_str(), &info) != 0) {
        if (::waitpid(child, &status, WNOHANG) == child) {
            exited = true;
            problem = "plughostd exited before it was ready";
            break;
        }
        if (nowNs() >= deadline) {
            problem = "no ready file within the timeout";
            break;
        }
        ::usleep(100);
    }
    std::vector<std::string> addresses;
    if (problem.empty()) {
        std::ifstream in(ready);
        std::string service, address;
        while (in >> service >> address) {
            addresses.push_back(address);
        }
    }
    std::size_t accepting = 0;
    for (const auto& address : addresses) {
        const auto colon = address.rfind(':');
        std::string host = address.substr(0, colon);
        if (host.size() > 2 && host.front() == '[') {
            host = host.substr(1, host.size() - 2);
        }
        Endpoint endpoint;
        try {
            endpoint = loopbackEndpoint(host, std::strtol(address.c_str() + colon + 1, nullptr, 10));
        } catch (const UsageError&) {
            continue;  // not a loopback TCP listener (e.g. a local socket): not ours to probe
        }
        while (nowNs() < deadline) {
            const Opened one = openConnections(endpoint, 1, deadline);
            if (one.fds[0] >= 0) {
                ::close(one.fds[0]);
                ++accepting;
                break;
            }
            ::usleep(100);
        }
    }
    const double ms = static_cast<double>(nowNs() - began) / 1e6;
    if (!exited) {
        ::kill(child, SIGTERM);
        // Bounded: SIGKILL if it does not stop within 10 s.
        const u64 stopBy = nowNs() + secondsToNs(10);
        while (::waitpid(child, &status, WNOHANG) == 0) {
            if (nowNs() >= stopBy) {
                ::kill(child, SIGKILL);
                ::waitpid(child, &status, 0);
                break;
            }
            ::usleep(1000);
        }
    }
    std::remove(ready.c_str());
    std::remove((ready + ".tmp").c_str());
    ::rmdir(scratch);
    if (problem.empty() && accepting < addresses.size()) {
        problem = "not every listener accepted";
    }
    std::printf("startup: %zu of %zu listeners accepting %.1f ms after exec%s%s\n", accepting,
                addresses.size(), ms, problem.empty() ? "" : ": ", problem.c_str());
    std::printf("RESULT mode=startup ms=%.1f listeners=%zu accepting=%zu errors=%d\n", ms, addresses.size(),
                accepting, problem.empty() ? 0 : 1);
    return problem.empty() && !addresses.empty() ? 0 : 1;
}

const char* kUsage =
    "usage: plughost-loadgen MODE --option VALUE ...\n"
    "  echo    [--host H] --port P --conns N --size S [--inflight W] [--duration SEC] [--warmup SEC] "
    "[--threads T] [--round-trips N] [--server-pid PID[,PID]] [--tls 1 | --websocket PATH]\n"
    "  chat    [--host H] --port P --members N --senders K --rate R [--duration SEC] --dialect "
    "line|seed|ncat|irc\n"
    "          [--stalled 1] [--burst 1] [--threads T] [--grace SEC] [--join-timeout SEC] [--sources N]\n"
    "          [--websocket PATH] (line only: one text message a line)\n"
    "  hold    [--host H] --port P --conns N --pid PID [--size S] [--timeout SEC] [--checkpoints N,N...]\n"
    "          [--tls 1] [--extra-pid PID]\n"
    "  handshakes [--host H] --port P [--conns N] [--duration SEC] [--warmup SEC] [--server-pid PID[,PID]]\n"
    "  udp     [--host H] --port P [--peers N] [--size S] [--window W] [--duration SEC] [--warmup SEC]\n"
    "          [--server-pid PID]\n"
    "  TLS options (echo --tls 1, hold --tls 1, handshakes): [--tls-version 1.3|1.2] [--tls-group X25519]\n"
    "  startup --exec PLUGHOSTD --config FILE [--server-cpu C] [--timeout SEC]\n"
    "Hosts are loopback only. The last line of output is 'RESULT key=value ...'. See bench/README.md.\n";

}  // namespace

int main(int argc, char** argv) {
    ::signal(SIGPIPE, SIG_IGN);
    const std::string mode = argc > 1 ? argv[1] : "";
    try {
        if (mode == "echo") {
            return runEcho(
                Options(argc, argv,
                        {"host", "port", "conns", "size", "inflight", "duration", "warmup", "threads",
                         "round-trips", "server-pid", "tls", "tls-group", "tls-version", "websocket"}));
        }
        if (mode == "chat") {
            return runChat(
                Options(argc, argv,
                        {"host", "port", "members", "senders", "rate", "duration", "dialect", "stalled",
                         "burst", "threads", "grace", "join-timeout", "sources", "websocket"}));
        }
        if (mode == "hold") {
            return runHold(Options(argc, argv,
                                   {"host", "port", "conns", "pid", "size", "timeout", "checkpoints", "tls",
                                    "tls-group", "tls-version", "extra-pid"}));
        }
        if (mode == "handshakes") {
            return runHandshakes(Options(
                argc, argv,
                {"host", "port", "conns", "duration", "warmup", "server-pid", "tls-group", "tls-version"}));
        }
        if (mode == "udp") {
            return runUdp(Options(
                argc, argv, {"host", "port", "peers", "size", "window", "duration", "warmup", "server-pid"}));
        }
        if (mode == "startup") {
            return runStartup(Options(argc, argv, {"exec", "config", "server-cpu", "timeout"}));
        }
        if (mode == "--help" || mode == "-h" || mode == "help") {
            std::fputs(kUsage, stdout);
            return 0;
        }
        throw UsageError(mode.empty() ? "no mode given" : "unknown mode '" + mode + "'");
    } catch (const UsageError& error) {
        std::fprintf(stderr, "plughost-loadgen: %s\n%s", error.what(), kUsage);
        return 2;
    }
}
