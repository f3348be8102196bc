/*
 * entities.h — what a message says besides its intent: choices, numbers,
 * postal codes, and patterns a bot defines.
 *
 * An entity set is built once (when a bot loads) and is then immutable and
 * thread-safe to extract with. Kinds:
 *   choice   : a closed list of values, each with synonyms ("bud":
 *              ["bud", "budweiser"]); matched on folded text, multi-word
 *              synonyms first; tolerant of typos (bounded edit distance
 *              that grows with word length) and plurals ("coronas").
 *   number   : pal_numbers_extract, kept when within [min, max].
 *   postcode : a French postal code (five digits, 01000..98999).
 *   pattern  : a PCRE2 regular expression (UTF, case-insensitive) over the
 *              normalised text; the value is the whole match, or the group
 *              named "value" when the pattern has one.
 */
#ifndef PAL_NLU_ENTITIES_H
#define PAL_NLU_ENTITIES_H

#include <stddef.h>

#include "base/err.h"
#include "base/mem.h"
#include "text/analyze.h"

typedef struct pal_entity_set pal_entity_set; /* opaque */

typedef enum pal_entity_kind {
    PAL_ENTITY_CHOICE = 0,
    PAL_ENTITY_NUMBER,
    PAL_ENTITY_POSTCODE,
    PAL_ENTITY_PATTERN,
} pal_entity_kind;

/* A new empty set; caller frees with pal_entity_set_free(). */
pal_entity_set *pal_entity_set_new(void);
/* NULL is a no-op. */
void pal_entity_set_free(pal_entity_set *set);

/* Adds value (canonical, e.g. "coors") of choice entity `entity` with its
 * synonyms (any case and accents; the value itself is always a synonym).
 * Strings are copied. PAL_ERR_INVALID on empty names or invalid UTF-8;
 * PAL_ERR_STATE if `entity` already exists with another kind. */
pal_err pal_entity_set_add_choice(pal_entity_set *set, const char *entity, const char *value,
                                  const char *const *synonyms, size_t n_synonyms);

/* A number entity accepting values in [min, max]. */
pal_err pal_entity_set_add_number(pal_entity_set *set, const char *entity, double min, double max);

/* A French postal code entity. */
pal_err pal_entity_set_add_postcode(pal_entity_set *set, const char *entity);

/* A pattern entity. On PAL_ERR_PARSE, errbuf (errlen bytes, may be NULL)
 * gets PCRE2's message and offset. */
pal_err pal_entity_set_add_pattern(pal_entity_set *set, const char *entity, const char *regex,
                                   char *errbuf, size_t errlen);

typedef struct pal_entity {
    const char *entity; /* name; owned by the set */
    pal_entity_kind kind;
    const char *value; /* canonical value: choice value, number ("3", "3.5"),
                          postcode, or matched text; owned by the arena */
    double number;     /* numeric value for PAL_ENTITY_NUMBER, else 0 */
    size_t start, end; /* byte span in analysis->norm */
    float score;       /* 1 for an exact match, less for a fuzzy one */
} pal_entity;

/* Every entity found in the analysis, in text order; overlapping matches of
 * the same entity keep the best. *out (OUT) in arena, *count (OUT). */
pal_err pal_entity_set_extract(const pal_entity_set *set, const pal_analysis *analysis,
                               pal_arena *arena, pal_entity **out, size_t *count);

/* Bounded Damerau-Levenshtein distance between two UTF-8 strings (by code
 * point); returns max+1 as soon as the distance exceeds max. */
size_t pal_edit_distance(pal_slice a, pal_slice b, size_t max);

#endif
