/*
 * numbers.c — numbers in digits and in French or English words (see numbers.h).
 *
 * Digits: a NUMBER or POSTCODE token ("3", "3,5", "3.5", "75011"); French
 * thousands written with spaces ("2 000", "1 500 000"); a multiplier word
 * after digits ("2 mille", "3 dozen", "1,5 million"). A single separator
 * followed by exactly three digits is a thousands separator when the message
 * is in the language that writes it so ("1,000" in English, "1.000" in
 * French), a decimal point otherwise. More than 15 digits is not a quantity
 * anyone orders (and cannot be held exactly in a double): skipped.
 *
 * Words: a small state machine over the folded tokens, one group of three
 * digits at a time, that knows which word may follow which: "vingt" may take
 * a unit ("vingt deux") or "et un"; "soixante" and "quatre-vingt" may take
 * "dix".."dix-neuf"; "dix" may take "sept", "huit", "neuf"; a unit may take
 * "cent(s)"/"hundred"; a group may take "mille"/"thousand"/"million". Two
 * words that do not combine are two numbers ("deux trois" is 2 and 3).
 * The tokeniser has already split hyphens, so "quatre-vingt-dix-sept"
 * arrives as four tokens.
 *
 * "a"/"an" count as one only before hundred, thousand, million, dozen,
 * couple, pair ("a dozen"); "et"/"and" are never numbers on their own. A lone
 * "un", "une" or "one" is marked weak.
 *
 * Spelling: a word of five letters or more, not itself a number word,
 * within one edit (Damerau-Levenshtein) of a number word of four letters or
 * more that starts with the same letter, is read as that number word
 * ("quattre", "deuxx", "quatr"). Real words that sit one edit away
 * ("there"/three, "doute"/douze, "tente"/trente, "fifth"/fifty) are listed
 * and never corrected.
 *
 * Pure and thread-safe: the lexicon is a constant table.
 */
#include "nlu/numbers.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nlu/entities.h"

enum {
    NUM_MAX_DIGITS = 15, /* significant digits a double holds exactly */
    FUZZY_MIN_LEN = 5,   /* shortest misspelt word we try to read */
    FUZZY_MIN_TARGET = 4 /* shortest number word we correct towards */
};

/* The largest value found: a double counts units exactly up to here. */
static const double NUM_MAX_VALUE = 1e15;

typedef enum word_class {
    W_UNIT,     /* 0..9 */
    W_TEEN,     /* 10..19 */
    W_TEN,      /* 20..90 */
    W_HUNDRED,  /* cent, hundred */
    W_THOUSAND, /* mille, thousand */
    W_MILLION,  /* million */
    W_GROUP,    /* a counted group: dozen (12), dizaine (10), centaine (100)… */
    W_PAIR,     /* couple, pair: 2, only after an article */
    W_HALF,     /* half, demi: only in "half a dozen", "demi-douzaine" */
    W_ARTICLE,  /* a, an: 1 only before a multiplier */
    W_AND,      /* et, and: only between parts of a number */
} word_class;

enum word_flag {
    WF_FR = 1u << 0,        /* a French word */
    WF_EN = 1u << 1,        /* an English word */
    WF_ONE = 1u << 2,       /* un, une, one: weak when alone */
    WF_NEEDS_MULT = 1u << 3 /* "cents" needs a count before it ("deux cents") */
};

typedef struct number_word {
    const char *word; /* folded */
    word_class cls;
    int value;
    unsigned flags;
} number_word;

