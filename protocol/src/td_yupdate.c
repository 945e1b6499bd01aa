/* td_yupdate.c: Yjs v1 updates as data. td_yupdate_decode parses and fully validates an update into
 * a flat array of structs (wire order) plus the delete set; every byte view in a struct points into
 * the decoder's private copy of the input, so a decoded update is self-contained.
 *
 * The operations that work without a document (merge, diff, state vector) follow yjs's lazy
 * algorithms in updates.js step by step, because their output bytes are compared with yjs's. In
 * particular, items read without a document lose their map-key bit when they have an origin, and
 * Any content is re-encoded as a JS round trip would. Also the shared pieces of the encoder: the
 * struct writer with offsets, the lazy block writer and delete-set helpers, all used by the
 * document too. */
#include <stdlib.h>
#include <string.h>

#include "td/td_yupdate.h"
#include "td_y_internal.h"

struct td_yupdate {
    uint8_t *buf; /* owned copy of the input; every view points here */
    size_t len;
    td_ystruct_t *structs;
    size_t nstructs;
    struct s_block {
        uint64_t client, clock;
        size_t first, count, offset;
    } * blocks;
    size_t nblocks;
    td_yds_client_t *ds;
    size_t nds;
    td_yrange_t *ranges;
    size_t nranges;
};

/* ---- uint64 map ---------------------------------------------------------------------------------
 */

static size_t s_hash(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return (size_t)k;
}

void td__u64map_fini(td__u64map_t *m)
{
    free(m->keys);
    memset(m, 0, sizeof *m);
}

void td__u64map_clear(td__u64map_t *m)
{
    if (m->n > 0)
        memset(m->used, 0, m->cap);
    m->n = 0;
}

size_t *td__u64map_get(const td__u64map_t *m, uint64_t key)
{
    if (m->cap == 0)
        return NULL;
    for (size_t i = s_hash(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->used[i])
            return NULL;
        if (m->keys[i] == key)
            return &m->vals[i];
    }
}

static int s_map_grow(td__u64map_t *m)
{
    /* Small to start with: most maps (a transaction's clients, a map type's keys) hold a few. */
    size_t cap = m->cap ? m->cap * 2 : 4;
    uint8_t *block = calloc(cap, sizeof(uint64_t) + sizeof(size_t) + 1);
    if (block == NULL)
        return TD_ENOMEM;
    td__u64map_t nm = {(uint64_t *)block, (size_t *)(block + cap * sizeof(uint64_t)),
                       block + cap * (sizeof(uint64_t) + sizeof(size_t)), cap, 0};
    for (size_t i = 0; i < m->cap; i++) {
        if (m->used[i])
            td__u64map_put(&nm, m->keys[i], m->vals[i]);
    }
    td__u64map_fini(m);
    *m = nm;
    return 0;
}

int td__u64map_put(td__u64map_t *m, uint64_t key, size_t val)
{
    size_t *slot = td__u64map_get(m, key);
    if (slot) {
        *slot = val;
        return 0;
    }
    if ((m->n + 1) * 4 > m->cap * 3 && s_map_grow(m) != 0)
        return TD_ENOMEM;
    size_t i = s_hash(key) & (m->cap - 1);
    while (m->used[i])
        i = (i + 1) & (m->cap - 1);
    m->used[i] = 1;
    m->keys[i] = key;
    m->vals[i] = val;
    m->n++;
    return 0;
}

/* ---- decoding -----------------------------------------------------------------------------------
 */

static int s_fail(td_lib0_dec_t *d, size_t at, const char *what)
{
    return td_error_set(d->err, TD_EPROTO, d->base + at, "%s", what);
}

/* Reads a count whose elements take at least min_each bytes each. */
static int s_count(td_lib0_dec_t *d, size_t min_each, uint64_t *n)
{
    size_t at = d->pos;
    int rc = td_lib0_dec_varuint(d, n);
    if (rc == 0 && *n > td_lib0_dec_remaining(d) / min_each)
        return s_fail(d, at, "count exceeds the remaining input");
    return rc;
}

static int s_read_id(td_lib0_dec_t *d, td_yid_t *id)
{
    int rc = td_lib0_dec_varuint(d, &id->client);
    return rc ? rc : td_lib0_dec_varuint(d, &id->clock);
}

static int s_read_content(td_lib0_dec_t *d, td_ystruct_t *s)
{
    int rc = 0;
    uint64_t n = 0;
    size_t start;
    s->len = 1;
    switch (s->content) {
    case TD_YCONTENT_DELETED:
        if ((rc = td_lib0_dec_varuint(d, &s->len)) == 0 && s->len == 0)
            return s_fail(d, d->pos - 1, "zero-length deleted content");
        return rc;
    case TD_YCONTENT_JSON:
    case TD_YCONTENT_ANY:
        if ((rc = s_count(d, 1, &n)) != 0)
            return rc;
        if (n == 0)
            return s_fail(d, d->pos - 1, "empty content");
        start = d->pos;
        for (uint64_t k = 0; k < n && rc == 0; k++) {
            td_bytes_t str;
            rc = s->content == TD_YCONTENT_ANY ? td_lib0_dec_any_skip(d)
                                               : td_lib0_dec_string(d, &str);
        }
        s->len = n;
        s->data = (td_bytes_t){d->data + start, d->pos - start};
        return rc;
    case TD_YCONTENT_BINARY:
        return td_lib0_dec_buf(d, &s->data);
    case TD_YCONTENT_STRING:
        start = d->pos;
        if ((rc = td_lib0_dec_string(d, &s->data)) != 0)
            return rc;
        s->len = td_lib0_utf16_len(s->data.data, s->data.len);
        if (s->len == 0)
            return s_fail(d, start, "empty string content");
        if (s->data.len > UINT32_MAX)
            return s_fail(d, start, "string content too long");
        return 0;
    case TD_YCONTENT_EMBED:
        return td_lib0_dec_string(d, &s->data);
    case TD_YCONTENT_FORMAT:
        if ((rc = td_lib0_dec_string(d, &s->data)) != 0)
            return rc;
        return td_lib0_dec_string(d, &s->data2);
    case TD_YCONTENT_TYPE:
        start = d->pos;
        if ((rc = td_lib0_dec_varuint(d, &n)) != 0)
            return rc;
        if (n > TD_YTYPE_XML_TEXT)
            return s_fail(d, start, "unknown type ref");
        s->type_ref = (uint8_t)n;
        if (n == TD_YTYPE_XML_ELEMENT || n == TD_YTYPE_XML_HOOK)
            return td_lib0_dec_string(d, &s->data);
        return 0;
    case TD_YCONTENT_DOC:
        if ((rc = td_lib0_dec_string(d, &s->data)) != 0)
            return rc;
        start = d->pos;
        if ((rc = td_lib0_dec_any_skip(d)) != 0)
            return rc;
        s->data2 = (td_bytes_t){d->data + start, d->pos - start};
        return 0;
    default:
        return s_fail(d, d->pos, "unknown content ref");
    }
}

