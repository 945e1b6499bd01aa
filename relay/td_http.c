/* td_http.c: libwebsockets on the relay's uv loop. One callback serves both protocols: entry 0
 * ("tandem-http") handles plain HTTP (the REST API) and legacy kernel websockets, which lws binds
 * to it when the client offers no subprotocol; entry 1 is "v1.kernel.websocket.jupyter.org", which
 * lws selects (and echoes) only when the client offers it.
 *
 * HTTP: a request is answered from LWS_CALLBACK_HTTP, or from BODY_COMPLETION when it has a body,
 * or later (restart, delete) through a td_waiter_t that the kernel fires. Answers are written in
 * HTTP_WRITEABLE, headers then body, one lws_write per callback. Websockets: messages are
 * reassembled up to max_ws_message, decoded with td_kws, and passed to the client session; frames
 * to the client wait in a bounded per-socket queue. The queues filled during a loop turn are
 * written before the loop next polls (uv_prepare), straight to the socket: a socket that takes the
 * write never has its poll re-armed, which cost four epoll_ctl calls per delivery. What the socket
 * does not take, lws keeps and sends first; the rest of the queue then waits for SERVER_WRITEABLE.
 * A peer that sends garbage or falls too far behind is closed with a code and a reason; nobody
 * else notices.
 *
 * Who: a token (?token= or Authorization) or, failing that, jupyter_server's login cookie, which
 * POST /login sets and token-authenticated requests refresh. A cookie-authenticated request must
 * come from the relay's own origin, and one that changes state must echo the _xsrf cookie.
 * Never logged: tokens, cookies, message content. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stddef.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "td/td_json.h"
#include "td_acl.h"
#include "td_comments.h"
#include "td_contents.h"
#include "td_kmodel.h"
#include "td_log.h"
#include "td_relay.h"
#include "td_xsrf.h"

#define S_MAX_BODY (16u << 20)
#define S_MAX_CONTENTS_BODY (64u << 20) /* PUT /api/contents: a 48 MiB file in base64 */
#define S_MAX_FILE (8u << 20)
#define S_MAX_LOGIN_BODY (16u << 10) /* the login form, posted by anyone */

enum { P_IDLE, P_WAITING, P_READY, P_BODY };

struct td_pss {
    struct lws *wsi;
    td_relay_t *r;
    int is_ws;
    /* HTTP request */
    int method;
    char path[1024];
    td_route_t route;
    char *body;
    size_t body_len, body_cap;
    int body_over, body_discard, expect_body;
    const td_user_t *user;
    int auth_done, auth_limited; /* authenticated once, when the request line arrived */
    int by_cookie;               /* ...by the login cookie, not a token */
    char origin[256];
    /* HTTP answer */
    int phase;
    int status;
    uint8_t *resp; /* LWS_PRE headroom + resp_len */
    size_t resp_len;
    const char *ctype;
    char location[1100];
    char cookies[2][800]; /* Set-Cookie values (login, _xsrf), "" when none */
    int cache, preflight, cors;
    td_waiter_t waiter;
    /* websocket: a kernel client session, a collaboration room peer, or a comment stream */
    td_client_t *client;
    td_peer_t *peer;
    char events_fid[TD_UUID_LEN + 1]; /* comment events of this file id, when non-empty */
    td_pss_t *events_next;
    char kernel_id[TD_ROUTE_ARG_MAX];
    int v1;
    td_oq_t q;
    td_pss_t *dirty_next, **dirty_prev; /* in r->ws_dirty while queued frames await the flush */
    uint8_t *rx;
    size_t rx_len, rx_cap;
    int rx_binary;
    /* Messages that arrived before the kernel was live (the slow-joiner nudge), in order. They
     * are sent once it is; the socket itself keeps reading, so lws never buffers them. */
    struct s_held *held, **held_tail;
    size_t held_n, held_bytes;
    int closing, close_code;
    char close_reason[124];
};

typedef struct s_held {
    struct s_held *next;
    int binary;
    size_t len;
    uint8_t data[];
} s_held_t;

#define S_HELD_MAX_MSGS 1000
#define S_HELD_MAX_BYTES (16u << 20)

static void s_held_clear(td_pss_t *pss)
{
    while (pss->held) {
        s_held_t *h = pss->held;
        pss->held = h->next;
        free(h);
    }
    pss->held_tail = &pss->held;
    pss->held_n = pss->held_bytes = 0;
}

static td_relay_t *s_relay(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}

/* ---- query, headers, auth -------------------------------------------------------------------- */

/* Copies query argument key into out; the decoded fragments go through td_route_query. */
/* The decoded query fragments ("k=v"), copied into store (8 KiB); returns how many (<= 64). */
static size_t s_frags(struct lws *wsi, char store[8192], const char *frags[64])
{
    size_t n = 0, used = 0;
    for (int i = 0; n < 64 && used < 8192; i++) {
        int len = lws_hdr_copy_fragment(wsi, store + used, (int)(8192 - used),
                                        WSI_TOKEN_HTTP_URI_ARGS, i);
        if (len < 0)
            break;
        frags[n++] = store + used;
        used += (size_t)len + 1;
    }
    return n;
}

static int s_query(struct lws *wsi, const char *key, char *out, size_t cap)
{
    char store[8192];
    const char *frags[64];
    size_t n = s_frags(wsi, store, frags);
    return td_route_query(frags, n, key, out, cap);
}

static void s_header(struct lws *wsi, enum lws_token_indexes tok, char *out, size_t cap)
{
    out[0] = '\0';
    if (lws_hdr_total_length(wsi, tok) > 0 && lws_hdr_copy(wsi, out, (int)cap, tok) < 0)
        out[0] = '\0';
}

/* The login cookie's name: "username-" and the Host header, every byte but letters and digits
 * turned into '-' (jupyter_server's default, so two relays on one host do not share a login). */
static void s_cookie_name(struct lws *wsi, char out[300])
{
    char host[256];
    s_header(wsi, WSI_TOKEN_HOST, host, sizeof host);
    int k = snprintf(out, 300, "username-");
    for (const char *p = host; *p; p++)
        out[k++] = isalnum((unsigned char)*p) ? *p : '-';
    out[k] = '\0';
}

/* Cookie named name from the request into out (cap bytes); 0 or TD_ENOENT / TD_E2BIG. */
static int s_cookie(struct lws *wsi, const char *name, char *out, size_t cap)
{
    char hdr[4096];
    s_header(wsi, WSI_TOKEN_HTTP_COOKIE, hdr, sizeof hdr);
    return td_route_cookie(hdr, name, out, cap);
}

/* The user the request's login cookie names, or NULL. */
static const td_user_t *s_cookie_user(td_relay_t *r, struct lws *wsi)
{
    char name[300], value[TD_AUTH_COOKIE_MAX];
    s_cookie_name(wsi, name);
    if (s_cookie(wsi, name, value, sizeof value) != 0)
        return NULL;
    return td_auth_cookie_check(r->auth, value, td_relay_now(r) / 1000000);
}

/* The caller's identity from ?token= or the Authorization header, else from the login cookie
 * (*by_cookie = 1), or NULL. Failed token attempts are audited and rate limited per remote
 * address: while an address backs off, no token it sends is even compared (*limited = 1), but a
 * valid cookie still works (any web page can make a browser send bad tokens to localhost). */
static const td_user_t *s_authenticate(td_relay_t *r, struct lws *wsi, int *limited, int *by_cookie)
{
    char tok[1024], hdr[1100], peer[64] = "";
    int have = 0;
    *limited = *by_cookie = 0;
    if (s_query(wsi, "token", tok, sizeof tok) == 0 && tok[0]) {
        have = 1;
    } else {
        s_header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, hdr, sizeof hdr);
        have = td_auth_header_token(hdr, tok, sizeof tok) == 0;
    }
    const td_user_t *u = NULL;
    if (have) {
        lws_get_peer_simple(wsi, peer, sizeof peer);
        int64_t now_ms = td_relay_now(r) / 1000;
        if (!td_acl_login_allowed(r->acl, peer, now_ms))
            *limited = 1;
        else if (!(u = td_auth_check(r->auth, tok))) {
            td_acl_login_failed(r->acl, peer, now_ms);
            td_acl_audit(r->acl, "", "auth_failed", "", peer);
        }
    }
    if (!u && (u = s_cookie_user(r, wsi)))
        *by_cookie = 1, *limited = 0;
    return u;
}

static void s_respond_error(td_pss_t *pss, int status, const char *message, const char *reason);


/* The caller's role on path allows action; otherwise answers 403 (404 when the caller may not
 * even see the path) and returns 0. */
static int s_allowed(td_pss_t *pss, const char *path, td_acl_action_t action)
{
    int nd = 0;
    td_role_t role = td_acl_role(pss->r->acl, pss->user->username, path ? path : "", &nd);
    if (td_acl_allows(role, nd, action))
        return 1;
    char msg[160];
    snprintf(msg, sizeof msg, "Your role (%s) does not allow %s here", td_role_name(role),
             td_acl_action_name(action));
    if (role == TD_ROLE_NONE)
        s_respond_error(pss, 404, "Not Found", NULL);
    else
        s_respond_error(pss, 403, msg, "forbidden");
    return 0;
}

/* Kernels are not files: a kernel may be used by whoever may execute in a session path it serves
 * (or at the root, for a kernel without sessions). */
static int s_kernel_allowed(td_relay_t *r, const td_user_t *user, const char *kernel_id)
{
    int any = 0;
    for (size_t i = 0; i < td_sessions_count(r->sessions); i++) {
        td_session_t *se = td_sessions_at(r->sessions, i);
        if (strcmp(se->kernel_id, kernel_id) != 0)
            continue;
        any = 1;
        if (td_acl_can(r->acl, user->username, se->path, TD_ACL_EXECUTE))
            return 1;
    }
    return !any && td_acl_can(r->acl, user->username, "", TD_ACL_EXECUTE);
}

/* 1 when allow_origin ("*" or one exact origin) admits origin for CORS. */
static int s_cors_allowed(const td_relay_t *r, const char *origin)
{
    return origin[0] && r->allow_origin &&
           (strcmp(r->allow_origin, "*") == 0 || strcmp(r->allow_origin, origin) == 0);
}

/* Websocket Origin rule (jupyter_server): no Origin is fine; else its host must equal Host. */
static int s_origin_ok(struct lws *wsi, const char *allow_origin)
{
    char origin[256], host[256];
    s_header(wsi, WSI_TOKEN_ORIGIN, origin, sizeof origin);
    if (!origin[0])
        return 1;
    if (allow_origin && (strcmp(allow_origin, "*") == 0 || strcmp(allow_origin, origin) == 0))
        return 1;
    s_header(wsi, WSI_TOKEN_HOST, host, sizeof host);
    const char *o = strstr(origin, "://");
    o = o ? o + 3 : origin;
    return host[0] && strcasecmp(o, host) == 0;
}

/* jupyter_server's local-only Host check (DNS rebinding): a relay listening on a loopback address
 * answers only requests whose Host names a loopback host. Returns 1 when host is acceptable. */
