/*
 * test_nlu_numbers.c — numbers in digits and in French and English words.
 *
 * Each case goes through the real text layer (pal_analyze), as a message
 * would: the tokeniser's splitting of hyphens and elisions is part of what
 * is tested. Cases come from the stadium beer order (SPEC.md §2): "deux",
 * "two", "non, 3", and from what people type for quantities.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nlu/numbers.h"
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

/* The numbers in text (analysed with lang); asserts that extraction works. */
static size_t numbers_in(fixture *f, const char *text, pal_lang lang, pal_number_match **out)
{
    size_t count = 0;
    pal_arena_reset(f->arena);
    assert_int_equal(pal_analyze(f->analyzer, text, strlen(text), lang, &f->analysis), PAL_OK);
    assert_int_equal(pal_numbers_extract(&f->analysis, f->arena, out, &count), PAL_OK);
    return count;
}

typedef struct number_case {
    const char *text;
    double value;
} number_case;

/* Each text is exactly one number, covering every token. */
static void check_whole(fixture *f, const number_case *cases, size_t n, pal_lang lang)
{
    for (size_t i = 0; i < n; i++) {
        pal_number_match *m = NULL;
        size_t count = numbers_in(f, cases[i].text, lang, &m);
        if (count != 1 || m[0].value != cases[i].value || m[0].tok_start != 0 ||
            m[0].tok_end != f->analysis.n_tokens) {
            fail_msg("\"%s\": expected %g over all %zu tokens, got %zu numbers, first %g [%zu,%zu)",
                     cases[i].text, cases[i].value, f->analysis.n_tokens, count,
                     count ? m[0].value : -1.0, count ? m[0].tok_start : 0,
                     count ? m[0].tok_end : 0);
        }
    }
}

static void test_digits(void **state)
{
    static const number_case cases[] = {
        {"3", 3},
        {"0", 0},
        {"42", 42},
        {"3,5", 3.5},
        {"3.5", 3.5},
        {"0,25", 0.25},
        {"999999", 999999},
        {"2 000", 2000},
        {"1 500 000", 1500000},
        {"2 mille", 2000},
        {"1,5 million", 1500000},
        {"3 dozen", 36},
        {"2 douzaines", 24},
    };
    check_whole(*state, cases, sizeof(cases) / sizeof(cases[0]), PAL_LANG_UNKNOWN);
}

static void test_digits_thousands_separator_follows_language(void **state)
{
    fixture *f = *state;
    pal_number_match *m;
    assert_int_equal(numbers_in(f, "1,000", PAL_LANG_EN, &m), 1);
    assert_true(m[0].value == 1000);
    assert_int_equal(numbers_in(f, "1.000", PAL_LANG_FR, &m), 1);
    assert_true(m[0].value == 1000);
    assert_int_equal(numbers_in(f, "1,000", PAL_LANG_FR, &m), 1);
    assert_true(m[0].value == 1.0);
    assert_int_equal(numbers_in(f, "2.5", PAL_LANG_EN, &m), 1);
    assert_true(m[0].value == 2.5);
}

static void test_digits_in_messages(void **state)
{
    fixture *f = *state;
    pal_number_match *m;

    assert_int_equal(numbers_in(f, "non, 3", PAL_LANG_UNKNOWN, &m), 1);
    assert_true(m[0].value == 3);
    assert_false(m[0].in_words);
    assert_int_equal(m[0].tok_start, 2); /* non , 3 */

    assert_int_equal(numbers_in(f, "2corona svp", PAL_LANG_UNKNOWN, &m), 1);
    assert_true(m[0].value == 2);
    assert_int_equal(m[0].tok_end, 1);

    assert_int_equal(numbers_in(f, "2 ou 3 coronas", PAL_LANG_UNKNOWN, &m), 2);
    assert_true(m[0].value == 2 && m[1].value == 3);

    assert_int_equal(numbers_in(f, "#MonRésultat 75011", PAL_LANG_UNKNOWN, &m), 1);
    assert_true(m[0].value == 75011);
}

