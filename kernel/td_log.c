/* td_log.c: one formatted line per call, written with a single write(2) so lines from the kernel's
 * threads never interleave. The default level is warn, so a healthy kernel is quiet. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "td_log.h"

int td_log_level = TD_LOG_WARN;

static const char *s_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

void td_log_emit(int level, const char *area, const char *fmt, ...)
{
    char line[1024];
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    int n = (int)strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    n += snprintf(line + n, sizeof line - (size_t)n, ".%03dZ %s %s: ", (int)(tv.tv_usec / 1000),
                  s_names[level < 0 ? 0 : level > 3 ? 3 : level], area);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    n = m < 0 ? n : n + m >= (int)sizeof line - 1 ? (int)sizeof line - 2 : n + m;
    line[n++] = '\n';
    ssize_t w = write(2, line, (size_t)n);
    (void)w;
}

void td_log_set_level(const char *name)
{
    for (int i = 0; name && i < 4; i++)
        if (strcasecmp(name, s_names[i]) == 0)
            td_log_level = i;
}
