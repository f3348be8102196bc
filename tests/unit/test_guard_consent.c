/*
 * test_guard_consent.c — opt-out and opt-in keywords: which whole messages
 * mean STOP, START or HELP on which channel, and what palabre answers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "guard/consent.h"

static pal_consent_word classify(const char *channel, const char *text)
{
    return pal_consent_classify(channel, text, strlen(text));
}

static void stop_and_start_on_every_channel(void **state)
{
    (void)state;
    static const char *const channels[] = {"twilio", "api", "messenger", "webchat", "x", NULL};
    for (int c = 0; c < 6; c++) {
        const char *ch = channels[c];
        assert_int_equal(classify(ch, "STOP"), PAL_CONSENT_STOP);
        assert_int_equal(classify(ch, "stop"), PAL_CONSENT_STOP);
        assert_int_equal(classify(ch, "Stop"), PAL_CONSENT_STOP);
        assert_int_equal(classify(ch, "STOPALL"), PAL_CONSENT_STOP);
        assert_int_equal(classify(ch, "unsubscribe"), PAL_CONSENT_STOP);
        assert_int_equal(classify(ch, "ARRET"), PAL_CONSENT_STOP);
        assert_int_equal(classify(ch, "ARRÊT"), PAL_CONSENT_STOP);
        assert_int_equal(classify(ch, "arrêt"), PAL_CONSENT_STOP);
        assert_int_equal(classify(ch, "START"), PAL_CONSENT_START);
        assert_int_equal(classify(ch, "start"), PAL_CONSENT_START);
        assert_int_equal(classify(ch, "UNSTOP"), PAL_CONSENT_START);
    }
}

static void sms_words_only_on_twilio(void **state)
{
    (void)state;
    static const char *const stop_words[] = {"CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "cancel"};
    for (size_t i = 0; i < sizeof(stop_words) / sizeof(stop_words[0]); i++) {
        assert_int_equal(classify("twilio", stop_words[i]), PAL_CONSENT_STOP);
        assert_int_equal(classify("api", stop_words[i]), PAL_CONSENT_NONE);
        assert_int_equal(classify("webchat", stop_words[i]), PAL_CONSENT_NONE);
    }
    assert_int_equal(classify("twilio", "YES"), PAL_CONSENT_START);
    assert_int_equal(classify("twilio", "yes"), PAL_CONSENT_START);
    assert_int_equal(classify("api", "yes"), PAL_CONSENT_NONE);
    assert_int_equal(classify("twilio", "HELP"), PAL_CONSENT_HELP);
    assert_int_equal(classify("twilio", "info"), PAL_CONSENT_HELP);
    assert_int_equal(classify("api", "help"), PAL_CONSENT_NONE); /* the bot's */
    assert_int_equal(classify("messenger", "INFO"), PAL_CONSENT_NONE);
}

static void whole_message_only(void **state)
{
    (void)state;
    assert_int_equal(classify("twilio", "please stop"), PAL_CONSENT_NONE);
    assert_int_equal(classify("api", "don't stop the music"), PAL_CONSENT_NONE);
    assert_int_equal(classify("twilio", "stop it"), PAL_CONSENT_NONE);
    assert_int_equal(classify("twilio", "STOP STOP"), PAL_CONSENT_NONE);
    assert_int_equal(classify("api", "arrêt de bus"), PAL_CONSENT_NONE);
    assert_int_equal(classify("twilio", "stops"), PAL_CONSENT_NONE);
    assert_int_equal(classify("twilio", "s top"), PAL_CONSENT_NONE);
    assert_int_equal(classify("twilio", "startup"), PAL_CONSENT_NONE);
    assert_int_equal(classify("twilio", "yes please"), PAL_CONSENT_NONE);
}

static void trims_space_and_punctuation(void **state)
{
    (void)state;
    assert_int_equal(classify("api", "  STOP\n"), PAL_CONSENT_STOP);
    assert_int_equal(classify("api", "\tstop.\r\n"), PAL_CONSENT_STOP);
    assert_int_equal(classify("api", "Arrêt !"), PAL_CONSENT_STOP);
    assert_int_equal(classify("api", "STOP!!!"), PAL_CONSENT_STOP);
    assert_int_equal(classify("api", "« Stop »"), PAL_CONSENT_STOP);      /* Unicode quotes */
    assert_int_equal(classify("api", "stop\xC2\xA0!"), PAL_CONSENT_STOP); /* no-break space */
    assert_int_equal(classify("api", "¡START!"), PAL_CONSENT_START);
    assert_int_equal(classify("twilio", "...Cancel..."), PAL_CONSENT_STOP);
    assert_int_equal(classify("api", "ＳＴＯＰ"), PAL_CONSENT_STOP);      /* fullwidth */
    assert_int_equal(classify("api", "ARRE\xCC\x82T"), PAL_CONSENT_STOP); /* combining ^ */
    assert_int_equal(classify("api", "\xE2\x80\x8BSTOP\xE2\x80\x8B"), PAL_CONSENT_STOP);
    assert_int_equal(classify("api", "!!!"), PAL_CONSENT_NONE);
    assert_int_equal(classify("api", " "), PAL_CONSENT_NONE);
}