static const number_word number_words[] = {
    /* French */
    {"zero", W_UNIT, 0, WF_FR | WF_EN},
    {"un", W_UNIT, 1, WF_FR | WF_ONE},
    {"une", W_UNIT, 1, WF_FR | WF_ONE},
    {"deux", W_UNIT, 2, WF_FR},
    {"trois", W_UNIT, 3, WF_FR},
    {"quatre", W_UNIT, 4, WF_FR},
    {"cinq", W_UNIT, 5, WF_FR},
    {"six", W_UNIT, 6, WF_FR | WF_EN},
    {"sept", W_UNIT, 7, WF_FR},
    {"huit", W_UNIT, 8, WF_FR},
    {"neuf", W_UNIT, 9, WF_FR},
    {"dix", W_TEEN, 10, WF_FR},
    {"onze", W_TEEN, 11, WF_FR},
    {"douze", W_TEEN, 12, WF_FR},
    {"treize", W_TEEN, 13, WF_FR},
    {"quatorze", W_TEEN, 14, WF_FR},
    {"quinze", W_TEEN, 15, WF_FR},
    {"seize", W_TEEN, 16, WF_FR},
    {"vingt", W_TEN, 20, WF_FR},
    {"vingts", W_TEN, 20, WF_FR},
    {"trente", W_TEN, 30, WF_FR},
    {"quarante", W_TEN, 40, WF_FR},
    {"cinquante", W_TEN, 50, WF_FR},
    {"soixante", W_TEN, 60, WF_FR},
    {"septante", W_TEN, 70, WF_FR},
    {"huitante", W_TEN, 80, WF_FR},
    {"octante", W_TEN, 80, WF_FR},
    {"nonante", W_TEN, 90, WF_FR},
    {"cent", W_HUNDRED, 100, WF_FR},
    {"cents", W_HUNDRED, 100, WF_FR | WF_NEEDS_MULT},
    {"mille", W_THOUSAND, 1000, WF_FR},
    {"million", W_MILLION, 1000000, WF_FR | WF_EN},
    {"millions", W_MILLION, 1000000, WF_FR | WF_EN},
    {"dizaine", W_GROUP, 10, WF_FR},
    {"dizaines", W_GROUP, 10, WF_FR},
    {"douzaine", W_GROUP, 12, WF_FR},
    {"douzaines", W_GROUP, 12, WF_FR},
    {"quinzaine", W_GROUP, 15, WF_FR},
    {"quinzaines", W_GROUP, 15, WF_FR},
    {"vingtaine", W_GROUP, 20, WF_FR},
    {"vingtaines", W_GROUP, 20, WF_FR},
    {"centaine", W_GROUP, 100, WF_FR},
    {"centaines", W_GROUP, 100, WF_FR},
    {"millier", W_GROUP, 1000, WF_FR},
    {"milliers", W_GROUP, 1000, WF_FR},
    {"paire", W_PAIR, 2, WF_FR},
    {"demi", W_HALF, 0, WF_FR},
    {"et", W_AND, 0, WF_FR},
    /* English */
    {"one", W_UNIT, 1, WF_EN | WF_ONE},
    {"two", W_UNIT, 2, WF_EN},
    {"three", W_UNIT, 3, WF_EN},
    {"four", W_UNIT, 4, WF_EN},
    {"five", W_UNIT, 5, WF_EN},
    {"seven", W_UNIT, 7, WF_EN},
    {"eight", W_UNIT, 8, WF_EN},
    {"nine", W_UNIT, 9, WF_EN},
    {"ten", W_TEEN, 10, WF_EN},
    {"eleven", W_TEEN, 11, WF_EN},
    {"twelve", W_TEEN, 12, WF_EN},
    {"thirteen", W_TEEN, 13, WF_EN},
    {"fourteen", W_TEEN, 14, WF_EN},
    {"fifteen", W_TEEN, 15, WF_EN},
    {"sixteen", W_TEEN, 16, WF_EN},
    {"seventeen", W_TEEN, 17, WF_EN},
    {"eighteen", W_TEEN, 18, WF_EN},
    {"nineteen", W_TEEN, 19, WF_EN},
    {"twenty", W_TEN, 20, WF_EN},
    {"thirty", W_TEN, 30, WF_EN},
    {"forty", W_TEN, 40, WF_EN},
    {"fourty", W_TEN, 40, WF_EN},
    {"fifty", W_TEN, 50, WF_EN},
    {"sixty", W_TEN, 60, WF_EN},
    {"seventy", W_TEN, 70, WF_EN},
    {"eighty", W_TEN, 80, WF_EN},
    {"ninety", W_TEN, 90, WF_EN},
    {"hundred", W_HUNDRED, 100, WF_EN},
    {"thousand", W_THOUSAND, 1000, WF_EN},
    {"dozen", W_GROUP, 12, WF_EN},
    {"couple", W_PAIR, 2, WF_EN},
    {"pair", W_PAIR, 2, WF_EN},
    {"half", W_HALF, 0, WF_EN},
    {"a", W_ARTICLE, 1, WF_EN},
    {"an", W_ARTICLE, 1, WF_EN},
    {"and", W_AND, 0, WF_EN},
};

