/*
 * fuzz_channel_x.c — an X Account Activity webhook body (tweets, DMs),
 * with and without the hashtag filter, under a made-up signature: see
 * fuzz_channel.h.
 */
#include "fuzz_channel.h"

static const char *setting(const void *ctx, const char *name)
{
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int with_hashtag = 1;
    static const fuzz_channel target = {&pal_channel_x, "sha256=AAAA", 64 * 1024, true};
    const pal_channel_settings plain = {setting, NULL}, filtered = {setting, &with_hashtag};
    fuzz_channel_check(&target, &plain, data, size);
    fuzz_channel_check(&target, &filtered, data, size);
    return 0;
}
