/*
 * api.c — the api channel's message parser and callback sender (see api.h);
 * the body loading and the POST are the adapters' (adapter.h).
 */
#include "channels/api.h"

#include "channels/adapter.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
    RETRY_AFTER_MAX_MS = 3600 * 1000,
};

int64_t pal_http_retry_after_ms(const char *value, int64_t now_s)
{
    if (!value)
        return 0;
    while (*value == ' ' || *value == '\t')
        value++;
    if (*value >= '0' && *value <= '9') {
        char *end;
        unsigned long long s = strtoull(value, &end, 10);
        while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
            end++;
        if (*end != '\0')
            return 0;
        return s > RETRY_AFTER_MAX_MS / 1000 ? RETRY_AFTER_MAX_MS : (int64_t)s * 1000;
    }
    time_t at = curl_getdate(value, NULL);
    if (at < 0)
        return 0;
    int64_t ms = ((int64_t)at - now_s) * 1000;
    if (ms < 0)
        return 0;
    return ms > RETRY_AFTER_MAX_MS ? RETRY_AFTER_MAX_MS : ms;
}

static char *callback_body(const pal_delivery_item *item)
{
    json_t *quick = NULL;
    if (item->quick_replies_json)
        quick = json_loads(item->quick_replies_json, 0, NULL);
    json_t *body = json_pack("{sIsIssss}", "message_id", (json_int_t)item->message_id,
                             "conversation_id", (json_int_t)item->conversation_id, "customer",
                             item->external_user, "text", item->text);
    if (!body) {
        json_decref(quick);
        return NULL;
    }
    json_object_set_new(body, "quick_replies", json_is_array(quick) ? quick : json_array());
    if (item->in_reply_to)
        json_object_set_new(body, "in_reply_to", json_integer(item->in_reply_to));
    if (item->in_reply_to_client_id)
        json_object_set_new(body, "in_reply_to_id", json_string(item->in_reply_to_client_id));
    if (!json_is_array(quick))
        json_decref(quick);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    return text;
}

void pal_api_send_callback(void *ctx, void *curl, const pal_delivery_item *item,
                           pal_send_result *result)
{
    const char *url = ctx;
    char key_header[200];
    pal_channels__response response;
    char *body = callback_body(item);

    memset(result, 0, sizeof(*result));
    result->outcome = PAL_SEND_RETRY;
    if (!body) {
        result->outcome = PAL_SEND_PERMANENT;
        snprintf(result->error, sizeof(result->error), "reply is not valid text");
        return;
    }
    snprintf(key_header, sizeof(key_header), "Idempotency-Key: %s", item->idempotency_key);
    if (!pal_channels__post_json(curl, url, key_header, body, &response)) {
        snprintf(result->error, sizeof(result->error), "callback: %s", response.error);
        goto out;
    }
    result->retry_after_ms = response.retry_after_ms;
    result->outcome = pal_channels__outcome(response.status);
    if (result->outcome != PAL_SEND_OK)
        snprintf(result->error, sizeof(result->error), "callback answered HTTP %ld",
                 response.status);
out:
    pal_channels__response_clear(&response);
    free(body);
}

/* A string member's value and length, or NULL when absent or not a string
 * (*present says which). */
static const char *member(json_t *root, const char *name, size_t *len, bool *present)
{
    json_t *v = json_object_get(root, name);
    *present = v != NULL;
    *len = json_is_string(v) ? json_string_length(v) : 0;
    return json_string_value(v);
}

static pal_err check_message(json_t *doc, size_t max_text, bool need_customer, bool lenient_lang,
                             pal_api_message *out, pal_api_refusal *r)
{
    size_t len;
    bool present;
    memset(out, 0, sizeof(*out));
    if (need_customer) {
        out->customer = member(doc, "customer", &len, &present);
        if (!out->customer || !pal_channels__plain(out->customer, len, PAL_API_CUSTOMER_MAX))
            return pal_channels__refuse(r, 400, "invalid_customer",
                                        "customer must be a string of 1 to 256 bytes");
    }
    out->text = member(doc, "text", &len, &present);
    if (!out->text || len == 0)
        return pal_channels__refuse(r, 400, "invalid_text", "text must be a non-empty string");
    if (len > max_text)
        return pal_channels__refuse(r, 413, "text_too_long", "text is too long");
    out->id = member(doc, "id", &len, &present);
    if (present && (!out->id || !pal_channels__plain(out->id, len, PAL_API_CLIENT_ID_MAX)))
        return pal_channels__refuse(r, 400, "invalid_id", "id must be a string of 1 to 128 bytes");
    out->lang = member(doc, "lang", &len, &present);
    bool known = out->lang && (strcmp(out->lang, "fr") == 0 || strcmp(out->lang, "en") == 0);
    if (present && !known) {
        if (!lenient_lang)
            return pal_channels__refuse(r, 400, "invalid_lang", "lang must be \"fr\" or \"en\"");
        out->lang = NULL;
    }
    return PAL_OK;
}

pal_err pal_api_parse_message(const char *body, size_t len, size_t max_text, bool need_customer,
                              bool lenient_lang, json_t **root, pal_api_message *out,
                              pal_api_refusal *refusal)
{
    json_t *doc;
    memset(out, 0, sizeof(*out));
    pal_err err = pal_channels__load_json(body, len, 0, root, refusal);
    if (err)
        return err;
    doc = *root;
    *root = NULL;
    err = check_message(doc, max_text, need_customer, lenient_lang, out, refusal);
    if (err) {
        json_decref(doc);
        memset(out, 0, sizeof(*out));
        return err;
    }
    *root = doc;
    return PAL_OK;
}
