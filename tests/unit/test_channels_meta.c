/*
 * test_channels_meta.c — Meta's two channels, Messenger and WhatsApp
 * (channels/messenger.c, whatsapp.c, meta.c; CHANNELS.md §1-2): the
 * signature (with CHANNELS.md's test vector), the hub.challenge handshake,
 * parsing realistic and malformed webhook bodies, and what the senders put
 * on the wire, checked against a fake Graph API: a thread on 127.0.0.1
 * that answers each request with a canned response and keeps what it got.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include <cmocka.h>

#include "channels/channel.h"
#include "fake_http.h"

/* ---- test doubles: settings, requests, and a one-connection-per-request
 * HTTP server standing in for the platform ---- */

static pal_channel_request post_of(const char *body, const fake_request *fr)
{
    return fake_request_make("POST", "https://example.org/webhook", body, fr);
}

static pal_delivery_item *item_of(const char *user, const char *address, const char *text,
                                  const char *quick_replies)
{
    return pal_delivery_item_new(1, 1, 0, "test", user, address, text, quick_replies, "k-1", 0, 0,
                                 0, NULL);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *at_address(int64_t ms)
{
    static char buf[64];
    snprintf(buf, sizeof(buf), "{\"at\":%lld}", (long long)ms);
    return buf;
}

/* n labels "Choix 1".."Choix n" as a JSON array (static buffer). */
static const char *labels_json(int n)
{
    static char buf[1024];
    size_t at = 0;
    buf[at++] = '[';
    for (int i = 1; i <= n; i++)
        at += (size_t)snprintf(buf + at, sizeof(buf) - at, "%s\"Choix %d\"", i > 1 ? "," : "", i);
    snprintf(buf + at, sizeof(buf) - at, "]");
    return buf;
}

/* ---- Messenger: signature and handshake ---- */

static const fake_kv messenger_settings[] = {{"app_secret", "appsecret"},
                                             {"verify_token", "s3cret-verify"},
                                             {"page_token", "tok en/+"},
                                             {NULL, NULL}};

#define VECTOR_BODY "{\"object\":\"page\",\"entry\":[]}"
#define VECTOR_SIG "sha256=0e9e0080a310f376450c46d999aa4d49ed772bfe43c13205f38a3a6e6611ed2b"

static bool verify_with(const pal_channel *channel, const fake_kv *pairs, const char *body,
                        const char *signature)
{
    fake_kv headers[] = {{"X-Hub-Signature-256", signature}, {NULL, NULL}};
    fake_request fr = {.headers = signature ? headers : NULL};
    pal_channel_settings s = fake_settings(pairs);
    pal_channel_request r = post_of(body, &fr);
    return channel->verify(&s, &r);
}

static void test_signature_vector(void **state)
{
    (void)state;
    assert_true(verify_with(&pal_channel_messenger, messenger_settings, VECTOR_BODY, VECTOR_SIG));
    /* WhatsApp signs the same way. */
    assert_true(verify_with(&pal_channel_whatsapp, messenger_settings, VECTOR_BODY, VECTOR_SIG));
}

static void test_signature_refused(void **state)
{
    (void)state;
    char sig[sizeof(VECTOR_SIG)];
    const pal_channel *m = &pal_channel_messenger;

    /* one digit changed */
    memcpy(sig, VECTOR_SIG, sizeof(sig));
    sig[sizeof(sig) - 2] = sig[sizeof(sig) - 2] == 'b' ? 'c' : 'b';
    assert_false(verify_with(m, messenger_settings, VECTOR_BODY, sig));
    /* upper-case hex is not what Meta sends */
    memcpy(sig, VECTOR_SIG, sizeof(sig));
    for (char *p = sig + 7; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    assert_false(verify_with(m, messenger_settings, VECTOR_BODY, sig));
    /* missing, empty, without prefix, truncated, extended, legacy sha1 */
    assert_false(verify_with(m, messenger_settings, VECTOR_BODY, NULL));
    assert_false(verify_with(m, messenger_settings, VECTOR_BODY, ""));
    assert_false(verify_with(m, messenger_settings, VECTOR_BODY, &VECTOR_SIG[7]));
    memcpy(sig, VECTOR_SIG, sizeof(sig));
    sig[sizeof(sig) - 2] = '\0';
    assert_false(verify_with(m, messenger_settings, VECTOR_BODY, sig));
    assert_false(verify_with(m, messenger_settings, VECTOR_BODY, VECTOR_SIG "0"));
    assert_false(verify_with(m, messenger_settings, VECTOR_BODY,
                             "sha1=0e9e0080a310f376450c46d999aa4d49ed772bfe"));
    /* another body, or another secret */
    assert_false(
        verify_with(m, messenger_settings, "{\"object\":\"page\",\"entry\":[] }", VECTOR_SIG));
    fake_kv other[] = {{"app_secret", "appsecreT"}, {NULL, NULL}};
    assert_false(verify_with(m, other, VECTOR_BODY, VECTOR_SIG));
    fake_kv none[] = {{NULL, NULL}};
    assert_false(verify_with(m, none, VECTOR_BODY, VECTOR_SIG));
}

static pal_channel_answer handshake_with(const pal_channel *channel, const char *mode,
                                         const char *token, const char *challenge)
{
    fake_kv query[] = {{"hub.mode", mode},
                       {"hub.verify_token", token},
                       {"hub.challenge", challenge},
                       {NULL, NULL}};
    /* a NULL value ends the list early: put the present ones first */
    fake_kv packed[4] = {{NULL, NULL}, {NULL, NULL}, {NULL, NULL}, {NULL, NULL}};
    size_t n = 0;
    for (size_t i = 0; i < 3; i++)
        if (query[i].value)
            packed[n++] = query[i];
    fake_request fr = {.query = packed};
    pal_channel_request r = fake_request_make("GET", "https://example.org/webhook", "", &fr);
    pal_channel_settings s = fake_settings(messenger_settings);
    pal_channel_answer answer = {0};
    channel->handshake(&s, &r, &answer);
    return answer;
}

static void test_handshake(void **state)
{
    (void)state;
    pal_channel_answer a =
        handshake_with(&pal_channel_messenger, "subscribe", "s3cret-verify", "1158201444");
    assert_int_equal(a.status, 200);
    assert_string_equal(a.content_type, "text/plain");
    assert_string_equal(a.body, "1158201444");
    free(a.body);

    a = handshake_with(&pal_channel_whatsapp, "subscribe", "s3cret-verify", "abc-XYZ_09");
    assert_int_equal(a.status, 200);
    assert_string_equal(a.body, "abc-XYZ_09");
    free(a.body);

    const struct {
        const char *mode, *token, *challenge;
        unsigned status;
    } refused[] = {
        {"subscribe", "wrong", "1", 403},
        {"subscribe", "s3cret-verif", "1", 403},
        {"subscribe", NULL, "1", 403},
        {"unsubscribe", "s3cret-verify", "1", 403},
        {NULL, "s3cret-verify", "1", 403},
        {"subscribe", "s3cret-verify", NULL, 400},
        {"subscribe", "s3cret-verify", "<script>\n", 400},
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        a = handshake_with(&pal_channel_messenger, refused[i].mode, refused[i].token,
                           refused[i].challenge);
        assert_int_equal(a.status, refused[i].status);
        assert_null(a.body);
    }
    char longer[300];
    memset(longer, '7', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    a = handshake_with(&pal_channel_messenger, "subscribe", "s3cret-verify", longer);
    assert_int_equal(a.status, 400);
    longer[256] = '\0';
    a = handshake_with(&pal_channel_messenger, "subscribe", "s3cret-verify", longer);
    assert_int_equal(a.status, 200);
    assert_int_equal(strlen(a.body), 256);
    free(a.body);
}

/* ---- parsing ---- */

static pal_err parse_with(const pal_channel *channel, const char *body, pal_channel_events *events,
                          pal_api_refusal *refusal)
{
    fake_request fr = {0};
    pal_channel_settings s = fake_settings(messenger_settings);
    pal_channel_request r = post_of(body, &fr);
    memset(events, 0, sizeof(*events));
    memset(refusal, 0, sizeof(*refusal));
    return channel->parse(&s, &r, events, refusal);
}

static void test_messenger_parse(void **state)
{
    (void)state;
    char long_text[4200];
    memset(long_text, 'a', sizeof(long_text) - 1);
    long_text[sizeof(long_text) - 1] = '\0';
    char *body = NULL;
    int n = asprintf(
        &body,
        "{\"object\":\"page\",\"entry\":["
        "{\"id\":\"106\",\"time\":1700000000500,\"messaging\":["
        /* a text */
        "{\"sender\":{\"id\":\"7001\"},\"recipient\":{\"id\":\"106\"},\"timestamp\":1700000000123,"
        "\"message\":{\"mid\":\"m_1\",\"text\":\"Bonjour, o\\u00f9 est ma commande ?\"}},"
        /* our own message coming back */
        "{\"sender\":{\"id\":\"106\"},\"recipient\":{\"id\":\"7001\"},\"timestamp\":1700000000124,"
        "\"message\":{\"mid\":\"m_echo\",\"is_echo\":true,\"app_id\":1517,\"text\":\"Salut\"}},"
        /* a quick reply: its payload, not its title */
        "{\"sender\":{\"id\":\"7001\"},\"recipient\":{\"id\":\"106\"},\"timestamp\":1700000000200,"
        "\"message\":{\"mid\":\"m_2\",\"text\":\"Oui !\",\"quick_reply\":{\"payload\":\"OUI\"}}},"
        /* an image only */
        "{\"sender\":{\"id\":\"7001\"},\"recipient\":{\"id\":\"106\"},\"timestamp\":1700000000201,"
        "\"message\":{\"mid\":\"m_3\",\"attachments\":[{\"type\":\"image\"}]}},"
        /* a NUL in the text, and a text too long */
        "{\"sender\":{\"id\":\"7001\"},\"timestamp\":1700000000202,"
        "\"message\":{\"mid\":\"m_4\",\"text\":\"a\\u0000b\"}},"
        "{\"sender\":{\"id\":\"7001\"},\"timestamp\":1700000000203,"
        "\"message\":{\"mid\":\"m_5\",\"text\":\"%s\"}},"
        /* a delivery notice, a read notice */
        "{\"sender\":{\"id\":\"7001\"},\"recipient\":{\"id\":\"106\"},\"timestamp\":1700000000300,"
        "\"delivery\":{\"mids\":[\"m_out1\",\"m_out2\"],\"watermark\":1700000000000}},"
        "{\"sender\":{\"id\":\"7001\"},\"recipient\":{\"id\":\"106\"},\"timestamp\":1700000000400,"
        "\"read\":{\"watermark\":1700000000000}}]},"
        /* a second entry: postbacks with and without payload */
        "{\"id\":\"106\",\"time\":1700000001000,\"messaging\":["
        "{\"sender\":{\"id\":\"7002\"},\"recipient\":{\"id\":\"106\"},\"timestamp\":1700000000900,"
        "\"postback\":{\"mid\":\"m_pb1\",\"title\":\"Commencer\",\"payload\":\"GET_STARTED\"}},"
        "{\"sender\":{\"id\":\"7002\"},\"recipient\":{\"id\":\"106\"},\"timestamp\":1700000000901,"
        "\"postback\":{\"mid\":\"m_pb2\",\"title\":\"Aide\"}}]}]}",
        long_text);
    assert_true(n > 0);
    pal_channel_events ev;
    pal_api_refusal refusal;
    assert_int_equal(parse_with(&pal_channel_messenger, body, &ev, &refusal), PAL_OK);
    free(body);
    assert_int_equal(ev.n, 6);
    assert_null(ev.answer_body);

    pal_channel_event *e = &ev.items[0];
    assert_int_equal(e->kind, PAL_CHANNEL_MESSAGE);
    assert_string_equal(e->dedup_key, "m_1");
    assert_string_equal(e->channel_message_id, "m_1");
    assert_string_equal(e->external_user, "7001");
    assert_string_equal(e->text, "Bonjour, o\xc3\xb9 est ma commande ?");
    assert_int_equal(e->sent_at_ms, 1700000000123);
    assert_string_equal(e->address, "{\"at\":1700000000123}");

    e = &ev.items[1];
    assert_string_equal(e->dedup_key, "m_2");
    assert_string_equal(e->text, "OUI");

    e = &ev.items[2];
    assert_int_equal(e->kind, PAL_CHANNEL_RECEIPT);
    assert_string_equal(e->dedup_key, "m_out1:delivered");
    assert_string_equal(e->platform_id, "m_out1");
    assert_string_equal(e->status, "delivered");
    assert_string_equal(ev.items[3].platform_id, "m_out2");

    e = &ev.items[4];
    assert_int_equal(e->kind, PAL_CHANNEL_MESSAGE);
    assert_string_equal(e->dedup_key, "m_pb1");
    assert_string_equal(e->external_user, "7002");
    assert_string_equal(e->text, "GET_STARTED");
    assert_string_equal(ev.items[5].text, "Aide");
    pal_channel_events_clear(&ev);

    /* CHANNELS.md's vector body: valid, nothing in it */
    assert_int_equal(parse_with(&pal_channel_messenger, VECTOR_BODY, &ev, &refusal), PAL_OK);
    assert_int_equal(ev.n, 0);
    pal_channel_events_clear(&ev);
}

static void expect_refused(const pal_channel *channel, const char *body, const char *code)
{
    pal_channel_events ev;
    pal_api_refusal refusal;
    assert_int_equal(parse_with(channel, body, &ev, &refusal), PAL_ERR_PARSE);
    assert_int_equal(refusal.status, 400);
    assert_string_equal(refusal.code, code);
    assert_int_equal(ev.n, 0);
    assert_null(ev.items);
}

static void test_malformed(void **state)
{
    (void)state;
    const pal_channel *m = &pal_channel_messenger, *w = &pal_channel_whatsapp;
    expect_refused(m, "", "invalid_json");
    expect_refused(m, "not json", "invalid_json");
    expect_refused(m, "[{\"object\":\"page\"}]", "invalid_json");
    expect_refused(m, "{\"object\":\"page\",\"object\":\"page\",\"entry\":[]}", "invalid_json");
    expect_refused(m, "{\"object\":\"page\",\"entry\":[\xff]}", "invalid_utf8");
    expect_refused(m, "{\"object\":\"user\",\"entry\":[]}", "invalid_payload");
    expect_refused(m, "{\"object\":\"page\",\"entry\":{}}", "invalid_payload");
    expect_refused(m, "{\"object\":\"whatsapp_business_account\",\"entry\":[]}", "invalid_payload");
    expect_refused(w, VECTOR_BODY, "invalid_payload");
    expect_refused(w, "{\"object\":\"whatsapp_business_account\"}", "invalid_payload");

    /* junk inside a well-formed envelope is skipped, not refused */
    pal_channel_events ev;
    pal_api_refusal refusal;
    assert_int_equal(
        parse_with(m,
                   "{\"object\":\"page\",\"entry\":[1,{\"messaging\":[null,{},"
                   "{\"sender\":{\"id\":7},\"message\":{\"mid\":\"x\",\"text\":\"t\"}},"
                   "{\"sender\":{\"id\":\"7\"},\"message\":{\"mid\":\"\",\"text\":\"t\"}},"
                   "{\"sender\":{\"id\":\"7\"},\"message\":{\"mid\":\"x\",\"text\":5}},"
                   "{\"sender\":{\"id\":\"7\"},\"delivery\":{\"mids\":[3,\"\"]}}]}]}",
                   &ev, &refusal),
        PAL_OK);
    assert_int_equal(ev.n, 0);
    pal_channel_events_clear(&ev);
}

static void test_whatsapp_parse(void **state)
{
    (void)state;
    const char *body =
        "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":\"WABA\",\"changes\":["
        "{\"field\":\"messages\",\"value\":{\"messaging_product\":\"whatsapp\","
        "\"metadata\":{\"display_phone_number\":\"33612345678\",\"phone_number_id\":\"PN1\"},"
        "\"contacts\":[{\"profile\":{\"name\":\"Camille\"},\"wa_id\":\"33698765432\"}],"
        "\"messages\":["
        "{\"from\":\"33698765432\",\"id\":\"wamid.T1\",\"timestamp\":\"1700000000\","
        "\"type\":\"text\",\"text\":{\"body\":\"Bonjour\"}},"
        "{\"from\":\"33698765432\",\"id\":\"wamid.B1\",\"timestamp\":\"1700000005\","
        "\"type\":\"interactive\",\"interactive\":{\"type\":\"button_reply\","
        "\"button_reply\":{\"id\":\"Suivre ma commande\",\"title\":\"Suivre ma comma\"}}},"
        "{\"from\":\"33698765432\",\"id\":\"wamid.L1\",\"timestamp\":\"1700000006\","
        "\"type\":\"interactive\",\"interactive\":{\"type\":\"list_reply\","
        "\"list_reply\":{\"id\":\"Retour\",\"title\":\"Retour\",\"description\":\"\"}}},"
        "{\"from\":\"33698765432\",\"id\":\"wamid.P1\",\"timestamp\":\"1700000007\","
        "\"type\":\"button\",\"button\":{\"payload\":\"STOP\",\"text\":\"Stop promotions\"}},"
        "{\"from\":\"33698765432\",\"id\":\"wamid.I1\",\"timestamp\":\"1700000008\","
        "\"type\":\"image\",\"image\":{\"id\":\"m\",\"mime_type\":\"image/jpeg\"}}]}},"
        "{\"field\":\"account_update\",\"value\":{\"messages\":[{\"from\":\"1\",\"id\":\"x\","
        "\"type\":\"text\",\"text\":{\"body\":\"no\"}}]}}]},"
        "{\"id\":\"WABA\",\"changes\":[{\"field\":\"messages\",\"value\":{"
        "\"messaging_product\":\"whatsapp\",\"statuses\":["
        "{\"id\":\"wamid.O1\",\"status\":\"read\",\"timestamp\":\"1700000010\","
        "\"recipient_id\":\"33698765432\"},"
        "{\"id\":\"wamid.O2\",\"status\":\"failed\",\"timestamp\":\"1700000011\","
        "\"recipient_id\":\"33698765432\",\"errors\":[{\"code\":131047,"
        "\"title\":\"Re-engagement message\"}]},"
        "{\"id\":\"wamid.O3\",\"status\":\"deleted\"}]}}]}]}";
    pal_channel_events ev;
    pal_api_refusal refusal;
    assert_int_equal(parse_with(&pal_channel_whatsapp, body, &ev, &refusal), PAL_OK);
    assert_int_equal(ev.n, 6);

    pal_channel_event *e = &ev.items[0];
    assert_int_equal(e->kind, PAL_CHANNEL_MESSAGE);
    assert_string_equal(e->dedup_key, "wamid.T1");
    assert_string_equal(e->channel_message_id, "wamid.T1");
    assert_string_equal(e->external_user, "33698765432");
    assert_string_equal(e->text, "Bonjour");
    assert_int_equal(e->sent_at_ms, INT64_C(1700000000000));
    assert_string_equal(e->address, "{\"at\":1700000000000}");
    assert_string_equal(ev.items[1].text, "Suivre ma commande");
    assert_string_equal(ev.items[2].text, "Retour");
    assert_string_equal(ev.items[3].text, "STOP");

    e = &ev.items[4];
    assert_int_equal(e->kind, PAL_CHANNEL_RECEIPT);
    assert_string_equal(e->dedup_key, "wamid.O1:read");
    assert_string_equal(e->platform_id, "wamid.O1");
    assert_string_equal(e->status, "read");
    assert_null(e->error);
    e = &ev.items[5];
    assert_string_equal(e->dedup_key, "wamid.O2:failed");
    assert_string_equal(e->status, "failed");
    assert_string_equal(e->error, "131047 Re-engagement message");
    pal_channel_events_clear(&ev);
}

/* ---- Messenger sending ---- */

static fake_kv messenger_send_settings[] = {{"app_secret", "appsecret"},
                                            {"verify_token", "v"},
                                            {"page_token", "tok en/+"},
                                            {"api_base", NULL},
                                            {NULL, NULL}};

static void test_messenger_send(void **state)
{
    (void)state;
    fake_http fs;
    fake_http_reply ok = {200, NULL, "{\"recipient_id\":\"7001\",\"message_id\":\"m_OUT1\"}"};
    fake_http_start(&fs, &ok, 1);
    messenger_send_settings[3].value = fs.base;
    pal_send_result result;
    fake_send(&pal_channel_messenger, messenger_send_settings,
              item_of("7001", at_address(now_ms() - 60000), "Voulez-vous continuer ?",
                      "[\"Oui\",\"Non\",\"Parler \\u00e0 un conseiller humain\"]"),
              &result);
    fake_http_stop(&fs);
    assert_int_equal(result.outcome, PAL_SEND_OK);
    assert_string_equal(result.platform_id, "m_OUT1");
    assert_int_equal(fs.n, 1);
    assert_true(strncmp(fs.calls[0].head,
                        "POST /v25.0/me/messages?access_token=tok%20en%2F%2B HTTP/1.1", 60) == 0);
    assert_non_null(strcasestr(fs.calls[0].head, "\r\nContent-Type: application/json"));

    json_t *doc = fake_http_json(&fs, 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "recipient"), "id")),
                        "7001");
    assert_string_equal(json_string_value(json_object_get(doc, "messaging_type")), "RESPONSE");
    assert_null(json_object_get(doc, "tag"));
    json_t *message = json_object_get(doc, "message");
    assert_string_equal(json_string_value(json_object_get(message, "text")),
                        "Voulez-vous continuer ?");
    json_t *quick = json_object_get(message, "quick_replies");
    assert_int_equal(json_array_size(quick), 3);
    json_t *q0 = json_array_get(quick, 0), *q2 = json_array_get(quick, 2);
    assert_string_equal(json_string_value(json_object_get(q0, "content_type")), "text");
    assert_string_equal(json_string_value(json_object_get(q0, "title")), "Oui");
    assert_string_equal(json_string_value(json_object_get(q0, "payload")), "Oui");
    /* 20 characters, cut between characters (the à is two bytes) */
    assert_string_equal(json_string_value(json_object_get(q2, "title")),
                        "Parler \xc3\xa0 un conseill");
    assert_string_equal(json_string_value(json_object_get(q2, "payload")),
                        "Parler \xc3\xa0 un conseiller humain");
    json_decref(doc);
    fake_http_free(&fs);
}

