/* td_types.h: the few plain types every object shares: byte views, the environment through which
 * effects (clock, randomness) enter the pure protocol library, and the export macro. */
#ifndef TD_TYPES_H
#define TD_TYPES_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define TD_EXPORT __attribute__((visibility("default")))
#else
#define TD_EXPORT
#endif

/* A borrowed view of bytes; never owns them and is valid only while the owner lives. */
typedef struct td_bytes {
    const uint8_t *data;
    size_t len;
} td_bytes_t;

/* Effects enter protocol/ only through this struct. Tests pass deterministic functions. */
typedef struct td_env {
    int64_t (*now_us)(void *arg);                          /* microseconds since the Unix epoch */
    void (*random)(void *arg, uint8_t *out, size_t n);     /* fills out with random bytes */
    void *arg;
} td_env_t;

#endif
