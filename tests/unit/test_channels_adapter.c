/*
 * test_channels_adapter.c — what the platform adapters share
 * (channels/adapter.c): the webhook body checks, ids and texts, the
 * {"at": ms} address, labels appended to a reply, splitting long replies
 * (bytes, code points, UTF-16 units) and cutting button titles, and the
 * mapping of an HTTP status. The POST itself is exercised against a fake
 * API by each adapter's tests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "channels/adapter.h"

static void load_json_refusals(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        size_t len;
        const char *code;
    } bad[] = {
        {"caf\xc3", 4, "invalid_utf8"},
        {"{\"a\":1}\0", 8, "invalid_utf8"},
        {"not json", 8, "invalid_json"},
        {"[1,2]", 5, "invalid_json"},
        {"{\"a\":1,\"a\":2}", 13, "invalid_json"},
    };
    json_t *root = NULL;
    pal_api_refusal refusal = {0};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(pal_channels__load_json(bad[i].body, bad[i].len, 0, &root, &refusal),
                         PAL_ERR_PARSE);
        assert_null(root);
        assert_int_equal(refusal.status, 400);
        assert_string_equal(refusal.code, bad[i].code);
    }
    assert_int_equal(pal_channels__load_json("{\"a\":1}", 7, 0, &root, &refusal), PAL_OK);
    assert_int_equal(json_integer_value(json_object_get(root, "a")), 1);
    json_decref(root);
}

static void webhook_nul_costs_one_item(void **state)
{
    (void)state;
    /* A \u0000 in one text: the body loads, that text is unusable. */
    static const char body[] = "{\"t\":\"a\\u0000b\",\"u\":\"ok\"}";
    pal_channel_request request = {.method = "POST", .body = body, .body_len = strlen(body)};
    json_t *root = NULL;
    pal_api_refusal refusal = {0};
    assert_int_equal(pal_channels__load(&request, &root, &refusal), PAL_OK);
    assert_null(pal_channels__text(json_object_get(root, "t")));
    assert_null(pal_channels__id(json_object_get(root, "t")));
    assert_string_equal(pal_channels__text(json_object_get(root, "u")), "ok");
    assert_string_equal(pal_channels__id(json_object_get(root, "u")), "ok");
    json_decref(root);
}

static void ids_and_texts(void **state)
{
    (void)state;
    assert_true(pal_channels__plain("abc", 3, 3));
    assert_false(pal_channels__plain("abcd", 4, 3));
    assert_false(pal_channels__plain("", 0, 3));
    assert_false(pal_channels__plain("a\tb", 3, 8));
    assert_false(pal_channels__plain("a\x7f", 2, 8));

    char long_text[PAL_CHANNELS_TEXT_MAX + 2];
    memset(long_text, 'a', sizeof(long_text) - 1);
    long_text[sizeof(long_text) - 1] = '\0';
    json_t *v = json_string(long_text);
    assert_null(pal_channels__text(v)); /* one byte too long */
    json_decref(v);
    long_text[PAL_CHANNELS_TEXT_MAX] = '\0';
    v = json_string(long_text);
    assert_non_null(pal_channels__text(v));
    assert_null(pal_channels__id(v)); /* longer than an id may be */
    json_decref(v);
    v = json_integer(7);
    assert_null(pal_channels__text(v));
    assert_int_equal(pal_channels__int(v, -1), 7);
    json_decref(v);
    assert_int_equal(pal_channels__int(NULL, -1), -1);
}

