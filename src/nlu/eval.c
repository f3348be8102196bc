/*
 * eval.c — metrics of the intent classifier (see eval.h).
 *
 * Predictions are collected as (gold label, predicted label) pairs of
 * strings, so train/test and cross-validation share the scoring code and
 * the report never depends on a model's class numbering.
 */
#include "nlu/eval.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/mem.h"
#include "nlu/hash.h"

enum { MAX_CONFUSIONS = 10 };

static const char NONE_LABEL[] = "none";

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static bool is_oos(const char *label)
{
    return strcmp(label, "oos") == 0 || strcmp(label, "none") == 0;
}

/* ---- a string -> slot table for intent names --------------------------- */

typedef struct name_table {
    char **names;
    size_t count, cap;
    int32_t *slots; /* index into names, -1 empty */
    size_t mask;
} name_table;

static void name_table_init(name_table *t)
{
    memset(t, 0, sizeof(*t));
    t->mask = 255;
    t->slots = pal_xmalloc((t->mask + 1) * sizeof(*t->slots));
    memset(t->slots, 0xFF, (t->mask + 1) * sizeof(*t->slots));
}

static void name_table_free(name_table *t, bool free_names)
{
    if (free_names) {
        for (size_t i = 0; i < t->count; i++)
            free(t->names[i]);
    }
    free(t->names);
    free(t->slots);
}

static size_t name_table_id(name_table *t, const char *name)
{
    if ((t->count + 1) * 2 > t->mask + 1) {
        free(t->slots);
        t->mask = t->mask * 2 + 1;
        t->slots = pal_xmalloc((t->mask + 1) * sizeof(*t->slots));
        memset(t->slots, 0xFF, (t->mask + 1) * sizeof(*t->slots));
        for (size_t i = 0; i < t->count; i++) {
            size_t pos = pal_hash64(0, t->names[i], strlen(t->names[i])) & t->mask;
            while (t->slots[pos] >= 0)
                pos = (pos + 1) & t->mask;
            t->slots[pos] = (int32_t)i;
        }
    }
    size_t pos = pal_hash64(0, name, strlen(name)) & t->mask;
    while (t->slots[pos] >= 0) {
        if (strcmp(t->names[t->slots[pos]], name) == 0)
            return (size_t)t->slots[pos];
        pos = (pos + 1) & t->mask;
    }
    pal_xreserve((void **)&t->names, &t->cap, t->count + 1, sizeof(char *));
    t->names[t->count] = pal_xstrdup(name);
    t->slots[pos] = (int32_t)t->count;
    return t->count++;
}

/* ---- predictions ------------------------------------------------------ */

typedef struct predictions {
    size_t *gold;      /* label ids in `labels` */
    size_t *predicted; /* label ids; the "none" label for no intent */
    size_t count;
    name_table labels;
    size_t none_id;
} predictions;

static void predictions_init(predictions *p, size_t n)
{
    p->gold = pal_xcalloc(n, sizeof(size_t));
    p->predicted = pal_xcalloc(n, sizeof(size_t));
    p->count = 0;
    name_table_init(&p->labels);
    p->none_id = name_table_id(&p->labels, NONE_LABEL);
}

static void predictions_free(predictions *p)
{
    free(p->gold);
    free(p->predicted);
    name_table_free(&p->labels, true);
}

/* Classifies every example of test[idx[0..n)] (idx NULL: all) with model. */
static pal_err predict_all(const pal_nlu_model *model, pal_analyzer *analyzer,
                           const pal_dataset *test, const size_t *idx, size_t n, predictions *p)
{
    for (size_t k = 0; k < n; k++) {
        const pal_nlu_example *ex = &test->examples[idx ? idx[k] : k];
        pal_nlu_result r;
        pal_err err = pal_nlu_classify_text(model, analyzer, ex->text, strlen(ex->text), &r);
        if (err)
            return err;
        size_t gold = is_oos(ex->intent) ? p->none_id : name_table_id(&p->labels, ex->intent);
        size_t pred = r.intent == PAL_NLU_NONE
                          ? p->none_id
                          : name_table_id(&p->labels, pal_nlu_intent_name(model, (size_t)r.intent));
        p->gold[p->count] = gold;
        p->predicted[p->count] = pred;
        p->count++;
    }
    return PAL_OK;
}