/* A reference to the same client must point below the struct's own clock: those are the only
 * ids that can exist when the struct is integrated in order. */
static bool s_bad_self_ref(const td_ystruct_t *s, const td_yid_t *ref)
{
    return ref->client == s->id.client && ref->clock >= s->id.clock;
}

static int s_read_struct(td_lib0_dec_t *d, uint64_t client, uint64_t clock, td_ystruct_t *s)
{
    size_t at = d->pos;
    uint8_t info = 0;
    int rc = td_lib0_dec_u8(d, &info);
    if (rc != 0)
        return rc;
    memset(s, 0, sizeof *s);
    s->id = (td_yid_t){client, clock};
    uint8_t ref = info & 0x1f;
    if (ref == TD_YSTRUCT_GC || ref == TD_YSTRUCT_SKIP) {
        if (info != ref)
            return s_fail(d, at, "flags on a GC or Skip struct");
        s->kind = ref;
        if ((rc = td_lib0_dec_varuint(d, &s->len)) != 0)
            return rc;
        if (s->len == 0)
            return s_fail(d, at, "zero-length GC or Skip struct");
    } else if (ref > TD_YSTRUCT_SKIP) {
        return s_fail(d, at, "unknown content ref");
    } else {
        s->kind = TD_YSTRUCT_ITEM;
        s->content = ref;
        s->has_origin = (info & 0x80) != 0;
        s->has_right_origin = (info & 0x40) != 0;
        s->parent_sub_flag = (info & 0x20) != 0;
        if (s->has_origin && (rc = s_read_id(d, &s->origin)) != 0)
            return rc;
        if (s->has_right_origin && (rc = s_read_id(d, &s->right_origin)) != 0)
            return rc;
        if (!s->has_origin && !s->has_right_origin) {
            uint64_t pi = 0;
            size_t pat = d->pos;
            if ((rc = td_lib0_dec_varuint(d, &pi)) != 0)
                return rc;
            if (pi == 1) {
                s->parent_kind = TD_YPARENT_ROOT;
                rc = td_lib0_dec_string(d, &s->parent_name);
            } else if (pi == 0) {
                s->parent_kind = TD_YPARENT_ID;
                rc = s_read_id(d, &s->parent_id);
            } else {
                return s_fail(d, pat, "bad parent info");
            }
            if (rc == 0 && s->parent_sub_flag)
                rc = td_lib0_dec_string(d, &s->parent_sub);
            if (rc != 0)
                return rc;
        }
        if ((rc = s_read_content(d, s)) != 0)
            return rc;
        if ((s->has_origin && s_bad_self_ref(s, &s->origin)) ||
            (s->has_right_origin && s_bad_self_ref(s, &s->right_origin)) ||
            (s->parent_kind == TD_YPARENT_ID && s_bad_self_ref(s, &s->parent_id)))
            return s_fail(d, at, "struct refers to a later clock of its own client");
    }
    if (s->len > TD_LIB0_MAX_SAFE_INT - clock)
        return s_fail(d, at, "clock overflow");
    return 0;
}

static int s_push_struct(td_yupdate_t *u, size_t *cap, const td_ystruct_t *s)
{
    if (u->nstructs == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        td_ystruct_t *ns = realloc(u->structs, nc * sizeof *ns);
        if (ns == NULL)
            return TD_ENOMEM;
        u->structs = ns;
        *cap = nc;
    }
    u->structs[u->nstructs++] = *s;
    return 0;
}

static int s_decode_structs(td_lib0_dec_t *d, td_yupdate_t *u)
{
    uint64_t nclients;
    int rc = s_count(d, 3, &nclients);
    if (rc != 0)
        return rc;
    u->blocks = nclients ? calloc((size_t)nclients, sizeof *u->blocks) : NULL;
    if (nclients && u->blocks == NULL)
        return TD_ENOMEM;
    size_t cap = 0;
    for (uint64_t c = 0; c < nclients; c++) {
        uint64_t nstructs, client, clock;
        size_t at = d->pos;
        if ((rc = s_count(d, 2, &nstructs)) != 0 || (rc = td_lib0_dec_varuint(d, &client)) != 0 ||
            (rc = td_lib0_dec_varuint(d, &clock)) != 0)
            return rc;
        u->blocks[c] = (struct s_block){client, clock, u->nstructs, (size_t)nstructs, at};
        u->nblocks++;
        for (uint64_t k = 0; k < nstructs; k++) {
            td_ystruct_t s;
            if ((rc = s_read_struct(d, client, clock, &s)) != 0)
                return rc;
            if ((rc = s_push_struct(u, &cap, &s)) != 0)
                return rc;
            clock += s.len;
        }
    }
    return 0;
}

