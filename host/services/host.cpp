#include "services/host.h"

#include <Poco/DateTimeFormat.h>
#include <Poco/DateTimeFormatter.h>
#include <Poco/File.h>
#include <Poco/Logger.h>
#include <Poco/Timestamp.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "system/logging.h"

namespace plughost {

namespace {

std::string isoTime(std::chrono::system_clock::time_point when) {
    const auto micros =
        std::chrono::duration_cast<std::chrono::microseconds>(when.time_since_epoch()).count();
    return Poco::DateTimeFormatter::format(Poco::Timestamp(micros), Poco::DateTimeFormat::ISO8601_FORMAT);
}

Poco::Logger& logger() { return Poco::Logger::get("plughost"); }

}  // namespace

void dropPrivileges(const std::string& user, const std::string& group) {
    const passwd* account = ::getpwnam(user.c_str());
    if (account == nullptr) {
        throw std::runtime_error("cannot drop privileges: no such user " + user);
    }
    gid_t gid = account->pw_gid;
    if (!group.empty()) {
        const struct group* found = ::getgrnam(group.c_str());
        if (found == nullptr) {
            throw std::runtime_error("cannot drop privileges: no such group " + group);
        }
        gid = found->gr_gid;
    }
    const uid_t uid = account->pw_uid;
    // Group first: once the user changes, the process may no longer change its groups.
    if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) {
        throw std::runtime_error("cannot drop privileges to " + user + ": " + std::strerror(errno));
    }
    if (uid != 0 && ::setuid(0) == 0) {
        throw std::runtime_error("dropped to " + user + " but could regain root; refusing to run");
    }
}

Host::Host(config::HostConfig config, std::string pluginDirOverride)
    : config_(std::move(config)),
      pluginDirOverride_(std::move(pluginDirOverride)),
      services_(config_.workers),
      startedAt_(std::chrono::steady_clock::now()),
      configLoadedAt_(std::chrono::system_clock::now()) {
    if (!pluginDirOverride_.empty()) {
        config_.pluginDir = pluginDirOverride_;
    }
}

Host::~Host() = default;

void Host::bind(std::vector<services::ActivatedSocket> activated) {
    std::lock_guard<std::mutex> lock(mutex_);
    services_.bind(config_, std::move(activated));
}

void Host::onReload(std::function<void()> begin, std::function<void()> end) {
    std::lock_guard<std::mutex> lock(mutex_);
    reloadBegins_ = std::move(begin);
    reloadEnds_ = std::move(end);
}

void Host::start() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& warning : config_.warnings) {
        logger().warning("%s", warning.format());  // an expired certificate: served, and said
    }
    catalog_ = plugins::Catalog::scan(config_.pluginDir);
    for (const auto& entry : catalog_.entries()) {
        if (entry.loaded()) {
            logging::about(logger(), Poco::Message::PRIO_INFORMATION, "", entry.name,
                           "plugin " + entry.name + " " + entry.version + " from " + entry.path);
        } else {
            logger().warning("plugin rejected: %s", entry.rejection);
        }
    }
    services_.start(config_, catalog_);
    logServices();
}

void Host::logServices() const {
    using services::State;
    for (const auto& service : services_.list()) {
        if (service->state() == State::Running) {
            std::string addresses;
            for (const auto& address : service->boundAddresses()) {
                addresses += (addresses.empty() ? "" : ", ") + address;
            }
            logging::about(logger(), Poco::Message::PRIO_INFORMATION, service->name(),
                           service->config().plugin,
                           "service " + service->name() + ": plugin " + service->config().plugin + " " +
                               service->pluginVersion() + " listening on " + addresses);
            for (const auto& url : service->pageUrls()) {
                logging::about(logger(), Poco::Message::PRIO_INFORMATION, service->name(),
                               service->config().plugin,
                               "service " + service->name() + ": open " + url + " in a browser");
            }
        } else if (service->state() == State::Disabled) {
            logging::about(logger(), Poco::Message::PRIO_INFORMATION, service->name(),
                           service->config().plugin, "service " + service->name() + ": disabled");
        } else {
            logging::about(logger(), Poco::Message::PRIO_ERROR, service->name(), service->config().plugin,
                           "service " + service->name() + ": failed: " + service->problem());
        }
    }
}

