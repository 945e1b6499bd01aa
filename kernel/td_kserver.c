/* td_kserver.c: sockets and threads around the dispatch core.
 *
 * Each ZMQ socket belongs to one thread: shell and stdin to main, control to the control actor,
 * hb to the heartbeat actor. IOPub (XPUB) is the exception: every thread publishes through the
 * core, which holds its IOPub lock around each use, so the socket is only ever used under that
 * mutex (a full barrier, which libzmq requires to migrate a socket between threads).
 *
 * IOPub never drops: XPUB_NODROP turns a full subscriber queue into EAGAIN, and we wait for room
 * (up to TD_IOPUB_STALL_MS) instead of losing output or the final idle. Incoming frames are
 * verified by td_wire_decode before any JSON is parsed; bad messages are logged and dropped. */
#include <czmq.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "td_kserver.h"
#include "td_log.h"

#define TD_MAX_FRAMES (TD_WIRE_MAX_IDS + 6 + TD_WIRE_MAX_BUFFERS)
#define TD_MAX_MSG_BYTES (256LL << 20)
#define TD_IOPUB_STALL_MS 10000
#define TD_TICK_MS 20
#define TD_SHUTDOWN_GRACE_US 3000000

struct td_kserver {
    td_kcore_t *core;
    td_history_t *history; /* borrowed; may be NULL */
    td_hmac_t *key;
    void *shell, *stdin_, *control, *iopub; /* raw libzmq sockets of the zsock_t below */
    zsock_t *zshell, *zstdin, *zcontrol, *ziopub;
    char hb_endpoint[300];
    zactor_t *hb, *ctl, *tick;
    td_kcore_io_t shell_io, control_io;
    struct s_inbox *main_inbox, *control_inbox; /* receive buffers, one per receiving thread */
    pthread_t main_thread; /* runs the backend; the only thread that takes SIGINT and SIGTERM */
    pid_t parent;          /* JPY_PARENT_PID: exit when this process is no longer our parent */
};

/* ---- frames ------------------------------------------------------------------------------------ */

typedef struct s_inbox {
    zmq_msg_t parts[TD_MAX_FRAMES];
    td_bytes_t views[TD_MAX_FRAMES];
    size_t n;
} s_inbox_t;

static void s_inbox_close(s_inbox_t *in)
{
    for (size_t i = 0; i < in->n; i++)
        zmq_msg_close(&in->parts[i]);
    in->n = 0;
}

/* Receives one multipart message (flags 0 or ZMQ_DONTWAIT). Returns 1, 0 when none is ready, or -1
 * when it had too many frames (the rest is discarded). */
static int s_recv(void *sock, s_inbox_t *in, int flags)
{
    in->n = 0;
    int more = 1, overflow = 0;
    while (more) {
        zmq_msg_t scratch, *m = in->n < TD_MAX_FRAMES ? &in->parts[in->n] : &scratch;
        zmq_msg_init(m);
        int rc;
        while ((rc = zmq_msg_recv(m, sock, flags)) < 0 && errno == EINTR)
            ;
        if (rc < 0) {
            zmq_msg_close(m);
            s_inbox_close(in);
            return 0;
        }
        flags = 0; /* the rest of a multipart message is already here */
        more = zmq_msg_more(m);
        if (m == &scratch) {
            zmq_msg_close(m);
            overflow = 1;
            continue;
        }
        in->views[in->n] = (td_bytes_t){zmq_msg_data(m), zmq_msg_size(m)};
        in->n++;
    }
    if (overflow) {
        s_inbox_close(in);
        return -1;
    }
    return 1;
}

/* Receives and decodes one request. Returns 1 with *out, 0 when nothing was ready; bad messages
 * are logged, dropped, and reported as 2 so callers keep draining. */
