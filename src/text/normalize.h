/*
 * normalize.h — the two canonical forms of a text that palabre compares.
 *
 * normalised: Unicode NFKC with case folding (utf8proc); typographic
 *   apostrophes (’ ‘ ʼ ´ `) become ', control characters and runs of white
 *   space become one space, leading/trailing space is dropped.
 *   "RÉSULTAT  de l’équipe" -> "résultat de l'équipe"
 * folded: the normalised form with accents and other combining marks removed
 *   and ligatures split (œ->oe, æ->ae), so "Résultat", "resultat" and
 *   "RÉSULTAT" all fold to "resultat".
 *
 * Inputs must be valid UTF-8 without NUL (PAL_ERR_UTF8 otherwise). Results
 * are allocated in the arena given and live until it is reset. Thread-safe
 * as long as each thread uses its own arena.
 */
#ifndef PAL_TEXT_NORMALIZE_H
#define PAL_TEXT_NORMALIZE_H

#include <stddef.h>

#include "base/err.h"
#include "base/mem.h"
#include "base/slice.h"

/* The normalised form of s[0..len) (OUT *out, NUL-terminated, owned by arena). */
pal_err pal_text_normalize(pal_arena *arena, const char *s, size_t len, pal_slice *out);

/* The folded form of s[0..len), which may be raw or normalised text
 * (OUT *out, NUL-terminated, owned by arena). */
pal_err pal_text_fold(pal_arena *arena, const char *s, size_t len, pal_slice *out);

/* Convenience for one-off use (configuration, tests): the folded form of the
 * NUL-terminated s, or NULL when s is not valid UTF-8. Caller frees with free(). */
char *pal_text_fold_dup(const char *s);

#endif
