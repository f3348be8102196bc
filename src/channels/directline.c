/*
 * directline.c — Direct Line 3.0 tokens, conversation ids and activities
 * (see directline.h). Base64url comes from libsodium, the HMAC and the
 * constant-time comparison from sign.h.
 */
#include "channels/directline.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "channels/sign.h"
#include "text/utf8.h"

enum {
    CONVERSATION_ID_BYTES = 16,
    PAYLOAD_MAX = 640, /* bytes of a token's JSON payload */
    TYPE_MAX = 64,
    MAC_B64_LEN = 43, /* base64url of 32 bytes, no padding */
};

static const int b64_variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;

void pal_directline_new_conversation_id(char out[PAL_DIRECTLINE_CONVERSATION_ID_LEN + 1])
{
    unsigned char raw[CONVERSATION_ID_BYTES];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2base64(out, PAL_DIRECTLINE_CONVERSATION_ID_LEN + 1, raw, sizeof(raw), b64_variant);
}

static bool b64url_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

bool pal_directline_valid_conversation_id(const char *id)
{
    if (!id || strlen(id) != PAL_DIRECTLINE_CONVERSATION_ID_LEN)
        return false;
    for (const char *p = id; *p; p++)
        if (!b64url_char(*p))
            return false;
    /* 16 bytes in 22 characters: the last one carries 2 bits and 4 zero
     * bits, so only one spelling of each id is accepted */
    unsigned char raw[CONVERSATION_ID_BYTES + 1];
    size_t n = 0;
    return sodium_base642bin(raw, sizeof(raw), id, PAL_DIRECTLINE_CONVERSATION_ID_LEN, NULL, &n,
                             NULL, b64_variant) == 0 &&
           n == CONVERSATION_ID_BYTES;
}

