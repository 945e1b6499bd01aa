/* td_store.h: the relay's durable state in one SQLite file (default ROOT/.tandem/tandem.sqlite):
 * users and their tokens, stable file ids, and the collaboration rooms' histories. One connection in WAL mode, prepared statements
 * made once. Tokens are stored only as SHA-256 digests. The schema is versioned (PRAGMA
 * user_version) and migrated forward at open; later issues add rooms, comments and grants. */
#ifndef TD_STORE_H
#define TD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "td/td_error.h"
#include "td_auth.h"

typedef struct td_store td_store_t;

#define TD_STORE_SCHEMA 4 /* the version this build writes */

/* Opens (creating or migrating) the store at path. NULL on failure, with err saying why (a
 * newer schema than TD_STORE_SCHEMA is refused); caller owns. */
td_store_t *td_store_open(const char *path, td_error_t *err);

/* Closes it; NULL-safe; nulls *self_p. */
void td_store_destroy(td_store_t **self_p);

/* The schema version of the open file. */
int td_store_schema_version(td_store_t *self);

/* Inserts or updates a user (keyed by username). Returns 0 or TD_ESTATE (an SQLite error). */
int td_store_user_put(td_store_t *self, const td_user_t *user);

/* Adds (or moves) a token digest to an existing user. Returns 0, TD_ENOENT (no such user) or
 * TD_ESTATE (an SQLite error). */
int td_store_token_put(td_store_t *self, const uint8_t digest[32], const char *username);

/* Removes a token digest. Returns 0 or TD_ENOENT. */
int td_store_token_remove(td_store_t *self, const uint8_t digest[32]);

/* Called once per stored token with its digest and user (both borrowed for the call); a non-zero
 * return stops the walk and is returned by td_store_tokens_foreach. */
typedef int td_store_token_fn(const uint8_t digest[32], const td_user_t *user, void *arg);

/* Walks every token (in insertion order). Returns 0, fn's non-zero value, or TD_ESTATE. */
int td_store_tokens_foreach(td_store_t *self, td_store_token_fn *fn, void *arg);


/* Reads a user by name into *out (may be NULL: existence check). 0, TD_ENOENT or TD_ESTATE. */
int td_store_user_get(td_store_t *self, const char *username, td_user_t *out);
/* The SQLite connection, for the modules that own tables of the schema (grants and audit in
 * td_acl.c, threads in td_comments.c): they prepare their own statements on it. Borrowed. */
struct sqlite3 *td_store_db(td_store_t *self);

/* ---- files: ids that survive renames ---- */

/* Copies the id of API path into out (cap bytes). 0, TD_ENOENT, TD_E2BIG or TD_ESTATE. */
int td_store_file_id(td_store_t *self, const char *path, char *out, size_t cap);
/* Copies the current path of file id into out. 0, TD_ENOENT, TD_E2BIG or TD_ESTATE. */
int td_store_file_path(td_store_t *self, const char *id, char *out, size_t cap);
/* Records a new path with its id. 0 or TD_ESTATE (e.g. the path is taken). */
int td_store_file_add(td_store_t *self, const char *path, const char *id);
/* A rename: from (a file or a folder) and everything under it now lives at to. 0 or TD_ESTATE. */
int td_store_file_move(td_store_t *self, const char *from, const char *to);

/* ---- room histories: a lineage epoch, the base (file content last agreed with), the log ---- */

/* A room's record. base is the file content a three-way merge starts from (notebook JSON or
 * text) with base_hash the file's hash when it held that content; disk_hash is the hash of what
 * the relay last wrote or read (base is current when the two are equal); seed_hash is a digest of
 * the seed update built from the file while that seed is not in the log yet, else "". */
typedef struct td_store_ydoc {
    char epoch[64];
    char *base; /* td_store_ydoc_get: malloc'd, NUL-terminated, caller frees */
    size_t base_len;
    char base_hash[80];
    char disk_hash[80];
    char seed_hash[80];
} td_store_ydoc_t;

/* Copies a room's lineage epoch into epoch (cap bytes). 0, TD_ENOENT, TD_E2BIG or TD_ESTATE. */
int td_store_ydoc_epoch(td_store_t *self, const char *file_id, char *epoch, size_t cap);
/* Reads a room's record into *out. 0, TD_ENOENT, TD_ENOMEM or TD_ESTATE. */
int td_store_ydoc_get(td_store_t *self, const char *file_id, td_store_ydoc_t *out);
/* Writes a room's whole record (rec borrowed; base NULL = empty). 0 or TD_ESTATE. */
int td_store_ydoc_put(td_store_t *self, const char *file_id, const td_store_ydoc_t *rec);
/* Records the hash of what the relay just wrote or read (a save: cheap, no base). 0 or
 * TD_ESTATE. */
int td_store_ydoc_disk(td_store_t *self, const char *file_id, const char *disk_hash);
/* Appends one update to a room's log. 0 or TD_ESTATE. */
int td_store_yupdate_add(td_store_t *self, const char *file_id, const uint8_t *data, size_t len);
/* Called with each logged update (borrowed for the call), oldest first; non-zero stops the walk. */
typedef int td_store_blob_fn(const void *data, size_t len, void *arg);
/* Walks a room's log. 0, fn's non-zero value, or TD_ESTATE. */
int td_store_yupdates_foreach(td_store_t *self, const char *file_id, td_store_blob_fn *fn,
                              void *arg);
/* Compaction: the whole log becomes the one snapshot update. 0 or TD_ESTATE. */
int td_store_yupdates_replace(td_store_t *self, const char *file_id, const uint8_t *snapshot,
                              size_t len);

/* Group commit: opens a transaction unless one is open. 0 or TD_ESTATE. */
int td_store_begin(td_store_t *self);
/* Commits the open transaction, if any (durable on return). 0 or TD_ESTATE. */
int td_store_commit(td_store_t *self);
/* Copies what the write-ahead log holds into the database, as far as no reader needs it, once it
 * holds 1000 pages or more (SQLite's auto-checkpoint size; commits never do it themselves, so a
 * 20 MB room seed is not written twice on the way to its first sync; call this from a timer).
 * 0, or TD_ESTATE (e.g. inside a transaction: try later). */
int td_store_checkpoint(td_store_t *self);

#endif
