/* test_td_comments.c: comment threads over a real store file. The lifecycle (create with a range,
 * reply, edit, react, resolve, reopen, soft delete) with the JSON each step answers and the event
 * each step emits; every role against every action, where a refusal is 403 (404 without access)
 * and leaves every table byte for byte as it was; @mentions reaching the inbox (not the author,
 * not users without access, only new mentions on edit) with read/unread and paging; orphaning and
 * re-attachment, and the cached no-op when the cell set has not changed; export then import into
 * another notebook; a cursor walk over 1,200 threads that returns each exactly once, with filters;
 * embedding into cell metadata; and garbage thrown at every endpoint. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "td_comments.h"
#include "td_store.h"
#include "test.h"

/* ---- a deterministic environment and the relay's hooks --------------------------------------- */

static int64_t s_clock_us = 1700000000000000;

static int64_t s_now(void *arg)
{
    (void)arg;
    return s_clock_us += 1000;
}

static void s_rand(void *arg, uint8_t *out, size_t n)
{
    static uint64_t x = 88172645463325252ull;
    (void)arg;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out[i] = (uint8_t)x;
    }
}

enum { U_ALICE, U_BOB, U_CAROL, U_DAVE, U_ERIN, U_COUNT };
static const char *const s_users[U_COUNT] = {"alice", "bob", "carol", "dave", "erin"};
enum { F_NB, F_OTHER, F_BIG, F_COUNT };
static const char *const s_file_ids[F_COUNT] = {"F1", "F2", "F3"};
static const char *const s_paths[F_COUNT] = {"nb.ipynb", "other.ipynb", "big.ipynb"};

typedef struct {
    td_role_t role[U_COUNT][F_COUNT];
    const char *cells[F_COUNT][16];
    size_t ncells[F_COUNT];
    json_t *events; /* {"file", "type", "thread"} copies */
} s_ctx_t;

static s_ctx_t s_ctx;

static int s_user_ix(const char *u)
{
    for (int i = 0; i < U_COUNT; i++)
        if (strcmp(s_users[i], u) == 0)
            return i;
    return -1;
}

static int s_file_ix(const char *f)
{
    for (int i = 0; i < F_COUNT; i++)
        if (f && strcmp(s_file_ids[i], f) == 0)
            return i;
    return -1;
}

static td_role_t s_role_fn(void *arg, const char *username, const char *file_id, char *path,
                           size_t cap)
{
    s_ctx_t *c = arg;
    int u = s_user_ix(username), f = s_file_ix(file_id);
    snprintf(path, cap, "%s", f >= 0 ? s_paths[f] : "");
    return u >= 0 && f >= 0 ? c->role[u][f] : TD_ROLE_NONE;
}

static int s_cell_fn(void *arg, const char *file_id, const char *cell_id)
{
    s_ctx_t *c = arg;
    int f = s_file_ix(file_id);
    for (size_t i = 0; f >= 0 && i < c->ncells[f]; i++)
        if (strcmp(c->cells[f][i], cell_id) == 0)
            return 1;
    return 0;
}

static void s_event_fn(void *arg, const char *file_id, const json_t *ev)
{
    s_ctx_t *c = arg;
    json_t *copy = json_deep_copy(ev);
    json_object_set_new(copy, "file", json_string(file_id));
    json_array_append_new(c->events, copy);
}

static size_t s_nevents(void)
{
    return json_array_size(s_ctx.events);
}

static const char *s_last_event(void)
{
    json_t *ev = json_array_get(s_ctx.events, s_nevents() - 1);
    return json_string_value(json_object_get(ev, "type"));
}

/* ---- requests -------------------------------------------------------------------------------- */

/* One request as the relay makes it: query "a=b&c=d"; ?path= resolves to the file and its role. */
static int s_call(td_comments_t *c, const char *user, const char *method, const char *sub,
                  const char *query, const char *body, size_t body_len, json_t **out)
{
    char qbuf[2048];
    const char *frags[16];
    size_t nq = 0;
    snprintf(qbuf, sizeof qbuf, "%s", query ? query : "");
    for (char *p = qbuf; *p && nq < 16;) {
        frags[nq++] = p;
        char *amp = strchr(p, '&');
        if (!amp)
            break;
        *amp = '\0';
        p = amp + 1;
    }
    td_comments_req_t req = {.method = method,
                             .sub = sub,
                             .query = frags,
                             .nquery = nq,
                             .body = body,
                             .body_len = body_len,
                             .username = user};
    for (size_t i = 0; i < nq; i++)
        for (int f = 0; f < F_COUNT; f++)
            if (strncmp(frags[i], "path=", 5) == 0 && strcmp(frags[i] + 5, s_paths[f]) == 0) {
                req.file_id = s_file_ids[f];
                req.path = s_paths[f];
                int u = s_user_ix(user);
                req.role = u >= 0 ? s_ctx.role[u][f] : TD_ROLE_NONE;
            }
    *out = NULL;
    int st = td_comments_handle(c, &req, out);
    if (st == 204)
        TD_ASSERT(*out == NULL);
    else
        TD_ASSERT(json_is_object(*out));
    if (st >= 400)
        TD_ASSERT(json_is_string(json_object_get(*out, "message")));
    return st;
}

/* s_call with a NUL-terminated body (NULL = none). */
static int s_req(td_comments_t *c, const char *user, const char *method, const char *sub,
                 const char *query, const char *body, json_t **out)
{
    return s_call(c, user, method, sub, query, body, body ? strlen(body) : 0, out);
}

/* s_req that only wants the status. */
static int s_st(td_comments_t *c, const char *user, const char *method, const char *sub,
                const char *query, const char *body)
{
    json_t *out;
    int st = s_req(c, user, method, sub, query, body, &out);
    json_decref(out);
    return st;
}

static const char *s_str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* Creates a thread on cell as user in file f; returns its id in out. */
static void s_new_thread(td_comments_t *c, const char *user, int f, const char *cell,
                         const char *text, char out[64])
{
    char q[64], body[512];
    snprintf(q, sizeof q, "path=%s", s_paths[f]);
    snprintf(body, sizeof body, "{\"cell_id\": \"%s\", \"body\": \"%s\"}", cell, text);
    json_t *t;
    TD_ASSERT_EQ(s_req(c, user, "POST", "", q, body, &t), 201);
    snprintf(out, 64, "%s", s_str(t, "id"));
    json_decref(t);
}

/* Adds a reply as user; returns its comment id in out. */
static void s_new_reply(td_comments_t *c, const char *user, const char *tid, const char *text,
                        char out[64])
{
    char sub[128], body[512];
    snprintf(sub, sizeof sub, "/%s/replies", tid);
    snprintf(body, sizeof body, "{\"body\": \"%s\"}", text);
    json_t *cm;
    TD_ASSERT_EQ(s_req(c, user, "POST", sub, NULL, body, &cm), 201);
    snprintf(out, 64, "%s", s_str(cm, "id"));
    json_decref(cm);
}

/* ---- the whole database as one number, to prove refusals change nothing ---------------------- */

static int s_hash_row(void *arg, int n, char **vals, char **names)
{
    uint64_t *h = arg;
    (void)names;
    for (int i = 0; i < n; i++) {
        const char *v = vals[i] ? vals[i] : "\x01NULL";
        for (const char *p = v; *p; p++)
            *h = (*h ^ (unsigned char)*p) * 0x100000001b3ull;
        *h = (*h ^ 0xff) * 0x100000001b3ull;
    }
    return 0;
}

static uint64_t s_db_state(td_store_t *st)
{
    uint64_t h = 0xcbf29ce484222325ull;
    int rc = sqlite3_exec(td_store_db(st),
                          "SELECT * FROM threads ORDER BY rowid;"
                          "SELECT * FROM comments ORDER BY rowid;"
                          "SELECT * FROM reactions ORDER BY rowid;"
                          "SELECT * FROM notifications ORDER BY id;",
                          s_hash_row, &h, NULL);
    TD_ASSERT_EQ(rc, SQLITE_OK);
    return h;
}

static long s_count(td_store_t *st, const char *sql)
{
    sqlite3_stmt *q = NULL;
    TD_ASSERT_EQ(sqlite3_prepare_v2(td_store_db(st), sql, -1, &q, NULL), SQLITE_OK);
    TD_ASSERT_EQ(sqlite3_step(q), SQLITE_ROW);
    long n = (long)sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return n;
}

