/* test_td_ynotebook.c: the notebook model. Load -> export round trips (with the documented
 * normalisations), deterministic bytes, malformed notebooks rejected without touching the document,
 * merges from disk (edit, insert, delete, move, id-less cells, touch, three-way with live edits,
 * convergence with a concurrent peer), text rebasing, state and execution-output writes. The
 * schema itself is checked against @jupyter/ydoc by tests/ynotebook/run.mjs. */
#include "td/td_ynotebook.h"
#include "td/td_ytextdoc.h"
#include "test.h"

static json_t *s_json(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (j == NULL)
        TD_FAIL("bad test JSON: %s: %s", je.text, text);
    return j;
}

static td_ydoc_t *s_load(const char *text)
{
    json_t *nb = s_json(text);
    td_ydoc_t *doc = NULL;
    td_error_t err = {0};
    int rc = td_ynb_new_from_json(nb, &doc, &err);
    if (rc != 0)
        TD_FAIL("load: %d %s", rc, err.text);
    json_decref(nb);
    return doc;
}

static json_t *s_export(const td_ydoc_t *doc, unsigned flags)
{
    json_t *out = NULL;
    td_error_t err = {0};
    int rc = td_ynb_export(doc, flags, &out, &err);
    if (rc != 0)
        TD_FAIL("export: %d %s", rc, err.text);
    return out;
}

static void s_assert_json(const json_t *got, const char *want_text)
{
    json_t *want = s_json(want_text);
    if (!json_equal((json_t *)got, want)) {
        char *g = json_dumps(got, JSON_SORT_KEYS | JSON_COMPACT);
        char *w = json_dumps(want, JSON_SORT_KEYS | JSON_COMPACT);
        TD_FAIL("JSON differs\n got: %s\nwant: %s", g, w);
    }
    json_decref(want);
}

static uint8_t *s_state(const td_ydoc_t *doc, size_t *n)
{
    td_lib0_enc_t e;
    td_lib0_enc_init(&e);
    TD_ASSERT_OK(td_ydoc_encode_state_as_update(doc, NULL, 0, &e, NULL));
    return td_lib0_enc_steal(&e, n);
}

/* Merges disk (and base) into doc as client 9; returns the update length (0: none). */
static size_t s_merge(td_ydoc_t *doc, const char *base, const char *disk)
{
    json_t *d = s_json(disk), *b = base ? s_json(base) : NULL;
    td_lib0_enc_t e;
    td_lib0_enc_init(&e);
    bool changed = true;
    td_error_t err = {0};
    int rc = td_ynb_merge(doc, b, d, 9, NULL, &e, &changed, &err);
    if (rc != 0)
        TD_FAIL("merge: %d %s", rc, err.text);
    TD_ASSERT_EQ(changed, e.len > 0);
    size_t n = e.len;
    td_lib0_enc_fini(&e);
    json_decref(d);
    json_decref(b);
    return n;
}

static char *s_cell_source(td_ydoc_t *doc, const char *id)
{
    td_ytype_t *c = td_ynb_cell_by_id(doc, id);
    TD_ASSERT(c != NULL);
    char *s = NULL;
    size_t n;
    TD_ASSERT_OK(td_ytext_string(td_ymap_get_type(c, "source"), &s, &n));
    return s;
}

#define NB_HEAD "{\"nbformat\":4,\"nbformat_minor\":5,\"metadata\":{\"k\":1},\"cells\":["
#define CODE(id, src)                                                                              \
    "{\"cell_type\":\"code\",\"id\":\"" id "\",\"metadata\":{},\"execution_count\":null,"          \
    "\"outputs\":[],\"source\":\"" src "\"}"
#define MD(id, src)                                                                                \
    "{\"cell_type\":\"markdown\",\"id\":\"" id "\",\"metadata\":{},\"source\":\"" src "\"}"

