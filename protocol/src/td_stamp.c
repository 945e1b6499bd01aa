/* td_stamp.c: ids and dates without touching the system: the clock reading and the random bytes
 * come from the caller (td_env_t), and the calendar conversion is done here (days-from-civil in
 * reverse, valid for any date after 1970), so no libc time function is needed. */
#include <stdio.h>

#include "td/td_stamp.h"

void td_stamp_uuid(const td_env_t *env, char out[TD_UUID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t b[16];
    env->random(env->arg, b, sizeof b);
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    char *p = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = hex[b[i] >> 4];
        *p++ = hex[b[i] & 15];
    }
    *p = '\0';
}

void td_stamp_date(int64_t us, char out[TD_DATE_LEN + 1])
{
    if (us < 0)
        us = 0;
    int64_t secs = us / 1000000, frac = us % 1000000;
    int64_t days = secs / 86400, rem = secs % 86400;
    /* Civil date from days since 1970-01-01 (Howard Hinnant's algorithm). */
    int64_t z = days + 719468;
    int64_t era = z / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    int64_t y = yoe + era * 400 + (m <= 2);
    snprintf(out, TD_DATE_LEN + 1, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", (int)y, (int)m, (int)d,
             (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60), (int)frac);
}
