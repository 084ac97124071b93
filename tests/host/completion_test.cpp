// Bash completion for plughostctl, run for real: bash sources bash-completion and
// completion/plughostctl, sets COMP_WORDS and COMP_CWORD as readline would, calls
// the completion function and prints COMPREPLY. Service names come from a real
// host started by the test, through the --socket typed on the command line.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <sstream>

#include "support/host_process.h"

namespace {

using namespace plughost::test;
using Strings = std::set<std::string>;

const char* const kBashCompletion = "/usr/share/bash-completion/bash_completion";

std::string shellQuoted(const std::string& word) {
    std::string out = "'";
    for (const char c : word) {
        out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    }
    return out + "'";
}

// What bash offers for the last of `words` (words as readline splits them, with
// "=" a word of its own), completing in `cwd`; the command is the built plughostctl.
Strings complete(const std::vector<std::string>& words, const std::string& cwd = "/") {
    TempDir dir;
    std::string array = shellQuoted(PLUGHOSTCTL_PATH);
    std::string line = PLUGHOSTCTL_PATH;
    for (const auto& word : words) {
        array += " " + shellQuoted(word);
        line += (word == "=" || (!line.empty() && line.back() == '=') ? "" : " ") + word;
    }
    const std::string script =
        dir.write("complete.sh", std::string("source ") + kBashCompletion + "\nsource " +
                                     shellQuoted(PLUGHOST_SOURCE_DIR "/completion/plughostctl") + "\ncd " +
                                     shellQuoted(cwd) + "\nCOMP_WORDS=(" + array + ")\nCOMP_CWORD=" +
                                     std::to_string(words.size()) + "\nCOMP_LINE=" + shellQuoted(line) +
                                     "\nCOMP_POINT=${#COMP_LINE}\n"
                                     "_plughostctl \"${COMP_WORDS[0]}\" \"${COMP_WORDS[COMP_CWORD]}\" "
                                     "\"${COMP_WORDS[COMP_CWORD-1]}\"\n"
                                     "printf 'reply:%s\\n' \"${COMPREPLY[@]}\"\n");
    const std::string output = capture("timeout 60 bash " + shellQuoted(script));
    Strings replies;
    std::istringstream in(output);
    for (std::string reply; std::getline(in, reply);) {
        EXPECT_EQ(reply.rfind("reply:", 0), 0u) << "bash said: " << output;
        if (reply.size() > 6) {
            replies.insert(reply.substr(6));
        }
    }
    return replies;
}

const std::string kTwoServices =
    "services:\n"
    "  echo:\n    plugin: echo\n    listen: 127.0.0.1:0\n"
    "  echo-too:\n    plugin: echo\n    listen: 127.0.0.1:0\n"
    "  quiet:\n    plugin: echo\n    listen: 127.0.0.1:0\n    enabled: false\n";

class Completion : public ::testing::Test {
protected:
    void SetUp() override {
        if (!std::filesystem::exists(kBashCompletion)) {
            GTEST_FAIL() << "install bash-completion (make deps does)";
        }
    }
};

TEST_F(Completion, CompletesCommands) {
    EXPECT_EQ(complete({""}), (Strings{"status", "services", "plugins", "reload", "check"}));
    EXPECT_EQ(complete({"st"}), (Strings{"status"}));
    EXPECT_EQ(complete({"--socket", "/tmp/x.sock", "re"}), (Strings{"reload"}));
}

TEST_F(Completion, CompletesEachCommandsOptions) {
    EXPECT_EQ(complete({"--"}), (Strings{"--help", "--json", "--socket", "--config", "--plugin-dir"}));
    EXPECT_EQ(complete({"status", "--"}), (Strings{"--json", "--socket", "--config", "--help"}));
    EXPECT_EQ(complete({"reload", "--"}), (Strings{"--socket", "--config", "--help"}));
    EXPECT_EQ(complete({"check", "--"}), (Strings{"--plugin-dir", "--config", "--help"}));
    EXPECT_EQ(complete({"status", "--s"}), (Strings{"--socket"}));
}

TEST_F(Completion, CheckCompletesConfigFilesAndFolders) {
    TempDir dir;
    dir.write("plughost.yaml", "");
    dir.write("other.yml", "");
    dir.write("notes.txt", "");
    std::filesystem::create_directory(dir.path() + "/conf.d");
    EXPECT_EQ(complete({"check", ""}, dir.path()), (Strings{"plughost.yaml", "other.yml", "conf.d"}));
    EXPECT_EQ(complete({"check", "pl"}, dir.path()), (Strings{"plughost.yaml"}));
    EXPECT_EQ(complete({"--config", ""}, dir.path()), (Strings{"plughost.yaml", "other.yml", "conf.d"}));
    EXPECT_EQ(complete({"check", "--plugin-dir", ""}, dir.path()), (Strings{"conf.d"}));
    // check takes one file.
    EXPECT_EQ(complete({"check", "plughost.yaml", ""}, dir.path()), Strings{});
}

TEST_F(Completion, StatusCompletesServiceNamesFromTheRunningHost) {
    HostProcess host(kTwoServices);
    ASSERT_TRUE(host.started()) << host.log();
    const Strings all = {"echo", "echo-too", "quiet"};
    EXPECT_EQ(complete({"--socket", host.adminSocket(), "status", ""}), all);
    EXPECT_EQ(complete({"status", "--socket", host.adminSocket(), "echo-"}), (Strings{"echo-too"}));
    EXPECT_EQ(complete({"status", "-s", host.adminSocket(), "q"}), (Strings{"quiet"}));
    // --socket=PATH, which readline splits at the "=".
    EXPECT_EQ(complete({"--socket", "=", host.adminSocket(), "status", "e"}), (Strings{"echo", "echo-too"}));
    // Through --config, whose admin.socket is the host's.
    EXPECT_EQ(complete({"--config", host.configPath(), "status", ""}), all);
}

TEST_F(Completion, NoHostMeansNoServiceNamesAndNoNoise) {
    TempDir dir;
    EXPECT_EQ(complete({"--socket", dir.path() + "/nobody.sock", "status", ""}), Strings{});
}

TEST(Ctl, ServicesListsNamesOnePerLineInConfigOrder) {
    HostProcess host(kTwoServices);
    ASSERT_TRUE(host.started()) << host.log();
    const RunResult listed = runCtl({"services", "--socket", host.adminSocket()});
    EXPECT_EQ(listed.exitCode, 0);
    EXPECT_EQ(listed.output, "echo\necho-too\nquiet\n");
    TempDir dir;
    EXPECT_EQ(runCtl({"services", "--socket", dir.path() + "/nobody.sock"}).exitCode, 3);
}

TEST(Ctl, StatusShowsOnlyTheNamedServices) {
    HostProcess host(kTwoServices);
    ASSERT_TRUE(host.started()) << host.log();
    const RunResult one = runCtl({"status", "echo-too", "--socket", host.adminSocket()});
    EXPECT_EQ(one.exitCode, 0) << one.output;
    EXPECT_NE(one.output.find("\necho-too "), std::string::npos) << one.output;
    EXPECT_EQ(one.output.find("\necho "), std::string::npos) << one.output;
    EXPECT_EQ(one.output.find("\nquiet "), std::string::npos) << one.output;

    const RunResult json = runCtl({"status", "quiet", "--json", "--socket", host.adminSocket()});
    EXPECT_EQ(json.exitCode, 0) << json.output;
    EXPECT_NE(json.output.find("\"quiet\""), std::string::npos) << json.output;
    EXPECT_EQ(json.output.find("\"echo-too\""), std::string::npos) << json.output;

    const RunResult unknown = runCtl({"status", "nope", "--socket", host.adminSocket()});
    EXPECT_EQ(unknown.exitCode, 2);
    EXPECT_NE(unknown.output.find("no service 'nope'"), std::string::npos) << unknown.output;
}

}  // namespace
