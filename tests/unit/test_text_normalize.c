/*
 * test_text_normalize.c — normalised and folded forms.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "text/normalize.h"

static char *norm(pal_arena *a, const char *s)
{
    pal_slice out;
    assert_int_equal(pal_text_normalize(a, s, strlen(s), &out), PAL_OK);
    assert_int_equal(strlen(out.ptr), out.len);
    return (char *)out.ptr;
}

static char *fold(pal_arena *a, const char *s)
{
    pal_slice out;
    assert_int_equal(pal_text_fold(a, s, strlen(s), &out), PAL_OK);
    return (char *)out.ptr;
}

static void accents_and_case_meet(void **state)
{
    (void)state;
    pal_arena *a = pal_arena_new();
    assert_string_equal(fold(a, norm(a, "Résultat")), "resultat");
    assert_string_equal(fold(a, norm(a, "resultat")), "resultat");
    assert_string_equal(fold(a, norm(a, "RÉSULTAT")), "resultat");
    assert_string_equal(fold(a, "ÇA VA, NOËL À L'HÔTEL"), "ca va, noel a l'hotel");
    assert_string_equal(fold(a, "cœur Æsop straße"), "coeur aesop strasse");
    assert_string_equal(norm(a, "Résultat"), "résultat"); /* normalised keeps accents */
    pal_arena_free(a);
}

static void apostrophes_spaces_and_controls(void **state)
{
    (void)state;
    pal_arena *a = pal_arena_new();
    assert_string_equal(norm(a, "  RÉSULTAT   de l’équipe \t\n"), "résultat de l'équipe");
    assert_string_equal(norm(a, "j`ai"), "j'ai");
    assert_string_equal(norm(a, "a\x01\x02"
                                "b\x7f"
                                "c"),
                        "a b c");
    assert_string_equal(norm(a, "non\xC2\xA0merci"), "non merci"); /* no-break space */
    assert_string_equal(norm(a, "\xE2\x80\x83"), "");              /* em space only */
    pal_arena_free(a);
}

static void compatibility_forms_and_invisibles(void **state)
{
    (void)state;
    pal_arena *a = pal_arena_new();
    assert_string_equal(norm(a, "\xEF\xAC\x81n"), "fin");   /* ﬁ ligature */
    assert_string_equal(norm(a, "ＡＢＣ１２３"), "abc123"); /* full width */
    assert_string_equal(norm(a, "s\xE2\x80\x8B"
                                "a\xC2\xAD"
                                "lut"),
                        "salut"); /* ZWSP, SHY */
    /* Emoji survive, including the zero width joiner of a sequence. */
    assert_string_equal(norm(a, "👨\xE2\x80\x8D👩"), "👨\xE2\x80\x8D👩");
    /* A character that expands a lot when folded. */
    assert_non_null(fold(a, "\xEF\xB7\xBA x \xEF\xB7\xBA"));
    pal_arena_free(a);
}

static void hostile_input(void **state)
{
    (void)state;
    pal_arena *a = pal_arena_new();
    pal_slice out;
    assert_int_equal(pal_text_normalize(a, "\xC3\x28", 2, &out), PAL_ERR_UTF8);
    assert_int_equal(pal_text_fold(a, "\xFF", 1, &out), PAL_ERR_UTF8);
    assert_int_equal(pal_text_normalize(a, "a\0b", 3, &out), PAL_ERR_UTF8);
    assert_int_equal(pal_text_normalize(a, "", 0, &out), PAL_OK);
    assert_int_equal(out.len, 0);
    assert_string_equal(norm(a, "?!...;;"), "?!...;;");
    assert_null(pal_text_fold_dup("\xC3\x28"));
    char *dup = pal_text_fold_dup("Élan");
    assert_string_equal(dup, "elan");
    free(dup);

    size_t len = 1 << 20;
    char *big = malloc(len + 1);
    for (size_t i = 0; i < len; i += 2)
        memcpy(big + i, "\xC3\x89", 2); /* É */
    big[len] = '\0';
    assert_int_equal(pal_text_normalize(a, big, len, &out), PAL_OK);
    assert_int_equal(out.len, len);
    assert_int_equal(pal_text_fold(a, big, len, &out), PAL_OK);
    assert_int_equal(out.len, len / 2);
    assert_int_equal(out.ptr[0], 'e');
    free(big);
    pal_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(accents_and_case_meet),
        cmocka_unit_test(apostrophes_spaces_and_controls),
        cmocka_unit_test(compatibility_forms_and_invisibles),
        cmocka_unit_test(hostile_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
