/* test_td_yupdate.c: v1 updates without a document. The worked examples of yjs-format.md §3 must
 * decode to the documented fields and re-encode byte for byte; merge, diff and state-vector results
 * must equal yjs 13.6.33's output on the cases below (generated once with yjs's mergeUpdates,
 * diffUpdate and encodeStateVectorFromUpdate); malformed input, including yrs's
 * encoding_buffer_overflow_errors v1 vector, must fail with TD_EPROTO and an offset. */
#include "td/td_yupdate.h"
#include "test.h"

static size_t s_unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex) / 2;
    TD_ASSERT(n <= cap);
    for (size_t i = 0; i < n; i++)
        TD_ASSERT(sscanf(hex + 2 * i, "%2hhx", &out[i]) == 1);
    return n;
}

static void s_expect_hex(const td_lib0_enc_t *e, const char *hex)
{
    static char got[8192];
    size_t k = 0;
    TD_ASSERT_OK(e->err);
    for (size_t i = 0; i < e->len && k + 3 < sizeof got; i++)
        k += (size_t)snprintf(got + k, sizeof got - k, "%02x", e->buf[i]);
    got[k] = 0;
    TD_ASSERT_STR_EQ(got, hex);
}

/* Decodes hex, checks it re-encodes to itself, and returns the decoded update. */
static td_yupdate_t *s_roundtrip(const char *hex)
{
    static uint8_t buf[8192];
    size_t n = s_unhex(hex, buf, sizeof buf);
    td_yupdate_t *u = NULL;
    td_error_t err = {0};
    ssize_t r = td_yupdate_decode(buf, n, &u, &err);
    if (r < 0)
        TD_FAIL("decode failed at %zu: %s", err.offset, err.text);
    TD_ASSERT_EQ(r, (ssize_t)n);
    td_lib0_enc_t e;
    td_lib0_enc_init(&e);
    TD_ASSERT_OK(td_yupdate_encode(u, &e));
    s_expect_hex(&e, hex);
    td_lib0_enc_fini(&e);
    return u;
}

static bool s_bytes_eq(td_bytes_t b, const char *s)
{
    return b.len == strlen(s) && memcmp(b.data, s, b.len) == 0;
}