static int s_recv_msg(td_kserver_t *self, void *sock, const char *channel, int flags, td_msg_t **out)
{
    /* Control has its own thread, so its own inbox; shell and stdin share main's. */
    s_inbox_t *in = sock == self->control ? self->control_inbox : self->main_inbox;
    int rc = s_recv(sock, in, flags);
    if (rc == 0)
        return 0;
    if (rc < 0) {
        TD_LOG(TD_LOG_WARN, "kernel.wire", "dropping a message on %s: more than %d frames", channel,
               TD_MAX_FRAMES);
        return 2;
    }
    td_error_t err = {0};
    int drc = td_wire_decode(in->views, in->n, self->key, out, &err);
    s_inbox_close(in);
    if (drc != 0) {
        TD_LOG(TD_LOG_WARN, "kernel.wire", "dropping a message on %s: %s (%s)", channel, err.text,
               td_strerror(drc));
        return 2;
    }
    return 1;
}

static void s_free_frame(void *data, void *hint)
{
    free(data);
}

/* Sends an encoded message. For IOPub, waits for room rather than dropping. Frames larger than a
 * libzmq inline message are handed over, not copied: libzmq frees them once written (from its I/O
 * thread), so f no longer owns them. Returns 0 or -1. */
static int s_send_frames(void *sock, td_frames_t *f, int iopub)
{
    for (size_t i = 0; i < f->n; i++) {
        int flags = i + 1 < f->n ? ZMQ_SNDMORE : 0;
        zmq_msg_t m;
        if (f->len[i] > 64 && zmq_msg_init_data(&m, f->data[i], f->len[i], s_free_frame, NULL) == 0)
            f->data[i] = NULL;
        else if (zmq_msg_init_size(&m, f->len[i]) == 0)
            memcpy(zmq_msg_data(&m), f->data[i], f->len[i]);
        else
            return -1;
        int waited = 0;
        for (;;) {
            int rc = zmq_msg_send(&m, sock, flags | (iopub ? ZMQ_DONTWAIT : 0));
            if (rc >= 0)
                break;
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN || !iopub || waited >= TD_IOPUB_STALL_MS) {
                TD_LOG(TD_LOG_WARN, "kernel.wire", "send failed: %s", zmq_strerror(errno));
                zmq_msg_close(&m);
                return -1;
            }
            zmq_pollitem_t item = {sock, 0, ZMQ_POLLOUT, 0};
            zmq_poll(&item, 1, 10);
            waited += 10;
        }
    }
    return 0;
}

static void s_send_msg(td_kserver_t *self, void *sock, td_msg_t **msg_p, int iopub)
{
    td_frames_t f;
    if (td_wire_encode(*msg_p, self->key, &f) == 0) {
        s_send_frames(sock, &f, iopub);
        td_frames_fini(&f);
    } else {
        TD_LOG(TD_LOG_ERROR, "kernel.wire", "cannot encode %s", td_msg_type(*msg_p));
    }
    td_msg_destroy(msg_p);
}

/* ---- core callbacks -------------------------------------------------------------------------- */

static void s_pub_send(void *arg, td_msg_t **msg_p)
{
    td_kserver_t *self = arg;
    s_send_msg(self, self->iopub, msg_p, 1);
}

static int s_pub_next_subscription(void *arg, char *buf, size_t cap)
{
    td_kserver_t *self = arg;
    uint8_t ev[512];
    int n;
    while ((n = zmq_recv(self->iopub, ev, sizeof ev, ZMQ_DONTWAIT)) > 0) {
        if (ev[0] != 1 || n > (int)sizeof ev)
            continue; /* unsubscribe, or a topic too long to echo */
        size_t len = (size_t)n - 1 < cap - 1 ? (size_t)n - 1 : cap - 1;
        memcpy(buf, ev + 1, len);
        buf[len] = '\0';
        if (strlen(buf) != len)
            continue; /* embedded NUL: not a topic we can name in JSON */
        return 1;
    }
    return 0;
}

static void s_shell_send(void *arg, td_channel_t ch, td_msg_t **msg_p)
{
    td_kserver_t *self = arg;
    s_send_msg(self, ch == TD_CH_STDIN ? self->stdin_ : self->shell, msg_p, 0);
}

