#include "support/host_process.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

namespace plughost::test {

std::string readFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream content;
    content << in.rdbuf();
    return content.str();
}

std::string statusJson(const HostProcess& host) {
    return runCtl({"status", "--json", "--socket", host.adminSocket()}).output;
}

bool waitStatus(const HostProcess& host, const std::string& pattern, std::string& last) {
    const std::regex re(pattern);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    do {
        last = statusJson(host);
        if (std::regex_search(last, re)) {
            return true;
        }
        std::this_thread::sleep_for(20ms);
    } while (std::chrono::steady_clock::now() < deadline);
    return false;
}

std::string capture(const std::string& command) {
    std::string out;
    if (FILE* pipe = ::popen((command + " 2>&1").c_str(), "r")) {
        char buffer[4096];
        std::size_t n;
        while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) {
            out.append(buffer, n);
        }
        ::pclose(pipe);
    }
    return out;
}

std::string pluginDirWith(const TempDir& dir, const std::vector<std::string>& plugins) {
    const std::string path = dir.path() + "/plugins";
    std::filesystem::create_directories(path);
    for (const auto& name : plugins) {
        const bool built = std::filesystem::exists(std::string(PLUGHOST_PLUGIN_DIR) + "/" + name + ".so");
        std::filesystem::copy_file(
            (built ? std::string(PLUGHOST_PLUGIN_DIR) : std::string(PLUGHOST_TEST_PLUGIN_DIR)) + "/" + name +
                ".so",
            path + "/" + name + ".so");
    }
    return path;
}

namespace {

int decodeStatus(int status) {
    if (WIFEXITED(status)) {
        return WEXITSTATUS(status);
    }
    if (WIFSIGNALED(status)) {
        return 128 + WTERMSIG(status);
    }
    return -1;
}

// fork+exec with stdout and stderr going to `logPath`; with `launch`, its
// environment and passed descriptors too.
pid_t spawn(const std::vector<std::string>& args, const std::string& logPath,
            const Launch* launch = nullptr) {
    std::vector<char*> argv;
    for (const auto& arg : args) {
        argv.push_back(const_cast<char*>(arg.c_str()));
    }
    argv.push_back(nullptr);
    // The environment is built before fork: the child of a threaded parent may
    // not allocate. Only LISTEN_PID's digits are written in the child.
    std::vector<std::string> environment;
    std::string listenPid;
    if (launch != nullptr) {
        auto overridden = [&](const std::string& entry) {
            const std::string name = entry.substr(0, entry.find('='));
            return launch->environment.count(name) > 0 || name.rfind("LISTEN_", 0) == 0 ||
                   name.rfind("NOTIFY_SOCKET", 0) == 0 || name.rfind("WATCHDOG_", 0) == 0;
        };
        for (char** entry = environ; *entry != nullptr; ++entry) {
            if (!overridden(*entry)) {
                environment.emplace_back(*entry);
            }
        }
        for (const auto& [name, value] : launch->environment) {
            environment.push_back(name + "=" + value);
        }
        if (!launch->listenFds.empty()) {
            environment.push_back("LISTEN_FDS=" + std::to_string(launch->listenFds.size()));
            if (!launch->listenFdNames.empty()) {
                environment.push_back("LISTEN_FDNAMES=" + launch->listenFdNames);
            }
            if (launch->environment.count("LISTEN_PID") == 0) {  // a test may name another process
                listenPid = "LISTEN_PID=" + std::string(24, '\0');
            }
        }
    }
    std::vector<char*> envp;
    for (auto& entry : environment) {
        envp.push_back(entry.data());
    }
    if (!listenPid.empty()) {
        envp.push_back(listenPid.data());
    }
    envp.push_back(nullptr);
    const std::vector<int> fds = launch != nullptr ? launch->listenFds : std::vector<int>{};
    const pid_t pid = ::fork();
    if (pid == 0) {
        const int log = ::open(logPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
        ::dup2(log, 1);
        ::dup2(log, 2);
        const int null = ::open("/dev/null", O_RDONLY);
        ::dup2(null, 0);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        if (launch == nullptr) {
            ::execv(argv[0], argv.data());
            ::_exit(127);
        }
        // Out of the way first, so that placing one cannot overwrite another.
        int moved[64];
        const std::size_t count = fds.size() < 64 ? fds.size() : 64;
        for (std::size_t i = 0; i < count; ++i) {
            moved[i] = ::fcntl(fds[i], F_DUPFD_CLOEXEC, 100);
        }
        for (std::size_t i = 0; i < count; ++i) {
            ::dup2(moved[i], 3 + static_cast<int>(i));  // the copy at 3+i is inherited (no FD_CLOEXEC)
        }
        if (!listenPid.empty()) {
            char digits[24];
            int n = 0;
            for (pid_t self = ::getpid(); self > 0; self /= 10) {
                digits[n++] = static_cast<char>('0' + self % 10);
            }
            char* out = envp[envp.size() - 2] + std::strlen("LISTEN_PID=");
            while (n > 0) {
                *out++ = digits[--n];
            }
            *out = '\0';
        }
        if (launch->gid >= 0 && (::setgroups(0, nullptr) != 0 || ::setgid(launch->gid) != 0)) {
            ::_exit(126);
        }
        if (launch->uid >= 0 && ::setuid(launch->uid) != 0) {
            ::_exit(126);
        }
        ::execve(argv[0], argv.data(), envp.data());
        ::_exit(127);
    }
    return pid;
}

}  // namespace

TempDir::TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "plughost-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
        ADD_FAILURE() << "mkdtemp failed";
    }
    // Writable by a host that dropped privileges, and sticky like /tmp, so that a
    // plugin folder made inside it passes the host's ownership and mode rule.
    ::chmod(pattern.c_str(), 01777);
    path_ = pattern;
}

