/*
 * transcript.c — one turn as text, for `palabre chat` and `palabre test`
 * (see transcript.h for the formats).
 */
#include "dialog/transcript.h"

#include <stdbool.h>
#include <string.h>

#include "text/langid.h"

void pal_transcript_buttons(FILE *f, const char *indent, const char *const *buttons, size_t n)
{
    if (n == 0)
        return;
    fputs(indent, f);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "  [%zu] %s", i + 1, buttons[i]);
    fputc('\n', f);
}

/* text, each of its lines after indent. */
static void print_lines(FILE *f, const char *indent, const char *text)
{
    do {
        size_t n = strcspn(text, "\n");
        fprintf(f, "%s%.*s\n", indent, (int)n, text);
        text += n;
    } while (*text && *++text);
}

void pal_transcript_turn(FILE *f, const char *indent, const pal_turn *turn)
{
    for (size_t i = 0; i < turn->n_replies; i++) {
        const pal_reply *r = &turn->replies[i];
        print_lines(f, indent, r->text ? r->text : "");
        pal_transcript_buttons(f, indent, r->buttons, r->n_buttons);
    }
    if (turn->handoff)
        fprintf(f, "%s— a person takes over (%s) —\n", indent,
                turn->handoff_reason ? turn->handoff_reason : "no reason given");
}

static bool needs_quotes(const char *s)
{
    return !*s || strpbrk(s, " \t\n=\"") != NULL;
}

static void print_value(FILE *f, const char *s)
{
    if (!needs_quotes(s)) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        if (*s == '\n')
            fputs("\\n", f);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

void pal_transcript_debug(FILE *f, const char *indent, const pal_turn *turn)
{
    fprintf(f, "%s# lang=%s intent=%s (%.2f) entities:", indent, pal_lang_code(turn->lang),
            turn->intent ? turn->intent : "none", (double)turn->confidence);
    if (turn->n_entities == 0)
        fputs(" -", f);
    for (size_t i = 0; i < turn->n_entities; i++) {
        fprintf(f, " %s=", turn->entities[i].name);
        print_value(f, turn->entities[i].value ? turn->entities[i].value : "");
    }
    if (turn->flow && turn->step_line > 0)
        fprintf(f, " | flow=%s step=bot.yaml:%d\n", turn->flow, turn->step_line);
    else if (turn->flow)
        fprintf(f, " | flow=%s\n", turn->flow);
    else
        fputs(" | flow=-\n", f);
}
