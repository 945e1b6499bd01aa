/* td_kernel.c: one kernel process and its ZMQ sockets, driven from the relay's uv loop.
 *
 * A kernel owns: the process (uv_spawn, detached into its own process group, reaped in the exit
 * callback), its connection file (removed when the kernel goes), one IOPub SUB shared by all
 * clients, and its own shell and control DEALERs for nudges, interrupts and shutdowns. Each client
 * session (a websocket's session_id) owns three DEALERs (shell, control, stdin) whose ZMQ identity
 * is the session_id, so the kernel routes replies and input_requests to the requester only while
 * IOPub is fanned out to everyone. ZMQ sockets are watched with uv_poll on ZMQ_FD, which is edge-
 * like: every readiness callback and every send drains while ZMQ_EVENTS says POLLIN.
 *
 * Lifetime: objects are unlinked and marked closing first; their memory is freed from the last
 * uv_close callback, so a callback never frees the object it runs on. A client whose websocket
 * drops keeps its sockets for a grace period and buffers (bounded) what arrives, replaying it when
 * the same session_id reconnects. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <zmq.h>

#include "td/td_msg.h"
#include "td/td_wire.h"
#include "td_kmodel.h"
#include "td/td_json.h"
#include "td_log.h"
#include "td_relay.h"

enum { K_STARTING, K_RUNNING, K_RESTARTING, K_STOPPING, K_DEAD };

#define S_NCLIENT 3
static const td_channel_t s_cch[S_NCLIENT] = {TD_CH_SHELL, TD_CH_CONTROL, TD_CH_STDIN};
#define S_MAX_FRAMES (TD_WIRE_MAX_IDS + 6 + TD_KWS_MAX_BUFFERS)
#define S_NUDGE_MS 500
#define S_KILL_MS 3000
#define S_MAX_AUTORESTARTS 5
#define S_OFFLINE_MAX_MSGS 10000
#define S_STABLE_US (10 * 1000000LL)
#define S_DRAIN_BUDGET 256 /* messages per socket per loop turn: a flood must not starve the loop */

struct td_client {
    td_client_t *next;
    td_kernel_t *k;
    char session_id[TD_ROUTE_ARG_MAX];
    int anonymous;
    void *sock[S_NCLIENT];
    uv_poll_t poll[S_NCLIENT];
    int poll_ok[S_NCLIENT];
    int draining[S_NCLIENT];
    uv_timer_t grace;
    td_pss_t *ws;
    td_oq_t offline;
    size_t dropped;
    int closing;
    int handles;
    /* IOPub rate limiter (jupyter_server's _limit_rate): a window of (expiry, bytes) entries. */
    struct s_rate_ent *rq;
    size_t rq_cap, rq_head, rq_len;
    double r_bytes;
    int msgs_exceeded, data_exceeded;
};

struct s_rate_ent {
    int64_t expiry_us;
    size_t bytes;
};

/* A server-side execution (td_kernel_execute): over when both its reply and its idle were seen. */
struct td_kexec {
    td_kexec_t *next;
    char msg_id[TD_UUID_LEN + 1];
    td_kexec_fn *fn;
    void *arg;
    int got_reply, got_idle;
    char *code; /* not sent yet: the kernel's IOPub is not known to flow (its idle would be lost) */
};

struct td_kernel {
    td_kernel_t *next;
    td_relay_t *r;
    char id[TD_UUID_LEN + 1];
    char name[TD_ROUTE_ARG_MAX];
    char session[TD_UUID_LEN + 1]; /* the relay's own session id on this kernel */
    json_t *argv;                  /* spec argv (array of strings) */
    json_t *env;                   /* spec env + request env */
    char *cwd, *resource_dir;
    int interrupt_message;
    td_connfile_t cf;
    char cf_path[PATH_MAX];
    td_hmac_t *key;
    uv_process_t *proc;
    int pid;
    void *iopub, *shell, *control, *hb;
    uv_poll_t p_iopub, p_shell, p_control, p_hb;
    int draining[3];
    uv_timer_t nudge, kill_timer, hb_timer;
    uv_timer_t more;               /* continues a drain that used up its budget */
    int64_t hb_last_us;            /* last pong (or spawn / live time) */
    int hung;                      /* killed for a missed heartbeat */
    int spawns;                    /* processes started; > 1 means a restart */
    int64_t live_since_us;
    int64_t nudge_since_us;
    uint64_t nudge_ms;             /* delay before the next nudge: 10 ms, doubling to S_NUDGE_MS */
    int state;
    int got_info, got_iopub, live;
    char exec_state[16];
    char reason[160];
    int64_t last_activity_us;
    int connections;
    td_client_t *clients;
    td_waiter_t *restart_waiters, *shutdown_waiters;
    td_kexec_t *execs;             /* server-side executions in flight */
    int autorestarts;
    int handles;
    int freeing;
};

/* ---- small helpers ------------------------------------------------------------------------- */

td_obuf_t *td_obuf_new(uint8_t *mem, size_t len, int binary)
{
    td_obuf_t *b = malloc(sizeof *b);
    if (!b) {
        free(mem);
        return NULL;
    }
    *b = (td_obuf_t){1, binary, len, mem};
    return b;
}

void td_obuf_unref(td_obuf_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    td_obuf_t *b = *self_p;
    *self_p = NULL;
    if (--b->refs > 0)
        return;
    free(b->mem);
    free(b);
}

int td_oq_push(td_oq_t *q, td_obuf_t *buf)
{
    td_oqnode_t *n = malloc(sizeof *n);
    if (!n)
        return TD_ENOMEM;
    buf->refs++;
    *n = (td_oqnode_t){NULL, buf};
    if (q->tail)
        q->tail->next = n;
    else
        q->head = n;
    q->tail = n;
    q->bytes += buf->len;
    q->count++;
    return 0;
}

td_obuf_t *td_oq_pop(td_oq_t *q)
{
    td_oqnode_t *n = q->head;
    if (!n)
        return NULL;
    q->head = n->next;
    if (!q->head)
        q->tail = NULL;
    td_obuf_t *b = n->buf;
    q->bytes -= b->len;
    q->count--;
    free(n);
    return b;
}

void td_oq_clear(td_oq_t *q)
{
    td_obuf_t *b;
    while ((b = td_oq_pop(q)) != NULL)
        td_obuf_unref(&b);
}

void td_waiter_link(td_waiter_t **head, td_waiter_t *w)
{
    td_waiter_unlink(w);
    w->next = *head;
    if (*head)
        (*head)->prev = &w->next;
    w->prev = head;
    *head = w;
}

void td_waiter_unlink(td_waiter_t *w)
{
    if (!w->prev)
        return;
    *w->prev = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->next = NULL;
    w->prev = NULL;
}

void td_waiters_fire(td_waiter_t **head, td_kernel_t *k, int status)
{
    td_waiter_t *w;
    while ((w = *head) != NULL) {
        td_waiter_unlink(w);
        w->fn(w, k, status);
    }
}

/* ---- ZMQ receive ----------------------------------------------------------------------------- */

typedef struct {
    zmq_msg_t *m;
    size_t n;
} s_parts_t;

static void s_parts_close(s_parts_t *p)
{
    for (size_t i = 0; i < p->n; i++)
        zmq_msg_close(&p->m[i]);
    free(p->m);
    p->m = NULL;
    p->n = 0;
}

