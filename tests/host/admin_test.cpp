// The operator's loop: status, plugins, reload (command, SIGHUP, watch) and check, against the real host.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "support/client.h"
#include "support/host_process.h"

namespace {

using namespace plughost::test;

void replaceWithCopy(const std::string& from, const std::string& to) {
    std::filesystem::copy_file(from, to + ".new", std::filesystem::copy_options::overwrite_existing);
    std::filesystem::rename(to + ".new", to);
}

RunResult ctl(const HostProcess& host, std::vector<std::string> args) {
    args.push_back("--socket");
    args.push_back(host.adminSocket());
    return runCtl(args);
}

// A raw request on the admin socket; returns whatever the host answered before closing.
std::string rawAdmin(const std::string& socketPath, const std::string& bytes,
                     std::chrono::milliseconds wait = 5s) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::snprintf(address.sun_path, sizeof address.sun_path, "%s", socketPath.c_str());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        ::close(fd);
        return "<connect failed>";
    }
    ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    ::shutdown(fd, SHUT_WR);
    timeval timeout{static_cast<time_t>(wait.count() / 1000), 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    std::string reply;
    char buffer[4096];
    ssize_t n;
    while ((n = ::recv(fd, buffer, sizeof buffer, 0)) > 0) {
        reply.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return reply;
}

const std::string kEchoService = "  echo:\n    plugin: echo\n    listen: 127.0.0.1:0\n";

TEST(Admin, SocketIsOwnerOnly) {
    HostProcess host("services:\n" + kEchoService);
    ASSERT_TRUE(host.started()) << host.log();
    struct stat info {};
    ASSERT_EQ(::stat(host.adminSocket().c_str(), &info), 0);
    EXPECT_TRUE(S_ISSOCK(info.st_mode));
    EXPECT_EQ(info.st_mode & 0777, 0600u);
}

TEST(Admin, StatusShowsEveryStateWithExitCodes) {
    HostProcess blocker("services:\n" + kEchoService);
    ASSERT_TRUE(blocker.started());
    const std::string taken = std::to_string(blocker.port("echo"));
    TempDir dir;
    const auto plugins = pluginDirWith(dir, {"echo", "wrong_abi"});
    HostProcess host("plugin_dir: " + plugins + "\nservices:\n" + kEchoService +
                     "  off:\n    plugin: echo\n    listen: 127.0.0.1:0\n    enabled: false\n"
                     "  clash:\n    plugin: echo\n    listen: 127.0.0.1:" +
                     taken +
                     "\n"
                     "  future:\n    plugin: wrong_abi\n    listen: 127.0.0.1:0\n");
    ASSERT_TRUE(host.started()) << host.log();

    const auto table = ctl(host, {"status"});
    EXPECT_EQ(table.exitCode, 1) << table.output;  // some service failed
    const std::string port = std::to_string(host.port("echo"));
    EXPECT_TRUE(std::regex_search(table.output, std::regex("echo +echo 1\\.0\\.0 +127\\.0\\.0\\.1:" + port +
                                                           " +0 +0 +0 +0 B +0 B +0 +running")))
        << table.output;
    EXPECT_TRUE(std::regex_search(table.output, std::regex("off +echo 1\\.0\\.0 .* disabled")))
        << table.output;
    EXPECT_NE(table.output.find("failed: cannot listen on 127.0.0.1:" + taken + ": Address already in use"),
              std::string::npos)
        << table.output;
    EXPECT_NE(table.output.find("failed: " + plugins + "/wrong_abi.so: built against plugin ABI"),
              std::string::npos)
        << table.output;
    EXPECT_NE(table.output.find("plughostd 0.1.0, pid " + std::to_string(host.pid())), std::string::npos)
        << table.output;
    EXPECT_NE(table.output.find("config   " + host.configPath()), std::string::npos) << table.output;

    const auto json = ctl(host, {"status", "--json"});
    EXPECT_EQ(json.exitCode, 1);
    EXPECT_NE(json.output.find("\"state\": \"disabled\""), std::string::npos) << json.output;
    EXPECT_NE(json.output.find("\"pid\": " + std::to_string(host.pid())), std::string::npos) << json.output;

    const auto healthy = ctl(blocker, {"status"});
    EXPECT_EQ(healthy.exitCode, 0) << healthy.output;
}

TEST(Admin, StatusSaysWhenTheHostIsNotRunning) {
    TempDir dir;
    const auto result = runCtl({"status", "--socket", dir.path() + "/nothing.sock"});
    EXPECT_EQ(result.exitCode, 3);
    EXPECT_NE(result.output.find("plughostd is not running (no answer on " + dir.path() + "/nothing.sock"),
              std::string::npos)
        << result.output;
}

TEST(Admin, CountersMoveWithRealTraffic) {
    HostProcess host("services:\n" + kEchoService);
    ASSERT_TRUE(host.started()) << host.log();
    Client a(host.port("echo"));
    Client b(host.port("echo"));
    ASSERT_TRUE(a.send(std::string(1000, 'a')));
    ASSERT_EQ(a.readExactly(1000).size(), 1000u);
    ASSERT_TRUE(b.send(std::string(24, 'b')));
    ASSERT_EQ(b.readExactly(24).size(), 24u);
    const auto json = ctl(host, {"status", "--json"});
    EXPECT_NE(json.output.find("\"connections\": 2"), std::string::npos) << json.output;
    EXPECT_NE(json.output.find("\"accepted\": 2"), std::string::npos) << json.output;
    EXPECT_NE(json.output.find("\"bytes_in\": 1024"), std::string::npos) << json.output;
    EXPECT_NE(json.output.find("\"bytes_out\": 1024"), std::string::npos) << json.output;
    a.close();
    EXPECT_TRUE(eventually([&] {
        return ctl(host, {"status", "--json"}).output.find("\"connections\": 1") != std::string::npos;
    }));
    const std::string metrics = rawAdmin(host.adminSocket(), "GET /metrics HTTP/1.0\r\n\r\n");
    EXPECT_NE(metrics.find("plughost_received_bytes_total{service=\"echo\",plugin=\"echo\"} 1024"),
              std::string::npos)
        << metrics;
    EXPECT_NE(metrics.find("plughost_connections_accepted_total{service=\"echo\",plugin=\"echo\"} 2"),
              std::string::npos)
        << metrics;
    EXPECT_NE(metrics.find("# TYPE plughost_connections gauge"), std::string::npos) << metrics;
    EXPECT_NE(metrics.find(
                  "plughost_connections_refused_total{service=\"echo\",plugin=\"echo\",reason=\"limit\"} 0"),
              std::string::npos);
}

TEST(Admin, PluginsListsEveryFileWithItsState) {
    TempDir dir;
    const auto plugins = pluginDirWith(dir, {"echo", "wrong_abi", "probe"});
    dir.write("plugins/junk.so", "junk");
    HostProcess host("plugin_dir: " + plugins + "\nservices:\n" + kEchoService);
    ASSERT_TRUE(host.started()) << host.log();
    const auto table = ctl(host, {"plugins"});
    EXPECT_EQ(table.exitCode, 0);
    EXPECT_TRUE(std::regex_search(table.output, std::regex("echo +1\\.0\\.0 +2\\.3 +echo +" + plugins +
                                                           "/echo\\.so +RFC 862 echo.* +loaded")))
        << table.output;
    EXPECT_TRUE(
        std::regex_search(table.output, std::regex("probe +1\\.2\\.3 +2\\.3 +" + plugins + "/probe\\.so")))
        << table.output;
    EXPECT_NE(table.output.find("rejected: " + plugins + "/junk.so: not a shared library"), std::string::npos)
        << table.output;
    EXPECT_NE(table.output.find("rejected: " + plugins + "/wrong_abi.so: built against plugin ABI 3.0"),
              std::string::npos);
    const auto json = ctl(host, {"plugins", "--json"});
    EXPECT_TRUE(
        std::regex_search(json.output, std::regex("\"path\": \"[^\"]*/echo\\.so\",\\s*\"state\": "
                                                  "\"loaded\",\\s*\"services\": \\[\\s*\"echo\"\\s*\\]")))
        << json.output;
}

// Rewrites the host's config with `services` (and the harness's admin socket).
void rewriteConfig(const HostProcess& host, const std::string& pluginDir, const std::string& services) {
    replaceFile(host.configPath(), "plugin_dir: " + pluginDir + "\nadmin:\n  socket: " + host.adminSocket() +
                                       "\nservices:\n" + services);
}

TEST(Admin, ReloadAddsRemovesChangesAndKeepsUnchanged) {
    TempDir dir;
    const auto plugins = pluginDirWith(dir, {"echo", "probe"});
    const std::string keep = kEchoService;
    const std::string probe =
        "  probe:\n    plugin: probe\n    listen: 127.0.0.1:0\n    settings: {greeting: hi}\n";
    const std::string gone = "  gone:\n    plugin: echo\n    listen: 127.0.0.1:0\n";
    const std::string off = "  off:\n    plugin: echo\n    listen: 127.0.0.1:0\n";
    HostProcess host("plugin_dir: " + plugins + "\nservices:\n" + keep + probe + gone + off);
    ASSERT_TRUE(host.started()) << host.log();
    Client kept(host.port("echo"));
    Client probed(host.port("probe"));
    Client doomed(host.port("gone"));
    ASSERT_TRUE(probed.send("x\n"));
    ASSERT_EQ(probed.line(), "hi x (plain)");

    rewriteConfig(host, plugins,
                  keep +
                      "  probe:\n    plugin: probe\n    listen: 127.0.0.1:0\n    settings: {greeting: yo}\n" +
                      "  off:\n    plugin: echo\n    listen: 127.0.0.1:0\n    enabled: false\n" +
                      "  fresh:\n    plugin: echo\n    listen: 127.0.0.1:0\n");
    const auto result = ctl(host, {"reload"});
    EXPECT_EQ(result.exitCode, 0) << result.output;
    EXPECT_TRUE(std::regex_search(result.output, std::regex("echo +unchanged"))) << result.output;
    EXPECT_TRUE(std::regex_search(result.output, std::regex("probe +changed \\(restarted\\)")))
        << result.output;
    EXPECT_TRUE(std::regex_search(result.output, std::regex("off +changed \\(disabled\\)"))) << result.output;
    EXPECT_TRUE(std::regex_search(result.output, std::regex("fresh +added"))) << result.output;
    EXPECT_TRUE(std::regex_search(result.output, std::regex("gone +removed"))) << result.output;

    ASSERT_TRUE(kept.send("still"));
    EXPECT_EQ(kept.readExactly(5), "still");  // same session, untouched
    EXPECT_TRUE(probed.waitClosed());         // restarted: old sessions closed
    EXPECT_TRUE(doomed.waitClosed());
    const auto status = ctl(host, {"status", "--json"});
    EXPECT_NE(status.output.find("\"name\": \"fresh\""), std::string::npos) << status.output;
    EXPECT_EQ(status.output.find("\"name\": \"gone\""), std::string::npos) << status.output;
    // The restarted service runs its new settings.
    const std::regex probeAddress("\"name\": \"probe\",[^\\]]*\"127\\.0\\.0\\.1:([0-9]+)\"");
    std::smatch match;
    ASSERT_TRUE(std::regex_search(status.output, match, probeAddress)) << status.output;
    Client again(static_cast<std::uint16_t>(std::stoi(match[1])));
    ASSERT_TRUE(again.send("x\n"));
    EXPECT_EQ(again.line(), "yo x (plain)");
}

// A port nobody else can take while the test holds it (under ctest -j, a port
// that was free a moment ago may be another test's by now), yet the host can bind:
// bound with SO_REUSEADDR and never listening, it conflicts with no one who also
// sets SO_REUSEADDR — as the host does — and with everyone else.
class ReservedPort {
public:
    ReservedPort() : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
        const int on = 1;
        ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t length = sizeof address;
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
            ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
            port_ = ntohs(address.sin_port);
        }
    }
    ~ReservedPort() { ::close(fd_); }
    ReservedPort(const ReservedPort&) = delete;
    ReservedPort& operator=(const ReservedPort&) = delete;
    std::uint16_t port() const { return port_; }

