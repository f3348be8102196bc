/*
 * test_nlu_entities.c — choices, numbers, postal codes and patterns.
 *
 * The stadium beer order and #MonRésultat (SPEC.md §2) drive the cases: a
 * beer among Bud, Coors and Corona, however it is typed, a quantity of 1 to
 * 4 in digits or words, a postal code after a hashtag. Messages go through
 * the real text layer, as they would in production.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#include "nlu/entities.h"
#include "text/analyze.h"

typedef struct fixture {
    pal_analyzer *analyzer;
    pal_arena *arena;
    pal_entity_set *set;
    pal_analysis analysis;
} fixture;

/* The stadium bot's entities. */
static pal_entity_set *stadium_set(void)
{
    static const char *const bud[] = {"bud", "budweiser"};
    static const char *const coors[] = {"coors", "coors light"};
    static const char *const corona[] = {"corona"};
    pal_entity_set *set = pal_entity_set_new();
    if (pal_entity_set_add_choice(set, "beer", "bud", bud, 2) ||
        pal_entity_set_add_choice(set, "beer", "coors", coors, 2) ||
        pal_entity_set_add_choice(set, "beer", "corona", corona, 1) ||
        pal_entity_set_add_number(set, "quantity", 1, 4) ||
        pal_entity_set_add_number(set, "amount", 0, 1e9) ||
        pal_entity_set_add_postcode(set, "postcode") ||
        pal_entity_set_add_pattern(set, "order", "\\bcmd-?(?<value>\\d{4,8})\\b", NULL, 0) ||
        pal_entity_set_add_pattern(set, "seat", "\\bsiège\\s+[a-z]\\d{1,3}\\b", NULL, 0)) {
        pal_entity_set_free(set);
        return NULL;
    }
    return set;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (!f || pal_analyzer_new(&f->analyzer) != PAL_OK)
        return -1;
    f->arena = pal_arena_new();
    f->set = stadium_set();
    if (!f->set)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    pal_entity_set_free(f->set);
    pal_arena_free(f->arena);
    pal_analyzer_free(f->analyzer);
    free(f);
    return 0;
}

static size_t extract(fixture *f, const pal_entity_set *set, const char *text, pal_entity **out)
{
    size_t count = 0;
    pal_arena_reset(f->arena);
    assert_int_equal(pal_analyze(f->analyzer, text, strlen(text), PAL_LANG_UNKNOWN, &f->analysis),
                     PAL_OK);
    assert_int_equal(pal_entity_set_extract(set, &f->analysis, f->arena, out, &count), PAL_OK);
    /* Invariants every caller relies on. */
    for (size_t i = 0; i < count; i++) {
        assert_non_null((*out)[i].entity);
        assert_non_null((*out)[i].value);
        assert_true((*out)[i].start < (*out)[i].end);
        assert_true((*out)[i].end <= f->analysis.norm.len);
        assert_true((*out)[i].score > 0.0f && (*out)[i].score <= 1.0f);
        if (i > 0)
            assert_true((*out)[i - 1].start <= (*out)[i].start);
    }
    return count;
}

/* The first entity named `name`, or NULL. */
static const pal_entity *find(const pal_entity *e, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(e[i].entity, name) == 0)
            return &e[i];
    }
    return NULL;
}

static size_t count_named(const pal_entity *e, size_t n, const char *name)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += strcmp(e[i].entity, name) == 0;
    return k;
}

/* The text an entity covers, for messages. */
static void assert_span(const fixture *f, const pal_entity *e, const char *text)
{
    size_t len = strlen(text);
    assert_int_equal(e->end - e->start, len);
    assert_memory_equal(f->analysis.norm.ptr + e->start, text, len);
}

