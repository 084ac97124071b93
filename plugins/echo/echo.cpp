// RFC 862 echo: every byte received goes back unchanged.
#include <plughost/plugin.h>

namespace {

class Echo : public plughost::Service {
public:
    void onData(plughost::Session& session, std::string_view data) override { session.send(data); }
};

}  // namespace

PLUGHOST_PLUGIN(Echo, "echo", "1.0.0", "RFC 862 echo: sends back every byte it receives")
