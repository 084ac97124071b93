// The chat plugin: room logic through the SDK alone (ChatUnit), then real
// clients against the real host over loopback (Chat).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "sdk_driver.h"
#include "support/client.h"
#include "support/host_process.h"

namespace {

using namespace plughost::test;
using plughost::CloseReason;
using Settings = std::map<std::string, std::string>;

const std::string kPrompt = "* Choose a nickname (1-24 letters, digits, _ - .):\n";
const std::string kAgain = "* Choose a nickname:\n";
const std::string kBadChar = "! a nickname has only ASCII letters, digits, '_', '-' and '.'\n";
const std::string kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// A room in memory; join() brings in a member and checks its welcome.
class Room {
public:
    explicit Room(Settings settings = {}) : driver_("chat", std::move(settings), "room") {
        EXPECT_EQ(driver_.problem(), "");
    }
    std::shared_ptr<MemorySession> join(const std::string& nick) {
        auto session = driver_.open();
        driver_.say(*session, nick);
        const std::string welcome = session->take();
        EXPECT_NE(welcome.find("* Welcome, " + nick + "!"), std::string::npos) << welcome;
        return session;
    }
    void say(MemorySession& session, std::string_view line) { driver_.say(session, line); }
    PluginDriver& driver() { return driver_; }

private:
    PluginDriver driver_;
};

TEST(ChatUnit, GreetsAsksForANicknameAndWelcomes) {
    Room room(Settings{{"motd", "Hello\nBe nice"}});
    auto alice = room.driver().open();
    EXPECT_EQ(alice->take(), "* Hello\n* Be nice\n" + kPrompt);
    room.say(*alice, "alice");
    EXPECT_EQ(alice->take(), "* Welcome, alice! Nobody else is here. Type /help for commands.\n");
    auto bob = room.driver().open();
    EXPECT_EQ(bob->take(), "* Hello\n* Be nice\n" + kPrompt);
    room.say(*bob, "bob");
    EXPECT_EQ(bob->take(), "* Welcome, bob! Here: alice. Type /help for commands.\n");
    EXPECT_EQ(alice->take(), "* bob joined\n");
    room.say(*room.driver().open(), "carol");
    EXPECT_EQ(alice->take(), "* carol joined\n");
    EXPECT_EQ(bob->take(), "* carol joined\n");
}

TEST(ChatUnit, WithoutMotdOnlyThePrompt) {
    Room room;
    EXPECT_EQ(room.driver().open()->take(), kPrompt);
}

TEST(ChatUnit, NicknameRules) {
    Room room;
    auto taken = room.join("Taken");
    auto newcomer = room.driver().open();
    newcomer->take();
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"", "! a nickname cannot be empty\n"},
        {"   ", "! a nickname cannot be empty\n"},
        {"abcdefghijklmnopqrstuvwxy", "! a nickname has at most 24 characters\n"},
        {"bad name", kBadChar},
        {"b\xc3\xa9", kBadChar},
        {"al\x01ice", kBadChar},  // a control byte is refused, not silently dropped
        {"\xff", kBadChar},
        {"semi;colon", kBadChar},
        {"tAKEN", "! the nickname tAKEN is taken\n"},
        {"TAKEN", "! the nickname TAKEN is taken\n"},
    };
    for (const auto& [nick, problem] : cases) {
        room.say(*newcomer, nick);
        EXPECT_EQ(newcomer->take(), problem + kAgain) << "nick: " << nick;
    }
    EXPECT_EQ(taken->take(), "");                          // nobody hears of failed attempts
    room.say(*newcomer, "  abcdefghijklmnopqrstuvwx \t");  // exactly 24, surrounding blanks trimmed
    EXPECT_EQ(newcomer->take(),
              "* Welcome, abcdefghijklmnopqrstuvwx! Here: Taken. Type /help for commands.\n");
    room.join("a.b-c_9");
    room.join("Z");
}

TEST(ChatUnit, MessagesGoToEveryoneElseButNotToThoseStillChoosing) {
    Room room;
    auto alice = room.join("alice");
    auto bob = room.join("bob");
    auto carol = room.join("carol");
    auto choosing = room.driver().open();
    choosing->take();
    alice->take();
    bob->take();
    room.say(*alice, "hi all");
    room.say(*alice, "  spaced  ");
    EXPECT_EQ(alice->take(), "");
    EXPECT_EQ(bob->take(), "alice: hi all\nalice:   spaced  \n");
    EXPECT_EQ(carol->take(), "alice: hi all\nalice:   spaced  \n");
    EXPECT_EQ(choosing->take(), "");
}

