/* bench_crdt.c: the C half of bench_crdt.mjs. Runs one benchmark case, read from a JSON file
 * written by the node half (the same inputs yjs gets), on Tandem's engine and prints its figures as
 * one JSON object:
 *   {local, remote, encode, parse (ms, median of `repeat` runs), updates, updateBytes, docSize,
 *    mem (bytes malloc'd by the parsed document), peakRss (bytes: this process's peak RSS above
 *    its RSS once the input was loaded)}
 * Case kinds: text / array (one client, each txn its own transaction), b2 (two clients, one
 * transaction each, then exchange), b3 (n clients, one edit each; a fresh document applies all
 * updates in one transaction), trace (a concurrent editing trace: one document per agent, brought
 * to the union of each transaction's parents before it edits). Every run checks its result; a
 * mismatch exits 1. */
#include <jansson.h>
#include <malloc.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "td/td_ydoc.h"
#include "td/td_ytype.h"

typedef struct s_buf {
    uint8_t *data;
    size_t len;
} s_buf_t;

typedef struct s_bufs {
    s_buf_t *v;
    size_t n, cap;
} s_bufs_t;

typedef struct s_result {
    double local, remote, encode, parse, mem; /* ms; mem in bytes */
    size_t updates, update_bytes, doc_size;
} s_result_t;

static long long s_heap(void)
{
    struct mallinfo2 mi = mallinfo2();
    return (long long)(mi.uordblks + mi.hblkhd);
}

static void s_die(const char *what)
{
    fprintf(stderr, "bench_crdt: %s\n", what);
    exit(1);
}

static void s_push(s_bufs_t *b, const uint8_t *p, size_t n)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 1024;
        b->v = realloc(b->v, b->cap * sizeof *b->v);
    }
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, p, n);
    b->v[b->n++] = (s_buf_t){copy, n};
}

static void s_bufs_free(s_bufs_t *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->v[i].data);
    free(b->v);
    memset(b, 0, sizeof *b);
}

static void s_collect(td_ydoc_t *doc, const td_ytxn_info_t *info, void *arg)
{
    s_push(arg, info->update, info->update_len);
}

static void s_apply(td_ydoc_t *doc, const uint8_t *p, size_t n)
{
    td_error_t err = {0};
    if (td_ydoc_apply_update(doc, p, n, NULL, &err) != 0)
        s_die(err.text);
}

/* Applies [pos, del, text] patches to a text, in order. */
static void s_text_ops(td_ytype_t *t, json_t *ops)
{
    size_t i;
    json_t *op;
    json_array_foreach(ops, i, op)
    {
        size_t pos = (size_t)json_integer_value(json_array_get(op, 0));
        size_t del = (size_t)json_integer_value(json_array_get(op, 1));
        json_t *ins = json_array_get(op, 2);
        if (del && td_ytext_delete(t, pos, del) != 0)
            s_die("text delete failed");
        if (json_string_length(ins) &&
            td_ytext_insert(t, pos, json_string_value(ins), json_string_length(ins), NULL) != 0)
            s_die("text insert failed");
    }
}

static char *s_text(td_ydoc_t *doc)
{
    char *s = NULL;
    size_t n = 0;
    if (td_ytext_string(td_ydoc_get(doc, "t", TD_YTYPE_TEXT), &s, &n) != 0)
        s_die("text export failed");
    return s;
}

/* Encode, then parse into a fresh document and read its content; checks with check(). */
static void s_finish(td_ydoc_t *doc, const char *kind, s_result_t *r,
                     void (*check)(td_ydoc_t *parsed, void *arg), void *arg)
{
    td_lib0_enc_t e;
    td_lib0_enc_init(&e);
    double t0 = td_bench_ms();
    if (td_ydoc_encode_state_as_update(doc, NULL, 0, &e, NULL) != 0)
        s_die("encode failed");
    r->encode = td_bench_ms() - t0;
    r->doc_size = e.len;
    long long h0 = s_heap();
    t0 = td_bench_ms();
    td_ydoc_t *parsed = td_ydoc_new(NULL, 77777);
    int k = strcmp(kind, "array") == 0 ? TD_YTYPE_ARRAY : TD_YTYPE_TEXT;
    if (strcmp(kind, "b3") != 0)
        td_ydoc_get(parsed, strcmp(kind, "array") == 0 ? "a" : "t", k);
    s_apply(parsed, e.buf, e.len);
    check(parsed, arg); /* extracting the content is part of parse time, as in crdt-benchmarks */
    r->parse = td_bench_ms() - t0;
    r->mem = (double)(s_heap() - h0);
    td_ydoc_destroy(&parsed);
    td_lib0_enc_fini(&e);
}

