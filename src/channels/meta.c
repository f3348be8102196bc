/*
 * meta.c — Meta's handshake, signature and error mapping (see meta.h).
 */
#include "channels/meta.h"

#include "base/mem.h"
#include "channels/sign.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    SIGNATURE_HEX_LEN = 2 * PAL_SHA256_LEN,
};

void pal_meta__handshake(const pal_channel_settings *settings, const pal_channel_request *request,
                         pal_channel_answer *answer)
{
    const char *expected = pal_channel_setting(settings, "verify_token");
    const char *mode = request->query(request->ctx, "hub.mode");
    const char *token = request->query(request->ctx, "hub.verify_token");
    const char *challenge = request->query(request->ctx, "hub.challenge");

    answer->status = 403;
    answer->content_type = "text/plain";
    answer->body = NULL;
    if (!expected || !mode || !token || strcmp(mode, "subscribe") != 0 ||
        !pal_equal_consttime(token, strlen(token), expected, strlen(expected)))
        return;
    /* The challenge is echoed verbatim as our body: keep it short and inert. */
    size_t len = challenge ? strlen(challenge) : 0;
    answer->status = 400;
    if (len == 0 || len > PAL_META_CHALLENGE_MAX)
        return;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)challenge[i] < 0x20 || (unsigned char)challenge[i] > 0x7e)
            return;
    answer->status = 200;
    answer->body = pal_xstrndup(challenge, len);
}

static bool lower_hex(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

bool pal_meta__verify(const pal_channel_settings *settings, const pal_channel_request *request)
{
    static const char prefix[] = "sha256=";
    const char *secret = pal_channel_setting(settings, "app_secret");
    const char *header = request->header(request->ctx, "X-Hub-Signature-256");
    unsigned char mac[PAL_SHA256_LEN];
    char hex[SIGNATURE_HEX_LEN + 1];

    if (!secret || !header || strlen(header) != sizeof(prefix) - 1 + SIGNATURE_HEX_LEN ||
        strncmp(header, prefix, sizeof(prefix) - 1) != 0)
        return false;
    const char *given = header + sizeof(prefix) - 1;
    if (!lower_hex(given, SIGNATURE_HEX_LEN))
        return false;
    if (!pal_hmac_sha256(secret, strlen(secret), request->body, request->body_len, mac))
        return false;
    pal_hex_lower(mac, sizeof(mac), hex);
    return pal_equal_consttime(given, SIGNATURE_HEX_LEN, hex, SIGNATURE_HEX_LEN);
}

pal_err pal_meta__load_entries(const pal_channel_request *request, const char *object,
                               const char *expected, json_t **root, json_t **entries,
                               pal_api_refusal *refusal)
{
    pal_err err = pal_channels__load(request, root, refusal);
    if (err)
        return err;
    const char *given = json_string_value(json_object_get(*root, "object"));
    *entries = json_object_get(*root, "entry");
    if (!given || strcmp(given, object) != 0 || !json_is_array(*entries)) {
        json_decref(*root);
        *root = NULL;
        return pal_channels__refuse(refusal, 400, "invalid_payload", expected);
    }
    return PAL_OK;
}

static bool transient_code(json_int_t code)
{
    static const json_int_t codes[] = {1, 2, 4, 17, 32, 613, 80006};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (code == codes[i])
            return true;
    return false;
}

void pal_meta__result(const char *who, const pal_channels__response *response,
                      pal_send_result *result)
{
    long status = response->status;
    result->retry_after_ms = response->retry_after_ms;
    if (status >= 200 && status < 300) {
        result->outcome = PAL_SEND_OK;
        return;
    }
    json_t *doc = json_loadb(response->body, response->len, 0, NULL);
    json_t *code = pal_channels__path(doc, "error.code");
    const char *message = json_string_value(pal_channels__path(doc, "error.message"));
    bool again = pal_channels__outcome(status) == PAL_SEND_RETRY ||
                 (json_is_integer(code) && transient_code(json_integer_value(code)));
    result->outcome = again ? PAL_SEND_RETRY : PAL_SEND_PERMANENT;
    if (json_is_integer(code))
        snprintf(result->error, sizeof(result->error), "%lld %s",
                 (long long)json_integer_value(code), message ? message : "");
    else
        snprintf(result->error, sizeof(result->error), "%s answered HTTP %ld", who, status);
    json_decref(doc);
}
