// The chat plugin's irc dialect against the real host, driven by real IRC
// clients from Debian (ii and sic), and one conversation across the irc, line
// and seed dialects of one network.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <string>
#include <vector>

#include "support/client.h"
#include "support/host_process.h"

namespace {

using namespace plughost::test;

// One network, three dialects. Pings every 60 s: the clients stay quiet meanwhile.
std::string network() {
    return "services:\n"
           "  irc:\n    plugin: chat\n    listen: 127.0.0.1:0\n"
           "    settings: {dialect: irc, network: town, server_name: irc.test, motd: \"be nice\"}\n"
           "  line:\n    plugin: chat\n    listen: 127.0.0.1:0\n"
           "    settings: {dialect: line, network: town}\n"
           "  seed:\n    plugin: chat\n    listen: 127.0.0.1:0\n"
           "    settings: {dialect: seed, network: town}\n";
}

// A client program we start: stdin and stdout are pipes, and it ends (by its
// PID) with the test if it has not exited by itself.
class Program {
public:
    explicit Program(const std::vector<std::string>& argv) {
        int in[2];
        int out[2];
        if (pipe(in) != 0 || pipe(out) != 0) {
            ADD_FAILURE() << "pipe: " << errno;
            return;
        }
        pid_ = fork();
        if (pid_ == 0) {
            dup2(in[0], 0);
            dup2(out[1], 1);
            dup2(out[1], 2);
            close(in[0]);
            close(in[1]);
            close(out[0]);
            close(out[1]);
            std::vector<char*> args;
            for (const auto& arg : argv) {
                args.push_back(const_cast<char*>(arg.c_str()));
            }
            args.push_back(nullptr);
            execvp(args[0], args.data());
            _exit(127);
        }
        close(in[0]);
        close(out[1]);
        stdin_ = in[1];
        stdout_ = out[0];
        fcntl(stdout_, F_SETFL, O_NONBLOCK);
    }
    ~Program() {
        if (stdin_ >= 0) {
            close(stdin_);
        }
        close(stdout_);
        if (pid_ > 0 && !exited_) {
            kill(pid_, SIGTERM);
            waitpid(pid_, nullptr, 0);
        }
    }
    Program(const Program&) = delete;
    Program& operator=(const Program&) = delete;