static void test_french_words(void **state)
{
    static const number_case cases[] = {
        {"zéro", 0},
        {"un", 1},
        {"une", 1},
        {"deux", 2},
        {"trois", 3},
        {"quatre", 4},
        {"cinq", 5},
        {"six", 6},
        {"sept", 7},
        {"huit", 8},
        {"neuf", 9},
        {"dix", 10},
        {"onze", 11},
        {"douze", 12},
        {"treize", 13},
        {"quatorze", 14},
        {"quinze", 15},
        {"seize", 16},
        {"dix-sept", 17},
        {"dix-huit", 18},
        {"dix-neuf", 19},
        {"vingt", 20},
        {"vingt et un", 21},
        {"vingt-deux", 22},
        {"vingt deux", 22},
        {"trente", 30},
        {"trente et une", 31},
        {"quarante-cinq", 45},
        {"cinquante", 50},
        {"soixante", 60},
        {"soixante-dix", 70},
        {"soixante et onze", 71},
        {"soixante-douze", 72},
        {"soixante-dix-neuf", 79},
        {"quatre-vingts", 80},
        {"quatre-vingt-un", 81},
        {"quatre-vingt-dix", 90},
        {"quatre-vingt-onze", 91},
        {"quatre-vingt-dix-sept", 97},
        {"cent", 100},
        {"cent deux", 102},
        {"deux cents", 200},
        {"trois cent douze", 312},
        {"mille", 1000},
        {"mille et une", 1001},
        {"deux mille", 2000},
        {"mille deux cents", 1200},
        {"cent mille", 100000},
        {"neuf cent quatre-vingt-dix-neuf mille neuf cent quatre-vingt-dix-neuf", 999999},
        {"un million", 1000000},
        {"deux millions trois cent mille", 2300000},
        {"une douzaine", 12},
        {"deux douzaines", 24},
        {"une demi-douzaine", 6},
        {"une paire", 2},
        {"une dizaine", 10},
        {"DEUX", 2},
        {"dîx", 10},
    };
    check_whole(*state, cases, sizeof(cases) / sizeof(cases[0]), PAL_LANG_FR);
}

static void test_belgian_and_swiss_words(void **state)
{
    static const number_case cases[] = {
        {"septante", 70},     {"septante-sept", 77}, {"septante et un", 71}, {"huitante", 80},
        {"octante-deux", 82}, {"nonante", 90},       {"nonante-neuf", 99},   {"nonante et un", 91},
    };
    check_whole(*state, cases, sizeof(cases) / sizeof(cases[0]), PAL_LANG_FR);
}

static void test_english_words(void **state)
{
    static const number_case cases[] = {
        {"zero", 0},
        {"one", 1},
        {"two", 2},
        {"three", 3},
        {"four", 4},
        {"five", 5},
        {"six", 6},
        {"seven", 7},
        {"eight", 8},
        {"nine", 9},
        {"ten", 10},
        {"eleven", 11},
        {"twelve", 12},
        {"thirteen", 13},
        {"fourteen", 14},
        {"fifteen", 15},
        {"sixteen", 16},
        {"seventeen", 17},
        {"eighteen", 18},
        {"nineteen", 19},
        {"twenty", 20},
        {"twenty-two", 22},
        {"twenty two", 22},
        {"thirty-one", 31},
        {"forty", 40},
        {"fifty-five", 55},
        {"sixty", 60},
        {"seventy-seven", 77},
        {"eighty", 80},
        {"ninety-nine", 99},
        {"a hundred", 100},
        {"one hundred", 100},
        {"one hundred and five", 105},
        {"two hundred twelve", 212},
        {"twelve hundred", 1200},
        {"a thousand", 1000},
        {"a thousand and one", 1001},
        {"two thousand three hundred and forty-five", 2345},
        {"nine hundred ninety-nine thousand nine hundred ninety-nine", 999999},
        {"a million", 1000000},
        {"a dozen", 12},
        {"two dozen", 24},
        {"half a dozen", 6},
        {"a couple", 2},
        {"a pair", 2},
        {"TWO", 2},
    };
    check_whole(*state, cases, sizeof(cases) / sizeof(cases[0]), PAL_LANG_EN);
}