TEST(ChatUnit, CleansControlBytesAndInvalidUtf8) {
    Room room;
    auto alice = room.join("alice");
    auto bob = room.join("bob");
    const std::string R = kReplacement;
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"red \x1b[31malert\x1b[0m", "red [31malert[0m"},
        {"tab\tkept, bell\x07, nul" + std::string(1, '\0') + ", del\x7f gone\r",
         "tab\tkept, bell, nul, del gone"},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xc2\xa0",
         "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xc2\xa0"},
        {"edges \xed\x9f\xbf \xee\x80\x80 \xf4\x8f\xbf\xbf \xc2\x80",
         "edges \xed\x9f\xbf \xee\x80\x80 \xf4\x8f\xbf\xbf "},
        {"c1 \302\233csi \302\205", "c1 csi "},  // C1 controls (U+009B, U+0085) go as well
        {"stray \xff \xfe \x80 \xbf", "stray " + R + " " + R + " " + R + " " + R},
        {"overlong \xc0\xaf \xc1\xbf \xe0\x80\xaf \xf0\x80\x80\xaf",
         "overlong " + R + R + " " + R + R + " " + R + R + R + " " + R + R + R + R},
        {"surrogate \xed\xa0\x80 \xed\xbf\xbf", "surrogate " + R + R + R + " " + R + R + R},
        {"too big \xf4\x90\x80\x80 \xf5\x80\x80\x80", "too big " + R + R + R + R + " " + R + R + R + R},
        {"five bytes \xf8\x88\x80\x80\x80", "five bytes " + R + R + R + R + R},
        {"truncated \xe2\x82 and \xf0\x9f\x98", "truncated " + R + " and " + R},
        {"cut short \xc3", "cut short " + R},
        {"interrupted \xe2\x82\xc3\xa9", "interrupted " + R + "\xc3\xa9"},
    };
    for (const auto& [text, relayed] : cases) {
        room.say(*alice, text);
        EXPECT_EQ(bob->take(), "alice: " + relayed + "\n") << text;
    }
    room.say(*alice, "\x1b\x07\r");  // nothing left after cleaning: not relayed
    room.say(*alice, "");
    EXPECT_EQ(bob->take(), "");
}

TEST(ChatUnit, Commands) {
    Room room;
    auto alice = room.join("alice");
    auto bob = room.join("bob");
    auto carol = room.join("Carol");
    alice->take();
    bob->take();
    room.say(*alice, "/who");
    EXPECT_EQ(alice->take(), "* 3 here: alice, bob, Carol\n");  // sorted without regard to case
    room.say(*alice, "/who cares");
    EXPECT_EQ(alice->take(), "* 3 here: alice, bob, Carol\n");
    room.say(*alice, "/me waves  ");
    EXPECT_EQ(bob->take(), "* alice waves\n");
    EXPECT_EQ(carol->take(), "* alice waves\n");
    EXPECT_EQ(alice->take(), "");
    room.say(*alice, "/me");
    EXPECT_EQ(alice->take(), "! usage: /me ACTION\n");
    room.say(*alice, "/msg BOB psst,  secret ");
    EXPECT_EQ(bob->take(), "[alice] psst,  secret\n");
    EXPECT_EQ(alice->take(), "* to bob: psst,  secret\n");
    EXPECT_EQ(carol->take(), "");
    room.say(*alice, "/msg nobody hi");
    EXPECT_EQ(alice->take(), "! no such nickname: nobody\n");
    for (const char* incomplete : {"/msg", "/msg bob", "/msg bob   "}) {
        room.say(*alice, incomplete);
        EXPECT_EQ(alice->take(), "! usage: /msg NICK TEXT\n") << incomplete;
    }
    room.say(*alice, "/nick Alicia");
    EXPECT_EQ(alice->take(), "* alice is now Alicia\n");
    EXPECT_EQ(bob->take(), "* alice is now Alicia\n");
    EXPECT_EQ(carol->take(), "* alice is now Alicia\n");
    room.say(*alice, "/nick ALICIA");  // one's own name in another case
    EXPECT_EQ(alice->take(), "* Alicia is now ALICIA\n");
    bob->take();
    carol->take();
    room.say(*alice, "/nick BOB");
    EXPECT_EQ(alice->take(), "! the nickname BOB is taken\n");
    room.say(*alice, "/nick");
    EXPECT_EQ(alice->take(), "! usage: /nick NEWNAME\n");
    room.say(*alice, "/nick no way");
    EXPECT_EQ(alice->take(), kBadChar);
    room.say(*alice, "/nick abcdefghijklmnopqrstuvwxyz");
    EXPECT_EQ(alice->take(), "! a nickname has at most 24 characters\n");
    room.say(*bob, "/msg alicia hello");  // the new name, any case
    EXPECT_EQ(alice->take(), "[bob] hello\n");
    room.say(*alice, "/dance");
    EXPECT_EQ(alice->take(), "! unknown command /dance (try /help)\n");
    room.say(*alice, "/WHO");
    EXPECT_EQ(alice->take(), "! unknown command /WHO (try /help)\n");
    room.say(*alice, "/");
    EXPECT_EQ(alice->take(), "! unknown command / (try /help)\n");
    room.say(*alice, "/help");
    const std::string help = alice->take();
    for (const char* command : {"/who", "/nick", "/me", "/msg", "/quit"}) {
        EXPECT_NE(help.find(command), std::string::npos) << help;
    }
    EXPECT_EQ(bob->take(), "* to ALICIA: hello\n");  // nothing else: commands are not relayed
    EXPECT_EQ(carol->take(), "");
}

