/*
 * botdata.c — CSV files into SQLite, and guarded read-only queries (see botdata.h).
 *
 * Loading: each file is read whole, checked as UTF-8 in one pass, then parsed
 * twice by the same reader: the first pass checks names and widths and infers
 * column types, the second binds every row into one prepared INSERT, all in a
 * single transaction, indexes created last. Nothing is stored per field in
 * between, so memory is the file plus SQLite's pages whatever the shape of
 * the file. Once every table is in, the database is serialised into one
 * immutable image and the loading connection closed.
 *
 * Querying: a query is a pool of "lanes", each a read-only connection onto the
 * shared image (sqlite3_deserialize without a copy) with the statement
 * prepared on it. A run takes an idle lane under the query's mutex, or opens
 * a new one, so threads never share a connection and never wait on each other
 * for longer than a list push or pop.
 */
#include "dialog/botdata.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "base/log.h"
#include "base/slice.h"
#include "text/utf8.h"

/* The progress handler runs every STEP_TICK VM steps; a run may use this many.
 * A query may build no string or blob longer than VALUE_MAX (a stored row is
 * at most 256 fields of 64 KiB): randomblob(1e9) is a LIMIT, not 1 GB. */
enum {
    STEP_TICK = 1000,
    STEP_TICKS = PAL_BOTDATA_MAX_STEPS / STEP_TICK,
    VALUE_MAX = 32 << 20,
};

struct pal_botdata {
    unsigned char *image; /* the serialised database; sqlite3_free; NULL when empty */
    sqlite3_int64 image_size;
};

/* ---- names ---- */

