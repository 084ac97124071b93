// plughost-loadgen: the project's load generator (epoll, non-blocking, one or more threads).
//
//   echo    --port P [--host H] --conns N --size S [--inflight W] [--duration SEC] [--warmup SEC] [--threads T]
//   chat    --port P --members N --senders K --rate R [--duration SEC] --dialect line|seed|ncat [--stalled 1]
//   hold    --port P --conns N --pid PID [--size S]
//   startup --exec PLUGHOSTD --config FILE
//
// Each mode prints a summary and, last, one machine-readable line:
//   RESULT key=value key=value ...
// It exits non-zero when the instrument saw something wrong (a wrong echoed byte, a failed connection).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

std::uint64_t nowNs() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count());
}

class Options {
public:
    Options(int argc, char** argv) {
        for (int i = 2; i + 1 < argc; i += 2) {
            values_[std::string(argv[i]).substr(2)] = argv[i + 1];
        }
    }
    std::string text(const std::string& key, const std::string& fallback = "") const {
        const auto found = values_.find(key);
        return found == values_.end() ? fallback : found->second;
    }
    double number(const std::string& key, double fallback) const {
        const auto found = values_.find(key);
        return found == values_.end() ? fallback : std::stod(found->second);
    }

private:
    std::map<std::string, std::string> values_;
};

int connectTo(const std::string& host, int port, bool blocking) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | (blocking ? 0 : SOCK_NONBLOCK), 0);
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    ::inet_pton(AF_INET, host.c_str(), &address.sin_addr);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 && errno != EINPROGRESS) {
        ::close(fd);
        return -1;
    }
    return fd;
}

int connectSmallWindow(const std::string& host, int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    const int window = 2048;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &window, sizeof window);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    ::inet_pton(AF_INET, host.c_str(), &address.sin_addr);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

void setBlocking(int fd, bool blocking) {
    const int flags = ::fcntl(fd, F_GETFL);
    ::fcntl(fd, F_SETFL, blocking ? flags & ~O_NONBLOCK : flags | O_NONBLOCK);
}

double percentile(std::vector<std::uint64_t>& values, double p) {
    if (values.empty()) {
        return 0;
    }
    const std::size_t index = std::min(values.size() - 1, static_cast<std::size_t>(p / 100.0 * static_cast<double>(values.size())));
    std::nth_element(values.begin(), values.begin() + static_cast<long>(index), values.end());
    return static_cast<double>(values[index]) / 1000.0;  // µs
}

void raiseFileLimit() {
    rlimit limit{};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
}

// ---- echo --------------------------------------------------------------------

// Bytes are a function of their position in the stream, so every echoed byte can be checked.
constexpr std::size_t kPatternPeriod = 251;
const std::string& pattern() {
    static const std::string bytes = [] {
        std::string text(kPatternPeriod * 2 + 65536 * 2, '\0');
        for (std::size_t i = 0; i < text.size(); ++i) {
            text[i] = static_cast<char>((i % kPatternPeriod) * 97 + 13);
        }
        return text;
    }();
    return bytes;
}

struct EchoConnection {
    int fd = -1;
    std::uint64_t sent = 0;      // bytes sent
    std::uint64_t allowed = 0;   // bytes the window allows to be sent
    std::uint64_t received = 0;  // bytes received and checked
    std::uint64_t completed = 0; // messages fully echoed
    std::vector<std::uint64_t> started;  // send time of each message in flight, by message number % inflight
    bool wantWrite = false;
};

struct EchoStats {
    std::uint64_t messages = 0;
    std::uint64_t bytes = 0;
    std::uint64_t errors = 0;
    std::vector<std::uint64_t> latencies;
};

