/* td_lib0.c: lib0's binary primitives. The encoder is a growable buffer with a sticky error, so a
 * long sequence of writes needs one check at the end. The decoder is a cursor over borrowed bytes;
 * it never allocates except when converting an `any` value to JSON, and it bounds every count read
 * from the input by the bytes that remain, so a length field cannot drive allocation or looping
 * beyond the input's own size. Numbers follow JavaScript semantics: var-uints are limited to 2^53-1
 * (the largest safe JS integer) and floats are big-endian, as DataView writes them. */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "td/td_lib0.h"

/* ---- encoder ----------------------------------------------------------------------------------
 */

void td_lib0_enc_init(td_lib0_enc_t *e)
{
    memset(e, 0, sizeof *e);
}

void td_lib0_enc_fini(td_lib0_enc_t *e)
{
    free(e->buf);
    memset(e, 0, sizeof *e);
}

uint8_t *td_lib0_enc_steal(td_lib0_enc_t *e, size_t *len)
{
    uint8_t *out = NULL;
    if (e->err == 0) {
        /* Fitted: stolen buffers are often kept for good (item content). Shrinking in place
         * cannot fail in practice; if it does, the larger buffer is still correct. */
        uint8_t *fit = e->buf && e->cap > e->len ? realloc(e->buf, e->len ? e->len : 1) : NULL;
        if (fit)
            e->buf = fit;
        out = e->buf ? e->buf : malloc(1);
        if (out && len)
            *len = e->len;
        if (out == e->buf)
            e->buf = NULL;
    }
    td_lib0_enc_fini(e);
    return out;
}

int td_lib0_enc_reserve(td_lib0_enc_t *e, size_t extra)
{
    if (e->err)
        return e->err;
    if (e->cap - e->len >= extra)
        return 0;
    size_t cap = e->cap ? e->cap : 64;
    while (cap - e->len < extra) {
        if (cap > SIZE_MAX / 2)
            return e->err = TD_ENOMEM;
        cap *= 2;
    }
    uint8_t *nb = realloc(e->buf, cap);
    if (nb == NULL)
        return e->err = TD_ENOMEM;
    e->buf = nb;
    e->cap = cap;
    return 0;
}

void td_lib0_write_u8(td_lib0_enc_t *e, uint8_t v)
{
    if (e->cap == e->len && td_lib0_enc_reserve(e, 1) != 0)
        return;
    if (e->err)
        return;
    e->buf[e->len++] = v;
}

void td_lib0_write_raw(td_lib0_enc_t *e, const void *p, size_t n)
{
    if (n == 0 || td_lib0_enc_reserve(e, n) != 0)
        return;
    memcpy(e->buf + e->len, p, n);
    e->len += n;
}

void td_lib0_write_varuint(td_lib0_enc_t *e, uint64_t v)
{
    assert(v <= TD_LIB0_MAX_SAFE_INT);
    if (td_lib0_enc_reserve(e, 10) != 0)
        return;
    while (v > 0x7f) {
        e->buf[e->len++] = (uint8_t)(0x80 | (v & 0x7f));
        v >>= 7;
    }
    e->buf[e->len++] = (uint8_t)v;
}

/* Writes sign and magnitude separately, so that a negative zero (from a JS -0) survives. */
static void s_write_varint_mag(td_lib0_enc_t *e, bool neg, uint64_t mag)
{
    assert(mag <= TD_LIB0_MAX_SAFE_INT);
    if (td_lib0_enc_reserve(e, 10) != 0)
        return;
    e->buf[e->len++] = (uint8_t)((mag > 0x3f ? 0x80 : 0) | (neg ? 0x40 : 0) | (mag & 0x3f));
    mag >>= 6;
    while (mag > 0) {
        e->buf[e->len++] = (uint8_t)((mag > 0x7f ? 0x80 : 0) | (mag & 0x7f));
        mag >>= 7;
    }
}

