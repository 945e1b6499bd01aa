/* fuzz_kws.c: the kernel websocket decoders. The first byte picks the decoder (v1, legacy text,
 * legacy binary); the rest is one websocket message. Whatever decodes must re-encode in both
 * forms, and the v1 re-encoding must decode to the same parts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "td/td_kws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int mode = data[0] % 3;
    data++, size--;
    td_kws_msg_t m;
    ssize_t rc = mode == 0 ? td_kws_v1_decode(data, size, &m, NULL)
                           : td_kws_legacy_decode(data, size, mode == 2, &m, NULL);
    if (rc < 0)
        return 0;
    uint8_t *out = NULL;
    size_t len = 0;
    int binary;
    if (td_kws_v1_encode(m.channel, m.part, m.buf, m.nbuf, 4, &out, &len) == 0) {
        td_kws_msg_t back;
        if (td_kws_v1_decode(out + 4, len, &back, NULL) < 0 || back.nbuf != m.nbuf ||
            back.part[3].len != m.part[3].len)
            abort();
        td_kws_msg_fini(&back);
        free(out);
    }
    if (mode != 0 && td_kws_legacy_encode(m.channel, m.part, "id", "t", m.buf, m.nbuf, 0, &out,
                                          &len, &binary) == 0)
        free(out);
    td_kws_msg_fini(&m);
    return 0;
}
