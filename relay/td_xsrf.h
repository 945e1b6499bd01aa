/* td_xsrf.h: XSRF tokens as tornado (and so jupyter_server) makes and checks them. The relay sets
 * an "_xsrf" cookie; a cookie-authenticated request that changes state must send the same token
 * back (X-XSRFToken header or "_xsrf" form field). Tokens are "2|MASK|MASKED|TIME" (hex; the
 * token XOR a fresh 4-byte mask, so the bytes on the wire differ every time); tornado's unmasked
 * version 1 (hex or raw) is accepted too. Pure: the caller passes randomness and time. */
#ifndef TD_XSRF_H
#define TD_XSRF_H

#include <stdint.h>

#define TD_XSRF_MAX 64     /* a token this module writes, with its NUL */
#define TD_XSRF_RANDOM 20  /* random bytes per token: 16 of token, 4 of mask */

/* Writes a fresh version-2 token made of rnd, issued at now_s, into out. */
void td_xsrf_make(const uint8_t rnd[TD_XSRF_RANDOM], int64_t now_s, char out[TD_XSRF_MAX]);

/* 1 when cookie and sent both decode to the same non-empty token (compared in constant time for
 * equal lengths), else 0; malformed or over-long input is 0. */
int td_xsrf_match(const char *cookie, const char *sent);

#endif
