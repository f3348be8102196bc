/*
 * api.c — the api channel's callback sender (see api.h).
 */
#include "channels/api.h"

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
