// A plugin whose factory throws: services using it fail, the others run.
#include <plughost/plugin.h>

#include <stdexcept>

namespace {

class Throwing : public plughost::Service {
public:
    explicit Throwing(plughost::ServiceContext&) {
        throw std::runtime_error("the factory exploded on purpose");
    }
    void onData(plughost::Session&, std::string_view) override {}
};

}  // namespace

PLUGHOST_PLUGIN(Throwing, "throwing_factory", "1.0.0", "a factory that always throws")