static bool is_name(const char *s, size_t len)
{
    if (len == 0 || len > PAL_BOTDATA_MAX_NAME)
        return false;
    if (len >= 7 && memcmp(s, "sqlite_", 7) == 0)
        return false; /* SQLite reserves these */
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

/* Key-like columns get an index: see botdata.h. */
static bool wants_index(const char *name, size_t column)
{
    size_t len = strlen(name);
    if (column == 0 || strcmp(name, "id") == 0)
        return true;
    if (len > 3 && strcmp(name + len - 3, "_id") == 0)
        return true;
    return strstr(name, "code") != NULL || strstr(name, "insee") != NULL;
}

static bool has_csv_suffix(const char *name)
{
    size_t len = strlen(name);
    return len > 4 && strcasecmp(name + len - 4, ".csv") == 0;
}

/* ---- the CSV reader ---- */

typedef struct csv_reader {
    const char *path; /* borrowed, for messages */
    const char *text; /* the file after any byte-order mark; borrowed */
    size_t len;
    size_t pos;    /* next byte to read */
    char *scratch; /* PAL_BOTDATA_MAX_FIELD_BYTES: quoted fields, unescaped */
    char *errbuf;  /* borrowed */
    size_t errlen;
} csv_reader;

typedef struct csv_field {
    pal_slice value; /* into text, or into scratch when quoted (until the next read) */
    size_t at;       /* offset of the field's first byte, for messages */
    size_t end_at;   /* offset of what ended it (',', line end or end of text) */
    bool quoted;
    bool row_end; /* the last field of its row */
} csv_field;

/* "PATH:LINE:COLUMN: message", the position being byte offset `at` of the text. */
__attribute__((format(printf, 4, 5))) static pal_err csv_fail(const csv_reader *r, size_t at,
                                                              pal_err err, const char *fmt, ...)
{
    if (!r->errbuf || !r->errlen)
        return err;
    size_t line = 1;
    size_t column = 1;
    for (size_t i = 0; i < at && i < r->len; i++) {
        unsigned char b = (unsigned char)r->text[i];
        if (b == '\n') {
            line++;
            column = 1;
        } else if ((b & 0xC0) != 0x80) {
            column++; /* count characters, not bytes (the text up to `at` is valid UTF-8) */
        }
    }
    int n = snprintf(r->errbuf, r->errlen, "%s:%zu:%zu: ", r->path, line, column);
    if (n < 0 || (size_t)n >= r->errlen)
        return err;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->errbuf + n, r->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return err;
}

/* Skips blank lines; false at the end of the text. */
static bool csv_next_row(csv_reader *r)
{
    while (r->pos < r->len) {
        if (r->text[r->pos] == '\n')
            r->pos++;
        else if (r->text[r->pos] == '\r' && r->pos + 1 < r->len && r->text[r->pos + 1] == '\n')
            r->pos += 2;
        else
            return true;
    }
    return false;
}

static pal_err csv_read_quoted(csv_reader *r, csv_field *f)
{
    size_t out = 0;
    r->pos++; /* the opening quote */
    for (;;) {
        const char *q = memchr(r->text + r->pos, '"', r->len - r->pos);
        if (!q)
            return csv_fail(r, f->at, PAL_ERR_PARSE, "quoted field never closed");
        size_t chunk = (size_t)(q - (r->text + r->pos));
        if (chunk > PAL_BOTDATA_MAX_FIELD_BYTES - out)
            return csv_fail(r, f->at, PAL_ERR_LIMIT, "field longer than %zu KiB",
                            PAL_BOTDATA_MAX_FIELD_BYTES >> 10);
        memcpy(r->scratch + out, r->text + r->pos, chunk);
        out += chunk;
        r->pos += chunk + 1;
        if (r->pos < r->len && r->text[r->pos] == '"') { /* "" stands for one quote */
            if (out == PAL_BOTDATA_MAX_FIELD_BYTES)
                return csv_fail(r, f->at, PAL_ERR_LIMIT, "field longer than %zu KiB",
                                PAL_BOTDATA_MAX_FIELD_BYTES >> 10);
            r->scratch[out++] = '"';
            r->pos++;
            continue;
        }
        break;
    }
    f->value = (pal_slice){r->scratch, out};
    f->quoted = true;
    return PAL_OK;
}

static pal_err csv_read_plain(csv_reader *r, csv_field *f)
{
    size_t start = r->pos;
    while (r->pos < r->len) {
        char c = r->text[r->pos];
        if (c == ',' || c == '\n' || c == '\r')
            break;
        if (c == '"')
            return csv_fail(r, r->pos, PAL_ERR_PARSE,
                            "quote inside an unquoted field (quote the whole field and "
                            "double the quotes inside)");
        r->pos++;
    }
    if (r->pos - start > PAL_BOTDATA_MAX_FIELD_BYTES)
        return csv_fail(r, start, PAL_ERR_LIMIT, "field longer than %zu KiB",
                        PAL_BOTDATA_MAX_FIELD_BYTES >> 10);
    f->value = (pal_slice){r->text + start, r->pos - start};
    f->quoted = false;
    return PAL_OK;
}

/* Reads the field at r->pos and what ends it. */
static pal_err csv_read_field(csv_reader *r, csv_field *f)
{
    f->at = r->pos;
    pal_err err =
        r->pos < r->len && r->text[r->pos] == '"' ? csv_read_quoted(r, f) : csv_read_plain(r, f);
    if (err)
        return err;
    f->end_at = r->pos;
    f->row_end = true;
    if (r->pos == r->len)
        return PAL_OK;
    char c = r->text[r->pos];
    if (c == ',') {
        f->row_end = false;
        r->pos++;
    } else if (c == '\n') {
        r->pos++;
    } else if (c == '\r' && r->pos + 1 < r->len && r->text[r->pos + 1] == '\n') {
        r->pos += 2;
    } else if (c == '\r') {
        return csv_fail(r, r->pos, PAL_ERR_PARSE, "carriage return without a line feed");
    } else {
        return csv_fail(r, r->pos, PAL_ERR_PARSE,
                        "expected ',' or a line end after the closing quote");
    }
    return PAL_OK;
}

/* ---- types ---- */

typedef enum value_kind {
    KIND_EMPTY = 1,
    KIND_INTEGER = 2,
    KIND_REAL = 4,
    KIND_TEXT = 8,
} value_kind;

/* What v holds; *integer (OUT) gets its value when KIND_INTEGER. Only the
 * canonical forms count as numbers, so that a number reads back as written
 * (bar a decimal's trailing zeros). */
static value_kind classify(pal_slice v, int64_t *integer)
{
    if (v.len == 0)
        return KIND_EMPTY;
    size_t i = 0;
    bool negative = v.ptr[0] == '-';
    if (negative)
        i++;
    size_t first_digit = i;
    uint64_t magnitude = 0;
    bool overflow = false;
    while (i < v.len && v.ptr[i] >= '0' && v.ptr[i] <= '9') {
        unsigned d = (unsigned)(v.ptr[i] - '0');
        if (magnitude > (UINT64_MAX - d) / 10)
            overflow = true;
        else
            magnitude = magnitude * 10 + d;
        i++;
    }
    size_t int_digits = i - first_digit;
    if (int_digits == 0 || (int_digits > 1 && v.ptr[first_digit] == '0'))
        return KIND_TEXT; /* no digits, or a leading zero that means something */
    if (i == v.len) {
        uint64_t max = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        if (overflow || magnitude > max || (negative && magnitude == 0))
            return KIND_TEXT;
        *integer = negative ? (int64_t)(0 - magnitude) : (int64_t)magnitude;
        return KIND_INTEGER;
    }
    if (v.ptr[i] != '.' || i + 1 == v.len)
        return KIND_TEXT;
    size_t frac_start = ++i;
    while (i < v.len && v.ptr[i] >= '0' && v.ptr[i] <= '9')
        i++;
    if (i != v.len || int_digits + (i - frac_start) > 15)
        return KIND_TEXT;
    return KIND_REAL;
}

/* ---- loading ---- */

typedef struct csv_table {
    size_t n_cols;
    char names[PAL_BOTDATA_MAX_COLUMNS][PAL_BOTDATA_MAX_NAME + 1];
    unsigned kinds[PAL_BOTDATA_MAX_COLUMNS]; /* value_kind bits seen in the column */
    size_t n_rows;
} csv_table;

/* A column's type from the kinds of its values: KIND_INTEGER, KIND_REAL or KIND_TEXT. */
static value_kind column_kind(unsigned kinds)
{
    if (kinds & KIND_TEXT)
        return KIND_TEXT;
    if (kinds & KIND_REAL)
        return KIND_REAL;
    if (kinds & KIND_INTEGER)
        return KIND_INTEGER;
    return KIND_TEXT; /* no value at all */
}

static const char *kind_sql(value_kind kind)
{
    return kind == KIND_INTEGER ? "INTEGER" : kind == KIND_REAL ? "REAL" : "TEXT";
}

static pal_err read_header(csv_reader *r, csv_table *t)
{
    if (!csv_next_row(r))
        return csv_fail(r, r->pos, PAL_ERR_PARSE, "empty file: expected a header line");
    csv_field f;
    do {
        pal_err err = csv_read_field(r, &f);
        if (err)
            return err;
        if (t->n_cols == PAL_BOTDATA_MAX_COLUMNS)
            return csv_fail(r, f.at, PAL_ERR_LIMIT, "more than %d columns",
                            PAL_BOTDATA_MAX_COLUMNS);
        if (!is_name(f.value.ptr, f.value.len))
            return csv_fail(r, f.at, PAL_ERR_PARSE,
                            "column name must match [a-z_][a-z0-9_]*, at most %d bytes, "
                            "not starting with sqlite_",
                            PAL_BOTDATA_MAX_NAME);
        char *name = t->names[t->n_cols];
        memcpy(name, f.value.ptr, f.value.len);
        name[f.value.len] = '\0';
        for (size_t i = 0; i < t->n_cols; i++) {
            if (strcmp(t->names[i], name) == 0)
                return csv_fail(r, f.at, PAL_ERR_PARSE, "duplicate column name %s", name);
        }
        t->n_cols++;
    } while (!f.row_end);
    return PAL_OK;
}

static pal_err bind_field(sqlite3_stmt *insert, const csv_table *t, size_t column,
                          const csv_field *f)
{
    int index = (int)column + 1;
    int len = (int)f->value.len; /* at most PAL_BOTDATA_MAX_FIELD_BYTES */
    value_kind type = column_kind(t->kinds[column]);
    int rc;
    int64_t integer = 0;
    if (type != KIND_TEXT && f->value.len == 0) {
        rc = sqlite3_bind_null(insert, index);
    } else if (type == KIND_INTEGER && classify(f->value, &integer) == KIND_INTEGER) {
        rc = sqlite3_bind_int64(insert, index, integer);
    } else {
        /* REAL columns take the text too: the column's affinity converts it
         * with SQLite's locale-independent parser. Quoted fields live in the
         * scratch buffer, which the next field overwrites: SQLite copies them. */
        rc = sqlite3_bind_text(insert, index, f->value.ptr, len,
                               f->quoted ? SQLITE_TRANSIENT : SQLITE_STATIC);
    }
    return rc == SQLITE_OK ? PAL_OK : PAL_ERR_INTERNAL;
}

/* Reads every row after the header. Without insert, checks widths and
 * records the kinds of values; with it, inserts each row. */
static pal_err read_rows(csv_reader *r, csv_table *t, sqlite3_stmt *insert, sqlite3 *db)
{
    t->n_rows = 0;
    while (csv_next_row(r)) {
        csv_field f;
        for (size_t column = 0;; column++) {
            pal_err err = csv_read_field(r, &f);
            if (err)
                return err;
            if (column == t->n_cols)
                return csv_fail(r, f.at, PAL_ERR_PARSE, "row has more fields than the header's %zu",
                                t->n_cols);
            if (!insert) {
                int64_t ignored;
                t->kinds[column] |= (unsigned)classify(f.value, &ignored);
            } else if (bind_field(insert, t, column, &f) != PAL_OK) {
                goto sqlite_failed;
            }
            if (f.row_end) {
                if (column + 1 < t->n_cols)
                    return csv_fail(r, f.end_at, PAL_ERR_PARSE,
                                    "row has %zu fields, the header has %zu", column + 1,
                                    t->n_cols);
                break;
            }
        }
        if (insert) {
            if (sqlite3_step(insert) != SQLITE_DONE)
                goto sqlite_failed;
            if (sqlite3_reset(insert) != SQLITE_OK)
                goto sqlite_failed;
        }
        t->n_rows++;
    }
    return PAL_OK;
sqlite_failed:
    pal_err_format(r->errbuf, r->errlen, "%s: SQLite: %s", r->path, sqlite3_errmsg(db));
    return PAL_ERR_INTERNAL;
}

static pal_err exec_sql(sqlite3 *db, const char *sql, const char *path, char *errbuf, size_t errlen)
{
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK)
        return PAL_OK;
    pal_err_format(errbuf, errlen, "%s: SQLite: %s", path, sqlite3_errmsg(db));
    return PAL_ERR_INTERNAL;
}