static void test_messenger_window(void **state)
{
    (void)state;
    fake_http fs;
    fake_http_reply ok[] = {{200, NULL, "{\"recipient_id\":\"7001\",\"message_id\":\"m_A\"}"},
                            {200, NULL, "{\"recipient_id\":\"7001\",\"message_id\":\"m_B\"}"}};
    fake_http_start(&fs, ok, 2);
    messenger_send_settings[3].value = fs.base;
    pal_send_result result;
    /* within the day: a response */
    fake_send(&pal_channel_messenger, messenger_send_settings,
              item_of("7001", at_address(now_ms() - 23 * 3600 * 1000LL), "Bonjour", NULL), &result);
    assert_int_equal(result.outcome, PAL_SEND_OK);
    /* two days after: refused without calling (a bot may not use the HUMAN_AGENT tag) */
    fake_send(&pal_channel_messenger, messenger_send_settings,
              item_of("7001", at_address(now_ms() - 48 * 3600 * 1000LL), "Bonjour", NULL), &result);
    assert_int_equal(result.outcome, PAL_SEND_PERMANENT);
    assert_string_equal(result.error, "outside the 24-hour messaging window");
    /* no address: a plain response */
    fake_send(&pal_channel_messenger, messenger_send_settings, item_of("7001", NULL, "Re", NULL),
              &result);
    assert_int_equal(result.outcome, PAL_SEND_OK);
    assert_string_equal(result.platform_id, "m_B");
    fake_http_stop(&fs);
    assert_int_equal(fs.n, 2);
    json_t *doc = fake_http_json(&fs, 0);
    assert_string_equal(json_string_value(json_object_get(doc, "messaging_type")), "RESPONSE");
    assert_null(json_object_get(doc, "tag"));
    json_decref(doc);
    doc = fake_http_json(&fs, 1);
    assert_string_equal(json_string_value(json_object_get(doc, "messaging_type")), "RESPONSE");
    json_decref(doc);
    fake_http_free(&fs);
}

