/*
 * twilio.c — the Twilio SMS adapter (channel.h, CHANNELS.md §5).
 *
 * Inbound: Twilio POSTs an application/x-www-form-urlencoded body signed
 * by X-Twilio-Signature = base64(HMAC-SHA1(auth_token, URL + every
 * parameter sorted by name, as name + value)). Parameters are decoded
 * ('+' is a space, %XX a byte) and sorted by name, then by value for equal
 * names, in byte order. A message is MessageSid, From, To and Body; an
 * empty Body (an MMS with media only) is not answered. Twilio has no
 * handshake.
 *
 * The webhook answers an empty TwiML <Response/> at once: replies go
 * through the REST API after the engine has run, so that Twilio never
 * waits on palabre.
 *
 * Limits of the form (hostile input): at most 64 parameters, names of 1 to
 * 64 bytes, values of at most 4096 bytes, every name and value valid UTF-8
 * without NUL, no name twice (Twilio never repeats one; a repeated From or
 * Body would make "the" sender ambiguous). Body is at most 1600 characters
 * (code points: an SMS of 1600 accented characters is longer in bytes).
 *
 * Address: {"to": From, "from": To}: the reply goes to the customer from the
 * number they wrote to.
 *
 * Outbound: POST /2010-04-01/Accounts/{account_sid}/Messages.json with Basic
 * auth, form To, From (the reply's from, else the setting from) or
 * MessagingServiceSid, Body. Quick replies are appended as one line
 * "\nOui / Non". Longer than 1600 characters (counted in UTF-16 units, as
 * an SMS counts them) is split at the last space into several messages.
 * 4xx other than 408/429 fail for good with Twilio's "<code> <message>"
 * (21610: the customer opted out).
 *
 * Thread-safe: no state; the CURL handle is the caller's.
 */
#include "channels/adapter.h"
#include "channels/channel.h"

#include "base/mem.h"
#include "channels/sign.h"
#include "text/utf8.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    TW_BODY_MAX = 64 * 1024, /* bytes of one webhook request */
    TW_PARAMS_MAX = 64,      /* parameters of one form */
    TW_NAME_MAX = 64,        /* bytes of a parameter name */
    TW_VALUE_MAX = 4096,     /* bytes of a parameter value */
    TW_ID_MAX = 64,          /* bytes of a MessageSid or phone number */
    TW_TEXT_CHARS = 1600,    /* characters of one SMS (concatenated) */
    TW_PARTS_MAX = 10,       /* messages one reply may become */
    TW_URL_MAX = 2048,       /* bytes of an API URL */
};

static const char *const tw_required[] = {"account_sid", "auth_token", NULL};

/* --- small helpers ------------------------------------------------------ */

/* --- the form ------------------------------------------------------------ */

typedef struct tw_param {
    char *name, *value; /* decoded, NUL-terminated (may hold NUL before it) */
    size_t name_len, value_len;
} tw_param;

typedef struct tw_form {
    tw_param items[TW_PARAMS_MAX];
    size_t n;
} tw_form;

static void form_free(tw_form *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->items[i].name);
        free(f->items[i].value);
    }
    f->n = 0;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* s[0..len) form-decoded into a new string (*out, caller frees); false on
 * a malformed %-escape or beyond max decoded bytes. */
static bool form_decode(const char *s, size_t len, size_t max, char **out, size_t *out_len)
{
    char *d = pal_xmalloc(len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi = i + 2 < len ? hex_digit(s[i + 1]) : -1;
            int lo = i + 2 < len ? hex_digit(s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                free(d);
                return false;
            }
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (o == max) {
            free(d);
            return false;
        }
        d[o++] = c;
    }
    d[o] = '\0';
    *out = d;
    *out_len = o;
    return true;
}

/* The parameters of body[0..len). PAL_ERR_LIMIT beyond the limits,
 * PAL_ERR_PARSE when malformed (f is then empty). */