/* Examples per second of analysis + classification, over at least 0.5 s. */
static pal_err measure_throughput(const pal_nlu_model *model, pal_analyzer *analyzer,
                                  const pal_dataset *test, double *per_s)
{
    size_t done = 0;
    double start = now_ms();
    double elapsed = 0;
    do {
        for (size_t i = 0; i < test->count; i++) {
            pal_nlu_result r;
            const char *text = test->examples[i].text;
            pal_err err = pal_nlu_classify_text(model, analyzer, text, strlen(text), &r);
            if (err)
                return err;
        }
        done += test->count;
        elapsed = now_ms() - start;
    } while (elapsed < 500.0 && test->count > 0);
    *per_s = elapsed > 0 ? (double)done / (elapsed / 1e3) : 0;
    return PAL_OK;
}

/* ---- scoring ---------------------------------------------------------- */

static int cmp_confusion(const void *a, const void *b)
{
    const pal_eval_confusion *x = a;
    const pal_eval_confusion *y = b;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    int c = strcmp(x->gold, y->gold);
    return c ? c : strcmp(x->predicted, y->predicted);
}

static int cmp_intent(const void *a, const void *b)
{
    return strcmp(((const pal_eval_intent *)a)->name, ((const pal_eval_intent *)b)->name);
}

static double ratio(size_t num, size_t den)
{
    return den ? (double)num / (double)den : 0.0;
}

static void score_intents(const predictions *p, pal_eval_report *r)
{
    size_t n_labels = p->labels.count;
    size_t *tp = pal_xcalloc(n_labels, sizeof(size_t));
    size_t *fp = pal_xcalloc(n_labels, sizeof(size_t));
    size_t *fn = pal_xcalloc(n_labels, sizeof(size_t));
    size_t *support = pal_xcalloc(n_labels, sizeof(size_t));
    for (size_t i = 0; i < p->count; i++) {
        support[p->gold[i]]++;
        if (p->gold[i] == p->predicted[i]) {
            tp[p->gold[i]]++;
        } else {
            fn[p->gold[i]]++;
            fp[p->predicted[i]]++;
        }
    }
    r->intents = pal_xcalloc(n_labels, sizeof(pal_eval_intent));
    double f1_sum = 0;
    for (size_t l = 0; l < n_labels; l++) {
        if (l == p->none_id || (support[l] == 0 && fp[l] == 0))
            continue;
        pal_eval_intent *it = &r->intents[r->n_intents++];
        it->name = pal_xstrdup(p->labels.names[l]);
        it->support = support[l];
        it->tp = tp[l];
        it->fp = fp[l];
        it->fn = fn[l];
        it->precision = ratio(tp[l], tp[l] + fp[l]);
        it->recall = ratio(tp[l], tp[l] + fn[l]);
        double s = it->precision + it->recall;
        it->f1 = s > 0 ? 2 * it->precision * it->recall / s : 0;
        f1_sum += it->f1;
    }
    r->macro_f1 = r->n_intents ? f1_sum / (double)r->n_intents : 0;
    qsort(r->intents, r->n_intents, sizeof(pal_eval_intent), cmp_intent);
    free(tp);
    free(fp);
    free(fn);
    free(support);
}

