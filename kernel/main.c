/* main.c: tandem-kernel. `tandem-kernel -f CONNECTION_FILE` serves one kernel; `tandem-kernel
 * install` writes a kernelspec for this binary. This file holds everything with an effect that the
 * core must not do itself: reading files, the clock and randomness (td_env_t, from td_sys.c),
 * signals, and the history database's location. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "td_kserver.h"
#include "td_log.h"
#include "td_sys.h"

static td_kcore_t *s_core; /* for the signal handlers */

/* The env's randomness: getrandom(2) in blocks, one buffer per thread. Every message id takes 16
 * bytes, and a system call per message cost more than building the message. */
static void s_random(void *arg, uint8_t *out, size_t n)
{
    static _Thread_local uint8_t pool[512];
    static _Thread_local size_t left;
    while (n > 0) {
        if (left == 0) {
            td__random(arg, pool, sizeof pool);
            left = sizeof pool;
        }
        size_t k = n < left ? n : left;
        memcpy(out, pool + sizeof pool - left, k);
        memset(pool + sizeof pool - left, 0, k); /* handed out once only */
        left -= k;
        out += k;
        n -= k;
    }
}

static void s_on_sigint(int sig)
{
    /* Idle SIGINTs (jupyter_client sends one before every shutdown) are harmless no-ops. */
    if (s_core)
        td_kcore_interrupt(s_core);
}

static void s_on_sigterm(int sig)
{
    if (s_core)
        td_kcore_request_shutdown(s_core);
    else
        _exit(0);
}

