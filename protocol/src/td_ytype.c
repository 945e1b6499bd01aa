/* td_ytype.c: shared types. A td_ytype_t has a list part (start, the visible length, a small cache
 * of visible positions) and a map part (per key, the current item of that key's chain). Local
 * edits find their place here and hand new items to the integration in td_ydoc.c, choosing left
 * and right neighbours exactly as yjs does (typeListInsertGenerics, typeMapSet, and YText's
 * findPosition / insertText / formatText / deleteText), so that the structs, origins and clocks we
 * produce are byte for byte those of yjs for the same edit script.
 *
 * Position cache: up to TD__NMARKERS (item, start index) pairs per list, pointing at visible items
 * only. Local list edits shift them; anything else touching the list (remote integration,
 * deletion of the parent, formatting) clears them. Text with formatting items never uses them,
 * like yjs. Also JSON export (yjs toJSON) and XML toString. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "td/td_ytype.h"
#include "td_y_internal.h"

/* ---- type objects -----------------------------------------------------------------------------
 */

td_ytype_t *td__ytype_new(td_ydoc_t *doc, int kind, const char *node_name, size_t node_len)
{
    td_ytype_t *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->doc = doc;
    t->kind = kind;
    if (node_name && (kind == TD_YTYPE_XML_ELEMENT || kind == TD_YTYPE_XML_HOOK)) {
        t->node_name = malloc(node_len + 1);
        if (t->node_name == NULL) {
            free(t);
            return NULL;
        }
        memcpy(t->node_name, node_name, node_len);
        t->node_name[node_len] = 0;
    }
    t->next_all = doc->all_types;
    doc->all_types = t;
    return t;
}

void td__ytype_free(td_ytype_t *t)
{
    free(t->keys);
    free(t->vals);
    free(t->starts);
    td__u64map_fini(&t->kindex);
    free(t->markers);
    free(t->node_name);
    free(t);
}

td__item_t *td__ytype_map_get(const td_ytype_t *t, const td__key_t *key)
{
    size_t *at = td__u64map_get(&t->kindex, (uintptr_t)key);
    return at ? t->vals[*at] : NULL;
}

int td__ytype_map_set(td_ytype_t *t, td__key_t *key, td__item_t *item)
{
    size_t *at = td__u64map_get(&t->kindex, (uintptr_t)key);
    if (at) {
        t->vals[*at] = item;
        return 0;
    }
    if (t->nkeys == t->capkeys) {
        size_t nc = t->capkeys ? t->capkeys * 2 : 4;
        td__key_t **nk = realloc(t->keys, nc * sizeof *nk);
        if (nk == NULL)
            return TD_ENOMEM;
        t->keys = nk;
        td__item_t **nv = realloc(t->vals, nc * sizeof *nv);
        if (nv == NULL)
            return TD_ENOMEM;
        t->vals = nv;
        td__item_t **ns = realloc(t->starts, nc * sizeof *ns);
        if (ns == NULL)
            return TD_ENOMEM;
        t->starts = ns;
        t->capkeys = nc;
    }
    if (td__u64map_put(&t->kindex, (uintptr_t)key, t->nkeys) != 0)
        return TD_ENOMEM;
    t->keys[t->nkeys] = key;
    t->starts[t->nkeys] = item;
    t->vals[t->nkeys++] = item;
    return 0;
}

td__item_t *td__ytype_map_start(const td_ytype_t *t, const td__key_t *key)
{
    size_t *at = td__u64map_get(&t->kindex, (uintptr_t)key);
    return at ? t->starts[*at] : NULL;
}

void td__ytype_map_set_start(td_ytype_t *t, const td__key_t *key, td__item_t *item)
{
    size_t *at = td__u64map_get(&t->kindex, (uintptr_t)key);
    assert(at);
    t->starts[*at] = item;
}

void td__ytype_markers_clear(td_ytype_t *t)
{
    t->nmarkers = 0;
}

void td__ytype_marker_replace(td_ytype_t *t, td__item_t *from, td__item_t *to, uint64_t shift)
{
    for (size_t i = 0; i < t->nmarkers; i++) {
        if (t->markers[i].item == from) {
            t->markers[i].item = to;
            t->markers[i].index -= shift;
        }
    }
}

td_ytype_t *td__ydoc_root_by_name(td_ydoc_t *doc, const char *name, size_t n, bool create)
{
    td__key_t *key = td__ydoc_key(doc, name, n);
    if (key == NULL)
        return NULL;
    if (key->root || !create)
        return key->root;
    if (doc->nroots == doc->caproots) {
        size_t nc = doc->caproots ? doc->caproots * 2 : 4;
        td_ytype_t **nr = realloc(doc->roots, nc * sizeof *nr);
        if (nr == NULL)
            return NULL;
        doc->roots = nr;
        doc->caproots = nc;
    }
    td_ytype_t *t = td__ytype_new(doc, TD_YTYPE_UNDEFINED, NULL, 0);
    if (t == NULL)
        return NULL;
    t->name = key;
    key->root = t;
    doc->roots[doc->nroots++] = t;
    return t;
}

td_ytype_t *td_ydoc_get(td_ydoc_t *self, const char *name, int kind)
{
    assert(kind >= TD_YTYPE_UNDEFINED && kind <= TD_YTYPE_XML_TEXT);
    td_ytype_t *t = td__ydoc_root_by_name(self, name, strlen(name), true);
    if (t == NULL || kind == TD_YTYPE_UNDEFINED)
        return t;
    if (t->kind == TD_YTYPE_UNDEFINED)
        t->kind = kind;
    return t->kind == kind ? t : NULL;
}

size_t td_ydoc_nroots(const td_ydoc_t *self)
{
    return self->nroots;
}

td_ytype_t *td_ydoc_root(const td_ydoc_t *self, size_t i)
{
    return self->roots[i];
}

/* ---- accessors --------------------------------------------------------------------------------
 */

int td_ytype_kind(const td_ytype_t *t)
{
    return t->kind;
}

td_ydoc_t *td_ytype_doc(const td_ytype_t *t)
{
    return t->doc;
}

td_ytype_t *td_ytype_parent(const td_ytype_t *t)
{
    return t->item ? t->item->parent : NULL;
}

const char *td_ytype_name(const td_ytype_t *t)
{
    return t->nested || t->name == NULL ? NULL : t->name->s;
}

const char *td_ytype_node_name(const td_ytype_t *t)
{
    return t->node_name;
}

bool td_ytype_id(const td_ytype_t *t, td_yid_t *out)
{
    if (!t->nested)
        return false;
    *out = t->id;
    return true;
}

bool td_ytype_deleted(const td_ytype_t *t)
{
    for (; t && t->nested; t = t->item ? t->item->parent : NULL) {
        if (t->gcd || t->item == NULL || (t->item->flags & TD__I_DELETED))
            return true;
    }
    return false;
}

static bool s_visible(const td__item_t *it)
{
    return !td__deleted(it) && td__countable(it);
}

size_t td_ytype_len(const td_ytype_t *t)
{
    bool map = t->kind == TD_YTYPE_MAP || t->kind == TD_YTYPE_XML_HOOK ||
               (t->kind == TD_YTYPE_UNDEFINED && t->start == NULL);
    if (!map)
        return (size_t)t->length;
    size_t n = 0;
    for (size_t k = 0; k < t->nkeys; k++)
        n += t->vals[k] && !td__deleted(t->vals[k]);
    return n;
}