void td_lib0_write_varint(td_lib0_enc_t *e, int64_t v)
{
    bool neg = v < 0;
    uint64_t mag = neg ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    s_write_varint_mag(e, neg, mag);
}

void td_lib0_write_buf(td_lib0_enc_t *e, const void *p, size_t n)
{
    td_lib0_write_varuint(e, n);
    td_lib0_write_raw(e, p, n);
}

void td_lib0_write_string(td_lib0_enc_t *e, const char *s, size_t n)
{
    td_lib0_write_buf(e, s, n);
}

static void s_write_be(td_lib0_enc_t *e, uint64_t bits, int nbytes)
{
    if (td_lib0_enc_reserve(e, (size_t)nbytes) != 0)
        return;
    for (int i = nbytes - 1; i >= 0; i--)
        e->buf[e->len++] = (uint8_t)(bits >> (8 * i));
}

void td_lib0_write_float32(td_lib0_enc_t *e, float v)
{
    uint32_t bits;
    memcpy(&bits, &v, 4);
    s_write_be(e, bits, 4);
}

void td_lib0_write_float64(td_lib0_enc_t *e, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, 8);
    s_write_be(e, bits, 8);
}

void td_lib0_write_bigint64(td_lib0_enc_t *e, int64_t v)
{
    s_write_be(e, (uint64_t)v, 8);
}

void td_lib0_write_any_number(td_lib0_enc_t *e, double v)
{
    if (isfinite(v) && v == trunc(v) && fabs(v) <= 2147483647.0) {
        td_lib0_write_u8(e, TD_LIB0_ANY_INT);
        s_write_varint_mag(e, signbit(v) != 0, (uint64_t)fabs(v));
    } else if (isfinite(v) ? (double)(float)v == v : isinf(v)) {
        /* Math.fround(x) === x holds for the infinities too, never for NaN. */
        td_lib0_write_u8(e, TD_LIB0_ANY_FLOAT32);
        td_lib0_write_float32(e, (float)v);
    } else {
        td_lib0_write_u8(e, TD_LIB0_ANY_FLOAT64);
        td_lib0_write_float64(e, v);
    }
}