static void empty_invalid_and_long(void **state)
{
    (void)state;
    assert_int_equal(pal_consent_classify("twilio", "", 0), PAL_CONSENT_NONE);
    assert_int_equal(pal_consent_classify("twilio", NULL, 0), PAL_CONSENT_NONE);
    assert_int_equal(classify("twilio", "ST\xFFOP"), PAL_CONSENT_NONE);
    assert_int_equal(classify("twilio", "STOP\xC3"), PAL_CONSENT_NONE);     /* truncated */
    assert_int_equal(classify("twilio", "\xC0\xAFSTOP"), PAL_CONSENT_NONE); /* overlong */
    assert_int_equal(classify("twilio", "ARR\xED\xA0\x80T"), PAL_CONSENT_NONE);
    assert_int_equal(pal_consent_classify("twilio", "STOP\0", 5), PAL_CONSENT_NONE);
    assert_int_equal(pal_consent_classify("twilio", "ST\0OP", 5), PAL_CONSENT_NONE);
    /* Only len bytes are read: no NUL needed after them. */
    assert_int_equal(pal_consent_classify("twilio", "STOPPED", 4), PAL_CONSENT_STOP);

    char big[100000];
    memset(big, ' ', sizeof(big));
    memcpy(big + 50000, "STOP", 4);
    assert_int_equal(pal_consent_classify("twilio", big, sizeof(big)), PAL_CONSENT_STOP);
    memset(big, 'a', sizeof(big));
    assert_int_equal(pal_consent_classify("twilio", big, sizeof(big)), PAL_CONSENT_NONE);
}

static void replies_in_french_and_english(void **state)
{
    (void)state;
    assert_string_equal(
        pal_consent_reply(PAL_CONSENT_STOP, "fr"),
        "Vous ne recevrez plus de messages de notre part. Écrivez START pour reprendre.");
    assert_string_equal(pal_consent_reply(PAL_CONSENT_STOP, "en"),
                        "You will not receive any more messages from us. Reply START to resume.");
    assert_string_equal(pal_consent_reply(PAL_CONSENT_STOP, "de"),
                        pal_consent_reply(PAL_CONSENT_STOP, "en"));
    assert_string_equal(pal_consent_reply(PAL_CONSENT_STOP, NULL),
                        pal_consent_reply(PAL_CONSENT_STOP, "en"));
    assert_string_equal(pal_consent_reply(PAL_CONSENT_STOP, "fr-CA"),
                        pal_consent_reply(PAL_CONSENT_STOP, "fr"));
    assert_string_equal(pal_consent_reply(PAL_CONSENT_STOP, "FR"),
                        pal_consent_reply(PAL_CONSENT_STOP, "fr"));
    assert_string_equal(pal_consent_reply(PAL_CONSENT_STOP, "fra"),
                        pal_consent_reply(PAL_CONSENT_STOP, "en"));

    const char *start_fr = pal_consent_reply(PAL_CONSENT_START, "fr");
    const char *start_en = pal_consent_reply(PAL_CONSENT_START, "en");
    assert_non_null(strstr(start_fr, "STOP"));
    assert_non_null(strstr(start_en, "Welcome back"));
    assert_string_not_equal(start_fr, start_en);
    assert_non_null(strstr(pal_consent_reply(PAL_CONSENT_HELP, "en"), "STOP"));
    assert_non_null(strstr(pal_consent_reply(PAL_CONSENT_HELP, "fr"), "STOP"));
    assert_null(pal_consent_reply(PAL_CONSENT_NONE, "fr"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stop_and_start_on_every_channel),
        cmocka_unit_test(sms_words_only_on_twilio),
        cmocka_unit_test(whole_message_only),
        cmocka_unit_test(trims_space_and_punctuation),
        cmocka_unit_test(empty_invalid_and_long),
        cmocka_unit_test(replies_in_french_and_english),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
