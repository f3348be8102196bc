/*
 * cmd_nlu_eval.c — `palabre nlu-eval`: measure the intent classifier.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "cli/cli.h"
#include "nlu/dataset.h"
#include "nlu/eval.h"

static const char help[] =
    "usage: palabre nlu-eval --train FILE [--train FILE...] --test FILE [--test FILE...] "
    "[OPTIONS]\n"
    "       palabre nlu-eval --cv K FILE [FILE...] [OPTIONS]\n\n"
    "Trains palabre's intent classifier with its default settings and measures it.\n"
    "FILE is TSV, one example a line: intent<TAB>text (UTF-8; '#' starts a comment\n"
    "line). Examples labelled 'oos' are out of scope: in training they teach what\n"
    "to refuse; in testing one counts as correct when the classifier answers none.\n\n"
    "Prints accuracy, macro-F1 over intents, per-intent precision/recall/F1, the\n"
    "out-of-scope recall (when the test set has 'oos' examples), the most frequent\n"
    "confusions, training time and classification throughput (one thread).\n\n"
    "options:\n"
    "  --train FILE     training examples (repeatable: files are concatenated)\n"
    "  --test FILE      test examples (repeatable)\n"
    "  --cv K           stratified K-fold cross-validation (2..100) on the FILEs\n"
    "  --json           print one JSON object instead of text: accuracy, macro_f1,\n"
    "                   in_scope_accuracy, oos_recall, per_intent, confusions,\n"
    "                   train_ms, predict_per_s, model_bytes, features, ...\n"
    "  --threshold P    probability under which the answer is none (default: the\n"
    "                   classifier's default, 0.35)\n"
    "  --seed N         seed of the training shuffle and the folds (default 42)\n"
    "training settings, for experiments (defaults are what bots get):\n"
    "  --epochs N       passes of stochastic gradient descent (default 12)\n"
    "  --min-df N       keep features seen in at least N examples (default: 1\n"
    "                   under 1,000 training examples, 2 from 1,000)\n"
    "  --l2 X           L2 regularisation per example (default 2e-6)\n"
    "  --lr X           initial learning rate (default 0.6)\n"
    "  -h, --help       this help\n\n"
    "exit status: 0 done, 1 a file could not be read or parsed, 2 bad usage\n\n"
    "examples:\n"
    "  palabre nlu-eval --train train.tsv --test test.tsv\n"
    "  palabre nlu-eval --cv 5 intents.tsv --json\n";

typedef struct eval_args {
    char **train;
    size_t n_train, cap_train;
    char **test;
    size_t n_test, cap_test;
    int folds;
    int json;
    pal_nlu_params params;
} eval_args;

static void add_path(char ***list, size_t *n, size_t *cap, char *path)
{
    pal_xreserve((void **)list, cap, *n + 1, sizeof(char *));
    (*list)[(*n)++] = path;
}

static int parse_number(const char *text, double min, double max, double *out)
{
    char *end = NULL;
    double v = strtod(text, &end);
    if (end == text || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Returns 0 on success, 2 (usage) otherwise, after saying why. */
