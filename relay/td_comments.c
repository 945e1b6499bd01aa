/* td_comments.c: comment threads anchored to notebook cells, their replies and reactions, and the
 * mention inbox, over the schema v3 tables (threads, comments, reactions, notifications).
 *
 * Invariants. A thread always belongs to one fileId and one cell id; it is never deleted, only
 * marked orphaned while its cell is gone. Comments are never deleted either: a delete empties the
 * body, sets deleted_at and drops the comment's reactions and notifications, so a thread reads the
 * same way to everyone before and after. Every change runs inside one SAVEPOINT (which nests in
 * the relay's group transaction when one is open), so a refused or failed request leaves the
 * tables exactly as they were; events go out only after the savepoint is released.
 *
 * Listing order is the threads table's rowid (creation order, imports last), and the opaque
 * cursor is the last rowid returned: with the per-filter indexes created at td_comments_new, a
 * page is an index range scan whatever the notebook's size. List statements are prepared on first
 * use, one per combination of filters.
 *
 * Ownership: the store is borrowed; the env is copied; every json_t handed out is a new reference
 * owned by the caller, every json_t handed to a hook is borrowed for the call. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "td/td_error.h"
#include "td/td_lib0.h"
#include "td/td_stamp.h"
#include "td_comments.h"
#include "td_route.h"

#define S_TAG 0x7dc0331eu
#define S_ID_MAX 256      /* thread, comment, file and cell ids */
#define S_NAME_MAX 128    /* usernames (td_user_t.username) */
#define S_EMOJI_MAX 64    /* bytes of one reaction */
#define S_RANGE_MAX 16384 /* bytes of a range's JSON */
#define S_PATH_MAX TD_ROUTE_PATH_MAX
#define S_MENTIONS_MAX 32 /* distinct users notified by one comment */
#define S_LOOKUPS_MAX 256 /* user lookups while scanning one body */
#define S_EXCERPT 140     /* bytes of a notification's excerpt */
#define S_IMPORT_MAX 100000
#define S_SYNC_SLOTS 32
#define S_DRIVE_MAX 500 /* "mine"/"mentions" walk the user's matches up to this many */

/* ---- statements ------------------------------------------------------------------------------ */

#define S_THREAD_COLS                                                                              \
    "t.id, t.file_id, t.cell_id, t.range, t.orphaned, t.resolved, t.resolved_by, t.resolved_at,"   \
    " t.created, t.updated, t.rowid"

/* clang-format off */
enum {
    Q_THREAD_GET, Q_THREAD_AT, Q_THREAD_ADD, Q_THREAD_TOUCH, Q_THREAD_RESOLVE, Q_THREAD_ORPHAN,
    Q_FILE_ALL, Q_COMMENTS_OF, Q_REACTIONS_OF, Q_COMMENT_GET, Q_COMMENT_ADD, Q_COMMENT_EDIT,
    Q_COMMENT_DEL, Q_REACT_ADD, Q_REACT_DEL, Q_REACT_CLEAR, Q_NOTE_ADD, Q_NOTE_CLEAR,
    Q_NOTE_LIST, Q_NOTE_LIST_UNREAD, Q_NOTE_UNREAD, Q_NOTE_READ, Q_NOTE_READ_ALL, Q_SYNC,
    Q_MINE_COUNT, Q_MENTIONS_COUNT, Q_SAVE, Q_RELEASE, Q_ROLLBACK, Q_COUNT
};
/* clang-format on */

static const char *const s_sql[Q_COUNT] = {
    "SELECT " S_THREAD_COLS " FROM threads t WHERE t.id = ?1",
    "SELECT " S_THREAD_COLS " FROM threads t WHERE t.rowid = ?1",
    "INSERT INTO threads (id, file_id, cell_id, range, orphaned, resolved, resolved_by,"
    " resolved_at, created, updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    "UPDATE threads SET updated = ?2 WHERE id = ?1",
    "UPDATE threads SET resolved = ?2, resolved_by = ?3, resolved_at = ?4, updated = ?5"
    " WHERE id = ?1",
    "UPDATE threads SET orphaned = ?2, updated = ?3 WHERE rowid = ?1",
    "SELECT " S_THREAD_COLS " FROM threads t WHERE t.file_id = ?1 ORDER BY t.rowid",
    /* Authors who are no longer users keep their name as display name. */
    "SELECT c.id, c.author, COALESCE(u.display_name, c.author), c.body, c.created, c.updated,"
    " c.deleted_at FROM comments c LEFT JOIN users u ON u.username = c.author"
    " WHERE c.thread_id = ?1 ORDER BY c.created, c.rowid",
    "SELECT r.comment_id, r.emoji, r.username FROM reactions r JOIN comments c"
    " ON c.id = r.comment_id WHERE c.thread_id = ?1 ORDER BY r.created, r.rowid",
    "SELECT thread_id, author, body, deleted_at FROM comments WHERE id = ?1",
    "INSERT INTO comments (id, thread_id, author, body, created, updated, deleted_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    "UPDATE comments SET body = ?2, updated = ?3 WHERE id = ?1",
    "UPDATE comments SET body = '', deleted_at = ?2, updated = ?2 WHERE id = ?1",
    "INSERT OR IGNORE INTO reactions (comment_id, username, emoji, created)"
    " VALUES (?1, ?2, ?3, ?4)",
    "DELETE FROM reactions WHERE comment_id = ?1 AND username = ?2 AND emoji = ?3",
    "DELETE FROM reactions WHERE comment_id = ?1",
    "INSERT INTO notifications (username, kind, thread_id, comment_id, file_id, actor, created)"
    " VALUES (?1, 'mention', ?2, ?3, ?4, ?5, ?6)",
    "DELETE FROM notifications WHERE comment_id = ?1",
    "SELECT n.id, n.kind, n.thread_id, n.comment_id, n.file_id, f.path, n.actor, n.created,"
    " n.read, c.body FROM notifications n LEFT JOIN files f ON f.id = n.file_id"
    " LEFT JOIN comments c ON c.id = n.comment_id"
    " WHERE n.username = ?1 AND n.id < ?2 ORDER BY n.id DESC LIMIT ?3",
    "SELECT n.id, n.kind, n.thread_id, n.comment_id, n.file_id, f.path, n.actor, n.created,"
    " n.read, c.body FROM notifications n LEFT JOIN files f ON f.id = n.file_id"
    " LEFT JOIN comments c ON c.id = n.comment_id"
    " WHERE n.username = ?1 AND n.read = 0 AND n.id < ?2 ORDER BY n.id DESC LIMIT ?3",
    "SELECT count(*) FROM notifications WHERE username = ?1 AND read = 0",
    "UPDATE notifications SET read = 1 WHERE username = ?1 AND id = ?2",
    "UPDATE notifications SET read = 1 WHERE username = ?1 AND read = 0",
    /* The threads whose orphan flag disagrees with the cell list (a JSON array): one scan of a
     * covering index. */
    "SELECT rowid, orphaned FROM threads WHERE file_id = ?1"
    " AND orphaned != (cell_id NOT IN (SELECT value FROM json_each(?2)))",
    /* How many matches "mine" and "mentions" have, counted no further than S_DRIVE_MAX + 1
     * (the 501 below). */
    "SELECT count(*) FROM (SELECT 1 FROM comments WHERE author = ?1 LIMIT 501)",
    "SELECT count(*) FROM (SELECT 1 FROM notifications WHERE username = ?1 AND file_id = ?2"
    " LIMIT 501)",
    "SAVEPOINT td_comments",
    "RELEASE td_comments",
    "ROLLBACK TO td_comments",
};

/* Indexes for the listing filters and the inbox; the tables themselves are td_store's. In an
 * index on (file_id, x) the rowid comes last, so "file_id = ? AND x = ? AND rowid > ? ORDER BY
 * rowid" is a range scan. */
static const char s_indexes[] =
    "CREATE INDEX IF NOT EXISTS threads_file_seq ON threads (file_id);"
    "CREATE INDEX IF NOT EXISTS threads_file_resolved ON threads (file_id, resolved);"
    "CREATE INDEX IF NOT EXISTS threads_file_orphaned ON threads (file_id, orphaned);"
    "CREATE INDEX IF NOT EXISTS threads_file_cells ON threads (file_id, cell_id, orphaned);"
    "CREATE INDEX IF NOT EXISTS comments_author ON comments (author, thread_id);"
    "CREATE INDEX IF NOT EXISTS notifications_file ON notifications (username, file_id, thread_id);"
    "CREATE INDEX IF NOT EXISTS notifications_unread ON notifications (username, read, id);"
    "CREATE INDEX IF NOT EXISTS notifications_comment ON notifications (comment_id);";

/* Listing filters; each combination gets its own statement. "mine" and "mentions" have two shapes:
 * a scan of the notebook's threads in order that probes an index per thread (EXISTS: cheap when
 * the user is in many threads, since a page fills quickly), or a walk of the user's own matches
 * (DRIVE: cheap when they are few, whatever the notebook's size). s_list counts the matches, up to
 * S_DRIVE_MAX, to choose. */
/* clang-format off */
enum {
    F_UNRESOLVED = 1, F_CELL = 2, F_MINE = 4, F_MENTIONS = 8, F_ORPHANED = 16,
    F_DRIVE_MINE = 32, F_DRIVE_MENTIONS = 64, F_COUNT = 128
};
/* clang-format on */

/* The last cell set synced for one file: an order-independent digest of the ids. */
typedef struct {
    char file_id[64];
    uint64_t sum, xor;
    size_t n;
    unsigned used; /* LRU clock; 0 = empty */
} s_sync_t;

