#pragma once
// Drives a built plugin through its C ABI alone, as a second, in-memory host:
// dlopen of the .so, its exported plughost_abi and plughost_plugin, and a
// plughost_host_api table of our own whose sessions, settings and log record
// what the plugin sends, reads and logs. Unit tests of a plugin's logic with
// no host, sockets or timing; the integration tests use the real host.
// (driver.h next to it runs a plugin through the host's own loader and
// adapter; the fuzzers use it.)

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <plughost/abi.h>
#include <plughost/context.h>  // LogLevel
#include <plughost/service.h>  // Framing, CloseReason

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// The ABI's opaque handles, completed by this test host.
struct plughost_session {
    virtual ~plughost_session() = default;
};
struct plughost_service {
    virtual ~plughost_service() = default;
};

namespace plughost::test {

// Records what the plugin sends. Thread safe like the real one; after close()
// later sends fail, as the ABI promises. Like the host's, a session the plugin
// retained stays alive until it is released, whatever the test holds.
class MemorySession final : public plughost_session, public std::enable_shared_from_this<MemorySession> {
public:
    MemorySession(std::uint64_t id, std::string peer) : id_(id), peer_(std::move(peer)) {}
    std::uint64_t id() const { return id_; }
    const std::string& peer() const { return peer_; }
    bool send(std::string_view bytes) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (closed_) {
            return false;
        }
        sent_.append(bytes);
        return true;
    }
    void close() {
        std::lock_guard<std::mutex> lock(mutex_);
        closed_ = true;
    }
    // Everything sent since the last take().
    std::string take() {
        std::lock_guard<std::mutex> lock(mutex_);
        return std::exchange(sent_, std::string());
    }
    bool closed() {
        std::lock_guard<std::mutex> lock(mutex_);
        return closed_;
    }
    void retain() {
        std::lock_guard<std::mutex> lock(mutex_);
        if (pins_++ == 0) {
            pinned_ = shared_from_this();
        }
    }
    void release() {
        std::shared_ptr<MemorySession> last;  // may be the final reference: dropped after the lock
        std::lock_guard<std::mutex> lock(mutex_);
        if (pins_ > 0 && --pins_ == 0) {
            last = std::move(pinned_);
        }
    }
    void* data = nullptr;  // the plugin's session_data
    std::atomic<bool> finished{false};

private:
    const std::uint64_t id_;
    const std::string peer_;
    std::mutex mutex_;
    std::string sent_;
    bool closed_ = false;
    int pins_ = 0;
    std::shared_ptr<MemorySession> pinned_;
};

// The `settings:` map as text values ("3", "true", "two\nlines"), typed on
// demand, remembering which keys the plugin asked for; and the log. A refused
// value is worded as the host words it (host/typed.cpp), which this test host
// cannot link: "'many' is not a whole number", "99 is out of range (1-10)",
// "'fast' is not a number", "'maybe' is not true or false".
class MemoryService final : public plughost_service {
public:
    MemoryService(std::string name, std::map<std::string, std::string> values, std::size_t maxLine)
        : name(std::move(name)), maxLine(maxLine), values_(std::move(values)) {}

    const std::string name;
    const std::size_t maxLine;
    std::int32_t framing = PLUGHOST_FRAMING_RAW;
    bool inFactory = false;
    std::string problem;   // the first "key: why"
    std::string reported;  // the last report_error

    std::optional<std::string> value(std::string_view key) {
        if (!inFactory) {
            ADD_FAILURE() << "a setting was read after create() returned";
        }
        read_.insert(std::string(key));
        const auto found = values_.find(std::string(key));
        return found == values_.end() ? std::nullopt : std::optional<std::string>(found->second);
    }
    std::int32_t reject(std::string_view key, const std::string& why) {
        read_.insert(std::string(key));
        if (problem.empty()) {
            problem = std::string(key) + ": " + why;
        }
        return PLUGHOST_EINVAL;
    }
    // Keys given but never asked for: what the host reports as unknown settings.
    std::vector<std::string> unread() const {
        std::vector<std::string> keys;
        for (const auto& entry : values_) {
            if (read_.count(entry.first) == 0) {
                keys.push_back(entry.first);
            }
        }
        return keys;
    }
    // Keeps a string handed out alive until the service goes.
    const std::string& keep(std::string text) {
        std::lock_guard<std::mutex> lock(mutex_);
        kept_.push_back(std::make_unique<std::string>(std::move(text)));
        return *kept_.back();
    }
    void log(LogLevel level, std::string message) {
        std::lock_guard<std::mutex> lock(mutex_);
        lines_.emplace_back(level, std::move(message));
    }
    std::vector<std::pair<LogLevel, std::string>> lines() {
        std::lock_guard<std::mutex> lock(mutex_);
        return lines_;
    }

private:
    const std::map<std::string, std::string> values_;
    std::set<std::string> read_;
    std::mutex mutex_;
    std::vector<std::unique_ptr<std::string>> kept_;
    std::vector<std::pair<LogLevel, std::string>> lines_;
};

