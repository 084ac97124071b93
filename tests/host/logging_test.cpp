// The host's log lines: the formatter on its own (JSON escaping, journald
// prefixes, JOURNAL_STREAM matching), then the real host writing them — under
// a stderr that JOURNAL_STREAM names, under one it does not name, and as JSON.
#include "system/logging.h"

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Message.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <regex>
#include <sstream>

#include "support/client.h"
#include "support/host_process.h"

namespace {

using namespace plughost::test;
using plughost::logging::Format;
using plughost::logging::LineFormatter;

std::string formatted(Format format, bool journal, const Poco::Message& message) {
    LineFormatter formatter(format, journal);
    std::string text;
    formatter.format(message, text);
    return text;
}

std::string streamOf(const std::string& path) {
    struct stat status {};
    EXPECT_EQ(::stat(path.c_str(), &status), 0) << path;
    return std::to_string(status.st_dev) + ":" + std::to_string(status.st_ino);
}

std::vector<std::string> linesOf(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        if (!line.empty()) {
            lines.push_back(line);
        }
    }
    return lines;
}

TEST(LoggingFormat, JsonStringsEscapeControlBytesAndReplaceWhatIsNotUtf8) {
    using plughost::logging::jsonString;
    EXPECT_EQ(jsonString("plain"), "\"plain\"");
    EXPECT_EQ(jsonString("a\"b\\c"), "\"a\\\"b\\\\c\"");
    EXPECT_EQ(jsonString("1\n2\r3\t4"), "\"1\\n2\\r3\\t4\"");
    EXPECT_EQ(jsonString(std::string("\x01\x1b\x7f", 3)), "\"\\u0001\\u001b\\u007f\"");
    EXPECT_EQ(jsonString(std::string("nul\0end", 7)), "\"nul\\u0000end\"");
    // Well-formed UTF-8 passes as it is: é, €, U+1F600.
    EXPECT_EQ(jsonString("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"), "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
    // One U+FFFD per byte that is not part of a well-formed sequence.
    EXPECT_EQ(jsonString("a\xff\xfe"
                         "b"),
              "\"a\\ufffd\\ufffdb\"");
    EXPECT_EQ(jsonString("\xc0\x80"), "\"\\ufffd\\ufffd\"");                        // overlong NUL
    EXPECT_EQ(jsonString("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");             // a UTF-16 surrogate
    EXPECT_EQ(jsonString("\xf4\x90\x80\x80"), "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");  // past U+10FFFF
    EXPECT_EQ(jsonString("cut \xe2\x82"), "\"cut \\ufffd\\ufffd\"");                // truncated at the end
}

TEST(LoggingFormat, JsonLineCarriesTimeLevelServicePluginAndMessage) {
    Poco::Message message("plughost", "service echo: \"hi\"\n", Poco::Message::PRIO_WARNING);
    message.setTime(Poco::Timestamp::fromEpochTime(1764633600) + 42000);  // 2025-12-02 00:00:00.042 UTC
    message.set("service", "echo");
    message.set("plugin", "echo-plugin");
    EXPECT_EQ(formatted(Format::Json, false, message),
              "{\"time\":\"2025-12-02T00:00:00.042Z\",\"level\":\"warning\",\"service\":\"echo\","
              "\"plugin\":\"echo-plugin\",\"message\":\"service echo: \\\"hi\\\"\\n\"}");
    Poco::Message plain("plughost", "stopped", Poco::Message::PRIO_INFORMATION);
    plain.setTime(Poco::Timestamp::fromEpochTime(1764633600));
    EXPECT_EQ(formatted(Format::Json, false, plain),
              "{\"time\":\"2025-12-02T00:00:00.000Z\",\"level\":\"information\",\"message\":\"stopped\"}");
    // Under journald the object is prefixed with its priority, which journald strips.
    EXPECT_EQ(formatted(Format::Json, true, plain).substr(0, 4), "<6>{");
}

TEST(LoggingFormat, JournalLinesStartWithTheSyslogPriorityAndCarryNoTime) {
    const std::vector<std::pair<Poco::Message::Priority, std::string>> priorities = {
        {Poco::Message::PRIO_FATAL, "<2>"},  {Poco::Message::PRIO_CRITICAL, "<2>"},
        {Poco::Message::PRIO_ERROR, "<3>"},  {Poco::Message::PRIO_WARNING, "<4>"},
        {Poco::Message::PRIO_NOTICE, "<5>"}, {Poco::Message::PRIO_INFORMATION, "<6>"},
        {Poco::Message::PRIO_DEBUG, "<7>"},  {Poco::Message::PRIO_TRACE, "<7>"},
    };
    for (const auto& [priority, prefix] : priorities) {
        EXPECT_EQ(formatted(Format::Text, true, Poco::Message("plughost", "text", priority)),
                  prefix + "text");
    }
    // journald makes a record of every line: each one carries the priority.
    EXPECT_EQ(
        formatted(Format::Text, true, Poco::Message("plughost", "one\ntwo\n", Poco::Message::PRIO_ERROR)),
        "<3>one\n<3>two\n<3>");
    const std::string text =
        formatted(Format::Text, false, Poco::Message("plughost", "hello", Poco::Message::PRIO_WARNING));
    EXPECT_TRUE(std::regex_match(text, std::regex("[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}\\.[0-9]{3} W hello")))
        << text;
}

TEST(LoggingFormat, JournalStreamMustNameTheDescriptorsFile) {
    TempDir dir;
    const std::string mine = dir.write("mine", "");
    const std::string other = dir.write("other", "");
    const int fd = ::open(mine.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    EXPECT_TRUE(plughost::logging::isJournalStream(streamOf(mine).c_str(), fd));
    EXPECT_FALSE(plughost::logging::isJournalStream(streamOf(other).c_str(), fd));
    EXPECT_FALSE(plughost::logging::isJournalStream(nullptr, fd));
    EXPECT_FALSE(plughost::logging::isJournalStream("", fd));
    EXPECT_FALSE(plughost::logging::isJournalStream((streamOf(mine) + "x").c_str(), fd));
    EXPECT_FALSE(
        plughost::logging::isJournalStream(streamOf(mine).substr(0, streamOf(mine).find(':')).c_str(), fd));
    ::close(fd);
}

// plughostd started by the test itself, so that the test owns its stderr: a file
// made (and fstat'ed) before the fork, with JOURNAL_STREAM set as the test says.
class HostWithStderr {
public:
    HostWithStderr(const std::string& yaml, const std::string& journalStream) {
        const std::string config =
            dir_.write("plughost.yaml", "plugin_dir: " + std::string(PLUGHOST_PLUGIN_DIR) + "\n" + yaml);
        ready_ = dir_.path() + "/ready";
        log_ = dir_.write("stderr", "");
        stream_ = streamOf(log_);
        const std::string value = journalStream == "stderr" ? stream_ : journalStream;
        pid_ = ::fork();
        if (pid_ == 0) {
            const int out = ::open(log_.c_str(), O_WRONLY | O_APPEND);
            ::dup2(out, 1);
            ::dup2(out, 2);
            ::setenv("JOURNAL_STREAM", value.c_str(), 1);
            sigset_t none;
            sigemptyset(&none);
            ::sigprocmask(SIG_SETMASK, &none, nullptr);
            ::execl(PLUGHOSTD_PATH, PLUGHOSTD_PATH, "--config", config.c_str(), "--ready-file",
                    ready_.c_str(), static_cast<char*>(nullptr));
            ::_exit(127);
        }
    }
    ~HostWithStderr() {
        if (pid_ > 0 && !exited_) {
            ::kill(pid_, SIGTERM);
            if (!eventually([&] { return reaped(); }, 10s)) {
                ::kill(pid_, SIGKILL);
                ::waitpid(pid_, nullptr, 0);
            }
        }
        // Under the sanitizer builds the host reports to its stderr; any report fails the test.
        for (const char* marker : {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                                   "runtime error:", "WARNING: ThreadSanitizer"}) {
            EXPECT_EQ(log().find(marker), std::string::npos) << log();
        }
    }
    bool ready() const {
        return eventually([&] { return std::filesystem::exists(ready_); }, 10s);
    }
    // SIGTERM, then waits (bounded) for the exit; true if it exited.
    bool stop() {
        ::kill(pid_, SIGTERM);
        return eventually([&] { return reaped(); }, 10s);
    }
    std::string log() const { return readFile(log_); }
    const std::string& stream() const { return stream_; }
    const TempDir& dir() const { return dir_; }

private:
    bool reaped() {
        if (!exited_ && ::waitpid(pid_, nullptr, WNOHANG) == pid_) {
            exited_ = true;
        }
        return exited_;
    }

    TempDir dir_;
    std::string ready_, log_, stream_;
    pid_t pid_ = -1;
    bool exited_ = false;
};

const std::string kServices =
    "services:\n"
    "  echo:\n    plugin: echo\n    listen: 127.0.0.1:0\n"
    "  broken:\n    plugin: no_such_plugin\n    listen: 127.0.0.1:0\n";

TEST(Logging, UnderJournaldEveryLineHasAPriorityPrefixAndNoTimestamp) {
    HostWithStderr host(kServices, "stderr");
    ASSERT_TRUE(host.ready()) << host.log();
    ASSERT_TRUE(host.stop()) << host.log();
    const std::string log = host.log();
    const auto lines = linesOf(log);
    ASSERT_GE(lines.size(), 3u) << log;
    for (const auto& line : lines) {
        EXPECT_TRUE(std::regex_search(line, std::regex("^<[2-7]>[^<]"))) << line;
        EXPECT_FALSE(std::regex_search(line, std::regex("[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}")))
            << line;
    }
    EXPECT_NE(log.find("<6>service echo: plugin echo "), std::string::npos) << log;
    EXPECT_NE(log.find("<3>service broken: failed: "), std::string::npos) << log;
    EXPECT_NE(log.find("<6>stopped"), std::string::npos) << log;
    if (::geteuid() == 0) {
        EXPECT_NE(log.find("<4>running as root"), std::string::npos) << log;
    }
}

TEST(Logging, AnInheritedJournalStreamThatNamesAnotherFileChangesNothing) {
    TempDir elsewhere;
    const std::string otherStream = streamOf(elsewhere.write("journal", ""));
    HostWithStderr host(kServices, otherStream);
    ASSERT_NE(host.stream(), otherStream);
    ASSERT_TRUE(host.ready()) << host.log();
    ASSERT_TRUE(host.stop()) << host.log();
    const auto lines = linesOf(host.log());
    ASSERT_GE(lines.size(), 3u) << host.log();
    for (const auto& line : lines) {
        EXPECT_TRUE(std::regex_search(
            line, std::regex("^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}\\.[0-9]{3} [FCEWNIDT] ")))
            << line;
    }
    EXPECT_NE(host.log().find(" I service echo: plugin echo "), std::string::npos) << host.log();
}

Poco::JSON::Object::Ptr parseLine(const std::string& line) {
    try {
        Poco::JSON::Parser parser;
        return parser.parse(line).extract<Poco::JSON::Object::Ptr>();
    } catch (const std::exception& error) {
        ADD_FAILURE() << "not a JSON object: " << line << " (" << error.what() << ")";
        return nullptr;
    }
}

TEST(Logging, JsonFormatIsOneObjectPerLineWithServiceAndPluginAndEscapedText) {
    HostProcess host("log_format: json\n" + kServices +
                     "  confirm:\n    plugin: confirm\n    listen: 127.0.0.1:0\n");
    ASSERT_TRUE(host.started()) << host.log();
    Client client(host.port("confirm"));
    // A tab, an escape sequence, DEL and two bytes that are not UTF-8.
    ASSERT_TRUE(client.send("tab\there \x1b[31mred\x7f \xff\xfe end\n"));
    EXPECT_NE(client.line(), "<timeout>");
    ASSERT_TRUE(host.waitForLog("red")) << host.log();
    ASSERT_EQ(host.stop(), 0);

    const auto lines = linesOf(host.log());
    ASSERT_GE(lines.size(), 4u) << host.log();
    bool sawEcho = false, sawBroken = false, sawPluginLine = false;
    for (const auto& line : lines) {
        for (const char c : line) {
            ASSERT_GE(static_cast<unsigned char>(c), 0x20u) << "raw control byte in " << line;
        }
        const auto object = parseLine(line);
        ASSERT_TRUE(object) << line;
        EXPECT_TRUE(
            std::regex_match(object->getValue<std::string>("time"),
                             std::regex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z")))
            << line;
        EXPECT_TRUE(
            std::regex_match(object->getValue<std::string>("level"),
                             std::regex("fatal|critical|error|warning|notice|information|debug|trace")))
            << line;
        const std::string message = object->getValue<std::string>("message");
        if (message.rfind("service echo: plugin echo ", 0) == 0) {
            sawEcho = true;
            EXPECT_EQ(object->getValue<std::string>("level"), "information");
            EXPECT_EQ(object->optValue<std::string>("service", ""), "echo") << line;
            EXPECT_EQ(object->optValue<std::string>("plugin", ""), "echo") << line;
        }
        if (message.rfind("service broken: failed: ", 0) == 0) {
            sawBroken = true;
            EXPECT_EQ(object->getValue<std::string>("level"), "error");
            EXPECT_EQ(object->optValue<std::string>("service", ""), "broken") << line;
            EXPECT_EQ(object->optValue<std::string>("plugin", ""), "no_such_plugin") << line;
        }
        if (message.find("red") != std::string::npos) {
            sawPluginLine = true;  // the confirm plugin's own line, through the SDK's logger
            EXPECT_EQ(object->optValue<std::string>("service", ""), "confirm") << line;
            EXPECT_EQ(object->optValue<std::string>("plugin", ""), "confirm") << line;
            // The host escaped the control bytes (escapeControl); JSON replaced what is not UTF-8.
            EXPECT_NE(message.find("tab\\there \\x1b[31mred\\x7f \xef\xbf\xbd\xef\xbf\xbd end"),
                      std::string::npos)
                << message;
            EXPECT_NE(line.find("\\ufffd\\ufffd end"), std::string::npos) << line;
        }
        if (message == "stopped") {
            EXPECT_FALSE(object->has("service")) << line;
        }
    }
    EXPECT_TRUE(sawEcho) << host.log();
    EXPECT_TRUE(sawBroken) << host.log();
    EXPECT_TRUE(sawPluginLine) << host.log();
}

}  // namespace
