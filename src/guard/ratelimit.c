/*
 * ratelimit.c — token buckets keyed by bytes, sharded (see ratelimit.h).
 *
 * A bucket is stored as one number, as in GCRA (the generic cell rate
 * algorithm, the token bucket written in time): `full_at`, the time at which
 * the bucket will be full again. With interval = 60000 / per_minute ms per
 * token and slack = (burst - 1) * interval:
 *   - a request at now is allowed when full_at - slack <= now, and then
 *     full_at = max(full_at, now) + interval (one token taken);
 *   - otherwise a token is back at full_at - slack;
 *   - the bucket is full (the key idle, forgettable) when full_at <= now.
 * One double per key, no refill arithmetic to drift, and a clock that goes
 * back simply refills nothing.
 *
 * Keys are hashed with SipHash-2-4 (128-bit output, libsodium) under a key
 * drawn at creation; the hash picks one of up to 64 shards (its top bits)
 * and a slot in that shard's open-addressing table (its low bits: linear
 * probing, load at most 1/2, deletion by backward shift so no tombstones).
 * Each shard holds at most max_keys / shards entries; a full shard samples
 * SAMPLE entries and evicts the one with the smallest full_at: an idle one
 * when there is one, otherwise the one that has been quiet the longest.
 *
 * Assumes: now_ms is a monotonic clock; callers may come from any thread.
 */
#include "guard/ratelimit.h"

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/mem.h"

enum {
    SHARDS_MAX = 64, /* a power of two */
    SAMPLE = 8,      /* entries looked at to choose one to evict */
    CACHE_LINE = 64,
};

#define MAX_KEYS_MAX ((size_t)1 << 40) /* beyond, table sizes could overflow */
#define BURST_MAX 1e9
#define INTERVAL_MAX_MS 1e15 /* one token in 30,000 years */

typedef struct entry {
    uint64_t id[2]; /* SipHash of the key; id[1] is odd in a used slot, 0 in a free one */
    double full_at; /* ms: when the bucket is full again */
} entry;

typedef struct shard {
    alignas(CACHE_LINE) pthread_mutex_t lock; /* one shard per cache line: no false sharing */
    entry *slots;
    size_t mask;  /* number of slots - 1 (a power of two) */
    size_t count; /* used slots */
    size_t limit; /* most used slots allowed */
    uint64_t rng; /* xorshift state for sampling */
} shard;

struct pal_ratelimit {
    bool unlimited;
    double interval_ms; /* per token */
    double slack_ms;    /* (burst - 1) * interval */
    unsigned char hash_key[crypto_shorthash_siphashx24_KEYBYTES];
    size_t n_shards; /* a power of two, at most SHARDS_MAX */
    shard *shards;
};