static void s_round_trip(void)
{
    const char *in =
        "{\"nbformat\":4,\"nbformat_minor\":5,\"metadata\":{\"orig_nbformat\":3,\"kernelspec\":"
        "{\"name\":\"python3\",\"display_name\":\"P\"}},\"cells\":["
        "{\"cell_type\":\"markdown\",\"id\":\"m\",\"metadata\":{},\"source\":[\"# T\\n\",\"x\"],"
        "\"attachments\":{\"a.png\":{\"image/png\":[\"AA\",\"BB\"]}}},"
        "{\"cell_type\":\"code\",\"id\":\"c\",\"metadata\":{\"collapsed\":true},\"execution_"
        "count\":2,"
        "\"execution_state\":\"busy\",\"unknown\":1,\"outputs\":["
        "{\"output_type\":\"stream\",\"name\":\"stdout\",\"text\":[\"a\\n\",\"b\\n\"]},"
        "{\"output_type\":\"execute_result\",\"execution_count\":2,\"metadata\":{},"
        "\"data\":{\"text/plain\":[\"1\\n\",\"2\"],\"application/json\":[\"x\",\"y\"]}}],"
        "\"source\":\"print(1)\\nprint('\xf0\x9f\x98\x80')\"},"
        "{\"cell_type\":\"raw\",\"metadata\":{},\"source\":\"r\"}]}";
    td_ydoc_t *doc = s_load(in);
    TD_ASSERT_EQ(td_ydoc_client_id(doc), 0);
    json_t *out = s_export(doc, 0);
    /* The raw cell had no id: it gets the deterministic one (checked for stability below). */
    json_t *raw = json_array_get(json_object_get(out, "cells"), 2);
    const char *rid = json_string_value(json_object_get(raw, "id"));
    TD_ASSERT(rid != NULL && strlen(rid) == 36);
    char want[2048];
    snprintf(
        want, sizeof want,
        "{\"nbformat\":4,\"nbformat_minor\":5,\"metadata\":{\"kernelspec\":{\"name\":\"python3\","
        "\"display_name\":\"P\"}},\"cells\":["
        "{\"cell_type\":\"markdown\",\"id\":\"m\",\"metadata\":{},\"source\":\"# T\\nx\","
        "\"attachments\":{\"a.png\":{\"image/png\":\"AABB\"}}},"
        "{\"cell_type\":\"code\",\"id\":\"c\",\"metadata\":{\"collapsed\":true,\"jupyter\":"
        "{\"outputs_hidden\":true}},\"execution_count\":2,\"outputs\":["
        "{\"output_type\":\"stream\",\"name\":\"stdout\",\"text\":\"a\\nb\\n\"},"
        "{\"output_type\":\"execute_result\",\"execution_count\":2,\"metadata\":{},"
        "\"data\":{\"text/plain\":\"1\\n2\",\"application/json\":[\"x\",\"y\"]}}],"
        "\"source\":\"print(1)\\nprint('\xf0\x9f\x98\x80')\"},"
        "{\"cell_type\":\"raw\",\"id\":\"%s\",\"metadata\":{},\"source\":\"r\"}]}",
        rid);
    s_assert_json(out, want);
    /* Exporting the export and loading it again is a fixed point. */
    td_ydoc_t *doc2 = NULL;
    TD_ASSERT_OK(td_ynb_new_from_json(out, &doc2, NULL));
    json_t *out2 = s_export(doc2, 0);
    TD_ASSERT(json_equal(out, out2));
    /* nbformat's on-disk form: multi-line strings as line lists (Python splitlines(True)). */
    json_t *split = s_export(doc, TD_YNB_SPLIT_LINES);
    json_t *c1 = json_array_get(json_object_get(split, "cells"), 1);
    s_assert_json(json_object_get(c1, "source"), "[\"print(1)\\n\",\"print('\xf0\x9f\x98\x80')\"]");
    s_assert_json(json_object_get(json_array_get(json_object_get(c1, "outputs"), 1), "data"),
                  "{\"text/plain\":[\"1\\n\",\"2\"],\"application/json\":[\"x\",\"y\"]}");
    json_decref(split);
    /* Determinism: a second load of the same file gives the same bytes (same ids too). */
    td_ydoc_t *doc3 = s_load(in);
    size_t n1, n3;
    uint8_t *b1 = s_state(doc, &n1), *b3 = s_state(doc3, &n3);
    TD_ASSERT_EQ(n1, n3);
    TD_ASSERT_MEM_EQ(b1, b3, n1);
    free(b1);
    free(b3);
    /* A document with another client id keeps it; loading twice is refused. */
    td_ydoc_t *doc4 = td_ydoc_new(NULL, 77);
    json_t *nb = s_json(in);
    TD_ASSERT_OK(td_ynb_load(doc4, nb, NULL));
    TD_ASSERT_EQ(td_ydoc_client_id(doc4), 77);
    /* The caller's notebook is left as it was: load shares its strings and never edits them. */
    json_t *again = s_json(in);
    TD_ASSERT(json_equal(nb, again));
    json_decref(again);
    TD_ASSERT_EQ(td_ynb_load(doc4, nb, NULL), TD_ESTATE);
    json_decref(nb);
    json_decref(out);
    json_decref(out2);
    td_ydoc_destroy(&doc);
    td_ydoc_destroy(&doc2);
    td_ydoc_destroy(&doc3);
    td_ydoc_destroy(&doc4);
}

