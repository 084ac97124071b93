// The man pages cannot drift: every option and command of the real --help
// outputs is in plughostd(8) and plughostctl(8) and nothing else is, every key
// of the config schema (the list the reader checks files against) is in
// plughost.yaml(5) and every key documented there is accepted by the reader,
// and the built pages render without a warning from man(1).
#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <sstream>

#include "config/config.h"
#include "config/schema.h"
#include "support/host_process.h"

namespace {

using namespace plughost::test;
using Strings = std::set<std::string>;

std::string source(const std::string& page) { return readFile(PLUGHOST_SOURCE_DIR "/man/" + page + ".scd"); }

// The lines of one "# HEADING" section of an scdoc page.
std::vector<std::string> sectionLines(const std::string& scd, const std::string& heading) {
    std::vector<std::string> lines;
    std::istringstream in(scd);
    bool inside = false;
    for (std::string line; std::getline(in, line);) {
        if (line.rfind("# ", 0) == 0) {
            inside = line == "# " + heading;
        } else if (inside) {
            lines.push_back(line);
        }
    }
    return lines;
}

Strings headings(const std::string& scd) {
    Strings found;
    std::istringstream in(scd);
    for (std::string line; std::getline(in, line);) {
        if (line.rfind("# ", 0) == 0) {
            found.insert(line.substr(2));
        }
    }
    return found;
}

// The terms of a section's definition list: its unindented lines that start in bold.
std::vector<std::string> terms(const std::string& scd, const std::string& heading) {
    std::vector<std::string> found;
    for (const auto& line : sectionLines(scd, heading)) {
        if (line.rfind("*", 0) == 0) {
            found.push_back(line);
        }
    }
    return found;
}

// A term's first bold word: "*max_line* (size...)" -> "max_line".
std::string firstBold(const std::string& term) {
    const auto end = term.find('*', 1);
    return term.substr(1, end == std::string::npos ? std::string::npos : end - 1);
}

// Options as "short,long" ("c,config", ",daemon") from a line of --help or a man page term.
std::string optionOf(const std::string& text) {
    static const std::regex longOption("--([a-z][a-z-]*)");
    static const std::regex shortOption("(^|[^-a-z])-([a-zA-Z])([^a-z-]|$)");
    std::smatch longMatch;
    std::smatch shortMatch;
    if (!std::regex_search(text, longMatch, longOption)) {
        return "";
    }
    const std::string shortName = std::regex_search(text, shortMatch, shortOption) ? shortMatch[2].str() : "";
    return shortName + "," + longMatch[1].str();
}

// The options Poco's HelpFormatter lists: lines such as "-cFILE, --config=FILE   the YAML config file".
Strings helpOptions(const std::string& help) {
    static const std::regex optionLine(R"(^\s*(-[a-zA-Z]\S*, )?--[a-z][a-z-]*)");
    Strings found;
    std::istringstream in(help);
    for (std::string line; std::getline(in, line);) {
        std::smatch match;
        if (std::regex_search(line, match, optionLine)) {
            found.insert(optionOf(match.str()));
        }
    }
    return found;
}

Strings manOptions(const std::string& scd) {
    Strings found;
    for (const auto& term : terms(scd, "OPTIONS")) {
        // "*-c* _FILE_, *--config*=_FILE_" -> "-c FILE, --config=FILE"
        found.insert(optionOf(std::regex_replace(term, std::regex("[*_]"), "")));
    }
    return found;
}

std::string plain(const std::string& scd) { return std::regex_replace(scd, std::regex("[*_]"), ""); }

const std::vector<std::string> kCommonSections = {"NAME",  "SYNOPSIS",    "DESCRIPTION", "OPTIONS",
                                                  "FILES", "EXIT STATUS", "ENVIRONMENT", "SEE ALSO"};

TEST(ManPages, PlughostdOptionsMatchHelp) {
    const RunResult help = runHost({"--help"});
    ASSERT_EQ(help.exitCode, 0) << help.output;
    const Strings fromHelp = helpOptions(help.output);
    ASSERT_TRUE(fromHelp.count("c,config") && fromHelp.count(",daemon")) << help.output;
    EXPECT_EQ(manOptions(source("plughostd.8")), fromHelp) << help.output;
}

TEST(ManPages, PlughostdSynopsisNamesEveryOption) {
    const std::string synopsis = plain(source("plughostd.8"));
    for (const auto& option : helpOptions(runHost({"--help"}).output)) {
        EXPECT_NE(synopsis.find("--" + option.substr(option.find(',') + 1)), std::string::npos) << option;
    }
}

TEST(ManPages, PlughostctlOptionsMatchHelp) {
    const RunResult help = runCtl({"--help"});
    ASSERT_EQ(help.exitCode, 0) << help.output;
    const Strings fromHelp = helpOptions(help.output);
    ASSERT_TRUE(fromHelp.count("s,socket")) << help.output;
    EXPECT_EQ(manOptions(source("plughostctl.8")), fromHelp) << help.output;
}

// Each command of `plughostctl --help`, with the usage `plughostctl COMMAND --help` gives,
// is a term of COMMANDS written the same way, and the man page has no other command.
TEST(ManPages, PlughostctlCommandsMatchHelp) {
    const RunResult help = runCtl({"--help"});
    ASSERT_EQ(help.exitCode, 0) << help.output;
    Strings fromHelp;
    std::istringstream in(help.output.substr(help.output.find("Commands:")));
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line) && line.rfind("  ", 0) == 0 && line.size() > 2 && line[2] != ' ') {
        fromHelp.insert(line.substr(2, line.find(' ', 2) - 2));
    }
    ASSERT_TRUE(fromHelp.count("status") && fromHelp.count("check")) << help.output;

    std::map<std::string, std::string> documented;
    for (const auto& term : terms(source("plughostctl.8"), "COMMANDS")) {
        documented[firstBold(term)] = plain(term);
    }
    Strings fromMan;
    for (const auto& [name, usage] : documented) {
        fromMan.insert(name);
    }
    EXPECT_EQ(fromMan, fromHelp);
    for (const auto& command : fromHelp) {
        const RunResult commandHelp = runCtl({command, "--help"});
        EXPECT_EQ(commandHelp.exitCode, 0) << commandHelp.output;
        const std::string usage = commandHelp.output.substr(0, commandHelp.output.find('\n'));
        EXPECT_EQ(usage, "usage: plughostctl " + documented[command]) << command;
    }
}

