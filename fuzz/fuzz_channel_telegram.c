/*
 * fuzz_channel_telegram.c — a Telegram Update (CHANNELS.md §3),
 * whatever its signature: see fuzz_channel.h.
 */
#include "fuzz_channel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const fuzz_channel target = {&pal_channel_telegram, NULL, 4096, true};
    const pal_channel_settings settings = {.get = fuzz_channel_any_setting};
    fuzz_channel_check(&target, &settings, data, size);
    return 0;
}
