/* td_lib0.h: lib0's binary encoding (the primitives under every Yjs message): var-uints, var-ints,
 * strings, byte arrays, big-endian floats and the tagged `any` value, plus UTF-8 / UTF-16 length
 * helpers (Yjs counts text in UTF-16 code units).
 *
 * Two value types, both plain structs the caller embeds (no allocation to create one):
 * - td_lib0_enc_t, a growable output buffer whose error is sticky: write freely, check once;
 * - td_lib0_dec_t, a cursor over borrowed input; every read returns 0 or a negative TD_E* code and
 *   records the absolute byte offset in the optional td_error_t (first error wins). */
#ifndef TD_LIB0_H
#define TD_LIB0_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "td_error.h"
#include "td_types.h"

#define TD_LIB0_MAX_SAFE_INT 9007199254740991ULL /* 2^53 - 1: lib0 rejects larger var-uints */
#define TD_LIB0_ANY_MAX_DEPTH 256                /* nesting bound for `any` arrays and objects */

/* The `any` tags (the byte before each value). */
enum {
    TD_LIB0_ANY_UNDEFINED = 127,
    TD_LIB0_ANY_NULL = 126,
    TD_LIB0_ANY_INT = 125,     /* var-int, |n| <= 2^31 - 1 when written by lib0 */
    TD_LIB0_ANY_FLOAT32 = 124, /* 4 bytes big-endian */
    TD_LIB0_ANY_FLOAT64 = 123, /* 8 bytes big-endian */
    TD_LIB0_ANY_BIGINT = 122,  /* int64 big-endian */
    TD_LIB0_ANY_FALSE = 121,
    TD_LIB0_ANY_TRUE = 120,
    TD_LIB0_ANY_STRING = 119, /* varString */
    TD_LIB0_ANY_OBJECT = 118, /* varUint n, n x (varString key, any) */
    TD_LIB0_ANY_ARRAY = 117,  /* varUint n, n x any */
    TD_LIB0_ANY_BYTES = 116,  /* varUint8Array */
};

/* ---- encoder ----------------------------------------------------------------------------------
 */

typedef struct td_lib0_enc {
    uint8_t *buf; /* owned; malloc'd */
    size_t len;
    size_t cap;
    int err; /* 0, or TD_ENOMEM after a failed grow: later writes are no-ops */
} td_lib0_enc_t;

/* Starts an empty encoder (no allocation). */
TD_EXPORT void td_lib0_enc_init(td_lib0_enc_t *e);
/* Frees the buffer and resets to empty; safe to call twice. */
TD_EXPORT void td_lib0_enc_fini(td_lib0_enc_t *e);
/* Hands the bytes, in a buffer fitted to their length, to the caller (free() them) and resets e;
 * NULL if e->err (e is then reset too). An empty buffer still yields a non-NULL pointer. */
TD_EXPORT uint8_t *td_lib0_enc_steal(td_lib0_enc_t *e, size_t *len);
/* Ensures room for extra more bytes; 0 or TD_ENOMEM (also stored in e->err). */
TD_EXPORT int td_lib0_enc_reserve(td_lib0_enc_t *e, size_t extra);

TD_EXPORT void td_lib0_write_u8(td_lib0_enc_t *e, uint8_t v);
/* Raw bytes, no length prefix. */
TD_EXPORT void td_lib0_write_raw(td_lib0_enc_t *e, const void *p, size_t n);
/* v must be <= 2^53 - 1 to be readable by lib0 (asserted). */
TD_EXPORT void td_lib0_write_varuint(td_lib0_enc_t *e, uint64_t v);
/* Sign and magnitude, like lib0; |v| <= 2^53 - 1 (asserted). */
TD_EXPORT void td_lib0_write_varint(td_lib0_enc_t *e, int64_t v);
/* varUint8Array: length, then the bytes. */
TD_EXPORT void td_lib0_write_buf(td_lib0_enc_t *e, const void *p, size_t n);
/* varString: s must be valid UTF-8 (the caller checks; td_lib0_utf8_valid). */
TD_EXPORT void td_lib0_write_string(td_lib0_enc_t *e, const char *s, size_t n);
TD_EXPORT void td_lib0_write_float32(td_lib0_enc_t *e, float v);
TD_EXPORT void td_lib0_write_float64(td_lib0_enc_t *e, double v);
TD_EXPORT void td_lib0_write_bigint64(td_lib0_enc_t *e, int64_t v);
/* Writes a JSON number the way lib0 writes a JS number: tag 125 for integers with |n| <= 2^31-1,
 * else 124 when float32-exact, else 123. */
TD_EXPORT void td_lib0_write_any_number(td_lib0_enc_t *e, double v);
/* Writes v as one `any` value, as lib0's writeAny would write the equivalent JS value. Object keys
 * go out in JS order (array-index keys ascending, then the rest in insertion order). Strings must
 * be valid UTF-8. Returns 0, TD_EINVAL (invalid UTF-8, or deeper than TD_LIB0_ANY_MAX_DEPTH) or
 * TD_ENOMEM; on error the bytes written so far are left in e. */