static void test_beer_order_in_words(void **state)
{
    fixture *f = *state;
    pal_entity *e;
    size_t n = extract(f, f->set, "deux corona svp", &e);

    const pal_entity *q = find(e, n, "quantity");
    assert_non_null(q);
    assert_int_equal(q->kind, PAL_ENTITY_NUMBER);
    assert_true(q->number == 2);
    assert_string_equal(q->value, "2");
    assert_true(q->score == 1.0f);
    assert_span(f, q, "deux");

    const pal_entity *b = find(e, n, "beer");
    assert_non_null(b);
    assert_int_equal(b->kind, PAL_ENTITY_CHOICE);
    assert_string_equal(b->value, "corona");
    assert_true(b->score == 1.0f);
    assert_span(f, b, "corona");
    assert_true(q->start < b->start);
}

static void test_beer_spellings(void **state)
{
    static const struct {
        const char *text;
        const char *beer;
        int exact;
    } cases[] = {
        {"Corona", "corona", 1},      {"CORONA!", "corona", 1},    {"Coronas", "corona", 0},
        {"corna", "corona", 0},       {"cornoa", "corona", 0},     {"coronnas", "corona", 0},
        {"coors light?", "coors", 1}, {"Coors-Light", "coors", 1}, {"coors", "coors", 1},
        {"cors", "coors", 0},         {"bud", "bud", 1},           {"Budweiser", "bud", 1},
        {"budwiser", "bud", 0},       {"budwieser", "bud", 0},     {"budweisers", "bud", 0},
        {"une bud stp", "bud", 1},    {"buds", "bud", 0},
    };
    fixture *f = *state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pal_entity *e;
        size_t n = extract(f, f->set, cases[i].text, &e);
        const pal_entity *b = find(e, n, "beer");
        if (!b || strcmp(b->value, cases[i].beer) != 0 || count_named(e, n, "beer") != 1)
            fail_msg("\"%s\": expected beer %s, got %s (%zu beers)", cases[i].text, cases[i].beer,
                     b ? b->value : "none", count_named(e, n, "beer"));
        if (cases[i].exact ? b->score != 1.0f : !(b->score < 1.0f && b->score >= 0.5f))
            fail_msg("\"%s\": score %g", cases[i].text, (double)b->score);
    }
}

static void test_beer_not_found(void **state)
{
    static const char *const texts[] = {
        "bod",      /* three letters: exact only */
        "bide",     /* two edits from bud */
        "cxrxna",   /* two edits on six letters */
        "heineken", /* another beer */
        "merci",    /* nothing */
        "🍺",        /* only emoji */
        "",         /* nothing at all */
    };
    fixture *f = *state;
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        pal_entity *e;
        size_t n = extract(f, f->set, texts[i], &e);
        const pal_entity *b = find(e, n, "beer");
        if (b)
            fail_msg("\"%s\": unexpected beer %s", texts[i], b->value);
    }
}

static void test_multiword_synonym_first(void **state)
{
    fixture *f = *state;
    /* "light" as another value: "coors light" must still be read as one
     * two-word synonym, not as coors + light. */
    static const char *const coors[] = {"coors light"};
    static const char *const light[] = {"light", "lite"};
    pal_entity_set *set = pal_entity_set_new();
    assert_int_equal(pal_entity_set_add_choice(set, "beer", "coors", coors, 1), PAL_OK);
    assert_int_equal(pal_entity_set_add_choice(set, "beer", "light", light, 2), PAL_OK);
    pal_entity *e;
    size_t n = extract(f, set, "une coors light", &e);
    assert_int_equal(count_named(e, n, "beer"), 1);
    assert_string_equal(e[0].value, "coors");
    assert_span(f, &e[0], "coors light");

    n = extract(f, set, "light", &e);
    assert_int_equal(n, 1);
    pal_entity_set_free(set);
    /* Values belong to the arena, not to the set. */
    assert_string_equal(e[0].value, "light");
}