/* ---- checks ---------------------------------------------------------------------------------- */

static void s_check_text(td_ydoc_t *doc, void *arg)
{
    char *s = s_text(doc);
    if (strcmp(s, json_string_value(arg)) != 0)
        s_die("text differs from the expected content");
    free(s);
}

static void s_check_array(td_ydoc_t *doc, void *arg)
{
    json_t *got = td_ytype_to_json(td_ydoc_get(doc, "a", TD_YTYPE_ARRAY));
    if (!json_equal(got, arg))
        s_die("array differs from the expected content");
    json_decref(got);
}

static void s_check_json(td_ydoc_t *doc, void *arg)
{
    json_t *got = td_ydoc_to_json(doc);
    if (!json_equal(got, arg))
        s_die("document differs from yjs's JSON");
    json_decref(got);
}

typedef struct s_len_check {
    const char *want; /* NULL: any */
    long long len;    /* -1: any */
} s_len_check_t;

static void s_check_len(td_ydoc_t *doc, void *arg)
{
    s_len_check_t *c = arg;
    char *s = s_text(doc);
    if ((c->want && strcmp(s, c->want) != 0) || (c->len >= 0 && (long long)strlen(s) != c->len))
        s_die("clients differ");
    free(s);
}

/* ---- cases ----------------------------------------------------------------------------------- */

static void s_run_seq(json_t *c, s_result_t *r)
{
    const char *kind = json_string_value(json_object_get(c, "kind"));
    bool text = strcmp(kind, "text") == 0;
    json_t *txns = json_object_get(c, "txns"), *expect = json_object_get(c, "expect");
    td_ydoc_t *d1 = td_ydoc_new(NULL, 1);
    td_ytype_t *t = td_ydoc_get(d1, text ? "t" : "a", text ? TD_YTYPE_TEXT : TD_YTYPE_ARRAY);
    s_bufs_t ups = {0};
    td_ydoc_observe(d1, s_collect, &ups);
    double t0 = td_bench_ms();
    size_t i;
    json_t *ops;
    json_array_foreach(txns, i, ops)
    {
        bool many = json_array_size(ops) > 1;
        if (many)
            td_ydoc_begin(d1, NULL);
        if (text) {
            s_text_ops(t, ops);
        } else {
            size_t k;
            json_t *op;
            json_array_foreach(ops, k, op)
            {
                size_t pos = (size_t)json_integer_value(json_array_get(op, 0));
                size_t del = (size_t)json_integer_value(json_array_get(op, 1));
                if (del && td_yarray_delete(t, pos, del) != 0)
                    s_die("array delete failed");
                json_t *vals = json_array_get(op, 2);
                if (json_array_size(vals) && td_yarray_insert_json(t, pos, vals) != 0)
                    s_die("array insert failed");
            }
        }
        if (many)
            td_ydoc_commit(d1);
    }
    r->local = td_bench_ms() - t0;
    td_ydoc_unobserve(d1, s_collect, &ups);
    td_ydoc_t *d2 = td_ydoc_new(NULL, 2);
    td_ydoc_get(d2, text ? "t" : "a", text ? TD_YTYPE_TEXT : TD_YTYPE_ARRAY);
    t0 = td_bench_ms();
    for (size_t k = 0; k < ups.n; k++)
        s_apply(d2, ups.v[k].data, ups.v[k].len);
    if (text)
        s_check_text(d2, expect);
    else
        s_check_array(d2, expect);
    r->remote = td_bench_ms() - t0;
    r->updates = ups.n;
    for (size_t k = 0; k < ups.n; k++)
        r->update_bytes += ups.v[k].len;
    s_finish(d1, kind, r, text ? s_check_text : s_check_array, expect);
    s_bufs_free(&ups);
    td_ydoc_destroy(&d1);
    td_ydoc_destroy(&d2);
}

