/* td_ytextdoc.h: a plain text file as @jupyter/ydoc 4.x's YFile: root Text "source" (and the
 * "state" Map shared with notebooks, see td_ynb_mark_saved). Load, export and merge from disk,
 * with the same rules as td_ynotebook.h: deterministic load by client id 0, minimal (three-way
 * when a base is given) merge by a caller's client id, no update when nothing changed. */
#ifndef TD_YTEXTDOC_H
#define TD_YTEXTDOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "td_error.h"
#include "td_lib0.h"
#include "td_types.h"
#include "td_ydoc.h"

/* Fills an empty document with utf8[0..n) in one transaction by client id 0 (the document's id is
 * restored). 0, TD_EPROTO (invalid UTF-8), TD_ESTATE (not empty) or TD_ENOMEM. */
TD_EXPORT int td_ytextdoc_load(td_ydoc_t *doc, const char *utf8, size_t n, td_error_t *err);
/* The text as NUL-terminated UTF-8; caller frees *out. 0, TD_EPROTO (no Text "source") or
 * TD_ENOMEM. */
TD_EXPORT int td_ytextdoc_export(const td_ydoc_t *doc, char **out, size_t *n);
/* Applies the file content disk (base: the content last loaded or saved, or NULL) as a minimal
 * edit by client_id; the update (if any) is appended to update (may be NULL), *changed (may be
 * NULL) says whether one was written. 0, TD_EPROTO (invalid UTF-8), TD_ESTATE or TD_ENOMEM. */
TD_EXPORT int td_ytextdoc_merge(td_ydoc_t *doc, const char *base, size_t base_len, const char *disk,
                                size_t n, uint64_t client_id, void *origin, td_lib0_enc_t *update,
                                bool *changed, td_error_t *err);

#endif
