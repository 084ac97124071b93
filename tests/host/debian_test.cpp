// The .deb judged by Debian's own tools: lintian on the package, systemd-analyze
// verify on its units, systemd-tmpfiles on its tmpfiles.d entry, and its
// maintainer scripts run for real by dpkg --root in a throwaway root
// (tests/host/debian_root.sh: an overlay of this machine's /usr in a private
// mount namespace), where the installed host is started and must run as the
// plughost user the postinst created. This machine's package database, users
// and /usr are never touched.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <sstream>
#include <thread>

#include "support/client.h"
#include "support/host_process.h"

extern char** environ;

namespace {

using namespace plughost::test;

const std::string kRootScript = PLUGHOST_SOURCE_DIR "/tests/host/debian_root.sh";
// dpkg, adduser and systemd-tmpfiles live in sbin folders that ctest's PATH may lack.
const std::string kPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin ";

struct Outcome {
    int status = -1;  // exit status, or -1 if the command did not exit normally
    std::string output;
};

// Runs a shell command; its exit status and everything it wrote to stdout and stderr.
Outcome run(const std::string& command) {
    Outcome result;
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen((command + " 2>&1").c_str(), "r"), ::pclose);
    if (!pipe) {
        return result;
    }
    char buffer[4096];
    std::size_t got = 0;
    while ((got = std::fread(buffer, 1, sizeof buffer, pipe.get())) > 0) {
        result.output.append(buffer, got);
    }
    const int status = ::pclose(pipe.release());
    result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

// The .deb, built once for all tests of this file by CPack from this build tree.
class Debian : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir_ = std::make_unique<TempDir>();
        // Under ctest, the Debian.BuildDeb fixture built it; run by hand, build it here.
        const char* built = std::getenv("PLUGHOST_TEST_DEB_DIR");
        std::string out = built != nullptr ? built : "";
        if (out.empty()) {
            out = dir_->path() + "/out";
            buildLog_ =
                run("cpack -G DEB --config " PLUGHOST_BINARY_DIR "/CPackConfig.cmake -B " + out).output;
        }
        if (std::filesystem::is_directory(out)) {
            for (const auto& entry : std::filesystem::directory_iterator(out)) {
                if (entry.path().extension() == ".deb") {
                    deb_ = entry.path();
                }
            }
        }
        buildLog_ += "(looked in " + out + ")";
    }
    static void TearDownTestSuite() { dir_.reset(); }

    void SetUp() override { ASSERT_FALSE(deb_.empty()) << "cpack made no .deb:\n" << buildLog_; }

    // The package's files, unpacked with dpkg -x into a fresh folder.
    std::string unpack(const TempDir& dir) const {
        const std::string root = dir.path() + "/unpacked";
        const Outcome unpacked = run("dpkg -x " + deb_ + " " + root);
        EXPECT_EQ(unpacked.status, 0) << unpacked.output;
        return root;
    }

    static std::unique_ptr<TempDir> dir_;
    static std::string deb_;
    static std::string buildLog_;
};

std::unique_ptr<TempDir> Debian::dir_;
std::string Debian::deb_;
std::string Debian::buildLog_;

// Every "E: " and "W: " line of lintian's report.
std::vector<std::string> errorsAndWarnings(const std::string& report) {
    std::vector<std::string> found;
    std::istringstream lines(report);
    std::string line;
    while (std::getline(lines, line)) {
        if (line.rfind("E: ", 0) == 0 || line.rfind("W: ", 0) == 0) {
            found.push_back(line);
        }
    }
    return found;
}

TEST_F(Debian, LintianReportsNoErrorsAndNoWarnings) {
    // No overrides in the package, none on the command line: what a Debian developer would see.
    const Outcome lintian = run("lintian --tag-display-limit 0 " + deb_);
    EXPECT_EQ(errorsAndWarnings(lintian.output), std::vector<std::string>{}) << lintian.output;
    EXPECT_EQ(lintian.status, 0) << lintian.output;
    // Lintian looked at this package (an unreadable file would also print no tags).
    EXPECT_EQ(run("dpkg-deb -f " + deb_ + " Package").output, "plughost\n");
}