static void s_malformed(void)
{
    static const char *bad[] = {
        "[]",
        "{\"nbformat\":3,\"cells\":[]}",
        "{\"nbformat\":4,\"nbformat_minor\":\"5\",\"cells\":[]}",
        "{\"nbformat\":4,\"cells\":{}}",
        "{\"nbformat\":4,\"metadata\":[],\"cells\":[]}",
        "{\"nbformat\":4,\"cells\":[1]}",
        "{\"nbformat\":4,\"cells\":[{\"cell_type\":\"heading\",\"source\":\"\"}]}",
        "{\"nbformat\":4,\"cells\":[{\"cell_type\":\"code\",\"source\":[1]}]}",
        "{\"nbformat\":4,\"cells\":[{\"cell_type\":\"code\",\"source\":\"\",\"metadata\":7}]}",
        "{\"nbformat\":4,\"cells\":[{\"cell_type\":\"code\",\"source\":\"\",\"outputs\":{}}]}",
        "{\"nbformat\":4,\"cells\":[{\"cell_type\":\"code\",\"source\":\"\",\"outputs\":[3]}]}",
        "{\"nbformat\":4,\"cells\":[{\"cell_type\":\"code\",\"source\":\"\",\"outputs\":"
        "[{\"output_type\":\"stream\",\"text\":5}]}]}",
        "{\"nbformat\":4,\"cells\":[{\"cell_type\":\"code\",\"source\":\"\",\"execution_count\":-1}"
        "]}",
        "{\"nbformat\":4,\"cells\":[{\"cell_type\":\"code\",\"source\":\"\",\"execution_count\":1."
        "5}]}",
        "{\"nbformat\":4,\"cells\":[{\"cell_type\":\"raw\",\"source\":\"\",\"attachments\":[]}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *nb = s_json(bad[i]);
        td_ydoc_t *doc = td_ydoc_new(NULL, 0);
        td_error_t err = {0};
        int rc = td_ynb_load(doc, nb, &err);
        if (rc != TD_EPROTO)
            TD_FAIL("case %zu: %d, want TD_EPROTO", i, rc);
        TD_ASSERT(err.text[0] != '\0');
        TD_ASSERT(td_ydoc_state(doc, 0) == 0); /* nothing written */
        /* The same input as a merge leaves a live document untouched. */
        td_ydoc_t *live = s_load(NB_HEAD CODE("a", "x") "]}");
        size_t n0, n1;
        uint8_t *s0 = s_state(live, &n0);
        TD_ASSERT_EQ(td_ynb_merge(live, NULL, nb, 9, NULL, NULL, NULL, NULL), TD_EPROTO);
        uint8_t *s1 = s_state(live, &n1);
        TD_ASSERT_EQ(n0, n1);
        TD_ASSERT_MEM_EQ(s0, s1, n0);
        free(s0);
        free(s1);
        td_ydoc_destroy(&live);
        td_ydoc_destroy(&doc);
        json_decref(nb);
    }
    /* Deep nesting is refused before it reaches the encoder. */
    char deep[1200];
    size_t o = (size_t)snprintf(deep, sizeof deep, "{\"nbformat\":4,\"metadata\":{\"x\":");
    for (int i = 0; i < 300; i++)
        deep[o++] = '[';
    for (int i = 0; i < 300; i++)
        deep[o++] = ']';
    snprintf(deep + o, sizeof deep - o, "},\"cells\":[]}");
    json_t *nb = s_json(deep);
    td_ydoc_t *doc = td_ydoc_new(NULL, 0);
    TD_ASSERT_EQ(td_ynb_load(doc, nb, NULL), TD_EPROTO);
    td_ydoc_destroy(&doc);
    json_decref(nb);
}

