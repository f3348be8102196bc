/*
 * fuzz_nlu_entities.c — entity extraction on whatever a customer might send.
 *
 * The input is one message. Text that the text layer refuses (invalid
 * UTF-8, NUL bytes, too long) ends the run early, as it would end the
 * message's processing in the server. Otherwise the stadium bot's entities
 * (a beer choice, a quantity, a postal code, an order number pattern) are
 * extracted, and the run aborts if a result breaks a promise of
 * entities.h/numbers.h: spans inside the text and on token boundaries,
 * sorted, scores in (0, 1], numbers in range, values present. The bounded
 * edit distance is checked on the raw bytes too (symmetric, zero on
 * itself, never above max + 1), since it accepts any bytes.
 *
 * The set is built on every run: no state survives between inputs.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nlu/entities.h"
#include "nlu/numbers.h"
#include "text/analyze.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { EDIT_SAMPLE = 64 }; /* bytes of each half given to pal_edit_distance */

static pal_entity_set *stadium_set(void)
{
    static const char *const bud[] = {"bud", "budweiser"};
    static const char *const coors[] = {"coors", "coors light"};
    static const char *const corona[] = {"corona", "coronita"};
    pal_entity_set *set = pal_entity_set_new();
    if (pal_entity_set_add_choice(set, "beer", "bud", bud, 2) != PAL_OK ||
        pal_entity_set_add_choice(set, "beer", "coors", coors, 2) != PAL_OK ||
        pal_entity_set_add_choice(set, "beer", "corona", corona, 2) != PAL_OK ||
        pal_entity_set_add_number(set, "quantity", 1, 4) != PAL_OK ||
        pal_entity_set_add_postcode(set, "postcode") != PAL_OK ||
        pal_entity_set_add_pattern(set, "order", "\\bcmd-?(?<value>\\d{4,8})\\b", NULL, 0) !=
            PAL_OK)
        abort();
    return set;
}

static void check_edit_distance(const uint8_t *data, size_t size)
{
    size_t half = size / 2;
    pal_slice a = {(const char *)data, half < EDIT_SAMPLE ? half : EDIT_SAMPLE};
    pal_slice b = {(const char *)data + half,
                   size - half < EDIT_SAMPLE ? size - half : EDIT_SAMPLE};
    for (size_t max = 0; max <= 3; max++) {
        size_t ab = pal_edit_distance(a, b, max);
        if (ab > max + 1 || ab != pal_edit_distance(b, a, max))
            abort();
        if (pal_edit_distance(a, a, max) != 0)
            abort();
    }
}

static bool on_token_start(const pal_analysis *analysis, size_t offset)
{
    for (size_t i = 0; i < analysis->n_tokens; i++) {
        if (analysis->tokens[i].start == offset)
            return true;
    }
    return false;
}

static void check_numbers(const pal_analysis *analysis, pal_arena *arena)
{
    pal_number_match *m;
    size_t n;
    if (pal_numbers_extract(analysis, arena, &m, &n) != PAL_OK)
        abort();
    for (size_t i = 0; i < n; i++) {
        if (m[i].tok_start >= m[i].tok_end || m[i].tok_end > analysis->n_tokens)
            abort();
        if (i > 0 && m[i].tok_start < m[i - 1].tok_end)
            abort(); /* overlapping or out of order */
        if (!(m[i].value >= 0) || m[i].value > 1e15)
            abort(); /* negative, NaN or absurd */
    }
}

static void check_entities(const pal_analysis *analysis, const pal_entity *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!e[i].entity || !e[i].value || e[i].start >= e[i].end || e[i].end > analysis->norm.len)
            abort();
        if (!(e[i].score > 0.0f && e[i].score <= 1.0f))
            abort();
        if (i > 0 && e[i - 1].start > e[i].start)
            abort();
        if (e[i].kind == PAL_ENTITY_NUMBER && (e[i].number < 1 || e[i].number > 4))
            abort();
        if (e[i].kind == PAL_ENTITY_CHOICE && !on_token_start(analysis, e[i].start))
            abort();
        if (e[i].kind == PAL_ENTITY_POSTCODE && strlen(e[i].value) != 5)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pal_analyzer *analyzer = NULL;
    pal_entity_set *set = NULL;
    pal_arena *arena = NULL;
    pal_analysis analysis;
    pal_entity *entities;
    size_t count;

    check_edit_distance(data, size);

    if (pal_analyzer_new(&analyzer) != PAL_OK)
        abort();
    if (pal_analyze(analyzer, (const char *)data, size, PAL_LANG_UNKNOWN, &analysis) != PAL_OK)
        goto out; /* invalid UTF-8, NUL byte, too long: refused upstream */

    set = stadium_set();
    arena = pal_arena_new();
    check_numbers(&analysis, arena);
    if (pal_entity_set_extract(set, &analysis, arena, &entities, &count) != PAL_OK)
        abort();
    check_entities(&analysis, entities, count);
out:
    pal_arena_free(arena);
    pal_entity_set_free(set);
    pal_analyzer_free(analyzer);
    return 0;
}