struct td_comments {
    uint32_t tag;
    td_store_t *store; /* borrowed */
    sqlite3 *db;       /* borrowed from the store */
    td_env_t env;
    sqlite3_stmt *q[Q_COUNT];
    sqlite3_stmt *list[F_COUNT]; /* prepared on first use */
    td_comments_role_fn *role_fn;
    td_comments_cell_fn *cell_fn;
    td_comments_event_fn *event_fn;
    void *hook_arg;
    s_sync_t sync[S_SYNC_SLOTS];
    unsigned sync_clock;
};

/* ---- small helpers --------------------------------------------------------------------------- */

/* Sets *out to {"message": printf(fmt...), "reason": reason or null} and returns status. */
__attribute__((format(printf, 4, 5))) static int s_err(json_t **out, int status, const char *reason,
                                                       const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_decref(*out);
    *out = json_pack("{s:s, s:s?}", "message", msg, "reason", reason);
    return status;
}

/* The one answer for "no such thread" and "you may not know it exists". */
static int s_not_found(json_t **out, const char *what)
{
    return s_err(out, 404, NULL, "%s not found", what);
}

static int s_forbidden(json_t **out, const char *reason, const char *msg)
{
    return s_err(out, 403, reason, "%s", msg);
}

static int s_internal(json_t **out)
{
    return s_err(out, 500, NULL, "Internal error while storing comments");
}

static int s_is(const char *a, const char *b)
{
    return a && strcmp(a, b) == 0;
}

static const char *s_col(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}

/* A JSON string, or null for NULL or text that is not UTF-8 (never NULL itself on success). */
static json_t *s_jstr(const char *s)
{
    json_t *j = s ? json_string(s) : NULL;
    return j ? j : json_null();
}

static json_t *s_jcol(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? json_null() : s_jstr(s_col(st, i));
}

static void s_bind(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static void s_done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* Steps a write statement once and resets it. 0 or TD_ESTATE. */
static int s_run(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    s_done(st);
    return rc == SQLITE_DONE ? 0 : TD_ESTATE;
}

static void s_now(td_comments_t *self, char out[TD_DATE_LEN + 1])
{
    td_stamp_date(self->env.now_us(self->env.arg), out);
}

/* Valid UTF-8 (no overlongs or surrogates) without control bytes, 1..max bytes long. */
static int s_text_ok(const char *s, size_t n, size_t max)
{
    if (n == 0 || n > max || !td_lib0_utf8_valid((const uint8_t *)s, n))
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

static int s_word(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static int s_name_char(unsigned char c)
{
    return s_word(c) || c == '.' || c == '-';
}

/* A username as mentions and imports accept it: [A-Za-z0-9_.-]{1,127}. */
static int s_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= S_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!s_name_char((unsigned char)s[i]))
            return 0;
    return 1;
}

/* A reaction: 1..64 bytes of UTF-8 with no controls, spaces or slashes (it is a URL segment). */
static int s_emoji_ok(const char *s)
{
    size_t n = strlen(s);
    return s_text_ok(s, n, S_EMOJI_MAX) && !strchr(s, ' ') && !strchr(s, '/');
}

/* An imported timestamp: 1..40 of [0-9A-Za-z:.+-]. */
static int s_stamp_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 40)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!s_word((unsigned char)s[i]) && !strchr(":.+-", s[i]))
            return 0;
    return 1;
}

/* Opaque cursors: a letter (which list) then the position in hex. */
static json_t *s_cursor_new(char kind, int64_t pos)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%c%llx", kind, (unsigned long long)pos);
    return json_string(buf);
}

/* Reads ?cursor= into *pos (dflt when absent). 0, or -1 when it is not one of ours. */
static int s_cursor_get(const char *const *q, size_t nq, char kind, int64_t dflt, int64_t *pos)
{
    char buf[64];
    int rc = td_route_query(q, nq, "cursor", buf, sizeof buf);
    *pos = dflt;
    if (rc == TD_ENOENT || (rc == 0 && buf[0] == '\0'))
        return 0;
    if (rc != 0 || buf[0] != kind || buf[1] == '\0' || strlen(buf + 1) > 15)
        return -1;
    int64_t v = 0;
    for (const char *p = buf + 1; *p; p++) {
        int d = *p >= '0' && *p <= '9' ? *p - '0' : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10 : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    *pos = v;
    return 0;
}

/* Reads ?limit= (default 50, at most 500). 0, or -1 when it is not a positive integer. */
static int s_limit_get(const char *const *q, size_t nq, int *limit)
{
    char buf[32];
    int rc = td_route_query(q, nq, "limit", buf, sizeof buf);
    *limit = TD_COMMENTS_LIMIT_DEFAULT;
    if (rc == TD_ENOENT)
        return 0;
    if (rc != 0 || buf[0] == '\0' || strlen(buf) > 9)
        return -1;
    long v = 0;
    for (const char *p = buf; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    if (v < 1)
        return -1;
    *limit = v > TD_COMMENTS_LIMIT_MAX ? TD_COMMENTS_LIMIT_MAX : (int)v;
    return 0;
}

/* Reads a boolean filter ("1"/"true" on; "0"/"false"/""/absent off). 0/1, or -1 otherwise. */
static int s_flag_get(const char *const *q, size_t nq, const char *key)
{
    char buf[16];
    int rc = td_route_query(q, nq, key, buf, sizeof buf);
    if (rc == TD_ENOENT)
        return 0;
    if (rc != 0)
        return -1;
    if (s_is(buf, "1") || s_is(buf, "true"))
        return 1;
    if (s_is(buf, "0") || s_is(buf, "false") || buf[0] == '\0')
        return 0;
    return -1;
}

/* ---- lifecycle ------------------------------------------------------------------------------- */

td_comments_t *td_comments_new(td_store_t *store, const td_env_t *env)
{
    if (!store || !env || !env->now_us || !env->random)
        return NULL;
    td_comments_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->tag = S_TAG;
    self->store = store;
    self->db = td_store_db(store);
    self->env = *env;
    if (sqlite3_exec(self->db, s_indexes, NULL, NULL, NULL) != SQLITE_OK) {
        td_comments_destroy(&self);
        return NULL;
    }
    for (int i = 0; i < Q_COUNT; i++)
        if (sqlite3_prepare_v3(self->db, s_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &self->q[i],
                               NULL) != SQLITE_OK) {
            td_comments_destroy(&self);
            return NULL;
        }
    return self;
}

void td_comments_destroy(td_comments_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    td_comments_t *self = *self_p;
    for (int i = 0; i < Q_COUNT; i++)
        sqlite3_finalize(self->q[i]);
    for (int i = 0; i < F_COUNT; i++)
        sqlite3_finalize(self->list[i]);
    self->tag = 0xdeadbeef;
    free(self);
    *self_p = NULL;
}

void td_comments_set_hooks(td_comments_t *self, td_comments_role_fn *role_fn,
                           td_comments_cell_fn *cell_fn, td_comments_event_fn *event_fn, void *arg)
{
    self->role_fn = role_fn;
    self->cell_fn = cell_fn;
    self->event_fn = event_fn;
    self->hook_arg = arg;
}

/* The list statement for one combination of filters. Parameters: ?1 file id, ?2 after this
 * rowid, ?3 limit, ?4 cell id, ?5 the caller. The DRIVE shapes write the file test as
 * "+t.file_id" so that SQLite walks the (sorted) rowid list instead of the file's index. */
static sqlite3_stmt *s_list_stmt(td_comments_t *self, unsigned mask)
{
    if (self->list[mask])
        return self->list[mask];
    static const char mine_in[] = " AND t.rowid IN (SELECT t2.rowid FROM comments c JOIN threads t2"
                                  " ON t2.id = c.thread_id WHERE c.author = ?5)";
    static const char mine_ex[] = " AND EXISTS (SELECT 1 FROM comments c WHERE c.author = ?5"
                                  " AND c.thread_id = t.id)";
    static const char ment_in[] = " AND t.rowid IN (SELECT t2.rowid FROM notifications n JOIN"
                                  " threads t2 ON t2.id = n.thread_id WHERE n.username = ?5"
                                  " AND n.file_id = ?1)";
    static const char ment_ex[] = " AND EXISTS (SELECT 1 FROM notifications n WHERE n.username"
                                  " = ?5 AND n.file_id = t.file_id AND n.thread_id = t.id)";
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT " S_THREAD_COLS " FROM threads t WHERE %s = ?1 AND t.rowid > ?2"
             "%s%s%s%s%s ORDER BY t.rowid LIMIT ?3",
             mask & (F_DRIVE_MINE | F_DRIVE_MENTIONS) ? "+t.file_id" : "t.file_id",
             mask & F_UNRESOLVED ? " AND t.resolved = 0" : "",
             mask & F_CELL ? " AND t.cell_id = ?4" : "",
             mask & F_ORPHANED ? " AND t.orphaned = 1" : "",
             !(mask & F_MINE)      ? ""
             : mask & F_DRIVE_MINE ? mine_in
                                   : mine_ex,
             !(mask & F_MENTIONS)      ? ""
             : mask & F_DRIVE_MENTIONS ? ment_in
                                       : ment_ex);
    if (sqlite3_prepare_v3(self->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &self->list[mask], NULL) !=
        SQLITE_OK)
        self->list[mask] = NULL;
    return self->list[mask];
}

/* The number of matches of a "mine" or "mentions" filter, counted up to S_DRIVE_MAX + 1. */
static int s_matches(td_comments_t *self, int q, const char *username, const char *file_id)
{
    sqlite3_stmt *st = self->q[q];
    s_bind(st, 1, username);
    if (q == Q_MENTIONS_COUNT)
        s_bind(st, 2, file_id);
    int n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : S_DRIVE_MAX + 1;
    s_done(st);
    return n;
}

/* ---- transactions and events ----------------------------------------------------------------- */

static int s_begin(td_comments_t *self)
{
    return s_run(self->q[Q_SAVE]);
}

/* Ends the savepoint: keeps its work when ok, undoes it otherwise. Returns 0 when the work is
 * kept. */
static int s_end(td_comments_t *self, int ok)
{
    if (ok && s_run(self->q[Q_RELEASE]) == 0)
        return 0;
    s_run(self->q[Q_ROLLBACK]);
    s_run(self->q[Q_RELEASE]);
    return TD_ESTATE;
}

/* Forgets the synced cell set of file_id: a thread was added whose state it did not cover. */
static void s_sync_forget(td_comments_t *self, const char *file_id)
{
    for (int i = 0; i < S_SYNC_SLOTS; i++)
        if (self->sync[i].used && strcmp(self->sync[i].file_id, file_id) == 0)
            self->sync[i].used = 0;
}

/* ---- reading threads ------------------------------------------------------------------------- */

/* The comments of a thread, oldest first, with their reactions; new reference or NULL. */
static json_t *s_comments_json(td_comments_t *self, const char *thread_id)
{
    json_t *arr = json_array(), *byid = json_object();
    if (!arr || !byid)
        goto fail;
    sqlite3_stmt *st = self->q[Q_COMMENTS_OF];
    s_bind(st, 1, thread_id);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        int deleted = sqlite3_column_type(st, 6) != SQLITE_NULL;
        json_t *c = json_object(), *author = json_object();
        json_object_set_new(author, "username", s_jstr(s_col(st, 1)));
        json_object_set_new(author, "display_name", s_jstr(s_col(st, 2)));
        json_object_set_new(c, "id", s_jstr(s_col(st, 0)));
        json_object_set_new(c, "author", author);
        json_object_set_new(c, "body", s_jstr(deleted ? "" : s_col(st, 3)));
        json_object_set_new(c, "created", s_jstr(s_col(st, 4)));
        json_object_set_new(c, "updated", s_jstr(s_col(st, 5)));
        json_object_set_new(c, "deleted", json_boolean(deleted));
        json_object_set_new(c, "reactions", json_object());
        json_object_set(byid, s_col(st, 0), c);
        json_array_append_new(arr, c);
    }
    s_done(st);
    if (step != SQLITE_DONE)
        goto fail;
    st = self->q[Q_REACTIONS_OF];
    s_bind(st, 1, thread_id);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *r = json_object_get(json_object_get(byid, s_col(st, 0)), "reactions");
        if (!r)
            continue;
        json_t *who = json_object_get(r, s_col(st, 1));
        if (!who && json_object_set_new(r, s_col(st, 1), who = json_array()) != 0)
            continue;
        json_array_append_new(who, s_jstr(s_col(st, 2)));
    }
    s_done(st);
    if (step != SQLITE_DONE)
        goto fail;
    json_decref(byid);
    return arr;
