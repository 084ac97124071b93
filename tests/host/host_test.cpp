// The real plughostd, started from YAML on OS-chosen ports, driven over loopback.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <numeric>
#include <random>
#include <thread>

#include "support/client.h"
#include "support/host_process.h"

namespace {

using namespace plughost::test;
using Clock = std::chrono::steady_clock;

const char* kEcho = "services:\n  echo:\n    plugin: echo\n    listen: 127.0.0.1:0\n";

std::string pattern(std::size_t size, unsigned seed) {
    std::mt19937 random(seed);
    std::string bytes(size, '\0');
    for (auto& byte : bytes) {
        byte = static_cast<char>(random() & 0xff);
    }
    return bytes;
}

TEST(Host, LogsEachServiceWithItsRealPort) {
    HostProcess host(kEcho);
    ASSERT_TRUE(host.started()) << host.log();
    const auto port = host.port("echo");
    EXPECT_NE(port, 0);
    EXPECT_TRUE(
        host.waitForLog("service echo: plugin echo 1.0.0 listening on 127.0.0.1:" + std::to_string(port)))
        << host.log();
}

TEST(Host, EchoesOneByte) {
    HostProcess host(kEcho);
    ASSERT_TRUE(host.started()) << host.log();
    Client client(host.port("echo"));
    ASSERT_TRUE(client.send("x"));
    EXPECT_EQ(client.readExactly(1), "x");
}

TEST(Host, EchoesOneMebibyteUnchanged) {
    HostProcess host(kEcho);
    ASSERT_TRUE(host.started()) << host.log();
    Client client(host.port("echo"));
    const std::string data = pattern(1 << 20, 1);
    std::thread writer([&] { EXPECT_TRUE(client.send(data)); });
    const std::string echoed = client.readExactly(data.size(), 20s);
    writer.join();
    EXPECT_EQ(echoed.size(), data.size());
    EXPECT_TRUE(echoed == data);
}

TEST(Host, EchoIsBinarySafe) {
    HostProcess host(kEcho);
    ASSERT_TRUE(host.started()) << host.log();
    Client client(host.port("echo"));
    const std::string data(
        "\0\x01\xff\r\n\0\n\x7f"
        "end\0",
        13);
    ASSERT_TRUE(client.send(data));
    EXPECT_EQ(client.readExactly(data.size()), data);
}

TEST(Host, ListensOnIPv6Loopback) {
    HostProcess host("services:\n  echo:\n    plugin: echo\n    listen: ['[::1]:0', '127.0.0.1:0']\n");
    ASSERT_TRUE(host.started()) << host.log();
    const auto addresses = host.addresses("echo");
    ASSERT_EQ(addresses.size(), 2u);
    ASSERT_EQ(addresses[0].rfind("[::1]:", 0), 0u) << addresses[0];
    Client client(static_cast<std::uint16_t>(std::stoi(addresses[0].substr(6))), "::1");
    ASSERT_TRUE(client.send("six\n"));
    EXPECT_EQ(client.line(), "six");
}

TEST(Host, TwoHundredConcurrentClientsEachGetTheirOwnBytes) {
    HostProcess host(kEcho);
    ASSERT_TRUE(host.started()) << host.log();
    const auto port = host.port("echo");
    constexpr int kClients = 200;
    std::vector<Client> clients;
    for (int i = 0; i < kClients; ++i) {
        clients.emplace_back(port);
    }
    // Every client sends, then every client reads: all 200 are served at once.
    for (int round = 0; round < 3; ++round) {
        for (int i = 0; i < kClients; ++i) {
            ASSERT_TRUE(clients[i].send(pattern(4096, static_cast<unsigned>(i * 10 + round))));
        }
        for (int i = 0; i < kClients; ++i) {
            ASSERT_EQ(clients[i].readExactly(4096), pattern(4096, static_cast<unsigned>(i * 10 + round)))
                << "client " << i;
        }
    }
}

TEST(Host, ClientThatNeverReadsIsClosedAsTooSlowAndOthersAreUnaffected) {
    HostProcess host("services:\n  echo:\n    plugin: echo\n    listen: 127.0.0.1:0\n    max_queue: 64KiB\n");
    ASSERT_TRUE(host.started()) << host.log();
    const auto port = host.port("echo");
    Client stalled(port);
    Client healthy(port);
    // The stalled client sends far more than socket buffers and the queue hold, and never reads.
    const std::string chunk(256 * 1024, 's');
    bool closed = false;
    for (int i = 0; i < 200 && !closed; ++i) {
        closed = !stalled.send(chunk);
        ASSERT_TRUE(healthy.send("still here\n"));
        ASSERT_EQ(healthy.readExactly(11), "still here\n");
    }
    EXPECT_TRUE(closed || stalled.waitClosed(5s)) << "the stalled client was never closed";
    ASSERT_TRUE(healthy.send("after\n"));
    EXPECT_EQ(healthy.readExactly(6), "after\n");
}

// Nothing is owed to idle clients, so the host does not sit out its drain period
// (an hour here) and every client sees the close. No wall-clock bound: it runs under sanitizers too.
TEST(Host, SigtermWithManyIdleClientsExitsCleanlyWithoutWaitingOutTheDrain) {
    HostProcess host("drain: 1h\n" + std::string(kEcho));
    ASSERT_TRUE(host.started()) << host.log();
    std::vector<Client> clients;
    for (int i = 0; i < 300; ++i) {
        clients.emplace_back(host.port("echo"));
    }
    ASSERT_TRUE(clients.back().send("ping"));
    ASSERT_EQ(clients.back().readExactly(4), "ping");
    EXPECT_EQ(host.stop(SIGTERM, 120s), 0) << host.log();
    for (auto& client : clients) {
        EXPECT_TRUE(client.waitClosed(5s));
    }
}

TEST(Host, SigintStopsToo) {
    HostProcess host(kEcho);
    ASSERT_TRUE(host.started()) << host.log();
    EXPECT_EQ(host.stop(SIGINT, 5s), 0);
}

TEST(Host, SurvivesClientsThatVanish) {
    HostProcess host(kEcho);
    ASSERT_TRUE(host.started()) << host.log();
    for (int i = 0; i < 50; ++i) {
        Client client(host.port("echo"));
        client.send(std::string(100000, 'v'));
        client.reset();  // RST while the host is still writing: SIGPIPE must not kill it
    }
    Client client(host.port("echo"));
    ASSERT_TRUE(client.send("alive"));
    EXPECT_EQ(client.readExactly(5), "alive");
    EXPECT_TRUE(host.running());
}

TEST(Host, PortInUseFailsThatServiceOnlyWithAClearReason) {
    HostProcess first(kEcho);
    ASSERT_TRUE(first.started()) << first.log();
    const std::string taken = std::to_string(first.port("echo"));
    HostProcess second("services:\n  clash:\n    plugin: echo\n    listen: 127.0.0.1:" + taken +
                       "\n  fine:\n    plugin: echo\n    listen: 127.0.0.1:0\n");
    ASSERT_TRUE(second.started()) << second.log();
    EXPECT_TRUE(second.waitForLog("service clash: failed: cannot listen on 127.0.0.1:" + taken +
                                  ": Address already in use"))
        << second.log();
    Client client(second.port("fine"));
    ASSERT_TRUE(client.send("ok"));
    EXPECT_EQ(client.readExactly(2), "ok");
}

TEST(Host, BadConfigExitsNonZeroWithTheReasonOnStderr) {
    TempDir dir;
    const auto config =
        dir.write("bad.yaml", "services:\n  lobby:\n    plugin: chat\n    listen: 127.0.0.1:70000\n");
    const auto result = runHost({"--config", config});
    EXPECT_EQ(result.exitCode, 78);  // EX_CONFIG
    EXPECT_NE(
        result.output.find(config + ":4:13: services.lobby.listen: port 70000 is out of range (0-65535)"),
        std::string::npos)
        << result.output;
}

TEST(Host, EveryServiceFailingExitsNonZero) {
    TempDir dir;
    const auto config =
        dir.write("none.yaml", "plugin_dir: " + std::string(PLUGHOST_PLUGIN_DIR) +
                                   "\nservices:\n  a:\n    plugin: nosuch\n    listen: 127.0.0.1:0\n");
    const auto result = runHost({"--config", config});
    EXPECT_EQ(result.exitCode, 69);  // EX_UNAVAILABLE
    EXPECT_NE(result.output.find("no service could start"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("a: failed: no plugin named 'nosuch'"), std::string::npos) << result.output;
}

TEST(Host, HelpDescribesTheOptions) {
    const auto result = runHost({"--help"});
    EXPECT_EQ(result.exitCode, 0);
    for (const char* option : {"--config", "--plugin-dir", "--daemon", "--pidfile", "--ready-file"}) {
        EXPECT_NE(result.output.find(option), std::string::npos) << option << " missing from:\n"
                                                                 << result.output;
    }
}

TEST(Host, PluginDirOptionOverridesTheConfig) {
    TempDir dir;
    const auto plugins = pluginDirWith(dir, {"probe"});
    HostProcess host(
        "plugin_dir: /nonexistent\nservices:\n  p:\n    plugin: probe\n    listen: 127.0.0.1:0\n",
        {"--plugin-dir", plugins});
    ASSERT_TRUE(host.started()) << host.log();
    Client client(host.port("p"));
    ASSERT_TRUE(client.send("x\n"));
    EXPECT_EQ(client.line(), "hello x (plain)");
}

// The host runs in the test's working directory, never the config's folder: a
// relative plugin_dir must resolve against the folder of the config file.
TEST(Host, RelativePathsResolveAgainstTheConfigFolder) {
    TempDir dir;  // a sibling of the host's own scratch folder (both in the same temporary folder)
    const auto plugins = pluginDirWith(dir, {"echo"});
    const std::string relative = "../" + std::filesystem::path(dir.path()).filename().string() + "/plugins";
    HostProcess host("plugin_dir: " + relative + "\n" + std::string(kEcho));
    ASSERT_TRUE(host.started()) << host.log();
    ASSERT_EQ(std::filesystem::path(host.dir().path()).parent_path(),
              std::filesystem::path(dir.path()).parent_path());
    ASSERT_NE(std::filesystem::current_path(), std::filesystem::path(host.dir().path()));
    EXPECT_TRUE(host.waitForLog("plugins from " + plugins)) << host.log();
    Client client(host.port("echo"));
    ASSERT_TRUE(client.send("r"));
    EXPECT_EQ(client.readExactly(1), "r");
}

TEST(Host, RejectedPluginsAreReportedAndTheirServicesFailWhileOthersRun) {
    TempDir dir;
    const auto plugins = pluginDirWith(dir, {"echo", "wrong_abi", "throwing_factory", "no_entry"});
    dir.write("plugins/x.so", "not a library");
    HostProcess host("plugin_dir: " + plugins +
                     "\nservices:\n  good:\n    plugin: echo\n    listen: 127.0.0.1:0\n"
                     "  future:\n    plugin: wrong_abi\n    listen: 127.0.0.1:0\n"
                     "  thrower:\n    plugin: throwing_factory\n    listen: 127.0.0.1:0\n");
    ASSERT_TRUE(host.started()) << host.log();
    EXPECT_TRUE(host.waitForLog("plugin rejected: " + plugins + "/x.so: not a shared library")) << host.log();
    EXPECT_TRUE(host.waitForLog("plugin rejected: " + plugins + "/no_entry.so: not a plughost plugin"))
        << host.log();
    EXPECT_TRUE(
        host.waitForLog("service future: failed: " + plugins + "/wrong_abi.so: built against plugin ABI"))
        << host.log();
    EXPECT_TRUE(host.waitForLog(
        "service thrower: failed: " + host.configPath() +
        ":9:3: services.thrower: plugin throwing_factory refused to start: the factory exploded on purpose"))
        << host.log();
    Client client(host.port("good"));
    ASSERT_TRUE(client.send("g"));
    EXPECT_EQ(client.readExactly(1), "g");
}

TEST(Host, SettingsErrorsNameFileLineColumnAndKey) {
    TempDir dir;
    const auto plugins = pluginDirWith(dir, {"echo", "probe"});
    HostProcess host(
        "plugin_dir: " + plugins +
        "\nservices:\n  ok:\n    plugin: echo\n    listen: 127.0.0.1:0\n"
        "  range:\n    plugin: probe\n    listen: 127.0.0.1:0\n    settings:\n      count: 11\n"
        "  typo:\n    plugin: probe\n    listen: 127.0.0.1:0\n    settings:\n      greting: hi\n"
        "  empty:\n    plugin: probe\n    listen: 127.0.0.1:0\n    settings:\n      greeting: ''\n"
        "  choice:\n    plugin: probe\n    listen: 127.0.0.1:0\n    settings:\n      mode: loud\n");
    ASSERT_TRUE(host.started()) << host.log();
    const std::string file = host.configPath();
    EXPECT_TRUE(host.waitForLog("service range: failed: " + file +
                                ":10:14: services.range.settings.count: 11 is out of range (1-10)"))
        << host.log();
    EXPECT_TRUE(host.waitForLog("service typo: failed: " + file +
                                ":15:7: services.typo.settings.greting: unknown setting for plugin probe"))
        << host.log();
    EXPECT_TRUE(host.waitForLog("service empty: failed: " + file +
                                ":20:17: services.empty.settings.greeting: must not be empty"))
        << host.log();
    EXPECT_TRUE(host.waitForLog("service choice: failed: " + file +
                                ":25:13: services.choice.settings.mode: 'loud' is not one of: plain, fancy"))
        << host.log();
}

TEST(Host, LineFramingAcceptsCrLfAndEnforcesMaxLine) {
    TempDir dir;
    const auto plugins = pluginDirWith(dir, {"probe"});
    HostProcess host("plugin_dir: " + plugins +
                     "\nservices:\n  p:\n    plugin: probe\n    listen: 127.0.0.1:0\n    max_line: 10\n"
                     "    settings: {greeting: hey, count: 1}\n");
    ASSERT_TRUE(host.started()) << host.log();
    Client client(host.port("p"));
    ASSERT_TRUE(client.send("one\r\ntwo\nthr"));
    EXPECT_EQ(client.line(), "hey one (plain)");
    EXPECT_EQ(client.line(), "hey two (plain)");
    ASSERT_TRUE(client.send("ee\n"));
    EXPECT_EQ(client.line(), "hey three (plain)");
    ASSERT_TRUE(client.send("0123456789\n"));  // exactly max_line
    EXPECT_EQ(client.line(), "hey 0123456789 (plain)");
    ASSERT_TRUE(client.send("0123456789A\nnext\n"));  // one byte over
    EXPECT_EQ(client.line(), "too long: max 10");
    EXPECT_EQ(client.line(), "hey next (plain)");
    ASSERT_TRUE(client.send(std::string(100000, 'z') + "\nafter\n"));  // far over, across many reads
    EXPECT_EQ(client.line(), "too long: max 10");
    EXPECT_EQ(client.line(), "hey after (plain)");
}

TEST(Host, ExceptionInAPluginClosesOnlyThatSession) {
    TempDir dir;
    const auto plugins = pluginDirWith(dir, {"faulty"});
    HostProcess host("plugin_dir: " + plugins +
                     "\nservices:\n  f:\n    plugin: faulty\n    listen: 127.0.0.1:0\n");
    ASSERT_TRUE(host.started()) << host.log();
    Client bystander(host.port("f"));
    Client victim(host.port("f"));
    ASSERT_TRUE(victim.send("fine\nboom\n"));
    EXPECT_EQ(victim.line(), "fine");
    EXPECT_TRUE(victim.waitClosed());
    EXPECT_TRUE(host.waitForLog("f (plugin faulty): on_data failed: boom on purpose")) << host.log();
    ASSERT_TRUE(bystander.send("still\n"));
    EXPECT_EQ(bystander.line(), "still");
}

TEST(Host, IdleSessionsAreClosed) {
    HostProcess host(
        "services:\n  echo:\n    plugin: echo\n    listen: 127.0.0.1:0\n    idle_timeout: 300ms\n");
    ASSERT_TRUE(host.started()) << host.log();
    Client idle(host.port("echo"));
    ASSERT_TRUE(idle.send("a"));
    EXPECT_EQ(idle.readExactly(1), "a");
    EXPECT_TRUE(idle.waitClosed(3s));
}

TEST(Host, ConnectionsBeyondMaxConnectionsAreRefusedAtOnce) {
    TempDir dir;
    const auto plugins = pluginDirWith(dir, {"probe", "echo"});
    HostProcess host("plugin_dir: " + plugins +
                     "\nservices:\n  p:\n    plugin: probe\n    listen: 127.0.0.1:0\n    max_connections: 2\n"
                     "  e:\n    plugin: echo\n    listen: 127.0.0.1:0\n    max_connections: 1\n");
    ASSERT_TRUE(host.started()) << host.log();
    Client a(host.port("p"));
    Client b(host.port("p"));
    ASSERT_TRUE(a.send("1\n"));
    ASSERT_EQ(a.line(), "hello 1 (plain)");
    ASSERT_TRUE(b.send("2\n"));
    ASSERT_EQ(b.line(), "hello 2 (plain)");
    Client refused(host.port("p"));
    EXPECT_EQ(refused.line(), "! server busy");  // a line-based plugin gets a reason
    EXPECT_TRUE(refused.waitClosed());
    Client e1(host.port("e"));
    ASSERT_TRUE(e1.send("x"));
    ASSERT_EQ(e1.readExactly(1), "x");
    Client e2(host.port("e"));
    std::string rest;
    EXPECT_TRUE(e2.waitClosed(5s, &rest));
    EXPECT_EQ(rest, "");  // raw protocols get no text they did not ask for
    a.close();
    EXPECT_TRUE(eventually([&] {
        Client next(host.port("p"));
        next.send("3\n");
        return next.line() == "hello 3 (plain)";
    }));
}

}  // namespace
