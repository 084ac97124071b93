#pragma once
// Drives a built plugin through the SDK alone: dlopen of the .so, its exported
// descriptor, and small in-memory Session, Settings, Logger and ServiceContext
// that record what the plugin sends, logs and reads. Unit tests of a plugin's
// logic with no host, sockets or timing; the integration tests use the real host.
// (driver.h next to it runs a plugin through the host's own loader; the fuzzers use it.)

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <plughost/plugin.h>

#include <any>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace plughost::test {

// Records what the plugin sends. Thread safe like the real one; after close()
// later sends are dropped, as the SDK promises.
class MemorySession final : public Session {
public:
    MemorySession(std::uint64_t id, std::string peer) : id_(id), peer_(std::move(peer)) {}
    std::uint64_t id() const override { return id_; }
    const std::string& peer() const override { return peer_; }
    void send(std::string_view bytes) override {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!closed_) {
            sent_.append(bytes);
        }
    }
    void close() override {
        std::lock_guard<std::mutex> lock(mutex_);
        closed_ = true;
    }
    std::any& state() override { return state_; }

    // Everything sent since the last take().
    std::string take() {
        std::lock_guard<std::mutex> lock(mutex_);
        return std::exchange(sent_, std::string());
    }
    bool closed() {
        std::lock_guard<std::mutex> lock(mutex_);
        return closed_;
    }

private:
    const std::uint64_t id_;
    const std::string peer_;
    std::mutex mutex_;
    std::string sent_;
    bool closed_ = false;
    std::any state_;
};

// The `settings:` map as text values ("3", "true", "two\nlines"), typed on
// demand like the host does, remembering which keys the plugin asked for.
class MemorySettings final : public Settings {
public:
    explicit MemorySettings(std::map<std::string, std::string> values) : values_(std::move(values)) {}

    bool has(std::string_view key) const override { return value(key).has_value(); }
    std::string getString(std::string_view key, std::string_view fallback) const override {
        return value(key).value_or(std::string(fallback));
    }
    std::int64_t getInt(std::string_view key, std::int64_t fallback, std::int64_t min,
                        std::int64_t max) const override {
        const auto text = value(key);
        if (!text) {
            return fallback;
        }
        char* end = nullptr;
        errno = 0;
        const long long number = std::strtoll(text->c_str(), &end, 10);
        if (text->empty() || *end != '\0' || errno != 0) {
            reject(key, "'" + *text + "' is not an integer");
        }
        if (number < min || number > max) {
            reject(key, *text + " is out of range (" + std::to_string(min) + "-" + std::to_string(max) + ")");
        }
        return number;
    }
    double getDouble(std::string_view key, double fallback) const override {
        const auto text = value(key);
        char* end = nullptr;
        const double number = text ? std::strtod(text->c_str(), &end) : fallback;
        if (text && (text->empty() || *end != '\0')) {
            reject(key, "'" + *text + "' is not a number");
        }
        return number;
    }
    bool getBool(std::string_view key, bool fallback) const override {
        const auto text = value(key);
        if (text && *text != "true" && *text != "false") {
            reject(key, "'" + *text + "' is not true or false");
        }
        return text ? *text == "true" : fallback;
    }
    std::vector<std::string> getStringList(std::string_view key) const override {
        const auto text = value(key);
        return text ? std::vector<std::string>{*text} : std::vector<std::string>{};
    }
    std::string getChoice(std::string_view key, std::string_view fallback,
                          const std::vector<std::string>& choices) const override {
        const std::string chosen = getString(key, fallback);
        std::string known;
        for (const auto& choice : choices) {
            if (choice == chosen) {
                return chosen;
            }
            known += (known.empty() ? "" : ", ") + choice;
        }
        reject(key, "'" + chosen + "' is not one of: " + known);
    }

    // Keys given but never asked for: what the host reports as unknown settings.
    std::vector<std::string> unread() const {
        std::vector<std::string> keys;
        for (const auto& entry : values_) {
            if (read_.count(entry.first) == 0) {
                keys.push_back(entry.first);
            }
        }
        return keys;
    }

private:
    std::optional<std::string> value(std::string_view key) const {
        read_.insert(std::string(key));
        const auto found = values_.find(std::string(key));
        return found == values_.end() ? std::nullopt : std::optional<std::string>(found->second);
    }

    const std::map<std::string, std::string> values_;
    mutable std::set<std::string> read_;
};

// Records every message as the plugin wrote it (the host would prefix and escape it).
class MemoryLogger final : public Logger {
public:
    void log(LogLevel level, std::string_view message) override {
        std::lock_guard<std::mutex> lock(mutex_);
        lines_.emplace_back(level, message);
    }
    std::vector<std::pair<LogLevel, std::string>> lines() {
        std::lock_guard<std::mutex> lock(mutex_);
        return lines_;
    }

private:
    std::mutex mutex_;
    std::vector<std::pair<LogLevel, std::string>> lines_;
};

