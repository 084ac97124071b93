#pragma once
// admin: the local HTTP/JSON endpoint behind plughostctl (Unix socket, mode
// 0600; optionally loopback TCP): GET /status, GET /plugins, POST /reload, GET /metrics.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "services/host.h"

namespace Poco::Net {
class HTTPServer;
}

namespace plughost::admin {

std::string statusJson(const HostStatus& status);
std::string pluginsJson(const std::vector<PluginStatus>& plugins);
std::string reloadJson(const ReloadResult& result);
// What /proc/self says about the host process, for the standard process_* metrics.
struct ProcessStats {
    std::uint64_t openFds = 0;
    std::uint64_t maxFds = 0;  // the soft RLIMIT_NOFILE
    std::uint64_t residentBytes = 0;
    std::uint64_t virtualBytes = 0;
    double startTimeSeconds = 0;  // since the Unix epoch (boot time + start in clock ticks)
    double cpuSeconds = 0;        // user + system
};
ProcessStats readProcessStats();

// Prometheus text exposition format, version 0.0.4; passes `promtool check metrics`.
std::string metricsText(const HostStatus& status, const ProcessStats& process);

class AdminServer {
public:
    // Binds every configured endpoint and starts serving; throws
    // std::runtime_error saying which endpoint could not be opened and why.
    // With `user`, the socket file is handed to that user (and `group`), who
    // will run the host once privileges are dropped.
    AdminServer(Host& host, const config::AdminConfig& config, const std::string& user = "",
                const std::string& group = "");
    ~AdminServer();  // stops serving and removes the socket file
    AdminServer(const AdminServer&) = delete;
    AdminServer& operator=(const AdminServer&) = delete;

    const std::vector<std::string>& addresses() const { return addresses_; }

private:
    std::vector<std::unique_ptr<Poco::Net::HTTPServer>> servers_;
    std::vector<std::string> addresses_;
    std::string socketPath_;
};

}  // namespace plughost::admin
