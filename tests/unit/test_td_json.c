/* test_td_json.c: td_json_parse against jansson's json_loadb, the parser it replaces. Every input
 * goes to both. They must agree on acceptance, and when both accept, the trees must be the same in
 * the strictest sense (types, integer values, real bits including the sign of zero, string bytes,
 * and object key order, which jansson keeps). Each table row also states the expected verdict, so
 * the test fails if both parsers are wrong in the same way.
 *
 * Covered: the RFC 8259 grammar and jansson's deviations (top level must be an array or object
 * without JSON_DECODE_ANY; \u0000; "truex"), every flag td_json_parse_flags accepts, nesting at and
 * past the depth limit, long strings mixing every escape with raw UTF-8, exhaustive two-byte and
 * edge-case three- and four-byte UTF-8, integers at the json_int_t edges and reals through both the
 * exact fast path and strtod (random doubles printed at 17 digits must come back bit-identical). */
#include <math.h>
#include <stdint.h>

#include "td/td_json.h"
#include "td_json_same.h"
#include "test.h"

/* ---- comparison -------------------------------------------------------------------------------
 */

/* Prints at most 60 bytes of input, escaping what is not printable ASCII. */
static const char *s_show(const char *p, size_t n)
{
    static char out[320];
    size_t k = 0;
    for (size_t i = 0; i < n && i < 60 && k + 8 < sizeof out; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c >= 0x20 && c < 0x7F && c != '\\')
            out[k++] = (char)c;
        else
            k += (size_t)snprintf(out + k, sizeof out - k, "\\x%02x", c);
    }
    if (n > 60)
        k += (size_t)snprintf(out + k, sizeof out - k, "...(%zu bytes)", n);
    out[k] = 0;
    return out;
}

static size_t s_checked;

/* Parses with both and compares; returns 1 when accepted. */
static int s_both(const char *p, size_t n, size_t flags)
{
    json_error_t je;
    json_t *a = json_loadb(p, n, flags, &je);
    json_t *b = (json_t *)&s_checked; /* must be overwritten */
    td_error_t err = {0};
    ssize_t r = td_json_parse_flags(p, n, flags, &b, &err);
    s_checked++;
    if ((a != NULL) != (r >= 0))
        TD_FAIL("flags 0x%zx '%s': jansson %s (%s), td_json %zd (%s)", flags, s_show(p, n),
                a ? "accepts" : "rejects", a ? "" : je.text, r, err.text);
    if (a == NULL) {
        TD_ASSERT(b == NULL);
        TD_ASSERT(r == TD_EPROTO || r == TD_ENOMEM);
        TD_ASSERT_EQ(err.code, r);
        TD_ASSERT(err.offset <= n);
        TD_ASSERT(err.text[0] != '\0');
        return 0;
    }
    if (!(flags & JSON_DISABLE_EOF_CHECK))
        TD_ASSERT_EQ(r, (ssize_t)n);
    TD_ASSERT(r <= (ssize_t)n);
    if (!td_json_same(a, b) || !json_equal(a, b))
        TD_FAIL("flags 0x%zx '%s': the trees differ", flags, s_show(p, n));
    json_decref(a);
    json_decref(b);
    return 1;
}

static void s_expect(const char *p, size_t n, size_t flags, int ok)
{
    if (s_both(p, n, flags) != ok)
        TD_FAIL("flags 0x%zx '%s': expected %s", flags, s_show(p, n), ok ? "accept" : "reject");
}

#define S_OK(s) s_expect((s), sizeof(s) - 1, 0, 1)
#define S_BAD(s) s_expect((s), sizeof(s) - 1, 0, 0)
#define S_ANY_OK(s) s_expect((s), sizeof(s) - 1, JSON_DECODE_ANY, 1)
#define S_ANY_BAD(s) s_expect((s), sizeof(s) - 1, JSON_DECODE_ANY, 0)

/* ---- grammar ----------------------------------------------------------------------------------
 */

