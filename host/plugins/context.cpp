#include "plugins/context.h"

#include <plughost/abi.h>

#include "config/typed.h"

namespace plughost::context {

std::string escapeControl(std::string_view text) {
    static const char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte >= 0x20 && byte != 0x7f && byte != '\\') {
            out += c;
        } else if (byte == '\\') {
            out += "\\\\";
        } else if (byte == '\n') {
            out += "\\n";
        } else if (byte == '\r') {
            out += "\\r";
        } else if (byte == '\t') {
            out += "\\t";
        } else {
            out += "\\x";
            out += hex[byte >> 4];
            out += hex[byte & 0xf];
        }
    }
    return out;
}

YAML::Node SettingsView::node(std::string_view key) const {
    read_.insert(std::string(key));
    return map_[std::string(key)];
}

bool SettingsView::has(std::string_view key) const { return static_cast<bool>(node(key)); }

// The values go through typed::, like the host's own keys, so both are worded alike.
std::int32_t SettingsView::getString(std::string_view key, const std::string*& value) {
    const YAML::Node found = node(key);
    if (!found || found.IsNull()) {
        return PLUGHOST_ABSENT;
    }
    auto checked = typed::text(found);
    if (!checked) {
        return reject(key, std::move(checked.problem));
    }
    value = &strings_.emplace_back(std::move(*checked.value));
    return PLUGHOST_OK;
}

std::int32_t SettingsView::getInt(std::string_view key, std::int64_t min, std::int64_t max,
                                  std::int64_t& value) {
    const YAML::Node found = node(key);
    if (!found) {
        return PLUGHOST_ABSENT;
    }
    auto checked = typed::wholeNumber(found, min, max);
    if (!checked) {
        return reject(key, std::move(checked.problem));
    }
    value = *checked;
    return PLUGHOST_OK;
}

std::int32_t SettingsView::getDouble(std::string_view key, double& value) {
    const YAML::Node found = node(key);
    if (!found) {
        return PLUGHOST_ABSENT;
    }
    auto checked = typed::number(found);
    if (!checked) {
        return reject(key, std::move(checked.problem));
    }
    value = *checked;
    return PLUGHOST_OK;
}

std::int32_t SettingsView::getBool(std::string_view key, bool& value) {
    const YAML::Node found = node(key);
    if (!found) {
        return PLUGHOST_ABSENT;
    }
    auto checked = typed::boolean(found);
    if (!checked) {
        return reject(key, std::move(checked.problem));
    }
    value = *checked;
    return PLUGHOST_OK;
}

std::int32_t SettingsView::getList(std::string_view key, const std::vector<std::string>*& value) {
    if (const auto cached = lists_.find(std::string(key)); cached != lists_.end()) {
        value = &cached->second;  // asked again (item by item): the strings handed out stay where they are
        return PLUGHOST_OK;
    }
    const YAML::Node found = node(key);
    if (!found || found.IsNull()) {
        return PLUGHOST_ABSENT;
    }
    auto checked = typed::textList(found);
    if (!checked) {
        return reject(key, std::move(checked.problem));
    }
    value = &lists_.emplace(std::string(key), std::move(*checked.value)).first->second;
    return PLUGHOST_OK;
}

std::int32_t SettingsView::reject(std::string_view key, std::string why) {
    read_.insert(std::string(key));
    rejections_.push_back({std::string(key), std::move(why)});
    return PLUGHOST_EINVAL;
}

std::vector<std::string> SettingsView::unreadKeys() const {
    std::vector<std::string> unread;
    for (const auto& entry : map_) {
        if (read_.count(entry.first.Scalar()) == 0) {
            unread.push_back(entry.first.Scalar());
        }
    }
    return unread;
}

YAML::Node SettingsView::locate(const std::string& key) const {
    for (const auto& entry : map_) {
        if (entry.first.Scalar() == key) {
            return entry.second.Mark().is_null() ? entry.first : entry.second;
        }
    }
    return map_;
}

YAML::Node SettingsView::keyNode(const std::string& key) const {
    for (const auto& entry : map_) {
        if (entry.first.Scalar() == key) {
            return entry.first;
        }
    }
    return map_;
}

}  // namespace plughost::context
