/*
 * adapter.c — the webhook reading, reply shaping and sending that the
 * platform adapters share (see adapter.h).
 */
#include "channels/adapter.h"

#include "base/mem.h"
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
    HEADER_VALUE_MAX = 200, /* bytes of a response header value we read */
};

/* --- reading webhook bodies ------------------------------------------------ */

pal_err pal_channels__refuse(pal_api_refusal *refusal, unsigned status, const char *code,
                             const char *message)
{
    refusal->status = status;
    refusal->code = code;
    refusal->message = message;
    return PAL_ERR_PARSE;
}

pal_err pal_channels__load_json(const char *body, size_t len, size_t flags, json_t **root,
                                pal_api_refusal *refusal)
{
    json_error_t jerr;
    *root = NULL;
    if (!body || !pal_utf8_valid(body, len) || memchr(body, '\0', len))
        return pal_channels__refuse(refusal, 400, "invalid_utf8", "the body is not valid UTF-8");
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES | flags, &jerr);
    if (!doc)
        return pal_channels__refuse(refusal, 400, "invalid_json", "the body is not valid JSON");
    if (!json_is_object(doc)) {
        json_decref(doc);
        return pal_channels__refuse(refusal, 400, "invalid_json", "the body must be a JSON object");
    }
    *root = doc;
    return PAL_OK;
}

pal_err pal_channels__load(const pal_channel_request *request, json_t **root,
                           pal_api_refusal *refusal)
{
    return pal_channels__load_json(request->body, request->body_len, JSON_ALLOW_NUL, root, refusal);
}

pal_err pal_channels__parsed(pal_err err, pal_channel_events *events, pal_api_refusal *refusal)
{
    if (err == PAL_ERR_LIMIT)
        err =
            pal_channels__refuse(refusal, 413, "too_many_events", "too many events in one request");
    if (err)
        pal_channel_events_clear(events);
    return err;
}

bool pal_channels__plain(const char *s, size_t len, size_t max)
{
    if (len == 0 || len > max)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

const char *pal_channels__id(const json_t *v)
{
    if (!json_is_string(v))
        return NULL;
    const char *s = json_string_value(v);
    return pal_channels__plain(s, json_string_length(v), PAL_CHANNELS_ID_MAX) ? s : NULL;
}

const char *pal_channels__text(const json_t *v)
{
    if (!json_is_string(v))
        return NULL;
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (len == 0 || len > PAL_CHANNELS_TEXT_MAX || memchr(s, '\0', len))
        return NULL;
    return s;
}

int64_t pal_channels__int(const json_t *v, int64_t fallback)
{
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : fallback;
}

json_t *pal_channels__path(const json_t *root, const char *path)
{
    json_t *v = (json_t *)root;
    char name[64];
    while (v && *path) {
        size_t len = strcspn(path, ".");
        if (len == 0 || len >= sizeof(name))
            return NULL;
        memcpy(name, path, len);
        name[len] = '\0';
        if (json_is_array(v) && strspn(name, "0123456789") == len && len < 10)
            v = json_array_get(v, strtoul(name, NULL, 10));
        else if (json_is_object(v))
            v = json_object_get(v, name);
        else
            return NULL;
        path += len + (path[len] == '.');
    }
    return v;
}

char *pal_channels__at_address(int64_t ms)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "{\"at\":%lld}", (long long)ms);
    return pal_xstrdup(buf);
}

int64_t pal_channels__address_at(const char *address)
{
    if (!address)
        return -1;
    json_t *doc = json_loads(address, 0, NULL);
    json_t *at = json_object_get(doc, "at");
    int64_t ms = json_is_integer(at) ? (int64_t)json_integer_value(at) : -1;
    json_decref(doc);
    return ms;
}

int64_t pal_channels__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool pal_channels__is_space(char c)
{
    return c == ' ' || c == '\n' || c == '\t' || c == '\r';
}

void pal_channels__one_line(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = ' ';
}

/* --- shaping replies -------------------------------------------------------- */

json_t *pal_channels__labels(const pal_delivery_item *item)
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

char *pal_channels__join_labels(const char *text, const json_t *labels, const char *first,
                                const char *between)
{
    pal_jsonw b = {0};
    pal_jsonw_lit(&b, text);
    for (size_t i = 0; i < json_array_size(labels); i++) {
        pal_jsonw_lit(&b, i ? between : first);
        pal_jsonw_lit(&b, json_string_value(json_array_get(labels, i)));
    }
    return pal_jsonw_take(&b);
}

char *pal_channels__text_with_labels(const char *text, const json_t *labels, size_t max_buttons)
{
    if (json_array_size(labels) <= max_buttons)
        return pal_xstrdup(text);
    return pal_channels__join_labels(text, labels, "\n", "\n");
}

