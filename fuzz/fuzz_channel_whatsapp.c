/*
 * fuzz_channel_whatsapp.c — a WhatsApp Cloud API webhook body (CHANNELS.md §2),
 * whatever its signature: see fuzz_channel.h.
 */
#include "fuzz_channel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const fuzz_channel target = {&pal_channel_whatsapp, NULL, 4096, false};
    const pal_channel_settings settings = {.get = fuzz_channel_any_setting};
    fuzz_channel_check(&target, &settings, data, size);
    return 0;
}
