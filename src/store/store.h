/*
 * store.h — palabre's durable store: customers, their identities on each
 * channel, conversations, messages in and out, the outbox and events.
 *
 * One interface, two backends: SQLite in WAL mode (store_sqlite.c, the
 * embedded default) and, later, PostgreSQL. Callers never see SQL, and the
 * store never sees HTTP or bots: it holds a conversation's engine state as
 * an opaque JSON text.
 *
 * Two kinds of handles:
 *   - pal_store: the one writer. Every change goes through it, on one thread
 *     (the server's writer thread), grouped in transactions by
 *     pal_store_begin() / pal_store_commit(): the writer batches many
 *     messages into one transaction, so one fsync covers them all (group
 *     commit). Nothing written is visible to readers or durable before
 *     pal_store_commit() returns PAL_OK.
 *   - pal_store_reader: a read-only connection for one thread at a time
 *     (engine workers loading a conversation, API requests). Readers see
 *     committed data only and never block the writer (WAL).
 *
 * Durability: the database file and its WAL live in the data directory;
 * migrations are versioned (PRAGMA user_version) and applied at open in
 * one transaction. With `synchronous = full` a commit survives power loss;
 * with `normal` it survives a crash of the process (kill -9), not of the
 * machine.
 *
 * Times are milliseconds since the Unix epoch (int64). Ids are positive
 * int64, increasing in insertion order. Texts are UTF-8, checked by the
 * caller.
 *
 * Threads: a pal_store is used by one thread at a time (the writer); a
 * pal_store_reader by one thread at a time; different handles may be used
 * concurrently. pal_store_reader_open() is thread-safe.
 */
#ifndef PAL_STORE_STORE_H
#define PAL_STORE_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef struct pal_store pal_store;               /* opaque: the writer */
typedef struct pal_store_reader pal_store_reader; /* opaque: one reader */

typedef struct pal_store_options {
    bool sync_full;           /* commits survive power loss; else a crash of the process only */
    bool sync_deferred;       /* with sync_full: a commit is made durable by pal_store_sync(),
                                 not by pal_store_commit() (so that the writer can fill the next
                                 transaction while the disk works) */
    bool checkpoint_deferred; /* the write-ahead log is copied into the database by
                                 pal_store_checkpoint() on another thread, not inside the
                                 commit that finds it long (which then holds the writer up
                                 for the whole copy and its fsyncs, ~15 ms) */
} pal_store_options;

/* Opens (creating it and its directory's database when missing) the store at
 * path, a SQLite file, and migrates it to the current schema. On PAL_OK
 * *out is the caller's; release with pal_store_close(). Errors:
 * PAL_ERR_IO (cannot open or create), PAL_ERR_STATE (the file's schema is
 * newer than this program), PAL_ERR_INTERNAL; errbuf says why. */
pal_err pal_store_open(const char *path, const pal_store_options *options, pal_store **out,
                       char *errbuf, size_t errlen);
/* NULL is a no-op. Readers must be closed first. */
void pal_store_close(pal_store *store);

/* The schema version this program writes (and the one an opened store has). */
int pal_store_schema_version(void);

/* ---- writing (the writer thread only) -------------------------------- */

pal_err pal_store_begin(pal_store *store);
/* On error the transaction is rolled back: nothing of it is written. */
pal_err pal_store_commit(pal_store *store);
/* Undoes everything since pal_store_begin(); always leaves no transaction. */
void pal_store_rollback(pal_store *store);

/* With sync_deferred: makes every transaction committed so far durable (an
 * fdatasync of the write-ahead log); otherwise does nothing, commits being
 * durable already (or never, without sync_full). The one call that may run
 * on another thread while the writer thread works; one thread at a time.
 * Errors: PAL_ERR_IO (the disk refused: what was committed may be lost on
 * power failure; treat the store as broken). */
pal_err pal_store_sync(pal_store *store);

/* With checkpoint_deferred: whether the write-ahead log has grown long enough that
 * pal_store_checkpoint() has work to do. Any thread; cheap (two atomic reads). */
bool pal_store_checkpoint_due(const pal_store *store);

