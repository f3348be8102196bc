/*
 * walbuf.c — a SQLite VFS that gathers the WAL's writes of a commit (walbuf.h says why and
 * when they are written).
 */
#include "store/walbuf.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum {
    WAL_FRAME_HEADER_BYTES = 24, /* SQLite's WAL format: a frame's header */
    GATHER_LIMIT = 1 << 20,      /* a transaction bigger than this is written in pieces */
    /* The default VFS writes at most 128 KiB - 1 per call (it masks the length with
     * 0x1ffff) and reports a write of an exact multiple of 128 KiB as a full disk: gathered
     * bytes go down in pieces of this size (31 pages of 4 KiB). */
    WRITE_PIECE_BYTES = 0x1f000,
};

/* A WAL file: SQLite's own (the default VFS's), after the bytes gathered for it. */
typedef struct wal_file {
    sqlite3_file base;   /* base.pMethods: &wal_methods */
    sqlite3_file *real;  /* the default VFS's file, in the same allocation, after this */
    unsigned char *data; /* gathered bytes, for [offset, offset + n) of the file */
    size_t n, cap;
    sqlite3_int64 offset;
    int commit_frame; /* the header just gathered is a commit's: write after its page */
} wal_file;

/* The default VFS at install time, and ours: written once by pal_store_walbuf_install(),
 * before SQLite starts; SQLite's xOpen takes no argument to carry them. */
static sqlite3_vfs *real_vfs;
static sqlite3_vfs walbuf_vfs;

/* Aligned so that the default VFS's file can follow a wal_file in one allocation. */
#define WAL_FILE_BYTES ((sizeof(wal_file) + 15) & ~(size_t)15)

static int write_gathered(wal_file *f)
{
    int rc = SQLITE_OK;
    for (size_t done = 0; done < f->n && rc == SQLITE_OK; done += WRITE_PIECE_BYTES) {
        size_t piece = f->n - done < WRITE_PIECE_BYTES ? f->n - done : WRITE_PIECE_BYTES;
        rc = f->real->pMethods->xWrite(f->real, f->data + done, (int)piece,
                                       f->offset + (sqlite3_int64)done);
    }
    f->n = 0;
    return rc;
}

static int gather(wal_file *f, const void *data, int amount, sqlite3_int64 offset)
{
    size_t need = f->n + (size_t)amount;
    if (need > f->cap) {
        size_t cap = f->cap ? f->cap : 64 * 1024;
        while (cap < need)
            cap *= 2;
        unsigned char *grown = realloc(f->data, cap);
        if (!grown)
            return SQLITE_NOMEM;
        f->data = grown;
        f->cap = cap;
    }
    if (f->n == 0)
        f->offset = offset;
    memcpy(f->data + f->n, data, (size_t)amount);
    f->n = need;
    return SQLITE_OK;
}

/* A frame header says in its bytes 4-7 (big-endian) the database's size in pages after the
 * commit, for a commit's last frame, and 0 for the others. */
static int is_commit_header(const void *data, int amount)
{
    const unsigned char *h = data;
    return amount == WAL_FRAME_HEADER_BYTES && (h[4] | h[5] | h[6] | h[7]) != 0;
}

static int wal_write(sqlite3_file *file, const void *data, int amount, sqlite3_int64 offset)
{
    wal_file *f = (wal_file *)file;
    int rc = SQLITE_OK;
    if (f->n > 0 && offset != f->offset + (sqlite3_int64)f->n)
        rc = write_gathered(f); /* not the next bytes: write what came before first */
    if (rc == SQLITE_OK)
        rc = gather(f, data, amount, offset);
    if (rc != SQLITE_OK) {
        f->n = 0;
        f->commit_frame = 0;
        return rc == SQLITE_NOMEM ? rc : SQLITE_IOERR_WRITE;
    }
    if (is_commit_header(data, amount)) {
        f->commit_frame = 1;
    } else if (f->commit_frame || f->n >= GATHER_LIMIT) {
        f->commit_frame = 0;
        rc = write_gathered(f);
    }
    return rc;
}