TEST(ChatUnit, QuitLeavesAtOnceWithItsReason) {
    Room room;
    auto alice = room.join("alice");
    auto bob = room.join("bob");
    auto carol = room.join("carol");
    alice->take();
    bob->take();
    room.say(*alice, "/quit see you  ");
    EXPECT_EQ(alice->take(), "* Bye.\n");
    EXPECT_TRUE(alice->closed());
    EXPECT_EQ(bob->take(), "* alice left (quit: see you)\n");
    room.say(*alice, "pipelined after /quit");         // the host may still deliver it: not relayed
    room.driver().leave(*alice, CloseReason::Closed);  // and no second notice
    EXPECT_EQ(bob->take(), "");
    room.say(*carol, "/quit");
    EXPECT_EQ(bob->take(), "* carol left (quit)\n");
    room.say(*bob, "/who");
    EXPECT_EQ(bob->take(), "* 1 here: bob\n");
    room.join("alice");  // the name is free again
}

TEST(ChatUnit, LeaveReasons) {
    Room room;
    auto watcher = room.join("watcher");
    const std::vector<std::pair<CloseReason, std::string>> cases = {
        {CloseReason::PeerClosed, "peer closed"},
        {CloseReason::Reset, "connection reset"},
        {CloseReason::IdleTimeout, "idle timeout"},
        {CloseReason::TooSlow, "too slow"},
        {CloseReason::Closed, "closed"},
        {CloseReason::Shutdown, "server shutting down"},
        {CloseReason::Reload, "reload"},
        {CloseReason::Error, "error"},
    };
    for (const auto& [reason, text] : cases) {
        const std::string nick = "m" + std::to_string(static_cast<int>(reason));
        auto member = room.join(nick);
        watcher->take();
        room.driver().leave(*member, reason);
        EXPECT_EQ(watcher->take(), "* " + nick + " left (" + text + ")\n");
    }
    auto anonymous = room.driver().open();  // never joined: nobody hears of it
    watcher->take();
    room.driver().leave(*anonymous, CloseReason::PeerClosed);
    EXPECT_EQ(watcher->take(), "");
    room.say(*watcher, "/who");
    EXPECT_EQ(watcher->take(), "* 1 here: watcher\n");
}

TEST(ChatUnit, HistoryForNewcomers) {
    Room none;
    auto alice = none.join("alice");
    none.say(*alice, "lost");
    auto bob = none.driver().open();
    bob->take();
    none.say(*bob, "bob");
    EXPECT_EQ(bob->take(), "* Welcome, bob! Here: alice. Type /help for commands.\n");  // history: 0

    Room room(Settings{{"history", "2"}});
    alice = room.join("alice");
    bob = room.join("bob");
    room.say(*alice, "one");
    room.say(*alice, "two");
    room.say(*alice, "/msg bob private");  // neither private messages, commands, joins nor leaves count
    room.say(*bob, "/me three");
    room.say(*alice, "/who");
    room.join("dave");
    room.driver().leave(*bob, CloseReason::PeerClosed);
    auto carol = room.driver().open();
    carol->take();
    room.say(*carol, "carol");
    EXPECT_EQ(carol->take(),
              "* Welcome, carol! Here: alice, dave. Type /help for commands.\nalice: two\n* bob three\n");
}