static void score_confusions(const predictions *p, pal_eval_report *r)
{
    /* Count (gold, predicted) pairs through a hash of the pair. */
    size_t cap = 64;
    while (cap < p->count * 2)
        cap *= 2;
    size_t *pair_gold = pal_xmalloc(cap * sizeof(size_t));
    size_t *pair_pred = pal_xmalloc(cap * sizeof(size_t));
    size_t *pair_count = pal_xcalloc(cap, sizeof(size_t));
    size_t distinct = 0;
    for (size_t i = 0; i < p->count; i++) {
        if (p->gold[i] == p->predicted[i])
            continue;
        size_t pos = (p->gold[i] * 1000003u + p->predicted[i]) & (cap - 1);
        while (pair_count[pos] &&
               (pair_gold[pos] != p->gold[i] || pair_pred[pos] != p->predicted[i]))
            pos = (pos + 1) & (cap - 1);
        if (!pair_count[pos]) {
            pair_gold[pos] = p->gold[i];
            pair_pred[pos] = p->predicted[i];
            distinct++;
        }
        pair_count[pos]++;
    }
    pal_eval_confusion *all = pal_xcalloc(distinct + 1, sizeof(*all));
    size_t k = 0;
    for (size_t pos = 0; pos < cap; pos++) {
        if (!pair_count[pos])
            continue;
        const char *gold = pair_gold[pos] == p->none_id ? "oos" : p->labels.names[pair_gold[pos]];
        all[k++] = (pal_eval_confusion){gold, p->labels.names[pair_pred[pos]], pair_count[pos]};
    }
    qsort(all, k, sizeof(*all), cmp_confusion);
    r->n_confusions = k < MAX_CONFUSIONS ? k : MAX_CONFUSIONS;
    r->confusions = pal_xcalloc(r->n_confusions + 1, sizeof(*r->confusions));
    for (size_t i = 0; i < r->n_confusions; i++) {
        r->confusions[i] = (pal_eval_confusion){pal_xstrdup(all[i].gold),
                                                pal_xstrdup(all[i].predicted), all[i].count};
    }
    free(all);
    free(pair_gold);
    free(pair_pred);
    free(pair_count);
}

static pal_eval_report *score(const predictions *p)
{
    pal_eval_report *r = pal_xcalloc(1, sizeof(*r));
    r->n_test = p->count;
    for (size_t i = 0; i < p->count; i++) {
        bool correct = p->gold[i] == p->predicted[i];
        r->n_correct += correct;
        if (p->gold[i] == p->none_id) {
            r->n_oos++;
            r->n_oos_correct += correct;
        } else {
            r->n_in_scope++;
            r->n_in_scope_correct += correct;
        }
    }
    r->accuracy = ratio(r->n_correct, r->n_test);
    r->in_scope_accuracy = ratio(r->n_in_scope_correct, r->n_in_scope);
    r->oos_recall = r->n_oos ? ratio(r->n_oos_correct, r->n_oos) : NAN;
    score_intents(p, r);
    score_confusions(p, r);
    return r;
}

/* ---- runs ------------------------------------------------------------- */

pal_err pal_eval_split(const pal_dataset *train, const pal_dataset *test,
                       const pal_nlu_params *params, pal_eval_report **out, char *errbuf,
                       size_t errlen)
{
    pal_nlu_model *model = NULL;
    pal_analyzer *analyzer = NULL;
    predictions p;
    predictions_init(&p, test->count);

    double start = now_ms();
    pal_err err = pal_nlu_train(train->examples, train->count, params, &model, errbuf, errlen);
    double train_ms = now_ms() - start;
    if (err)
        goto out;
    err = pal_analyzer_new(&analyzer);
    if (err)
        goto out;
    err = predict_all(model, analyzer, test, NULL, test->count, &p);
    if (err) {
        pal_err_format(errbuf, errlen, "classifying the test set failed: %s", pal_err_str(err));
        goto out;
    }
    pal_eval_report *r = score(&p);
    err = measure_throughput(model, analyzer, test, &r->predict_per_s);
    if (err) {
        pal_eval_report_free(r);
        goto out;
    }
    r->n_train = train->count;
    r->train_ms = train_ms;
    r->model_bytes = pal_nlu_model_bytes(model);
    r->n_features = pal_nlu_feature_count(model);
    r->threshold = pal_nlu_threshold(model);
    *out = r;
out:
    predictions_free(&p);
    pal_analyzer_free(analyzer);
    pal_nlu_model_free(model);
    return err;
}

/* Fold of each example: per label, examples in a seeded random order are
 * dealt to folds in turn, so every fold holds each intent in proportion. */
