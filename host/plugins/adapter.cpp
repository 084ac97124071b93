#include "plugins/adapter.h"

#include <Poco/Logger.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstring>
#include <utility>

#include "plugins/context.h"
#include "system/logging.h"

// The opaque service handle of abi.h, completed: what the host knows of one
// service while its plugin instance lives.
struct plughost_service {
    std::string name;
    std::string plugin;
    std::size_t maxLine = 0;
    std::size_t maxQueue = 0;
    std::int32_t framing = PLUGHOST_FRAMING_RAW;
    Poco::Logger* log = nullptr;
    // Set only while create() runs: settings exist for the factory alone.
    plughost::context::SettingsView* settings = nullptr;
    std::shared_ptr<plughost::plugins::Counters> counters;  // where service_count adds; may be null
};

namespace plughost::plugins {

namespace {

thread_local std::string reported;  // report_error() of the callback running on this thread

plughost_service& serviceOf(plughost_service* service) { return *service; }
SessionPort& sessionOf(plughost_session* session) { return *static_cast<SessionPort*>(session); }
std::string_view text(const char* data, std::size_t length) {
    return {data == nullptr ? "" : data, data == nullptr ? 0 : length};
}

// ---- the host's table: each entry checks what it can and never throws ------

void serviceName(plughost_service* service, const char** name, std::size_t* length) {
    *name = serviceOf(service).name.data();
    *length = serviceOf(service).name.size();
}

std::size_t serviceMaxLine(plughost_service* service) { return serviceOf(service).maxLine; }
std::size_t serviceMaxQueue(plughost_service* service) { return serviceOf(service).maxQueue; }

std::int32_t serviceSetFraming(plughost_service* service, std::int32_t framing) {
    if (serviceOf(service).settings == nullptr) {
        return PLUGHOST_ESTATE;
    }
    if (framing != PLUGHOST_FRAMING_RAW && framing != PLUGHOST_FRAMING_LINES) {
        return PLUGHOST_EINVAL;
    }
    serviceOf(service).framing = framing;
    return PLUGHOST_OK;
}

void hostLog(plughost_service* service, std::int32_t level, const char* message, std::size_t length) {
    const Poco::Message::Priority priority = level <= PLUGHOST_LOG_DEBUG     ? Poco::Message::PRIO_DEBUG
                                             : level == PLUGHOST_LOG_INFO    ? Poco::Message::PRIO_INFORMATION
                                             : level == PLUGHOST_LOG_WARNING ? Poco::Message::PRIO_WARNING
                                                                             : Poco::Message::PRIO_ERROR;
    Poco::Logger& logger = *serviceOf(service).log;
    if (!logger.is(priority)) {
        return;
    }
    try {  // about() does not throw either: a failing log channel must not unwind into the plugin
        const plughost_service& handle = serviceOf(service);
        logging::about(logger, priority, handle.name, handle.plugin,
                       handle.name + " " + context::escapeControl(text(message, length)));
    } catch (...) {
    }
}

void reportError(plughost_service*, const char* message, std::size_t length) {
    try {
        reported.assign(text(message, length));
    } catch (...) {
    }
}

// Runs a settings getter, or says ESTATE when create() is not running.
template <class Body>
std::int32_t withSettings(plughost_service* service, Body&& body) {
    context::SettingsView* settings = serviceOf(service).settings;
    if (settings == nullptr) {
        return PLUGHOST_ESTATE;
    }
    try {
        return body(*settings);
    } catch (...) {
        return PLUGHOST_EINVAL;
    }
}

std::int32_t settingHas(plughost_service* service, const char* key, std::size_t keyLength) {
    return withSettings(
        service, [&](context::SettingsView& settings) { return settings.has(text(key, keyLength)) ? 1 : 0; });
}

std::int32_t settingString(plughost_service* service, const char* key, std::size_t keyLength,
                           const char** value, std::size_t* valueLength) {
    return withSettings(service, [&](context::SettingsView& settings) {
        const std::string* found = nullptr;
        const std::int32_t result = settings.getString(text(key, keyLength), found);
        if (result == PLUGHOST_OK) {
            *value = found->data();
            *valueLength = found->size();
        }
        return result;
    });
}

std::int32_t settingInt(plughost_service* service, const char* key, std::size_t keyLength, std::int64_t min,
                        std::int64_t max, std::int64_t* value) {
    return withSettings(service, [&](context::SettingsView& settings) {
        return settings.getInt(text(key, keyLength), min, max, *value);
    });
}

std::int32_t settingDouble(plughost_service* service, const char* key, std::size_t keyLength, double* value) {
    return withSettings(service, [&](context::SettingsView& settings) {
        return settings.getDouble(text(key, keyLength), *value);
    });
}

std::int32_t settingBool(plughost_service* service, const char* key, std::size_t keyLength,
                         std::int32_t* value) {
    return withSettings(service, [&](context::SettingsView& settings) {
        bool flag = false;
        const std::int32_t result = settings.getBool(text(key, keyLength), flag);
        if (result == PLUGHOST_OK) {
            *value = flag ? 1 : 0;
        }
        return result;
    });
}

std::int32_t settingListSize(plughost_service* service, const char* key, std::size_t keyLength,
                             std::size_t* count) {
    return withSettings(service, [&](context::SettingsView& settings) {
        const std::vector<std::string>* items = nullptr;
        const std::int32_t result = settings.getList(text(key, keyLength), items);
        if (result == PLUGHOST_OK) {
            *count = items->size();
        }
        return result;
    });
}

std::int32_t settingListItem(plughost_service* service, const char* key, std::size_t keyLength,
                             std::size_t index, const char** value, std::size_t* valueLength) {
    return withSettings(service, [&](context::SettingsView& settings) {
        const std::vector<std::string>* items = nullptr;
        std::int32_t result = settings.getList(text(key, keyLength), items);
        if (result == PLUGHOST_OK) {
            if (index >= items->size()) {
                return PLUGHOST_ABSENT;
            }
            *value = (*items)[index].data();
            *valueLength = (*items)[index].size();
        }
        return result;
    });
}

std::int32_t settingReject(plughost_service* service, const char* key, std::size_t keyLength, const char* why,
                           std::size_t whyLength) {
    return withSettings(service, [&](context::SettingsView& settings) {
        settings.reject(text(key, keyLength), std::string(text(why, whyLength)));
        return PLUGHOST_EINVAL;
    });
}

std::uint64_t sessionId(plughost_session* session) { return sessionOf(session).id(); }

void sessionPeer(plughost_session* session, const char** peer, std::size_t* length) {
    const std::string& address = sessionOf(session).peer();
    *peer = address.data();
    *length = address.size();
}

std::int32_t sessionSend(plughost_session* session, const char* data, std::size_t length) {
    try {
        return sessionOf(session).send(text(data, length)) ? PLUGHOST_OK : PLUGHOST_ECLOSED;
    } catch (...) {  // out of memory for the queue: the bytes were not queued
        return PLUGHOST_EFAILED;
    }
}

void sessionClose(plughost_session* session) { sessionOf(session).close(); }
void sessionRetain(plughost_session* session) { sessionOf(session).retain(); }
void sessionRelease(plughost_session* session) { sessionOf(session).release(); }
std::size_t sessionQueued(plughost_session* session) { return sessionOf(session).queued(); }
void sessionConnection(plughost_session* session, plughost_connection* out) {
    if (out == nullptr || out->size < offsetof(plughost_connection, transport) + sizeof(out->transport)) {
        return;
    }
    plughost_connection info{};
    info.size = out->size;
    info.transport = PLUGHOST_TRANSPORT_TCP;
    sessionOf(session).connection(info);
    // Only the fields both sides know of: a plugin built against an older header has a shorter struct.
    std::memcpy(out, &info, std::min(out->size, sizeof info));
    out->size = std::min(out->size, sizeof info);
}

void serviceCount(plughost_service* service, const char* name, std::size_t length, std::int64_t delta) {
    if (serviceOf(service).counters) {
        try {
            serviceOf(service).counters->add(text(name, length), delta);
        } catch (...) {  // out of memory for a new name: the count is lost, the plugin goes on
        }
    }
}

const plughost_host_api kHostApi = {
    sizeof(plughost_host_api),
    serviceName,
    serviceMaxLine,
    serviceSetFraming,
    hostLog,
    reportError,
    settingHas,
    settingString,
    settingInt,
    settingDouble,
    settingBool,
    settingListSize,
    settingListItem,
    settingReject,
    sessionId,
    sessionPeer,
    sessionSend,
    sessionClose,
    sessionRetain,
    sessionRelease,
    sessionQueued,
    sessionConnection,
    serviceCount,
    serviceMaxQueue,
};

}  // namespace

void Counters::add(std::string_view name, std::int64_t delta) {
    if (delta < 0 || name.empty() || name.size() > 64 ||
        name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") != std::string_view::npos) {
        return;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    const auto found = values_.find(name);
    if (found != values_.end()) {
        found->second += static_cast<std::uint64_t>(delta);
    } else {
        values_.emplace(std::string(name), static_cast<std::uint64_t>(delta));
    }
}

std::map<std::string, std::uint64_t> Counters::snapshot() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return {values_.begin(), values_.end()};
}

std::unique_ptr<Instance> Instance::create(std::shared_ptr<Library> library,
                                           const config::ServiceConfig& config,
                                           std::vector<config::Problem>& problems,
                                           std::shared_ptr<Counters> counters) {
    const std::string path = "services." + config.name;
    std::unique_ptr<Instance> instance(new Instance());  // private constructor
    instance->library_ = std::move(library);
    instance->api_ = instance->library_->api();
    instance->handle_ = std::make_unique<plughost_service>();
    plughost_service& handle = *instance->handle_;
    handle.name = config.name;
    handle.plugin = config.plugin;
    handle.maxLine = config.limits.maxLine;
    handle.maxQueue = config.limits.maxQueue;
    handle.log = &Poco::Logger::get("plughost");
    handle.counters = std::move(counters);

    context::SettingsView settings(config.settings);
    handle.settings = &settings;
    reported.clear();
    const std::int32_t result =
        instance->api_.create(&kHostApi, instance->handle_.get(), &instance->instance_);
    instance->created_ = result == PLUGHOST_OK;
    handle.settings = nullptr;

    const std::size_t before = problems.size();
    for (const auto& rejection : settings.rejections()) {
        problems.push_back({config::positionOf(settings.locate(rejection.key), config.at.file),
                            path + ".settings." + rejection.key, rejection.message});
    }
    if (result == PLUGHOST_OK) {
        for (const auto& key : settings.unreadKeys()) {
            problems.push_back({config::positionOf(settings.keyNode(key), config.at.file),
                                path + ".settings." + key, "unknown setting for plugin " + config.plugin});
        }
    } else if (problems.size() == before) {
        problems.push_back(
            {config.at, path,
             "plugin " + config.plugin + " refused to start" + (reported.empty() ? "" : ": " + reported)});
    }
    if (problems.size() != before) {
        return nullptr;  // its destructor calls destroy() when create() succeeded
    }
    return instance;
}

Instance::~Instance() {
    if (created_) {
        api_.destroy(instance_);
    }
}

plughost::Framing Instance::framing() const { return static_cast<plughost::Framing>(handle_->framing); }

std::string Instance::failure() { return reported.empty() ? "it failed without saying why" : reported; }

bool Instance::open(SessionPort& session, void*& data) {
    reported.clear();
    return api_.on_open == nullptr || api_.on_open(instance_, &session, &data) == PLUGHOST_OK;
}

bool Instance::data(SessionPort& session, void* data, std::string_view bytes) {
    reported.clear();
    return api_.on_data(instance_, &session, data, bytes.data(), bytes.size()) == PLUGHOST_OK;
}

bool Instance::lineTooLong(SessionPort& session, void* data, std::size_t maxLine) {
    reported.clear();
    return api_.on_line_too_long == nullptr ||
           api_.on_line_too_long(instance_, &session, data, maxLine) == PLUGHOST_OK;
}

bool Instance::close(SessionPort& session, void* data, plughost::CloseReason reason) {
    reported.clear();
    if (api_.on_close != nullptr) {
        api_.on_close(instance_, &session, data, static_cast<std::int32_t>(reason));
    }
    return reported.empty();
}

bool Instance::stopping() {
    reported.clear();
    if (api_.on_stopping != nullptr) {
        api_.on_stopping(instance_);
    }
    return reported.empty();
}

}  // namespace plughost::plugins
