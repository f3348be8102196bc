/*
 * cli.h — palabre's command line: one table of subcommands.
 *
 * `palabre COMMAND [OPTIONS]`; `palabre --help` lists the commands from the
 * table, `palabre COMMAND --help` prints that command's help. Each command
 * lives in its own cmd_NAME.c and returns a process exit code:
 * 0 success, 1 failure of the work, 2 bad usage.
 */
#ifndef PAL_CLI_CLI_H
#define PAL_CLI_CLI_H

#include <stdio.h>

typedef struct pal_command {
    const char *name;
    const char *summary;               /* one line for `palabre --help` */
    const char *help;                  /* full help: usage, options, examples */
    int (*run)(int argc, char **argv); /* argv[0] is the command name */
} pal_command;

/* Runs palabre with the process' arguments; returns the exit code. */
int pal_cli_main(int argc, char **argv);

/* True when argv[1..] holds --help or -h (commands print their help then). */
int pal_cli_wants_help(int argc, char **argv);

extern const pal_command pal_cmd_serve;
extern const pal_command pal_cmd_chat;
extern const pal_command pal_cmd_test;
extern const pal_command pal_cmd_nlu_eval;

#endif
