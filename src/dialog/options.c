/*
 * options.c — matching an answer against a closed list (see options.h).
 *
 * Only the first ANSWER_WORDS words of an answer are read: an answer to
 * "which one?" is short, and a long message must not cost a scan of every
 * word against every option. Word hits are kept as one bit per answer word
 * and per option, so a word shared by two texts of the same option counts
 * once.
 */
#include "dialog/options.h"

#include <stdint.h>
#include <string.h>

#include "nlu/entities.h"
#include "text/normalize.h"

enum {
    ANSWER_WORDS = 16,  /* words of the answer compared (bits of a uint32_t) */
    MIN_WORD = 3,       /* shorter words ("la", "de", "of") say nothing */
    MIN_TYPO_WORD = 4,  /* one edit is tolerated from this length on */
    MAX_BARE_DIGITS = 3 /* "2", "10"; not a postal code */
};

static bool is_word_byte(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || (unsigned char)ch >= 0x80;
}

/* s folded, with only its words, joined by single spaces; in arena. */
static pal_slice squash(pal_arena *arena, const char *s, size_t len)
{
    pal_slice folded;
    if (pal_text_fold(arena, s, len, &folded) != PAL_OK)
        return (pal_slice){"", 0};
    char *out = pal_arena_alloc(arena, folded.len + 1);
    size_t n = 0;
    for (size_t i = 0; i < folded.len; i++) {
        char ch = folded.ptr[i];
        if (is_word_byte(ch))
            out[n++] = ch;
        else if (n > 0 && out[n - 1] != ' ')
            out[n++] = ' ';
    }
    while (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
    return (pal_slice){out, n};
}

/* text as an answer's analysis sees it: normalised, tokenised ("13e" ->
 * "13" "e", "l'abergement" -> "l'" "abergement"), its tokens folded and
 * joined (punctuation left out), then squashed; in arena. */
static pal_slice squash_text(pal_arena *arena, const char *text, size_t len)
{
    pal_slice norm;
    pal_token *tokens;
    size_t n;
    if (pal_text_normalize(arena, text, len, &norm) != PAL_OK ||
        pal_tokenize(arena, norm.ptr, norm.len, &tokens, &n) != PAL_OK)
        return (pal_slice){"", 0};
    char *joined = pal_arena_alloc(arena, norm.len + n + 1);
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        if (tokens[i].kind == PAL_TOK_PUNCT)
            continue;
        if (at > 0)
            joined[at++] = ' ';
        memcpy(joined + at, norm.ptr + tokens[i].start, tokens[i].len);
        at += tokens[i].len;
    }
    joined[at] = '\0';
    return squash(arena, joined, at);
}

void pal_options_init(pal_options *options, pal_arena *arena, size_t capacity)
{
    memset(options, 0, sizeof(*options));
    options->arena = arena;
    options->cap = capacity;
    options->texts = pal_arena_alloc(arena, (capacity + 1) * sizeof(*options->texts));
    options->option = pal_arena_alloc(arena, (capacity + 1) * sizeof(*options->option));
}

void pal_options_add(pal_options *options, const char *text, int option)
{
    if (!text || option < 0 || options->n == options->cap)
        return;
    pal_slice s = squash_text(options->arena, text, strlen(text));
    if (s.len == 0)
        return;
    options->texts[options->n] = s;
    options->option[options->n++] = option;
    if (option >= options->n_options)
        options->n_options = option + 1;
}

/* The next word of s from *at (advanced past it); false at the end. */
static bool next_word(pal_slice s, size_t *at, pal_slice *word)
{
    while (*at < s.len && s.ptr[*at] == ' ')
        (*at)++;
    if (*at >= s.len)
        return false;
    size_t start = *at;
    while (*at < s.len && s.ptr[*at] != ' ')
        (*at)++;
    *word = (pal_slice){s.ptr + start, *at - start};
    return true;
}