bool pal_directline_valid_id(const char *s, size_t max)
{
    if (!s)
        return false;
    size_t len = strlen(s);
    if (len == 0 || len > max || pal_utf8_check_text(s, len, NULL) != PAL_OK)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

static bool valid_bot(const char *bot)
{
    return pal_directline_valid_id(bot, PAL_DIRECTLINE_BOT_MAX);
}

/* ---- tokens ------------------------------------------------------------ */

pal_err pal_directline_token_mint(const char *secret, size_t secret_len,
                                  const pal_directline_claims *claims, char **out)
{
    pal_err err = PAL_ERR_INVALID;
    char *payload = NULL, *token = NULL;
    unsigned char mac[PAL_SHA256_LEN];
    json_t *doc = NULL;

    *out = NULL;
    if (!valid_bot(claims->bot) || !pal_directline_valid_conversation_id(claims->conversation) ||
        (claims->user[0] && !pal_directline_valid_id(claims->user, PAL_DIRECTLINE_USER_MAX)) ||
        claims->expires <= 0)
        goto out;
    doc = json_pack("{sssssI}", "b", claims->bot, "c", claims->conversation, "e",
                    (json_int_t)claims->expires);
    if (!doc)
        goto out;
    if (claims->user[0])
        json_object_set_new(doc, "u", json_string(claims->user));
    payload = json_dumps(doc, JSON_COMPACT);
    err = PAL_ERR_INTERNAL;
    if (!payload)
        goto out;
    size_t payload_len = strlen(payload);
    if (!pal_hmac_sha256(secret, secret_len, payload, payload_len, mac))
        goto out;
    size_t payload_b64 = sodium_base64_encoded_len(payload_len, b64_variant);
    size_t mac_b64 = sodium_base64_encoded_len(sizeof(mac), b64_variant);
    /* each length counts its NUL: one becomes the '.' */
    token = pal_xmalloc(payload_b64 + mac_b64);
    sodium_bin2base64(token, payload_b64, (const unsigned char *)payload, payload_len, b64_variant);
    size_t at = strlen(token);
    token[at++] = '.';
    sodium_bin2base64(token + at, mac_b64, mac, sizeof(mac), b64_variant);
    *out = token;
    token = NULL;
    err = PAL_OK;
out:
    json_decref(doc);
    free(payload);
    free(token);
    return err;
}

/* Splits token into its decoded payload (payload[0..*payload_len), NUL
 * after) and decoded MAC. */
static bool token_split(const char *token, char payload[PAYLOAD_MAX + 1], size_t *payload_len,
                        unsigned char mac[PAL_SHA256_LEN])
{
    if (!token)
        return false;
    size_t len = strnlen(token, PAL_DIRECTLINE_TOKEN_MAX + 1);
    if (len > PAL_DIRECTLINE_TOKEN_MAX)
        return false;
    const char *dot = memchr(token, '.', len);
    if (!dot || dot == token || strchr(dot + 1, '.'))
        return false;
    size_t head = (size_t)(dot - token), tail = len - head - 1;
    size_t n = 0;
    if (tail != MAC_B64_LEN ||
        sodium_base642bin(mac, PAL_SHA256_LEN, dot + 1, tail, NULL, &n, NULL, b64_variant) != 0 ||
        n != PAL_SHA256_LEN)
        return false;
    if (sodium_base642bin((unsigned char *)payload, PAYLOAD_MAX, token, head, NULL, payload_len,
                          NULL, b64_variant) != 0)
        return false;
    payload[*payload_len] = '\0';
    return true;
}

static bool copy_claim(char *dst, size_t cap, const json_t *value)
{
    const char *s = json_string_value(value);
    if (!s || strlen(s) >= cap)
        return false;
    memcpy(dst, s, strlen(s) + 1);
    return true;
}

static pal_err parse_payload(const char *payload, size_t len, pal_directline_claims *out)
{
    pal_err err = PAL_ERR_INVALID;
    json_t *doc = json_loadb(payload, len, JSON_REJECT_DUPLICATES, NULL);
    memset(out, 0, sizeof(*out));
    if (!json_is_object(doc))
        goto out;
    const char *key;
    json_t *value;
    json_object_foreach(doc, key, value)
    {
        if (strcmp(key, "b") == 0) {
            if (!copy_claim(out->bot, sizeof(out->bot), value) || !valid_bot(out->bot))
                goto out;
        } else if (strcmp(key, "c") == 0) {
            if (!copy_claim(out->conversation, sizeof(out->conversation), value) ||
                !pal_directline_valid_conversation_id(out->conversation))
                goto out;
        } else if (strcmp(key, "u") == 0) {
            if (!copy_claim(out->user, sizeof(out->user), value) ||
                !pal_directline_valid_id(out->user, PAL_DIRECTLINE_USER_MAX))
                goto out;
        } else if (strcmp(key, "e") == 0) {
            if (!json_is_integer(value) || json_integer_value(value) <= 0)
                goto out;
            out->expires = (int64_t)json_integer_value(value);
        } else {
            goto out;
        }
    }
    if (out->bot[0] && out->conversation[0] && out->expires > 0)
        err = PAL_OK;
out:
    if (err)
        memset(out, 0, sizeof(*out));
    json_decref(doc);
    return err;
}

pal_err pal_directline_token_peek(const char *token, pal_directline_claims *out)
{
    char payload[PAYLOAD_MAX + 1];
    size_t len = 0;
    unsigned char mac[PAL_SHA256_LEN];
    memset(out, 0, sizeof(*out));
    if (!token_split(token, payload, &len, mac))
        return PAL_ERR_INVALID;
    return parse_payload(payload, len, out);
}

pal_err pal_directline_token_check(const char *token, const char *secret, size_t secret_len,
                                   int64_t now_s, pal_directline_claims *out)
{
    char payload[PAYLOAD_MAX + 1];
    size_t len = 0;
    unsigned char mac[PAL_SHA256_LEN], expected[PAL_SHA256_LEN];
    memset(out, 0, sizeof(*out));
    if (!token_split(token, payload, &len, mac))
        return PAL_ERR_INVALID;
    if (!pal_hmac_sha256(secret, secret_len, payload, len, expected) ||
        !pal_equal_consttime((const char *)mac, sizeof(mac), (const char *)expected,
                             sizeof(expected)))
        return PAL_ERR_INVALID;
    pal_directline_claims claims;
    if (parse_payload(payload, len, &claims) != PAL_OK)
        return PAL_ERR_INVALID;
    /* expiry only once the signature is known good: a forger learns nothing */
    if (now_s >= claims.expires)
        return PAL_ERR_STATE;
    *out = claims;
    return PAL_OK;
}

/* ---- activities from clients ------------------------------------------ */

static pal_err refuse(pal_api_refusal *refusal, unsigned status, const char *code,
                      const char *message)
{
    refusal->status = status;
    refusal->code = code;
    refusal->message = message;
    return PAL_ERR_PARSE;
}

/* The primary subtag of a BCP 47 locale ("fr-FR" -> "fr"), "" when absent
 * or not 2 to 3 letters. */
static void primary_subtag(const char *locale, char out[4])
{
    size_t n = 0;
    out[0] = '\0';
    if (!locale)
        return;
    while (n < 4 &&
           ((locale[n] >= 'a' && locale[n] <= 'z') || (locale[n] >= 'A' && locale[n] <= 'Z'))) {
        n++;
    }
    if (n < 2 || n > 3 || (locale[n] != '\0' && locale[n] != '-' && locale[n] != '_'))
        return;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)(locale[i] | 0x20);
    out[n] = '\0';
}