TEST(ChatUnit, RoomFullCountsConnections) {
    Room room(Settings{{"max_users", "2"}});
    auto a = room.join("a");
    auto choosing = room.driver().open();  // still choosing a nickname: it holds a place
    choosing->take();
    auto third = room.driver().open();
    EXPECT_EQ(third->take(), "! room is full\n");
    EXPECT_TRUE(third->closed());
    room.say(*third, "third");  // the host may deliver what it had read: ignored
    room.driver().leave(*third, CloseReason::Closed);
    EXPECT_EQ(a->take(), "");
    room.driver().leave(*choosing, CloseReason::PeerClosed);
    room.join("b");  // a place is free again
}

TEST(ChatUnit, LongLinesAreRefusedNotRelayed) {
    Room room;
    auto alice = room.join("alice");
    auto bob = room.join("bob");
    alice->take();
    room.driver().tooLong(*alice);
    EXPECT_EQ(alice->take(), "! line too long (max 8192 bytes)\n");
    EXPECT_EQ(bob->take(), "");
    EXPECT_FALSE(alice->closed());
    room.say(*alice, "short");
    EXPECT_EQ(bob->take(), "alice: short\n");
}

TEST(ChatUnit, StoppingTellsEveryMember) {
    Room room;
    auto alice = room.join("alice");
    auto bob = room.join("bob");
    alice->take();
    room.driver().stopping();
    EXPECT_EQ(alice->take(), "* server shutting down\n");
    EXPECT_EQ(bob->take(), "* server shutting down\n");
    room.driver().leave(*alice, CloseReason::Shutdown);
    EXPECT_EQ(bob->take(), "* alice left (server shutting down)\n");
}

// Which setting the plugin refuses, and why. The test double words it like the
// host (the same strings as Chat.SettingsErrorsNameFileLineColumnInTheHostsWords,
// which is what operators read).
TEST(ChatUnit, SettingsAreCheckedAndAllRead) {
    const std::vector<std::pair<Settings, std::string>> cases = {
        {{{"dialect", "xmpp"}}, "dialect: 'xmpp' is not one of: line, seed, irc"},
        {{{"room", "two words"}},
         "room: 'two words' is not a room name (1-49 characters, no spaces, commas, colons or '#' but a "
         "leading one)"},
        {{{"history", "-1"}}, "history: -1 is out of range (0-10000)"},
        {{{"history", "many"}}, "history: 'many' is not a whole number"},
        {{{"max_users", "-1"}}, "max_users: -1 is out of range (0-10000000)"},
    };
    for (const auto& [settings, problem] : cases) {
        EXPECT_EQ(PluginDriver("chat", settings).problem(), problem);
    }
    PluginDriver all(
        "chat", {{"dialect", "line"}, {"motd", "hi"}, {"history", "3"}, {"max_users", "9"}, {"topic", "x"}});
    EXPECT_EQ(all.problem(), "");
    EXPECT_EQ(all.unreadSettings(), std::vector<std::string>{"topic"});
}

// ---- seed dialect: the Python tutorial protocol ------------------------------

TEST(ChatUnit, SeedDialectHandshakeOrder) {
    Room room(Settings{{"dialect", "seed"}});
    EXPECT_EQ(room.driver().framing(), plughost::Framing::Raw);
    auto alice = room.driver().open();
    EXPECT_EQ(alice->take(), "NICK");
    room.say(*alice, "alice");
    EXPECT_EQ(alice->take(), "alice joined!Connected to server!");
    auto bob = room.driver().open();
    EXPECT_EQ(bob->take(), "NICK");
    auto carol = room.driver().open();
    EXPECT_EQ(carol->take(), "NICK");
    // Until bob answers NICK, he hears nothing: no messages, joins, leaves or shutdown notice.
    room.say(*alice, "alice: before bob joined");
    room.say(*carol, "carol");
    room.driver().leave(*carol, CloseReason::PeerClosed);
    room.driver().stopping();
    EXPECT_EQ(bob->take(), "");
    EXPECT_EQ(alice->take(), "alice: before bob joinedcarol joined!carol left!");  // its own message too
    room.say(*bob, "bob\n");  // the nickname chunk, trimmed
    EXPECT_EQ(bob->take(), "bob joined!Connected to server!");
    EXPECT_EQ(alice->take(), "bob joined!");
    room.driver().leave(*bob, CloseReason::Reset);
    EXPECT_EQ(alice->take(), "bob left!");
}

