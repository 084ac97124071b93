// The C ABI from every side a plugin author can come from, each plugin loaded
// by the normal host and served over real sockets: C with no C++ runtime,
// C++ on clang's libc++, C++ on libstdc++'s old string ABI, a plugin built
// against the older 2.0 header; and the ways loading must refuse.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <ostream>
#include <string>

#include "support/client.h"
#include "support/host_process.h"

namespace {

using plughost::test::capture;
using plughost::test::Client;
using plughost::test::HostProcess;
using plughost::test::ProbeMarker;
using plughost::test::readFile;
using plughost::test::runCtl;
using plughost::test::TempDir;
using namespace std::chrono_literals;

const std::string kTestPlugins = PLUGHOST_TEST_PLUGIN_DIR;

struct Probe {
    const char* plugin;
    bool minor1;  // built against 2.1: has on_stopping and session_queued
};

std::string greeting() {
    std::string text;
    for (int i = 0; text.size() < 64 * 1024; ++i) {
        text += "long-setting-" + std::to_string(i) + "-";
    }
    return text;
}

std::string probeConfig(const std::string& plugin, const std::string& extra = "") {
    return "plugin_dir: " + kTestPlugins + "\n" + extra + "services:\n  p:\n    plugin: " + plugin +
           "\n    listen: 127.0.0.1:0\n    settings:\n      greeting: " + greeting() + "\n      tag: T-" +
           plugin + "\n      repeat: 2\n      items: [alpha, beta, gamma]\n";
}

void PrintTo(const Probe& probe, std::ostream* out) { *out << probe.plugin; }

class AbiProbe : public ::testing::TestWithParam<Probe> {};

TEST_P(AbiProbe, ServesWithSettingsLoggingAndSendsFromAnotherThread) {
    const Probe probe = GetParam();
    const std::string tag = std::string("T-") + probe.plugin;
    HostProcess host(probeConfig(probe.plugin));
    ASSERT_TRUE(host.started()) << host.log();

    Client client(host.port("p"));
    EXPECT_EQ(client.line(), greeting());  // a 64 KiB setting, through the ABI and back
    ASSERT_TRUE(client.send("hello\nlist\npeer\nlog hi there\n"));
    EXPECT_EQ(client.line(), tag + ": hello");
    EXPECT_EQ(client.line(), tag + ": hello");     // repeat: 2, an int setting
    EXPECT_EQ(client.line(), "alpha,beta,gamma");  // a list setting
    EXPECT_EQ(client.line().rfind("peer 127.0.0.1:", 0), 0u);
    EXPECT_EQ(client.line(), "logged");
    EXPECT_TRUE(host.waitForLog("p " + tag + " says hi there")) << host.log();
    // Asked alone, after every answer was read: nothing else is waiting for the client.
    ASSERT_TRUE(client.send("queued\n"));
    EXPECT_EQ(client.line(), probe.minor1 ? "queued 0" : "queued n/a");
    // 2.2's session_connection, for a plugin built with a header that has it: plain TCP here.
    ASSERT_TRUE(client.send("transport\n"));
    EXPECT_EQ(client.line(), probe.minor1 ? "transport 0" : "transport n/a");

    // The plugin sends and closes from a thread of its own, holding the session.
    ASSERT_TRUE(client.send("later bye\n"));
    EXPECT_EQ(client.line(), "later: bye");
    EXPECT_TRUE(client.waitClosed());

    // A failing callback closes that session only.
    Client failing(host.port("p"));
    EXPECT_EQ(failing.line(), greeting());
    ASSERT_TRUE(failing.send("fail\n"));
    EXPECT_TRUE(failing.waitClosed());
    EXPECT_TRUE(
        host.waitForLog(std::string("p (plugin ") + probe.plugin + "): on_data failed: failed on purpose"))
        << host.log();
    Client after(host.port("p"));
    EXPECT_EQ(after.line(), greeting());
    ASSERT_TRUE(after.send("still\n"));
    EXPECT_EQ(after.line(), tag + ": still");

    EXPECT_EQ(host.stop(), 0);
    // on_stopping exists from 2.1 on; a 2.0 plugin is never called beyond its table.
    EXPECT_EQ(host.log().find("p " + tag + " stopping") != std::string::npos, probe.minor1) << host.log();
}

// A setting refused through the C ABI (by C code, or by a SettingError caught
// inside the C++ SDK) is a config error at its key, like any other.
TEST_P(AbiProbe, ARefusedSettingIsReportedAtItsPosition) {
    TempDir dir;
    const std::string file =
        dir.write("plughost.yaml",
                  "plugin_dir: " + kTestPlugins + "\nservices:\n  p:\n    plugin: " + GetParam().plugin +
                      "\n    listen: 127.0.0.1:0\n    settings:\n      tag: " + std::string(64, 't') + "\n");
    const auto checked = runCtl({"check", file});
    EXPECT_EQ(checked.exitCode, 1) << checked.output;
    EXPECT_NE(checked.output.find(file + ":7:12: services.p.settings.tag: must be 1-63 bytes"),
              std::string::npos)
        << checked.output;
}

INSTANTIATE_TEST_SUITE_P(EveryKindOfPlugin, AbiProbe,
                         ::testing::Values(Probe{"abi_probe_c", true}, Probe{"abi_probe_v20", false},
                                           Probe{"abi_probe_libcxx", true}, Probe{"abi_probe_oldabi", true}),
                         [](const auto& info) { return std::string(info.param.plugin); });

// The fixtures really are what they claim to be.
TEST(Abi, TheCPluginNeedsNoCxxRuntime) {
    const std::string needed = capture("readelf -d " + kTestPlugins + "/abi_probe_c.so");
    EXPECT_NE(needed.find("(NEEDED)"), std::string::npos) << needed;
    EXPECT_EQ(needed.find("libstdc++"), std::string::npos) << needed;
    EXPECT_EQ(needed.find("libc++"), std::string::npos) << needed;
}

TEST(Abi, TheLibcxxPluginUsesLibcxxAndTheOldAbiPluginTheOldStrings) {
    const std::string libcxx = capture("readelf -d " + kTestPlugins + "/abi_probe_libcxx.so");
    EXPECT_NE(libcxx.find("libc++.so"), std::string::npos) << libcxx;
    EXPECT_EQ(libcxx.find("libstdc++"), std::string::npos) << libcxx;
    // libstdc++'s pre-C++11 std::string is mangled "Ss"; the C++11 one "NSt7__cxx1112basic_string".
    const std::string oldAbi = capture("nm -D --undefined-only " + kTestPlugins + "/abi_probe_oldabi.so");
    EXPECT_NE(oldAbi.find("_ZNSs"), std::string::npos) << oldAbi;
    EXPECT_EQ(oldAbi.find("__cxx11"), std::string::npos) << oldAbi;
}

// Only the plugin's services fail; the host and every other service carry on.
TEST(Abi, AnUnresolvedSymbolFailsOnlyThatPluginsService) {
    HostProcess host("plugin_dir: " + kTestPlugins +
                     "\nservices:\n"
                     "  u:\n    plugin: unresolved\n    listen: 127.0.0.1:0\n"
                     "  e:\n    plugin: abi_probe_c\n    listen: 127.0.0.1:0\n");
    ASSERT_TRUE(host.started()) << host.log();
    EXPECT_NE(host.log().find("service u: failed: " + kTestPlugins + "/unresolved.so: cannot load: "),
              std::string::npos)
        << host.log();
    EXPECT_NE(host.log().find("undefined symbol: plughost_test_function_nobody_defines"), std::string::npos)
        << host.log();
    Client client(host.port("e"));
    ASSERT_TRUE(client.send("x\n"));
    EXPECT_EQ(client.line(), "abi_probe_c: x");
}

TEST(Abi, AnotherMajorIsRefusedByTheHostBeforeAnyOfItsFunctionsRuns) {
    ProbeMarker marker;
    HostProcess host("plugin_dir: " + kTestPlugins +
                     "\nservices:\n"
                     "  w:\n    plugin: wrong_abi\n    listen: 127.0.0.1:0\n"
                     "  e:\n    plugin: abi_probe_c\n    listen: 127.0.0.1:0\n");
    ASSERT_TRUE(host.started()) << host.log();
    EXPECT_NE(host.log().find(
                  "service w: failed: " + kTestPlugins +
                  "/wrong_abi.so: built against plugin ABI 3.0, but this host speaks ABI 2.3 (too new); "
                  "rebuild it against this SDK"),
              std::string::npos)
        << host.log();
    EXPECT_EQ(marker.text().find("wrong_abi"), std::string::npos) << marker.text();
    EXPECT_NE(marker.text().find("create uid="),
              std::string::npos);  // the marker works: abi_probe_c's create ran
}

// No plugin code runs as root: `plughostctl check` (systemd's ExecStartPre)
// becomes user:/group: before loading plugins, as the daemon does.
TEST(Abi, CheckAndTheDaemonRunPluginCodeOnlyAsTheConfiguredUser) {
    if (::geteuid() != 0) {
        GTEST_SKIP() << "needs root to drop privileges";
    }
    ProbeMarker marker;
    const std::string config = probeConfig("abi_probe_c", "user: nobody\ngroup: nogroup\n");
    TempDir dir;
    const std::string file = dir.write("plughost.yaml", config);
    const auto checked = runCtl({"check", file});
    EXPECT_EQ(checked.exitCode, 0) << checked.output;
    EXPECT_EQ(marker.text(), "create uid=65534\n");
    HostProcess host(config);
    ASSERT_TRUE(host.started()) << host.log();
    EXPECT_EQ(marker.text(), "create uid=65534\ncreate uid=65534\n");
}

}  // namespace