fail:
    json_decref(arr);
    json_decref(byid);
    return NULL;
}

/* A thread from a row of S_THREAD_COLS, with path (NULL = null); new reference or NULL. */
static json_t *s_thread_json(td_comments_t *self, sqlite3_stmt *row, const char *path)
{
    json_t *t = json_object();
    json_t *comments = s_comments_json(self, s_col(row, 0));
    if (!t || !comments) {
        json_decref(t);
        json_decref(comments);
        return NULL;
    }
    json_t *range = NULL;
    if (sqlite3_column_type(row, 3) == SQLITE_TEXT)
        range = json_loads(s_col(row, 3), 0, NULL);
    json_object_set_new(t, "id", s_jstr(s_col(row, 0)));
    json_object_set_new(t, "fileId", s_jstr(s_col(row, 1)));
    json_object_set_new(t, "path", s_jstr(path && *path ? path : NULL));
    json_object_set_new(t, "cell_id", s_jstr(s_col(row, 2)));
    json_object_set_new(t, "range", range ? range : json_null());
    json_object_set_new(t, "orphaned", json_boolean(sqlite3_column_int(row, 4)));
    json_object_set_new(t, "resolved", json_boolean(sqlite3_column_int(row, 5)));
    json_object_set_new(t, "resolved_by", s_jcol(row, 6));
    json_object_set_new(t, "resolved_at", s_jcol(row, 7));
    json_object_set_new(t, "created", s_jstr(s_col(row, 8)));
    json_object_set_new(t, "updated", s_jstr(s_col(row, 9)));
    json_object_set_new(t, "comments", comments);
    return t;
}

/* Loads thread id as JSON; new reference, or NULL when it is missing or on error. */
static json_t *s_thread_load(td_comments_t *self, const char *id, const char *path)
{
    sqlite3_stmt *st = self->q[Q_THREAD_GET];
    s_bind(st, 1, id);
    json_t *t = sqlite3_step(st) == SQLITE_ROW ? s_thread_json(self, st, path) : NULL;
    s_done(st);
    return t;
}

/* The same by rowid. */
static json_t *s_thread_load_at(td_comments_t *self, int64_t rowid, const char *path)
{
    sqlite3_stmt *st = self->q[Q_THREAD_AT];
    sqlite3_bind_int64(st, 1, rowid);
    json_t *t = sqlite3_step(st) == SQLITE_ROW ? s_thread_json(self, st, path) : NULL;
    s_done(st);
    return t;
}

/* What the access checks need of a thread. */
typedef struct {
    char id[S_ID_MAX];
    char file_id[S_ID_MAX];
    int resolved;
} s_trow_t;

/* 0, TD_ENOENT or TD_ESTATE. */
static int s_thread_row(td_comments_t *self, const char *id, s_trow_t *out)
{
    sqlite3_stmt *st = self->q[Q_THREAD_GET];
    s_bind(st, 1, id);
    int step = sqlite3_step(st), rc = step == SQLITE_DONE ? TD_ENOENT : TD_ESTATE;
    if (step == SQLITE_ROW) {
        snprintf(out->id, sizeof out->id, "%s", s_col(st, 0));
        snprintf(out->file_id, sizeof out->file_id, "%s", s_col(st, 1));
        out->resolved = sqlite3_column_int(st, 5);
        rc = 0;
    }
    s_done(st);
    return rc;
}

/* What the access checks need of a comment; body is malloc'd (caller frees). */
typedef struct {
    char thread_id[S_ID_MAX];
    char author[S_NAME_MAX];
    char *body;
    int deleted;
} s_crow_t;

/* 0, TD_ENOENT, TD_ENOMEM or TD_ESTATE. */
static int s_comment_row(td_comments_t *self, const char *id, s_crow_t *out)
{
    sqlite3_stmt *st = self->q[Q_COMMENT_GET];
    s_bind(st, 1, id);
    int step = sqlite3_step(st), rc = step == SQLITE_DONE ? TD_ENOENT : TD_ESTATE;
    if (step == SQLITE_ROW) {
        snprintf(out->thread_id, sizeof out->thread_id, "%s", s_col(st, 0));
        snprintf(out->author, sizeof out->author, "%s", s_col(st, 1));
        out->body = strdup(s_col(st, 2));
        out->deleted = sqlite3_column_type(st, 3) != SQLITE_NULL;
        rc = out->body ? 0 : TD_ENOMEM;
    }
    s_done(st);
    return rc;
}

/* The comment cid out of a thread's JSON; new reference or NULL. */
static json_t *s_pick_comment(const json_t *thread, const char *cid)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(thread, "comments"), i, c)
    {
        if (s_is(json_string_value(json_object_get(c, "id")), cid))
            return json_incref(c);
    }
    return NULL;
}

/* Copies the current path of file_id into out: given when set, else the store's ("" if none). */
static void s_path_of(td_comments_t *self, const char *file_id, const char *given, char *out,
                      size_t cap)
{
    out[0] = '\0';
    if (given && *given)
        snprintf(out, cap, "%s", given);
    else if (td_store_file_path(self->store, file_id, out, cap) != 0)
        out[0] = '\0';
}

/* Hands {"type", "thread", "comment_id"?} to the event hook (borrowed for the call). Called only
 * after the change is committed, so a client that refetches on the event sees it. */
static void s_emit(td_comments_t *self, const char *file_id, const char *type, json_t *thread,
                   const char *comment_id)
{
    if (!self->event_fn || !thread)
        return;
    json_t *ev = json_pack("{s:s, s:O}", "type", type, "thread", thread);
    if (ev && comment_id)
        json_object_set_new(ev, "comment_id", s_jstr(comment_id));
    if (ev)
        self->event_fn(self->hook_arg, file_id, ev);
    json_decref(ev);
}

/* ---- request bodies -------------------------------------------------------------------------- */

/* Parses the body as a JSON object into *in (new reference). Returns 0, or the HTTP status of
 * the error written to *out. Strings holding \u0000 are refused (no JSON_ALLOW_NUL): bodies,
 * names and ids are stored and compared as C strings, and a NUL would silently cut them. */
