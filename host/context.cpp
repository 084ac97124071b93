#include "context.h"

#include <plughost/abi.h>

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

std::int32_t SettingsView::getString(std::string_view key, const std::string*& value) {
    const YAML::Node found = node(key);
    if (!found || found.IsNull()) {
        return PLUGHOST_ABSENT;
    }
    if (!found.IsScalar()) {
        return reject(key, "must be text");
    }
    value = &strings_.emplace_back(found.Scalar());
    return PLUGHOST_OK;
}

std::int32_t SettingsView::getInt(std::string_view key, std::int64_t min, std::int64_t max,
                                  std::int64_t& value) {
    const YAML::Node found = node(key);
    if (!found) {
        return PLUGHOST_ABSENT;
    }
    std::int64_t number = 0;
    bool ok = found.IsScalar();
    if (ok) {
        try {
            std::size_t used = 0;
            number = std::stoll(found.Scalar(), &used);
            ok = used == found.Scalar().size();
        } catch (const std::exception&) {
            ok = false;
        }
    }
    if (!ok) {
        return reject(key, "must be a whole number");
    }
    if (number < min || number > max) {
        return reject(key, std::to_string(number) + " is out of range (" + std::to_string(min) + "-" +
                               std::to_string(max) + ")");
    }
    value = number;
    return PLUGHOST_OK;
}

std::int32_t SettingsView::getDouble(std::string_view key, double& value) {
    const YAML::Node found = node(key);
    if (!found) {
        return PLUGHOST_ABSENT;
    }
    double number = 0;
    if (!found.IsScalar() || !YAML::convert<double>::decode(found, number)) {
        return reject(key, "must be a number");
    }
    value = number;
    return PLUGHOST_OK;
}

std::int32_t SettingsView::getBool(std::string_view key, bool& value) {
    const YAML::Node found = node(key);
    if (!found) {
        return PLUGHOST_ABSENT;
    }
    bool flag = false;
    if (!found.IsScalar() || !YAML::convert<bool>::decode(found, flag)) {
        return reject(key, "must be true or false");
    }
    value = flag;
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
    std::vector<std::string> items;
    if (found.IsScalar()) {
        items.push_back(found.Scalar());
    } else if (!found.IsSequence()) {
        return reject(key, "must be a list of text values");
    } else {
        for (const auto& item : found) {
            if (!item.IsScalar()) {
                return reject(key, "must be a list of text values");
            }
            items.push_back(item.Scalar());
        }
    }
    value = &lists_.emplace(std::string(key), std::move(items)).first->second;
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