ReloadResult Host::reload() {
    ReloadResult result;
    std::vector<std::shared_ptr<services::HostedService>> draining;
    std::chrono::milliseconds drain{0};
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stopping_) {
            result.errors.push_back(config_.file + ": the host is stopping; reload refused");
            ++failedReloads_;
            logger().warning("reload refused: the host is stopping");
            return result;
        }
        if (reloadBegins_) {
            reloadBegins_();
        }
        config::HostConfig next;
        try {
            next = config::loadFile(config_.file);
        } catch (const config::ConfigError& error) {
            for (const auto& problem : error.problems()) {
                result.errors.push_back(problem.format());
            }
        }
        if (result.errors.empty()) {
            if (!pluginDirOverride_.empty()) {
                next.pluginDir = pluginDirOverride_;
            }
            plugins::Catalog catalog = plugins::Catalog::scan(next.pluginDir, &catalog_);
            const auto problems = services_.reload(next, catalog, result.changes, draining);
            for (const auto& problem : problems) {
                result.errors.push_back(problem.format());
            }
            if (problems.empty()) {
                for (const auto& warning : next.warnings) {
                    logger().warning("%s", warning.format());
                }
                // Settings that only take effect at start (workers, admin, log level and format) keep
                // their old values.
                next.workers = config_.workers;
                next.logLevel = config_.logLevel;
                next.logFormat = config_.logFormat;
                next.admin = config_.admin;
                drain = next.drain;
                config_ = std::move(next);
                catalog_ = std::move(catalog);
                configLoadedAt_ = std::chrono::system_clock::now();
            }
        }
        result.ok = result.errors.empty();
        ++(result.ok ? reloads_ : failedReloads_);
        lastReloadError_ = result.ok ? "" : result.errors.front();
    }
    // The stopped services' sessions drain outside the lock.
    services::Services::finishDraining(draining, plughost::CloseReason::Reload,
                                       std::chrono::steady_clock::now() + drain);
    if (result.ok) {
        for (const auto& change : result.changes) {
            logging::about(logger(), Poco::Message::PRIO_INFORMATION, change.service, "",
                           "reload: service " + change.service + ": " + change.outcome);
        }
    } else {
        for (const auto& error : result.errors) {
            logger().error("reload refused, the running configuration is unchanged: %s", error);
        }
    }
    if (reloadEnds_) {
        reloadEnds_();
    }
    return result;
}

void Host::stop(plughost::CloseReason reason) {
    std::vector<std::shared_ptr<services::HostedService>> draining;
    std::chrono::milliseconds drain{0};
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
        draining = services_.beginStop(reason);
        drain = config_.drain;
    }
    services::Services::finishDraining(draining, reason, std::chrono::steady_clock::now() + drain);
}

HostStatus Host::status() const {
    std::lock_guard<std::mutex> lock(mutex_);
    HostStatus status;
    status.version = PLUGHOST_VERSION;
    status.pid = static_cast<long>(::getpid());
    status.uptimeSeconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - startedAt_).count();
    status.configFile = config_.file;
    status.configLoadedAt = isoTime(configLoadedAt_);
    status.pluginDir = config_.pluginDir;
    status.reloads = reloads_;
    status.failedReloads = failedReloads_;
    for (const auto& service : services_.list()) {
        ServiceStatus row;
        row.name = service->name();
        row.plugin = service->config().plugin;
        row.pluginVersion = service->pluginVersion();
        row.enabled = service->config().enabled;
        row.listen = service->boundAddresses();
        if (row.listen.empty()) {
            for (const auto& address : service->config().listen) {
                row.listen.push_back(address.text());
            }
        }
        switch (service->state()) {
            case services::State::Running:
                row.state = "running";
                break;
            case services::State::Disabled:
                row.state = "disabled";
                break;
            case services::State::Failed:
                row.state = "failed: " + service->problem();
                break;
            case services::State::Stopped:
                row.state = "stopped";
                break;
        }
        auto& stats = service->stats();
        row.current = stats.current.load();
        row.accepted = stats.accepted.load();
        row.bytesIn = stats.bytesIn.load();
        row.bytesOut = stats.bytesOut.load();
        row.errors = stats.errors.load();
        row.tooSlow = stats.tooSlow.load();
        row.counters = stats.plugin->snapshot();
        for (const auto& bucket : stats.sessionDurations.buckets) {
            row.sessionDurationBuckets.push_back(bucket.load(std::memory_order_relaxed));
        }
        row.sessionDurationSeconds =
            static_cast<double>(stats.sessionDurations.sumMicroseconds.load(std::memory_order_relaxed)) / 1e6;
        const auto& refusals = service->refusals();
        row.refused = {{"limit", refusals.limit.load()},
                       {"per_ip", refusals.perIp.load()},
                       {"rate", refusals.rate.load()},
                       {"acl", refusals.acl.load()}};
        for (const auto& address : service->config().listen) {
            row.tls = row.tls || address.tls != nullptr;
        }
        if (row.tls) {
            row.tlsHandshakes = stats.tlsHandshakes.load();
            for (std::size_t i = 0; i < transports::kTlsFailureCount; ++i) {
                row.tlsFailed[transports::failureName(static_cast<transports::TlsFailure>(i))] =
                    stats.tlsFailed[i].load();
            }
        }
        for (const auto& address : service->config().listen) {
            row.udp = row.udp || address.udp;
            row.websocket = row.websocket || address.websocket != nullptr;
        }
        if (row.websocket) {
            row.wsUpgrades = stats.wsUpgrades.load();
            row.httpRequests = stats.httpRequests.load();
            for (std::size_t i = 0; i < transports::kWsRefusalCount; ++i) {
                row.wsRefused[transports::refusalName(static_cast<transports::WsRefusal>(i))] =
                    stats.wsRefused[i].load();
            }
        }
        if (row.udp) {
            row.udpIn = stats.udpIn.load();
            row.udpOut = stats.udpOut.load();
            for (std::size_t i = 0; i < sessions::kUdpDropCount; ++i) {
                row.udpDropped[sessions::udpDropName(static_cast<sessions::UdpDrop>(i))] =
                    stats.udpDropped[i].load();
            }
        }
        status.services.push_back(std::move(row));
    }
    return status;
}

