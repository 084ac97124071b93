// A plugin that does what well-behaved plugins rarely do, for the host's own
// regression tests: it keeps Session handles after onClose, sends a large reply
// and closes at once, and can throw something that is not a std::exception
// from onStopping. Lines: "keep" keeps this session's handle for good;
// "big N" sends N bytes ('b', then "\n") and closes; anything else is echoed.
#include <plughost/plugin.h>

#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace {

class Keeper : public plughost::Service {
public:
    explicit Keeper(plughost::ServiceContext& context)
        : marker_(context.settings().getString("marker", "")),
          throwOnStopping_(context.settings().getBool("throw_on_stopping", false)) {}

    // The marker file says the host let go of the instance (and so of its library).
    ~Keeper() override {
        if (!marker_.empty()) {
            std::ofstream(marker_, std::ios::app) << "destroyed\n";
        }
    }

    plughost::Framing framing() const override { return plughost::Framing::Lines; }

    void onData(plughost::Session& session, std::string_view line) override {
        if (line == "keep") {
            std::lock_guard<std::mutex> lock(mutex_);
            kept_.push_back(session.shared_from_this());
            session.send("kept\n");
        } else if (line.rfind("big ", 0) == 0) {
            session.send(std::string(std::stoul(std::string(line.substr(4))), 'b') + "\n");
            session.close();
        } else {
            session.send(std::string(line) + "\n");
        }
    }

    void onStopping() override {
        if (throwOnStopping_) {
            throw 42;  // not a std::exception
        }
    }

private:
    const std::string marker_;
    const bool throwOnStopping_;
    std::mutex mutex_;
    std::vector<std::shared_ptr<plughost::Session>> kept_;
};

}  // namespace

PLUGHOST_PLUGIN(Keeper, "keeper", "1.0.0", "keeps sessions, sends big replies, throws from onStopping")
