/*
 * channel.c — the adapters' registry and their event lists (channel.h).
 */
#include "channels/channel.h"

#include <stdlib.h>
#include <string.h>

const char *pal_channel_setting(const pal_channel_settings *settings, const char *name)
{
    if (!settings || !settings->get)
        return NULL;
    const char *value = settings->get(settings->ctx, name);
    return value && value[0] ? value : NULL;
}

const pal_channel *pal_channel_find(const char *name)
{
    static const pal_channel *const all[] = {
        &pal_channel_messenger, &pal_channel_whatsapp, &pal_channel_telegram,
        &pal_channel_x,         &pal_channel_twilio,
    };
    if (!name)
        return NULL;
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (strcmp(all[i]->name, name) == 0)
            return all[i];
    return NULL;
}

void pal_channel_event_clear(pal_channel_event *event)
{
    if (!event)
        return;
    free(event->dedup_key);
    free(event->external_user);
    free(event->channel_message_id);
    free(event->text);
    free(event->address);
    free(event->platform_id);
    free(event->status);
    free(event->error);
    memset(event, 0, sizeof(*event));
}

pal_err pal_channel_events_add(pal_channel_events *events, pal_channel_event *event)
{
    if (events->n >= PAL_CHANNEL_EVENTS_MAX) {
        pal_channel_event_clear(event);
        return PAL_ERR_LIMIT;
    }
    if (events->n == events->cap) {
        size_t cap = events->cap ? events->cap * 2 : 4;
        pal_channel_event *items = realloc(events->items, cap * sizeof(*items));
        if (!items) {
            pal_channel_event_clear(event);
            return PAL_ERR_INTERNAL;
        }
        events->items = items;
        events->cap = cap;
    }
    events->items[events->n++] = *event;
    memset(event, 0, sizeof(*event));
    return PAL_OK;
}

void pal_channel_events_clear(pal_channel_events *events)
{
    for (size_t i = 0; i < events->n; i++)
        pal_channel_event_clear(&events->items[i]);
    free(events->items);
    free(events->answer_body);
    memset(events, 0, sizeof(*events));
}