static void s_merges(void)
{
    const char *base =
        NB_HEAD CODE("a", "alpha\\nbeta") "," MD("b", "bee") "," CODE("c", "sea") "]}";
    td_ydoc_t *doc = s_load(base);
    size_t n0 = 0;
    free(s_state(doc, &n0));

    /* touch: same content (even spelled differently: a list source, 1.0 for 1) writes nothing. */
    TD_ASSERT_EQ(s_merge(doc, NULL, base), 0);
    TD_ASSERT_EQ(
        s_merge(doc, base,
                "{\"nbformat\":4,\"nbformat_minor\":5.0,\"metadata\":{\"k\":1.0},\"cells\":["
                "{\"cell_type\":\"code\",\"id\":\"a\",\"metadata\":{},\"outputs\":[],"
                "\"source\":[\"alpha\\n\",\"beta\"]}," MD("b", "bee") "," CODE("c", "sea") "]}"),
        0);
    TD_ASSERT_EQ(td_ydoc_state(doc, 9), 0);

    /* Edit one cell: a minimal text edit by client 9 (a 1-unit insert), ids kept. */
    const char *e1 =
        NB_HEAD CODE("a", "alpha\\nbeta!") "," MD("b", "bee") "," CODE("c", "sea") "]}";
    TD_ASSERT(s_merge(doc, NULL, e1) > 0);
    TD_ASSERT_EQ(td_ydoc_state(doc, 9), 1);
    char *s = s_cell_source(doc, "a");
    TD_ASSERT_STR_EQ(s, "alpha\nbeta!");
    free(s);
    td_ytype_t *cell_b = td_ynb_cell_by_id(doc, "b");

    /* Insert, delete, move: b stays the same Y item; c moves before a (recreated), d is new. */
    const char *e2 = NB_HEAD CODE("c", "sea") "," MD("b", "bee") "," CODE("d", "new") "]}";
    TD_ASSERT(s_merge(doc, NULL, e2) > 0);
    json_t *out = s_export(doc, 0);
    s_assert_json(json_object_get(out, "cells"),
                  "[" CODE("c", "sea") "," MD("b", "bee") "," CODE("d", "new") "]");
    json_decref(out);
    TD_ASSERT(td_ynb_cell_by_id(doc, "b") == cell_b && !td_ytype_deleted(cell_b));

    /* Metadata and outputs: only the changed key and the changed output are written. */
    const char *e3 = NB_HEAD
        "{\"cell_type\":\"code\",\"id\":\"c\",\"metadata\":{\"tags\":[\"t\"]},"
        "\"execution_count\":4,\"outputs\":[{\"output_type\":\"stream\",\"name\":"
        "\"stdout\",\"text\":\"out\\n\"}],\"source\":\"sea\"}," MD("b", "bee") "," CODE("d",
                                                                                        "new") "]}";
    TD_ASSERT(s_merge(doc, NULL, e3) > 0);
    uint64_t before = td_ydoc_state(doc, 9);
    const char *e4 =
        NB_HEAD "{\"cell_type\":\"code\",\"id\":\"c\",\"metadata\":{\"tags\":[\"t\"]},"
                "\"execution_count\":4,\"outputs\":[{\"output_type\":\"stream\",\"name\":"
                "\"stdout\",\"text\":\"out\\nmore\\n\"}],\"source\":\"sea\"}," MD(
                    "b", "bee") "," CODE("d", "new") "]}";
    TD_ASSERT(s_merge(doc, NULL, e4) > 0);
    TD_ASSERT_EQ(td_ydoc_state(doc, 9) - before, 5); /* "more\n" appended to the stream Text */
    out = s_export(doc, 0);
    s_assert_json(json_object_get(json_array_get(json_object_get(out, "cells"), 0), "outputs"),
                  "[{\"output_type\":\"stream\",\"name\":\"stdout\",\"text\":\"out\\nmore\\n\"}]");
    json_decref(out);
    td_ydoc_destroy(&doc);
}

