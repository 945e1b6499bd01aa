/* td_xsrf.c: tornado-compatible XSRF tokens. Decoding never trusts the input: a version-2 token
 * needs exactly "2|" 8 hex digits "|" an even run of hex digits "|" decimal digits; anything that
 * does not look like version 2 is version 1 (hex when it is all hex, else the raw bytes, as tornado
 * does). Tokens longer than 64 bytes are refused rather than truncated. */
#include <stdio.h>
#include <string.h>

#include "td/td_base64.h"
#include "td_xsrf.h"

#define S_TOKEN_MAX 64

/* Decodes n hex digits (n even) into out; returns n / 2, or -1 on a non-hex digit. */
static int s_unhex(const char *s, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i += 2) {
        int hi = td_hex_value(s[i]), lo = td_hex_value(s[i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    return (int)(n / 2);
}

/* The token inside s, into out (S_TOKEN_MAX bytes); returns its length, or -1. */
static int s_decode(const char *s, uint8_t out[S_TOKEN_MAX])
{
    size_t n = strlen(s);
    if (n >= 2 && s[0] == '2' && s[1] == '|') {
        const char *mask_hex = s + 2, *bar1 = strchr(mask_hex, '|');
        const char *bar2 = bar1 ? strchr(bar1 + 1, '|') : NULL;
        if (!bar1 || !bar2 || bar1 - mask_hex != 8)
            return -1;
        size_t mlen = (size_t)(bar2 - bar1 - 1);
        if (mlen == 0 || mlen % 2 || mlen / 2 > S_TOKEN_MAX || !bar2[1])
            return -1;
        for (const char *p = bar2 + 1; *p; p++)
            if (*p < '0' || *p > '9')
                return -1;
        uint8_t mask[4];
        if (s_unhex(mask_hex, 8, mask) < 0 || s_unhex(bar1 + 1, mlen, out) < 0)
            return -1;
        for (size_t i = 0; i < mlen / 2; i++)
            out[i] ^= mask[i % 4];
        return (int)(mlen / 2);
    }
    if (n == 0 || (s[0] >= '1' && s[0] <= '9' && strchr(s, '|')))
        return -1; /* another version tornado would refuse */
    if (n % 2 == 0 && n / 2 <= S_TOKEN_MAX && s_unhex(s, n, out) >= 0)
        return (int)(n / 2);
    if (n > S_TOKEN_MAX)
        return -1;
    memcpy(out, s, n);
    return (int)n;
}

static void s_encode(const uint8_t *token, size_t n, const uint8_t mask[4], int64_t now_s,
                     char out[TD_XSRF_MAX])
{
    size_t k = (size_t)snprintf(out, TD_XSRF_MAX, "2|%02x%02x%02x%02x|", mask[0], mask[1], mask[2],
                                mask[3]);
    for (size_t i = 0; i < n; i++)
        k += (size_t)snprintf(out + k, TD_XSRF_MAX - k, "%02x", token[i] ^ mask[i % 4]);
    snprintf(out + k, TD_XSRF_MAX - k, "|%lld", (long long)now_s);
}

void td_xsrf_make(const uint8_t rnd[TD_XSRF_RANDOM], int64_t now_s, char out[TD_XSRF_MAX])
{
    s_encode(rnd, 16, rnd + 16, now_s, out);
}

int td_xsrf_match(const char *cookie, const char *sent)
{
    uint8_t a[S_TOKEN_MAX], b[S_TOKEN_MAX];
    int na = cookie ? s_decode(cookie, a) : -1, nb = sent ? s_decode(sent, b) : -1;
    if (na <= 0 || na != nb)
        return 0;
    unsigned diff = 0;
    for (int i = 0; i < na; i++)
        diff |= (unsigned)(a[i] ^ b[i]);
    return diff == 0;
}
