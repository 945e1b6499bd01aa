/* td_cli.c: `tandem-relay users|grant|revoke|grants|audit …`, the administration of the store
 * from a shell. Each run parses its arguments, opens the store the server would open, does one
 * thing and exits. Listings are built as JSON arrays first, then printed either as JSON (--json)
 * or as an aligned table, so both outputs always say the same. Tokens are handled only here, in
 * memory: a generated token is printed once on stdout, and the store receives its SHA-256 digest
 * (through td_auth, exactly as the server imports --users). Audit entries written by the CLI
 * carry the actor "(cli)". Exit status: 0 on success, 1 on any failure, with the reason on
 * stderr. */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "td_acl.h"
#include "td_auth.h"
#include "td_cli.h"
#include "td_store.h"

#define S_ACTOR "(cli)"
#define S_MAXPOS 4

static const char s_usage[] =
    "usage: tandem-relay users add USERNAME [--name N] [--display-name D]\n"
    "                              [--token T | --generate-token]\n"
    "       tandem-relay users list [--json]\n"
    "       tandem-relay users remove USERNAME\n"
    "       tandem-relay users token USERNAME [--generate-token | --token T]\n"
    "       tandem-relay grant PATH USERNAME owner|editor|commenter|viewer [--no-download]\n"
    "       tandem-relay revoke PATH USERNAME\n"
    "       tandem-relay grants [PATH] [--json]\n"
    "       tandem-relay audit [--since ISO] [--user U] [--action A] [--limit N] [--json]\n"
    "every command takes --root DIR (default .) and --db FILE, as the server does.\n"
    "A generated token is printed once, alone on stdout; the store keeps only its digest.\n"
    "`users token` replaces all of the user's tokens. PATH \"\" or / is the root; a folder's\n"
    "grant covers everything under it.\n";

/* The parsed command line: positionals after the subcommand, and every option. */
typedef struct {
    const char *pos[S_MAXPOS];
    int npos;
    const char *root, *db, *name, *display_name, *token, *since, *user, *action, *limit;
    int generate_token, no_download, json, help;
} s_args_t;

static int s_fail(const char *fmt, const char *a, const char *b)
{
    fputs("tandem-relay: ", stderr);
    fprintf(stderr, fmt, a ? a : "", b ? b : "");
    fputc('\n', stderr);
    return 1;
}

/* Options taking a value, and where they go. */
static const char **s_value_opt(s_args_t *a, const char *name)
{
    static const struct {
        const char *name;
        size_t off;
    } opts[] = {
        {"--root", offsetof(s_args_t, root)},
        {"--db", offsetof(s_args_t, db)},
        {"--name", offsetof(s_args_t, name)},
        {"--display-name", offsetof(s_args_t, display_name)},
        {"--token", offsetof(s_args_t, token)},
        {"--since", offsetof(s_args_t, since)},
        {"--user", offsetof(s_args_t, user)},
        {"--action", offsetof(s_args_t, action)},
        {"--limit", offsetof(s_args_t, limit)},
    };
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        if (strcmp(name, opts[i].name) == 0)
            return (const char **)((char *)a + opts[i].off);
    return NULL;
}

/* Parses argv[first..]. Options may come before, between or after the positionals, as in git;
 * "--" ends the options. Returns 0, or 1 after printing why. */
static int s_parse(int argc, char **argv, int first, s_args_t *a)
{
    const char *cmd = argv[first - 1];
    for (int i = first; i < argc; i++) {
        const char *s = argv[i];
        const char **slot;
        if (strcmp(s, "--") == 0) {
            for (i++; i < argc; i++) /* everything after -- is positional ("-x" usernames) */
                if (a->npos < S_MAXPOS)
                    a->pos[a->npos++] = argv[i];
                else
                    return s_fail("too many arguments", NULL, NULL);
            break;
        }
        if ((slot = s_value_opt(a, s)) != NULL) {
            if (i + 1 >= argc)
                return s_fail("%s needs a value", s, NULL);
            *slot = argv[++i];
        } else if (strcmp(s, "--generate-token") == 0) {
            a->generate_token = 1;
        } else if (strcmp(s, "--no-download") == 0) {
            a->no_download = 1;
        } else if (strcmp(s, "--json") == 0) {
            a->json = 1;
        } else if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            a->help = 1;
        } else if (s[0] == '-' && s[1] == '-') {
            return s_fail("unknown option %s (see tandem-relay %s --help)", s, cmd);
        } else if (a->npos < S_MAXPOS) {
            a->pos[a->npos++] = s;
        } else {
            return s_fail("too many arguments at %s", s, NULL);
        }
    }
    return 0;
}