static void test_messenger_errors(void **state)
{
    (void)state;
    fake_http fs;
    fake_http_reply replies[] = {
        {400, NULL,
         "{\"error\":{\"message\":\"(#100) No matching user found\",\"type\":\"OAuthException\","
         "\"code\":100,\"error_subcode\":2018001,\"fbtrace_id\":\"A\"}}"},
        {400, NULL,
         "{\"error\":{\"message\":\"(#613) Calls to this api have exceeded\",\"code\":613}}"},
        {503, "Retry-After: 7\r\n", "<html>busy</html>"},
        {403, NULL, "{}"},
    };
    fake_http_start(&fs, replies, 4);
    messenger_send_settings[3].value = fs.base;
    pal_send_result r[4];
    for (size_t i = 0; i < 4; i++)
        fake_send(&pal_channel_messenger, messenger_send_settings,
                  item_of("7001", NULL, "Bonjour", NULL), &r[i]);
    fake_http_stop(&fs);
    assert_int_equal(fs.n, 4);
    assert_int_equal(r[0].outcome, PAL_SEND_PERMANENT);
    assert_string_equal(r[0].error, "100 (#100) No matching user found");
    assert_int_equal(r[1].outcome, PAL_SEND_RETRY);
    assert_string_equal(r[1].error, "613 (#613) Calls to this api have exceeded");
    assert_int_equal(r[2].outcome, PAL_SEND_RETRY);
    assert_int_equal(r[2].retry_after_ms, 7000);
    assert_int_equal(r[3].outcome, PAL_SEND_PERMANENT);
    assert_string_equal(r[3].error, "messenger answered HTTP 403");
    for (size_t i = 0; i < 4; i++)
        assert_null(strstr(r[i].error, "tok"));
    fake_http_free(&fs);

    /* nobody listening: retry later, and the token stays out of the error */
    fake_http_start(&fs, replies, 0);
    messenger_send_settings[3].value = fs.base;
    fake_http_stop(&fs);
    fake_send(&pal_channel_messenger, messenger_send_settings,
              item_of("7001", NULL, "Bonjour", NULL), &r[0]);
    assert_int_equal(r[0].outcome, PAL_SEND_RETRY);
    assert_true(strlen(r[0].error) > 0);
    assert_null(strstr(r[0].error, "tok"));
    assert_null(strstr(r[0].error, "127.0.0.1"));
}

