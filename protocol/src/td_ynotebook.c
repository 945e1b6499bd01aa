/* td_ynotebook.c: the notebook document model (@jupyter/ydoc 4.x schema) over td_ydoc_t. Four jobs:
 * load an nbformat 4 notebook into an empty document deterministically (client id 0, fixed key
 * order, deterministic cell ids), export the document back to nbformat 4.5, merge a notebook read
 * from disk into the live document as a minimal diff, and write kernel outputs into cells.
 *
 * Every notebook that comes in (file, base, or a peer's document on export) is untrusted. It is
 * first normalised into a private JSON shape ("norm"): {nbformat, nbformat_minor, metadata, cells}
 * with each cell {id?, cell_type, source: string, metadata: object, code: execution_count,
 * outputs; markdown/raw: attachments?} and multi-line lists joined. Only norm values reach the
 * writers, so a malformed file fails with TD_EPROTO before the document is touched.
 *
 * Merges are three-way per field: a field is written only where disk differs from the base (the
 * notebook as last loaded or saved; without one, the live document itself) and from live. Text is
 * rebased: the disk edit (common prefix and suffix of base and disk) is mapped through the live
 * edit onto the live text, as if the two edits had been concurrent CRDT edits. Nothing is written
 * when nothing differs, so a `touch` produces no update. The document's client id is swapped for
 * the caller's during load (0) and merge, then restored. */
#include <stdlib.h>
#include <string.h>

#include "td/td_sha.h"
#include "td/td_ynotebook.h"
#include "td_y_internal.h"

#define S_MAX_DEPTH 200 /* below lib0's `any` nesting bound, with room for the cell wrapper */
#define S_ID_MAX 64     /* nbformat cell ids: 1-64 characters of [A-Za-z0-9_-] */

/* ---- JSON helpers -----------------------------------------------------------------------------
 */

/* Deep equality where numbers compare by value (4 == 4.0): the engine reads integral floats back
 * as integers, and files may spell the same number either way. Objects compare unordered. */
static bool s_eq(const json_t *a, const json_t *b)
{
    if (a == b)
        return true;
    if (a == NULL || b == NULL)
        return false;
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    if (json_typeof(a) != json_typeof(b))
        return false;
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b))
            return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!s_eq(json_array_get(a, i), json_array_get(b, i)))
                return false;
        return true;
    }
    if (json_is_object(a)) {
        if (json_object_size(a) != json_object_size(b))
            return false;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)a, k, v)
        {
            if (!s_eq(v, json_object_get(b, k)))
                return false;
        }
        return true;
    }
    return json_equal((json_t *)a, (json_t *)b);
}

static size_t s_depth(const json_t *v)
{
    size_t d = 0;
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            size_t c = s_depth(json_array_get(v, i));
            d = c > d ? c : d;
        }
        return d + 1;
    }
    if (json_is_object(v)) {
        const char *k;
        json_t *c;
        json_object_foreach((json_t *)v, k, c)
        {
            size_t x = s_depth(c);
            d = x > d ? x : d;
        }
        return d + 1;
    }
    return 0;
}

/* A string (shared, not copied), or a list of strings joined (nbformat's multi-line string). New
 * reference; NULL when v is neither (or on OOM). */
static json_t *s_join(const json_t *v)
{
    if (json_is_string(v))
        return json_incref((json_t *)v);
    if (!json_is_array(v))
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(v); i++) {
        if (!json_is_string(json_array_get(v, i)))
            return NULL;
        n += json_string_length(json_array_get(v, i));
    }
    char *buf = malloc(n + 1);
    if (buf == NULL)
        return NULL;
    size_t at = 0;
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *s = json_array_get(v, i);
        memcpy(buf + at, json_string_value(s), json_string_length(s));
        at += json_string_length(s);
    }
    json_t *out = json_stringn_nocheck(buf, n);
    free(buf);
    return out;
}

/* nbformat's _is_json_mime: application/json and any type ending in +json keep their structure. */
static bool s_json_mime(const char *mime)
{
    size_t n = strlen(mime);
    return strcmp(mime, "application/json") == 0 || (n >= 5 && strcmp(mime + n - 5, "+json") == 0);
}

/* Rejoins the multi-line string values of a mime bundle in place (nbformat _rejoin_mimebundle). */
static int s_rejoin_bundle(json_t *bundle)
{
    if (!json_is_object(bundle))
        return 0;
    const char *k;
    json_t *v;
    json_object_foreach(bundle, k, v)
    {
        if (s_json_mime(k) || !json_is_array(v))
            continue;
        json_t *j = s_join(v);
        if (j == NULL)
            continue; /* not all strings: kept as it is, like nbformat */
        if (json_object_set_new(bundle, k, j) != 0)
            return TD_ENOMEM;
    }
    return 0;
}

/* Python's str.splitlines(True) on UTF-8: line ends are \n, \r, \r\n, \v, \f, \x1c-\x1e, U+0085,
 * U+2028 and U+2029. New array reference; NULL on OOM. */
static json_t *s_split(const char *s, size_t n)
{
    json_t *arr = json_array();
    size_t start = 0;
    for (size_t i = 0; arr != NULL && i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t end = 0;
        if (c == '\r')
            end = (i + 1 < n && s[i + 1] == '\n') ? i + 2 : i + 1;
        else if (c == '\n' || c == 0x0b || c == 0x0c || (c >= 0x1c && c <= 0x1e))
            end = i + 1;
        else if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] == 0x85)
            end = i + 2;
        else if (c == 0xe2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 &&
                 ((unsigned char)s[i + 2] == 0xa8 || (unsigned char)s[i + 2] == 0xa9))
            end = i + 3;
        if (end == 0) {
            i++;
            continue;
        }
        if (json_array_append_new(arr, json_stringn_nocheck(s + start, end - start)) != 0)
            json_decref(arr), arr = NULL;
        start = i = end;
    }
    if (arr != NULL && start < n &&
        json_array_append_new(arr, json_stringn_nocheck(s + start, n - start)) != 0)
        json_decref(arr), arr = NULL;
    return arr;
}

/* ---- normalisation of untrusted notebooks -----------------------------------------------------
 */

