/*
 * jsonw.c — see jsonw.h. Escapes follow jansson's dump.c for JSON_COMPACT
 * without JSON_ENSURE_ASCII or JSON_ESCAPE_SLASH: \" \\ \b \f \n \r \t, other
 * control characters as \u00XX, everything else (UTF-8 included) verbatim.
 */
#include "base/jsonw.h"

#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

void pal_jsonw_raw(pal_jsonw *w, const char *s, size_t n)
{
    if (w->len + n + 1 > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->len + n + 1)
            cap *= 2;
        w->data = pal_xrealloc(w->data, cap);
        w->cap = cap;
    }
    memcpy(w->data + w->len, s, n);
    w->len += n;
    w->data[w->len] = '\0';
}

void pal_jsonw_lit(pal_jsonw *w, const char *s)
{
    pal_jsonw_raw(w, s, strlen(s));
}

void pal_jsonw_string(pal_jsonw *w, const char *s)
{
    static const char hex[] = "0123456789ABCDEF"; /* jansson writes \u001F */
    pal_jsonw_raw(w, "\"", 1);
    const char *run = s;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        pal_jsonw_raw(w, run, (size_t)(p - run));
        run = p + 1;
        char e[6] = {'\\', 0, 0, 0, 0, 0};
        size_t n = 2;
        switch (c) {
        case '"':
            e[1] = '"';
            break;
        case '\\':
            e[1] = '\\';
            break;
        case '\b':
            e[1] = 'b';
            break;
        case '\f':
            e[1] = 'f';
            break;
        case '\n':
            e[1] = 'n';
            break;
        case '\r':
            e[1] = 'r';
            break;
        case '\t':
            e[1] = 't';
            break;
        default:
            e[1] = 'u';
            e[2] = '0';
            e[3] = '0';
            e[4] = hex[c >> 4];
            e[5] = hex[c & 15];
            n = 6;
        }
        pal_jsonw_raw(w, e, n);
    }
    pal_jsonw_raw(w, run, strlen(run));
    pal_jsonw_raw(w, "\"", 1);
}

void pal_jsonw_int(pal_jsonw *w, int64_t value)
{
    char digits[24];
    char *end = digits + sizeof(digits), *p = end;
    /* in unsigned arithmetic, so that INT64_MIN has its magnitude too */
    uint64_t magnitude = value < 0 ? 0 - (uint64_t)value : (uint64_t)value;
    do {
        *--p = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude);
    if (value < 0)
        *--p = '-';
    pal_jsonw_raw(w, p, (size_t)(end - p));
}

char *pal_jsonw_take(pal_jsonw *w)
{
    char *text = w->data ? w->data : pal_xstrdup("");
    *w = (pal_jsonw){0};
    return text;
}

void pal_jsonw_clear(pal_jsonw *w)
{
    free(w->data);
    *w = (pal_jsonw){0};
}
