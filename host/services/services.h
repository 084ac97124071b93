#pragma once
// services: one HostedService per configured service — its plugin instance, its
// admission gate (admission.h), its listeners (listeners.h) and the registry of
// its live sessions, and how it starts and drains; Services is the set, with reload.

#include <Poco/Logger.h>
#include <Poco/Net/ServerSocket.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "plugins/plugins.h"
#include "services/admission.h"
#include "services/listeners.h"
#include "sessions/sessions.h"
#include "transports/udp.h"

namespace plughost::services {

enum class State { Disabled, Failed, Running, Stopped };

using admission::HostLimits;
using listeners::SpareSockets;
using udp::SpareUdpSockets;

class HostedService final : public sessions::SessionOwner,
                            public listeners::Target,
                            public udp::UdpOwner,
                            public std::enable_shared_from_this<HostedService> {
public:
    // Loads the plugin and lets it create its instance from the settings. Never
    // throws: a problem leaves the service Failed, with problem() saying why
    // (with file:line:column where it is about the config).
    static std::shared_ptr<HostedService> prepare(const config::ServiceConfig& config,
                                                  const plugins::Catalog& catalog,
                                                  std::shared_ptr<HostLimits> hostLimits = nullptr);
    ~HostedService() override;

    // Listens on every address — taking a spare socket bound earlier where there
    // is one, else binding — and starts accepting. Failed (with the reason) if any bind fails.
    // UDP addresses likewise take a spare UDP socket (`spareUdp`) or bind; each gets an endpoint on one loop.
    void start(sessions::EventLoops& loops, SpareSockets& spare, SpareUdpSockets* spareUdp = nullptr);
    // Stopping is two steps, so many services can drain at once: beginStop()
    // stops accepting, tells the plugin (onStopping) and asks every session to
    // close once its queued output is sent; finishStop() waits until `deadline`
    // for that, then cuts what is left.
    // With `keep`, the listening sockets go there instead of being closed.
    void beginStop(plughost::CloseReason reason, SpareSockets* keep = nullptr,
                   SpareUdpSockets* keepUdp = nullptr);
    void finishStop(plughost::CloseReason reason, std::chrono::steady_clock::time_point deadline);

    const std::string& name() const { return config_.name; }
    const config::ServiceConfig& config() const { return config_; }
    State state() const { return state_.load(); }
    const std::string& problem() const { return problem_; }
    // The config problem, if the failure was one; printed by `check`.
    const std::vector<config::Problem>& configProblems() const { return configProblems_; }
    // The plugin could not be found or loaded (as opposed to refusing its settings).
    bool pluginUnavailable() const { return pluginUnavailable_; }
    std::string pluginVersion() const;
    std::vector<std::string> boundAddresses() const;
    // "http://127.0.0.1:7080/" for each listener that serves static files (https with TLS).
    std::vector<std::string> pageUrls() const;
    const std::shared_ptr<plugins::Library>& library() const { return library_; }
    sessions::Stats& stats() override { return stats_; }
    // Zero counts for a service that never prepared a gate (failed or disabled).
    const admission::Refusals& refusals() const;

    // SessionOwner
    plugins::Instance& plugin() override { return *instance_; }
    plughost::Framing framing() const override { return framing_; }
    const config::Limits& limits() const override { return config_.limits; }
    void pluginFailed(const char* callback, const std::string& what) override;
    void sessionOpened(const std::shared_ptr<sessions::SessionImpl>& session) override;
    void sessionClosed(const sessions::SessionImpl& session) override;
    void tlsFailed(const std::string& peer, transports::TlsFailure failure,
                   const std::string& detail) override;
    // A reload that keeps the service: new handshakes use the certificates `wanted` was read with.
    void refreshTls(const config::ServiceConfig& wanted);

    // udp::UdpOwner: a UDP peer's first datagram is admitted by the same gate, never answered when refused.
    sessions::SessionOwner& owner() override { return *this; }
    admission::Ticket admit(const Poco::Net::IPAddress& address) override;
    void udpRefusedSend(const std::string& peer, std::size_t size, std::size_t max) override;

    // listeners::Target: the gate decides; an admitted connection becomes a session on an I/O loop.
    admission::Ticket admit(Poco::Net::StreamSocket& socket) override;
    admission::Ticket admitQuietly(const Poco::Net::IPAddress& address) override { return admit(address); }
    void adopt(Poco::Net::StreamSocket socket, admission::Ticket ticket,
               std::shared_ptr<const transports::TlsContext> tls,
               std::shared_ptr<const transports::WebSocketSettings> websocket) override;

private:
    HostedService(config::ServiceConfig config, std::shared_ptr<HostLimits> hostLimits);
    void fail(std::string problem);
    std::vector<std::shared_ptr<sessions::SessionImpl>> liveSessions();

    config::ServiceConfig config_;
    std::atomic<State> state_{State::Stopped};  // status reads it while a drain runs
    std::string problem_;
    std::vector<config::Problem> configProblems_;
    bool pluginUnavailable_ = false;
    Poco::Logger& log_;
    // Declared before the instance: members die in reverse, so the plugin's
    // object is destroyed before its library can be unloaded.
    std::shared_ptr<plugins::Library> library_;
    std::unique_ptr<plugins::Instance> instance_;
    plughost::Framing framing_ = plughost::Framing::Raw;
    const std::shared_ptr<HostLimits> hostLimits_;
    std::unique_ptr<admission::Gate> gate_;  // made once the plugin said how it frames
    std::vector<std::unique_ptr<listeners::Listener>> listeners_;
    std::vector<std::pair<std::string, std::shared_ptr<udp::UdpEndpoint>>> udpEndpoints_;  // by address
    sessions::EventLoops* loops_ = nullptr;  // where admitted connections go; set by start()
    sessions::Stats stats_;
    std::mutex sessionsMutex_;
    std::unordered_map<std::uint64_t, std::weak_ptr<sessions::SessionImpl>> sessions_;
};

// What a reload did to one service: "added", "removed", "unchanged",
// "changed (restarted)", "changed (enabled)", "changed (disabled)" or "failed: <reason>".
struct ReloadChange {
    std::string service;
    std::string outcome;
};

// A listening socket the service manager passed (socket activation), with its
// FileDescriptorName= ("" when none was given).
struct ActivatedSocket {
    Poco::Net::ServerSocket socket;
    std::string name;
};

// The running services of the host. Not thread safe: the owner serializes calls.
class Services {
public:
    explicit Services(unsigned ioThreads);
    ~Services();
    // Binds the listen addresses of every enabled service, before any plugin is
    // loaded (and before privileges are dropped); start() then uses these sockets.
    // A passed socket (`activated`) whose address is a service's listen address
    // is used for it instead of binding; one that serves no enabled service is
    // logged and closed. Either way the socket then lives like a bound one: kept
    // through reloads while its address stays, closed when its service goes.
    void bind(const config::HostConfig& config, std::vector<ActivatedSocket> activated = {});
    // Prepares and starts every service of `config` (disabled ones are prepared only).
    void start(const config::HostConfig& config, const plugins::Catalog& catalog);
    // Validate-then-swap: prepares every new or changed service first; if any
    // refuses its settings, nothing changes and the problems are returned.
    // Otherwise removed and changed services stop (sessions closed with
    // CloseReason::Reload), new and changed ones start, unchanged ones — same
    // settings, same plugin bytes — keep their listeners and sessions.
    // The services stopped by the swap are returned in `draining`, their sessions
    // asked to close: the caller waits for them with finishDraining(), outside
    // any lock that status needs.
    std::vector<config::Problem> reload(const config::HostConfig& config, const plugins::Catalog& catalog,
                                        std::vector<ReloadChange>& changes,
                                        std::vector<std::shared_ptr<HostedService>>& draining);
    // Stops accepting everywhere and asks every session to close; returns the
    // services to hand to finishDraining().
    std::vector<std::shared_ptr<HostedService>> beginStop(plughost::CloseReason reason);
    // Waits until `deadline` for the sessions of `draining` to close, then cuts the rest.
    static void finishDraining(const std::vector<std::shared_ptr<HostedService>>& draining,
                               plughost::CloseReason reason, std::chrono::steady_clock::time_point deadline);
    // Both at once: sessions get `drain` to flush and close, then are cut.
    void stop(plughost::CloseReason reason, std::chrono::milliseconds drain);
    const std::vector<std::shared_ptr<HostedService>>& list() const { return services_; }
    const std::shared_ptr<HostLimits>& hostLimits() const { return hostLimits_; }
    // The I/O loops live as long as this object; safe from any thread, no lock needed.
    const sessions::EventLoops& loops() const { return loops_; }

private:
    sessions::EventLoops loops_;
    std::shared_ptr<HostLimits> hostLimits_ = std::make_shared<HostLimits>();
    SpareSockets spare_;
    SpareUdpSockets spareUdp_;
    std::vector<std::shared_ptr<HostedService>> services_;
};

}  // namespace plughost::services
