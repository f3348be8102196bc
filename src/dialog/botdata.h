/*
 * botdata.h — a bot's own data: the CSV files of its folder, loaded into an
 * in-memory SQLite database at bot load, queried by flows with read-only
 * SELECTs and :named parameters only.
 *
 * Files. Every `NAME.csv` directly in the bot folder (sorted by name) becomes
 * table NAME. Table and column names must match [a-z_][a-z0-9_]*, be at most
 * PAL_BOTDATA_MAX_NAME bytes and not start with "sqlite_"; a file ending in
 * .csv in any case whose name breaks the rule is an error, not skipped (files
 * starting with '.' are skipped). The format is
 * RFC 4180: comma-separated, fields quoted with '"' when they hold commas,
 * quotes (doubled: "") or line ends; LF or CRLF line ends; an optional UTF-8
 * byte-order mark. Blank lines are skipped (so a one-column file writes an
 * empty value as ""). The first line names the columns (unique); every row has
 * exactly that many fields. Every byte is strict UTF-8 without NUL.
 *
 * Types. A column whose non-empty values are all integers written the
 * canonical way (-?(0|[1-9][0-9]*), within 64 bits) is INTEGER; one whose
 * non-empty values are all integers or decimals (-?(0|[1-9][0-9]*).[0-9]+, at
 * most 15 digits, so the value is exact) is REAL; any other is TEXT. A leading
 * zero (postal code "01000") keeps a column TEXT. Empty values are NULL in
 * INTEGER and REAL columns, '' in TEXT ones.
 *
 * Indexes, so that look-ups by key are fast: on the first column, on columns
 * named `id` or ending in `_id`, and on columns whose name holds `code` or
 * `insee` (code_postal, postcode, code_insee).
 *
 * Queries. A query is one SELECT (WITH … SELECT allowed) whose parameters are
 * all :named. Anything that could change or reach outside the data is refused
 * at prepare: writes, DDL, ATTACH, PRAGMA, transactions, load_extension() and
 * fts3_tokenizer(); the database connections are read-only besides. Values are
 * bound, never spliced into SQL. A run that takes more than
 * PAL_BOTDATA_MAX_STEPS SQLite VM steps (about a tenth of a second) or makes
 * a value over 32 MiB is stopped (PAL_ERR_LIMIT). Sorts stay in memory.
 *
 * Threads. A pal_botdata is immutable once open; pal_botdata_prepare() may be
 * called from any thread. pal_botdata_run() is thread-safe: concurrent runs of
 * one query each get a SQLite connection of their own (made on first need and
 * kept until the query is freed, so N threads cost N connections per query,
 * sharing the same read-only database image). So prepare each query once at
 * bot load and share it between all engine threads. pal_botdata_query_free()
 * and pal_botdata_close() must not overlap any other call on the same object.
 * For runs to scale across cores, main should call
 * sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) before any other SQLite call:
 * otherwise every SQLite allocation takes one process-wide mutex (Debian's
 * libsqlite3 is built without lookaside, so a run allocates several times).
 */
#ifndef PAL_DIALOG_BOTDATA_H
#define PAL_DIALOG_BOTDATA_H

#include <stddef.h>

#include "base/err.h"
#include "base/mem.h"

#define PAL_BOTDATA_MAX_FILE_BYTES ((size_t)256 << 20)
#define PAL_BOTDATA_MAX_FIELD_BYTES ((size_t)64 << 10)
#define PAL_BOTDATA_MAX_COLUMNS 256
#define PAL_BOTDATA_MAX_NAME 64
#define PAL_BOTDATA_MAX_STEPS 10000000

typedef struct pal_botdata pal_botdata; /* opaque: the loaded tables */

