/* td_store.c: SQLite persistence for the relay. One connection (the relay is single-threaded),
 * WAL journal, synchronous=FULL so that what the relay acknowledged survives a crash, foreign keys
 * on. Every statement is prepared once at open and reset after each use. Migrations are a list of
 * SQL scripts; migration i brings user_version from i to i + 1 inside one transaction, so a file
 * is always at a whole version. Tokens never reach this file in plain text: only their SHA-256
 * digests (td_auth hashes them), so reading the file does not give anyone a way in. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "td_store.h"

static const char *const s_migrations[TD_STORE_SCHEMA] = {
    /* 0 -> 1: users and their tokens. */
    "CREATE TABLE users ("
    "  username TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  display_name TEXT NOT NULL,"
    "  initials TEXT NOT NULL,"
    "  color TEXT NOT NULL DEFAULT '',"
    "  created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')));"
    "CREATE TABLE tokens ("
    "  digest BLOB PRIMARY KEY CHECK (length(digest) = 32),"
    "  username TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,"
    "  created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')));",
    /* 1 -> 2: stable file ids, and each collaboration room's history: its lineage epoch, the
     * file content it last agreed with (the base of three-way merges), and its update log. */
    "CREATE TABLE files ("
    "  id TEXT PRIMARY KEY,"
    "  path TEXT NOT NULL UNIQUE);"
    "CREATE TABLE ydocs ("
    "  file_id TEXT PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,"
    "  epoch TEXT NOT NULL,"
    "  base BLOB NOT NULL,"
    "  base_hash TEXT NOT NULL,"
    "  disk_hash TEXT NOT NULL DEFAULT '');"
    "CREATE TABLE yupdates ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  file_id TEXT NOT NULL REFERENCES ydocs(file_id) ON DELETE CASCADE,"
    "  data BLOB NOT NULL);"
    "CREATE INDEX yupdates_file ON yupdates (file_id, seq);",
    /* 2 -> 3: roles per path, the audit log, comment threads, reactions, notifications. The
     * modules that own these tables (td_acl.c, td_comments.c) prepare their own statements. */
    "CREATE TABLE grants ("
    "  path TEXT NOT NULL,"
    "  username TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,"
    "  role TEXT NOT NULL CHECK (role IN ('owner', 'editor', 'commenter', 'viewer')),"
    "  no_download INTEGER NOT NULL DEFAULT 0,"
    "  granted_by TEXT NOT NULL DEFAULT '',"
    "  created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),"
    "  PRIMARY KEY (path, username));"
    "CREATE TABLE audit ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  at TEXT NOT NULL,"
    "  username TEXT NOT NULL DEFAULT '',"
    "  action TEXT NOT NULL,"
    "  path TEXT NOT NULL DEFAULT '',"
    "  detail TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX audit_at ON audit (at);"
    "CREATE TABLE threads ("
    "  id TEXT PRIMARY KEY,"
    "  file_id TEXT NOT NULL,"
    "  cell_id TEXT NOT NULL,"
    "  range TEXT,"
    "  orphaned INTEGER NOT NULL DEFAULT 0,"
    "  resolved INTEGER NOT NULL DEFAULT 0,"
    "  resolved_by TEXT,"
    "  resolved_at TEXT,"
    "  created TEXT NOT NULL,"
    "  updated TEXT NOT NULL);"
    "CREATE INDEX threads_file ON threads (file_id, cell_id);"
    "CREATE TABLE comments ("
    "  id TEXT PRIMARY KEY,"
    "  thread_id TEXT NOT NULL REFERENCES threads(id) ON DELETE CASCADE,"
    "  author TEXT NOT NULL,"
    "  body TEXT NOT NULL,"
    "  created TEXT NOT NULL,"
    "  updated TEXT NOT NULL,"
    "  deleted_at TEXT);"
    "CREATE INDEX comments_thread ON comments (thread_id, created);"
    "CREATE TABLE reactions ("
    "  comment_id TEXT NOT NULL REFERENCES comments(id) ON DELETE CASCADE,"
    "  username TEXT NOT NULL,"
    "  emoji TEXT NOT NULL,"
    "  created TEXT NOT NULL,"
    "  PRIMARY KEY (comment_id, username, emoji));"
    "CREATE TABLE notifications ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  username TEXT NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  thread_id TEXT NOT NULL,"
    "  comment_id TEXT NOT NULL,"
    "  file_id TEXT NOT NULL,"
    "  actor TEXT NOT NULL,"
    "  created TEXT NOT NULL,"
    "  read INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX notifications_user ON notifications (username, id);",
    /* 3 -> 4: the hash of a room's seed while it is not in the log (rooms log it lazily). */
    "ALTER TABLE ydocs ADD COLUMN seed_hash TEXT NOT NULL DEFAULT '';",
};

