/*
 * sign.c — HMACs and encodings for webhook signatures (see sign.h).
 */
#include "channels/sign.h"

#include <stdint.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

static bool hmac(const EVP_MD *md, const void *key, size_t key_len, const void *msg, size_t msg_len,
                 unsigned char *out, unsigned expected)
{
    unsigned len = 0;
    if (key_len > (size_t)INT32_MAX)
        return false;
    /* HMAC() with a NULL key is refused by OpenSSL 3: an empty key is "". */
    if (!HMAC(md, key_len ? key : "", (int)key_len, msg_len ? msg : (const void *)"", msg_len, out,
              &len))
        return false;
    return len == expected;
}

bool pal_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                     unsigned char out[PAL_SHA256_LEN])
{
    return hmac(EVP_sha256(), key, key_len, msg, msg_len, out, PAL_SHA256_LEN);
}

bool pal_hmac_sha1(const void *key, size_t key_len, const void *msg, size_t msg_len,
                   unsigned char out[PAL_SHA1_LEN])
{
    return hmac(EVP_sha1(), key, key_len, msg, msg_len, out, PAL_SHA1_LEN);
}

void pal_hex_lower(const unsigned char *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

bool pal_base64(const unsigned char *in, size_t len, char *out, size_t cap)
{
    size_t need = 4 * ((len + 2) / 3) + 1;
    if (cap < need || len > (size_t)INT32_MAX / 2)
        return false;
    int n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    return n >= 0 && (size_t)n + 1 == need;
}

bool pal_equal_consttime(const char *a, size_t a_len, const char *b, size_t b_len)
{
    if (a_len != b_len)
        return false;
    return a_len == 0 || CRYPTO_memcmp(a, b, a_len) == 0;
}
