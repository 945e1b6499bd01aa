/* td_sessions.h: the session table of /api/sessions. A session names a document (path, name,
 * type) and the kernel it uses; several sessions may share one kernel, and the table answers how
 * many still do (so deleting a session shuts its kernel down only when it was the last one). Pure:
 * ids come from the caller's td_env_t. */
#ifndef TD_SESSIONS_H
#define TD_SESSIONS_H

#include <stddef.h>

#include "td/td_stamp.h"
#include "td/td_types.h"

typedef struct td_sessions td_sessions_t;

typedef struct td_session {
    char id[TD_UUID_LEN + 1];
    char *path;      /* owned */
    char *name;      /* owned */
    char *type;      /* owned */
    char kernel_id[TD_UUID_LEN + 1];
} td_session_t;

/* Creates an empty table; NULL on OOM. */
td_sessions_t *td_sessions_new(const td_env_t *env);
/* Frees it; NULL-safe; nulls *self_p. */
void td_sessions_destroy(td_sessions_t **self_p);

/* Adds a session (strings copied). Returns the new session (borrowed) or NULL on OOM. */
td_session_t *td_sessions_add(td_sessions_t *self, const char *path, const char *name,
                              const char *type, const char *kernel_id);
/* Lookups; borrowed or NULL. */
td_session_t *td_sessions_find(const td_sessions_t *self, const char *id);
td_session_t *td_sessions_find_path(const td_sessions_t *self, const char *path);
/* Count and i-th session (insertion order); NULL past the end. */
size_t td_sessions_count(const td_sessions_t *self);
td_session_t *td_sessions_at(const td_sessions_t *self, size_t i);
/* Sets one string field (path, name or type; copied). Returns 0 or TD_ENOMEM / TD_EINVAL. */
int td_sessions_set(td_session_t *s, const char *field, const char *value);
/* Removes the session with this id. Returns 0 or TD_ENOENT. */
int td_sessions_remove(td_sessions_t *self, const char *id);
/* Number of sessions using kernel_id. */
size_t td_sessions_kernel_refs(const td_sessions_t *self, const char *kernel_id);
/* Removes every session using kernel_id; returns how many. */
size_t td_sessions_drop_kernel(td_sessions_t *self, const char *kernel_id);

#endif