static void s_grammar(void)
{
    S_OK("[]");
    S_OK("{}");
    S_OK(" \t\r\n[ \t\r\n] \t\r\n");
    S_OK("[1,2,3]");
    S_OK("[true,false,null]");
    S_OK("{\"a\":1,\"b\":[{},[]],\"c\":{\"d\":\"e\"}}");
    S_OK("{\"\":0}");
    S_OK("{ \"a\" : 1 , \"b\" : 2 }");
    S_OK("{\"a\":1,\"a\":2}");                   /* the last one wins */
    S_OK("{\"a\":{\"x\":[1]},\"b\":0,\"a\":3}"); /* and keeps the first one's place */
    S_OK("[\"\",\"a\",\"\\\"\"]");
    S_OK("[[[[[[[[[[]]]]]]]]]]");
    S_BAD("");
    S_BAD(" ");
    S_BAD("1"); /* jansson wants an array or object at the top without JSON_DECODE_ANY */
    S_BAD("\"x\"");
    S_BAD("null");
    S_BAD("[");
    S_BAD("]");
    S_BAD("[1");
    S_BAD("[1,");
    S_BAD("[1,]");
    S_BAD("[,1]");
    S_BAD("[1 2]");
    S_BAD("[1,,2]");
    S_BAD("{\"a\"}");
    S_BAD("{\"a\":}");
    S_BAD("{\"a\":1,}");
    S_BAD("{\"a\" 1}");
    S_BAD("{a:1}");
    S_BAD("{'a':1}");
    S_BAD("{1:1}");
    S_BAD("{\"a\":1]");
    S_BAD("[1}");
    S_BAD("[] []");
    S_BAD("[]x");
    S_BAD("[]\0");
    S_BAD("\xef\xbb\xbf[]"); /* a byte order mark is not whitespace */
    S_BAD("[\f]");
    S_BAD("[\v]");
    S_BAD("[truex]");
    S_BAD("[tru]");
    S_BAD("[True]");
    S_BAD("[nul]");
    S_BAD("[nulll]");
    S_BAD("[falsetrue]");
    S_BAD("[NaN]");
    S_BAD("[Infinity]");
    S_BAD("[-Infinity]");
    S_BAD("[undefined]");
    S_BAD("[true1]");
    S_BAD("[/* c */]");
    S_BAD("[1]\n// c");
    S_BAD("[\"a\" \"b\"]");
    S_BAD("[\xc3\xa9]");
    S_BAD("[\xff]");

    /* jansson drops one NUL byte right after a number or keyword (a lexer quirk); we match it. */
    S_OK("[1\0]");
    S_OK("[true\0,false\0,null\0]");
    S_OK("{\"a\":-1.5e3\0}");
    S_OK("[1\0 ]");
    S_BAD("[1\0\0]");
    S_BAD("[1 \0]");
    S_BAD("[\"a\"\0]");
    S_BAD("[[]\0]");
    S_ANY_OK("7\0");
    S_ANY_OK("7\0 ");
    s_expect("7\0", 2, JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK, 1);

    /* Scalars at the top with JSON_DECODE_ANY. */
    S_ANY_OK("1");
    S_ANY_OK(" -0 ");
    S_ANY_OK("\"x\"");
    S_ANY_OK("true");
    S_ANY_OK("null");
    S_ANY_OK("1.5e3");
    S_ANY_BAD("truex");
    S_ANY_BAD("1 2");
    S_ANY_BAD("\"x\" \"y\"");
    S_ANY_BAD("");
    S_ANY_BAD("-");
    S_ANY_BAD("+1");

    /* An empty buffer, also through a NULL pointer. */
    json_t *v = NULL;
    td_error_t err = {0};
    TD_ASSERT_EQ(td_json_parse(NULL, 0, &v, &err), TD_EPROTO);
    TD_ASSERT(v == NULL);
    TD_ASSERT_EQ(err.offset, 0);
}

/* ---- strings ----------------------------------------------------------------------------------
 */