static pal_err check_activity(json_t *doc, size_t max_text, pal_directline_activity *out,
                              pal_api_refusal *refusal)
{
    json_t *type = json_object_get(doc, "type");
    if (!type)
        return refuse(refusal, 400, "MissingProperty", "the activity has no type");
    if (!json_is_string(type) || json_string_length(type) == 0 ||
        json_string_length(type) > TYPE_MAX)
        return refuse(refusal, 400, "BadArgument", "type must be a short string");
    out->type = json_string_value(type);

    json_t *from = json_object_get(doc, "from");
    if (from && !json_is_null(from)) {
        if (!json_is_object(from))
            return refuse(refusal, 400, "BadArgument", "from must be an object");
        json_t *id = json_object_get(from, "id");
        if (id && !json_is_null(id)) {
            if (!json_is_string(id) ||
                !pal_directline_valid_id(json_string_value(id), PAL_DIRECTLINE_USER_MAX))
                return refuse(refusal, 400, "BadArgument",
                              "from.id must be a string of 1 to 128 bytes");
            out->from_id = json_string_value(id);
        }
    }

    json_t *channel_data = json_object_get(doc, "channelData");
    if (channel_data && !json_is_null(channel_data)) {
        if (!json_is_object(channel_data))
            return refuse(refusal, 400, "BadArgument", "channelData must be an object");
        json_t *id = json_object_get(channel_data, "clientActivityID");
        if (id && !json_is_null(id)) {
            if (!json_is_string(id) ||
                !pal_directline_valid_id(json_string_value(id), PAL_DIRECTLINE_CLIENT_ID_MAX))
                return refuse(refusal, 400, "BadArgument",
                              "channelData.clientActivityID must be a string of 1 to 128 bytes");
            out->client_activity_id = json_string_value(id);
        }
    }

    json_t *locale = json_object_get(doc, "locale");
    if (json_is_string(locale))
        primary_subtag(json_string_value(locale), out->lang);

    if (strcmp(out->type, "message") != 0)
        return PAL_OK;
    json_t *text = json_object_get(doc, "text");
    if (!text || json_is_null(text))
        return refuse(refusal, 400, "MissingProperty", "a message needs a text");
    if (!json_is_string(text))
        return refuse(refusal, 400, "BadArgument", "text must be a string");
    size_t len = json_string_length(text);
    if (len == 0)
        return refuse(refusal, 400, "MissingProperty", "the text is empty");
    if (len > max_text)
        return refuse(refusal, 413, "MessageTooLarge", "the text is too long");
    /* jansson gives valid UTF-8 and refuses \u0000; checked again all the
     * same, as the pipeline relies on it */
    if (pal_utf8_check_text(json_string_value(text), len, NULL) != PAL_OK)
        return refuse(refusal, 400, "BadArgument", "the text is not valid UTF-8");
    out->text = json_string_value(text);
    return PAL_OK;
}

