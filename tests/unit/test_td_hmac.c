/* test_td_hmac.c: RFC 4231 known answers, a Jupyter-shaped vector cross-checked with Python's hmac,
 * multi-part equivalence, constant-time verify outcomes, and the empty-key rule. */
#include "td/td_error.h"
#include "td/td_hmac.h"
#include "test.h"

static td_bytes_t s_b(const char *s)
{
    return (td_bytes_t){(const uint8_t *)s, strlen(s)};
}

static void s_expect(const char *scheme, const uint8_t *key, size_t klen, const td_bytes_t *parts,
                     size_t n, const char *hex)
{
    td_hmac_t *h = td_hmac_new(scheme, key, klen);
    TD_ASSERT(h != NULL);
    char out[TD_HMAC_HEX_MAX + 1];
    TD_ASSERT_EQ(td_hmac_sign(h, parts, n, out), (int)strlen(hex));
    TD_ASSERT_STR_EQ(out, hex);
    TD_ASSERT_OK(td_hmac_verify(h, parts, n, s_b(hex)));
    td_hmac_destroy(&h);
    TD_ASSERT(h == NULL);
}

void test_td_hmac(void)
{
    uint8_t k1[20];
    memset(k1, 0x0b, sizeof k1);
    td_bytes_t hi = s_b("Hi There");
    s_expect("hmac-sha256", k1, sizeof k1, &hi, 1,
             "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    td_bytes_t split[2] = {s_b("Hi "), s_b("There")};
    s_expect("hmac-sha256", k1, sizeof k1, split, 2,
             "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    td_bytes_t jefe = s_b("what do ya want for nothing?");
    s_expect("hmac-sha256", (const uint8_t *)"Jefe", 4, &jefe, 1,
             "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    /* RFC 4231 case 6: a key longer than the block is hashed first. */
    uint8_t k6[131];
    memset(k6, 0xaa, sizeof k6);
    td_bytes_t big = s_b("Test Using Larger Than Block-Size Key - Hash Key First");
    s_expect("hmac-sha256", k6, sizeof k6, &big, 1,
             "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");

    /* The key string is used as bytes, not hex-decoded (jupyter_client). */
    const char *key = "49d48206-f7f411c0a3af923a6269f24c";
    td_bytes_t msg[4] = {s_b("{\"msg_id\":\"a\",\"msg_type\":\"kernel_info_request\"}"), s_b("{}"),
                         s_b("{}"), s_b("{}")};
    s_expect("hmac-sha256", (const uint8_t *)key, strlen(key), msg, 4,
             "65b45866c40ce6db08bfef4d415d4d35d0891ec22c5601a58eb300da2a3f4a99");
    s_expect("hmac-sha512", (const uint8_t *)key, strlen(key), msg, 4,
             "64472d6e82aab27bd88e7c5c3ee3af5bfa1ecd27f95c5b015e024da608591eef13e556ce84a61a3f6b287"
             "bb0bfa818d95757684b1f9525cb4dbdce293e478ddb");

    td_hmac_t *h = td_hmac_new("hmac-sha256", (const uint8_t *)key, strlen(key));
    /* Wrong, truncated, uppercase and empty signatures are all refused. */
    TD_ASSERT_EQ(td_hmac_verify(h, msg, 4, s_b("65b45866c40ce6db08bfef4d415d4d35d0891ec22c5601a58eb"
                                                "300da2a3f4a98")),
                 TD_EBADSIG);
    TD_ASSERT_EQ(td_hmac_verify(h, msg, 4, s_b("65b45866")), TD_EBADSIG);
    TD_ASSERT_EQ(td_hmac_verify(h, msg, 4, s_b("65B45866C40CE6DB08BFEF4D415D4D35D0891EC22C5601A58EB"
                                                "300DA2A3F4A99")),
                 TD_EBADSIG);
    TD_ASSERT_EQ(td_hmac_verify(h, msg, 4, s_b("")), TD_EBADSIG);
    TD_ASSERT_EQ(td_hmac_disabled(h), 0);
    td_hmac_destroy(&h);
    td_hmac_destroy(&h); /* NULL-safe */

    /* An empty key disables signing, as in jupyter_client. */
    h = td_hmac_new("hmac-sha256", NULL, 0);
    char out[TD_HMAC_HEX_MAX + 1];
    TD_ASSERT_EQ(td_hmac_sign(h, msg, 4, out), 0);
    TD_ASSERT_STR_EQ(out, "");
    TD_ASSERT_OK(td_hmac_verify(h, msg, 4, s_b("anything")));
    TD_ASSERT_EQ(td_hmac_disabled(h), 1);
    td_hmac_destroy(&h);

    TD_ASSERT(td_hmac_new("hmac-sha1", (const uint8_t *)"k", 1) == NULL);
    TD_ASSERT(td_hmac_new("hmac-md5", (const uint8_t *)"k", 1) == NULL);
}