void echoWorker(const Options& options, int conns, EchoStats& stats, std::atomic<bool>& measuring,
                std::atomic<bool>& stop) {
    const std::size_t size = static_cast<std::size_t>(options.number("size", 64));
    const std::size_t inflight = static_cast<std::size_t>(options.number("inflight", 1));
    const int epoll = ::epoll_create1(0);
    std::vector<EchoConnection> connections(static_cast<std::size_t>(conns));
    std::vector<char> buffer(1 << 20);
    auto pump = [&](EchoConnection& c) {
        while (c.sent < c.allowed) {
            const std::size_t offset = c.sent % kPatternPeriod;
            const std::size_t length = std::min<std::uint64_t>(c.allowed - c.sent, 65536);
            const ssize_t n = ::send(c.fd, pattern().data() + offset, length, MSG_NOSIGNAL);
            if (n <= 0) {
                break;
            }
            c.sent += static_cast<std::uint64_t>(n);
        }
        const bool want = c.sent < c.allowed;
        if (want != c.wantWrite) {
            c.wantWrite = want;
            epoll_event event{};
            event.events = EPOLLIN | (want ? static_cast<std::uint32_t>(EPOLLOUT) : 0u);
            event.data.ptr = &c;
            ::epoll_ctl(epoll, EPOLL_CTL_MOD, c.fd, &event);
        }
    };
    for (auto& c : connections) {
        c.fd = connectTo(options.text("host", "127.0.0.1"), static_cast<int>(options.number("port", 0)), true);
        if (c.fd < 0) {
            ++stats.errors;
            continue;
        }
        setBlocking(c.fd, false);
        c.started.assign(inflight, nowNs());
        c.allowed = size * inflight;
        epoll_event event{};
        event.events = EPOLLIN;
        event.data.ptr = &c;
        ::epoll_ctl(epoll, EPOLL_CTL_ADD, c.fd, &event);
        pump(c);
    }
    epoll_event events[256];
    while (!stop) {
        const int ready = ::epoll_wait(epoll, events, 256, 100);
        for (int i = 0; i < ready; ++i) {
            auto& c = *static_cast<EchoConnection*>(events[i].data.ptr);
            if (events[i].events & EPOLLIN) {
                const ssize_t n = ::recv(c.fd, buffer.data(), buffer.size(), 0);
                if (n <= 0) {
                    if (n == 0 || errno != EAGAIN) {
                        ++stats.errors;
                        ::epoll_ctl(epoll, EPOLL_CTL_DEL, c.fd, nullptr);
                    }
                    continue;
                }
                if (std::memcmp(buffer.data(), pattern().data() + c.received % kPatternPeriod, static_cast<std::size_t>(n)) != 0) {
                    ++stats.errors;
                }
                c.received += static_cast<std::uint64_t>(n);
                const std::uint64_t now = nowNs();
                while (c.received >= (c.completed + 1) * size) {
                    const std::size_t slot = c.completed % inflight;
                    if (measuring) {
                        stats.latencies.push_back(now - c.started[slot]);
                        ++stats.messages;
                        stats.bytes += size;
                    }
                    ++c.completed;
                    c.started[slot] = now;  // the message that replaces it starts now
                    c.allowed += size;
                }
            }
            pump(c);
        }
    }
    for (auto& c : connections) {
        if (c.fd >= 0) {
            ::close(c.fd);
        }
    }
    ::close(epoll);
}

int runEcho(const Options& options) {
    const int conns = static_cast<int>(options.number("conns", 1));
    const int threads = std::max(1, std::min(conns, static_cast<int>(options.number("threads", 1))));
    const double duration = options.number("duration", 3);
    const double warmup = options.number("warmup", 0.5);
    std::vector<EchoStats> stats(static_cast<std::size_t>(threads));
    std::atomic<bool> measuring{false};
    std::atomic<bool> stop{false};
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        const int share = conns / threads + (t < conns % threads ? 1 : 0);
        workers.emplace_back([&, t, share] { echoWorker(options, share, stats[static_cast<std::size_t>(t)], measuring, stop); });
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(warmup));
    measuring = true;
    const auto began = Clock::now();
    std::this_thread::sleep_for(std::chrono::duration<double>(duration));
    measuring = false;
    const double seconds = std::chrono::duration<double>(Clock::now() - began).count();
    stop = true;
    for (auto& worker : workers) {
        worker.join();
    }
    EchoStats total;
    for (auto& s : stats) {
        total.messages += s.messages;
        total.bytes += s.bytes;
        total.errors += s.errors;
        total.latencies.insert(total.latencies.end(), s.latencies.begin(), s.latencies.end());
    }
    const double rate = static_cast<double>(total.messages) / seconds;
    const double mbps = static_cast<double>(total.bytes) / seconds / 1e6;
    const double p50 = percentile(total.latencies, 50), p90 = percentile(total.latencies, 90),
                 p99 = percentile(total.latencies, 99), max = percentile(total.latencies, 100);
    std::printf("echo: %d conns x %.0f B (inflight %.0f): %.0f round trips/s, %.1f MB/s, latency p50 %.1f p90 %.1f p99 %.1f max %.1f us, %llu errors\n",
                conns, options.number("size", 64), options.number("inflight", 1), rate, mbps, p50, p90, p99, max,
                static_cast<unsigned long long>(total.errors));
    std::printf("RESULT mode=echo rtt_per_s=%.0f mb_per_s=%.1f p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%.1f errors=%llu\n", rate,
                mbps, p50, p90, p99, max, static_cast<unsigned long long>(total.errors));
    return total.errors == 0 && total.messages > 0 ? 0 : 1;
}

