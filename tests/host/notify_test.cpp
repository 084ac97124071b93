// systemd's side of Type=notify and socket activation, played by the tests: a
// datagram socket of their own as NOTIFY_SOCKET, listening sockets they bound
// passed as LISTEN_FDS. Also the admin socket's runtime folder. No systemd runs.
#include <arpa/inet.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "support/client.h"
#include "support/host_process.h"

namespace {

using namespace plughost::test;

std::uint64_t monotonicMicros() {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<std::uint64_t>(now.tv_sec) * 1000000u +
           static_cast<std::uint64_t>(now.tv_nsec) / 1000u;
}

// The service manager's end of NOTIFY_SOCKET: an AF_UNIX datagram socket.
class NotifyReceiver {
public:
    // A socket file in `dir`, or with `abstractName` the abstract namespace ("@name").
    explicit NotifyReceiver(const TempDir& dir, const std::string& abstractName = "") {
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        socklen_t length;
        if (abstractName.empty()) {
            address_ = dir.path() + "/notify.sock";
            std::snprintf(address.sun_path, sizeof address.sun_path, "%s", address_.c_str());
            length = sizeof address;
        } else {
            address_ = "@" + abstractName;
            std::memcpy(address.sun_path + 1, abstractName.data(), abstractName.size());
            length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + abstractName.size());
        }
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&address), length) != 0) {
            ADD_FAILURE() << "cannot bind the notify socket: " << std::strerror(errno);
        }
    }
    ~NotifyReceiver() { ::close(fd_); }
    NotifyReceiver(const NotifyReceiver&) = delete;
    NotifyReceiver& operator=(const NotifyReceiver&) = delete;

    const std::string& address() const { return address_; }

    // The next datagram within `timeout`.
    std::optional<std::string> next(std::chrono::milliseconds timeout = 10s) {
        pollfd ready{fd_, POLLIN, 0};
        if (::poll(&ready, 1, static_cast<int>(timeout.count())) != 1) {
            return std::nullopt;
        }
        char buffer[4096];
        const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
        if (n < 0) {
            return std::nullopt;
        }
        std::string message(buffer, static_cast<std::size_t>(n));
        all_.push_back(message);
        return message;
    }

    // The next message that says more than STATUS= or WATCHDOG=1 (those come on timers).
    std::optional<std::string> nextState(std::chrono::milliseconds timeout = 10s) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) {
                return std::nullopt;
            }
            auto message = next(left);
            if (!message) {
                return std::nullopt;
            }
            if (message->rfind("STATUS=", 0) != 0 && *message != "WATCHDOG=1") {
                return message;
            }
        }
    }

    // Waits for a message that has the assignment `line` ("WATCHDOG=1").
    bool waitFor(const std::string& line, std::chrono::milliseconds timeout = 10s) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) {
                return false;
            }
            const auto message = next(left);
            if (!message) {
                return false;
            }
            if (has(*message, line)) {
                return true;
            }
        }
    }

    // Everything received so far, in order.
    const std::vector<std::string>& all() const { return all_; }

    static bool has(const std::string& message, const std::string& line) {
        return ("\n" + message + "\n").find("\n" + line + "\n") != std::string::npos;
    }
    // The value of `name=` in the message ("" if absent).
    static std::string value(const std::string& message, const std::string& name) {
        const std::string text = "\n" + message + "\n";
        const auto at = text.find("\n" + name + "=");
        if (at == std::string::npos) {
            return "";
        }
        const auto start = at + name.size() + 2;
        return text.substr(start, text.find('\n', start) - start);
    }

private:
    int fd_ = -1;
    std::string address_;
    std::vector<std::string> all_;
};

// A listening TCP socket the test binds itself, as systemd does for a .socket unit.
class TestListener {
public:
    explicit TestListener(std::uint16_t port = 0) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        const int on = 1;
        ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(port);
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        bound_ =
            ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 && ::listen(fd_, 64) == 0;
        socklen_t length = sizeof address;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
        port_ = ntohs(address.sin_port);
    }
    ~TestListener() { close(); }
    TestListener(const TestListener&) = delete;
    TestListener& operator=(const TestListener&) = delete;

    bool bound() const { return bound_; }
    int fd() const { return fd_; }
    std::uint16_t port() const { return port_; }
    void close() {
        if (fd_ >= 0) {
            ::close(fd_);
            fd_ = -1;
        }
    }

