/* td_json.c: the JSON parser behind td_json_parse. One pass over the input builds the jansson tree
 * directly; there is no token stream and no recursion.
 *
 * Invariants. A container is attached to its parent (or becomes the root) the moment its opening
 * bracket is read, so on any error json_decref(root) frees everything built so far, and a pending
 * object key only has to live until the next value starts. The stack holds borrowed pointers to the
 * open containers; depth counts them. Strings without escapes are handed to jansson straight from
 * the input; strings with escapes are decoded into one of two scratch buffers (one for keys, one
 * for values, since a key must survive the string value that follows it). Both buffers and the
 * stack belong to the parser and are freed before returning.
 *
 * Acceptance is json_loadb's (jansson 2.14 load.c, read for its rules, not its code): strict
 * UTF-8 everywhere (no overlongs, no UTF-8-encoded surrogates, nothing above U+10FFFF), no raw
 * control characters in strings, paired \u surrogates only, no \u0000 in keys (nor in values
 * without JSON_ALLOW_NUL), integers that overflow json_int_t are errors, reals go through strtod
 * and overflow is an error (underflow is not), keywords may not run into letters ("truex"), the
 * depth limit counts scalars, and one NUL byte right after a number or keyword is skipped.
 * Everything jansson validates, we validate once, so values are built with the _nocheck
 * constructors. */
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "td/td_base64.h"
#include "td/td_json.h"

#if JSON_INTEGER_IS_LONG_LONG
#define S_INT_MAX LLONG_MAX
#else
#define S_INT_MAX LONG_MAX
#endif

#define S_DIGIT(c) ((uint8_t)((c) - '0') < 10)
#define S_ALPHA(c) ((uint8_t)(((c) | 0x20) - 'a') < 26)

/* A growable scratch buffer for decoded strings. */
typedef struct s_buf {
    char *p;
    size_t len;
    size_t cap;
} s_buf_t;

typedef struct s_parser {
    const uint8_t *start;
    const uint8_t *end;
    size_t flags;
    td_error_t *err;   /* optional; first error wins */
    int rc;            /* 0, or the first TD_E* recorded */
    s_buf_t str;       /* decoded string values */
    s_buf_t key;       /* decoded object keys */
    const char *key_s; /* the pending key: into the input or into key */
    size_t key_n;
    json_t **stack; /* open containers, borrowed; small until the input nests deeper */
    size_t cap;
    json_t *small[32];
} s_parser_t;

/* ---- errors -----------------------------------------------------------------------------------
 */

/* Records a syntax error at `at` and returns NULL, so scanners can `return s_fail(...)`. */
__attribute__((format(printf, 3, 4))) static const uint8_t *
s_fail(s_parser_t *ps, const uint8_t *at, const char *fmt, ...)
{
    if (ps->rc == 0)
        ps->rc = TD_EPROTO;
    if (ps->err != NULL && ps->err->code == 0) {
        char text[sizeof ps->err->text];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(text, sizeof text, fmt, ap);
        va_end(ap);
        td_error_set(ps->err, TD_EPROTO, (size_t)(at - ps->start), "%s", text);
    }
    return NULL;
}

static const uint8_t *s_nomem(s_parser_t *ps, const uint8_t *at)
{
    if (ps->rc == 0)
        ps->rc = TD_ENOMEM;
    td_error_set(ps->err, TD_ENOMEM, (size_t)(at - ps->start), "out of memory");
    return NULL;
}

/* ---- scanning ---------------------------------------------------------------------------------
 */

/* Whitespace is rare inside values but common between them (pretty-printed notebooks indent every
 * line), so this is a bit test rather than a table. */
static inline const uint8_t *s_ws(const uint8_t *p, const uint8_t *end)
{
    const uint64_t ws = (1ull << ' ') | (1ull << '\t') | (1ull << '\n') | (1ull << '\r');
    while (p < end && *p <= ' ' && ((ws >> *p) & 1))
        p++;
    return p;
}

/* Returns the first byte in [p, end) that ends a run of plain string bytes: '"', '\\', a control
 * character (< 0x20) or a non-ASCII byte (>= 0x80, which the caller validates as UTF-8); end if
 * there is none. SSE2 does 16 bytes a step (a signed compare below 0x20 catches both control and
 * non-ASCII bytes); elsewhere a word-at-a-time test does 8. */
