/* test_td_yrelpos.c: relative positions against yjs 13.6.33 (createRelativePositionFromTypeIndex,
 * encodeRelativePosition, relativePositionToJSON, createAbsolutePositionFromRelativePosition on the
 * same document), plus a position following its character through a concurrent edit. */
#include "td/td_ydoc.h"
#include "td/td_yrelpos.h"
#include "td/td_ytype.h"
#include "test.h"

/* Client 5: text "t" = "eXYllo" (after edits), array "a" = [Map{s: Text "ab"}]. */
static const char *s_state = "0107050001010174018405000165840501036c6c6fc40501050202585907010161012"
                             "7000507017302040005080261620105010001";

static const struct {
    int nested, index, assoc;
    const char *enc, *json;
    int abs;
} s_cases[] = {
    {0, 0, 0, "00050100", "{\"assoc\":0,\"item\":{\"client\":5,\"clock\":1},\"tname\":\"t\"}", 0},
    {0, 3, 0, "00050200", "{\"assoc\":0,\"item\":{\"client\":5,\"clock\":2},\"tname\":\"t\"}", 3},
    {0, 3, -1, "00050641", "{\"assoc\":-1,\"item\":{\"client\":5,\"clock\":6},\"tname\":\"t\"}", 3},
    {0, 0, -1, "01017441", "{\"assoc\":-1,\"tname\":\"t\"}", 0},
    {0, 6, 0, "01017400", "{\"assoc\":0,\"tname\":\"t\"}", 6},
    {0, 6, -1, "00050441", "{\"assoc\":-1,\"item\":{\"client\":5,\"clock\":4},\"tname\":\"t\"}", 6},
    {0, 6, 5, "01017405", "{\"assoc\":5,\"tname\":\"t\"}", 6},
    {1, 2, 0, "02050800", "{\"assoc\":0,\"type\":{\"client\":5,\"clock\":8}}", 2},
    {1, 1, -1, "00050941",
     "{\"assoc\":-1,\"item\":{\"client\":5,\"clock\":9},\"type\":{\"client\":5,\"clock\":8}}", 1},
    {1, 0, -1, "02050841", "{\"assoc\":-1,\"type\":{\"client\":5,\"clock\":8}}", 0},
};

static size_t s_unhex(const char *hex, uint8_t *out)
{
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; i++)
        TD_ASSERT(sscanf(hex + 2 * i, "%2hhx", &out[i]) == 1);
    return n;
}

static char *s_hex(const uint8_t *p, size_t n)
{
    char *s = malloc(2 * n + 1);
    for (size_t i = 0; i < n; i++)
        snprintf(s + 2 * i, 3, "%02x", p[i]);
    s[2 * n] = 0;
    return s;
}

void test_td_yrelpos(void)
{
    uint8_t buf[512];
    size_t n = s_unhex(s_state, buf);
    td_ydoc_t *doc = td_ydoc_new(NULL, 1);
    TD_ASSERT_OK(td_ydoc_apply_update(doc, buf, n, NULL, NULL));
    td_ytype_t *t = td_ydoc_get(doc, "t", TD_YTYPE_TEXT);
    td_ytype_t *a = td_ydoc_get(doc, "a", TD_YTYPE_ARRAY);
    td_ytype_t *m = td_yarray_get_type(a, 0);
    TD_ASSERT(m != NULL);
    td_ydoc_get(doc, "t", TD_YTYPE_TEXT);
    td_ytype_t *nt = td_ymap_get_type(m, "s");
    TD_ASSERT(nt != NULL);
    for (size_t c = 0; c < sizeof s_cases / sizeof s_cases[0]; c++) {
        td_yrelpos_t rp, back;
        TD_ASSERT_OK(td_yrelpos_from_index(s_cases[c].nested ? nt : t, (size_t)s_cases[c].index,
                                           s_cases[c].assoc, &rp));
        td_lib0_enc_t e;
        td_lib0_enc_init(&e);
        TD_ASSERT_OK(td_yrelpos_encode(&rp, &e));
        char *h = s_hex(e.buf, e.len);
        TD_ASSERT_STR_EQ(h, s_cases[c].enc);
        free(h);
        /* The bytes carry the item or, without one, the type (like yjs). */
        TD_ASSERT_EQ(td_yrelpos_decode(e.buf, e.len, &back, NULL), (ssize_t)e.len);
        td_lib0_enc_t e2;
        td_lib0_enc_init(&e2);
        TD_ASSERT_OK(td_yrelpos_encode(&back, &e2));
        TD_ASSERT_EQ(e2.len, e.len);
        TD_ASSERT_MEM_EQ(e2.buf, e.buf, e.len);
        TD_ASSERT_EQ(back.has_item, rp.has_item);
        td_lib0_enc_fini(&e2);
        td_lib0_enc_fini(&e);
        json_t *j = td_yrelpos_to_json(&rp);
        json_t *want = json_loads(s_cases[c].json, 0, NULL);
        TD_ASSERT(json_equal(j, want));
        TD_ASSERT_OK(td_yrelpos_from_json(want, &back));
        TD_ASSERT(td_yrelpos_equal(&rp, &back));
        json_decref(j);
        json_decref(want);
        td_ytype_t *rt = NULL;
        size_t idx = 99;
        TD_ASSERT_OK(td_yrelpos_resolve(doc, &rp, &rt, &idx));
        TD_ASSERT(rt == (s_cases[c].nested ? nt : t));
        TD_ASSERT_EQ(idx, s_cases[c].abs);
    }
    /* The cursor before "Y" (index 2) stays before it when text is inserted in front. */
    td_yrelpos_t cur;
    TD_ASSERT_OK(td_yrelpos_from_index(t, 2, 0, &cur));
    TD_ASSERT_OK(td_ytext_insert(t, 0, "12", 2, NULL));
    TD_ASSERT_OK(td_ytext_delete(t, 5, 1));
    td_ytype_t *rt;
    size_t idx;
    TD_ASSERT_OK(td_yrelpos_resolve(doc, &cur, &rt, &idx));
    TD_ASSERT_EQ(idx, 4);
    /* Unknown items resolve to nothing; bad bytes fail. */
    cur.item.client = 12345;
    TD_ASSERT_EQ(td_yrelpos_resolve(doc, &cur, &rt, &idx), TD_ENOENT);
    TD_ASSERT_EQ(td_yrelpos_decode((const uint8_t *)"\x03\x00", 2, &cur, NULL), TD_EPROTO);
    TD_ASSERT_EQ(td_yrelpos_decode((const uint8_t *)"\x00\x05", 2, &cur, NULL), TD_EPROTO);
    /* The assoc is optional on the wire. */
    TD_ASSERT_EQ(td_yrelpos_decode((const uint8_t *)"\x00\x05\x01", 3, &cur, NULL), 3);
    TD_ASSERT_EQ(cur.assoc, 0);
    td_ydoc_destroy(&doc);
}
