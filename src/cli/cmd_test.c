/*
 * cmd_test.c — `palabre test BOT_DIR...`: run bots' conversation tests.
 *
 * Every .yaml (and .yml) file in tests/ of each bot, in name order, is one
 * conversation from a fresh state (dialog/convtest.h). One line per file,
 * "ok   shop/buy-fr.yaml  buy two mugs" or "FAIL ..." and a diff; the last
 * line is "N passed, N failed", which scripts/test-all reads. A bot that
 * cannot be loaded and a test file that cannot be parsed count as failed.
 */
#include <dirent.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/log.h"
#include "base/mem.h"
#include "cli/cli.h"
#include "dialog/bot.h"
#include "dialog/convtest.h"
#include "dialog/http_actions.h"
#include "text/analyze.h"

static const char help[] =
    "usage: palabre test BOT_DIR [BOT_DIR...] [--verbose]\n\n"
    "Runs the conversation tests of each bot: every BOT_DIR/tests/*.yaml file, in\n"
    "name order, is one conversation from a fresh state (format: docs/bots.md,\n"
    "\"Conversation tests\"). Prints one line per file:\n"
    "  ok   shop/buy-fr.yaml  buy two mugs\n"
    "  FAIL shop/buy-en.yaml  buy two mugs\n"
    "followed, for a failure, by the step that failed: what the customer said, what\n"
    "was expected and what the bot did (replies, quick replies, slots, the --debug\n"
    "line of `palabre chat`). The last line is \"N passed, N failed\". A bot that\n"
    "cannot be loaded, or a test file that cannot be read, counts as one failure.\n\n"
    "Services a test mocks (services:) answer without network; others are called\n"
    "over HTTP (PALABRE_<BOT>_SERVICE_<NAME>_URL overrides a service's URL).\n\n"
    "options:\n"
    "  --verbose    print every step of every test, passed or not, and the\n"
    "               engine's warnings\n"
    "  -h, --help   this help\n\n"
    "exit status: 0 every test passed, 1 a test failed (or none could run),\n"
    "             2 bad usage\n\n"
    "examples:\n"
    "  palabre test bots/stade\n"
    "  palabre test bots/*/\n";

typedef struct counts {
    size_t passed, failed;
} counts;

static bool is_test_file(const char *name)
{
    size_t n = strlen(name);
    if (name[0] == '.')
        return false;
    return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
           (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* dir/name, without doubling the slash of "bots/shop/". */
static char *join(const char *dir, const char *name)
{
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/')
        len--;
    size_t n = len + 1 + strlen(name) + 1;
    char *path = pal_xmalloc(n);
    snprintf(path, n, "%.*s/%s", (int)len, dir, name);
    return path;
}

/* The test files of tests_dir, sorted; *n (OUT) of them. Caller frees each
 * and the array. NULL when the folder cannot be read. */
static char **list_tests(const char *tests_dir, size_t *n)
{
    DIR *d = opendir(tests_dir);
    char **names = NULL;
    size_t cap = 0;
    struct dirent *e;
    *n = 0;
    if (!d)
        return NULL;
    while ((e = readdir(d)) != NULL) {
        if (!is_test_file(e->d_name))
            continue;
        char *path = join(tests_dir, e->d_name);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            pal_xreserve((void **)&names, &cap, *n + 1, sizeof(*names));
            names[(*n)++] = pal_xstrdup(e->d_name);
        }
        free(path);
    }
    closedir(d);
    if (*n > 1)
        qsort(names, *n, sizeof(*names), cmp_names);
    return names ? names : pal_xcalloc(1, sizeof(*names));
}

/* The bot folder's last component ("bots/shop/" -> "shop"), for display. */
static char *display_name(const char *dir)
{
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/')
        len--;
    size_t start = len;
    while (start > 0 && dir[start - 1] != '/')
        start--;
    return pal_xstrndup(dir + start, len - start);
}

/* Runs one file; prints its line and, when needed, its report. */
static void run_file(const pal_bot *bot, pal_analyzer *analyzer, const char *shown,
                     const char *path, bool verbose, counts *c)
{
    char err[1024];
    pal_convtest *test = NULL;
    char *report = NULL;
    size_t report_len = 0;
    if (pal_convtest_load(bot, path, &test, err, sizeof(err)) != PAL_OK) {
        printf("FAIL %s\n  %s\n", shown, err);
        c->failed++;
        return;
    }
    FILE *mem = open_memstream(&report, &report_len);
    if (!mem)
        abort(); /* out of memory (STYLE: memory) */
    bool passed = false;
    pal_convtest_run(test, analyzer, pal_http_call, verbose, mem, &passed);
    fclose(mem);
    const char *name = pal_convtest_name(test);
    printf("%s %s%s%s\n", passed ? "ok  " : "FAIL", shown, name ? "  " : "", name ? name : "");
    if (!passed || verbose)
        fputs(report, stdout);
    fflush(stdout);
    if (passed)
        c->passed++;
    else
        c->failed++;
    free(report);
    pal_convtest_free(test);
}

static void run_bot(const char *dir, pal_analyzer *analyzer, bool verbose, counts *c)
{
    char err[1024];
    pal_bot *bot = NULL;
    char *shown = display_name(dir);
    char *tests_dir = join(dir, "tests");
    char **files = NULL;
    size_t n = 0;
    if (pal_bot_load(dir, &bot, err, sizeof(err)) != PAL_OK) {
        printf("FAIL %s/bot.yaml  the bot does not load\n  %s\n", shown, err);
        c->failed++;
        goto out;
    }
    files = list_tests(tests_dir, &n);
    if (!files || n == 0) {
        fprintf(stderr, "palabre test: %s: no test files (%s/*.yaml)\n", shown, tests_dir);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        char *path = join(tests_dir, files[i]);
        char *label = join(shown, files[i]);
        run_file(bot, analyzer, label, path, verbose, c);
        free(label);
        free(path);
    }
out:
    for (size_t i = 0; i < n; i++)
        free(files[i]);
    free(files);
    free(tests_dir);
    free(shown);
    pal_bot_free(bot);
}

static int run(int argc, char **argv)
{
    enum { OPT_VERBOSE = 256 };
    static const struct option options[] = {
        {"verbose", no_argument, NULL, OPT_VERBOSE},
        {NULL, 0, NULL, 0},
    };
    bool verbose = false;
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (opt != OPT_VERBOSE) {
            fprintf(stderr, "palabre test: unknown option '%s' (see --help)\n", argv[optind - 1]);
            return 2;
        }
        verbose = true;
    }
    if (optind >= argc) {
        fprintf(stderr, "usage: palabre test BOT_DIR [BOT_DIR...] [--verbose]\n");
        return 2;
    }
    /* Mocked services fail on purpose in tests: the engine's warnings about
     * it are noise unless asked for. */
    pal_log_set_level(verbose ? PAL_LOG_WARN : PAL_LOG_ERR);
    pal_analyzer *analyzer = NULL;
    if (pal_analyzer_new(&analyzer) != PAL_OK) {
        fprintf(stderr, "palabre test: cannot create the text analyzer\n");
        return 1;
    }
    counts c = {0, 0};
    for (int i = optind; i < argc; i++)
        run_bot(argv[i], analyzer, verbose, &c);
    pal_analyzer_free(analyzer);
    printf("%zu passed, %zu failed\n", c.passed, c.failed);
    return c.failed == 0 && c.passed > 0 ? 0 : 1;
}

const pal_command pal_cmd_test = {
    "test",
    "run bots' conversation tests (BOT_DIR/tests/*.yaml)",
    help,
    run,
};