std::vector<PluginStatus> Host::plugins() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<PluginStatus> rows;
    for (const auto& entry : catalog_.entries()) {
        PluginStatus row;
        row.path = entry.path;
        row.name = entry.name;
        row.version = entry.version;
        row.description = entry.description;
        row.abi = entry.abi;
        row.state = entry.loaded() ? "loaded" : "rejected: " + entry.rejection;
        for (const auto& service : services_.list()) {
            if (entry.loaded() && service->config().plugin == entry.name) {
                row.services.push_back(service->name());
            }
        }
        rows.push_back(std::move(row));
    }
    return rows;
}

std::vector<std::string> Host::boundAddressLines() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::string> lines;
    for (const auto& service : services_.list()) {
        for (const auto& address : service->boundAddresses()) {
            lines.push_back(service->name() + " " + address);
        }
    }
    return lines;
}

std::size_t Host::enabledCount() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::size_t count = 0;
    for (const auto& service : services_.list()) {
        count += service->config().enabled ? 1 : 0;
    }
    return count;
}

std::size_t Host::runningCount() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::size_t count = 0;
    for (const auto& service : services_.list()) {
        count += service->state() == services::State::Running ? 1 : 0;
    }
    return count;
}

std::string Host::summary(bool wait) const {
    std::unique_lock<std::mutex> lock(mutex_, std::defer_lock);
    if (wait) {
        lock.lock();
    } else if (!lock.try_lock()) {
        return "";
    }
    std::size_t enabled = 0;
    std::size_t running = 0;
    std::uint64_t sessions = 0;
    std::string failed;
    for (const auto& service : services_.list()) {
        enabled += service->config().enabled ? 1 : 0;
        sessions += service->stats().current.load();
        if (service->state() == services::State::Running) {
            ++running;
        } else if (service->state() == services::State::Failed) {
            failed += "; " + service->name() + " failed: " + service->problem();
        }
    }
    std::string line = running == enabled ? std::to_string(running)
                                          : std::to_string(running) + " of " + std::to_string(enabled);
    line += (enabled == 1 ? " service running, " : " services running, ") + std::to_string(sessions) +
            (sessions == 1 ? " session" : " sessions") + failed;
    if (!lastReloadError_.empty()) {
        line += "; last reload refused: " + lastReloadError_;
    }
    return line;
}

std::vector<std::uint64_t> Host::heartbeats() const { return services_.loops().heartbeats(); }

bool Host::watching() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return config_.watch;
}

std::string Host::configFile() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return config_.file;
}

std::string Host::pluginDir() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return config_.pluginDir;
}

}  // namespace plughost

namespace plughost {

// The starting fingerprint is taken here, before the caller announces readiness:
// taken on the thread, it could already include a change made right after start-up
// and that change would never be seen.
Watcher::Watcher(Host& host, std::chrono::milliseconds debounce)
    : host_(host), debounce_(debounce), settled_(fingerprint()), thread_([this] { run(); }) {}

Watcher::~Watcher() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
}

// Names, sizes and modification times of everything watched.
std::string Watcher::fingerprint() const {
    std::string print;
    auto add = [&](const Poco::File& file) {
        try {
            print += file.path() + ":" + std::to_string(file.getSize()) + ":" +
                     std::to_string(file.getLastModified().epochMicroseconds()) + "\n";
        } catch (const Poco::Exception&) {
            print += file.path() + ":gone\n";
        }
    };
    add(Poco::File(host_.configFile()));
    try {
        std::vector<Poco::File> files;
        Poco::File(host_.pluginDir()).list(files);
        std::sort(files.begin(), files.end(),
                  [](const Poco::File& a, const Poco::File& b) { return a.path() < b.path(); });
        for (const auto& file : files) {
            add(file);
        }
    } catch (const Poco::Exception&) {
        print += "plugin folder unreadable\n";
    }
    return print;
}

void Watcher::run() {
    constexpr auto kPoll = std::chrono::milliseconds(100);
    std::string settled = settled_;
    std::string seen = settled;
    auto changedAt = std::chrono::steady_clock::now();
    std::unique_lock<std::mutex> lock(mutex_);
    while (!wake_.wait_for(lock, kPoll, [this] { return stopping_; })) {
        if (!host_.watching()) {
            continue;
        }
        const std::string now = fingerprint();
        if (now != seen) {
            seen = now;
            changedAt = std::chrono::steady_clock::now();
        } else if (seen != settled && std::chrono::steady_clock::now() - changedAt >= debounce_) {
            logger().information("watch: %s or %s changed; reloading", host_.configFile(), host_.pluginDir());
            host_.reload();
            settled = fingerprint();
            seen = settled;
        }
    }
}

}  // namespace plughost
