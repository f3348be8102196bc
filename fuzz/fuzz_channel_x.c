/*
 * fuzz_channel_x.c — an X Account Activity webhook body (tweets, DMs):
 * hostile bytes are refused with a 4xx and leave no events, never crash;
 * every event kept holds valid UTF-8 text and an address.
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
    if (strcmp(name, "consumer_secret") == 0)
        return "secret";
    if (strcmp(name, "access_token") == 0)
        return "token";
    if (strcmp(name, "user_id") == 0)
        return "1000";
    if (strcmp(name, "hashtag") == 0 && ctx)
        return "#MonRésultat";
    return NULL;
}

static const char *header(const void *ctx, const char *name)
{
    (void)ctx;
    (void)name;
    return "sha256=AAAA";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int with_hashtag = 1;
    const pal_channel_settings settings = {setting, &with_hashtag};
    char *body = malloc(size + 1);
    if (!body)
        return 0;
    memcpy(body, data, size);
    body[size] = '\0';
    pal_channel_request request = {.method = "POST",
                                   .url = "https://bot.example.com/webhooks/x",
                                   .body = body,
                                   .body_len = size,
                                   .header = header};
    if (pal_channel_x.verify(&settings, &request))
        __builtin_trap();
    /* Both with and without the hashtag filter. */
    for (int pass = 0; pass < 2; pass++) {
        const pal_channel_settings plain = {setting, NULL};
        pal_channel_events events = {0};
        pal_api_refusal refusal = {0};
        pal_err err = pal_channel_x.parse(pass ? &settings : &plain, &request, &events, &refusal);
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
    }
    free(body);
    return 0;
}