static int s_body_object(const char *body, size_t len, json_t **in, json_t **out)
{
    *in = NULL;
    if (!body || len == 0)
        return s_err(out, 400, "body", "A JSON object body is required");
    json_error_t jerr;
    *in = json_loadb(body, len, 0, &jerr);
    if (!*in)
        return s_err(out, 400, "json", "Invalid JSON in body of request");
    if (!json_is_object(*in)) {
        json_decref(*in);
        *in = NULL;
        return s_err(out, 400, "json", "The body must be a JSON object");
    }
    return 0;
}

/* in["body"] as a comment body: a non-blank string of at most 64 KiB. 0 or an HTTP status. */
static int s_body_text(const json_t *in, const char **text, json_t **out)
{
    json_t *b = json_object_get(in, "body");
    if (!json_is_string(b))
        return s_err(out, 400, "body", "\"body\" must be a string");
    size_t n = json_string_length(b);
    if (n > TD_COMMENTS_BODY_MAX)
        return s_err(out, 413, "body", "The comment body exceeds %u bytes", TD_COMMENTS_BODY_MAX);
    const char *s = json_string_value(b);
    size_t blank = 0;
    while (blank < n && strchr(" \t\r\n", s[blank]))
        blank++;
    if (blank == n)
        return s_err(out, 400, "body", "The comment body is empty");
    *text = s;
    return 0;
}

/* A cell id from JSON: a string of 1..255 bytes without control characters. */
static const char *s_cell_id(const json_t *v)
{
    const char *s = json_string_value(v);
    return s && s_text_ok(s, json_string_length(v), S_ID_MAX - 1) ? s : NULL;
}

/* in["range"]: absent or null, or {"anchor", "head"} stored as compact JSON (*text malloc'd).
 * 0 or an HTTP status. */
static int s_range(const json_t *in, char **text, json_t **out)
{
    json_t *r = json_object_get(in, "range");
    *text = NULL;
    if (!r || json_is_null(r))
        return 0;
    if (!json_is_object(r) || !json_object_get(r, "anchor") || !json_object_get(r, "head"))
        return s_err(out, 400, "range", "\"range\" must be {\"anchor\": ..., \"head\": ...}");
    json_t *keep = json_pack("{s:O, s:O}", "anchor", json_object_get(r, "anchor"), "head",
                             json_object_get(r, "head"));
    *text = keep ? json_dumps(keep, JSON_COMPACT) : NULL;
    json_decref(keep);
    if (!*text)
        return s_internal(out);
    if (strlen(*text) > S_RANGE_MAX) {
        free(*text);
        *text = NULL;
        return s_err(out, 413, "range", "\"range\" exceeds %d bytes", S_RANGE_MAX);
    }
    return 0;
}

/* ---- mentions -------------------------------------------------------------------------------- */

/* Collects into names (a JSON array of strings) the existing users mentioned in body: '@' at the
 * start or after a non-word byte, then [A-Za-z0-9_.-]+. "@bob." at the end of a sentence finds
 * bob: trailing dots and dashes are dropped until a user matches. */
static void s_mentions(td_comments_t *self, const char *body, json_t *names)
{
    int lookups = 0;
    for (size_t i = 0; body[i] && json_array_size(names) < S_MENTIONS_MAX; i++) {
        if (body[i] != '@' || (i > 0 && s_word((unsigned char)body[i - 1])))
            continue;
        size_t j = i + 1;
        while (s_name_char((unsigned char)body[j]))
            j++;
        size_t n = j - i - 1;
        if (n == 0 || n >= S_NAME_MAX)
            continue;
        char name[S_NAME_MAX];
        memcpy(name, body + i + 1, n);
        name[n] = '\0';
        for (; n > 0 && lookups < S_LOOKUPS_MAX; name[--n] = '\0') {
            size_t k;
            json_t *v;
            int dup = 0;
            json_array_foreach(names, k, v)
            {
                dup |= s_is(json_string_value(v), name);
            }
            if (dup)
                break;
            lookups++;
            if (td_store_user_get(self->store, name, NULL) == 0) {
                json_array_append_new(names, json_string(name));
                break;
            }
            if (name[n - 1] != '.' && name[n - 1] != '-')
                break;
        }
        i = j - 1;
    }
}

/* Notifies every user mentioned in body but not in old_body (NULL = none), except the actor and
 * users who cannot see the notebook. 0 or TD_ESTATE. */
static int s_notify(td_comments_t *self, const char *thread_id, const char *comment_id,
                    const char *file_id, const char *actor, const char *body, const char *old_body,
                    const char *now)
{
    json_t *names = json_array(), *old = json_array();
    int rc = names && old ? 0 : TD_ENOMEM;
    if (rc == 0) {
        s_mentions(self, body, names);
        if (old_body)
            s_mentions(self, old_body, old);
    }
    size_t i, k;
    json_t *v, *w;
    json_array_foreach(names, i, v)
    {
        const char *name = json_string_value(v);
        int seen = s_is(name, actor);
        json_array_foreach(old, k, w)
        {
            seen |= s_is(json_string_value(w), name);
        }
        if (seen || rc != 0)
            continue;
        char path[S_PATH_MAX];
        if (self->role_fn &&
            self->role_fn(self->hook_arg, name, file_id, path, sizeof path) == TD_ROLE_NONE)
            continue;
        sqlite3_stmt *st = self->q[Q_NOTE_ADD];
        s_bind(st, 1, name);
        s_bind(st, 2, thread_id);
        s_bind(st, 3, comment_id);
        s_bind(st, 4, file_id);
        s_bind(st, 5, actor);
        s_bind(st, 6, now);
        rc = s_run(st);
    }
    json_decref(names);
    json_decref(old);
    return rc;
}

/* ---- writes ---------------------------------------------------------------------------------- */

static int s_comment_add(td_comments_t *self, const char *id, const char *thread_id,
                         const char *author, const char *body, const char *created,
                         const char *updated, const char *deleted_at)
{
    sqlite3_stmt *st = self->q[Q_COMMENT_ADD];
    s_bind(st, 1, id);
    s_bind(st, 2, thread_id);
    s_bind(st, 3, author);
    s_bind(st, 4, body);
    s_bind(st, 5, created);
    s_bind(st, 6, updated);
    s_bind(st, 7, deleted_at);
    return s_run(st);
}

static int s_touch(td_comments_t *self, const char *thread_id, const char *now)
{
    sqlite3_stmt *st = self->q[Q_THREAD_TOUCH];
    s_bind(st, 1, thread_id);
    s_bind(st, 2, now);
    return s_run(st);
}

/* Loads the thread after a committed change, emits the event and answers: the thread, or (with
 * pick) one of its comments; status is the success code. */
static int s_answer(td_comments_t *self, const char *thread_id, const char *file_id,
                    const char *path, const char *type, const char *pick, int status, json_t **out)
{
    json_t *t = s_thread_load(self, thread_id, path);
    if (!t)
        return s_internal(out);
    s_emit(self, file_id, type, t, pick);
    if (status == 204) {
        json_decref(t);
        return 204;
    }
    if (pick) {
        *out = s_pick_comment(t, pick);
        json_decref(t);
        return *out ? status : s_internal(out);
    }
    *out = t;
    return status;
}

/* ---- file endpoints: list, create, export, import -------------------------------------------- */

static int s_need_file(const td_comments_req_t *req, json_t **out)
{
    if (!req->file_id || !*req->file_id)
        return s_err(out, 400, "path", "A notebook path is required (?path=)");
    if (req->role <= TD_ROLE_NONE)
        return s_not_found(out, "Notebook");
    return 0;
}

static int s_list(td_comments_t *self, const td_comments_req_t *req, json_t **out)
{
    int rc = s_need_file(req, out);
    if (rc)
        return rc;
    static const struct {
        const char *key;
        unsigned bit;
    } flags[] = {{"unresolved", F_UNRESOLVED},
                 {"mine", F_MINE},
                 {"mentions", F_MENTIONS},
                 {"orphaned", F_ORPHANED}};
    unsigned mask = 0;
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        int on = s_flag_get(req->query, req->nquery, flags[i].key);
        if (on < 0)
            return s_err(out, 400, "query", "?%s= takes 1 or 0", flags[i].key);
        mask |= on ? flags[i].bit : 0;
    }
    char cell[S_ID_MAX];
    rc = td_route_query(req->query, req->nquery, "cell", cell, sizeof cell);
    if (rc == TD_E2BIG)
        return s_err(out, 400, "query", "?cell= is too long");
    if (rc == 0 && cell[0])
        mask |= F_CELL;
    int limit;
    int64_t after;
    if (s_limit_get(req->query, req->nquery, &limit) != 0)
        return s_err(out, 400, "query", "?limit= must be a positive integer");
    if (s_cursor_get(req->query, req->nquery, 'c', 0, &after) != 0)
        return s_err(out, 400, "query", "Invalid ?cursor=");
    /* Walk the user's matches when they are few (the smaller list when both filters are on). */
    int nmine = mask & F_MINE ? s_matches(self, Q_MINE_COUNT, req->username, NULL) : INT32_MAX;
    int nment = mask & F_MENTIONS ? s_matches(self, Q_MENTIONS_COUNT, req->username, req->file_id)
                                  : INT32_MAX;
    if (nmine <= S_DRIVE_MAX && nmine <= nment)
        mask |= F_DRIVE_MINE;
    else if (nment <= S_DRIVE_MAX)
        mask |= F_DRIVE_MENTIONS;
    sqlite3_stmt *st = s_list_stmt(self, mask);
    if (!st)
        return s_internal(out);
    char path[S_PATH_MAX];
    s_path_of(self, req->file_id, req->path, path, sizeof path);
    sqlite3_bind_text(st, 1, req->file_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, after);
    sqlite3_bind_int(st, 3, limit + 1);
    if (mask & F_CELL)
        sqlite3_bind_text(st, 4, cell, -1, SQLITE_STATIC);
    if (mask & (F_MINE | F_MENTIONS))
        sqlite3_bind_text(st, 5, req->username, -1, SQLITE_STATIC);
    /* One row more than the page says whether a next page exists, without counting. */
    json_t *threads = json_array();
    int64_t last = 0;
    int count = 0, more = 0, step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (++count > limit) {
            more = 1;
            break;
        }
        last = sqlite3_column_int64(st, 10);
        json_array_append_new(threads, s_thread_json(self, st, path));
    }
    s_done(st);
    if (step != SQLITE_DONE && step != SQLITE_ROW) {
        json_decref(threads);
        return s_internal(out);
    }
    *out = json_pack("{s:o, s:o}", "threads", threads, "next",
                     more ? s_cursor_new('c', last) : json_null());
    return *out ? 200 : s_internal(out);
}