/* Receives one whole multipart message. Returns 1, 0 (nothing pending) or -1 (error/oversize). */
static int s_zrecv(void *sock, s_parts_t *p)
{
    size_t cap = 16;
    p->n = 0;
    p->m = malloc(cap * sizeof *p->m);
    if (!p->m)
        return -1;
    int more = 1, overflow = 0;
    while (more) {
        zmq_msg_t scratch, *m = &scratch;
        if (!overflow && p->n == cap && cap < S_MAX_FRAMES) {
            /* Never past S_MAX_FRAMES: s_kmsg_parse's views[] has exactly that many slots, and
             * frames beyond it are read into scratch and drop the message. */
            size_t grown_cap = 2 * cap < S_MAX_FRAMES ? 2 * cap : S_MAX_FRAMES;
            zmq_msg_t *g = realloc(p->m, grown_cap * sizeof *g);
            if (g)
                p->m = g, cap = grown_cap;
        }
        if (p->n < cap)
            m = &p->m[p->n];
        zmq_msg_init(m);
        int rc;
        while ((rc = zmq_msg_recv(m, sock, ZMQ_DONTWAIT)) < 0 && errno == EINTR)
            ;
        if (rc < 0) {
            zmq_msg_close(m);
            if (p->n == 0 && errno == EAGAIN) {
                free(p->m);
                p->m = NULL;
                return 0;
            }
            s_parts_close(p);
            return -1;
        }
        more = zmq_msg_more(m);
        if (m == &scratch) {
            zmq_msg_close(m);
            overflow = 1;
        } else {
            p->n++;
        }
    }
    if (overflow) {
        s_parts_close(p);
        return -1;
    }
    return 1;
}

/* A JSON object or array from a frame (td_json: json_loadb's grammar, several times faster), or
 * NULL. New reference. */
static json_t *s_json(td_bytes_t b)
{
    json_t *v = NULL;
    td_json_parse((const char *)b.data, b.len, &v, NULL);
    return v;
}

static int s_pollin(void *sock)
{
    int ev = 0;
    size_t len = sizeof ev;
    if (zmq_getsockopt(sock, ZMQ_EVENTS, &ev, &len) != 0)
        return 0;
    return (ev & ZMQ_POLLIN) != 0;
}

/* A kernel message split and signature-checked by td_wire_split (views into views[]), header
 * parsed. */
typedef struct {
    const td_bytes_t *part; /* the four JSON frames */
    const td_bytes_t *buf;
    size_t nbuf;
    json_t *header;
    const char *msg_type, *msg_id;
    td_bytes_t views[S_MAX_FRAMES];
} s_kmsg_t;

static int s_kmsg_parse(td_kernel_t *k, s_parts_t *p, s_kmsg_t *out)
{
    if (p->n > S_MAX_FRAMES)
        return TD_EPROTO;
    for (size_t i = 0; i < p->n; i++)
        out->views[i] = (td_bytes_t){zmq_msg_data(&p->m[i]), zmq_msg_size(&p->m[i])};
    td_wire_parts_t w;
    int rc = td_wire_split(out->views, p->n, k->key, &w, NULL);
    if (rc != 0)
        return rc;
    out->part = w.json;
    out->buf = w.buf;
    out->nbuf = w.nbuf;
    out->header = s_json(out->part[0]);
    json_t *t = json_object_get(out->header, "msg_type"), *id = json_object_get(out->header, "msg_id");
    if (!json_is_string(t)) {
        json_decref(out->header);
        out->header = NULL;
        return TD_EPROTO;
    }
    out->msg_type = json_string_value(t);
    out->msg_id = json_is_string(id) ? json_string_value(id) : "";
    return 0;
}

/* ---- delivery to clients --------------------------------------------------------------------- */

static td_obuf_t *s_encode(td_channel_t ch, const td_bytes_t part[4], const char *msg_id,
                           const char *msg_type, const td_bytes_t *buf, size_t nbuf, int v1)
{
    uint8_t *mem = NULL;
    size_t len = 0;
    int binary = 1, rc;
    if (v1)
        rc = td_kws_v1_encode(ch, part, buf, nbuf, LWS_PRE, &mem, &len);
    else
        rc = td_kws_legacy_encode(ch, part, msg_id, msg_type, buf, nbuf, LWS_PRE, &mem, &len,
                                  &binary);
    return rc == 0 ? td_obuf_new(mem, len, binary) : NULL;
}

static void s_offline_push(td_client_t *c, td_obuf_t *v1)
{
    td_relay_t *r = c->k->r;
    if (td_oq_push(&c->offline, v1) != 0)
        return;
    while (c->offline.count > 1 &&
           (c->offline.bytes > r->max_offline_bytes || c->offline.count > S_OFFLINE_MAX_MSGS)) {
        td_obuf_t *old = td_oq_pop(&c->offline);
        td_obuf_unref(&old);
        c->dropped++;
    }
}

/* ---- IOPub rate limiting -------------------------------------------------------------------- */

/* jupyter_server's _limit_rate, per websocket: every IOPub message except status, comm_open and
 * execute_input counts (stream messages also count their bytes) for rate_limit_window seconds.
 * Past a limit the client gets one stderr stream notice, worded as jupyter_server words it, and
 * IOPub is dropped for it until the rate falls under 80 % of the limit; status idle resets it. */

static void s_rate_reset(td_client_t *c)
{
    c->rq_head = c->rq_len = 0;
    c->r_bytes = 0;
    c->msgs_exceeded = c->data_exceeded = 0;
}

/* Formats a limit the way Python prints a float (1000.0, 3.0, 0.5). */
static void s_pyfloat(double v, char *out, size_t cap)
{
    if (v == (double)(long long)v && v < 1e16 && v > -1e16)
        snprintf(out, cap, "%.1f", v);
    else
        snprintf(out, cap, "%g", v);
}

static void s_rate_notice(td_kernel_t *k, td_client_t *c, int data, const td_bytes_t *parent)
{
    td_relay_t *r = k->r;
    char lim[64], win[64], text[800];
    const char *what = data ? "data" : "msg";
    s_pyfloat(data ? r->iopub_data_rate : r->iopub_msg_rate, lim, sizeof lim);
    s_pyfloat(r->rate_window_s, win, sizeof win);
    snprintf(text, sizeof text,
             "IOPub %s rate exceeded.\n"
             "The Jupyter server will temporarily stop sending output\n"
             "to the client in order to avoid crashing it.\n"
             "To change this limit, set the config variable\n"
             "`--ServerApp.iopub_%s_rate_limit`.\n"
             "\n"
             "Current values:\n"
             "ServerApp.iopub_%s_rate_limit=%s (%s)\n"
             "ServerApp.rate_limit_window=%s (secs)\n\n",
             data ? "data" : "message", what, what, lim, data ? "bytes/sec" : "msgs/sec", win);
    TD_LOG(TD_LOG_WARN, "relay.kernel", "kernel %s: IOPub %s rate exceeded for a client", k->id,
           data ? "data" : "message");
    td_msg_t *m = td_msg_new(&r->env, k->session, "tandem-relay", "stream", NULL);
    if (!m)
        return;
    td_msg_set_content_new(m, json_pack("{s:s, s:s}", "name", "stderr", "text", text));
    char *h = json_dumps(td_msg_header(m), JSON_COMPACT);
    char *ct = json_dumps(td_msg_content(m), JSON_COMPACT);
    if (h && ct && c->ws) {
        td_bytes_t part[4] = {{(const uint8_t *)h, strlen(h)},
                              *parent,
                              {(const uint8_t *)"{}", 2},
                              {(const uint8_t *)ct, strlen(ct)}};
        td_obuf_t *b = s_encode(TD_CH_IOPUB, part, td_msg_id(m), "stream", NULL, 0,
                                td_ws_is_v1(c->ws));
        if (b)
            td_ws_enqueue(c->ws, b);
        td_obuf_unref(&b);
    }
    free(h);
    free(ct);
    td_msg_destroy(&m);
}

