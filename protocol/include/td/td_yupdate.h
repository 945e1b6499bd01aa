/* td_yupdate.h: Yjs v1 updates without a document. Decode an update into its structs and delete
 * set, re-encode it byte for byte, merge several updates into one (yjs mergeUpdates), cut one down
 * to what a state vector lacks (yjs diffUpdate), and compute the state vector an update implies
 * (yjs encodeStateVectorFromUpdate). Also the state vector value type (td_ysv_t) shared with the
 * document.
 *
 * Validation is strict and complete: a decode that succeeds means every struct, content and
 * delete range is well formed (see docs/crdt-api.md for the exact rules). Nothing here asserts on
 * input. Outputs are appended to a caller's td_lib0_enc_t. */
#ifndef TD_YUPDATE_H
#define TD_YUPDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "td_error.h"
#include "td_lib0.h"
#include "td_types.h"

/* An (client, clock) pair; both are at most 2^53 - 1. */
typedef struct td_yid {
    uint64_t client;
    uint64_t clock;
} td_yid_t;

/* Struct kinds, as the low five bits of the info byte. */
enum {
    TD_YSTRUCT_GC = 0,
    TD_YSTRUCT_ITEM = 1, /* any of the content refs 1..9 */
    TD_YSTRUCT_SKIP = 10,
};

/* Item content refs (info & 0x1f). */
enum {
    TD_YCONTENT_DELETED = 1,
    TD_YCONTENT_JSON = 2,
    TD_YCONTENT_BINARY = 3,
    TD_YCONTENT_STRING = 4,
    TD_YCONTENT_EMBED = 5,
    TD_YCONTENT_FORMAT = 6,
    TD_YCONTENT_TYPE = 7,
    TD_YCONTENT_ANY = 8,
    TD_YCONTENT_DOC = 9,
};

/* Type refs inside TYPE content. */
enum {
    TD_YTYPE_ARRAY = 0,
    TD_YTYPE_MAP = 1,
    TD_YTYPE_TEXT = 2,
    TD_YTYPE_XML_ELEMENT = 3, /* followed by a node name */
    TD_YTYPE_XML_FRAGMENT = 4,
    TD_YTYPE_XML_HOOK = 5, /* followed by a hook name */
    TD_YTYPE_XML_TEXT = 6,
};

/* Where an item's parent comes from. */
enum {
    TD_YPARENT_INHERIT = 0, /* an origin is present: the parent is the origin item's parent */
    TD_YPARENT_ROOT = 1,    /* a named root type (parent_name) */
    TD_YPARENT_ID = 2,      /* the type held by the item parent_id */
};

/* One decoded struct. A plain view: the byte views point into the td_yupdate_t that produced it.
 *
 * Content payloads by content ref:
 *   DELETED  -                        len = the deleted length
 *   JSON     data = n varStrings      len = n (each a JSON text or "undefined")
 *   BINARY   data = the bytes         len = 1
 *   STRING   data = UTF-8             len = UTF-16 units
 *   EMBED    data = JSON text         len = 1
 *   FORMAT   data = key, data2 = JSON len = 1
 *   TYPE     type_ref; data = node or hook name (XML_ELEMENT / XML_HOOK)   len = 1
 *   ANY      data = n encoded values  len = n
 *   DOC      data = guid, data2 = one encoded `any` (the options)          len = 1 */
typedef struct td_ystruct {
    uint8_t kind;        /* TD_YSTRUCT_* */
    uint8_t content;     /* TD_YCONTENT_*, items only */
    uint8_t type_ref;    /* TD_YTYPE_*, TYPE content only */
    uint8_t parent_kind; /* TD_YPARENT_*, items only */
    bool has_origin;
    bool has_right_origin;
    bool parent_sub_flag; /* info bit 0x20 as read: a map entry (the key is only written without
                             origins) */
    td_yid_t id;
    uint64_t len; /* clock length */
    td_yid_t origin;
    td_yid_t right_origin;
    td_yid_t parent_id;     /* TD_YPARENT_ID */
    td_bytes_t parent_name; /* TD_YPARENT_ROOT */
    td_bytes_t parent_sub;  /* the map key when written (no origins); data is NULL otherwise */
    td_bytes_t data;
    td_bytes_t data2;
} td_ystruct_t;

/* A delete-set range and one client's ranges, as read (not sorted or merged). */
typedef struct td_yrange {
    uint64_t clock;
    uint64_t len;
} td_yrange_t;