static void test_shared_first_words(void **state)
{
    fixture *f = *state;
    static const char *const reine[] = {"pizza reine", "reine"};
    static const char *const margherita[] = {"pizza margherita"};
    pal_entity_set *set = pal_entity_set_new();
    assert_int_equal(pal_entity_set_add_choice(set, "dish", "pizza", NULL, 0), PAL_OK);
    assert_int_equal(pal_entity_set_add_choice(set, "dish", "reine", reine, 2), PAL_OK);
    assert_int_equal(pal_entity_set_add_choice(set, "dish", "margherita", margherita, 1), PAL_OK);

    /* A catalogue where hundreds of synonyms start with the same word. */
    for (int i = 0; i < 500; i++) {
        char value[32], synonym[32];
        snprintf(value, sizeof(value), "p%d", i);
        snprintf(synonym, sizeof(synonym), "produit %d", i);
        const char *const syn[] = {synonym};
        assert_int_equal(pal_entity_set_add_choice(set, "product", value, syn, 1), PAL_OK);
    }

    pal_entity *e;
    size_t n = extract(f, set, "une pizza reine et une pizza margarita", &e);
    assert_int_equal(count_named(e, n, "dish"), 2);
    assert_string_equal(e[0].value, "reine");
    assert_span(f, &e[0], "pizza reine");
    const pal_entity *m = &e[n - 1];
    assert_string_equal(m->value, "margherita");
    assert_true(m->score < 1.0f); /* two edits on a ten-letter word */

    n = extract(f, set, "Pizza!", &e);
    assert_int_equal(n, 1);
    assert_string_equal(e[0].value, "pizza");

    n = extract(f, set, "je veux le produit 42 et le produit 4", &e);
    assert_int_equal(count_named(e, n, "product"), 2);
    assert_string_equal(e[0].value, "p42");
    assert_string_equal(e[1].value, "p4");

    /* A long message against the catalogue: every token meets 500
     * synonyms; this must stay fast (the first word is compared once). */
    size_t big = PAL_TEXT_MAX_BYTES;
    char *text = malloc(big + 1);
    assert_non_null(text);
    const char *chunk = "voudrais produits produit 7 pizzas ";
    size_t cl = strlen(chunk);
    size_t used = 0;
    while (used + cl <= big) {
        memcpy(text + used, chunk, cl);
        used += cl;
    }
    text[used] = '\0';
    n = extract(f, set, text, &e);
    assert_int_equal(count_named(e, n, "product"), used / cl);
    assert_int_equal(count_named(e, n, "dish"), used / cl);
    free(text);
    pal_entity_set_free(set);
}

static void test_quantity_digits_and_words(void **state)
{
    static const struct {
        const char *text;
        double quantity; /* 0: no quantity in 1..4 */
    } cases[] = {
        {"3 coors please", 3}, {"non, 3", 3}, {"I'd like two", 2},
        {"quatre", 4},         {"4", 4},      {"vingt-deux", 0},
        {"5 coronas", 0},      {"0", 0},      {"2,5", 2.5},
    };
    fixture *f = *state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pal_entity *e;
        size_t n = extract(f, f->set, cases[i].text, &e);
        const pal_entity *q = find(e, n, "quantity");
        if (cases[i].quantity == 0 ? q != NULL : (!q || q->number != cases[i].quantity))
            fail_msg("\"%s\": expected quantity %g, got %g", cases[i].text, cases[i].quantity,
                     q ? q->number : 0.0);
    }

    pal_entity *e;
    size_t n = extract(f, f->set, "3 coors please", &e);
    assert_true(n >= 2);
    const pal_entity *q = find(e, n, "quantity");
    const pal_entity *b = find(e, n, "beer");
    assert_non_null(q);
    assert_non_null(b);
    assert_string_equal(b->value, "coors");
    assert_true(q->start < b->start);
}

static void test_amounts(void **state)
{
    static const struct {
        const char *text;
        double value;
        const char *string;
    } cases[] = {
        {"vingt-deux", 22, "22"}, {"quatre-vingt-dix-sept", 97, "97"},
        {"a dozen", 12, "12"},    {"one hundred and five", 105, "105"},
        {"3,5", 3.5, "3.5"},      {"mille deux cents", 1200, "1200"},
    };
    fixture *f = *state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pal_entity *e;
        size_t n = extract(f, f->set, cases[i].text, &e);
        const pal_entity *a = find(e, n, "amount");
        if (!a || a->number != cases[i].value || strcmp(a->value, cases[i].string) != 0)
            fail_msg("\"%s\": expected amount %s, got %s", cases[i].text, cases[i].string,
                     a ? a->value : "none");
        assert_int_equal(a->start, 0);
        assert_int_equal(a->end, f->analysis.norm.len);
    }
}

