// Calls a function no library provides (linked with -z undefs on purpose): the
// host must refuse it at load, naming the symbol, instead of dying at the call.
#include <plughost/plugin.h>

extern "C" void plughost_test_function_nobody_defines();

namespace {

class Unresolved : public plughost::Service {
public:
    void onData(plughost::Session& session, std::string_view data) override {
        plughost_test_function_nobody_defines();
        session.send(data);
    }
};

}  // namespace

PLUGHOST_PLUGIN(Unresolved, "unresolved", "1.0.0", "needs a symbol nobody provides")
