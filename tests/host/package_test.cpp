// The .deb as an operator gets it: built by CPack, unpacked into a scratch root
// (dpkg -x; the machine's package database is not touched), its plughostd run
// against its own config (ports moved to free ones, no user: drop) and asked for status by its
// plughostctl. Debian's tools judge the same package in debian_test.cpp.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "support/client.h"
#include "support/host_process.h"

namespace {

using namespace plughost::test;

TEST(Package, DebInstallsARunnableHost) {
    TempDir dir;
    const std::string out = dir.path() + "/out";
    const std::string built =
        capture("cpack -G DEB --config " PLUGHOST_BINARY_DIR "/CPackConfig.cmake -B " + out);
    std::string deb;
    for (const auto& entry : std::filesystem::directory_iterator(out)) {
        if (entry.path().extension() == ".deb") {
            deb = entry.path();
        }
    }
    ASSERT_FALSE(deb.empty()) << built;
    const std::string root = dir.path() + "/root";
    ASSERT_EQ(std::system(("dpkg -x " + deb + " " + root).c_str()), 0);

    for (const char* file :
         {"/usr/bin/plughostd", "/usr/bin/plughostctl", "/etc/plughost/plughost.yaml",
          "/usr/lib/systemd/system/plughost.service", "/usr/lib/systemd/system/plughost.socket",
          "/usr/lib/tmpfiles.d/plughost.conf", "/usr/share/doc/plughost/copyright",
          "/usr/share/doc/plughost/changelog.gz", "/usr/include/plughost/plugin.h",
          "/usr/lib/x86_64-linux-gnu/cmake/plughost/plughostConfig.cmake",
          "/usr/lib/x86_64-linux-gnu/plughost/plugins/echo.so", "/usr/share/plughost/web/chat/index.html",
          "/usr/share/plughost/web/chat/chat.js", "/usr/share/plughost/web/chat/chat.css"}) {
        EXPECT_TRUE(std::filesystem::exists(root + file)) << file;
    }
    EXPECT_NE(capture("dpkg-deb -I " + deb + " conffiles").find("/etc/plughost/plughost.yaml"),
              std::string::npos);
    const std::string unit = readFile(root + "/usr/lib/systemd/system/plughost.service");
    for (const char* line :
         {"ExecReload=/bin/kill -HUP $MAINPID", "Restart=on-failure", "NoNewPrivileges=true",
          "ProtectSystem=strict", "Type=notify", "ReadWritePaths=/run/plughost"}) {
        EXPECT_NE(unit.find(line), std::string::npos) << line;
    }

    // The installed config, with the package's paths moved into the scratch root and free ports.
    std::string config = readFile(root + "/etc/plughost/plughost.yaml");
    EXPECT_NE(config.find("plugin_dir: /usr/lib/x86_64-linux-gnu/plughost/plugins"), std::string::npos)
        << config;
    EXPECT_NE(config.find("socket: /run/plughost/admin.sock"), std::string::npos) << config;
    EXPECT_NE(config.find("static: /usr/share/plughost/web/chat"), std::string::npos) << config;
    config = std::regex_replace(config, std::regex("plugin_dir: /usr"), "plugin_dir: " + root + "/usr");
    config = std::regex_replace(config, std::regex("static: /usr"), "static: " + root + "/usr");
    config = std::regex_replace(config, std::regex("socket: /run/plughost/admin.sock"),
                                "socket: " + dir.path() + "/admin.sock");
    config = std::regex_replace(config, std::regex("127\\.0\\.0\\.1:[0-9]+"), "127.0.0.1:0");
    // It runs as the package's plughost user, which only the postinst creates (debian_test.cpp
    // runs that for real); this machine has none, so here the host keeps the test's user.
    EXPECT_NE(config.find("\nuser: plughost"), std::string::npos) << config;
    config = std::regex_replace(config, std::regex("\n(user|group): plughost[^\n]*"), "");
    HostProcess host(config, {}, 10s, root + "/usr/bin/plughostd");
    ASSERT_TRUE(host.started()) << host.log();
    const std::string status =
        capture(root + "/usr/bin/plughostctl status --socket " + dir.path() + "/admin.sock; echo exit=$?");
    EXPECT_NE(status.find("exit=0"), std::string::npos) << status;
    EXPECT_TRUE(
        std::regex_search(status, std::regex("echo +echo 1\\.0\\.0 +127\\.0\\.0\\.1:[0-9]+ .*running")))
        << status;
    Client client(host.port("echo"));
    ASSERT_TRUE(client.send("packaged\n"));
    EXPECT_EQ(client.line(), "packaged");
    // The chat page, served from the package's files by the chat service's second listener.
    const std::string web = host.addresses("chat").at(1);
    Client browser(static_cast<std::uint16_t>(std::stoi(web.substr(web.rfind(':') + 1))));
    ASSERT_TRUE(browser.send("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"));
    EXPECT_EQ(browser.line(), "HTTP/1.1 200 OK\r");
    EXPECT_TRUE(host.waitForLog("service chat: open http://127.0.0.1:")) << host.log();
}

}  // namespace