json_t *td_ytype_path(const td_ytype_t *t)
{
    json_t *path = json_array();
    if (path == NULL)
        return NULL;
    while (t && t->nested) {
        const td__item_t *it = t->item;
        if (it == NULL || td_ytype_deleted(t)) {
            json_decref(path);
            return NULL;
        }
        json_t *step;
        if (it->parent_sub) {
            step = json_stringn(it->parent_sub->s, it->parent_sub->len);
        } else {
            uint64_t index = 0;
            for (const td__item_t *o = it->parent->start; o && o != it; o = o->right)
                index += s_visible(o) ? o->len : 0;
            step = json_integer((json_int_t)index);
        }
        if (step == NULL || json_array_insert_new(path, 0, step) != 0) {
            json_decref(path);
            return NULL;
        }
        t = it->parent;
    }
    if (t == NULL || json_array_insert_new(path, 0, json_stringn(t->name->s, t->name->len)) != 0) {
        json_decref(path);
        return NULL;
    }
    return path;
}

/* ---- transactions around single edits ---------------------------------------------------------
 */

typedef struct s_edit {
    td_ydoc_t *doc;
    bool opened;
} s_edit_t;

static int s_edit_begin(s_edit_t *ed, td_ytype_t *t)
{
    ed->doc = t->doc;
    return td__ydoc_txn_open(t->doc, NULL, true, &ed->opened);
}

static int s_edit_end(s_edit_t *ed, int rc)
{
    ed->doc->marker_owner = NULL;
    if (ed->opened) {
        int rc2 = td__ydoc_txn_close(ed->doc);
        rc = rc ? rc : rc2;
    }
    return rc;
}

static bool s_is_map(const td_ytype_t *t)
{
    return t->kind == TD_YTYPE_MAP || t->kind == TD_YTYPE_XML_ELEMENT ||
           t->kind == TD_YTYPE_XML_HOOK;
}

static bool s_is_array(const td_ytype_t *t)
{
    return t->kind == TD_YTYPE_ARRAY || t->kind == TD_YTYPE_XML_FRAGMENT ||
           t->kind == TD_YTYPE_XML_ELEMENT;
}

static bool s_is_text(const td_ytype_t *t)
{
    return t->kind == TD_YTYPE_TEXT || t->kind == TD_YTYPE_XML_TEXT;
}

static bool s_valid_kind(int kind)
{
    return kind >= TD_YTYPE_ARRAY && kind <= TD_YTYPE_XML_TEXT;
}

/* Encodes JSON as `any` values into an owned buffer: the elements of an array (many) or v. */
static int s_encode_any(const json_t *v, bool many, uint8_t **out, uint32_t *n, uint64_t *count)
{
    td_lib0_enc_t e;
    td_lib0_enc_init(&e);
    int rc = 0;
    if (many) {
        if (!json_is_array(v))
            return TD_EINVAL;
        for (size_t i = 0; i < json_array_size(v) && rc == 0; i++)
            rc = td_lib0_write_any_json(&e, json_array_get(v, i));
        *count = json_array_size(v);
    } else {
        rc = td_lib0_write_any_json(&e, v);
        *count = 1;
    }
    size_t len = 0;
    if (rc == 0 && (*out = td_lib0_enc_steal(&e, &len)) == NULL)
        rc = TD_ENOMEM;
    td_lib0_enc_fini(&e);
    if (rc == 0 && len > UINT32_MAX) {
        free(*out);
        rc = TD_E2BIG;
    }
    *n = (uint32_t)len;
    return rc;
}

static uint8_t *s_memdup(const void *p, size_t n)
{
    uint8_t *d = malloc(n ? n : 1);
    if (d && n)
        memcpy(d, p, n);
    return d;
}

/* ---- Map --------------------------------------------------------------------------------------
 */

/* yjs typeMapSet: the new value's origin is the key's current item. */
static int s_map_set(td_ytype_t *map, const char *key, uint8_t content, uint8_t *buf, uint32_t n,
                     uint64_t len, td_ytype_t *type)
{
    s_edit_t ed;
    td__key_t *k = td__ydoc_key(map->doc, key, strlen(key));
    int rc = k ? s_edit_begin(&ed, map) : TD_ENOMEM;
    if (rc != 0) {
        free(buf);
        return rc;
    }
    td__item_t *left = td__ytype_map_get(map, k);
    rc = td__item_local(map->doc, map, k, left, NULL, content, buf, n, 0, len, type, NULL);
    return s_edit_end(&ed, rc);
}

int td_ymap_set_json(td_ytype_t *map, const char *key, const json_t *value)
{
    if (!s_is_map(map) || value == NULL)
        return TD_EINVAL;
    if (!td_lib0_utf8_valid((const uint8_t *)key, strlen(key)))
        return TD_EINVAL;
    uint8_t *buf = NULL;
    uint32_t n;
    uint64_t count;
    int rc = s_encode_any(value, false, &buf, &n, &count);
    return rc ? rc : s_map_set(map, key, TD_YCONTENT_ANY, buf, n, 1, NULL);
}

int td_ymap_set_binary(td_ytype_t *map, const char *key, const uint8_t *p, size_t n)
{
    if (!s_is_map(map) || n > UINT32_MAX || !td_lib0_utf8_valid((const uint8_t *)key, strlen(key)))
        return TD_EINVAL;
    uint8_t *buf = s_memdup(p, n);
    return buf ? s_map_set(map, key, TD_YCONTENT_BINARY, buf, (uint32_t)n, 1, NULL) : TD_ENOMEM;
}

int td_ymap_set_type(td_ytype_t *map, const char *key, int kind, const char *node_name,
                     td_ytype_t **out)
{
    if (!s_is_map(map) || !s_valid_kind(kind) ||
        !td_lib0_utf8_valid((const uint8_t *)key, strlen(key)))
        return TD_EINVAL;
    if ((kind == TD_YTYPE_XML_ELEMENT || kind == TD_YTYPE_XML_HOOK) &&
        (node_name == NULL || !td_lib0_utf8_valid((const uint8_t *)node_name, strlen(node_name))))
        return TD_EINVAL;
    td_ytype_t *t = td__ytype_new(map->doc, kind, node_name, node_name ? strlen(node_name) : 0);
    if (t == NULL)
        return TD_ENOMEM;
    int rc = s_map_set(map, key, TD_YCONTENT_TYPE, NULL, 0, 1, t);
    if (rc == 0 && out)
        *out = t;
    return rc;
}

int td_ymap_delete(td_ytype_t *map, const char *key)
{
    if (!s_is_map(map))
        return TD_EINVAL;
    td__key_t *k = td__ydoc_key(map->doc, key, strlen(key));
    if (k == NULL)
        return TD_ENOMEM;
    td__item_t *it = td__ytype_map_get(map, k);
    if (it == NULL || td__deleted(it))
        return TD_ENOENT;
    s_edit_t ed;
    int rc = s_edit_begin(&ed, map);
    if (rc != 0)
        return rc;
    return s_edit_end(&ed, td__item_delete(map->doc, it));
}

static td__item_t *s_map_live(const td_ytype_t *map, const char *key)
{
    /* A lookup must not intern new keys, so search the map's own keys. */
    size_t n = strlen(key);
    for (size_t k = 0; k < map->nkeys; k++) {
        if (map->keys[k]->len == n && memcmp(map->keys[k]->s, key, n) == 0)
            return map->vals[k] && !td__deleted(map->vals[k]) ? map->vals[k] : NULL;
    }
    return NULL;
}

