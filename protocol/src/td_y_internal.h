/* td_y_internal.h: what the Yjs engine's files share and nobody else sees: a small uint64 hash map,
 * the struct writer used by updates and the document, and the lazy block writer (yjs's
 * LazyStructWriter) that groups structs into client blocks whose counts are only known at the end.
 */
#ifndef TD_Y_INTERNAL_H
#define TD_Y_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "td/td_lib0.h"
#include "td/td_yupdate.h"

/* ---- uint64 -> size_t map (open addressing, linear probing, no deletion) ----------------------
 */

typedef struct td__u64map {
    uint64_t *keys; /* one allocation, which vals and used point into */
    size_t *vals;
    uint8_t *used;
    size_t cap; /* power of two, or 0 */
    size_t n;
} td__u64map_t;

void td__u64map_fini(td__u64map_t *m);
/* Pointer to the value slot for key, or NULL when absent. */
size_t *td__u64map_get(const td__u64map_t *m, uint64_t key);
/* Inserts or replaces. 0 or TD_ENOMEM. */
int td__u64map_put(td__u64map_t *m, uint64_t key, size_t val);

/* ---- struct writing -----------------------------------------------------------------------------
 */

/* Writes s (info byte onwards) starting offset clocks into it, as yjs's write(encoder, offset):
 * with offset > 0 the origin becomes (client, clock + offset - 1) and the content is cut. In lazy
 * mode the struct is written as yjs writes structs it read without a document (the map-key bit only
 * when the key itself is known, Any content canonicalised); otherwise it is written as read. */
int td__ystruct_write(td_lib0_enc_t *e, const td_ystruct_t *s, uint64_t offset, bool lazy);
/* The same, for Any and JSON content whose byte offset of value `offset` the caller already knows
 * (voff; SIZE_MAX: unknown, scan for it). A document writing the tail of an item grown by merging
 * would otherwise rescan every value before the cut on each update. */
int td__ystruct_write_at(td_lib0_enc_t *e, const td_ystruct_t *s, uint64_t offset, size_t voff,
                         bool lazy);

/* Byte offset of the value k values after the one at byte `from` of n bytes of encoded `any`
 * values (or JSON varStrings when json). The input was validated when decoded, so this cannot
 * fail. */
size_t td__yvalues_skip(const uint8_t *p, size_t n, size_t from, uint64_t k, bool json);

/* Writes the UTF-8 string s[0..n) starting at UTF-16 unit `units`, replacing a half surrogate pair
 * at the cut by U+FFFD (yjs#248), as a varString. */
void td__ywrite_string_from(td_lib0_enc_t *e, const uint8_t *s, size_t n, uint64_t units);

/* Writes a subdocument's options (one validated `any`) the way yjs rebuilds them from the Doc it
 * creates: only {gc: false}, {autoLoad: true} and {meta} survive, in that order. 0 or TD_ENOMEM. */
int td__ydoc_opts_canon(const uint8_t *p, size_t n, td_lib0_enc_t *e);

/* Byte offset of client block i in the decoded input. */
size_t td__yupdate_block_offset(const td_yupdate_t *u, size_t i);

/* ---- lazy block writer ------------------------------------------------------------------------
 */

typedef struct td__ylazy {
    td_lib0_enc_t blocks; /* finished blocks: count, client, clock, structs */
    td_lib0_enc_t cur;    /* structs of the open block */
    size_t nblocks;
    size_t written; /* structs in the open block */
    uint64_t client;
    uint64_t clock; /* first clock of the open block */
} td__ylazy_t;

void td__ylazy_init(td__ylazy_t *w);
void td__ylazy_fini(td__ylazy_t *w);
/* Appends s at offset, opening a new block when the client changes. 0 or TD_ENOMEM. */
int td__ylazy_write(td__ylazy_t *w, const td_ystruct_t *s, uint64_t offset);
/* Writes the struct section (block count, blocks) to out. 0 or TD_ENOMEM. */
int td__ylazy_finish(td__ylazy_t *w, td_lib0_enc_t *out);

/* ---- delete sets --------------------------------------------------------------------------------
 */

typedef struct td__yds_entry {
    uint64_t client;
    uint64_t clock;
    uint64_t len;
} td__yds_entry_t;

/* A delete set as a flat list of (client, clock, len). */
typedef struct td__yds {
    td__yds_entry_t *v;
    size_t n, cap;
} td__yds_t;

void td__yds_fini(td__yds_t *ds);
int td__yds_add(td__yds_t *ds, uint64_t client, uint64_t clock, uint64_t len);
/* Groups by client, descending (stable). With merge, also sorts each client's ranges by clock and
 * merges overlapping or adjacent ones (yjs sortAndMergeDeleteSet). 0 or TD_ENOMEM. */
int td__yds_sort(td__yds_t *ds, bool merge);
/* Writes a delete set grouped by td__yds_sort (yjs writeDeleteSet). */
void td__yds_write(const td__yds_t *ds, td_lib0_enc_t *e);

