// Reads typed settings and answers each line with what it read: exercises the settings API.
#include <plughost/plugin.h>

namespace {

class Probe : public plughost::Service {
public:
    explicit Probe(plughost::ServiceContext& context)
        : greeting_(context.settings().getString("greeting", "hello")),
          count_(context.settings().getInt("count", 1, 1, 10)),
          shout_(context.settings().getBool("shout", false)),
          mode_(context.settings().getChoice("mode", "plain", {"plain", "fancy"})) {
        if (greeting_.empty()) {
            context.settings().reject("greeting", "must not be empty");
        }
    }

    plughost::Framing framing() const override { return plughost::Framing::Lines; }

    void onData(plughost::Session& session, std::string_view line) override {
        std::string reply;
        for (std::int64_t i = 0; i < count_; ++i) {
            reply += greeting_ + " " + std::string(line) + (shout_ ? "!" : "") + " (" + mode_ + ")\n";
        }
        session.send(reply);
    }

    void onLineTooLong(plughost::Session& session, std::size_t maxLine) override {
        session.send("too long: max " + std::to_string(maxLine) + "\n");
    }

private:
    std::string greeting_;
    std::int64_t count_;
    bool shout_;
    std::string mode_;
};

}  // namespace

PLUGHOST_PLUGIN(Probe, "probe", "1.2.3", "answers each line using its settings")
