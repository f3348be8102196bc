/*
 * classifier.h — the intent classifier: trained from examples at load time.
 *
 * Model: multinomial logistic regression over hashed features (features.h)
 * weighted by TF-IDF, each feature group scaled to unit length. Trained in
 * C by stochastic gradient descent with L2 regularisation. Outputs a
 * probability for every intent; the answer is "none" (PAL_NLU_NONE) when the
 * best probability is below the threshold, when the message has no feature
 * the model knows, or when the best intent is a trained out-of-scope class
 * (examples labelled "oos" or "none").
 *
 * One model serves a bot that speaks several languages: messages are
 * stemmed in their own language, or in the training set's main language
 * when detection cannot tell.
 *
 * A trained model is immutable: classifying is thread-safe as long as each
 * thread uses its own pal_analyzer.
 */
#ifndef PAL_NLU_CLASSIFIER_H
#define PAL_NLU_CLASSIFIER_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "text/analyze.h"

typedef struct pal_nlu_model pal_nlu_model; /* opaque */

enum { PAL_NLU_NONE = -1, PAL_NLU_RANKED = 5 };

typedef struct pal_nlu_example {
    const char *intent; /* label; "oos" or "none" mark out-of-scope examples */
    const char *text;   /* UTF-8, NUL-terminated */
} pal_nlu_example;

typedef struct pal_nlu_params {
    float threshold;     /* below this probability the answer is none */
    int epochs;          /* SGD passes over the examples */
    float learning_rate; /* initial SGD step */
    float l2;            /* L2 regularisation per example */
    int min_df;          /* a feature must occur in this many examples;
                            0: 1 under 1,000 examples, 2 from 1,000 */
    uint32_t seed;       /* shuffling; same seed, same model */
} pal_nlu_params;

/* palabre's defaults: the same for every bot and corpus. */
void pal_nlu_params_default(pal_nlu_params *params);

/* Trains a model on n examples (borrowed for the call). On PAL_OK *out is the
 * caller's, free with pal_nlu_model_free(). Errors: PAL_ERR_INVALID when
 * there are no examples or fewer than one in-scope intent (errbuf says
 * which), PAL_ERR_UTF8 for an example that is not valid UTF-8 (errbuf names
 * its index). errbuf (errlen bytes) may be NULL. */
pal_err pal_nlu_train(const pal_nlu_example *examples, size_t n, const pal_nlu_params *params,
                      pal_nlu_model **out, char *errbuf, size_t errlen);

/* NULL is a no-op. */
void pal_nlu_model_free(pal_nlu_model *model);

/* Number of intents (the out-of-scope class, if trained, is not one). */
size_t pal_nlu_intent_count(const pal_nlu_model *model);
/* Name of intent i < count; owned by the model. */
const char *pal_nlu_intent_name(const pal_nlu_model *model, size_t i);
/* Index of the intent called name, or PAL_NLU_NONE. */
int pal_nlu_intent_find(const pal_nlu_model *model, const char *name);
/* Memory held by the model, in bytes. */
size_t pal_nlu_model_bytes(const pal_nlu_model *model);
/* Number of distinct features the model knows. */
size_t pal_nlu_feature_count(const pal_nlu_model *model);
/* The threshold the model was trained with. */
float pal_nlu_threshold(const pal_nlu_model *model);

typedef struct pal_nlu_guess {
    int intent; /* intent index, or PAL_NLU_NONE for the out-of-scope class */
    float probability;
} pal_nlu_guess;

typedef struct pal_nlu_result {
    int intent;       /* the answer: an intent index, or PAL_NLU_NONE */
    float confidence; /* probability of the best guess (even when the answer is none) */
    pal_nlu_guess ranked[PAL_NLU_RANKED]; /* best first */
    size_t n_ranked;
} pal_nlu_result;

/* Classifies an analysed message (from pal_analyze on the same analyzer).
 * threshold < 0 uses the model's own. Scratch memory comes from the
 * analyzer's arena. */
pal_err pal_nlu_classify(const pal_nlu_model *model, pal_analyzer *analyzer,
                         const pal_analysis *analysis, float threshold, pal_nlu_result *out);

/* Analyses then classifies text[0..len). Errors of pal_analyze. */
pal_err pal_nlu_classify_text(const pal_nlu_model *model, pal_analyzer *analyzer, const char *text,
                              size_t len, pal_nlu_result *out);

#endif
