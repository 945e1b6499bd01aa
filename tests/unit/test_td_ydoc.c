/* test_td_ydoc.c: the document engine. Local edits must produce yjs 13.6.33's exact update bytes
 * (the worked examples of yjs-format.md §3 and scenario vectors generated once with yjs);
 * remote updates must integrate to yjs's JSON, including yjs's own compatibility documents
 * (tests/compatibility.tests.js, generated with yjs 13.2.0); bad updates leave the document
 * unchanged; pending structs and deletions apply once their dependencies arrive. */
#include "td/td_ydoc.h"
#include "td/td_ytype.h"
#include "td_y_internal.h"
#include "test.h"

static size_t s_unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex) / 2;
    TD_ASSERT(n <= cap);
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

/* The last update an observer saw, as hex. */
typedef struct s_obs {
    char *last;
    int calls;
    void *origin;
    bool local;
    size_t nchanged;
    char paths[512];
} s_obs_t;

static void s_on_txn(td_ydoc_t *doc, const td_ytxn_info_t *info, void *arg)
{
    s_obs_t *o = arg;
    free(o->last);
    o->last = s_hex(info->update, info->update_len);
    o->calls++;
    o->origin = info->origin;
    o->local = info->local;
    o->nchanged = info->nchanged;
    o->paths[0] = 0;
    for (size_t i = 0; i < info->nchanged; i++) {
        json_t *p = td_ytype_path(info->changed[i]);
        char *s = p ? json_dumps(p, JSON_COMPACT) : strdup("null");
        strncat(o->paths, s, sizeof o->paths - strlen(o->paths) - 1);
        free(s);
        json_decref(p);
    }
    /* Observers may read but not write. */
    TD_ASSERT_EQ(td_ydoc_begin(doc, NULL), TD_ESTATE);
}

static void s_expect_state(const td_ydoc_t *doc, const char *hex)
{
    td_lib0_enc_t e;
    td_lib0_enc_init(&e);
    TD_ASSERT_OK(td_ydoc_encode_state_as_update(doc, NULL, 0, &e, NULL));
    char *got = s_hex(e.buf, e.len);
    TD_ASSERT_STR_EQ(got, hex);
    free(got);
    td_lib0_enc_fini(&e);
}

static void s_expect_json(const td_ydoc_t *doc, const char *json)
{
    json_t *j = td_ydoc_to_json(doc);
    char *got = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_t *want = json_loads(json, 0, NULL);
    TD_ASSERT(want != NULL);
    char *w = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS);
    TD_ASSERT_STR_EQ(got, w);
    free(got);
    free(w);
    json_decref(j);
    json_decref(want);
}

static void s_apply_hex(td_ydoc_t *doc, const char *hex)
{
    static uint8_t buf[65536];
    size_t n = s_unhex(hex, buf, sizeof buf);
    td_error_t err = {0};
    int rc = td_ydoc_apply_update(doc, buf, n, NULL, &err);
    if (rc != 0)
        TD_FAIL("apply failed: %d at %zu: %s", rc, err.offset, err.text);
}

static void s_test_examples(void)
{
    /* B: text insert then delete. */
    td_ydoc_t *doc = td_ydoc_new(NULL, 1);
    s_obs_t obs = {0};
    TD_ASSERT_OK(td_ydoc_observe(doc, s_on_txn, &obs));
    td_ytype_t *t = td_ydoc_get(doc, "t", TD_YTYPE_TEXT);
    TD_ASSERT_OK(td_ytext_insert(t, 0, "abc", 3, NULL));
    TD_ASSERT_STR_EQ(obs.last, "01010100040101740361626300");
    TD_ASSERT_OK(td_ytext_delete(t, 1, 1));
    TD_ASSERT_STR_EQ(obs.last, "000101010101");
    TD_ASSERT_EQ(obs.calls, 2);
    TD_ASSERT(obs.local);
    TD_ASSERT_STR_EQ(obs.paths, "[\"t\"]");
    s_expect_state(doc, "010301000401017401618101000184010101630101010101");
    td_lib0_enc_t e;
    td_lib0_enc_init(&e);
    TD_ASSERT_OK(td_ydoc_encode_state_vector(doc, &e));
    TD_ASSERT_EQ(e.len, 3);
    TD_ASSERT_MEM_EQ(e.buf, "\x01\x01\x03", 3);
    td_lib0_enc_fini(&e);
    s_expect_json(doc, "{\"t\":\"ac\"}");
    td_ydoc_destroy(&doc);
    TD_ASSERT(doc == NULL);
    free(obs.last);

    /* C: UTF-16 clocks. */
    doc = td_ydoc_new(NULL, 7);
    t = td_ydoc_get(doc, "t", TD_YTYPE_TEXT);
    TD_ASSERT_OK(td_ytext_insert(t, 0, "\xf0\x9f\x98\x80x", 5, NULL));
    s_expect_state(doc, "010107000401017405f09f98807800");
    TD_ASSERT_EQ(td_ytype_len(t), 3);
    td_ydoc_destroy(&doc);

    /* D: nested map in an array. */
    doc = td_ydoc_new(NULL, 3);
    td_ytype_t *cells = td_ydoc_get(doc, "cells", TD_YTYPE_ARRAY), *cell = NULL;
    TD_ASSERT_OK(td_yarray_insert_type(cells, 0, TD_YTYPE_MAP, NULL, &cell));
    json_t *v = json_string("c1");
    TD_ASSERT_OK(td_ymap_set_json(cell, "id", v));
    json_decref(v);
    s_expect_state(doc, "010203000701056365" "6c6c7301280003000269640177026331" "00");
    s_expect_json(doc, "{\"cells\":[{\"id\":\"c1\"}]}");
    td_ydoc_destroy(&doc);

    /* A: applied remotely; the root is undeclared until someone asks for a map. */
    doc = td_ydoc_new(NULL, 0);
    s_apply_hex(doc, "0101b0f99fc60700280100046b65794201770676616c75654200");
    s_expect_json(doc, "{\"\":{\"keyB\":\"valueB\"}}");
    TD_ASSERT(td_ydoc_get(doc, "", TD_YTYPE_MAP) != NULL);
    TD_ASSERT(td_ydoc_get(doc, "", TD_YTYPE_ARRAY) == NULL);
    s_expect_state(doc, "0101b0f99fc60700280100046b65794201770676616c75654200");
    td_ydoc_destroy(&doc);

    /* Subdocuments: kept, exported by guid, options rebuilt as yjs rebuilds them. */
    doc = td_ydoc_new(NULL, 0);
    s_apply_hex(doc, "010104002901016d03737562026731760302676379086175746f4c6f616478046d657461760101617d"
                     "0100");
    s_expect_state(doc, "010104002901016d03737562026731760302676379086175746f4c6f616478046d657461760101"
                        "617d0100");
    s_expect_json(doc, "{\"m\":{\"sub\":{\"guid\":\"g1\"}}}");
    td_ydoc_destroy(&doc);
    doc = td_ydoc_new(NULL, 0);
    s_apply_hex(doc, "010109002901016d01730167760503666f6f7d010267637d00086175746f4c6f6164770178046d"
                     "6574617e046d6574617b401000000000000000");
    s_expect_state(doc, "010109002901016d01730167760302676379086175746f4c6f616478046d6574617d0400");
    td_ydoc_destroy(&doc);
}

/* yjs tests/compatibility.tests.js (v13.6.31): v1 documents written by yjs 13.2.0 (base64), and
 * the JSON / delta yjs reads back from them. */
