/* td_ynotebook.h: the Jupyter notebook document model over a td_ydoc_t, in @jupyter/ydoc 4.x's
 * schema (JupyterLab's real-time collaboration rooms):
 *
 *   "state": Map  { dirty, hash, path, document_id, ... }
 *   "meta":  Map  { nbformat, nbformat_minor, metadata: Map<key, JSON> }
 *   "cells": Array< Map { id, cell_type, source: Text, metadata: Map<key, JSON>,
 *                         code: execution_count, outputs: Array<Map>, execution_state;
 *                         markdown / raw: attachments (JSON, optional) } >
 *
 * A stream output's "text" is a Text; every other output field is plain JSON. Notebooks in and out
 * are nbformat v4 dicts as jansson values. Everything here is pure (no I/O); a notebook file is
 * untrusted input: wrong shapes give TD_EPROTO with a message in err, never a crash.
 *
 * Normalisations on load (the export of a loaded file equals the file up to these): multi-line
 * strings given as lists of lines are joined (nbformat's rejoin_lines: sources, stream text,
 * non-JSON mime values); metadata.orig_nbformat is dropped; a cell's metadata.collapsed and
 * metadata.jupyter.outputs_hidden are mirrored as @jupyter/ydoc does; missing, malformed or
 * duplicated cell ids get deterministic ids; unknown cell keys are dropped. */
#ifndef TD_YNOTEBOOK_H
#define TD_YNOTEBOOK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "td_error.h"
#include "td_lib0.h"
#include "td_types.h"
#include "td_ydoc.h"
#include "td_ytype.h"

/* ---- load / export ----------------------------------------------------------------------------
 */

/* Fills an empty document with notebook nb in one transaction written by client id 0 (the
 * document's own id is restored afterwards), so the same notebook always gives the same items and
 * the same update bytes. 0, TD_EPROTO (nb is not an nbformat 4 notebook; err says where),
 * TD_ESTATE (doc not empty, or in a transaction) or TD_ENOMEM. */
TD_EXPORT int td_ynb_load(td_ydoc_t *doc, const json_t *nb, td_error_t *err);

/* A new document (client id 0) holding nb; caller owns *out. As td_ynb_load. */
TD_EXPORT int td_ynb_new_from_json(const json_t *nb, td_ydoc_t **out, td_error_t *err);

/* Export flags. */
#define TD_YNB_SPLIT_LINES 1u /* multi-line strings as lists of lines, as nbformat writes files */

/* The document as an nbformat 4.5 notebook: cell ids kept (duplicates: exact copies dropped, others
 * re-id'd deterministically), execution_state dropped, nbformat's transient keys stripped (cell
 * metadata.trusted, metadata.signature), sources and stream text as strings (or, with
 * TD_YNB_SPLIT_LINES, line lists exactly as nbformat.write splits them). *out is a new reference.
 * 0, TD_EPROTO (a peer broke the schema: err says which cell) or TD_ENOMEM. */
TD_EXPORT int td_ynb_export(const td_ydoc_t *doc, unsigned flags, json_t **out, td_error_t *err);

/* ---- merge from disk --------------------------------------------------------------------------
 */

/* Applies the notebook disk (read from the file after another program wrote it) to the live
 * document as a minimal diff, in one transaction written by client_id (the document's own id is
 * restored afterwards); origin is passed to observers. base is the notebook as last loaded or
 * saved (td_ynb_export at that time), or NULL. With base, only what changed between base and disk
 * is applied (three-way: live edits since the save survive, text edits are rebased); without it,
 * every field where live and disk differ takes the disk value. Cells are matched by id, then for
 * id-less cells by content and position; moved cells are recreated (yjs 13 has no move). When
 * nothing differs, no transaction is written. The update produced (if any) is appended to update
 * (may be NULL); *changed (may be NULL) tells whether there was one. 0, TD_EPROTO (disk or base is
 * not a notebook; the document is unchanged), TD_ESTATE or TD_ENOMEM (discard the document). */