static inline const uint8_t *s_scan(const uint8_t *p, const uint8_t *end)
{
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(' ');
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                                 _mm_cmplt_epi8(v, space));
        unsigned mask = (unsigned)_mm_movemask_epi8(m);
        if (mask != 0)
            return p + __builtin_ctz(mask);
        p += 16;
    }
#endif
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* The classic has-zero-byte test. A borrow can flag a byte above a true hit, never below one,
     * so the lowest flagged byte is exact. */
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    while (end - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
        uint64_t hit = ((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones * ' ') & ~w) | w;
        hit &= high;
        if (hit != 0)
            return p + (__builtin_ctzll(hit) >> 3);
        p += 8;
    }
#endif
    while (p < end && *p != '"' && *p != '\\' && *p >= 0x20 && *p < 0x80)
        p++;
    return p;
}

/* Validates one UTF-8 sequence at p (p[0] >= 0x80) by RFC 3629 (jansson's utf8_check_full): no
 * overlongs, no surrogates, nothing past U+10FFFF, no truncation. Returns the byte after it or
 * NULL. The second byte's range depends on the first, which is what rules out the bad forms. */
static inline const uint8_t *s_utf8(const uint8_t *p, const uint8_t *end)
{
    uint8_t c = p[0];
    size_t need;
    uint8_t lo = 0x80, hi = 0xBF;
    if (c < 0xC2)
        return NULL;
    if (c < 0xE0) {
        need = 2;
    } else if (c < 0xF0) {
        need = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c < 0xF5) {
        need = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return NULL;
    }
    if ((size_t)(end - p) < need || p[1] < lo || p[1] > hi)
        return NULL;
    for (size_t i = 2; i < need; i++)
        if ((p[i] & 0xC0) != 0x80)
            return NULL;
    return p + need;
}

/* ---- strings ----------------------------------------------------------------------------------
 */

/* Makes room for extra more bytes; 0, or -1 when out of memory. Split so the common case (room
 * already there) inlines into the per-escape path. */
static int s_buf_grow(s_buf_t *b, size_t extra)
{
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < extra) {
        if (cap > SIZE_MAX / 2)
            return -1;
        cap *= 2;
    }
    char *np = realloc(b->p, cap);
    if (np == NULL)
        return -1;
    b->p = np;
    b->cap = cap;
    return 0;
}

static inline int s_buf_reserve(s_buf_t *b, size_t extra)
{
    return b->cap - b->len >= extra ? 0 : s_buf_grow(b, extra);
}

/* The four hex digits at p as a code unit, or -1. */
static int32_t s_hex4(const uint8_t *p, const uint8_t *end)
{
    if (end - p < 4)
        return -1;
    int32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int h = td_hex_value(p[i]);
        if (h < 0)
            return -1;
        v = v << 4 | h;
    }
    return v;
}

/* Decodes the escape at p (p[0] == '\\') into b, which has room for 4 more bytes. A high surrogate
 * must be followed at once by a \u low surrogate; the pair becomes one 4-byte character. Returns
 * the byte after the escape, or NULL with the error recorded. */