static int s_decode_ds(td_lib0_dec_t *d, td_yupdate_t *u)
{
    uint64_t nclients;
    int rc = s_count(d, 2, &nclients);
    if (rc != 0)
        return rc;
    u->ds = nclients ? calloc((size_t)nclients, sizeof *u->ds) : NULL;
    if (nclients && u->ds == NULL)
        return TD_ENOMEM;
    /* Ranges take at least two bytes each, so this bounds the total. */
    size_t maxr = td_lib0_dec_remaining(d) / 2;
    u->ranges = maxr ? malloc(maxr * sizeof *u->ranges) : NULL;
    if (maxr && u->ranges == NULL)
        return TD_ENOMEM;
    size_t *starts = nclients ? malloc((size_t)nclients * sizeof *starts) : NULL;
    if (nclients && starts == NULL)
        return TD_ENOMEM;
    for (uint64_t c = 0; c < nclients && rc == 0; c++) {
        uint64_t client, n;
        if ((rc = td_lib0_dec_varuint(d, &client)) != 0 || (rc = s_count(d, 2, &n)) != 0)
            break;
        starts[c] = u->nranges;
        u->ds[c] = (td_yds_client_t){client, (size_t)n, NULL};
        u->nds++;
        for (uint64_t k = 0; k < n && rc == 0; k++) {
            size_t at = d->pos;
            td_yrange_t r;
            if ((rc = td_lib0_dec_varuint(d, &r.clock)) != 0 ||
                (rc = td_lib0_dec_varuint(d, &r.len)) != 0)
                break;
            if (r.len > TD_LIB0_MAX_SAFE_INT - r.clock) {
                rc = s_fail(d, at, "delete range overflows");
                break;
            }
            u->ranges[u->nranges++] = r;
        }
    }
    for (size_t c = 0; c < u->nds; c++)
        u->ds[c].ranges = u->ranges + starts[c];
    free(starts);
    return rc;
}

ssize_t td_yupdate_decode(const uint8_t *p, size_t n, td_yupdate_t **out, td_error_t *err)
{
    *out = NULL;
    td_yupdate_t *u = calloc(1, sizeof *u);
    if (u == NULL || (u->buf = malloc(n ? n : 1)) == NULL) {
        free(u);
        return td_error_set(err, TD_ENOMEM, 0, "out of memory");
    }
    if (n)
        memcpy(u->buf, p, n);
    u->len = n;
    td_lib0_dec_t d;
    td_lib0_dec_init(&d, u->buf, n, err);
    int rc = s_decode_structs(&d, u);
    if (rc == 0)
        rc = s_decode_ds(&d, u);
    if (rc == 0 && d.pos != n)
        rc = s_fail(&d, d.pos, "trailing bytes after the delete set");
    if (rc != 0) {
        if (rc == TD_ENOMEM)
            td_error_set(err, TD_ENOMEM, d.pos, "out of memory");
        td_yupdate_destroy(&u);
        return rc;
    }
    *out = u;
    return (ssize_t)n;
}

void td_yupdate_destroy(td_yupdate_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    td_yupdate_t *u = *self_p;
    free(u->buf);
    free(u->structs);
    free(u->blocks);
    free(u->ds);
    free(u->ranges);
    free(u);
    *self_p = NULL;
}

size_t td_yupdate_nstructs(const td_yupdate_t *self)
{
    return self->nstructs;
}

const td_ystruct_t *td_yupdate_struct(const td_yupdate_t *self, size_t i)
{
    return &self->structs[i];
}

size_t td_yupdate_nblocks(const td_yupdate_t *self)
{
    return self->nblocks;
}

void td_yupdate_block(const td_yupdate_t *self, size_t i, uint64_t *client, size_t *first,
                      size_t *count)
{
    *client = self->blocks[i].client;
    *first = self->blocks[i].first;
    *count = self->blocks[i].count;
}

size_t td__yupdate_block_offset(const td_yupdate_t *self, size_t i)
{
    return self->blocks[i].offset;
}

size_t td_yupdate_ds_nclients(const td_yupdate_t *self)
{
    return self->nds;
}

td_yds_client_t td_yupdate_ds_client(const td_yupdate_t *self, size_t i)
{
    return self->ds[i];
}

/* ---- struct writing -----------------------------------------------------------------------------
 */

size_t td__yvalues_skip(const uint8_t *p, size_t n, size_t from, uint64_t k, bool json)
{
    td_lib0_dec_t d;
    td_lib0_dec_init(&d, p, n, NULL);
    d.pos = from;
    for (uint64_t i = 0; i < k; i++) {
        td_bytes_t b;
        if (json)
            td_lib0_dec_string(&d, &b);
        else
            td_lib0_dec_any_skip(&d);
    }
    return d.pos;
}

void td__ywrite_string_from(td_lib0_enc_t *e, const uint8_t *s, size_t n, uint64_t units)
{
    bool split = false;
    size_t off = td_lib0_utf8_offset(s, n, (size_t)units, &split);
    if (!split) {
        td_lib0_write_buf(e, s + off, n - off);
        return;
    }
    /* The cut falls inside a 4-byte sequence: its low half becomes U+FFFD. */
    td_lib0_write_varuint(e, 3 + (n - off - 4));
    td_lib0_write_raw(e, "\xef\xbf\xbd", 3);
    td_lib0_write_raw(e, s + off + 4, n - off - 4);
}

static void s_write_id(td_lib0_enc_t *e, uint64_t client, uint64_t clock)
{
    td_lib0_write_varuint(e, client);
    td_lib0_write_varuint(e, clock);
}

