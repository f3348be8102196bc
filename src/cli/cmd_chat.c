/*
 * cmd_chat.c — `palabre chat BOT_DIR`: a conversation with a bot in the
 * terminal, one line of standard input per customer message.
 *
 * The host of the engine here is the simplest one: one thread, look-ups
 * straight on the bot's data, service calls over HTTP with libcurl. A line
 * is read with a hard cap (the text layer's PAL_TEXT_MAX_BYTES), so piping
 * a huge file in cannot grow memory without end.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/mem.h"
#include "cli/cli.h"
#include "dialog/bot.h"
#include "dialog/engine.h"
#include "dialog/http_actions.h"
#include "dialog/transcript.h"
#include "text/analyze.h"

static const char help[] =
    "usage: palabre chat BOT_DIR [--debug] [--lang fr|en]\n\n"
    "Talks with the bot in BOT_DIR as a customer would. Each line of standard input\n"
    "is one message; the bot's replies follow, each on its own line(s), its quick\n"
    "replies as \"  [1] Bud  [2] Coors  [3] Corona\": type a number to choose one.\n"
    "When a person takes over, \"— a person takes over (reason) —\" is shown and the\n"
    "bot stays silent. /quit or the end of the input (Ctrl-D) ends the conversation.\n"
    "A line that is not valid UTF-8 is refused with a message on standard error and\n"
    "the conversation goes on.\n\n"
    "Look-ups run on the bot's data; calls go to its services over HTTP. A service's\n"
    "URL can be overridden with PALABRE_<BOT>_SERVICE_<NAME>_URL (docs/bots.md).\n\n"
    "options:\n"
    "  --debug        before each turn's replies, one line saying what was understood:\n"
    "                   # lang=fr intent=order_beer (0.93) entities: quantity=2 beer=corona"
    " | flow=order step=bot.yaml:25\n"
    "                 and the engine's warnings (a service that failed) on standard error\n"
    "  --lang fr|en   the language the conversation starts in (default: the bot's first\n"
    "                 language); a message clearly in another of its languages still\n"
    "                 switches it\n"
    "  -h, --help     this help\n\n"
    "exit status: 0 the conversation ended, 1 the bot could not be loaded, 2 bad usage\n\n"
    "examples:\n"
    "  palabre chat bots/stade\n"
    "  printf 'deux corona\\n1\\n' | palabre chat bots/stade --debug\n";

typedef struct chat_args {
    const char *dir;
    bool debug;
    pal_lang lang; /* PAL_LANG_UNKNOWN: the bot's default */
} chat_args;

static int parse_args(int argc, char **argv, chat_args *a)
{
    enum { OPT_DEBUG = 256, OPT_LANG };
    static const struct option options[] = {
        {"debug", no_argument, NULL, OPT_DEBUG},
        {"lang", required_argument, NULL, OPT_LANG},
        {NULL, 0, NULL, 0},
    };
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case OPT_DEBUG:
            a->debug = true;
            break;
        case OPT_LANG:
            if (!pal_lang_parse(optarg, &a->lang)) {
                fprintf(stderr, "palabre chat: --lang takes fr or en\n");
                return 2;
            }
            break;
        default:
            fprintf(stderr, "palabre chat: unknown or incomplete option '%s' (see --help)\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (argc - optind != 1) {
        fprintf(stderr, "usage: palabre chat BOT_DIR [--debug] [--lang fr|en]\n");
        return 2;
    }
    a->dir = argv[optind];
    return 0;
}

/* Reads one line into buf (cap bytes, NUL-terminated), without its line end.
 * False at the end of input when nothing was read. A longer line is cut:
 * *too_long is set and the rest of it skipped. */
static bool read_line(FILE *in, char *buf, size_t cap, size_t *len, bool *too_long)
{
    int ch;
    size_t n = 0;
    bool any = false;
    *too_long = false;
    while ((ch = getc(in)) != EOF) {
        any = true;
        if (ch == '\n')
            break;
        if (n + 1 < cap)
            buf[n++] = (char)ch;
        else
            *too_long = true;
    }
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    *len = n;
    return any;
}

/* The quick replies last offered (copies: the turn's arena is reset). */
typedef struct offered {
    char **buttons;
    size_t n;
} offered;

static void offered_clear(offered *o)
{
    for (size_t i = 0; i < o->n; i++)
        free(o->buttons[i]);
    free(o->buttons);
    o->buttons = NULL;
    o->n = 0;
}

/* Keeps the buttons of the turn's last reply that has some. A turn with none
 * keeps nothing: a number typed then is just a number. */
static void offered_keep(offered *o, const pal_turn *turn)
{
    offered_clear(o);
    for (size_t i = turn->n_replies; i-- > 0;) {
        const pal_reply *r = &turn->replies[i];
        if (r->n_buttons == 0)
            continue;
        o->buttons = pal_xcalloc(r->n_buttons, sizeof(*o->buttons));
        for (size_t k = 0; k < r->n_buttons; k++)
            o->buttons[k] = pal_xstrdup(r->buttons[k]);
        o->n = r->n_buttons;
        return;
    }
}

