/*
 * test_dialog_botdata.c — a bot's CSV files as SQLite tables: what loads,
 * what is refused (naming file:line:column), and queries that can only read,
 * with parameters that are bound, never spliced.
 *
 * Every test gets a fresh folder from mkdtemp (its state), removed afterwards.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <pthread.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "dialog/botdata.h"

static int make_dir(void **state)
{
    char *dir = strdup("/tmp/palabre-botdata-XXXXXX");
    if (!dir || !mkdtemp(dir))
        return -1;
    *state = dir;
    return 0;
}

static int remove_dir(void **state)
{
    char *dir = *state;
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char path[4096];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            if (unlink(path) != 0)
                rmdir(path);
        }
        closedir(d);
    }
    rmdir(dir);
    free(dir);
    return 0;
}

static void write_bytes(const char *dir, const char *name, const char *bytes, size_t len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void write_text(const char *dir, const char *name, const char *text)
{
    write_bytes(dir, name, text, strlen(text));
}

static void remove_file(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    assert_int_equal(unlink(path), 0);
}

/* Runs sql (which must prepare) with the given parameters; *rows gets the result. */
static pal_err query(pal_botdata *data, const char *sql, const char *const *names,
                     const char *const *values, size_t n, size_t max_rows, pal_arena *arena,
                     pal_botdata_rows *rows)
{
    pal_botdata_query *q = NULL;
    char err[256] = "";
    pal_err e = pal_botdata_prepare(data, sql, &q, err, sizeof(err));
    if (e != PAL_OK)
        fail_msg("prepare %s: %s", sql, err);
    e = pal_botdata_run(q, names, values, n, max_rows, arena, rows);
    pal_botdata_query_free(q);
    return e;
}

/* The one value a query without parameters returns. */
static const char *scalar(pal_botdata *data, const char *sql, pal_arena *arena)
{
    pal_botdata_rows rows;
    assert_int_equal(query(data, sql, NULL, NULL, 0, 10, arena, &rows), PAL_OK);
    assert_int_equal(rows.n_rows, 1);
    assert_int_equal(rows.n_cols, 1);
    return rows.values[0];
}

static pal_botdata *open_ok(const char *dir)
{
    pal_botdata *data = NULL;
    char err[512] = "";
    pal_err e = pal_botdata_open(dir, &data, err, sizeof(err));
    if (e != PAL_OK)
        fail_msg("open: %s (%s)", err, pal_err_str(e));
    return data;
}

/* Opening dir fails with want, and the message holds `message`. */
static void open_fails(const char *dir, pal_err want, const char *message)
{
    pal_botdata *data = NULL;
    char err[512] = "";
    pal_err e = pal_botdata_open(dir, &data, err, sizeof(err));
    if (e != want || !strstr(err, message))
        fail_msg("want %s with \"%s\", got %s: \"%s\"", pal_err_str(want), message, pal_err_str(e),
                 err);
    assert_null(data);
}

static void infers_column_types(void **state)
{
    const char *dir = *state;
    write_text(dir, "t.csv",
               "id,code_postal,score,label,empty,big,neg\n"
               "1,01000,52.3,Bourg,,9223372036854775807,-4\n"
               "2,75011,7,Paris,,9223372036854775808,0\n"
               "3,69003,,Lyon,,1,-0.5\n");
    pal_botdata *data = open_ok(dir);
    pal_arena *arena = pal_arena_new();
    assert_string_equal(scalar(data, "SELECT sql FROM sqlite_master WHERE name = 't'", arena),
                        "CREATE TABLE \"t\" (\"id\" INTEGER, \"code_postal\" TEXT, \"score\" REAL, "
                        "\"label\" TEXT, \"empty\" TEXT, \"big\" TEXT, \"neg\" REAL)");
    /* Leading zeros are kept: a postal code is not a number. */
    assert_string_equal(scalar(data, "SELECT code_postal FROM t WHERE id = 1", arena), "01000");
    assert_string_equal(scalar(data, "SELECT typeof(id) FROM t WHERE id = 2", arena), "integer");
    assert_string_equal(scalar(data, "SELECT score FROM t WHERE id = 1", arena), "52.3");
    assert_string_equal(scalar(data, "SELECT score FROM t WHERE id = 2", arena), "7.0");
    /* Empty values: NULL in a numeric column, '' in a text one. */
    assert_null(scalar(data, "SELECT score FROM t WHERE id = 3", arena));
    assert_string_equal(scalar(data, "SELECT empty FROM t WHERE id = 3", arena), "");
    /* Past 64 bits a number stays text, exactly as written. */
    assert_string_equal(scalar(data, "SELECT big FROM t WHERE id = 2", arena),
                        "9223372036854775808");
    assert_string_equal(scalar(data, "SELECT sum(neg) FROM t", arena), "-4.5");
    /* Key-like columns are indexed. */
    assert_string_equal(
        scalar(data,
               "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master "
               "WHERE type = 'index' ORDER BY name)",
               arena),
        "t.code_postal,t.id");
    pal_arena_free(arena);
    pal_botdata_close(data);
}