static void s_strings(void)
{
    S_OK("[\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\"]");
    S_OK("[\"\\u0041\\u00e9\\u00E9\\u20ac\\uffff\\uFFFE\"]");
    S_OK("[\"\\ud83d\\ude00\"]"); /* a surrogate pair: U+1F600 */
    S_OK("[\"\\uDBFF\\uDFFF\"]"); /* U+10FFFF */
    S_OK("[\"\\uD800\\uDC00\"]"); /* U+10000 */
    S_OK("[\"\\u0001\\u001f\\u007f\"]");
    S_OK("{\"k\\n\\u00e9\":\"v\\t\"}");
    S_OK("[\"\x7f\"]"); /* DEL is not a control character to JSON */
    S_BAD("[\"\\u0000\"]");
    S_BAD("{\"\\u0000\":1}");
    S_BAD("[\"\\ud800\"]"); /* lone high surrogate */
    S_BAD("[\"\\ud800x\"]");
    S_BAD("[\"\\ud800\\n\"]");
    S_BAD("[\"\\udc00\"]");        /* lone low surrogate */
    S_BAD("[\"\\udc00\\ud800\"]"); /* reversed pair */
    S_BAD("[\"\\ud800\\ud800\"]"); /* two highs */
    S_BAD("[\"\\ud800\\u0041\"]");
    S_BAD("[\"\\ud800\\u");
    S_BAD("[\"\\ud800\\uZZZZ\"]");
    S_BAD("[\"\\u12\"]");
    S_BAD("[\"\\u12G4\"]");
    S_BAD("[\"\\U0041\"]");
    S_BAD("[\"\\x41\"]");
    S_BAD("[\"\\a\"]");
    S_BAD("[\"\\'\"]");
    S_BAD("[\"\\0\"]");
    S_BAD("[\"\\\"]");
    S_BAD("[\"\\");
    S_BAD("[\"abc");
    S_BAD("[\"abc\\\"]");
    S_BAD("[\"a\nb\"]");
    S_BAD("[\"a\tb\"]");
    S_BAD("[\"a\x1f\"]");
    S_BAD("[\"a\0b\"]");
    S_BAD("['a']");

    /* \u0000: values with JSON_ALLOW_NUL, never keys. */
    static const char nul[] = "[\"a\\u0000b\"]", nulkey[] = "{\"a\\u0000\":1}";
    s_expect(nul, sizeof nul - 1, JSON_ALLOW_NUL, 1);
    s_expect(nulkey, sizeof nulkey - 1, JSON_ALLOW_NUL, 0);
    json_t *v = NULL;
    TD_ASSERT_EQ(td_json_parse_flags(nul, sizeof nul - 1, JSON_ALLOW_NUL, &v, NULL),
                 (ssize_t)sizeof nul - 1);
    TD_ASSERT_EQ(json_string_length(json_array_get(v, 0)), 3);
    TD_ASSERT_MEM_EQ(json_string_value(json_array_get(v, 0)), "a\0b", 3);
    json_decref(v);

    /* Every control character, raw (rejected) and escaped (accepted, except \u0000). */
    for (int c = 0; c < 0x20; c++) {
        char raw[] = {'[', '"', (char)c, '"', ']'};
        s_expect(raw, sizeof raw, 0, 0);
        char esc[16];
        int n = snprintf(esc, sizeof esc, "[\"\\u%04x\"]", c);
        s_expect(esc, (size_t)n, 0, c != 0);
    }
}

/* A long string mixing every escape, \u forms of all lengths, surrogate pairs and raw UTF-8, at
 * every alignment relative to the 16- and 8-byte scan steps, as a value and as a key. */
static void s_big_strings(void)
{
    /* clang-format off */
    static const char *const pieces[] = {
        "\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t", "\\u0041", "\\u00e9", "\\u0800",
        "\\uffff", "\\ud83d\\ude00", "\\uDBFF\\uDFFF", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
        "\xf4\x8f\xbf\xbf", "\xef\xbf\xbf", "abcdefghijklmnopq", "x", "0123456789abcdef", " ", "~"};
    /* clang-format on */
    size_t np = sizeof pieces / sizeof pieces[0];
    size_t cap = 1 << 21;
    char *buf = malloc(cap);
    TD_ASSERT(buf != NULL);
    uint32_t seed = 12345;
    for (int round = 0; round < 40; round++) {
        size_t k = 0;
        buf[k++] = '{';
        buf[k++] = '"';
        for (int i = 0; i < round; i++) /* shifts every later byte's alignment */
            buf[k++] = 'k';
        size_t target = round < 20 ? 40 + (size_t)round * 7 : (size_t)1 << (10 + round % 11);
        int split = 0;
        while (k < target) {
            seed = seed * 1103515245 + 12345;
            const char *s = pieces[(seed >> 16) % np];
            size_t len = strlen(s);
            memcpy(buf + k, s, len);
            k += len;
            if (!split && round % 2 && (seed >> 8) % 5 == 0) { /* a long key, a long value */
                memcpy(buf + k, "\":\"", 3);
                k += 3;
                split = 1;
            }
        }
        if (!split) {
            memcpy(buf + k, "\":\"", 3);
            k += 3;
        }
        for (int i = 0; i < round % 17; i++)
            buf[k++] = 'v';
        memcpy(buf + k, "\"}", 2);
        k += 2;
        s_expect(buf, k, 0, 1);
        /* The same with one byte broken: a raw newline, a bad escape or a stray continuation. */
        size_t at = k / 2;
        char keep = buf[at];
        buf[at] = '\n';
        s_expect(buf, k, 0, 0);
        buf[at] = (char)0x80;
        s_both(buf, k, 0); /* may or may not land inside a sequence: just agree */
        buf[at] = keep;
        /* Truncated at every length near the end. */
        for (size_t cut = k - 6; cut < k; cut++)
            s_expect(buf, cut, 0, 0);
    }
    /* A plain 1 MB string: the all-ASCII fast path end to end. */
    size_t k = 0;
    buf[k++] = '[';
    buf[k++] = '"';
    for (size_t i = 0; i < (1u << 20); i++)
        buf[k++] = (char)('A' + i % 26);
    buf[k++] = '"';
    buf[k++] = ']';
    s_expect(buf, k, 0, 1);
    free(buf);
}

