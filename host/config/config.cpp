#include "config/config.h"

#include <Poco/Net/IPAddress.h>
#include <Poco/Path.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "config/schema.h"
#include "config/typed.h"

namespace plughost::config {

std::string Problem::format() const {
    std::ostringstream out;
    out << at.file;
    if (at.line > 0) {
        out << ':' << at.line << ':' << at.column;
    }
    out << ": ";
    if (!keyPath.empty()) {
        out << keyPath << ": ";
    }
    out << message;
    return out.str();
}

namespace {

std::string joinProblems(const std::vector<Problem>& problems) {
    std::string text;
    for (const auto& problem : problems) {
        if (!text.empty()) {
            text += '\n';
        }
        text += problem.format();
    }
    return text;
}

}  // namespace

ConfigError::ConfigError(std::vector<Problem> problems)
    : std::runtime_error(joinProblems(problems)), problems_(std::move(problems)) {}

std::string ListenAddress::text() const {
    return isIPv6() ? "[" + host + "]:" + std::to_string(port) : host + ":" + std::to_string(port);
}

bool Cidr::contains(const Poco::Net::IPAddress& address) const {
    if (address.family() != network.family()) {
        return false;
    }
    const Poco::Net::IPAddress mask(prefix, network.family());
    return (address & mask) == (network & mask);
}

Cidr parseCidr(const std::string& text) {
    Cidr cidr;
    cidr.text = text;
    const auto slash = text.find('/');
    const std::string address = text.substr(0, slash);
    if (address == "::") {
        cidr.network = Poco::Net::IPAddress(Poco::Net::IPAddress::IPv6);  // Poco 1.11 does not parse "::"
    } else if (!Poco::Net::IPAddress::tryParse(address, cidr.network)) {
        throw std::invalid_argument("'" + address + "' is not an IP address");
    }
    const unsigned bits = cidr.network.family() == Poco::Net::IPAddress::IPv4 ? 32 : 128;
    cidr.prefix = bits;
    if (slash != std::string::npos) {
        const std::string prefix = text.substr(slash + 1);
        if (prefix.empty() || prefix.size() > 3 || !std::all_of(prefix.begin(), prefix.end(), ::isdigit) ||
            std::stoul(prefix) > bits) {
            throw std::invalid_argument("'" + text + "' has no valid prefix length (0-" +
                                        std::to_string(bits) + ")");
        }
        cidr.prefix = static_cast<unsigned>(std::stoul(prefix));
    }
    return cidr;
}

std::string Limits::describe() const {
    std::ostringstream out;
    out << maxConnections << ',' << maxPerIp << ',' << rate << ',' << idleTimeout.count() << ',' << maxLine
        << ',' << maxQueue << ',' << sendTimeout.count() << ',' << handshakeTimeout.count() << ','
        << idleTimeoutSet << ',' << udpAmplification << ",allow=";
    for (const auto& cidr : allow) {
        out << cidr.text << ' ';
    }
    out << ",deny=";
    for (const auto& cidr : deny) {
        out << cidr.text << ' ';
    }
    return out.str();
}

std::chrono::milliseconds Limits::udpIdleTimeout() const {
    return idleTimeoutSet ? idleTimeout : kUdpIdleDefault;
}

bool Limits::admits(const Poco::Net::IPAddress& address) const {
    // Longest prefix wins; at equal length deny wins; no match at all allows.
    int best = -1;
    bool allowed = true;
    for (const auto& cidr : deny) {
        if (static_cast<int>(cidr.prefix) > best && cidr.contains(address)) {
            best = static_cast<int>(cidr.prefix);
            allowed = false;
        }
    }
    for (const auto& cidr : allow) {
        if (static_cast<int>(cidr.prefix) > best && cidr.contains(address)) {
            best = static_cast<int>(cidr.prefix);
            allowed = true;
        }
    }
    return allowed;
}

std::string ServiceConfig::fingerprint() const {
    std::ostringstream out;
    out << "plugin=" << plugin << ";enabled=" << enabled << ";listen=";
    // Whether an address speaks TLS is part of the service; which certificates it uses is not: a reload
    // hands new ones to the running listener, and open sessions keep theirs.
    for (const auto& address : listen) {
        out << address.text() << (address.tls ? "+tls" : "") << (address.udp ? "+udp" : "");
        if (address.websocket) {
            out << "+ws=" << address.websocket->path << '|' << address.websocket->staticDir << '|'
                << address.websocket->pingIntervalMs;
            for (const auto& origin : address.websocket->origins) {
                out << '|' << origin;
            }
        }
        out << ',';
    }
    out << ";limits=" << limits.describe() << ";settings=";
    YAML::Emitter emitter;
    emitter << YAML::Flow << settings;
    out << emitter.c_str();
    return out.str();
}

const ServiceConfig* HostConfig::find(const std::string& name) const {
    for (const auto& service : services) {
        if (service.name == name) {
            return &service;
        }
    }
    return nullptr;
}

Position positionOf(const YAML::Node& node, const std::string& file) {
    const YAML::Mark mark = node.Mark();
    if (mark.is_null()) {
        return {file, 0, 0};
    }
    return {file, mark.line + 1, mark.column + 1};
}

namespace {

std::uint16_t parsePort(const std::string& text) {
    if (text.empty() || text.size() > 6 || !std::all_of(text.begin(), text.end(), ::isdigit)) {
        throw std::invalid_argument("'" + text + "' is not a port number");
    }
    const long port = std::stol(text);
    if (port > 65535) {
        throw std::invalid_argument("port " + text + " is out of range (0-65535)");
    }
    return static_cast<std::uint16_t>(port);
}

}  // namespace

ListenAddress parseListenAddress(const std::string& text) {
    ListenAddress address;
    std::string portText;
    if (text.find(':') == std::string::npos) {
        address.host = "127.0.0.1";  // a bare port means loopback: nothing is exposed by accident
        portText = text;
    } else if (!text.empty() && text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            throw std::invalid_argument("'" + text + "' is not [IPv6]:PORT");
        }
        address.host = text.substr(1, close - 1);
        portText = text.substr(close + 2);
        Poco::Net::IPAddress ip;
        if (!Poco::Net::IPAddress::tryParse(address.host, ip) || ip.family() != Poco::Net::IPAddress::IPv6) {
            throw std::invalid_argument("'" + address.host + "' is not an IPv6 address");
        }
        address.host = ip.toString();
    } else {
        const auto colon = text.rfind(':');
        if (text.find(':') != colon) {
            throw std::invalid_argument("'" + text + "': write IPv6 addresses as [ADDRESS]:PORT");
        }
        address.host = text.substr(0, colon);
        portText = text.substr(colon + 1);
        if (address.host == "localhost") {
            address.host = "127.0.0.1";
        } else if (address.host == "*") {
            address.host = "0.0.0.0";
        }
        Poco::Net::IPAddress ip;
        if (!Poco::Net::IPAddress::tryParse(address.host, ip) || ip.family() != Poco::Net::IPAddress::IPv4) {
            throw std::invalid_argument("'" + address.host +
                                        "' is not an IPv4 address (use an IP literal, localhost or *)");
        }
    }
    address.port = parsePort(portText);
    return address;
}

