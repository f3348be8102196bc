/*
 * tokenize.h — split normalised text into the tokens palabre reasons about.
 *
 * Kept whole as one token: hashtags (#monrésultat), @mentions, numbers
 * (12, 3,5, 3.5), French postal codes (five digits, 01000..98999), e-mail
 * addresses, URLs (http://, https://, www.), and emoji sequences (with skin
 * tones, ZWJ joins, flags, keycaps). French elisions are split:
 * "l'équipe" -> "l'" "équipe", "qu'il" -> "qu'" "il"; English contractions
 * ("don't") stay whole. Hyphenated words split into their parts
 * ("vingt-deux" -> "vingt" "deux"). Digits glued to letters split ("2corona"
 * -> "2" "corona"). Punctuation marks are PAL_TOK_PUNCT tokens of one
 * character each.
 *
 * Input is text from pal_text_normalize (valid UTF-8, lower case, single
 * spaces); other valid UTF-8 works too. Pure and thread-safe.
 */
#ifndef PAL_TEXT_TOKENIZE_H
#define PAL_TEXT_TOKENIZE_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/mem.h"

typedef enum pal_token_kind {
    PAL_TOK_WORD = 0,
    PAL_TOK_NUMBER,
    PAL_TOK_POSTCODE,
    PAL_TOK_HASHTAG,
    PAL_TOK_MENTION,
    PAL_TOK_EMAIL,
    PAL_TOK_URL,
    PAL_TOK_EMOJI,
    PAL_TOK_ELISION, /* l' d' j' qu' … (with the apostrophe) */
    PAL_TOK_PUNCT,
} pal_token_kind;

typedef struct pal_token {
    uint32_t start; /* byte offset in the tokenised text */
    uint32_t len;   /* byte length */
    pal_token_kind kind;
} pal_token;

/* Tokenises text[0..len) (len < 4 GiB). On PAL_OK, *out (OUT, owned by the
 * arena) holds *count (OUT) tokens in text order. PAL_ERR_UTF8 on invalid
 * text. */
pal_err pal_tokenize(pal_arena *arena, const char *text, size_t len, pal_token **out,
                     size_t *count);

/* "word", "number", "postcode", … ; static storage. */
const char *pal_token_kind_name(pal_token_kind kind);

#endif
