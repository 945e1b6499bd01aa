/* test_td_kws.c: the kernel websocket codecs. The v1 worked example from the spec note decodes to
 * the right views; v1 and legacy round-trip with and without buffers; every malformed frame shape
 * (short, bad count, offsets out of order or past the end, unknown channel, non-object JSON,
 * missing header) is an error, never a crash. */
#include <jansson.h>

#include "td/td_kws.h"
#include "test.h"

static td_bytes_t s_b(const char *s)
{
    return (td_bytes_t){(const uint8_t *)s, strlen(s)};
}

static void s_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++, v >>= 8)
        p[i] = (uint8_t)v;
}

static void s_v1_roundtrip(void)
{
    const char *hdr = "{\"msg_id\":\"a\",\"msg_type\":\"comm_msg\"}";
    td_bytes_t part[4] = {s_b(hdr), s_b("{}"), s_b("{}"), s_b("{\"comm_id\":\"c1\",\"data\":{}}")};
    td_bytes_t buf[1] = {s_b("xyz")};
    uint8_t *mem;
    size_t len;
    TD_ASSERT_OK(td_kws_v1_encode(TD_CH_SHELL, part, buf, 1, 16, &mem, &len));
    const uint8_t *f = mem + 16;
    /* n = 7, offset[0] = 64, channel "shell" at 64..69 (the spec note's worked example). */
    TD_ASSERT_EQ(f[0], 7);
    TD_ASSERT_EQ(f[8], 64);
    TD_ASSERT_EQ(f[16], 69);
    TD_ASSERT_EQ(len, 64 + 5 + strlen(hdr) + 2 + 2 + 26 + 3);
    td_kws_msg_t m;
    TD_ASSERT_EQ(td_kws_v1_decode(f, len, &m, NULL), (long long)len);
    TD_ASSERT_EQ(m.channel, TD_CH_SHELL);
    TD_ASSERT_EQ(m.part[0].len, strlen(hdr));
    TD_ASSERT_MEM_EQ(m.part[0].data, hdr, strlen(hdr));
    TD_ASSERT_EQ(m.part[3].len, 26);
    TD_ASSERT_EQ(m.nbuf, 1);
    TD_ASSERT_MEM_EQ(m.buf[0].data, "xyz", 3);
    td_kws_msg_fini(&m);
    free(mem);
}

static void s_v1_bad(void)
{
    td_kws_msg_t m;
    td_error_t err = {0};
    uint8_t f[200] = {0};
    TD_ASSERT_EQ(td_kws_v1_decode(f, 4, &m, &err), TD_EPROTO);  /* shorter than the count */
    TD_ASSERT_EQ(td_kws_v1_decode(f, 200, &m, NULL), TD_EPROTO); /* count 0 */
    s_put64(f, 1ULL << 40);                                       /* absurd count */
    TD_ASSERT_EQ(td_kws_v1_decode(f, 200, &m, NULL), TD_EPROTO);
    s_put64(f, 30);                                               /* table longer than frame */
    TD_ASSERT_EQ(td_kws_v1_decode(f, 200, &m, NULL), TD_EPROTO);
    /* A good 6-offset frame, then break it one way at a time. */
    uint8_t *mem;
    size_t len;
    td_bytes_t part[4] = {s_b("{\"msg_type\":\"x\"}"), s_b("{}"), s_b("{}"), s_b("{}")};
    TD_ASSERT_OK(td_kws_v1_encode(TD_CH_CONTROL, part, NULL, 0, 0, &mem, &len));
    TD_ASSERT_EQ(td_kws_v1_decode(mem, len, &m, NULL), (long long)len);
    TD_ASSERT_EQ(m.channel, TD_CH_CONTROL);
    td_kws_msg_fini(&m);
    s_put64(mem + 8, 60); /* offset[0] must be 8*(n+1) */
    TD_ASSERT_EQ(td_kws_v1_decode(mem, len, &m, NULL), TD_EPROTO);
    s_put64(mem + 8, 56);
    s_put64(mem + 24, 1000); /* past the end */
    TD_ASSERT_EQ(td_kws_v1_decode(mem, len, &m, NULL), TD_EPROTO);
    s_put64(mem + 24, 57); /* before the previous one */
    TD_ASSERT_EQ(td_kws_v1_decode(mem, len, &m, NULL), TD_EPROTO);
    free(mem);
    /* Unknown channel. */
    TD_ASSERT_OK(td_kws_v1_encode(TD_CH_SHELL, part, NULL, 0, 0, &mem, &len));
    memcpy(mem + 56, "shelX", 5);
    TD_ASSERT_EQ(td_kws_v1_decode(mem, len, &m, &err), TD_EPROTO);
    free(mem);
    TD_ASSERT_EQ(td_kws_v1_encode(TD_CH_HB, part, NULL, 0, 0, &mem, &len), TD_EINVAL);
}

