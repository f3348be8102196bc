/*
 * fuzz_text_analyze.c — any bytes through the whole text layer: UTF-8
 * check, normalisation, folding, tokenisation, language, stemming.
 * Invalid input must be refused with an error, never crash or read past
 * its end.
 */
#include <stdint.h>
#include <stdlib.h>

#include "text/analyze.h"
#include "text/normalize.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pal_analyzer *analyzer = NULL;
    if (pal_analyzer_new(&analyzer) != PAL_OK)
        abort();
    pal_analysis a;
    if (pal_analyze(analyzer, (const char *)data, size, PAL_LANG_UNKNOWN, &a) == PAL_OK) {
        /* Every token must lie inside the normalised text. */
        for (size_t i = 0; i < a.n_tokens; i++) {
            if ((size_t)a.tokens[i].start + a.tokens[i].len > a.norm.len)
                abort();
        }
        pal_slice folded;
        if (pal_text_fold(pal_analyzer_arena(analyzer), a.norm.ptr, a.norm.len, &folded) != PAL_OK)
            abort(); /* normalised text is valid UTF-8 by construction */
    }
    pal_analyzer_free(analyzer);
    return 0;
}
