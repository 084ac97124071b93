// The confirm plugin: its template, framings and logging through the SDK alone
// (ConfirmUnit), then against the real host over loopback (Confirm).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "sdk_driver.h"
#include "support/client.h"
#include "support/host_process.h"

namespace {

using namespace plughost::test;
using plughost::LogLevel;
using Settings = std::map<std::string, std::string>;

TEST(ConfirmUnit, DefaultReplyConfirmsEachLine) {
    PluginDriver driver("confirm");
    ASSERT_EQ(driver.problem(), "");
    EXPECT_EQ(driver.framing(), plughost::Framing::Lines);
    auto session = driver.open();
    driver.say(*session, "hello there");
    driver.say(*session, "");  // an empty line is a message too
    EXPECT_EQ(session->take(), "Message received: hello there\nMessage received: \n");
}

TEST(ConfirmUnit, EveryPlaceholderAndLiteralBraces) {
    PluginDriver driver("confirm",
                        {{"reply", "[{service}] #{count} from {peer}: {message} ({bytes} bytes) {{ok}}"}},
                        "tester");
    ASSERT_EQ(driver.problem(), "");
    auto session = driver.open("10.0.0.1:5555");
    driver.say(*session, "abc");
    driver.say(*session, "h\xc3\xa9llo");  // bytes, not characters
    EXPECT_EQ(session->take(),
              "[tester] #1 from 10.0.0.1:5555: abc (3 bytes) {ok}\n"
              "[tester] #2 from 10.0.0.1:5555: h\xc3\xa9llo (6 bytes) {ok}\n");
    auto other = driver.open("[::1]:6666");  // counts are per connection
    driver.say(*other, "x");
    EXPECT_EQ(other->take(), "[tester] #1 from [::1]:6666: x (1 bytes) {ok}\n");
    driver.say(*session, "again");
    EXPECT_EQ(session->take(), "[tester] #3 from 10.0.0.1:5555: again (5 bytes) {ok}\n");
}

TEST(ConfirmUnit, TemplatesWithoutPlaceholdersOrWithRepeats) {
    PluginDriver fixed("confirm", {{"reply", "OK"}});
    auto session = fixed.open();
    fixed.say(*session, "anything");
    EXPECT_EQ(session->take(), "OK\n");
    PluginDriver repeated("confirm", {{"reply", "{message}{message} }}{{{count}}}"}});
    session = repeated.open();
    repeated.say(*session, "ab");
    EXPECT_EQ(session->take(), "abab }{1}\n");
    PluginDriver empty("confirm", {{"reply", ""}});
    session = empty.open();
    empty.say(*session, "x");
    EXPECT_EQ(session->take(), "\n");
}

TEST(ConfirmUnit, ChunkFramingAnswersEachChunkWithoutANewline) {
    PluginDriver driver("confirm", {{"framing", "chunks"}, {"reply", "got {bytes}: {message}"}});
    ASSERT_EQ(driver.problem(), "");
    EXPECT_EQ(driver.framing(), plughost::Framing::Raw);
    auto session = driver.open();
    driver.say(*session, "two\nlines\n");
    EXPECT_EQ(session->take(), "got 10: two\nlines\n");
    driver.say(*session, "x");
    EXPECT_EQ(session->take(), "got 1: x");
}

TEST(ConfirmUnit, BadSettingsAreRejectedAtLoadTime) {
    const std::vector<std::pair<Settings, std::string>> cases = {
        {{{"reply", "hi {name}"}},
         "reply: unknown placeholder {name} (known: {message}, {bytes}, {count}, {peer}, {service})"},
        {{{"reply", "hi {}"}},
         "reply: unknown placeholder {} (known: {message}, {bytes}, {count}, {peer}, {service})"},
        {{{"reply", "hi {MESSAGE}"}},
         "reply: unknown placeholder {MESSAGE} (known: {message}, {bytes}, {count}, {peer}, {service})"},
        {{{"reply", "hi {message"}}, "reply: unclosed '{' at offset 3 (write {{ for a literal brace)"},
        {{{"reply", "hi }"}}, "reply: unmatched '}' at offset 3 (write }} for a literal brace)"},
        {{{"reply", "{message}}"}}, "reply: unmatched '}' at offset 9 (write }} for a literal brace)"},
        {{{"framing", "words"}}, "framing: 'words' is not one of: lines, chunks"},
    };
    for (const auto& [settings, problem] : cases) {
        PluginDriver driver("confirm", settings);
        EXPECT_EQ(driver.problem(), problem);
        EXPECT_FALSE(driver.created());
    }
}

TEST(ConfirmUnit, ReadsEverySettingItAccepts) {
    PluginDriver driver("confirm", {{"reply", "{message}"}, {"framing", "lines"}, {"replay", "typo"}});
    ASSERT_EQ(driver.problem(), "");
    EXPECT_EQ(driver.unreadSettings(), std::vector<std::string>{"replay"});  // the host reports it as unknown
}

// The plugin logs "<peer>: <message>" with the bytes as received: the Logger
// contract has the host escape control bytes (Confirm.EscapesControlBytesInTheRealLog).
TEST(ConfirmUnit, LogsEachMessageWithItsPeer) {
    PluginDriver driver("confirm");
    auto session = driver.open("127.0.0.1:51234");
    driver.say(*session, "hello there");
    driver.say(*session, "evil\x1b[31mred\rfake line");
    const auto lines = driver.logLines();
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[0], std::make_pair(LogLevel::Info, std::string("127.0.0.1:51234: hello there")));
    EXPECT_EQ(lines[1],
              std::make_pair(LogLevel::Info, std::string("127.0.0.1:51234: evil\x1b[31mred\rfake line")));
}