private:
    int fd_;
    std::uint16_t port_ = 0;
};

TEST(Admin, ReloadMovesAServiceToANewPort) {
    ReservedPort reserved;
    ASSERT_NE(reserved.port(), 0);
    const std::string port = std::to_string(reserved.port());
    HostProcess host("services:\n" + kEchoService);
    ASSERT_TRUE(host.started()) << host.log();
    rewriteConfig(host, PLUGHOST_PLUGIN_DIR,
                  "  echo:\n    plugin: echo\n    listen: 127.0.0.1:" + port + "\n");
    const auto result = ctl(host, {"reload"});
    EXPECT_TRUE(std::regex_search(result.output, std::regex("echo +changed \\(restarted\\)")))
        << result.output;
    Client moved(static_cast<std::uint16_t>(std::stoi(port)));
    ASSERT_TRUE(moved.send("m"));
    EXPECT_EQ(moved.readExactly(1), "m");
}

TEST(Admin, BadConfigOnReloadChangesNothing) {
    HostProcess host("services:\n" + kEchoService);
    ASSERT_TRUE(host.started()) << host.log();
    Client client(host.port("echo"));
    replaceFile(host.configPath(), "services:\n  echo:\n    plugin: echo\n    listen: 127.0.0.1:99999\n");
    const auto result = ctl(host, {"reload"});
    EXPECT_EQ(result.exitCode, 1);
    EXPECT_NE(result.output.find("reload refused; the running configuration is unchanged:"),
              std::string::npos)
        << result.output;
    EXPECT_NE(
        result.output.find(host.configPath() + ":4:13: services.echo.listen: port 99999 is out of range"),
        std::string::npos)
        << result.output;
    // Settings a plugin refuses also refuse the whole reload.
    TempDir dir;
    rewriteConfig(
        host, pluginDirWith(dir, {"echo", "probe"}),
        kEchoService + "  p:\n    plugin: probe\n    listen: 127.0.0.1:0\n    settings: {count: 99}\n");
    const auto refused = ctl(host, {"reload"});
    EXPECT_EQ(refused.exitCode, 1);
    EXPECT_NE(refused.output.find("services.p.settings.count: 99 is out of range (1-10)"), std::string::npos)
        << refused.output;
    ASSERT_TRUE(client.send("alive"));
    EXPECT_EQ(client.readExactly(5), "alive");
    EXPECT_EQ(ctl(host, {"status"}).exitCode, 0);
}

