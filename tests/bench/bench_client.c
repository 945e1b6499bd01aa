/* bench_client.c: a minimal Jupyter client in C for latency benchmarks, so the figures measure the
 * kernel and not the client. It connects to a running kernel from its connection file and prints
 * JSON with per-request round trips in microseconds:
 *   bench_client CONNECTION_FILE [ITERATIONS]
 *   {"kernel_info_reply": [...], "execute_reply": [...], "execute_idle": [...]}
 * execute_reply is request → execute_reply on shell; execute_idle is request → status idle (with
 * that request as parent) on IOPub; hb_echo is a heartbeat ping, the transport's own floor. Works
 * with any kernel (tandem-lua, ipykernel). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <zmq.h>

#include "td/td.h"

static int64_t s_now_us(void *arg)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static double s_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void s_random(void *arg, uint8_t *out, size_t n)
{
    if (getrandom(out, n, 0) != (ssize_t)n)
        abort();
}

static const td_env_t s_env = {s_now_us, s_random, NULL};
static td_hmac_t *s_key;

static void s_send(void *sock, td_msg_t **m)
{
    td_frames_t f;
    if (td_wire_encode(*m, s_key, &f) != 0)
        abort();
    for (size_t i = 0; i < f.n; i++)
        zmq_send(sock, f.data[i], f.len[i], i + 1 < f.n ? ZMQ_SNDMORE : 0);
    td_frames_fini(&f);
    td_msg_destroy(m);
}

/* Receives one message; returns NULL on timeout. */
static td_msg_t *s_recv(void *sock, int timeout_ms)
{
    zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, timeout_ms) <= 0)
        return NULL;
    zmq_msg_t parts[64];
    td_bytes_t views[64];
    size_t n = 0;
    int more = 1;
    while (more) {
        zmq_msg_init(&parts[n]);
        zmq_msg_recv(&parts[n], sock, 0);
        more = zmq_msg_more(&parts[n]);
        views[n] = (td_bytes_t){zmq_msg_data(&parts[n]), zmq_msg_size(&parts[n])};
        if (n < 63)
            n++;
    }
    td_msg_t *m = NULL;
    td_wire_decode(views, n, s_key, &m, NULL);
    for (size_t i = 0; i < n; i++)
        zmq_msg_close(&parts[i]);
    return m;
}

static int s_is_idle_for(const td_msg_t *m, const char *parent)
{
    const char *pid = json_string_value(json_object_get(td_msg_parent(m), "msg_id"));
    const char *st = json_string_value(json_object_get(td_msg_content(m), "execution_state"));
    return strcmp(td_msg_type(m), "status") == 0 && pid && strcmp(pid, parent) == 0 && st &&
           strcmp(st, "idle") == 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_client CONNECTION_FILE [ITERATIONS]\n");
        return 2;
    }
    int iters = argc > 2 ? atoi(argv[2]) : 500;
    FILE *f = fopen(argv[1], "rb");
    char text[8192];
    size_t len = f ? fread(text, 1, sizeof text, f) : 0;
    if (f)
        fclose(f);
    td_connfile_t cf;
    if (td_connfile_decode(text, len, &cf, NULL) != 0) {
        fprintf(stderr, "bad connection file\n");
        return 2;
    }
    s_key = td_hmac_new(cf.signature_scheme, (const uint8_t *)cf.key, strlen(cf.key));
    void *ctx = zmq_ctx_new();
    void *shell = zmq_socket(ctx, ZMQ_DEALER), *sub = zmq_socket(ctx, ZMQ_SUB);
    char ep[300];
    td_connfile_endpoint(&cf, TD_CH_SHELL, ep, sizeof ep);
    zmq_connect(shell, ep);
    td_connfile_endpoint(&cf, TD_CH_IOPUB, ep, sizeof ep);
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0);
    zmq_connect(sub, ep);

    /* Ready: a kernel_info reply, then IOPub flowing (the jupyter_client rule). */
    for (int ready = 0; !ready;) {
        td_msg_t *req = td_msg_new(&s_env, "bench", "bench", "kernel_info_request", NULL);
        s_send(shell, &req);
        td_msg_t *r = s_recv(shell, 1000);
        if (r == NULL)
            continue;
        td_msg_destroy(&r);
        while ((r = s_recv(sub, 200)) != NULL) {
            ready = 1;
            td_msg_destroy(&r);
        }
    }
    const char *series[4] = {"kernel_info_reply", "execute_reply", "execute_idle", "hb_echo"};
    json_t *out = json_object();
    for (int s = 0; s < 4; s++)
        json_object_set_new(out, series[s], json_array());
    for (int i = 0; i < iters + 50; i++) {
        int keep = i >= 50; /* warm-up */
        td_msg_t *req = td_msg_new(&s_env, "bench", "bench", "kernel_info_request", NULL);
        char id[64];
        snprintf(id, sizeof id, "%s", td_msg_id(req));
        double t0 = s_mono_us();
        s_send(shell, &req);
        td_msg_t *r = s_recv(shell, 10000);
        double t1 = s_mono_us();
        td_msg_destroy(&r);
        while ((r = s_recv(sub, 10000)) != NULL) { /* wait for this request's idle */
            int idle = s_is_idle_for(r, id);
            td_msg_destroy(&r);
            if (idle)
                break;
        }
        if (keep)
            json_array_append_new(json_object_get(out, series[0]), json_real(t1 - t0));

        req = td_msg_new(&s_env, "bench", "bench", "execute_request", NULL);
        td_msg_set_content_new(req, json_pack("{s:s, s:b, s:b, s:{}, s:b, s:b}", "code", "1",
                                              "silent", 0, "store_history", 1, "user_expressions",
                                              "allow_stdin", 0, "stop_on_error", 1));
        snprintf(id, sizeof id, "%s", td_msg_id(req));
        t0 = s_mono_us();
        s_send(shell, &req);
        r = s_recv(shell, 10000);
        t1 = s_mono_us();
        td_msg_destroy(&r);
        double t2 = t1;
        while ((r = s_recv(sub, 10000)) != NULL) {
            int idle = s_is_idle_for(r, id);
            td_msg_destroy(&r);
            if (idle) {
                t2 = s_mono_us();
                break;
            }
        }
        if (keep) {
            json_array_append_new(json_object_get(out, series[1]), json_real(t1 - t0));
            json_array_append_new(json_object_get(out, series[2]), json_real(t2 - t0));
        }
    }
    void *hb = zmq_socket(ctx, ZMQ_REQ);
    td_connfile_endpoint(&cf, TD_CH_HB, ep, sizeof ep);
    zmq_connect(hb, ep);
    for (int i = 0; i < iters + 50; i++) {
        char pong[16];
        double t0 = s_mono_us();
        zmq_send(hb, "ping", 4, 0);
        zmq_recv(hb, pong, sizeof pong, 0);
        if (i >= 50)
            json_array_append_new(json_object_get(out, series[3]), json_real(s_mono_us() - t0));
    }
    zmq_close(hb);
    json_dumpf(out, stdout, JSON_COMPACT);
    putchar('\n');
    json_decref(out);
    zmq_close(shell);
    zmq_close(sub);
    zmq_ctx_term(ctx);
    td_hmac_destroy(&s_key);
    td_connfile_fini(&cf);
    return 0;
}
