/*
 * log.h — structured logging: one JSON object per line on stderr.
 *
 * pal_log(PAL_LOG_INFO, "store", "opened %s", path) writes
 *   {"ts":"2026-11-23T18:00:00.123Z","level":"info","module":"store","msg":"opened …"}
 * The message is JSON-escaped. Never log secrets or full message bodies at
 * info level.
 *
 * The threshold is the one piece of process-wide state outside main: it is
 * set once by main (pal_log_set_level) before any thread starts, and read
 * with relaxed atomics afterwards. Filtered calls cost one comparison.
 * pal_log is thread-safe (one write(2) per line).
 */
#ifndef PAL_BASE_LOG_H
#define PAL_BASE_LOG_H

#include <stdbool.h>

typedef enum pal_log_level {
    PAL_LOG_DEBUG = 0,
    PAL_LOG_INFO,
    PAL_LOG_WARN,
    PAL_LOG_ERR,
    PAL_LOG_OFF,
} pal_log_level;

void pal_log_set_level(pal_log_level level);
bool pal_log_enabled(pal_log_level level);
/* Parses "debug|info|warn|error|off"; false when the name is unknown. */
bool pal_log_level_parse(const char *name, pal_log_level *out);

void pal_log_write(pal_log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define pal_log(level, module, ...)                                                                \
    do {                                                                                           \
        if (pal_log_enabled(level))                                                                \
            pal_log_write(level, module, __VA_ARGS__);                                             \
    } while (0)

#endif
