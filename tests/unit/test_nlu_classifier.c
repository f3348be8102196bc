/*
 * test_nlu_classifier.c — the intent classifier on a small bilingual bot,
 * with phrasings it never saw, typos, and hostile input.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nlu/classifier.h"

static const pal_nlu_example examples[] = {
    {"greet", "bonjour"},
    {"greet", "salut"},
    {"greet", "bonsoir à tous"},
    {"greet", "coucou"},
    {"greet", "hello"},
    {"greet", "hi there"},
    {"greet", "good morning"},
    {"greet", "hey"},
    {"order_beer", "je voudrais une bière"},
    {"order_beer", "deux corona svp"},
    {"order_beer", "on peut commander à boire ?"},
    {"order_beer", "je veux commander des bières"},
    {"order_beer", "une bud s'il vous plaît"},
    {"order_beer", "can I get a beer"},
    {"order_beer", "3 coors please"},
    {"order_beer", "I'd like to order some beers"},
    {"order_beer", "two coronas"},
    {"order_beer", "want a beer"},
    {"hours", "quels sont vos horaires"},
    {"hours", "vous êtes ouverts quand ?"},
    {"hours", "à quelle heure ouvre le magasin"},
    {"hours", "horaires d'ouverture"},
    {"hours", "what are your opening hours"},
    {"hours", "when do you open"},
    {"hours", "what time does the store close"},
    {"hours", "are you open on sunday"},
    {"order_status", "où est ma commande"},
    {"order_status", "je n'ai pas reçu mon colis"},
    {"order_status", "suivi de commande 12345"},
    {"order_status", "ma livraison est en retard"},
    {"order_status", "where is my order"},
    {"order_status", "I haven't received my package"},
    {"order_status", "track order 98765"},
    {"order_status", "my delivery is late"},
    {"complaint", "c'est inadmissible, je suis très mécontent"},
    {"complaint", "je veux porter plainte"},
    {"complaint", "service client nul, très déçu"},
    {"complaint", "votre produit est cassé"},
    {"complaint", "this is unacceptable, I am very unhappy"},
    {"complaint", "I want to make a complaint"},
    {"complaint", "terrible customer service, so disappointed"},
    {"complaint", "your product arrived broken"},
};

enum { N_EXAMPLES = sizeof(examples) / sizeof(examples[0]) };

static int setup(void **state)
{
    pal_nlu_model *model = NULL;
    char err[256];
    if (pal_nlu_train(examples, N_EXAMPLES, NULL, &model, err, sizeof(err)) != PAL_OK)
        return -1;
    pal_analyzer *analyzer = NULL;
    if (pal_analyzer_new(&analyzer) != PAL_OK)
        return -1;
    void **pair = malloc(2 * sizeof(void *));
    pair[0] = model;
    pair[1] = analyzer;
    *state = pair;
    return 0;
}

static int teardown(void **state)
{
    void **pair = *state;
    pal_nlu_model_free(pair[0]);
    pal_analyzer_free(pair[1]);
    free(pair);
    return 0;
}

static const char *classify(void **state, const char *text, pal_nlu_result *r)
{
    void **pair = *state;
    assert_int_equal(pal_nlu_classify_text(pair[0], pair[1], text, strlen(text), r), PAL_OK);
    return r->intent == PAL_NLU_NONE ? "none" : pal_nlu_intent_name(pair[0], (size_t)r->intent);
}

static void unseen_phrasings_in_both_languages(void **state)
{
    static const struct {
        const char *text;
        const char *intent;
    } cases[] = {
        {"Bonjour !", "greet"},
        {"hello there", "greet"},
        {"je voudrais commander deux bières", "order_beer"},
        {"Je voudrais une biere", "order_beer"}, /* no accent */
        {"can i get 2 beers please", "order_beer"},
        {"vous ouvrez à quelle heure ?", "hours"},
        {"what are the opening hours on saturday", "hours"},
        {"ou est ma commande 55555", "order_status"},
        {"where is my package", "order_status"},
        {"je suis très déçu de votre service", "complaint"},
        {"very disappointed, the product is broken", "complaint"},
        {"my order hasnt arrived", "order_status"}, /* typo, no apostrophe */
    };
    size_t right = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pal_nlu_result r;
        const char *got = classify(state, cases[i].text, &r);
        if (strcmp(got, cases[i].intent) == 0)
            right++;
        else
            print_message("miss: '%s' -> %s (%.2f), expected %s\n", cases[i].text, got,
                          (double)r.confidence, cases[i].intent);
    }
    /* A small bot: allow one miss among twelve unseen phrasings. */
    assert_true(right >= sizeof(cases) / sizeof(cases[0]) - 1);
}

static void probabilities_are_ranked_and_bounded(void **state)
{
    pal_nlu_result r;
    classify(state, "deux corona svp", &r);
    assert_true(r.n_ranked >= 2);
    float sum = 0;
    for (size_t i = 0; i < r.n_ranked; i++) {
        assert_true(r.ranked[i].probability >= 0 && r.ranked[i].probability <= 1);
        if (i > 0)
            assert_true(r.ranked[i - 1].probability >= r.ranked[i].probability);
        sum += r.ranked[i].probability;
    }
    assert_true(sum <= 1.0001f);
    assert_float_equal(r.confidence, r.ranked[0].probability, 1e-6);
    assert_true(r.confidence > 0.5f); /* a training example is known well */
}

static void unknown_text_is_none(void **state)
{
    pal_nlu_result r;
    assert_string_equal(classify(state, "", &r), "none");
    assert_float_equal(r.confidence, 0, 0);
    assert_string_equal(classify(state, "?!?!", &r), "none");
    assert_string_equal(classify(state, "zxqv wmpt", &r), "none");
    assert_string_equal(classify(state, "ЖЖЖ ЩЩЩ", &r), "none");
}

