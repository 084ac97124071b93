#pragma once
// system: what the host tells its service manager (systemd's notify protocol)
// and what the service manager hands it (socket activation). Reads only the
// environment and file descriptors the manager set up; knows nothing of
// services, sessions or plugins beyond the small interfaces below.
//
// The notify protocol is implemented here (about sixty lines) rather than taken
// from libsystemd's sd_notify(): it is one datagram per message to an AF_UNIX
// socket, documented as a stable interface (sd_notify(3), "NOTIFY_SOCKET"), and
// doing it ourselves keeps libsystemd off the host's link line and the
// package's dependencies, for a function that would be its only use.

#include <sys/socket.h>
#include <sys/un.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace plughost::system {

// CLOCK_MONOTONIC in microseconds, as MONOTONIC_USEC= wants it.
std::uint64_t monotonicMicros();

// The datagram socket NOTIFY_SOCKET names ("/run/systemd/notify", or "@name"
// for the abstract namespace). Thread safe: every send is one sendto().
class NotifySocket {
public:
    // Reads NOTIFY_SOCKET and unsets it, so that nothing the host starts (a
    // plugin, a worker process) can speak for it. Empty without the variable,
    // or when it names something other than an AF_UNIX path (logged as a warning).
    static std::unique_ptr<NotifySocket> fromEnvironment();
    explicit NotifySocket(const std::string& address);  // throws std::runtime_error
    ~NotifySocket();
    NotifySocket(const NotifySocket&) = delete;
    NotifySocket& operator=(const NotifySocket&) = delete;

    // Sends newline-separated assignments ("READY=1\nSTATUS=..."). Never throws;
    // false (and a warning the first time) if the manager did not take it.
    bool send(const std::string& message);

private:
    int fd_ = -1;
    sockaddr_un address_{};
    socklen_t length_ = 0;
    bool warned_ = false;
};

// WATCHDOG_USEC, when it is set and WATCHDOG_PID is unset or this process.
// Both are unset after reading.
std::optional<std::chrono::microseconds> watchdogFromEnvironment();

// The host as the notifier sees it.
class Reporter {
public:
    virtual ~Reporter() = default;
    // One line: "4 services running, 312 sessions". Without `wait`, empty when
    // it cannot be had at once (the host is busy reloading): the timer tries later.
    virtual std::string summary(bool wait) = 0;
    // Each I/O loop's heartbeat counter; it grows on every turn of the loop, and
    // a loop turns at least every sweep interval (100 ms) when nothing happens.
    virtual std::vector<std::uint64_t> heartbeats() const = 0;
};

// Speaks for the host to its service manager: READY/RELOADING/STOPPING with
// STATUS=, a refreshed STATUS= every few seconds when it changed, and WATCHDOG=1
// at half the watchdog interval while every I/O loop keeps beating. A loop that
// has not beaten since the previous ping holds the ping back (and is named in a
// warning), so a host wedged in a plugin callback gets restarted. Thread safe.
class Notifier {
public:
    Notifier(std::unique_ptr<NotifySocket> socket, std::optional<std::chrono::microseconds> watchdog,
             Reporter& reporter, std::chrono::milliseconds statusInterval = std::chrono::seconds(2));
    ~Notifier();  // stops the thread
    Notifier(const Notifier&) = delete;
    Notifier& operator=(const Notifier&) = delete;

    // Start-up is complete: READY=1 with the summary. Starts the STATUS refresh and the watchdog.
    void ready();
    // A reload begins: RELOADING=1 with MONOTONIC_USEC= (nested reloads send it once).
    void reloading();
    // It ended (applied or refused): READY=1 and STATUS= with the summary.
    void reloaded();
    // The drain begins: STOPPING=1. No READY follows.
    void stopping(const std::string& status);
    // STATUS= alone, e.g. the reason the host is about to exit.
    void status(const std::string& line);

private:
    void run();
    void pingWatchdog();
    void refreshStatus(bool force);

    std::unique_ptr<NotifySocket> socket_;
    const std::optional<std::chrono::microseconds> watchdog_;
    Reporter& reporter_;
    const std::chrono::milliseconds statusInterval_;

    std::mutex mutex_;
    std::condition_variable wake_;
    bool ready_ = false;    // ready() was sent: the watchdog runs (through the drain, while the loops turn)
    bool running_ = false;  // ready() was sent and stopping() not yet: STATUS= is refreshed
    bool quit_ = false;
    int reloads_ = 0;         // reloads in progress
    std::string lastStatus_;  // the STATUS= last sent
    std::vector<std::uint64_t> lastBeats_;
    bool holding_ = false;  // the last ping was held back
    std::thread thread_;
};

// The listening sockets a service manager passed (LISTEN_FDS, LISTEN_PID,
// LISTEN_FDNAMES; sd_listen_fds(3)). The variables are unset after reading and
// each descriptor gets FD_CLOEXEC. Descriptors that are not listening stream
// sockets are logged and closed.
struct PassedSocket {
    int fd = -1;
    std::string name;  // its FileDescriptorName=, or "" (systemd's default is "unknown")
};
std::vector<PassedSocket> passedSocketsFromEnvironment();

// Creates the folder `path` (the last component only) for the admin socket when
// it is missing: mode 0755 (what systemd's RuntimeDirectory= makes; the socket
// itself is 0600), owned by `user` and `group` (the user's primary group when
// empty) when a user is configured, so that the host can still replace its
// socket after dropping privileges.
// An existing folder is left as it is, unless others may write to it and it
// is not sticky: then std::runtime_error, as it is when creation fails.
void prepareRuntimeFolder(const std::string& path, const std::string& user, const std::string& group);

}  // namespace plughost::system
