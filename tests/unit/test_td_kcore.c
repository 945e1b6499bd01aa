/* test_td_kcore.c: the dispatch core against a mock transport and a toy backend ("echo"), the way
 * xeus tests its core with xmock_server. Checks busy/idle wrapping and parents, the execute order,
 * execution_count rules, silent, stop_on_error aborts, stream batching and flush-before-display,
 * unknown types, comms and shutdown. */
#include <stdatomic.h>

#include "td_kcore.h"
#include "test.h"

/* ---- a toy backend: the code is a command ---------------------------------------------------- */

struct td_interp {
    td_interp_host_t host;
};

static td_interp_t *s_echo_create(const td_interp_host_t *host)
{
    td_interp_t *self = calloc(1, sizeof *self);
    self->host = *host;
    return self;
}

static void s_echo_destroy(td_interp_t **p)
{
    free(*p);
    *p = NULL;
}

static json_t *s_echo_info(td_interp_t *self)
{
    return json_pack("{s:s, s:s}", "name", "echo", "file_extension", ".echo");
}

static const char *s_echo_banner(td_interp_t *self)
{
    return "echo";
}

static void s_echo_execute(td_interp_t *self, const char *code, int n, td_exec_result_t *out)
{
    out->ok = 1;
    if (strncmp(code, "out:", 4) == 0) {
        self->host.stream(self->host.arg, "stdout", code + 4, strlen(code + 4));
    } else if (strcmp(code, "many") == 0) {
        for (int i = 0; i < 1000; i++)
            self->host.stream(self->host.arg, "stdout", "x\n", 2);
    } else if (strcmp(code, "mixed") == 0) {
        self->host.stream(self->host.arg, "stdout", "a", 1);
        self->host.display(self->host.arg, json_pack("{s:s}", "text/html", "<b>"), NULL, NULL, 0);
        self->host.stream(self->host.arg, "stdout", "c", 1);
        self->host.stream(self->host.arg, "stderr", "e", 1);
    } else if (strncmp(code, "result:", 7) == 0) {
        out->data = json_pack("{s:s}", "text/plain", code + 7);
    } else if (strcmp(code, "input") == 0) {
        char *v = NULL;
        int rc = self->host.input(self->host.arg, "name?", 0, &v);
        out->data = json_pack("{s:s}", "text/plain", rc == 0 ? v : "refused");
        free(v);
    } else if (strcmp(code, "fail") == 0) {
        out->ok = 0;
        out->ename = strdup("EchoError");
        out->evalue = strdup("failed");
        out->traceback = json_pack("[s]", "failed at line 1");
    }
}

static json_t *s_echo_evaluate(td_interp_t *self, const char *expr)
{
    return json_pack("{s:s, s:{s:s}, s:{}}", "status", "ok", "data", "text/plain", expr, "metadata");
}

static json_t *s_echo_complete(td_interp_t *self, const char *code, int pos)
{
    return json_pack("{s:[s], s:i, s:i, s:{}}", "matches", "echo", "cursor_start", 0, "cursor_end",
                     pos, "metadata");
}

static json_t *s_echo_inspect(td_interp_t *self, const char *code, int pos, int level)
{
    return json_pack("{s:b, s:{}, s:{}}", "found", 0, "data", "metadata");
}

static json_t *s_echo_is_complete(td_interp_t *self, const char *code)
{
    return json_pack("{s:s, s:s}", "status", "incomplete", "indent", "  ");
}

static void s_echo_interrupt(td_interp_t *self)
{
}

static int s_echo_comm_open(td_interp_t *self, const char *id, const char *target, json_t *data)
{
    return strcmp(target, "known") == 0 ? 0 : TD_ENOENT;
}

static void s_echo_comm_msg(td_interp_t *self, const char *id, json_t *data)
{
    self->host.comm_send(self->host.arg, id, json_incref(data), 0);
}

static void s_echo_comm_close(td_interp_t *self, const char *id, json_t *data)
{
}

static const td_interp_ops_t s_echo = {
    "echo",          s_echo_create,   s_echo_destroy,     s_echo_info,      s_echo_banner,
    s_echo_execute,  s_echo_evaluate, s_echo_complete,    s_echo_inspect,   s_echo_is_complete,
    s_echo_interrupt, s_echo_comm_open, s_echo_comm_msg, s_echo_comm_close};

