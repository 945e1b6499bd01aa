/* td_yawareness.c: awareness updates and the per-client state tracker of y-protocols' awareness.js.
 *
 * The tracker keeps one record per retained client in an array, in order of first appearance, and
 * finds records through an open-addressing index over client ids (linear probing, at most half
 * full, rebuilt whenever the array is compacted). A record's clock and last-update time outlive its
 * state (y-protocols keeps `meta` after a removal too): that is what lets a late, older update be
 * refused. Unlike y-protocols, such a clock-only record is not kept forever: td_yawareness_check
 * evicts it once it has had no state for longer than TD_YAWARENESS_TIMEOUT_MS (by default), so
 * memory follows the live clients of a room rather than every client it ever had. The local record
 * is never evicted, because its clock must keep growing for peers to accept it.
 *
 * A state is stored twice: as the JSON text it arrived in (re-sent byte for byte, and what callers
 * read) and parsed (to tell a real change from a renewal). Numbers are parsed as doubles so that 1
 * and 1.0 compare equal, as they do in JavaScript. A renewal usually repeats its text byte for
 * byte; such a state is not parsed again, the stored parse is shared instead.
 *
 * Every mutating call reports each client at most once per change list. Rather than searching a
 * list before pushing, a record remembers which lists it joined and in which call (a generation
 * number bumped by every call), so each report costs O(1) and a call costs O(entries).
 *
 * Peer input is validated completely before the tracker is touched, so a malformed update changes
 * nothing. Clocks are clamped at 2^53 - 1 (lib0's largest var-uint) so that renewing a state can
 * never produce an unencodable clock. JSON.parse and jansson disagree on a few exotic texts
 * (numbers overflowing a double, lone surrogate escapes): we reject those as invalid JSON. */
#include <assert.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "td/td_yawareness.h"

#define TD_YAWARENESS_TAG 0x79617772u /* "yawr" */
#define S_JSON_FLAGS (JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL)

/* The change lists, as indexes into td_yawareness.lists and bits of s_client.marks. */
enum { S_ADDED, S_UPDATED, S_REMOVED, S_CHANGED, S_NLISTS };

typedef struct s_client {
    uint64_t client;
    uint64_t clock;
    int64_t updated_ms; /* when the clock last moved (y-protocols lastUpdated) */
    int64_t gone_ms;    /* when the record last lost its state, or was made without one */
    char *text;         /* owned NUL-terminated JSON text, NULL when there is no state */
    size_t len;
    json_t *json;      /* owned parse of text, NULL when there is no state */
    uint64_t order;    /* when the state last appeared: y-protocols' `states` map order */
    uint64_t mark_gen; /* the call that last reported this client */
    unsigned marks;    /* the lists (1 << S_*) it joined in that call */
} s_client_t;

typedef struct s_list {
    uint64_t *ids;
    size_t len, cap;
} s_list_t;

struct td_yawareness {
    uint32_t tag;
    uint64_t local;
    s_client_t *clients; /* in order of first appearance */
    size_t nclients, cap;
    size_t nstates;
    uint64_t next_order;
    size_t *index; /* open addressing: client slot + 1, 0 = empty; capacity a power of two */
    size_t index_cap;
    uint64_t gen;     /* bumped by every mutating call; see s_client.mark_gen */
    int64_t evict_ms; /* see td_yawareness_set_evict_ms; negative: never */
    s_list_t lists[S_NLISTS];
};

/* One update being applied: every entry with its parsed state (owned), grown as entries are read
 * so that memory follows the entries actually present, not the count an update claims. */
typedef struct s_entries {
    td_yawareness_entry_t *v;
    json_t **jsons; /* NULL when the parses are not kept */
    size_t len, cap;
    bool grow; /* false: keep the first cap entries, count the rest */
} s_entries_t;

static s_client_t *s_find(const td_yawareness_t *self, uint64_t client);

/* ---- codec ----------------------------------------------------------------------------------- */