/* A key JS enumerates first: the canonical decimal form of an integer in [0, 2^32 - 2]. */
static bool s_js_index_key(const char *k, uint64_t *out)
{
    size_t n = strlen(k);
    if (n == 0 || n > 10 || (n > 1 && k[0] == '0'))
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (k[i] < '0' || k[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(k[i] - '0');
    }
    if (v > 4294967294ULL)
        return false;
    *out = v;
    return true;
}

typedef struct s_idx_key {
    uint64_t idx;
    const char *key;
} s_idx_key_t;

static int s_idx_key_cmp(const void *a, const void *b)
{
    uint64_t x = ((const s_idx_key_t *)a)->idx, y = ((const s_idx_key_t *)b)->idx;
    return x < y ? -1 : x > y;
}

static int s_write_any_json(td_lib0_enc_t *e, const json_t *v, int depth);

static int s_write_any_pair(td_lib0_enc_t *e, const char *key, const json_t *val, int depth)
{
    size_t kn = strlen(key);
    if (!td_lib0_utf8_valid((const uint8_t *)key, kn))
        return TD_EINVAL;
    td_lib0_write_string(e, key, kn);
    return s_write_any_json(e, val, depth + 1);
}

static int s_write_any_object(td_lib0_enc_t *e, const json_t *v, int depth)
{
    size_t n = json_object_size(v), nidx = 0;
    td_lib0_write_u8(e, TD_LIB0_ANY_OBJECT);
    td_lib0_write_varuint(e, n);
    const char *key;
    json_t *val;
    uint64_t idx;
    json_object_foreach((json_t *)v, key, val)
    {
        nidx += s_js_index_key(key, &idx);
    }
    s_idx_key_t *ix = NULL;
    if (nidx > 0) {
        ix = malloc(nidx * sizeof *ix);
        if (ix == NULL)
            return e->err = TD_ENOMEM;
        size_t i = 0;
        json_object_foreach((json_t *)v, key, val)
        {
            if (s_js_index_key(key, &idx))
                ix[i++] = (s_idx_key_t){idx, key};
        }
        qsort(ix, nidx, sizeof *ix, s_idx_key_cmp);
    }
    int rc = 0;
    for (size_t i = 0; i < nidx && rc == 0; i++)
        rc = s_write_any_pair(e, ix[i].key, json_object_get(v, ix[i].key), depth);
    free(ix);
    json_object_foreach((json_t *)v, key, val)
    {
        if (rc != 0)
            break;
        if (!s_js_index_key(key, &idx))
            rc = s_write_any_pair(e, key, val, depth);
    }
    return rc;
}

static int s_write_any_json(td_lib0_enc_t *e, const json_t *v, int depth)
{
    if (depth > TD_LIB0_ANY_MAX_DEPTH)
        return TD_EINVAL;
    switch (json_typeof(v)) {
    case JSON_NULL:
        td_lib0_write_u8(e, TD_LIB0_ANY_NULL);
        break;
    case JSON_TRUE:
        td_lib0_write_u8(e, TD_LIB0_ANY_TRUE);
        break;
    case JSON_FALSE:
        td_lib0_write_u8(e, TD_LIB0_ANY_FALSE);
        break;
    case JSON_INTEGER:
        td_lib0_write_any_number(e, (double)json_integer_value(v));
        break;
    case JSON_REAL:
        td_lib0_write_any_number(e, json_real_value(v));
        break;
    case JSON_STRING: {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        if (!td_lib0_utf8_valid((const uint8_t *)s, n))
            return TD_EINVAL;
        td_lib0_write_u8(e, TD_LIB0_ANY_STRING);
        td_lib0_write_string(e, s, n);
        break;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        td_lib0_write_u8(e, TD_LIB0_ANY_ARRAY);
        td_lib0_write_varuint(e, n);
        for (size_t i = 0; i < n; i++) {
            int rc = s_write_any_json(e, json_array_get(v, i), depth + 1);
            if (rc != 0)
                return rc;
        }
        break;
    }
    case JSON_OBJECT: {
        int rc = s_write_any_object(e, v, depth);
        if (rc != 0)
            return rc;
        break;
    }
    }
    return e->err;
}

int td_lib0_write_any_json(td_lib0_enc_t *e, const json_t *v)
{
    if (v == NULL)
        return TD_EINVAL;
    return s_write_any_json(e, v, 0);
}

/* ---- raw readers ------------------------------------------------------------------------------
 */

ssize_t td_lib0_read_varuint(const uint8_t *p, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t b = p[i];
        if (i == 7 && (b > 0x0f))
            return TD_EPROTO; /* 7 * 7 + 4 = 53 bits at most */
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (b < 0x80) {
            *out = v;
            return (ssize_t)(i + 1);
        }
    }
    return TD_EAGAIN;
}

ssize_t td_lib0_read_varint(const uint8_t *p, size_t n, int64_t *out, bool *neg_zero)
{
    if (n == 0)
        return TD_EAGAIN;
    uint8_t b = p[0];
    bool neg = (b & 0x40) != 0;
    uint64_t v = b & 0x3f;
    size_t i = 1;
    if (b & 0x80) {
        for (;; i++) {
            if (i >= n)
                return TD_EAGAIN;
            b = p[i];
            /* 6 + 6 * 7 = 48 bits after byte 6; byte 7 may add 5 more. */
            if (i == 7 && b > 0x1f)
                return TD_EPROTO;
            v |= (uint64_t)(b & 0x7f) << (6 + 7 * (i - 1));
            if (b < 0x80) {
                i++;
                break;
            }
        }
    }
    if (neg_zero)
        *neg_zero = neg && v == 0;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return (ssize_t)i;
}

/* ---- decoder cursor ---------------------------------------------------------------------------
 */

