/* bench_acl.c: the cost of a role check on the room update path (td_acl_role with a cached
 * answer), with a refresh per call, and on a path seen for the first time. A program, not a test:
 * `build/tests/bench_acl`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "td_acl.h"
#include "td_store.h"

static void s_user(td_store_t *st, const char *name)
{
    td_user_t u = {0};
    snprintf(u.username, sizeof u.username, "%s", name);
    snprintf(u.name, sizeof u.name, "%s", name);
    snprintf(u.display_name, sizeof u.display_name, "%s", name);
    td_store_user_put(st, &u);
}

static double s_secs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The hot path: the role of a peer on its room's path at every update. */
static void s_bench(const char *path)
{
    td_error_t err = {0};
    td_store_t *st = td_store_open(path, &err);
    td_acl_t *acl = td_acl_new(st, NULL);
    if (!acl)
        exit(1);
    char name[32], p[64];
    for (int i = 0; i < 50; i++) {
        snprintf(name, sizeof name, "user%d", i);
        s_user(st, name);
        snprintf(p, sizeof p, "team%d/projects", i % 10);
        td_acl_grant(acl, p, name, TD_ROLE_EDITOR, 0, NULL);
    }
    static const char *paths[] = {"team3/projects/2025/q3/analysis.ipynb",
                                  "team3/projects/readme.md", "other/notes.ipynb",
                                  "team7/projects/a.ipynb"};
    const int n = 2000000;
    volatile int sink = 0;
    for (int round = 0; round < 2; round++) { /* 0: cached answers; 1: with a refresh each */
        double t0 = s_secs();
        int calls = round == 0 ? n : n / 20;
        for (int i = 0; i < calls; i++) {
            if (round == 1)
                td_acl_refresh(acl);
            sink += td_acl_role(acl, "user13", paths[i & 3], NULL);
        }
        double ns = (s_secs() - t0) * 1e9 / calls;
        if (round == 0) {
            printf("td_acl_role, cached: %.1f ns/call (%d calls)\n", ns, calls);
        } else {
            printf("td_acl_role + td_acl_refresh (unchanged store): %.1f ns/call\n", ns);
        }
    }
    /* Uncached: every lookup on a new path walks the prefixes. */
    double t0 = s_secs();
    const int m = 200000;
    for (int i = 0; i < m; i++) {
        snprintf(p, sizeof p, "team3/projects/d%d/f%d.ipynb", i % 97, i);
        sink += td_acl_role(acl, "user13", p, NULL);
    }
    printf("td_acl_role, first lookup of a path (incl. snprintf): %.1f ns/call\n",
           (s_secs() - t0) * 1e9 / m);
    if (sink <= 0)
        exit(1);
    td_acl_destroy(&acl);
    td_store_destroy(&st);
}

int main(void)
{
    char dir[] = "/tmp/bench_acl_XXXXXX", path[64], cmd[96];
    if (!mkdtemp(dir))
        return 1;
    snprintf(path, sizeof path, "%s/bench.sqlite", dir);
    s_bench(path);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 1;
}
