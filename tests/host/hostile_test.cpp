// The hostile-client suite: each case runs against the real host while well-behaved
// clients exchange data with every plugin. Afterwards they must have seen every
// byte they expected, the host must still serve, its open descriptors must be
// back to the baseline and its memory must not have grown beyond a small bound.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <atomic>
#include <regex>
#include <thread>

#include "support/client.h"
#include "support/host_process.h"

namespace {

using namespace plughost::test;
using Clock = std::chrono::steady_clock;

// The number after "KEY": in the status JSON object of `service`.
long statusField(const std::string& status, const std::string& service, const std::string& key) {
    const auto start = status.find("\"name\": \"" + service + "\"");
    if (start == std::string::npos) {
        return -1;
    }
    const auto end = status.find("\"name\": ", start + 1);
    const auto at = status.substr(start, end == std::string::npos ? std::string::npos : end - start)
                        .find("\"" + key + "\": ");
    return at == std::string::npos ? -1 : std::stol(status.substr(start + at + key.size() + 4));
}

// workers: 4, so sessions of one scene sit on several loops and the cross-loop send path runs on any machine.
const char* kServices = R"(workers: 4
services:
  echo:
    plugin: echo
    listen: 127.0.0.1:0
    max_connections: 300
    max_queue: 256KiB
    send_timeout: 2s
  confirm:
    plugin: confirm
    listen: 127.0.0.1:0
    max_line: 1024
    idle_timeout: 1s
  chat:
    plugin: chat
    listen: 127.0.0.1:0
    max_line: 1024
)";

// The host, plus well-behaved clients of every plugin running in the background.
class Scene {
public:
    explicit Scene(const std::string& yaml = kServices) : host_(yaml) {
        if (!host_.started()) {
            ADD_FAILURE() << host_.log();
            return;
        }
        threads_.emplace_back([this] { echoClient(); });
        threads_.emplace_back([this] { confirmClient(); });
        threads_.emplace_back([this] { chatPair(); });
        // Let them settle, then take the baseline they keep up.
        eventually([this] { return echoed_ > 0 && confirmed_ > 0 && chatted_ > 0; }, 10s);
        baselineFds_ = host_.openFds();
        baselineKiB_ = host_.residentKiB();
    }

    ~Scene() { stop(); }

    HostProcess& host() { return host_; }
    std::uint16_t port(const std::string& service) { return host_.port(service); }

    // Stops the good clients and checks everything the suite promises.
    void verify() {
        const auto progress = [this] { return echoed_.load() + confirmed_.load() + chatted_.load(); };
        const auto before = progress();
        EXPECT_TRUE(eventually([&] { return progress() > before + 3; }, 10s)) << "the good clients stalled";
        stop();
        EXPECT_EQ(failures_.load(), 0) << "a well-behaved client saw something wrong:\n" << firstFailure_;
        Client fresh(port("echo"));
        ASSERT_TRUE(fresh.send("still serving"));
        EXPECT_EQ(fresh.readExactly(13), "still serving");
        fresh.close();
        EXPECT_TRUE(eventually([&] { return host_.openFds() <= baselineFds_; }, 10s))
            << "descriptors: " << host_.openFds() << " now, " << baselineFds_ << " before";
        const long grown = host_.residentKiB() - baselineKiB_;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
        // Sanitizers keep freed memory (quarantine, shadow, history): the bound means nothing there.
        (void)grown;
#else
        EXPECT_LT(grown, 32 * 1024) << "resident memory grew by " << grown << " KiB";
#endif
        std::printf("[ scene    ] fds %d before, %d after; RSS %ld KiB before, %ld KiB after\n", baselineFds_,
                    host_.openFds(), baselineKiB_, host_.residentKiB());
    }

private:
    void fail(const std::string& what) {
        if (failures_++ == 0) {
            firstFailure_ = what;
        }
    }

    void stop() {
        stopping_ = true;
        for (auto& thread : threads_) {
            thread.join();
        }
        threads_.clear();
    }

    void echoClient() {
        Client client(port("echo"));
        for (int i = 0; !stopping_ && i < 100000; ++i) {
            const std::string chunk(4096, static_cast<char>('a' + i % 26));
            if (!client.send(chunk) || client.readExactly(chunk.size(), 10s) != chunk) {
                return fail("echo round " + std::to_string(i));
            }
            ++echoed_;
        }
    }

    void confirmClient() {
        Client client(port("confirm"));
        for (int i = 0; !stopping_ && i < 100000; ++i) {
            const std::string text = "ping " + std::to_string(i);
            if (!client.send(text + "\n") || client.line(10s) != "Message received: " + text) {
                return fail("confirm round " + std::to_string(i));
            }
            ++confirmed_;
            std::this_thread::sleep_for(2ms);  // well under idle_timeout, like a real client
        }
    }

