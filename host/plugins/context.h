#pragma once
// context: what a plugin's create() reads of its service — the `settings:` map
// as typed values (remembering which keys were read, and why a value was
// refused) — and the escaping applied to everything a plugin logs.

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace plughost::context {

// Bytes below 0x20, 0x7f and the backslash shown as escapes, so a client cannot
// forge log lines or drive the operator's terminal.
std::string escapeControl(std::string_view text);

// The `settings:` map as the C ABI's setting_* entries see it. Results are the
// ABI's codes: PLUGHOST_OK, PLUGHOST_ABSENT, or PLUGHOST_EINVAL after the
// problem was recorded (rejections()). Strings handed out live as long as the view.
class SettingsView {
public:
    struct Rejection {
        std::string key;
        std::string message;
    };

    explicit SettingsView(YAML::Node map) : map_(std::move(map)) {}

    bool has(std::string_view key) const;
    std::int32_t getString(std::string_view key, const std::string*& value);
    std::int32_t getInt(std::string_view key, std::int64_t min, std::int64_t max, std::int64_t& value);
    std::int32_t getDouble(std::string_view key, double& value);
    std::int32_t getBool(std::string_view key, bool& value);
    // A list of scalars; a single scalar counts as a list of one.
    std::int32_t getList(std::string_view key, const std::vector<std::string>*& value);
    // Records that the plugin cannot use the key's value. Returns PLUGHOST_EINVAL.
    std::int32_t reject(std::string_view key, std::string why);

    const std::vector<Rejection>& rejections() const { return rejections_; }
    // Keys given in YAML that the plugin never asked about.
    std::vector<std::string> unreadKeys() const;
    // The key's value node for error positions (its key node when the value has
    // no position), or the whole map when the key is absent.
    YAML::Node locate(const std::string& key) const;
    // The key's own node, or the whole map when it is absent.
    YAML::Node keyNode(const std::string& key) const;

private:
    YAML::Node node(std::string_view key) const;

    const YAML::Node map_;
    mutable std::set<std::string> read_;
    std::vector<Rejection> rejections_;
    std::deque<std::string> strings_;  // what getString handed out (a deque never moves them)
    std::map<std::string, std::vector<std::string>> lists_;
};

}  // namespace plughost::context