static void s_merge_idless(void)
{
    const char *v44 = "{\"nbformat\":4,\"nbformat_minor\":4,\"metadata\":{},\"cells\":["
                      "{\"cell_type\":\"code\",\"metadata\":{},\"outputs\":[],\"source\":\"one\"},"
                      "{\"cell_type\":\"code\",\"metadata\":{},\"outputs\":[],\"source\":\"two\"},"
                      "{\"cell_type\":\"markdown\",\"metadata\":{},\"source\":\"three\"}]}";
    td_ydoc_t *doc = s_load(v44);
    td_ytype_t *cells = td_ydoc_get(doc, "cells", TD_YTYPE_ARRAY);
    td_ytype_t *c0 = td_yarray_get_type(cells, 0), *c1 = td_yarray_get_type(cells, 1),
               *c2 = td_yarray_get_type(cells, 2);
    TD_ASSERT_EQ(s_merge(doc, NULL, v44), 0); /* no ids on disk, still a no-op */
    /* Edit "two", insert a cell at the top: matched by content then position, edited in place. */
    const char *e = "{\"nbformat\":4,\"nbformat_minor\":4,\"metadata\":{},\"cells\":["
                    "{\"cell_type\":\"raw\",\"metadata\":{},\"source\":\"zero\"},"
                    "{\"cell_type\":\"code\",\"metadata\":{},\"outputs\":[],\"source\":\"one\"},"
                    "{\"cell_type\":\"code\",\"metadata\":{},\"outputs\":[],\"source\":\"two!\"},"
                    "{\"cell_type\":\"markdown\",\"metadata\":{},\"source\":\"three\"}]}";
    TD_ASSERT(s_merge(doc, NULL, e) > 0);
    TD_ASSERT_EQ(td_ytype_len(cells), 4);
    TD_ASSERT(td_yarray_get_type(cells, 1) == c0 && td_yarray_get_type(cells, 2) == c1 &&
              td_yarray_get_type(cells, 3) == c2);
    char *s = NULL;
    size_t n;
    TD_ASSERT_OK(td_ytext_string(td_ymap_get_type(c1, "source"), &s, &n));
    TD_ASSERT_STR_EQ(s, "two!");
    free(s);
    TD_ASSERT_EQ(s_merge(doc, NULL, e), 0);
    td_ydoc_destroy(&doc);
}

static void s_merge_three_way(void)
{
    const char *base = NB_HEAD CODE("a", "hello world") "," CODE("b", "bee") "," MD("m", "md") "]}";
    td_ydoc_t *doc = s_load(base);
    td_ydoc_set_client_id(doc, 5);
    /* Live edits since the save: text at the start of a, b's text, a new cell, m deleted. */
    td_ytype_t *a = td_ynb_cell_by_id(doc, "a");
    TD_ASSERT_OK(td_ytext_insert(td_ymap_get_type(a, "source"), 0, ">> ", 3, NULL));
    td_ytype_t *b = td_ynb_cell_by_id(doc, "b");
    TD_ASSERT_OK(td_ynb_text_merge(td_ymap_get_type(b, "source"), NULL, 0, "bee live", 8));
    td_ytype_t *cells = td_ydoc_get(doc, "cells", TD_YTYPE_ARRAY);
    TD_ASSERT_OK(td_yarray_delete(cells, 2, 1));
    /* Disk (another tool) changed the end of a and added a cell; b and m as saved. */
    const char *disk = NB_HEAD CODE("a", "hello there") "," CODE("b", "bee") "," MD(
        "m", "md") "," CODE("z", "z") "]}";
    TD_ASSERT(s_merge(doc, base, disk) > 0);
    char *s = s_cell_source(doc, "a");
    TD_ASSERT_STR_EQ(s, ">> hello there");
    free(s);
    s = s_cell_source(doc, "b");
    TD_ASSERT_STR_EQ(s, "bee live");
    free(s);
    TD_ASSERT(td_ynb_cell_by_id(doc, "m") == NULL); /* the live deletion wins */
    TD_ASSERT(td_ynb_cell_by_id(doc, "z") != NULL);
    /* Without a base the same disk file is a two-way merge: disk wins field by field. */
    TD_ASSERT(s_merge(doc, NULL, disk) > 0);
    s = s_cell_source(doc, "a");
    TD_ASSERT_STR_EQ(s, "hello there");
    free(s);
    TD_ASSERT_EQ(td_ytype_len(cells), 4);
    td_ydoc_destroy(&doc);
}

