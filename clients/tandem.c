/* tandem: a command-line client for tandem-relay's collaboration API, for people and for bots.
 *
 *   tandem comments list NOTEBOOK [--unresolved] [--cell ID] [--mine] [--mentions] [--orphaned]
 *   tandem comment add NOTEBOOK --cell ID TEXT...                      start a thread on a cell
 *   tandem reply THREAD TEXT...    tandem resolve THREAD    tandem reopen THREAD
 *   tandem who [NOTEBOOK]                                              who is where
 *   tandem inbox [--unread] [--mark-read]                              my notifications
 *
 * Every command takes --json (print the relay's JSON instead of text), --url and --token (or
 * TANDEM_URL, TANDEM_TOKEN, JUPYTER_TOKEN) and --timeout. NOTEBOOK is an API path relative to the
 * relay root; TEXT "-" reads the body from stdin. The program is a thin shell around td_httpc: it
 * builds one request per call, follows the "next" cursor of listings, and prints. The relay
 * is not trusted: any JSON shape is accepted without crashing (missing fields print as "?"), the
 * total read is bounded at 64 MiB, and text output replaces terminal control characters, so a
 * comment cannot move the cursor or recolour the terminal of whoever lists it. docs/tandem-cli.md
 * is the manual.
 *
 * Exit status: 0 success, 1 an HTTP, API or network error (the relay's message and the status are
 * printed), 2 a usage error. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "td_httpc.h"

#define S_EXIT_OK 0
#define S_EXIT_FAIL 1
#define S_EXIT_USAGE 2
#define S_TEXT_MAX ((size_t)16 << 20) /* a body read from stdin */
#define S_TARGET_MAX 4096
#define S_PAGES_MAX 100000

static const char s_usage_text[] =
    "usage: tandem [OPTIONS] comments list NOTEBOOK [--unresolved] [--cell ID] [--mine]\n"
    "                                               [--mentions] [--orphaned]\n"
    "       tandem [OPTIONS] comment add NOTEBOOK --cell ID TEXT...\n"
    "       tandem [OPTIONS] reply THREAD_ID TEXT...\n"
    "       tandem [OPTIONS] resolve THREAD_ID\n"
    "       tandem [OPTIONS] reopen THREAD_ID\n"
    "       tandem [OPTIONS] who [NOTEBOOK]\n"
    "       tandem [OPTIONS] inbox [--unread] [--mark-read]\n"
    "       tandem --help | --version\n"
    "\n"
    "Talks to a tandem-relay. NOTEBOOK is a path relative to the relay root, such as\n"
    "work/analysis.ipynb. TEXT is Markdown; several words are joined with spaces, and a single\n"
    "'-' reads the text from stdin. Put '--' before TEXT that starts with '-'.\n"
    "\n"
    "Options (anywhere on the line):\n"
    "  --url URL        the relay, http://host:port/[base/]   (default: $TANDEM_URL)\n"
    "  --token TOKEN    the API token   (default: $TANDEM_TOKEN, then $JUPYTER_TOKEN)\n"
    "  --timeout S      give up on a request after S seconds (default 30)\n"
    "  --json           print the relay's JSON (comment listings: all pages merged)\n"
    "  --unresolved     comments list: only threads that are not resolved\n"
    "  --cell ID        comments list: only threads on cell ID; comment add: the cell\n"
    "  --mine           comments list: only threads I took part in\n"
    "  --mentions       comments list: only threads that mention me\n"
    "  --orphaned       comments list: only threads whose cell was deleted\n"
    "  --unread         inbox: only unread notifications\n"
    "  --mark-read      inbox: mark the listed notifications read\n"
    "\n"
    "Exit status: 0 success, 1 HTTP, API or network error, 2 usage error.\n";

/* Options that only some commands accept. */
enum {
    O_UNRESOLVED = 1 << 0,
    O_CELL = 1 << 1,
    O_MINE = 1 << 2,
    O_UNREAD = 1 << 3,
    O_MARK_READ = 1 << 4,
    O_MENTIONS = 1 << 5,
    O_ORPHANED = 1 << 6,
};

