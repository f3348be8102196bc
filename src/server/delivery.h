/*
 * delivery.h — the senders' side of the outbox: threads that hand pending
 * replies to a channel's sender, retry with capped exponential backoff
 * (honouring the platform's Retry-After), and report each outcome so the
 * writer records it (sent, retry later, failed for good).
 *
 * Order: the replies of one conversation are delivered one after the
 * other, in the order they were queued (a reply waits until the one before
 * it was sent or failed for good); conversations are spread over the
 * threads by id, so one slow conversation holds back only its own replies.
 *
 * A reply is sent at least once and recorded as sent once: the outcome is
 * recorded after the send, so a crash in between sends it again after the
 * restart, with the same idempotency key for the receiver to drop.
 *
 * Threads: pal_deliverer_enqueue() is thread-safe. Senders and the outcome
 * callback run on the delivery threads.
 */
#ifndef PAL_SERVER_DELIVERY_H
#define PAL_SERVER_DELIVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "server/queue.h"

/* One reply to deliver. All strings are owned by the item (malloc). */
typedef struct pal_delivery_item {
    pal_qitem link;
    int64_t message_id, conversation_id;
    size_t bot_index;
    char *channel, *external_user, *address; /* address may be NULL */
    char *text, *quick_replies_json;         /* quick_replies_json may be NULL */
    char *idempotency_key;
    int64_t in_reply_to;         /* the customer's message it answers, 0 when none */
    char *in_reply_to_client_id; /* that message's channel id, or NULL */
    int attempts;
    int64_t next_attempt_at;                /* ms since the epoch */
    struct pal_delivery_item *next_in_conv; /* queued behind this one */
} pal_delivery_item;

/* Builds an item (copies every string; NULL allowed where noted above). */
pal_delivery_item *pal_delivery_item_new(int64_t message_id, int64_t conversation_id,
                                         size_t bot_index, const char *channel,
                                         const char *external_user, const char *address,
                                         const char *text, const char *quick_replies_json,
                                         const char *idempotency_key, int attempts,
                                         int64_t next_attempt_at, int64_t in_reply_to,
                                         const char *in_reply_to_client_id);
void pal_delivery_item_free(pal_delivery_item *item); /* NULL is a no-op */

typedef enum pal_send_outcome {
    PAL_SEND_OK,        /* accepted by the platform */
    PAL_SEND_RETRY,     /* failed for now (5xx, 429, timeout, no connection) */
    PAL_SEND_PERMANENT, /* refused for good (4xx: opted out, no such user, ...) */
} pal_send_outcome;

typedef struct pal_send_result {
    pal_send_outcome outcome;
    int64_t retry_after_ms; /* RETRY: the platform's Retry-After, 0 when none */
    char platform_id[128];  /* OK: the platform's id of the message, "" when none */
    char error[256];        /* RETRY/PERMANENT: why, for the message's record */
} pal_send_result;

/* A channel's sender: sends item and fills *result. Runs on a delivery
 * thread; state (e.g. a libcurl handle) per thread goes through
 * thread_state, made by the deliverer (a CURL easy handle, reused so
 * connections are kept alive). */
typedef void (*pal_send_fn)(void *ctx, void *curl, const pal_delivery_item *item,
                            pal_send_result *result);

/* What the deliverer asks its host. */
typedef struct pal_delivery_host {
    void *ctx;
    /* The sender for (bot_index, channel); false when none is configured
     * (the reply then fails for good: "no sender for channel"). */
    bool (*sender)(void *ctx, size_t bot_index, const char *channel, pal_send_fn *fn,
                   void **fn_ctx);
    /* An outcome to record. For RETRY, next_attempt_at is when it will be
     * tried again; give_up is true when max_attempts is reached (the reply
     * failed for good). Strings of result are valid during the call. */
    void (*outcome)(void *ctx, const pal_delivery_item *item, const pal_send_result *result,
                    int64_t next_attempt_at, bool give_up);
} pal_delivery_host;

typedef struct pal_deliverer pal_deliverer; /* opaque */

/* Starts threads (>= 1) delivering with backoff base_ms doubling up to
 * max_ms, at most max_attempts tries. host is copied. */
pal_err pal_deliverer_start(int threads, int base_ms, int max_ms, int max_attempts,
                            const pal_delivery_host *host, pal_deliverer **out);
/* Takes ownership of item and delivers it when due. */
void pal_deliverer_enqueue(pal_deliverer *deliverer, pal_delivery_item *item);
/* Stops the threads after the sends in progress; items not yet sent are
 * freed (they stay pending in the store). NULL is a no-op. */
void pal_deliverer_stop(pal_deliverer *deliverer);

/* The backoff before try number `attempts` + 1 (attempts >= 1): base_ms *
 * 2^(attempts-1), at most max_ms, with up to 20% random jitter, and never
 * less than retry_after_ms. */
int64_t pal_delivery_backoff_ms(int base_ms, int max_ms, int attempts, int64_t retry_after_ms);

#endif
