/* td_history.h: execution history in SQLite, shared by every kernel process that uses the same
 * file (as IPython's history.sqlite is). Each process is one numbered session. */
#ifndef TD_HISTORY_H
#define TD_HISTORY_H

#include <jansson.h>

#include "td/td_error.h"

typedef struct td_history td_history_t;

/* Creates a history stored at path. The database is opened (and created) on first use, when this
 * process's session number is taken, so a kernel that never runs code never touches it. NULL on
 * OOM; caller owns. */
td_history_t *td_history_new(const char *path);

/* Closes the database; NULL-safe; nulls *self_p. */
void td_history_destroy(td_history_t **self_p);

/* This process's session number, or TD_EINVAL when the database cannot be opened. */
int td_history_session(td_history_t *self);

/* Queues cell `line` of this session with its input and text/plain output (may be NULL); copies
 * both. Returns 0, TD_EINVAL when the database cannot be opened, or TD_ENOMEM. */
int td_history_add(td_history_t *self, int line, const char *input, const char *output);

/* Writes the queued cells in one transaction. Queries and destroy flush by themselves. Returns 0,
 * or TD_EINVAL when SQLite refused (the queued cells are dropped). */
int td_history_flush(td_history_t *self);

/* history_reply "history" arrays: entries [session, line, input] or [session, line, [in, out]]
 * when output is 1. New references (an empty array on error). */
json_t *td_history_tail(td_history_t *self, int n, int output);
json_t *td_history_range(td_history_t *self, int session, int start, int stop, int output);
json_t *td_history_search(td_history_t *self, const char *pattern, int n, int unique, int output);

#endif
