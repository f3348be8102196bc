/*
 * adapter.h — what the platform adapters (messenger.c, whatsapp.c,
 * telegram.c, x.c, twilio.c) and the api channel's sender share, so that
 * each adapter holds only its platform's protocol:
 *   - reading hostile webhook bodies: the refusal, loading a JSON object,
 *     usable ids and texts, paths into a document, the {"at": ms} address;
 *   - shaping replies: labels of quick replies appended to the text,
 *     splitting long texts at a word boundary (in bytes, code points or
 *     UTF-16 units), button titles cut to a number of characters;
 *   - sending: one POST with libcurl (timeouts, Retry-After and
 *     x-rate-limit-reset read, the answer kept up to a cap), the common
 *     mapping of an HTTP status to a pal_send_outcome, and sending a reply
 *     in parts.
 * These are internal to src/channels (pal_channels__ names).
 *
 * Assumes: bodies are untrusted (a verified signature proves the sender,
 * not the shape); the CURL handle given is reset by the caller for each
 * delivery item (delivery.h).
 *
 * Threads: every function is thread-safe (no state; the CURL handle is the
 * caller's).
 */
#ifndef PAL_CHANNELS_ADAPTER_H
#define PAL_CHANNELS_ADAPTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/jsonw.h"
#include "channels/channel.h"

enum {
    PAL_CHANNELS_ID_MAX = 128,             /* bytes of a platform id */
    PAL_CHANNELS_TEXT_MAX = 4096,          /* bytes of an inbound text */
    PAL_CHANNELS_RESPONSE_MAX = 64 * 1024, /* bytes of a platform's answer kept */
};

/* --- reading webhook bodies ------------------------------------------------ */

/* Fills *refusal (OUT; code and message are borrowed static strings) and
 * returns PAL_ERR_PARSE. */
pal_err pal_channels__refuse(pal_api_refusal *refusal, unsigned status, const char *code,
                             const char *message);

/* Loads body[0..len) (borrowed): valid UTF-8 without NUL bytes, a JSON
 * object without duplicate keys; flags are added to json_loadb's
 * (JSON_ALLOW_NUL lets strings hold \u0000). On PAL_OK *root (OUT) is the
 * caller's (json_decref); on PAL_ERR_PARSE *refusal says what to answer
 * (400 invalid_utf8 or invalid_json) and *root is NULL. */
pal_err pal_channels__load_json(const char *body, size_t len, size_t flags, json_t **root,
                                pal_api_refusal *refusal);

/* pal_channels__load_json of a webhook request's body (borrowed) with
 * JSON_ALLOW_NUL: a \u0000 in one text costs that item only (see
 * pal_channels__text), not the whole request, which the platform would
 * resend. A NULL body is refused as invalid_utf8. */
pal_err pal_channels__load(const pal_channel_request *request, json_t **root,
                           pal_api_refusal *refusal);

/* The end of a parse that err ends: PAL_ERR_LIMIT (too many events)
 * becomes a 413 too_many_events refusal in *refusal (OUT); on any error the
 * events are cleared (channel.h: a refused request leaves none). Returns
 * the error. */
pal_err pal_channels__parsed(pal_err err, pal_channel_events *events, pal_api_refusal *refusal);

/* True when s[0..len) is fit for an id: 1..max bytes, no control
 * characters (so no NUL). */
bool pal_channels__plain(const char *s, size_t len, size_t max);

/* v's string when it is a usable id: pal_channels__plain with
 * PAL_CHANNELS_ID_MAX. NULL otherwise. Borrowed from v. */
const char *pal_channels__id(const json_t *v);

/* v's string when it is a usable message text: 1..PAL_CHANNELS_TEXT_MAX
 * bytes without NUL. NULL otherwise. Borrowed from v. */
const char *pal_channels__text(const json_t *v);

/* v's integer value when v is a JSON integer, else fallback. */
int64_t pal_channels__int(const json_t *v, int64_t fallback);

