/*
 * normalize.c — normalised and folded forms of text (see normalize.h).
 *
 * Most chat messages are ASCII: they take a fast path that lower-cases and
 * folds spaces in one pass without calling utf8proc. Other text goes
 * through a pre-pass (apostrophes, invisible characters, controls — before
 * NFKC, which would turn ´ into a space and a combining accent), then
 * utf8proc's NFKC + case folding, then a pass that folds white space.
 */
#include "text/normalize.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "text/utf8.h"

/* Characters that people type for an apostrophe. */
static bool is_apostrophe(int32_t cp)
{
    return cp == 0x2019 || cp == 0x2018 || cp == 0x02BC || cp == 0x00B4 || cp == 0x0060 ||
           cp == 0x2032 || cp == 0xFF07;
}

/* Invisible characters used to split words ("s\u200Ba\u200Blope"): dropped.
 * U+200D (zero width joiner) stays: it glues emoji sequences. */
static bool is_invisible(int32_t cp)
{
    return cp == 0x00AD || cp == 0x200B || cp == 0x200C || cp == 0x2060 || cp == 0xFEFF ||
           cp == 0x180E || (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

static bool is_space_or_control(int32_t cp)
{
    if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0))
        return true;
    utf8proc_category_t cat = utf8proc_category(cp);
    return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL ||
           cat == UTF8PROC_CATEGORY_ZP;
}

/* Copies src[0..len) to dst dropping leading/trailing space and folding
 * runs of spaces into one; returns the new length. dst may equal src. */
static size_t squeeze_spaces(char *dst, const char *src, size_t len)
{
    size_t out = 0;
    bool pending_space = false;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c == ' ') {
            pending_space = out > 0;
            continue;
        }
        if (pending_space) {
            dst[out++] = ' ';
            pending_space = false;
        }
        dst[out++] = c;
    }
    return out;
}

static bool is_ascii(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)s[i] >= 0x80)
            return false;
    }
    return true;
}

static void normalize_ascii(const char *s, size_t len, char *dst, size_t *out_len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + 32);
        else if (c < 0x20 || c == 0x7F)
            c = ' ';
        else if (c == '`')
            c = '\'';
        dst[i] = (char)c;
    }
    *out_len = squeeze_spaces(dst, dst, len);
    dst[*out_len] = '\0';
}

pal_err pal_text_normalize(pal_arena *arena, const char *s, size_t len, pal_slice *out)
{
    pal_err err = pal_utf8_check_text(s, len, NULL);
    if (err)
        return err;
    if (is_ascii(s, len)) {
        char *dst = pal_arena_alloc(arena, len + 1);
        size_t n;
        normalize_ascii(s, len, dst, &n);
        *out = (pal_slice){dst, n};
        return PAL_OK;
    }

    /* Pre-pass: every code point shrinks or keeps its size. */
    char *pre = pal_arena_alloc(arena, len + 1);
    size_t pre_len = 0;
    for (size_t i = 0; i < len;) {
        int32_t cp;
        size_t n = pal_utf8_decode(s + i, len - i, &cp);
        if (is_apostrophe(cp)) {
            pre[pre_len++] = '\'';
        } else if (is_space_or_control(cp)) {
            pre[pre_len++] = ' ';
        } else if (!is_invisible(cp)) {
            memcpy(pre + pre_len, s + i, n);
            pre_len += n;
        }
        i += n;
    }

    utf8proc_uint8_t *mapped = NULL;
    utf8proc_ssize_t mapped_len =
        utf8proc_map((const utf8proc_uint8_t *)pre, (utf8proc_ssize_t)pre_len, &mapped,
                     UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD);
    if (mapped_len < 0)
        return PAL_ERR_UTF8;
    /* NFKC can produce new spaces (e.g. from U+2002 or ligature-like forms). */
    char *dst = pal_arena_alloc(arena, (size_t)mapped_len + 1);
    size_t n = squeeze_spaces(dst, (const char *)mapped, (size_t)mapped_len);
    dst[n] = '\0';
    free(mapped);
    *out = (pal_slice){dst, n};
    return PAL_OK;
}

/* Letters that Unicode does not decompose but French readers see as a
 * letter plus something: written out. */
static const char *fold_special(int32_t cp)
{
    switch (cp) {
    case 0x0153: /* œ */
    case 0x0152:
        return "oe";
    case 0x00E6: /* æ */
    case 0x00C6:
        return "ae";
    case 0x00F8: /* ø */
    case 0x00D8:
        return "o";
    case 0x0111: /* đ */
    case 0x0110:
        return "d";
    case 0x0142: /* ł */
    case 0x0141:
        return "l";
    default:
        return NULL;
    }
}

pal_err pal_text_fold(pal_arena *arena, const char *s, size_t len, pal_slice *out)
{
    pal_err err = pal_utf8_check_text(s, len, NULL);
    if (err)
        return err;
    /* Latin text never grows when folded; a few compatibility characters
     * expand a lot (U+FDFA: 3 bytes -> 18 code points), so the buffer grows
     * when a code point's parts and the rest of the input (ASCII copies byte
     * for byte) might not fit. Invariant: cap - o >= len - i. */
    size_t cap = len + 64;
    char *dst = pal_arena_alloc(arena, cap + 1);
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            dst[o++] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
            i++;
            continue;
        }
        int32_t cp;
        size_t n = pal_utf8_decode(s + i, len - i, &cp);
        i += n;
        const char *special = fold_special(cp);
        if (special) {
            size_t sl = strlen(special);
            if (o + sl + (len - i) + 4 > cap) {
                size_t bigger = cap * 2 + sl;
                char *grown = pal_arena_alloc(arena, bigger + 1);
                memcpy(grown, dst, o);
                dst = grown;
                cap = bigger;
            }
            memcpy(dst + o, special, sl);
            o += sl;
            continue;
        }
        utf8proc_int32_t parts[16];
        int last_boundclass = 0;
        utf8proc_ssize_t np = utf8proc_decompose_char(cp, parts, 16,
                                                      UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT |
                                                          UTF8PROC_CASEFOLD | UTF8PROC_STRIPMARK,
                                                      &last_boundclass);
        if (np < 0 || np > 16) {
            /* Cannot happen for a valid scalar value; keep the character. */
            parts[0] = cp;
            np = 1;
        }
        if (o + 4 * (size_t)np + (len - i) + 4 > cap) {
            size_t bigger = cap * 2 + 4 * (size_t)np;
            char *grown = pal_arena_alloc(arena, bigger + 1);
            memcpy(grown, dst, o);
            dst = grown;
            cap = bigger;
        }
        for (utf8proc_ssize_t k = 0; k < np; k++)
            o += pal_utf8_encode(parts[k], dst + o);
    }
    dst[o] = '\0';
    *out = (pal_slice){dst, o};
    return PAL_OK;
}

char *pal_text_fold_dup(const char *s)
{
    pal_arena *arena = pal_arena_new();
    pal_slice folded;
    char *copy = NULL;
    if (pal_text_fold(arena, s, strlen(s), &folded) == PAL_OK)
        copy = pal_xstrndup(folded.ptr, folded.len);
    pal_arena_free(arena);
    return copy;
}
