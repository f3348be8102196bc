/*
 * fuzz_dialog_csv.c — any bytes as a bot's CSV data file. A load either fails
 * with a message naming the file (and, past the name, line and column), or
 * gives a table that a SELECT reads back as valid UTF-8 without NUL bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dialog/botdata.h"
#include "text/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pal_botdata *bd = NULL;
    pal_botdata_query *q = NULL;
    pal_arena *arena = NULL;
    char err[256] = "";
    pal_err e = pal_botdata__open_text("fuzz.csv", (const char *)data, size, &bd, err, sizeof(err));
    if (e != PAL_OK) {
        if (strncmp(err, "fuzz.csv:", 9) != 0 || bd)
            abort(); /* every error names the file, and nothing is returned */
        return 0;
    }
    if (pal_botdata_prepare(bd, "SELECT * FROM fuzz", &q, err, sizeof(err)) != PAL_OK)
        abort();
    arena = pal_arena_new();
    pal_botdata_rows rows;
    if (pal_botdata_run(q, NULL, NULL, 0, SIZE_MAX, arena, &rows) != PAL_OK || rows.n_cols == 0)
        abort();
    for (size_t i = 0; i < rows.n_rows * rows.n_cols; i++) {
        const char *v = rows.values[i];
        if (v && pal_utf8_check_text(v, strlen(v), NULL) != PAL_OK)
            abort();
    }
    pal_arena_free(arena);
    pal_botdata_query_free(q);
    pal_botdata_close(bd);
    return 0;
}
