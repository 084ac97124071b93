// Config validation: every rule, with the message an operator reads.
#include "config/config.h"

#include <gtest/gtest.h>

namespace {

using plughost::config::ConfigError;
using plughost::config::HostConfig;
using plughost::config::parse;

HostConfig load(const std::string& yaml) { return parse(yaml, "plughost.yaml", "/etc/plughost"); }

// The formatted problems of a config that must be rejected.
std::string errorsOf(const std::string& yaml) {
    try {
        load(yaml);
    } catch (const ConfigError& error) {
        return error.what();
    }
    ADD_FAILURE() << "accepted:\n" << yaml;
    return "";
}

TEST(Config, MinimalServiceGetsDefaults) {
    const auto config = load("services:\n  echo:\n    plugin: echo\n    listen: 7007\n");
    ASSERT_EQ(config.services.size(), 1u);
    const auto& echo = config.services[0];
    EXPECT_EQ(echo.name, "echo");
    EXPECT_EQ(echo.plugin, "echo");
    ASSERT_EQ(echo.listen.size(), 1u);
    EXPECT_EQ(echo.listen[0].text(), "127.0.0.1:7007");  // a bare port means loopback
    EXPECT_TRUE(echo.enabled);
    EXPECT_EQ(echo.limits.maxConnections, 1024u);
    EXPECT_EQ(echo.limits.maxLine, 8192u);
    EXPECT_EQ(echo.limits.maxQueue, 1024u * 1024u);
    EXPECT_EQ(config.pluginDir, "/etc/plughost");  // the config file's folder
    EXPECT_EQ(config.logLevel, "information");
    EXPECT_EQ(config.logFormat, "text");
}

TEST(Config, FullShapeIsRead) {
    const auto config = load(R"(plugin_dir: plugins
log_level: debug
log_format: json
workers: 3
admin:
  socket: run/admin.sock
  listen: 127.0.0.1:9000
defaults:
  max_connections: 50
  idle_timeout: 30s
  max_line: 1KiB
  max_queue: 64KiB
  send_timeout: 5s
services:
  chat:
    plugin: chat
    listen: ["127.0.0.1:7009", "[::1]:7009", "*:7010"]
    enabled: false
    max_line: 100
    idle_timeout: 500ms
    send_timeout: 1500ms
    settings:
      dialect: line
)");
    EXPECT_EQ(config.pluginDir, "/etc/plughost/plugins");
    EXPECT_EQ(config.logLevel, "debug");
    EXPECT_EQ(config.logFormat, "json");
    EXPECT_EQ(config.workers, 3u);
    EXPECT_EQ(config.admin.socketPath, "/etc/plughost/run/admin.sock");
    ASSERT_EQ(config.admin.listen.size(), 1u);
    const auto& chat = config.services.at(0);
    EXPECT_FALSE(chat.enabled);
    ASSERT_EQ(chat.listen.size(), 3u);
    EXPECT_EQ(chat.listen[1].text(), "[::1]:7009");
    EXPECT_EQ(chat.listen[2].text(), "0.0.0.0:7010");
    EXPECT_EQ(chat.limits.maxConnections, 50u);  // inherited
    EXPECT_EQ(chat.limits.maxLine, 100u);        // overridden
    EXPECT_EQ(chat.limits.maxQueue, 64u * 1024u);
    EXPECT_EQ(chat.limits.idleTimeout.count(), 500);
    EXPECT_EQ(chat.limits.sendTimeout.count(), 1500);
    EXPECT_EQ(chat.settings["dialect"].as<std::string>(), "line");
}

TEST(Config, PortOutOfRangeNamesFileLineColumnAndKey) {
    EXPECT_EQ(errorsOf("services:\n  lobby:\n    plugin: chat\n    listen: 127.0.0.1:70000\n"),
              "plughost.yaml:4:13: services.lobby.listen: port 70000 is out of range (0-65535)");
}

TEST(Config, BadAddressesAreExplained) {
    EXPECT_EQ(errorsOf("services:\n  a:\n    plugin: echo\n    listen: nowhere:80\n"),
              "plughost.yaml:4:13: services.a.listen: 'nowhere' is not an IPv4 address (use an IP literal, "
              "localhost or *)");
    EXPECT_EQ(errorsOf("services:\n  a:\n    plugin: echo\n    listen: \"[::1:80\"\n"),
              "plughost.yaml:4:13: services.a.listen: '[::1:80' is not [IPv6]:PORT");
    EXPECT_EQ(errorsOf("services:\n  a:\n    plugin: echo\n    listen: [7007, 'x']\n"),
              "plughost.yaml:4:20: services.a.listen[1]: 'x' is not a port number");
    EXPECT_EQ(errorsOf("services:\n  a:\n    plugin: echo\n    listen: []\n"),
              "plughost.yaml:4:13: services.a.listen: needs at least one address");
}

TEST(Config, UnknownKeysAreErrors) {
    EXPECT_EQ(errorsOf("services:\n  a:\n    plugin: echo\n    listen: 7\n    max_conections: 5\n"),
              "plughost.yaml:5:5: services.a.max_conections: unknown key (expected one of: plugin, listen, "
              "enabled, "
              "settings, max_connections, max_per_ip, rate, allow, deny, idle_timeout, max_line, max_queue, "
              "send_timeout, handshake_timeout, udp_amplification)");
    EXPECT_NE(errorsOf("plugins_dir: x\nservices: {}\n").find("plughost.yaml:1:1: plugins_dir: unknown key"),
              std::string::npos);
}

TEST(Config, UdpListenEntries) {
    const HostConfig config = load(
        "services:\n  a:\n    plugin: echo\n    listen:\n      - 127.0.0.1:7007\n"
        "      - {address: 127.0.0.1:7007, protocol: udp}\n      - {address: 7008, protocol: tcp}\n"
        "    udp_amplification: 2.5\n");
    const auto& listen = config.services.front().listen;
    ASSERT_EQ(listen.size(), 3u);
    EXPECT_FALSE(listen[0].udp);
    EXPECT_TRUE(listen[1].udp);
    EXPECT_FALSE(listen[2].udp);
    EXPECT_DOUBLE_EQ(config.services.front().limits.udpAmplification, 2.5);
    // No idle_timeout written: UDP sessions get the short default, TCP ones keep theirs.
    EXPECT_FALSE(config.services.front().limits.idleTimeoutSet);
    EXPECT_EQ(config.services.front().limits.udpIdleTimeout(), std::chrono::seconds(30));
    EXPECT_EQ(config.services.front().limits.idleTimeout, std::chrono::minutes(10));
    // idle_timeout under defaults: is for TCP; the service's own applies to its UDP sessions too.
    const HostConfig set = load(
        "defaults: {idle_timeout: 5m}\nservices:\n  a:\n    plugin: echo\n"
        "    listen: [{address: 7007, protocol: udp}]\n  b:\n    plugin: echo\n"
        "    listen: [{address: 7008, protocol: udp}]\n    idle_timeout: 2m\n");
    EXPECT_EQ(set.services[0].limits.udpIdleTimeout(), std::chrono::seconds(30));
    EXPECT_EQ(set.services[0].limits.idleTimeout, std::chrono::minutes(5));
    EXPECT_EQ(set.services[1].limits.udpIdleTimeout(), std::chrono::minutes(2));
    // Whether an address is UDP is part of the service.
    EXPECT_NE(load("services:\n  a:\n    plugin: echo\n    listen: [{address: 7007, protocol: udp}]\n")
                  .services.front()
                  .fingerprint(),
              load("services:\n  a:\n    plugin: echo\n    listen: [7007]\n").services.front().fingerprint());
}

TEST(Config, BadUdpKeysNameFileLineColumnAndKey) {
    EXPECT_EQ(
        errorsOf("services:\n  a:\n    plugin: echo\n    listen:\n      - {address: 7007, protocol: sctp}\n"),
        "plughost.yaml:5:35: services.a.listen[0].protocol: 'sctp' is not a protocol; use tcp (the "
        "default) or udp");
    EXPECT_EQ(errorsOf("services:\n  a:\n    plugin: echo\n    listen:\n      - address: 7007\n"
                       "        protocol: udp\n        tls: {certificate: a.pem, key: a.key}\n"),
              "plughost.yaml:7:14: services.a.listen[0].tls: TLS is for TCP only: a udp listen entry cannot "
              "have tls (DTLS is not offered)");
    EXPECT_EQ(errorsOf("services:\n  a:\n    plugin: echo\n    listen: 7007\n    udp_amplification: 0.5\n"),
              "plughost.yaml:5:24: services.a.udp_amplification: '0.5' is not a factor between 1 and 100 (a "
              "UDP session sends its peer at most this many times the bytes the peer sent it)");
    // Two UDP services on one port conflict like two TCP ones; a TCP and a UDP one do not.
    EXPECT_EQ(errorsOf("services:\n  a:\n    plugin: echo\n    listen: [{address: 7007, protocol: udp}]\n"
                       "  b:\n    plugin: echo\n    listen: [{address: 7007, protocol: udp}]\n"),
              "plughost.yaml:7:13: services.b.listen: 127.0.0.1:7007 (udp) is also used by service 'a' "
              "(plughost.yaml:2)");
    EXPECT_NO_THROW(
        load("services:\n  a:\n    plugin: echo\n    listen: [7007]\n"
             "  b:\n    plugin: echo\n    listen: [{address: 7007, protocol: udp}]\n"));
}

TEST(Config, DuplicateKeysAreErrors) {
    EXPECT_EQ(errorsOf("services:\n  a:\n    plugin: echo\n    listen: 7\n    listen: 8\n"),
              "plughost.yaml:5:5: services.a.listen: duplicate key");
}

TEST(Config, MissingRequiredKeys) {
    EXPECT_EQ(errorsOf("services:\n  a:\n    listen: 7\n"),
              "plughost.yaml:2:3: services.a.plugin: missing; name the plugin that serves this service");
    EXPECT_EQ(errorsOf("services:\n  a:\n    plugin: echo\n"),
              "plughost.yaml:2:3: services.a.listen: missing; give HOST:PORT, [IPv6]:PORT, PORT or a list of "
              "these");
    EXPECT_EQ(errorsOf("log_level: debug\n"),
              "plughost.yaml:1:1: services: missing; declare at least one service");
    EXPECT_EQ(errorsOf(""), "plughost.yaml: the file is empty; it needs at least 'services:'");
}

TEST(Config, TwoServicesOnOneAddressNameBoth) {
    EXPECT_EQ(errorsOf("services:\n  a:\n    plugin: echo\n    listen: 7007\n  b:\n    plugin: echo\n    "
                       "listen: 127.0.0.1:7007\n"),
              "plughost.yaml:7:13: services.b.listen: 127.0.0.1:7007 is also used by service 'a' "
              "(plughost.yaml:2)");
    // A wildcard overlaps every address of its family.
    EXPECT_NE(errorsOf("services:\n  a:\n    plugin: echo\n    listen: '*:7007'\n  b:\n    plugin: echo\n    "
                       "listen: 7007\n")
                  .find("is also used by service 'a'"),
              std::string::npos);
}

TEST(Config, SameAddressIsFineWhenOneIsDisabledOrPortZero) {
    EXPECT_NO_THROW(
        load("services:\n  a:\n    plugin: echo\n    listen: 7007\n  b:\n    plugin: echo\n    listen: "
             "7007\n    enabled: false\n"));
    EXPECT_NO_THROW(
        load("services:\n  a:\n    plugin: echo\n    listen: 0\n  b:\n    plugin: echo\n    listen: 0\n"));
    EXPECT_NO_THROW(
        load("services:\n  a:\n    plugin: echo\n    listen: 7007\n  b:\n    plugin: echo\n    listen: "
             "'[::1]:7007'\n"));
}

TEST(Config, TypeAndRangeErrors) {
    EXPECT_EQ(errorsOf("services:\n  a:\n    plugin: echo\n    listen: 7\n    enabled: maybe\n"),
              "plughost.yaml:5:14: services.a.enabled: 'maybe' is not true or false");
    EXPECT_EQ(errorsOf("services:\n  a:\n    plugin: echo\n    listen: 7\n    max_connections: 0\n"),
              "plughost.yaml:5:22: services.a.max_connections: 0 is out of range (1-10000000)");
    EXPECT_EQ(errorsOf("services:\n  a:\n    plugin: echo\n    listen: 7\n    idle_timeout: soon\n"),
              "plughost.yaml:5:19: services.a.idle_timeout: 'soon' is not a duration (e.g. 30, 1.5, 500ms, "
              "30s, 5m, 1h)");
    EXPECT_EQ(errorsOf("services:\n  a:\n    plugin: echo\n    listen: 7\n    send_timeout: never\n"),
              "plughost.yaml:5:19: services.a.send_timeout: 'never' is not a duration (e.g. 30, 1.5, 500ms, "
              "30s, 5m, 1h)");
    EXPECT_EQ(errorsOf("defaults:\n  send_timeout: [1]\nservices: {}\n"),
              "plughost.yaml:2:17: defaults.send_timeout: must be a single value, not a list");
    EXPECT_EQ(errorsOf("services:\n  a:\n    plugin: echo\n    listen: 7\n    max_queue: 10\n"),
              "plughost.yaml:5:16: services.a.max_queue: must be between 1KiB and 1GiB");
    EXPECT_EQ(errorsOf("services:\n  a:\n    plugin: echo\n    listen: 7\n    settings: [1, 2]\n"),
              "plughost.yaml:5:15: services.a.settings: must be a map of the plugin's settings");
    EXPECT_EQ(errorsOf("log_level: loud\nservices: {}\n"),
              "plughost.yaml:1:12: log_level: 'loud' is not one of: debug, information, warning, error");
    EXPECT_EQ(errorsOf("log_format: yaml\nservices: {}\n"),
              "plughost.yaml:1:13: log_format: 'yaml' is not one of: text, json");
    EXPECT_EQ(errorsOf("log_format: [json]\nservices: {}\n"),
              "plughost.yaml:1:13: log_format: must be a single value, not a list");
    EXPECT_EQ(errorsOf("workers: -1\nservices: {}\n"),
              "plughost.yaml:1:10: workers: -1 is out of range (0-256)");
    EXPECT_EQ(errorsOf("services:\n  bad name:\n    plugin: echo\n    listen: 7\n"),
              "plughost.yaml:2:3: services.bad name: 'bad name' is not a valid service name (1-64 letters, "
              "digits, '_', '-' or '.')");
}

TEST(Config, AdminMustBeLoopback) {
    EXPECT_EQ(errorsOf("admin:\n  listen: 0.0.0.0:9000\nservices: {}\n"),
              "plughost.yaml:2:11: admin.listen: 0.0.0.0:9000 is not a loopback address; the admin endpoint "
              "listens on "
              "loopback only");
    EXPECT_NO_THROW(load("admin:\n  listen: ['[::1]:9000', '127.0.0.2:9000']\nservices: {}\n"));
}

TEST(Config, SyntaxErrorsNamePosition) {
    EXPECT_EQ(errorsOf("services:\n  a: [unclosed\n"),
              "plughost.yaml:3:1: syntax error: end of sequence flow not found");
}

TEST(Config, EveryProblemIsReportedInFileOrder) {
    const std::string errors =
        errorsOf("services:\n  a:\n    plugin: echo\n    listen: 99999\n  b:\n    listen: 1\n    typo: 2\n");
    EXPECT_EQ(errors,
              "plughost.yaml:4:13: services.a.listen: port 99999 is out of range (0-65535)\n"
              "plughost.yaml:5:3: services.b.plugin: missing; name the plugin that serves this service\n"
              "plughost.yaml:7:5: services.b.typo: unknown key (expected one of: plugin, listen, enabled, "
              "settings, "
              "max_connections, max_per_ip, rate, allow, deny, idle_timeout, max_line, max_queue, "
              "send_timeout, handshake_timeout, udp_amplification)");
}

TEST(Config, MissingFileIsReported) {
    try {
        plughost::config::loadFile("/nonexistent/plughost.yaml");
        FAIL();
    } catch (const ConfigError& error) {
        EXPECT_STREQ(error.what(), "/nonexistent/plughost.yaml: cannot read the config file");
    }
}

TEST(Config, AccessRulesAndRates) {
    const auto config = load(R"(max_connections: 5000
drain: 2s
defaults:
  max_per_ip: 10
  rate: 2.5
  deny: ["0.0.0.0/0", "::/0"]
  allow: [127.0.0.0/8, "::1"]
services:
  a:
    plugin: echo
    listen: 7
  b:
    plugin: echo
    listen: 8
    deny: [127.0.0.2]
    max_per_ip: 0
)");
    EXPECT_EQ(config.maxConnections, 5000u);
    EXPECT_EQ(config.drain.count(), 2000);
    const auto& a = config.services[0].limits;
    EXPECT_EQ(a.maxPerIp, 10u);
    EXPECT_DOUBLE_EQ(a.rate, 2.5);
    using Poco::Net::IPAddress;
    EXPECT_TRUE(a.admits(IPAddress("127.0.0.1")));
    EXPECT_TRUE(a.admits(IPAddress("::1")));
    EXPECT_FALSE(a.admits(IPAddress("10.1.2.3")));
    EXPECT_FALSE(a.admits(IPAddress("2001:db8::1")));
    const auto& b = config.services[1].limits;
    EXPECT_EQ(b.maxPerIp, 0u);
    EXPECT_FALSE(b.admits(IPAddress("127.0.0.2")));  // b's own deny list replaces the default one
    EXPECT_TRUE(b.admits(IPAddress("127.0.0.1")));
    EXPECT_NE(a.describe(), b.describe());
}

TEST(Config, MostSpecificRuleWins) {
    const auto config = load(
        "services:\n  a:\n    plugin: echo\n    listen: 7\n"
        "    allow: [10.1.0.0/16]\n    deny: [10.0.0.0/8, 10.1.2.0/24]\n");
    const auto& limits = config.services[0].limits;
    using Poco::Net::IPAddress;
    EXPECT_FALSE(limits.admits(IPAddress("10.9.9.9")));    // the /8 deny
    EXPECT_TRUE(limits.admits(IPAddress("10.1.9.9")));     // the /16 allow beats the /8 deny
    EXPECT_FALSE(limits.admits(IPAddress("10.1.2.3")));    // the /24 deny beats the /16 allow
    EXPECT_TRUE(limits.admits(IPAddress("192.168.1.1")));  // no rule matches: allowed
}

TEST(Config, BadAccessRulesAreExplained) {
    EXPECT_EQ(errorsOf("services:\n  a:\n    plugin: echo\n    listen: 7\n    allow: [10.0.0.0/33]\n"),
              "plughost.yaml:5:13: services.a.allow[0]: '10.0.0.0/33' has no valid prefix length (0-32)");
    EXPECT_EQ(errorsOf("services:\n  a:\n    plugin: echo\n    listen: 7\n    deny: [somewhere]\n"),
              "plughost.yaml:5:12: services.a.deny[0]: 'somewhere' is not an IP address");
    EXPECT_EQ(errorsOf("services:\n  a:\n    plugin: echo\n    listen: 7\n    deny: 10.0.0.0/8\n"),
              "plughost.yaml:5:11: services.a.deny: must be a list of addresses or CIDR blocks, e.g. "
              "[10.0.0.0/8, \"::1\"]");
    EXPECT_EQ(errorsOf("services:\n  a:\n    plugin: echo\n    listen: 7\n    rate: fast\n"),
              "plughost.yaml:5:11: services.a.rate: 'fast' is not a rate (new connections per second per "
              "address, 0 = no limit)");
    EXPECT_EQ(errorsOf("drain: forever\nservices: {}\n"),
              "plughost.yaml:1:8: drain: 'forever' is not a duration (e.g. 30, 1.5, 500ms, 30s, 5m, 1h)");
}

TEST(Config, DurationsAndSizes) {
    using plughost::config::parseDuration;
    using plughost::config::parseSize;
    EXPECT_EQ(parseDuration("30").count(), 30000);
    EXPECT_EQ(parseDuration("1.5").count(), 1500);
    EXPECT_EQ(parseDuration("250ms").count(), 250);
    EXPECT_EQ(parseDuration("5m").count(), 300000);
    EXPECT_EQ(parseDuration("1h").count(), 3600000);
    EXPECT_THROW(parseDuration("-1"), std::invalid_argument);
    EXPECT_THROW(parseDuration("ms"), std::invalid_argument);
    EXPECT_EQ(parseSize("4096"), 4096u);
    EXPECT_EQ(parseSize("64KiB"), 65536u);
    EXPECT_EQ(parseSize("2M"), 2u * 1024 * 1024);
    EXPECT_THROW(parseSize("1.5MiB"), std::invalid_argument);
    EXPECT_THROW(parseSize("lots"), std::invalid_argument);
}

TEST(Config, FingerprintChangesWithAnythingThatMatters) {
    const auto a = load("services:\n  a:\n    plugin: echo\n    listen: 7\n    settings: {x: 1}\n");
    const auto same = load("services:\n  a:\n    plugin: echo\n    listen: 7\n    settings: {x: 1}\n");
    const auto other = load("services:\n  a:\n    plugin: echo\n    listen: 7\n    settings: {x: 2}\n");
    const auto port = load("services:\n  a:\n    plugin: echo\n    listen: 8\n    settings: {x: 1}\n");
    EXPECT_EQ(a.services[0].fingerprint(), same.services[0].fingerprint());
    EXPECT_NE(a.services[0].fingerprint(), other.services[0].fingerprint());
    EXPECT_NE(a.services[0].fingerprint(), port.services[0].fingerprint());
}

}  // namespace

