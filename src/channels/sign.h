/*
 * sign.h — the cryptography of webhooks (CHANNELS.md): HMAC-SHA256 and
 * HMAC-SHA1 over raw bytes, their hex and base64 forms, and comparison in
 * constant time, so that a forged signature learns nothing from timing.
 *
 * Threads: every function is pure and thread-safe (OpenSSL libcrypto).
 */
#ifndef PAL_CHANNELS_SIGN_H
#define PAL_CHANNELS_SIGN_H

#include <stdbool.h>
#include <stddef.h>

enum {
    PAL_SHA256_LEN = 32,
    PAL_SHA1_LEN = 20,
};

/* HMAC-SHA256(key, msg) into out[PAL_SHA256_LEN]. False when libcrypto fails. */
bool pal_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                     unsigned char out[PAL_SHA256_LEN]);
/* HMAC-SHA1(key, msg) into out[PAL_SHA1_LEN] (Twilio). */
bool pal_hmac_sha1(const void *key, size_t key_len, const void *msg, size_t msg_len,
                   unsigned char out[PAL_SHA1_LEN]);

/* Lower-case hex of in[0..len) into out (2 * len + 1 bytes, NUL-terminated). */
void pal_hex_lower(const unsigned char *in, size_t len, char *out);
/* Standard base64 with padding of in[0..len) into out (cap bytes);
 * false when cap < 4 * ceil(len / 3) + 1. */
bool pal_base64(const unsigned char *in, size_t len, char *out, size_t cap);

/* a[0..a_len) == b[0..b_len), in time that depends only on the lengths. */
bool pal_equal_consttime(const char *a, size_t a_len, const char *b, size_t b_len);

#endif
