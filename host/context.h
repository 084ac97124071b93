#pragma once
// context: what a plugin's factory and service see of the host — its settings
// (typed getters that remember which keys were read), its logger, its name.

#include <algorithm>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <Poco/Logger.h>
#include <plughost/context.h>
#include <yaml-cpp/yaml.h>

#include "config.h"

namespace plughost::context {

// Bytes below 0x20, 0x7f and the backslash shown as escapes, so a client cannot
// forge log lines or drive the operator's terminal.
std::string escapeControl(std::string_view text);

// The `settings:` map as the plugin sees it. Remembers which keys the plugin
// asked for, so the host can reject the ones it never did (typos).
class SettingsView final : public plughost::Settings {
public:
    explicit SettingsView(YAML::Node map) : map_(std::move(map)) {}

    bool has(std::string_view key) const override { return static_cast<bool>(node(key)); }

    std::string getString(std::string_view key, std::string_view fallback) const override {
        const YAML::Node value = node(key);
        if (!value || value.IsNull()) {
            return std::string(fallback);
        }
        if (!value.IsScalar()) {
            reject(key, "must be text");
        }
        return value.Scalar();
    }

    std::int64_t getInt(std::string_view key, std::int64_t fallback, std::int64_t min, std::int64_t max) const override {
        const YAML::Node value = node(key);
        if (!value) {
            return fallback;
        }
        std::int64_t number = 0;
        bool ok = value.IsScalar();
        if (ok) {
            try {
                std::size_t used = 0;
                number = std::stoll(value.Scalar(), &used);
                ok = used == value.Scalar().size();
            } catch (const std::exception&) {
                ok = false;
            }
        }
        if (!ok) {
            reject(key, "must be a whole number");
        }
        if (number < min || number > max) {
            reject(key, std::to_string(number) + " is out of range (" + std::to_string(min) + "-" + std::to_string(max) + ")");
        }
        return number;
    }

    double getDouble(std::string_view key, double fallback) const override {
        const YAML::Node value = node(key);
        if (!value) {
            return fallback;
        }
        double number = 0;
        if (!value.IsScalar() || !YAML::convert<double>::decode(value, number)) {
            reject(key, "must be a number");
        }
        return number;
    }

    bool getBool(std::string_view key, bool fallback) const override {
        const YAML::Node value = node(key);
        if (!value) {
            return fallback;
        }
        bool flag = false;
        if (!value.IsScalar() || !YAML::convert<bool>::decode(value, flag)) {
            reject(key, "must be true or false");
        }
        return flag;
    }

    std::vector<std::string> getStringList(std::string_view key) const override {
        const YAML::Node value = node(key);
        std::vector<std::string> items;
        if (!value || value.IsNull()) {
            return items;
        }
        if (value.IsScalar()) {
            items.push_back(value.Scalar());
            return items;
        }
        if (!value.IsSequence()) {
            reject(key, "must be a list of text values");
        }
        for (const auto& item : value) {
            if (!item.IsScalar()) {
                reject(key, "must be a list of text values");
            }
            items.push_back(item.Scalar());
        }
        return items;
    }

    std::string getChoice(std::string_view key, std::string_view fallback,
                          const std::vector<std::string>& choices) const override {
        const std::string value = getString(key, fallback);
        if (std::find(choices.begin(), choices.end(), value) == choices.end()) {
            std::string known;
            for (const auto& choice : choices) {
                known += (known.empty() ? "" : ", ") + choice;
            }
            reject(key, "'" + value + "' is not one of: " + known);
        }
        return value;
    }

    std::vector<std::string> unreadKeys() const {
        std::vector<std::string> unread;
        for (const auto& entry : map_) {
            if (read_.count(entry.first.Scalar()) == 0) {
                unread.push_back(entry.first.Scalar());
            }
        }
        return unread;
    }

    // The key's node for error positions, or the whole map when the key is absent.
    YAML::Node locate(const std::string& key) const {
        for (const auto& entry : map_) {
            if (entry.first.Scalar() == key) {
                return entry.second.Mark().is_null() ? entry.first : entry.second;
            }
        }
        return map_;
    }

    YAML::Node keyNode(const std::string& key) const {
        for (const auto& entry : map_) {
            if (entry.first.Scalar() == key) {
                return entry.first;
            }
        }
        return map_;
    }

private:
    YAML::Node node(std::string_view key) const {
        read_.insert(std::string(key));
        return map_[std::string(key)];
    }

    const YAML::Node map_;
    mutable std::set<std::string> read_;
};

class ServiceLogger final : public plughost::Logger {
public:
    ServiceLogger(Poco::Logger& log, const std::string& service) : log_(log), prefix_(service + " ") {}

    void log(plughost::LogLevel level, std::string_view message) override {
        const Poco::Message::Priority priority = level == plughost::LogLevel::Debug     ? Poco::Message::PRIO_DEBUG
                                                 : level == plughost::LogLevel::Info    ? Poco::Message::PRIO_INFORMATION
                                                 : level == plughost::LogLevel::Warning ? Poco::Message::PRIO_WARNING
                                                                                        : Poco::Message::PRIO_ERROR;
        if (log_.is(priority)) {
            log_.log(Poco::Message(log_.name(), prefix_ + escapeControl(message), priority));
        }
    }

private:
    Poco::Logger& log_;
    const std::string prefix_;
};

class Context final : public plughost::ServiceContext {
public:
    Context(const config::ServiceConfig& config, Poco::Logger& log)
        : name_(config.name), settings_(config.settings), logger_(log, config.name), maxLine_(config.limits.maxLine) {}

    const std::string& name() const override { return name_; }
    const plughost::Settings& settings() const override { return settings_; }
    plughost::Logger& logger() override { return logger_; }
    std::size_t maxLine() const override { return maxLine_; }
    const SettingsView& view() const { return settings_; }

private:
    std::string name_;
    SettingsView settings_;
    ServiceLogger logger_;
    std::size_t maxLine_;
};

}  // namespace plughost::context