void td_lib0_dec_init(td_lib0_dec_t *d, const uint8_t *data, size_t len, td_error_t *err)
{
    d->data = data;
    d->len = len;
    d->pos = 0;
    d->base = 0;
    d->err = err;
}

size_t td_lib0_dec_remaining(const td_lib0_dec_t *d)
{
    return d->len - d->pos;
}

static int s_fail(td_lib0_dec_t *d, const char *what)
{
    return td_error_set(d->err, TD_EPROTO, d->base + d->pos, "%s", what);
}

int td_lib0_dec_u8(td_lib0_dec_t *d, uint8_t *out)
{
    if (d->pos >= d->len)
        return s_fail(d, "truncated: expected a byte");
    *out = d->data[d->pos++];
    return 0;
}

int td_lib0_dec_varuint(td_lib0_dec_t *d, uint64_t *out)
{
    ssize_t r = td_lib0_read_varuint(d->data + d->pos, d->len - d->pos, out);
    if (r == TD_EAGAIN)
        return s_fail(d, "truncated var-uint");
    if (r < 0)
        return s_fail(d, "var-uint exceeds 2^53-1");
    d->pos += (size_t)r;
    return 0;
}

int td_lib0_dec_varint(td_lib0_dec_t *d, int64_t *out)
{
    ssize_t r = td_lib0_read_varint(d->data + d->pos, d->len - d->pos, out, NULL);
    if (r == TD_EAGAIN)
        return s_fail(d, "truncated var-int");
    if (r < 0)
        return s_fail(d, "var-int exceeds 2^53-1");
    d->pos += (size_t)r;
    return 0;
}

int td_lib0_dec_raw(td_lib0_dec_t *d, size_t n, td_bytes_t *out)
{
    if (n > d->len - d->pos)
        return s_fail(d, "truncated: length runs past the end of input");
    out->data = d->data + d->pos;
    out->len = n;
    d->pos += n;
    return 0;
}

int td_lib0_dec_buf(td_lib0_dec_t *d, td_bytes_t *out)
{
    uint64_t n;
    int rc = td_lib0_dec_varuint(d, &n);
    if (rc != 0)
        return rc;
    if (n > d->len - d->pos)
        return s_fail(d, "truncated: length runs past the end of input");
    return td_lib0_dec_raw(d, (size_t)n, out);
}

int td_lib0_dec_string(td_lib0_dec_t *d, td_bytes_t *out)
{
    size_t start = d->pos;
    int rc = td_lib0_dec_buf(d, out);
    if (rc != 0)
        return rc;
    if (!td_lib0_utf8_valid(out->data, out->len)) {
        d->pos = start;
        return s_fail(d, "invalid UTF-8 in string");
    }
    return 0;
}

static int s_read_be(td_lib0_dec_t *d, int nbytes, uint64_t *out)
{
    if ((size_t)nbytes > d->len - d->pos)
        return s_fail(d, "truncated number");
    uint64_t v = 0;
    for (int i = 0; i < nbytes; i++)
        v = (v << 8) | d->data[d->pos++];
    *out = v;
    return 0;
}

int td_lib0_dec_float32(td_lib0_dec_t *d, float *out)
{
    uint64_t v = 0;
    int rc = s_read_be(d, 4, &v);
    if (rc == 0) {
        uint32_t bits = (uint32_t)v;
        memcpy(out, &bits, 4);
    }
    return rc;
}

int td_lib0_dec_float64(td_lib0_dec_t *d, double *out)
{
    uint64_t v = 0;
    int rc = s_read_be(d, 8, &v);
    if (rc == 0)
        memcpy(out, &v, 8);
    return rc;
}

int td_lib0_dec_bigint64(td_lib0_dec_t *d, int64_t *out)
{
    uint64_t v = 0;
    int rc = s_read_be(d, 8, &v);
    if (rc == 0)
        *out = (int64_t)v;
    return rc;
}

/* Reads a count and checks it against the input left: each element takes at least min_each bytes.
 */
