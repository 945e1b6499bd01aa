/* td_sha.c: SHA-256 and SHA-512 as specified in FIPS 180-4. The two differ only in word size,
 * round count, constants and rotation amounts, so each gets its own compression function and they
 * share the buffering and padding. On x86-64 CPUs with the SHA extensions, SHA-256 blocks go
 * through them (detected once with CPUID): message signing hashes every byte a kernel sends, and
 * this is about five times faster than the portable rounds. Both paths are checked against the
 * FIPS vectors in the tests. */
#include <stdatomic.h>
#include <string.h>

#include "td/td_sha.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define TD_SHA_NI 1
#endif

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static const uint64_t K512[80] = {
    0x428a2f98d728ae22ULL, 0x7137449123ef65cdULL, 0xb5c0fbcfec4d3b2fULL, 0xe9b5dba58189dbbcULL,
    0x3956c25bf348b538ULL, 0x59f111f1b605d019ULL, 0x923f82a4af194f9bULL, 0xab1c5ed5da6d8118ULL,
    0xd807aa98a3030242ULL, 0x12835b0145706fbeULL, 0x243185be4ee4b28cULL, 0x550c7dc3d5ffb4e2ULL,
    0x72be5d74f27b896fULL, 0x80deb1fe3b1696b1ULL, 0x9bdc06a725c71235ULL, 0xc19bf174cf692694ULL,
    0xe49b69c19ef14ad2ULL, 0xefbe4786384f25e3ULL, 0x0fc19dc68b8cd5b5ULL, 0x240ca1cc77ac9c65ULL,
    0x2de92c6f592b0275ULL, 0x4a7484aa6ea6e483ULL, 0x5cb0a9dcbd41fbd4ULL, 0x76f988da831153b5ULL,
    0x983e5152ee66dfabULL, 0xa831c66d2db43210ULL, 0xb00327c898fb213fULL, 0xbf597fc7beef0ee4ULL,
    0xc6e00bf33da88fc2ULL, 0xd5a79147930aa725ULL, 0x06ca6351e003826fULL, 0x142929670a0e6e70ULL,
    0x27b70a8546d22ffcULL, 0x2e1b21385c26c926ULL, 0x4d2c6dfc5ac42aedULL, 0x53380d139d95b3dfULL,
    0x650a73548baf63deULL, 0x766a0abb3c77b2a8ULL, 0x81c2c92e47edaee6ULL, 0x92722c851482353bULL,
    0xa2bfe8a14cf10364ULL, 0xa81a664bbc423001ULL, 0xc24b8b70d0f89791ULL, 0xc76c51a30654be30ULL,
    0xd192e819d6ef5218ULL, 0xd69906245565a910ULL, 0xf40e35855771202aULL, 0x106aa07032bbd1b8ULL,
    0x19a4c116b8d2d0c8ULL, 0x1e376c085141ab53ULL, 0x2748774cdf8eeb99ULL, 0x34b0bcb5e19b48a8ULL,
    0x391c0cb3c5c95a63ULL, 0x4ed8aa4ae3418acbULL, 0x5b9cca4f7763e373ULL, 0x682e6ff3d6b2b8a3ULL,
    0x748f82ee5defb2fcULL, 0x78a5636f43172f60ULL, 0x84c87814a1f0ab72ULL, 0x8cc702081a6439ecULL,
    0x90befffa23631e28ULL, 0xa4506cebde82bde9ULL, 0xbef9a3f7b2c67915ULL, 0xc67178f2e372532bULL,
    0xca273eceea26619cULL, 0xd186b8c721c0c207ULL, 0xeada7dd6cde0eb1eULL, 0xf57d4f7fee6ed178ULL,
    0x06f067aa72176fbaULL, 0x0a637dc5a2c898a6ULL, 0x113f9804bef90daeULL, 0x1b710b35131c471bULL,
    0x28db77f523047d84ULL, 0x32caab7b40c72493ULL, 0x3c9ebe0a15c9bebcULL, 0x431d67c49c100d4cULL,
    0x4cc5d4becb3e42b6ULL, 0x597f299cfc657e2aULL, 0x5fcb6fab3ad6faecULL, 0x6c44198c4a475817ULL};

#define ROR32(x, n) (((x) >> (n)) | ((x) << (32 - (n))))
#define ROR64(x, n) (((x) >> (n)) | ((x) << (64 - (n))))

/* One round of either digest: the eight working variables stay in locals, renamed by the
 * round macro rather than shifted through an array. */
#define ROUND(W, K, a, b, c, d, e, f, g, h, S1e, S0a)                                              \
    do {                                                                                           \
        W t1 = h + (S1e) + ((e & f) ^ (~e & g)) + (K);                                             \
        W t2 = (S0a) + ((a & b) ^ (a & c) ^ (b & c));                                              \
        d += t1;                                                                                   \
        h = t1 + t2;                                                                               \
    } while (0)

