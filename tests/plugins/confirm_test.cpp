// The confirm plugin: its template, framings and log escaping (unit), then over real sockets.
#include <gtest/gtest.h>

#include "driver.h"
#include "support/client.h"
#include "support/host_process.h"

namespace {

using namespace plughost::test;

std::string service(const std::string& settings, const std::string& extra = "") {
    return "services:\n  confirm:\n    plugin: confirm\n    listen: 127.0.0.1:0\n" + extra + "    settings: " + settings + "\n";
}

TEST(ConfirmUnit, DefaultReplyConfirmsEachLine) {
    PluginDriver driver(service("{}"));
    ASSERT_EQ(driver.problem(), "");
    EXPECT_EQ(driver.framing(), plughost::Framing::Lines);
    auto session = driver.open();
    driver.say(*session, "hello there");
    EXPECT_EQ(session->take(), "Message received: hello there\n");
}

TEST(ConfirmUnit, EveryPlaceholder) {
    PluginDriver driver(service("{reply: \"[{service}] #{count} from {peer}: {message} ({bytes} bytes) {{ok}}\"}"));
    ASSERT_EQ(driver.problem(), "");
    auto session = driver.open("10.0.0.1:5555");
    driver.say(*session, "abc");
    driver.say(*session, "hello");
    EXPECT_EQ(session->take(),
              "[confirm] #1 from 10.0.0.1:5555: abc (3 bytes) {ok}\n"
              "[confirm] #2 from 10.0.0.1:5555: hello (5 bytes) {ok}\n");
    auto other = driver.open("10.0.0.2:6666");  // counts are per connection
    driver.say(*other, "x");
    EXPECT_EQ(other->take(), "[confirm] #1 from 10.0.0.2:6666: x (1 bytes) {ok}\n");
}

TEST(ConfirmUnit, ChunkFramingAnswersEachChunkWithoutANewline) {
    PluginDriver driver(service("{framing: chunks, reply: \"got {bytes}\"}"));
    ASSERT_EQ(driver.problem(), "");
    EXPECT_EQ(driver.framing(), plughost::Framing::Raw);
    auto session = driver.open();
    driver.say(*session, "two\nlines\n");
    EXPECT_EQ(session->take(), "got 10");
}

TEST(ConfirmUnit, BadTemplatesAreRejectedAtLoadTime) {
    EXPECT_EQ(PluginDriver(service("{reply: \"hi {name}\"}")).problem(),
              "test.yaml:6:23: services.confirm.settings.reply: unknown placeholder {name} (known: {message}, {bytes}, "
              "{count}, {peer}, {service})");
    EXPECT_EQ(PluginDriver(service("{reply: \"hi {message\"}")).problem(),
              "test.yaml:6:23: services.confirm.settings.reply: unclosed '{' at offset 3 (write {{ for a literal brace)");
    EXPECT_EQ(PluginDriver(service("{reply: \"hi }\"}")).problem(),
              "test.yaml:6:23: services.confirm.settings.reply: unmatched '}' at offset 3 (write }} for a literal brace)");
    EXPECT_EQ(PluginDriver(service("{framing: words}")).problem(),
              "test.yaml:6:25: services.confirm.settings.framing: 'words' is not one of: lines, chunks");
    EXPECT_EQ(PluginDriver(service("{replay: x}")).problem(),
              "test.yaml:6:16: services.confirm.settings.replay: unknown setting for plugin confirm");
}

TEST(ConfirmUnit, LogsEachMessageWithControlBytesEscaped) {
    PluginDriver driver(service("{}"));
    auto session = driver.open("127.0.0.1:51234");
    driver.say(*session, "hello there");
    driver.say(*session, "evil\x1b[31mred\rfake line\x7f\\");
    const auto lines = driver.logLines();
    ASSERT_GE(lines.size(), 2u);
    EXPECT_EQ(lines[lines.size() - 2], "confirm 127.0.0.1:51234: hello there");
    EXPECT_EQ(lines.back(), "confirm 127.0.0.1:51234: evil\\x1b[31mred\\rfake line\\x7f\\\\");
}

TEST(ConfirmUnit, OverLongLinesGetOneErrorReply) {
    PluginDriver driver(service("{}"));
    auto session = driver.open();
    driver.plugin().onLineTooLong(*session, 100);
    EXPECT_EQ(session->take(), "error: line too long (max 100 bytes)\n");
}

TEST(Confirm, RepliesOverRealSocketsAndLogs) {
    HostProcess host(service("{reply: \"ok #{count}: {message}\"}"));
    ASSERT_TRUE(host.started()) << host.log();
    Client client(host.port("confirm"));
    ASSERT_TRUE(client.send("first\r\nsecond\n"));
    EXPECT_EQ(client.line(), "ok #1: first");
    EXPECT_EQ(client.line(), "ok #2: second");
    EXPECT_TRUE(host.waitForLog("confirm 127.0.0.1:")) << host.log();
    EXPECT_TRUE(host.waitForLog(": second")) << host.log();
}

TEST(Confirm, ChunksOverRealSockets) {
    HostProcess host(service("{framing: chunks}"));
    ASSERT_TRUE(host.started()) << host.log();
    Client client(host.port("confirm"));
    ASSERT_TRUE(client.send("raw bytes"));
    EXPECT_EQ(client.readExactly(std::string("Message received: raw bytes").size()), "Message received: raw bytes");
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
    ASSERT_TRUE(client.send("a\x1b]0;pwned\x07z\n"));
    EXPECT_EQ(client.line(), "Message received: a\x1b]0;pwned\x07z");  // the client gets its bytes back
    EXPECT_TRUE(host.waitForLog("a\\x1b]0;pwned\\x07z")) << host.log();
    EXPECT_EQ(host.log().find('\x1b'), std::string::npos);  // the operator's terminal never sees the escape
}

}  // namespace
