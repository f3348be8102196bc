/*
 * jsonw.h — JSON written straight into a growable text buffer.
 *
 * For the hot paths that answer or store the same small shapes at every
 * message (the api's answer, a conversation's state): building a jansson tree
 * only to dump it costs an allocation per value and a sort per object. The
 * caller writes the structure, punctuation included; this module only grows
 * the buffer and writes values the way jansson's compact dump does (same
 * escapes, so the text is byte for byte what json_dumps(JSON_COMPACT) gives).
 *
 * Memory: the buffer's data is the caller's once written (pal_jsonw_take), or
 * freed by pal_jsonw_clear. Never NUL-free: data is always NUL-terminated.
 */
#ifndef PAL_BASE_JSONW_H
#define PAL_BASE_JSONW_H

#include <stddef.h>
#include <stdint.h>

typedef struct pal_jsonw {
    char *data; /* NULL until the first write */
    size_t len, cap;
} pal_jsonw;

/* Appends n raw bytes (punctuation, keys known to need no escape, JSON text). */
void pal_jsonw_raw(pal_jsonw *w, const char *s, size_t n);
/* Appends the NUL-terminated raw text s. */
void pal_jsonw_lit(pal_jsonw *w, const char *s);
/* Appends s (valid UTF-8, checked by the caller) as a JSON string, quotes included:
 * '"', '\\' and the control characters escaped as jansson does, the rest as is. */
void pal_jsonw_string(pal_jsonw *w, const char *s);
/* Appends a decimal integer. */
void pal_jsonw_int(pal_jsonw *w, int64_t value);
/* The text written (NUL-terminated; "" when nothing was), now the caller's (free()); the
 * writer is empty again. */
char *pal_jsonw_take(pal_jsonw *w);
/* Frees what was written; the writer is empty again. */
void pal_jsonw_clear(pal_jsonw *w);

#endif
