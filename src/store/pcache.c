/*
 * pcache.c — pcache1 behind a wrapper that skips truncations with nothing to drop
 * (pcache.h says why).
 */
#include "store/pcache.h"

#include <sqlite3.h>
#include <stdlib.h>

/* Past-the-end pages one cache notes before it gives up and passes every truncation on. A
 * transaction adds a few (pages it appends) plus the balancing's parked page. */
enum { MAX_NOTED = 32 };

typedef struct wrapped_cache {
    sqlite3_pcache *inner;
    unsigned limit;            /* of the last truncation: pages from it on are past the end */
    bool unknown;              /* past-the-end pages may be cached that noted[] misses */
    unsigned n_noted;          /* noted[0..n_noted): past-the-end pages put in the cache */
    unsigned noted[MAX_NOTED]; /* (perhaps dropped since: then a truncation is passed on
                                  for nothing, which costs time, not correctness) */
} wrapped_cache;

/* pcache1's methods, copied by pal_store_pcache_install() before SQLite starts and read-only
 * from then on: SQLite's xCreate takes no argument to carry them. */
static sqlite3_pcache_methods2 inner_methods;

static void note(wrapped_cache *c, unsigned key)
{
    if (c->unknown || key < c->limit)
        return;
    for (unsigned i = 0; i < c->n_noted; i++)
        if (c->noted[i] == key)
            return;
    if (c->n_noted == MAX_NOTED)
        c->unknown = true;
    else
        c->noted[c->n_noted++] = key;
}

static void forget(wrapped_cache *c, unsigned key)
{
    for (unsigned i = 0; i < c->n_noted; i++)
        if (c->noted[i] == key) {
            c->noted[i] = c->noted[--c->n_noted];
            return;
        }
}

static int wrapped_init(void *arg)
{
    (void)arg;
    return inner_methods.xInit ? inner_methods.xInit(inner_methods.pArg) : SQLITE_OK;
}

static void wrapped_shutdown(void *arg)
{
    (void)arg;
    if (inner_methods.xShutdown)
        inner_methods.xShutdown(inner_methods.pArg);
}

static sqlite3_pcache *wrapped_create(int page_size, int extra_size, int purgeable)
{
    wrapped_cache *c = calloc(1, sizeof(*c)); /* SQLite handles NULL: out of memory */
    if (!c)
        return NULL;
    c->inner = inner_methods.xCreate(page_size, extra_size, purgeable);
    if (!c->inner) {
        free(c);
        return NULL;
    }
    c->unknown = true; /* nothing truncated yet: every page is past the end */
    return (sqlite3_pcache *)c;
}

static void wrapped_cachesize(sqlite3_pcache *cache, int n_pages)
{
    inner_methods.xCachesize(((wrapped_cache *)cache)->inner, n_pages);
}

static int wrapped_pagecount(sqlite3_pcache *cache)
{
    return inner_methods.xPagecount(((wrapped_cache *)cache)->inner);
}

static sqlite3_pcache_page *wrapped_fetch(sqlite3_pcache *cache, unsigned key, int create)
{
    wrapped_cache *c = (wrapped_cache *)cache;
    sqlite3_pcache_page *page = inner_methods.xFetch(c->inner, key, create);
    if (page)
        note(c, key);
    return page;
}

static void wrapped_unpin(sqlite3_pcache *cache, sqlite3_pcache_page *page, int discard)
{
    inner_methods.xUnpin(((wrapped_cache *)cache)->inner, page, discard);
}

static void wrapped_rekey(sqlite3_pcache *cache, sqlite3_pcache_page *page, unsigned old_key,
                          unsigned new_key)
{
    wrapped_cache *c = (wrapped_cache *)cache;
    inner_methods.xRekey(c->inner, page, old_key, new_key);
    forget(c, old_key);
    note(c, new_key);
}

/* Drops the pages from limit on: passed on unless the notes show there are none. */
static void wrapped_truncate(sqlite3_pcache *cache, unsigned limit)
{
    wrapped_cache *c = (wrapped_cache *)cache;
    bool pass = c->unknown || limit < c->limit;
    for (unsigned i = 0; i < c->n_noted && !pass; i++)
        pass = c->noted[i] >= limit;
    if (pass)
        inner_methods.xTruncate(c->inner, limit);
    c->limit = limit;
    c->n_noted = 0;
    c->unknown = false;
}

static void wrapped_destroy(sqlite3_pcache *cache)
{
    wrapped_cache *c = (wrapped_cache *)cache;
    inner_methods.xDestroy(c->inner);
    free(c);
}

static void wrapped_shrink(sqlite3_pcache *cache)
{
    inner_methods.xShrink(((wrapped_cache *)cache)->inner);
}

bool pal_store_pcache_install(void)
{
    static const sqlite3_pcache_methods2 wrapper = {
        .iVersion = 1,
        .xInit = wrapped_init,
        .xShutdown = wrapped_shutdown,
        .xCreate = wrapped_create,
        .xCachesize = wrapped_cachesize,
        .xPagecount = wrapped_pagecount,
        .xFetch = wrapped_fetch,
        .xUnpin = wrapped_unpin,
        .xRekey = wrapped_rekey,
        .xTruncate = wrapped_truncate,
        .xDestroy = wrapped_destroy,
        .xShrink = wrapped_shrink,
    };
    sqlite3_pcache_methods2 current = {0};
    if (sqlite3_config(SQLITE_CONFIG_GETPCACHE2, &current) != SQLITE_OK)
        return false;
    if (current.xCreate == wrapped_create) /* installed already */
        return true;
    inner_methods = current;
    if (sqlite3_config(SQLITE_CONFIG_PCACHE2, &wrapper) != SQLITE_OK)
        return false;
    return true;
}
