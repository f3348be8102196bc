/*
 * ratelimit.h — token buckets keyed by arbitrary bytes (a customer key, an
 * IP address), for many threads at once, in bounded memory.
 *
 * Each key has a bucket of `burst` tokens refilled at `per_minute` tokens a
 * minute; a request takes one token or is refused with the time until one
 * is back (for Retry-After). A key not seen yet starts with a full bucket.
 *
 * Memory: at most max_keys buckets (24 bytes each, in hash tables kept at
 * most half full: 48 to 96 bytes a key), whatever the number of distinct
 * keys. When the table is full, a
 * new key evicts one whose bucket has refilled (an idle key: forgetting it
 * changes nothing) or, failing that, an old one (approximately the least
 * recently used, as Redis does, from a sample): under a flood of new keys,
 * a key evicted that way starts over with a full bucket.
 *
 * Keys are identified by a 128-bit SipHash under a random key drawn at
 * pal_ratelimit_new(): the bytes themselves are not kept, and nobody can
 * craft keys that collide or pile into one slot.
 *
 * Threads: pal_ratelimit_take() and pal_ratelimit_count() are thread-safe
 * (64 shards, each with its own mutex); _new and _free are not.
 */
#ifndef PAL_GUARD_RATELIMIT_H
#define PAL_GUARD_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pal_ratelimit pal_ratelimit; /* opaque */

/* A limiter of per_minute tokens a minute, buckets of burst tokens (below 1
 * counts as 1), for at most max_keys keys. per_minute 0 means unlimited.
 * NULL when an argument is invalid (per_minute or burst negative or not
 * finite, max_keys 0 or above 2^40). Caller frees with pal_ratelimit_free(). */
pal_ratelimit *pal_ratelimit_new(double per_minute, double burst, size_t max_keys);

/* NULL is a no-op. */
void pal_ratelimit_free(pal_ratelimit *limiter);

/* Takes one token for key[0..key_len) (borrowed; key may be NULL when
 * key_len is 0) at now_ms (any monotonic clock in milliseconds; a clock
 * going back refills nothing). True when allowed. When refused,
 * *retry_after_s (OUT, may be NULL) gets the whole seconds until a token is
 * back, at least 1. */
bool pal_ratelimit_take(pal_ratelimit *limiter, const void *key, size_t key_len, int64_t now_ms,
                        int *retry_after_s);

/* The number of keys tracked now (at most max_keys; 0 when unlimited). */
size_t pal_ratelimit_count(pal_ratelimit *limiter);

#endif