typedef struct s_ctx {
    td_httpc_url_t url;
    const char *token;
    int timeout_ms;
    int json;
    unsigned given; /* O_* flags seen on the command line */
    const char *cell;
    size_t read_total; /* response bytes so far, across pages */
} s_ctx_t;

static int s_usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "tandem: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'tandem --help'.\n");
    return S_EXIT_USAGE;
}

/* ---- output ---------------------------------------------------------------------------------- */

/* Writes s for a terminal: C0 controls (but tab and newline), DEL, C1 controls (U+0080..U+009F,
 * which jansson hands us as UTF-8) and the bidi controls that can make text read differently
 * from what it is become '?'; each newline is followed by indent. */
static void s_put(FILE *f, const char *s, const char *indent)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "?");
    for (; *p; p++) {
        if (*p == '\n') {
            fputc('\n', f);
            fputs(indent, f);
        } else if (*p == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F) {
            fputc('?', f);
            p++;
        } else if (*p == 0xE2 && ((p[1] == 0x80 && p[2] >= 0xAA && p[2] <= 0xAE) ||
                                  (p[1] == 0x81 && p[2] >= 0xA6 && p[2] <= 0xA9))) {
            fputc('?', f); /* bidi embeddings, overrides and isolates (U+202A..E, U+2066..9) */
            p += 2;
        } else if ((*p < ' ' && *p != '\t') || *p == 0x7f) {
            fputc('?', f);
        } else {
            fputc(*p, f);
        }
    }
}

/* One sanitised line on stdout. */
static void s_putln(const char *s)
{
    s_put(stdout, s, "");
    fputc('\n', stdout);
}

static const char *s_str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* A user given either as a string or as {"username", "display_name"}; "?" when neither. */
static const char *s_user(const json_t *v)
{
    if (json_is_string(v))
        return json_string_value(v);
    const char *u = s_str(v, "username");
    return u ? u : "?";
}

