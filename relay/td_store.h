/* td_store.h: the relay's durable state in one SQLite file (default ROOT/.tandem/tandem.sqlite):
 * users and their tokens, kept across restarts. One connection in WAL mode, prepared statements
 * made once. Tokens are stored only as SHA-256 digests. The schema is versioned (PRAGMA
 * user_version) and migrated forward at open; later issues add rooms, comments and grants. */
#ifndef TD_STORE_H
#define TD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "td/td_error.h"
#include "td_auth.h"

typedef struct td_store td_store_t;

#define TD_STORE_SCHEMA 1 /* the version this build writes */

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

#endif