/* Runs the SQL built in str (consumed). */
static pal_err exec_built(sqlite3 *db, sqlite3_str *str, const char *path, char *errbuf,
                          size_t errlen)
{
    char *sql = sqlite3_str_finish(str);
    if (!sql) {
        pal_err_format(errbuf, errlen, "%s: out of memory building SQL", path);
        return PAL_ERR_INTERNAL;
    }
    pal_err err = exec_sql(db, sql, path, errbuf, errlen);
    sqlite3_free(sql);
    return err;
}

static pal_err create_table(sqlite3 *db, const char *table, const csv_table *t,
                            sqlite3_stmt **insert, const char *path, char *errbuf, size_t errlen)
{
    sqlite3_str *create = sqlite3_str_new(db);
    sqlite3_str_appendf(create, "CREATE TABLE \"%w\" (", table);
    for (size_t i = 0; i < t->n_cols; i++)
        sqlite3_str_appendf(create, "%s\"%w\" %s", i ? ", " : "", t->names[i],
                            kind_sql(column_kind(t->kinds[i])));
    sqlite3_str_appendall(create, ")");
    pal_err err = exec_built(db, create, path, errbuf, errlen);
    if (err)
        return err;

    sqlite3_str *sql = sqlite3_str_new(db);
    sqlite3_str_appendf(sql, "INSERT INTO \"%w\" VALUES (", table);
    for (size_t i = 0; i < t->n_cols; i++)
        sqlite3_str_appendall(sql, i ? ", ?" : "?");
    sqlite3_str_appendall(sql, ")");
    char *text = sqlite3_str_finish(sql);
    int rc = text ? sqlite3_prepare_v2(db, text, -1, insert, NULL) : SQLITE_NOMEM;
    sqlite3_free(text);
    if (rc != SQLITE_OK) {
        pal_err_format(errbuf, errlen, "%s: SQLite: %s", path, sqlite3_errmsg(db));
        return PAL_ERR_INTERNAL;
    }
    return PAL_OK;
}

static pal_err create_indexes(sqlite3 *db, const char *table, const csv_table *t, const char *path,
                              char *errbuf, size_t errlen)
{
    for (size_t i = 0; i < t->n_cols; i++) {
        if (!wants_index(t->names[i], i))
            continue;
        /* "table.column" cannot clash with a table: names hold no dot. */
        sqlite3_str *sql = sqlite3_str_new(db);
        sqlite3_str_appendf(sql, "CREATE INDEX \"%w.%w\" ON \"%w\" (\"%w\")", table, t->names[i],
                            table, t->names[i]);
        pal_err err = exec_built(db, sql, path, errbuf, errlen);
        if (err)
            return err;
    }
    return PAL_OK;
}

/* Loads one file's text (borrowed) as table `table` into db, inside the open transaction. */
static pal_err load_table(sqlite3 *db, const char *path, const char *table, const char *text,
                          size_t len, char *errbuf, size_t errlen)
{
    pal_err err;
    sqlite3_stmt *insert = NULL;
    csv_table *t = pal_xcalloc(1, sizeof(*t));
    csv_reader r = {.path = path, .text = text, .len = len, .errbuf = errbuf, .errlen = errlen};
    r.scratch = pal_xmalloc(PAL_BOTDATA_MAX_FIELD_BYTES);

    if (len > PAL_BOTDATA_MAX_FILE_BYTES) {
        pal_err_format(errbuf, errlen, "%s: file larger than %zu MiB", path,
                       PAL_BOTDATA_MAX_FILE_BYTES >> 20);
        err = PAL_ERR_LIMIT;
        goto out;
    }
    if (r.len >= 3 && memcmp(r.text, "\xEF\xBB\xBF", 3) == 0) {
        r.text += 3;
        r.len -= 3;
    }
    size_t bad = 0;
    if (pal_utf8_check_text(r.text, r.len, &bad) != PAL_OK) {
        err = csv_fail(&r, bad, PAL_ERR_UTF8, "invalid UTF-8 (or a NUL byte)");
        goto out;
    }
    err = read_header(&r, t);
    if (err)
        goto out;
    size_t body = r.pos;
    err = read_rows(&r, t, NULL, db);
    if (err)
        goto out;
    err = create_table(db, table, t, &insert, path, errbuf, errlen);
    if (err)
        goto out;
    r.pos = body;
    err = read_rows(&r, t, insert, db);
    if (err)
        goto out;
    err = create_indexes(db, table, t, path, errbuf, errlen);
    if (err)
        goto out;
    pal_log(PAL_LOG_DEBUG, "botdata", "%s: %zu rows, %zu columns", path, t->n_rows, t->n_cols);
out:
    sqlite3_finalize(insert);
    free(r.scratch);
    free(t);
    return err;
}

/* Sets *table (OUT, PAL_BOTDATA_MAX_NAME + 1 bytes) from a file name "NAME.csv". */
static pal_err table_name(const char *path, const char *file_name, char *table, char *errbuf,
                          size_t errlen)
{
    size_t len = strlen(file_name);
    if (len < 4 || strcmp(file_name + len - 4, ".csv") != 0 || !is_name(file_name, len - 4)) {
        pal_err_format(errbuf, errlen,
                       "%s: a data file is named NAME.csv, NAME matching [a-z_][a-z0-9_]* (at most "
                       "%d bytes, not starting with sqlite_): it names the table",
                       path, PAL_BOTDATA_MAX_NAME);
        return PAL_ERR_PARSE;
    }
    memcpy(table, file_name, len - 4);
    table[len - 4] = '\0';
    return PAL_OK;
}

static pal_err loader_begin(sqlite3 **db, char *errbuf, size_t errlen)
{
    int rc = sqlite3_open_v2(
        ":memory:", db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        pal_err_format(errbuf, errlen, "SQLite: %s", *db ? sqlite3_errmsg(*db) : "cannot open");
        return PAL_ERR_INTERNAL;
    }
    /* Nothing to roll back to: a failed load throws the whole database away. */
    return exec_sql(*db, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; BEGIN", "load", errbuf,
                    errlen);
}