static pal_err form_parse(const char *body, size_t len, tw_form *f)
{
    pal_err err = PAL_OK;
    f->n = 0;
    for (size_t at = 0; at < len && err == PAL_OK;) {
        const char *amp = memchr(body + at, '&', len - at);
        size_t end = amp ? (size_t)(amp - body) : len;
        if (end > at) {
            const char *eq = memchr(body + at, '=', end - at);
            size_t name_end = eq ? (size_t)(eq - body) : end;
            size_t value_at = eq ? name_end + 1 : end;
            tw_param *p = &f->items[f->n];
            if (f->n == TW_PARAMS_MAX) {
                err = PAL_ERR_LIMIT;
            } else if (!form_decode(body + at, name_end - at, TW_NAME_MAX, &p->name,
                                    &p->name_len)) {
                err = PAL_ERR_PARSE;
            } else if (!form_decode(body + value_at, end - value_at, TW_VALUE_MAX, &p->value,
                                    &p->value_len)) {
                free(p->name);
                err = PAL_ERR_PARSE;
            } else {
                f->n++;
                if (p->name_len == 0)
                    err = PAL_ERR_PARSE;
            }
        }
        at = end + 1;
    }
    if (err != PAL_OK)
        form_free(f);
    return err;
}

static int param_cmp(const void *a, const void *b)
{
    const tw_param *x = *(const tw_param *const *)a, *y = *(const tw_param *const *)b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(x->name, y->name, n);
    if (c == 0 && x->name_len != y->name_len)
        c = x->name_len < y->name_len ? -1 : 1;
    if (c != 0)
        return c;
    n = x->value_len < y->value_len ? x->value_len : y->value_len;
    c = memcmp(x->value, y->value, n);
    if (c == 0 && x->value_len != y->value_len)
        c = x->value_len < y->value_len ? -1 : 1;
    return c;
}

/* The value of the parameter name, NULL when absent. */
static const tw_param *form_get(const tw_form *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->items[i].name, name) == 0 && f->items[i].name_len == strlen(name))
            return &f->items[i];
    return NULL;
}

/* --- signature ------------------------------------------------------------ */

static bool tw_verify(const pal_channel_settings *settings, const pal_channel_request *request)
{
    const char *token = pal_channel_setting(settings, "auth_token");
    const char *given =
        request->header ? request->header(request->ctx, "X-Twilio-Signature") : NULL;
    bool post = request->method && strcmp(request->method, "POST") == 0;
    unsigned char mac[PAL_SHA1_LEN];
    char expected[32];
    const tw_param *sorted[TW_PARAMS_MAX];
    tw_form form = {0};
    pal_jsonw data = {0};
    bool ok = false;

    if (!token || !given || !request->url)
        return false;
    if (post) {
        if (!request->body || request->body_len > TW_BODY_MAX ||
            form_parse(request->body, request->body_len, &form) != PAL_OK)
            return false;
    }
    for (size_t i = 0; i < form.n; i++)
        sorted[i] = &form.items[i];
    qsort(sorted, form.n, sizeof(sorted[0]), param_cmp);
    pal_jsonw_lit(&data, request->url);
    for (size_t i = 0; i < form.n; i++) {
        pal_jsonw_raw(&data, sorted[i]->name, sorted[i]->name_len);
        pal_jsonw_raw(&data, sorted[i]->value, sorted[i]->value_len);
    }
    if (pal_hmac_sha1(token, strlen(token), data.data, data.len, mac) &&
        pal_base64(mac, sizeof(mac), expected, sizeof(expected)))
        ok = pal_equal_consttime(given, strlen(given), expected, strlen(expected));
    free(data.data);
    form_free(&form);
    return ok;
}

/* --- parsing --------------------------------------------------------------- */

/* An id or phone number: 1..TW_ID_MAX bytes without spaces or control
 * characters. */
static bool tw_id_valid(const tw_param *p)
{
    if (!p || p->value_len == 0 || p->value_len > TW_ID_MAX)
        return false;
    for (size_t i = 0; i < p->value_len; i++)
        if ((unsigned char)p->value[i] <= 0x20 || p->value[i] == 0x7f)
            return false;
    return true;
}

