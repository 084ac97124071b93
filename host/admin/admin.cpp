#include "admin/admin.h"

#include <Poco/File.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Stringifier.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <dirent.h>
#include <grp.h>
#include <pwd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <fstream>
#include <iomanip>
#include <iterator>
#include <sstream>

#include "sessions/sessions.h"
#include "system/notify.h"

namespace plughost::admin {

namespace {

using Poco::JSON::Array;
using Poco::JSON::Object;
using Poco::Net::HTTPResponse;
using Poco::Net::HTTPServerRequest;
using Poco::Net::HTTPServerResponse;

// The longest request body the endpoint reads; none of its requests needs one.
constexpr std::streamsize kMaxBody = 64 * 1024;

Object::Ptr ordered() { return new Object(Poco::JSON_PRESERVE_KEY_ORDER); }

std::string stringify(const Object::Ptr& object) {
    std::ostringstream out;
    Poco::JSON::Stringifier::stringify(object, out, 2);
    out << '\n';
    return out.str();
}

Array::Ptr arrayOf(const std::vector<std::string>& items) {
    Array::Ptr array = new Array();
    for (const auto& item : items) {
        array->add(item);
    }
    return array;
}

}  // namespace

std::string statusJson(const HostStatus& status) {
    auto root = ordered();
    root->set("version", status.version);
    root->set("pid", status.pid);
    root->set("uptime_seconds", status.uptimeSeconds);
    root->set("config_file", status.configFile);
    root->set("config_loaded_at", status.configLoadedAt);
    root->set("plugin_dir", status.pluginDir);
    root->set("reloads", status.reloads);
    root->set("failed_reloads", status.failedReloads);
    Array::Ptr services = new Array();
    for (const auto& service : status.services) {
        auto row = ordered();
        row->set("name", service.name);
        row->set("plugin", service.plugin);
        row->set("plugin_version", service.pluginVersion);
        row->set("listen", arrayOf(service.listen));
        row->set("state", service.state);
        row->set("enabled", service.enabled);
        row->set("connections", service.current);
        row->set("accepted", service.accepted);
        auto refused = ordered();
        for (const auto& [reason, count] : service.refused) {
            refused->set(reason, count);
        }
        row->set("refused", refused);
        row->set("bytes_in", service.bytesIn);
        row->set("bytes_out", service.bytesOut);
        row->set("errors", service.errors);
        row->set("too_slow", service.tooSlow);
        auto counters = ordered();
        for (const auto& [name, count] : service.counters) {
            counters->set(name, count);
        }
        row->set("counters", counters);
        if (service.tls) {
            auto tls = ordered();
            tls->set("handshakes", service.tlsHandshakes);
            auto failed = ordered();
            for (const auto& [reason, count] : service.tlsFailed) {
                failed->set(reason, count);
            }
            tls->set("failed", failed);
            row->set("tls", tls);
        }
        if (service.websocket) {
            auto ws = ordered();
            ws->set("upgrades", service.wsUpgrades);
            ws->set("static_requests", service.httpRequests);
            auto refusedUpgrades = ordered();
            for (const auto& [reason, count] : service.wsRefused) {
                refusedUpgrades->set(reason, count);
            }
            ws->set("refused", refusedUpgrades);
            row->set("websocket", ws);
        }
        if (service.udp) {
            auto udp = ordered();
            udp->set("datagrams_in", service.udpIn);
            udp->set("datagrams_out", service.udpOut);
            auto dropped = ordered();
            for (const auto& [reason, count] : service.udpDropped) {
                dropped->set(reason, count);
            }
            udp->set("dropped", dropped);
            row->set("udp", udp);
        }
        services->add(row);
    }
    root->set("services", services);
    return stringify(root);
}

std::string pluginsJson(const std::vector<PluginStatus>& plugins) {
    auto root = ordered();
    Array::Ptr rows = new Array();
    for (const auto& plugin : plugins) {
        auto row = ordered();
        row->set("name", plugin.name);
        row->set("version", plugin.version);
        row->set("abi", plugin.abi);
        row->set("description", plugin.description);
        row->set("path", plugin.path);
        row->set("state", plugin.state);
        row->set("services", arrayOf(plugin.services));
        rows->add(row);
    }
    root->set("plugins", rows);
    return stringify(root);
}

std::string reloadJson(const ReloadResult& result) {
    auto root = ordered();
    root->set("ok", result.ok);
    Array::Ptr changes = new Array();
    for (const auto& change : result.changes) {
        auto row = ordered();
        row->set("service", change.service);
        row->set("outcome", change.outcome);
        changes->add(row);
    }
    root->set("changes", changes);
    root->set("errors", arrayOf(result.errors));
    return stringify(root);
}

namespace {

// Label values escape backslash, double quote and newline (exposition format 0.0.4).
std::string label(const std::string& value) {
    std::string out;
    for (const char c : value) {
        if (c == '\\' || c == '"') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

std::uint64_t countOpenFds() {
    DIR* folder = ::opendir("/proc/self/fd");
    if (folder == nullptr) {
        return 0;
    }
    std::uint64_t count = 0;
    while (const dirent* entry = ::readdir(folder)) {
        if (entry->d_name[0] != '.') {
            ++count;
        }
    }
    ::closedir(folder);
    return count > 0 ? count - 1 : 0;  // not the one opendir() itself holds
}

double secondsOf(clockid_t clock) {
    timespec now{};
    ::clock_gettime(clock, &now);
    return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

}  // namespace

ProcessStats readProcessStats() {
    ProcessStats stats;
    stats.openFds = countOpenFds();
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) {
        stats.maxFds = static_cast<std::uint64_t>(limit.rlim_cur);
    }
    // proc(5): the fields after the command name, which is in parentheses and may hold anything.
    std::ifstream in("/proc/self/stat");
    const std::string line((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto close = line.rfind(')');
    if (close == std::string::npos) {
        return stats;
    }
    std::istringstream fields(line.substr(close + 2));
    std::vector<std::string> field{std::istream_iterator<std::string>(fields),
                                   std::istream_iterator<std::string>()};
    // field[0] is stat's field 3 (state): field N of proc(5) is field[N - 3].
    if (field.size() < 22) {
        return stats;
    }
    const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
    const auto number = [&](std::size_t n) { return std::stod(field[n - 3]); };
    stats.cpuSeconds = (number(14) + number(15)) / ticks;
    // Field 22 counts clock ticks since boot on CLOCK_BOOTTIME: the wall clock now, less
    // how long ago that was. (/proc/stat's btime would do too, but only to the whole second,
    // and systemd's ProcSubset=pid hides it.)
    stats.startTimeSeconds = secondsOf(CLOCK_REALTIME) - (secondsOf(CLOCK_BOOTTIME) - number(22) / ticks);
    stats.virtualBytes = static_cast<std::uint64_t>(number(23));
    stats.residentBytes =
        static_cast<std::uint64_t>(number(24)) * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
    return stats;
}

std::string metricsText(const HostStatus& status, const ProcessStats& process) {
    std::ostringstream out;
    out << std::setprecision(15);
    auto family = [&](const char* name, const char* type, const char* help) {
        out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
    };
    auto labels = [](const ServiceStatus& service) {
        return "service=\"" + label(service.name) + "\",plugin=\"" + label(service.plugin) + "\"";
    };
    family("plughost_uptime_seconds", "gauge", "Seconds since plughostd started.");
    out << "plughost_uptime_seconds " << status.uptimeSeconds << '\n';
    family("plughost_reloads_total", "counter", "Configuration reloads, by result.");
    out << "plughost_reloads_total{result=\"ok\"} " << status.reloads << '\n';
    out << "plughost_reloads_total{result=\"refused\"} " << status.failedReloads << '\n';
    family("plughost_service_up", "gauge", "1 when the service is running, else 0.");
    for (const auto& service : status.services) {
        out << "plughost_service_up{" << labels(service) << "} " << (service.state == "running" ? 1 : 0)
            << '\n';
    }
    const std::vector<std::tuple<const char*, const char*, const char*, std::uint64_t ServiceStatus::*>>
        series = {
            {"plughost_connections", "gauge", "Sessions open now.", &ServiceStatus::current},
            {"plughost_connections_accepted_total", "counter", "Sessions accepted.",
             &ServiceStatus::accepted},
            {"plughost_received_bytes_total", "counter", "Bytes received from clients.",
             &ServiceStatus::bytesIn},
            {"plughost_sent_bytes_total", "counter", "Bytes sent to clients.", &ServiceStatus::bytesOut},
            {"plughost_plugin_errors_total", "counter", "Exceptions that escaped plugin callbacks.",
             &ServiceStatus::errors},
            {"plughost_too_slow_total", "counter", "Sessions closed because the client stopped reading.",
             &ServiceStatus::tooSlow},
        };
    for (const auto& [name, type, help, member] : series) {
        family(name, type, help);
        for (const auto& service : status.services) {
            out << name << '{' << labels(service) << "} " << service.*member << '\n';
        }
    }
    family("plughost_connections_refused_total", "counter",
           "Connections refused before a session began, by reason.");
    for (const auto& service : status.services) {
        for (const auto& [reason, count] : service.refused) {
            out << "plughost_connections_refused_total{" << labels(service) << ",reason=\"" << label(reason)
                << "\"} " << count << '\n';
        }
    }
    family("plughost_plugin_events_total", "counter", "What the plugin counted itself, by name.");
    for (const auto& service : status.services) {
        for (const auto& [name, count] : service.counters) {
            out << "plughost_plugin_events_total{" << labels(service) << ",name=\"" << label(name) << "\"} "
                << count << '\n';
        }
    }
    family("plughost_tls_handshakes_total", "counter", "TLS handshakes that succeeded.");
    for (const auto& service : status.services) {
        if (service.tls) {
            out << "plughost_tls_handshakes_total{" << labels(service) << "} " << service.tlsHandshakes
                << '\n';
        }
    }
    family("plughost_tls_failed_total", "counter", "TLS handshakes that failed, by reason.");
    for (const auto& service : status.services) {
        for (const auto& [reason, count] : service.tlsFailed) {
            out << "plughost_tls_failed_total{" << labels(service) << ",reason=\"" << label(reason) << "\"} "
                << count << '\n';
        }
    }
    family("plughost_websocket_upgrades_total", "counter", "WebSocket upgrades that reached the plugin.");
    for (const auto& service : status.services) {
        if (service.websocket) {
            out << "plughost_websocket_upgrades_total{" << labels(service) << "} " << service.wsUpgrades
                << '\n';
        }
    }
    family("plughost_websocket_refused_total", "counter", "WebSocket upgrades refused, by reason.");
    for (const auto& service : status.services) {
        for (const auto& [reason, count] : service.wsRefused) {
            out << "plughost_websocket_refused_total{" << labels(service) << ",reason=\"" << label(reason)
                << "\"} " << count << '\n';
        }
    }
    family("plughost_static_requests_total", "counter", "Static file requests answered (any status).");
    for (const auto& service : status.services) {
        if (service.websocket) {
            out << "plughost_static_requests_total{" << labels(service) << "} " << service.httpRequests
                << '\n';
        }
    }
    family("plughost_udp_datagrams_received_total", "counter",
           "UDP datagrams received, dropped ones included.");
    for (const auto& service : status.services) {
        if (service.udp) {
            out << "plughost_udp_datagrams_received_total{" << labels(service) << "} " << service.udpIn
                << '\n';
        }
    }
    family("plughost_udp_datagrams_sent_total", "counter", "UDP datagrams sent.");
    for (const auto& service : status.services) {
        if (service.udp) {
            out << "plughost_udp_datagrams_sent_total{" << labels(service) << "} " << service.udpOut << '\n';
        }
    }
    family("plughost_udp_dropped_total", "counter", "UDP datagrams dropped, received or to send, by reason.");
    for (const auto& service : status.services) {
        for (const auto& [reason, count] : service.udpDropped) {
            out << "plughost_udp_dropped_total{" << labels(service) << ",reason=\"" << label(reason) << "\"} "
                << count << '\n';
        }
    }

    family("plughost_session_duration_seconds", "histogram",
           "How long sessions lasted, counted when they end.");
    const auto& bounds = sessions::DurationHistogram::kBoundsSeconds;
    for (const auto& service : status.services) {
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i <= bounds.size(); ++i) {
            cumulative += i < service.sessionDurationBuckets.size() ? service.sessionDurationBuckets[i] : 0;
            out << "plughost_session_duration_seconds_bucket{" << labels(service) << ",le=\"";
            if (i < bounds.size()) {
                out << bounds[i];
            } else {
                out << "+Inf";
            }
            out << "\"} " << cumulative << '\n';
        }
        out << "plughost_session_duration_seconds_sum{" << labels(service) << "} "
            << service.sessionDurationSeconds << '\n';
        out << "plughost_session_duration_seconds_count{" << labels(service) << "} " << cumulative << '\n';
    }

    // The process collector's names and meanings, as every Prometheus client library exports them.
    family("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
    out << "process_cpu_seconds_total " << process.cpuSeconds << '\n';
    family("process_open_fds", "gauge", "Number of open file descriptors.");
    out << "process_open_fds " << process.openFds << '\n';
    family("process_max_fds", "gauge", "Maximum number of open file descriptors.");
    out << "process_max_fds " << process.maxFds << '\n';
    family("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
    out << "process_virtual_memory_bytes " << process.virtualBytes << '\n';
    family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    out << "process_resident_memory_bytes " << process.residentBytes << '\n';
    family("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.");
    out << "process_start_time_seconds " << std::fixed << std::setprecision(2) << process.startTimeSeconds
        << '\n';
    return out.str();
}

namespace {

class Handler final : public Poco::Net::HTTPRequestHandler {
public:
    explicit Handler(Host& host) : host_(host) {}

    void handleRequest(HTTPServerRequest& request, HTTPServerResponse& response) override {
        try {
            route(request, response);
        } catch (const std::exception& error) {
            if (!response.sent()) {
                reply(response, HTTPResponse::HTTP_INTERNAL_SERVER_ERROR, error.what());
            }
        }
    }

private:
    void route(HTTPServerRequest& request, HTTPServerResponse& response) {
        const std::string path = request.getURI().substr(0, request.getURI().find('?'));
        const std::string& method = request.getMethod();
        if (request.hasContentLength() && request.getContentLength() > kMaxBody) {
            reply(response, HTTPResponse::HTTP_REQUESTENTITYTOOLARGE, "request body over 64 KiB");
            return;
        }
        const bool isGet = method == "GET" || method == "HEAD";
        if (path == "/status" && isGet) {
            send(response, "application/json", statusJson(host_.status()));
        } else if (path == "/plugins" && isGet) {
            send(response, "application/json", pluginsJson(host_.plugins()));
        } else if (path == "/metrics" && isGet) {
            send(response, "text/plain; version=0.0.4", metricsText(host_.status(), readProcessStats()));
        } else if (path == "/reload" && method == "POST") {
            discardBody(request);
            const ReloadResult result = host_.reload();
            response.setStatusAndReason(result.ok ? HTTPResponse::HTTP_OK
                                                  : HTTPResponse::HTTP_UNPROCESSABLE_ENTITY);
            send(response, "application/json", reloadJson(result));
        } else if (path == "/status" || path == "/plugins" || path == "/metrics" || path == "/reload") {
            response.set("Allow", path == "/reload" ? "POST" : "GET, HEAD");
            reply(response, HTTPResponse::HTTP_METHOD_NOT_ALLOWED, method + " is not allowed on " + path);
        } else {
            reply(response, HTTPResponse::HTTP_NOT_FOUND,
                  "no such endpoint: " + path + " (try /status, /plugins, /metrics, POST /reload)");
        }
    }

    static void discardBody(HTTPServerRequest& request) {
        char buffer[4096];
        std::streamsize total = 0;
        while (total <= kMaxBody && request.stream().read(buffer, sizeof buffer)) {
            total += request.stream().gcount();
        }
    }

    static void send(HTTPServerResponse& response, const std::string& type, const std::string& body) {
        response.setContentType(type);
        response.setContentLength(static_cast<std::streamsize>(body.size()));
        response.send() << body;
    }

    static void reply(HTTPServerResponse& response, HTTPResponse::HTTPStatus status,
                      const std::string& message) {
        response.setStatusAndReason(status);
        auto body = ordered();
        body->set("error", message);
        send(response, "application/json", stringify(body));
    }

    Host& host_;
};

class HandlerFactory final : public Poco::Net::HTTPRequestHandlerFactory {
public:
    explicit HandlerFactory(Host& host) : host_(host) {}
    Poco::Net::HTTPRequestHandler* createRequestHandler(const HTTPServerRequest&) override {
        return new Handler(host_);  // Poco's interface: the server takes ownership
    }

private:
    Host& host_;
};

Poco::Net::HTTPServerParams::Ptr adminParams() {
    Poco::Net::HTTPServerParams::Ptr params = new Poco::Net::HTTPServerParams();
    // Thread per connection (Poco's default pool holds up to 16): enough that a
    // few clients that connect and say nothing cannot hold up plughostctl.
    params->setMaxThreads(16);
    params->setMaxQueued(32);
    params->setTimeout(Poco::Timespan(5, 0));  // a client that connects and says nothing is dropped
    params->setKeepAlive(true);
    params->setKeepAliveTimeout(Poco::Timespan(5, 0));
    params->setMaxKeepAliveRequests(100);
    return params;
}

// A socket file left by a host that died is removed; one a live host answers on is not.
void claimSocketPath(const std::string& path) {
    if (!Poco::File(path).exists()) {
        return;
    }
    try {
        Poco::Net::StreamSocket probe(Poco::Net::SocketAddress(Poco::Net::SocketAddress::UNIX_LOCAL, path));
        throw std::runtime_error("admin socket " + path + " is in use by another running plughostd");
    } catch (const Poco::Exception&) {
        ::unlink(path.c_str());
    }
}

}  // namespace

AdminServer::AdminServer(Host& host, const config::AdminConfig& config, const std::string& user,
                         const std::string& group) {
    auto serve = [&](Poco::Net::ServerSocket& socket) {
        servers_.push_back(
            std::make_unique<Poco::Net::HTTPServer>(new HandlerFactory(host), socket, adminParams()));
        servers_.back()->start();
    };
    if (!config.socketPath.empty()) {
        // Started by hand, no RuntimeDirectory= made /run/plughost: make it (and give it to `user`).
        const auto slash = config.socketPath.rfind('/');
        if (slash != std::string::npos && slash > 0) {
            system::prepareRuntimeFolder(config.socketPath.substr(0, slash), user, group);
        }
        claimSocketPath(config.socketPath);
        Poco::Net::ServerSocket socket;
        try {
            // Created 0600 from the start: no moment in which others could connect.
            const mode_t previous = ::umask(0177);
            try {
                socket.bind(
                    Poco::Net::SocketAddress(Poco::Net::SocketAddress::UNIX_LOCAL, config.socketPath));
            } catch (...) {
                ::umask(previous);
                throw;
            }
            ::umask(previous);
            ::chmod(config.socketPath.c_str(), 0600);
            if (!user.empty()) {
                const passwd* account = ::getpwnam(user.c_str());
                const struct group* named = group.empty() ? nullptr : ::getgrnam(group.c_str());
                if (account == nullptr || ::chown(config.socketPath.c_str(), account->pw_uid,
                                                  named != nullptr ? named->gr_gid : account->pw_gid) != 0) {
                    throw std::runtime_error("cannot give the admin socket " + config.socketPath +
                                             " to user " + user);
                }
            }
            socket.listen(64);
        } catch (const Poco::Exception& error) {
            throw std::runtime_error("cannot open the admin socket " + config.socketPath + ": " +
                                     error.displayText());
        }
        socketPath_ = config.socketPath;
        addresses_.push_back("unix:" + config.socketPath);
        serve(socket);
    }
    for (const auto& address : config.listen) {
        Poco::Net::ServerSocket socket;
        try {
            socket.bind(Poco::Net::SocketAddress(address.host, address.port), true, false);
            socket.listen(64);
        } catch (const Poco::Exception& error) {
            throw std::runtime_error("cannot open the admin endpoint " + address.text() + ": " +
                                     error.displayText());
        }
        addresses_.push_back("http://" + socket.address().toString());
        serve(socket);
    }
}

AdminServer::~AdminServer() {
    for (auto& server : servers_) {
        server->stopAll(true);
    }
    servers_.clear();
    if (!socketPath_.empty()) {
        ::unlink(socketPath_.c_str());
    }
}

}  // namespace plughost::admin