TEST_F(Debian, ControlDataIsWhatDebianExpects) {
    const std::string control = run("dpkg-deb -I " + deb_ + " control").output;
    // An extended description below the summary, and the postinst's adduser as a dependency.
    EXPECT_TRUE(std::regex_search(control, std::regex("\nDescription: [^\n]+\n [^\n]+"))) << control;
    EXPECT_TRUE(std::regex_search(control, std::regex("\nDepends: [^\n]*\\badduser\\b"))) << control;
    EXPECT_TRUE(std::regex_search(control, std::regex("\nDepends: [^\n]*\\blibc6 \\(>= "))) << control;
    EXPECT_EQ(run("dpkg-deb -I " + deb_ + " conffiles").output, "/etc/plughost/plughost.yaml\n");
    // Owned by root, with nothing writable by group or others.
    const Outcome contents = run("dpkg-deb -c " + deb_);
    std::istringstream lines(contents.output);
    std::string line;
    int entries = 0;
    while (std::getline(lines, line)) {
        ++entries;
        EXPECT_NE(line.find(" root/root "), std::string::npos) << line;
        EXPECT_TRUE(line.size() > 9 && line[5] != 'w' && line[8] != 'w') << line;
    }
    EXPECT_GT(entries, 20) << contents.output;
}

TEST_F(Debian, DocumentationFilesAreCompressedAndMachineReadable) {
    TempDir dir;
    const std::string root = unpack(dir);
    const std::string doc = root + "/usr/share/doc/plughost/";
    EXPECT_EQ(readFile(doc + "copyright")
                  .rfind("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/", 0),
              0u);
    // changelog.gz: gzip -9 without a name or time stamp, a Debian changelog of this version.
    const Outcome header =
        run("gzip -lv " + doc + "changelog.gz; od -A n -t x1 -N 8 " + doc + "changelog.gz");
    EXPECT_NE(header.output.find("1f 8b 08 00 00 00 00 00"), std::string::npos) << header.output;
    const Outcome parsed = run("dpkg-parsechangelog -l " + doc + "changelog.gz -S Version");
    EXPECT_EQ(parsed.output, std::string(PLUGHOST_VERSION) + "\n");
    // Whatever man pages the package has are gzipped (the install rules may ship them plain).
    if (std::filesystem::exists(root + "/usr/share/man")) {
        for (const auto& entry : std::filesystem::recursive_directory_iterator(root + "/usr/share/man")) {
            if (entry.is_regular_file()) {
                EXPECT_EQ(entry.path().extension(), ".gz") << entry.path();
            }
        }
    }
}

TEST_F(Debian, UnitsPassSystemdAnalyzeVerify) {
    TempDir dir;
    const std::string root = unpack(dir);
    const std::string units = root + "/usr/lib/systemd/system/";
    const std::string service = readFile(units + "plughost.service");
    for (const char* line :
         {"Type=notify", "NotifyAccess=main", "WatchdogSec=30s", "ExecReload=/bin/kill -HUP $MAINPID",
          "ReadWritePaths=/run/plughost", "ProtectSystem=strict", "NoNewPrivileges=true"}) {
        EXPECT_NE(service.find(std::string("\n") + line + "\n"), std::string::npos) << line;
    }
    // The host starts as root and drops to the config's user: itself.
    EXPECT_EQ(service.find("\nUser="), std::string::npos);
    const std::string socket = readFile(units + "plughost.socket");
    for (const char* line :
         {"Service=plughost.service", "FileDescriptorName=plughost", "ListenStream=127.0.0.1:7007",
          "ListenStream=127.0.0.1:7008", "ListenStream=127.0.0.1:7009", "ListenStream=127.0.0.1:7080",
          "ListenStream=127.0.0.1:55555"}) {
        EXPECT_NE(socket.find(std::string("\n") + line + "\n"), std::string::npos) << line;
    }

    // systemd-analyze checks that every command exists: the package's own binaries are the
    // unpacked ones here (nothing is installed in /usr/bin), the rest is this machine's.
    // man: pages are looked up in the package.
    std::filesystem::create_directory(dir.path() + "/units");
    for (const char* unit : {"plughost.service", "plughost.socket"}) {
        const std::string text = std::regex_replace(readFile(units + unit), std::regex("/usr/bin/plughost"),
                                                    root + "/usr/bin/plughost");
        std::ofstream(dir.path() + "/units/" + unit) << text;
    }
    const std::string verify = kPath + "MANPATH=" + root + "/usr/share/man systemd-analyze verify ";
    const Outcome verified =
        run(verify + dir.path() + "/units/plughost.service " + dir.path() + "/units/plughost.socket");
    EXPECT_EQ(verified.status, 0) << verified.output;
    EXPECT_EQ(verified.output, "");  // warnings (unknown keys, missing pages) exit 0 too

    // ... and the check sees a mistake: an unknown key is reported.
    std::ofstream(dir.path() + "/units/broken.service") << std::regex_replace(
        readFile(dir.path() + "/units/plughost.service"), std::regex("\nNotifyAccess="), "\nNotifyAcess=");
    const Outcome broken = run(verify + dir.path() + "/units/broken.service");
    EXPECT_NE(broken.output.find("Unknown key"), std::string::npos) << broken.output;
}

