/* test_td_lib0.c: lib0 primitives against the byte examples in yjs-format.md §1 (produced with
 * lib0 0.2.120), round trips at the edges, and rejection of truncated or out-of-range input. */
#include <math.h>

#include "td/td_lib0.h"
#include "test.h"

static void s_expect(td_lib0_enc_t *e, const char *hex)
{
    char got[1024];
    size_t k = 0;
    TD_ASSERT_OK(e->err);
    for (size_t i = 0; i < e->len && k + 3 < sizeof got; i++)
        k += (size_t)snprintf(got + k, sizeof got - k, "%02x", e->buf[i]);
    got[k] = 0;
    TD_ASSERT_STR_EQ(got, hex);
    e->len = 0;
}

static void s_varuint(uint64_t v, const char *hex)
{
    td_lib0_enc_t e;
    td_lib0_enc_init(&e);
    td_lib0_write_varuint(&e, v);
    uint64_t back = 0;
    ssize_t r = td_lib0_read_varuint(e.buf, e.len, &back);
    TD_ASSERT_EQ(r, (ssize_t)e.len);
    TD_ASSERT(back == v);
    s_expect(&e, hex);
    td_lib0_enc_fini(&e);
}

static void s_varint(int64_t v, const char *hex)
{
    td_lib0_enc_t e;
    td_lib0_enc_init(&e);
    td_lib0_write_varint(&e, v);
    int64_t back = 0;
    ssize_t r = td_lib0_read_varint(e.buf, e.len, &back, NULL);
    TD_ASSERT_EQ(r, (ssize_t)e.len);
    TD_ASSERT_EQ(back, v);
    s_expect(&e, hex);
    td_lib0_enc_fini(&e);
}

static void s_any(const char *json, const char *hex)
{
    json_error_t je;
    json_t *v = json_loads(json, JSON_DECODE_ANY, &je);
    TD_ASSERT(v != NULL);
    td_lib0_enc_t e;
    td_lib0_enc_init(&e);
    TD_ASSERT_OK(td_lib0_write_any_json(&e, v));
    /* Decode back and compare as JSON. */
    td_lib0_dec_t d;
    td_lib0_dec_init(&d, e.buf, e.len, NULL);
    json_t *back = NULL;
    TD_ASSERT_OK(td_lib0_dec_any_json(&d, &back));
    TD_ASSERT_EQ(d.pos, e.len);
    TD_ASSERT(json_equal(v, back));
    td_lib0_dec_init(&d, e.buf, e.len, NULL);
    TD_ASSERT_OK(td_lib0_dec_any_skip(&d));
    TD_ASSERT_EQ(d.pos, e.len);
    s_expect(&e, hex);
    json_decref(v);
    json_decref(back);
    td_lib0_enc_fini(&e);
}

static void s_any_number(double v, const char *hex)
{
    td_lib0_enc_t e;
    td_lib0_enc_init(&e);
    td_lib0_write_any_number(&e, v);
    s_expect(&e, hex);
    td_lib0_enc_fini(&e);
}

/* Decoding hex must fail with TD_EPROTO at the given offset. */
static void s_bad_any(const uint8_t *p, size_t n, size_t offset)
{
    td_error_t err = {0};
    td_lib0_dec_t d;
    td_lib0_dec_init(&d, p, n, &err);
    json_t *v = NULL;
    TD_ASSERT_EQ(td_lib0_dec_any_json(&d, &v), TD_EPROTO);
    TD_ASSERT(v == NULL);
    TD_ASSERT_EQ(err.code, TD_EPROTO);
    TD_ASSERT_EQ(err.offset, offset);
    td_lib0_dec_init(&d, p, n, NULL);
    TD_ASSERT_EQ(td_lib0_dec_any_skip(&d), TD_EPROTO);
}