std::chrono::milliseconds parseDuration(const std::string& text) {
    static const std::vector<std::pair<std::string, double>> units = {
        {"ms", 1.0}, {"s", 1000.0}, {"m", 60000.0}, {"h", 3600000.0}};
    std::string number = text;
    double scale = 1000.0;  // plain numbers are seconds
    for (const auto& [suffix, factor] : units) {
        if (text.size() > suffix.size() &&
            text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0 &&
            std::isdigit(static_cast<unsigned char>(text[text.size() - suffix.size() - 1]))) {
            number = text.substr(0, text.size() - suffix.size());
            scale = factor;
            break;
        }
    }
    std::size_t used = 0;
    double value = -1;
    try {
        value = std::stod(number, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used != number.size() || number.empty() || !(value >= 0) || value > 1e9) {
        throw std::invalid_argument("'" + text + "' is not a duration (e.g. 30, 1.5, 500ms, 30s, 5m, 1h)");
    }
    return std::chrono::milliseconds(static_cast<std::int64_t>(value * scale + 0.5));
}

std::size_t parseSize(const std::string& text) {
    static const std::vector<std::pair<std::string, std::size_t>> units = {
        {"KiB", 1024}, {"MiB", 1024 * 1024}, {"GiB", 1024 * 1024 * 1024},
        {"K", 1024},   {"M", 1024 * 1024},   {"G", 1024 * 1024 * 1024},
        {"B", 1}};
    std::string number = text;
    std::size_t scale = 1;
    for (const auto& [suffix, factor] : units) {
        if (text.size() > suffix.size() &&
            text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0) {
            number = text.substr(0, text.size() - suffix.size());
            scale = factor;
            break;
        }
    }
    if (number.empty() || number.size() > 12 || !std::all_of(number.begin(), number.end(), ::isdigit)) {
        throw std::invalid_argument("'" + text + "' is not a size (e.g. 4096, 64KiB, 1MiB)");
    }
    return static_cast<std::size_t>(std::stoull(number)) * scale;
}

namespace {

// Walks the YAML tree, collecting problems instead of stopping at the first.
class Reader {
public:
    Reader(std::string file, std::string baseDir) : file_(std::move(file)), baseDir_(std::move(baseDir)) {}

    HostConfig read(const YAML::Node& root) {
        HostConfig host;
        host.file = file_;
        host.pluginDir = baseDir_;
        if (!root.IsDefined() || root.IsNull()) {
            problem(root, "", "the file is empty; it needs at least 'services:'");
            finish();
        }
        if (!root.IsMap()) {
            problem(root, "", "the top level must be a map of settings");
            finish();
        }
        checkKeys(root, "", keysOf(Section::Top));
        if (root["plugin_dir"]) {
            host.pluginDir = absolute(scalar(root["plugin_dir"], "plugin_dir"));
        }
        if (root["log_level"]) {
            host.logLevel =
                choice(root["log_level"], "log_level", {"debug", "information", "warning", "error"});
        }
        if (root["log_format"]) {
            host.logFormat = choice(root["log_format"], "log_format", {"text", "json"});
        }
        if (root["workers"]) {
            host.workers = static_cast<unsigned>(integer(root["workers"], "workers", 0, 256));
        }
        if (root["watch"]) {
            host.watch = boolean(root["watch"], "watch");
        }
        if (root["max_connections"]) {
            host.maxConnections =
                static_cast<std::size_t>(integer(root["max_connections"], "max_connections", 0, 10'000'000));
        }
        if (root["user"]) {
            host.user = scalar(root["user"], "user");
            if (!host.user.empty() && ::getpwnam(host.user.c_str()) == nullptr) {
                problem(root["user"], "user", "no such user: " + host.user);
            }
        }
        if (root["group"]) {
            host.group = scalar(root["group"], "group");
            if (!root["user"]) {
                problem(root["group"], "group", "set user: too; group: alone is not supported");
            } else if (!host.group.empty() && ::getgrnam(host.group.c_str()) == nullptr) {
                problem(root["group"], "group", "no such group: " + host.group);
            }
        }
        if (root["drain"]) {
            host.drain = parsed(root["drain"], "drain", parseDuration);
        }
        if (root["admin"]) {
            host.admin = readAdmin(root["admin"]);
        }
        if (root["defaults"]) {
            const YAML::Node defaults = root["defaults"];
            if (expectMap(defaults, "defaults")) {
                checkKeys(defaults, "defaults", keysOf(Section::Limits));
                host.defaults = readLimits(defaults, "defaults", Limits{});
            }
        }
        const YAML::Node services = root["services"];
        if (!services) {
            problem(root, "services", "missing; declare at least one service");
        } else if (services.IsMap()) {
            for (const auto& entry : services) {
                host.services.push_back(readService(entry.first, entry.second, host.defaults));
            }
        } else if (!services.IsNull()) {
            problem(services, "services", "must be a map of service names to their settings");
        }
        checkAddressConflicts(host.services);
        finish();
        host.warnings = warnings_;
        return host;
    }

private:
    void problem(const YAML::Node& node, const std::string& keyPath, const std::string& message) {
        problems_.push_back({positionOf(node, file_), keyPath, message});
    }

    void finish() {
        if (!problems_.empty()) {
            std::stable_sort(problems_.begin(), problems_.end(), [](const Problem& a, const Problem& b) {
                return std::tie(a.at.line, a.at.column) < std::tie(b.at.line, b.at.column);
            });
            throw ConfigError(problems_);
        }
    }

    bool expectMap(const YAML::Node& node, const std::string& path) {
        if (node.IsMap()) {
            return true;
        }
        problem(node, path, "must be a map");
        return false;
    }

    // Unknown and repeated keys are errors: a typo must never pass silently.
    void checkKeys(const YAML::Node& map, const std::string& path, const std::vector<std::string>& allowed) {
        std::set<std::string> seen;
        for (const auto& entry : map) {
            const std::string key = entry.first.Scalar();
            const std::string keyPath = path.empty() ? key : path + "." + key;
            if (!seen.insert(key).second) {
                problem(entry.first, keyPath, "duplicate key");
            } else if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
                std::string known;
                for (const auto& name : allowed) {
                    known += (known.empty() ? "" : ", ") + name;
                }
                problem(entry.first, keyPath, "unknown key (expected one of: " + known + ")");
            }
        }
    }

    // The typed readers: the value, or the problem recorded and a placeholder returned.
    template <class T>
    T take(const YAML::Node& node, const std::string& path, typed::Checked<T> checked, T fallback = T{}) {
        if (!checked) {
            problem(node, path, checked.problem);
            return fallback;
        }
        return std::move(*checked.value);
    }

    std::string scalar(const YAML::Node& node, const std::string& path) {
        return take(node, path, typed::text(node));
    }

    std::int64_t integer(const YAML::Node& node, const std::string& path, std::int64_t min,
                         std::int64_t max) {
        return take(node, path, typed::wholeNumber(node, min, max), min);
    }

    std::string choice(const YAML::Node& node, const std::string& path,
                       const std::vector<std::string>& choices) {
        return take(node, path, typed::choice(node, choices));
    }

    bool boolean(const YAML::Node& node, const std::string& path) {
        return take(node, path, typed::boolean(node));
    }

    template <class Parse>
    auto parsed(const YAML::Node& node, const std::string& path, Parse parse)
        -> decltype(parse(std::string{})) {
        const std::string text = scalar(node, path);
        if (node.IsScalar()) {
            try {
                return parse(text);
            } catch (const std::invalid_argument& error) {
                problem(node, path, error.what());
            }
        }
        return {};
    }

    std::string absolute(const std::string& path) {
        if (path.empty()) {
            return path;
        }
        Poco::Path resolved(path);
        return resolved.isAbsolute() ? resolved.toString()
                                     : Poco::Path(Poco::Path::forDirectory(baseDir_), resolved).toString();
    }

    Limits readLimits(const YAML::Node& map, const std::string& path, Limits limits) {
        if (map["max_connections"]) {
            limits.maxConnections = static_cast<std::size_t>(
                integer(map["max_connections"], path + ".max_connections", 1, 10'000'000));
        }
        if (map["max_per_ip"]) {
            limits.maxPerIp =
                static_cast<std::size_t>(integer(map["max_per_ip"], path + ".max_per_ip", 0, 10'000'000));
        }
        if (map["rate"]) {
            const std::string text = scalar(map["rate"], path + ".rate");
            const auto value = typed::number(map["rate"]);
            if (map["rate"].IsScalar() &&
                (!value || !(*value >= 0 && *value <= 1e6))) {  // NaN is no rate either
                problem(map["rate"], path + ".rate",
                        typed::quoted(text) +
                            " is not a rate (new connections per second per address, 0 = no limit)");
            }
            limits.rate = value ? std::max(0.0, *value) : 0.0;
        }
        for (const char* list : {"allow", "deny"}) {
            if (map[list]) {
                auto& target = std::string(list) == "allow" ? limits.allow : limits.deny;
                target.clear();
                const YAML::Node node = map[list];
                const std::string listPath = path + "." + list;
                if (!node.IsSequence()) {
                    problem(node, listPath,
                            "must be a list of addresses or CIDR blocks, e.g. [10.0.0.0/8, \"::1\"]");
                    continue;
                }
                for (std::size_t i = 0; i < node.size(); ++i) {
                    const std::string text = scalar(node[i], listPath + "[" + std::to_string(i) + "]");
                    try {
                        target.push_back(parseCidr(text));
                    } catch (const std::invalid_argument& error) {
                        problem(node[i], listPath + "[" + std::to_string(i) + "]", error.what());
                    }
                }
            }
        }
        if (map["idle_timeout"]) {
            limits.idleTimeout = parsed(map["idle_timeout"], path + ".idle_timeout", parseDuration);
            // Only a service's own idle_timeout is meant for its UDP sessions: one under defaults: was
            // written with TCP sessions in mind (the shipped config has 10m there).
            limits.idleTimeoutSet = path != "defaults";
        }
        if (map["max_line"]) {
            const std::size_t value = parsed(map["max_line"], path + ".max_line", parseSize);
            if (map["max_line"].IsScalar() && (value < 1 || value > 64 * 1024 * 1024)) {
                problem(map["max_line"], path + ".max_line", "must be between 1 byte and 64MiB");
            }
            limits.maxLine = value;
        }
        if (map["max_queue"]) {
            const std::size_t value = parsed(map["max_queue"], path + ".max_queue", parseSize);
            if (map["max_queue"].IsScalar() && (value < 1024 || value > 1024ULL * 1024 * 1024)) {
                problem(map["max_queue"], path + ".max_queue", "must be between 1KiB and 1GiB");
            }
            limits.maxQueue = value;
        }
        if (map["send_timeout"]) {
            limits.sendTimeout = parsed(map["send_timeout"], path + ".send_timeout", parseDuration);
        }
        if (map["handshake_timeout"]) {
            limits.handshakeTimeout =
                parsed(map["handshake_timeout"], path + ".handshake_timeout", parseDuration);
            if (map["handshake_timeout"].IsScalar() && limits.handshakeTimeout.count() <= 0) {
                problem(map["handshake_timeout"], path + ".handshake_timeout", "must be more than 0");
            }
        }
        if (map["udp_amplification"]) {
            const std::string text = scalar(map["udp_amplification"], path + ".udp_amplification");
            const auto value = typed::number(map["udp_amplification"]);
            if (map["udp_amplification"].IsScalar() && (!value || !(*value >= 1 && *value <= 100))) {
                problem(map["udp_amplification"], path + ".udp_amplification",
                        typed::quoted(text) +
                            " is not a factor between 1 and 100 (a UDP session sends its peer at most this "
                            "many times the bytes the peer sent it)");
            }
            limits.udpAmplification = value && *value >= 1 && *value <= 100 ? *value : 3.0;
        }
        return limits;
    }

    // A listen entry's `tls:` map; null (with the problems recorded) when it is not usable.
    std::shared_ptr<const ListenTls> readTls(const YAML::Node& node, const std::string& path) {
        if (!expectMap(node, path)) {
            return nullptr;
        }
        checkKeys(node, path, keysOf(Section::Tls));
        auto tls = std::make_shared<ListenTls>();
        std::vector<YAML::Node> certificateNodes;
        auto readPair = [&](const YAML::Node& map, const std::string& mapPath) {
            transports::TlsCertificate files;
            for (const char* key : {"certificate", "key"}) {
                if (!map[key]) {
                    problem(map, mapPath + "." + key,
                            std::string("missing; give the path of the PEM ") +
                                (std::string(key) == "key" ? "private key" : "certificate chain"));
                    return;
                }
            }
            files.certificate = absolute(scalar(map["certificate"], mapPath + ".certificate"));
            files.key = absolute(scalar(map["key"], mapPath + ".key"));
            tls->certificates.push_back(files);
            certificateNodes.push_back(map);
        };
        const std::size_t before = problems_.size();
        readPair(node, path);
        if (node["sni"]) {
            const YAML::Node sni = node["sni"];
            if (!sni.IsSequence() || sni.size() == 0) {
                problem(sni, path + ".sni", "must be a list of {certificate: FILE, key: FILE}");
            } else {
                for (std::size_t i = 0; i < sni.size(); ++i) {
                    const std::string itemPath = path + ".sni[" + std::to_string(i) + "]";
                    if (expectMap(sni[i], itemPath)) {
                        checkKeys(sni[i], itemPath, {"certificate", "key"});
                        readPair(sni[i], itemPath);
                    }
                }
            }
        }
        if (node["client_ca"]) {
            tls->clientCa = absolute(scalar(node["client_ca"], path + ".client_ca"));
        }
        tls->minVersion = TLS1_2_VERSION;
        if (node["min_version"]) {
            const std::string version = scalar(node["min_version"], path + ".min_version");
            if (version == "1.3") {
                tls->minVersion = TLS1_3_VERSION;
            } else if (version != "1.2") {
                problem(node["min_version"], path + ".min_version",
                        "must be 1.2 or 1.3 (older versions are not offered)");
            }
        }
        if (problems_.size() != before) {
            return nullptr;
        }
        transports::TlsSettings settings;
        settings.certificates = tls->certificates;
        settings.clientCa = tls->clientCa;
        settings.minVersion = tls->minVersion;
        std::string error;
        std::vector<std::string> warnings;
        tls->context = transports::TlsContext::create(settings, error, warnings);
        // Say which key the problem is about: the file named in the message.
        auto nodeFor = [&](const std::string& message, std::string& keyPath) {
            for (std::size_t i = 0; i < tls->certificates.size(); ++i) {
                const std::string itemPath = i == 0 ? path : path + ".sni[" + std::to_string(i - 1) + "]";
                if (message.find(tls->certificates[i].key) != std::string::npos &&
                    message.find(tls->certificates[i].key) < message.find(tls->certificates[i].certificate)) {
                    keyPath = itemPath + ".key";
                    return certificateNodes[i]["key"];
                }
                if (message.find(tls->certificates[i].certificate) != std::string::npos) {
                    keyPath = itemPath + ".certificate";
                    return certificateNodes[i]["certificate"];
                }
                if (message.find(tls->certificates[i].key) != std::string::npos) {
                    keyPath = itemPath + ".key";
                    return certificateNodes[i]["key"];
                }
            }
            keyPath = path + ".client_ca";
            return node["client_ca"] ? node["client_ca"] : node;
        };
        for (const auto& warning : warnings) {
            std::string keyPath;
            const YAML::Node at = nodeFor(warning, keyPath);
            warnings_.push_back({positionOf(at, file_), keyPath, warning});
        }
        if (!tls->context) {
            std::string keyPath;
            const YAML::Node at = nodeFor(error, keyPath);
            problem(at, keyPath, error);
            return nullptr;
        }
        return tls;
    }

    // A listen entry's `websocket:` map and `static:` folder; null (with the problems recorded) when not
    // usable.
    std::shared_ptr<const transports::WebSocketSettings> readWebSocket(const YAML::Node& entry,
                                                                       const std::string& itemPath) {
        const YAML::Node node = entry["websocket"];
        const std::string path = itemPath + ".websocket";
        auto settings = std::make_shared<transports::WebSocketSettings>();
        const std::size_t before = problems_.size();
        if (node.IsMap()) {
            checkKeys(node, path, keysOf(Section::WebSocket));
            if (node["path"]) {
                settings->path = scalar(node["path"], path + ".path");
                if (node["path"].IsScalar() && (settings->path.empty() || settings->path.front() != '/' ||
                                                settings->path.find_first_of(" ?#\t") != std::string::npos)) {
                    problem(node["path"], path + ".path",
                            typed::quoted(settings->path) + " is not a request path (one like /chat)");
                }
            }
            if (node["origins"]) {
                const YAML::Node origins = node["origins"];
                if (!origins.IsSequence()) {
                    problem(origins, path + ".origins",
                            "must be a list of origins, like [\"https://chat.example.org\"]");
                } else {
                    for (std::size_t i = 0; i < origins.size(); ++i) {
                        const std::string itemKey = path + ".origins[" + std::to_string(i) + "]";
                        const std::string origin = scalar(origins[i], itemKey);
                        if (origins[i].IsScalar() &&
                            (origin.find("://") == std::string::npos || origin.back() == '/')) {
                            problem(origins[i], itemKey,
                                    typed::quoted(origin) +
                                        " is not an origin: scheme://host[:port] with no path, as browsers "
                                        "send it");
                        }
                        settings->origins.push_back(origin);
                    }
                }
            }
            if (node["ping_interval"]) {
                const auto interval = parsed(node["ping_interval"], path + ".ping_interval", parseDuration);
                settings->pingIntervalMs = interval.count();
                if (node["ping_interval"].IsScalar() && interval.count() < 0) {
                    problem(node["ping_interval"], path + ".ping_interval", "must be 0 (never) or more");
                }
            }
        } else if (!(node.IsScalar() &&
                     (node.Scalar() == "true" || node.Scalar() == "on" || node.Scalar() == "yes"))) {
            problem(node, path, "must be a map ({path: /chat, origins: [...]}) or true");
        }
        if (entry["static"]) {
            const std::string dir = absolute(scalar(entry["static"], itemPath + ".static"));
            if (entry["static"].IsScalar()) {
                char resolved[PATH_MAX];
                struct stat info {};
                if (::realpath(dir.c_str(), resolved) == nullptr || ::stat(resolved, &info) != 0 ||
                    !S_ISDIR(info.st_mode)) {
                    problem(entry["static"], itemPath + ".static",
                            typed::quoted(dir) + " is not a folder (static files are served from one)");
                } else {
                    settings->staticDir = resolved;
                }
            }
        }
        return problems_.size() == before ? settings : nullptr;
    }

    std::vector<ListenAddress> readAddresses(const YAML::Node& node, const std::string& path,
                                             bool tlsAllowed) {
        std::vector<ListenAddress> addresses;
        auto readOne = [&](const YAML::Node& entry, const std::string& itemPath) {
            YAML::Node item = entry;
            std::string addressPath = itemPath;
            std::shared_ptr<const ListenTls> tls;
            std::shared_ptr<const transports::WebSocketSettings> websocket;
            bool udp = false;
            if (entry.IsMap()) {
                checkKeys(entry, itemPath,
                          tlsAllowed ? keysOf(Section::Listen) : std::vector<std::string>{"address"});
                if (!entry["address"]) {
                    problem(entry, itemPath + ".address", "missing; give HOST:PORT, [IPv6]:PORT or PORT");
                    return;
                }
                item.reset(entry["address"]);  // rebinds (operator= would overwrite the map in the document)
                addressPath = itemPath + ".address";
                if (tlsAllowed && entry["protocol"]) {
                    const std::string protocol = scalar(entry["protocol"], itemPath + ".protocol");
                    if (protocol == "udp") {
                        udp = true;
                    } else if (entry["protocol"].IsScalar() && protocol != "tcp") {
                        problem(entry["protocol"], itemPath + ".protocol",
                                typed::quoted(protocol) + " is not a protocol; use tcp (the default) or udp");
                        return;
                    }
                    if (udp && entry["tls"]) {
                        problem(
                            entry["tls"], itemPath + ".tls",
                            "TLS is for TCP only: a udp listen entry cannot have tls (DTLS is not offered)");
                        return;
                    }
                }
                if (tlsAllowed && entry["tls"]) {
                    tls = readTls(entry["tls"], itemPath + ".tls");
                    if (!tls) {
                        return;
                    }
                }
                if (tlsAllowed && entry["static"] && !entry["websocket"]) {
                    problem(entry["static"], itemPath + ".static",
                            "static files are served beside a WebSocket: add websocket: to this entry");
                    return;
                }
                if (tlsAllowed && entry["websocket"]) {
                    if (udp) {
                        problem(entry["websocket"], itemPath + ".websocket",
                                "WebSocket is for TCP only: a udp listen entry cannot have websocket");
                        return;
                    }
                    websocket = readWebSocket(entry, itemPath);
                    if (!websocket) {
                        return;
                    }
                }
            }
            const std::string text = scalar(item, addressPath);
            if (!item.IsScalar()) {
                return;
            }
            try {
                addresses.push_back(parseListenAddress(text));
                addresses.back().tls = tls;
                addresses.back().udp = udp;
                addresses.back().websocket = websocket;
            } catch (const std::invalid_argument& error) {
                problem(item, addressPath, error.what());
            }
        };
        if (node.IsSequence()) {
            if (node.size() == 0) {
                problem(node, path, "needs at least one address");
            }
            for (std::size_t i = 0; i < node.size(); ++i) {
                readOne(node[i], path + "[" + std::to_string(i) + "]");
            }
        } else {
            readOne(node, path);
        }
        return addresses;
    }

    AdminConfig readAdmin(const YAML::Node& node) {
        AdminConfig admin;
        if (!expectMap(node, "admin")) {
            return admin;
        }
        checkKeys(node, "admin", keysOf(Section::Admin));
        if (node["socket"]) {
            admin.socketPath = absolute(scalar(node["socket"], "admin.socket"));
        }
        if (node["listen"]) {
            admin.listen = readAddresses(node["listen"], "admin.listen", false);
            for (const auto& address : admin.listen) {
                Poco::Net::IPAddress ip(address.host);
                if (!ip.isLoopback()) {
                    problem(node["listen"], "admin.listen",
                            address.text() +
                                " is not a loopback address; the admin endpoint listens on loopback only");
                }
            }
        }
        return admin;
    }

    ServiceConfig readService(const YAML::Node& key, const YAML::Node& node, const Limits& defaults) {
        ServiceConfig service;
        service.name = key.Scalar();
        service.at = positionOf(key, file_);
        const std::string path = "services." + service.name;
        if (const std::string why = typed::nameProblem("service", service.name); !why.empty()) {
            problem(key, path, why);
        }
        if (!expectMap(node, path)) {
            return service;
        }
        std::vector<std::string> allowed = keysOf(Section::Service);
        const auto& limits = keysOf(Section::Limits);
        allowed.insert(allowed.end(), limits.begin(), limits.end());
        checkKeys(node, path, allowed);
        if (!node["plugin"]) {
            problem(key, path + ".plugin", "missing; name the plugin that serves this service");
        } else {
            service.plugin = scalar(node["plugin"], path + ".plugin");
        }
        if (!node["listen"]) {
            problem(key, path + ".listen", "missing; give HOST:PORT, [IPv6]:PORT, PORT or a list of these");
        } else {
            service.listen = readAddresses(node["listen"], path + ".listen", true);
        }
        if (node["enabled"]) {
            service.enabled = boolean(node["enabled"], path + ".enabled");
        }
        service.settings = node["settings"] ? node["settings"] : YAML::Node(YAML::NodeType::Map);
        if (service.settings.IsNull()) {
            service.settings = YAML::Node(YAML::NodeType::Map);
        } else if (!service.settings.IsMap()) {
            problem(service.settings, path + ".settings", "must be a map of the plugin's settings");
        }
        service.limits = readLimits(node, path, defaults);
        if (node["listen"]) {
            listenNodes_.emplace(service.name, node["listen"]);
        }
        return service;
    }

    // Two services on one address and port cannot both bind; say which two.
    void checkAddressConflicts(const std::vector<ServiceConfig>& services) {
        struct Claim {
            const ServiceConfig* service;
            ListenAddress address;
        };
        std::vector<Claim> claims;
        for (const auto& service : services) {
            if (!service.enabled) {
                continue;
            }
            for (const auto& address : service.listen) {
                if (address.port == 0) {
                    continue;
                }
                for (const auto& claim : claims) {
                    if (claim.address.udp != address.udp) {
                        continue;  // TCP and UDP ports are separate spaces
                    }
                    const bool sameFamily = claim.address.isIPv6() == address.isIPv6();
                    const bool overlap = claim.address.host == address.host ||
                                         (sameFamily && (claim.address.isWildcard() || address.isWildcard()));
                    if (claim.address.port == address.port && overlap) {
                        const Position other = claim.service->at;
                        problem(listenNodes_[service.name], "services." + service.name + ".listen",
                                address.text() + (address.udp ? " (udp)" : "") +
                                    " is also used by service '" + claim.service->name + "' (" + other.file +
                                    ":" + std::to_string(other.line) + ")");
                    }
                }
                claims.push_back({&service, address});
            }
        }
    }

    std::string file_;
    std::string baseDir_;
    std::vector<Problem> problems_;
    std::vector<Problem> warnings_;
    std::map<std::string, YAML::Node> listenNodes_;
};

}  // namespace