/* With checkpoint_deferred and when due: copies the write-ahead log into the database
 * (syncing the log before and the database after), on a connection of its own, while the
 * writer goes on; the writer then copies what it committed meanwhile (little) at its next
 * commit, after which the log starts again from its beginning. Otherwise does nothing. Runs
 * on one thread at a time, besides the writer's and pal_store_sync()'s. Errors: PAL_ERR_IO
 * (the log could not be copied; it keeps growing and the writer copies it itself past a
 * limit). */
pal_err pal_store_checkpoint(pal_store *store);

/* A message from a customer, as a channel adapter parsed it. Borrowed. */
typedef struct pal_inbound {
    const char *bot;                /* the bot's name */
    const char *channel;            /* "api", "webchat", "messenger", ... */
    const char *external_user;      /* the customer's id on that channel */
    const char *dedup_key;          /* unique per (bot, channel) for one message, or NULL */
    const char *channel_message_id; /* the platform's id of the message, or NULL */
    const char *text;               /* UTF-8, NUL-terminated */
    const char *address; /* JSON text saying where replies go (channel-specific), or NULL */
    int64_t received_at; /* ms */
} pal_inbound;

typedef struct pal_ingested {
    int64_t message_id;      /* the stored inbound message */
    int64_t conversation_id; /* the customer's conversation with the bot */
    int64_t customer_id;
    int64_t identity_id;   /* (bot, channel, external_user) */
    bool duplicate;        /* dedup_key seen before: nothing was written and
                              message_id/conversation_id are the earlier message's */
    bool new_conversation; /* the conversation was created by this message */
} pal_ingested;

/* Stores one inbound message with status "received": finds or creates the
 * customer behind (bot, channel, external_user), the customer's open
 * conversation with bot (mode "bot"), and inserts the message unless
 * dedup_key was stored before for the same bot and channel. Inside a
 * transaction. Errors: PAL_ERR_INTERNAL (SQLite failed: roll back). */
pal_err pal_store_ingest(pal_store *store, const pal_inbound *inbound, pal_ingested *out);

/* How a reply leaves palabre. */
typedef enum pal_delivery {
    PAL_DELIVERY_RETURNED, /* given in the HTTP answer to the request (api, webchat):
                              stored as sent, no outbox row */
    PAL_DELIVERY_OUTBOX,   /* pending in the outbox until a sender delivers it */
} pal_delivery;

typedef struct pal_outbound {
    const char *text;               /* UTF-8 */
    const char *quick_replies_json; /* JSON array of strings, or NULL */
} pal_outbound;

/* The outcome of processing one inbound message. Borrowed. */
typedef struct pal_turn_record {
    int64_t conversation_id;
    int64_t message_id;         /* the inbound message processed */
    const char *inbound_status; /* "processed", or "ignored" (opted out, person mode, ...) */
    const char *intent;         /* what the engine understood, or NULL */
    double confidence;
    const char *state_json; /* the conversation's new engine state, or NULL to keep it */
    const char *meta_json;  /* the server's per-conversation data (consent, recent
                               look-ups), or NULL to keep it */
    const char *mode;       /* "bot" or "person", or NULL to keep it */
    const char *lang;       /* "fr", "en", or NULL to keep it */
    /* where replies go: the inbound message's channel and address */
    const char *channel;
    const char *address;
    pal_delivery delivery;
    const pal_outbound *replies;
    size_t n_replies;
    /* consent on (bot, channel) of identity_id: -1 unchanged, 0 opted in, 1 opted out */
    int64_t identity_id;
    int consent;
    /* an event to record with the turn (handoff, opt-out, suppressed repeat), or NULL */
    const char *event_kind;
    const char *event_data_json;
    int64_t at; /* ms */
} pal_turn_record;

/* Records a processed message in one go: the inbound message's status and
 * what was understood, the conversation's state, meta, mode and language,
 * the replies as outbound messages (reply_ids[i] receives the id of
 * replies[i]; reply_ids may be NULL when n_replies is 0), an outbox row
 * per reply when delivery is PAL_DELIVERY_OUTBOX (idempotency key
 * "palabre-<message id>"), consent, and the event. Inside a transaction.
 * Errors: PAL_ERR_NOT_FOUND (no such conversation/message/identity) and
 * PAL_ERR_STATE (the message was processed already) write nothing;
 * PAL_ERR_INTERNAL (roll back). */