private:
    int fd_ = -1;
    bool bound_ = false;
    std::uint16_t port_ = 0;
};

// Whether a plain bind (with SO_REUSEADDR, as the host binds) to 127.0.0.1:port fails with EADDRINUSE.
bool portTaken(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool taken =
        ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 && errno == EADDRINUSE;
    ::close(fd);
    return taken;
}

// True if a TCP connect to 127.0.0.1:port is refused.
bool refused(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool result =
        ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 && errno == ECONNREFUSED;
    ::close(fd);
    return result;
}

bool echoes(std::uint16_t port) {
    Client client(port);
    return client.send("ping\n") && client.line() == "ping";
}

// The names of the host's threads (/proc/PID/task/*/comm).
std::vector<std::string> threadNames(pid_t pid) {
    std::vector<std::string> names;
    const std::string path = "/proc/" + std::to_string(pid) + "/task";
    if (DIR* dir = ::opendir(path.c_str())) {
        while (const dirent* entry = ::readdir(dir)) {
            if (entry->d_name[0] != '.') {
                std::string name = readFile(path + "/" + entry->d_name + "/comm");
                names.push_back(name.substr(0, name.find('\n')));
            }
        }
        ::closedir(dir);
    }
    return names;
}

bool hasThread(pid_t pid, const std::string& name) {
    const auto names = threadNames(pid);
    return std::find(names.begin(), names.end(), name) != names.end();
}

const std::string kEcho = "services:\n  echo:\n    plugin: echo\n    listen: 127.0.0.1:0\n";

Launch notifyingTo(const NotifyReceiver& receiver) {
    Launch launch;
    launch.environment["NOTIFY_SOCKET"] = receiver.address();
    return launch;
}

RunResult ctl(const HostProcess& host, std::vector<std::string> args) {
    args.push_back("--socket");
    args.push_back(host.adminSocket());
    return runCtl(args);
}

// ---- Type=notify -------------------------------------------------------------

TEST(Notify, ReadyWithStatusOnlyOnceEveryServiceAccepts) {
    TempDir dir;
    NotifyReceiver receiver(dir);
    HostProcess host(kEcho + "  second:\n    plugin: echo\n    listen: 127.0.0.1:0\n", notifyingTo(receiver));
    ASSERT_TRUE(host.started()) << host.log();
    const auto ready = receiver.nextState();
    ASSERT_TRUE(ready) << host.log();
    EXPECT_TRUE(NotifyReceiver::has(*ready, "READY=1")) << *ready;
    EXPECT_EQ(NotifyReceiver::value(*ready, "STATUS"), "2 services running, 0 sessions") << *ready;
    // The first thing the host said was READY=1: nothing before it.
    EXPECT_EQ(receiver.all().front(), *ready);
    // Both ports and the admin endpoint answer the moment READY=1 has arrived.
    EXPECT_TRUE(echoes(host.port("echo")));
    EXPECT_TRUE(echoes(host.port("second")));
    EXPECT_EQ(ctl(host, {"status"}).exitCode, 0);
}

TEST(Notify, StatusNamesAFailedServiceAndIsRefreshedWithSessionCounts) {
    TempDir dir;
    NotifyReceiver receiver(dir);
    HostProcess host(kEcho + "  broken:\n    plugin: no-such-plugin\n    listen: 127.0.0.1:0\n",
                     notifyingTo(receiver));
    ASSERT_TRUE(host.started()) << host.log();
    const auto ready = receiver.nextState();
    ASSERT_TRUE(ready && NotifyReceiver::has(*ready, "READY=1")) << host.log();
    const std::string status = NotifyReceiver::value(*ready, "STATUS");
    EXPECT_EQ(status.rfind("1 of 2 services running, 0 sessions; broken failed: ", 0), 0u) << status;
    EXPECT_NE(status.find("no-such-plugin"), std::string::npos) << status;

    Client client(host.port("echo"));
    ASSERT_TRUE(client.send("hi\n"));
    ASSERT_EQ(client.line(), "hi");
    bool refreshed = false;
    while (!refreshed) {
        const auto message = receiver.next(10s);
        ASSERT_TRUE(message) << "no STATUS= with the session";
        refreshed =
            NotifyReceiver::value(*message, "STATUS").rfind("1 of 2 services running, 1 session;", 0) == 0;
    }
}