static void paths(void **state)
{
    (void)state;
    json_t *doc = json_loads("{\"error\":{\"code\":4,\"message\":\"x\"}}", 0, NULL);
    assert_int_equal(json_integer_value(pal_channels__path(doc, "error.code")), 4);
    assert_null(pal_channels__path(doc, "error.nope"));
    assert_null(pal_channels__path(doc, "error.code.deeper"));
    assert_null(pal_channels__path(NULL, "error"));
    json_decref(doc);
    /* A step of digits takes an array's item (WhatsApp's messages[0].id). */
    doc = json_loads("{\"messages\":[{\"id\":\"wamid.1\"}]}", 0, NULL);
    assert_string_equal(json_string_value(pal_channels__path(doc, "messages.0.id")), "wamid.1");
    assert_null(pal_channels__path(doc, "messages.1.id"));
    assert_null(pal_channels__path(doc, "messages.x.id"));
    json_decref(doc);

    /* The platform's id of a sent message, "" when absent or too long. */
    pal_channels__response response = {.body = (char *)"{\"sid\":\"SM1\"}", .len = 13};
    pal_send_result result = {0};
    pal_channels__platform_id(&response, "sid", &result);
    assert_string_equal(result.platform_id, "SM1");
    pal_channels__platform_id(&response, "nope", &result);
    assert_string_equal(result.platform_id, "");
}

static void at_address_round_trip(void **state)
{
    (void)state;
    char *address = pal_channels__at_address(INT64_C(1700000000123));
    assert_string_equal(address, "{\"at\":1700000000123}");
    assert_int_equal(pal_channels__address_at(address), INT64_C(1700000000123));
    free(address);
    assert_int_equal(pal_channels__address_at(NULL), -1);
    assert_int_equal(pal_channels__address_at("{}"), -1);
    assert_int_equal(pal_channels__address_at("not json"), -1);
}

static void labels_in_the_text(void **state)
{
    (void)state;
    pal_delivery_item *item = pal_delivery_item_new(
        1, 1, 0, "test", "u", NULL, "Alors ?", "[\"Oui\",\"\",3,\"Non\"]", "k-1", 0, 0, 0, NULL);
    json_t *labels = pal_channels__labels(item);
    assert_int_equal(json_array_size(labels), 2); /* the empty and the non-string are dropped */

    char *text = pal_channels__join_labels("Alors ?", labels, "\n", " / ");
    assert_string_equal(text, "Alors ?\nOui / Non");
    free(text);
    text = pal_channels__join_labels("Alors ?", labels, "\n• ", "\n• ");
    assert_string_equal(text, "Alors ?\n• Oui\n• Non");
    free(text);
    /* As many labels as buttons: they stay buttons, the text is alone. */
    text = pal_channels__text_with_labels("Alors ?", labels, 2);
    assert_string_equal(text, "Alors ?");
    free(text);
    text = pal_channels__text_with_labels("Alors ?", labels, 1);
    assert_string_equal(text, "Alors ?\nOui\nNon");
    free(text);
    json_decref(labels);
    pal_delivery_item_free(item);

    item = pal_delivery_item_new(1, 1, 0, "test", "u", NULL, "Seul", NULL, "k-1", 0, 0, 0, NULL);
    labels = pal_channels__labels(item);
    assert_int_equal(json_array_size(labels), 0);
    text = pal_channels__join_labels("Seul", labels, "\n", " / ");
    assert_string_equal(text, "Seul");
    free(text);
    json_decref(labels);
    pal_delivery_item_free(item);
}

static void split_by_bytes(void **state)
{
    (void)state;
    size_t next;
    assert_int_equal(pal_channels__split("hello world", 11, 20, &next), 11);
    assert_int_equal(next, 11);
    /* At the last space before the limit; the rest starts after it. */
    assert_int_equal(pal_channels__split("hello world foo", 15, 12, &next), 11);
    assert_int_equal(next, 12);
    /* No space: at the limit. */
    assert_int_equal(pal_channels__split("abcdefgh", 8, 4, &next), 4);
    assert_int_equal(next, 4);
    /* Never inside a code point: "ééé" is 6 bytes, 5 would cut the third. */
    assert_int_equal(pal_channels__split("\xc3\xa9\xc3\xa9\xc3\xa9", 6, 5, &next), 4);
    assert_int_equal(next, 4);
}

