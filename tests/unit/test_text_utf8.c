/*
 * test_text_utf8.c — strict UTF-8: what is refused and what round-trips.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "text/utf8.h"

static void valid_text_passes(void **state)
{
    (void)state;
    const char *ok[] = {"",     "hello",    "Résultat",        "l’équipe",
                        "你好", "👍🏽", "\xF4\x8F\xBF\xBF"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_true(pal_utf8_valid(ok[i], strlen(ok[i])));
        assert_int_equal(pal_utf8_check_text(ok[i], strlen(ok[i]), NULL), PAL_OK);
    }
}

static void malformed_sequences_are_refused(void **state)
{
    (void)state;
    struct {
        const char *bytes;
        size_t len;
        size_t bad_at;
    } bad[] = {
        {"\xC3\x28", 2, 0},            /* bad continuation */
        {"ab\xC0\xAF", 4, 2},          /* overlong '/' */
        {"\xE0\x80\xAF", 3, 0},        /* overlong 3-byte */
        {"\xED\xA0\x80", 3, 0},        /* surrogate U+D800 */
        {"\xF4\x90\x80\x80", 4, 0},    /* above U+10FFFF */
        {"xyz\xE2\x82", 5, 3},         /* truncated at the end */
        {"\x80", 1, 0},                /* lone continuation */
        {"\xFF", 1, 0},                /* never valid */
        {"\xF8\x88\x80\x80\x80", 5, 0} /* 5-byte form */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t at = 999;
        assert_false(pal_utf8_valid(bad[i].bytes, bad[i].len));
        assert_int_equal(pal_utf8_check_text(bad[i].bytes, bad[i].len, &at), PAL_ERR_UTF8);
        assert_int_equal(at, bad[i].bad_at);
    }
}

static void nul_is_valid_utf8_but_not_a_message(void **state)
{
    (void)state;
    const char text[] = "nul\0byte";
    size_t at = 0;
    assert_true(pal_utf8_valid(text, sizeof(text) - 1));
    assert_int_equal(pal_utf8_check_text(text, sizeof(text) - 1, &at), PAL_ERR_UTF8);
    assert_int_equal(at, 3);
}

static void every_scalar_value_round_trips(void **state)
{
    (void)state;
    for (int32_t cp = 0; cp <= 0x10FFFF; cp++) {
        char buf[4];
        size_t n = pal_utf8_encode(cp, buf);
        if (cp >= 0xD800 && cp <= 0xDFFF) {
            assert_int_equal(n, 0);
            continue;
        }
        assert_true(n >= 1 && n <= 4);
        int32_t back = -1;
        assert_int_equal(pal_utf8_decode(buf, n, &back), n);
        assert_int_equal(back, cp);
        /* A truncated sequence never decodes. */
        if (n > 1)
            assert_int_equal(pal_utf8_decode(buf, n - 1, &back), 0);
    }
    char buf[4];
    assert_int_equal(pal_utf8_encode(0x110000, buf), 0);
    assert_int_equal(pal_utf8_encode(-1, buf), 0);
}

static void one_mebibyte_of_text(void **state)
{
    (void)state;
    size_t len = 1 << 20;
    char *big = malloc(len);
    assert_non_null(big);
    for (size_t i = 0; i + 2 <= len; i += 2)
        memcpy(big + i, "\xC3\xA9", 2); /* é */
    assert_true(pal_utf8_valid(big, len));
    assert_int_equal(pal_utf8_length(big, len), len / 2);
    big[len - 1] = '\xC3'; /* cut the last character in half */
    assert_false(pal_utf8_valid(big, len));
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_text_passes),
        cmocka_unit_test(malformed_sequences_are_refused),
        cmocka_unit_test(nul_is_valid_utf8_but_not_a_message),
        cmocka_unit_test(every_scalar_value_round_trips),
        cmocka_unit_test(one_mebibyte_of_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