/* ---- a mock transport -------------------------------------------------------------------------- */

typedef struct {
    json_t *sent;      /* [[channel, msg_type, content, parent_msg_id], ...] in send order */
    td_msg_t *queue[8];
    int nqueue, qhead;
    int64_t now;
} s_mock_t;

static s_mock_t s_mock;

static int64_t s_now(void *arg)
{
    return s_mock.now;
}

static void s_rand(void *arg, uint8_t *out, size_t n)
{
    static uint32_t x = 7;
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)((x = x * 1103515245u + 12345u) >> 16);
}

static const td_env_t s_env = {s_now, s_rand, NULL};

static void s_record(const char *ch, td_msg_t **m)
{
    const char *pid = json_string_value(json_object_get(td_msg_parent(*m), "msg_id"));
    json_array_append_new(s_mock.sent, json_pack("[s, s, O, s?]", ch, td_msg_type(*m),
                                                 td_msg_content(*m), pid));
    td_msg_destroy(m);
}

static void s_pub_send(void *arg, td_msg_t **m)
{
    s_record("iopub", m);
}

static void s_io_send(void *arg, td_channel_t ch, td_msg_t **m)
{
    s_record(td_channel_name(ch), m);
}

static int s_io_next(void *arg, td_msg_t **out)
{
    if (s_mock.qhead == s_mock.nqueue)
        return 0;
    *out = s_mock.queue[s_mock.qhead++];
    return 1;
}

static int s_io_input(void *arg, td_msg_t **req, char **value)
{
    s_record("stdin", req);
    *value = strdup("bob");
    return 0;
}

static const td_kcore_pub_t s_pub = {s_pub_send, NULL, NULL};
static const td_kcore_io_t s_io = {s_io_send, s_io_next, s_io_input, NULL};

static td_msg_t *s_req(const char *type, json_t *content)
{
    td_msg_t *m = td_msg_new(&s_env, "client", "tester", type, NULL);
    td_msg_set_content_new(m, content ? content : json_object());
    return m;
}

/* Sends one request on shell and returns the recorded traffic (borrowed until the next call). */
static json_t *s_run(td_kcore_t *core, td_msg_t *req, char *id_out)
{
    json_array_clear(s_mock.sent);
    if (id_out)
        strcpy(id_out, td_msg_id(req));
    td_kcore_handle(core, &s_io, TD_CH_SHELL, &req);
    TD_ASSERT(req == NULL);
    return s_mock.sent;
}

static const char *s_at(json_t *sent, size_t i, int field)
{
    return json_string_value(json_array_get(json_array_get(sent, i), (size_t)field));
}

static json_t *s_content(json_t *sent, size_t i)
{
    return json_array_get(json_array_get(sent, i), 2);
}

static void s_expect_types(json_t *sent, const char *const *types, size_t n)
{
    if (json_array_size(sent) != n) {
        char *dump = json_dumps(sent, 0);
        TD_FAIL("expected %zu messages, got %s", n, dump);
    }
    for (size_t i = 0; i < n; i++) {
        char want[64];
        snprintf(want, sizeof want, "%s", types[i]);
        char got[128];
        snprintf(got, sizeof got, "%s:%s", s_at(sent, i, 0), s_at(sent, i, 1));
        TD_ASSERT_STR_EQ(got, want);
    }
}

static json_t *s_exec(const char *code)
{
    return json_pack("{s:s, s:b, s:b, s:{}, s:b, s:b}", "code", code, "silent", 0, "store_history",
                     1, "user_expressions", "allow_stdin", 1, "stop_on_error", 1);
}

