/*
 * delivery.c — delivery threads: each owns an inbox queue, a min-heap of
 * items by due time, and a map conversation → the last item queued for it,
 * so that a conversation's replies go out one after the other.
 *
 * Assumes curl_global_init() was called by main before any thread.
 */
#include "server/delivery.h"

#include <curl/curl.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/mem.h"

enum { WAIT_MAX_MS = 1000 };

typedef struct conv_tail {
    int64_t conversation_id; /* 0: empty slot */
    pal_delivery_item *tail;
} conv_tail;

typedef struct worker {
    struct pal_deliverer *owner;
    pthread_t thread;
    pal_queue inbox;
    pal_delivery_item **heap; /* by next_attempt_at */
    size_t n_heap, cap_heap;
    conv_tail *tails; /* open addressing, power-of-two size */
    size_t n_tails, cap_tails;
    CURL *curl;
} worker;

struct pal_deliverer {
    pal_delivery_host host;
    int base_ms, max_ms, max_attempts;
    int n_workers;
    worker *workers;
    atomic_bool stopping;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *dup_or_null(const char *s)
{
    return s ? pal_xstrdup(s) : NULL;
}

pal_delivery_item *pal_delivery_item_new(int64_t message_id, int64_t conversation_id,
                                         size_t bot_index, const char *channel,
                                         const char *external_user, const char *address,
                                         const char *text, const char *quick_replies_json,
                                         const char *idempotency_key, int attempts,
                                         int64_t next_attempt_at, int64_t in_reply_to,
                                         const char *in_reply_to_client_id)
{
    pal_delivery_item *item = pal_xcalloc(1, sizeof(*item));
    item->message_id = message_id;
    item->conversation_id = conversation_id;
    item->bot_index = bot_index;
    item->channel = pal_xstrdup(channel);
    item->external_user = pal_xstrdup(external_user);
    item->address = dup_or_null(address);
    item->text = pal_xstrdup(text);
    item->quick_replies_json = dup_or_null(quick_replies_json);
    item->idempotency_key = pal_xstrdup(idempotency_key);
    item->attempts = attempts;
    item->in_reply_to = in_reply_to;
    item->in_reply_to_client_id = dup_or_null(in_reply_to_client_id);
    item->next_attempt_at = next_attempt_at;
    return item;
}

void pal_delivery_item_free(pal_delivery_item *item)
{
    if (!item)
        return;
    free(item->channel);
    free(item->external_user);
    free(item->address);
    free(item->text);
    free(item->quick_replies_json);
    free(item->idempotency_key);
    free(item->in_reply_to_client_id);
    free(item);
}

int64_t pal_delivery_backoff_ms(int base_ms, int max_ms, int attempts, int64_t retry_after_ms)
{
    int64_t delay = base_ms > 0 ? base_ms : 1;
    for (int i = 1; i < attempts && delay < max_ms; i++)
        delay *= 2;
    if (delay > max_ms)
        delay = max_ms;
    /* jitter spreads retries of many replies that failed together */
    delay += (int64_t)randombytes_uniform((uint32_t)(delay / 5 + 1));
    return delay > retry_after_ms ? delay : retry_after_ms;
}

/* ---- per-thread heap and conversation map ------------------------------ */

static void heap_push(worker *w, pal_delivery_item *item)
{
    pal_xreserve((void **)&w->heap, &w->cap_heap, w->n_heap + 1, sizeof(*w->heap));
    size_t i = w->n_heap++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (w->heap[parent]->next_attempt_at <= item->next_attempt_at)
            break;
        w->heap[i] = w->heap[parent];
        i = parent;
    }
    w->heap[i] = item;
}

static pal_delivery_item *heap_pop(worker *w)
{
    pal_delivery_item *top = w->heap[0];
    pal_delivery_item *last = w->heap[--w->n_heap];
    size_t i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= w->n_heap)
            break;
        if (child + 1 < w->n_heap &&
            w->heap[child + 1]->next_attempt_at < w->heap[child]->next_attempt_at)
            child++;
        if (last->next_attempt_at <= w->heap[child]->next_attempt_at)
            break;
        w->heap[i] = w->heap[child];
        i = child;
    }
    if (w->n_heap > 0)
        w->heap[i] = last;
    return top;
}