namespace detail {

inline MemoryService& service(plughost_service* handle) { return *static_cast<MemoryService*>(handle); }
inline MemorySession& session(plughost_session* handle) { return *static_cast<MemorySession*>(handle); }
inline std::string_view text(const char* data, std::size_t size) { return {data, size}; }

inline std::int32_t handOut(MemoryService& service, std::string value, const char** out, std::size_t* size) {
    const std::string& kept = service.keep(std::move(value));
    *out = kept.data();
    *size = kept.size();
    return PLUGHOST_OK;
}

inline const plughost_host_api* hostApi() {
    static const plughost_host_api api = {
        sizeof(plughost_host_api),
        [](plughost_service* s, const char** name, std::size_t* size) {
            *name = service(s).name.data();
            *size = service(s).name.size();
        },
        [](plughost_service* s) { return service(s).maxLine; },
        [](plughost_service* s, std::int32_t framing) {
            service(s).framing = framing;
            return service(s).inFactory ? PLUGHOST_OK : PLUGHOST_ESTATE;
        },
        [](plughost_service* s, std::int32_t level, const char* message, std::size_t size) {
            service(s).log(static_cast<LogLevel>(level), std::string(message, size));
        },
        [](plughost_service* s, const char* message, std::size_t size) {
            service(s).reported.assign(message, size);
        },
        [](plughost_service* s, const char* key, std::size_t size) -> std::int32_t {
            return service(s).value(text(key, size)) ? 1 : 0;
        },
        [](plughost_service* s, const char* key, std::size_t size, const char** value, std::size_t* length) {
            const auto found = service(s).value(text(key, size));
            return found ? handOut(service(s), *found, value, length) : PLUGHOST_ABSENT;
        },
        [](plughost_service* s, const char* key, std::size_t size, std::int64_t min, std::int64_t max,
           std::int64_t* value) {
            const auto found = service(s).value(text(key, size));
            if (!found) {
                return PLUGHOST_ABSENT;
            }
            char* end = nullptr;
            errno = 0;
            const long long number = std::strtoll(found->c_str(), &end, 10);
            const std::string range =
                " is out of range (" + std::to_string(min) + "-" + std::to_string(max) + ")";
            if (found->empty() || *end != '\0') {
                return service(s).reject(text(key, size), "'" + *found + "' is not a whole number");
            }
            if (errno == ERANGE) {
                return service(s).reject(text(key, size), *found + range);
            }
            if (number < min || number > max) {
                return service(s).reject(text(key, size), std::to_string(number) + range);
            }
            *value = number;
            return PLUGHOST_OK;
        },
        [](plughost_service* s, const char* key, std::size_t size, double* value) {
            const auto found = service(s).value(text(key, size));
            if (!found) {
                return PLUGHOST_ABSENT;
            }
            char* end = nullptr;
            const double number = std::strtod(found->c_str(), &end);
            if (found->empty() || *end != '\0') {
                return service(s).reject(text(key, size), "'" + *found + "' is not a number");
            }
            *value = number;
            return PLUGHOST_OK;
        },
        [](plughost_service* s, const char* key, std::size_t size, std::int32_t* value) {
            const auto found = service(s).value(text(key, size));
            if (!found) {
                return PLUGHOST_ABSENT;
            }
            if (*found != "true" && *found != "false") {
                return service(s).reject(text(key, size), "'" + *found + "' is not true or false");
            }
            *value = *found == "true" ? 1 : 0;
            return PLUGHOST_OK;
        },
        [](plughost_service* s, const char* key, std::size_t size, std::size_t* count) {
            const auto found = service(s).value(text(key, size));  // a text value is a list of one
            if (found) {
                *count = 1;
            }
            return found ? PLUGHOST_OK : PLUGHOST_ABSENT;
        },
        [](plughost_service* s, const char* key, std::size_t size, std::size_t index, const char** value,
           std::size_t* length) {
            const auto found = service(s).value(text(key, size));
            return found && index == 0 ? handOut(service(s), *found, value, length) : PLUGHOST_ABSENT;
        },
        [](plughost_service* s, const char* key, std::size_t size, const char* why, std::size_t whyLength) {
            return service(s).reject(text(key, size), std::string(why, whyLength));
        },
        [](plughost_session* s) { return session(s).id(); },
        [](plughost_session* s, const char** peer, std::size_t* size) {
            *peer = session(s).peer().data();
            *size = session(s).peer().size();
        },
        [](plughost_session* s, const char* data, std::size_t size) {
            return session(s).send(text(data, size)) ? PLUGHOST_OK : PLUGHOST_ECLOSED;
        },
        [](plughost_session* s) { session(s).close(); },
        [](plughost_session* s) { session(s).retain(); },
        [](plughost_session* s) { session(s).release(); },
        [](plughost_session*) -> std::size_t { return 0; },
        [](plughost_session*, plughost_connection* out) { out->transport = PLUGHOST_TRANSPORT_TCP; },
        [](plughost_service*, const char*, std::size_t, std::int64_t) {},  // counters: not kept here
        [](plughost_service*) -> std::size_t { return 1024 * 1024; },      // max_queue: the host's default
    };
    return &api;
}

}  // namespace detail

