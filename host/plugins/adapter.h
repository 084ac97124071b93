#pragma once
// adapter: the host's side of the C ABI (plughost/abi.h). It owns the one
// plughost_host_api table, turns a plugin's plughost_plugin_api into an
// Instance the rest of the host calls like a C++ object, and translates
// every result code. Nothing of a plugin's C++ (types, exceptions, allocator)
// reaches the host; nothing of the host's reaches a plugin.

#include <plughost/abi.h>
#include <plughost/service.h>  // Framing and CloseReason: the ABI's constants as C++ enums

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "plugins/plugins.h"

// The opaque handle of abi.h, completed: every session a plugin sees is one.
struct plughost_session {};

namespace plughost::plugins {

// A connection as the ABI needs it. The host's sessions implement it (and test
// doubles do). Every member is safe from any thread.
class SessionPort : public ::plughost_session {
public:
    virtual std::uint64_t id() const = 0;
    virtual const std::string& peer() const = 0;
    // False once the session is closed or closing.
    virtual bool send(std::string_view bytes) = 0;
    virtual void close() = 0;
    // A plugin keeps the handle beyond a callback: it must stay valid until release().
    virtual void retain() = 0;
    virtual void release() = 0;
    virtual std::size_t queued() = 0;
    // Fills the transport and, for TLS, the strings (which must stay valid as long as the handle).
    virtual void connection(plughost_connection& out) const = 0;

protected:
    ~SessionPort() = default;
};

// A service's plugin-defined counters (service_count, ABI 2.3). Any thread.
class Counters {
public:
    // Ignores a name that is not 1-64 of [a-z0-9_] and a negative delta.
    void add(std::string_view name, std::int64_t delta);
    std::map<std::string, std::uint64_t> snapshot() const;

private:
    mutable std::mutex mutex_;
    std::map<std::string, std::uint64_t, std::less<>> values_;
};

// One service instance made by a plugin's create(). Destroying it calls the
// plugin's destroy(); the library stays loaded while the Instance lives.
class Instance {
public:
    // Runs create() with `config`'s settings. Never throws: a refusal returns
    // null and appends the problems, each with file:line:column and key path
    // (a setting refused, a setting the plugin never read, or create() failing).
    static std::unique_ptr<Instance> create(std::shared_ptr<Library> library,
                                            const config::ServiceConfig& config,
                                            std::vector<config::Problem>& problems,
                                            std::shared_ptr<Counters> counters = nullptr);
    ~Instance();
    Instance(const Instance&) = delete;
    Instance& operator=(const Instance&) = delete;

    plughost::Framing framing() const;

    // The callbacks, on the session's I/O thread. Each returns false when the
    // plugin reported a failure; failure() then says what it reported.
    bool open(SessionPort& session, void*& data);
    bool data(SessionPort& session, void* data, std::string_view bytes);
    bool lineTooLong(SessionPort& session, void* data, std::size_t maxLine);
    // These two cannot fail the session; false says the plugin reported an error anyway.
    bool close(SessionPort& session, void* data, plughost::CloseReason reason);
    bool stopping();

    // What the plugin reported (report_error) about the callback that just failed on this thread.
    static std::string failure();

private:
    Instance() = default;

    std::shared_ptr<Library> library_;
    plughost_plugin_api api_{};  // the plugin's table, entries it lacks null
    std::unique_ptr<::plughost_service> handle_;
    void* instance_ = nullptr;
    bool created_ = false;
};

}  // namespace plughost::plugins