static void test_messenger_long_text(void **state)
{
    (void)state;
    /* 2600 bytes of words: two messages, the quick replies with the second */
    char text[2601];
    for (size_t i = 0; i < 2600; i++)
        text[i] = i % 10 == 9 ? ' ' : (char)('a' + i % 10);
    text[2600] = '\0';
    fake_http fs;
    fake_http_reply ok[] = {{200, NULL, "{\"recipient_id\":\"7\",\"message_id\":\"m_P1\"}"},
                            {200, NULL, "{\"recipient_id\":\"7\",\"message_id\":\"m_P2\"}"}};
    fake_http_start(&fs, ok, 2);
    messenger_send_settings[3].value = fs.base;
    pal_send_result result;
    fake_send(&pal_channel_messenger, messenger_send_settings,
              item_of("7", NULL, text, "[\"Oui\"]"), &result);
    fake_http_stop(&fs);
    assert_int_equal(result.outcome, PAL_SEND_OK);
    assert_string_equal(result.platform_id, "m_P2");
    assert_int_equal(fs.n, 2);
    json_t *d0 = fake_http_json(&fs, 0), *d1 = fake_http_json(&fs, 1);
    json_t *m0 = json_object_get(d0, "message"), *m1 = json_object_get(d1, "message");
    const char *p0 = json_string_value(json_object_get(m0, "text"));
    const char *p1 = json_string_value(json_object_get(m1, "text"));
    assert_true(strlen(p0) <= 2000 && strlen(p0) > 1900);
    assert_int_equal(p0[strlen(p0) - 1], 'i'); /* cut at a space, not in a word */
    assert_null(json_object_get(m0, "quick_replies"));
    assert_int_equal(json_array_size(json_object_get(m1, "quick_replies")), 1);
    char joined[2700];
    snprintf(joined, sizeof(joined), "%s %s", p0, p1);
    assert_string_equal(joined, text);
    json_decref(d0);
    json_decref(d1);
    fake_http_free(&fs);

    /* more than 13 labels: listed in the text, no quick replies */
    fake_http_start(&fs, ok, 1);
    messenger_send_settings[3].value = fs.base;
    fake_send(&pal_channel_messenger, messenger_send_settings,
              item_of("7", NULL, "Choisissez :", labels_json(14)), &result);
    fake_http_stop(&fs);
    assert_int_equal(result.outcome, PAL_SEND_OK);
    d0 = fake_http_json(&fs, 0);
    m0 = json_object_get(d0, "message");
    assert_null(json_object_get(m0, "quick_replies"));
    assert_non_null(
        strstr(json_string_value(json_object_get(m0, "text")), "Choisissez :\nChoix 1\nChoix 2\n"));
    assert_non_null(strstr(json_string_value(json_object_get(m0, "text")), "\nChoix 14"));
    json_decref(d0);
    fake_http_free(&fs);
}

