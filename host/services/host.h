#pragma once
// host: the daemon's state in one place — config, plugin catalog, services —
// with the operations the admin endpoint and signals need: status, reload, stop.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "plugins/plugins.h"
#include "services/services.h"

namespace plughost {

// Switches to `user` (and `group`, or the user's primary group) for good,
// dropping supplementary groups. Throws std::runtime_error saying what failed.
void dropPrivileges(const std::string& user, const std::string& group);

struct ServiceStatus {
    std::string name;
    std::string plugin;
    std::string pluginVersion;
    std::vector<std::string> listen;  // bound addresses when running, configured ones otherwise
    std::string state;                // "running", "disabled", "failed: <reason>"
    bool enabled = true;
    std::uint64_t current = 0, accepted = 0, bytesIn = 0, bytesOut = 0, errors = 0, tooSlow = 0;
    std::map<std::string, std::uint64_t> counters;  // the plugin's own (service_count), by name
    std::map<std::string, std::uint64_t> refused;   // by reason
    bool tls = false;                               // some listen address speaks TLS
    std::uint64_t tlsHandshakes = 0;
    std::map<std::string, std::uint64_t> tlsFailed;   // by reason (transports::failureName)
    bool websocket = false;                           // some listen address speaks WebSocket
    std::uint64_t wsUpgrades = 0;                     // upgrades that reached the plugin
    std::uint64_t httpRequests = 0;                   // static file requests answered
    std::map<std::string, std::uint64_t> wsRefused;   // refused upgrades by reason (transports::refusalName)
    bool udp = false;                                 // some listen address is UDP
    std::uint64_t udpIn = 0;                          // datagrams received (dropped ones included)
    std::uint64_t udpOut = 0;                         // datagrams sent
    std::map<std::string, std::uint64_t> udpDropped;  // by reason (sessions::udpDropName)
    // Sessions that ended, by duration: one count per bucket of
    // sessions::DurationHistogram::kBoundsSeconds, the last one above them all (not cumulative).
    std::vector<std::uint64_t> sessionDurationBuckets;
    double sessionDurationSeconds = 0;  // their durations summed
};

struct HostStatus {
    std::string version;
    long pid = 0;
    double uptimeSeconds = 0;
    std::string configFile;
    std::string configLoadedAt;  // ISO 8601, UTC
    std::string pluginDir;
    std::uint64_t reloads = 0, failedReloads = 0;
    std::vector<ServiceStatus> services;
};

struct PluginStatus {
    std::string path, name, version, description;
    std::string abi;    // "2.1"; empty when rejected before it was read
    std::string state;  // "loaded" or "rejected: <reason>"
    std::vector<std::string> services;
};

struct ReloadResult {
    bool ok = false;
    std::vector<std::string> errors;              // file:line:column: key: message
    std::vector<services::ReloadChange> changes;  // per service, when ok
};

// Thread safe: every public call is serialized.
class Host {
public:
    // `pluginDirOverride` (from --plugin-dir) wins over the config's plugin_dir, at start and on reload.
    Host(config::HostConfig config, std::string pluginDirOverride);
    ~Host();

    // Binds every enabled service's listen addresses (call before dropping
    // privileges), using the service manager's passed sockets where they match.
    void bind(std::vector<services::ActivatedSocket> activated = {});
    // Called at the start and at the end of every reload that is not refused
    // for a stopping host (the end also after a refused config), on the
    // reloading thread. Set once, before anything can reload.
    void onReload(std::function<void()> begin, std::function<void()> end);
    // Scans the plugin folder and starts every service; logs one line per service.
    void start();
    // Re-reads the config file and rescans the plugin folder (see Services::reload).
    // Sessions of the services it stops get the new config's `drain`; the host's
    // lock is not held meanwhile, so status and metrics answer during the drain.
    // Refused once stop() has begun.
    ReloadResult reload();
    // Stops every service; sessions get the config's `drain` to flush and close
    // (again without holding the lock for the drain).
    void stop(plughost::CloseReason reason);

    HostStatus status() const;
    std::vector<PluginStatus> plugins() const;
    std::vector<std::string> boundAddressLines() const;  // "SERVICE ADDRESS", for the ready file
    std::size_t enabledCount() const;
    std::size_t runningCount() const;
    // One line for the service manager: "4 services running, 312 sessions", with
    // failed services and a refused last reload named. Empty if the host's lock
    // is busy (a reload is preparing plugins): callers on a timer try later.
    std::string summary(bool wait = true) const;
    // Each I/O loop's heartbeat (sessions::EventLoop::heartbeat); lock-free.
    std::vector<std::uint64_t> heartbeats() const;
    // The files `watch: true` looks at, and whether it is on.
    bool watching() const;
    std::string configFile() const;
    std::string pluginDir() const;

private:
    void logServices() const;

    mutable std::mutex mutex_;
    config::HostConfig config_;
    const std::string pluginDirOverride_;
    plugins::Catalog catalog_;
    services::Services services_;
    const std::chrono::steady_clock::time_point startedAt_;
    std::chrono::system_clock::time_point configLoadedAt_;
    std::uint64_t reloads_ = 0;
    std::uint64_t failedReloads_ = 0;
    std::string lastReloadError_;  // why the last reload was refused; empty after one that applied
    bool stopping_ = false;
    std::function<void()> reloadBegins_;
    std::function<void()> reloadEnds_;
};

}  // namespace plughost

namespace plughost {

// `watch: true`: polls the config file and the plugin folder and reloads once
// a change has stayed put for the debounce period, so a half-copied .so or an
// editor's save in progress is not picked up. Polling (not inotify) keeps it
// simple and also sees files replaced by rename.
class Watcher {
public:
    explicit Watcher(Host& host, std::chrono::milliseconds debounce = std::chrono::milliseconds(500));
    ~Watcher();
    Watcher(const Watcher&) = delete;
    Watcher& operator=(const Watcher&) = delete;

private:
    std::string fingerprint() const;
    void run();

    Host& host_;
    const std::chrono::milliseconds debounce_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    const std::string settled_;  // what was there when watching began
    std::thread thread_;
};

}  // namespace plughost