static bool words_match(pal_slice a, pal_slice b)
{
    if (a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0)
        return true;
    return a.len >= MIN_TYPO_WORD && b.len >= MIN_TYPO_WORD && pal_edit_distance(a, b, 1) <= 1;
}

/* Bits of the answer words (up to ANSWER_WORDS) that text contains. */
static uint32_t word_hits(const pal_slice *words, size_t n_words, pal_slice text)
{
    uint32_t hits = 0;
    size_t at = 0;
    pal_slice w;
    while (next_word(text, &at, &w)) {
        for (size_t j = 0; j < n_words; j++) {
            if (words_match(words[j], w))
                hits |= (uint32_t)1 << j;
        }
    }
    return hits;
}

static unsigned popcount32(uint32_t x)
{
    unsigned n = 0;
    for (; x; x &= x - 1)
        n++;
    return n;
}

static bool is_digits(pal_slice w)
{
    for (size_t i = 0; i < w.len; i++) {
        if (w.ptr[i] < '0' || w.ptr[i] > '9')
            return false;
    }
    return w.len > 0;
}

/* Rule 3: the option sharing the most words with the answer; -1 if none
 * shares a word, -2 if several tie. Numbers count whatever their length:
 * "13" of "13e" tells "Marseille 13e" from "Marseille 12e". */
static int match_words(const pal_options *o, pal_slice answer)
{
    pal_slice words[ANSWER_WORDS];
    size_t n_words = 0, at = 0;
    pal_slice w;
    while (n_words < ANSWER_WORDS && next_word(answer, &at, &w)) {
        if (w.len >= MIN_WORD || is_digits(w))
            words[n_words++] = w;
    }
    if (n_words == 0)
        return -1;
    uint32_t *hits = pal_arena_alloc(o->arena, (size_t)o->n_options * sizeof(*hits) + 1);
    memset(hits, 0, (size_t)o->n_options * sizeof(*hits));
    for (size_t i = 0; i < o->n; i++)
        hits[o->option[i]] |= word_hits(words, n_words, o->texts[i]);
    int best = -1;
    unsigned best_hits = 0;
    bool tie = false;
    for (int k = 0; k < o->n_options; k++) {
        unsigned n = popcount32(hits[k]);
        if (n > best_hits) {
            best = k;
            best_hits = n;
            tie = false;
        } else if (n == best_hits && n > 0) {
            tie = true;
        }
    }
    return tie ? -2 : best;
}

/* Rule 1: the one option with a text equal to the answer, -1 if none,
 * -2 if several. */
static int match_equal(const pal_options *o, pal_slice answer)
{
    int found = -1;
    for (size_t i = 0; i < o->n; i++) {
        pal_slice t = o->texts[i];
        if (t.len != answer.len || memcmp(t.ptr, answer.ptr, t.len) != 0)
            continue;
        if (found >= 0 && found != o->option[i])
            return -2;
        found = o->option[i];
    }
    return found;
}

static bool in_list(pal_slice w, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (pal_slice_eq(w, list[i]))
            return true;
    }
    return false;
}

#define IN_LIST(w, list) in_list((w), (list), sizeof(list) / sizeof((list)[0]))

/* Words that may stand beside an ordinal: "la troisième", "the third one". */
static bool ordinal_filler(pal_slice w)
{
    static const char *const fillers[] = {"la",    "le",     "l'",     "the",    "one",   "option",
                                          "choix", "choice", "bouton", "button", "ligne", "line",
                                          "row",   "please", "svp",    "stp",    "merci", "thanks"};
    return IN_LIST(w, fillers);
}

/* k for an ordinal in words ("troisième", "third") or in digits with its
 * suffix ("3e", "3ème", "3rd": tokens "3" "e"), else 0. *used is the number
 * of tokens from i that it takes. */