static const char *const s_compat_docs[3] = {
    "BV8EAAcBBWFycmF5AAgABAADfQF9An0DgQQDAYEEAAEABMEDAAQAAccEAAQFASEABAsIc29tZXByb3ACqAQNAX0syAQLBAUB"
    "fYoHwQQPBAUBwQQQBAUByAQRBAUBfYoHyAQQBBEBfY0HyAQTBBEBfY0HyAQUBBEBfY0HyAQVBBEBfY0HyAQQBBMBfY4HyAQX"
    "BBMBfY4HwQQYBBMBxwQXBBgACAAEGgR9AX0CfQN9BMEBAAEBAQADxwQLBA8BIQAEIwhzb21lcHJvcAKoBCUBfSzHBBkEEwEh"
    "AAQnCHNvbWVwcm9wAqgEKQF9LMcCAAMAASEABCsIc29tZXByb3ACqAQtAX0syAEBAQIBfZMHyAQvAQIBfZMHwQEGAQcBAAPB"
    "BDEBBwEABMcBGQEVAAgABDoEfQF9An0DfQTHAAgADgAIAAQ/BH0BfQJ9A30ExwQYBBkACAAERAR9AX0CfQN9BMcEIwQPASEA"
    "BEkIc29tZXByb3ACqARLAX0swQAKAAkBxwEZBDoACAAETgR9AX0CfQN9BMcEEAQXAAgABFMEfQF9An0DfQTHAxsDHAAIAARY"
    "BH0BfQJ9A30ExwECAQ0BIQAEXQhzb21lcHJvcAKoBF8BfSzHAQQBBQAIAARhBH0BfQJ9A30ExwABAAYBIQAEZghzb21lcHJv"
    "cAKoBGgBfSzHAywDLQEhAARqCHNvbWVwcm9wAqgEbAF9LMcCCgMPASEABG4Ic29tZXByb3ACqARwAX0sxwMfAQABIQAEcghz"
    "b21lcHJvcAKoBHQBfSzHABcAGAEhAAR2CHNvbWVwcm9wAqgEeAF9LMcCEwMfAAgABHoEfQF9An0DfQTHARYBFwAIAAR/BH0B"
    "fQJ9A30ExwAIBD8BIQAEhAEIc29tZXByb3ACqASGAQF9LMcAGQAPAAgABIgBBH0BfQJ9A30ExwMBAScACAAEjQEEfQF9An0D"
    "fQTHAB4CDgEhAASSAQhzb21lcHJvcAKoBJQBAX0syAErAR4EfYQIfYQIfYQIfYQIxwB7AHwBIQAEmgEIc29tZXByb3ACqASc"
    "AQF9LMgBRgIrA32ICH2ICH2ICMgAEgAIAn2KCH2KCHADAAEBBWFycmF5AYcDAAEhAAMBCHNvbWVwcm9wAqgDAwF9LIEDAQEA"
    "BIEDBQEABEECAAHIAw8CAAF9hwfIAxACAAF9hwfBAxECAAHHAAEAAgEhAAMTCHNvbWVwcm9wAqgDFQF9LIEEAAKIAxgBfYwH"
    "yAMPAxABfY8HwQMaAxAByAMbAxABfY8HyAMPAxoBfZAHyAMdAxoBfZAHxwACAw8BIQADHwhzb21lcHJvcAKoAyEBfSzHAxoD"
    "GwEhAAMjCHNvbWVwcm9wAqgDJQF9LMcCAAMAASEAAycIc29tZXByb3ACqAMpAX0swQMQAxEByAMrAxEBfZIHyAMsAxEBfZIH"
    "yAMtAxEBfZIHwQMYAxkBAATIAQYBBwF9lAfIAzQBBwF9lAfHAQcELwAIAAM2BH0BfQJ9A30EyAEBAR4CfZUHfZUHyAMsAy0D"
    "fZcHfZcHfZcHxwQTBBQBIQADQAhzb21lcHJvcAKoA0IBfSxIAAACfZgHfZgHyANFAAABfZgHxwEEAQUACAADRwR9AX0CfQN9"
    "BMgDQAQUAX2ZB8EDTAQUAscABgIXASEAA08Ic29tZXByb3ACqANRAX0syAM/Ay0BfZwHyAMfAQABfZ0HxwM2BC8ACAADVQR9"
    "AX0CfQN9BMcDRQNGASEAA1oIc29tZXByb3ACqANcAX0sxwMPAx0BIQADXghzb21lcHJvcAKoA2ABfSzIAQgBBgF9pAfIAQQD"
    "RwN9pwd9pwd9pwfIAA8AEAJ9rAd9rAfHAAAAAwAIAANoBH0BfQJ9A30EyAMQAysDfbIHfbIHfbIHxwQxAQcACAADcAR9AX0C"
    "fQN9BMcBAAQfASEAA3UIc29tZXByb3ACqAN3AX0syAM/A1MBfbUHyAN5A1MCfbUHfbUHyAMtAy4DfbcHfbcHfbcHyAACAhMC"
    "fbkHfbkHyAOAAQITAX25B8cBKwM7AAgAA4IBBH0BfQJ9A30ExwEZARUBIQADhwEIc29tZXByb3ACqAOJAQF9LMcCHAQLAAgA"
    "A4sBBH0BfQJ9A30EyAQZBCcBfbsHyAOQAQQnAn27B327B8cDkAEDkQEBIQADkwEIc29tZXByb3ACqAOVAQF9LMcDaAADAAgA"
    "A5cBBH0BfQJ9A30ExwN5A3oACAADnAEEfQF9An0DfQTHA4sBBAsACAADoQEEfQF9An0DfQTHA5MBA5EBASEAA6YBCHNvbWVw"
    "cm9wAqgDqAEBfSzHAAADaAAIAAOqAQR9AX0CfQN9BMgADgAZA328B328B328B8gECwQjBH2CCH2CCH2CCH2CCMcDLQN8ASEA"
    "A7YBCHNvbWVwcm9wAqgDuAEBfSzHBAoEAAAIAAO6AQR9AX0CfQN9BMgDgAEDgQECfYUIfYUIWgIAAQEFYXJyYXkBAARHAgAA"
    "CAACBQR9AX0CfQN9BMECBQIAAQADwQIFAgoBAATBAAICBQEAA8cABgAHAAgAAhcEfQF9An0DfQTHAxkECwEhAAIcCHNvbWVw"
    "cm9wAqgCHgF9LMcABAAFASEAAiAIc29tZXByb3ACqAIiAX0syAAIAA4BfZYHyAMRAxIBfZoHxwMdAx4ACAACJgR9AX0CfQN9"
    "BMcEFgQRAAgAAisEfQF9An0DfQTHBAoEAAAIAAIwBH0BfQJ9A30EyAAOABkDfaAHfaAHfaAHxwEFACIACAACOAR9AX0CfQN9"
    "BMcDJwQrAAgAAj0EfQF9An0DfQTHAhcABwAIAAJCBH0BfQJ9A30EyAEABB8CfaUHfaUHxwQrAwABIQACSQhzb21lcHJvcAKo"
    "AksBfSzHBCcEEwAIAAJNBH0BfQJ9A30ExwMbAxwACAACUgR9AX0CfQN9BMcEJwJNASEAAlcIc29tZXByb3ACqAJZAX0sxwQv"
    "BDAACAACWwR9AX0CfQN9BMcCPQQrASEAAmAIc29tZXByb3ACqAJiAX0sxwAYAycBIQACZAhzb21lcHJvcAKoAmYBfSzIAQEB"
    "HgJ9swd9swfIAmQDJwN9tAd9tAd9tAfHAkkDAAAIAAJtBH0BfQJ9A30ExwJkAmoACAACcgR9AX0CfQN9BMcCJgMeAAgAAncE"
    "fQF9An0DfQTHAiUDEgEhAAJ8CHNvbWVwcm9wAqgCfgF9LMgBFwEYBH24B324B324B324B8cBAQJoASEAAoQBCHNvbWVwcm9w"
    "AqgChgEBfSzHAkkCbQAIAAKIAQR9AX0CfQN9BMcCSAQfASEAAo0BCHNvbWVwcm9wAqgCjwEBfSzIAQYEMQR9vgd9vgd9vgd9"
    "vgfHAAAAAwEhAAKVAQhzb21lcHJvcAKoApcBAX0sxwJNBBMBIQACmQEIc29tZXByb3ACqAKbAQF9LMcCJgJ3ASEAAp0BCHNv"
    "bWVwcm9wAqgCnwEBfSzHAAEABgAIAAKhAQR9AX0CfQN9BMgCjQEEHwF9gwjIAyMDGwF9hgjHBF0BDQAIAAKoAQR9AX0CfQN9"
    "BMcDPAEeAAgAAq0BBH0BfQJ9A30EagEAAQEFYXJyYXkByAEAAwABfYMHyAEBAwABfYMHwQECAwAByAEBAQIBfYYHyAEEAQIB"
    "fYYHyAEFAQIBfYYHwQEGAQIBxwEFAQYACAABCAR9AX0CfQN9BMEBAgEDAQAEwQEFAQgByAESAQgBfYsHyAETAQgBfYsHyAEU"
    "AQgBfYsHgQQAAYEBFgGIARcBfZEHxwEUARUACAABGQR9AX0CfQN9BMcBAQEEAAgAAR4EfQF9An0DfQTHARQBGQEhAAEjCHNv"
    "bWVwcm9wAqgBJQF9LMEDAQMFAQADxwEBAR4BIQABKwhzb21lcHJvcAKoAS0BfSzHAgUAHgEhAAEvCHNvbWVwcm9wAqgBMQF9"
    "LMcECwQjASEAATMIc29tZXByb3ACqAE1AX0sxwMtAy4ACAABNwR9AX0CfQN9BMcDDwMdAAgAATwEfQF9An0DfQTHAQIBDQAI"
    "AAFBBH0BfQJ9A30ExwQWBBEBIQABRghzb21lcHJvcAKoAUgBfSzBABgDJwHIAUoDJwF9nwfHBBcEGgAIAAFMBH0BfQJ9A30E"
    "xwEABB8BIQABUQhzb21lcHJvcAKoAVMBfSzIAx0DHgJ9oQd9oQfIARkBFQF9ogfIAhwECwN9qAd9qAd9qAfIAxEDEgF9qgfI"
    "BAABFgJ9qwd9qwfIABAAEQF9rQfIAV4AEQF9rQfIAV8AEQJ9rQd9rQfIAV4BXwR9rwd9rwd9rwd9rwfIABABXgN9sAd9sAd9"
    "sAfIAWgBXgF9sAfHBA8EEAAIAAFqBH0BfQJ9A30ExwQYBBkBIQABbwhzb21lcHJvcAKoAXEBfSzHAAcAEgEhAAFzCHNvbWVw"
    "cm9wAqgBdQF9LEcAAAAIAAF3BH0BfQJ9A30ExwMPATwBIQABfAhzb21lcHJvcAKoAX4BfSzIAXwBPAJ9ugd9ugfBAYEBATwC"
    "xwFoAWkACAABhAEEfQF9An0DfQTHAV8BYAAIAAGJAQR9AX0CfQN9BMcADgAZASEAAY4BCHNvbWVwcm9wAqgBkAEBfSzIAx8B"
    "AAF9vQfIAZIBAQABfb0HyAQVBBYCfb8Hfb8HxwQaBBgBIQABlgEIc29tZXByb3ACqAGYAQF9LMgBHgEEA32ACH2ACH2ACMcE"
    "GAFvAAgAAZ0BBH0BfQJ9A30ExwMTAAIBIQABogEIc29tZXByb3ACqAGkAQF9LMcBkgEBkwEBIQABpgEIc29tZXByb3ACqAGo"
    "AQF9LMcBnAEBBAEhAAGqAQhzb21lcHJvcAKoAawBAX0syAF8AYABBH2HCH2HCH2HCH2HCMgBpgEBkwEDfYkIfYkIfYkIYQAA"
    "AQEFYXJyYXkBiAAAAX2AB4EAAQHBAAAAAQLIAAQAAQF9gQfIAAEAAgF9hAfIAAYAAgF9hAfIAAcAAgF9hAfBAAgAAgHBAAgA"
    "CQEAA8gACAAKAX2FB8EADgAKAcgADwAKAX2FB8gAEAAKAX2FB8cABwAIAAgAABIEfQF9An0DfQTIAgADAAF9iQfIABcDAAF9"
    "iQfHAA4ADwAIAAAZBH0BfQJ9A30ExwIFAgABIQAAHghzb21lcHJvcAKoACABfSzHAQUBEgEhAAAiCHNvbWVwcm9wAqgAJAF9"
    "LMcAHgIOAAgAACYEfQF9An0DfQTHBBQEFQAIAAArBH0BfQJ9A30ExwAAAAMACAAAMAR9AX0CfQN9BMcBBQAiAAgAADUEfQF9"
    "An0DfQTIAx4DGgN9mwd9mwd9mwfHAhcABwAIAAA9BH0BfQJ9A30ExwEYAxcBIQAAQghzb21lcHJvcAKoAEQBfSzBACIBEgEA"
    "BMcDDwMdASEAAEsIc29tZXByb3ACqABNAX0sxwQYBBkBIQAATwhzb21lcHJvcAKoAFEBfSzHACIARgAIAABTBH0BfQJ9A30E"
    "xwMdAx4BIQAAWAhzb21lcHJvcAKoAFoBfSzIAB4AJgF9owfHAzYELwAIAABdBH0BfQJ9A30EyAQwAQIDfaYHfaYHfaYHyABk"
    "AQIBfakHyAAXABgCfa4Hfa4HxwQjBA8BIQAAaAhzb21lcHJvcAKoAGoBfSzHAycEKwAIAABsBH0BfQJ9A30ExwABAAYACAAA"
    "cQR9AX0CfQN9BMcAZABlAAgAAHYEfQF9An0DfQTIAAcAEgF9sQfIAHsAEgN9sQd9sQd9sQfIAA8AEAF9tgfHARMBFAAIAACA"
    "AQR9AX0CfQN9BMcDIwMbAAgAAIUBBH0BfQJ9A30ExwEVAQgACAAAigEEfQF9An0DfQTHAIoBAQgBIQAAjwEIc29tZXByb3AC"
    "qACRAQF9LMcCFwA9AAgAAJMBBH0BfQJ9A30ExwEYAEIACAAAmAEEfQF9An0DfQTHAzQDNQEhAACdAQhzb21lcHJvcAKoAJ8B"
    "AX0sxwAQABEBIQAAoQEIc29tZXByb3ACqACjAQF9LMgAgAEBFAF9gQjHBBYEEQEhAACmAQhzb21lcHJvcAKoAKgBAX0sxwAH"
    "AHsACAAAqgEEfQF9An0DfQQFABAAAQIDCQUPAR8CIwJDAkYFTAJQAlkCaQKQAQKeAQKiAQKnAQICDgAFCg0dAiECSgJYAmEC"
    "ZQJ9AoUBAo4BApYBApoBAp4BAgQUBAcMAhACGQEfBCQCKAIsAjEJSgJNAV4CZwJrAm8CcwJ3AoUBApMBApsBAgMWAAECAgUL"
    "EgEUAhcCGwEgAiQCKAIrAS8FQQJNAlACWwJfAnYCiAEClAECpwECtwECARYAAQMBBwENBhYCJAInBCwCMAI0AkcCSgFSAnAC"
    "dAJ9AoIBAo8BApcBAqMBAqcBAqsBAg==",
    "BVcEAKEBAAGhAwEBAAShBAABAAGhBAECoQEKAgAEoQQLAQAEoQMcAaEEFQGhAiECAAShAS4BoQQYAaEEHgGhBB8BoQQdAQAB"
    "oQQhAaEEIAGhBCMBAAGhBCUCoQQkAqEEKAEABKEEKgGhBCsBoQQwAQABoQQxAaEEMgGhBDQBAAGhBDYBoQQ1AQAEoQQ5AQAB"
    "oQQ4AQAEoQM6AQAEoQRFAaEESgEAAaEESwEABKEETQGhBEABoQRSAgABoQRTAgAEoQRVAgABoQReAaEEWAEABKEEYAEAAaEE"
    "ZgKhBGECAAShBGsBAAGhAaUBAgAEoQRwAgABoQRzAQAEoQR5AQABoQSAAQEABKEEggEBAAGhBIcBAwABoQGzAQEAAaEEjQEC"
    "pwHMAQAIAASRAQR9AX0CfQN9BGcDACEBA21hcAN0d28BoQMAAQAEoQMBAQABoQMGAQAEIQEDbWFwA29uZQOhBAEBAAShAw8C"
    "oQMQAaEDFgEAAaEDFwEAAaEDGAGhAxwBAAGhAx0BoQIaBAAEoQMjAgABoQMpAQABoQMfAQABoQMrAQABoQMvAaEDLQEAAaED"
    "MQIABKEDNQGhAzIBoQM6AaEDPAGhBCMBAAGhAU8BAAGhA0ADoQJCAQABoQNEAgABoQNFAgAEoQJEAQABoQNLAaEEQAEABKEE"
    "SgEAAaEDWAGhA1MBAAGhA1oBAAGhA10DoQNbAQABoQNhAwABoQNiAQAEoQNmAaEDaAWhA20BAAShA3IBAAGhA3MBAAShA3gB"
    "oQN6A6EDfwEAAaEDgwEBAAShA4UBAgABoQOLAQGhA4IBAaEDjQEBoQOOAQEAAaEDjwEBAAShA5ABAaEDkgEBoQOXAQEABKED"
    "mQEBAAGhA5gBAQABoQOgAQEAAaEDngEBaQIAIQEDbWFwA3R3bwGhAwABoQEAAQABoQIBAQAEoQIEAaEDAQKhAQwDAAShAg4B"
    "AAShAhMBoQQJBAABoQQVAQABoQIeAaECHAGhBBgBAAShAiICAAShBB4BAAShBB8BAAGhAzwBAAGhBCMCoQM9AqEDPgEAAaEC"
    "OQEABKECPAGhAkEBAAGhAjoBAAGhAkIBAAShAkQBAAShAksBAAGhA0UCAAShAlMCoQJQAQAEoQJZAaECWgEAAaECYAKhAl8B"
    "AAShAmMCAAGhAmoBoQJkAgAEoQRSAQABoQJzAQAEoQRTAQAEoQJ6AQAEoQJ1AQABoQKEAQEABKEChgEBoQJ/AgABoQKLAQEA"
    "BKECjwECAAGhApUBAQABoQKXAQGhAo0BAQABoQKaAQGhApkBAQABoQKcAQEAAaECnwEBAAShAqEBAaECnQEBAAShAqYBAaEC"
    "pwEBAAGhAqwBAQABoQKtAQEABKECrwECAAF5AQAhAQNtYXADb25lASEBA21hcAN0d28CAAGhAQABoQMAAaEBBAEAAaEBBQGh"
    "AQYBoQMPAaEEAQGhAQoBoQELAaEBDAEABKEBDgEAAaEBDQEABKEBFQEABKEDHAKhBBUBAAShASECAAShAScBoQQWAwAEoQIh"
    "AgABoQEvAaECIgEABKEBOAEAAaEBNwEAAaEBPwGhAzoBAAShAUIBoQQjAQABoQFIAQABoQFKAaEDPgEAAaECOgEAAaEBTwIA"
    "AaEBUgEAAaECQQGhAVQCoQFWAgABoQFYAQAEoQFcAqEBWgEAAaEBYgShAWMBAAGhAWgBAAGhAWkCAAGhAW4BAAGhAWsBAASh"
    "AXABAAShAXcCAAShAX0BAAShAYIBAaEBcgEAAaEBhwEBoQGIAQEABKEBigEBAAShAZABAQAEoQGLAQIABKEBlQEBAAShBGkE"
    "AAGhAagBAQAEoQRzAQABoQGvAQKhBHsBAAGhAbMBAgAEoQSAAQEAAaEBuwECAAGhAbYBAqEEiwEBAAShAcIBAQAEoQHHAQEA"
    "BKEEkAEBpwHRAQEoAAHSAQdkZWVwa2V5AXcJZGVlcHZhbHVloQHMAQFiAAAhAQNtYXADb25lAwABoQACASEBA21hcAN0d28C"
    "AAShAAQBoQAGAaEACwEAAaEADQIABKEADAEABKEAEAEABKEAGgEABKEAHwEABKEAFQGhACQBAAGhACoBoQApAaEALAGhAC0B"
    "oQAuAaEALwEAAaEAMAIAAaEANAEABKEAMQEABKEANgEAAaEAQAIAAaEAOwGhAEMCAAShAEcBAAShAEwBoQBFAQAEoQBRAQAE"
    "oQBXAqEAUgEABKEAXgIAAaEAZAKhAF0BoQBnAqEAaAEABKEAawGhAGoCoQBwAQABoQBzAQAEoQB1AQABoQB6AaEAcgGhAHwB"
    "AAShAH4BoQB9AgABoQCFAQEABKEAhwEBAAShAIwBAaEAgwEBAAShAJIBAQAEoQCXAQIABKEAkQEBAAGhAJ0BAQAEoQCiAQEA"
    "BKEApAECAAGhAK8BAqEAqQEBAAGhALMBAQABBQABALcBAQIA0gHUAQEEAQCRAQMBAKUBAgEAuQE=",
    "BS8EAAUBBHRleHRveyJpbWFnZSI6Imh0dHBzOi8vdXNlci1pbWFnZXMuZ2l0aHVidXNlcmNvbnRlbnQuY29tLzU1NTM3NTcv"
    "NDg5NzUzMDctNjFlZmIxMDAtZjA2ZC0xMWU4LTkxNzctZWU4OTVlNTkxNmU1LnBuZyJ9RAQAATHBBAEEAAHBBAIEAAHEBAME"
    "AAQxdXUKxQQCBANveyJpbWFnZSI6Imh0dHBzOi8vdXNlci1pbWFnZXMuZ2l0aHVidXNlcmNvbnRlbnQuY29tLzU1NTM3NTcv"
    "NDg5NzUzMDctNjFlZmIxMDAtZjA2ZC0xMWU4LTkxNzctZWU4OTVlNTkxNmU1LnBuZyJ9xQMJBAFveyJpbWFnZSI6Imh0dHBz"
    "Oi8vdXNlci1pbWFnZXMuZ2l0aHVidXNlcmNvbnRlbnQuY29tLzU1NTM3NTcvNDg5NzUzMDctNjFlZmIxMDAtZjA2ZC0xMWU4"
    "LTkxNzctZWU4OTVlNTkxNmU1LnBuZyJ9xQMJBAlveyJpbWFnZSI6Imh0dHBzOi8vdXNlci1pbWFnZXMuZ2l0aHVidXNlcmNv"
    "bnRlbnQuY29tLzU1NTM3NTcvNDg5NzUzMDctNjFlZmIxMDAtZjA2ZC0xMWU4LTkxNzctZWU4OTVlNTkxNmU1LnBuZyJ9xgMB"
    "AwIGaXRhbGljBHRydWXGBAsDAgVjb2xvcgYiIzg4OCLEBAwDAgExxAQNAwIBMsEEDgMCAsYEEAMCBml0YWxpYwRudWxsxgQR"
    "AwIFY29sb3IEbnVsbMQDAQQLATHEBBMECwIyOcQEFQQLCzl6anpueXdvaHB4xAQgBAsIY25icmNhcQrBAxADEQHGAR8BIARi"
    "b2xkBHRydWXGAgACAQRib2xkBG51bGzFAwkECm97ImltYWdlIjoiaHR0cHM6Ly91c2VyLWltYWdlcy5naXRodWJ1c2VyY29u"
    "dGVudC5jb20vNTU1Mzc1Ny80ODk3NTMwNy02MWVmYjEwMC1mMDZkLTExZTgtOTE3Ny1lZTg5NWU1OTE2ZTUucG5nIn3GARAB"
    "EQZpdGFsaWMEdHJ1ZcYELQERBWNvbG9yBiIjODg4IsYBEgETBml0YWxpYwRudWxsxgQvARMFY29sb3IEbnVsbMYCKwIsBGJv"
    "bGQEdHJ1ZcYCLQIuBGJvbGQEbnVsbMYCjAECjQEGaXRhbGljBHRydWXGAo4BAo8BBml0YWxpYwRudWxswQA2ADcBxgQ1ADcF"
    "Y29sb3IGIiM4ODgixgNlA2YFY29sb3IEbnVsbMYDUwNUBGJvbGQEdHJ1ZcQEOANUFjEzMTZ6bHBrbWN0b3FvbWdmdGhicGfG"
    "BE4DVARib2xkBG51bGzGAk0CTgZpdGFsaWMEdHJ1ZcYEUAJOBWNvbG9yBiIjODg4IsYCTwJQBml0YWxpYwRudWxsxgRSAlAF"
    "Y29sb3IEbnVsbMYChAEChQEGaXRhbGljBHRydWXGBFQChQEFY29sb3IGIiM4ODgixgKGAQKHAQZpdGFsaWMEbnVsbMYEVgKH"
    "AQVjb2xvcgRudWxsxAMpAyoRMTMyMWFwZ2l2eWRxc2pmc2XFBBIDAm97ImltYWdlIjoiaHR0cHM6Ly91c2VyLWltYWdlcy5n"
    "aXRodWJ1c2VyY29udGVudC5jb20vNTU1Mzc1Ny80ODk3NTMwNy02MWVmYjEwMC1mMDZkLTExZTgtOTE3Ny1lZTg5NWU1OTE2"
    "ZTUucG5nIn0zAwAEAQR0ZXh0AjEyhAMBAzkwboQDBAF4gQMFAoQDBwJyCsQDBAMFBjEyOTd6bcQDDwMFAXbEAxADBQFwwQMR"
    "AwUBxAMSAwUFa3pxY2rEAxcDBQJzYcQDGQMFBHNqeQrBAxIDEwHBAAwAEAHEAA0ADgkxMzAyeGNpd2HEAygADgF5xAMpAA4K"
    "aGhlenVraXF0dMQDMwAOBWhudGsKxgMoAykEYm9sZAR0cnVlxAM5AykGMTMwNXJswQM/AykCxANBAykDZXlrxgNEAykEYm9s"
    "ZARudWxsxAMzAzQJMTMwN3R2amllwQNOAzQCxANQAzQDamxoxANTAzQCZ3bEA1UDNAJsYsQDVwM0AmYKxgNBA0IEYm9sZARu"
    "dWxswQNaA0ICxANcA0ICMDjBA14DQgLEA2ADQgEKxgNhA0IEYm9sZAR0cnVlxQIaAhtveyJpbWFnZSI6Imh0dHBzOi8vdXNl"
    "ci1pbWFnZXMuZ2l0aHVidXNlcmNvbnRlbnQuY29tLzU1NTM3NTcvNDg5NzUzMDctNjFlZmIxMDAtZjA2ZC0xMWU4LTkxNzct"
    "ZWU4OTVlNTkxNmU1LnBuZyJ9wQA3ADgCwQNlADgBxANmADgKMTVteml3YWJ6a8EDcAA4AsQDcgA4BnJybXNjdsEDeAA4AcQC"
    "YgJjATHEA3oCYwIzMsQDfAJjCTRyb3J5d3RoccQDhQECYwEKxAOFAQOGARkxMzI1aW9kYnppenhobWxpYnZweXJ4bXEKwQN6"
    "A3sBxgOgAQN7BWNvbG9yBiIjODg4IsYDfAN9Bml0YWxpYwRudWxsxgOiAQN9BWNvbG9yBG51bGxSAgAEAQR0ZXh0ATGEAgAC"
    "MjiEAgIBOYECAwKEAgUBdYQCBgJ0Y4QCCAJqZYECCgKEAgwBaoECDQGBAg4BhAIPAnVmhAIRAQrEAg4CDwgxMjkycXJtZsQC"
    "GgIPAmsKxgIGAgcGaXRhbGljBHRydWXGAggCCQZpdGFsaWMEbnVsbMYCEQISBml0YWxpYwR0cnVlxAIfAhIBMcECIAISAsQC"
    "IgISAzRoc8QCJQISAXrGAiYCEgZpdGFsaWMEbnVsbMEAFQAWAsQCKQAWATDEAioAFgEwxAIrABYCaHjEAi0AFglvamVldHJq"
    "aHjBAjYAFgLEAjgAFgJrcsQCOgAWAXHBAjsAFgHBAjwAFgHEAj0AFgFuxAI+ABYCZQrGAiUCJgZpdGFsaWMEbnVsbMQCQQIm"
    "AjEzwQJDAiYCxAJFAiYIZGNjeGR5eGfEAk0CJgJ6Y8QCTwImA2Fwb8QCUgImAnRuxAJUAiYBcsQCVQImAmduwQJXAiYCxAJZ"
    "AiYBCsYCWgImBml0YWxpYwR0cnVlxAI6AjsEMTMwM8QCXwI7A3VodsQCYgI7BmdhbmxuCsUCVQJWb3siaW1hZ2UiOiJodHRw"
    "czovL3VzZXItaW1hZ2VzLmdpdGh1YnVzZXJjb250ZW50LmNvbS81NTUzNzU3LzQ4OTc1MzA3LTYxZWZiMTAwLWYwNmQtMTFl"
    "OC05MTc3LWVlODk1ZTU5MTZlNS5wbmcifcECPAI9AcECPgI/AcYDFwMYBml0YWxpYwR0cnVlxgJsAxgFY29sb3IGIiM4ODgi"
    "xgMZAxoGaXRhbGljBG51bGzGAm4DGgVjb2xvcgRudWxswQMQBCkBxAJwBCkKMTMwOXpsZ3ZqeMQCegQpAWfBAnsEKQLGBA0E"
    "DgZpdGFsaWMEbnVsbMYCfgQOBWNvbG9yBG51bGzEAn8EDgUxMzEwZ8QChAEEDgJ3c8QChgEEDgZoeHd5Y2jEAowBBA4Ca3HE"
    "Ao4BBA4Ec2RydcQCkgEEDgRqcWljwQKWAQQOBMQCmgEEDgEKxgKbAQQOBml0YWxpYwR0cnVlxgKcAQQOBWNvbG9yBiIjODg4"
    "IsECaAI7AcQCCgEBFjEzMThqd3NramFiZG5kcmRsbWphZQrGA1UDVgRib2xkBHRydWXGA1cDWARib2xkBG51bGzGAEAAQQZp"
    "dGFsaWMEdHJ1ZcYCtwEAQQRib2xkBG51bGzEArgBAEESMTMyNnJwY3pucWFob3BjcnRkxgLKAQBBBml0YWxpYwRudWxsxgLL"
    "AQBBBGJvbGQEdHJ1ZRkBAMUCAgIDb3siaW1hZ2UiOiJodHRwczovL3VzZXItaW1hZ2VzLmdpdGh1YnVzZXJjb250ZW50LmNv"
    "bS81NTUzNzU3LzQ4OTc1MzA3LTYxZWZiMTAwLWYwNmQtMTFlOC05MTc3LWVlODk1ZTU5MTZlNS5wbmcifcQCCgILBzEyOTN0"
    "agrGABgAGQRib2xkBHRydWXGAA0ADgRib2xkBG51bGxEAgAHMTMwNnJ1cMQBEAIAAnVqxAESAgANaWtrY2pucmNwc2Nrd8QB"
    "HwIAAQrFBBMEFG97ImltYWdlIjoiaHR0cHM6Ly91c2VyLWltYWdlcy5naXRodWJ1c2VyY29udGVudC5jb20vNTU1Mzc1Ny80"
    "ODk3NTMwNy02MWVmYjEwMC1mMDZkLTExZTgtOTE3Ny1lZTg5NWU1OTE2ZTUucG5nIn3FAx0DBW97ImltYWdlIjoiaHR0cHM6"
    "Ly91c2VyLWltYWdlcy5naXRodWJ1c2VyY29udGVudC5jb20vNTU1Mzc1Ny80ODk3NTMwNy02MWVmYjEwMC1mMDZkLTExZTgt"
    "OTE3Ny1lZTg5NWU1OTE2ZTUucG5nIn3GAlICUwRib2xkBHRydWXGAlQCVQRib2xkBG51bGzGAnsCfAZpdGFsaWMEdHJ1ZcYB"
    "JQJ8BWNvbG9yBiIjODg4IsYBJgJ8BGJvbGQEbnVsbMQBJwJ8CjEzMTRweWNhdnXGATECfAZpdGFsaWMEbnVsbMYBMgJ8BWNv"
    "bG9yBG51bGzBATMCfAHFADEAMm97ImltYWdlIjoiaHR0cHM6Ly91c2VyLWltYWdlcy5naXRodWJ1c2VyY29udGVudC5jb20v"
    "NTU1Mzc1Ny80ODk3NTMwNy02MWVmYjEwMC1mMDZkLTExZTgtOTE3Ny1lZTg5NWU1OTE2ZTUucG5nIn3GADUANgZpdGFsaWME"
    "dHJ1ZcEANwA4AcQAMgAzEzEzMjJybmJhb2tvcml4ZW52cArEAgUCBhcxMzIzbnVjdnhzcWx6bndsZmF2bXBjCsYDDwMQBGJv"
    "bGQEdHJ1ZR0AAMQEAwQEDTEyOTVxZnJ2bHlmYXDEAAwEBAFjxAANBAQCanbBAAwADQHEABAADQEywQARAA0ExAAVAA0DZHZm"
    "xAAYAA0BYcYCAwIEBml0YWxpYwR0cnVlwQAaAgQCxAAcAgQEMDRrdcYAIAIEBml0YWxpYwRudWxsxQQgBCFveyJpbWFnZSI6"
    "Imh0dHBzOi8vdXNlci1pbWFnZXMuZ2l0aHVidXNlcmNvbnRlbnQuY29tLzU1NTM3NTcvNDg5NzUzMDctNjFlZmIxMDAtZjA2"
    "ZC0xMWU4LTkxNzctZWU4OTVlNTkxNmU1LnBuZyJ9xQJAABZveyJpbWFnZSI6Imh0dHBzOi8vdXNlci1pbWFnZXMuZ2l0aHVi"
    "dXNlcmNvbnRlbnQuY29tLzU1NTM3NTcvNDg5NzUzMDctNjFlZmIxMDAtZjA2ZC0xMWU4LTkxNzctZWU4OTVlNTkxNmU1LnBu"
    "ZyJ9xAQVBBYGMTMxMWtrxAIqAisIMTMxMnFyd3TEADECKwFixAAyAisDcnhxxAA1AisBasQANgIrAXjEADcCKwZkb3ZhbwrE"
    "AgAEKwMxMzHEAEAEKwkzYXhoa3RoaHXGAnoCewRib2xkBG51bGzFAEoCe297ImltYWdlIjoiaHR0cHM6Ly91c2VyLWltYWdl"
    "cy5naXRodWJ1c2VyY29udGVudC5jb20vNTU1Mzc1Ny80ODk3NTMwNy02MWVmYjEwMC1mMDZkLTExZTgtOTE3Ny1lZTg5NWU1"
    "OTE2ZTUucG5nIn3GAEsCewRib2xkBHRydWXEAl8CYBExMzE3cGZjeWhrc3JrcGt0CsQBHwQqCzEzMTliY2Nna3AKxAKSAQKT"
    "ARUxMzIwY29oYnZjcmtycGpuZ2RvYwoFBAQCAg8CKQE1AQADEAESBBsCAwsGAhIBHgJAAk8CWwJfAmQDcQJ5AaABAQIOBAIL"
    "Ag4CIQIoAjcCPAJEAlgCagJwAXwClwEEngEBAQI0ATcB",
};