/* Refuses options that mean nothing to this command, so a typo does not pass silently. */
static int s_only(const s_args_t *a, const char *allowed)
{
    static const struct {
        const char *name;
        size_t off;
        int flag;
    } all[] = {
        {"--name", offsetof(s_args_t, name), 0},
        {"--display-name", offsetof(s_args_t, display_name), 0},
        {"--token", offsetof(s_args_t, token), 0},
        {"--since", offsetof(s_args_t, since), 0},
        {"--user", offsetof(s_args_t, user), 0},
        {"--action", offsetof(s_args_t, action), 0},
        {"--limit", offsetof(s_args_t, limit), 0},
        {"--generate-token", offsetof(s_args_t, generate_token), 1},
        {"--no-download", offsetof(s_args_t, no_download), 1},
        {"--json", offsetof(s_args_t, json), 1},
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        const char *p = (const char *)a + all[i].off;
        int set = all[i].flag ? *(const int *)p != 0 : *(const char *const *)p != NULL;
        if (set && !strstr(allowed, all[i].name))
            return s_fail("%s does not apply here", all[i].name, NULL);
    }
    return 0;
}

/* ---- the store ------------------------------------------------------------------------------- */

/* Opens the store the server would use: --db, or ROOT/.tandem/tandem.sqlite (created 0700). */
static td_store_t *s_open(const s_args_t *a)
{
    char path[PATH_MAX + 32];
    const char *root = a->root ? a->root : ".";
    struct stat st;
    if (!a->db) {
        if (stat(root, &st) != 0 || !S_ISDIR(st.st_mode)) {
            s_fail("root %s is not a directory", root, NULL);
            return NULL;
        }
        snprintf(path, sizeof path, "%s/.tandem", root);
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            s_fail("cannot create %s: %s", path, strerror(errno));
            return NULL;
        }
        snprintf(path, sizeof path, "%s/.tandem/tandem.sqlite", root);
    }
    td_error_t err = {0};
    td_store_t *store = td_store_open(a->db ? a->db : path, &err);
    if (!store)
        s_fail("store %s: %s", a->db ? a->db : path, err.text);
    return store;
}

/* Runs one statement with an optional text ?1. Returns the rows changed, or TD_ESTATE. Prepared
 * per call: the CLI runs each statement once. */
static int s_exec(td_store_t *store, const char *sql, const char *arg)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(td_store_db(store), sql, -1, &st, NULL) != SQLITE_OK)
        return TD_ESTATE;
    if (arg)
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    sqlite3_finalize(st);
    return step == SQLITE_DONE ? sqlite3_changes(td_store_db(store)) : TD_ESTATE;
}

