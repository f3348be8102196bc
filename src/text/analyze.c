/*
 * analyze.c — the text pipeline for one message (see analyze.h).
 *
 * Snowball stemmers are not thread-safe and cost a few allocations to make,
 * so each analyzer owns one per language and reuses them. Stemming works on
 * the normalised word (the French stemmer needs its accents); the stem is
 * then folded so that "résultats" and "resultat" meet.
 *
 * Stemming one word costs about a thousand instructions, more than all the
 * rest of a word's analysis, while chat vocabularies are small: each
 * analyzer keeps a direct-mapped cache of folded stems (STEM_CACHE entries
 * of 64 bytes, words up to STEM_WORD_MAX bytes), so a known word costs a
 * hash and a compare.
 */
#include "text/analyze.h"

#include <libstemmer.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text/normalize.h"

enum { STEM_CACHE = 4096, STEM_WORD_MAX = 27 };

typedef struct stem_entry {
    uint8_t lang; /* PAL_LANG_UNKNOWN: empty */
    uint8_t word_len;
    uint8_t stem_len;
    char word[STEM_WORD_MAX + 1];
    char stem[STEM_WORD_MAX + 1 + 5];
} stem_entry;

struct pal_analyzer {
    pal_arena *arena;
    struct sb_stemmer *stemmer[PAL_LANG_COUNT]; /* [PAL_LANG_UNKNOWN] is NULL */
    stem_entry *stem_cache;                     /* STEM_CACHE entries */
};

pal_err pal_analyzer_new(pal_analyzer **out)
{
    pal_analyzer *a = pal_xcalloc(1, sizeof(*a));
    a->arena = pal_arena_new();
    a->stem_cache = pal_xcalloc(STEM_CACHE, sizeof(stem_entry));
    a->stemmer[PAL_LANG_FR] = sb_stemmer_new("french", "UTF_8");
    a->stemmer[PAL_LANG_EN] = sb_stemmer_new("english", "UTF_8");
    if (!a->stemmer[PAL_LANG_FR] || !a->stemmer[PAL_LANG_EN]) {
        pal_analyzer_free(a);
        return PAL_ERR_INTERNAL;
    }
    *out = a;
    return PAL_OK;
}

void pal_analyzer_free(pal_analyzer *analyzer)
{
    if (!analyzer)
        return;
    for (int i = 0; i < PAL_LANG_COUNT; i++) {
        if (analyzer->stemmer[i])
            sb_stemmer_delete(analyzer->stemmer[i]);
    }
    pal_arena_free(analyzer->arena);
    free(analyzer->stem_cache);
    free(analyzer);
}

pal_arena *pal_analyzer_arena(pal_analyzer *analyzer)
{
    return analyzer->arena;
}

static bool slice_is_ascii(pal_slice s)
{
    for (size_t i = 0; i < s.len; i++) {
        if ((unsigned char)s.ptr[i] >= 0x80)
            return false;
    }
    return true;
}

/* Folded form of a normalised slice; ASCII is already folded. */
static pal_err fold_slice(pal_arena *arena, pal_slice s, pal_slice *out)
{
    if (slice_is_ascii(s)) {
        *out = s;
        return PAL_OK;
    }
    return pal_text_fold(arena, s.ptr, s.len, out);
}

static size_t stem_slot(pal_lang lang, pal_slice word)
{
    /* FNV-1a over the word, seeded by the language. */
    uint64_t h = 0xCBF29CE484222325ULL ^ (uint64_t)lang;
    for (size_t i = 0; i < word.len; i++)
        h = (h ^ (unsigned char)word.ptr[i]) * 0x100000001B3ULL;
    return (size_t)(h ^ (h >> 29)) & (STEM_CACHE - 1);
}

/* Stems with Snowball and folds the stem; *out in the arena. */
static pal_err stem_uncached(pal_analyzer *analyzer, struct sb_stemmer *stemmer, pal_slice word,
                             pal_slice *out)
{
    const sb_symbol *stem = sb_stemmer_stem(stemmer, (const sb_symbol *)word.ptr, (int)word.len);
    if (!stem)
        return PAL_ERR_INTERNAL; /* libstemmer fails only on allocation */
    int stem_len = sb_stemmer_length(stemmer);
    pal_slice raw = {(const char *)stem, (size_t)stem_len};
    if (slice_is_ascii(raw)) {
        *out = (pal_slice){pal_arena_strndup(analyzer->arena, raw.ptr, raw.len), raw.len};
        return PAL_OK;
    }
    return pal_text_fold(analyzer->arena, raw.ptr, raw.len, out);
}

