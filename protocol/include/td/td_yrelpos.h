/* td_yrelpos.h: Yjs relative positions (yjs RelativePosition): a position in a Text or Array that
 * follows its character through concurrent edits, for cursors and comment anchors. A plain value:
 * `item` is the id of the character the position sticks to (absent at the ends), and the type is
 * named either by root name or by the id of the item holding it. assoc >= 0 sticks to the
 * character after the position (the default), assoc < 0 to the one before. */
#ifndef TD_YRELPOS_H
#define TD_YRELPOS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "td_error.h"
#include "td_lib0.h"
#include "td_types.h"
#include "td_ydoc.h"
#include "td_yupdate.h"

typedef struct td_yrelpos {
    bool has_item;
    td_yid_t item;
    bool has_type; /* a nested type, by the id of its item */
    td_yid_t type;
    td_bytes_t tname; /* a root type's name when data != NULL; borrowed (from the document, the
                         decoded bytes or the JSON it came from) */
    int64_t assoc;
} td_yrelpos_t;

/* yjs createRelativePositionFromTypeIndex: the position at UTF-16 / element index of type (an
 * index past the end means the end). tname borrows from the document. 0 or TD_EINVAL. */
TD_EXPORT int td_yrelpos_from_index(const td_ytype_t *type, size_t index, int64_t assoc,
                                    td_yrelpos_t *out);
/* yjs createAbsolutePositionFromRelativePosition: the type and index the position points at now.
 * 0; TD_ENOENT when the position's item or type is unknown or garbage-collected (yjs null);
 * TD_ENOMEM. May create an empty root when tname names none. *type is borrowed. */
TD_EXPORT int td_yrelpos_resolve(td_ydoc_t *doc, const td_yrelpos_t *rp, td_ytype_t **type,
                                 size_t *index);
/* yjs encodeRelativePosition. Appends to out; 0, TD_EINVAL (nothing to encode) or TD_ENOMEM. */
TD_EXPORT int td_yrelpos_encode(const td_yrelpos_t *rp, td_lib0_enc_t *out);
/* yjs decodeRelativePosition: bytes consumed (the assoc is optional: 0 when the input ends), or
 * TD_EPROTO. tname points into p. */
TD_EXPORT ssize_t td_yrelpos_decode(const uint8_t *p, size_t n, td_yrelpos_t *out, td_error_t *err);
/* yjs relativePositionToJSON: {type?, tname?, item?, assoc}. New reference; NULL on OOM. */
TD_EXPORT json_t *td_yrelpos_to_json(const td_yrelpos_t *rp);
/* yjs createRelativePositionFromJSON. tname borrows from json. 0 or TD_EINVAL. */
TD_EXPORT int td_yrelpos_from_json(const json_t *json, td_yrelpos_t *out);
/* yjs compareRelativePositions. */
TD_EXPORT bool td_yrelpos_equal(const td_yrelpos_t *a, const td_yrelpos_t *b);

#endif
