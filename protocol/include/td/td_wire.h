/* td_wire.h: Jupyter ZMQ framing. A message on the wire is
 *   [identity ...] "<IDS|MSG>" signature header parent_header metadata content [buffer ...]
 * Decoding verifies the HMAC over the raw frames before any JSON is parsed. */
#ifndef TD_WIRE_H
#define TD_WIRE_H

#include "td_error.h"
#include "td_hmac.h"
#include "td_msg.h"

#define TD_WIRE_DELIM "<IDS|MSG>"
#define TD_WIRE_MAX_IDS 64       /* more routing frames than this is garbage */
#define TD_WIRE_MAX_BUFFERS 4096 /* more binary buffers than this is garbage */

/* An encoded message: frames[i] is a heap buffer of len[i] bytes owned by this struct. A sender may
 * take a frame (free it later itself) by setting data[i] to NULL. */
typedef struct td_frames {
    size_t n;
    uint8_t **data;
    size_t *len;
} td_frames_t;

/* Encodes msg, signing with key. Fills *out (caller frees with td_frames_fini). 0 or TD_E*. */
TD_EXPORT int td_wire_encode(const td_msg_t *msg, const td_hmac_t *key, td_frames_t *out);

/* Frees the frames still owned by f and zeroes it; NULL-safe. */
TD_EXPORT void td_frames_fini(td_frames_t *f);

/* A received message split at the delimiter: views into the caller's frames, valid while they
 * live (nothing is copied or parsed). */
typedef struct td_wire_parts {
    size_t nids;            /* frames[0..nids) are routing identities */
    const td_bytes_t *json; /* header, parent_header, metadata, content: 4 views, HMAC-verified */
    const td_bytes_t *buf;  /* binary buffers */
    size_t nbuf;
} td_wire_parts_t;

/* Finds the delimiter, checks the frame counts and verifies the signature over the four JSON
 * frames, then fills *out. Returns 0, TD_EPROTO (framing) or TD_EBADSIG; err as td_wire_decode. */
TD_EXPORT int td_wire_split(const td_bytes_t *frames, size_t nframes, const td_hmac_t *key,
                            td_wire_parts_t *out, td_error_t *err);

/* Decodes frames into a new message (caller owns *out). Returns 0, TD_EBADSIG (signature missing
 * or wrong: nothing was parsed to act on) or TD_EPROTO (bad framing, JSON or header). On error err
 * holds the frame index in offset and a message naming the msg_id when one could be read. */
TD_EXPORT int td_wire_decode(const td_bytes_t *frames, size_t nframes, const td_hmac_t *key,
                             td_msg_t **out, td_error_t *err);

#endif