TD_EXPORT int td_lib0_write_any_json(td_lib0_enc_t *e, const json_t *v);

/* ---- raw readers ------------------------------------------------------------------------------
 */

/* Read one var-uint from p[0..n): bytes used, TD_EAGAIN if truncated, TD_EPROTO if > 2^53 - 1. */
TD_EXPORT ssize_t td_lib0_read_varuint(const uint8_t *p, size_t n, uint64_t *out);
/* Read one var-int: bytes used, TD_EAGAIN if truncated, TD_EPROTO if |v| > 2^53 - 1. A negative
 * zero reads as 0 and sets *neg_zero when neg_zero is not NULL. */
TD_EXPORT ssize_t td_lib0_read_varint(const uint8_t *p, size_t n, int64_t *out, bool *neg_zero);

/* ---- decoder cursor ---------------------------------------------------------------------------
 */

typedef struct td_lib0_dec {
    const uint8_t *data; /* borrowed */
    size_t len;
    size_t pos;
    size_t base;     /* added to pos in error offsets, for cursors over a slice */
    td_error_t *err; /* optional; first error wins */
} td_lib0_dec_t;

/* Starts a cursor over borrowed bytes; err may be NULL. */
TD_EXPORT void td_lib0_dec_init(td_lib0_dec_t *d, const uint8_t *data, size_t len, td_error_t *err);
/* Bytes not yet read. */
TD_EXPORT size_t td_lib0_dec_remaining(const td_lib0_dec_t *d);

/* Every reader returns 0 or TD_EPROTO (truncated or malformed: err gets the offset), and leaves
 * the cursor unspecified on error. Views point into the input. */
TD_EXPORT int td_lib0_dec_u8(td_lib0_dec_t *d, uint8_t *out);
TD_EXPORT int td_lib0_dec_varuint(td_lib0_dec_t *d, uint64_t *out);
TD_EXPORT int td_lib0_dec_varint(td_lib0_dec_t *d, int64_t *out);
/* n raw bytes as a view. */
TD_EXPORT int td_lib0_dec_raw(td_lib0_dec_t *d, size_t n, td_bytes_t *out);
/* varUint8Array as a view. */
TD_EXPORT int td_lib0_dec_buf(td_lib0_dec_t *d, td_bytes_t *out);
/* varString as a view; rejects invalid UTF-8 (as lib0's fatal TextDecoder does). */
TD_EXPORT int td_lib0_dec_string(td_lib0_dec_t *d, td_bytes_t *out);
TD_EXPORT int td_lib0_dec_float32(td_lib0_dec_t *d, float *out);
TD_EXPORT int td_lib0_dec_float64(td_lib0_dec_t *d, double *out);
TD_EXPORT int td_lib0_dec_bigint64(td_lib0_dec_t *d, int64_t *out);
/* Validates and skips one `any` value (unknown tags, bad UTF-8 and truncation are errors). */
TD_EXPORT int td_lib0_dec_any_skip(td_lib0_dec_t *d);
/* Reads one `any` value as a new JSON reference (caller owns *out). Mapping, like yjs toJSON then
 * JSON.stringify: undefined -> null, integral finite floats and bigints -> integers, NaN and
 * infinities -> null, Uint8Array -> array of byte values. 0, TD_EPROTO or TD_ENOMEM. */
TD_EXPORT int td_lib0_dec_any_json(td_lib0_dec_t *d, json_t **out);

/* Reads one `any` value and writes it to e the way lib0 would after a JS round trip (readAny then
 * writeAny): numbers re-tagged by value (an integral float64 becomes tag 125), NaN as the canonical
 * float64 NaN, duplicate object keys collapsed (last value, first position), keys in JS order.
 * yjs re-encodes Any content this way whenever it writes a document or a merged update.
 * 0, TD_EPROTO (malformed input, recorded in d->err) or TD_ENOMEM. */
TD_EXPORT int td_lib0_dec_any_canon(td_lib0_dec_t *d, td_lib0_enc_t *e);

/* ---- UTF-8 / UTF-16 ---------------------------------------------------------------------------
 */

/* True when s[0..n) is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
TD_EXPORT bool td_lib0_utf8_valid(const uint8_t *s, size_t n);
/* Length (1-4) of the well-formed UTF-8 sequence that starts s[0..n), or 0 when there is none. */
TD_EXPORT size_t td_lib0_utf8_seq_len(const uint8_t *s, size_t n);
/* UTF-16 code units in valid UTF-8 s (4-byte sequences count 2). */
TD_EXPORT size_t td_lib0_utf16_len(const uint8_t *s, size_t n);
/* Byte offset in valid UTF-8 s of the UTF-16 position units (clamped to n). When units falls
 * between the halves of a surrogate pair, returns the offset of that 4-byte sequence and sets
 * *split (if not NULL); otherwise *split is false. */
TD_EXPORT size_t td_lib0_utf8_offset(const uint8_t *s, size_t n, size_t units, bool *split);

#endif
