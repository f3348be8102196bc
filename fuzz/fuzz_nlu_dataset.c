/*
 * fuzz_nlu_dataset.c — any bytes as a TSV training file. A parse either
 * succeeds with well-formed examples or fails with a message naming a line.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nlu/dataset.h"
#include "text/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pal_dataset *d = pal_dataset_new();
    char err[256] = "";
    pal_err e = pal_dataset_parse(d, "fuzz.tsv", (const char *)data, size, err, sizeof(err));
    if (e == PAL_OK) {
        for (size_t i = 0; i < d->count; i++) {
            const char *text = d->examples[i].text;
            if (!d->examples[i].intent[0] || !pal_utf8_valid(text, strlen(text)))
                abort();
        }
    } else if (strncmp(err, "fuzz.tsv:", 9) != 0) {
        abort(); /* every error names the file */
    }
    pal_dataset_free(d);
    return 0;
}
