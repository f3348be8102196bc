/*
 * features.c — feature hashes of an analysed message (see features.h).
 *
 * Character n-grams are hashed incrementally: for each start position the
 * hashes of the 2-, 3-, 4- and 5-gram are built in one walk, so no n-gram
 * string is made and each byte is mixed a handful of times.
 */
#include "nlu/features.h"

#include <string.h>

#include "nlu/hash.h"

/* Namespaces keep a word from colliding with a same-spelled n-gram. */
enum {
    NS_STEM = 0x57,
    NS_BIGRAM = 0x42,
    NS_CLASS = 0x43,
    NS_CHAR = 0x63,
    NS_WORD = 0x77,
};

static uint64_t token_class_hash(pal_token_kind kind)
{
    return pal_hash64(NS_CLASS, pal_token_kind_name(kind), strlen(pal_token_kind_name(kind)));
}

/* The word-group unit of token i, or false when it contributes nothing. */
static bool word_unit(const pal_analysis *a, const pal_slice *stems, size_t i, uint64_t *h)
{
    const pal_token *t = &a->tokens[i];
    switch (t->kind) {
    case PAL_TOK_WORD:
    case PAL_TOK_HASHTAG:
    case PAL_TOK_EMOJI:
        *h = pal_hash64(NS_STEM, stems[i].ptr, stems[i].len);
        return true;
    case PAL_TOK_ELISION:
        /* "l'" and "d'" are function words: their information is in the
         * n-grams; as units they would only add noise to bigrams. */
        return false;
    case PAL_TOK_NUMBER:
    case PAL_TOK_POSTCODE:
    case PAL_TOK_URL:
    case PAL_TOK_EMAIL:
    case PAL_TOK_MENTION:
        *h = token_class_hash(t->kind);
        return true;
    case PAL_TOK_PUNCT:
        if (a->folded[i].len == 1 && (a->folded[i].ptr[0] == '?' || a->folded[i].ptr[0] == '!')) {
            *h = pal_hash64(NS_STEM, a->folded[i].ptr, 1);
            return true;
        }
        return false;
    }
    return false;
}

static pal_err word_features(pal_analyzer *analyzer, const pal_analysis *a, pal_lang lang,
                             pal_arena *arena, pal_feature_hashes *out)
{
    const pal_slice *stems = a->stems;
    if (lang != a->lang && lang != PAL_LANG_UNKNOWN) {
        pal_slice *restemmed = pal_arena_alloc(arena, (a->n_tokens + 1) * sizeof(*restemmed));
        for (size_t i = 0; i < a->n_tokens; i++) {
            restemmed[i] = a->stems[i];
            if (a->tokens[i].kind != PAL_TOK_WORD)
                continue;
            pal_slice word = {a->norm.ptr + a->tokens[i].start, a->tokens[i].len};
            pal_err err = pal_analyzer_stem(analyzer, lang, word, &restemmed[i]);
            if (err)
                return err;
        }
        stems = restemmed;
    }
    /* Each unit gives itself and a bigram with the previous one; plus the
     * bigram closing the message. */
    uint64_t *h = pal_arena_alloc(arena, (2 * a->n_tokens + 2) * sizeof(*h));
    size_t n = 0;
    uint64_t prev = pal_hash64(NS_BIGRAM, "^", 1);
    for (size_t i = 0; i < a->n_tokens; i++) {
        uint64_t unit;
        if (!word_unit(a, stems, i, &unit))
            continue;
        h[n++] = unit;
        h[n++] = pal_hash_combine(prev, unit);
        prev = unit;
    }
    if (n > 0)
        h[n++] = pal_hash_combine(prev, pal_hash64(NS_BIGRAM, "$", 1));
    out->hashes[PAL_FEATURE_WORDS] = h;
    out->count[PAL_FEATURE_WORDS] = n;
    return PAL_OK;
}

static void char_features(const pal_analysis *a, pal_arena *arena, pal_feature_hashes *out)
{
    size_t len = a->fold.len + 2;
    char *text = pal_arena_alloc(arena, len + 1);
    text[0] = ' ';
    size_t max_words = 1;
    for (size_t i = 0; i < a->fold.len; i++) {
        char c = a->fold.ptr[i];
        text[i + 1] = (c >= '0' && c <= '9') ? '0' : c;
        max_words += c == ' ';
    }
    text[len - 1] = ' ';
    text[len] = '\0';

    const int orders = PAL_FEATURE_CHAR_MAX - PAL_FEATURE_CHAR_MIN + 1;
    uint64_t *h = pal_arena_alloc(arena, (len * (size_t)orders + 1) * sizeof(*h));
    out->word_start = pal_arena_alloc(arena, (max_words + 1) * sizeof(size_t));
    out->word_key = pal_arena_alloc(arena, (max_words + 1) * sizeof(uint64_t));
    size_t n = 0;
    size_t words = 0;
    /* Words are the runs between single spaces of text; each word's grams
     * start at the space before it and may end on the space after it. */
    size_t start = 1;
    while (a->fold.len > 0 && start < len - 1) {
        size_t end = start;
        while (text[end] != ' ')
            end++;
        out->word_start[words] = n;
        out->word_key[words] = pal_hash64(NS_WORD, text + start, end - start);
        words++;
        for (size_t i = start - 1; i < end; i++) {
            /* Grow the gram one byte at a time; emit from MIN to MAX. */
            uint64_t g = NS_CHAR;
            for (size_t k = 0; k < PAL_FEATURE_CHAR_MAX && i + k <= end; k++) {
                if (k >= 2 && text[i + k - 1] == ' ')
                    break;
                g = (g ^ (unsigned char)text[i + k]) * 0x100000001B3ULL; /* FNV-1a step */
                if (k + 1 >= PAL_FEATURE_CHAR_MIN)
                    h[n++] = pal_hash_combine(g, (uint64_t)(k + 1));
            }
        }
        start = end + 1;
    }
    out->word_start[words] = n;
    out->n_words = words;
    out->hashes[PAL_FEATURE_CHARS] = h;
    out->count[PAL_FEATURE_CHARS] = n;
}

pal_err pal_features_extract(pal_analyzer *analyzer, const pal_analysis *analysis, pal_lang lang,
                             pal_arena *arena, pal_feature_hashes *out)
{
    memset(out, 0, sizeof(*out));
    pal_err err = word_features(analyzer, analysis, lang, arena, out);
    if (err)
        return err;
    char_features(analysis, arena, out);
    return PAL_OK;
}