pal_err pal_analyzer_stem(pal_analyzer *analyzer, pal_lang lang, pal_slice word, pal_slice *out)
{
    struct sb_stemmer *stemmer = analyzer->stemmer[lang];
    if (!stemmer || word.len == 0 || word.len > 64) {
        /* Very long "words" are noise (or attacks): not worth stemming. */
        return fold_slice(analyzer->arena, word, out);
    }
    if (word.len > STEM_WORD_MAX)
        return stem_uncached(analyzer, stemmer, word, out);
    stem_entry *e = &analyzer->stem_cache[stem_slot(lang, word)];
    if (e->lang == lang && e->word_len == word.len && memcmp(e->word, word.ptr, word.len) == 0) {
        /* A copy: a later word of the same message may reuse this entry. */
        *out = (pal_slice){pal_arena_strndup(analyzer->arena, e->stem, e->stem_len), e->stem_len};
        return PAL_OK;
    }
    pal_err err = stem_uncached(analyzer, stemmer, word, out);
    if (err || out->len >= sizeof(e->stem))
        return err;
    e->lang = (uint8_t)lang;
    e->word_len = (uint8_t)word.len;
    memcpy(e->word, word.ptr, word.len);
    e->stem_len = (uint8_t)out->len;
    memcpy(e->stem, out->ptr, out->len);
    e->stem[out->len] = '\0';
    return PAL_OK;
}

/* The folded tokens (punctuation left out) joined by single spaces. */
static pal_slice join_folded(pal_arena *arena, const pal_token *tokens, const pal_slice *folded,
                             size_t n)
{
    size_t total = 1;
    for (size_t i = 0; i < n; i++)
        total += folded[i].len + 1;
    char *buf = pal_arena_alloc(arena, total);
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        if (tokens[i].kind == PAL_TOK_PUNCT || folded[i].len == 0)
            continue; /* a lone combining mark folds to nothing */
        if (len > 0)
            buf[len++] = ' ';
        memcpy(buf + len, folded[i].ptr, folded[i].len);
        len += folded[i].len;
    }
    buf[len] = '\0';
    return (pal_slice){buf, len};
}

static pal_lang detect_language(pal_arena *arena, pal_slice norm, const pal_token *tokens, size_t n,
                                float *confidence)
{
    pal_slice *words = pal_arena_alloc(arena, (n + 1) * sizeof(*words));
    size_t n_words = 0;
    for (size_t i = 0; i < n; i++) {
        if (tokens[i].kind == PAL_TOK_WORD || tokens[i].kind == PAL_TOK_ELISION)
            words[n_words++] = (pal_slice){norm.ptr + tokens[i].start, tokens[i].len};
    }
    pal_langid_result r = pal_langid_words(words, n_words);
    *confidence = r.confidence;
    return r.lang;
}

pal_err pal_analyze(pal_analyzer *analyzer, const char *text, size_t len, pal_lang lang_hint,
                    pal_analysis *out)
{
    pal_arena *arena = analyzer->arena;
    pal_err err;
    memset(out, 0, sizeof(*out));
    if (len > PAL_TEXT_MAX_BYTES)
        return PAL_ERR_LIMIT;
    pal_arena_reset(arena);

    pal_slice norm;
    err = pal_text_normalize(arena, text, len, &norm);
    if (err)
        return err;
    pal_token *tokens;
    size_t n;
    err = pal_tokenize(arena, norm.ptr, norm.len, &tokens, &n);
    if (err)
        return err;

    pal_slice *folded = pal_arena_alloc(arena, (n + 1) * sizeof(*folded));
    pal_slice *stems = pal_arena_alloc(arena, (n + 1) * sizeof(*stems));
    for (size_t i = 0; i < n; i++) {
        err = fold_slice(arena, (pal_slice){norm.ptr + tokens[i].start, tokens[i].len}, &folded[i]);
        if (err)
            return err;
    }

    float confidence = 1.0f;
    pal_lang lang = lang_hint;
    if (lang == PAL_LANG_UNKNOWN)
        lang = detect_language(arena, norm, tokens, n, &confidence);

    for (size_t i = 0; i < n; i++) {
        if (tokens[i].kind != PAL_TOK_WORD || lang == PAL_LANG_UNKNOWN) {
            stems[i] = folded[i];
            continue;
        }
        err = pal_analyzer_stem(analyzer, lang,
                                (pal_slice){norm.ptr + tokens[i].start, tokens[i].len}, &stems[i]);
        if (err)
            return err;
    }

    out->norm = norm;
    out->fold = join_folded(arena, tokens, folded, n);
    out->tokens = tokens;
    out->folded = folded;
    out->stems = stems;
    out->n_tokens = n;
    out->lang = lang;
    out->lang_confidence = confidence;
    return PAL_OK;
}