pal_err pal_store_record_turn(pal_store *store, const pal_turn_record *turn,
                              int64_t *reply_ids /* OUT: n_replies ids */);

/* pal_store_ingest() then pal_store_record_turn() of a message processed
 * before it was stored (the server's usual path), writing each row once: the
 * message is inserted already processed, a new conversation with the turn's
 * state. turn's message_id, conversation_id and identity_id are filled in
 * (IN/OUT). When the dedup key was stored before, *out says duplicate and
 * nothing of the turn is recorded. Inside a transaction; errors as the two
 * functions' (PAL_ERR_INVALID for a malformed turn, before anything is
 * written). */
pal_err pal_store_ingest_turn(pal_store *store, const pal_inbound *inbound, pal_turn_record *turn,
                              pal_ingested *out, int64_t *reply_ids /* OUT: n_replies ids */);

/* A reply was delivered (the platform accepted it): outbox row removed,
 * message status "sent", sent_at = at, channel_message_id recorded when not
 * NULL (the platform's id, for receipts). Inside a transaction.
 * PAL_ERR_NOT_FOUND when the message is not in the outbox (already done). */
pal_err pal_store_outbox_sent(pal_store *store, int64_t message_id, const char *channel_message_id,
                              int64_t at);
/* A delivery failed and will be retried at next_attempt_at: attempts + 1,
 * error recorded on the message. Inside a transaction. */
pal_err pal_store_outbox_retry(pal_store *store, int64_t message_id, int64_t next_attempt_at,
                               const char *error);
/* A delivery failed for good (opted out, invalid recipient, too many
 * attempts): outbox row removed, message status "failed", error recorded
 * and shown with the message. Inside a transaction. */
pal_err pal_store_outbox_failed(pal_store *store, int64_t message_id, const char *error,
                                int64_t at);

/* A platform's receipt for our message whose platform id is platform_id
 * (bot, channel): status "delivered" or "read" is recorded on the message
 * (never going back: delivered after read changes nothing); "failed" makes
 * the message failed with error (the platform's reason); "sent" and
 * receipts for messages we do not know change nothing. Inside a
 * transaction. */
pal_err pal_store_receipt(pal_store *store, const char *bot, const char *channel,
                          const char *platform_id, const char *status, const char *error,
                          int64_t at);

/* Records an event not tied to a turn (conversation_id may be 0). */
pal_err pal_store_event(pal_store *store, int64_t conversation_id, const char *kind,
                        const char *data_json, int64_t at);

/* ---- recovery (at start, before the server accepts requests) ----------- */

/* Inbound messages stored but not processed (status "received"), in id
 * order, as pending work after a crash. Strings are only valid during the
 * callback. A callback returning false stops the walk. */
typedef struct pal_pending_inbound {
    int64_t message_id, conversation_id, customer_id, identity_id;
    const char *bot, *channel, *external_user, *text, *address;
    int64_t received_at;
} pal_pending_inbound;
pal_err pal_store_pending_inbound(pal_store *store,
                                  bool (*each)(void *ctx, const pal_pending_inbound *message),
                                  void *ctx);

/* Outbox rows, oldest first (all of them: due or not). Strings valid during
 * the callback only. */
typedef struct pal_outbox_item {
    int64_t message_id, conversation_id;
    const char *bot, *channel, *external_user, *address;
    const char *text, *quick_replies_json; /* quick_replies_json may be NULL */
    const char *idempotency_key;
    int attempts;
    int64_t next_attempt_at;
    int64_t in_reply_to;               /* the customer's message it answers, 0 when none */
    const char *in_reply_to_client_id; /* that message's channel id, or NULL */
} pal_outbox_item;
pal_err pal_store_outbox_pending(pal_store *store,
                                 bool (*each)(void *ctx, const pal_outbox_item *item), void *ctx);

/* ---- reading --------------------------------------------------------- */

/* A read-only connection; on PAL_OK *out is the caller's, release with
 * pal_store_reader_close(). Thread-safe. */