// PLUGHOST_PLUGIN_DIR/<name>.so's table. Each library is loaded once and stays
// loaded: the plugin's code must outlive every service made from it.
inline const plughost_plugin_api* loadPlugin(const std::string& name) {
    static std::mutex mutex;
    static std::map<std::string, const plughost_plugin_api*> loaded;
    std::lock_guard<std::mutex> lock(mutex);
    if (const auto found = loaded.find(name); found != loaded.end()) {
        return found->second;
    }
    const std::string path = std::string(PLUGHOST_PLUGIN_DIR) + "/" + name + ".so";
    void* library = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (library == nullptr) {
        ADD_FAILURE() << "dlopen " << path << ": " << ::dlerror();
        return nullptr;
    }
    const auto* abi = static_cast<const plughost_abi_version*>(::dlsym(library, "plughost_abi"));
    const auto* api = static_cast<const plughost_plugin_api*>(::dlsym(library, "plughost_plugin"));
    if (abi == nullptr || abi->major != PLUGHOST_ABI_MAJOR || api == nullptr || name != api->name) {
        ADD_FAILURE() << path << ": no plughost_abi, a different major, or no plughost_plugin named " << name;
        return nullptr;
    }
    return loaded[name] = api;
}

// One service of plugin `name` made by its create() from `settings`, with
// helpers that play the host's part: open, data, line too long, close, stop.
class PluginDriver {
public:
    explicit PluginDriver(const std::string& plugin, std::map<std::string, std::string> settings = {},
                          const std::string& service = "svc", std::size_t maxLine = 8192)
        : service_(service, std::move(settings), maxLine) {
        api_ = loadPlugin(plugin);
        if (api_ == nullptr) {
            service_.problem = "cannot load plugin " + plugin;
            return;
        }
        service_.inFactory = true;
        const std::int32_t result = api_->create(detail::hostApi(), &service_, &instance_);
        service_.inFactory = false;
        created_ = result == PLUGHOST_OK;
        if (!created_ && service_.problem.empty()) {
            service_.problem = "create failed: " + service_.reported;
        }
    }
    // Like the host at shutdown: every session still open ends, then the service.
    ~PluginDriver() {
        std::vector<std::shared_ptr<MemorySession>> open;
        {
            std::lock_guard<std::mutex> lock(sessionsMutex_);
            open.swap(sessions_);
        }
        for (const auto& session : open) {
            if (!session->finished) {
                leave(*session, CloseReason::Shutdown);
            }
        }
        if (created_) {
            api_->destroy(instance_);
        }
    }
    PluginDriver(const PluginDriver&) = delete;
    PluginDriver& operator=(const PluginDriver&) = delete;

    // "" when the plugin accepted its settings, else "key: why".
    const std::string& problem() const { return service_.problem; }
    std::vector<std::string> unreadSettings() const { return service_.unread(); }
    bool created() const { return created_; }
    Framing framing() const { return static_cast<Framing>(service_.framing); }

    std::shared_ptr<MemorySession> open(const std::string& peer = "127.0.0.1:40000") {
        auto session = std::make_shared<MemorySession>(++nextId_, peer);
        {
            std::lock_guard<std::mutex> lock(sessionsMutex_);
            sessions_.push_back(session);  // the host owns a session until it ends
        }
        expectOk(api_->on_open == nullptr ||
                     api_->on_open(instance_, session.get(), &session->data) == PLUGHOST_OK,
                 "on_open");
        return session;
    }
    void say(MemorySession& session, std::string_view data) {
        expectOk(api_->on_data(instance_, &session, session.data, data.data(), data.size()) == PLUGHOST_OK,
                 "on_data");
    }
    void tooLong(MemorySession& session) {
        expectOk(
            api_->on_line_too_long == nullptr ||
                api_->on_line_too_long(instance_, &session, session.data, service_.maxLine) == PLUGHOST_OK,
            "on_line_too_long");
    }
    // What the host does when a session ends: no more sends, then on_close, once.
    void leave(MemorySession& session, CloseReason reason) {
        session.close();
        if (session.finished) {
            ADD_FAILURE() << "session " << session.id() << " left twice";
            return;
        }
        session.finished = true;
        if (api_->on_close != nullptr) {
            api_->on_close(instance_, &session, session.data, static_cast<std::int32_t>(reason));
        }
        session.data = nullptr;
    }
    void stopping() {
        if (api_->size > offsetof(plughost_plugin_api, on_stopping) && api_->on_stopping != nullptr) {
            api_->on_stopping(instance_);
        }
    }
    std::vector<std::pair<LogLevel, std::string>> logLines() { return service_.lines(); }

private:
    void expectOk(bool ok, const char* callback) {
        if (!ok) {
            ADD_FAILURE() << callback << " failed: " << service_.reported;
        }
    }

    MemoryService service_;
    const plughost_plugin_api* api_ = nullptr;
    void* instance_ = nullptr;
    bool created_ = false;
    std::atomic<std::uint64_t> nextId_{0};  // tests open sessions from several threads
    std::mutex sessionsMutex_;
    std::vector<std::shared_ptr<MemorySession>> sessions_;
};

}  // namespace plughost::test