static int s_read_count(td_lib0_dec_t *d, size_t min_each, uint64_t *n)
{
    int rc = td_lib0_dec_varuint(d, n);
    if (rc != 0)
        return rc;
    if (*n > (d->len - d->pos) / min_each)
        return s_fail(d, "count exceeds the remaining input");
    return 0;
}

static int s_any_skip(td_lib0_dec_t *d, int depth)
{
    if (depth > TD_LIB0_ANY_MAX_DEPTH)
        return s_fail(d, "any value nested too deeply");
    uint8_t tag = 0;
    int rc = td_lib0_dec_u8(d, &tag);
    if (rc != 0)
        return rc;
    td_bytes_t b;
    uint64_t n;
    int64_t i;
    switch (tag) {
    case TD_LIB0_ANY_UNDEFINED:
    case TD_LIB0_ANY_NULL:
    case TD_LIB0_ANY_FALSE:
    case TD_LIB0_ANY_TRUE:
        return 0;
    case TD_LIB0_ANY_INT:
        return td_lib0_dec_varint(d, &i);
    case TD_LIB0_ANY_FLOAT32:
        return td_lib0_dec_raw(d, 4, &b);
    case TD_LIB0_ANY_FLOAT64:
    case TD_LIB0_ANY_BIGINT:
        return td_lib0_dec_raw(d, 8, &b);
    case TD_LIB0_ANY_STRING:
        return td_lib0_dec_string(d, &b);
    case TD_LIB0_ANY_BYTES:
        return td_lib0_dec_buf(d, &b);
    case TD_LIB0_ANY_OBJECT:
        if ((rc = s_read_count(d, 2, &n)) != 0)
            return rc;
        for (uint64_t k = 0; k < n; k++) {
            if ((rc = td_lib0_dec_string(d, &b)) != 0 || (rc = s_any_skip(d, depth + 1)) != 0)
                return rc;
        }
        return 0;
    case TD_LIB0_ANY_ARRAY:
        if ((rc = s_read_count(d, 1, &n)) != 0)
            return rc;
        for (uint64_t k = 0; k < n; k++) {
            if ((rc = s_any_skip(d, depth + 1)) != 0)
                return rc;
        }
        return 0;
    default:
        d->pos--;
        return s_fail(d, "unknown any tag");
    }
}

int td_lib0_dec_any_skip(td_lib0_dec_t *d)
{
    return s_any_skip(d, 0);
}

static json_t *s_json_number(double v)
{
    if (!isfinite(v))
        return json_null();
    if (v == trunc(v) && fabs(v) <= 9007199254740992.0)
        return json_integer((json_int_t)v);
    return json_real(v);
}

static int s_nomem(td_lib0_dec_t *d)
{
    return td_error_set(d->err, TD_ENOMEM, d->base + d->pos, "out of memory");
}

static int s_any_json(td_lib0_dec_t *d, int depth, json_t **out);

static int s_any_json_container(td_lib0_dec_t *d, uint8_t tag, int depth, json_t **out)
{
    uint64_t n;
    int rc = s_read_count(d, tag == TD_LIB0_ANY_OBJECT ? 2 : 1, &n);
    if (rc != 0)
        return rc;
    json_t *c = tag == TD_LIB0_ANY_OBJECT ? json_object() : json_array();
    if (c == NULL)
        return s_nomem(d);
    for (uint64_t k = 0; k < n; k++) {
        td_bytes_t key = {0};
        json_t *v = NULL;
        if (tag == TD_LIB0_ANY_OBJECT && (rc = td_lib0_dec_string(d, &key)) != 0)
            break;
        if ((rc = s_any_json(d, depth + 1, &v)) != 0)
            break;
        int jr = tag == TD_LIB0_ANY_OBJECT
                     ? json_object_setn_new_nocheck(c, (const char *)key.data, key.len, v)
                     : json_array_append_new(c, v);
        if (jr != 0) {
            rc = s_nomem(d);
            break;
        }
    }
    if (rc != 0) {
        json_decref(c);
        return rc;
    }
    *out = c;
    return 0;
}