static void split_by_units(void **state)
{
    (void)state;
    size_t next;
    /* The cut drops the space; the next part starts after it. */
    assert_int_equal(pal_channels__split_units("ab cd", 5, 3, PAL_CHANNELS_CODE_POINTS, &next), 2);
    assert_int_equal(next, 3);
    /* Code points, not bytes: "ééé" fits 3. */
    assert_int_equal(pal_channels__split_units("\xc3\xa9\xc3\xa9\xc3\xa9", 6, 3,
                                               PAL_CHANNELS_CODE_POINTS, &next),
                     6);
    assert_int_equal(next, 6);
    /* An emoji beyond U+FFFF is one code point but two UTF-16 units. */
    static const char emojis[] = "\xf0\x9f\x98\x80\xf0\x9f\x98\x80";
    assert_int_equal(pal_channels__split_units(emojis, 8, 3, PAL_CHANNELS_CODE_POINTS, &next), 8);
    assert_int_equal(pal_channels__split_units(emojis, 8, 3, PAL_CHANNELS_UTF16, &next), 4);
    assert_int_equal(next, 4);
}

static void cut_into_parts(void **state)
{
    (void)state;
    pal_channels__part parts[4];
    size_t n;
    assert_int_equal(
        pal_channels__cut("  hello world  ", 5, PAL_CHANNELS_CODE_POINTS, parts, 4, &n), PAL_OK);
    assert_int_equal(n, 2);
    assert_int_equal(parts[0].at, 2);
    assert_int_equal(parts[0].len, 5);
    assert_int_equal(parts[1].at, 8);
    assert_int_equal(parts[1].len, 5);
    assert_int_equal(pal_channels__cut("a b c", 1, PAL_CHANNELS_CODE_POINTS, parts, 2, &n),
                     PAL_ERR_LIMIT);
    assert_int_equal(pal_channels__cut("a\xff", 10, PAL_CHANNELS_UTF16, parts, 4, &n),
                     PAL_ERR_UTF8);
    assert_int_equal(pal_channels__cut(" \n ", 10, PAL_CHANNELS_UTF16, parts, 4, &n), PAL_OK);
    assert_int_equal(n, 0);
}

static void truncate_titles(void **state)
{
    (void)state;
    char *s = pal_channels__truncate("Très long libellé", 4);
    assert_string_equal(s, "Très");
    free(s);
    s = pal_channels__truncate("abc", 10);
    assert_string_equal(s, "abc");
    free(s);
    s = pal_channels__truncate("", 3);
    assert_string_equal(s, "");
    free(s);
}

static void outcomes_and_errors(void **state)
{
    (void)state;
    assert_int_equal(pal_channels__outcome(200), PAL_SEND_OK);
    assert_int_equal(pal_channels__outcome(204), PAL_SEND_OK);
    assert_int_equal(pal_channels__outcome(408), PAL_SEND_RETRY);
    assert_int_equal(pal_channels__outcome(429), PAL_SEND_RETRY);
    assert_int_equal(pal_channels__outcome(503), PAL_SEND_RETRY);
    assert_int_equal(pal_channels__outcome(404), PAL_SEND_PERMANENT);
    assert_int_equal(pal_channels__outcome(301), PAL_SEND_PERMANENT);

    pal_send_result result = {.error = "boom"};
    pal_channels__part_error(&result, 1, 1);
    assert_string_equal(result.error, "boom");
    pal_channels__part_error(&result, 2, 3);
    assert_string_equal(result.error, "part 2/3: boom");
    char line[] = "a\nb\tc";
    pal_channels__one_line(line);
    assert_string_equal(line, "a b c");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(load_json_refusals),    cmocka_unit_test(webhook_nul_costs_one_item),
        cmocka_unit_test(ids_and_texts),         cmocka_unit_test(paths),
        cmocka_unit_test(at_address_round_trip), cmocka_unit_test(labels_in_the_text),
        cmocka_unit_test(split_by_bytes),        cmocka_unit_test(split_by_units),
        cmocka_unit_test(cut_into_parts),        cmocka_unit_test(truncate_titles),
        cmocka_unit_test(outcomes_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
