/* td_history.c: IPython-style history. Table history(session, line, source, output) keyed by
 * (session, line); table sessions hands out one increasing number per process. WAL mode with a
 * busy timeout lets several kernels share one file. Queries return entries in execution order.
 * The file is opened lazily; if it cannot be, every call fails softly (empty replies) and the
 * kernel runs on without history.
 *
 * Writes are off the request path: td_history_add only queues a copy of the cell, and the queue is
 * written in one transaction by td_history_flush (the kernel calls it when the shell goes quiet),
 * before every query, when it grows past TD_HISTORY_BATCH, and on destroy. An INSERT costs tens of
 * microseconds of file I/O, as much as everything else a small execute does. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "td/td_error.h"
#include "td_history.h"

#define TD_HISTORY_BATCH 64

typedef struct s_row {
    int line;
    char *input, *output; /* owned; output may be NULL */
} s_row_t;

struct td_history {
    char *path;
    s_row_t pending[TD_HISTORY_BATCH]; /* added, not yet written; pending[0..npending) */
    int npending;
    int failed; /* opening failed once: do not retry on every cell */
    sqlite3 *db;
    sqlite3_stmt *insert;
    int session;
};

static const char *s_schema =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS sessions(session INTEGER PRIMARY KEY AUTOINCREMENT, start TEXT);"
    "CREATE TABLE IF NOT EXISTS history(session INTEGER, line INTEGER, source TEXT, output TEXT,"
    " PRIMARY KEY (session, line));"
    "CREATE INDEX IF NOT EXISTS history_source ON history(source);";

td_history_t *td_history_new(const char *path)
{
    td_history_t *self = calloc(1, sizeof *self);
    if (self == NULL || (self->path = strdup(path)) == NULL) {
        free(self);
        return NULL;
    }
    return self;
}

