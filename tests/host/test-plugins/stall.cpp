// Wedges its I/O thread on purpose, for the watchdog tests: the line "block"
// makes onData wait until the file named by the setting `release` exists (at
// most a minute, so a forgotten test cannot hang the host for ever). Other
// lines are echoed.
#include <plughost/plugin.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

namespace {

class Stall : public plughost::Service {
public:
    explicit Stall(plughost::ServiceContext& context)
        : release_(context.settings().getString("release", "")) {}

    plughost::Framing framing() const override { return plughost::Framing::Lines; }

    void onData(plughost::Session& session, std::string_view line) override {
        if (line == "block") {
            const auto giveUp = std::chrono::steady_clock::now() + std::chrono::minutes(1);
            while (::access(release_.c_str(), F_OK) != 0 && std::chrono::steady_clock::now() < giveUp) {
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
            session.send("released\n");
            return;
        }
        session.send(std::string(line) + "\n");
    }

private:
    const std::string release_;
};

}  // namespace

PLUGHOST_PLUGIN(Stall, "stall", "1.0.0", "blocks its I/O thread on the line block until a file exists")
