/* td_ydoc.c: the Yjs document engine. It owns the struct store (one array per client, sorted by
 * clock and contiguous from 0, searched by binary search), every item and type, the open
 * transaction, pending structs and deletions, and the observers.
 *
 * Invariants:
 * - every item is in exactly one client array and, while it has a parent, in its parent's doubly
 *   linked list (list part or the chain of one map key); GC structs are in the store only;
 * - a type's `length` counts the countable, non-deleted units of its list;
 * - a type's map holds, per key, the rightmost item of that key's chain;
 * - pending structs and deletions are v1 updates that never integrate structs the store already
 *   has (they are re-applied whole; integration skips what is known).
 * The algorithms follow yjs 13.6 (Item.integrate, readUpdateV2, transaction cleanup) closely,
 * because the bytes we emit are compared with yjs's. Applying an update parses and validates it
 * completely (td_yupdate_decode) before the first change, so malformed input leaves no trace. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "td/td_ydoc.h"
#include "td/td_ytype.h"
#include "td_y_internal.h"

static int s_apply_decoded(td_ydoc_t *doc, const td_yupdate_t *u);

/* ---- keys -------------------------------------------------------------------------------------
 */

static uint64_t s_str_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ULL;
    return h;
}

static int s_keytab_grow(td_ydoc_t *doc)
{
    size_t cap = doc->capkeytab ? doc->capkeytab * 2 : 8;
    td__key_t **nt = calloc(cap, sizeof *nt);
    if (nt == NULL)
        return TD_ENOMEM;
    for (size_t i = 0; i < doc->capkeytab; i++) {
        td__key_t *k = doc->keytab[i];
        if (k == NULL)
            continue;
        size_t j = (size_t)s_str_hash(k->s, k->len) & (cap - 1);
        while (nt[j])
            j = (j + 1) & (cap - 1);
        nt[j] = k;
    }
    free(doc->keytab);
    doc->keytab = nt;
    doc->capkeytab = cap;
    return 0;
}

td__key_t *td__ydoc_key(td_ydoc_t *doc, const char *s, size_t n)
{
    if ((doc->nkeytab + 1) * 2 > doc->capkeytab && s_keytab_grow(doc) != 0)
        return NULL;
    size_t j = (size_t)s_str_hash(s, n) & (doc->capkeytab - 1);
    for (; doc->keytab[j]; j = (j + 1) & (doc->capkeytab - 1)) {
        td__key_t *k = doc->keytab[j];
        if (k->len == n && memcmp(k->s, s, n) == 0)
            return k;
    }
    td__key_t *k = malloc(sizeof *k + n + 1);
    if (k == NULL)
        return NULL;
    k->root = NULL;
    k->len = n;
    memcpy(k->s, s, n);
    k->s[n] = 0;
    k->next = doc->all_keys;
    doc->all_keys = k;
    doc->keytab[j] = k;
    doc->nkeytab++;
    return k;
}

/* ---- lifecycle --------------------------------------------------------------------------------
 */

td_ydoc_t *td_ydoc_new(const td_env_t *env, uint64_t client_id)
{
    if (client_id == TD_YDOC_CLIENT_RANDOM) {
        assert(env != NULL && env->random != NULL);
        uint8_t b[4];
        env->random(env->arg, b, sizeof b);
        client_id =
            (uint64_t)b[0] | (uint64_t)b[1] << 8 | (uint64_t)b[2] << 16 | (uint64_t)b[3] << 24;
    }
    assert(client_id <= TD_LIB0_MAX_SAFE_INT);
    td_ydoc_t *doc = calloc(1, sizeof *doc);
    if (doc == NULL)
        return NULL;
    doc->client_id = client_id;
    doc->gc = true;
    return doc;
}

td__item_t *td__item_alloc(void)
{
    return calloc(1, sizeof(td__item_t));
}

static bool s_has_values(const td__item_t *it)
{
    return it->kind == TD_YSTRUCT_ITEM &&
           (it->content == TD_YCONTENT_ANY || it->content == TD_YCONTENT_JSON);
}

static void s_item_free_content(td__item_t *it)
{
    if (it->kind == TD_YSTRUCT_ITEM && it->content != TD_YCONTENT_TYPE)
        free(it->c.buf.p);
    if (s_has_values(it))
        free(it->c.buf.offs);
    memset(&it->c, 0, sizeof it->c);
}

/* Stores in offs the byte offset (plus base) of each of src's values whose index is a multiple of
 * TD__OFFS_STRIDE, counting src's first value as value `index`. One pass over src's bytes. */
static void s_offs_fill(uint32_t *offs, const td__item_t *src, uint64_t index, uint32_t base)
{
    td_lib0_dec_t d;
    td_lib0_dec_init(&d, src->c.buf.p, src->c.buf.n, NULL);
    for (uint64_t k = 0; k < src->len; k++, index++) {
        td_bytes_t b;
        if (index % TD__OFFS_STRIDE == 0)
            offs[1 + index / TD__OFFS_STRIDE] = base + (uint32_t)d.pos;
        if (src->content == TD_YCONTENT_JSON)
            td_lib0_dec_string(&d, &b);
        else
            td_lib0_dec_any_skip(&d);
    }
}

/* Builds the value offset table of an Any or JSON item that needs one and has none (see
 * td__item_t). Best effort: without memory the item just stays without one. */
static void s_offs_build(td__item_t *it)
{
    if (!s_has_values(it) || it->len <= TD__OFFS_STRIDE || it->c.buf.offs)
        return;
    uint64_t n = (it->len + TD__OFFS_STRIDE - 1) / TD__OFFS_STRIDE;
    uint32_t *offs = malloc((n + 1) * sizeof *offs);
    if (offs == NULL)
        return;
    offs[0] = (uint32_t)n;
    s_offs_fill(offs, it, 0, 0);
    it->c.buf.offs = offs;
}

void td__item_free(td__item_t *it)
{
    if (it == NULL)
        return;
    s_item_free_content(it);
    free(it);
}

void td_ydoc_destroy(td_ydoc_t **self_p)
{
    assert(self_p);
    td_ydoc_t *doc = *self_p;
    if (doc == NULL)
        return;
    for (size_t c = 0; c < doc->nclients; c++) {
        td__client_t *cl = doc->clients[c];
        for (size_t i = 0; i < cl->n; i++)
            td__item_free(cl->v[i]);
        if (cl->v != &cl->one)
            free(cl->v);
        free(cl);
    }
    free(doc->clients);
    free(doc->client_tab);
    for (td_ytype_t *t = doc->all_types, *next; t; t = next) {
        next = t->next_all;
        td__ytype_free(t);
    }
    for (td__key_t *k = doc->all_keys, *next; k; k = next) {
        next = k->next;
        free(k);
    }
    free(doc->keytab);
    free(doc->roots);
    td__u64map_fini(&doc->txn.before);
    free(doc->txn.touched);
    td__yds_fini(&doc->txn.ds);
    free(doc->txn.merge);
    free(doc->txn.changed);
    free(doc->observers);
    free(doc->pending);
    td__u64map_fini(&doc->pending_missing);
    free(doc->pending_ds);
    free(doc);
    *self_p = NULL;
}

uint64_t td_ydoc_client_id(const td_ydoc_t *self)
{
    return self->client_id;
}

int td_ydoc_set_client_id(td_ydoc_t *self, uint64_t client_id)
{
    if (client_id > TD_LIB0_MAX_SAFE_INT)
        return TD_EINVAL;
    if (self->in_txn || self->in_observer)
        return TD_ESTATE;
    self->client_id = client_id;
    return 0;
}

void td_ydoc_set_gc(td_ydoc_t *self, bool gc)
{
    self->gc = gc;
}

int td_ydoc_observe(td_ydoc_t *self, td_ydoc_observe_fn *fn, void *arg)
{
    if (self->nobservers == self->capobservers) {
        size_t nc = self->capobservers ? self->capobservers * 2 : 4;
        struct td__observer *no = realloc(self->observers, nc * sizeof *no);
        if (no == NULL)
            return TD_ENOMEM;
        self->observers = no;
        self->capobservers = nc;
    }
    self->observers[self->nobservers++] = (struct td__observer){fn, arg};
    return 0;
}

int td_ydoc_unobserve(td_ydoc_t *self, td_ydoc_observe_fn *fn, void *arg)
{
    for (size_t i = 0; i < self->nobservers; i++) {
        if (self->observers[i].fn == fn && self->observers[i].arg == arg) {
            memmove(&self->observers[i], &self->observers[i + 1],
                    (self->nobservers - i - 1) * sizeof self->observers[0]);
            self->nobservers--;
            return 0;
        }
    }
    return TD_ENOENT;
}

/* ---- store ------------------------------------------------------------------------------------
 */

/* The client table is open addressing over the client records themselves: a slot holds the
 * record or NULL, so the index costs a pointer per slot and a lookup reads the record it returns
 * anyway. Records never move or go away while the document lives. */
static size_t s_client_slot(uint64_t client, size_t cap)
{
    return (size_t)((client * 0x9e3779b97f4a7c15ULL) >> 32) & (cap - 1);
}

td__client_t *td__ydoc_client(const td_ydoc_t *doc, uint64_t client)
{
    if (doc->capclient_tab == 0)
        return NULL;
    size_t mask = doc->capclient_tab - 1;
    for (size_t i = s_client_slot(client, doc->capclient_tab);; i = (i + 1) & mask) {
        td__client_t *c = doc->client_tab[i];
        if (c == NULL || c->client == client)
            return c;
    }
}

static void s_client_tab_put(td__client_t **tab, size_t cap, td__client_t *c)
{
    size_t i = s_client_slot(c->client, cap);
    while (tab[i])
        i = (i + 1) & (cap - 1);
    tab[i] = c;
}

