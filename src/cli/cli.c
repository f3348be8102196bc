/*
 * cli.c — dispatch to subcommands and the top-level help.
 */
#include "cli/cli.h"

#include <string.h>

static const pal_command *const commands[] = {
    &pal_cmd_serve,
    &pal_cmd_chat,
    &pal_cmd_test,
    &pal_cmd_nlu_eval,
};

enum { N_COMMANDS = sizeof(commands) / sizeof(commands[0]) };

static void print_usage(FILE *f)
{
    fprintf(f, "palabre — a self-hosted brand conversation server\n\n"
               "usage: palabre COMMAND [OPTIONS]\n"
               "       palabre COMMAND --help    help on one command\n"
               "       palabre --version\n\n"
               "commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-12s %s\n", commands[i]->name, commands[i]->summary);
}

int pal_cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
        if (strcmp(argv[i], "--") == 0)
            break;
    }
    return 0;
}

int pal_cli_main(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        if (argc > 2 && strcmp(name, "help") == 0) {
            for (size_t i = 0; i < N_COMMANDS; i++) {
                if (strcmp(commands[i]->name, argv[2]) == 0) {
                    fputs(commands[i]->help, stdout);
                    return 0;
                }
            }
        }
        print_usage(stdout);
        return 0;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        printf("palabre %s\n", PALABRE_VERSION);
        return 0;
    }
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (strcmp(commands[i]->name, name) != 0)
            continue;
        if (pal_cli_wants_help(argc - 1, argv + 1)) {
            fputs(commands[i]->help, stdout);
            return 0;
        }
        return commands[i]->run(argc - 1, argv + 1);
    }
    fprintf(stderr, "palabre: unknown command '%s'\n\n", name);
    print_usage(stderr);
    return 2;
}
