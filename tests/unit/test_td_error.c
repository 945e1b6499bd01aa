/* test_td_error.c: every code has its own message, unknown codes are named, first error wins. */
#include "td/td_error.h"
#include "test.h"

void test_td_error(void)
{
    TD_ASSERT_STR_EQ(td_strerror(0), "success");
    TD_ASSERT_STR_EQ(td_strerror(TD_EBADSIG), "bad HMAC signature");
    TD_ASSERT_STR_EQ(td_strerror(TD_EAGAIN), "incomplete input, need more");
    TD_ASSERT_STR_EQ(td_strerror(12345), "unknown error");
    td_error_t e = {0};
    TD_ASSERT_EQ(td_error_set(&e, TD_EPROTO, 7, "bad %s", "tag"), TD_EPROTO);
    TD_ASSERT_EQ(td_error_set(&e, TD_E2BIG, 9, "later"), TD_E2BIG);
    TD_ASSERT_EQ(e.code, TD_EPROTO);
    TD_ASSERT_EQ(e.offset, 7);
    TD_ASSERT_STR_EQ(e.text, "bad tag");
    TD_ASSERT_EQ(td_error_set(NULL, TD_ENOMEM, 0, "x"), TD_ENOMEM);
}
