// libFuzzer: any `reply` template is either refused at load time with a reason
// or renders every message without crashing.
#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "../plugins/driver.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string input(reinterpret_cast<const char*>(data), size);
    const auto split = input.find('\0');
    const std::string reply = input.substr(0, split);
    const std::string message = split == std::string::npos ? "hello" : input.substr(split + 1);
    YAML::Emitter yaml;
    yaml << YAML::BeginMap << YAML::Key << "services" << YAML::Value << YAML::BeginMap << YAML::Key << "c"
         << YAML::Value << YAML::BeginMap << YAML::Key << "plugin" << YAML::Value << "confirm" << YAML::Key
         << "listen" << YAML::Value << "0" << YAML::Key << "settings" << YAML::Value << YAML::BeginMap
         << YAML::Key << "reply" << YAML::Value << reply << YAML::EndMap << YAML::EndMap << YAML::EndMap
         << YAML::EndMap;
    if (!yaml.good()) {
        return 0;
    }
    try {
        plughost::test::PluginDriver driver(yaml.c_str());
        if (!driver.problem().empty()) {
            return 0;  // refused at load time, with a reason
        }
        auto session = driver.open();
        driver.say(*session, message);
        driver.say(*session, message);
        if (session->take().empty() && !reply.empty()) {
            __builtin_trap();
        }
    } catch (const plughost::config::ConfigError&) {
        // YAML the emitter wrote but the loader reads differently is not this target's subject.
    }
    return 0;
}
