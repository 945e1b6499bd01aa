/* crdt_driver.c: the C side of the differential test (run.mjs). Reads one JSON object per line,
 * each a seed's update log recorded from yjs peers, and answers one JSON object per line with what
 * Tandem's engine makes of it:
 *
 *   in:  {seed, roots: [[name, kind]], updates: [hex], order: [index], prefix, prefix_sv: hex,
 *         chunks: [size], yupdates: [hex], edits, client}
 *   out: {seed, json, delta, sv, state, pending,                 the log applied in order
 *         json_shuffled, delta_shuffled, sv_shuffled,            in `order` (shuffled, duplicates)
 *         json_chunks,                                           `order` cut into chunks, each
 *                                                                merged with td_yupdate_merge
 *         merged, json_merged, sv_from_update,                   the whole log merged
 *         diff, json_diff, json_state_diff,                      prefix + diff against prefix_sv,
 *                                                                prefix + encode_state_as_update
 *         cedits, json_final, delta_final}                       our own random edits (their
 *                                                                updates), then yupdates applied
 *   or:  {seed, error}
 *
 * The local edits go through the public editing API (td_ytype.h) and are chosen by a PRNG seeded
 * with the seed; text positions never split a surrogate pair (yjs diverges when they do). One
 * process handles a whole batch, so thousands of seeds cost a few process starts. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "td/td_lib0.h"
#include "td/td_ydoc.h"
#include "td/td_ytype.h"
#include "td/td_yupdate.h"

typedef struct s_buf {
    uint8_t *data;
    size_t len;
} s_buf_t;

typedef struct s_ctx {
    json_t *in;
    json_t *out;
    s_buf_t *updates;
    size_t nupdates;
    char err[512];
    uint64_t rng;
} s_ctx_t;

#define S_FAIL(ctx, ...)                                                                           \
    do {                                                                                           \
        if (!(ctx)->err[0])                                                                        \
            snprintf((ctx)->err, sizeof(ctx)->err, __VA_ARGS__);                                   \
        return -1;                                                                                 \
    } while (0)

/* ---- helpers --------------------------------------------------------------------------------- */

static int s_unhex(const char *hex, s_buf_t *out)
{
    size_t n = strlen(hex);
    if (n % 2)
        return -1;
    out->len = n / 2;
    out->data = malloc(out->len + 1);
    if (!out->data)
        return -1;
    for (size_t i = 0; i < out->len; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return -1;
        out->data[i] = (uint8_t)v;
    }
    return 0;
}

static json_t *s_hex(const uint8_t *p, size_t n)
{
    char *s = malloc(2 * n + 1);
    for (size_t i = 0; i < n; i++)
        snprintf(s + 2 * i, 3, "%02x", p[i]);
    s[2 * n] = 0;
    json_t *j = json_string(s);
    free(s);
    return j;
}