TEST(ChatUnit, SeedDialectRelaysChunksUnchanged) {
    Room room(Settings{{"dialect", "seed"}});
    auto alice = room.driver().open();
    auto bob = room.driver().open();
    room.say(*alice, " \r\n");  // nothing usable: asked again
    EXPECT_EQ(alice->take(), "NICKNICK");
    room.say(*alice, "alice");
    room.say(*bob, "Alice");  // the tutorial allows shared names, in any case
    alice->take();
    bob->take();
    const std::string raw = "Alice: \x01raw\xff bytes\r\n";
    room.say(*bob, raw);
    EXPECT_EQ(alice->take(), raw);
    EXPECT_EQ(bob->take(), raw);
    const std::string longNick(200, 'n');
    auto carol = room.driver().open();
    carol->take();
    room.say(*carol, longNick);
    EXPECT_EQ(carol->take(), std::string(64, 'n') + " joined!Connected to server!");
}

// ---- concurrency (run under ThreadSanitizer by `make sanitize`) ----------------

std::vector<std::string> splitLines(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        lines.push_back(line);
    }
    return lines;
}

std::string lowered(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
    return text;
}

// Several threads join (racing for the same names), rename, talk, quit and drop
// at once. Exactly one wins a name all of them want and keep; a watcher's
// transcript must be a consistent story (nobody joins under a name in use,
// renames and leaves concern present members), ending with exactly the members
// /who lists.
TEST(ChatUnit, ConcurrentJoinsLeavesAndRenamesKeepTheRoomConsistent) {
    Room room;
    auto watcher = room.join("watcher");
    constexpr int kThreads = 6;
    constexpr int kRounds = 150;
    constexpr int kSurvivors = 2;  // each thread's last members stay
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    std::mutex survivorsMutex;
    std::vector<std::shared_ptr<MemorySession>> survivors;
    std::map<std::string, std::string> survivorNames;  // lower case -> as shown, sorted as /who sorts
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            auto contender = room.driver().open();
            const std::string boss = t % 2 ? "Boss" : "bOSS";
            room.say(*contender, boss);
            if (contender->take().find("* Welcome, " + boss + "!") != std::string::npos) {
                std::lock_guard<std::mutex> lock(survivorsMutex);
                survivors.push_back(contender);
                survivorNames["boss"] = boss;
            }
            for (int i = 0; i < kRounds; ++i) {
                auto session = room.driver().open();
                const std::string unique = "t" + std::to_string(t) + "n" + std::to_string(i);
                if (i % 5 == 0) {  // everyone wants this one; at most one holds it at a time
                    room.say(*session, t % 2 ? "Race" + std::to_string(i) : "race" + std::to_string(i));
                }
                room.say(*session, unique);  // a message if the race name was won, else the nickname
                room.say(*session, "/nick " + unique + "x");
                room.say(*session, "hello from " + unique);
                // Joined under the race name or the unique one, then renamed.
                if (session->take().find(" is now " + unique + "x\n") == std::string::npos) {
                    ++failures;
                }
                if (i >= kRounds - kSurvivors) {
                    std::lock_guard<std::mutex> lock(survivorsMutex);
                    survivors.push_back(session);
                    survivorNames[unique + "x"] = unique + "x";
                } else if (i % 3 == 0) {
                    room.driver().leave(*session, CloseReason::PeerClosed);
                } else if (i % 3 == 1) {
                    room.say(*session, "/quit bye");
                    room.driver().leave(*session, CloseReason::Closed);
                } else {
                    room.driver().leave(*session, CloseReason::TooSlow);
                }
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    EXPECT_EQ(failures, 0);

    // Replay the watcher's transcript.
    std::set<std::string> present = {"watcher"};
    int inconsistencies = 0;
    int joins = 0;
    for (const auto& line : splitLines(watcher->take())) {
        std::smatch match;
        static const std::regex joined(R"(\* (\S+) joined)"), renamed(R"(\* (\S+) is now (\S+))"),
            left(R"(\* (\S+) left \((.*)\))"), said(R"((\S+): .*)");
        if (std::regex_match(line, match, joined)) {
            ++joins;
            inconsistencies += present.insert(lowered(match[1])).second ? 0 : 1;
        } else if (std::regex_match(line, match, renamed)) {
            inconsistencies += present.erase(lowered(match[1])) == 1 ? 0 : 1;
            inconsistencies += present.insert(lowered(match[2])).second ? 0 : 1;
        } else if (std::regex_match(line, match, left)) {
            inconsistencies += present.erase(lowered(match[1])) == 1 ? 0 : 1;
        } else if (std::regex_match(line, match, said)) {
            inconsistencies += present.count(lowered(match[1])) == 1 ? 0 : 1;
        } else {
            ADD_FAILURE() << "unexpected line: " << line;
        }
    }
    EXPECT_EQ(inconsistencies, 0);
    EXPECT_EQ(joins, kThreads * kRounds + 1);  // each member once, under one name or another; one boss
    ASSERT_EQ(survivorNames.count("boss"), 1u);
    survivorNames["watcher"] = "watcher";
    std::set<std::string> expectedPresent;
    std::string expected;
    for (const auto& [key, shown] : survivorNames) {
        expectedPresent.insert(key);
        expected += (expected.empty() ? "" : ", ") + shown;
    }
    EXPECT_EQ(present, expectedPresent);
    room.say(*watcher, "/who");
    EXPECT_EQ(watcher->take(), "* " + std::to_string(survivorNames.size()) + " here: " + expected + "\n");
}

// ---- against the real host ---------------------------------------------------

// workers: 4, so members sit on several loops and relaying crosses loops on any machine.
std::string room(const std::string& settings, const std::string& extra = "") {
    return "workers: 4\nservices:\n  room:\n    plugin: chat\n    listen: 127.0.0.1:0\n" + extra +
           "    settings: " + settings + "\n";
}

TEST(Chat, SettingsErrorsNameFileLineColumnInTheHostsWords) {
    TempDir dir;
    const auto plugins = pluginDirWith(dir, {"chat"});
    const auto config =
        dir.write("chat.yaml",
                  "plugin_dir: plugins\nservices:\n"
                  "  a:\n    plugin: chat\n    listen: 7001\n    settings: {dialect: xmpp}\n"
                  "  b:\n    plugin: chat\n    listen: 7002\n    settings: {history: -1}\n"
                  "  c:\n    plugin: chat\n    listen: 7003\n    settings: {history: many}\n"
                  "  d:\n    plugin: chat\n    listen: 7004\n    settings: {max_users: -1}\n");
    const auto result = runCtl({"check", config});
    EXPECT_EQ(result.exitCode, 1);
    EXPECT_EQ(result.output,
              config + ":6:25: services.a.settings.dialect: 'xmpp' is not one of: line, seed, irc\n" +
                  config + ":10:25: services.b.settings.history: -1 is out of range (0-10000)\n" + config +
                  ":14:25: services.c.settings.history: 'many' is not a whole number\n" + config +
                  ":18:27: services.d.settings.max_users: -1 is out of range (0-10000000)\n");
}

// A line-dialect member: connects, reads the greeting, joins (the welcome line is read).
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
    HostProcess host(room("{motd: \"Welcome\\nbe nice\", history: 2}"));
    ASSERT_TRUE(host.started()) << host.log();
    const auto port = host.port("room");
    Client alice(port);
    EXPECT_EQ(alice.line(), "* Welcome");
    EXPECT_EQ(alice.line(), "* be nice");
    EXPECT_EQ(alice.line(), "* Choose a nickname (1-24 letters, digits, _ - .):");
    alice.send("al ice\r\n");
    EXPECT_EQ(alice.line(), "! a nickname has only ASCII letters, digits, '_', '-' and '.'");
    EXPECT_EQ(alice.line(), "* Choose a nickname:");
    alice.send("alice\r\n");
    EXPECT_EQ(alice.line(), "* Welcome, alice! Nobody else is here. Type /help for commands.");
    alice.send("first!\n/who\n");
    EXPECT_EQ(alice.line(), "* 1 here: alice");  // so "first!" is in the room before bob comes

    Client bob = member(port, "Bob");
    EXPECT_EQ(bob.line(), "alice: first!");  // history
    EXPECT_EQ(alice.line(), "* Bob joined");
    bob.send("hello alice\n");
    EXPECT_EQ(alice.line(), "Bob: hello alice");
    Client carol = member(port, "carol");
    EXPECT_EQ(carol.line(), "alice: first!");
    EXPECT_EQ(carol.line(), "Bob: hello alice");
    EXPECT_EQ(alice.line(), "* carol joined");
    EXPECT_EQ(bob.line(), "* carol joined");
    carol.send("/who\n");
    EXPECT_EQ(carol.line(), "* 3 here: alice, Bob, carol");
    carol.send("/me waves\n");
    EXPECT_EQ(alice.line(), "* carol waves");
    EXPECT_EQ(bob.line(), "* carol waves");
    alice.send("/msg bob psst\n");
    EXPECT_EQ(alice.line(), "* to Bob: psst");
    EXPECT_EQ(bob.line(), "[alice] psst");
    bob.send("/nick robert\n");
    EXPECT_EQ(bob.line(), "* Bob is now robert");
    EXPECT_EQ(alice.line(), "* Bob is now robert");
    EXPECT_EQ(carol.line(), "* Bob is now robert");  // not the private message before it

    bob.send("/quit gotta go\n");
    EXPECT_EQ(bob.line(), "* Bye.");
    EXPECT_TRUE(bob.waitClosed());
    EXPECT_EQ(alice.line(), "* robert left (quit: gotta go)");
    EXPECT_EQ(carol.line(), "* robert left (quit: gotta go)");
    carol.close();  // EOF
    EXPECT_EQ(alice.line(), "* carol left (peer closed)");
    Client dave = member(port, "dave");
    EXPECT_EQ(dave.line(), "Bob: hello alice");  // the last two messages
    EXPECT_EQ(dave.line(), "* carol waves");
    EXPECT_EQ(alice.line(), "* dave joined");
    dave.reset();  // RST
    EXPECT_EQ(alice.line(), "* dave left (connection reset)");

    alice.send(std::string(9000, 'x') + "\n/who\n");
    EXPECT_EQ(alice.line(), "! line too long (max 8192 bytes)");
    EXPECT_EQ(alice.line(), "* 1 here: alice");
}