/* Keeps the table at most three quarters full. 0 or TD_ENOMEM. */
static int s_client_tab_reserve(td_ydoc_t *doc)
{
    if ((doc->nclients + 1) * 4 <= doc->capclient_tab * 3)
        return 0;
    size_t cap = doc->capclient_tab ? doc->capclient_tab * 2 : 4;
    td__client_t **tab = calloc(cap, sizeof *tab);
    if (tab == NULL)
        return TD_ENOMEM;
    for (size_t i = 0; i < doc->nclients; i++)
        s_client_tab_put(tab, cap, doc->clients[i]);
    free(doc->client_tab);
    doc->client_tab = tab;
    doc->capclient_tab = cap;
    return 0;
}

static td__client_t *s_client_add(td_ydoc_t *doc, uint64_t client)
{
    td__client_t *c = td__ydoc_client(doc, client);
    if (c)
        return c;
    if (doc->nclients == doc->capclients) {
        size_t nc = doc->capclients ? doc->capclients * 2 : 4;
        td__client_t **nv = realloc(doc->clients, nc * sizeof *nv);
        if (nv == NULL)
            return NULL;
        doc->clients = nv;
        doc->capclients = nc;
    }
    if (s_client_tab_reserve(doc) != 0 || (c = calloc(1, sizeof *c)) == NULL)
        return NULL;
    c->client = client;
    s_client_tab_put(doc->client_tab, doc->capclient_tab, c);
    doc->clients[doc->nclients++] = c;
    return c;
}

uint64_t td__client_state(const td__client_t *c)
{
    if (c == NULL || c->n == 0)
        return 0;
    const td__item_t *last = c->v[c->n - 1];
    return last->id.clock + last->len;
}

uint64_t td_ydoc_state(const td_ydoc_t *self, uint64_t client)
{
    return td__client_state(td__ydoc_client(self, client));
}

