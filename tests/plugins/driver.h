#pragma once
// Drives a real plugin through the host's own config parsing, plugin loading and
// settings code, with in-memory sessions in place of sockets: unit tests of a
// plugin's logic without timing. (The integration tests use the real daemon.)

#include <Poco/AutoPtr.h>
#include <Poco/Channel.h>
#include <Poco/Logger.h>
#include <Poco/Message.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/config.h"
#include "plugins/plugins.h"
#include "services/services.h"

namespace plughost::test {

// Records what the plugin sends; thread safe like the real one.
class MemorySession final : public plughost::plugins::SessionPort {
public:
    MemorySession(std::uint64_t id, std::string peer) : id_(id), peer_(std::move(peer)) {}
    std::uint64_t id() const override { return id_; }
    const std::string& peer() const override { return peer_; }
    bool send(std::string_view bytes) override {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!closed_) {
            sent_.append(bytes);
        }
        return !closed_;
    }
    void close() override {
        std::lock_guard<std::mutex> lock(mutex_);
        closed_ = true;
    }
    void retain() override {}
    void release() override {}
    std::size_t queued() override { return 0; }
    void connection(plughost_connection& out) const override { out.transport = PLUGHOST_TRANSPORT_TCP; }

    // Everything sent since the last take().
    std::string take() {
        std::lock_guard<std::mutex> lock(mutex_);
        std::string out;
        out.swap(sent_);
        return out;
    }
    bool closed() {
        std::lock_guard<std::mutex> lock(mutex_);
        return closed_;
    }
    void* data = nullptr;   // the plugin's session_data
    bool finished = false;  // on_close was called

private:
    const std::uint64_t id_;
    const std::string peer_;
    std::mutex mutex_;
    std::string sent_;
    bool closed_ = false;
};

// Collects what the host's logger would print.
class LogCapture final : public Poco::Channel {
public:
    void log(const Poco::Message& message) override {
        std::lock_guard<std::mutex> lock(mutex_);
        lines_.push_back(message.getText());
    }
    std::vector<std::string> lines() {
        std::lock_guard<std::mutex> lock(mutex_);
        return lines_;
    }

private:
    std::mutex mutex_;
    std::vector<std::string> lines_;
};

// One service of `yaml` (a config with one service), prepared from the build's plugins.
class PluginDriver {
public:
    explicit PluginDriver(const std::string& yaml) : log_(new LogCapture()) {
        Poco::Logger::get("plughost").setChannel(log_);
        Poco::Logger::get("plughost").setLevel("debug");
        const auto config = config::parse("plugin_dir: " PLUGHOST_PLUGIN_DIR "\n" + yaml, "test.yaml", "/");
        service_ = services::HostedService::prepare(config.services.at(0), catalog());
    }

    // Like the host at shutdown: every session still open ends before the service does.
    ~PluginDriver() {
        for (const auto& session : open_) {
            if (!session->finished) {
                leave(*session, plughost::CloseReason::Shutdown);
            }
        }
    }
    PluginDriver(const PluginDriver&) = delete;
    PluginDriver& operator=(const PluginDriver&) = delete;

    // Empty when the plugin accepted its settings, else the first problem ("file:line:col: key: message").
    std::string problem() const {
        return service_->configProblems().empty() ? "" : service_->configProblems().front().format();
    }
    plughost::plugins::Instance& plugin() { return service_->plugin(); }
    plughost::Framing framing() const { return service_->framing(); }

    std::shared_ptr<MemorySession> open(const std::string& peer = "127.0.0.1:40000") {
        auto session = std::make_shared<MemorySession>(++nextId_, peer);
        open_.push_back(session);
        plugin().open(*session, session->data);
        return session;
    }
    void say(MemorySession& session, std::string_view data) { plugin().data(session, session.data, data); }
    void leave(MemorySession& session, plughost::CloseReason reason) {
        session.close();
        if (!session.finished) {
            session.finished = true;
            plugin().close(session, session.data, reason);
            session.data = nullptr;
        }
    }
    std::vector<std::string> logLines() { return log_->lines(); }

private:
    // Scanned once and kept for the process: libraries stay loaded, which
    // libFuzzer needs (it keeps pointers into every module's coverage counters).
    static const plugins::Catalog& catalog() {
        static const plugins::Catalog scanned = plugins::Catalog::scan(PLUGHOST_PLUGIN_DIR);
        return scanned;
    }

    Poco::AutoPtr<LogCapture> log_;
    std::shared_ptr<services::HostedService> service_;
    std::uint64_t nextId_ = 0;
    std::vector<std::shared_ptr<MemorySession>> open_;  // what the host would still hold
};

}  // namespace plughost::test