static int s_write_values(td_lib0_enc_t *e, const td_ystruct_t *s, uint64_t offset, size_t voff,
                          bool canon)
{
    bool json = s->content == TD_YCONTENT_JSON;
    size_t off = voff;
    if (off == SIZE_MAX)
        off = offset ? td__yvalues_skip(s->data.data, s->data.len, 0, offset, json) : 0;
    td_lib0_write_varuint(e, s->len - offset);
    if (!canon || json) {
        td_lib0_write_raw(e, s->data.data + off, s->data.len - off);
        return e->err;
    }
    td_lib0_dec_t d;
    td_lib0_dec_init(&d, s->data.data, s->data.len, NULL);
    d.pos = off;
    for (uint64_t k = offset; k < s->len; k++) {
        int rc = td_lib0_dec_any_canon(&d, e);
        if (rc != 0)
            return rc == TD_ENOMEM ? rc : TD_EPROTO;
    }
    return e->err;
}

int td__ystruct_write(td_lib0_enc_t *e, const td_ystruct_t *s, uint64_t offset, bool lazy)
{
    return td__ystruct_write_at(e, s, offset, SIZE_MAX, lazy);
}

int td__ystruct_write_at(td_lib0_enc_t *e, const td_ystruct_t *s, uint64_t offset, size_t voff,
                         bool lazy)
{
    if (s->kind != TD_YSTRUCT_ITEM) {
        td_lib0_write_u8(e, s->kind);
        td_lib0_write_varuint(e, s->len - offset);
        return e->err;
    }
    bool origin = s->has_origin || offset > 0;
    bool sub = lazy ? s->parent_sub.data != NULL : s->parent_sub_flag;
    uint8_t info = (uint8_t)(s->content | (origin ? 0x80 : 0) | (s->has_right_origin ? 0x40 : 0) |
                             (sub ? 0x20 : 0));
    td_lib0_write_u8(e, info);
    if (offset > 0)
        s_write_id(e, s->id.client, s->id.clock + offset - 1);
    else if (s->has_origin)
        s_write_id(e, s->origin.client, s->origin.clock);
    if (s->has_right_origin)
        s_write_id(e, s->right_origin.client, s->right_origin.clock);
    if (!origin && !s->has_right_origin) {
        if (s->parent_kind == TD_YPARENT_ROOT) {
            td_lib0_write_varuint(e, 1);
            td_lib0_write_buf(e, s->parent_name.data, s->parent_name.len);
        } else {
            td_lib0_write_varuint(e, 0);
            s_write_id(e, s->parent_id.client, s->parent_id.clock);
        }
        if (sub)
            td_lib0_write_buf(e, s->parent_sub.data, s->parent_sub.len);
    }
    switch (s->content) {
    case TD_YCONTENT_DELETED:
        td_lib0_write_varuint(e, s->len - offset);
        break;
    case TD_YCONTENT_JSON:
    case TD_YCONTENT_ANY:
        return s_write_values(e, s, offset, voff, lazy);
    case TD_YCONTENT_STRING:
        td__ywrite_string_from(e, s->data.data, s->data.len, offset);
        break;
    case TD_YCONTENT_BINARY:
    case TD_YCONTENT_EMBED:
        td_lib0_write_buf(e, s->data.data, s->data.len);
        break;
    case TD_YCONTENT_FORMAT:
        td_lib0_write_buf(e, s->data.data, s->data.len);
        td_lib0_write_buf(e, s->data2.data, s->data2.len);
        break;
    case TD_YCONTENT_TYPE:
        td_lib0_write_varuint(e, s->type_ref);
        if (s->type_ref == TD_YTYPE_XML_ELEMENT || s->type_ref == TD_YTYPE_XML_HOOK)
            td_lib0_write_buf(e, s->data.data, s->data.len);
        break;
    case TD_YCONTENT_DOC:
        td_lib0_write_buf(e, s->data.data, s->data.len);
        if (lazy)
            return td__ydoc_opts_canon(s->data2.data, s->data2.len, e);
        td_lib0_write_raw(e, s->data2.data, s->data2.len);
        break;
    }
    return e->err;
}

/* JS truthiness of the `any` value at d (which was validated), consuming it. */
static bool s_any_truthy(td_lib0_dec_t *d)
{
    size_t start = d->pos;
    uint8_t tag = d->data[d->pos];
    td_lib0_dec_any_skip(d);
    const uint8_t *p = d->data + start + 1;
    size_t n = d->pos - start - 1;
    switch (tag) {
    case TD_LIB0_ANY_UNDEFINED:
    case TD_LIB0_ANY_NULL:
    case TD_LIB0_ANY_FALSE:
        return false;
    case TD_LIB0_ANY_INT: {
        int64_t v = 0;
        td_lib0_read_varint(p, n, &v, NULL);
        return v != 0;
    }
    case TD_LIB0_ANY_FLOAT32:
    case TD_LIB0_ANY_FLOAT64: {
        td_lib0_dec_t f;
        td_lib0_dec_init(&f, p, n, NULL);
        double v = 0;
        float v32 = 0;
        if (tag == TD_LIB0_ANY_FLOAT32 && td_lib0_dec_float32(&f, &v32) == 0)
            v = v32;
        else if (tag == TD_LIB0_ANY_FLOAT64)
            td_lib0_dec_float64(&f, &v);
        return v == v && v != 0; /* NaN and zeros are falsy */
    }
    case TD_LIB0_ANY_BIGINT:
        for (size_t i = 0; i < n; i++)
            if (p[i])
                return true;
        return false;
    case TD_LIB0_ANY_STRING:
        return n > 1; /* a var-uint length of 0 is the single byte 00 */
    default:
        return true;
    }
}