static void s_control_send(void *arg, td_channel_t ch, td_msg_t **msg_p)
{
    td_kserver_t *self = arg;
    s_send_msg(self, self->control, msg_p, 0);
}

static int s_shell_next_queued(void *arg, td_msg_t **out)
{
    td_kserver_t *self = arg;
    int rc;
    while ((rc = s_recv_msg(self, self->shell, "shell", ZMQ_DONTWAIT, out)) == 2)
        ;
    return rc;
}

static int s_shell_input(void *arg, td_msg_t **request_p, char **value)
{
    td_kserver_t *self = arg;
    char parent_id[128];
    snprintf(parent_id, sizeof parent_id, "%s", td_msg_id(*request_p));
    /* Stale replies from an earlier, abandoned prompt must not answer this one. */
    td_msg_t *stale = NULL;
    while (s_recv_msg(self, self->stdin_, "stdin", ZMQ_DONTWAIT, &stale) != 0)
        td_msg_destroy(&stale);
    s_send_msg(self, self->stdin_, request_p, 0);
    for (;;) {
        if (td_kcore_stop_requested(self->core))
            return TD_ESTATE;
        zmq_pollitem_t item = {self->stdin_, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, 10) <= 0)
            continue;
        td_msg_t *reply = NULL;
        if (s_recv_msg(self, self->stdin_, "stdin", ZMQ_DONTWAIT, &reply) != 1)
            continue;
        const char *v = json_string_value(json_object_get(td_msg_content(reply), "value"));
        int ok = strcmp(td_msg_type(reply), "input_reply") == 0 && v != NULL;
        if (ok)
            *value = strdup(v);
        else
            TD_LOG(TD_LOG_WARN, "kernel.stdin", "ignoring %s on stdin", td_msg_type(reply));
        td_msg_destroy(&reply);
        if (ok)
            return *value ? 0 : TD_ENOMEM;
    }
}

/* ---- actors ------------------------------------------------------------------------------------ */

/* Heartbeat: a ROUTER that echoes every message straight back to its sender. */
static void s_heartbeat_actor(zsock_t *pipe, void *arg)
{
    const char *endpoint = arg;
    zsock_t *hb = zsock_new(ZMQ_ROUTER);
    if (hb == NULL || zsock_bind(hb, "%s", endpoint) < 0) {
        TD_LOG(TD_LOG_ERROR, "kernel.hb", "cannot bind heartbeat to %s: %s", endpoint,
               zmq_strerror(errno));
        zsock_signal(pipe, 1);
        zsock_destroy(&hb);
        return;
    }
    zsock_signal(pipe, 0);
    zpoller_t *poller = zpoller_new(pipe, hb, NULL);
    for (;;) {
        void *which = zpoller_wait(poller, -1);
        if (which == pipe || (which == NULL && zpoller_terminated(poller)))
            break; /* $TERM (or the context going away) */
        if (which == hb) {
            zmsg_t *m = zmsg_recv(hb);
            if (m)
                zmsg_send(&m, hb);
        }
    }
    zpoller_destroy(&poller);
    zsock_destroy(&hb);
}

/* Control: kernel_info, interrupt and shutdown, served while the main thread runs code. */
static void s_control_actor(zsock_t *pipe, void *arg)
{
    td_kserver_t *self = arg;
    zsock_signal(pipe, 0);
    zpoller_t *poller = zpoller_new(pipe, self->zcontrol, NULL);
    for (;;) {
        void *which = zpoller_wait(poller, -1);
        if (which == pipe || (which == NULL && zpoller_terminated(poller)))
            break;
        if (which != self->zcontrol)
            continue;
        td_msg_t *msg = NULL;
        while (s_recv_msg(self, self->control, "control", ZMQ_DONTWAIT, &msg) != 0)
            if (msg)
                td_kcore_handle(self->core, &self->control_io, TD_CH_CONTROL, &msg);
    }
    zpoller_destroy(&poller);
}