static void test_weak_number_scores_less(void **state)
{
    fixture *f = *state;
    pal_entity *e;
    size_t n = extract(f, f->set, "une corona", &e);
    const pal_entity *q = find(e, n, "quantity");
    assert_non_null(q);
    assert_true(q->number == 1);
    assert_true(q->score < 1.0f);
}

static void test_postcode(void **state)
{
    fixture *f = *state;
    pal_entity *e;
    size_t n = extract(f, f->set, "#MonRésultat 75011", &e);
    const pal_entity *p = find(e, n, "postcode");
    assert_non_null(p);
    assert_int_equal(p->kind, PAL_ENTITY_POSTCODE);
    assert_string_equal(p->value, "75011");
    assert_true(p->score == 1.0f);
    assert_int_equal(count_named(e, n, "postcode"), 1);

    n = extract(f, f->set, "#MonRésultat75011", &e);
    p = find(e, n, "postcode");
    assert_non_null(p);
    assert_string_equal(p->value, "75011");
    assert_true(p->score < 1.0f);

    n = extract(f, f->set, "01000 et 98999 mais pas 99000 ni 00500 ni 750110", &e);
    assert_int_equal(count_named(e, n, "postcode"), 2);
    assert_string_equal(find(e, n, "postcode")->value, "01000");

    n = extract(f, f->set, "#monresultat", &e);
    assert_null(find(e, n, "postcode"));
}

static void test_patterns(void **state)
{
    fixture *f = *state;
    pal_entity *e;
    size_t n = extract(f, f->set, "Ma commande CMD-12345 n'est pas arrivée", &e);
    const pal_entity *o = find(e, n, "order");
    assert_non_null(o);
    assert_int_equal(o->kind, PAL_ENTITY_PATTERN);
    assert_string_equal(o->value, "12345"); /* the group named "value" */
    assert_span(f, o, "cmd-12345");         /* the whole match */

    n = extract(f, f->set, "Siège B12, puis siège c7", &e);
    assert_int_equal(count_named(e, n, "seat"), 2);
    assert_string_equal(find(e, n, "seat")->value, "siège b12"); /* whole match, normalised */

    n = extract(f, f->set, "commandes cmd1234 et cmd-5678", &e);
    assert_int_equal(count_named(e, n, "order"), 2);
}

static void test_pattern_overlaps_keep_best(void **state)
{
    fixture *f = *state;
    pal_entity_set *set = pal_entity_set_new();
    /* Two patterns for one entity: the longer of two overlapping matches
     * (equal scores) is kept, a match elsewhere is kept too. */
    assert_int_equal(pal_entity_set_add_pattern(set, "code", "ab", NULL, 0), PAL_OK);
    assert_int_equal(pal_entity_set_add_pattern(set, "code", "abcd", NULL, 0), PAL_OK);
    assert_int_equal(pal_entity_set_add_pattern(set, "digits", "\\d{2}", NULL, 0), PAL_OK);
    assert_int_equal(pal_entity_set_add_pattern(set, "empty", "x*", NULL, 0), PAL_OK);
    pal_entity *e;
    size_t n = extract(f, set, "abcd zz ab 123456", &e);
    assert_int_equal(count_named(e, n, "code"), 2);
    assert_string_equal(e[0].value, "abcd");
    assert_int_equal(count_named(e, n, "digits"), 3);
    assert_int_equal(count_named(e, n, "empty"), 0); /* empty matches name nothing */
    pal_entity_set_free(set);
}

static void test_sorted_by_start(void **state)
{
    fixture *f = *state;
    pal_entity *e;
    size_t n = extract(f, f->set, "corona, 2 bud et trois coors pour cmd-99999 au 75011", &e);
    assert_true(n >= 7);
    for (size_t i = 1; i < n; i++)
        assert_true(e[i - 1].start <= e[i].start);
    assert_string_equal(e[0].value, "corona");
}