TEST(Chat, CleanedTextOverSockets) {
    HostProcess host(room("{}"));
    ASSERT_TRUE(host.started()) << host.log();
    Client alice = member(host.port("room"), "alice");
    Client bob = member(host.port("room"), "bob");
    EXPECT_EQ(alice.line(), "* bob joined");
    alice.send("bell\x07, escape\x1b[2J, bad \xff, cut \xe2\x82, ok \xc3\xa9\r\n\x1b\r\n/who\n");
    EXPECT_EQ(bob.line(), "alice: bell, escape[2J, bad \xEF\xBF\xBD, cut \xEF\xBF\xBD, ok \xc3\xa9");
    EXPECT_EQ(alice.line(), "* 2 here: alice, bob");  // the line empty after cleaning was not relayed
    bob.send("/who\n");
    EXPECT_EQ(bob.line(), "* 2 here: alice, bob");
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
    // Kernel buffers keep their normal size, so the 1.6 MB below may all fit in
    // them: send_timeout, not max_queue, is what finds the member who never reads.
    HostProcess host(room("{}", "    max_queue: 64KiB\n    send_timeout: 2s\n"));
    ASSERT_TRUE(host.started()) << host.log();
    const auto port = host.port("room");
    std::vector<Client> members;
    for (int i = 0; i < 49; ++i) {
        members.push_back(member(port, "m" + std::to_string(i)));
    }
    Client stalled = member(port, "stalled", 4096);
    for (auto& m : members) {  // drain the join notices
        std::string line;
        while (m.readLine(line, 5s) && line != "* stalled joined") {
        }
    }
    // The first member talks a lot; the stalled one never reads. Everyone else reads everything.
    // 1.6 MB per reader: far past the stalled one's receive window.
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
            bool left = false;
            while (next < kMessages && members[r].readLine(line, 10s)) {
                if (line.rfind("m0: ", 0) == 0) {
                    if (line != "m0: " + std::to_string(next) + " " + text) {
                        break;  // lost, duplicated or out of order
                    }
                    progress[r] = ++next;
                } else if (line == "* stalled left (too slow)") {
                    left = true;
                }
            }
            if (next < kMessages) {
                abandon = true;
                return;
            }
            ++complete;
            // The leave notice, if the stalled one was cut only near the end (or after it, by send_timeout).
            const auto deadline = std::chrono::steady_clock::now() + 10s;
            while (!left && std::chrono::steady_clock::now() < deadline && members[r].readLine(line, 10s)) {
                left = line == "* stalled left (too slow)";
            }
            sawLeave += left ? 1 : 0;
        });
    }
    talker.join();
    for (auto& reader : readers) {
        reader.join();
    }
    EXPECT_EQ(complete.load(), 48);
    EXPECT_EQ(sawLeave.load(), 48) << runCtl({"status", "--json", "--socket", host.adminSocket()}).output;
    EXPECT_TRUE(stalled.waitClosed(10s, nullptr));
}

