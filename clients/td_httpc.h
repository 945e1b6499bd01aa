/* td_httpc.h: a small blocking HTTP/1.1 client for the command-line programs in clients/. One
 * request per connection (Connection: close), http:// only, bounded in time and in size. */
#ifndef TD_HTTPC_H
#define TD_HTTPC_H

#include <stddef.h>

#include "td/td_error.h"

/* The largest response body td_httpc_request accepts unless the request sets max_body. */
#define TD_HTTPC_MAX_BODY ((size_t)64 << 20)

/* A parsed base URL: http://host[:port][/base/]. */
typedef struct td_httpc_url {
    char host[256];      /* without brackets for IPv6 literals */
    char port[8];        /* decimal, "80" when the URL has none */
    char authority[272]; /* host[:port] as written, for the Host header */
    char base[1024];     /* the path prefix, always starting and ending with '/' */
} td_httpc_url_t;

/* One request. target is appended to the URL's base (no leading '/'); body may be NULL. */
typedef struct td_httpc_req {
    const char *method;
    const char *target;
    const char *token; /* sent as "Authorization: token T" when non-empty; borrowed */
    const char *body;  /* sent as application/json; borrowed */
    size_t body_len;
    int timeout_ms;  /* for the whole exchange, from connect to the last byte */
    size_t max_body; /* 0 means TD_HTTPC_MAX_BODY */
} td_httpc_req_t;

/* The answer. body is NUL-terminated (body[len] == 0) and owned by the caller: td_httpc_resp_fini.
 */
typedef struct td_httpc_resp {
    int status;
    char *body;
    size_t len;
} td_httpc_resp_t;

/* Parses url into out; 0, or TD_EINVAL with the reason in err (https, userinfo, a query, ...). */
int td_httpc_url_parse(const char *url, td_httpc_url_t *out, td_error_t *err);

/* Performs one request; 0 with *resp filled (any status), or a negative TD_E* code with the reason
 * in err: TD_EINVAL (bad request fields), TD_ENOENT (cannot resolve or connect), TD_ESTATE (timed
 * out), TD_EPROTO (malformed or truncated response), TD_E2BIG (body over the bound), TD_ENOMEM. */
int td_httpc_request(const td_httpc_url_t *url, const td_httpc_req_t *req, td_httpc_resp_t *resp,
                     td_error_t *err);

/* Frees the body; NULL-safe, and safe to call twice. */
void td_httpc_resp_fini(td_httpc_resp_t *resp);

/* Appends s percent-encoded (everything but RFC 3986 unreserved characters, and '/' when
 * keep_slash) to out, which holds cap bytes; returns the new length, or -1 when it does not fit. */
int td_httpc_escape(char *out, size_t cap, size_t len, const char *s, int keep_slash);

#endif
