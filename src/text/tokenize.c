/*
 * tokenize.c — the tokeniser (rules in tokenize.h).
 *
 * One pass over code points. The text is first cut at spaces into chunks;
 * a chunk that is a URL or an e-mail address becomes one token (its
 * trailing punctuation excepted); any other chunk is scanned for hashtags,
 * mentions, numbers, words, elisions, emoji and punctuation.
 * ASCII is classified without calling utf8proc.
 */
#include "text/tokenize.h"

#include <string.h>
#include <utf8proc.h>

#include "text/utf8.h"

typedef struct token_list {
    pal_arena *arena;
    pal_token *items;
    size_t count;
    size_t cap;
} token_list;

static void push(token_list *list, pal_token_kind kind, size_t start, size_t end)
{
    if (list->count == list->cap) {
        size_t cap = list->cap * 2;
        pal_token *grown = pal_arena_alloc(list->arena, cap * sizeof(*grown));
        memcpy(grown, list->items, list->count * sizeof(*grown));
        list->items = grown;
        list->cap = cap;
    }
    list->items[list->count++] = (pal_token){(uint32_t)start, (uint32_t)(end - start), kind};
}

/* The code point at s[i] (assumed valid) and its length. */
static int32_t cp_at(const char *s, size_t len, size_t i, size_t *n)
{
    int32_t cp = 0;
    *n = pal_utf8_decode(s + i, len - i, &cp);
    if (*n == 0) {
        *n = 1; /* the caller validated; stay safe regardless */
        return 0xFFFD;
    }
    return cp;
}

static bool is_letter(int32_t cp)
{
    if (cp < 0x80)
        return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
        return true;
    case UTF8PROC_CATEGORY_ND:
        return true; /* digits of other scripts read as part of words */
    default:
        return false;
    }
}

static bool is_digit(int32_t cp)
{
    return cp >= '0' && cp <= '9';
}

static bool is_word_char(int32_t cp)
{
    return is_letter(cp) || is_digit(cp) || cp == '_';
}

static bool is_emoji_base(int32_t cp)
{
    if (cp < 0xA9)
        return false;
    if (cp >= 0x1F000 && cp <= 0x1FAFF)
        return true;
    if (cp >= 0x2600 && cp <= 0x27BF)
        return true;
    if (cp >= 0x1FC00 && cp <= 0x1FFFD)
        return true;
    switch (cp) {
    case 0x00A9:
    case 0x00AE:
    case 0x203C:
    case 0x2049:
    case 0x2122:
    case 0x2139:
    case 0x231A:
    case 0x231B:
    case 0x2328:
    case 0x23CF:
    case 0x24C2:
    case 0x25AA:
    case 0x25AB:
    case 0x25B6:
    case 0x25C0:
    case 0x2934:
    case 0x2935:
    case 0x2B50:
    case 0x2B55:
    case 0x3030:
    case 0x303D:
    case 0x3297:
    case 0x3299:
        return true;
    default:
        break;
    }
    return (cp >= 0x2194 && cp <= 0x2199) || (cp >= 0x21A9 && cp <= 0x21AA) ||
           (cp >= 0x23E9 && cp <= 0x23F3) || (cp >= 0x23F8 && cp <= 0x23FA) ||
           (cp >= 0x25FB && cp <= 0x25FE) || (cp >= 0x2B05 && cp <= 0x2B07) ||
           (cp >= 0x2B1B && cp <= 0x2B1C);
}

/* Code points that extend the emoji before them. */
static bool is_emoji_extender(int32_t cp)
{
    return cp == 0xFE0F || cp == 0xFE0E || cp == 0x20E3 || (cp >= 0x1F3FB && cp <= 0x1F3FF) ||
           (cp >= 0xE0020 && cp <= 0xE007F);
}

static bool is_regional_indicator(int32_t cp)
{
    return cp >= 0x1F1E6 && cp <= 0x1F1FF;
}

/* End of the emoji sequence starting at i (a base, or a keycap digit). */
static size_t scan_emoji(const char *s, size_t end, size_t i)
{
    size_t n;
    int32_t cp = cp_at(s, end, i, &n);
    i += n;
    if (is_regional_indicator(cp) && i < end) {
        size_t n2;
        if (is_regional_indicator(cp_at(s, end, i, &n2)))
            return i + n2; /* a flag is a pair */
        return i;
    }
    for (;;) {
        while (i < end && is_emoji_extender(cp_at(s, end, i, &n)))
            i += n;
        if (i < end && cp_at(s, end, i, &n) == 0x200D) {
            size_t after = i + n;
            size_t n2;
            if (after < end && is_emoji_base(cp_at(s, end, after, &n2))) {
                i = after + n2;
                continue;
            }
        }
        return i;
    }
}

