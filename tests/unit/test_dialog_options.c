/*
 * test_dialog_options.c — naming one of a few options: by its text, part of
 * it, a typo or its button number; ties are not choices.
 *
 * Answers go through the real text layer, as customers' messages do.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dialog/options.h"
#include "text/analyze.h"

typedef struct fixture {
    pal_analyzer *analyzer;
    pal_arena *arena;
    pal_analysis analysis;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (!f || pal_analyzer_new(&f->analyzer) != PAL_OK)
        return -1;
    f->arena = pal_arena_new();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    pal_arena_free(f->arena);
    pal_analyzer_free(f->analyzer);
    free(f);
    return 0;
}

static const pal_analysis *analyse(fixture *f, const char *text)
{
    assert_int_equal(pal_analyze(f->analyzer, text, strlen(text), PAL_LANG_UNKNOWN, &f->analysis),
                     PAL_OK);
    return &f->analysis;
}

/* The stadium's payment question: value and labels in both languages. */
static void payment_options(fixture *f, pal_options *o)
{
    pal_arena_reset(f->arena);
    pal_options_init(o, f->arena, 6);
    pal_options_add(o, "saved", 0);
    pal_options_add(o, "Carte **** 0345", 0);
    pal_options_add(o, "Card **** 0345", 0);
    pal_options_add(o, "new", 1);
    pal_options_add(o, "Nouvelle carte", 1);
    pal_options_add(o, "New card", 1);
    o->n_numbered = 2;
}

static void test_payment_answers(void **state)
{
    static const struct {
        const char *answer;
        int option;
    } cases[] = {
        {"Carte **** 0345", 0},
        {"carte 0345", 0},
        {"SAVED", 0},
        {"the saved card", 0},
        {"1", 0},
        {"la 1", 0},
        {"n° 1", 0},
        {"nouvelle carte", 1},
        {"la nouvelle", 1},
        {"New card!", 1},
        {"2", 1},
        {"the 2", 1},
        {"nouvele", 1},
        {"carte", -1},
        {"card", -1},
        {"3", -1},
        {"0", -1},
        {"2 bières", -1},
        {"", -1},
        {"bof", -1},
        {"la carte enregistrée", -1},
    };
    fixture *f = *state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pal_options o;
        payment_options(f, &o);
        int got = pal_options_match(&o, analyse(f, cases[i].answer));
        if (got != cases[i].option)
            fail_msg("\"%s\": expected %d, got %d", cases[i].answer, cases[i].option, got);
    }
}

static void test_rows_answers(void **state)
{
    static const char *const communes[] = {"Châtillon-sur-Chalaronne",
                                           "Saint-Didier-sur-Chalaronne", "L'Abergement-Clémenciat",
                                           "Dompierre-sur-Chalaronne"};
    static const struct {
        const char *answer;
        int option;
    } cases[] = {
        {"chatillon", 0},
        {"Saint Didier", 1},
        {"abergement clemenciat", 2},
        {"dompiere", 3},
        {"sur chalaronne", -1},
        {"4", 3},
        {"Châtillon sur Chalaronne", 0},
        {"5", -1},
        {"chatillon ou dompierre", -1},
    };
    fixture *f = *state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pal_options o;
        pal_arena_reset(f->arena);
        pal_options_init(&o, f->arena, 4);
        for (int k = 0; k < 4; k++)
            pal_options_add(&o, communes[k], k);
        o.n_numbered = 4;
        int got = pal_options_match(&o, analyse(f, cases[i].answer));
        if (got != cases[i].option)
            fail_msg("\"%s\": expected %d, got %d", cases[i].answer, cases[i].option, got);
    }
}

/* Buttons from the monresultat bot after "#MonRésultat 13013": digits glued
 * to letters are split in labels as in answers. */
static void test_glued_digits(void **state)
{
    static const char *const labels[] = {"Marseille 12e Arrondissement",
                                         "Marseille 13e Arrondissement",
                                         "Marseille 14e Arrondissement"};
    static const struct {
        const char *answer;
        int option;
    } cases[] = {
        {"Marseille 13e Arrondissement", 1},
        {"marseille 13E arrondissement", 1},
        {"Marseille 12e Arrondissement", 0},
        {"13e", 1},
        {"le 13e", 1},
        {"13e arrondissement", 1},
        {"the 13th", 1},
        {"14e svp", 2},
        {"13", 1},
        {"Marseille", -1},
        {"arrondissement", -1},
        {"Marseille 13e ou 14e", -1},
        {"2", 1},
        {"15e", -1},
        {"la troisième", 2},
        {"the first one", 0},
    };
    fixture *f = *state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pal_options o;
        pal_arena_reset(f->arena);
        pal_options_init(&o, f->arena, 3);
        for (int k = 0; k < 3; k++)
            pal_options_add(&o, labels[k], k);
        o.n_numbered = 3;
        int got = pal_options_match(&o, analyse(f, cases[i].answer));
        if (got != cases[i].option)
            fail_msg("\"%s\": expected %d, got %d", cases[i].answer, cases[i].option, got);
    }
}