TEST_F(Debian, TmpfilesCreatesTheRuntimeFolderForThePlughostUser) {
    TempDir dir;
    const std::string root = unpack(dir);
    EXPECT_TRUE(std::filesystem::exists(root + "/usr/lib/tmpfiles.d/plughost.conf"));
    // systemd-tmpfiles --root resolves names from the root's own /etc/passwd and /etc/group.
    std::filesystem::create_directories(root + "/etc");
    std::ofstream(root + "/etc/passwd") << "root:x:0:0:root:/root:/bin/sh\n"
                                        << "plughost:x:987:986::/nonexistent:/usr/sbin/nologin\n";
    std::ofstream(root + "/etc/group") << "root:x:0:\nplughost:x:986:\n";
    const Outcome created = run(kPath + "systemd-tmpfiles --root=" + root + " --create plughost.conf");
    EXPECT_EQ(created.status, 0) << created.output;
    EXPECT_EQ(created.output, "");
    struct stat folder {};
    ASSERT_EQ(::stat((root + "/run/plughost").c_str(), &folder), 0);
    EXPECT_TRUE(S_ISDIR(folder.st_mode));
    EXPECT_EQ(folder.st_mode & 07777, 0755u);
    EXPECT_EQ(folder.st_uid, 987u);
    EXPECT_EQ(folder.st_gid, 986u);

    // Without the user it names the problem: the entry really asks for plughost.
    std::ofstream(root + "/etc/passwd") << "root:x:0:0:root:/root:/bin/sh\n";
    std::filesystem::remove(root + "/run/plughost");
    const Outcome missing = run(kPath + "systemd-tmpfiles --root=" + root + " --create plughost.conf");
    EXPECT_NE(missing.status, 0);
    EXPECT_NE(missing.output.find("plughost"), std::string::npos) << missing.output;
}

TEST_F(Debian, InstalledConfigRunsAsThePlughostUser) {
    TempDir dir;
    const std::string config = readFile(unpack(dir) + "/etc/plughost/plughost.yaml");
    EXPECT_TRUE(std::regex_search(config, std::regex("\nuser: plughost\\b"))) << config;
    EXPECT_TRUE(std::regex_search(config, std::regex("\ngroup: plughost\\b"))) << config;
    EXPECT_NE(config.find("socket: /run/plughost/admin.sock"), std::string::npos) << config;
}

// One account line of a passwd or group file, split at ':'; empty if `name` has none.
std::vector<std::string> account(const std::string& file, const std::string& name) {
    std::istringstream lines(readFile(file));
    std::string line;
    while (std::getline(lines, line)) {
        if (line.rfind(name + ":", 0) == 0) {
            std::vector<std::string> fields;
            std::istringstream parts(line);
            std::string field;
            while (std::getline(parts, field, ':')) {
                fields.push_back(field);
            }
            return fields;
        }
    }
    return {};
}

