/*
 * directline.h — the protocol side of the `directline` channel: Bot
 * Framework Direct Line 3.0, so that Microsoft's Web Chat widget talks to
 * palabre (CHANNELS.md §6). server/routes_directline.c serves the HTTP
 * routes; this module knows nothing of the server:
 *
 *   - tokens: stateless, so they survive restarts and need no table:
 *       base64url(payload) "." base64url(HMAC-SHA256(secret, payload))
 *     where payload is the JSON {"b": bot, "c": conversation id,
 *     "u": user id (omitted when none), "e": expiry, Unix seconds} and
 *     secret the bot's Direct Line secret (channel setting `secret`).
 *     Changing the secret revokes every token of the bot.
 *   - conversation ids: 128 random bits, base64url without padding;
 *   - the activity a client POSTs (hostile input: parsed strictly);
 *   - the activities of a conversation, made from the store's message
 *     objects (store.h), with ids "<conversation id>|<message id on 10
 *     digits>" and the message id as the watermark.
 *
 * Threads: every function is thread-safe (libsodium must be initialised,
 * sodium_init(), before the first conversation id is made).
 */
#ifndef PAL_CHANNELS_DIRECTLINE_H
#define PAL_CHANNELS_DIRECTLINE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "channels/api.h"

enum {
    PAL_DIRECTLINE_CONVERSATION_ID_LEN = 22,              /* base64url of 16 random bytes */
    PAL_DIRECTLINE_BOT_MAX = 127,                         /* bytes of a bot name in a token */
    PAL_DIRECTLINE_USER_MAX = 128,                        /* bytes of a user id */
    PAL_DIRECTLINE_CLIENT_ID_MAX = PAL_API_CLIENT_ID_MAX, /* bytes of a clientActivityID */
    PAL_DIRECTLINE_TOKEN_MAX = 1024,                      /* bytes of a token */
    /* "<conversation id>|<10+ digits>" and its NUL */
    PAL_DIRECTLINE_ACTIVITY_ID_SIZE = PAL_DIRECTLINE_CONVERSATION_ID_LEN + 1 + 20 + 1,
};

/* What a token says. */
typedef struct pal_directline_claims {
    char bot[PAL_DIRECTLINE_BOT_MAX + 1];
    char conversation[PAL_DIRECTLINE_CONVERSATION_ID_LEN + 1];
    char user[PAL_DIRECTLINE_USER_MAX + 1]; /* "" when the token names no user */
    int64_t expires;                        /* Unix seconds */
} pal_directline_claims;

/* A new random conversation id into out (NUL-terminated). */
void pal_directline_new_conversation_id(char out[PAL_DIRECTLINE_CONVERSATION_ID_LEN + 1]);

/* True when id has the shape of a conversation id this module makes. */
bool pal_directline_valid_conversation_id(const char *id);

/* True when s is acceptable as a user id or a clientActivityID: 1 to max
 * bytes of valid UTF-8 without control characters. */
bool pal_directline_valid_id(const char *s, size_t max);

/* Mints the token of claims, signed with secret[0..secret_len). On PAL_OK
 * *out (OUT) is the caller's: free(). PAL_ERR_INVALID when a claim is
 * malformed (bot empty or too long, conversation id not valid, user not
 * valid), PAL_ERR_INTERNAL when libcrypto fails. */
pal_err pal_directline_token_mint(const char *secret, size_t secret_len,
                                  const pal_directline_claims *claims, char **out);

/* Reads the claims of token without checking its signature: only to learn
 * which bot's secret checks it (nothing read here may be trusted before
 * pal_directline_token_check). PAL_ERR_INVALID when malformed. */
pal_err pal_directline_token_peek(const char *token, pal_directline_claims *out);

/* Checks token against secret[0..secret_len) at time now_s (Unix seconds)
 * and fills *out (OUT) with its claims. Errors: PAL_ERR_INVALID (malformed,
 * or signed with another secret), PAL_ERR_STATE (well signed but expired:
 * the answer is TokenExpired). The signature is compared in constant time. */
pal_err pal_directline_token_check(const char *token, const char *secret, size_t secret_len,
                                   int64_t now_s, pal_directline_claims *out);

/* An activity a client POSTed. Strings are borrowed from the parsed
 * document. */
typedef struct pal_directline_activity {
    const char *type;               /* "message", "typing", "event", ... */
    const char *text;               /* message: 1..max_text bytes; NULL otherwise */
    const char *from_id;            /* from.id, or NULL */
    const char *client_activity_id; /* channelData.clientActivityID, or NULL */
    char lang[4];                   /* the primary subtag of `locale`, lower case ("fr"), or "" */
} pal_directline_activity;

/* Parses body[0..len) (hostile input): valid UTF-8 without NUL, a JSON
 * object without duplicate keys, `type` a string of 1 to 64 bytes; for a
 * message, `text` a string of 1 to max_text bytes; `from.id` and
 * `channelData.clientActivityID`, when present, valid ids
 * (pal_directline_valid_id). Other members are ignored. On PAL_OK *root
 * (OUT) owns the strings of *out: the caller frees it with json_decref().
 * On PAL_ERR_PARSE, *refusal says what to answer (4xx) and *root is NULL. */
pal_err pal_directline_parse_activity(const char *body, size_t len, size_t max_text, json_t **root,
                                      pal_directline_activity *out, pal_api_refusal *refusal);

/* The id of the activity of message message_id into out (cap bytes, at
 * least PAL_DIRECTLINE_ACTIVITY_ID_SIZE): "<conversation>|0000000042". */
void pal_directline_activity_id(const char *conversation, int64_t message_id, char *out,
                                size_t cap);

/* The activity of a stored message (a message object of store.h, borrowed)
 * in conversation (the Direct Line id): the customer's messages come from
 * user_id (role "user", with channelData.clientActivityID when the message
 * has a channel_message_id: Web Chat matches its own messages by it), the
 * replies from bot (role "bot", with suggestedActions for quick replies and
 * replyToId). A new reference (caller json_decref()s), or NULL when the
 * object is not a message this can show. */
json_t *pal_directline_activity_json(const json_t *message, const char *conversation,
                                     const char *user_id, const char *bot);

#endif