/* ---- document internals (td_ydoc.c, td_ytype.c, td_yrelpos.c) ------------------------------- */

#include "td/td_ydoc.h"
#include "td/td_ytype.h"

void td__u64map_clear(td__u64map_t *m);

/* An interned string (map keys, root names); lives as long as its document. */
typedef struct td__key {
    struct td__key *next; /* the document's list of keys, for destroy */
    td_ytype_t *root;     /* the root type of this name, once there is one */
    size_t len;
    char s[]; /* NUL-terminated */
} td__key_t;

enum {
    TD__I_DELETED = 1,
    TD__I_KEEP = 2,
    TD__I_ORIGIN = 4,
    TD__I_RORIGIN = 8,
    TD__I_ASCII = 16, /* String content: one byte per UTF-16 unit */
};

/* Any and JSON items index the byte offset of every TD__OFFS_STRIDE-th value (td__item_t). */
#define TD__OFFS_STRIDE 16

/* A struct in the store: an Item, or a GC struct (kind TD_YSTRUCT_GC: only id and len matter). */
typedef struct td__item td__item_t;
struct td__item {
    td_yid_t id;
    uint64_t len;
    td_yid_t origin;       /* valid with TD__I_ORIGIN */
    td_yid_t right_origin; /* valid with TD__I_RORIGIN */
    td__item_t *left, *right;
    td_ytype_t *parent;
    td__key_t *parent_sub; /* map key, or NULL */
    union {
        struct {
            uint8_t *p; /* owned */
            /* Any and JSON with len > TD__OFFS_STRIDE: offs[1 + j] = byte offset in p of value
             * j * TD__OFFS_STRIDE, for every such value below len; offs[0] = how many entries the
             * allocation has room for (owned). Values are variable-length, so without it reading
             * value k of an item that merging grew to N values scans k values, and exporting or
             * re-encoding such an item is quadratic; with it a read scans fewer than
             * TD__OFFS_STRIDE values, and the table costs a quarter byte per value instead of
             * four. NULL for shorter items, or when building it ran out of memory: readers then
             * scan from the start, which is always correct. */
            uint32_t *offs;
            uint32_t n, cap;
        } buf; /* String, Any, JSON, Binary, Embed, Format (key|value), Doc (guid|opts) */
        td_ytype_t *type; /* Type content; owned by the document */
    } c;
    uint32_t split; /* Format: key length; Doc: guid length */
    uint8_t kind;   /* TD_YSTRUCT_ITEM or TD_YSTRUCT_GC */
    uint8_t content;
    uint8_t flags;
};

static inline bool td__deleted(const td__item_t *it)
{
    return it->kind != TD_YSTRUCT_ITEM || (it->flags & TD__I_DELETED);
}

static inline bool td__countable(const td__item_t *it)
{
    return it->kind == TD_YSTRUCT_ITEM && it->content != TD_YCONTENT_DELETED &&
           it->content != TD_YCONTENT_FORMAT;
}

/* Byte offset of value k in an Any or JSON item: with its table, a scan of fewer than
 * TD__OFFS_STRIDE values; without, a scan from the start. */
static inline size_t td__item_value_offset(const td__item_t *it, uint64_t k)
{
    size_t from = 0;
    if (it->c.buf.offs) {
        from = it->c.buf.offs[1 + k / TD__OFFS_STRIDE];
        k %= TD__OFFS_STRIDE;
    }
    return td__yvalues_skip(it->c.buf.p, it->c.buf.n, from, k, it->content == TD_YCONTENT_JSON);
}

/* A visible position cache for list types (yjs search markers): item starts at index. */
typedef struct td__marker {
    td__item_t *item;
    uint64_t index;
    uint64_t stamp;
} td__marker_t;

#define TD__NMARKERS 8

struct td_ytype {
    td_ydoc_t *doc;
    td_ytype_t *next_all; /* the document's list of every type, for destroy */
    int kind;
    td__item_t *item; /* the Type item holding this type; NULL for roots and once GC'd */
    td_yid_t id;      /* the item's id (nested types) */
    bool nested;
    bool gcd; /* deleted and garbage-collected */
    bool has_formatting;
    td__key_t *name; /* roots */
    char *node_name; /* XmlElement / XmlHook, owned */
    td__item_t *start;
    uint64_t length; /* countable, non-deleted units of the list */
    /* map part: keys in first-set order, the current (rightmost) and first item of each key's
     * chain, and a hash index. Integration starts its conflict scan at the first item, which
     * would otherwise be a walk over the whole chain. */
    td__key_t **keys;
    td__item_t **vals;
    td__item_t **starts;
    size_t nkeys, capkeys;
    td__u64map_t kindex;   /* (uintptr_t)key -> position in keys */
    td__marker_t *markers; /* room for TD__NMARKERS, from the first one on (owned) */
    size_t nmarkers;
    uint64_t txn_mark; /* the transaction that last listed it as changed */
};

/* Per-client struct array, sorted by clock and contiguous. Many clients only ever write one
 * struct (every peer that set one map key), so the first lives in `one` until a second comes. */
