/* bench.h: what the C benchmark programs share: a monotonic clock in milliseconds and a median.
 * Header-only (static inline), like test.h. */
#ifndef TD_BENCH_H
#define TD_BENCH_H

#include <stdlib.h>
#include <time.h>

/* Milliseconds on CLOCK_MONOTONIC. */
static inline double td_bench_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static inline int td_bench_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of v[0..n) (n >= 1); sorts v. */
static inline double td_bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, td_bench_cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#endif
