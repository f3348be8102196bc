/*
 * channel.h — what every messaging platform adapter provides (CHANNELS.md):
 * Messenger, WhatsApp, Telegram, X, Twilio SMS. Data flows one way:
 *
 *   webhook request ─► verify (signature or secret on the raw body)
 *                   ─► parse into events (messages, receipts)
 *                   ─► (server) pipeline: dedup, engine, outbox
 *   outbox row      ─► send (format for the platform, POST with libcurl)
 *
 * An adapter is protocol only: no state between calls, no threads, no
 * store. Its credentials and the platform's API base URL are the bot's
 * channel settings (server/config.h: `channels:` in the configuration,
 * overridden by PALABRE_<BOT>_<CHANNEL>_<NAME>), read through
 * pal_channel_settings so that adapters do not depend on the server.
 *
 * Threads: every function is thread-safe (a sender uses the CURL handle its
 * delivery thread gives it).
 */
#ifndef PAL_CHANNELS_CHANNEL_H
#define PAL_CHANNELS_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "channels/api.h"
#include "server/delivery.h"

/* One bot's settings for one channel: get(ctx, name) gives the value of
 * setting `name` ("app_secret", "api_base", ...), or NULL when unset. The
 * strings are borrowed and live as long as the server. */
typedef struct pal_channel_settings {
    const char *(*get)(const void *ctx, const char *name);
    const void *ctx;
} pal_channel_settings;

/* The value of setting name, NULL when unset or empty. */
const char *pal_channel_setting(const pal_channel_settings *settings, const char *name);

/* A webhook request, as the platform sent it. Everything is borrowed for
 * the call. */
typedef struct pal_channel_request {
    const char *method; /* "GET", "POST" */
    /* The URL the platform called, as it called it: the configured
     * public_url of the channel (scheme://host[:port], behind any proxy)
     * followed by the request's path and raw query. Twilio signs it. */
    const char *url;
    const char *body; /* raw bytes as received, NUL-terminated after body_len */
    size_t body_len;
    /* Header value by case-insensitive name, NULL when absent. */
    const char *(*header)(const void *ctx, const char *name);
    /* Decoded query parameter value, NULL when absent. */
    const char *(*query)(const void *ctx, const char *name);
    const void *ctx;
} pal_channel_request;

typedef enum pal_channel_event_kind {
    PAL_CHANNEL_MESSAGE, /* a customer wrote, or pressed a button */
    PAL_CHANNEL_RECEIPT, /* the platform reports on one of our outbound messages */
} pal_channel_event_kind;

/* One thing a webhook request carried. Strings are owned by the event
 * (malloc); NULL where not applicable. */
typedef struct pal_channel_event {
    pal_channel_event_kind kind;
    /* MESSAGE and RECEIPT: the platform's dedup key (CHANNELS.md, per
     * platform: Messenger message.mid, WhatsApp messages[].id or
     * "<status id>:<status>", Telegram update_id, X tweet id_str or DM event
     * id, Twilio MessageSid). */
    char *dedup_key;
    /* MESSAGE */
    char *external_user; /* the customer's id on the platform (PSID, wa_id, chat id, user id, E.164)
                          */
    char *channel_message_id; /* the platform's id of the message */
    char *text;               /* valid UTF-8 without NUL: what the engine reads
                                 (a pressed button gives its payload) */
    char *address;            /* JSON object text: where replies go (see each adapter), or NULL */
    int64_t sent_at_ms;       /* when the platform says it was sent, 0 when unknown */
    /* RECEIPT */
    char *platform_id; /* the platform's id of our outbound message */
    char *status;      /* "sent", "delivered", "read" or "failed" */
    char *error;       /* failed: the platform's reason ("131047 Re-engagement message"), or NULL */
} pal_channel_event;

/* What one request carried, plus the webhook's answer when the platform
 * expects more than an empty 200. */
typedef struct pal_channel_events {
    pal_channel_event *items;
    size_t n, cap;
    /* The 200 answer's body and type, or NULL for the channel's default
     * (pal_channel.ack_*). Telegram answers a button press here with
     * {"method":"answerCallbackQuery",...}. Owned (malloc). */
    char *answer_body;
    const char *answer_content_type; /* static */
} pal_channel_events;

/* Appends an event (taken: its strings now belong to events, even on
 * error). PAL_ERR_LIMIT beyond PAL_CHANNEL_EVENTS_MAX events. */
pal_err pal_channel_events_add(pal_channel_events *events, pal_channel_event *event);
/* Frees the events' strings and arrays and zeroes *events. */
void pal_channel_events_clear(pal_channel_events *events);
void pal_channel_event_clear(pal_channel_event *event);

enum {
    PAL_CHANNEL_EVENTS_MAX = 1000, /* events in one request */
};

/* The answer to a GET handshake. body is owned (malloc), or NULL. */
typedef struct pal_channel_answer {
    unsigned status;
    const char *content_type; /* static */
    char *body;
} pal_channel_answer;

typedef struct pal_channel {
    const char *name; /* "messenger", "whatsapp", "telegram", "x", "twilio" */
    /* The settings a bot must set for the channel to be configured (NULL
     * terminated); without all of them the webhook answers 404. */
    const char *const *required;
    /* The platform's limits for one outbound message: text bytes (longer
     * replies are split at a word boundary by the sender) and buttons
     * (beyond, the sender lists them in the text). */
    size_t max_text, max_buttons;
    /* GET on the webhook: the platform's handshake (Meta hub.challenge, X
     * CRC); NULL when the platform has none (the server answers 405). */
    void (*handshake)(const pal_channel_settings *settings, const pal_channel_request *request,
                      pal_channel_answer *answer);
    /* POST: true when the request provably comes from the platform (a
     * signature over the raw body, or the shared secret), compared in
     * constant time. A false answers 403 and stores nothing. */
    bool (*verify)(const pal_channel_settings *settings, const pal_channel_request *request);
    /* POST, verified: the events. Items the bot must not answer (echoes of
     * our own messages, retweets, delivery/read notices without a message
     * of ours, unsupported kinds) are left out. On PAL_ERR_PARSE,
     * *refusal says what to answer (4xx) and events is empty. */
    pal_err (*parse)(const pal_channel_settings *settings, const pal_channel_request *request,
                     pal_channel_events *events, pal_api_refusal *refusal);
    /* The 200 answer to an accepted POST when parse leaves answer_body NULL. */
    const char *ack_content_type, *ack_body;
    /* The sender (delivery.h): ctx is a const pal_channel_settings *. It
     * formats item (text, quick replies as the platform's buttons, the
     * address parse made) and POSTs it to the setting api_base (the real
     * platform by default, a fake in tests). 2xx -> OK with the platform's
     * message id; 408, 429, 5xx, timeouts -> RETRY (Retry-After kept);
     * other 4xx -> PERMANENT with the platform's error code and message. */
    pal_send_fn send;
} pal_channel;

/* The adapter named name, NULL when none. */
const pal_channel *pal_channel_find(const char *name);

extern const pal_channel pal_channel_messenger, pal_channel_whatsapp, pal_channel_telegram,
    pal_channel_x, pal_channel_twilio;

#endif