/* Keeps entry en and its parse j (taken) in out, or only counts it when out is full. */
static int s_keep(s_entries_t *out, const td_yawareness_entry_t *en, json_t *j, size_t i)
{
    if (out->len == out->cap && out->grow) {
        size_t cap = out->cap ? out->cap * 2 : 8;
        td_yawareness_entry_t *v = realloc(out->v, cap * sizeof *v);
        if (v)
            out->v = v;
        json_t **jsons = v ? realloc(out->jsons, cap * sizeof *jsons) : NULL;
        if (jsons)
            out->jsons = jsons;
        if (!v || !jsons) {
            json_decref(j);
            return TD_ENOMEM;
        }
        out->cap = cap;
    }
    if (out->len < out->cap) {
        assert(out->len == i);
        out->v[out->len] = *en;
        if (out->jsons) {
            out->jsons[out->len] = j;
            j = NULL;
        }
        out->len++;
    }
    json_decref(j);
    return 0;
}

/* Walks an update, validating every entry, and keeps the entries in out (see s_entries_t; the
 * caller frees what it holds, also on error). With self, a state byte-identical to the client's
 * stored text is not parsed again: that text was valid when stored, and its parse is shared. */
static ssize_t s_decode(const td_yawareness_t *self, const uint8_t *p, size_t n, s_entries_t *out,
                        size_t *count, td_error_t *err)
{
    td_lib0_dec_t d;
    td_lib0_dec_init(&d, p, n, err);
    uint64_t total;
    if (td_lib0_dec_varuint(&d, &total) < 0)
        return TD_EPROTO;
    /* Every entry takes at least three bytes; a larger count is a lie about the length. */
    if (total > td_lib0_dec_remaining(&d) / 3)
        return td_error_set(err, TD_EPROTO, 0, "awareness update claims %llu entries in %zu bytes",
                            (unsigned long long)total, n);
    for (uint64_t i = 0; i < total; i++) {
        td_yawareness_entry_t en;
        if (td_lib0_dec_varuint(&d, &en.client) < 0 || td_lib0_dec_varuint(&d, &en.clock) < 0)
            return TD_EPROTO;
        size_t at = d.pos;
        if (td_lib0_dec_string(&d, &en.state) < 0)
            return TD_EPROTO;
        const s_client_t *c = self ? s_find(self, en.client) : NULL;
        json_t *j;
        if (c && c->json && c->len == en.state.len && memcmp(c->text, en.state.data, c->len) == 0) {
            j = json_incref(c->json);
        } else {
            json_error_t je;
            j = json_loadb((const char *)en.state.data, en.state.len, S_JSON_FLAGS, &je);
            if (j == NULL)
                return td_error_set(err, TD_EPROTO, at, "awareness state of client %llu: %s",
                                    (unsigned long long)en.client, je.text);
        }
        en.is_null = json_is_null(j);
        if (s_keep(out, &en, j, (size_t)i) < 0)
            return td_error_set(err, TD_ENOMEM, 0, "out of memory");
    }
    *count = (size_t)total;
    return (ssize_t)d.pos;
}

ssize_t td_yawareness_decode(const uint8_t *p, size_t n, td_yawareness_entry_t *entries, size_t cap,
                             size_t *count, td_error_t *err)
{
    s_entries_t out = {.v = entries, .cap = entries ? cap : 0};
    size_t got = 0;
    ssize_t r = s_decode(NULL, p, n, &out, &got, err);
    if (r >= 0 && count)
        *count = got;
    return r;
}

void td_yawareness_encode_begin(td_lib0_enc_t *e, size_t count)
{
    td_lib0_write_varuint(e, (uint64_t)count);
}

void td_yawareness_encode_entry(td_lib0_enc_t *e, uint64_t client, uint64_t clock,
                                const char *state, size_t n)
{
    td_lib0_write_varuint(e, client);
    td_lib0_write_varuint(e, clock);
    if (state == NULL)
        td_lib0_write_string(e, "null", 4);
    else
        td_lib0_write_string(e, state, n);
}

/* ---- records and index ----------------------------------------------------------------------- */

static size_t s_hash(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return (size_t)k;
}