static void s_print_json(const json_t *v)
{
    json_dumpf(v, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
}

/* ---- requests -------------------------------------------------------------------------------- */

/* Prints the relay's error answer: its "message" (and "reason") when the body is JSON. */
static void s_report_status(const s_ctx_t *ctx, const char *method, const char *target,
                            const td_httpc_resp_t *r)
{
    json_t *j = json_loadb(r->body ? r->body : "", r->len, 0, NULL);
    const char *msg = s_str(j, "message"), *reason = s_str(j, "reason");
    fprintf(stderr, "tandem: %s /%s: HTTP %d", method, target, r->status);
    if (msg && *msg) {
        fputs(": ", stderr);
        s_put(stderr, msg, " ");
    } else if (!j && r->len > 0) {
        /* Not JSON: show the start of it, on one line. */
        char head[201];
        snprintf(head, sizeof head, "%s", r->body);
        for (char *p = head; *p; p++)
            if (*p == '\n' || *p == '\r')
                *p = ' ';
        fputs(": ", stderr);
        s_put(stderr, head, " ");
    }
    if (reason && *reason && (!msg || strcmp(reason, msg) != 0)) {
        fputs(" (", stderr);
        s_put(stderr, reason, " ");
        fputc(')', stderr);
    }
    fputc('\n', stderr);
    if ((r->status == 401 || r->status == 403) && !(ctx->token && *ctx->token))
        fprintf(stderr, "tandem: no token given: use --token or set TANDEM_TOKEN\n");
    json_decref(j);
}

/* One request with an optional JSON body (borrowed). On a 2xx answer returns 0 and, when out is
 * not NULL, the parsed body in *out (new reference; NULL for an empty body). Otherwise prints why
 * and returns S_EXIT_FAIL. */
static int s_call(s_ctx_t *ctx, const char *method, const char *target, const json_t *body,
                  json_t **out)
{
    if (out)
        *out = NULL;
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (body && !text) {
        fprintf(stderr, "tandem: out of memory\n");
        return S_EXIT_FAIL;
    }
    /* One bound for everything a command reads, however many pages it takes. */
    size_t left = TD_HTTPC_MAX_BODY - ctx->read_total;
    if (left == 0) {
        fprintf(stderr, "tandem: %s /%s: the answers add up to more than %zu bytes\n", method,
                target, TD_HTTPC_MAX_BODY);
        free(text);
        return S_EXIT_FAIL;
    }
    td_httpc_req_t req = {.method = method,
                          .target = target,
                          .token = ctx->token,
                          .body = text,
                          .body_len = text ? strlen(text) : 0,
                          .timeout_ms = ctx->timeout_ms,
                          .max_body = left};
    td_httpc_resp_t r;
    td_error_t err = {0};
    int rc = td_httpc_request(&ctx->url, &req, &r, &err);
    free(text);
    if (rc != 0) {
        fprintf(stderr, "tandem: %s /%s: %s\n", method, target, err.text);
        return S_EXIT_FAIL;
    }
    ctx->read_total += r.len;
    if (r.status < 200 || r.status > 299) {
        s_report_status(ctx, method, target, &r);
        td_httpc_resp_fini(&r);
        return S_EXIT_FAIL;
    }
    rc = 0;
    if (out && r.len > 0) {
        json_error_t jerr;
        *out = json_loadb(r.body, r.len, 0, &jerr);
        if (!*out) {
            fprintf(stderr, "tandem: %s /%s: HTTP %d but the answer is not JSON (%s at byte %d)\n",
                    method, target, r.status, jerr.text, jerr.position);
            rc = S_EXIT_FAIL;
        }
    }
    td_httpc_resp_fini(&r);
    return rc;
}

/* Builds "PREFIX" + escaped(arg) + "SUFFIX" into out; -1 if it does not fit. */
static int s_target(char *out, size_t cap, const char *prefix, const char *arg, const char *suffix)
{
    int n = snprintf(out, cap, "%s", prefix);
    if (n < 0 || (size_t)n >= cap)
        return -1;
    if (arg && (n = td_httpc_escape(out, cap, (size_t)n, arg, 0)) < 0)
        return -1;
    size_t sl = strlen(suffix);
    if ((size_t)n + sl >= cap)
        return -1;
    memcpy(out + n, suffix, sl + 1);
    return 0;
}

/* Appends "&key=" + escaped(value) (or "?key=" for the first argument). */
static int s_arg(char *out, size_t cap, const char *key, const char *value)
{
    size_t n = strlen(out);
    int w = snprintf(out + n, cap - n, "%c%s=", strchr(out, '?') ? '&' : '?', key);
    if (w < 0 || (size_t)w >= cap - n)
        return -1;
    return td_httpc_escape(out, cap, n + (size_t)w, value, 1) < 0 ? -1 : 0;
}

/* The comment text: the words joined by spaces, or stdin for a single "-". Caller frees. */
static char *s_text(char **words, int n)
{
    if (n == 1 && strcmp(words[0], "-") == 0) {
        size_t cap = 4096, len = 0;
        char *buf = malloc(cap);
        while (buf) {
            size_t got = fread(buf + len, 1, cap - len - 1, stdin);
            len += got;
            if (got == 0)
                break;
            if (len + 1 == cap) {
                char *nb = cap >= S_TEXT_MAX ? NULL : realloc(buf, cap * 2);
                if (!nb) {
                    fprintf(stderr, "tandem: the text on stdin is too long\n");
                    free(buf);
                    return NULL;
                }
                buf = nb;
                cap *= 2;
            }
        }
        if (!buf)
            return NULL;
        buf[len] = 0;
        if (len > 0 && buf[len - 1] == '\n')
            buf[--len] = 0; /* the shell's final newline (one) is not part of the comment */
        return buf;
    }
    size_t len = 0;
    for (int i = 0; i < n; i++)
        len += strlen(words[i]) + 1;
    char *buf = malloc(len + 1), *p = buf;
    if (!buf)
        return NULL;
    for (int i = 0; i < n; i++)
        p += sprintf(p, "%s%s", i ? " " : "", words[i]);
    *p = 0;
    return buf;
}

/* ---- commands -------------------------------------------------------------------------------- */

static void s_print_comment(const json_t *c)
{
    printf("  ");
    s_put(stdout, s_user(json_object_get(c, "author")), "");
    printf(": ");
    if (json_is_true(json_object_get(c, "deleted"))) {
        printf("[deleted]\n");
        return;
    }
    s_put(stdout, s_str(c, "body"), "    ");
    const char *created = s_str(c, "created"), *updated = s_str(c, "updated");
    if (created && updated && strcmp(created, updated) != 0)
        printf("  (edited)");
    /* Reactions: {"emoji": ["user", ...]} as "emoji N". */
    const char *emoji;
    json_t *who;
    int first = 1;
    json_object_foreach(json_object_get(c, "reactions"), emoji, who)
    {
        if (!json_is_array(who) || json_array_size(who) == 0)
            continue;
        printf("%s", first ? "  [" : ", ");
        s_put(stdout, emoji, "");
        printf(" %zu", json_array_size(who));
        first = 0;
    }
    printf("%s\n", first ? "" : "]");
}

static void s_print_thread(const json_t *t)
{
    printf("thread ");
    s_put(stdout, s_str(t, "id"), "");
    printf("  cell ");
    s_put(stdout, s_str(t, "cell_id"), "");
    if (json_is_true(json_object_get(t, "resolved"))) {
        printf("  resolved");
        const char *by = s_user(json_object_get(t, "resolved_by")), *at = s_str(t, "resolved_at");
        if (strcmp(by, "?") != 0) {
            printf(" by ");
            s_put(stdout, by, "");
        }
        if (at) {
            printf(" at ");
            s_put(stdout, at, "");
        }
    } else {
        printf("  open");
    }
    if (json_is_true(json_object_get(t, "orphaned")))
        printf("  (orphaned: the cell was deleted)");
    printf("\n");
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(t, "comments"), i, c)
    {
        s_print_comment(c);
    }
}