TEST(Notify, ReloadingWithMonotonicTimeThenReadyAroundSighupAndCtlReload) {
    TempDir dir;
    NotifyReceiver receiver(dir);
    HostProcess host(kEcho, notifyingTo(receiver));
    ASSERT_TRUE(host.started()) << host.log();
    ASSERT_TRUE(receiver.waitFor("READY=1")) << host.log();

    auto expectReloadAround = [&](const std::function<void()>& reload, const std::string& how) {
        const auto before = monotonicMicros();
        reload();
        const auto reloading = receiver.nextState();
        const auto after = monotonicMicros();
        ASSERT_TRUE(reloading) << how << ": " << host.log();
        EXPECT_TRUE(NotifyReceiver::has(*reloading, "RELOADING=1")) << how << ": " << *reloading;
        const std::string usec = NotifyReceiver::value(*reloading, "MONOTONIC_USEC");
        ASSERT_FALSE(usec.empty()) << how << ": " << *reloading;
        EXPECT_GE(std::stoull(usec), before) << how;
        EXPECT_LE(std::stoull(usec), after) << how;
        const auto ready = receiver.nextState();
        ASSERT_TRUE(ready) << how;
        EXPECT_TRUE(NotifyReceiver::has(*ready, "READY=1")) << how << ": " << *ready;
        EXPECT_EQ(NotifyReceiver::value(*ready, "STATUS"), "1 service running, 0 sessions") << how;
    };
    expectReloadAround([&] { ::kill(host.pid(), SIGHUP); }, "SIGHUP");
    expectReloadAround([&] { EXPECT_EQ(ctl(host, {"reload"}).exitCode, 0); }, "plughostctl reload");
    EXPECT_TRUE(echoes(host.port("echo")));
}

TEST(Notify, WatcherReloadIsAnnouncedToo) {
    TempDir dir;
    NotifyReceiver receiver(dir);
    HostProcess host("watch: true\n" + kEcho, notifyingTo(receiver));
    ASSERT_TRUE(host.started()) << host.log();
    ASSERT_TRUE(receiver.waitFor("READY=1")) << host.log();
    std::string config = readFile(host.configPath());
    config.replace(config.find("services:\n"), 10,
                   "services:\n  second:\n    plugin: echo\n    listen: 127.0.0.1:0\n");
    replaceFile(host.configPath(), config);
    const auto reloading = receiver.nextState();
    ASSERT_TRUE(reloading && NotifyReceiver::has(*reloading, "RELOADING=1")) << host.log();
    EXPECT_FALSE(NotifyReceiver::value(*reloading, "MONOTONIC_USEC").empty());
    const auto ready = receiver.nextState();
    ASSERT_TRUE(ready && NotifyReceiver::has(*ready, "READY=1")) << host.log();
    EXPECT_EQ(NotifyReceiver::value(*ready, "STATUS"), "2 services running, 0 sessions");
}