void test_td_kcore(void)
{
    s_mock.sent = json_array();
    td_kcore_config_t cfg = {&s_env, &s_echo, &s_pub, NULL, "kernel", 0, NULL, NULL};
    td_kcore_t *core = td_kcore_new(&cfg);
    TD_ASSERT(core != NULL);
    char id[64];

    /* kernel_info: busy, reply, idle, all parented to the request. */
    json_t *sent = s_run(core, s_req("kernel_info_request", NULL), id);
    static const char *ki[] = {"iopub:status", "shell:kernel_info_reply", "iopub:status"};
    s_expect_types(sent, ki, 3);
    for (size_t i = 0; i < 3; i++)
        TD_ASSERT_STR_EQ(s_at(sent, i, 3), id);
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(s_content(sent, 1), "protocol_version")), "5.4");
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(s_content(sent, 0), "execution_state")), "busy");
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(s_content(sent, 2), "execution_state")), "idle");

    /* execute: busy → execute_input → stream → execute_result → reply → idle. */
    json_t *c = s_exec("out:hello\n");
    sent = s_run(core, s_req("execute_request", c), id);
    static const char *ex[] = {"iopub:status", "iopub:execute_input", "iopub:stream",
                               "shell:execute_reply", "iopub:status"};
    s_expect_types(sent, ex, 5);
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(s_content(sent, 2), "text")), "hello\n");
    TD_ASSERT_EQ(json_integer_value(json_object_get(s_content(sent, 3), "execution_count")), 1);
    TD_ASSERT_STR_EQ(s_at(sent, 2, 3), id);

    /* A result, and user_expressions evaluated on success. */
    c = s_exec("result:42");
    json_object_set_new(c, "user_expressions", json_pack("{s:s}", "x", "1+1"));
    sent = s_run(core, s_req("execute_request", c), NULL);
    static const char *res[] = {"iopub:status", "iopub:execute_input", "iopub:execute_result",
                                "shell:execute_reply", "iopub:status"};
    s_expect_types(sent, res, 5);
    TD_ASSERT_EQ(json_integer_value(json_object_get(s_content(sent, 2), "execution_count")), 2);
    TD_ASSERT(json_object_get(json_object_get(s_content(sent, 3), "user_expressions"), "x"));

    /* silent: nothing but busy, reply, idle; the counter does not move. */
    c = s_exec("out:hidden");
    json_object_set_new(c, "silent", json_true());
    sent = s_run(core, s_req("execute_request", c), NULL);
    static const char *sil[] = {"iopub:status", "shell:execute_reply", "iopub:status"};
    s_expect_types(sent, sil, 3);
    TD_ASSERT_EQ(json_integer_value(json_object_get(s_content(sent, 1), "execution_count")), 2);

    /* store_history false reports the current count without incrementing. */
    c = s_exec("result:1");
    json_object_set_new(c, "store_history", json_false());
    sent = s_run(core, s_req("execute_request", c), NULL);
    TD_ASSERT_EQ(json_integer_value(json_object_get(s_content(sent, 3), "execution_count")), 2);

    /* Batching: 1000 writes become one stream message; a display flushes first. */
    sent = s_run(core, s_req("execute_request", s_exec("many")), NULL);
    TD_ASSERT_EQ(json_array_size(sent), 5);
    TD_ASSERT_EQ(strlen(json_string_value(json_object_get(s_content(sent, 2), "text"))), 2000);
    sent = s_run(core, s_req("execute_request", s_exec("mixed")), NULL);
    static const char *mix[] = {"iopub:status", "iopub:execute_input", "iopub:stream",
                                "iopub:display_data", "iopub:stream", "iopub:stream",
                                "shell:execute_reply", "iopub:status"};
    s_expect_types(sent, mix, 8);
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(s_content(sent, 4), "name")), "stdout");
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(s_content(sent, 5), "name")), "stderr");

    /* input: the request goes to stdin parented to the execute; the value comes back. */
    sent = s_run(core, s_req("execute_request", s_exec("input")), id);
    TD_ASSERT_STR_EQ(s_at(sent, 2, 0), "stdin");
    TD_ASSERT_STR_EQ(s_at(sent, 2, 1), "input_request");
    TD_ASSERT_STR_EQ(s_at(sent, 2, 3), id);
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(json_object_get(s_content(sent, 3), "data"),
                                                       "text/plain")),
                     "bob");
    /* ... and without allow_stdin the backend is refused. */
    c = s_exec("input");
    json_object_set_new(c, "allow_stdin", json_false());
    sent = s_run(core, s_req("execute_request", c), NULL);
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(json_object_get(s_content(sent, 2), "data"),
                                                       "text/plain")),
                     "refused");

    /* stop_on_error: queued executes are aborted with their own busy/idle; other requests run. */
    s_mock.queue[0] = s_req("execute_request", s_exec("out:never"));
    s_mock.queue[1] = s_req("kernel_info_request", NULL);
    s_mock.queue[2] = s_req("execute_request", s_exec("out:never either"));
    s_mock.nqueue = 3;
    s_mock.qhead = 0;
    sent = s_run(core, s_req("execute_request", s_exec("fail")), NULL);
    static const char *ab[] = {"iopub:status", "iopub:execute_input", "iopub:error",
                               "shell:execute_reply", "iopub:status",
                               "iopub:status", "shell:execute_reply", "iopub:status",
                               "iopub:status", "shell:kernel_info_reply", "iopub:status",
                               "iopub:status", "shell:execute_reply", "iopub:status"};
    s_expect_types(sent, ab, 14);
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(s_content(sent, 3), "status")), "error");
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(s_content(sent, 6), "ename")), "ExecutionAborted");
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(s_content(sent, 12), "ename")), "ExecutionAborted");
    s_mock.nqueue = s_mock.qhead = 0;

    /* stop_on_error false: the queue is left alone. */
    s_mock.queue[0] = s_req("execute_request", s_exec("out:runs"));
    s_mock.nqueue = 1;
    c = s_exec("fail");
    json_object_set_new(c, "stop_on_error", json_false());
    sent = s_run(core, s_req("execute_request", c), NULL);
    TD_ASSERT_EQ(json_array_size(sent), 5);
    TD_ASSERT_EQ(s_mock.qhead, 0);
    td_msg_destroy(&s_mock.queue[0]);
    s_mock.nqueue = 0;

    /* Unknown types are ignored but still wrapped in busy/idle. */
    sent = s_run(core, s_req("no_such_request", NULL), NULL);
    static const char *unk[] = {"iopub:status", "iopub:status"};
    s_expect_types(sent, unk, 2);

    /* Comms: an unknown target is closed at once; a known one echoes through the backend. */
    sent = s_run(core, s_req("comm_open", json_pack("{s:s, s:s, s:{}}", "comm_id", "c1",
                                                    "target_name", "nope", "data")), NULL);
    static const char *cc[] = {"iopub:status", "iopub:comm_close", "iopub:status"};
    s_expect_types(sent, cc, 3);
    s_run(core, s_req("comm_open", json_pack("{s:s, s:s, s:{}}", "comm_id", "c2", "target_name",
                                             "known", "data")), NULL);
    sent = s_run(core, s_req("comm_info_request", NULL), NULL);
    TD_ASSERT(json_object_get(json_object_get(s_content(sent, 1), "comms"), "c2") != NULL);
    TD_ASSERT(json_object_get(json_object_get(s_content(sent, 1), "comms"), "c1") == NULL);
    sent = s_run(core, s_req("comm_msg", json_pack("{s:s, s:{s:i}}", "comm_id", "c2", "data", "v", 3)), NULL);
    static const char *cm[] = {"iopub:status", "iopub:comm_msg", "iopub:status"};
    s_expect_types(sent, cm, 3);

    /* Completion gets a status; shutdown replies, republishes and sets the flag. */
    sent = s_run(core, s_req("complete_request", json_pack("{s:s, s:i}", "code", "ec", "cursor_pos", 2)), NULL);
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(s_content(sent, 1), "status")), "ok");
    /* is_complete keeps the backend's verdict as its status. */
    sent = s_run(core, s_req("is_complete_request", json_pack("{s:s}", "code", "for")), NULL);
    TD_ASSERT_STR_EQ(s_at(sent, 1, 1), "is_complete_reply");
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(s_content(sent, 1), "status")), "incomplete");
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(s_content(sent, 1), "indent")), "  ");
    TD_ASSERT_EQ(td_kcore_shutdown_requested(core), 0);
    sent = s_run(core, s_req("shutdown_request", json_pack("{s:b}", "restart", 1)), NULL);
    static const char *sd[] = {"iopub:status", "shell:shutdown_reply", "iopub:shutdown_reply",
                               "iopub:status"};
    s_expect_types(sent, sd, 4);
    TD_ASSERT(json_is_true(json_object_get(s_content(sent, 1), "restart")));
    TD_ASSERT_EQ(td_kcore_shutdown_requested(core), 1);

    td_kcore_destroy(&core);
    TD_ASSERT(core == NULL);
    json_decref(s_mock.sent);
}