/* 1 when this IOPub message may go to c; 0 when the limiter drops it. */
static int s_rate_ok(td_kernel_t *k, td_client_t *c, const char *msg_type, const td_bytes_t part[4],
                     const td_bytes_t *buf, size_t nbuf)
{
    td_relay_t *r = k->r;
    if ((r->iopub_msg_rate <= 0 && r->iopub_data_rate <= 0) || r->rate_window_s <= 0)
        return 1;
    if (strcmp(msg_type, "status") == 0 || strcmp(msg_type, "comm_open") == 0 ||
        strcmp(msg_type, "execute_input") == 0)
        return 1;
    int64_t now = td_relay_now(r);
    while (c->rq_len && c->rq[c->rq_head].expiry_us <= now) {
        c->r_bytes -= (double)c->rq[c->rq_head].bytes;
        c->rq_head = (c->rq_head + 1) % c->rq_cap;
        c->rq_len--;
    }
    if (c->rq_len == c->rq_cap) {
        size_t cap = c->rq_cap ? 2 * c->rq_cap : 256;
        struct s_rate_ent *g = malloc(cap * sizeof *g);
        if (!g)
            return 1;
        for (size_t i = 0; i < c->rq_len; i++)
            g[i] = c->rq[(c->rq_head + i) % c->rq_cap];
        free(c->rq);
        c->rq = g;
        c->rq_cap = cap;
        c->rq_head = 0;
    }
    size_t bytes = 0;
    if (strcmp(msg_type, "stream") == 0) {
        for (int i = 0; i < 4; i++)
            bytes += part[i].len;
        for (size_t i = 0; i < nbuf; i++)
            bytes += buf[i].len;
    }
    c->rq[(c->rq_head + c->rq_len) % c->rq_cap] =
        (struct s_rate_ent){now + (int64_t)(r->rate_window_s * 1e6), bytes};
    c->rq_len++;
    c->r_bytes += (double)bytes;
    double msg_rate = (double)c->rq_len / r->rate_window_s;
    double data_rate = c->r_bytes / r->rate_window_s;
    if (r->iopub_msg_rate > 0 && msg_rate > r->iopub_msg_rate) {
        if (!c->msgs_exceeded) {
            c->msgs_exceeded = 1;
            s_rate_notice(k, c, 0, &part[1]);
        }
    } else if (c->msgs_exceeded && msg_rate < 0.8 * r->iopub_msg_rate) {
        c->msgs_exceeded = 0;
        if (!c->data_exceeded)
            TD_LOG(TD_LOG_WARN, "relay.kernel", "kernel %s: iopub messages resumed", k->id);
    }
    if (r->iopub_data_rate > 0 && data_rate > r->iopub_data_rate) {
        if (!c->data_exceeded) {
            c->data_exceeded = 1;
            s_rate_notice(k, c, 1, &part[1]);
        }
    } else if (c->data_exceeded && data_rate < 0.8 * r->iopub_data_rate) {
        c->data_exceeded = 0;
        if (!c->msgs_exceeded)
            TD_LOG(TD_LOG_WARN, "relay.kernel", "kernel %s: iopub messages resumed", k->id);
    }
    if (c->msgs_exceeded || c->data_exceeded) {
        c->rq_len--; /* not sent: it does not count */
        c->r_bytes -= (double)bytes;
        return 0;
    }
    return 1;
}

/* Delivers one kernel message to `only` (replies) or to every client (IOPub, only == NULL). Each
 * encoding is made at most once and shared by reference. */
static void s_deliver(td_kernel_t *k, td_client_t *only, td_channel_t ch, const td_bytes_t part[4],
                      const char *msg_id, const char *msg_type, const td_bytes_t *buf, size_t nbuf)
{
    td_obuf_t *enc[2] = {NULL, NULL}; /* [0] legacy, [1] v1 */
    for (td_client_t *c = only ? only : k->clients; c; c = only ? NULL : c->next) {
        if (c->closing)
            continue;
        int v1 = c->ws ? td_ws_is_v1(c->ws) : 1;
        if (!c->ws && c->anonymous)
            continue;
        if (!only && c->ws && !s_rate_ok(k, c, msg_type, part, buf, nbuf))
            continue;
        if (!enc[v1] && !(enc[v1] = s_encode(ch, part, msg_id, msg_type, buf, nbuf, v1))) {
            TD_LOG(TD_LOG_WARN, "relay.kernel", "kernel %s: cannot encode %s", k->id, msg_type);
            continue;
        }
        if (c->ws)
            td_ws_enqueue(c->ws, enc[v1]);
        else
            s_offline_push(c, enc[v1]);
    }
    td_obuf_unref(&enc[0]);
    td_obuf_unref(&enc[1]);
}

static void s_on_more(uv_timer_t *t);

/* Sends a relay-made message (kernel_info_request, shutdown_request...) on our shell or control
 * socket; msg_id (may be NULL) receives its id. A send can swallow the readiness edge of a reply
 * that already came, so the sockets are drained on the next loop turn (not now: the caller may be
 * in the middle of handling a message). */
static int s_send_own(td_kernel_t *k, void *sock, const char *msg_type, json_t *content_new,
                      char msg_id[TD_UUID_LEN + 1])
{
    td_msg_t *m = td_msg_new(&k->r->env, k->session, "tandem-relay", msg_type, NULL);
    if (!m) {
        json_decref(content_new);
        return TD_ENOMEM;
    }
    if (content_new)
        td_msg_set_content_new(m, content_new);
    if (msg_id)
        snprintf(msg_id, TD_UUID_LEN + 1, "%s", td_msg_id(m));
    td_frames_t f;
    int rc = td_wire_encode(m, k->key, &f);
    td_msg_destroy(&m);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < f.n && rc == 0; i++)
        if (zmq_send(sock, f.data[i], f.len[i], ZMQ_DONTWAIT | (i + 1 < f.n ? ZMQ_SNDMORE : 0)) < 0)
            rc = TD_EAGAIN;
    td_frames_fini(&f);
    uv_timer_start(&k->more, s_on_more, 0, 0);
    return rc;
}

static void s_broadcast_status(td_kernel_t *k, const char *state)
{
    snprintf(k->exec_state, sizeof k->exec_state, "%s", state);
    td_msg_t *m = td_msg_new(&k->r->env, k->session, "tandem-relay", "status", NULL);
    if (!m)
        return;
    td_msg_set_content_new(m, json_pack("{s:s}", "execution_state", state));
    char *h = json_dumps(td_msg_header(m), JSON_COMPACT);
    char *c = json_dumps(td_msg_content(m), JSON_COMPACT);
    if (h && c) {
        td_bytes_t part[4] = {{(const uint8_t *)h, strlen(h)},
                              {(const uint8_t *)"{}", 2},
                              {(const uint8_t *)"{}", 2},
                              {(const uint8_t *)c, strlen(c)}};
        s_deliver(k, NULL, TD_CH_IOPUB, part, td_msg_id(m), "status", NULL, 0);
    }
    free(h);
    free(c);
    td_msg_destroy(&m);
}

/* ---- liveness -------------------------------------------------------------------------------- */

static void s_kexec_flush(td_kernel_t *k);

static void s_check_live(td_kernel_t *k)
{
    /* While a restart waits for the old process to exit, nothing it says counts. */
    if (k->live || !k->got_info || !k->got_iopub || k->state == K_STOPPING ||
        k->state == K_RESTARTING)
        return;
    k->live = 1;
    uv_timer_stop(&k->nudge);
    if (strcmp(k->exec_state, "starting") == 0 || strcmp(k->exec_state, "restarting") == 0)
        snprintf(k->exec_state, sizeof k->exec_state, "idle");
    k->state = K_RUNNING;
    k->reason[0] = '\0';
    k->live_since_us = k->hb_last_us = td_relay_now(k->r);
    TD_LOG(TD_LOG_INFO, "relay.kernel", "kernel %s (%s) is live", k->id, k->name);
    /* Clients that stayed connected through a restart saw "restarting"; tell them it is over
     * (the nudge's own busy/idle may have gone out before our SUB reconnected). */
    if (k->spawns > 1)
        s_broadcast_status(k, "idle");
    for (td_client_t *c = k->clients; c; c = c->next)
        if (c->ws && !c->closing)
            td_ws_resume_rx(c->ws);
    s_kexec_flush(k);
    td_waiters_fire(&k->restart_waiters, k, 0);
}

static void s_on_nudge(uv_timer_t *t)
{
    td_kernel_t *k = t->data;
    if (k->live || k->state == K_STOPPING || !k->proc)
        return;
    int64_t waited = td_relay_now(k->r) - k->nudge_since_us;
    if (waited > 60 * 1000000LL && k->restart_waiters) {
        TD_LOG(TD_LOG_WARN, "relay.kernel", "kernel %s: no kernel_info_reply after 60 s", k->id);
        td_waiters_fire(&k->restart_waiters, k, TD_ESTATE);
        k->nudge_ms = 5000;
    }
    s_send_own(k, k->shell, "kernel_info_request", NULL, NULL);
    uv_timer_start(&k->nudge, s_on_nudge, k->nudge_ms, 0);
    if (k->nudge_ms < S_NUDGE_MS)
        k->nudge_ms = k->nudge_ms * 2 < S_NUDGE_MS ? k->nudge_ms * 2 : S_NUDGE_MS;
}

