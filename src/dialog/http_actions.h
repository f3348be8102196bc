/*
 * http_actions.h — the engine's `call` action over HTTP, with libcurl.
 *
 * pal_http_call() has the signature of pal_engine_actions.call: it POSTs a
 * JSON body to a brand's service and returns the JSON answer. What it
 * guarantees, whatever the service does:
 *   - only http:// and https:// URLs are used; redirects are not followed
 *     (a 3xx is an error like any other non-2xx status), so a service can
 *     never send palabre to file://, ftp:// or anywhere else;
 *   - the whole call (connection included) takes at most timeout_ms;
 *   - an answer over PAL_HTTP_MAX_RESPONSE bytes is refused (PAL_ERR_LIMIT)
 *     as soon as it is known to be too big, never buffered in full;
 *   - TLS certificates are verified (libcurl's defaults are kept).
 *
 * Assumes: curl_global_init(CURL_GLOBAL_DEFAULT) was called once by main,
 * before any thread started, and curl_global_cleanup() is called at exit
 * (src/main.c does both). libcurl requires it: its global init is not
 * thread-safe.
 *
 * Threads: pal_http_call is thread-safe (one libcurl handle per call, or
 * the caller's own handle for its thread; no
 * signals: CURLOPT_NOSIGNAL).
 */
#ifndef PAL_DIALOG_HTTP_ACTIONS_H
#define PAL_DIALOG_HTTP_ACTIONS_H

#include "base/err.h"

/* Largest answer body accepted, in bytes. */
#define PAL_HTTP_MAX_RESPONSE ((size_t)1 << 20)

/* POSTs body (borrowed; a JSON text) to url (borrowed) with Content-Type
 * application/json, waiting at most timeout_ms (> 0) in all. ctx is NULL
 * (a handle is made for the call) or a CURL easy handle of the calling
 * thread, reset and reused so that connections to the service stay open. On PAL_OK *response (OUT)
 * is the answer's body, NUL-terminated; caller frees with free(). Errors (*response then NULL;
 * logged once here, without the URL's query string):
 *   PAL_ERR_INVALID  not an http(s) URL, or timeout_ms <= 0;
 *   PAL_ERR_IO       no connection, a timeout, a non-2xx status;
 *   PAL_ERR_LIMIT    an answer over PAL_HTTP_MAX_RESPONSE bytes;
 *   PAL_ERR_PARSE    an answer holding a NUL byte (not JSON text);
 *   PAL_ERR_INTERNAL libcurl could not be set up. */
pal_err pal_http_call(void *ctx, const char *url, long timeout_ms, const char *body,
                      char **response);

#endif