static s_client_t *s_find(const td_yawareness_t *self, uint64_t client)
{
    if (self->index_cap == 0)
        return NULL;
    size_t mask = self->index_cap - 1;
    for (size_t i = s_hash(client) & mask;; i = (i + 1) & mask) {
        size_t slot = self->index[i];
        if (slot == 0)
            return NULL;
        if (self->clients[slot - 1].client == client)
            return &self->clients[slot - 1];
    }
}

static void s_index_put(size_t *index, size_t cap, uint64_t client, size_t slot)
{
    size_t mask = cap - 1;
    size_t i = s_hash(client) & mask;
    while (index[i] != 0)
        i = (i + 1) & mask;
    index[i] = slot + 1;
}

/* Refills an index of capacity cap (a power of two, at least twice nclients) from the records. */
static void s_index_fill(td_yawareness_t *self, size_t *index, size_t cap)
{
    memset(index, 0, cap * sizeof *index);
    for (size_t i = 0; i < self->nclients; i++)
        s_index_put(index, cap, self->clients[i].client, i);
}

/* Adds a record with clock 0 and no state; NULL on OOM. The index stays at most half full. */
static s_client_t *s_add(td_yawareness_t *self, uint64_t client, int64_t now_ms)
{
    if (self->nclients == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 8;
        s_client_t *c = realloc(self->clients, cap * sizeof *c);
        if (!c)
            return NULL;
        self->clients = c;
        self->cap = cap;
    }
    if ((self->nclients + 1) * 2 > self->index_cap) {
        size_t cap = self->index_cap ? self->index_cap * 2 : 16;
        size_t *ix = malloc(cap * sizeof *ix);
        if (!ix)
            return NULL;
        s_index_fill(self, ix, cap);
        free(self->index);
        self->index = ix;
        self->index_cap = cap;
    }
    s_client_t *c = &self->clients[self->nclients];
    *c = (s_client_t){.client = client, .gone_ms = now_ms};
    s_index_put(self->index, self->index_cap, client, self->nclients);
    self->nclients++;
    return c;
}

/* Drops the records that have had no state, and no clock move (a newer null), for longer than
 * evict_ms; never the local one. The others keep their order, and the index is rebuilt. Both
 * arrays shrink once they are four times larger than needed, so a room that once was crowded does
 * not keep its peak memory; the margin spares a room that hovers around one size a reallocation
 * at every check. Cannot fail: when a smaller array cannot be had, the larger one is kept. */
static void s_evict(td_yawareness_t *self, int64_t now_ms)
{
    if (self->evict_ms < 0)
        return;
    size_t kept = 0;
    for (size_t i = 0; i < self->nclients; i++) {
        const s_client_t *c = &self->clients[i];
        if (c->client != self->local && !c->json && now_ms - c->gone_ms > self->evict_ms &&
            now_ms - c->updated_ms > self->evict_ms)
            continue; /* a record without a state owns nothing */
        if (kept != i)
            self->clients[kept] = *c;
        kept++;
    }
    if (kept == self->nclients)
        return;
    self->nclients = kept;
    if (self->cap > 8 && self->cap / 4 >= kept) {
        size_t cap = kept * 2 > 8 ? kept * 2 : 8;
        s_client_t *c = realloc(self->clients, cap * sizeof *c);
        if (c) {
            self->clients = c;
            self->cap = cap;
        }
    }
    size_t want = 16;
    while (want < kept * 2)
        want *= 2;
    if (self->index_cap / 4 >= want) {
        size_t *ix = malloc(want * sizeof *ix);
        if (ix) {
            free(self->index);
            self->index = ix;
            self->index_cap = want;
        }
    }
    s_index_fill(self, self->index, self->index_cap);
}