static int s_create(td_comments_t *self, const td_comments_req_t *req, json_t **out)
{
    int rc = s_need_file(req, out);
    if (rc)
        return rc;
    if (req->role < TD_ROLE_COMMENTER)
        return s_forbidden(out, "role", "Viewers cannot comment");
    json_t *in;
    if ((rc = s_body_object(req->body, req->body_len, &in, out)) != 0)
        return rc;
    const char *cell = s_cell_id(json_object_get(in, "cell_id")), *text = NULL;
    char *range = NULL;
    if (!cell)
        rc = s_err(out, 400, "cell_id", "\"cell_id\" must be a non-empty string");
    if (rc == 0)
        rc = s_body_text(in, &text, out);
    if (rc == 0)
        rc = s_range(in, &range, out);
    if (rc == 0 && self->cell_fn && !self->cell_fn(self->hook_arg, req->file_id, cell))
        rc = s_err(out, 404, "cell", "No cell with id %.200s in this notebook", cell);
    if (rc) {
        json_decref(in);
        free(range);
        return rc;
    }
    char tid[TD_UUID_LEN + 1], cid[TD_UUID_LEN + 1], now[TD_DATE_LEN + 1];
    td_stamp_uuid(&self->env, tid);
    td_stamp_uuid(&self->env, cid);
    s_now(self, now);
    int ok = s_begin(self) == 0;
    if (ok) {
        sqlite3_stmt *st = self->q[Q_THREAD_ADD];
        const char *v[10] = {tid, req->file_id, cell, range, NULL, NULL, NULL, NULL, now, now};
        for (int i = 0; i < 10; i++)
            s_bind(st, i + 1, v[i]);
        sqlite3_bind_int(st, 5, 0);
        sqlite3_bind_int(st, 6, 0);
        ok = s_run(st) == 0 &&
             s_comment_add(self, cid, tid, req->username, text, now, now, NULL) == 0 &&
             s_notify(self, tid, cid, req->file_id, req->username, text, NULL, now) == 0;
        ok = s_end(self, ok) == 0;
    }
    json_decref(in);
    free(range);
    if (!ok)
        return s_internal(out);
    /* Without a cell hook the thread may sit on a cell the last synced list did not have. */
    s_sync_forget(self, req->file_id);
    char path[S_PATH_MAX];
    s_path_of(self, req->file_id, req->path, path, sizeof path);
    return s_answer(self, tid, req->file_id, path, "thread.created", NULL, 201, out);
}

static int s_export(td_comments_t *self, const td_comments_req_t *req, json_t **out)
{
    int rc = s_need_file(req, out);
    if (rc)
        return rc;
    if (req->no_download)
        return s_forbidden(out, "no-download", "Export is not allowed for this user");
    char path[S_PATH_MAX];
    s_path_of(self, req->file_id, req->path, path, sizeof path);
    json_t *threads = json_array();
    sqlite3_stmt *st = self->q[Q_FILE_ALL];
    s_bind(st, 1, req->file_id);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(threads, s_thread_json(self, st, path));
    s_done(st);
    if (step != SQLITE_DONE) {
        json_decref(threads);
        return s_internal(out);
    }
    *out = json_pack("{s:i, s:s, s:o}", "version", 1, "fileId", req->file_id, "threads", threads);
    return *out ? 200 : s_internal(out);
}

/* A string member that must be absent/null or pass ok(); *s is NULL for absent/null. 0 or -1. */
static int s_opt_str(const json_t *obj, const char *key, int (*ok)(const char *), const char **s)
{
    json_t *v = json_object_get(obj, key);
    *s = NULL;
    if (!v || json_is_null(v))
        return 0;
    *s = json_string_value(v);
    return *s && ok(*s) ? 0 : -1;
}

/* Imports one comment of an export. 0, or an HTTP status with the error in *out. */
static int s_import_comment(td_comments_t *self, const char *tid, const json_t *jc, size_t ti,
                            size_t ci, const char *now, json_t **out)
{
    const char *author = NULL, *created, *updated;
    json_t *a = json_object_get(jc, "author");
    if (json_is_object(a))
        a = json_object_get(a, "username");
    author = json_string_value(a);
    json_t *b = json_object_get(jc, "body");
    int deleted = json_is_true(json_object_get(jc, "deleted"));
    if (!json_is_object(jc) || !author || !s_name_ok(author) || !json_is_string(b) ||
        json_string_length(b) > TD_COMMENTS_BODY_MAX ||
        s_opt_str(jc, "created", s_stamp_ok, &created) ||
        s_opt_str(jc, "updated", s_stamp_ok, &updated))
        return s_err(out, 400, "import", "threads[%zu].comments[%zu] is not a valid comment", ti,
                     ci);
    created = created ? created : now;
    updated = updated ? updated : created;
    char cid[TD_UUID_LEN + 1];
    td_stamp_uuid(&self->env, cid);
    if (s_comment_add(self, cid, tid, author, deleted ? "" : json_string_value(b), created, updated,
                      deleted ? updated : NULL) != 0)
        return s_internal(out);
    json_t *reactions = json_object_get(jc, "reactions");
    if (deleted || !json_is_object(reactions))
        return 0;
    const char *emoji;
    json_t *who;
    json_object_foreach(reactions, emoji, who)
    {
        size_t k;
        json_t *u;
        if (!s_emoji_ok(emoji) || !json_is_array(who))
            return s_err(out, 400, "import", "threads[%zu].comments[%zu]: bad reactions", ti, ci);
        json_array_foreach(who, k, u)
        {
            const char *name = json_string_value(u);
            if (!name || !s_name_ok(name))
                return s_err(out, 400, "import", "threads[%zu].comments[%zu]: bad reactions", ti,
                             ci);
            sqlite3_stmt *st = self->q[Q_REACT_ADD];
            s_bind(st, 1, cid);
            s_bind(st, 2, name);
            s_bind(st, 3, emoji);
            s_bind(st, 4, created);
            if (s_run(st) != 0)
                return s_internal(out);
        }
    }
    return 0;
}

/* Imports one thread of an export under a new id (written to tid). 0 or an HTTP status. */
static int s_import_thread(td_comments_t *self, const char *file_id, const json_t *jt, size_t ti,
                           const char *now, char tid[TD_UUID_LEN + 1], json_t **out)
{
    const char *cell = s_cell_id(json_object_get(jt, "cell_id")), *rby, *rat, *created, *updated;
    json_t *comments = json_object_get(jt, "comments");
    char *range = NULL;
    if (!json_is_object(jt) || !cell || !json_is_array(comments) || !json_array_size(comments) ||
        s_opt_str(jt, "resolved_by", s_name_ok, &rby) ||
        s_opt_str(jt, "resolved_at", s_stamp_ok, &rat) ||
        s_opt_str(jt, "created", s_stamp_ok, &created) ||
        s_opt_str(jt, "updated", s_stamp_ok, &updated))
        return s_err(out, 400, "import", "threads[%zu] is not a valid thread", ti);
    int rc = s_range(jt, &range, out);
    if (rc)
        return rc;
    int resolved = json_is_true(json_object_get(jt, "resolved"));
    int orphaned = self->cell_fn ? !self->cell_fn(self->hook_arg, file_id, cell)
                                 : json_is_true(json_object_get(jt, "orphaned"));
    created = created ? created : now;
    updated = updated ? updated : created;
    td_stamp_uuid(&self->env, tid);
    sqlite3_stmt *st = self->q[Q_THREAD_ADD];
    const char *v[10] = {tid,
                         file_id,
                         cell,
                         range,
                         NULL,
                         NULL,
                         resolved ? rby : NULL,
                         resolved ? (rat ? rat : updated) : NULL,
                         created,
                         updated};
    for (int i = 0; i < 10; i++)
        s_bind(st, i + 1, v[i]);
    sqlite3_bind_int(st, 5, orphaned);
    sqlite3_bind_int(st, 6, resolved);
    rc = s_run(st) == 0 ? 0 : s_internal(out);
    free(range);
    size_t ci;
    json_t *jc;
    json_array_foreach(comments, ci, jc)
    {
        if (rc == 0)
            rc = s_import_comment(self, tid, jc, ti, ci, now, out);
    }
    return rc;
}