static void test_words_in_messages(void **state)
{
    fixture *f = *state;
    pal_number_match *m;

    assert_int_equal(numbers_in(f, "deux corona svp", PAL_LANG_UNKNOWN, &m), 1);
    assert_true(m[0].value == 2);
    assert_true(m[0].in_words);
    assert_false(m[0].weak);
    assert_int_equal(m[0].tok_start, 0);
    assert_int_equal(m[0].tok_end, 1);

    assert_int_equal(numbers_in(f, "I'd like two", PAL_LANG_UNKNOWN, &m), 1);
    assert_true(m[0].value == 2);

    assert_int_equal(numbers_in(f, "a couple of coronas please", PAL_LANG_UNKNOWN, &m), 1);
    assert_true(m[0].value == 2);
    assert_int_equal(m[0].tok_end, 2);

    /* Words that do not combine are separate numbers. */
    assert_int_equal(numbers_in(f, "deux trois", PAL_LANG_UNKNOWN, &m), 2);
    assert_true(m[0].value == 2 && m[1].value == 3);
    assert_int_equal(numbers_in(f, "between two and three", PAL_LANG_UNKNOWN, &m), 2);
    assert_true(m[0].value == 2 && m[1].value == 3);
    assert_int_equal(numbers_in(f, "dix deux", PAL_LANG_UNKNOWN, &m), 2);
    assert_true(m[0].value == 10 && m[1].value == 2);

    /* Digits and words in one message, in text order. */
    assert_int_equal(numbers_in(f, "pas 2 mais trois", PAL_LANG_UNKNOWN, &m), 2);
    assert_true(m[0].value == 2 && !m[0].in_words);
    assert_true(m[1].value == 3 && m[1].in_words);
}

static void test_weak_articles(void **state)
{
    fixture *f = *state;
    pal_number_match *m;

    assert_int_equal(numbers_in(f, "une bière", PAL_LANG_UNKNOWN, &m), 1);
    assert_true(m[0].value == 1 && m[0].weak);
    assert_int_equal(numbers_in(f, "one of them", PAL_LANG_UNKNOWN, &m), 1);
    assert_true(m[0].value == 1 && m[0].weak);
    assert_int_equal(numbers_in(f, "un", PAL_LANG_UNKNOWN, &m), 1);
    assert_true(m[0].weak);

    assert_int_equal(numbers_in(f, "vingt et un", PAL_LANG_UNKNOWN, &m), 1);
    assert_false(m[0].weak);
    assert_int_equal(numbers_in(f, "one hundred", PAL_LANG_UNKNOWN, &m), 1);
    assert_false(m[0].weak);
    assert_int_equal(numbers_in(f, "une douzaine", PAL_LANG_UNKNOWN, &m), 1);
    assert_false(m[0].weak);
}

static void test_not_numbers(void **state)
{
    static const char *const texts[] = {
        "a",           "a beer please",  "an apple",      "et",
        "and",         "et puis",        "rock and roll", "il a soif",
        "coors light", "there you go",   "sans doute",    "la ville",
        "une tente",   "the fifth one?", /* "one" is weak, "fifth" is not fifty */
        "cents",       "demi",           "couple",        "",
        "🍺🍺🍺",         "#monresultat",
    };
    fixture *f = *state;
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        pal_number_match *m = NULL;
        size_t count = numbers_in(f, texts[i], PAL_LANG_UNKNOWN, &m);
        for (size_t k = 0; k < count; k++) {
            if (!m[k].weak)
                fail_msg("\"%s\": unexpected number %g at token %zu", texts[i], m[k].value,
                         m[k].tok_start);
        }
    }
}

static void test_article_before_number(void **state)
{
    fixture *f = *state;
    pal_number_match *m;
    /* French "a" (has) is not a number, the one after it is. */
    assert_int_equal(numbers_in(f, "il a deux ans", PAL_LANG_UNKNOWN, &m), 1);
    assert_true(m[0].value == 2);
    assert_int_equal(m[0].tok_start, 2);
}

static void test_typos(void **state)
{
    static const number_case cases[] = {
        {"quattre", 4}, {"deuxx", 2},     {"quatr", 4}, {"vignt", 20},
        {"trois", 3},   {"cinqante", 50}, {"sevne", 7}, {"tweny", 20},
    };
    check_whole(*state, cases, sizeof(cases) / sizeof(cases[0]), PAL_LANG_UNKNOWN);

    /* Short words are never corrected: "deu" is not deux, "sx" not six. */
    fixture *f = *state;
    pal_number_match *m;
    assert_int_equal(numbers_in(f, "deu sx", PAL_LANG_UNKNOWN, &m), 0);
}