/* Commits, serialises into a new pal_botdata (*out) and closes db. */
static pal_err loader_finish(sqlite3 *db, size_t n_tables, pal_botdata **out, char *errbuf,
                             size_t errlen)
{
    pal_err err = exec_sql(db, "COMMIT", "load", errbuf, errlen);
    if (err)
        return err;
    pal_botdata *data = pal_xcalloc(1, sizeof(*data));
    if (n_tables > 0) {
        data->image = sqlite3_serialize(db, "main", &data->image_size, 0);
        if (!data->image) {
            free(data);
            pal_err_format(errbuf, errlen, "SQLite: cannot serialise the database");
            return PAL_ERR_INTERNAL;
        }
    }
    *out = data;
    return PAL_OK;
}

static pal_err read_file(const char *path, char **out, size_t *out_len, char *errbuf, size_t errlen)
{
    pal_err err = PAL_ERR_IO;
    char *data = NULL;
    size_t len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        pal_err_format(errbuf, errlen, "%s: %s", path, strerror(errno));
        return PAL_ERR_IO;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        pal_err_format(errbuf, errlen, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        pal_err_format(errbuf, errlen, "%s: not a regular file", path);
        goto out;
    }
    /* One byte more than the limit tells a file over it (even one growing meanwhile). */
    size_t cap = (size_t)st.st_size < PAL_BOTDATA_MAX_FILE_BYTES ? (size_t)st.st_size + 1
                                                                 : PAL_BOTDATA_MAX_FILE_BYTES + 1;
    data = pal_xmalloc(cap);
    for (;;) {
        size_t got = fread(data + len, 1, cap - len, f);
        len += got;
        if (got == 0 || len < cap)
            break;
        if (cap > PAL_BOTDATA_MAX_FILE_BYTES)
            break;
        cap = cap * 2 < PAL_BOTDATA_MAX_FILE_BYTES + 1 ? cap * 2 : PAL_BOTDATA_MAX_FILE_BYTES + 1;
        data = pal_xrealloc(data, cap);
    }
    if (ferror(f)) {
        pal_err_format(errbuf, errlen, "%s: read error", path);
        goto out;
    }
    if (len > PAL_BOTDATA_MAX_FILE_BYTES) {
        pal_err_format(errbuf, errlen, "%s: file larger than %zu MiB", path,
                       PAL_BOTDATA_MAX_FILE_BYTES >> 20);
        err = PAL_ERR_LIMIT;
        goto out;
    }
    *out = data;
    *out_len = len;
    data = NULL;
    err = PAL_OK;
out:
    free(data);
    fclose(f);
    return err;
}

/* ---- the image cache ---------------------------------------------------
 * Loading the example bots' 210,000 rows takes ~280 ms, most of a start.
 * The image is a pure function of the CSV files (and of this loader), so
 * it is kept next to them as DIR/.palabre-image-KEY.sqlite, KEY a BLAKE2b
 * of this build of the loader (the program's GNU build ID: a rebuilt palabre
 * never reuses an older build's image) and every file's name and bytes: an edited file
 * gives another key, and the next start rebuilds and replaces it. A folder
 * palabre cannot write to simply has no cache. */

enum {
    IMAGE_KEY_BYTES = 16,
    IMAGE_HEX = 2 * IMAGE_KEY_BYTES + 1,
    IMAGE_FORMAT = 1, /* raise when loading changes what an image holds */
};
static const char image_prefix[] = ".palabre-image-";
static const char image_suffix[] = ".sqlite";

static pal_err read_file(const char *path, char **out, size_t *out_len, char *errbuf,
                         size_t errlen);

/* The GNU build ID of the running program (which holds this loader, linked
 * statically): an image made by another build of the loader is never
 * reused, whatever its version says. */
typedef struct build_id {
    unsigned char bytes[64];
    size_t len;
} build_id;

static int find_build_id(struct dl_phdr_info *info, size_t size, void *data)
{
    build_id *id = data;
    (void)size;
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const unsigned char *p = (const unsigned char *)(info->dlpi_addr + ph->p_vaddr);
        const unsigned char *end = p + ph->p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            ElfW(Nhdr) note;
            memcpy(&note, p, sizeof(note));
            const unsigned char *name = p + sizeof(note);
            const unsigned char *desc = name + ((note.n_namesz + 3) & ~3U);
            const unsigned char *next = desc + ((note.n_descsz + 3) & ~3U);
            if (next > end)
                break;
            if (note.n_type == NT_GNU_BUILD_ID && note.n_namesz == 4 &&
                memcmp(name, "GNU", 4) == 0 && note.n_descsz <= sizeof(id->bytes)) {
                memcpy(id->bytes, desc, note.n_descsz);
                id->len = note.n_descsz;
                return 1;
            }
            p = next;
        }
    }
    return 1; /* the first object is the program itself: no further */
}

static pal_err image_key(const char *dir, char *const *files, size_t n, char hex[IMAGE_HEX],
                         char *errbuf, size_t errlen)
{
    crypto_generichash_state state;
    unsigned char key[IMAGE_KEY_BYTES];
    char version[96];
    int v = snprintf(version, sizeof(version), "palabre botdata image %d %s %d", IMAGE_FORMAT,
                     PALABRE_VERSION, sqlite3_libversion_number());
    build_id id = {.len = 0};
    dl_iterate_phdr(find_build_id, &id);
    if (id.len == 0) {
        hex[0] = '\0'; /* no build ID: no way to tell loaders apart, so no cache */
        return PAL_OK;
    }
    if (crypto_generichash_init(&state, NULL, 0, sizeof(key)) != 0 ||
        crypto_generichash_update(&state, (const unsigned char *)version, (size_t)v + 1) != 0 ||
        crypto_generichash_update(&state, id.bytes, id.len) != 0)
        return PAL_ERR_INTERNAL;
    for (size_t i = 0; i < n; i++) {
        size_t path_len = strlen(dir) + 1 + strlen(files[i]) + 1;
        char *path = pal_xmalloc(path_len);
        snprintf(path, path_len, "%s/%s", dir, files[i]);
        char *text = NULL;
        size_t len = 0;
        pal_err err = read_file(path, &text, &len, errbuf, errlen);
        free(path);
        if (err)
            return err;
        uint64_t len64 = len;
        int rc = crypto_generichash_update(&state, (const unsigned char *)files[i],
                                           strlen(files[i]) + 1);
        rc |= crypto_generichash_update(&state, (const unsigned char *)&len64, sizeof(len64));
        rc |= crypto_generichash_update(&state, (const unsigned char *)text, len);
        free(text);
        if (rc != 0)
            return PAL_ERR_INTERNAL;
    }
    if (crypto_generichash_final(&state, key, sizeof(key)) != 0)
        return PAL_ERR_INTERNAL;
    sodium_bin2hex(hex, IMAGE_HEX, key, sizeof(key));
    return PAL_OK;
}

