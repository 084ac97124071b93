// plughostctl: status, services, plugins, reload (through the admin socket) and check (offline).
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Logger.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/Path.h>
#include <Poco/StreamCopier.h>
#include <Poco/Util/Application.h>
#include <Poco/Util/HelpFormatter.h>
#include <unistd.h>

#include <algorithm>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "config/config.h"
#include "plugins/plugins.h"
#include "services/host.h"
#include "services/services.h"

namespace {

using Poco::JSON::Array;
using Poco::JSON::Object;
using Poco::Util::Option;
using Poco::Util::OptionSet;

// Exit statuses, after systemctl's: 3 means the daemon is not running.
constexpr int kOk = 0;
constexpr int kProblem = 1;
constexpr int kUsage = 2;
constexpr int kNotRunning = 3;

const char* const kInstalledSocket = "/run/plughost/admin.sock";

struct CommandHelp {
    const char* name;
    const char* usage;
    const char* text;
};

const CommandHelp kCommands[] = {
    {"status", "status [SERVICE...] [--json]",
     "Shows the host (version, pid, uptime, config, plugin folder) and one row per service: plugin, listen "
     "addresses, state, connections, accepted, refused, bytes in and out, errors. With SERVICE names, only "
     "those. Exit 0 when every enabled service shown runs, 1 when one failed, 2 for a name the host does not "
     "have, 3 when the host is not running."},
    {"services", "services",
     "Prints the names of the running host's services, one per line, in config order (for scripts and "
     "shell completion). Exit 0, or 3 when the host is not running."},
    {"plugins", "plugins [--json]",
     "Lists every file in the plugin folder: name, version, ABI, which services use it, and 'loaded' or "
     "'rejected: <reason>'."},
    {"reload", "reload",
     "Asks the host to re-read its config and rescan the plugin folder, then prints what happened to each "
     "service. A config that does not validate changes nothing. Exit 0 when applied, 1 when refused."},
    {"check", "check [FILE] [--plugin-dir DIR]",
     "Validates a config file without a running host: syntax, keys, that each plugin exists and accepts its "
     "settings. Prints 'FILE: ok' or every problem as file:line:column: key: message. Exit 0 or 1."},
};

class Table {
public:
    explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
    void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
    void print(std::ostream& out) const {
        std::vector<std::size_t> widths;
        for (const auto& row : rows_) {
            widths.resize(std::max(widths.size(), row.size()));
            for (std::size_t i = 0; i < row.size(); ++i) {
                widths[i] = std::max(widths[i], row[i].size());
            }
        }
        for (const auto& row : rows_) {
            std::string line;
            for (std::size_t i = 0; i < row.size(); ++i) {
                line += row[i];
                if (i + 1 < row.size()) {
                    line += std::string(widths[i] - row[i].size() + 2, ' ');
                }
            }
            out << line << '\n';
        }
    }

private:
    std::vector<std::vector<std::string>> rows_;
};

std::string bytes(std::uint64_t count) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double value = static_cast<double>(count);
    int unit = 0;
    while (value >= 1024 && unit < 4) {
        value /= 1024;
        ++unit;
    }
    std::ostringstream out;
    if (unit == 0) {
        out << count << " B";
    } else {
        out << std::fixed << std::setprecision(1) << value << ' ' << units[unit];
    }
    return out.str();
}

std::string duration(double seconds) {
    auto whole = static_cast<long>(seconds);
    std::ostringstream out;
    if (whole >= 86400) {
        out << whole / 86400 << "d";
        whole %= 86400;
    }
    if (whole >= 3600) {
        out << whole / 3600 << "h";
        whole %= 3600;
    }
    if (whole >= 60) {
        out << whole / 60 << "m";
        whole %= 60;
    }
    out << whole << "s";
    return out.str();
}

std::string joined(const Array::Ptr& items) {
    std::string text;
    for (std::size_t i = 0; items && i < items->size(); ++i) {
        text += (text.empty() ? "" : ", ") + items->getElement<std::string>(static_cast<unsigned>(i));
    }
    return text;
}

// The host's answer to one admin request.
struct Answer {
    int status = 0;
    std::string body;
};

class NotRunning : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

