/* What plughost 0.1's C++-only ABI 1 exported: an entry point function, no
 * plughost_abi data. The host must recognise it and ask for a rebuild, without
 * calling it (calling it leaves a mark, like wrong_abi.c). */
#include <stdio.h>
#include <stdlib.h>

__attribute__((visibility("default"))) const void* plughost_plugin_entry(void) {
    const char* marker = getenv("PLUGHOST_PROBE_MARKER");
    FILE* out = marker != NULL ? fopen(marker, "a") : NULL;
    if (out != NULL) {
        fputs("cxx_abi_1 entry ran\n", out);
        fclose(out);
    }
    return NULL;
}