static void s_run_b2(json_t *c, s_result_t *r)
{
    td_ydoc_t *d1 = td_ydoc_new(NULL, 1), *d2 = td_ydoc_new(NULL, 2);
    td_ytype_t *t1 = td_ydoc_get(d1, "t", TD_YTYPE_TEXT), *t2 = td_ydoc_get(d2, "t", TD_YTYPE_TEXT);
    const char *init = json_string_value(json_object_get(c, "init"));
    td_ytext_insert(t1, 0, init, strlen(init), NULL);
    td_lib0_enc_t e;
    td_lib0_enc_init(&e);
    td_ydoc_encode_state_as_update(d1, NULL, 0, &e, NULL);
    s_apply(d2, e.buf, e.len);
    td_lib0_enc_fini(&e);
    s_bufs_t u1 = {0}, u2 = {0};
    td_ydoc_observe(d1, s_collect, &u1);
    td_ydoc_observe(d2, s_collect, &u2);
    double t0 = td_bench_ms();
    td_ydoc_begin(d1, NULL);
    s_text_ops(t1, json_object_get(c, "ops1"));
    td_ydoc_commit(d1);
    td_ydoc_begin(d2, NULL);
    s_text_ops(t2, json_object_get(c, "ops2"));
    td_ydoc_commit(d2);
    r->local = td_bench_ms() - t0;
    td_ydoc_unobserve(d1, s_collect, &u1);
    td_ydoc_unobserve(d2, s_collect, &u2);
    if (u1.n != 1 || u2.n != 1)
        s_die("expected one update per client");
    t0 = td_bench_ms();
    s_apply(d1, u2.v[0].data, u2.v[0].len);
    s_apply(d2, u1.v[0].data, u1.v[0].len);
    r->remote = td_bench_ms() - t0;
    char *s1 = s_text(d1);
    s_len_check_t chk = {s1, json_integer_value(json_object_get(c, "expectLen"))};
    s_check_len(d2, &chk);
    r->updates = 2;
    r->update_bytes = u1.v[0].len + u2.v[0].len;
    s_finish(d1, "text", r, s_check_len, &chk);
    free(s1);
    s_bufs_free(&u1);
    s_bufs_free(&u2);
    td_ydoc_destroy(&d1);
    td_ydoc_destroy(&d2);
}

static td_ytype_t *s_b3_root(td_ydoc_t *d, const char *op)
{
    if (strncmp(op, "map", 3) == 0)
        return td_ydoc_get(d, "m", TD_YTYPE_MAP);
    if (strcmp(op, "array_text") == 0)
        return td_ydoc_get(d, "a", TD_YTYPE_ARRAY);
    return td_ydoc_get(d, "t", TD_YTYPE_TEXT);
}

static void s_run_b3(json_t *c, s_result_t *r)
{
    const char *op = json_string_value(json_object_get(c, "op"));
    size_t n = (size_t)json_integer_value(json_object_get(c, "n"));
    s_bufs_t ups = {0};
    double t0 = td_bench_ms();
    for (size_t i = 0; i < n; i++) {
        td_ydoc_t *d = td_ydoc_new(NULL, i + 1);
        td_ytype_t *root = s_b3_root(d, op);
        td_ydoc_observe(d, s_collect, &ups);
        char num[32];
        snprintf(num, sizeof num, "%zu", i);
        if (strcmp(op, "map_number") == 0) {
            json_t *v = json_integer((json_int_t)i);
            td_ymap_set_json(root, "v", v);
            json_decref(v);
        } else if (strcmp(op, "map_string") == 0) {
            size_t len = strlen(num);
            char *s = malloc(len * n + 1);
            for (size_t k = 0; k < n; k++)
                memcpy(s + k * len, num, len);
            s[len * n] = 0;
            json_t *v = json_string(s);
            td_ymap_set_json(root, "v", v);
            json_decref(v);
            free(s);
        } else if (strcmp(op, "array_text") == 0) {
            json_t *v = json_pack("[s]", num);
            td_yarray_insert_json(root, 0, v);
            json_decref(v);
        } else {
            td_ytext_insert(root, 0, num, strlen(num), NULL);
        }
        td_ydoc_destroy(&d); /* the updates were captured; the peers are done */
    }
    r->local = td_bench_ms() - t0;
    td_ydoc_t *d0 = td_ydoc_new(NULL, 100000), *d1 = td_ydoc_new(NULL, 100001);
    s_b3_root(d0, op);
    td_ydoc_begin(d0, NULL);
    for (size_t k = 0; k < ups.n; k++)
        s_apply(d0, ups.v[k].data, ups.v[k].len);
    td_ydoc_commit(d0);
    t0 = td_bench_ms();
    s_b3_root(d1, op);
    td_ydoc_begin(d1, NULL);
    for (size_t k = 0; k < ups.n; k++)
        s_apply(d1, ups.v[k].data, ups.v[k].len);
    td_ydoc_commit(d1);
    r->remote = td_bench_ms() - t0;
    json_t *want = json_loads(json_string_value(json_object_get(c, "expectJSON")), 0, NULL);
    if (!want)
        s_die("no expected JSON");
    s_check_json(d0, want);
    s_check_json(d1, want);
    r->updates = ups.n;
    for (size_t k = 0; k < ups.n; k++)
        r->update_bytes += ups.v[k].len;
    s_finish(d0, "b3", r, s_check_json, want);
    json_decref(want);
    s_bufs_free(&ups);
    td_ydoc_destroy(&d0);
    td_ydoc_destroy(&d1);
}

