/* fuzz_connfile.c: connection-file parsing, and encoding whatever parses. */
#include <stdint.h>
#include <stdlib.h>

#include "td/td_connfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    td_connfile_t cf;
    if (td_connfile_decode((const char *)data, size, &cf, NULL) == 0) {
        char ep[300];
        td_connfile_endpoint(&cf, TD_CH_SHELL, ep, sizeof ep);
        free(td_connfile_encode(&cf));
        td_connfile_fini(&cf);
    }
    return 0;
}