/* ---- WhatsApp sending ---- */

static fake_kv whatsapp_send_settings[] = {{"app_secret", "appsecret"},
                                           {"verify_token", "v"},
                                           {"access_token", "EAAGtoken"},
                                           {"phone_number_id", "PN1"},
                                           {"api_version", "v99.0"},
                                           {"api_base", NULL},
                                           {NULL, NULL}};

#define WA_OK                                                                                      \
    "{\"messaging_product\":\"whatsapp\",\"contacts\":[{\"input\":\"336\",\"wa_id\":\"336\"}],"    \
    "\"messages\":[{\"id\":\"wamid.OUT\"}]}"

static void test_whatsapp_send(void **state)
{
    (void)state;
    fake_http fs;
    fake_http_reply ok[] = {
        {200, NULL, WA_OK}, {200, NULL, WA_OK}, {200, NULL, WA_OK}, {200, NULL, WA_OK}};
    fake_http_start(&fs, ok, 4);
    whatsapp_send_settings[5].value = fs.base;
    pal_send_result r[4];
    const char *address = at_address(now_ms() - 3600 * 1000LL);
    fake_send(&pal_channel_whatsapp, whatsapp_send_settings,
              item_of("33698765432", address, "Bonjour", NULL), &r[0]);
    fake_send(
        &pal_channel_whatsapp, whatsapp_send_settings,
        item_of("33698765432", address, "Alors ?", "[\"Oui\",\"Suivre ma commande en ligne\"]"),
        &r[1]);
    fake_send(&pal_channel_whatsapp, whatsapp_send_settings,
              item_of("33698765432", address, "Lequel ?", labels_json(5)), &r[2]);
    fake_send(&pal_channel_whatsapp, whatsapp_send_settings,
              item_of("33698765432", address, "Lequel ?", labels_json(11)), &r[3]);
    fake_http_stop(&fs);
    assert_int_equal(fs.n, 4);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(r[i].outcome, PAL_SEND_OK);
        assert_string_equal(r[i].platform_id, "wamid.OUT");
        assert_true(strncmp(fs.calls[i].head, "POST /v99.0/PN1/messages HTTP/1.1", 33) == 0);
        assert_non_null(strcasestr(fs.calls[i].head, "\r\nAuthorization: Bearer EAAGtoken"));
    }

    json_t *doc = fake_http_json(&fs, 0);
    assert_string_equal(json_string_value(json_object_get(doc, "messaging_product")), "whatsapp");
    assert_string_equal(json_string_value(json_object_get(doc, "recipient_type")), "individual");
    assert_string_equal(json_string_value(json_object_get(doc, "to")), "33698765432");
    assert_string_equal(json_string_value(json_object_get(doc, "type")), "text");
    json_t *t = json_object_get(doc, "text");
    assert_string_equal(json_string_value(json_object_get(t, "body")), "Bonjour");
    assert_true(json_is_false(json_object_get(t, "preview_url")));
    json_decref(doc);

    doc = fake_http_json(&fs, 1);
    assert_string_equal(json_string_value(json_object_get(doc, "type")), "interactive");
    json_t *in = json_object_get(doc, "interactive");
    assert_string_equal(json_string_value(json_object_get(in, "type")), "button");
    assert_string_equal(json_string_value(json_object_get(json_object_get(in, "body"), "text")),
                        "Alors ?");
    json_t *buttons = json_object_get(json_object_get(in, "action"), "buttons");
    assert_int_equal(json_array_size(buttons), 2);
    json_t *b1 = json_array_get(buttons, 1);
    assert_string_equal(json_string_value(json_object_get(b1, "type")), "reply");
    json_t *reply = json_object_get(b1, "reply");
    assert_string_equal(json_string_value(json_object_get(reply, "id")),
                        "Suivre ma commande en ligne");
    assert_string_equal(json_string_value(json_object_get(reply, "title")), "Suivre ma commande e");
    json_decref(doc);

    doc = fake_http_json(&fs, 2);
    in = json_object_get(doc, "interactive");
    assert_string_equal(json_string_value(json_object_get(in, "type")), "list");
    json_t *action = json_object_get(in, "action");
    assert_string_equal(json_string_value(json_object_get(action, "button")), "Options");
    json_t *rows = json_object_get(json_array_get(json_object_get(action, "sections"), 0), "rows");
    assert_int_equal(json_array_size(rows), 5);
    assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 4), "id")),
                        "Choix 5");
    assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 4), "title")),
                        "Choix 5");
    json_decref(doc);

    doc = fake_http_json(&fs, 3);
    assert_string_equal(json_string_value(json_object_get(doc, "type")), "text");
    const char *body = json_string_value(json_object_get(json_object_get(doc, "text"), "body"));
    assert_non_null(strstr(body, "Lequel ?\nChoix 1\n"));
    assert_non_null(strstr(body, "\nChoix 11"));
    json_decref(doc);
    fake_http_free(&fs);
}