static const uint8_t *s_escape(s_parser_t *ps, const uint8_t *p, s_buf_t *b, bool key)
{
    const uint8_t *end = ps->end, *at = p;
    if (end - p < 2)
        return s_fail(ps, end, "premature end of input");
    char *o = b->p + b->len;
    switch (p[1]) {
    case '"':
    case '\\':
    case '/':
        *o = (char)p[1];
        break;
    case 'b':
        *o = '\b';
        break;
    case 'f':
        *o = '\f';
        break;
    case 'n':
        *o = '\n';
        break;
    case 'r':
        *o = '\r';
        break;
    case 't':
        *o = '\t';
        break;
    case 'u':
        goto unicode;
    default:
        return s_fail(ps, at, "invalid escape");
    }
    b->len++;
    return p + 2;

unicode:;
    int32_t cp = s_hex4(p + 2, end);
    if (cp < 0)
        return s_fail(ps, at, "invalid escape");
    p += 6;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (end - p < 2 || p[0] != '\\' || p[1] != 'u')
            return s_fail(ps, at, "invalid Unicode '\\u%04X'", (unsigned)cp);
        int32_t lo = s_hex4(p + 2, end);
        if (lo < 0)
            return s_fail(ps, p, "invalid escape");
        if (lo < 0xDC00 || lo > 0xDFFF)
            return s_fail(ps, at, "invalid Unicode '\\u%04X\\u%04X'", (unsigned)cp, (unsigned)lo);
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        p += 6;
    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
        return s_fail(ps, at, "invalid Unicode '\\u%04X'", (unsigned)cp);
    } else if (cp == 0 && key) {
        return s_fail(ps, at, "NUL byte in object key not supported");
    } else if (cp == 0 && !(ps->flags & JSON_ALLOW_NUL)) {
        return s_fail(ps, at, "\\u0000 is not allowed without JSON_ALLOW_NUL");
    }
    if (cp < 0x80) {
        o[0] = (char)cp;
        b->len += 1;
    } else if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3F));
        b->len += 2;
    } else if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        b->len += 3;
    } else {
        o[0] = (char)(0xF0 | cp >> 18);
        o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
        o[2] = (char)(0x80 | (cp >> 6 & 0x3F));
        o[3] = (char)(0x80 | (cp & 0x3F));
        b->len += 4;
    }
    return p;
}

/* Scans a string whose opening quote is just before p. Sets *s and *n to its decoded bytes: a view
 * of the input when there was no escape, else b's contents. Returns the byte after the closing
 * quote, or NULL with the error recorded. */
static const uint8_t *s_string(s_parser_t *ps, const uint8_t *p, s_buf_t *b, bool key,
                               const char **s, size_t *n)
{
    const uint8_t *end = ps->end, *run = p;
    bool escaped = false;
    b->len = 0;
    for (;;) {
        p = s_scan(p, end);
        if (p == end)
            return s_fail(ps, p, "premature end of input");
        uint8_t c = *p;
        if (c == '"')
            break;
        if (c >= 0x80) {
            /* Validate the whole non-ASCII run here rather than re-entering the scan per char. */
            do {
                const uint8_t *next = s_utf8(p, end);
                if (next == NULL)
                    return s_fail(ps, p, "unable to decode byte 0x%x", *p);
                p = next;
            } while (p < end && *p >= 0x80);
            continue;
        }
        if (c != '\\') {
            if (c == '\n')
                return s_fail(ps, p, "unexpected newline");
            return s_fail(ps, p, "control character 0x%x", c);
        }
        size_t len = (size_t)(p - run);
        if (s_buf_reserve(b, len + 4) < 0)
            return s_nomem(ps, p);
        memcpy(b->p + b->len, run, len);
        b->len += len;
        p = s_escape(ps, p, b, key);
        if (p == NULL)
            return NULL;
        run = p;
        escaped = true;
    }
    if (!escaped) {
        *s = (const char *)run;
        *n = (size_t)(p - run);
        return p + 1;
    }
    size_t len = (size_t)(p - run);
    if (s_buf_reserve(b, len) < 0)
        return s_nomem(ps, p);
    memcpy(b->p + b->len, run, len);
    b->len += len;
    *s = b->p;
    *n = b->len;
    return p + 1;
}

/* ---- numbers ----------------------------------------------------------------------------------
 */

/* Exact powers of ten as doubles (10^22 is the largest). */
static const double s_pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* strtod over a copy of the token (the input is not NUL-terminated), with jansson's locale move:
 * the '.' becomes the locale's decimal point. Only overflow to +-HUGE_VAL is an error, as in
 * jansson's jsonp_strtod; underflow yields 0 or a subnormal. errno is left as it was. */