static void reads_quoted_fields(void **state)
{
    const char *dir = *state;
    write_text(dir, "q.csv",
               "id,text\n"
               "1,\"a, b\"\n"
               "2,\"say \"\"hi\"\"\"\n"
               "3,\"two\nlines\"\n"
               "4,\"crlf\r\ninside\"\r\n"
               "5,\"\"\n"
               "6,\"\"\"\"\n"
               "7,plain text with spaces \n"
               "8,\"Résultat, ünïcödé 🗳\"");
    pal_botdata *data = open_ok(dir);
    pal_arena *arena = pal_arena_new();
    pal_botdata_rows rows;
    assert_int_equal(
        query(data, "SELECT text FROM q ORDER BY id", NULL, NULL, 0, 100, arena, &rows), PAL_OK);
    const char *want[] = {"a, b",
                          "say \"hi\"",
                          "two\nlines",
                          "crlf\r\ninside",
                          "",
                          "\"",
                          "plain text with spaces ",
                          "Résultat, ünïcödé 🗳"};
    assert_int_equal(rows.n_rows, 8);
    for (size_t i = 0; i < 8; i++)
        assert_string_equal(rows.values[i], want[i]);
    assert_string_equal(rows.columns[0], "text");
    pal_arena_free(arena);
    pal_botdata_close(data);
}

static void reads_bom_crlf_and_blank_lines(void **state)
{
    const char *dir = *state;
    write_text(dir, "b.csv",
               "\xEF\xBB\xBF"
               "code,nom\r\n"
               "\r\n"
               "75011,Paris 11e\r\n"
               "\n"
               "69003,Lyon 3e\r\n"
               "\r\n");
    write_text(dir, "only_header.csv", "a,b\n");
    pal_botdata *data = open_ok(dir);
    pal_arena *arena = pal_arena_new();
    /* The mark is not part of the first column's name; CR is not part of values. */
    assert_string_equal(scalar(data, "SELECT nom FROM b WHERE code = 75011", arena), "Paris 11e");
    assert_string_equal(scalar(data, "SELECT count(*) FROM b", arena), "2");
    assert_string_equal(scalar(data, "SELECT count(*) FROM only_header", arena), "0");
    pal_arena_free(arena);
    pal_botdata_close(data);
}

static void empty_folder_gives_empty_database(void **state)
{
    const char *dir = *state;
    write_text(dir, "README.md", "not data\n");
    write_text(dir, ".hidden.csv", "Not,Loaded\n");
    pal_botdata *data = open_ok(dir);
    pal_arena *arena = pal_arena_new();
    assert_string_equal(scalar(data, "SELECT count(*) FROM sqlite_master", arena), "0");
    pal_botdata_query *q = NULL;
    char err[256] = "";
    assert_int_equal(pal_botdata_prepare(data, "SELECT * FROM communes", &q, err, sizeof(err)),
                     PAL_ERR_INVALID);
    assert_string_equal(err, "no such table: communes");
    assert_null(q);
    pal_arena_free(arena);
    pal_botdata_close(data);
    pal_botdata_close(NULL);
    pal_botdata_query_free(NULL);

    char missing[4200];
    snprintf(missing, sizeof(missing), "%s/nope", dir);
    open_fails(missing, PAL_ERR_IO, "nope: No such file or directory");
}

