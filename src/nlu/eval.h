/*
 * eval.h — how good is the intent classifier on labelled data?
 *
 * Train on one dataset and test on another, or cross-validate on one
 * (stratified K folds). Metrics: accuracy over every test example (an
 * example labelled "oos" counts as correct when the answer is none),
 * per-intent precision/recall/F1, macro-F1 over the in-scope intents that
 * occur in the test labels or the predictions, out-of-scope recall, the
 * most frequent confusions, training time and classification throughput
 * (one thread, analysis included).
 * Not thread-safe in itself; it uses one thread.
 */
#ifndef PAL_NLU_EVAL_H
#define PAL_NLU_EVAL_H

#include <stdio.h>

#include "base/err.h"
#include "nlu/classifier.h"
#include "nlu/dataset.h"

typedef struct pal_eval_intent {
    const char *name; /* owned by the report */
    size_t support;   /* test examples labelled with it */
    size_t tp, fp, fn;
    double precision, recall, f1;
} pal_eval_intent;

typedef struct pal_eval_confusion {
    const char *gold;      /* owned by the report */
    const char *predicted; /* "none" when the classifier answered none */
    size_t count;
} pal_eval_confusion;

typedef struct pal_eval_report {
    size_t n_train, n_test, n_correct;
    double accuracy;
    double macro_f1;
    size_t n_in_scope, n_in_scope_correct;
    double in_scope_accuracy;
    size_t n_oos, n_oos_correct;
    double oos_recall; /* NaN when the test set has no "oos" example */
    pal_eval_intent *intents;
    size_t n_intents;
    pal_eval_confusion *confusions; /* most frequent first */
    size_t n_confusions;
    double train_ms; /* for cross-validation: mean over folds */
    double predict_per_s;
    size_t model_bytes;
    size_t n_features;
    float threshold;
    int folds; /* 0 for a train/test run */
} pal_eval_report;

/* Trains on train and evaluates on test (both borrowed). On PAL_OK *out is
 * the caller's: free with pal_eval_report_free(). Errors of pal_nlu_train
 * (errbuf says why). */
pal_err pal_eval_split(const pal_dataset *train, const pal_dataset *test,
                       const pal_nlu_params *params, pal_eval_report **out, char *errbuf,
                       size_t errlen);

/* Stratified k-fold cross-validation (2 <= k <= 100) on data. PAL_ERR_INVALID
 * when k is out of range or an in-scope intent has fewer examples than... any
 * count is accepted: folds without an intent simply test it less. */
pal_err pal_eval_cross_validate(const pal_dataset *data, int k, const pal_nlu_params *params,
                                pal_eval_report **out, char *errbuf, size_t errlen);

/* NULL is a no-op. */
void pal_eval_report_free(pal_eval_report *report);

/* Human-readable report: summary, per-intent table, confusions. */
void pal_eval_print_text(FILE *f, const pal_eval_report *report);
/* One JSON object; PAL_ERR_IO when it cannot be written. */
pal_err pal_eval_print_json(FILE *f, const pal_eval_report *report);

#endif