enum {
    Q_USER_PUT, Q_USER_GET, Q_USER_READ, Q_TOKEN_PUT, Q_TOKEN_DEL, Q_TOKENS,
    Q_FILE_ID, Q_FILE_PATH, Q_FILE_ADD, Q_FILE_MOVE,
    Q_YDOC_GET, Q_YDOC_EPOCH, Q_YDOC_PUT, Q_YDOC_DISK, Q_YUPD_ADD, Q_YUPD_ALL, Q_YUPD_CLEAR,
    Q_BEGIN, Q_COMMIT, Q_COUNT
};

static const char *const s_sql[Q_COUNT] = {
    "INSERT INTO users (username, name, display_name, initials, color) VALUES (?1, ?2, ?3, ?4, ?5)"
    " ON CONFLICT (username) DO UPDATE SET name = ?2, display_name = ?3, initials = ?4, color = ?5",
    "SELECT 1 FROM users WHERE username = ?1",
    "SELECT username, name, display_name, initials, color FROM users WHERE username = ?1",
    "INSERT INTO tokens (digest, username) VALUES (?1, ?2)"
    " ON CONFLICT (digest) DO UPDATE SET username = ?2",
    "DELETE FROM tokens WHERE digest = ?1",
    "SELECT t.digest, u.username, u.name, u.display_name, u.initials, u.color"
    " FROM tokens t JOIN users u USING (username) ORDER BY t.rowid",
    "SELECT id FROM files WHERE path = ?1",
    "SELECT path FROM files WHERE id = ?1",
    "INSERT INTO files (id, path) VALUES (?1, ?2)",
    /* A rename moves the path and everything under it (a folder). */
    "UPDATE files SET path = ?2 || substr(path, length(?1) + 1)"
    " WHERE path = ?1 OR substr(path, 1, length(?1) + 1) = ?1 || '/'",
    "SELECT epoch, base, base_hash, disk_hash, seed_hash FROM ydocs WHERE file_id = ?1",
    "SELECT epoch FROM ydocs WHERE file_id = ?1",
    "INSERT INTO ydocs (file_id, epoch, base, base_hash, disk_hash, seed_hash)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (file_id) DO UPDATE"
    " SET epoch = ?2, base = ?3, base_hash = ?4, disk_hash = ?5, seed_hash = ?6",
    "UPDATE ydocs SET disk_hash = ?2 WHERE file_id = ?1",
    "INSERT INTO yupdates (file_id, data) VALUES (?1, ?2)",
    "SELECT data FROM yupdates WHERE file_id = ?1 ORDER BY seq",
    "DELETE FROM yupdates WHERE file_id = ?1",
    "BEGIN IMMEDIATE",
    "COMMIT",
};

struct td_store {
    sqlite3 *db;
    sqlite3_stmt *q[Q_COUNT];
    int version;
    int wal_pages; /* in the write-ahead log after the last commit (sqlite3_wal_hook) */
};

/* SQLite's own auto-checkpoint size: td_store_checkpoint does nothing below it. */
#define S_CHECKPOINT_PAGES 1000

static int s_wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    ((td_store_t *)arg)->wal_pages = pages;
    return SQLITE_OK;
}

