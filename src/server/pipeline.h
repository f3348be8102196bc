/*
 * pipeline.h — the life of a message inside `palabre serve`, after a
 * channel parsed it and before a sender delivers the replies:
 *
 *   submit ─► the engine worker of the customer (dedup, consent, engine
 *             step, repeat suppression)
 *          ─► writer: store the message and its turn (state, replies,
 *             outbox rows) in one transaction ─► commit
 *             └─► "stored" then "processed" progress (the channel answers),
 *                 live watchers, delivery of outbox rows
 *
 * Reliability (SPEC §4): a message is acknowledged only after the commit
 * that stores it together with its turn, so an acknowledged message is
 * processed exactly once; a dedup key seen before is never processed again
 * (the worker checks recent keys in memory and older ones in the store;
 * the store's unique index arbitrates); one customer's messages go to one
 * worker, in order, while customers run in parallel on several workers. One
 * writer thread owns the store's writer and groups whatever is waiting into
 * one transaction (group commit: one fsync for hundreds of messages). At
 * start, messages stored but not processed are processed and pending outbox
 * rows are delivered (delivery.h).
 *
 * Memory is bounded: at most queue_limit submissions are in flight; beyond,
 * pal_pipeline_submit() refuses with PAL_ERR_LIMIT (the channel answers 503).
 *
 * Threads: every function is thread-safe. Progress and watch callbacks run
 * on the writer thread: they must be short and must not block or call back
 * into the pipeline.
 */
#ifndef PAL_SERVER_PIPELINE_H
#define PAL_SERVER_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "dialog/bot.h"
#include "server/delivery.h"
#include "store/store.h"

typedef struct pal_pipeline pal_pipeline; /* opaque */

/* A bot the pipeline runs. Borrowed: must outlive the pipeline. */
typedef struct pal_pipeline_bot {
    const pal_bot *bot;
    /* api channel: where replies to messages sent with ?wait=false (and
     * replies recovered after a crash) are POSTed, or NULL: they are then
     * only stored, for GET /api/v1/conversations/{id}. */
    const char *api_callback_url;
    /* The other channels' senders (messenger, whatsapp, ...): sets the
     * sender of channel and returns true, or false when the bot has none
     * (its replies then fail: "no sender for channel"). NULL: none. Called
     * on delivery threads. */
    bool (*channel_sender)(const void *ctx, const char *channel, pal_send_fn *fn, void **fn_ctx);
    const void *channel_sender_ctx;
} pal_pipeline_bot;

typedef struct pal_pipeline_options {
    int engine_threads;        /* >= 1 */
    int delivery_threads;      /* >= 1 */
    int queue_limit;           /* submissions in flight, >= 1 */
    int conversation_cache;    /* conversations in memory per engine thread, >= 1 */
    int repeat_window_seconds; /* -1: each bot\'s dedup_window; 0: off; else for every bot */
    int retry_base_ms, retry_max_ms, max_attempts; /* outbox backoff */
} pal_pipeline_options;

/* Starts the writer, engine and delivery threads on store (borrowed; the
 * pipeline owns its writer until pal_pipeline_stop) and recovers pending
 * work. On PAL_OK *out is the caller's: stop it with pal_pipeline_stop()
 * and free it with pal_pipeline_free(). */
pal_err pal_pipeline_start(pal_store *store, const pal_pipeline_bot *bots, size_t n_bots,
                           const pal_pipeline_options *options, pal_pipeline **out);

/* Refuses new submissions, lets every accepted message be processed and
 * recorded, delivers what is due until deadline_ms (ms since the epoch),
 * and stops every thread. Pending outbox rows stay in the store for the next
 * start. The pipeline stays valid: HTTP threads still answering requests of
 * open connections get PAL_ERR_STATE from pal_pipeline_submit() and
 * pal_pipeline_receipt(). NULL, or a second call, is a no-op. */
void pal_pipeline_stop(pal_pipeline *pipeline, int64_t deadline_ms);