/* 48 hex digits from 24 random bytes, as the server's own token. */
static int s_new_token(char out[49])
{
    uint8_t raw[24];
    size_t got = 0;
    while (got < sizeof raw) {
        ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        got += (size_t)n;
    }
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

/* Builds the user and, when token is set, its digest, through td_auth (defaults for name,
 * display name and initials, and the 8-character minimum, are the users file's). tmp is the
 * caller's to destroy; *user and *digest borrow from it. */
static int s_make_user(const char *username, const char *name, const char *display_name,
                       const char *token, td_auth_t **tmp, const td_user_t **user,
                       const uint8_t **digest)
{
    json_t *e = json_pack("{s:s, s:s}", "username", username, "token",
                          token ? token : "not-stored: no token given");
    if (name)
        json_object_set_new(e, "name", json_string(name));
    if (display_name)
        json_object_set_new(e, "display_name", json_string(display_name));
    json_t *arr = json_pack("[o]", e);
    char *text = json_dumps(arr, 0);
    json_decref(arr);
    td_error_t err = {0};
    *tmp = td_auth_new("placeholder: entry 0 is not stored");
    int rc = text && *tmp ? td_auth_load_users(*tmp, text, strlen(text), &err) : TD_ENOMEM;
    free(text);
    if (rc != 0)
        return s_fail("%s", err.text[0] ? err.text : "out of memory", NULL);
    *user = td_auth_entry(*tmp, 1, digest);
    return 0;
}

/* ---- output ---------------------------------------------------------------------------------- */

typedef struct {
    const char *key, *header;
} s_col_t;

static void s_cell(json_t *v, char *out, size_t cap)
{
    if (json_is_string(v))
        snprintf(out, cap, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(out, cap, "%lld", (long long)json_integer_value(v));
    else if (json_is_true(v))
        snprintf(out, cap, "yes");
    else if (json_is_false(v))
        snprintf(out, cap, "no");
    else
        out[0] = '\0';
}

/* Prints rows (an array of objects) as JSON or as a table with a header line; the last column is
 * not padded. Takes rows. Returns 0. */
static int s_print(json_t *rows, const s_col_t *cols, int ncols, int as_json)
{
    if (as_json) {
        char *text = json_dumps(rows, JSON_INDENT(2));
        puts(text ? text : "[]");
        free(text);
        json_decref(rows);
        return 0;
    }
    size_t w[8] = {0}, i;
    json_t *row;
    char cell[1024];
    for (int c = 0; c < ncols; c++)
        w[c] = strlen(cols[c].header);
    json_array_foreach(rows, i, row)
    {
        for (int c = 0; c < ncols; c++) {
            s_cell(json_object_get(row, cols[c].key), cell, sizeof cell);
            if (strlen(cell) > w[c])
                w[c] = strlen(cell);
        }
    }
    for (int c = 0; c < ncols; c++)
        if (c + 1 < ncols)
            printf("%-*s  ", (int)w[c], cols[c].header);
        else
            printf("%s\n", cols[c].header);
    json_array_foreach(rows, i, row)
    {
        for (int c = 0; c < ncols; c++) {
            s_cell(json_object_get(row, cols[c].key), cell, sizeof cell);
            if (c + 1 < ncols)
                printf("%-*s  ", (int)w[c], cell);
            else
                printf("%s\n", cell);
        }
    }
    json_decref(rows);
    return 0;
}

/* ---- users ----------------------------------------------------------------------------------- */

static int s_users_add(td_store_t *store, const s_args_t *a)
{
    if (a->npos != 2)
        return s_fail("usage: users add USERNAME [--name N] [--display-name D] [--token T | "
                      "--generate-token]",
                      NULL, NULL);
    if (s_only(a, "--name --display-name --token --generate-token") != 0)
        return 1;
    const char *username = a->pos[1];
    if (a->token && a->generate_token)
        return s_fail("give --token or --generate-token, not both", NULL, NULL);
    if (!*username || strlen(username) >= sizeof((td_user_t *)0)->username)
        return s_fail("bad username \"%s\"", username, NULL);
    int rc = td_store_user_get(store, username, NULL);
    if (rc == 0)
        return s_fail("user %s exists (new token: tandem-relay users token %s)", username,
                      username);
    if (rc != TD_ENOENT)
        return s_fail("cannot read the store", NULL, NULL);
    char generated[49];
    if (a->generate_token && s_new_token(generated) != 0)
        return s_fail("no randomness for a token", NULL, NULL);
    const char *token = a->generate_token ? generated : a->token;
    td_auth_t *tmp = NULL;
    const td_user_t *u;
    const uint8_t *digest;
    if (s_make_user(username, a->name, a->display_name, token, &tmp, &u, &digest) != 0) {
        td_auth_destroy(&tmp);
        return 1;
    }
    /* User and token in one transaction: a relay reading concurrently never sees a token whose
     * user is missing. An error leaves the transaction open; closing the store rolls it back. */
    rc = td_store_begin(store);
    if (rc == 0)
        rc = td_store_user_put(store, u);
    if (rc == 0 && token)
        rc = td_store_token_put(store, digest, u->username);
    if (rc == 0)
        rc = td_store_commit(store);
    td_auth_destroy(&tmp);
    if (rc != 0)
        return s_fail("cannot write the store (%s)", td_strerror(rc), NULL);
    td_acl_t *acl = td_acl_new(store, NULL);
    if (acl)
        td_acl_audit(acl, S_ACTOR, "user_add", "", username);
    td_acl_destroy(&acl);
    /* A generated token is alone on stdout, so `T=$(tandem-relay users add bob
     * --generate-token)` captures it; the note goes to stderr. */
    if (a->generate_token) {
        puts(generated);
        fprintf(stderr, "added user %s; the token above is shown only once\n", username);
    } else {
        printf("added user %s%s\n", username, token ? "" : " (no token yet: users token)");
    }
    return 0;
}

static int s_users_list(td_store_t *store, const s_args_t *a)
{
    if (a->npos != 1)
        return s_fail("usage: users list [--json]", NULL, NULL);
    if (s_only(a, "--json") != 0)
        return 1;
    sqlite3_stmt *st;
    const char *sql = "SELECT u.username, u.name, u.display_name,"
                      " (SELECT count(*) FROM tokens t WHERE t.username = u.username),"
                      " (SELECT count(*) FROM grants g WHERE g.username = u.username), u.created"
                      " FROM users u ORDER BY u.username";
    if (sqlite3_prepare_v2(td_store_db(store), sql, -1, &st, NULL) != SQLITE_OK)
        return s_fail("cannot read the store", NULL, NULL);
    json_t *rows = json_array();
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(rows,
                              json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}", "username",
                                        (const char *)sqlite3_column_text(st, 0), "name",
                                        (const char *)sqlite3_column_text(st, 1), "display_name",
                                        (const char *)sqlite3_column_text(st, 2), "tokens",
                                        (json_int_t)sqlite3_column_int64(st, 3), "grants",
                                        (json_int_t)sqlite3_column_int64(st, 4), "created",
                                        (const char *)sqlite3_column_text(st, 5)));
    sqlite3_finalize(st);
    if (step != SQLITE_DONE) {
        json_decref(rows);
        return s_fail("cannot read the store", NULL, NULL);
    }
    static const s_col_t cols[] = {
        {"username", "USERNAME"}, {"name", "NAME"},     {"display_name", "DISPLAY NAME"},
        {"tokens", "TOKENS"},     {"grants", "GRANTS"}, {"created", "CREATED"}};
    return s_print(rows, cols, 6, a->json);
}

