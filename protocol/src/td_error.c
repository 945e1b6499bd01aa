/* td_error.c: messages for the TD_E* codes, and the first-error-wins recorder used by decoders. */
#include <stdarg.h>
#include <stdio.h>

#include "td/td_error.h"

const char *td_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
#define XX(code, val, msg)                                                                         \
    case TD_##code:                                                                                \
        return msg;
        TD_ERRNO_MAP(XX)
#undef XX
    default:
        return "unknown error";
    }
}

int td_error_set(td_error_t *err, int code, size_t offset, const char *fmt, ...)
{
    if (err == NULL || err->code != 0)
        return code;
    err->code = code;
    err->offset = offset;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->text, sizeof err->text, fmt, ap);
    va_end(ap);
    return code;
}
