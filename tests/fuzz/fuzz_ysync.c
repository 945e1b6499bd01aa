/* fuzz_ysync.c: one y-websocket message (a binary WebSocket frame from a collaborator). The outer
 * framing, the sync message inside, and the RAW / auth bodies are decoded; whatever decodes must
 * re-encode to a message that decodes to the same parts. A sync step 1 payload is also read as a
 * state vector, as the relay would. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "td/td_ysync.h"
#include "td/td_yupdate.h"

static int s_same(td_bytes_t a, td_bytes_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    td_ysync_ws_msg_t m;
    td_error_t err = {0};
    ssize_t r = td_ysync_ws_decode(data, size, &m, &err);
    if (r < 0) {
        if (err.code == 0 || err.offset > size)
            abort();
    } else {
        if ((size_t)r > size)
            abort();
        td_lib0_enc_t e;
        td_lib0_enc_init(&e);
        td_ysync_ws_msg_t back;
        switch (m.type) {
        case TD_YSYNC_WS_SYNC:
            td_ysync_ws_encode_sync(&e, m.sync.kind, m.sync.payload.data, m.sync.payload.len);
            if (td_ysync_ws_decode(e.buf, e.len, &back, NULL) != (ssize_t)e.len ||
                back.sync.kind != m.sync.kind || !s_same(back.sync.payload, m.sync.payload))
                abort();
            if (m.sync.kind == TD_YSYNC_STEP1) {
                td_ysv_t *sv = NULL;
                if (td_ysv_decode(m.sync.payload.data, m.sync.payload.len, &sv, NULL) >= 0)
                    td_ysv_destroy(&sv);
            }
            break;
        case TD_YSYNC_WS_AWARENESS:
            td_ysync_ws_encode_awareness(&e, m.body.data, m.body.len);
            if (td_ysync_ws_decode(e.buf, e.len, &back, NULL) != (ssize_t)e.len ||
                !s_same(back.body, m.body))
                abort();
            break;
        case TD_YSYNC_WS_RAW: {
            td_ysync_raw_t raw;
            if (td_ysync_raw_decode(m.body, &raw, NULL) >= 0) {
                if (raw.has_id)
                    td_ysync_ws_encode_raw_save(&e, raw.id);
                else
                    td_ysync_ws_encode_raw(&e, (const char *)raw.text.data, raw.text.len);
                td_ysync_raw_t again;
                if (td_ysync_ws_decode(e.buf, e.len, &back, NULL) != (ssize_t)e.len ||
                    td_ysync_raw_decode(back.body, &again, NULL) < 0 ||
                    !s_same(again.text, raw.text) || again.id != raw.id)
                    abort();
            }
            bool denied;
            td_bytes_t reason;
            td_ysync_auth_decode(m.body, &denied, &reason, NULL);
            break;
        }
        default:
            break;
        }
        td_lib0_enc_fini(&e);
    }
    /* The same bytes as a bare sync message. */
    td_ysync_msg_t s;
    r = td_ysync_decode(data, size, &s, NULL);
    if (r >= 0 && (s.payload.data < data || s.payload.data + s.payload.len > data + size))
        abort();
    return 0;
}
