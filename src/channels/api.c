/*
 * api.c — the api channel's callback sender (see api.h).
 */
#include "channels/api.h"

#include "text/utf8.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

enum {
    CALLBACK_TIMEOUT_MS = 10000,
    CALLBACK_CONNECT_TIMEOUT_MS = 3000,
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

static size_t discard_body(char *data, size_t size, size_t n, void *ctx)
{
    (void)data;
    (void)ctx;
    return size * n;
}

static size_t read_header(char *data, size_t size, size_t n, void *ctx)
{
    int64_t *retry_after_ms = ctx;
    size_t len = size * n;
    static const char name[] = "retry-after:";
    if (len > sizeof(name) - 1 && len < 200 && strncasecmp(data, name, sizeof(name) - 1) == 0) {
        char value[200];
        memcpy(value, data + sizeof(name) - 1, len - (sizeof(name) - 1));
        value[len - (sizeof(name) - 1)] = '\0';
        *retry_after_ms = pal_http_retry_after_ms(value, (int64_t)time(NULL));
    }
    return len;
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
    struct curl_slist *headers = NULL;
    char key_header[200];
    long status = 0;
    char *body = callback_body(item);
    CURLcode rc;

    memset(result, 0, sizeof(*result));
    result->outcome = PAL_SEND_RETRY;
    if (!body) {
        result->outcome = PAL_SEND_PERMANENT;
        snprintf(result->error, sizeof(result->error), "reply is not valid text");
        return;
    }
    snprintf(key_header, sizeof(key_header), "Idempotency-Key: %s", item->idempotency_key);
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, key_header);
    if (!headers)
        goto out;
    if (curl_easy_setopt(curl, CURLOPT_URL, url) != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)CALLBACK_TIMEOUT_MS) != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)CALLBACK_CONNECT_TIMEOUT_MS) !=
            CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers) != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body) != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard_body) != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, read_header) != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_HEADERDATA, &result->retry_after_ms) != CURLE_OK) {
        snprintf(result->error, sizeof(result->error), "libcurl could not be set up");
        goto out;
    }
    rc = curl_easy_perform(curl);
    if (rc != CURLE_OK) {
        snprintf(result->error, sizeof(result->error), "callback: %s", curl_easy_strerror(rc));
        goto out;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300) {
        result->outcome = PAL_SEND_OK;
    } else {
        bool again = status == 408 || status == 429 || status >= 500;
        result->outcome = again ? PAL_SEND_RETRY : PAL_SEND_PERMANENT;
        snprintf(result->error, sizeof(result->error), "callback answered HTTP %ld", status);
    }
out:
    curl_slist_free_all(headers);
    free(body);
}

static pal_err refuse(pal_api_refusal *r, unsigned status, const char *code, const char *message)
{
    r->status = status;
    r->code = code;
    r->message = message;
    return PAL_ERR_PARSE;
}

/* Plain text fit for an id: 1..max bytes, no control characters. */
static bool plain_id(const char *s, size_t len, size_t max)
{
    if (len == 0 || len > max)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
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
        if (!out->customer || !plain_id(out->customer, len, PAL_API_CUSTOMER_MAX))
            return refuse(r, 400, "invalid_customer",
                          "customer must be a string of 1 to 256 bytes");
    }
    out->text = member(doc, "text", &len, &present);
    if (!out->text || len == 0)
        return refuse(r, 400, "invalid_text", "text must be a non-empty string");
    if (len > max_text)
        return refuse(r, 413, "text_too_long", "text is too long");
    out->id = member(doc, "id", &len, &present);
    if (present && (!out->id || !plain_id(out->id, len, PAL_API_CLIENT_ID_MAX)))
        return refuse(r, 400, "invalid_id", "id must be a string of 1 to 128 bytes");
    out->lang = member(doc, "lang", &len, &present);
    bool known = out->lang && (strcmp(out->lang, "fr") == 0 || strcmp(out->lang, "en") == 0);
    if (present && !known) {
        if (!lenient_lang)
            return refuse(r, 400, "invalid_lang", "lang must be \"fr\" or \"en\"");
        out->lang = NULL;
    }
    return PAL_OK;
}

pal_err pal_api_parse_message(const char *body, size_t len, size_t max_text, bool need_customer,
                              bool lenient_lang, json_t **root, pal_api_message *out,
                              pal_api_refusal *refusal)
{
    json_error_t jerr;
    *root = NULL;
    memset(out, 0, sizeof(*out));
    if (!pal_utf8_valid(body, len) || memchr(body, '\0', len))
        return refuse(refusal, 400, "invalid_utf8", "the body is not valid UTF-8");
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc)
        return refuse(refusal, 400, "invalid_json", "the body is not valid JSON");
    if (!json_is_object(doc)) {
        json_decref(doc);
        return refuse(refusal, 400, "invalid_json", "the body must be a JSON object");
    }
    pal_err err = check_message(doc, max_text, need_customer, lenient_lang, out, refusal);
    if (err) {
        json_decref(doc);
        memset(out, 0, sizeof(*out));
        return err;
    }
    *root = doc;
    return PAL_OK;
}
