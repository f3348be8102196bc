/*
 * err.c — descriptions of palabre's error codes.
 */
#include "base/err.h"

#include <stdarg.h>
#include <stdio.h>

const char *pal_err_str(pal_err err)
{
    switch (err) {
    case PAL_OK:
        return "ok";
    case PAL_ERR_INVALID:
        return "invalid argument or input";
    case PAL_ERR_UTF8:
        return "invalid UTF-8 text";
    case PAL_ERR_LIMIT:
        return "size or count limit exceeded";
    case PAL_ERR_IO:
        return "input/output error";
    case PAL_ERR_PARSE:
        return "parse error";
    case PAL_ERR_NOT_FOUND:
        return "not found";
    case PAL_ERR_STATE:
        return "invalid state for this operation";
    case PAL_ERR_INTERNAL:
        return "internal error";
    }
    return "unknown error";
}

void pal_err_format(char *errbuf, size_t errlen, const char *fmt, ...)
{
    if (!errbuf || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
}
