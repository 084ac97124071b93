// The one typed reader of YAML values and the one name rule: each wording, and
// the same words for a host key and for a plugin's setting.
#include "config/typed.h"

#include <gtest/gtest.h>
#include <plughost/abi.h>

#include <string>

#include "config/config.h"
#include "plugins/context.h"

namespace {

using namespace plughost;

YAML::Node yaml(const std::string& text) { return YAML::Load(text); }

template <class T>
std::string problemOf(const typed::Checked<T>& checked) {
    EXPECT_FALSE(checked) << "accepted";
    return checked.problem;
}

TEST(Typed, Text) {
    EXPECT_EQ(*typed::text(yaml("hello")), "hello");
    EXPECT_EQ(*typed::text(yaml("''")), "");
    EXPECT_EQ(problemOf(typed::text(yaml("[a, b]"))), "must be a single value, not a list");
    EXPECT_EQ(problemOf(typed::text(yaml("{a: 1}"))), "must be a single value, not a map");
    EXPECT_EQ(problemOf(typed::text(yaml("~"))), "must be a single value, not empty");
}

TEST(Typed, WholeNumber) {
    EXPECT_EQ(*typed::wholeNumber(yaml("7"), 1, 10), 7);
    EXPECT_EQ(*typed::wholeNumber(yaml("-3"), -5, 0), -3);
    EXPECT_EQ(problemOf(typed::wholeNumber(yaml("many"), 1, 10)), "'many' is not a whole number");
    EXPECT_EQ(problemOf(typed::wholeNumber(yaml("1.5"), 1, 10)), "'1.5' is not a whole number");
    EXPECT_EQ(problemOf(typed::wholeNumber(yaml("''"), 1, 10)), "'' is not a whole number");
    EXPECT_EQ(problemOf(typed::wholeNumber(yaml("99"), 1, 10)), "99 is out of range (1-10)");
    EXPECT_EQ(problemOf(typed::wholeNumber(yaml("0"), 1, 10)), "0 is out of range (1-10)");
    EXPECT_EQ(problemOf(typed::wholeNumber(yaml("99999999999999999999"), 1, 10)),
              "99999999999999999999 is out of range (1-10)");
    EXPECT_EQ(problemOf(typed::wholeNumber(yaml("99999999999999999999x"), 1, 10)),
              "'99999999999999999999x' is not a whole number");
    EXPECT_EQ(problemOf(typed::wholeNumber(yaml("[1]"), 1, 10)), "must be a whole number, not a list");
    EXPECT_EQ(problemOf(typed::wholeNumber(yaml("~"), 1, 10)), "must be a whole number, not empty");
}

TEST(Typed, Number) {
    EXPECT_DOUBLE_EQ(*typed::number(yaml("1.5")), 1.5);
    EXPECT_DOUBLE_EQ(*typed::number(yaml("3")), 3.0);
    EXPECT_EQ(problemOf(typed::number(yaml("fast"))), "'fast' is not a number");
    EXPECT_EQ(problemOf(typed::number(yaml("{a: 1}"))), "must be a number, not a map");
}

TEST(Typed, Boolean) {
    EXPECT_TRUE(*typed::boolean(yaml("true")));
    EXPECT_FALSE(*typed::boolean(yaml("false")));
    EXPECT_TRUE(*typed::boolean(yaml("yes")));  // YAML's spellings
    EXPECT_EQ(problemOf(typed::boolean(yaml("maybe"))), "'maybe' is not true or false");
    EXPECT_EQ(problemOf(typed::boolean(yaml("[true]"))), "must be true or false, not a list");
}

TEST(Typed, Choice) {
    EXPECT_EQ(*typed::choice(yaml("plain"), {"plain", "fancy"}), "plain");
    EXPECT_EQ(problemOf(typed::choice(yaml("loud"), {"plain", "fancy"})),
              "'loud' is not one of: plain, fancy");
    EXPECT_EQ(problemOf(typed::choice(yaml("[plain]"), {"plain", "fancy"})),
              "must be a single value, not a list");
}

TEST(Typed, TextList) {
    EXPECT_EQ(*typed::textList(yaml("[a, b]")), (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(*typed::textList(yaml("a")), std::vector<std::string>{"a"});  // a list of one
    EXPECT_EQ(*typed::textList(yaml("[]")), std::vector<std::string>{});
    EXPECT_EQ(problemOf(typed::textList(yaml("{a: 1}"))),
              "must be a single value or a list of them, not a map");
    EXPECT_EQ(problemOf(typed::textList(yaml("[a, [b]]"))),
              "must be a list of single values; item 2 is a list");
}

TEST(Typed, QuotedValuesShowControlBytesEscaped) {
    EXPECT_EQ(problemOf(typed::wholeNumber(yaml("\"1\\n2\""), 1, 10)), "'1\\n2' is not a whole number");
}

TEST(Typed, OneNameRuleForServicesAndPlugins) {
    for (const char* good : {"echo", "a", "chat-2", "my_service.v1", "ABC123"}) {
        EXPECT_TRUE(typed::validName(good)) << good;
        EXPECT_EQ(typed::nameProblem("service", good), "") << good;
    }
    EXPECT_TRUE(typed::validName(std::string(64, 'x')));
    for (const std::string& bad : {std::string(), std::string(65, 'x'), std::string("bad name"),
                                   std::string("a/b"), std::string("caf\xc3\xa9"), std::string("a\0b", 3)}) {
        EXPECT_FALSE(typed::validName(bad)) << bad;
    }
    EXPECT_EQ(typed::nameProblem("service", "bad name"),
              "'bad name' is not a valid service name (1-64 letters, digits, '_', '-' or '.')");
    EXPECT_EQ(typed::nameProblem("plugin", "bad name"),
              "'bad name' is not a valid plugin name (1-64 letters, digits, '_', '-' or '.')");
    EXPECT_EQ(typed::nameProblem("plugin", std::string(100, 'x')),
              "'" + std::string(64, 'x') +
                  "'... is not a valid plugin name (1-64 letters, digits, '_', '-' or '.')");
}

// The problem config parsing reports for a host key, without position and key path.
std::string hostSays(const std::string& yaml) {
    try {
        config::parse(yaml, "plughost.yaml", "/etc/plughost");
    } catch (const config::ConfigError& error) {
        EXPECT_EQ(error.problems().size(), 1u) << error.what();
        return error.problems().empty() ? "" : error.problems().front().message;
    }
    ADD_FAILURE() << "accepted:\n" << yaml;
    return "";
}

// What a plugin's setting `value` is refused with, read through the C ABI's SettingsView.
template <class Read>
std::string pluginHears(const std::string& value, Read read) {
    context::SettingsView settings(YAML::Load("{key: " + value + "}"));
    EXPECT_EQ(read(settings), PLUGHOST_EINVAL);
    return settings.rejections().empty() ? "" : settings.rejections().front().message;
}

TEST(Typed, HostKeysAndPluginSettingsAreWordedAlike) {
    const auto wholeNumber = [](std::int64_t min, std::int64_t max) {
        return [=](context::SettingsView& settings) {
            std::int64_t value = 0;
            return settings.getInt("key", min, max, value);
        };
    };
    const auto flag = [](context::SettingsView& settings) {
        bool value = false;
        return settings.getBool("key", value);
    };
    const auto text = [](context::SettingsView& settings) {
        const std::string* value = nullptr;
        return settings.getString("key", value);
    };
    EXPECT_EQ(hostSays("workers: many\nservices: {}\n"), pluginHears("many", wholeNumber(0, 256)));
    EXPECT_EQ(hostSays("workers: 999\nservices: {}\n"), pluginHears("999", wholeNumber(0, 256)));
    EXPECT_EQ(hostSays("workers: [1]\nservices: {}\n"), pluginHears("[1]", wholeNumber(0, 256)));
    EXPECT_EQ(hostSays("watch: maybe\nservices: {}\n"), pluginHears("maybe", flag));
    EXPECT_EQ(hostSays("watch: {a: 1}\nservices: {}\n"), pluginHears("{a: 1}", flag));
    EXPECT_EQ(hostSays("user: [a]\nservices: {}\n"), pluginHears("[a]", text));
    EXPECT_EQ(pluginHears("many", wholeNumber(0, 256)), "'many' is not a whole number");
}

TEST(Typed, SettingsViewReadsListsAndNumbersThroughIt) {
    context::SettingsView settings(YAML::Load("{list: [a, b], one: a, bad: {x: 1}, ratio: 0.5, off: ~}"));
    const std::vector<std::string>* items = nullptr;
    ASSERT_EQ(settings.getList("list", items), PLUGHOST_OK);
    EXPECT_EQ(*items, (std::vector<std::string>{"a", "b"}));
    ASSERT_EQ(settings.getList("one", items), PLUGHOST_OK);
    EXPECT_EQ(*items, std::vector<std::string>{"a"});
    EXPECT_EQ(settings.getList("bad", items), PLUGHOST_EINVAL);
    EXPECT_EQ(settings.getList("off", items), PLUGHOST_ABSENT);  // an empty value is no value
    double ratio = 0;
    ASSERT_EQ(settings.getDouble("ratio", ratio), PLUGHOST_OK);
    EXPECT_DOUBLE_EQ(ratio, 0.5);
    ASSERT_EQ(settings.rejections().size(), 1u);
    EXPECT_EQ(settings.rejections()[0].key, "bad");
    EXPECT_EQ(settings.rejections()[0].message, "must be a single value or a list of them, not a map");
}

}  // namespace
