/* td_base64.c: the one base64 encoder. The relay sends binary files as Python's
 * base64.encodebytes does (76-character lines), the kernel puts images into display data as one
 * unbroken string; both are this loop with a different line length. */
#include "td/td_base64.h"

size_t td_base64_encoded_len(size_t n, size_t line)
{
    size_t chars = (n + 2) / 3 * 4;
    return chars + (line ? (chars + line - 1) / line : 0);
}

size_t td_base64_encode(const uint8_t *p, size_t n, size_t line, char *out)
{
    static const char abc[] = TD_BASE64_ALPHABET;
    char *o = out;
    size_t col = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        char q[4] = {abc[(v >> 18) & 63], abc[(v >> 12) & 63], i + 1 < n ? abc[(v >> 6) & 63] : '=',
                     i + 2 < n ? abc[v & 63] : '='};
        for (int k = 0; k < 4; k++) {
            *o++ = q[k];
            if (line && ++col == line) {
                *o++ = '\n';
                col = 0;
            }
        }
    }
    if (col)
        *o++ = '\n';
    *o = '\0';
    return (size_t)(o - out);
}

int td_hex_value(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                        : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}