TEST(Admin, ARebuiltPluginIsPickedUpAndAMissingOneFailsItsServices) {
    TempDir dir;
    const auto plugins = pluginDirWith(dir, {"echo"});
    std::filesystem::copy_file(std::string(PLUGHOST_TEST_PLUGIN_DIR) + "/twin_a.so", plugins + "/twin.so");
    HostProcess host("plugin_dir: " + plugins + "\nservices:\n" + kEchoService +
                     "  t:\n    plugin: twin\n    listen: 127.0.0.1:0\n");
    ASSERT_TRUE(host.started()) << host.log();
    EXPECT_NE(ctl(host, {"plugins"}).output.find("twin  1.0.0"), std::string::npos);
    replaceWithCopy(std::string(PLUGHOST_TEST_PLUGIN_DIR) + "/twin_b.so", plugins + "/twin.so");
    const auto result = ctl(host, {"reload"});
    EXPECT_TRUE(std::regex_search(result.output, std::regex("t +changed \\(restarted\\)"))) << result.output;
    EXPECT_TRUE(std::regex_search(result.output, std::regex("echo +unchanged"))) << result.output;
    EXPECT_NE(ctl(host, {"status"}).output.find("twin 1.0.1"), std::string::npos);

    std::filesystem::remove(plugins + "/twin.so");
    const auto missing = ctl(host, {"reload"});
    EXPECT_EQ(missing.exitCode, 1);
    EXPECT_NE(missing.output.find("failed: no plugin named 'twin' in " + plugins), std::string::npos)
        << missing.output;
    EXPECT_EQ(ctl(host, {"status"}).exitCode, 1);
}

