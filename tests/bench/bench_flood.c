/* bench_flood.c: an IOPub flood client in C, so that a flood benchmark measures the server and not
 * the client. It opens CLIENTS kernel websockets to a Jupyter server (tandem-relay or
 * jupyter_server), makes sure the kernel answers kernel_info, then sends one execute_request
 *   for i = 1, N do display(i) end
 * from client 0 and counts, per client, the display_data messages whose parent is that request:
 *   bench_flood BASE_URL TOKEN KERNEL_ID CLIENTS N [v1|legacy]
 *   {"clients":20,"total":..,"lost":..,"rate":..,"per_client_min":..,...}
 * rate is total / (last display_data received - execute_request sent), in messages per second.
 * The run ends when every client has N display_data and client 0 has the execute_reply, or after
 * 3 s without any traffic. Times are taken once per read(), so they are arrival times.
 *
 * The rtt mode measures request latency instead, on one websocket:
 *   bench_flood BASE_URL TOKEN KERNEL_ID rtt N [v1|legacy]
 *   {"mode":"rtt","protocol":"v1","n":2000,"warmup":50,"p50_ms":..,"p90_ms":..,"p99_ms":..,...}
 * After 50 warm-up rounds it sends N kernel_info_request one after the other and times each from
 * just before the send to the arrival of the kernel_info_reply whose parent is that request,
 * with CLOCK_MONOTONIC. Before the next request it waits (untimed) for the status idle of the
 * previous one, as tests/bench/bench_client does on ZMQ, so that both figures time the same
 * thing: a request sent to a quiet kernel. Any other message is read and ignored.
 *
 * One thread, plain sockets and epoll. Handshakes are blocking and sequential (as a set of real
 * clients would connect); after that every socket is non-blocking and only read, apart from the
 * few frames we send (the requests, pongs and closes). Client frames are masked (RFC 6455 5.3).
 * Messages are parsed just enough: the v1 offset table or the legacy JSON envelope, then the
 * header's msg_type with a small JSON value skipper, so that "msg_type" inside other values never
 * counts. Nothing a server sends is asserted on: a malformed frame closes that client with a
 * message on stderr, and the run goes on with the others. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define S_IDLE_US 3000000.0       /* the flood ends after this long without traffic */
#define S_READY_US 30000000.0     /* the kernel must answer kernel_info within this */
#define S_MAX_MESSAGE (64u << 20) /* a larger frame or message closes the client */
#define S_READ_CHUNK (256 * 1024) /* bytes asked of each read() */
#define S_V1 "v1.kernel.websocket.jupyter.org"
#define S_WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

enum { S_OP_CONT = 0, S_OP_TEXT = 1, S_OP_BIN = 2, S_OP_CLOSE = 8, S_OP_PING = 9, S_OP_PONG = 10 };

typedef struct s_buf {
    uint8_t *data;
    size_t len, cap;
} s_buf_t;

typedef struct s_client {
    int fd;        /* -1 once closed */
    int v1;        /* the server selected v1.kernel.websocket.jupyter.org */
    char sid[37];  /* session_id: this client's identity on the server */
    s_buf_t in;    /* received bytes not yet parsed (at most one partial frame) */
    s_buf_t frag;  /* a fragmented message being reassembled */
    int frag_op;   /* its opcode; 0 when no message is in progress */
    long displays; /* display_data with the flood request as parent */
    double first_us, last_us;
} s_client_t;

typedef struct s_bench {
    char host[256], port[16], prefix[512]; /* from BASE_URL; prefix ends with '/' */
    const char *token, *kernel;
    int nclients, want_v1;
    long n;
    s_client_t *c;
    int ep;                 /* epoll instance */
    double now_us;          /* time of the current read */
    double last_traffic_us; /* time of the last byte from any client */
    double start_us;        /* execute_request sent */
    char ki_id[37], ex_id[37];
    int ki_replied;     /* any kernel_info_reply reached client 0 */
    double ki_reply_us; /* arrival of the reply whose parent is ki_id; 0 before */
    int ki_idle;        /* the status idle whose parent is ki_id arrived */
    double ex_reply_us;
    long total, bad;
} s_bench_t;

static double s_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void s_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench_flood: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void *s_xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (p == NULL)
        s_die("out of memory (%zu bytes)", n);
    return p;
}