static int s_cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

/* See bench_crdt.mjs runTraceYjs: per-agent documents kept at the union of the parents. */
static void s_run_trace(json_t *c, s_result_t *r)
{
    size_t A = (size_t)json_integer_value(json_object_get(c, "agents"));
    json_t *txns = json_object_get(c, "txns");
    size_t n = json_array_size(txns);
    size_t *vv = calloc(n * A + 1, sizeof *vv);
    size_t **by_agent = calloc(A, sizeof *by_agent);
    size_t *nby = calloc(A, sizeof *nby);
    size_t *have = calloc(A * A, sizeof *have);
    size_t *want = calloc(A, sizeof *want);
    td_ydoc_t **docs = calloc(A, sizeof *docs);
    size_t *missing = calloc(n + 1, sizeof *missing);
    s_bufs_t ups = {0};
    for (size_t a = 0; a < A; a++) {
        docs[a] = td_ydoc_new(NULL, a + 1);
        td_ydoc_get(docs[a], "t", TD_YTYPE_TEXT);
        by_agent[a] = calloc(n, sizeof **by_agent);
    }
    double t0 = td_bench_ms();
    for (size_t i = 0; i < n; i++) {
        json_t *tx = json_array_get(txns, i);
        size_t a = (size_t)json_integer_value(json_array_get(tx, 0));
        json_t *parents = json_array_get(tx, 1);
        memset(want, 0, A * sizeof *want);
        size_t k;
        json_t *p;
        json_array_foreach(parents, k, p)
        {
            size_t pi = (size_t)json_integer_value(p);
            for (size_t b = 0; b < A; b++)
                if (vv[pi * A + b] > want[b])
                    want[b] = vv[pi * A + b];
        }
        size_t *h = have + a * A;
        bool ahead = false;
        for (size_t b = 0; b < A; b++)
            ahead |= h[b] > want[b];
        if (ahead) {
            td_ydoc_destroy(&docs[a]);
            docs[a] = td_ydoc_new(NULL, a + 1);
            td_ydoc_get(docs[a], "t", TD_YTYPE_TEXT);
            memset(h, 0, A * sizeof *h);
        }
        td_ydoc_t *d = docs[a];
        /* Missing transactions go in in trace order (a topological order), as in the node half. */
        size_t nmissing = 0;
        for (size_t b = 0; b < A; b++)
            for (size_t j = h[b]; j < want[b]; j++)
                missing[nmissing++] = by_agent[b][j];
        qsort(missing, nmissing, sizeof *missing, s_cmp_size);
        for (size_t m = 0; m < nmissing; m++)
            s_apply(d, ups.v[missing[m]].data, ups.v[missing[m]].len);
        size_t before = ups.n;
        td_ydoc_observe(d, s_collect, &ups);
        td_ydoc_begin(d, NULL);
        s_text_ops(td_ydoc_get(d, "t", TD_YTYPE_TEXT), json_array_get(tx, 2));
        td_ydoc_commit(d);
        td_ydoc_unobserve(d, s_collect, &ups);
        if (ups.n != before + 1)
            s_die("a trace transaction produced no single update");
        by_agent[a][nby[a]++] = i;
        want[a] = nby[a];
        memcpy(h, want, A * sizeof *h);
        memcpy(vv + i * A, want, A * sizeof *want);
    }
    r->local = td_bench_ms() - t0;
    td_ydoc_t *d2 = td_ydoc_new(NULL, 9999);
    td_ydoc_get(d2, "t", TD_YTYPE_TEXT);
    t0 = td_bench_ms();
    for (size_t k = 0; k < ups.n; k++)
        s_apply(d2, ups.v[k].data, ups.v[k].len);
    json_t *expect = json_object_get(c, "expect");
    s_check_text(d2, expect);
    r->remote = td_bench_ms() - t0;
    r->updates = ups.n;
    for (size_t k = 0; k < ups.n; k++)
        r->update_bytes += ups.v[k].len;
    s_finish(d2, "text", r, s_check_text, expect);
    for (size_t a = 0; a < A; a++) {
        td_ydoc_destroy(&docs[a]);
        free(by_agent[a]);
    }
    td_ydoc_destroy(&d2);
    s_bufs_free(&ups);
    free(docs);
    free(by_agent);
    free(nby);
    free(have);
    free(want);
    free(vv);
    free(missing);
}