TEST(ManPages, HaveTheSectionsOperatorsLookFor) {
    for (const std::string page : {"plughostd.8", "plughostctl.8"}) {
        const Strings found = headings(source(page));
        for (const auto& section : kCommonSections) {
            EXPECT_TRUE(found.count(section)) << page << " has no " << section;
        }
    }
    EXPECT_TRUE(headings(source("plughostd.8")).count("SIGNALS"));
    const Strings config = headings(source("plughost.yaml.5"));
    for (const std::string section : {"NAME", "SYNOPSIS", "DESCRIPTION", "TOP-LEVEL KEYS", "ADMIN KEYS",
                                      "SERVICE KEYS", "LIMITS", "LISTEN ADDRESSES", "FILES", "SEE ALSO"}) {
        EXPECT_TRUE(config.count(section)) << "plughost.yaml.5 has no " << section;
    }
}

// The man page section that documents each part of the schema.
const std::vector<std::pair<std::string, plughost::config::Section>> kKeySections = {
    {"TOP-LEVEL KEYS", plughost::config::Section::Top},      {"ADMIN KEYS", plughost::config::Section::Admin},
    {"SERVICE KEYS", plughost::config::Section::Service},    {"LIMITS", plughost::config::Section::Limits},
    {"LISTEN ENTRIES", plughost::config::Section::Listen},   {"TLS KEYS", plughost::config::Section::Tls},
    {"WEBSOCKET KEYS", plughost::config::Section::WebSocket}};

Strings documentedKeys(const std::string& heading) {
    Strings keys;
    for (const auto& term : terms(source("plughost.yaml.5"), heading)) {
        keys.insert(firstBold(term));
    }
    return keys;
}

TEST(ManPages, ConfigPageDocumentsExactlyTheSchema) {
    for (const auto& [heading, section] : kKeySections) {
        const auto& keys = plughost::config::keysOf(section);
        EXPECT_EQ(documentedKeys(heading), Strings(keys.begin(), keys.end())) << heading;
    }
}

