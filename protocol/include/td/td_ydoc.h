/* td_ydoc.h: a Yjs document (yjs 13.6 Y.Doc), byte compatible with yjs's v1 updates. It holds the
 * struct store, integrates local edits and remote updates with YATA, keeps structs and deletions
 * whose dependencies are missing as pending until they arrive, garbage-collects deleted content as
 * yjs does, and reports every transaction to observers with the v1 update it produced.
 *
 * Shared types (td_ytype.h) are reached through td_ydoc_get. Every edit runs in a transaction: one
 * opened with td_ydoc_begin / td_ydoc_commit, or an implicit one around a single call. A document
 * is single-threaded. Observers run at commit and may read the document but not change it. */
#ifndef TD_YDOC_H
#define TD_YDOC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "td_error.h"
#include "td_lib0.h"
#include "td_types.h"
#include "td_yupdate.h"

typedef struct td_ydoc td_ydoc_t;
typedef struct td_ytype td_ytype_t;

/* Pass as client_id to draw a random 32-bit id from env->random, as yjs does. */
#define TD_YDOC_CLIENT_RANDOM UINT64_MAX

/* What one transaction did, for observers. Valid only during the callback. */
typedef struct td_ytxn_info {
    void *origin;          /* as passed to td_ydoc_begin / td_ydoc_apply_update */
    bool local;            /* false when the transaction applied a remote update */
    const uint8_t *update; /* the v1 update it produced (yjs's 'update' event bytes) */
    size_t update_len;
    td_ytype_t *const *changed; /* types whose content changed (yjs transaction.changed), in
                                   order of first change; types created in the transaction are
                                   reported through their parent */
    size_t nchanged;
} td_ytxn_info_t;

/* Called after each transaction that changed the document (new structs or deletions). */
typedef void td_ydoc_observe_fn(td_ydoc_t *doc, const td_ytxn_info_t *info, void *arg);

/* New empty document. client_id <= 2^53 - 1, or TD_YDOC_CLIENT_RANDOM (then env and env->random
 * are required; env is not kept). NULL on OOM; caller owns. */
TD_EXPORT td_ydoc_t *td_ydoc_new(const td_env_t *env, uint64_t client_id);
/* NULL-safe; nulls *self_p. Every td_ytype_t of the document dies with it. */
TD_EXPORT void td_ydoc_destroy(td_ydoc_t **self_p);

TD_EXPORT uint64_t td_ydoc_client_id(const td_ydoc_t *self);
/* Sets the client id for later edits (<= 2^53 - 1). 0, TD_EINVAL, or TD_ESTATE in a transaction. */
TD_EXPORT int td_ydoc_set_client_id(td_ydoc_t *self, uint64_t client_id);
/* Garbage collection of deleted content (default on, like yjs). Off keeps deleted content. */
TD_EXPORT void td_ydoc_set_gc(td_ydoc_t *self, bool gc);

/* A root type by name, created on first use. kind is a TD_YTYPE_* value, or TD_YTYPE_UNDEFINED to
 * look a root up without declaring its kind (a root first seen in an update is UNDEFINED until
 * someone declares it). Borrowed; lives as long as the document. NULL on OOM, or when the root was
 * declared with another kind (EEXIST in spirit). */
TD_EXPORT td_ytype_t *td_ydoc_get(td_ydoc_t *self, const char *name, int kind);
TD_EXPORT size_t td_ydoc_nroots(const td_ydoc_t *self);
/* Borrowed; i < td_ydoc_nroots, in order of creation. */
TD_EXPORT td_ytype_t *td_ydoc_root(const td_ydoc_t *self, size_t i);

/* Opens an explicit transaction with an origin (opaque, reported to observers). 0 or TD_ESTATE
 * when one is open or observers are running. */
TD_EXPORT int td_ydoc_begin(td_ydoc_t *self, void *origin);
/* Ends the open transaction: deletions are garbage-collected, structs merged, observers called.
 * 0, TD_ENOMEM, or TD_ESTATE when none is open. */
TD_EXPORT int td_ydoc_commit(td_ydoc_t *self);
/* True between td_ydoc_begin and td_ydoc_commit. */
TD_EXPORT bool td_ydoc_in_transaction(const td_ydoc_t *self);

/* Adds an observer (several may be registered; they run in registration order). 0 or TD_ENOMEM. */
TD_EXPORT int td_ydoc_observe(td_ydoc_t *self, td_ydoc_observe_fn *fn, void *arg);
/* Removes one registration of (fn, arg). 0 or TD_ENOENT. */
TD_EXPORT int td_ydoc_unobserve(td_ydoc_t *self, td_ydoc_observe_fn *fn, void *arg);

/* Applies a v1 update atomically: it is decoded and validated completely first, so on TD_EPROTO
 * (err says what and where) the document is unchanged. Structs or deletions whose dependencies
 * are missing are kept pending and applied when they arrive. Joins the open transaction if there
 * is one, else runs in its own with this origin (local = false). 0, TD_EPROTO, TD_ESTATE (inside
 * an observer) or TD_ENOMEM (the document must then be discarded). */
TD_EXPORT int td_ydoc_apply_update(td_ydoc_t *self, const uint8_t *update, size_t n, void *origin,
                                   td_error_t *err);

/* yjs encodeStateVector. Appends to out; 0 or TD_ENOMEM. */
TD_EXPORT int td_ydoc_encode_state_vector(const td_ydoc_t *self, td_lib0_enc_t *out);
/* The state vector as a value; caller owns *out. 0 or TD_ENOMEM. */
TD_EXPORT int td_ydoc_state_vector(const td_ydoc_t *self, td_ysv_t **out);
/* The next clock the document expects from client. */
TD_EXPORT uint64_t td_ydoc_state(const td_ydoc_t *self, uint64_t client);
/* yjs encodeStateAsUpdate(doc, sv): every struct the encoded state vector sv lacks (sv NULL: all),
 * the complete delete set, and pending structs and deletions merged in. Appends to out.
 * 0, TD_EPROTO (bad sv) or TD_ENOMEM. */
TD_EXPORT int td_ydoc_encode_state_as_update(const td_ydoc_t *self, const uint8_t *sv,
                                             size_t sv_len, td_lib0_enc_t *out, td_error_t *err);
/* True while structs or deletions wait for missing dependencies. */
TD_EXPORT bool td_ydoc_has_pending(const td_ydoc_t *self);

/* The document as JSON (yjs doc.toJSON()): an object root name -> td_ytype_to_json of that root.
 * New reference; NULL on OOM. */
TD_EXPORT json_t *td_ydoc_to_json(const td_ydoc_t *self);

#endif