// The installed plughostd, chrooted into the throwaway root (same PID all the way: the
// root script, unshare, chroot and plughostd exec one another). Stopped with SIGTERM.
class ChrootedHost {
public:
    ChrootedHost(const std::string& root, const std::string& log) {
        const std::vector<std::string> args = {
            "/bin/bash",    kRootScript,          root,       "chroot",
            root,           "/usr/bin/plughostd", "--config", "/etc/plughost/plughost.yaml",
            "--ready-file", "/run/plughost/ready"};
        std::vector<char*> argv;
        for (const auto& arg : args) {
            argv.push_back(const_cast<char*>(arg.c_str()));
        }
        argv.push_back(nullptr);
        posix_spawn_file_actions_t actions;
        ::posix_spawn_file_actions_init(&actions);
        ::posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ::posix_spawn_file_actions_adddup2(&actions, 1, 2);
        if (::posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0) {
            pid_ = -1;
        }
        ::posix_spawn_file_actions_destroy(&actions);
    }
    ~ChrootedHost() { stop(); }
    ChrootedHost(const ChrootedHost&) = delete;
    ChrootedHost& operator=(const ChrootedHost&) = delete;

    pid_t pid() const { return pid_; }
    bool running() { return pid_ > 0 && ::waitpid(pid_, &status_, WNOHANG) == 0; }
    // SIGTERM, then a bounded wait (SIGKILL as a last resort); the exit status, -1 if killed.
    int stop() {
        if (pid_ <= 0) {
            return exit_;
        }
        ::kill(pid_, SIGTERM);
        const auto deadline = std::chrono::steady_clock::now() + 20s;
        while (::waitpid(pid_, &status_, WNOHANG) == 0) {
            if (std::chrono::steady_clock::now() > deadline) {
                ::kill(pid_, SIGKILL);
                ::waitpid(pid_, &status_, 0);
                break;
            }
            std::this_thread::sleep_for(20ms);
        }
        pid_ = -1;
        exit_ = WIFEXITED(status_) ? WEXITSTATUS(status_) : -1;
        return exit_;
    }

private:
    pid_t pid_ = -1;
    int status_ = 0;
    int exit_ = -1;
};

// Polls for a file until the deadline; false if it never appeared.
bool waitForFile(const std::string& path, std::chrono::seconds timeout, ChrootedHost& host) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!std::filesystem::exists(path)) {
        if (std::chrono::steady_clock::now() > deadline || !host.running()) {
            return false;
        }
        std::this_thread::sleep_for(20ms);
    }
    return true;
}