static void s_test_examples(void)
{
    /* A: map set on an unnamed root (also yrs update_decode). */
    td_yupdate_t *u = s_roundtrip("0101b0f99fc60700280100046b65794201770676616c75654200");
    TD_ASSERT_EQ(td_yupdate_nstructs(u), 1);
    const td_ystruct_t *s = td_yupdate_struct(u, 0);
    TD_ASSERT_EQ(s->kind, TD_YSTRUCT_ITEM);
    TD_ASSERT_EQ(s->content, TD_YCONTENT_ANY);
    TD_ASSERT_EQ(s->id.client, 2026372272);
    TD_ASSERT_EQ(s->parent_kind, TD_YPARENT_ROOT);
    TD_ASSERT(s_bytes_eq(s->parent_name, ""));
    TD_ASSERT(s_bytes_eq(s->parent_sub, "keyB"));
    TD_ASSERT_EQ(s->len, 1);
    TD_ASSERT_EQ(td_yupdate_ds_nclients(u), 0);
    td_yupdate_destroy(&u);
    TD_ASSERT(u == NULL);

    /* B: text insert then delete, GC'd into Deleted content. */
    u = s_roundtrip("010301000401017401618101000184010101630101010101");
    TD_ASSERT_EQ(td_yupdate_nstructs(u), 3);
    s = td_yupdate_struct(u, 1);
    TD_ASSERT_EQ(s->content, TD_YCONTENT_DELETED);
    TD_ASSERT(s->has_origin && s->origin.client == 1 && s->origin.clock == 0);
    TD_ASSERT_EQ(s->id.clock, 1);
    TD_ASSERT_EQ(td_yupdate_struct(u, 2)->id.clock, 2);
    td_yds_client_t dc = td_yupdate_ds_client(u, 0);
    TD_ASSERT_EQ(dc.client, 1);
    TD_ASSERT_EQ(dc.nranges, 1);
    TD_ASSERT_EQ(dc.ranges[0].clock, 1);
    TD_ASSERT_EQ(dc.ranges[0].len, 1);
    td_yupdate_destroy(&u);

    /* C: "😀x" is 3 clocks for 5 bytes. */
    u = s_roundtrip("0101070004010174" "05f09f988078" "00");
    TD_ASSERT_EQ(td_yupdate_struct(u, 0)->len, 3);
    td_lib0_enc_t e;
    td_lib0_enc_init(&e);
    static const uint8_t c_upd[] = {1, 1, 7, 0, 4, 1, 1, 0x74, 5, 0xf0, 0x9f, 0x98, 0x80, 0x78, 0};
    TD_ASSERT_OK(td_yupdate_state_vector(c_upd, sizeof c_upd, &e, NULL));
    s_expect_hex(&e, "010703");
    td_lib0_enc_fini(&e);
    td_yupdate_destroy(&u);

    /* D: nested type, explicit parent id. */
    u = s_roundtrip("01020300" "07010563656c6c7301" "28000300026964017702" "6331" "00");
    s = td_yupdate_struct(u, 0);
    TD_ASSERT_EQ(s->content, TD_YCONTENT_TYPE);
    TD_ASSERT_EQ(s->type_ref, TD_YTYPE_MAP);
    TD_ASSERT(s_bytes_eq(s->parent_name, "cells"));
    s = td_yupdate_struct(u, 1);
    TD_ASSERT_EQ(s->parent_kind, TD_YPARENT_ID);
    TD_ASSERT(s->parent_id.client == 3 && s->parent_id.clock == 0);
    TD_ASSERT(s_bytes_eq(s->parent_sub, "id"));
    td_yupdate_destroy(&u);

    /* Every other content kind, hand-assembled: JSON, Binary, Embed, Format, the XML types, Doc,
     * a GC and a Skip; the map-key bit with an origin; a zero-range delete-set client. */
    td_yupdate_destroy(&u);
    u = s_roundtrip("02" "0d0200"
                    "0a03"
                    "02010178" "020131" "09756e646566696e6564"
                    "03010178" "020102"
                    "05010178" "077b2261223a317d"
                    "06010178" "04626f6c64" "0474727565"
                    "07010178" "03" "0370726f"
                    "07010178" "04"
                    "07010178" "05" "04686f6f6b"
                    "07010178" "06"
                    "81020001"
                    "09010178" "0467756964" "7600"
                    "a8020b" "017d01"
                    "e8020c" "0200" "017d02"
                    "010105" "0002"
                    "02" "0500" "02010001");
    TD_ASSERT_EQ(td_yupdate_nblocks(u), 2);
    TD_ASSERT_EQ(td_yupdate_nstructs(u), 14);
    TD_ASSERT_EQ(td_yupdate_struct(u, 0)->kind, TD_YSTRUCT_SKIP);
    TD_ASSERT_EQ(td_yupdate_struct(u, 13)->kind, TD_YSTRUCT_GC);
    TD_ASSERT_EQ(td_yupdate_struct(u, 13)->id.clock, 5);
    TD_ASSERT_EQ(td_yupdate_struct(u, 1)->len, 2);
    TD_ASSERT_EQ(td_yupdate_struct(u, 12)->id.clock, 15);
    TD_ASSERT(s_bytes_eq(td_yupdate_struct(u, 4)->data2, "true"));
    TD_ASSERT(s_bytes_eq(td_yupdate_struct(u, 5)->data, "pro"));
    TD_ASSERT_EQ(td_yupdate_struct(u, 7)->type_ref, TD_YTYPE_XML_HOOK);
    TD_ASSERT_EQ(td_yupdate_struct(u, 11)->parent_sub_flag, 1);
    TD_ASSERT(td_yupdate_struct(u, 11)->parent_sub.data == NULL);
    TD_ASSERT_EQ(td_yupdate_ds_nclients(u), 2);
    TD_ASSERT_EQ(td_yupdate_ds_client(u, 0).nranges, 0);
    td_yupdate_destroy(&u);
}