static int s_users_remove(td_store_t *store, const s_args_t *a)
{
    if (a->npos != 2)
        return s_fail("usage: users remove USERNAME", NULL, NULL);
    if (s_only(a, "") != 0)
        return 1;
    /* Tokens and grants go with the user (ON DELETE CASCADE). */
    int n = s_exec(store, "DELETE FROM users WHERE username = ?1", a->pos[1]);
    if (n < 0)
        return s_fail("cannot write the store", NULL, NULL);
    if (n == 0)
        return s_fail("no such user %s", a->pos[1], NULL);
    td_acl_t *acl = td_acl_new(store, NULL);
    if (acl)
        td_acl_audit(acl, S_ACTOR, "user_remove", "", a->pos[1]);
    td_acl_destroy(&acl);
    printf("removed user %s with its tokens and grants\n", a->pos[1]);
    return 0;
}

static int s_users_token(td_store_t *store, const s_args_t *a)
{
    if (a->npos != 2)
        return s_fail("usage: users token USERNAME [--generate-token | --token T]", NULL, NULL);
    if (s_only(a, "--token --generate-token") != 0)
        return 1;
    const char *username = a->pos[1];
    if (a->token && a->generate_token)
        return s_fail("give --token or --generate-token, not both", NULL, NULL);
    if (a->token && strlen(a->token) < 8)
        return s_fail("a token needs at least 8 characters", NULL, NULL);
    td_user_t u;
    int rc = td_store_user_get(store, username, &u);
    if (rc == TD_ENOENT)
        return s_fail("no such user %s", username, NULL);
    if (rc != 0)
        return s_fail("cannot read the store", NULL, NULL);
    char generated[49];
    if (!a->token && s_new_token(generated) != 0)
        return s_fail("no randomness for a token", NULL, NULL);
    const char *token = a->token ? a->token : generated;
    td_auth_t *tmp = NULL;
    const td_user_t *nu;
    const uint8_t *digest;
    if (s_make_user(username, u.name, u.display_name, token, &tmp, &nu, &digest) != 0) {
        td_auth_destroy(&tmp);
        return 1;
    }
    /* The new token replaces every old one, in one transaction. */
    rc = td_store_begin(store);
    if (rc == 0 && s_exec(store, "DELETE FROM tokens WHERE username = ?1", username) < 0)
        rc = TD_ESTATE;
    if (rc == 0)
        rc = td_store_token_put(store, digest, username);
    if (rc == 0)
        rc = td_store_commit(store);
    td_auth_destroy(&tmp);
    if (rc != 0) {
        s_exec(store, "ROLLBACK", NULL);
        return s_fail("cannot write the store (%s)", td_strerror(rc), NULL);
    }
    td_acl_t *acl = td_acl_new(store, NULL);
    if (acl)
        td_acl_audit(acl, S_ACTOR, "user_token", "", username);
    td_acl_destroy(&acl);
    if (!a->token) {
        puts(generated);
        fprintf(stderr, "new token for %s (old tokens revoked); shown only once\n", username);
    } else {
        printf("token of %s replaced (old tokens revoked)\n", username);
    }
    return 0;
}