static int wal_close(sqlite3_file *file)
{
    wal_file *f = (wal_file *)file;
    int rc = write_gathered(f);
    int close_rc = f->real->pMethods ? f->real->pMethods->xClose(f->real) : SQLITE_OK;
    free(f->data);
    f->data = NULL;
    f->cap = 0;
    return rc != SQLITE_OK ? rc : close_rc;
}

static int wal_read(sqlite3_file *file, void *data, int amount, sqlite3_int64 offset)
{
    wal_file *f = (wal_file *)file;
    int rc = write_gathered(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xRead(f->real, data, amount, offset);
}

static int wal_truncate(sqlite3_file *file, sqlite3_int64 size)
{
    wal_file *f = (wal_file *)file;
    int rc = write_gathered(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xTruncate(f->real, size);
}

static int wal_sync(sqlite3_file *file, int flags)
{
    wal_file *f = (wal_file *)file;
    int rc = write_gathered(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xSync(f->real, flags);
}

static int wal_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
    wal_file *f = (wal_file *)file;
    int rc = write_gathered(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileSize(f->real, size);
}

static int wal_lock(sqlite3_file *file, int lock)
{
    wal_file *f = (wal_file *)file;
    return f->real->pMethods->xLock(f->real, lock);
}

static int wal_unlock(sqlite3_file *file, int lock)
{
    wal_file *f = (wal_file *)file;
    return f->real->pMethods->xUnlock(f->real, lock);
}

static int wal_check_reserved_lock(sqlite3_file *file, int *out)
{
    wal_file *f = (wal_file *)file;
    return f->real->pMethods->xCheckReservedLock(f->real, out);
}

static int wal_file_control(sqlite3_file *file, int op, void *arg)
{
    wal_file *f = (wal_file *)file;
    int rc = write_gathered(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileControl(f->real, op, arg);
}

static int wal_sector_size(sqlite3_file *file)
{
    wal_file *f = (wal_file *)file;
    return f->real->pMethods->xSectorSize(f->real);
}

static int wal_device_characteristics(sqlite3_file *file)
{
    wal_file *f = (wal_file *)file;
    return f->real->pMethods->xDeviceCharacteristics(f->real);
}

static const sqlite3_io_methods wal_methods = {
    .iVersion = 1,
    .xClose = wal_close,
    .xRead = wal_read,
    .xWrite = wal_write,
    .xTruncate = wal_truncate,
    .xSync = wal_sync,
    .xFileSize = wal_file_size,
    .xLock = wal_lock,
    .xUnlock = wal_unlock,
    .xCheckReservedLock = wal_check_reserved_lock,
    .xFileControl = wal_file_control,
    .xSectorSize = wal_sector_size,
    .xDeviceCharacteristics = wal_device_characteristics,
};

/* Every file but a WAL is the default VFS's own, in the memory SQLite gave; a WAL is wrapped. */
static int walbuf_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *file, int flags,
                       int *out_flags)
{
    (void)vfs;
    if (!(flags & SQLITE_OPEN_WAL))
        return real_vfs->xOpen(real_vfs, name, file, flags, out_flags);
    wal_file *f = (wal_file *)file;
    memset(f, 0, sizeof(*f));
    f->real = (sqlite3_file *)((unsigned char *)file + WAL_FILE_BYTES);
    int rc = real_vfs->xOpen(real_vfs, name, f->real, flags, out_flags);
    /* SQLite calls xClose after a failed xOpen when pMethods is set: only if the real
     * file needs closing too. */
    f->base.pMethods = f->real->pMethods ? &wal_methods : NULL;
    return rc;
}

bool pal_store_walbuf_install(void)
{
    if (sqlite3_vfs_find(PAL_STORE_WALBUF_VFS))
        return true;
    sqlite3_vfs *real = sqlite3_vfs_find(NULL);
    if (!real)
        return false;
    real_vfs = real;
    /* The default VFS's other methods only read its own fields, copied here. */
    walbuf_vfs = *real;
    walbuf_vfs.pNext = NULL;
    walbuf_vfs.zName = PAL_STORE_WALBUF_VFS;
    walbuf_vfs.szOsFile = (int)(WAL_FILE_BYTES + (size_t)real->szOsFile);
    walbuf_vfs.xOpen = walbuf_open;
    return sqlite3_vfs_register(&walbuf_vfs, 0) == SQLITE_OK;
}