static int s_fail(td_error_t *err, sqlite3 *db, const char *what)
{
    return td_error_set(err, TD_ESTATE, 0, "%s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
}

static int s_user_version(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Applies the missing migrations, each in its own transaction. */
static int s_migrate(td_store_t *self, td_error_t *err)
{
    int v = s_user_version(self->db);
    if (v < 0)
        return s_fail(err, self->db, "reading the schema version");
    if (v > TD_STORE_SCHEMA)
        return td_error_set(err, TD_ESTATE, 0,
                            "store schema %d is newer than this relay's (%d)", v, TD_STORE_SCHEMA);
    for (; v < TD_STORE_SCHEMA; v++) {
        char bump[64];
        snprintf(bump, sizeof bump, "PRAGMA user_version = %d;", v + 1);
        if (sqlite3_exec(self->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(self->db, s_migrations[v], NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(self->db, bump, NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(self->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            int rc = s_fail(err, self->db, "migrating the store");
            sqlite3_exec(self->db, "ROLLBACK", NULL, NULL, NULL);
            return rc;
        }
    }
    self->version = v;
    return 0;
}

td_store_t *td_store_open(const char *path, td_error_t *err)
{
    td_store_t *self = calloc(1, sizeof *self);
    if (!self) {
        td_error_set(err, TD_ENOMEM, 0, "out of memory");
        return NULL;
    }
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &self->db, flags, NULL) != SQLITE_OK) {
        s_fail(err, self->db, "opening the store");
        td_store_destroy(&self);
        return NULL;
    }
    sqlite3_busy_timeout(self->db, 2000);
    if (sqlite3_exec(self->db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                               "PRAGMA foreign_keys = ON;", NULL, NULL, NULL) != SQLITE_OK) {
        s_fail(err, self->db, "configuring the store");
        td_store_destroy(&self);
        return NULL;
    }
    /* Commits never checkpoint (the hook replaces SQLite's auto-checkpoint): td_store_checkpoint
     * does, from a timer, once the log holds as much as SQLite would have let it. */
    sqlite3_wal_hook(self->db, s_wal_hook, self);
    if (s_migrate(self, err) != 0) {
        td_store_destroy(&self);
        return NULL;
    }
    for (int i = 0; i < Q_COUNT; i++)
        if (sqlite3_prepare_v3(self->db, s_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &self->q[i],
                               NULL) != SQLITE_OK) {
            s_fail(err, self->db, "preparing statements");
            td_store_destroy(&self);
            return NULL;
        }
    return self;
}

void td_store_destroy(td_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    td_store_t *self = *self_p;
    for (int i = 0; i < Q_COUNT; i++)
        sqlite3_finalize(self->q[i]);
    sqlite3_close(self->db);
    free(self);
    *self_p = NULL;
}

int td_store_schema_version(td_store_t *self)
{
    return self->version;
}

/* Steps a write statement once and resets it. Returns the sqlite3_step code. */
static int s_run(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

int td_store_user_put(td_store_t *self, const td_user_t *u)
{
    sqlite3_stmt *st = self->q[Q_USER_PUT];
    const char *v[5] = {u->username, u->name, u->display_name, u->initials, u->color};
    for (int i = 0; i < 5; i++)
        sqlite3_bind_text(st, i + 1, v[i], -1, SQLITE_STATIC);
    return s_run(st) == SQLITE_DONE ? 0 : TD_ESTATE;
}

int td_store_token_put(td_store_t *self, const uint8_t digest[32], const char *username)
{
    sqlite3_stmt *get = self->q[Q_USER_GET];
    sqlite3_bind_text(get, 1, username, -1, SQLITE_STATIC);
    int found = s_run(get) == SQLITE_ROW;
    if (!found)
        return TD_ENOENT;
    sqlite3_stmt *st = self->q[Q_TOKEN_PUT];
    sqlite3_bind_blob(st, 1, digest, 32, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, username, -1, SQLITE_STATIC);
    return s_run(st) == SQLITE_DONE ? 0 : TD_ESTATE;
}

int td_store_token_remove(td_store_t *self, const uint8_t digest[32])
{
    sqlite3_stmt *st = self->q[Q_TOKEN_DEL];
    sqlite3_bind_blob(st, 1, digest, 32, SQLITE_STATIC);
    if (s_run(st) != SQLITE_DONE)
        return TD_ESTATE;
    return sqlite3_changes(self->db) ? 0 : TD_ENOENT;
}

static void s_col(sqlite3_stmt *st, int i, char *out, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(out, cap, "%s", t ? (const char *)t : "");
}

int td_store_tokens_foreach(td_store_t *self, td_store_token_fn *fn, void *arg)
{
    sqlite3_stmt *st = self->q[Q_TOKENS];
    int rc = 0, step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_bytes(st, 0) != 32)
            continue; /* the CHECK makes this impossible; never trust a file blindly */
        uint8_t digest[32];
        memcpy(digest, sqlite3_column_blob(st, 0), 32);
        td_user_t u;
        memset(&u, 0, sizeof u);
        s_col(st, 1, u.username, sizeof u.username);
        s_col(st, 2, u.name, sizeof u.name);
        s_col(st, 3, u.display_name, sizeof u.display_name);
        s_col(st, 4, u.initials, sizeof u.initials);
        s_col(st, 5, u.color, sizeof u.color);
        if ((rc = fn(digest, &u, arg)) != 0)
            break;
    }
    if (rc == 0 && step != SQLITE_DONE && step != SQLITE_ROW)
        rc = TD_ESTATE;
    sqlite3_reset(st);
    return rc;
}

/* ---- files and room histories ---------------------------------------------------------------- */

static int s_text1(td_store_t *self, int q, const char *key, char *out, size_t cap)
{
    sqlite3_stmt *st = self->q[q];
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int step = sqlite3_step(st), rc = TD_ESTATE;
    if (step == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        rc = t && (size_t)sqlite3_column_bytes(st, 0) < cap ? 0 : TD_E2BIG;
        if (rc == 0)
            memcpy(out, t, (size_t)sqlite3_column_bytes(st, 0) + 1);
    } else if (step == SQLITE_DONE) {
        rc = TD_ENOENT;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

int td_store_file_id(td_store_t *self, const char *path, char *out, size_t cap)
{
    return s_text1(self, Q_FILE_ID, path, out, cap);
}

int td_store_file_path(td_store_t *self, const char *id, char *out, size_t cap)
{
    return s_text1(self, Q_FILE_PATH, id, out, cap);
}

int td_store_file_add(td_store_t *self, const char *path, const char *id)
{
    sqlite3_stmt *st = self->q[Q_FILE_ADD];
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC);
    return s_run(st) == SQLITE_DONE ? 0 : TD_ESTATE;
}

int td_store_file_move(td_store_t *self, const char *from, const char *to)
{
    sqlite3_stmt *st = self->q[Q_FILE_MOVE];
    sqlite3_bind_text(st, 1, from, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, to, -1, SQLITE_STATIC);
    return s_run(st) == SQLITE_DONE ? 0 : TD_ESTATE;
}

int td_store_ydoc_epoch(td_store_t *self, const char *file_id, char *epoch, size_t cap)
{
    return s_text1(self, Q_YDOC_EPOCH, file_id, epoch, cap);
}

int td_store_ydoc_get(td_store_t *self, const char *file_id, td_store_ydoc_t *out)
{
    sqlite3_stmt *st = self->q[Q_YDOC_GET];
    sqlite3_bind_text(st, 1, file_id, -1, SQLITE_STATIC);
    int step = sqlite3_step(st), rc = step == SQLITE_DONE ? TD_ENOENT : TD_ESTATE;
    if (step == SQLITE_ROW) {
        size_t n = (size_t)sqlite3_column_bytes(st, 1);
        const void *b = sqlite3_column_blob(st, 1);
        out->base = malloc(n + 1);
        rc = out->base ? 0 : TD_ENOMEM;
        if (rc == 0) {
            if (n)
                memcpy(out->base, b, n);
            out->base[n] = '\0';
            out->base_len = n;
            s_col(st, 0, out->epoch, sizeof out->epoch);
            s_col(st, 2, out->base_hash, sizeof out->base_hash);
            s_col(st, 3, out->disk_hash, sizeof out->disk_hash);
            s_col(st, 4, out->seed_hash, sizeof out->seed_hash);
        }
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

int td_store_ydoc_put(td_store_t *self, const char *file_id, const td_store_ydoc_t *rec)
{
    sqlite3_stmt *st = self->q[Q_YDOC_PUT];
    sqlite3_bind_text(st, 1, file_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, rec->epoch, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, rec->base ? rec->base : "", (int)rec->base_len, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, rec->base_hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, rec->disk_hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, rec->seed_hash, -1, SQLITE_STATIC);
    return s_run(st) == SQLITE_DONE ? 0 : TD_ESTATE;
}

int td_store_ydoc_disk(td_store_t *self, const char *file_id, const char *disk_hash)
{
    sqlite3_stmt *st = self->q[Q_YDOC_DISK];
    sqlite3_bind_text(st, 1, file_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, disk_hash, -1, SQLITE_STATIC);
    return s_run(st) == SQLITE_DONE ? 0 : TD_ESTATE;
}

int td_store_yupdate_add(td_store_t *self, const char *file_id, const uint8_t *data, size_t len)
{
    sqlite3_stmt *st = self->q[Q_YUPD_ADD];
    sqlite3_bind_text(st, 1, file_id, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, data, (int)len, SQLITE_STATIC);
    return s_run(st) == SQLITE_DONE ? 0 : TD_ESTATE;
}

int td_store_yupdates_foreach(td_store_t *self, const char *file_id, td_store_blob_fn *fn,
                              void *arg)
{
    sqlite3_stmt *st = self->q[Q_YUPD_ALL];
    sqlite3_bind_text(st, 1, file_id, -1, SQLITE_STATIC);
    int rc = 0, step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        if ((rc = fn(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), arg)) != 0)
            break;
    if (rc == 0 && step != SQLITE_DONE && step != SQLITE_ROW)
        rc = TD_ESTATE;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

int td_store_yupdates_replace(td_store_t *self, const char *file_id, const uint8_t *snapshot,
                              size_t len)
{
    sqlite3_stmt *st = self->q[Q_YUPD_CLEAR];
    sqlite3_bind_text(st, 1, file_id, -1, SQLITE_STATIC);
    if (s_run(st) != SQLITE_DONE)
        return TD_ESTATE;
    return td_store_yupdate_add(self, file_id, snapshot, len);
}

int td_store_begin(td_store_t *self)
{
    if (!sqlite3_get_autocommit(self->db))
        return 0;
    return s_run(self->q[Q_BEGIN]) == SQLITE_DONE ? 0 : TD_ESTATE;
}

int td_store_commit(td_store_t *self)
{
    if (sqlite3_get_autocommit(self->db))
        return 0;
    return s_run(self->q[Q_COMMIT]) == SQLITE_DONE ? 0 : TD_ESTATE;
}

int td_store_checkpoint(td_store_t *self)
{
    if (self->wal_pages < S_CHECKPOINT_PAGES)
        return 0;
    if (!sqlite3_get_autocommit(self->db))
        return TD_ESTATE;
    int log = 0, done = 0;
    int rc = sqlite3_wal_checkpoint_v2(self->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
    if (rc == SQLITE_OK && done == log)
        self->wal_pages = 0; /* the next commit starts the log over */
    return rc == SQLITE_OK ? 0 : TD_ESTATE;
}

/* ---- users, and the handle other modules prepare their own statements on -------------------- */

int td_store_user_get(td_store_t *self, const char *username, td_user_t *out)
{
    sqlite3_stmt *st = self->q[Q_USER_READ];
    sqlite3_bind_text(st, 1, username, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW && out) {
        memset(out, 0, sizeof *out);
        s_col(st, 0, out->username, sizeof out->username);
        s_col(st, 1, out->name, sizeof out->name);
        s_col(st, 2, out->display_name, sizeof out->display_name);
        s_col(st, 3, out->initials, sizeof out->initials);
        s_col(st, 4, out->color, sizeof out->color);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return step == SQLITE_ROW ? 0 : step == SQLITE_DONE ? TD_ENOENT : TD_ESTATE;
}

struct sqlite3 *td_store_db(td_store_t *self)
{
    return self->db;
}