/* Tick: flushes batched output, welcomes subscribers, and ends a shutdown that main cannot. */
static void s_tick_actor(zsock_t *pipe, void *arg)
{
    td_kserver_t *self = arg;
    zsock_signal(pipe, 0);
    zpoller_t *poller = zpoller_new(pipe, NULL);
    int64_t shutdown_at = 0;
    for (unsigned n = 0;; n++) {
        void *which = zpoller_wait(poller, TD_TICK_MS);
        if (which == pipe || zpoller_terminated(poller))
            break;
        td_kcore_tick(self->core);
        if (self->parent > 1 && n % 20 == 0 && getppid() != self->parent) {
            /* The server that started us died without a shutdown (kill -9): nobody can reach this
             * kernel any more, so do not linger (ipykernel's parent poller does the same). */
            TD_LOG(TD_LOG_WARN, "kernel", "parent %d is gone; exiting", (int)self->parent);
            _exit(1);
        }
        if (td_kcore_shutdown_requested(self->core)) {
            if (shutdown_at == 0)
                shutdown_at = zclock_usecs();
            else if (zclock_usecs() - shutdown_at > TD_SHUTDOWN_GRACE_US) {
                /* Main is stuck in C code (a blocking os.execute, say): leave anyway. The history
                 * database is consistent after every transaction; only cells run since the shell
                 * was last quiet (still queued) are lost. */
                TD_LOG(TD_LOG_WARN, "kernel", "code did not stop for shutdown; exiting now");
                _exit(0);
            }
        }
    }
    zpoller_destroy(&poller);
}

/* ---- lifecycle ------------------------------------------------------------------------------- */

static zsock_t *s_bind(const td_connfile_t *cf, td_channel_t ch, int type)
{
    char ep[300];
    if (td_connfile_endpoint(cf, ch, ep, sizeof ep) != 0)
        return NULL;
    zsock_t *s = zsock_new(type);
    if (s == NULL)
        return NULL;
    zsock_set_linger(s, 1000);
    zsock_set_maxmsgsize(s, TD_MAX_MSG_BYTES);
    if (type == ZMQ_ROUTER)
        zsock_set_router_handover(s, 1);
    if (type == ZMQ_XPUB) {
        zsock_set_xpub_verbose(s, 1);
        zsock_set_sndhwm(s, 100000);
        int one = 1;
        zmq_setsockopt(zsock_resolve(s), ZMQ_XPUB_NODROP, &one, sizeof one);
    }
    if (zsock_bind(s, "%s", ep) < 0) {
        TD_LOG(TD_LOG_ERROR, "kernel", "cannot bind %s socket to %s: %s", td_channel_name(ch), ep,
               zmq_strerror(errno));
        zsock_destroy(&s);
    }
    return s;
}

/* Sends SIGINT to the main thread: the control thread's way to interrupt the backend. */
static void s_raise_interrupt(void *arg)
{
    td_kserver_t *self = arg;
    pthread_kill(self->main_thread, SIGINT);
}

