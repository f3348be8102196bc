/*
 * numbers.h — numbers written in digits or in words, French and English.
 *
 * Finds "3", "3,5", "3.5", "deux", "vingt-deux", "quatre-vingt-dix-sept",
 * "soixante et onze", "mille deux cents", "two", "twenty-two",
 * "one hundred and five", "a dozen", "une douzaine", "a couple", "a pair"
 * in an analysed message. Works on the folded tokens, so "dîx" or "DEUX"
 * are fine; hyphenated numbers arrive as separate tokens (the tokeniser
 * splits hyphens) and are joined again here.
 *
 * Pure and thread-safe.
 */
#ifndef PAL_NLU_NUMBERS_H
#define PAL_NLU_NUMBERS_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "base/mem.h"
#include "text/analyze.h"

typedef struct pal_number_match {
    size_t tok_start; /* first token of the number */
    size_t tok_end;   /* one past its last token */
    double value;
    bool in_words; /* written in words rather than digits */
    bool weak;     /* a lone article-like word that may not be a number:
                      "un", "une", "one" ("une bière" is 1, "one of them" is not) */
} pal_number_match;

/* All numbers in the analysis, in text order, not overlapping, each value
 * in [0, 10^15].
 * *out (OUT) is allocated in arena; *count (OUT) its length. */
pal_err pal_numbers_extract(const pal_analysis *analysis, pal_arena *arena, pal_number_match **out,
                            size_t *count);

/* The value of a single number word in French or English ("douze", "twelve",
 * "seize"); false when word (folded) is not one. Used for spelling tolerance. */
bool pal_number_word_value(pal_slice word, double *value);

#endif