static pal_err parse_form(const pal_channel_settings *settings, const tw_form *form,
                          pal_channel_events *events, pal_api_refusal *r)
{
    for (size_t i = 0; i < form->n; i++) {
        const tw_param *p = &form->items[i];
        if (pal_utf8_check_text(p->name, p->name_len, NULL) != PAL_OK ||
            pal_utf8_check_text(p->value, p->value_len, NULL) != PAL_OK)
            return pal_channels__refuse(r, 400, "invalid_form",
                                        "parameters must be UTF-8 without NUL");
        for (size_t k = 0; k < i; k++)
            if (strcmp(form->items[k].name, p->name) == 0)
                return pal_channels__refuse(r, 400, "invalid_form", "a parameter is repeated");
    }
    const tw_param *sid = form_get(form, "MessageSid");
    const tw_param *from = form_get(form, "From");
    const tw_param *to = form_get(form, "To");
    const tw_param *body = form_get(form, "Body");
    const tw_param *account = form_get(form, "AccountSid");
    const char *account_sid = pal_channel_setting(settings, "account_sid");
    if (!tw_id_valid(sid) || !tw_id_valid(from) || (to && !tw_id_valid(to)))
        return pal_channels__refuse(r, 400, "invalid_payload", "MessageSid and From are required");
    if (account && account_sid && strcmp(account->value, account_sid) != 0)
        return pal_channels__refuse(r, 400, "unknown_account",
                                    "AccountSid is not this bot's account");
    if (!body)
        return PAL_OK;
    size_t start = 0, end = body->value_len;
    while (start < end && pal_channels__is_space(body->value[start]))
        start++;
    while (end > start && pal_channels__is_space(body->value[end - 1]))
        end--;
    if (start == end)
        return PAL_OK; /* media only: nothing to read */
    if (pal_utf8_length(body->value, body->value_len) > TW_TEXT_CHARS)
        return pal_channels__refuse(r, 400, "invalid_payload",
                                    "Body is longer than 1600 characters");

    pal_channel_event event = {.kind = PAL_CHANNEL_MESSAGE};
    json_t *address = json_pack("{ss}", "to", from->value);
    if (address && to)
        json_object_set_new(address, "from", json_string(to->value));
    event.address = address ? json_dumps(address, JSON_COMPACT) : NULL;
    json_decref(address);
    if (!event.address)
        return pal_channels__refuse(r, 400, "invalid_payload", "From or To is malformed");
    event.dedup_key = pal_xstrdup(sid->value);
    event.channel_message_id = pal_xstrdup(sid->value);
    event.external_user = pal_xstrdup(from->value);
    event.text = pal_xstrndup(body->value + start, end - start);
    return pal_channel_events_add(events, &event);
}

static pal_err tw_parse(const pal_channel_settings *settings, const pal_channel_request *request,
                        pal_channel_events *events, pal_api_refusal *refusal)
{
    tw_form form = {0};
    pal_err err;

    if (!request->body || request->body_len > TW_BODY_MAX) {
        err = pal_channels__refuse(refusal, 413, "too_large", "the body is too large");
        goto out;
    }
    err = form_parse(request->body, request->body_len, &form);
    if (err == PAL_ERR_LIMIT) {
        err = pal_channels__refuse(refusal, 413, "too_large", "too many or too long parameters");
        goto out;
    }
    if (err != PAL_OK) {
        err = pal_channels__refuse(refusal, 400, "invalid_form", "the body is not a valid form");
        goto out;
    }
    err = parse_form(settings, &form, events, refusal);
out:
    if (err != PAL_OK) {
        pal_channel_events_clear(events);
        if (err != PAL_ERR_PARSE)
            (void)pal_channels__refuse(refusal, 500, "internal", "the message could not be kept");
    }
    form_free(&form);
    return err;
}

/* --- sending --------------------------------------------------------------- */

/* "<code> <message>" from a Twilio error answer, else "HTTP <status>". */
static void tw_error_text(const pal_channels__response *h, char *out, size_t cap)
{
    json_t *doc = json_loadb(h->body, h->len, 0, NULL);
    json_t *code = json_object_get(doc, "code");
    const char *message = json_string_value(json_object_get(doc, "message"));
    if (json_is_integer(code) && message)
        snprintf(out, cap, "%lld %s", (long long)json_integer_value(code), message);
    else if (message)
        snprintf(out, cap, "HTTP %ld %s", h->status, message);
    else
        snprintf(out, cap, "HTTP %ld", h->status);
    pal_channels__one_line(out);
    json_decref(doc);
}

/* name=<escaped value> appended to form, with '&' before all but the first. */
static bool form_add(CURL *curl, pal_jsonw *form, const char *name, const char *value, size_t len)
{
    char *escaped = curl_easy_escape(curl, value, (int)len);
    if (!escaped)
        return false;
    if (form->len)
        pal_jsonw_lit(form, "&");
    pal_jsonw_lit(form, name);
    pal_jsonw_lit(form, "=");
    pal_jsonw_lit(form, escaped);
    curl_free(escaped);
    return true;
}

