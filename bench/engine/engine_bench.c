/*
 * engine_bench.c — messages per second through language understanding and
 * dialogue, in process, on one thread, for one bot.
 *
 * usage: engine_bench BOT_DIR SCRIPT [SECONDS]
 * SCRIPT holds conversations: one customer message a line, a blank line
 * between conversations; a line starting with "# " is a comment (a hashtag
 * has no space after its '#', so "#MonRésultat 75011" is a message). The script is replayed, each
 * conversation from a fresh state, until SECONDS (default 3) have passed;
 * the rate counts every message (NLU + dialogue + look-ups; the brand's
 * services are answered in process with {"id": 4521}, as a bot's tests do).
 * Prints one JSON line: bot, messages, seconds, messages_per_s, replies.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/mem.h"
#include "dialog/bot.h"
#include "dialog/engine.h"

typedef struct script {
    char **lines; /* NULL entries separate conversations */
    size_t count, cap;
} script;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int read_script(const char *path, script *s)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return -1;
    }
    char line[4096];
    while (fgets(line, sizeof(line), f)) {
        size_t len = strcspn(line, "\r\n");
        line[len] = '\0';
        if (line[0] == '#' && (line[1] == ' ' || line[1] == '\0'))
            continue;
        pal_xreserve((void **)&s->lines, &s->cap, s->count + 1, sizeof(char *));
        s->lines[s->count++] = len ? pal_xstrdup(line) : NULL;
    }
    fclose(f);
    return 0;
}

/* The brand's order service, answered in process. */
static pal_err fake_call(void *ctx, const char *url, long timeout_ms, const char *body,
                         char **response)
{
    (void)ctx;
    (void)url;
    (void)timeout_ms;
    (void)body;
    *response = pal_xstrdup("{\"id\": 4521}");
    return PAL_OK;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: engine_bench BOT_DIR SCRIPT [SECONDS]\n");
        return 2;
    }
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    double seconds = argc > 3 ? strtod(argv[3], NULL) : 3.0;
    script s = {0};
    if (read_script(argv[2], &s) != 0)
        return 1;
    char err[512] = "";
    pal_bot *bot = NULL;
    if (pal_bot_load(argv[1], &bot, err, sizeof(err)) != PAL_OK) {
        fprintf(stderr, "engine_bench: %s\n", err);
        return 1;
    }
    pal_analyzer *analyzer = NULL;
    if (pal_analyzer_new(&analyzer) != PAL_OK)
        return 1;
    pal_arena *arena = pal_arena_new();
    pal_engine_actions actions = {NULL, pal_engine_lookup_direct, fake_call};
    size_t messages = 0;
    size_t replies = 0;
    double start = now_s();
    double elapsed = 0;
    while (elapsed < seconds) {
        pal_conversation *conv = pal_conversation_new(bot);
        for (size_t i = 0; i <= s.count; i++) {
            if (i == s.count || !s.lines[i]) {
                pal_conversation_free(conv);
                conv = pal_conversation_new(bot);
                continue;
            }
            pal_turn turn;
            pal_arena_reset(arena);
            if (pal_engine_step(bot, analyzer, conv, s.lines[i], strlen(s.lines[i]), &actions,
                                arena, &turn) != PAL_OK) {
                fprintf(stderr, "engine_bench: step failed on '%s'\n", s.lines[i]);
                return 1;
            }
            messages++;
            replies += turn.n_replies;
        }
        pal_conversation_free(conv);
        elapsed = now_s() - start;
    }
    printf("{\"bot\": \"%s\", \"messages\": %zu, \"seconds\": %.3f, \"messages_per_s\": %.0f, "
           "\"replies\": %zu}\n",
           pal_bot_name(bot), messages, elapsed, (double)messages / elapsed, replies);
    for (size_t i = 0; i < s.count; i++)
        free(s.lines[i]);
    free(s.lines);
    pal_arena_free(arena);
    pal_analyzer_free(analyzer);
    pal_bot_free(bot);
    return 0;
}