/* ---- UTF-8 ------------------------------------------------------------------------------------
 */

static int s_try(const uint8_t *seq, size_t n)
{
    char in[16];
    in[0] = '[';
    in[1] = '"';
    memcpy(in + 2, seq, n);
    in[2 + n] = '"';
    in[3 + n] = ']';
    return s_both(in, n + 4, 0);
}

static void s_utf8(void)
{
    /* Every two-byte sequence. */
    size_t accepted = 0;
    for (int a = 0; a < 256; a++)
        for (int b = 0; b < 256; b++)
            accepted += (size_t)s_try((const uint8_t[]){(uint8_t)a, (uint8_t)b}, 2);
    /* Valid pairs: both ASCII printable-or-DEL without '"' and '\\' (94 each), one C2..DF lead
     * with a continuation (30 * 64), or one of the eight two-byte escapes. */
    TD_ASSERT_EQ(accepted, 94 * 94 + 30 * 64 + 8);

    /* Three- and four-byte sequences: every lead, every second byte, the edge third bytes. */
    static const uint8_t edge[] = {0x00, 0x22, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f,
                                   0xa0, 0xbf, 0xc0, 0xc2, 0xe0, 0xf0, 0xf5, 0xff};
    for (int a = 0x80; a < 256; a++)
        for (int b = 0; b < 256; b++)
            for (size_t c = 0; c < sizeof edge; c++) {
                s_try((const uint8_t[]){(uint8_t)a, (uint8_t)b, edge[c]}, 3);
                s_try((const uint8_t[]){(uint8_t)a, (uint8_t)b, edge[c], 0x80}, 4);
                s_try((const uint8_t[]){(uint8_t)a, (uint8_t)b, 0x80, edge[c]}, 4);
            }

    /* The named cases, with their verdicts. */
    static const struct {
        const char *seq;
        int ok;
    } cases[] = {
        {"\x7f", 1},
        {"\xc2\x80", 1},                 /* U+0080, the smallest two-byte */
        {"\xdf\xbf", 1},                 /* U+07FF */
        {"\xe0\xa0\x80", 1},             /* U+0800 */
        {"\xed\x9f\xbf", 1},             /* U+D7FF, just below the surrogates */
        {"\xee\x80\x80", 1},             /* U+E000, just above */
        {"\xef\xbf\xbf", 1},             /* U+FFFF */
        {"\xf0\x90\x80\x80", 1},         /* U+10000 */
        {"\xf4\x8f\xbf\xbf", 1},         /* U+10FFFF, the largest */
        {"\xc0\x80", 0},                 /* overlong NUL */
        {"\xc1\xbf", 0},                 /* overlong U+007F */
        {"\xe0\x80\x80", 0},             /* overlong */
        {"\xe0\x9f\xbf", 0},             /* overlong U+07FF */
        {"\xf0\x80\x80\x80", 0},         /* overlong */
        {"\xf0\x8f\xbf\xbf", 0},         /* overlong U+FFFF */
        {"\xed\xa0\x80", 0},             /* U+D800 encoded in UTF-8 */
        {"\xed\xbf\xbf", 0},             /* U+DFFF */
        {"\xed\xa0\xbd\xed\xb8\x80", 0}, /* CESU-8 pair */
        {"\xf4\x90\x80\x80", 0},         /* U+110000 */
        {"\xf5\x80\x80\x80", 0},
        {"\xf8\x88\x80\x80\x80", 0}, /* five bytes */
        {"\xfc\x84\x80\x80\x80\x80", 0},
        {"\xfe", 0},
        {"\xff", 0},
        {"\x80", 0}, /* a lone continuation */
        {"\xbf", 0},
        {"\xc3", 0}, /* truncated before the closing quote */
        {"\xe2\x82", 0},
        {"\xf0\x9f\x98", 0},
        {"\xc3\xa9\xc3", 0},
        {"a\xe2\x82\xacz", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char in[32];
        int n = snprintf(in, sizeof in, "[\"%s\"]", cases[i].seq);
        s_expect(in, (size_t)n, 0, cases[i].ok);
        /* Also as a key, and at the very end of the input without the closing quote. */
        n = snprintf(in, sizeof in, "{\"%s\":0}", cases[i].seq);
        s_expect(in, (size_t)n, 0, cases[i].ok);
        n = snprintf(in, sizeof in, "[\"%s", cases[i].seq);
        s_expect(in, (size_t)n, 0, 0);
    }
    /* Invalid UTF-8 outside strings is an error too. */
    S_BAD("[1,\xc3\xa9]");
    S_BAD("[1]\xc3\xa9");
    S_BAD("[1] \xff");
}

/* ---- numbers ----------------------------------------------------------------------------------
 */

static json_t *s_one(const char *text)
{
    json_t *v = NULL;
    char in[512];
    int n = snprintf(in, sizeof in, "[%s]", text);
    s_expect(in, (size_t)n, 0, 1);
    TD_ASSERT_EQ(td_json_parse(in, (size_t)n, &v, NULL), n);
    json_t *x = json_incref(json_array_get(v, 0));
    json_decref(v);
    return x;
}

static void s_int(const char *text, json_int_t want)
{
    json_t *x = s_one(text);
    TD_ASSERT(json_is_integer(x));
    TD_ASSERT(json_integer_value(x) == want);
    json_decref(x);
}

static void s_real(const char *text, double want)
{
    json_t *x = s_one(text);
    TD_ASSERT(json_is_real(x));
    double got = json_real_value(x);
    if (memcmp(&got, &want, sizeof got) != 0)
        TD_FAIL("%s: %.17g != %.17g", text, got, want);
    json_decref(x);
}

static void s_bad_number(const char *text)
{
    char in[512];
    int n = snprintf(in, sizeof in, "[%s]", text);
    s_expect(in, (size_t)n, 0, 0);
}

static void s_numbers(void)
{
    s_int("0", 0);
    s_int("-0", 0);
    s_int("7", 7);
    s_int("-7", -7);
    s_int("9223372036854775807", INT64_MAX);
    s_int("-9223372036854775807", -INT64_MAX);
    s_int("-9223372036854775808", INT64_MIN);
    s_int("1000000000000000000", 1000000000000000000LL);
    s_int("999999999999999999", 999999999999999999LL);
    s_bad_number("9223372036854775808");
    s_bad_number("-9223372036854775809");
    s_bad_number("9999999999999999999");  /* 19 digits, fits a uint64_t, not json_int_t */
    s_bad_number("18446744073709551616"); /* 2^64 */
    s_bad_number("100000000000000000000000000000");
    s_bad_number("-100000000000000000000000000000");

    s_real("0.0", 0.0);
    s_real("-0.0", -0.0);
    s_real("-0e10", -0.0);
    s_real("0e99999999999999999999", 0.0);
    s_real("1.5", 1.5);
    s_real("-1.5", -1.5);
    s_real("1e0", 1.0);
    s_real("1E+2", 100.0);
    s_real("1e-2", 0.01);
    s_real("0.1", 0.1);
    s_real("123.456", 123.456);
    s_real("-9223372036854775808.0", -9223372036854775808.0); /* 20 digits: 5 * 2^64 */
    s_real("92233720368547758080e0", 92233720368547758080.0);
    s_real("0.0000000000000000000092233720368547758080", 9.223372036854775808e-21);
    s_real("1e22", 1e22);
    s_real("1e23", 1e23); /* past the exact powers: strtod */
    s_real("9007199254740993.0", 9007199254740992.0);
    s_real("9007199254740993e-0", 9007199254740992.0);
    s_real("1.7976931348623157e308", 1.7976931348623157e308);
    s_real("2.2250738585072014e-308", 2.2250738585072014e-308);
    s_real("4.9406564584124654e-324", 4.9406564584124654e-324);
    s_real("1e-400", 0.0); /* underflow is not an error in jansson */
    s_real("-1e-400", -0.0);
    s_real("0.000000000000000000000000000001", 1e-30);
    s_real("100000000000000000000000000000.0", 1e29);
    s_real("123456789012345678901234567890e-10", 12345678901234567890.1234567890);
    /* Exactly halfway between 1 and the next double: ties go to even. */
    s_real("1.00000000000000011102230246251565404236316680908203125", 1.0);
    s_real("1.00000000000000011102230246251565404236316680908203126", 1.0000000000000002);
    s_bad_number("1e400"); /* overflow is */
    s_bad_number("-1e400");
    s_bad_number("1.7976931348623159e308");
    s_bad_number("1e99999999999999999999");
    s_bad_number("01");
    s_bad_number("-01");
    s_bad_number("00");
    s_bad_number("+1");
    s_bad_number(".5");
    s_bad_number("1.");
    s_bad_number("1.e5");
    s_bad_number("1e");
    s_bad_number("1e+");
    s_bad_number("1E-");
    s_bad_number("-");
    s_bad_number("--1");
    s_bad_number("- 1");
    s_bad_number("0x10");
    s_bad_number("1.5.5");
    s_bad_number("1e5e5");
    s_bad_number("1e5.5");
    s_bad_number("1_000");

    /* JSON_DECODE_INT_AS_REAL: integers become reals, huge ones too. */
    static const char *const ints[] = {
        "[0]",     "[-0]", "[9223372036854775808]", "[123456789012345678901234567890]",
        "[1e400]", "[-5]"};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        s_expect(ints[i], strlen(ints[i]), JSON_DECODE_INT_AS_REAL, i != 4);

    /* Random doubles printed at 17 significant digits must come back bit-identical, and random
     * short decimals must match strtod (through jansson). */
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double d;
        memcpy(&d, &x, sizeof d);
        if (!isfinite(d))
            continue;
        char txt[64];
        snprintf(txt, sizeof txt, "%.17g", d);
        if (strchr(txt, '.') == NULL && strchr(txt, 'e') == NULL)
            strcat(txt, ".0");
        s_real(txt, d);
        int digits = 1 + (int)(x >> 59) % 18;
        int exp = (int)((x >> 40) % 60) - 30;
        snprintf(txt, sizeof txt, "[%llu.%llue%d]", (unsigned long long)(x % 1000),
                 (unsigned long long)((x >> 20) % 1000000000000ull) % (uint64_t)pow(10, digits),
                 exp);
        s_both(txt, strlen(txt), 0);
    }
}

