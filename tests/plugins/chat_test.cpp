// The chat plugin: room logic through the real plugin (unit), then real clients over loopback.
#include <algorithm>
#include <atomic>
#include <regex>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "driver.h"
#include "support/client.h"
#include "support/host_process.h"

namespace {

using namespace plughost::test;
using plughost::CloseReason;

std::string room(const std::string& settings, const std::string& extra = "") {
    return "services:\n  room:\n    plugin: chat\n    listen: 127.0.0.1:0\n" + extra + "    settings: " + settings + "\n";
}

// A room in memory with members who have joined.
class Room {
public:
    explicit Room(const std::string& settings = "{}") : driver_(room(settings)) {}
    std::shared_ptr<MemorySession> join(const std::string& nick) {
        auto session = driver_.open();
        driver_.say(*session, nick);
        session->take();
        return session;
    }
    PluginDriver& driver() { return driver_; }

private:
    PluginDriver driver_;
};

TEST(ChatUnit, GreetsAsksForANicknameAndWelcomes) {
    Room room("{motd: \"Hello\\nBe nice\"}");
    auto alice = room.driver().open();
    EXPECT_EQ(alice->take(), "* Hello\n* Be nice\n* Choose a nickname (1-24 letters, digits, _ - .):\n");
    room.driver().say(*alice, "alice");
    EXPECT_EQ(alice->take(), "* Welcome, alice! Nobody else is here. Type /help for commands.\n");
    auto bob = room.driver().open();
    bob->take();
    room.driver().say(*bob, "bob");
    EXPECT_EQ(bob->take(), "* Welcome, bob! Here: alice. Type /help for commands.\n");
    EXPECT_EQ(alice->take(), "* bob joined\n");
}

TEST(ChatUnit, NicknameRules) {
    Room room;
    room.join("Taken");
    auto newcomer = room.driver().open();
    newcomer->take();
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"", "! a nickname cannot be empty\n* Choose a nickname:\n"},
        {"abcdefghijklmnopqrstuvwxy", "! a nickname has at most 24 characters\n* Choose a nickname:\n"},
        {"bad name", "! a nickname has only ASCII letters, digits, '_', '-' and '.'\n* Choose a nickname:\n"},
        {"b\xc3\xa9", "! a nickname has only ASCII letters, digits, '_', '-' and '.'\n* Choose a nickname:\n"},
        {"tAKEN", "! the nickname tAKEN is taken\n* Choose a nickname:\n"},
    };
    for (const auto& [nick, reply] : cases) {
        room.driver().say(*newcomer, nick);
        EXPECT_EQ(newcomer->take(), reply) << "nick: " << nick;
    }
    room.driver().say(*newcomer, "abcdefghijklmnopqrstuvwx");  // exactly 24
    EXPECT_NE(newcomer->take().find("* Welcome, abcdefghijklmnopqrstuvwx!"), std::string::npos);
    auto dotted = room.driver().open();
    room.driver().say(*dotted, "a.b-c_9");
    EXPECT_NE(dotted->take().find("* Welcome, a.b-c_9!"), std::string::npos);
}

TEST(ChatUnit, MessagesGoToEveryoneElse) {
    Room room;
    auto alice = room.join("alice");
    auto bob = room.join("bob");
    auto carol = room.join("carol");
    alice->take();
    bob->take();
    room.driver().say(*alice, "hi all");
    EXPECT_EQ(alice->take(), "");
    EXPECT_EQ(bob->take(), "alice: hi all\n");
    EXPECT_EQ(carol->take(), "alice: hi all\n");
}

TEST(ChatUnit, CleansControlBytesAndInvalidUtf8) {
    Room room;
    auto alice = room.join("alice");
    auto bob = room.join("bob");
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"red \x1b[31malert\x1b[0m", "alice: red [31malert[0m\n"},
        {"tab\tkept, bell\x07 and del\x7f gone\r", "alice: tab\tkept, bell and del gone\n"},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "alice: caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\n"},  // valid stays
        {"bad \xff byte", "alice: bad \xEF\xBF\xBD byte\n"},
        {"overlong \xc0\xaf", "alice: overlong \xEF\xBF\xBD\xEF\xBF\xBD\n"},
        {"surrogate \xed\xa0\x80", "alice: surrogate \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\n"},
        {"truncated \xe2\x82", "alice: truncated \xEF\xBF\xBD\xEF\xBF\xBD\n"},
        {"too big \xf4\x90\x80\x80", "alice: too big \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\n"},
        {"c1 \xc2\x9b" "csi", "alice: c1 csi\n"},
    };
    for (const auto& [text, relayed] : cases) {
        room.driver().say(*alice, text);
        EXPECT_EQ(bob->take(), relayed) << text;
    }
    room.driver().say(*alice, "\x1b\x07\r");  // nothing left after cleaning: not relayed
    room.driver().say(*alice, "");
    EXPECT_EQ(bob->take(), "");
}