td_kserver_t *td_kserver_new(const td_connfile_t *cf, const td_env_t *env,
                             const td_interp_ops_t *ops, td_history_t *history)
{
    zsys_handler_set(NULL); /* our own SIGINT/SIGTERM handlers, not czmq's */
    zsys_set_linger(1000);
    /* Every thread started from here on (libzmq's I/O thread, our actors) inherits a mask that
     * blocks SIGINT and SIGTERM, so both are always handled on the main thread, where stopping
     * the backend is safe. The main thread's own mask is restored before returning. */
    sigset_t block, saved;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &saved);
    td_kserver_t *self = calloc(1, sizeof *self);
    if (self == NULL) {
        pthread_sigmask(SIG_SETMASK, &saved, NULL);
        return NULL;
    }
    const char *ppid = getenv("JPY_PARENT_PID"); /* set by the server that launched us */
    self->parent = ppid ? (pid_t)atol(ppid) : 0;
    self->history = history;
    if (self->parent > 1 && getppid() != self->parent)
        self->parent = 0; /* started through a wrapper (a shell script): nothing to watch */
    self->main_inbox = calloc(1, sizeof *self->main_inbox);
    self->control_inbox = calloc(1, sizeof *self->control_inbox);
    if (self->main_inbox == NULL || self->control_inbox == NULL)
        goto fail;
    self->key = td_hmac_new(cf->signature_scheme, (const uint8_t *)cf->key, strlen(cf->key));
    if (self->key == NULL) {
        TD_LOG(TD_LOG_ERROR, "kernel", "unsupported signature scheme %s", cf->signature_scheme);
        goto fail;
    }
    self->zshell = s_bind(cf, TD_CH_SHELL, ZMQ_ROUTER);
    self->zstdin = s_bind(cf, TD_CH_STDIN, ZMQ_ROUTER);
    self->zcontrol = s_bind(cf, TD_CH_CONTROL, ZMQ_ROUTER);
    self->ziopub = s_bind(cf, TD_CH_IOPUB, ZMQ_XPUB);
    if (!self->zshell || !self->zstdin || !self->zcontrol || !self->ziopub)
        goto fail;
    self->shell = zsock_resolve(self->zshell);
    self->stdin_ = zsock_resolve(self->zstdin);
    self->control = zsock_resolve(self->zcontrol);
    self->iopub = zsock_resolve(self->ziopub);
    td_connfile_endpoint(cf, TD_CH_HB, self->hb_endpoint, sizeof self->hb_endpoint);

    td_kcore_pub_t pub = {s_pub_send, s_pub_next_subscription, self};
    const char *user = getenv("USER");
    self->main_thread = pthread_self();
    td_kcore_config_t config = {env,  ops, &pub, history, user ? user : "kernel", 1,
                                s_raise_interrupt, self};
    const char *welcome = getenv("TANDEM_IOPUB_WELCOME");
    if (welcome && strcmp(welcome, "0") == 0)
        config.welcome = 0;
    self->core = td_kcore_new(&config);
    if (self->core == NULL) {
        TD_LOG(TD_LOG_ERROR, "kernel", "cannot start the %s backend", ops->name);
        goto fail;
    }
    self->shell_io = (td_kcore_io_t){s_shell_send, s_shell_next_queued, s_shell_input, self};
    self->control_io = (td_kcore_io_t){s_control_send, NULL, NULL, self};
    self->hb = zactor_new(s_heartbeat_actor, self->hb_endpoint);
    if (self->hb == NULL)
        goto fail;
    self->ctl = zactor_new(s_control_actor, self);
    self->tick = zactor_new(s_tick_actor, self);
    if (self->ctl == NULL || self->tick == NULL)
        goto fail;
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    return self;
fail:
    td_kserver_destroy(&self);
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    return NULL;
}

int td_kserver_run(td_kserver_t *self)
{
    td_kcore_starting(self->core);
    while (!td_kcore_shutdown_requested(self->core)) {
        zmq_pollitem_t item = {self->shell, 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll(&item, 1, 100);
        if (rc == 0 && self->history)
            td_history_flush(self->history); /* quiet: write history off the request path */
        if (rc <= 0)
            continue; /* timeout or EINTR: re-check for shutdown */
        td_msg_t *msg = NULL;
        while (!td_kcore_shutdown_requested(self->core) &&
               s_recv_msg(self, self->shell, "shell", ZMQ_DONTWAIT, &msg) != 0)
            if (msg)
                td_kcore_handle(self->core, &self->shell_io, TD_CH_SHELL, &msg);
    }
    return 0;
}

void td_kserver_destroy(td_kserver_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    td_kserver_t *self = *self_p;
    zactor_destroy(&self->tick);
    zactor_destroy(&self->ctl);
    zactor_destroy(&self->hb);
    td_kcore_destroy(&self->core);
    zsock_destroy(&self->zshell);
    zsock_destroy(&self->zstdin);
    zsock_destroy(&self->zcontrol);
    zsock_destroy(&self->ziopub);
    td_hmac_destroy(&self->key);
    free(self->main_inbox);
    free(self->control_inbox);
    free(self);
    *self_p = NULL;
}

td_kcore_t *td_kserver_core(td_kserver_t *self)
{
    return self->core;
}
