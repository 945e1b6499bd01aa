/* bench_json.c: td_json_parse against jansson's json_loadb on a big notebook, the relay's worst
 * case when a user opens a file. Not a test: it prints figures, and exits 1 only when the two
 * parsers disagree about the document.
 *
 *   bench_json [file=/tmp/big.ipynb] [repeat=5]
 *
 * Make the file with `node tests/bench/gen_notebook.mjs /tmp/big.ipynb` (1,000 cells, about 23 MB
 * of stream text and base64 PNGs). Each parser runs `repeat` times; the medians of the parse alone
 * (json_decref is timed apart, it is the same jansson tree either way) give MB/s and the ratio. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "td/td_json.h"

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void s_die(const char *what)
{
    fprintf(stderr, "bench_json: %s\n", what);
    exit(1);
}

static int s_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double s_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, s_cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static char *s_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = size >= 0 ? malloc((size_t)size + 1) : NULL;
    if (buf == NULL || fread(buf, 1, (size_t)size, f) != (size_t)size) {
        fclose(f);
        free(buf);
        return NULL;
    }
    fclose(f);
    *len = (size_t)size;
    return buf;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "/tmp/big.ipynb";
    int repeat = argc > 2 ? atoi(argv[2]) : 5;
    if (repeat < 1 || repeat > 100)
        s_die("repeat must be 1..100");
    size_t n = 0;
    char *text = s_slurp(path, &n);
    if (text == NULL) {
        fprintf(stderr, "bench_json: cannot read %s (node tests/bench/gen_notebook.mjs %s)\n", path,
                path);
        return 1;
    }
    double jp[100], jf[100], tp[100], tf[100];
    json_t *ref = NULL;
    for (int i = 0; i < repeat; i++) {
        /* Alternate the two so neither always runs on a warmer heap. */
        json_error_t je;
        double t0 = s_now();
        json_t *a = json_loadb(text, n, 0, &je);
        double t1 = s_now();
        if (a == NULL) {
            fprintf(stderr, "bench_json: jansson rejects %s: %s\n", path, je.text);
            return 1;
        }
        td_error_t err = {0};
        json_t *b = NULL;
        double t2 = s_now();
        ssize_t r = td_json_parse(text, n, &b, &err);
        double t3 = s_now();
        if (r != (ssize_t)n) {
            fprintf(stderr, "bench_json: td_json_parse: %zd at %zu: %s\n", r, err.offset, err.text);
            return 1;
        }
        if (i == 0 && !json_equal(a, b))
            s_die("the two trees differ");
        jp[i] = t1 - t0;
        tp[i] = t3 - t2;
        if (i == 0) {
            ref = a; /* kept for the check after the loop */
            jf[i] = 0;
        } else {
            double t4 = s_now();
            json_decref(a);
            jf[i] = s_now() - t4;
        }
        double t5 = s_now();
        json_decref(b);
        tf[i] = s_now() - t5;
    }
    size_t cells = json_array_size(json_object_get(ref, "cells"));
    json_decref(ref);
    double mj = s_median(jp, repeat), mt = s_median(tp, repeat);
    double fj = repeat > 1 ? s_median(jf + 1, repeat - 1) : 0, ft = s_median(tf, repeat);
    double mb = n / 1e6;
    printf("file        %s: %.1f MB, %zu cells\n", path, mb, cells);
    printf("jansson     parse %8.1f ms  %7.1f MB/s   (free %.1f ms)\n", mj, mb / (mj / 1e3), fj);
    printf("td_json     parse %8.1f ms  %7.1f MB/s   (free %.1f ms)\n", mt, mb / (mt / 1e3), ft);
    printf("ratio       %.2fx faster (median of %d)\n", mj / mt, repeat);
    free(text);
    return 0;
}
