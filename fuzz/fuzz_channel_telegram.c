/*
 * fuzz_channel_telegram.c — a Telegram Update (CHANNELS.md §3), after its
 * signature was accepted: hostile bytes must give events that keep
 * channel.h's promises, or a 4xx refusal with no events, never a crash.
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
    (void)name;
    return "fuzz-setting";
}

static const char *none(const void *ctx, const char *name)
{
    (void)ctx;
    (void)name;
    return NULL;
}

static void check_string(const char *s, size_t max)
{
    if (!s || !s[0] || strlen(s) > max || !pal_utf8_valid(s, strlen(s)))
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pal_channel_settings settings = {.get = setting};
    char *body = malloc(size + 1);
    if (!body)
        abort();
    memcpy(body, data, size);
    body[size] = '\0';
    pal_channel_request request = {.method = "POST",
                                   .url = "https://example.org/webhook",
                                   .body = body,
                                   .body_len = size,
                                   .header = none,
                                   .query = none};
    pal_channel_events events = {0};
    pal_api_refusal refusal = {0};
    pal_err err = pal_channel_telegram.parse(&settings, &request, &events, &refusal);
    if (err == PAL_OK) {
        for (size_t i = 0; i < events.n; i++) {
            const pal_channel_event *e = &events.items[i];
            check_string(e->dedup_key, 256);
            if (e->kind == PAL_CHANNEL_MESSAGE) {
                check_string(e->external_user, 128);
                check_string(e->text, 4096);
            } else {
                check_string(e->platform_id, 128);
                check_string(e->status, 16);
            }
        }
    } else if (err != PAL_ERR_PARSE || refusal.status < 400 || refusal.status > 499 || events.n) {
        __builtin_trap();
    }
    pal_channel_events_clear(&events);
    free(body);
    return 0;
}
