/*
 * test_base_jsonw.c — the JSON writer gives jansson's compact text byte for byte:
 * every ASCII character and some UTF-8 in strings, integers at their limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "base/jsonw.h"

static void assert_like_jansson_string(const char *s)
{
    pal_jsonw w = {0};
    pal_jsonw_string(&w, s);
    json_t *v = json_string(s);
    assert_non_null(v);
    char *expected = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(v);
    assert_string_equal(w.data, expected);
    free(expected);
    pal_jsonw_clear(&w);
}

static void strings_escape_like_jansson(void **state)
{
    (void)state;
    char one[2] = {0, 0};
    for (int c = 1; c < 0x80; c++) {
        one[0] = (char)c;
        assert_like_jansson_string(one);
    }
    assert_like_jansson_string("");
    assert_like_jansson_string("Ça coûte 5 € — «\"quote\"» \\ / \t\r\n\b\f\x01\x1f\x7f end");
    assert_like_jansson_string("日本語 🍺 ß");
}

static void integers_like_jansson(void **state)
{
    (void)state;
    const int64_t values[] = {0, 1, -1, 9, 10, -10, 123456789, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        pal_jsonw w = {0};
        pal_jsonw_int(&w, values[i]);
        json_t *v = json_integer(values[i]);
        char *expected = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(v);
        assert_string_equal(w.data, expected);
        free(expected);
        pal_jsonw_clear(&w);
    }
}

static void buffer_grows_and_is_taken(void **state)
{
    (void)state;
    pal_jsonw w = {0};
    char *empty = pal_jsonw_take(&w);
    assert_string_equal(empty, "");
    free(empty);
    pal_jsonw_lit(&w, "[");
    for (int i = 0; i < 5000; i++) {
        if (i)
            pal_jsonw_raw(&w, ",", 1);
        pal_jsonw_int(&w, i);
    }
    pal_jsonw_lit(&w, "]");
    json_error_t error;
    json_t *array = json_loads(w.data, 0, &error);
    assert_non_null(array);
    assert_int_equal(json_array_size(array), 5000);
    assert_int_equal(json_integer_value(json_array_get(array, 4999)), 4999);
    json_decref(array);
    size_t len = w.len;
    char *text = pal_jsonw_take(&w);
    assert_int_equal(strlen(text), len);
    assert_null(w.data);
    assert_int_equal(w.len, 0);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(strings_escape_like_jansson),
        cmocka_unit_test(integers_like_jansson),
        cmocka_unit_test(buffer_grows_and_is_taken),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