static uint64_t s_rand(s_ctx_t *c)
{
    /* splitmix64 */
    uint64_t z = (c->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static size_t s_int(s_ctx_t *c, size_t n)
{
    return n ? (size_t)(s_rand(c) % n) : 0;
}

static int s_kind(const char *word)
{
    return strcmp(word, "text") == 0  ? TD_YTYPE_TEXT
           : strcmp(word, "map") == 0 ? TD_YTYPE_MAP
                                      : TD_YTYPE_ARRAY;
}

/* A fresh document (client id `client`) with the seed's roots declared. */
static td_ydoc_t *s_doc(s_ctx_t *c, uint64_t client)
{
    td_ydoc_t *doc = td_ydoc_new(NULL, client);
    json_t *roots = json_object_get(c->in, "roots");
    size_t i;
    json_t *r;
    json_array_foreach(roots, i, r)
    {
        if (!td_ydoc_get(doc, json_string_value(json_array_get(r, 0)),
                         s_kind(json_string_value(json_array_get(r, 1)))))
            return NULL;
    }
    return doc;
}

static int s_apply(s_ctx_t *c, td_ydoc_t *doc, const uint8_t *p, size_t n, const char *what)
{
    td_error_t err = {0};
    int rc = td_ydoc_apply_update(doc, p, n, NULL, &err);
    if (rc != 0)
        S_FAIL(c, "%s: apply: %s at %zu: %s", what, td_strerror(rc), err.offset, err.text);
    return 0;
}

static json_t *s_delta(td_ydoc_t *doc)
{
    return td_ytext_delta(td_ydoc_get(doc, "text", TD_YTYPE_TEXT));
}

static json_t *s_sv(td_ydoc_t *doc)
{
    td_lib0_enc_t e;
    td_lib0_enc_init(&e);
    td_ydoc_encode_state_vector(doc, &e);
    json_t *j = s_hex(e.buf, e.len);
    td_lib0_enc_fini(&e);
    return j;
}

/* ---- replays --------------------------------------------------------------------------------- */

static int s_in_order(s_ctx_t *c)
{
    td_ydoc_t *doc = s_doc(c, 0x7ffffff0);
    if (!doc)
        S_FAIL(c, "no doc");
    for (size_t i = 0; i < c->nupdates; i++) {
        char what[32];
        snprintf(what, sizeof what, "in order #%zu", i);
        if (s_apply(c, doc, c->updates[i].data, c->updates[i].len, what) != 0) {
            td_ydoc_destroy(&doc);
            return -1;
        }
    }
    json_object_set_new(c->out, "json", td_ydoc_to_json(doc));
    json_object_set_new(c->out, "delta", s_delta(doc));
    json_object_set_new(c->out, "sv", s_sv(doc));
    json_object_set_new(c->out, "pending", json_boolean(td_ydoc_has_pending(doc)));
    td_lib0_enc_t e;
    td_lib0_enc_init(&e);
    int rc = td_ydoc_encode_state_as_update(doc, NULL, 0, &e, NULL);
    json_object_set_new(c->out, "state", s_hex(e.buf, e.len));
    td_lib0_enc_fini(&e);
    td_ydoc_destroy(&doc);
    if (rc != 0)
        S_FAIL(c, "encode_state_as_update: %s", td_strerror(rc));
    return 0;
}

static int s_shuffled(s_ctx_t *c)
{
    td_ydoc_t *doc = s_doc(c, 0x7ffffff1);
    json_t *order = json_object_get(c->in, "order");
    size_t i;
    json_t *ix;
    json_array_foreach(order, i, ix)
    {
        size_t k = (size_t)json_integer_value(ix);
        char what[48];
        snprintf(what, sizeof what, "shuffled #%zu (update %zu)", i, k);
        if (k >= c->nupdates || s_apply(c, doc, c->updates[k].data, c->updates[k].len, what)) {
            td_ydoc_destroy(&doc);
            return -1;
        }
    }
    json_object_set_new(c->out, "json_shuffled", td_ydoc_to_json(doc));
    json_object_set_new(c->out, "delta_shuffled", s_delta(doc));
    json_object_set_new(c->out, "sv_shuffled", s_sv(doc));
    td_ydoc_destroy(&doc);
    return 0;
}

static int s_merge(s_ctx_t *c, const size_t *idx, size_t n, td_lib0_enc_t *out)
{
    td_bytes_t *v = calloc(n + 1, sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = (td_bytes_t){c->updates[idx[i]].data, c->updates[idx[i]].len};
    td_error_t err = {0};
    int rc = td_yupdate_merge(v, n, out, &err);
    free(v);
    if (rc != 0)
        S_FAIL(c, "merge of %zu updates: %s at %zu: %s", n, td_strerror(rc), err.offset, err.text);
    return 0;
}

static int s_chunks(s_ctx_t *c)
{
    json_t *order = json_object_get(c->in, "order");
    json_t *chunks = json_object_get(c->in, "chunks");
    size_t n = json_array_size(order);
    size_t *idx = calloc(n + 1, sizeof *idx);
    for (size_t i = 0; i < n; i++)
        idx[i] = (size_t)json_integer_value(json_array_get(order, i));
    td_ydoc_t *doc = s_doc(c, 0x7ffffff2);
    size_t at = 0, i;
    json_t *sz;
    int rc = 0;
    json_array_foreach(chunks, i, sz)
    {
        size_t k = (size_t)json_integer_value(sz);
        td_lib0_enc_t e;
        td_lib0_enc_init(&e);
        rc = at + k <= n ? s_merge(c, idx + at, k, &e) : -1;
        if (rc == 0)
            rc = s_apply(c, doc, e.buf, e.len, "merged chunk");
        td_lib0_enc_fini(&e);
        if (rc != 0)
            break;
        at += k;
    }
    if (rc == 0)
        json_object_set_new(c->out, "json_chunks", td_ydoc_to_json(doc));
    td_ydoc_destroy(&doc);
    free(idx);
    return rc;
}

/* The whole log merged; the prefix plus diff; the prefix plus the full doc's diff encoding. */
static int s_merged_and_diff(s_ctx_t *c)
{
    size_t *idx = calloc(c->nupdates + 1, sizeof *idx);
    for (size_t i = 0; i < c->nupdates; i++)
        idx[i] = i;
    td_lib0_enc_t merged, diff, sv, sd;
    td_lib0_enc_init(&merged);
    td_lib0_enc_init(&diff);
    td_lib0_enc_init(&sv);
    td_lib0_enc_init(&sd);
    s_buf_t psv = {0};
    td_ydoc_t *full = s_doc(c, 0x7ffffff3), *pre = s_doc(c, 0x7ffffff4),
              *pre2 = s_doc(c, 0x7ffffff5);
    size_t prefix = (size_t)json_integer_value(json_object_get(c->in, "prefix"));
    int rc = s_merge(c, idx, c->nupdates, &merged);
    if (rc == 0) {
        json_object_set_new(c->out, "merged", s_hex(merged.buf, merged.len));
        rc = s_apply(c, full, merged.buf, merged.len, "merged log");
    }
    if (rc == 0) {
        json_object_set_new(c->out, "json_merged", td_ydoc_to_json(full));
        td_error_t err = {0};
        rc = td_yupdate_state_vector(merged.buf, merged.len, &sv, &err);
        if (rc != 0)
            snprintf(c->err, sizeof c->err, "state_vector from update: %s", err.text);
        else
            json_object_set_new(c->out, "sv_from_update", s_hex(sv.buf, sv.len));
    }
    if (rc == 0 && s_unhex(json_string_value(json_object_get(c->in, "prefix_sv")), &psv) != 0)
        rc = -1;
    if (rc == 0) {
        td_error_t err = {0};
        rc = td_yupdate_diff(merged.buf, merged.len, psv.data, psv.len, &diff, &err);
        if (rc != 0)
            snprintf(c->err, sizeof c->err, "diff: %s at %zu: %s", td_strerror(rc), err.offset,
                     err.text);
        else
            json_object_set_new(c->out, "diff", s_hex(diff.buf, diff.len));
    }
    for (size_t i = 0; i < prefix && i < c->nupdates && rc == 0; i++) {
        rc = s_apply(c, pre, c->updates[i].data, c->updates[i].len, "prefix");
        if (rc == 0)
            rc = s_apply(c, pre2, c->updates[i].data, c->updates[i].len, "prefix");
    }
    if (rc == 0)
        rc = s_apply(c, pre, diff.buf, diff.len, "prefix + diff");
    if (rc == 0) {
        json_object_set_new(c->out, "json_diff", td_ydoc_to_json(pre));
        td_error_t err = {0};
        rc = td_ydoc_encode_state_as_update(full, psv.data, psv.len, &sd, &err);
        if (rc != 0)
            snprintf(c->err, sizeof c->err, "encode_state_as_update(sv): %s", err.text);
    }
    if (rc == 0)
        rc = s_apply(c, pre2, sd.buf, sd.len, "prefix + encode_state_as_update(sv)");
    if (rc == 0)
        json_object_set_new(c->out, "json_state_diff", td_ydoc_to_json(pre2));
    td_ydoc_destroy(&full);
    td_ydoc_destroy(&pre);
    td_ydoc_destroy(&pre2);
    td_lib0_enc_fini(&merged);
    td_lib0_enc_fini(&diff);
    td_lib0_enc_fini(&sv);
    td_lib0_enc_fini(&sd);
    free(psv.data);
    free(idx);
    return rc;
}

/* ---- local edits ----------------------------------------------------------------------------- */

static const char *const s_pieces[] = {"a",
                                       "b",
                                       "xyz",
                                       "hello ",
                                       "\n",
                                       " ",
                                       "\xc3\xa9",
                                       "e\xcc\x81",
                                       "\xe6\xbc\xa2\xe5\xad\x97",
                                       "\xf0\x9f\x98\x80",
                                       "\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd",
                                       "\xf0\x9d\x84\x9e",
                                       "ok\xf0\x9f\x98\x80ok",
                                       "\"q\"",
                                       "\\"};
static const char *const s_keys[] = {"a", "b", "c", "d", "src", "\xc3\xbc", "\xf0\x9f\x94\x91"};
static const char *const s_attrs[] = {"{\"bold\":true}", "{\"italic\":true}", "{\"bold\":null}",
                                      "{\"color\":\"#00ff00\"}", "{\"bold\":true,\"italic\":true}"};

#define S_N(a) (sizeof(a) / sizeof((a)[0]))

static void s_rand_str(s_ctx_t *c, char *out, size_t cap)
{
    out[0] = 0;
    for (size_t i = 0, n = 1 + s_int(c, 3); i < n; i++)
        strncat(out, s_pieces[s_int(c, S_N(s_pieces))], cap - strlen(out) - 1);
}

static json_t *s_rand_value(s_ctx_t *c, int depth)
{
    char s[64];
    switch (s_int(c, depth > 1 ? 6 : 8)) {
    case 0:
        return json_integer((json_int_t)s_int(c, 1000) - 500);
    case 1:
        return json_real(s_int(c, 2) ? 1.5 : -0.25);
    case 2:
        s_rand_str(c, s, sizeof s);
        return json_string(s);
    case 3:
        return json_boolean(s_int(c, 2));
    case 4:
        return json_null();
    case 5:
        return json_integer((json_int_t)s_int(c, 1u << 31));
    case 6:
        return json_pack("[oo]", s_rand_value(c, depth + 1), s_rand_value(c, depth + 1));
    default:
        return json_pack("{so}", s_keys[s_int(c, S_N(s_keys))], s_rand_value(c, depth + 1));
    }
}

/* Moves idx off the second half of a surrogate pair (a 4-byte UTF-8 sequence). */
static size_t s_snap(td_ytype_t *t, size_t idx)
{
    json_t *delta = td_ytext_delta(t);
    size_t pos = 0, i;
    json_t *op;
    json_array_foreach(delta, i, op)
    {
        json_t *ins = json_object_get(op, "insert");
        size_t units = json_is_string(ins)
                           ? td_lib0_utf16_len((const uint8_t *)json_string_value(ins),
                                               json_string_length(ins))
                           : 1;
        if (idx < pos + units) {
            bool split = false;
            if (json_is_string(ins))
                td_lib0_utf8_offset((const uint8_t *)json_string_value(ins),
                                    json_string_length(ins), idx - pos, &split);
            json_decref(delta);
            return split ? idx - 1 : idx;
        }
        pos += units;
    }
    json_decref(delta);
    return idx;
}

static size_t s_rand_index(s_ctx_t *c, size_t len)
{
    size_t r = s_int(c, 100);
    return r < 25 ? 0 : r < 45 ? len : s_int(c, len + 1);
}

static int s_text_op(s_ctx_t *c, td_ytype_t *t)
{
    size_t len = td_ytype_len(t);
    size_t r = s_int(c, 100);
    if (r < 50 || len == 0) {
        size_t idx = s_snap(t, s_rand_index(c, len));
        char s[64];
        s_rand_str(c, s, sizeof s);
        json_t *attrs =
            s_int(c, 4) == 0 ? json_loads(s_attrs[s_int(c, S_N(s_attrs))], 0, NULL) : NULL;
        int rc;
        if (s_int(c, 25) == 0) {
            json_t *embed = json_pack("{ss}", "image", "c.png");
            rc = td_ytext_insert_embed(t, idx, embed, attrs);
            json_decref(embed);
        } else {
            rc = td_ytext_insert(t, idx, s, strlen(s), attrs);
        }
        json_decref(attrs);
        return rc;
    }
    size_t idx = s_snap(t, s_int(c, len));
    size_t end = s_snap(t, idx + 1 + s_int(c, (len - idx) < 8 ? len - idx : 8));
    if (end <= idx)
        return 0;
    if (r < 80)
        return td_ytext_delete(t, idx, end - idx);
    json_t *attrs = json_loads(s_attrs[s_int(c, S_N(s_attrs))], 0, NULL);
    int rc = td_ytext_format(t, idx, end - idx, attrs);
    json_decref(attrs);
    return rc;
}

static int s_nested_op(s_ctx_t *c, td_ytype_t *t);

/* A nested type like session.mjs's prelims: a Map holding a Text, a Text, or an Array. */
static int s_fill_new(s_ctx_t *c, td_ytype_t *t)
{
    char s[64];
    s_rand_str(c, s, sizeof s);
    if (td_ytype_kind(t) == TD_YTYPE_TEXT)
        return td_ytext_insert(t, 0, s, strlen(s), NULL);
    if (td_ytype_kind(t) == TD_YTYPE_ARRAY) {
        json_t *v = json_pack("[o]", s_rand_value(c, 1));
        int rc = td_yarray_insert_json(t, 0, v);
        json_decref(v);
        return rc;
    }
    td_ytype_t *src = NULL;
    int rc = td_ymap_set_type(t, "src", TD_YTYPE_TEXT, NULL, &src);
    return rc ? rc : td_ytext_insert(src, 0, s, strlen(s), NULL);
}

static int s_rand_kind(s_ctx_t *c)
{
    static const int kinds[] = {TD_YTYPE_MAP, TD_YTYPE_TEXT, TD_YTYPE_ARRAY};
    return kinds[s_int(c, 3)];
}

static int s_array_op(s_ctx_t *c, td_ytype_t *a)
{
    size_t len = td_ytype_len(a);
    size_t r = s_int(c, 100);
    if (r < 45 || len == 0) {
        size_t idx = s_rand_index(c, len);
        if (s_int(c, 4) == 0) {
            td_ytype_t *t = NULL;
            int rc = td_yarray_insert_type(a, idx, s_rand_kind(c), NULL, &t);
            return rc ? rc : s_fill_new(c, t);
        }
        json_t *vals = json_array();
        for (size_t i = 0, n = 1 + s_int(c, 3); i < n; i++)
            json_array_append_new(vals, s_rand_value(c, 0));
        int rc = td_yarray_insert_json(a, idx, vals);
        json_decref(vals);
        return rc;
    }
    if (r < 70) {
        size_t idx = s_int(c, len);
        return td_yarray_delete(a, idx, 1 + s_int(c, (len - idx) < 3 ? len - idx : 3));
    }
    td_ytype_t *t = td_yarray_get_type(a, s_int(c, len));
    if (t)
        return s_nested_op(c, t);
    json_t *vals = json_pack("[o]", s_rand_value(c, 0));
    int rc = td_yarray_push_json(a, vals);
    json_decref(vals);
    return rc;
}

static int s_map_op(s_ctx_t *c, td_ytype_t *m)
{
    size_t r = s_int(c, 100);
    const char *key = s_keys[s_int(c, S_N(s_keys))];
    if (r < 35) {
        json_t *v = s_rand_value(c, 0);
        int rc = td_ymap_set_json(m, key, v);
        json_decref(v);
        return rc;
    }
    if (r < 50) {
        td_ytype_t *t = NULL;
        int rc = td_ymap_set_type(m, key, s_rand_kind(c), NULL, &t);
        return rc ? rc : s_fill_new(c, t);
    }
    if (r < 65)
        return td_ymap_has(m, key) ? td_ymap_delete(m, key) : 0;
    td_ytype_t *t = td_ymap_get_type(m, key);
    if (t)
        return s_nested_op(c, t);
    json_t *v = s_rand_value(c, 0);
    int rc = td_ymap_set_json(m, key, v);
    json_decref(v);
    return rc;
}

static int s_nested_op(s_ctx_t *c, td_ytype_t *t)
{
    switch (td_ytype_kind(t)) {
    case TD_YTYPE_TEXT:
        return s_text_op(c, t);
    case TD_YTYPE_ARRAY:
        return s_array_op(c, t);
    case TD_YTYPE_MAP: {
        td_ytype_t *src = td_ymap_get_type(t, "src");
        if (src && td_ytype_kind(src) == TD_YTYPE_TEXT && s_int(c, 10) < 7)
            return s_text_op(c, src);
        return s_map_op(c, t);
    }
    default:
        return 0;
    }
}

static void s_collect(td_ydoc_t *doc, const td_ytxn_info_t *info, void *arg)
{
    json_array_append_new((json_t *)arg, s_hex(info->update, info->update_len));
}

static int s_local_edits(s_ctx_t *c)
{
    uint64_t client = (uint64_t)json_integer_value(json_object_get(c->in, "client"));
    td_ydoc_t *doc = s_doc(c, client);
    json_t *cedits = json_array();
    json_object_set_new(c->out, "cedits", cedits);
    int rc = 0;
    for (size_t i = 0; i < c->nupdates && rc == 0; i++)
        rc = s_apply(c, doc, c->updates[i].data, c->updates[i].len, "edits base");
    if (rc == 0)
        rc = td_ydoc_observe(doc, s_collect, cedits);
    size_t nedits = (size_t)json_integer_value(json_object_get(c->in, "edits"));
    for (size_t i = 0; i < nedits && rc == 0; i++) {
        size_t ops = s_int(c, 5) == 0 ? 2 + s_int(c, 3) : 1;
        rc = td_ydoc_begin(doc, NULL);
        for (size_t k = 0; k < ops && rc == 0; k++) {
            size_t r = s_int(c, 100);
            if (r < 40)
                rc = s_text_op(c, td_ydoc_get(doc, "text", TD_YTYPE_TEXT));
            else if (r < 70)
                rc = s_map_op(c, td_ydoc_get(doc, "map", TD_YTYPE_MAP));
            else
                rc = s_array_op(c, td_ydoc_get(doc, "arr", TD_YTYPE_ARRAY));
            if (rc != 0)
                snprintf(c->err, sizeof c->err, "local edit %zu.%zu: %s", i, k, td_strerror(rc));
        }
        int crc = td_ydoc_commit(doc);
        if (rc == 0)
            rc = crc;
    }
    if (rc == 0)
        td_ydoc_unobserve(doc, s_collect, cedits);
    json_t *yups = json_object_get(c->in, "yupdates");
    size_t i;
    json_t *h;
    json_array_foreach(yups, i, h)
    {
        s_buf_t b;
        if (rc == 0 && s_unhex(json_string_value(h), &b) == 0) {
            rc = s_apply(c, doc, b.data, b.len, "yjs edit");
            free(b.data);
        }
    }
    if (rc == 0) {
        json_object_set_new(c->out, "json_final", td_ydoc_to_json(doc));
        json_object_set_new(c->out, "delta_final", s_delta(doc));
    }
    td_ydoc_destroy(&doc);
    if (rc != 0 && !c->err[0])
        snprintf(c->err, sizeof c->err, "local edits: %s", td_strerror(rc));
    return rc;
}

/* ---- main ------------------------------------------------------------------------------------ */

static void s_seed(json_t *in)
{
    s_ctx_t c = {.in = in, .out = json_object()};
    json_int_t seed = json_integer_value(json_object_get(in, "seed"));
    c.rng = (uint64_t)seed * 0x2545f4914f6cdd1dULL + 1;
    json_object_set_new(c.out, "seed", json_integer(seed));
    json_t *ups = json_object_get(in, "updates");
    c.nupdates = json_array_size(ups);
    c.updates = calloc(c.nupdates + 1, sizeof *c.updates);
    int rc = 0;
    for (size_t i = 0; i < c.nupdates && rc == 0; i++)
        rc = s_unhex(json_string_value(json_array_get(ups, i)), &c.updates[i]);
    if (rc == 0)
        rc = s_in_order(&c);
    if (rc == 0)
        rc = s_shuffled(&c);
    if (rc == 0)
        rc = s_chunks(&c);
    if (rc == 0)
        rc = s_merged_and_diff(&c);
    if (rc == 0)
        rc = s_local_edits(&c);
    if (rc != 0)
        json_object_set_new(c.out, "error", json_string(c.err[0] ? c.err : "failed"));
    char *line = json_dumps(c.out, JSON_COMPACT);
    puts(line);
    free(line);
    json_decref(c.out);
    for (size_t i = 0; i < c.nupdates; i++)
        free(c.updates[i].data);
    free(c.updates);
}

int main(int argc, char **argv)
{
    FILE *in = argc > 1 ? fopen(argv[1], "r") : stdin;
    if (!in) {
        perror(argv[1]);
        return 2;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, in)) > 0) {
        if (n <= 1)
            continue;
        json_error_t je;
        json_t *j = json_loads(line, 0, &je);
        if (!j) {
            fprintf(stderr, "crdt_driver: bad input line: %s\n", je.text);
            return 2;
        }
        s_seed(j);
        json_decref(j);
    }
    free(line);
    if (in != stdin)
        fclose(in);
    return 0;
}