typedef struct td__client {
    uint64_t client;
    td__item_t **v; /* &one, or owned */
    size_t n, cap;
    td__item_t *one;
} td__client_t;

typedef struct td__txn {
    void *origin;
    bool local;
    uint64_t serial;
    td__u64map_t before; /* client -> clock at the first change in this transaction */
    uint64_t *touched;   /* those clients, in order */
    size_t ntouched, captouched;
    td__yds_t ds;
    td_yid_t *merge; /* yjs _mergeStructs, by id */
    size_t nmerge, capmerge;
    td_ytype_t **changed;
    size_t nchanged, capchanged;
} td__txn_t;

struct td_ydoc {
    uint64_t client_id;
    bool gc;
    td__client_t **clients; /* owned, in order of arrival */
    size_t nclients, capclients;
    td__client_t **client_tab; /* hash index of the same records, by client id */
    size_t capclient_tab;
    td_ytype_t **roots;
    size_t nroots, caproots;
    td_ytype_t *all_types;
    td__key_t *all_keys;
    td__key_t **keytab; /* interning table: open addressing by string hash */
    size_t capkeytab, nkeytab;
    td_ytype_t *marker_owner; /* the list type whose markers the current local edit maintains */
    td__txn_t txn;
    bool in_txn; /* a transaction is open (explicit or implicit) */
    bool explicit_txn;
    bool in_observer;
    uint64_t txn_serial;
    uint64_t marker_stamp;
    struct td__observer {
        td_ydoc_observe_fn *fn;
        void *arg;
    } * observers;
    size_t nobservers, capobservers;
    /* Pending structs (a v1 update plus the lowest missing clock per client) and deletions. */
    uint8_t *pending;
    size_t pending_len;
    td__u64map_t pending_missing;
    uint8_t *pending_ds;
    size_t pending_ds_len;
};

/* Keys. */
td__key_t *td__ydoc_key(td_ydoc_t *doc, const char *s, size_t n);
/* Types. */
td_ytype_t *td__ytype_new(td_ydoc_t *doc, int kind, const char *node_name, size_t node_len);
void td__ytype_free(td_ytype_t *t);
td__item_t *td__ytype_map_get(const td_ytype_t *t, const td__key_t *key);
/* Sets the key's current item; a new key's chain starts with it. 0 or TD_ENOMEM. */
int td__ytype_map_set(td_ytype_t *t, td__key_t *key, td__item_t *item);
/* The first item of the key's chain (NULL when none), and its setter for a known key. */
td__item_t *td__ytype_map_start(const td_ytype_t *t, const td__key_t *key);
void td__ytype_map_set_start(td_ytype_t *t, const td__key_t *key, td__item_t *item);
void td__ytype_markers_clear(td_ytype_t *t);
void td__ytype_marker_replace(td_ytype_t *t, td__item_t *from, td__item_t *to, uint64_t shift);
td_ytype_t *td__ydoc_root_by_name(td_ydoc_t *doc, const char *name, size_t n, bool create);

/* Store. */
td__client_t *td__ydoc_client(const td_ydoc_t *doc, uint64_t client);
uint64_t td__client_state(const td__client_t *c);
size_t td__find_index(const td__client_t *c, uint64_t clock);
td__item_t *td__get_item(const td_ydoc_t *doc, td_yid_t id);

/* Transactions (td_ydoc.c). */
int td__ydoc_txn_open(td_ydoc_t *doc, void *origin, bool local, bool *opened);
int td__ydoc_txn_close(td_ydoc_t *doc);
uint64_t td__txn_before(const td_ydoc_t *doc, uint64_t client);

/* Items. */
td__item_t *td__item_alloc(void);
void td__item_free(td__item_t *it);
td__item_t *td__clean_start(td_ydoc_t *doc, td_yid_t id);
td__item_t *td__clean_end(td_ydoc_t *doc, td_yid_t id);
int td__item_delete(td_ydoc_t *doc, td__item_t *it);
/* Creates and integrates a local item between left and right. Steals content buffers. */
int td__item_local(td_ydoc_t *doc, td_ytype_t *parent, td__key_t *sub, td__item_t *left,
                   td__item_t *right, uint8_t content, uint8_t *buf, uint32_t n, uint32_t split,
                   uint64_t len, td_ytype_t *type, td__item_t **out);
/* Content JSON for one Item (getContent()[k]); new reference or NULL (nothing to show). */
json_t *td__item_value_json(const td__item_t *it, uint64_t k);
int td__ydoc_add_changed(td_ydoc_t *doc, td_ytype_t *type);

/* An observer for the merges of td_ynotebook.c and td_ytextdoc.c: notes that a transaction
 * happened and appends its update bytes to out (when not NULL). arg is a td__ycapture_t. */
typedef struct td__ycapture {
    td_lib0_enc_t *out;
    bool changed;
} td__ycapture_t;
void td__ycapture(td_ydoc_t *doc, const td_ytxn_info_t *info, void *arg);

#endif
