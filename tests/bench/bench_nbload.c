/* bench_nbload.c: the server-side cost of opening a big notebook for the first time, the part
 * that is the CRDT's: td_ynb_load of the parsed file into an empty document, then
 * td_ydoc_encode_state_as_update of the result (what the relay appends to its store). Not a test:
 * it prints figures.
 *
 *   bench_nbload [file=/tmp/big.ipynb] [repeat=7]
 *
 * Make the file with `node tests/bench/gen_notebook.mjs /tmp/big.ipynb`. The file is parsed once
 * (td_json_parse_flags with JSON_ALLOW_NUL, as relay/td_room.c does); each repetition loads it into
 * a fresh td_ydoc_new(NULL, 0) and encodes it. Prints the median, the minimum and the first run
 * (a cold heap, like a relay opening its first room), the update size and peak RSS. The machine
 * is shared: trust the minimum when the median wanders. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench.h"
#include "td_sys.h"
#include "td/td_json.h"
#include "td/td_lib0.h"
#include "td/td_ydoc.h"
#include "td/td_ynotebook.h"

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "/tmp/big.ipynb";
    int repeat = argc > 2 ? atoi(argv[2]) : 7;
    if (repeat < 1 || repeat > 100) {
        fprintf(stderr, "bench_nbload: repeat must be 1..100\n");
        return 1;
    }
    size_t n = 0;
    char *text = td__read_file(path, (size_t)1 << 30, &n);
    if (text == NULL) {
        fprintf(stderr, "bench_nbload: cannot read %s (node tests/bench/gen_notebook.mjs %s)\n",
                path, path);
        return 1;
    }
    json_t *nb = NULL;
    td_error_t err = {0};
    double t0 = td_bench_ms();
    if (td_json_parse_flags(text, n, JSON_ALLOW_NUL, &nb, &err) != (ssize_t)n) {
        fprintf(stderr, "bench_nbload: parse: at %zu: %s\n", err.offset, err.text);
        return 1;
    }
    double parse = td_bench_ms() - t0;
    free(text);
    double load[100], enc[100], fin[100];
    size_t bytes = 0;
    for (int i = 0; i < repeat; i++) {
        td_ydoc_t *doc = td_ydoc_new(NULL, 0);
        td_lib0_enc_t update;
        td_lib0_enc_init(&update);
        double t1 = td_bench_ms();
        int rc = td_ynb_load(doc, nb, &err);
        double t2 = td_bench_ms();
        if (rc == 0)
            rc = td_ydoc_encode_state_as_update(doc, NULL, 0, &update, &err);
        double t3 = td_bench_ms();
        if (rc != 0) {
            fprintf(stderr, "bench_nbload: %s: %s\n", td_strerror(rc), err.text);
            return 1;
        }
        bytes = update.len;
        td_lib0_enc_fini(&update);
        td_ydoc_destroy(&doc);
        load[i] = t2 - t1;
        enc[i] = t3 - t2;
        fin[i] = td_bench_ms() - t3;
    }
    json_decref(nb);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("file      %s: %.1f MB (parse %.1f ms, once)\n", path, n / 1e6, parse);
    double load1 = load[0], enc1 = enc[0]; /* the first run, on a cold heap, as a relay's */
    double ml = td_bench_median(load, repeat), me = td_bench_median(enc, repeat), mf = td_bench_median(fin, repeat);
    printf("ms        median    min  first\n");
    printf("load      %6.1f %6.1f %6.1f   td_ynb_load (%d runs)\n", ml, load[0], load1, repeat);
    printf("encode    %6.1f %6.1f %6.1f   td_ydoc_encode_state_as_update: %.1f MB\n", me, enc[0],
           enc1, bytes / 1e6);
    printf("free      %6.1f %6.1f          update + document\n", mf, fin[0]);
    printf("peak RSS  %8.1f MB\n", ru.ru_maxrss / 1024.0);
    return 0;
}