/* yjs reads a map entry as content.getContent()[length - 1]. Format content is valid peer input
 * under a key (yjs never writes it there) and its getContent() is []: the value is undefined. So
 * get() gives undefined (NULL here), toJSON leaves the key out (JSON.stringify drops undefined),
 * XML attributes print it as "undefined", while has(), keys() and size still count the key. */
static bool s_map_no_value(const td__item_t *it)
{
    return it->content == TD_YCONTENT_FORMAT;
}

bool td_ymap_has(const td_ytype_t *map, const char *key)
{
    return s_map_live(map, key) != NULL;
}

json_t *td_ymap_get_json(const td_ytype_t *map, const char *key)
{
    const td__item_t *it = s_map_live(map, key);
    return it && !s_map_no_value(it) ? td__item_value_json(it, it->len - 1) : NULL;
}

td_ytype_t *td_ymap_get_type(const td_ytype_t *map, const char *key)
{
    const td__item_t *it = s_map_live(map, key);
    return it && it->content == TD_YCONTENT_TYPE ? it->c.type : NULL;
}

size_t td_ymap_keys(const td_ytype_t *map, const char **keys, size_t cap)
{
    size_t n = 0;
    for (size_t k = 0; k < map->nkeys; k++) {
        if (map->vals[k] && !td__deleted(map->vals[k])) {
            if (n < cap)
                keys[n] = map->keys[k]->s;
            n++;
        }
    }
    return n;
}

/* ---- positions in lists -----------------------------------------------------------------------
 */

static bool s_markers_on(const td_ytype_t *t)
{
    return !t->has_formatting;
}

/* Remembers (item, index) as a visible position, replacing the least recently used marker. */
static void s_mark(td_ytype_t *t, td__item_t *it, uint64_t index)
{
    if (!s_markers_on(t))
        return;
    /* Allocated when first needed: most types, and every type of a document that is only
     * exported, never are. A cache, so without memory it just stays empty. */
    if (t->markers == NULL && (t->markers = malloc(TD__NMARKERS * sizeof *t->markers)) == NULL)
        return;
    td_ydoc_t *doc = t->doc;
    size_t slot = 0;
    for (size_t i = 0; i < t->nmarkers; i++) {
        if (t->markers[i].item == it) {
            slot = i;
            goto set;
        }
        if (t->markers[i].stamp < t->markers[slot].stamp)
            slot = i;
    }
    if (t->nmarkers < TD__NMARKERS)
        slot = t->nmarkers++;
set:
    t->markers[slot] = (td__marker_t){it, index, ++doc->marker_stamp};
}

/* The visible item containing unit index (< t->length) and its start index. */
static td__item_t *s_find(td_ytype_t *t, uint64_t index, uint64_t *start)
{
    td__item_t *it = t->start;
    uint64_t pos = 0;
    if (s_markers_on(t)) {
        uint64_t best = index;
        for (size_t i = 0; i < t->nmarkers; i++) {
            uint64_t mi = t->markers[i].index;
            uint64_t d = mi > index ? mi - index : index - mi;
            if (d < best) {
                best = d;
                it = t->markers[i].item;
                pos = mi;
            }
        }
    }
    if (pos > index) {
        while (pos > index) {
            it = it->left;
            if (s_visible(it))
                pos -= it->len;
        }
    } else {
        for (;; it = it->right) {
            if (s_visible(it)) {
                if (index < pos + it->len)
                    break;
                pos += it->len;
            }
        }
    }
    s_mark(t, it, pos);
    *start = pos;
    return it;
}

/* Shifts markers at or after index by delta units (insertions) and drops deleted ones. */
static void s_markers_shift(td_ytype_t *t, uint64_t index, int64_t delta)
{
    size_t j = 0;
    for (size_t i = 0; i < t->nmarkers; i++) {
        td__marker_t m = t->markers[i];
        if (td__deleted(m.item))
            continue;
        if (m.index >= index)
            m.index = (uint64_t)((int64_t)m.index + delta);
        t->markers[j++] = m;
    }
    t->nmarkers = j;
}

/* The visible item starting exactly at index (splitting one), or NULL at the end. */
static td__item_t *s_visible_at(td_ytype_t *t, uint64_t index)
{
    if (index >= t->length)
        return NULL;
    uint64_t pos;
    td__item_t *it = s_find(t, index, &pos);
    if (pos < index) {
        it = td__clean_start(t->doc, (td_yid_t){it->id.client, it->id.clock + (index - pos)});
        if (it)
            s_mark(t, it, index);
    }
    return it;
}

/* The last item of the list, deleted or not. */
static td__item_t *s_last(td_ytype_t *t)
{
    td__item_t *it = t->start;
    uint64_t best = 0;
    for (size_t i = 0; s_markers_on(t) && i < t->nmarkers; i++) {
        if (t->markers[i].index >= best) {
            best = t->markers[i].index;
            it = t->markers[i].item;
        }
    }
    while (it && it->right)
        it = it->right;
    return it;
}

/* ---- Array --------------------------------------------------------------------------------------
 */

/* yjs typeListInsertGenerics: left is the visible item ending at index (or none at 0). */
static int s_list_insert(td_ytype_t *t, size_t index, bool push, uint8_t content, uint8_t *buf,
                         uint32_t n, uint64_t len, td_ytype_t *type)
{
    if (index > t->length) {
        free(buf);
        return TD_EINVAL;
    }
    s_edit_t ed;
    int rc = s_edit_begin(&ed, t);
    if (rc != 0) {
        free(buf);
        return rc;
    }
    t->doc->marker_owner = t;
    td__item_t *left = NULL;
    if (push) {
        left = s_last(t);
    } else if (index > 0) {
        uint64_t pos;
        left = s_find(t, index - 1, &pos);
        if (index < pos + left->len &&
            td__clean_start(t->doc, (td_yid_t){left->id.client, left->id.clock + (index - pos)}) ==
                NULL)
            rc = TD_ENOMEM;
    }
    if (rc == 0) {
        td__item_t *right = left ? left->right : t->start;
        uint64_t at = push ? t->length : index;
        s_markers_shift(t, at, (int64_t)len);
        td__item_t *it = NULL;
        rc = td__item_local(t->doc, t, NULL, left, right, content, buf, n, 0, len, type, &it);
        if (rc == 0 && !td__deleted(it))
            s_mark(t, it, at);
    } else {
        free(buf);
    }
    return s_edit_end(&ed, rc);
}

int td_yarray_insert_json(td_ytype_t *arr, size_t index, const json_t *values)
{
    if (!s_is_array(arr) || values == NULL)
        return TD_EINVAL;
    if (json_array_size(values) == 0)
        return json_is_array(values) ? 0 : TD_EINVAL;
    uint8_t *buf = NULL;
    uint32_t n;
    uint64_t count;
    int rc = s_encode_any(values, true, &buf, &n, &count);
    return rc ? rc : s_list_insert(arr, index, false, TD_YCONTENT_ANY, buf, n, count, NULL);
}

int td_yarray_push_json(td_ytype_t *arr, const json_t *values)
{
    if (!s_is_array(arr) || values == NULL)
        return TD_EINVAL;
    if (json_array_size(values) == 0)
        return json_is_array(values) ? 0 : TD_EINVAL;
    uint8_t *buf = NULL;
    uint32_t n;
    uint64_t count;
    int rc = s_encode_any(values, true, &buf, &n, &count);
    return rc ? rc : s_list_insert(arr, 0, true, TD_YCONTENT_ANY, buf, n, count, NULL);
}

