/*
 * test_nlu_features.c — what the classifier sees of a message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nlu/features.h"

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

static pal_feature_hashes features(pal_analyzer *a, const char *text)
{
    pal_analysis an;
    assert_int_equal(pal_analyze(a, text, strlen(text), PAL_LANG_EN, &an), PAL_OK);
    pal_feature_hashes fh;
    assert_int_equal(pal_features_extract(a, &an, PAL_LANG_EN, pal_analyzer_arena(a), &fh), PAL_OK);
    return fh;
}

static void grams_are_counted_word_by_word(void **state)
{
    pal_analyzer *a = *state;
    /* " ab " gives 2-grams " a" "ab" "b ", 3-grams " ab" "ab ", 4-gram " ab ". */
    pal_feature_hashes fh = features(a, "ab");
    assert_int_equal(fh.n_words, 1);
    assert_int_equal(fh.count[PAL_FEATURE_CHARS], 6);
    assert_int_equal(fh.word_start[0], 0);
    assert_int_equal(fh.word_start[1], 6);
    /* Two words: no gram crosses the space, so the count is the sum. */
    fh = features(a, "ab ab");
    assert_int_equal(fh.n_words, 2);
    assert_int_equal(fh.count[PAL_FEATURE_CHARS], 12);
    assert_true(fh.word_key[0] == fh.word_key[1]);
    uint64_t first[6];
    memcpy(first, fh.hashes[PAL_FEATURE_CHARS], sizeof(first));
    assert_memory_equal(first, fh.hashes[PAL_FEATURE_CHARS] + 6, sizeof(first));
}

static void digits_look_alike_and_accents_fold(void **state)
{
    pal_analyzer *a = *state;
    pal_feature_hashes x = features(a, "order 1234");
    uint64_t key_x = x.word_key[1];
    pal_feature_hashes y = features(a, "order 9876");
    assert_true(key_x == y.word_key[1]);
    pal_feature_hashes e1 = features(a, "café");
    uint64_t key_e = e1.word_key[0];
    pal_feature_hashes e2 = features(a, "CAFE");
    assert_true(key_e == e2.word_key[0]);
}

static void word_group_has_stems_bigrams_and_classes(void **state)
{
    pal_analyzer *a = *state;
    /* 3 units (cards, number, ?) -> 3 unigrams + 3 bigrams + the end bigram. */
    pal_feature_hashes fh = features(a, "cards 42 ?");
    assert_int_equal(fh.count[PAL_FEATURE_WORDS], 7);
    pal_feature_hashes same = features(a, "card 77 ?");
    assert_memory_equal(fh.hashes[PAL_FEATURE_WORDS], same.hashes[PAL_FEATURE_WORDS],
                        7 * sizeof(uint64_t)); /* stem "card", <number> */
}

static void nothing_in_nothing_out(void **state)
{
    pal_analyzer *a = *state;
    const char *empty[] = {"", "   ", ".,;"};
    for (size_t i = 0; i < 3; i++) {
        pal_feature_hashes fh = features(a, empty[i]);
        assert_int_equal(fh.count[PAL_FEATURE_CHARS], 0);
        assert_int_equal(fh.n_words, 0);
    }
    /* A 1 MiB word: grams bounded by its length, nothing read past it. */
    size_t len = PAL_TEXT_MAX_BYTES;
    char *big = malloc(len + 1);
    memset(big, 'z', len);
    big[len] = '\0';
    pal_analysis an;
    assert_int_equal(pal_analyze(a, big, len, PAL_LANG_EN, &an), PAL_OK);
    pal_feature_hashes fh;
    assert_int_equal(pal_features_extract(a, &an, PAL_LANG_EN, pal_analyzer_arena(a), &fh), PAL_OK);
    assert_int_equal(fh.n_words, 1);
    assert_true(fh.count[PAL_FEATURE_CHARS] <= 4 * (len + 2));
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(grams_are_counted_word_by_word, setup, teardown),
        cmocka_unit_test_setup_teardown(digits_look_alike_and_accents_fold, setup, teardown),
        cmocka_unit_test_setup_teardown(word_group_has_stems_bigrams_and_classes, setup, teardown),
        cmocka_unit_test_setup_teardown(nothing_in_nothing_out, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
