#pragma once
// admin: the local HTTP/JSON endpoint behind plughostctl (Unix socket, mode
// 0600; optionally loopback TCP): GET /status, GET /plugins, POST /reload, GET /metrics.

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
// Prometheus text exposition format, version 0.0.4.
std::string metricsText(const HostStatus& status);

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