pal_err pal_store_reader_open(pal_store *store, pal_store_reader **out);
void pal_store_reader_close(pal_store_reader *reader); /* NULL is a no-op */

/* A conversation's saved state, for an engine worker that does not hold it
 * in memory. On PAL_OK the strings are the caller's (free()); each may be
 * NULL (never saved). PAL_ERR_NOT_FOUND when there is no such conversation. */
typedef struct pal_conversation_row {
    int64_t id, customer_id;
    char *bot, *mode, *lang;
    char *state_json, *meta_json;
} pal_conversation_row;
pal_err pal_store_load_conversation(pal_store_reader *reader, int64_t conversation_id,
                                    pal_conversation_row *out);
void pal_conversation_row_clear(pal_conversation_row *row); /* frees the strings */

/* The conversation of (bot, channel, external_user), when the customer has
 * written before: PAL_ERR_NOT_FOUND otherwise. */
pal_err pal_store_find_conversation(pal_store_reader *reader, const char *bot, const char *channel,
                                    const char *external_user, int64_t *conversation_id);

/* Whether a message with dedup_key was stored for (bot, channel): *seen.
 * A cheap early check for engine workers; pal_store_ingest() stays the
 * arbiter. */
pal_err pal_store_seen_dedup_key(pal_store_reader *reader, const char *bot, const char *channel,
                                 const char *dedup_key, bool *seen);

/* One message as the API shows it: a JSON object
 *   {"id", "conversation_id", "direction": "in"|"out", "channel", "text",
 *    "quick_replies": [..] (out, when any), "channel_message_id" (when known),
 *    "status", "in_reply_to" (out), "error" (when failed), "created_at",
 *    "sent_at" (out, when sent), "receipt": "delivered"|"read" and
 *    "receipt_at" (out, when the platform reported it)}
 * with times as RFC 3339 UTC strings with milliseconds. */

/* The replies stored for inbound message message_id, in order, as a new JSON
 * array of message objects (caller frees with json_decref). An empty array
 * when the message is not processed yet; *processed says whether it is. */
pal_err pal_store_replies_to(pal_store_reader *reader, int64_t message_id, json_t **out,
                             bool *processed);

/* Messages of a conversation with id > after_id, oldest first, at most
 * limit (1..1000), as a new JSON array (caller frees with json_decref). */
pal_err pal_store_messages_after(pal_store_reader *reader, int64_t conversation_id,
                                 int64_t after_id, int limit, json_t **out);

/* A conversation as a new JSON object (caller frees with json_decref):
 *   {"id", "bot", "customer": {"id", "identities": [{"channel", "external_id"}]},
 *    "mode", "lang", "created_at", "updated_at", "messages": [...] }
 * with at most max_messages (0..1000) messages (the most recent, oldest first) and
 * "messages_truncated": true when there were more.
 * PAL_ERR_NOT_FOUND when there is no such conversation. */
pal_err pal_store_conversation_json(pal_store_reader *reader, int64_t conversation_id,
                                    int max_messages, json_t **out);

/* Lists conversations, newest first (by id). NULL filters match all.
 * Pagination by keyset: pass before = 0 for the first page, then the
 * "next_before" of the previous answer (ids < before). *out is a new JSON object
 *   {"conversations": [{"id", "bot", "customer_id", "mode", "lang",
 *     "created_at", "updated_at", "messages": N}], "next_before": ID|null}
 * (caller frees with json_decref). Filters: external_user with channel
 * selects the customer of that identity. */
typedef struct pal_conversation_filter {
    const char *bot;
    const char *mode;
    const char *channel;       /* with external_user */
    const char *external_user; /* the customer's id on channel */
    int64_t before;            /* 0: from the most recent */
    int limit;                 /* 1..500 */
} pal_conversation_filter;
pal_err pal_store_list_conversations(pal_store_reader *reader,
                                     const pal_conversation_filter *filter, json_t **out);

/* Counts for tests and health checks: messages by direction and status,
 * outbox rows. */
typedef struct pal_store_counts {
    int64_t inbound, inbound_received, outbound, outbound_sent, outbound_failed, outbox,
        conversations, customers;
} pal_store_counts;
pal_err pal_store_count(pal_store_reader *reader, pal_store_counts *out);

#endif