/* Real words one edit away from a number word with the same first letter:
 * never read as misspelt numbers. */
static const char *const fuzzy_stop_words[] = {
    /* English */
    "there", "threw", "fifth", "sixth", "forth", "forte", "sever", "steven", "seventh", "eighth",
    "eights", "thirsty", "hundreds", "thousands", "dozens", "dozer", "fours", "flour", "fives",
    "fiver", "nines", "sevens", "tenth", "elven", "fifths", "sixths", "fourth", "fourths", "octane",
    "millers",
    /* French */
    "doute", "douce", "douche", "tente", "trous", "trios", "troie", "quinte", "seine", "neufs",
    "huits", "milles", "mills", "quarte", "septs", "cente", "centre", "sixte", "dixit", "onzes"};

/* The lexicon entry for a folded word spelt exactly, or NULL. */
static const number_word *lookup_exact(pal_slice word)
{
    for (size_t i = 0; i < sizeof(number_words) / sizeof(number_words[0]); i++) {
        /* First letters first: this runs on every token of every message. */
        if (number_words[i].word[0] == word.ptr[0] && pal_slice_eq(word, number_words[i].word))
            return &number_words[i];
    }
    return NULL;
}

static bool is_stop_word(pal_slice word)
{
    for (size_t i = 0; i < sizeof(fuzzy_stop_words) / sizeof(fuzzy_stop_words[0]); i++) {
        if (pal_slice_eq(word, fuzzy_stop_words[i]))
            return true;
    }
    return false;
}

/* The number word that `word` is a plausible misspelling of, or NULL (none,
 * or two candidates with different values). */
static const number_word *lookup_fuzzy(pal_slice word)
{
    if (word.len < FUZZY_MIN_LEN)
        return NULL;
    const number_word *found = NULL;
    for (size_t i = 0; i < sizeof(number_words) / sizeof(number_words[0]); i++) {
        const number_word *w = &number_words[i];
        /* Cheap tests first: almost every word fails on its first letter. */
        if (w->cls > W_GROUP || w->word[0] != word.ptr[0])
            continue;
        size_t wlen = strlen(w->word);
        if (wlen < FUZZY_MIN_TARGET || wlen + 1 < word.len || word.len + 1 < wlen)
            continue;
        if (pal_edit_distance(word, (pal_slice){w->word, wlen}, 1) > 1)
            continue;
        if (found && (found->cls != w->cls || found->value != w->value))
            return NULL;
        found = w;
    }
    /* The stop list only matters for a word that would otherwise match. */
    if (found && is_stop_word(word))
        return NULL;
    return found;
}

/* The lexicon entry for token i, exact or misspelt; NULL when it is not a
 * number word (or not a word at all). */
static const number_word *word_at(const pal_analysis *analysis, size_t i)
{
    if (i >= analysis->n_tokens || analysis->tokens[i].kind != PAL_TOK_WORD)
        return NULL;
    pal_slice word = analysis->folded[i];
    if (word.len == 0)
        return NULL;
    const number_word *w = lookup_exact(word);
    return w ? w : lookup_fuzzy(word);
}

bool pal_number_word_value(pal_slice word, double *value)
{
    if (!word.ptr || word.len == 0)
        return false;
    const number_word *w = lookup_exact(word);
    if (!w || w->cls > W_GROUP)
        return false;
    if (value)
        *value = w->value;
    return true;
}

/* ---- digits ---------------------------------------------------------- */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_digit_token(const pal_analysis *analysis, size_t i)
{
    return i < analysis->n_tokens && (analysis->tokens[i].kind == PAL_TOK_NUMBER ||
                                      analysis->tokens[i].kind == PAL_TOK_POSTCODE);
}

/* Parses a token of digits with at most one ',' or '.' separator.
 * *is_integer (OUT) is false when a decimal part was read. False when the
 * token is not of that shape or has too many digits. */