TEST(Notify, RefusedReloadIsFollowedByReadyWithTheReason) {
    TempDir dir;
    NotifyReceiver receiver(dir);
    HostProcess host(kEcho, notifyingTo(receiver));
    ASSERT_TRUE(host.started()) << host.log();
    ASSERT_TRUE(receiver.waitFor("READY=1")) << host.log();
    replaceFile(host.configPath(), readFile(host.configPath()) + "bogus_key: 1\n");
    ::kill(host.pid(), SIGHUP);
    const auto reloading = receiver.nextState();
    ASSERT_TRUE(reloading && NotifyReceiver::has(*reloading, "RELOADING=1")) << host.log();
    const auto ready = receiver.nextState();
    ASSERT_TRUE(ready && NotifyReceiver::has(*ready, "READY=1")) << host.log();
    const std::string status = NotifyReceiver::value(*ready, "STATUS");
    EXPECT_EQ(status.rfind("1 service running, 0 sessions; last reload refused: " + host.configPath(), 0), 0u)
        << status;
    EXPECT_NE(status.find("bogus_key: unknown key"), std::string::npos) << status;
    EXPECT_TRUE(echoes(host.port("echo")));  // the old config runs on
}

TEST(Notify, StoppingAtTheStartOfTheDrain) {
    TempDir dir;
    NotifyReceiver receiver(dir);
    HostProcess host(kEcho, notifyingTo(receiver));
    ASSERT_TRUE(host.started()) << host.log();
    ASSERT_TRUE(receiver.waitFor("READY=1")) << host.log();
    ::kill(host.pid(), SIGTERM);
    const auto stopping = receiver.nextState();
    ASSERT_TRUE(stopping) << host.log();
    EXPECT_TRUE(NotifyReceiver::has(*stopping, "STOPPING=1")) << *stopping;
    EXPECT_EQ(host.wait(10s), 0);
}

TEST(Notify, AbstractNamespaceSocket) {
    TempDir dir;
    NotifyReceiver receiver(dir, "plughost-notify-test-" + std::to_string(::getpid()));
    HostProcess host(kEcho, notifyingTo(receiver));
    ASSERT_TRUE(host.started()) << host.log();
    const auto ready = receiver.nextState();
    ASSERT_TRUE(ready && NotifyReceiver::has(*ready, "READY=1")) << host.log();
}

TEST(Notify, WithoutNotifySocketThereIsNoNotifierThreadAndNothingIsSent) {
    TempDir dir;
    NotifyReceiver receiver(dir);
    {
        HostProcess with(kEcho, notifyingTo(receiver));
        ASSERT_TRUE(with.started()) << with.log();
        ASSERT_TRUE(receiver.waitFor("READY=1"));
        EXPECT_TRUE(hasThread(with.pid(), "sd-notify"));  // the check below can tell
    }
    ASSERT_TRUE(receiver.waitFor("STOPPING=1"));
    const std::size_t received = receiver.all().size();
    HostProcess without(kEcho);
    ASSERT_TRUE(without.started()) << without.log();
    EXPECT_FALSE(hasThread(without.pid(), "sd-notify"));
    ::kill(without.pid(), SIGHUP);
    ASSERT_TRUE(without.waitForLog("reload: service echo: unchanged"));
    EXPECT_EQ(without.stop(SIGTERM), 0);
    EXPECT_FALSE(receiver.next(0ms));
    EXPECT_EQ(receiver.all().size(), received);
}

TEST(Notify, BadConfigSaysWhyInStatusAndNeverReady) {
    TempDir dir;
    NotifyReceiver receiver(dir);
    Launch launch = notifyingTo(receiver);
    launch.startTimeout = 10s;
    HostProcess host("services:\n  echo:\n    plugin: echo\n    listen: 127.0.0.1:70000\n", launch);
    EXPECT_FALSE(host.started());
    EXPECT_EQ(host.wait(10s), 78);
    const auto message = receiver.next(5s);
    ASSERT_TRUE(message);
    EXPECT_FALSE(NotifyReceiver::has(*message, "READY=1"));
    EXPECT_NE(NotifyReceiver::value(*message, "STATUS").find("invalid configuration: "), std::string::npos)
        << *message;
    EXPECT_NE(message->find("port 70000 is out of range"), std::string::npos) << *message;
}

// ---- the watchdog ------------------------------------------------------------

