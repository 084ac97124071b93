/* A plugin written in C11 against <plughost/abi.h> alone: no C++ runtime.
 * Built twice: against this tree's header (abi_probe_c.so, ABI 2.3) and
 * against the frozen 2.0 header in tests/host/abi-2.0 (abi_probe_v20.so), as
 * a plugin built with an older SDK would be. The protocol, one line each:
 *   log TEXT    logs "TAG says TEXT" and answers "logged"
 *   later TEXT  answers "later: TEXT" from another thread, which then closes the session
 *   queued      answers "queued N" (2.1) or "queued n/a" (2.0)
 *   transport   answers "transport N" (2.2: session_connection) or "transport n/a"
 *   peer        answers "peer ADDRESS"
 *   list        answers the `items` setting joined by ','
 *   fail        reports an error and fails the callback (the host closes this session)
 *   else        answers "TAG: LINE", `repeat` times
 * On open it sends the `greeting` setting (which the tests make long) and a newline. */
#include <plughost/abi.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef PROBE_NAME
#define PROBE_NAME "abi_probe_c"
#endif

#define MAX_LATER 64

typedef struct probe {
    const plughost_host_api* host;
    plughost_service* service;
    char* greeting;
    size_t greeting_length;
    char tag[64];
    int64_t repeat;
    char items[256];
    pthread_mutex_t mutex;
    pthread_t threads[MAX_LATER];
    int thread_count;
} probe;

typedef struct later_job {
    probe* owner;
    plughost_session* session; /* retained until the job is done */
    char text[256];
} later_job;

static int32_t setting_error(int32_t result) { return result == PLUGHOST_ABSENT ? PLUGHOST_OK : result; }

/* When PLUGHOST_PROBE_MARKER names a file, create() writes the user it runs as there. */
static void leave_marker(void) {
    const char* marker = getenv("PLUGHOST_PROBE_MARKER");
    if (marker != NULL) {
        FILE* out = fopen(marker, "a");
        if (out != NULL) {
            fprintf(out, "create uid=%d\n", (int)geteuid());
            fclose(out);
        }
    }
}

static int32_t probe_create(const plughost_host_api* host, plughost_service* service, void** instance) {
    probe* self = calloc(1, sizeof *self);
    const char* value = NULL;
    size_t length = 0;
    int32_t result;
    size_t count = 0;
    size_t i;
    if (self == NULL) {
        return PLUGHOST_EFAILED;
    }
    leave_marker();
    self->host = host;
    self->service = service;
    self->repeat = 1;
    pthread_mutex_init(&self->mutex, NULL);
    snprintf(self->tag, sizeof self->tag, "%s", PROBE_NAME);

    result = host->setting_string(service, "greeting", 8, &value, &length);
    if (result == PLUGHOST_OK) {
        self->greeting = malloc(length + 1);
        if (self->greeting == NULL) {
            result = PLUGHOST_EFAILED;
        } else {
            memcpy(self->greeting, value, length);
            self->greeting_length = length;
        }
    }
    if (setting_error(result) == PLUGHOST_OK &&
        host->setting_string(service, "tag", 3, &value, &length) == PLUGHOST_OK) {
        if (length == 0 || length >= sizeof self->tag) {
            result = host->setting_reject(service, "tag", 3, "must be 1-63 bytes", 18);
        } else {
            memcpy(self->tag, value, length);
            self->tag[length] = '\0';
        }
    }
    if (setting_error(result) == PLUGHOST_OK) {
        result = host->setting_int(service, "repeat", 6, 1, 5, &self->repeat);
    }
    if (setting_error(result) == PLUGHOST_OK) {
        result = host->setting_list_size(service, "items", 5, &count);
        for (i = 0; result == PLUGHOST_OK && i < count; ++i) {
            result = host->setting_list_item(service, "items", 5, i, &value, &length);
            if (result == PLUGHOST_OK && strlen(self->items) + length + 2 < sizeof self->items) {
                if (i > 0) {
                    strcat(self->items, ",");
                }
                strncat(self->items, value, length);
            }
        }
    }
    result = setting_error(result);
    if (result != PLUGHOST_OK) {
        free(self->greeting);
        pthread_mutex_destroy(&self->mutex);
        free(self);
        return result;
    }
    host->service_set_framing(service, PLUGHOST_FRAMING_LINES);
    *instance = self;
    return PLUGHOST_OK;
}

static void probe_destroy(void* instance) {
    probe* self = instance;
    int i;
    for (i = 0; i < self->thread_count; ++i) {
        pthread_join(self->threads[i], NULL);
    }
    pthread_mutex_destroy(&self->mutex);
    free(self->greeting);
    free(self);
}