/* The yjs oracle cases. */
static const struct {
    const char *name, *op;
    size_t nin;
    const char *in[8];
    const char *out;
} s_cases[] = {
    /* Subdocument options are rebuilt from the Doc yjs creates: {gc:false, autoLoad:true, meta}. */
    {"subdoc", "merge", 2,
     {"010109002901016d01730167760503666f6f7d010267637d00086175746f4c6f6164770178046d6574617e046d"
      "6574617b401000000000000000",
      "0000"},
     "010109002901016d01730167760302676379086175746f4c6f616478046d6574617d0400"},
    {"text2", "merge", 4,
     {"01010100040101740361616100",
       "01010103c40100010102787900",
       "01010200040101740362626200",
       "000102010101"},
     "0201020004010174036262620201000401017403616161c4010001010278790102010101"},
    {"text2rev", "merge", 4,
     {"000102010101",
       "01010200040101740362626200",
       "01010103c40100010102787900",
       "01010100040101740361616100"},
     "0201020004010174036262620201000401017403616161c4010001010278790102010101"},
    {"gap", "merge", 2,
     {"01010103c40100010102787900",
       "01010200040101740362626200"},
     "020102000401017403626262010103c40100010102787900"},
    {"sv_merged", "sv", 1,
     {"0201020004010174036262620201000401017403616161c4010001010278790102010101"},
     "0202030105"},
    {"sv_gap", "sv", 1,
     {"020102000401017403626262010103c40100010102787900"},
     "010203"},
    {"diff1", "diff", 2,
     {"0201020004010174036262620201000401017403616161c4010001010278790102010101",
       "010105"},
     "0101020004010174036262620102010101"},
    {"diff2", "diff", 2,
     {"0201020004010174036262620201000401017403616161c4010001010278790102010101",
       "010203"},
     "010201000401017403616161c4010001010278790102010101"},
    {"diff_mid", "diff", 2,
     {"0201020004010174036262620201000401017403616161c4010001010278790102010101",
       "010102"},
     "0201020004010174036262620201028401010161c4010001010278790102010101"},
    {"diff_gap", "diff", 2,
     {"020102000401017403626262010103c40100010102787900",
       "00"},
     "020102000401017403626262010103c40100010102787900"},
    {"emoji_diff", "diff", 2,
     {"010107000401017405f09f98807800",
       "010701"},
     "0101070184070004efbfbd7800"},
    {"map_all", "merge", 7,
     {"010103002801016d0161017d0100",
       "01010301a80300017d020103010001",
       "010103022801016d01620177017800",
       "01010303a803010175027c3fc000007601016b7e0103010101",
       "01010304080103617272037d017d027d0300",
       "01010307c8030403050177017100",
       "0001030204010701"},
     "010603002801016d0161017d01880300017d022801016d0162017701788803010175027c3fc000007601016b7e080103"
        "617272037d017d027d03c80304030501770171010303000204010701"},
    {"overlap", "merge", 2,
     {"010403002801016d0161017d01880300017d022801016d0162017701788803010175027c3fc000007601016b7e010301"
        "0002",
       "010403022801016d0162017701788803010175027c3fc000007601016b7e080103617272037d017d027d03c803040305"
        "01770171010303010104010701"},
     "010603002801016d0161017d01880300017d022801016d0162017701788803010175027c3fc000007601016b7e080103"
        "617272037d017d027d03c80304030501770171010303000204010701"},
    {"overlap_rev", "merge", 2,
     {"010403022801016d0162017701788803010175027c3fc000007601016b7e080103617272037d017d027d03c803040305"
        "01770171010303010104010701",
       "010403002801016d0161017d01880300017d022801016d0162017701788803010175027c3fc000007601016b7e010301"
        "0002"},
     "010603002801016d0161017d01880300017d022801016d0162017701788803010175027c3fc000007601016b7e080103"
        "617272037d017d027d03c80304030501770171010303000204010701"},
    {"dup", "merge", 2,
     {"010603002101016d0161022801016d016201770178a803010175027c3fc000007601016b7e0101036172720188030402"
        "7d027d03c10304030501010303000204010701",
       "010603002101016d0161022801016d016201770178a803010175027c3fc000007601016b7e0101036172720188030402"
        "7d027d03c10304030501010303000204010701"},
     "010603002101016d0161022801016d0162017701788803010175027c3fc000007601016b7e0101036172720188030402"
        "7d027d03c10304030501010303000204010701"},
    {"single", "merge", 1,
     {"010603002101016d0161022801016d016201770178a803010175027c3fc000007601016b7e0101036172720188030402"
        "7d027d03c10304030501010303000204010701"},
     "010603002101016d0161022801016d016201770178a803010175027c3fc000007601016b7e0101036172720188030402"
        "7d027d03c10304030501010303000204010701"},
    {"diff_arr", "diff", 2,
     {"010603002101016d0161022801016d016201770178a803010175027c3fc000007601016b7e0101036172720188030402"
        "7d027d03c10304030501010303000204010701",
       "010305"},
     "01020305880304027d027d03c10304030501010303000204010701"},
    {"canon", "merge", 2,
     {"010109002801016d016e017b401000000000000000",
       "0000"},
     "010109002801016d016e017d0400"},
    {"ds", "merge", 5,
     {"01010500040101740a6162636465666768696a00",
       "000105010101",
       "000105010602",
       "000105010201",
       "000105010001"},
     "01010500040101740a6162636465666768696a01050200030602"},
    {"ds_sv", "sv", 1,
     {"010405000101017403840502036465668105050284050702696a01050200030602"},
     "01050a"},
};