TEST(ChatUnit, Commands) {
    Room room;
    auto alice = room.join("alice");
    auto bob = room.join("bob");
    alice->take();
    room.driver().say(*alice, "/who");
    EXPECT_EQ(alice->take(), "* 2 here: alice, bob\n");
    room.driver().say(*alice, "/me waves");
    EXPECT_EQ(bob->take(), "* alice waves\n");
    EXPECT_EQ(alice->take(), "");
    room.driver().say(*alice, "/msg BOB psst, secret");
    EXPECT_EQ(bob->take(), "[alice] psst, secret\n");
    EXPECT_EQ(alice->take(), "* to bob: psst, secret\n");
    room.driver().say(*alice, "/msg nobody hi");
    EXPECT_EQ(alice->take(), "! no such nickname: nobody\n");
    room.driver().say(*alice, "/msg bob");
    EXPECT_EQ(alice->take(), "! usage: /msg NICK TEXT\n");
    room.driver().say(*alice, "/nick Alicia");
    EXPECT_EQ(alice->take(), "* alice is now Alicia\n");
    EXPECT_EQ(bob->take(), "* alice is now Alicia\n");
    room.driver().say(*alice, "/nick BOB");
    EXPECT_EQ(alice->take(), "! the nickname BOB is taken\n");
    room.driver().say(*alice, "/nick");
    EXPECT_EQ(alice->take(), "! usage: /nick NEWNAME\n");
    room.driver().say(*alice, "/nick no way");
    EXPECT_EQ(alice->take(), "! a nickname has only ASCII letters, digits, '_', '-' and '.'\n");
    room.driver().say(*alice, "/me");
    EXPECT_EQ(alice->take(), "! usage: /me ACTION\n");
    room.driver().say(*alice, "/dance");
    EXPECT_EQ(alice->take(), "! unknown command /dance (try /help)\n");
    EXPECT_EQ(bob->take(), "");  // nothing relayed
    room.driver().say(*alice, "/help");
    const std::string help = alice->take();
    for (const char* command : {"/who", "/nick", "/me", "/msg", "/quit"}) {
        EXPECT_NE(help.find(command), std::string::npos) << help;
    }
    room.driver().say(*alice, "/quit see you");
    EXPECT_EQ(alice->take(), "* Bye.\n");
    EXPECT_TRUE(alice->closed());
    room.driver().plugin().onClose(*alice, CloseReason::Closed);
    EXPECT_EQ(bob->take(), "* Alicia left (quit: see you)\n");
}

TEST(ChatUnit, LeaveReasons) {
    Room room;
    auto watcher = room.join("watcher");
    const std::vector<std::pair<CloseReason, std::string>> cases = {
        {CloseReason::PeerClosed, "peer closed"},      {CloseReason::Reset, "connection reset"},
        {CloseReason::IdleTimeout, "idle timeout"},    {CloseReason::TooSlow, "too slow"},
        {CloseReason::Shutdown, "server shutting down"},
    };
    for (const auto& [reason, text] : cases) {
        auto member = room.join("m" + std::to_string(static_cast<int>(reason)));
        watcher->take();
        room.driver().leave(*member, reason);
        EXPECT_EQ(watcher->take(), "* m" + std::to_string(static_cast<int>(reason)) + " left (" + text + ")\n");
    }
    auto anonymous = room.driver().open();  // never joined: nobody hears of it
    watcher->take();
    room.driver().leave(*anonymous, CloseReason::PeerClosed);
    EXPECT_EQ(watcher->take(), "");
}

TEST(ChatUnit, HistoryForNewcomers) {
    Room room("{history: 2}");
    auto alice = room.join("alice");
    room.driver().say(*alice, "one");
    room.driver().say(*alice, "two");
    room.driver().say(*alice, "/me three");
    auto bob = room.driver().open();
    bob->take();
    room.driver().say(*bob, "bob");
    EXPECT_EQ(bob->take(), "* Welcome, bob! Here: alice. Type /help for commands.\nalice: two\n* alice three\n");
}

