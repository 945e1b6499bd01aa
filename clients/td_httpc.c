/* td_httpc.c: a blocking HTTP/1.1 client over POSIX sockets, just enough for a REST client. Each
 * request opens one connection, sends "Connection: close", and reads one response: the head line
 * by line through a 16 KiB buffer, then the body by Content-Length, by chunks, or until the peer
 * closes. Everything is bounded: a head line at 8 KiB, 100 header fields, the body at max_body, and
 * the whole exchange (connect included) at timeout_ms, measured on the monotonic clock. The peer
 * is not trusted: malformed framing is an error, never an assertion. Name resolution goes through
 * getaddrinfo, which has no timeout of its own; numeric hosts never block there. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "td_httpc.h"

#define S_LINE_MAX 8192
#define S_FIELDS_MAX 100

/* One connection and its read buffer; buf[pos, len) is received but not yet consumed. */
typedef struct s_conn {
    int fd;
    int64_t deadline_ms;
    const td_httpc_url_t *url;
    size_t pos, len;
    char buf[16384];
} s_conn_t;

/* A growing body, never beyond max bytes (plus the terminating NUL). */
typedef struct s_body {
    char *data;
    size_t len, cap, max;
} s_body_t;

static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- URL ------------------------------------------------------------------------------------- */

int td_httpc_url_parse(const char *url, td_httpc_url_t *out, td_error_t *err)
{
    memset(out, 0, sizeof *out);
    if (!url || !*url)
        return td_error_set(err, TD_EINVAL, 0, "no relay URL");
    if (strncasecmp(url, "https://", 8) == 0)
        return td_error_set(err, TD_EINVAL, 0,
                            "https:// URLs are not supported; use http:// (for example through an "
                            "SSH tunnel or a local TLS-terminating proxy)");
    if (strncasecmp(url, "http://", 7) != 0)
        return td_error_set(err, TD_EINVAL, 0, "the URL must start with http://");
    const char *a = url + 7, *end = a + strcspn(a, "/?#");
    size_t alen = (size_t)(end - a);
    if (alen == 0 || alen >= sizeof out->authority)
        return td_error_set(err, TD_EINVAL, 7, "the URL has no host, or one that is too long");
    if (memchr(a, '@', alen))
        return td_error_set(err, TD_EINVAL, 7, "user:password@ in the URL is not supported");
    for (size_t i = 0; i < alen; i++) /* it is the Host header; inet_aton stops at a space */
        if ((unsigned char)a[i] <= ' ' || a[i] == 0x7f)
            return td_error_set(err, TD_EINVAL, 7 + i, "the URL's host has spaces or controls");
    memcpy(out->authority, a, alen);

    /* host, or [v6], then an optional :port. */
    const char *h = a, *hend, *colon;
    if (*a == '[') {
        const char *rb = memchr(a, ']', alen);
        if (!rb)
            return td_error_set(err, TD_EINVAL, 7, "unterminated [IPv6] host in the URL");
        h = a + 1;
        hend = rb;
        colon = rb + 1 < end ? rb + 1 : NULL;
        if (colon && *colon != ':')
            return td_error_set(err, TD_EINVAL, 7, "junk after the [IPv6] host in the URL");
    } else {
        colon = memchr(a, ':', alen);
        hend = colon ? colon : end;
    }
    size_t hlen = (size_t)(hend - h);
    if (hlen == 0 || hlen >= sizeof out->host)
        return td_error_set(err, TD_EINVAL, 7, "the URL has no host");
    memcpy(out->host, h, hlen);
    if (colon) {
        const char *p = colon + 1;
        size_t plen = (size_t)(end - p);
        long port = 0;
        for (size_t i = 0; i < plen && port <= 65535; i++) {
            if (p[i] < '0' || p[i] > '9')
                return td_error_set(err, TD_EINVAL, 7, "the URL's port is not a number");
            port = port * 10 + (p[i] - '0');
        }
        if (plen == 0 || port < 1 || port > 65535)
            return td_error_set(err, TD_EINVAL, 7, "the URL's port is out of range");
        snprintf(out->port, sizeof out->port, "%ld", port);
    } else {
        snprintf(out->port, sizeof out->port, "80");
    }

    /* The base path always ends with '/', so targets are appended to it. */
    if (*end == '?' || *end == '#')
        return td_error_set(
            err, TD_EINVAL, (size_t)(end - url),
            "the URL must not have a query or fragment (pass the token separately)");
    const char *path = *end ? end : "/";
    size_t plen = strlen(path);
    if (strcspn(path, "?# \t\r\n") != plen)
        return td_error_set(err, TD_EINVAL, (size_t)(end - url),
                            "the URL's path has a query, a fragment or whitespace");
    for (size_t i = 0; i < plen; i++) /* it goes into the request line verbatim */
        if ((unsigned char)path[i] < ' ' || path[i] == 0x7f)
            return td_error_set(err, TD_EINVAL, (size_t)(end - url) + i,
                                "the URL's path has control characters");
    int n = snprintf(out->base, sizeof out->base, "%s%s", path, path[plen - 1] == '/' ? "" : "/");
    if (n < 0 || (size_t)n >= sizeof out->base)
        return td_error_set(err, TD_EINVAL, 0, "the URL's path is too long");
    return 0;
}