static int s_any_json(td_lib0_dec_t *d, int depth, json_t **out)
{
    if (depth > TD_LIB0_ANY_MAX_DEPTH)
        return s_fail(d, "any value nested too deeply");
    uint8_t tag = 0;
    int rc = td_lib0_dec_u8(d, &tag);
    if (rc != 0)
        return rc;
    json_t *v = NULL;
    td_bytes_t b;
    switch (tag) {
    case TD_LIB0_ANY_UNDEFINED:
    case TD_LIB0_ANY_NULL:
        v = json_null();
        break;
    case TD_LIB0_ANY_FALSE:
        v = json_false();
        break;
    case TD_LIB0_ANY_TRUE:
        v = json_true();
        break;
    case TD_LIB0_ANY_INT: {
        int64_t i;
        if ((rc = td_lib0_dec_varint(d, &i)) != 0)
            return rc;
        v = json_integer(i);
        break;
    }
    case TD_LIB0_ANY_FLOAT32: {
        float f;
        if ((rc = td_lib0_dec_float32(d, &f)) != 0)
            return rc;
        v = s_json_number(f);
        break;
    }
    case TD_LIB0_ANY_FLOAT64: {
        double f;
        if ((rc = td_lib0_dec_float64(d, &f)) != 0)
            return rc;
        v = s_json_number(f);
        break;
    }
    case TD_LIB0_ANY_BIGINT: {
        int64_t i;
        if ((rc = td_lib0_dec_bigint64(d, &i)) != 0)
            return rc;
        v = json_integer(i);
        break;
    }
    case TD_LIB0_ANY_STRING:
        if ((rc = td_lib0_dec_string(d, &b)) != 0)
            return rc;
        v = json_stringn_nocheck((const char *)b.data, b.len);
        break;
    case TD_LIB0_ANY_BYTES:
        if ((rc = td_lib0_dec_buf(d, &b)) != 0)
            return rc;
        v = json_array();
        for (size_t k = 0; v && k < b.len; k++) {
            if (json_array_append_new(v, json_integer(b.data[k])) != 0) {
                json_decref(v);
                v = NULL;
            }
        }
        break;
    case TD_LIB0_ANY_OBJECT:
    case TD_LIB0_ANY_ARRAY:
        return s_any_json_container(d, tag, depth, out);
    default:
        d->pos--;
        return s_fail(d, "unknown any tag");
    }
    if (v == NULL)
        return s_nomem(d);
    *out = v;
    return 0;
}

int td_lib0_dec_any_json(td_lib0_dec_t *d, json_t **out)
{
    *out = NULL;
    return s_any_json(d, 0, out);
}

/* ---- canonical re-encoding --------------------------------------------------------------------
 */

typedef struct s_canon_entry {
    td_bytes_t key;
    size_t vstart, vend; /* the value's span in the decoder's input */
    size_t order;        /* position of the key's first occurrence */
    uint64_t idx;        /* array-index value when is_idx */
    bool is_idx, dead;
} s_canon_entry_t;