static void s_test_oracle(void)
{
    static uint8_t bufs[8][4096];
    for (size_t c = 0; c < sizeof s_cases / sizeof s_cases[0]; c++) {
        td_bytes_t in[8];
        for (size_t i = 0; i < s_cases[c].nin; i++) {
            in[i].len = s_unhex(s_cases[c].in[i], bufs[i], sizeof bufs[i]);
            in[i].data = bufs[i];
        }
        td_lib0_enc_t e;
        td_lib0_enc_init(&e);
        td_error_t err = {0};
        int rc;
        if (strcmp(s_cases[c].op, "merge") == 0)
            rc = td_yupdate_merge(in, s_cases[c].nin, &e, &err);
        else if (strcmp(s_cases[c].op, "diff") == 0)
            rc = td_yupdate_diff(in[0].data, in[0].len, in[1].data, in[1].len, &e, &err);
        else
            rc = td_yupdate_state_vector(in[0].data, in[0].len, &e, &err);
        if (rc != 0)
            TD_FAIL("%s: rc %d at %zu: %s", s_cases[c].name, rc, err.offset, err.text);
        s_expect_hex(&e, s_cases[c].out);
        td_lib0_enc_fini(&e);
        /* Every merge output is itself a valid update. */
        if (strcmp(s_cases[c].op, "sv") != 0)
            td_yupdate_destroy((td_yupdate_t *[]){s_roundtrip(s_cases[c].out)});
    }
}