TEST(Watchdog, PingsWhileTheLoopsTurnAndStopsWhileOneIsWedged) {
    TempDir dir;
    NotifyReceiver receiver(dir);
    const std::string release = dir.path() + "/release";
    Launch launch = notifyingTo(receiver);
    launch.environment["WATCHDOG_USEC"] = "1000000";  // WatchdogSec=1s: a ping every 500 ms
    HostProcess host("plugin_dir: " + pluginDirWith(dir, {"stall"}) +
                         "\nworkers: 1\nservices:\n  stall:\n    plugin: stall\n    listen: 127.0.0.1:0\n"
                         "    settings:\n      release: " +
                         release + "\n",
                     launch);
    ASSERT_TRUE(host.started()) << host.log();
    ASSERT_TRUE(receiver.waitFor("READY=1")) << host.log();
    ASSERT_TRUE(receiver.waitFor("WATCHDOG=1", 5s)) << host.log();
    ASSERT_TRUE(receiver.waitFor("WATCHDOG=1", 5s)) << host.log();

    Client client(host.port("stall"));
    ASSERT_TRUE(client.send("block\n"));  // the only I/O loop is now stuck in onData
    ASSERT_TRUE(host.waitForLog("watchdog: I/O loop io-0 has not turned", 10s)) << host.log();
    while (receiver.next(0ms)) {
        // what was sent before the warning
    }
    // Six ping intervals with the loop stuck: no ping (systemd would restart the host after two).
    const auto deadline = std::chrono::steady_clock::now() + 3s;
    while (std::chrono::steady_clock::now() < deadline) {
        const auto message = receiver.next(100ms);
        if (message) {
            EXPECT_FALSE(NotifyReceiver::has(*message, "WATCHDOG=1")) << "pinged while the loop was wedged";
        }
    }
    replaceFile(release, "go\n");
    EXPECT_EQ(client.line(10s), "released");
    EXPECT_TRUE(receiver.waitFor("WATCHDOG=1", 5s)) << host.log();
    EXPECT_TRUE(host.waitForLog("watchdog: every I/O loop turns again; pings resumed"));
}

TEST(Watchdog, NoPingsWhenWatchdogPidIsAnotherProcess) {
    TempDir dir;
    NotifyReceiver receiver(dir);
    Launch launch = notifyingTo(receiver);
    launch.environment["WATCHDOG_USEC"] = "1000000";
    launch.environment["WATCHDOG_PID"] = "1";
    HostProcess host(kEcho, launch);
    ASSERT_TRUE(host.started()) << host.log();
    ASSERT_TRUE(receiver.waitFor("READY=1")) << host.log();
    // Four ping intervals: a host that took the variable as its own would have pinged.
    const auto deadline = std::chrono::steady_clock::now() + 2s;
    while (std::chrono::steady_clock::now() < deadline) {
        const auto message = receiver.next(100ms);
        if (message) {
            EXPECT_FALSE(NotifyReceiver::has(*message, "WATCHDOG=1"));
        }
    }
}

// ---- socket activation -------------------------------------------------------

std::string echoOn(std::uint16_t port, const std::string& extra = "") {
    return "services:\n  echo:\n    plugin: echo\n    listen: 127.0.0.1:" + std::to_string(port) + "\n" +
           extra;
}

Launch passing(const TestListener& listener, const std::string& names = "") {
    Launch launch;
    launch.listenFds = {listener.fd()};
    launch.listenFdNames = names;
    return launch;
}

TEST(SocketActivation, WithoutThePassedSocketAPortInUseFailsTheService) {
    // The control for the tests below: the port the test holds cannot be bound by the host.
    TestListener listener;
    ASSERT_TRUE(listener.bound());
    ASSERT_TRUE(portTaken(listener.port()));
    HostProcess host(echoOn(listener.port()));
    EXPECT_FALSE(host.started());
    EXPECT_EQ(host.wait(10s), 69);
    EXPECT_NE(host.log().find("Address already in use"), std::string::npos) << host.log();
}