static void test_add_errors(void **state)
{
    (void)state;
    pal_entity_set *set = pal_entity_set_new();
    static const char *const syn[] = {"x"};
    static const char *const bad_utf8[] = {"\xff\xfe"};
    static const char *const punct[] = {"?!"};
    static const char *const empty[] = {""};
    char errbuf[128];

    assert_int_equal(pal_entity_set_add_choice(set, "beer", "bud", syn, 1), PAL_OK);
    assert_int_equal(pal_entity_set_add_choice(set, "", "bud", syn, 1), PAL_ERR_INVALID);
    assert_int_equal(pal_entity_set_add_choice(set, "beer", "", syn, 1), PAL_ERR_INVALID);
    assert_int_equal(pal_entity_set_add_choice(set, "beer", NULL, syn, 1), PAL_ERR_INVALID);
    assert_int_equal(pal_entity_set_add_choice(set, "beer", "bud", bad_utf8, 1), PAL_ERR_INVALID);
    assert_int_equal(pal_entity_set_add_choice(set, "beer", "bud", punct, 1), PAL_ERR_INVALID);
    assert_int_equal(pal_entity_set_add_choice(set, "beer", "bud", empty, 1), PAL_ERR_INVALID);
    assert_int_equal(pal_entity_set_add_choice(set, "beer", "bud", NULL, 1), PAL_ERR_INVALID);
    assert_int_equal(pal_entity_set_add_choice(set, "beer", "bud", NULL, 0), PAL_OK);
    assert_int_equal(pal_entity_set_add_choice(set, "\xc3", "bud", NULL, 0), PAL_ERR_INVALID);

    /* One name, one kind. */
    assert_int_equal(pal_entity_set_add_number(set, "beer", 1, 4), PAL_ERR_STATE);
    assert_int_equal(pal_entity_set_add_postcode(set, "beer"), PAL_ERR_STATE);
    assert_int_equal(pal_entity_set_add_pattern(set, "beer", "x", NULL, 0), PAL_ERR_STATE);
    assert_int_equal(pal_entity_set_add_number(set, "n", 1, 4), PAL_OK);
    assert_int_equal(pal_entity_set_add_number(set, "n", 1, 4), PAL_ERR_STATE);
    assert_int_equal(pal_entity_set_add_choice(set, "n", "x", NULL, 0), PAL_ERR_STATE);
    assert_int_equal(pal_entity_set_add_number(set, "m", 4, 1), PAL_ERR_INVALID);
    assert_int_equal(pal_entity_set_add_postcode(set, "cp"), PAL_OK);
    assert_int_equal(pal_entity_set_add_postcode(set, "cp"), PAL_ERR_STATE);

    /* An invalid regular expression: PCRE2's message and where. */
    memset(errbuf, 'z', sizeof(errbuf));
    assert_int_equal(pal_entity_set_add_pattern(set, "p", "(abc", errbuf, sizeof(errbuf)),
                     PAL_ERR_PARSE);
    assert_non_null(strstr(errbuf, "offset"));
    assert_true(strlen(errbuf) > 10);
    assert_int_equal(pal_entity_set_add_pattern(set, "p", "[z-a]", NULL, 0), PAL_ERR_PARSE);
    assert_int_equal(pal_entity_set_add_pattern(set, "p", "a\\Cb", errbuf, 4), PAL_ERR_PARSE);
    assert_true(strlen(errbuf) < 4); /* truncated to the buffer */
    assert_int_equal(pal_entity_set_add_pattern(set, "p", "\xff", errbuf, sizeof(errbuf)),
                     PAL_ERR_INVALID);
    assert_int_equal(pal_entity_set_add_pattern(set, "p", NULL, errbuf, sizeof(errbuf)),
                     PAL_ERR_INVALID);

    assert_int_equal(pal_entity_set_add_choice(NULL, "a", "b", NULL, 0), PAL_ERR_INVALID);
    pal_entity_set_free(set);
    pal_entity_set_free(NULL);
}

