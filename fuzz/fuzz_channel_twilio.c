/*
 * fuzz_channel_twilio.c — a Twilio SMS webhook form: hostile bytes are
 * refused with a 4xx and leave no events, never crash; the signature check
 * (which decodes and sorts the same form) never accepts a made-up
 * signature.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "channels/channel.h"
#include "text/utf8.h"

static const char *setting(const void *ctx, const char *name)
{
    (void)ctx;
    if (strcmp(name, "account_sid") == 0)
        return "AC123";
    if (strcmp(name, "auth_token") == 0)
        return "secret";
    return NULL;
}

static const char *header(const void *ctx, const char *name)
{
    (void)ctx;
    (void)name;
    return "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const pal_channel_settings settings = {setting, NULL};
    char *body = malloc(size + 1);
    if (!body)
        return 0;
    memcpy(body, data, size);
    body[size] = '\0';
    pal_channel_request request = {.method = "POST",
                                   .url = "https://bot.example.com/webhooks/twilio",
                                   .body = body,
                                   .body_len = size,
                                   .header = header};
    if (pal_channel_twilio.verify(&settings, &request))
        __builtin_trap();
    pal_channel_events events = {0};
    pal_api_refusal refusal = {0};
    pal_err err = pal_channel_twilio.parse(&settings, &request, &events, &refusal);
    if (err == PAL_OK) {
        for (size_t i = 0; i < events.n; i++) {
            const pal_channel_event *e = &events.items[i];
            if (!e->text || !e->address || !e->dedup_key || !e->external_user ||
                pal_utf8_check_text(e->text, strlen(e->text), NULL) != PAL_OK || !e->text[0])
                __builtin_trap();
        }
    } else if (refusal.status < 400 || refusal.status > 499 || events.n || events.items) {
        __builtin_trap();
    }
    pal_channel_events_clear(&events);
    free(body);
    return 0;
}