typedef struct td_yds_client {
    uint64_t client;
    size_t nranges;
    const td_yrange_t *ranges; /* borrowed from the td_yupdate_t */
} td_yds_client_t;

/* ---- decoded update ---------------------------------------------------------------------------
 */

typedef struct td_yupdate td_yupdate_t;

/* Decodes a whole v1 update (trailing bytes are an error). Copies the input, so *out is
 * self-contained. Returns n, or TD_EPROTO (err has the offset) / TD_ENOMEM; caller owns *out. */
TD_EXPORT ssize_t td_yupdate_decode(const uint8_t *p, size_t n, td_yupdate_t **out,
                                    td_error_t *err);
/* NULL-safe; nulls *self_p. */
TD_EXPORT void td_yupdate_destroy(td_yupdate_t **self_p);
/* Structs in wire order. */
TD_EXPORT size_t td_yupdate_nstructs(const td_yupdate_t *self);
/* Borrowed; i < td_yupdate_nstructs. */
TD_EXPORT const td_ystruct_t *td_yupdate_struct(const td_yupdate_t *self, size_t i);
/* Client blocks in wire order: the client and the range [*first, *first + *count) of structs. */
TD_EXPORT size_t td_yupdate_nblocks(const td_yupdate_t *self);
TD_EXPORT void td_yupdate_block(const td_yupdate_t *self, size_t i, uint64_t *client, size_t *first,
                                size_t *count);
/* Delete-set entries in wire order (clients with zero ranges included, as read). */
TD_EXPORT size_t td_yupdate_ds_nclients(const td_yupdate_t *self);
TD_EXPORT td_yds_client_t td_yupdate_ds_client(const td_yupdate_t *self, size_t i);
/* Re-encodes exactly what was decoded (canonical var-ints assumed). 0 or TD_ENOMEM. */
TD_EXPORT int td_yupdate_encode(const td_yupdate_t *self, td_lib0_enc_t *e);

/* ---- operations on encoded updates ------------------------------------------------------------
 */

/* yjs mergeUpdates: one update holding everything in updates[0..n). A single update is copied
 * unchanged (after validation). err->text names the failing update. 0, TD_EPROTO or TD_ENOMEM. */
TD_EXPORT int td_yupdate_merge(const td_bytes_t *updates, size_t n, td_lib0_enc_t *out,
                               td_error_t *err);
/* yjs diffUpdate: the part of update not covered by the encoded state vector sv (the whole delete
 * set is kept). 0, TD_EPROTO or TD_ENOMEM. */
TD_EXPORT int td_yupdate_diff(const uint8_t *update, size_t n, const uint8_t *sv, size_t sv_len,
                              td_lib0_enc_t *out, td_error_t *err);
/* yjs encodeStateVectorFromUpdate: the state vector an update brings a fresh document to (counting
 * stops at the first gap of each client). 0, TD_EPROTO or TD_ENOMEM. */
TD_EXPORT int td_yupdate_state_vector(const uint8_t *update, size_t n, td_lib0_enc_t *out,
                                      td_error_t *err);

/* ---- state vectors ----------------------------------------------------------------------------
 */

/* A map client -> next expected clock. Absent clients have clock 0. */
typedef struct td_ysv td_ysv_t;

/* Empty vector; NULL on OOM; caller owns. */
TD_EXPORT td_ysv_t *td_ysv_new(void);
/* NULL-safe; nulls *self_p. */
TD_EXPORT void td_ysv_destroy(td_ysv_t **self_p);
/* Clock for client, 0 when absent. */
TD_EXPORT uint64_t td_ysv_get(const td_ysv_t *self, uint64_t client);
/* Sets (replaces) an entry. 0 or TD_ENOMEM. */
TD_EXPORT int td_ysv_set(td_ysv_t *self, uint64_t client, uint64_t clock);
/* Entries, in insertion order. */
TD_EXPORT size_t td_ysv_count(const td_ysv_t *self);
TD_EXPORT void td_ysv_entry(const td_ysv_t *self, size_t i, uint64_t *client, uint64_t *clock);
/* Decodes `varUint n (client clock)*` (later duplicates win; trailing bytes are an error).
 * Returns n, or TD_EPROTO / TD_ENOMEM; caller owns *out. */
TD_EXPORT ssize_t td_ysv_decode(const uint8_t *p, size_t n, td_ysv_t **out, td_error_t *err);
/* Encodes as yjs does (clients in descending order). 0 or TD_ENOMEM. */
TD_EXPORT int td_ysv_encode(const td_ysv_t *self, td_lib0_enc_t *e);

#endif