static const char *const s_compat_vals[3] = {
    "[[1,2,3,4],472,472,{\"someprop\":44},472,[1,2,3,4],{\"someprop\":44},[1,2,3,4],[1,2,3,4],[1,2,"
    "3,4],{\"someprop\":44},449,448,[1,2,3,4],[1,2,3,4],{\"someprop\":44},452,{\"someprop\":44},[1,2,"
    "3,4],[1,2,3,4],[1,2,3,4],[1,2,3,4],452,[1,2,3,4],497,{\"someprop\":44},497,497,497,{\"somepro"
    "p\":44},[1,2,3,4],522,522,452,470,{\"someprop\":44},[1,2,3,4],453,{\"someprop\":44},480,480,480"
    ",508,508,508,[1,2,3,4],[1,2,3,4],502,492,492,453,{\"someprop\":44},496,496,496,[1,2,3,4],496"
    ",493,495,495,495,495,493,[1,2,3,4],493,493,453,{\"someprop\":44},{\"someprop\":44},505,505,517"
    ",517,505,[1,2,3,4],{\"someprop\":44},509,{\"someprop\":44},521,521,521,509,477,{\"someprop\":44}"
    ",{\"someprop\":44},485,485,{\"someprop\":44},515,{\"someprop\":44},451,{\"someprop\":44},[1,2,3,4]"
    ",516,516,516,516,{\"someprop\":44},499,499,469,469,[1,2,3,4],[1,2,3,4],512,512,512,{\"somepro"
    "p\":44},454,487,487,487,[1,2,3,4],[1,2,3,4],454,[1,2,3,4],[1,2,3,4],{\"someprop\":44},[1,2,3,"
    "4],459,[1,2,3,4],513,459,{\"someprop\":44},[1,2,3,4],482,{\"someprop\":44},[1,2,3,4],[1,2,3,4]"
    ",459,[1,2,3,4],{\"someprop\":44},[1,2,3,4],484,454,510,510,510,510,468,{\"someprop\":44},468,["
    "1,2,3,4],[1,2,3,4],[1,2,3,4],[1,2,3,4],467,[1,2,3,4],467,486,486,486,[1,2,3,4],489,451,[1,"
    "2,3,4],{\"someprop\":44},[1,2,3,4],[1,2,3,4],{\"someprop\":44},{\"someprop\":44},483,[1,2,3,4],{"
    "\"someprop\":44},{\"someprop\":44},{\"someprop\":44},{\"someprop\":44},519,519,519,519,506,506,[1,"
    "2,3,4],{\"someprop\":44},464,{\"someprop\":44},481,481,[1,2,3,4],{\"someprop\":44},[1,2,3,4],464"
    ",475,475,475,463,{\"someprop\":44},[1,2,3,4],518,[1,2,3,4],[1,2,3,4],463,455,498,498,498,466"
    ",471,471,471,501,[1,2,3,4],501,501,476,{\"someprop\":44},466,[1,2,3,4],{\"someprop\":44},503,5"
    "03,503,466,455,490,474,{\"someprop\":44},457,494,494,{\"someprop\":44},457,479,{\"someprop\":44}"
    ",[1,2,3,4],500,500,500,{\"someprop\":44},[1,2,3,4],[1,2,3,4],{\"someprop\":44},{\"someprop\":44}"
    ",{\"someprop\":44},[1,2,3,4],[1,2,3,4],{\"someprop\":44},[1,2,3,4],[1,2,3,4],[1,2,3,4],[1,2,3]"
    ",491,491,[1,2,3,4],504,504,504,504,465,[1,2,3,4],{\"someprop\":44},460,{\"someprop\":44},488,4"
    "88,488,[1,2,3,4],[1,2,3,4],{\"someprop\":44},{\"someprop\":44},514,514,514,514,{\"someprop\":44}"
    ",{\"someprop\":44},{\"someprop\":44},458,[1,2,3,4],[1,2,3,4],462,[1,2,3,4],[1,2,3,4],{\"somepro"
    "p\":44},462,{\"someprop\":44},[1,2,3,4],{\"someprop\":44},[1,2,3,4],507,{\"someprop\":44},{\"somep"
    "rop\":44},507,507,{\"someprop\":44},{\"someprop\":44},[1,2,3,4],{\"someprop\":44},461,{\"someprop\""
    ":44},473,461,[1,2,3,4],461,511,511,461,{\"someprop\":44},{\"someprop\":44},520,520,520,[1,2,3,"
    "4],458]",
    "{\"one\":[1,2,3,4],\"two\":{\"deepkey\":\"deepvalue\"}}",
    "[{\"insert\":\"1306rup\"},{\"insert\":\"uj\",\"attributes\":{\"italic\":true,\"color\":\"#888\"}},{\"insert"
    "\":\"ikkcjnrcpsckw1319bccgkp\\n\"},{\"insert\":\"\\n1131\",\"attributes\":{\"bold\":true}},{\"insert\":\"1"
    "326rpcznqahopcrtd\",\"attributes\":{\"italic\":true}},{\"insert\":\"3axhkthhu\",\"attributes\":{\"bold"
    "\":true}},{\"insert\":\"28\"},{\"insert\":{\"image\":\"https://user-images.githubusercontent.com/555"
    "3757/48975307-61efb100-f06d-11e8-9177-ee895e5916e5.png\"}},{\"insert\":\"9\"},{\"insert\":\"04ku\","
    "\"attributes\":{\"italic\":true}},{\"insert\":\"1323nucvxsqlznwlfavmpc\\nu\"},{\"insert\":\"tc\",\"attri"
    "butes\":{\"italic\":true}},{\"insert\":\"je1318jwskjabdndrdlmjae\\n1293tj\\nj1292qrmf\"},{\"insert\":"
    "{\"image\":\"https://user-images.githubusercontent.com/5553757/48975307-61efb100-f06d-11e8-91"
    "77-ee895e5916e5.png\"}},{\"insert\":\"k\\nuf\"},{\"insert\":\"14hs\",\"attributes\":{\"italic\":true}},{"
    "\"insert\":\"13dccxdyxg\"},{\"insert\":\"zc\",\"attributes\":{\"italic\":true,\"color\":\"#888\"}},{\"inser"
    "t\":\"apo\"},{\"insert\":\"tn\",\"attributes\":{\"bold\":true}},{\"insert\":\"r\"},{\"insert\":{\"image\":\"ht"
    "tps://user-images.githubusercontent.com/5553757/48975307-61efb100-f06d-11e8-9177-ee895e591"
    "6e5.png\"}},{\"insert\":\"gn\\n\"},{\"insert\":\"z\",\"attributes\":{\"italic\":true}},{\"insert\":\"\\n121\""
    "},{\"insert\":{\"image\":\"https://user-images.githubusercontent.com/5553757/48975307-61efb100-"
    "f06d-11e8-9177-ee895e5916e5.png\"}},{\"insert\":\"291311kk9zjznywohpx\"},{\"insert\":{\"image\":\"ht"
    "tps://user-images.githubusercontent.com/5553757/48975307-61efb100-f06d-11e8-9177-ee895e591"
    "6e5.png\"}},{\"insert\":\"cnbrcaq\\n\"},{\"insert\":\"1\",\"attributes\":{\"italic\":true,\"color\":\"#888\""
    "}},{\"insert\":\"1310g\"},{\"insert\":\"ws\",\"attributes\":{\"italic\":true,\"color\":\"#888\"}},{\"insert"
    "\":\"hxwych\"},{\"insert\":\"kq\",\"attributes\":{\"italic\":true}},{\"insert\":\"sdru1320cohbvcrkrpjngd"
    "oc\\njqic\\n\"},{\"insert\":\"2\",\"attributes\":{\"italic\":true,\"color\":\"#888\"}},{\"insert\":{\"image\""
    ":\"https://user-images.githubusercontent.com/5553757/48975307-61efb100-f06d-11e8-9177-ee895"
    "e5916e5.png\"}},{\"insert\":\"90n1297zm\"},{\"insert\":\"v1309zlgvjx\",\"attributes\":{\"bold\":true}},"
    "{\"insert\":{\"image\":\"https://user-images.githubusercontent.com/5553757/48975307-61efb100-f0"
    "6d-11e8-9177-ee895e5916e5.png\"}},{\"insert\":\"g\",\"attributes\":{\"bold\":true}},{\"insert\":\"1314"
    "pycavu\",\"attributes\":{\"italic\":true,\"color\":\"#888\"}},{\"insert\":\"pkzqcj\"},{\"insert\":\"sa\",\"a"
    "ttributes\":{\"italic\":true,\"color\":\"#888\"}},{\"insert\":\"sjy\\n\"},{\"insert\":{\"image\":\"https://"
    "user-images.githubusercontent.com/5553757/48975307-61efb100-f06d-11e8-9177-ee895e5916e5.pn"
    "g\"}},{\"insert\":\"xr\\n\"},{\"insert\":{\"image\":\"https://user-images.githubusercontent.com/55537"
    "57/48975307-61efb100-f06d-11e8-9177-ee895e5916e5.png\"}},{\"insert\":{\"image\":\"https://user-i"
    "mages.githubusercontent.com/5553757/48975307-61efb100-f06d-11e8-9177-ee895e5916e5.png\"}},{"
    "\"insert\":{\"image\":\"https://user-images.githubusercontent.com/5553757/48975307-61efb100-f06"
    "d-11e8-9177-ee895e5916e5.png\"}},{\"insert\":\"1\"},{\"insert\":{\"image\":\"https://user-images.git"
    "hubusercontent.com/5553757/48975307-61efb100-f06d-11e8-9177-ee895e5916e5.png\"}},{\"insert\":"
    "\"1295qfrvlyfap201312qrwt\"},{\"insert\":{\"image\":\"https://user-images.githubusercontent.com/5"
    "553757/48975307-61efb100-f06d-11e8-9177-ee895e5916e5.png\"}},{\"insert\":\"b1322rnbaokorixenvp"
    "\\nrxq\"},{\"insert\":\"j\",\"attributes\":{\"italic\":true}},{\"insert\":\"x\",\"attributes\":{\"italic\":t"
    "rue,\"color\":\"#888\"}},{\"insert\":\"15mziwabzkrrmscvdovao\\n0\",\"attributes\":{\"italic\":true}},{\""
    "insert\":\"hx\",\"attributes\":{\"italic\":true,\"bold\":true}},{\"insert\":\"ojeetrjhxkr13031317pfcyh"
    "ksrkpkt\\nuhv1\",\"attributes\":{\"italic\":true}},{\"insert\":\"32\",\"attributes\":{\"italic\":true,\"c"
    "olor\":\"#888\"}},{\"insert\":\"4rorywthq1325iodbzizxhmlibvpyrxmq\\n\\nganln\\nqne\\n\"},{\"insert\":{\""
    "image\":\"https://user-images.githubusercontent.com/5553757/48975307-61efb100-f06d-11e8-9177"
    "-ee895e5916e5.png\"}},{\"insert\":\"dvf\"},{\"insert\":\"ac\",\"attributes\":{\"bold\":true}},{\"insert\""
    ":\"1302xciwa\"},{\"insert\":\"1305rl\",\"attributes\":{\"bold\":true}},{\"insert\":\"08\\n\"},{\"insert\":\""
    "eyk\",\"attributes\":{\"bold\":true}},{\"insert\":\"y1321apgivydqsjfsehhezukiqtt1307tvjiejlh\"},{\"i"
    "nsert\":\"1316zlpkmctoqomgfthbpg\",\"attributes\":{\"bold\":true}},{\"insert\":\"gv\"},{\"insert\":\"lb\""
    ",\"attributes\":{\"bold\":true}},{\"insert\":\"f\\nhntk\\njv1uu\\n\"},{\"insert\":{\"image\":\"https://use"
    "r-images.githubusercontent.com/5553757/48975307-61efb100-f06d-11e8-9177-ee895e5916e5.png\"}"
    "}]",
};