/* The button a line chooses by its number ("2", " 2 "), or NULL. A line that
 * is itself a button's text ("2" among buttons 1..4) stays what it is. */
static const char *chosen_button(const offered *o, const char *line)
{
    while (*line == ' ' || *line == '\t')
        line++;
    size_t digits = strspn(line, "0123456789");
    if (digits == 0 || digits > 3 || line[digits + strspn(line + digits, " \t")] != '\0')
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < digits; i++)
        k = k * 10 + (size_t)(line[i] - '0');
    for (size_t i = 0; i < o->n; i++) {
        if (strncmp(o->buttons[i], line, digits) == 0 && o->buttons[i][digits] == '\0')
            return NULL;
    }
    return k >= 1 && k <= o->n ? o->buttons[k - 1] : NULL;
}

static bool blank(const char *s)
{
    return s[strspn(s, " \t")] == '\0';
}

static void chat(const pal_bot *bot, pal_analyzer *analyzer, pal_conversation *conv,
                 const chat_args *a)
{
    static const pal_engine_actions actions = {NULL, pal_engine_lookup_direct, pal_http_call};
    bool tty = isatty(STDIN_FILENO) == 1;
    char *line = pal_xmalloc(PAL_TEXT_MAX_BYTES + 1);
    pal_arena *arena = pal_arena_new();
    offered buttons = {NULL, 0};
    size_t len, lineno = 0;
    bool too_long;
    pal_turn turn;

    if (tty)
        fprintf(stderr, "palabre chat: %s — type a message; /quit or Ctrl-D to end\n",
                pal_bot_name(bot));
    for (;;) {
        if (tty) {
            fputs("> ", stdout);
            fflush(stdout);
        }
        if (!read_line(stdin, line, PAL_TEXT_MAX_BYTES + 1, &len, &too_long)) {
            if (tty)
                fputc('\n', stdout);
            break;
        }
        lineno++;
        if (too_long) {
            fprintf(stderr, "palabre chat: line %zu: longer than %zu bytes, message ignored\n",
                    lineno, PAL_TEXT_MAX_BYTES);
            continue;
        }
        if (strcmp(line, "/quit") == 0)
            break;
        if (len == strlen(line) && blank(line))
            continue;
        const char *text = line;
        const char *button = len == strlen(line) ? chosen_button(&buttons, line) : NULL;
        if (button) {
            text = button;
            len = strlen(button);
        }
        bool silent = pal_conversation_handed_over(conv);
        pal_arena_reset(arena);
        pal_err err = pal_engine_step(bot, analyzer, conv, text, len, &actions, arena, &turn);
        if (err) {
            fprintf(stderr, "palabre chat: line %zu: %s, message ignored\n", lineno,
                    err == PAL_ERR_UTF8    ? "not valid UTF-8 text"
                    : err == PAL_ERR_LIMIT ? "too long"
                                           : pal_err_str(err));
            continue;
        }
        if (a->debug) {
            if (button)
                printf("# quick reply %s: %s\n", line, button);
            pal_transcript_debug(stdout, "", &turn);
        }
        pal_transcript_turn(stdout, "", &turn);
        if (silent && turn.n_replies == 0)
            puts("— a person is handling this conversation: the bot stays silent —");
        offered_keep(&buttons, &turn);
        fflush(stdout);
    }
    offered_clear(&buttons);
    pal_arena_free(arena);
    free(line);
}

static int run(int argc, char **argv)
{
    chat_args a = {NULL, false, PAL_LANG_UNKNOWN};
    pal_bot *bot = NULL;
    pal_analyzer *analyzer = NULL;
    pal_conversation *conv = NULL;
    char err[1024];
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc;
    /* The engine's warnings (a failed service call) are for authors. */
    pal_log_set_level(a.debug ? PAL_LOG_WARN : PAL_LOG_ERR);
    rc = 1;
    if (pal_bot_load(a.dir, &bot, err, sizeof(err)) != PAL_OK) {
        fprintf(stderr, "palabre chat: %s\n", err);
        goto out;
    }
    if (pal_analyzer_new(&analyzer) != PAL_OK) {
        fprintf(stderr, "palabre chat: cannot create the text analyzer\n");
        goto out;
    }
    conv = pal_conversation_new(bot);
    if (a.lang != PAL_LANG_UNKNOWN && pal_conversation_set_lang(conv, a.lang) != PAL_OK) {
        fprintf(stderr, "palabre chat: bot %s does not speak '%s'\n", pal_bot_name(bot),
                pal_lang_code(a.lang));
        rc = 2;
        goto out;
    }
    chat(bot, analyzer, conv, &a);
    rc = 0;
out:
    pal_conversation_free(conv);
    pal_analyzer_free(analyzer);
    pal_bot_free(bot);
    return rc;
}

const pal_command pal_cmd_chat = {
    "chat",
    "talk with a bot in the terminal",
    help,
    run,
};