static void s_random(void *out, size_t n)
{
    if (getrandom(out, n, 0) != (ssize_t)n)
        s_die("getrandom failed: %s", strerror(errno));
}

/* A random (version 4) UUID as 36 characters and a NUL. */
static void s_uuid(char out[37])
{
    uint8_t b[16];
    s_random(b, sizeof b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    char *p = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        p += sprintf(p, "%02x", b[i]);
    }
}

/* ---- buffers ------------------------------------------------------------------------------- */

static void s_buf_reserve(s_buf_t *b, size_t extra)
{
    if (b->len + extra <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra)
        cap *= 2;
    b->data = s_xrealloc(b->data, cap);
    b->cap = cap;
}

static void s_buf_append(s_buf_t *b, const void *data, size_t len)
{
    s_buf_reserve(b, len);
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

/* ---- a small JSON reader: enough to find one key of one object ------------------------------ */

static const char *s_json_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* p is at an opening quote; returns the byte after the closing quote, or NULL. */
static const char *s_json_skip_string(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\')
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return NULL;
}

/* Returns the byte after the JSON value at p, or NULL if it does not end before end. Validates
 * only the nesting, which is all that finding a key needs. */
static const char *s_json_skip(const char *p, const char *end)
{
    if (p >= end)
        return NULL;
    if (*p == '"')
        return s_json_skip_string(p, end);
    if (*p != '{' && *p != '[') {
        while (p < end && !strchr(",}] \t\r\n", *p))
            p++;
        return p;
    }
    int depth = 0;
    while (p < end) {
        if (*p == '"') {
            p = s_json_skip_string(p, end);
            if (p == NULL)
                return NULL;
            continue;
        }
        if (*p == '{' || *p == '[')
            depth++;
        else if ((*p == '}' || *p == ']') && --depth == 0)
            return p + 1;
        p++;
    }
    return NULL;
}

/* Finds key (no escapes in it) at the top level of the JSON object in [obj, obj + len). Sets the
 * value's span (strings keep their quotes); returns 0, or -1 if absent or malformed. */
static int s_json_get(const char *obj, size_t len, const char *key, const char **val, size_t *vlen)
{
    const char *p = obj, *end = obj + len;
    size_t klen = strlen(key);
    p = s_json_ws(p, end);
    if (p >= end || *p++ != '{')
        return -1;
    for (;;) {
        p = s_json_ws(p, end);
        if (p >= end || *p != '"')
            return -1;
        const char *k = p + 1, *kend = s_json_skip_string(p, end);
        if (kend == NULL)
            return -1;
        p = s_json_ws(kend, end);
        if (p >= end || *p++ != ':')
            return -1;
        p = s_json_ws(p, end);
        const char *v = p;
        p = s_json_skip(p, end);
        if (p == NULL)
            return -1;
        if ((size_t)(kend - 1 - k) == klen && memcmp(k, key, klen) == 0) {
            *val = v;
            *vlen = (size_t)(p - v);
            return 0;
        }
        p = s_json_ws(p, end);
        if (p >= end || *p != ',')
            return -1;
        p++;
    }
}

static int s_json_is(const char *val, size_t vlen, const char *quoted)
{
    return vlen == strlen(quoted) && memcmp(val, quoted, vlen) == 0;
}

/* ---- websocket frames ---------------------------------------------------------------------- */

/* Writes all of buf, waiting up to 5 s for the socket to take it. Returns 0 or -1. */
static int s_write_all(int fd, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = send(fd, buf, len, MSG_NOSIGNAL);
        if (w > 0) {
            buf += w;
            len -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd = {fd, POLLOUT, 0};
            if (poll(&pfd, 1, 5000) == 1)
                continue;
        }
        return -1;
    }
    return 0;
}