/* Loads every NAME.csv file of dir (borrowed; not recursive) as described
 * above. A folder without CSV files gives an empty database. On PAL_OK *out
 * (OUT) is the caller's: release with pal_botdata_close(). Errors, with
 * "PATH:LINE:COLUMN: why" in errbuf (errlen bytes; may be NULL; column counts
 * characters from 1):
 *   PAL_ERR_IO    dir or a file cannot be read (errbuf: path and reason);
 *   PAL_ERR_PARSE a bad file, table or column name, a duplicate column, a
 *                 malformed quote, a bare CR, a row of the wrong width;
 *   PAL_ERR_UTF8  a byte that is not strict UTF-8, or a NUL;
 *   PAL_ERR_LIMIT a file over PAL_BOTDATA_MAX_FILE_BYTES, a field over
 *                 PAL_BOTDATA_MAX_FIELD_BYTES, over PAL_BOTDATA_MAX_COLUMNS
 *                 columns. */
pal_err pal_botdata_open(const char *dir, pal_botdata **out, char *errbuf, size_t errlen);
/* Frees data; every query prepared on it must be freed first. NULL is a no-op. */
void pal_botdata_close(pal_botdata *data);

typedef struct pal_botdata_query pal_botdata_query; /* opaque: a prepared SELECT */

/* Compiles sql (borrowed) against data (borrowed: it must outlive the query).
 * On PAL_OK *out (OUT) is the caller's: release with pal_botdata_query_free().
 * PAL_ERR_INVALID when sql is not exactly one read-only SELECT with :named
 * parameters, or SQLite rejects it; errbuf then holds SQLite's message (e.g.
 * "no such column: nom", "not authorized") or ours. */
pal_err pal_botdata_prepare(pal_botdata *data, const char *sql, pal_botdata_query **out,
                            char *errbuf, size_t errlen);
/* NULL is a no-op. */
void pal_botdata_query_free(pal_botdata_query *q);

/* The query's distinct parameters, in order of first appearance, named
 * without the ':' ("postcode" for :postcode), so that the bot loader can check
 * each is a known slot. Names are owned by q. Thread-safe. */
size_t pal_botdata_query_param_count(const pal_botdata_query *q);
const char *pal_botdata_query_param_name(const pal_botdata_query *q, size_t i);

/* A run's result. Everything points into the arena given to the run. */
typedef struct pal_botdata_rows {
    size_t n_rows, n_cols;
    const char *const *columns; /* n_cols column names */
    const char *const *values;  /* n_rows * n_cols texts, row-major (row r, column c at
                                   r * n_cols + c); NULL for SQL NULL. Numbers come as SQLite
                                   prints them (52.3, 75011). */
} pal_botdata_rows;

/* Runs q with its parameters given as n_params (names[i], values[i]) pairs of
 * text (borrowed for the call; names without ':'; a NULL value binds SQL NULL;
 * pairs naming no parameter of q are ignored). Fills *out (OUT) with at most
 * max_rows rows allocated in arena (borrowed; the rows live until it is reset).
 * Errors (*out then empty; anything already put in the arena stays there):
 *   PAL_ERR_INVALID a parameter of q is not given;
 *   PAL_ERR_UTF8    a value given, or one the query made (x'FF'), is not valid
 *                   UTF-8 (or holds a NUL);
 *   PAL_ERR_LIMIT   more than max_rows rows (the flow asked something too broad),
 *                   or the query ran too long or made too big a value;
 *   PAL_ERR_INTERNAL SQLite failed (logged).
 * Thread-safe (see the top of this file). */
pal_err pal_botdata_run(pal_botdata_query *q, const char *const *names, const char *const *values,
                        size_t n_params, size_t max_rows, pal_arena *arena, pal_botdata_rows *out);

/* For the fuzzer and tests: like pal_botdata_open() on a folder holding one
 * file named file_name (e.g. "fuzz.csv", giving table fuzz) whose bytes are
 * text[0..len) (borrowed). Same rules, errors and messages. */
pal_err pal_botdata__open_text(const char *file_name, const char *text, size_t len,
                               pal_botdata **out, char *errbuf, size_t errlen);

#endif
