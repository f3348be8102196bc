/*
 * main.c — the palabre program: everything else lives in libpalabre.
 */
#include <sqlite3.h>

#include "cli/cli.h"

int main(int argc, char **argv)
{
    /* Process-wide settings belong here, before any thread or library use.
     * SQLite's memory statistics take one global lock on every allocation,
     * which serialises bot look-ups across cores; palabre does not use them. */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    return pal_cli_main(argc, argv);
}
