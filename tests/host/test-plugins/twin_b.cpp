// One of two plugins claiming the same name.
#include <plughost/plugin.h>

namespace {

class Twin : public plughost::Service {
public:
    void onData(plughost::Session& session, std::string_view data) override { session.send(data); }
};

}  // namespace

PLUGHOST_PLUGIN(Twin, "twin", "1.0.1", "a twin")
