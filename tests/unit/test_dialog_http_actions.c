/*
 * test_dialog_http_actions.c — what the `call` action refuses without
 * touching the network: other protocols, a non-positive timeout, a port
 * where nothing listens. Calls to a real HTTP server (answers, status
 * codes, timeouts, oversized answers, redirects) are end-to-end tests:
 * tests/e2e/test_chat_test_commands.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "base/log.h"
#include "dialog/http_actions.h"

static void refuses_other_protocols(void **state)
{
    (void)state;
    static const char *const urls[] = {"file:///etc/passwd",
                                       "ftp://127.0.0.1/x",
                                       "gopher://127.0.0.1/",
                                       "HTTP://127.0.0.1:9/",
                                       "",
                                       "/orders"};
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        char *response = (char *)1;
        assert_int_equal(pal_http_call(NULL, urls[i], 1000, "{}", &response), PAL_ERR_INVALID);
        assert_null(response);
    }
}

static void refuses_a_non_positive_timeout(void **state)
{
    (void)state;
    char *response = NULL;
    assert_int_equal(pal_http_call(NULL, "http://127.0.0.1:9/", 0, "{}", &response),
                     PAL_ERR_INVALID);
    assert_int_equal(pal_http_call(NULL, "http://127.0.0.1:9/", -5, "{}", &response),
                     PAL_ERR_INVALID);
    assert_null(response);
}

static void nobody_listening_is_an_io_error(void **state)
{
    (void)state;
    char *response = NULL;
    /* Port 9 (discard) has no listener on a test machine: refused at once. */
    assert_int_equal(pal_http_call(NULL, "http://127.0.0.1:9/orders", 1000, "{}", &response),
                     PAL_ERR_IO);
    assert_null(response);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(refuses_other_protocols),
        cmocka_unit_test(refuses_a_non_positive_timeout),
        cmocka_unit_test(nobody_listening_is_an_io_error),
    };
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
    pal_log_set_level(PAL_LOG_OFF);
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