/* An account sid fit for a URL path: letters and digits. */
static bool tw_sid_valid(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'z') ||
              (s[n] >= 'A' && s[n] <= 'Z')) ||
            n >= TW_ID_MAX)
            return false;
    return n > 0;
}

static void tw_send(void *ctx, void *curl, const pal_delivery_item *item, pal_send_result *result)
{
    const pal_channel_settings *settings = ctx;
    const char *sid = pal_channel_setting(settings, "account_sid");
    const char *token = pal_channel_setting(settings, "auth_token");
    const char *from = pal_channel_setting(settings, "from");
    const char *service = pal_channel_setting(settings, "messaging_service_sid");
    size_t base_len;
    const char *base = pal_channels__api_base(settings, "https://api.twilio.com", &base_len);
    json_t *address = item->address ? json_loads(item->address, 0, NULL) : NULL;
    const char *to = json_string_value(json_object_get(address, "to"));
    pal_channels__part parts[TW_PARTS_MAX];
    size_t n_parts = 0;
    char url[TW_URL_MAX];
    char *text = NULL;

    memset(result, 0, sizeof(*result));
    result->outcome = PAL_SEND_PERMANENT;
    if (!sid || !token || !tw_sid_valid(sid)) {
        snprintf(result->error, sizeof(result->error), "no Twilio account");
        goto out;
    }
    if (!from && !service) {
        snprintf(result->error, sizeof(result->error), "no from number");
        goto out;
    }
    if (!to)
        to = item->external_user;
    if (!to || !*to) {
        snprintf(result->error, sizeof(result->error), "no recipient");
        goto out;
    }
    json_t *labels = pal_channels__labels(item);
    text = pal_channels__join_labels(item->text ? item->text : "", labels, "\n", " / ");
    json_decref(labels);
    if (!pal_channels__cut_reply(text, TW_TEXT_CHARS, PAL_CHANNELS_UTF16, parts, TW_PARTS_MAX,
                                 &n_parts, "reply too long for SMS", result))
        goto out;
    snprintf(url, sizeof(url), "%.*s/2010-04-01/Accounts/%s/Messages.json", (int)base_len, base,
             sid);

    for (size_t k = 0; k < n_parts; k++) {
        pal_jsonw form = {0};
        pal_channels__response h = {0};
        bool done =
            form_add(curl, &form, "To", to, strlen(to)) &&
            (from ? form_add(curl, &form, "From", from, strlen(from))
                  : form_add(curl, &form, "MessagingServiceSid", service, strlen(service))) &&
            form_add(curl, &form, "Body", text + parts[k].at, parts[k].len);
        if (!done) {
            snprintf(result->error, sizeof(result->error), "libcurl could not encode the form");
        } else {
            pal_channels__post post = {.url = url,
                                       .content_type = "application/x-www-form-urlencoded",
                                       .user = sid,
                                       .password = token,
                                       .body = form.data};
            done = pal_channels__post_request(curl, &post, &h);
            if (!done)
                /* curl's generic message: never the URL or the credentials. */
                snprintf(result->error, sizeof(result->error), "Twilio API: %s", h.error);
        }
        free(form.data);
        result->outcome = done ? pal_channels__outcome(h.status) : PAL_SEND_RETRY;
        if (result->outcome == PAL_SEND_OK) {
            pal_channels__platform_id(&h, "sid", result);
            pal_channels__response_clear(&h);
            continue;
        }
        result->platform_id[0] = '\0';
        if (result->outcome == PAL_SEND_RETRY)
            result->retry_after_ms = h.retry_after_ms;
        if (done)
            tw_error_text(&h, result->error, sizeof(result->error));
        pal_channels__part_error(result, k + 1, n_parts);
        pal_channels__response_clear(&h);
        goto out;
    }
    result->outcome = PAL_SEND_OK;
out:
    json_decref(address);
    free(text);
}

const pal_channel pal_channel_twilio = {
    .name = "twilio",
    .required = tw_required,
    /* 1600 characters; the sender splits longer replies itself. */
    .max_text = TW_TEXT_CHARS,
    .max_buttons = 0,
    .handshake = NULL,
    .verify = tw_verify,
    .parse = tw_parse,
    .ack_content_type = "text/xml",
    .ack_body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>",
    .send = tw_send,
};