pal_err pal_directline_parse_activity(const char *body, size_t len, size_t max_text, json_t **root,
                                      pal_directline_activity *out, pal_api_refusal *refusal)
{
    *root = NULL;
    memset(out, 0, sizeof(*out));
    if (!body || !pal_utf8_valid(body, len) || memchr(body, '\0', len))
        return refuse(refusal, 400, "BadSyntax", "the body is not valid UTF-8");
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    if (!doc)
        return refuse(refusal, 400, "BadSyntax", "the body is not valid JSON");
    if (!json_is_object(doc)) {
        json_decref(doc);
        return refuse(refusal, 400, "BadSyntax", "the body must be a JSON object");
    }
    pal_err err = check_activity(doc, max_text, out, refusal);
    if (err) {
        json_decref(doc);
        memset(out, 0, sizeof(*out));
        return err;
    }
    *root = doc;
    return PAL_OK;
}

/* ---- activities to clients -------------------------------------------- */

void pal_directline_activity_id(const char *conversation, int64_t message_id, char *out, size_t cap)
{
    snprintf(out, cap, "%s|%010lld", conversation, (long long)message_id);
}

static json_t *suggested_actions(const json_t *quick_replies)
{
    json_t *actions = json_array();
    size_t i;
    const json_t *label;
    json_array_foreach(quick_replies, i, label)
    {
        if (!json_is_string(label))
            continue;
        json_array_append_new(
            actions, json_pack("{sssOsO}", "type", "imBack", "title", label, "value", label));
    }
    if (json_array_size(actions) == 0) {
        json_decref(actions);
        return NULL;
    }
    return json_pack("{so}", "actions", actions);
}

json_t *pal_directline_activity_json(const json_t *message, const char *conversation,
                                     const char *user_id, const char *bot)
{
    const json_t *id = json_object_get(message, "id");
    const char *direction = json_string_value(json_object_get(message, "direction"));
    const char *text = json_string_value(json_object_get(message, "text"));
    const char *created_at = json_string_value(json_object_get(message, "created_at"));
    if (!json_is_integer(id) || json_integer_value(id) <= 0 || !direction || !text)
        return NULL;
    bool in = strcmp(direction, "in") == 0;
    if (!in && strcmp(direction, "out") != 0)
        return NULL;
    char activity_id[PAL_DIRECTLINE_ACTIVITY_ID_SIZE];
    pal_directline_activity_id(conversation, (int64_t)json_integer_value(id), activity_id,
                               sizeof(activity_id));
    json_t *a = json_pack("{sssssssss{ss}}", "type", "message", "id", activity_id, "channelId",
                          "directline", "text", text, "conversation", "id", conversation);
    if (!a)
        return NULL;
    if (created_at)
        json_object_set_new(a, "timestamp", json_string(created_at));
    if (in) {
        json_object_set_new(a, "from", json_pack("{ssss}", "id", user_id, "role", "user"));
        const char *client_id = json_string_value(json_object_get(message, "channel_message_id"));
        if (client_id)
            json_object_set_new(a, "channelData", json_pack("{ss}", "clientActivityID", client_id));
        return a;
    }
    json_object_set_new(a, "from", json_pack("{ssssss}", "id", bot, "name", bot, "role", "bot"));
    json_t *actions = suggested_actions(json_object_get(message, "quick_replies"));
    if (actions)
        json_object_set_new(a, "suggestedActions", actions);
    const json_t *in_reply_to = json_object_get(message, "in_reply_to");
    if (json_is_integer(in_reply_to) && json_integer_value(in_reply_to) > 0) {
        char reply_to[PAL_DIRECTLINE_ACTIVITY_ID_SIZE];
        pal_directline_activity_id(conversation, (int64_t)json_integer_value(in_reply_to), reply_to,
                                   sizeof(reply_to));
        json_object_set_new(a, "replyToId", json_string(reply_to));
    }
    return a;
}
