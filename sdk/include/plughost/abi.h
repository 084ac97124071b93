/*
 * plughost/abi.h — the whole binary contract between plughostd and a plugin.
 *
 * Plain C (C11, and valid C++17): no C++ type, no exception and no allocation
 * crosses it, so a plugin may be written in C, or in C++ against any standard
 * library (libstdc++ in either string ABI, libc++), or in any language that
 * can export C symbols. The C++ SDK (plughost/plugin.h) is header-only code
 * on top of this file, compiled into the plugin.
 *
 * A plugin exports two data symbols, nothing else is looked up:
 *
 *   const plughost_abi_version plughost_abi;     read first, before any plugin
 *                                                function is called
 *   const plughost_plugin_api  plughost_plugin;  name, version, callbacks
 *
 * Compatibility (SQLite's rule): a plugin built against ABI MAJOR.x loads in
 * every host MAJOR.y with y >= x. Both tables below only ever grow at the end,
 * and each begins with its own size, so the host never calls an entry a
 * plugin's table lacks, and a plugin never sees a host table shorter than
 * the one it was built for. A different major is refused at load, naming the
 * file and both versions.
 *
 * Conventions on every entry:
 * - Strings are a pointer and a length; they need not be NUL-terminated
 *   (except the three descriptive strings of plughost_plugin_api).
 * - A string passed as an argument is borrowed for the duration of the call;
 *   whoever receives it copies what it keeps.
 * - A string handed out through an out-parameter belongs to the host; each
 *   entry says how long it stays valid. The plugin never frees it.
 * - Results are int32_t codes (PLUGHOST_OK and the others below), never
 *   exceptions. A C++ plugin must not let an exception leave any callback.
 */
#ifndef PLUGHOST_ABI_H
#define PLUGHOST_ABI_H

#include <stddef.h>
#include <stdint.h>

/* The version of this header. History of the minors:
 *   2.0  the first C ABI (plughost 0.2 development builds)
 *   2.1  + plughost_plugin_api.on_stopping, plughost_host_api.session_queued
 *   2.2  + plughost_host_api.session_connection (transport, TLS version, cipher,
 *          verified client certificate, server name)
 *   2.3  + plughost_host_api.service_count (a plugin's own counters in status
 *          and metrics), plughost_host_api.service_max_queue;
 *          plughost_connection.websocket, websocket_path, websocket_subprotocol,
 *          origin (a session that arrived as a WebSocket upgrade)
 * (Major 1 was the C++-only descriptor of plughost 0.1, which the host
 * recognises and refuses with a request to rebuild.) */
#define PLUGHOST_ABI_MAJOR 2
#define PLUGHOST_ABI_MINOR 3

#if defined(__GNUC__)
#define PLUGHOST_EXPORT __attribute__((visibility("default")))
#else
#define PLUGHOST_EXPORT
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Result codes. */
#define PLUGHOST_OK 0
#define PLUGHOST_ABSENT 1     /* a setting that is not in the YAML (not an error) */
#define PLUGHOST_EINVAL (-1)  /* a setting is unusable; the host has recorded why */
#define PLUGHOST_ECLOSED (-2) /* the session is closed (or closing); nothing was queued */
#define PLUGHOST_EFAILED (-3) /* a plugin callback failed (see report_error) */
#define PLUGHOST_ESTATE (-4)  /* the entry cannot be used now (e.g. settings after create) */

/* How the host cuts the byte stream before on_data. */
#define PLUGHOST_FRAMING_RAW 0 /* every chunk as it arrives from the client */
#define PLUGHOST_FRAMING_LINES                                           \
    1 /* one line at a time without "\n" (and without a "\r" before it); \
         a line longer than max_line goes to on_line_too_long instead */

/* Log levels. */
#define PLUGHOST_LOG_DEBUG 0
#define PLUGHOST_LOG_INFO 1
#define PLUGHOST_LOG_WARNING 2
#define PLUGHOST_LOG_ERROR 3

/* Why a session ended (on_close). */
#define PLUGHOST_CLOSE_PEER_CLOSED 0  /* the client closed its side */
#define PLUGHOST_CLOSE_RESET 1        /* the connection was reset or failed */
#define PLUGHOST_CLOSE_IDLE_TIMEOUT 2 /* no traffic either way for idle_timeout */
#define PLUGHOST_CLOSE_TOO_SLOW \
    3                           /* the client stopped reading: max_queue overflowed or send_timeout passed */
#define PLUGHOST_CLOSE_CLOSED 4 /* the plugin called session_close */
#define PLUGHOST_CLOSE_SHUTDOWN 5 /* the host is stopping */
#define PLUGHOST_CLOSE_RELOAD 6   /* a reload removed, disabled or restarted the service */
/* 7 is not used */
#define PLUGHOST_CLOSE_ERROR 8 /* a plugin callback failed */

