/*
 * main.c — the palabre program: everything else lives in libpalabre.
 */
#include "cli/cli.h"

int main(int argc, char **argv)
{
    return pal_cli_main(argc, argv);
}