static char *image_path(const char *dir, const char *hex, const char *suffix)
{
    size_t n = strlen(dir) + 1 + sizeof(image_prefix) + IMAGE_HEX + strlen(suffix) + 32;
    char *path = pal_xmalloc(n);
    snprintf(path, n, "%s/%s%s%s", dir, image_prefix, hex, suffix);
    return path;
}

/* True when image[0..size) is a whole SQLite database whose schema reads. */
static bool image_whole(unsigned char *image, sqlite3_int64 size)
{
    if (size < 512 || memcmp(image, "SQLite format 3", 16) != 0)
        return false;
    unsigned page = (unsigned)image[16] << 8 | image[17];
    uint64_t page_size = page == 1 ? 65536 : page;
    uint64_t pages = (uint64_t)image[28] << 24 | (uint64_t)image[29] << 16 |
                     (uint64_t)image[30] << 8 | image[31];
    if (page_size < 512 || page_size * pages != (uint64_t)size)
        return false;
    sqlite3 *db = NULL;
    bool ok = false;
    if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) ==
            SQLITE_OK &&
        sqlite3_deserialize(db, "main", image, size, size, SQLITE_DESERIALIZE_READONLY) ==
            SQLITE_OK)
        ok = sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL) == SQLITE_OK;
    sqlite3_close(db);
    return ok;
}

/* The cached image of key in dir (sqlite3_free), or NULL when there is none
 * that is whole. */
static unsigned char *image_read(const char *dir, const char *hex, sqlite3_int64 *size)
{
    char *path = image_path(dir, hex, image_suffix);
    unsigned char *image = NULL;
    FILE *f = fopen(path, "rb");
    free(path);
    if (!f)
        return NULL;
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 512 ||
        (uint64_t)st.st_size > (uint64_t)4 * PAL_BOTDATA_MAX_FILE_BYTES)
        goto out;
    image = sqlite3_malloc64((sqlite3_uint64)st.st_size);
    if (!image || fread(image, 1, (size_t)st.st_size, f) != (size_t)st.st_size ||
        !image_whole(image, st.st_size)) {
        sqlite3_free(image);
        image = NULL;
        goto out;
    }
    *size = st.st_size;
out:
    fclose(f);
    return image;
}

/* Keeps image as the cache of key in dir (written aside, synced, renamed, so
 * that a reader never sees half of it) and removes older images. Failures
 * only cost the next start its speed: logged, not returned. */
static void image_write(const char *dir, const char *hex, const unsigned char *image,
                        sqlite3_int64 size)
{
    char suffix[48];
    snprintf(suffix, sizeof(suffix), ".tmp%ld", (long)getpid());
    char *tmp = image_path(dir, hex, suffix), *path = image_path(dir, hex, image_suffix);
    FILE *f = fopen(tmp, "wb");
    bool ok = f && fwrite(image, 1, (size_t)size, f) == (size_t)size && fflush(f) == 0 &&
              fsync(fileno(f)) == 0;
    if (f && fclose(f) != 0)
        ok = false;
    if (ok && rename(tmp, path) != 0)
        ok = false;
    if (!ok) {
        pal_log(PAL_LOG_DEBUG, "botdata", "no image cache in %s: %s", dir, strerror(errno));
        (void)unlink(tmp);
    } else {
        DIR *d = opendir(dir);
        struct dirent *entry;
        while (d && (entry = readdir(d)) != NULL) {
            const char *name = entry->d_name;
            if (strncmp(name, image_prefix, sizeof(image_prefix) - 1) != 0 ||
                strncmp(name + sizeof(image_prefix) - 1, hex, IMAGE_HEX - 1) == 0)
                continue;
            size_t full = strlen(dir) + 1 + strlen(name) + 1;
            char *old = pal_xmalloc(full);
            snprintf(old, full, "%s/%s", dir, name);
            (void)unlink(old);
            free(old);
        }
        if (d)
            closedir(d);
    }
    free(tmp);
    free(path);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.csv names of dir, sorted; caller frees each and the array. */
static pal_err list_csv(const char *dir, char ***out, size_t *count, char *errbuf, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        pal_err_format(errbuf, errlen, "%s: %s", dir, strerror(errno));
        return PAL_ERR_IO;
    }
    char **names = NULL;
    size_t n = 0;
    size_t cap = 0;
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        if (entry->d_name[0] == '.' || !has_csv_suffix(entry->d_name))
            continue;
        pal_xreserve((void **)&names, &cap, n + 1, sizeof(*names));
        names[n++] = pal_xstrdup(entry->d_name);
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof(*names), compare_names);
    *out = names;
    *count = n;
    return PAL_OK;
}

pal_err pal_botdata_open(const char *dir, pal_botdata **out, char *errbuf, size_t errlen)
{
    sqlite3 *db = NULL;
    char **files = NULL;
    size_t n_files = 0;
    char *path = NULL;
    char *text = NULL;
    *out = NULL;
    char key[IMAGE_HEX] = "";
    pal_err err = list_csv(dir, &files, &n_files, errbuf, errlen);
    if (err)
        goto out;
    if (n_files > 0) {
        err = image_key(dir, files, n_files, key, errbuf, errlen);
        if (err)
            goto out;
        sqlite3_int64 size = 0;
        unsigned char *image = key[0] ? image_read(dir, key, &size) : NULL;
        if (image) {
            pal_botdata *data = pal_xcalloc(1, sizeof(*data));
            data->image = image;
            data->image_size = size;
            *out = data;
            pal_log(PAL_LOG_DEBUG, "botdata", "%s: the cached image of its %zu files", dir,
                    n_files);
            goto out;
        }
    }
    err = loader_begin(&db, errbuf, errlen);
    if (err)
        goto out;
    for (size_t i = 0; i < n_files; i++) {
        size_t path_len = strlen(dir) + 1 + strlen(files[i]) + 1;
        path = pal_xmalloc(path_len);
        snprintf(path, path_len, "%s/%s", dir, files[i]);
        char table[PAL_BOTDATA_MAX_NAME + 1];
        err = table_name(path, files[i], table, errbuf, errlen);
        if (err)
            goto out;
        size_t len = 0;
        err = read_file(path, &text, &len, errbuf, errlen);
        if (err)
            goto out;
        err = load_table(db, path, table, text, len, errbuf, errlen);
        if (err)
            goto out;
        free(text);
        text = NULL;
        free(path);
        path = NULL;
    }
    err = loader_finish(db, n_files, out, errbuf, errlen);
    if (!err && key[0] && (*out)->image)
        image_write(dir, key, (*out)->image, (*out)->image_size);
out:
    if (err && err != PAL_ERR_INTERNAL)
        pal_log(PAL_LOG_DEBUG, "botdata", "load %s failed: %s", dir, pal_err_str(err));
    else if (err)
        pal_log(PAL_LOG_ERR, "botdata", "load %s: %s", dir, errbuf ? errbuf : "SQLite failed");
    sqlite3_close(db);
    free(text);
    free(path);
    for (size_t i = 0; i < n_files; i++)
        free(files[i]);
    free(files);
    return err;
}