    void type(const std::string& line) {
        const std::string bytes = line + "\n";
        EXPECT_EQ(write(stdin_, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    }
    // Everything it printed so far.
    const std::string& output() {
        char buffer[4096];
        ssize_t n;
        while ((n = read(stdout_, buffer, sizeof buffer)) > 0) {
            output_.append(buffer, static_cast<std::size_t>(n));
        }
        return output_;
    }
    bool printed(const std::string& needle, std::chrono::milliseconds timeout = 10s) {
        return eventually([&] { return output().find(needle) != std::string::npos; }, timeout);
    }
    // Waits for it to exit by itself; its exit status, or -1 on timeout.
    int exitCode(std::chrono::milliseconds timeout = 10s) {
        int status = 0;
        const bool done = eventually(
            [&] { return exited_ || (exited_ = waitpid(pid_, &status, WNOHANG) == pid_); }, timeout);
        return done && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }

private:
    pid_t pid_ = -1;
    int stdin_ = -1;
    int stdout_ = -1;
    bool exited_ = false;
    std::string output_;
};

// Writes one line to one of ii's FIFOs (ii reopens it after each writer).
bool tell(const std::string& fifo, const std::string& line) {
    int fd = -1;
    eventually([&] { return (fd = open(fifo.c_str(), O_WRONLY | O_NONBLOCK)) >= 0; }, 10s);
    if (fd < 0) {
        return false;
    }
    const std::string bytes = line + "\n";
    const bool ok = write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size());
    close(fd);
    return ok;
}

bool fileHas(const std::string& path, const std::string& needle) {
    return eventually([&] { return readFile(path).find(needle) != std::string::npos; }, 10s);
}

TEST(Irc, IiAndSicJoinTalkSetATopicPartAndQuit) {
    HostProcess host(network());
    ASSERT_TRUE(host.started()) << host.log();
    const std::string port = std::to_string(host.port("irc"));
    TempDir irc;
    Program ii({"ii", "-s", "127.0.0.1", "-p", port, "-n", "alice", "-i", irc.path(), "-f", "Alice"});
    const std::string server = irc.path() + "/127.0.0.1";
    ASSERT_TRUE(fileHas(server + "/out", "Welcome to the town IRC network, alice!"))
        << readFile(server + "/out");
    EXPECT_TRUE(fileHas(server + "/out", "be nice"));
    ASSERT_TRUE(tell(server + "/in", "/j #lobby"));
    ASSERT_TRUE(fileHas(server + "/#lobby/out", "alice")) << readFile(server + "/#lobby/out");

    Program sic({"stdbuf", "-oL", "sic", "-h", "127.0.0.1", "-p", port, "-n", "bob"});
    ASSERT_TRUE(sic.printed("Welcome to the town IRC network, bob!")) << sic.output();
    sic.type(":j #lobby");
    ASSERT_TRUE(sic.printed("@alice bob")) << sic.output();  // NAMES: alice, first in, is operator
    EXPECT_TRUE(fileHas(server + "/#lobby/out", "bob(")) << readFile(server + "/#lobby/out");

    ASSERT_TRUE(tell(server + "/#lobby/in", "hello from ii"));
    EXPECT_TRUE(sic.printed("<alice> hello from ii")) << sic.output();
    sic.type("hello from sic");
    EXPECT_TRUE(fileHas(server + "/#lobby/out", "<bob> hello from sic")) << readFile(server + "/#lobby/out");

    ASSERT_TRUE(tell(server + "/#lobby/in", "/t a topic for both"));
    EXPECT_TRUE(sic.printed("a topic for both")) << sic.output();
    EXPECT_TRUE(fileHas(server + "/#lobby/out", "a topic for both")) << readFile(server + "/#lobby/out");

    sic.type(":l #lobby");
    EXPECT_TRUE(fileHas(server + "/#lobby/out", "has left #lobby")) << readFile(server + "/#lobby/out");
    sic.type(":QUIT :done here");
    EXPECT_TRUE(sic.printed("Quit: done here")) << sic.output();  // the ERROR line before the close
    EXPECT_GE(sic.exitCode(), 0) << "sic ends when the server closes: " << sic.output();

    // A line-dialect member in the same room sees ii's quit with its reason.
    Client nc(host.port("line"));
    std::string line;
    while (nc.readLine(line) && line.rfind("* Choose a nickname", 0) != 0) {
    }
    nc.send("ned\n");
    EXPECT_EQ(nc.line(), "* Welcome, ned! Here: alice. Type /help for commands.");
    ASSERT_TRUE(tell(server + "/in", "/q see you"));
    EXPECT_EQ(nc.line(), "* alice left (Quit: see you)");
    EXPECT_GE(ii.exitCode(), 0) << "ii ends when the server closes: " << readFile(server + "/out");
}

TEST(Irc, OneConversationAcrossIrcLineAndSeed) {
    HostProcess host(network());
    ASSERT_TRUE(host.started()) << host.log();
    Client irc(host.port("irc"));
    irc.send("NICK ann\r\nUSER ann 0 * :Ann\r\nJOIN #lobby\r\n");
    std::string line;
    while (irc.readLine(line) && line.find(" 366 ") == std::string::npos) {
    }
    ASSERT_NE(line.find("#lobby :End of /NAMES list"), std::string::npos) << line;

    Client nc(host.port("line"));
    while (nc.readLine(line) && line.rfind("* Choose a nickname", 0) != 0) {
    }
    nc.send("ned\n");
    EXPECT_EQ(nc.line(), "* Welcome, ned! Here: ann. Type /help for commands.");
    EXPECT_EQ(irc.line(), ":ned!ned@127.0.0.1 JOIN #lobby\r");

    Client seed(host.port("seed"));
    EXPECT_EQ(seed.readExactly(4), "NICK");
    seed.send("sam");
    EXPECT_EQ(seed.readExactly(31), "sam joined!Connected to server!");  // as the tutorial server says it
    EXPECT_EQ(irc.line(), ":sam!seed@127.0.0.1 JOIN #lobby\r");
    EXPECT_EQ(nc.line(), "* sam joined");

    irc.send("PRIVMSG #lobby :hi from irc\r\n");
    EXPECT_EQ(nc.line(), "ann: hi from irc");
    EXPECT_EQ(seed.readExactly(16), "ann: hi from irc");
    nc.send("hi from nc\n");
    EXPECT_EQ(irc.line(), ":ned!ned@127.0.0.1 PRIVMSG #lobby :hi from nc\r");
    EXPECT_EQ(seed.readExactly(15), "ned: hi from nc");
    seed.send("sam: hi from seed");
    EXPECT_EQ(irc.line(), ":sam!seed@127.0.0.1 PRIVMSG #lobby :hi from seed\r");
    EXPECT_EQ(nc.line(), "sam: hi from seed");
    EXPECT_EQ(seed.readExactly(17), "sam: hi from seed");
    nc.send("/quit\n");
    EXPECT_EQ(nc.line(), "* Bye.");
    EXPECT_EQ(irc.line(), ":ned!ned@127.0.0.1 QUIT :quit\r");
}

TEST(Irc, InvalidInputNeverClosesAWellBehavedClient) {
    HostProcess host(network());
    ASSERT_TRUE(host.started()) << host.log();
    Client irc(host.port("irc"));
    irc.send("\r\n:prefix\r\n@tag=1 :x FROB a b c\r\nNICK\r\nNICK bob\r\nUSER bob 0 * :Bob\r\n");
    std::string all;
    std::string line;
    while (irc.readLine(line) && line.find(" 376 ") == std::string::npos) {
        all += line + "\n";
    }
    EXPECT_NE(all.find(":irc.test 451 * :You have not registered"), std::string::npos) << all;
    EXPECT_NE(all.find(":irc.test 431 * :No nickname given"), std::string::npos) << all;
    EXPECT_NE(all.find(":irc.test 001 bob "), std::string::npos) << all;
    irc.send(std::string(600, 'x') + "\r\nPING :still\r\n");
    while (irc.readLine(line) && line.find("PONG") == std::string::npos) {
    }
    EXPECT_EQ(line, ":irc.test PONG irc.test :still\r");
}

}  // namespace