static bool parse_digits(pal_slice s, pal_lang lang, double *value, bool *is_integer)
{
    size_t sep = s.len;
    size_t n_digits = 0;
    size_t significant = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (is_digit(s.ptr[i])) {
            n_digits++;
            if (significant > 0 || s.ptr[i] != '0')
                significant++;
        } else if ((s.ptr[i] == ',' || s.ptr[i] == '.') && sep == s.len && i > 0 && i + 1 < s.len) {
            sep = i;
        } else {
            return false;
        }
    }
    if (n_digits == 0 || significant > NUM_MAX_DIGITS)
        return false;

    bool thousands = false;
    if (sep < s.len && s.len - sep - 1 == 3) {
        /* "1,000" is a thousand in English, "1.000" one in French. */
        thousands = (lang == PAL_LANG_EN && s.ptr[sep] == ',') ||
                    (lang == PAL_LANG_FR && s.ptr[sep] == '.');
    }

    uint64_t whole = 0;
    uint64_t frac = 0;
    double scale = 1.0;
    for (size_t i = 0; i < s.len; i++) {
        if (i == sep)
            continue;
        unsigned d = (unsigned)(s.ptr[i] - '0');
        if (i < sep || thousands) {
            whole = whole * 10 + d;
        } else {
            frac = frac * 10 + d;
            scale *= 10.0;
        }
    }
    *value = (double)whole + (double)frac / scale;
    *is_integer = sep == s.len || thousands;
    return true;
}

/* Whether token j is a group of exactly three digits glued to token j-1 by
 * one space ("2 000"), the French way of writing thousands. */
static bool is_space_group(const pal_analysis *analysis, size_t j)
{
    if (!is_digit_token(analysis, j))
        return false;
    const pal_token *prev = &analysis->tokens[j - 1];
    const pal_token *t = &analysis->tokens[j];
    if (t->len != 3 || (size_t)prev->start + prev->len + 1 != t->start)
        return false;
    const char *p = analysis->norm.ptr + t->start;
    return analysis->norm.ptr[t->start - 1] == ' ' && is_digit(p[0]) && is_digit(p[1]) &&
           is_digit(p[2]);
}

