/*
 * test_text_tokenize.c — what becomes a token, and of what kind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "text/normalize.h"
#include "text/tokenize.h"

/* Tokens of text as "kind:text|kind:text|…". */
static const char *render(pal_arena *a, const char *text)
{
    pal_token *tokens;
    size_t n;
    assert_int_equal(pal_tokenize(a, text, strlen(text), &tokens, &n), PAL_OK);
    size_t cap = strlen(text) * 4 + n * 16 + 1;
    char *out = pal_arena_alloc(a, cap);
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        assert_true(tokens[i].start + tokens[i].len <= strlen(text));
        len += (size_t)snprintf(out + len, cap - len, "%s%s:%.*s", i ? "|" : "",
                                pal_token_kind_name(tokens[i].kind), (int)tokens[i].len,
                                text + tokens[i].start);
    }
    return out;
}

/* Normalises first, as the analyzer does. */
static const char *render_norm(pal_arena *a, const char *raw)
{
    pal_slice norm;
    assert_int_equal(pal_text_normalize(a, raw, strlen(raw), &norm), PAL_OK);
    return render(a, norm.ptr);
}

static void hashtags_mentions_numbers_postcodes(void **state)
{
    (void)state;
    pal_arena *a = pal_arena_new();
    assert_string_equal(render_norm(a, "#MonRésultat 75011"),
                        "hashtag:#monrésultat|postcode:75011");
    assert_string_equal(render(a, "@palabre_fr merci"), "mention:@palabre_fr|word:merci");
    assert_string_equal(render(a, "3,5 ou 3.5 ou 12"), "number:3,5|word:ou|number:3.5|word:ou|"
                                                       "number:12");
    assert_string_equal(render(a, "00123 99000 123456 69003"),
                        "number:00123|number:99000|number:123456|postcode:69003");
    assert_string_equal(render(a, "2corona"), "number:2|word:corona");
    assert_string_equal(render(a, "#monrésultat75011"), "hashtag:#monrésultat75011");
    assert_string_equal(render(a, "# alone"), "punct:#|word:alone");
    pal_arena_free(a);
}

static void emails_and_urls(void **state)
{
    (void)state;
    pal_arena *a = pal_arena_new();
    assert_string_equal(render(a, "écrivez à contact@palabre.fr."),
                        "word:écrivez|word:à|email:contact@palabre.fr|punct:.");
    assert_string_equal(render(a, "(voir https://palabre.fr/aide?x=1)."),
                        "punct:(|word:voir|url:https://palabre.fr/aide?x=1|punct:)|punct:.");
    assert_string_equal(render(a, "www.example.com"), "url:www.example.com");
    assert_string_equal(render(a, "a@b"), "word:a|mention:@b");
    pal_arena_free(a);
}

static void french_elisions_and_english_contractions(void **state)
{
    (void)state;
    pal_arena *a = pal_arena_new();
    assert_string_equal(render(a, "l'équipe j'ai qu'il jusqu'à"),
                        "elision:l'|word:équipe|elision:j'|word:ai|elision:qu'|word:il|"
                        "elision:jusqu'|word:à");
    assert_string_equal(render_norm(a, "C’est l’heure"), "elision:c'|word:est|elision:l'|"
                                                         "word:heure");
    assert_string_equal(render(a, "don't i'm aujourd'hui"), "word:don't|word:i'm|"
                                                            "word:aujourd'hui");
    assert_string_equal(render(a, "'quoted'"), "punct:'|word:quoted|punct:'");
    pal_arena_free(a);
}

static void hyphens_split_words(void **state)
{
    (void)state;
    pal_arena *a = pal_arena_new();
    assert_string_equal(render(a, "vingt-deux quatre-vingt-dix"),
                        "word:vingt|word:deux|word:quatre|word:vingt|word:dix");
    assert_string_equal(render(a, "- a -b c-"), "punct:-|word:a|punct:-|word:b|word:c|punct:-");
    pal_arena_free(a);
}

static void emoji_sequences_stay_whole(void **state)
{
    (void)state;
    pal_arena *a = pal_arena_new();
    assert_string_equal(render(a, "super👍🏽!"), "word:super|emoji:👍🏽|punct:!");
    assert_string_equal(render(a, "🇫🇷🇬🇧"), "emoji:🇫🇷|emoji:🇬🇧");
    assert_string_equal(render(a, "👨‍👩‍👧 ok"), "emoji:👨‍👩‍👧|word:ok");
    assert_string_equal(render(a, "1️⃣ ❤️"), "emoji:1️⃣|emoji:❤️");
    assert_string_equal(render(a, "🍺🍺🍺"), "emoji:🍺|emoji:🍺|emoji:🍺");
    pal_arena_free(a);
}

static void odd_input(void **state)
{
    (void)state;
    pal_arena *a = pal_arena_new();
    pal_token *tokens;
    size_t n = 99;
    assert_int_equal(pal_tokenize(a, "", 0, &tokens, &n), PAL_OK);
    assert_int_equal(n, 0);
    assert_string_equal(render(a, "?!."), "punct:?|punct:!|punct:.");
    assert_string_equal(render(a, "привет 你好 مرحبا"), "word:привет|word:你好|word:مرحبا");
    assert_int_equal(pal_tokenize(a, "\xC3\x28", 2, &tokens, &n), PAL_ERR_UTF8);
    /* A stray modifier or joiner alone is dropped, not a token. */
    assert_string_equal(render(a, "\xEF\xB8\x8F\xE2\x80\x8D"), "");

    /* 1 MiB of short words: every token found, none outside the text. */
    size_t len = 1 << 20;
    char *big = malloc(len + 1);
    for (size_t i = 0; i < len; i += 4)
        memcpy(big + i, "ab, ", 4);
    big[len] = '\0';
    assert_int_equal(pal_tokenize(a, big, len, &tokens, &n), PAL_OK);
    assert_int_equal(n, len / 4 * 2);
    free(big);
    pal_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hashtags_mentions_numbers_postcodes),
        cmocka_unit_test(emails_and_urls),
        cmocka_unit_test(french_elisions_and_english_contractions),
        cmocka_unit_test(hyphens_split_words),
        cmocka_unit_test(emoji_sequences_stay_whole),
        cmocka_unit_test(odd_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