static void test_whatsapp_errors(void **state)
{
    (void)state;
    fake_http fs;
    fake_http_reply replies[] = {
        {400, NULL,
         "{\"error\":{\"message\":\"Re-engagement message\",\"type\":\"OAuthException\","
         "\"code\":131047,\"error_data\":{\"messaging_product\":\"whatsapp\"}}}"},
        {400, NULL, "{\"error\":{\"message\":\"Throughput reached\",\"code\":80006}}"},
        {429, NULL, "{\"error\":{\"message\":\"Rate limit hit\",\"code\":130429}}"},
    };
    fake_http_start(&fs, replies, 3);
    whatsapp_send_settings[5].value = fs.base;
    pal_send_result r[3];
    for (size_t i = 0; i < 3; i++)
        fake_send(&pal_channel_whatsapp, whatsapp_send_settings,
                  item_of("336", NULL, "Bonjour", NULL), &r[i]);
    /* 25 hours after the customer's message: refused without calling */
    pal_send_result late;
    fake_send(&pal_channel_whatsapp, whatsapp_send_settings,
              item_of("336", at_address(now_ms() - 25 * 3600 * 1000LL), "Bonjour", NULL), &late);
    fake_http_stop(&fs);
    assert_int_equal(fs.n, 3);
    assert_int_equal(r[0].outcome, PAL_SEND_PERMANENT);
    assert_string_equal(r[0].error, "131047 Re-engagement message");
    assert_int_equal(r[1].outcome, PAL_SEND_RETRY);
    assert_int_equal(r[2].outcome, PAL_SEND_RETRY);
    assert_int_equal(late.outcome, PAL_SEND_PERMANENT);
    assert_string_equal(late.error, "outside the 24-hour window (131047)");
    fake_http_free(&fs);
}