int td_yarray_insert_binary(td_ytype_t *arr, size_t index, const uint8_t *p, size_t n)
{
    if (!s_is_array(arr) || n > UINT32_MAX)
        return TD_EINVAL;
    uint8_t *buf = s_memdup(p, n);
    return buf ? s_list_insert(arr, index, false, TD_YCONTENT_BINARY, buf, (uint32_t)n, 1, NULL)
               : TD_ENOMEM;
}

static int s_insert_type(td_ytype_t *arr, size_t index, bool push, int kind, const char *node_name,
                         td_ytype_t **out)
{
    if (!s_is_array(arr) || !s_valid_kind(kind))
        return TD_EINVAL;
    if ((kind == TD_YTYPE_XML_ELEMENT || kind == TD_YTYPE_XML_HOOK) &&
        (node_name == NULL || !td_lib0_utf8_valid((const uint8_t *)node_name, strlen(node_name))))
        return TD_EINVAL;
    if (!push && index > arr->length)
        return TD_EINVAL;
    td_ytype_t *t = td__ytype_new(arr->doc, kind, node_name, node_name ? strlen(node_name) : 0);
    if (t == NULL)
        return TD_ENOMEM;
    int rc = s_list_insert(arr, index, push, TD_YCONTENT_TYPE, NULL, 0, 1, t);
    if (rc == 0 && out)
        *out = t;
    return rc;
}

int td_yarray_insert_type(td_ytype_t *arr, size_t index, int kind, const char *node_name,
                          td_ytype_t **out)
{
    return s_insert_type(arr, index, false, kind, node_name, out);
}

int td_yarray_push_type(td_ytype_t *arr, int kind, const char *node_name, td_ytype_t **out)
{
    return s_insert_type(arr, 0, true, kind, node_name, out);
}

/* yjs typeListDelete (and deleteText for lists without formatting): splits at both ends and
 * deletes every visible item in between. */
static int s_list_delete(td_ytype_t *t, size_t index, size_t len)
{
    if (index > t->length || len > t->length - index)
        return TD_EINVAL;
    if (len == 0)
        return 0;
    s_edit_t ed;
    int rc = s_edit_begin(&ed, t);
    if (rc != 0)
        return rc;
    t->doc->marker_owner = t;
    td__item_t *it = s_visible_at(t, index);
    uint64_t left = len;
    if (it == NULL)
        rc = TD_ENOMEM;
    while (rc == 0 && left > 0 && it) {
        if (!td__deleted(it) && td__countable(it)) {
            if (left < it->len &&
                td__clean_start(t->doc, (td_yid_t){it->id.client, it->id.clock + left}) == NULL) {
                rc = TD_ENOMEM;
                break;
            }
            left -= it->len;
            rc = td__item_delete(t->doc, it);
        }
        it = it->right;
    }
    if (rc == 0)
        s_markers_shift(t, index, -(int64_t)len);
    return s_edit_end(&ed, rc);
}

int td_yarray_delete(td_ytype_t *arr, size_t index, size_t len)
{
    if (!s_is_array(arr))
        return TD_EINVAL;
    return s_list_delete(arr, index, len);
}

json_t *td_yarray_get_json(const td_ytype_t *arr, size_t index)
{
    if (index >= arr->length)
        return NULL;
    uint64_t pos;
    const td__item_t *it = s_find((td_ytype_t *)arr, index, &pos);
    return td__item_value_json(it, index - pos);
}

td_ytype_t *td_yarray_get_type(const td_ytype_t *arr, size_t index)
{
    if (index >= arr->length)
        return NULL;
    uint64_t pos;
    const td__item_t *it = s_find((td_ytype_t *)arr, index, &pos);
    return it->content == TD_YCONTENT_TYPE ? it->c.type : NULL;
}

/* ---- Text: formatting -------------------------------------------------------------------------
 */

/* A format item's value as JSON (new reference; null for unparsable text). */
static json_t *s_format_value(const td__item_t *it)
{
    json_t *v = json_loadb((const char *)it->c.buf.p + it->split, it->c.buf.n - it->split,
                           JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    return v ? v : json_null();
}

static const char *s_format_key(const td__item_t *it, size_t *n)
{
    *n = it->split;
    return (const char *)it->c.buf.p;
}

static bool s_is_format(const td__item_t *it)
{
    return it->kind == TD_YSTRUCT_ITEM && it->content == TD_YCONTENT_FORMAT;
}

/* JS ===, for values parsed from JSON: equal primitives; objects never (they are fresh). */
static bool s_strict_eq(const json_t *a, const json_t *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    if (json_typeof(a) != json_typeof(b))
        return false;
    switch (json_typeof(a)) {
    case JSON_STRING:
        return json_equal(a, b);
    case JSON_OBJECT:
    case JSON_ARRAY:
        return a == b;
    default:
        return true;
    }
}

/* yjs equalAttrs: === or, for two objects, flat equality of their properties. */
static bool s_equal_attrs(const json_t *a, const json_t *b)
{
    if (s_strict_eq(a, b))
        return true;
    if (a && b && json_is_object(a) && json_is_object(b)) {
        if (json_object_size(a) != json_object_size(b))
            return false;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)a, k, v)
        {
            if (!s_strict_eq(v, json_object_get(b, k)))
                return false;
        }
        return true;
    }
    return false;
}

/* attrs[key] ?? null as a borrowed value (never NULL). */
static json_t *s_attr_or_null(const json_t *attrs, const char *key)
{
    json_t *v = json_object_get(attrs, key);
    return v ? v : json_null();
}

/* yjs updateCurrentAttributes. */
static int s_update_attrs(json_t *attrs, const td__item_t *fmt)
{
    size_t kn;
    const char *k = s_format_key(fmt, &kn);
    char *key = strndup(k, kn);
    json_t *v = s_format_value(fmt);
    int rc = key && v ? 0 : TD_ENOMEM;
    if (rc == 0) {
        if (json_is_null(v))
            json_object_del(attrs, key);
        else if (json_object_set(attrs, key, v) != 0)
            rc = TD_ENOMEM;
    }
    json_decref(v);
    free(key);
    return rc;
}

/* yjs ItemTextListPosition. */
typedef struct s_tpos {
    td__item_t *left, *right;
    uint64_t index;
    json_t *attrs; /* current attributes, owned */
} s_tpos_t;

static int s_forward(s_tpos_t *p)
{
    int rc = 0;
    if (!td__deleted(p->right)) {
        if (s_is_format(p->right))
            rc = s_update_attrs(p->attrs, p->right);
        else
            p->index += p->right->len;
    }
    p->left = p->right;
    p->right = p->right->right;
    return rc;
}

/* yjs findNextPosition. */
static int s_next_position(td_ydoc_t *doc, s_tpos_t *p, uint64_t count)
{
    while (p->right && count > 0) {
        if (s_is_format(p->right)) {
            if (!td__deleted(p->right) && s_update_attrs(p->attrs, p->right) != 0)
                return TD_ENOMEM;
        } else if (!td__deleted(p->right)) {
            if (count < p->right->len &&
                td__clean_start(doc, (td_yid_t){p->right->id.client, p->right->id.clock + count}) ==
                    NULL)
                return TD_ENOMEM;
            p->index += p->right->len;
            count -= p->right->len;
        }
        p->left = p->right;
        p->right = p->right->right;
    }
    return 0;
}

/* yjs findPosition without search markers (formatted text never has them). */
static int s_find_position(td_ytype_t *t, uint64_t index, s_tpos_t *p)
{
    *p = (s_tpos_t){NULL, t->start, 0, json_object()};
    if (p->attrs == NULL)
        return TD_ENOMEM;
    return s_next_position(t->doc, p, index);
}