/* The index of the struct containing clock (which must be below the client's state). */
size_t td__find_index(const td__client_t *c, uint64_t clock)
{
    size_t lo = 0, hi = c->n - 1;
    /* Clocks are dense, so a proportional first guess usually lands close (yjs findIndexSS). */
    const td__item_t *last = c->v[hi];
    if (last->id.clock <= clock)
        return hi;
    size_t mid = (size_t)((double)clock / (double)(last->id.clock + last->len - 1) * (double)hi);
    while (lo <= hi) {
        const td__item_t *s = c->v[mid];
        if (s->id.clock <= clock) {
            if (clock < s->id.clock + s->len)
                return mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
        mid = lo + (hi - lo) / 2;
    }
    assert(!"clock not in the store");
    return 0;
}

td__item_t *td__get_item(const td_ydoc_t *doc, td_yid_t id)
{
    const td__client_t *c = td__ydoc_client(doc, id.client);
    return c->v[td__find_index(c, id.clock)];
}

static int s_client_insert(td__client_t *c, size_t pos, td__item_t *it)
{
    if (c->cap == 0) {
        c->v = &c->one;
        c->cap = 1;
    }
    if (c->n == c->cap) {
        size_t nc = c->cap * 2;
        bool inline_one = c->v == &c->one;
        td__item_t **nv = realloc(inline_one ? NULL : c->v, nc * sizeof *nv);
        if (nv == NULL)
            return TD_ENOMEM;
        if (inline_one)
            nv[0] = c->one;
        c->v = nv;
        c->cap = nc;
    }
    memmove(&c->v[pos + 1], &c->v[pos], (c->n - pos) * sizeof *c->v);
    c->v[pos] = it;
    c->n++;
    return 0;
}

/* ---- transactions -----------------------------------------------------------------------------
 */

/* The client's state when the transaction started (yjs transaction.beforeState). */
uint64_t td__txn_before(const td_ydoc_t *doc, uint64_t client)
{
    size_t *at = td__u64map_get(&doc->txn.before, client);
    return at ? (uint64_t)*at : td_ydoc_state(doc, client);
}

/* Remembers the state of client before the transaction's first struct for it. */
static int s_txn_touch(td_ydoc_t *doc, uint64_t client, uint64_t state)
{
    td__txn_t *t = &doc->txn;
    if (td__u64map_get(&t->before, client))
        return 0;
    if (t->ntouched == t->captouched) {
        size_t nc = t->captouched ? t->captouched * 2 : 4;
        uint64_t *nv = realloc(t->touched, nc * sizeof *nv);
        if (nv == NULL)
            return TD_ENOMEM;
        t->touched = nv;
        t->captouched = nc;
    }
    if (td__u64map_put(&t->before, client, (size_t)state) != 0)
        return TD_ENOMEM;
    t->touched[t->ntouched++] = client;
    return 0;
}

/* Appends a newly integrated struct to its client's array. */
static int s_store_add(td_ydoc_t *doc, td__item_t *it)
{
    td__client_t *c = s_client_add(doc, it->id.client);
    if (c == NULL)
        return TD_ENOMEM;
    assert(td__client_state(c) == it->id.clock);
    int rc = s_txn_touch(doc, it->id.client, it->id.clock);
    return rc ? rc : s_client_insert(c, c->n, it);
}

static int s_txn_merge_push(td_ydoc_t *doc, td_yid_t id)
{
    td__txn_t *t = &doc->txn;
    if (t->nmerge == t->capmerge) {
        size_t nc = t->capmerge ? t->capmerge * 2 : 16;
        td_yid_t *nv = realloc(t->merge, nc * sizeof *nv);
        if (nv == NULL)
            return TD_ENOMEM;
        t->merge = nv;
        t->capmerge = nc;
    }
    t->merge[t->nmerge++] = id;
    return 0;
}

int td__ydoc_add_changed(td_ydoc_t *doc, td_ytype_t *type)
{
    td__txn_t *t = &doc->txn;
    if (type->txn_mark == t->serial)
        return 0;
    /* Types created in this transaction are reported through their parent (yjs). */
    if (type->nested) {
        if (type->item == NULL || (type->item->flags & TD__I_DELETED) ||
            type->id.clock >= td__txn_before(doc, type->id.client))
            return 0;
    }
    if (t->nchanged == t->capchanged) {
        size_t nc = t->capchanged ? t->capchanged * 2 : 4;
        td_ytype_t **nv = realloc(t->changed, nc * sizeof *nv);
        if (nv == NULL)
            return TD_ENOMEM;
        t->changed = nv;
        t->capchanged = nc;
    }
    type->txn_mark = t->serial;
    t->changed[t->nchanged++] = type;
    return 0;
}

static void s_changed_remove(td_ydoc_t *doc, td_ytype_t *type)
{
    td__txn_t *t = &doc->txn;
    if (type->txn_mark != t->serial)
        return;
    for (size_t i = 0; i < t->nchanged; i++) {
        if (t->changed[i] == type) {
            memmove(&t->changed[i], &t->changed[i + 1], (t->nchanged - i - 1) * sizeof *t->changed);
            t->nchanged--;
            break;
        }
    }
    type->txn_mark = 0;
}

int td__ydoc_txn_open(td_ydoc_t *doc, void *origin, bool local, bool *opened)
{
    *opened = false;
    if (doc->in_observer)
        return TD_ESTATE;
    if (doc->in_txn) {
        if (!local)
            doc->txn.local = false;
        return 0;
    }
    td__txn_t *t = &doc->txn;
    td__u64map_clear(&t->before);
    t->ntouched = 0;
    t->ds.n = 0;
    t->nmerge = 0;
    t->nchanged = 0;
    t->origin = origin;
    t->local = local;
    t->serial = ++doc->txn_serial;
    doc->in_txn = true;
    *opened = true;
    return 0;
}

bool td_ydoc_in_transaction(const td_ydoc_t *self)
{
    return self->explicit_txn;
}

int td_ydoc_begin(td_ydoc_t *self, void *origin)
{
    if (self->in_txn || self->in_observer)
        return TD_ESTATE;
    bool opened;
    int rc = td__ydoc_txn_open(self, origin, true, &opened);
    if (rc == 0)
        self->explicit_txn = true;
    return rc;
}

int td_ydoc_commit(td_ydoc_t *self)
{
    if (!self->explicit_txn)
        return TD_ESTATE;
    self->explicit_txn = false;
    return td__ydoc_txn_close(self);
}

/* ---- items: split, merge, find ----------------------------------------------------------------
 */

static td_yid_t s_last_id(const td__item_t *it)
{
    return (td_yid_t){it->id.client, it->id.clock + it->len - 1};
}

/* Splits the content of a String, Any or JSON item after diff units into right. */
static int s_split_content(td__item_t *left, td__item_t *right, uint64_t diff)
{
    if (left->content == TD_YCONTENT_DELETED || left->kind != TD_YSTRUCT_ITEM)
        return 0;
    uint8_t *p = left->c.buf.p;
    size_t n = left->c.buf.n, off;
    bool fffd = false;
    if (left->content == TD_YCONTENT_STRING) {
        off = (left->flags & TD__I_ASCII) ? (size_t)diff : td_lib0_utf8_offset(p, n, diff, &fffd);
    } else {
        off = td__item_value_offset(left, diff);
    }
    /* With a surrogate pair cut in two, each half becomes U+FFFD (yjs#248). */
    size_t rn = fffd ? 3 + (n - off - 4) : n - off;
    uint8_t *rp = malloc(rn ? rn : 1);
    if (rp == NULL)
        return TD_ENOMEM;
    if (fffd) {
        memcpy(rp, "\xef\xbf\xbd", 3);
        memcpy(rp + 3, p + off + 4, n - off - 4);
        if (left->c.buf.cap < off + 3) {
            uint8_t *np = realloc(p, off + 3);
            if (np == NULL) {
                free(rp);
                return TD_ENOMEM;
            }
            left->c.buf.p = p = np;
            left->c.buf.cap = (uint32_t)(off + 3);
        }
        memcpy(p + off, "\xef\xbf\xbd", 3);
        left->c.buf.n = (uint32_t)(off + 3);
    } else {
        memcpy(rp, p + off, rn);
        left->c.buf.n = (uint32_t)off;
    }
    right->c.buf.p = rp;
    right->c.buf.n = right->c.buf.cap = (uint32_t)rn;
    /* left keeps its table: its first entries stay valid. right gets its own, built by one scan
     * of the bytes just copied; its len is already the length after the cut. */
    s_offs_build(right);
    return 0;
}

/* yjs splitItem: cuts left after diff units; returns the new right part, already linked and in
 * the store right after left. NULL on OOM. */
static td__item_t *s_split(td_ydoc_t *doc, td__client_t *c, size_t pos, uint64_t diff)
{
    td__item_t *left = c->v[pos];
    td__item_t *right = td__item_alloc();
    if (right == NULL)
        return NULL;
    *right = *left;
    memset(&right->c, 0, sizeof right->c);
    right->id.clock = left->id.clock + diff;
    right->len = left->len - diff;
    right->origin = (td_yid_t){left->id.client, left->id.clock + diff - 1};
    right->flags |= TD__I_ORIGIN;
    right->left = left;
    if (s_split_content(left, right, diff) != 0 || s_client_insert(c, pos + 1, right) != 0 ||
        s_txn_merge_push(doc, right->id) != 0) {
        free(right->c.buf.p);
        if (s_has_values(right))
            free(right->c.buf.offs);
        free(right);
        return NULL;
    }
    left->right = right;
    if (right->right)
        right->right->left = right;
    if (right->parent_sub && right->right == NULL)
        td__ytype_map_set(right->parent, right->parent_sub, right);
    left->len = diff;
    return right;
}

/* yjs getItemCleanStart: the struct starting at id, splitting an item when id is inside it. */
td__item_t *td__clean_start(td_ydoc_t *doc, td_yid_t id)
{
    td__client_t *c = td__ydoc_client(doc, id.client);
    size_t pos = td__find_index(c, id.clock);
    td__item_t *s = c->v[pos];
    if (s->id.clock < id.clock && s->kind == TD_YSTRUCT_ITEM)
        return s_split(doc, c, pos, id.clock - s->id.clock);
    return s;
}

/* yjs getItemCleanEnd: the struct ending at id, splitting an item when id is inside it. */
td__item_t *td__clean_end(td_ydoc_t *doc, td_yid_t id)
{
    td__client_t *c = td__ydoc_client(doc, id.client);
    size_t pos = td__find_index(c, id.clock);
    td__item_t *s = c->v[pos];
    if (id.clock != s->id.clock + s->len - 1 && s->kind == TD_YSTRUCT_ITEM) {
        if (s_split(doc, c, pos, id.clock - s->id.clock + 1) == NULL)
            return NULL;
    }
    return s;
}

static bool s_id_eq(bool ha, td_yid_t a, bool hb, td_yid_t b)
{
    return ha == hb && (!ha || (a.client == b.client && a.clock == b.clock));
}

static bool s_content_mergeable(uint8_t content)
{
    return content == TD_YCONTENT_STRING || content == TD_YCONTENT_ANY ||
           content == TD_YCONTENT_JSON || content == TD_YCONTENT_DELETED;
}

/* Extends left's value offset table by right's values, before right's bytes are appended to
 * left's (so left->c.buf.n is where they will start). Scans right's values once, so merging stays
 * linear in what is merged. Without memory, left loses its table. */
static void s_offs_append(td__item_t *left, const td__item_t *right)
{
    uint64_t len = left->len + right->len;
    uint32_t *offs = left->c.buf.offs;
    if (len <= TD__OFFS_STRIDE || (left->len > TD__OFFS_STRIDE && offs == NULL))
        return; /* no table needed, or one lost to OOM earlier: stay without */
    uint64_t need = (len + TD__OFFS_STRIDE - 1) / TD__OFFS_STRIDE;
    if (offs == NULL || offs[0] < need) {
        /* Doubling, so appending one value at a time reallocates O(log n) times. */
        uint64_t cap = offs && 2 * (uint64_t)offs[0] > need ? 2 * (uint64_t)offs[0] : need;
        uint32_t *np = realloc(offs, (cap + 1) * sizeof *np);
        if (np == NULL) {
            free(offs);
            left->c.buf.offs = NULL;
            return;
        }
        if (offs == NULL)
            np[1] = 0; /* left held at most TD__OFFS_STRIDE values */
        np[0] = (uint32_t)cap;
        left->c.buf.offs = offs = np;
    }
    s_offs_fill(offs, right, left->len, left->c.buf.n);
}

/* yjs mergeWith: appends right to left when they were made as one run. */
static bool s_merge_with(td__item_t *left, td__item_t *right)
{
    if (left->kind != TD_YSTRUCT_ITEM) {
        left->len += right->len;
        return true;
    }
    td_yid_t last = s_last_id(left);
    if (!((right->flags & TD__I_ORIGIN) && right->origin.client == last.client &&
          right->origin.clock == last.clock) ||
        left->right != right ||
        !s_id_eq(left->flags & TD__I_RORIGIN, left->right_origin, right->flags & TD__I_RORIGIN,
                 right->right_origin) ||
        left->id.client != right->id.client || left->id.clock + left->len != right->id.clock ||
        left->content != right->content || !s_content_mergeable(left->content))
        return false;
    if (left->content != TD_YCONTENT_DELETED) {
        uint32_t need = left->c.buf.n + right->c.buf.n;
        if (need < left->c.buf.n)
            return false;
        if (need > left->c.buf.cap) {
            uint32_t cap = left->c.buf.cap ? left->c.buf.cap : 8;
            while (cap < need)
                cap = cap > UINT32_MAX / 2 ? need : cap * 2;
            uint8_t *np = realloc(left->c.buf.p, cap);
            if (np == NULL)
                return false; /* staying unmerged is always correct */
            left->c.buf.p = np;
            left->c.buf.cap = cap;
        }
        if (s_has_values(left))
            s_offs_append(left, right);
        memcpy(left->c.buf.p + left->c.buf.n, right->c.buf.p, right->c.buf.n);
        left->c.buf.n = need;
        if (!(right->flags & TD__I_ASCII))
            left->flags &= (uint8_t)~TD__I_ASCII;
    }
    if (right->parent_sub && td__ytype_map_get(right->parent, right->parent_sub) == right)
        td__ytype_map_set(right->parent, right->parent_sub, left);
    if (!td__deleted(left) && td__countable(left))
        td__ytype_marker_replace(left->parent, right, left, left->len);
    if (right->flags & TD__I_KEEP)
        left->flags |= TD__I_KEEP;
    left->right = right->right;
    if (left->right)
        left->right->left = left;
    left->len += right->len;
    return true;
}

/* yjs tryToMergeWithLefts: merges c->v[pos] into its left neighbours while possible; returns how
 * many structs disappeared. */
static size_t s_merge_lefts(td__client_t *c, size_t pos)
{
    size_t i = pos;
    for (; i > 0; i--) {
        td__item_t *left = c->v[i - 1], *right = c->v[i];
        if (td__deleted(left) != td__deleted(right) || left->kind != right->kind ||
            !s_merge_with(left, right))
            break;
    }
    size_t merged = pos - i;
    if (merged) {
        for (size_t k = i + 1; k <= pos; k++)
            td__item_free(c->v[k]);
        memmove(&c->v[i + 1], &c->v[pos + 1], (c->n - pos - 1) * sizeof *c->v);
        c->n -= merged;
    }
    return merged;
}

/* ---- integration (YATA) -----------------------------------------------------------------------
 */

/* The items visited by one conflict scan, with their scan order, for the two sets of yjs's
 * integrate (itemsBeforeOrigin = every visited item; conflictingItems = those visited after the
 * last time `left` moved). The visited items are the n items of the list from `first` on, which
 * the scan does not change, so they are not copied: a lookup walks them, and in a long scan the
 * first lookup builds a hash index that later ones extend. Most scans never look up (concurrent
 * items with one origin, as when many clients set the same map key). */
typedef struct s_scan {
    td__item_t *first;
    size_t n;
    td__u64map_t map; /* item -> scan order, for the first `mapped` items */
    size_t mapped;
    td__item_t *next; /* the item after the last mapped one */
} s_scan_t;

/* Sets *at to the scan order of it, or SIZE_MAX when not visited. 0 or TD_ENOMEM. */
static int s_scan_find(s_scan_t *s, const td__item_t *it, size_t *at)
{
    *at = SIZE_MAX;
    if (s->n <= 32) {
        td__item_t *o = s->first;
        for (size_t i = 0; i < s->n; i++, o = o->right)
            if (o == it) {
                *at = i;
                break;
            }
        return 0;
    }
    if (s->mapped == 0)
        s->next = s->first;
    for (; s->mapped < s->n; s->mapped++, s->next = s->next->right)
        if (td__u64map_put(&s->map, (uintptr_t)s->next, s->mapped) != 0)
            return TD_ENOMEM;
    size_t *found = td__u64map_get(&s->map, (uintptr_t)it);
    if (found)
        *at = *found;
    return 0;
}

/* Marks the parent's position cache stale unless a local list edit is maintaining it. */
static void s_touch_markers(td_ydoc_t *doc, td_ytype_t *parent)
{
    if (parent && parent != doc->marker_owner && parent->nmarkers)
        td__ytype_markers_clear(parent);
}

static bool s_parent_deleted(const td_ytype_t *p)
{
    return p->nested && (p->gcd || (p->item && (p->item->flags & TD__I_DELETED)));
}

/* yjs Item.integrate after getMissing: it->left / it->right hold the resolved neighbours, and
 * it->parent is set. Links it, updates the parent, adds it to the store. */
static int s_integrate_linked(td_ydoc_t *doc, td__item_t *it)
{
    td_ytype_t *parent = it->parent;
    td__key_t *sub = it->parent_sub;
    td__item_t *left = it->left, *right = it->right;
    int rc = 0;
    if ((!left && (!right || right->left != NULL)) || (left && left->right != right)) {
        td__item_t *o = left ? left->right : sub ? td__ytype_map_start(parent, sub) : parent->start;
        s_scan_t scan = {.first = o};
        size_t clear_at = 0; /* conflicting = visited items with order >= clear_at */
        bool ho = it->flags & TD__I_ORIGIN, hr = it->flags & TD__I_RORIGIN;
        while (o && o != right) {
            size_t order = scan.n++;
            bool oho = o->flags & TD__I_ORIGIN;
            if (s_id_eq(ho, it->origin, oho, o->origin)) {
                if (o->id.client < it->id.client) {
                    left = o;
                    clear_at = order + 1;
                } else if (s_id_eq(hr, it->right_origin, o->flags & TD__I_RORIGIN,
                                   o->right_origin)) {
                    break;
                }
            } else if (oho) {
                size_t at;
                if ((rc = s_scan_find(&scan, td__get_item(doc, o->origin), &at)) != 0 ||
                    at == SIZE_MAX)
                    break;
                if (at < clear_at) {
                    left = o;
                    clear_at = order + 1;
                }
            } else {
                break;
            }
            o = o->right;
        }
        td__u64map_fini(&scan.map);
        if (rc != 0)
            return rc;
        it->left = left;
    }
    if (it->left) {
        it->right = it->left->right;
        it->left->right = it;
    } else {
        td__item_t *r;
        if (sub) {
            r = td__ytype_map_start(parent, sub);
        } else {
            r = parent->start;
            parent->start = it;
        }
        it->right = r;
    }
    if (it->right) {
        it->right->left = it;
    } else if (sub) {
        if ((rc = td__ytype_map_set(parent, sub, it)) != 0)
            return rc;
        if (it->left && (rc = td__item_delete(doc, it->left)) != 0)
            return rc;
    }
    if (sub && !it->left)
        td__ytype_map_set_start(parent, sub, it);
    if (!sub && td__countable(it) && !(it->flags & TD__I_DELETED))
        parent->length += it->len;
    if (!sub)
        s_touch_markers(doc, parent);
    if ((rc = s_store_add(doc, it)) != 0)
        return rc;
    if (it->content == TD_YCONTENT_DELETED) {
        /* yjs ContentDeleted.integrate: an item that arrives deleted joins the delete set. */
        if ((rc = td__yds_add(&doc->txn.ds, it->id.client, it->id.clock, it->len)) != 0)
            return rc;
    } else if (it->content == TD_YCONTENT_TYPE) {
        td_ytype_t *t = it->c.type;
        t->item = it;
        t->id = it->id;
        t->nested = true;
    } else if (it->content == TD_YCONTENT_FORMAT) {
        parent->has_formatting = true;
        td__ytype_markers_clear(parent);
    }
    if ((rc = td__ydoc_add_changed(doc, parent)) != 0)
        return rc;
    if (s_parent_deleted(parent) || (sub && it->right))
        rc = td__item_delete(doc, it);
    return rc;
}

int td__item_local(td_ydoc_t *doc, td_ytype_t *parent, td__key_t *sub, td__item_t *left,
                   td__item_t *right, uint8_t content, uint8_t *buf, uint32_t n, uint32_t split,
                   uint64_t len, td_ytype_t *type, td__item_t **out)
{
    td__item_t *it = td__item_alloc();
    if (it == NULL) {
        free(buf);
        return TD_ENOMEM;
    }
    it->kind = TD_YSTRUCT_ITEM;
    it->content = content;
    it->id = (td_yid_t){doc->client_id, td_ydoc_state(doc, doc->client_id)};
    it->len = len;
    it->parent = parent;
    it->parent_sub = sub;
    it->left = left;
    it->right = right;
    if (left) {
        it->origin = s_last_id(left);
        it->flags |= TD__I_ORIGIN;
    }
    if (right) {
        it->right_origin = right->id;
        it->flags |= TD__I_RORIGIN;
    }
    if (content == TD_YCONTENT_TYPE) {
        it->c.type = type;
    } else {
        it->c.buf.p = buf;
        it->c.buf.n = it->c.buf.cap = n;
        it->split = split;
        if (content == TD_YCONTENT_STRING && len == n)
            it->flags |= TD__I_ASCII;
        s_offs_build(it);
    }
    int rc = s_integrate_linked(doc, it);
    if (rc != 0)
        return rc;
    if (out)
        *out = it;
    return 0;
}

/* ---- delete and GC ----------------------------------------------------------------------------
 */

/* Deletes one item (no recursion into types: their children are queued on *stack). */
static int s_delete_one(td_ydoc_t *doc, td__item_t *it, td_ytype_t ***stack, size_t *nstack,
                        size_t *capstack)
{
    if (it->flags & TD__I_DELETED)
        return 0;
    td_ytype_t *parent = it->parent;
    if (td__countable(it) && it->parent_sub == NULL)
        parent->length -= it->len;
    it->flags |= TD__I_DELETED;
    if (it->parent_sub == NULL)
        s_touch_markers(doc, parent);
    int rc = td__yds_add(&doc->txn.ds, it->id.client, it->id.clock, it->len);
    if (rc == 0)
        rc = td__ydoc_add_changed(doc, parent);
    if (rc == 0 && it->content == TD_YCONTENT_TYPE) {
        if (*nstack == *capstack) {
            size_t nc = *capstack ? *capstack * 2 : 8;
            td_ytype_t **nv = realloc(*stack, nc * sizeof *nv);
            if (nv == NULL)
                return TD_ENOMEM;
            *stack = nv;
            *capstack = nc;
        }
        (*stack)[(*nstack)++] = it->c.type;
    }
    return rc;
}

/* yjs ContentType.delete, for one child: delete it, or remember it for merging. */
static int s_delete_child(td_ydoc_t *doc, td__item_t *child, td_ytype_t ***stack, size_t *n,
                          size_t *cap)
{
    if (!(child->flags & TD__I_DELETED))
        return s_delete_one(doc, child, stack, n, cap);
    if (child->id.clock < td__txn_before(doc, child->id.client))
        return s_txn_merge_push(doc, child->id);
    return 0;
}

/* yjs Item.delete, with the recursion into deleted types made iterative. */
int td__item_delete(td_ydoc_t *doc, td__item_t *it)
{
    td_ytype_t **stack = NULL;
    size_t n = 0, cap = 0;
    int rc = s_delete_one(doc, it, &stack, &n, &cap);
    while (rc == 0 && n > 0) {
        td_ytype_t *t = stack[--n];
        for (td__item_t *c = t->start; c && rc == 0; c = c->right)
            rc = s_delete_child(doc, c, &stack, &n, &cap);
        for (size_t k = 0; k < t->nkeys && rc == 0; k++) {
            if (t->vals[k])
                rc = s_delete_child(doc, t->vals[k], &stack, &n, &cap);
        }
        s_changed_remove(doc, t);
    }
    free(stack);
    return rc;
}

/* Turns a struct into a GC struct in place (yjs replaceStruct with a GC). */
static void s_to_gc(td__item_t *it)
{
    s_item_free_content(it);
    it->kind = TD_YSTRUCT_GC;
    it->content = 0;
    it->flags = TD__I_DELETED;
    it->parent = NULL;
    it->parent_sub = NULL;
}

/* yjs Item.gc: drops the content of a deleted item (children of a deleted type become GC
 * structs, recursively; iterative here). */
static int s_item_gc(td_ydoc_t *doc, td__item_t *it, bool parent_gcd)
{
    td_ytype_t **stack = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    if (it->content == TD_YCONTENT_TYPE) {
        stack = malloc(8 * sizeof *stack);
        if (stack == NULL)
            return TD_ENOMEM;
        cap = 8;
        stack[n++] = it->c.type;
    }
    while (n > 0) {
        td_ytype_t *t = stack[--n];
        td__item_t *list = t->start;
        for (size_t k = 0; k <= t->nkeys; k++) {
            td__item_t *c = k == t->nkeys ? list : t->vals[k];
            while (c) {
                td__item_t *next = k == t->nkeys ? c->right : c->left;
                if (c->kind == TD_YSTRUCT_ITEM && c->content == TD_YCONTENT_TYPE) {
                    if (n == cap) {
                        td_ytype_t **nv = realloc(stack, cap * 2 * sizeof *nv);
                        if (nv == NULL) {
                            rc = TD_ENOMEM;
                            break;
                        }
                        stack = nv;
                        cap *= 2;
                    }
                    stack[n++] = c->c.type;
                }
                if (c->kind == TD_YSTRUCT_ITEM)
                    s_to_gc(c);
                c = next;
            }
        }
        t->start = NULL;
        for (size_t k = 0; k < t->nkeys; k++)
            t->vals[k] = t->starts[k] = NULL;
        t->gcd = true;
        t->item = NULL;
        t->length = 0;
        td__ytype_markers_clear(t);
    }
    free(stack);
    if (parent_gcd) {
        s_to_gc(it);
    } else {
        s_item_free_content(it);
        it->content = TD_YCONTENT_DELETED;
        it->flags &= (uint8_t)~TD__I_ASCII;
    }
    return rc;
}

/* yjs tryGcDeleteSet. */
static int s_gc_ds(td_ydoc_t *doc, const td__yds_t *ds)
{
    for (size_t r = ds->n; r-- > 0;) {
        const td__yds_entry_t *e = &ds->v[r];
        td__client_t *c = td__ydoc_client(doc, e->client);
        uint64_t end = e->clock + e->len;
        for (size_t si = td__find_index(c, e->clock); si < c->n && c->v[si]->id.clock < end; si++) {
            td__item_t *s = c->v[si];
            if (s->kind == TD_YSTRUCT_ITEM && (s->flags & TD__I_DELETED) &&
                !(s->flags & TD__I_KEEP) && s->content != TD_YCONTENT_DELETED) {
                int rc = s_item_gc(doc, s, false);
                if (rc != 0)
                    return rc;
            }
        }
    }
    return 0;
}

/* yjs tryMergeDeleteSet. */
static void s_merge_ds(td_ydoc_t *doc, const td__yds_t *ds)
{
    for (size_t r = ds->n; r-- > 0;) {
        const td__yds_entry_t *e = &ds->v[r];
        td__client_t *c = td__ydoc_client(doc, e->client);
        size_t most_right = td__find_index(c, e->clock + e->len - 1) + 1;
        if (most_right > c->n - 1)
            most_right = c->n - 1;
        for (size_t si = most_right; si > 0 && c->v[si]->id.clock >= e->clock;) {
            size_t m = s_merge_lefts(c, si);
            if (si < 1 + m)
                break;
            si -= 1 + m;
        }
    }
}

/* ---- encoding ---------------------------------------------------------------------------------
 */

/* Describes an item as a decoded struct so the shared writer can encode it. */
static void s_item_view(const td__item_t *it, td_ystruct_t *s)
{
    memset(s, 0, sizeof *s);
    s->id = it->id;
    s->len = it->len;
    if (it->kind != TD_YSTRUCT_ITEM) {
        s->kind = TD_YSTRUCT_GC;
        return;
    }
    s->kind = TD_YSTRUCT_ITEM;
    s->content = it->content;
    s->has_origin = it->flags & TD__I_ORIGIN;
    s->has_right_origin = it->flags & TD__I_RORIGIN;
    s->origin = it->origin;
    s->right_origin = it->right_origin;
    const td_ytype_t *p = it->parent;
    if (p->nested) {
        s->parent_kind = TD_YPARENT_ID;
        s->parent_id = p->id;
    } else {
        s->parent_kind = TD_YPARENT_ROOT;
        s->parent_name = (td_bytes_t){(const uint8_t *)p->name->s, p->name->len};
    }
    if (it->parent_sub) {
        s->parent_sub_flag = true;
        s->parent_sub = (td_bytes_t){(const uint8_t *)it->parent_sub->s, it->parent_sub->len};
    }
    if (it->content == TD_YCONTENT_TYPE) {
        const td_ytype_t *t = it->c.type;
        s->type_ref = (uint8_t)t->kind;
        if (t->node_name)
            s->data = (td_bytes_t){(const uint8_t *)t->node_name, strlen(t->node_name)};
    } else if (it->content == TD_YCONTENT_FORMAT || it->content == TD_YCONTENT_DOC) {
        s->data = (td_bytes_t){it->c.buf.p, it->split};
        s->data2 = (td_bytes_t){it->c.buf.p + it->split, it->c.buf.n - it->split};
    } else if (it->content != TD_YCONTENT_DELETED) {
        s->data = (td_bytes_t){it->c.buf.p, it->c.buf.n};
    }
}

/* yjs writeStructs: the structs of one client from clock on. */
static int s_write_client(td_lib0_enc_t *e, const td__client_t *c, uint64_t clock)
{
    if (clock < c->v[0]->id.clock)
        clock = c->v[0]->id.clock;
    size_t start = td__find_index(c, clock);
    td_lib0_write_varuint(e, c->n - start);
    td_lib0_write_varuint(e, c->client);
    td_lib0_write_varuint(e, clock);
    for (size_t i = start; i < c->n; i++) {
        td_ystruct_t s;
        s_item_view(c->v[i], &s);
        uint64_t offset = i == start ? clock - s.id.clock : 0;
        size_t voff =
            offset && s_has_values(c->v[i]) ? td__item_value_offset(c->v[i], offset) : SIZE_MAX;
        int rc = td__ystruct_write_at(e, &s, offset, voff, false);
        if (rc != 0)
            return rc;
    }
    return e->err;
}

typedef struct s_client_clock {
    const td__client_t *c;
    uint64_t clock;
} s_client_clock_t;

static int s_cc_cmp(const void *a, const void *b)
{
    uint64_t x = ((const s_client_clock_t *)a)->c->client;
    uint64_t y = ((const s_client_clock_t *)b)->c->client;
    return x > y ? -1 : x < y;
}

/* About the bytes s_write_client writes for the list: content plus a typical struct header. Big
 * updates (a notebook's 20 MB of outputs) are then written into one allocation, not grown by
 * doubling, which copies everything once more and faults in twice the pages. */
static size_t s_clients_size(const s_client_clock_t *list, size_t n)
{
    size_t size = 8;
    for (size_t i = 0; i < n; i++) {
        const td__client_t *c = list[i].c;
        uint64_t clock = list[i].clock < c->v[0]->id.clock ? c->v[0]->id.clock : list[i].clock;
        size += 24;
        for (size_t k = td__find_index(c, clock); k < c->n; k++) {
            const td__item_t *it = c->v[k];
            size += 24;
            if (it->kind == TD_YSTRUCT_ITEM && it->content != TD_YCONTENT_TYPE &&
                it->content != TD_YCONTENT_DELETED)
                size += it->c.buf.n;
            if (it->kind == TD_YSTRUCT_ITEM && it->parent_sub)
                size += it->parent_sub->len;
        }
    }
    return size;
}

/* yjs writeClientsStructs, for a list of (client, from clock); sorts it. */
static int s_write_clients(td_lib0_enc_t *e, s_client_clock_t *list, size_t n)
{
    if (n > 1)
        qsort(list, n, sizeof *list, s_cc_cmp);
    if (td_lib0_enc_reserve(e, s_clients_size(list, n)) != 0)
        return e->err;
    td_lib0_write_varuint(e, n);
    for (size_t i = 0; i < n; i++) {
        int rc = s_write_client(e, list[i].c, list[i].clock);
        if (rc != 0)
            return rc;
    }
    return e->err;
}

/* The transaction's update (yjs writeUpdateMessageFromTransaction). */
static int s_txn_update(td_ydoc_t *doc, td_lib0_enc_t *e)
{
    td__txn_t *t = &doc->txn;
    s_client_clock_t *list = t->ntouched ? malloc(t->ntouched * sizeof *list) : NULL;
    if (t->ntouched && list == NULL)
        return TD_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < t->ntouched; i++) {
        const td__client_t *c = td__ydoc_client(doc, t->touched[i]);
        uint64_t before = (uint64_t)*td__u64map_get(&t->before, t->touched[i]);
        if (td__client_state(c) > before)
            list[n++] = (s_client_clock_t){c, before};
    }
    int rc = s_write_clients(e, list, n);
    free(list);
    if (rc == 0)
        td__yds_write(&t->ds, e);
    return rc ? rc : e->err;
}