TEST(SocketActivation, ServesOnThePassedSocketInsteadOfBinding) {
    TestListener listener;
    ASSERT_TRUE(listener.bound());
    ASSERT_TRUE(portTaken(listener.port()));  // so a bind by the host would fail
    HostProcess host(echoOn(listener.port()), passing(listener, "echo"));
    ASSERT_TRUE(host.started()) << host.log();
    EXPECT_NE(host.log().find("service echo: listening on 127.0.0.1:" + std::to_string(listener.port()) +
                              " with the socket the service manager passed (echo)"),
              std::string::npos)
        << host.log();
    EXPECT_EQ(host.port("echo"), listener.port());
    listener.close();  // from now on only the host's copy listens
    EXPECT_TRUE(echoes(host.port("echo")));
}

TEST(SocketActivation, PassedSocketStaysThroughReloadsAndGoesWithItsService) {
    TestListener listener;
    ASSERT_TRUE(listener.bound());
    const std::uint16_t port = listener.port();
    HostProcess host(echoOn(port), passing(listener));
    ASSERT_TRUE(host.started()) << host.log();
    listener.close();
    ASSERT_TRUE(echoes(port));

    // Changed settings restart the service on the same socket.
    const std::string head = "plugin_dir: " + std::string(PLUGHOST_PLUGIN_DIR) + "\n";
    const std::string admin = "admin:\n  socket: " + host.adminSocket() + "\n";
    replaceFile(host.configPath(), head + echoOn(port, "    max_connections: 7\n") + admin);
    const auto changed = ctl(host, {"reload"});
    ASSERT_NE(changed.output.find("changed (restarted)"), std::string::npos) << changed.output << host.log();
    EXPECT_TRUE(echoes(port));

    // Removed: the host lets the socket go.
    replaceFile(host.configPath(), head + "services: {}\n" + admin);
    const auto removed = ctl(host, {"reload"});
    ASSERT_NE(removed.output.find("removed"), std::string::npos) << removed.output << host.log();
    EXPECT_TRUE(eventually([&] { return refused(port); }));
}

TEST(SocketActivation, PassedSocketNoServiceUsesIsClosedWithAWarning) {
    TestListener stray;
    ASSERT_TRUE(stray.bound());
    const std::uint16_t port = stray.port();
    HostProcess host(kEcho, passing(stray, "echo"));
    ASSERT_TRUE(host.started()) << host.log();
    EXPECT_TRUE(host.waitForLog("socket activation: the passed socket 127.0.0.1:" + std::to_string(port) +
                                " (echo) serves no enabled service; closed; its name is service echo's, but "
                                "names do not select"))
        << host.log();
    EXPECT_TRUE(echoes(host.port("echo")));  // the service bound its own address
    stray.close();
    EXPECT_TRUE(refused(port));  // nobody holds it any more
}

TEST(SocketActivation, PassedSocketsForAnotherPidAreIgnored) {
    TestListener listener;
    ASSERT_TRUE(listener.bound());
    Launch launch = passing(listener);
    launch.environment["LISTEN_PID"] = "1";  // descriptor 3 is there, but meant for another process
    HostProcess host(echoOn(listener.port()), launch);
    EXPECT_FALSE(host.started());
    EXPECT_EQ(host.wait(10s), 69);  // so the host bound itself, and the test holds the port
    EXPECT_NE(host.log().find("Address already in use"), std::string::npos) << host.log();
    EXPECT_EQ(host.log().find("service manager passed"), std::string::npos) << host.log();
}

TEST(SocketActivation, PrivilegedPortNeedsNoPrivilegeInTheHost) {
    if (::geteuid() != 0) {
        GTEST_SKIP() << "needs root to bind a port below 1024 for the host";
    }
    const passwd* nobody = ::getpwnam("nobody");
    ASSERT_NE(nobody, nullptr);
    // The first free port below 1024, as systemd would bind it for a .socket unit.
    std::unique_ptr<TestListener> listener;
    for (std::uint16_t port = 1023; port > 600 && !listener; --port) {
        auto candidate = std::make_unique<TestListener>(port);
        if (candidate->bound()) {
            listener = std::move(candidate);
        }
    }
    ASSERT_TRUE(listener) << "no free port below 1024";
    TempDir dir;
    Launch launch = passing(*listener);
    launch.uid = static_cast<int>(nobody->pw_uid);  // the host never has root, nor a capability
    launch.gid = static_cast<int>(nobody->pw_gid);
    HostProcess host(echoOn(listener->port()), launch);
    ASSERT_TRUE(host.started()) << host.log();
    listener->close();
    EXPECT_TRUE(echoes(host.port("echo")));
    const std::string status = readFile("/proc/" + std::to_string(host.pid()) + "/status");
    EXPECT_NE(status.find("CapEff:\t0000000000000000"), std::string::npos) << status;
}

