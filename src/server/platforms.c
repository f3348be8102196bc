/*
 * platforms.c — per-bot platform settings and paced senders (platforms.h).
 */
#include "server/platforms.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/mem.h"

enum {
    N_CHANNELS = 5,
    PACE_WAIT_MAX_MS = 2000, /* longer than this, the send is retried later instead */
};

static const char *const channel_names[N_CHANNELS] = {"messenger", "whatsapp", "telegram", "x",
                                                      "twilio"};

/* Default sends per second and per bot: the platforms' documented pace for
 * an ordinary account (Messenger ~250/s per page, WhatsApp Cloud API 80/s
 * per number, Telegram 30/s per bot, X write limits far lower over 15
 * minutes, Twilio one long code 1 segment/s; brands with more set
 * send_per_second). */
static const double default_pace[N_CHANNELS] = {250, 80, 30, 10, 1};

typedef struct platform {
    pal_platform public;
    const pal_config *config;
    size_t bot_index;
    const char *bot_name, *channel_name;
    bool configured;
    /* pacing: a token bucket */
    pthread_mutex_t mutex;
    double per_second, tokens;
    int64_t refilled_at_ms;
} platform;

typedef struct bot_platforms {
    platform by_channel[N_CHANNELS];
} bot_platforms;

struct pal_platforms {
    bot_platforms *bots;
    size_t n_bots;
};

static const char *setting(const void *ctx, const char *name)
{
    const platform *p = ctx;
    return pal_config_channel(p->config, p->bot_index, p->bot_name, p->channel_name, name, getenv);
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool all_required(const platform *p)
{
    for (const char *const *name = p->public.channel->required; name && *name; name++)
        if (!pal_channel_setting(&p->public.settings, *name))
            return false;
    return true;
}

static double pace_of(const platform *p, size_t channel_index)
{
    const char *value = pal_channel_setting(&p->public.settings, "send_per_second");
    if (value) {
        char *end;
        double v = strtod(value, &end);
        if (*end == '\0' && isfinite(v) && v > 0 && v <= 100000)
            return v;
        pal_log(PAL_LOG_WARN, "server",
                "bot %s channel %s: send_per_second %s is not a number "
                "in (0, 100000]; using %.0f",
                p->bot_name, p->channel_name, value, default_pace[channel_index]);
    }
    return default_pace[channel_index];
}

pal_platforms *pal_platforms_new(const pal_config *config, const char *const *bot_names,
                                 size_t n_bots)
{
    pal_platforms *all = pal_xcalloc(1, sizeof(*all));
    all->bots = pal_xcalloc(n_bots ? n_bots : 1, sizeof(*all->bots));
    all->n_bots = n_bots;
    for (size_t b = 0; b < n_bots; b++) {
        for (size_t c = 0; c < N_CHANNELS; c++) {
            platform *p = &all->bots[b].by_channel[c];
            p->config = config;
            p->bot_index = b;
            p->bot_name = bot_names[b];
            p->channel_name = channel_names[c];
            p->public.channel = pal_channel_find(channel_names[c]);
            p->public.settings = (pal_channel_settings){.get = setting, .ctx = p};
            pthread_mutex_init(&p->mutex, NULL);
            p->configured = p->public.channel && all_required(p);
            if (!p->configured)
                continue;
            p->per_second = pace_of(p, c);
            p->tokens = p->per_second < 1 ? 1 : p->per_second;
            p->refilled_at_ms = monotonic_ms();
            pal_log(PAL_LOG_INFO, "server", "bot %s: channel %s configured (%.0f sends/s)",
                    p->bot_name, p->channel_name, p->per_second);
        }
    }
    return all;
}

void pal_platforms_free(pal_platforms *platforms)
{
    if (!platforms)
        return;
    for (size_t b = 0; b < platforms->n_bots; b++)
        for (size_t c = 0; c < N_CHANNELS; c++)
            pthread_mutex_destroy(&platforms->bots[b].by_channel[c].mutex);
    free(platforms->bots);
    free(platforms);
}

static platform *find(const pal_platforms *platforms, size_t bot_index, const char *channel)
{
    if (!platforms || bot_index >= platforms->n_bots || !channel)
        return NULL;
    for (size_t c = 0; c < N_CHANNELS; c++) {
        platform *p = &platforms->bots[bot_index].by_channel[c];
        if (p->configured && strcmp(channel_names[c], channel) == 0)
            return p;
    }
    return NULL;
}

const pal_platform *pal_platforms_get(const pal_platforms *platforms, size_t bot_index,
                                      const char *channel)
{
    platform *p = find(platforms, bot_index, channel);
    return p ? &p->public : NULL;
}

/* Milliseconds until a send may go (0: now, and the token is taken). */
static int64_t pace(platform *p)
{
    pthread_mutex_lock(&p->mutex);
    int64_t now = monotonic_ms();
    double burst = p->per_second < 1 ? 1 : p->per_second;
    p->tokens += (double)(now - p->refilled_at_ms) * p->per_second / 1000.0;
    if (p->tokens > burst)
        p->tokens = burst;
    p->refilled_at_ms = now;
    int64_t wait = 0;
    if (p->tokens >= 1)
        p->tokens -= 1;
    else
        wait = (int64_t)ceil((1 - p->tokens) * 1000.0 / p->per_second);
    pthread_mutex_unlock(&p->mutex);
    return wait;
}

/* The sender the deliverer calls: waits for the platform's pace (a delivery
 * thread has nothing better to do for this platform meanwhile), then sends. */
static void paced_send(void *ctx, void *curl, const pal_delivery_item *item,
                       pal_send_result *result)
{
    platform *p = ctx;
    int64_t waited = 0;
    for (;;) {
        int64_t wait = pace(p);
        if (wait == 0)
            break;
        if (waited + wait > PACE_WAIT_MAX_MS) {
            memset(result, 0, sizeof(*result));
            result->outcome = PAL_SEND_RETRY;
            result->retry_after_ms = wait;
            snprintf(result->error, sizeof(result->error),
                     "paced: more than %.0f sends per second to %s", p->per_second,
                     p->channel_name);
            return;
        }
        struct timespec ts = {(time_t)(wait / 1000), (long)(wait % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        waited += wait;
    }
    p->public.channel->send((void *)&p->public.settings, curl, item, result);
}

bool pal_platforms_sender(const void *ctx, const char *channel, pal_send_fn *fn, void **fn_ctx)
{
    const bot_platforms *bot = ctx;
    if (!bot)
        return false;
    for (size_t c = 0; c < N_CHANNELS; c++) {
        const platform *p = &bot->by_channel[c];
        if (p->configured && strcmp(channel_names[c], channel) == 0) {
            *fn = paced_send;
            *fn_ctx = (void *)p;
            return true;
        }
    }
    return false;
}

const void *pal_platforms_sender_ctx(const pal_platforms *platforms, size_t bot_index)
{
    return platforms && bot_index < platforms->n_bots ? &platforms->bots[bot_index] : NULL;
}