int td_ydoc_encode_state_vector(const td_ydoc_t *self, td_lib0_enc_t *out)
{
    td_ysv_t *sv = NULL;
    int rc = td_ydoc_state_vector(self, &sv);
    if (rc == 0)
        rc = td_ysv_encode(sv, out);
    td_ysv_destroy(&sv);
    return rc;
}

int td_ydoc_state_vector(const td_ydoc_t *self, td_ysv_t **out)
{
    td_ysv_t *sv = td_ysv_new();
    *out = NULL;
    if (sv == NULL)
        return TD_ENOMEM;
    for (size_t i = 0; i < self->nclients; i++) {
        const td__client_t *c = self->clients[i];
        if (c->n && td_ysv_set(sv, c->client, td__client_state(c)) != 0) {
            td_ysv_destroy(&sv);
            return TD_ENOMEM;
        }
    }
    *out = sv;
    return 0;
}

/* yjs createDeleteSetFromStructStore, sorted for writing. */
static int s_store_ds(const td_ydoc_t *doc, td__yds_t *ds)
{
    for (size_t ci = 0; ci < doc->nclients; ci++) {
        const td__client_t *c = doc->clients[ci];
        for (size_t i = 0; i < c->n; i++) {
            if (!td__deleted(c->v[i]))
                continue;
            uint64_t clock = c->v[i]->id.clock, len = c->v[i]->len;
            while (i + 1 < c->n && td__deleted(c->v[i + 1]))
                len += c->v[++i]->len;
            if (td__yds_add(ds, c->client, clock, len) != 0)
                return TD_ENOMEM;
        }
    }
    return td__yds_sort(ds, false);
}