static int s_host_ok(const td_relay_t *r, struct lws *wsi)
{
    if (!r->loopback_only)
        return 1;
    char host[256];
    s_header(wsi, WSI_TOKEN_HOST, host, sizeof host);
    char *end = host[0] == '[' ? strchr(host, ']') : strrchr(host, ':');
    if (end && *end == ']')
        end[1] = '\0';
    else if (end && host[0] != '[' && strchr(host, ':') == end)
        *end = '\0'; /* drop ":port" (one colon: not a bare IPv6 address) */
    struct in_addr v4;
    return !host[0] || strcasecmp(host, "localhost") == 0 ||
           (inet_pton(AF_INET, host, &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127) ||
           strcmp(host, "[::1]") == 0 || strcmp(host, "::1") == 0;
}

/* ---- HTTP answers ---------------------------------------------------------------------------- */

static void s_http_reset(td_pss_t *pss)
{
    td_waiter_unlink(&pss->waiter);
    free(pss->body);
    free(pss->resp);
    pss->body = NULL;
    pss->resp = NULL;
    pss->body_len = pss->body_cap = pss->resp_len = 0;
    pss->body_over = pss->body_discard = pss->expect_body = 0;
    pss->auth_done = pss->auth_limited = pss->by_cookie = 0;
    pss->user = NULL;
    pss->phase = P_IDLE;
    pss->location[0] = pss->cookies[0][0] = pss->cookies[1][0] = '\0';
    pss->cache = pss->preflight = pss->cors = 0;
}

/* Sets the answer (takes body: malloc'd text or bytes, may be NULL) and asks to write it. */
static void s_respond(td_pss_t *pss, int status, const char *ctype, const void *body, size_t len)
{
    free(pss->resp);
    pss->resp = malloc(LWS_PRE + len + 1);
    pss->resp_len = pss->resp ? len : 0;
    if (pss->resp && len)
        memcpy(pss->resp + LWS_PRE, body, len);
    pss->status = status;
    pss->ctype = ctype;
    pss->phase = P_READY;
    TD_LOG(TD_LOG_DEBUG, "relay.http", "%s -> %d (%zu bytes)", td_route_name(pss->route.id),
           status, len);
    lws_callback_on_writable(pss->wsi);
}

static void s_respond_json(td_pss_t *pss, int status, json_t *body_new)
{
    char *text = NULL;
    size_t len = 0;
    int rc = body_new ? td_json_dump(body_new, &text, &len) : TD_ENOMEM;
    json_decref(body_new);
    if (rc != 0) {
        s_respond(pss, 500, "application/json", "{\"message\":\"out of memory\",\"reason\":null}", 41);
        return;
    }
    s_respond(pss, status, "application/json", text, len);
    free(text);
}

static void s_respond_error(td_pss_t *pss, int status, const char *message, const char *reason)
{
    char *text = td_kmodel_error(message, reason);
    s_respond(pss, status, "application/json", text ? text : "{}", text ? strlen(text) : 2);
    free(text);
}

static int s_http_write(td_pss_t *pss)
{
    struct lws *wsi = pss->wsi;
    if (pss->phase == P_READY) {
        uint8_t buf[LWS_PRE + 4096], *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf - 1;
        int has_body = pss->status != 204 && pss->status != 304;
        if (lws_add_http_common_headers(wsi, (unsigned)pss->status, has_body ? pss->ctype : NULL,
                                        has_body ? pss->resp_len : 0, &p, end))
            return -1;
        if (pss->location[0] &&
            lws_add_http_header_by_name(wsi, (const uint8_t *)"Location:",
                                        (const uint8_t *)pss->location,
                                        (int)strlen(pss->location), &p, end))
            return -1;
        for (int i = 0; i < 2; i++)
            if (pss->cookies[i][0] &&
                lws_add_http_header_by_name(wsi, (const uint8_t *)"Set-Cookie:",
                                            (const uint8_t *)pss->cookies[i],
                                            (int)strlen(pss->cookies[i]), &p, end))
                return -1;
        static const char csp[] = "frame-ancestors 'self'"; /* no framing of the login page */
        if (pss->ctype && strncmp(pss->ctype, "text/html", 9) == 0 &&
            lws_add_http_header_by_name(wsi, (const uint8_t *)"Content-Security-Policy:",
                                        (const uint8_t *)csp, (int)strlen(csp), &p, end))
            return -1;
        if (pss->cache && lws_add_http_header_by_name(wsi, (const uint8_t *)"Cache-Control:",
                                                      (const uint8_t *)"max-age=2592000", 15, &p,
                                                      end))
            return -1;
        if (pss->cors && pss->origin[0] &&
            lws_add_http_header_by_name(wsi, (const uint8_t *)"Access-Control-Allow-Origin:",
                                        (const uint8_t *)pss->origin, (int)strlen(pss->origin),
                                        &p, end))
            return -1;
        if (pss->preflight) {
            static const char h[] = "accept, content-type, authorization, x-xsrftoken";
            static const char m[] = "GET, PUT, POST, PATCH, DELETE, OPTIONS";
            if (lws_add_http_header_by_name(wsi, (const uint8_t *)"Access-Control-Allow-Headers:",
                                            (const uint8_t *)h, (int)strlen(h), &p, end) ||
                lws_add_http_header_by_name(wsi, (const uint8_t *)"Access-Control-Allow-Methods:",
                                            (const uint8_t *)m, (int)strlen(m), &p, end))
                return -1;
        }
        if (lws_finalize_write_http_header(wsi, start, &p, end))
            return -1;
        if (has_body && pss->resp_len) {
            pss->phase = P_BODY;
            lws_callback_on_writable(wsi);
            return 0;
        }
    } else if (pss->phase == P_BODY) {
        int n = lws_write(wsi, pss->resp + LWS_PRE, pss->resp_len, LWS_WRITE_HTTP_FINAL);
        if (n < 0)
            return -1;
    } else {
        return 0; /* spurious */
    }
    s_http_reset(pss);
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* ---- REST handlers --------------------------------------------------------------------------- */

static json_t *s_parse_body(td_pss_t *pss, int *bad)
{
    *bad = 0;
    if (!pss->body_len)
        return NULL;
    json_t *v = json_loadb(pss->body, pss->body_len, 0, NULL);
    if (!json_is_object(v)) {
        json_decref(v);
        *bad = 1;
        return NULL;
    }
    return v;
}

/* The kernel's working directory for an API path: ROOT/<dir of path> when that is a directory
 * inside the root (after resolving symlinks), else ROOT. is_file: path names a document. */
static void s_cwd_for(td_relay_t *r, const char *path, int is_file, char *out, size_t cap)
{
    snprintf(out, cap, "%s", r->root);
    if (!path || !*path)
        return;
    char rel[PATH_MAX], full[PATH_MAX], real[PATH_MAX];
    snprintf(rel, sizeof rel, "%s", path[0] == '/' ? path + 1 : path);
    if (is_file) {
        char *slash = strrchr(rel, '/');
        if (!slash)
            return;
        *slash = '\0';
    }
    if (snprintf(full, sizeof full, "%s/%s", r->root, rel) >= (int)sizeof full || !realpath(full, real))
        return;
    size_t rl = strlen(r->root);
    struct stat st;
    if (strncmp(real, r->root, rl) == 0 && (real[rl] == '/' || real[rl] == '\0') &&
        stat(real, &st) == 0 && S_ISDIR(st.st_mode))
        snprintf(out, cap, "%s", real);
}

static void s_kernel_done(td_waiter_t *w, td_kernel_t *k, int status)
{
    td_pss_t *pss = (td_pss_t *)((char *)w - offsetof(td_pss_t, waiter));
    json_t *result = w->result;
    w->result = NULL;
    if (pss->route.id == TD_ROUTE_KERNEL_EXECUTE) {
        if (result)
            s_respond_json(pss, 200, result);
        else
            s_respond_error(pss, 500, "The execution did not finish", "the kernel or room went away");
    } else if (pss->route.id == TD_ROUTE_KERNEL) { /* DELETE */
        s_respond(pss, 204, NULL, NULL, 0);
    } else if (status == 0) {
        s_respond_json(pss, 200, td_kernel_model(k));
    } else {
        s_respond_error(pss, 500, "Kernel restart failed", "the kernel did not come back");
    }
}

static void s_defer(td_pss_t *pss)
{
    pss->phase = P_WAITING;
    pss->waiter.fn = s_kernel_done;
    pss->waiter.result = NULL;
    lws_set_timeout(pss->wsi, NO_PENDING_TIMEOUT, 0);
}

/* Starts a kernel by spec name (NULL = default); answers errors itself and returns NULL then. */
static td_kernel_t *s_start_kernel(td_pss_t *pss, const char *name, json_t *env, const char *cwd,
                                   int unknown_status)
{
    td_relay_t *r = pss->r;
    td_kspecs_t *ks = td_relay_kspecs(r);
    if (!name || !*name)
        name = td_kspecs_default(ks);
    const td_kspec_t *spec = td_kspecs_find(ks, name);
    td_kernel_t *k = NULL;
    char msg[512];
    if (!spec) {
        snprintf(msg, sizeof msg, "No such kernel named %s", name);
        if (unknown_status == 501) {
            char sm[300];
            snprintf(sm, sizeof sm, "%s kernel not found", name);
            json_t *e = json_pack("{s:s, s:n, s:s}", "message", msg, "reason", "short_message", sm);
            s_respond_json(pss, 501, e);
        } else {
            s_respond_error(pss, unknown_status, msg, NULL);
        }
    } else {
        int rc;
        k = td_kernel_start(r, spec, env, cwd, &rc, msg, sizeof msg);
        if (!k)
            s_respond_error(pss, 500, msg, NULL);
    }
    td_kspecs_destroy(&ks);
    return k;
}

static json_t *s_session_model(td_relay_t *r, const td_session_t *s)
{
    td_kernel_t *k = td_kernel_find(r, s->kernel_id);
    return td_kmodel_session(s->id, s->path, s->name, s->type, k ? td_kernel_model(k) : NULL);
}

static void s_h_kernels(td_pss_t *pss)
{
    td_relay_t *r = pss->r;
    if (pss->method == LWSHUMETH_GET) {
        json_t *list = json_array();
        for (td_kernel_t *k = r->kernels; k; k = td_kernel_next(k))
            if (td_kernel_find(r, td_kernel_id(k)))
                json_array_append_new(list, td_kernel_model(k));
        s_respond_json(pss, 200, list);
        return;
    }
    int bad;
    json_t *body = s_parse_body(pss, &bad);
    if (bad) {
        s_respond_error(pss, 400, "Invalid JSON in request body", NULL);
        return;
    }
    json_t *name = json_object_get(body, "name"), *path = json_object_get(body, "path"),
           *env = json_object_get(body, "env");
    if ((name && !json_is_string(name) && !json_is_null(name)) ||
        (path && !json_is_string(path) && !json_is_null(path)) || (env && !json_is_object(env) && !json_is_null(env))) {
        json_decref(body);
        s_respond_error(pss, 400, "Invalid kernel request", NULL);
        return;
    }
    char cwd[PATH_MAX];
    s_cwd_for(pss->r, json_string_value(path), 0, cwd, sizeof cwd);
    td_kernel_t *k = s_start_kernel(pss, json_string_value(name), json_is_object(env) ? env : NULL,
                                    cwd, 404);
    if (k) {
        snprintf(pss->location, sizeof pss->location, "/api/kernels/%s", td_kernel_id(k));
        s_respond_json(pss, 201, td_kernel_model(k));
    }
    json_decref(body);
}

static void s_h_kernel(td_pss_t *pss)
{
    td_kernel_t *k = td_kernel_find(pss->r, pss->route.arg);
    if (!k) {
        char msg[400];
        snprintf(msg, sizeof msg, "Kernel does not exist: %s", pss->route.arg);
        s_respond_error(pss, 404, msg, NULL);
        return;
    }
    switch (pss->route.id) {
    case TD_ROUTE_KERNEL:
        if (pss->method == LWSHUMETH_GET) {
            s_respond_json(pss, 200, td_kernel_model(k));
        } else {
            s_defer(pss);
            td_kernel_shutdown(k, &pss->waiter);
        }
        break;
    case TD_ROUTE_KERNEL_EXECUTE: {
        int bad;
        json_t *body = s_parse_body(pss, &bad), *err = NULL;
        s_defer(pss);
        int st = td_rooms_execute(pss->r, k, pss->user, body, &pss->waiter, &err);
        json_decref(body);
        if (st) {
            td_waiter_unlink(&pss->waiter);
            s_respond_json(pss, st, err);
        }
        break;
    }
    case TD_ROUTE_KERNEL_INTERRUPT:
        if (td_kernel_interrupt(k) == 0)
            s_respond(pss, 204, NULL, NULL, 0);
        else
            s_respond_error(pss, 500, "Kernel has no process to interrupt", NULL);
        break;
    default: /* restart */
        s_defer(pss);
        if (td_kernel_restart(k, &pss->waiter) != 0) {
            td_waiter_unlink(&pss->waiter);
            s_respond_error(pss, 500, "Kernel cannot be restarted", NULL);
        }
        break;
    }
}

static void s_h_sessions(td_pss_t *pss)
{
    td_relay_t *r = pss->r;
    if (pss->method == LWSHUMETH_GET) {
        json_t *list = json_array();
        for (size_t i = 0; i < td_sessions_count(r->sessions); i++) {
            td_session_t *se = td_sessions_at(r->sessions, i);
            /* others' files stay unseen */
            if (td_acl_can(r->acl, pss->user->username, se->path, TD_ACL_READ))
                json_array_append_new(list, s_session_model(r, se));
        }
        s_respond_json(pss, 200, list);
        return;
    }
    int bad;
    json_t *body = s_parse_body(pss, &bad);
    const char *path = json_string_value(json_object_get(body, "path"));
    if (!path) /* notebook 5 shape */
        path = json_string_value(json_object_get(json_object_get(body, "notebook"), "path"));
    const char *type = json_string_value(json_object_get(body, "type"));
    const char *name = json_string_value(json_object_get(body, "name"));
    json_t *kern = json_object_get(body, "kernel");
    if (bad || !body) {
        s_respond_error(pss, 400, "Invalid JSON in request body", NULL);
    } else if (!path) {
        s_respond_error(pss, 400, "Missing field in JSON data: path", NULL);
    } else if (!s_allowed(pss, path, TD_ACL_EXECUTE)) {
        /* answered */
    } else if (!type) {
        s_respond_error(pss, 400, "Missing field in JSON data: type", NULL);
    } else if (kern && !json_is_object(kern) && !json_is_null(kern)) {
        s_respond_error(pss, 400, "Invalid kernel field", NULL);
    } else {
        td_session_t *s = td_sessions_find_path(r->sessions, path);
        if (s && td_kernel_find(r, s->kernel_id)) {
            snprintf(pss->location, sizeof pss->location, "/api/sessions/%s", s->id);
            s_respond_json(pss, 201, s_session_model(r, s));
            json_decref(body);
            return;
        }
        if (s)
            td_sessions_remove(r->sessions, s->id);
        const char *kid = json_string_value(json_object_get(kern, "id"));
        td_kernel_t *k = NULL;
        if (kid) {
            if (!(k = td_kernel_find(r, kid))) {
                char msg[400];
                snprintf(msg, sizeof msg, "No such kernel: %s", kid);
                s_respond_error(pss, 400, msg, NULL);
            } else if (!s_kernel_allowed(r, pss->user, kid)) {
                k = NULL; /* joining someone else's kernel needs their permission */
                s_respond_error(pss, 403, "Your role does not allow using this kernel", "forbidden");
            }
        } else {
            char cwd[PATH_MAX];
            s_cwd_for(r, path, 1, cwd, sizeof cwd);
            k = s_start_kernel(pss, json_string_value(json_object_get(kern, "name")), NULL, cwd,
                               501);
        }
        if (k) {
            s = td_sessions_add(r->sessions, path, name ? name : path, type, td_kernel_id(k));
            if (!s) {
                s_respond_error(pss, 500, "out of memory", NULL);
            } else {
                TD_LOG(TD_LOG_INFO, "relay.http", "session %s on kernel %s", s->id, s->kernel_id);
                snprintf(pss->location, sizeof pss->location, "/api/sessions/%s", s->id);
                s_respond_json(pss, 201, s_session_model(r, s));
            }
        }
    }
    json_decref(body);
}

static void s_h_session(td_pss_t *pss)
{
    td_relay_t *r = pss->r;
    td_session_t *s = td_sessions_find(r->sessions, pss->route.arg);
    if (!s) {
        char msg[400];
        snprintf(msg, sizeof msg, "Session not found: %s", pss->route.arg);
        s_respond_error(pss, 404, msg, NULL);
        return;
    }
    if (pss->method == LWSHUMETH_GET) {
        if (s_allowed(pss, s->path, TD_ACL_READ))
            s_respond_json(pss, 200, s_session_model(r, s));
        return;
    }
    if (!s_allowed(pss, s->path, TD_ACL_EXECUTE))
        return;
    if (pss->method == LWSHUMETH_DELETE) {
        char kid[TD_UUID_LEN + 1];
        snprintf(kid, sizeof kid, "%s", s->kernel_id);
        td_sessions_remove(r->sessions, s->id);
        td_kernel_t *k = td_kernel_find(r, kid);
        /* Shared kernels: only the last session shuts the kernel down. */
        if (k && td_sessions_kernel_refs(r->sessions, kid) == 0)
            td_kernel_shutdown(k, NULL);
        s_respond(pss, 204, NULL, NULL, 0);
        return;
    }
    /* PATCH */
    int bad;
    json_t *body = s_parse_body(pss, &bad);
    if (bad || !body) {
        json_decref(body);
        s_respond_error(pss, 400, "Invalid JSON in request body", NULL);
        return;
    }
    const char *np = json_string_value(json_object_get(body, "path"));
    const char *nkid = json_string_value(json_object_get(json_object_get(body, "kernel"), "id"));
    if ((np && !s_allowed(pss, np, TD_ACL_EXECUTE)) ||
        (nkid && td_kernel_find(r, nkid) && !s_kernel_allowed(r, pss->user, nkid) &&
         (s_respond_error(pss, 403, "Your role does not allow using this kernel", "forbidden"), 1))) {
        json_decref(body);
        return;
    }
    const char *fields[3] = {"path", "name", "type"};
    for (int i = 0; i < 3; i++) {
        const char *v = json_string_value(json_object_get(body, fields[i]));
        if (v)
            td_sessions_set(s, fields[i], v);
    }
    json_t *kern = json_object_get(body, "kernel");
    if (json_is_object(kern)) {
        const char *kid = json_string_value(json_object_get(kern, "id"));
        const char *kname = json_string_value(json_object_get(kern, "name"));
        char old[TD_UUID_LEN + 1];
        snprintf(old, sizeof old, "%s", s->kernel_id);
        td_kernel_t *k = NULL;
        if (kid && !(k = td_kernel_find(r, kid))) {
            char msg[400];
            snprintf(msg, sizeof msg, "No such kernel: %s", kid);
            s_respond_error(pss, 400, msg, NULL);
            json_decref(body);
            return;
        }
        if (!kid && kname) {
            char cwd[PATH_MAX];
            s_cwd_for(r, s->path, 1, cwd, sizeof cwd);
            if (!(k = s_start_kernel(pss, kname, NULL, cwd, 501))) {
                json_decref(body);
                return;
            }
        }
        if (k && strcmp(old, td_kernel_id(k)) != 0) {
            snprintf(s->kernel_id, sizeof s->kernel_id, "%s", td_kernel_id(k));
            td_kernel_t *ok = td_kernel_find(r, old);
            if (ok && td_sessions_kernel_refs(r->sessions, old) == 0)
                td_kernel_shutdown(ok, NULL);
        }
    }
    json_decref(body);
    s_respond_json(pss, 200, s_session_model(r, s));
}

static const char *s_mime(const char *file)
{
    const char *dot = strrchr(file, '.');
    if (!dot)
        return "application/octet-stream";
    if (strcasecmp(dot, ".png") == 0)
        return "image/png";
    if (strcasecmp(dot, ".svg") == 0)
        return "image/svg+xml";
    if (strcasecmp(dot, ".js") == 0)
        return "application/javascript";
    if (strcasecmp(dot, ".css") == 0)
        return "text/css";
    if (strcasecmp(dot, ".json") == 0)
        return "application/json";
    return "application/octet-stream";
}

static void s_h_kspec_file(td_pss_t *pss)
{
    td_kspecs_t *ks = td_relay_kspecs(pss->r);
    const td_kspec_t *spec = td_kspecs_find(ks, pss->route.arg);
    char path[PATH_MAX];
    if (!spec || td_kspec_resource(spec, pss->route.arg2, path, sizeof path) != 0) {
        td_kspecs_destroy(&ks);
        s_respond_error(pss, 404, "Not Found", NULL);
        return;
    }
    td_kspecs_destroy(&ks);
    FILE *f = fopen(path, "rb");
    char *buf = malloc(S_MAX_FILE);
    size_t n = f && buf ? fread(buf, 1, S_MAX_FILE, f) : 0;
    if (f)
        fclose(f);
    if (!f || !buf) {
        free(buf);
        s_respond_error(pss, 404, "Not Found", NULL);
        return;
    }
    pss->cache = strcmp(s_mime(path), "image/png") == 0;
    s_respond(pss, 200, s_mime(path), buf, n);
    free(buf);
}

static void s_h_me(td_pss_t *pss)
{
    char q[4096];
    json_t *perms = json_object();
    if (s_query(pss->wsi, "permissions", q, sizeof q) == 0 && q[0]) {
        json_t *req = json_loads(q, 0, NULL);
        if (!json_is_object(req)) {
            json_decref(req);
            json_decref(perms);
            s_respond_error(pss, 400, "permissions should be a JSON dict of {\"resource\": [\"action\",]}", NULL);
            return;
        }
        /* Everyone with a token may do everything (jupyter_server's default authorizer). */
        const char *res;
        json_t *acts;
        json_object_foreach(req, res, acts)
        {
            if (!json_is_array(acts)) {
                json_decref(req);
                json_decref(perms);
                s_respond_error(pss, 400, "permissions should be a JSON dict of {\"resource\": [\"action\",]}", NULL);
                return;
            }
            json_object_set(perms, res, acts);
        }
        json_decref(req);
    }
    s_respond_json(pss, 200,
                   json_pack("{s:o, s:o}", "identity", td_auth_identity(pss->user), "permissions", perms));
}

static int s_method_ok(td_route_id_t id, int m)
{
    switch (id) {
    case TD_ROUTE_KERNELS:
    case TD_ROUTE_SESSIONS:
        return m == LWSHUMETH_GET || m == LWSHUMETH_POST;
    case TD_ROUTE_KERNEL:
        return m == LWSHUMETH_GET || m == LWSHUMETH_DELETE;
    case TD_ROUTE_KERNEL_INTERRUPT:
    case TD_ROUTE_KERNEL_RESTART:
    case TD_ROUTE_KERNEL_EXECUTE:
        return m == LWSHUMETH_POST;
    case TD_ROUTE_COLLAB_SESSION:
        return m == LWSHUMETH_PUT;
    case TD_ROUTE_ADMIN:
    case TD_ROUTE_COMMENTS:
    case TD_ROUTE_NOTIFICATIONS:
        return 1; /* their handlers answer 405 */
    case TD_ROUTE_SESSION:
        return m == LWSHUMETH_GET || m == LWSHUMETH_PATCH || m == LWSHUMETH_DELETE;
    case TD_ROUTE_CONTENTS:
    case TD_ROUTE_CONTENTS_CPS:
    case TD_ROUTE_CONTENTS_CP:
    case TD_ROUTE_CONTENTS_TRUST:
        return 1; /* td_contents answers 405 itself */
    default:
        return m == LWSHUMETH_GET;
    }
}

/* The Contents API (td_contents.c), opened on the relay's root at first use and kept for the
 * process lifetime. */
static void s_h_contents(td_pss_t *pss)
{
    td_contents_t *contents = pss->r->contents;
    static const char *const methods[] = {
        [LWSHUMETH_GET] = "GET",     [LWSHUMETH_POST] = "POST",   [LWSHUMETH_PUT] = "PUT",
        [LWSHUMETH_PATCH] = "PATCH", [LWSHUMETH_DELETE] = "DELETE"};
    char v[4][64];
    const char *keys[4] = {"type", "format", "content", "hash"}, *vals[4];
    for (int i = 0; i < 4; i++) {
        int rc = s_query(pss->wsi, keys[i], v[i], sizeof v[i]);
        vals[i] = rc == 0 ? v[i] : rc == TD_E2BIG ? "(too long)" : NULL;
    }
    td_contents_query_t q = {vals[0], vals[1], vals[2], vals[3]};
    char path[TD_ROUTE_PATH_MAX];
    if (td_contents_path_norm(pss->route.cpath, path, sizeof path) != 0)
        path[0] = '\0'; /* td_contents answers the bad path */
    td_acl_action_t need = TD_ACL_READ;
    if (pss->method == LWSHUMETH_PATCH)
        need = TD_ACL_RENAME;
    else if (pss->method == LWSHUMETH_DELETE && pss->route.id == TD_ROUTE_CONTENTS)
        need = TD_ACL_DELETE;
    else if (pss->method != LWSHUMETH_GET)
        need = TD_ACL_SAVE;
    if (!s_allowed(pss, path, need))
        return;
    if (pss->method == LWSHUMETH_PATCH) {
        /* A rename also writes at the destination. */
        json_t *b = json_loadb(pss->body ? pss->body : "", pss->body_len, 0, NULL);
        const char *to = json_string_value(json_object_get(b, "path"));
        char dst[TD_ROUTE_PATH_MAX];
        int ok = !to || td_contents_path_norm(to, dst, sizeof dst) != 0 ||
                 s_allowed(pss, dst, TD_ACL_SAVE);
        json_decref(b);
        if (!ok)
            return;
    }
    const char *m = pss->method >= 0 && pss->method < (int)(sizeof methods / sizeof methods[0]) &&
                            methods[pss->method] ? methods[pss->method] : "OTHER";
    td_contents_reply_t rep;
    td_contents_handle(contents, m, &pss->route, &q, pss->body, pss->body_len, &rep);
    if (pss->method == LWSHUMETH_GET && rep.status == 200 && pss->route.id == TD_ROUTE_CONTENTS &&
        !json_is_null(json_object_get(rep.body, "content")) &&
        !json_is_array(json_object_get(rep.body, "content"))) {
        /* The file's content leaves the server: a download (refused with no-download). */
        int nd = 0;
        td_acl_role(pss->r->acl, pss->user->username, path, &nd);
        if (nd) {
            json_decref(rep.body);
            td_acl_audit(pss->r->acl, pss->user->username, "denied", path, "download");
            s_respond_error(pss, 403, "Downloads are not allowed for you here", "no-download");
            return;
        }
        td_acl_audit(pss->r->acl, pss->user->username, "download", path, "");
    } else if (pss->method != LWSHUMETH_GET && rep.status < 300) {
        td_acl_audit(pss->r->acl, pss->user->username,
                     pss->method == LWSHUMETH_PATCH ? "rename" :
                     pss->method == LWSHUMETH_DELETE ? "delete" : "save", path, "");
    }
    if (pss->method == LWSHUMETH_PATCH && rep.status == 200 && pss->route.id == TD_ROUTE_CONTENTS) {
        /* A rename: file ids (and open rooms) follow the file. */
        char from[TD_ROUTE_PATH_MAX], to[TD_ROUTE_PATH_MAX];
        const char *np = json_string_value(json_object_get(rep.body, "path"));
        if (np && td_contents_path_norm(pss->route.cpath, from, sizeof from) == 0 &&
            td_contents_path_norm(np, to, sizeof to) == 0)
            td_rooms_renamed(pss->r, from, to);
    }
    size_t loclen = strlen(rep.location);
    if (loclen < sizeof pss->location) /* a longer Location is left out (no client needs it) */
        memcpy(pss->location, rep.location, loclen + 1);
    if (rep.body)
        s_respond_json(pss, rep.status, rep.body);
    else
        s_respond(pss, rep.status, NULL, NULL, 0);
}

/* /api/admin/grants (GET ?path, POST {path, username, role, no_download}, DELETE ?path&username)
 * for owners of the path, and /api/admin/audit (GET ?since&user&action&limit) for owners of the
 * root. */
static void s_h_admin(td_pss_t *pss)
{
    td_relay_t *r = pss->r;
    td_acl_t *acl = r->acl;
    const char *me = pss->user->username;
    char q[TD_ROUTE_PATH_MAX], path[TD_ROUTE_PATH_MAX] = "", user[128] = "", a1[64], a2[64];
    if (s_query(pss->wsi, "path", q, sizeof q) == 0 && td_contents_path_norm(q, path, sizeof path) != 0) {
        s_respond_error(pss, 400, "Invalid path", NULL);
        return;
    }
    s_query(pss->wsi, "username", user, sizeof user);
    if (strcmp(pss->route.cpath, "/audit") == 0 && pss->method == LWSHUMETH_GET) {
        if (!td_acl_can_grant(acl, me, "")) {
            s_respond_error(pss, 403, "Only owners of the root can read the audit log", "forbidden");
            return;
        }
        char lim[16];
        int have_since = s_query(pss->wsi, "since", a1, sizeof a1) == 0;
        int have_action = s_query(pss->wsi, "action", a2, sizeof a2) == 0;
        int limit = s_query(pss->wsi, "limit", lim, sizeof lim) == 0 ? atoi(lim) : 100;
        json_t *rows = td_acl_audit_query(acl, have_since ? a1 : NULL, user[0] ? user : NULL,
                                          have_action ? a2 : NULL, limit);
        s_respond_json(pss, rows ? 200 : 500, rows ? json_pack("{s:o}", "entries", rows) : NULL);
        return;
    }
    if (strcmp(pss->route.cpath, "/grants") != 0) {
        s_respond_error(pss, 404, "Not Found", NULL);
        return;
    }
    int bad = 0;
    json_t *body = pss->method == LWSHUMETH_POST ? s_parse_body(pss, &bad) : NULL;
    if (pss->method == LWSHUMETH_POST) {
        const char *p = json_string_value(json_object_get(body, "path"));
        const char *u = json_string_value(json_object_get(body, "username"));
        if (!p || !u || td_contents_path_norm(p, path, sizeof path) != 0) {
            json_decref(body);
            s_respond_error(pss, 400, "Expected {path, username, role, no_download?}", NULL);
            return;
        }
        snprintf(user, sizeof user, "%s", u);
    }
    if (!td_acl_can_grant(acl, me, path)) {
        json_decref(body);
        s_respond_error(pss, 403, "Only owners manage grants", "forbidden");
        return;
    }
    int rc = 0;
    if (pss->method == LWSHUMETH_GET) {
        json_t *g = td_acl_grants_json(acl, path[0] ? path : NULL);
        s_respond_json(pss, g ? 200 : 500, g ? json_pack("{s:o}", "grants", g) : NULL);
        return;
    } else if (pss->method == LWSHUMETH_POST) {
        td_role_t role = td_role_parse(json_string_value(json_object_get(body, "role")));
        rc = role == TD_ROLE_NONE ? TD_EINVAL
                                  : td_acl_grant(acl, path, user, role,
                                                 json_is_true(json_object_get(body, "no_download")), me);
        if (rc == 0)
            td_acl_audit(acl, me, "grant", path, user);
    } else if (pss->method == LWSHUMETH_DELETE) {
        rc = td_acl_revoke(acl, path, user);
        if (rc == 0)
            td_acl_audit(acl, me, "revoke", path, user);
    } else {
        json_decref(body);
        s_respond_error(pss, 405, "Method Not Allowed", NULL);
        return;
    }
    json_decref(body);
    if (rc == 0)
        td_http_access_changed(r);
    if (rc == 0)
        s_respond(pss, 204, NULL, NULL, 0);
    else
        s_respond_error(pss, rc == TD_ENOENT ? 404 : rc == TD_EINVAL ? 400 : 500,
                        rc == TD_ENOENT ? "No such user or grant" :
                        rc == TD_EINVAL ? "Invalid role or path" : "The store failed", NULL);
}

/* ---- comments ---------------------------------------------------------------------------------- */

/* The file id of an API path that names an existing file (created on first use). 0, or an HTTP
 * status (400 bad path, 404 no such file) with the answer already sent. */
static int s_file_for(td_pss_t *pss, const char *api_path, char *norm, char *fid)
{
    td_relay_t *r = pss->r;
    if (td_contents_path_norm(api_path, norm, TD_ROUTE_PATH_MAX) != 0) {
        s_respond_error(pss, 400, "Invalid path", NULL);
        return 400;
    }
    int rc = td_rooms_file_id(r, norm, fid, NULL);
    if (rc != 0)
        s_respond_error(pss, rc == TD_ENOENT ? 404 : 500,
                        rc == TD_ENOENT ? "No such file" : "The store failed", NULL);
    return rc == 0 ? 0 : rc == TD_ENOENT ? 404 : 500;
}

static const char *s_method_name(int m)
{
    return m == LWSHUMETH_GET ? "GET" : m == LWSHUMETH_POST ? "POST" : m == LWSHUMETH_PUT ? "PUT" :
           m == LWSHUMETH_PATCH ? "PATCH" : m == LWSHUMETH_DELETE ? "DELETE" : "OTHER";
}

/* /api/comments[/...]: the notebook comes from ?path= or the body's "path"; thread URLs name none
 * (td_comments finds the file and asks s_comment_role). */
static void s_h_comments(td_pss_t *pss)
{
    td_relay_t *r = pss->r;
    char store[8192], q[TD_ROUTE_PATH_MAX], norm[TD_ROUTE_PATH_MAX] = "", fid[TD_UUID_LEN + 1];
    const char *frags[64];
    size_t nq = s_frags(pss->wsi, store, frags);
    const char *path = NULL;
    json_t *body = NULL;
    if (td_route_query(frags, nq, "path", q, sizeof q) == 0) {
        path = q;
    } else if (pss->body_len) {
        body = json_loadb(pss->body, pss->body_len, 0, NULL);
        path = json_string_value(json_object_get(body, "path"));
    }
    int nd = 0;
    td_role_t role = TD_ROLE_NONE;
    if (path) {
        /* The role first: whether a file exists is not told to someone who may not see it. */
        if (td_contents_path_norm(path, norm, sizeof norm) == 0 &&
            (role = td_acl_role(r->acl, pss->user->username, norm, &nd)) == TD_ROLE_NONE) {
            json_decref(body);
            s_respond_error(pss, 404, "Not Found", NULL);
            return;
        }
        if (s_file_for(pss, path, norm, fid) != 0) {
            json_decref(body);
            return;
        }
    }
    json_decref(body);
    td_comments_req_t req = {s_method_name(pss->method), pss->route.cpath, frags, nq, pss->body,
                             pss->body_len, pss->user->username, path ? fid : NULL,
                             path ? norm : NULL, role, nd};
    json_t *out = NULL;
    int st = td_comments_handle(r->comments, &req, &out);
    if (out)
        s_respond_json(pss, st, out);
    else
        s_respond(pss, st, NULL, NULL, 0);
}

static void s_h_notifications(td_pss_t *pss)
{
    char store[8192];
    const char *frags[64];
    size_t nq = s_frags(pss->wsi, store, frags);
    json_t *out = NULL;
    int st = td_comments_notifications(pss->r->comments, s_method_name(pss->method),
                                       pss->route.cpath, pss->user->username, frags, nq,
                                       pss->body, pss->body_len, &out);
    if (out)
        s_respond_json(pss, st, out);
    else
        s_respond(pss, st, NULL, NULL, 0);
}

static td_role_t s_comment_role(void *arg, const char *username, const char *file_id,
                                char *path_out, size_t cap)
{
    td_relay_t *r = arg;
    if (td_store_file_path(r->store, file_id, path_out, cap) != 0) {
        if (cap)
            path_out[0] = '\0';
        return TD_ROLE_NONE;
    }
    return td_acl_role(r->acl, username, path_out, NULL);
}

static td_pss_t *s_event_subs; /* comment-stream websockets, linked through events_next */

static void s_comment_event(void *arg, const char *file_id, const json_t *event)
{
    (void)arg;
    char *text = json_dumps(event, JSON_COMPACT);
    size_t n = text ? strlen(text) : 0;
    uint8_t *mem = text ? malloc(LWS_PRE + n) : NULL;
    td_obuf_t *b = NULL;
    if (mem) {
        memcpy(mem + LWS_PRE, text, n);
        b = td_obuf_new(mem, n, 0);
    }
    free(text);
    for (td_pss_t *p = s_event_subs; b && p; p = p->events_next)
        if (strcmp(p->events_fid, file_id) == 0)
            td_ws_enqueue(p, b);
    td_obuf_unref(&b);
}

static void s_events_unsubscribe(td_pss_t *pss)
{
    for (td_pss_t **pp = &s_event_subs; *pp; pp = &(*pp)->events_next)
        if (*pp == pss) {
            *pp = pss->events_next;
            break;
        }
    pss->events_fid[0] = '\0';
}

void td_http_access_changed(td_relay_t *r)
{
    td_rooms_recheck(r);
    for (td_pss_t *p = s_event_subs; p; p = p->events_next) {
        char path[TD_ROUTE_PATH_MAX];
        if (td_store_file_path(r->store, p->events_fid, path, sizeof path) != 0 ||
            !td_acl_can(r->acl, p->user->username, path, TD_ACL_READ))
            td_ws_close(p, 4403, "tandem-relay: your access to this file was removed");
    }
}

void td_http_comment_hooks(td_relay_t *r)
{
    td_comments_set_hooks(r->comments, s_comment_role, td_rooms_has_cell, s_comment_event, r);
}

/* ---- cookie login (jupyter_server's /login and /logout) -------------------------------------- */

/* Appends s to out (cap bytes) with HTML's five special characters escaped. */
static void s_html(char *out, size_t cap, const char *s)
{
    size_t k = strlen(out);
    for (; *s && k + 7 < cap; s++) {
        const char *e = *s == '&' ? "&amp;" : *s == '<' ? "&lt;" : *s == '>' ? "&gt;"
                      : *s == '"' ? "&quot;" : *s == '\'' ? "&#39;" : NULL;
        if (e)
            k += (size_t)snprintf(out + k, cap - k, "%s", e);
        else
            out[k++] = *s;
    }
    out[k] = '\0';
}

/* The request's _xsrf cookie into out when it is one this relay could have made; otherwise a new
 * token, which the answer then sets. */
static void s_xsrf_cookie(td_pss_t *pss, char out[TD_XSRF_MAX])
{
    char cur[TD_XSRF_MAX];
    if (s_cookie(pss->wsi, "_xsrf", cur, sizeof cur) == 0 && strspn(cur, "0123456789abcdef|") ==
        strlen(cur) && td_xsrf_match(cur, cur)) {
        memcpy(out, cur, sizeof cur);
        return;
    }
    uint8_t rnd[TD_XSRF_RANDOM];
    pss->r->env.random(pss->r->env.arg, rnd, sizeof rnd);
    td_xsrf_make(rnd, td_relay_now(pss->r) / 1000000, out);
    snprintf(pss->cookies[1], sizeof pss->cookies[1], "_xsrf=%s; Path=/; SameSite=Lax", out);
}

/* Sets the login cookie for user on the answer (and an _xsrf cookie if there is none yet). */
static void s_login_cookie(td_pss_t *pss, const td_user_t *user)
{
    char name[300], value[TD_AUTH_COOKIE_MAX], xsrf[TD_XSRF_MAX];
    s_cookie_name(pss->wsi, name);
    if (td_auth_cookie_make(pss->r->auth, user, td_relay_now(pss->r) / 1000000, value) != 0)
        return;
    snprintf(pss->cookies[0], sizeof pss->cookies[0],
             "%s=%s; Max-Age=%d; Path=/; HttpOnly; SameSite=Lax", name, value,
             TD_AUTH_COOKIE_DAYS * 86400);
    s_xsrf_cookie(pss, xsrf);
}

/* jupyter_server's rule for a cookie-authenticated request that changes state: the _xsrf cookie
 * comes back in X-XSRFToken (or X-CSRFToken), or as an _xsrf query or form argument. NULL when it
 * does, else tornado's refusal message. */
static const char *s_xsrf_refusal(td_pss_t *pss)
{
    struct lws *wsi = pss->wsi;
    char cookie[256], sent[256];
    if (lws_hdr_custom_copy(wsi, sent, sizeof sent, "x-xsrftoken:", 12) < 0 &&
        lws_hdr_custom_copy(wsi, sent, sizeof sent, "x-csrftoken:", 12) < 0 &&
        s_query(wsi, "_xsrf", sent, sizeof sent) != 0 &&
        (!pss->body || td_route_form(pss->body, pss->body_len, "_xsrf", sent, sizeof sent) != 0))
        sent[0] = '\0';
    if (!sent[0])
        return "'_xsrf' argument missing from POST";
    if (s_cookie(wsi, "_xsrf", cookie, sizeof cookie) != 0 || !td_xsrf_match(cookie, sent))
        return "XSRF cookie does not match POST argument";
    return NULL;
}

/* Answers 302 to next when it is a path on this server ("/x", never "//host" or "/\host", no
 * spaces or control bytes), else to fallback. */
static void s_redirect(td_pss_t *pss, const char *next, const char *fallback)
{
    int ok = next[0] == '/' && next[1] != '/' && next[1] != '\\' &&
             strlen(next) < sizeof pss->location;
    for (const char *p = next; ok && *p; p++)
        ok = *p > 0x20 && *p < 0x7f && *p != '\\';
    snprintf(pss->location, sizeof pss->location, "%s", ok ? next : fallback);
    s_respond(pss, 302, "text/plain", "", 0);
}

/* The login page: the form (with message, and next carried along), or who is signed in. */
static void s_login_page(td_pss_t *pss, int status, const char *message, const char *next,
                         const td_user_t *user)
{
    char xsrf[TD_XSRF_MAX], page[8192] = "<!doctype html><html><head><meta charset=\"utf-8\">"
                                         "<title>Tandem relay</title></head><body>"
                                         "<h1>Tandem relay</h1>";
    size_t k = strlen(page);
    if (user) {
        k += (size_t)snprintf(page + k, sizeof page - k, "<p>Signed in as <b>");
        s_html(page, sizeof page, user->username);
        k = strlen(page);
        snprintf(page + k, sizeof page - k,
                 "</b>. <a href=\"/logout\">Sign out</a></p></body></html>");
    } else {
        s_xsrf_cookie(pss, xsrf);
        if (message)
            k += (size_t)snprintf(page + k, sizeof page - k, "<p role=\"alert\">%s</p>", message);
        snprintf(page + k, sizeof page - k,
                 "<form method=\"post\" action=\"/login\">"
                 "<input type=\"hidden\" name=\"_xsrf\" value=\"%s\">"
                 "<input type=\"hidden\" name=\"next\" value=\"",
                 xsrf);
        s_html(page, sizeof page, next);
        k = strlen(page);
        snprintf(page + k, sizeof page - k,
                 "\"><label>Token <input type=\"password\" name=\"password\" autofocus></label> "
                 "<button type=\"submit\">Sign in</button></form></body></html>");
    }
    s_respond(pss, status, "text/html; charset=utf-8", page, strlen(page));
}

/* GET /login: the form, or (signed in) a redirect to ?next= or the signed-in page. POST /login:
 * XSRF-checked form with password = a token; success sets the login cookie and redirects. */
static void s_h_login(td_pss_t *pss)
{
    td_relay_t *r = pss->r;
    struct lws *wsi = pss->wsi;
    char next[1024] = "";
    if (pss->method == LWSHUMETH_GET) {
        int limited, by_cookie;
        if (s_query(wsi, "next", next, sizeof next) != 0)
            next[0] = '\0';
        const td_user_t *u = s_authenticate(r, wsi, &limited, &by_cookie);
        if (u && !by_cookie)
            s_login_cookie(pss, u);
        if (u && next[0])
            s_redirect(pss, next, "/login");
        else if (limited)
            s_respond_error(pss, 429, "Too many failed logins; try again later", NULL);
        else
            s_login_page(pss, 200, NULL, next, u);
        return;
    }
    if (pss->method != LWSHUMETH_POST) {
        s_respond_error(pss, 405, "Method Not Allowed", NULL);
        return;
    }
    if (pss->body_over) {
        s_respond_error(pss, 413, "Request body too large", NULL);
        return;
    }
    const char *body = pss->body ? pss->body : "";
    if (td_route_form(body, pss->body_len, "next", next, sizeof next) != 0)
        next[0] = '\0';
    const char *refusal = s_xsrf_refusal(pss);
    if (refusal) {
        s_respond_error(pss, 403, refusal, NULL);
        return;
    }
    char pw[1024], peer[64] = "";
    lws_get_peer_simple(wsi, peer, sizeof peer);
    int64_t now_ms = td_relay_now(r) / 1000;
    if (!td_acl_login_allowed(r->acl, peer, now_ms)) {
        s_respond_error(pss, 429, "Too many failed logins; try again later", NULL);
        return;
    }
    const td_user_t *u = td_route_form(body, pss->body_len, "password", pw, sizeof pw) == 0
                             ? td_auth_check(r->auth, pw) : NULL;
    memset(pw, 0, sizeof pw);
    if (!u) {
        td_acl_login_failed(r->acl, peer, now_ms);
        td_acl_audit(r->acl, "", "auth_failed", "", peer);
        s_login_page(pss, 401, "Invalid credentials", next, NULL);
        return;
    }
    td_acl_audit(r->acl, u->username, "login", "", peer);
    s_login_cookie(pss, u);
    s_redirect(pss, next, "/login");
}

/* GET /logout: clears the login cookie. */
static void s_h_logout(td_pss_t *pss)
{
    char name[300];
    static const char page[] = "<!doctype html><html><head><meta charset=\"utf-8\">"
                               "<title>Tandem relay</title></head><body><p>Signed out. "
                               "<a href=\"/login\">Sign in</a></p></body></html>";
    s_cookie_name(pss->wsi, name);
    snprintf(pss->cookies[0], sizeof pss->cookies[0],
             "%s=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax", name);
    s_respond(pss, 200, "text/html; charset=utf-8", page, sizeof page - 1);
}

/* ---- dispatch -------------------------------------------------------------------------------- */

/* Answers one request; the body (if any) has arrived. */
static void s_handle(td_pss_t *pss)
{
    td_relay_t *r = pss->r;
    struct lws *wsi = pss->wsi;
    char date[TD_DATE_LEN + 1], date2[TD_DATE_LEN + 1];
    td_route_match(pss->path, &pss->route);
    s_header(wsi, WSI_TOKEN_ORIGIN, pss->origin, sizeof pss->origin);
    if (pss->method == LWSHUMETH_OPTIONS) {
        /* Unauthenticated, as jupyter_server; the origin only when allow_origin admits it. */
        pss->preflight = 1;
        pss->cors = s_cors_allowed(r, pss->origin);
        s_respond(pss, 204, NULL, NULL, 0);
        return;
    }
    if (!s_host_ok(r, wsi)) {
        s_respond_error(pss, 403, "Host not allowed (the relay listens on a loopback address)", NULL);
        return;
    }
    if (pss->route.id == TD_ROUTE_NONE || pss->route.id == TD_ROUTE_PROBE) {
        s_respond_error(pss, 404, "Not Found", NULL);
        return;
    }
    if (pss->route.id == TD_ROUTE_API) {
        s_respond_json(pss, 200, json_pack("{s:s, s:s}", "version", "2.14.2", "tandem", TD_VERSION));
        return;
    }
    if (pss->route.id == TD_ROUTE_LOGIN) {
        s_h_login(pss);
        return;
    }
    if (pss->route.id == TD_ROUTE_LOGOUT) {
        s_h_logout(pss);
        return;
    }
    int limited = pss->auth_limited;
    if (!pss->auth_done)
        pss->user = s_authenticate(r, wsi, &limited, &pss->by_cookie);
    if (!pss->user) {
        TD_LOG(TD_LOG_INFO, "relay.http", "%s: unauthenticated request refused%s",
               td_route_name(pss->route.id), limited ? " (rate limited)" : "");
        if (limited)
            s_respond_error(pss, 429, "Too many failed logins; try again later", NULL);
        else
            s_respond_error(pss, 403, "Forbidden", NULL);
        return;
    }
    if (pss->by_cookie) {
        /* A browser's cookie rides along on cross-site requests: only our own origin may use it,
         * and a change must echo the _xsrf cookie (jupyter_server answers these 404 and 403). */
        if (!s_origin_ok(wsi, r->allow_origin)) {
            s_respond_error(pss, 404, "Not Found", NULL);
            return;
        }
        const char *refusal = pss->method == LWSHUMETH_GET ? NULL : s_xsrf_refusal(pss);
        if (refusal) {
            s_respond_error(pss, 403, refusal, NULL);
            return;
        }
    } else if (s_cookie_user(r, wsi) != pss->user) {
        s_login_cookie(pss, pss->user); /* as jupyter_server: a token login persists in a cookie */
    }
    /* A token-authenticated request gets its Origin echoed, unless allow_origin narrows it; a
     * cookie-authenticated one only when allow_origin admits it. */
    pss->cors = r->allow_origin || pss->by_cookie ? s_cors_allowed(r, pss->origin) : 1;
    if (!s_method_ok(pss->route.id, pss->method)) {
        s_respond_error(pss, 405, "Method Not Allowed", NULL);
        return;
    }
    if (pss->body_over) {
        s_respond_error(pss, 413, "Request body too large", NULL);
        return;
    }
    switch (pss->route.id) {
    case TD_ROUTE_STATUS: {
        int n = 0;
        for (td_kernel_t *k = r->kernels; k; k = td_kernel_next(k))
            n += td_kernel_find(r, td_kernel_id(k)) != NULL;
        td_stamp_date(r->started_us, date);
        td_stamp_date(r->last_activity_us, date2);
        s_respond_json(pss, 200, json_pack("{s:s, s:s, s:i, s:i}", "started", date, "last_activity",
                                           date2, "kernels", n, "connections", r->connections));
        break;
    }
    case TD_ROUTE_ME:
        s_h_me(pss);
        break;
    case TD_ROUTE_KSPECS: {
        td_kspecs_t *ks = td_relay_kspecs(r);
        s_respond_json(pss, 200, td_kspecs_model(ks));
        td_kspecs_destroy(&ks);
        break;
    }
    case TD_ROUTE_KSPEC: {
        td_kspecs_t *ks = td_relay_kspecs(r);
        const td_kspec_t *spec = td_kspecs_find(ks, pss->route.arg);
        if (spec) {
            s_respond_json(pss, 200, td_kspec_model(spec));
        } else {
            char msg[400];
            snprintf(msg, sizeof msg, "Kernel spec %s not found", pss->route.arg);
            s_respond_error(pss, 404, msg, NULL);
        }
        td_kspecs_destroy(&ks);
        break;
    }
    case TD_ROUTE_KSPEC_FILE:
        s_h_kspec_file(pss);
        break;
    case TD_ROUTE_KERNELS:
        if (pss->method == LWSHUMETH_GET || s_allowed(pss, "", TD_ACL_EXECUTE))
            s_h_kernels(pss);
        break;
    case TD_ROUTE_KERNEL:
    case TD_ROUTE_KERNEL_INTERRUPT:
    case TD_ROUTE_KERNEL_RESTART:
    case TD_ROUTE_KERNEL_EXECUTE:
        if (pss->method != LWSHUMETH_GET && !s_kernel_allowed(r, pss->user, pss->route.arg))
            s_respond_error(pss, 403, "Your role does not allow executing code", "forbidden");
        else
            s_h_kernel(pss);
        break;
    case TD_ROUTE_KERNEL_CHANNELS:
    case TD_ROUTE_COLLAB_ROOM:
        s_respond_error(pss, 400, "WebSocket upgrade required", NULL);
        break;
    case TD_ROUTE_PRESENCE: {
        char q[TD_ROUTE_PATH_MAX], norm[TD_ROUTE_PATH_MAX];
        int has = s_query(wsi, "path", q, sizeof q) == 0;
        if (has && td_contents_path_norm(q, norm, sizeof norm) != 0) {
            s_respond_error(pss, 400, "Invalid path", NULL);
            break;
        }
        if (!has || s_allowed(pss, norm, TD_ACL_READ))
            s_respond_json(pss, 200, td_rooms_presence(r, pss->user, has ? norm : NULL));
        break;
    }
    case TD_ROUTE_COLLAB_SESSION: {
        char norm[TD_ROUTE_PATH_MAX];
        if (td_contents_path_norm(pss->route.cpath, norm, sizeof norm) == 0 &&
            !s_allowed(pss, norm, TD_ACL_READ))
            break;
        int bad;
        json_t *body = s_parse_body(pss, &bad), *ans = NULL;
        int st = td_rooms_session(r, pss->route.cpath, body, &ans);
        json_decref(body);
        s_respond_json(pss, st, ans);
        break;
    }
    case TD_ROUTE_SESSIONS:
        s_h_sessions(pss);
        break;
    case TD_ROUTE_SESSION:
        s_h_session(pss);
        break;
    case TD_ROUTE_CONTENTS:
    case TD_ROUTE_CONTENTS_CPS:
    case TD_ROUTE_CONTENTS_CP:
    case TD_ROUTE_CONTENTS_TRUST:
        s_h_contents(pss);
        break;
    case TD_ROUTE_ADMIN:
        s_h_admin(pss);
        break;
    case TD_ROUTE_COMMENTS:
        s_h_comments(pss);
        break;
    case TD_ROUTE_NOTIFICATIONS:
        s_h_notifications(pss);
        break;
    case TD_ROUTE_COMMENT_EVENTS:
        s_respond_error(pss, 400, "WebSocket upgrade required", NULL);
        break;
    default:
        s_respond_error(pss, 404, "Not Found", NULL);
        break;
    }
}

/* Rejects a websocket upgrade with a JSON error, written directly (lws expects it now). */
static int s_reject_upgrade(struct lws *wsi, int status, const char *message)
{
    char *body = td_kmodel_error(message, NULL);
    size_t blen = body ? strlen(body) : 0;
    uint8_t buf[LWS_PRE + 2048], *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf - 1;
    int rc = lws_add_http_common_headers(wsi, (unsigned)status, "application/json", blen, &p, end) ||
             lws_finalize_http_header(wsi, &p, end);
    if (!rc && (size_t)(end - p) > blen) {
        memcpy(p, body, blen);
        p += blen;
        rc = lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP_HEADERS) < 0;
    }
    free(body);
    return rc ? -1 : 1;
}

static int s_confirm_upgrade(td_relay_t *r, struct lws *wsi)
{
    char path[1024];
    td_route_t route;
    s_header(wsi, WSI_TOKEN_GET_URI, path, sizeof path);
    td_route_match(path, &route);
    if (route.id != TD_ROUTE_KERNEL_CHANNELS && route.id != TD_ROUTE_COLLAB_ROOM &&
        route.id != TD_ROUTE_COMMENT_EVENTS)
        return s_reject_upgrade(wsi, 404, "Not Found");
    if (!s_host_ok(r, wsi))
        return s_reject_upgrade(wsi, 403, "Host not allowed");
    int limited;
    int by_cookie;
    const td_user_t *user = s_authenticate(r, wsi, &limited, &by_cookie);
    if (!user) {
        TD_LOG(TD_LOG_INFO, "relay.ws", "unauthenticated websocket refused");
        return s_reject_upgrade(wsi, limited ? 429 : 403, limited ? "Too many failed logins" : "Forbidden");
    }
    if (!s_origin_ok(wsi, r->allow_origin))
        return s_reject_upgrade(wsi, 403, "Cross origin websocket refused");
    if (route.id == TD_ROUTE_COMMENT_EVENTS) {
        /* The stream of one notebook's comment events, for readers of that notebook. */
        char q[TD_ROUTE_PATH_MAX], norm[TD_ROUTE_PATH_MAX], fid[TD_UUID_LEN + 1];
        if (s_query(wsi, "path", q, sizeof q) != 0 || td_contents_path_norm(q, norm, sizeof norm) != 0)
            return s_reject_upgrade(wsi, 400, "Expected ?path=NOTEBOOK");
        if (!td_acl_can(r->acl, user->username, norm, TD_ACL_READ))
            return s_reject_upgrade(wsi, 404, "Not Found");
        json_t *m = NULL;
        td_contents_query_t cq = {NULL, NULL, "0", "0"};
        int st = td_contents_get(r->contents, norm, &cq, &m);
        json_decref(m);
        if (st != 200)
            return s_reject_upgrade(wsi, 404, "No such file");
        if (td_rooms_file_id(r, norm, fid, NULL) != 0)
            return s_reject_upgrade(wsi, 500, "The store failed");
    }
    if (route.id == TD_ROUTE_KERNEL_CHANNELS && !s_kernel_allowed(r, user, route.arg)) {
        td_acl_audit(r->acl, user->username, "denied", "", "kernel websocket");
        return s_reject_upgrade(wsi, 403, "Your role does not allow executing code");
    }
    if (route.id == TD_ROUTE_KERNEL_CHANNELS && !td_kernel_find(r, route.arg)) {
        char msg[400];
        snprintf(msg, sizeof msg, "Kernel does not exist: %s", route.arg);
        return s_reject_upgrade(wsi, 404, msg);
    }
    return 0;
}

/* ---- websockets ------------------------------------------------------------------------------ */

int td_ws_is_v1(const td_pss_t *ws)
{
    return ws->v1;
}

int td_ws_enqueue(td_pss_t *ws, td_obuf_t *buf)
{
    if (ws->closing)
        return -1;
    int was_empty = ws->q.head == NULL;
    if (td_oq_push(&ws->q, buf) != 0)
        return -1;
    if (ws->q.bytes > ws->r->max_send_queue) {
        char reason[120];
        snprintf(reason, sizeof reason, "tandem-relay: client too slow, over %zu bytes queued",
                 ws->r->max_send_queue);
        TD_LOG(TD_LOG_WARN, "relay.ws", "kernel %s: %s", ws->kernel_id, reason);
        td_ws_close(ws, 1008, reason);
        return -1;
    }
    if (was_empty && !ws->dirty_prev) {
        ws->dirty_next = ws->r->ws_dirty;
        if (ws->dirty_next)
            ws->dirty_next->dirty_prev = &ws->dirty_next;
        ws->dirty_prev = &ws->r->ws_dirty;
        ws->r->ws_dirty = ws;
    }
    return 0;
}

static void s_dirty_unlink(td_pss_t *ws)
{
    if (!ws->dirty_prev)
        return;
    *ws->dirty_prev = ws->dirty_next;
    if (ws->dirty_next)
        ws->dirty_next->dirty_prev = ws->dirty_prev;
    ws->dirty_next = NULL;
    ws->dirty_prev = NULL;
}

/* The socket takes no more frames: its queue is dropped and its kernel session let go. */
static void s_ws_stop(td_pss_t *ws)
{
    ws->closing = 1;
    td_oq_clear(&ws->q);
    s_dirty_unlink(ws);
    td_client_t *c = ws->client;
    ws->client = NULL;
    td_client_detach(c, ws);
}

void td_ws_close(td_pss_t *ws, int code, const char *reason)
{
    if (ws->closing)
        return;
    s_ws_stop(ws);
    ws->close_code = code;
    snprintf(ws->close_reason, sizeof ws->close_reason, "%s", reason);
    /* A room peer stays in its room (receiving nothing) until the socket is gone: rooms walk
     * their peer lists while sending, and a send may close a slow peer. */
    TD_LOG(TD_LOG_INFO, "relay.ws", "%s: closing websocket (%d %s)", ws->kernel_id, code, reason);
    /* The close starts from LWS_CALLBACK_TIMER: lws counts -1 from WRITEABLE as a failed write
     * and would drop the close frame, while -1 from the timer closes politely with our reason. A
     * peer that never reads cannot take the frame: the timeout kills it after 10 s. */
    lws_set_timer_usecs(ws->wsi, 1);
    lws_set_timeout(ws->wsi, PENDING_TIMEOUT_USER_OK, 10);
}

static int s_ws_dispatch(td_pss_t *pss, const uint8_t *data, size_t len, int binary,
                         int *code, char *reason, size_t cap);

void td_ws_drop_peer(td_pss_t *ws)
{
    td_peer_leave(&ws->peer);
}

void td_ws_resume_rx(td_pss_t *ws)
{
    while (ws->held && !ws->closing && ws->client) {
        s_held_t *h = ws->held;
        ws->held = h->next;
        int code = 0;
        char reason[124];
        if (s_ws_dispatch(ws, h->data, h->len, h->binary, &code, reason, sizeof reason) != 0)
            td_ws_close(ws, code, reason);
        free(h);
    }
    s_held_clear(ws);
}

static int s_ws_fail(struct lws *wsi, td_pss_t *pss, int code, const char *reason)
{
    TD_LOG(TD_LOG_WARN, "relay.ws", "%s: closing websocket (%d %s)", pss->kernel_id, code,
           reason);
    s_ws_stop(pss); /* lws sends the close frame now: nothing of ours may follow it */
    td_peer_leave(&pss->peer);
    lws_close_reason(wsi, (enum lws_close_status)code, (unsigned char *)reason, strlen(reason));
    return -1;
}

static int s_ws_established(td_relay_t *r, struct lws *wsi, td_pss_t *pss, int v1)
{
    memset(pss, 0, sizeof *pss);
    pss->wsi = wsi;
    pss->r = r;
    pss->is_ws = 1;
    pss->v1 = v1;
    char path[1024], sid[TD_ROUTE_ARG_MAX];
    td_route_t route;
    s_header(wsi, WSI_TOKEN_GET_URI, path, sizeof path);
    td_route_match(path, &route);
    snprintf(pss->kernel_id, sizeof pss->kernel_id, "%s", route.arg);
    if (route.id == TD_ROUTE_COMMENT_EVENTS) {
        char q[TD_ROUTE_PATH_MAX], norm[TD_ROUTE_PATH_MAX];
        if (s_query(wsi, "path", q, sizeof q) != 0 || td_contents_path_norm(q, norm, sizeof norm) != 0 ||
            td_store_file_id(r->store, norm, pss->events_fid, sizeof pss->events_fid) != 0)
            return s_ws_fail(wsi, pss, 1011, "no such file");
        snprintf(pss->kernel_id, sizeof pss->kernel_id, "comments:%.200s", norm);
        int limited;
        if (!(pss->user = s_authenticate(r, wsi, &limited, &pss->by_cookie)))
            return s_ws_fail(wsi, pss, 1008, "unauthenticated");
        pss->events_next = s_event_subs;
        s_event_subs = pss;
        return 0;
    }
    if (route.id == TD_ROUTE_COLLAB_ROOM) {
        int code = 1011;
        char reason[124];
        if (s_query(wsi, "sessionId", sid, sizeof sid) != 0)
            sid[0] = '\0';
        int limited;
        const td_user_t *user = s_authenticate(r, wsi, &limited, &pss->by_cookie);
        pss->peer = user ? td_room_join(r, route.arg, sid, user, pss, &code, reason, sizeof reason)
                         : NULL;
        return pss->peer ? 0 : s_ws_fail(wsi, pss, code, user ? reason : "unauthenticated");
    }
    td_kernel_t *k = td_kernel_find(r, route.arg);
    if (!k)
        return s_ws_fail(wsi, pss, 1011, "kernel does not exist");
    if (s_query(wsi, "session_id", sid, sizeof sid) != 0)
        sid[0] = '\0';
    for (char *p = sid; *p; p++)
        if (!isgraph((unsigned char)*p))
            return s_ws_fail(wsi, pss, 1008, "invalid session_id");
    pss->client = td_kernel_attach(k, sid, pss);
    if (!pss->client)
        return s_ws_fail(wsi, pss, 1011, "cannot open kernel sockets");
    pss->held_tail = &pss->held;
    TD_LOG(TD_LOG_INFO, "relay.ws", "kernel %s: websocket open (%s%s)", pss->kernel_id,
           v1 ? "v1" : "legacy", sid[0] ? "" : ", anonymous");
    return 0;
}

static int s_ws_receive(td_relay_t *r, struct lws *wsi, td_pss_t *pss, const uint8_t *in, size_t len)
{
    if (pss->closing || pss->events_fid[0])
        return 0; /* a comment stream only sends */
    if (lws_is_first_fragment(wsi)) {
        pss->rx_len = 0;
        pss->rx_binary = lws_frame_is_binary(wsi);
    }
    if (pss->rx_len + len > r->max_ws_message)
        return s_ws_fail(wsi, pss, 1009, "tandem-relay: message too big");
    if (pss->rx_len + len > pss->rx_cap) {
        size_t cap = pss->rx_cap ? pss->rx_cap : 4096;
        while (cap < pss->rx_len + len)
            cap *= 2;
        uint8_t *g = realloc(pss->rx, cap);
        if (!g)
            return s_ws_fail(wsi, pss, 1011, "out of memory");
        pss->rx = g;
        pss->rx_cap = cap;
    }
    if (len)
        memcpy(pss->rx + pss->rx_len, in, len);
    pss->rx_len += len;
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
        return 0;
    int code = 0;
    char reason[124];
    int rc = 0;
    if (pss->peer) {
        rc = td_peer_receive(pss->peer, pss->rx, pss->rx_len, pss->rx_binary, &code, reason,
                             sizeof reason);
    } else if (pss->client && !td_client_live(pss->client)) {
        /* The kernel is not live yet: hold the message, bounded, and send it when it is. */
        if (pss->held_n >= S_HELD_MAX_MSGS || pss->held_bytes + pss->rx_len > S_HELD_MAX_BYTES)
            return s_ws_fail(wsi, pss, 1008, "tandem-relay: too many messages before the kernel was ready");
        s_held_t *h = malloc(sizeof *h + pss->rx_len);
        if (!h)
            return s_ws_fail(wsi, pss, 1011, "out of memory");
        h->next = NULL;
        h->binary = pss->rx_binary;
        h->len = pss->rx_len;
        memcpy(h->data, pss->rx, pss->rx_len);
        *pss->held_tail = h;
        pss->held_tail = &h->next;
        pss->held_n++;
        pss->held_bytes += h->len;
    } else {
        rc = s_ws_dispatch(pss, pss->rx, pss->rx_len, pss->rx_binary, &code, reason, sizeof reason);
    }
    pss->rx_len = 0;
    if (pss->rx_cap > (1u << 20)) { /* do not keep a huge buffer around */
        free(pss->rx);
        pss->rx = NULL;
        pss->rx_cap = 0;
    }
    return rc ? s_ws_fail(wsi, pss, code, reason) : 0;
}

/* Decodes one complete client message and sends it to the kernel. Returns 0, or -1 with the close
 * code and reason the socket must be closed with. */
static int s_ws_dispatch(td_pss_t *pss, const uint8_t *data, size_t len, int binary, int *code,
                         char *reason, size_t cap)
{
    td_kws_msg_t m;
    td_error_t err = {0};
    ssize_t rc;
    if (pss->v1) {
        if (!binary) {
            *code = 1003;
            snprintf(reason, cap, "tandem-relay: v1 protocol needs binary frames");
            return -1;
        }
        rc = td_kws_v1_decode(data, len, &m, &err);
    } else {
        rc = td_kws_legacy_decode(data, len, binary, &m, &err);
    }
    if (rc < 0) {
        *code = 1002;
        snprintf(reason, cap, "tandem-relay: malformed message (%.80s)", err.text);
        return -1;
    }
    int src = pss->client ? td_client_send(pss->client, &m) : 0;
    td_kws_msg_fini(&m);
    if (src == TD_EPROTO) {
        *code = 1002;
        snprintf(reason, cap, "tandem-relay: malformed message (bad JSON parts)");
        return -1;
    }
    return 0;
}

/* Writes a server frame header (FIN, text or binary, unmasked, 7/16/64-bit length) at p; returns
 * its length (at most 10). */
static size_t s_ws_header(uint8_t *p, int binary, size_t len)
{
    p[0] = binary ? 0x82 : 0x81;
    if (len < 126) {
        p[1] = (uint8_t)len;
        return 2;
    }
    if (len <= 0xffff) {
        p[1] = 126;
        p[2] = (uint8_t)(len >> 8);
        p[3] = (uint8_t)len;
        return 4;
    }
    p[1] = 127;
    for (int i = 0; i < 8; i++)
        p[2 + i] = (uint8_t)(len >> (56 - 8 * i));
    return 10;
}

#define S_BATCH_BYTES (256u << 10) /* frames framed together into one send */

static int s_ws_writeable(struct lws *wsi, td_pss_t *pss)
{
    if (pss->closing)
        return 0; /* closing from the timer callback (td_ws_close) */
    /* Queued frames go out in one send: lws would make a send (and a poll for choke) per frame,
     * and in a flood that per-message system call was most of the relay's CPU. Server frames are
     * unmasked, so they are framed here and the batch is written raw; lws buffers any partial
     * write itself and flushes it before anything else, so frames never interleave. A single
     * frame is written in place, without a copy. */
    size_t n = 0, bytes = 0;
    for (td_oqnode_t *q = pss->q.head; q && (n == 0 || bytes + q->buf->len <= S_BATCH_BYTES);
         q = q->next) {
        bytes += q->buf->len + 10;
        n++;
    }
    if (n == 0)
        return 0;
    if (n == 1) {
        td_obuf_t *b = td_oq_pop(&pss->q);
        size_t len = b->len;
        int w = lws_write(wsi, b->mem + LWS_PRE, len, b->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
        td_obuf_unref(&b);
        if (w < (int)len)
            return -1;
    } else {
        uint8_t *batch = malloc(LWS_PRE + bytes), *p = batch ? batch + LWS_PRE : NULL;
        if (!batch)
            return -1;
        for (size_t i = 0; i < n; i++) {
            td_obuf_t *b = td_oq_pop(&pss->q);
            p += s_ws_header(p, b->binary, b->len);
            memcpy(p, b->mem + LWS_PRE, b->len);
            p += b->len;
            td_obuf_unref(&b);
        }
        size_t len = (size_t)(p - (batch + LWS_PRE));
        int w = lws_write(wsi, batch + LWS_PRE, len, LWS_WRITE_RAW);
        free(batch);
        if (w < (int)len)
            return -1;
    }
    if (pss->q.head)
        lws_callback_on_writable(wsi);
    return 0;
}

/* Before the loop polls: writes every queue filled this turn. Outside SERVER_WRITEABLE lws_write
 * is safe here because nothing lws holds is pending (a partial write it keeps goes out before
 * anything else, including its own pings and pongs), so whole frames cannot interleave. */
static void s_on_flush(uv_prepare_t *h)
{
    td_relay_t *r = h->data;
    td_pss_t *ws;
    while ((ws = r->ws_dirty) != NULL) {
        s_dirty_unlink(ws);
        if (ws->closing || !ws->q.head)
            continue;
        if (lws_partial_buffered(ws->wsi))
            lws_callback_on_writable(ws->wsi);
        else if (s_ws_writeable(ws->wsi, ws) != 0)
            td_ws_close(ws, 1011, "tandem-relay: write failed");
    }
}

static void s_ws_closed(td_pss_t *pss)
{
    s_dirty_unlink(pss);
    td_client_t *c = pss->client;
    pss->client = NULL;
    td_client_detach(c, pss);
    td_peer_leave(&pss->peer);
    if (pss->events_fid[0])
        s_events_unsubscribe(pss);
    td_oq_clear(&pss->q);
    s_held_clear(pss);
    free(pss->rx);
    pss->rx = NULL;
    TD_LOG(TD_LOG_INFO, "relay.ws", "%s: websocket closed", pss->kernel_id);
}

/* ---- the callback ---------------------------------------------------------------------------- */

static int s_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                      size_t len)
{
    td_pss_t *pss = user;
    td_relay_t *r = s_relay(wsi);
    switch (reason) {
    case LWS_CALLBACK_HTTP: {
        char *uri;
        int ulen;
        s_http_reset(pss);
        pss->wsi = wsi;
        pss->r = r;
        pss->is_ws = 0;
        pss->method = lws_http_get_uri_and_method(wsi, &uri, &ulen);
        snprintf(pss->path, sizeof pss->path, "%s", in ? (const char *)in : "/");
        /* A decoded NUL or an over-long path would silently name another file: route nowhere. */
        if (in && (strlen(in) != len || len >= sizeof pss->path))
            snprintf(pss->path, sizeof pss->path, "/%%invalid");
        char cl[32];
        s_header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, cl, sizeof cl);
        long long n = cl[0] ? atoll(cl) : -1;
        /* lws calls BODY_COMPLETION for POST with a Content-Length (even 0) and for PUT/PATCH
         * with a positive one; everything else is answered now. */
        pss->expect_body = (pss->method == LWSHUMETH_POST && n >= 0) ||
                           ((pss->method == LWSHUMETH_PUT || pss->method == LWSHUMETH_PATCH) && n > 0);
        if (!pss->expect_body)
            s_handle(pss);
        else {
            pss->user = s_authenticate(r, wsi, &pss->auth_limited, &pss->by_cookie);
            pss->auth_done = 1;
            pss->body_discard = !pss->user && strcmp(pss->path, "/login") != 0;
        } /* s_handle answers 403; buffer nothing for a stranger */
        return 0;
    }
    case LWS_CALLBACK_HTTP_BODY:
        if (pss->body_over || pss->body_discard || !len)
            return 0;
        if (pss->body_len + len >
            (strncmp(pss->path, "/api/contents", 13) == 0 ? S_MAX_CONTENTS_BODY
             : strcmp(pss->path, "/login") == 0           ? S_MAX_LOGIN_BODY : S_MAX_BODY)) {
            pss->body_over = 1;
            return 0;
        }
        if (pss->body_len + len + 1 > pss->body_cap) {
            /* Grow geometrically: an exact-size realloc per chunk copies quadratically when
             * realloc cannot extend in place (large uploads, sanitizer allocators). */
            size_t cap = pss->body_cap ? pss->body_cap : 4096;
            while (cap < pss->body_len + len + 1)
                cap *= 2;
            char *g = realloc(pss->body, cap);
            if (!g)
                return -1;
            pss->body = g;
            pss->body_cap = cap;
        }
        memcpy(pss->body + pss->body_len, in, len);
        pss->body_len += len;
        return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        s_handle(pss);
        return 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return s_http_write(pss);
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    case LWS_CALLBACK_CLOSED_HTTP:
        if (pss && !pss->is_ws)
            s_http_reset(pss);
        return 0;
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return s_confirm_upgrade(r, wsi);
    case LWS_CALLBACK_ESTABLISHED:
        {
        /* lws copies the protocol table per vhost: compare names, not pointers. */
        const struct lws_protocols *pr = lws_get_protocol(wsi);
        return s_ws_established(r, wsi, pss,
                                pr && pr->name && strcmp(pr->name, TD_KWS_V1_PROTOCOL) == 0);
    }
    case LWS_CALLBACK_RECEIVE:
        return s_ws_receive(r, wsi, pss, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return s_ws_writeable(wsi, pss);
    case LWS_CALLBACK_TIMER:
        if (pss->is_ws && pss->closing) {
            lws_close_reason(wsi, (enum lws_close_status)pss->close_code,
                             (unsigned char *)pss->close_reason, strlen(pss->close_reason));
            return -1;
        }
        return 0;
    case LWS_CALLBACK_CLOSED:
        s_ws_closed(pss);
        return 0;
    default:
        return 0;
    }
}

/* lws sends at most tx_packet_size bytes per call (rx_buffer_size when 0): with 64 KiB a 20 MB
 * SyncStep2 took 320 poll round trips. The kernel takes what its socket buffer holds. */
#define S_TX_CHUNK (4u << 20)

static const struct lws_protocols s_protocols[] = {
    {"tandem-http", s_callback, sizeof(td_pss_t), 65536, 0, NULL, S_TX_CHUNK},
    {TD_KWS_V1_PROTOCOL, s_callback, sizeof(td_pss_t), 65536, 0, NULL, S_TX_CHUNK},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static const lws_retry_bo_t s_retry = {
    .secs_since_valid_ping = 30,   /* jupyter_server's ws_ping_interval */
    .secs_since_valid_hangup = 90, /* and its timeout, 3 x interval */
};

static void s_lws_log(int level, const char *line)
{
    size_t n = strlen(line);
    while (n && line[n - 1] == '\n')
        n--;
    TD_LOG(level == LLL_ERR ? TD_LOG_ERROR : TD_LOG_WARN, "relay.lws", "%.*s", (int)n, line);
}

int td_http_start(td_relay_t *r, const char *ip, int port, int *bound_port)
{
    lws_set_log_level(LLL_ERR | (td_log_level <= TD_LOG_DEBUG ? LLL_WARN : 0), s_lws_log);
    r->loopback_only = strncmp(ip, "127.", 4) == 0 || strcmp(ip, "::1") == 0 ||
                       strcmp(ip, "localhost") == 0;
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    void *loops[1] = {r->loop};
    info.port = port;
    info.iface = ip;
    info.protocols = s_protocols;
    info.options = LWS_SERVER_OPTION_LIBUV;
    info.foreign_loops = loops;
    info.pcontext = &r->ctx;
    info.user = r;
    info.retry_and_idle_policy = &s_retry;
    info.max_http_header_data = 16384;
    info.timeout_secs = 30;
    r->ctx = lws_create_context(&info);
    if (!r->ctx)
        return -1;
    r->ws_flush.data = r;
    if (uv_prepare_init(r->loop, &r->ws_flush) != 0 ||
        uv_prepare_start(&r->ws_flush, s_on_flush) != 0)
        return -1;
    uv_unref((uv_handle_t *)&r->ws_flush);
    struct lws_vhost *vh = lws_get_vhost_by_name(r->ctx, "default");
    *bound_port = vh ? lws_get_vhost_listen_port(vh) : port;
    return 0;
}

void td_http_stop(td_relay_t *r)
{
    uv_close((uv_handle_t *)&r->ws_flush, NULL);
}
