#pragma once
// What the host gives a plugin when it creates a service: name, settings, logger.

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#if defined(__GNUC__)
#define PLUGHOST_VISIBLE __attribute__((visibility("default")))
#else
#define PLUGHOST_VISIBLE
#endif

namespace plughost {

// Thrown for a setting the plugin cannot accept. The host reports it as a
// config error with file, line, column and key path, and the service fails
// to start. Default visibility so the host can catch it from a plugin built
// with hidden visibility.
class PLUGHOST_VISIBLE SettingError : public std::runtime_error {
public:
    SettingError(std::string key, const std::string& message)
        : std::runtime_error(message), key_(std::move(key)) {}
    const std::string& key() const { return key_; }

private:
    std::string key_;
};

// The service's `settings:` map from YAML. Every getter throws SettingError
// naming the key when the value has the wrong type or range. A key the
// plugin never asks for is reported by the host as an unknown setting, so
// typos cannot pass silently. Call only while the factory runs.
class Settings {
public:
    virtual ~Settings() = default;

    virtual bool has(std::string_view key) const = 0;
    virtual std::string getString(std::string_view key, std::string_view fallback) const = 0;
    virtual std::int64_t getInt(std::string_view key, std::int64_t fallback,
                                std::int64_t min = std::numeric_limits<std::int64_t>::min(),
                                std::int64_t max = std::numeric_limits<std::int64_t>::max()) const = 0;
    virtual double getDouble(std::string_view key, double fallback) const = 0;
    virtual bool getBool(std::string_view key, bool fallback) const = 0;
    // A list of strings; a single string counts as a list of one. Empty if absent.
    virtual std::vector<std::string> getStringList(std::string_view key) const = 0;
    // The value must be one of `choices`; returns it (or fallback when absent).
    virtual std::string getChoice(std::string_view key, std::string_view fallback,
                                  const std::vector<std::string>& choices) const = 0;

    // Rejects a value the plugin read but cannot use. Throws SettingError.
    [[noreturn]] void reject(std::string_view key, const std::string& why) const {
        throw SettingError(std::string(key), why);
    }
};

enum class LogLevel { Debug, Info, Warning, Error };

// The host's logger; every line is prefixed with the service name.
// Safe from any thread. Control bytes in messages are escaped by the host.
class Logger {
public:
    virtual ~Logger() = default;
    virtual void log(LogLevel level, std::string_view message) = 0;

    void debug(std::string_view message) { log(LogLevel::Debug, message); }
    void info(std::string_view message) { log(LogLevel::Info, message); }
    void warning(std::string_view message) { log(LogLevel::Warning, message); }
    void error(std::string_view message) { log(LogLevel::Error, message); }
};

// Handed to the plugin's factory. It outlives the service it creates, so a
// service may keep a reference to it (and to its logger) for its whole life.
class ServiceContext {
public:
    virtual ~ServiceContext() = default;

    // The service's name from YAML (the key under `services:`).
    virtual const std::string& name() const = 0;
    // Valid only while the factory runs.
    virtual const Settings& settings() const = 0;
    virtual Logger& logger() = 0;
    // The longest line the host hands to a Framing::Lines service (max_line).
    virtual std::size_t maxLine() const = 0;
};

}  // namespace plughost
