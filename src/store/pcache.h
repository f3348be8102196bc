/*
 * pcache.h — SQLite's own page cache, minus a scan of the whole cache at every commit.
 *
 * At the end of every transaction SQLite asks its page cache to drop the pages past the
 * end of the database (xTruncate). Its cache (pcache1) does that by scanning its whole hash
 * table whenever a page number much larger than the database was ever used, and B-tree
 * balancing does use one: when it swaps two pages it parks one at the page after SQLite's
 * pending byte (page 262,145 at 4 KiB), and from then on pcache1 believes such a page may
 * be cached. On a busy writer with a 64 MiB cache that scan was 15–20% of the writer's CPU
 * (bench/http, perf).
 *
 * The wrapper installed here forwards everything to pcache1 and notes which pages past
 * the end of the database each cache holds, so that a truncation with nothing to drop is
 * not passed on. When it cannot tell (many such pages, or a truncation below the last one),
 * it passes the call on: it can only save work, never skip a page that must go.
 *
 * Process-wide, like every SQLite setting: call pal_store_pcache_install() from main before
 * any other SQLite call. It keeps pcache1's methods in a static, written once there.
 */
#ifndef PAL_STORE_PCACHE_H
#define PAL_STORE_PCACHE_H

#include <stdbool.h>

/* Installs the wrapper. Returns false when SQLite refused (already initialised: then its
 * own cache stays, which is correct, only slower). */
bool pal_store_pcache_install(void);

#endif
