/*
 * fuzz_channel_directline.c — what a Direct Line client POSTs: the activity
 * (hostile JSON) must be taken or refused with a 4xx, never crash; the
 * same bytes read as a bearer token must never pass as one.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "channels/directline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *root = NULL;
    pal_directline_activity a;
    pal_api_refusal refusal;
    if (pal_directline_parse_activity((const char *)data, size, 4096, &root, &a, &refusal) ==
        PAL_OK) {
        if (!root || !a.type || (strcmp(a.type, "message") == 0 && !a.text))
            __builtin_trap();
        if (a.text && (strlen(a.text) == 0 || strlen(a.text) > 4096))
            __builtin_trap();
        json_decref(root);
    } else if (refusal.status < 400 || refusal.status > 499 || root) {
        __builtin_trap();
    }

    /* the same bytes as a token: whatever it claims, a key it was not
     * signed with refuses it */
    char *token = malloc(size + 1);
    if (!token)
        return 0;
    memcpy(token, data, size);
    token[size] = '\0';
    pal_directline_claims claims;
    (void)pal_directline_token_peek(token, &claims);
    if (pal_directline_token_check(token, "fuzz-secret", 11, 0, &claims) == PAL_OK)
        __builtin_trap();
    free(token);
    return 0;
}