static size_t tail_slot(const worker *w, int64_t conversation_id)
{
    size_t mask = w->cap_tails - 1;
    size_t i = (size_t)((uint64_t)conversation_id * 0x9E3779B97F4A7C15ULL >> 17) & mask;
    while (w->tails[i].conversation_id != 0 && w->tails[i].conversation_id != conversation_id)
        i = (i + 1) & mask;
    return i;
}

static void tails_grow(worker *w)
{
    conv_tail *old = w->tails;
    size_t old_cap = w->cap_tails;
    w->cap_tails = old_cap ? old_cap * 2 : 64;
    w->tails = pal_xcalloc(w->cap_tails, sizeof(*w->tails));
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].conversation_id != 0)
            w->tails[tail_slot(w, old[i].conversation_id)] = old[i];
    free(old);
}

/* Removes slot i, moving later entries of its cluster back (linear probing). */
static void tails_remove(worker *w, size_t i)
{
    size_t mask = w->cap_tails - 1;
    w->tails[i].conversation_id = 0;
    w->n_tails--;
    for (size_t j = (i + 1) & mask; w->tails[j].conversation_id != 0; j = (j + 1) & mask) {
        conv_tail moved = w->tails[j];
        w->tails[j].conversation_id = 0;
        w->tails[tail_slot(w, moved.conversation_id)] = moved;
    }
}

/* Queues item behind the conversation's last one, or makes it due. */
static void accept_item(worker *w, pal_delivery_item *item)
{
    item->next_in_conv = NULL;
    if ((w->n_tails + 1) * 2 > w->cap_tails)
        tails_grow(w);
    size_t i = tail_slot(w, item->conversation_id);
    if (w->tails[i].conversation_id != 0) {
        w->tails[i].tail->next_in_conv = item;
        w->tails[i].tail = item;
        return;
    }
    w->tails[i].conversation_id = item->conversation_id;
    w->tails[i].tail = item;
    w->n_tails++;
    heap_push(w, item);
}

/* item is done for good: its successor becomes due, the item is freed. */
static void finish_item(worker *w, pal_delivery_item *item)
{
    if (item->next_in_conv) {
        heap_push(w, item->next_in_conv);
    } else {
        size_t i = tail_slot(w, item->conversation_id);
        if (w->tails[i].conversation_id != 0 && w->tails[i].tail == item)
            tails_remove(w, i);
    }
    pal_delivery_item_free(item);
}

static void deliver_one(worker *w, pal_delivery_item *item)
{
    pal_deliverer *d = w->owner;
    pal_send_result result;
    pal_send_fn fn = NULL;
    void *fn_ctx = NULL;
    memset(&result, 0, sizeof(result));
    if (!d->host.sender(d->host.ctx, item->bot_index, item->channel, &fn, &fn_ctx)) {
        result.outcome = PAL_SEND_PERMANENT;
        snprintf(result.error, sizeof(result.error), "no sender configured for channel %s",
                 item->channel);
    } else {
        curl_easy_reset(w->curl);
        fn(fn_ctx, w->curl, item, &result);
    }
    item->attempts++;
    if (result.outcome == PAL_SEND_RETRY) {
        bool give_up = item->attempts >= d->max_attempts;
        int64_t next = now_ms() + pal_delivery_backoff_ms(d->base_ms, d->max_ms, item->attempts,
                                                          result.retry_after_ms);
        d->host.outcome(d->host.ctx, item, &result, next, give_up);
        if (!give_up) {
            pal_log(PAL_LOG_INFO, "delivery",
                    "message=%lld conversation=%lld attempt %d failed (%s), retry in %lld ms",
                    (long long)item->message_id, (long long)item->conversation_id, item->attempts,
                    result.error, (long long)(next - now_ms()));
            item->next_attempt_at = next;
            heap_push(w, item);
            return;
        }
        pal_log(PAL_LOG_WARN, "delivery", "message=%lld conversation=%lld gave up after %d: %s",
                (long long)item->message_id, (long long)item->conversation_id, item->attempts,
                result.error);
    } else {
        d->host.outcome(d->host.ctx, item, &result, 0, false);
        if (result.outcome == PAL_SEND_PERMANENT)
            pal_log(PAL_LOG_WARN, "delivery", "message=%lld conversation=%lld refused: %s",
                    (long long)item->message_id, (long long)item->conversation_id, result.error);
    }
    finish_item(w, item);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    pal_deliverer *d = w->owner;
    pthread_setname_np(pthread_self(), "pal-delivery");
    while (!atomic_load(&d->stopping)) {
        int wait = WAIT_MAX_MS;
        if (w->n_heap > 0) {
            int64_t due = w->heap[0]->next_attempt_at - now_ms();
            wait = due <= 0 ? 0 : (due < WAIT_MAX_MS ? (int)due : WAIT_MAX_MS);
        }
        bool closed = false;
        pal_qitem *got = wait > 0 ? pal_queue_pop(&w->inbox, SIZE_MAX, wait, &closed)
                                  : pal_queue_pop(&w->inbox, SIZE_MAX, 0, &closed);
        while (got) {
            pal_qitem *next = got->next;
            accept_item(w, (pal_delivery_item *)got);
            got = next;
        }
        if (closed)
            break;
        while (w->n_heap > 0 && w->heap[0]->next_attempt_at <= now_ms() &&
               !atomic_load(&d->stopping))
            deliver_one(w, heap_pop(w));
    }
    return NULL;
}