// The YAML that puts `key` into the part of the file `section` describes, and the key path
// the reader reports for it.
std::pair<std::string, std::string> fileWith(plughost::config::Section section, const std::string& key) {
    using plughost::config::Section;
    const std::string service = "    plugin: echo\n    listen: 0\n";
    switch (section) {
        case Section::Top:
            return {(key == "services" ? "" : key + ": 1\n") + "services:\n  s:\n" + service, key};
        case Section::Admin:
            return {"admin:\n  " + key + ": 1\nservices:\n  s:\n" + service, "admin." + key};
        case Section::Limits:
            return {"defaults:\n  " + key + ": 1\nservices:\n  s:\n" + service, "defaults." + key};
        case Section::Service:
            return {"services:\n  s:\n    " + key + ": 1\n" + (key == "plugin" ? "" : "    plugin: echo\n") +
                        (key == "listen" ? "" : "    listen: 0\n"),
                    "services.s." + key};
        case Section::Listen:
            return {"services:\n  s:\n    plugin: echo\n    listen:\n      - {" +
                        (key == "address" ? std::string("address: 0") : "address: 0, " + key + ": 1") + "}\n",
                    "services.s.listen[0]." + key};
        case Section::Tls:
            return {"services:\n  s:\n    plugin: echo\n    listen:\n      - address: 0\n        tls: {" +
                        key + ": 1}\n",
                    "services.s.listen[0].tls." + key};
        case Section::WebSocket:
            return {
                "services:\n  s:\n    plugin: echo\n    listen:\n      - address: 0\n        websocket: {" +
                    key + ": 1}\n",
                "services.s.listen[0].websocket." + key};
    }
    return {};
}

// True when the reader reports `keyPath` as an unknown key in `yaml`.
bool rejectedAsUnknown(const std::string& yaml, const std::string& keyPath) {
    try {
        plughost::config::parse(yaml, "plughost.yaml", "/");
    } catch (const plughost::config::ConfigError& error) {
        for (const auto& problem : error.problems()) {
            if (problem.keyPath == keyPath && problem.message.rfind("unknown key", 0) == 0) {
                return true;
            }
        }
    }
    return false;
}

TEST(ManPages, EveryDocumentedKeyIsAcceptedByTheReader) {
    for (const auto& [heading, section] : kKeySections) {
        ASSERT_FALSE(documentedKeys(heading).empty()) << heading;
        for (const auto& key : documentedKeys(heading)) {
            const auto [yaml, keyPath] = fileWith(section, key);
            EXPECT_FALSE(rejectedAsUnknown(yaml, keyPath)) << keyPath << " is documented but refused:\n"
                                                           << yaml;
        }
        // The same check on a key nobody documents: it must be refused, or this test proves nothing.
        const auto [yaml, keyPath] = fileWith(section, "no_such_key");
        EXPECT_TRUE(rejectedAsUnknown(yaml, keyPath)) << yaml;
    }
    // Limits are service keys too.
    for (const auto& key : documentedKeys("LIMITS")) {
        const auto [yaml, keyPath] = fileWith(plughost::config::Section::Service, key);
        EXPECT_FALSE(rejectedAsUnknown(yaml, keyPath)) << keyPath;
    }
}

// What man(1) says about a built page: its text, and (with --warnings) groff's complaints.
TEST(ManPages, BuiltPagesRenderWithoutWarnings) {
    for (const std::string page : {"plughostd.8", "plughostctl.8", "plughost.yaml.5"}) {
        const std::string built = PLUGHOST_BINARY_DIR "/man/" + page;
        ASSERT_FALSE(readFile(built).empty()) << built << " was not built";
        const std::string warnings =
            capture("MANWIDTH=80 man --warnings -E UTF-8 -l '" + built + "' 2>&1 >/dev/null");
        EXPECT_EQ(warnings, "") << page;
        const std::string text = capture("MANWIDTH=80 man -E UTF-8 -l '" + built + "' 2>/dev/null");
        EXPECT_NE(text.find("plughost " PLUGHOST_VERSION), std::string::npos) << text.substr(0, 400);
        EXPECT_NE(text.find("NAME"), std::string::npos);
        EXPECT_EQ(text.find("@PROJECT_VERSION@"), std::string::npos);
    }
}

}  // namespace