/* Random decimal tokens shaped to hit the fast path's edges: 1 to 24 digits (often with leading
 * or trailing zeros, often near 2^53 or 2^64 in magnitude), a point anywhere, exponents around
 * +-22. Each must match jansson (strtod) bit for bit, or be rejected by both. */
static void s_decimals(void)
{
    uint64_t x = 0x2545F4914F6CDD1Dull;
    char txt[80];
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t k = 0, nd = 1 + x % 24;
        txt[k++] = '[';
        if (x >> 63)
            txt[k++] = '-';
        size_t point = (x >> 8) % (nd + 1), lead = (x >> 16) % 4 == 0 ? (x >> 20) % 22 : 0;
        uint64_t y = x * 0x9E3779B97F4A7C15ull;
        for (size_t d = 0; d < nd; d++) {
            if (d == point && d > 0)
                txt[k++] = '.';
            if (d < lead || (d > nd / 2 && (x >> 24) % 3 == 0))
                txt[k++] = '0'; /* leading zeros (a bad token unless a point follows) or zeros */
            else
                txt[k++] = (char)('0' + (y >> (d % 16 * 4)) % 10);
        }
        if ((x >> 30) % 3 != 0)
            k += (size_t)snprintf(txt + k, sizeof txt - k, "e%d", (int)((x >> 32) % 61) - 30);
        txt[k++] = ']';
        s_both(txt, k, 0);
    }
}