static const uint8_t *s_strtod(s_parser_t *ps, const uint8_t *b, const uint8_t *e, double *out)
{
    char small[64];
    size_t len = (size_t)(e - b);
    char *s = len < sizeof small ? small : malloc(len + 1);
    if (s == NULL)
        return s_nomem(ps, b);
    memcpy(s, b, len);
    s[len] = '\0';
    const char *point = localeconv()->decimal_point;
    if (point[0] != '.' && point[0] != '\0') {
        char *dot = memchr(s, '.', len);
        if (dot != NULL)
            *dot = point[0];
    }
    int saved = errno;
    errno = 0;
    double d = strtod(s, NULL);
    bool overflow = (d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE;
    errno = saved;
    if (s != small)
        free(s);
    if (overflow)
        return s_fail(ps, b, "real number overflow");
    *out = d;
    return e;
}

/* The value of a real token [b, e) with its digits split out by s_number. When the significant
 * digits fit in 53 bits and the decimal exponent is within +-22, one IEEE multiplication or
 * division of two exact doubles is correctly rounded (Clinger's fast path), which is what strtod
 * returns; everything else goes to strtod. */
static const uint8_t *s_real(s_parser_t *ps, const uint8_t *b, const uint8_t *e, bool neg,
                             const uint8_t *ip, const uint8_t *ie, const uint8_t *fp,
                             const uint8_t *fe, int64_t exp, bool exp_big, double *out)
{
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0
    /* m takes at most 19 significant digits (below 2^64, so it cannot wrap); a 20th means the
     * fast path is out of reach whatever the rest. */
    uint64_t m = 0;
    size_t nsig = 0;
    for (const uint8_t *q = ip; q < fe; q++) {
        if (q == ie)
            q = fp;
        if (q == fe)
            break;
        if (nsig == 0 && *q == '0')
            continue;
        if (++nsig > 19)
            break;
        m = m * 10 + (uint64_t)(*q - '0');
    }
    if (nsig == 0) {
        /* Every digit is zero: strtod gives a signed zero whatever the exponent. */
        *out = neg ? -0.0 : 0.0;
        return e;
    }
    if (nsig <= 19 && m <= (1ull << 53) && !exp_big) {
        int64_t e10 = exp - (int64_t)(fe - fp);
        double d = (double)m;
        if (e10 >= 0 && e10 <= 22) {
            *out = neg ? -(d * s_pow10[e10]) : d * s_pow10[e10];
            return e;
        }
        if (e10 < 0 && e10 >= -22) {
            *out = neg ? -(d / s_pow10[-e10]) : d / s_pow10[-e10];
            return e;
        }
    }
#endif
    return s_strtod(ps, b, e, out);
}

/* Scans a number at p (a digit or '-') and builds an integer or a real as jansson would. */
static const uint8_t *s_number(s_parser_t *ps, const uint8_t *p, json_t **out)
{
    const uint8_t *b = p, *end = ps->end;
    bool neg = *p == '-';
    if (neg)
        p++;
    const uint8_t *ip = p;
    if (p == end || !S_DIGIT(*p))
        return s_fail(ps, b, "invalid token");
    if (*p == '0') {
        p++;
        if (p < end && S_DIGIT(*p))
            return s_fail(ps, b, "invalid token"); /* a leading zero */
    } else {
        while (p < end && S_DIGIT(*p))
            p++;
    }
    const uint8_t *ie = p, *fp = p, *fe = p;
    bool real = false;
    if (p < end && *p == '.') {
        fp = ++p;
        if (p == end || !S_DIGIT(*p))
            return s_fail(ps, b, "invalid token");
        while (p < end && S_DIGIT(*p))
            p++;
        fe = p;
        real = true;
    }
    int64_t exp = 0;
    bool exp_big = false;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        bool eneg = false;
        if (p < end && (*p == '+' || *p == '-'))
            eneg = *p++ == '-';
        if (p == end || !S_DIGIT(*p))
            return s_fail(ps, b, "invalid token");
        for (; p < end && S_DIGIT(*p); p++) {
            if (exp < 100000000)
                exp = exp * 10 + (*p - '0');
            else
                exp_big = true;
        }
        if (eneg)
            exp = -exp;
        real = true;
    }
    if (real || (ps->flags & JSON_DECODE_INT_AS_REAL)) {
        double d = 0;
        if (s_real(ps, b, p, neg, ip, ie, fp, fe, exp, exp_big, &d) == NULL)
            return NULL;
        *out = json_real(d);
        return *out ? p : s_nomem(ps, b);
    }
    /* Without leading zeros the digit count bounds the value: 19 digits fit in a uint64_t. */
    if (ie - ip > 19)
        return s_fail(ps, b, neg ? "too big negative integer" : "too big integer");
    uint64_t u = 0;
    for (const uint8_t *q = ip; q < ie; q++)
        u = u * 10 + (uint64_t)(*q - '0');
    if (u > (uint64_t)S_INT_MAX + neg)
        return s_fail(ps, b, neg ? "too big negative integer" : "too big integer");
    json_int_t i =
        neg ? (u == (uint64_t)S_INT_MAX + 1 ? -S_INT_MAX - 1 : -(json_int_t)u) : (json_int_t)u;
    *out = json_integer(i);
    return *out ? p : s_nomem(ps, b);
}

