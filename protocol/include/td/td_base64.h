/* td_base64.h: standard base64 (RFC 4648 §4, padded), the encoding Jupyter uses for binary file
 * contents and for images in display data; and reading hex digits. */
#ifndef TD_BASE64_H
#define TD_BASE64_H

#include "td_types.h"

#define TD_BASE64_ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

/* Characters td_base64_encode writes for n bytes with the given line length, without the NUL. */
TD_EXPORT size_t td_base64_encoded_len(size_t n, size_t line);

/* Writes p[0..n) as base64 into out (td_base64_encoded_len(n, line) + 1 bytes), NUL-terminated.
 * line 0 writes one unbroken string; line > 0 ends every line of that many characters, and a last
 * shorter one, with "\n" (Python's base64.encodebytes is line 76). Returns the length written. */
TD_EXPORT size_t td_base64_encode(const uint8_t *p, size_t n, size_t line, char *out);

/* The value of hex digit c (either case), or -1 when c is not one. */
TD_EXPORT int td_hex_value(int c);

#endif
