/*
 * test_nlu_eval.c — the metrics of nlu-eval, checked on data whose answer
 * is known.
 */
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nlu/eval.h"

/* Three intents whose words never overlap: a classifier must get them all. */
static const char train_tsv[] = "colour\tred\ncolour\tblue\ncolour\tgreen\ncolour\tyellow\n"
                                "colour\tred and blue\ncolour\tgreen yellow\n"
                                "animal\tcat\nanimal\tdog\nanimal\thorse\nanimal\tmouse\n"
                                "animal\tcat and dog\nanimal\thorse mouse\n"
                                "fruit\tapple\nfruit\tpear\nfruit\tbanana\nfruit\tcherry\n"
                                "fruit\tapple and pear\nfruit\tbanana cherry\n";

static pal_dataset *dataset(const char *tsv)
{
    pal_dataset *d = pal_dataset_new();
    char err[256];
    assert_int_equal(pal_dataset_parse(d, "t.tsv", tsv, strlen(tsv), err, sizeof(err)), PAL_OK);
    return d;
}

static void perfect_split(void **state)
{
    (void)state;
    pal_dataset *train = dataset(train_tsv);
    pal_dataset *test = dataset("colour\tblue green\nanimal\tdog cat\nfruit\tpear apple\n");
    pal_eval_report *r = NULL;
    assert_int_equal(pal_eval_split(train, test, NULL, &r, NULL, 0), PAL_OK);
    assert_float_equal(r->accuracy, 1.0, 1e-9);
    assert_float_equal(r->macro_f1, 1.0, 1e-9);
    assert_int_equal(r->n_intents, 3);
    assert_int_equal(r->n_confusions, 0);
    assert_true(isnan(r->oos_recall));
    assert_true(r->predict_per_s > 0);
    assert_int_equal(r->n_train, 18);
    pal_eval_report_free(r);
    pal_dataset_free(train);
    pal_dataset_free(test);
}

static void out_of_scope_and_confusions(void **state)
{
    (void)state;
    pal_dataset *train = dataset(train_tsv);
    /* One out-of-scope query made of nothing the model knows (none is right:
     * a three-intent model can't be asked to refuse text that shares its
     * n-grams), and one
     * animal labelled as a fruit (a known error: fruit recall < 1). */
    pal_dataset *test = dataset("colour\tred\nanimal\tcat\nfruit\tapple\nfruit\tdog\n"
                                "oos\tzzzz qqqq\n");
    pal_eval_report *r = NULL;
    assert_int_equal(pal_eval_split(train, test, NULL, &r, NULL, 0), PAL_OK);
    assert_int_equal(r->n_test, 5);
    assert_int_equal(r->n_correct, 4);
    assert_int_equal(r->n_oos, 1);
    assert_float_equal(r->oos_recall, 1.0, 1e-9);
    /* fruit: tp 1, fn 1 -> recall 0.5, precision 1; animal: tp 1, fp 1. */
    for (size_t i = 0; i < r->n_intents; i++) {
        if (strcmp(r->intents[i].name, "fruit") == 0) {
            assert_float_equal(r->intents[i].recall, 0.5, 1e-9);
            assert_float_equal(r->intents[i].precision, 1.0, 1e-9);
        }
        if (strcmp(r->intents[i].name, "animal") == 0)
            assert_float_equal(r->intents[i].precision, 0.5, 1e-9);
    }
    double expected_macro = (1.0 + 2.0 / 3.0 + 2.0 / 3.0) / 3.0;
    assert_float_equal(r->macro_f1, expected_macro, 1e-9);
    assert_int_equal(r->n_confusions, 1);
    assert_string_equal(r->confusions[0].gold, "fruit");
    assert_string_equal(r->confusions[0].predicted, "animal");

    /* The JSON report carries the fields nlu-eval promises. */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(pal_eval_print_json(f, r), PAL_OK);
    fclose(f);
    json_error_t jerr;
    json_t *root = json_loads(buf, 0, &jerr);
    assert_non_null(root);
    const char *keys[] = {"accuracy",      "macro_f1",   "per_intent", "train_ms",
                          "predict_per_s", "oos_recall", "confusions", "model_bytes"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        assert_non_null(json_object_get(root, keys[i]));
    assert_float_equal(json_real_value(json_object_get(root, "accuracy")), 0.8, 1e-6);
    assert_non_null(json_object_get(json_object_get(root, "per_intent"), "fruit"));
    json_decref(root);
    free(buf);
    pal_eval_report_free(r);
    pal_dataset_free(train);
    pal_dataset_free(test);
}

static void cross_validation_uses_every_example_once(void **state)
{
    (void)state;
    pal_dataset *d = dataset(train_tsv);
    pal_eval_report *r = NULL;
    char err[256] = "";
    assert_int_equal(pal_eval_cross_validate(d, 3, NULL, &r, err, sizeof(err)), PAL_OK);
    assert_int_equal(r->n_test, 18);
    assert_int_equal(r->folds, 3);
    assert_true(r->accuracy > 0.5);
    pal_eval_report_free(r);
    assert_int_equal(pal_eval_cross_validate(d, 1, NULL, &r, err, sizeof(err)), PAL_ERR_INVALID);
    assert_int_equal(pal_eval_cross_validate(d, 19, NULL, &r, err, sizeof(err)), PAL_ERR_INVALID);
    pal_dataset_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(perfect_split),
        cmocka_unit_test(out_of_scope_and_confusions),
        cmocka_unit_test(cross_validation_uses_every_example_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