// ---- the admin socket's runtime folder ---------------------------------------

mode_t modeOf(const std::string& path) {
    struct stat info {};
    return ::stat(path.c_str(), &info) == 0 ? (info.st_mode & 07777) : 0;
}

std::string withAdminSocket(const std::string& socket, const std::string& head = "") {
    return head + kEcho + "admin:\n  socket: " + socket + "\n";
}

TEST(RuntimeFolder, MissingFolderOfTheAdminSocketIsCreated0755) {
    TempDir dir;
    const std::string folder = dir.path() + "/run";
    HostProcess host(withAdminSocket(folder + "/admin.sock"));
    ASSERT_TRUE(host.started()) << host.log();
    EXPECT_EQ(modeOf(folder), 0755u);
    struct stat info {};
    ASSERT_EQ(::stat(folder.c_str(), &info), 0);
    EXPECT_EQ(info.st_uid, ::geteuid());
    EXPECT_EQ(runCtl({"status", "--socket", folder + "/admin.sock"}).exitCode, 0);
}

TEST(RuntimeFolder, CreatedFolderBelongsToTheConfiguredUser) {
    if (::geteuid() != 0) {
        GTEST_SKIP() << "needs root to hand the folder to another user";
    }
    const passwd* nobody = ::getpwnam("nobody");
    ASSERT_NE(nobody, nullptr);
    TempDir dir;
    const std::string folder = dir.path() + "/run";
    HostProcess host(withAdminSocket(folder + "/admin.sock", "user: nobody\n"));
    ASSERT_TRUE(host.started()) << host.log();
    struct stat info {};
    ASSERT_EQ(::stat(folder.c_str(), &info), 0);
    EXPECT_EQ(info.st_uid, nobody->pw_uid);
    EXPECT_EQ(info.st_gid, nobody->pw_gid);
    EXPECT_EQ(modeOf(folder), 0755u);
    // The dropped host can replace its socket in it, as a restart does.
    EXPECT_EQ(host.stop(SIGTERM), 0);
    HostProcess again(withAdminSocket(folder + "/admin.sock", "user: nobody\n"));
    ASSERT_TRUE(again.started()) << again.log();
}

TEST(RuntimeFolder, ExistingFolderKeepsItsMode) {
    TempDir dir;
    const std::string folder = dir.path() + "/run";
    ASSERT_EQ(::mkdir(folder.c_str(), 0700), 0);
    ASSERT_EQ(::chmod(folder.c_str(), 0700), 0);
    HostProcess host(withAdminSocket(folder + "/admin.sock"));
    ASSERT_TRUE(host.started()) << host.log();
    EXPECT_EQ(modeOf(folder), 0700u);
}

TEST(RuntimeFolder, FolderWritableByOthersIsRefused) {
    TempDir dir;
    const std::string folder = dir.path() + "/run";
    ASSERT_EQ(::mkdir(folder.c_str(), 0777), 0);
    ASSERT_EQ(::chmod(folder.c_str(), 0777), 0);
    HostProcess host(withAdminSocket(folder + "/admin.sock"));
    EXPECT_FALSE(host.started());
    EXPECT_EQ(host.wait(10s), 69);
    EXPECT_NE(host.log().find("plughostd: the admin socket's folder " + folder +
                              " is writable by others and not sticky (mode 0777)"),
              std::string::npos)
        << host.log();
    EXPECT_EQ(modeOf(folder), 0777u);
    EXPECT_FALSE(std::filesystem::exists(folder + "/admin.sock"));
}

}  // namespace