/* hex must fail to decode with TD_EPROTO at offset. */
static void s_bad(const char *hex, size_t offset)
{
    bool prefixes = strcmp(hex, "000000") != 0;
    uint8_t buf[256];
    size_t n = s_unhex(hex, buf, sizeof buf);
    td_yupdate_t *u = (td_yupdate_t *)1;
    td_error_t err = {0};
    if (td_yupdate_decode(buf, n, &u, &err) != TD_EPROTO)
        TD_FAIL("%s decoded", hex);
    TD_ASSERT(u == NULL);
    TD_ASSERT_EQ(err.code, TD_EPROTO);
    if (err.offset != offset)
        TD_FAIL("%s: offset %zu (%s), expected %zu", hex, err.offset, err.text, offset);
    /* Every prefix of a bad update is bad too, and never crashes. */
    for (size_t k = 0; prefixes && k < n; k++) {
        TD_ASSERT_EQ(td_yupdate_decode(buf, k, &u, NULL), TD_EPROTO);
        TD_ASSERT(u == NULL);
    }
}

static void s_test_malformed(void)
{
    /* yrs doc.rs encoding_buffer_overflow_errors, the v1 case. */
    s_bad("e49c10000" "5ffff05000100000001010000" "00ed00000001010" "0feb8c2e9ad87d9120000010" "1ffedf6", 0);
    s_bad("", 0);
    s_bad("00", 1);                                   /* no delete set */
    s_bad("000000", 2);                               /* trailing byte */
    s_bad("01010100000000", 4);                       /* zero-length GC */
    s_bad("0101010080" "01", 4);                      /* flags on a GC */
    s_bad("010101000b00", 4);                         /* content ref 11 */
    s_bad("0101010004020174016100", 5);               /* parent info 2 */
    s_bad("01010100040101740200c000", 8);             /* invalid UTF-8 in a string */
    s_bad("0101010004010174" "0000", 8);              /* empty string */
    s_bad("0101010007010174" "07" "00", 8);           /* type ref 7 */
    s_bad("0101010081" "0105" "0100", 4);             /* origin at a later clock of the client */
    s_bad("0101010008010174" "01" "73" "00", 9);      /* unknown any tag */
    s_bad("03000000", 0);                             /* more clients than bytes */
    s_bad("0101010500" "ffffffffffffff0f" "00", 4);   /* length overflows the clock */
    s_bad("0001010100", 3);                           /* truncated delete range */
    s_bad("00010101ffffffffffffff0f02", 4);           /* delete range overflows */
}

static void s_test_sv(void)
{
    td_ysv_t *sv = NULL;
    static const uint8_t enc[] = {2, 1, 3, 2, 5};
    TD_ASSERT_EQ(td_ysv_decode(enc, sizeof enc, &sv, NULL), (ssize_t)sizeof enc);
    TD_ASSERT_EQ(td_ysv_get(sv, 1), 3);
    TD_ASSERT_EQ(td_ysv_get(sv, 2), 5);
    TD_ASSERT_EQ(td_ysv_get(sv, 9), 0);
    TD_ASSERT_OK(td_ysv_set(sv, 2026372272, 7));
    for (uint64_t c = 100; c < 200; c++)
        TD_ASSERT_OK(td_ysv_set(sv, c, c));
    TD_ASSERT_EQ(td_ysv_count(sv), 103);
    TD_ASSERT_EQ(td_ysv_get(sv, 150), 150);
    td_lib0_enc_t e;
    td_lib0_enc_init(&e);
    TD_ASSERT_OK(td_ysv_encode(sv, &e));
    /* Descending client order, as yjs writes it. */
    TD_ASSERT_EQ(e.buf[0], 103);
    TD_ASSERT_MEM_EQ(e.buf + 1, "\xb0\xf9\x9f\xc6\x07\x07", 6);
    TD_ASSERT_MEM_EQ(e.buf + e.len - 4, "\x02\x05\x01\x03", 4);
    td_lib0_enc_fini(&e);
    td_ysv_destroy(&sv);
    TD_ASSERT(sv == NULL);
    td_ysv_destroy(&sv);
    TD_ASSERT_EQ(td_ysv_decode((const uint8_t *)"\x01\x01", 2, &sv, NULL), TD_EPROTO);
    TD_ASSERT(sv == NULL);
}

void test_td_yupdate(void)
{
    s_test_examples();
    s_test_oracle();
    s_test_malformed();
    s_test_sv();
}