// ---- chat --------------------------------------------------------------------

struct Member {
    int fd = -1;
    int index = 0;
    bool joined = false;
    bool sentNick = false;
    bool stalled = false;
    std::string buffer;
    std::vector<std::vector<bool>> seen;     // by sender, by sequence number
    std::vector<std::int64_t> highest;       // by sender
};

struct ChatStats {
    std::uint64_t received = 0, duplicated = 0, reordered = 0, errors = 0;
    std::vector<std::uint64_t> latencies;
};

// Finds "~m SENDER SEQ TIME~" in one line of whatever the server relayed.
void scanLine(Member& member, const std::string& line, ChatStats& stats, std::uint64_t now) {
    const auto at = line.find("~m ");
    if (at == std::string::npos) {
        return;
    }
    unsigned sender = 0;
    long long seq = 0;
    unsigned long long sentAt = 0;
    if (std::sscanf(line.c_str() + at, "~m %u %lld %llu~", &sender, &seq, &sentAt) != 3 || sender >= member.seen.size() ||
        seq < 0 || static_cast<std::size_t>(seq) >= member.seen[sender].size()) {
        ++stats.errors;
        return;
    }
    auto&& mark = member.seen[sender][static_cast<std::size_t>(seq)];
    if (mark) {
        ++stats.duplicated;
        return;
    }
    mark = true;
    if (seq < member.highest[sender]) {
        ++stats.reordered;
    }
    member.highest[sender] = std::max<std::int64_t>(member.highest[sender], seq);
    ++stats.received;
    stats.latencies.push_back(now - sentAt);
}