pal_err pal_botdata__open_text(const char *file_name, const char *text, size_t len,
                               pal_botdata **out, char *errbuf, size_t errlen)
{
    sqlite3 *db = NULL;
    char table[PAL_BOTDATA_MAX_NAME + 1];
    *out = NULL;
    pal_err err = table_name(file_name, file_name, table, errbuf, errlen);
    if (err)
        goto out;
    err = loader_begin(&db, errbuf, errlen);
    if (err)
        goto out;
    err = load_table(db, file_name, table, text, len, errbuf, errlen);
    if (err)
        goto out;
    err = loader_finish(db, 1, out, errbuf, errlen);
out:
    sqlite3_close(db);
    return err;
}

void pal_botdata_close(pal_botdata *data)
{
    if (!data)
        return;
    sqlite3_free(data->image);
    free(data);
}

/* ---- queries ---- */

typedef struct query_lane {
    sqlite3 *db; /* read-only, onto the botdata's image */
    sqlite3_stmt *stmt;
    int ticks_left;     /* progress handler calls left in this run */
    const char **cells; /* values of the run in progress */
    size_t cells_cap;
    struct query_lane *next_idle;
    struct query_lane *next_all;
} query_lane;

/* Results of recent runs. The data never changes once loaded, so a result
 * is a pure function of the parameters: caching it is exact. Keys are the
 * parameter values themselves (compared byte for byte, the hash only picks
 * the slot). A bot's look-ups repeat a lot (the same postcodes, the same
 * cities) and a report-style query costs SQLite tens of microseconds. */
enum { RESULT_CACHE = 256, RESULT_CACHE_MAX_BYTES = 16 * 1024 };

typedef struct cached_result {
    uint64_t hash; /* 0: empty */
    char *blob;    /* key bytes, then the encoded rows (see cache_encode) */
    size_t key_len, blob_len;
    size_t n_rows, n_cols;
} cached_result;

struct pal_botdata_query {
    const pal_botdata *data; /* borrowed */
    char *sql;
    size_t n_params;
    char **params;        /* names without ':'; params[i] is SQL parameter i + 1 */
    pthread_mutex_t lock; /* guards idle, all and cache */
    query_lane *idle;
    query_lane *all;
    cached_result cache[RESULT_CACHE];
};

/* Functions that reach outside the data. The library is built with
 * ENABLE_LOAD_EXTENSION and ENABLE_FTS3_TOKENIZER, so both exist. */
static const char *const denied_functions[] = {"load_extension", "fts3_tokenizer"};

static int authorize(void *user, int action, const char *arg1, const char *arg2,
                     const char *database, const char *trigger)
{
    (void)user;
    (void)arg1;
    (void)database;
    (void)trigger;
    switch (action) {
    case SQLITE_SELECT:
    case SQLITE_READ:
    case SQLITE_RECURSIVE:
        return SQLITE_OK;
    case SQLITE_FUNCTION:
        for (size_t i = 0; i < sizeof(denied_functions) / sizeof(denied_functions[0]); i++) {
            if (arg2 && sqlite3_stricmp(arg2, denied_functions[i]) == 0)
                return SQLITE_DENY;
        }
        return SQLITE_OK;
    default:
        return SQLITE_DENY; /* writes, DDL, ATTACH, PRAGMA, transactions, … */
    }
}

static int on_progress(void *user)
{
    query_lane *lane = user;
    return --lane->ticks_left <= 0; /* non-zero interrupts the statement */
}

static void lane_free(query_lane *lane)
{
    if (!lane)
        return;
    sqlite3_finalize(lane->stmt);
    sqlite3_close(lane->db);
    free(lane->cells);
    free(lane);
}

/* Why sql cannot be a query, or NULL when it can; stmt is its first statement. */
static const char *refusal(sqlite3 *db, sqlite3_stmt *stmt, const char *tail)
{
    if (!stmt)
        return "no SQL statement";
    while (*tail) {
        sqlite3_stmt *next = NULL;
        const char *after = NULL;
        int rc = sqlite3_prepare_v2(db, tail, -1, &next, &after);
        sqlite3_finalize(next);
        if (rc != SQLITE_OK || next)
            return "only one SQL statement is allowed";
        if (after == tail)
            break;
        tail = after; /* only comments or ';' so far */
    }
    if (!sqlite3_stmt_readonly(stmt) || sqlite3_stmt_isexplain(stmt) ||
        sqlite3_column_count(stmt) == 0)
        return "only a read-only SELECT is allowed";
    int n = sqlite3_bind_parameter_count(stmt);
    for (int i = 1; i <= n; i++) {
        const char *name = sqlite3_bind_parameter_name(stmt, i);
        if (!name || name[0] != ':')
            return "parameters must be named :like_this";
    }
    return NULL;
}

