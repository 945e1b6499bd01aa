/* test_td_xsrf.c: XSRF tokens: the exact version-2 form tornado would write for the same bytes,
 * a token matching its other masks and tornado's version-1 forms (hex and raw), and malformed or
 * different tokens never matching. */
#include <string.h>

#include "td_xsrf.h"
#include "test.h"

void test_td_xsrf(void)
{
    uint8_t rnd[TD_XSRF_RANDOM];
    for (int i = 0; i < TD_XSRF_RANDOM; i++)
        rnd[i] = (uint8_t)(i * 17 + 1);
    char a[TD_XSRF_MAX], b[TD_XSRF_MAX];
    td_xsrf_make(rnd, 1795348403, a);
    TD_ASSERT_STR_EQ(a, "2|11223344|103010705474543c98b898f8dcfcdc44|1795348403");
    TD_ASSERT(td_xsrf_match(a, a));
    rnd[16] ^= 0xff; /* same token, another mask and time */
    td_xsrf_make(rnd, 1, b);
    TD_ASSERT(strcmp(a, b) != 0 && td_xsrf_match(a, b) && td_xsrf_match(b, a));
    TD_ASSERT(td_xsrf_match(a, "0112233445566778899aabbccddeef00"));  /* version 1, hex */
    TD_ASSERT(td_xsrf_match("0112233445566778899AABBCCDDEEF00", b));
    TD_ASSERT(td_xsrf_match("plain-token", "plain-token"));           /* version 1, raw */
    TD_ASSERT(!td_xsrf_match("plain-token", "plain-tokem"));
    TD_ASSERT(!td_xsrf_match(a, "0112233445566778899aabbccddeef01"));
    rnd[0] ^= 1; /* another token */
    td_xsrf_make(rnd, 1795348403, b);
    TD_ASSERT(!td_xsrf_match(a, b));

    const char *bad[] = {"", "2|", "2|11223344", "2|11223344|", "2|11223344|1030|", "2|1122334|1030|1",
                         "2|11223344|103|1", "2|11223344|10zz|1", "2|11223344|1030|1x", "3|ab|cd|1",
                         "2|11223344||1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        TD_ASSERT(!td_xsrf_match(bad[i], bad[i]));
    TD_ASSERT(!td_xsrf_match(NULL, a) && !td_xsrf_match(a, NULL));
    char big[200];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    TD_ASSERT(!td_xsrf_match(big, big)); /* over-long: refused, not truncated */
}