/* Ranks in words or digits pick a button when no label names one. */
static void test_ordinals(void **state)
{
    static const char *const labels[] = {"Oui", "Non", "Peut-être", "Yes please"};
    static const struct {
        const char *answer;
        int option;
        int n_numbered;
    } cases[] = {
        {"le premier", 0, 4},      {"la première", 0, 4},
        {"le 1er", 0, 4},          {"la 2e", 1, 4},
        {"la deuxième", 1, 4},     {"la troisième", 2, 4},
        {"la 3ème", 2, 4},         {"the first", 0, 4},
        {"the 2nd", 1, 4},         {"the second one", 1, 4},
        {"the third one", 2, 4},   {"the 3rd", 2, 4},
        {"the fourth", 3, 4},      {"la cinquième", -1, 4},
        {"the third", -1, 0},      {"la troisième et la quatrième", -1, 4},
        {"troisième fois", -1, 4}, {"yes please", 3, 4},
    };
    fixture *f = *state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pal_options o;
        pal_arena_reset(f->arena);
        pal_options_init(&o, f->arena, 4);
        for (int k = 0; k < 4; k++)
            pal_options_add(&o, labels[k], k);
        o.n_numbered = cases[i].n_numbered;
        int got = pal_options_match(&o, analyse(f, cases[i].answer));
        if (got != cases[i].option)
            fail_msg("\"%s\": expected %d, got %d", cases[i].answer, cases[i].option, got);
    }
}

/* A label that names the rank wins over the rank; a tie is still no choice. */
static void test_ordinal_labels(void **state)
{
    static const char *const labels[] = {"Deuxième classe", "Première classe", "Second floor",
                                         "Second row"};
    static const struct {
        const char *answer;
        int option;
    } cases[] = {
        {"la première", 1},      {"first class", -1}, {"the second", -1},
        {"the second floor", 2}, {"la deuxième", 0},  {"the fourth", 3},
    };
    fixture *f = *state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pal_options o;
        pal_arena_reset(f->arena);
        pal_options_init(&o, f->arena, 4);
        for (int k = 0; k < 4; k++)
            pal_options_add(&o, labels[k], k);
        o.n_numbered = 4;
        int got = pal_options_match(&o, analyse(f, cases[i].answer));
        if (got != cases[i].option)
            fail_msg("\"%s\": expected %d, got %d", cases[i].answer, cases[i].option, got);
    }
}

static void test_bare_numbers(void **state)
{
    static const struct {
        const char *text;
        long number;
    } cases[] = {
        {"2", 2},   {" 3 ", 3},   {"la 2", 2}, {"number 10", 10}, {"2.", 2}, {"2 bières", 0},
        {"3,5", 0}, {"75011", 0}, {"deux", 0}, {"1 2", 0},        {"", 0},   {"0", 0},
    };
    fixture *f = *state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        long got = pal_options_bare_number(analyse(f, cases[i].text));
        if (got != cases[i].number)
            fail_msg("\"%s\": expected %ld, got %ld", cases[i].text, cases[i].number, got);
    }
}

static void test_limits(void **state)
{
    fixture *f = *state;
    pal_options o;
    pal_arena_reset(f->arena);
    pal_options_init(&o, f->arena, 1);
    pal_options_add(&o, "bud", 0);
    pal_options_add(&o, "coors", 1); /* over capacity: ignored */
    pal_options_add(&o, NULL, 1);
    pal_options_add(&o, "\xff", 1);
    assert_int_equal(pal_options_match(&o, analyse(f, "coors")), -1);
    assert_int_equal(pal_options_match(&o, analyse(f, "bud")), 0);
    /* A long answer costs its first words only, and still matches. */
    char *long_answer = malloc(200001);
    assert_non_null(long_answer);
    memcpy(long_answer, "bud ", 4);
    memset(long_answer + 4, 'x', 199996);
    for (size_t i = 10; i < 200000; i += 10)
        long_answer[i] = ' ';
    long_answer[200000] = '\0';
    assert_int_equal(pal_options_match(&o, analyse(f, long_answer)), 0);
    free(long_answer);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_payment_answers), cmocka_unit_test(test_rows_answers),
        cmocka_unit_test(test_glued_digits),    cmocka_unit_test(test_ordinals),
        cmocka_unit_test(test_ordinal_labels),  cmocka_unit_test(test_bare_numbers),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
