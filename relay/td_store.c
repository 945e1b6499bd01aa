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
};

enum { Q_USER_PUT, Q_USER_GET, Q_TOKEN_PUT, Q_TOKEN_DEL, Q_TOKENS, Q_COUNT };

static const char *const s_sql[Q_COUNT] = {
    "INSERT INTO users (username, name, display_name, initials, color) VALUES (?1, ?2, ?3, ?4, ?5)"
    " ON CONFLICT (username) DO UPDATE SET name = ?2, display_name = ?3, initials = ?4, color = ?5",
    "SELECT 1 FROM users WHERE username = ?1",
    "INSERT INTO tokens (digest, username) VALUES (?1, ?2)"
    " ON CONFLICT (digest) DO UPDATE SET username = ?2",
    "DELETE FROM tokens WHERE digest = ?1",
    "SELECT t.digest, u.username, u.name, u.display_name, u.initials, u.color"
    " FROM tokens t JOIN users u USING (username) ORDER BY t.rowid",
};

struct td_store {
    sqlite3 *db;
    sqlite3_stmt *q[Q_COUNT];
    int version;
};

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
