/*
 * file.h — reading an author's file whole (a bot, a configuration), with a
 * hard cap: a file over it is refused without reading past it, so a huge
 * or endless file (a FIFO, /dev/zero) cannot grow memory.
 *
 * Threads: pal_file_read is thread-safe.
 */
#ifndef PAL_BASE_FILE_H
#define PAL_BASE_FILE_H

#include <stddef.h>

#include "base/err.h"

/* Reads path whole when it holds at most max bytes. On PAL_OK *text (OUT)
 * is its bytes plus a NUL (caller frees with free()) and *len their count.
 * Errors, errbuf saying "PATH: why": PAL_ERR_IO (cannot open or read),
 * PAL_ERR_LIMIT ("larger than MAX bytes"). */
pal_err pal_file_read(const char *path, size_t max, char **text, size_t *len, char *errbuf,
                      size_t errlen);

#endif