pal_err pal_deliverer_start(int threads, int base_ms, int max_ms, int max_attempts,
                            const pal_delivery_host *host, pal_deliverer **out)
{
    pal_deliverer *d = pal_xcalloc(1, sizeof(*d));
    *out = NULL;
    d->host = *host;
    d->base_ms = base_ms;
    d->max_ms = max_ms;
    d->max_attempts = max_attempts > 0 ? max_attempts : 1;
    d->n_workers = threads > 0 ? threads : 1;
    d->workers = pal_xcalloc((size_t)d->n_workers, sizeof(*d->workers));
    atomic_init(&d->stopping, false);
    for (int i = 0; i < d->n_workers; i++) {
        worker *w = &d->workers[i];
        w->owner = d;
        pal_queue_init(&w->inbox);
        w->curl = curl_easy_init();
        if (!w->curl) {
            pal_log(PAL_LOG_ERR, "delivery", "libcurl could not be set up");
            abort();
        }
    }
    for (int i = 0; i < d->n_workers; i++) {
        if (pthread_create(&d->workers[i].thread, NULL, worker_main, &d->workers[i]) != 0) {
            pal_log(PAL_LOG_ERR, "delivery", "cannot start a delivery thread");
            abort();
        }
    }
    *out = d;
    return PAL_OK;
}

void pal_deliverer_enqueue(pal_deliverer *deliverer, pal_delivery_item *item)
{
    uint64_t k = (uint64_t)item->conversation_id;
    worker *w = &deliverer->workers[k % (uint64_t)deliverer->n_workers];
    pal_queue_push(&w->inbox, &item->link);
}

static void free_chain(pal_delivery_item *item)
{
    while (item) {
        pal_delivery_item *next = item->next_in_conv;
        pal_delivery_item_free(item);
        item = next;
    }
}

void pal_deliverer_stop(pal_deliverer *deliverer)
{
    if (!deliverer)
        return;
    atomic_store(&deliverer->stopping, true);
    for (int i = 0; i < deliverer->n_workers; i++)
        pal_queue_close(&deliverer->workers[i].inbox);
    for (int i = 0; i < deliverer->n_workers; i++) {
        worker *w = &deliverer->workers[i];
        pthread_join(w->thread, NULL);
        pal_qitem *left = pal_queue_pop(&w->inbox, SIZE_MAX, 0, NULL);
        while (left) {
            pal_qitem *next = left->next;
            pal_delivery_item_free((pal_delivery_item *)left);
            left = next;
        }
        /* every queued item is either in the heap or chained behind one there */
        for (size_t k = 0; k < w->n_heap; k++)
            free_chain(w->heap[k]);
        free(w->heap);
        free(w->tails);
        curl_easy_cleanup(w->curl);
        pal_queue_destroy(&w->inbox);
    }
    free(deliverer->workers);
    free(deliverer);
}