#define R256(i, a, b, c, d, e, f, g, h)                                                            \
    ROUND(uint32_t, K256[i] + w[i], a, b, c, d, e, f, g, h,                                        \
          ROR32(e, 6) ^ ROR32(e, 11) ^ ROR32(e, 25), ROR32(a, 2) ^ ROR32(a, 13) ^ ROR32(a, 22))

#define R512(i, a, b, c, d, e, f, g, h)                                                            \
    ROUND(uint64_t, K512[i] + w[i], a, b, c, d, e, f, g, h,                                        \
          ROR64(e, 14) ^ ROR64(e, 18) ^ ROR64(e, 41), ROR64(a, 28) ^ ROR64(a, 34) ^ ROR64(a, 39))

static void s_block256(uint64_t *hh, const uint8_t *p)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR32(w[i - 15], 7) ^ ROR32(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR32(w[i - 2], 17) ^ ROR32(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = (uint32_t)hh[0], b = (uint32_t)hh[1], c = (uint32_t)hh[2], d = (uint32_t)hh[3];
    uint32_t e = (uint32_t)hh[4], f = (uint32_t)hh[5], g = (uint32_t)hh[6], h = (uint32_t)hh[7];
    for (int i = 0; i < 64; i += 8) {
        R256(i + 0, a, b, c, d, e, f, g, h);
        R256(i + 1, h, a, b, c, d, e, f, g);
        R256(i + 2, g, h, a, b, c, d, e, f);
        R256(i + 3, f, g, h, a, b, c, d, e);
        R256(i + 4, e, f, g, h, a, b, c, d);
        R256(i + 5, d, e, f, g, h, a, b, c);
        R256(i + 6, c, d, e, f, g, h, a, b);
        R256(i + 7, b, c, d, e, f, g, h, a);
    }
    hh[0] = (uint32_t)(hh[0] + a), hh[1] = (uint32_t)(hh[1] + b), hh[2] = (uint32_t)(hh[2] + c);
    hh[3] = (uint32_t)(hh[3] + d), hh[4] = (uint32_t)(hh[4] + e), hh[5] = (uint32_t)(hh[5] + f);
    hh[6] = (uint32_t)(hh[6] + g), hh[7] = (uint32_t)(hh[7] + h);
}

static void s_block512(uint64_t *hh, const uint8_t *p)
{
    uint64_t w[80];
    for (int i = 0; i < 16; i++) {
        w[i] = 0;
        for (int j = 0; j < 8; j++)
            w[i] = w[i] << 8 | p[8 * i + j];
    }
    for (int i = 16; i < 80; i++) {
        uint64_t s0 = ROR64(w[i - 15], 1) ^ ROR64(w[i - 15], 8) ^ (w[i - 15] >> 7);
        uint64_t s1 = ROR64(w[i - 2], 19) ^ ROR64(w[i - 2], 61) ^ (w[i - 2] >> 6);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint64_t a = hh[0], b = hh[1], c = hh[2], d = hh[3], e = hh[4], f = hh[5], g = hh[6], h = hh[7];
    for (int i = 0; i < 80; i += 8) {
        R512(i + 0, a, b, c, d, e, f, g, h);
        R512(i + 1, h, a, b, c, d, e, f, g);
        R512(i + 2, g, h, a, b, c, d, e, f);
        R512(i + 3, f, g, h, a, b, c, d, e);
        R512(i + 4, e, f, g, h, a, b, c, d);
        R512(i + 5, d, e, f, g, h, a, b, c);
        R512(i + 6, c, d, e, f, g, h, a, b);
        R512(i + 7, b, c, d, e, f, g, h, a);
    }
    hh[0] += a, hh[1] += b, hh[2] += c, hh[3] += d, hh[4] += e, hh[5] += f, hh[6] += g, hh[7] += h;
}

size_t td_sha_size(td_sha_kind_t kind)
{
    return kind == TD_SHA256 ? TD_SHA256_LEN : TD_SHA512_LEN;
}

size_t td_sha_block(td_sha_kind_t kind)
{
    return kind == TD_SHA256 ? 64 : 128;
}

void td_sha_init(td_sha_t *s, td_sha_kind_t kind)
{
    static const uint64_t iv256[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                      0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    static const uint64_t iv512[8] = {0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL,
                                      0x3c6ef372fe94f82bULL, 0xa54ff53a5f1d36f1ULL,
                                      0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL,
                                      0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL};
    memset(s, 0, sizeof *s);
    s->kind = kind;
    memcpy(s->h, kind == TD_SHA256 ? iv256 : iv512, sizeof s->h);
}

#ifdef TD_SHA_NI
/* SHA-256 over n blocks with the SHA extensions. The state is kept as ABEF and CDGH vectors, the
 * layout sha256rnds2 works on; each round pair consumes four message words plus constants. */
__attribute__((target("sha,sse4.1,ssse3"))) static void s_blocks256_ni(uint64_t *hh,
                                                                        const uint8_t *p, size_t n)
{
    const __m128i mask = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    uint32_t st[8];
    for (int i = 0; i < 8; i++)
        st[i] = (uint32_t)hh[i];
    __m128i tmp = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&st[0]), 0xB1); /* CDAB */
    __m128i s1 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&st[4]), 0x1B);  /* EFGH */
    __m128i s0 = _mm_alignr_epi8(tmp, s1, 8);                                        /* ABEF */
    s1 = _mm_blend_epi16(s1, tmp, 0xF0);                                             /* CDGH */
    for (; n > 0; n--, p += 64) {
        __m128i abef = s0, cdgh = s1, w[16];
        for (int j = 0; j < 4; j++)
            w[j] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * j)), mask);
        /* W[t] = s1(W[t-2]) + W[t-7] + s0(W[t-15]) + W[t-16], four words at a time. */
        for (int j = 4; j < 16; j++)
            w[j] = _mm_sha256msg2_epu32(
                _mm_add_epi32(_mm_sha256msg1_epu32(w[j - 4], w[j - 3]),
                              _mm_alignr_epi8(w[j - 1], w[j - 2], 4)),
                w[j - 1]);
        for (int j = 0; j < 16; j++) {
            __m128i wk = _mm_add_epi32(w[j], _mm_loadu_si128((const __m128i *)&K256[4 * j]));
            s1 = _mm_sha256rnds2_epu32(s1, s0, wk);
            s0 = _mm_sha256rnds2_epu32(s0, s1, _mm_shuffle_epi32(wk, 0x0E));
        }
        s0 = _mm_add_epi32(s0, abef);
        s1 = _mm_add_epi32(s1, cdgh);
    }
    tmp = _mm_shuffle_epi32(s0, 0x1B);     /* FEBA */
    s1 = _mm_shuffle_epi32(s1, 0xB1);      /* DCHG */
    s0 = _mm_blend_epi16(tmp, s1, 0xF0);   /* DCBA */
    s1 = _mm_alignr_epi8(s1, tmp, 8);      /* HGFE */
    _mm_storeu_si128((__m128i *)&st[0], s0);
    _mm_storeu_si128((__m128i *)&st[4], s1);
    for (int i = 0; i < 8; i++)
        hh[i] = st[i];
}