static int s_users(td_store_t *store, const s_args_t *a)
{
    const char *verb = a->npos > 0 ? a->pos[0] : "";
    if (strcmp(verb, "add") == 0)
        return s_users_add(store, a);
    if (strcmp(verb, "list") == 0)
        return s_users_list(store, a);
    if (strcmp(verb, "remove") == 0)
        return s_users_remove(store, a);
    if (strcmp(verb, "token") == 0)
        return s_users_token(store, a);
    return s_fail("users needs add, list, remove or token (see --help)", NULL, NULL);
}

/* ---- grants and audit ------------------------------------------------------------------------ */

/* The path as the grants table keeps it: no leading or trailing '/' ("/" is the root, ""). 0, or
 * -1 when it does not fit (a cut path could name a parent folder and grant far more). */
static int s_strip(const char *path, char *out, size_t cap)
{
    while (*path == '/')
        path++;
    if (snprintf(out, cap, "%s", path) >= (int)cap)
        return -1;
    size_t n = strlen(out);
    while (n > 0 && out[n - 1] == '/')
        out[--n] = '\0';
    return 0;
}

static int s_grant(td_acl_t *acl, const s_args_t *a)
{
    if (a->npos != 3)
        return s_fail("usage: grant PATH USERNAME owner|editor|commenter|viewer [--no-download]",
                      NULL, NULL);
    if (s_only(a, "--no-download") != 0)
        return 1;
    const char *username = a->pos[1];
    char path[4096];
    if (s_strip(a->pos[0], path, sizeof path) != 0)
        return s_fail("path too long", NULL, NULL);
    td_role_t role = td_role_parse(a->pos[2]);
    if (role == TD_ROLE_NONE)
        return s_fail("unknown role %s (owner, editor, commenter or viewer)", a->pos[2], NULL);
    int rc = td_acl_grant(acl, path, username, role, a->no_download, S_ACTOR);
    if (rc == TD_ENOENT)
        return s_fail("no such user %s (add it with: tandem-relay users add %s)", username,
                      username);
    if (rc == TD_EINVAL)
        return s_fail("bad path \"%s\" (no empty, . or .. segments)", path, NULL);
    if (rc != 0)
        return s_fail("cannot write the store (%s)", td_strerror(rc), NULL);
    char detail[320];
    snprintf(detail, sizeof detail, "user=%s role=%s no_download=%d", username, td_role_name(role),
             a->no_download);
    td_acl_audit(acl, S_ACTOR, "grant", path, detail);
    printf("granted %s%s on %s to %s\n", td_role_name(role), a->no_download ? " (no download)" : "",
           *path ? path : "/", username);
    return 0;
}

static int s_revoke(td_acl_t *acl, const s_args_t *a)
{
    if (a->npos != 2)
        return s_fail("usage: revoke PATH USERNAME", NULL, NULL);
    if (s_only(a, "") != 0)
        return 1;
    const char *username = a->pos[1];
    char path[4096];
    if (s_strip(a->pos[0], path, sizeof path) != 0)
        return s_fail("path too long", NULL, NULL);
    int rc = td_acl_revoke(acl, path, username);
    if (rc == TD_ENOENT)
        return s_fail("%s has no grant on exactly %s", username, *path ? path : "/");
    if (rc != 0)
        return s_fail("cannot write the store (%s)", td_strerror(rc), NULL);
    char detail[160];
    snprintf(detail, sizeof detail, "user=%s", username);
    td_acl_audit(acl, S_ACTOR, "revoke", path, detail);
    printf("revoked the grant of %s on %s\n", username, *path ? path : "/");
    return 0;
}

