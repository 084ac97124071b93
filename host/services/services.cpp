#include "services/services.h"

#include <Poco/Net/NetException.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "plugins/context.h"
#include "system/logging.h"

namespace plughost::services {

HostedService::HostedService(config::ServiceConfig config, std::shared_ptr<HostLimits> hostLimits)
    : config_(std::move(config)),
      log_(Poco::Logger::get("plughost")),
      hostLimits_(hostLimits ? std::move(hostLimits) : std::make_shared<HostLimits>()) {}

HostedService::~HostedService() { listeners_.clear(); }

void HostedService::fail(std::string problem) {
    state_ = State::Failed;
    problem_ = std::move(problem);
}

std::shared_ptr<HostedService> HostedService::prepare(const config::ServiceConfig& config,
                                                      const plugins::Catalog& catalog,
                                                      std::shared_ptr<HostLimits> hostLimits) {
    std::shared_ptr<HostedService> service(
        new HostedService(config, std::move(hostLimits)));  // private constructor
    const std::string path = "services." + config.name;
    std::string why;
    service->library_ = catalog.find(config.plugin, why);
    if (!service->library_) {
        service->pluginUnavailable_ = true;
        service->configProblems_.push_back({config.at, path + ".plugin", why});
        service->fail(why);
        return service;
    }
    service->instance_ = plugins::Instance::create(service->library_, config, service->configProblems_,
                                                   service->stats_.plugin);
    if (!service->instance_) {
        service->fail(service->configProblems_.front().format());
        return service;
    }
    service->framing_ = service->instance_->framing();
    service->gate_ = std::make_unique<admission::Gate>(config.name, config.limits, service->hostLimits_,
                                                       service->framing_ == plughost::Framing::Lines);
    service->state_ = config.enabled ? State::Stopped : State::Disabled;
    if (!config.enabled) {
        service->instance_.reset();  // validated, but a disabled service holds no plugin state
    }
    return service;
}

void HostedService::start(sessions::EventLoops& loops, SpareSockets& spare, SpareUdpSockets* spareUdp) {
    if (state_ != State::Stopped) {
        return;
    }
    loops_ = &loops;
    for (const auto& address : config_.listen) {
        if (address.udp) {
            std::shared_ptr<udp::UdpSocket> socket;
            const auto found =
                spareUdp != nullptr ? spareUdp->find(address.text()) : SpareUdpSockets::iterator();
            if (spareUdp != nullptr && found != spareUdp->end()) {
                socket = found->second;
                spareUdp->erase(found);
            } else {
                try {
                    socket = std::make_shared<udp::UdpSocket>(address);
                } catch (const std::system_error& error) {
                    std::string reason =
                        "cannot listen on " + address.text() + "/udp: " + error.code().message();
                    if (address.port > 0 && address.port < 1024 && ::geteuid() != 0) {
                        reason +=
                            " (a port below 1024 needs root or CAP_NET_BIND_SERVICE; the host binds its "
                            "ports at start, before dropping privileges, so a new one needs a restart)";
                    }
                    listeners_.clear();
                    udpEndpoints_.clear();
                    fail(reason);
                    return;
                }
            }
            udpEndpoints_.emplace_back(
                address.text(),
                std::make_shared<udp::UdpEndpoint>(std::move(socket), shared_from_this(), loops.next()));
            continue;
        }
        const auto found = spare.find(address.text());
        try {
            Poco::Net::ServerSocket socket = found != spare.end() ? found->second : listeners::bind(address);
            if (found != spare.end()) {
                spare.erase(found);
            }
            listeners_.push_back(std::make_unique<listeners::Listener>(
                socket, weak_from_this(), address.tls ? address.tls->context : nullptr, address.websocket));
        } catch (const Poco::Exception& error) {
            std::string reason = "cannot listen on " + address.text() + ": " + error.message();
            if (address.port > 0 && address.port < 1024 && ::geteuid() != 0) {
                reason +=
                    " (a port below 1024 needs root or CAP_NET_BIND_SERVICE; the host binds its ports at "
                    "start, "
                    "before dropping privileges, so a new one needs a restart)";
            }
            listeners_.clear();
            udpEndpoints_.clear();
            fail(reason);
            return;
        }
    }
    for (auto& listener : listeners_) {
        listener->start();
    }
    for (auto& endpoint : udpEndpoints_) {
        endpoint.second->start();
    }
    state_ = State::Running;
}

std::vector<std::shared_ptr<sessions::SessionImpl>> HostedService::liveSessions() {
    std::vector<std::shared_ptr<sessions::SessionImpl>> live;
    std::lock_guard<std::mutex> lock(sessionsMutex_);
    for (const auto& entry : sessions_) {
        if (auto session = entry.second.lock()) {
            live.push_back(std::move(session));
        }
    }
    return live;
}

void HostedService::beginStop(plughost::CloseReason reason, SpareSockets* keep, SpareUdpSockets* keepUdp) {
    std::size_t tcp = 0;
    for (const auto& address : config_.listen) {
        if (!address.udp && tcp < listeners_.size()) {
            listeners_[tcp++]->stop(address.text(), keep);
        }
    }
    for (; tcp < listeners_.size(); ++tcp) {
        listeners_[tcp]->stop("", nullptr);
    }
    // UDP sessions have no output queued: they end at once (on their loop), and the socket goes to the
    // successor. The endpoint lets go of this service once its sessions ended.
    for (auto& [address, endpoint] : udpEndpoints_) {
        endpoint->stop(reason, address, keepUdp);
    }
    udpEndpoints_.clear();
    if (state_ != State::Running) {
        return;
    }
    if (!instance_->stopping()) {
        pluginFailed("on_stopping", plugins::Instance::failure());
    }
    for (const auto& session : liveSessions()) {
        session->closeGracefully(reason);
    }
}

void HostedService::finishStop(plughost::CloseReason reason, std::chrono::steady_clock::time_point deadline) {
    if (state_ != State::Running) {
        return;
    }
    auto waitUntil = [this](std::chrono::steady_clock::time_point until) {
        while (stats_.current.load() > 0 && std::chrono::steady_clock::now() < until) {
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    };
    waitUntil(deadline);
    // Whoever has not read their last bytes by now is cut off.
    for (const auto& session : liveSessions()) {
        session->abort(reason);
    }
    waitUntil(std::max(deadline, std::chrono::steady_clock::now()) + std::chrono::seconds(1));
    state_ = State::Stopped;
}

std::string HostedService::pluginVersion() const { return library_ ? library_->version() : ""; }

std::vector<std::string> HostedService::boundAddresses() const {
    std::vector<std::string> addresses;
    for (const auto& listener : listeners_) {
        addresses.push_back(listener->bound());
    }
    for (const auto& endpoint : udpEndpoints_) {
        addresses.push_back(endpoint.second->bound() + "/udp");
    }
    return addresses;
}

std::vector<std::string> HostedService::pageUrls() const {
    std::vector<std::string> urls;
    for (const auto& listener : listeners_) {
        if (listener->servesPage()) {
            std::string address = listener->bound();
            // A wildcard is not an address a browser can open: the loopback one of its family is.
            if (address.rfind("0.0.0.0:", 0) == 0) {
                address = "127.0.0.1" + address.substr(7);
            } else if (address.rfind("[::]:", 0) == 0) {
                address = "[::1]" + address.substr(4);
            }
            urls.push_back((listener->tls() ? "https://" : "http://") + address + "/");
        }
    }
    return urls;
}

void HostedService::pluginFailed(const char* callback, const std::string& what) {
    logging::about(log_, Poco::Message::PRIO_ERROR, config_.name, config_.plugin,
                   config_.name + " (plugin " + config_.plugin + "): " + callback +
                       " failed: " + context::escapeControl(what));
}

const admission::Refusals& HostedService::refusals() const {
    static const admission::Refusals none;
    return gate_ ? gate_->refusals() : none;
}

admission::Ticket HostedService::admit(Poco::Net::StreamSocket& socket) {
    return gate_ ? gate_->admit(socket) : admission::Ticket();
}

admission::Ticket HostedService::admit(const Poco::Net::IPAddress& address) {
    return gate_ ? gate_->admit(address) : admission::Ticket();
}

void HostedService::udpRefusedSend(const std::string& peer, std::size_t size, std::size_t max) {
    logging::about(log_, Poco::Message::PRIO_WARNING, config_.name, config_.plugin,
                   "service " + config_.name + ": a send of " + std::to_string(size) + " bytes to UDP peer " +
                       peer + " was refused: one datagram holds at most " + std::to_string(max) +
                       " bytes, and the host does not split a send (told once per session)");
}

void HostedService::adopt(Poco::Net::StreamSocket socket, admission::Ticket ticket,
                          std::shared_ptr<const transports::TlsContext> tls,
                          std::shared_ptr<const transports::WebSocketSettings> websocket) {
    loops_->adopt(std::move(socket), shared_from_this(), std::move(ticket), std::move(tls),
                  std::move(websocket));
}

void HostedService::tlsFailed(const std::string& peer, transports::TlsFailure failure,
                              const std::string& detail) {
    // Scanners and port probes fail handshakes all day: counted in status, told only at debug level.
    if (log_.debug()) {
        log_.debug("service %s: TLS handshake from %s failed: %s (%s)", config_.name, peer,
                   std::string(transports::failureName(failure)), detail);
    }
}

void HostedService::refreshTls(const config::ServiceConfig& wanted) {
    for (std::size_t i = 0; i < listeners_.size() && i < wanted.listen.size(); ++i) {
        if (wanted.listen[i].tls) {
            listeners_[i]->setTls(wanted.listen[i].tls->context);
        }
    }
}

void HostedService::sessionOpened(const std::shared_ptr<sessions::SessionImpl>& session) {
    std::lock_guard<std::mutex> lock(sessionsMutex_);
    sessions_.emplace(session->id(), session);
}

void HostedService::sessionClosed(const sessions::SessionImpl& session) {
    std::lock_guard<std::mutex> lock(sessionsMutex_);
    sessions_.erase(session.id());
}

Services::Services(unsigned ioThreads) : loops_(ioThreads) {}

Services::~Services() { stop(plughost::CloseReason::Shutdown, std::chrono::milliseconds(1000)); }

void Services::bind(const config::HostConfig& config, std::vector<ActivatedSocket> activated) {
    Poco::Logger& log = Poco::Logger::get("plughost");
    for (const auto& service : config.services) {
        for (const auto& address : service.enabled ? service.listen : std::vector<config::ListenAddress>{}) {
            if (address.udp) {
                try {
                    spareUdp_.emplace(address.text(), std::make_shared<udp::UdpSocket>(address));
                } catch (const std::system_error&) {
                    // As for TCP: the service binds again when it starts and fails there, with the reason.
                }
                continue;
            }
            const auto passed = std::find_if(
                activated.begin(), activated.end(),
                [&](const ActivatedSocket& each) { return listeners::serves(each.socket, address); });
            if (passed != activated.end()) {
                log.information("service %s: listening on %s with the socket the service manager passed%s",
                                service.name, address.text(),
                                passed->name.empty() ? std::string() : " (" + passed->name + ")");
                spare_.emplace(address.text(), passed->socket);
                activated.erase(passed);
                continue;
            }
            try {
                spare_.emplace(address.text(), listeners::bind(address));
            } catch (const Poco::Exception&) {
                // The service binds again when it starts and fails there, with the reason.
            }
        }
    }
    for (auto& unused : activated) {
        std::string address = "?";
        try {
            address = unused.socket.address().toString();
        } catch (const Poco::Exception&) {
        }
        std::string hint;
        if (const auto* named = config.find(unused.name)) {
            hint = "; its name is service " + named->name +
                   "'s, but names do not select: the address must be one "
                   "of the service's listen addresses";
        }
        log.warning("socket activation: the passed socket %s%s serves no enabled service; closed%s", address,
                    unused.name.empty() ? std::string() : " (" + unused.name + ")", hint);
        try {
            unused.socket.close();
        } catch (const Poco::Exception&) {
        }
    }
}

void Services::start(const config::HostConfig& config, const plugins::Catalog& catalog) {
    hostLimits_->setMaxConnections(config.maxConnections);
    for (const auto& serviceConfig : config.services) {
        auto service = HostedService::prepare(serviceConfig, catalog, hostLimits_);
        service->start(loops_, spare_, &spareUdp_);
        services_.push_back(std::move(service));
    }
    spare_.clear();  // sockets of services that failed to prepare
    spareUdp_.clear();
}

namespace {

// Same settings, same plugin bytes, and not failed: nothing to restart.
bool unchanged(const HostedService& running, const config::ServiceConfig& wanted,
               const plugins::Catalog& catalog) {
    if (running.state() == State::Failed || running.config().fingerprint() != wanted.fingerprint()) {
        return false;
    }
    std::string why;
    const auto library = catalog.find(wanted.plugin, why);
    return library && running.library() && library->contentHash() == running.library()->contentHash();
}

}  // namespace

std::vector<config::Problem> Services::reload(const config::HostConfig& config,
                                              const plugins::Catalog& catalog,
                                              std::vector<ReloadChange>& changes,
                                              std::vector<std::shared_ptr<HostedService>>& draining) {
    changes.clear();
    draining.clear();
    std::map<std::string, std::shared_ptr<HostedService>> current;
    for (const auto& service : services_) {
        current.emplace(service->name(), service);
    }
    // Validate: everything new is prepared before anything running is touched.
    std::vector<std::shared_ptr<HostedService>> next;
    std::vector<std::shared_ptr<HostedService>> fresh;
    std::vector<config::Problem> problems;
    std::vector<std::pair<std::shared_ptr<HostedService>, const config::ServiceConfig*>> kept;
    for (const auto& wanted : config.services) {
        const auto found = current.find(wanted.name);
        if (found != current.end() && unchanged(*found->second, wanted, catalog)) {
            next.push_back(found->second);
            kept.emplace_back(found->second, &wanted);
            continue;
        }
        auto service = HostedService::prepare(wanted, catalog, hostLimits_);
        if (!service->configProblems().empty() && !service->pluginUnavailable()) {
            problems.insert(problems.end(), service->configProblems().begin(),
                            service->configProblems().end());
        }
        next.push_back(service);
        fresh.push_back(std::move(service));
    }
    if (!problems.empty()) {
        return problems;
    }

    // Swap: stop what goes away or changes (its listening sockets are kept for a
    // successor), then start what is new. The old sessions drain meanwhile; the
    // caller waits for them (finishDraining) without holding up anything else.
    hostLimits_->setMaxConnections(config.maxConnections);
    // Unchanged services keep their sessions; their listeners take the certificates just read, so a
    // rotated certificate is in use for every handshake from now on.
    for (const auto& [service, wanted] : kept) {
        service->refreshTls(*wanted);
    }
    std::map<std::string, std::shared_ptr<HostedService>> replaced;
    for (const auto& service : services_) {
        if (std::find(next.begin(), next.end(), service) == next.end()) {
            service->beginStop(plughost::CloseReason::Reload, &spare_, &spareUdp_);
            replaced.emplace(service->name(), service);
            draining.push_back(service);
        }
    }
    for (const auto& service : next) {
        const auto old = replaced.find(service->name());
        const bool isFresh = std::find(fresh.begin(), fresh.end(), service) != fresh.end();
        if (isFresh) {
            service->start(loops_, spare_, &spareUdp_);
        }
        std::string outcome;
        if (service->state() == State::Failed) {
            outcome = "failed: " + service->problem();
        } else if (!isFresh) {
            outcome = "unchanged";
        } else if (old == replaced.end()) {
            outcome = "added";
        } else if (old->second->config().enabled != service->config().enabled) {
            outcome = service->config().enabled ? "changed (enabled)" : "changed (disabled)";
        } else {
            outcome = "changed (restarted)";
        }
        changes.push_back({service->name(), outcome});
    }
    for (const auto& service : services_) {
        if (!config.find(service->name())) {
            changes.push_back({service->name(), "removed"});
        }
    }
    spare_.clear();  // addresses nobody uses any more
    spareUdp_.clear();
    services_ = std::move(next);
    return {};
}

std::vector<std::shared_ptr<HostedService>> Services::beginStop(plughost::CloseReason reason) {
    for (auto& service : services_) {
        service->beginStop(reason);
    }
    return services_;
}

void Services::finishDraining(const std::vector<std::shared_ptr<HostedService>>& draining,
                              plughost::CloseReason reason, std::chrono::steady_clock::time_point deadline) {
    for (const auto& service : draining) {
        service->finishStop(reason, deadline);
    }
}

void Services::stop(plughost::CloseReason reason, std::chrono::milliseconds drain) {
    const auto draining = beginStop(reason);
    finishDraining(draining, reason, std::chrono::steady_clock::now() + drain);
}

}  // namespace plughost::services
