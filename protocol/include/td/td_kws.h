/* td_kws.h: the kernel websocket framings a Jupyter Server speaks to its frontends.
 *   v1 ("v1.kernel.websocket.jupyter.org"): one binary frame, u64 LE offset table, then
 *       channel | header | parent_header | metadata | content | buffer...
 *   legacy: one JSON text frame {header, parent_header, metadata, content, buffers, channel}, or,
 *       when the message has buffers, a binary frame: u32 BE nparts, u32 BE offsets, JSON, buffers.
 * Decoders take one complete websocket message and never trust it: they return the bytes consumed
 * or a negative TD_E* code and fill an optional td_error_t. */
#ifndef TD_KWS_H
#define TD_KWS_H

#include <sys/types.h>

#include "td_connfile.h"
#include "td_error.h"

#define TD_KWS_V1_PROTOCOL "v1.kernel.websocket.jupyter.org"
#define TD_KWS_MAX_BUFFERS 4096 /* more binary buffers than this is garbage */

/* One kernel message as its four JSON texts plus buffers. part[] and buf[] are views: into the
 * decoded frame (v1, legacy buffers) or into strings this struct owns (legacy JSON parts). */
typedef struct td_kws_msg {
    td_channel_t channel;  /* TD_CH_SHELL, TD_CH_IOPUB, TD_CH_STDIN or TD_CH_CONTROL */
    td_bytes_t part[4];    /* header, parent_header, metadata, content (JSON object text) */
    size_t nbuf;
    td_bytes_t *buf;       /* owned array of views; NULL when nbuf == 0 */
    char *owned[4];        /* owned JSON texts behind part[] (legacy decode), else NULL */
} td_kws_msg_t;

/* Frees what msg owns and zeroes it; NULL-safe. */
TD_EXPORT void td_kws_msg_fini(td_kws_msg_t *msg);

/* Maps "shell", "iopub", "stdin", "control" (len bytes) to a channel; TD_EPROTO for anything else. */
TD_EXPORT int td_kws_channel_parse(const uint8_t *s, size_t len, td_channel_t *out);

/* Decodes one v1 frame of n bytes into *out (views into p; finalise with td_kws_msg_fini). Only
 * the framing is checked, not the JSON. Returns n, or TD_EPROTO / TD_ENOMEM with err set. */
TD_EXPORT ssize_t td_kws_v1_decode(const uint8_t *p, size_t n, td_kws_msg_t *out,
                                   td_error_t *err);

/* Encodes channel + the four parts + nbuf buffers as one v1 frame into a new buffer with
 * `headroom` spare bytes in front (caller frees *out; the frame starts at *out + headroom).
 * Returns 0 or TD_ENOMEM / TD_EINVAL. */
TD_EXPORT int td_kws_v1_encode(td_channel_t channel, const td_bytes_t part[4],
                               const td_bytes_t *buf, size_t nbuf, size_t headroom,
                               uint8_t **out, size_t *len);

/* Decodes one legacy message (binary != 0: the binary form) into *out. A missing channel means
 * shell; header must be an object, missing parent_header/metadata/content become {}. The JSON
 * parts are re-serialised compactly into owned strings. Returns n, or TD_EPROTO / TD_ENOMEM. */
TD_EXPORT ssize_t td_kws_legacy_decode(const uint8_t *p, size_t n, int binary, td_kws_msg_t *out,
                                       td_error_t *err);

/* Encodes a legacy message from the four JSON texts (which must be valid JSON objects; they are
 * spliced, not parsed) plus msg_id and msg_type copied from the header. Without buffers the result
 * is text (*binary = 0), else the binary form (*binary = 1). Same buffer rules as v1_encode. */
TD_EXPORT int td_kws_legacy_encode(td_channel_t channel, const td_bytes_t part[4],
                                   const char *msg_id, const char *msg_type, const td_bytes_t *buf,
                                   size_t nbuf, size_t headroom, uint8_t **out, size_t *len,
                                   int *binary);

#endif