size_t pal_channels__split(const char *s, size_t len, size_t max, size_t *next)
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

size_t pal_channels__split_units(const char *s, size_t len, size_t max, pal_channels__unit unit,
                                 size_t *next)
{
    size_t i = 0, units = 0, last_space = 0;
    int32_t cp = 0;
    while (i < len) {
        size_t n = pal_utf8_decode(s + i, len - i, &cp);
        if (n == 0)
            n = 1;
        size_t u = unit == PAL_CHANNELS_UTF16 && cp > 0xFFFF ? 2 : 1;
        if (units + u > max)
            break;
        if (cp == ' ' || cp == '\n')
            last_space = i;
        i += n;
        units += u;
    }
    if (i >= len) {
        *next = len;
        return len;
    }
    /* The next character would not fit: a space right there is a clean cut. */
    if (s[i] == ' ' || s[i] == '\n')
        last_space = i;
    size_t cut = last_space > 0 ? last_space : i;
    size_t after = cut;
    while (after < len && pal_channels__is_space(s[after]))
        after++;
    while (cut > 0 && pal_channels__is_space(s[cut - 1]))
        cut--;
    *next = after;
    return cut;
}

pal_err pal_channels__cut(const char *text, size_t max, pal_channels__unit unit,
                          pal_channels__part *parts, size_t max_parts, size_t *n)
{
    size_t len = strlen(text), at = 0;
    *n = 0;
    if (pal_utf8_check_text(text, len, NULL) != PAL_OK)
        return PAL_ERR_UTF8;
    while (len > 0 && pal_channels__is_space(text[len - 1]))
        len--;
    while (at < len && pal_channels__is_space(text[at]))
        at++;
    while (at < len) {
        size_t next, part = pal_channels__split_units(text + at, len - at, max, unit, &next);
        if (*n == max_parts)
            return PAL_ERR_LIMIT;
        if (part > 0) {
            parts[*n].at = at;
            parts[*n].len = part;
            (*n)++;
        }
        at += next;
    }
    return PAL_OK;
}

bool pal_channels__cut_reply(const char *text, size_t max, pal_channels__unit unit,
                             pal_channels__part *parts, size_t max_parts, size_t *n,
                             const char *too_long, pal_send_result *result)
{
    switch (pal_channels__cut(text, max, unit, parts, max_parts, n)) {
    case PAL_OK:
        break;
    case PAL_ERR_LIMIT:
        snprintf(result->error, sizeof(result->error), "%s", too_long);
        return false;
    default:
        snprintf(result->error, sizeof(result->error), "reply is not valid text");
        return false;
    }
    if (*n == 0) {
        snprintf(result->error, sizeof(result->error), "empty reply");
        return false;
    }
    return true;
}

char *pal_channels__truncate(const char *s, size_t max_chars)
{
    size_t len = strlen(s), at = 0;
    for (size_t n = 0; at < len && n < max_chars; n++) {
        int32_t cp;
        size_t step = pal_utf8_decode(s + at, len - at, &cp);
        at += step ? step : 1;
    }
    return pal_xstrndup(s, at);
}

/* --- sending ------------------------------------------------------------------ */

const char *pal_channels__api_base(const pal_channel_settings *settings, const char *fallback,
                                   size_t *len)
{
    const char *base = pal_channel_setting(settings, "api_base");
    if (!base)
        base = fallback;
    *len = strlen(base);
    if (*len > 0 && base[*len - 1] == '/')
        (*len)--;
    return base;
}

static size_t keep_body(char *data, size_t size, size_t n, void *ctx)
{
    pal_channels__response *r = ctx;
    size_t len = size * n;
    size_t room = PAL_CHANNELS_RESPONSE_MAX - r->len;
    size_t take = len < room ? len : room;
    if (take) {
        r->body = pal_xrealloc(r->body, r->len + take + 1);
        memcpy(r->body + r->len, data, take);
        r->len += take;
        r->body[r->len] = '\0';
    }
    return len;
}

/* The value of header line data[0..len) (trimmed) into value when its name
 * is name (any case), else NULL. */
static const char *header_value(const char *data, size_t len, const char *name,
                                char value[HEADER_VALUE_MAX])
{
    size_t n = strlen(name);
    if (len <= n + 1 || len - n - 1 >= HEADER_VALUE_MAX || strncasecmp(data, name, n) != 0 ||
        data[n] != ':')
        return NULL;
    size_t start = n + 1, end = len;
    while (start < end && pal_channels__is_space(data[start]))
        start++;
    while (end > start && pal_channels__is_space(data[end - 1]))
        end--;
    memcpy(value, data + start, end - start);
    value[end - start] = '\0';
    return value;
}

