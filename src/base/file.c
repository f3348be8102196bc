/*
 * file.c — see file.h. Reads one byte past the cap to tell a larger file,
 * retrying reads interrupted by signals.
 */
#include "base/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/mem.h"

pal_err pal_file_read(const char *path, size_t max, char **text, size_t *len, char *errbuf,
                      size_t errlen)
{
    pal_err err = PAL_ERR_IO;
    char *buf = NULL;
    size_t used = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    *text = NULL;
    *len = 0;
    if (fd < 0) {
        pal_err_format(errbuf, errlen, "%s: %s", path, strerror(errno));
        goto out;
    }
    buf = pal_xmalloc(max + 2);
    for (;;) {
        ssize_t got = read(fd, buf + used, max + 1 - used);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            pal_err_format(errbuf, errlen, "%s: %s", path, strerror(errno));
            goto out;
        }
        if (got == 0)
            break;
        used += (size_t)got;
        if (used > max) {
            pal_err_format(errbuf, errlen, "%s: larger than %zu bytes", path, max);
            err = PAL_ERR_LIMIT;
            goto out;
        }
    }
    buf[used] = '\0';
    *text = buf;
    *len = used;
    buf = NULL;
    err = PAL_OK;
out:
    free(buf);
    if (fd >= 0)
        close(fd);
    return err;
}
