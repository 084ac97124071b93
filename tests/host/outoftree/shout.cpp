// Answers every line in upper case.
#include <plughost/plugin.h>

#include <cctype>

namespace {

class Shout : public plughost::Service {
public:
    plughost::Framing framing() const override { return plughost::Framing::Lines; }
    void onData(plughost::Session& session, std::string_view line) override {
        std::string loud(line);
        for (char& c : loud) {
            c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        }
        session.send(loud + "\n");
    }
};

}  // namespace

PLUGHOST_PLUGIN(Shout, "shout", "0.1.0", "answers every line in upper case")
