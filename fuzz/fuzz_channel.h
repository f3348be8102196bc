/*
 * fuzz_channel.h — the body of the webhook harnesses fuzz_channel_<name>.c
 * (Messenger, WhatsApp, Telegram, X, Twilio): hostile bytes POSTed to a
 * channel's webhook must never pass its signature check, and parse must
 * give events that keep channel.h's promises, or a 4xx refusal with no
 * events, never a crash. Each harness names its channel, its settings and
 * the limits of its events.
 *
 * Included by one harness each (static functions, no state).
 */
#ifndef PAL_FUZZ_CHANNEL_H
#define PAL_FUZZ_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channels/channel.h"
#include "text/utf8.h"

/* What one harness checks. */
typedef struct fuzz_channel {
    const pal_channel *channel;
    /* The value of every header of the request (a made-up signature), or
     * NULL for a request without headers. */
    const char *signature;
    size_t max_text;  /* bytes of a message's text */
    bool has_address; /* every message says where replies go */
} fuzz_channel;

/* Settings where every setting is set (to "fuzz-setting"): a pal_channel_settings.get. */
static inline const char *fuzz_channel_any_setting(const void *ctx, const char *name)
{
    (void)ctx;
    (void)name;
    return "fuzz-setting";
}

static const char *fuzz_channel_signature(const void *ctx, const char *name)
{
    (void)name;
    return ctx;
}

static const char *fuzz_channel_none(const void *ctx, const char *name)
{
    (void)ctx;
    (void)name;
    return NULL;
}

/* Traps unless s is a non-empty valid UTF-8 string without NUL of at most
 * max bytes. */
static void fuzz_channel_string(const char *s, size_t max)
{
    if (!s || !s[0] || strlen(s) > max || pal_utf8_check_text(s, strlen(s), NULL) != PAL_OK)
        __builtin_trap();
}

/* POSTs data[0..size) to target's webhook with settings: verify must
 * refuse it, parse must keep its promises. */
static void fuzz_channel_check(const fuzz_channel *target, const pal_channel_settings *settings,
                               const uint8_t *data, size_t size)
{
    char url[128];
    char *body = malloc(size + 1);
    if (!body)
        abort();
    memcpy(body, data, size);
    body[size] = '\0';
    snprintf(url, sizeof(url), "https://bot.example.com/webhooks/%s", target->channel->name);
    pal_channel_request request = {
        .method = "POST",
        .url = url,
        .body = body,
        .body_len = size,
        .header = target->signature ? fuzz_channel_signature : fuzz_channel_none,
        .query = fuzz_channel_none,
        .ctx = target->signature,
    };
    if (target->channel->verify(settings, &request))
        __builtin_trap();

    pal_channel_events events = {0};
    pal_api_refusal refusal = {0};
    pal_err err = target->channel->parse(settings, &request, &events, &refusal);
    if (err == PAL_OK) {
        for (size_t i = 0; i < events.n; i++) {
            const pal_channel_event *e = &events.items[i];
            fuzz_channel_string(e->dedup_key, 256);
            if (e->kind == PAL_CHANNEL_MESSAGE) {
                fuzz_channel_string(e->external_user, 128);
                fuzz_channel_string(e->text, target->max_text);
                if (target->has_address && !e->address)
                    __builtin_trap();
            } else {
                fuzz_channel_string(e->platform_id, 128);
                fuzz_channel_string(e->status, 16);
            }
        }
    } else if (err != PAL_ERR_PARSE || refusal.status < 400 || refusal.status > 499 || events.n ||
               events.items) {
        __builtin_trap();
    }
    pal_channel_events_clear(&events);
    free(body);
}

#endif