/* The inbox of user: unread count, and the number of entries listed (optionally unread only). */
static json_t *s_inbox(td_comments_t *c, const char *user, const char *const *q, size_t nq)
{
    json_t *out = NULL;
    TD_ASSERT_EQ(td_comments_notifications(c, "GET", "", user, q, nq, NULL, 0, &out), 200);
    TD_ASSERT(json_is_array(json_object_get(out, "notifications")));
    return out;
}

static long s_unread(td_comments_t *c, const char *user)
{
    json_t *in = s_inbox(c, user, NULL, 0);
    long n = (long)json_integer_value(json_object_get(in, "unread"));
    json_decref(in);
    return n;
}

/* ---- lifecycle ------------------------------------------------------------------------------- */

static void s_lifecycle(td_comments_t *c, td_store_t *st)
{
    json_t *t, *cm;
    size_t ev0 = s_nevents();
    const char *create =
        "{\"path\": \"nb.ipynb\", \"cell_id\": \"c1\","
        " \"body\": \"Hello @bob and @carol, see @nobody and @dave. Me: @alice\","
        " \"range\": {\"anchor\": {\"type\": {\"client\": 1, \"clock\": 4}, \"tname\": null,"
        " \"item\": {\"client\": 7, \"clock\": 3}, \"assoc\": 0}, \"head\": {\"item\":"
        " {\"client\": 7, \"clock\": 9}, \"assoc\": -1}}}";
    TD_ASSERT_EQ(s_req(c, "alice", "POST", "", "path=nb.ipynb", create, &t), 201);
    char tid[64];
    snprintf(tid, sizeof tid, "%s", s_str(t, "id"));
    TD_ASSERT_EQ(strlen(tid), 36);
    TD_ASSERT_STR_EQ(s_str(t, "fileId"), "F1");
    TD_ASSERT_STR_EQ(s_str(t, "path"), "nb.ipynb");
    TD_ASSERT_STR_EQ(s_str(t, "cell_id"), "c1");
    TD_ASSERT(json_is_false(json_object_get(t, "orphaned")));
    TD_ASSERT(json_is_false(json_object_get(t, "resolved")));
    TD_ASSERT(json_is_null(json_object_get(t, "resolved_by")));
    TD_ASSERT(json_is_null(json_object_get(t, "resolved_at")));
    json_t *range = json_object_get(t, "range");
    TD_ASSERT_EQ(json_integer_value(json_object_get(
                     json_object_get(json_object_get(range, "anchor"), "item"), "clock")),
                 3);
    TD_ASSERT_EQ(json_integer_value(json_object_get(json_object_get(range, "head"), "assoc")), -1);
    const char *created = s_str(t, "created");
    TD_ASSERT(created && strlen(created) == 27 && created[10] == 'T' && created[26] == 'Z');
    json_t *comments = json_object_get(t, "comments");
    TD_ASSERT_EQ(json_array_size(comments), 1);
    json_t *first = json_array_get(comments, 0);
    char c1[64];
    snprintf(c1, sizeof c1, "%s", s_str(first, "id"));
    TD_ASSERT_STR_EQ(s_str(json_object_get(first, "author"), "username"), "alice");
    TD_ASSERT_STR_EQ(s_str(json_object_get(first, "author"), "display_name"), "Alice L.");
    TD_ASSERT(strncmp(s_str(first, "body"), "Hello @bob", 10) == 0);
    TD_ASSERT(json_is_false(json_object_get(first, "deleted")));
    TD_ASSERT_EQ(json_object_size(json_object_get(first, "reactions")), 0);
    json_decref(t);
    TD_ASSERT_EQ(s_nevents(), ev0 + 1);
    TD_ASSERT_STR_EQ(s_last_event(), "thread.created");
    json_t *ev = json_array_get(s_ctx.events, s_nevents() - 1);
    TD_ASSERT_STR_EQ(s_str(ev, "file"), "F1");
    TD_ASSERT_STR_EQ(s_str(json_object_get(ev, "thread"), "id"), tid);

    /* Mentions: bob and carol (a viewer can read, so is told); not the author, not @nobody (no
     * such user), not dave (no access to the notebook). */
    TD_ASSERT_EQ(s_unread(c, "bob"), 1);
    TD_ASSERT_EQ(s_unread(c, "carol"), 1);
    TD_ASSERT_EQ(s_unread(c, "alice"), 0);
    TD_ASSERT_EQ(s_unread(c, "dave"), 0);
    json_t *in = s_inbox(c, "bob", NULL, 0);
    json_t *n0 = json_array_get(json_object_get(in, "notifications"), 0);
    TD_ASSERT_STR_EQ(s_str(n0, "kind"), "mention");
    TD_ASSERT_STR_EQ(s_str(n0, "thread_id"), tid);
    TD_ASSERT_STR_EQ(s_str(n0, "comment_id"), c1);
    TD_ASSERT_STR_EQ(s_str(n0, "fileId"), "F1");
    TD_ASSERT_STR_EQ(s_str(n0, "path"), "nb.ipynb");
    TD_ASSERT_STR_EQ(s_str(n0, "actor"), "alice");
    TD_ASSERT(json_is_false(json_object_get(n0, "read")));
    TD_ASSERT(strncmp(s_str(n0, "excerpt"), "Hello @bob and", 14) == 0);
    json_decref(in);

    /* A reply; "@alice." at the end of a sentence is alice. */
    char sub[256];
    snprintf(sub, sizeof sub, "/%s/replies", tid);
    TD_ASSERT_EQ(s_req(c, "bob", "POST", sub, NULL, "{\"body\": \"Thanks @alice.\"}", &cm), 201);
    char c2[64];
    snprintf(c2, sizeof c2, "%s", s_str(cm, "id"));
    TD_ASSERT_STR_EQ(s_str(json_object_get(cm, "author"), "username"), "bob");
    TD_ASSERT_STR_EQ(s_str(cm, "body"), "Thanks @alice.");
    json_decref(cm);
    TD_ASSERT_STR_EQ(s_last_event(), "comment.created");
    TD_ASSERT_EQ(s_unread(c, "alice"), 1);

    /* Edit: only mentions the edit adds notify (erin), alice is not told twice. */
    char csub[256];
    snprintf(csub, sizeof csub, "/%s/comments/%s", tid, c2);
    TD_ASSERT_EQ(
        s_req(c, "bob", "PATCH", csub, NULL, "{\"body\": \"Thanks @alice. cc @erin\"}", &cm), 200);
    TD_ASSERT_STR_EQ(s_str(cm, "body"), "Thanks @alice. cc @erin");
    TD_ASSERT(strcmp(s_str(cm, "updated"), s_str(cm, "created")) > 0);
    json_decref(cm);
    TD_ASSERT_STR_EQ(s_last_event(), "comment.edited");
    TD_ASSERT_EQ(s_unread(c, "alice"), 1);
    TD_ASSERT_EQ(s_unread(c, "erin"), 1);
    uint64_t before = s_db_state(st);
    TD_ASSERT_EQ(s_st(c, "alice", "PATCH", csub, NULL, "{\"body\": \"hijacked\"}"), 403);
    TD_ASSERT_EQ(s_db_state(st), before);
    TD_ASSERT_EQ(s_req(c, "bob", "GET", csub, NULL, NULL, &cm), 200);
    TD_ASSERT_STR_EQ(s_str(cm, "body"), "Thanks @alice. cc @erin");
    json_decref(cm);

    /* Reactions: idempotent per user and emoji, listed in order. */
    char rsub[300], rdel[300];
    snprintf(rsub, sizeof rsub, "/%s/comments/%s/reactions", tid, c1);
    snprintf(rdel, sizeof rdel, "/%s/comments/%s/reactions/\xf0\x9f\x91\x8d", tid, c1);
    const char *thumbs = "{\"emoji\": \"\xf0\x9f\x91\x8d\"}";
    TD_ASSERT_EQ(s_req(c, "bob", "POST", rsub, NULL, thumbs, &cm), 200);
    size_t ev_react = s_nevents();
    TD_ASSERT_STR_EQ(s_last_event(), "reaction.added");
    json_decref(cm);
    TD_ASSERT_EQ(s_req(c, "bob", "POST", rsub, NULL, thumbs, &cm), 200);
    TD_ASSERT_EQ(s_nevents(), ev_react); /* nothing changed: no event */
    json_decref(cm);
    TD_ASSERT_EQ(s_req(c, "alice", "POST", rsub, NULL, thumbs, &cm), 200);
    json_t *who = json_object_get(json_object_get(cm, "reactions"), "\xf0\x9f\x91\x8d");
    TD_ASSERT_EQ(json_array_size(who), 2);
    TD_ASSERT_STR_EQ(json_string_value(json_array_get(who, 0)), "bob");
    TD_ASSERT_STR_EQ(json_string_value(json_array_get(who, 1)), "alice");
    json_decref(cm);
    TD_ASSERT_EQ(s_req(c, "alice", "POST", rsub, NULL, "{\"emoji\": \"tada\"}", &cm), 200);
    TD_ASSERT_EQ(json_object_size(json_object_get(cm, "reactions")), 2);
    json_decref(cm);
    TD_ASSERT_EQ(s_req(c, "bob", "DELETE", rdel, NULL, NULL, &cm), 200);
    TD_ASSERT_STR_EQ(s_last_event(), "reaction.removed");
    who = json_object_get(json_object_get(cm, "reactions"), "\xf0\x9f\x91\x8d");
    TD_ASSERT_EQ(json_array_size(who), 1);
    TD_ASSERT_STR_EQ(json_string_value(json_array_get(who, 0)), "alice");
    json_decref(cm);
    size_t ev_n = s_nevents();
    TD_ASSERT_EQ(s_st(c, "bob", "DELETE", rdel, NULL, NULL), 200); /* not there: unchanged */
    TD_ASSERT_EQ(s_nevents(), ev_n);

    /* Resolve and reopen record who and when; repeating one is a no-op. */
    snprintf(sub, sizeof sub, "/%s/resolve", tid);
    TD_ASSERT_EQ(s_req(c, "bob", "POST", sub, NULL, NULL, &t), 200);
    TD_ASSERT(json_is_true(json_object_get(t, "resolved")));
    TD_ASSERT_STR_EQ(s_str(t, "resolved_by"), "bob");
    TD_ASSERT(s_str(t, "resolved_at") && strlen(s_str(t, "resolved_at")) == 27);
    json_decref(t);
    TD_ASSERT_STR_EQ(s_last_event(), "thread.resolved");
    ev_n = s_nevents();
    TD_ASSERT_EQ(s_st(c, "erin", "POST", sub, NULL, NULL), 200);
    TD_ASSERT_EQ(s_nevents(), ev_n);
    TD_ASSERT_EQ(s_req(c, "erin", "GET", sub + 0, NULL, NULL, &t), 405);
    json_decref(t);
    snprintf(sub, sizeof sub, "/%s/reopen", tid);
    TD_ASSERT_EQ(s_req(c, "erin", "POST", sub, NULL, NULL, &t), 200);
    TD_ASSERT(json_is_false(json_object_get(t, "resolved")));
    TD_ASSERT(json_is_null(json_object_get(t, "resolved_by")));
    TD_ASSERT(json_is_null(json_object_get(t, "resolved_at")));
    json_decref(t);
    TD_ASSERT_STR_EQ(s_last_event(), "thread.reopened");

    /* Soft delete: author kept, body emptied, reactions and its mentions gone, thread coherent. */
    snprintf(rsub, sizeof rsub, "%s/reactions", csub);
    TD_ASSERT_EQ(s_st(c, "alice", "POST", rsub, NULL, "{\"emoji\": \"eyes\"}"), 200);
    before = s_db_state(st);
    TD_ASSERT_EQ(s_st(c, "erin", "DELETE", csub, NULL, NULL), 403); /* editor, not the author */
    TD_ASSERT_EQ(s_st(c, "carol", "DELETE", csub, NULL, NULL), 403);
    TD_ASSERT_EQ(s_db_state(st), before);
    TD_ASSERT_EQ(s_st(c, "bob", "DELETE", csub, NULL, NULL), 204);
    TD_ASSERT_STR_EQ(s_last_event(), "comment.deleted");
    TD_ASSERT_EQ(s_unread(c, "erin"), 0);
    snprintf(sub, sizeof sub, "/%s", tid);
    TD_ASSERT_EQ(s_req(c, "carol", "GET", sub, NULL, NULL, &t), 200);
    comments = json_object_get(t, "comments");
    TD_ASSERT_EQ(json_array_size(comments), 2);
    json_t *gone = json_array_get(comments, 1);
    TD_ASSERT_STR_EQ(s_str(gone, "id"), c2);
    TD_ASSERT(json_is_true(json_object_get(gone, "deleted")));
    TD_ASSERT_STR_EQ(s_str(gone, "body"), "");
    TD_ASSERT_STR_EQ(s_str(json_object_get(gone, "author"), "username"), "bob");
    TD_ASSERT_EQ(json_object_size(json_object_get(gone, "reactions")), 0);
    TD_ASSERT_EQ(s_count(st, "SELECT count(*) FROM reactions WHERE emoji = 'eyes'"), 0);
    TD_ASSERT(json_is_false(json_object_get(json_array_get(comments, 0), "deleted")));
    json_decref(t);
    TD_ASSERT_EQ(s_st(c, "bob", "PATCH", csub, NULL, "{\"body\": \"back\"}"), 409);
    TD_ASSERT_EQ(s_st(c, "bob", "DELETE", csub, NULL, NULL), 409);
    TD_ASSERT_EQ(s_st(c, "alice", "POST", rsub, NULL, thumbs), 409);
    /* The owner may delete someone else's comment; a reply to the thread still works. */
    char c3[64];
    s_new_reply(c, "bob", tid, "one more", c3);
    snprintf(csub, sizeof csub, "/%s/comments/%s", tid, c3);
    TD_ASSERT_EQ(s_st(c, "alice", "DELETE", csub, NULL, NULL), 204);
    /* A comment is only found under its own thread. */
    char other[64];
    s_new_thread(c, "alice", F_NB, "c2", "elsewhere", other);
    snprintf(csub, sizeof csub, "/%s/comments/%s", other, c1);
    TD_ASSERT_EQ(s_st(c, "alice", "GET", csub, NULL, NULL), 404);
    TD_ASSERT_EQ(s_st(c, "alice", "GET", "/no-such-thread", NULL, NULL), 404);
    snprintf(csub, sizeof csub, "/%s/comments/nope", tid);
    TD_ASSERT_EQ(s_st(c, "alice", "PATCH", csub, NULL, "{\"body\": \"x\"}"), 404);
    /* A thread URL with ?path= of another notebook does not reach it. */
    snprintf(sub, sizeof sub, "/%s", tid);
    TD_ASSERT_EQ(s_st(c, "alice", "GET", sub, "path=other.ipynb", NULL), 404);
    TD_ASSERT_EQ(s_st(c, "alice", "GET", sub, "path=nb.ipynb", NULL), 200);
    /* Creating on a cell the notebook does not have. */
    TD_ASSERT_EQ(
        s_st(c, "alice", "POST", "", "path=nb.ipynb", "{\"cell_id\": \"zz\", \"body\": \"x\"}"),
        404);
}