static size_t s_unbase64(const char *in, uint8_t *out, size_t cap)
{
    static const char *abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (; *in && *in != '='; in++) {
        const char *c = strchr(abc, *in);
        TD_ASSERT(c != NULL);
        acc = (acc << 6) | (uint32_t)(c - abc);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            TD_ASSERT(n < cap);
            out[n++] = (uint8_t)(acc >> bits);
        }
    }
    return n;
}

static void s_compare_json(json_t *got_j, const char *want)
{
    char *got = json_dumps(got_j, JSON_COMPACT | JSON_SORT_KEYS);
    json_t *w = json_loads(want, 0, NULL);
    TD_ASSERT(w != NULL);
    char *ws = json_dumps(w, JSON_COMPACT | JSON_SORT_KEYS);
    TD_ASSERT_STR_EQ(got, ws);
    free(got);
    free(ws);
    json_decref(w);
    json_decref(got_j);
}

static void s_test_compat(void)
{
    static uint8_t buf[8192];
    static const char *roots[3] = {"array", "map", "text"};
    static const int kinds[3] = {TD_YTYPE_ARRAY, TD_YTYPE_MAP, TD_YTYPE_TEXT};
    for (int i = 0; i < 3; i++) {
        size_t n = s_unbase64(s_compat_docs[i], buf, sizeof buf);
        td_ydoc_t *doc = td_ydoc_new(NULL, 99);
        td_error_t err = {0};
        int rc = td_ydoc_apply_update(doc, buf, n, NULL, &err);
        if (rc != 0)
            TD_FAIL("compat %d: %d at %zu: %s", i, rc, err.offset, err.text);
        TD_ASSERT(!td_ydoc_has_pending(doc));
        td_ytype_t *t = td_ydoc_get(doc, roots[i], kinds[i]);
        TD_ASSERT(t != NULL);
        s_compare_json(kinds[i] == TD_YTYPE_TEXT ? td_ytext_delta(t) : td_ytype_to_json(t),
                       s_compat_vals[i]);
        /* A second document fed our own encoding reads the same. */
        td_lib0_enc_t e;
        td_lib0_enc_init(&e);
        TD_ASSERT_OK(td_ydoc_encode_state_as_update(doc, NULL, 0, &e, NULL));
        td_ydoc_t *copy = td_ydoc_new(NULL, 98);
        TD_ASSERT_OK(td_ydoc_apply_update(copy, e.buf, e.len, NULL, NULL));
        td_ytype_t *t2 = td_ydoc_get(copy, roots[i], kinds[i]);
        s_compare_json(kinds[i] == TD_YTYPE_TEXT ? td_ytext_delta(t2) : td_ytype_to_json(t2),
                       s_compat_vals[i]);
        /* The decoded update re-encodes byte for byte. */
        td_yupdate_t *u = NULL;
        TD_ASSERT_EQ(td_yupdate_decode(buf, n, &u, NULL), (ssize_t)n);
        td_lib0_enc_t e2;
        td_lib0_enc_init(&e2);
        TD_ASSERT_OK(td_yupdate_encode(u, &e2));
        TD_ASSERT_EQ(e2.len, n);
        TD_ASSERT_MEM_EQ(e2.buf, buf, n);
        td_lib0_enc_fini(&e2);
        td_yupdate_destroy(&u);
        td_lib0_enc_fini(&e);
        td_ydoc_destroy(&copy);
        td_ydoc_destroy(&doc);
    }
}

