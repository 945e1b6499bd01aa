/* test_td_wire.c: frame round trips (identities, buffers), the zero-copy split, and every way a
 * frame set can be bad: no delimiter, too few frames, wrong or missing signature (nothing parsed),
 * malformed JSON, JSON that is not an object, a header without msg_type. The encoder writes each
 * JSON part byte for byte as json_dumps(JSON_COMPACT) does (escapes, UTF-8, numbers, nesting), and
 * refuses nesting past TD_JSON_MAX_DEPTH. */
#include <stdint.h>

#include "td/td.h"
#include "td/td_json.h"
#include "test.h"

static int64_t s_clock(void *arg)
{
    return 1700000000000000LL;
}

static void s_rand(void *arg, uint8_t *out, size_t n)
{
    static uint8_t x = 1;
    for (size_t i = 0; i < n; i++)
        out[i] = x++;
}

static const td_env_t s_env = {s_clock, s_rand, NULL};

static td_bytes_t s_b(const char *s)
{
    return (td_bytes_t){(const uint8_t *)s, strlen(s)};
}

/* Decodes the frames f with key; returns the rc and fills err. */
static int s_decode(const td_frames_t *f, const td_hmac_t *key, td_msg_t **out, td_error_t *err)
{
    td_bytes_t views[64];
    for (size_t i = 0; i < f->n; i++)
        views[i] = (td_bytes_t){f->data[i], f->len[i]};
    return td_wire_decode(views, f->n, key, out, err);
}

