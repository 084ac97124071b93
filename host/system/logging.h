#pragma once
// logging: how the host's log lines look on stderr — plain text for a terminal,
// syslog priority prefixes and no timestamp of its own under journald, or one
// JSON object per line for log shippers — and how a call site says which service
// (and plugin) a line is about. It only formats; it never decides what is logged.

#include <Poco/Formatter.h>
#include <Poco/Logger.h>
#include <Poco/Message.h>

#include <string>
#include <string_view>

namespace plughost::logging {

enum class Format { Text, Json };

// "text" or "json" (what config::HostConfig::logFormat holds).
Format formatNamed(const std::string& name);

// True when `journalStream` (the value of JOURNAL_STREAM, "DEV:INODE" in decimal)
// names the file that `fd` is open on. systemd sets the variable for the stream it
// connects to the service's stderr; a child that inherited the variable but writes
// somewhere else must not take its stderr for the journal.
bool isJournalStream(const char* journalStream, int fd);

// Formats a Poco::Message as one line (without the newline the channel adds).
// Text: "2026-11-25 05:01:12.418 I text" in local time. With `journal`, each line of
// the text starts with its syslog priority ("<6>"), and no timestamp: journald adds
// its own. Json: {"time","level","service","plugin","message"}, time RFC 3339 UTC
// with milliseconds, level Poco's priority name, service and plugin only when the
// message carries them; under journald the object is prefixed with the priority too.
// Thread safe: format() keeps no state.
class LineFormatter final : public Poco::Formatter {
public:
    LineFormatter(Format format, bool journal) : format_(format), journal_(journal) {}
    void format(const Poco::Message& message, std::string& text) override;

private:
    const Format format_;
    const bool journal_;
};

// "<3>" for error ... "<7>" for debug and trace (fatal and critical are "<2>").
std::string_view syslogPrefix(Poco::Message::Priority priority);
// "fatal", "critical", "error", "warning", "notice", "information", "debug", "trace".
std::string_view priorityName(Poco::Message::Priority priority);
// `text` as a JSON string literal, quotes included: control characters escaped,
// bytes that are not UTF-8 replaced by U+FFFD, so every line is valid JSON.
std::string jsonString(std::string_view text);

// Sends every logger's output to stderr in `format` at `level` ("debug",
// "information", "warning", "error"), with journald's prefixes when stderr is the
// stream JOURNAL_STREAM names. Called once at start, before other threads log.
void setUp(const std::string& level, Format format);

// Logs `text` on `logger` with the service and the plugin it is about (either may
// be empty), as the message parameters "service" and "plugin" that the JSON format
// shows. Any thread; never throws (a failing channel must not take a caller down).
void about(Poco::Logger& logger, Poco::Message::Priority priority, const std::string& service,
           const std::string& plugin, const std::string& text);

}  // namespace plughost::logging