int td__ydoc_opts_canon(const uint8_t *p, size_t n, td_lib0_enc_t *e)
{
    td_lib0_dec_t d;
    td_lib0_dec_init(&d, p, n, NULL);
    uint64_t count = 0;
    bool gc_false = false, auto_load = false;
    size_t meta = 0, meta_end = 0; /* the last meta value's span, 0 when none */
    if (n > 0 && p[0] == TD_LIB0_ANY_OBJECT) {
        d.pos = 1;
        td_lib0_dec_varuint(&d, &count);
        for (uint64_t k = 0; k < count; k++) {
            td_bytes_t key;
            td_lib0_dec_string(&d, &key);
            uint8_t tag = d.data[d.pos];
            size_t at = d.pos;
            if (key.len == 2 && memcmp(key.data, "gc", 2) == 0) {
                gc_false = tag != TD_LIB0_ANY_UNDEFINED && !s_any_truthy(&d);
            } else if (key.len == 8 && memcmp(key.data, "autoLoad", 8) == 0) {
                auto_load = s_any_truthy(&d);
            } else {
                td_lib0_dec_any_skip(&d);
                if (key.len == 4 && memcmp(key.data, "meta", 4) == 0) {
                    bool none = tag == TD_LIB0_ANY_UNDEFINED || tag == TD_LIB0_ANY_NULL;
                    meta = none ? 0 : at;
                    meta_end = none ? 0 : d.pos;
                }
            }
        }
    }
    td_lib0_write_u8(e, TD_LIB0_ANY_OBJECT);
    td_lib0_write_varuint(e, (uint64_t)gc_false + auto_load + (meta_end != 0));
    if (gc_false) {
        td_lib0_write_string(e, "gc", 2);
        td_lib0_write_u8(e, TD_LIB0_ANY_FALSE);
    }
    if (auto_load) {
        td_lib0_write_string(e, "autoLoad", 8);
        td_lib0_write_u8(e, TD_LIB0_ANY_TRUE);
    }
    if (meta_end) {
        td_lib0_write_string(e, "meta", 4);
        td_lib0_dec_t m;
        td_lib0_dec_init(&m, p, meta_end, NULL);
        m.pos = meta;
        int rc = td_lib0_dec_any_canon(&m, e);
        if (rc != 0)
            return rc == TD_ENOMEM ? rc : TD_EPROTO;
    }
    return e->err;
}

/* ---- lazy block writer ------------------------------------------------------------------------
 */

void td__ylazy_init(td__ylazy_t *w)
{
    memset(w, 0, sizeof *w);
}

void td__ylazy_fini(td__ylazy_t *w)
{
    td_lib0_enc_fini(&w->blocks);
    td_lib0_enc_fini(&w->cur);
}

static void s_lazy_flush(td__ylazy_t *w)
{
    if (w->written == 0)
        return;
    td_lib0_write_varuint(&w->blocks, w->written);
    td_lib0_write_varuint(&w->blocks, w->client);
    td_lib0_write_varuint(&w->blocks, w->clock);
    td_lib0_write_raw(&w->blocks, w->cur.buf, w->cur.len);
    w->cur.len = 0;
    w->written = 0;
    w->nblocks++;
}

int td__ylazy_write(td__ylazy_t *w, const td_ystruct_t *s, uint64_t offset)
{
    if (w->written > 0 && w->client != s->id.client)
        s_lazy_flush(w);
    if (w->written == 0) {
        w->client = s->id.client;
        w->clock = s->id.clock + offset;
    }
    int rc = td__ystruct_write(&w->cur, s, offset, true);
    w->written++;
    if (rc == 0)
        rc = w->blocks.err;
    return rc;
}

int td__ylazy_finish(td__ylazy_t *w, td_lib0_enc_t *out)
{
    s_lazy_flush(w);
    if (w->blocks.err || w->cur.err)
        return TD_ENOMEM;
    td_lib0_write_varuint(out, w->nblocks);
    td_lib0_write_raw(out, w->blocks.buf, w->blocks.len);
    return out->err;
}

/* ---- delete sets --------------------------------------------------------------------------------
 */

void td__yds_fini(td__yds_t *ds)
{
    free(ds->v);
    memset(ds, 0, sizeof *ds);
}

int td__yds_add(td__yds_t *ds, uint64_t client, uint64_t clock, uint64_t len)
{
    if (ds->n == ds->cap) {
        size_t nc = ds->cap ? ds->cap * 2 : 8;
        td__yds_entry_t *nv = realloc(ds->v, nc * sizeof *nv);
        if (nv == NULL)
            return TD_ENOMEM;
        ds->v = nv;
        ds->cap = nc;
    }
    ds->v[ds->n++] = (td__yds_entry_t){client, clock, len};
    return 0;
}

typedef struct s_ds_sort {
    td__yds_entry_t e;
    size_t pos;
    bool by_clock;
} s_ds_sort_t;

