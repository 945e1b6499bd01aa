/* bench_comments.c: comment-thread latency on one notebook with many threads, through the same
 * entry point the relay calls (td_comments_handle), on a real store file with the relay's
 * durability settings (WAL, synchronous=FULL: every acknowledged change is fsynced). Not a test:
 * it prints figures, and exits 1 only when an answer is wrong.
 *
 *   bench_comments [threads=10000] [samples=1000] [dir=/tmp]
 *
 * Phases, each op timed one by one (p50 and p99 in microseconds):
 *   create   POST a thread (with a range; every tenth mentions bob, every other one carol)
 *            until the notebook holds `threads`;
 *   reply    POST a reply by bob on every fifth thread, by dave on every hundredth;
 *   list     GET one page (50 threads): the first page, a page deep inside (cursor), the
 *            unresolved and cell filters, and mine / mentions for a user in few threads (dave,
 *            bob: the module walks their matches) and in many (bob, carol: it scans the
 *            notebook);
 *   resolve  POST /T/resolve on `samples` distinct random threads, then reopen them;
 *   sync     td_comments_sync_cells with the unchanged cell list (the cached no-op) and with one
 *            cell removed and restored (orphan, re-attach). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "td/td_stamp.h"
#include "td_comments.h"
#include "td_store.h"

#define S_CELLS 200

static double s_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int64_t s_clock(void *arg)
{
    struct timespec ts;
    (void)arg;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static uint64_t s_seed = 0x9e3779b97f4a7c15ull;

static uint64_t s_next(void)
{
    s_seed ^= s_seed << 13;
    s_seed ^= s_seed >> 7;
    s_seed ^= s_seed << 17;
    return s_seed;
}

static void s_rand(void *arg, uint8_t *out, size_t n)
{
    (void)arg;
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)s_next();
}

static void s_die(const char *what)
{
    fprintf(stderr, "bench_comments: %s\n", what);
    exit(1);
}

static td_role_t s_role(void *arg, const char *username, const char *file_id, char *path,
                        size_t cap)
{
    (void)arg, (void)username, (void)file_id;
    snprintf(path, cap, "bench.ipynb");
    return TD_ROLE_OWNER;
}

static size_t s_events;

static void s_event(void *arg, const char *file_id, const json_t *ev)
{
    (void)arg, (void)file_id, (void)ev;
    s_events++;
}

static int s_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void s_report(const char *op, double *v, size_t n)
{
    if (n == 0)
        return;
    qsort(v, n, sizeof *v, s_cmp);
    size_t p99 = (size_t)(0.99 * (double)(n - 1) + 0.5);
    printf("%-22s %8zu %10.1f %10.1f\n", op, n, v[(n - 1) / 2], v[p99]);
}

/* One request; returns its status and the elapsed time in *us. */
static int s_call(td_comments_t *c, const char *user, const char *method, const char *sub,
                  const char *const *q, size_t nq, const char *body, json_t **out, double *us)
{
    td_comments_req_t req = {.method = method,
                             .sub = sub,
                             .query = q,
                             .nquery = nq,
                             .body = body,
                             .body_len = body ? strlen(body) : 0,
                             .username = user,
                             .file_id = "FB",
                             .path = "bench.ipynb",
                             .role = TD_ROLE_OWNER};
    double t0 = s_now_us();
    int st = td_comments_handle(c, &req, out);
    *us = s_now_us() - t0;
    return st;
}

