/*
 * fuzz_api_message.c — the JSON body of a customer message (api and
 * webchat channels): hostile bytes must be refused with a 4xx, never crash.
 */
#include <stddef.h>
#include <stdint.h>

#include "channels/api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *root = NULL;
    pal_api_message m;
    pal_api_refusal refusal;
    for (int mode = 0; mode < 2; mode++) {
        if (pal_api_parse_message((const char *)data, size, 4096, mode == 0, mode == 1, &root, &m,
                                  &refusal) == PAL_OK) {
            if (!m.text || (mode == 0 && !m.customer))
                __builtin_trap();
            json_decref(root);
        } else if (refusal.status < 400 || refusal.status > 499 || root) {
            __builtin_trap();
        }
    }
    return 0;
}