/* Replaces c's state with a copy of text (or none when json is NULL); takes json. */
static int s_set_state(td_yawareness_t *self, s_client_t *c, const char *text, size_t len,
                       json_t *json, int64_t now_ms)
{
    char *copy = NULL;
    if (json) {
        copy = malloc(len + 1);
        if (!copy) {
            json_decref(json);
            return TD_ENOMEM;
        }
        memcpy(copy, text, len);
        copy[len] = 0;
    }
    if (c->json && !json) {
        self->nstates--;
        c->gone_ms = now_ms;
    } else if (!c->json && json) {
        self->nstates++;
        c->order = self->next_order++;
    }
    free(c->text);
    json_decref(c->json);
    c->text = copy;
    c->len = copy ? len : 0;
    c->json = json;
    return 0;
}

/* ---- change lists ---------------------------------------------------------------------------- */

/* Starts a mutating call: empty lists, and a new generation so that no record counts as listed. */
static void s_reset(td_yawareness_t *self)
{
    self->gen++;
    for (int i = 0; i < S_NLISTS; i++)
        self->lists[i].len = 0;
}

/* Lists c in list `which` unless this call already did. */
static int s_push(td_yawareness_t *self, s_client_t *c, int which)
{
    if (c->mark_gen != self->gen) {
        c->mark_gen = self->gen;
        c->marks = 0;
    }
    if (c->marks & (1u << which))
        return 0;
    s_list_t *l = &self->lists[which];
    if (l->len == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        uint64_t *ids = realloc(l->ids, cap * sizeof *ids);
        if (!ids)
            return TD_ENOMEM;
        l->ids = ids;
        l->cap = cap;
    }
    l->ids[l->len++] = c->client;
    c->marks |= 1u << which;
    return 0;
}

static void s_report(const td_yawareness_t *self, td_yawareness_changes_t *ch)
{
    if (!ch)
        return;
    const s_list_t *l = self->lists;
    *ch = (td_yawareness_changes_t){l[S_ADDED].ids,   l[S_ADDED].len,   l[S_UPDATED].ids,
                                    l[S_UPDATED].len, l[S_REMOVED].ids, l[S_REMOVED].len,
                                    l[S_CHANGED].ids, l[S_CHANGED].len};
}

static uint64_t s_next_clock(uint64_t clock)
{
    return clock < TD_LIB0_MAX_SAFE_INT ? clock + 1 : clock;
}

/* ---- tracker --------------------------------------------------------------------------------- */

td_yawareness_t *td_yawareness_new(uint64_t local_client)
{
    assert(local_client <= TD_LIB0_MAX_SAFE_INT || local_client == TD_YAWARENESS_NO_CLIENT);
    td_yawareness_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->tag = TD_YAWARENESS_TAG;
    self->local = local_client;
    self->evict_ms = TD_YAWARENESS_TIMEOUT_MS;
    return self;
}

void td_yawareness_set_evict_ms(td_yawareness_t *self, int64_t ms)
{
    assert(self && self->tag == TD_YAWARENESS_TAG);
    self->evict_ms = ms;
}

void td_yawareness_destroy(td_yawareness_t **self_p)
{
    assert(self_p);
    td_yawareness_t *self = *self_p;
    if (!self)
        return;
    assert(self->tag == TD_YAWARENESS_TAG);
    for (size_t i = 0; i < self->nclients; i++) {
        free(self->clients[i].text);
        json_decref(self->clients[i].json);
    }
    free(self->clients);
    free(self->index);
    for (int i = 0; i < S_NLISTS; i++)
        free(self->lists[i].ids);
    self->tag = 0xdeadbeef;
    free(self);
    *self_p = NULL;
}

