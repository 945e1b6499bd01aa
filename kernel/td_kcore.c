/* td_kcore.c: request dispatch. Every request on shell or control is wrapped in status busy/idle
 * with the request as parent; execute runs busy → execute_input → outputs → execute_reply → idle.
 *
 * Stream output is batched in one buffer tagged with its stream name. It is flushed when it grows
 * past TD_STREAM_MAX, when it has waited TD_STREAM_WAIT_US (from the tick thread), when the other
 * stream is written, before any other IOPub message, and at the end of each request, so IOPub order
 * always equals the order in which the code produced output.
 *
 * Threads: shell requests and the backend run on the main thread; control requests (kernel_info,
 * shutdown, interrupt) on the control thread, touching only immutable state and atomics; the tick
 * thread flushes and welcomes. Everything that publishes holds iopub_lock, which also guards the
 * stream buffer and the current parent. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "td_kcore.h"
#include "td_log.h"

#define TD_STREAM_MAX (64 * 1024)
#define TD_STREAM_WAIT_US 50000

struct td_kcore {
    const td_env_t *env;
    const td_interp_ops_t *ops;
    td_interp_t *interp;
    td_kcore_pub_t pub;
    void (*raise_interrupt)(void *arg);
    void *raise_arg;
    td_history_t *history;
    char session[TD_UUID_LEN + 1];
    char *username;
    int welcome;
    json_t *kernel_info; /* immutable kernel_info_reply content */

    pthread_mutex_t iopub_lock;
    td_msg_t *parent;     /* the request whose side effects we publish; under iopub_lock */
    char *sbuf;           /* pending stream text; under iopub_lock */
    size_t slen, scap;
    char sname[8];
    int64_t sfirst_us;    /* when the oldest pending byte was written */

    /* Main-thread state of the running execute. */
    const td_kcore_io_t *io;
    int execution_count;
    int silent;
    int allow_stdin;
    json_t *payload;
    json_t *comms; /* comm_id -> {target_name} */
    struct s_backlog {
        td_msg_t **items;
        size_t n, cap;
    } backlog; /* requests queued when an execute failed with stop_on_error */

    atomic_int running;
    atomic_int interrupted;
    atomic_int shutdown;
};

/* ---- publishing ------------------------------------------------------------------------------ */

static td_msg_t *s_new_msg(td_kcore_t *self, const char *type, const td_msg_t *parent)
{
    td_msg_t *m = td_msg_new(self->env, self->session, self->username, type, parent);
    if (m == NULL) {
        TD_LOG(TD_LOG_ERROR, "kernel.core", "out of memory building %s", type);
        abort();
    }
    return m;
}

static void s_send_locked(td_kcore_t *self, const td_msg_t *parent, const char *type,
                          json_t *content);

/* Answers every pending subscription with iopub_welcome (JEP 65), before the next status message
 * or on the next tick. Caller holds iopub_lock. */
static void s_welcome_locked(td_kcore_t *self)
{
    char topic[256];
    while (self->pub.next_subscription &&
           self->pub.next_subscription(self->pub.arg, topic, sizeof topic) == 1) {
        if (self->welcome)
            s_send_locked(self, NULL, "iopub_welcome", json_pack("{s:s}", "subscription", topic));
    }
}

/* Publishes type/content with the given parent. Steals content. Caller holds iopub_lock.
 * Subscriptions are looked at before each status (every request starts with busy and ends with
 * idle) and on every tick, not before every message: each look costs libzmq a poll(2) and a
 * getpid(2), and an execute publishes five messages or more. */
static void s_publish_locked(td_kcore_t *self, const td_msg_t *parent, const char *type,
                             json_t *content)
{
    if (strcmp(type, "status") == 0)
        s_welcome_locked(self);
    s_send_locked(self, parent, type, content);
}