TEST(ChatUnit, RoomFullAndLongLines) {
    Room room("{max_users: 2}");
    room.join("a");
    room.join("b");
    auto third = room.driver().open();
    EXPECT_EQ(third->take(), "! room is full\n");
    EXPECT_TRUE(third->closed());
    EXPECT_EQ(PluginDriver(::room("{max_users: -1}")).problem(),
              "test.yaml:6:27: services.room.settings.max_users: -1 is out of range (0-10000000)");
    EXPECT_EQ(PluginDriver(::room("{dialect: irc}")).problem(),
              "test.yaml:6:25: services.room.settings.dialect: 'irc' is not one of: line, seed");
    auto session = std::make_shared<MemorySession>(99, "x");
    room.driver().plugin().onLineTooLong(*session, 512);
    EXPECT_EQ(session->take(), "! line too long (max 512 bytes)\n");
}

TEST(ChatUnit, SeedDialectHandshakeOrder) {
    Room room("{dialect: seed}");
    EXPECT_EQ(room.driver().framing(), plughost::Framing::Raw);
    auto alice = room.driver().open();
    EXPECT_EQ(alice->take(), "NICK");
    room.driver().say(*alice, "alice");
    EXPECT_EQ(alice->take(), "alice joined!Connected to server!");
    auto bob = room.driver().open();
    EXPECT_EQ(bob->take(), "NICK");
    room.driver().say(*alice, "alice: before bob joined");
    EXPECT_EQ(bob->take(), "");  // a client that has not answered NICK hears nothing else
    EXPECT_EQ(alice->take(), "alice: before bob joined");  // the sender gets its own message, as in the tutorial
    room.driver().say(*bob, "bob");
    EXPECT_EQ(bob->take(), "bob joined!Connected to server!");
    EXPECT_EQ(alice->take(), "bob joined!");
    room.driver().leave(*bob, CloseReason::PeerClosed);
    EXPECT_EQ(alice->take(), "bob left!");
}

TEST(ChatUnit, ConcurrentJoinsLeavesAndRenamesKeepTheRoomConsistent) {
    Room room;
    auto observer = room.join("observer");
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 200; ++i) {
                auto session = room.driver().open();
                const std::string nick = "t" + std::to_string(t) + "n" + std::to_string(i);
                room.driver().say(*session, nick);
                room.driver().say(*session, "/nick " + nick + "x");
                room.driver().say(*session, "hello");
                if (session->take().find("Welcome, " + nick) == std::string::npos) {
                    ++failures;
                }
                if (i % 2 == 0) {
                    room.driver().leave(*session, CloseReason::PeerClosed);
                } else {
                    room.driver().say(*session, "/quit");
                    room.driver().plugin().onClose(*session, CloseReason::Closed);
                }
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    EXPECT_EQ(failures, 0);
    observer->take();
    room.driver().say(*observer, "/who");
    EXPECT_EQ(observer->take(), "* 1 here: observer\n");
}

// ---- over real sockets -------------------------------------------------------

// A line-dialect member: connects, reads the greeting, joins.
Client member(std::uint16_t port, const std::string& nick, int receiveBuffer = 0) {
    Client client(port, "127.0.0.1", "", receiveBuffer);
    std::string line;
    while (client.readLine(line) && line.rfind("* Choose a nickname", 0) != 0) {
    }
    client.send(nick + "\n");
    line = client.line();
    EXPECT_EQ(line.rfind("* Welcome, " + nick + "!", 0), 0u) << line;
    return client;
}

TEST(Chat, ConversationBetweenRealClients) {
    HostProcess host(room("{motd: Welcome, history: 1}"));
    ASSERT_TRUE(host.started()) << host.log();
    const auto port = host.port("room");
    Client alice(port);
    EXPECT_EQ(alice.line(), "* Welcome");
    EXPECT_EQ(alice.line(), "* Choose a nickname (1-24 letters, digits, _ - .):");
    alice.send("al ice\r\n");
    EXPECT_EQ(alice.line(), "! a nickname has only ASCII letters, digits, '_', '-' and '.'");
    EXPECT_EQ(alice.line(), "* Choose a nickname:");
    alice.send("alice\r\n");
    EXPECT_EQ(alice.line(), "* Welcome, alice! Nobody else is here. Type /help for commands.");
    alice.send("first!\n");
    Client bob = member(port, "bob");
    EXPECT_EQ(bob.line(), "alice: first!");  // history
    EXPECT_EQ(alice.line(), "* bob joined");
    bob.send("hello alice\n");
    EXPECT_EQ(alice.line(), "bob: hello alice");
    Client carol = member(port, "carol");
    EXPECT_EQ(carol.line(), "bob: hello alice");  // history: 1
    carol.send("/who\n");
    EXPECT_EQ(carol.line(), "* 3 here: alice, bob, carol");
    bob.send("/quit gotta go\n");
    EXPECT_EQ(bob.line(), "* carol joined");
    EXPECT_EQ(bob.line(), "* Bye.");
    EXPECT_TRUE(bob.waitClosed());
    EXPECT_EQ(alice.line(), "* carol joined");
    EXPECT_EQ(alice.line(), "* bob left (quit: gotta go)");
    EXPECT_EQ(carol.line(), "* bob left (quit: gotta go)");
    carol.close();  // EOF, nothing unread
    EXPECT_EQ(alice.line(), "* carol left (peer closed)");
    alice.send(std::string(9000, 'x') + "\n");
    EXPECT_EQ(alice.line(), "! line too long (max 8192 bytes)");
}