static void s_legacy(void)
{
    const char *text = "{\"header\":{\"msg_id\":\"1\",\"msg_type\":\"execute_request\"},"
                       "\"parent_header\":{},\"content\":{\"code\":\"1\"},\"channel\":\"shell\"}";
    td_kws_msg_t m;
    TD_ASSERT_EQ(td_kws_legacy_decode((const uint8_t *)text, strlen(text), 0, &m, NULL),
                 (long long)strlen(text));
    TD_ASSERT_EQ(m.channel, TD_CH_SHELL);
    TD_ASSERT_EQ(m.part[2].len, 2); /* missing metadata became {} */
    TD_ASSERT_MEM_EQ(m.part[3].data, "{\"code\":\"1\"}", 12);
    /* Encode it back: text without buffers, with msg_id/msg_type copied. */
    uint8_t *mem;
    size_t len;
    int binary;
    TD_ASSERT_OK(td_kws_legacy_encode(TD_CH_IOPUB, m.part, "1", "execute_request", NULL, 0, 8,
                                      &mem, &len, &binary));
    TD_ASSERT_EQ(binary, 0);
    json_t *v = json_loadb((const char *)mem + 8, len, 0, NULL);
    TD_ASSERT(v);
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(v, "channel")), "iopub");
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(v, "msg_type")), "execute_request");
    TD_ASSERT(json_is_array(json_object_get(v, "buffers")));
    json_decref(v);
    free(mem);
    /* With a buffer: the binary form, which decodes back to the same buffer. */
    td_bytes_t buf[2] = {s_b("abc"), s_b("")};
    TD_ASSERT_OK(td_kws_legacy_encode(TD_CH_SHELL, m.part, "1", "comm_msg", buf, 2, 0, &mem, &len,
                                      &binary));
    TD_ASSERT_EQ(binary, 1);
    TD_ASSERT_EQ(mem[3], 3); /* nparts = 1 + 2 buffers, big-endian */
    TD_ASSERT_EQ(mem[7], 16);
    td_kws_msg_fini(&m);
    TD_ASSERT_EQ(td_kws_legacy_decode(mem, len, 1, &m, NULL), (long long)len);
    TD_ASSERT_EQ(m.nbuf, 2);
    TD_ASSERT_MEM_EQ(m.buf[0].data, "abc", 3);
    TD_ASSERT_EQ(m.buf[1].len, 0);
    td_kws_msg_fini(&m);
    free(mem);
}

static void s_legacy_bad(void)
{
    const char *bad[] = {
        "", "[]", "{", "{\"header\":1}", "{\"parent_header\":{}}",
        "{\"header\":{},\"channel\":\"nope\"}", "{\"header\":{},\"content\":[1]}",
        "{\"header\":{},\"channel\":7}", "{\"header\":{},\"header\":{}}",
    };
    td_kws_msg_t m;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        td_error_t err = {0};
        TD_ASSERT_EQ(td_kws_legacy_decode((const uint8_t *)bad[i], strlen(bad[i]), 0, &m, &err),
                     TD_EPROTO);
        TD_ASSERT_EQ(err.code, TD_EPROTO);
    }
    /* Binary: counts and offsets. */
    uint8_t f[16] = {0, 0, 0, 0};
    TD_ASSERT_EQ(td_kws_legacy_decode(f, 16, 1, &m, NULL), TD_EPROTO); /* nparts 0 */
    f[3] = 9;                                                           /* table past the end */
    TD_ASSERT_EQ(td_kws_legacy_decode(f, 16, 1, &m, NULL), TD_EPROTO);
    f[3] = 1, f[7] = 9; /* offset[0] must be 8 */
    TD_ASSERT_EQ(td_kws_legacy_decode(f, 16, 1, &m, NULL), TD_EPROTO);
    f[7] = 8; /* right table, but the JSON is 8 zero bytes */
    TD_ASSERT_EQ(td_kws_legacy_decode(f, 16, 1, &m, NULL), TD_EPROTO);
    TD_ASSERT_EQ(td_kws_legacy_decode(f, 3, 1, &m, NULL), TD_EPROTO);
}

void test_td_kws(void)
{
    s_v1_roundtrip();
    s_v1_bad();
    s_legacy();
    s_legacy_bad();
}