/* A number in digits starting at token i; false when token i is not one. */
static bool match_digits(const pal_analysis *analysis, size_t i, pal_number_match *m)
{
    double value;
    bool is_integer;
    if (!parse_digits(analysis->folded[i], analysis->lang, &value, &is_integer))
        return false;
    size_t end = i + 1;

    /* "2 000", "1 500 000": only after an integer of one to three digits. */
    if (is_integer && analysis->tokens[i].len <= 3) {
        size_t n_digits = analysis->tokens[i].len;
        while (is_space_group(analysis, end) && n_digits + 3 <= NUM_MAX_DIGITS) {
            const char *p = analysis->norm.ptr + analysis->tokens[end].start;
            value = value * 1000 + (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
            n_digits += 3;
            end++;
        }
    }

    /* "2 mille", "3 dozen", "1,5 million". Not past 10^15, where a double
     * stops counting units exactly: "222222222222222 million" is the
     * digits, then a word. */
    const number_word *w = word_at(analysis, end);
    if (w && (w->cls == W_THOUSAND || w->cls == W_MILLION || w->cls == W_GROUP) &&
        value * w->value <= NUM_MAX_VALUE) {
        value *= w->value;
        end++;
    }

    *m = (pal_number_match){.tok_start = i, .tok_end = end, .value = value};
    return true;
}

/* ---- words ----------------------------------------------------------- */

typedef enum sub_state {
    S_START,    /* nothing yet below the hundred in this group */
    S_ARTICLE,  /* "a"/"an" read: only a multiplier may follow */
    S_UNIT,     /* a unit 1..9 */
    S_TEN,      /* a ten: may take a unit, maybe "et un", maybe a teen */
    S_DIX,      /* French "dix" ending the part: may take sept, huit, neuf */
    S_COMPLETE, /* below-hundred part complete: only a multiplier may follow */
    S_FINAL,    /* nothing may follow ("zero", "a dozen") */
} sub_state;

typedef struct word_parse {
    double total;          /* closed millions and thousands */
    int hundreds;          /* hundreds of the current group */
    int sub;               /* the part of the group below the hundred */
    sub_state state;       /* what may follow */
    bool ten_takes_teen;   /* soixante, quatre-vingt: may take dix..dix-neuf */
    bool ten_takes_et;     /* vingt..soixante, septante..nonante: may take "et un" */
    bool after_multiplier; /* a hundred/thousand/million was just closed */
    bool has_thousand;
    bool has_million;
    size_t first_word; /* index of the first token of the number */
} word_parse;

static void close_million(word_parse *p, int scale)
{
    int count = p->hundreds + p->sub;
    p->total += (double)(count ? count : 1) * scale;
    p->hundreds = 0;
    p->sub = 0;
    p->state = S_START;
    p->after_multiplier = true;
}

/* Tries to add the word w (at token i) to the number being read; false when
 * it does not continue it. May consume a following token (*extra OUT = 1). */
static bool parse_step(word_parse *p, const pal_analysis *analysis, size_t i, const number_word *w,
                       size_t *extra)
{
    *extra = 0;
    bool first = i == p->first_word;
    bool was_after_mult = p->after_multiplier;
    p->after_multiplier = false;

    switch (w->cls) {
    case W_UNIT:
        if (p->state == S_START) {
            p->sub = w->value;
            p->state = w->value == 0 ? S_FINAL : S_UNIT;
            return true;
        }
        if (p->state == S_TEN && w->value > 0) {
            p->sub += w->value;
            p->state = S_COMPLETE;
            return true;
        }
        if (p->state == S_DIX && w->value >= 7 && (w->flags & WF_FR)) {
            p->sub += w->value;
            p->state = S_COMPLETE;
            return true;
        }
        break;
    case W_TEEN:
        if (p->state == S_START || (p->state == S_TEN && p->ten_takes_teen && (w->flags & WF_FR))) {
            p->sub += w->value;
            p->state = (w->value == 10 && (w->flags & WF_FR)) ? S_DIX : S_COMPLETE;
            return true;
        }
        break;
    case W_TEN:
        if (p->state == S_START) {
            p->sub = w->value;
            p->state = S_TEN;
            p->ten_takes_teen = w->value == 60 && (w->flags & WF_FR);
            p->ten_takes_et = (w->flags & WF_FR) != 0;
            return true;
        }
        if (p->state == S_UNIT && p->sub == 4 && w->value == 20 && (w->flags & WF_FR)) {
            p->sub = 80; /* quatre-vingt(s) */
            p->state = S_TEN;
            p->ten_takes_teen = true;
            p->ten_takes_et = false;
            return true;
        }
        break;
    case W_HUNDRED:
        if (p->hundreds != 0 || p->state == S_DIX || p->state == S_FINAL)
            break;
        if ((w->flags & WF_NEEDS_MULT) && p->sub < 2)
            break;
        p->hundreds = (p->sub ? p->sub : 1) * 100;
        p->sub = 0;
        p->state = S_START;
        p->after_multiplier = true;
        return true;
    case W_THOUSAND:
        if (p->has_thousand || p->state == S_DIX || p->state == S_FINAL)
            break;
        close_million(p, 1000);
        p->has_thousand = true;
        return true;
    case W_MILLION:
        if (p->has_million || p->has_thousand || p->state == S_DIX || p->state == S_FINAL)
            break;
        close_million(p, 1000000);
        p->has_million = true;
        return true;
    case W_GROUP: {
        if (p->total != 0 || p->state == S_DIX || p->state == S_FINAL)
            break;
        int counted = p->hundreds + p->sub; /* "deux douzaines"; "a dozen" counts one */
        p->sub = (counted > 0 ? counted : 1) * w->value;
        p->hundreds = 0;
        p->state = S_FINAL;
        return true;
    }
    case W_PAIR:
        /* "a couple", "a pair", "une paire": only right after the article. */
        if (!(p->state == S_ARTICLE || (p->state == S_UNIT && p->sub == 1)) ||
            i != p->first_word + 1)
            break;
        p->sub = 2;
        p->state = S_FINAL;
        return true;
    case W_ARTICLE: {
        if (!first)
            break;
        const number_word *next = word_at(analysis, i + 1);
        if (!next || !(next->cls == W_HUNDRED || next->cls == W_THOUSAND ||
                       next->cls == W_MILLION || next->cls == W_GROUP || next->cls == W_PAIR))
            break;
        if (next->flags & WF_NEEDS_MULT)
            break;
        p->sub = 1;
        p->state = S_ARTICLE;
        return true;
    }
    case W_AND: {
        const number_word *next = word_at(analysis, i + 1);
        if (!next)
            break;
        bool next_is_un = next->cls == W_UNIT && next->value == 1 && (next->flags & WF_FR);
        if (w->flags & WF_FR) {
            /* "vingt et un", "soixante et onze", "mille et une" */
            if (p->state == S_TEN && p->ten_takes_et && next_is_un) {
                p->sub += 1;
            } else if (p->state == S_TEN && p->sub == 60 && next->cls == W_TEEN &&
                       next->value == 11) {
                p->sub += 11;
            } else if (was_after_mult && p->state == S_START && next_is_un) {
                p->sub = 1;
            } else {
                break;
            }
            p->state = S_COMPLETE;
            *extra = 1;
            return true;
        }
        /* "one hundred and five", "a thousand and one" */
        if (was_after_mult && p->state == S_START &&
            (next->cls == W_UNIT || next->cls == W_TEEN || next->cls == W_TEN)) {
            p->after_multiplier = false;
            return true;
        }
        break;
    }
    case W_HALF:
        break;
    }
    p->after_multiplier = was_after_mult;
    return false;
}

/* "half a dozen", "a half dozen", "une demi-douzaine", "demi douzaine":
 * half of a group word, from token i. */
static bool match_half(const pal_analysis *analysis, size_t i, pal_number_match *m)
{
    size_t j = i;
    const number_word *w = word_at(analysis, j);
    if (w && (w->cls == W_ARTICLE || (w->cls == W_UNIT && w->value == 1 && (w->flags & WF_ONE))))
        w = word_at(analysis, ++j);
    if (!w || w->cls != W_HALF)
        return false;
    w = word_at(analysis, ++j);
    if (w && w->cls == W_ARTICLE)
        w = word_at(analysis, ++j);
    if (!w || w->cls != W_GROUP)
        return false;
    *m = (pal_number_match){
        .tok_start = i, .tok_end = j + 1, .value = w->value / 2.0, .in_words = true};
    return true;
}

/* A number in words starting at token i; false when none starts there. */
static bool match_words(const pal_analysis *analysis, size_t i, pal_number_match *m)
{
    if (match_half(analysis, i, m))
        return true;

    word_parse p = {.state = S_START, .first_word = i};
    size_t end = i; /* one past the last token read */
    size_t j = i;
    const number_word *w;
    while ((w = word_at(analysis, j)) != NULL) {
        size_t extra;
        if (!parse_step(&p, analysis, j, w, &extra))
            break;
        /* "and"/"a" alone never end a number: only count them once something
         * else follows. */
        j += 1 + extra;
        if (extra > 0 || (w->cls != W_AND && w->cls != W_ARTICLE))
            end = j;
        if (p.state == S_FINAL)
            break;
    }
    if (end == i)
        return false;

    const number_word *first = word_at(analysis, i);
    *m = (pal_number_match){
        .tok_start = i,
        .tok_end = end,
        .value = p.total + p.hundreds + p.sub,
        .in_words = true,
        .weak = end == i + 1 && (first->flags & WF_ONE) != 0,
    };
    return true;
}

pal_err pal_numbers_extract(const pal_analysis *analysis, pal_arena *arena, pal_number_match **out,
                            size_t *count)
{
    pal_number_match *found = NULL;
    size_t n_found = 0;
    size_t cap = 0;

    if (!analysis || !arena || !out || !count)
        return PAL_ERR_INVALID;
    *out = NULL;
    *count = 0;
    if (analysis->n_tokens > 0 && (!analysis->tokens || !analysis->folded))
        return PAL_ERR_INVALID;

    size_t i = 0;
    while (i < analysis->n_tokens) {
        pal_number_match m;
        bool ok = is_digit_token(analysis, i) ? match_digits(analysis, i, &m)
                                              : match_words(analysis, i, &m);
        if (!ok) {
            i++;
            continue;
        }
        pal_xreserve((void **)&found, &cap, n_found + 1, sizeof(*found));
        found[n_found++] = m;
        i = m.tok_end;
    }

    if (n_found > 0) {
        *out = pal_arena_alloc(arena, n_found * sizeof(*found));
        memcpy(*out, found, n_found * sizeof(*found));
        *count = n_found;
    }
    free(found);
    return PAL_OK;
}