TEST(Admin, AnEchoClientSurvivesTwentyReloadsWithoutLosingAByte) {
    TempDir dir;
    const auto plugins = pluginDirWith(dir, {"echo", "probe"});
    HostProcess host("plugin_dir: " + plugins + "\nservices:\n" + kEchoService);
    ASSERT_TRUE(host.started()) << host.log();
    Client client(host.port("echo"));
    std::atomic<bool> done{false};
    std::string sent;
    std::string received;
    std::thread traffic([&] {
        for (int i = 0; !done && i < 100000; ++i) {
            const std::string message = "message " + std::to_string(i) + "\n";
            if (!client.send(message)) {
                break;
            }
            sent += message;
            received += client.readExactly(message.size());
            if (received.size() != sent.size()) {
                break;
            }
        }
    });
    for (int i = 0; i < 20; ++i) {
        // Alternate between adding and removing another service, and SIGHUP and the command.
        rewriteConfig(host, plugins,
                      kEchoService + (i % 2 ? "" : "  extra:\n    plugin: probe\n    listen: 127.0.0.1:0\n"));
        if (i % 4 == 3) {
            ::kill(host.pid(), SIGHUP);
            ASSERT_TRUE(host.waitForLog("SIGHUP: reloading")) << host.log();
        } else {
            const auto result = ctl(host, {"reload"});
            ASSERT_EQ(result.exitCode, 0) << result.output;
            ASSERT_TRUE(std::regex_search(result.output, std::regex("echo +unchanged"))) << result.output;
        }
    }
    done = true;
    traffic.join();
    EXPECT_GT(sent.size(), 0u);
    EXPECT_EQ(received, sent);
    EXPECT_TRUE(eventually([&] {
        return ctl(host, {"status", "--json"}).output.find("\"reloads\": 20") != std::string::npos;
    })) << ctl(host, {"status", "--json"}).output;
}

