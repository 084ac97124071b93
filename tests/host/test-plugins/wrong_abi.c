/* A plugin built against another ABI (WRONG_MAJOR.WRONG_MINOR): the host must
 * refuse it from its exported data alone. Every function here leaves a mark
 * in the file PLUGHOST_PROBE_MARKER names, so a test can tell that none ran. */
#include <plughost/abi.h>
#include <stdio.h>
#include <stdlib.h>

static void mark(const char* what) {
    const char* marker = getenv("PLUGHOST_PROBE_MARKER");
    FILE* out = marker != NULL ? fopen(marker, "a") : NULL;
    if (out != NULL) {
        fprintf(out, "wrong_abi %s ran\n", what);
        fclose(out);
    }
}

static int32_t create(const plughost_host_api* host, plughost_service* service, void** instance) {
    (void)host;
    (void)service;
    (void)instance;
    mark("create");
    return PLUGHOST_EFAILED;
}
static void destroy(void* instance) {
    (void)instance;
    mark("destroy");
}
static int32_t on_data(void* instance, plughost_session* session, void* data, const char* bytes,
                       size_t length) {
    (void)instance;
    (void)session;
    (void)data;
    (void)bytes;
    (void)length;
    mark("on_data");
    return PLUGHOST_EFAILED;
}

PLUGHOST_EXPORT const plughost_abi_version plughost_abi = {WRONG_MAJOR, WRONG_MINOR};
PLUGHOST_EXPORT const plughost_plugin_api plughost_plugin = {sizeof(plughost_plugin_api),
                                                             PLUGIN_NAME,
                                                             "9.9.9",
                                                             "built against another ABI",
                                                             create,
                                                             destroy,
                                                             NULL,
                                                             on_data,
                                                             NULL,
                                                             NULL,
                                                             NULL};