/* ---- every role against every action --------------------------------------------------------- */

typedef enum {
    A_LIST,
    A_GET,
    A_EXPORT,
    A_CREATE,
    A_REPLY,
    A_RESOLVE,
    A_REOPEN,
    A_REACT,
    A_UNREACT,
    A_EDIT_OTHER,
    A_DELETE_OTHER,
    A_IMPORT,
    A_COUNT
} s_action_t;

static const char *const s_action_names[A_COUNT] = {
    "list",   "get",   "export",  "create",     "reply",        "resolve",
    "reopen", "react", "unreact", "edit-other", "delete-other", "import"};

/* Expected status of action for role (the success codes, 403, or 404 without access). */
static int s_expect(s_action_t a, td_role_t r)
{
    if (r == TD_ROLE_NONE)
        return 404;
    switch (a) {
    case A_LIST:
    case A_GET:
    case A_EXPORT:
        return 200;
    case A_CREATE:
    case A_REPLY:
        return r >= TD_ROLE_COMMENTER ? 201 : 403;
    case A_RESOLVE:
    case A_REOPEN:
    case A_REACT:
    case A_UNREACT:
        return r >= TD_ROLE_COMMENTER ? 200 : 403;
    case A_EDIT_OTHER:
        return 403;
    case A_DELETE_OTHER:
        return r == TD_ROLE_OWNER ? 204 : 403;
    case A_IMPORT:
        return r == TD_ROLE_OWNER ? 200 : 403;
    default:
        return 0;
    }
}

