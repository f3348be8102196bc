/*
 * platforms.h — the server's side of the messaging platforms (Messenger,
 * WhatsApp, Telegram, X, Twilio; channels/channel.h): which bot has which
 * platform configured, with its settings, and the senders the delivery
 * threads use, paced to the platform's rate.
 *
 * A bot has a platform when every setting the adapter requires is set
 * (configuration `channels:` or PALABRE_<BOT>_<CHANNEL>_<NAME>). Besides the
 * adapter's own settings, every platform reads:
 *   public_url        scheme://host[:port] the platform calls (behind a
 *                     proxy or TLS terminator): Twilio signs the full URL
 *   send_per_second   the pace of sends per bot (default per platform below)
 *
 * Threads: read-only once made, except the pacing, which is thread-safe.
 */
#ifndef PAL_SERVER_PLATFORMS_H
#define PAL_SERVER_PLATFORMS_H

#include <stdbool.h>
#include <stddef.h>

#include "channels/channel.h"
#include "server/config.h"
#include "server/delivery.h"

typedef struct pal_platforms pal_platforms; /* opaque */

/* One bot's platform. */
typedef struct pal_platform {
    const pal_channel *channel;
    pal_channel_settings settings;
} pal_platform;

/* The platforms of bots[0..n_bots) (their names: bot_names, borrowed, as
 * config is). Caller frees with pal_platforms_free(). */
pal_platforms *pal_platforms_new(const pal_config *config, const char *const *bot_names,
                                 size_t n_bots);
void pal_platforms_free(pal_platforms *platforms); /* NULL is a no-op */

/* The platform `channel` of bot bot_index when configured, else NULL. */
const pal_platform *pal_platforms_get(const pal_platforms *platforms, size_t bot_index,
                                      const char *channel);

/* For pal_pipeline_bot.channel_sender: ctx is pal_platforms_sender_ctx(). */
bool pal_platforms_sender(const void *ctx, const char *channel, pal_send_fn *fn, void **fn_ctx);
const void *pal_platforms_sender_ctx(const pal_platforms *platforms, size_t bot_index);

#endif
