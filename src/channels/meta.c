/*
 * meta.c — Meta's handshake and signature, and the webhook and sending
 * plumbing the platform adapters share (see meta.h).
 */
#include "channels/meta.h"

#include "base/mem.h"
#include "channels/sign.h"
#include "text/utf8.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

enum {
    POST_TIMEOUT_MS = 10000,
    POST_CONNECT_TIMEOUT_MS = 3000,
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

pal_err pal_meta__refuse(pal_api_refusal *refusal, unsigned status, const char *code,
                         const char *message)
{
    refusal->status = status;
    refusal->code = code;
    refusal->message = message;
    return PAL_ERR_PARSE;
}

pal_err pal_meta__load(const pal_channel_request *request, json_t **root, pal_api_refusal *refusal)
{
    json_error_t jerr;
    *root = NULL;
    if (!request->body || !pal_utf8_valid(request->body, request->body_len) ||
        memchr(request->body, '\0', request->body_len))
        return pal_meta__refuse(refusal, 400, "invalid_utf8", "the body is not valid UTF-8");
    /* JSON_ALLOW_NUL: a \u0000 in one text must cost that item only (it is
     * skipped), not the whole request, which the platform would resend. */
    json_t *doc = json_loadb(request->body, request->body_len,
                             JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (!doc)
        return pal_meta__refuse(refusal, 400, "invalid_json", "the body is not valid JSON");
    if (!json_is_object(doc)) {
        json_decref(doc);
        return pal_meta__refuse(refusal, 400, "invalid_json", "the body must be a JSON object");
    }
    *root = doc;
    return PAL_OK;
}

const char *pal_meta__id(const json_t *v)
{
    if (!json_is_string(v))
        return NULL;
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (len == 0 || len > PAL_META_ID_MAX)
        return NULL;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return NULL;
    return s;
}

const char *pal_meta__text(const json_t *v)
{
    if (!json_is_string(v))
        return NULL;
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (len == 0 || len > PAL_META_TEXT_MAX || memchr(s, '\0', len))
        return NULL;
    return s;
}

int64_t pal_meta__int(const json_t *v, int64_t fallback)
{
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : fallback;
}

json_t *pal_meta__path(const json_t *root, const char *path)
{
    json_t *v = (json_t *)root;
    char name[64];
    while (v && *path) {
        size_t len = strcspn(path, ".");
        if (!json_is_object(v) || len >= sizeof(name))
            return NULL;
        memcpy(name, path, len);
        name[len] = '\0';
        v = json_object_get(v, name);
        path += len + (path[len] == '.');
    }
    return v;
}

char *pal_meta__at_address(int64_t ms)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "{\"at\":%lld}", (long long)ms);
    return pal_xstrdup(buf);
}

int64_t pal_meta__address_at(const char *address)
{
    if (!address)
        return -1;
    json_t *doc = json_loads(address, 0, NULL);
    json_t *at = json_object_get(doc, "at");
    int64_t ms = json_is_integer(at) ? (int64_t)json_integer_value(at) : -1;
    json_decref(doc);
    return ms;
}

json_t *pal_meta__labels(const pal_delivery_item *item)
{
    json_t *labels = json_array();
    json_t *doc = item->quick_replies_json ? json_loads(item->quick_replies_json, 0, NULL) : NULL;
    size_t i;
    json_t *v;
    if (!labels)
        abort();
    json_array_foreach(doc, i, v)
    {
        const char *s = json_string_value(v);
        if (s && s[0] && strlen(s) == json_string_length(v))
            json_array_append(labels, v);
    }
    json_decref(doc);
    return labels;
}

char *pal_meta__text_with_labels(const char *text, const json_t *labels, size_t max_buttons)
{
    size_t n = json_array_size(labels);
    if (n <= max_buttons)
        return pal_xstrdup(text);
    size_t len = strlen(text);
    for (size_t i = 0; i < n; i++)
        len += 1 + strlen(json_string_value(json_array_get(labels, i)));
    char *out = pal_xmalloc(len + 1);
    size_t at = strlen(text);
    memcpy(out, text, at);
    for (size_t i = 0; i < n; i++) {
        const char *label = json_string_value(json_array_get(labels, i));
        size_t l = strlen(label);
        out[at++] = '\n';
        memcpy(out + at, label, l);
        at += l;
    }
    out[at] = '\0';
    return out;
}

size_t pal_meta__split(const char *s, size_t len, size_t max, size_t *next)
{
    if (len <= max) {
        *next = len;
        return len;
    }
    /* s[b] starts a code point, so s[0..b) ends on a boundary and fits. */
    size_t b = max;
    while (b > 0 && ((unsigned char)s[b] & 0xC0) == 0x80)
        b--;
    if (b == 0)
        b = max; /* not UTF-8 after all: cut anywhere rather than loop */
    for (size_t i = b; i > 0; i--) {
        if (s[i] == ' ' || s[i] == '\n') {
            *next = i + 1;
            return i;
        }
    }
    *next = b;
    return b;
}