/* The relay merges while a peer edits the same cell concurrently; both converge. */
static void s_merge_concurrent(void)
{
    const char *base = NB_HEAD CODE("a", "x = 1") "]}";
    td_ydoc_t *relay = s_load(base), *peer = td_ydoc_new(NULL, 42);
    size_t n;
    uint8_t *st = s_state(relay, &n);
    TD_ASSERT_OK(td_ydoc_apply_update(peer, st, n, NULL, NULL));
    free(st);
    TD_ASSERT_OK(td_ytext_insert(td_ymap_get_type(td_ynb_cell_by_id(peer, "a"), "source"), 0,
                                 "# c\n", 4, NULL));
    json_t *d = s_json(NB_HEAD CODE("a", "x = 2") "]}");
    td_lib0_enc_t m;
    td_lib0_enc_init(&m);
    TD_ASSERT_OK(td_ynb_merge(relay, NULL, d, 9, NULL, &m, NULL, NULL));
    json_decref(d);
    uint8_t *ps = s_state(peer, &n);
    TD_ASSERT_OK(td_ydoc_apply_update(relay, ps, n, NULL, NULL));
    TD_ASSERT_OK(td_ydoc_apply_update(peer, m.buf, m.len, NULL, NULL));
    free(ps);
    td_lib0_enc_fini(&m);
    char *s1 = s_cell_source(relay, "a"), *s2 = s_cell_source(peer, "a");
    TD_ASSERT_STR_EQ(s1, "# c\nx = 2");
    TD_ASSERT_STR_EQ(s2, s1);
    free(s1);
    free(s2);
    td_ydoc_destroy(&relay);
    td_ydoc_destroy(&peer);
}

static void s_text(void)
{
    td_ydoc_t *doc = td_ydoc_new(NULL, 1);
    td_ytype_t *t = td_ydoc_get(doc, "t", TD_YTYPE_TEXT);
    TD_ASSERT_OK(td_ynb_text_merge(t, NULL, 0,
                                   "a\xf0\x9f\x98\x80"
                                   "b",
                                   6));
    /* Replace the emoji (2 UTF-16 units) by another sharing its first 3 bytes. */
    TD_ASSERT_OK(td_ynb_text_merge(t, NULL, 0,
                                   "a\xf0\x9f\x98\x81"
                                   "b",
                                   6));
    char *s;
    size_t n;
    TD_ASSERT_OK(td_ytext_string(t, &s, &n));
    TD_ASSERT_STR_EQ(s, "a\xf0\x9f\x98\x81"
                        "b");
    free(s);
    uint64_t clock = td_ydoc_state(doc, 1);
    TD_ASSERT_OK(td_ynb_text_merge(t, NULL, 0,
                                   "a\xf0\x9f\x98\x81"
                                   "b",
                                   6));
    TD_ASSERT_EQ(td_ydoc_state(doc, 1), clock); /* equal: nothing written */
    /* Rebase: base "0123456789", live deleted "23", disk replaced "1234" by "X". */
    TD_ASSERT_OK(td_ynb_text_merge(t, NULL, 0, "01456789", 8));
    TD_ASSERT_OK(td_ynb_text_merge(t, "0123456789", 10, "0X56789", 7));
    TD_ASSERT_OK(td_ytext_string(t, &s, &n));
    TD_ASSERT_STR_EQ(s, "0X56789");
    free(s);
    /* Rebase with disjoint edits: live appended, disk changed the start. */
    TD_ASSERT_OK(td_ynb_text_merge(t, NULL, 0, "0X56789 live", 12));
    TD_ASSERT_OK(td_ynb_text_merge(t, "0X56789", 7, "disk 0X56789", 12));
    TD_ASSERT_OK(td_ytext_string(t, &s, &n));
    TD_ASSERT_STR_EQ(s, "disk 0X56789 live");
    free(s);
    TD_ASSERT_EQ(td_ynb_text_merge(t, NULL, 0, "\xff", 1), TD_EINVAL);
    td_ydoc_destroy(&doc);
}