static void hostile_input_never_crashes(void **state)
{
    void **pair = *state;
    pal_nlu_result r;
    assert_int_equal(pal_nlu_classify_text(pair[0], pair[1], "\xC3\x28", 2, &r), PAL_ERR_UTF8);
    assert_int_equal(pal_nlu_classify_text(pair[0], pair[1], "a\0b", 3, &r), PAL_ERR_UTF8);
    classify(state, "🍺🍺🍺😀", &r);
    classify(state, "bière пиво 啤酒 beer", &r);

    size_t len = PAL_TEXT_MAX_BYTES;
    char *big = malloc(len + 1);
    for (size_t i = 0; i < len; i += 8)
        memcpy(big + i, "biere ! ", 8);
    big[len] = '\0';
    assert_int_equal(pal_nlu_classify_text(pair[0], pair[1], big, len, &r), PAL_OK);
    assert_true(r.confidence >= 0 && r.confidence <= 1 && !isnan(r.confidence));
    assert_int_equal(pal_nlu_classify_text(pair[0], pair[1], big, len + 1, &r), PAL_ERR_LIMIT);
    free(big);
}

static void same_seed_same_model(void **state)
{
    (void)state;
    pal_nlu_model *a = NULL;
    pal_nlu_model *b = NULL;
    pal_analyzer *an = NULL;
    assert_int_equal(pal_nlu_train(examples, N_EXAMPLES, NULL, &a, NULL, 0), PAL_OK);
    assert_int_equal(pal_nlu_train(examples, N_EXAMPLES, NULL, &b, NULL, 0), PAL_OK);
    assert_int_equal(pal_analyzer_new(&an), PAL_OK);
    const char *texts[] = {"bonjour", "a beer please", "horaires", "plainte"};
    for (size_t i = 0; i < 4; i++) {
        pal_nlu_result ra;
        pal_nlu_result rb;
        assert_int_equal(pal_nlu_classify_text(a, an, texts[i], strlen(texts[i]), &ra), PAL_OK);
        assert_int_equal(pal_nlu_classify_text(b, an, texts[i], strlen(texts[i]), &rb), PAL_OK);
        assert_int_equal(ra.intent, rb.intent);
        assert_float_equal(ra.confidence, rb.confidence, 0);
    }
    assert_int_equal(pal_nlu_intent_count(a), 5);
    assert_int_equal(pal_nlu_intent_find(a, "hours"), 2);
    assert_int_equal(pal_nlu_intent_find(a, "nope"), PAL_NLU_NONE);
    assert_true(pal_nlu_model_bytes(a) > 0);
    pal_nlu_model_free(a);
    pal_nlu_model_free(b);
    pal_analyzer_free(an);
}

static void out_of_scope_examples_teach_refusal(void **state)
{
    (void)state;
    pal_nlu_example with_oos[N_EXAMPLES + 6];
    memcpy(with_oos, examples, sizeof(examples));
    const char *oos[] = {"quel temps fait-il", "what's the weather",   "raconte une blague",
                         "tell me a joke",     "qui a gagné le match", "who won the game"};
    for (size_t i = 0; i < 6; i++)
        with_oos[N_EXAMPLES + i] = (pal_nlu_example){"oos", oos[i]};
    pal_nlu_model *m = NULL;
    pal_analyzer *an = NULL;
    assert_int_equal(pal_nlu_train(with_oos, N_EXAMPLES + 6, NULL, &m, NULL, 0), PAL_OK);
    assert_int_equal(pal_analyzer_new(&an), PAL_OK);
    assert_int_equal(pal_nlu_intent_count(m), 5); /* oos is not an intent */
    pal_nlu_result r;
    const char *t = "tell me the weather";
    assert_int_equal(pal_nlu_classify_text(m, an, t, strlen(t), &r), PAL_OK);
    assert_int_equal(r.intent, PAL_NLU_NONE);
    pal_nlu_model_free(m);
    pal_analyzer_free(an);
}

static void training_errors_are_reported(void **state)
{
    (void)state;
    pal_nlu_model *m = NULL;
    char err[256] = "";
    assert_int_equal(pal_nlu_train(examples, 0, NULL, &m, err, sizeof(err)), PAL_ERR_INVALID);
    pal_nlu_example only_oos[] = {{"oos", "weather"}, {"none", "joke"}};
    assert_int_equal(pal_nlu_train(only_oos, 2, NULL, &m, err, sizeof(err)), PAL_ERR_INVALID);
    assert_non_null(strstr(err, "no in-scope intent"));
    pal_nlu_example bad[] = {{"greet", "hello"}, {"greet", "h\xC3\x28llo"}};
    assert_int_equal(pal_nlu_train(bad, 2, NULL, &m, err, sizeof(err)), PAL_ERR_UTF8);
    assert_non_null(strstr(err, "example 2"));
    pal_nlu_example one[] = {{"greet", "hello"}};
    assert_int_equal(pal_nlu_train(one, 1, NULL, &m, err, sizeof(err)), PAL_OK);
    pal_nlu_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unseen_phrasings_in_both_languages),
        cmocka_unit_test(probabilities_are_ranked_and_bounded),
        cmocka_unit_test(unknown_text_is_none),
        cmocka_unit_test(hostile_input_never_crashes),
        cmocka_unit_test(same_seed_same_model),
        cmocka_unit_test(out_of_scope_examples_teach_refusal),
        cmocka_unit_test(training_errors_are_reported),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
