// Limits and access rules against the real host: what is refused, why, and that the rest keeps working.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <regex>

#include "support/client.h"
#include "support/host_process.h"

namespace {

using namespace plughost::test;
using Clock = std::chrono::steady_clock;

// A host with the probe plugin (line-based, so refusals carry a reason) and echo (raw).
std::string withPlugins(const TempDir& dir, const std::string& services) {
    const std::string plugins = dir.path() + "/plugins";
    std::filesystem::create_directories(plugins);
    std::filesystem::copy_file(std::string(PLUGHOST_TEST_PLUGIN_DIR) + "/probe.so", plugins + "/probe.so");
    std::filesystem::copy_file(std::string(PLUGHOST_PLUGIN_DIR) + "/echo.so", plugins + "/echo.so");
    return "plugin_dir: " + plugins + "\n" + services;
}

std::string ask(Client& client, const std::string& line) {
    client.send(line + "\n");
    return client.line();
}

TEST(Limits, PerAddressLimitRefusesOnlyThatAddress) {
    TempDir dir;
    HostProcess host(
        withPlugins(dir, "services:\n  p:\n    plugin: probe\n    listen: 127.0.0.1:0\n    max_per_ip: 2\n"));
    ASSERT_TRUE(host.started()) << host.log();
    Client a(host.port("p"));
    Client b(host.port("p"));
    ASSERT_EQ(ask(a, "a"), "hello a (plain)");
    ASSERT_EQ(ask(b, "b"), "hello b (plain)");
    Client third(host.port("p"));
    EXPECT_EQ(third.line(), "! too many connections from your address");
    EXPECT_TRUE(third.waitClosed());
    Client other(host.port("p"), "127.0.0.1", "127.0.0.2");  // another address is not affected
    EXPECT_EQ(ask(other, "c"), "hello c (plain)");
    a.close();  // a slot frees up when a session ends
    EXPECT_TRUE(eventually([&] {
        Client next(host.port("p"));
        return ask(next, "d") == "hello d (plain)";
    }));
    // At least the third one; a retry above may have been refused too while a's close was under way.
    EXPECT_TRUE(std::regex_search(statusJson(host), std::regex("\"per_ip\": [1-9]"))) << statusJson(host);
}

TEST(Limits, RateLimitsOneAddressAndKeepsServingOthers) {
    TempDir dir;
    HostProcess host(
        withPlugins(dir, "services:\n  p:\n    plugin: probe\n    listen: 127.0.0.1:0\n    rate: 2\n"));
    ASSERT_TRUE(host.started()) << host.log();
    int accepted = 0;
    int refused = 0;
    const auto began = Clock::now();
    for (int i = 0; i < 10; ++i) {
        Client client(host.port("p"));
        const std::string reply = ask(client, "x");
        accepted += reply == "hello x (plain)" ? 1 : 0;
        refused += reply == "! too many new connections from your address; slow down" ? 1 : 0;
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - began).count();
    // A burst of 2, refilled at 2 per second over however long the loop took (slow under sanitizers).
    EXPECT_GE(accepted, 2);
    EXPECT_LE(accepted, 2 + static_cast<int>(2 * seconds) + 1) << "in " << seconds << " s";
    EXPECT_EQ(accepted + refused, 10);
    Client elsewhere(host.port("p"), "127.0.0.1", "127.0.0.3");
    EXPECT_EQ(ask(elsewhere, "y"), "hello y (plain)");  // unlike xinetd's cps, the service stays up
    EXPECT_NE(statusJson(host).find("\"rate\": " + std::to_string(refused)), std::string::npos)
        << statusJson(host);
}

TEST(Limits, DeniedAddressesAreRefused) {
    TempDir dir;
    HostProcess host(
        withPlugins(dir,
                    "services:\n  p:\n    plugin: probe\n    listen: 127.0.0.1:0\n    deny: [127.0.0.2/32]\n"
                    "  e:\n    plugin: echo\n    listen: 127.0.0.1:0\n"
                    "    deny: [127.0.0.0/8]\n    allow: [127.0.0.1]\n"));
    ASSERT_TRUE(host.started()) << host.log();
    Client denied(host.port("p"), "127.0.0.1", "127.0.0.2");
    EXPECT_EQ(denied.line(), "! access denied");
    EXPECT_TRUE(denied.waitClosed());
    Client welcome(host.port("p"));
    EXPECT_EQ(ask(welcome, "w"), "hello w (plain)");
    Client raw(host.port("e"), "127.0.0.1", "127.0.0.5");
    std::string rest;
    EXPECT_TRUE(raw.waitClosed(5s, &rest));
    EXPECT_EQ(rest, "");             // echo is raw: refused without a word
    Client allowed(host.port("e"));  // the /32 allow beats the /8 deny
    ASSERT_TRUE(allowed.send("k"));
    EXPECT_EQ(allowed.readExactly(1), "k");
    const std::string metrics = runCtl({"status", "--json", "--socket", host.adminSocket()}).output;
    EXPECT_NE(metrics.find("\"acl\": 1"), std::string::npos) << metrics;
}

TEST(Limits, HostWideLimitSpansServices) {
    TempDir dir;
    HostProcess host(
        withPlugins(dir,
                    "max_connections: 3\nservices:\n  p:\n    plugin: probe\n    listen: 127.0.0.1:0\n"
                    "  q:\n    plugin: probe\n    listen: 127.0.0.1:0\n"));
    ASSERT_TRUE(host.started()) << host.log();
    Client p1(host.port("p"));
    Client p2(host.port("p"));
    Client q1(host.port("q"));
    for (Client* client : {&p1, &p2, &q1}) {
        ASSERT_EQ(ask(*client, "z"), "hello z (plain)");
    }
    Client q2(host.port("q"));
    EXPECT_EQ(q2.line(), "! server busy");
}

TEST(Limits, RefusalsAreCountedButLoggedAtMostOnceASecond) {
    TempDir dir;
    HostProcess host(withPlugins(
        dir, "services:\n  p:\n    plugin: probe\n    listen: 127.0.0.1:0\n    deny: [127.0.0.1]\n"));
    ASSERT_TRUE(host.started()) << host.log();
    const auto began = Clock::now();
    for (int i = 0; i < 300; ++i) {
        Client client(host.port("p"));
        client.waitClosed(2s);
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - began).count();
    EXPECT_TRUE(eventually([&] { return statusJson(host).find("\"acl\": 300") != std::string::npos; }))
        << statusJson(host);
    const std::string log = host.log();
    std::size_t lines = 0;
    for (std::size_t at = log.find("service p: refused"); at != std::string::npos;
         at = log.find("service p: refused", at + 1)) {
        ++lines;
    }
    EXPECT_GE(lines, 1u);
    EXPECT_LE(static_cast<double>(lines), seconds + 2) << log;
    EXPECT_NE(log.find("(latest: acl from 127.0.0.1)"), std::string::npos) << log;
}

TEST(Limits, ShutdownDrainsThenCutsClientsThatDoNotRead) {
    TempDir dir;
    HostProcess host(withPlugins(
        dir,
        "drain: 1s\nservices:\n  e:\n    plugin: echo\n    listen: 127.0.0.1:0\n    max_queue: 16MiB\n"));
    ASSERT_TRUE(host.started()) << host.log();
    Client reader(host.port("e"));
    Client stalled(host.port("e"));
    // The stalled client leaves megabytes of echo unread, so its session cannot finish flushing.
    for (int i = 0; i < 8; ++i) {
        stalled.send(std::string(1 << 20, 's'));
    }
    ASSERT_TRUE(reader.send("r"));
    ASSERT_EQ(reader.readExactly(1), "r");
    const auto began = Clock::now();
    // It exits although the stalled client never reads: the drain ends and the rest is cut.
    EXPECT_EQ(host.stop(SIGTERM, 60s), 0) << host.log();
    // A lower bound only (safe under sanitizers): it did wait out the drain for the one still owed output.
    EXPECT_GE(Clock::now() - began, 900ms);
    EXPECT_TRUE(reader.waitClosed(5s));
}

TEST(Limits, LogsHowManyConnectionsItCanHold) {
    HostProcess host("services:\n  e:\n    plugin: echo\n    listen: 127.0.0.1:0\n");
    ASSERT_TRUE(host.started()) << host.log();
    EXPECT_TRUE(std::regex_search(host.log(),
                                  std::regex("open-file limit [0-9]+: room for about [0-9]+ connections")))
        << host.log();
}

}  // namespace