static int s_import(td_comments_t *self, const td_comments_req_t *req, json_t **out)
{
    int rc = s_need_file(req, out);
    if (rc)
        return rc;
    /* An import writes other people's names as authors, so only an owner may run it. */
    if (req->role < TD_ROLE_OWNER)
        return s_forbidden(out, "role", "Only an owner can import comment threads");
    json_t *in;
    if ((rc = s_body_object(req->body, req->body_len, &in, out)) != 0)
        return rc;
    json_t *threads = json_object_get(in, "threads"), *version = json_object_get(in, "version");
    if (!json_is_array(threads) ||
        (version && !(json_is_integer(version) && json_integer_value(version) == 1)))
        rc = s_err(out, 400, "import", "Expected {\"version\": 1, \"threads\": [...]}");
    else if (json_array_size(threads) > S_IMPORT_MAX)
        rc = s_err(out, 413, "import", "At most %d threads per import", S_IMPORT_MAX);
    json_t *ids = json_array();
    if (rc == 0 && (!ids || s_begin(self) != 0))
        rc = s_internal(out);
    else if (rc == 0) {
        char now[TD_DATE_LEN + 1];
        s_now(self, now);
        size_t i;
        json_t *jt;
        json_array_foreach(threads, i, jt)
        {
            char tid[TD_UUID_LEN + 1];
            if ((rc = s_import_thread(self, req->file_id, jt, i, now, tid, out)) != 0)
                break;
            json_array_append_new(ids, json_string(tid));
        }
        if (s_end(self, rc == 0) != 0 && rc == 0)
            rc = s_internal(out);
    }
    json_decref(in);
    if (rc) {
        json_decref(ids);
        return rc;
    }
    s_sync_forget(self, req->file_id);
    char path[S_PATH_MAX];
    s_path_of(self, req->file_id, req->path, path, sizeof path);
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id)
    {
        json_t *t = self->event_fn ? s_thread_load(self, json_string_value(id), path) : NULL;
        s_emit(self, req->file_id, "thread.created", t, NULL);
        json_decref(t);
    }
    *out = json_pack("{s:I}", "imported", (json_int_t)json_array_size(ids));
    json_decref(ids);
    return 200;
}

/* ---- thread endpoints ------------------------------------------------------------------------ */

typedef enum {
    R_NONE,      /* no such URL: 404 */
    R_LIST,      /* "": GET lists, POST creates */
    R_EXPORT,    /* "/export" */
    R_IMPORT,    /* "/import" */
    R_THREAD,    /* "/T" */
    R_REPLIES,   /* "/T/replies" */
    R_RESOLVE,   /* "/T/resolve" */
    R_REOPEN,    /* "/T/reopen" */
    R_COMMENT,   /* "/T/comments/C": GET, PATCH, DELETE */
    R_REACTIONS, /* "/T/comments/C/reactions": POST */
    R_REACTION   /* "/T/comments/C/reactions/EMOJI": DELETE */
} s_kind_t;

typedef struct {
    s_kind_t kind;
    char thread[S_ID_MAX], comment[S_ID_MAX], emoji[S_ID_MAX];
} s_route_t;

/* Splits sub into the route. Segments are non-empty, shorter than S_ID_MAX, free of control
 * bytes; one trailing slash is ignored. */
static void s_route(const char *sub, s_route_t *r)
{
    memset(r, 0, sizeof *r);
    char seg[6][S_ID_MAX];
    int n = 0;
    const char *p = sub ? sub : "";
    if (*p && *p != '/')
        return;
    while (*p) {
        p++; /* the '/' */
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 0 && !e && n > 0)
            break; /* one trailing slash */
        if (len == 0 || len >= S_ID_MAX || n == 6 || !s_text_ok(p, len, S_ID_MAX - 1))
            return;
        memcpy(seg[n], p, len);
        seg[n++][len] = '\0';
        p += len;
    }
    if (n == 0) {
        r->kind = R_LIST;
        return;
    }
    if (n == 1 && s_is(seg[0], "export")) {
        r->kind = R_EXPORT;
        return;
    }
    if (n == 1 && s_is(seg[0], "import")) {
        r->kind = R_IMPORT;
        return;
    }
    memcpy(r->thread, seg[0], sizeof r->thread);
    if (n == 1)
        r->kind = R_THREAD;
    else if (n == 2 && s_is(seg[1], "replies"))
        r->kind = R_REPLIES;
    else if (n == 2 && s_is(seg[1], "resolve"))
        r->kind = R_RESOLVE;
    else if (n == 2 && s_is(seg[1], "reopen"))
        r->kind = R_REOPEN;
    else if (n >= 3 && s_is(seg[1], "comments")) {
        memcpy(r->comment, seg[2], sizeof r->comment);
        if (n == 3)
            r->kind = R_COMMENT;
        else if (n == 4 && s_is(seg[3], "reactions"))
            r->kind = R_REACTIONS;
        else if (n == 5 && s_is(seg[3], "reactions")) {
            memcpy(r->emoji, seg[4], sizeof r->emoji);
            r->kind = R_REACTION;
        }
    }
}

/* The caller's role on the thread's notebook. A request that names another notebook never
 * reaches it; without a role hook the relay's role for req->file_id is used, and no file named
 * means no access. The role hook is the relay's grant lookup: the thread's fileId is the only
 * trustworthy name of its notebook, since the URL carries none. */
static td_role_t s_thread_role(td_comments_t *self, const td_comments_req_t *req,
                               const char *file_id, char *path, size_t cap)
{
    path[0] = '\0';
    if (req->file_id && *req->file_id && strcmp(req->file_id, file_id) != 0)
        return TD_ROLE_NONE;
    td_role_t role = TD_ROLE_NONE;
    if (self->role_fn)
        role = self->role_fn(self->hook_arg, req->username, file_id, path, cap);
    else if (req->file_id && *req->file_id)
        role = req->role;
    if (!path[0] || (req->path && *req->path && req->file_id))
        s_path_of(self, file_id, req->file_id ? req->path : NULL, path, cap);
    return role;
}

static int s_reply(td_comments_t *self, const td_comments_req_t *req, const s_trow_t *t,
                   const char *path, json_t **out)
{
    json_t *in;
    const char *text;
    int rc = s_body_object(req->body, req->body_len, &in, out);
    if (rc == 0 && (rc = s_body_text(in, &text, out)) == 0) {
        char cid[TD_UUID_LEN + 1], now[TD_DATE_LEN + 1];
        td_stamp_uuid(&self->env, cid);
        s_now(self, now);
        int ok = s_begin(self) == 0;
        if (ok) {
            ok = s_comment_add(self, cid, t->id, req->username, text, now, now, NULL) == 0 &&
                 s_touch(self, t->id, now) == 0 &&
                 s_notify(self, t->id, cid, t->file_id, req->username, text, NULL, now) == 0;
            ok = s_end(self, ok) == 0;
        }
        rc = ok ? s_answer(self, t->id, t->file_id, path, "comment.created", cid, 201, out)
                : s_internal(out);
    }
    json_decref(in);
    return rc;
}

static int s_resolve(td_comments_t *self, const td_comments_req_t *req, const s_trow_t *t,
                     const char *path, int resolve, json_t **out)
{
    if (t->resolved == resolve) { /* already there: nothing changes, no event */
        *out = s_thread_load(self, t->id, path);
        return *out ? 200 : s_internal(out);
    }
    char now[TD_DATE_LEN + 1];
    s_now(self, now);
    sqlite3_stmt *st = self->q[Q_THREAD_RESOLVE];
    s_bind(st, 1, t->id);
    sqlite3_bind_int(st, 2, resolve);
    s_bind(st, 3, resolve ? req->username : NULL);
    s_bind(st, 4, resolve ? now : NULL);
    s_bind(st, 5, now);
    int ok = s_begin(self) == 0;
    if (ok)
        ok = s_end(self, s_run(st) == 0) == 0;
    else
        s_done(st);
    if (!ok)
        return s_internal(out);
    return s_answer(self, t->id, t->file_id, path, resolve ? "thread.resolved" : "thread.reopened",
                    NULL, 200, out);
}

static int s_edit(td_comments_t *self, const td_comments_req_t *req, const s_trow_t *t,
                  const char *cid, const s_crow_t *c, const char *path, json_t **out)
{
    if (!s_is(c->author, req->username))
        return s_forbidden(out, "author", "Only its author can edit a comment");
    if (c->deleted)
        return s_err(out, 409, "deleted", "The comment was deleted");
    json_t *in;
    const char *text;
    int rc = s_body_object(req->body, req->body_len, &in, out);
    if (rc == 0 && (rc = s_body_text(in, &text, out)) == 0) {
        char now[TD_DATE_LEN + 1];
        s_now(self, now);
        sqlite3_stmt *st = self->q[Q_COMMENT_EDIT];
        int ok = s_begin(self) == 0;
        if (ok) {
            s_bind(st, 1, cid);
            s_bind(st, 2, text);
            s_bind(st, 3, now);
            ok = s_run(st) == 0 && s_touch(self, t->id, now) == 0 &&
                 s_notify(self, t->id, cid, t->file_id, req->username, text, c->body, now) == 0;
            ok = s_end(self, ok) == 0;
        }
        rc = ok ? s_answer(self, t->id, t->file_id, path, "comment.edited", cid, 200, out)
                : s_internal(out);
    }
    json_decref(in);
    return rc;
}

