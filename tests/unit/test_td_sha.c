/* test_td_sha.c: FIPS 180-4 vectors, padding boundaries (55/56 and 111/112 bytes), a million
 * bytes fed in uneven pieces, and copying a state mid-stream. */
#include "td/td_sha.h"
#include "test.h"

static void s_hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void s_check(td_sha_kind_t kind, const void *data, size_t len, const char *want)
{
    td_sha_t s;
    uint8_t d[TD_SHA512_LEN];
    char hex[2 * TD_SHA512_LEN + 1];
    td_sha_init(&s, kind);
    td_sha_update(&s, data, len);
    td_sha_final(&s, d);
    s_hex(d, td_sha_size(kind), hex);
    if (strncmp(hex, want, strlen(want)) != 0)
        TD_FAIL("digest %s, want %s", hex, want);
}

void td__sha_set_accel(int on); /* td_sha.c internal: 0 forces the portable rounds */

static void s_vectors(void);

/* Every vector runs through both implementations: the SHA extensions (where the CPU has them)
 * and the portable rounds. */
void test_td_sha(void)
{
    td__sha_set_accel(1);
    s_vectors();
    td__sha_set_accel(0);
    s_vectors();
    td__sha_set_accel(1);
}

static void s_vectors(void)
{
    s_check(TD_SHA256, "abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    s_check(TD_SHA512, "abc", 3,
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c2"
            "3a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
    const char *m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmn"
                       "opqklmnopqrlmnopqrsmnopqrstnopqrstu";
    s_check(TD_SHA512, m896, strlen(m896),
            "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018501d289e4900f7e4331b99"
            "dec4b5433ac7d329eeb6dd26545e96e55b874be909");
    char a[112];
    memset(a, 'a', sizeof a);
    s_check(TD_SHA256, a, 55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
    s_check(TD_SHA256, a, 56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
    s_check(TD_SHA512, a, 111, "fa9121c7b32b9e01733d034cfc78cbf6");
    s_check(TD_SHA512, a, 112, "c01d080efd492776a1c43bd23dd99d0a");

    /* One million 'a's, in pieces of 1..97 bytes; a state copied halfway finishes the same. */
    static char million[1000000];
    memset(million, 'a', sizeof million);
    td_sha_t s, fork;
    td_sha_init(&s, TD_SHA256);
    size_t off = 0, step = 1;
    while (off < sizeof million) {
        size_t n = step < sizeof million - off ? step : sizeof million - off;
        td_sha_update(&s, million + off, n);
        off += n;
        step = step % 97 + 1;
        if (off >= 500000 && off - n < 500000)
            fork = s;
    }
    uint8_t d[TD_SHA256_LEN];
    char hex[2 * TD_SHA256_LEN + 1];
    td_sha_final(&s, d);
    s_hex(d, sizeof d, hex);
    TD_ASSERT_STR_EQ(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    TD_ASSERT(fork.total >= 500000);
    td_sha_update(&fork, million, sizeof million - fork.total);
    td_sha_final(&fork, d);
    s_hex(d, sizeof d, hex);
    TD_ASSERT_STR_EQ(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}