void test_td_wire(void)
{
    const char *k = "secret-key";
    td_hmac_t *key = td_hmac_new("hmac-sha256", (const uint8_t *)k, strlen(k));
    td_msg_t *req = td_msg_new(&s_env, "sess", "alice", "execute_request", NULL);
    td_bytes_t ids[2] = {s_b("client-1"), s_b("\x00\x01")};
    ids[1].len = 2;
    TD_ASSERT_OK(td_msg_set_identities(req, ids, 2));
    TD_ASSERT_OK(td_msg_set_content_new(req, json_pack("{s:s, s:b}", "code", "print(1)", "silent", 0)));
    TD_ASSERT_OK(td_msg_add_buffer(req, s_b("binary\xff")));

    td_frames_t f;
    TD_ASSERT_OK(td_wire_encode(req, key, &f));
    TD_ASSERT_EQ(f.n, 2 + 6 + 1);
    TD_ASSERT_MEM_EQ(f.data[2], "<IDS|MSG>", 9);
    TD_ASSERT_EQ(f.len[3], 64); /* hex sha256 */

    td_msg_t *back = NULL;
    td_error_t err = {0};
    TD_ASSERT_OK(s_decode(&f, key, &back, &err));
    TD_ASSERT_STR_EQ(td_msg_type(back), "execute_request");
    TD_ASSERT_STR_EQ(td_msg_id(back), td_msg_id(req));
    TD_ASSERT(json_equal(td_msg_content(back), td_msg_content(req)));
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(td_msg_header(back), "version")), "5.4");
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(td_msg_header(back), "date")),
                     "2023-11-14T22:13:20.000000Z");
    const td_bytes_t *got;
    TD_ASSERT_EQ(td_msg_identities(back, &got), 2);
    TD_ASSERT_EQ(got[1].len, 2);
    TD_ASSERT_MEM_EQ(got[1].data, "\x00\x01", 2);
    TD_ASSERT_EQ(td_msg_buffers(back, &got), 1);
    TD_ASSERT_MEM_EQ(got[0].data, "binary\xff", 7);

    /* td_wire_split: the same checks, and views into the caller's frames instead of a message. */
    td_bytes_t views[16];
    for (size_t i = 0; i < f.n; i++)
        views[i] = (td_bytes_t){f.data[i], f.len[i]};
    td_wire_parts_t w;
    TD_ASSERT_OK(td_wire_split(views, f.n, key, &w, NULL));
    TD_ASSERT_EQ(w.nids, 2);
    TD_ASSERT(w.json == views + 4); /* zero-copy */
    TD_ASSERT(w.buf == views + 8);
    TD_ASSERT_EQ(w.nbuf, 1);
    TD_ASSERT_MEM_EQ(w.json[3].data, f.data[7], f.len[7]);
    views[7] = s_b("{}"); /* the content no longer matches the signature */
    memset(&err, 0, sizeof err);
    TD_ASSERT_EQ(td_wire_split(views, f.n, key, &w, &err), TD_EBADSIG);
    TD_ASSERT_EQ(err.offset, 3);
    TD_ASSERT_EQ(td_wire_split(views + 3, f.n - 3, key, &w, NULL), TD_EPROTO); /* no delimiter */

    /* A reply references the request's header and routes back to its identities. */
    td_msg_t *reply = td_msg_new(&s_env, "sess", "kernel", "execute_reply", back);
    TD_ASSERT(json_equal(td_msg_parent(reply), td_msg_header(back)));
    TD_ASSERT_EQ(td_msg_identities(reply, &got), 2);
    TD_ASSERT_MEM_EQ(got[0].data, "client-1", 8);
    td_msg_destroy(&reply);
    td_msg_destroy(&back);

    /* A flipped byte in the content invalidates the signature; nothing is returned. */
    f.data[7][2] ^= 1;
    memset(&err, 0, sizeof err);
    TD_ASSERT_EQ(s_decode(&f, key, &back, &err), TD_EBADSIG);
    TD_ASSERT(back == NULL);
    TD_ASSERT_EQ(err.offset, 3);
    TD_ASSERT(strstr(err.text, td_msg_id(req)) != NULL); /* the log names the msg_id */
    f.data[7][2] ^= 1;

    /* Signed with another key: refused. */
    td_hmac_t *other = td_hmac_new("hmac-sha256", (const uint8_t *)"other", 5);
    memset(&err, 0, sizeof err);
    TD_ASSERT_EQ(s_decode(&f, other, &back, &err), TD_EBADSIG);
    td_hmac_destroy(&other);

    /* No delimiter at all. */
    td_bytes_t junk[3] = {s_b("a"), s_b("b"), s_b("c")};
    memset(&err, 0, sizeof err);
    TD_ASSERT_EQ(td_wire_decode(junk, 3, key, &back, &err), TD_EPROTO);
    TD_ASSERT(strstr(err.text, "delimiter") != NULL);

    /* Too few frames after the delimiter. */
    td_bytes_t shortf[3] = {s_b("<IDS|MSG>"), s_b("sig"), s_b("{}")};
    memset(&err, 0, sizeof err);
    TD_ASSERT_EQ(td_wire_decode(shortf, 3, key, &back, &err), TD_EPROTO);

    /* Correctly signed but malformed JSON, non-object JSON, and a header without msg_type. */
    const char *bad_parts[][4] = {
        {"{\"msg_id\":", "{}", "{}", "{}"},
        {"{\"msg_id\":\"x\",\"msg_type\":\"t\"}", "[]", "{}", "{}"},
        {"{\"msg_id\":\"x\"}", "{}", "{}", "{}"},
    };
    for (size_t i = 0; i < 3; i++) {
        td_bytes_t fr[6] = {s_b("<IDS|MSG>"), {0}, s_b(bad_parts[i][0]), s_b(bad_parts[i][1]),
                            s_b(bad_parts[i][2]), s_b(bad_parts[i][3])};
        char sig[TD_HMAC_HEX_MAX + 1];
        td_hmac_sign(key, fr + 2, 4, sig);
        fr[1] = s_b(sig);
        memset(&err, 0, sizeof err);
        TD_ASSERT_EQ(td_wire_decode(fr, 6, key, &back, &err), TD_EPROTO);
        TD_ASSERT(back == NULL);
        TD_ASSERT(err.text[0] != '\0');
    }

    /* Too many identity frames before a delimiter is garbage. */
    td_bytes_t many[TD_WIRE_MAX_IDS + 8];
    for (size_t i = 0; i < TD_WIRE_MAX_IDS + 2; i++)
        many[i] = s_b("id");
    many[TD_WIRE_MAX_IDS + 2] = s_b("<IDS|MSG>");
    for (size_t i = TD_WIRE_MAX_IDS + 3; i < TD_WIRE_MAX_IDS + 8; i++)
        many[i] = s_b("{}");
    TD_ASSERT_EQ(td_wire_decode(many, TD_WIRE_MAX_IDS + 8, key, &back, NULL), TD_EPROTO);

    /* Encoding writes what json_dumps(JSON_COMPACT) writes, byte for byte. */
    json_t *tricky =
        json_pack("{s:s, s:s%, s:[i, I, f, f, b, b, n, {}, []], s:{s:{s:[s]}}, s:s, s:s}", "text",
                  "q\"b\\s/ \b\f\n\r\t\x01\x1f\x7f caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
                  "nul", "a\0b", (size_t)3, "nums", -7, (json_int_t)INT64_MIN, 0.1, 1e300, 1, 0,
                  "deep", "a", "b", "c", "d", "k\"\n\xc3\xa9", "v", "", "x");
    td_msg_t *t = td_msg_new(&s_env, "sess", "k\\ernel", "stream", req);
    TD_ASSERT_OK(td_msg_set_content_new(t, tricky));
    td_frames_t tf;
    TD_ASSERT_OK(td_wire_encode(t, key, &tf));
    json_t *jparts[4] = {td_msg_header(t), td_msg_parent(t), td_msg_metadata(t), tricky};
    for (int i = 0; i < 4; i++) {
        char *want = json_dumps(jparts[i], JSON_COMPACT);
        TD_ASSERT_EQ(tf.len[2 + 2 + i], strlen(want));
        TD_ASSERT_MEM_EQ(tf.data[2 + 2 + i], want, strlen(want));
        free(want);
    }
    td_frames_fini(&tf);
    json_object_del(tricky, "nul"); /* \u0000 is refused on input, as json_loadb refuses it */
    TD_ASSERT_OK(td_wire_encode(t, key, &tf));
    TD_ASSERT_OK(s_decode(&tf, key, &back, NULL)); /* and it reads back */
    TD_ASSERT(json_equal(td_msg_content(back), tricky));
    td_msg_destroy(&back);
    td_frames_fini(&tf);

    /* Nesting past the parser's limit (and so any cycle) is refused, not overflowed. */
    json_t *deep = json_object(), *at = deep;
    for (int i = 0; i < TD_JSON_MAX_DEPTH + 10; i++) {
        json_t *child = json_object();
        json_object_set_new(at, "x", child);
        at = child;
    }
    TD_ASSERT_OK(td_msg_set_content_new(t, deep));
    TD_ASSERT_EQ(td_wire_encode(t, key, &tf), TD_EINVAL);
    TD_ASSERT_EQ(tf.n, 0);
    td_msg_destroy(&t);

    td_frames_fini(&f);
    td_frames_fini(&f); /* idempotent */
    td_msg_destroy(&req);
    td_hmac_destroy(&key);
}
