/* test_td_acl.c: roles per path and their enforcement rules. The exact role x action matrix (with
 * and without no-download); a folder's grant reaches everything under it but not a sibling that
 * shares its prefix; the longest prefix wins even when it grants less; the admin is owner
 * everywhere; the default and open roles; grants CRUD with its refusals, the memo following every
 * change, persistence across a reopen and pick-up of another connection's changes by refresh; the
 * audit log's filters and order; the failed-login limiter's timeline and its bounded table. Ends
 * (the cost of a role check is measured by tests/bench/bench_acl.c, not here). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "td_acl.h"
#include "td_store.h"
#include "test.h"

/* A clock that starts at 2025-01-01T00:00:00Z and advances 1 ms per reading. */
static int64_t s_clock_us = 1735689600000000LL;
static int64_t s_now(void *arg)
{
    s_clock_us += 1000;
    return s_clock_us;
}

static void s_user(td_store_t *st, const char *name)
{
    td_user_t u = {0};
    snprintf(u.username, sizeof u.username, "%s", name);
    snprintf(u.name, sizeof u.name, "%s", name);
    snprintf(u.display_name, sizeof u.display_name, "%s", name);
    TD_ASSERT_OK(td_store_user_put(st, &u));
}

static void s_matrix(void)
{
    /* Rows: none, viewer, commenter, editor, owner. Columns: the td_acl_action_t order:
     * read, edit_document, execute, save, rename, delete, download, comment, resolve, grant. */
    /* clang-format off */
    static const int want[5][TD_ACL_ACTION_COUNT] = {
        {0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
        {1, 0, 0, 0, 0, 0, 1, 0, 0, 0},
        {1, 0, 0, 0, 0, 0, 1, 1, 1, 0},
        {1, 1, 1, 1, 1, 1, 1, 1, 1, 0},
        {1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
    };
    /* clang-format on */
    TD_ASSERT_EQ(TD_ACL_ACTION_COUNT, 10);
    for (int r = TD_ROLE_NONE; r <= TD_ROLE_OWNER; r++)
        for (int a = 0; a < TD_ACL_ACTION_COUNT; a++) {
            int got = td_acl_allows((td_role_t)r, 0, (td_acl_action_t)a);
            if (got != want[r][a])
                TD_FAIL("%s may %s: got %d, want %d", td_role_name(r), td_acl_action_name(a), got,
                        want[r][a]);
            /* no-download removes DOWNLOAD and nothing else. */
            int nd = td_acl_allows((td_role_t)r, 1, (td_acl_action_t)a);
            int want_nd = a == TD_ACL_DOWNLOAD ? 0 : want[r][a];
            if (nd != want_nd)
                TD_FAIL("%s (no-download) may %s: got %d, want %d", td_role_name(r),
                        td_acl_action_name(a), nd, want_nd);
        }
    TD_ASSERT_EQ(td_acl_allows(TD_ROLE_OWNER, 0, TD_ACL_ACTION_COUNT), 0);
    TD_ASSERT_EQ(td_acl_allows((td_role_t)7, 0, TD_ACL_READ), 0);
    TD_ASSERT_STR_EQ(td_acl_action_name(TD_ACL_EDIT_DOCUMENT), "edit_document");
    TD_ASSERT_STR_EQ(td_acl_action_name(TD_ACL_ACTION_COUNT), "unknown");
    for (int r = TD_ROLE_VIEWER; r <= TD_ROLE_OWNER; r++)
        TD_ASSERT_EQ(td_role_parse(td_role_name(r)), r);
    TD_ASSERT_EQ(td_role_parse("none"), TD_ROLE_NONE);
    TD_ASSERT_EQ(td_role_parse("Owner"), TD_ROLE_NONE);
    TD_ASSERT_EQ(td_role_parse(NULL), TD_ROLE_NONE);
}

static void s_roles(const char *path, td_env_t *env)
{
    td_error_t err = {0};
    td_store_t *st = td_store_open(path, &err);
    TD_ASSERT(st);
    s_user(st, "alice");
    s_user(st, "bob");
    s_user(st, "carol");
    td_acl_t *acl = td_acl_new(st, env);
    TD_ASSERT(acl);
    TD_ASSERT_OK(td_acl_set_admin(acl, "tandem"));

    /* No grants: the default role, then the open role, apply to everyone but the admin. */
    TD_ASSERT_EQ(td_acl_has_grants(acl), 0);
    TD_ASSERT_EQ(td_acl_role(acl, "alice", "x.ipynb", NULL), TD_ROLE_NONE);
    td_acl_set_default_role(acl, TD_ROLE_EDITOR);
    TD_ASSERT_EQ(td_acl_role(acl, "alice", "x.ipynb", NULL), TD_ROLE_EDITOR);
    td_acl_set_default_role(acl, TD_ROLE_NONE);
    td_acl_set_open_role(acl, TD_ROLE_EDITOR);
    TD_ASSERT_EQ(td_acl_role(acl, "alice", "x.ipynb", NULL), TD_ROLE_EDITOR);
    TD_ASSERT_EQ(td_acl_role(acl, "tandem", "x.ipynb", NULL), TD_ROLE_OWNER);
    TD_ASSERT_EQ(td_acl_role(acl, "", "x.ipynb", NULL), TD_ROLE_NONE);
    TD_ASSERT_EQ(td_acl_role(acl, NULL, "x.ipynb", NULL), TD_ROLE_NONE);

    /* A folder grants to everything under it, not to a sibling sharing its prefix. */
    TD_ASSERT_OK(td_acl_grant(acl, "a", "alice", TD_ROLE_EDITOR, 0, "tandem"));
    TD_ASSERT_EQ(td_acl_has_grants(acl), 1);
    int nd = -1;
    TD_ASSERT_EQ(td_acl_role(acl, "alice", "a/b.ipynb", &nd), TD_ROLE_EDITOR);
    TD_ASSERT_EQ(nd, 0);
    TD_ASSERT_EQ(td_acl_role(acl, "alice", "a/c/d", NULL), TD_ROLE_EDITOR);
    TD_ASSERT_EQ(td_acl_role(acl, "alice", "a", NULL), TD_ROLE_EDITOR);
    TD_ASSERT_EQ(td_acl_role(acl, "alice", "/a/c/", NULL), TD_ROLE_EDITOR);
    TD_ASSERT_EQ(td_acl_role(acl, "alice", "ab.txt", NULL), TD_ROLE_NONE);
    TD_ASSERT_EQ(td_acl_role(acl, "alice", "", NULL), TD_ROLE_NONE);
    /* With grants in the store the open role no longer applies: carol gets the default. */
    TD_ASSERT_EQ(td_acl_role(acl, "carol", "a/b.ipynb", NULL), TD_ROLE_NONE);
    td_acl_set_default_role(acl, TD_ROLE_VIEWER);
    TD_ASSERT_EQ(td_acl_role(acl, "carol", "a/b.ipynb", NULL), TD_ROLE_VIEWER);
    TD_ASSERT_EQ(td_acl_role(acl, "alice", "ab.txt", NULL), TD_ROLE_VIEWER);
    td_acl_set_default_role(acl, TD_ROLE_NONE);

    /* The longest prefix wins, even when it grants less. */
    TD_ASSERT_OK(td_acl_grant(acl, "a/secret", "alice", TD_ROLE_VIEWER, 1, "tandem"));
    TD_ASSERT_EQ(td_acl_role(acl, "alice", "a/secret/x.csv", &nd), TD_ROLE_VIEWER);
    TD_ASSERT_EQ(nd, 1);
    TD_ASSERT_EQ(td_acl_role(acl, "alice", "a/secretive.txt", &nd), TD_ROLE_EDITOR);
    TD_ASSERT_EQ(nd, 0);
    TD_ASSERT_OK(td_acl_grant(acl, "", "bob", TD_ROLE_OWNER, 0, NULL));
    TD_ASSERT_OK(td_acl_grant(acl, "a/b.ipynb", "bob", TD_ROLE_COMMENTER, 0, "bob"));
    TD_ASSERT_EQ(td_acl_role(acl, "bob", "zzz/q.ipynb", NULL), TD_ROLE_OWNER);
    TD_ASSERT_EQ(td_acl_role(acl, "bob", "a/b.ipynb", NULL), TD_ROLE_COMMENTER);
    TD_ASSERT_EQ(td_acl_role(acl, "bob", "a/b.ipynb.bak", NULL), TD_ROLE_OWNER);
    TD_ASSERT_EQ(td_acl_can_grant(acl, "bob", "a"), 1);
    TD_ASSERT_EQ(td_acl_can_grant(acl, "bob", "a/b.ipynb"), 0);
    TD_ASSERT_EQ(td_acl_can_grant(acl, "alice", "a"), 0);
    TD_ASSERT_EQ(td_acl_can_grant(acl, "tandem", "a/secret"), 1);
    /* td_acl_can is the role and the rule table in one call. */
    TD_ASSERT_EQ(td_acl_can(acl, "bob", "a/b.ipynb", TD_ACL_COMMENT), 1);
    TD_ASSERT_EQ(td_acl_can(acl, "bob", "a/b.ipynb", TD_ACL_EDIT_DOCUMENT), 0);
    TD_ASSERT_EQ(td_acl_can(acl, "bob", "zzz/q.ipynb", TD_ACL_GRANT), 1);
    TD_ASSERT_EQ(td_acl_can(acl, "nobody", "a/b.ipynb", TD_ACL_READ), 0);
    /* The admin stays owner under any grant, and no_download is 0 for it. */
    TD_ASSERT_EQ(td_acl_role(acl, "tandem", "a/secret/x.csv", &nd), TD_ROLE_OWNER);
    TD_ASSERT_EQ(nd, 0);
    TD_ASSERT_OK(td_acl_set_admin(acl, NULL));
    TD_ASSERT_EQ(td_acl_role(acl, "tandem", "a/secret/x.csv", NULL), TD_ROLE_NONE);
    TD_ASSERT_OK(td_acl_set_admin(acl, "tandem"));

    /* Refusals. */
    TD_ASSERT_EQ(td_acl_grant(acl, "a", "mallory", TD_ROLE_EDITOR, 0, NULL), TD_ENOENT);
    TD_ASSERT_EQ(td_acl_grant(acl, "a", "alice", TD_ROLE_NONE, 0, NULL), TD_EINVAL);
    TD_ASSERT_EQ(td_acl_grant(acl, "a", "alice", (td_role_t)9, 0, NULL), TD_EINVAL);
    TD_ASSERT_EQ(td_acl_grant(acl, "a/../b", "alice", TD_ROLE_EDITOR, 0, NULL), TD_EINVAL);
    TD_ASSERT_EQ(td_acl_grant(acl, "a//b", "alice", TD_ROLE_EDITOR, 0, NULL), TD_EINVAL);
    TD_ASSERT_EQ(td_acl_grant(acl, "./a", "alice", TD_ROLE_EDITOR, 0, NULL), TD_EINVAL);
    TD_ASSERT_EQ(td_acl_grant(acl, "a", NULL, TD_ROLE_EDITOR, 0, NULL), TD_EINVAL);

    /* Re-granting replaces role and flag; the memo follows (the answer was cached above). */
    TD_ASSERT_OK(td_acl_grant(acl, "/a/secret/", "alice", TD_ROLE_COMMENTER, 0, "bob"));
    TD_ASSERT_EQ(td_acl_role(acl, "alice", "a/secret/x.csv", &nd), TD_ROLE_COMMENTER);
    TD_ASSERT_EQ(nd, 0);

    /* The listing: everything, then one folder and what is under it (not "ab"). */
    s_user(st, "dave");
    TD_ASSERT_OK(td_acl_grant(acl, "ab", "dave", TD_ROLE_VIEWER, 0, NULL));
    json_t *all = td_acl_grants_json(acl, NULL);
    TD_ASSERT_EQ(json_array_size(all), 5);
    json_t *g0 = json_array_get(all, 0); /* ordered by path: "" first */
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(g0, "path")), "");
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(g0, "username")), "bob");
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(g0, "role")), "owner");
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(g0, "granted_by")), "");
    TD_ASSERT(json_is_false(json_object_get(g0, "no_download")));
    TD_ASSERT(strlen(json_string_value(json_object_get(g0, "created"))) >= 20);
    json_decref(all);
    json_t *under = td_acl_grants_json(acl, "a");
    TD_ASSERT_EQ(json_array_size(under), 3);
    const char *want_paths[] = {"a", "a/b.ipynb", "a/secret"};
    for (size_t i = 0; i < 3; i++)
        TD_ASSERT_STR_EQ(json_string_value(json_object_get(json_array_get(under, i), "path")),
                         want_paths[i]);
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(json_array_get(under, 2), "granted_by")),
                     "bob");
    json_decref(under);
    json_t *none = td_acl_grants_json(acl, "nothing/here");
    TD_ASSERT_EQ(json_array_size(none), 0);
    json_decref(none);

    /* Revoke: the covering grant falls back to the next prefix; a second revoke is ENOENT. */
    TD_ASSERT_OK(td_acl_revoke(acl, "a/secret", "alice"));
    TD_ASSERT_EQ(td_acl_revoke(acl, "a/secret", "alice"), TD_ENOENT);
    TD_ASSERT_EQ(td_acl_revoke(acl, "a", "carol"), TD_ENOENT);
    TD_ASSERT_EQ(td_acl_role(acl, "alice", "a/secret/x.csv", NULL), TD_ROLE_EDITOR);

    /* The memo stays right past its bound (it is emptied and refilled). */
    for (int i = 0; i < 10000; i++) {
        char p[64];
        snprintf(p, sizeof p, "%s/n%d.ipynb", i % 2 ? "a" : "b", i);
        TD_ASSERT_EQ(td_acl_role(acl, "alice", p, NULL), i % 2 ? TD_ROLE_EDITOR : TD_ROLE_NONE);
    }

    /* Another connection (the CLI while the relay runs) changes grants: refresh picks it up. */
    td_store_t *st2 = td_store_open(path, &err);
    TD_ASSERT(st2);
    td_acl_t *acl2 = td_acl_new(st2, env);
    TD_ASSERT(acl2);
    TD_ASSERT_EQ(td_acl_refresh(acl), 0);
    TD_ASSERT_OK(td_acl_grant(acl2, "a", "carol", TD_ROLE_EDITOR, 1, "cli"));
    TD_ASSERT_EQ(td_acl_role(acl, "carol", "a/b.ipynb", NULL), TD_ROLE_NONE); /* stale until */
    TD_ASSERT_EQ(td_acl_refresh(acl), 1);
    TD_ASSERT_EQ(td_acl_role(acl, "carol", "a/b.ipynb", &nd), TD_ROLE_EDITOR);
    TD_ASSERT_EQ(nd, 1);
    TD_ASSERT_EQ(td_acl_refresh(acl), 0);
    /* Removing a user (as `users remove` does) cascades to its grants. */
    TD_ASSERT_OK(sqlite3_exec(td_store_db(st2), "DELETE FROM users WHERE username = 'carol'", NULL,
                              NULL, NULL));
    TD_ASSERT_EQ(td_acl_refresh(acl), 1);
    TD_ASSERT_EQ(td_acl_role(acl, "carol", "a/b.ipynb", NULL), TD_ROLE_NONE);
    td_acl_destroy(&acl2);
    td_store_destroy(&st2);

    /* Grants survive a reopen. Revoking all of them brings the open role back. */
    td_acl_destroy(&acl);
    TD_ASSERT(acl == NULL);
    td_acl_destroy(&acl); /* NULL-safe */
    td_store_destroy(&st);
    st = td_store_open(path, &err);
    acl = td_acl_new(st, env);
    TD_ASSERT(acl);
    TD_ASSERT_EQ(td_acl_role(acl, "alice", "a/c/d", NULL), TD_ROLE_EDITOR);
    TD_ASSERT_EQ(td_acl_role(acl, "bob", "a/b.ipynb", NULL), TD_ROLE_COMMENTER);
    td_acl_set_open_role(acl, TD_ROLE_EDITOR);
    json_t *left = td_acl_grants_json(acl, "");
    size_t i;
    json_t *g;
    json_array_foreach(left, i, g)
    {
        TD_ASSERT_OK(td_acl_revoke(acl, json_string_value(json_object_get(g, "path")),
                                   json_string_value(json_object_get(g, "username"))));
    }
    json_decref(left);
    TD_ASSERT_EQ(td_acl_has_grants(acl), 0);
    TD_ASSERT_EQ(td_acl_role(acl, "alice", "ab.txt", NULL), TD_ROLE_EDITOR);
    td_acl_destroy(&acl);
    td_store_destroy(&st);
}