static void s_test_varints(void)
{
    s_varuint(0, "00");
    s_varuint(127, "7f");
    s_varuint(128, "8001");
    s_varuint(300, "ac02");
    s_varuint(2026372272, "b0f99fc607");
    s_varuint(TD_LIB0_MAX_SAFE_INT, "ffffffffffffff0f");
    s_varint(4, "04");
    s_varint(63, "3f");
    s_varint(64, "8001");
    s_varint(-1, "41");
    s_varint(-64, "c001");
    s_varint(1000, "a80f");
    s_varint(-(int64_t)TD_LIB0_MAX_SAFE_INT, "ffffffffffffff1f");
    s_varint((int64_t)TD_LIB0_MAX_SAFE_INT, "bfffffffffffff1f");

    uint64_t u;
    int64_t i;
    bool nz = false;
    TD_ASSERT_EQ(td_lib0_read_varuint((const uint8_t *)"\x80", 1, &u), TD_EAGAIN);
    TD_ASSERT_EQ(td_lib0_read_varuint(NULL, 0, &u), TD_EAGAIN);
    /* 2^53 is one past the limit; so is any ninth byte. */
    TD_ASSERT_EQ(td_lib0_read_varuint((const uint8_t *)"\x80\x80\x80\x80\x80\x80\x80\x10", 8, &u),
                 TD_EPROTO);
    TD_ASSERT_EQ(
        td_lib0_read_varuint((const uint8_t *)"\xff\xff\xff\xff\xff\xff\xff\xff\x01", 9, &u),
        TD_EPROTO);
    /* Non-canonical but in range: lib0 accepts it, so do we. */
    TD_ASSERT_EQ(td_lib0_read_varuint((const uint8_t *)"\x81\x00", 2, &u), 2);
    TD_ASSERT_EQ(u, 1);
    TD_ASSERT_EQ(td_lib0_read_varint((const uint8_t *)"\x40", 1, &i, &nz), 1);
    TD_ASSERT_EQ(i, 0);
    TD_ASSERT(nz);
    TD_ASSERT_EQ(td_lib0_read_varint((const uint8_t *)"\xc0", 1, &i, NULL), TD_EAGAIN);
    TD_ASSERT_EQ(
        td_lib0_read_varint((const uint8_t *)"\xbf\xff\xff\xff\xff\xff\xff\x20", 8, &i, NULL),
        TD_EPROTO);

    /* The cursor reports truncation as TD_EPROTO with the offset. */
    td_error_t err = {0};
    td_lib0_dec_t d;
    td_lib0_dec_init(&d, (const uint8_t *)"\x05\xff", 2, &err);
    TD_ASSERT_OK(td_lib0_dec_varuint(&d, &u));
    TD_ASSERT_EQ(u, 5);
    TD_ASSERT_EQ(td_lib0_dec_varuint(&d, &u), TD_EPROTO);
    TD_ASSERT_EQ(err.offset, 1);
}

static void s_canon(const char *in_hex, const char *out_hex)
{
    uint8_t in[256];
    size_t n = strlen(in_hex) / 2;
    for (size_t i = 0; i < n; i++)
        sscanf(in_hex + 2 * i, "%2hhx", &in[i]);
    td_lib0_dec_t d;
    td_lib0_dec_init(&d, in, n, NULL);
    td_lib0_enc_t e;
    td_lib0_enc_init(&e);
    TD_ASSERT_OK(td_lib0_dec_any_canon(&d, &e));
    TD_ASSERT_EQ(d.pos, n);
    s_expect(&e, out_hex);
    td_lib0_enc_fini(&e);
}