static size_t *assign_folds(const pal_dataset *data, int k, uint32_t seed)
{
    name_table labels;
    name_table_init(&labels);
    size_t *label = pal_xmalloc((data->count + 1) * sizeof(size_t));
    for (size_t i = 0; i < data->count; i++)
        label[i] = name_table_id(&labels, data->examples[i].intent);
    size_t *order = pal_xmalloc((data->count + 1) * sizeof(size_t));
    uint64_t rng = 0x853C49E6748FEA9BULL ^ seed;
    for (size_t i = 0; i < data->count; i++)
        order[i] = i;
    for (size_t i = data->count; i > 1; i--) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        size_t j = rng % i;
        size_t t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
    size_t *next_fold = pal_xcalloc(labels.count + 1, sizeof(size_t));
    size_t *fold = pal_xmalloc((data->count + 1) * sizeof(size_t));
    for (size_t i = 0; i < data->count; i++) {
        size_t ex = order[i];
        fold[ex] = next_fold[label[ex]]++ % (size_t)k;
    }
    free(next_fold);
    free(order);
    free(label);
    name_table_free(&labels, true);
    return fold;
}

pal_err pal_eval_cross_validate(const pal_dataset *data, int k, const pal_nlu_params *params,
                                pal_eval_report **out, char *errbuf, size_t errlen)
{
    if (k < 2 || k > 100 || data->count < (size_t)k) {
        pal_err_format(errbuf, errlen,
                       "cross-validation needs 2 to 100 folds and at least as many "
                       "examples as folds");
        return PAL_ERR_INVALID;
    }
    pal_nlu_params defaults;
    if (!params) {
        pal_nlu_params_default(&defaults);
        params = &defaults;
    }
    size_t *fold = assign_folds(data, k, params->seed);
    pal_nlu_example *train = pal_xmalloc((data->count + 1) * sizeof(*train));
    size_t *test_idx = pal_xmalloc((data->count + 1) * sizeof(size_t));
    pal_analyzer *analyzer = NULL;
    pal_nlu_model *model = NULL;
    predictions p;
    predictions_init(&p, data->count);
    double train_ms = 0;
    double per_s_sum = 0;
    size_t bytes = 0;
    size_t features = 0;
    pal_err err = pal_analyzer_new(&analyzer);
    if (err)
        goto out;
    for (int f = 0; f < k; f++) {
        size_t n_train = 0;
        size_t n_test = 0;
        for (size_t i = 0; i < data->count; i++) {
            if (fold[i] == (size_t)f)
                test_idx[n_test++] = i;
            else
                train[n_train++] = data->examples[i];
        }
        double start = now_ms();
        err = pal_nlu_train(train, n_train, params, &model, errbuf, errlen);
        double fold_ms = now_ms() - start;
        if (err)
            goto out;
        train_ms += fold_ms;
        start = now_ms();
        err = predict_all(model, analyzer, data, test_idx, n_test, &p);
        double predict_ms = now_ms() - start;
        if (err)
            goto out;
        per_s_sum += predict_ms > 0 ? (double)n_test / (predict_ms / 1e3) : 0;
        bytes = pal_nlu_model_bytes(model);
        features = pal_nlu_feature_count(model);
        pal_nlu_model_free(model);
        model = NULL;
    }
    pal_eval_report *r = score(&p);
    r->n_train = data->count;
    r->train_ms = train_ms / k;
    r->predict_per_s = per_s_sum / k;
    r->model_bytes = bytes;
    r->n_features = features;
    r->threshold = params->threshold;
    r->folds = k;
    *out = r;
out:
    pal_nlu_model_free(model);
    pal_analyzer_free(analyzer);
    predictions_free(&p);
    free(fold);
    free(train);
    free(test_idx);
    return err;
}

void pal_eval_report_free(pal_eval_report *report)
{
    if (!report)
        return;
    for (size_t i = 0; i < report->n_intents; i++)
        free((char *)report->intents[i].name);
    for (size_t i = 0; i < report->n_confusions; i++) {
        free((char *)report->confusions[i].gold);
        free((char *)report->confusions[i].predicted);
    }
    free(report->intents);
    free(report->confusions);
    free(report);
}

/* ---- output ----------------------------------------------------------- */