static void s_audit(const char *path, td_env_t *env)
{
    td_error_t err = {0};
    td_store_t *st = td_store_open(path, &err);
    TD_ASSERT(st);
    td_acl_t *acl = td_acl_new(st, env);
    TD_ASSERT(acl);
    s_clock_us = 1735689600000000LL; /* the next entry is at 00:00:00.001 */
    TD_ASSERT_OK(td_acl_audit(acl, "alice", "open", "a/b.ipynb", NULL));
    TD_ASSERT_OK(td_acl_audit(acl, "bob", "download", "a/b.ipynb", "as=ipynb"));
    s_clock_us += 3600 * 1000000LL; /* one hour later */
    TD_ASSERT_OK(td_acl_audit(acl, "alice", "execute", "a/b.ipynb", "kernel=k1"));
    TD_ASSERT_OK(td_acl_audit(acl, NULL, "auth_failed", NULL, "ip=10.0.0.9"));
    TD_ASSERT_OK(td_acl_audit(acl, "alice", "open", "c.ipynb", ""));
    TD_ASSERT_EQ(td_acl_audit(acl, "alice", "", "c.ipynb", ""), TD_EINVAL);
    TD_ASSERT_EQ(td_acl_audit(acl, "alice", NULL, "c.ipynb", ""), TD_EINVAL);

    json_t *all = td_acl_audit_query(acl, NULL, NULL, NULL, 0);
    TD_ASSERT_EQ(json_array_size(all), 5);
    json_t *e = json_array_get(all, 0); /* newest first */
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(e, "action")), "open");
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(e, "path")), "c.ipynb");
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(e, "at")), "2025-01-01T01:00:00.005Z");
    json_t *last = json_array_get(all, 4);
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(last, "at")), "2025-01-01T00:00:00.001Z");
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(last, "username")), "alice");
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(last, "detail")), "");
    TD_ASSERT(json_integer_value(json_object_get(e, "seq")) >
              json_integer_value(json_object_get(last, "seq")));
    json_t *anon = json_array_get(all, 1);
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(anon, "username")), "");
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(anon, "path")), "");
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(anon, "detail")), "ip=10.0.0.9");
    json_decref(all);

    json_t *q = td_acl_audit_query(acl, NULL, "alice", NULL, 0);
    TD_ASSERT_EQ(json_array_size(q), 3);
    json_decref(q);
    q = td_acl_audit_query(acl, NULL, "alice", "open", 0);
    TD_ASSERT_EQ(json_array_size(q), 2);
    json_decref(q);
    q = td_acl_audit_query(acl, NULL, NULL, "download", 0);
    TD_ASSERT_EQ(json_array_size(q), 1);
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(json_array_get(q, 0), "username")), "bob");
    json_decref(q);
    q = td_acl_audit_query(acl, "2025-01-01T00:30", NULL, NULL, 0);
    TD_ASSERT_EQ(json_array_size(q), 3);
    json_decref(q);
    /* A bare "Z" on the bound still includes an entry within that second. */
    q = td_acl_audit_query(acl, "2025-01-01T01:00:00Z", NULL, NULL, 0);
    TD_ASSERT_EQ(json_array_size(q), 3);
    json_decref(q);
    q = td_acl_audit_query(acl, "2025-01-01T01:00:00.004Z", NULL, NULL, 0);
    TD_ASSERT_EQ(json_array_size(q), 2);
    json_decref(q);
    q = td_acl_audit_query(acl, "2026", NULL, NULL, 0);
    TD_ASSERT_EQ(json_array_size(q), 0);
    json_decref(q);
    q = td_acl_audit_query(acl, NULL, NULL, NULL, 2);
    TD_ASSERT_EQ(json_array_size(q), 2);
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(json_array_get(q, 1), "action")),
                     "auth_failed");
    json_decref(q);
    q = td_acl_audit_query(acl, NULL, "nobody", NULL, 0);
    TD_ASSERT_EQ(json_array_size(q), 0);
    json_decref(q);
    td_acl_destroy(&acl);
    td_store_destroy(&st);
}

