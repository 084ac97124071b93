#pragma once
// What the host gives a C++ plugin when it creates a service: name, settings,
// logger. Header-only, compiled into the plugin on top of the C ABI (abi.h).

#include <plughost/abi.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace plughost {

// Thrown for a setting the plugin cannot accept. The host reports it as a
// config error with file, line, column and key path, and the service fails
// to start. It never leaves the plugin: the SDK turns it into a result code.
class SettingError : public std::runtime_error {
public:
    SettingError(std::string key, const std::string& message)
        : std::runtime_error(message), key_(std::move(key)) {}
    const std::string& key() const { return key_; }
    // True when the host already recorded the problem (a getter found the value
    // unusable); otherwise the SDK reports it before the factory fails.
    bool recorded() const { return recorded_; }
    SettingError& markRecorded() {
        recorded_ = true;
        return *this;
    }

private:
    std::string key_;
    bool recorded_ = false;
};

// The service's `settings:` map from YAML. Every getter throws SettingError
// naming the key when the value has the wrong type or range (the host words
// the message and records where the value is). A key the plugin never asks
// for is reported by the host as an unknown setting, so typos cannot pass
// silently. Use only while the factory runs.
class Settings {
public:
    Settings(const plughost_host_api* host, plughost_service* service) : host_(host), service_(service) {}

    bool has(std::string_view key) const { return host_->setting_has(service_, key.data(), key.size()) == 1; }

    std::string getString(std::string_view key, std::string_view fallback) const {
        const char* value = nullptr;
        std::size_t length = 0;
        if (!check(key, host_->setting_string(service_, key.data(), key.size(), &value, &length))) {
            return std::string(fallback);
        }
        return std::string(value, length);
    }

    std::int64_t getInt(std::string_view key, std::int64_t fallback,
                        std::int64_t min = std::numeric_limits<std::int64_t>::min(),
                        std::int64_t max = std::numeric_limits<std::int64_t>::max()) const {
        std::int64_t value = fallback;
        check(key, host_->setting_int(service_, key.data(), key.size(), min, max, &value));
        return value;
    }

    double getDouble(std::string_view key, double fallback) const {
        double value = fallback;
        check(key, host_->setting_double(service_, key.data(), key.size(), &value));
        return value;
    }

    bool getBool(std::string_view key, bool fallback) const {
        std::int32_t value = fallback ? 1 : 0;
        check(key, host_->setting_bool(service_, key.data(), key.size(), &value));
        return value != 0;
    }

    // A list of strings; a single string counts as a list of one. Empty if absent.
    std::vector<std::string> getStringList(std::string_view key) const {
        std::vector<std::string> items;
        std::size_t count = 0;
        if (!check(key, host_->setting_list_size(service_, key.data(), key.size(), &count))) {
            return items;
        }
        for (std::size_t i = 0; i < count; ++i) {
            const char* value = nullptr;
            std::size_t length = 0;
            check(key, host_->setting_list_item(service_, key.data(), key.size(), i, &value, &length));
            items.emplace_back(value, length);
        }
        return items;
    }

    // The value must be one of `choices`; returns it (or fallback when absent).
    std::string getChoice(std::string_view key, std::string_view fallback,
                          const std::vector<std::string>& choices) const {
        std::string value = getString(key, fallback);
        for (const auto& choice : choices) {
            if (choice == value) {
                return value;
            }
        }
        std::string known;
        for (const auto& choice : choices) {
            known += (known.empty() ? "" : ", ") + choice;
        }
        reject(key, "'" + value + "' is not one of: " + known);
    }

