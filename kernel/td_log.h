/* td_log.h: the executables' log sink. Lines go to stderr as
 *   2025-01-01T12:00:00.123Z WARN kernel.core: text
 * The level is checked before any formatting. Never log message content, tokens or keys. */
#ifndef TD_LOG_H
#define TD_LOG_H

typedef enum { TD_LOG_DEBUG, TD_LOG_INFO, TD_LOG_WARN, TD_LOG_ERROR } td_log_level_t;

extern int td_log_level;

#define TD_LOG(lvl, area, ...)                                                                     \
    do {                                                                                           \
        if ((lvl) >= td_log_level)                                                                 \
            td_log_emit((lvl), (area), __VA_ARGS__);                                               \
    } while (0)

/* Formats and writes one line to stderr (thread-safe: one write per line). */
void td_log_emit(int level, const char *area, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sets td_log_level from a name ("debug", "info", "warn", "error"); unknown names are ignored. */
void td_log_set_level(const char *name);

#endif