static void reply(probe* self, plughost_session* session, const char* text) {
    char line[512];
    int length = snprintf(line, sizeof line, "%s\n", text);
    (void)self;
    self->host->session_send(session, line, (size_t)length);
}

static void* run_later(void* argument) {
    later_job* job = argument;
    const plughost_host_api* host = job->owner->host;
    char line[300];
    int length = snprintf(line, sizeof line, "later: %s\n", job->text);
    host->session_send(job->session, line, (size_t)length);
    host->session_close(job->session);
    host->session_release(job->session);
    free(job);
    return NULL;
}

static int32_t probe_open(void* instance, plughost_session* session, void** session_data) {
    probe* self = instance;
    (void)session_data;
    if (self->greeting != NULL) {
        self->host->session_send(session, self->greeting, self->greeting_length);
        self->host->session_send(session, "\n", 1);
    }
    return PLUGHOST_OK;
}

static int32_t probe_data(void* instance, plughost_session* session, void* session_data, const char* data,
                          size_t length) {
    probe* self = instance;
    char text[256];
    char line[512];
    int64_t i;
    (void)session_data;
    snprintf(text, sizeof text, "%.*s", (int)(length < 255 ? length : 255), data);
    if (strncmp(text, "log ", 4) == 0) {
        snprintf(line, sizeof line, "%s says %s", self->tag, text + 4);
        self->host->log(self->service, PLUGHOST_LOG_INFO, line, strlen(line));
        reply(self, session, "logged");
    } else if (strncmp(text, "later ", 6) == 0) {
        later_job* job = calloc(1, sizeof *job);
        int started = 0;
        if (job == NULL) {
            return PLUGHOST_EFAILED;
        }
        job->owner = self;
        job->session = session;
        snprintf(job->text, sizeof job->text, "%s", text + 6);
        self->host->session_retain(session);
        pthread_mutex_lock(&self->mutex);
        if (self->thread_count < MAX_LATER &&
            pthread_create(&self->threads[self->thread_count], NULL, run_later, job) == 0) {
            ++self->thread_count;
            started = 1;
        }
        pthread_mutex_unlock(&self->mutex);
        if (!started) {
            self->host->session_release(session);
            free(job);
            self->host->report_error(self->service, "cannot start a thread", 21);
            return PLUGHOST_EFAILED;
        }
    } else if (strcmp(text, "queued") == 0) {
#if PLUGHOST_ABI_MINOR >= 1
        snprintf(line, sizeof line, "queued %zu", self->host->session_queued(session));
#else
        snprintf(line, sizeof line, "queued n/a");
#endif
        reply(self, session, line);
    } else if (strcmp(text, "transport") == 0) {
#if PLUGHOST_ABI_MINOR >= 2
        plughost_connection connection;
        memset(&connection, 0, sizeof connection);
        connection.size = sizeof connection;
        connection.transport = -1;
        self->host->session_connection(session, &connection);
        snprintf(line, sizeof line, "transport %d", (int)connection.transport);
#else
        snprintf(line, sizeof line, "transport n/a");
#endif
        reply(self, session, line);
    } else if (strcmp(text, "peer") == 0) {
        const char* peer = NULL;
        size_t peer_length = 0;
        self->host->session_peer(session, &peer, &peer_length);
        snprintf(line, sizeof line, "peer %.*s", (int)peer_length, peer);
        reply(self, session, line);
    } else if (strcmp(text, "list") == 0) {
        reply(self, session, self->items);
    } else if (strcmp(text, "fail") == 0) {
        self->host->report_error(self->service, "failed on purpose", 17);
        return PLUGHOST_EFAILED;
    } else {
        for (i = 0; i < self->repeat; ++i) {
            snprintf(line, sizeof line, "%s: %s", self->tag, text);
            reply(self, session, line);
        }
    }
    return PLUGHOST_OK;
}

#if PLUGHOST_ABI_MINOR >= 1
static void probe_stopping(void* instance) {
    probe* self = instance;
    char line[128];
    snprintf(line, sizeof line, "%s stopping", self->tag);
    self->host->log(self->service, PLUGHOST_LOG_INFO, line, strlen(line));
}
#endif

PLUGHOST_EXPORT const plughost_abi_version plughost_abi = {PLUGHOST_ABI_MAJOR, PLUGHOST_ABI_MINOR};
PLUGHOST_EXPORT const plughost_plugin_api plughost_plugin = {
    sizeof(plughost_plugin_api),
    PROBE_NAME,
    "1.0.0",
    "the C ABI probe, written in C",
    probe_create,
    probe_destroy,
    probe_open,
    probe_data,
    NULL,
    NULL,
#if PLUGHOST_ABI_MINOR >= 1
    probe_stopping,
#endif
};