static void s_matrix(td_comments_t *c, td_store_t *st)
{
    const int users[] = {U_ALICE, U_ERIN, U_BOB, U_CAROL, U_DAVE};
    const td_role_t roles[] = {TD_ROLE_OWNER, TD_ROLE_EDITOR, TD_ROLE_COMMENTER, TD_ROLE_VIEWER,
                               TD_ROLE_NONE};
    for (size_t ui = 0; ui < 5; ui++) {
        const char *user = s_users[users[ui]];
        TD_ASSERT_EQ(s_ctx.role[users[ui]][F_NB], roles[ui]);
        for (int a = 0; a < A_COUNT; a++) {
            /* A fresh thread by someone else each time: a comment by carol (a viewer now, but
             * she wrote it as a commenter), a reaction to remove, resolved when reopening. */
            s_ctx.role[U_CAROL][F_NB] = TD_ROLE_COMMENTER;
            char tid[64], cid[64], sub[256], body[256];
            s_new_thread(c, "alice", F_NB, "c3", "matrix", tid);
            s_new_reply(c, "carol", tid, "by carol", cid);
            s_ctx.role[U_CAROL][F_NB] = TD_ROLE_VIEWER;
            snprintf(sub, sizeof sub, "/%s/comments/%s/reactions", tid, cid);
            TD_ASSERT_EQ(s_st(c, "alice", "POST", sub, NULL, "{\"emoji\": \"x\"}"), 200);
            if (a == A_UNREACT && roles[ui] >= TD_ROLE_COMMENTER) /* their own, to remove */
                TD_ASSERT_EQ(s_st(c, user, "POST", sub, NULL, "{\"emoji\": \"y\"}"), 200);
            if (a == A_REOPEN) {
                snprintf(sub, sizeof sub, "/%s/resolve", tid);
                TD_ASSERT_EQ(s_st(c, "alice", "POST", sub, NULL, NULL), 200);
            }
            uint64_t before = s_db_state(st);
            size_t ev = s_nevents();
            const char *method = "POST", *query = NULL, *b = NULL;
            switch ((s_action_t)a) {
            case A_LIST:
                method = "GET", query = "path=nb.ipynb", snprintf(sub, sizeof sub, "%s", "");
                break;
            case A_GET:
                method = "GET", snprintf(sub, sizeof sub, "/%s", tid);
                break;
            case A_EXPORT:
                method = "GET", query = "path=nb.ipynb", snprintf(sub, sizeof sub, "/export");
                break;
            case A_CREATE:
                query = "path=nb.ipynb", snprintf(sub, sizeof sub, "%s", "");
                b = "{\"cell_id\": \"c3\", \"body\": \"new\"}";
                break;
            case A_REPLY:
                snprintf(sub, sizeof sub, "/%s/replies", tid), b = "{\"body\": \"re\"}";
                break;
            case A_RESOLVE:
                snprintf(sub, sizeof sub, "/%s/resolve", tid);
                break;
            case A_REOPEN:
                snprintf(sub, sizeof sub, "/%s/reopen", tid);
                break;
            case A_REACT:
                snprintf(sub, sizeof sub, "/%s/comments/%s/reactions", tid, cid);
                b = "{\"emoji\": \"z\"}";
                break;
            case A_UNREACT:
                method = "DELETE",
                snprintf(sub, sizeof sub, "/%s/comments/%s/reactions/y", tid, cid);
                break;
            case A_EDIT_OTHER:
                method = "PATCH", snprintf(sub, sizeof sub, "/%s/comments/%s", tid, cid);
                b = "{\"body\": \"edited\"}";
                break;
            case A_DELETE_OTHER:
                method = "DELETE", snprintf(sub, sizeof sub, "/%s/comments/%s", tid, cid);
                break;
            case A_IMPORT:
                query = "path=nb.ipynb", snprintf(sub, sizeof sub, "/import");
                snprintf(body, sizeof body,
                         "{\"threads\": [{\"cell_id\": \"c1\", \"comments\":"
                         " [{\"author\": \"bob\", \"body\": \"imported\"}]}]}");
                b = body;
                break;
            default:
                break;
            }
            int want = s_expect((s_action_t)a, roles[ui]);
            json_t *out;
            int got = s_req(c, user, method, sub, query, b, &out);
            if (got != want)
                TD_FAIL("%s as %s: %d, expected %d", s_action_names[a], user, got, want);
            if (want == 403)
                TD_ASSERT(json_is_string(json_object_get(out, "reason")));
            json_decref(out);
            if (want >= 400) { /* refused: not one byte and not one event changed */
                TD_ASSERT_EQ(s_db_state(st), before);
                TD_ASSERT_EQ(s_nevents(), ev);
            } else if (strcmp(method, "GET") != 0) {
                TD_ASSERT(s_db_state(st) != before);
                TD_ASSERT(a == A_IMPORT || s_nevents() > ev);
            }
        }
    }
    /* A commenter demoted to viewer can no longer edit or delete their own comment. */
    char tid[64], cid[64], sub[256];
    s_new_thread(c, "bob", F_NB, "c3", "mine", tid);
    s_new_reply(c, "bob", tid, "mine too", cid);
    s_ctx.role[U_BOB][F_NB] = TD_ROLE_VIEWER;
    snprintf(sub, sizeof sub, "/%s/comments/%s", tid, cid);
    uint64_t before = s_db_state(st);
    TD_ASSERT_EQ(s_st(c, "bob", "PATCH", sub, NULL, "{\"body\": \"x\"}"), 403);
    TD_ASSERT_EQ(s_st(c, "bob", "DELETE", sub, NULL, NULL), 403);
    TD_ASSERT_EQ(s_db_state(st), before);
    s_ctx.role[U_BOB][F_NB] = TD_ROLE_COMMENTER;
    /* no-download: export refused, reading still fine. */
    td_comments_req_t req = {.method = "GET",
                             .sub = "/export",
                             .username = "carol",
                             .file_id = "F1",
                             .path = "nb.ipynb",
                             .role = TD_ROLE_VIEWER,
                             .no_download = 1};
    json_t *out = NULL;
    TD_ASSERT_EQ(td_comments_handle(c, &req, &out), 403);
    TD_ASSERT_STR_EQ(s_str(out, "reason"), "no-download");
    json_decref(out);
    req.sub = "";
    TD_ASSERT_EQ(td_comments_handle(c, &req, &out), 200);
    json_decref(out);
}

/* ---- the inbox ------------------------------------------------------------------------------- */

