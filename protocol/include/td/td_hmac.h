/* td_hmac.h: Jupyter message signing. A key object holds the precomputed inner and outer digest
 * states; signing and verifying are const, so one key may be shared by threads. */
#ifndef TD_HMAC_H
#define TD_HMAC_H

#include "td_types.h"

#define TD_HMAC_HEX_MAX 128 /* hex digits of the largest digest (SHA-512) */

typedef struct td_hmac td_hmac_t;

/* Creates a key for scheme "hmac-sha256" (also "hmac-sha512"). An empty key
 * disables signing: signatures are "" and verification accepts anything. NULL on unknown scheme
 * or OOM; caller owns. */
TD_EXPORT td_hmac_t *td_hmac_new(const char *scheme, const uint8_t *key, size_t key_len);

/* Frees the key; NULL-safe; nulls *self_p. */
TD_EXPORT void td_hmac_destroy(td_hmac_t **self_p);

/* 1 when the key is empty (no signing), else 0. */
TD_EXPORT int td_hmac_disabled(const td_hmac_t *self);

/* Writes the lowercase hex signature of the concatenated parts into out (NUL-terminated, at most
 * TD_HMAC_HEX_MAX + 1 bytes); "" when disabled. Returns the hex length, or TD_ENOMEM. */
TD_EXPORT int td_hmac_sign(const td_hmac_t *self, const td_bytes_t *parts, size_t nparts,
                           char out[TD_HMAC_HEX_MAX + 1]);

/* Checks sig against the parts in constant time. Returns 0, or TD_EBADSIG. */
TD_EXPORT int td_hmac_verify(const td_hmac_t *self, const td_bytes_t *parts, size_t nparts,
                             td_bytes_t sig);

#endif
