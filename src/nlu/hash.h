/*
 * hash.h — the 64-bit hash behind feature hashing.
 *
 * Features are identified by the hash of (namespace, bytes) so that no
 * feature string is ever built. The function is ours: multiply-xorshift
 * mixing, 8 bytes at a time, good enough for hashing short n-grams, not a
 * cryptographic hash (nothing here needs one: the inputs only choose which
 * weights a message reads). Pure and thread-safe.
 */
#ifndef PAL_NLU_HASH_H
#define PAL_NLU_HASH_H

#include <stddef.h>
#include <stdint.h>

/* Hash of data[0..len) in namespace seed. */
uint64_t pal_hash64(uint64_t seed, const void *data, size_t len);

/* Combines two hashes into one (for word bigrams: h(a) then h(b)). */
static inline uint64_t pal_hash_combine(uint64_t a, uint64_t b)
{
    uint64_t x = a ^ (b + 0x9E3779B97F4A7C15ULL + (a << 6) + (a >> 2));
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 29;
    return x;
}

#endif