int td_httpc_escape(char *out, size_t cap, size_t len, const char *s, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    if (len >= cap)
        return -1; /* no room even for the terminating NUL */
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~' ||
                    (keep_slash && *p == '/');
        if (len + (plain ? 1 : 3) >= cap)
            return -1;
        if (plain) {
            out[len++] = (char)*p;
        } else {
            out[len++] = '%';
            out[len++] = hex[*p >> 4];
            out[len++] = hex[*p & 15];
        }
    }
    out[len] = 0;
    return (int)len;
}

/* ---- connection ------------------------------------------------------------------------------ */

/* Waits until fd is ready for events or the deadline passes; 0, or TD_ESTATE on timeout. */
static int s_wait(s_conn_t *c, short events, td_error_t *err)
{
    for (;;) {
        int64_t left = c->deadline_ms - s_now_ms();
        if (left <= 0)
            return td_error_set(err, TD_ESTATE, 0, "timed out talking to %s", c->url->authority);
        struct pollfd pfd = {.fd = c->fd, .events = events};
        int rc = poll(&pfd, 1, left > INT32_MAX ? INT32_MAX : (int)left);
        if (rc > 0)
            return 0;
        if (rc < 0 && errno != EINTR)
            return td_error_set(err, TD_ENOENT, 0, "poll: %s", strerror(errno));
    }
}

/* Connects to the first address that answers, each attempt within the overall deadline. */
static int s_connect(s_conn_t *c, td_error_t *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int gai = getaddrinfo(c->url->host, c->url->port, &hints, &res);
    if (gai != 0)
        return td_error_set(err, TD_ENOENT, 0, "cannot resolve %s: %s", c->url->host,
                            gai_strerror(gai));
    int last = ECONNREFUSED, rc = TD_ENOENT;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        c->fd =
            socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (c->fd < 0) {
            last = errno;
            continue;
        }
        if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            rc = 0;
            break;
        }
        if (errno == EINPROGRESS) {
            td_error_t werr = {0};
            if (s_wait(c, POLLOUT, &werr) != 0) {
                close(c->fd);
                c->fd = -1;
                freeaddrinfo(res);
                return td_error_set(err, TD_ESTATE, 0, "timed out connecting to %s",
                                    c->url->authority);
            }
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
            if (soerr == 0) {
                rc = 0;
                break;
            }
            last = soerr;
        } else {
            last = errno;
        }
        close(c->fd);
        c->fd = -1;
    }
    freeaddrinfo(res);
    if (rc != 0)
        return td_error_set(err, TD_ENOENT, 0, "cannot connect to %s: %s", c->url->authority,
                            strerror(last));
    return 0;
}