static bool has_prefix(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && memcmp(s, prefix, n) == 0;
}

/* Trailing characters that end a sentence rather than a URL or address. */
static bool is_trailing_punct(char c)
{
    return c == '.' || c == ',' || c == ';' || c == ':' || c == '!' || c == '?' || c == ')' ||
           c == '"' || c == '\'' || c == ']' || c == '>';
}

static bool is_email_local(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '%' || c == '+' || c == '-';
}

static bool is_domain_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-';
}

/* If s[start..end) is local@domain.tld (after trimming trailing
 * punctuation), returns the address's end; else 0. */
static size_t match_email(const char *s, size_t start, size_t end)
{
    size_t i = start;
    while (i < end && is_email_local(s[i]))
        i++;
    if (i == start || i >= end || s[i] != '@')
        return 0;
    size_t domain = ++i;
    while (i < end && is_domain_char(s[i]))
        i++;
    while (i > domain && (s[i - 1] == '.' || s[i - 1] == '-'))
        i--;
    /* The domain needs a dot followed by a TLD of two letters or more. */
    size_t dot = i;
    while (dot > domain && s[dot - 1] != '.')
        dot--;
    if (dot <= domain + 1 || i - dot < 2)
        return 0;
    for (size_t k = dot; k < i; k++) {
        if (!((s[k] >= 'a' && s[k] <= 'z') || (s[k] >= 'A' && s[k] <= 'Z')))
            return 0;
    }
    return i;
}

/* French elided words: the part before the apostrophe. */
static bool is_elision_prefix(const char *s, size_t len)
{
    static const char *const prefixes[] = {"l",      "j",      "d",      "m",      "t",
                                           "s",      "n",      "c",      "qu",     "jusqu",
                                           "lorsqu", "puisqu", "quoiqu", "presqu", "quelqu"};
    for (size_t k = 0; k < sizeof(prefixes) / sizeof(prefixes[0]); k++) {
        size_t n = strlen(prefixes[k]);
        if (n == len && memcmp(s, prefixes[k], n) == 0)
            return true;
    }
    return false;
}

static bool is_postcode(const char *s, size_t len)
{
    if (len != 5)
        return false;
    int dept = (s[0] - '0') * 10 + (s[1] - '0');
    return dept >= 1 && dept <= 98;
}

/* A number: digits, with at most one decimal part after ',' or '.'. */
static size_t scan_number(const char *s, size_t end, size_t i)
{
    while (i < end && is_digit((unsigned char)s[i]))
        i++;
    if (i + 1 < end && (s[i] == ',' || s[i] == '.') && is_digit((unsigned char)s[i + 1])) {
        i++;
        while (i < end && is_digit((unsigned char)s[i]))
            i++;
    }
    return i;
}

/* A word of letters; an apostrophe inside it either ends a French elision
 * (returned as *elision) or is part of the word ("don't", "aujourd'hui"). */
static size_t scan_word(const char *s, size_t end, size_t i, bool *elision)
{
    size_t start = i;
    size_t n;
    *elision = false;
    while (i < end) {
        int32_t cp = cp_at(s, end, i, &n);
        if (is_letter(cp)) {
            i += n;
            continue;
        }
        if (cp == '\'' && i + 1 < end) {
            size_t n2;
            int32_t next = cp_at(s, end, i + 1, &n2);
            if (!is_letter(next))
                break;
            if (is_elision_prefix(s + start, i - start)) {
                *elision = true;
                return i + 1;
            }
            i += 1 + n2;
            continue;
        }
        break;
    }
    return i;
}

