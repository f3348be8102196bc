/*
 * test_nlu_dataset.c — reading TSV examples, and refusing bad files with
 * the file and line named.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "nlu/dataset.h"

static pal_err parse(pal_dataset *d, const char *text, size_t len, char *err)
{
    return pal_dataset_parse(d, "x.tsv", text, len, err, 256);
}

static void reads_examples_comments_crlf_and_bom(void **state)
{
    (void)state;
    pal_dataset *d = pal_dataset_new();
    char err[256] = "";
    const char text[] = "\xEF\xBB\xBF# a comment\n"
                        "greet\tbonjour\n"
                        "\n"
                        "   # indented comment\n"
                        "order\tdeux corona svp\r\n"
                        "reverted_card_payment?\tmy payment was reverted\n"
                        "order\t#MonRésultat 75011\ttab inside";
    assert_int_equal(parse(d, text, sizeof(text) - 1, err), PAL_OK);
    assert_int_equal(d->count, 4);
    assert_string_equal(d->examples[0].intent, "greet");
    assert_string_equal(d->examples[0].text, "bonjour");
    assert_string_equal(d->examples[1].text, "deux corona svp");
    assert_string_equal(d->examples[2].intent, "reverted_card_payment?");
    assert_string_equal(d->examples[3].text, "#MonRésultat 75011\ttab inside");
    /* Appending a second file keeps the first one's examples valid. */
    assert_int_equal(parse(d, "x\ty\n", 4, err), PAL_OK);
    assert_int_equal(d->count, 5);
    assert_string_equal(d->examples[0].text, "bonjour");
    pal_dataset_free(d);
}

static void errors_name_file_and_line(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        size_t len;
        pal_err err;
        const char *message;
    } bad[] = {
        {"greet\thello\nno tab here\n", 24, PAL_ERR_PARSE, "x.tsv:2: expected intent<TAB>text"},
        {"\thello\n", 7, PAL_ERR_PARSE, "x.tsv:1: empty intent name"},
        {"a\tb\ngreet\t\n", 11, PAL_ERR_PARSE, "x.tsv:2: empty text"},
        {"gr eet\thello\n", 13, PAL_ERR_PARSE, "x.tsv:1: intent name may not"},
        {"greet\th\xC3\x28llo\n", 12, PAL_ERR_UTF8, "x.tsv:1: text is not valid UTF-8"},
        {"greet\thel\0lo\n", 12, PAL_ERR_UTF8, "x.tsv:1: text is not valid UTF-8"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        pal_dataset *d = pal_dataset_new();
        char err[256] = "";
        assert_int_equal(parse(d, bad[i].text, bad[i].len, err), bad[i].err);
        assert_non_null(strstr(err, bad[i].message));
        assert_int_equal(d->count, 0); /* nothing half-loaded */
        pal_dataset_free(d);
    }
}

static void limits(void **state)
{
    (void)state;
    pal_dataset *d = pal_dataset_new();
    char err[256] = "";
    char name[200];
    memset(name, 'i', 129);
    memcpy(name + 129, "\tx\n", 4);
    assert_int_equal(parse(d, name, strlen(name), err), PAL_ERR_PARSE);
    assert_non_null(strstr(err, "longer than 128"));

    size_t len = PAL_TEXT_MAX_BYTES + 16;
    char *big = malloc(len);
    memcpy(big, "i\t", 2);
    memset(big + 2, 'a', len - 2);
    assert_int_equal(parse(d, big, len, err), PAL_ERR_LIMIT);
    assert_int_equal(parse(d, big, PAL_TEXT_MAX_BYTES + 2, err), PAL_OK); /* exactly 1 MiB */
    assert_int_equal(d->count, 1);
    free(big);
    assert_int_equal(parse(d, "", 0, err), PAL_OK);
    assert_int_equal(d->count, 1);
    pal_dataset_free(d);
}

static void loads_files(void **state)
{
    (void)state;
    char path[] = "/tmp/palabre-dataset-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char text[] = "greet\tbonjour\norder\tune bière\n";
    assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
    close(fd);
    pal_dataset *d = pal_dataset_new();
    char err[256] = "";
    assert_int_equal(pal_dataset_load(d, path, err, sizeof(err)), PAL_OK);
    assert_int_equal(d->count, 2);
    unlink(path);
    assert_int_equal(pal_dataset_load(d, path, err, sizeof(err)), PAL_ERR_IO);
    assert_non_null(strstr(err, path));
    pal_dataset_free(d);
    pal_dataset_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_examples_comments_crlf_and_bom),
        cmocka_unit_test(errors_name_file_and_line),
        cmocka_unit_test(limits),
        cmocka_unit_test(loads_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