HostConfig parse(const std::string& text, const std::string& file, const std::string& baseDir) {
    YAML::Node root;
    try {
        root = YAML::Load(text);
    } catch (const YAML::Exception& error) {
        Problem syntax;
        syntax.at = {file, error.mark.line + 1, error.mark.column + 1};
        syntax.message = "syntax error: " + error.msg;
        throw ConfigError({syntax});
    }
    return Reader(file, baseDir).read(root);
}

std::string defaultConfigFile(const std::string& executablePath) {
    const std::string buildDir =
        Poco::Path(PLUGHOST_BUILD_BIN_DIR, Poco::Path::PATH_UNIX).makeDirectory().toString();
    return Poco::Path(executablePath).parent().toString() == buildDir ? PLUGHOST_SOURCE_CONFIG
                                                                      : PLUGHOST_INSTALLED_CONFIG;
}

HostConfig loadFile(const std::string& path) {
    Poco::Path absolute(path);
    absolute.makeAbsolute();
    std::ifstream in(absolute.toString());
    if (!in) {
        Problem unreadable;
        unreadable.at.file = absolute.toString();
        unreadable.message = "cannot read the config file";
        throw ConfigError({unreadable});
    }
    std::stringstream text;
    text << in.rdbuf();
    return parse(text.str(), absolute.toString(), absolute.parent().toString());
}

}  // namespace plughost::config