int td_yawareness_set_local(td_yawareness_t *self, const char *json, size_t n, int64_t now_ms,
                            td_yawareness_changes_t *ch)
{
    assert(self && self->tag == TD_YAWARENESS_TAG);
    s_reset(self);
    s_report(self, ch);
    if (self->local == TD_YAWARENESS_NO_CLIENT)
        return TD_EINVAL;
    json_t *j = NULL;
    if (json) {
        if (!td_lib0_utf8_valid((const uint8_t *)json, n))
            return TD_EINVAL;
        json_error_t je;
        j = json_loadb(json, n, S_JSON_FLAGS, &je);
        if (!j)
            return TD_EINVAL;
        if (json_is_null(j)) {
            json_decref(j);
            j = NULL;
        }
    }
    s_client_t *c = s_find(self, self->local);
    bool known = c != NULL;
    if (!c && !(c = s_add(self, self->local, now_ms))) {
        json_decref(j);
        return TD_ENOMEM;
    }
    json_t *prev = c->json ? json_incref(c->json) : NULL;
    int rc = s_set_state(self, c, json, n, j, now_ms);
    if (rc != 0) {
        json_decref(prev);
        return rc;
    }
    c->clock = known ? s_next_clock(c->clock) : 0;
    c->updated_ms = now_ms;
    if (!j)
        rc = s_push(self, c, S_REMOVED);
    else if (!prev)
        rc = s_push(self, c, S_ADDED);
    else {
        rc = s_push(self, c, S_UPDATED);
        if (rc == 0 && !json_equal(prev, j))
            rc = s_push(self, c, S_CHANGED);
    }
    json_decref(prev);
    s_report(self, ch);
    return rc;
}

/* Applies one validated entry with y-protocols' rules; takes j. */
static int s_apply_entry(td_yawareness_t *self, const td_yawareness_entry_t *en, json_t *j,
                         int64_t now_ms)
{
    s_client_t *c = s_find(self, en->client);
    bool known = c != NULL;
    uint64_t cur = known ? c->clock : 0;
    bool has_state = known && c->json != NULL;
    if (!(cur < en->clock || (cur == en->clock && en->is_null && has_state))) {
        json_decref(j);
        return 0;
    }
    if (!c && !(c = s_add(self, en->client, now_ms))) {
        json_decref(j);
        return TD_ENOMEM;
    }
    uint64_t clock = en->clock;
    bool changed = !en->is_null && (!c->json || (j != c->json && !json_equal(j, c->json)));
    int rc = 0;
    if (en->is_null) {
        json_decref(j);
        if (en->client == self->local && c->json != NULL)
            clock = s_next_clock(clock); /* never let a peer remove our own state: outbid it */
        else
            rc = s_set_state(self, c, NULL, 0, NULL, now_ms);
    } else if (j == c->json) {
        json_decref(j); /* a renewal repeating the stored text (s_decode shared its parse) */
    } else {
        rc = s_set_state(self, c, (const char *)en->state.data, en->state.len, j, now_ms);
    }
    if (rc != 0)
        return rc;
    c->clock = clock;
    c->updated_ms = now_ms;
    if (!known && !en->is_null)
        rc = s_push(self, c, S_ADDED);
    else if (known && en->is_null)
        rc = s_push(self, c, S_REMOVED);
    else if (!en->is_null) {
        rc = s_push(self, c, S_UPDATED);
        if (rc == 0 && changed)
            rc = s_push(self, c, S_CHANGED);
    }
    return rc;
}

ssize_t td_yawareness_apply(td_yawareness_t *self, const uint8_t *p, size_t n, int64_t now_ms,
                            td_yawareness_changes_t *ch, td_error_t *err)
{
    assert(self && self->tag == TD_YAWARENESS_TAG);
    s_reset(self);
    s_report(self, ch);
    s_entries_t in = {.grow = true};
    size_t count = 0;
    ssize_t r = s_decode(self, p, n, &in, &count, err);
    int rc = r < 0 ? (int)r : 0;
    for (size_t i = 0; i < in.len; i++) {
        if (rc == 0)
            rc = s_apply_entry(self, &in.v[i], in.jsons[i], now_ms);
        else
            json_decref(in.jsons[i]);
    }
    free(in.v);
    free(in.jsons);
    s_report(self, ch);
    return rc < 0 ? rc : r;
}

