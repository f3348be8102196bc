/*
 * err.h — palabre's error codes.
 *
 * Every action in palabre returns a pal_err; PAL_OK is zero so that
 * `if (err)` reads naturally. Library errors are translated into one of
 * these once, at the module boundary that called the library.
 */
#ifndef PAL_BASE_ERR_H
#define PAL_BASE_ERR_H

#include <stddef.h>

typedef enum pal_err {
    PAL_OK = 0,
    PAL_ERR_INVALID,   /* an argument or input is malformed */
    PAL_ERR_UTF8,      /* text is not valid UTF-8 (or holds a NUL byte) */
    PAL_ERR_LIMIT,     /* input exceeds a size or count limit */
    PAL_ERR_IO,        /* a file or socket operation failed */
    PAL_ERR_PARSE,     /* a file or document could not be parsed */
    PAL_ERR_NOT_FOUND, /* the named thing does not exist */
    PAL_ERR_STATE,     /* the object is not in a state that allows this */
    PAL_ERR_INTERNAL,  /* a library we rely on failed unexpectedly */
} pal_err;

/* A short English description; never NULL, static storage. Thread-safe. */
const char *pal_err_str(pal_err err);

/* Writes a printf-style message into errbuf (errlen bytes, truncated,
 * always NUL-terminated); errbuf may be NULL or errlen 0, then nothing is
 * written. For the "errbuf, errlen" out-parameters of palabre's APIs. */
void pal_err_format(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
