/* bench_yawareness.c: the awareness tracker at the size of a busy room, the way the relay drives
 * it. Not a test: it prints figures, and exits 1 only when a result is wrong.
 *
 *   bench_yawareness [clients=1000] [rounds=100] [repeat=5]
 *
 * Each case runs `repeat` times on a fresh tracker and prints the median in ms:
 *   room   one round is 15 s of room time: every client renews with its own one-entry update,
 *          1 % of the clients leave (a null state) and as many new ids join, the periodic check
 *          runs five times (every 3 s) and one newcomer gets encode_all. Also prints the records
 *          the tracker holds at the end (without eviction they grow with every departure).
 *   batch  one update naming every client, applied once per round (the welcome a newcomer
 *          receives, or a peer's full state relayed at once).
 *   churn  every round, all clients join in one update and leave in one td_yawareness_remove.
 * Only the public API is used, so the same file measures any version of the tracker. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "td/td_yawareness.h"

#define S_ROUND_MS 15000

static void s_die(const char *what)
{
    fprintf(stderr, "bench_yawareness: %s\n", what);
    exit(1);
}

/* A state of realistic size: a user with a name, a colour and a cursor. */
static size_t s_state(char *out, size_t cap, uint64_t client)
{
    int n =
        snprintf(out, cap,
                 "{\"user\":{\"name\":\"user %llu\",\"color\":\"#%06llx\"},"
                 "\"cursor\":{\"anchor\":%llu,\"head\":%llu}}",
                 (unsigned long long)client, (unsigned long long)(client * 2654435761u) & 0xffffff,
                 (unsigned long long)client % 997, (unsigned long long)client % 991);
    return (size_t)n;
}

static void s_apply(td_yawareness_t *aw, const td_lib0_enc_t *e, int64_t now)
{
    if (e->err || td_yawareness_apply(aw, e->buf, e->len, now, NULL, NULL) != (ssize_t)e->len)
        s_die("apply failed");
}

/* Applies one update naming clients ids[0..n) at clock, with their state or null. */
static void s_apply_all(td_yawareness_t *aw, const uint64_t *ids, size_t n, uint64_t clock,
                        bool null, int64_t now)
{
    td_lib0_enc_t e;
    td_lib0_enc_init(&e);
    td_yawareness_encode_begin(&e, n);
    char st[160];
    for (size_t i = 0; i < n; i++) {
        size_t len = s_state(st, sizeof st, ids[i]);
        td_yawareness_encode_entry(&e, ids[i], clock, null ? NULL : st, len);
    }
    s_apply(aw, &e, now);
    td_lib0_enc_fini(&e);
}

static double s_room(size_t nclients, size_t rounds, size_t *records)
{
    td_yawareness_t *aw = td_yawareness_new(TD_YAWARENESS_NO_CLIENT);
    uint64_t *ids = malloc(nclients * sizeof *ids), *clocks = calloc(nclients, sizeof *clocks);
    if (!aw || !ids || !clocks)
        s_die("out of memory");
    uint64_t next_id = 1;
    for (size_t i = 0; i < nclients; i++)
        ids[i] = next_id++;
    size_t leave = nclients / 100 ? nclients / 100 : 1;
    int64_t now = 0;
    char st[160];
    double t0 = td_bench_ms();
    for (size_t r = 0; r < rounds; r++) {
        for (size_t i = 0; i < nclients; i++) {
            td_lib0_enc_t e;
            td_lib0_enc_init(&e);
            td_yawareness_encode_begin(&e, 1);
            size_t len = s_state(st, sizeof st, ids[i]);
            td_yawareness_encode_entry(&e, ids[i], ++clocks[i], st, len);
            s_apply(aw, &e, now + (int64_t)(i * S_ROUND_MS / nclients));
            td_lib0_enc_fini(&e);
        }
        /* The clients at r*leave.. leave and are replaced by fresh ids (a reloaded page gets a
         * new client id). The newcomers' first states arrive with the next round's renewals. */
        for (size_t k = 0; k < leave; k++) {
            size_t i = (r * leave + k) % nclients;
            s_apply_all(aw, &ids[i], 1, ++clocks[i], true, now + S_ROUND_MS - 1);
            ids[i] = next_id++;
            clocks[i] = 0;
        }
        for (int c = 1; c <= 5; c++) {
            if (td_yawareness_check(aw, now + c * (S_ROUND_MS / 5), NULL) != 0)
                s_die("check failed");
        }
        td_lib0_enc_t e;
        td_lib0_enc_init(&e);
        if (td_yawareness_encode_all(aw, &e) != 0 || e.err)
            s_die("encode_all failed");
        td_lib0_enc_fini(&e);
        now += S_ROUND_MS;
    }
    double ms = td_bench_ms() - t0;
    if (td_yawareness_nstates(aw) != nclients - leave)
        s_die("room: wrong number of states");
    *records = td_yawareness_nclients(aw);
    td_yawareness_destroy(&aw);
    free(ids);
    free(clocks);
    return ms;
}