// Hands out settings only while the factory runs, as the SDK says, and fails
// the test if the plugin asks later.
class MemoryContext final : public ServiceContext {
public:
    MemoryContext(std::string name, MemorySettings& settings, MemoryLogger& logger, std::size_t maxLine)
        : name_(std::move(name)), settings_(settings), logger_(logger), maxLine_(maxLine) {}
    const std::string& name() const override { return name_; }
    const Settings& settings() const override {
        if (factoryDone_) {
            ADD_FAILURE() << "ServiceContext::settings() used after the factory returned";
        }
        return settings_;
    }
    Logger& logger() override { return logger_; }
    std::size_t maxLine() const override { return maxLine_; }
    void factoryDone() { factoryDone_ = true; }

private:
    const std::string name_;
    MemorySettings& settings_;
    MemoryLogger& logger_;
    const std::size_t maxLine_;
    std::atomic<bool> factoryDone_{false};
};

// PLUGHOST_PLUGIN_DIR/<name>.so's descriptor. Each library is loaded once and
// stays loaded: services and their vtables live in its code.
inline const PluginDescriptor* loadPlugin(const std::string& name) {
    static std::mutex mutex;
    static std::map<std::string, const PluginDescriptor*> loaded;
    std::lock_guard<std::mutex> lock(mutex);
    if (const auto found = loaded.find(name); found != loaded.end()) {
        return found->second;
    }
    const std::string path = std::string(PLUGHOST_PLUGIN_DIR) + "/" + name + ".so";
    void* library = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (library == nullptr) {
        ADD_FAILURE() << "dlopen " << path << ": " << ::dlerror();
        return nullptr;
    }
    using Entry = const PluginDescriptor* (*)();
    const auto entry = reinterpret_cast<Entry>(::dlsym(library, PLUGHOST_ENTRY_SYMBOL));
    const PluginDescriptor* descriptor = entry == nullptr ? nullptr : entry();
    if (descriptor == nullptr || descriptor->abi != kAbiVersion || name != descriptor->name) {
        ADD_FAILURE() << path << ": no " PLUGHOST_ENTRY_SYMBOL ", a different ABI or a different name";
        return nullptr;
    }
    return loaded[name] = descriptor;
}

// One service of plugin `name` made by its factory from `settings`, with
// helpers that play the host's part: open, data, line too long, close, stop.
class PluginDriver {
public:
    explicit PluginDriver(const std::string& plugin, std::map<std::string, std::string> settings = {},
                          const std::string& service = "svc", std::size_t maxLine = 8192)
        : settings_(std::move(settings)), context_(service, settings_, logger_, maxLine) {
        const PluginDescriptor* descriptor = loadPlugin(plugin);
        if (descriptor == nullptr) {
            problem_ = "cannot load plugin " + plugin;
            return;
        }
        try {
            service_ = descriptor->create(context_);
        } catch (const SettingError& error) {
            problem_ = error.key() + ": " + error.what();
        } catch (const std::exception& error) {
            problem_ = std::string("factory threw: ") + error.what();
        }
        context_.factoryDone();
        if (service_) {
            framing_ = service_->framing();
        }
    }

    // "" when the plugin accepted its settings, else "key: why".
    const std::string& problem() const { return problem_; }
    std::vector<std::string> unreadSettings() const { return settings_.unread(); }
    bool created() const { return service_ != nullptr; }
    Service& plugin() { return *service_; }
    Framing framing() const { return framing_; }

    std::shared_ptr<MemorySession> open(const std::string& peer = "127.0.0.1:40000") {
        auto session = std::make_shared<MemorySession>(++nextId_, peer);
        service_->onOpen(*session);
        return session;
    }
    void say(MemorySession& session, std::string_view data) { service_->onData(session, data); }
    void tooLong(MemorySession& session) { service_->onLineTooLong(session, context_.maxLine()); }
    // What the host does when a session ends: no more sends, then onClose.
    void leave(MemorySession& session, CloseReason reason) {
        session.close();
        service_->onClose(session, reason);
    }
    void stopping() { service_->onStopping(); }
    std::vector<std::pair<LogLevel, std::string>> logLines() { return logger_.lines(); }

private:
    MemorySettings settings_;
    MemoryLogger logger_;
    MemoryContext context_;
    std::string problem_;
    Framing framing_ = Framing::Raw;
    std::atomic<std::uint64_t> nextId_{0};  // tests open sessions from several threads
    std::unique_ptr<Service> service_;      // last: destroyed first, while the context it may hold lives
};

}  // namespace plughost::test