TEST(ConfirmUnit, OverLongLinesGetOneErrorReplyAndDoNotCount) {
    PluginDriver driver("confirm", {{"reply", "#{count}"}}, "svc", 100);
    auto session = driver.open();
    driver.say(*session, "one");
    driver.tooLong(*session);
    driver.say(*session, "two");
    EXPECT_EQ(session->take(), "#1\nerror: line too long (max 100 bytes)\n#2\n");
    EXPECT_FALSE(session->closed());
}

// ---- against the real host ---------------------------------------------------

std::string service(const std::string& settings, const std::string& extra = "") {
    return "services:\n  confirm:\n    plugin: confirm\n    listen: 127.0.0.1:0\n" + extra +
           "    settings: " + settings + "\n";
}

// The client's own address as the host names its peer: "127.0.0.1:51234".
std::string localAddress(const Client& client) {
    sockaddr_in address{};
    socklen_t length = sizeof address;
    ::getsockname(client.fd(), reinterpret_cast<sockaddr*>(&address), &length);
    char ip[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &address.sin_addr, ip, sizeof ip);
    return std::string(ip) + ":" + std::to_string(ntohs(address.sin_port));
}

TEST(Confirm, RepliesToLinesOverRealSocketsAndLogsThem) {
    HostProcess host(service("{reply: \"ok #{count} ({bytes}): {message}\"}"));
    ASSERT_TRUE(host.started()) << host.log();
    Client client(host.port("confirm"));
    const std::string peer = localAddress(client);
    ASSERT_TRUE(client.send("hello there\r\nsecond"));
    EXPECT_EQ(client.line(), "ok #1 (11): hello there");  // "\r\n" ends a line too
    ASSERT_TRUE(client.send(" half\n"));
    EXPECT_EQ(client.line(), "ok #2 (11): second half");
    EXPECT_TRUE(host.waitForLog("confirm " + peer + ": hello there\n")) << host.log();
    EXPECT_TRUE(host.waitForLog("confirm " + peer + ": second half\n")) << host.log();
    Client other(host.port("confirm"));
    ASSERT_TRUE(other.send("x\n"));
    EXPECT_EQ(other.line(), "ok #1 (1): x");
}

TEST(Confirm, ChunksOverRealSockets) {
    HostProcess host(service("{framing: chunks, reply: \"[{message}]\"}"));
    ASSERT_TRUE(host.started()) << host.log();
    Client client(host.port("confirm"));
    ASSERT_TRUE(client.send("raw bytes\n"));
    EXPECT_EQ(client.readExactly(std::string("[raw bytes\n]").size()), "[raw bytes\n]");
    EXPECT_TRUE(client.silentFor(100ms));  // no newline added
}

TEST(Confirm, OverLongLineIsAnsweredOnceAndTheSessionGoesOn) {
    HostProcess host(service("{}", "    max_line: 16\n"));
    ASSERT_TRUE(host.started()) << host.log();
    Client client(host.port("confirm"));
    ASSERT_TRUE(client.send(std::string(100000, 'x') + "\nshort\n"));
    EXPECT_EQ(client.line(), "error: line too long (max 16 bytes)");
    EXPECT_EQ(client.line(), "Message received: short");
}

TEST(Confirm, EscapesControlBytesInTheRealLog) {
    HostProcess host(service("{}"));
    ASSERT_TRUE(host.started()) << host.log();
    Client client(host.port("confirm"));
    const std::string peer = localAddress(client);
    ASSERT_TRUE(client.send("a\x1b]0;pwned\x07z\tb\rI forged\n"));
    EXPECT_EQ(client.line(),
              "Message received: a\x1b]0;pwned\x07z\tb\rI forged");  // the client gets its bytes back
    EXPECT_TRUE(host.waitForLog("confirm " + peer + ": a\\x1b]0;pwned\\x07z\\tb\\rI forged\n")) << host.log();
    EXPECT_EQ(host.log().find('\x1b'), std::string::npos);  // the operator's terminal never sees the escape
}

TEST(Confirm, BadTemplateStopsTheHostWithFileLineAndKey) {
    HostProcess host(service("{reply: \"hi {name}\"}"));
    EXPECT_FALSE(host.started());
    const std::string log = host.log();
    EXPECT_NE(log.find("plughost.yaml:6:"), std::string::npos) << log;
    EXPECT_NE(log.find("services.confirm.settings.reply: unknown placeholder {name}"), std::string::npos)
        << log;
}

}  // namespace
