/* td_y_internal.h: what the Yjs engine's files share and nobody else sees: a small uint64 hash map,
 * the struct writer used by updates and the document, and the lazy block writer (yjs's
 * LazyStructWriter) that groups structs into client blocks whose counts are only known at the end. */
#ifndef TD_Y_INTERNAL_H
#define TD_Y_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "td/td_lib0.h"
#include "td/td_yupdate.h"

/* ---- uint64 -> size_t map (open addressing, linear probing, no deletion) ---------------------- */

typedef struct td__u64map {
    uint64_t *keys;
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

/* ---- struct writing ----------------------------------------------------------------------------- */

/* Writes s (info byte onwards) starting offset clocks into it, as yjs's write(encoder, offset):
 * with offset > 0 the origin becomes (client, clock + offset - 1) and the content is cut. In lazy
 * mode the struct is written as yjs writes structs it read without a document (the map-key bit only
 * when the key itself is known, Any content canonicalised); otherwise it is written as read. */
int td__ystruct_write(td_lib0_enc_t *e, const td_ystruct_t *s, uint64_t offset, bool lazy);

/* Byte offset of the k-th value in n encoded `any` values (or JSON varStrings when json). The
 * input was validated when decoded, so this cannot fail. */
size_t td__yvalues_offset(const uint8_t *p, size_t n, uint64_t k, bool json);

/* Writes the UTF-8 string s[0..n) starting at UTF-16 unit `units`, replacing a half surrogate pair
 * at the cut by U+FFFD (yjs#248), as a varString. */
void td__ywrite_string_from(td_lib0_enc_t *e, const uint8_t *s, size_t n, uint64_t units);

/* ---- lazy block writer ------------------------------------------------------------------------ */

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

/* ---- delete sets -------------------------------------------------------------------------------- */

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

#endif