/* A "Name:   123 kB" field of /proc/self/status, in KiB; 0 when unavailable. */
static long s_status_kib(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = 0;
    size_t n = strlen(field);
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, field, n) == 0) {
            v = strtol(line + n, NULL, 10);
            break;
        }
    }
    if (f)
        fclose(f);
    return v;
}

static int s_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median over runs of the double at offset off in s_result_t. */
static double s_median(const s_result_t *runs, int n, size_t off)
{
    double v[16];
    for (int i = 0; i < n; i++)
        memcpy(&v[i], (const char *)&runs[i] + off, sizeof v[i]);
    qsort(v, (size_t)n, sizeof v[0], s_cmp);
    return v[n / 2];
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: bench_crdt CASE.json (written by tests/bench/bench_crdt.mjs)\n");
        return 2;
    }
    json_error_t je;
    json_t *c = json_load_file(argv[1], 0, &je);
    if (!c) {
        fprintf(stderr, "bench_crdt: %s: %s\n", argv[1], je.text);
        return 2;
    }
    /* The input itself (a whole trace as JSON) is large: report the peak above this baseline. */
    long baseline = s_status_kib("VmRSS:") * 1024L;
    const char *kind = json_string_value(json_object_get(c, "kind"));
    int repeat = (int)json_integer_value(json_object_get(c, "repeat"));
    if (repeat < 1 || repeat > 15)
        repeat = 1;
    s_result_t runs[15];
    for (int i = 0; i < repeat; i++) {
        s_result_t *r = &runs[i];
        memset(r, 0, sizeof *r);
        if (strcmp(kind, "text") == 0 || strcmp(kind, "array") == 0)
            s_run_seq(c, r);
        else if (strcmp(kind, "b2") == 0)
            s_run_b2(c, r);
        else if (strcmp(kind, "b3") == 0)
            s_run_b3(c, r);
        else if (strcmp(kind, "trace") == 0)
            s_run_trace(c, r);
        else
            s_die("unknown case kind");
    }
    /* VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss across execve, so it would
     * report node's RSS at the fork that started us. */
    long peak = s_status_kib("VmHWM:") * 1024L;
#define S_MED(field) s_median(runs, repeat, offsetof(s_result_t, field))
    printf("{\"local\":%.3f,\"remote\":%.3f,\"encode\":%.3f,\"parse\":%.3f,\"updates\":%zu,"
           "\"updateBytes\":%zu,\"docSize\":%zu,\"mem\":%.0f,\"peakRss\":%ld}\n",
           S_MED(local), S_MED(remote), S_MED(encode), S_MED(parse), runs[0].updates,
           runs[0].update_bytes, runs[0].doc_size, S_MED(mem),
           peak > baseline ? peak - baseline : 0L);
#undef S_MED
    json_decref(c);
    return 0;
}