int td_yawareness_check(td_yawareness_t *self, int64_t now_ms, td_yawareness_changes_t *ch)
{
    assert(self && self->tag == TD_YAWARENESS_TAG);
    s_reset(self);
    int rc = 0;
    s_client_t *local = s_find(self, self->local);
    if (local && local->json && now_ms - local->updated_ms >= TD_YAWARENESS_TIMEOUT_MS / 2) {
        /* Renewal: same state, next clock, so peers keep us alive. */
        local->clock = s_next_clock(local->clock);
        local->updated_ms = now_ms;
        rc = s_push(self, local, S_UPDATED);
    }
    for (size_t i = 0; i < self->nclients && rc == 0; i++) {
        s_client_t *c = &self->clients[i];
        if (c->client == self->local || !c->json ||
            now_ms - c->updated_ms < TD_YAWARENESS_TIMEOUT_MS)
            continue;
        rc = s_set_state(self, c, NULL, 0, NULL, now_ms);
        if (rc == 0)
            rc = s_push(self, c, S_REMOVED);
    }
    /* The clients just removed lost their state now, so they stay for this call's report. */
    s_evict(self, now_ms);
    s_report(self, ch);
    return rc;
}

int td_yawareness_remove(td_yawareness_t *self, const uint64_t *clients, size_t n, int64_t now_ms,
                         td_yawareness_changes_t *ch)
{
    assert(self && self->tag == TD_YAWARENESS_TAG);
    s_reset(self);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        s_client_t *c = s_find(self, clients[i]);
        if (!c || !c->json)
            continue;
        rc = s_set_state(self, c, NULL, 0, NULL, now_ms);
        if (rc == 0 && c->client == self->local) {
            c->clock = s_next_clock(c->clock);
            c->updated_ms = now_ms;
        }
        if (rc == 0)
            rc = s_push(self, c, S_REMOVED);
    }
    s_report(self, ch);
    return rc;
}

int td_yawareness_encode(const td_yawareness_t *self, const uint64_t *clients, size_t n,
                         td_lib0_enc_t *e)
{
    assert(self && self->tag == TD_YAWARENESS_TAG);
    for (size_t i = 0; i < n; i++) {
        if (!s_find(self, clients[i]))
            return TD_ENOENT;
    }
    td_yawareness_encode_begin(e, n);
    for (size_t i = 0; i < n; i++) {
        const s_client_t *c = s_find(self, clients[i]);
        td_yawareness_encode_entry(e, c->client, c->clock, c->text, c->len);
    }
    return 0;
}

static int s_by_order(const void *a, const void *b)
{
    const s_client_t *x = *(const s_client_t *const *)a, *y = *(const s_client_t *const *)b;
    return x->order < y->order ? -1 : x->order > y->order;
}

int td_yawareness_encode_all(const td_yawareness_t *self, td_lib0_enc_t *e)
{
    assert(self && self->tag == TD_YAWARENESS_TAG);
    const s_client_t **live = malloc((self->nstates + 1) * sizeof *live);
    if (!live)
        return TD_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < self->nclients; i++) {
        if (self->clients[i].json)
            live[k++] = &self->clients[i];
    }
    qsort(live, k, sizeof *live, s_by_order);
    td_yawareness_encode_begin(e, k);
    for (size_t i = 0; i < k; i++)
        td_yawareness_encode_entry(e, live[i]->client, live[i]->clock, live[i]->text, live[i]->len);
    free(live);
    return 0;
}

uint64_t td_yawareness_local_client(const td_yawareness_t *self)
{
    return self->local;
}

size_t td_yawareness_nclients(const td_yawareness_t *self)
{
    return self->nclients;
}

uint64_t td_yawareness_client(const td_yawareness_t *self, size_t i)
{
    assert(i < self->nclients);
    return self->clients[i].client;
}

size_t td_yawareness_nstates(const td_yawareness_t *self)
{
    return self->nstates;
}

const char *td_yawareness_state(const td_yawareness_t *self, uint64_t client, size_t *len)
{
    const s_client_t *c = s_find(self, client);
    if (!c || !c->json)
        return NULL;
    if (len)
        *len = c->len;
    return c->text;
}

bool td_yawareness_clock(const td_yawareness_t *self, uint64_t client, uint64_t *clock)
{
    const s_client_t *c = s_find(self, client);
    if (!c)
        return false;
    *clock = c->clock;
    return true;
}