static void s_limiter(const char *path)
{
    td_error_t err = {0};
    td_store_t *st = td_store_open(path, &err);
    td_acl_t *acl = td_acl_new(st, NULL);
    TD_ASSERT(acl);
    int64_t t = 1000000;
    TD_ASSERT_EQ(td_acl_login_allowed(acl, "10.0.0.1", t), 1);
    /* Four failures within the window do not lock. */
    for (int i = 0; i < 4; i++)
        td_acl_login_failed(acl, "10.0.0.1", t + i * 1000);
    TD_ASSERT_EQ(td_acl_login_allowed(acl, "10.0.0.1", t + 3000), 1);
    /* The fifth (4 s after the first) locks for 1 s. */
    td_acl_login_failed(acl, "10.0.0.1", t + 4000);
    TD_ASSERT_EQ(td_acl_login_allowed(acl, "10.0.0.1", t + 4000), 0);
    TD_ASSERT_EQ(td_acl_login_allowed(acl, "10.0.0.1", t + 4999), 0);
    TD_ASSERT_EQ(td_acl_login_allowed(acl, "10.0.0.1", t + 5000), 1);
    /* Other keys are unaffected. */
    TD_ASSERT_EQ(td_acl_login_allowed(acl, "10.0.0.2", t + 4500), 1);
    /* Each further failure while five fall in the window doubles: 2 s, 4 s, 8 s ... */
    int64_t now = t + 5000, backoff = 2000;
    for (int i = 0; i < 4; i++) {
        td_acl_login_failed(acl, "10.0.0.1", now);
        TD_ASSERT_EQ(td_acl_login_allowed(acl, "10.0.0.1", now + backoff - 1), 0);
        TD_ASSERT_EQ(td_acl_login_allowed(acl, "10.0.0.1", now + backoff), 1);
        now += backoff;
        backoff *= 2;
    }
    /* now = t + 35 s; the four latest failures are within the window. Keep failing: the back-off
     * grows to the 5 min cap and stays there. Failures older than the window no longer count, so
     * once the back-off passes 60 s it takes five new failures to lock again. */
    int64_t last_backoff = 0;
    for (int i = 0; i < 40; i++) {
        td_acl_login_failed(acl, "10.0.0.1", now);
        if (!td_acl_login_allowed(acl, "10.0.0.1", now)) {
            int64_t b = 0;
            while (!td_acl_login_allowed(acl, "10.0.0.1", now + b))
                b += 1000;
            TD_ASSERT(b >= last_backoff);
            TD_ASSERT(b <= TD_ACL_LOGIN_BACKOFF_MAX_MS);
            last_backoff = b;
            now += b;
        } else {
            now += 100;
        }
    }
    TD_ASSERT_EQ(last_backoff, TD_ACL_LOGIN_BACKOFF_MAX_MS);
    /* Quiet for 10 minutes: the key starts over (four failures do not lock, the fifth is 1 s). */
    now += TD_ACL_LOGIN_FORGET_MS;
    for (int i = 0; i < 4; i++)
        td_acl_login_failed(acl, "10.0.0.1", now + i);
    TD_ASSERT_EQ(td_acl_login_allowed(acl, "10.0.0.1", now + 4), 1);
    td_acl_login_failed(acl, "10.0.0.1", now + 4);
    TD_ASSERT_EQ(td_acl_login_allowed(acl, "10.0.0.1", now + 4 + 999), 0);
    TD_ASSERT_EQ(td_acl_login_allowed(acl, "10.0.0.1", now + 4 + 1000), 1);
    /* Five failures spread wider than the window never lock. */
    for (int i = 0; i < 10; i++) {
        td_acl_login_failed(acl, "10.0.0.3", t + i * 16000);
        TD_ASSERT_EQ(td_acl_login_allowed(acl, "10.0.0.3", t + i * 16000), 1);
    }

    /* Bounded: 20,000 addresses failing once each. A key locked out just before the flood stays
     * locked out through the compactions that the flood causes. */
    now += 10000;
    for (int i = 0; i < 5; i++)
        td_acl_login_failed(acl, "attacker", now);
    for (int i = 0; i < 20000; i++) {
        char k[32];
        snprintf(k, sizeof k, "192.168.%d.%d", i / 250, i % 250);
        td_acl_login_failed(acl, k, now + 1 + i / 100);
    }
    TD_ASSERT_EQ(td_acl_login_allowed(acl, "attacker", now + 500), 0);
    /* A very long key is truncated, not refused. */
    char longkey[200];
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    for (int i = 0; i < 5; i++)
        td_acl_login_failed(acl, longkey, now + 1000);
    TD_ASSERT_EQ(td_acl_login_allowed(acl, longkey, now + 1000), 0);
    td_acl_destroy(&acl);
    td_store_destroy(&st);
}

void test_td_acl(void)
{
    char dir[] = "/tmp/td_acl_XXXXXX", path[64], cmd[96];
    TD_ASSERT(mkdtemp(dir));
    td_env_t env = {s_now, NULL, NULL};
    s_matrix();
    snprintf(path, sizeof path, "%s/roles.sqlite", dir);
    s_roles(path, &env);
    snprintf(path, sizeof path, "%s/audit.sqlite", dir);
    s_audit(path, &env);
    snprintf(path, sizeof path, "%s/limit.sqlite", dir);
    s_limiter(path);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    TD_ASSERT_OK(system(cmd));
}
