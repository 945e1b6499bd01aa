/* td_contents.h: the Jupyter Contents API over one root directory, shaped as jupyter_server 2's
 * FileContentsManager (with LargeFileManager's chunked uploads and FileCheckpoints) answers it.
 * Every operation takes an API path ("dir/a.ipynb", "" for the root), does its file work confined
 * to the root, and returns an HTTP status with a JSON body: a model, a list, an error
 * {"message", "reason"}, or nothing (204). Nothing outside the root is ever read, written,
 * renamed or deleted: paths with ".." segments, backslashes or control bytes are refused, and
 * symlinks are only followed while they stay inside the root. */
#ifndef TD_CONTENTS_H
#define TD_CONTENTS_H

#include <stddef.h>

#include <jansson.h>

#include "td_route.h"

typedef struct td_contents td_contents_t;

/* Largest file GET returns with content (bytes); bigger files get 413. */
#define TD_CONTENTS_MAX_READ (64u << 20)

/* Query arguments of GET; NULL = absent. */
typedef struct td_contents_query {
    const char *type;    /* "file" | "directory" | "notebook" (anything else counts as "file") */
    const char *format;  /* "text" | "base64" (anything else is 400) */
    const char *content; /* "0" | "1" (default "1") */
    const char *hash;    /* "0" | "1" (default "0") */
} td_contents_query_t;

/* One answer: status, body (new reference; NULL for 204) and the Location header ("" = none). */
typedef struct td_contents_reply {
    int status;
    json_t *body;
    char location[TD_ROUTE_PATH_MAX * 3 + 64];
} td_contents_reply_t;

/* Opens root (an absolute directory). NULL when it is not a directory or on OOM; caller owns. */
td_contents_t *td_contents_new(const char *root);
/* Closes and frees; NULL-safe; nulls *self_p. */
void td_contents_destroy(td_contents_t **self_p);

/* Checks and normalises an API path: drops empty and "." segments and the outer slashes; refuses
 * "..", backslashes and bytes below 0x20. Returns 0 with out (cap bytes) set, or TD_EINVAL /
 * TD_E2BIG. */
int td_contents_path_norm(const char *in, char *out, size_t cap);

/* The operations. Each returns the HTTP status and sets *out to a new reference (model, list,
 * error object) or NULL (204). body is the parsed request JSON (borrowed; NULL = no body). */
int td_contents_get(td_contents_t *self, const char *path, const td_contents_query_t *q,
                    json_t **out);
int td_contents_put(td_contents_t *self, const char *path, json_t *body, json_t **out);
int td_contents_patch(td_contents_t *self, const char *path, json_t *body, json_t **out);
int td_contents_post(td_contents_t *self, const char *path, json_t *body, json_t **out);
int td_contents_delete(td_contents_t *self, const char *path, json_t **out);
int td_contents_checkpoints_list(td_contents_t *self, const char *path, json_t **out);
int td_contents_checkpoint_create(td_contents_t *self, const char *path, json_t **out);
int td_contents_checkpoint_restore(td_contents_t *self, const char *path, const char *id,
                                   json_t **out);
int td_contents_checkpoint_delete(td_contents_t *self, const char *path, const char *id,
                                  json_t **out);

/* Saves model (a whole notebook or file: PUT's body with "type" and "content") at API path as
 * td_contents_put would, and hands back exactly the bytes written: *data malloc'd and
 * NUL-terminated (caller frees), *len without the NUL, hash their td_contents_read hash. Returns
 * 200, or an HTTP status with *err (may be NULL) an error body (new reference). */
int td_contents_save(td_contents_t *self, const char *path, json_t *model, char **data,
                     size_t *len, char hash[65], json_t **err);

/* The raw bytes of the regular file at API path, read as td_contents_get would (confined to the
 * root, at most TD_CONTENTS_MAX_READ): *data is malloc'd and NUL-terminated (caller frees), *len
 * excludes the NUL, and hash (may be NULL) receives the model's "hash" of those bytes (hex
 * SHA-256). Returns 200, or an HTTP status with *err (may be NULL) an error body (new
 * reference). */
int td_contents_read(td_contents_t *self, const char *path, char **data, size_t *len,
                     char hash[65], json_t **err);
/* The whole HTTP surface in one call: method ("GET", "PUT"...), a contents route, GET's query,
 * and the raw body (may be NULL/0). Fills *rep (caller decrefs rep->body). Malformed JSON is 400,
 * an unsupported method 405. Returns rep->status. */
int td_contents_handle(td_contents_t *self, const char *method, const td_route_t *route,
                       const td_contents_query_t *q, const char *body, size_t body_len,
                       td_contents_reply_t *rep);

#endif
