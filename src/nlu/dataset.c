/*
 * dataset.c — the TSV example reader (see dataset.h).
 *
 * Each parsed file's text is kept in one block owned by the dataset; the
 * examples point into it, so loading a corpus is one read and one pass.
 */
#include "nlu/dataset.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "text/analyze.h"
#include "text/utf8.h"

enum { INTENT_MAX = 128 };

typedef struct dataset_block {
    struct dataset_block *next;
    char *text;
} dataset_block;

typedef struct dataset_impl {
    pal_dataset public;
    size_t cap;
    dataset_block *blocks;
} dataset_impl;

pal_dataset *pal_dataset_new(void)
{
    dataset_impl *d = pal_xcalloc(1, sizeof(*d));
    return &d->public;
}

void pal_dataset_free(pal_dataset *dataset)
{
    if (!dataset)
        return;
    dataset_impl *d = (dataset_impl *)dataset;
    dataset_block *b = d->blocks;
    while (b) {
        dataset_block *next = b->next;
        free(b->text);
        free(b);
        b = next;
    }
    free(d->public.examples);
    free(d);
}

/* Intent names are identifiers in reports and bot files: no spaces or
 * control characters (they would be ambiguous there); anything else goes,
 * as real corpora hold names such as "reverted_card_payment?". */
static bool is_intent_char(char c)
{
    unsigned char u = (unsigned char)c;
    return u > 0x20 && u != 0x7F;
}

/* Checks one line; on success sets *intent_len and *text_at. */
static pal_err check_line(const char *line, size_t len, size_t *intent_len, size_t *text_at,
                          const char **why)
{
    const char *tab = memchr(line, '\t', len);
    if (!tab) {
        *why = "expected intent<TAB>text (no tab found)";
        return PAL_ERR_PARSE;
    }
    size_t il = (size_t)(tab - line);
    if (il == 0 || il > INTENT_MAX || !pal_utf8_valid(line, il)) {
        *why = il == 0           ? "empty intent name"
               : il > INTENT_MAX ? "intent name longer than 128 bytes"
                                 : "intent name is not valid UTF-8";
        return PAL_ERR_PARSE;
    }
    for (size_t i = 0; i < il; i++) {
        if (!is_intent_char(line[i])) {
            *why = "intent name may not hold spaces or control characters";
            return PAL_ERR_PARSE;
        }
    }
    size_t at = il + 1;
    size_t tl = len - at;
    if (tl == 0) {
        *why = "empty text";
        return PAL_ERR_PARSE;
    }
    if (tl > PAL_TEXT_MAX_BYTES) {
        *why = "text longer than 1 MiB";
        return PAL_ERR_LIMIT;
    }
    if (pal_utf8_check_text(line + at, tl, NULL) != PAL_OK) {
        *why = "text is not valid UTF-8 (or holds a NUL byte)";
        return PAL_ERR_UTF8;
    }
    *intent_len = il;
    *text_at = at;
    return PAL_OK;
}

pal_err pal_dataset_parse(pal_dataset *dataset, const char *name, const char *data, size_t len,
                          char *errbuf, size_t errlen)
{
    dataset_impl *d = (dataset_impl *)dataset;
    if (len > PAL_DATASET_MAX_BYTES) {
        pal_err_format(errbuf, errlen, "%s: file larger than %zu MiB", name,
                       PAL_DATASET_MAX_BYTES >> 20);
        return PAL_ERR_LIMIT;
    }
    /* Parse into a private copy; NULs are written over tabs and line ends. */
    char *text = pal_xstrndup(data, len);
    size_t first_new = d->public.count;
    size_t pos = 0;
    size_t line_no = 0;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        pos = 3;
    while (pos < len) {
        line_no++;
        char *line = text + pos;
        char *nl = memchr(line, '\n', len - pos);
        size_t line_len = nl ? (size_t)(nl - line) : len - pos;
        pos += line_len + (nl ? 1 : 0);
        if (line_len > 0 && line[line_len - 1] == '\r')
            line_len--;
        size_t lead = 0;
        while (lead < line_len && (line[lead] == ' ' || line[lead] == '\t'))
            lead++;
        if (lead == line_len || line[lead] == '#')
            continue;

        size_t intent_len = 0;
        size_t text_at = 0;
        const char *why = NULL;
        pal_err err = check_line(line, line_len, &intent_len, &text_at, &why);
        if (err) {
            pal_err_format(errbuf, errlen, "%s:%zu: %s", name, line_no, why);
            d->public.count = first_new;
            free(text);
            return err;
        }
        line[intent_len] = '\0';
        line[line_len] = '\0';
        pal_xreserve((void **)&d->public.examples, &d->cap, d->public.count + 1,
                     sizeof(pal_nlu_example));
        d->public.examples[d->public.count++] = (pal_nlu_example){line, line + text_at};
    }
    dataset_block *block = pal_xmalloc(sizeof(*block));
    block->text = text;
    block->next = d->blocks;
    d->blocks = block;
    return PAL_OK;
}

pal_err pal_dataset_load(pal_dataset *dataset, const char *path, char *errbuf, size_t errlen)
{
    pal_err err = PAL_ERR_IO;
    char *data = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        pal_err_format(errbuf, errlen, "%s: %s", path, strerror(errno));
        return PAL_ERR_IO;
    }
    size_t cap = 1 << 16;
    size_t len = 0;
    data = pal_xmalloc(cap);
    for (;;) {
        if (len == cap) {
            if (cap > PAL_DATASET_MAX_BYTES) {
                pal_err_format(errbuf, errlen, "%s: file larger than %zu MiB", path,
                               PAL_DATASET_MAX_BYTES >> 20);
                err = PAL_ERR_LIMIT;
                goto out;
            }
            cap *= 2;
            data = pal_xrealloc(data, cap);
        }
        size_t got = fread(data + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        pal_err_format(errbuf, errlen, "%s: read error", path);
        goto out;
    }
    err = pal_dataset_parse(dataset, path, data, len, errbuf, errlen);
out:
    free(data);
    fclose(f);
    return err;
}