static void s_notifications(td_comments_t *c)
{
    json_t *out;
    /* Clear carol's inbox, then three mentions. */
    TD_ASSERT_EQ(td_comments_notifications(c, "POST", "/read", "carol", NULL, 0, "{\"all\": true}",
                                           13, &out),
                 204);
    TD_ASSERT_EQ(s_unread(c, "carol"), 0);
    for (int i = 0; i < 3; i++) {
        char tid[64];
        s_new_thread(c, i == 1 ? "bob" : "alice", F_NB, "c2", "ping @carol", tid);
    }
    TD_ASSERT_EQ(s_unread(c, "carol"), 3);
    const char *q1[] = {"unread=1", "limit=2"};
    json_t *in = s_inbox(c, "carol", q1, 2);
    json_t *list = json_object_get(in, "notifications");
    TD_ASSERT_EQ(json_array_size(list), 2);
    json_int_t newest = json_integer_value(json_object_get(json_array_get(list, 0), "id"));
    json_int_t second = json_integer_value(json_object_get(json_array_get(list, 1), "id"));
    TD_ASSERT(newest > second); /* newest first */
    TD_ASSERT_STR_EQ(s_str(json_array_get(list, 1), "actor"), "bob");
    const char *cursor = s_str(in, "next");
    TD_ASSERT(cursor != NULL);
    char cq[80];
    snprintf(cq, sizeof cq, "cursor=%s", cursor);
    const char *q2[] = {"unread=1", "limit=2", cq};
    json_t *in2 = s_inbox(c, "carol", q2, 3);
    TD_ASSERT_EQ(json_array_size(json_object_get(in2, "notifications")), 1);
    TD_ASSERT(json_is_null(json_object_get(in2, "next")));
    json_decref(in2);
    json_decref(in);
    /* Mark one read; bob cannot mark carol's. */
    char body[128];
    snprintf(body, sizeof body, "{\"ids\": [%lld]}", (long long)newest);
    TD_ASSERT_EQ(
        td_comments_notifications(c, "POST", "/read", "bob", NULL, 0, body, strlen(body), &out),
        204);
    TD_ASSERT_EQ(s_unread(c, "carol"), 3);
    TD_ASSERT_EQ(
        td_comments_notifications(c, "POST", "/read", "carol", NULL, 0, body, strlen(body), &out),
        204);
    TD_ASSERT_EQ(s_unread(c, "carol"), 2);
    in = s_inbox(c, "carol", NULL, 0);
    json_t *n0 = json_array_get(json_object_get(in, "notifications"), 0);
    TD_ASSERT_EQ(json_integer_value(json_object_get(n0, "id")), newest);
    TD_ASSERT(json_is_true(json_object_get(n0, "read")));
    TD_ASSERT_EQ(json_integer_value(json_object_get(in, "unread")), 2);
    json_decref(in);
    const char *q3[] = {"unread=1"};
    in = s_inbox(c, "carol", q3, 1);
    TD_ASSERT_EQ(json_array_size(json_object_get(in, "notifications")), 2);
    json_decref(in);
    /* Access revoked: the entries stay, but neither the path nor the (current) text shows. */
    s_ctx.role[U_CAROL][F_NB] = TD_ROLE_NONE;
    in = s_inbox(c, "carol", NULL, 0);
    n0 = json_array_get(json_object_get(in, "notifications"), 0);
    TD_ASSERT_STR_EQ(s_str(n0, "fileId"), "F1");
    TD_ASSERT(json_is_null(json_object_get(n0, "path")));
    TD_ASSERT(json_is_null(json_object_get(n0, "excerpt")));
    json_decref(in);
    s_ctx.role[U_CAROL][F_NB] = TD_ROLE_VIEWER;
    in = s_inbox(c, "carol", NULL, 0);
    n0 = json_array_get(json_object_get(in, "notifications"), 0);
    TD_ASSERT_STR_EQ(s_str(n0, "path"), "nb.ipynb");
    TD_ASSERT_STR_EQ(s_str(n0, "excerpt"), "ping @carol");
    json_decref(in);
    /* Bad requests. */
    const char *bad[] = {"{\"ids\": [\"x\"]}", "{\"ids\": 3}", "{}", "[1]", "{", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        TD_ASSERT_EQ(td_comments_notifications(c, "POST", "/read", "carol", NULL, 0, bad[i],
                                               strlen(bad[i]), &out),
                     400);
        json_decref(out);
    }
    TD_ASSERT_EQ(td_comments_notifications(c, "DELETE", "", "carol", NULL, 0, NULL, 0, &out), 405);
    json_decref(out);
    TD_ASSERT_EQ(td_comments_notifications(c, "GET", "/x", "carol", NULL, 0, NULL, 0, &out), 404);
    json_decref(out);
    const char *badq[] = {"cursor=c12"};
    TD_ASSERT_EQ(td_comments_notifications(c, "GET", "", "carol", badq, 1, NULL, 0, &out), 400);
    json_decref(out);
    TD_ASSERT_EQ(td_comments_notifications(c, "POST", "/read", "carol", NULL, 0, "{\"all\": true}",
                                           13, &out),
                 204);
    TD_ASSERT_EQ(s_unread(c, "carol"), 0);
}

/* ---- orphaning ------------------------------------------------------------------------------- */

static void s_orphans(td_comments_t *c, td_store_t *st)
{
    char t1[64], t2[64], sub[128];
    s_new_thread(c, "alice", F_NB, "c4", "on c4", t1);
    s_new_thread(c, "alice", F_NB, "c5", "on c5", t2);
    long on_c4 =
        s_count(st, "SELECT count(*) FROM threads WHERE file_id = 'F1' AND cell_id = 'c4'");
    TD_ASSERT_EQ(on_c4, 1);
    /* Every cell but c4. */
    const char *cells[] = {"c1", "c2", "c3", "c5"};
    size_t ev = s_nevents();
    TD_ASSERT_EQ(td_comments_sync_cells(c, "F1", cells, 4), 1);
    TD_ASSERT_EQ(s_nevents(), ev + 1);
    TD_ASSERT_STR_EQ(s_last_event(), "thread.orphaned");
    snprintf(sub, sizeof sub, "/%s", t1);
    json_t *t;
    TD_ASSERT_EQ(s_req(c, "bob", "GET", sub, NULL, NULL, &t), 200);
    TD_ASSERT(json_is_true(json_object_get(t, "orphaned")));
    json_decref(t);
    json_t *page;
    TD_ASSERT_EQ(s_req(c, "bob", "GET", "", "path=nb.ipynb&orphaned=1", NULL, &page), 200);
    json_t *threads = json_object_get(page, "threads");
    TD_ASSERT_EQ(json_array_size(threads), 1);
    TD_ASSERT_STR_EQ(s_str(json_array_get(threads, 0), "id"), t1);
    json_decref(page);
    /* Orphaned threads can still be replied to. */
    char cid[64];
    s_new_reply(c, "bob", t1, "still here", cid);
    /* The same set in another order: the cached digest answers, no SQL runs (a flag changed
     * behind the module's back stays as it is). */
    const char *same[] = {"c5", "c3", "c2", "c1"};
    TD_ASSERT_OK(sqlite3_exec(td_store_db(st), "UPDATE threads SET orphaned = 1 WHERE id = 'zz'",
                              NULL, NULL, NULL));
    char sql[160];
    snprintf(sql, sizeof sql, "UPDATE threads SET orphaned = 1 WHERE id = '%s'", t2);
    TD_ASSERT_OK(sqlite3_exec(td_store_db(st), sql, NULL, NULL, NULL));
    ev = s_nevents();
    TD_ASSERT_EQ(td_comments_sync_cells(c, "F1", same, 4), 0);
    TD_ASSERT_EQ(s_nevents(), ev);
    snprintf(sql, sizeof sql, "UPDATE threads SET orphaned = 0 WHERE id = '%s'", t2);
    TD_ASSERT_OK(sqlite3_exec(td_store_db(st), sql, NULL, NULL, NULL));
    /* c4 is back (undo): re-attached. */
    const char *back[] = {"c1", "c2", "c3", "c4", "c5"};
    TD_ASSERT_EQ(td_comments_sync_cells(c, "F1", back, 5), 1);
    TD_ASSERT_STR_EQ(s_last_event(), "thread.attached");
    TD_ASSERT_STR_EQ(
        s_str(json_object_get(json_array_get(s_ctx.events, s_nevents() - 1), "thread"), "id"), t1);
    TD_ASSERT_EQ(s_req(c, "bob", "GET", sub, NULL, NULL, &t), 200);
    TD_ASSERT(json_is_false(json_object_get(t, "orphaned")));
    TD_ASSERT_EQ(json_array_size(json_object_get(t, "comments")), 2);
    json_decref(t);
    TD_ASSERT_EQ(td_comments_sync_cells(c, "F1", back, 5), 0);
    /* A thread created after a sync is covered by the next one even with the same set. */
    s_ctx.cells[F_NB][s_ctx.ncells[F_NB]++] = "c9";
    char t3[64];
    s_new_thread(c, "alice", F_NB, "c9", "on c9", t3);
    TD_ASSERT_EQ(td_comments_sync_cells(c, "F1", back, 5), 1);
    TD_ASSERT_STR_EQ(s_last_event(), "thread.orphaned");
    s_ctx.ncells[F_NB]--;
    /* No cells at all: everything is orphaned; then all of them come back. */
    long total = s_count(st, "SELECT count(*) FROM threads WHERE file_id = 'F1'");
    long attached =
        s_count(st, "SELECT count(*) FROM threads WHERE file_id = 'F1' AND orphaned = 0");
    TD_ASSERT_EQ(td_comments_sync_cells(c, "F1", NULL, 0), attached);
    TD_ASSERT_EQ(s_count(st, "SELECT count(*) FROM threads WHERE file_id = 'F1' AND orphaned = 1"),
                 total);
    const char *all[] = {"c1", "c2", "c3", "c4", "c5", "c9"};
    TD_ASSERT_EQ(td_comments_sync_cells(c, "F1", all, 6), total);
    TD_ASSERT_EQ(td_comments_sync_cells(c, "F1", back, 5), 1); /* c9 again */
    TD_ASSERT_EQ(td_comments_sync_cells(c, "F1", s_ctx.cells[F_NB], s_ctx.ncells[F_NB]), 0);
}

/* ---- export and import ----------------------------------------------------------------------- */