/* Matches a keyword; like jansson's lexer, a letter right after it makes the token invalid. */
static const uint8_t *s_word(s_parser_t *ps, const uint8_t *p, const char *w, size_t n)
{
    if ((size_t)(ps->end - p) < n || memcmp(p, w, n) != 0 ||
        ((size_t)(ps->end - p) > n && S_ALPHA(p[n])))
        return s_fail(ps, p, "invalid token");
    return p + n;
}

/* jansson's quirk, kept for identical acceptance: its lexer reads one byte past a number or a
 * keyword and pushes it back into a buffer that uses NUL as "empty", so a NUL byte right there is
 * silently dropped ("[1\0]" parses as [1]). Only a NUL that ends the top-level value under
 * JSON_DISABLE_EOF_CHECK stays unread, as the parse stops before it. */
static inline const uint8_t *s_after_scalar(const s_parser_t *ps, const uint8_t *p, size_t depth)
{
    if (p < ps->end && *p == '\0' && (depth > 0 || !(ps->flags & JSON_DISABLE_EOF_CHECK)))
        p++;
    return p;
}

/* ---- structure --------------------------------------------------------------------------------
 */

/* Hands v (owned, may be NULL after a failed constructor) to the open container, or makes it the
 * root. jansson's _new setters consume v even when they fail. Returns 0 or -1 (recorded). */
static int s_attach(s_parser_t *ps, size_t depth, json_t *v, json_t **root, const uint8_t *at)
{
    if (v == NULL) {
        s_nomem(ps, at);
        return -1;
    }
    if (depth == 0) {
        *root = v;
        return 0;
    }
    json_t *top = ps->stack[depth - 1];
    int rc = json_is_array(top) ? json_array_append_new(top, v)
                                : json_object_setn_new_nocheck(top, ps->key_s, ps->key_n, v);
    if (rc != 0) {
        s_nomem(ps, at);
        return -1;
    }
    return 0;
}

/* Pushes an open container; the stack starts small and grows to TD_JSON_MAX_DEPTH at most. */
static int s_push(s_parser_t *ps, size_t depth, json_t *v, const uint8_t *at)
{
    if (depth == ps->cap) {
        size_t cap = ps->cap * 4 < TD_JSON_MAX_DEPTH ? ps->cap * 4 : TD_JSON_MAX_DEPTH;
        json_t **st = ps->stack == ps->small ? malloc(cap * sizeof *st)
                                             : realloc(ps->stack, cap * sizeof *st);
        if (st == NULL) {
            s_nomem(ps, at);
            return -1;
        }
        if (ps->stack == ps->small)
            memcpy(st, ps->small, sizeof ps->small);
        ps->stack = st;
        ps->cap = cap;
    }
    ps->stack[depth] = v;
    return 0;
}

/* The walk. Three states, as labels: `value` expects any value, `member` expects a key (after '{'
 * or a ',' in an object), `next` follows a complete value and closes containers. */