/* ---- server-side executions ----------------------------------------------------------------- */

static void s_kexec_unlink(td_kernel_t *k, td_kexec_t *x)
{
    for (td_kexec_t **pp = &k->execs; *pp; pp = &(*pp)->next)
        if (*pp == x) {
            *pp = x->next;
            return;
        }
}

/* Routes a message to the execution it answers, if any (part: header, parent, metadata,
 * content). Ends the execution once its reply and its idle have both been seen. */
static void s_kexec_route(td_kernel_t *k, const char *msg_type, const td_bytes_t part[4])
{
    if (!k->execs)
        return;
    json_t *parent = s_json(part[1]);
    const char *pid = json_string_value(json_object_get(parent, "msg_id"));
    td_kexec_t *x = k->execs;
    while (x && (!pid || strcmp(x->msg_id, pid) != 0))
        x = x->next;
    json_decref(parent);
    if (!x)
        return;
    json_t *content = s_json(part[3]);
    if (strcmp(msg_type, "status") == 0) {
        const char *st = json_string_value(json_object_get(content, "execution_state"));
        x->got_idle |= st && strcmp(st, "idle") == 0;
    } else if (json_is_object(content)) {
        x->got_reply |= strcmp(msg_type, "execute_reply") == 0;
        x->fn(x->arg, msg_type, content);
    }
    json_decref(content);
    if (x->got_reply && x->got_idle) {
        s_kexec_unlink(k, x);
        x->fn(x->arg, NULL, NULL);
        free(x);
    }
}

/* The process went away: every execution in flight ends without a reply. */
static void s_kexec_abort_all(td_kernel_t *k)
{
    td_kexec_t *x;
    while ((x = k->execs) != NULL) {
        k->execs = x->next;
        x->fn(x->arg, NULL, NULL);
        free(x->code);
        free(x);
    }
}

/* Sends x's execute_request. 0 or TD_E*. */
static int s_kexec_send(td_kernel_t *k, td_kexec_t *x, const char *code)
{
    return s_send_own(k, k->shell, "execute_request",
                      json_pack("{s:s, s:b, s:b, s:{}, s:b, s:b}", "code", code, "silent", 0,
                                "store_history", 1, "user_expressions", "allow_stdin", 0,
                                "stop_on_error", 1),
                      x->msg_id);
}

/* The kernel became live: send the executions that waited for it. */
static void s_kexec_flush(td_kernel_t *k)
{
    td_kexec_t *next;
    for (td_kexec_t *x = k->execs; x; x = next) {
        next = x->next;
        if (!x->code)
            continue;
        int rc = s_kexec_send(k, x, x->code);
        free(x->code);
        x->code = NULL;
        if (rc != 0) {
            s_kexec_unlink(k, x);
            x->fn(x->arg, NULL, NULL);
            free(x);
        }
    }
}

int td_kernel_execute(td_kernel_t *k, const char *code, td_kexec_fn *fn, void *arg,
                      td_kexec_t **out)
{
    if (!k->shell || !k->pid || k->state == K_STOPPING || k->state == K_DEAD)
        return TD_ESTATE;
    td_kexec_t *x = calloc(1, sizeof *x);
    if (!x)
        return TD_ENOMEM;
    int rc = 0;
    if (k->live)
        rc = s_kexec_send(k, x, code);
    else if (!(x->code = strdup(code)))
        rc = TD_ENOMEM;
    if (rc != 0) {
        free(x);
        return rc;
    }
    x->fn = fn;
    x->arg = arg;
    x->next = k->execs;
    k->execs = x;
    *out = x;
    return 0;
}

void td_kexec_cancel(td_kernel_t *k, td_kexec_t **x_p)
{
    if (!x_p || !*x_p)
        return;
    for (td_kexec_t *x = k ? k->execs : NULL; x; x = x->next)
        if (x == *x_p) {
            s_kexec_unlink(k, x);
            free(x->code);
            free(x);
            break;
        }
    *x_p = NULL;
}

/* ---- draining sockets ------------------------------------------------------------------------ */

static void s_handle_iopub(td_kernel_t *k, s_kmsg_t *km)
{
    td_relay_t *r = k->r;
    k->got_iopub = 1;
    s_kexec_route(k, km->msg_type, km->part);
    if (strcmp(km->msg_type, "status") == 0) {
        json_t *content = s_json(km->part[3]);
        json_t *parent = s_json(km->part[1]);
        const char *st = json_string_value(json_object_get(content, "execution_state"));
        const char *pt = json_string_value(json_object_get(parent, "msg_type"));
        if (st && k->live && td_kmodel_tracked(pt)) {
            snprintf(k->exec_state, sizeof k->exec_state, "%s", st);
            k->last_activity_us = r->last_activity_us = td_relay_now(r);
        }
        if (st && strcmp(st, "idle") == 0) /* "Run All" should not hit the limits early */
            for (td_client_t *c = k->clients; c; c = c->next)
                s_rate_reset(c);
        json_decref(content);
        json_decref(parent);
    } else {
        k->last_activity_us = r->last_activity_us = td_relay_now(r);
    }
    s_deliver(k, NULL, TD_CH_IOPUB, km->part, km->msg_id, km->msg_type, km->buf, km->nbuf);
    s_check_live(k);
}

/* Drains our own socket (which: 0 iopub, 1 shell, 2 control). */
static void s_drain_kernel(td_kernel_t *k, int which)
{
    void *sock = which == 0 ? k->iopub : which == 1 ? k->shell : k->control;
    if (!sock || k->draining[which])
        return;
    k->draining[which] = 1;
    s_kmsg_t *km = malloc(sizeof *km); /* large: views for every possible frame */
    int budget = S_DRAIN_BUDGET;
    while (km && !k->freeing && s_pollin(sock)) {
        if (budget-- == 0) {
            /* More is waiting; the fd will not fire again for it (edge-like), so come back on
             * the next loop turn, after websockets have had their writes and HTTP its turn. */
            uv_timer_start(&k->more, s_on_more, 0, 0);
            break;
        }
        s_parts_t p;
        int rc = s_zrecv(sock, &p);
        if (rc <= 0)
            break;
        memset(km, 0, offsetof(s_kmsg_t, views));
        if ((rc = s_kmsg_parse(k, &p, km)) != 0) {
            TD_LOG(TD_LOG_WARN, "relay.kernel", "kernel %s: dropped a message (%s)", k->id,
                   td_strerror(rc));
        } else if (which == 0) {
            s_handle_iopub(k, km);
        } else if (which == 1 && strcmp(km->msg_type, "kernel_info_reply") == 0) {
            k->got_info = 1;
            s_check_live(k);
        } else if (which == 1) {
            s_kexec_route(k, km->msg_type, km->part);
        }
        json_decref(km->header);
        s_parts_close(&p);
    }
    free(km);
    k->draining[which] = 0;
}

static void s_on_more(uv_timer_t *t)
{
    td_kernel_t *k = t->data;
    for (int i = 0; i < 3 && !k->freeing; i++)
        s_drain_kernel(k, i);
}

static void s_on_kpoll(uv_poll_t *h, int status, int events)
{
    td_kernel_t *k = h->data;
    if (k->freeing)
        return;
    s_drain_kernel(k, h == &k->p_iopub ? 0 : h == &k->p_shell ? 1 : 2);
}

/* ---- heartbeat ------------------------------------------------------------------------------ */

/* Every hb_interval_ms a ping goes to the kernel's heartbeat ROUTER, which echoes it. A live
 * kernel that has not echoed anything for hb_timeout_ms is hung (SIGSTOP, a stuck C extension):
 * it is killed, and the exit path restarts it as for any kernel that died ("restarting", then
 * "idle", or "dead" after repeated failures). */

