/* test_td_store.c: the relay's SQLite store: a fresh file gets the current schema in WAL mode;
 * users and token digests survive a close and reopen; a token moves between users; removal; a
 * token for an unknown user is refused; a file from a newer relay is refused; tokens never appear
 * in the file in plain text (only their digests do). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "td/td_sha.h"
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
