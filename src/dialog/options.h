/*
 * options.h — which of a few options a customer's answer names.
 *
 * When the bot offers a closed list (an ask's inline choices, rows of a
 * look-up to choose from), customers answer with the button's text, a part
 * of it ("la nouvelle", "montmartre please"), a typo ("bastile"), or the
 * button's number ("2", "la 2") or rank ("la troisième", "the 2nd"). An
 * option may be known by several texts (its value and its label in each
 * language); all go through the same normalisation and tokenisation as an
 * answer, and are compared in a folded form that keeps only words
 * ("Carte **** 0345" -> "carte 0345", "Marseille 13e" -> "marseille 13 e").
 *
 * Matching, first rule that names exactly one option wins:
 *   1. the whole answer equals one of the option's texts;
 *   2. the answer is only a number k (with at most an article: "la 2",
 *      "the 2", "n° 2") and 1 <= k <= the options shown;
 *   3. the option whose texts share the most words with the answer: words
 *      of three letters or more (equal, or one edit apart from four letters
 *      on) and numbers of any length ("13" of "le 13e");
 *   4. when no option shares a word: the answer is only an ordinal k (with
 *      at most an article: "le premier", "la 3e", "the third one") and
 *      1 <= k <= the options shown.
 * Two options tied at the best rule: not a choice ("coors or bud").
 *
 * Everything lives in the caller's arena. Pure; thread-safe with one arena
 * per thread.
 */
#ifndef PAL_DIALOG_OPTIONS_H
#define PAL_DIALOG_OPTIONS_H

#include <stddef.h>

#include "base/mem.h"
#include "base/slice.h"
#include "text/analyze.h"

typedef struct pal_options {
    pal_arena *arena; /* borrowed */
    pal_slice *texts; /* folded words of each text */
    int *option;      /* the option each text names */
    size_t n, cap;
    int n_options;  /* 1 + the largest option index added */
    int n_numbered; /* options the customer may name by number: 1..n_numbered */
} pal_options;

/* Starts an empty list for at most capacity texts, in arena (borrowed). */
void pal_options_init(pal_options *options, pal_arena *arena, size_t capacity);

/* Adds text (borrowed for the call; NULL or invalid UTF-8 is skipped) as a
 * name of option (>= 0). Beyond the capacity, texts are ignored. */
void pal_options_add(pal_options *options, const char *text, int option);

/* The option answer names (see the top of this file), or -1. */
int pal_options_match(const pal_options *options, const pal_analysis *answer);

/* k when the answer is only the number k written in digits (see rule 2),
 * else 0. */
long pal_options_bare_number(const pal_analysis *answer);

#endif