static int s_delete(td_comments_t *self, const td_comments_req_t *req, const s_trow_t *t,
                    const char *cid, const s_crow_t *c, td_role_t role, const char *path,
                    json_t **out)
{
    if (!s_is(c->author, req->username) && role < TD_ROLE_OWNER)
        return s_forbidden(out, "author", "Only its author or an owner can delete a comment");
    if (c->deleted)
        return s_err(out, 409, "deleted", "The comment was already deleted");
    /* The row stays (the thread reads the same to everyone), but nothing of its content does:
     * the body, the reactions to it, and the inbox entries that quote it. */
    char now[TD_DATE_LEN + 1];
    s_now(self, now);
    int ok = s_begin(self) == 0;
    if (ok) {
        sqlite3_stmt *del = self->q[Q_COMMENT_DEL], *rx = self->q[Q_REACT_CLEAR],
                     *notes = self->q[Q_NOTE_CLEAR];
        s_bind(del, 1, cid);
        s_bind(del, 2, now);
        s_bind(rx, 1, cid);
        s_bind(notes, 1, cid);
        ok = s_run(del) == 0;
        ok = s_run(rx) == 0 && ok;
        ok = s_run(notes) == 0 && ok;
        ok = s_end(self, ok && s_touch(self, t->id, now) == 0) == 0;
    }
    if (!ok)
        return s_internal(out);
    return s_answer(self, t->id, t->file_id, path, "comment.deleted", cid, 204, out);
}

static int s_react(td_comments_t *self, const td_comments_req_t *req, const s_trow_t *t,
                   const char *cid, const s_crow_t *c, const char *emoji, const char *path,
                   json_t **out)
{
    json_t *in = NULL;
    int rc = 0, add = emoji == NULL;
    if (add && (rc = s_body_object(req->body, req->body_len, &in, out)) == 0) {
        emoji = json_string_value(json_object_get(in, "emoji"));
        if (!emoji || !s_emoji_ok(emoji))
            rc = s_err(out, 400, "emoji", "\"emoji\" must be a short string (1..%d bytes)",
                       S_EMOJI_MAX);
    } else if (!add && !s_emoji_ok(emoji)) {
        rc = s_err(out, 400, "emoji", "Invalid reaction");
    }
    if (rc == 0 && c->deleted)
        rc = s_err(out, 409, "deleted", "The comment was deleted");
    if (rc) {
        json_decref(in);
        return rc;
    }
    char now[TD_DATE_LEN + 1];
    s_now(self, now);
    sqlite3_stmt *st = self->q[add ? Q_REACT_ADD : Q_REACT_DEL];
    s_bind(st, 1, cid);
    s_bind(st, 2, req->username);
    s_bind(st, 3, emoji);
    if (add)
        s_bind(st, 4, now);
    int ok = s_begin(self) == 0, changed = 0;
    if (ok) {
        ok = s_run(st) == 0;
        changed = ok && sqlite3_changes(self->db) > 0;
        if (changed)
            ok = s_touch(self, t->id, now) == 0;
        ok = s_end(self, ok) == 0;
    } else {
        s_done(st);
    }
    json_decref(in); /* emoji pointed into it */
    if (!ok)
        return s_internal(out);
    if (!changed) { /* the same reaction twice, or removing one that is not there */
        json_t *th = s_thread_load(self, t->id, path);
        *out = s_pick_comment(th, cid);
        json_decref(th);
        return *out ? 200 : s_internal(out);
    }
    return s_answer(self, t->id, t->file_id, path, add ? "reaction.added" : "reaction.removed", cid,
                    200, out);
}

static int s_thread_route(td_comments_t *self, const td_comments_req_t *req, const s_route_t *r,
                          json_t **out)
{
    const char *m = req->method;
    int allowed = 0, write = 1;
    switch (r->kind) {
    case R_THREAD:
        allowed = s_is(m, "GET");
        write = 0;
        break;
    case R_REPLIES:
    case R_RESOLVE:
    case R_REOPEN:
    case R_REACTIONS:
        allowed = s_is(m, "POST");
        break;
    case R_COMMENT:
        allowed = s_is(m, "GET") || s_is(m, "PATCH") || s_is(m, "DELETE");
        write = !s_is(m, "GET");
        break;
    case R_REACTION:
        allowed = s_is(m, "DELETE");
        break;
    default:
        break;
    }
    /* The checks run in an order that leaks nothing: the method (the same answer for everyone),
     * then existence and access together (404 for both), then the role (403), and only then
     * the body (400) and the comment. */
    if (!allowed)
        return s_err(out, 405, NULL, "Method Not Allowed");
    s_trow_t t;
    int rc = s_thread_row(self, r->thread, &t);
    if (rc == TD_ESTATE)
        return s_internal(out);
    char path[S_PATH_MAX];
    td_role_t role =
        rc == 0 ? s_thread_role(self, req, t.file_id, path, sizeof path) : TD_ROLE_NONE;
    if (role <= TD_ROLE_NONE) /* missing and hidden look the same */
        return s_not_found(out, "Thread");
    if (write && role < TD_ROLE_COMMENTER)
        return s_forbidden(out, "role", "Viewers can only read comments");
    switch (r->kind) {
    case R_THREAD:
        *out = s_thread_load(self, t.id, path);
        return *out ? 200 : s_internal(out);
    case R_REPLIES:
        return s_reply(self, req, &t, path, out);
    case R_RESOLVE:
    case R_REOPEN:
        return s_resolve(self, req, &t, path, r->kind == R_RESOLVE, out);
    default:
        break;
    }
    s_crow_t c = {0};
    rc = s_comment_row(self, r->comment, &c);
    if (rc == 0 && !s_is(c.thread_id, t.id))
        rc = TD_ENOENT;
    if (rc == TD_ENOENT)
        rc = s_not_found(out, "Comment");
    else if (rc != 0)
        rc = s_internal(out);
    else if (r->kind == R_COMMENT && s_is(m, "GET")) {
        json_t *th = s_thread_load(self, t.id, path);
        *out = s_pick_comment(th, r->comment);
        json_decref(th);
        rc = *out ? 200 : s_internal(out);
    } else if (r->kind == R_COMMENT && s_is(m, "PATCH"))
        rc = s_edit(self, req, &t, r->comment, &c, path, out);
    else if (r->kind == R_COMMENT)
        rc = s_delete(self, req, &t, r->comment, &c, role, path, out);
    else
        rc = s_react(self, req, &t, r->comment, &c, r->kind == R_REACTION ? r->emoji : NULL, path,
                     out);
    free(c.body);
    return rc;
}

int td_comments_handle(td_comments_t *self, const td_comments_req_t *req, json_t **out)
{
    if (!self || self->tag != S_TAG || !out)
        return 500;
    *out = NULL;
    if (!req || !req->method || !req->username || !*req->username)
        return s_err(out, 400, NULL, "Bad request");
    s_route_t r;
    s_route(req->sub, &r);
    const char *m = req->method;
    switch (r.kind) {
    case R_NONE:
        return s_err(out, 404, NULL, "Not Found");
    case R_LIST:
        if (s_is(m, "GET"))
            return s_list(self, req, out);
        if (s_is(m, "POST"))
            return s_create(self, req, out);
        break;
    case R_EXPORT:
        if (s_is(m, "GET"))
            return s_export(self, req, out);
        break;
    case R_IMPORT:
        if (s_is(m, "POST"))
            return s_import(self, req, out);
        break;
    default:
        return s_thread_route(self, req, &r, out);
    }
    return s_err(out, 405, NULL, "Method Not Allowed");
}

/* ---- the inbox ------------------------------------------------------------------------------- */

/* The first S_EXCERPT bytes of a body on one line, cut at a character boundary. */
static json_t *s_excerpt(const char *body)
{
    char buf[S_EXCERPT + 8];
    size_t n = strlen(body), k = n > S_EXCERPT ? S_EXCERPT : n;
    while (k > 0 && k < n && ((unsigned char)body[k] & 0xc0) == 0x80)
        k--;
    for (size_t i = 0; i < k; i++)
        buf[i] = body[i] == '\n' || body[i] == '\r' || body[i] == '\t' ? ' ' : body[i];
    if (k < n) {
        memcpy(buf + k, "\xe2\x80\xa6", 3); /* … */
        k += 3;
    }
    buf[k] = '\0';
    return s_jstr(buf);
}

static int s_inbox(td_comments_t *self, const char *username, const char *const *q, size_t nq,
                   json_t **out)
{
    int unread = s_flag_get(q, nq, "unread"), limit;
    int64_t before;
    if (unread < 0)
        return s_err(out, 400, "query", "?unread= takes 1 or 0");
    if (s_limit_get(q, nq, &limit) != 0)
        return s_err(out, 400, "query", "?limit= must be a positive integer");
    if (s_cursor_get(q, nq, 'n', INT64_MAX, &before) != 0)
        return s_err(out, 400, "query", "Invalid ?cursor=");
    sqlite3_stmt *st = self->q[unread ? Q_NOTE_LIST_UNREAD : Q_NOTE_LIST];
    s_bind(st, 1, username);
    sqlite3_bind_int64(st, 2, before);
    sqlite3_bind_int(st, 3, limit + 1);
    json_t *list = json_array();
    int count = 0, more = 0, step;
    int64_t last = 0;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (++count > limit) {
            more = 1;
            break;
        }
        last = sqlite3_column_int64(st, 0);
        /* The excerpt is the comment's current text: once the user cannot see the notebook any
         * more, neither it nor the path is shown (edits made after the access ended would leak). */
        char seen[S_PATH_MAX];
        int hidden = self->role_fn && self->role_fn(self->hook_arg, username, s_col(st, 4), seen,
                                                    sizeof seen) <= TD_ROLE_NONE;
        json_t *n = json_object();
        json_object_set_new(n, "id", json_integer(last));
        json_object_set_new(n, "kind", s_jstr(s_col(st, 1)));
        json_object_set_new(n, "thread_id", s_jstr(s_col(st, 2)));
        json_object_set_new(n, "comment_id", s_jstr(s_col(st, 3)));
        json_object_set_new(n, "fileId", s_jstr(s_col(st, 4)));
        json_object_set_new(n, "path", hidden ? json_null() : s_jcol(st, 5));
        json_object_set_new(n, "actor", s_jstr(s_col(st, 6)));
        json_object_set_new(n, "created", s_jstr(s_col(st, 7)));
        json_object_set_new(n, "read", json_boolean(sqlite3_column_int(st, 8)));
        json_object_set_new(n, "excerpt", hidden ? json_null() : s_excerpt(s_col(st, 9)));
        json_array_append_new(list, n);
    }
    s_done(st);
    sqlite3_stmt *cnt = self->q[Q_NOTE_UNREAD];
    s_bind(cnt, 1, username);
    int cstep = sqlite3_step(cnt);
    json_int_t nunread = cstep == SQLITE_ROW ? sqlite3_column_int64(cnt, 0) : 0;
    s_done(cnt);
    if ((step != SQLITE_DONE && step != SQLITE_ROW) || cstep != SQLITE_ROW) {
        json_decref(list);
        return s_internal(out);
    }
    *out = json_pack("{s:o, s:I, s:o}", "notifications", list, "unread", nunread, "next",
                     more ? s_cursor_new('n', last) : json_null());
    return *out ? 200 : s_internal(out);
}