static void refuses_bad_names(void **state)
{
    const char *dir = *state;
    static const struct {
        const char *file, *text, *message;
    } bad[] = {
        {"Communes.csv", "a\n1\n", "Communes.csv: a data file is named NAME.csv"},
        {"codes-postaux.csv", "a\n1\n", "codes-postaux.csv: a data file is named"},
        {"x.CSV", "a\n1\n", "x.CSV: a data file is named"},
        {"9lives.csv", "a\n1\n", "9lives.csv: a data file"},
        {"sqlite_x.csv", "a\n1\n", "sqlite_x.csv: a data file"},
        {"t.csv", "code,Nom\n1,2\n", "t.csv:1:6: column name must match [a-z_][a-z0-9_]*"},
        {"t.csv", "code,1a\n1,2\n", "t.csv:1:6: column name must match"},
        {"t.csv", "code,,x\n1,2,3\n", "t.csv:1:6: column name must match"},
        {"t.csv", "code,nom prénom\n1,2\n", "t.csv:1:6: column name must match"},
        {"t.csv", "\"a\",\"sqlite_rowid\"\n1,2\n", "t.csv:1:5: column name must match"},
        {"t.csv", "", "t.csv:1:1: empty file"},
        {"t.csv", "\n\r\n", "t.csv:3:1: empty file"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        write_text(dir, bad[i].file, bad[i].text);
        open_fails(dir, PAL_ERR_PARSE, bad[i].message);
        remove_file(dir, bad[i].file);
    }
    /* A quoted header name follows the same rule, and is fine when it does. */
    write_text(dir, "t.csv", "\"code\",nom\n1,x\n");
    pal_botdata_close(open_ok(dir));
}

static void refuses_duplicate_columns(void **state)
{
    const char *dir = *state;
    write_text(dir, "t.csv", "code,nom,code\n1,a,2\n");
    open_fails(dir, PAL_ERR_PARSE, "t.csv:1:10: duplicate column name code");
}

static void refuses_ragged_rows(void **state)
{
    const char *dir = *state;
    write_text(dir, "t.csv", "a,b,c\n1,2,3\n4,5\n");
    open_fails(dir, PAL_ERR_PARSE, "t.csv:3:4: row has 2 fields, the header has 3");
    write_text(dir, "t.csv", "a,b,c\n1,2,3\n\"x\ny\",5,6,7\n");
    open_fails(dir, PAL_ERR_PARSE, "t.csv:4:8: row has more fields than the header's 3");
    /* A trailing comma is one more (empty) field. */
    write_text(dir, "t.csv", "a,b\n1,2,\n");
    open_fails(dir, PAL_ERR_PARSE, "t.csv:2:5: row has more fields");
}

static void refuses_malformed_quotes_and_bare_cr(void **state)
{
    const char *dir = *state;
    static const struct {
        const char *text, *message;
    } bad[] = {
        {"a,b\n1,\"never closed\n2,3\n", "t.csv:2:3: quoted field never closed"},
        {"a,b\n1,\"closed\"then\n", "t.csv:2:11: expected ',' or a line end after the closing"},
        {"a,b\n1,5\" screen\n", "t.csv:2:4: quote inside an unquoted field"},
        {"a,b\r1,2\r", "t.csv:1:4: carriage return without a line feed"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        write_text(dir, "t.csv", bad[i].text);
        open_fails(dir, PAL_ERR_PARSE, bad[i].message);
    }
}

static void refuses_invalid_utf8(void **state)
{
    const char *dir = *state;
    write_text(dir, "t.csv", "code,nom\n1,Orléans\n2,Ch\xC3\x28teau\n");
    open_fails(dir, PAL_ERR_UTF8, "t.csv:3:5: invalid UTF-8");
    write_bytes(dir, "t.csv", "code,nom\n1,a\0b\n", 15);
    open_fails(dir, PAL_ERR_UTF8, "t.csv:2:4: invalid UTF-8");
    write_text(dir, "t.csv", "code,nom\n1,\"\xED\xA0\x80\"\n"); /* a surrogate */
    open_fails(dir, PAL_ERR_UTF8, "t.csv:2:4: invalid UTF-8");
}

static void enforces_limits(void **state)
{
    const char *dir = *state;
    size_t big = (size_t)1 << 20; /* 1 MiB field */
    char *text = malloc(big + 64);
    assert_non_null(text);
    memcpy(text, "a,b\n1,", 6);
    memset(text + 6, 'x', big);
    memcpy(text + 6 + big, "\n", 1);
    write_bytes(dir, "t.csv", text, 7 + big);
    open_fails(dir, PAL_ERR_LIMIT, "t.csv:2:3: field longer than 64 KiB");
    /* Quoted, with escapes. */
    text[6] = '"';
    memcpy(text + 6 + big, "\"\n", 2);
    memcpy(text + 100, "\"\"", 2);
    write_bytes(dir, "t.csv", text, 8 + big);
    open_fails(dir, PAL_ERR_LIMIT, "t.csv:2:3: field longer than 64 KiB");
    /* Exactly 64 KiB is fine. */
    size_t max = PAL_BOTDATA_MAX_FIELD_BYTES;
    memset(text + 6, 'y', max);
    text[6 + max] = '\n';
    write_bytes(dir, "t.csv", text, 7 + max);
    pal_botdata *data = open_ok(dir);
    pal_arena *arena = pal_arena_new();
    assert_int_equal(strlen(scalar(data, "SELECT b FROM t", arena)), max);
    pal_arena_free(arena);
    pal_botdata_close(data);
    free(text);

    /* 257 columns. */
    char header[4096] = "";
    size_t at = 0;
    for (int i = 0; i <= PAL_BOTDATA_MAX_COLUMNS; i++)
        at += (size_t)snprintf(header + at, sizeof(header) - at, "%sc%d", i ? "," : "", i);
    snprintf(header + at, sizeof(header) - at, "\n");
    write_text(dir, "t.csv", header);
    open_fails(dir, PAL_ERR_LIMIT, "more than 256 columns");
}

/* A small communes table for the query tests. */
static pal_botdata *communes(const char *dir)
{
    write_text(dir, "communes.csv",
               "code_postal,code_insee,nom,population\n"
               "75011,75111,Paris 11e Arrondissement,142583\n"
               "69003,69383,Lyon 3e Arrondissement,103221\n"
               "01000,01053,Bourg-en-Bresse,41365\n"
               "01000,01344,Saint-Denis-lès-Bourg,5903\n"
               "2A004,2A004,Ajaccio,71361\n");
    write_text(dir, "results.csv", "code_insee,votes\n75111,1000\n01053,\n");
    return open_ok(dir);
}

static void runs_named_parameters(void **state)
{
    pal_botdata *data = communes(*state);
    pal_arena *arena = pal_arena_new();
    pal_botdata_query *q = NULL;
    char err[256] = "";
    assert_int_equal(pal_botdata_prepare(data,
                                         "SELECT c.nom, r.votes FROM communes c LEFT JOIN results "
                                         "r USING (code_insee) WHERE c.code_postal = :postcode "
                                         "AND population >= :min OR c.code_postal = :postcode "
                                         "ORDER BY c.nom",
                                         &q, err, sizeof(err)),
                     PAL_OK);
    assert_int_equal(pal_botdata_query_param_count(q), 2);
    assert_string_equal(pal_botdata_query_param_name(q, 0), "postcode");
    assert_string_equal(pal_botdata_query_param_name(q, 1), "min");
    assert_null(pal_botdata_query_param_name(q, 2));

    /* Extra pairs are ignored; order does not matter. */
    const char *names[] = {"min", "unused", "postcode"};
    const char *values[] = {"0", "zzz", "01000"};
    pal_botdata_rows rows;
    assert_int_equal(pal_botdata_run(q, names, values, 3, 10, arena, &rows), PAL_OK);
    assert_int_equal(rows.n_rows, 2);
    assert_int_equal(rows.n_cols, 2);
    assert_string_equal(rows.columns[0], "nom");
    assert_string_equal(rows.columns[1], "votes");
    assert_string_equal(rows.values[0], "Bourg-en-Bresse");
    assert_null(rows.values[1]); /* empty in an INTEGER column: NULL */
    assert_string_equal(rows.values[2], "Saint-Denis-lès-Bourg");
    assert_null(rows.values[3]); /* no result row */

    /* The same query again, other values: nothing left over from the last run. */
    values[2] = "75011";
    assert_int_equal(pal_botdata_run(q, names, values, 3, 10, arena, &rows), PAL_OK);
    assert_int_equal(rows.n_rows, 1);
    assert_string_equal(rows.values[1], "1000");
    values[2] = "99999";
    assert_int_equal(pal_botdata_run(q, names, values, 3, 10, arena, &rows), PAL_OK);
    assert_int_equal(rows.n_rows, 0);

    /* A NULL value binds NULL, which matches nothing. */
    values[2] = NULL;
    assert_int_equal(pal_botdata_run(q, names, values, 3, 10, arena, &rows), PAL_OK);
    assert_int_equal(rows.n_rows, 0);
    /* A value that is not UTF-8 is refused. */
    values[2] = "7501\xFF";
    assert_int_equal(pal_botdata_run(q, names, values, 3, 10, arena, &rows), PAL_ERR_UTF8);
    pal_botdata_query_free(q);
    pal_arena_free(arena);
    pal_botdata_close(data);
}

/* Results are cached per parameter values: a repeated run must give the
 * same rows (copied into the new arena), a different value or a smaller
 * row limit must not be served from the cache. */
static void cached_runs_are_exact(void **state)
{
    pal_botdata *data = communes(*state);
    pal_botdata_query *q = NULL;
    char err[256] = "";
    assert_int_equal(pal_botdata_prepare(data,
                                         "SELECT c.nom FROM communes c WHERE c.code_postal = "
                                         ":postcode ORDER BY c.nom",
                                         &q, err, sizeof(err)),
                     PAL_OK);
    const char *names[] = {"postcode"};
    const char *values[] = {"01000"};
    pal_botdata_rows first;
    pal_botdata_rows again;
    pal_arena *a1 = pal_arena_new();
    pal_arena *a2 = pal_arena_new();
    assert_int_equal(pal_botdata_run(q, names, values, 1, 10, a1, &first), PAL_OK);
    assert_int_equal(pal_botdata_run(q, names, values, 1, 10, a2, &again), PAL_OK);
    assert_int_equal(again.n_rows, first.n_rows);
    assert_int_equal(again.n_cols, first.n_cols);
    assert_string_equal(again.columns[0], "nom");
    for (size_t i = 0; i < first.n_rows; i++)
        assert_string_equal(again.values[i], first.values[i]);
    pal_arena_free(a1); /* the second result does not point into the first arena */
    assert_string_equal(again.values[0], "Bourg-en-Bresse");
    /* Same values, smaller limit: a limit error, not the cached rows. */
    assert_int_equal(pal_botdata_run(q, names, values, 1, 1, a2, &again), PAL_ERR_LIMIT);
    /* Another value: its own rows. */
    values[0] = "75011";
    assert_int_equal(pal_botdata_run(q, names, values, 1, 10, a2, &again), PAL_OK);
    assert_int_equal(again.n_rows, 1);
    values[0] = NULL; /* NULL and "" are different keys */
    assert_int_equal(pal_botdata_run(q, names, values, 1, 10, a2, &again), PAL_OK);
    assert_int_equal(again.n_rows, 0);
    pal_botdata_query_free(q);
    pal_arena_free(a2);
    pal_botdata_close(data);
}

static void missing_parameter_is_invalid(void **state)
{
    pal_botdata *data = communes(*state);
    pal_arena *arena = pal_arena_new();
    const char *names[] = {"postcode"};
    const char *values[] = {"75011"};
    pal_botdata_rows rows;
    assert_int_equal(query(data,
                           "SELECT nom FROM communes WHERE code_postal = :postcode AND "
                           "nom LIKE :prefix || '%'",
                           names, values, 1, 10, arena, &rows),
                     PAL_ERR_INVALID);
    assert_int_equal(rows.n_rows, 0);
    assert_null(rows.values);
    assert_int_equal(query(data, "SELECT nom FROM communes WHERE code_postal = :postcode", NULL,
                           NULL, 0, 10, arena, &rows),
                     PAL_ERR_INVALID);
    pal_arena_free(arena);
    pal_botdata_close(data);
}

static void too_many_rows_is_a_limit(void **state)
{
    pal_botdata *data = communes(*state);
    pal_arena *arena = pal_arena_new();
    pal_botdata_rows rows;
    assert_int_equal(query(data, "SELECT nom FROM communes", NULL, NULL, 0, 4, arena, &rows),
                     PAL_ERR_LIMIT);
    assert_int_equal(rows.n_rows, 0);
    assert_int_equal(query(data, "SELECT nom FROM communes", NULL, NULL, 0, 5, arena, &rows),
                     PAL_OK);
    assert_int_equal(rows.n_rows, 5);
    assert_int_equal(query(data, "SELECT nom FROM communes", NULL, NULL, 0, 0, arena, &rows),
                     PAL_ERR_LIMIT);
    /* A query that would never end is stopped. */
    assert_int_equal(query(data,
                           "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
                           "SELECT count(*) FROM n",
                           NULL, NULL, 0, 1, arena, &rows),
                     PAL_ERR_LIMIT);
    assert_int_equal(
        query(data, "SELECT length(randomblob(100000000))", NULL, NULL, 0, 1, arena, &rows),
        PAL_ERR_LIMIT);
    /* Bytes made by SQL must still be text. */
    assert_int_equal(query(data, "SELECT x'FF'", NULL, NULL, 0, 1, arena, &rows), PAL_ERR_UTF8);
    assert_int_equal(query(data, "SELECT 'a' || char(0) || 'b'", NULL, NULL, 0, 1, arena, &rows),
                     PAL_ERR_UTF8);
    pal_arena_free(arena);
    pal_botdata_close(data);
}

static void refuses_anything_but_one_select(void **state)
{
    pal_botdata *data = communes(*state);
    static const struct {
        const char *sql, *message;
    } bad[] = {
        {"INSERT INTO communes VALUES ('1', '2', 'x', 3)", "not authorized"},
        {"UPDATE communes SET nom = 'x'", "not authorized"},
        {"DELETE FROM communes", "not authorized"},
        {"DROP TABLE communes", "not authorized"},
        {"CREATE TABLE x (a)", "not authorized"},
        {"CREATE TEMP TABLE x (a)", "not authorized"},
        {"ATTACH DATABASE '/tmp/evil.db' AS evil", "not authorized"},
        {"PRAGMA writable_schema = 1", "not authorized"},
        {"PRAGMA table_info(communes)", "not authorized"},
        {"SELECT load_extension('/tmp/evil.so')", "not authorized"},
        {"SELECT fts3_tokenizer('simple')", "not authorized"},
        {"BEGIN", "not authorized"},
        {"SAVEPOINT a", "not authorized"},
        {"VACUUM INTO '/tmp/copy.db'", "only a read-only SELECT is allowed"},
        {"SELECT * FROM pragma_table_info('communes')", "not authorized"},
        {"CREATE VIRTUAL TABLE v USING fts5(a)", "not authorized"},
        {"SELECT 1; DELETE FROM communes", "only one SQL statement is allowed"},
        {"SELECT 1; SELECT 2", "only one SQL statement is allowed"},
        {"EXPLAIN SELECT 1", "only a read-only SELECT is allowed"},
        {"SELECT nom FROM communes WHERE code_postal = ?", "parameters must be named"},
        {"SELECT nom FROM communes WHERE code_postal = ?1", "parameters must be named"},
        {"SELECT nom FROM communes WHERE code_postal = $pc", "parameters must be named"},
        {"SELECT nom FROM communes WHERE code_postal = @pc", "parameters must be named"},
        {"SELECT \"nom\" FROM communes WHERE nom = \"Paris\"", "no such column: Paris"},
        {"", "no SQL statement"},
        {"-- nothing", "no SQL statement"},
        {"SELEKT 1", "syntax error"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        pal_botdata_query *q = NULL;
        char err[256] = "";
        pal_err e = pal_botdata_prepare(data, bad[i].sql, &q, err, sizeof(err));
        if (e != PAL_ERR_INVALID || !strstr(err, bad[i].message))
            fail_msg("%s: want \"%s\", got %s \"%s\"", bad[i].sql, bad[i].message, pal_err_str(e),
                     err);
        assert_null(q);
    }
    /* Still all there; a trailing ';' or comment is fine. */
    pal_arena *arena = pal_arena_new();
    assert_string_equal(scalar(data, "SELECT count(*) FROM communes; -- all of them", arena), "5");
    assert_string_equal(scalar(data, "select lower(nom) from communes where rowid = 5;;", arena),
                        "ajaccio");
    pal_arena_free(arena);
    pal_botdata_close(data);
}

static void parameter_values_are_inert(void **state)
{
    pal_botdata *data = communes(*state);
    pal_arena *arena = pal_arena_new();
    const char *sql = "SELECT nom FROM communes WHERE code_postal = :postcode";
    const char *names[] = {"postcode"};
    const char *attacks[] = {
        "75011' OR '1'='1",  "75011'; DROP TABLE communes; --",
        "75011\" OR 1=1 --", "') UNION SELECT sql FROM sqlite_master --",
        ":postcode",
    };
    for (size_t i = 0; i < sizeof(attacks) / sizeof(attacks[0]); i++) {
        const char *values[] = {attacks[i]};
        pal_botdata_rows rows;
        assert_int_equal(query(data, sql, names, values, 1, 10, arena, &rows), PAL_OK);
        assert_int_equal(rows.n_rows, 0);
    }
    assert_string_equal(scalar(data, "SELECT count(*) FROM communes", arena), "5");
    /* And a value holding quotes is found as written. */
    write_text(*state, "odd.csv", "k,v\n\"O'Brien \"\"Bob\"\"\",found\n");
    pal_botdata *odd = open_ok(*state);
    const char *k[] = {"k"};
    const char *v[] = {"O'Brien \"Bob\""};
    pal_botdata_rows rows;
    assert_int_equal(query(odd, "SELECT v FROM odd WHERE k = :k", k, v, 1, 10, arena, &rows),
                     PAL_OK);
    assert_int_equal(rows.n_rows, 1);
    assert_string_equal(rows.values[0], "found");
    pal_botdata_close(odd);
    pal_arena_free(arena);
    pal_botdata_close(data);
}

enum { BIG_ROWS = 200000, LOOKUPS = 100000, THREADS = 4, THREAD_RUNS = 20000 };

typedef struct lookup_job {
    pal_botdata_query *q;
    int failures;
} lookup_job;

static void *lookup_thread(void *arg)
{
    lookup_job *job = arg;
    pal_arena *arena = pal_arena_new();
    const char *names[] = {"id"};
    char id[32];
    char want[64];
    for (int i = 0; i < THREAD_RUNS; i++) {
        int n = (i * 7919) % BIG_ROWS;
        snprintf(id, sizeof(id), "%d", n);
        snprintf(want, sizeof(want), "Commune numéro %d", n);
        const char *values[] = {id};
        pal_botdata_rows rows;
        if (pal_botdata_run(job->q, names, values, 1, 2, arena, &rows) != PAL_OK ||
            rows.n_rows != 1 || strcmp(rows.values[0], want) != 0)
            job->failures++;
        pal_arena_reset(arena);
    }
    pal_arena_free(arena);
    return NULL;
}

/* A large file loads whole and answers look-ups from several threads. How fast is measured
 * by benchmarks (BENCHMARKS.md: start to ready, bench/engine), not here: a timed assertion
 * fails on a loaded machine and proves nothing on an idle one. */
static void loads_200000_rows_and_answers(void **state)
{
    const char *dir = *state;
    size_t cap = (size_t)BIG_ROWS * 80 + 64;
    char *text = malloc(cap);
    assert_non_null(text);
    size_t len = (size_t)snprintf(text, cap, "id,code_postal,nom,score\n");
    for (int i = 0; i < BIG_ROWS; i++)
        len += (size_t)snprintf(text + len, cap - len, "%d,%05d,\"Commune numéro %d\",%d.%d\n", i,
                                (i * 37) % 100000, i, i % 100, i % 10);
    write_bytes(dir, "big.csv", text, len);
    free(text);

    pal_botdata *data = open_ok(dir);

    pal_botdata_query *q = NULL;
    char err[256] = "";
    assert_int_equal(
        pal_botdata_prepare(data, "SELECT nom FROM big WHERE id = :id", &q, err, sizeof(err)),
        PAL_OK);
    pal_arena *arena = pal_arena_new();
    assert_string_equal(scalar(data, "SELECT count(*) FROM big", arena), "200000");
    const char *names[] = {"id"};
    char id[32];
    for (int i = 0; i < LOOKUPS; i++) {
        snprintf(id, sizeof(id), "%d", (i * 7919) % BIG_ROWS);
        const char *values[] = {id};
        pal_botdata_rows rows;
        assert_int_equal(pal_botdata_run(q, names, values, 1, 2, arena, &rows), PAL_OK);
        assert_int_equal(rows.n_rows, 1);
        pal_arena_reset(arena);
    }

    /* The same query from several threads at once. */
    pthread_t threads[THREADS];
    lookup_job jobs[THREADS];
    for (int i = 0; i < THREADS; i++) {
        jobs[i] = (lookup_job){q, 0};
        assert_int_equal(pthread_create(&threads[i], NULL, lookup_thread, &jobs[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(jobs[i].failures, 0);
    }

    /* A scan on a column without an index still answers. */
    const char *postcode[] = {"00037"};
    const char *pc_name[] = {"pc"};
    pal_botdata_rows rows;
    assert_int_equal(query(data,
                           "SELECT count(*) FROM big WHERE nom = 'Commune numéro 1' OR "
                           "code_postal = :pc",
                           pc_name, postcode, 1, 1, arena, &rows),
                     PAL_OK);
    assert_string_equal(rows.values[0], "2");
    assert_string_equal(scalar(data, "SELECT score FROM big WHERE id = 123", arena), "23.3");
    pal_arena_free(arena);
    pal_botdata_query_free(q);
    pal_botdata_close(data);
}

static void reports_files_in_name_order(void **state)
{
    const char *dir = *state;
    write_text(dir, "zeta.csv", "a\n\"x\n");
    write_text(dir, "alpha.csv", "a,b\n1\n");
    write_text(dir, "mid.csv", "a\n1\n");
    open_fails(dir, PAL_ERR_PARSE, "/alpha.csv:2:2: row has 1 fields");
    remove_file(dir, "alpha.csv");
    open_fails(dir, PAL_ERR_PARSE, "/zeta.csv:2:1: quoted field never closed");
}

static void loads_text_as_one_file(void **state)
{
    (void)state;
    pal_botdata *data = NULL;
    char err[256] = "";
    const char text[] = "a,b\n1,x\n";
    assert_int_equal(
        pal_botdata__open_text("fuzz.csv", text, sizeof(text) - 1, &data, err, sizeof(err)),
        PAL_OK);
    pal_arena *arena = pal_arena_new();
    assert_string_equal(scalar(data, "SELECT b FROM fuzz WHERE a = 1", arena), "x");
    pal_arena_free(arena);
    pal_botdata_close(data);
    assert_int_equal(pal_botdata__open_text("fuzz.csv", "a,b\n1\n", 6, &data, err, sizeof(err)),
                     PAL_ERR_PARSE);
    assert_string_equal(err, "fuzz.csv:2:2: row has 1 fields, the header has 2");
    assert_null(data);
}

/* The name of the one cached image in dir ("" when none; fails on several). */
static void cached_image(const char *dir, char *name, size_t cap)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    int n = 0;
    name[0] = '\0';
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, ".palabre-image-", 15) == 0) {
            snprintf(name, cap, "%s", e->d_name);
            n++;
        }
    }
    closedir(d);
    assert_true(n <= 1);
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

/* The loaded tables are kept next to the files and used by the next open
 * while the files are the same; an edit, or a damaged image, rebuilds. */
static void image_cache_follows_the_files(void **state)
{
    const char *dir = *state;
    char name[256], path[4096], other_path[4096];
    pal_arena *arena = pal_arena_new();
    write_text(dir, "t.csv", "id,label\n1,one\n2,two\n");
    pal_botdata *data = open_ok(dir);
    assert_string_equal(scalar(data, "SELECT label FROM t WHERE id = 2", arena), "two");
    pal_botdata_close(data);
    cached_image(dir, name, sizeof(name));
    assert_true(name[0] != '\0');
    snprintf(path, sizeof(path), "%s/%s", dir, name);

    /* The next open reads the image, not the files: one of other tables put in its
     * place (as only someone who can write the folder could) is what it gets. */
    char other[] = "/tmp/palabre-botdata-other-XXXXXX";
    assert_non_null(mkdtemp(other));
    write_text(other, "t.csv", "id,label\n1,uno\n2,dos\n");
    pal_botdata_close(open_ok(other));
    char other_name[256];
    cached_image(other, other_name, sizeof(other_name));
    snprintf(other_path, sizeof(other_path), "%s/%s", other, other_name);
    copy_file(other_path, path);
    data = open_ok(dir);
    assert_string_equal(scalar(data, "SELECT label FROM t WHERE id = 2", arena), "dos");
    pal_botdata_close(data);
    assert_int_equal(unlink(other_path), 0);
    remove_file(other, "t.csv");
    assert_int_equal(rmdir(other), 0);

    /* An edited file: another key, a new image, the old one gone. */
    write_text(dir, "t.csv", "id,label\n1,one\n2,deux\n");
    data = open_ok(dir);
    assert_string_equal(scalar(data, "SELECT label FROM t WHERE id = 2", arena), "deux");
    pal_botdata_close(data);
    char edited[256];
    cached_image(dir, edited, sizeof(edited));
    assert_true(edited[0] != '\0');
    assert_string_not_equal(edited, name);

    /* A damaged image (cut short) is not used, and is rebuilt. */
    snprintf(path, sizeof(path), "%s/%s", dir, edited);
    assert_int_equal(truncate(path, 600), 0);
    data = open_ok(dir);
    assert_string_equal(scalar(data, "SELECT label FROM t WHERE id = 1", arena), "one");
    pal_botdata_close(data);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size > 600);
    pal_arena_free(arena);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, make_dir, remove_dir)
    const struct CMUnitTest tests[] = {
        T(infers_column_types),
        T(image_cache_follows_the_files),
        T(reads_quoted_fields),
        T(reads_bom_crlf_and_blank_lines),
        T(empty_folder_gives_empty_database),
        T(refuses_bad_names),
        T(refuses_duplicate_columns),
        T(refuses_ragged_rows),
        T(refuses_malformed_quotes_and_bare_cr),
        T(refuses_invalid_utf8),
        T(enforces_limits),
        T(runs_named_parameters),
        T(cached_runs_are_exact),
        T(missing_parameter_is_invalid),
        T(too_many_rows_is_a_limit),
        T(refuses_anything_but_one_select),
        T(parameter_values_are_inert),
        T(loads_200000_rows_and_answers),
        T(reports_files_in_name_order),
        T(loads_text_as_one_file),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