void pal_eval_print_text(FILE *f, const pal_eval_report *r)
{
    if (r->folds)
        fprintf(f, "cross-validation: %d folds over %zu examples\n", r->folds, r->n_train);
    else
        fprintf(f, "trained on %zu examples, tested on %zu\n", r->n_train, r->n_test);
    fprintf(f, "accuracy      %.4f  (%zu/%zu)\n", r->accuracy, r->n_correct, r->n_test);
    fprintf(f, "macro-F1      %.4f  (over %zu intents)\n", r->macro_f1, r->n_intents);
    if (r->n_oos) {
        fprintf(f, "in-scope acc. %.4f  (%zu/%zu)\n", r->in_scope_accuracy, r->n_in_scope_correct,
                r->n_in_scope);
        fprintf(f, "oos recall    %.4f  (%zu/%zu answered none)\n", r->oos_recall, r->n_oos_correct,
                r->n_oos);
    }
    fprintf(f, "threshold     %.2f\n", (double)r->threshold);
    fprintf(f, "training      %.0f ms%s\n", r->train_ms, r->folds ? " per fold" : "");
    fprintf(f, "throughput    %.0f messages/s (one thread, analysis included)\n", r->predict_per_s);
    fprintf(f, "model         %zu features, %.1f MB\n\n", r->n_features,
            (double)r->model_bytes / 1e6);

    fprintf(f, "%-32s %9s %9s %9s %8s\n", "intent", "precision", "recall", "f1", "support");
    for (size_t i = 0; i < r->n_intents; i++) {
        const pal_eval_intent *it = &r->intents[i];
        fprintf(f, "%-32s %9.3f %9.3f %9.3f %8zu\n", it->name, it->precision, it->recall, it->f1,
                it->support);
    }
    if (r->n_confusions) {
        fprintf(f, "\nmost frequent confusions (expected -> answered):\n");
        for (size_t i = 0; i < r->n_confusions; i++) {
            fprintf(f, "%6zu  %s -> %s\n", r->confusions[i].count, r->confusions[i].gold,
                    r->confusions[i].predicted);
        }
    }
}

pal_err pal_eval_print_json(FILE *f, const pal_eval_report *r)
{
    json_t *root = json_object();
    json_t *per_intent = json_object();
    json_t *confusions = json_array();
    for (size_t i = 0; i < r->n_intents; i++) {
        const pal_eval_intent *it = &r->intents[i];
        json_object_set_new(per_intent, it->name,
                            json_pack("{s:f,s:f,s:f,s:I,s:I,s:I,s:I}", "precision", it->precision,
                                      "recall", it->recall, "f1", it->f1, "support",
                                      (json_int_t)it->support, "tp", (json_int_t)it->tp, "fp",
                                      (json_int_t)it->fp, "fn", (json_int_t)it->fn));
    }
    for (size_t i = 0; i < r->n_confusions; i++) {
        json_array_append_new(confusions,
                              json_pack("{s:s,s:s,s:I}", "expected", r->confusions[i].gold,
                                        "answered", r->confusions[i].predicted, "count",
                                        (json_int_t)r->confusions[i].count));
    }
    json_object_set_new(root, "accuracy", json_real(r->accuracy));
    json_object_set_new(root, "macro_f1", json_real(r->macro_f1));
    json_object_set_new(root, "in_scope_accuracy", json_real(r->in_scope_accuracy));
    json_object_set_new(root, "oos_recall", r->n_oos ? json_real(r->oos_recall) : json_null());
    json_object_set_new(root, "threshold", json_real((double)r->threshold));
    json_object_set_new(root, "train_examples", json_integer((json_int_t)r->n_train));
    json_object_set_new(root, "test_examples", json_integer((json_int_t)r->n_test));
    json_object_set_new(root, "intents", json_integer((json_int_t)r->n_intents));
    json_object_set_new(root, "folds", json_integer(r->folds));
    json_object_set_new(root, "train_ms", json_real(r->train_ms));
    json_object_set_new(root, "predict_per_s", json_real(r->predict_per_s));
    json_object_set_new(root, "model_bytes", json_integer((json_int_t)r->model_bytes));
    json_object_set_new(root, "features", json_integer((json_int_t)r->n_features));
    json_object_set_new(root, "per_intent", per_intent);
    json_object_set_new(root, "confusions", confusions);
    int rc = json_dumpf(root, f, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
    json_decref(root);
    if (rc != 0 || fputc('\n', f) == EOF)
        return PAL_ERR_IO;
    return PAL_OK;
}