static void s_on_hbpoll(uv_poll_t *h, int status, int events)
{
    td_kernel_t *k = h->data;
    if (k->freeing || !k->hb)
        return;
    while (s_pollin(k->hb)) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        int rc = zmq_msg_recv(&m, k->hb, ZMQ_DONTWAIT);
        zmq_msg_close(&m);
        if (rc < 0)
            break;
        k->hb_last_us = td_relay_now(k->r);
    }
}

static void s_on_hb_timer(uv_timer_t *t)
{
    td_kernel_t *k = t->data;
    td_relay_t *r = k->r;
    int64_t now = td_relay_now(r);
    if (!k->pid || !k->live || k->state != K_RUNNING || k->hung || !k->hb) {
        k->hb_last_us = now;
        return;
    }
    if (now - k->hb_last_us > (int64_t)r->hb_timeout_ms * 1000) {
        TD_LOG(TD_LOG_WARN, "relay.kernel", "kernel %s: no heartbeat for %.1f s, restarting it",
               k->id, (double)(now - k->hb_last_us) / 1e6);
        k->hung = 1;
        if (kill(-k->pid, SIGKILL) != 0)
            kill(k->pid, SIGKILL);
        return;
    }
    zmq_send(k->hb, "ping", 4, ZMQ_DONTWAIT);
    s_on_hbpoll(&k->p_hb, 0, 0); /* the ZMQ fd is edge-like: re-check after a send */
}

static void s_drain_client(td_client_t *c, int i)
{
    if (c->closing || c->draining[i])
        return;
    c->draining[i] = 1;
    s_kmsg_t *km = malloc(sizeof *km);
    while (km && !c->closing && s_pollin(c->sock[i])) {
        s_parts_t p;
        int rc = s_zrecv(c->sock[i], &p);
        if (rc <= 0)
            break;
        memset(km, 0, offsetof(s_kmsg_t, views));
        if ((rc = s_kmsg_parse(c->k, &p, km)) != 0)
            TD_LOG(TD_LOG_WARN, "relay.kernel", "kernel %s: dropped a reply (%s)", c->k->id,
                   td_strerror(rc));
        else
            s_deliver(c->k, c, s_cch[i], km->part, km->msg_id, km->msg_type, km->buf, km->nbuf);
        json_decref(km->header);
        s_parts_close(&p);
    }
    free(km);
    c->draining[i] = 0;
}

static void s_on_cpoll(uv_poll_t *h, int status, int events)
{
    td_client_t *c = h->data;
    s_drain_client(c, (int)(h - c->poll));
}

/* ---- handles and freeing --------------------------------------------------------------------- */

static void s_kernel_free(td_kernel_t *k)
{
    json_decref(k->argv);
    json_decref(k->env);
    free(k->cwd);
    free(k->resource_dir);
    td_connfile_fini(&k->cf);
    td_hmac_destroy(&k->key);
    free(k);
}

static void s_k_handle_closed(uv_handle_t *h)
{
    td_kernel_t *k = h->data;
    if (--k->handles == 0 && k->freeing)
        s_kernel_free(k);
}

static void s_client_free_cb(uv_handle_t *h)
{
    td_client_t *c = h->data;
    if (--c->handles == 0) {
        free(c->rq);
        free(c);
    }
}

static void s_client_destroy(td_client_t *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    td_kernel_t *k = c->k;
    for (td_client_t **pp = &k->clients; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    td_oq_clear(&c->offline);
    TD_LOG(TD_LOG_DEBUG, "relay.kernel", "kernel %s: client session closed", k->id);
    for (int i = 0; i < S_NCLIENT; i++) {
        if (c->poll_ok[i])
            uv_close((uv_handle_t *)&c->poll[i], s_client_free_cb);
        if (c->sock[i])
            zmq_close(c->sock[i]);
        c->sock[i] = NULL;
    }
    uv_close((uv_handle_t *)&c->grace, s_client_free_cb);
}

static void s_on_grace(uv_timer_t *t)
{
    td_client_t *c = t->data;
    if (c->dropped)
        TD_LOG(TD_LOG_INFO, "relay.kernel", "kernel %s: session gone, %zu buffered messages lost",
               c->k->id, c->dropped);
    s_client_destroy(c);
}

static void *s_zsock(td_kernel_t *k, int type, td_channel_t ch, const char *identity)
{
    void *s = zmq_socket(k->r->zctx, type);
    if (!s)
        return NULL;
    /* A kernel binds its ports a few milliseconds after it is spawned, and our connects usually
     * come first: retry after 10 ms, not libzmq's 100, or every start waits for the retry; back off
     * to 1 s for a kernel that stays away (dead, or restarting). */
    int zero = 0, retry_ms = 10, retry_max_ms = 1000;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &retry_ms, sizeof retry_ms);
    zmq_setsockopt(s, ZMQ_RECONNECT_IVL_MAX, &retry_max_ms, sizeof retry_max_ms);
    if (identity)
        zmq_setsockopt(s, ZMQ_ROUTING_ID, identity, strlen(identity));
    if (type == ZMQ_SUB)
        zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0);
    char ep[300];
    if (td_connfile_endpoint(&k->cf, ch, ep, sizeof ep) != 0 || zmq_connect(s, ep) != 0) {
        zmq_close(s);
        return NULL;
    }
    return s;
}

static int s_poll_start(td_relay_t *r, uv_poll_t *h, void *sock, td_kernel_t *k, uv_poll_cb cb)
{
    int fd;
    size_t len = sizeof fd;
    if (zmq_getsockopt(sock, ZMQ_FD, &fd, &len) != 0)
        return -1;
    if (uv_poll_init(r->loop, h, fd) != 0)
        return -1;
    h->data = k;
    k->handles++;
    uv_poll_start(h, UV_READABLE, cb);
    return 0;
}

/* Closes the kernel's sockets and handles; the memory goes with the last handle. The process must
 * be gone (or never started). */
static void s_kernel_release(td_kernel_t *k)
{
    k->freeing = 1;
    k->handles++; /* guard: released below, so the count cannot hit zero while we loop */
    uv_poll_t *polls[4] = {&k->p_iopub, &k->p_shell, &k->p_control, &k->p_hb};
    void **socks[4] = {&k->iopub, &k->shell, &k->control, &k->hb};
    for (int i = 0; i < 4; i++) {
        if (polls[i]->data)
            uv_close((uv_handle_t *)polls[i], s_k_handle_closed);
        if (*socks[i])
            zmq_close(*socks[i]);
        *socks[i] = NULL;
    }
    uv_close((uv_handle_t *)&k->nudge, s_k_handle_closed);
    uv_close((uv_handle_t *)&k->kill_timer, s_k_handle_closed);
    uv_close((uv_handle_t *)&k->hb_timer, s_k_handle_closed);
    uv_close((uv_handle_t *)&k->more, s_k_handle_closed);
    if (k->cf_path[0])
        unlink(k->cf_path);
    if (--k->handles == 0)
        s_kernel_free(k);
}

/* The kernel is gone for good: tell waiters, close websockets and client sessions, free. */
static void s_kernel_finish(td_kernel_t *k)
{
    td_relay_t *r = k->r;
    for (td_kernel_t **pp = &r->kernels; *pp; pp = &(*pp)->next)
        if (*pp == k) {
            *pp = k->next;
            break;
        }
    k->state = K_STOPPING;
    td_sessions_drop_kernel(r->sessions, k->id);
    td_client_t *next;
    for (td_client_t *c = k->clients; c; c = next) {
        next = c->next;
        if (c->ws)
            td_ws_close(c->ws, 1001, "kernel shut down");
        s_client_destroy(c);
    }
    TD_LOG(TD_LOG_INFO, "relay.kernel", "kernel %s (%s) shut down", k->id, k->name);
    td_waiters_fire(&k->restart_waiters, k, TD_ESTATE);
    td_waiters_fire(&k->shutdown_waiters, k, 0);
    s_kernel_release(k);
}

/* ---- process --------------------------------------------------------------------------------- */

extern char **environ;