    void chatPair() {
        Client talker(port("chat"));
        Client listener(port("chat"));
        auto join = [](Client& client, const std::string& nick) {
            std::string line;
            while (client.readLine(line, 10s) && line.rfind("* Choose a nickname", 0) != 0) {
            }
            client.send(nick + "\n");
            return client.readLine(line, 10s) && line.rfind("* Welcome, " + nick, 0) == 0;
        };
        if (!join(talker, "good_talker") || !join(listener, "good_listener")) {
            return fail("chat join");
        }
        for (int i = 0; !stopping_ && i < 100000; ++i) {
            const std::string text = "message " + std::to_string(i);
            talker.send(text + "\n");
            std::string line;
            do {
                if (!listener.readLine(line, 10s)) {
                    return fail("chat: nothing arrived for " + text);
                }
            } while (line.rfind("good_talker: ", 0) != 0);  // others join, leave and talk too
            if (line != "good_talker: " + text) {
                return fail("chat: expected '" + text + "', got '" + line + "'");
            }
            ++chatted_;
            std::this_thread::sleep_for(1ms);
        }
    }

    HostProcess host_;
    std::vector<std::thread> threads_;
    std::atomic<bool> stopping_{false};
    std::atomic<long> echoed_{0}, confirmed_{0}, chatted_{0};
    std::atomic<int> failures_{0};
    std::string firstFailure_;
    int baselineFds_ = 0;
    long baselineKiB_ = 0;
};

TEST(Hostile, HugeLinesBoundaryLinesAndGarbageBytes) {
    Scene scene;
    for (const char* service : {"confirm", "chat"}) {
        Client flood(scene.port(service));
        ASSERT_TRUE(flood.send(std::string(1 << 20, 'x')));  // 1 MiB without a newline
        flood.send("\n");
        std::string rest;
        const std::string expected = std::string(service) == "confirm"
                                         ? "error: line too long (max 1024 bytes)"
                                         : "! line too long (max 1024 bytes)";
        EXPECT_TRUE(
            eventually([&] { return flood.readSome(200ms).find(expected) != std::string::npos; }, 10s))
            << service;
    }
    Client edge(scene.port("confirm"));
    ASSERT_TRUE(edge.send(std::string(1024, 'm') + "\n" + std::string(1025, 'n') + "\nafter\n"));
    EXPECT_EQ(edge.line(), "Message received: " + std::string(1024, 'm'));
    EXPECT_EQ(edge.line(), "error: line too long (max 1024 bytes)");
    EXPECT_EQ(edge.line(), "Message received: after");
    Client garbage(scene.port("chat"));
    garbage.send("evil\n");
    garbage.send(std::string("\0\0\xff\xfe\xc0\xaf\x1b[2J\x1b]0;owned\x07\r\n", 22) + std::string(500, '\0') +
                 "\n");
    Client binary(scene.port("confirm"));
    binary.send(std::string("\0\x01\x02\xff\x1b[31m\n", 10));
    EXPECT_EQ(binary.line().substr(0, 18), "Message received: ");
    EXPECT_EQ(scene.host().log().find('\x1b'), std::string::npos) << "an escape reached the operator's log";
    scene.verify();
}

TEST(Hostile, SlowlorisAndSilentClients) {
    Scene scene;
    std::vector<Client> silent;
    std::vector<Client> slow;
    for (int i = 0; i < 100; ++i) {
        silent.emplace_back(scene.port("confirm"));
        slow.emplace_back(scene.port("confirm"));
    }
    // The slow ones dribble one byte each round, never a whole line, until
    // idle_timeout (1 s) has closed every silent one; each round waits on the
    // silent ones (poll with a deadline), not on a clock.
    std::size_t closed = 0;
    int bytes = 0;
    const auto deadline = Clock::now() + 30s;
    while (closed < silent.size() && Clock::now() < deadline) {
        for (auto& client : slow) {
            ASSERT_TRUE(client.send("z"));
        }
        ++bytes;
        for (; closed < silent.size() && silent[closed].waitClosed(100ms); ++closed) {
        }
    }
    EXPECT_EQ(closed, silent.size()) << "silent clients outlived idle_timeout";
    EXPECT_GE(bytes, 2);
    // Every slow one is still open and still served: its line completes now.
    const std::string expected = "Message received: " + std::string(static_cast<std::size_t>(bytes), 'z');
    for (std::size_t i = 0; i < slow.size(); ++i) {
        ASSERT_TRUE(slow[i].send("\n"));
        EXPECT_EQ(slow[i].line(10s), expected) << "slow client " << i;
    }
    silent.clear();
    slow.clear();
    scene.verify();
}

