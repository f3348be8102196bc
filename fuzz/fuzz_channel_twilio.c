/*
 * fuzz_channel_twilio.c — a Twilio SMS webhook form under a made-up
 * signature (the check decodes and sorts the same form): see
 * fuzz_channel.h.
 */
#include "fuzz_channel.h"

static const char *setting(const void *ctx, const char *name)
{
    (void)ctx;
    if (strcmp(name, "account_sid") == 0)
        return "AC123";
    if (strcmp(name, "auth_token") == 0)
        return "secret";
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Body: at most 1600 code points of at most 4 bytes. */
    static const fuzz_channel target = {&pal_channel_twilio,
                                        "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", 4 * 1600, true};
    const pal_channel_settings settings = {setting, NULL};
    fuzz_channel_check(&target, &settings, data, size);
    return 0;
}
