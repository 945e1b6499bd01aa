/* td_hmac.c: HMAC (RFC 2104) over td_sha. The key is absorbed once into two digest states
 * (key ^ ipad and key ^ opad); each signature copies those states, so signing costs two digest
 * finalisations and no key schedule. The states are never written after td_hmac_new, which makes
 * concurrent signing from several threads safe. Verification compares in constant time. */
#include <stdlib.h>
#include <string.h>

#include "td/td_error.h"
#include "td/td_hmac.h"
#include "td/td_sha.h"

struct td_hmac {
    int enabled;
    td_sha_t inner; /* state after key ^ ipad */
    td_sha_t outer; /* state after key ^ opad */
};

static int s_kind(const char *scheme, td_sha_kind_t *kind)
{
    if (scheme == NULL || strcmp(scheme, "hmac-sha256") == 0)
        *kind = TD_SHA256;
    else if (strcmp(scheme, "hmac-sha512") == 0)
        *kind = TD_SHA512;
    else
        return TD_EINVAL;
    return 0;
}

/* Wipes secrets in a way the compiler may not elide. */
static void s_wipe(void *p, size_t n)
{
    volatile uint8_t *v = p;
    while (n--)
        *v++ = 0;
}

td_hmac_t *td_hmac_new(const char *scheme, const uint8_t *key, size_t key_len)
{
    td_sha_kind_t kind;
    if (s_kind(scheme, &kind) != 0)
        return NULL;
    td_hmac_t *self = calloc(1, sizeof *self);
    if (self == NULL)
        return NULL;
    td_sha_init(&self->inner, kind);
    td_sha_init(&self->outer, kind);
    if (key_len == 0)
        return self;
    self->enabled = 1;
    size_t bs = td_sha_block(kind);
    uint8_t block[TD_SHA_BLOCK_MAX] = {0}, hashed[TD_SHA512_LEN];
    if (key_len > bs) { /* long keys are hashed first, as RFC 2104 requires */
        td_sha_t s;
        td_sha_init(&s, kind);
        td_sha_update(&s, key, key_len);
        td_sha_final(&s, hashed);
        key = hashed;
        key_len = td_sha_size(kind);
    }
    memcpy(block, key, key_len);
    for (size_t i = 0; i < bs; i++)
        block[i] ^= 0x36;
    td_sha_update(&self->inner, block, bs);
    for (size_t i = 0; i < bs; i++)
        block[i] ^= 0x36 ^ 0x5c;
    td_sha_update(&self->outer, block, bs);
    s_wipe(block, sizeof block);
    s_wipe(hashed, sizeof hashed);
    return self;
}

void td_hmac_destroy(td_hmac_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    s_wipe(*self_p, sizeof **self_p);
    free(*self_p);
    *self_p = NULL;
}

int td_hmac_disabled(const td_hmac_t *self)
{
    return !self->enabled;
}

int td_hmac_sign(const td_hmac_t *self, const td_bytes_t *parts, size_t nparts,
                 char out[TD_HMAC_HEX_MAX + 1])
{
    static const char hex[] = "0123456789abcdef";
    out[0] = '\0';
    if (!self->enabled)
        return 0;
    uint8_t mac[TD_SHA512_LEN];
    td_sha_t s = self->inner;
    for (size_t i = 0; i < nparts; i++)
        td_sha_update(&s, parts[i].data, parts[i].len);
    td_sha_final(&s, mac);
    size_t len = td_sha_size(s.kind);
    s = self->outer;
    td_sha_update(&s, mac, len);
    td_sha_final(&s, mac);
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hex[mac[i] >> 4];
        out[2 * i + 1] = hex[mac[i] & 15];
    }
    out[2 * len] = '\0';
    return (int)(2 * len);
}

int td_hmac_verify(const td_hmac_t *self, const td_bytes_t *parts, size_t nparts, td_bytes_t sig)
{
    if (!self->enabled)
        return 0;
    char expect[TD_HMAC_HEX_MAX + 1];
    int len = td_hmac_sign(self, parts, nparts, expect);
    /* The length is public (it depends only on the scheme), so checking it first leaks nothing;
     * the bytes are compared without an early exit. */
    if (sig.len != (size_t)len)
        return TD_EBADSIG;
    uint8_t diff = 0;
    for (size_t i = 0; i < sig.len; i++)
        diff |= (uint8_t)(expect[i] ^ sig.data[i]);
    return diff == 0 ? 0 : TD_EBADSIG;
}