/* Sends one masked frame with FIN set. Returns 0 or -1. */
static int s_send_frame(s_client_t *c, int op, const void *payload, size_t len)
{
    uint8_t head[14];
    size_t h = 0;
    head[h++] = 0x80 | (uint8_t)op;
    if (len < 126) {
        head[h++] = 0x80 | (uint8_t)len;
    } else if (len <= 0xffff) {
        head[h++] = 0x80 | 126;
        head[h++] = (uint8_t)(len >> 8);
        head[h++] = (uint8_t)len;
    } else {
        head[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            head[h++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    uint8_t *mask = head + h;
    s_random(mask, 4);
    h += 4;
    uint8_t *frame = s_xrealloc(NULL, h + len);
    memcpy(frame, head, h);
    const uint8_t *src = payload;
    for (size_t i = 0; i < len; i++)
        frame[h + i] = src[i] ^ mask[i & 3];
    int rc = s_write_all(c->fd, frame, h + len);
    free(frame);
    return rc;
}

static void s_close_client(s_bench_t *b, s_client_t *c, const char *why)
{
    if (c->fd < 0)
        return;
    if (why)
        fprintf(stderr, "bench_flood: client %d closed: %s\n", (int)(c - b->c), why);
    epoll_ctl(b->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
}

/* ---- jupyter messages ---------------------------------------------------------------------- */

/* The header, parent_header and content of one message, as JSON spans. Returns 0 or -1
 * (malformed). */
static int s_msg_split(const s_client_t *c, int op, const uint8_t *p, size_t len, const char **hdr,
                       size_t *hlen, const char **par, size_t *plen, const char **con, size_t *clen)
{
    if (op == S_OP_BIN && c->v1) {
        /* u64 LE n, then n u64 LE offsets; part i is [off[i], off[i+1]); 0 channel, 1 header,
         * 2 parent_header, 3 metadata, 4 content, then buffers. */
        if (len < 8)
            return -1;
        uint64_t n = 0, off[5];
        memcpy(&n, p, 8);
        if (n < 6 || n > len / 8 - 1)
            return -1;
        for (int i = 0; i < 5; i++) {
            memcpy(&off[i], p + 8 * (i + 2), 8);
            if (off[i] > len || (i > 0 && off[i] < off[i - 1]))
                return -1;
        }
        *hdr = (const char *)p + off[0];
        *hlen = off[1] - off[0];
        *par = (const char *)p + off[1];
        *plen = off[2] - off[1];
        *con = (const char *)p + off[3];
        *clen = off[4] - off[3];
        return 0;
    }
    const char *json = (const char *)p;
    size_t jlen = len;
    if (op == S_OP_BIN) {
        /* Legacy binary (a message with buffers): u32 BE nparts, u32 BE offsets, JSON first. */
        if (len < 8)
            return -1;
        uint32_t nparts = (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
        uint32_t o0 = (uint32_t)p[4] << 24 | p[5] << 16 | p[6] << 8 | p[7];
        uint32_t o1 = (uint32_t)len;
        if (nparts > 1 && len >= 12)
            o1 = (uint32_t)p[8] << 24 | p[9] << 16 | p[10] << 8 | p[11];
        if (nparts < 1 || o0 > o1 || o1 > len)
            return -1;
        json = (const char *)p + o0;
        jlen = o1 - o0;
    }
    if (s_json_get(json, jlen, "header", hdr, hlen) != 0 ||
        s_json_get(json, jlen, "parent_header", par, plen) != 0 ||
        s_json_get(json, jlen, "content", con, clen) != 0)
        return -1;
    return 0;
}

/* Is id (36 characters) the msg_id of this parent_header? A UUID found anywhere in it is exact
 * enough: the parent of a message we did not cause does not contain our random id. */
static int s_parent_is(const char *par, size_t plen, const char *id)
{
    return memmem(par, plen, id, 36) != NULL;
}

static void s_on_message(s_bench_t *b, s_client_t *c, int op, const uint8_t *p, size_t len)
{
    const char *hdr, *par, *con, *type, *state;
    size_t hlen, plen, clen, tlen, slen;
    if (s_msg_split(c, op, p, len, &hdr, &hlen, &par, &plen, &con, &clen) != 0 ||
        s_json_get(hdr, hlen, "msg_type", &type, &tlen) != 0) {
        if (b->bad++ == 0)
            fprintf(stderr, "bench_flood: client %d: a message without a readable header\n",
                    (int)(c - b->c));
        return;
    }
    if (s_json_is(type, tlen, "\"display_data\"")) {
        if (b->ex_id[0] == 0 || !s_parent_is(par, plen, b->ex_id))
            return;
        if (c->displays++ == 0)
            c->first_us = b->now_us;
        c->last_us = b->now_us;
        b->total++;
    } else if (c == b->c && s_json_is(type, tlen, "\"kernel_info_reply\"")) {
        b->ki_replied = 1;
        if (b->ki_id[0] && s_parent_is(par, plen, b->ki_id))
            b->ki_reply_us = b->now_us;
    } else if (c == b->c && s_json_is(type, tlen, "\"status\"")) {
        if (b->ki_id[0] && s_parent_is(par, plen, b->ki_id) &&
            s_json_get(con, clen, "execution_state", &state, &slen) == 0 &&
            s_json_is(state, slen, "\"idle\""))
            b->ki_idle = 1;
    } else if (c == b->c && s_json_is(type, tlen, "\"execute_reply\"")) {
        if (b->ex_id[0] && s_parent_is(par, plen, b->ex_id))
            b->ex_reply_us = b->now_us;
    }
}

/* Handles one complete frame. Returns 0, or -1 when the client must be closed. */
static int s_on_frame(s_bench_t *b, s_client_t *c, int fin, int op, const uint8_t *p, size_t len)
{
    if (op == S_OP_PING)
        return s_send_frame(c, S_OP_PONG, p, len);
    if (op == S_OP_PONG)
        return 0;
    if (op == S_OP_CLOSE) {
        uint16_t code = len >= 2 ? (uint16_t)(p[0] << 8 | p[1]) : 1005;
        fprintf(stderr, "bench_flood: client %d: server closed (%u %.*s)\n", (int)(c - b->c), code,
                len > 2 ? (int)(len - 2) : 0, len > 2 ? (const char *)p + 2 : "");
        s_send_frame(c, S_OP_CLOSE, p, len >= 2 ? 2 : 0);
        return -1;
    }
    if (op != S_OP_CONT && op != S_OP_TEXT && op != S_OP_BIN)
        return -1;
    if (op == S_OP_CONT) {
        if (c->frag_op == 0 || c->frag.len + len > S_MAX_MESSAGE)
            return -1;
        s_buf_append(&c->frag, p, len);
        if (!fin)
            return 0;
        s_on_message(b, c, c->frag_op, c->frag.data, c->frag.len);
        c->frag.len = 0;
        c->frag_op = 0;
        return 0;
    }
    if (c->frag_op != 0)
        return -1; /* a new message inside a fragmented one */
    if (fin) {
        s_on_message(b, c, op, p, len);
        return 0;
    }
    c->frag_op = op;
    s_buf_append(&c->frag, p, len);
    return 0;
}

/* Parses every complete frame in c->in and keeps the partial rest. Returns 0 or -1 (close). */
static int s_parse(s_bench_t *b, s_client_t *c)
{
    const uint8_t *p = c->in.data, *end = p + c->in.len;
    while (end - p >= 2) {
        int fin = p[0] >> 7, op = p[0] & 0x0f;
        if (p[1] & 0x80)
            return -1; /* servers never mask */
        uint64_t len = p[1] & 0x7f;
        size_t h = 2;
        if (len == 126) {
            if (end - p < 4)
                break;
            len = (uint64_t)p[2] << 8 | p[3];
            h = 4;
        } else if (len == 127) {
            if (end - p < 10)
                break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | p[2 + i];
            h = 10;
        }
        if (len > S_MAX_MESSAGE)
            return -1;
        if ((uint64_t)(end - p) < h + len)
            break;
        if (s_on_frame(b, c, fin, op, p + h, (size_t)len) != 0)
            return -1;
        p += h + len;
    }
    size_t rest = (size_t)(end - p);
    memmove(c->in.data, p, rest);
    c->in.len = rest;
    return 0;
}

static void s_read(s_bench_t *b, s_client_t *c)
{
    s_buf_reserve(&c->in, S_READ_CHUNK);
    ssize_t r = recv(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len, 0);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (r <= 0) {
        s_close_client(b, c, r == 0 ? "connection closed by the server" : strerror(errno));
        return;
    }
    b->now_us = b->last_traffic_us = s_mono_us();
    c->in.len += (size_t)r;
    if (s_parse(b, c) != 0)
        s_close_client(b, c, "websocket protocol error or close");
}

/* Sends a request on shell from client c and writes its msg_id into id. Returns 0 or -1. */
static int s_send_request(s_bench_t *b, s_client_t *c, const char *type, const char *content,
                          char id[37])
{
    char date[40], header[400];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t dl = strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(date + dl, sizeof date - dl, ".%06ldZ", ts.tv_nsec / 1000);
    s_uuid(id);
    snprintf(header, sizeof header,
             "{\"msg_id\":\"%s\",\"msg_type\":\"%s\",\"session\":\"%s\",\"username\":\"bench\","
             "\"date\":\"%s\",\"version\":\"5.3\"}",
             id, type, c->sid, date);
    if (!c->v1) {
        size_t n = strlen(header) + strlen(content) + 128;
        char *msg = s_xrealloc(NULL, n);
        int len = snprintf(msg, n,
                           "{\"channel\":\"shell\",\"header\":%s,\"parent_header\":{},"
                           "\"metadata\":{},\"content\":%s,\"buffers\":[]}",
                           header, content);
        int rc = s_send_frame(c, S_OP_TEXT, msg, (size_t)len);
        free(msg);
        return rc;
    }
    const char *parts[5] = {"shell", header, "{}", "{}", content};
    uint64_t n = 6, off[6];
    size_t total = 8 * (n + 1);
    for (int i = 0; i < 5; i++) {
        off[i] = total;
        total += strlen(parts[i]);
    }
    off[5] = total;
    uint8_t *frame = s_xrealloc(NULL, total);
    memcpy(frame, &n, 8); /* little-endian hosts only, as is every machine this runs on */
    memcpy(frame + 8, off, sizeof off);
    for (int i = 0; i < 5; i++)
        memcpy(frame + off[i], parts[i], strlen(parts[i]));
    int rc = s_send_frame(c, S_OP_BIN, frame, total);
    free(frame);
    return rc;
}

/* ---- connecting ---------------------------------------------------------------------------- */

/* Splits http://HOST:PORT/PREFIX/ into its parts. Returns 0 or -1. */
static int s_parse_url(s_bench_t *b, const char *url)
{
    if (strncmp(url, "http://", 7) != 0)
        return -1;
    const char *h = url + 7, *slash = strchr(h, '/');
    size_t hl = slash ? (size_t)(slash - h) : strlen(h);
    const char *colon = memchr(h, ':', hl);
    size_t namel = colon ? (size_t)(colon - h) : hl;
    if (namel == 0 || namel >= sizeof b->host)
        return -1;
    memcpy(b->host, h, namel);
    b->host[namel] = 0;
    snprintf(b->port, sizeof b->port, "%.*s", colon ? (int)(hl - namel - 1) : 2,
             colon ? colon + 1 : "80");
    snprintf(b->prefix, sizeof b->prefix, "%s", slash ? slash : "/");
    size_t pl = strlen(b->prefix);
    if (b->prefix[pl - 1] != '/' && pl + 1 < sizeof b->prefix)
        strcpy(b->prefix + pl, "/");
    return 0;
}

static int s_connect(const s_bench_t *b)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    int rc = getaddrinfo(b->host, b->port, &hints, &res);
    if (rc != 0)
        s_die("cannot resolve %s:%s: %s", b->host, b->port, gai_strerror(rc));
    int fd = -1;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        s_die("cannot connect to %s:%s: %s", b->host, b->port, strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return fd;
}

/* The value of one response header (case-insensitive name), or -1 if absent. */
static int s_http_header(const char *resp, const char *name, const char **val, size_t *vlen)
{
    size_t nl = strlen(name);
    for (const char *line = strstr(resp, "\r\n"); line && line[2] != '\r';
         line = strstr(line + 2, "\r\n")) {
        const char *l = line + 2;
        if (strncasecmp(l, name, nl) != 0 || l[nl] != ':')
            continue;
        const char *v = l + nl + 1, *e = strstr(v, "\r\n");
        while (*v == ' ' || *v == '\t')
            v++;
        while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        *val = v;
        *vlen = (size_t)(e - v);
        return 0;
    }
    return -1;
}

/* The Sec-WebSocket-Accept a server must answer for key (RFC 6455 4.2.2). */
static void s_accept_for(const char *key, char out[64])
{
    char cat[128];
    uint8_t sha[SHA_DIGEST_LENGTH];
    int n = snprintf(cat, sizeof cat, "%s%s", key, S_WS_GUID);
    SHA1((const uint8_t *)cat, (size_t)n, sha);
    EVP_EncodeBlock((uint8_t *)out, sha, SHA_DIGEST_LENGTH);
}

/* Connects client c and completes its websocket handshake; exits with a message on failure. */
static void s_open(s_bench_t *b, s_client_t *c)
{
    uint8_t raw[16];
    char key[32], req[2048], resp[16384];
    s_random(raw, sizeof raw);
    EVP_EncodeBlock((uint8_t *)key, raw, sizeof raw);
    s_uuid(c->sid);
    c->fd = s_connect(b);
    int n = snprintf(req, sizeof req,
                     "GET %sapi/kernels/%s/channels?session_id=%s&token=%s HTTP/1.1\r\n"
                     "Host: %s:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
                     b->prefix, b->kernel, c->sid, b->token, b->host, b->port, key,
                     b->want_v1 ? "Sec-WebSocket-Protocol: " S_V1 "\r\n" : "");
    if (n <= 0 || (size_t)n >= sizeof req || s_write_all(c->fd, (uint8_t *)req, (size_t)n) != 0)
        s_die("client %d: cannot send the handshake", (int)(c - b->c));
    size_t got = 0;
    char *end = NULL;
    while (end == NULL) {
        ssize_t r = recv(c->fd, resp + got, sizeof resp - 1 - got, 0);
        if (r <= 0)
            s_die("client %d: no handshake response (%s)", (int)(c - b->c),
                  r == 0 ? "connection closed" : strerror(errno));
        got += (size_t)r;
        resp[got] = 0;
        end = strstr(resp, "\r\n\r\n");
        if (end == NULL && got == sizeof resp - 1)
            s_die("client %d: handshake response headers too long", (int)(c - b->c));
    }
    if (strncmp(resp, "HTTP/1.1 101", 12) != 0)
        s_die("client %d: expected 101 Switching Protocols, got: %.*s", (int)(c - b->c),
              (int)strcspn(resp, "\r\n"), resp);
    const char *v;
    size_t vl;
    char want[64];
    s_accept_for(key, want);
    if (s_http_header(resp, "Sec-WebSocket-Accept", &v, &vl) != 0 || vl != strlen(want) ||
        memcmp(v, want, vl) != 0)
        s_die("client %d: missing or wrong Sec-WebSocket-Accept", (int)(c - b->c));
    int has = s_http_header(resp, "Sec-WebSocket-Protocol", &v, &vl) == 0;
    if (has && !(b->want_v1 && vl == strlen(S_V1) && memcmp(v, S_V1, vl) == 0))
        s_die("client %d: the server selected subprotocol %.*s, which was not offered",
              (int)(c - b->c), (int)vl, v);
    if (b->want_v1 && !has && c == b->c)
        fprintf(stderr, "bench_flood: the server did not select %s; using legacy JSON\n", S_V1);
    c->v1 = has;
    end += 4;
    s_buf_append(&c->in, end, got - (size_t)(end - resp)); /* frames sent right after the 101 */
    struct timeval tv = {0, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(b->ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
        s_die("epoll_ctl: %s", strerror(errno));
}

/* ---- the run ------------------------------------------------------------------------------- */

static int s_all_closed(const s_bench_t *b)
{
    for (int i = 0; i < b->nclients; i++)
        if (b->c[i].fd >= 0)
            return 0;
    return 1;
}

static int s_ready(const s_bench_t *b)
{
    return b->ki_replied;
}

static int s_flood_done(const s_bench_t *b)
{
    return b->total == b->n * b->nclients && (b->ex_reply_us > 0 || b->c[0].fd < 0);
}

/* Reads every client until done(b), until idle_us pass without traffic, or until deadline_us. */
static void s_run(s_bench_t *b, int (*done)(const s_bench_t *), double idle_us, double deadline_us)
{
    struct epoll_event evs[64];
    b->now_us = b->last_traffic_us = s_mono_us();
    for (int i = 0; i < b->nclients; i++) /* bytes that came with the 101 */
        if (b->c[i].fd >= 0 && b->c[i].in.len > 0 && s_parse(b, &b->c[i]) != 0)
            s_close_client(b, &b->c[i], "websocket protocol error or close");
    while (!done(b) && !s_all_closed(b)) {
        double now = s_mono_us();
        if (now - b->last_traffic_us > idle_us || now > deadline_us)
            return;
        int n = epoll_wait(b->ep, evs, 64, 100);
        if (n < 0 && errno != EINTR)
            s_die("epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n; i++) {
            s_client_t *c = evs[i].data.ptr;
            if (c->fd >= 0)
                s_read(b, c);
        }
    }
}

/* Sends kernel_info_request from client 0 once a second until the kernel answers. */
static void s_wait_kernel(s_bench_t *b)
{
    double deadline = s_mono_us() + S_READY_US;
    while (!b->ki_replied) {
        if (s_mono_us() > deadline)
            s_die("no kernel_info_reply within %.0f s", S_READY_US / 1e6);
        if (b->c[0].fd < 0 ||
            s_send_request(b, &b->c[0], "kernel_info_request", "{}", b->ki_id) != 0)
            s_die("client 0 is closed before the kernel answered kernel_info");
        s_run(b, s_ready, 1e6, s_mono_us() + 1e6);
    }
}

/* ---- the rtt mode -------------------------------------------------------------------------- */

#define S_RTT_WARMUP 50 /* untimed rounds first: caches, allocators, the kernel's own warm-up */

static int s_rtt_replied(const s_bench_t *b)
{
    return b->ki_reply_us > 0;
}

static int s_rtt_idle(const s_bench_t *b)
{
    return b->ki_idle;
}

static int s_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The p-th percentile of n sorted samples, chosen as bench_relay.mjs chooses it. */
static double s_pct(const double *sorted, long n, double p)
{
    long i = (long)(p / 100 * (double)n);
    return sorted[i < n ? i : n - 1];
}

/* One kernel_info round trip from client 0. Returns the time from just before the send to the
 * arrival of the matching reply, in microseconds; exits if no reply comes within 10 s. Then waits
 * up to 1 s for the request's status idle; *no_idle counts the rounds where it never came. */
static double s_rtt_once(s_bench_t *b, long *no_idle)
{
    b->ki_reply_us = 0;
    b->ki_idle = 0;
    double t0 = s_mono_us();
    if (b->c[0].fd < 0 || s_send_request(b, &b->c[0], "kernel_info_request", "{}", b->ki_id) != 0)
        s_die("cannot send a kernel_info_request");
    s_run(b, s_rtt_replied, 10e6, t0 + 10e6);
    if (b->ki_reply_us == 0)
        s_die("no kernel_info_reply within 10 s");
    double us = b->ki_reply_us - t0;
    s_run(b, s_rtt_idle, 1e6, s_mono_us() + 1e6);
    if (!b->ki_idle)
        (*no_idle)++;
    return us;
}

static void s_rtt(s_bench_t *b)
{
    double *t = s_xrealloc(NULL, (size_t)b->n * sizeof *t);
    long no_idle = 0;
    for (int i = 0; i < S_RTT_WARMUP; i++)
        s_rtt_once(b, &no_idle);
    no_idle = 0;
    double sum = 0;
    for (long i = 0; i < b->n; i++) {
        t[i] = s_rtt_once(b, &no_idle);
        sum += t[i];
    }
    qsort(t, (size_t)b->n, sizeof *t, s_cmp_double);
    printf("{\"mode\":\"rtt\",\"protocol\":\"%s\",\"n\":%ld,\"warmup\":%d,\"p50_ms\":%.4f,"
           "\"p90_ms\":%.4f,\"p99_ms\":%.4f,\"min_ms\":%.4f,\"max_ms\":%.4f,\"mean_ms\":%.4f,"
           "\"no_idle\":%ld,\"unreadable\":%ld}\n",
           b->c[0].v1 ? "v1" : "legacy", b->n, S_RTT_WARMUP, s_pct(t, b->n, 50) / 1e3,
           s_pct(t, b->n, 90) / 1e3, s_pct(t, b->n, 99) / 1e3, t[0] / 1e3, t[b->n - 1] / 1e3,
           sum / (double)b->n / 1e3, no_idle, b->bad);
    free(t);
}

/* ---- the flood report ---------------------------------------------------------------------- */

static void s_report(const s_bench_t *b)
{
    long min = b->n, max = 0;
    double last = b->start_us, first = 0;
    for (int i = 0; i < b->nclients; i++) {
        const s_client_t *c = &b->c[i];
        min = c->displays < min ? c->displays : min;
        max = c->displays > max ? c->displays : max;
        if (c->displays > 0) {
            last = c->last_us > last ? c->last_us : last;
            first = first == 0 || c->first_us < first ? c->first_us : first;
        }
    }
    double secs = (last - b->start_us) / 1e6;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu =
        ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    printf("{\"clients\":%d,\"n\":%ld,\"protocol\":\"%s\",\"total\":%ld,\"lost\":%ld,"
           "\"rate\":%.0f,\"per_client_min\":%ld,\"per_client_max\":%ld,\"first_s\":%.6f,"
           "\"last_s\":%.6f,\"execute_reply_s\":%.6f,\"unreadable\":%ld,\"client_cpu_s\":%.3f}\n",
           b->nclients, b->n, b->c[0].v1 ? "v1" : "legacy", b->total, b->n * b->nclients - b->total,
           secs > 0 ? b->total / secs : 0.0, min, max, first ? (first - b->start_us) / 1e6 : 0.0,
           secs, b->ex_reply_us ? (b->ex_reply_us - b->start_us) / 1e6 : 0.0, b->bad, cpu);
}

/* Sends the execute_request from client 0, reads until the flood is done and prints the report. */
static void s_flood(s_bench_t *b)
{
    char code[256];
    snprintf(code, sizeof code,
             "{\"code\":\"for i = 1, %ld do display(i) end\",\"silent\":false,"
             "\"store_history\":true,\"user_expressions\":{},\"allow_stdin\":false,"
             "\"stop_on_error\":true}",
             b->n);
    b->start_us = s_mono_us();
    if (s_send_request(b, &b->c[0], "execute_request", code, b->ex_id) != 0)
        s_die("cannot send the execute_request");
    s_run(b, s_flood_done, S_IDLE_US, 1e300);
    s_report(b);
}

int main(int argc, char **argv)
{
    if (argc < 6 || argc > 7) {
        fprintf(stderr, "usage: bench_flood BASE_URL TOKEN KERNEL_ID CLIENTS N [v1|legacy]\n"
                        "       bench_flood BASE_URL TOKEN KERNEL_ID rtt N [v1|legacy]\n"
                        "  e.g. bench_flood http://127.0.0.1:8888/ TOKEN KERNEL_ID 20 100000\n");
        return 2;
    }
    s_bench_t b = {.token = argv[2], .kernel = argv[3], .want_v1 = 1};
    if (s_parse_url(&b, argv[1]) != 0)
        s_die("BASE_URL must look like http://HOST:PORT/ (got %s)", argv[1]);
    int rtt = strcmp(argv[4], "rtt") == 0;
    b.nclients = rtt ? 1 : atoi(argv[4]);
    b.n = atol(argv[5]);
    if (b.nclients < 1 || b.nclients > 10000 || b.n < 1)
        s_die("CLIENTS must be 1..10000 and N at least 1");
    if (argc == 7 && strcmp(argv[6], "legacy") == 0)
        b.want_v1 = 0;
    else if (argc == 7 && strcmp(argv[6], "v1") != 0)
        s_die("the protocol is v1 or legacy (got %s)", argv[6]);
    b.ep = epoll_create1(EPOLL_CLOEXEC);
    if (b.ep < 0)
        s_die("epoll_create1: %s", strerror(errno));
    b.c = calloc((size_t)b.nclients, sizeof *b.c);
    if (b.c == NULL)
        s_die("out of memory");
    for (int i = 0; i < b.nclients; i++)
        s_open(&b, &b.c[i]);
    s_wait_kernel(&b);
    if (rtt)
        s_rtt(&b);
    else
        s_flood(&b);
    for (int i = 0; i < b.nclients; i++) {
        if (b.c[i].fd >= 0)
            s_send_frame(&b.c[i], S_OP_CLOSE, "\x03\xe8", 2);
        s_close_client(&b, &b.c[i], NULL);
        free(b.c[i].in.data);
        free(b.c[i].frag.data);
    }
    free(b.c);
    close(b.ep);
    return 0;
}
