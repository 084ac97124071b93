// plughostd: reads the config, loads plugins, serves until SIGTERM/SIGINT.
#include <Poco/File.h>
#include <Poco/Logger.h>
#include <Poco/Path.h>
#include <Poco/Util/HelpFormatter.h>
#include <Poco/Util/ServerApplication.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <optional>

#include "admin/admin.h"
#include "config/config.h"
#include "services/host.h"
#include "services/listeners.h"
#include "system/logging.h"
#include "system/notify.h"

namespace {

using Poco::Util::Application;
using Poco::Util::Option;
using Poco::Util::OptionSet;

// Written once every service is up: one "SERVICE ADDRESS" line per bound address.
// Written to a temporary name and renamed, so a reader never sees half of it.
void writeReadyFile(const std::string& path, const plughost::Host& host) {
    const std::string temporary = path + ".tmp";
    {
        std::ofstream out(temporary, std::ios::trunc);
        for (const auto& line : host.boundAddressLines()) {
            out << line << '\n';
        }
    }
    Poco::File(temporary).renameTo(path);
}

// The host as the service manager's notifier sees it.
class HostReporter final : public plughost::system::Reporter {
public:
    explicit HostReporter(const plughost::Host& host) : host_(host) {}
    std::string summary(bool wait) override { return host_.summary(wait); }
    std::vector<std::uint64_t> heartbeats() const override { return host_.heartbeats(); }

private:
    const plughost::Host& host_;
};

// The listening sockets the service manager passed, as the host's services take them.
std::vector<plughost::services::ActivatedSocket> activatedSockets() {
    std::vector<plughost::services::ActivatedSocket> sockets;
    for (const auto& passed : plughost::system::passedSocketsFromEnvironment()) {
        sockets.push_back({plughost::listeners::adoptListening(passed.fd), passed.name});
    }
    return sockets;
}

class Daemon final : public Poco::Util::ServerApplication {
public:
    // Captured before ServerApplication's --daemon can chdir to "/".
    explicit Daemon(std::string startDir) : startDir_(std::move(startDir)) {}

protected:
    void defineOptions(OptionSet& options) override {
        ServerApplication::defineOptions(options);
        options.addOption(Option("help", "h", "print this help and exit")
                              .callback(Poco::Util::OptionCallback<Daemon>(this, &Daemon::handleHelp)));
        options.addOption(Option("config", "c", "the YAML config file")
                              .argument("FILE")
                              .callback(Poco::Util::OptionCallback<Daemon>(this, &Daemon::handleConfig)));
        options.addOption(Option("plugin-dir", "p", "the plugin folder (overrides plugin_dir in the config)")
                              .argument("DIR")
                              .callback(Poco::Util::OptionCallback<Daemon>(this, &Daemon::handlePluginDir)));
        options.addOption(Option("ready-file", "r", "write the bound addresses here once every service is up")
                              .argument("FILE")
                              .callback(Poco::Util::OptionCallback<Daemon>(this, &Daemon::handleReadyFile)));
    }