static void s_export_import(td_comments_t *c, td_store_t *st)
{
    json_t *exp;
    TD_ASSERT_EQ(s_req(c, "carol", "GET", "/export", "path=nb.ipynb", NULL, &exp), 200);
    TD_ASSERT_EQ(json_integer_value(json_object_get(exp, "version")), 1);
    TD_ASSERT_STR_EQ(s_str(exp, "fileId"), "F1");
    json_t *threads = json_object_get(exp, "threads");
    long n = s_count(st, "SELECT count(*) FROM threads WHERE file_id = 'F1'");
    TD_ASSERT_EQ((long)json_array_size(threads), n);
    json_t *t0 = json_array_get(threads, 0); /* the lifecycle thread: range, reactions, deleted */
    TD_ASSERT(json_is_object(json_object_get(t0, "range")));
    char *text = json_dumps(exp, JSON_COMPACT);
    TD_ASSERT(text != NULL);
    /* other.ipynb has only c1: threads on other cells arrive orphaned. */
    long before = s_count(st, "SELECT count(*) FROM threads WHERE file_id = 'F2'");
    TD_ASSERT_EQ(before, 0);
    size_t ev = s_nevents();
    json_t *out;
    TD_ASSERT_EQ(s_req(c, "alice", "POST", "/import", "path=other.ipynb", text, &out), 200);
    TD_ASSERT_EQ(json_integer_value(json_object_get(out, "imported")), n);
    json_decref(out);
    TD_ASSERT_EQ((long)(s_nevents() - ev), n);
    TD_ASSERT_EQ(s_count(st, "SELECT count(*) FROM threads WHERE file_id = 'F2'"), n);
    TD_ASSERT_EQ(
        s_count(st, "SELECT count(*) FROM threads WHERE file_id = 'F2' AND orphaned = 0"),
        s_count(st, "SELECT count(*) FROM threads WHERE file_id = 'F2' AND cell_id = 'c1'"));
    json_t *exp2;
    TD_ASSERT_EQ(s_req(c, "alice", "GET", "/export", "path=other.ipynb", NULL, &exp2), 200);
    json_t *u0 = json_array_get(json_object_get(exp2, "threads"), 0);
    TD_ASSERT(strcmp(s_str(u0, "id"), s_str(t0, "id")) != 0); /* new ids */
    TD_ASSERT_STR_EQ(s_str(u0, "fileId"), "F2");
    TD_ASSERT_STR_EQ(s_str(u0, "path"), "other.ipynb");
    TD_ASSERT_STR_EQ(s_str(u0, "created"), s_str(t0, "created"));
    TD_ASSERT(json_equal(json_object_get(u0, "range"), json_object_get(t0, "range")));
    json_t *a = json_object_get(t0, "comments"), *b = json_object_get(u0, "comments");
    TD_ASSERT_EQ(json_array_size(a), json_array_size(b));
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *x = json_array_get(a, i), *y = json_array_get(b, i);
        TD_ASSERT(strcmp(s_str(x, "id"), s_str(y, "id")) != 0);
        TD_ASSERT(json_equal(json_object_get(x, "author"), json_object_get(y, "author")));
        TD_ASSERT_STR_EQ(s_str(x, "body"), s_str(y, "body"));
        TD_ASSERT_STR_EQ(s_str(x, "created"), s_str(y, "created"));
        TD_ASSERT(json_equal(json_object_get(x, "deleted"), json_object_get(y, "deleted")));
        TD_ASSERT(json_equal(json_object_get(x, "reactions"), json_object_get(y, "reactions")));
    }
    /* One bad thread spoils the whole import: nothing is written. */
    uint64_t state = s_db_state(st);
    const char *bad[] = {
        "{\"threads\": [{\"cell_id\": \"c1\", \"comments\": [{\"author\": \"bob\", \"body\": "
        "\"ok\"}]},"
        " {\"cell_id\": \"c1\", \"comments\": [{\"author\": \"bob bob\", \"body\": \"x\"}]}]}",
        "{\"threads\": [{\"cell_id\": \"c1\", \"comments\": []}]}",
        "{\"threads\": [{\"cell_id\": 5, \"comments\": [{\"author\": \"bob\", \"body\": \"x\"}]}]}",
        "{\"threads\": [{\"cell_id\": \"c1\", \"comments\": [{\"author\": \"bob\", \"body\": \"x\","
        " \"reactions\": {\"a b\": [\"bob\"]}}]}]}",
        "{\"threads\": [{\"cell_id\": \"c1\", \"created\": \"'; DROP TABLE threads; --\","
        " \"comments\": [{\"author\": \"bob\", \"body\": \"x\"}]}]}",
        "{\"version\": 2, \"threads\": []}",
        "{\"threads\": {}}",
        "{\"threads\": [1]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (s_st(c, "alice", "POST", "/import", "path=other.ipynb", bad[i]) != 400)
            TD_FAIL("bad import %zu was not refused", i);
    TD_ASSERT_EQ(s_db_state(st), state);
    free(text);
    json_decref(exp2);
    json_decref(exp);
}

/* ---- paging over a big notebook -------------------------------------------------------------- */

static void s_paging(td_comments_t *c, td_store_t *st)
{
    enum { N = 1200 };
    static char ids[N][40];
    char cells[10][8];
    for (int i = 0; i < 10; i++) {
        snprintf(cells[i], sizeof cells[i], "k%d", i);
        s_ctx.cells[F_BIG][i] = cells[i];
    }
    s_ctx.ncells[F_BIG] = 10;
    /* Inside the relay's group transaction: the module's savepoints nest in it. Bob starts every
     * seventh thread and mentions alice; alice starts the others and mentions bob. */
    TD_ASSERT_OK(td_store_begin(st));
    for (int i = 0; i < N; i++) {
        char tid[64], text[48];
        snprintf(text, sizeof text, "thread %d %s", i, i % 7 == 0 ? "@alice" : "@bob");
        s_new_thread(c, i % 7 == 0 ? "bob" : "alice", F_BIG, cells[i % 10], text, tid);
        snprintf(ids[i], sizeof ids[i], "%.39s", tid);
        if (i % 3 == 0) {
            char sub[80];
            snprintf(sub, sizeof sub, "/%s/resolve", tid);
            TD_ASSERT_EQ(s_st(c, "alice", "POST", sub, NULL, NULL), 200);
        }
    }
    TD_ASSERT_OK(td_store_commit(st));
    /* Walks the list as a user with a filter and page size: each thread the filter selects
     * comes back exactly once, in creation order. "mine" and "mentions" are run both with few
     * matches (at most S_DRIVE_MAX: the matches are walked) and with many (the notebook is). */
    enum { P_ALL, P_UNRESOLVED, P_K3, P_BOB, P_ALICE, P_UNRES_K0, P_BOB_UNRES };
    struct {
        const char *user, *filter;
        int limit, pred;
    } walks[] = {{"bob", "", 100, P_ALL},
                 {"bob", "", 7, P_ALL},
                 {"bob", "&unresolved=1", 64, P_UNRESOLVED},
                 {"bob", "&cell=k3", 50, P_K3},
                 {"bob", "&mine=1", 500, P_BOB},        /* 172 matches: walked */
                 {"alice", "&mine=1", 77, P_ALICE},     /* 1028 (and more elsewhere): scan */
                 {"alice", "&mentions=1", 33, P_BOB},   /* 172: walked */
                 {"bob", "&mentions=1", 250, P_ALICE},  /* 1028: scan */
                 {"bob", "&mine=1&mentions=1", 50, -1}, /* none */
                 {"alice", "&mine=1&mentions=1", 50, -1},
                 {"bob", "&mine=1&unresolved=1", 10, P_BOB_UNRES},
                 {"bob", "&unresolved=1&cell=k0", 9, P_UNRES_K0},
                 {"bob", "", 1000, P_ALL}};
    for (size_t w = 0; w < sizeof walks / sizeof walks[0]; w++) {
        static unsigned char seen[N];
        memset(seen, 0, sizeof seen);
        int want = 0;
        for (int i = 0; i < N; i++) {
            int p = walks[w].pred;
            want += p == P_ALL || (p == P_UNRESOLVED && i % 3) || (p == P_K3 && i % 10 == 3) ||
                    (p == P_BOB && i % 7 == 0) || (p == P_ALICE && i % 7) ||
                    (p == P_UNRES_K0 && i % 10 == 0 && i % 3) ||
                    (p == P_BOB_UNRES && i % 7 == 0 && i % 3);
        }
        char cursor[64] = "";
        int got = 0, pages = 0, last = -1;
        for (;;) {
            char q[256];
            snprintf(q, sizeof q, "path=big.ipynb%s&limit=%d%s%s", walks[w].filter, walks[w].limit,
                     cursor[0] ? "&cursor=" : "", cursor);
            json_t *page;
            TD_ASSERT_EQ(s_req(c, walks[w].user, "GET", "", q, NULL, &page), 200);
            json_t *threads = json_object_get(page, "threads");
            TD_ASSERT((int)json_array_size(threads) <=
                      (walks[w].limit > 500 ? 500 : walks[w].limit));
            size_t i;
            json_t *t;
            json_array_foreach(threads, i, t)
            {
                int k = atoi(s_str(json_array_get(json_object_get(t, "comments"), 0), "body") + 7);
                TD_ASSERT(k >= 0 && k < N);
                TD_ASSERT_STR_EQ(s_str(t, "id"), ids[k]);
                TD_ASSERT_EQ(seen[k], 0);
                TD_ASSERT(k > last);
                seen[k] = 1, last = k, got++;
            }
            pages++;
            const char *next = s_str(page, "next");
            if (!next) {
                json_decref(page);
                break;
            }
            TD_ASSERT(json_array_size(threads) > 0);
            snprintf(cursor, sizeof cursor, "%s", next);
            json_decref(page);
        }
        if (got != want)
            TD_FAIL("walk %zu (%s%s, limit %d): %d threads, expected %d", w, walks[w].user,
                    walks[w].filter, walks[w].limit, got, want);
        int per = walks[w].limit > 500 ? 500 : walks[w].limit;
        TD_ASSERT_EQ(pages, got ? (got + per - 1) / per : 1);
    }
    json_t *page;
    TD_ASSERT_EQ(s_req(c, "bob", "GET", "", "path=big.ipynb", NULL, &page), 200);
    TD_ASSERT_EQ(json_array_size(json_object_get(page, "threads")), 50); /* the default */
    json_decref(page);
    const char *badq[] = {"path=big.ipynb&limit=0",
                          "path=big.ipynb&limit=-3",
                          "path=big.ipynb&limit=ten",
                          "path=big.ipynb&cursor=zz",
                          "path=big.ipynb&cursor=c",
                          "path=big.ipynb&cursor=cxyz",
                          "path=big.ipynb&cursor=c1234567890abcdef0",
                          "path=big.ipynb&unresolved=2",
                          "path=big.ipynb&mine=yes"};
    for (size_t i = 0; i < sizeof badq / sizeof badq[0]; i++)
        if (s_st(c, "bob", "GET", "", badq[i], NULL) != 400)
            TD_FAIL("query %s was not refused", badq[i]);
    TD_ASSERT_EQ(s_st(c, "bob", "GET", "", NULL, NULL), 400); /* no notebook named */
}

