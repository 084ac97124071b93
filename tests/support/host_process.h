#pragma once
// Starts the real plughostd from YAML text and reads back the ports it bound.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace plughost::test {

using namespace std::chrono_literals;

// A scratch folder removed (recursively) when the object dies.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }
    // Writes `content` to path()/name and returns the full path.
    std::string write(const std::string& name, const std::string& content) const;

private:
    std::string path_;
};

// How to start a host beyond its config: what a service manager would give it.
struct Launch {
    std::vector<std::string> args;                   // extra command-line arguments
    std::map<std::string, std::string> environment;  // set (or replaced) in the host's environment
    // Passed as descriptors 3, 4, ... with LISTEN_FDS=N and LISTEN_PID=<the host's
    // pid> (set by the child after fork, as systemd does, unless `environment` has
    // LISTEN_PID); the test keeps its copies.
    std::vector<int> listenFds;
    std::string listenFdNames;  // LISTEN_FDNAMES, when not empty
    // Started as this user and group from the first instruction (needs root),
    // e.g. to show that a passed socket needs no privilege; -1 = as the test runs.
    int uid = -1;
    int gid = -1;
    std::chrono::milliseconds startTimeout = std::chrono::seconds(10);
};

// One plughostd process. The YAML is written to a temp folder as plughost.yaml;
// unless it sets plugin_dir itself, plugin_dir points at the build's plugins.
// The host is started with --ready-file, and the constructor waits (bounded)
// until the file appears, then reads each service's bound addresses from it.
// If the host exits instead, started() is false and log() says why.
class HostProcess {
public:
    explicit HostProcess(const std::string& yaml, std::vector<std::string> extraArgs = {},
                         std::chrono::milliseconds startTimeout = 10s,
                         const std::string& program = PLUGHOSTD_PATH);
    HostProcess(const std::string& yaml, const Launch& launch);
    ~HostProcess();  // SIGTERM, bounded wait, SIGKILL as a last resort
    HostProcess(const HostProcess&) = delete;
    HostProcess& operator=(const HostProcess&) = delete;

    bool started() const { return started_; }
    pid_t pid() const { return pid_; }
    const std::string& configPath() const { return configPath_; }
    const TempDir& dir() const { return dir_; }

    // The first bound port of a service; fails the test if the service has none.
    std::uint16_t port(const std::string& service) const;
    // Every bound address of a service ("127.0.0.1:41234", "[::1]:41235").
    std::vector<std::string> addresses(const std::string& service) const;

    // Everything the host wrote to stdout and stderr so far.
    std::string log() const;
    // Polls the log until `needle` appears or the timeout passes.
    bool waitForLog(const std::string& needle, std::chrono::milliseconds timeout = 5s) const;

    // Sends `signal` and waits up to `timeout` for exit. Returns the exit code,
    // 128+signal if killed by a signal, or -1 if still running after the timeout.
    int stop(int signal = 15, std::chrono::milliseconds timeout = 10s);
    // Waits for the process to exit on its own; same return values as stop().
    int wait(std::chrono::milliseconds timeout);
    bool running();

    // The admin socket the harness configured (unless the YAML has its own admin:).
    const std::string& adminSocket() const { return adminSocket_; }

    // Number of open file descriptors of the host (from /proc/PID/fd).
    int openFds() const;
    // Resident memory of the host in KiB (VmRSS from /proc/PID/status).
    long residentKiB() const;

private:
    void begin(const std::string& yaml, const Launch& launch, const std::string& program);
    void readReadyFile();

    TempDir dir_;
    std::string configPath_;
    std::string readyPath_;
    std::string logPath_;
    std::string adminSocket_;
    pid_t pid_ = -1;
    bool started_ = false;
    int exitStatus_ = -1;
    std::map<std::string, std::vector<std::string>> addresses_;
};

// Runs plughostd to completion (e.g. a config that must fail) and returns its
// exit code and combined output.
struct RunResult {
    int exitCode;
    std::string output;
};
RunResult runHost(const std::vector<std::string>& args, std::chrono::milliseconds timeout = 10s);
// Runs plughostctl to completion with `args`; same shape.
RunResult runCtl(const std::vector<std::string>& args, std::chrono::milliseconds timeout = 30s);

// The host's /status as JSON (plughostctl status --json on its admin socket).
std::string statusJson(const HostProcess& host);
// Polls statusJson() until `pattern` matches, for up to 10 s (the I/O threads update the counters);
// `last` gets the last answer, for the failure message.
bool waitStatus(const HostProcess& host, const std::string& pattern, std::string& last);

// Replaces a file the way an editor or installer does: write elsewhere, rename over.
void replaceFile(const std::string& path, const std::string& content);
// A file's whole content ("" if unreadable).
std::string readFile(const std::string& path);
// Runs a shell command; returns its standard output and error.
std::string capture(const std::string& command);
// Creates dir/plugins holding copies of the named plugins: the build's own
// (echo, confirm, chat) or the test plugins (probe, wrong_abi, ...). Returns its path.
std::string pluginDirWith(const TempDir& dir, const std::vector<std::string>& plugins);

// Points PLUGHOST_PROBE_MARKER (inherited by hosts started meanwhile) at a fresh
// file: the test plugins that must not run write there when they do, and
// abi_probe's create() writes the user it ran as.
class ProbeMarker {
public:
    ProbeMarker();
    ~ProbeMarker();
    ProbeMarker(const ProbeMarker&) = delete;
    ProbeMarker& operator=(const ProbeMarker&) = delete;
    std::string text() const { return readFile(path_); }

private:
    TempDir dir_;
    std::string path_;
};

// Polls `condition` until it is true or the timeout passes.
template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds timeout = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!condition()) {
        if (std::chrono::steady_clock::now() >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

}  // namespace plughost::test