/* ---- nesting ----------------------------------------------------------------------------------
 */

/* depth arrays (or objects) around an optional scalar. */
static void s_nest(size_t depth, int objects, const char *inner, int ok)
{
    size_t cap = depth * 8 + 16, k = 0;
    char *buf = malloc(cap);
    TD_ASSERT(buf != NULL);
    for (size_t i = 0; i < depth; i++) {
        if (objects && i > 0) {
            memcpy(buf + k, "\"k\":", 4);
            k += 4;
        }
        buf[k++] = objects ? '{' : '[';
    }
    if (inner) {
        if (objects) {
            memcpy(buf + k, "\"k\":", 4);
            k += 4;
        }
        memcpy(buf + k, inner, strlen(inner));
        k += strlen(inner);
    }
    for (size_t i = 0; i < depth; i++)
        buf[k++] = objects ? '}' : ']';
    s_expect(buf, k, 0, ok);
    /* Cut short: always an error, never a crash or a leak. */
    s_expect(buf, k - 1, 0, 0);
    free(buf);
}

static void s_nesting(void)
{
    s_nest(31, 0, "1", 1); /* around the small stack's first growth */
    s_nest(32, 0, "1", 1);
    s_nest(33, 0, "1", 1);
    s_nest(129, 1, "[]", 1);
    s_nest(TD_JSON_MAX_DEPTH - 1, 0, "1", 1);
    s_nest(TD_JSON_MAX_DEPTH, 0, NULL, 1); /* the deepest empty container */
    s_nest(TD_JSON_MAX_DEPTH, 0, "1", 0);  /* a scalar counts as a level */
    s_nest(TD_JSON_MAX_DEPTH, 0, "\"s\"", 0);
    s_nest(TD_JSON_MAX_DEPTH + 1, 0, NULL, 0);
    s_nest(TD_JSON_MAX_DEPTH, 1, NULL, 1);
    s_nest(TD_JSON_MAX_DEPTH, 1, "1", 0);
    s_nest(TD_JSON_MAX_DEPTH + 1, 1, NULL, 0);
    s_nest(100000, 0, NULL, 0);
    s_nest(100000, 1, "null", 0);

    /* The error is the depth, reported where the deepest value starts. */
    char buf[TD_JSON_MAX_DEPTH + 8];
    memset(buf, '[', TD_JSON_MAX_DEPTH + 1);
    td_error_t err = {0};
    json_t *v = NULL;
    TD_ASSERT_EQ(td_json_parse(buf, TD_JSON_MAX_DEPTH + 1, &v, &err), TD_EPROTO);
    TD_ASSERT_EQ(err.offset, TD_JSON_MAX_DEPTH);
    TD_ASSERT(strstr(err.text, "depth") != NULL);
}