/* GETs base (a target that already has its query) and every following page: "next" is an opaque
 * cursor (a string or a number; null or absent ends the listing) passed back as &cursor=. The
 * arrays under key are concatenated into *all (new reference); *first (new reference, may be NULL)
 * receives the first page, for fields such as "unread". Returns 0 or S_EXIT_FAIL (printed). */
static int s_pages(s_ctx_t *ctx, const char *base, const char *key, json_t **all, json_t **first)
{
    *all = json_array();
    if (first)
        *first = NULL;
    char *cursor = NULL;
    int rc = *all ? 0 : S_EXIT_FAIL;
    for (int page = 0; rc == 0; page++) {
        char target[S_TARGET_MAX];
        snprintf(target, sizeof target, "%s", base);
        if (page >= S_PAGES_MAX || (cursor && s_arg(target, sizeof target, "cursor", cursor))) {
            fprintf(stderr, "tandem: GET /%s: %s\n", base,
                    page >= S_PAGES_MAX ? "too many pages" : "the cursor is too long");
            rc = S_EXIT_FAIL;
            break;
        }
        json_t *res;
        if ((rc = s_call(ctx, "GET", target, NULL, &res)) != 0)
            break;
        json_t *items = json_object_get(res, key), *next = json_object_get(res, "next");
        if (!json_is_array(items)) {
            fprintf(stderr, "tandem: GET /%s: the answer has no \"%s\" array\n", target, key);
            rc = S_EXIT_FAIL;
        } else if (json_array_extend(*all, items) != 0) {
            rc = S_EXIT_FAIL;
        }
        char buf[64], *nc = NULL;
        if (json_is_string(next)) {
            nc = strdup(json_string_value(next));
        } else if (json_is_integer(next)) {
            snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(next));
            nc = strdup(buf);
        }
        /* A cursor that does not move would loop until the page bound: stop at once. */
        if (rc == 0 && nc && cursor && strcmp(nc, cursor) == 0) {
            fprintf(stderr, "tandem: GET /%s: the \"next\" cursor did not move\n", target);
            rc = S_EXIT_FAIL;
        }
        if (first && page == 0)
            *first = json_incref(res);
        json_decref(res);
        free(cursor);
        cursor = nc;
        if (!cursor)
            break;
    }
    free(cursor);
    if (rc != 0) {
        json_decref(*all);
        *all = NULL;
        if (first) {
            json_decref(*first);
            *first = NULL;
        }
    }
    return rc;
}

