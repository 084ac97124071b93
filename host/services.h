#pragma once
// services: one HostedService per configured service — the plugin instance, its
// listeners (Poco TCPServer, one per address) and its live sessions; Services is the set.

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <Poco/Logger.h>

#include "config.h"
#include "plugins.h"
#include "sessions.h"

namespace plughost::services {

// Bytes below 0x20 and 0x7f shown as escapes, so a client cannot forge log lines
// or drive the operator's terminal.
std::string escapeControl(std::string_view text);

enum class State { Disabled, Failed, Running, Stopped };
const char* stateName(State state);

// Why connections were turned away before a session began.
struct Refusals {
    std::atomic<std::uint64_t> limit{0};  // max_connections
};

class Listener;

class HostedService final : public sessions::SessionOwner, public std::enable_shared_from_this<HostedService> {
public:
    // Loads the plugin and lets it create its instance from the settings. Never
    // throws: a problem leaves the service Failed, with problem() saying why
    // (with file:line:column where it is about the config).
    static std::shared_ptr<HostedService> prepare(const config::ServiceConfig& config, const plugins::Catalog& catalog);
    ~HostedService() override;

    // Binds every listen address and starts accepting. Failed (with the reason) if any bind fails.
    void start(sessions::EventLoops& loops);
    // Stops accepting, tells the plugin, closes every session for `reason` and
    // waits (up to `deadline`) for them to finish.
    void stop(plughost::CloseReason reason, std::chrono::steady_clock::time_point deadline);

    const std::string& name() const { return config_.name; }
    const config::ServiceConfig& config() const { return config_; }
    State state() const { return state_; }
    const std::string& problem() const { return problem_; }
    // The config problem, if the failure was one; printed by `check`.
    const std::vector<config::Problem>& configProblems() const { return configProblems_; }
    // The plugin could not be found or loaded (as opposed to refusing its settings).
    bool pluginUnavailable() const { return pluginUnavailable_; }
    std::string pluginVersion() const;
    std::vector<std::string> boundAddresses() const;
    const std::shared_ptr<plugins::Library>& library() const { return library_; }
    sessions::Stats& stats() override { return stats_; }
    const Refusals& refusals() const { return refusals_; }

    // SessionOwner
    plughost::Service& plugin() override { return *instance_; }
    plughost::Framing framing() const override { return framing_; }
    const config::Limits& limits() const override { return config_.limits; }
    void pluginFailed(const char* callback, const std::string& what) override;
    void sessionOpened(const std::shared_ptr<sessions::SessionImpl>& session) override;
    void sessionClosed(std::uint64_t id) override;

    // Admission on the accept thread: false refuses the connection.
    bool admit(Poco::Net::StreamSocket& socket);
    void released() { admitted_.fetch_sub(1, std::memory_order_relaxed); }

private:
    explicit HostedService(config::ServiceConfig config);
    void fail(std::string problem);

    config::ServiceConfig config_;
    State state_ = State::Stopped;
    std::string problem_;
    std::vector<config::Problem> configProblems_;
    bool pluginUnavailable_ = false;
    Poco::Logger& log_;
    // Declared before the instance: members die in reverse, so the plugin's
    // object is destroyed before its library can be unloaded.
    std::shared_ptr<plugins::Library> library_;
    std::unique_ptr<plughost::ServiceContext> context_;
    std::unique_ptr<plughost::Service> instance_;
    plughost::Framing framing_ = plughost::Framing::Raw;
    std::vector<std::unique_ptr<Listener>> listeners_;
    sessions::Stats stats_;
    Refusals refusals_;
    std::atomic<std::size_t> admitted_{0};
    std::mutex sessionsMutex_;
    std::unordered_map<std::uint64_t, std::weak_ptr<sessions::SessionImpl>> sessions_;
};

// What a reload did to one service: "added", "removed", "unchanged",
// "changed (restarted)", "changed (enabled)", "changed (disabled)" or "failed: <reason>".
struct ReloadChange {
    std::string service;
    std::string outcome;
};

// The running services of the host. Not thread safe: the owner serializes calls.
class Services {
public:
    explicit Services(unsigned ioThreads);
    ~Services();
    // Prepares and starts every service of `config` (disabled ones are prepared only).
    void start(const config::HostConfig& config, const plugins::Catalog& catalog);
    // Validate-then-swap: prepares every new or changed service first; if any
    // refuses its settings, nothing changes and the problems are returned.
    // Otherwise removed and changed services stop (sessions closed with
    // CloseReason::Reload), new and changed ones start, unchanged ones — same
    // settings, same plugin bytes — keep their listeners and sessions.
    std::vector<config::Problem> reload(const config::HostConfig& config, const plugins::Catalog& catalog,
                                        std::vector<ReloadChange>& changes);
    // Stops them all, closing sessions for `reason`, within `timeout`.
    void stop(plughost::CloseReason reason, std::chrono::milliseconds timeout);
    const std::vector<std::shared_ptr<HostedService>>& list() const { return services_; }

private:
    sessions::EventLoops loops_;
    std::vector<std::shared_ptr<HostedService>> services_;
};

}  // namespace plughost::services
