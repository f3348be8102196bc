/*
 * consent.c — opt-out and opt-in keywords (see consent.h).
 *
 * Nearly every message is not a keyword, and nearly every keyword is ASCII,
 * so the work is ordered to be cheap for both: white space and ASCII
 * punctuation are trimmed in place; anything left longer than KEYWORD_MAX
 * bytes is not a keyword (no allocation, whatever the message's size); ASCII
 * text is compared case-insensitively as it is; only short non-ASCII text
 * ("ARRÊT", "ＳＴＯＰ", "« Stop »") is folded (text/normalize.h: NFKC, case
 * folding, accents removed) and trimmed again of Unicode white space and
 * punctuation.
 *
 * Assumes: the keyword lists are those of CHANNELS.md (Twilio's opt-out
 * list on SMS, plus STOP/ARRET/START everywhere).
 */
#include "guard/consent.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <utf8proc.h>

#include "text/normalize.h"
#include "text/utf8.h"

/* The longest text, once trimmed of ASCII space and punctuation, that may
 * still be a keyword: "UNSUBSCRIBE" in fullwidth letters (3 bytes each) or
 * with a combining mark on every letter fits. */
enum { KEYWORD_MAX = 64 };

typedef struct keyword {
    const char *word; /* folded: lower case, no accent */
    pal_consent_word meaning;
    bool sms_only; /* Twilio's list; elsewhere the word is the bot's */
} keyword;

static const keyword keywords[] = {
    {"stop", PAL_CONSENT_STOP, false},        {"stopall", PAL_CONSENT_STOP, false},
    {"unsubscribe", PAL_CONSENT_STOP, false}, {"arret", PAL_CONSENT_STOP, false},
    {"start", PAL_CONSENT_START, false},      {"unstop", PAL_CONSENT_START, false},
    {"cancel", PAL_CONSENT_STOP, true},       {"end", PAL_CONSENT_STOP, true},
    {"quit", PAL_CONSENT_STOP, true},         {"revoke", PAL_CONSENT_STOP, true},
    {"optout", PAL_CONSENT_STOP, true},       {"yes", PAL_CONSENT_START, true},
    {"help", PAL_CONSENT_HELP, true},         {"info", PAL_CONSENT_HELP, true},
};

static bool ascii_trimmable(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= '!' && c <= '/') ||
           (c >= ':' && c <= '@') || (c >= '[' && c <= '`') || (c >= '{' && c <= '~');
}

/* White space, punctuation and invisible format characters. */
static bool unicode_trimmable(int32_t cp)
{
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_ZS:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
        return true;
    default:
        return false;
    }
}

/* The keyword word[0..len) is (case-insensitively), on channel. */
static pal_consent_word lookup(const char *word, size_t len, bool sms)
{
    for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++) {
        const keyword *k = &keywords[i];
        if ((!k->sms_only || sms) && strlen(k->word) == len && strncasecmp(word, k->word, len) == 0)
            return k->meaning;
    }
    return PAL_CONSENT_NONE;
}

/* Trims Unicode white space and punctuation off both ends of valid UTF-8
 * s[*start..*end). */
static void unicode_trim(const char *s, size_t *start, size_t *end)
{
    int32_t cp;
    while (*start < *end) {
        size_t n = pal_utf8_decode(s + *start, *end - *start, &cp);
        if (n == 0 || !unicode_trimmable(cp))
            break;
        *start += n;
    }
    while (*end > *start) {
        size_t begin = *end - 1;
        while (begin > *start && ((unsigned char)s[begin] & 0xC0) == 0x80)
            begin--;
        size_t n = pal_utf8_decode(s + begin, *end - begin, &cp);
        if (n == 0 || !unicode_trimmable(cp))
            break;
        *end = begin;
    }
}

pal_consent_word pal_consent_classify(const char *channel, const char *text, size_t len)
{
    bool sms = channel && strcmp(channel, "twilio") == 0;
    size_t start = 0, end = len;
    bool ascii = true;

    if (!text)
        return PAL_CONSENT_NONE;
    while (start < end && ascii_trimmable((unsigned char)text[start]))
        start++;
    while (end > start && ascii_trimmable((unsigned char)text[end - 1]))
        end--;
    if (end == start || end - start > KEYWORD_MAX)
        return PAL_CONSENT_NONE;
    /* The trimmed ends are ASCII: checking the middle checks the whole text. */
    if (pal_utf8_check_text(text + start, end - start, NULL) != PAL_OK)
        return PAL_CONSENT_NONE;
    for (size_t i = start; i < end && ascii; i++)
        ascii = (unsigned char)text[i] < 0x80;
    if (ascii)
        return lookup(text + start, end - start, sms);

    char copy[KEYWORD_MAX + 1];
    memcpy(copy, text + start, end - start);
    copy[end - start] = '\0';
    char *folded = pal_text_fold_dup(copy);
    if (!folded)
        return PAL_CONSENT_NONE;
    size_t fstart = 0, fend = strlen(folded);
    unicode_trim(folded, &fstart, &fend);
    pal_consent_word word = lookup(folded + fstart, fend - fstart, sms);
    free(folded);
    return word;
}

/* "fr", "FR", "fr-CA", "fr_FR": French. */
static bool is_french(const char *lang)
{
    return lang && strncasecmp(lang, "fr", 2) == 0 &&
           (lang[2] == '\0' || lang[2] == '-' || lang[2] == '_');
}

const char *pal_consent_reply(pal_consent_word word, const char *lang)
{
    bool fr = is_french(lang);
    switch (word) {
    case PAL_CONSENT_STOP:
        return fr ? "Vous ne recevrez plus de messages de notre part. Écrivez START pour reprendre."
                  : "You will not receive any more messages from us. Reply START to resume.";
    case PAL_CONSENT_START:
        return fr ? "Bon retour ! Vous recevrez de nouveau nos messages. Écrivez STOP pour ne "
                    "plus en recevoir."
                  : "Welcome back! You will receive messages from us again. Reply STOP to stop "
                    "them.";
    case PAL_CONSENT_HELP:
        return fr ? "Vous échangez avec un assistant automatique. Écrivez STOP pour ne plus "
                    "recevoir de messages, START pour reprendre."
                  : "You are talking with an automated assistant. Reply STOP to stop receiving "
                    "messages, START to resume.";
    case PAL_CONSENT_NONE:
        break;
    }
    return NULL;
}