/* A malformed update is rejected whole: nothing of its valid prefix is applied. */
static void s_test_atomic(void)
{
    td_ydoc_t *doc = td_ydoc_new(NULL, 1);
    td_ytype_t *t = td_ydoc_get(doc, "t", TD_YTYPE_TEXT);
    TD_ASSERT_OK(td_ytext_insert(t, 0, "abc", 3, NULL));
    s_obs_t obs = {0};
    TD_ASSERT_OK(td_ydoc_observe(doc, s_on_txn, &obs));
    /* Client 2 inserts "x" at 0 (valid), then a struct with an unknown content ref. */
    static const uint8_t bad[] = {1, 2, 2, 0, 0x04, 1, 1, 't', 1, 'x', 0x0b, 0};
    td_error_t err = {0};
    TD_ASSERT_EQ(td_ydoc_apply_update(doc, bad, sizeof bad, NULL, &err), TD_EPROTO);
    TD_ASSERT_EQ(err.offset, 10);
    TD_ASSERT_EQ(obs.calls, 0);
    s_expect_json(doc, "{\"t\":\"abc\"}");
    s_expect_state(doc, "01010100040101740361626300");
    /* Two blocks for one client. */
    static const uint8_t dup[] = {2, 1, 2, 0, 0x04, 1, 1, 't', 1, 'x', 1, 2, 1, 0x84, 2, 0, 1, 'y', 0};
    memset(&err, 0, sizeof err);
    TD_ASSERT_EQ(td_ydoc_apply_update(doc, dup, sizeof dup, NULL, &err), TD_EPROTO);
    TD_ASSERT_EQ(err.offset, 10);
    /* Every truncation of a valid update fails cleanly and changes nothing. */
    static const uint8_t good[] = {1, 1, 2, 0, 0x04, 1, 1, 't', 1, 'x', 1, 1, 1, 0, 1};
    for (size_t k = 0; k < sizeof good; k++)
        TD_ASSERT_EQ(td_ydoc_apply_update(doc, good, k, NULL, NULL), TD_EPROTO);
    s_expect_state(doc, "01010100040101740361626300");
    void *origin = &obs;
    TD_ASSERT_OK(td_ydoc_apply_update(doc, good, sizeof good, origin, NULL));
    TD_ASSERT_EQ(obs.calls, 1);
    TD_ASSERT(obs.origin == origin);
    TD_ASSERT(!obs.local);
    s_expect_json(doc, "{\"t\":\"bcx\"}");
    td_ydoc_destroy(&doc);
    free(obs.last);
}