/* A connection onto data's image with sql prepared on it; *out (OUT) is the caller's. */
static pal_err lane_open(const pal_botdata *data, const char *sql, query_lane **out, char *errbuf,
                         size_t errlen)
{
    pal_err err = PAL_ERR_INTERNAL;
    query_lane *lane = pal_xcalloc(1, sizeof(*lane));
    int rc =
        sqlite3_open_v2(":memory:", &lane->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        goto sqlite_failed;
    if (data->image) {
        /* No copy: every lane reads the same immutable image (READONLY
         * without FREEONCLOSE leaves the buffer ours). */
        rc = sqlite3_deserialize(lane->db, "main", data->image, data->image_size, data->image_size,
                                 SQLITE_DESERIALIZE_READONLY);
        if (rc != SQLITE_OK)
            goto sqlite_failed;
        /* Read pages in place rather than copying them into each lane's cache. */
        rc = sqlite3_exec(lane->db, "PRAGMA mmap_size=2147418112", NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            goto sqlite_failed;
    }
    /* Sorts and temporary results stay in memory: a query touches no file. */
    rc = sqlite3_exec(lane->db, "PRAGMA temp_store=MEMORY", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        goto sqlite_failed;
    /* Belt and braces around the authorizer. */
    int ignored;
    if (sqlite3_db_config(lane->db, SQLITE_DBCONFIG_DEFENSIVE, 1, &ignored) != SQLITE_OK ||
        sqlite3_db_config(lane->db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, &ignored) !=
            SQLITE_OK ||
        sqlite3_db_config(lane->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, &ignored) != SQLITE_OK ||
        sqlite3_db_config(lane->db, SQLITE_DBCONFIG_DQS_DML, 0, &ignored) != SQLITE_OK)
        goto sqlite_failed;
    sqlite3_limit(lane->db, SQLITE_LIMIT_ATTACHED, 0);
    sqlite3_limit(lane->db, SQLITE_LIMIT_LENGTH, VALUE_MAX);
    rc = sqlite3_set_authorizer(lane->db, authorize, NULL);
    if (rc != SQLITE_OK)
        goto sqlite_failed;
    sqlite3_progress_handler(lane->db, STEP_TICK, on_progress, lane);

    const char *tail = NULL;
    rc = sqlite3_prepare_v3(lane->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &lane->stmt, &tail);
    if (rc != SQLITE_OK) {
        pal_err_format(errbuf, errlen, "%s", sqlite3_errmsg(lane->db));
        err = PAL_ERR_INVALID;
        goto out;
    }
    const char *why = refusal(lane->db, lane->stmt, tail);
    if (why) {
        pal_err_format(errbuf, errlen, "%s", why);
        err = PAL_ERR_INVALID;
        goto out;
    }
    *out = lane;
    lane = NULL;
    err = PAL_OK;
    goto out;
sqlite_failed:
    pal_err_format(errbuf, errlen, "SQLite: %s",
                   lane->db ? sqlite3_errmsg(lane->db) : "cannot open a connection");
    pal_log(PAL_LOG_ERR, "botdata", "open a query connection: %s",
            lane->db ? sqlite3_errmsg(lane->db) : "cannot open");
out:
    lane_free(lane);
    return err;
}

pal_err pal_botdata_prepare(pal_botdata *data, const char *sql, pal_botdata_query **out,
                            char *errbuf, size_t errlen)
{
    query_lane *lane = NULL;
    *out = NULL;
    pal_err err = lane_open(data, sql, &lane, errbuf, errlen);
    if (err)
        return err;
    pal_botdata_query *q = pal_xcalloc(1, sizeof(*q));
    if (pthread_mutex_init(&q->lock, NULL) != 0) {
        free(q);
        lane_free(lane);
        pal_err_format(errbuf, errlen, "cannot create a mutex");
        return PAL_ERR_INTERNAL;
    }
    q->data = data;
    q->sql = pal_xstrdup(sql);
    q->n_params = (size_t)sqlite3_bind_parameter_count(lane->stmt);
    q->params = pal_xcalloc(q->n_params, sizeof(*q->params));
    for (size_t i = 0; i < q->n_params; i++)
        q->params[i] = pal_xstrdup(sqlite3_bind_parameter_name(lane->stmt, (int)i + 1) + 1);
    q->idle = lane;
    q->all = lane;
    *out = q;
    return PAL_OK;
}

void pal_botdata_query_free(pal_botdata_query *q)
{
    if (!q)
        return;
    query_lane *lane = q->all;
    while (lane) {
        query_lane *next = lane->next_all;
        lane_free(lane);
        lane = next;
    }
    for (size_t i = 0; i < q->n_params; i++)
        free(q->params[i]);
    for (size_t i = 0; i < RESULT_CACHE; i++)
        free(q->cache[i].blob);
    free(q->params);
    free(q->sql);
    pthread_mutex_destroy(&q->lock);
    free(q);
}

size_t pal_botdata_query_param_count(const pal_botdata_query *q)
{
    return q->n_params;
}

const char *pal_botdata_query_param_name(const pal_botdata_query *q, size_t i)
{
    return i < q->n_params ? q->params[i] : NULL;
}

/* An idle lane of q, or a new one; NULL when none can be opened (logged). */
static query_lane *lane_take(pal_botdata_query *q)
{
    pthread_mutex_lock(&q->lock);
    query_lane *lane = q->idle;
    if (lane)
        q->idle = lane->next_idle;
    pthread_mutex_unlock(&q->lock);
    if (lane)
        return lane;
    char why[256] = "";
    if (lane_open(q->data, q->sql, &lane, why, sizeof(why)) != PAL_OK)
        return NULL; /* the SQL compiled once, so this is SQLite failing: logged */
    pthread_mutex_lock(&q->lock);
    lane->next_all = q->all;
    q->all = lane;
    pthread_mutex_unlock(&q->lock);
    return lane;
}

static void lane_give_back(pal_botdata_query *q, query_lane *lane)
{
    pthread_mutex_lock(&q->lock);
    lane->next_idle = q->idle;
    q->idle = lane;
    pthread_mutex_unlock(&q->lock);
}

static pal_err bind_params(const pal_botdata_query *q, sqlite3_stmt *stmt, const char *const *names,
                           const char *const *values, size_t n_params)
{
    for (size_t i = 0; i < q->n_params; i++) {
        size_t j = 0;
        while (j < n_params && strcmp(names[j], q->params[i]) != 0)
            j++;
        if (j == n_params) {
            pal_log(PAL_LOG_WARN, "botdata", "query parameter :%s not given", q->params[i]);
            return PAL_ERR_INVALID;
        }
        int rc;
        if (!values[j]) {
            rc = sqlite3_bind_null(stmt, (int)i + 1);
        } else {
            size_t len = strlen(values[j]);
            if (len > INT_MAX)
                return PAL_ERR_LIMIT;
            if (!pal_utf8_valid(values[j], len))
                return PAL_ERR_UTF8;
            rc = sqlite3_bind_text(stmt, (int)i + 1, values[j], (int)len, SQLITE_STATIC);
        }
        if (rc != SQLITE_OK)
            return PAL_ERR_INTERNAL;
    }
    return PAL_OK;
}

/* The cache key of a run: max_rows, then each parameter's value in the
 * query's order (length-prefixed; NULL marked). In arena; false when a
 * parameter is missing (the run then fails in bind_params, uncached). */
static bool cache_key(const pal_botdata_query *q, const char *const *names,
                      const char *const *values, size_t n_params, size_t max_rows, pal_arena *arena,
                      char **key, size_t *key_len)
{
    size_t len = sizeof(max_rows);
    const char **ordered = pal_arena_alloc(arena, (q->n_params + 1) * sizeof(*ordered));
    for (size_t i = 0; i < q->n_params; i++) {
        size_t j = 0;
        while (j < n_params && strcmp(names[j], q->params[i]) != 0)
            j++;
        if (j == n_params)
            return false;
        ordered[i] = values[j];
        len += sizeof(uint32_t) + (values[j] ? strlen(values[j]) : 0);
    }
    char *k = pal_arena_alloc(arena, len);
    size_t at = 0;
    memcpy(k, &max_rows, sizeof(max_rows));
    at += sizeof(max_rows);
    for (size_t i = 0; i < q->n_params; i++) {
        size_t vlen = ordered[i] ? strlen(ordered[i]) : 0;
        uint32_t mark = ordered[i] ? (uint32_t)vlen : UINT32_MAX;
        memcpy(k + at, &mark, sizeof(mark));
        at += sizeof(mark);
        if (vlen)
            memcpy(k + at, ordered[i], vlen);
        at += vlen;
    }
    *key = k;
    *key_len = len;
    return true;
}

static uint64_t cache_hash(const char *key, size_t len)
{
    uint64_t h = 0xCBF29CE484222325ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)key[i]) * 0x100000001B3ULL;
    return h ? h : 1;
}

/* Encodes strings as [uint32 length or UINT32_MAX for NULL][bytes]. */
static size_t encode_strings(char *dst, const char *const *strings, size_t n)
{
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = strings[i] ? strlen(strings[i]) : 0;
        uint32_t mark = strings[i] ? (uint32_t)len : UINT32_MAX;
        if (dst) {
            memcpy(dst + at, &mark, sizeof(mark));
            memcpy(dst + at + sizeof(mark), strings[i] ? strings[i] : "", len);
        }
        at += sizeof(mark) + len;
    }
    return at;
}

