/* test_td_store.c: the relay's SQLite store: a fresh file gets the current schema in WAL mode;
 * users and token digests survive a close and reopen; a token moves between users; removal; a
 * token for an unknown user is refused; a file from a newer relay is refused; tokens never appear
 * in the file in plain text (only their digests do). File ids follow renames of a file and of its
 * folder; a room's record and log survive a reopen; compaction replaces the log by one snapshot;
 * the group transaction commits what was written inside it; commits leave their pages in the
 * write-ahead log and td_store_checkpoint moves them to the file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "td/td_sha.h"
#include <sys/stat.h>

#include "td_store.h"
#include "test.h"

#include <sqlite3.h>

static void s_digest(const char *token, uint8_t out[32])
{
    td_sha_t s;
    td_sha_init(&s, TD_SHA256);
    td_sha_update(&s, token, strlen(token));
    td_sha_final(&s, out);
}

typedef struct {
    int n;
    char names[4][128];
    uint8_t digests[4][32];
} s_seen_t;

static int s_collect(const uint8_t digest[32], const td_user_t *u, void *arg)
{
    s_seen_t *s = arg;
    if (s->n < 4) {
        snprintf(s->names[s->n], sizeof s->names[0], "%s", u->username);
        memcpy(s->digests[s->n], digest, 32);
    }
    s->n++;
    return 0;
}

typedef struct {
    int n;
    char data[4][16];
} s_log_t;

static int s_log(const void *data, size_t len, void *arg)
{
    s_log_t *l = arg;
    if (l->n < 4)
        snprintf(l->data[l->n], sizeof l->data[0], "%.*s", (int)len, (const char *)data);
    l->n++;
    return 0;
}

static void s_rooms(const char *path)
{
    td_error_t err = {0};
    td_store_t *st = td_store_open(path, &err);
    TD_ASSERT(st != NULL);
    char id[64], p[256];
    TD_ASSERT_EQ(td_store_file_id(st, "a/nb.ipynb", id, sizeof id), TD_ENOENT);
    TD_ASSERT_OK(td_store_file_add(st, "a/nb.ipynb", "id-1"));
    TD_ASSERT_OK(td_store_file_add(st, "ab.txt", "id-2"));
    TD_ASSERT(td_store_file_add(st, "ab.txt", "id-3") != 0); /* a path has one id */
    TD_ASSERT_OK(td_store_file_move(st, "a", "b/c"));       /* a folder rename */
    TD_ASSERT_OK(td_store_file_id(st, "b/c/nb.ipynb", id, sizeof id));
    TD_ASSERT_STR_EQ(id, "id-1");
    TD_ASSERT_OK(td_store_file_path(st, "id-2", p, sizeof p)); /* "a" is not a prefix of "ab" */
    TD_ASSERT_STR_EQ(p, "ab.txt");
    TD_ASSERT_OK(td_store_file_move(st, "b/c/nb.ipynb", "nb2.ipynb"));
    TD_ASSERT_OK(td_store_file_path(st, "id-1", p, sizeof p));
    TD_ASSERT_STR_EQ(p, "nb2.ipynb");
    TD_ASSERT_EQ(td_store_file_path(st, "id-9", p, sizeof p), TD_ENOENT);

    td_store_ydoc_t rec = {.base = NULL}, got = {.base = NULL};
    char epoch[64];
    TD_ASSERT_EQ(td_store_ydoc_get(st, "id-1", &got), TD_ENOENT);
    TD_ASSERT_EQ(td_store_ydoc_epoch(st, "id-1", epoch, sizeof epoch), TD_ENOENT);
    snprintf(rec.epoch, sizeof rec.epoch, "ep-1");
    rec.base = "{}";
    rec.base_len = 2;
    snprintf(rec.base_hash, sizeof rec.base_hash, "h1");
    snprintf(rec.disk_hash, sizeof rec.disk_hash, "h1");
    snprintf(rec.seed_hash, sizeof rec.seed_hash, "s1");
    TD_ASSERT_OK(td_store_begin(st));
    TD_ASSERT_OK(td_store_ydoc_put(st, "id-1", &rec));
    TD_ASSERT_OK(td_store_yupdate_add(st, "id-1", (const uint8_t *)"u1", 2));
    TD_ASSERT_OK(td_store_yupdate_add(st, "id-1", (const uint8_t *)"u2", 2));
    TD_ASSERT_OK(td_store_commit(st));
    TD_ASSERT_OK(td_store_commit(st)); /* nothing open: fine */
    td_store_destroy(&st);

    st = td_store_open(path, &err);
    TD_ASSERT(st != NULL);
    TD_ASSERT_OK(td_store_ydoc_get(st, "id-1", &got));
    TD_ASSERT_STR_EQ(got.epoch, "ep-1");
    TD_ASSERT_STR_EQ(got.base, "{}");
    TD_ASSERT_EQ(got.base_len, 2);
    TD_ASSERT_STR_EQ(got.base_hash, "h1");
    TD_ASSERT_STR_EQ(got.disk_hash, "h1");
    TD_ASSERT_STR_EQ(got.seed_hash, "s1");
    free(got.base);
    s_log_t log = {0};
    TD_ASSERT_OK(td_store_yupdates_foreach(st, "id-1", s_log, &log));
    TD_ASSERT_EQ(log.n, 2);
    TD_ASSERT_STR_EQ(log.data[0], "u1");
    TD_ASSERT_STR_EQ(log.data[1], "u2");
    TD_ASSERT_OK(td_store_ydoc_disk(st, "id-1", "h2")); /* a save: only the hash */
    TD_ASSERT_OK(td_store_yupdates_replace(st, "id-1", (const uint8_t *)"snap", 4));
    memset(&log, 0, sizeof log);
    TD_ASSERT_OK(td_store_yupdates_foreach(st, "id-1", s_log, &log));
    TD_ASSERT_EQ(log.n, 1);
    TD_ASSERT_STR_EQ(log.data[0], "snap");
    TD_ASSERT_OK(td_store_ydoc_get(st, "id-1", &got));
    TD_ASSERT_STR_EQ(got.base, "{}");
    TD_ASSERT_STR_EQ(got.base_hash, "h1");
    TD_ASSERT_STR_EQ(got.disk_hash, "h2");
    free(got.base);
    TD_ASSERT_OK(td_store_ydoc_epoch(st, "id-1", epoch, sizeof epoch));
    TD_ASSERT_STR_EQ(epoch, "ep-1");
    /* Commits leave 5 MB in the write-ahead log; the checkpoint moves it to the file. */
    struct stat before, mid, after;
    static uint8_t big[5 << 20];
    TD_ASSERT(stat(path, &before) == 0);
    TD_ASSERT_OK(td_store_begin(st));
    TD_ASSERT_OK(td_store_yupdate_add(st, "id-1", big, sizeof big));
    TD_ASSERT_OK(td_store_commit(st));
    TD_ASSERT(stat(path, &mid) == 0 && mid.st_size == before.st_size);
    TD_ASSERT_OK(td_store_begin(st));
    TD_ASSERT_EQ(td_store_checkpoint(st), TD_ESTATE); /* not inside a transaction */
    TD_ASSERT_OK(td_store_commit(st));
    TD_ASSERT_OK(td_store_checkpoint(st));
    TD_ASSERT(stat(path, &after) == 0 && after.st_size >= before.st_size + (off_t)sizeof big);
    td_store_destroy(&st);
}