/* Opaque handles; only the host knows what is behind them. */
typedef struct plughost_service plughost_service;       /* the host's side of one configured service */
typedef struct plughost_session plughost_session;       /* one client connection */
typedef struct plughost_connection plughost_connection; /* a session's transport, below (2.2) */

typedef struct plughost_abi_version {
    uint32_t major;
    uint32_t minor;
} plughost_abi_version;

/* Host -> plugin: what the host offers. One table for the whole process,
 * valid for as long as the plugin is loaded; handed to create(). */
typedef struct plughost_host_api {
    /* sizeof(plughost_host_api) in the host's build: entries beyond it do not exist. */
    size_t size;

    /* --- the service; valid from create() until destroy() returns --------- */

    /* The service's name from YAML. Host-owned, valid until destroy() returns. Any thread. */
    void (*service_name)(plughost_service* service, const char** name, size_t* length);
    /* The longest line a FRAMING_LINES service is handed (max_line). Any thread. */
    size_t (*service_max_line)(plughost_service* service);
    /* Chooses the framing (default RAW). During create() only; ESTATE later. */
    int32_t (*service_set_framing)(plughost_service* service, int32_t framing);
    /* Writes one line to the host's log, prefixed with the service's name, with
     * control bytes escaped. Copied. Any thread, until destroy() returns. */
    void (*log)(plughost_service* service, int32_t level, const char* message, size_t length);
    /* Says why the callback about to return PLUGHOST_EFAILED (or create() about to
     * fail) failed; the host logs it with service, plugin and callback. Copied.
     * From inside that callback, on its thread. */
    void (*report_error)(plughost_service* service, const char* message, size_t length);

    /* --- settings: the service's `settings:` map; during create() only ---- */
    /* Keys the plugin never asks about are reported to the operator as unknown
     * settings, so a typo cannot pass. A wrong value makes the getter return
     * PLUGHOST_EINVAL after the host recorded the problem (file:line:column,
     * key path and message); create() should then return PLUGHOST_EINVAL.
     * Absent keys return PLUGHOST_ABSENT and leave *value untouched.
     * Every string handed out is host-owned and valid until create() returns. */

    /* 1 if the key is present, else 0. */
    int32_t (*setting_has)(plughost_service* service, const char* key, size_t key_length);
    /* A scalar, as text. */
    int32_t (*setting_string)(plughost_service* service, const char* key, size_t key_length,
                              const char** value, size_t* value_length);
    /* A whole number within [min, max]. */
    int32_t (*setting_int)(plughost_service* service, const char* key, size_t key_length, int64_t min,
                           int64_t max, int64_t* value);
    int32_t (*setting_double)(plughost_service* service, const char* key, size_t key_length, double* value);
    /* *value becomes 1 or 0. */
    int32_t (*setting_bool)(plughost_service* service, const char* key, size_t key_length, int32_t* value);
    /* A list of scalars (a single scalar counts as a list of one). */
    int32_t (*setting_list_size)(plughost_service* service, const char* key, size_t key_length,
                                 size_t* count);
    int32_t (*setting_list_item)(plughost_service* service, const char* key, size_t key_length, size_t index,
                                 const char** value, size_t* value_length);
    /* Refuses a value the plugin read but cannot use: records `why` at the key's
     * position. Returns PLUGHOST_EINVAL, for create() to return. */
    int32_t (*setting_reject)(plughost_service* service, const char* key, size_t key_length, const char* why,
                              size_t why_length);

    /* --- sessions --------------------------------------------------------- */
    /* A session handle passed to a callback is valid during that callback. To
     * use it later (from any thread), session_retain() it during a callback and
     * session_release() it when done; a retained handle stays valid after the
     * connection closed, when send and close do nothing. Every entry below is
     * safe from any thread and never blocks. */

    /* Unique within the host's lifetime. */
    uint64_t (*session_id)(plughost_session* session);
    /* "127.0.0.1:51234" or "[::1]:51234". Host-owned, valid as long as the handle is. */
    void (*session_peer)(plughost_session* session, const char** peer, size_t* length);
    /* Queues a copy of the bytes for the client, in call order. PLUGHOST_ECLOSED once
     * the session closes or is closing. A client that stops reading is closed as
     * too slow instead of blocking anyone. */
    int32_t (*session_send)(plughost_session* session, const char* data, size_t length);
    /* Closes the session once what is queued has been sent; later sends fail. */
    void (*session_close)(plughost_session* session);
    void (*session_retain)(plughost_session* session);
    void (*session_release)(plughost_session* session);

    /* --- 2.1 -------------------------------------------------------------- */

    /* Bytes queued for the client and not yet taken by the kernel. */
    size_t (*session_queued)(plughost_session* session);

    /* --- 2.2 -------------------------------------------------------------- */

    /* What the session's connection is (see plughost_connection). The plugin
     * sets out->size = sizeof(plughost_connection) first; the host fills the
     * fields that both know of and leaves the rest as they were. */
    void (*session_connection)(plughost_session* session, plughost_connection* out);

    /* --- 2.3 -------------------------------------------------------------- */

    /* Adds `delta` to the service's counter `name` (created at 0 on first use),
     * shown by `plughostctl status` (--json: "counters") and in the metrics as
     * plughost_plugin_events_total{service,plugin,name}. Names are 1-64 of
     * [a-z0-9_]; others are ignored. Counters only grow: a negative delta is
     * ignored. Any thread, until destroy() returns; cheap (one short lock). */
    void (*service_count)(plughost_service* service, const char* name, size_t length, int64_t delta);
    /* The service's max_queue: bytes a session may have queued (session_queued)
     * before it is closed as too slow. Any thread. */
    size_t (*service_max_queue)(plughost_service* service);
} plughost_host_api;

