// The chat page in a real browser against the real host: one chat service (line dialect) with a plain
// TCP listener for nc and a second one serving web/chat/ and IRC over WebSocket at /irc, as the default
// config has it. chat_page.py drives two headless Chromium users and a TCP user and prints "ok: ..." per
// check; this test starts the host, hands the script a command that makes the host restart the service
// (a changed setting, then SIGHUP), and asserts the script's own verdict.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "support/host_process.h"

using namespace plughost::test;

namespace {

const std::string kScript = std::string(PLUGHOST_SOURCE_DIR) + "/tests/web/chat_page.py";

std::string chatYaml(const std::string& pluginDir, int namesMax) {
    return "plugin_dir: " + pluginDir +
           "\nservices:\n"
           "  chat:\n    plugin: chat\n"
           "    settings: {dialect: line, names_max: " +
           std::to_string(namesMax) +
           "}\n"
           "    listen:\n"
           "      - 127.0.0.1:0\n"
           "      - {address: 127.0.0.1:0, websocket: {path: /irc}, static: " +
           std::string(PLUGHOST_SOURCE_DIR) + "/web/chat}\n";
}

std::uint16_t portOf(const std::string& address) {
    return static_cast<std::uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
}

TEST(ChatPage, TwoBrowsersAndANcUserChatAndThePageSurvivesAReload) {
    TempDir scratch;
    const std::string plugins = pluginDirWith(scratch, {"chat"});
    HostProcess host(chatYaml(plugins, 40));
    ASSERT_TRUE(host.started()) << host.log();
    const auto addresses = host.addresses("chat");
    ASSERT_EQ(addresses.size(), 2u) << host.log();
    const std::string page = "http://127.0.0.1:" + std::to_string(portOf(addresses[1])) + "/";

    // The restart the script asks for: the same listeners, one setting changed, so the host replaces the
    // service (its sessions are closed with 1001 and the page must reconnect by itself).
    const std::string next = scratch.write("next.yaml", chatYaml(plugins, 41));
    const std::string reload = "cp " + next + " " + host.configPath() + ".new && mv " + host.configPath() +
                               ".new " + host.configPath() + " && kill -HUP " + std::to_string(host.pid());
    ::mkdir(PLUGHOST_WEB_ARTIFACTS, 0755);

    const std::string out = capture("timeout 170 /usr/bin/python3 " + kScript + " " + page + " " +
                                    std::to_string(portOf(addresses[0])) + " '" + reload + "' " +
                                    PLUGHOST_WEB_ARTIFACTS + " 2>&1");
    EXPECT_NE(out.find("all checks passed"), std::string::npos) << out << "\n--- host log\n" << host.log();
    for (const char* check :
         {"ok: two browser users and a TCP user are in one room", "ok: messages go both ways",
          "ok: HTML from the network is shown as text", "ok: a private message is shown apart",
          "ok: a line too long is refused", "ok: a taken nickname is told", "ok: a full room is told",
          "ok: the keyboard switches tabs", "ok: a reload of the service reconnects the page",
          "ok: a phone-sized screen"}) {
        EXPECT_NE(out.find(check), std::string::npos) << check << "\n" << out;
    }
    EXPECT_TRUE(std::ifstream(std::string(PLUGHOST_WEB_ARTIFACTS) + "/chat-desktop.png").good());
}

}  // namespace
