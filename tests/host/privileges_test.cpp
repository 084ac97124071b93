// Privilege drop: bind as root (ports below 1024, the admin socket), then run — and load plugins — as
// `user:`.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "support/client.h"
#include "support/host_process.h"

namespace {

using namespace plughost::test;

// A port below 1024 that nothing listens on right now.
std::uint16_t freePrivilegedPort(std::uint16_t from) {
    for (std::uint16_t port = from; port < 1024; ++port) {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(port);
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
        ::close(fd);
        if (free) {
            return port;
        }
    }
    return 0;
}

std::string procStatusLine(pid_t pid, const std::string& key) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(key + ":", 0) == 0) {
            return line;
        }
    }
    return "";
}

class Privileges : public ::testing::Test {
protected:
    void SetUp() override {
        if (::geteuid() != 0) {
            GTEST_SKIP() << "needs root to bind ports below 1024 and to drop privileges";
        }
    }
};

TEST_F(Privileges, BindsAsRootThenRunsAsTheConfiguredUser) {
    const std::uint16_t port = freePrivilegedPort(900);
    ASSERT_NE(port, 0);
    TempDir plugins;
    ::chmod(plugins.path().c_str(), 0755);
    std::filesystem::copy_file(std::string(PLUGHOST_PLUGIN_DIR) + "/echo.so", plugins.path() + "/echo.so");
    std::filesystem::copy_file(std::string(PLUGHOST_TEST_PLUGIN_DIR) + "/probe.so",
                               plugins.path() + "/probe.so");
    const std::string head = "plugin_dir: " + plugins.path() + "\nuser: nobody\ngroup: nogroup\nservices:\n";
    const std::string echo = "  low:\n    plugin: echo\n    listen: 127.0.0.1:" + std::to_string(port) + "\n";
    HostProcess host(head + echo, {}, 10s);
    // The dropped user must still read its config and write its ready file.
    if (!host.started()) {
        FAIL() << host.log();
    }
    EXPECT_TRUE(host.waitForLog("running as user nobody, group nogroup")) << host.log();
    EXPECT_TRUE(std::regex_search(procStatusLine(host.pid(), "Uid"),
                                  std::regex("Uid:\\s+65534\\s+65534\\s+65534\\s+65534")))
        << procStatusLine(host.pid(), "Uid");
    EXPECT_TRUE(std::regex_search(procStatusLine(host.pid(), "Groups"), std::regex("Groups:\\s*$")))
        << procStatusLine(host.pid(), "Groups");

    Client client(port);
    ASSERT_TRUE(client.send("low port"));
    EXPECT_EQ(client.readExactly(8), "low port");

    struct stat info {};
    ASSERT_EQ(::stat(host.adminSocket().c_str(), &info), 0);
    EXPECT_EQ(info.st_uid, 65534u);
    EXPECT_EQ(info.st_mode & 0777, 0600u);

    // A changed service keeps its privileged port: the socket is handed over, not rebound.
    auto rewrite = [&](const std::string& services) {
        std::ofstream(host.configPath() + ".new")
            << head << services << "admin:\n  socket: " << host.adminSocket() << "\n";
        std::filesystem::rename(host.configPath() + ".new", host.configPath());
    };
    rewrite("  low:\n    plugin: echo\n    listen: 127.0.0.1:" + std::to_string(port) +
            "\n    max_line: 100\n");
    auto reload = runCtl({"reload", "--socket", host.adminSocket()});
    EXPECT_TRUE(std::regex_search(reload.output, std::regex("low +changed \\(restarted\\)")))
        << reload.output;
    Client again(port);
    ASSERT_TRUE(again.send("still"));
    EXPECT_EQ(again.readExactly(5), "still");

    // A new privileged port cannot be bound after the drop, and the reason says so.
    const std::uint16_t other = freePrivilegedPort(static_cast<std::uint16_t>(port + 1));
    rewrite(echo + "  high:\n    plugin: probe\n    listen: 127.0.0.1:" + std::to_string(other) + "\n");
    reload = runCtl({"reload", "--socket", host.adminSocket()});
    EXPECT_NE(reload.output.find("failed: cannot listen on 127.0.0.1:" + std::to_string(other) +
                                 ": Permission denied"),
              std::string::npos)
        << reload.output;
    EXPECT_NE(reload.output.find("needs a restart"), std::string::npos) << reload.output;
}

TEST_F(Privileges, RootWithoutUserIsWarnedAbout) {
    HostProcess host("services:\n  e:\n    plugin: echo\n    listen: 127.0.0.1:0\n");
    ASSERT_TRUE(host.started()) << host.log();
    EXPECT_TRUE(
        host.waitForLog("running as root: plugins get full privileges; set user: (and group:) in the config"))
        << host.log();
}

TEST(PrivilegeConfig, UnknownUserOrGroupIsAConfigError) {
    TempDir dir;
    const auto config = dir.write("p.yaml", "user: no-such-user-here\ngroup: no-such-group\nservices: {}\n");
    const auto result = runCtl({"check", config});
    EXPECT_EQ(result.exitCode, 1);
    EXPECT_NE(result.output.find(config + ":1:7: user: no such user: no-such-user-here"), std::string::npos)
        << result.output;
    EXPECT_NE(result.output.find(config + ":2:8: group: no such group: no-such-group"), std::string::npos)
        << result.output;
}

}  // namespace
