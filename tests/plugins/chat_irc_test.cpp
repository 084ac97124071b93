// The chat plugin's irc dialect through the SDK alone: one test client per
// command and numeric, and rooms shared with the line and seed dialects.
#include <crypt.h>
#include <gtest/gtest.h>

#include <chrono>
#include <regex>
#include <sstream>
#include <thread>

#include "sdk_driver.h"

namespace {

using plughost::CloseReason;
using plughost::test::MemorySession;
using plughost::test::PluginDriver;
using Settings = std::map<std::string, std::string>;

const std::string kServer = "irc.test";

Settings ircSettings(Settings extra = {}) {
    Settings settings{{"dialect", "irc"}, {"server_name", kServer}};
    for (auto& entry : extra) {
        settings[entry.first] = entry.second;
    }
    return settings;
}

// One irc service in memory and the clients talking to it.
class Server {
public:
    explicit Server(Settings extra = {}) : driver_("chat", ircSettings(std::move(extra)), "irc") {
        EXPECT_EQ(driver_.problem(), "");
    }
    std::shared_ptr<MemorySession> connect() { return driver_.open("127.0.0.1:40000"); }
    // A registered client; what registration sent is read.
    std::shared_ptr<MemorySession> client(const std::string& nick) {
        auto session = connect();
        send(*session, "NICK " + nick);
        send(*session, "USER " + nick + " 0 * :Real " + nick);
        const std::string welcome = session->take();
        EXPECT_NE(welcome.find(" 001 " + nick + " :"), std::string::npos) << welcome;
        return session;
    }
    void send(MemorySession& session, const std::string& line) { driver_.say(session, line + "\r\n"); }
    PluginDriver& driver() { return driver_; }

private:
    PluginDriver driver_;
};

// The lines sent, without their "\r\n"; each must have one and be at most 512 bytes.
std::vector<std::string> lines(const std::string& sent) {
    std::vector<std::string> all;
    std::size_t start = 0;
    while (start < sent.size()) {
        const auto end = sent.find("\r\n", start);
        EXPECT_NE(end, std::string::npos) << "no CRLF after: " << sent.substr(start);
        if (end == std::string::npos) {
            break;
        }
        EXPECT_LE(end + 2 - start, 512u) << sent.substr(start, end - start);
        all.push_back(sent.substr(start, end - start));
        start = end + 2;
    }
    return all;
}

// The one numeric `code` in what was sent ("" if none).
std::string numeric(const std::string& sent, const std::string& code) {
    for (const auto& line : lines(sent)) {
        if (line.find(" " + code + " ") != std::string::npos &&
            line.rfind(":" + kServer + " " + code, 0) == 0) {
            return line;
        }
    }
    return "";
}

TEST(ChatIrc, RegistrationSendsWelcomeIsupportLusersAndNoMotd) {
    Server server;
    auto s = server.connect();
    server.send(*s, "CAP LS 302");
    EXPECT_EQ(s->take(), ":irc.test CAP * LS :\r\n");
    server.send(*s, "NICK alice");
    server.send(*s, "USER al 0 * :Alice A");
    EXPECT_EQ(s->take(), "") << "registration waits for CAP END";
    server.send(*s, "CAP END");
    const std::string sent = s->take();
    const auto all = lines(sent);
    ASSERT_GE(all.size(), 5u);
    EXPECT_EQ(all[0], ":irc.test 001 alice :Welcome to the irc.test IRC network, alice!al@127.0.0.1");
    EXPECT_EQ(all[1].rfind(":irc.test 002 alice :Your host is irc.test", 0), 0u);
    EXPECT_EQ(all[2].rfind(":irc.test 003 alice :", 0), 0u);
    EXPECT_EQ(all[3], ":irc.test 004 alice irc.test plughost-chat-1.0.0 io biklmnost bklov");
    for (const char* token : {"CASEMAPPING=rfc1459", "CHANTYPES=#", "PREFIX=(ov)@+", "CHANMODES=b,k,l,imnst",
                              "NICKLEN=30", "CHANNELLEN=50", "TOPICLEN=390", "MODES=4", "CHANLIMIT=#:20"}) {
        EXPECT_NE(all[4].find(std::string(" ") + token + " "), std::string::npos)
            << token << " in " << all[4];
    }
    EXPECT_NE(numeric(sent, "251"), "");
    EXPECT_EQ(numeric(sent, "255"), ":irc.test 255 alice :I have 1 clients and 0 servers");
    EXPECT_EQ(numeric(sent, "422"), ":irc.test 422 alice :MOTD File is missing");
}

TEST(ChatIrc, CapReqIsRefusedAndMotdComesFromSettings) {
    Server server(Settings{{"motd", "hello\nbe nice"}});
    auto s = server.connect();
    server.send(*s, "CAP REQ :sasl");
    EXPECT_EQ(s->take(), ":irc.test CAP * NAK :sasl\r\n");
    server.send(*s, "CAP END");
    server.send(*s, "NICK bob");
    server.send(*s, "USER bob 0 * :Bob");
    const std::string sent = s->take();
    EXPECT_NE(sent.find(":irc.test 375 bob :- irc.test Message of the day - \r\n"
                        ":irc.test 372 bob :- hello\r\n:irc.test 372 bob :- be nice\r\n"
                        ":irc.test 376 bob :End of /MOTD command.\r\n"),
              std::string::npos)
        << sent;
    EXPECT_EQ(numeric(sent, "422"), "");
}

TEST(ChatIrc, UnregisteredClientsGet451AndRegisteredOnes462) {
    Server server;
    auto s = server.connect();
    server.send(*s, "JOIN #a");
    EXPECT_EQ(s->take(), ":irc.test 451 * :You have not registered\r\n");
    server.send(*s, "PRIVMSG x :y");
    EXPECT_EQ(s->take(), ":irc.test 451 * :You have not registered\r\n");
    EXPECT_FALSE(s->closed());
    server.send(*s, "USER a");
    EXPECT_EQ(s->take(), ":irc.test 461 * USER :Not enough parameters\r\n");
    auto alice = server.client("alice");
    server.send(*alice, "USER x 0 * :again");
    EXPECT_EQ(alice->take(), ":irc.test 462 alice :You may not reregister\r\n");
}

TEST(ChatIrc, PasswordIsRequiredWhenSet) {
    Server server(Settings{{"password", "sesame"}});
    auto wrong = server.connect();
    server.send(*wrong, "PASS guess");
    server.send(*wrong, "NICK w");
    server.send(*wrong, "USER w 0 * :w");
    const std::string sent = wrong->take();
    EXPECT_NE(numeric(sent, "464"), "");
    EXPECT_NE(sent.find("ERROR :Closing link: 127.0.0.1 (Bad password)\r\n"), std::string::npos) << sent;
    EXPECT_TRUE(wrong->closed());
    auto right = server.connect();
    server.send(*right, "PASS sesame");
    server.send(*right, "NICK r");
    server.send(*right, "USER r 0 * :r");
    EXPECT_NE(numeric(right->take(), "001"), "");
}

TEST(ChatIrc, NicknameNumericsAndCaseMapping) {
    Server server;
    auto s = server.connect();
    server.send(*s, "NICK");
    EXPECT_EQ(s->take(), ":irc.test 431 * :No nickname given\r\n");
    server.send(*s, "NICK 9lives");
    EXPECT_EQ(s->take(), ":irc.test 432 * 9lives :Erroneous nickname\r\n");
    server.send(*s, "NICK " + std::string(31, 'a'));
    EXPECT_NE(numeric(s->take(), "432"), "");
    auto alice = server.client("Alice[1]");
    server.send(*s, "NICK alice{1}");  // rfc1459: [ ] are upper case { }
    EXPECT_EQ(s->take(), ":irc.test 433 * alice{1} :Nickname is already in use\r\n");
    server.send(*alice, "NICK ALICE{1}");  // a member may change the case of its own
    EXPECT_EQ(alice->take(), ":Alice[1]!Alice[1]@127.0.0.1 NICK :ALICE{1}\r\n");
}

TEST(ChatIrc, NickChangesReachChannelNeighboursOnce) {
    Server server;
    auto alice = server.client("alice");
    auto bob = server.client("bob");
    server.send(*alice, "JOIN #a,#b");
    server.send(*bob, "JOIN #a,#b");
    alice->take();
    bob->take();
    server.send(*alice, "NICK alicia");
    EXPECT_EQ(bob->take(), ":alice!alice@127.0.0.1 NICK :alicia\r\n");
    EXPECT_EQ(alice->take(), ":alice!alice@127.0.0.1 NICK :alicia\r\n");
    server.send(*bob, "PRIVMSG alicia :hi");
    EXPECT_EQ(alice->take(), ":bob!bob@127.0.0.1 PRIVMSG alicia :hi\r\n");
}

TEST(ChatIrc, JoinMakesTheFirstJoinerOperatorAndListsNames) {
    Server server;
    auto alice = server.client("alice");
    auto bob = server.client("bob");
    server.send(*alice, "JOIN #Lobby");
    EXPECT_EQ(alice->take(),
              ":alice!alice@127.0.0.1 JOIN #Lobby\r\n:irc.test 353 alice = #Lobby :@alice\r\n"
              ":irc.test 366 alice #Lobby :End of /NAMES list\r\n");
    server.send(*bob, "JOIN #LOBBY");
    EXPECT_EQ(alice->take(), ":bob!bob@127.0.0.1 JOIN #Lobby\r\n");
    EXPECT_EQ(numeric(bob->take(), "353"), ":irc.test 353 bob = #Lobby :@alice bob");
    server.send(*bob, "NAMES #lobby");
    EXPECT_EQ(bob->take(),
              ":irc.test 353 bob = #Lobby :@alice bob\r\n:irc.test 366 bob #Lobby :End of /NAMES list\r\n");
    server.send(*bob, "JOIN");
    EXPECT_EQ(bob->take(), ":irc.test 461 bob JOIN :Not enough parameters\r\n");
    server.send(*bob, "JOIN lobby");
    EXPECT_EQ(bob->take(), ":irc.test 403 bob lobby :No such channel\r\n");
}

TEST(ChatIrc, PrivmsgAndNoticeToChannelsAndNicks) {
    Server server;
    auto alice = server.client("alice");
    auto bob = server.client("bob");
    server.send(*alice, "JOIN #a");
    server.send(*bob, "JOIN #a");
    alice->take();
    bob->take();
    server.send(*alice, "PRIVMSG #a :hello there");
    EXPECT_EQ(bob->take(), ":alice!alice@127.0.0.1 PRIVMSG #a :hello there\r\n");
    EXPECT_EQ(alice->take(), "") << "no echo";
    server.send(*alice, "NOTICE bob :psst");
    EXPECT_EQ(bob->take(), ":alice!alice@127.0.0.1 NOTICE bob :psst\r\n");
    server.send(*alice,
                "PRIVMSG #a :\x01"
                "ACTION waves\x01");
    EXPECT_EQ(bob->take(),
              ":alice!alice@127.0.0.1 PRIVMSG #a :\x01"
              "ACTION waves\x01\r\n");
    server.send(*alice, "PRIVMSG");
    EXPECT_EQ(alice->take(), ":irc.test 411 alice :No recipient given (PRIVMSG)\r\n");
    server.send(*alice, "PRIVMSG bob");
    EXPECT_EQ(alice->take(), ":irc.test 412 alice :No text to send\r\n");
    server.send(*alice, "PRIVMSG nobody :x");
    EXPECT_EQ(alice->take(), ":irc.test 401 alice nobody :No such nick/channel\r\n");
    server.send(*alice, "PRIVMSG #nowhere :x");
    EXPECT_EQ(alice->take(), ":irc.test 403 alice #nowhere :No such channel\r\n");
    server.send(*alice, "NOTICE nobody :x");
    EXPECT_EQ(alice->take(), "") << "NOTICE never gets an automatic reply";
}

TEST(ChatIrc, CannotSendToChannel404OutsideAndWhenModerated) {
    Server server;
    auto alice = server.client("alice");
    auto bob = server.client("bob");
    server.send(*alice, "JOIN #a");
    alice->take();
    server.send(*bob, "PRIVMSG #a :from outside");
    EXPECT_EQ(bob->take(), ":irc.test 404 bob #a :Cannot send to channel\r\n");
    server.send(*bob, "JOIN #a");
    server.send(*alice, "MODE #a +m");
    bob->take();
    alice->take();
    server.send(*bob, "PRIVMSG #a :muted");
    EXPECT_EQ(bob->take(), ":irc.test 404 bob #a :Cannot send to channel\r\n");
    server.send(*alice, "MODE #a +v bob");
    EXPECT_EQ(bob->take(), ":alice!alice@127.0.0.1 MODE #a +v bob\r\n");
    server.send(*bob, "PRIVMSG #a :voiced");
    EXPECT_EQ(alice->take(),
              ":alice!alice@127.0.0.1 MODE #a +v bob\r\n:bob!bob@127.0.0.1 PRIVMSG #a :voiced\r\n");
}

TEST(ChatIrc, TopicNumericsAndLock) {
    Server server;
    auto alice = server.client("alice");
    auto bob = server.client("bob");
    server.send(*alice, "JOIN #a");
    server.send(*bob, "JOIN #a");
    alice->take();
    bob->take();
    server.send(*bob, "TOPIC #a");
    EXPECT_EQ(bob->take(), ":irc.test 331 bob #a :No topic is set\r\n");
    server.send(*bob, "TOPIC #a :mine");
    EXPECT_EQ(bob->take(), ":irc.test 482 bob #a :You're not channel operator\r\n");
    server.send(*alice, "TOPIC #a :the topic");
    EXPECT_EQ(bob->take(), ":alice!alice@127.0.0.1 TOPIC #a :the topic\r\n");
    EXPECT_EQ(alice->take(), ":alice!alice@127.0.0.1 TOPIC #a :the topic\r\n");
    server.send(*bob, "TOPIC #a");
    const std::string sent = bob->take();
    EXPECT_EQ(numeric(sent, "332"), ":irc.test 332 bob #a :the topic");
    EXPECT_EQ(numeric(sent, "333").rfind(":irc.test 333 bob #a alice!alice@127.0.0.1 ", 0), 0u);
    server.send(*alice, "MODE #a -t");
    server.send(*bob, "TOPIC #a :now mine");
    EXPECT_EQ(alice->take(),
              ":alice!alice@127.0.0.1 MODE #a -t\r\n:bob!bob@127.0.0.1 TOPIC #a :now mine\r\n");
    auto carol = server.client("carol");
    server.send(*carol, "TOPIC #a :x");
    EXPECT_EQ(carol->take(), ":irc.test 442 carol #a :You're not on that channel\r\n");
    server.send(*carol, "TOPIC");
    EXPECT_EQ(carol->take(), ":irc.test 461 carol TOPIC :Not enough parameters\r\n");
}

TEST(ChatIrc, PartAndKickAndTheirNumerics) {
    Server server;
    auto alice = server.client("alice");
    auto bob = server.client("bob");
    auto carol = server.client("carol");
    server.send(*alice, "JOIN #a");
    server.send(*bob, "JOIN #a");
    alice->take();
    bob->take();
    server.send(*carol, "PART #a");
    EXPECT_EQ(carol->take(), ":irc.test 442 carol #a :You're not on that channel\r\n");
    server.send(*carol, "PART #zzz");
    EXPECT_EQ(carol->take(), ":irc.test 403 carol #zzz :No such channel\r\n");
    server.send(*bob, "KICK #a alice");
    EXPECT_EQ(bob->take(), ":irc.test 482 bob #a :You're not channel operator\r\n");
    server.send(*alice, "KICK #a carol");
    EXPECT_EQ(alice->take(), ":irc.test 441 alice carol #a :They aren't on that channel\r\n");
    server.send(*alice, "KICK #a ghost");
    EXPECT_EQ(alice->take(), ":irc.test 401 alice ghost :No such nick/channel\r\n");
    server.send(*alice, "KICK #a bob :behave");
    EXPECT_EQ(bob->take(), ":alice!alice@127.0.0.1 KICK #a bob :behave\r\n");
    server.send(*bob, "PRIVMSG #a :back?");
    EXPECT_EQ(bob->take(), ":irc.test 404 bob #a :Cannot send to channel\r\n");
    server.send(*bob, "JOIN #a");
    alice->take();
    bob->take();
    server.send(*bob, "PART #a :bye now");
    EXPECT_EQ(alice->take(), ":bob!bob@127.0.0.1 PART #a :bye now\r\n");
}

TEST(ChatIrc, ChannelModesKeyLimitInviteBanAndUnknown) {
    Server server;
    auto alice = server.client("alice");
    auto bob = server.client("bob");
    server.send(*alice, "JOIN #a");
    alice->take();
    server.send(*alice, "MODE #a +kl secret 1");
    EXPECT_EQ(alice->take(), ":alice!alice@127.0.0.1 MODE #a +kl secret 1\r\n");
    server.send(*alice, "MODE #a");
    EXPECT_EQ(numeric(alice->take(), "324"), ":irc.test 324 alice #a +ntkl secret 1");
    server.send(*bob, "MODE #a");
    EXPECT_EQ(numeric(bob->take(), "324"), ":irc.test 324 bob #a +ntkl * 1") << "the key only for members";
    server.send(*bob, "JOIN #a");
    EXPECT_EQ(bob->take(), ":irc.test 471 bob #a :Cannot join channel (channel is full)\r\n");
    server.send(*alice, "MODE #a -l");
    server.send(*bob, "JOIN #a wrong");
    EXPECT_EQ(bob->take(), ":irc.test 475 bob #a :Cannot join channel (bad channel key)\r\n");
    server.send(*alice, "MODE #a -k+i *");
    server.send(*bob, "JOIN #a");
    EXPECT_EQ(bob->take(), ":irc.test 473 bob #a :Cannot join channel (invite only channel)\r\n");
    server.send(*alice, "MODE #a -i+b bob!*@*");
    server.send(*bob, "JOIN #a");
    EXPECT_EQ(bob->take(), ":irc.test 474 bob #a :Cannot join channel (banned from channel)\r\n");
    server.send(*alice, "MODE #a b");
    alice->take();
    server.send(*alice, "MODE #a b");
    EXPECT_EQ(alice->take(),
              ":irc.test 367 alice #a bob!*@*\r\n:irc.test 368 alice #a :End of channel ban list\r\n");
    server.send(*alice, "MODE #a +q");
    EXPECT_EQ(alice->take(), ":irc.test 472 alice q :is unknown mode char to me for #a\r\n");
    server.send(*alice, "MODE #a -b bob!*@*");
    alice->take();
    server.send(*bob, "JOIN #a");
    server.send(*bob, "MODE #a +s");
    EXPECT_EQ(numeric(bob->take(), "482"), ":irc.test 482 bob #a :You're not channel operator");
    server.send(*alice, "MODE #a +o bob");
    EXPECT_NE(alice->take().find("MODE #a +o bob"), std::string::npos);
    server.send(*bob, "MODE #a +s");
    EXPECT_NE(bob->take().find(":bob!bob@127.0.0.1 MODE #a +s\r\n"), std::string::npos);
}

TEST(ChatIrc, InviteLetsIntoInviteOnlyChannels) {
    Server server;
    auto alice = server.client("alice");
    auto bob = server.client("bob");
    server.send(*alice, "JOIN #a");
    server.send(*alice, "MODE #a +i");
    alice->take();
    server.send(*bob, "INVITE alice #a");
    EXPECT_EQ(bob->take(), ":irc.test 442 bob #a :You're not on that channel\r\n");
    server.send(*alice, "INVITE alice #a");
    EXPECT_EQ(alice->take(), ":irc.test 443 alice alice #a :is already on channel\r\n");
    server.send(*alice, "INVITE ghost #a");
    EXPECT_EQ(alice->take(), ":irc.test 401 alice ghost :No such nick/channel\r\n");
    server.send(*alice, "INVITE bob #a");
    EXPECT_EQ(alice->take(), ":irc.test 341 alice bob #a\r\n");
    EXPECT_EQ(bob->take(), ":alice!alice@127.0.0.1 INVITE bob #a\r\n");
    server.send(*bob, "JOIN #a");
    EXPECT_NE(bob->take().find(":bob!bob@127.0.0.1 JOIN #a\r\n"), std::string::npos);
}

TEST(ChatIrc, TooManyChannels405) {
    Server server(Settings{{"max_channels", "2"}});
    auto alice = server.client("alice");
    server.send(*alice, "JOIN #a,#b,#c");
    EXPECT_NE(alice->take().find(":irc.test 405 alice #c :You have joined too many channels\r\n"),
              std::string::npos);
}

TEST(ChatIrc, ListWhoWhoisAndAway) {
    Server server;
    auto alice = server.client("alice");
    auto bob = server.client("bob");
    server.send(*alice, "JOIN #a,#hidden");
    server.send(*alice, "TOPIC #a :talk");
    server.send(*alice, "MODE #hidden +s");
    alice->take();
    server.send(*bob, "LIST");
    EXPECT_EQ(bob->take(),
              ":irc.test 321 bob Channel :Users  Name\r\n:irc.test 322 bob #a 1 :talk\r\n"
              ":irc.test 323 bob :End of /LIST\r\n");
    server.send(*bob, "WHO #a");
    EXPECT_EQ(bob->take(),
              ":irc.test 352 bob #a alice 127.0.0.1 irc.test alice H@ :0 Real alice\r\n"
              ":irc.test 315 bob #a :End of WHO list\r\n");
    server.send(*alice, "AWAY :lunch");
    EXPECT_EQ(alice->take(), ":irc.test 306 alice :You have been marked as being away\r\n");
    server.send(*bob, "PRIVMSG alice :there?");
    EXPECT_EQ(bob->take(), ":irc.test 301 bob alice :lunch\r\n");
    server.send(*bob, "WHOIS alice");
    const std::string whois = bob->take();
    EXPECT_EQ(numeric(whois, "311"), ":irc.test 311 bob alice alice 127.0.0.1 * :Real alice");
    EXPECT_EQ(numeric(whois, "319"), ":irc.test 319 bob alice :@#a");
    EXPECT_EQ(numeric(whois, "301"), ":irc.test 301 bob alice :lunch");
    EXPECT_EQ(numeric(whois, "318"), ":irc.test 318 bob alice :End of /WHOIS list");
    server.send(*bob, "WHOIS ghost");
    EXPECT_EQ(numeric(bob->take(), "401"), ":irc.test 401 bob ghost :No such nick/channel");
    EXPECT_EQ(alice->take(), ":bob!bob@127.0.0.1 PRIVMSG alice :there?\r\n");
    server.send(*alice, "AWAY");
    EXPECT_EQ(alice->take(), ":irc.test 305 alice :You are no longer marked as being away\r\n");
}

TEST(ChatIrc, OperWithASha512HashAndKill) {
    crypt_data data{};
    const std::string hash = crypt_r("hunter2", "$6$saltsalt$", &data);
    ASSERT_EQ(hash.rfind("$6$saltsalt$", 0), 0u);
    Server server(Settings{{"opers", "root " + hash}});
    auto alice = server.client("alice");
    auto bob = server.client("bob");
    server.send(*bob, "KILL alice :no");
    EXPECT_EQ(bob->take(), ":irc.test 481 bob :Permission Denied- You're not an IRC operator\r\n");
    server.send(*bob, "OPER root wrong");
    EXPECT_EQ(bob->take(), ":irc.test 464 bob :Password incorrect\r\n");
    server.send(*bob, "OPER nobody hunter2");
    EXPECT_EQ(bob->take(), ":irc.test 491 bob :No O-lines for your host\r\n");
    server.send(*bob, "OPER root");
    EXPECT_EQ(bob->take(), ":irc.test 461 bob OPER :Not enough parameters\r\n");
    server.send(*bob, "OPER root hunter2");
    EXPECT_EQ(bob->take(), ":irc.test 381 bob :You are now an IRC operator\r\n:bob MODE bob :+o\r\n");
    server.send(*bob, "KILL alice :spam");
    EXPECT_EQ(alice->take(), "ERROR :Closing link: 127.0.0.1 (Killed (bob (spam)))\r\n");
    EXPECT_TRUE(alice->closed());
    server.send(*bob, "WHOIS alice");
    EXPECT_NE(numeric(bob->take(), "401"), "");
}

TEST(ChatIrc, BadOperSettingsAreRefused) {
    PluginDriver driver("chat", ircSettings({{"opers", "root plaintext"}}));
    EXPECT_EQ(
        driver.problem(),
        "opers: 'root plaintext' is not 'NAME HASH' with a crypt(3) SHA-512 hash ($6$..., from mkpasswd -m "
        "sha-512)");
    PluginDriver name("chat", ircSettings({{"server_name", "no dots here"}}));
    EXPECT_NE(name.problem().find("server_name: 'no dots here' is not a server name"), std::string::npos);
    // A line service reads them too (its IRC-over-WebSocket clients speak irc); a seed service does not.
    PluginDriver line("chat", {{"dialect", "line"}, {"server_name", "x.y"}});
    EXPECT_EQ(line.unreadSettings(), std::vector<std::string>{});
    PluginDriver seed("chat", {{"dialect", "seed"}, {"server_name", "x.y"}});
    EXPECT_EQ(seed.unreadSettings(), std::vector<std::string>{"server_name"})
        << "irc settings are for irc and line services only";
}

TEST(ChatIrc, PingPongQuitAndUnknownCommands) {
    Server server;
    auto alice = server.client("alice");
    auto bob = server.client("bob");
    server.send(*alice, "JOIN #a");
    server.send(*bob, "JOIN #a");
    alice->take();
    bob->take();
    server.send(*alice, "PING :token 1");
    EXPECT_EQ(alice->take(), ":irc.test PONG irc.test :token 1\r\n");
    server.send(*alice, "PING");
    EXPECT_EQ(alice->take(), ":irc.test 409 alice :No origin specified\r\n");
    server.send(*alice, "FROB x");
    EXPECT_EQ(alice->take(), ":irc.test 421 alice FROB :Unknown command\r\n");
    server.send(*alice, "");
    server.send(*alice, "   ");
    EXPECT_FALSE(alice->closed()) << "empty lines are ignored";
    server.send(*alice, "QUIT :gone fishing");
    EXPECT_EQ(alice->take(), "ERROR :Closing link: 127.0.0.1 (Quit: gone fishing)\r\n");
    EXPECT_TRUE(alice->closed());
    EXPECT_EQ(bob->take(), ":alice!alice@127.0.0.1 QUIT :Quit: gone fishing\r\n");
}

TEST(ChatIrc, UserModes) {
    Server server;
    auto alice = server.client("alice");
    server.client("bob");
    server.send(*alice, "MODE alice +i");
    EXPECT_EQ(alice->take(), ":alice MODE alice :+i\r\n");
    server.send(*alice, "MODE alice");
    EXPECT_EQ(alice->take(), ":irc.test 221 alice +i\r\n");
    server.send(*alice, "LUSERS");
    EXPECT_EQ(numeric(alice->take(), "251"),
              ":irc.test 251 alice :There are 1 users and 1 invisible on 1 servers");
    server.send(*alice, "MODE alice +o");
    EXPECT_EQ(alice->take(), "") << "+o only through OPER";
    server.send(*alice, "MODE alice +x");
    EXPECT_EQ(alice->take(), ":irc.test 501 alice :Unknown MODE flag\r\n");
    server.send(*alice, "MODE bob +i");
    EXPECT_EQ(alice->take(), ":irc.test 502 alice :Cant change mode for other users\r\n");
}

TEST(ChatIrc, LongInputGets417AndStaysConnected) {
    Server server;
    auto alice = server.client("alice");
    server.driver().tooLong(*alice);
    EXPECT_EQ(alice->take(), ":irc.test 417 alice :Input line was too long\r\n");
    EXPECT_FALSE(alice->closed());
}

TEST(ChatIrc, EchoedParametersAreCleanedAndEveryLineStaysWithin512Bytes) {
    Server server;
    auto alice = server.client("alice");
    auto bob = server.client("bob");
    server.send(*alice,
                "PRIVMSG no\x07"
                "body :x");
    EXPECT_EQ(alice->take(), ":irc.test 401 alice nobody :No such nick/channel\r\n");
    server.send(*alice, "MODE #a +\x1b");
    server.send(*alice, "JOIN #a");
    server.send(*bob, "JOIN #a");
    alice->take();
    server.send(*bob, "PART #a :" + std::string(2000, 'r'));
    const auto parted = lines(alice->take());  // lines() checks the 512 bytes and the CRLF
    ASSERT_EQ(parted.size(), 1u);
    EXPECT_EQ(parted[0].size(), 510u);
    EXPECT_EQ(parted[0].rfind(":bob!bob@127.0.0.1 PART #a :rrr", 0), 0u);
}

// Polls a session's output until `needle` shows, for at most a few seconds.
bool waitFor(MemorySession& session, std::string& seen, const std::string& needle) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (seen.find(needle) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
        seen += session.take();
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return seen.find(needle) != std::string::npos;
}

TEST(ChatIrc, QuietClientsArePingedAndDeadOnesDropped) {
    Server server(Settings{{"ping_interval", "1"}, {"ping_timeout", "1"}});
    auto alice = server.client("alice");
    auto bob = server.client("bob");
    server.send(*alice, "JOIN #a");
    server.send(*bob, "JOIN #a");
    std::string seenAlice;
    std::string seenBob;
    ASSERT_TRUE(waitFor(*alice, seenAlice, "PING :irc.test\r\n")) << seenAlice;
    ASSERT_TRUE(waitFor(*bob, seenBob, "PING :irc.test\r\n")) << seenBob;
    server.send(*bob, "PONG :irc.test");  // bob answers, alice does not
    ASSERT_TRUE(waitFor(*alice, seenAlice, "ERROR :Closing link: 127.0.0.1 (Ping timeout: 2 seconds)\r\n"))
        << seenAlice;
    EXPECT_TRUE(alice->closed());
    EXPECT_TRUE(waitFor(*bob, seenBob, ":alice!alice@127.0.0.1 QUIT :Ping timeout: 2 seconds\r\n"))
        << seenBob;
    EXPECT_FALSE(bob->closed());
}

TEST(ChatIrc, RegistrationTimesOut) {
    Server server(Settings{{"registration_timeout", "1"}});
    auto s = server.connect();
    server.send(*s, "NICK slow");
    std::string seen;
    EXPECT_TRUE(waitFor(*s, seen, "ERROR :Closing link: 127.0.0.1 (Registration timed out)\r\n")) << seen;
    EXPECT_TRUE(s->closed());
}

// ---- rooms across dialects ----------------------------------------------------

TEST(ChatIrc, IrcLineAndSeedShareOneNetwork) {
    PluginDriver irc("chat", ircSettings({{"network", "unit-shared"}}), "irc");
    PluginDriver line("chat", {{"dialect", "line"}, {"network", "unit-shared"}, {"history", "5"}}, "line");
    PluginDriver seed("chat", {{"dialect", "seed"}, {"network", "unit-shared"}}, "seed");
    auto ann = irc.open();
    irc.say(*ann, "NICK ann\r\n");
    irc.say(*ann, "USER ann 0 * :Ann\r\n");
    irc.say(*ann, "JOIN #lobby\r\n");
    ann->take();
    auto ned = line.open();
    line.say(*ned, "ann");
    EXPECT_NE(ned->take().find("! the nickname ann is taken"), std::string::npos) << "one nickname space";
    line.say(*ned, "ned");
    EXPECT_NE(ned->take().find("* Welcome, ned! Here: ann."), std::string::npos);
    EXPECT_EQ(ann->take(), ":ned!ned@127.0.0.1 JOIN #lobby\r\n");
    auto sam = seed.open();
    EXPECT_EQ(sam->take(), "NICK");
    seed.say(*sam, "sam");
    EXPECT_EQ(sam->take(), "sam joined!Connected to server!") << "as the tutorial server says it";
    EXPECT_EQ(ann->take(), ":sam!seed@127.0.0.1 JOIN #lobby\r\n");
    EXPECT_EQ(ned->take(), "* sam joined\n");
    irc.say(*ann, "PRIVMSG #lobby :hi all\r\n");
    EXPECT_EQ(ned->take(), "ann: hi all\n");
    EXPECT_EQ(sam->take(), "ann: hi all");
    line.say(*ned, "hello");
    EXPECT_EQ(ann->take(), ":ned!ned@127.0.0.1 PRIVMSG #lobby :hello\r\n");
    EXPECT_EQ(sam->take(), "ned: hello");
    seed.say(*sam, "sam: hey");
    EXPECT_EQ(ann->take(), ":sam!seed@127.0.0.1 PRIVMSG #lobby :hey\r\n");
    EXPECT_EQ(ned->take(), "sam: hey\n");
    EXPECT_EQ(sam->take(), "sam: hey") << "the tutorial server echoes to the sender";
    irc.say(*ann, "TOPIC #lobby :all dialects\r\n");
    EXPECT_EQ(ned->take(), "* ann set the topic: all dialects\n");
    EXPECT_EQ(ann->take(), ":ann!ann@127.0.0.1 TOPIC #lobby :all dialects\r\n");
    line.say(*ned, "/msg ann private");
    EXPECT_EQ(ann->take(), ":ned!ned@127.0.0.1 PRIVMSG ann :private\r\n");
    EXPECT_EQ(ned->take(), "* to ann: private\n");
    // A line member moves to another room, which irc sees as #name.
    irc.say(*ann, "JOIN #dev\r\n");
    ann->take();
    line.say(*ned, "/join dev");
    EXPECT_EQ(ned->take(), "* Now in room dev. Here: ann.\n");
    EXPECT_EQ(ann->take(), ":ned!ned@127.0.0.1 PART #lobby :joined dev\r\n:ned!ned@127.0.0.1 JOIN #dev\r\n");
    line.say(*ned, "/rooms");
    EXPECT_EQ(ned->take(), "* dev (2)\n* lobby (2): all dialects\n");
    line.say(*ned, "/part");
    EXPECT_NE(ned->take().find("* Now in room lobby."), std::string::npos);
    line.say(*ned, "/part");
    EXPECT_EQ(ned->take(), "! you are in lobby, where everyone starts: /quit to leave\n");
    line.say(*ned, "/quit bye");
    EXPECT_NE(ann->take().find(":ned!ned@127.0.0.1 QUIT :quit: bye\r\n"), std::string::npos);
    line.leave(*ned, CloseReason::Closed);
}

TEST(ChatIrc, ServicesWithoutANetworkDoNotShare) {
    PluginDriver first("chat", {{"dialect", "line"}}, "one");
    PluginDriver second("chat", {{"dialect", "line"}}, "two");
    auto a = first.open();
    first.say(*a, "same");
    a->take();
    auto b = second.open();
    second.say(*b, "same");
    EXPECT_NE(b->take().find("* Welcome, same! Nobody else is here."), std::string::npos);
}

TEST(ChatIrc, LongLinesFromOtherDialectsAreSplitWithin512Bytes) {
    PluginDriver irc("chat", ircSettings({{"network", "unit-long"}}), "irc");
    PluginDriver line("chat", {{"dialect", "line"}, {"network", "unit-long"}}, "line");
    auto ann = irc.open();
    irc.say(*ann, "NICK ann\r\n");
    irc.say(*ann, "USER ann 0 * :Ann\r\n");
    irc.say(*ann, "JOIN #lobby\r\n");
    ann->take();
    auto ned = line.open();
    line.say(*ned, "ned");
    ann->take();
    std::string text;
    for (int i = 0; i < 300; ++i) {
        text += "word" + std::to_string(i) + " \xC3\xA9 ";
    }
    line.say(*ned, text);
    std::string joined;
    for (const auto& each : lines(ann->take())) {
        const std::string head = ":ned!ned@127.0.0.1 PRIVMSG #lobby :";
        ASSERT_EQ(each.rfind(head, 0), 0u) << each;
        joined += each.substr(head.size());
    }
    EXPECT_EQ(joined, text);
}

}  // namespace