static void test_extract_hostile(void **state)
{
    fixture *f = *state;
    pal_entity *e = NULL;
    size_t n = 42;

    pal_analysis empty = {0};
    assert_int_equal(pal_entity_set_extract(f->set, &empty, f->arena, &e, &n), PAL_OK);
    assert_int_equal(n, 0);
    assert_int_equal(pal_entity_set_extract(NULL, &empty, f->arena, &e, &n), PAL_ERR_INVALID);
    assert_int_equal(pal_entity_set_extract(f->set, NULL, f->arena, &e, &n), PAL_ERR_INVALID);
    assert_int_equal(pal_entity_set_extract(f->set, &empty, f->arena, NULL, &n), PAL_ERR_INVALID);

    /* An empty set finds nothing. */
    pal_entity_set *none = pal_entity_set_new();
    assert_int_equal(extract(f, none, "deux corona", &e), 0);
    pal_entity_set_free(none);

    assert_int_equal(extract(f, f->set, "🍺🍺 😀 🇫🇷", &e), 0);

    /* 1 MiB of digits: one huge token, no postcode, no quantity. */
    size_t big = PAL_TEXT_MAX_BYTES;
    char *text = malloc(big + 1);
    assert_non_null(text);
    memset(text, '5', big);
    text[big] = '\0';
    n = extract(f, f->set, text, &e);
    assert_null(find(e, n, "postcode"));
    assert_null(find(e, n, "quantity"));

    /* 1 MiB of near-miss words and numbers. */
    const char *chunk = "coronna 2 budd 75011 cmd-1234 ";
    size_t cl = strlen(chunk);
    size_t used = 0;
    while (used + cl <= big) {
        memcpy(text + used, chunk, cl);
        used += cl;
    }
    text[used] = '\0';
    n = extract(f, f->set, text, &e);
    assert_int_equal(count_named(e, n, "beer"), used / cl);
    assert_int_equal(count_named(e, n, "postcode"), used / cl);
    assert_int_equal(count_named(e, n, "order"), used / cl);
    free(text);
}

/* Damerau-Levenshtein (optimal string alignment), by code point, unbounded:
 * the reference the bounded version must agree with. */
static size_t reference_distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    size_t d[16][16];
    for (size_t i = 0; i <= n; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= m; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= n; i++) {
        for (size_t j = 1; j <= m; j++) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < best)
                best = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[n][m];
}

