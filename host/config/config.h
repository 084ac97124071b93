#pragma once
// config: reads plughost.yaml into checked values; every error names file, line, column and key path.

#include <Poco/Net/IPAddress.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "transports/tls.h"
#include "transports/websocket.h"

namespace plughost::config {

// Where something is in a config file; line and column are 1-based.
struct Position {
    std::string file;
    int line = 0;
    int column = 0;
};

// One problem in a config file, printed as "file:line:column: key.path: message".
struct Problem {
    Position at;
    std::string keyPath;
    std::string message;
    std::string format() const;
};

// Thrown when a config file is not valid; carries every problem found, in file order.
class ConfigError : public std::runtime_error {
public:
    explicit ConfigError(std::vector<Problem> problems);
    const std::vector<Problem>& problems() const { return problems_; }

private:
    std::vector<Problem> problems_;
};

// TLS on a listen address: the files, as absolute paths, and the context built from them when the
// config was read (a reload reads them again: that is how certificates rotate).
struct ListenTls {
    std::vector<transports::TlsCertificate> certificates;  // the first is the default; SNI picks others
    std::string clientCa;                                  // empty: no client certificates asked for
    int minVersion = 0;                                    // TLS1_2_VERSION or TLS1_3_VERSION
    std::shared_ptr<const transports::TlsContext> context;
};

// A listen address as configured: an IP literal (v4 or v6) and a port (0 = OS-chosen), and how the
// host speaks on it (plain TCP unless `tls` is set).
struct ListenAddress {
    std::string host;
    std::uint16_t port = 0;
    std::shared_ptr<const ListenTls> tls;
    // `websocket:` (and `static:`): the host speaks RFC 6455 on it (over TLS when `tls` is set too).
    std::shared_ptr<const transports::WebSocketSettings> websocket;
    bool udp = false;  // `protocol: udp`: datagrams, each remote address:port a session (never with tls)
    std::string text()
        const;  // the address only; TCP and UDP may share one  // "127.0.0.1:7007", "[::1]:7007"
    bool isWildcard() const { return host == "0.0.0.0" || host == "::"; }
    bool isIPv6() const { return host.find(':') != std::string::npos; }
};

// An address block: "10.0.0.0/8", "::1/128", or one address.
struct Cidr {
    std::string text;
    Poco::Net::IPAddress network;
    unsigned prefix = 0;
    bool contains(const Poco::Net::IPAddress& address) const;
};
// Parses a CIDR; throws std::invalid_argument with the reason.
Cidr parseCidr(const std::string& text);

// Limits and access rules the host enforces for every session of a service.
// A UDP session that nothing came from or went to for this long ends, unless idle_timeout says otherwise.
constexpr std::chrono::milliseconds kUdpIdleDefault{30000};

struct Limits {
    std::size_t maxConnections = 1024;              // concurrent sessions of the service
    std::size_t maxPerIp = 0;                       // concurrent sessions from one address; 0 = no limit
    double rate = 0;                                // new connections per second per address; 0 = no limit
    std::vector<Cidr> allow;                        // the most specific match of allow/deny wins;
    std::vector<Cidr> deny;                         // no match at all means allowed
    std::chrono::milliseconds idleTimeout{600000};  // 0 = never
    std::size_t maxLine = 8192;                     // bytes, for line-framed plugins
    std::size_t maxQueue = 1024 * 1024;             // bytes of unsent output the host holds per session
    std::chrono::milliseconds sendTimeout{
        30000};  // output owed and none taken for this long: too slow; 0 = never
    std::chrono::milliseconds handshakeTimeout{10000};  // a TLS handshake not done by then is closed
    bool idleTimeoutSet =
        false;  // the service wrote its own idle_timeout (not defaults:); else UDP's is short
    double udpAmplification = 3;  // UDP: a session sends its peer at most this many times the bytes it got
    // The idle timeout of a UDP session: idle_timeout if set, else kUdpIdleDefault.
    std::chrono::milliseconds udpIdleTimeout() const;
    std::string describe() const;  // every value, for fingerprints
    // True when `address` may connect, by the allow/deny rules.
    bool admits(const Poco::Net::IPAddress& address) const;
};

struct ServiceConfig {
    std::string name;
    std::string plugin;
    std::vector<ListenAddress> listen;
    bool enabled = true;
    YAML::Node settings;  // a map (possibly empty); marks point into the file
    Limits limits;
    Position at;  // the service's key
    // Everything that decides how the service runs, as text: two services
    // with equal fingerprints (and the same plugin file) need no restart.
    std::string fingerprint() const;
};

struct AdminConfig {
    std::string socketPath;             // absolute; empty = no Unix socket
    std::vector<ListenAddress> listen;  // loopback only
};

struct HostConfig {
    std::string file;       // absolute path of the config file
    std::string pluginDir;  // absolute
    std::string logLevel = "information";
    std::string logFormat = "text";         // or "json": one object per line; start only, like logLevel
    unsigned workers = 0;                   // I/O threads; 0 = one per CPU
    bool watch = false;                     // reload by itself when the file or the plugin folder changes
    std::size_t maxConnections = 0;         // across all services; 0 = only the open-file limit
    std::chrono::milliseconds drain{5000};  // on SIGTERM, how long sessions get to flush and close
    std::string user;                       // drop to this user after binding (empty = stay)
    std::string group;                      // and this group (empty = the user's primary group)
    AdminConfig admin;
    Limits defaults;
    std::vector<ServiceConfig> services;  // in file order
    // What an operator should hear that does not stop the config (an expired certificate).
    std::vector<Problem> warnings;
    const ServiceConfig* find(const std::string& name) const;
};

// The config file used when none is given: the source tree's
// config/plughost.yaml for a binary in the build tree, else the installed one.
std::string defaultConfigFile(const std::string& executablePath);

// Reads and validates a config file. Relative paths inside it resolve against
// its folder. Throws ConfigError.
HostConfig loadFile(const std::string& path);

// Same from text; `file` names it in errors and `baseDir` anchors relative paths.
HostConfig parse(const std::string& text, const std::string& file, const std::string& baseDir);

// Parses "PORT", "HOST:PORT" or "[IPv6]:PORT"; throws std::invalid_argument with the reason.
ListenAddress parseListenAddress(const std::string& text);
// "30", "1.5", "500ms", "30s", "5m", "1h"; throws std::invalid_argument.
std::chrono::milliseconds parseDuration(const std::string& text);
// "4096", "64KiB", "1MiB", "1GiB" (K/M/G also mean binary units); throws std::invalid_argument.
std::size_t parseSize(const std::string& text);

// The position of a node (or, for a missing one, of its parent).
Position positionOf(const YAML::Node& node, const std::string& file);

}  // namespace plughost::config
