/*
 * langid.h — is this short message French, English, or can't we tell?
 *
 * Built for chat messages of two or three words ("merci beaucoup", "yes
 * please", "deux corona svp"): it scores each word against built-in
 * frequency lexicons of both languages (written for palabre, no data set),
 * French and English spelling cues (accents, endings, letter sequences) for
 * words outside the lexicons, and answers PAL_LANG_UNKNOWN when the
 * evidence is too weak or balanced (numbers, emoji, "ok", "taxi").
 *
 * Pure and thread-safe: the lexicons are constant tables.
 */
#ifndef PAL_TEXT_LANGID_H
#define PAL_TEXT_LANGID_H

#include <stdbool.h>
#include <stddef.h>

#include "base/slice.h"

typedef enum pal_lang {
    PAL_LANG_UNKNOWN = 0,
    PAL_LANG_FR,
    PAL_LANG_EN,
} pal_lang;

enum { PAL_LANG_COUNT = 3 };

/* "fr", "en" or "unknown"; static storage. */
const char *pal_lang_code(pal_lang lang);
/* Parses "fr" or "en" (case-insensitive); false otherwise. */
bool pal_lang_parse(const char *code, pal_lang *out);

typedef struct pal_langid_result {
    pal_lang lang;
    float confidence; /* 0..1: how clearly the winner beat the other language */
} pal_langid_result;

/* Identifies the language of a message from its words.
 * words: n lower-case words in normalised form (accents kept, as produced
 * by pal_text_normalize + pal_tokenize with kind PAL_TOK_WORD or
 * PAL_TOK_ELISION). Borrowed for the call only. */
pal_langid_result pal_langid_words(const pal_slice *words, size_t n);

/* Internal, for the unit tests: true when the built-in lexicon is sorted and
 * free of duplicates (the look-up relies on it). */
bool pal_langid__tables_ok(void);

#endif