static void test_edit_distance(void **state)
{
    (void)state;
    assert_int_equal(pal_edit_distance(pal_slice_of("kitten"), pal_slice_of("sitting"), 5), 3);
    assert_int_equal(pal_edit_distance(pal_slice_of("kitten"), pal_slice_of("sitting"), 2), 3);
    assert_int_equal(pal_edit_distance(pal_slice_of("corona"), pal_slice_of("cornoa"), 1), 1);
    assert_int_equal(pal_edit_distance(pal_slice_of("ab"), pal_slice_of("ba"), 3), 1);
    assert_int_equal(pal_edit_distance(pal_slice_of(""), pal_slice_of("abc"), 5), 3);
    assert_int_equal(pal_edit_distance(pal_slice_of("abc"), pal_slice_of(""), 1), 2);
    assert_int_equal(pal_edit_distance(pal_slice_of(""), pal_slice_of(""), 0), 0);
    assert_int_equal(pal_edit_distance(pal_slice_of("same"), pal_slice_of("same"), 0), 0);
    assert_int_equal(pal_edit_distance(pal_slice_of("same"), pal_slice_of("sane"), 0), 1);
    /* By code point: é against e is one edit, not two bytes. */
    assert_int_equal(pal_edit_distance(pal_slice_of("bière"), pal_slice_of("biere"), 2), 1);
    assert_int_equal(pal_edit_distance(pal_slice_of("🍺a"), pal_slice_of("a🍺"), 2), 1);
    /* Invalid bytes count as one unit each and do not crash. */
    assert_int_equal(pal_edit_distance(pal_slice_of("a\xff"), pal_slice_of("a\xfe"), 2), 1);
    assert_int_equal(pal_edit_distance((pal_slice){NULL, 3}, pal_slice_of("ab"), 3), 2);
    assert_int_equal(pal_edit_distance(pal_slice_of("abc"), pal_slice_of("abd"), SIZE_MAX), 1);

    /* Long strings take the heap path and the band. */
    size_t big = 100000;
    char *a = malloc(big + 1), *b = malloc(big + 1);
    assert_non_null(a);
    assert_non_null(b);
    for (size_t i = 0; i < big; i++)
        a[i] = b[i] = (char)('a' + i % 7);
    a[big] = b[big] = '\0';
    b[500] = 'z';
    b[90000] = 'z';
    assert_int_equal(pal_edit_distance((pal_slice){a, big}, (pal_slice){b, big}, 2), 2);
    assert_int_equal(pal_edit_distance((pal_slice){a, big}, (pal_slice){b, big}, 1), 2);
    assert_int_equal(pal_edit_distance((pal_slice){a, big}, (pal_slice){b, big - 3}, 2), 3);
    free(a);
    free(b);

    /* Random short strings against the reference, for every bound. */
    unsigned seed = 12345;
    for (int round = 0; round < 20000; round++) {
        char x[9], y[9];
        seed = seed * 1103515245u + 12345u;
        size_t lx = (seed >> 16) % 9;
        seed = seed * 1103515245u + 12345u;
        size_t ly = (seed >> 16) % 9;
        for (size_t i = 0; i < lx; i++) {
            seed = seed * 1103515245u + 12345u;
            x[i] = (char)('a' + (seed >> 16) % 3);
        }
        for (size_t i = 0; i < ly; i++) {
            seed = seed * 1103515245u + 12345u;
            y[i] = (char)('a' + (seed >> 16) % 3);
        }
        x[lx] = y[ly] = '\0';
        size_t want = reference_distance(x, y);
        for (size_t max = 0; max <= 9; max++) {
            size_t got = pal_edit_distance(pal_slice_of(x), pal_slice_of(y), max);
            size_t expect = want <= max ? want : max + 1;
            if (got != expect)
                fail_msg("d(\"%s\", \"%s\", max %zu) = %zu, want %zu", x, y, max, got, expect);
        }
    }
}

/* One set, several threads, each with its own analyzer and arena. */
typedef struct worker {
    const pal_entity_set *set;
    int failures;
} worker;

static void *worker_run(void *arg)
{
    worker *w = arg;
    pal_analyzer *analyzer;
    if (pal_analyzer_new(&analyzer) != PAL_OK) {
        w->failures++;
        return NULL;
    }
    pal_arena *arena = pal_arena_new();
    static const char *const texts[] = {"deux corona svp", "3 coors please", "cmd-123456",
                                        "#MonRésultat 75011"};
    for (int round = 0; round < 500; round++) {
        const char *text = texts[round % 4];
        pal_analysis analysis;
        pal_entity *e;
        size_t n;
        pal_arena_reset(arena);
        if (pal_analyze(analyzer, text, strlen(text), PAL_LANG_UNKNOWN, &analysis) != PAL_OK ||
            pal_entity_set_extract(w->set, &analysis, arena, &e, &n) != PAL_OK || n < 1)
            w->failures++;
    }
    pal_arena_free(arena);
    pal_analyzer_free(analyzer);
    return NULL;
}

static void test_threads_share_a_set(void **state)
{
    fixture *f = *state;
    enum { N_THREADS = 4 };
    pthread_t threads[N_THREADS];
    worker workers[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        workers[i] = (worker){f->set, 0};
        assert_int_equal(pthread_create(&threads[i], NULL, worker_run, &workers[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(workers[i].failures, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_beer_order_in_words, setup, teardown),
        cmocka_unit_test_setup_teardown(test_beer_spellings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_beer_not_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_multiword_synonym_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shared_first_words, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quantity_digits_and_words, setup, teardown),
        cmocka_unit_test_setup_teardown(test_amounts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_weak_number_scores_less, setup, teardown),
        cmocka_unit_test_setup_teardown(test_postcode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_patterns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pattern_overlaps_keep_best, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sorted_by_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_extract_hostile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edit_distance, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads_share_a_set, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
