/*
 * test_channels_twilio.c — the Twilio SMS adapter: X-Twilio-Signature
 * (CHANNELS.md test vector), the inbound form, and the requests the sender
 * makes, checked against a fake Twilio API served from a thread of this
 * test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include "channels/channel.h"
#include "fake_http.h"
#include "channels/sign.h"

/* --- settings and requests ------------------------------------------------- */

static fake_kv base_settings[] = {
    {"account_sid", "AC123"},        {"auth_token", "authsecret"}, {"from", "+18005551212"},
    {"messaging_service_sid", NULL}, {"api_base", NULL},           {NULL, NULL},
};

static pal_channel_settings settings = {fake_kv_get, base_settings};

static void set_setting(const char *name, const char *value)
{
    fake_kv_set(base_settings, name, value);
}

static int setup(void **state)
{
    (void)state;
    set_setting("auth_token", "authsecret");
    set_setting("from", "+18005551212");
    set_setting("messaging_service_sid", NULL);
    set_setting("api_base", NULL);
    return 0;
}

static pal_channel_request make_request(const char *url, const char *body, fake_request *f)
{
    return fake_request_make("POST", url, body, f);
}

/* --- signature -------------------------------------------------------------- */

static const char vector_url[] = "https://mycompany.com/myapp.php?foo=1&bar=2";

static bool verify(const char *url, const char *body, const char *signature)
{
    fake_kv list[] = {{"X-Twilio-Signature", signature}, {NULL, NULL}};
    fake_request f = {.headers = list};
    pal_channel_request r = make_request(url, body, &f);
    return pal_channel_twilio.verify(&settings, &r);
}

