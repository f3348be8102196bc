/*
 * meta.h — what Meta's two channels (Messenger, WhatsApp: CHANNELS.md §1-2)
 * share and no other platform does: the GET hub.challenge handshake, the
 * X-Hub-Signature-256 check, and the mapping of Graph API errors. What
 * every adapter shares (loading bodies, ids, splitting, the POST) is in
 * adapter.h. These are internal to src/channels (pal_meta__ names).
 *
 * Assumes: settings are read through pal_channel_setting().
 *
 * Threads: every function is thread-safe.
 */
#ifndef PAL_CHANNELS_META_H
#define PAL_CHANNELS_META_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "channels/adapter.h"
#include "channels/channel.h"

enum {
    PAL_META_CHALLENGE_MAX = 256, /* bytes of hub.challenge */
};

/* GET handshake (Messenger and WhatsApp): hub.mode=subscribe and
 * hub.verify_token equal to the setting verify_token -> 200 text/plain with
 * hub.challenge (1..256 printable ASCII bytes, else 400); otherwise 403. */
void pal_meta__handshake(const pal_channel_settings *settings, const pal_channel_request *request,
                         pal_channel_answer *answer);

/* True when X-Hub-Signature-256 is "sha256=" + the 64 lower-case hex digits
 * of HMAC-SHA256(setting app_secret, raw body), compared in constant time. */
bool pal_meta__verify(const pal_channel_settings *settings, const pal_channel_request *request);

/* Loads a Meta webhook body (pal_channels__load), which must be
 * {"object": object, "entry": [...]}, else refused with 400
 * invalid_payload and expected (a static string) as the message. On PAL_OK
 * *root (OUT) is the caller's (json_decref) and *entries (OUT) its array,
 * borrowed from *root; on PAL_ERR_PARSE *root is NULL. */
pal_err pal_meta__load_entries(const pal_channel_request *request, const char *object,
                               const char *expected, json_t **root, json_t **entries,
                               pal_api_refusal *refusal);

/* Maps a Meta Graph API answer to *result: 2xx -> OK; Meta's transient
 * error codes (1, 2, 4, 17, 32, 613, 80006), 408, 429 and 5xx -> RETRY;
 * other statuses -> PERMANENT with "<code> <message>". who names the
 * channel in messages ("messenger"). Does not set platform_id. */
void pal_meta__result(const char *who, const pal_channels__response *response,
                      pal_send_result *result);

#endif