TEST_F(Debian, MaintainerScriptsCreateTheUserAndPurgeRemovesTheConfig) {
    if (::geteuid() != 0) {
        GTEST_SKIP() << "needs root: dpkg --root chroots, adduser and the host's drop change owners";
    }
    const std::string machineBefore = run("dpkg-query -W -f='${Status}' plughost").output;
    TempDir dir;
    const std::string root = dir.path() + "/root";
    const std::string inRoot = kPath + kRootScript + " " + root + " ";
    const std::string dpkg = inRoot + "dpkg --root=" + root + " ";

    // dpkg -i runs preinst, unpacks, runs postinst configure, all chrooted into the root.
    // Its dependencies are this machine's libraries, which the root's database does not know of.
    const Outcome installed = run(dpkg + "--force-depends -i " + deb_);
    ASSERT_EQ(installed.status, 0) << installed.output;
    EXPECT_EQ(run(inRoot + "dpkg-query --root=" + root + " -W -f='${Status}' plughost").output,
              "install ok installed");

    // A system user and group, no login, no home.
    const auto user = account(root + "/etc/passwd", "plughost");
    ASSERT_EQ(user.size(), 7u) << readFile(root + "/etc/passwd");
    const auto group = account(root + "/etc/group", "plughost");
    ASSERT_GE(group.size(), 3u) << readFile(root + "/etc/group");
    const unsigned uid = std::stoul(user[2]);
    const unsigned gid = std::stoul(group[2]);
    EXPECT_LT(uid, 1000u);
    EXPECT_EQ(std::stoul(user[3]), gid);
    EXPECT_EQ(user[5], "/nonexistent");
    EXPECT_EQ(user[6], "/usr/sbin/nologin");
    EXPECT_FALSE(std::filesystem::exists(root + "/nonexistent"));
    // /run/plughost from the tmpfiles.d entry, and the unit enabled (not started: no systemd runs).
    struct stat runtime {};
    ASSERT_EQ(::stat((root + "/run/plughost").c_str(), &runtime), 0);
    EXPECT_EQ(runtime.st_uid, uid);
    EXPECT_EQ(runtime.st_gid, gid);
    EXPECT_EQ(runtime.st_mode & 07777, 0755u);
    EXPECT_TRUE(
        std::filesystem::is_symlink(root + "/etc/systemd/system/multi-user.target.wants/plughost.service"));

    // Installing again (the upgrade path: postinst configure with the old version) keeps the account.
    const Outcome again = run(dpkg + "--force-depends -i " + deb_);
    ASSERT_EQ(again.status, 0) << again.output;
    EXPECT_EQ(account(root + "/etc/passwd", "plughost"), user);

    // The installed host, started by hand (no systemd), with its own config: binds as root,
    // then runs as plughost. Only the ports change (OS-chosen), as an operator edits a conffile.
    const std::string configPath = root + "/etc/plughost/plughost.yaml";
    std::ofstream(configPath + ".new")
        << std::regex_replace(readFile(configPath), std::regex("127\\.0\\.0\\.1:[0-9]+"), "127.0.0.1:0");
    std::filesystem::rename(configPath + ".new", configPath);
    {
        ChrootedHost host(root, dir.path() + "/host.log");
        ASSERT_GT(host.pid(), 0);
        ASSERT_TRUE(waitForFile(root + "/run/plughost/ready", 20s, host))
            << readFile(dir.path() + "/host.log");
        std::string uidLine;
        std::istringstream status(readFile("/proc/" + std::to_string(host.pid()) + "/status"));
        for (std::string line; std::getline(status, line);) {
            if (line.rfind("Uid:", 0) == 0) {
                uidLine = line;
            }
        }
        const std::string u = std::to_string(uid);
        EXPECT_EQ(uidLine, "Uid:\t" + u + "\t" + u + "\t" + u + "\t" + u);
        EXPECT_NE(readFile(dir.path() + "/host.log").find("running as user plughost, group plughost"),
                  std::string::npos)
            << readFile(dir.path() + "/host.log");
        struct stat socket {};
        ASSERT_EQ(::stat((root + "/run/plughost/admin.sock").c_str(), &socket), 0);
        EXPECT_EQ(socket.st_uid, uid);
        const Outcome ctl =
            run(std::string(PLUGHOSTCTL_PATH) + " status --socket " + root + "/run/plughost/admin.sock");
        EXPECT_EQ(ctl.status, 0) << ctl.output;
        std::smatch echo;
        const std::string ready = readFile(root + "/run/plughost/ready");
        ASSERT_TRUE(std::regex_search(ready, echo, std::regex("echo 127\\.0\\.0\\.1:([0-9]+)"))) << ready;
        Client client(static_cast<std::uint16_t>(std::stoi(echo[1])));
        ASSERT_TRUE(client.send("installed\n"));
        EXPECT_EQ(client.line(), "installed");
        EXPECT_EQ(host.stop(), 0) << readFile(dir.path() + "/host.log");
    }

    // remove: the program goes, the conffile (and so /etc/plughost) stays, the unit is masked.
    const Outcome removed = run(dpkg + "-r plughost");
    ASSERT_EQ(removed.status, 0) << removed.output;
    EXPECT_EQ(run(inRoot + "dpkg-query --root=" + root + " -W -f='${Status}' plughost").output,
              "deinstall ok config-files");
    EXPECT_FALSE(std::filesystem::exists(root + ".usr-upper/bin/plughostd"));
    EXPECT_TRUE(std::filesystem::exists(configPath));
    EXPECT_EQ(std::filesystem::read_symlink(root + "/etc/systemd/system/plughost.service"), "/dev/null");

    // purge: /etc/plughost and /run/plughost go; the account stays (Debian keeps system users).
    const Outcome purged = run(dpkg + "-P plughost");
    ASSERT_EQ(purged.status, 0) << purged.output;
    EXPECT_FALSE(std::filesystem::exists(root + "/etc/plughost"));
    EXPECT_FALSE(std::filesystem::exists(root + "/run/plughost"));
    EXPECT_FALSE(std::filesystem::exists(root + "/etc/systemd/system/plughost.service"));
    EXPECT_EQ(account(root + "/etc/passwd", "plughost"), user);
    EXPECT_NE(run(inRoot + "dpkg-query --root=" + root + " -W plughost").status, 0);

    // And this machine's own package database knows nothing of it.
    EXPECT_EQ(run("dpkg-query -W -f='${Status}' plughost").output, machineBefore);
}

}  // namespace