TEST(Admin, WatchReloadsByItself) {
    TempDir dir;
    const auto plugins = pluginDirWith(dir, {"echo"});
    HostProcess host("plugin_dir: " + plugins + "\nwatch: true\nservices:\n" + kEchoService +
                     "  later:\n    plugin: echo\n    listen: 127.0.0.1:0\n    enabled: false\n");
    ASSERT_TRUE(host.started()) << host.log();
    auto configWith = [&](const std::string& services) {
        replaceFile(host.configPath(), "plugin_dir: " + plugins + "\nwatch: true\nadmin:\n  socket: " +
                                           host.adminSocket() + "\nservices:\n" + services);
    };
    configWith(kEchoService + "  later:\n    plugin: echo\n    listen: 127.0.0.1:0\n");
    EXPECT_TRUE(host.waitForLog("reload: service later: changed (enabled)", 10s)) << host.log();
    EXPECT_TRUE(
        std::regex_search(ctl(host, {"status"}).output, std::regex("later +echo 1\\.0\\.0 .*running")));

    // Enable a service whose plugin is still being copied in: the config names it
    // while the file is half written, and the rest arrives within the debounce.
    const std::string probe = std::string(PLUGHOST_TEST_PLUGIN_DIR) + "/probe.so";
    std::ifstream in(probe, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    {
        std::ofstream out(plugins + "/probe.so", std::ios::binary);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
    }
    configWith(kEchoService + "  later:\n    plugin: echo\n    listen: 127.0.0.1:0\n" +
               "  p:\n    plugin: probe\n    listen: 127.0.0.1:0\n");
    {
        std::ofstream out(plugins + "/probe.so", std::ios::binary | std::ios::app);
        out.write(bytes.data() + bytes.size() / 2,
                  static_cast<std::streamsize>(bytes.size() - bytes.size() / 2));
    }
    EXPECT_TRUE(host.waitForLog("reload: service p: added", 10s)) << host.log();
    // What a reload of the half-written file would have logged for p instead.
    EXPECT_EQ(host.log().find("reload: service p: failed"), std::string::npos)
        << "a half-written plugin was picked up:\n"
        << host.log();
    EXPECT_TRUE(
        std::regex_search(ctl(host, {"status"}).output, std::regex("\\bp +probe 1\\.2\\.3 .*running")));
}

TEST(Admin, MalformedRequestsLeaveTheHostServing) {
    HostProcess host("services:\n" + kEchoService);
    ASSERT_TRUE(host.started()) << host.log();
    const std::string socket = host.adminSocket();
    EXPECT_NE(rawAdmin(socket, "\x16\x03\x01garbage\r\n\r\n").find("400"), std::string::npos);
    EXPECT_NE(rawAdmin(socket, "GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                  .find("404 Not Found"),
              std::string::npos);
    EXPECT_NE(rawAdmin(socket, "DELETE /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").find("405"),
              std::string::npos);
    EXPECT_NE(rawAdmin(socket, "GET /reload HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").find("405"),
              std::string::npos);
    EXPECT_NE(
        rawAdmin(
            socket,
            "POST /reload HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 999999999\r\n\r\nxxxx")
            .find("413"),
        std::string::npos);
    EXPECT_NE(rawAdmin(socket, "GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX: " +
                                   std::string(100000, 'h') + "\r\n\r\n")
                  .find("400"),
              std::string::npos);
    // Clients that connect and say nothing do not block the others: status answers
    // while every one of them is still connected (the host drops a silent client
    // only after its 5 s request timeout, so an answer that had to wait for that would come too late).
    std::vector<int> silent;
    for (int i = 0; i < 8; ++i) {
        const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::snprintf(address.sun_path, sizeof address.sun_path, "%s", socket.c_str());
        ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
        silent.push_back(fd);
    }
    const auto status = ctl(host, {"status"});
    EXPECT_EQ(status.exitCode, 0) << status.output;
    for (const int fd : silent) {
        pollfd state{fd, POLLIN | POLLRDHUP, 0};
        EXPECT_EQ(::poll(&state, 1, 0), 0) << "a silent client was dropped before status answered";
        ::close(fd);
    }
    Client client(host.port("echo"));
    ASSERT_TRUE(client.send("ok"));
    EXPECT_EQ(client.readExactly(2), "ok");
}

TEST(Admin, CheckValidatesOffline) {
    TempDir dir;
    const auto plugins = pluginDirWith(dir, {"echo", "probe"});
    const auto good =
        dir.write("good.yaml", "plugin_dir: plugins\nservices:\n  e:\n    plugin: echo\n    listen: 7007\n");
    const auto ok = runCtl({"check", good});
    EXPECT_EQ(ok.exitCode, 0);
    EXPECT_EQ(ok.output, good + ": ok\n");
    const auto bad = dir.write(
        "bad.yaml",
        "plugin_dir: plugins\nservices:\n  e:\n    plugin: ehco\n    listen: 7007\n"
        "  p:\n    plugin: probe\n    listen: 7008\n    settings:\n      count: zero\n      colour: red\n");
    const auto result = runCtl({"check", bad});
    EXPECT_EQ(result.exitCode, 1);
    EXPECT_EQ(result.output, bad + ":3:3: services.e.plugin: no plugin named 'ehco' in " + plugins +
                                 " (available: echo, probe)\n" + bad +
                                 ":10:14: services.p.settings.count: 'zero' is not a whole number\n");
    const auto syntax = dir.write("syntax.yaml", "services: [\n");
    const auto broken = runCtl({"check", syntax});
    EXPECT_EQ(broken.exitCode, 1);
    EXPECT_NE(broken.output.find(syntax + ":2:1: syntax error"), std::string::npos) << broken.output;
}

TEST(Admin, HelpForEachCommand) {
    for (const char* command : {"status", "plugins", "reload", "check"}) {
        const auto result = runCtl({command, "--help"});
        EXPECT_EQ(result.exitCode, 0);
        EXPECT_NE(result.output.find(std::string("usage: plughostctl ") + command), std::string::npos)
            << result.output;
    }
    const auto overview = runCtl({"--help"});
    EXPECT_EQ(overview.exitCode, 0);
    EXPECT_NE(overview.output.find("--socket"), std::string::npos);
    EXPECT_EQ(runCtl({"frobnicate"}).exitCode, 2);
}

}  // namespace