/* ---- flags and the API ------------------------------------------------------------------------
 */

static void s_flags(void)
{
    /* Duplicates: the last wins by default, an error when rejected. */
    static const char dup[] = "{\"a\":1,\"b\":2,\"a\":[3]}";
    s_expect(dup, sizeof dup - 1, 0, 1);
    s_expect(dup, sizeof dup - 1, JSON_REJECT_DUPLICATES, 0);
    json_t *v = NULL;
    TD_ASSERT_EQ(td_json_parse(dup, sizeof dup - 1, &v, NULL), sizeof dup - 1);
    TD_ASSERT_EQ(json_object_size(v), 2);
    TD_ASSERT(json_is_array(json_object_get(v, "a")));
    TD_ASSERT_STR_EQ(json_object_iter_key(json_object_iter(v)), "a");
    json_decref(v);
    static const char nested[] = "{\"a\":{\"a\":1,\"b\":{\"a\":2}},\"b\":1}";
    s_expect(nested, sizeof nested - 1, JSON_REJECT_DUPLICATES, 1);

    /* JSON_DISABLE_EOF_CHECK: the value ends where jansson's lexer says, and we report where. */
    static const struct {
        const char *in;
        ssize_t used; /* -1: rejected */
    } eof[] = {
        {"[1] x", 3}, {"{}{}", 2},   {"[]  ", 2}, {"1x", 1},     {"1.5.", 3},
        {"true1", 4}, {"truex", -1}, {"1.", -1},  {"\"a\"b", 3}, {"null\xff", 4},
        {"-0-", 2},   {"1e5e", 3},   {" 7 ", 2},  {"01", -1},    {"", -1},
    };
    for (size_t i = 0; i < sizeof eof / sizeof eof[0]; i++) {
        size_t n = strlen(eof[i].in), fl = JSON_DISABLE_EOF_CHECK | JSON_DECODE_ANY;
        s_expect(eof[i].in, n, fl, eof[i].used >= 0);
        ssize_t r = td_json_parse_flags(eof[i].in, n, fl, &v, NULL);
        TD_ASSERT_EQ(r, eof[i].used >= 0 ? eof[i].used : TD_EPROTO);
        json_decref(v);
    }

    /* Flags we do not implement, and misuse. */
    td_error_t err = {0};
    TD_ASSERT_EQ(td_json_parse_flags("[]", 2, 0x100, &v, &err), TD_EINVAL);
    TD_ASSERT(v == NULL);
    TD_ASSERT_EQ(err.code, TD_EINVAL);
    TD_ASSERT_EQ(td_json_parse("[]", 2, NULL, NULL), TD_EINVAL);
    TD_ASSERT_EQ(td_json_parse(NULL, 1, &v, NULL), TD_EINVAL);

    /* Error offsets point at the offending byte; the first error wins. */
    static const struct {
        const char *in;
        size_t off;
    } where[] = {
        {"[1,2,x]", 5},   {"{\"a\":1 \"b\":2}", 7}, {"[\"ab\ncd\"]", 4},
        {"[\"\\q\"]", 2}, {"[\"\xc3(\"]", 2},       {"[1] 2", 4},
        {"[01]", 1},      {"[1e999]", 1},
    };
    for (size_t i = 0; i < sizeof where / sizeof where[0]; i++) {
        td_error_t e = {0};
        TD_ASSERT_EQ(td_json_parse(where[i].in, strlen(where[i].in), &v, &e), TD_EPROTO);
        if (e.offset != where[i].off)
            TD_FAIL("'%s': error at %zu (%s), expected %zu", where[i].in, e.offset, e.text,
                    where[i].off);
    }
    td_error_t first = {.code = TD_ENOENT, .offset = 99};
    TD_ASSERT_EQ(td_json_parse("[", 1, &v, &first), TD_EPROTO);
    TD_ASSERT_EQ(first.code, TD_ENOENT);
    TD_ASSERT_EQ(first.offset, 99);
}