static int s_ds_cmp(const void *a, const void *b)
{
    const s_ds_sort_t *x = a, *y = b;
    if (x->e.client != y->e.client)
        return x->e.client > y->e.client ? -1 : 1;
    if (x->by_clock && x->e.clock != y->e.clock)
        return x->e.clock < y->e.clock ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

int td__yds_sort(td__yds_t *ds, bool merge)
{
    if (ds->n == 0)
        return 0;
    s_ds_sort_t *t = malloc(ds->n * sizeof *t);
    if (t == NULL)
        return TD_ENOMEM;
    for (size_t i = 0; i < ds->n; i++)
        t[i] = (s_ds_sort_t){ds->v[i], i, merge};
    qsort(t, ds->n, sizeof *t, s_ds_cmp);
    size_t j = 0;
    for (size_t i = 0; i < ds->n; i++) {
        td__yds_entry_t r = t[i].e;
        if (merge && j > 0 && ds->v[j - 1].client == r.client &&
            ds->v[j - 1].clock + ds->v[j - 1].len >= r.clock) {
            td__yds_entry_t *l = &ds->v[j - 1];
            if (r.clock + r.len - l->clock > l->len)
                l->len = r.clock + r.len - l->clock;
        } else {
            ds->v[j++] = r;
        }
    }
    ds->n = j;
    free(t);
    return 0;
}

void td__yds_write(const td__yds_t *ds, td_lib0_enc_t *e)
{
    size_t nclients = 0;
    for (size_t i = 0; i < ds->n; i++)
        nclients += i == 0 || ds->v[i].client != ds->v[i - 1].client;
    td_lib0_write_varuint(e, nclients);
    for (size_t i = 0; i < ds->n;) {
        size_t j = i;
        while (j < ds->n && ds->v[j].client == ds->v[i].client)
            j++;
        td_lib0_write_varuint(e, ds->v[i].client);
        td_lib0_write_varuint(e, j - i);
        for (; i < j; i++) {
            td_lib0_write_varuint(e, ds->v[i].clock);
            td_lib0_write_varuint(e, ds->v[i].len);
        }
    }
}

/* Appends a decoded update's delete set to ds, skipping clients without ranges (yjs readDeleteSet).
 */
static int s_ds_collect(const td_yupdate_t *u, td__yds_t *ds)
{
    for (size_t c = 0; c < u->nds; c++) {
        for (size_t k = 0; k < u->ds[c].nranges; k++) {
            const td_yrange_t *r = &u->ds[c].ranges[k];
            if (td__yds_add(ds, u->ds[c].client, r->clock, r->len) != 0)
                return TD_ENOMEM;
        }
    }
    return 0;
}

/* ---- exact re-encoding --------------------------------------------------------------------------
 */

int td_yupdate_encode(const td_yupdate_t *self, td_lib0_enc_t *e)
{
    td_lib0_write_varuint(e, self->nblocks);
    for (size_t b = 0; b < self->nblocks; b++) {
        const struct s_block *bl = &self->blocks[b];
        td_lib0_write_varuint(e, bl->count);
        td_lib0_write_varuint(e, bl->client);
        td_lib0_write_varuint(e, bl->clock);
        for (size_t i = bl->first; i < bl->first + bl->count; i++) {
            int rc = td__ystruct_write(e, &self->structs[i], 0, false);
            if (rc != 0)
                return rc;
        }
    }
    td_lib0_write_varuint(e, self->nds);
    for (size_t c = 0; c < self->nds; c++) {
        td_lib0_write_varuint(e, self->ds[c].client);
        td_lib0_write_varuint(e, self->ds[c].nranges);
        for (size_t k = 0; k < self->ds[c].nranges; k++) {
            td_lib0_write_varuint(e, self->ds[c].ranges[k].clock);
            td_lib0_write_varuint(e, self->ds[c].ranges[k].len);
        }
    }
    return e->err;
}

/* ---- merge --------------------------------------------------------------------------------------
 */

/* A struct being carried by the merge: the decoded struct, how far into it we are (items), and
 * for GC and Skip structs the adjusted id and length directly in s. */
typedef struct s_cur {
    td_ystruct_t s;
    uint64_t off;
} s_cur_t;

static uint64_t s_cur_clock(const s_cur_t *c)
{
    return c->s.id.clock + c->off;
}

static uint64_t s_cur_end(const s_cur_t *c)
{
    return c->s.id.clock + c->s.len;
}

/* One input of the merge: a reader over its structs with Skips filtered out. */
typedef struct s_reader {
    const td_yupdate_t *u;
    size_t i;
    s_cur_t cur;
    bool has;
} s_reader_t;

static void s_reader_next(s_reader_t *r, bool filter_skips)
{
    r->has = false;
    while (r->i < r->u->nstructs) {
        const td_ystruct_t *s = &r->u->structs[r->i++];
        if (filter_skips && s->kind == TD_YSTRUCT_SKIP)
            continue;
        r->cur = (s_cur_t){*s, 0};
        r->has = true;
        return;
    }
}

/* The order in which yjs's merge picks decoders: higher clients first, then lower clocks. */
static int s_reader_cmp(const s_reader_t *a, const s_reader_t *b)
{
    uint64_t ca = a->cur.s.id.client, cb = b->cur.s.id.client;
    if (ca != cb)
        return ca > cb ? -1 : 1;
    uint64_t ka = s_cur_clock(&a->cur), kb = s_cur_clock(&b->cur);
    return ka < kb ? -1 : ka > kb;
}

/* yjs's mergeWith for structs read without a document: only GC+GC and Skip+Skip merge. */
static bool s_cur_merge(s_cur_t *left, const s_cur_t *right)
{
    if (left->s.kind != right->s.kind || left->s.kind == TD_YSTRUCT_ITEM)
        return false;
    left->s.len += right->s.len - right->off;
    return true;
}

/* Slices diff clocks off the front of c (yjs sliceStruct). */
static void s_cur_slice(s_cur_t *c, uint64_t diff)
{
    if (c->s.kind == TD_YSTRUCT_ITEM) {
        c->off += diff;
    } else {
        c->s.id.clock += diff;
        c->s.len -= diff;
    }
}

static int s_merge_structs(s_reader_t *rs, size_t n, td__ylazy_t *w)
{
    s_cur_t cw;
    bool have_cw = false;
    int rc = 0;
    for (;;) {
        /* Drop finished readers and order the rest; insertion sort keeps it stable like JS. */
        size_t live = 0;
        for (size_t i = 0; i < n; i++)
            if (rs[i].has)
                rs[live++] = rs[i];
        n = live;
        for (size_t i = 1; i < n; i++) {
            s_reader_t t = rs[i];
            size_t j = i;
            while (j > 0 && s_reader_cmp(&rs[j - 1], &t) > 0) {
                rs[j] = rs[j - 1];
                j--;
            }
            rs[j] = t;
        }
        if (n == 0)
            break;
        s_reader_t *cd = &rs[0];
        uint64_t first_client = cd->cur.s.id.client;
        if (have_cw) {
            bool iterated = false;
            while (cd->has && s_cur_end(&cd->cur) <= s_cur_end(&cw) &&
                   cd->cur.s.id.client >= cw.s.id.client) {
                s_reader_next(cd, true);
                iterated = true;
            }
            if (!cd->has || cd->cur.s.id.client != first_client ||
                (iterated && s_cur_clock(&cd->cur) > s_cur_end(&cw)))
                continue;
            s_cur_t curr = cd->cur;
            if (first_client != cw.s.id.client) {
                if ((rc = td__ylazy_write(w, &cw.s, cw.off)) != 0)
                    return rc;
                cw = curr;
                s_reader_next(cd, true);
            } else if (s_cur_end(&cw) < s_cur_clock(&curr)) {
                if (cw.s.kind == TD_YSTRUCT_SKIP) {
                    cw.s.len = s_cur_end(&curr) - cw.s.id.clock;
                } else {
                    if ((rc = td__ylazy_write(w, &cw.s, cw.off)) != 0)
                        return rc;
                    uint64_t end = s_cur_end(&cw);
                    memset(&cw, 0, sizeof cw);
                    cw.s.kind = TD_YSTRUCT_SKIP;
                    cw.s.id = (td_yid_t){first_client, end};
                    cw.s.len = s_cur_clock(&curr) - end;
                }
            } else {
                uint64_t diff = s_cur_end(&cw) - s_cur_clock(&curr);
                if (diff > 0) {
                    if (cw.s.kind == TD_YSTRUCT_SKIP)
                        cw.s.len -= diff;
                    else
                        s_cur_slice(&curr, diff);
                }
                if (!s_cur_merge(&cw, &curr)) {
                    if ((rc = td__ylazy_write(w, &cw.s, cw.off)) != 0)
                        return rc;
                    cw = curr;
                    s_reader_next(cd, true);
                }
            }
        } else {
            cw = cd->cur;
            have_cw = true;
            s_reader_next(cd, true);
        }
        while (cd->has && cd->cur.s.id.client == first_client &&
               s_cur_clock(&cd->cur) == s_cur_end(&cw) && cd->cur.s.kind != TD_YSTRUCT_SKIP) {
            if ((rc = td__ylazy_write(w, &cw.s, cw.off)) != 0)
                return rc;
            cw = cd->cur;
            s_reader_next(cd, true);
        }
    }
    if (have_cw)
        rc = td__ylazy_write(w, &cw.s, cw.off);
    return rc;
}

/* Decodes updates[i], prefixing the error text with the update's index. */
static int s_decode_nth(const td_bytes_t *updates, size_t i, td_yupdate_t **out, td_error_t *err)
{
    td_error_t local = {0};
    ssize_t r = td_yupdate_decode(updates[i].data, updates[i].len, out, &local);
    if (r < 0)
        return td_error_set(err, (int)r, local.offset, "update %zu: %s", i, local.text);
    return 0;
}

int td_yupdate_merge(const td_bytes_t *updates, size_t n, td_lib0_enc_t *out, td_error_t *err)
{
    if (n == 0) {
        td_lib0_write_raw(out, "\x00\x00", 2);
        return out->err;
    }
    td_yupdate_t **us = calloc(n, sizeof *us);
    s_reader_t *rs = calloc(n, sizeof *rs);
    td__ylazy_t w;
    td__ylazy_init(&w);
    td__yds_t ds = {0};
    int rc = (us && rs) ? 0 : TD_ENOMEM;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = s_decode_nth(updates, i, &us[i], err);
    if (rc == 0 && n == 1) {
        td_lib0_write_raw(out, updates[0].data, updates[0].len);
        rc = out->err;
        goto done;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        rs[i] = (s_reader_t){.u = us[i]};
        s_reader_next(&rs[i], true);
    }
    if (rc == 0)
        rc = s_merge_structs(rs, n, &w);
    if (rc == 0)
        rc = td__ylazy_finish(&w, out);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = s_ds_collect(us[i], &ds);
    if (rc == 0)
        rc = td__yds_sort(&ds, true);
    if (rc == 0) {
        td__yds_write(&ds, out);
        rc = out->err;
    }
done:
    if (rc == TD_ENOMEM)
        td_error_set(err, rc, 0, "out of memory");
    for (size_t i = 0; us && i < n; i++)
        td_yupdate_destroy(&us[i]);
    free(us);
    free(rs);
    td__ylazy_fini(&w);
    td__yds_fini(&ds);
    return rc;
}

/* ---- diff and state vector ------------------------------------------------------------------- */

int td_yupdate_diff(const uint8_t *update, size_t n, const uint8_t *sv, size_t sv_len,
                    td_lib0_enc_t *out, td_error_t *err)
{
    td_yupdate_t *u = NULL;
    td_ysv_t *state = NULL;
    td__ylazy_t w;
    td__ylazy_init(&w);
    td__yds_t ds = {0};
    ssize_t r = td_ysv_decode(sv, sv_len, &state, err);
    if (r >= 0)
        r = td_yupdate_decode(update, n, &u, err);
    int rc = r < 0 ? (int)r : 0;
    size_t i = 0;
    while (rc == 0 && i < (u ? u->nstructs : 0)) {
        const td_ystruct_t *s = &u->structs[i];
        uint64_t client = s->id.client, svc = td_ysv_get(state, client);
        if (s->kind == TD_YSTRUCT_SKIP) {
            i++;
            continue;
        }
        if (s->id.clock + s->len > svc) {
            uint64_t off = svc > s->id.clock ? svc - s->id.clock : 0;
            rc = td__ylazy_write(&w, s, off);
            for (i++; rc == 0 && i < u->nstructs && u->structs[i].id.client == client; i++)
                rc = td__ylazy_write(&w, &u->structs[i], 0);
        } else {
            while (i < u->nstructs && u->structs[i].id.client == client &&
                   u->structs[i].id.clock + u->structs[i].len <= svc)
                i++;
        }
    }
    if (rc == 0)
        rc = td__ylazy_finish(&w, out);
    if (rc == 0)
        rc = s_ds_collect(u, &ds);
    if (rc == 0)
        rc = td__yds_sort(&ds, false);
    if (rc == 0) {
        td__yds_write(&ds, out);
        rc = out->err;
    }
    if (rc == TD_ENOMEM)
        td_error_set(err, rc, 0, "out of memory");
    td_yupdate_destroy(&u);
    td_ysv_destroy(&state);
    td__ylazy_fini(&w);
    td__yds_fini(&ds);
    return rc;
}

int td_yupdate_state_vector(const uint8_t *update, size_t n, td_lib0_enc_t *out, td_error_t *err)
{
    td_yupdate_t *u = NULL;
    ssize_t r = td_yupdate_decode(update, n, &u, err);
    if (r < 0)
        return (int)r;
    td_lib0_enc_t body;
    td_lib0_enc_init(&body);
    size_t size = 0;
    if (u->nstructs > 0) {
        const td_ystruct_t *s = &u->structs[0];
        uint64_t client = s->id.client, clock = 0;
        bool stop = s->id.clock != 0;
        for (size_t i = 0; i < u->nstructs; i++) {
            s = &u->structs[i];
            if (s->id.client != client) {
                if (clock != 0) {
                    size++;
                    td_lib0_write_varuint(&body, client);
                    td_lib0_write_varuint(&body, clock);
                }
                client = s->id.client;
                clock = 0;
                stop = s->id.clock != 0;
            }
            if (s->kind == TD_YSTRUCT_SKIP)
                stop = true;
            if (!stop)
                clock = s->id.clock + s->len;
        }
        if (clock != 0) {
            size++;
            td_lib0_write_varuint(&body, client);
            td_lib0_write_varuint(&body, clock);
        }
    }
    td_lib0_write_varuint(out, size);
    td_lib0_write_raw(out, body.buf, body.len);
    int rc = body.err ? body.err : out->err;
    td_lib0_enc_fini(&body);
    td_yupdate_destroy(&u);
    if (rc != 0)
        td_error_set(err, rc, 0, "out of memory");
    return rc;
}

/* ---- state vectors ----------------------------------------------------------------------------
 */

struct td_ysv {
    td__u64map_t index; /* client -> position in ent */
    struct s_sv_entry {
        uint64_t client, clock;
    } * ent;
    size_t n, cap;
};

td_ysv_t *td_ysv_new(void)
{
    return calloc(1, sizeof(td_ysv_t));
}

void td_ysv_destroy(td_ysv_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    td__u64map_fini(&(*self_p)->index);
    free((*self_p)->ent);
    free(*self_p);
    *self_p = NULL;
}

uint64_t td_ysv_get(const td_ysv_t *self, uint64_t client)
{
    size_t *at = td__u64map_get(&self->index, client);
    return at ? self->ent[*at].clock : 0;
}

int td_ysv_set(td_ysv_t *self, uint64_t client, uint64_t clock)
{
    size_t *at = td__u64map_get(&self->index, client);
    if (at) {
        self->ent[*at].clock = clock;
        return 0;
    }
    if (self->n == self->cap) {
        size_t nc = self->cap ? self->cap * 2 : 8;
        struct s_sv_entry *ne = realloc(self->ent, nc * sizeof *ne);
        if (ne == NULL)
            return TD_ENOMEM;
        self->ent = ne;
        self->cap = nc;
    }
    if (td__u64map_put(&self->index, client, self->n) != 0)
        return TD_ENOMEM;
    self->ent[self->n++] = (struct s_sv_entry){client, clock};
    return 0;
}

size_t td_ysv_count(const td_ysv_t *self)
{
    return self->n;
}

void td_ysv_entry(const td_ysv_t *self, size_t i, uint64_t *client, uint64_t *clock)
{
    *client = self->ent[i].client;
    *clock = self->ent[i].clock;
}

ssize_t td_ysv_decode(const uint8_t *p, size_t n, td_ysv_t **out, td_error_t *err)
{
    *out = NULL;
    td_ysv_t *sv = td_ysv_new();
    if (sv == NULL)
        return td_error_set(err, TD_ENOMEM, 0, "out of memory");
    td_lib0_dec_t d;
    td_lib0_dec_init(&d, p, n, err);
    uint64_t count;
    int rc = s_count(&d, 2, &count);
    for (uint64_t i = 0; i < count && rc == 0; i++) {
        uint64_t client, clock;
        if ((rc = td_lib0_dec_varuint(&d, &client)) == 0 &&
            (rc = td_lib0_dec_varuint(&d, &clock)) == 0 &&
            (rc = td_ysv_set(sv, client, clock)) != 0)
            td_error_set(err, rc, d.pos, "out of memory");
    }
    if (rc == 0 && d.pos != n)
        rc = s_fail(&d, d.pos, "trailing bytes after the state vector");
    if (rc != 0) {
        td_ysv_destroy(&sv);
        return rc;
    }
    *out = sv;
    return (ssize_t)n;
}

static int s_sv_cmp(const void *a, const void *b)
{
    uint64_t x = ((const struct s_sv_entry *)a)->client, y = ((const struct s_sv_entry *)b)->client;
    return x > y ? -1 : x < y;
}

int td_ysv_encode(const td_ysv_t *self, td_lib0_enc_t *e)
{
    struct s_sv_entry *t = self->n ? malloc(self->n * sizeof *t) : NULL;
    if (self->n && t == NULL)
        return e->err = TD_ENOMEM;
    if (self->n)
        memcpy(t, self->ent, self->n * sizeof *t);
    if (self->n > 1)
        qsort(t, self->n, sizeof *t, s_sv_cmp);
    td_lib0_write_varuint(e, self->n);
    for (size_t i = 0; i < self->n; i++) {
        td_lib0_write_varuint(e, t[i].client);
        td_lib0_write_varuint(e, t[i].clock);
    }
    free(t);
    return e->err;
}