/* ---- embedding ------------------------------------------------------------------------------- */

static void s_embed(td_comments_t *c)
{
    json_t *nb =
        json_loads("{\"cells\": [{\"id\": \"c1\", \"metadata\": {\"a\": 1}}, {\"id\": \"c2\"},"
                   " {\"id\": \"cX\", \"metadata\": {\"tandem\": {\"comments\": [1]}}},"
                   " 7, {\"metadata\": []}]}",
                   0, NULL);
    TD_ASSERT(nb != NULL);
    TD_ASSERT_OK(td_comments_embed(c, "F1", nb));
    json_t *cells = json_object_get(nb, "cells");
    json_t *m0 = json_object_get(json_array_get(cells, 0), "metadata");
    TD_ASSERT_EQ(json_integer_value(json_object_get(m0, "a")), 1);
    json_t *cm0 = json_object_get(json_object_get(m0, "tandem"), "comments");
    TD_ASSERT(json_array_size(cm0) >= 1);
    size_t i;
    json_t *t;
    json_array_foreach(cm0, i, t)
    {
        TD_ASSERT_STR_EQ(s_str(t, "cell_id"), "c1");
        TD_ASSERT(json_is_false(json_object_get(t, "orphaned")));
    }
    json_t *cm1 = json_object_get(
        json_object_get(json_object_get(json_array_get(cells, 1), "metadata"), "tandem"),
        "comments");
    TD_ASSERT(json_array_size(cm1) >= 1);
    json_t *mX = json_object_get(json_array_get(cells, 2), "metadata");
    TD_ASSERT(json_object_get(mX, "tandem") == NULL);
    json_decref(nb);
    json_t *bad = json_loads("{\"cells\": 3}", 0, NULL);
    TD_ASSERT_EQ(td_comments_embed(c, "F1", bad), TD_EINVAL);
    json_decref(bad);
}

/* ---- garbage --------------------------------------------------------------------------------- */

static void s_garbage(td_comments_t *c, td_store_t *st)
{
    char tid[64], cid[64];
    s_new_thread(c, "alice", F_NB, "c1", "target", tid);
    s_new_reply(c, "alice", tid, "reply", cid);
    char subs[12][200];
    snprintf(subs[0], sizeof subs[0], "%s", "");
    snprintf(subs[1], sizeof subs[1], "/%s", tid);
    snprintf(subs[2], sizeof subs[2], "/%s/replies", tid);
    snprintf(subs[3], sizeof subs[3], "/%s/resolve", tid);
    snprintf(subs[4], sizeof subs[4], "/%s/reopen", tid);
    snprintf(subs[5], sizeof subs[5], "/%s/comments/%s", tid, cid);
    snprintf(subs[6], sizeof subs[6], "/%s/comments/%s/reactions", tid, cid);
    snprintf(subs[7], sizeof subs[7], "/%s/comments/%s/reactions/x", tid, cid);
    snprintf(subs[8], sizeof subs[8], "%s", "/export");
    snprintf(subs[9], sizeof subs[9], "%s", "/import");
    snprintf(subs[10], sizeof subs[10], "/%s/", tid);
    snprintf(subs[11], sizeof subs[11], "%s", "/");
    static char huge[70000 + 32];
    memset(huge, 'a', sizeof huge);
    memcpy(huge, "{\"body\": \"", 10);
    memcpy(huge + 70000, "\"}", 3);
    static char deep[20000];
    for (int i = 0; i < 9999; i++)
        deep[i] = '[';
    deep[9999] = '\0';
    const char *bodies[] = {"",
                            "{",
                            "null",
                            "[]",
                            "\"x\"",
                            "1e999999",
                            "{\"body\": 5}",
                            "{\"body\": \"\"}",
                            "{\"body\": \"  \\n\\t \"}",
                            "{\"body\": null}",
                            "{\"emoji\": \"a/b\"}",
                            "{\"emoji\": \"\"}",
                            "{\"emoji\": [\"x\"]}",
                            "{\"body\": \"a\\u0000b\"}",
                            "{\"threads\": [null, 1, \"x\", {}]}",
                            "{\"body\": \"\xff\xfe\"}",
                            "\xef\xbb\xbf{}",
                            deep,
                            huge,
                            "{\"ids\": [1]}",
                            "{\"cell_id\": \"c1\", \"body\": {\"a\": 1}}"};
    const char *methods[] = {"GET", "POST", "PATCH", "DELETE", "PUT", "", "get", "OPTIONS"};
    const char *users[] = {"alice", "carol", "dave"};
    uint64_t state = s_db_state(st);
    size_t ev = s_nevents();
    for (size_t s = 0; s < 12; s++)
        for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++)
            for (size_t b = 0; b < sizeof bodies / sizeof bodies[0]; b++)
                for (size_t u = 0; u < 3; u++) {
                    /* DELETE and the idempotent POSTs would succeed whatever the body: they have
                     * their own tests. Everything else must be refused without a change. */
                    int harmless = strcmp(methods[m], "GET") == 0 ||
                                   ((s == 3 || s == 4) && strcmp(methods[m], "POST") == 0) ||
                                   strcmp(methods[m], "DELETE") == 0;
                    if (harmless && strcmp(methods[m], "GET") != 0)
                        continue;
                    json_t *out;
                    int got =
                        s_req(c, users[u], methods[m], subs[s], "path=nb.ipynb", bodies[b], &out);
                    json_decref(out);
                    if (!harmless && got < 400)
                        TD_FAIL("%s %s as %s with body %zu answered %d", methods[m], subs[s],
                                users[u], b, got);
                    if (got >= 500)
                        TD_FAIL("%s %s: %d", methods[m], subs[s], got);
                }
    /* Bodies that would be a fine reply but are not a thread. */
    const char *creates[] = {"{\"cell_id\": \"\\u0001\", \"body\": \"x\"}",
                             "{\"cell_id\": \"\", \"body\": \"x\"}",
                             "{\"cell_id\": \"c1\", \"body\": \"x\", \"range\": 5}",
                             "{\"cell_id\": \"c1\", \"body\": \"x\", \"range\": {\"anchor\": 1}}",
                             "{\"cell_id\": [], \"body\": \"x\"}",
                             "{\"body\": \"x\"}"};
    for (size_t b = 0; b < sizeof creates / sizeof creates[0]; b++)
        if (s_st(c, "alice", "POST", "", "path=nb.ipynb", creates[b]) != 400)
            TD_FAIL("create body %zu was not refused", b);
    TD_ASSERT_EQ(s_db_state(st), state);
    TD_ASSERT_EQ(s_nevents(), ev);
    /* Sizes: exactly 64 KiB is a comment, one byte more is 413. */
    static char big[TD_COMMENTS_BODY_MAX + 64];
    int n = snprintf(big, sizeof big, "{\"body\": \"");
    memset(big + n, 'b', TD_COMMENTS_BODY_MAX);
    memcpy(big + n + TD_COMMENTS_BODY_MAX, "\"}", 3);
    TD_ASSERT_EQ(s_st(c, "alice", "POST", subs[2], NULL, big), 201);
    memcpy(big + n + TD_COMMENTS_BODY_MAX, "b\"}", 4);
    TD_ASSERT_EQ(s_st(c, "alice", "POST", subs[2], NULL, big), 413);
    TD_ASSERT_EQ(s_st(c, "alice", "POST", subs[2], NULL, huge), 413);
    /* Odd URLs. */
    const char *urls[] = {
        "//",    "/x/y/z/w/v/u/t", "/\x01",           "/export/x",  "x",
        "/a//b", "/a/comments",    "/a/comments/b/c", "/a/unknown", "/a/comments/b/reactions/x/y"};
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        int got = s_st(c, "alice", "GET", urls[i], "path=nb.ipynb", NULL);
        if (got != 404 && got != 405)
            TD_FAIL("GET %s: %d", urls[i], got);
    }
    char longseg[600];
    memset(longseg, 'a', sizeof longseg);
    longseg[0] = '/';
    longseg[sizeof longseg - 1] = '\0';
    TD_ASSERT_EQ(s_st(c, "alice", "GET", longseg, NULL, NULL), 404);
    TD_ASSERT_EQ(s_st(c, "alice", "GET", NULL, "path=nb.ipynb", NULL), 200);
    /* Reaction segments that are not reactions. */
    char sub[256];
    snprintf(sub, sizeof sub, "/%s/comments/%s/reactions/\xff", tid, cid);
    TD_ASSERT_EQ(s_st(c, "alice", "DELETE", sub, NULL, NULL), 404);
    /* Ill-formed UTF-8: an overlong '/', a surrogate, a code point past U+10FFFF. */
    const char *bad_utf8[] = {"\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80"};
    for (size_t i = 0; i < sizeof bad_utf8 / sizeof bad_utf8[0]; i++) {
        snprintf(sub, sizeof sub, "/%s/comments/%s/reactions/%s", tid, cid, bad_utf8[i]);
        TD_ASSERT_EQ(s_st(c, "alice", "DELETE", sub, NULL, NULL), 404);
    }
    /* Misuse by the caller is answered, not crashed on. */
    json_t *out = NULL;
    td_comments_req_t req = {.method = NULL, .sub = ""};
    TD_ASSERT_EQ(td_comments_handle(c, &req, &out), 400);
    json_decref(out);
    TD_ASSERT_EQ(td_comments_handle(c, NULL, &out), 400);
    json_decref(out);
    TD_ASSERT_EQ(td_comments_notifications(c, "GET", "", NULL, NULL, 0, NULL, 0, &out), 400);
    json_decref(out);
}