/* Opens the database and takes a session number on first use. 0, or TD_EINVAL. */
static int s_open(td_history_t *self)
{
    if (self->db != NULL && self->insert != NULL)
        return 0;
    if (self->failed)
        return TD_EINVAL;
    if (sqlite3_open(self->path, &self->db) != SQLITE_OK)
        goto fail;
    sqlite3_busy_timeout(self->db, 2000);
    if (sqlite3_exec(self->db, s_schema, NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    if (sqlite3_exec(self->db, "INSERT INTO sessions(start) VALUES (datetime('now'))", NULL, NULL,
                     NULL) != SQLITE_OK)
        goto fail;
    self->session = (int)sqlite3_last_insert_rowid(self->db);
    if (sqlite3_prepare_v2(self->db, "INSERT OR REPLACE INTO history VALUES (?, ?, ?, ?)", -1,
                           &self->insert, NULL) != SQLITE_OK)
        goto fail;
    return 0;
fail:
    sqlite3_close(self->db);
    self->db = NULL;
    self->failed = 1;
    return TD_EINVAL;
}

void td_history_destroy(td_history_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    td_history_t *self = *self_p;
    td_history_flush(self);
    sqlite3_finalize(self->insert);
    sqlite3_close(self->db);
    free(self->path);
    free(self);
    *self_p = NULL;
}

int td_history_session(td_history_t *self)
{
    return s_open(self) == 0 ? self->session : TD_EINVAL;
}

int td_history_add(td_history_t *self, int line, const char *input, const char *output)
{
    if (s_open(self) != 0)
        return TD_EINVAL;
    if (self->npending == TD_HISTORY_BATCH)
        td_history_flush(self);
    s_row_t *row = &self->pending[self->npending];
    row->line = line;
    row->input = strdup(input);
    row->output = output ? strdup(output) : NULL;
    if (row->input == NULL || (output && row->output == NULL)) {
        free(row->input);
        free(row->output);
        return TD_ENOMEM;
    }
    self->npending++;
    return 0;
}

/* Writes one queued row. 0, or TD_EINVAL when SQLite refuses. */
static int s_insert(td_history_t *self, const s_row_t *row)
{
    sqlite3_stmt *st = self->insert;
    sqlite3_bind_int(st, 1, self->session);
    sqlite3_bind_int(st, 2, row->line);
    sqlite3_bind_text(st, 3, row->input, -1, SQLITE_STATIC);
    if (row->output)
        sqlite3_bind_text(st, 4, row->output, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 4);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : TD_EINVAL;
}

int td_history_flush(td_history_t *self)
{
    if (self->npending == 0)
        return 0;
    /* One transaction: one WAL append and lock cycle for the whole batch. Rows SQLite refuses
     * (the disk is full, say) are dropped rather than retried forever. */
    int rc = sqlite3_exec(self->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK ? 0 : TD_EINVAL;
    for (int i = 0; i < self->npending; i++) {
        if (rc == 0)
            rc = s_insert(self, &self->pending[i]);
        free(self->pending[i].input);
        free(self->pending[i].output);
    }
    self->npending = 0;
    if (sqlite3_exec(self->db, rc == 0 ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK)
        rc = TD_EINVAL;
    return rc;
}

/* Runs a prepared query whose rows are (session, line, source, output) and builds the reply. */
static json_t *s_collect(sqlite3_stmt *st, int output)
{
    json_t *out = json_array();
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        const char *src = (const char *)sqlite3_column_text(st, 2);
        const char *res = (const char *)sqlite3_column_text(st, 3);
        json_t *third = output ? json_pack("[s, s?]", src ? src : "", res) : json_string(src ? src : "");
        json_array_append_new(out, json_pack("[i, i, o]", sqlite3_column_int(st, 0),
                                             sqlite3_column_int(st, 1), third));
    }
    sqlite3_finalize(st);
    return out;
}

static sqlite3_stmt *s_prepare(td_history_t *self, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (s_open(self) != 0)
        return NULL;
    td_history_flush(self); /* a query sees every cell added before it */
    if (sqlite3_prepare_v2(self->db, sql, -1, &st, NULL) != SQLITE_OK)
        return NULL;
    return st;
}

json_t *td_history_tail(td_history_t *self, int n, int output)
{
    sqlite3_stmt *st = s_prepare(self, "SELECT * FROM (SELECT session, line, source, output "
                                       "FROM history ORDER BY session DESC, line DESC LIMIT ?) "
                                       "ORDER BY session, line");
    if (st)
        sqlite3_bind_int(st, 1, n < 0 ? 0 : n);
    return s_collect(st, output);
}

json_t *td_history_range(td_history_t *self, int session, int start, int stop, int output)
{
    /* 0 means this session and negative numbers count back from it, as IPython does. */
    if (session <= 0)
        session += td_history_session(self);
    sqlite3_stmt *st = s_prepare(self, "SELECT session, line, source, output FROM history "
                                       "WHERE session = ? AND line >= ? AND (? OR line < ?) "
                                       "ORDER BY line");
    if (st) {
        sqlite3_bind_int(st, 1, session);
        sqlite3_bind_int(st, 2, start);
        sqlite3_bind_int(st, 3, stop <= 0);
        sqlite3_bind_int(st, 4, stop);
    }
    return s_collect(st, output);
}

json_t *td_history_search(td_history_t *self, const char *pattern, int n, int unique, int output)
{
    /* With unique, keep the most recent entry of each distinct source. */
    const char *sql =
        unique ? "SELECT * FROM (SELECT session, line, source, output FROM history h "
                 "WHERE source GLOB ?1 AND NOT EXISTS (SELECT 1 FROM history g WHERE "
                 "g.source = h.source AND (g.session > h.session OR (g.session = h.session AND "
                 "g.line > h.line))) ORDER BY session DESC, line DESC LIMIT ?2) "
                 "ORDER BY session, line"
               : "SELECT * FROM (SELECT session, line, source, output FROM history "
                 "WHERE source GLOB ?1 ORDER BY session DESC, line DESC LIMIT ?2) "
                 "ORDER BY session, line";
    sqlite3_stmt *st = s_prepare(self, sql);
    if (st) {
        sqlite3_bind_text(st, 1, pattern ? pattern : "*", -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 2, n > 0 ? n : -1);
    }
    return s_collect(st, output);
}