TEST(Chat, RoomFullOverSockets) {
    HostProcess host(room("{max_users: 1}"));
    ASSERT_TRUE(host.started()) << host.log();
    Client first = member(host.port("room"), "first");
    Client second(host.port("room"));
    EXPECT_EQ(second.line(), "! room is full");
    EXPECT_TRUE(second.waitClosed());
}

TEST(Chat, ShutdownTellsEveryone) {
    HostProcess host(room("{}"));
    ASSERT_TRUE(host.started()) << host.log();
    Client alice = member(host.port("room"), "alice");
    EXPECT_EQ(host.stop(), 0);
    EXPECT_EQ(alice.line(), "* server shutting down");
    EXPECT_TRUE(alice.waitClosed());
}

TEST(Chat, OneStalledReaderAmongFiftyIsClosedAndNobodyElseMissesAnything) {
    HostProcess host(room("{}", "    max_queue: 64KiB\n"));
    ASSERT_TRUE(host.started()) << host.log();
    const auto port = host.port("room");
    std::vector<Client> members;
    for (int i = 0; i < 49; ++i) {
        members.push_back(member(port, "m" + std::to_string(i)));
    }
    Client stalled = member(port, "stalled", 4096);
    for (auto& m : members) {  // drain the join notices
        std::string line;
        while (m.readLine(line, 200ms) && line != "* stalled joined") {
        }
    }
    // The first member talks a lot; the stalled one never reads. Everyone else reads everything.
    // 1.6 MB per reader: far past what the host and the kernel buffer for the
    // stalled one (its 64 KiB queue plus a send buffer sized from it).
    const std::string text(4000, 'x');
    constexpr int kMessages = 400;
    // The talker stays at most 8 messages ahead of the slowest reader: the readers
    // are healthy but share two cores with everything else, and must not be cut
    // as too slow for falling behind a sender that outruns any real chat.
    std::vector<std::atomic<int>> progress(49);
    for (auto& p : progress) {
        p = 0;
    }
    std::atomic<bool> abandon{false};
    std::thread talker([&] {
        for (int i = 0; i < kMessages && !abandon; ++i) {
            const auto deadline = std::chrono::steady_clock::now() + 10s;
            while (!abandon && std::chrono::steady_clock::now() < deadline) {
                int slowest = kMessages;
                for (int r = 1; r < 49; ++r) {
                    slowest = std::min(slowest, progress[r].load());
                }
                if (i - slowest < 8) {
                    break;
                }
                std::this_thread::sleep_for(1ms);
            }
            members[0].send(std::to_string(i) + " " + text + "\n");
        }
    });
    std::vector<std::thread> readers;
    std::atomic<int> complete{0};
    std::atomic<int> sawLeave{0};
    for (int r = 1; r < 49; ++r) {
        readers.emplace_back([&, r] {
            int next = 0;
            std::string line;
            while (next < kMessages && members[r].readLine(line, 10s)) {
                if (line.rfind("m0: ", 0) == 0) {
                    if (line != "m0: " + std::to_string(next) + " " + text) {
                        break;  // lost, duplicated or out of order
                    }
                    progress[r] = ++next;
                } else if (line == "* stalled left (too slow)") {
                    ++sawLeave;
                }
            }
            if (next < kMessages) {
                abandon = true;
                return;
            }
            ++complete;
            while (sawLeave.load() < r && members[r].readLine(line, 100ms)) {
                sawLeave += line == "* stalled left (too slow)" ? 1 : 0;
            }
        });
    }
    talker.join();
    for (auto& reader : readers) {
        reader.join();
    }
    EXPECT_EQ(complete.load(), 48);
    EXPECT_GE(sawLeave.load(), 1);
    EXPECT_TRUE(stalled.waitClosed(10s, nullptr));
}