/* ---- without hooks --------------------------------------------------------------------------- */

static void s_no_hooks(td_store_t *st, const td_env_t *env)
{
    td_comments_t *c = td_comments_new(st, env);
    TD_ASSERT(c != NULL);
    td_comments_req_t req = {.method = "POST",
                             .sub = "",
                             .username = "alice",
                             .file_id = "F9",
                             .path = "x.ipynb",
                             .role = TD_ROLE_EDITOR,
                             .body = "{\"cell_id\": \"any\", \"body\": \"hi\"}"};
    req.body_len = strlen(req.body);
    json_t *out = NULL;
    TD_ASSERT_EQ(td_comments_handle(c, &req, &out), 201); /* no cell hook: any cell */
    char sub[80];
    snprintf(sub, sizeof sub, "/%s", s_str(out, "id"));
    json_decref(out);
    /* Thread URLs: the relay's role counts for the file it names, nothing without one. */
    td_comments_req_t get = {.method = "GET", .sub = sub, .username = "alice"};
    TD_ASSERT_EQ(td_comments_handle(c, &get, &out), 404);
    json_decref(out);
    get.file_id = "F9", get.role = TD_ROLE_VIEWER, get.path = "x.ipynb";
    TD_ASSERT_EQ(td_comments_handle(c, &get, &out), 200);
    TD_ASSERT_STR_EQ(s_str(out, "path"), "x.ipynb");
    json_decref(out);
    td_comments_destroy(&c);
    TD_ASSERT(c == NULL);
    td_comments_destroy(&c);
    td_env_t broken = {NULL, NULL, NULL};
    TD_ASSERT(td_comments_new(st, &broken) == NULL);
}

void test_td_comments(void)
{
    char dir[] = "/tmp/td-comments-XXXXXX";
    TD_ASSERT(mkdtemp(dir) != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/tandem.sqlite", dir);
    td_error_t err = {0};
    td_store_t *st = td_store_open(path, &err);
    TD_ASSERT(st != NULL);
    const char *names[U_COUNT] = {"Alice L.", "Bob", "Carol", "Dave", "Erin"};
    for (int i = 0; i < U_COUNT; i++) {
        td_user_t u = {0};
        snprintf(u.username, sizeof u.username, "%s", s_users[i]);
        snprintf(u.name, sizeof u.name, "%s", names[i]);
        snprintf(u.display_name, sizeof u.display_name, "%s", names[i]);
        snprintf(u.initials, sizeof u.initials, "%c", names[i][0]);
        TD_ASSERT_OK(td_store_user_put(st, &u));
    }
    for (int f = 0; f < F_COUNT; f++)
        TD_ASSERT_OK(td_store_file_add(st, s_paths[f], s_file_ids[f]));

    memset(&s_ctx, 0, sizeof s_ctx);
    s_ctx.events = json_array();
    const td_role_t nb_roles[U_COUNT] = {TD_ROLE_OWNER, TD_ROLE_COMMENTER, TD_ROLE_VIEWER,
                                         TD_ROLE_NONE, TD_ROLE_EDITOR};
    for (int u = 0; u < U_COUNT; u++)
        s_ctx.role[u][F_NB] = nb_roles[u];
    s_ctx.role[U_ALICE][F_OTHER] = TD_ROLE_OWNER;
    s_ctx.role[U_ALICE][F_BIG] = TD_ROLE_OWNER;
    s_ctx.role[U_BOB][F_BIG] = TD_ROLE_COMMENTER;
    const char *nb_cells[] = {"c1", "c2", "c3", "c4", "c5"};
    for (int i = 0; i < 5; i++)
        s_ctx.cells[F_NB][i] = nb_cells[i];
    s_ctx.ncells[F_NB] = 5;
    s_ctx.cells[F_OTHER][0] = "c1";
    s_ctx.ncells[F_OTHER] = 1;

    td_env_t env = {s_now, s_rand, NULL};
    td_comments_t *c = td_comments_new(st, &env);
    TD_ASSERT(c != NULL);
    td_comments_set_hooks(c, s_role_fn, s_cell_fn, s_event_fn, &s_ctx);

    s_lifecycle(c, st);
    s_matrix(c, st);
    s_notifications(c);
    s_orphans(c, st);
    s_export_import(c, st);
    s_paging(c, st);
    s_embed(c);
    s_garbage(c, st);
    s_no_hooks(st, &env);

    /* Everything is in the file: a reopened store lists the same threads. */
    td_comments_destroy(&c);
    td_store_destroy(&st);
    st = td_store_open(path, &err);
    TD_ASSERT(st != NULL);
    c = td_comments_new(st, &env);
    td_comments_set_hooks(c, s_role_fn, s_cell_fn, s_event_fn, &s_ctx);
    json_t *page;
    TD_ASSERT_EQ(s_req(c, "bob", "GET", "", "path=big.ipynb&limit=500", NULL, &page), 200);
    TD_ASSERT_EQ(json_array_size(json_object_get(page, "threads")), 500);
    json_decref(page);
    td_comments_destroy(&c);
    td_store_destroy(&st);
    json_decref(s_ctx.events);

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    TD_ASSERT_EQ(system(cmd), 0);
}