/* Every prefix of a document with everything in it must be rejected (or, for the whole, accepted
 * identically): truncation is the commonest way a buffer goes wrong. */
static void s_prefixes(void)
{
    static const char doc[] =
        "{\"cells\":[{\"cell_type\":\"code\",\"execution_count\":12,\"metadata\":{\"tags\":[]},"
        "\"outputs\":[{\"name\":\"stdout\",\"text\":[\"a\\tb\\n\","
        "\"\\u00e9\\ud83d\\ude00\xc3\xa9\"]},"
        "{\"data\":{\"image/png\":\"iVBORw0KGgo=\"},\"x\":-1.25e-3,\"y\":true,\"z\":null}],"
        "\"source\":\"print(1)\"}],\"nbformat\":4,\"nbformat_minor\":5,\"f\":false}";
    for (size_t n = 0; n <= sizeof doc - 1; n++)
        s_expect(doc, n, 0, n == sizeof doc - 1);
    for (size_t n = 0; n <= sizeof doc - 1; n++)
        s_both(doc, n, JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK);
}

/* td_json_dump writes json_dumps(JSON_COMPACT)'s exact bytes, and refuses what is too deep. */
static void s_dump(void)
{
    const char *docs[] = {"{}", "[]", "{\"a\":[1,-2,3.5,1e300,true,false,null,\"\"]}",
                          "[\"q\\\"b\\\\s\\n\\t\\u0001\\u001f\\u007f\\u00e9\\ud83d\\ude00\"]",
                          "{\"k\\u0001x\":1,\"\\u00e9\":{\"z\":[[[]]]},\"n\":\"a\\u0000b\"}",
                          "[-9223372036854775808, 0.1, -0.0]"};
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        json_t *v = json_loads(docs[i], JSON_ALLOW_NUL, NULL);
        TD_ASSERT(v != NULL);
        char *want = json_dumps(v, JSON_COMPACT), *got = NULL;
        size_t len = 0;
        TD_ASSERT_OK(td_json_dump(v, &got, &len));
        TD_ASSERT(len == strlen(want) && memcmp(got, want, len) == 0 && got[len] == '\0');
        free(want);
        free(got);
        json_decref(v);
    }
    json_t *s = json_string("scalar"), *deep = json_array(), *at = deep;
    char *got = NULL;
    TD_ASSERT_OK(td_json_dump(s, &got, NULL));
    TD_ASSERT_STR_EQ(got, "\"scalar\"");
    free(got);
    for (int i = 0; i < TD_JSON_MAX_DEPTH + 1; i++) {
        json_t *in = json_array();
        json_array_append_new(at, in);
        at = in;
    }
    TD_ASSERT_EQ(td_json_dump(deep, &got, NULL), TD_EINVAL);
    TD_ASSERT(got == NULL);
    TD_ASSERT_EQ(td_json_dump(NULL, &got, NULL), TD_EINVAL);
    json_decref(s);
    json_decref(deep);
}

void test_td_json(void)
{
    s_dump();
    s_grammar();
    s_strings();
    s_big_strings();
    s_utf8();
    s_numbers();
    s_decimals();
    s_nesting();
    s_flags();
    s_prefixes();
    printf("td_json: %zu inputs agreed with json_loadb\n", s_checked);
}
