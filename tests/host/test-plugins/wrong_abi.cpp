// A plugin built against a future ABI: the host must refuse it before calling anything else.
#include <plughost/plugin.h>

extern "C" PLUGHOST_VISIBLE const plughost::PluginDescriptor* plughost_plugin_entry() {
    static const plughost::PluginDescriptor descriptor{plughost::kAbiVersion + 1, "wrong_abi", "9.9.9",
                                                       "built against a future ABI", nullptr};
    return &descriptor;
}
