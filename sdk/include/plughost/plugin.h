#pragma once
// The one header a C++ plugin includes: the export macro and the code that
// turns the C ABI (abi.h) into the C++ classes of this SDK.
//
//   class Echo : public plughost::Service {
//       void onData(plughost::Session& s, std::string_view data) override { s.send(data); }
//   };
//   PLUGHOST_PLUGIN(Echo, "echo", "1.0.0", "RFC 862 echo")
//
// Everything here is compiled into the plugin, with the plugin's own compiler
// and standard library; only abi.h's C types cross into the host. Every
// exception is caught here, before it could reach the host.

#if !defined(__cplusplus) || __cplusplus < 201703L
#error "the plughost C++ SDK needs C++17; C plugins include <plughost/abi.h> only"
#endif

#include <plughost/abi.h>
#include <plughost/context.h>
#include <plughost/service.h>
#include <plughost/session.h>

#include <cstring>
#include <exception>
#include <memory>
#include <type_traits>

namespace plughost {

// Builds CLASS from the context if it has such a constructor, else by default.
template <class ServiceClass>
std::unique_ptr<Service> createService(ServiceContext& context) {
    static_assert(std::is_base_of_v<Service, ServiceClass>,
                  "a plugin's class derives from plughost::Service");
    if constexpr (std::is_constructible_v<ServiceClass, ServiceContext&>) {
        return std::make_unique<ServiceClass>(context);
    } else {
        (void)context;
        return std::make_unique<ServiceClass>();
    }
}

namespace detail {

// What the host's `void* instance` points to: the context outlives the service.
struct Instance {
    Instance(const plughost_host_api* host, plughost_service* handle) : context(host, handle) {}
    ServiceContext context;
    std::unique_ptr<Service> service;
};

// What a session's `void* session_data` points to.
using SessionBox = std::shared_ptr<Session>;

inline void report(const Instance& instance, const char* what) {
    instance.context.host()->report_error(instance.context.service(), what, std::strlen(what));
}

// Runs plugin code; an exception becomes PLUGHOST_EFAILED with its text reported.
template <class Body>
std::int32_t guarded(const Instance& instance, Body&& body) noexcept {
    try {
        body();
        return PLUGHOST_OK;
    } catch (const std::exception& error) {
        report(instance, error.what());
    } catch (...) {
        report(instance, "an exception that is not a std::exception");
    }
    return PLUGHOST_EFAILED;
}

template <class ServiceClass>
std::int32_t create(const plughost_host_api* host, plughost_service* handle, void** out) noexcept {
    try {
        auto instance = std::make_unique<Instance>(host, handle);
        instance->service = createService<ServiceClass>(instance->context);
        if (!instance->service) {
            report(*instance, "the factory returned no service");
            return PLUGHOST_EFAILED;
        }
        host->service_set_framing(handle, static_cast<std::int32_t>(instance->service->framing()));
        *out = instance.release();  // the host hands it back to destroy()
        return PLUGHOST_OK;
    } catch (const SettingError& error) {
        if (!error.recorded()) {
            host->setting_reject(handle, error.key().data(), error.key().size(), error.what(),
                                 std::strlen(error.what()));
        }
        return PLUGHOST_EINVAL;
    } catch (const std::exception& error) {
        host->report_error(handle, error.what(), std::strlen(error.what()));
    } catch (...) {
        static const char what[] = "an exception that is not a std::exception";
        host->report_error(handle, what, sizeof what - 1);
    }
    return PLUGHOST_EFAILED;
}

inline void destroy(void* instance) noexcept {
    std::unique_ptr<Instance> owned(static_cast<Instance*>(instance));
    try {
        owned->service.reset();
    } catch (...) {  // a throwing destructor must not reach the host
    }
}

inline std::int32_t onOpen(void* raw, plughost_session* handle, void** data) noexcept {
    auto& instance = *static_cast<Instance*>(raw);
    return guarded(instance, [&] {
        auto box = std::make_unique<SessionBox>(SessionAccess::make(instance.context.host(), handle));
        Session& session = **box;
        *data = box.release();  // freed in onClose, which follows even if onOpen throws
        instance.service->onOpen(session);
    });
}

inline std::int32_t onData(void* raw, plughost_session*, void* data, const char* bytes,
                           std::size_t length) noexcept {
    auto& instance = *static_cast<Instance*>(raw);
    return guarded(instance, [&] {
        instance.service->onData(**static_cast<SessionBox*>(data), {bytes, length});
    });
}

inline std::int32_t onLineTooLong(void* raw, plughost_session*, void* data, std::size_t maxLine) noexcept {
    auto& instance = *static_cast<Instance*>(raw);
    return guarded(instance,
                   [&] { instance.service->onLineTooLong(**static_cast<SessionBox*>(data), maxLine); });
}

inline void onClose(void* raw, plughost_session*, void* data, std::int32_t reason) noexcept {
    auto& instance = *static_cast<Instance*>(raw);
    std::unique_ptr<SessionBox> box(static_cast<SessionBox*>(data));
    if (box) {
        guarded(instance, [&] { instance.service->onClose(**box, static_cast<CloseReason>(reason)); });
    }
}

inline void onStopping(void* raw) noexcept {
    auto& instance = *static_cast<Instance*>(raw);
    guarded(instance, [&] { instance.service->onStopping(); });
}

// Constant-initialized: the host reads the table without running plugin code.
template <class ServiceClass>
constexpr plughost_plugin_api table(const char* name, const char* version, const char* description) {
    return plughost_plugin_api{sizeof(plughost_plugin_api),
                               name,
                               version,
                               description,
                               &create<ServiceClass>,
                               &destroy,
                               &onOpen,
                               &onData,
                               &onLineTooLong,
                               &onClose,
                               &onStopping};
}

}  // namespace detail
}  // namespace plughost

// Exports the plugin: the ABI version and the table, as the two data symbols
// abi.h describes. CLASS derives from plughost::Service; its constructor may
// take (plughost::ServiceContext&) and may throw to refuse its settings.
#define PLUGHOST_PLUGIN(CLASS, NAME, VERSION, DESCRIPTION)                                     \
    extern "C" PLUGHOST_EXPORT const plughost_abi_version plughost_abi = {PLUGHOST_ABI_MAJOR,  \
                                                                          PLUGHOST_ABI_MINOR}; \
    extern "C" PLUGHOST_EXPORT const plughost_plugin_api plughost_plugin =                     \
        ::plughost::detail::table<CLASS>(NAME, VERSION, DESCRIPTION);
