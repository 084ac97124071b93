#include "config/typed.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "plugins/context.h"  // escapeControl

namespace plughost::typed {

namespace {

// What a node that is not a single value is, for "must be X, not ...".
std::string kindOf(const YAML::Node& node) {
    if (node.IsSequence()) {
        return "a list";
    }
    if (node.IsMap()) {
        return "a map";
    }
    return "empty";
}

std::string joined(const std::vector<std::string>& items) {
    std::string text;
    for (const auto& item : items) {
        text += (text.empty() ? "" : ", ") + item;
    }
    return text;
}

std::string range(std::int64_t min, std::int64_t max) {
    return "(" + std::to_string(min) + "-" + std::to_string(max) + ")";
}

}  // namespace

std::string quoted(std::string_view value) { return "'" + context::escapeControl(value) + "'"; }

Checked<std::string> text(const YAML::Node& node) {
    if (!node.IsScalar()) {
        return Checked<std::string>::fail("must be a single value, not " + kindOf(node));
    }
    return Checked<std::string>::ok(node.Scalar());
}

Checked<std::int64_t> wholeNumber(const YAML::Node& node, std::int64_t min, std::int64_t max) {
    using Result = Checked<std::int64_t>;
    if (!node.IsScalar()) {
        return Result::fail("must be a whole number, not " + kindOf(node));
    }
    const std::string& text = node.Scalar();
    char* end = nullptr;
    errno = 0;
    const long long value = std::strtoll(text.c_str(), &end, 10);
    if (end == text.c_str() || end != text.c_str() + text.size()) {
        return Result::fail(quoted(text) + " is not a whole number");
    }
    if (errno == ERANGE) {
        return Result::fail(context::escapeControl(text) + " is out of range " + range(min, max));
    }
    if (value < min || value > max) {
        return Result::fail(std::to_string(value) + " is out of range " + range(min, max));
    }
    return Result::ok(value);
}

Checked<double> number(const YAML::Node& node) {
    if (!node.IsScalar()) {
        return Checked<double>::fail("must be a number, not " + kindOf(node));
    }
    double value = 0;
    if (!YAML::convert<double>::decode(node, value)) {
        return Checked<double>::fail(quoted(node.Scalar()) + " is not a number");
    }
    return Checked<double>::ok(value);
}

Checked<bool> boolean(const YAML::Node& node) {
    if (!node.IsScalar()) {
        return Checked<bool>::fail("must be true or false, not " + kindOf(node));
    }
    bool value = false;
    if (!YAML::convert<bool>::decode(node, value)) {
        return Checked<bool>::fail(quoted(node.Scalar()) + " is not true or false");
    }
    return Checked<bool>::ok(value);
}

Checked<std::string> choice(const YAML::Node& node, const std::vector<std::string>& choices) {
    auto value = text(node);
    if (value && std::find(choices.begin(), choices.end(), *value) == choices.end()) {
        return Checked<std::string>::fail(quoted(*value) + " is not one of: " + joined(choices));
    }
    return value;
}

Checked<std::vector<std::string>> textList(const YAML::Node& node) {
    using Result = Checked<std::vector<std::string>>;
    if (node.IsScalar()) {
        return Result::ok({node.Scalar()});
    }
    if (!node.IsSequence()) {
        return Result::fail("must be a single value or a list of them, not " + kindOf(node));
    }
    std::vector<std::string> items;
    for (const auto& item : node) {
        if (!item.IsScalar()) {
            return Result::fail("must be a list of single values; item " + std::to_string(items.size() + 1) +
                                " is " + kindOf(item));
        }
        items.push_back(item.Scalar());
    }
    return Result::ok(std::move(items));
}

bool validName(std::string_view name) {
    return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
               c == '-' || c == '.';
    });
}

std::string nameProblem(std::string_view kind, std::string_view name) {
    if (validName(name)) {
        return {};
    }
    const std::string shown = name.size() > 64 ? quoted(name.substr(0, 64)) + "..." : quoted(name);
    return shown + " is not a valid " + std::string(kind) + " name (1-64 letters, digits, '_', '-' or '.')";
}

}  // namespace plughost::typed
