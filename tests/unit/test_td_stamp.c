/* test_td_stamp.c: dates from known epoch values (leap days, end of year) and UUID shape. */
#include "td/td_stamp.h"
#include "test.h"

static void s_fill(void *arg, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)(0xa5 + i);
}

static int64_t s_zero(void *arg)
{
    return 0;
}

void test_td_stamp(void)
{
    char d[TD_DATE_LEN + 1];
    td_stamp_date(0, d);
    TD_ASSERT_STR_EQ(d, "1970-01-01T00:00:00.000000Z");
    td_stamp_date(951782400123456LL, d); /* 2000-02-29 00:00:00.123456 */
    TD_ASSERT_STR_EQ(d, "2000-02-29T00:00:00.123456Z");
    td_stamp_date(1735689599999999LL, d); /* the last microsecond of 2024 */
    TD_ASSERT_STR_EQ(d, "2024-12-31T23:59:59.999999Z");
    td_stamp_date(1700000000000000LL, d);
    TD_ASSERT_STR_EQ(d, "2023-11-14T22:13:20.000000Z");

    td_env_t env = {s_zero, s_fill, NULL};
    char u[TD_UUID_LEN + 1];
    td_stamp_uuid(&env, u);
    TD_ASSERT_EQ(strlen(u), 36);
    TD_ASSERT_STR_EQ(u, "a5a6a7a8-a9aa-4bac-adae-afb0b1b2b3b4");
}
