/* test_td_base64.c: the RFC 4648 vectors unbroken (the kernel's image bundles), every high bit of
 * the alphabet, and Python's base64.encodebytes line breaks (the relay's binary files) at, just
 * past and well past one 76-character line. */
#include "td/td_base64.h"
#include "test.h"

/* Encodes p[0..n) with line length line; checks the length contract and returns a malloc'd copy. */
static char *s_enc(const void *p, size_t n, size_t line)
{
    size_t want = td_base64_encoded_len(n, line);
    char *out = malloc(want + 2);
    TD_ASSERT(out != NULL);
    out[want + 1] = 'X'; /* the guard byte past the NUL must survive */
    TD_ASSERT_EQ(td_base64_encode(p, n, line, out), want);
    TD_ASSERT_EQ(strlen(out), want);
    TD_ASSERT_EQ(out[want + 1], 'X');
    return out;
}

static void s_check(const char *in, size_t line, const char *expect)
{
    char *got = s_enc(in, strlen(in), line);
    TD_ASSERT_STR_EQ(got, expect);
    free(got);
}

void test_td_base64(void)
{
    s_check("", 0, "");
    s_check("f", 0, "Zg==");
    s_check("fo", 0, "Zm8=");
    s_check("foo", 0, "Zm9v");
    s_check("foob", 0, "Zm9vYg==");
    s_check("fooba", 0, "Zm9vYmE=");
    s_check("foobar", 0, "Zm9vYmFy");
    s_check("\xfb\xff\xbf", 0, "+/+/");

    /* encodebytes: nothing for nothing, else every line (the last one too) ends in "\n". */
    s_check("", 76, "");
    s_check("foob", 76, "Zm9vYg==\n");
    uint8_t b[200];
    for (size_t i = 0; i < sizeof b; i++)
        b[i] = (uint8_t)i;
    char *got = s_enc(b, 57, 76);
    TD_ASSERT_STR_EQ(got, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1"
                          "Njc4\n");
    free(got);
    got = s_enc(b, 58, 76);
    TD_ASSERT_STR_EQ(got, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1"
                          "Njc4\nOQ==\n");
    free(got);
    got = s_enc(b, sizeof b, 76); /* 268 characters: 3 full lines and one of 40 */
    TD_ASSERT_EQ(strlen(got), 268 + 4);
    TD_ASSERT_EQ(got[76], '\n');
    TD_ASSERT_EQ(got[153], '\n');
    TD_ASSERT_EQ(got[230], '\n');
    TD_ASSERT_EQ(got[271], '\n');
    free(got);
    TD_ASSERT_EQ(td_hex_value('0'), 0);
    TD_ASSERT_EQ(td_hex_value('9'), 9);
    TD_ASSERT_EQ(td_hex_value('a'), 10);
    TD_ASSERT_EQ(td_hex_value('F'), 15);
    TD_ASSERT_EQ(td_hex_value('g'), -1);
    TD_ASSERT_EQ(td_hex_value('/'), -1);
    TD_ASSERT_EQ(td_hex_value(0), -1);
}
