// The chat plugin with a crowd: flood control (delayed, then disconnected),
// its counters in the host's status, and bounded welcomes and NAMES; real
// clients against the real host over loopback.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/client.h"
#include "support/host_process.h"

namespace {

using namespace plughost::test;

std::string config(const std::string& settings, const std::string& extra = "") {
    return "services:\n  room:\n    plugin: chat\n    listen: 127.0.0.1:0\n" + extra +
           "    settings: " + settings + "\n";
}

// A line-dialect member, past the prompt and its welcome (returned in `welcome`).
Client member(std::uint16_t port, const std::string& nick, std::string* welcome = nullptr) {
    Client client(port);
    std::string line;
    while (client.readLine(line) && line.rfind("* Choose a nickname", 0) != 0) {
    }
    client.send(nick + "\n");
    line = client.line();
    EXPECT_EQ(line.rfind("* Welcome, " + nick + "!", 0), 0u) << line;
    if (welcome != nullptr) {
        *welcome = line;
    }
    return client;
}

TEST(ChatCrowd, ABurstPassesExcessIsDelayedInOrderNotDropped) {
    HostProcess host(config("{flood_burst: 3, flood_rate: 20, flood_queue: 50}"));
    ASSERT_TRUE(host.started()) << host.log();
    Client alice = member(host.port("room"), "alice");
    Client bob = member(host.port("room"), "bob");
    EXPECT_EQ(alice.line(), "* bob joined");
    std::string burst;
    for (int i = 0; i < 12; ++i) {
        burst += "line " + std::to_string(i) + "\n";
    }
    ASSERT_TRUE(bob.send(burst));
    for (int i = 0; i < 12; ++i) {
        EXPECT_EQ(alice.line(), "bob: line " + std::to_string(i));
    }
    std::string last;
    EXPECT_TRUE(waitStatus(host, "\"flood_delayed\": *([89]|1[0-9])", last)) << last;
    bob.send("/who\n");
    EXPECT_EQ(bob.line(), "* 2 here: alice, bob");  // still connected
}

TEST(ChatCrowd, AMemberWhoKeepsFloodingIsDisconnectedWithAReason) {
    HostProcess host(config("{flood_burst: 2, flood_rate: 0.5, flood_queue: 5}"));
    ASSERT_TRUE(host.started()) << host.log();
    Client alice = member(host.port("room"), "alice");
    Client bob = member(host.port("room"), "bob");
    EXPECT_EQ(alice.line(), "* bob joined");
    std::string flood;
    for (int i = 0; i < 20; ++i) {
        flood += "spam " + std::to_string(i) + "\n";
    }
    ASSERT_TRUE(bob.send(flood));
    std::string rest;
    ASSERT_TRUE(bob.waitClosed(std::chrono::seconds(10), &rest));
    EXPECT_NE(rest.find("! disconnected: Excess Flood"), std::string::npos) << rest;
    // What passed the bucket (the nickname line took a token too) arrives in order, then the reason.
    std::string line = alice.line();
    for (int i = 0; line.rfind("bob: ", 0) == 0; ++i) {
        EXPECT_EQ(line, "bob: spam " + std::to_string(i));
        line = alice.line();
    }
    EXPECT_EQ(line, "* bob left (Excess Flood)");
    std::string last;
    EXPECT_TRUE(waitStatus(host, "\"flood_disconnected\": *1", last)) << last;
    alice.send("/who\n");
    EXPECT_EQ(alice.line(), "* 1 here: alice");
}

TEST(ChatCrowd, IrcFlooderGetsExcessFloodError) {
    HostProcess host(
        config("{dialect: irc, server_name: irc.test, flood_burst: 10, flood_rate: 1, flood_queue: 10}"));
    ASSERT_TRUE(host.started()) << host.log();
    Client irc(host.port("room"));
    std::string flood = "NICK flooder\r\nUSER f 0 * :f\r\nJOIN #x\r\n";
    for (int i = 0; i < 60; ++i) {
        flood += "PRIVMSG #x :spam " + std::to_string(i) + "\r\n";
    }
    ASSERT_TRUE(irc.send(flood));
    std::string rest;
    ASSERT_TRUE(irc.waitClosed(std::chrono::seconds(10), &rest));
    EXPECT_NE(rest.find("ERROR :Closing link: 127.0.0.1 (Excess Flood)"), std::string::npos) << rest;
}

TEST(ChatCrowd, WelcomeAndNamesListABoundedNumberAndSayHowManyMore) {
    HostProcess host(config("{names_max: 3, network: crowd}") +
                     "  irc:\n    plugin: chat\n    listen: 127.0.0.1:0\n"
                     "    settings: {dialect: irc, server_name: irc.test, names_max: 3, network: crowd}\n");
    ASSERT_TRUE(host.started()) << host.log();
    std::vector<Client> crowd;
    for (int i = 0; i < 6; ++i) {
        crowd.push_back(member(host.port("room"), "m" + std::to_string(i)));
    }
    std::string welcome;
    Client late = member(host.port("room"), "late", &welcome);
    EXPECT_EQ(welcome, "* Welcome, late! Here: m0, m1, m2 ... and 3 more. Type /help for commands.");
    Client irc(host.port("irc"));
    irc.send("NICK watcher\r\nUSER w 0 * :w\r\nJOIN #lobby\r\n");
    std::string line;
    std::vector<std::string> names;
    while (irc.readLine(line) && line.find(" 366 ") == std::string::npos) {
        if (line.find(" 353 ") != std::string::npos) {
            names.push_back(line);
        }
    }
    ASSERT_EQ(names.size(), 1u);
    EXPECT_NE(names[0].find(":late m0 m1"), std::string::npos) << names[0];
    EXPECT_NE(line.find("(3 of 8 shown)"), std::string::npos) << line;
}

// 40 lines of 100 bytes: "alice: " + the text is 108 bytes a line in the line dialect.
void talk(Client& alice) {
    std::string lines;
    for (int i = 0; i < 40; ++i) {
        lines += "message " + std::to_string(100 + i) + " " + std::string(88, 'x') + "\n";
    }
    ASSERT_TRUE(alice.send(lines));
    alice.send("/who\n");
    EXPECT_EQ(alice.line(), "* 1 here: alice");  // every message is in the history now
}

// The replay after the welcome, up to the answer to a /who sent after it.
std::vector<std::string> replayed(Client& client) {
    std::vector<std::string> lines;
    client.send("/who\n");
    std::string line;
    while (client.readLine(line) && line.rfind("* 2 here:", 0) != 0) {
        lines.push_back(line);
    }
    EXPECT_EQ(line.rfind("* 2 here:", 0), 0u) << line;
    return lines;
}

TEST(ChatCrowd, HistoryIsBoundedInBytesAndKeepsTheNewest) {
    // An event weighs its text and names: about 100 + 5 + 21 bytes, so 400 bytes hold 3.
    HostProcess host(config("{history: 100, history_bytes: 400, flood: false}"));
    ASSERT_TRUE(host.started()) << host.log();
    Client alice = member(host.port("room"), "alice");
    talk(alice);
    Client bob = member(host.port("room"), "bob");
    const auto lines = replayed(bob);
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_EQ(lines[0].rfind("alice: message 137 ", 0), 0u) << lines[0];
    EXPECT_EQ(lines[2].rfind("alice: message 139 ", 0), 0u) << lines[2];
}

TEST(ChatCrowd, ReplayNeverQueuesMoreThanHalfTheSessionsQueue) {
    // max_queue 2KiB: of 40 lines of 108 bytes, at most 1 KiB (9 lines) is replayed, the newest.
    HostProcess host(config("{history: 100, history_bytes: 1048576, flood: false}", "    max_queue: 2KiB\n"));
    ASSERT_TRUE(host.started()) << host.log();
    Client alice = member(host.port("room"), "alice");
    talk(alice);
    Client bob = member(host.port("room"), "bob");
    const auto lines = replayed(bob);
    ASSERT_GE(lines.size(), 1u);
    EXPECT_LE(lines.size(), 9u);
    EXPECT_EQ(lines.back().rfind("alice: message 139 ", 0), 0u) << lines.back();
    EXPECT_EQ(alice.line(), "* bob joined");
}

}  // namespace
