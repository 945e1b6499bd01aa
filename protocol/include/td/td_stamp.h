/* td_stamp.h: message ids and ISO-8601 dates, made from the caller's clock and randomness. */
#ifndef TD_STAMP_H
#define TD_STAMP_H

#include "td_types.h"

#define TD_UUID_LEN 36 /* "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx" */
#define TD_DATE_LEN 27 /* "2025-01-01T12:00:00.123456Z" */

/* Writes a random (version 4) UUID from env->random into out (NUL-terminated). */
TD_EXPORT void td_stamp_uuid(const td_env_t *env, char out[TD_UUID_LEN + 1]);

/* Writes us (microseconds since the epoch, UTC) as "YYYY-MM-DDTHH:MM:SS.ffffffZ" into out. */
TD_EXPORT void td_stamp_date(int64_t us, char out[TD_DATE_LEN + 1]);

#endif