namespace {

TEST(Config, WebSocketListenEntries) {
    const auto config = parse(
        "services:\n  chat:\n    plugin: chat\n    listen:\n      - 7009\n"
        "      - address: 7010\n"
        "        websocket: {path: /chat, origins: ['https://chat.example.org'], "
        "ping_interval: 5s}\n"
        "        static: .\n      - {address: 7011, websocket: true}\n",
        "plughost.yaml", "/tmp");
    const auto& listen = config.services[0].listen;
    ASSERT_EQ(listen.size(), 3u);
    EXPECT_EQ(listen[0].websocket, nullptr);
    ASSERT_NE(listen[1].websocket, nullptr);
    EXPECT_EQ(listen[1].websocket->path, "/chat");
    EXPECT_EQ(listen[1].websocket->origins, std::vector<std::string>{"https://chat.example.org"});
    EXPECT_EQ(listen[1].websocket->pingIntervalMs, 5000);
    EXPECT_EQ(listen[1].websocket->staticDir, "/tmp");  // relative to the config's folder, resolved
    ASSERT_NE(listen[2].websocket, nullptr);
    EXPECT_EQ(listen[2].websocket->path, "/");
    EXPECT_EQ(listen[2].websocket->pingIntervalMs, 30000);
    EXPECT_TRUE(listen[2].websocket->staticDir.empty());
}

TEST(Config, BadWebSocketKeysNameFileLineColumnAndKey) {
    const std::string head = "services:\n  a:\n    plugin: echo\n    listen:\n      - address: 7000\n";
    EXPECT_EQ(
        errorsOf(head + "        websocket: {path: chat}\n"),
        "plughost.yaml:6:27: services.a.listen[0].websocket.path: 'chat' is not a request path (one like "
        "/chat)");
    EXPECT_EQ(errorsOf(head + "        websocket: {origins: https://x.org}\n"),
              "plughost.yaml:6:30: services.a.listen[0].websocket.origins: must be a list of origins, like "
              "[\"https://chat.example.org\"]");
    EXPECT_EQ(errorsOf(head + "        websocket: {origins: ['https://x.org/']}\n"),
              "plughost.yaml:6:31: services.a.listen[0].websocket.origins[0]: 'https://x.org/' is not an "
              "origin: scheme://host[:port] with no path, as browsers send it");
    EXPECT_EQ(errorsOf(head + "        websocket: {pings: 1}\n"),
              "plughost.yaml:6:21: services.a.listen[0].websocket.pings: unknown key (expected one of: path, "
              "origins, ping_interval)");
    EXPECT_EQ(errorsOf(head + "        websocket: {ping_interval: soon}\n")
                  .rfind("plughost.yaml:6:36: services.a.listen[0].websocket.ping_interval: ", 0),
              0u);
    EXPECT_EQ(errorsOf(head + "        static: /nonexistent-plughost\n"),
              "plughost.yaml:6:17: services.a.listen[0].static: static files are served beside a WebSocket: "
              "add websocket: to this entry");
    EXPECT_EQ(errorsOf(head + "        websocket: {}\n        static: /nonexistent-plughost\n"),
              "plughost.yaml:7:17: services.a.listen[0].static: '/nonexistent-plughost' is not a folder "
              "(static files are served from one)");
    EXPECT_EQ(errorsOf(head + "        protocol: udp\n        websocket: {}\n"),
              "plughost.yaml:7:20: services.a.listen[0].websocket: WebSocket is for TCP only: a udp listen "
              "entry cannot have websocket");
}

}  // namespace