static int s_comments_list(s_ctx_t *ctx, const char *notebook)
{
    static const struct {
        unsigned flag;
        const char *key;
    } filters[] = {{O_UNRESOLVED, "unresolved"},
                   {O_MINE, "mine"},
                   {O_MENTIONS, "mentions"},
                   {O_ORPHANED, "orphaned"}};
    char target[S_TARGET_MAX] = "api/comments";
    int bad = s_arg(target, sizeof target, "path", notebook);
    for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++)
        if (ctx->given & filters[i].flag)
            bad |= s_arg(target, sizeof target, filters[i].key, "1");
    if (ctx->given & O_CELL)
        bad |= s_arg(target, sizeof target, "cell", ctx->cell);
    if (bad)
        return s_usage_error("%s", "the notebook path or the cell id is too long");
    json_t *all;
    int rc = s_pages(ctx, target, "threads", &all, NULL);
    if (rc != 0)
        return rc;
    if (ctx->json) {
        json_t *out = json_pack("{s:O, s:n}", "threads", all, "next");
        s_print_json(out);
        json_decref(out);
    } else if (json_array_size(all) == 0) {
        printf("no comment threads\n");
    } else {
        size_t i;
        json_t *t;
        json_array_foreach(all, i, t)
        {
            if (i)
                printf("\n");
            s_print_thread(t);
        }
    }
    json_decref(all);
    return 0;
}

static int s_comment_add(s_ctx_t *ctx, const char *notebook, char **words, int nwords)
{
    char *text = s_text(words, nwords);
    if (!text)
        return S_EXIT_FAIL;
    json_t *res = NULL;
    json_t *body =
        json_pack("{s:s, s:s, s:s}", "path", notebook, "cell_id", ctx->cell, "body", text);
    free(text);
    if (!body) {
        fprintf(stderr, "tandem: the text or the arguments are not valid UTF-8\n");
        return S_EXIT_USAGE;
    }
    int rc = s_call(ctx, "POST", "api/comments", body, &res);
    json_decref(body);
    if (rc == 0) {
        if (ctx->json)
            s_print_json(res ? res : json_null());
        else if (s_str(res, "id"))
            s_putln(s_str(res, "id"));
    }
    json_decref(res);
    return rc;
}

static int s_reply(s_ctx_t *ctx, const char *thread, char **words, int nwords)
{
    char target[S_TARGET_MAX];
    if (s_target(target, sizeof target, "api/comments/", thread, "/replies") != 0)
        return s_usage_error("thread id too long: %.40s...", thread);
    char *text = s_text(words, nwords);
    if (!text)
        return S_EXIT_FAIL;
    json_t *body = json_pack("{s:s}", "body", text), *res = NULL;
    free(text);
    if (!body) {
        fprintf(stderr, "tandem: the text is not valid UTF-8\n");
        return S_EXIT_USAGE;
    }
    int rc = s_call(ctx, "POST", target, body, &res);
    json_decref(body);
    if (rc == 0) {
        /* The answer is the new comment, or the whole thread: print the new comment's id. */
        json_t *comments = json_object_get(res, "comments");
        json_t *c =
            json_is_array(comments) ? json_array_get(comments, json_array_size(comments) - 1) : res;
        if (ctx->json)
            s_print_json(res ? res : json_null());
        else if (s_str(c, "id"))
            s_putln(s_str(c, "id"));
    }
    json_decref(res);
    return rc;
}

static int s_resolve(s_ctx_t *ctx, const char *thread, const char *verb)
{
    char target[S_TARGET_MAX], suffix[16];
    snprintf(suffix, sizeof suffix, "/%s", verb);
    if (s_target(target, sizeof target, "api/comments/", thread, suffix) != 0)
        return s_usage_error("thread id too long: %.40s...", thread);
    json_t *res = NULL;
    int rc = s_call(ctx, "POST", target, NULL, &res);
    if (rc == 0) {
        if (ctx->json) {
            s_print_json(res ? res : json_null());
        } else {
            s_put(stdout, thread, "");
            printf(" %s\n", strcmp(verb, "resolve") == 0 ? "resolved" : "reopened");
        }
    }
    json_decref(res);
    return rc;
}