int td_ydoc_encode_state_as_update(const td_ydoc_t *self, const uint8_t *sv, size_t sv_len,
                                   td_lib0_enc_t *out, td_error_t *err)
{
    td_ysv_t *target = NULL;
    if (sv) {
        ssize_t r = td_ysv_decode(sv, sv_len, &target, err);
        if (r < 0)
            return (int)r;
    }
    s_client_clock_t *list = self->nclients ? malloc(self->nclients * sizeof *list) : NULL;
    td__yds_t ds = {0};
    td_lib0_enc_t main;
    td_lib0_enc_init(&main);
    int rc = (self->nclients && list == NULL) ? TD_ENOMEM : 0;
    size_t n = 0;
    for (size_t i = 0; i < self->nclients && rc == 0; i++) {
        const td__client_t *c = self->clients[i];
        uint64_t from = target ? td_ysv_get(target, c->client) : 0;
        if (c->n && td__client_state(c) > from)
            list[n++] = (s_client_clock_t){c, from};
    }
    bool pending = self->pending || self->pending_ds;
    td_lib0_enc_t *dst = pending ? &main : out;
    if (rc == 0)
        rc = s_write_clients(dst, list, n);
    if (rc == 0)
        rc = s_store_ds(self, &ds);
    if (rc == 0) {
        td__yds_write(&ds, dst);
        rc = dst->err;
    }
    if (rc == 0 && pending) {
        /* Pending structs and deletions travel too, merged in (yjs encodeStateAsUpdateV2). */
        td_lib0_enc_t diff;
        td_lib0_enc_init(&diff);
        td_bytes_t parts[3];
        size_t np = 0;
        parts[np++] = (td_bytes_t){main.buf, main.len};
        if (self->pending_ds)
            parts[np++] = (td_bytes_t){self->pending_ds, self->pending_ds_len};
        if (self->pending) {
            static const uint8_t empty_sv = 0;
            rc = td_yupdate_diff(self->pending, self->pending_len, sv ? sv : &empty_sv,
                                 sv ? sv_len : 1, &diff, err);
            parts[np++] = (td_bytes_t){diff.buf, diff.len};
        }
        if (rc == 0)
            rc = td_yupdate_merge(parts, np, out, err);
        td_lib0_enc_fini(&diff);
    }
    td_lib0_enc_fini(&main);
    td__yds_fini(&ds);
    free(list);
    td_ysv_destroy(&target);
    return rc;
}