static size_t power_of_two_at_least(size_t n)
{
    size_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

pal_ratelimit *pal_ratelimit_new(double per_minute, double burst, size_t max_keys)
{
    if (!isfinite(per_minute) || per_minute < 0 || !isfinite(burst) || burst < 0 || max_keys == 0 ||
        max_keys > MAX_KEYS_MAX)
        return NULL;
    if (sodium_init() < 0)
        return NULL;
    pal_ratelimit *limiter = pal_xcalloc(1, sizeof(*limiter));
    if (per_minute == 0) {
        limiter->unlimited = true;
        return limiter;
    }
    /* Clamped so that no sum below can overflow to infinity (and then NaN). */
    burst = burst < 1 ? 1 : burst > BURST_MAX ? BURST_MAX : burst;
    limiter->interval_ms = fmin(60000.0 / per_minute, INTERVAL_MAX_MS);
    limiter->slack_ms = (burst - 1) * limiter->interval_ms;
    randombytes_buf(limiter->hash_key, sizeof(limiter->hash_key));

    /* Fewer shards than 64 for a handful of keys, so that the per-shard
     * limits add up to at most max_keys and each is at least 1. */
    limiter->n_shards = SHARDS_MAX;
    while (limiter->n_shards > max_keys)
        limiter->n_shards >>= 1;
    size_t limit = max_keys / limiter->n_shards;
    size_t slots = power_of_two_at_least(limit * 2 < 4 ? 4 : limit * 2);
    limiter->shards = aligned_alloc(CACHE_LINE, limiter->n_shards * sizeof(shard));
    if (!limiter->shards)
        abort();
    memset(limiter->shards, 0, limiter->n_shards * sizeof(shard));
    for (size_t i = 0; i < limiter->n_shards; i++) {
        shard *s = &limiter->shards[i];
        if (pthread_mutex_init(&s->lock, NULL) != 0)
            abort();
        s->slots = pal_xcalloc(slots, sizeof(entry));
        s->mask = slots - 1;
        s->limit = limit;
        randombytes_buf(&s->rng, sizeof(s->rng));
        s->rng |= 1; /* xorshift needs a non-zero state */
    }
    return limiter;
}

void pal_ratelimit_free(pal_ratelimit *limiter)
{
    if (!limiter)
        return;
    for (size_t i = 0; i < limiter->n_shards; i++) {
        pthread_mutex_destroy(&limiter->shards[i].lock);
        free(limiter->shards[i].slots);
    }
    free(limiter->shards);
    free(limiter);
}

static uint64_t next_random(shard *s)
{
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    return s->rng;
}

/* Empties slot i, moving back the entries after it that would otherwise
 * be cut off from their home slot (backward-shift deletion). */
static void remove_at(shard *s, size_t i)
{
    size_t j = i;
    for (;;) {
        j = (j + 1) & s->mask;
        if (s->slots[j].id[1] == 0)
            break;
        size_t home = (size_t)s->slots[j].id[0] & s->mask;
        /* j stays when its home lies cyclically in (i, j]. */
        bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (!stays) {
            s->slots[i] = s->slots[j];
            i = j;
        }
    }
    memset(&s->slots[i], 0, sizeof(s->slots[i]));
    s->count--;
}

/* Frees one slot of a non-empty shard: among SAMPLE used slots, the one
 * whose bucket is the fullest (idle, or quiet the longest). */
static void evict_one(shard *s)
{
    size_t victim = 0;
    for (int k = 0; k < SAMPLE; k++) {
        size_t i = (size_t)next_random(s) & s->mask;
        while (s->slots[i].id[1] == 0)
            i = (i + 1) & s->mask;
        if (k == 0 || s->slots[i].full_at < s->slots[victim].full_at)
            victim = i;
    }
    remove_at(s, victim);
}

/* The slot of id, inserting it (with a full bucket at now) when absent. */
static entry *find_or_insert(shard *s, const uint64_t id[2], double now)
{
    for (;;) {
        size_t i = (size_t)id[0] & s->mask;
        while (s->slots[i].id[1] != 0) {
            if (s->slots[i].id[0] == id[0] && s->slots[i].id[1] == id[1])
                return &s->slots[i];
            i = (i + 1) & s->mask;
        }
        if (s->count < s->limit) {
            s->slots[i] = (entry){.id = {id[0], id[1]}, .full_at = now};
            s->count++;
            return &s->slots[i];
        }
        /* Full: evicting moves entries around, so look again. */
        evict_one(s);
    }
}

bool pal_ratelimit_take(pal_ratelimit *limiter, const void *key, size_t key_len, int64_t now_ms,
                        int *retry_after_s)
{
    if (limiter->unlimited)
        return true;
    unsigned char hash[crypto_shorthash_siphashx24_BYTES];
    crypto_shorthash_siphashx24(hash, key_len ? key : (const void *)"", key_len, limiter->hash_key);
    uint64_t id[2];
    memcpy(id, hash, sizeof(id));
    id[1] |= 1;
    shard *s = &limiter->shards[(id[0] >> 58) & (limiter->n_shards - 1)];
    double now = (double)now_ms;
    bool allowed;
    double wait_ms = 0;

    if (pthread_mutex_lock(&s->lock) != 0)
        abort();
    entry *e = find_or_insert(s, id, now);
    double ready_at = e->full_at - limiter->slack_ms; /* when one token is there */
    allowed = ready_at <= now;
    if (allowed)
        e->full_at = (e->full_at > now ? e->full_at : now) + limiter->interval_ms;
    else
        wait_ms = ready_at - now;
    pthread_mutex_unlock(&s->lock);

    if (!allowed && retry_after_s) {
        double seconds = ceil(wait_ms / 1000.0);
        *retry_after_s = seconds < 1 ? 1 : seconds >= (double)INT_MAX ? INT_MAX : (int)seconds;
    }
    return allowed;
}

size_t pal_ratelimit_count(pal_ratelimit *limiter)
{
    size_t total = 0;
    for (size_t i = 0; i < limiter->n_shards; i++) {
        shard *s = &limiter->shards[i];
        if (pthread_mutex_lock(&s->lock) != 0)
            abort();
        total += s->count;
        pthread_mutex_unlock(&s->lock);
    }
    return total;
}