static int s_grants(td_acl_t *acl, const s_args_t *a)
{
    if (a->npos > 1)
        return s_fail("usage: grants [PATH] [--json]", NULL, NULL);
    if (s_only(a, "--json") != 0)
        return 1;
    json_t *rows = td_acl_grants_json(acl, a->npos ? a->pos[0] : NULL);
    if (!rows)
        return s_fail("cannot read the store", NULL, NULL);
    if (!a->json) { /* the root shows as "/" in a table, where "" would be invisible */
        size_t i;
        json_t *g;
        json_array_foreach(rows, i, g)
        {
            const char *p = json_string_value(json_object_get(g, "path"));
            if (p && *p == '\0') /* NULL: a path that is not UTF-8 */
                json_object_set_new(g, "path", json_string("/"));
        }
    }
    static const s_col_t cols[] = {{"path", "PATH"},
                                   {"username", "USERNAME"},
                                   {"role", "ROLE"},
                                   {"no_download", "NO-DOWNLOAD"},
                                   {"granted_by", "GRANTED BY"},
                                   {"created", "CREATED"}};
    return s_print(rows, cols, 6, a->json);
}

static int s_audit(td_acl_t *acl, const s_args_t *a)
{
    if (a->npos != 0)
        return s_fail("usage: audit [--since ISO] [--user U] [--action A] [--limit N] [--json]",
                      NULL, NULL);
    if (s_only(a, "--since --user --action --limit --json") != 0)
        return 1;
    long limit = 100;
    if (a->limit) {
        char *end;
        limit = strtol(a->limit, &end, 10);
        if (*end || limit <= 0 || limit > 1000000)
            return s_fail("--limit needs a positive number, not %s", a->limit, NULL);
    }
    json_t *rows = td_acl_audit_query(acl, a->since, a->user, a->action, (int)limit);
    if (!rows)
        return s_fail("cannot read the store", NULL, NULL);
    static const s_col_t cols[] = {{"seq", "SEQ"},       {"at", "AT"},     {"username", "USER"},
                                   {"action", "ACTION"}, {"path", "PATH"}, {"detail", "DETAIL"}};
    return s_print(rows, cols, 6, a->json);
}

/* ---- entry ----------------------------------------------------------------------------------- */

static const char *const s_commands[] = {"users", "grant", "revoke", "grants", "audit"};

int td_cli_is_subcommand(const char *arg)
{
    for (size_t i = 0; arg && i < sizeof s_commands / sizeof s_commands[0]; i++)
        if (strcmp(arg, s_commands[i]) == 0)
            return 1;
    return 0;
}

/* grant, revoke, grants and audit go through td_acl, so the CLI and the relay share one set of
 * rules (path normalisation, role names, the audit format); users go through td_auth and
 * td_store. */
int td_cli_main(int argc, char **argv)
{
    if (argc < 2 || !td_cli_is_subcommand(argv[1])) {
        fputs(s_usage, stderr);
        return 1;
    }
    const char *cmd = argv[1];
    s_args_t a = {0};
    if (s_parse(argc, argv, 2, &a) != 0)
        return 1;
    if (a.help) {
        fputs(s_usage, stdout);
        return 0;
    }
    td_store_t *store = s_open(&a);
    if (!store)
        return 1;
    int rc;
    if (strcmp(cmd, "users") == 0) {
        rc = s_users(store, &a);
    } else {
        td_acl_t *acl = td_acl_new(store, NULL);
        if (!acl) {
            td_store_destroy(&store);
            return s_fail("cannot read the grants from the store", NULL, NULL);
        }
        if (strcmp(cmd, "grant") == 0)
            rc = s_grant(acl, &a);
        else if (strcmp(cmd, "revoke") == 0)
            rc = s_revoke(acl, &a);
        else if (strcmp(cmd, "grants") == 0)
            rc = s_grants(acl, &a);
        else
            rc = s_audit(acl, &a);
        td_acl_destroy(&acl);
    }
    td_store_destroy(&store);
    if (fflush(stdout) != 0)
        return s_fail("cannot write the output: %s", strerror(errno), NULL);
    return rc;
}