static int s_file_contains(const char *path, const char *needle)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    for (size_t i = 0; i + strlen(needle) <= n; i++)
        if (memcmp(buf + i, needle, strlen(needle)) == 0)
            return 1;
    return 0;
}

void test_td_store(void)
{
    char dir[] = "/tmp/td-store-XXXXXX";
    TD_ASSERT(mkdtemp(dir) != NULL);
    char path[256], wal[300];
    snprintf(path, sizeof path, "%s/tandem.sqlite", dir);
    snprintf(wal, sizeof wal, "%s-wal", path);
    td_error_t err = {0};

    td_store_t *st = td_store_open(path, &err);
    TD_ASSERT(st != NULL);
    TD_ASSERT_EQ(td_store_schema_version(st), TD_STORE_SCHEMA);
    TD_ASSERT_EQ(td_store_user_get(st, "nobody", NULL), TD_ENOENT);
    td_user_t alice = {.username = "alice", .name = "Alice L", .display_name = "Alice",
                       .initials = "AL", .color = "#e91e63"};
    td_user_t bob = {.username = "bob", .name = "Bob", .display_name = "Bob B.", .initials = "BB"};
    TD_ASSERT_OK(td_store_user_put(st, &alice));
    TD_ASSERT_OK(td_store_user_put(st, &bob));
    uint8_t da[32], db[32], dx[32];
    s_digest("alice-secret-token", da);
    s_digest("bob-secret-token", db);
    s_digest("nobody-token", dx);
    TD_ASSERT_OK(td_store_token_put(st, da, "alice"));
    TD_ASSERT_OK(td_store_token_put(st, db, "alice"));
    TD_ASSERT_OK(td_store_token_put(st, db, "bob")); /* moves to bob */
    TD_ASSERT_EQ(td_store_token_put(st, dx, "carol"), TD_ENOENT);
    alice.color[0] = '\0';
    snprintf(alice.display_name, sizeof alice.display_name, "Alice Liddell");
    TD_ASSERT_OK(td_store_user_put(st, &alice)); /* update in place */
    TD_ASSERT(access(wal, F_OK) == 0);           /* WAL mode */
    td_store_destroy(&st);
    TD_ASSERT(st == NULL);
    td_store_destroy(&st); /* NULL-safe */

    st = td_store_open(path, &err);
    TD_ASSERT(st != NULL);
    s_seen_t seen = {0};
    TD_ASSERT_OK(td_store_tokens_foreach(st, s_collect, &seen));
    TD_ASSERT_EQ(seen.n, 2);
    TD_ASSERT_STR_EQ(seen.names[0], "alice");
    TD_ASSERT_STR_EQ(seen.names[1], "bob");
    TD_ASSERT(memcmp(seen.digests[0], da, 32) == 0);
    TD_ASSERT(memcmp(seen.digests[1], db, 32) == 0);
    TD_ASSERT_OK(td_store_token_remove(st, da));
    TD_ASSERT_EQ(td_store_token_remove(st, da), TD_ENOENT);
    memset(&seen, 0, sizeof seen);
    TD_ASSERT_OK(td_store_tokens_foreach(st, s_collect, &seen));
    TD_ASSERT_EQ(seen.n, 1);
    td_store_destroy(&st);
    TD_ASSERT(!s_file_contains(path, "secret-token") && !s_file_contains(wal, "secret-token"));

    s_rooms(path);

    /* A file written by a newer relay is refused, not silently used. */
    sqlite3 *raw = NULL;
    TD_ASSERT_EQ(sqlite3_open(path, &raw), SQLITE_OK);
    TD_ASSERT_EQ(sqlite3_exec(raw, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);
    st = td_store_open(path, &err);
    TD_ASSERT(st == NULL);
    TD_ASSERT(strstr(err.text, "newer") != NULL);

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    TD_ASSERT_EQ(system(cmd), 0);
}
