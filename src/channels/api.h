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
 *    "text": "...", "quick_replies": ["..."]}
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

#include <stdint.h>

#include "server/delivery.h"

/* A pal_send_fn: ctx is the callback URL (a borrowed string), curl a CURL
 * easy handle (reset by the caller). */
void pal_api_send_callback(void *ctx, void *curl, const pal_delivery_item *item,
                           pal_send_result *result);

/* Milliseconds a Retry-After header value asks for: delta seconds, or an
 * HTTP date relative to now_s. 0 when absent or malformed. Capped at one
 * hour. */
int64_t pal_http_retry_after_ms(const char *value, int64_t now_s);

#endif
