#pragma once
// The one header a plugin includes: the descriptor and the export macro.
//
//   class Echo : public plughost::Service {
//       void onData(plughost::Session& s, std::string_view data) override { s.send(data); }
//   };
//   PLUGHOST_PLUGIN(Echo, "echo", "1.0.0", "RFC 862 echo")

#include <cstdint>
#include <memory>
#include <type_traits>

#include <plughost/context.h>
#include <plughost/service.h>
#include <plughost/session.h>

namespace plughost {

// Bumped whenever any SDK type changes layout or meaning. The host reads it
// before touching anything else in the descriptor and refuses a mismatch.
constexpr std::uint32_t kAbiVersion = 1;

using ServiceFactory = std::unique_ptr<Service> (*)(ServiceContext& context);

// Returned by the plugin's single exported entry point. `abi` comes first and
// stays first in every ABI version so any host can read it.
struct PluginDescriptor {
    std::uint32_t abi;
    const char* name;         // what `plugin:` in YAML refers to
    const char* version;      // the plugin's own version, e.g. "1.2.0"
    const char* description;  // one line for `plughostctl plugins`
    ServiceFactory create;    // may throw SettingError (or anything) to refuse
};

// Builds CLASS from the context if it has such a constructor, else by default.
template <class ServiceClass>
std::unique_ptr<Service> createService(ServiceContext& context) {
    static_assert(std::is_base_of_v<Service, ServiceClass>, "a plugin's class derives from plughost::Service");
    if constexpr (std::is_constructible_v<ServiceClass, ServiceContext&>) {
        return std::make_unique<ServiceClass>(context);
    } else {
        (void)context;
        return std::make_unique<ServiceClass>();
    }
}

}  // namespace plughost

#define PLUGHOST_ENTRY_SYMBOL "plughost_plugin_entry"

// Exports the plugin: one extern "C" symbol returning the descriptor.
// CLASS derives from plughost::Service; its constructor may take
// (plughost::ServiceContext&) and may throw to refuse its settings.
#define PLUGHOST_PLUGIN(CLASS, NAME, VERSION, DESCRIPTION)                                      \
    extern "C" PLUGHOST_VISIBLE const ::plughost::PluginDescriptor* plughost_plugin_entry() {  \
        static const ::plughost::PluginDescriptor descriptor{                                   \
            ::plughost::kAbiVersion, NAME, VERSION, DESCRIPTION, &::plughost::createService<CLASS>}; \
        return &descriptor;                                                                     \
    }