TEST(Hostile, ClientsThatNeverReadAreClosedAsTooSlow) {
    Scene scene;
    std::vector<Client> stalled;
    for (int i = 0; i < 10; ++i) {
        stalled.emplace_back(scene.port("echo"), "127.0.0.1", "", 4096);
    }
    const std::string chunk(256 * 1024, 's');
    for (int round = 0; round < 16; ++round) {
        for (auto& client : stalled) {
            ::send(client.fd(), chunk.data(), chunk.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        }
    }
    // The host closes every one of them while none reads (waitClosed reads, so it comes after).
    const auto status = [&] {
        return runCtl({"status", "--json", "--socket", scene.host().adminSocket()}).output;
    };
    EXPECT_TRUE(eventually([&] { return statusField(status(), "echo", "too_slow") == 10; }, 30s)) << status();
    for (auto& client : stalled) {
        EXPECT_TRUE(client.waitClosed(10s));
    }
    stalled.clear();
    scene.verify();
}

TEST(Hostile, HalfCloseGetsEverythingOwedThenTheClose) {
    Scene scene;
    Client echo(scene.port("echo"));
    const std::string data(200 * 1024, 'h');
    ASSERT_TRUE(echo.send(data));
    echo.shutdownWrite();
    std::string rest;
    EXPECT_TRUE(echo.waitClosed(10s, &rest));
    EXPECT_EQ(rest.size(), data.size());
    Client confirm(scene.port("confirm"));
    ASSERT_TRUE(confirm.send("one\ntwo\n"));
    confirm.shutdownWrite();
    rest.clear();
    EXPECT_TRUE(confirm.waitClosed(10s, &rest));
    EXPECT_EQ(rest, "Message received: one\nMessage received: two\n");
    scene.verify();
}

TEST(Hostile, ResetsAndTenThousandConnectCloseCycles) {
    Scene scene;
    for (int i = 0; i < 20; ++i) {
        Client client(scene.port("echo"));
        client.send(std::string(1 << 20, 'r'));
        client.readSome(50ms);
        client.reset();  // RST in the middle of a large echo
    }
    const auto began = Clock::now();
    int cycles = 0;
    for (; cycles < 10000 && Clock::now() - began < 60s; ++cycles) {
        Client client(scene.port(cycles % 2 ? "echo" : "chat"));
        if (cycles % 3 == 0) {
            client.reset();
        }
    }
    EXPECT_EQ(cycles, 10000);
    scene.verify();
}

TEST(Hostile, BurstsBeyondEveryLimitAndADeniedAddress) {
    Scene scene(std::string(kServices) + R"(  limited:
    plugin: confirm
    listen: 127.0.0.1:0
    max_connections: 20
    max_per_ip: 10
    rate: 50
    deny: [127.0.0.2]
)");
    const auto port = scene.port("limited");
    std::vector<Client> held;
    int busy = 0;
    for (int i = 0; i < 30; ++i) {  // from one address: per-address limit first
        held.emplace_back(port);
    }
    for (int i = 0; i < 30; ++i) {  // from other addresses: the service limit
        held.emplace_back(port, "127.0.0.1", "127.0.0." + std::to_string(3 + i % 5));
    }
    for (auto& client : held) {
        client.send("hello\n");  // admitted ones answer at once; refused ones already said why
        const std::string line = client.line(5s);
        busy += line.rfind("! ", 0) == 0 ? 1 : 0;
    }
    EXPECT_GE(busy, 40);  // 20 admitted at most
    held.clear();
    Client denied(port, "127.0.0.1", "127.0.0.2");
    EXPECT_EQ(denied.line(), "! access denied");
    const auto status = runCtl({"status", "--json", "--socket", scene.host().adminSocket()}).output;
    EXPECT_GE(statusField(status, "limited", "per_ip"), 1) << status;
    EXPECT_GE(statusField(status, "limited", "limit"), 1) << status;
    EXPECT_EQ(statusField(status, "limited", "acl"), 1) << status;
    scene.verify();
}

TEST(Hostile, AdminGarbageWrongMethodsHugeBodiesAndSilence) {
    Scene scene;
    const std::string socket = scene.host().adminSocket();
    // Sends `bytes` on a fresh admin connection and leaves it open (still sending,
    // or silent), then asks for status: it must answer meanwhile.
    auto raw = [&](const std::string& bytes) {
        Client unused(scene.port("echo"));  // keep the data path busy meanwhile
        const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::snprintf(address.sun_path, sizeof address.sun_path, "%s", socket.c_str());
        EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
        ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        const auto result = runCtl({"status", "--socket", socket});
        ::close(fd);
        return result.exitCode;
    };
    EXPECT_EQ(raw(std::string(100000, '\xff')), 0);
    EXPECT_EQ(raw("PUT /status HTTP/1.1\r\n\r\n"), 0);
    EXPECT_EQ(raw("POST /reload HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n" + std::string(70000, 'b')),
              0);
    EXPECT_EQ(raw(""), 0);  // connects and says nothing
    scene.verify();
}

}  // namespace
