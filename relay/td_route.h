/* td_route.h: the relay's URL table. Maps a request path (already percent-decoded by the HTTP
 * layer, query removed) to a route and its captured segments, and reads query arguments from the
 * list of "key=value" fragments the HTTP layer hands over. Pure: no I/O. */
#ifndef TD_ROUTE_H
#define TD_ROUTE_H

#include <stddef.h>

typedef enum {
    TD_ROUTE_NONE = 0,        /* no such endpoint: 404 */
    TD_ROUTE_PROBE,           /* "/", "/tree", "/lab": answered 404 like a token-only server */
    TD_ROUTE_API,             /* /api */
    TD_ROUTE_LOGIN,           /* /login: the cookie login form (GET) and its submission (POST) */
    TD_ROUTE_LOGOUT,          /* /logout */
    TD_ROUTE_STATUS,          /* /api/status */
    TD_ROUTE_ME,              /* /api/me */
    TD_ROUTE_KSPECS,          /* /api/kernelspecs */
    TD_ROUTE_KSPEC,           /* /api/kernelspecs/<name> */
    TD_ROUTE_KSPEC_FILE,      /* /kernelspecs/<name>/<file> */
    TD_ROUTE_KERNELS,         /* /api/kernels */
    TD_ROUTE_KERNEL,          /* /api/kernels/<id> */
    TD_ROUTE_KERNEL_INTERRUPT,/* /api/kernels/<id>/interrupt */
    TD_ROUTE_KERNEL_RESTART,  /* /api/kernels/<id>/restart */
    TD_ROUTE_KERNEL_CHANNELS, /* /api/kernels/<id>/channels (websocket) */
    TD_ROUTE_KERNEL_EXECUTE,  /* /api/kernels/<id>/execute (server-side cell execution) */
    TD_ROUTE_COLLAB_SESSION,  /* /api/collaboration/session/<path...>: path in cpath */
    TD_ROUTE_COLLAB_ROOM,     /* /api/collaboration/room/<room id> (websocket) */
    TD_ROUTE_PRESENCE,        /* /api/collaboration/presence */
    TD_ROUTE_COMMENTS,        /* /api/comments[/...]: the rest (e.g. "/T/replies") in cpath */
    TD_ROUTE_COMMENT_EVENTS,  /* /api/comments/events (websocket) */
    TD_ROUTE_NOTIFICATIONS,   /* /api/me/notifications[/read]: the rest in cpath */
    TD_ROUTE_ADMIN,           /* /api/admin/<what>[/...]: grants, audit, users; rest in cpath */
    TD_ROUTE_SESSIONS,        /* /api/sessions */
    TD_ROUTE_SESSION,         /* /api/sessions/<id> */
    TD_ROUTE_CONTENTS,        /* /api/contents[/<path...>]: path in cpath */
    TD_ROUTE_CONTENTS_CPS,    /* /api/contents[/<path...>]/checkpoints */
    TD_ROUTE_CONTENTS_CP,     /* /api/contents[/<path...>]/checkpoints/<id>: id in arg */
    TD_ROUTE_CONTENTS_TRUST,  /* /api/contents[/<path...>]/trust */
} td_route_id_t;

#define TD_ROUTE_ARG_MAX 256
#define TD_ROUTE_PATH_MAX 1024

typedef struct td_route {
    td_route_id_t id;
    char arg[TD_ROUTE_ARG_MAX];  /* first captured segment (kernel id, spec name...), or "" */
    char arg2[TD_ROUTE_ARG_MAX]; /* second captured segment (file name), or "" */
    char cpath[TD_ROUTE_PATH_MAX]; /* contents routes: the API path, slashes allowed, unchecked */
} td_route_t;

/* Matches path (no query, at most one trailing slash ignored) into *out. Captured segments must be
 * non-empty, shorter than TD_ROUTE_ARG_MAX, contain no '/', and not be "." or "..". The contents
 * routes are the exception: everything after "/api/contents/" (minus a checkpoints or trust suffix)
 * goes to cpath as is, and td_contents validates it. Returns 0 with out->id set (TD_ROUTE_NONE when
 * nothing matched). */
int td_route_match(const char *path, td_route_t *out);

/* Name of a route for logs (static). */
const char *td_route_name(td_route_id_t id);

/* Finds key among n query fragments "k=v" (already decoded) and copies its value into out (cap
 * bytes, NUL-terminated). Fragments without '=' (the cache-buster "?1700000000000") never match a
 * key. Returns 0, TD_ENOENT when absent, TD_E2BIG when the value does not fit. */
int td_route_query(const char *const *frags, size_t n, const char *key, char *out, size_t cap);

/* Finds key in an application/x-www-form-urlencoded body (len bytes, not NUL-terminated) and
 * copies its decoded value ('+' is a space, %XX a byte) into out (cap bytes, NUL-terminated).
 * Returns 0, TD_ENOENT when absent, TD_E2BIG when it does not fit, TD_EPROTO on a bad escape or a
 * decoded NUL. */
int td_route_form(const char *body, size_t len, const char *key, char *out, size_t cap);

/* Finds cookie name in a Cookie header value ("a=1; b=2") and copies its value (surrounding
 * double quotes removed) into out (cap bytes). Returns 0, TD_ENOENT or TD_E2BIG. */
int td_route_cookie(const char *header, const char *name, char *out, size_t cap);

/* 1 when s looks like a kernel or session id (a UUID: hex digits and dashes, 1..64 chars). */
int td_route_is_id(const char *s);

#endif