/* Prints "path: user (cell X)" for each user in each notebook, then the global awareness. */
static void s_print_who(const json_t *res, const char *notebook)
{
    size_t i, j, k, lines = 0;
    json_t *room, *u, *cell;
    json_array_foreach(json_object_get(res, "presence"), i, room)
    {
        json_array_foreach(json_object_get(room, "users"), j, u)
        {
            s_put(stdout, s_str(room, "path"), "");
            printf(": ");
            s_put(stdout, s_user(u), "");
            const char *dn = s_str(u, "display_name");
            if (dn && *dn && strcmp(dn, s_user(u)) != 0) {
                printf(" \"");
                s_put(stdout, dn, "");
                printf("\"");
            }
            json_t *cells = json_object_get(u, "cells");
            json_array_foreach(cells, k, cell)
            {
                printf("%s", k == 0 ? (json_array_size(cells) > 1 ? " (cells " : " (cell ") : ", ");
                s_put(stdout, json_string_value(cell), "");
            }
            printf("%s\n", json_array_size(cells) ? ")" : "");
            lines++;
        }
    }
    if (!notebook) {
        json_array_foreach(json_object_get(res, "global"), i, u)
        {
            printf("online: ");
            s_put(stdout, s_user(u), "");
            const char *cur = s_str(u, "current");
            if (cur) {
                printf(" (current ");
                s_put(stdout, cur, "");
                printf(")");
            }
            printf("\n");
            lines++;
        }
    }
    if (lines == 0)
        printf("nobody is here\n");
}

static int s_who(s_ctx_t *ctx, const char *notebook)
{
    char target[S_TARGET_MAX] = "api/collaboration/presence";
    if (notebook && s_arg(target, sizeof target, "path", notebook) != 0)
        return s_usage_error("path too long: %.40s...", notebook);
    json_t *res = NULL;
    int rc = s_call(ctx, "GET", target, NULL, &res);
    if (rc == 0 && ctx->json)
        s_print_json(res ? res : json_null());
    else if (rc == 0)
        s_print_who(res, notebook);
    json_decref(res);
    return rc;
}

static void s_print_notification(const json_t *n)
{
    json_t *id = json_object_get(n, "id");
    printf("%s ", json_is_true(json_object_get(n, "read")) ? " " : "*");
    if (json_is_integer(id))
        printf("#%" JSON_INTEGER_FORMAT, json_integer_value(id));
    else
        s_put(stdout, json_is_string(id) ? json_string_value(id) : "?", "");
    printf(" ");
    s_put(stdout, s_str(n, "kind"), "");
    printf(" from ");
    s_put(stdout, s_user(json_object_get(n, "actor")), "");
    printf(" on ");
    s_put(stdout, s_str(n, "path"), "");
    printf(" (thread ");
    s_put(stdout, s_str(n, "thread_id"), "");
    printf(")");
    if (s_str(n, "created")) {
        printf(" at ");
        s_put(stdout, s_str(n, "created"), "");
    }
    printf("\n");
    if (s_str(n, "excerpt")) {
        printf("    ");
        s_put(stdout, s_str(n, "excerpt"), "    ");
        printf("\n");
    }
}

/* Marks the listed notifications read by id ({"ids": [...]}, at most 10000 per request), so one
 * that arrives between the listing and this call stays unread. */
