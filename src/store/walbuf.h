/*
 * walbuf.h — the writer's WAL writes gathered into one write per commit.
 *
 * SQLite writes a commit to the write-ahead log frame by frame, each frame as two writes
 * (its 24-byte header, then the page): ~46 pwrite calls for a batch of ~23 messages
 * (bench/http, perf trace), each paying the kernel's per-call cost. This SQLite VFS is the
 * default one except for WAL files, whose writes it gathers in memory while they follow each
 * other, and writes in one call:
 *  - at the end of the commit's last frame (the one whose header carries the database size),
 *    so before SQLite publishes the commit in the WAL index and before anyone, another
 *    connection or an fsync, can look for it; an error is returned by that write, which
 *    fails the commit as SQLite's own would;
 *  - before anything else is done with the file (read, size, sync, truncate, close, file
 *    control), when a write does not follow the previous one, and past 1 MiB.
 * What is gathered but not yet written is never part of a published commit, so a crash
 * loses only what SQLite would not have counted as committed either.
 *
 * Process-wide, like every SQLite setting: call pal_store_walbuf_install() from main after
 * the sqlite3_config() calls (it starts SQLite) and before any database is opened. The
 * store's writer then opens its database with this VFS (readers need not: they only read).
 */
#ifndef PAL_STORE_WALBUF_H
#define PAL_STORE_WALBUF_H

#include <stdbool.h>

#define PAL_STORE_WALBUF_VFS "palabre-walbuf"

/* Registers the VFS (not as the default). False when SQLite refused. Idempotent. */
bool pal_store_walbuf_install(void);

#endif
