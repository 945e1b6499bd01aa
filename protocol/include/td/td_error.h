/* td_error.h: error codes shared by every Tandem object. Functions return 0 or a negative TD_E*
 * code; decoders return bytes consumed or a negative code. td_error_t carries where and why. */
#ifndef TD_ERROR_H
#define TD_ERROR_H

#include <stddef.h>

#include "td_types.h"

#define TD_ERRNO_MAP(XX)                                                                           \
    XX(EINVAL, -1, "invalid argument")                                                             \
    XX(ENOMEM, -2, "out of memory")                                                                \
    XX(EPROTO, -3, "malformed message")                                                            \
    XX(EBADSIG, -4, "bad HMAC signature")                                                          \
    XX(E2BIG, -5, "message too large")                                                             \
    XX(EAGAIN, -6, "incomplete input, need more")                                                  \
    XX(ENOENT, -7, "no such object")                                                               \
    XX(EPERM, -8, "not permitted by role")                                                         \
    XX(EEXIST, -9, "already exists")                                                               \
    XX(ESTATE, -10, "wrong state for this call")

typedef enum {
#define XX(code, val, msg) TD_##code = (val),
    TD_ERRNO_MAP(XX)
#undef XX
} td_err_t;

/* Where a decoder failed and why. The first error recorded wins; pointers to it may be NULL. */
typedef struct td_error {
    int code;      /* a TD_E* code, or 0 when nothing went wrong */
    size_t offset; /* byte offset into the input (or frame index, as the decoder documents) */
    char text[160];
} td_error_t;

/* Returns a static message for any int; never NULL ("unknown error"). */
TD_EXPORT const char *td_strerror(int err);

/* Records an error in err (NULL-safe) unless one is already there; returns code. */
TD_EXPORT int td_error_set(td_error_t *err, int code, size_t offset, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