TD_EXPORT int td_ynb_merge(td_ydoc_t *doc, const json_t *base, const json_t *disk,
                           uint64_t client_id, void *origin, td_lib0_enc_t *update, bool *changed,
                           td_error_t *err);

/* Makes text hold utf8[0..n) with a minimal edit, in the open transaction or its own. base (may be
 * NULL) is what the text held when utf8 was derived from it: the base -> utf8 edit is then rebased
 * onto the live text, keeping live edits made since base. Without base: common prefix and suffix
 * of live and utf8 kept, the middle replaced. Writes nothing when there is nothing to change.
 * 0, TD_EINVAL (bad UTF-8 or not a Text) or TD_ENOMEM. */
TD_EXPORT int td_ynb_text_merge(td_ytype_t *text, const char *base, size_t base_len,
                                const char *utf8, size_t n);

/* ---- state ------------------------------------------------------------------------------------
 */

/* Sets state[key] = value unless it already equals it (no update then). 0 or TD_E*. */
TD_EXPORT int td_ynb_state_set(td_ydoc_t *doc, const char *key, const json_t *value);
/* After a save: state.dirty = false and state.hash = hash (hash may be NULL: left alone), written
 * only where different. 0 or TD_E*. */
TD_EXPORT int td_ynb_mark_saved(td_ydoc_t *doc, const char *hash);

/* ---- server-side execution writes (jupyter-server-nbmodel compatible) ------------------------
 */

/* Tracks the running executions of one notebook: pending clear_output(wait=True) per cell and the
 * outputs written with a display_id, so update_display_data finds them in any cell. Borrows doc. */
typedef struct td_ynb_exec td_ynb_exec_t;

/* NULL on OOM; caller owns. doc must outlive it. */
TD_EXPORT td_ynb_exec_t *td_ynb_exec_new(td_ydoc_t *doc);
/* NULL-safe; nulls *self_p. */
TD_EXPORT void td_ynb_exec_destroy(td_ynb_exec_t **self_p);
/* Execution starts: outputs = [], execution_count = null, execution_state = "running". 0,
 * TD_ENOENT (no cell with that id, or not a code cell) or TD_E*. */
TD_EXPORT int td_ynb_exec_start(td_ynb_exec_t *self, const char *cell_id);
/* Appends one nbformat output dict (output_from_msg shape). A stream output whose name matches the
 * last output's is appended to that output's text. A pending clear(wait) is applied first.
 * display_id (may be NULL) is remembered for td_ynb_exec_update_display. 0, TD_ENOENT,
 * TD_EINVAL (output is not an object with an output_type) or TD_E*. */
TD_EXPORT int td_ynb_exec_output(td_ynb_exec_t *self, const char *cell_id, const json_t *output,
                                 const char *display_id);
/* clear_output: empties outputs now, or with wait at the next output of that cell. 0 or TD_E*. */
TD_EXPORT int td_ynb_exec_clear(td_ynb_exec_t *self, const char *cell_id, bool wait);
/* update_display_data: replaces data and metadata of every live output written with display_id.
 * 0 (also when none is found) or TD_E*. */
TD_EXPORT int td_ynb_exec_update_display(td_ynb_exec_t *self, const char *display_id,
                                         const json_t *output);
/* Execution ends: execution_count = count (negative: null), execution_state = "idle". */
TD_EXPORT int td_ynb_exec_finish(td_ynb_exec_t *self, const char *cell_id, int64_t count);
/* Sets execution_state (e.g. "running", "idle") without touching outputs. */
TD_EXPORT int td_ynb_exec_state(td_ynb_exec_t *self, const char *cell_id, const char *state);

/* ---- cells ------------------------------------------------------------------------------------
 */

/* The cell Map with this id (first match), or NULL. Borrowed. */
TD_EXPORT td_ytype_t *td_ynb_cell_by_id(td_ydoc_t *doc, const char *cell_id);

#endif
