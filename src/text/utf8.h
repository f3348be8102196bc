/*
 * utf8.h — strict UTF-8 decoding and validation.
 *
 * Strict means: no overlong forms, no surrogates (U+D800..U+DFFF), nothing
 * above U+10FFFF, no truncated sequences. Text from outside that fails this
 * is refused (PAL_ERR_UTF8), never repaired silently. All functions are pure
 * and thread-safe.
 */
#ifndef PAL_TEXT_UTF8_H
#define PAL_TEXT_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* Decodes the code point at s (len bytes readable) into *cp (OUT).
 * Returns the sequence length (1..4), or 0 when the bytes are not valid UTF-8. */
size_t pal_utf8_decode(const char *s, size_t len, int32_t *cp);

/* Encodes cp (a valid scalar value) into out; returns its length (1..4), 0 if invalid. */
size_t pal_utf8_encode(int32_t cp, char out[4]);

/* True when s[0..len) is entirely valid UTF-8 (NUL bytes allowed). */
bool pal_utf8_valid(const char *s, size_t len);

/* The check for a customer's message: PAL_OK when valid UTF-8 without NUL
 * bytes, PAL_ERR_UTF8 otherwise. *bad_offset (OUT, may be NULL) gets the byte
 * offset of the first offending byte. */
pal_err pal_utf8_check_text(const char *s, size_t len, size_t *bad_offset);

/* Number of code points in valid UTF-8 text. */
size_t pal_utf8_length(const char *s, size_t len);

#endif
