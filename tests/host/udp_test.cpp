// UDP on the real host: echo and confirm over real loopback datagrams, the reflection rules (source
// ports below 1024, the amplification bound), idle sessions expiring, 1,000 peers at once, a send too
// large for one datagram, TCP and UDP on one port number, and a reload that keeps the UDP sessions.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>
#include <regex>
#include <thread>

#include "support/client.h"
#include "support/host_process.h"

namespace {

using namespace plughost::test;

// A UDP socket on 127.0.0.1 (an OS-chosen port unless `port` is given).
class Peer {
public:
    explicit Peer(std::uint16_t port = 0) {
        fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(port);
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        bound_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    }
    ~Peer() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    Peer(const Peer&) = delete;
    Peer& operator=(const Peer&) = delete;
    bool bound() const { return bound_; }
    bool send(std::uint16_t port, const std::string& bytes) {
        sockaddr_in to{};
        to.sin_family = AF_INET;
        to.sin_port = htons(port);
        to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        return ::sendto(fd_, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) ==
               static_cast<ssize_t>(bytes.size());
    }
    // One datagram, or nullopt when none came within `timeout`.
    std::optional<std::string> receive(std::chrono::milliseconds timeout = 5s) {
        pollfd wanted{fd_, POLLIN, 0};
        if (::poll(&wanted, 1, static_cast<int>(timeout.count())) != 1) {
            return std::nullopt;
        }
        std::string buffer(65536, '\0');
        const ssize_t n = ::recv(fd_, buffer.data(), buffer.size(), MSG_DONTWAIT);
        if (n < 0) {
            return std::nullopt;
        }
        buffer.resize(static_cast<std::size_t>(n));
        return buffer;
    }
    // Whether a datagram is waiting now (never waits).
    bool pending() {
        pollfd wanted{fd_, POLLIN, 0};
        return ::poll(&wanted, 1, 0) == 1;
    }

private:
    int fd_ = -1;
    bool bound_ = false;
};

std::string allBytes() {
    std::string bytes;
    for (int i = 0; i < 256; ++i) {
        bytes += static_cast<char>(i);
    }
    return bytes;
}

TEST(Udp, EchoAndConfirmServeUdpWithAllByteValues) {
    HostProcess host(
        "services:\n"
        "  echo:\n    plugin: echo\n    listen:\n      - {address: 127.0.0.1:0, protocol: udp}\n"
        "  confirm:\n    plugin: confirm\n    listen:\n      - {address: 127.0.0.1:0, protocol: udp}\n"
        "    settings: {reply: \"{transport} {message}\"}\n");
    ASSERT_TRUE(host.started()) << host.log();
    Peer peer;
    ASSERT_TRUE(peer.bound());
    // Echo is raw: one datagram in, the same one back, every byte value intact.
    ASSERT_TRUE(peer.send(host.port("echo"), allBytes()));
    EXPECT_EQ(peer.receive(), allBytes());
    ASSERT_TRUE(peer.send(host.port("echo"), "second"));
    EXPECT_EQ(peer.receive(), "second");

    // Confirm is line based: each line of a datagram is one on_data, each reply one datagram; the last
    // line needs no newline. Every byte value but the line ends rides inside a line.
    std::string line;
    for (int i = 0; i < 256; ++i) {
        if (i != '\n' && i != '\r') {
            line += static_cast<char>(i);
        }
    }
    ASSERT_TRUE(peer.send(host.port("confirm"), "one\n" + line));
    EXPECT_EQ(peer.receive(), "udp one\n");
    EXPECT_EQ(peer.receive(), "udp " + line + "\n");
    std::string status;
    EXPECT_TRUE(waitStatus(host, "\"datagrams_in\" *: *2[^}]*\"datagrams_out\" *: *2", status)) << status;
    EXPECT_NE(host.addresses("echo").front().find("/udp"), std::string::npos);
}

TEST(Udp, DatagramsFromPortsBelow1024AreDroppedAndCounted) {
    if (::geteuid() != 0) {
        GTEST_SKIP() << "binding a source port below 1024 needs root";
    }
    HostProcess host(
        "services:\n  echo:\n    plugin: echo\n    listen: [{address: 127.0.0.1:0, protocol: udp}]\n");
    ASSERT_TRUE(host.started()) << host.log();
    std::unique_ptr<Peer> reflector;
    for (std::uint16_t port = 1000; port > 900 && !reflector; --port) {
        auto candidate = std::make_unique<Peer>(port);
        if (candidate->bound()) {
            reflector = std::move(candidate);
        }
    }
    ASSERT_TRUE(reflector) << "no free port below 1024";
    ASSERT_TRUE(reflector->send(host.port("echo"), "bounced"));
    std::string status;
    ASSERT_TRUE(waitStatus(host, "\"low_port\" *: *1", status)) << status;
    EXPECT_TRUE(std::regex_search(status, std::regex("\"accepted\" *: *0"))) << status;
    EXPECT_FALSE(reflector->pending());  // dropped before any session: nothing was or will be sent
    // A well-behaved peer beside it is served.
    Peer peer;
    ASSERT_TRUE(peer.send(host.port("echo"), "fine"));
    EXPECT_EQ(peer.receive(), "fine");
}

TEST(Udp, ASessionNeverSendsMoreThanTheAmplificationBound) {
    HostProcess host(
        "services:\n"
        "  loud:\n    plugin: confirm\n    listen: [{address: 127.0.0.1:0, protocol: udp}]\n"
        "    udp_amplification: 3\n"
        "    settings: {reply: \"{message}{message}{message}{message}{message}\"}\n"
        "  quiet:\n    plugin: confirm\n    listen: [{address: 127.0.0.1:0, protocol: udp}]\n"
        "    udp_amplification: 3\n    settings: {reply: \"{message}{message}\"}\n");
    ASSERT_TRUE(host.started()) << host.log();
    Peer peer;
    // 10 bytes in; a reply of 5 x 10 + 1 would be more than 3 x 10: dropped, counted.
    ASSERT_TRUE(peer.send(host.port("loud"), "abcdefghij"));
    std::string status;
    ASSERT_TRUE(waitStatus(host, "\"amplification\" *: *1", status)) << status;
    EXPECT_FALSE(peer.pending());
    // 2 x 10 + 1 fits under 3 x 10, twice over three datagrams of budget (the budget adds up).
    ASSERT_TRUE(peer.send(host.port("quiet"), "abcdefghij"));
    EXPECT_EQ(peer.receive(), "abcdefghijabcdefghij\n");
    ASSERT_TRUE(peer.send(host.port("quiet"), "klmnopqrst"));
    EXPECT_EQ(peer.receive(), "klmnopqrstklmnopqrst\n");
    // A fresh peer, five lines in one 20-byte datagram: a budget of 60 bytes. Each reply is 16 bytes:
    // three fit (48), the fourth and fifth would pass the bound and are dropped.
    Peer other;
    std::string lines;
    for (int i = 0; i < 5; ++i) {
        lines += "abc\n";
    }
    ASSERT_TRUE(other.send(host.port("loud"), lines));
    std::size_t received = 0;
    for (int i = 0; i < 3; ++i) {
        const auto reply = other.receive();
        ASSERT_TRUE(reply);
        EXPECT_EQ(*reply, "abcabcabcabcabc\n");
        received += reply->size();
    }
    EXPECT_LE(received, 3u * lines.size());
    ASSERT_TRUE(waitStatus(host, "\"amplification\" *: *3", status)) << status;
    EXPECT_FALSE(other.pending());
}

TEST(Udp, AdmissionAppliesToTheFirstDatagramAndARefusedPeerGetsNoAnswer) {
    HostProcess host(
        "services:\n  echo:\n    plugin: echo\n    listen: [{address: 127.0.0.1:0, protocol: udp}]\n"
        "    max_connections: 1\n  guarded:\n    plugin: echo\n"
        "    listen: [{address: 127.0.0.1:0, protocol: udp}]\n    deny: [127.0.0.1]\n");
    ASSERT_TRUE(host.started()) << host.log();
    Peer first;
    Peer second;
    ASSERT_TRUE(first.send(host.port("echo"), "one"));
    EXPECT_EQ(first.receive(), "one");
    // max_connections counts UDP sessions: a second peer is refused, silently, while the first is served.
    ASSERT_TRUE(second.send(host.port("echo"), "two"));
    std::string status;
    ASSERT_TRUE(waitStatus(host, "\"refused\" *: *\\{[^}]*\"limit\" *: *1", status)) << status;
    EXPECT_TRUE(std::regex_search(status, std::regex("\"refused\" *: *1"))) << status;
    EXPECT_FALSE(second.pending());
    ASSERT_TRUE(first.send(host.port("echo"), "still"));
    EXPECT_EQ(first.receive(), "still");
    // deny applies too.
    ASSERT_TRUE(first.send(host.port("guarded"), "let me in"));
    ASSERT_TRUE(waitStatus(host, "\"acl\" *: *1", status)) << status;
    EXPECT_FALSE(first.pending());
}

// max_per_ip and rate count UDP sessions (new remote ports) per source address, as they count TCP
// connections; each refusal is silent and counted by its reason.
TEST(Udp, MaxPerIpAndRateApplyToNewPeers) {
    HostProcess host(
        "services:\n  perip:\n    plugin: echo\n    listen: [{address: 127.0.0.1:0, protocol: udp}]\n"
        "    max_per_ip: 2\n  rated:\n    plugin: echo\n"
        "    listen: [{address: 127.0.0.1:0, protocol: udp}]\n    rate: 1\n");
    ASSERT_TRUE(host.started()) << host.log();
    Peer a;
    Peer b;
    Peer c;
    ASSERT_TRUE(a.send(host.port("perip"), "a"));
    EXPECT_EQ(a.receive(), "a");
    ASSERT_TRUE(b.send(host.port("perip"), "b"));
    EXPECT_EQ(b.receive(), "b");
    ASSERT_TRUE(c.send(host.port("perip"), "c"));  // a third port of 127.0.0.1
    std::string status;
    ASSERT_TRUE(waitStatus(host, "\"per_ip\" *: *1\\b", status)) << status;
    EXPECT_FALSE(c.pending());
    ASSERT_TRUE(a.send(host.port("perip"), "a again"));  // the two admitted peers go on
    EXPECT_EQ(a.receive(), "a again");

    // rate: 1 new session per second per address (burst 1): of a quick second and third peer at
    // least one is refused; the first peer keeps being answered.
    ASSERT_TRUE(a.send(host.port("rated"), "first"));
    EXPECT_EQ(a.receive(), "first");
    ASSERT_TRUE(b.send(host.port("rated"), "second"));
    ASSERT_TRUE(c.send(host.port("rated"), "third"));
    ASSERT_TRUE(waitStatus(host, "\"rate\" *: *[12]\\b", status)) << status;
    ASSERT_TRUE(a.send(host.port("rated"), "first again"));
    EXPECT_EQ(a.receive(), "first again");
}

TEST(Udp, IdleSessionsExpire) {
    HostProcess host(
        "services:\n  echo:\n    plugin: echo\n    listen: [{address: 127.0.0.1:0, protocol: udp}]\n"
        "    idle_timeout: 300ms\n");
    ASSERT_TRUE(host.started()) << host.log();
    Peer peer;
    ASSERT_TRUE(peer.send(host.port("echo"), "hi"));
    EXPECT_EQ(peer.receive(), "hi");
    std::string status;
    EXPECT_TRUE(waitStatus(host, "\"connections\" *: *1", status)) << status;
    EXPECT_TRUE(waitStatus(host, "\"connections\" *: *0", status)) << status;
    // The same peer again is a new session.
    ASSERT_TRUE(peer.send(host.port("echo"), "again"));
    EXPECT_EQ(peer.receive(), "again");
    EXPECT_TRUE(waitStatus(host, "\"accepted\" *: *2", status)) << status;
}

TEST(Udp, AThousandPeersAtOnce) {
    rlimit limit{};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    if (limit.rlim_cur < 1200 && limit.rlim_max >= 1200) {
        limit.rlim_cur = std::min<rlim_t>(limit.rlim_max, 4096);
        ::setrlimit(RLIMIT_NOFILE, &limit);
    }
    HostProcess host(
        "services:\n  echo:\n    plugin: echo\n    listen: [{address: 127.0.0.1:0, protocol: udp}]\n"
        "    max_connections: 2000\n");
    ASSERT_TRUE(host.started()) << host.log();
    constexpr int kPeers = 1000;
    std::vector<std::unique_ptr<Peer>> peers;
    for (int i = 0; i < kPeers; ++i) {
        peers.push_back(std::make_unique<Peer>());
        ASSERT_TRUE(peers.back()->bound()) << i;
    }
    for (int i = 0; i < kPeers; ++i) {
        ASSERT_TRUE(peers[i]->send(host.port("echo"), "peer " + std::to_string(i)));
    }
    int answered = 0;
    for (int i = 0; i < kPeers; ++i) {
        auto reply = peers[i]->receive();
        answered += reply == "peer " + std::to_string(i) ? 1 : 0;
    }
    EXPECT_EQ(answered, kPeers);
    std::string status;
    EXPECT_TRUE(waitStatus(host, "\"accepted\" *: *1000\\b", status)) << status;
    EXPECT_TRUE(waitStatus(host, "\"connections\" *: *1000\\b", status)) << status;
}

// The replies to a received batch go out in one sendmmsg (up to 32 at a time): a burst from one
// peer is answered completely, in order, and every reply is counted once.
TEST(Udp, ABurstFromOnePeerIsAnsweredInOrderAndCounted) {
    HostProcess host(
        "services:\n  echo:\n    plugin: echo\n    listen: [{address: 127.0.0.1:0, protocol: udp}]\n");
    ASSERT_TRUE(host.started()) << host.log();
    Peer peer;
    ASSERT_TRUE(peer.bound());
    // 100 datagrams, over three receive batches: their replies, at about 1 KiB of socket memory each
    // (the kernel's truesize, not the payload), fit the test peer's default 208 KiB receive buffer.
    constexpr int kBurst = 100;
    std::size_t bytes = 0;
    std::vector<std::string> sent;
    for (int i = 0; i < kBurst; ++i) {
        sent.push_back(std::to_string(i) + ":" + std::string(static_cast<std::size_t>(i * 7 % 300), 'x'));
        bytes += sent.back().size();
        ASSERT_TRUE(peer.send(host.port("echo"), sent.back()));
    }
    for (int i = 0; i < kBurst; ++i) {
        const auto reply = peer.receive();
        ASSERT_TRUE(reply) << "no reply " << i;
        ASSERT_EQ(*reply, sent[static_cast<std::size_t>(i)]) << i;
    }
    std::string status;
    EXPECT_TRUE(waitStatus(host,
                           "\"datagrams_in\" *: *" + std::to_string(kBurst) +
                               "\\b[^}]*\"datagrams_out\" *: *" + std::to_string(kBurst) + "\\b",
                           status))
        << status;
    EXPECT_TRUE(std::regex_search(status, std::regex("\"bytes_out\" *: *" + std::to_string(bytes) + "\\b")))
        << status;
    EXPECT_TRUE(std::regex_search(status, std::regex("\"send_failed\" *: *0\\b"))) << status;
}

TEST(Udp, ASendLargerThanADatagramIsRefusedAndLogged) {
    HostProcess host(
        "services:\n  big:\n    plugin: confirm\n    listen: [{address: 127.0.0.1:0, protocol: udp}]\n"
        "    max_line: 64KiB\n    settings: {reply: \"{message}{message}{message}{message}{message}\"}\n");
    ASSERT_TRUE(host.started()) << host.log();
    Peer peer;
    // 5 x 14,000 bytes does not fit in one datagram (65,507 bytes over IPv4).
    ASSERT_TRUE(peer.send(host.port("big"), std::string(14000, 'a')));
    std::string status;
    ASSERT_TRUE(waitStatus(host, "\"too_large\" *: *1", status)) << status;
    EXPECT_TRUE(host.waitForLog("one datagram holds at most 65507 bytes")) << host.log();
    EXPECT_FALSE(peer.pending());
    // A reply that fits still goes out (5 x 10 + 1 is within the budget of 3 x (14,000 + 10)).
    ASSERT_TRUE(peer.send(host.port("big"), "0123456789"));
    std::string expected;
    for (int i = 0; i < 5; ++i) {
        expected += "0123456789";
    }
    EXPECT_EQ(peer.receive(), expected + "\n");
}

// A port number free for both TCP and UDP on 127.0.0.1 right now.
std::uint16_t freePortForBoth() {
    for (int attempt = 0; attempt < 50; ++attempt) {
        const int tcp = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t length = sizeof address;
        ::bind(tcp, reinterpret_cast<sockaddr*>(&address), sizeof address);
        ::getsockname(tcp, reinterpret_cast<sockaddr*>(&address), &length);
        const int udp = ::socket(AF_INET, SOCK_DGRAM, 0);
        const bool free = ::bind(udp, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
        ::close(udp);
        ::close(tcp);
        if (free) {
            return ntohs(address.sin_port);
        }
    }
    return 0;
}

TEST(Udp, TcpAndUdpShareAPortNumber) {
    const std::uint16_t port = freePortForBoth();
    ASSERT_NE(port, 0);
    const std::string where = "127.0.0.1:" + std::to_string(port);
    HostProcess host("services:\n  echo:\n    plugin: echo\n    listen: [" + where +
                     "]\n  echo-udp:\n"
                     "    plugin: echo\n    listen: [{address: " +
                     where + ", protocol: udp}]\n");
    ASSERT_TRUE(host.started()) << host.log();
    Client tcp(port);
    ASSERT_TRUE(tcp.send("over tcp\n"));
    EXPECT_EQ(tcp.line(), "over tcp");
    Peer peer;
    ASSERT_TRUE(peer.send(port, "over udp"));
    EXPECT_EQ(peer.receive(), "over udp");
}

TEST(Udp, AReloadThatKeepsTheServiceKeepsItsSessions) {
    HostProcess host(
        "services:\n  echo:\n    plugin: echo\n    listen: [{address: 127.0.0.1:0, protocol: udp}]\n");
    ASSERT_TRUE(host.started()) << host.log();
    Peer peer;
    ASSERT_TRUE(peer.send(host.port("echo"), "before"));
    EXPECT_EQ(peer.receive(), "before");
    const auto reloaded = runCtl({"reload", "--socket", host.adminSocket()});
    EXPECT_EQ(reloaded.exitCode, 0) << reloaded.output;
    EXPECT_TRUE(std::regex_search(reloaded.output, std::regex("echo +unchanged"))) << reloaded.output;
    ASSERT_TRUE(peer.send(host.port("echo"), "after"));
    EXPECT_EQ(peer.receive(), "after");
    std::string status;
    // Still the one session: the reload did not end it, and "after" did not open a new one.
    EXPECT_TRUE(waitStatus(host, "\"datagrams_in\" *: *2", status)) << status;
    EXPECT_TRUE(std::regex_search(status, std::regex("\"accepted\" *: *1\\b"))) << status;
    EXPECT_TRUE(std::regex_search(status, std::regex("\"connections\" *: *1\\b"))) << status;
}

}  // namespace