static void s_send_locked(td_kcore_t *self, const td_msg_t *parent, const char *type,
                          json_t *content)
{
    td_msg_t *m = s_new_msg(self, type, parent);
    char topic[64];
    snprintf(topic, sizeof topic, "kernel.%.8s.%s", self->session, type);
    if (strcmp(type, "stream") == 0)
        snprintf(topic, sizeof topic, "stream.%s",
                 json_string_value(json_object_get(content, "name")));
    td_bytes_t t = {(const uint8_t *)topic, strlen(topic)};
    td_msg_set_identities(m, &t, 1);
    td_msg_set_content_new(m, content);
    self->pub.send(self->pub.arg, &m);
}

static void s_flush_locked(td_kcore_t *self)
{
    if (self->slen == 0)
        return;
    json_t *content = json_pack("{s:s, s:s%}", "name", self->sname, "text", self->sbuf,
                                self->slen);
    self->slen = 0;
    if (content == NULL) { /* invalid UTF-8 from the program: replace rather than drop */
        content = json_pack("{s:s, s:s}", "name", self->sname, "text", "\xef\xbf\xbd");
    }
    s_publish_locked(self, self->parent, "stream", content);
}

/* Flushes pending stream text, then publishes. Steals content. */
static void s_publish(td_kcore_t *self, const td_msg_t *parent, const char *type, json_t *content)
{
    pthread_mutex_lock(&self->iopub_lock);
    s_flush_locked(self);
    s_publish_locked(self, parent, type, content);
    pthread_mutex_unlock(&self->iopub_lock);
}

static void s_status(td_kcore_t *self, const td_msg_t *parent, const char *state)
{
    s_publish(self, parent, "status", json_pack("{s:s}", "execution_state", state));
}

static void s_set_parent(td_kcore_t *self, td_msg_t *parent)
{
    pthread_mutex_lock(&self->iopub_lock);
    s_flush_locked(self);
    self->parent = parent;
    pthread_mutex_unlock(&self->iopub_lock);
}

/* ---- the host interface the backend calls ------------------------------------------------- */

static void s_host_stream(void *arg, const char *name, const char *text, size_t len)
{
    td_kcore_t *self = arg;
    if (self->silent || len == 0)
        return;
    pthread_mutex_lock(&self->iopub_lock);
    if (self->slen > 0 && strcmp(self->sname, name) != 0)
        s_flush_locked(self);
    while (len > 0) {
        if (self->slen == 0) { /* a new batch starts here */
            snprintf(self->sname, sizeof self->sname, "%s", name);
            self->sfirst_us = self->env->now_us(self->env->arg);
        }
        if (self->slen + len + 1 > self->scap) {
            size_t cap = self->scap ? self->scap : 4096;
            while (cap < self->slen + len + 1 && cap < TD_STREAM_MAX + 1)
                cap *= 2;
            char *grown = realloc(self->sbuf, cap);
            if (grown == NULL)
                abort();
            self->sbuf = grown;
            self->scap = cap;
        }
        size_t room = self->scap - 1 - self->slen;
        size_t n = len < room ? len : room;
        /* Never cut a UTF-8 sequence in two: back off to a lead byte when splitting. */
        if (n < len)
            while (n > 0 && ((unsigned char)text[n] & 0xc0) == 0x80)
                n--;
        if (n == 0 && self->slen == 0)
            n = len < room ? len : room; /* a pathological buffer: take it whole */
        memcpy(self->sbuf + self->slen, text, n);
        self->slen += n;
        self->sbuf[self->slen] = '\0';
        text += n;
        len -= n;
        if (self->slen >= TD_STREAM_MAX || len > 0)
            s_flush_locked(self);
    }
    pthread_mutex_unlock(&self->iopub_lock);
}

static void s_host_display(void *arg, json_t *data, json_t *metadata, json_t *transient,
                           int update)
{
    td_kcore_t *self = arg;
    if (self->silent || !json_is_object(data)) {
        json_decref(data), json_decref(metadata), json_decref(transient);
        return;
    }
    json_t *c = json_pack("{s:o, s:o}", "data", data, "metadata",
                          json_is_object(metadata) ? metadata : (json_decref(metadata), json_object()));
    json_object_set_new(c, "transient", json_is_object(transient) ? transient
                                                                 : (json_decref(transient), json_object()));
    s_publish(self, self->parent, update ? "update_display_data" : "display_data", c);
}