static void cache_store(pal_botdata_query *q, uint64_t hash, const char *key, size_t key_len,
                        const pal_botdata_rows *rows)
{
    size_t cells = rows->n_rows * rows->n_cols;
    size_t body = encode_strings(NULL, rows->columns, rows->n_cols) +
                  encode_strings(NULL, rows->values, cells);
    if (key_len + body > RESULT_CACHE_MAX_BYTES)
        return;
    char *blob = pal_xmalloc(key_len + body);
    memcpy(blob, key, key_len);
    size_t at = key_len;
    at += encode_strings(blob + at, rows->columns, rows->n_cols);
    encode_strings(blob + at, rows->values, cells);
    cached_result *slot = &q->cache[hash & (RESULT_CACHE - 1)];
    pthread_mutex_lock(&q->lock);
    free(slot->blob);
    *slot = (cached_result){hash, blob, key_len, key_len + body, rows->n_rows, rows->n_cols};
    pthread_mutex_unlock(&q->lock);
}

/* Decodes n strings from src into arena copies; returns the bytes read. */
static size_t decode_strings(const char *src, const char **out, size_t n, pal_arena *arena)
{
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t mark;
        memcpy(&mark, src + at, sizeof(mark));
        at += sizeof(mark);
        if (mark == UINT32_MAX) {
            out[i] = NULL;
            continue;
        }
        out[i] = pal_arena_strndup(arena, src + at, mark);
        at += mark;
    }
    return at;
}

static bool cache_find(pal_botdata_query *q, uint64_t hash, const char *key, size_t key_len,
                       pal_arena *arena, pal_botdata_rows *out)
{
    bool found = false;
    cached_result *slot = &q->cache[hash & (RESULT_CACHE - 1)];
    pthread_mutex_lock(&q->lock);
    if (slot->hash == hash && slot->key_len == key_len && memcmp(slot->blob, key, key_len) == 0) {
        size_t cells = slot->n_rows * slot->n_cols;
        const char **columns = pal_arena_alloc(arena, (slot->n_cols + 1) * sizeof(*columns));
        const char **values = pal_arena_alloc(arena, (cells + 1) * sizeof(*values));
        size_t at = key_len;
        at += decode_strings(slot->blob + at, columns, slot->n_cols, arena);
        decode_strings(slot->blob + at, values, cells, arena);
        *out = (pal_botdata_rows){slot->n_rows, slot->n_cols, columns, values};
        found = true;
    }
    pthread_mutex_unlock(&q->lock);
    return found;
}

static pal_err run_uncached(pal_botdata_query *q, const char *const *names,
                            const char *const *values, size_t n_params, size_t max_rows,
                            pal_arena *arena, pal_botdata_rows *out)
{
    *out = (pal_botdata_rows){0};
    query_lane *lane = lane_take(q);
    if (!lane)
        return PAL_ERR_INTERNAL;
    sqlite3_stmt *stmt = lane->stmt;
    size_t n_cols = (size_t)sqlite3_column_count(stmt);
    size_t n_rows = 0;
    size_t n_cells = 0;
    int rc = SQLITE_OK;
    pal_err err = bind_params(q, stmt, names, values, n_params);
    if (err)
        goto out;
    lane->ticks_left = STEP_TICKS;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (n_rows == max_rows) {
            err = PAL_ERR_LIMIT;
            goto out;
        }
        pal_xreserve((void **)&lane->cells, &lane->cells_cap, n_cells + n_cols,
                     sizeof(*lane->cells));
        for (size_t c = 0; c < n_cols; c++) {
            const char *text = (const char *)sqlite3_column_text(stmt, (int)c);
            size_t len = (size_t)sqlite3_column_bytes(stmt, (int)c);
            /* Stored text is valid, but SQL can make bytes (x'FF', CAST of a blob). */
            if (text && pal_utf8_check_text(text, len, NULL) != PAL_OK) {
                pal_log(PAL_LOG_WARN, "botdata", "query made a value that is not UTF-8: %s",
                        q->sql);
                err = PAL_ERR_UTF8;
                goto out;
            }
            lane->cells[n_cells++] = text ? pal_arena_strndup(arena, text, len) : NULL;
        }
        n_rows++;
    }
    if (rc == SQLITE_INTERRUPT || rc == SQLITE_TOOBIG) {
        pal_log(PAL_LOG_WARN, "botdata", "query stopped (%s): %s",
                rc == SQLITE_TOOBIG ? "value too big" : "too many steps", q->sql);
        err = PAL_ERR_LIMIT;
        goto out;
    }
    if (rc != SQLITE_DONE) {
        pal_log(PAL_LOG_ERR, "botdata", "query failed: %s", sqlite3_errmsg(lane->db));
        err = PAL_ERR_INTERNAL;
        goto out;
    }
    const char **columns = pal_arena_alloc(arena, n_cols * sizeof(*columns));
    for (size_t c = 0; c < n_cols; c++) {
        const char *name = sqlite3_column_name(stmt, (int)c);
        columns[c] = pal_arena_strndup(arena, name ? name : "", name ? strlen(name) : 0);
    }
    const char **cells = pal_arena_alloc(arena, n_cells * sizeof(*cells));
    if (n_cells)
        memcpy(cells, lane->cells, n_cells * sizeof(*cells));
    *out = (pal_botdata_rows){n_rows, n_cols, columns, cells};
out:
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    lane_give_back(q, lane);
    return err;
}

pal_err pal_botdata_run(pal_botdata_query *q, const char *const *names, const char *const *values,
                        size_t n_params, size_t max_rows, pal_arena *arena, pal_botdata_rows *out)
{
    char *key = NULL;
    size_t key_len = 0;
    uint64_t hash = 0;
    if (cache_key(q, names, values, n_params, max_rows, arena, &key, &key_len)) {
        hash = cache_hash(key, key_len);
        if (cache_find(q, hash, key, key_len, arena, out))
            return PAL_OK;
    }
    pal_err err = run_uncached(q, names, values, n_params, max_rows, arena, out);
    if (err == PAL_OK && key)
        cache_store(q, hash, key, key_len, out);
    return err;
}
