/* td_hmac.c: HMAC (RFC 2104) over OpenSSL's EVP digests. The key is absorbed once into two digest
 * states (key^ipad and key^opad); each signature copies those states, so signing costs two digest
 * finalisations and no key schedule. The states are never written after td_hmac_new, which makes
 * concurrent signing from several threads safe. Comparison is constant time (CRYPTO_memcmp). */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "td/td_error.h"
#include "td/td_hmac.h"

struct td_hmac {
    const EVP_MD *md;
    EVP_MD_CTX *inner; /* digest state after key ^ ipad; NULL when disabled */
    EVP_MD_CTX *outer; /* digest state after key ^ opad */
    int hexlen;
};

static const EVP_MD *s_digest(const char *scheme)
{
    if (scheme == NULL || strcmp(scheme, "hmac-sha256") == 0)
        return EVP_sha256();
    if (strcmp(scheme, "hmac-sha512") == 0)
        return EVP_sha512();
    if (strcmp(scheme, "hmac-md5") == 0)
        return EVP_md5();
    return NULL;
}

static EVP_MD_CTX *s_padded_state(const EVP_MD *md, const uint8_t *key, size_t len, uint8_t pad)
{
    uint8_t block[128];
    size_t bs = (size_t)EVP_MD_get_block_size(md);
    memset(block, pad, bs);
    for (size_t i = 0; i < len; i++)
        block[i] ^= key[i];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx && (EVP_DigestInit_ex(ctx, md, NULL) != 1 || EVP_DigestUpdate(ctx, block, bs) != 1))
        EVP_MD_CTX_free(ctx), ctx = NULL;
    OPENSSL_cleanse(block, sizeof block);
    return ctx;
}

td_hmac_t *td_hmac_new(const char *scheme, const uint8_t *key, size_t key_len)
{
    const EVP_MD *md = s_digest(scheme);
    if (md == NULL)
        return NULL;
    td_hmac_t *self = calloc(1, sizeof *self);
    if (self == NULL)
        return NULL;
    self->md = md;
    self->hexlen = 2 * EVP_MD_get_size(md);
    if (key_len == 0)
        return self;
    /* Keys longer than a block are hashed first, as RFC 2104 requires. */
    uint8_t hashed[EVP_MAX_MD_SIZE];
    unsigned hlen = 0;
    if (key_len > (size_t)EVP_MD_get_block_size(md)) {
        if (EVP_Digest(key, key_len, hashed, &hlen, md, NULL) != 1) {
            free(self);
            return NULL;
        }
        key = hashed;
        key_len = hlen;
    }
    self->inner = s_padded_state(md, key, key_len, 0x36);
    self->outer = s_padded_state(md, key, key_len, 0x5c);
    OPENSSL_cleanse(hashed, sizeof hashed);
    if (self->inner == NULL || self->outer == NULL)
        td_hmac_destroy(&self);
    return self;
}

void td_hmac_destroy(td_hmac_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    td_hmac_t *self = *self_p;
    EVP_MD_CTX_free(self->inner);
    EVP_MD_CTX_free(self->outer);
    free(self);
    *self_p = NULL;
}

int td_hmac_disabled(const td_hmac_t *self)
{
    return self->inner == NULL;
}

/* Computes the raw MAC into mac; returns its length or TD_ENOMEM. */
static int s_mac(const td_hmac_t *self, const td_bytes_t *parts, size_t nparts,
                 uint8_t mac[EVP_MAX_MD_SIZE])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned len = 0;
    int ok = ctx != NULL && EVP_MD_CTX_copy_ex(ctx, self->inner) == 1;
    for (size_t i = 0; ok && i < nparts; i++)
        ok = EVP_DigestUpdate(ctx, parts[i].data, parts[i].len) == 1;
    ok = ok && EVP_DigestFinal_ex(ctx, mac, &len) == 1;
    ok = ok && EVP_MD_CTX_copy_ex(ctx, self->outer) == 1;
    ok = ok && EVP_DigestUpdate(ctx, mac, len) == 1;
    ok = ok && EVP_DigestFinal_ex(ctx, mac, &len) == 1;
    EVP_MD_CTX_free(ctx);
    return ok ? (int)len : TD_ENOMEM;
}

int td_hmac_sign(const td_hmac_t *self, const td_bytes_t *parts, size_t nparts,
                 char out[TD_HMAC_HEX_MAX + 1])
{
    static const char hex[] = "0123456789abcdef";
    out[0] = '\0';
    if (td_hmac_disabled(self))
        return 0;
    uint8_t mac[EVP_MAX_MD_SIZE];
    int len = s_mac(self, parts, nparts, mac);
    if (len < 0)
        return len;
    for (int i = 0; i < len; i++) {
        out[2 * i] = hex[mac[i] >> 4];
        out[2 * i + 1] = hex[mac[i] & 15];
    }
    out[2 * len] = '\0';
    return 2 * len;
}

int td_hmac_verify(const td_hmac_t *self, const td_bytes_t *parts, size_t nparts, td_bytes_t sig)
{
    if (td_hmac_disabled(self))
        return 0;
    char expect[TD_HMAC_HEX_MAX + 1];
    int len = td_hmac_sign(self, parts, nparts, expect);
    if (len < 0)
        return len;
    /* The length is public (it depends only on the scheme), so checking it first leaks nothing. */
    if (sig.len != (size_t)len || CRYPTO_memcmp(expect, sig.data, sig.len) != 0)
        return TD_EBADSIG;
    return 0;
}