/* Structs and deletions that arrive before what they depend on wait, then apply. */
static void s_test_pending(void)
{
    td_ydoc_t *a = td_ydoc_new(NULL, 5);
    td_ytype_t *ta = td_ydoc_get(a, "t", TD_YTYPE_TEXT);
    s_obs_t obs = {0};
    TD_ASSERT_OK(td_ydoc_observe(a, s_on_txn, &obs));
    char *u[4];
    TD_ASSERT_OK(td_ytext_insert(ta, 0, "hello", 5, NULL));
    u[0] = strdup(obs.last);
    TD_ASSERT_OK(td_ytext_insert(ta, 5, " world", 6, NULL));
    u[1] = strdup(obs.last);
    TD_ASSERT_OK(td_ytext_delete(ta, 0, 1));
    u[2] = strdup(obs.last);
    TD_ASSERT_OK(td_ytext_insert(ta, 0, "J", 1, NULL));
    u[3] = strdup(obs.last);

    td_ydoc_t *b = td_ydoc_new(NULL, 6);
    td_ytype_t *tb = td_ydoc_get(b, "t", TD_YTYPE_TEXT);
    s_apply_hex(b, u[3]);
    s_apply_hex(b, u[2]);
    s_apply_hex(b, u[1]);
    TD_ASSERT(td_ydoc_has_pending(b));
    s_expect_json(b, "{\"t\":\"\"}");
    /* The pending structs and deletions travel with the state (yjs merges them in). */
    td_lib0_enc_t e;
    td_lib0_enc_init(&e);
    TD_ASSERT_OK(td_ydoc_encode_state_as_update(b, NULL, 0, &e, NULL));
    td_ydoc_t *c = td_ydoc_new(NULL, 7);
    TD_ASSERT_OK(td_ydoc_apply_update(c, e.buf, e.len, NULL, NULL));
    td_lib0_enc_fini(&e);
    s_apply_hex(b, u[0]);
    TD_ASSERT(!td_ydoc_has_pending(b));
    s_expect_json(b, "{\"t\":\"Jello world\"}");
    TD_ASSERT_EQ(td_ytype_len(tb), 11);
    s_apply_hex(c, u[0]);
    s_expect_json(c, "{\"t\":\"Jello world\"}");
    TD_ASSERT(!td_ydoc_has_pending(c));
    /* Same state, same bytes. */
    td_lib0_enc_init(&e);
    TD_ASSERT_OK(td_ydoc_encode_state_as_update(a, NULL, 0, &e, NULL));
    char *sa = s_hex(e.buf, e.len);
    td_lib0_enc_fini(&e);
    s_expect_state(b, sa);
    s_expect_state(c, sa);
    free(sa);
    for (int i = 0; i < 4; i++)
        free(u[i]);
    free(obs.last);
    td_ydoc_destroy(&a);
    td_ydoc_destroy(&b);
    td_ydoc_destroy(&c);
}