static void s_host_clear_output(void *arg, int wait)
{
    td_kcore_t *self = arg;
    if (!self->silent)
        s_publish(self, self->parent, "clear_output", json_pack("{s:b}", "wait", wait));
}

static int s_host_input(void *arg, const char *prompt, int password, char **value)
{
    td_kcore_t *self = arg;
    *value = NULL;
    if (!self->allow_stdin || self->io == NULL || self->io->input == NULL)
        return TD_EPERM;
    if (td_kcore_stop_requested(self))
        return TD_ESTATE;
    s_set_parent(self, self->parent); /* flushes output, so the prompt follows it */
    td_msg_t *req = s_new_msg(self, "input_request", self->parent);
    td_msg_set_content_new(req, json_pack("{s:s, s:b}", "prompt", prompt ? prompt : "",
                                          "password", password));
    return self->io->input(self->io->arg, &req, value);
}

static void s_host_payload(void *arg, json_t *payload)
{
    td_kcore_t *self = arg;
    json_array_append_new(self->payload, payload);
}

static void s_host_comm_send(void *arg, const char *comm_id, json_t *data, int close)
{
    td_kcore_t *self = arg;
    json_t *c = json_pack("{s:s, s:o}", "comm_id", comm_id, "data",
                          data ? data : json_object());
    if (close)
        json_object_del(self->comms, comm_id);
    s_publish(self, self->parent, close ? "comm_close" : "comm_msg", c);
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

td_kcore_t *td_kcore_new(const td_kcore_config_t *config)
{
    td_kcore_t *self = calloc(1, sizeof *self);
    if (self == NULL)
        return NULL;
    self->env = config->env;
    self->ops = config->interp;
    self->pub = *config->pub;
    self->raise_interrupt = config->raise_interrupt;
    self->raise_arg = config->raise_arg;
    self->history = config->history;
    self->welcome = config->welcome;
    self->username = strdup(config->username ? config->username : "kernel");
    td_stamp_uuid(self->env, self->session);
    pthread_mutex_init(&self->iopub_lock, NULL);
    self->comms = json_object();
    self->payload = json_array();
    td_interp_host_t host = {s_host_stream,  s_host_display, s_host_clear_output, s_host_input,
                             s_host_payload, s_host_comm_send, self};
    self->interp = self->ops->create(&host);
    if (self->interp == NULL || self->username == NULL) {
        td_kcore_destroy(&self);
        return NULL;
    }
    self->kernel_info = json_pack(
        "{s:s, s:s, s:s, s:s, s:o, s:s, s:[{s:s, s:s}], s:[]}", "status", "ok",
        "protocol_version", TD_PROTOCOL_VERSION, "implementation", "tandem",
        "implementation_version", TD_VERSION, "language_info", self->ops->language_info(self->interp),
        "banner", self->ops->banner(self->interp), "help_links", "text", "Lua 5.4 manual", "url",
        "https://www.lua.org/manual/5.4/", "supported_features");
    return self;
}

void td_kcore_destroy(td_kcore_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    td_kcore_t *self = *self_p;
    if (self->interp)
        self->ops->destroy(&self->interp);
    json_decref(self->kernel_info);
    json_decref(self->comms);
    json_decref(self->payload);
    free(self->backlog.items);
    pthread_mutex_destroy(&self->iopub_lock);
    free(self->sbuf);
    free(self->username);
    free(self);
    *self_p = NULL;
}

const char *td_kcore_session(const td_kcore_t *self)
{
    return self->session;
}

void td_kcore_starting(td_kcore_t *self)
{
    s_status(self, NULL, "starting");
}

void td_kcore_tick(td_kcore_t *self)
{
    pthread_mutex_lock(&self->iopub_lock);
    s_welcome_locked(self);
    if (self->slen > 0 &&
        self->env->now_us(self->env->arg) - self->sfirst_us >= TD_STREAM_WAIT_US)
        s_flush_locked(self);
    pthread_mutex_unlock(&self->iopub_lock);
    /* An interrupt stays pending until the request ends: one that landed before the backend had
     * started running its code (a no-op for it then) is delivered again. */
    if (self->raise_interrupt && atomic_load(&self->interrupted) && atomic_load(&self->running))
        self->raise_interrupt(self->raise_arg);
}

void td_kcore_interrupt(td_kcore_t *self)
{
    if (atomic_load(&self->running)) {
        atomic_store(&self->interrupted, 1);
        self->ops->interrupt(self->interp);
    }
}

int td_kcore_shutdown_requested(const td_kcore_t *self)
{
    return atomic_load(&self->shutdown);
}

/* Interrupts from a thread other than the backend's go through raise_interrupt (a SIGINT to
 * the main thread), because stopping Lua touches its call stack, which only its thread may do. */
static void s_interrupt_from_control(td_kcore_t *self)
{
    if (self->raise_interrupt)
        self->raise_interrupt(self->raise_arg);
    else
        td_kcore_interrupt(self);
}

void td_kcore_request_shutdown(td_kcore_t *self)
{
    atomic_store(&self->shutdown, 1);
    td_kcore_interrupt(self);
}

int td_kcore_stop_requested(const td_kcore_t *self)
{
    return atomic_load(&self->interrupted) || atomic_load(&self->shutdown);
}

/* ---- handlers ------------------------------------------------------------------------------- */

static void s_reply(td_kcore_t *self, const td_kcore_io_t *io, td_channel_t ch, const td_msg_t *req,
                    const char *type, json_t *content)
{
    td_msg_t *r = s_new_msg(self, type, req);
    td_msg_set_content_new(r, content);
    io->send(io->arg, ch, &r);
}

static int s_bool(json_t *content, const char *key, int dflt)
{
    json_t *v = json_object_get(content, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

static int s_int(json_t *content, const char *key, int dflt)
{
    json_t *v = json_object_get(content, key);
    return json_is_integer(v) ? (int)json_integer_value(v) : dflt;
}

static const char *s_str(json_t *content, const char *key)
{
    return json_string_value(json_object_get(content, key));
}

static json_t *s_user_expressions(td_kcore_t *self, json_t *exprs)
{
    json_t *out = json_object();
    const char *name;
    json_t *expr;
    json_object_foreach(exprs, name, expr)
    {
        if (json_is_string(expr))
            json_object_set_new(out, name, self->ops->evaluate(self->interp, json_string_value(expr)));
    }
    return out;
}

/* Takes every request already queued on shell into b. */
static void s_take_backlog(const td_kcore_io_t *io, struct s_backlog *b)
{
    td_msg_t *next = NULL;
    while (io->next_queued && io->next_queued(io->arg, &next) == 1) {
        if (b->n == b->cap) {
            size_t cap = b->cap ? 2 * b->cap : 16;
            td_msg_t **grown = realloc(b->items, cap * sizeof *grown);
            if (grown == NULL)
                abort();
            b->items = grown;
            b->cap = cap;
        }
        b->items[b->n++] = next;
    }
}

/* Hands the collected payload to a reply (new reference) and starts an empty one. */
static json_t *s_take_payload(td_kcore_t *self)
{
    json_t *p = self->payload;
    self->payload = json_array();
    return p;
}

static void s_execute(td_kcore_t *self, const td_kcore_io_t *io, td_channel_t ch, td_msg_t *req)
{
    json_t *c = td_msg_content(req);
    const char *code = s_str(c, "code");
    if (code == NULL) {
        s_reply(self, io, ch, req, "execute_reply",
                json_pack("{s:s, s:i, s:s, s:s, s:[]}", "status", "error", "execution_count",
                          self->execution_count, "ename", "BadRequest", "evalue",
                          "execute_request has no code", "traceback"));
        return;
    }
    int silent = s_bool(c, "silent", 0);
    int store = silent ? 0 : s_bool(c, "store_history", 1);
    if (store)
        self->execution_count++;
    int n = self->execution_count;
    self->silent = silent;
    self->allow_stdin = s_bool(c, "allow_stdin", 1);
    json_array_clear(self->payload);
    /* Running from before execute_input: a client may interrupt as soon as it sees it. */
    atomic_store(&self->interrupted, 0);
    atomic_store(&self->running, 1);
    if (!silent)
        s_publish(self, req, "execute_input", json_pack("{s:s, s:i}", "code", code,
                                                        "execution_count", n));
    td_exec_result_t res = {0};
    self->ops->execute(self->interp, code, n, &res);
    atomic_store(&self->running, 0);
    const char *text = NULL;
    json_t *reply;
    int abort_queue = 0;
    if (res.ok) {
        if (res.data && !silent) {
            text = json_string_value(json_object_get(res.data, "text/plain"));
            s_publish(self, req, "execute_result",
                      json_pack("{s:i, s:O, s:o}", "execution_count", n, "data", res.data,
                                "metadata", res.metadata ? json_incref(res.metadata) : json_object()));
        }
        json_t *ue = json_object_get(c, "user_expressions");
        reply = json_pack("{s:s, s:i, s:o, s:o}", "status", "ok", "execution_count", n, "payload",
                          s_take_payload(self), "user_expressions",
                          json_is_object(ue) ? s_user_expressions(self, ue) : json_object());
    } else {
        json_t *tb = res.traceback ? res.traceback : json_array();
        if (!silent)
            s_publish(self, req, "error", json_pack("{s:s, s:s, s:O}", "ename", res.ename ? res.ename : "Error",
                                                    "evalue", res.evalue ? res.evalue : "", "traceback", tb));
        reply = json_pack("{s:s, s:i, s:s, s:s, s:O, s:o, s:{}}", "status", "error",
                          "execution_count", n, "ename", res.ename ? res.ename : "Error", "evalue",
                          res.evalue ? res.evalue : "", "traceback", tb, "payload",
                          s_take_payload(self), "user_expressions");
        if (tb != res.traceback)
            json_decref(tb);
        abort_queue = s_bool(c, "stop_on_error", 1);
    }
    /* stop_on_error aborts what is queued now: a cell sent after the client saw this reply is
     * a new decision and runs. */
    if (abort_queue)
        s_take_backlog(io, &self->backlog);
    s_set_parent(self, req); /* flush output before the reply */
    s_reply(self, io, ch, req, "execute_reply", reply);
    if (store && self->history)
        td_history_add(self->history, n, code, text);
    td_exec_result_fini(&res);
    self->silent = 0;
}

static void s_abort(td_kcore_t *self, const td_kcore_io_t *io, td_msg_t *req)
{
    s_reply(self, io, TD_CH_SHELL, req, "execute_reply",
            json_pack("{s:s, s:i, s:s, s:s, s:[], s:[], s:{}}", "status", "error",
                      "execution_count", self->execution_count, "ename", "ExecutionAborted",
                      "evalue", "aborted: an earlier cell failed (stop_on_error)", "traceback",
                      "payload", "user_expressions"));
}

static void s_complete_like(td_kcore_t *self, const td_kcore_io_t *io, td_channel_t ch,
                            td_msg_t *req, const char *reply_type, json_t *body)
{
    if (body == NULL)
        body = json_object();
    /* is_complete_reply's status is the verdict itself (complete, incomplete, ...); every other
     * reply here reports "ok". */
    if (json_object_get(body, "status") == NULL)
        json_object_set_new(body, "status", json_string("ok"));
    s_reply(self, io, ch, req, reply_type, body);
}

static void s_history(td_kcore_t *self, const td_kcore_io_t *io, td_channel_t ch, td_msg_t *req)
{
    json_t *c = td_msg_content(req);
    const char *kind = s_str(c, "hist_access_type");
    int output = s_bool(c, "output", 0);
    json_t *h = NULL;
    if (self->history == NULL || kind == NULL)
        h = json_array();
    else if (strcmp(kind, "tail") == 0)
        h = td_history_tail(self->history, s_int(c, "n", 10), output);
    else if (strcmp(kind, "range") == 0)
        h = td_history_range(self->history, s_int(c, "session", 0), s_int(c, "start", 0),
                             s_int(c, "stop", 0), output);
    else if (strcmp(kind, "search") == 0)
        h = td_history_search(self->history, s_str(c, "pattern"), s_int(c, "n", 0),
                              s_bool(c, "unique", 0), output);
    else
        h = json_array();
    s_reply(self, io, ch, req, "history_reply", json_pack("{s:s, s:o}", "status", "ok", "history", h));
}

static void s_comm(td_kcore_t *self, const char *type, td_msg_t *req)
{
    json_t *c = td_msg_content(req);
    const char *id = s_str(c, "comm_id");
    json_t *data = json_object_get(c, "data");
    if (id == NULL)
        return;
    if (!json_is_object(data))
        data = NULL;
    if (strcmp(type, "comm_open") == 0) {
        const char *target = s_str(c, "target_name");
        if (target && self->ops->comm_open(self->interp, id, target, data) == 0) {
            json_object_set_new(self->comms, id, json_pack("{s:s}", "target_name", target));
        } else {
            TD_LOG(TD_LOG_INFO, "kernel.core", "comm_open for unknown target %s",
                   target ? target : "(none)");
            s_publish(self, req, "comm_close", json_pack("{s:s, s:{}}", "comm_id", id, "data"));
        }
    } else if (json_object_get(self->comms, id) == NULL) {
        TD_LOG(TD_LOG_INFO, "kernel.core", "%s for unknown comm", type);
    } else if (strcmp(type, "comm_msg") == 0) {
        self->ops->comm_msg(self->interp, id, data);
    } else {
        self->ops->comm_close(self->interp, id, data);
        json_object_del(self->comms, id);
    }
}

static void s_comm_info(td_kcore_t *self, const td_kcore_io_t *io, td_channel_t ch, td_msg_t *req)
{
    const char *target = s_str(td_msg_content(req), "target_name");
    json_t *comms = json_object();
    const char *id;
    json_t *info;
    json_object_foreach(self->comms, id, info)
    {
        if (target == NULL || strcmp(target, s_str(info, "target_name")) == 0)
            json_object_set(comms, id, info);
    }
    s_reply(self, io, ch, req, "comm_info_reply", json_pack("{s:s, s:o}", "status", "ok", "comms", comms));
}

static void s_shutdown(td_kcore_t *self, const td_kcore_io_t *io, td_channel_t ch, td_msg_t *req)
{
    int restart = s_bool(td_msg_content(req), "restart", 0);
    s_reply(self, io, ch, req, "shutdown_reply", json_pack("{s:s, s:b}", "status", "ok", "restart", restart));
    /* ipykernel republishes the reply so that every client learns of the shutdown. */
    s_publish(self, req, "shutdown_reply", json_pack("{s:s, s:b}", "status", "ok", "restart", restart));
    atomic_store(&self->shutdown, 1);
    if (ch == TD_CH_SHELL)
        td_kcore_interrupt(self);
    else
        s_interrupt_from_control(self);
}

/* Dispatches one request between busy and idle. Main-thread handlers touch the backend; control
 * handlers must not. */
static void s_dispatch(td_kcore_t *self, const td_kcore_io_t *io, td_channel_t ch, td_msg_t *req)
{
    const char *type = td_msg_type(req);
    int shell = ch == TD_CH_SHELL;
    if (strcmp(type, "kernel_info_request") == 0) {
        /* Shared, never modified: encoding only reads it, and jansson's reference counts are
         * atomic, so the control and shell threads may both hold it. */
        s_reply(self, io, ch, req, "kernel_info_reply", json_incref(self->kernel_info));
    } else if (strcmp(type, "shutdown_request") == 0) {
        s_shutdown(self, io, ch, req);
    } else if (strcmp(type, "interrupt_request") == 0) {
        if (shell)
            td_kcore_interrupt(self);
        else
            s_interrupt_from_control(self);
        s_reply(self, io, ch, req, "interrupt_reply", json_pack("{s:s}", "status", "ok"));
    } else if (!shell) {
        TD_LOG(TD_LOG_WARN, "kernel.core", "ignoring %s on control (msg_id %s)", type, td_msg_id(req));
    } else if (strcmp(type, "execute_request") == 0) {
        s_execute(self, io, ch, req);
    } else if (strcmp(type, "complete_request") == 0) {
        json_t *c = td_msg_content(req);
        const char *code = s_str(c, "code");
        s_complete_like(self, io, ch, req, "complete_reply",
                        self->ops->complete(self->interp, code ? code : "",
                                            s_int(c, "cursor_pos", code ? (int)strlen(code) : 0)));
    } else if (strcmp(type, "inspect_request") == 0) {
        json_t *c = td_msg_content(req);
        const char *code = s_str(c, "code");
        s_complete_like(self, io, ch, req, "inspect_reply",
                        self->ops->inspect(self->interp, code ? code : "",
                                           s_int(c, "cursor_pos", code ? (int)strlen(code) : 0),
                                           s_int(c, "detail_level", 0)));
    } else if (strcmp(type, "is_complete_request") == 0) {
        const char *code = s_str(td_msg_content(req), "code");
        s_complete_like(self, io, ch, req, "is_complete_reply",
                        self->ops->is_complete(self->interp, code ? code : ""));
    } else if (strcmp(type, "history_request") == 0) {
        s_history(self, io, ch, req);
    } else if (strcmp(type, "comm_info_request") == 0) {
        s_comm_info(self, io, ch, req);
    } else if (strcmp(type, "comm_open") == 0 || strcmp(type, "comm_msg") == 0 ||
               strcmp(type, "comm_close") == 0) {
        s_comm(self, type, req);
    } else {
        TD_LOG(TD_LOG_WARN, "kernel.core", "ignoring unknown message type %.64s (msg_id %.64s)",
               type, td_msg_id(req));
    }
}

static void s_handle_one(td_kcore_t *self, const td_kcore_io_t *io, td_channel_t ch, td_msg_t *req,
                         int abort)
{
    TD_LOG(TD_LOG_DEBUG, "kernel.core", "%s %s (msg_id %s)", td_channel_name(ch), td_msg_type(req),
           td_msg_id(req));
    s_status(self, req, "busy");
    if (ch == TD_CH_SHELL) {
        self->io = io;
        s_set_parent(self, req);
    }
    if (abort)
        s_abort(self, io, req);
    else
        s_dispatch(self, io, ch, req);
    if (ch == TD_CH_SHELL) {
        s_set_parent(self, NULL);
        self->io = NULL;
    }
    s_status(self, req, "idle");
}

void td_kcore_handle(td_kcore_t *self, const td_kcore_io_t *io, td_channel_t ch, td_msg_t **msg_p)
{
    td_msg_t *req = *msg_p;
    *msg_p = NULL;
    if (req == NULL)
        return;
    s_handle_one(self, io, ch, req, 0);
    td_msg_destroy(&req);
    /* The backlog is main-thread state: control requests (an interrupt_request, say) are handled
     * on the control thread while the main thread may be filling it. */
    if (ch != TD_CH_SHELL)
        return;
    /* stop_on_error: every execute in the backlog is aborted with its own busy/reply/idle; other
     * requests in it are still served, in order. Aborted cells add nothing to the backlog. */
    for (size_t i = 0; i < self->backlog.n; i++) {
        td_msg_t *next = self->backlog.items[i];
        self->backlog.items[i] = NULL;
        s_handle_one(self, io, ch, next, strcmp(td_msg_type(next), "execute_request") == 0);
        td_msg_destroy(&next);
    }
    self->backlog.n = 0;
}