bool td_ydoc_has_pending(const td_ydoc_t *self)
{
    return self->pending != NULL || self->pending_ds != NULL;
}

/* ---- commit -----------------------------------------------------------------------------------
 */

static int s_cleanup(td_ydoc_t *doc)
{
    td__txn_t *t = &doc->txn;
    int rc = td__yds_sort(&t->ds, true);
    if (rc == 0 && doc->gc)
        rc = s_gc_ds(doc, &t->ds);
    if (rc != 0)
        return rc;
    s_merge_ds(doc, &t->ds);
    /* Merge the new structs of every client that changed, right to left. */
    for (size_t k = 0; k < t->ntouched; k++) {
        td__client_t *c = td__ydoc_client(doc, t->touched[k]);
        uint64_t before = (uint64_t)*td__u64map_get(&t->before, t->touched[k]);
        if (td__client_state(c) == before)
            continue;
        size_t first = before ? td__find_index(c, before) : 0;
        if (first < 1)
            first = 1;
        for (size_t i = c->n - 1; i >= first && i < c->n;) {
            size_t m = s_merge_lefts(c, i);
            if (i < 1 + m)
                break;
            i -= 1 + m;
        }
    }
    /* Structs split during the transaction may merge back. */
    for (size_t k = t->nmerge; k-- > 0;) {
        td__client_t *c = td__ydoc_client(doc, t->merge[k].client);
        size_t pos = td__find_index(c, t->merge[k].clock);
        if (pos + 1 < c->n && s_merge_lefts(c, pos + 1) > 1)
            continue;
        if (pos > 0)
            s_merge_lefts(c, pos);
    }
    return 0;
}

/* Frees the transaction's bookkeeping once it outgrew a small transaction's: one that applied a
 * whole document is sized by every client and deletion in it, and would otherwise keep that
 * memory as long as the document lives. Small ones keep theirs for the next transaction. */
static void s_txn_trim(td__txn_t *t)
{
    if (t->captouched > 64) {
        td__u64map_fini(&t->before);
        free(t->touched);
        t->touched = NULL;
        t->ntouched = t->captouched = 0;
    }
    if (t->ds.cap > 64)
        td__yds_fini(&t->ds);
    if (t->capmerge > 64) {
        free(t->merge);
        t->merge = NULL;
        t->nmerge = t->capmerge = 0;
    }
    if (t->capchanged > 64) {
        free(t->changed);
        t->changed = NULL;
        t->nchanged = t->capchanged = 0;
    }
}

static int s_txn_finish(td_ydoc_t *doc);

int td__ydoc_txn_close(td_ydoc_t *doc)
{
    int rc = s_txn_finish(doc);
    s_txn_trim(&doc->txn);
    return rc;
}

/* Cleans up, then tells the observers. */
static int s_txn_finish(td_ydoc_t *doc)
{
    td__txn_t *t = &doc->txn;
    int rc = s_cleanup(doc);
    doc->in_txn = false;
    doc->marker_owner = NULL;
    if (rc != 0 || doc->nobservers == 0)
        return rc;
    bool changed = t->ds.n > 0;
    for (size_t i = 0; i < t->ntouched && !changed; i++) {
        uint64_t before = (uint64_t)*td__u64map_get(&t->before, t->touched[i]);
        changed = td_ydoc_state(doc, t->touched[i]) > before;
    }
    if (!changed)
        return 0;
    td_lib0_enc_t e;
    td_lib0_enc_init(&e);
    rc = s_txn_update(doc, &e);
    if (rc == 0) {
        td_ytxn_info_t info = {t->origin, t->local, e.buf, e.len, t->changed, t->nchanged};
        doc->in_observer = true;
        for (size_t i = 0; i < doc->nobservers; i++)
            doc->observers[i].fn(doc, &info, doc->observers[i].arg);
        doc->in_observer = false;
    }
    td_lib0_enc_fini(&e);
    return rc;
}

/* ---- applying updates -------------------------------------------------------------------------
 */

/* Copies bytes into a new owned buffer (1 byte for empty input). */
static uint8_t *s_dup(const uint8_t *p, size_t n)
{
    uint8_t *d = malloc(n ? n : 1);
    if (d && n)
        memcpy(d, p, n);
    return d;
}

/* Canonicalises n encoded `any` values the way a JS round trip would (see td_lib0_dec_any_canon),
 * so the store holds exactly what yjs would write back. */
static int s_canon_values(const uint8_t *p, size_t n, uint64_t count, uint8_t **out, uint32_t *len)
{
    td_lib0_enc_t e;
    td_lib0_enc_init(&e);
    td_lib0_dec_t d;
    td_lib0_dec_init(&d, p, n, NULL);
    for (uint64_t i = 0; i < count; i++) {
        int rc = td_lib0_dec_any_canon(&d, &e);
        if (rc != 0) {
            td_lib0_enc_fini(&e);
            return rc == TD_ENOMEM ? rc : TD_EPROTO;
        }
    }
    size_t sz = 0;
    *out = td_lib0_enc_steal(&e, &sz);
    if (*out == NULL)
        return TD_ENOMEM;
    if (sz > UINT32_MAX) {
        free(*out);
        *out = NULL;
        return TD_E2BIG;
    }
    *len = (uint32_t)sz;
    return 0;
}

/* Fills it's content from a decoded struct. */
static int s_item_content(td_ydoc_t *doc, td__item_t *it, const td_ystruct_t *s)
{
    it->content = s->content;
    size_t n;
    switch (s->content) {
    case TD_YCONTENT_DELETED:
        it->flags |= TD__I_DELETED;
        return 0;
    case TD_YCONTENT_TYPE: {
        td_ytype_t *t = td__ytype_new(doc, s->type_ref, (const char *)s->data.data,
                                      s->data.data ? s->data.len : 0);
        if (t == NULL)
            return TD_ENOMEM;
        it->c.type = t;
        return 0;
    }
    case TD_YCONTENT_ANY: {
        int rc = s_canon_values(s->data.data, s->data.len, s->len, &it->c.buf.p, &it->c.buf.n);
        it->c.buf.cap = it->c.buf.n;
        if (rc == 0)
            s_offs_build(it);
        return rc;
    }
    case TD_YCONTENT_FORMAT:
    case TD_YCONTENT_DOC: {
        uint8_t *opts = NULL;
        uint32_t optn = (uint32_t)s->data2.len;
        if (s->content == TD_YCONTENT_DOC) {
            td_lib0_enc_t oe;
            td_lib0_enc_init(&oe);
            int rc = td__ydoc_opts_canon(s->data2.data, s->data2.len, &oe);
            size_t olen = 0;
            opts = rc == 0 ? td_lib0_enc_steal(&oe, &olen) : NULL;
            td_lib0_enc_fini(&oe);
            if (opts == NULL)
                return rc ? rc : TD_ENOMEM;
            optn = (uint32_t)olen;
        }
        n = s->data.len + optn;
        it->c.buf.p = malloc(n ? n : 1);
        if (it->c.buf.p == NULL) {
            free(opts);
            return TD_ENOMEM;
        }
        memcpy(it->c.buf.p, s->data.data, s->data.len);
        memcpy(it->c.buf.p + s->data.len, opts ? opts : s->data2.data, optn);
        free(opts);
        it->split = (uint32_t)s->data.len;
        it->c.buf.n = it->c.buf.cap = (uint32_t)n;
        return 0;
    }
    default:
        it->c.buf.p = s_dup(s->data.data, s->data.len);
        if (it->c.buf.p == NULL)
            return TD_ENOMEM;
        it->c.buf.n = it->c.buf.cap = (uint32_t)s->data.len;
        if (s->content == TD_YCONTENT_STRING && s->len == s->data.len)
            it->flags |= TD__I_ASCII;
        s_offs_build(it); /* JSON */
        return 0;
    }
}

/* Drops the first offset units of an item's content (yjs content.splice for integrate). */
static int s_item_cut(td__item_t *it, uint64_t offset)
{
    if (it->content == TD_YCONTENT_STRING || it->content == TD_YCONTENT_ANY ||
        it->content == TD_YCONTENT_JSON) {
        td__item_t tmp = *it;
        memset(&tmp.c, 0, sizeof tmp.c);
        tmp.len = it->len - offset;
        int rc = s_split_content(it, &tmp, offset);
        if (rc != 0)
            return rc;
        free(it->c.buf.p);
        if (s_has_values(it))
            free(it->c.buf.offs);
        it->c = tmp.c;
    }
    it->id.clock += offset;
    it->len -= offset;
    return 0;
}

