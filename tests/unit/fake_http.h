/*
 * fake_http.h — the channel tests' doubles. A fake platform API: a thread
 * on 127.0.0.1 (a free port) that accepts one connection per request,
 * records what each request carried, and answers the canned replies in
 * turn. And what an adapter reads: settings and webhook requests from
 * name/value lists, and a send with a fresh CURL handle.
 *
 *   fake_http fs;
 *   fake_http_reply ok[] = {{200, NULL, "{\"ok\":true}"}};
 *   fake_http_start(&fs, ok, 1);   // fs.base is "http://127.0.0.1:<port>"
 *   ... send with api_base = fs.base ...
 *   fake_http_stop(&fs);           // then read fs.calls[0 .. fs.n)
 *   fake_http_free(&fs);
 *
 * Assumes: the tests use cmocka (start fails the test when the socket
 * cannot be made). The server's fields are written by its thread until
 * fake_http_stop returns; read them after.
 */
#ifndef PAL_TESTS_FAKE_HTTP_H
#define PAL_TESTS_FAKE_HTTP_H

#include <jansson.h>
#include <pthread.h>
#include <stddef.h>

#include "channels/channel.h"

/* --- settings and webhook requests ------------------------------------------ */

/* One name and its value; a list ends with a NULL name. */
typedef struct fake_kv {
    const char *name, *value;
} fake_kv;

/* The value of name (any case) in list (a fake_kv array, or NULL for an
 * empty list); NULL when absent. Fits pal_channel_settings.get with the
 * list as ctx. */
const char *fake_kv_get(const void *list, const char *name);

/* Sets the value of name in list (borrowed), when it is there. */
void fake_kv_set(fake_kv *list, const char *name, const char *value);

/* Settings read from list (borrowed for the settings' life). */
pal_channel_settings fake_settings(const fake_kv *list);

/* What a webhook request carries besides its body: lists or NULL. */
typedef struct fake_request {
    const fake_kv *headers, *query;
} fake_request;

/* A request to url (method, url, body and *f borrowed for the request's
 * life; a NULL body has length 0) whose headers and query are f's. */
pal_channel_request fake_request_make(const char *method, const char *url, const char *body,
                                      const fake_request *f);

/* Sends item (taken: freed here) with channel's sender and the settings of
 * list, with a fresh CURL handle; *result (OUT) is the sender's. */
void fake_send(const pal_channel *channel, const fake_kv *list, pal_delivery_item *item,
               pal_send_result *result);

/* --- the fake platform API ------------------------------------------------------ */

enum { FAKE_HTTP_MAX = 8 }; /* requests one server answers */

/* One canned answer. Strings are borrowed until fake_http_stop. */
typedef struct fake_http_reply {
    int status;                /* 200, 429, ... */
    const char *extra_headers; /* "Name: value\r\n" lines, or NULL */
    const char *body;          /* NULL: empty */
} fake_http_reply;

/* One request as received. */
typedef struct fake_http_call {
    char method[16]; /* "POST" */
    char path[512];  /* "/2/tweets" (with the query) */
    char *head;      /* request line and headers, without the blank line (owned) */
    char *body;      /* the body, NUL-terminated (owned) */
} fake_http_call;

typedef struct fake_http {
    int fd;
    unsigned short port;
    char base[64]; /* http://127.0.0.1:port */
    pthread_t thread;
    fake_http_reply replies[FAKE_HTTP_MAX];
    size_t n_replies;
    fake_http_call calls[FAKE_HTTP_MAX];
    size_t n; /* requests recorded */
} fake_http;

/* Starts a server answering replies[0..n) (copied; at most FAKE_HTTP_MAX)
 * in turn, one per connection. n may be 0: the port is then closed by
 * fake_http_stop, for "nobody listens" tests. */
void fake_http_start(fake_http *fs, const fake_http_reply *replies, size_t n);

/* Stops accepting, waits for the thread and closes the port. Every request
 * a synchronous sender made before the call has been recorded. */
void fake_http_stop(fake_http *fs);

/* Frees the recorded requests (after fake_http_stop). */
void fake_http_free(fake_http *fs);

/* The JSON body of request i (fails the test when it is not JSON); the
 * caller json_decrefs it. */
json_t *fake_http_json(const fake_http *fs, size_t i);

/* The value of header name (any case) in call into out ("" when absent). */
void fake_http_header(const fake_http_call *call, const char *name, char *out, size_t cap);

#endif