int runChat(const Options& options) {
    raiseFileLimit();
    const int members = static_cast<int>(options.number("members", 10));
    const int senders = static_cast<int>(options.number("senders", 1));
    const double rate = options.number("rate", 10);
    const double duration = options.number("duration", 3);
    const std::string dialect = options.text("dialect", "line");
    const bool withStalled = options.number("stalled", 0) > 0;
    const int port = static_cast<int>(options.number("port", 0));
    const std::size_t perSender = static_cast<std::size_t>(rate * duration * 1.5) + 16;
    const int total = members + (withStalled ? 1 : 0);
    const int epoll = ::epoll_create1(0);
    std::vector<Member> room(static_cast<std::size_t>(total));
    ChatStats stats;
    auto readInto = [&](Member& m, std::uint64_t now) -> bool {
        char chunk[65536];
        for (;;) {
            const ssize_t n = ::recv(m.fd, chunk, sizeof chunk, MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN)) {
                return false;
            }
            if (n < 0) {
                return true;
            }
            m.buffer.append(chunk, static_cast<std::size_t>(n));
            if (!m.joined) {
                if (dialect == "line") {
                    if (!m.sentNick && m.buffer.find("* Choose a nickname") != std::string::npos) {
                        const std::string nick = "m" + std::to_string(m.index) + "\n";
                        ::send(m.fd, nick.data(), nick.size(), MSG_NOSIGNAL);
                        m.sentNick = true;
                    }
                    if (m.buffer.find("* Welcome") != std::string::npos) {
                        m.joined = true;
                    }
                } else if (dialect == "seed") {
                    if (!m.sentNick && m.buffer.find("NICK") != std::string::npos) {
                        const std::string nick = "m" + std::to_string(m.index);
                        ::send(m.fd, nick.data(), nick.size(), MSG_NOSIGNAL);
                        m.sentNick = true;
                    }
                    if (m.buffer.find("Connected to server!") != std::string::npos) {
                        m.joined = true;
                    }
                }
                if (m.joined) {
                    m.buffer.clear();
                }
                continue;
            }
            std::size_t start = 0;
            for (std::size_t newline; (newline = m.buffer.find('\n', start)) != std::string::npos; start = newline + 1) {
                scanLine(m, m.buffer.substr(start, newline - start), stats, now);
            }
            m.buffer.erase(0, start);
        }
    };
    for (int i = 0; i < total; ++i) {
        Member& m = room[static_cast<std::size_t>(i)];
        m.index = i;
        m.stalled = withStalled && i == total - 1;
        if (m.stalled) {
            // A small receive window, as a client on a slow link has: its backlog builds up in the server, not in our kernel.
            m.fd = connectSmallWindow("127.0.0.1", port);
        } else {
            m.fd = connectTo("127.0.0.1", port, true);
        }
        if (m.fd < 0) {
            std::printf("chat: connection %d failed: %s\n", i, std::strerror(errno));
            return 1;
        }
        setBlocking(m.fd, false);
        m.joined = dialect == "ncat";
        m.seen.assign(static_cast<std::size_t>(senders), std::vector<bool>(perSender, false));
        m.highest.assign(static_cast<std::size_t>(senders), -1);
        epoll_event event{};
        event.events = EPOLLIN;
        event.data.ptr = &m;
        ::epoll_ctl(epoll, EPOLL_CTL_ADD, m.fd, &event);
    }
    // Everyone joins before anyone talks.
    epoll_event events[512];
    const auto joinDeadline = Clock::now() + std::chrono::seconds(30);
    auto allJoined = [&] { return std::all_of(room.begin(), room.end(), [](const Member& m) { return m.joined; }); };
    while (!allJoined() && Clock::now() < joinDeadline) {
        const int ready = ::epoll_wait(epoll, events, 512, 50);
        for (int i = 0; i < ready; ++i) {
            readInto(*static_cast<Member*>(events[i].data.ptr), nowNs());
        }
    }
    if (!allJoined()) {
        std::printf("chat: not every member could join within 30 s\n");
        return 1;
    }
    if (dialect == "ncat") {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));  // ncat has no handshake to wait for
    }
    for (auto& m : room) {  // drain join notices
        readInto(m, nowNs());
        m.buffer.clear();
    }
    if (withStalled) {
        ::epoll_ctl(epoll, EPOLL_CTL_DEL, room.back().fd, nullptr);  // from now on it never reads
    }

    std::uint64_t sent = 0;
    std::vector<std::uint64_t> nextSend(static_cast<std::size_t>(senders), nowNs());
    std::vector<std::int64_t> sequence(static_cast<std::size_t>(senders), 0);
    const std::uint64_t interval = static_cast<std::uint64_t>(1e9 / rate);
    const std::uint64_t sendUntil = nowNs() + static_cast<std::uint64_t>(duration * 1e9);
    const int receivers = members - (dialect == "seed" ? 0 : 1);
    const auto began = Clock::now();
    std::uint64_t graceUntil = sendUntil + 3'000'000'000ULL;
    for (;;) {
        const std::uint64_t now = nowNs();
        for (int s = 0; s < senders && now < sendUntil; ++s) {
            while (nextSend[static_cast<std::size_t>(s)] <= now && now < sendUntil) {
                char message[128];
                const std::string prefix = dialect == "seed" ? "m" + std::to_string(s) + ": " : "";
                const int length = std::snprintf(message, sizeof message, "%s~m %d %lld %llu~\n", prefix.c_str(), s,
                                                 static_cast<long long>(sequence[static_cast<std::size_t>(s)]++),
                                                 static_cast<unsigned long long>(nowNs()));
                if (::send(room[static_cast<std::size_t>(s)].fd, message, static_cast<std::size_t>(length), MSG_NOSIGNAL) != length) {
                    ++stats.errors;
                }
                ++sent;
                nextSend[static_cast<std::size_t>(s)] += interval;
            }
        }
        if (now >= sendUntil && (stats.received + stats.duplicated >= sent * static_cast<std::uint64_t>(receivers) || now >= graceUntil)) {
            break;
        }
        std::uint64_t wake = now >= sendUntil ? now + 10'000'000 : *std::min_element(nextSend.begin(), nextSend.end());
        const int timeout = wake > now ? static_cast<int>((wake - now) / 1'000'000) : 0;
        const int ready = ::epoll_wait(epoll, events, 512, timeout);
        for (int i = 0; i < ready; ++i) {
            if (!readInto(*static_cast<Member*>(events[i].data.ptr), nowNs())) {
                ++stats.errors;
                ::epoll_ctl(epoll, EPOLL_CTL_DEL, static_cast<Member*>(events[i].data.ptr)->fd, nullptr);
            }
        }
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - began).count();
    int stalledClosed = -1;
    if (withStalled) {
        // Read what it was sent until the server's close shows up (bounded).
        Member& stalled = room.back();
        stalledClosed = 0;
        const auto deadline = Clock::now() + std::chrono::seconds(10);
        char chunk[65536];
        while (Clock::now() < deadline) {
            const ssize_t n = ::recv(stalled.fd, chunk, sizeof chunk, MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN)) {
                stalledClosed = 1;
                break;
            }
            if (n < 0) {
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
            }
        }
    }
    const std::uint64_t expected = sent * static_cast<std::uint64_t>(receivers);
    const std::uint64_t lost = expected > stats.received ? expected - stats.received : 0;
    const double p50 = percentile(stats.latencies, 50), p99 = percentile(stats.latencies, 99),
                 max = percentile(stats.latencies, 100);
    std::printf("chat (%s): %d members, %d senders x %.0f msg/s: sent %llu, expected %llu deliveries, received %llu, lost %llu, "
                "duplicated %llu, out of order %llu; %.0f deliveries/s; latency p50 %.1f p99 %.1f max %.1f us%s\n",
                dialect.c_str(), members, senders, rate, static_cast<unsigned long long>(sent),
                static_cast<unsigned long long>(expected), static_cast<unsigned long long>(stats.received),
                static_cast<unsigned long long>(lost), static_cast<unsigned long long>(stats.duplicated),
                static_cast<unsigned long long>(stats.reordered), static_cast<double>(stats.received) / seconds, p50, p99, max,
                withStalled ? (stalledClosed == 1 ? "; the stalled member was closed" : "; the stalled member was NOT closed") : "");
    std::printf("RESULT mode=chat sent=%llu expected=%llu received=%llu lost=%llu duplicated=%llu reordered=%llu "
                "deliveries_per_s=%.0f p50_us=%.1f p99_us=%.1f max_us=%.1f stalled_closed=%d errors=%llu\n",
                static_cast<unsigned long long>(sent), static_cast<unsigned long long>(expected),
                static_cast<unsigned long long>(stats.received), static_cast<unsigned long long>(lost),
                static_cast<unsigned long long>(stats.duplicated), static_cast<unsigned long long>(stats.reordered),
                static_cast<double>(stats.received) / seconds, p50, p99, max, stalledClosed,
                static_cast<unsigned long long>(stats.errors));
    for (auto& m : room) {
        ::close(m.fd);
    }
    return sent > 0 ? 0 : 1;
}

