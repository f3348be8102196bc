/*
 * main.c — the palabre program: everything else lives in libpalabre.
 */
#include <malloc.h>
#include <stdio.h>

#include <curl/curl.h>
#include <sqlite3.h>

#include "cli/cli.h"
#include "store/pcache.h"
#include "store/walbuf.h"

int main(int argc, char **argv)
{
    /* Process-wide settings belong here, before any thread or library use.
     * SQLite's memory statistics take one global lock on every allocation,
     * which serialises bot look-ups across cores; palabre does not use them. */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    /* SQLite's page cache without its scan of the whole cache at every commit; should
     * SQLite refuse, its own cache stays (correct, slower). */
    (void)pal_store_pcache_install();
    /* The store's WAL written once per commit (after the settings: this starts SQLite);
     * should SQLite refuse, the store writes through the default VFS. */
    (void)pal_store_walbuf_install();
    /* Large blocks straight from the kernel, always: glibc otherwise raises this
     * threshold after the first large free (loading a bot frees several MB), and
     * the server's big zeroed tables (the rate limiters' slots, sized for a
     * million keys) then come from the heap, where calloc must write every page:
     * ~25 MB resident at start for tables that fill only as customers come. */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    /* libcurl's global state (TLS) must be set up once, before any thread:
     * service calls (dialog/http_actions.h) rely on it. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fputs("palabre: libcurl could not be initialised\n", stderr);
        return 1;
    }
    int rc = pal_cli_main(argc, argv);
    curl_global_cleanup();
    return rc;
}