static double s_batch(size_t nclients, size_t rounds)
{
    td_yawareness_t *aw = td_yawareness_new(TD_YAWARENESS_NO_CLIENT);
    uint64_t *ids = malloc(nclients * sizeof *ids);
    if (!aw || !ids)
        s_die("out of memory");
    for (size_t i = 0; i < nclients; i++)
        ids[i] = 1000 + i;
    double t0 = td_bench_ms();
    for (size_t r = 0; r < rounds; r++)
        s_apply_all(aw, ids, nclients, r + 1, false, (int64_t)r * 1000);
    double ms = td_bench_ms() - t0;
    if (td_yawareness_nstates(aw) != nclients)
        s_die("batch: wrong number of states");
    td_yawareness_destroy(&aw);
    free(ids);
    return ms;
}

static double s_churn(size_t nclients, size_t rounds)
{
    td_yawareness_t *aw = td_yawareness_new(TD_YAWARENESS_NO_CLIENT);
    uint64_t *ids = malloc(nclients * sizeof *ids);
    if (!aw || !ids)
        s_die("out of memory");
    for (size_t i = 0; i < nclients; i++)
        ids[i] = 1000 + i;
    double t0 = td_bench_ms();
    for (size_t r = 0; r < rounds; r++) {
        s_apply_all(aw, ids, nclients, r + 1, false, (int64_t)r * 1000);
        td_yawareness_changes_t ch;
        if (td_yawareness_remove(aw, ids, nclients, (int64_t)r * 1000, &ch) != 0 ||
            ch.nremoved != nclients)
            s_die("churn: remove failed");
    }
    double ms = td_bench_ms() - t0;
    if (td_yawareness_nstates(aw) != 0)
        s_die("churn: states left");
    td_yawareness_destroy(&aw);
    free(ids);
    return ms;
}

int main(int argc, char **argv)
{
    size_t nclients = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000;
    size_t rounds = argc > 2 ? strtoul(argv[2], NULL, 10) : 100;
    size_t repeat = argc > 3 ? strtoul(argv[3], NULL, 10) : 5;
    if (nclients == 0 || rounds == 0 || repeat == 0 || repeat > 64)
        s_die("usage: bench_yawareness [clients] [rounds] [repeat <= 64]");
    double room[64], batch[64], churn[64];
    size_t records = 0;
    for (size_t k = 0; k < repeat; k++) {
        room[k] = s_room(nclients, rounds, &records);
        batch[k] = s_batch(nclients, rounds);
        churn[k] = s_churn(nclients, rounds);
    }
    double entries = (double)nclients * (double)rounds;
    double m = td_bench_median(room, (int)repeat);
    printf("clients %zu, rounds %zu, median of %zu\n", nclients, rounds, repeat);
    printf("room   %9.2f ms  %7.3f us/renewal  records at end %zu\n", m, m * 1e3 / entries,
           records);
    m = td_bench_median(batch, (int)repeat);
    printf("batch  %9.2f ms  %7.3f us/entry\n", m, m * 1e3 / entries);
    m = td_bench_median(churn, (int)repeat);
    printf("churn  %9.2f ms  %7.3f us/entry (join + remove)\n", m, m * 1e3 / entries);
    return 0;
}
