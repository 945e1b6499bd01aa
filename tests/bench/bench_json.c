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

#include "bench.h"
#include "td_sys.h"
#include "td/td_json.h"

static void s_die(const char *what)
{
    fprintf(stderr, "bench_json: %s\n", what);
    exit(1);
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "/tmp/big.ipynb";
    int repeat = argc > 2 ? atoi(argv[2]) : 5;
    if (repeat < 1 || repeat > 100)
        s_die("repeat must be 1..100");
    size_t n = 0;
    char *text = td__read_file(path, (size_t)1 << 30, &n);
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
        double t0 = td_bench_ms();
        json_t *a = json_loadb(text, n, 0, &je);
        double t1 = td_bench_ms();
        if (a == NULL) {
            fprintf(stderr, "bench_json: jansson rejects %s: %s\n", path, je.text);
            return 1;
        }
        td_error_t err = {0};
        json_t *b = NULL;
        double t2 = td_bench_ms();
        ssize_t r = td_json_parse(text, n, &b, &err);
        double t3 = td_bench_ms();
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
            double t4 = td_bench_ms();
            json_decref(a);
            jf[i] = td_bench_ms() - t4;
        }
        double t5 = td_bench_ms();
        json_decref(b);
        tf[i] = td_bench_ms() - t5;
    }
    size_t cells = json_array_size(json_object_get(ref, "cells"));
    json_decref(ref);
    double mj = td_bench_median(jp, repeat), mt = td_bench_median(tp, repeat);
    double fj = repeat > 1 ? td_bench_median(jf + 1, repeat - 1) : 0, ft = td_bench_median(tf, repeat);
    double mb = n / 1e6;
    printf("file        %s: %.1f MB, %zu cells\n", path, mb, cells);
    printf("jansson     parse %8.1f ms  %7.1f MB/s   (free %.1f ms)\n", mj, mb / (mj / 1e3), fj);
    printf("td_json     parse %8.1f ms  %7.1f MB/s   (free %.1f ms)\n", mt, mb / (mt / 1e3), ft);
    printf("ratio       %.2fx faster (median of %d)\n", mj / mt, repeat);
    free(text);
    return 0;
}