Answer request(const std::string& socketPath, const std::string& method, const std::string& path) {
    try {
        // HTTPClientSession refuses a Unix address itself, but takes a connected socket (POCO-NOTES.md).
        Poco::Net::StreamSocket socket(
            Poco::Net::SocketAddress(Poco::Net::SocketAddress::UNIX_LOCAL, socketPath));
        Poco::Net::HTTPClientSession session(socket);
        session.setTimeout(Poco::Timespan(30, 0));
        Poco::Net::HTTPRequest httpRequest(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
        httpRequest.setHost("localhost");
        httpRequest.setContentLength(0);
        session.sendRequest(httpRequest);
        Poco::Net::HTTPResponse response;
        std::istream& in = session.receiveResponse(response);
        Answer answer;
        answer.status = response.getStatus();
        Poco::StreamCopier::copyToString(in, answer.body);
        return answer;
    } catch (const Poco::Exception& error) {
        throw NotRunning("plughostd is not running (no answer on " + socketPath + ": " + error.displayText() +
                         ")");
    }
}

Object::Ptr parse(const std::string& body) { return Poco::JSON::Parser().parse(body).extract<Object::Ptr>(); }

class Ctl final : public Poco::Util::Application {
protected:
    void defineOptions(OptionSet& options) override {
        options.addOption(Option("help", "h", "help for plughostctl or for one command")
                              .callback(Poco::Util::OptionCallback<Ctl>(this, &Ctl::handleHelp)));
        options.addOption(Option("json", "j", "print JSON instead of a table")
                              .callback(Poco::Util::OptionCallback<Ctl>(this, &Ctl::handleJson)));
        options.addOption(Option("socket", "s", "the host's admin socket")
                              .argument("PATH")
                              .callback(Poco::Util::OptionCallback<Ctl>(this, &Ctl::handleSocket)));
        options.addOption(
            Option("config", "c", "find the admin socket in this config (default: the host's default config)")
                .argument("FILE")
                .callback(Poco::Util::OptionCallback<Ctl>(this, &Ctl::handleConfig)));
        options.addOption(Option("plugin-dir", "p", "check: use this plugin folder instead of the config's")
                              .argument("DIR")
                              .callback(Poco::Util::OptionCallback<Ctl>(this, &Ctl::handlePluginDir)));
    }

    void initialize(Application& self) override {
        // Messages are for the terminal; only the host's own log has timestamps.
        Poco::Logger::root().setLevel("error");
        Application::initialize(self);
    }

    int main(const std::vector<std::string>& args) override {
        if (args.empty()) {
            printHelp(nullptr);
            return helpRequested_ ? kOk : kUsage;
        }
        const auto command = std::find_if(std::begin(kCommands), std::end(kCommands),
                                          [&](const CommandHelp& c) { return args[0] == c.name; });
        if (command == std::end(kCommands)) {
            std::cerr << "plughostctl: unknown command '" << args[0] << "' (try --help)\n";
            return kUsage;
        }
        if (helpRequested_) {
            printHelp(command);
            return kOk;
        }
        try {
            if (args[0] == "check") {
                return check(args.size() > 1 ? args[1] : defaultConfig());
            }
            if (args[0] == "status") {
                return status({args.begin() + 1, args.end()});
            }
            if (args.size() > 1) {
                std::cerr << "plughostctl: " << args[0] << " takes no arguments (try --help)\n";
                return kUsage;
            }
            if (args[0] == "services") {
                return services();
            }
            if (args[0] == "plugins") {
                return plugins();
            }
            return reload();
        } catch (const NotRunning& error) {
            std::cerr << error.what() << '\n';
            return kNotRunning;
        } catch (const std::exception& error) {
            std::cerr << "plughostctl: " << error.what() << '\n';
            return kProblem;
        }
    }

private:
    std::string defaultConfig() const {
        return configPath_.empty()
                   ? plughost::config::defaultConfigFile(config().getString("application.path"))
                   : configPath_;
    }

    std::string socketPath() const {
        if (!socketPath_.empty()) {
            return socketPath_;
        }
        try {
            const auto hostConfig = plughost::config::loadFile(defaultConfig());
            if (!hostConfig.admin.socketPath.empty()) {
                return hostConfig.admin.socketPath;
            }
        } catch (const plughost::config::ConfigError&) {
        }
        return kInstalledSocket;
    }

    // The host's services, or only those named (each must exist).
    int status(const std::vector<std::string>& names) {
        const Answer answer = request(socketPath(), "GET", "/status");
        Object::Ptr root = parse(answer.body);
        Array::Ptr services = root->getArray("services");
        if (!names.empty()) {
            Array::Ptr chosen = Poco::makeShared<Array>();
            for (const auto& name : names) {
                bool found = false;
                for (std::size_t i = 0; i < services->size() && !found; ++i) {
                    const Object::Ptr service = services->getObject(static_cast<unsigned>(i));
                    if (service->getValue<std::string>("name") == name) {
                        chosen->add(service);
                        found = true;
                    }
                }
                if (!found) {
                    std::cerr << "plughostctl: the host has no service '" << name
                              << "' (plughostctl services lists them)\n";
                    return kUsage;
                }
            }
            services = chosen;
            root->set("services", services);
        }
        int exitCode = kOk;
        for (std::size_t i = 0; i < services->size(); ++i) {
            const auto state = services->getObject(static_cast<unsigned>(i))->getValue<std::string>("state");
            exitCode = state.rfind("failed", 0) == 0 ? kProblem : exitCode;
        }
        if (json_) {
            if (names.empty()) {
                std::cout << answer.body;
            } else {
                root->stringify(std::cout);
                std::cout << '\n';
            }
            return exitCode;
        }
        std::cout << "plughostd " << root->getValue<std::string>("version") << ", pid "
                  << root->getValue<long>("pid") << ", up "
                  << duration(root->getValue<double>("uptime_seconds")) << '\n'
                  << "config   " << root->getValue<std::string>("config_file") << " (loaded "
                  << root->getValue<std::string>("config_loaded_at") << ")\n"
                  << "plugins  " << root->getValue<std::string>("plugin_dir") << "\n\n";
        // STATE goes last: a failure's reason can be long.
        Table table(
            {"SERVICE", "PLUGIN", "LISTEN", "CONNS", "ACCEPTED", "REFUSED", "IN", "OUT", "ERRORS", "STATE"});
        for (std::size_t i = 0; i < services->size(); ++i) {
            const Object::Ptr service = services->getObject(static_cast<unsigned>(i));
            const Object::Ptr refused = service->getObject("refused");
            std::uint64_t refusedTotal = 0;
            std::string reasons;
            for (const auto& [reason, count] : *refused) {
                const auto n = count.convert<std::uint64_t>();
                refusedTotal += n;
                if (n > 0) {
                    reasons += (reasons.empty() ? "" : ",") + reason + "=" + std::to_string(n);
                }
            }
            const std::string version = service->getValue<std::string>("plugin_version");
            table.add({service->getValue<std::string>("name"),
                       service->getValue<std::string>("plugin") + (version.empty() ? "" : " " + version),
                       joined(service->getArray("listen")),
                       std::to_string(service->getValue<std::uint64_t>("connections")),
                       std::to_string(service->getValue<std::uint64_t>("accepted")),
                       std::to_string(refusedTotal) + (reasons.empty() ? "" : " (" + reasons + ")"),
                       bytes(service->getValue<std::uint64_t>("bytes_in")),
                       bytes(service->getValue<std::uint64_t>("bytes_out")),
                       std::to_string(service->getValue<std::uint64_t>("errors")),
                       service->getValue<std::string>("state")});
        }
        table.print(std::cout);
        // What plugins count themselves (ABI 2.3 service_count), one line per service that has any.
        bool first = true;
        for (std::size_t i = 0; i < services->size(); ++i) {
            const Object::Ptr service = services->getObject(static_cast<unsigned>(i));
            const Object::Ptr counters = service->getObject("counters");
            if (!counters || counters->size() == 0) {
                continue;
            }
            std::string line = service->getValue<std::string>("name") + ":";
            for (const auto& [name, count] : *counters) {
                line += " " + name + "=" + std::to_string(count.convert<std::uint64_t>());
            }
            std::cout << (first ? "\n" : "") << line << '\n';
            first = false;
        }
        return exitCode;
    }

    int services() {
        const Array::Ptr services = parse(request(socketPath(), "GET", "/status").body)->getArray("services");
        for (std::size_t i = 0; i < services->size(); ++i) {
            std::cout << services->getObject(static_cast<unsigned>(i))->getValue<std::string>("name") << '\n';
        }
        return kOk;
    }

    int plugins() {
        const Answer answer = request(socketPath(), "GET", "/plugins");
        if (json_) {
            std::cout << answer.body;
            return kOk;
        }
        const Array::Ptr plugins = parse(answer.body)->getArray("plugins");
        Table table({"NAME", "VERSION", "ABI", "SERVICES", "PATH", "DESCRIPTION", "STATE"});
        for (std::size_t i = 0; i < plugins->size(); ++i) {
            const Object::Ptr plugin = plugins->getObject(static_cast<unsigned>(i));
            const std::string name = plugin->getValue<std::string>("name");
            table.add(
                {name.empty() ? "-" : name, plugin->getValue<std::string>("version"),
                 plugin->getValue<std::string>("abi").empty() ? "-" : plugin->getValue<std::string>("abi"),
                 joined(plugin->getArray("services")), plugin->getValue<std::string>("path"),
                 plugin->getValue<std::string>("description"), plugin->getValue<std::string>("state")});
        }
        table.print(std::cout);
        return kOk;
    }

    int reload() {
        const Answer answer = request(socketPath(), "POST", "/reload");
        const Object::Ptr root = parse(answer.body);
        if (!root->getValue<bool>("ok")) {
            std::cout << "reload refused; the running configuration is unchanged:\n";
            const Array::Ptr errors = root->getArray("errors");
            for (std::size_t i = 0; i < errors->size(); ++i) {
                std::cout << "  " << errors->getElement<std::string>(static_cast<unsigned>(i)) << '\n';
            }
            return kProblem;
        }
        const Array::Ptr changes = root->getArray("changes");
        int exitCode = kOk;
        Table table({"SERVICE", "OUTCOME"});
        for (std::size_t i = 0; i < changes->size(); ++i) {
            const Object::Ptr change = changes->getObject(static_cast<unsigned>(i));
            const auto outcome = change->getValue<std::string>("outcome");
            exitCode = outcome.rfind("failed", 0) == 0 ? kProblem : exitCode;
            table.add({change->getValue<std::string>("service"), outcome});
        }
        table.print(std::cout);
        return exitCode;
    }

    // Everything the host would check at start, without binding a port.
    int check(const std::string& file) {
        std::vector<plughost::config::Problem> problems;
        try {
            auto hostConfig = plughost::config::loadFile(file);
            // What does not stop the host but should be fixed (an expired certificate): said, exit 0.
            for (const auto& warning : hostConfig.warnings) {
                std::cout << "warning: " << warning.format() << '\n';
            }
            if (!pluginDir_.empty()) {
                hostConfig.pluginDir = pluginDir_;
            }
            // Like the daemon, run no plugin code as root: become user:/group: before loading any.
            if (!hostConfig.user.empty() && ::geteuid() == 0) {
                try {
                    plughost::dropPrivileges(hostConfig.user, hostConfig.group);
                } catch (const std::exception& error) {
                    std::cout << file << ": " << error.what() << '\n';
                    return kProblem;
                }
            }
            const auto catalog = plughost::plugins::Catalog::scan(hostConfig.pluginDir);
            for (const auto& service : hostConfig.services) {
                const auto prepared = plughost::services::HostedService::prepare(service, catalog);
                problems.insert(problems.end(), prepared->configProblems().begin(),
                                prepared->configProblems().end());
            }
        } catch (const plughost::config::ConfigError& error) {
            problems = error.problems();
        }
        if (problems.empty()) {
            std::cout << file << ": ok\n";
            return kOk;
        }
        for (const auto& problem : problems) {
            std::cout << problem.format() << '\n';
        }
        return kProblem;
    }

    void printHelp(const CommandHelp* command) {
        Poco::Util::HelpFormatter help(options());
        help.setCommand("plughostctl");
        if (command != nullptr) {
            help.setUsage(command->usage);
            help.setHeader(command->text);
        } else {
            help.setUsage("COMMAND [OPTIONS]");
            std::string header = "Administers a running plughostd through its admin socket. Commands:\n";
            for (const auto& entry : kCommands) {
                header += std::string("  ") + entry.usage + "\n";
            }
            header += "'plughostctl COMMAND --help' describes one.";
            help.setHeader(header);
        }
        help.format(std::cout);
    }

    std::string absolute(const std::string& path) const { return Poco::Path(path).makeAbsolute().toString(); }
    void handleHelp(const std::string&, const std::string&) { helpRequested_ = true; }
    void handleJson(const std::string&, const std::string&) { json_ = true; }
    void handleSocket(const std::string&, const std::string& value) { socketPath_ = absolute(value); }
    void handleConfig(const std::string&, const std::string& value) { configPath_ = absolute(value); }
    void handlePluginDir(const std::string&, const std::string& value) { pluginDir_ = absolute(value); }

    bool helpRequested_ = false;
    bool json_ = false;
    std::string socketPath_;
    std::string configPath_;
    std::string pluginDir_;
};

}  // namespace

int main(int argc, char** argv) {
    Ctl ctl;
    try {
        ctl.init(argc, argv);
    } catch (const Poco::Exception& error) {
        std::cerr << "plughostctl: " << error.displayText() << " (try --help)\n";
        return kUsage;
    }
    return ctl.run();
}