/* Adds a GC struct covering [clock, clock + len) of client. */
static int s_add_gc(td_ydoc_t *doc, uint64_t client, uint64_t clock, uint64_t len)
{
    td__item_t *g = td__item_alloc();
    if (g == NULL)
        return TD_ENOMEM;
    g->kind = TD_YSTRUCT_GC;
    g->flags = TD__I_DELETED;
    g->id = (td_yid_t){client, clock};
    g->len = len;
    int rc = s_store_add(doc, g);
    if (rc != 0)
        free(g);
    return rc;
}

/* yjs getMissing, the dependency part: a client whose struct we lack, or UINT64_MAX. */
static uint64_t s_missing(const td_ydoc_t *doc, const td_ystruct_t *s)
{
    if (s->kind != TD_YSTRUCT_ITEM)
        return UINT64_MAX;
    if (s->has_origin && s->origin.client != s->id.client &&
        s->origin.clock >= td_ydoc_state(doc, s->origin.client))
        return s->origin.client;
    if (s->has_right_origin && s->right_origin.client != s->id.client &&
        s->right_origin.clock >= td_ydoc_state(doc, s->right_origin.client))
        return s->right_origin.client;
    if (s->parent_kind == TD_YPARENT_ID && s->parent_id.client != s->id.client &&
        s->parent_id.clock >= td_ydoc_state(doc, s->parent_id.client))
        return s->parent_id.client;
    return UINT64_MAX;
}

/* yjs getMissing (resolution part) + Item.integrate for a decoded struct. */
static int s_integrate_remote(td_ydoc_t *doc, const td_ystruct_t *s, uint64_t offset)
{
    if (s->kind == TD_YSTRUCT_GC)
        return s_add_gc(doc, s->id.client, s->id.clock + offset, s->len - offset);
    td__item_t *it = td__item_alloc();
    if (it == NULL)
        return TD_ENOMEM;
    it->kind = TD_YSTRUCT_ITEM;
    it->id = s->id;
    it->len = s->len;
    int rc = s_item_content(doc, it, s);
    td__item_t *left = NULL, *right = NULL;
    if (rc == 0 && s->has_origin) {
        if ((left = td__clean_end(doc, s->origin)) == NULL)
            rc = TD_ENOMEM;
        else {
            it->origin = s_last_id(left);
            it->flags |= TD__I_ORIGIN;
        }
    }
    if (rc == 0 && s->has_right_origin) {
        if ((right = td__clean_start(doc, s->right_origin)) == NULL)
            rc = TD_ENOMEM;
        else {
            it->right_origin = right->id;
            it->flags |= TD__I_RORIGIN;
        }
    }
    td_ytype_t *parent = NULL;
    td__key_t *sub = NULL;
    if (rc == 0) {
        if ((left && left->kind != TD_YSTRUCT_ITEM) || (right && right->kind != TD_YSTRUCT_ITEM)) {
            parent = NULL;
        } else if (s->parent_kind == TD_YPARENT_INHERIT) {
            const td__item_t *from = left ? left : right;
            parent = from->parent;
            sub = from->parent_sub;
        } else {
            if (s->parent_kind == TD_YPARENT_ROOT) {
                parent = td__ydoc_root_by_name(doc, (const char *)s->parent_name.data,
                                               s->parent_name.len, true);
                if (parent == NULL)
                    rc = TD_ENOMEM;
            } else {
                td__item_t *p = td__get_item(doc, s->parent_id);
                parent = (p->kind == TD_YSTRUCT_ITEM && p->content == TD_YCONTENT_TYPE) ? p->c.type
                                                                                        : NULL;
            }
            if (rc == 0 && s->parent_sub.data) {
                sub = td__ydoc_key(doc, (const char *)s->parent_sub.data, s->parent_sub.len);
                if (sub == NULL)
                    rc = TD_ENOMEM;
            }
        }
    }
    if (rc == 0 && offset > 0) {
        td_yid_t prev = {s->id.client, s->id.clock + offset - 1};
        if ((left = td__clean_end(doc, prev)) == NULL)
            rc = TD_ENOMEM;
        else {
            it->origin = s_last_id(left);
            it->flags |= TD__I_ORIGIN;
            rc = s_item_cut(it, offset);
        }
    }
    if (rc != 0 || parent == NULL) {
        uint64_t clock = s->id.clock + offset, len = s->len - offset;
        if (it->content == TD_YCONTENT_TYPE)
            it->c.type->gcd = true; /* never linked; freed with the document */
        td__item_free(it);
        return rc ? rc : s_add_gc(doc, s->id.client, clock, len);
    }
    it->parent = parent;
    it->parent_sub = sub;
    it->left = left;
    it->right = right;
    rc = s_integrate_linked(doc, it);
    return rc;
}

/* One client's structs of the update being integrated (yjs clientsStructRefs entry). */
typedef struct s_refs {
    uint64_t client;
    const td_ystruct_t *v;
    size_t n, i;
} s_refs_t;

typedef struct s_integ {
    td_ydoc_t *doc;
    s_refs_t *refs;
    size_t nrefs;
    td__u64map_t by_client; /* client -> index in refs */
    uint64_t *ids;          /* clients ascending; taken from the end */
    size_t nids;
    const td_ystruct_t **stack;
    size_t nstack;
    /* Structs that could not be integrated (per client: a run of decoded structs). */
    struct s_rest {
        uint64_t client;
        const td_ystruct_t *v;
        size_t n;
    } * rest;
    size_t nrest;
    td__u64map_t missing; /* client -> lowest missing clock */
} s_integ_t;

static int s_missing_put(td__u64map_t *m, uint64_t client, uint64_t clock)
{
    size_t *at = td__u64map_get(m, client);
    if (at && (uint64_t)*at <= clock)
        return 0;
    return td__u64map_put(m, client, (size_t)clock);
}

static s_refs_t *s_refs_of(s_integ_t *g, uint64_t client)
{
    size_t *at = td__u64map_get(&g->by_client, client);
    return at ? &g->refs[*at] : NULL;
}

/* yjs addStackToRestSS. */
static void s_stack_to_rest(s_integ_t *g)
{
    for (size_t k = 0; k < g->nstack; k++) {
        const td_ystruct_t *s = g->stack[k];
        uint64_t client = s->id.client;
        bool dup = false;
        for (size_t j = 0; j < g->nrest && !dup; j++)
            dup = g->rest[j].client == client;
        if (dup)
            continue; /* only reachable with a causally impossible update */
        s_refs_t *r = s_refs_of(g, client);
        if (r && r->n > 0) {
            r->i--;
            g->rest[g->nrest++] = (struct s_rest){client, r->v + r->i, r->n - r->i};
            r->n = r->i = 0;
        } else {
            g->rest[g->nrest++] = (struct s_rest){client, s, 1};
        }
        for (size_t j = 0; j < g->nids; j++) {
            if (g->ids[j] == client) {
                memmove(&g->ids[j], &g->ids[j + 1], (g->nids - j - 1) * sizeof *g->ids);
                g->nids--;
                break;
            }
        }
    }
    g->nstack = 0;
}

static s_refs_t *s_next_target(s_integ_t *g)
{
    while (g->nids > 0) {
        s_refs_t *r = s_refs_of(g, g->ids[g->nids - 1]);
        if (r->i < r->n)
            return r;
        g->nids--;
    }
    return NULL;
}

static int s_u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* yjs integrateStructs. */
static int s_integrate_structs(s_integ_t *g)
{
    td_ydoc_t *doc = g->doc;
    s_refs_t *cur = s_next_target(g);
    if (cur == NULL)
        return 0;
    const td_ystruct_t *head = &cur->v[cur->i++];
    for (;;) {
        if (head->kind != TD_YSTRUCT_SKIP) {
            uint64_t local = td_ydoc_state(doc, head->id.client);
            if (local < head->id.clock) {
                g->stack[g->nstack++] = head;
                if (s_missing_put(&g->missing, head->id.client, head->id.clock - 1) != 0)
                    return TD_ENOMEM;
                s_stack_to_rest(g);
            } else {
                uint64_t offset = local - head->id.clock;
                uint64_t miss = s_missing(doc, head);
                if (miss != UINT64_MAX) {
                    g->stack[g->nstack++] = head;
                    s_refs_t *r = s_refs_of(g, miss);
                    if (r == NULL || r->i == r->n) {
                        if (s_missing_put(&g->missing, miss, td_ydoc_state(doc, miss)) != 0)
                            return TD_ENOMEM;
                        s_stack_to_rest(g);
                    } else {
                        head = &r->v[r->i++];
                        continue;
                    }
                } else if (offset == 0 || offset < head->len) {
                    int rc = s_integrate_remote(doc, head, offset);
                    if (rc != 0)
                        return rc;
                }
            }
        }
        if (g->nstack > 0) {
            head = g->stack[--g->nstack];
        } else if (cur && cur->i < cur->n) {
            head = &cur->v[cur->i++];
        } else {
            cur = s_next_target(g);
            if (cur == NULL)
                break;
            head = &cur->v[cur->i++];
        }
    }
    return 0;
}

static int s_rest_cmp(const void *a, const void *b)
{
    uint64_t x = ((const struct s_rest *)a)->client, y = ((const struct s_rest *)b)->client;
    return x > y ? -1 : x < y;
}

