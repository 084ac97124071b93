#include "system/logging.h"

#include <Poco/AutoPtr.h>
#include <Poco/ConsoleChannel.h>
#include <Poco/DateTime.h>
#include <Poco/DateTimeFormatter.h>
#include <Poco/FormattingChannel.h>
#include <Poco/LocalDateTime.h>
#include <sys/stat.h>

#include <cctype>
#include <cstdlib>
#include <iostream>

namespace plughost::logging {

namespace {

// The length of the well-formed UTF-8 sequence at the start of `text`, or 0 if it
// is not one (overlong forms, surrogates and code points past U+10FFFF included).
std::size_t utf8Length(std::string_view text) {
    const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
    const unsigned char lead = byte(0);
    std::size_t length = 0;
    unsigned char low = 0x80, high = 0xbf;  // the range of the second byte
    if (lead < 0x80) {
        return 1;
    } else if (lead >= 0xc2 && lead <= 0xdf) {
        length = 2;
    } else if (lead >= 0xe0 && lead <= 0xef) {
        length = 3;
        low = lead == 0xe0 ? 0xa0 : 0x80;
        high = lead == 0xed ? 0x9f : 0xbf;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
        length = 4;
        low = lead == 0xf0 ? 0x90 : 0x80;
        high = lead == 0xf4 ? 0x8f : 0xbf;
    } else {
        return 0;
    }
    if (text.size() < length || byte(1) < low || byte(1) > high) {
        return 0;
    }
    for (std::size_t i = 2; i < length; ++i) {
        if (byte(i) < 0x80 || byte(i) > 0xbf) {
            return 0;
        }
    }
    return length;
}

void appendJsonField(std::string& out, const char* name, std::string_view value) {
    out += ",\"";
    out += name;
    out += "\":";
    out += jsonString(value);
}

}  // namespace

Format formatNamed(const std::string& name) { return name == "json" ? Format::Json : Format::Text; }

bool isJournalStream(const char* journalStream, int fd) {
    if (journalStream == nullptr) {
        return false;
    }
    char* end = nullptr;
    const unsigned long long device = std::strtoull(journalStream, &end, 10);
    if (end == journalStream || *end != ':') {
        return false;
    }
    const char* inodeText = end + 1;
    const unsigned long long inode = std::strtoull(inodeText, &end, 10);
    if (end == inodeText || *end != '\0') {
        return false;
    }
    struct stat status {};
    return ::fstat(fd, &status) == 0 && static_cast<unsigned long long>(status.st_dev) == device &&
           static_cast<unsigned long long>(status.st_ino) == inode;
}

std::string_view syslogPrefix(Poco::Message::Priority priority) {
    switch (priority) {
        case Poco::Message::PRIO_FATAL:
        case Poco::Message::PRIO_CRITICAL:
            return "<2>";
        case Poco::Message::PRIO_ERROR:
            return "<3>";
        case Poco::Message::PRIO_WARNING:
            return "<4>";
        case Poco::Message::PRIO_NOTICE:
            return "<5>";
        case Poco::Message::PRIO_INFORMATION:
            return "<6>";
        case Poco::Message::PRIO_DEBUG:
        case Poco::Message::PRIO_TRACE:
            break;
    }
    return "<7>";
}

std::string_view priorityName(Poco::Message::Priority priority) {
    switch (priority) {
        case Poco::Message::PRIO_FATAL:
            return "fatal";
        case Poco::Message::PRIO_CRITICAL:
            return "critical";
        case Poco::Message::PRIO_ERROR:
            return "error";
        case Poco::Message::PRIO_WARNING:
            return "warning";
        case Poco::Message::PRIO_NOTICE:
            return "notice";
        case Poco::Message::PRIO_INFORMATION:
            return "information";
        case Poco::Message::PRIO_DEBUG:
            return "debug";
        case Poco::Message::PRIO_TRACE:
            break;
    }
    return "trace";
}

std::string jsonString(std::string_view text) {
    static const char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(text.size() + 2);
    out += '"';
    while (!text.empty()) {
        const auto c = static_cast<unsigned char>(text.front());
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c < 0x20 || c == 0x7f) {
            out += "\\u00";
            out += hex[c >> 4];
            out += hex[c & 0xf];
        } else if (c >= 0x80) {
            const std::size_t length = utf8Length(text);
            if (length == 0) {
                out += "\\ufffd";  // one replacement per byte that is not UTF-8
                text.remove_prefix(1);
                continue;
            }
            out.append(text.data(), length);
            text.remove_prefix(length);
            continue;
        } else {
            out += static_cast<char>(c);
        }
        text.remove_prefix(1);
    }
    out += '"';
    return out;
}

void LineFormatter::format(const Poco::Message& message, std::string& text) {
    const std::string_view prefix = journal_ ? syslogPrefix(message.getPriority()) : std::string_view();
    if (format_ == Format::Json) {
        text.append(prefix.data(), prefix.size());
        text += "{\"time\":\"";
        text += Poco::DateTimeFormatter::format(message.getTime(), "%Y-%m-%dT%H:%M:%S.%iZ");
        text += "\",\"level\":\"";
        text += priorityName(message.getPriority());
        text += '"';
        if (message.has("service")) {
            appendJsonField(text, "service", message.get("service"));
        }
        if (message.has("plugin")) {
            appendJsonField(text, "plugin", message.get("plugin"));
        }
        appendJsonField(text, "message", message.getText());
        text += '}';
        return;
    }
    const std::string& body = message.getText();
    if (journal_) {
        // journald takes each line for a record of its own: every one carries the priority.
        std::size_t start = 0;
        for (;;) {
            const std::size_t end = body.find('\n', start);
            text.append(prefix.data(), prefix.size());
            text.append(body, start, end == std::string::npos ? std::string::npos : end - start);
            if (end == std::string::npos) {
                return;
            }
            text += '\n';
            start = end + 1;
        }
    }
    text += Poco::DateTimeFormatter::format(Poco::LocalDateTime(Poco::DateTime(message.getTime())),
                                            "%Y-%m-%d %H:%M:%S.%i");
    text += ' ';
    text += static_cast<char>(
        std::toupper(static_cast<unsigned char>(priorityName(message.getPriority()).front())));
    text += ' ';
    text += body;
}

void setUp(const std::string& level, Format format) {
    const bool journal = isJournalStream(std::getenv("JOURNAL_STREAM"), 2);
    Poco::AutoPtr<LineFormatter> formatter(new LineFormatter(format, journal));
    Poco::AutoPtr<Poco::FormattingChannel> channel(
        new Poco::FormattingChannel(formatter, new Poco::ConsoleChannel(std::cerr)));
    // The prefix "" reaches every logger that exists now; those made later inherit from root.
    Poco::Logger::root().setChannel(channel);
    Poco::Logger::root().setLevel(level);
    Poco::Logger::setChannel("", channel);
    Poco::Logger::setLevel("", Poco::Logger::parseLevel(level));
}

void about(Poco::Logger& logger, Poco::Message::Priority priority, const std::string& service,
           const std::string& plugin, const std::string& text) {
    if (!logger.is(priority)) {
        return;
    }
    try {
        Poco::Message message(logger.name(), text, priority);
        if (!service.empty()) {
            message.set("service", service);
        }
        if (!plugin.empty()) {
            message.set("plugin", plugin);
        }
        logger.log(message);
    } catch (...) {
    }
}

}  // namespace plughost::logging
