#include "config/schema.h"

namespace plughost::config {

const std::vector<std::string>& keysOf(Section section) {
    static const std::vector<std::string> top = {"plugin_dir", "log_level",       "log_format", "workers",
                                                 "watch",      "max_connections", "drain",      "user",
                                                 "group",      "admin",           "defaults",   "services"};
    static const std::vector<std::string> admin = {"socket", "listen"};
    static const std::vector<std::string> limits = {
        "max_connections",  "max_per_ip", "rate",      "allow",        "deny",
        "idle_timeout",     "max_line",   "max_queue", "send_timeout", "handshake_timeout",
        "udp_amplification"};
    static const std::vector<std::string> service = {"plugin", "listen", "enabled", "settings"};
    static const std::vector<std::string> listen = {"address", "protocol", "tls", "websocket", "static"};
    static const std::vector<std::string> websocket = {"path", "origins", "ping_interval"};
    static const std::vector<std::string> tls = {"certificate", "key", "client_ca", "min_version", "sni"};
    switch (section) {
        case Section::Top:
            return top;
        case Section::Admin:
            return admin;
        case Section::Limits:
            return limits;
        case Section::Service:
            return service;
        case Section::Listen:
            return listen;
        case Section::Tls:
            return tls;
        case Section::WebSocket:
            return websocket;
    }
    return top;
}

}  // namespace plughost::config
