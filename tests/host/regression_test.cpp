// Regressions from the review of host/ (issue 10, items 1-9), each against the
// real plughostd. The fixture plugin `keeper` (tests/host/test-plugins) keeps
// session handles, sends a large reply and closes, and can throw from onStopping.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "support/client.h"
#include "support/host_process.h"

namespace {

using namespace plughost::test;

RunResult ctl(const HostProcess& host, std::vector<std::string> args) {
    args.push_back("--socket");
    args.push_back(host.adminSocket());
    return runCtl(args);
}

// The config the host runs, replaced by `body` (plus the harness's admin socket).
void rewrite(const HostProcess& host, const std::string& body) {
    replaceFile(host.configPath(), body + "\nadmin:\n  socket: " + host.adminSocket() + "\n");
}

std::string keeper(const std::string& name, const std::string& extra = "") {
    return "  " + name + ":\n    plugin: keeper\n    listen: 127.0.0.1:0\n" + extra;
}

// A client that leaves megabytes of echo unread, so its session cannot flush and a drain lasts its whole
// period.
void stall(Client& client) {
    for (int i = 0; i < 8; ++i) {
        client.send(std::string(1 << 20, 's'));
    }
}

// Item 1: the plugin queued a large reply and closed; the client half-closes at once (nc -q1).
TEST(Regression, HalfCloseWhileClosingStillGetsTheWholeReply) {
    TempDir dir;
    const auto plugins = pluginDirWith(dir, {"keeper"});
    HostProcess host("plugin_dir: " + plugins + "\nservices:\n" + keeper("k", "    max_queue: 64MiB\n"));
    ASSERT_TRUE(host.started()) << host.log();
    Client client(host.port("k"));
    constexpr std::size_t kReply = 12 * 1000 * 1000;  // far more than the kernel buffers at once
    ASSERT_TRUE(client.send("big " + std::to_string(kReply) + "\n"));
    client.shutdownWrite();
    std::string rest;
    EXPECT_TRUE(client.waitClosed(30s, &rest));
    EXPECT_EQ(rest.size(), kReply + 1) << "the tail of the reply was lost";
}

// Item 2: a change the watcher sees during the shutdown drain is not applied.
TEST(Regression, AChangeDuringTheShutdownDrainIsNotApplied) {
    const std::string echo = "  e:\n    plugin: echo\n    listen: 127.0.0.1:0\n    max_queue: 16MiB\n";
    HostProcess host("watch: true\ndrain: 3s\nservices:\n" + echo);
    ASSERT_TRUE(host.started()) << host.log();
    Client stalled(host.port("e"));
    stall(stalled);
    ::kill(host.pid(), SIGTERM);
    ASSERT_TRUE(host.waitForLog("stopping")) << host.log();
    rewrite(host, "plugin_dir: " + std::string(PLUGHOST_PLUGIN_DIR) +
                      "\nwatch: true\ndrain: 3s\nservices:\n" + echo +
                      "  late:\n    plugin: echo\n    listen: 127.0.0.1:0\n");
    EXPECT_EQ(host.wait(30s), 0) << host.log();
    EXPECT_EQ(host.log().find("late"), std::string::npos) << "a reload ran during or after the shutdown:\n"
                                                          << host.log();
    EXPECT_TRUE(host.waitForLog("stopped")) << host.log();
}

// Item 3: the host-wide limit holds while two services accept at once and reloads rewrite it.
TEST(Regression, HostWideLimitHoldsWhileServicesAcceptAtOnceAndReloadsRewriteIt) {
    const std::string services =
        "services:\n  a:\n    plugin: echo\n    listen: 127.0.0.1:0\n"
        "  b:\n    plugin: echo\n    listen: 127.0.0.1:0\n";
    HostProcess host("max_connections: 10\n" + services);
    ASSERT_TRUE(host.started()) << host.log();
    std::atomic<bool> reloading{true};
    std::thread reloader([&] {
        for (int i = 0; reloading && i < 50; ++i) {
            rewrite(host,
                    "plugin_dir: " + std::string(PLUGHOST_PLUGIN_DIR) + "\nmax_connections: 10\n" + services);
            ctl(host, {"reload"});
        }
    });
    std::vector<Client> held[2];
    std::thread connectors[2];
    for (int side = 0; side < 2; ++side) {
        connectors[side] = std::thread([&, side] {
            for (int i = 0; i < 40; ++i) {
                held[side].emplace_back(host.port(side == 0 ? "a" : "b"));
            }
        });
    }
    for (auto& thread : connectors) {
        thread.join();
    }
    reloading = false;
    reloader.join();
    int admitted = 0;
    for (auto& side : held) {
        for (auto& client : side) {
            client.send("x");
            admitted += client.readExactly(1, 2s) == "x" ? 1 : 0;
        }
    }
    EXPECT_GE(admitted, 1);
    EXPECT_LE(admitted, 10);
}

// Item 4: slots taken by connections Poco drops (TCPServer::stop() on a restart
// with clients queued, a hand-off to a service already gone) come back.
TEST(Regression, AdmissionSlotsComeBackAfterRestartsUnderConnectionLoad) {
    auto config = [](int round) {
        return "max_connections: 20\nservices:\n  e:\n    plugin: echo\n    listen: 127.0.0.1:0\n    "
               "idle_timeout: " +
               std::to_string(600 + round % 2) + "s\n    max_per_ip: 20\n";
    };
    HostProcess host(config(0));
    ASSERT_TRUE(host.started()) << host.log();
    const auto port = host.port("e");
    std::atomic<bool> done{false};
    std::vector<std::thread> storm;
    for (int t = 0; t < 3; ++t) {
        storm.emplace_back([&] {
            while (!done) {
                Client client(port);  // the listening socket survives each restart (it is handed over)
            }
        });
    }
    for (int round = 1; round <= 20; ++round) {
        rewrite(host, "plugin_dir: " + std::string(PLUGHOST_PLUGIN_DIR) + "\n" + config(round));
        const auto result = ctl(host, {"reload"});
        ASSERT_TRUE(std::regex_search(result.output, std::regex("e +changed \\(restarted\\)")))
            << result.output;
    }
    done = true;
    for (auto& thread : storm) {
        thread.join();
    }
    // Every place is free again: twenty clients at once, from one address, are all served.
    EXPECT_TRUE(eventually(
        [&] {
            std::vector<Client> clients;
            for (int i = 0; i < 20; ++i) {
                clients.emplace_back(port);
            }
            for (auto& client : clients) {
                if (!client.send("y") || client.readExactly(1, 2s) != "y") {
                    return false;
                }
            }
            return true;
        },
        10s))
        << "admission slots leaked";
}

// Item 5: onStopping throwing something that is not a std::exception neither
// breaks a reload half-way nor kills the host at shutdown.
TEST(Regression, OnStoppingThrowingANonStdExceptionIsContained) {
    TempDir dir;
    const auto plugins = pluginDirWith(dir, {"keeper", "echo"});
    const std::string echo = "  e:\n    plugin: echo\n    listen: 127.0.0.1:0\n";
    HostProcess host("plugin_dir: " + plugins + "\nservices:\n" + echo +
                     keeper("k", "    settings: {throw_on_stopping: true}\n"));
    ASSERT_TRUE(host.started()) << host.log();
    Client bystander(host.port("e"));
    rewrite(host, "plugin_dir: " + plugins + "\nservices:\n" + echo +
                      keeper("k", "    max_line: 100\n    settings: {throw_on_stopping: true}\n"));
    const auto result = ctl(host, {"reload"});
    EXPECT_EQ(result.exitCode, 0) << result.output << host.log();
    EXPECT_TRUE(std::regex_search(result.output, std::regex("k +changed \\(restarted\\)"))) << result.output;
    EXPECT_TRUE(
        host.waitForLog("k (plugin keeper): on_stopping failed: an exception that is not a std::exception"))
        << host.log();
    const auto status = ctl(host, {"status"});
    EXPECT_TRUE(std::regex_search(status.output, std::regex("k +keeper 1\\.0\\.0 .*running")))
        << status.output;
    ASSERT_TRUE(bystander.send("b"));
    EXPECT_EQ(bystander.readExactly(1), "b");
    EXPECT_EQ(host.stop(SIGTERM, 30s), 0) << host.log();
    EXPECT_TRUE(host.waitForLog("stopped")) << host.log();
}

// Item 6: the refusal line reaches a client that had already sent something, and the close is a clean one.
TEST(Regression, ARefusalIsFollowedByACleanCloseEvenWithUnreadInput) {
    TempDir dir;
    const auto plugins = pluginDirWith(dir, {"keeper"});
    HostProcess host("plugin_dir: " + plugins + "\nservices:\n" + keeper("k", "    max_connections: 1\n"));
    ASSERT_TRUE(host.started()) << host.log();
    Client admitted(host.port("k"));
    ASSERT_TRUE(admitted.send("first\n"));
    ASSERT_EQ(admitted.line(), "first");
    for (int i = 0; i < 20; ++i) {
        Client refused(host.port("k"));
        ASSERT_TRUE(refused.send(std::string(2000, 'q') + "\n"));  // input the host never reads
        std::string got;
        char buffer[4096];
        ssize_t n = 0;
        pollfd ready{refused.fd(), POLLIN, 0};
        while (::poll(&ready, 1, 5000) == 1 && (n = ::recv(refused.fd(), buffer, sizeof buffer, 0)) > 0) {
            got.append(buffer, static_cast<std::size_t>(n));
        }
        EXPECT_EQ(got, "! server busy\n") << "attempt " << i;
        EXPECT_EQ(n, 0) << "attempt " << i << ": the close was a reset (" << std::strerror(errno) << ")";
    }
}

// Item 7: shutting down while sessions on every loop send to sessions on the others.
TEST(Regression, ShutdownWhileEveryLoopSendsToTheOthers) {
    HostProcess host("workers: 4\nservices:\n  room:\n    plugin: chat\n    listen: 127.0.0.1:0\n");
    ASSERT_TRUE(host.started()) << host.log();
    const auto port = host.port("room");
    std::vector<Client> members;
    for (int i = 0; i < 24; ++i) {
        Client client(port);
        std::string line;
        while (client.readLine(line) && line.rfind("* Choose a nickname", 0) != 0) {
        }
        client.send("m" + std::to_string(i) + "\n");
        ASSERT_EQ(client.line().rfind("* Welcome, m" + std::to_string(i), 0), 0u);
        members.push_back(std::move(client));
    }
    std::atomic<bool> done{false};
    std::vector<std::thread> talkers;
    for (int t = 0; t < 4; ++t) {
        talkers.emplace_back([&, t] {
            for (int i = 0; !done; ++i) {
                if (!members[static_cast<std::size_t>(t)].send("chatter " + std::to_string(i) + "\n")) {
                    return;
                }
            }
        });
    }
    std::vector<std::thread> readers;
    for (std::size_t r = 4; r < members.size(); ++r) {
        readers.emplace_back([&, r] {
            while (members[r].readSome(1s).size() > 0) {
            }
        });
    }
    EXPECT_TRUE(eventually([&] {
        return ctl(host, {"status", "--json"}).output.find("\"bytes_out\": 0") == std::string::npos;
    }));
    EXPECT_EQ(host.stop(SIGTERM, 60s), 0) << host.log();
    done = true;
    for (auto& thread : talkers) {
        thread.join();
    }
    for (auto& thread : readers) {
        thread.join();
    }
    EXPECT_TRUE(host.waitForLog("stopped")) << host.log();
}

// Item 8: a plugin that keeps Session handles after onClose does not keep its
// service (and so its instance and library) alive once the service is removed.
TEST(Regression, APluginKeepingSessionHandlesDoesNotKeepItsServiceAlive) {
    TempDir dir;
    const auto plugins = pluginDirWith(dir, {"keeper", "echo"});
    const std::string marker = dir.path() + "/destroyed";
    const std::string echo = "  e:\n    plugin: echo\n    listen: 127.0.0.1:0\n";
    HostProcess host("plugin_dir: " + plugins + "\nservices:\n" + echo +
                     keeper("k", "    settings: {marker: " + marker + "}\n"));
    ASSERT_TRUE(host.started()) << host.log();
    {
        Client client(host.port("k"));
        ASSERT_TRUE(client.send("keep\n"));
        ASSERT_EQ(client.line(), "kept");
    }
    rewrite(host, "plugin_dir: " + plugins + "\nservices:\n" + echo);
    const auto result = ctl(host, {"reload"});
    EXPECT_TRUE(std::regex_search(result.output, std::regex("k +removed"))) << result.output;
    EXPECT_TRUE(eventually([&] { return readFile(marker) == "destroyed\n"; }, 10s))
        << "the removed service's plugin instance is still alive";
}

// Item 9: a reload drains for `drain:` (not a fixed second), and status answers meanwhile.
TEST(Regression, ReloadDrainsForDrainAndStatusAnswersMeanwhile) {
    auto config = [](const std::string& maxLine) {
        return "drain: 5s\nservices:\n  e:\n    plugin: echo\n    listen: 127.0.0.1:0\n    max_queue: 16MiB\n"
               "    max_line: " +
               maxLine + "\n";
    };
    HostProcess host(config("1000"));
    ASSERT_TRUE(host.started()) << host.log();
    Client stalled(host.port("e"));
    stall(stalled);
    ASSERT_TRUE(eventually([&] {
        return ctl(host, {"status", "--json"}).output.find("\"connections\": 1") != std::string::npos;
    }));
    rewrite(host, "plugin_dir: " + std::string(PLUGHOST_PLUGIN_DIR) + "\n" + config("2000"));
    std::atomic<bool> reloaded{false};
    std::thread reload([&] {
        ctl(host, {"reload"});
        reloaded = true;
    });
    // Status shows the new instance (no connections yet) while the old one still drains its stalled session.
    EXPECT_TRUE(eventually(
        [&] {
            return ctl(host, {"status", "--json"}).output.find("\"connections\": 0") != std::string::npos;
        },
        20s));
    EXPECT_EQ(host.log().find("reload: service e"), std::string::npos) << "status waited for the whole drain";
    EXPECT_FALSE(reloaded.load());
    // Two seconds on, the drain (five) still goes on: it is not the old fixed second.
    EXPECT_FALSE(host.waitForLog("reload: service e", 2s)) << host.log();
    EXPECT_TRUE(host.waitForLog("reload: service e: changed (restarted)", 30s)) << host.log();
    reload.join();
    EXPECT_TRUE(reloaded.load());
}

}  // namespace
