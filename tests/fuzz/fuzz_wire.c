/* fuzz_wire.c: frame decode, HMAC verify and JSON parse. The input is a frame list: repeated
 * [u16 little-endian length][bytes]. Messages are checked with the key "key" and, when the first
 * byte is odd, with signing disabled too, so the parser behind the signature is reached. */
#include <stdint.h>
#include <string.h>

#include "td/td.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    td_bytes_t frames[TD_WIRE_MAX_IDS + 6 + 64];
    size_t n = 0;
    while (size >= 2 && n < sizeof frames / sizeof frames[0]) {
        size_t len = (size_t)data[0] | (size_t)data[1] << 8;
        data += 2, size -= 2;
        if (len > size)
            len = size;
        frames[n++] = (td_bytes_t){data, len};
        data += len, size -= len;
    }
    td_hmac_t *keys[2] = {td_hmac_new("hmac-sha256", (const uint8_t *)"key", 3),
                          td_hmac_new("hmac-sha256", NULL, 0)};
    for (int k = 0; k < 2; k++) {
        td_msg_t *msg = NULL;
        td_error_t err = {0};
        if (td_wire_decode(frames, n, keys[k], &msg, &err) == 0) {
            /* Whatever decodes must re-encode. */
            td_frames_t out;
            if (td_wire_encode(msg, keys[k], &out) == 0)
                td_frames_fini(&out);
            td_msg_destroy(&msg);
        }
    }
    td_hmac_destroy(&keys[0]);
    td_hmac_destroy(&keys[1]);
    return 0;
}