static void s_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = s_on_sigint; /* no SA_RESETHAND: a second interrupt must not kill us */
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = s_on_sigterm;
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static int s_mkdirs(const char *path)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    return mkdir(tmp, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* The Jupyter data dir, under /tmp when even HOME is unset. */
static void s_data_dir(char *out, size_t cap)
{
    if (td__jupyter_data_dir(out, cap) != 0)
        snprintf(out, cap, "/tmp/.local/share/jupyter");
}

static td_history_t *s_new_history(void)
{
    const char *off = getenv("TANDEM_HISTORY");
    if (off && strcmp(off, "off") == 0)
        return NULL;
    char dir[PATH_MAX - 32], path[PATH_MAX];
    s_data_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/tandem", dir);
    if (s_mkdirs(path) != 0) {
        TD_LOG(TD_LOG_WARN, "kernel", "history disabled: cannot create %s", path);
        return NULL;
    }
    snprintf(path, sizeof path, "%s/tandem/history.sqlite", dir);
    return td_history_new(path);
}

static int s_copy_file(const char *from, const char *to)
{
    size_t len;
    char *data = td__read_file(from, 1 << 20, &len);
    if (data == NULL)
        return -1;
    FILE *f = fopen(to, "wb");
    int rc = f && fwrite(data, 1, len, f) == len ? 0 : -1;
    if (f && fclose(f) != 0)
        rc = -1;
    free(data);
    return rc;
}

/* `tandem-kernel install [--user | --prefix P] [--name N] [--display-name D]`, like
 * `python -m ipykernel install`. */
static int s_install(int argc, char **argv)
{
    const char *prefix = "/usr/local", *name = "tandem-lua", *display = "Lua 5.4 (Tandem)";
    int user = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--user") == 0)
            user = 1;
        else if (strcmp(argv[i], "--prefix") == 0 && i + 1 < argc)
            prefix = argv[++i];
        else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc)
            name = argv[++i];
        else if (strcmp(argv[i], "--display-name") == 0 && i + 1 < argc)
            display = argv[++i];
        else {
            fprintf(stderr, "tandem-kernel install: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (strchr(name, '/') || strcmp(name, "..") == 0 || *name == '\0') {
        fprintf(stderr, "tandem-kernel install: invalid kernel name %s\n", name);
        return 2;
    }
    char exe[PATH_MAX], base[PATH_MAX - 64], dir[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        fprintf(stderr, "tandem-kernel install: cannot find my own path\n");
        return 1;
    }
    exe[n] = '\0';
    if (user)
        s_data_dir(base, sizeof base);
    else
        snprintf(base, sizeof base, "%s/share/jupyter", prefix);
    snprintf(dir, sizeof dir, "%s/kernels/%s", base, name);
    if (s_mkdirs(dir) != 0) {
        fprintf(stderr, "tandem-kernel install: cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }
    json_t *spec = json_pack("{s:[s, s, s], s:s, s:s, s:s, s:{}, s:{}}", "argv", exe, "-f",
                             "{connection_file}", "display_name", display, "language", "lua",
                             "interrupt_mode", "signal", "env", "metadata");
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/kernel.json", dir);
    if (spec == NULL || json_dump_file(spec, path, JSON_INDENT(1)) != 0) {
        fprintf(stderr, "tandem-kernel install: cannot write %s\n", path);
        json_decref(spec);
        return 1;
    }
    json_decref(spec);
    /* Logos travel with the binary: <bindir>/../share/jupyter/kernels/tandem-lua/. */
    char *slash = strrchr(exe, '/');
    *slash = '\0';
    static const char *logos[] = {"logo-32x32.png", "logo-64x64.png", "logo-svg.svg"};
    for (size_t i = 0; i < sizeof logos / sizeof logos[0]; i++) {
        char from[PATH_MAX * 2], to[PATH_MAX * 2];
        snprintf(from, sizeof from, "%s/../share/jupyter/kernels/tandem-lua/%s", exe, logos[i]);
        snprintf(to, sizeof to, "%s/%s", dir, logos[i]);
        if (strcmp(from, to) != 0 && access(from, R_OK) == 0)
            s_copy_file(from, to);
    }
    printf("Installed kernelspec %s in %s\n", name, dir);
    return 0;
}

static void s_usage(FILE *to)
{
    fprintf(to, "usage: tandem-kernel -f CONNECTION_FILE [--log-level LEVEL]\n"
                "       tandem-kernel install [--user | --prefix P] [--name N] [--display-name D]\n"
                "       tandem-kernel --version | --help\n\n"
                "A native Jupyter kernel (protocol 5.4) running Lua 5.4.\n"
                "Frontends start it from its kernelspec; `install` writes that kernelspec.\n"
                "Environment: TANDEM_HISTORY=off disables history; JUPYTER_DATA_DIR locates it.\n");
}

int main(int argc, char **argv)
{
    const char *cfile = NULL;
    if (argc > 1 && strcmp(argv[1], "install") == 0)
        return s_install(argc - 2, argv + 2);
    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "-f") == 0 || strcmp(argv[i], "--connection-file") == 0) &&
            i + 1 < argc) {
            cfile = argv[++i];
        } else if (strncmp(argv[i], "--connection-file=", 18) == 0) {
            cfile = argv[i] + 18;
        } else if (strcmp(argv[i], "--log-level") == 0 && i + 1 < argc) {
            td_log_set_level(argv[++i]);
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("tandem-kernel %s (Jupyter protocol %s, %s)\n", TD_VERSION, TD_PROTOCOL_VERSION,
                   td_lua_interp.name);
            return 0;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            s_usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "tandem-kernel: unknown argument %s\n", argv[i]);
            s_usage(stderr);
            return 2;
        }
    }
    td_log_set_level(getenv("TANDEM_LOG"));
    if (cfile == NULL) {
        s_usage(stderr);
        return 2;
    }
    size_t len;
    char *text = td__read_file(cfile, 1 << 20, &len);
    if (text == NULL) {
        fprintf(stderr, "tandem-kernel: cannot read connection file %s: %s\n", cfile,
                strerror(errno));
        return 1;
    }
    td_connfile_t cf;
    td_error_t err = {0};
    int rc = td_connfile_decode(text, len, &cf, &err);
    free(text);
    if (rc != 0) {
        fprintf(stderr, "tandem-kernel: bad connection file %s: %s\n", cfile, err.text);
        return 1;
    }
    td_env_t env = {td__now_us, s_random, NULL};
    td_history_t *history = s_new_history();
    td_kserver_t *server = td_kserver_new(&cf, &env, &td_lua_interp, history);
    td_connfile_fini(&cf);
    if (server == NULL) {
        td_history_destroy(&history);
        return 1;
    }
    s_core = td_kserver_core(server);
    s_install_signals();
    td_kserver_run(server);
    s_core = NULL;
    td_kserver_destroy(&server);
    td_history_destroy(&history);
    return 0;
}