/* Transactions: one update for several edits, with the origin; encode_state_as_update diffs. */
static void s_test_txn(void)
{
    td_ydoc_t *doc = td_ydoc_new(NULL, 0);
    s_obs_t obs = {0};
    TD_ASSERT_OK(td_ydoc_observe(doc, s_on_txn, &obs));
    td_ytype_t *meta = td_ydoc_get(doc, "meta", TD_YTYPE_MAP);
    td_ytype_t *cells = td_ydoc_get(doc, "cells", TD_YTYPE_ARRAY), *cell, *src, *outs;
    TD_ASSERT(td_ydoc_get(doc, "meta", TD_YTYPE_TEXT) == NULL);
    int origin;
    TD_ASSERT_OK(td_ydoc_begin(doc, &origin));
    TD_ASSERT_EQ(td_ydoc_begin(doc, NULL), TD_ESTATE);
    TD_ASSERT(td_ydoc_in_transaction(doc));
    json_t *four = json_integer(4);
    TD_ASSERT_OK(td_ymap_set_json(meta, "nbformat", four));
    json_decref(four);
    TD_ASSERT_OK(td_yarray_push_type(cells, TD_YTYPE_MAP, NULL, &cell));
    TD_ASSERT_OK(td_ymap_set_type(cell, "source", TD_YTYPE_TEXT, NULL, &src));
    TD_ASSERT_OK(td_ytext_insert(src, 0, "print(1)", 8, NULL));
    TD_ASSERT_OK(td_ymap_set_type(cell, "outputs", TD_YTYPE_ARRAY, NULL, &outs));
    TD_ASSERT_EQ(obs.calls, 0);
    TD_ASSERT_OK(td_ydoc_commit(doc));
    TD_ASSERT_EQ(td_ydoc_commit(doc), TD_ESTATE);
    TD_ASSERT_EQ(obs.calls, 1);
    TD_ASSERT(obs.origin == &origin);
    TD_ASSERT_STR_EQ(obs.paths, "[\"meta\"][\"cells\"]");
    s_expect_json(doc, "{\"meta\":{\"nbformat\":4},\"cells\":[{\"source\":\"print(1)\",\"outputs\":[]}]}");
    /* Editing the nested text reports it with its path. */
    TD_ASSERT_OK(td_ytext_insert(src, 8, "\n", 1, NULL));
    TD_ASSERT_STR_EQ(obs.paths, "[\"cells\",0,\"source\"]");
    json_t *p = td_ytype_path(src);
    char *ps = json_dumps(p, JSON_COMPACT);
    TD_ASSERT_STR_EQ(ps, "[\"cells\",0,\"source\"]");
    free(ps);
    json_decref(p);
    TD_ASSERT(td_ytype_parent(src) == cell);
    TD_ASSERT(td_ytype_parent(cell) == cells);
    TD_ASSERT(td_ytype_parent(cells) == NULL);
    TD_ASSERT_STR_EQ(td_ytype_name(cells), "cells");
    TD_ASSERT(td_ymap_get_type(cell, "source") == src);
    TD_ASSERT(td_yarray_get_type(cells, 0) == cell);
    /* A diff against an older state vector holds only the newer structs. */
    td_lib0_enc_t e;
    td_lib0_enc_init(&e);
    static const uint8_t sv[] = {1, 0, 6};
    TD_ASSERT_OK(td_ydoc_encode_state_as_update(doc, sv, sizeof sv, &e, NULL));
    td_ydoc_t *other = td_ydoc_new(NULL, 1);
    TD_ASSERT_OK(td_ydoc_apply_update(other, e.buf, e.len, NULL, NULL));
    TD_ASSERT(td_ydoc_has_pending(other));
    td_lib0_enc_fini(&e);
    td_ydoc_destroy(&other);
    /* Map delete, has, keys. */
    TD_ASSERT(td_ymap_has(cell, "outputs"));
    TD_ASSERT_OK(td_ymap_delete(cell, "outputs"));
    TD_ASSERT_EQ(td_ymap_delete(cell, "outputs"), TD_ENOENT);
    TD_ASSERT(td_ytype_deleted(outs));
    TD_ASSERT(!td_ytype_deleted(src));
    const char *keys[4];
    TD_ASSERT_EQ(td_ymap_keys(cell, keys, 4), 1);
    TD_ASSERT_STR_EQ(keys[0], "source");
    /* Bad arguments change nothing. */
    TD_ASSERT_EQ(td_ytext_insert(src, 99, "x", 1, NULL), TD_EINVAL);
    TD_ASSERT_EQ(td_ytext_insert(src, 0, "\xff", 1, NULL), TD_EINVAL);
    TD_ASSERT_EQ(td_ytext_delete(src, 5, 10), TD_EINVAL);
    TD_ASSERT_EQ(td_yarray_delete(cells, 0, 2), TD_EINVAL);
    TD_ASSERT_EQ(td_ymap_set_json(cells, "x", json_null()), TD_EINVAL);
    TD_ASSERT_EQ(td_ydoc_set_client_id(doc, 1ULL << 53), TD_EINVAL);
    TD_ASSERT_OK(td_ydoc_set_client_id(doc, 77));
    TD_ASSERT_EQ(td_ydoc_client_id(doc), 77);
    td_ydoc_destroy(&doc);
    free(obs.last);
}

/* A map key whose current item holds Format content (valid peer input; yjs never writes it): yjs's
 * getContent() is [] there, so the value is undefined: toJSON drops the key ({"m":{}} in yjs
 * 13.6.33), get() is undefined, has() and keys() still see it, XML prints k="undefined". Found by
 * fuzzing, where the export returned NULL. */
static void s_test_map_format(void)
{
    static const char *const upd = "010201002801016d016b017701788601000162047472756500";
    /* yjs encodeStateAsUpdate after applying it (the first item is deleted, then collected). */
    static const char *const state = "010201002101016d016b01a60100016204747275650101010001";
    td_ydoc_t *doc = td_ydoc_new(NULL, 9);
    td_ytype_t *m = td_ydoc_get(doc, "m", TD_YTYPE_MAP);
    s_apply_hex(doc, upd);
    s_expect_json(doc, "{\"m\":{}}");
    s_expect_state(doc, state);
    TD_ASSERT(td_ymap_has(m, "k"));
    TD_ASSERT(td_ymap_get_json(m, "k") == NULL);
    TD_ASSERT(td_ymap_get_type(m, "k") == NULL);
    const char *keys[2];
    TD_ASSERT_EQ(td_ymap_keys(m, keys, 2), 1);
    TD_ASSERT_EQ(td_ytype_len(m), 1);
    /* A later write replaces it as usual. */
    json_t *v = json_integer(3);
    TD_ASSERT_OK(td_ymap_set_json(m, "k", v));
    json_decref(v);
    s_expect_json(doc, "{\"m\":{\"k\":3}}");
    td_ydoc_destroy(&doc);
    /* Undeclared root (what the fuzzer sees) and the other map-like kinds. */
    static const int kinds[] = {TD_YTYPE_UNDEFINED, TD_YTYPE_XML_HOOK, TD_YTYPE_XML_ELEMENT};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        doc = td_ydoc_new(NULL, 9);
        if (kinds[i] != TD_YTYPE_UNDEFINED)
            td_ydoc_get(doc, "m", kinds[i]);
        s_apply_hex(doc, upd);
        s_expect_state(doc, state);
        json_t *j = td_ydoc_to_json(doc);
        TD_ASSERT(j != NULL);
        json_t *r = json_object_get(j, "m");
        if (kinds[i] == TD_YTYPE_XML_ELEMENT)
            TD_ASSERT(strstr(json_string_value(r), " k=\"undefined\">") != NULL);
        else
            TD_ASSERT(json_is_object(r) && json_object_size(r) == 0);
        json_decref(j);
        td_ydoc_destroy(&doc);
    }
}

/* Every Any or JSON item longer than TD__OFFS_STRIDE has its value offset table, and each entry
 * of a table is the byte offset of value j * TD__OFFS_STRIDE (td__item_t). */
static void s_expect_offs(const td_ydoc_t *doc)
{
    size_t tables = 0;
    for (size_t c = 0; c < doc->nclients; c++) {
        const td__client_t *cl = doc->clients[c];
        for (size_t i = 0; i < cl->n; i++) {
            const td__item_t *it = cl->v[i];
            if (it->kind != TD_YSTRUCT_ITEM ||
                (it->content != TD_YCONTENT_ANY && it->content != TD_YCONTENT_JSON))
                continue;
            bool json = it->content == TD_YCONTENT_JSON;
            const uint32_t *offs = it->c.buf.offs;
            TD_ASSERT_EQ(td__yvalues_skip(it->c.buf.p, it->c.buf.n, 0, it->len, json), it->c.buf.n);
            TD_ASSERT(it->len <= TD__OFFS_STRIDE || offs != NULL);
            if (offs == NULL)
                continue;
            tables++;
            TD_ASSERT(offs[0] >= (it->len + TD__OFFS_STRIDE - 1) / TD__OFFS_STRIDE);
            for (uint64_t k = 0; k < it->len; k += TD__OFFS_STRIDE)
                TD_ASSERT_EQ(offs[1 + k / TD__OFFS_STRIDE],
                             td__yvalues_skip(it->c.buf.p, it->c.buf.n, 0, k, json));
        }
    }
    TD_ASSERT(tables > 0);
}

/* Values of an Any item grown by merging one push at a time, then split by inserts and a delete:
 * the per-item value offset table must stay right through merge, split and cut. Expected bytes
 * and JSON from yjs 13.6.33 (clientID 5; push i: "x"+i, {v: i} or i * 1.5 by i % 3; insert(50,
 * ["mid", 7]); delete(10, 5); insert(97, [true])). */