static int s_canon_key_cmp(const void *a, const void *b)
{
    const s_canon_entry_t *x = a, *y = b;
    size_t n = x->key.len < y->key.len ? x->key.len : y->key.len;
    int c = memcmp(x->key.data, y->key.data, n);
    if (c != 0)
        return c;
    if (x->key.len != y->key.len)
        return x->key.len < y->key.len ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Final order: array-index keys ascending, then the others by first occurrence. */
static int s_canon_js_cmp(const void *a, const void *b)
{
    const s_canon_entry_t *x = a, *y = b;
    if (x->is_idx != y->is_idx)
        return x->is_idx ? -1 : 1;
    if (x->is_idx)
        return x->idx < y->idx ? -1 : x->idx > y->idx;
    return x->order < y->order ? -1 : x->order > y->order;
}

static bool s_js_index_bytes(td_bytes_t k, uint64_t *out)
{
    char buf[11];
    if (k.len == 0 || k.len > 10)
        return false;
    memcpy(buf, k.data, k.len);
    buf[k.len] = 0;
    return strlen(buf) == k.len && s_js_index_key(buf, out);
}

static int s_canon(td_lib0_dec_t *d, td_lib0_enc_t *e, int depth);

static int s_canon_object(td_lib0_dec_t *d, td_lib0_enc_t *e, int depth)
{
    uint64_t n;
    int rc = s_read_count(d, 2, &n);
    if (rc != 0)
        return rc;
    s_canon_entry_t *ents = n ? calloc((size_t)n, sizeof *ents) : NULL;
    if (n && ents == NULL)
        return s_nomem(d);
    for (uint64_t k = 0; k < n && rc == 0; k++) {
        s_canon_entry_t *en = &ents[k];
        if ((rc = td_lib0_dec_string(d, &en->key)) != 0)
            break;
        en->vstart = d->pos;
        if ((rc = s_any_skip(d, depth + 1)) != 0)
            break;
        en->vend = d->pos;
        en->order = (size_t)k;
        en->is_idx = s_js_index_bytes(en->key, &en->idx);
    }
    size_t live = (size_t)n;
    if (rc == 0 && n > 1) {
        /* A repeated key keeps its first position and takes its last value, as in JS. */
        qsort(ents, (size_t)n, sizeof *ents, s_canon_key_cmp);
        for (size_t k = 0; k + 1 < n; k++) {
            s_canon_entry_t *a = &ents[k], *b = &ents[k + 1];
            if (a->key.len == b->key.len && memcmp(a->key.data, b->key.data, a->key.len) == 0) {
                b->order = a->order;
                a->dead = true;
                live--;
            }
        }
        qsort(ents, (size_t)n, sizeof *ents, s_canon_js_cmp);
    }
    if (rc == 0) {
        td_lib0_write_u8(e, TD_LIB0_ANY_OBJECT);
        td_lib0_write_varuint(e, live);
        for (size_t k = 0; k < n && rc == 0; k++) {
            if (ents[k].dead)
                continue;
            td_lib0_write_string(e, (const char *)ents[k].key.data, ents[k].key.len);
            td_lib0_dec_t sub = *d;
            sub.pos = ents[k].vstart;
            sub.len = ents[k].vend;
            rc = s_canon(&sub, e, depth + 1);
        }
    }
    free(ents);
    return rc ? rc : e->err;
}

static int s_canon(td_lib0_dec_t *d, td_lib0_enc_t *e, int depth)
{
    if (depth > TD_LIB0_ANY_MAX_DEPTH)
        return s_fail(d, "any value nested too deeply");
    size_t start = d->pos;
    uint8_t tag = 0;
    int rc = td_lib0_dec_u8(d, &tag);
    if (rc != 0)
        return rc;
    switch (tag) {
    case TD_LIB0_ANY_INT: {
        bool nz = false;
        int64_t i = 0;
        ssize_t r = td_lib0_read_varint(d->data + d->pos, d->len - d->pos, &i, &nz);
        if (r < 0)
            return td_lib0_dec_varint(d, &i); /* records the error */
        d->pos += (size_t)r;
        td_lib0_write_any_number(e, nz ? -0.0 : (double)i);
        break;
    }
    case TD_LIB0_ANY_FLOAT32: {
        float f = 0;
        if ((rc = td_lib0_dec_float32(d, &f)) != 0)
            return rc;
        td_lib0_write_any_number(e, f);
        break;
    }
    case TD_LIB0_ANY_FLOAT64: {
        double f = 0;
        if ((rc = td_lib0_dec_float64(d, &f)) != 0)
            return rc;
        td_lib0_write_any_number(e, isnan(f) ? NAN : f);
        break;
    }
    case TD_LIB0_ANY_ARRAY: {
        uint64_t n;
        if ((rc = s_read_count(d, 1, &n)) != 0)
            return rc;
        td_lib0_write_u8(e, TD_LIB0_ANY_ARRAY);
        td_lib0_write_varuint(e, n);
        for (uint64_t k = 0; k < n; k++) {
            if ((rc = s_canon(d, e, depth + 1)) != 0)
                return rc;
        }
        break;
    }
    case TD_LIB0_ANY_OBJECT:
        return s_canon_object(d, e, depth);
    default:
        /* Everything else round-trips unchanged (strings, bytes, bigints, constants). */
        d->pos = start;
        if ((rc = s_any_skip(d, depth)) != 0)
            return rc;
        td_lib0_write_raw(e, d->data + start, d->pos - start);
        break;
    }
    return e->err;
}

int td_lib0_dec_any_canon(td_lib0_dec_t *d, td_lib0_enc_t *e)
{
    return s_canon(d, e, 0);
}

/* ---- UTF-8 / UTF-16 ---------------------------------------------------------------------------
 */

/* The second byte's range does the whole check for overlongs, surrogates and > U+10FFFF
 * (Unicode Table 3-7); later bytes only need to be continuation bytes. */
static size_t s_utf8_seq_len(const uint8_t *s, size_t n)
{
    uint8_t c = s[0], lo = 0x80, hi = 0xbf;
    size_t len;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
    else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t k = 2; k < len; k++)
        if ((s[k] & 0xc0) != 0x80)
            return 0;
    return len;
}