static ssize_t s_parse(s_parser_t *ps, json_t **out)
{
    const uint8_t *p = ps->start, *end = ps->end;
    json_t *root = NULL, *v = NULL;
    size_t depth = 0;

    p = s_ws(p, end);
    if (!(ps->flags & JSON_DECODE_ANY) && (p == end || (*p != '[' && *p != '{'))) {
        s_fail(ps, p, "'[' or '{' expected");
        goto fail;
    }

value:
    if (depth >= TD_JSON_MAX_DEPTH) {
        s_fail(ps, p, "maximum parsing depth reached");
        goto fail;
    }
    if (p == end) {
        s_fail(ps, p, "premature end of input");
        goto fail;
    }
    switch (*p) {
    case '"': {
        const char *s;
        size_t n;
        const uint8_t *at = p;
        p = s_string(ps, p + 1, &ps->str, false, &s, &n);
        if (p == NULL || s_attach(ps, depth, json_stringn_nocheck(s, n), &root, at) < 0)
            goto fail;
        goto next;
    }
    case '{':
    case '[': {
        bool obj = *p == '{';
        v = obj ? json_object() : json_array();
        if (s_attach(ps, depth, v, &root, p) < 0 || s_push(ps, depth, v, p) < 0)
            goto fail;
        depth++;
        p = s_ws(p + 1, end);
        if (p < end && *p == (obj ? '}' : ']')) {
            p++;
            depth--;
            goto next;
        }
        if (obj)
            goto member;
        goto value;
    }
    case 't':
        p = s_word(ps, p, "true", 4);
        p = p ? s_after_scalar(ps, p, depth) : NULL;
        if (p == NULL || s_attach(ps, depth, json_true(), &root, p) < 0)
            goto fail;
        goto next;
    case 'f':
        p = s_word(ps, p, "false", 5);
        p = p ? s_after_scalar(ps, p, depth) : NULL;
        if (p == NULL || s_attach(ps, depth, json_false(), &root, p) < 0)
            goto fail;
        goto next;
    case 'n':
        p = s_word(ps, p, "null", 4);
        p = p ? s_after_scalar(ps, p, depth) : NULL;
        if (p == NULL || s_attach(ps, depth, json_null(), &root, p) < 0)
            goto fail;
        goto next;
    default:
        if (*p == '-' || S_DIGIT(*p)) {
            const uint8_t *at = p;
            p = s_number(ps, p, &v);
            if (p == NULL || s_attach(ps, depth, v, &root, at) < 0)
                goto fail;
            p = s_after_scalar(ps, p, depth);
            goto next;
        }
        s_fail(ps, p, "invalid token");
        goto fail;
    }

member:
    if (p == end || *p != '"') {
        s_fail(ps, p, "string or '}' expected");
        goto fail;
    }
    {
        const uint8_t *at = p;
        p = s_string(ps, p + 1, &ps->key, true, &ps->key_s, &ps->key_n);
        if (p == NULL)
            goto fail;
        if ((ps->flags & JSON_REJECT_DUPLICATES) &&
            json_object_getn(ps->stack[depth - 1], ps->key_s, ps->key_n) != NULL) {
            s_fail(ps, at, "duplicate object key");
            goto fail;
        }
    }
    p = s_ws(p, end);
    if (p == end || *p != ':') {
        s_fail(ps, p, "':' expected");
        goto fail;
    }
    p = s_ws(p + 1, end);
    goto value;

next:
    if (depth == 0)
        goto done;
    p = s_ws(p, end);
    if (p < end && *p == ',') {
        p = s_ws(p + 1, end);
        if (json_is_object(ps->stack[depth - 1]))
            goto member;
        goto value;
    }
    if (json_is_object(ps->stack[depth - 1])) {
        if (p == end || *p != '}') {
            s_fail(ps, p, "'}' expected");
            goto fail;
        }
    } else if (p == end || *p != ']') {
        s_fail(ps, p, "']' expected");
        goto fail;
    }
    p++;
    depth--;
    goto next;

done:
    if (!(ps->flags & JSON_DISABLE_EOF_CHECK)) {
        p = s_ws(p, end);
        if (p != end) {
            s_fail(ps, p, "end of file expected");
            goto fail;
        }
    }
    *out = root;
    return (ssize_t)(p - ps->start);

fail:
    json_decref(root);
    return ps->rc;
}

ssize_t td_json_parse_flags(const char *p, size_t n, size_t flags, json_t **out, td_error_t *err)
{
    if (out == NULL || (p == NULL && n > 0))
        return td_error_set(err, TD_EINVAL, 0, "no input or no output");
    *out = NULL;
    if (flags & ~(size_t)TD_JSON_FLAGS)
        return td_error_set(err, TD_EINVAL, 0, "unsupported flags 0x%zx", flags);
    if (n > (size_t)SSIZE_MAX)
        return td_error_set(err, TD_E2BIG, 0, "input too large");
    static const char empty[1] = "";
    if (p == NULL)
        p = empty;
    s_parser_t ps = {.start = (const uint8_t *)p,
                     .end = (const uint8_t *)p + n,
                     .flags = flags,
                     .err = err,
                     .cap = sizeof ps.small / sizeof ps.small[0]};
    ps.stack = ps.small;
    ssize_t r = s_parse(&ps, out);
    free(ps.str.p);
    free(ps.key.p);
    if (ps.stack != ps.small)
        free(ps.stack);
    return r;
}

