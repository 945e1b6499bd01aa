/* td_comments.h: per-cell comment threads and the mention inbox, kept in the store's threads,
 * comments, reactions and notifications tables (schema v3). The HTTP surface is one call shaped
 * like td_contents_handle: the relay authenticates the caller, resolves the notebook to a fileId,
 * computes the caller's role, and hands over the method, the URL after "/api/comments", the query
 * and the raw body; the answer is an HTTP status and a JSON body. No sockets and no clock of its
 * own: time and ids come from a td_env_t, and realtime events leave through a callback. The API is
 * documented in docs/comments-api.md. */
#ifndef TD_COMMENTS_H
#define TD_COMMENTS_H

#include <stddef.h>

#include <jansson.h>

#include "td/td_types.h"
#include "td_acl.h" /* td_role_t */
#include "td_store.h"

typedef struct td_comments td_comments_t;

#define TD_COMMENTS_BODY_MAX 65536u  /* bytes of one comment body (Markdown); more is 413 */
#define TD_COMMENTS_LIMIT_DEFAULT 50 /* threads or notifications per page */
#define TD_COMMENTS_LIMIT_MAX 500

/* One request, after the relay has authenticated and authorised the caller. All strings are
 * borrowed for the call. */
typedef struct td_comments_req {
    const char *method;       /* "GET" "POST" "PATCH" "DELETE" */
    const char *sub;          /* the URL after "/api/comments": "", "/T", "/T/replies", ... */
    const char *const *query; /* decoded "k=v" fragments (td_route_query) */
    size_t nquery;
    const char *body; /* raw request body; NULL/0 = none */
    size_t body_len;
    const char *username; /* the caller */
    const char *file_id;  /* the notebook's fileId, or NULL when the request names none */
    const char *path;     /* the notebook's API path (echoed in thread JSON); may be NULL */
    td_role_t role;       /* the caller's role on file_id */
    int no_download;      /* 1: the caller's grant forbids export (GET /export is 403) */
} td_comments_req_t;

/* The caller's role on file_id, and its current API path copied into path_out (cap bytes; ""
 * when unknown). Used by the thread-id URLs, which name no file. */
typedef td_role_t td_comments_role_fn(void *arg, const char *username, const char *file_id,
                                      char *path_out, size_t cap);
/* 1 if the notebook file_id has a cell with this id now, else 0. */
typedef int td_comments_cell_fn(void *arg, const char *file_id, const char *cell_id);
/* Called after every committed change with {"type", "thread", "comment_id"?} (borrowed for the
 * call): the realtime stream of that notebook. */
typedef void td_comments_event_fn(void *arg, const char *file_id, const json_t *event);

/* Prepares the statements on td_store_db(store) and adds the indexes listing needs. store is
 * borrowed and must outlive the object; env is copied. NULL on an SQLite error or OOM; caller owns.
 */
td_comments_t *td_comments_new(td_store_t *store, const td_env_t *env);
/* Finalizes the statements and frees; NULL-safe; nulls *self_p. */
void td_comments_destroy(td_comments_t **self_p);

/* Sets the relay's hooks (each may be NULL: no role re-check / every cell exists / no events).
 * arg is passed back to all three. */
void td_comments_set_hooks(td_comments_t *self, td_comments_role_fn *role_fn,
                           td_comments_cell_fn *cell_fn, td_comments_event_fn *event_fn, void *arg);

/* The /api/comments surface. Returns the HTTP status and sets *out to a new reference (thread,
 * comment, list, error {"message", "reason"}) or NULL (204). Never fails on peer input. */
int td_comments_handle(td_comments_t *self, const td_comments_req_t *req, json_t **out);

/* The /api/me/notifications surface: sub is "" (GET: the inbox) or "/read" (POST: mark read).
 * Returns the HTTP status and sets *out like td_comments_handle. */
int td_comments_notifications(td_comments_t *self, const char *method, const char *sub,
                              const char *username, const char *const *query, size_t nquery,
                              const char *body, size_t body_len, json_t **out);

/* The notebook file_id now has exactly these n cells (ids borrowed): threads whose cell is gone
 * become orphaned, orphaned threads whose cell is back are re-attached, with one event each.
 * Returns the number of threads that changed state, or TD_ESTATE / TD_ENOMEM. Calling it again
 * with the same set is a hash comparison and no SQL. */
int td_comments_sync_cells(td_comments_t *self, const char *file_id, const char *const *cell_ids,
                           size_t n);

/* Writes each cell's (non-orphaned) threads into nb (an nbformat notebook, modified in place) at
 * cells[i].metadata.tandem.comments, and removes that key from cells without threads. Returns 0,
 * TD_EINVAL (nb has no cells array), TD_ENOMEM or TD_ESTATE. */
int td_comments_embed(td_comments_t *self, const char *file_id, json_t *nb);

#endif
