/*
 * test_text_analyze.c — one message through the whole text layer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "text/analyze.h"

static int setup(void **state)
{
    pal_analyzer *a = NULL;
    if (pal_analyzer_new(&a) != PAL_OK)
        return -1;
    *state = a;
    return 0;
}

static int teardown(void **state)
{
    pal_analyzer_free(*state);
    return 0;
}

static pal_analysis analyze(pal_analyzer *a, const char *text, pal_lang hint)
{
    pal_analysis out;
    assert_int_equal(pal_analyze(a, text, strlen(text), hint, &out), PAL_OK);
    return out;
}

static bool has_stem(const pal_analysis *an, const char *stem)
{
    for (size_t i = 0; i < an->n_tokens; i++) {
        if (pal_slice_eq(an->stems[i], stem))
            return true;
    }
    return false;
}

static void stems_meet_across_accents_and_plurals(void **state)
{
    pal_analyzer *a = *state;
    pal_analysis an = analyze(a, "Les RÉSULTATS des élections", PAL_LANG_FR);
    assert_true(has_stem(&an, "resultat"));
    assert_true(has_stem(&an, "elect")); /* Snowball: élections -> élect */
    an = analyze(a, "resultat election", PAL_LANG_FR);
    assert_true(has_stem(&an, "resultat"));
    an = analyze(a, "where are my cards", PAL_LANG_EN);
    assert_true(has_stem(&an, "card"));
    assert_int_equal(an.lang, PAL_LANG_EN);
}

static void folded_text_and_forms(void **state)
{
    pal_analyzer *a = *state;
    pal_analysis an = analyze(a, "  Où est l’équipe ?! ", PAL_LANG_UNKNOWN);
    assert_string_equal(an.norm.ptr, "où est l'équipe ?!");
    assert_string_equal(an.fold.ptr, "ou est l' equipe");
    assert_int_equal(an.n_tokens, 6);
    assert_true(pal_slice_eq(an.folded[3], "equipe"));
    assert_int_equal(an.tokens[2].kind, PAL_TOK_ELISION);
}

static void detects_language_of_short_messages(void **state)
{
    pal_analyzer *a = *state;
    assert_int_equal(analyze(a, "je voudrais une bière", PAL_LANG_UNKNOWN).lang, PAL_LANG_FR);
    assert_int_equal(analyze(a, "can I get a beer", PAL_LANG_UNKNOWN).lang, PAL_LANG_EN);
    assert_int_equal(analyze(a, "🍺🍺", PAL_LANG_UNKNOWN).lang, PAL_LANG_UNKNOWN);
    assert_int_equal(analyze(a, "beer", PAL_LANG_FR).lang, PAL_LANG_FR); /* forced */
}

static void hostile_messages(void **state)
{
    pal_analyzer *a = *state;
    pal_analysis an;
    assert_int_equal(pal_analyze(a, "\xC3\x28", 2, PAL_LANG_UNKNOWN, &an), PAL_ERR_UTF8);
    assert_int_equal(pal_analyze(a, "ab\0cd", 5, PAL_LANG_UNKNOWN, &an), PAL_ERR_UTF8);
    an = analyze(a, "", PAL_LANG_UNKNOWN);
    assert_int_equal(an.n_tokens, 0);
    assert_int_equal(an.fold.len, 0);
    an = analyze(a, "?!?!...", PAL_LANG_UNKNOWN);
    assert_int_equal(an.fold.len, 0);
    an = analyze(a, "😀😃😄", PAL_LANG_UNKNOWN);
    assert_int_equal(an.n_tokens, 3);
    an = analyze(a, "bonjour привет 你好 hello", PAL_LANG_UNKNOWN);
    assert_int_equal(an.n_tokens, 4);

    size_t len = PAL_TEXT_MAX_BYTES;
    char *big = malloc(len + 1);
    for (size_t i = 0; i < len; i++)
        big[i] = (i % 7 == 6) ? ' ' : (char)('a' + i % 26);
    assert_int_equal(pal_analyze(a, big, len, PAL_LANG_UNKNOWN, &an), PAL_OK);
    assert_true(an.n_tokens > 100000);
    assert_int_equal(pal_analyze(a, big, len + 1, PAL_LANG_UNKNOWN, &an), PAL_ERR_LIMIT);
    /* One 1 MiB "word": stemming skips absurd lengths instead of choking. */
    memset(big, 'a', len);
    assert_int_equal(pal_analyze(a, big, len, PAL_LANG_EN, &an), PAL_OK);
    assert_int_equal(an.n_tokens, 1);
    free(big);

    /* The analyzer is still fine after all that. */
    an = analyze(a, "merci", PAL_LANG_UNKNOWN);
    assert_string_equal(an.fold.ptr, "merci");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(stems_meet_across_accents_and_plurals, setup, teardown),
        cmocka_unit_test_setup_teardown(folded_text_and_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(detects_language_of_short_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(hostile_messages, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