void replaceFile(const std::string& path, const std::string& content) {
    const std::string temporary = path + ".new";
    {
        std::ofstream out(temporary, std::ios::trunc);
        out << content;
    }
    std::filesystem::rename(temporary, path);
}

ProbeMarker::ProbeMarker() : path_(dir_.path() + "/marker") {
    ::setenv("PLUGHOST_PROBE_MARKER", path_.c_str(), 1);
}

ProbeMarker::~ProbeMarker() { ::unsetenv("PLUGHOST_PROBE_MARKER"); }

TempDir::~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
}

std::string TempDir::write(const std::string& name, const std::string& content) const {
    const std::string full = path_ + "/" + name;
    std::ofstream out(full, std::ios::binary | std::ios::trunc);
    out << content;
    return full;
}

HostProcess::HostProcess(const std::string& yaml, std::vector<std::string> extraArgs,
                         std::chrono::milliseconds startTimeout, const std::string& program) {
    Launch launch;
    launch.args = std::move(extraArgs);
    launch.startTimeout = startTimeout;
    begin(yaml, launch, program);
}

HostProcess::HostProcess(const std::string& yaml, const Launch& launch) {
    begin(yaml, launch, PLUGHOSTD_PATH);
}

void HostProcess::begin(const std::string& yaml, const Launch& launch, const std::string& program) {
    const bool plain =
        launch.environment.empty() && launch.listenFds.empty() && launch.uid < 0 && launch.gid < 0;
    const auto startTimeout = launch.startTimeout;
    const auto& extraArgs = launch.args;
    std::string config = yaml;
    if (config.find("plugin_dir:") == std::string::npos) {
        config = "plugin_dir: " + std::string(PLUGHOST_PLUGIN_DIR) + "\n" + config;
    }
    if (config.find("admin:") == std::string::npos) {
        adminSocket_ = dir_.path() + "/admin.sock";
        config += "\nadmin:\n  socket: " + adminSocket_ + "\n";  // appended: line numbers stay as written
    }
    configPath_ = dir_.write("plughost.yaml", config);
    readyPath_ = dir_.path() + "/ready";
    logPath_ = dir_.path() + "/host.log";
    std::vector<std::string> args = {program, "--config", configPath_, "--ready-file", readyPath_};
    args.insert(args.end(), extraArgs.begin(), extraArgs.end());
    pid_ = spawn(args, logPath_, plain ? nullptr : &launch);
    started_ = eventually(
        [&] {
            if (std::filesystem::exists(readyPath_)) {
                return true;
            }
            return !running();
        },
        startTimeout);
    started_ = started_ && std::filesystem::exists(readyPath_);
    if (started_) {
        readReadyFile();
    }
}

