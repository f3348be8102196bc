/*
 * log.c — JSON-lines logger on stderr.
 */
#include "base/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_int log_threshold = PAL_LOG_INFO;

void pal_log_set_level(pal_log_level level)
{
    atomic_store_explicit(&log_threshold, (int)level, memory_order_relaxed);
}

bool pal_log_enabled(pal_log_level level)
{
    return (int)level >= atomic_load_explicit(&log_threshold, memory_order_relaxed) &&
           level != PAL_LOG_OFF;
}

bool pal_log_level_parse(const char *name, pal_log_level *out)
{
    static const char *const names[] = {"debug", "info", "warn", "error", "off"};
    for (int i = 0; i < 5; i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (pal_log_level)i;
            return true;
        }
    }
    return false;
}

/* Appends s to out as JSON string content; returns the new length, never past cap-1. */
static size_t json_escape_into(char *out, size_t len, size_t cap, const char *s)
{
    for (; *s && len + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[len++] = '\\';
            out[len++] = (char)c;
        } else if (c < 0x20) {
            len += (size_t)snprintf(out + len, cap - len, "\\u%04x", c);
        } else {
            out[len++] = (char)c;
        }
    }
    out[len] = '\0';
    return len;
}

void pal_log_write(pal_log_level level, const char *module, const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warn", "error", "off"};
    char msg[2048];
    char line[4608];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    int head = snprintf(line, sizeof(line),
                        "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\","
                        "\"module\":\"",
                        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                        tm.tm_sec, now.tv_nsec / 1000000, names[level]);
    size_t len = head > 0 ? (size_t)head : 0;
    len = json_escape_into(line, len, sizeof(line) - 16, module);
    memcpy(line + len, "\",\"msg\":\"", 9);
    len += 9;
    len = json_escape_into(line, len, sizeof(line) - 4, msg);
    memcpy(line + len, "\"}\n", 3);
    len += 3;
    /* One write per line keeps lines whole when threads log at once. */
    ssize_t written = write(STDERR_FILENO, line, len);
    (void)written;
}