/* How a client reached a service. */
#define PLUGHOST_TRANSPORT_TCP 0
#define PLUGHOST_TRANSPORT_TLS 1 /* TCP with TLS, terminated by the host */
#define PLUGHOST_TRANSPORT_UDP 2

/* A read-only view of a session's connection (2.2). Strings are host-owned and
 * valid as long as the session handle is; the ones that do not apply have
 * length 0. */
struct plughost_connection {
    size_t size; /* set by the plugin: sizeof(plughost_connection) as it was built */
    int32_t transport;
    const char* tls_version; /* "TLSv1.3" */
    size_t tls_version_length;
    const char* tls_cipher; /* "TLS_AES_256_GCM_SHA384" */
    size_t tls_cipher_length;
    /* The subject of the client certificate the host verified (client_ca), as
     * RFC 2253 text: "CN=alice,O=Example". Empty without one. */
    const char* peer_subject;
    size_t peer_subject_length;
    const char* server_name; /* what the client asked for by SNI */
    size_t server_name_length;
    /* --- 2.3 --- A WebSocket session (a `websocket:` listen entry, over TCP or
     * TLS: transport says which): websocket is 1, and the upgrade request's
     * path ("/chat?room=x"), the subprotocol the host chose ("text.ircv3.net",
     * or empty) and the Origin header (empty without one). 0 otherwise. */
    int32_t websocket;
    const char* websocket_path;
    size_t websocket_path_length;
    const char* websocket_subprotocol;
    size_t websocket_subprotocol_length;
    const char* origin;
    size_t origin_length;
};

/* Plugin -> host: the plugin's exported table (the data symbol plughost_plugin).
 *
 * Thread contract: the callbacks of one session run on that session's I/O
 * thread, never concurrently with each other; callbacks of different sessions
 * may run concurrently on different threads. Callbacks must not block: other
 * sessions share the thread. A callback returning PLUGHOST_EFAILED closes that
 * session only (reason PLUGHOST_CLOSE_ERROR); on_close still follows. */
typedef struct plughost_plugin_api {
    /* sizeof(plughost_plugin_api) in the plugin's build. */
    size_t size;
    /* NUL-terminated, static. name: what `plugin:` in YAML refers to (1-64 of
     * letters, digits, '_', '-', '.'); version: the plugin's own ("1.2.0");
     * description: one line for `plughostctl plugins`. */
    const char* name;
    const char* version;
    const char* description;

    /* Creates one service instance from its settings; *instance is passed back to
     * every other callback. Returns PLUGHOST_OK, PLUGHOST_EINVAL (a setting was
     * refused) or PLUGHOST_EFAILED (after report_error). `host` stays valid while
     * the plugin is loaded; `service` until destroy() returns. Required. */
    int32_t (*create)(const plughost_host_api* host, plughost_service* service, void** instance);
    /* Called once, after every session's on_close returned and no callback runs
     * any more. Joins whatever threads the plugin started. Required. */
    void (*destroy)(void* instance);

    /* A client connected. *session_data (NULL before) is the plugin's own
     * per-session pointer, passed back to this session's callbacks. May be NULL. */
    int32_t (*on_open)(void* instance, plughost_session* session, void** session_data);
    /* Bytes arrived: a chunk (RAW) or one line (LINES); borrowed for the call. Required. */
    int32_t (*on_data)(void* instance, plughost_session* session, void* session_data, const char* data,
                       size_t length);
    /* LINES only: a line grew past max_line and was discarded; the session goes on. May be NULL. */
    int32_t (*on_line_too_long)(void* instance, plughost_session* session, void* session_data,
                                size_t max_line);
    /* The session ended (reason: PLUGHOST_CLOSE_*); the last callback for it, also
     * after a failed on_open. Free session_data here. May be NULL. */
    void (*on_close)(void* instance, plughost_session* session, void* session_data, int32_t reason);

    /* --- 2.1 -------------------------------------------------------------- */

    /* The host begins to stop, or a reload drops this service: sessions are
     * closed after the drain. Once, from a host thread. May be NULL. */
    void (*on_stopping)(void* instance);
} plughost_plugin_api;

#ifdef __cplusplus
}
#endif

#endif /* PLUGHOST_ABI_H */