ssize_t td_json_parse(const char *p, size_t n, json_t **out, td_error_t *err)
{
    return td_json_parse_flags(p, n, 0, out, err);
}

/* ---- writing -----------------------------------------------------------------------------------
 * json_dumps(JSON_COMPACT)'s bytes without its costs (a pointer hashtable per object for its loop
 * check, a buffer grown from 16 bytes and copied at the end, a UTF-8 decode per character): runs
 * of plain bytes are copied whole (jansson's strings are valid UTF-8 already), nesting is bounded
 * instead of checked for loops, and only reals go through jansson for its number formatting. */

static int s_append(s_buf_t *t, const char *p, size_t n)
{
    if (s_buf_reserve(t, n) != 0)
        return TD_ENOMEM;
    memcpy(t->p + t->len, p, n);
    t->len += n;
    return 0;
}

/* Writes a JSON string: quotes, and escapes for '"', '\\' and control characters, as jansson does
 * without JSON_ENSURE_ASCII; every other byte is copied as is. */
static int s_put_string(s_buf_t *t, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF"; /* jansson writes \u001F */
    if (s_buf_reserve(t, n + 2) != 0)
        return TD_ENOMEM;
    t->p[t->len++] = '"';
    size_t run = 0; /* s[run..i) is plain and not yet copied */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        char esc[6] = {'\\', (char)c, 0, 0, 0, 0};
        size_t elen = 2;
        switch (c) {
        case '"':
        case '\\':
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            elen = 6;
        }
        if (s_append(t, s + run, i - run) != 0 || s_append(t, esc, elen) != 0)
            return TD_ENOMEM;
        run = i + 1;
    }
    if (s_append(t, s + run, n - run) != 0 || s_append(t, "\"", 1) != 0)
        return TD_ENOMEM;
    return 0;
}

/* Writes v compactly. TD_EINVAL past TD_JSON_MAX_DEPTH (which is also how a cycle ends). */
static int s_put_value(s_buf_t *t, const json_t *v, int depth)
{
    if (depth > TD_JSON_MAX_DEPTH)
        return TD_EINVAL;
    char num[32];
    int rc = 0;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        rc = s_append(t, "{", 1);
        for (void *it = json_object_iter((json_t *)v); rc == 0 && it;) {
            rc = s_put_string(t, json_object_iter_key(it), json_object_iter_key_len(it));
            if (rc == 0)
                rc = s_append(t, ":", 1);
            if (rc == 0)
                rc = s_put_value(t, json_object_iter_value(it), depth + 1);
            it = json_object_iter_next((json_t *)v, it);
            if (rc == 0 && it)
                rc = s_append(t, ",", 1);
        }
        return rc ? rc : s_append(t, "}", 1);
    }
    case JSON_ARRAY: {
        rc = s_append(t, "[", 1);
        size_t n = json_array_size(v);
        for (size_t i = 0; rc == 0 && i < n; i++) {
            if (i > 0)
                rc = s_append(t, ",", 1);
            if (rc == 0)
                rc = s_put_value(t, json_array_get(v, i), depth + 1);
        }
        return rc ? rc : s_append(t, "]", 1);
    }
    case JSON_STRING:
        return s_put_string(t, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        return s_append(
            t, num,
            (size_t)snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v)));
    case JSON_REAL: { /* jansson's own formatting (shortest round trip, ".0" kept) */
        char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        rc = text ? s_append(t, text, strlen(text)) : TD_ENOMEM;
        free(text);
        return rc;
    }
    case JSON_TRUE:
        return s_append(t, "true", 4);
    case JSON_FALSE:
        return s_append(t, "false", 5);
    default:
        return s_append(t, "null", 4);
    }
}

int td_json_dump(const json_t *v, char **out, size_t *len)
{
    s_buf_t t = {NULL, 0, 0};
    *out = NULL;
    int rc = v == NULL ? TD_EINVAL : s_put_value(&t, v, 1);
    if (rc == 0)
        rc = s_append(&t, "", 1);
    if (rc != 0) {
        free(t.p);
        return rc;
    }
    *out = t.p;
    if (len)
        *len = t.len - 1;
    return 0;
}