size_t td_lib0_utf8_seq_len(const uint8_t *s, size_t n)
{
    return n ? s_utf8_seq_len(s, n) : 0;
}

/* True when the 8 * words bytes at s are all ASCII. */
static inline bool s_ascii(const uint8_t *s, size_t words)
{
    uint64_t any = 0;
    for (size_t k = 0; k < words; k++) {
        uint64_t w;
        memcpy(&w, s + 8 * k, 8);
        any |= w;
    }
    return (any & 0x8080808080808080ULL) == 0;
}

/* The index past the ASCII run starting at s[i] (n bytes in all), in steps of 32 then 8 bytes: at
 * most 7 ASCII bytes are left for the caller's byte loop. Strings are mostly ASCII, and large. */
static inline size_t s_skip_ascii(const uint8_t *s, size_t i, size_t n)
{
    while (n - i >= 32 && s_ascii(s + i, 4))
        i += 32;
    while (n - i >= 8 && s_ascii(s + i, 1))
        i += 8;
    return i;
}

bool td_lib0_utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        i = s_skip_ascii(s, i, n);
        if (i == n)
            break;
        size_t len = s[i] < 0x80 ? 1 : s_utf8_seq_len(s + i, n - i);
        if (len == 0)
            return false;
        i += len;
    }
    return true;
}

size_t td_lib0_utf16_len(const uint8_t *s, size_t n)
{
    /* Every byte that is not a continuation byte starts one unit; 4-byte leads start two. ASCII
     * words, the common case, are one unit per byte. */
    size_t units = 0, i = 0;
    while (i < n) {
        size_t from = i;
        i = s_skip_ascii(s, i, n);
        units += i - from;
        if (i == n)
            break;
        uint8_t c = s[i++];
        units += (c & 0xc0) != 0x80;
        units += c >= 0xf0;
    }
    return units;
}

size_t td_lib0_utf8_offset(const uint8_t *s, size_t n, size_t units, bool *split)
{
    size_t i = 0;
    if (split)
        *split = false;
    while (i < n && units > 0) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            units--;
        } else if (c < 0xe0) {
            i += 2;
            units--;
        } else if (c < 0xf0) {
            i += 3;
            units--;
        } else {
            if (units == 1) {
                if (split)
                    *split = true;
                return i;
            }
            i += 4;
            units -= 2;
        }
    }
    return i < n ? i : n;
}
