/*
 * api.h — the `api` channel: a brand's own application talks to palabre
 * over REST (server/routes_api.c parses its requests). This module is its
 * sending side: replies to messages that were not answered in the request
 * itself (sent with ?wait=false, or recovered after a crash) are POSTed to
 * the bot's callback URL, when one is configured.
 *
 * The callback receives
 *   POST <callback_url>
 *   Content-Type: application/json
 *   Idempotency-Key: palabre-<message id>
 *   {"message_id": N, "conversation_id": N, "customer": "...",
 *    "text": "...", "quick_replies": ["..."],
 *    "in_reply_to": N, "in_reply_to_id": "..."}
 * (in_reply_to: the id palabre gave the customer's message; in_reply_to_id:
 * the client's own id of it, when it sent one).
 * and answers 2xx once it has the reply. 408, 429 and 5xx (and no answer
 * within 10 s) are retried with backoff, honouring Retry-After; any other
 * status fails the reply for good. A receiver may get a reply twice (a
 * crash between its answer and palabre's record of it): it drops the
 * second by its Idempotency-Key.
 *
 * Threads: pal_api_send_callback is thread-safe with a curl handle per thread.
 */
#ifndef PAL_CHANNELS_API_H
#define PAL_CHANNELS_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "server/delivery.h"

enum {
    PAL_API_CUSTOMER_MAX = 256,  /* bytes of a customer id */
    PAL_API_CLIENT_ID_MAX = 128, /* bytes of a client message id */
};

/* A customer message posted as JSON (api and webchat channels):
 *   {"customer": "...", "text": "...", "id": "...", "lang": "fr"|"en"}
 * Strings are borrowed from the parsed document. */
typedef struct pal_api_message {
    const char *customer; /* NULL when not required */
    const char *text;
    const char *id;   /* the client's message id, or NULL */
    const char *lang; /* "fr", "en", or NULL */
} pal_api_message;

/* Why a body was refused: the HTTP status and the error's code and message
 * (static strings). */
typedef struct pal_api_refusal {
    unsigned status;
    const char *code;
    const char *message;
} pal_api_refusal;

/* Parses body[0..len) (hostile input): valid UTF-8 without NUL, a JSON
 * object without duplicate keys, text a non-empty string of at most
 * max_text bytes, customer (when need_customer) a string of 1 to
 * PAL_API_CUSTOMER_MAX bytes without control characters, id (optional) the
 * same with PAL_API_CLIENT_ID_MAX, lang (optional) "fr" or "en" (with
 * lenient_lang, any other value is dropped instead: browsers send
 * languages we do not speak). On PAL_OK, *root (OUT) owns the strings of
 * *out: the caller frees it with json_decref(). On PAL_ERR_PARSE, *refusal
 * says what to answer and *root is NULL. */
pal_err pal_api_parse_message(const char *body, size_t len, size_t max_text, bool need_customer,
                              bool lenient_lang, json_t **root, pal_api_message *out,
                              pal_api_refusal *refusal);

/* A pal_send_fn: ctx is the callback URL (a borrowed string), curl a CURL
 * easy handle (reset by the caller). */
void pal_api_send_callback(void *ctx, void *curl, const pal_delivery_item *item,
                           pal_send_result *result);

/* Milliseconds a Retry-After header value asks for: delta seconds, or an
 * HTTP date relative to now_s. 0 when absent or malformed. Capped at one
 * hour. */
int64_t pal_http_retry_after_ms(const char *value, int64_t now_s);

#endif