/* Stops it (at once) if still running and frees it, once nothing can call
 * it any more (the HTTP server is stopped). NULL is a no-op. */
void pal_pipeline_free(pal_pipeline *pipeline);

/* True once recovery is done and until stopping starts (/readyz). */
bool pal_pipeline_ready(const pal_pipeline *pipeline);

typedef enum pal_progress_kind {
    PAL_PROGRESS_STORED,    /* committed (or a duplicate of a committed message) */
    PAL_PROGRESS_PROCESSED, /* the turn is committed; replies are final */
    PAL_PROGRESS_FAILED,    /* the store failed: nothing was acknowledged */
} pal_progress_kind;

typedef struct pal_progress {
    pal_progress_kind kind;
    int64_t message_id, conversation_id;
    bool duplicate; /* STORED: the dedup key was seen before (no PROCESSED follows) */
    /* PROCESSED: the replies (valid during the callback only) */
    const pal_outbound *replies;
    size_t n_replies;
} pal_progress;

typedef void (*pal_progress_fn)(void *ctx, const pal_progress *progress);

/* One message from a channel. Strings are borrowed for the call (copied). */
typedef struct pal_submission {
    size_t bot_index; /* into the bots given to pal_pipeline_start */
    const char *channel, *external_user;
    const char *dedup_key;          /* or NULL */
    const char *channel_message_id; /* or NULL */
    const char *text;               /* valid UTF-8, checked by the channel */
    const char *address;            /* JSON text: where replies go, or NULL */
    const char *lang;               /* the customer's language when known ("fr"), or NULL */
    pal_delivery delivery;          /* RETURNED (api, webchat) or OUTBOX (sent by a sender) */
    /* Called once with STORED (or FAILED), then, when want_processed and the
     * message is not a duplicate, once with PROCESSED (or FAILED). ctx must
     * stay valid until the last call. NULL: no calls. */
    pal_progress_fn progress;
    void *progress_ctx;
    bool want_processed;
} pal_submission;

/* Queues a message. PAL_ERR_LIMIT when queue_limit messages are in flight
 * (overload: try again later), PAL_ERR_STATE when stopping. On any error,
 * no callback is made. */
pal_err pal_pipeline_submit(pal_pipeline *pipeline, const pal_submission *submission);

/* A platform's receipt for one of our messages (WhatsApp statuses,
 * Messenger deliveries). Strings are borrowed for the call (copied). */
typedef struct pal_receipt {
    size_t bot_index;
    const char *channel;
    const char *platform_id; /* the platform's id of our message */
    const char *status;      /* "sent", "delivered", "read", "failed" */
    const char *error;       /* failed: the platform's reason, or NULL */
    /* Called once with STORED once recorded (message_id 0), or FAILED. */
    pal_progress_fn progress;
    void *progress_ctx;
} pal_receipt;

/* Queues a receipt for the writer (store.h: pal_store_receipt). Errors as
 * pal_pipeline_submit(). */
pal_err pal_pipeline_receipt(pal_pipeline *pipeline, const pal_receipt *receipt);

/* Live updates of one customer's conversation (webchat's event stream):
 * fn(ctx, conversation_id) is called on the writer thread after each commit
 * that added messages to the conversation of (bot_index, channel,
 * external_user) — which may not exist yet when the watch starts — and
 * every 15 s with conversation_id 0 (a heartbeat, so that idle streams
 * notice closed connections). Strings are copied. On PAL_OK *out is the
 * caller's: remove with pal_pipeline_unwatch(), after which fn is not called
 * any more. */
typedef struct pal_watch pal_watch;
typedef void (*pal_watch_fn)(void *ctx, int64_t conversation_id);
pal_err pal_pipeline_watch(pal_pipeline *pipeline, size_t bot_index, const char *channel,
                           const char *external_user, pal_watch_fn fn, void *ctx, pal_watch **out);
void pal_pipeline_unwatch(pal_pipeline *pipeline, pal_watch *watch); /* NULL is a no-op */

#endif
