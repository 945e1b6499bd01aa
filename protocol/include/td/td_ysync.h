/* td_ysync.h: the y-protocols sync messages and the y-websocket v1 outer framing that JupyterLab's
 * collaboration provider speaks (yjs-format.md §4, §6).
 *
 *   sync message  := varUint kind  varUint8Array payload    kind 0 step1 (state vector),
 *                                                            1 step2 (update), 2 update
 *   ws message    := varUint type  body                     type 0 sync, 1 awareness
 *                                                            (varUint8Array), 2 auth / Jupyter RAW,
 *                                                            3 query awareness (no body)
 *
 * Pure codecs without state: decoders return views into the caller's bytes (nothing is allocated,
 * whatever the length fields say) and the number of bytes consumed, or a negative TD_E* code with
 * the offset in the optional td_error_t. Payloads (state vectors, updates, awareness updates) are
 * not validated here: hand them to td_ysv_decode, td_ydoc_apply_update or td_yawareness_apply.
 * Encoders append to a caller's td_lib0_enc_t, whose error is sticky. */
#ifndef TD_YSYNC_H
#define TD_YSYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "td_error.h"
#include "td_lib0.h"
#include "td_types.h"

/* Sync message kinds (y-protocols sync.js). */
enum {
    TD_YSYNC_STEP1 = 0,  /* payload: an encoded state vector; the receiver answers with step2 */
    TD_YSYNC_STEP2 = 1,  /* payload: a v1 update (encodeStateAsUpdate against that vector) */
    TD_YSYNC_UPDATE = 2, /* payload: a v1 update (a transaction's broadcast) */
};

/* y-websocket outer message types. Type 2 is y-websocket's auth message and, in
 * jupyter-collaboration, the RAW channel (save requests and JSON replies). */
enum {
    TD_YSYNC_WS_SYNC = 0,
    TD_YSYNC_WS_AWARENESS = 1,
    TD_YSYNC_WS_AUTH = 2,
    TD_YSYNC_WS_RAW = 2,
    TD_YSYNC_WS_QUERY_AWARENESS = 3,
};

/* One decoded sync message: a view into the input. */
typedef struct td_ysync_msg {
    int kind;           /* TD_YSYNC_* */
    td_bytes_t payload; /* state vector or update bytes, not validated */
} td_ysync_msg_t;

/* One decoded y-websocket message: views into the input.
 *   SYNC             sync holds the sync message; body is the sync message's bytes
 *   AWARENESS        body is the awareness update (the varUint8Array's contents)
 *   AUTH / RAW       every byte after the type (td_ysync_raw_decode / td_ysync_auth_decode)
 *   QUERY_AWARENESS  body is empty
 *   anything else    body is every byte after the type (y-websocket ignores such messages) */
typedef struct td_ysync_ws_msg {
    uint64_t type;
    td_ysync_msg_t sync;
    td_bytes_t body;
} td_ysync_ws_msg_t;

/* A Jupyter RAW body: a varString, then for a client's save request a varUint request id. */
typedef struct td_ysync_raw {
    td_bytes_t text; /* "save" from a client; JSON text from the server */
    bool has_id;
    uint64_t id; /* the save request id when has_id */
} td_ysync_raw_t;

/* ---- sync messages --------------------------------------------------------------------------- */

/* Decodes one sync message from p[0..n): bytes consumed (trailing bytes are the caller's), or
 * TD_EPROTO for truncation, an oversized var-uint or an unknown kind. */
TD_EXPORT ssize_t td_ysync_decode(const uint8_t *p, size_t n, td_ysync_msg_t *out, td_error_t *err);
/* Appends a sync message of kind (TD_YSYNC_*) with payload. */
TD_EXPORT void td_ysync_encode(td_lib0_enc_t *e, int kind, const uint8_t *payload, size_t n);
/* Appends step1 carrying an encoded state vector. */
TD_EXPORT void td_ysync_encode_step1(td_lib0_enc_t *e, const uint8_t *sv, size_t n);
/* Appends step2 carrying an update. */
TD_EXPORT void td_ysync_encode_step2(td_lib0_enc_t *e, const uint8_t *update, size_t n);
/* Appends an update message. */
TD_EXPORT void td_ysync_encode_update(td_lib0_enc_t *e, const uint8_t *update, size_t n);

/* ---- y-websocket framing --------------------------------------------------------------------- */

/* Decodes one y-websocket message (one binary WebSocket frame): bytes consumed, or TD_EPROTO for
 * truncation, a bad var-uint, or a malformed sync message or awareness length. Bytes after a sync
 * message, an awareness body or a query are left unconsumed for the caller to judge. */
TD_EXPORT ssize_t td_ysync_ws_decode(const uint8_t *p, size_t n, td_ysync_ws_msg_t *out,
                                     td_error_t *err);
/* Appends [0, sync message]. */
TD_EXPORT void td_ysync_ws_encode_sync(td_lib0_enc_t *e, int kind, const uint8_t *payload,
                                       size_t n);
/* Appends [1, varUint8Array(awareness update)]. */
TD_EXPORT void td_ysync_ws_encode_awareness(td_lib0_enc_t *e, const uint8_t *update, size_t n);
/* Appends [3]. */
TD_EXPORT void td_ysync_ws_encode_query_awareness(td_lib0_enc_t *e);
/* Appends y-websocket's permission-denied auth message [2, 0, varString reason]; reason must be
 * valid UTF-8. */
TD_EXPORT void td_ysync_ws_encode_auth_denied(td_lib0_enc_t *e, const char *reason, size_t n);
/* Appends a Jupyter RAW message [2, varString text] (a server's JSON reply); text must be UTF-8. */
TD_EXPORT void td_ysync_ws_encode_raw(td_lib0_enc_t *e, const char *text, size_t n);
/* Appends a Jupyter save request [2, varString "save", varUint id]. */
TD_EXPORT void td_ysync_ws_encode_raw_save(td_lib0_enc_t *e, uint64_t id);

/* Decodes a RAW body (td_ysync_ws_msg_t.body of type 2): bytes consumed or TD_EPROTO. A var-uint
 * after the string is read as the request id only when the string is "save" (as
 * jupyter-collaboration reads it); err offsets are relative to body. */
TD_EXPORT ssize_t td_ysync_raw_decode(td_bytes_t body, td_ysync_raw_t *out, td_error_t *err);
/* Decodes a y-websocket auth body: *denied is true for permission-denied (sub-type 0) with the
 * reason as a view; bytes consumed, or TD_EPROTO (also for unknown sub-types). */
TD_EXPORT ssize_t td_ysync_auth_decode(td_bytes_t body, bool *denied, td_bytes_t *reason,
                                       td_error_t *err);

#endif