TEST(Chat, FiveHundredClientsJoinAndLeaveConcurrently) {
    HostProcess host(room("{}"));
    ASSERT_TRUE(host.started()) << host.log();
    const auto port = host.port("room");
    constexpr int kThreads = 10;
    constexpr int kEach = 50;
    constexpr int kStaying = 5;  // each thread's last few stay, so the final list is not trivial
    std::vector<std::thread> threads;
    std::atomic<int> joined{0};
    std::mutex stayingMutex;
    std::vector<Client> staying;
    std::set<std::string> expected = {"last"};
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            std::vector<Client> mine;
            for (int i = 0; i < kEach; ++i) {
                mine.push_back(member(port, "c" + std::to_string(t) + "_" + std::to_string(i)));
                ++joined;
            }
            for (int i = 0; i < kEach; ++i) {
                if (i >= kEach - kStaying) {
                    std::lock_guard<std::mutex> lock(stayingMutex);
                    staying.push_back(std::move(mine[i]));
                    expected.insert("c" + std::to_string(t) + "_" + std::to_string(i));
                    continue;
                }
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
    EXPECT_EQ(joined.load(), kThreads * kEach);
    std::string list;
    for (const auto& name : expected) {  // the room sorts names; these are all lower case
        list += (list.empty() ? "" : ", ") + name;
    }
    const std::string wanted = "* " + std::to_string(expected.size()) + " here: " + list;
    Client last = member(port, "last");
    std::string answer;
    EXPECT_TRUE(eventually(
        [&] {  // leaves arrive asynchronously: ask until the room has settled
            last.send("/who\n");
            while (last.readLine(answer, 2s) && answer.find(" here: ") == std::string::npos) {
            }
            return answer == wanted;
        },
        10s))
        << answer;
}

// The Python tutorial client, as it behaves on the wire: its first recv() must
// be exactly "NICK", it answers with its nickname, then sends "nick: text" and
// prints whatever arrives.
class TutorialClient {
public:
    TutorialClient(std::uint16_t port, std::string nick, bool answer = true)
        : client_(port), nick_(std::move(nick)) {
        EXPECT_EQ(client_.readSome(), "NICK");  // the tutorial's exact compare
        if (answer) {
            client_.send(nick_);
        }
    }
    void answerNick() { client_.send(nick_); }
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
    // Exactly the next bytes.
    std::string next(std::size_t size) { return client_.readExactly(size); }
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
    EXPECT_TRUE(alice.expect("alice joined!Connected to server!"));
    TutorialClient bob(port, "bob");
    EXPECT_TRUE(bob.expect("bob joined!Connected to server!"));
    EXPECT_TRUE(alice.expect("bob joined!"));
    TutorialClient carol(port, "carol");
    EXPECT_TRUE(carol.expect("carol joined!Connected to server!"));
    EXPECT_TRUE(alice.expect("carol joined!"));
    EXPECT_TRUE(bob.expect("carol joined!"));
    TutorialClient dave(port, "dave", false);  // connected, still thinking about a nickname

    alice.write("hello everyone");
    for (TutorialClient* c : {&alice, &bob, &carol}) {  // the sender too, as the tutorial server does
        EXPECT_TRUE(c->expect("alice: hello everyone"));
    }
    bob.write("hi alice");
    EXPECT_TRUE(carol.expect("bob: hi alice"));
    EXPECT_TRUE(alice.expect("bob: hi alice"));
    EXPECT_TRUE(bob.expect("bob: hi alice"));
    bob.close();
    EXPECT_TRUE(alice.expect("bob left!"));
    EXPECT_TRUE(carol.expect("bob left!"));

    // Nothing of the above reached dave: his first bytes after answering are his own join.
    dave.answerNick();
    const std::string joined = "dave joined!Connected to server!";
    EXPECT_EQ(dave.next(joined.size()), joined);
    EXPECT_TRUE(alice.expect("dave joined!"));
    carol.write("bye");
    EXPECT_TRUE(dave.expect("carol: bye"));
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
    // Traffic for at least twice the idle timeout: each tick waits for the one
    // before to arrive, none for a clock.
    const auto until = std::chrono::steady_clock::now() + 1200ms;
    for (int i = 0; std::chrono::steady_clock::now() < until; ++i) {
        talker.send("tick " + std::to_string(i) + "\n");
        ASSERT_EQ(listener.line(), "talker: tick " + std::to_string(i));
    }
    EXPECT_TRUE(listener.waitClosed(3s));  // and once the traffic stops, it is
}

}  // namespace