static void s_free_strv(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

/* The child's environment: ours, overridden by the kernel's env object. */
static char **s_build_env(json_t *over)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **v = calloc(n + json_object_size(over) + 2, sizeof *v);
    size_t k = 0;
    for (size_t i = 0; v && i < n; i++) {
        const char *eq = strchr(environ[i], '=');
        if (!eq)
            continue;
        char key[256];
        size_t kl = (size_t)(eq - environ[i]);
        if (kl >= sizeof key)
            continue;
        memcpy(key, environ[i], kl);
        key[kl] = '\0';
        if (json_object_get(over, key) || strcmp(key, "JPY_PARENT_PID") == 0)
            continue;
        v[k++] = strdup(environ[i]);
    }
    /* As jupyter_client: kernels that watch their parent (ipykernel, tandem-kernel) exit when the
     * relay dies without shutting them down. */
    char ppid[48];
    snprintf(ppid, sizeof ppid, "JPY_PARENT_PID=%d", (int)getpid());
    if (v && !json_object_get(over, "JPY_PARENT_PID"))
        v[k++] = strdup(ppid);
    const char *key;
    json_t *val;
    json_object_foreach(over, key, val)
    {
        if (!v || !json_is_string(val))
            continue;
        size_t len = strlen(key) + json_string_length(val) + 2;
        char *s = malloc(len);
        if (s)
            snprintf(s, len, "%s=%s", key, json_string_value(val));
        v[k++] = s;
    }
    return v;
}

/* Replaces "{connection_file}" and "{resource_dir}" in one argv word. */
static char *s_subst(const char *word, const td_kernel_t *k)
{
    const char *keys[2] = {"{connection_file}", "{resource_dir}"};
    const char *vals[2] = {k->cf_path, k->resource_dir ? k->resource_dir : ""};
    size_t cap = strlen(word) + 1;
    for (int i = 0; i < 2; i++)
        for (const char *p = word; (p = strstr(p, keys[i])) != NULL; p += strlen(keys[i]))
            cap += strlen(vals[i]);
    char *out = malloc(cap), *w = out;
    if (!out)
        return NULL;
    for (const char *p = word; *p;) {
        int hit = 0;
        for (int i = 0; i < 2 && !hit; i++)
            if (strncmp(p, keys[i], strlen(keys[i])) == 0) {
                w = stpcpy(w, vals[i]);
                p += strlen(keys[i]);
                hit = 1;
            }
        if (!hit)
            *w++ = *p++;
    }
    *w = '\0';
    return out;
}

static void s_on_exit(uv_process_t *p, int64_t status, int sig);

static void s_proc_closed(uv_handle_t *h)
{
    td_kernel_t *k = h->data;
    free(h);
    if (--k->handles == 0 && k->freeing)
        s_kernel_free(k);
}

static int s_spawn(td_kernel_t *k, char *msg, size_t cap)
{
    size_t argc = json_array_size(k->argv);
    char **argv = calloc(argc + 1, sizeof *argv);
    char **envp = s_build_env(k->env);
    uv_process_t *proc = calloc(1, sizeof *proc);
    int rc = -1;
    if (!argv || !envp || !proc)
        goto done;
    for (size_t i = 0; i < argc; i++)
        if (!(argv[i] = s_subst(json_string_value(json_array_get(k->argv, i)), k)))
            goto done;
    uv_stdio_container_t stdio[3] = {{.flags = UV_IGNORE},
                                     {.flags = UV_INHERIT_FD, .data.fd = 1},
                                     {.flags = UV_INHERIT_FD, .data.fd = 2}};
    uv_process_options_t o = {0};
    o.exit_cb = s_on_exit;
    o.file = argv[0];
    o.args = argv;
    o.env = envp;
    o.cwd = k->cwd;
    o.flags = UV_PROCESS_DETACHED; /* own process group: SIGINT reaches the kernel's children */
    o.stdio_count = 3;
    o.stdio = stdio;
    proc->data = k;
    int uvrc = uv_spawn(k->r->loop, proc, &o);
    if (uvrc != 0) {
        snprintf(msg, cap, "cannot start kernel %s: %s (%s)", k->name, argv[0], uv_strerror(uvrc));
        /* uv_spawn failures still need the handle closed. */
        k->handles++;
        uv_close((uv_handle_t *)proc, s_proc_closed);
        proc = NULL;
        goto done;
    }
    k->handles++;
    k->proc = proc;
    k->pid = proc->pid;
    proc = NULL;
    k->got_info = k->got_iopub = k->live = 0;
    k->hung = 0;
    k->spawns++;
    k->nudge_since_us = td_relay_now(k->r);
    k->nudge_ms = 20;
    uv_timer_start(&k->nudge, s_on_nudge, 10, 0);
    TD_LOG(TD_LOG_INFO, "relay.kernel", "kernel %s (%s) started, pid %d", k->id, k->name, k->pid);
    rc = 0;
done:
    s_free_strv(argv);
    s_free_strv(envp);
    free(proc);
    return rc;
}

static void s_on_exit(uv_process_t *p, int64_t status, int sig)
{
    td_kernel_t *k = p->data;
    uv_close((uv_handle_t *)p, s_proc_closed);
    if (k->proc == p)
        k->proc = NULL;
    TD_LOG(TD_LOG_INFO, "relay.kernel", "kernel %s pid %d exited (status %lld, signal %d%s)", k->id,
           k->pid, (long long)status, sig, k->hung ? ", hung: no heartbeat" : "");
    k->pid = 0;
    s_kexec_abort_all(k);
    uv_timer_stop(&k->kill_timer);
    uv_timer_stop(&k->nudge);
    k->live = 0;
    char msg[256];
    if (k->state == K_STOPPING || k->r->shutting_down) {
        s_kernel_finish(k);
        return;
    }
    if (k->state == K_RESTARTING) {
        snprintf(k->exec_state, sizeof k->exec_state, "restarting");
        if (s_spawn(k, msg, sizeof msg) != 0) {
            k->state = K_DEAD;
            snprintf(k->reason, sizeof k->reason, "%.150s", msg);
            s_broadcast_status(k, "dead");
            td_waiters_fire(&k->restart_waiters, k, TD_ESTATE);
        } else {
            k->state = K_STARTING; /* the waiters fire when the new process is live */
        }
        return;
    }
    /* The kernel died on its own: tell everyone, then restart it. At most S_MAX_AUTORESTARTS
     * in a row; a process that stayed live for S_STABLE_US starts the count afresh. */
    if (k->live_since_us && td_relay_now(k->r) - k->live_since_us >= S_STABLE_US)
        k->autorestarts = 0;
    k->live_since_us = 0;
    s_broadcast_status(k, "restarting");
    if (++k->autorestarts > S_MAX_AUTORESTARTS || s_spawn(k, msg, sizeof msg) != 0) {
        k->state = K_DEAD;
        snprintf(k->reason, sizeof k->reason, "kernel died and could not be restarted");
        TD_LOG(TD_LOG_WARN, "relay.kernel", "kernel %s is dead", k->id);
        s_broadcast_status(k, "dead");
        td_waiters_fire(&k->restart_waiters, k, TD_ESTATE);
        return;
    }
    k->state = K_STARTING;
}

static void s_on_kill(uv_timer_t *t)
{
    td_kernel_t *k = t->data;
    if (!k->pid)
        return;
    TD_LOG(TD_LOG_INFO, "relay.kernel", "kernel %s did not exit in time, killing", k->id);
    if (kill(-k->pid, SIGKILL) != 0)
        kill(k->pid, SIGKILL);
}

static int s_free_ports(int *ports, int n)
{
    int fds[TD_CH_COUNT];
    int rc = 0, opened = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t al = sizeof a;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
            getsockname(fd, (struct sockaddr *)&a, &al) != 0) {
            if (fd >= 0)
                close(fd);
            rc = -1;
            break;
        }
        fds[opened++] = fd;
        ports[i] = ntohs(a.sin_port);
    }
    for (int i = 0; i < opened; i++)
        close(fds[i]);
    return rc;
}

