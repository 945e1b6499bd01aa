/* test.h: the unit-test harness. Each tests/unit/test_<name>.c defines `void test_<name>(void)`;
 * the runner (runner.c) calls it by name (`unit --test td_wire`), and every file is its own CTest.
 * An assertion prints both values and the location, then exits non-zero. */
#ifndef TD_TEST_H
#define TD_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TD_FAIL(...)                                                                               \
    do {                                                                                           \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                            \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
        exit(1);                                                                                   \
    } while (0)

#define TD_ASSERT(c)                                                                               \
    do {                                                                                           \
        if (!(c))                                                                                  \
            TD_FAIL("assertion failed: %s", #c);                                                   \
    } while (0)

#define TD_ASSERT_EQ(a, b)                                                                         \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_)                                                                              \
            TD_FAIL("%s == %s: %lld != %lld", #a, #b, a_, b_);                                     \
    } while (0)

#define TD_ASSERT_OK(a) TD_ASSERT_EQ((a), 0)

#define TD_ASSERT_STR_EQ(a, b)                                                                     \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0)                                       \
            TD_FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)"); \
    } while (0)

#define TD_ASSERT_MEM_EQ(a, b, n)                                                                  \
    do {                                                                                           \
        if (memcmp((a), (b), (n)) != 0)                                                            \
            TD_FAIL("%s and %s differ in their first %zu bytes", #a, #b, (size_t)(n));             \
    } while (0)

/* Skips the whole test with a visible reason (CTest sees exit code 77). */
#define TD_SKIP(why)                                                                               \
    do {                                                                                           \
        printf("SKIP: %s\n", why);                                                                 \
        exit(77);                                                                                  \
    } while (0)

#endif
