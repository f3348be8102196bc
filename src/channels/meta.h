/*
 * meta.h — what Meta's two channels (Messenger, WhatsApp: CHANNELS.md §1-2)
 * share: the GET hub.challenge handshake and the X-Hub-Signature-256 check;
 * and the plumbing every platform adapter of this family needs (Telegram
 * uses it too): loading a hostile webhook body, checking ids and texts,
 * the {"at": ms} address, splitting long texts, and one JSON POST with
 * libcurl. These are internal to src/channels (pal_meta__ names).
 *
 * Assumes: bodies are untrusted (a verified signature proves the sender,
 * not the shape); settings are read through pal_channel_setting().
 *
 * Threads: every function is thread-safe (the CURL handle is the caller's).
 */
#ifndef PAL_CHANNELS_META_H
#define PAL_CHANNELS_META_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "channels/channel.h"

enum {
    PAL_META_ID_MAX = 128,             /* bytes of a platform id */
    PAL_META_TEXT_MAX = 4096,          /* bytes of an inbound text */
    PAL_META_CHALLENGE_MAX = 256,      /* bytes of hub.challenge */
    PAL_META_RESPONSE_MAX = 64 * 1024, /* bytes of a platform's answer kept */
};

/* GET handshake (Messenger and WhatsApp): hub.mode=subscribe and
 * hub.verify_token equal to the setting verify_token -> 200 text/plain with
 * hub.challenge (1..256 printable ASCII bytes, else 400); otherwise 403. */
void pal_meta__handshake(const pal_channel_settings *settings, const pal_channel_request *request,
                         pal_channel_answer *answer);

/* True when X-Hub-Signature-256 is "sha256=" + the 64 lower-case hex digits
 * of HMAC-SHA256(setting app_secret, raw body), compared in constant time. */
bool pal_meta__verify(const pal_channel_settings *settings, const pal_channel_request *request);

/* Fills *refusal and returns PAL_ERR_PARSE. */
pal_err pal_meta__refuse(pal_api_refusal *refusal, unsigned status, const char *code,
                         const char *message);

/* Loads the request body: valid UTF-8 without NUL bytes, a JSON object
 * without duplicate keys (strings may hold \u0000: see pal_meta__text).
 * On PAL_OK *root (OUT) is the caller's (json_decref); on PAL_ERR_PARSE
 * *refusal says what to answer and *root is NULL. */
pal_err pal_meta__load(const pal_channel_request *request, json_t **root, pal_api_refusal *refusal);

/* v's string when it is a usable id: 1..PAL_META_ID_MAX bytes, no control
 * characters (so no NUL). NULL otherwise. Borrowed from v. */
const char *pal_meta__id(const json_t *v);

/* v's string when it is a usable message text: 1..PAL_META_TEXT_MAX bytes
 * without NUL. NULL otherwise. Borrowed from v. */
const char *pal_meta__text(const json_t *v);

/* v's integer value when v is a JSON integer, else fallback. */
int64_t pal_meta__int(const json_t *v, int64_t fallback);

/* json_object_get through a path of object members separated by dots
 * ("error.code"; names of at most 63 bytes); NULL when any step is missing
 * or not an object. Borrowed from root. */
json_t *pal_meta__path(const json_t *root, const char *path);

/* The address of a message sent at ms: {"at":ms}. Caller frees. */
char *pal_meta__at_address(int64_t ms);
/* The "at" of an address made by pal_meta__at_address, or -1 when address is
 * NULL or has none. */
int64_t pal_meta__address_at(const char *address);

/* The labels of item->quick_replies_json (a JSON array of strings), kept
 * only when they are non-empty strings. *labels (OUT) is the caller's
 * (json_decref), an array, possibly empty. */
json_t *pal_meta__labels(const pal_delivery_item *item);

/* item->text, with the labels appended one per line when there are more
 * than max_buttons of them (the platform cannot show them as buttons).
 * Caller frees. */
char *pal_meta__text_with_labels(const char *text, const json_t *labels, size_t max_buttons);

/* The length of the first part of s[0..len) that fits in max bytes (valid
 * UTF-8, max >= 4): all of it when len <= max, else up to the last space or
 * newline before the limit, else the last UTF-8 boundary before it. *next
 * (OUT) is where the rest starts (after the space). Never 0 when len > 0. */
size_t pal_meta__split(const char *s, size_t len, size_t max, size_t *next);

/* A copy of s cut to at most max_chars code points (a button title).
 * Caller frees. */
char *pal_meta__truncate(const char *s, size_t max_chars);

/* The answer to one POST. */
typedef struct pal_meta__response {
    long status; /* HTTP status, 0 when there was no answer */
    char *body;  /* the answer's body (first PAL_META_RESPONSE_MAX bytes), NUL-terminated */
    size_t len;  /* of body */
    int64_t retry_after_ms; /* Retry-After, 0 when absent */
    char error[128];        /* no answer: why (curl's words, never the URL) */
} pal_meta__response;

/* POSTs the JSON body to url with curl (reset by the caller: every option
 * is set here; 10 s timeout; the handle keeps its connections), adding the
 * header extra_header when not NULL ("Authorization: Bearer ..."). Fills
 * *response (release with pal_meta__response_clear). False when there was
 * no answer (transport error, timeout): response->error says why. */
bool pal_meta__post_json(void *curl, const char *url, const char *extra_header, const char *body,
                         pal_meta__response *response);
void pal_meta__response_clear(pal_meta__response *response);

/* Maps a Meta Graph API answer to *result: 2xx -> OK; Meta's transient
 * error codes (1, 2, 4, 17, 32, 613, 80006), 408, 429 and 5xx -> RETRY;
 * other statuses -> PERMANENT with "<code> <message>". who names the
 * channel in messages ("messenger"). Does not set platform_id. */
void pal_meta__result(const char *who, const pal_meta__response *response, pal_send_result *result);

/* Sends one part of a reply (part is NUL-terminated; last says whether it
 * is the last, which carries the buttons) and fills *result. */
typedef void (*pal_meta__part_fn)(void *ctx, const char *part, bool last, pal_send_result *result);

/* Splits text into parts of at most max bytes (pal_meta__split) and sends
 * them in order with send, stopping at the first that is not OK; *result
 * is the last call's (so platform_id is the last part's id). */
void pal_meta__send_parts(const char *text, size_t max, pal_meta__part_fn send, void *ctx,
                          pal_send_result *result);

/* The current time in ms since the epoch. */
int64_t pal_meta__now_ms(void);

#endif
