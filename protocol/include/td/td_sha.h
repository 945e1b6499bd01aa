/* td_sha.h: SHA-256 and SHA-512 (FIPS 180-4), incremental. Small and dependency-free, so the
 * kernel needs no crypto library for message signing. */
#ifndef TD_SHA_H
#define TD_SHA_H

#include "td_types.h"

#define TD_SHA256_LEN 32
#define TD_SHA512_LEN 64
#define TD_SHA_BLOCK_MAX 128

typedef enum { TD_SHA256, TD_SHA512 } td_sha_kind_t;

/* A digest in progress; plain data, so it may be copied to fork a state. */
typedef struct td_sha {
    td_sha_kind_t kind;
    uint64_t h[8];         /* SHA-256 uses the low 32 bits */
    uint8_t buf[TD_SHA_BLOCK_MAX];
    size_t used;           /* bytes in buf */
    uint64_t total;        /* bytes absorbed */
} td_sha_t;

/* Starts a digest of the given kind. */
TD_EXPORT void td_sha_init(td_sha_t *s, td_sha_kind_t kind);
/* Absorbs len bytes. */
TD_EXPORT void td_sha_update(td_sha_t *s, const void *data, size_t len);
/* Writes the digest (td_sha_size bytes) to out; s must be re-initialised before reuse. */
TD_EXPORT void td_sha_final(td_sha_t *s, uint8_t *out);
/* Digest and block sizes in bytes. */
TD_EXPORT size_t td_sha_size(td_sha_kind_t kind);
TD_EXPORT size_t td_sha_block(td_sha_kind_t kind);

#endif