static void test_whatsapp_long_label(void **state)
{
    (void)state;
    /* a label too long to be a button's id goes into the text */
    char x[202], labels[400];
    memset(x, 'x', sizeof(x) - 1);
    x[sizeof(x) - 1] = '\0';
    snprintf(labels, sizeof(labels), "[\"Oui\",\"%s\"]", x);
    fake_http fs;
    fake_http_reply ok = {200, NULL, WA_OK};
    fake_http_start(&fs, &ok, 1);
    whatsapp_send_settings[5].value = fs.base;
    pal_send_result result;
    fake_send(&pal_channel_whatsapp, whatsapp_send_settings,
              item_of("336", NULL, "Alors ?", labels), &result);
    fake_http_stop(&fs);
    assert_int_equal(result.outcome, PAL_SEND_OK);
    json_t *doc = fake_http_json(&fs, 0);
    assert_string_equal(json_string_value(json_object_get(doc, "type")), "text");
    const char *body = json_string_value(json_object_get(json_object_get(doc, "text"), "body"));
    assert_true(strncmp(body, "Alors ?\nOui\nxxxx", 16) == 0);
    json_decref(doc);
    fake_http_free(&fs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signature_vector),    cmocka_unit_test(test_signature_refused),
        cmocka_unit_test(test_handshake),           cmocka_unit_test(test_messenger_parse),
        cmocka_unit_test(test_malformed),           cmocka_unit_test(test_whatsapp_parse),
        cmocka_unit_test(test_messenger_send),      cmocka_unit_test(test_messenger_window),
        cmocka_unit_test(test_messenger_errors),    cmocka_unit_test(test_messenger_long_text),
        cmocka_unit_test(test_whatsapp_send),       cmocka_unit_test(test_whatsapp_errors),
        cmocka_unit_test(test_whatsapp_long_label),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