    int main(const std::vector<std::string>&) override {
        if (helpRequested_) {
            return EXIT_OK;
        }
        if (configPath_.empty()) {
            configPath_ = plughost::config::defaultConfigFile(config().getString("application.path"));
        }
        // systemd's variables are read (and unset) before any thread exists.
        auto notifySocket = plughost::system::NotifySocket::fromEnvironment();
        const auto watchdog = plughost::system::watchdogFromEnvironment();
        plughost::config::HostConfig hostConfig;
        try {
            hostConfig = plughost::config::loadFile(configPath_);
        } catch (const plughost::config::ConfigError& error) {
            std::cerr << "plughostd: invalid configuration:\n" << error.what() << std::endl;
            if (notifySocket) {
                const std::string what = error.what();
                notifySocket->send("STATUS=invalid configuration: " + what.substr(0, what.find('\n')));
            }
            return EXIT_CONFIG;
        }
        if (!pluginDir_.empty()) {
            hostConfig.pluginDir = pluginDir_;
        }
        plughost::logging::setUp(hostConfig.logLevel, plughost::logging::formatNamed(hostConfig.logFormat));
        Poco::Logger& log = Poco::Logger::get("plughost");
        log.information("plughostd %s (pid %d): config %s, plugins from %s", std::string(PLUGHOST_VERSION),
                        static_cast<int>(::getpid()), hostConfig.file, hostConfig.pluginDir);

        raiseOpenFileLimit(log);
        auto activated = activatedSockets();
        const plughost::config::AdminConfig adminConfig = hostConfig.admin;
        const std::string user = hostConfig.user;
        const std::string group = hostConfig.group;
        plughost::Host host(std::move(hostConfig), pluginDir_);
        HostReporter reporter(host);
        // Only under a service manager (NOTIFY_SOCKET): no thread, no message otherwise.
        std::unique_ptr<plughost::system::Notifier> notifier;
        if (notifySocket) {
            notifier =
                std::make_unique<plughost::system::Notifier>(std::move(notifySocket), watchdog, reporter);
            host.onReload([&notifier] { notifier->reloading(); }, [&notifier] { notifier->reloaded(); });
        }
        auto tell = [&notifier](const std::string& status) {
            if (notifier) {
                notifier->status(status);
            }
        };
        // Everything that may need root happens first: binding the listeners
        // (ports below 1024; none for the sockets the service manager passed) and
        // the admin socket. Then privileges go, and only then is plugin code loaded.
        host.bind(std::move(activated));
        std::unique_ptr<plughost::admin::AdminServer> admin;
        try {
            if (!adminConfig.socketPath.empty() || !adminConfig.listen.empty()) {
                admin = std::make_unique<plughost::admin::AdminServer>(host, adminConfig, user, group);
                for (const auto& address : admin->addresses()) {
                    log.information("admin endpoint on %s", address);
                }
            } else {
                log.information("no admin endpoint (no admin: in the config)");
            }
            if (!user.empty()) {
                plughost::dropPrivileges(user, group);
                log.information("running as user %s, group %s", user,
                                group.empty() ? std::string("(the user's)") : group);
            } else if (::geteuid() == 0) {
                log.warning(
                    "running as root: plugins get full privileges; set user: (and group:) in the config");
            }
        } catch (const std::exception& error) {
            std::cerr << "plughostd: " << error.what() << std::endl;
            tell(error.what());
            return EXIT_UNAVAILABLE;
        }
        host.start();
        if (host.enabledCount() > 0 && host.runningCount() == 0) {
            std::cerr << "plughostd: no service could start:\n";
            std::string reasons;
            for (const auto& service : host.status().services) {
                std::cerr << "  " << service.name << ": " << service.state << "\n";
                reasons += (reasons.empty() ? "" : "; ") + service.name + ": " + service.state;
            }
            tell("no service could start: " + reasons);
            return EXIT_UNAVAILABLE;
        }
        std::optional<plughost::Watcher> watcher;
        watcher.emplace(host);
        if (!readyFile_.empty()) {
            writeReadyFile(readyFile_, host);
        }
        // Every enabled service accepts (or failed, which STATUS= says) and the admin endpoint is up.
        if (notifier) {
            notifier->ready();
        }

        const int signal = waitForStop(host);
        log.information("received %s: stopping", std::string(::strsignal(signal)));
        if (notifier) {
            notifier->stopping("stopping (" + std::string(::strsignal(signal)) + "): draining sessions");
        }
        // The watcher goes first: a change it saw during the drain must not reload
        // (and start listeners) on a host that is stopping.
        watcher.reset();
        admin.reset();
        host.stop(plughost::CloseReason::Shutdown);
        host.onReload({}, {});
        notifier.reset();
        log.information("stopped");
        return EXIT_OK;
    }

private:
    // Every connection is a descriptor: take as many as the hard limit allows, and say so.
    static void raiseOpenFileLimit(Poco::Logger& log) {
        rlimit limit{};
        if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
            limit.rlim_cur = limit.rlim_max;
            ::setrlimit(RLIMIT_NOFILE, &limit);
        }
        ::getrlimit(RLIMIT_NOFILE, &limit);
        log.information("open-file limit %s: room for about %s connections", std::to_string(limit.rlim_cur),
                        std::to_string(limit.rlim_cur > 64 ? limit.rlim_cur - 64 : 0));
    }

    // SIGHUP reloads (like `plughostctl reload`); SIGINT, SIGTERM and SIGQUIT stop.
    static int waitForStop(plughost::Host& host) {
        sigset_t signals;
        sigemptyset(&signals);
        sigaddset(&signals, SIGINT);
        sigaddset(&signals, SIGTERM);
        sigaddset(&signals, SIGQUIT);
        sigaddset(&signals, SIGHUP);
        for (;;) {
            int signal = 0;
            if (::sigwait(&signals, &signal) != 0) {
                continue;
            }
            if (signal != SIGHUP) {
                return signal;
            }
            Poco::Logger::get("plughost").information("SIGHUP: reloading");
            host.reload();
        }
    }

    std::string absolute(const std::string& path) const {
        Poco::Path resolved(path);
        return resolved.isAbsolute() ? path
                                     : Poco::Path(Poco::Path::forDirectory(startDir_), resolved).toString();
    }

    void handleHelp(const std::string&, const std::string&) {
        Poco::Util::HelpFormatter help(options());
        help.setCommand(commandName());
        help.setUsage(
            "[--config FILE] [--plugin-dir DIR] [--ready-file FILE] [--daemon] [--pidfile PATH] "
            "[--umask MASK]");
        help.setHeader("plughostd hosts TCP services written as plugins. Default config: " +
                       plughost::config::defaultConfigFile(config().getString("application.path")));
        help.format(std::cout);
        helpRequested_ = true;
        stopOptionsProcessing();
    }
    void handleConfig(const std::string&, const std::string& value) { configPath_ = absolute(value); }
    void handlePluginDir(const std::string&, const std::string& value) { pluginDir_ = absolute(value); }
    void handleReadyFile(const std::string&, const std::string& value) { readyFile_ = absolute(value); }

    std::string startDir_;
    std::string configPath_;
    std::string pluginDir_;
    std::string readyFile_;
    bool helpRequested_ = false;
};

}  // namespace

int main(int argc, char** argv) {
    // Block the stop and reload signals before any thread exists, so every
    // thread inherits the mask and only sigwait() sees them.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGQUIT);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    ::signal(SIGPIPE, SIG_IGN);  // a client that vanishes must never kill the host

    Daemon daemon(Poco::Path::current());
    return daemon.run(argc, argv);
}