/* json_object_get through a path of object members separated by dots
 * ("error.code"; names of at most 63 bytes), where a step of digits on an
 * array takes that item ("messages.0.id"); NULL when any step is missing
 * or cannot be taken. Borrowed from root. */
json_t *pal_channels__path(const json_t *root, const char *path);

/* The address of a message sent at ms: {"at":ms}. Caller frees. */
char *pal_channels__at_address(int64_t ms);

/* The "at" of an address (borrowed) made by pal_channels__at_address, or
 * -1 when address is NULL or has none. */
int64_t pal_channels__address_at(const char *address);

/* The current time in ms since the epoch. */
int64_t pal_channels__now_ms(void);

/* True for the white space the adapters trim: space, \n, \t, \r. */
bool pal_channels__is_space(char c);

/* Replaces control characters in s with spaces, so that an error string
 * stays one line. */
void pal_channels__one_line(char *s);

/* --- shaping replies -------------------------------------------------------- */

/* Growable text: pal_jsonw (base/jsonw.h), its raw and lit appends. */

/* The labels of item->quick_replies_json (a JSON array of strings), kept
 * only when they are non-empty strings. The result is the caller's
 * (json_decref): an array, possibly empty. */
json_t *pal_channels__labels(const pal_delivery_item *item);

/* text (borrowed) followed by the labels (borrowed), each preceded by
 * first (the first label) or between (the others): ("A", ["B","C"], "\n",
 * " / ") gives "A\nB / C". Caller frees. */
char *pal_channels__join_labels(const char *text, const json_t *labels, const char *first,
                                const char *between);

/* text, with the labels appended one per line when there are more than
 * max_buttons of them (the platform cannot show them as buttons). Caller
 * frees. */
char *pal_channels__text_with_labels(const char *text, const json_t *labels, size_t max_buttons);

/* The length of the first part of s[0..len) that fits in max bytes (valid
 * UTF-8, max >= 4): all of it when len <= max, else up to the last space or
 * newline before the limit, else the last UTF-8 boundary before it. *next
 * (OUT) is where the rest starts (after the space). Never 0 when len > 0. */
size_t pal_channels__split(const char *s, size_t len, size_t max, size_t *next);

/* How a platform counts the length of a text. */
typedef enum pal_channels__unit {
    PAL_CHANNELS_CODE_POINTS, /* X: 280 characters */
    PAL_CHANNELS_UTF16,       /* SMS: a code point beyond U+FFFF counts twice */
} pal_channels__unit;

/* The byte length of the first part of s[0..len) (valid UTF-8) that fits
 * max units, cut at the last space or newline when it must be cut, without
 * the white space around the cut; *next (OUT) is where the following part
 * starts (after that white space). May be 0 when s starts with white
 * space. */
size_t pal_channels__split_units(const char *s, size_t len, size_t max, pal_channels__unit unit,
                                 size_t *next);

/* One part of a text: text[at..at+len). */
typedef struct pal_channels__part {
    size_t at, len;
} pal_channels__part;

/* Cuts text (borrowed), trimmed of white space at both ends, into parts of
 * at most max units each (pal_channels__split_units), written to
 * parts[0..*n) (OUT). PAL_ERR_UTF8 when text is not valid UTF-8 or holds
 * a NUL; PAL_ERR_LIMIT when it needs more than max_parts parts. *n is 0
 * when the text is only white space. */
pal_err pal_channels__cut(const char *text, size_t max, pal_channels__unit unit,
                          pal_channels__part *parts, size_t max_parts, size_t *n);

/* pal_channels__cut for a sender: false, with result->error set ("reply
 * is not valid text", too_long (borrowed) beyond max_parts, or "empty
 * reply"), when text cannot be sent. */
bool pal_channels__cut_reply(const char *text, size_t max, pal_channels__unit unit,
                             pal_channels__part *parts, size_t max_parts, size_t *n,
                             const char *too_long, pal_send_result *result);