HostProcess::~HostProcess() {
    if (running()) {
        if (stop(SIGTERM, 10s) == -1) {
            ::kill(pid_, SIGKILL);
            int status = 0;
            ::waitpid(pid_, &status, 0);
        }
    }
    // Under the sanitizer builds the host reports to its log; any report fails the test.
    const std::string output = log();
    for (const char* marker :
         {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:", "WARNING: ThreadSanitizer"}) {
        const auto at = output.find(marker);
        if (at != std::string::npos) {
            ADD_FAILURE() << "plughostd reported: " << output.substr(at, 4000);
        }
    }
}

void HostProcess::readReadyFile() {
    std::istringstream in(readFile(readyPath_));
    std::string service;
    std::string address;
    while (in >> service >> address) {
        addresses_[service].push_back(address);
    }
}

std::uint16_t HostProcess::port(const std::string& service) const {
    const auto found = addresses_.find(service);
    if (found == addresses_.end() || found->second.empty()) {
        ADD_FAILURE() << "service " << service << " has no bound address; log:\n" << log();
        return 0;
    }
    const std::string& address = found->second.front();
    return static_cast<std::uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
}

std::vector<std::string> HostProcess::addresses(const std::string& service) const {
    const auto found = addresses_.find(service);
    return found == addresses_.end() ? std::vector<std::string>{} : found->second;
}

std::string HostProcess::log() const { return readFile(logPath_); }

bool HostProcess::waitForLog(const std::string& needle, std::chrono::milliseconds timeout) const {
    return eventually([&] { return log().find(needle) != std::string::npos; }, timeout);
}

bool HostProcess::running() {
    if (pid_ <= 0 || exitStatus_ != -1) {
        return false;
    }
    int status = 0;
    const pid_t result = ::waitpid(pid_, &status, WNOHANG);
    if (result == pid_) {
        exitStatus_ = decodeStatus(status);
        return false;
    }
    return result == 0;
}

int HostProcess::wait(std::chrono::milliseconds timeout) {
    if (!eventually([&] { return !running(); }, timeout)) {
        return -1;
    }
    return exitStatus_;
}

int HostProcess::stop(int signal, std::chrono::milliseconds timeout) {
    if (running()) {
        ::kill(pid_, signal);
    }
    return wait(timeout);
}

int HostProcess::openFds() const {
    int count = 0;
    const std::string path = "/proc/" + std::to_string(pid_) + "/fd";
    if (DIR* dir = ::opendir(path.c_str())) {
        while (const dirent* entry = ::readdir(dir)) {
            count += entry->d_name[0] != '.' ? 1 : 0;
        }
        ::closedir(dir);
    }
    return count;
}

long HostProcess::residentKiB() const {
    std::istringstream status(readFile("/proc/" + std::to_string(pid_) + "/status"));
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) == 0) {
            return std::stol(line.substr(6));
        }
    }
    return -1;
}

namespace {

RunResult runToCompletion(const std::string& program, const std::vector<std::string>& args,
                          std::chrono::milliseconds timeout) {
    TempDir dir;
    const std::string logPath = dir.path() + "/out.log";
    std::vector<std::string> full = {program};
    full.insert(full.end(), args.begin(), args.end());
    const pid_t pid = spawn(full, logPath);
    int status = 0;
    int exitCode = -1;
    if (eventually([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, timeout)) {
        exitCode = decodeStatus(status);
    } else {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        ADD_FAILURE() << program << " did not exit within the timeout";
    }
    return {exitCode, readFile(logPath)};
}

}  // namespace

RunResult runHost(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
    return runToCompletion(PLUGHOSTD_PATH, args, timeout);
}

RunResult runCtl(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
    return runToCompletion(PLUGHOSTCTL_PATH, args, timeout);
}

}  // namespace plughost::test