char *pal_meta__truncate(const char *s, size_t max_chars)
{
    size_t len = strlen(s), at = 0;
    for (size_t n = 0; at < len && n < max_chars; n++) {
        int32_t cp;
        size_t step = pal_utf8_decode(s + at, len - at, &cp);
        at += step ? step : 1;
    }
    return pal_xstrndup(s, at);
}

static size_t keep_body(char *data, size_t size, size_t n, void *ctx)
{
    pal_meta__response *r = ctx;
    size_t len = size * n;
    size_t room = PAL_META_RESPONSE_MAX - r->len;
    size_t take = len < room ? len : room;
    if (take) {
        r->body = pal_xrealloc(r->body, r->len + take + 1);
        memcpy(r->body + r->len, data, take);
        r->len += take;
        r->body[r->len] = '\0';
    }
    return len;
}

static size_t read_header(char *data, size_t size, size_t n, void *ctx)
{
    pal_meta__response *r = ctx;
    size_t len = size * n;
    static const char name[] = "retry-after:";
    if (len > sizeof(name) - 1 && len < 200 && strncasecmp(data, name, sizeof(name) - 1) == 0) {
        char value[200];
        memcpy(value, data + sizeof(name) - 1, len - (sizeof(name) - 1));
        value[len - (sizeof(name) - 1)] = '\0';
        r->retry_after_ms = pal_http_retry_after_ms(value, (int64_t)time(NULL));
    }
    return len;
}

bool pal_meta__post_json(void *curl, const char *url, const char *extra_header, const char *body,
                         pal_meta__response *response)
{
    struct curl_slist *headers = NULL, *more;
    bool answered = false;
    CURLcode rc;

    memset(response, 0, sizeof(*response));
    /* "Expect:" stops curl from waiting for a 100 Continue on large bodies. */
    const char *lines[] = {"Content-Type: application/json", "Expect:", extra_header};
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        if (!lines[i])
            continue;
        more = curl_slist_append(headers, lines[i]);
        if (!more) {
            snprintf(response->error, sizeof(response->error), "out of memory");
            goto out;
        }
        headers = more;
    }
    if (curl_easy_setopt(curl, CURLOPT_URL, url) != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)POST_TIMEOUT_MS) != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)POST_CONNECT_TIMEOUT_MS) !=
            CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers) != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body) != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body)) != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, keep_body) != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, response) != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, read_header) != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_HEADERDATA, response) != CURLE_OK) {
        snprintf(response->error, sizeof(response->error), "libcurl could not be set up");
        goto out;
    }
    rc = curl_easy_perform(curl);
    if (rc != CURLE_OK) {
        /* curl_easy_strerror names the failure only: the URL (which may
         * hold a token) never reaches the message. */
        snprintf(response->error, sizeof(response->error), "%s", curl_easy_strerror(rc));
        goto out;
    }
    if (curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response->status) != CURLE_OK ||
        response->status == 0) {
        snprintf(response->error, sizeof(response->error), "no HTTP status");
        goto out;
    }
    answered = true;
out:
    curl_slist_free_all(headers);
    if (!response->body)
        response->body = pal_xstrdup("");
    return answered;
}

void pal_meta__response_clear(pal_meta__response *response)
{
    free(response->body);
    memset(response, 0, sizeof(*response));
}

static bool transient_code(json_int_t code)
{
    static const json_int_t codes[] = {1, 2, 4, 17, 32, 613, 80006};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (code == codes[i])
            return true;
    return false;
}

void pal_meta__result(const char *who, const pal_meta__response *response, pal_send_result *result)
{
    long status = response->status;
    result->retry_after_ms = response->retry_after_ms;
    if (status >= 200 && status < 300) {
        result->outcome = PAL_SEND_OK;
        return;
    }
    json_t *doc = json_loadb(response->body, response->len, 0, NULL);
    json_t *code = pal_meta__path(doc, "error.code");
    const char *message = json_string_value(pal_meta__path(doc, "error.message"));
    bool again = status == 408 || status == 429 || status >= 500 ||
                 (json_is_integer(code) && transient_code(json_integer_value(code)));
    result->outcome = again ? PAL_SEND_RETRY : PAL_SEND_PERMANENT;
    if (json_is_integer(code))
        snprintf(result->error, sizeof(result->error), "%lld %s",
                 (long long)json_integer_value(code), message ? message : "");
    else
        snprintf(result->error, sizeof(result->error), "%s answered HTTP %ld", who, status);
    json_decref(doc);
}

void pal_meta__send_parts(const char *text, size_t max, pal_meta__part_fn send, void *ctx,
                          pal_send_result *result)
{
    size_t len = strlen(text), at = 0;
    do {
        size_t next;
        size_t n = pal_meta__split(text + at, len - at, max, &next);
        char *part = pal_xstrndup(text + at, n);
        at += next;
        memset(result, 0, sizeof(*result));
        send(ctx, part, at >= len, result);
        free(part);
    } while (at < len && result->outcome == PAL_SEND_OK);
}

int64_t pal_meta__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