void test_td_lib0(void)
{
    /* What a JS readAny + writeAny round trip does to values other writers produce. */
    s_canon("7b4010000000000000", "7d04");
    s_canon("7b3ff8000000000000", "7c3fc00000");
    s_canon("7b7ff8000000000001", "7b7ff8000000000000");
    s_canon("7d8100", "7d01");
    s_canon("7d40", "7d40");
    s_canon("7603"
            "01627d01"
            "01617d02"
            "01627d03",
            "7602"
            "01627d03"
            "01617d02");
    s_canon("7602"
            "01627d01"
            "01307d02",
            "7602"
            "01307d02"
            "01627d01");
    s_canon("7502"
            "7c40800000"
            "770161",
            "7502"
            "7d04"
            "770161");
    s_canon("7a00000000000000ff", "7a00000000000000ff");

    s_test_varints();
    s_any("1.5", "7c3fc00000");
    s_any("0.1", "7b3fb999999999999a");
    s_any("null", "7e");
    s_any("true", "78");
    s_any("false", "79");
    s_any("\"hi\"", "77026869");
    s_any("[1]", "75017d01");
    s_any("{\"a\":1}", "760101617d01");
    s_any("-1", "7d41");
    s_any("[]", "7500");
    s_any("{}", "7600");
    /* JS enumerates integer-like keys first, ascending: {b:1, a:2, "1":3, "10":4, "01":5}. */
    s_any("{\"b\":1,\"a\":2,\"10\":4,\"1\":3,\"01\":5}", "7605"
                                                         "0131"
                                                         "7d03"
                                                         "023130"
                                                         "7d04"
                                                         "0162"
                                                         "7d01"
                                                         "0161"
                                                         "7d02"
                                                         "023031"
                                                         "7d05");
    s_any("\"\xc3\xa9\xf0\x9f\x98\x80\"", "7706c3a9f09f9880");

    s_any_number(2147483648.0, "7c4f000000");   /* 2^31: float32-exact */
    s_any_number(2147483647.0, "7dbfffffff0f"); /* 2^31 - 1: the int limit */
    s_any_number(-2147483647.0, "7dffffffff0f");
    s_any_number(NAN, "7b7ff8000000000000");
    s_any_number(-0.0, "7d40");
    s_any_number(4.0, "7d04");
    s_any_number(1e300, "7b7e37e43c8800759c");

    /* Decoding the tags JSON cannot express. */
    static const uint8_t misc[] = {0x75, 0x05, 0x7f, 0x7a, 0,    0,    0,    0, 0, 0, 0, 0x2a,
                                   0x74, 0x02, 0x01, 0xff, 0x7b, 0x7f, 0xf8, 0, 0, 0, 0, 0,
                                   0,    0x7b, 0x40, 0x10, 0,    0,    0,    0, 0, 0};
    td_lib0_dec_t d;
    td_lib0_dec_init(&d, misc, sizeof misc, NULL);
    json_t *v = NULL;
    TD_ASSERT_OK(td_lib0_dec_any_json(&d, &v));
    char *s = json_dumps(v, JSON_COMPACT);
    TD_ASSERT_STR_EQ(s, "[null,42,[1,255],null,4]");
    free(s);
    json_decref(v);

    /* Rejections: unknown tag, bad UTF-8, truncated, counts larger than the input. */
    s_bad_any((const uint8_t *)"\x73", 1, 0);
    s_bad_any((const uint8_t *)"\x75\x02\x7e\x80", 4, 3);
    s_bad_any((const uint8_t *)"\x77\x02\xc3\x28", 4, 1);
    s_bad_any((const uint8_t *)"\x77\x03\xed\xa0\x80", 5, 1); /* encoded surrogate */
    s_bad_any((const uint8_t *)"\x77\x02\xc0\x80", 4, 1);     /* overlong */
    s_bad_any((const uint8_t *)"\x77\x05hi", 4, 2);
    s_bad_any((const uint8_t *)"\x75\xff\xff\xff\x0f\x7e", 6, 5);
    s_bad_any((const uint8_t *)"\x76\x02\x01\x61\x7e", 5, 2);
    s_bad_any((const uint8_t *)"\x7c\x00\x00", 3, 1);
    uint8_t deep[600];
    for (size_t k = 0; k < sizeof deep; k += 2) {
        deep[k] = 0x75;
        deep[k + 1] = 0x01;
    }
    td_lib0_dec_init(&d, deep, sizeof deep, NULL);
    TD_ASSERT_EQ(td_lib0_dec_any_skip(&d), TD_EPROTO);

    /* Invalid UTF-8 or too deep JSON is refused by the writer. */
    td_lib0_enc_t e;
    td_lib0_enc_init(&e);
    json_t *bad = json_stringn_nocheck("\xff", 1);
    TD_ASSERT_EQ(td_lib0_write_any_json(&e, bad), TD_EINVAL);
    json_decref(bad);
    td_lib0_enc_fini(&e);

    /* Floats and bigints are big-endian. */
    td_lib0_enc_init(&e);
    td_lib0_write_float32(&e, 1.5f);
    td_lib0_write_float64(&e, 0.1);
    td_lib0_write_bigint64(&e, -2);
    s_expect(&e, "3fc000003fb999999999999afffffffffffffffe");
    td_lib0_write_string(&e, "ab", 2);
    td_lib0_write_buf(&e, "\x00\x01", 2);
    s_expect(&e, "026162020001");
    size_t n = 99;
    uint8_t *out = td_lib0_enc_steal(&e, &n);
    TD_ASSERT(out != NULL);
    TD_ASSERT_EQ(n, 0);
    free(out);
    TD_ASSERT(e.buf == NULL);

    /* UTF-16 helpers: "a😀é" is 1 + 2 + 1 units, 1 + 4 + 2 bytes. */
    const uint8_t *t = (const uint8_t *)"a\xf0\x9f\x98\x80\xc3\xa9";
    bool split = false;
    TD_ASSERT(td_lib0_utf8_valid(t, 7));
    TD_ASSERT(!td_lib0_utf8_valid(t, 6));
    TD_ASSERT(!td_lib0_utf8_valid((const uint8_t *)"\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    TD_ASSERT(!td_lib0_utf8_valid((const uint8_t *)"\xed\xa0\x80", 3));     /* a surrogate */
    TD_ASSERT(!td_lib0_utf8_valid((const uint8_t *)"\xe0\x9f\xbf", 3));     /* overlong U+07FF */
    TD_ASSERT(!td_lib0_utf8_valid((const uint8_t *)"\xc1\xbf", 2));         /* overlong U+007F */
    /* Sequence lengths: one per kind of lead byte, then every way a sequence can be bad. */
    TD_ASSERT_EQ(td_lib0_utf8_seq_len(t, 7), 1);
    TD_ASSERT_EQ(td_lib0_utf8_seq_len(t + 1, 6), 4);
    TD_ASSERT_EQ(td_lib0_utf8_seq_len(t + 5, 2), 2);
    TD_ASSERT_EQ(td_lib0_utf8_seq_len((const uint8_t *)"\xe2\x82\xac", 3), 3);     /* U+20AC */
    TD_ASSERT_EQ(td_lib0_utf8_seq_len((const uint8_t *)"\xf4\x8f\xbf\xbf", 4), 4); /* U+10FFFF */
    TD_ASSERT_EQ(td_lib0_utf8_seq_len((const uint8_t *)"\xed\x9f\xbf", 3), 3);     /* U+D7FF */
    TD_ASSERT_EQ(td_lib0_utf8_seq_len(t, 0), 0);
    TD_ASSERT_EQ(td_lib0_utf8_seq_len(t + 1, 3), 0); /* truncated */
    TD_ASSERT_EQ(td_lib0_utf8_seq_len(t + 2, 5), 0); /* continuation byte first */
    TD_ASSERT_EQ(td_lib0_utf8_seq_len((const uint8_t *)"\xed\xa0\x80", 3), 0);
    TD_ASSERT_EQ(td_lib0_utf8_seq_len((const uint8_t *)"\xe0\x9f\xbf", 3), 0);
    TD_ASSERT_EQ(td_lib0_utf8_seq_len((const uint8_t *)"\xf0\x8f\xbf\xbf", 4), 0);
    TD_ASSERT_EQ(td_lib0_utf8_seq_len((const uint8_t *)"\xf4\x90\x80\x80", 4), 0);
    TD_ASSERT_EQ(td_lib0_utf8_seq_len((const uint8_t *)"\xe2\x82\x41", 3), 0);
    TD_ASSERT_EQ(td_lib0_utf8_seq_len((const uint8_t *)"\xf5\x80\x80\x80", 4), 0);
    TD_ASSERT_EQ(td_lib0_utf8_seq_len((const uint8_t *)"\xc0\x80", 2), 0);
    TD_ASSERT_EQ(td_lib0_utf16_len(t, 7), 4);
    TD_ASSERT_EQ(td_lib0_utf8_offset(t, 7, 0, &split), 0);
    TD_ASSERT_EQ(td_lib0_utf8_offset(t, 7, 1, &split), 1);
    TD_ASSERT(!split);
    TD_ASSERT_EQ(td_lib0_utf8_offset(t, 7, 2, &split), 1);
    TD_ASSERT(split);
    TD_ASSERT_EQ(td_lib0_utf8_offset(t, 7, 3, &split), 5);
    TD_ASSERT(!split);
    TD_ASSERT_EQ(td_lib0_utf8_offset(t, 7, 4, &split), 7);
    TD_ASSERT_EQ(td_lib0_utf8_offset(t, 7, 9, &split), 7);
}