static int s_write_connfile(td_kernel_t *k)
{
    char *text = td_connfile_encode(&k->cf);
    if (!text)
        return -1;
    int fd = open(k->cf_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    size_t len = strlen(text);
    int ok = fd >= 0 && write(fd, text, len) == (ssize_t)len;
    if (fd >= 0)
        close(fd);
    free(text);
    return ok ? 0 : -1;
}

td_kernel_t *td_kernel_start(td_relay_t *r, const td_kspec_t *ks, json_t *extra_env,
                             const char *cwd, int *rc, char *msg, size_t cap)
{
    td_kernel_t *k = calloc(1, sizeof *k);
    *rc = TD_ENOMEM;
    snprintf(msg, cap, "out of memory");
    if (!k)
        return NULL;
    k->r = r;
    td_stamp_uuid(&r->env, k->id);
    td_stamp_uuid(&r->env, k->session);
    snprintf(k->name, sizeof k->name, "%s", ks->name);
    snprintf(k->exec_state, sizeof k->exec_state, "starting");
    k->last_activity_us = td_relay_now(r);
    k->argv = json_incref(json_object_get(ks->spec, "argv"));
    k->env = json_deep_copy(json_object_get(ks->spec, "env"));
    if (!k->env)
        k->env = json_object();
    const char *key;
    json_t *val;
    json_object_foreach(extra_env, key, val) if (json_is_string(val))
        json_object_set(k->env, key, val);
    k->cwd = strdup(cwd);
    k->resource_dir = strdup(ks->dir);
    k->interrupt_message =
        strcmp(json_string_value(json_object_get(ks->spec, "interrupt_mode")), "message") == 0;
    uv_timer_init(r->loop, &k->nudge);
    uv_timer_init(r->loop, &k->kill_timer);
    uv_timer_init(r->loop, &k->hb_timer);
    uv_timer_init(r->loop, &k->more);
    k->nudge.data = k->kill_timer.data = k->hb_timer.data = k->more.data = k;
    k->handles = 4;

    /* Connection file: free loopback ports and a random key. */
    char keytext[TD_UUID_LEN + 1];
    td_stamp_uuid(&r->env, keytext);
    snprintf(k->cf.transport, sizeof k->cf.transport, "tcp");
    snprintf(k->cf.ip, sizeof k->cf.ip, "127.0.0.1");
    snprintf(k->cf.signature_scheme, sizeof k->cf.signature_scheme, "hmac-sha256");
    k->cf.key = strdup(keytext);
    k->cf.kernel_name = strdup(ks->name);
    snprintf(k->cf_path, sizeof k->cf_path, "%s/kernel-%s.json", r->runtime_dir, k->id);
    k->key = td_hmac_new("hmac-sha256", (const uint8_t *)keytext, strlen(keytext));
    if (!k->cf.key || !k->cf.kernel_name || !k->key || !k->cwd || !k->resource_dir || !k->argv)
        goto fail;
    if (s_free_ports(k->cf.port, TD_CH_COUNT) != 0 || s_write_connfile(k) != 0) {
        *rc = TD_ESTATE;
        snprintf(msg, cap, "cannot write the connection file");
        k->cf_path[0] = '\0';
        goto fail;
    }
    k->iopub = s_zsock(k, ZMQ_SUB, TD_CH_IOPUB, NULL);
    k->shell = s_zsock(k, ZMQ_DEALER, TD_CH_SHELL, NULL);
    k->control = s_zsock(k, ZMQ_DEALER, TD_CH_CONTROL, NULL);
    k->hb = s_zsock(k, ZMQ_DEALER, TD_CH_HB, NULL);
    if (!k->iopub || !k->shell || !k->control || !k->hb ||
        s_poll_start(r, &k->p_iopub, k->iopub, k, s_on_kpoll) != 0 ||
        s_poll_start(r, &k->p_shell, k->shell, k, s_on_kpoll) != 0 ||
        s_poll_start(r, &k->p_control, k->control, k, s_on_kpoll) != 0 ||
        s_poll_start(r, &k->p_hb, k->hb, k, s_on_hbpoll) != 0) {
        *rc = TD_ESTATE;
        snprintf(msg, cap, "cannot open the kernel's sockets");
        goto fail;
    }
    if (s_spawn(k, msg, cap) != 0) {
        *rc = TD_ESTATE;
        goto fail;
    }
    if (r->hb_timeout_ms > 0 && r->hb_interval_ms > 0)
        uv_timer_start(&k->hb_timer, s_on_hb_timer, r->hb_interval_ms, r->hb_interval_ms);
    k->next = r->kernels;
    r->kernels = k;
    r->last_activity_us = k->last_activity_us;
    *rc = 0;
    return k;
fail:
    /* Polls that were initialised have data set; s_kernel_release closes what exists. */
    s_kernel_release(k);
    return NULL;
}

/* ---- public kernel operations ---------------------------------------------------------------- */

td_kernel_t *td_kernel_find(td_relay_t *r, const char *id)
{
    for (td_kernel_t *k = r->kernels; k && id; k = k->next)
        if (k->state != K_STOPPING && strcmp(k->id, id) == 0)
            return k;
    return NULL;
}

const char *td_kernel_id(const td_kernel_t *k)
{
    return k->id;
}

td_kernel_t *td_kernel_next(const td_kernel_t *k)
{
    return k->next;
}

json_t *td_kernel_model(td_kernel_t *k)
{
    td_kinfo_t ki = {k->id, k->name, k->last_activity_us, k->exec_state, k->connections,
                     k->state == K_DEAD && k->reason[0] ? k->reason : NULL};
    return td_kmodel_kernel(&ki);
}

int td_kernel_interrupt(td_kernel_t *k)
{
    if (!k->pid)
        return TD_ESTATE;
    TD_LOG(TD_LOG_INFO, "relay.kernel", "kernel %s: interrupt (%s)", k->id,
           k->interrupt_message ? "message" : "signal");
    if (k->interrupt_message) {
        return s_send_own(k, k->control, "interrupt_request", NULL, NULL);
    }
    if (kill(-k->pid, SIGINT) != 0 && kill(k->pid, SIGINT) != 0)
        return TD_ESTATE;
    return 0;
}

int td_kernel_restart(td_kernel_t *k, td_waiter_t *w)
{
    if (k->state == K_STOPPING)
        return TD_ESTATE;
    if (w)
        td_waiter_link(&k->restart_waiters, w);
    if (k->state == K_RESTARTING)
        return 0; /* already under way; this waiter rides along */
    TD_LOG(TD_LOG_INFO, "relay.kernel", "kernel %s: restart", k->id);
    k->state = K_RESTARTING;
    k->autorestarts = 0;
    k->live = k->got_info = k->got_iopub = 0;
    uv_timer_stop(&k->nudge);
    snprintf(k->exec_state, sizeof k->exec_state, "restarting");
    if (!k->proc) {
        char msg[256];
        if (s_spawn(k, msg, sizeof msg) != 0) {
            k->state = K_DEAD;
            snprintf(k->reason, sizeof k->reason, "%.150s", msg);
            td_waiters_fire(&k->restart_waiters, k, TD_ESTATE);
        } else {
            k->state = K_STARTING;
        }
        return 0;
    }
    s_send_own(k, k->control, "shutdown_request", json_pack("{s:b}", "restart", 1), NULL);
    uv_timer_start(&k->kill_timer, s_on_kill, S_KILL_MS, 0);
    return 0;
}

void td_kernel_shutdown(td_kernel_t *k, td_waiter_t *w)
{
    if (w)
        td_waiter_link(&k->shutdown_waiters, w);
    if (k->state == K_STOPPING)
        return;
    k->state = K_STOPPING;
    TD_LOG(TD_LOG_INFO, "relay.kernel", "kernel %s: shutdown", k->id);
    td_waiters_fire(&k->restart_waiters, k, TD_ESTATE);
    if (!k->proc) {
        s_kernel_finish(k);
        return;
    }
    s_send_own(k, k->control, "shutdown_request", json_pack("{s:b}", "restart", 0), NULL);
    uv_timer_start(&k->kill_timer, s_on_kill, S_KILL_MS, 0);
}

int td_kernel_shutdown_all(td_relay_t *r)
{
    int n = 0;
    td_kernel_t *next;
    for (td_kernel_t *k = r->kernels; k; k = next) {
        next = k->next;
        td_kernel_shutdown(k, NULL);
    }
    for (td_kernel_t *k = r->kernels; k; k = k->next)
        n++;
    return n;
}

int td_kernel_cull(td_relay_t *r)
{
    if (!r->cull_idle_ms)
        return 0;
    int64_t now = td_relay_now(r);
    int n = 0;
    td_kernel_t *next;
    for (td_kernel_t *k = r->kernels; k; k = next) {
        next = k->next;
        if (k->state != K_RUNNING && k->state != K_DEAD)
            continue;
        int busy = strcmp(k->exec_state, "busy") == 0;
        if ((busy && !r->cull_busy) || (k->connections > 0 && !r->cull_connected))
            continue;
        int64_t idle = now - k->last_activity_us;
        if (idle < (int64_t)r->cull_idle_ms * 1000)
            continue;
        TD_LOG(TD_LOG_INFO, "relay.kernel",
               "culling kernel %s (%s): idle %.1f s, %d connections, %s", k->id, k->name,
               (double)idle / 1e6, k->connections, k->exec_state);
        td_kernel_shutdown(k, NULL);
        n++;
    }
    return n;
}

/* ---- clients --------------------------------------------------------------------------------- */

static td_client_t *s_client_new(td_kernel_t *k, const char *session_id, int anonymous)
{
    td_client_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->k = k;
    c->anonymous = anonymous;
    snprintf(c->session_id, sizeof c->session_id, "%s", session_id);
    int ok = 1;
    for (int i = 0; i < S_NCLIENT; i++) {
        c->sock[i] = s_zsock(k, ZMQ_DEALER, s_cch[i], c->session_id);
        ok = ok && c->sock[i];
    }
    for (int i = 0; i < S_NCLIENT; i++) {
        int fd = -1;
        size_t len = sizeof fd;
        if (c->sock[i])
            zmq_getsockopt(c->sock[i], ZMQ_FD, &fd, &len);
        if (fd < 0 || uv_poll_init(k->r->loop, &c->poll[i], fd) != 0) {
            ok = 0;
            continue;
        }
        c->poll_ok[i] = 1;
        c->poll[i].data = c;
        uv_poll_start(&c->poll[i], UV_READABLE, s_on_cpoll);
        c->handles++;
    }
    uv_timer_init(k->r->loop, &c->grace);
    c->grace.data = c;
    c->handles++;
    c->next = k->clients;
    k->clients = c;
    if (!ok) {
        s_client_destroy(c);
        return NULL;
    }
    return c;
}

static void s_replay(td_client_t *c)
{
    if (!c->offline.count)
        return;
    TD_LOG(TD_LOG_INFO, "relay.kernel", "kernel %s: replaying %zu buffered messages (%zu dropped)",
           c->k->id, c->offline.count, c->dropped);
    c->dropped = 0;
    int v1 = td_ws_is_v1(c->ws);
    td_obuf_t *b;
    while (c->ws && (b = td_oq_pop(&c->offline)) != NULL) {
        if (v1) {
            td_ws_enqueue(c->ws, b);
        } else {
            /* Buffered as v1; re-encode for a legacy client. */
            td_kws_msg_t m;
            if (td_kws_v1_decode(b->mem + LWS_PRE, b->len, &m, NULL) > 0) {
                json_t *h = s_json(m.part[0]);
                td_obuf_t *lb = s_encode(m.channel, m.part,
                                         json_string_value(json_object_get(h, "msg_id")),
                                         json_string_value(json_object_get(h, "msg_type")), m.buf,
                                         m.nbuf, 0);
                if (lb)
                    td_ws_enqueue(c->ws, lb);
                td_obuf_unref(&lb);
                json_decref(h);
            }
            td_kws_msg_fini(&m);
        }
        td_obuf_unref(&b);
    }
}

td_client_t *td_kernel_attach(td_kernel_t *k, const char *session_id, td_pss_t *ws)
{
    td_client_t *c = NULL;
    int anonymous = !session_id || !*session_id;
    char sid[TD_ROUTE_ARG_MAX];
    if (anonymous)
        td_stamp_uuid(&k->r->env, sid);
    else
        snprintf(sid, sizeof sid, "%s", session_id);
    for (td_client_t *it = k->clients; it && !anonymous; it = it->next)
        if (!it->closing && !it->anonymous && strcmp(it->session_id, sid) == 0)
            c = it;
    if (c && c->ws && c->ws != ws) {
        TD_LOG(TD_LOG_INFO, "relay.kernel", "kernel %s: replacing stale connection", k->id);
        td_pss_t *old = c->ws;
        td_ws_close(old, 1000, "replaced by a new connection with the same session_id");
        if (c->closing)
            c = NULL;
    }
    if (!c && !(c = s_client_new(k, sid, anonymous)))
        return NULL;
    uv_timer_stop(&c->grace);
    c->ws = ws;
    s_rate_reset(c);
    k->connections++;
    k->r->connections++;
    s_replay(c);
    return c;
}

void td_client_detach(td_client_t *c, td_pss_t *ws)
{
    if (!c || c->ws != ws)
        return;
    td_kernel_t *k = c->k;
    c->ws = NULL;
    k->connections--;
    k->r->connections--;
    if (c->anonymous || k->state == K_STOPPING || k->r->shutting_down)
        s_client_destroy(c);
    else
        uv_timer_start(&c->grace, s_on_grace, k->r->offline_grace_ms, 0);
}

int td_client_live(const td_client_t *c)
{
    return c && !c->closing && c->k->live;
}

/* 1 when text (len bytes) parses as a JSON object. */
static int s_is_object(td_bytes_t b, json_t **keep)
{
    json_t *v = s_json(b);
    int ok = json_is_object(v);
    if (keep && ok)
        *keep = v;
    else
        json_decref(v);
    return ok;
}

int td_client_send(td_client_t *c, const td_kws_msg_t *m)
{
    td_kernel_t *k = c->k;
    int i = m->channel == TD_CH_SHELL ? 0 : m->channel == TD_CH_CONTROL ? 1 : m->channel == TD_CH_STDIN ? 2 : -1;
    if (i < 0) {
        TD_LOG(TD_LOG_WARN, "relay.kernel", "kernel %s: client message on %s dropped", k->id,
               td_channel_name(m->channel));
        return 0;
    }
    json_t *h = NULL;
    if (!s_is_object(m->part[0], &h))
        return TD_EPROTO;
    const char *t = json_string_value(json_object_get(h, "msg_type"));
    int rc = 0;
    if (!t || !*t || !s_is_object(m->part[1], NULL) || !s_is_object(m->part[2], NULL) ||
        !s_is_object(m->part[3], NULL)) {
        rc = TD_EPROTO;
        goto done;
    }
    char sig[TD_HMAC_HEX_MAX + 1];
    int sl = td_hmac_sign(k->key, m->part, 4, sig);
    if (sl < 0) {
        rc = sl;
        goto done;
    }
    void *s = c->sock[i];
    if (zmq_send(s, TD_WIRE_DELIM, 9, ZMQ_DONTWAIT | ZMQ_SNDMORE) < 0) {
        TD_LOG(TD_LOG_WARN, "relay.kernel", "kernel %s: %s dropped, kernel queue full", k->id, t);
        rc = TD_EAGAIN;
        goto done;
    }
    zmq_send(s, sig, (size_t)sl, ZMQ_DONTWAIT | ZMQ_SNDMORE);
    for (size_t p = 0; p < 4 + m->nbuf; p++) {
        const td_bytes_t *b = p < 4 ? &m->part[p] : &m->buf[p - 4];
        zmq_send(s, b->len ? b->data : (const void *)"", b->len,
                 ZMQ_DONTWAIT | (p + 1 < 4 + m->nbuf ? ZMQ_SNDMORE : 0));
    }
    if (td_kmodel_tracked(t))
        k->last_activity_us = k->r->last_activity_us = td_relay_now(k->r);
    TD_LOG(TD_LOG_DEBUG, "relay.kernel", "kernel %s: %s on %s (%zu buffers)", k->id, t,
           td_channel_name(m->channel), m->nbuf);
    s_drain_client(c, i);
done:
    json_decref(h);
    return rc;
}