/* Inserts a Format item (key, value) at p and steps over it. */
static int s_insert_format(td_ytype_t *t, s_tpos_t *p, const char *key, const json_t *value)
{
    char *val = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    size_t kn = strlen(key), vn = val ? strlen(val) : 0;
    uint8_t *buf = val ? malloc(kn + vn + 1) : NULL;
    if (buf == NULL) {
        free(val);
        return TD_ENOMEM;
    }
    memcpy(buf, key, kn);
    memcpy(buf + kn, val, vn);
    free(val);
    td__item_t *it = NULL;
    int rc = td__item_local(t->doc, t, NULL, p->left, p->right, TD_YCONTENT_FORMAT, buf,
                            (uint32_t)(kn + vn), (uint32_t)kn, 1, NULL, &it);
    if (rc != 0)
        return rc;
    p->right = it;
    return s_forward(p);
}

/* yjs minimizeAttributeChanges. */
static int s_minimize(s_tpos_t *p, const json_t *attrs)
{
    while (p->right) {
        bool skip = td__deleted(p->right);
        if (!skip && s_is_format(p->right)) {
            size_t kn;
            const char *k = s_format_key(p->right, &kn);
            char *key = strndup(k, kn);
            json_t *v = s_format_value(p->right);
            if (key == NULL || v == NULL) {
                free(key);
                json_decref(v);
                return TD_ENOMEM;
            }
            skip = s_equal_attrs(s_attr_or_null(attrs, key), v);
            free(key);
            json_decref(v);
        }
        if (!skip)
            break;
        int rc = s_forward(p);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* yjs insertAttributes: returns the attributes to restore after the insertion (new object). */
static int s_insert_attrs(td_ytype_t *t, s_tpos_t *p, const json_t *attrs, json_t **negated)
{
    *negated = json_object();
    if (*negated == NULL)
        return TD_ENOMEM;
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)attrs, key, val)
    {
        json_t *cur = s_attr_or_null(p->attrs, key);
        if (!s_equal_attrs(cur, val)) {
            if (json_object_set(*negated, key, cur) != 0)
                return TD_ENOMEM;
            int rc = s_insert_format(t, p, key, val);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

/* yjs insertNegatedAttributes. */
static int s_insert_negated(td_ytype_t *t, s_tpos_t *p, json_t *negated)
{
    while (p->right) {
        bool skip = td__deleted(p->right);
        if (!skip && s_is_format(p->right)) {
            size_t kn;
            const char *k = s_format_key(p->right, &kn);
            char *key = strndup(k, kn);
            json_t *v = s_format_value(p->right);
            json_t *neg = key ? json_object_get(negated, key) : NULL;
            skip = neg != NULL && s_equal_attrs(neg, v);
            if (skip)
                json_object_del(negated, key);
            free(key);
            json_decref(v);
        }
        if (!skip)
            break;
        int rc = s_forward(p);
        if (rc != 0)
            return rc;
    }
    const char *key;
    json_t *val;
    json_object_foreach(negated, key, val)
    {
        int rc = s_insert_format(t, p, key, val);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* yjs insertText, for String or Embed content (buf owned, stolen). */
static int s_insert_text_at(td_ytype_t *t, s_tpos_t *p, const json_t *user_attrs, uint8_t content,
                            uint8_t *buf, uint32_t n, uint64_t len)
{
    json_t *attrs = user_attrs ? json_deep_copy(user_attrs) : json_deep_copy(p->attrs);
    json_t *negated = NULL;
    int rc = attrs ? 0 : TD_ENOMEM;
    const char *key;
    json_t *val;
    if (rc == 0) {
        json_object_foreach(p->attrs, key, val)
        {
            if (json_object_get(attrs, key) == NULL && json_object_set_new(attrs, key, json_null()))
                rc = TD_ENOMEM;
        }
    }
    if (rc == 0)
        rc = s_minimize(p, attrs);
    if (rc == 0)
        rc = s_insert_attrs(t, p, attrs, &negated);
    if (rc == 0) {
        td__item_t *it = NULL;
        rc = td__item_local(t->doc, t, NULL, p->left, p->right, content, buf, n, 0, len, NULL, &it);
        buf = NULL;
        if (rc == 0) {
            p->right = it;
            rc = s_forward(p);
        }
    }
    free(buf);
    if (rc == 0)
        rc = s_insert_negated(t, p, negated);
    json_decref(attrs);
    json_decref(negated);
    return rc;
}

/* yjs formatText. */
static int s_format_text(td_ytype_t *t, s_tpos_t *p, uint64_t length, const json_t *attrs)
{
    json_t *negated = NULL;
    int rc = s_minimize(p, attrs);
    if (rc == 0)
        rc = s_insert_attrs(t, p, attrs, &negated);
    while (rc == 0 && p->right &&
           (length > 0 ||
            (json_object_size(negated) > 0 && (td__deleted(p->right) || s_is_format(p->right))))) {
        td__item_t *r = p->right;
        if (!td__deleted(r)) {
            if (s_is_format(r)) {
                size_t kn;
                const char *k = s_format_key(r, &kn);
                char *key = strndup(k, kn);
                json_t *v = s_format_value(r);
                json_t *attr = key ? json_object_get(attrs, key) : NULL;
                bool stop = false;
                if (key == NULL || v == NULL) {
                    rc = TD_ENOMEM;
                } else if (attr) {
                    if (s_equal_attrs(attr, v)) {
                        json_object_del(negated, key);
                    } else if (length == 0) {
                        stop = true;
                    } else if (json_object_set(negated, key, v) != 0) {
                        rc = TD_ENOMEM;
                    }
                    if (!stop && rc == 0)
                        rc = td__item_delete(t->doc, r);
                } else if (json_object_set(p->attrs, key, v) != 0) {
                    rc = TD_ENOMEM;
                }
                free(key);
                json_decref(v);
                if (stop || rc != 0)
                    break;
            } else {
                if (length < r->len &&
                    td__clean_start(t->doc, (td_yid_t){r->id.client, r->id.clock + length}) ==
                        NULL) {
                    rc = TD_ENOMEM;
                    break;
                }
                length = length > r->len ? length - r->len : 0;
            }
        }
        rc = rc ? rc : s_forward(p);
    }
    if (rc == 0 && length > 0) {
        /* Quill's trailing newline: formatting past the end inserts newlines. */
        uint8_t *nl = malloc((size_t)length);
        if (nl == NULL) {
            rc = TD_ENOMEM;
        } else {
            memset(nl, '\n', (size_t)length);
            td__item_t *it = NULL;
            rc = td__item_local(t->doc, t, NULL, p->left, p->right, TD_YCONTENT_STRING, nl,
                                (uint32_t)length, 0, length, NULL, &it);
            if (rc == 0) {
                p->right = it;
                rc = s_forward(p);
            }
        }
    }
    if (rc == 0)
        rc = s_insert_negated(t, p, negated);
    json_decref(negated);
    return rc;
}

/* yjs cleanupFormattingGap: drops format items made redundant by a deletion. */
static int s_cleanup_gap(td_ytype_t *t, td__item_t *start, td__item_t *curr, json_t *start_attrs,
                         json_t *curr_attrs)
{
    td__item_t *end = start;
    json_t *end_formats = json_object(); /* key -> item address as integer */
    if (end_formats == NULL)
        return TD_ENOMEM;
    int rc = 0;
    while (end && (!td__countable(end) || td__deleted(end))) {
        if (!td__deleted(end) && s_is_format(end)) {
            size_t kn;
            const char *k = s_format_key(end, &kn);
            if (json_object_setn_new(end_formats, k, kn, json_integer((json_int_t)(intptr_t)end)))
                rc = TD_ENOMEM;
        }
        end = end->right;
    }
    bool reached = false;
    for (; rc == 0 && start != end; start = start->right) {
        if (curr == start)
            reached = true;
        if (td__deleted(start) || !s_is_format(start))
            continue;
        size_t kn;
        const char *k = s_format_key(start, &kn);
        char *key = strndup(k, kn);
        json_t *value = s_format_value(start);
        if (key == NULL || value == NULL) {
            free(key);
            json_decref(value);
            return TD_ENOMEM;
        }
        json_t *sv = s_attr_or_null(start_attrs, key);
        json_t *ef = json_object_get(end_formats, key);
        bool is_end = ef && (intptr_t)json_integer_value(ef) == (intptr_t)start;
        if (!is_end || s_strict_eq(sv, value) || (json_is_null(sv) && json_is_null(value))) {
            rc = td__item_delete(t->doc, start);
            json_t *cv = s_attr_or_null(curr_attrs, key);
            if (rc == 0 && !reached &&
                (s_strict_eq(cv, value) || (json_is_null(cv) && json_is_null(value))) &&
                !(s_strict_eq(sv, value) || (json_is_null(sv) && json_is_null(value)))) {
                if (json_is_null(sv))
                    json_object_del(curr_attrs, key);
                else if (json_object_set(curr_attrs, key, sv) != 0)
                    rc = TD_ENOMEM;
            }
        }
        if (rc == 0 && !reached && !td__deleted(start))
            rc = s_update_attrs(curr_attrs, start);
        free(key);
        json_decref(value);
    }
    json_decref(end_formats);
    return rc;
}

/* yjs deleteText. */
static int s_delete_text(td_ytype_t *t, s_tpos_t *p, uint64_t length)
{
    json_t *start_attrs = json_deep_copy(p->attrs);
    if (start_attrs == NULL)
        return TD_ENOMEM;
    td__item_t *start = p->right;
    int rc = 0;
    while (rc == 0 && length > 0 && p->right) {
        td__item_t *r = p->right;
        if (!td__deleted(r) && (r->content == TD_YCONTENT_TYPE || r->content == TD_YCONTENT_EMBED ||
                                r->content == TD_YCONTENT_STRING)) {
            if (length < r->len &&
                td__clean_start(t->doc, (td_yid_t){r->id.client, r->id.clock + length}) == NULL) {
                rc = TD_ENOMEM;
                break;
            }
            length -= r->len;
            rc = td__item_delete(t->doc, r);
        }
        if (rc == 0)
            rc = s_forward(p);
    }
    if (rc == 0 && start)
        rc = s_cleanup_gap(t, start, p->right, start_attrs, p->attrs);
    json_decref(start_attrs);
    return rc;
}

/* ---- Text -------------------------------------------------------------------------------------
 */

/* Plain text (no formatting anywhere, none requested): yjs's findPosition +
 * minimizeAttributeChanges come down to inserting just before the first visible item at index,
 * after any deleted items. */
static int s_text_insert_plain(td_ytype_t *t, size_t index, uint8_t content, uint8_t *buf,
                               uint32_t n, uint64_t len)
{
    t->doc->marker_owner = t;
    td__item_t *right = s_visible_at(t, index), *left;
    if (index < t->length && right == NULL) {
        free(buf);
        return TD_ENOMEM;
    }
    left = right ? right->left : s_last(t);
    s_markers_shift(t, index, (int64_t)len);
    td__item_t *it = NULL;
    int rc = td__item_local(t->doc, t, NULL, left, right, content, buf, n, 0, len, NULL, &it);
    if (rc == 0)
        s_mark(t, it, index);
    return rc;
}

static int s_text_insert(td_ytype_t *t, size_t index, uint8_t content, uint8_t *buf, uint32_t n,
                         uint64_t len, const json_t *attrs)
{
    if (!s_is_text(t) || index > t->length || (attrs && !json_is_object(attrs))) {
        free(buf);
        return TD_EINVAL;
    }
    s_edit_t ed;
    int rc = s_edit_begin(&ed, t);
    if (rc != 0) {
        free(buf);
        return rc;
    }
    if (!t->has_formatting && attrs == NULL) {
        rc = s_text_insert_plain(t, index, content, buf, n, len);
    } else {
        s_tpos_t p;
        rc = s_find_position(t, index, &p);
        if (rc == 0)
            rc = s_insert_text_at(t, &p, attrs, content, buf, n, len);
        else
            free(buf);
        json_decref(p.attrs);
    }
    return s_edit_end(&ed, rc);
}

int td_ytext_insert(td_ytype_t *text, size_t index, const char *utf8, size_t n, const json_t *attrs)
{
    if (n == 0)
        return s_is_text(text) && index <= text->length ? 0 : TD_EINVAL;
    if (n > UINT32_MAX || !td_lib0_utf8_valid((const uint8_t *)utf8, n))
        return TD_EINVAL;
    uint8_t *buf = s_memdup(utf8, n);
    if (buf == NULL)
        return TD_ENOMEM;
    return s_text_insert(text, index, TD_YCONTENT_STRING, buf, (uint32_t)n,
                         td_lib0_utf16_len(buf, n), attrs);
}

int td_ytext_insert_embed(td_ytype_t *text, size_t index, const json_t *embed, const json_t *attrs)
{
    if (embed == NULL)
        return TD_EINVAL;
    char *s = json_dumps(embed, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s == NULL)
        return TD_ENOMEM;
    size_t n = strlen(s);
    return s_text_insert(text, index, TD_YCONTENT_EMBED, (uint8_t *)s, (uint32_t)n, 1, attrs);
}

int td_ytext_delete(td_ytype_t *text, size_t index, size_t len)
{
    if (!s_is_text(text))
        return TD_EINVAL;
    if (!text->has_formatting)
        return s_list_delete(text, index, len);
    if (index > text->length || len > text->length - index)
        return TD_EINVAL;
    if (len == 0)
        return 0;
    s_edit_t ed;
    int rc = s_edit_begin(&ed, text);
    if (rc != 0)
        return rc;
    s_tpos_t p;
    rc = s_find_position(text, index, &p);
    if (rc == 0)
        rc = s_delete_text(text, &p, len);
    json_decref(p.attrs);
    return s_edit_end(&ed, rc);
}

int td_ytext_format(td_ytype_t *text, size_t index, size_t len, const json_t *attrs)
{
    if (!s_is_text(text) || !json_is_object(attrs))
        return TD_EINVAL;
    if (len == 0)
        return 0;
    s_edit_t ed;
    int rc = s_edit_begin(&ed, text);
    if (rc != 0)
        return rc;
    s_tpos_t p;
    rc = s_find_position(text, index, &p);
    if (rc == 0 && p.right)
        rc = s_format_text(text, &p, len, attrs);
    json_decref(p.attrs);
    return s_edit_end(&ed, rc);
}

int td_ytext_string(const td_ytype_t *text, char **out, size_t *len)
{
    size_t n = 0;
    for (const td__item_t *it = text->start; it; it = it->right)
        if (!td__deleted(it) && it->content == TD_YCONTENT_STRING)
            n += it->c.buf.n;
    char *s = malloc(n + 1);
    if (s == NULL)
        return TD_ENOMEM;
    size_t k = 0;
    for (const td__item_t *it = text->start; it; it = it->right) {
        if (!td__deleted(it) && it->content == TD_YCONTENT_STRING) {
            memcpy(s + k, it->c.buf.p, it->c.buf.n);
            k += it->c.buf.n;
        }
    }
    s[n] = 0;
    *out = s;
    if (len)
        *len = n;
    return 0;
}

/* Appends {"insert": v, "attributes": attrs} to ops (steals v). */
static int s_delta_push(json_t *ops, json_t *v, const json_t *attrs)
{
    json_t *op = json_object();
    if (op == NULL || v == NULL || json_object_set_new(op, "insert", v) != 0) {
        json_decref(op);
        return TD_ENOMEM;
    }
    if (json_object_size(attrs) > 0 &&
        json_object_set_new(op, "attributes", json_deep_copy(attrs)) != 0) {
        json_decref(op);
        return TD_ENOMEM;
    }
    return json_array_append_new(ops, op) ? TD_ENOMEM : 0;
}

static json_t *s_value_json(const td__item_t *it, uint64_t k, int depth);

/* td_ytext_delta at a nesting depth: embedded types are exported through s_value_json with the
 * caller's depth, so XmlText embedding XmlText ... cannot recurse without bound. */
static json_t *s_text_delta(const td_ytype_t *text, int depth)
{
    json_t *ops = json_array(), *attrs = json_object();
    char *str = NULL;
    size_t sn = 0;
    int rc = ops && attrs ? 0 : TD_ENOMEM;
    for (const td__item_t *it = text->start; it && rc == 0; it = it->right) {
        if (td__deleted(it))
            continue;
        bool pack = it->content != TD_YCONTENT_STRING;
        if (pack && sn > 0) {
            rc = s_delta_push(ops, json_stringn(str, sn), attrs);
            sn = 0;
        }
        if (rc != 0)
            break;
        if (it->content == TD_YCONTENT_STRING) {
            char *ns = realloc(str, sn + it->c.buf.n);
            if (ns == NULL) {
                rc = TD_ENOMEM;
                break;
            }
            str = ns;
            memcpy(str + sn, it->c.buf.p, it->c.buf.n);
            sn += it->c.buf.n;
        } else if (it->content == TD_YCONTENT_FORMAT) {
            rc = s_update_attrs(attrs, it);
        } else if (it->content == TD_YCONTENT_EMBED || it->content == TD_YCONTENT_TYPE) {
            rc = s_delta_push(ops, s_value_json(it, 0, depth), attrs);
        }
    }
    if (rc == 0 && sn > 0)
        rc = s_delta_push(ops, json_stringn(str, sn), attrs);
    free(str);
    json_decref(attrs);
    if (rc != 0) {
        json_decref(ops);
        return NULL;
    }
    return ops;
}

json_t *td_ytext_delta(const td_ytype_t *text)
{
    return s_text_delta(text, 0);
}

/* ---- JSON export ------------------------------------------------------------------------------
 */

static json_t *s_bytes_json(const uint8_t *p, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        if (json_array_append_new(a, json_integer(p[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* The k-th UTF-16 unit of a string as a one-character string (yjs str.split('')); halves of a
 * surrogate pair come out as U+FFFD. */
static json_t *s_string_unit(const td__item_t *it, uint64_t k)
{
    bool split = false;
    const uint8_t *p = it->c.buf.p;
    size_t off = td_lib0_utf8_offset(p, it->c.buf.n, (size_t)k, &split);
    if (split || (p[off] >= 0xf0))
        return json_string("\xef\xbf\xbd");
    size_t len = p[off] < 0x80 ? 1 : p[off] < 0xe0 ? 2 : 3;
    return json_stringn((const char *)p + off, len);
}

static json_t *s_type_json(const td_ytype_t *t, int depth);

/* getContent()[k] of an item as JSON; nested types deeper than TD_LIB0_ANY_MAX_DEPTH export as
 * null, so hostile nesting cannot exhaust the stack. For Any and JSON, *at is the byte offset of
 * value k and is moved past it, so that reading an item's values in order is one pass over it. */
static json_t *s_value_json_at(const td__item_t *it, uint64_t k, size_t *at, int depth)
{
    switch (it->content) {
    case TD_YCONTENT_ANY: {
        td_lib0_dec_t d;
        td_lib0_dec_init(&d, it->c.buf.p, it->c.buf.n, NULL);
        d.pos = *at;
        json_t *v = NULL;
        int rc = td_lib0_dec_any_json(&d, &v);
        *at = d.pos;
        return rc == 0 ? v : NULL;
    }
    case TD_YCONTENT_JSON: {
        td_lib0_dec_t d;
        td_lib0_dec_init(&d, it->c.buf.p, it->c.buf.n, NULL);
        d.pos = *at;
        td_bytes_t s;
        int rc = td_lib0_dec_string(&d, &s);
        *at = d.pos;
        if (rc != 0)
            return NULL;
        if (s.len == 9 && memcmp(s.data, "undefined", 9) == 0)
            return json_null();
        json_t *v = json_loadb((const char *)s.data, s.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        return v ? v : json_null();
    }
    case TD_YCONTENT_BINARY:
        return s_bytes_json(it->c.buf.p, it->c.buf.n);
    case TD_YCONTENT_STRING:
        return s_string_unit(it, k);
    case TD_YCONTENT_EMBED: {
        json_t *v = json_loadb((const char *)it->c.buf.p, it->c.buf.n,
                               JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        return v ? v : json_null();
    }
    case TD_YCONTENT_TYPE:
        return depth > TD_LIB0_ANY_MAX_DEPTH ? json_null() : s_type_json(it->c.type, depth + 1);
    case TD_YCONTENT_DOC: {
        json_t *o = json_object();
        if (o &&
            json_object_set_new(o, "guid", json_stringn((const char *)it->c.buf.p, it->split))) {
            json_decref(o);
            return NULL;
        }
        return o;
    }
    default:
        return NULL;
    }
}

static json_t *s_value_json(const td__item_t *it, uint64_t k, int depth)
{
    bool values = it->content == TD_YCONTENT_ANY || it->content == TD_YCONTENT_JSON;
    size_t at = values ? td__item_value_offset(it, k) : 0;
    return s_value_json_at(it, k, &at, depth);
}

json_t *td__item_value_json(const td__item_t *it, uint64_t k)
{
    return s_value_json(it, k, 0);
}

static json_t *s_map_json(const td_ytype_t *t, int depth)
{
    json_t *o = json_object();
    for (size_t k = 0; o && k < t->nkeys; k++) {
        const td__item_t *it = t->vals[k];
        if (it == NULL || td__deleted(it) || s_map_no_value(it))
            continue;
        json_t *v = s_value_json(it, it->len - 1, depth);
        if (v == NULL || json_object_setn_new(o, t->keys[k]->s, t->keys[k]->len, v) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

static json_t *s_array_json(const td_ytype_t *t, int depth)
{
    json_t *a = json_array();
    for (const td__item_t *it = t->start; a && it; it = it->right) {
        if (!s_visible(it))
            continue;
        size_t at = 0;
        for (uint64_t k = 0; k < it->len; k++) {
            json_t *v = s_value_json_at(it, k, &at, depth);
            if (v == NULL || json_array_append_new(a, v) != 0) {
                json_decref(a);
                return NULL;
            }
        }
    }
    return a;
}

static json_t *s_text_json(const td_ytype_t *t)
{
    char *s;
    size_t n;
    if (td_ytext_string(t, &s, &n) != 0)
        return NULL;
    json_t *v = json_stringn(s, n);
    free(s);
    return v;
}

/* A growing string for XML output. */
typedef struct s_sb {
    char *p;
    size_t n, cap;
    bool oom;
} s_sb_t;

static void s_sb_add(s_sb_t *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (np == NULL) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void s_sb_str(s_sb_t *b, const char *s)
{
    s_sb_add(b, s, strlen(s));
}

/* JS String(v) for JSON values, near enough: strings raw, everything else as JSON text. */
static void s_sb_value(s_sb_t *b, const json_t *v)
{
    if (json_is_string(v)) {
        s_sb_add(b, json_string_value(v), json_string_length(v));
        return;
    }
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s == NULL) {
        b->oom = true;
        return;
    }
    s_sb_str(b, s);
    free(s);
}

static void s_xml_string(s_sb_t *b, const td_ytype_t *t, int depth);

static int s_str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* yjs YXmlText.toString: the delta with attributes as nested tags. */
static void s_xml_text_string(s_sb_t *b, const td_ytype_t *t, int depth)
{
    json_t *delta = s_text_delta(t, depth);
    size_t i;
    json_t *op;
    if (delta == NULL) {
        b->oom = true;
        return;
    }
    json_array_foreach(delta, i, op)
    {
        json_t *attrs = json_object_get(op, "attributes");
        size_t na = json_object_size(attrs);
        const char **names = na ? malloc(na * sizeof *names) : NULL;
        if (na && names == NULL) {
            b->oom = true;
            break;
        }
        size_t k = 0;
        const char *key;
        json_t *val;
        json_object_foreach(attrs, key, val) names[k++] = key;
        if (na)
            qsort(names, na, sizeof *names, s_str_cmp);
        for (k = 0; k < na; k++) {
            json_t *node = json_object_get(attrs, names[k]);
            s_sb_str(b, "<");
            s_sb_str(b, names[k]);
            size_t nn = json_is_object(node) ? json_object_size(node) : 0;
            const char **an = nn ? malloc(nn * sizeof *an) : NULL;
            if (nn && an == NULL) {
                b->oom = true;
                nn = 0;
            }
            size_t j = 0;
            const char *ak;
            json_t *av;
            if (nn)
                json_object_foreach(node, ak, av) an[j++] = ak;
            if (nn)
                qsort(an, nn, sizeof *an, s_str_cmp);
            for (j = 0; j < nn; j++) {
                s_sb_str(b, " ");
                s_sb_str(b, an[j]);
                s_sb_str(b, "=\"");
                s_sb_value(b, json_object_get(node, an[j]));
                s_sb_str(b, "\"");
            }
            free(an);
            s_sb_str(b, ">");
        }
        s_sb_value(b, json_object_get(op, "insert"));
        for (k = na; k-- > 0;) {
            s_sb_str(b, "</");
            s_sb_str(b, names[k]);
            s_sb_str(b, ">");
        }
        free(names);
    }
    json_decref(delta);
}

static void s_xml_children(s_sb_t *b, const td_ytype_t *t, int depth)
{
    for (const td__item_t *it = t->start; it; it = it->right) {
        if (!s_visible(it))
            continue;
        if (it->content == TD_YCONTENT_TYPE) {
            s_xml_string(b, it->c.type, depth + 1);
            continue;
        }
        size_t at = 0;
        for (uint64_t k = 0; k < it->len; k++) {
            json_t *v = s_value_json_at(it, k, &at, depth);
            if (v)
                s_sb_value(b, v);
            json_decref(v);
        }
    }
}

/* yjs toString of the XML types. */
static void s_xml_string(s_sb_t *b, const td_ytype_t *t, int depth)
{
    if (depth > TD_LIB0_ANY_MAX_DEPTH)
        return;
    if (t->kind == TD_YTYPE_XML_TEXT || t->kind == TD_YTYPE_TEXT) {
        s_xml_text_string(b, t, depth);
    } else if (t->kind == TD_YTYPE_XML_ELEMENT) {
        char *name = strdup(t->node_name ? t->node_name : "");
        if (name == NULL) {
            b->oom = true;
            return;
        }
        for (char *c = name; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        s_sb_str(b, "<");
        s_sb_str(b, name);
        size_t n = td_ymap_keys(t, NULL, 0);
        const char **keys = n ? malloc(n * sizeof *keys) : NULL;
        if (n && keys == NULL) {
            b->oom = true;
            n = 0;
        }
        if (n)
            td_ymap_keys(t, keys, n);
        if (n)
            qsort(keys, n, sizeof *keys, s_str_cmp);
        for (size_t k = 0; k < n; k++) {
            /* s_value_json with our depth, not td_ymap_get_json (depth 0): attributes holding
             * nested types must not reset the nesting bound. */
            const td__item_t *it = s_map_live(t, keys[k]);
            bool none = it == NULL || s_map_no_value(it);
            json_t *v = none ? NULL : s_value_json(it, it->len - 1, depth);
            s_sb_str(b, " ");
            s_sb_str(b, keys[k]);
            s_sb_str(b, "=\"");
            if (none)
                s_sb_str(b, "undefined"); /* `${undefined}`, as yjs */
            else if (v)
                s_sb_value(b, v);
            else
                b->oom = true;
            s_sb_str(b, "\"");
            json_decref(v);
        }
        free(keys);
        s_sb_str(b, ">");
        s_xml_children(b, t, depth);
        s_sb_str(b, "</");
        s_sb_str(b, name);
        s_sb_str(b, ">");
        free(name);
    } else if (t->kind == TD_YTYPE_XML_HOOK || t->kind == TD_YTYPE_MAP) {
        json_t *v = s_map_json(t, depth);
        if (v)
            s_sb_value(b, v);
        json_decref(v);
    } else {
        s_xml_children(b, t, depth);
    }
}

static json_t *s_xml_json(const td_ytype_t *t, int depth)
{
    s_sb_t b = {0};
    s_sb_add(&b, "", 0);
    s_xml_string(&b, t, depth);
    json_t *v = b.oom ? NULL : json_stringn(b.p, b.n);
    free(b.p);
    return v;
}

static json_t *s_type_json(const td_ytype_t *t, int depth)
{
    switch (t->kind) {
    case TD_YTYPE_MAP:
    case TD_YTYPE_XML_HOOK:
        return s_map_json(t, depth);
    case TD_YTYPE_ARRAY:
        return s_array_json(t, depth);
    case TD_YTYPE_TEXT:
        return s_text_json(t);
    case TD_YTYPE_XML_ELEMENT:
    case TD_YTYPE_XML_FRAGMENT:
    case TD_YTYPE_XML_TEXT:
        return s_xml_json(t, depth);
    default:
        if (t->start == NULL)
            return s_map_json(t, depth);
        for (const td__item_t *it = t->start; it; it = it->right)
            if (it->kind == TD_YSTRUCT_ITEM && it->content == TD_YCONTENT_STRING)
                return s_text_json(t);
        return s_array_json(t, depth);
    }
}

json_t *td_ytype_to_json(const td_ytype_t *t)
{
    return s_type_json(t, 0);
}

json_t *td_ydoc_to_json(const td_ydoc_t *self)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < self->nroots; i++) {
        td_ytype_t *t = self->roots[i];
        json_t *v = td_ytype_to_json(t);
        if (v == NULL || json_object_setn_new(o, t->name->s, t->name->len, v) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}
