/*
 * hash.c — pal_hash64: 8-byte blocks folded with a multiply-xorshift mixer.
 */
#include "nlu/hash.h"

#include <string.h>

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xFF51AFD7ED558CCDULL;
    x ^= x >> 33;
    x *= 0xC4CEB9FE1A85EC53ULL;
    x ^= x >> 33;
    return x;
}

uint64_t pal_hash64(uint64_t seed, const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = seed ^ (len * 0x9E3779B97F4A7C15ULL);
    while (len >= 8) {
        uint64_t block;
        memcpy(&block, p, 8);
        h = (h ^ mix64(block)) * 0x9E3779B97F4A7C15ULL;
        p += 8;
        len -= 8;
    }
    uint64_t tail = 0;
    memcpy(&tail, p, len);
    h ^= mix64(tail ^ ((uint64_t)len << 56));
    return mix64(h);
}