static int s_mark_read(td_comments_t *self, const char *username, const char *body, size_t len,
                       json_t **out)
{
    json_t *in;
    int rc = s_body_object(body, len, &in, out);
    if (rc)
        return rc;
    json_t *ids = json_object_get(in, "ids");
    int all = json_is_true(json_object_get(in, "all"));
    size_t i;
    json_t *v;
    if (!all && !json_is_array(ids))
        rc = s_err(out, 400, "body", "Expected {\"ids\": [...]} or {\"all\": true}");
    json_array_foreach(ids, i, v)
    {
        if (rc == 0 && !json_is_integer(v))
            rc = s_err(out, 400, "body", "\"ids\" must hold notification ids (integers)");
    }
    if (rc == 0 && json_array_size(ids) > 10000)
        rc = s_err(out, 413, "body", "At most 10000 ids at once");
    if (rc == 0) {
        int ok = s_begin(self) == 0;
        if (ok && all) {
            sqlite3_stmt *st = self->q[Q_NOTE_READ_ALL];
            s_bind(st, 1, username);
            ok = s_run(st) == 0;
        }
        json_array_foreach(all ? NULL : ids, i, v)
        {
            if (!ok)
                break; /* never leave bindings on a statement that is not run */
            sqlite3_stmt *st = self->q[Q_NOTE_READ];
            s_bind(st, 1, username);
            sqlite3_bind_int64(st, 2, json_integer_value(v));
            ok = s_run(st) == 0;
        }
        if (s_end(self, ok) != 0)
            rc = s_internal(out);
    }
    json_decref(in);
    return rc ? rc : 204;
}

int td_comments_notifications(td_comments_t *self, const char *method, const char *sub,
                              const char *username, const char *const *query, size_t nquery,
                              const char *body, size_t body_len, json_t **out)
{
    if (!self || self->tag != S_TAG || !out)
        return 500;
    *out = NULL;
    if (!method || !username || !*username)
        return s_err(out, 400, NULL, "Bad request");
    if (!sub || !*sub || s_is(sub, "/")) {
        if (s_is(method, "GET"))
            return s_inbox(self, username, query, nquery, out);
        return s_err(out, 405, NULL, "Method Not Allowed");
    }
    if (s_is(sub, "/read") || s_is(sub, "/read/")) {
        if (s_is(method, "POST"))
            return s_mark_read(self, username, body, body_len, out);
        return s_err(out, 405, NULL, "Method Not Allowed");
    }
    return s_err(out, 404, NULL, "Not Found");
}

/* ---- cells: orphaning, and embedding into the notebook --------------------------------------- */

static uint64_t s_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a, then a splitmix finaliser to spread it */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    return h ^ (h >> 31);
}

int td_comments_sync_cells(td_comments_t *self, const char *file_id, const char *const *cell_ids,
                           size_t n)
{
    if (!self || self->tag != S_TAG || !file_id)
        return TD_EINVAL;
    /* The set's digest: a sum and a xor of per-id hashes, so the order of the cells is free. */
    uint64_t sum = 0, x = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t h = cell_ids[i] ? s_hash(cell_ids[i]) : 0;
        sum += h;
        x ^= h;
    }
    s_sync_t *slot = NULL;
    if (strlen(file_id) < sizeof slot->file_id) {
        for (int i = 0; i < S_SYNC_SLOTS; i++) {
            s_sync_t *s = &self->sync[i];
            if (s->used && strcmp(s->file_id, file_id) == 0) {
                if (s->sum == sum && s->xor == x && s->n == n) {
                    s->used = ++self->sync_clock;
                    return 0;
                }
                slot = s;
                break;
            }
            if (!slot || !s->used || (slot->used && s->used < slot->used))
                slot = s; /* the free or least recently used slot */
        }
    }
    json_t *ids = json_array();
    char *text = NULL;
    for (size_t i = 0; ids && i < n; i++)
        if (cell_ids[i])
            json_array_append_new(ids, json_string(cell_ids[i]));
    text = ids ? json_dumps(ids, JSON_COMPACT) : NULL;
    json_decref(ids);
    if (!text)
        return TD_ENOMEM;
    /* Collect the mismatches first, then write: never update the table under a running scan. */
    json_t *flips = json_array();
    sqlite3_stmt *st = self->q[Q_SYNC];
    s_bind(st, 1, file_id);
    sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(flips, json_pack("[I, b]", (json_int_t)sqlite3_column_int64(st, 0),
                                               !sqlite3_column_int(st, 1)));
    s_done(st);
    free(text);
    if (step != SQLITE_DONE || !flips) {
        json_decref(flips);
        return TD_ESTATE;
    }
    size_t nflips = json_array_size(flips), i;
    json_t *f;
    if (nflips) {
        char now[TD_DATE_LEN + 1];
        s_now(self, now);
        int ok = s_begin(self) == 0;
        json_array_foreach(flips, i, f)
        {
            if (!ok)
                break; /* never leave `now` (this frame) bound to a statement that is not run */
            sqlite3_stmt *up = self->q[Q_THREAD_ORPHAN];
            sqlite3_bind_int64(up, 1, json_integer_value(json_array_get(f, 0)));
            sqlite3_bind_int(up, 2, json_is_true(json_array_get(f, 1)));
            s_bind(up, 3, now);
            ok = s_run(up) == 0;
        }
        if (s_end(self, ok) != 0) {
            json_decref(flips);
            return TD_ESTATE;
        }
    }
    if (slot) {
        snprintf(slot->file_id, sizeof slot->file_id, "%s", file_id);
        slot->sum = sum;
        slot->xor = x;
        slot->n = n;
        slot->used = ++self->sync_clock;
    }
    if (nflips && self->event_fn) {
        char path[S_PATH_MAX];
        s_path_of(self, file_id, NULL, path, sizeof path);
        json_array_foreach(flips, i, f)
        {
            json_t *t = s_thread_load_at(self, json_integer_value(json_array_get(f, 0)), path);
            s_emit(self, file_id,
                   json_is_true(json_array_get(f, 1)) ? "thread.orphaned" : "thread.attached", t,
                   NULL);
            json_decref(t);
        }
    }
    json_decref(flips);
    return (int)nflips;
}

int td_comments_embed(td_comments_t *self, const char *file_id, json_t *nb)
{
    if (!self || self->tag != S_TAG || !file_id)
        return TD_EINVAL;
    json_t *cells = json_object_get(nb, "cells");
    if (!json_is_array(cells))
        return TD_EINVAL;
    char path[S_PATH_MAX];
    s_path_of(self, file_id, NULL, path, sizeof path);
    json_t *bycell = json_object(); /* cell id -> array of threads */
    if (!bycell)
        return TD_ENOMEM;
    sqlite3_stmt *st = self->q[Q_FILE_ALL];
    s_bind(st, 1, file_id);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_int(st, 4))
            continue; /* orphaned: no cell to hold it */
        const char *cell = s_col(st, 2);
        json_t *arr = json_object_get(bycell, cell);
        if (!arr && json_object_set_new(bycell, cell, arr = json_array()) != 0)
            continue;
        json_array_append_new(arr, s_thread_json(self, st, path));
    }
    s_done(st);
    if (step != SQLITE_DONE) {
        json_decref(bycell);
        return TD_ESTATE;
    }
    size_t i;
    json_t *cell;
    json_array_foreach(cells, i, cell)
    {
        const char *id = json_string_value(json_object_get(cell, "id"));
        json_t *threads = id ? json_object_get(bycell, id) : NULL;
        json_t *meta = json_object_get(cell, "metadata");
        if (!json_is_object(cell))
            continue;
        if (threads) {
            if (!json_is_object(meta))
                json_object_set_new(cell, "metadata", meta = json_object());
            json_t *td = json_object_get(meta, "tandem");
            if (!json_is_object(td))
                json_object_set_new(meta, "tandem", td = json_object());
            json_object_set(td, "comments", threads);
        } else if (json_is_object(meta)) {
            json_t *td = json_object_get(meta, "tandem");
            if (json_is_object(td)) {
                json_object_del(td, "comments");
                if (json_object_size(td) == 0)
                    json_object_del(meta, "tandem");
            }
        }
    }
    json_decref(bycell);
    return 0;
}