static int s_send_all(s_conn_t *c, const char *p, size_t n, td_error_t *err)
{
    while (n > 0) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            int rc = s_wait(c, POLLOUT, err);
            if (rc != 0)
                return rc;
        } else {
            return td_error_set(err, TD_EPROTO, 0, "sending to %s: %s", c->url->authority,
                                strerror(errno));
        }
    }
    return 0;
}

/* Reads more into the buffer (compacting it first); bytes read, 0 at EOF, or a TD_E* code. */
static ssize_t s_fill(s_conn_t *c, td_error_t *err)
{
    if (c->pos > 0) {
        memmove(c->buf, c->buf + c->pos, c->len - c->pos);
        c->len -= c->pos;
        c->pos = 0;
    }
    if (c->len == sizeof c->buf)
        return td_error_set(err, TD_EPROTO, 0, "internal buffer full");
    for (;;) {
        ssize_t r = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
        if (r >= 0) {
            c->len += (size_t)r;
            return r;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return td_error_set(err, TD_EPROTO, 0, "reading from %s: %s", c->url->authority,
                                strerror(errno));
        int rc = s_wait(c, POLLIN, err);
        if (rc != 0)
            return rc;
    }
}

/* Reads one line (CRLF or a bare LF) into out without its terminator; 0, or a TD_E* code. */
static int s_line(s_conn_t *c, char *out, size_t cap, td_error_t *err)
{
    for (;;) {
        char *nl = memchr(c->buf + c->pos, '\n', c->len - c->pos);
        if (nl) {
            size_t n = (size_t)(nl - (c->buf + c->pos));
            if (n > 0 && c->buf[c->pos + n - 1] == '\r')
                n--;
            if (n >= cap)
                return td_error_set(err, TD_EPROTO, 0, "response line too long");
            memcpy(out, c->buf + c->pos, n);
            out[n] = 0;
            c->pos = (size_t)(nl - c->buf) + 1;
            return 0;
        }
        if (c->len - c->pos >= cap)
            return td_error_set(err, TD_EPROTO, 0, "response line too long");
        ssize_t r = s_fill(c, err);
        if (r < 0)
            return (int)r;
        if (r == 0)
            return td_error_set(err, TD_EPROTO, 0,
                                "%s closed the connection before the response was complete",
                                c->url->authority);
    }
}

static int s_body_reserve(s_body_t *b, size_t more, td_error_t *err)
{
    if (more > b->max || b->len > b->max - more)
        return td_error_set(err, TD_E2BIG, b->len, "the response is larger than %zu bytes", b->max);
    size_t need = b->len + more + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 16384;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return td_error_set(err, TD_ENOMEM, 0, "out of memory");
    b->data = p;
    b->cap = cap;
    return 0;
}

/* Moves n body bytes (or, with until_eof, everything up to EOF) from the connection into b. */
static int s_take(s_conn_t *c, s_body_t *b, size_t n, int until_eof, td_error_t *err)
{
    while (until_eof || n > 0) {
        if (c->pos == c->len) {
            ssize_t r = s_fill(c, err);
            if (r < 0)
                return (int)r;
            if (r == 0) {
                if (until_eof)
                    return 0;
                return td_error_set(err, TD_EPROTO, b->len,
                                    "%s closed the connection in the middle of the body",
                                    c->url->authority);
            }
        }
        size_t avail = c->len - c->pos, k = until_eof || avail < n ? avail : n;
        int rc = s_body_reserve(b, k, err);
        if (rc != 0)
            return rc;
        memcpy(b->data + b->len, c->buf + c->pos, k);
        b->len += k;
        c->pos += k;
        if (!until_eof)
            n -= k;
    }
    return 0;
}

/* Parses a decimal (base 10) or hexadecimal (base 16) size with overflow checks; -1 if invalid. */
static int s_size(const char *s, int base, size_t *out)
{
    size_t v = 0, digits = 0;
    while (*s == ' ' || *s == '\t')
        s++;
    for (; *s; s++, digits++) {
        int d;
        if (*s >= '0' && *s <= '9')
            d = *s - '0';
        else if (base == 16 && *s >= 'a' && *s <= 'f')
            d = *s - 'a' + 10;
        else if (base == 16 && *s >= 'A' && *s <= 'F')
            d = *s - 'A' + 10;
        else
            break;
        if (v > (SIZE_MAX - (size_t)d) / (size_t)base)
            return -1;
        v = v * (size_t)base + (size_t)d;
    }
    while (*s == ' ' || *s == '\t')
        s++;
    if (digits == 0 || (*s && !(base == 16 && *s == ';')))
        return -1;
    *out = v;
    return 0;
}

static int s_chunked(s_conn_t *c, s_body_t *b, td_error_t *err)
{
    char line[S_LINE_MAX];
    for (;;) {
        size_t n;
        int rc = s_line(c, line, sizeof line, err);
        if (rc != 0)
            return rc;
        if (s_size(line, 16, &n) != 0)
            return td_error_set(err, TD_EPROTO, b->len, "malformed chunk size");
        if (n == 0)
            break;
        if ((rc = s_take(c, b, n, 0, err)) != 0 || (rc = s_line(c, line, sizeof line, err)) != 0)
            return rc;
        if (line[0])
            return td_error_set(err, TD_EPROTO, b->len, "chunk not followed by CRLF");
    }
    /* Trailer fields, ignored, up to the empty line. */
    for (int i = 0; i <= S_FIELDS_MAX; i++) {
        int rc = s_line(c, line, sizeof line, err);
        if (rc != 0)
            return rc;
        if (!line[0])
            return 0;
    }
    return td_error_set(err, TD_EPROTO, b->len, "too many trailer fields");
}

/* Reads the status line and header fields; interim 1xx responses are skipped. */
static int s_head(s_conn_t *c, int *status, int *chunked, size_t *clen, int *has_clen,
                  td_error_t *err)
{
    char line[S_LINE_MAX];
    do {
        int rc = s_line(c, line, sizeof line, err);
        if (rc != 0)
            return rc;
        int st = 0;
        if (strncmp(line, "HTTP/1.", 7) != 0 || !(line[7] == '0' || line[7] == '1') ||
            line[8] != ' ' || sscanf(line + 9, "%3d", &st) != 1 || st < 100 || st > 599)
            return td_error_set(err, TD_EPROTO, 0, "%s did not answer with HTTP/1.x",
                                c->url->authority);
        *status = st;
        *chunked = *has_clen = 0;
        *clen = 0;
        for (int fields = 0;; fields++) {
            if (fields > S_FIELDS_MAX)
                return td_error_set(err, TD_EPROTO, 0, "too many header fields");
            if ((rc = s_line(c, line, sizeof line, err)) != 0)
                return rc;
            if (!line[0])
                break;
            char *colon = strchr(line, ':');
            if (!colon)
                return td_error_set(err, TD_EPROTO, 0, "malformed header field");
            *colon = 0;
            const char *v = colon + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            if (strcasecmp(line, "transfer-encoding") == 0) {
                /* Only chunked (the last coding) is understood; anything else is read to EOF,
                 * which is also what RFC 9112 says for a response. */
                size_t vl = strlen(v);
                while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
                    vl--;
                *chunked = vl >= 7 && strncasecmp(v + vl - 7, "chunked", 7) == 0 ? 1 : -1;
            } else if (strcasecmp(line, "content-length") == 0) {
                size_t n;
                if (s_size(v, 10, &n) != 0 || (*has_clen && n != *clen))
                    return td_error_set(err, TD_EPROTO, 0, "malformed Content-Length");
                *clen = n;
                *has_clen = 1;
            }
        }
    } while (*status < 200 && *status != 101);
    return 0;
}

static int s_exchange(s_conn_t *c, const td_httpc_req_t *req, td_httpc_resp_t *resp,
                      td_error_t *err)
{
    char head[4096 + 1024];
    const char *tok = req->token && *req->token ? req->token : NULL;
    int n = snprintf(head, sizeof head,
                     "%s %s%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: tandem/%s\r\n"
                     "Accept: application/json\r\nConnection: close\r\n%s%s%s",
                     req->method, c->url->base, req->target, c->url->authority, TD_VERSION,
                     tok ? "Authorization: token " : "", tok ? tok : "", tok ? "\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof head - 128)
        return td_error_set(err, TD_EINVAL, 0, "request target or token too long");
    if (req->body || strcmp(req->method, "GET") != 0)
        n += snprintf(head + n, sizeof head - (size_t)n, "%sContent-Length: %zu\r\n",
                      req->body ? "Content-Type: application/json\r\n" : "",
                      req->body ? req->body_len : 0);
    n += snprintf(head + n, sizeof head - (size_t)n, "\r\n");
    int rc = s_send_all(c, head, (size_t)n, err);
    if (rc == 0 && req->body)
        rc = s_send_all(c, req->body, req->body_len, err);
    if (rc != 0)
        return rc;

    int chunked = 0, has_clen = 0;
    size_t clen = 0;
    if ((rc = s_head(c, &resp->status, &chunked, &clen, &has_clen, err)) != 0)
        return rc;
    s_body_t b = {.max = req->max_body ? req->max_body : TD_HTTPC_MAX_BODY};
    if ((rc = s_body_reserve(&b, 0, err)) != 0)
        return rc;
    int bodyless = resp->status == 204 || resp->status == 304 || resp->status < 200;
    if (bodyless)
        rc = 0;
    else if (chunked == 1)
        rc = s_chunked(c, &b, err);
    else if (has_clen && chunked == 0)
        rc = clen > b.max
                 ? td_error_set(err, TD_E2BIG, 0, "the response is larger than %zu bytes", b.max)
                 : s_take(c, &b, clen, 0, err);
    else
        rc = s_take(c, &b, 0, 1, err);
    if (rc != 0) {
        free(b.data);
        return rc;
    }
    b.data[b.len] = 0;
    resp->body = b.data;
    resp->len = b.len;
    return 0;
}

int td_httpc_request(const td_httpc_url_t *url, const td_httpc_req_t *req, td_httpc_resp_t *resp,
                     td_error_t *err)
{
    memset(resp, 0, sizeof *resp);
    if (!url || !req || !req->method || !req->target)
        return td_error_set(err, TD_EINVAL, 0, "incomplete request");
    /* The token and the target go into the head verbatim: refuse anything that could end a line
     * there and smuggle a header or a second request. */
    for (const char *s = req->target; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == 0x7f)
            return td_error_set(err, TD_EINVAL, 0, "request target has spaces or controls");
    for (const char *s = req->token ? req->token : ""; *s; s++)
        if ((unsigned char)*s < ' ' || *s == 0x7f)
            return td_error_set(err, TD_EINVAL, 0, "the token has control characters");
    s_conn_t *c = malloc(sizeof *c);
    if (!c)
        return td_error_set(err, TD_ENOMEM, 0, "out of memory");
    c->fd = -1;
    c->url = url;
    c->pos = c->len = 0;
    c->deadline_ms = s_now_ms() + (req->timeout_ms > 0 ? req->timeout_ms : 30000);
    int rc = s_connect(c, err);
    if (rc == 0)
        rc = s_exchange(c, req, resp, err);
    if (c->fd >= 0)
        close(c->fd);
    free(c);
    if (rc != 0)
        td_httpc_resp_fini(resp);
    return rc;
}

void td_httpc_resp_fini(td_httpc_resp_t *resp)
{
    if (!resp)
        return;
    free(resp->body);
    resp->body = NULL;
    resp->len = 0;
}