static long ordinal_at(const pal_analysis *answer, size_t i, size_t *used)
{
    static const char *const words[][4] = {
        {"premier", "premiere", "first", NULL}, {"deuxieme", "second", "seconde", NULL},
        {"troisieme", "third", NULL, NULL},     {"quatrieme", "fourth", NULL, NULL},
        {"cinquieme", "fifth", NULL, NULL},     {"sixieme", "sixth", NULL, NULL},
        {"septieme", "seventh", NULL, NULL},    {"huitieme", "eighth", NULL, NULL},
        {"neuvieme", "ninth", NULL, NULL},      {"dixieme", "tenth", NULL, NULL},
    };
    static const char *const suffixes[] = {"e",  "er",  "re", "ere", "eme", "ieme",
                                           "nd", "nde", "st", "rd",  "th"};
    pal_slice w = answer->folded[i];
    *used = 1;
    for (size_t k = 0; k < sizeof(words) / sizeof(words[0]); k++) {
        for (size_t v = 0; v < 4 && words[k][v]; v++) {
            if (pal_slice_eq(w, words[k][v]))
                return (long)k + 1;
        }
    }
    if (answer->tokens[i].kind != PAL_TOK_NUMBER || !is_digits(w) || w.len > MAX_BARE_DIGITS ||
        i + 1 >= answer->n_tokens || answer->tokens[i + 1].kind != PAL_TOK_WORD ||
        !IN_LIST(answer->folded[i + 1], suffixes))
        return 0;
    long number = 0;
    for (size_t k = 0; k < w.len; k++)
        number = number * 10 + (w.ptr[k] - '0');
    *used = 2;
    return number;
}

/* Rule 4: k when the answer is only an ordinal (with at most an article and
 * "one": "la troisième", "the third one", "le 1er"), else 0. */
static long ordinal(const pal_analysis *answer)
{
    long number = 0;
    for (size_t i = 0; i < answer->n_tokens;) {
        size_t used = 1;
        long k = ordinal_at(answer, i, &used);
        if (k > 0) {
            if (number)
                return 0;
            number = k;
        } else if (answer->tokens[i].kind != PAL_TOK_PUNCT && !ordinal_filler(answer->folded[i])) {
            return 0;
        }
        i += used;
    }
    return number;
}

int pal_options_match(const pal_options *options, const pal_analysis *answer)
{
    if (options->n == 0)
        return -1;
    pal_slice a = squash(options->arena, answer->fold.ptr, answer->fold.len);
    int found = match_equal(options, a);
    if (found >= 0)
        return found;
    long k = pal_options_bare_number(answer);
    if (k >= 1 && k <= options->n_numbered)
        return (int)k - 1;
    if (found == -2)
        return -1;
    found = match_words(options, a);
    if (found != -1)
        return found >= 0 ? found : -1;
    k = ordinal(answer);
    return k >= 1 && k <= options->n_numbered ? (int)k - 1 : -1;
}

/* Words that may stand beside a bare number: "la 2", "the 2", "n° 2". */
static bool number_article(pal_slice w)
{
    /* Not "no": "no, 2" corrects an earlier answer. */
    static const char *const articles[] = {"la",  "le",     "l'",     "the",    "n",     "nr",
                                           "num", "numero", "number", "option", "choix", "choice"};
    for (size_t i = 0; i < sizeof(articles) / sizeof(articles[0]); i++) {
        if (pal_slice_eq(w, articles[i]))
            return true;
    }
    return false;
}

long pal_options_bare_number(const pal_analysis *answer)
{
    long number = 0;
    for (size_t i = 0; i < answer->n_tokens; i++) {
        pal_token_kind kind = answer->tokens[i].kind;
        pal_slice w = answer->folded[i];
        if (kind == PAL_TOK_PUNCT || (kind != PAL_TOK_NUMBER && number_article(w)))
            continue;
        if (kind != PAL_TOK_NUMBER || number || w.len > MAX_BARE_DIGITS)
            return 0;
        for (size_t k = 0; k < w.len; k++) {
            if (w.ptr[k] < '0' || w.ptr[k] > '9')
                return 0; /* 3.5, 3,5 */
            number = number * 10 + (w.ptr[k] - '0');
        }
        if (number == 0)
            return 0;
    }
    return number;
}
