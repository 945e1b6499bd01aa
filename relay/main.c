/* main.c: tandem-relay, a Jupyter Server for kernels shared among many users. This file is the
 * thin shell: command line and config file, the state directory, the token, the uv loop with
 * libwebsockets and ZMQ on it, signals, and an orderly exit (kernels shut down, lws context torn
 * down by a timer that calls lws_context_destroy until lws nulls it, then the loop drains). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "td_log.h"
#include "td_relay.h"
#include "td_acl.h"
#include "td_comments.h"
#include "td_cli.h"
#include "td_contents.h"
#include "td_store.h"

#ifndef TD_PREFIX_SHARE
#define TD_PREFIX_SHARE "/usr/local/share/jupyter"
#endif

int64_t td_relay_now(td_relay_t *r)
{
    return td__now_us(NULL);
}

td_kspecs_t *td_relay_kspecs(td_relay_t *r)
{
    return td_kspecs_new((const char *const *)r->data_dirs, r->ndata_dirs);
}

static void s_usage(FILE *f)
{
    fprintf(f, "usage: tandem-relay [--root DIR] [--ip ADDR] [--port N] [--token TOKEN]\n"
               "                    [--users FILE] [--config FILE] [--allow-origin ORIGIN]\n"
               "                    [--log-level debug|info|warn|error] [--db FILE]\n"
               "                    [--heartbeat-interval S] [--heartbeat-timeout S]\n"
               "                    [--cull-idle-timeout S] [--cull-interval S] [--cull-connected]\n"
               "                    [--cull-busy] [--iopub-msg-rate-limit N]\n"
               "                    [--iopub-data-rate-limit N] [--rate-limit-window S]\n"
               "                    [--no-rate-limit] [--room-unload-delay S]\n"
               "                    [--autosave-delay S] [--file-poll-interval S]\n"
               "                    [--embed-comments]\n");
}

static int s_mkdir(const char *path)
{
    if (mkdir(path, 0700) == 0 || errno == EEXIST)
        return 0;
    fprintf(stderr, "tandem-relay: cannot create %s: %s\n", path, strerror(errno));
    return -1;
}

/* Loads the secret that signs login cookies from STATE/cookie_secret, creating it (32 random
 * bytes, mode 0600, written to a temporary file and renamed into place) when it is missing or not
 * 32 bytes (a crash mid-write), so cookies outlive restarts as jupyter_server's do. */