static bool s_valid_id(const json_t *id)
{
    if (!json_is_string(id))
        return false;
    size_t n = json_string_length(id);
    const char *s = json_string_value(id);
    if (n == 0 || n > S_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

/* @jupyter/ydoc's YBaseCell.setMetadata mirrors the legacy `collapsed` flag and
 * `jupyter.outputs_hidden` both ways; done here so our documents read back like theirs. */
static int s_mirror_collapsed(json_t *md)
{
    json_t *collapsed = json_object_get(md, "collapsed");
    json_t *jup = json_object_get(md, "jupyter");
    if (collapsed != NULL && !json_is_null(collapsed)) {
        if (jup == NULL || json_is_null(jup) || json_is_false(jup)) {
            if (json_object_set_new(md, "jupyter", json_object()) != 0)
                return TD_ENOMEM;
            jup = json_object_get(md, "jupyter");
        }
        if (json_is_object(jup) && json_object_set(jup, "outputs_hidden", collapsed) != 0)
            return TD_ENOMEM;
        return 0;
    }
    json_t *hidden = json_is_object(jup) ? json_object_get(jup, "outputs_hidden") : NULL;
    if (hidden != NULL && !json_is_null(hidden) && json_object_set(md, "collapsed", hidden) != 0)
        return TD_ENOMEM;
    return 0;
}

static int s_norm_output(const json_t *o, size_t ci, json_t **out, td_error_t *err)
{
    if (!json_is_object(o) || !json_is_string(json_object_get(o, "output_type")))
        return td_error_set(err, TD_EPROTO, 0,
                            "cell %zu: an output is not an object with output_type", ci);
    /* Shallow copies: the values (megabytes of output strings) are shared with o and never edited
     * in place; only the output object and its mime bundle are (lines joined, or split on export).
     */
    json_t *c = json_copy((json_t *)o);
    if (c == NULL)
        return TD_ENOMEM;
    const char *type = json_string_value(json_object_get(o, "output_type"));
    json_t *data = json_object_get(c, "data");
    int rc = 0;
    if (json_is_object(data) && json_object_set_new(c, "data", json_copy(data)) != 0)
        rc = TD_ENOMEM;
    if (rc == 0 && strcmp(type, "stream") == 0) {
        json_t *t = json_object_get(c, "text");
        json_t *j = t == NULL ? json_string("") : s_join(t);
        if (j == NULL)
            rc = td_error_set(err, TD_EPROTO, 0, "cell %zu: stream text is not a string", ci);
        else if (json_object_set_new(c, "text", j) != 0)
            rc = TD_ENOMEM;
    } else if (rc == 0 &&
               (strcmp(type, "execute_result") == 0 || strcmp(type, "display_data") == 0)) {
        rc = s_rejoin_bundle(json_object_get(c, "data"));
    }
    if (rc != 0) {
        json_decref(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* One cell into norm form. The id is kept only when valid; the caller handles duplicates. */
static int s_norm_cell(const json_t *cell, size_t ci, json_t **out, td_error_t *err)
{
    if (!json_is_object(cell))
        return td_error_set(err, TD_EPROTO, 0, "cell %zu is not an object", ci);
    const char *type = json_string_value(json_object_get(cell, "cell_type"));
    if (type == NULL ||
        (strcmp(type, "code") != 0 && strcmp(type, "markdown") != 0 && strcmp(type, "raw") != 0))
        return td_error_set(err, TD_EPROTO, 0, "cell %zu: cell_type is not code, markdown or raw",
                            ci);
    json_t *src = json_object_get(cell, "source");
    json_t *source = src == NULL || json_is_null(src) ? json_string("") : s_join(src);
    if (source == NULL)
        return td_error_set(err, TD_EPROTO, 0,
                            "cell %zu: source is not a string or list of strings", ci);
    json_t *md = json_object_get(cell, "metadata");
    if (md != NULL && !json_is_null(md) && !json_is_object(md)) {
        json_decref(source);
        return td_error_set(err, TD_EPROTO, 0, "cell %zu: metadata is not an object", ci);
    }
    json_t *c = json_object();
    json_t *mdc = json_is_object(md) ? json_deep_copy(md) : json_object();
    int rc = c == NULL || mdc == NULL ? TD_ENOMEM : 0;
    if (rc == 0 && s_valid_id(json_object_get(cell, "id")))
        rc = json_object_set(c, "id", json_object_get(cell, "id")) ? TD_ENOMEM : 0;
    if (rc == 0)
        rc = json_object_set_new(c, "cell_type", json_string(type)) ? TD_ENOMEM : 0;
    if (rc == 0)
        rc = json_object_set(c, "source", source) ? TD_ENOMEM : 0;
    if (rc == 0)
        rc = s_mirror_collapsed(mdc);
    if (rc == 0)
        rc = json_object_set(c, "metadata", mdc) ? TD_ENOMEM : 0;
    json_decref(source);
    json_decref(mdc);
    if (rc == 0 && strcmp(type, "code") == 0) {
        json_t *ec = json_object_get(cell, "execution_count");
        if (ec != NULL && !json_is_null(ec) &&
            !(json_is_number(ec) && json_number_value(ec) >= 0 &&
              json_number_value(ec) <= 9007199254740991.0 &&
              json_number_value(ec) == (double)(int64_t)json_number_value(ec)))
            rc = td_error_set(err, TD_EPROTO, 0, "cell %zu: execution_count is not a count or null",
                              ci);
        else
            rc = json_object_set_new(c, "execution_count",
                                     ec == NULL || json_is_null(ec)
                                         ? json_null()
                                         : json_integer((json_int_t)json_number_value(ec)))
                     ? TD_ENOMEM
                     : 0;
        json_t *outs = json_object_get(cell, "outputs");
        json_t *no = json_array();
        if (rc == 0 && no == NULL)
            rc = TD_ENOMEM;
        if (rc == 0 && outs != NULL && !json_is_null(outs) && !json_is_array(outs))
            rc = td_error_set(err, TD_EPROTO, 0, "cell %zu: outputs is not a list", ci);
        for (size_t i = 0; rc == 0 && json_is_array(outs) && i < json_array_size(outs); i++) {
            json_t *o = NULL;
            rc = s_norm_output(json_array_get(outs, i), ci, &o, err);
            if (rc == 0 && json_array_append_new(no, o) != 0)
                rc = TD_ENOMEM;
        }
        if (rc == 0)
            rc = json_object_set(c, "outputs", no) ? TD_ENOMEM : 0;
        json_decref(no);
    } else if (rc == 0) {
        json_t *att = json_object_get(cell, "attachments");
        if (att != NULL && !json_is_null(att)) {
            /* Shallow, as outputs: each bundle is copied, its values are shared. */
            json_t *ac = json_is_object(att) ? json_copy(att) : NULL;
            if (ac == NULL)
                rc = td_error_set(err, TD_EPROTO, 0, "cell %zu: attachments is not an object", ci);
            const char *k;
            json_t *v;
            if (rc == 0)
                json_object_foreach(ac, k, v)
                {
                    if (rc == 0 && json_is_object(v)) {
                        json_t *b = json_copy(v);
                        rc = json_object_set_new(ac, k, b) ? TD_ENOMEM : s_rejoin_bundle(b);
                    }
                }
            if (rc == 0)
                rc = json_object_set(c, "attachments", ac) ? TD_ENOMEM : 0;
            json_decref(ac);
        }
    }
    if (rc == 0 && s_depth(c) > S_MAX_DEPTH)
        rc = td_error_set(err, TD_EPROTO, 0, "cell %zu is nested too deeply", ci);
    if (rc != 0) {
        json_decref(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* A whole notebook into norm form. Ids that are invalid or repeat an earlier cell's are dropped
 * (the caller assigns them). */
static int s_norm(const json_t *nb, json_t **out, td_error_t *err)
{
    if (!json_is_object(nb))
        return td_error_set(err, TD_EPROTO, 0, "notebook is not a JSON object");
    const json_t *major = json_object_get(nb, "nbformat");
    const json_t *minor = json_object_get(nb, "nbformat_minor");
    if (major != NULL && !(json_is_number(major) && json_number_value(major) == 4))
        return td_error_set(err, TD_EPROTO, 0, "only nbformat 4 is supported");
    double mv = json_is_number(minor) ? json_number_value(minor) : -1;
    if (minor != NULL && !(mv >= 0 && mv < 1000 && mv == (double)(int)mv))
        return td_error_set(err, TD_EPROTO, 0, "nbformat_minor is not a small integer");
    const json_t *md = json_object_get(nb, "metadata");
    if (md != NULL && !json_is_object(md))
        return td_error_set(err, TD_EPROTO, 0, "notebook metadata is not an object");
    if (md != NULL && s_depth(md) > S_MAX_DEPTH)
        return td_error_set(err, TD_EPROTO, 0, "notebook metadata is nested too deeply");
    const json_t *cells = json_object_get(nb, "cells");
    if (cells != NULL && !json_is_array(cells))
        return td_error_set(err, TD_EPROTO, 0, "cells is not a list");

    json_t *n = json_object(), *nc = json_array(), *seen = json_object();
    json_t *mdc = md != NULL ? json_deep_copy(md) : json_object();
    int rc = n == NULL || nc == NULL || seen == NULL || mdc == NULL ? TD_ENOMEM : 0;
    if (rc == 0)
        json_object_del(mdc, "orig_nbformat"); /* as @jupyter/ydoc fromJSON */
    if (rc == 0 &&
        (json_object_set_new(n, "nbformat", json_integer(4)) ||
         json_object_set_new(n, "nbformat_minor", json_integer(minor ? (json_int_t)mv : 5)) ||
         json_object_set(n, "metadata", mdc)))
        rc = TD_ENOMEM;
    for (size_t i = 0; rc == 0 && cells != NULL && i < json_array_size(cells); i++) {
        json_t *c = NULL;
        rc = s_norm_cell(json_array_get(cells, i), i, &c, err);
        if (rc != 0)
            break;
        const char *id = json_string_value(json_object_get(c, "id"));
        if (id != NULL && json_object_get(seen, id) != NULL)
            json_object_del(c, "id");
        else if (id != NULL && json_object_set_new(seen, id, json_true()) != 0)
            rc = TD_ENOMEM;
        if (json_array_append_new(nc, c) != 0)
            rc = TD_ENOMEM;
    }
    if (rc == 0 && json_object_set(n, "cells", nc) != 0)
        rc = TD_ENOMEM;
    json_decref(nc);
    json_decref(mdc);
    json_decref(seen);
    if (rc != 0) {
        json_decref(n);
        return rc;
    }
    *out = n;
    return 0;
}

/* ---- deterministic cell ids -------------------------------------------------------------------
 */

/* A uuid-shaped id from SHA-256 of (salt, index, cell type, source, attempt), unused in `used`
 * (a JSON object used as a set; the new id is added). Deterministic: same inputs, same id. */
static int s_gen_id(json_t *used, const char *salt, size_t index, const json_t *cell)
{
    static const char hex[] = "0123456789abcdef";
    const char *type = json_string_value(json_object_get(cell, "cell_type"));
    const json_t *src = json_object_get(cell, "source");
    for (uint32_t attempt = 0;; attempt++) {
        td_sha_t sha;
        uint8_t dig[64];
        uint8_t num[12];
        for (int i = 0; i < 8; i++)
            num[i] = (uint8_t)((uint64_t)index >> (8 * i));
        for (int i = 0; i < 4; i++)
            num[8 + i] = (uint8_t)(attempt >> (8 * i));
        td_sha_init(&sha, TD_SHA256);
        td_sha_update(&sha, "tandem/ynotebook/cell-id/1", 27);
        td_sha_update(&sha, salt, strlen(salt) + 1);
        td_sha_update(&sha, num, sizeof num);
        td_sha_update(&sha, type, strlen(type) + 1);
        td_sha_update(&sha, json_string_value(src), json_string_length(src));
        td_sha_final(&sha, dig);
        char id[37];
        size_t o = 0;
        for (size_t i = 0; i < 16; i++) {
            if (i == 4 || i == 6 || i == 8 || i == 10)
                id[o++] = '-';
            id[o++] = hex[dig[i] >> 4];
            id[o++] = hex[dig[i] & 15];
        }
        id[o] = '\0';
        if (json_object_get(used, id) != NULL)
            continue;
        if (json_object_set_new(used, id, json_true()) != 0)
            return TD_ENOMEM;
        return json_object_set_new((json_t *)cell, "id", json_string(id)) ? TD_ENOMEM : 0;
    }
}

/* Gives every id-less cell of norm notebook n a deterministic id, unused in `used`. */
static int s_assign_ids(json_t *n, json_t *used, const char *salt)
{
    json_t *cells = json_object_get(n, "cells");
    for (size_t i = 0; i < json_array_size(cells); i++) {
        json_t *c = json_array_get(cells, i);
        const char *id = json_string_value(json_object_get(c, "id"));
        if (id != NULL && json_object_set_new(used, id, json_true()) != 0)
            return TD_ENOMEM;
    }
    for (size_t i = 0; i < json_array_size(cells); i++) {
        json_t *c = json_array_get(cells, i);
        if (json_object_get(c, "id") == NULL) {
            int rc = s_gen_id(used, salt, i, c);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

/* ---- writers: norm JSON into the schema -------------------------------------------------------
 */

static int s_set_fresh_text(td_ytype_t *map, const char *key, const json_t *str)
{
    td_ytype_t *t = NULL;
    int rc = td_ymap_set_type(map, key, TD_YTYPE_TEXT, NULL, &t);
    if (rc == 0 && json_string_length(str) > 0)
        rc = td_ytext_insert(t, 0, json_string_value(str), json_string_length(str), NULL);
    return rc;
}

/* Fills a fresh Map from a JSON object, keys in the object's order. */
static int s_fill_map(td_ytype_t *map, const json_t *obj)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        int rc = td_ymap_set_json(map, k, v);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* One output Map at index of outputs: fields in the output's order, a stream's text last as a
 * Text (as @jupyter/ydoc createOutputs). */
static int s_write_output(td_ytype_t *outputs, size_t index, const json_t *o, td_ytype_t **out)
{
    td_ytype_t *m = NULL;
    int rc = td_yarray_insert_type(outputs, index, TD_YTYPE_MAP, NULL, &m);
    bool stream = strcmp(json_string_value(json_object_get(o, "output_type")), "stream") == 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        if (rc == 0 && !(stream && strcmp(k, "text") == 0))
            rc = td_ymap_set_json(m, k, v);
    }
    if (rc == 0 && stream)
        rc = s_set_fresh_text(m, "text", json_object_get(o, "text"));
    if (out != NULL)
        *out = m;
    return rc;
}

/* One cell Map at index of cells, keys in @jupyter/ydoc createCell's order: source, metadata,
 * cell_type, id, then attachments, or outputs, execution_count and execution_state ("idle", as
 * jupyter_ydoc's create_ycell). */
static int s_write_cell(td_ytype_t *cells, size_t index, const json_t *c)
{
    td_ytype_t *m = NULL, *md = NULL, *outs = NULL;
    int rc = td_yarray_insert_type(cells, index, TD_YTYPE_MAP, NULL, &m);
    if (rc == 0)
        rc = s_set_fresh_text(m, "source", json_object_get(c, "source"));
    if (rc == 0)
        rc = td_ymap_set_type(m, "metadata", TD_YTYPE_MAP, NULL, &md);
    if (rc == 0)
        rc = td_ymap_set_json(m, "cell_type", json_object_get(c, "cell_type"));
    if (rc == 0)
        rc = td_ymap_set_json(m, "id", json_object_get(c, "id"));
    if (rc == 0 && strcmp(json_string_value(json_object_get(c, "cell_type")), "code") == 0) {
        rc = td_ymap_set_type(m, "outputs", TD_YTYPE_ARRAY, NULL, &outs);
        if (rc == 0)
            rc = td_ymap_set_json(m, "execution_count", json_object_get(c, "execution_count"));
        json_t *idle = json_string("idle");
        if (rc == 0)
            rc = idle == NULL ? TD_ENOMEM : td_ymap_set_json(m, "execution_state", idle);
        json_decref(idle);
        const json_t *ol = json_object_get(c, "outputs");
        for (size_t i = 0; rc == 0 && i < json_array_size(ol); i++)
            rc = s_write_output(outs, i, json_array_get(ol, i), NULL);
    } else if (rc == 0 && json_object_get(c, "attachments") != NULL) {
        rc = td_ymap_set_json(m, "attachments", json_object_get(c, "attachments"));
    }
    if (rc == 0)
        rc = s_fill_map(md, json_object_get(c, "metadata"));
    return rc;
}

/* ---- load -------------------------------------------------------------------------------------
 */

int td_ynb_load(td_ydoc_t *doc, const json_t *nb, td_error_t *err)
{
    if (doc == NULL || nb == NULL)
        return TD_EINVAL;
    if (td_ydoc_in_transaction(doc))
        return TD_ESTATE;
    td_ysv_t *sv = NULL;
    if (td_ydoc_state_vector(doc, &sv) != 0)
        return TD_ENOMEM;
    size_t nclients = td_ysv_count(sv);
    td_ysv_destroy(&sv);
    if (nclients != 0 || td_ydoc_has_pending(doc))
        return td_error_set(err, TD_ESTATE, 0, "the document is not empty");
    json_t *n = NULL, *used = json_object();
    if (used == NULL)
        return TD_ENOMEM;
    int rc = s_norm(nb, &n, err);
    if (rc == 0)
        rc = s_assign_ids(n, used, "load");
    json_decref(used);
    td_ytype_t *meta = NULL, *cells = NULL;
    if (rc == 0) {
        /* Roots in the order jupyter_ydoc declares them; root order only shapes doc.toJSON(). */
        td_ydoc_get(doc, "state", TD_YTYPE_MAP);
        meta = td_ydoc_get(doc, "meta", TD_YTYPE_MAP);
        cells = td_ydoc_get(doc, "cells", TD_YTYPE_ARRAY);
        if (meta == NULL || cells == NULL)
            rc = td_error_set(err, TD_ESTATE, 0, "the document has meta or cells of another kind");
    }
    if (rc != 0) {
        json_decref(n);
        return rc;
    }
    uint64_t own = td_ydoc_client_id(doc);
    td_ydoc_set_client_id(doc, 0);
    rc = td_ydoc_begin(doc, NULL);
    td_ytype_t *md = NULL;
    if (rc == 0)
        rc = td_ymap_set_json(meta, "nbformat", json_object_get(n, "nbformat"));
    if (rc == 0)
        rc = td_ymap_set_json(meta, "nbformat_minor", json_object_get(n, "nbformat_minor"));
    if (rc == 0)
        rc = td_ymap_set_type(meta, "metadata", TD_YTYPE_MAP, NULL, &md);
    if (rc == 0)
        rc = s_fill_map(md, json_object_get(n, "metadata"));
    json_t *cl = json_object_get(n, "cells");
    for (size_t i = 0; rc == 0 && i < json_array_size(cl); i++) {
        rc = s_write_cell(cells, i, json_array_get(cl, i));
        /* Each norm cell is dropped once written: the next cells' content reuses its memory
         * (joined lines), which a big notebook would otherwise fault in fresh. */
        json_array_set_new(cl, i, json_null());
    }
    if (td_ydoc_in_transaction(doc)) {
        int rc2 = td_ydoc_commit(doc);
        rc = rc ? rc : rc2;
    }
    td_ydoc_set_client_id(doc, own);
    json_decref(n);
    if (rc == TD_EINVAL)
        rc = td_error_set(err, TD_EPROTO, 0, "notebook holds a value the document cannot store");
    return rc;
}

int td_ynb_new_from_json(const json_t *nb, td_ydoc_t **out, td_error_t *err)
{
    if (out == NULL)
        return TD_EINVAL;
    *out = NULL;
    td_ydoc_t *doc = td_ydoc_new(NULL, 0);
    if (doc == NULL)
        return TD_ENOMEM;
    int rc = td_ynb_load(doc, nb, err);
    if (rc != 0) {
        td_ydoc_destroy(&doc);
        return rc;
    }
    *out = doc;
    return 0;
}

/* ---- export -----------------------------------------------------------------------------------
 */

/* nbformat's _split_mimebundle: text types and two other textual types become line lists. */
static int s_split_bundle(json_t *data)
{
    const char *k;
    json_t *v;
    json_object_foreach(data, k, v)
    {
        if (json_is_string(v) &&
            (strncmp(k, "text/", 5) == 0 || strcmp(k, "application/javascript") == 0 ||
             strcmp(k, "image/svg+xml") == 0)) {
            json_t *vs = s_split(json_string_value(v), json_string_length(v));
            if (vs == NULL || json_object_set_new(data, k, vs) != 0)
                return TD_ENOMEM;
        }
    }
    return 0;
}

/* Splits the multi-line strings of a norm cell in place, as nbformat's split_lines does on write.
 */
static int s_split_cell(json_t *c)
{
    json_t *src = json_object_get(c, "source");
    json_t *sp = s_split(json_string_value(src), json_string_length(src));
    if (sp == NULL || json_object_set_new(c, "source", sp) != 0)
        return TD_ENOMEM;
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(c, "attachments"), k, v)
    {
        if (s_split_bundle(v) != 0)
            return TD_ENOMEM;
    }
    json_t *outs = json_object_get(c, "outputs");
    for (size_t i = 0; i < json_array_size(outs); i++) {
        json_t *o = json_array_get(outs, i);
        json_t *t = json_object_get(o, "text");
        const char *type = json_string_value(json_object_get(o, "output_type"));
        if (json_is_string(t) && strcmp(type, "stream") == 0) {
            json_t *ts = s_split(json_string_value(t), json_string_length(t));
            if (ts == NULL || json_object_set_new(o, "text", ts) != 0)
                return TD_ENOMEM;
        }
        if (s_split_bundle(json_object_get(o, "data")) != 0)
            return TD_ENOMEM;
    }
    return 0;
}

int td_ynb_export(const td_ydoc_t *doc, unsigned flags, json_t **out, td_error_t *err)
{
    if (doc == NULL || out == NULL)
        return TD_EINVAL;
    *out = NULL;
    json_t *all = td_ydoc_to_json(doc);
    if (all == NULL)
        return TD_ENOMEM;
    json_t *meta = json_object_get(all, "meta");
    json_t *cells = json_object_get(all, "cells");
    if ((meta != NULL && !json_is_object(meta)) || (cells != NULL && !json_is_array(cells))) {
        json_decref(all);
        return td_error_set(err, TD_EPROTO, 0, "the document's meta or cells has the wrong kind");
    }
    /* Peers may break the schema; the document is normalised like a file, then re-assembled. */
    json_t *src = json_object();
    json_t *md = json_object_get(meta, "metadata");
    int rc = src == NULL ? TD_ENOMEM : 0;
    if (rc == 0 && (json_object_set_new(src, "nbformat", json_integer(4)) ||
                    json_object_set_new(src, "nbformat_minor", json_integer(5)) ||
                    json_object_set_new(src, "metadata",
                                        json_is_object(md) ? json_incref(md) : json_object()) ||
                    json_object_set_new(src, "cells", cells ? json_incref(cells) : json_array())))
        rc = TD_ENOMEM;
    json_t *n = NULL;
    if (rc == 0)
        rc = s_norm(src, &n, err);
    json_decref(src);
    /* Exact duplicates (the same cell twice, the classic duplication bug) are dropped; s_norm
     * already dropped the id of a differing duplicate, which then gets a fresh id. */
    json_t *cl = n ? json_object_get(n, "cells") : NULL;
    json_t *kept = json_array(), *byid = json_object();
    if (kept == NULL || byid == NULL)
        rc = rc ? rc : TD_ENOMEM;
    for (size_t i = 0; rc == 0 && i < json_array_size(cl); i++) {
        json_t *c = json_array_get(cl, i);
        json_t *orig = json_array_get(cells, i);
        const char *oid = json_string_value(json_object_get(orig, "id"));
        json_t *first = oid ? json_object_get(byid, oid) : NULL;
        if (first != NULL && json_object_get(c, "id") == NULL) {
            json_t *tmp = json_copy(c);
            if (tmp == NULL || json_object_set(tmp, "id", json_object_get(first, "id")) != 0)
                rc = TD_ENOMEM;
            bool dup = rc == 0 && s_eq(tmp, first);
            json_decref(tmp);
            if (dup)
                continue;
        } else if (oid != NULL && first == NULL && json_object_set(byid, oid, c) != 0) {
            rc = TD_ENOMEM;
        }
        if (rc == 0 && json_array_append(kept, c) != 0)
            rc = TD_ENOMEM;
    }
    json_decref(byid);
    if (rc == 0 && json_object_set(n, "cells", kept) != 0)
        rc = TD_ENOMEM;
    json_decref(kept);
    json_t *used = json_object();
    if (rc == 0)
        rc = used == NULL ? TD_ENOMEM : s_assign_ids(n, used, "export");
    json_decref(used);
    cl = n ? json_object_get(n, "cells") : NULL;
    /* nbformat's strip_transient, as every Jupyter save does. */
    if (n != NULL) {
        json_object_del(json_object_get(n, "metadata"), "signature");
        json_object_del(json_object_get(n, "metadata"), "orig_nbformat_minor");
    }
    for (size_t i = 0; rc == 0 && i < json_array_size(cl); i++)
        json_object_del(json_object_get(json_array_get(cl, i), "metadata"), "trusted");
    for (size_t i = 0; rc == 0 && (flags & TD_YNB_SPLIT_LINES) && i < json_array_size(cl); i++)
        rc = s_split_cell(json_array_get(cl, i));
    json_decref(all);
    if (rc != 0) {
        json_decref(n);
        return rc;
    }
    *out = n;
    return 0;
}

/* ---- text: minimal and rebased edits ----------------------------------------------------------
 */

/* Common prefix p and suffix s of a and b in bytes, both on code point boundaries, p + s <= the
 * shorter length. */
static void s_affix(const char *a, size_t an, const char *b, size_t bn, size_t *p, size_t *s)
{
    size_t m = an < bn ? an : bn, i = 0, j = 0;
    while (i < m && a[i] == b[i])
        i++;
    while (i > 0 && ((i < an && ((unsigned char)a[i] & 0xc0) == 0x80) ||
                     (i < bn && ((unsigned char)b[i] & 0xc0) == 0x80)))
        i--;
    while (j < m - i && a[an - 1 - j] == b[bn - 1 - j])
        j++;
    while (j > 0 && ((j < an && ((unsigned char)a[an - j] & 0xc0) == 0x80) ||
                     (j < bn && ((unsigned char)b[bn - j] & 0xc0) == 0x80)))
        j--;
    *p = i;
    *s = j;
}

/* The edit that turns live text l into the three-way merge of base b, live l and disk d, in byte
 * offsets of l: delete [d2, d2 + n2), then [d1, d1 + n1) (d1 + n1 <= d2), then insert ins at at.
 * The disk edit (b -> d, reduced to one replaced range) is mapped through the live edit (b -> l):
 * base text that live still has is deleted, base text live already removed is not, and the disk's
 * new text goes where the replaced range started (after live's new text when that range started
 * inside it). With b == l this is the minimal prefix/suffix edit from l to d. */
typedef struct s_plan {
    size_t d1, n1, d2, n2, at;
    const char *ins;
    size_t ins_len;
    bool any;
} s_plan_t;

static s_plan_t s_plan(const char *b, size_t bn, const char *l, size_t ln, const char *d, size_t dn)
{
    s_plan_t p = {0};
    if ((bn == dn && memcmp(b, d, bn) == 0) || (ln == dn && memcmp(l, d, ln) == 0))
        return p;
    size_t pd, sd, pl, sl;
    s_affix(b, bn, d, dn, &pd, &sd);
    s_affix(b, bn, l, ln, &pl, &sl);
    size_t xs = pd, xe = bn - sd, le = bn - sl; /* disk replaces b[xs, xe); live b[pl, le) */
    if (xs < pl) {
        p.d1 = xs;
        p.n1 = (xe < pl ? xe : pl) - xs;
    }
    if (xe > le) {
        size_t from = xs > le ? xs : le;
        p.d2 = from + ln - bn; /* shift by the live edit's length change */
        p.n2 = xe - from;
    }
    p.at = xs <= pl ? xs : xs >= le ? xs + ln - bn : ln - sl;
    p.ins = d + pd;
    p.ins_len = dn - sd - pd;
    p.any = p.n1 + p.n2 + p.ins_len > 0;
    return p;
}

/* Applies a plan to a Text whose content is l (UTF-16 offsets computed on l). */
static int s_plan_text(td_ytype_t *t, const char *l, const s_plan_t *p)
{
    size_t (*u16)(const uint8_t *, size_t) = td_lib0_utf16_len;
    const uint8_t *s = (const uint8_t *)l;
    int rc = 0;
    if (p->n2 > 0)
        rc = td_ytext_delete(t, u16(s, p->d2), u16(s + p->d2, p->n2));
    if (rc == 0 && p->n1 > 0)
        rc = td_ytext_delete(t, u16(s, p->d1), u16(s + p->d1, p->n1));
    if (rc == 0 && p->ins_len > 0)
        rc = td_ytext_insert(t, u16(s, p->at), p->ins, p->ins_len, NULL);
    return rc;
}

/* Applies a plan to the string l; new string reference, NULL on OOM. */
static json_t *s_plan_string(const char *l, size_t ln, const s_plan_t *p)
{
    char *buf = malloc(ln + p->ins_len + 1);
    if (buf == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i <= ln; i++) {
        if (i == p->at && p->ins_len > 0)
            memcpy(buf + o, p->ins, p->ins_len), o += p->ins_len;
        if (i == ln)
            break;
        if ((i >= p->d1 && i < p->d1 + p->n1) || (i >= p->d2 && i < p->d2 + p->n2))
            continue;
        buf[o++] = l[i];
    }
    json_t *r = json_stringn_nocheck(buf, o);
    free(buf);
    return r;
}

int td_ynb_text_merge(td_ytype_t *text, const char *base, size_t bn, const char *utf8, size_t n)
{
    if (text == NULL || td_ytype_kind(text) != TD_YTYPE_TEXT || (utf8 == NULL && n > 0) ||
        !td_lib0_utf8_valid((const uint8_t *)utf8, n) ||
        (base != NULL && !td_lib0_utf8_valid((const uint8_t *)base, bn)))
        return TD_EINVAL;
    char *l = NULL;
    size_t ln = 0;
    int rc = td_ytext_string(text, &l, &ln);
    if (rc != 0)
        return rc;
    s_plan_t p = base ? s_plan(base, bn, l, ln, utf8, n) : s_plan(l, ln, l, ln, utf8, n);
    if (p.any)
        rc = s_plan_text(text, l, &p);
    free(l);
    return rc;
}

/* ---- merge ------------------------------------------------------------------------------------
 */

/* The live notebook as norm JSON plus the cell Map handles, one per live cell (index-aligned). */
typedef struct s_live {
    json_t *n;           /* norm form of the live document (ids as stored; s_norm dropped dups) */
    td_ytype_t **handle; /* live cell Maps */
    size_t count;
} s_live_t;

static void s_live_fini(s_live_t *lv)
{
    json_decref(lv->n);
    free(lv->handle);
    memset(lv, 0, sizeof *lv);
}

static int s_live_read(td_ydoc_t *doc, td_ytype_t *meta, td_ytype_t *cells, s_live_t *lv,
                       td_error_t *err)
{
    memset(lv, 0, sizeof *lv);
    json_t *src = json_object();
    json_t *mj = td_ytype_to_json(meta);
    json_t *cj = td_ytype_to_json(cells);
    int rc = src == NULL || mj == NULL || cj == NULL ? TD_ENOMEM : 0;
    if (rc == 0) {
        json_t *md = json_object_get(mj, "metadata");
        json_t *minor = json_object_get(mj, "nbformat_minor");
        if (json_object_set_new(src, "metadata",
                                json_is_object(md) ? json_incref(md) : json_object()) ||
            json_object_set_new(src, "nbformat_minor",
                                json_is_integer(minor) ? json_incref(minor) : json_integer(5)) ||
            json_object_set(src, "cells", cj))
            rc = TD_ENOMEM;
    }
    json_decref(mj);
    json_decref(cj);
    (void)doc;
    if (rc == 0) {
        td_error_t e2 = {0};
        rc = s_norm(src, &lv->n, &e2);
        if (rc == TD_EPROTO)
            rc =
                td_error_set(err, TD_EPROTO, 0, "the live document breaks the schema: %s", e2.text);
    }
    json_decref(src);
    if (rc != 0)
        return rc;
    lv->count = td_ytype_len(cells);
    lv->handle = calloc(lv->count + 1, sizeof *lv->handle);
    if (lv->handle == NULL)
        return TD_ENOMEM;
    for (size_t i = 0; i < lv->count; i++)
        lv->handle[i] = td_yarray_get_type(cells, i);
    return 0;
}

/* Gives the id-less cells of x the ids of matching cells of y (y's cells carry ids): first an
 * unmatched y cell of the same type and source, searched forward from the last match; then, by
 * position, the first unmatched y cell of the same type between the y matches of x's neighbours.
 * What stays unmatched gets a fresh id unused in `used`. */
static int s_match_idless(json_t *x, const json_t *y, json_t *used, const char *salt)
{
    json_t *xc = json_object_get(x, "cells");
    const json_t *yc = json_object_get(y, "cells");
    size_t nx = json_array_size(xc), ny = json_array_size(yc);
    long *match = malloc((nx + 1) * sizeof *match); /* x index -> y index or -1 */
    bool *taken = calloc(ny + 1, sizeof *taken);    /* y cells already claimed */
    json_t *yid = json_object();                    /* y id -> y index */
    int rc = match == NULL || taken == NULL || yid == NULL ? TD_ENOMEM : 0;
    for (size_t j = 0; rc == 0 && j < ny; j++) {
        const char *id = json_string_value(json_object_get(json_array_get(yc, j), "id"));
        if (id != NULL && json_object_get(yid, id) == NULL &&
            json_object_set_new(yid, id, json_integer((json_int_t)j)) != 0)
            rc = TD_ENOMEM;
    }
    for (size_t i = 0; rc == 0 && i < nx; i++) {
        const char *id = json_string_value(json_object_get(json_array_get(xc, i), "id"));
        json_t *jv = id ? json_object_get(yid, id) : NULL;
        match[i] = jv ? (long)json_integer_value(jv) : -1;
        if (match[i] >= 0)
            taken[match[i]] = true;
    }
    /* By content. */
    size_t from = 0;
    for (size_t i = 0; rc == 0 && i < nx; i++) {
        json_t *c = json_array_get(xc, i);
        if (match[i] >= 0) {
            from = (size_t)match[i] + 1;
            continue;
        }
        if (json_object_get(c, "id") != NULL)
            continue;
        for (size_t k = 0; k < ny; k++) {
            size_t j = (from + k) % ny;
            json_t *yj = json_array_get(yc, j);
            if (!taken[j] && json_object_get(yj, "id") != NULL &&
                s_eq(json_object_get(c, "cell_type"), json_object_get(yj, "cell_type")) &&
                s_eq(json_object_get(c, "source"), json_object_get(yj, "source"))) {
                match[i] = (long)j;
                taken[j] = true;
                from = j + 1;
                break;
            }
        }
    }
    /* By position between matched neighbours. */
    long prev = -1;
    for (size_t i = 0; rc == 0 && i < nx; i++) {
        json_t *c = json_array_get(xc, i);
        if (match[i] >= 0) {
            prev = match[i];
            continue;
        }
        if (json_object_get(c, "id") != NULL)
            continue;
        long next = (long)ny;
        for (size_t k = i + 1; k < nx; k++)
            if (match[k] >= 0) {
                next = match[k];
                break;
            }
        for (long j = prev + 1; j < next; j++) {
            json_t *yj = json_array_get(yc, (size_t)j);
            if (!taken[j] && json_object_get(yj, "id") != NULL &&
                s_eq(json_object_get(c, "cell_type"), json_object_get(yj, "cell_type"))) {
                match[i] = j;
                taken[j] = true;
                prev = j;
                break;
            }
        }
    }
    for (size_t i = 0; rc == 0 && i < nx; i++) {
        json_t *c = json_array_get(xc, i);
        if (json_object_get(c, "id") == NULL && match[i] >= 0 &&
            json_object_set(c, "id", json_object_get(json_array_get(yc, match[i]), "id")) != 0)
            rc = TD_ENOMEM;
    }
    free(match);
    free(taken);
    json_decref(yid);
    return rc == 0 ? s_assign_ids(x, used, salt) : rc;
}

/* Adds every id of norm notebook n to the set `used`. */
static int s_add_ids(json_t *used, const json_t *n)
{
    const json_t *cl = json_object_get(n, "cells");
    for (size_t i = 0; i < json_array_size(cl); i++) {
        const char *id = json_string_value(json_object_get(json_array_get(cl, i), "id"));
        if (id != NULL && json_object_set_new(used, id, json_true()) != 0)
            return TD_ENOMEM;
    }
    return 0;
}

/* Three-way merge of a Map of JSON values (cell or notebook metadata): a key whose disk value
 * differs from base takes the disk value (or goes when disk lacks it) unless live already agrees.
 * When m is not a Map (a peer broke the schema) and something must change, key replaces it. */
static int s_merge_map(td_ytype_t *parent, const char *key, const json_t *b, const json_t *l,
                       const json_t *d)
{
    if (s_eq(b, d) || s_eq(l, d))
        return 0;
    td_ytype_t *m = td_ymap_get_type(parent, key);
    if (m == NULL || td_ytype_kind(m) != TD_YTYPE_MAP) {
        int rc = td_ymap_set_type(parent, key, TD_YTYPE_MAP, NULL, &m);
        return rc ? rc : s_fill_map(m, d);
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)d, k, v)
    {
        const json_t *bv = json_object_get(b, k), *lv = json_object_get(l, k);
        if (!s_eq(bv, v) && !s_eq(lv, v)) {
            int rc = td_ymap_set_json(m, k, v);
            if (rc != 0)
                return rc;
        }
    }
    json_object_foreach((json_t *)b, k, v)
    {
        /* "trusted" is transient (nbformat strips it on save): its absence on disk is no edit. */
        if (json_object_get(d, k) == NULL && td_ymap_has(m, k) && strcmp(k, "trusted") != 0) {
            int rc = td_ymap_delete(m, k);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

/* A scalar or opaque JSON field of a Map, three-way; a NULL d deletes. */
static int s_merge_value(td_ytype_t *m, const char *key, const json_t *b, const json_t *l,
                         const json_t *d)
{
    if (s_eq(b, d) || s_eq(l, d))
        return 0;
    if (d == NULL)
        return td_ymap_has(m, key) ? td_ymap_delete(m, key) : 0;
    return td_ymap_set_json(m, key, d);
}

/* A Text field of a Map, three-way, rebased on live; a missing or mistyped Text is replaced. */
static int s_merge_text(td_ytype_t *m, const char *key, const json_t *b, const json_t *l,
                        const json_t *d)
{
    if (s_eq(b, d) || s_eq(l, d))
        return 0;
    td_ytype_t *t = td_ymap_get_type(m, key);
    if (t == NULL || td_ytype_kind(t) != TD_YTYPE_TEXT)
        return s_set_fresh_text(m, key, d);
    const char *bs = json_is_string(b) ? json_string_value(b) : json_string_value(l);
    size_t bn = json_is_string(b) ? json_string_length(b) : json_string_length(l);
    s_plan_t p = s_plan(bs, bn, json_string_value(l), json_string_length(l), json_string_value(d),
                        json_string_length(d));
    return p.any ? s_plan_text(t, json_string_value(l), &p) : 0;
}

/* Turns live outputs lo into disk outputs dout inside the Array arr: equal outputs at both ends
 * stay; in between, outputs of the same type are updated field by field (a stream's Text edited
 * minimally), others replaced; the surplus is deleted or inserted. */
static int s_merge_outputs(td_ytype_t *cell, const json_t *lo, const json_t *dout)
{
    td_ytype_t *arr = td_ymap_get_type(cell, "outputs");
    int rc = 0;
    if (arr == NULL || td_ytype_kind(arr) != TD_YTYPE_ARRAY) {
        rc = td_ymap_set_type(cell, "outputs", TD_YTYPE_ARRAY, NULL, &arr);
        for (size_t i = 0; rc == 0 && i < json_array_size(dout); i++)
            rc = s_write_output(arr, i, json_array_get(dout, i), NULL);
        return rc;
    }
    size_t nl = json_array_size(lo), nd = json_array_size(dout), p = 0, s = 0;
    while (p < nl && p < nd && s_eq(json_array_get(lo, p), json_array_get(dout, p)))
        p++;
    while (s < nl - p && s < nd - p &&
           s_eq(json_array_get(lo, nl - 1 - s), json_array_get(dout, nd - 1 - s)))
        s++;
    size_t ml = nl - p - s, mdn = nd - p - s, both = ml < mdn ? ml : mdn;
    for (size_t k = 0; rc == 0 && k < both; k++) {
        const json_t *lv = json_array_get(lo, p + k), *dv = json_array_get(dout, p + k);
        td_ytype_t *om = td_yarray_get_type(arr, p + k);
        bool same = om != NULL && td_ytype_kind(om) == TD_YTYPE_MAP &&
                    s_eq(json_object_get(lv, "output_type"), json_object_get(dv, "output_type"));
        if (!same) {
            rc = td_yarray_delete(arr, p + k, 1);
            if (rc == 0)
                rc = s_write_output(arr, p + k, dv, NULL);
            continue;
        }
        bool stream = strcmp(json_string_value(json_object_get(dv, "output_type")), "stream") == 0;
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)dv, key, v)
        {
            if (rc == 0 && stream && strcmp(key, "text") == 0)
                rc = s_merge_text(om, key, json_object_get(lv, key), json_object_get(lv, key), v);
            else if (rc == 0)
                rc = s_merge_value(om, key, json_object_get(lv, key), json_object_get(lv, key), v);
        }
        json_object_foreach((json_t *)lv, key, v)
        {
            if (rc == 0 && json_object_get(dv, key) == NULL)
                rc = s_merge_value(om, key, v, v, NULL);
        }
    }
    if (rc == 0 && ml > both)
        rc = td_yarray_delete(arr, p + both, ml - both);
    for (size_t k = both; rc == 0 && k < mdn; k++)
        rc = s_write_output(arr, p + k, json_array_get(dout, p + k), NULL);
    return rc;
}

/* Merges disk cell dc into the live cell Map m (live JSON lc, base bc or NULL). */
static int s_merge_cell(td_ytype_t *m, const json_t *bc, const json_t *lc, const json_t *dc)
{
    if (bc == NULL)
        bc = lc;
    int rc = s_merge_text(m, "source", json_object_get(bc, "source"), json_object_get(lc, "source"),
                          json_object_get(dc, "source"));
    if (rc == 0)
        rc = s_merge_map(m, "metadata", json_object_get(bc, "metadata"),
                         json_object_get(lc, "metadata"), json_object_get(dc, "metadata"));
    if (rc != 0)
        return rc;
    if (strcmp(json_string_value(json_object_get(dc, "cell_type")), "code") == 0) {
        rc = s_merge_value(m, "execution_count", json_object_get(bc, "execution_count"),
                           json_object_get(lc, "execution_count"),
                           json_object_get(dc, "execution_count"));
        const json_t *bo = json_object_get(bc, "outputs"), *lo = json_object_get(lc, "outputs"),
                     *dout = json_object_get(dc, "outputs");
        if (rc == 0 && !s_eq(bo, dout) && !s_eq(lo, dout))
            rc = s_merge_outputs(m, lo, dout);
        return rc;
    }
    return s_merge_value(m, "attachments", json_object_get(bc, "attachments"),
                         json_object_get(lc, "attachments"), json_object_get(dc, "attachments"));
}

/* The content a recreated (moved) cell gets: the three-way merge of its fields as JSON. */
static json_t *s_merged_cell(const json_t *bc, const json_t *lc, const json_t *dc)
{
    if (bc == NULL)
        return json_deep_copy(dc);
    json_t *r = json_deep_copy(lc);
    if (r == NULL)
        return NULL;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)dc, k, v)
    {
        const json_t *bv = json_object_get(bc, k);
        if (s_eq(bv, v))
            continue;
        json_t *nv = NULL;
        if (strcmp(k, "source") == 0) {
            const json_t *lv = json_object_get(lc, k);
            s_plan_t p =
                s_plan(json_string_value(bv), json_string_length(bv), json_string_value(lv),
                       json_string_length(lv), json_string_value(v), json_string_length(v));
            nv = s_plan_string(json_string_value(lv), json_string_length(lv), &p);
        } else if (strcmp(k, "metadata") == 0) {
            nv = json_deep_copy(json_object_get(lc, k));
            const char *mk;
            json_t *mv;
            json_object_foreach(v, mk, mv)
            {
                if (nv != NULL && !s_eq(json_object_get(bv, mk), mv))
                    json_object_set(nv, mk, mv);
            }
            json_object_foreach((json_t *)bv, mk, mv)
            {
                if (nv != NULL && json_object_get(v, mk) == NULL)
                    json_object_del(nv, mk);
            }
        } else {
            nv = json_deep_copy(v);
        }
        if (nv == NULL || json_object_set_new(r, k, nv) != 0) {
            json_decref(r);
            return NULL;
        }
    }
    return r;
}

void td__ycapture(td_ydoc_t *doc, const td_ytxn_info_t *info, void *arg)
{
    (void)doc;
    td__ycapture_t *c = arg;
    c->changed = true;
    if (c->out != NULL)
        td_lib0_write_raw(c->out, info->update, info->update_len);
}

/* Longest increasing subsequence of seq[0..n) (distinct values): marks keep[i] for its members. */
static int s_lis(const long *seq, size_t n, bool *keep)
{
    size_t *tail = malloc((n + 1) * sizeof *tail), *prev = malloc((n + 1) * sizeof *prev);
    if (tail == NULL || prev == NULL) {
        free(tail);
        free(prev);
        return TD_ENOMEM;
    }
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        size_t lo = 0, hi = len;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (seq[tail[mid]] < seq[i])
                lo = mid + 1;
            else
                hi = mid;
        }
        prev[i] = lo > 0 ? tail[lo - 1] : SIZE_MAX;
        tail[lo] = i;
        if (lo == len)
            len++;
    }
    for (size_t i = len ? tail[len - 1] : SIZE_MAX; i != SIZE_MAX; i = prev[i])
        keep[i] = true;
    free(tail);
    free(prev);
    return 0;
}

/* The body of td_ynb_merge, inside the open transaction. b may be NULL (two-way). */
static int s_merge_body(td_ytype_t *meta, td_ytype_t *cells, const json_t *b, s_live_t *lv,
                        const json_t *d)
{
    const json_t *lm = lv->n;
    const json_t *bb = b ? b : lm;
    int rc = s_merge_map(meta, "metadata", json_object_get(bb, "metadata"),
                         json_object_get(lm, "metadata"), json_object_get(d, "metadata"));
    const char *nk[] = {"nbformat", "nbformat_minor"};
    for (int i = 0; rc == 0 && i < 2; i++) {
        const json_t *dk = json_object_get(d, nk[i]);
        json_t *cur = td_ymap_get_json(meta, nk[i]);
        bool want = b == NULL || !s_eq(json_object_get(b, nk[i]), dk);
        if (want && !s_eq(cur, dk))
            rc = td_ymap_set_json(meta, nk[i], dk);
        json_decref(cur);
    }
    if (rc != 0)
        return rc;

    const json_t *lc = json_object_get(lm, "cells"), *dc = json_object_get(d, "cells");
    const json_t *bcl = b ? json_object_get(b, "cells") : NULL;
    size_t nl = json_array_size(lc), nd = json_array_size(dc);
    json_t *lid = json_object(), *bid = json_object(); /* id -> index (first occurrence) */
    json_t *did = json_object();                       /* disk ids (a set) */
    long *dl = malloc((nd + 1) * sizeof *dl);          /* disk cell -> live index or -1 */
    long *seq = malloc((nd + 1) * sizeof *seq);
    size_t *seqd = malloc((nd + 1) * sizeof *seqd);
    bool *stay = calloc(nd + 1, sizeof *stay), *keepl = calloc(nl + 1, sizeof *keepl);
    bool *skip = calloc(nd + 1, sizeof *skip);
    if (lid == NULL || bid == NULL || did == NULL || dl == NULL || seq == NULL || seqd == NULL ||
        stay == NULL || keepl == NULL || skip == NULL)
        rc = TD_ENOMEM;
    for (size_t i = 0; rc == 0 && i < nl; i++) {
        const char *id = json_string_value(json_object_get(json_array_get(lc, i), "id"));
        if (id != NULL && json_object_get(lid, id) == NULL &&
            json_object_set_new(lid, id, json_integer((json_int_t)i)) != 0)
            rc = TD_ENOMEM;
    }
    for (size_t j = 0; rc == 0 && j < nd; j++) {
        const char *id = json_string_value(json_object_get(json_array_get(dc, j), "id"));
        if (id != NULL && json_object_set_new(did, id, json_true()) != 0)
            rc = TD_ENOMEM;
    }
    for (size_t i = 0; rc == 0 && i < json_array_size(bcl); i++) {
        const char *id = json_string_value(json_object_get(json_array_get(bcl, i), "id"));
        if (id != NULL && json_object_get(bid, id) == NULL &&
            json_object_set_new(bid, id, json_integer((json_int_t)i)) != 0)
            rc = TD_ENOMEM;
    }
    /* Pair disk cells with live cells; a cell of another type is recreated. */
    size_t ns = 0;
    for (size_t j = 0; rc == 0 && j < nd; j++) {
        const json_t *c = json_array_get(dc, j);
        const char *id = json_string_value(json_object_get(c, "id"));
        json_t *li = json_object_get(lid, id);
        dl[j] = -1;
        if (li != NULL) {
            long i = (long)json_integer_value(li);
            const json_t *lcell = json_array_get(lc, (size_t)i);
            if (s_eq(json_object_get(lcell, "cell_type"), json_object_get(c, "cell_type")) &&
                lv->handle[i] != NULL) {
                dl[j] = i;
                keepl[i] = true;
                seq[ns] = i;
                seqd[ns++] = j;
            }
        } else if (b != NULL && json_object_get(bid, id) != NULL) {
            skip[j] = true; /* deleted live since the base: the live deletion wins */
        }
    }
    /* Live cells that disk does not have: gone on disk (in base) or added live (kept, 3-way). */
    for (size_t i = 0; rc == 0 && b != NULL && i < nl; i++) {
        const char *id = json_string_value(json_object_get(json_array_get(lc, i), "id"));
        json_t *li = id ? json_object_get(lid, id) : NULL;
        bool first = li != NULL && (size_t)json_integer_value(li) == i;
        if (!keepl[i] && first && json_object_get(bid, id) == NULL &&
            json_object_get(did, id) == NULL)
            keepl[i] = true;
    }
    /* Moves: with a base, disk moved cells only if its order of the cells it shares with base
     * differs from base's; otherwise every paired cell stays where live has it. Where disk did
     * reorder, the longest run already in live order stays and the rest are recreated. */
    bool *inlis = calloc(ns + 1, sizeof *inlis);
    bool reordered = b == NULL;
    long lastb = -1;
    for (size_t k = 0; rc == 0 && !reordered && k < ns; k++) {
        json_t *bi = json_object_get(
            bid, json_string_value(json_object_get(json_array_get(dc, seqd[k]), "id")));
        if (bi != NULL && (long)json_integer_value(bi) < lastb)
            reordered = true;
        else if (bi != NULL)
            lastb = (long)json_integer_value(bi);
    }
    if (rc == 0 && inlis == NULL)
        rc = TD_ENOMEM;
    if (rc == 0 && reordered)
        rc = s_lis(seq, ns, inlis);
    for (size_t k = 0; rc == 0 && !reordered && k < ns; k++)
        inlis[k] = true;
    for (size_t k = 0; rc == 0 && k < ns; k++) {
        if (inlis[k])
            stay[seqd[k]] = true;
        else
            keepl[seq[k]] = false; /* moved: recreated at its new place */
    }
    free(inlis);
    /* Field merges for staying cells, before any index moves (handles are stable). */
    for (size_t j = 0; rc == 0 && j < nd; j++) {
        if (!stay[j])
            continue;
        const json_t *c = json_array_get(dc, j);
        json_t *bi = json_object_get(bid, json_string_value(json_object_get(c, "id")));
        const json_t *bc = bi ? json_array_get(bcl, (size_t)json_integer_value(bi)) : NULL;
        rc = s_merge_cell(lv->handle[dl[j]], bc, json_array_get(lc, (size_t)dl[j]), c);
    }
    /* Delete live cells not kept, from the end; then insert disk cells in disk order, each after
     * the cell placed before it (a staying cell is found again by its handle). */
    for (size_t i = nl; rc == 0 && i-- > 0;) {
        if (!keepl[i]) {
            size_t run = 1;
            while (i > 0 && !keepl[i - 1])
                i--, run++;
            rc = td_yarray_delete(cells, i, run);
        }
    }
    td_ytype_t *anchor = NULL;
    bool pos_valid = true;
    size_t pos = 0;
    for (size_t j = 0; rc == 0 && j < nd; j++) {
        if (skip[j])
            continue;
        if (stay[j]) {
            anchor = lv->handle[dl[j]];
            pos_valid = false;
            continue;
        }
        if (!pos_valid) {
            size_t len = td_ytype_len(cells);
            pos = 0;
            while (pos < len && td_yarray_get_type(cells, pos) != anchor)
                pos++;
            pos = pos < len ? pos + 1 : len;
            pos_valid = true;
        }
        const json_t *c = json_array_get(dc, j);
        json_t *content = NULL;
        if (dl[j] >= 0) {
            json_t *bi = json_object_get(bid, json_string_value(json_object_get(c, "id")));
            const json_t *bc = bi ? json_array_get(bcl, (size_t)json_integer_value(bi)) : NULL;
            content = s_merged_cell(b ? bc : json_array_get(lc, (size_t)dl[j]),
                                    json_array_get(lc, (size_t)dl[j]), c);
        } else {
            content = json_incref((json_t *)c);
        }
        rc = content == NULL ? TD_ENOMEM : s_write_cell(cells, pos, content);
        json_decref(content);
        pos++;
    }
    json_decref(lid);
    json_decref(bid);
    json_decref(did);
    free(dl);
    free(seq);
    free(seqd);
    free(stay);
    free(keepl);
    free(skip);
    return rc;
}

int td_ynb_merge(td_ydoc_t *doc, const json_t *base, const json_t *disk, uint64_t client_id,
                 void *origin, td_lib0_enc_t *update, bool *changed, td_error_t *err)
{
    if (changed != NULL)
        *changed = false;
    if (doc == NULL || disk == NULL || client_id > 9007199254740991ull)
        return TD_EINVAL;
    if (td_ydoc_in_transaction(doc))
        return TD_ESTATE;
    td_ytype_t *meta = td_ydoc_get(doc, "meta", TD_YTYPE_MAP);
    td_ytype_t *cells = td_ydoc_get(doc, "cells", TD_YTYPE_ARRAY);
    if (meta == NULL || cells == NULL)
        return td_error_set(err, TD_ESTATE, 0, "the document's meta or cells has another kind");
    json_t *d = NULL, *b = NULL, *used = json_object();
    s_live_t lv;
    int rc = used == NULL ? TD_ENOMEM : s_live_read(doc, meta, cells, &lv, err);
    if (rc == 0)
        rc = s_norm(disk, &d, err);
    if (rc == 0 && base != NULL)
        rc = s_norm(base, &b, err);
    /* Ids: base cells without ids are matched against live, disk cells against base (or live). */
    if (rc == 0)
        rc = s_add_ids(used, lv.n);
    if (rc == 0 && b != NULL)
        rc = s_match_idless(b, lv.n, used, "base");
    if (rc == 0)
        rc = s_match_idless(d, b ? b : lv.n, used, "merge");
    if (rc == 0) {
        uint64_t own = td_ydoc_client_id(doc);
        td__ycapture_t cap = {update, false};
        rc = td_ydoc_observe(doc, td__ycapture, &cap);
        if (rc == 0) {
            td_ydoc_set_client_id(doc, client_id);
            rc = td_ydoc_begin(doc, origin);
            if (rc == 0) {
                rc = s_merge_body(meta, cells, b, &lv, d);
                int rc2 = td_ydoc_commit(doc);
                rc = rc ? rc : rc2;
            }
            td_ydoc_set_client_id(doc, own);
            td_ydoc_unobserve(doc, td__ycapture, &cap);
        }
        if (changed != NULL)
            *changed = cap.changed;
        if (update != NULL && update->err != 0)
            rc = rc ? rc : TD_ENOMEM;
    }
    if (used != NULL)
        s_live_fini(&lv);
    json_decref(d);
    json_decref(b);
    json_decref(used);
    return rc;
}

/* ---- state ------------------------------------------------------------------------------------
 */

int td_ynb_state_set(td_ydoc_t *doc, const char *key, const json_t *value)
{
    if (doc == NULL || key == NULL || value == NULL)
        return TD_EINVAL;
    td_ytype_t *st = td_ydoc_get(doc, "state", TD_YTYPE_MAP);
    if (st == NULL)
        return TD_ESTATE;
    json_t *cur = td_ymap_get_json(st, key);
    bool same = cur != NULL && s_eq(cur, value) && td_ymap_get_type(st, key) == NULL;
    json_decref(cur);
    return same ? 0 : td_ymap_set_json(st, key, value);
}

int td_ynb_mark_saved(td_ydoc_t *doc, const char *hash)
{
    if (doc == NULL)
        return TD_EINVAL;
    bool own = !td_ydoc_in_transaction(doc);
    int rc = own ? td_ydoc_begin(doc, NULL) : 0;
    if (rc != 0)
        return rc;
    rc = td_ynb_state_set(doc, "dirty", json_false());
    json_t *h = hash ? json_string(hash) : NULL;
    if (rc == 0 && hash != NULL)
        rc = h == NULL ? TD_EINVAL : td_ynb_state_set(doc, "hash", h);
    json_decref(h);
    if (own) {
        int rc2 = td_ydoc_commit(doc);
        rc = rc ? rc : rc2;
    }
    return rc;
}

/* ---- cells and execution writes ---------------------------------------------------------------
 */

td_ytype_t *td_ynb_cell_by_id(td_ydoc_t *doc, const char *cell_id)
{
    td_ytype_t *cells = doc && cell_id ? td_ydoc_get(doc, "cells", TD_YTYPE_ARRAY) : NULL;
    size_t n = cells ? td_ytype_len(cells) : 0;
    for (size_t i = 0; i < n; i++) {
        td_ytype_t *c = td_yarray_get_type(cells, i);
        if (c == NULL || td_ytype_kind(c) != TD_YTYPE_MAP)
            continue;
        json_t *id = td_ymap_get_json(c, "id");
        bool hit = json_is_string(id) && strcmp(json_string_value(id), cell_id) == 0;
        json_decref(id);
        if (hit)
            return c;
    }
    return NULL;
}

/* An output written with a display_id, for update_display_data. */
typedef struct s_display {
    char *id;
    td_ytype_t *output; /* the output Map (deleted when the outputs were cleared) */
} s_display_t;

struct td_ynb_exec {
    td_ydoc_t *doc;    /* borrowed */
    json_t *wait;      /* cell ids with a pending clear_output(wait=True) (a set) */
    s_display_t *disp; /* owned */
    size_t ndisp, cap;
};

td_ynb_exec_t *td_ynb_exec_new(td_ydoc_t *doc)
{
    if (doc == NULL)
        return NULL;
    td_ynb_exec_t *x = calloc(1, sizeof *x);
    if (x == NULL)
        return NULL;
    x->doc = doc;
    x->wait = json_object();
    if (x->wait == NULL) {
        free(x);
        return NULL;
    }
    return x;
}

void td_ynb_exec_destroy(td_ynb_exec_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    td_ynb_exec_t *x = *self_p;
    for (size_t i = 0; i < x->ndisp; i++)
        free(x->disp[i].id);
    free(x->disp);
    json_decref(x->wait);
    free(x);
    *self_p = NULL;
}

/* The code cell with this id and its outputs Array (created when a peer left it out). */
static int s_code_cell(td_ynb_exec_t *x, const char *cell_id, td_ytype_t **cell, td_ytype_t **outs)
{
    *cell = td_ynb_cell_by_id(x->doc, cell_id);
    if (*cell == NULL)
        return TD_ENOENT;
    json_t *type = td_ymap_get_json(*cell, "cell_type");
    bool code = json_is_string(type) && strcmp(json_string_value(type), "code") == 0;
    json_decref(type);
    if (!code)
        return TD_ENOENT;
    *outs = td_ymap_get_type(*cell, "outputs");
    if (*outs == NULL || td_ytype_kind(*outs) != TD_YTYPE_ARRAY)
        return td_ymap_set_type(*cell, "outputs", TD_YTYPE_ARRAY, NULL, outs);
    return 0;
}

static int s_set_str(td_ytype_t *m, const char *key, const char *value)
{
    json_t *cur = td_ymap_get_json(m, key);
    bool same = json_is_string(cur) && strcmp(json_string_value(cur), value) == 0;
    json_decref(cur);
    if (same)
        return 0;
    json_t *v = json_string(value);
    int rc = v == NULL ? TD_EINVAL : td_ymap_set_json(m, key, v);
    json_decref(v);
    return rc;
}

/* Runs fn in a transaction of its own unless one is open. */
#define S_TXN(doc, expr)                                                                           \
    do {                                                                                           \
        bool own_ = !td_ydoc_in_transaction(doc);                                                  \
        rc = own_ ? td_ydoc_begin((doc), NULL) : 0;                                                \
        if (rc == 0)                                                                               \
            rc = (expr);                                                                           \
        if (own_ && td_ydoc_in_transaction(doc)) {                                                 \
            int rc2_ = td_ydoc_commit(doc);                                                        \
            rc = rc ? rc : rc2_;                                                                   \
        }                                                                                          \
    } while (0)

static int s_start(td_ynb_exec_t *x, const char *cell_id)
{
    td_ytype_t *cell, *outs;
    int rc = s_code_cell(x, cell_id, &cell, &outs);
    if (rc == 0 && td_ytype_len(outs) > 0)
        rc = td_yarray_delete(outs, 0, td_ytype_len(outs));
    json_t *cur = rc == 0 ? td_ymap_get_json(cell, "execution_count") : NULL;
    if (rc == 0 && (cur == NULL || !json_is_null(cur)))
        rc = td_ymap_set_json(cell, "execution_count", json_null());
    json_decref(cur);
    if (rc == 0)
        rc = s_set_str(cell, "execution_state", "running");
    json_object_del(x->wait, cell_id);
    return rc;
}

int td_ynb_exec_start(td_ynb_exec_t *self, const char *cell_id)
{
    if (self == NULL || cell_id == NULL)
        return TD_EINVAL;
    int rc;
    S_TXN(self->doc, s_start(self, cell_id));
    return rc;
}

static int s_remember(td_ynb_exec_t *x, const char *display_id, td_ytype_t *output)
{
    size_t w = 0; /* drop entries whose outputs are gone, so the table stays small */
    for (size_t i = 0; i < x->ndisp; i++) {
        if (td_ytype_deleted(x->disp[i].output))
            free(x->disp[i].id);
        else
            x->disp[w++] = x->disp[i];
    }
    x->ndisp = w;
    if (x->ndisp == x->cap) {
        size_t cap = x->cap ? 2 * x->cap : 8;
        s_display_t *d = realloc(x->disp, cap * sizeof *d);
        if (d == NULL)
            return TD_ENOMEM;
        x->disp = d;
        x->cap = cap;
    }
    char *id = strdup(display_id);
    if (id == NULL)
        return TD_ENOMEM;
    x->disp[x->ndisp++] = (s_display_t){id, output};
    return 0;
}

static int s_output(td_ynb_exec_t *x, const char *cell_id, const json_t *output,
                    const char *display_id)
{
    td_ytype_t *cell, *outs;
    int rc = s_code_cell(x, cell_id, &cell, &outs);
    if (rc != 0)
        return rc;
    if (json_object_get(x->wait, cell_id) != NULL) {
        json_object_del(x->wait, cell_id);
        if (td_ytype_len(outs) > 0 && (rc = td_yarray_delete(outs, 0, td_ytype_len(outs))) != 0)
            return rc;
    }
    json_t *o = NULL;
    td_error_t err = {0};
    if (s_norm_output(output, 0, &o, &err) != 0 || s_depth(o) > S_MAX_DEPTH) {
        json_decref(o);
        return TD_EINVAL;
    }
    size_t n = td_ytype_len(outs);
    td_ytype_t *last = n ? td_yarray_get_type(outs, n - 1) : NULL;
    const char *type = json_string_value(json_object_get(o, "output_type"));
    if (last != NULL && strcmp(type, "stream") == 0) {
        /* Consecutive stream outputs of one name become one (nbformat, JupyterLab). */
        json_t *lt = td_ymap_get_json(last, "output_type"), *ln = td_ymap_get_json(last, "name");
        td_ytype_t *text = td_ymap_get_type(last, "text");
        bool merge = json_is_string(lt) && strcmp(json_string_value(lt), "stream") == 0 &&
                     s_eq(ln, json_object_get(o, "name")) && text != NULL &&
                     td_ytype_kind(text) == TD_YTYPE_TEXT;
        json_decref(lt);
        json_decref(ln);
        if (merge) {
            const json_t *t = json_object_get(o, "text");
            rc = td_ytext_insert(text, td_ytype_len(text), json_string_value(t),
                                 json_string_length(t), NULL);
            json_decref(o);
            return rc;
        }
    }
    td_ytype_t *om = NULL;
    rc = s_write_output(outs, n, o, &om);
    json_decref(o);
    if (rc == 0 && display_id != NULL)
        rc = s_remember(x, display_id, om);
    return rc;
}

int td_ynb_exec_output(td_ynb_exec_t *self, const char *cell_id, const json_t *output,
                       const char *display_id)
{
    if (self == NULL || cell_id == NULL || !json_is_object(output))
        return TD_EINVAL;
    int rc;
    S_TXN(self->doc, s_output(self, cell_id, output, display_id));
    return rc;
}

static int s_clear(td_ynb_exec_t *x, const char *cell_id, bool wait)
{
    td_ytype_t *cell, *outs;
    int rc = s_code_cell(x, cell_id, &cell, &outs);
    if (rc != 0)
        return rc;
    if (wait)
        return json_object_set_new(x->wait, cell_id, json_true()) ? TD_ENOMEM : 0;
    json_object_del(x->wait, cell_id);
    return td_ytype_len(outs) > 0 ? td_yarray_delete(outs, 0, td_ytype_len(outs)) : 0;
}

int td_ynb_exec_clear(td_ynb_exec_t *self, const char *cell_id, bool wait)
{
    if (self == NULL || cell_id == NULL)
        return TD_EINVAL;
    int rc;
    S_TXN(self->doc, s_clear(self, cell_id, wait));
    return rc;
}

static int s_update_display(td_ynb_exec_t *x, const char *display_id, const json_t *output)
{
    int rc = 0;
    static const char *keys[] = {"data", "metadata"};
    for (size_t i = 0; rc == 0 && i < x->ndisp; i++) {
        if (strcmp(x->disp[i].id, display_id) != 0 || td_ytype_deleted(x->disp[i].output))
            continue;
        for (int k = 0; rc == 0 && k < 2; k++) {
            const json_t *v = json_object_get(output, keys[k]);
            if (v == NULL)
                continue;
            json_t *cur = td_ymap_get_json(x->disp[i].output, keys[k]);
            if (!s_eq(cur, v))
                rc = td_ymap_set_json(x->disp[i].output, keys[k], v);
            json_decref(cur);
        }
    }
    return rc;
}

int td_ynb_exec_update_display(td_ynb_exec_t *self, const char *display_id, const json_t *output)
{
    if (self == NULL || display_id == NULL || !json_is_object(output) ||
        s_depth(output) > S_MAX_DEPTH)
        return TD_EINVAL;
    json_t *o = json_deep_copy(output);
    if (o == NULL)
        return TD_ENOMEM;
    int rc = s_rejoin_bundle(json_object_get(o, "data"));
    if (rc == 0)
        S_TXN(self->doc, s_update_display(self, display_id, o));
    json_decref(o);
    return rc;
}

static int s_finish(td_ynb_exec_t *x, const char *cell_id, int64_t count)
{
    td_ytype_t *cell, *outs;
    int rc = s_code_cell(x, cell_id, &cell, &outs);
    if (rc != 0)
        return rc;
    json_t *v = count < 0 ? json_null() : json_integer(count);
    json_t *cur = td_ymap_get_json(cell, "execution_count");
    if (v == NULL)
        rc = TD_ENOMEM;
    else if (!s_eq(cur, v))
        rc = td_ymap_set_json(cell, "execution_count", v);
    json_decref(cur);
    json_decref(v);
    json_object_del(x->wait, cell_id);
    return rc ? rc : s_set_str(cell, "execution_state", "idle");
}

int td_ynb_exec_finish(td_ynb_exec_t *self, const char *cell_id, int64_t count)
{
    if (self == NULL || cell_id == NULL || count > 9007199254740991LL)
        return TD_EINVAL;
    int rc;
    S_TXN(self->doc, s_finish(self, cell_id, count));
    return rc;
}

static int s_state(td_ynb_exec_t *x, const char *cell_id, const char *state)
{
    td_ytype_t *cell, *outs;
    int rc = s_code_cell(x, cell_id, &cell, &outs);
    return rc ? rc : s_set_str(cell, "execution_state", state);
}

int td_ynb_exec_state(td_ynb_exec_t *self, const char *cell_id, const char *state)
{
    if (self == NULL || cell_id == NULL || state == NULL)
        return TD_EINVAL;
    int rc;
    S_TXN(self->doc, s_state(self, cell_id, state));
    return rc;
}