static void s_test_any_offsets(void)
{
    td_ydoc_t *doc = td_ydoc_new(NULL, 5);
    td_ytype_t *a = td_ydoc_get(doc, "a", TD_YTYPE_ARRAY);
    td_lib0_enc_t early; /* the first 20 values, for a peer that receives the rest overlapping */
    td_lib0_enc_init(&early);
    for (int i = 0; i < 100; i++) {
        if (i == 20)
            TD_ASSERT_OK(td_ydoc_encode_state_as_update(doc, NULL, 0, &early, NULL));
        char x[8];
        snprintf(x, sizeof x, "x%d", i);
        json_t *v = i % 3 == 0   ? json_pack("[s]", x)
                    : i % 3 == 1 ? json_pack("[{s:i}]", "v", i)
                                 : json_pack("[f]", i * 1.5);
        TD_ASSERT_OK(td_yarray_push_json(a, v));
        json_decref(v);
    }
    json_t *ins = json_pack("[si]", "mid", 7);
    TD_ASSERT_OK(td_yarray_insert_json(a, 50, ins));
    json_decref(ins);
    TD_ASSERT_OK(td_yarray_delete(a, 10, 5));
    ins = json_pack("[b]", 1);
    TD_ASSERT_OK(td_yarray_insert_json(a, 97, ins));
    json_decref(ins);
    static const char *const want =
        "[\"x0\",{\"v\":1},3,\"x3\",{\"v\":4},7.5,\"x6\",{\"v\":7},12,\"x9\",\"x15\",{\"v\":16}"
        ",25.5,\"x18\",{\"v\":19},30,\"x21\",{\"v\":22},34.5,\"x24\",{\"v\":25},39,\"x27\",{\"v"
        "\":28},43.5,\"x30\",{\"v\":31},48,\"x33\",{\"v\":34},52.5,\"x36\",{\"v\":37},57,\"x39"
        "\",{\"v\":40},61.5,\"x42\",{\"v\":43},66,\"x45\",{\"v\":46},70.5,\"x48\",{\"v\":49},\""
        "mid\",7,75,\"x51\",{\"v\":52},79.5,\"x54\",{\"v\":55},84,\"x57\",{\"v\":58},88.5,\"x60"
        "\",{\"v\":61},93,\"x63\",{\"v\":64},97.5,\"x66\",{\"v\":67},102,\"x69\",{\"v\":70},106"
        ".5,\"x72\",{\"v\":73},111,\"x75\",{\"v\":76},115.5,\"x78\",{\"v\":79},120,\"x81\",{\"v"
        "\":82},124.5,\"x84\",{\"v\":85},129,\"x87\",{\"v\":88},133.5,\"x90\",{\"v\":91},138,\""
        "x93\",{\"v\":94},142.5,\"x96\",{\"v\":97},147,\"x99\",true]";
    char *doc_want = malloc(strlen(want) + 16);
    TD_ASSERT(doc_want != NULL);
    sprintf(doc_want, "{\"a\":%s}", want);
    s_expect_json(doc, doc_want);
    s_expect_offs(doc);
    /* Indexed reads agree with the export. */
    json_t *all = json_loads(want, 0, NULL);
    TD_ASSERT_EQ(td_ytype_len(a), json_array_size(all));
    for (size_t i = 0; i < json_array_size(all); i++) {
        json_t *got = td_yarray_get_json(a, i);
        TD_ASSERT(json_equal(got, json_array_get(all, i)));
        json_decref(got);
    }
    json_decref(all);
    static const char *const state =
        "01060500080101610a77027830760101767d017d0377027833760101767d047c40f0000077027836760101"
        "767d077d0c770278398105090588050e237703783135760101767d107c41cc00007703783138760101767d"
        "137d1e7703783231760101767d167c420a00007703783234760101767d197d277703783237760101767d1c"
        "7c422e00007703783330760101767d1f7d307703783333760101767d227c42520000770378333676010176"
        "7d257d397703783339760101767d287c427600007703783432760101767d2b7d8201770378343576010176"
        "7d2e7c428d00007703783438760101767d31880531327d8b017703783531760101767d347c429f00007703"
        "783534760101767d377d94017703783537760101767d3a7c42b100007703783630760101767d3d7d9d0177"
        "03783633760101767d80017c42c300007703783636760101767d83017da6017703783639760101767d8601"
        "7c42d500007703783732760101767d89017daf017703783735760101767d8c017c42e70000770378373876"
        "0101767d8f017db8017703783831760101767d92017c42f900007703783834760101767d95017d81027703"
        "783837760101767d98017c430580007703783930760101767d9b017d8a027703783933760101767d9e017c"
        "430e80007703783936760101767da1017d93027703783939c8053105320277036d69647d07880563017801"
        "05010a05";
    s_expect_state(doc, state);
    /* The same through a peer that decodes it (tables built when the content is decoded). */
    td_ydoc_t *peer = td_ydoc_new(NULL, 6);
    td_ydoc_get(peer, "a", TD_YTYPE_ARRAY);
    s_apply_hex(peer, state);
    s_expect_json(peer, doc_want);
    s_expect_state(peer, state);
    s_expect_offs(peer);
    /* A peer that knows the first 20 values cuts them off the struct holding values 15..49. */
    td_ydoc_t *late = td_ydoc_new(NULL, 7);
    td_ydoc_get(late, "a", TD_YTYPE_ARRAY);
    TD_ASSERT_OK(td_ydoc_apply_update(late, early.buf, early.len, NULL, NULL));
    s_apply_hex(late, state);
    s_expect_json(late, doc_want);
    s_expect_state(late, state);
    s_expect_offs(late);
    td_lib0_enc_fini(&early);
    td_ydoc_destroy(&late);
    free(doc_want);
    td_ydoc_destroy(&peer);
    td_ydoc_destroy(&doc);
}

/* Captured updates, in order. */
typedef struct s_ups {
    uint8_t *v[128];
    size_t len[128];
    size_t n;
} s_ups_t;

static void s_on_update(td_ydoc_t *doc, const td_ytxn_info_t *info, void *arg)
{
    s_ups_t *u = arg;
    TD_ASSERT(u->n < 128);
    u->v[u->n] = malloc(info->update_len);
    memcpy(u->v[u->n], info->update, info->update_len);
    u->len[u->n++] = info->update_len;
}

/* The chain of map m's key "v" holds n items from its cached first item to its current one,
 * linked both ways, in ascending client order (concurrent sets without origins). */
static void s_expect_chain(td_ydoc_t *doc, size_t n)
{
    td_ytype_t *m = td_ydoc_get(doc, "m", TD_YTYPE_MAP);
    td__key_t *key = td__ydoc_key(doc, "v", 1);
    td__item_t *o = td__ytype_map_start(m, key), *last = NULL;
    TD_ASSERT(o != NULL && o->left == NULL);
    size_t k = 0;
    for (; o; last = o, o = o->right, k++) {
        TD_ASSERT(o->left == last);
        TD_ASSERT(last == NULL || last->id.client < o->id.client);
    }
    TD_ASSERT_EQ(k, n);
    TD_ASSERT(last == td__ytype_map_get(m, key));
}

/* Applies ups[order[0..n)] to a fresh document, checks its content against want (a map
 * document's JSON, or the text of "t"; NULL: unchecked) and returns its state as hex (caller
 * frees). */
static char *s_apply_order(const s_ups_t *u, const size_t *order, size_t n, const char *want)
{
    td_ydoc_t *doc = td_ydoc_new(NULL, 9999);
    for (size_t i = 0; i < n; i++)
        TD_ASSERT_OK(td_ydoc_apply_update(doc, u->v[order[i]], u->len[order[i]], NULL, NULL));
    TD_ASSERT(!td_ydoc_has_pending(doc));
    if (want && want[0] == '{') {
        s_expect_json(doc, want);
        s_expect_chain(doc, n);
    } else if (want) {
        char *text = NULL;
        size_t len = 0;
        TD_ASSERT_OK(td_ytext_string(td_ydoc_get(doc, "t", TD_YTYPE_TEXT), &text, &len));
        TD_ASSERT_STR_EQ(text, want);
        free(text);
    }
    td_lib0_enc_t e;
    td_lib0_enc_init(&e);
    TD_ASSERT_OK(td_ydoc_encode_state_as_update(doc, NULL, 0, &e, NULL));
    char *hex = s_hex(e.buf, e.len);
    td_lib0_enc_fini(&e);
    td_ydoc_destroy(&doc);
    return hex;
}

/* The three orders of u's updates give the same content (want) and the same state. */
static void s_expect_orders(const s_ups_t *u, const size_t *o1, const size_t *o2,
                            const size_t *o3, size_t n, const char *want)
{
    char *a = s_apply_order(u, o1, n, want);
    char *b = s_apply_order(u, o2, n, want);
    char *c = s_apply_order(u, o3, n, want);
    TD_ASSERT_STR_EQ(a, b);
    TD_ASSERT_STR_EQ(a, c);
    free(a);
    free(b);
    free(c);
}

/* Conflict scans longer than the 32 items a scan checks without its index, in several arrival
 * orders: many clients setting one map key (the key's chain grows at both ends, so its cached
 * first item must follow: checked on the chain itself, since the map's value and the encoding
 * do not show the chain's order), and many clients inserting at one place in a text, each then
 * inserting after its own item, which must give yjs's text. */
static void s_test_long_scans(void)
{
    s_ups_t maps = {0};
    for (uint64_t c = 1; c <= 60; c++) {
        td_ydoc_t *d = td_ydoc_new(NULL, c);
        TD_ASSERT_OK(td_ydoc_observe(d, s_on_update, &maps));
        json_t *v = json_integer((json_int_t)c);
        TD_ASSERT_OK(td_ymap_set_json(td_ydoc_get(d, "m", TD_YTYPE_MAP), "v", v));
        json_decref(v);
        td_ydoc_destroy(&d);
    }
    size_t fwd[128], rev[128], mix[128];
    for (size_t i = 0; i < maps.n; i++) {
        fwd[i] = i;
        rev[i] = maps.n - 1 - i;
        mix[i] = (i * 37) % maps.n; /* 37 and 60 are coprime: a permutation */
    }
    s_expect_orders(&maps, fwd, rev, mix, maps.n, "{\"m\":{\"v\":60}}");
    for (size_t i = 0; i < maps.n; i++)
        free(maps.v[i]);

    /* Text: update 0 is "ab"; client k's updates are 2k-1 (a capital after a) and 2k (its small
     * letter after it). The order is yjs 13.6's for the same updates. */
    s_ups_t txt = {0};
    td_ydoc_t *base = td_ydoc_new(NULL, 1000);
    TD_ASSERT_OK(td_ydoc_observe(base, s_on_update, &txt));
    TD_ASSERT_OK(td_ytext_insert(td_ydoc_get(base, "t", TD_YTYPE_TEXT), 0, "ab", 2, NULL));
    td_ydoc_destroy(&base);
    const size_t K = 20; /* a scan over up to 2K items */
    const char *want = "aAaBbCcDdEeFfGgHhIiJjKkLlMmNnOoPpQqRrSsTtb";
    for (uint64_t k = 1; k <= K; k++) {
        td_ydoc_t *d = td_ydoc_new(NULL, k);
        TD_ASSERT_OK(td_ydoc_apply_update(d, txt.v[0], txt.len[0], NULL, NULL));
        TD_ASSERT_OK(td_ydoc_observe(d, s_on_update, &txt));
        td_ytype_t *t = td_ydoc_get(d, "t", TD_YTYPE_TEXT);
        char up = (char)('A' + k - 1), low = (char)('a' + k - 1);
        TD_ASSERT_OK(td_ytext_insert(t, 1, &up, 1, NULL));
        TD_ASSERT_OK(td_ytext_insert(t, 2, &low, 1, NULL));
        td_ydoc_destroy(&d);
    }
    TD_ASSERT_EQ(txt.n, 1 + 2 * K);
    size_t n = 0, xs_first[128], by_client[128], backwards[128];
    for (size_t i = 0; i <= 2 * K; i++)
        by_client[i] = i;
    xs_first[n++] = 0;
    for (size_t k = 0; k < K; k++)
        xs_first[n++] = 1 + 2 * k;
    for (size_t k = 0; k < K; k++)
        xs_first[n++] = 2 + 2 * k;
    backwards[0] = 0;
    for (size_t k = 0; k < K; k++) {
        backwards[1 + 2 * k] = 2 * (K - k) - 1;
        backwards[2 + 2 * k] = 2 * (K - k);
    }
    s_expect_orders(&txt, by_client, xs_first, backwards, n, want);
    for (size_t i = 0; i < txt.n; i++)
        free(txt.v[i]);
}

static void s_rand(void *arg, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)(0x11 * (i + 1));
}

void test_td_ydoc(void)
{
    s_test_examples();
    s_test_compat();
    s_test_atomic();
    s_test_pending();
    s_test_txn();
    s_test_map_format();
    s_test_any_offsets();
    s_test_long_scans();
    td_env_t env = {NULL, s_rand, NULL};
    td_ydoc_t *doc = td_ydoc_new(&env, TD_YDOC_CLIENT_RANDOM);
    TD_ASSERT_EQ(td_ydoc_client_id(doc), 0x44332211);
    td_ydoc_destroy(&doc);
}