static int parse_args(int argc, char **argv, eval_args *a)
{
    enum {
        OPT_TRAIN = 256,
        OPT_TEST,
        OPT_CV,
        OPT_JSON,
        OPT_THRESHOLD,
        OPT_SEED,
        OPT_EPOCHS,
        OPT_MIN_DF,
        OPT_L2,
        OPT_LR,
    };
    static const struct option options[] = {
        {"train", required_argument, NULL, OPT_TRAIN},
        {"test", required_argument, NULL, OPT_TEST},
        {"cv", required_argument, NULL, OPT_CV},
        {"json", no_argument, NULL, OPT_JSON},
        {"threshold", required_argument, NULL, OPT_THRESHOLD},
        {"seed", required_argument, NULL, OPT_SEED},
        {"epochs", required_argument, NULL, OPT_EPOCHS},
        {"min-df", required_argument, NULL, OPT_MIN_DF},
        {"l2", required_argument, NULL, OPT_L2},
        {"lr", required_argument, NULL, OPT_LR},
        {NULL, 0, NULL, 0},
    };
    double v;
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case OPT_TRAIN:
            add_path(&a->train, &a->n_train, &a->cap_train, optarg);
            break;
        case OPT_TEST:
            add_path(&a->test, &a->n_test, &a->cap_test, optarg);
            break;
        case OPT_CV:
            if (parse_number(optarg, 2, 100, &v) != 0 || v != (int)v) {
                fprintf(stderr, "palabre nlu-eval: --cv takes a whole number from 2 to 100\n");
                return 2;
            }
            a->folds = (int)v;
            break;
        case OPT_JSON:
            a->json = 1;
            break;
        case OPT_THRESHOLD:
            if (parse_number(optarg, 0, 1, &v) != 0) {
                fprintf(stderr, "palabre nlu-eval: --threshold takes a number from 0 to 1\n");
                return 2;
            }
            a->params.threshold = (float)v;
            break;
        case OPT_SEED:
            if (parse_number(optarg, 0, 4294967295.0, &v) != 0 || v != (double)(uint32_t)v) {
                fprintf(stderr, "palabre nlu-eval: --seed takes a whole number\n");
                return 2;
            }
            a->params.seed = (uint32_t)v;
            break;
        case OPT_EPOCHS:
        case OPT_MIN_DF:
            if (parse_number(optarg, 1, 1000, &v) != 0 || v != (int)v) {
                fprintf(stderr, "palabre nlu-eval: %s takes a whole number from 1 to 1000\n",
                        argv[optind - 2]);
                return 2;
            }
            if (opt == OPT_EPOCHS)
                a->params.epochs = (int)v;
            else
                a->params.min_df = (int)v;
            break;
        case OPT_L2:
        case OPT_LR:
            if (parse_number(optarg, 0, 10, &v) != 0) {
                fprintf(stderr, "palabre nlu-eval: %s takes a number from 0 to 10\n",
                        argv[optind - 2]);
                return 2;
            }
            if (opt == OPT_L2)
                a->params.l2 = (float)v;
            else
                a->params.learning_rate = (float)v;
            break;
        default:
            fprintf(stderr, "palabre nlu-eval: unknown or incomplete option '%s'\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    for (int i = optind; i < argc; i++)
        add_path(&a->train, &a->n_train, &a->cap_train, argv[i]);
    if (a->folds) {
        if (a->n_test || a->n_train == 0) {
            fprintf(stderr, "palabre nlu-eval: --cv K takes FILE arguments and no --test\n");
            return 2;
        }
    } else if (a->n_train == 0 || a->n_test == 0 || optind < argc) {
        fprintf(stderr, "palabre nlu-eval: give --train FILE and --test FILE, or --cv K FILE "
                        "(see --help)\n");
        return 2;
    }
    return 0;
}

static int load_all(char **paths, size_t n, pal_dataset *into)
{
    char err[512];
    for (size_t i = 0; i < n; i++) {
        if (pal_dataset_load(into, paths[i], err, sizeof(err)) != PAL_OK) {
            fprintf(stderr, "palabre nlu-eval: %s\n", err);
            return 1;
        }
    }
    if (into->count == 0) {
        fprintf(stderr, "palabre nlu-eval: no examples in %s%s\n", paths[0],
                n > 1 ? " and the other files" : "");
        return 1;
    }
    return 0;
}

static int run(int argc, char **argv)
{
    eval_args a;
    memset(&a, 0, sizeof(a));
    pal_nlu_params_default(&a.params);
    pal_dataset *train = pal_dataset_new();
    pal_dataset *test = pal_dataset_new();
    pal_eval_report *report = NULL;
    char err[512] = "";
    int rc = parse_args(argc, argv, &a);
    if (rc)
        goto out;
    rc = load_all(a.train, a.n_train, train);
    if (rc)
        goto out;
    if (!a.folds) {
        rc = load_all(a.test, a.n_test, test);
        if (rc)
            goto out;
    }
    pal_err e = a.folds
                    ? pal_eval_cross_validate(train, a.folds, &a.params, &report, err, sizeof(err))
                    : pal_eval_split(train, test, &a.params, &report, err, sizeof(err));
    if (e) {
        fprintf(stderr, "palabre nlu-eval: %s\n", err[0] ? err : pal_err_str(e));
        rc = 1;
        goto out;
    }
    if (a.json) {
        if (pal_eval_print_json(stdout, report) != PAL_OK)
            rc = 1;
    } else {
        pal_eval_print_text(stdout, report);
    }
out:
    pal_eval_report_free(report);
    pal_dataset_free(train);
    pal_dataset_free(test);
    free(a.train);
    free(a.test);
    return rc;
}

const pal_command pal_cmd_nlu_eval = {
    "nlu-eval",
    "measure the intent classifier on labelled TSV files",
    help,
    run,
};