static void s_state_and_exec(void)
{
    td_ydoc_t *doc = s_load(NB_HEAD CODE("a", "print(1)") "," MD("m", "x") "]}");
    TD_ASSERT_OK(td_ynb_mark_saved(doc, "h1"));
    uint64_t c = td_ydoc_state(doc, 0);
    TD_ASSERT_OK(td_ynb_mark_saved(doc, "h1")); /* unchanged: nothing written */
    TD_ASSERT_EQ(td_ydoc_state(doc, 0), c);
    json_t *st = td_ytype_to_json(td_ydoc_get(doc, "state", TD_YTYPE_MAP));
    s_assert_json(st, "{\"dirty\":false,\"hash\":\"h1\"}");
    json_decref(st);

    td_ynb_exec_t *x = td_ynb_exec_new(doc);
    TD_ASSERT(x != NULL);
    TD_ASSERT_EQ(td_ynb_exec_start(x, "nope"), TD_ENOENT);
    TD_ASSERT_EQ(td_ynb_exec_start(x, "m"), TD_ENOENT); /* markdown */
    TD_ASSERT_OK(td_ynb_exec_start(x, "a"));
    td_ytype_t *a = td_ynb_cell_by_id(doc, "a");
    json_t *v = td_ymap_get_json(a, "execution_state");
    TD_ASSERT_STR_EQ(json_string_value(v), "running");
    json_decref(v);
    json_t *o1 = s_json("{\"output_type\":\"stream\",\"name\":\"stdout\",\"text\":\"a\\n\"}");
    json_t *o2 = s_json("{\"output_type\":\"stream\",\"name\":\"stdout\",\"text\":\"b\\n\"}");
    json_t *o3 = s_json("{\"output_type\":\"stream\",\"name\":\"stderr\",\"text\":\"e\"}");
    json_t *dd = s_json("{\"output_type\":\"display_data\",\"metadata\":{},\"data\":"
                        "{\"text/plain\":\"0%\"}}");
    json_t *du = s_json("{\"output_type\":\"display_data\",\"metadata\":{},\"data\":"
                        "{\"text/plain\":[\"100\",\"%\"]}}");
    TD_ASSERT_OK(td_ynb_exec_output(x, "a", o1, NULL));
    TD_ASSERT_OK(td_ynb_exec_output(x, "a", o2, NULL)); /* merged into the first */
    TD_ASSERT_OK(td_ynb_exec_output(x, "a", o3, NULL)); /* another stream name: new output */
    TD_ASSERT_OK(td_ynb_exec_output(x, "a", dd, "disp-1"));
    TD_ASSERT_OK(td_ynb_exec_update_display(x, "disp-1", du));
    json_t *outs = td_ymap_get_json(a, "outputs");
    s_assert_json(outs, "[{\"output_type\":\"stream\",\"name\":\"stdout\",\"text\":\"a\\nb\\n\"},"
                        "{\"output_type\":\"stream\",\"name\":\"stderr\",\"text\":\"e\"},"
                        "{\"output_type\":\"display_data\",\"metadata\":{},\"data\":"
                        "{\"text/plain\":\"100%\"}}]");
    json_decref(outs);
    /* clear_output(wait=True): outputs stay until the next output, which replaces them. */
    TD_ASSERT_OK(td_ynb_exec_clear(x, "a", true));
    TD_ASSERT_EQ(td_ytype_len(td_ymap_get_type(a, "outputs")), 3);
    TD_ASSERT_OK(td_ynb_exec_output(x, "a", o1, NULL));
    outs = td_ymap_get_json(a, "outputs");
    s_assert_json(outs, "[{\"output_type\":\"stream\",\"name\":\"stdout\",\"text\":\"a\\n\"}]");
    json_decref(outs);
    TD_ASSERT_OK(td_ynb_exec_update_display(x, "disp-1", dd)); /* gone: nothing, no error */
    TD_ASSERT_OK(td_ynb_exec_clear(x, "a", false));
    TD_ASSERT_EQ(td_ytype_len(td_ymap_get_type(a, "outputs")), 0);
    TD_ASSERT_OK(td_ynb_exec_output(x, "a", o2, NULL));
    TD_ASSERT_OK(td_ynb_exec_finish(x, "a", 7));
    TD_ASSERT_EQ(td_ynb_exec_output(x, "a", json_array_get(json_object_get(dd, "data"), 0), NULL),
                 TD_EINVAL);
    json_t *out = s_export(doc, 0);
    s_assert_json(
        json_array_get(json_object_get(out, "cells"), 0),
        "{\"cell_type\":\"code\",\"id\":\"a\",\"metadata\":{},\"execution_count\":7,"
        "\"outputs\":[{\"output_type\":\"stream\",\"name\":\"stdout\",\"text\":\"b\\n\"}],"
        "\"source\":\"print(1)\"}");
    v = td_ymap_get_json(a, "execution_state");
    TD_ASSERT_STR_EQ(json_string_value(v), "idle");
    json_decref(v);
    json_decref(out);
    json_decref(o1);
    json_decref(o2);
    json_decref(o3);
    json_decref(dd);
    json_decref(du);
    td_ynb_exec_destroy(&x);
    TD_ASSERT(x == NULL);
    td_ydoc_destroy(&doc);
}