static void test_word_value(void **state)
{
    (void)state;
    double v = -1;
    assert_true(pal_number_word_value(pal_slice_of("douze"), &v));
    assert_true(v == 12);
    assert_true(pal_number_word_value(pal_slice_of("twelve"), &v));
    assert_true(v == 12);
    assert_true(pal_number_word_value(pal_slice_of("seize"), &v));
    assert_true(v == 16);
    assert_true(pal_number_word_value(pal_slice_of("zero"), &v));
    assert_true(v == 0);
    assert_true(pal_number_word_value(pal_slice_of("mille"), &v));
    assert_true(v == 1000);
    assert_false(pal_number_word_value(pal_slice_of("corona"), &v));
    assert_false(pal_number_word_value(pal_slice_of("et"), &v));
    assert_false(pal_number_word_value(pal_slice_of("a"), &v));
    assert_false(pal_number_word_value(pal_slice_of(""), &v));
    assert_false(pal_number_word_value((pal_slice){NULL, 0}, &v));
}

static void test_hostile(void **state)
{
    fixture *f = *state;
    pal_number_match *m = NULL;
    size_t count = 42;

    /* A zeroed analysis: no tokens, nothing found. */
    pal_analysis empty = {0};
    assert_int_equal(pal_numbers_extract(&empty, f->arena, &m, &count), PAL_OK);
    assert_int_equal(count, 0);

    assert_int_equal(pal_numbers_extract(NULL, f->arena, &m, &count), PAL_ERR_INVALID);
    assert_int_equal(pal_numbers_extract(&empty, NULL, &m, &count), PAL_ERR_INVALID);
    assert_int_equal(pal_numbers_extract(&empty, f->arena, NULL, &count), PAL_ERR_INVALID);

    /* A scale word that would carry the value past 10^15 is a number of
     * its own (found by fuzzing: "millio" is read as "million"). */
    assert_int_equal(numbers_in(f, "222222222222222 millio", PAL_LANG_UNKNOWN, &m), 2);
    assert_true(m[0].value == 222222222222222.0 && m[0].tok_end == 1);
    assert_true(m[1].value == 1e6);
    assert_int_equal(numbers_in(f, "999999999 million", PAL_LANG_UNKNOWN, &m), 1);
    assert_true(m[0].value == 999999999e6);
    assert_int_equal(numbers_in(f, "1000000000 million", PAL_LANG_UNKNOWN, &m), 1);
    assert_true(m[0].value == 1e15);
    assert_int_equal(numbers_in(f, "1000000001 million", PAL_LANG_UNKNOWN, &m), 2);
    assert_true(m[0].value == 1000000001.0 && m[0].tok_end == 1);
    assert_true(m[1].value == 1e6 && m[1].in_words);

    /* 1 MiB of digits: far too long for a quantity, and no crash. */
    size_t big = PAL_TEXT_MAX_BYTES;
    char *digits = malloc(big + 1);
    assert_non_null(digits);
    memset(digits, '7', big);
    digits[big] = '\0';
    assert_int_equal(numbers_in(f, digits, PAL_LANG_UNKNOWN, &m), 0);

    /* 1 MiB of "2 ": many numbers, all found, in order. */
    for (size_t i = 0; i + 1 < big; i += 2) {
        digits[i] = '2';
        digits[i + 1] = ' ';
    }
    count = numbers_in(f, digits, PAL_LANG_UNKNOWN, &m);
    assert_int_equal(count, big / 2);
    assert_true(m[count - 1].value == 2);

    /* 1 MiB of number words that almost combine. */
    const char *words = "deux trois ";
    size_t wl = strlen(words);
    size_t used = 0;
    while (used + wl <= big) {
        memcpy(digits + used, words, wl);
        used += wl;
    }
    digits[used] = '\0';
    count = numbers_in(f, digits, PAL_LANG_UNKNOWN, &m);
    assert_int_equal(count, used / wl * 2);
    free(digits);

    assert_int_equal(numbers_in(f, "👍🏽🍺🇫🇷", PAL_LANG_UNKNOWN, &m), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_digits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_digits_thousands_separator_follows_language, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_digits_in_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_french_words, setup, teardown),
        cmocka_unit_test_setup_teardown(test_belgian_and_swiss_words, setup, teardown),
        cmocka_unit_test_setup_teardown(test_english_words, setup, teardown),
        cmocka_unit_test_setup_teardown(test_words_in_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_weak_articles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_numbers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_article_before_number, setup, teardown),
        cmocka_unit_test_setup_teardown(test_typos, setup, teardown),
        cmocka_unit_test_setup_teardown(test_word_value, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