static void signature_vector(void **state)
{
    (void)state;
    set_setting("auth_token", "12345");
    /* The documented parameters, in another order, '+' sent as %2B. */
    const char *body = "To=%2B18005551212&CallSid=CA1234567890ABCDE&Digits=1234&"
                       "Caller=%2B12349013030&From=%2B12349013030";
    assert_true(verify(vector_url, body, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="));

    assert_false(verify(vector_url, body, "0/KCTR6DLpKmkAf8muzZqo1nDgQ"));
    assert_false(verify(vector_url, body, "1/KCTR6DLpKmkAf8muzZqo1nDgQ="));
    assert_false(verify(vector_url, body, ""));
    assert_false(verify(vector_url, body, NULL));
    assert_false(verify("https://mycompany.com/myapp.php?foo=1&bar=3", body,
                        "0/KCTR6DLpKmkAf8muzZqo1nDgQ="));
    /* A raw '+' is a space once decoded: another message. */
    assert_false(verify(vector_url,
                        "To=+18005551212&CallSid=CA1234567890ABCDE&Digits=1234&"
                        "Caller=%2B12349013030&From=%2B12349013030",
                        "0/KCTR6DLpKmkAf8muzZqo1nDgQ="));
    /* A parameter added by someone else. */
    assert_false(verify(vector_url,
                        "To=%2B18005551212&CallSid=CA1234567890ABCDE&Digits=1234&"
                        "Caller=%2B12349013030&From=%2B12349013030&Body=hi",
                        "0/KCTR6DLpKmkAf8muzZqo1nDgQ="));
    /* Another token. */
    set_setting("auth_token", "12346");
    assert_false(verify(vector_url, body, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="));
    /* A malformed form is never verified. */
    set_setting("auth_token", "12345");
    assert_false(verify(vector_url, "To=%2", "0/KCTR6DLpKmkAf8muzZqo1nDgQ="));
}

/* base64(HMAC-SHA1("authsecret", data)). */
static void sign(const char *data, char *out)
{
    unsigned char mac[PAL_SHA1_LEN];
    assert_true(pal_hmac_sha1("authsecret", 10, data, strlen(data), mac));
    assert_true(pal_base64(mac, sizeof(mac), out, 32));
}

static void signature_decodes_and_sorts(void **state)
{
    (void)state;
    char expected[32];
    const char *url = "https://bot.example.com:8443/webhooks/twilio";
    /* Decoded values (UTF-8), names in byte order ('B' < 'F' < 'M' < 'T'). */
    sign("https://bot.example.com:8443/webhooks/twilio"
         "BodyBonjour \xc3\xa0 vous & +1"
         "From+33612345678"
         "MessageSidSM01"
         "To+18005551212",
         expected);
    assert_true(verify(url,
                       "MessageSid=SM01&To=%2B18005551212&From=%2b33612345678&"
                       "Body=Bonjour+%C3%A0%20vous+%26+%2B1",
                       expected));
    /* The same name twice: sorted by value. */
    sign("https://bot.example.com:8443/webhooks/twilioa1a2b", expected);
    assert_true(verify(url, "b=&a=2&a=1", expected));
    assert_true(verify(url, "a=1&b&a=2", expected));
}

/* --- parsing ---------------------------------------------------------------- */

static pal_err parse(const char *body, pal_channel_events *events, pal_api_refusal *refusal)
{
    fake_request f = {0};
    pal_channel_request r = make_request("https://bot.example.com/webhooks/twilio", body, &f);
    memset(events, 0, sizeof(*events));
    memset(refusal, 0, sizeof(*refusal));
    return pal_channel_twilio.parse(&settings, &r, events, refusal);
}

static void inbound_sms(void **state)
{
    (void)state;
    const char *body = "ToCountry=US&SmsMessageSid=SM0123&NumMedia=0&Body=Bonjour+%C3%A0+vous%0A"
                       "&MessageSid=SM0123&From=%2B33612345678&To=%2B18005551212"
                       "&AccountSid=AC123&NumSegments=1&ApiVersion=2010-04-01";
    pal_channel_events ev;
    pal_api_refusal ref;
    assert_int_equal(parse(body, &ev, &ref), PAL_OK);
    assert_int_equal(ev.n, 1);
    pal_channel_event *e = &ev.items[0];
    assert_int_equal(e->kind, PAL_CHANNEL_MESSAGE);
    assert_string_equal(e->text, "Bonjour à vous");
    assert_string_equal(e->dedup_key, "SM0123");
    assert_string_equal(e->channel_message_id, "SM0123");
    assert_string_equal(e->external_user, "+33612345678");
    json_t *a = json_loads(e->address, 0, NULL);
    assert_non_null(a);
    assert_string_equal(json_string_value(json_object_get(a, "to")), "+33612345678");
    assert_string_equal(json_string_value(json_object_get(a, "from")), "+18005551212");
    json_decref(a);
    pal_channel_events_clear(&ev);

    assert_string_equal(pal_channel_twilio.name, "twilio");
    assert_null(pal_channel_twilio.handshake);
    assert_string_equal(pal_channel_twilio.ack_content_type, "text/xml");
    assert_string_equal(pal_channel_twilio.ack_body,
                        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>");
}

static void media_only_skipped(void **state)
{
    (void)state;
    const char *bodies[] = {
        ("MessageSid=MM01&From=%2B33612345678&To=%2B18005551212&Body=&NumMedia=1&"
         "MediaUrl0=https%3A%2F%2Fapi.twilio.com%2Fmedia%2F1&MediaContentType0=image%2Fjpeg"),
        "MessageSid=MM01&From=%2B33612345678&To=%2B18005551212&NumMedia=1",
        "MessageSid=MM01&From=%2B33612345678&Body=+%20%0A",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        pal_channel_events ev;
        pal_api_refusal ref;
        assert_int_equal(parse(bodies[i], &ev, &ref), PAL_OK);
        assert_int_equal(ev.n, 0);
        pal_channel_events_clear(&ev);
    }
}

static void hostile_forms_refused(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        unsigned status;
        const char *code;
    } cases[] = {
        {"MessageSid=SM1&From=%2B336&Body=caf%E9", 400, "invalid_form"},
        {"MessageSid=SM1&From=%2B336&Body=%FF%FE", 400, "invalid_form"},
        {"MessageSid=SM1&From=%2B336&Body=a%00b", 400, "invalid_form"},
        {"MessageSid=SM1&From=%2B336&Body=a%2", 400, "invalid_form"},
        {"MessageSid=SM1&From=%2B336&Body=a%zz", 400, "invalid_form"},
        {"MessageSid=SM1&From=%2B336&=x&Body=a", 400, "invalid_form"},
        {"MessageSid=SM1&From=%2B336&From=%2B337&Body=hi", 400, "invalid_form"},
        {"From=%2B336&Body=hi", 400, "invalid_payload"},
        {"MessageSid=SM1&Body=hi", 400, "invalid_payload"},
        {"MessageSid=SM+1&From=%2B336&Body=hi", 400, "invalid_payload"},
        {"MessageSid=SM1&From=%2B336&Body=hi&AccountSid=AC999", 400, "unknown_account"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pal_channel_events ev;
        pal_api_refusal ref;
        if (parse(cases[i].body, &ev, &ref) != PAL_ERR_PARSE)
            fail_msg("accepted: %s", cases[i].body);
        assert_int_equal(ref.status, cases[i].status);
        assert_string_equal(ref.code, cases[i].code);
        assert_int_equal(ev.n, 0);
    }

    /* 65 parameters; then a Body of 1601 characters. */
    char body[20000];
    size_t used = (size_t)snprintf(body, sizeof(body), "MessageSid=SM1&From=%%2B336&Body=hi");
    for (int i = 0; i < 62; i++)
        used += (size_t)snprintf(body + used, sizeof(body) - used, "&P%d=x", i);
    pal_channel_events ev;
    pal_api_refusal ref;
    assert_int_equal(parse(body, &ev, &ref), PAL_ERR_PARSE);
    assert_int_equal(ref.status, 413);

    used = (size_t)snprintf(body, sizeof(body), "MessageSid=SM1&From=%%2B336&Body=");
    for (int i = 0; i < 1600; i++)
        used += (size_t)snprintf(body + used, sizeof(body) - used, "%%C3%%A9");
    assert_int_equal(parse(body, &ev, &ref), PAL_OK); /* 1600 characters, 3200 bytes */
    assert_int_equal(ev.n, 1);
    assert_int_equal(strlen(ev.items[0].text), 3200);
    pal_channel_events_clear(&ev);
    snprintf(body + used, sizeof(body) - used, "x");
    assert_int_equal(parse(body, &ev, &ref), PAL_ERR_PARSE);
    assert_int_equal(ref.status, 400);
}

/* --- a fake Twilio API ------------------------------------------------------------- */

static void send_item(fake_http *s, const char *address, const char *text, const char *quick,
                      pal_send_result *result)
{
    set_setting("api_base", s->base);
    pal_delivery_item *item = pal_delivery_item_new(1, 2, 0, "twilio", "+33612345678", address,
                                                    text, quick, "palabre-1", 0, 0, 0, NULL);
    fake_send(&pal_channel_twilio, base_settings, item, result);
}

static void send_sms(void **state)
{
    (void)state;
    fake_http s;
    fake_http_reply r[] = {
        {201, "", "{\"sid\":\"SM999\",\"status\":\"queued\",\"to\":\"+33612345678\"}"}};
    fake_http_start(&s, r, 1);
    pal_send_result result;
    send_item(&s, "{\"to\":\"+33600000000\",\"from\":\"+18005551212\"}", "Bonjour à vous ?",
              "[\"Oui\",\"Non\"]", &result);
    fake_http_stop(&s);
    assert_int_equal(result.outcome, PAL_SEND_OK);
    assert_string_equal(result.platform_id, "SM999");
    assert_int_equal(s.n, 1);
    fake_http_call *c = &s.calls[0];
    char value[256], expected[64];
    assert_string_equal(c->method, "POST");
    assert_string_equal(c->path, "/2010-04-01/Accounts/AC123/Messages.json");
    fake_http_header(c, "Authorization", value, sizeof(value));
    memcpy(expected, "Basic ", 7);
    assert_true(pal_base64((const unsigned char *)"AC123:authsecret", 16, expected + 6, 50));
    assert_string_equal(value, expected);
    fake_http_header(c, "Content-Type", value, sizeof(value));
    assert_string_equal(value, "application/x-www-form-urlencoded");
    assert_string_equal(c->body, "To=%2B33600000000&From=%2B18005551212&"
                                 "Body=Bonjour%20%C3%A0%20vous%20%3F%0AOui%20%2F%20Non");
    fake_http_free(&s);
}

static void send_with_service_and_no_address(void **state)
{
    (void)state;
    set_setting("from", NULL);
    set_setting("messaging_service_sid", "MG42");
    fake_http s;
    fake_http_reply r[] = {{201, "", "{\"sid\":\"SM1000\"}"}};
    fake_http_start(&s, r, 1);
    pal_send_result result;
    send_item(&s, NULL, "Bonjour", NULL, &result);
    fake_http_stop(&s);
    assert_int_equal(result.outcome, PAL_SEND_OK);
    assert_string_equal(s.calls[0].body, "To=%2B33612345678&MessagingServiceSid=MG42&Body=Bonjour");

    /* Neither a number nor a service: refused without a request. */
    set_setting("messaging_service_sid", NULL);
    send_item(&s, NULL, "Bonjour", NULL, &result);
    assert_int_equal(result.outcome, PAL_SEND_PERMANENT);
    assert_string_equal(result.error, "no from number");
    fake_http_free(&s);
}

static void send_opted_out(void **state)
{
    (void)state;
    fake_http s;
    fake_http_reply r[] = {
        {400, "",
         "{\"code\":21610,\"message\":\"Attempt to send to unsubscribed recipient\","
         "\"more_info\":\"https://www.twilio.com/docs/errors/21610\",\"status\":400}"}};
    fake_http_start(&s, r, 1);
    pal_send_result result;
    send_item(&s, NULL, "Bonjour", NULL, &result);
    fake_http_stop(&s);
    assert_int_equal(result.outcome, PAL_SEND_PERMANENT);
    assert_string_equal(result.error, "21610 Attempt to send to unsubscribed recipient");
    fake_http_free(&s);
}

static void send_retried(void **state)
{
    (void)state;
    fake_http s;
    fake_http_reply r[] = {{429, "Retry-After: 3\r\n",
                            "{\"code\":20429,\"message\":\"Too Many Requests\",\"status\":429}"}};
    fake_http_start(&s, r, 1);
    pal_send_result result;
    send_item(&s, NULL, "Bonjour", NULL, &result);
    fake_http_stop(&s);
    assert_int_equal(result.outcome, PAL_SEND_RETRY);
    assert_int_equal(result.retry_after_ms, 3000);
    assert_string_equal(result.error, "20429 Too Many Requests");

    fake_http_reply r2[] = {{500, "", ""}};
    fake_http_free(&s);
    fake_http_start(&s, r2, 1);
    send_item(&s, NULL, "Bonjour", NULL, &result);
    fake_http_stop(&s);
    assert_int_equal(result.outcome, PAL_SEND_RETRY);
    assert_int_equal(result.retry_after_ms, 0);
    assert_null(strstr(result.error, "authsecret"));

    /* Nobody listening. */
    fake_http_free(&s);
    fake_http_start(&s, NULL, 0);
    fake_http_stop(&s);
    send_item(&s, NULL, "Bonjour", NULL, &result);
    assert_int_equal(result.outcome, PAL_SEND_RETRY);
    assert_null(strstr(result.error, "authsecret"));
    assert_null(strstr(result.error, "127.0.0.1"));
    fake_http_free(&s);
}

static void send_split(void **state)
{
    (void)state;
    /* 400 words of 4 letters: 1999 characters, two SMS. */
    char text[4096];
    size_t used = 0;
    for (int i = 0; i < 400; i++)
        used += (size_t)snprintf(text + used, sizeof(text) - used, "%sabcd", i ? " " : "");
    fake_http s;
    fake_http_reply r[] = {{201, "", "{\"sid\":\"SM1\"}"}, {201, "", "{\"sid\":\"SM2\"}"}};
    fake_http_start(&s, r, 2);
    pal_send_result result;
    send_item(&s, NULL, text, NULL, &result);
    fake_http_stop(&s);
    assert_int_equal(result.outcome, PAL_SEND_OK);
    assert_string_equal(result.platform_id, "SM2");
    assert_int_equal(s.n, 2);
    /* 320 words and 319 spaces (1599 characters) in the first. */
    const char *b1 = strstr(s.calls[0].body, "&Body=") + 6;
    const char *b2 = strstr(s.calls[1].body, "&Body=") + 6;
    assert_int_equal(strlen(b1), 320 * 4 + 319 * 3);
    assert_int_equal(strlen(b2), 80 * 4 + 79 * 3);
    assert_memory_equal(b2, "abcd%20abcd", 11);
    fake_http_free(&s);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(signature_vector, setup),
        cmocka_unit_test_setup(signature_decodes_and_sorts, setup),
        cmocka_unit_test_setup(inbound_sms, setup),
        cmocka_unit_test_setup(media_only_skipped, setup),
        cmocka_unit_test_setup(hostile_forms_refused, setup),
        cmocka_unit_test_setup(send_sms, setup),
        cmocka_unit_test_setup(send_with_service_and_no_address, setup),
        cmocka_unit_test_setup(send_opted_out, setup),
        cmocka_unit_test_setup(send_retried, setup),
        cmocka_unit_test_setup(send_split, setup),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