static int s_mark_read(s_ctx_t *ctx, const json_t *list)
{
    size_t i = 0, n = json_array_size(list);
    while (i < n) {
        json_t *ids = json_array();
        for (; i < n && json_array_size(ids) < 10000; i++) {
            json_t *id = json_object_get(json_array_get(list, i), "id");
            if (json_is_integer(id) || json_is_string(id))
                json_array_append(ids, id);
        }
        json_t *body = json_pack("{s:o}", "ids", ids);
        int rc = body && json_array_size(ids)
                     ? s_call(ctx, "POST", "api/me/notifications/read", body, NULL)
                     : 0;
        json_decref(body);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int s_inbox(s_ctx_t *ctx)
{
    char target[S_TARGET_MAX] = "api/me/notifications";
    if (ctx->given & O_UNREAD)
        s_arg(target, sizeof target, "unread", "1");
    json_t *list, *first;
    int rc = s_pages(ctx, target, "notifications", &list, &first);
    if (rc != 0)
        return rc;
    json_t *unread = json_object_get(first, "unread");
    if (ctx->json) {
        json_t *out = json_pack("{s:O, s:O, s:n}", "notifications", list, "unread",
                                unread ? unread : json_null(), "next");
        s_print_json(out);
        json_decref(out);
    } else {
        size_t i;
        json_t *n;
        if (json_array_size(list) == 0)
            printf("no notifications\n");
        json_array_foreach(list, i, n)
        {
            s_print_notification(n);
        }
        if (json_is_integer(unread))
            printf("%" JSON_INTEGER_FORMAT " unread\n", json_integer_value(unread));
    }
    if (ctx->given & O_MARK_READ) {
        rc = s_mark_read(ctx, list);
        if (rc == 0 && !ctx->json)
            printf("marked %zu read\n", json_array_size(list));
    }
    json_decref(list);
    json_decref(first);
    return rc;
}

/* ---- main ------------------------------------------------------------------------------------ */

/* Which O_* options each command accepts, and how many positional arguments it takes. */
typedef struct s_cmd {
    const char *word, *sub; /* "comments", "list"; sub may be NULL */
    unsigned allowed;
    int min_args, max_args; /* after the command words; max -1 = any */
} s_cmd_t;

static const s_cmd_t s_cmds[] = {
    {"comments", "list", O_UNRESOLVED | O_CELL | O_MINE | O_MENTIONS | O_ORPHANED, 1, 1},
    {"comment", "list", O_UNRESOLVED | O_CELL | O_MINE | O_MENTIONS | O_ORPHANED, 1, 1},
    {"comment", "add", O_CELL, 2, -1},
    {"comments", "add", O_CELL, 2, -1},
    {"reply", NULL, 0, 2, -1},
    {"resolve", NULL, 0, 1, 1},
    {"reopen", NULL, 0, 1, 1},
    {"who", NULL, 0, 0, 1},
    {"inbox", NULL, O_UNREAD | O_MARK_READ, 0, 0},
};

static const char *const s_opt_names[] = {"--unresolved", "--cell",     "--mine",    "--unread",
                                          "--mark-read",  "--mentions", "--orphaned"};

int main(int argc, char **argv)
{
    enum { L_URL = 256, L_TOKEN, L_TIMEOUT, L_JSON, L_HELP, L_VERSION };
    static const struct option longopts[] = {
        {"url", required_argument, NULL, L_URL},
        {"token", required_argument, NULL, L_TOKEN},
        {"timeout", required_argument, NULL, L_TIMEOUT},
        {"json", no_argument, NULL, L_JSON},
        {"unresolved", no_argument, NULL, O_UNRESOLVED},
        {"cell", required_argument, NULL, O_CELL},
        {"mine", no_argument, NULL, O_MINE},
        {"unread", no_argument, NULL, O_UNREAD},
        {"mark-read", no_argument, NULL, O_MARK_READ},
        {"mentions", no_argument, NULL, O_MENTIONS},
        {"orphaned", no_argument, NULL, O_ORPHANED},
        {"help", no_argument, NULL, L_HELP},
        {"version", no_argument, NULL, L_VERSION},
        {NULL, 0, NULL, 0},
    };
    s_ctx_t ctx = {.timeout_ms = 30000};
    const char *url = getenv("TANDEM_URL");
    ctx.token = getenv("TANDEM_TOKEN");
    if (!ctx.token || !*ctx.token)
        ctx.token = getenv("JUPYTER_TOKEN");
    /* GNU getopt permutes: options may come anywhere, and everything after "--" stays a word. */
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case L_URL:
            url = optarg;
            break;
        case L_TOKEN:
            ctx.token = optarg;
            break;
        case L_TIMEOUT: {
            char *end;
            double s = strtod(optarg, &end);
            if (end == optarg || *end || !(s > 0 && s <= 86400))
                return s_usage_error("--timeout needs seconds in (0, 86400], not '%s'", optarg);
            ctx.timeout_ms = (int)(s * 1000 + 0.5) ? (int)(s * 1000 + 0.5) : 1;
            break;
        }
        case L_JSON:
            ctx.json = 1;
            break;
        case O_CELL:
            ctx.cell = optarg; /* fall through */
        case O_UNRESOLVED:
        case O_MINE:
        case O_UNREAD:
        case O_MARK_READ:
        case O_MENTIONS:
        case O_ORPHANED:
            ctx.given |= (unsigned)c;
            break;
        case 'h':
        case L_HELP:
            fputs(s_usage_text, stdout);
            return S_EXIT_OK;
        case L_VERSION:
            printf("tandem %s\n", TD_VERSION);
            return S_EXIT_OK;
        case ':':
            return s_usage_error("option %s needs a value", argv[optind - 1]);
        default:
            return s_usage_error("unknown option %s", argv[optind - 1]);
        }
    }

    /* The command: one or two words, then its arguments. */
    char **words = argv + optind;
    int nwords = argc - optind;
    if (nwords == 0)
        return s_usage_error("%s", "no command given");
    const s_cmd_t *cmd = NULL;
    int known_word = 0;
    for (size_t i = 0; i < sizeof s_cmds / sizeof s_cmds[0] && !cmd; i++) {
        if (strcmp(words[0], s_cmds[i].word) != 0)
            continue;
        known_word = 1;
        if (!s_cmds[i].sub || (nwords > 1 && strcmp(words[1], s_cmds[i].sub) == 0))
            cmd = &s_cmds[i];
    }
    if (!cmd && known_word)
        return s_usage_error("'%s' needs a subcommand: list or add", words[0]);
    if (!cmd && strcmp(words[0], "help") == 0) {
        fputs(s_usage_text, stdout);
        return S_EXIT_OK;
    }
    if (!cmd)
        return s_usage_error("unknown command '%s'", words[0]);
    int skip = cmd->sub ? 2 : 1;
    char **args = words + skip;
    int nargs = nwords - skip;
    if (nargs < cmd->min_args || (cmd->max_args >= 0 && nargs > cmd->max_args))
        return s_usage_error(nargs < cmd->min_args ? "missing arguments for '%s'"
                                                   : "too many arguments for '%s'",
                             words[0]);
    for (size_t i = 0; i < sizeof s_opt_names / sizeof s_opt_names[0]; i++)
        if ((ctx.given & ~cmd->allowed) & (1u << i))
            return s_usage_error("%s does not apply to this command", s_opt_names[i]);
    if (cmd->sub && strcmp(cmd->sub, "add") == 0 && !(ctx.given & O_CELL))
        return s_usage_error("%s", "comment add needs --cell ID");
    if (ctx.cell && !*ctx.cell)
        return s_usage_error("%s", "--cell needs a non-empty cell id");
    for (int i = 0; i < nargs && i < 1; i++)
        if (!*args[i])
            return s_usage_error("%s", "an empty notebook path or thread id");

    /* Where and who. */
    td_error_t err = {0};
    if (!url || !*url)
        return s_usage_error("%s", "no relay URL: use --url or set TANDEM_URL");
    if (td_httpc_url_parse(url, &ctx.url, &err) != 0)
        return s_usage_error("%s", err.text);
    if (ctx.token)
        for (const char *p = ctx.token; *p; p++)
            if ((unsigned char)*p < ' ' || *p == 0x7f)
                return s_usage_error("%s", "the token has control characters");

    const char *w = words[0];
    int rc;
    if (strcmp(w, "reply") == 0)
        rc = s_reply(&ctx, args[0], args + 1, nargs - 1);
    else if (strcmp(w, "resolve") == 0 || strcmp(w, "reopen") == 0)
        rc = s_resolve(&ctx, args[0], w);
    else if (strcmp(w, "who") == 0)
        rc = s_who(&ctx, nargs ? args[0] : NULL);
    else if (strcmp(w, "inbox") == 0)
        rc = s_inbox(&ctx);
    else if (strcmp(cmd->sub, "add") == 0)
        rc = s_comment_add(&ctx, args[0], args + 1, nargs - 1);
    else
        rc = s_comments_list(&ctx, args[0]);
    /* A bot must not take a truncated listing (a full disk, a closed pipe) for a complete one. */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "tandem: writing the output: %s\n", strerror(errno));
        return S_EXIT_FAIL;
    }
    return rc;
}