/* Encodes the structs left over as a v1 update (yjs writes them with writeClientsStructs). */
static int s_rest_update(s_integ_t *g, td_lib0_enc_t *e)
{
    if (g->nrest > 1)
        qsort(g->rest, g->nrest, sizeof *g->rest, s_rest_cmp);
    td__ylazy_t w;
    td__ylazy_init(&w);
    int rc = 0;
    for (size_t k = 0; k < g->nrest && rc == 0; k++) {
        for (size_t i = 0; i < g->rest[k].n && rc == 0; i++)
            rc = td__ylazy_write(&w, &g->rest[k].v[i], 0);
    }
    if (rc == 0)
        rc = td__ylazy_finish(&w, e);
    td_lib0_write_u8(e, 0);
    td__ylazy_fini(&w);
    return rc ? rc : e->err;
}

/* yjs readAndApplyDeleteSet: applies what it can, returns the rest as an update (0 structs). */
static int s_apply_ds(td_ydoc_t *doc, const td_yupdate_t *u, uint8_t **rest, size_t *rest_len)
{
    td__yds_t un = {0};
    int rc = 0;
    *rest = NULL;
    for (size_t k = 0; k < td_yupdate_ds_nclients(u) && rc == 0; k++) {
        td_yds_client_t dc = td_yupdate_ds_client(u, k);
        td__client_t *c = td__ydoc_client(doc, dc.client);
        uint64_t state = td__client_state(c);
        for (size_t r = 0; r < dc.nranges && rc == 0; r++) {
            uint64_t clock = dc.ranges[r].clock, end = clock + dc.ranges[r].len;
            if (clock >= state) {
                rc = td__yds_add(&un, dc.client, clock, end - clock);
                continue;
            }
            if (state < end && (rc = td__yds_add(&un, dc.client, state, end - state)) != 0)
                break;
            size_t index = td__find_index(c, clock);
            td__item_t *s = c->v[index];
            if (!td__deleted(s) && s->id.clock < clock) {
                if (s_split(doc, c, index, clock - s->id.clock) == NULL) {
                    rc = TD_ENOMEM;
                    break;
                }
                index++;
            }
            while (index < c->n && rc == 0) {
                s = c->v[index++];
                if (s->id.clock >= end)
                    break;
                if (td__deleted(s))
                    continue;
                if (end < s->id.clock + s->len &&
                    s_split(doc, c, index - 1, end - s->id.clock) == NULL) {
                    rc = TD_ENOMEM;
                    break;
                }
                rc = td__item_delete(doc, s);
            }
        }
    }
    if (rc == 0 && un.n > 0) {
        td_lib0_enc_t e;
        td_lib0_enc_init(&e);
        td_lib0_write_u8(&e, 0);
        rc = td__yds_sort(&un, false);
        if (rc == 0)
            td__yds_write(&un, &e);
        *rest = td_lib0_enc_steal(&e, rest_len);
        if (*rest == NULL)
            rc = TD_ENOMEM;
    }
    td__yds_fini(&un);
    return rc;
}

/* Merges two owned updates into *a (freeing both inputs). */
static int s_merge_owned(uint8_t **a, size_t *alen, uint8_t *b, size_t blen)
{
    td_bytes_t parts[2] = {{*a, *alen}, {b, blen}};
    td_lib0_enc_t e;
    td_lib0_enc_init(&e);
    int rc = td_yupdate_merge(parts, 2, &e, NULL);
    free(*a);
    free(b);
    *a = rc == 0 ? td_lib0_enc_steal(&e, alen) : NULL;
    td_lib0_enc_fini(&e);
    return rc == 0 && *a == NULL ? TD_ENOMEM : rc;
}

/* yjs readUpdateV2 inside an open transaction, for a decoded and validated update. */
static int s_apply_decoded(td_ydoc_t *doc, const td_yupdate_t *u)
{
    s_integ_t g = {.doc = doc};
    size_t nb = td_yupdate_nblocks(u), ns = td_yupdate_nstructs(u);
    int rc = 0;
    g.refs = nb ? calloc(nb, sizeof *g.refs) : NULL;
    g.ids = nb ? calloc(nb, sizeof *g.ids) : NULL;
    g.stack = nb ? calloc(nb + 1, sizeof *g.stack) : NULL;
    g.rest = nb ? calloc(nb + 1, sizeof *g.rest) : NULL;
    if (nb && (!g.refs || !g.ids || !g.stack || !g.rest))
        rc = TD_ENOMEM;
    for (size_t b = 0; b < nb && rc == 0; b++) {
        uint64_t client;
        size_t first, count;
        td_yupdate_block(u, b, &client, &first, &count);
        if (count == 0)
            continue;
        g.refs[g.nrefs] = (s_refs_t){client, td_yupdate_struct(u, 0) + first, count, 0};
        g.ids[g.nids++] = client;
        rc = td__u64map_put(&g.by_client, client, g.nrefs++);
    }
    (void)ns;
    if (rc == 0) {
        if (g.nids > 1)
            qsort(g.ids, g.nids, sizeof *g.ids, s_u64_cmp);
        rc = s_integrate_structs(&g);
    }
    /* Pending structs: note whether a retry can make progress, then add the new leftovers. */
    bool retry = false;
    if (rc == 0 && doc->pending) {
        for (size_t i = 0; i < doc->pending_missing.cap && !retry; i++) {
            if (doc->pending_missing.used[i] &&
                (uint64_t)doc->pending_missing.vals[i] <
                    td_ydoc_state(doc, doc->pending_missing.keys[i]))
                retry = true;
        }
    }
    if (rc == 0 && g.nrest > 0) {
        td_lib0_enc_t e;
        td_lib0_enc_init(&e);
        rc = s_rest_update(&g, &e);
        size_t len = 0;
        uint8_t *rest = rc == 0 ? td_lib0_enc_steal(&e, &len) : NULL;
        td_lib0_enc_fini(&e);
        if (rc == 0 && rest == NULL)
            rc = TD_ENOMEM;
        for (size_t i = 0; rc == 0 && i < g.missing.cap; i++) {
            if (g.missing.used[i])
                rc = s_missing_put(&doc->pending_missing, g.missing.keys[i], g.missing.vals[i]);
        }
        if (rc == 0 && doc->pending) {
            rc = s_merge_owned(&doc->pending, &doc->pending_len, rest, len);
        } else if (rc == 0) {
            doc->pending = rest;
            doc->pending_len = len;
        } else {
            free(rest);
        }
    }
    free(g.refs);
    free(g.ids);
    free(g.stack);
    free(g.rest);
    td__u64map_fini(&g.by_client);
    td__u64map_fini(&g.missing);
    /* Deletions: those of this update, then the pending ones. */
    uint8_t *ds_rest = NULL;
    size_t ds_rest_len = 0;
    if (rc == 0)
        rc = s_apply_ds(doc, u, &ds_rest, &ds_rest_len);
    if (rc == 0 && doc->pending_ds) {
        td_yupdate_t *pu = NULL;
        uint8_t *ds_rest2 = NULL;
        size_t ds_rest2_len = 0;
        if (td_yupdate_decode(doc->pending_ds, doc->pending_ds_len, &pu, NULL) < 0)
            rc = TD_ENOMEM;
        if (rc == 0)
            rc = s_apply_ds(doc, pu, &ds_rest2, &ds_rest2_len);
        td_yupdate_destroy(&pu);
        free(doc->pending_ds);
        doc->pending_ds = NULL;
        if (rc == 0 && ds_rest && ds_rest2) {
            rc = s_merge_owned(&ds_rest, &ds_rest_len, ds_rest2, ds_rest2_len);
        } else if (rc == 0 && ds_rest2) {
            ds_rest = ds_rest2;
            ds_rest_len = ds_rest2_len;
        } else {
            free(ds_rest2);
        }
    }
    if (rc == 0) {
        doc->pending_ds = ds_rest;
        doc->pending_ds_len = ds_rest_len;
    } else {
        free(ds_rest);
    }
    if (rc == 0 && retry) {
        uint8_t *p = doc->pending;
        size_t plen = doc->pending_len;
        doc->pending = NULL;
        doc->pending_len = 0;
        td__u64map_clear(&doc->pending_missing);
        td_yupdate_t *pu = NULL;
        if (td_yupdate_decode(p, plen, &pu, NULL) < 0)
            rc = TD_ENOMEM;
        else
            rc = s_apply_decoded(doc, pu);
        td_yupdate_destroy(&pu);
        free(p);
    }
    return rc;
}

int td_ydoc_apply_update(td_ydoc_t *self, const uint8_t *update, size_t n, void *origin,
                         td_error_t *err)
{
    if (self->in_observer)
        return TD_ESTATE;
    td_yupdate_t *u = NULL;
    ssize_t r = td_yupdate_decode(update, n, &u, err);
    if (r < 0)
        return (int)r;
    /* One block per client: yjs would silently keep only the last one. */
    td__u64map_t seen = {0};
    int rc = 0;
    for (size_t b = 0; b < td_yupdate_nblocks(u) && rc == 0; b++) {
        uint64_t client;
        size_t first, count;
        td_yupdate_block(u, b, &client, &first, &count);
        if (td__u64map_get(&seen, client))
            rc = td_error_set(err, TD_EPROTO, td__yupdate_block_offset(u, b),
                              "second block for client %llu", (unsigned long long)client);
        else if (td__u64map_put(&seen, client, 0) != 0)
            rc = TD_ENOMEM;
    }
    td__u64map_fini(&seen);
    bool opened = false;
    if (rc == 0)
        rc = td__ydoc_txn_open(self, origin, false, &opened);
    if (rc == 0) {
        rc = s_apply_decoded(self, u);
        if (opened) {
            int rc2 = td__ydoc_txn_close(self);
            rc = rc ? rc : rc2;
        }
    }
    td_yupdate_destroy(&u);
    return rc;
}