int main(int argc, char **argv)
{
    size_t nthreads = argc > 1 ? strtoul(argv[1], NULL, 10) : 10000;
    size_t samples = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000;
    const char *base = argc > 3 ? argv[3] : "/tmp";
    if (nthreads < 100 || samples < 1)
        s_die("usage: bench_comments [threads>=100] [samples>=1] [dir]");
    if (samples > nthreads)
        samples = nthreads;
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/td-bench-comments-XXXXXX", base);
    if (!mkdtemp(dir))
        s_die("mkdtemp failed");
    snprintf(path, sizeof path, "%s/tandem.sqlite", dir);
    td_error_t err = {0};
    td_store_t *st = td_store_open(path, &err);
    if (!st)
        s_die(err.text);
    const char *names[] = {"alice", "bob", "carol", "dave"};
    for (int i = 0; i < 4; i++) {
        td_user_t u = {0};
        snprintf(u.username, sizeof u.username, "%s", names[i]);
        snprintf(u.name, sizeof u.name, "%s", names[i]);
        snprintf(u.display_name, sizeof u.display_name, "%s", names[i]);
        if (td_store_user_put(st, &u) != 0)
            s_die("user_put failed");
    }
    if (td_store_file_add(st, "bench.ipynb", "FB") != 0)
        s_die("file_add failed");
    td_env_t env = {s_clock, s_rand, NULL};
    td_comments_t *c = td_comments_new(st, &env);
    if (!c)
        s_die("td_comments_new failed");
    td_comments_set_hooks(c, s_role, NULL, s_event, NULL);

    char(*ids)[40] = calloc(nthreads, sizeof *ids);
    double *t = calloc(nthreads > 8 * samples ? nthreads : 8 * samples, sizeof *t);
    if (!ids || !t)
        s_die("out of memory");
    printf("bench_comments: %zu threads on one notebook, %zu samples, store %s\n", nthreads,
           samples, path);
    printf("%-22s %8s %10s %10s\n", "op", "n", "p50 us", "p99 us");

    /* create */
    for (size_t i = 0; i < nthreads; i++) {
        char body[256];
        snprintf(
            body, sizeof body,
            "{\"cell_id\": \"cell-%zu\", \"body\": \"Thread %zu: is this right, %s?\","
            " \"range\": {\"anchor\": {\"item\": {\"client\": 1, \"clock\": %zu}, \"assoc\": 0},"
            " \"head\": {\"item\": {\"client\": 1, \"clock\": %zu}, \"assoc\": -1}}}",
            i % S_CELLS, i,
            i % 10 == 0 ? "@bob"
            : i % 2     ? "@carol"
                        : "everyone",
            i, i + 10);
        json_t *out = NULL;
        if (s_call(c, i % 4 ? "alice" : "carol", "POST", "", NULL, 0, body, &out, &t[i]) != 201)
            s_die("create failed");
        snprintf(ids[i], sizeof ids[i], "%.39s", json_string_value(json_object_get(out, "id")));
        json_decref(out);
    }
    s_report("create", t, nthreads);

    /* reply */
    size_t n = 0;
    for (size_t i = 0; i < nthreads; i += 5) {
        char sub[64];
        snprintf(sub, sizeof sub, "/%s/replies", ids[i]);
        json_t *out = NULL;
        if (s_call(c, i % 100 ? "bob" : "dave", "POST", sub, NULL, 0,
                   "{\"body\": \"Looks right to me.\"}", &out, &t[n++]) != 201)
            s_die("reply failed");
        json_decref(out);
    }
    s_report("reply", t, n);

    /* list */
    struct {
        const char *name;
        const char *user;
        const char *q[3];
        size_t nq;
        int deep;
    } lists[] = {
        {"list first page", "alice", {"limit=50"}, 1, 0},
        {"list deep page", "alice", {"limit=50"}, 1, 1},
        {"list unresolved", "alice", {"limit=50", "unresolved=1"}, 2, 1},
        {"list cell", "alice", {"limit=50", "cell=cell-7"}, 2, 0},
        {"list mine, few", "dave", {"limit=50", "mine=1"}, 2, 0},
        {"list mine, many", "bob", {"limit=50", "mine=1"}, 2, 1},
        {"list mentions, few", "bob", {"limit=50", "mentions=1"}, 2, 0},
        {"list mentions, many", "carol", {"limit=50", "mentions=1"}, 2, 1},
    };
    for (size_t l = 0; l < sizeof lists / sizeof lists[0]; l++) {
        n = 0;
        for (size_t s = 0; s < samples; s++) {
            const char *q[4];
            size_t nq = lists[l].nq;
            memcpy(q, lists[l].q, nq * sizeof *q);
            char cursor[64];
            if (lists[l].deep) { /* a cursor somewhere in the first nine tenths */
                snprintf(cursor, sizeof cursor, "cursor=c%llx",
                         (unsigned long long)(s_next() % (nthreads * 9 / 10) + 1));
                q[nq++] = cursor;
            }
            json_t *out = NULL;
            double us;
            if (s_call(c, lists[l].user, "GET", "", q, nq, NULL, &out, &us) != 200)
                s_die("list failed");
            if (json_array_size(json_object_get(out, "threads")) == 0)
                s_die("list returned nothing");
            json_decref(out);
            t[n++] = us;
        }
        s_report(lists[l].name, t, n);
    }

    /* resolve and reopen: distinct random threads */
    size_t *pick = malloc(nthreads * sizeof *pick);
    if (!pick)
        s_die("out of memory");
    for (size_t i = 0; i < nthreads; i++)
        pick[i] = i;
    for (size_t i = 0; i < samples; i++) {
        size_t j = i + s_next() % (nthreads - i), k = pick[i];
        pick[i] = pick[j];
        pick[j] = k;
    }
    for (int phase = 0; phase < 2; phase++) {
        for (size_t i = 0; i < samples; i++) {
            char sub[64];
            snprintf(sub, sizeof sub, "/%s/%s", ids[pick[i]], phase ? "reopen" : "resolve");
            json_t *out = NULL;
            if (s_call(c, "bob", "POST", sub, NULL, 0, NULL, &out, &t[i]) != 200 ||
                json_is_true(json_object_get(out, "resolved")) != !phase)
                s_die("resolve failed");
            json_decref(out);
        }
        s_report(phase ? "reopen" : "resolve", t, samples);
    }

    /* sync: the cell list the relay would pass, unchanged, then with one cell gone and back */
    static char cellbuf[S_CELLS][16];
    const char *cells[S_CELLS];
    for (int i = 0; i < S_CELLS; i++) {
        snprintf(cellbuf[i], sizeof cellbuf[i], "cell-%d", i);
        cells[i] = cellbuf[i];
    }
    if (td_comments_sync_cells(c, "FB", cells, S_CELLS) != 0)
        s_die("first sync changed something");
    for (size_t i = 0; i < samples; i++) {
        double t0 = s_now_us();
        if (td_comments_sync_cells(c, "FB", cells, S_CELLS) != 0)
            s_die("no-op sync changed something");
        t[i] = s_now_us() - t0;
    }
    s_report("sync unchanged", t, samples);
    size_t per_cell = (nthreads + S_CELLS - 1) / S_CELLS, rounds = samples / 10 ? samples / 10 : 1;
    for (size_t i = 0; i < rounds; i++) {
        int gone = (int)(s_next() % S_CELLS);
        const char *swap = cells[gone];
        cells[gone] = cells[S_CELLS - 1];
        double t0 = s_now_us();
        int changed = td_comments_sync_cells(c, "FB", cells, S_CELLS - 1);
        t[2 * i] = s_now_us() - t0;
        cells[gone] = swap;
        t0 = s_now_us();
        int back = td_comments_sync_cells(c, "FB", cells, S_CELLS);
        t[2 * i + 1] = s_now_us() - t0;
        if (changed <= 0 || changed > (int)per_cell || back != changed)
            s_die("orphan/re-attach counts are wrong");
    }
    char label[64];
    snprintf(label, sizeof label, "sync 1 cell (~%zu thr)", per_cell);
    s_report(label, t, 2 * rounds);
    printf("events emitted: %zu\n", s_events);

    free(pick);
    free(ids);
    free(t);
    td_comments_destroy(&c);
    td_store_destroy(&st);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        s_die("cleanup failed");
    return 0;
}
