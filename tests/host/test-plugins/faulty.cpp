// Echoes lines, but throws on the line "boom": one session must close, the host and others carry on.
#include <plughost/plugin.h>

#include <stdexcept>

namespace {

class Faulty : public plughost::Service {
public:
    plughost::Framing framing() const override { return plughost::Framing::Lines; }
    void onData(plughost::Session& session, std::string_view line) override {
        if (line == "boom") {
            throw std::runtime_error("boom on purpose");
        }
        session.send(std::string(line) + "\n");
    }
};

}  // namespace

PLUGHOST_PLUGIN(Faulty, "faulty", "1.0.0", "throws on the line boom")