/* Peers may break the schema; export reports it or repairs duplicates instead of crashing. */
static void s_export_untrusted(void)
{
    td_ydoc_t *doc = s_load(NB_HEAD CODE("a", "x") "]}");
    td_ytype_t *cells = td_ydoc_get(doc, "cells", TD_YTYPE_ARRAY);
    json_t *dup = s_json("[{\"cell_type\":\"code\",\"id\":\"a\",\"source\":\"x\",\"metadata\":{},"
                         "\"outputs\":[],\"execution_count\":null},"
                         "{\"cell_type\":\"code\",\"id\":\"a\",\"source\":\"y\",\"metadata\":{},"
                         "\"outputs\":[],\"execution_count\":null}]");
    TD_ASSERT_OK(td_yarray_push_json(cells, dup));
    json_decref(dup);
    json_t *out = s_export(doc, 0);
    json_t *cl = json_object_get(out, "cells");
    TD_ASSERT_EQ(json_array_size(cl), 2); /* the exact copy dropped, the other re-id'd */
    TD_ASSERT(strcmp(json_string_value(json_object_get(json_array_get(cl, 1), "id")), "a") != 0);
    json_decref(out);
    json_t *junk = s_json("[5]");
    TD_ASSERT_OK(td_yarray_push_json(cells, junk));
    json_decref(junk);
    td_error_t err = {0};
    TD_ASSERT_EQ(td_ynb_export(doc, 0, &out, &err), TD_EPROTO);
    TD_ASSERT(out == NULL && err.text[0] != '\0');
    td_ydoc_destroy(&doc);
}

/* Text files (YFile): deterministic load, minimal and three-way merges, touch = no update. */
static void s_textdoc(void)
{
    td_ydoc_t *a = td_ydoc_new(NULL, 3), *b = td_ydoc_new(NULL, 4);
    TD_ASSERT_OK(td_ytextdoc_load(a, "line 1\nline 2\n", 14, NULL));
    TD_ASSERT_OK(td_ytextdoc_load(b, "line 1\nline 2\n", 14, NULL));
    size_t na, nb;
    uint8_t *ba = s_state(a, &na), *bb = s_state(b, &nb);
    TD_ASSERT_EQ(na, nb);
    TD_ASSERT_MEM_EQ(ba, bb, na);
    free(ba);
    free(bb);
    TD_ASSERT_EQ(td_ytextdoc_load(a, "x", 1, NULL), TD_ESTATE);
    TD_ASSERT_EQ(td_ytextdoc_load(b, "\xc3", 1, NULL), TD_EPROTO);
    bool changed = true;
    td_lib0_enc_t e;
    td_lib0_enc_init(&e);
    TD_ASSERT_OK(
        td_ytextdoc_merge(a, NULL, 0, "line 1\nline 2\n", 14, 9, NULL, &e, &changed, NULL));
    TD_ASSERT(!changed && e.len == 0);
    /* Live edit at the top (client 3), disk edit at the bottom, merged three-way. */
    TD_ASSERT_OK(td_ytext_insert(td_ydoc_get(a, "source", TD_YTYPE_TEXT), 0, "# ", 2, NULL));
    TD_ASSERT_OK(td_ytextdoc_merge(a, "line 1\nline 2\n", 14, "line 1\nline 2!\n", 15, 9, NULL, &e,
                                   &changed, NULL));
    TD_ASSERT(changed && e.len > 0);
    TD_ASSERT_EQ(td_ydoc_client_id(a), 3);
    char *s = NULL;
    size_t n;
    TD_ASSERT_OK(td_ytextdoc_export(a, &s, &n));
    TD_ASSERT_STR_EQ(s, "# line 1\nline 2!\n");
    free(s);
    td_lib0_enc_fini(&e);
    td_ydoc_destroy(&a);
    td_ydoc_destroy(&b);
}

void test_td_ynotebook(void)
{
    s_textdoc();
    s_round_trip();
    s_malformed();
    s_merges();
    s_merge_idless();
    s_merge_three_way();
    s_merge_concurrent();
    s_text();
    s_state_and_exec();
    s_export_untrusted();
}
