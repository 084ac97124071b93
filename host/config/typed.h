#pragma once
// typed: YAML scalars read as checked values, or the reason they cannot be, in
// the one wording the host uses for its own keys (config.cpp) and for plugins'
// settings (context.cpp) alike. Pure functions: no key paths, no positions;
// callers attach those. And the one rule for service and plugin names.

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace plughost::typed {

// A value, or the message saying why there is none ("'many' is not a whole number").
template <class T>
struct Checked {
    std::optional<T> value;
    std::string problem;

    static Checked ok(T value) { return {std::move(value), {}}; }
    static Checked fail(std::string problem) { return {std::nullopt, std::move(problem)}; }
    explicit operator bool() const { return value.has_value(); }
    const T& operator*() const { return *value; }
};

// A single value (a scalar): "must be a single value, not a list".
Checked<std::string> text(const YAML::Node& node);
// A whole number in [min, max]: "'many' is not a whole number", "99 is out of range (1-10)".
Checked<std::int64_t> wholeNumber(const YAML::Node& node, std::int64_t min, std::int64_t max);
// Any number YAML reads as one: "'fast' is not a number".
Checked<double> number(const YAML::Node& node);
// true or false (YAML's spellings: yes/no, on/off too): "'maybe' is not true or false".
Checked<bool> boolean(const YAML::Node& node);
// One of `choices`: "'loud' is not one of: plain, fancy".
Checked<std::string> choice(const YAML::Node& node, const std::vector<std::string>& choices);
// A list of single values; a single value counts as a list of one.
Checked<std::vector<std::string>> textList(const YAML::Node& node);

// The value as an error message shows it: quoted, control bytes escaped.
std::string quoted(std::string_view value);

// Service names and plugin names: 1-64 ASCII letters, digits, '_', '-' or '.'.
bool validName(std::string_view name);
// "" for a valid name, else "'bad name' is not a valid service name (1-64 ...)"; kind is "service" or
// "plugin".
std::string nameProblem(std::string_view kind, std::string_view name);

}  // namespace plughost::typed
