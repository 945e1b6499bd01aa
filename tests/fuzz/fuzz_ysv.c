/* fuzz_ysv.c: state vectors from a peer (a sync step 1 payload, a diff argument). What decodes
 * must re-encode to a vector that decodes to the same clocks. */
#include <stdint.h>
#include <stdlib.h>

#include "td/td_yupdate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    td_ysv_t *sv = NULL;
    td_error_t err = {0};
    ssize_t r = td_ysv_decode(data, size, &sv, &err);
    if (r < 0) {
        if (err.code == 0 || err.offset > size)
            abort();
        return 0;
    }
    td_lib0_enc_t e;
    td_lib0_enc_init(&e);
    if (td_ysv_encode(sv, &e) != 0)
        abort();
    td_ysv_t *back = NULL;
    if (td_ysv_decode(e.buf, e.len, &back, NULL) != (ssize_t)e.len)
        abort();
    for (size_t i = 0; i < td_ysv_count(sv); i++) {
        uint64_t client, clock;
        td_ysv_entry(sv, i, &client, &clock);
        if (td_ysv_get(back, client) != td_ysv_get(sv, client))
            abort();
    }
    td_ysv_destroy(&back);
    td_ysv_destroy(&sv);
    td_lib0_enc_fini(&e);
    return 0;
}