static size_t read_header(char *data, size_t size, size_t n, void *ctx)
{
    pal_channels__response *r = ctx;
    size_t len = size * n;
    char value[HEADER_VALUE_MAX];
    if (header_value(data, len, "retry-after", value)) {
        r->retry_after_ms = pal_http_retry_after_ms(value, (int64_t)time(NULL));
    } else if (header_value(data, len, "x-rate-limit-reset", value)) {
        char *end;
        long long reset = strtoll(value, &end, 10);
        if (*end == '\0' && reset > 0)
            r->rate_reset_s = reset;
    }
    return len;
}

bool pal_channels__post_request(void *curl, const pal_channels__post *post,
                                pal_channels__response *response)
{
    struct curl_slist *headers = NULL, *more;
    char content_type[128];
    bool answered = false;
    CURLcode rc;

    memset(response, 0, sizeof(*response));
    snprintf(content_type, sizeof(content_type), "Content-Type: %s", post->content_type);
    /* "Expect:" stops curl from waiting for a 100 Continue on large bodies. */
    const char *lines[] = {content_type, "Expect:", post->header};
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
    if (curl_easy_setopt(curl, CURLOPT_URL, post->url) != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)POST_TIMEOUT_MS) != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)POST_CONNECT_TIMEOUT_MS) !=
            CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers) != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, post->body) != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(post->body)) !=
            CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, keep_body) != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, response) != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, read_header) != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_HEADERDATA, response) != CURLE_OK) {
        snprintf(response->error, sizeof(response->error), "libcurl could not be set up");
        goto out;
    }
    if (post->user && (curl_easy_setopt(curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC) != CURLE_OK ||
                       curl_easy_setopt(curl, CURLOPT_USERNAME, post->user) != CURLE_OK ||
                       curl_easy_setopt(curl, CURLOPT_PASSWORD, post->password) != CURLE_OK)) {
        snprintf(response->error, sizeof(response->error), "libcurl could not be set up");
        goto out;
    }
    rc = curl_easy_perform(curl);
    if (rc != CURLE_OK) {
        /* curl_easy_strerror names the failure only: the URL and the
         * credentials (which may hold a token) never reach the message. */
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

bool pal_channels__post_json(void *curl, const char *url, const char *extra_header,
                             const char *body, pal_channels__response *response)
{
    pal_channels__post post = {
        .url = url, .content_type = "application/json", .header = extra_header, .body = body};
    return pal_channels__post_request(curl, &post, response);
}

void pal_channels__response_clear(pal_channels__response *response)
{
    free(response->body);
    memset(response, 0, sizeof(*response));
}

void pal_channels__platform_id(const pal_channels__response *response, const char *path,
                               pal_send_result *result)
{
    json_t *doc = json_loadb(response->body, response->len, 0, NULL);
    const char *id = json_string_value(pal_channels__path(doc, path));
    snprintf(result->platform_id, sizeof(result->platform_id), "%s",
             id && strlen(id) < sizeof(result->platform_id) ? id : "");
    json_decref(doc);
}

pal_send_outcome pal_channels__outcome(long status)
{
    if (status >= 200 && status < 300)
        return PAL_SEND_OK;
    if (status == 408 || status == 429 || status >= 500)
        return PAL_SEND_RETRY;
    return PAL_SEND_PERMANENT;
}

void pal_channels__send_parts(const char *text, size_t max, pal_channels__part_fn send, void *ctx,
                              pal_send_result *result)
{
    size_t len = strlen(text), at = 0;
    do {
        size_t next;
        size_t n = pal_channels__split(text + at, len - at, max, &next);
        char *part = pal_xstrndup(text + at, n);
        at += next;
        memset(result, 0, sizeof(*result));
        send(ctx, part, at >= len, result);
        free(part);
    } while (at < len && result->outcome == PAL_SEND_OK);
}

void pal_channels__part_error(pal_send_result *result, size_t k, size_t n)
{
    char error[sizeof(result->error)];
    if (n <= 1)
        return;
    memcpy(error, result->error, sizeof(error));
    /* The reason keeps its first 199 bytes, as it did before the prefix. */
    snprintf(result->error, sizeof(result->error), "part %zu/%zu: %.199s", k, n, error);
}

bool pal_channels__post_part(void *curl, const char *url, const char *extra_header, const char *who,
                             const char *body, pal_channels__response *response,
                             pal_send_result *result)
{
    if (!body) {
        memset(response, 0, sizeof(*response));
        result->outcome = PAL_SEND_PERMANENT;
        snprintf(result->error, sizeof(result->error), "reply is not valid text");
        return false;
    }
    if (!pal_channels__post_json(curl, url, extra_header, body, response)) {
        result->outcome = PAL_SEND_RETRY;
        snprintf(result->error, sizeof(result->error), "%s: %s", who, response->error);
        return false;
    }
    return true;
}