    // Refuses a value the plugin read but cannot use. Throws SettingError.
    [[noreturn]] void reject(std::string_view key, const std::string& why) const {
        host_->setting_reject(service_, key.data(), key.size(), why.data(), why.size());
        throw SettingError(std::string(key), why).markRecorded();
    }

private:
    // True when the value is there and usable; false when absent; throws when unusable.
    bool check(std::string_view key, std::int32_t result) const {
        if (result == PLUGHOST_OK) {
            return true;
        }
        if (result == PLUGHOST_ABSENT) {
            return false;
        }
        throw SettingError(std::string(key), result == PLUGHOST_ESTATE
                                                 ? "settings are readable only while the factory runs"
                                                 : "unusable value (reported by the host)")
            .markRecorded();
    }

    const plughost_host_api* host_;
    plughost_service* service_;
};

enum class LogLevel : std::int32_t {
    Debug = PLUGHOST_LOG_DEBUG,
    Info = PLUGHOST_LOG_INFO,
    Warning = PLUGHOST_LOG_WARNING,
    Error = PLUGHOST_LOG_ERROR,
};

// The host's logger; every line is prefixed with the service name.
// Safe from any thread. Control bytes in messages are escaped by the host.
class Logger {
public:
    Logger(const plughost_host_api* host, plughost_service* service) : host_(host), service_(service) {}

    void log(LogLevel level, std::string_view message) {
        host_->log(service_, static_cast<std::int32_t>(level), message.data(), message.size());
    }
    void debug(std::string_view message) { log(LogLevel::Debug, message); }
    void info(std::string_view message) { log(LogLevel::Info, message); }
    void warning(std::string_view message) { log(LogLevel::Warning, message); }
    void error(std::string_view message) { log(LogLevel::Error, message); }

private:
    const plughost_host_api* host_;
    plughost_service* service_;
};

// Handed to the plugin's factory. It outlives the service it creates, so a
// service may keep a reference to it (and to its logger) for its whole life.
// The service's own counters (ABI 2.3), shown in status and metrics. Copyable,
// valid until the service is destroyed, safe from any thread. On a host older
// than 2.3 add() does nothing.
class Counters {
public:
    Counters() = default;
    Counters(const plughost_host_api* host, plughost_service* service) : host_(host), service_(service) {}
    // `name`: 1-64 of [a-z0-9_], e.g. "flood_delayed".
    void add(std::string_view name, std::int64_t delta = 1) const {
        if (host_ != nullptr && host_->size > offsetof(plughost_host_api, service_count) &&
            host_->service_count != nullptr) {
            host_->service_count(service_, name.data(), name.size(), delta);
        }
    }

private:
    const plughost_host_api* host_ = nullptr;
    plughost_service* service_ = nullptr;
};

class ServiceContext {
public:
    ServiceContext(const plughost_host_api* host, plughost_service* service)
        : host_(host), service_(service), settings_(host, service), logger_(host, service) {
        const char* name = nullptr;
        std::size_t length = 0;
        host->service_name(service, &name, &length);
        name_.assign(name, length);
    }
    ServiceContext(const ServiceContext&) = delete;
    ServiceContext& operator=(const ServiceContext&) = delete;

    // The service's name from YAML (the key under `services:`).
    const std::string& name() const { return name_; }
    // Valid only while the factory runs.
    const Settings& settings() const { return settings_; }
    Logger& logger() { return logger_; }
    // Counters of the plugin's own, for status and metrics (ABI 2.3).
    Counters counters() const { return Counters(host_, service_); }
    // The longest line the host hands to a Framing::Lines service (max_line).
    std::size_t maxLine() const { return host_->service_max_line(service_); }
    // The service's max_queue (ABI 2.3; 0 from an older host, which does not say).
    std::size_t maxQueue() const {
        return host_->size > offsetof(plughost_host_api, service_max_queue) &&
                       host_->service_max_queue != nullptr
                   ? host_->service_max_queue(service_)
                   : 0;
    }

    // The C side, for code that talks to abi.h directly.
    const plughost_host_api* host() const { return host_; }
    plughost_service* service() const { return service_; }

private:
    const plughost_host_api* host_;
    plughost_service* service_;
    std::string name_;
    Settings settings_;
    Logger logger_;
};

}  // namespace plughost
