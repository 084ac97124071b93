// The C ABI probe of abi_probe.c, as a C++ plugin on the header-only SDK. Built
// with standard libraries the host was not built with: clang's libc++
// (abi_probe_libcxx.so) and libstdc++'s pre-C++11 string ABI
// (abi_probe_oldabi.so). Nothing of either may reach the host.
#include <plughost/plugin.h>

#include <mutex>
#include <string>
#include <thread>
#include <vector>

#ifndef PROBE_NAME
#error "PROBE_NAME names the plugin"
#endif

namespace {

class Probe : public plughost::Service {
public:
    explicit Probe(plughost::ServiceContext& context)
        : context_(context),
          greeting_(context.settings().getString("greeting", "")),
          tag_(context.settings().getString("tag", PROBE_NAME)),
          repeat_(context.settings().getInt("repeat", 1, 1, 5)),
          items_(context.settings().getStringList("items")) {
        if (tag_.empty() || tag_.size() > 63) {
            context.settings().reject("tag", "must be 1-63 bytes");
        }
    }

    ~Probe() override {
        std::lock_guard<std::mutex> lock(mutex_);
        for (auto& thread : threads_) {
            thread.join();
        }
    }

    plughost::Framing framing() const override { return plughost::Framing::Lines; }

    void onOpen(plughost::Session& session) override {
        if (!greeting_.empty()) {
            session.send(greeting_ + "\n");
        }
    }

    void onData(plughost::Session& session, std::string_view line) override {
        const std::string text(line);
        if (text.rfind("log ", 0) == 0) {
            context_.logger().info(tag_ + " says " + text.substr(4));
            session.send("logged\n");
        } else if (text.rfind("later ", 0) == 0) {
            std::lock_guard<std::mutex> lock(mutex_);
            threads_.emplace_back([kept = session.shared_from_this(), rest = text.substr(6)] {
                kept->send("later: " + rest + "\n");
                kept->close();
            });
        } else if (text == "queued") {
            session.send("queued " + std::to_string(session.queued()) + "\n");
        } else if (text == "transport") {
            session.send("transport " + std::to_string(static_cast<int>(session.connection().transport)) +
                         "\n");
        } else if (text == "peer") {
            session.send("peer " + session.peer() + "\n");
        } else if (text == "list") {
            std::string joined;
            for (const auto& item : items_) {
                joined += (joined.empty() ? "" : ",") + item;
            }
            session.send(joined + "\n");
        } else if (text == "fail") {
            throw std::runtime_error("failed on purpose");
        } else {
            for (std::int64_t i = 0; i < repeat_; ++i) {
                session.send(tag_ + ": " + text + "\n");
            }
        }
    }

    void onStopping() override { context_.logger().info(tag_ + " stopping"); }

private:
    plughost::ServiceContext& context_;
    std::string greeting_;
    std::string tag_;
    std::int64_t repeat_;
    std::vector<std::string> items_;
    std::mutex mutex_;
    std::vector<std::thread> threads_;
};

}  // namespace

PLUGHOST_PLUGIN(Probe, PROBE_NAME, "1.0.0", "the C ABI probe, in C++ on the SDK")
