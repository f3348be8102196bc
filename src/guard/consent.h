/*
 * consent.h — opt-out and opt-in keywords (CHANNELS.md, Twilio: "Opt-out").
 *
 * A customer who writes STOP must stop hearing from palabre on that channel
 * until they write START; on SMS (Twilio) the carriers' keyword list applies
 * too. This module only says what a message means and what palabre answers;
 * recording consent per customer and channel is the caller's (the store's).
 *
 * A keyword counts only when it is the whole message: "stop" inside a
 * sentence ("don't stop the music") is not an opt-out.
 *
 * Threads: every function is pure and thread-safe.
 */
#ifndef PAL_GUARD_CONSENT_H
#define PAL_GUARD_CONSENT_H

#include <stddef.h>

typedef enum pal_consent_word {
    PAL_CONSENT_NONE = 0, /* not a consent keyword: the bot answers as usual */
    PAL_CONSENT_STOP,     /* opt out of messages on this channel */
    PAL_CONSENT_START,    /* opt back in */
    PAL_CONSENT_HELP,     /* SMS only: who we are and how to stop */
} pal_consent_word;

/* What the message text[0..len) (borrowed; need not be NUL-terminated)
 * means for consent on channel ("twilio", "api", ...; borrowed, may be NULL
 * for "any channel"). The whole text, trimmed of white space and
 * punctuation ('.', '!', '«', ...), compared case- and accent-insensitively
 * (NFKC + case folding + accents removed), must be the keyword.
 * On every channel: STOP, STOPALL, UNSUBSCRIBE, ARRET, ARRÊT -> STOP;
 * START, UNSTOP -> START. On "twilio" (SMS) also CANCEL, END, QUIT, REVOKE,
 * OPTOUT -> STOP; YES -> START; HELP, INFO -> HELP (on other channels HELP
 * is left to the bot). Invalid UTF-8 or a NUL byte -> NONE. */
pal_consent_word pal_consent_classify(const char *channel, const char *text, size_t len);

/* The confirmation palabre sends after word, in lang ("fr", "fr-CA",
 * "fr_FR" give French; anything else, NULL included, English). Static
 * storage, never to be freed; NULL for PAL_CONSENT_NONE. */
const char *pal_consent_reply(pal_consent_word word, const char *lang);

#endif