static int s_cookie_secret(td_relay_t *r)
{
    char path[PATH_MAX + 32], tmp[PATH_MAX + 32];
    uint8_t secret[33];
    snprintf(path, sizeof path, "%s/cookie_secret", r->state_dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    ssize_t n = fd >= 0 ? read(fd, secret, sizeof secret) : -1;
    if (fd >= 0)
        close(fd);
    if (n != 32) {
        td__random(NULL, secret, 32);
        snprintf(tmp, sizeof tmp, "%s/cookie_secret.XXXXXX", r->state_dir);
        fd = mkstemp(tmp); /* mode 0600 */
        int ok = fd >= 0 && write(fd, secret, 32) == 32 && fsync(fd) == 0;
        if (fd >= 0)
            close(fd);
        ok = ok && rename(tmp, path) == 0;
        int dfd = ok ? open(r->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
        ok = ok && dfd >= 0 && fsync(dfd) == 0;
        if (dfd >= 0)
            close(dfd);
        if (!ok) {
            unlink(tmp);
            fprintf(stderr, "tandem-relay: cannot create %s: %s\n", path, strerror(errno));
            return -1;
        }
    }
    int rc = td_auth_set_cookie_secret(r->auth, secret, 32);
    memset(secret, 0, sizeof secret);
    if (rc != 0)
        fprintf(stderr, "tandem-relay: out of memory\n");
    return rc;
}

/* Numeric tunables: name in --config and as --flag-with-dashes, and the default. NAN = unset. */
enum {
    N_HB_INTERVAL, N_HB_TIMEOUT, N_CULL_IDLE, N_CULL_INTERVAL, N_CULL_CONNECTED, N_CULL_BUSY,
    N_MSG_RATE, N_DATA_RATE, N_RATE_WINDOW, N_ROOM_UNLOAD, N_AUTOSAVE, N_FILE_POLL,
    N_EMBED_COMMENTS, N_COUNT
};
static const struct {
    const char *key, *flag;
    double dflt;
} s_num[N_COUNT] = {
    {"heartbeat_interval", "--heartbeat-interval", 3},
    {"heartbeat_timeout", "--heartbeat-timeout", 30},
    {"cull_idle_timeout", "--cull-idle-timeout", 0},
    {"cull_interval", "--cull-interval", 300},
    {"cull_connected", "--cull-connected", 0},
    {"cull_busy", "--cull-busy", 0},
    {"iopub_msg_rate_limit", "--iopub-msg-rate-limit", 1000},
    {"iopub_data_rate_limit", "--iopub-data-rate-limit", 1000000},
    {"rate_limit_window", "--rate-limit-window", 3},
    {"room_unload_delay", "--room-unload-delay", 60},
    {"autosave_delay", "--autosave-delay", 1},
    {"file_poll_interval", "--file-poll-interval", 1},
    {"embed_comments", "--embed-comments", 0},
};

typedef struct {
    const char *root, *ip, *token, *users, *config, *allow_origin, *log_level, *db;
    int port;
    double offline_grace_s;
    long long max_ws_message, max_send_queue, max_offline_bytes;
    double num[N_COUNT];
} s_opts_t;

/* Reads --config FILE: a JSON object whose keys are the long options (and a few tunables). The
 * command line wins over the file. */
static int s_load_config(s_opts_t *o, json_t **keep)
{
    size_t len;
    char *text = td__read_file(o->config, 1 << 20, &len);
    json_t *cfg = text ? json_loadb(text, len, 0, NULL) : NULL;
    free(text);
    if (!json_is_object(cfg)) {
        fprintf(stderr, "tandem-relay: %s is not a JSON object\n", o->config);
        json_decref(cfg);
        return -1;
    }
    const char *s;
    if (!o->root && (s = json_string_value(json_object_get(cfg, "root"))))
        o->root = s;
    if (!o->ip && (s = json_string_value(json_object_get(cfg, "ip"))))
        o->ip = s;
    if (!o->token && (s = json_string_value(json_object_get(cfg, "token"))))
        o->token = s;
    if (!o->users && (s = json_string_value(json_object_get(cfg, "users"))))
        o->users = s;
    if (!o->allow_origin && (s = json_string_value(json_object_get(cfg, "allow_origin"))))
        o->allow_origin = s;
    if (!o->log_level && (s = json_string_value(json_object_get(cfg, "log_level"))))
        o->log_level = s;
    json_t *v;
    if (o->port < 0 && json_is_integer(v = json_object_get(cfg, "port")))
        o->port = (int)json_integer_value(v);
    if (json_is_number(v = json_object_get(cfg, "offline_grace_seconds")))
        o->offline_grace_s = json_number_value(v);
    if (json_is_integer(v = json_object_get(cfg, "max_ws_message")))
        o->max_ws_message = json_integer_value(v);
    if (json_is_integer(v = json_object_get(cfg, "max_send_queue")))
        o->max_send_queue = json_integer_value(v);
    if (json_is_integer(v = json_object_get(cfg, "max_offline_bytes")))
        o->max_offline_bytes = json_integer_value(v);
    if (!o->db && (s = json_string_value(json_object_get(cfg, "db"))))
        o->db = s;
    for (int i = 0; i < N_COUNT; i++) {
        v = json_object_get(cfg, s_num[i].key);
        if (isnan(o->num[i]) && (json_is_number(v) || json_is_boolean(v)))
            o->num[i] = json_is_boolean(v) ? json_is_true(v) : json_number_value(v);
    }
    *keep = cfg;
    return 0;
}

/* ---- shutdown ------------------------------------------------------------------------------- */

/* Opens the store (--db / "db", default ROOT/.tandem/tandem.sqlite), imports --users into it,
 * and loads every stored token digest into the authenticator. */
static int s_add_token(const uint8_t digest[32], const td_user_t *u, void *arg)
{
    return td_auth_add_digest(arg, digest, u);
}

/* Adds a stored token the authenticator does not know yet (users added while running). Tokens
 * removed from the store stay valid until a restart: identities are borrowed by open sockets. */
static int s_add_new_token(const uint8_t digest[32], const td_user_t *u, void *arg)
{
    const uint8_t *d;
    for (size_t i = 0; td_auth_entry(arg, i, &d); i++)
        if (d && memcmp(d, digest, 32) == 0)
            return 0;
    return td_auth_add_digest(arg, digest, u);
}

static int s_open_store(td_relay_t *r, const s_opts_t *o)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/tandem.sqlite", r->state_dir);
    td_error_t err = {0};
    r->store = td_store_open(o->db ? o->db : path, &err);
    if (!r->store) {
        fprintf(stderr, "tandem-relay: store %s: %s\n", o->db ? o->db : path, err.text);
        return -1;
    }
    if (o->users) {
        size_t len;
        char *text = td__read_file(o->users, 4 << 20, &len);
        td_auth_t *tmp = td_auth_new("placeholder: entry 0 is not imported");
        if (!text || !tmp || td_auth_load_users(tmp, text, len, &err) != 0) {
            fprintf(stderr, "tandem-relay: users file %s: %s\n", o->users,
                    text ? err.text : strerror(errno));
            free(text);
            td_auth_destroy(&tmp);
            return -1;
        }
        free(text);
        int rc = 0;
        for (size_t i = 1; rc == 0 && i < td_auth_count(tmp); i++) {
            const uint8_t *digest;
            const td_user_t *u = td_auth_entry(tmp, i, &digest);
            rc = td_store_user_put(r->store, u);
            if (rc == 0)
                rc = td_store_token_put(r->store, digest, u->username);
        }
        TD_LOG(TD_LOG_INFO, "relay", "imported %zu users into the store", td_auth_count(tmp) - 1);
        td_auth_destroy(&tmp);
        if (rc != 0) {
            fprintf(stderr, "tandem-relay: cannot import %s into the store\n", o->users);
            return -1;
        }
    }
    if (td_store_tokens_foreach(r->store, s_add_token, r->auth) != 0) {
        fprintf(stderr, "tandem-relay: cannot read users from the store\n");
        return -1;
    }
    return 0;
}

static uv_signal_t s_sigterm, s_sigint;
static uv_timer_t s_tick, s_cull, s_grants, s_checkpoint;
static td_relay_t s_relay;

static void s_on_tick(uv_timer_t *t)
{
    td_relay_t *r = &s_relay;
    if (r->kernels)
        return; /* kernels are still going; their kill timers bound this */
    if (r->ctx) {
        lws_context_destroy(r->ctx); /* lws nulls r->ctx (pcontext) when teardown is complete */
        return;
    }
    uv_timer_stop(t);
    td_http_stop(r);
    uv_close((uv_handle_t *)&s_tick, NULL);
    uv_close((uv_handle_t *)&s_cull, NULL);
    uv_close((uv_handle_t *)&s_grants, NULL);
    uv_close((uv_handle_t *)&s_checkpoint, NULL);
    uv_close((uv_handle_t *)&s_sigterm, NULL);
    uv_close((uv_handle_t *)&s_sigint, NULL);
}

/* Grants and users may change from `tandem-relay grant|users` in another process: re-read them
 * when the store says another connection wrote. */
static void s_on_grants(uv_timer_t *t)
{
    if (td_acl_refresh(s_relay.acl) == 1) {
        td_store_tokens_foreach(s_relay.store, s_add_new_token, s_relay.auth);
        td_http_access_changed(&s_relay);
    }
}

/* The store's log reaches the database here, off the paths that wait for a commit. */
static void s_on_checkpoint(uv_timer_t *t)
{
    td_store_checkpoint(s_relay.store);
}

static void s_on_cull(uv_timer_t *t)
{
    td_kernel_cull(&s_relay);
}

static void s_on_signal(uv_signal_t *h, int sig)
{
    td_relay_t *r = &s_relay;
    if (r->shutting_down)
        return;
    TD_LOG(TD_LOG_INFO, "relay", "signal %d: shutting down", sig);
    r->shutting_down = 1;
    uv_timer_stop(&s_cull);
    uv_timer_stop(&s_grants);
    uv_timer_stop(&s_checkpoint);
    td_rooms_shutdown(r);
    td_kernel_shutdown_all(r);
    uv_timer_start(&s_tick, s_on_tick, 0, 50);
}

int main(int argc, char **argv)
{
    if (argc > 1 && td_cli_is_subcommand(argv[1]))
        return td_cli_main(argc, argv);
    /* Blocks of 1 MiB and more (a notebook's bytes, its document update, their frames) are mapped
     * and go back to the system when freed. glibc would raise the threshold after the first such
     * free and keep the next ones in the heap, where an unloaded room's megabytes stay resident. */
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
#endif
    s_opts_t o = {.port = -1, .offline_grace_s = -1};
    for (int i = 0; i < N_COUNT; i++)
        o.num[i] = NAN;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name, field)                                                                           \
    if (strcmp(a, name) == 0 && v) {                                                               \
        o.field = v;                                                                               \
        i++;                                                                                       \
        continue;                                                                                  \
    }
        OPT("--root", root)
        OPT("--ip", ip)
        OPT("--token", token)
        OPT("--users", users)
        OPT("--config", config)
        OPT("--allow-origin", allow_origin)
        OPT("--log-level", log_level)
        OPT("--db", db)
#undef OPT
        int matched = 0;
        for (int n = 0; n < N_COUNT && !matched; n++) {
            if (strcmp(a, s_num[n].flag) != 0)
                continue;
            matched = 1;
            if (n == N_CULL_CONNECTED || n == N_CULL_BUSY || n == N_EMBED_COMMENTS) { /* switches */
                o.num[n] = 1;
                continue;
            }
            char *end;
            o.num[n] = v ? strtod(v, &end) : NAN;
            if (!v || *end || !(o.num[n] >= 0)) {
                fprintf(stderr, "tandem-relay: %s needs a number >= 0\n", a);
                return 2;
            }
            i++;
        }
        if (matched)
            continue;
        if (strcmp(a, "--no-rate-limit") == 0) {
            o.num[N_MSG_RATE] = o.num[N_DATA_RATE] = 0;
            continue;
        }
        if (strcmp(a, "--port") == 0 && v) {
            char *end;
            long p = strtol(v, &end, 10);
            if (*end || p < 0 || p > 65535) {
                fprintf(stderr, "tandem-relay: bad port %s\n", v);
                return 2;
            }
            o.port = (int)p;
            i++;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            s_usage(stdout);
            return 0;
        }
        if (strcmp(a, "--version") == 0) {
            printf("tandem-relay %s\n", TD_VERSION);
            return 0;
        }
        s_usage(stderr);
        return 2;
    }
    json_t *cfg = NULL;
    if (o.config && s_load_config(&o, &cfg) != 0)
        return 2;
    td_log_level = TD_LOG_INFO;
    td_log_set_level(o.log_level ? o.log_level : getenv("TANDEM_LOG"));
    signal(SIGPIPE, SIG_IGN);

    td_relay_t *r = &s_relay;
    r->env = (td_env_t){td__now_us, td__random, NULL};
    r->started_us = r->last_activity_us = td__now_us(NULL);
    r->max_ws_message = o.max_ws_message > 0 ? (size_t)o.max_ws_message : 64u << 20;
    r->max_send_queue = o.max_send_queue > 0 ? (size_t)o.max_send_queue : 64u << 20;
    r->max_offline_bytes = o.max_offline_bytes > 0 ? (size_t)o.max_offline_bytes : 16u << 20;
    r->offline_grace_ms = o.offline_grace_s >= 0 ? (uint64_t)(o.offline_grace_s * 1000) : 60000;
    r->allow_origin = o.allow_origin;
    for (int i = 0; i < N_COUNT; i++)
        if (isnan(o.num[i]))
            o.num[i] = s_num[i].dflt;
    r->hb_interval_ms = (uint64_t)(o.num[N_HB_INTERVAL] * 1000);
    r->hb_timeout_ms = (uint64_t)(o.num[N_HB_TIMEOUT] * 1000);
    r->cull_idle_ms = (uint64_t)(o.num[N_CULL_IDLE] * 1000);
    r->cull_interval_ms = (uint64_t)(o.num[N_CULL_INTERVAL] * 1000);
    r->cull_connected = o.num[N_CULL_CONNECTED] != 0;
    r->cull_busy = o.num[N_CULL_BUSY] != 0;
    r->iopub_msg_rate = o.num[N_MSG_RATE];
    r->iopub_data_rate = o.num[N_DATA_RATE];
    r->rate_window_s = o.num[N_RATE_WINDOW];
    r->room_unload_ms = (uint64_t)(o.num[N_ROOM_UNLOAD] * 1000);
    r->autosave_ms = (uint64_t)(o.num[N_AUTOSAVE] * 1000);
    r->file_poll_ms = (uint64_t)(o.num[N_FILE_POLL] * 1000);
    if (r->file_poll_ms < 100)
        r->file_poll_ms = 100;
    r->embed_comments = o.num[N_EMBED_COMMENTS] != 0;

    char real[PATH_MAX], path[PATH_MAX + 32];
    struct stat st;
    if (!realpath(o.root ? o.root : ".", real) || stat(real, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "tandem-relay: root %s is not a directory\n", o.root ? o.root : ".");
        return 2;
    }
    r->root = strdup(real);
    snprintf(path, sizeof path, "%s/.tandem", real);
    r->state_dir = strdup(path);
    snprintf(path, sizeof path, "%s/.tandem/runtime", real);
    r->runtime_dir = strdup(path);
    if (s_mkdir(r->state_dir) != 0 || s_mkdir(r->runtime_dir) != 0)
        return 1;

    char token[128];
    if (o.token && *o.token) {
        snprintf(token, sizeof token, "%s", o.token);
    } else {
        uint8_t raw[24];
        td__random(NULL, raw, sizeof raw);
        for (size_t i = 0; i < sizeof raw; i++)
            sprintf(token + 2 * i, "%02x", raw[i]);
    }
    r->auth = td_auth_new(token);
    if (!r->auth || s_cookie_secret(r) != 0 || s_open_store(r, &o) != 0)
        return 2;
    r->acl = td_acl_new(r->store, &r->env);
    if (!r->acl) {
        fprintf(stderr, "tandem-relay: cannot read grants from the store\n");
        return 2;
    }
    td_acl_set_admin(r->acl, td_auth_entry(r->auth, 0, NULL)->username);
    /* Before the first grant everyone with a token edits (as jupyter_server); after it, only
     * grants give access. */
    td_acl_set_open_role(r->acl, TD_ROLE_EDITOR);
    r->comments = td_comments_new(r->store, &r->env);
    if (!r->comments) {
        fprintf(stderr, "tandem-relay: cannot prepare the comments store\n");
        return 2;
    }
    td_http_comment_hooks(r);
    r->sessions = td_sessions_new(&r->env);
    r->contents = td_contents_new(r->root);
    r->data_dirs = calloc(32, sizeof *r->data_dirs);
    r->ndata_dirs = td_kspec_data_dirs(TD_PREFIX_SHARE, r->data_dirs, 32);

    static uv_loop_t loop;
    uv_loop_init(&loop);
    r->loop = &loop;
    r->zctx = zmq_ctx_new();
    uv_signal_init(&loop, &s_sigterm);
    uv_signal_init(&loop, &s_sigint);
    uv_signal_start(&s_sigterm, s_on_signal, SIGTERM);
    uv_signal_start(&s_sigint, s_on_signal, SIGINT);
    uv_timer_init(&loop, &s_tick);
    if (td_rooms_start(r) != 0)
        return 1;
    uv_timer_init(&loop, &s_cull);
    uv_timer_init(&loop, &s_grants);
    uv_timer_start(&s_grants, s_on_grants, 5000, 5000);
    uv_timer_init(&loop, &s_checkpoint);
    uv_timer_start(&s_checkpoint, s_on_checkpoint, 1000, 1000);
    if (r->cull_idle_ms > 0) {
        uint64_t every = r->cull_interval_ms ? r->cull_interval_ms : 300000;
        uv_timer_start(&s_cull, s_on_cull, every, every);
        TD_LOG(TD_LOG_INFO, "relay", "culling kernels idle for %.0f s, checking every %.0f s",
               r->cull_idle_ms / 1e3, every / 1e3);
    }

    const char *ip = o.ip ? o.ip : "127.0.0.1";
    int port = o.port >= 0 ? o.port : 8888, bound = port;
    if (td_http_start(r, ip, port, &bound) != 0) {
        fprintf(stderr, "tandem-relay: cannot listen on %s:%d\n", ip, port);
        return 1;
    }
    TD_LOG(TD_LOG_INFO, "relay", "tandem-relay %s serving %s", TD_VERSION, r->root);
    printf("tandem-relay %s is running at:\n    http://%s:%d/?token=%s\n", TD_VERSION, ip, bound,
           token);
    fflush(stdout);

    uv_run(&loop, UV_RUN_DEFAULT);

    /* Everything is closed: kernels reaped, lws gone, our handles closed. */
    int rc = uv_loop_close(&loop);
    if (rc != 0)
        TD_LOG(TD_LOG_WARN, "relay", "loop closed with handles open (%s)", uv_err_name(rc));
    zmq_ctx_term(r->zctx);
    td_sessions_destroy(&r->sessions);
    td_contents_destroy(&r->contents);
    td_acl_destroy(&r->acl);
    td_comments_destroy(&r->comments);
    td_auth_destroy(&r->auth);
    td_store_destroy(&r->store);
    for (size_t i = 0; i < r->ndata_dirs; i++)
        free(r->data_dirs[i]);
    free(r->data_dirs);
    free(r->root);
    free(r->state_dir);
    free(r->runtime_dir);
    json_decref(cfg);
    TD_LOG(TD_LOG_INFO, "relay", "bye");
    return 0;
}