TEST(Chat, FiveHundredClientsJoinAndLeaveConcurrently) {
    HostProcess host(room("{}"));
    ASSERT_TRUE(host.started()) << host.log();
    const auto port = host.port("room");
    std::vector<std::thread> threads;
    std::atomic<int> joined{0};
    for (int t = 0; t < 10; ++t) {
        threads.emplace_back([&, t] {
            std::vector<Client> mine;
            for (int i = 0; i < 50; ++i) {
                mine.push_back(member(port, "c" + std::to_string(t) + "_" + std::to_string(i)));
                ++joined;
            }
            for (int i = 0; i < 50; ++i) {
                if (i % 3 == 0) {
                    mine[i].send("/quit\n");
                } else if (i % 3 == 1) {
                    mine[i].reset();
                }
                mine[i].close();
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    EXPECT_EQ(joined.load(), 500);
    Client last = member(port, "last");
    EXPECT_TRUE(eventually([&] {
        last.send("/who\n");
        std::string line;
        while (last.readLine(line, 2s) && line.rfind("* ", 0) == 0 && line.find(" here: ") == std::string::npos) {
        }
        return line == "* 1 here: last";
    }, 10s));
}

// The Python tutorial client, as it behaves on the wire: it answers exactly "NICK"
// with its nickname, then sends "nick: text" and prints whatever arrives.
class TutorialClient {
public:
    TutorialClient(std::uint16_t port, std::string nick) : client_(port), nick_(std::move(nick)) {
        EXPECT_EQ(client_.readExactly(4), "NICK");
        client_.send(nick_);
    }
    void write(const std::string& text) { client_.send(nick_ + ": " + text); }
    // Reads until `expected` has arrived (the tutorial client reads raw chunks).
    bool expect(const std::string& expected) {
        const auto deadline = std::chrono::steady_clock::now() + 5s;
        while (received_.find(expected) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
            received_ += client_.readSome(200ms);
        }
        const auto at = received_.find(expected);
        if (at == std::string::npos) {
            return false;
        }
        received_.erase(0, at + expected.size());
        return true;
    }
    void close() { client_.close(); }

private:
    Client client_;
    std::string nick_;
    std::string received_;
};

TEST(Chat, SeedDialectWorksWithTutorialStyleClients) {
    HostProcess host(room("{dialect: seed}"));
    ASSERT_TRUE(host.started()) << host.log();
    const auto port = host.port("room");
    TutorialClient alice(port, "alice");
    EXPECT_TRUE(alice.expect("alice joined!"));
    EXPECT_TRUE(alice.expect("Connected to server!"));
    TutorialClient bob(port, "bob");
    EXPECT_TRUE(bob.expect("Connected to server!"));
    EXPECT_TRUE(alice.expect("bob joined!"));
    TutorialClient carol(port, "carol");
    EXPECT_TRUE(carol.expect("Connected to server!"));
    alice.write("hello everyone");
    for (TutorialClient* c : {&alice, &bob, &carol}) {
        EXPECT_TRUE(c->expect("alice: hello everyone"));
    }
    bob.write("hi alice");
    EXPECT_TRUE(carol.expect("bob: hi alice"));
    EXPECT_TRUE(alice.expect("bob: hi alice"));
    bob.close();
    EXPECT_TRUE(alice.expect("bob left!"));
    EXPECT_TRUE(carol.expect("bob left!"));
}

}  // namespace

namespace {

// Regression: a member who only listens is not idle while messages reach it.
TEST(Chat, ListeningIsNotIdle) {
    HostProcess host(room("{}", "    idle_timeout: 600ms\n"));
    ASSERT_TRUE(host.started()) << host.log();
    Client talker = member(host.port("room"), "talker");
    Client listener = member(host.port("room"), "listener");
    EXPECT_EQ(talker.line(), "* listener joined");
    for (int i = 0; i < 12; ++i) {  // 1.2 s of traffic, twice the idle timeout
        talker.send("tick " + std::to_string(i) + "\n");
        ASSERT_EQ(listener.line(), "talker: tick " + std::to_string(i));
        std::this_thread::sleep_for(100ms);
    }
    EXPECT_TRUE(listener.waitClosed(3s));  // and once the traffic stops, it is
}

}  // namespace