static atomic_int s_ni = -1; /* -1 unknown, 0 absent (or turned off), 1 present */

static int s_have_ni(void)
{
    int v = atomic_load_explicit(&s_ni, memory_order_relaxed);
    if (v < 0) {
        unsigned a, b, c, d;
        v = __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29)) ? 1 : 0;
        atomic_store_explicit(&s_ni, v, memory_order_relaxed);
    }
    return v;
}

/* For tests: 0 forces the portable rounds, 1 uses the extensions when the CPU has them. */
void td__sha_set_accel(int on)
{
    atomic_store(&s_ni, -1);
    if (!on)
        atomic_store(&s_ni, 0);
}
#else
void td__sha_set_accel(int on)
{
}
#endif

/* Compresses n whole blocks starting at p. */
static void s_compress(td_sha_t *s, const uint8_t *p, size_t n)
{
#ifdef TD_SHA_NI
    if (s->kind == TD_SHA256 && s_have_ni()) {
        s_blocks256_ni(s->h, p, n);
        return;
    }
#endif
    size_t bs = td_sha_block(s->kind);
    for (; n > 0; n--, p += bs) {
        if (s->kind == TD_SHA256)
            s_block256(s->h, p);
        else
            s_block512(s->h, p);
    }
}

void td_sha_update(td_sha_t *s, const void *data, size_t len)
{
    const uint8_t *p = data;
    size_t bs = td_sha_block(s->kind);
    s->total += len;
    if (s->used > 0) {
        size_t take = bs - s->used < len ? bs - s->used : len;
        memcpy(s->buf + s->used, p, take);
        s->used += take, p += take, len -= take;
        if (s->used < bs)
            return;
        s_compress(s, s->buf, 1);
        s->used = 0;
    }
    if (len >= bs) {
        size_t n = len / bs;
        s_compress(s, p, n);
        p += n * bs;
        len -= n * bs;
    }
    memcpy(s->buf, p, len);
    s->used = len;
}

void td_sha_final(td_sha_t *s, uint8_t *out)
{
    size_t bs = td_sha_block(s->kind), lenbytes = s->kind == TD_SHA256 ? 8 : 16;
    uint64_t bits = s->total * 8;
    s->buf[s->used++] = 0x80;
    if (s->used > bs - lenbytes) {
        memset(s->buf + s->used, 0, bs - s->used);
        s_compress(s, s->buf, 1);
        s->used = 0;
    }
    memset(s->buf + s->used, 0, bs - s->used);
    for (int i = 0; i < 8; i++)
        s->buf[bs - 1 - i] = (uint8_t)(bits >> (8 * i));
    s_compress(s, s->buf, 1);
    size_t wbytes = s->kind == TD_SHA256 ? 4 : 8;
    for (size_t i = 0; i < 8; i++)
        for (size_t j = 0; j < wbytes; j++)
            out[i * wbytes + j] = (uint8_t)(s->h[i] >> (8 * (wbytes - 1 - j)));
}