/* A copy of s (borrowed) cut to at most max_chars code points (a button
 * title). Caller frees. */
char *pal_channels__truncate(const char *s, size_t max_chars);

/* The setting api_base, else fallback (a static string); *len (OUT) is its
 * length without a trailing '/', so that paths can follow. Borrowed. */
const char *pal_channels__api_base(const pal_channel_settings *settings, const char *fallback,
                                   size_t *len);

/* --- sending ------------------------------------------------------------------ */

/* One POST to make. Every string is borrowed for the call. */
typedef struct pal_channels__post {
    const char *url;
    const char *content_type; /* "application/json" */
    const char *header;       /* one more header line ("Authorization: Bearer ..."), or NULL */
    const char *user;         /* Basic authentication with password, or NULL */
    const char *password;
    const char *body; /* NUL-terminated */
} pal_channels__post;

/* The answer to one POST. */
typedef struct pal_channels__response {
    long status; /* HTTP status, 0 when there was no answer */
    char *body;  /* the answer's body (first PAL_CHANNELS_RESPONSE_MAX bytes), NUL-terminated */
    size_t len;  /* of body */
    int64_t retry_after_ms; /* Retry-After, 0 when absent */
    int64_t rate_reset_s;   /* x-rate-limit-reset (epoch seconds), 0 when absent */
    char error[128];        /* no answer: why (curl's words, never the URL) */
} pal_channels__response;

/* Makes the POST with curl (every option this needs is set here; 10 s
 * timeout, 3 s to connect; the handle keeps its connections). Fills
 * *response (OUT; release with pal_channels__response_clear; body is never
 * NULL). False when there was no answer (transport error, timeout):
 * response->error says why. */
bool pal_channels__post_request(void *curl, const pal_channels__post *post,
                                pal_channels__response *response);

/* pal_channels__post_request of a JSON body to url, with one more header
 * line extra_header when not NULL. */
bool pal_channels__post_json(void *curl, const char *url, const char *extra_header,
                             const char *body, pal_channels__response *response);

/* Frees response->body and zeroes *response. */
void pal_channels__response_clear(pal_channels__response *response);

/* Sets result->platform_id to the string at path (pal_channels__path) in
 * the JSON answer, "" when there is none or it does not fit. */
void pal_channels__platform_id(const pal_channels__response *response, const char *path,
                               pal_send_result *result);

/* What an HTTP status means for a reply: 2xx -> OK; 408, 429 and 5xx ->
 * RETRY; anything else -> PERMANENT. */
pal_send_outcome pal_channels__outcome(long status);

/* Sends one part of a reply (part is NUL-terminated and borrowed; last
 * says whether it is the last, which carries the buttons) and fills
 * *result. */
typedef void (*pal_channels__part_fn)(void *ctx, const char *part, bool last,
                                      pal_send_result *result);

/* Splits text (borrowed) into parts of at most max bytes
 * (pal_channels__split) and sends them in order with send, stopping at the
 * first that is not OK; *result (OUT) is the last call's (so platform_id
 * is the last part's id). */
void pal_channels__send_parts(const char *text, size_t max, pal_channels__part_fn send, void *ctx,
                              pal_send_result *result);

/* Prefixes result->error with "part k/n: " when the reply has n > 1
 * parts and part k (from 1) failed. */
void pal_channels__part_error(pal_send_result *result, size_t k, size_t n);

/* Posts body, the JSON of one part of a reply (borrowed; NULL when the part
 * could not be encoded), as pal_channels__post_json does. True when the
 * platform answered: *response (OUT) holds the answer for the caller to
 * map. Otherwise false with *result filled: PERMANENT "reply is not valid
 * text" for a NULL body, RETRY "<who>: <why>" when there was no answer.
 * Either way release *response with pal_channels__response_clear. */
bool pal_channels__post_part(void *curl, const char *url, const char *extra_header, const char *who,
                             const char *body, pal_channels__response *response,
                             pal_send_result *result);

#endif