// ---- hold --------------------------------------------------------------------

long residentKiB(const std::string& pid) {
    std::ifstream status("/proc/" + pid + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) == 0) {
            return std::stol(line.substr(6));
        }
    }
    return -1;
}

int runHold(const Options& options) {
    raiseFileLimit();
    const int conns = static_cast<int>(options.number("conns", 100));
    const std::size_t size = static_cast<std::size_t>(options.number("size", 16));
    const std::string pid = options.text("pid", "");
    const int port = static_cast<int>(options.number("port", 0));
    const long before = pid.empty() ? -1 : residentKiB(pid);
    std::vector<int> fds;
    int failed = 0;
    for (int i = 0; i < conns; ++i) {
        const int fd = connectTo("127.0.0.1", port, true);
        if (fd < 0) {
            ++failed;
            continue;
        }
        fds.push_back(fd);
    }
    // Every connection still works: a message each way, checked.
    int verified = 0;
    const std::string message = pattern().substr(0, size);
    for (const int fd : fds) {
        ::send(fd, message.data(), message.size(), MSG_NOSIGNAL);
    }
    timeval timeout{5, 0};
    for (const int fd : fds) {
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        std::string got;
        char chunk[4096];
        while (got.size() < size) {
            const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
            if (n <= 0) {
                break;
            }
            got.append(chunk, static_cast<std::size_t>(n));
        }
        verified += got == message ? 1 : 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const long after = pid.empty() ? -1 : residentKiB(pid);
    const double perConnection = before >= 0 && after >= 0 && !fds.empty() ? static_cast<double>(after - before) / static_cast<double>(fds.size()) : -1;
    std::printf("hold: %d of %d connections open, %d verified; server RSS %ld KiB -> %ld KiB, %.2f KiB per connection\n",
                static_cast<int>(fds.size()), conns, verified, before, after, perConnection);
    std::printf("RESULT mode=hold conns=%d open=%d verified=%d rss_before_kib=%ld rss_after_kib=%ld kib_per_conn=%.2f\n", conns,
                static_cast<int>(fds.size()), verified, before, after, perConnection);
    for (const int fd : fds) {
        ::close(fd);
    }
    return failed == 0 && verified == conns ? 0 : 1;
}

// ---- startup -----------------------------------------------------------------

// From exec to every service of the config accepting connections.
int runStartup(const Options& options) {
    char scratch[] = "/tmp/plughost-startup-XXXXXX";
    if (::mkdtemp(scratch) == nullptr) {
        return 1;
    }
    const std::string ready = std::string(scratch) + "/ready";
    const std::string binary = options.text("exec");
    const std::string config = options.text("config");
    const auto began = Clock::now();
    const pid_t child = ::fork();
    if (child == 0) {
        const int null = ::open("/dev/null", O_WRONLY);
        ::dup2(null, 1);
        ::dup2(null, 2);
        ::execl(binary.c_str(), binary.c_str(), "--config", config.c_str(), "--ready-file", ready.c_str(), nullptr);
        ::_exit(127);
    }
    std::vector<int> ports;
    const auto deadline = began + std::chrono::seconds(10);
    struct stat info {};
    while (::stat(ready.c_str(), &info) != 0 && Clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    std::ifstream in(ready);
    std::string service, address;
    while (in >> service >> address) {
        ports.push_back(std::stoi(address.substr(address.rfind(':') + 1)));
    }
    int accepting = 0;
    for (const int port : ports) {
        while (Clock::now() < deadline) {
            const int fd = connectTo("127.0.0.1", port, true);
            if (fd >= 0) {
                ::close(fd);
                ++accepting;
                break;
            }
        }
    }
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - began).count();
    ::kill(child, SIGTERM);
    int status = 0;
    ::waitpid(child, &status, 0);
    std::remove(ready.c_str());
    ::rmdir(scratch);
    std::printf("startup: %d of %d listeners accepting %.1f ms after exec\n", accepting, static_cast<int>(ports.size()), ms);
    std::printf("RESULT mode=startup ms=%.1f listeners=%d accepting=%d\n", ms, static_cast<int>(ports.size()), accepting);
    return !ports.empty() && accepting == static_cast<int>(ports.size()) ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    ::signal(SIGPIPE, SIG_IGN);
    const std::string mode = argc > 1 ? argv[1] : "";
    const Options options(argc, argv);
    if (mode == "echo") {
        return runEcho(options);
    }
    if (mode == "chat") {
        return runChat(options);
    }
    if (mode == "hold") {
        return runHold(options);
    }
    if (mode == "startup") {
        return runStartup(options);
    }
    std::fprintf(stderr, "usage: plughost-loadgen echo|chat|hold|startup --option value ... (see bench/README.md)\n");
    return 2;
}
