/*
 * http_actions.c — POST JSON to a brand's service with libcurl (see
 * http_actions.h for what is guaranteed).
 *
 * One easy handle per call: calls are rare next to messages (a flow calls a
 * service once per order), and a handle of its own keeps the function
 * thread-safe without a pool. Connection reuse is a later optimisation.
 */
#include "dialog/http_actions.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "base/log.h"
#include "base/mem.h"

/* The body being received: grows up to PAL_HTTP_MAX_RESPONSE, then refuses. */
typedef struct http_answer {
    char *data;
    size_t len, cap;
    bool too_big;
} http_answer;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    http_answer *a = userdata;
    size_t n = size * nmemb; /* libcurl guarantees size == 1 */
    if (n > PAL_HTTP_MAX_RESPONSE - a->len) {
        a->too_big = true;
        return 0; /* libcurl stops with CURLE_WRITE_ERROR */
    }
    pal_xreserve((void **)&a->data, &a->cap, a->len + n + 1, 1);
    memcpy(a->data + a->len, ptr, n);
    a->len += n;
    a->data[a->len] = '\0';
    return n;
}

static bool is_http_url(const char *url)
{
    return strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0;
}

/* The part of url that may be logged: scheme, host and path, without
 * user:password@ nor ?query / #fragment, where tokens tend to live. */
static void log_failure(const char *url, const char *why, long status)
{
    const char *host = strstr(url, "://");
    host = host ? host + 3 : url;
    size_t end = strcspn(host, "?#");
    const char *at = memchr(host, '@', strcspn(host, "/?#"));
    const char *from = at ? at + 1 : host;
    int scheme = (int)(host - url);
    int rest = (int)(end - (size_t)(from - host));
    if (status)
        pal_log(PAL_LOG_WARN, "http", "POST %.*s%.*s: HTTP status %ld", scheme, url, rest, from,
                status);
    else
        pal_log(PAL_LOG_WARN, "http", "POST %.*s%.*s: %s", scheme, url, rest, from, why);
}

static bool set_options(CURL *h, const char *url, long timeout_ms, const char *body,
                        struct curl_slist *headers, http_answer *answer, char *errbuf)
{
    /* Every setopt is checked: an option this libcurl lacks must not
     * silently widen what a call may do (protocols above all). */
    return curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf) == CURLE_OK &&
           curl_easy_setopt(h, CURLOPT_URL, url) == CURLE_OK &&
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85.0 */
           curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
           curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") == CURLE_OK &&
#else
           curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) ==
               CURLE_OK &&
           curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) ==
               CURLE_OK &&
#endif
           curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
           curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
           curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms) == CURLE_OK &&
           curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms) == CURLE_OK &&
           curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)PAL_HTTP_MAX_RESPONSE) ==
               CURLE_OK &&
           curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers) == CURLE_OK &&
           curl_easy_setopt(h, CURLOPT_POSTFIELDS, body) == CURLE_OK &&
           curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body)) == CURLE_OK &&
           curl_easy_setopt(h, CURLOPT_USERAGENT, "palabre/" PALABRE_VERSION) == CURLE_OK &&
           curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data) == CURLE_OK &&
           curl_easy_setopt(h, CURLOPT_WRITEDATA, answer) == CURLE_OK;
}

pal_err pal_http_call(void *ctx, const char *url, long timeout_ms, const char *body,
                      char **response)
{
    /* a caller's handle is reused: it keeps connections to the service open */
    CURL *h = ctx;
    struct curl_slist *headers = NULL, *more;
    http_answer answer = {NULL, 0, 0, false};
    char errbuf[CURL_ERROR_SIZE] = "";
    long status = 0;
    pal_err err = PAL_ERR_INVALID;

    *response = NULL;
    if (!url || !body || !is_http_url(url) || timeout_ms <= 0) {
        pal_log(PAL_LOG_WARN, "http", "call refused: %s",
                timeout_ms <= 0 ? "timeout_ms must be positive" : "not an http(s) URL");
        return PAL_ERR_INVALID;
    }
    err = PAL_ERR_INTERNAL;
    if (h)
        curl_easy_reset(h);
    else
        h = curl_easy_init();
    if (!h) {
        pal_log(PAL_LOG_ERR, "http", "curl_easy_init failed");
        goto out;
    }
    /* "Expect:" turns off libcurl's 100-continue wait on bodies over 1 KiB,
     * which would spend a second of the timeout on servers that ignore it. */
    static const char *const header_lines[] = {"Content-Type: application/json",
                                               "Accept: application/json", "Expect:"};
    for (size_t i = 0; i < sizeof(header_lines) / sizeof(header_lines[0]); i++) {
        more = curl_slist_append(headers, header_lines[i]);
        if (!more) {
            pal_log(PAL_LOG_ERR, "http", "curl_slist_append failed");
            goto out;
        }
        headers = more;
    }
    if (!set_options(h, url, timeout_ms, body, headers, &answer, errbuf)) {
        log_failure(url, "libcurl lacks a required option", 0);
        goto out;
    }
    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
        if (answer.too_big || rc == CURLE_FILESIZE_EXCEEDED) {
            err = PAL_ERR_LIMIT;
            log_failure(url, "answer over 1 MiB", 0);
        } else {
            err = rc == CURLE_UNSUPPORTED_PROTOCOL ? PAL_ERR_INVALID : PAL_ERR_IO;
            log_failure(url, errbuf[0] ? errbuf : curl_easy_strerror(rc), 0);
        }
        goto out;
    }
    err = PAL_ERR_IO;
    if (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK || status < 200 ||
        status > 299) {
        log_failure(url, "no HTTP status", status);
        goto out;
    }
    err = PAL_ERR_PARSE;
    if (answer.data && strlen(answer.data) != answer.len) {
        log_failure(url, "answer holds a NUL byte", 0);
        goto out;
    }
    *response = answer.data ? answer.data : pal_xstrdup("");
    answer.data = NULL;
    err = PAL_OK;
out:
    free(answer.data);
    curl_slist_free_all(headers);
    if (h && h != ctx)
        curl_easy_cleanup(h);
    return err;
}