static void scan_chunk(token_list *list, const char *s, size_t start, size_t end)
{
    size_t i = start;
    while (i < end) {
        size_t n;
        int32_t cp = cp_at(s, end, i, &n);
        size_t next_n;
        int32_t next = i + n < end ? cp_at(s, end, i + n, &next_n) : 0;

        if (is_emoji_extender(cp) || cp == 0x200D) {
            i += n; /* a stray modifier (U+FE0F is a mark) means nothing alone */
        } else if ((cp == '#' || cp == '@') && is_word_char(next)) {
            size_t j = i + 1;
            size_t m;
            while (j < end) {
                int32_t c = cp_at(s, end, j, &m);
                size_t m2;
                bool inner_dot =
                    cp == '@' && c == '.' && j + 1 < end && is_word_char(cp_at(s, end, j + 1, &m2));
                if (!is_word_char(c) && !inner_dot)
                    break;
                j += m;
            }
            push(list, cp == '#' ? PAL_TOK_HASHTAG : PAL_TOK_MENTION, i, j);
            i = j;
        } else if (is_digit(cp) && (next == 0xFE0F || next == 0x20E3)) {
            size_t j = scan_emoji(s, end, i);
            push(list, PAL_TOK_EMOJI, i, j);
            i = j;
        } else if (is_digit(cp)) {
            size_t j = scan_number(s, end, i);
            push(list, is_postcode(s + i, j - i) ? PAL_TOK_POSTCODE : PAL_TOK_NUMBER, i, j);
            i = j;
        } else if (is_letter(cp)) {
            bool elision;
            size_t j = scan_word(s, end, i, &elision);
            push(list, elision ? PAL_TOK_ELISION : PAL_TOK_WORD, i, j);
            i = j;
        } else if (is_emoji_base(cp) || is_regional_indicator(cp)) {
            size_t j = scan_emoji(s, end, i);
            push(list, PAL_TOK_EMOJI, i, j);
            i = j;
        } else if ((cp == '-' || cp == 0x2010 || cp == 0x2011) && i > start && i + n < end &&
                   is_letter(next)) {
            i += n; /* a hyphen inside a word separates its parts */
        } else {
            push(list, PAL_TOK_PUNCT, i, i + n);
            i += n;
        }
    }
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

pal_err pal_tokenize(pal_arena *arena, const char *text, size_t len, pal_token **out, size_t *count)
{
    if (len > UINT32_MAX)
        return PAL_ERR_LIMIT;
    if (!pal_utf8_valid(text, len))
        return PAL_ERR_UTF8;
    token_list list = {arena, NULL, 0, len / 4 + 8};
    list.items = pal_arena_alloc(arena, list.cap * sizeof(pal_token));

    size_t i = 0;
    while (i < len) {
        while (i < len && is_space(text[i]))
            i++;
        size_t start = i;
        while (i < len && !is_space(text[i]))
            i++;
        if (start == i)
            break;
        size_t end = i;
        /* A chunk opened by brackets or quotes: those are punctuation. */
        size_t body = start;
        while (body < end && (text[body] == '(' || text[body] == '<' || text[body] == '"' ||
                              text[body] == '[' || text[body] == '\'')) {
            push(&list, PAL_TOK_PUNCT, body, body + 1);
            body++;
        }

        size_t whole_end = end;
        while (whole_end > body && is_trailing_punct(text[whole_end - 1]))
            whole_end--;
        size_t email_end = match_email(text, body, whole_end);
        if (has_prefix(text + body, end - body, "http://") ||
            has_prefix(text + body, end - body, "https://") ||
            has_prefix(text + body, end - body, "www.")) {
            push(&list, PAL_TOK_URL, body, whole_end);
            scan_chunk(&list, text, whole_end, end);
        } else if (email_end == whole_end && email_end > body) {
            push(&list, PAL_TOK_EMAIL, body, email_end);
            scan_chunk(&list, text, email_end, end);
        } else {
            scan_chunk(&list, text, body, end);
        }
    }
    *out = list.items;
    *count = list.count;
    return PAL_OK;
}

const char *pal_token_kind_name(pal_token_kind kind)
{
    switch (kind) {
    case PAL_TOK_WORD:
        return "word";
    case PAL_TOK_NUMBER:
        return "number";
    case PAL_TOK_POSTCODE:
        return "postcode";
    case PAL_TOK_HASHTAG:
        return "hashtag";
    case PAL_TOK_MENTION:
        return "mention";
    case PAL_TOK_EMAIL:
        return "email";
    case PAL_TOK_URL:
        return "url";
    case PAL_TOK_EMOJI:
        return "emoji";
    case PAL_TOK_ELISION:
        return "elision";
    case PAL_TOK_PUNCT:
        return "punct";
    }
    return "unknown";
}
