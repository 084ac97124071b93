// Slow versus stalled (issue 10): a member that keeps reading survives a burst
// that normal kernel buffers absorb; a member that stops reading is still
// closed as too slow within send_timeout, and the room goes on.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <map>
#include <thread>

#include "support/client.h"
#include "support/host_process.h"

namespace {

using namespace plughost::test;

Client member(std::uint16_t port, const std::string& nick, int receiveBuffer = 0) {
    Client client(port, "127.0.0.1", "", receiveBuffer);
    std::string line;
    while (client.readLine(line, 10s) && line.rfind("* Choose a nickname", 0) != 0) {
    }
    client.send(nick + "\n");
    line = client.line(10s);
    EXPECT_EQ(line.rfind("* Welcome, " + nick + "!", 0), 0u) << line;
    return client;
}

// As tried by a chat user: 300 members read by one client thread, 10 of them
// paste 50 lines of 420 bytes at once (about 210 KB to each member), max_queue 64KiB.
TEST(SlowVersusStalled, ABurstNormalKernelBuffersAbsorbClosesNoHealthyMember) {
    HostProcess host(
        "workers: 4\nservices:\n  room:\n    plugin: chat\n    listen: 127.0.0.1:0\n"
        "    max_connections: 1000\n    max_queue: 64KiB\n    settings: {}\n");
    ASSERT_TRUE(host.started()) << host.log();
    const auto port = host.port("room");
    constexpr int kMembers = 300;
    constexpr int kPasters = 10;
    constexpr int kLines = 50;
    std::vector<Client> members;
    for (int i = 0; i < kMembers; ++i) {
        members.push_back(member(port, "m" + std::to_string(i)));
    }
    // Everyone is seated: the last join notice reached the first member.
    std::string line;
    while (members[0].readLine(line, 10s) && line != "* m" + std::to_string(kMembers - 1) + " joined") {
    }
    ASSERT_EQ(line, "* m" + std::to_string(kMembers - 1) + " joined");

    const std::string text(420, 'p');
    for (int p = 0; p < kPasters; ++p) {
        std::string paste;
        for (int l = 0; l < kLines; ++l) {
            paste += std::to_string(l) + " " + text + "\n";
        }
        ASSERT_TRUE(members[static_cast<std::size_t>(p)].send(paste));
    }
    // One thread reads every member, as one client process would.
    std::vector<std::string> pending(kMembers);
    std::vector<std::map<std::string, int>> next(
        kMembers);  // per member: the next line expected from each paster
    std::vector<int> received(kMembers, 0);
    std::vector<std::string> problems;
    int complete = 0;
    auto expected = [&](int m) { return m < kPasters ? (kPasters - 1) * kLines : kPasters * kLines; };
    std::vector<pollfd> fds(kMembers);
    for (int m = 0; m < kMembers; ++m) {
        fds[static_cast<std::size_t>(m)] = {members[static_cast<std::size_t>(m)].fd(), POLLIN, 0};
    }
    const auto deadline = std::chrono::steady_clock::now() + 120s;
    char buffer[65536];
    while (complete < kMembers && problems.empty() && std::chrono::steady_clock::now() < deadline) {
        if (::poll(fds.data(), fds.size(), 1000) <= 0) {
            continue;
        }
        for (int m = 0; m < kMembers; ++m) {
            auto& fd = fds[static_cast<std::size_t>(m)];
            if (fd.revents == 0 || fd.fd < 0) {
                continue;
            }
            const ssize_t n = ::recv(fd.fd, buffer, sizeof buffer, MSG_DONTWAIT);
            if (n <= 0) {
                problems.push_back("m" + std::to_string(m) + " was closed after " +
                                   std::to_string(received[m]) + " lines");
                fd.fd = -1;
                continue;
            }
            auto& rest = pending[static_cast<std::size_t>(m)];
            rest.append(buffer, static_cast<std::size_t>(n));
            for (std::size_t end; (end = rest.find('\n')) != std::string::npos; rest.erase(0, end + 1)) {
                const std::string got = rest.substr(0, end);
                if (got.rfind("* ", 0) == 0 || got.rfind("! ", 0) == 0) {
                    if (got.find("left") != std::string::npos) {
                        problems.push_back("m" + std::to_string(m) + " saw: " + got);
                    }
                    continue;
                }
                const auto colon = got.find(": ");
                const std::string from = got.substr(0, colon);
                const std::string want = std::to_string(next[m][from]++) + " " + text;
                if (colon == std::string::npos || got.substr(colon + 2) != want) {
                    problems.push_back("m" + std::to_string(m) + " got a line out of order from " + from);
                }
                if (++received[m] == expected(m)) {
                    ++complete;
                }
            }
        }
    }
    EXPECT_TRUE(problems.empty()) << problems.size() << " problems, the first: " << problems.front();
    EXPECT_EQ(complete, kMembers) << "members that received every pasted line";
    const auto status = runCtl({"status", "--json", "--socket", host.adminSocket()}).output;
    EXPECT_NE(status.find("\"too_slow\": 0"), std::string::npos) << status;
}

// A member that stops reading in a quiet room never fills max_queue; it is closed
// once the host has had output for it and it took none for send_timeout.
TEST(SlowVersusStalled, AMemberWhoStopsReadingIsClosedWithinSendTimeout) {
    HostProcess host(
        "workers: 4\nservices:\n  room:\n    plugin: chat\n    listen: 127.0.0.1:0\n"
        "    max_queue: 8MiB\n    send_timeout: 1s\n    settings: {}\n");
    ASSERT_TRUE(host.started()) << host.log();
    const auto port = host.port("room");
    Client talker = member(port, "talker");
    Client listener = member(port, "listener");
    Client stalled = member(port, "stalled", 4096);
    EXPECT_EQ(talker.line(), "* listener joined");
    EXPECT_EQ(talker.line(), "* stalled joined");
    EXPECT_EQ(listener.line(), "* stalled joined");
    // About 400 KB: more than the stalled member's small receive window, far less than max_queue.
    const std::string text(1000, 't');
    bool left = false;
    for (int i = 0; i < 400; ++i) {
        ASSERT_TRUE(talker.send(std::to_string(i) + " " + text + "\n"));
        std::string line;
        do {
            ASSERT_TRUE(listener.readLine(line, 10s)) << "message " << i;
            left = left || line == "* stalled left (too slow)";
        } while (line.rfind("talker: ", 0) != 0);
        ASSERT_EQ(line, "talker: " + std::to_string(i) + " " + text);
    }
    // Then the room is quiet: only send_timeout can close the stalled member now.
    std::string line;
    while (!left && listener.readLine(line, 20s)) {
        left = line == "* stalled left (too slow)";
    }
    EXPECT_TRUE(left) << "the member who stopped reading was never closed";
    EXPECT_TRUE(stalled.waitClosed(20s));
    const auto status = runCtl({"status", "--json", "--socket", host.adminSocket()}).output;
    EXPECT_NE(status.find("\"too_slow\": 1"), std::string::npos) << status;
}

}  // namespace
