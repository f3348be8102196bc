/*
 * dataset.h — labelled examples from TSV files: `intent<TAB>text` a line.
 *
 * UTF-8 (a leading byte-order mark is skipped), LF or CRLF line ends, blank
 * lines and lines starting with '#' ignored. An intent name is 1..128
 * bytes of UTF-8 without spaces or control characters; a text is 1..PAL_TEXT_MAX_BYTES bytes of
 * valid UTF-8 without NUL. Anything else is an error naming the file and
 * line. A file is read whole and must be under PAL_DATASET_MAX_BYTES.
 */
#ifndef PAL_NLU_DATASET_H
#define PAL_NLU_DATASET_H

#include <stddef.h>

#include "base/err.h"
#include "nlu/classifier.h"

#define PAL_DATASET_MAX_BYTES ((size_t)256 << 20)

typedef struct pal_dataset {
    pal_nlu_example *examples; /* strings point into the dataset's own storage */
    size_t count;
} pal_dataset;

/* An empty dataset; caller frees with pal_dataset_free(). */
pal_dataset *pal_dataset_new(void);
/* NULL is a no-op. */
void pal_dataset_free(pal_dataset *dataset);

/* Parses data[0..len) (named `name` in messages) and appends its examples to
 * dataset. On PAL_ERR_PARSE / PAL_ERR_UTF8 / PAL_ERR_LIMIT, errbuf gets
 * "NAME:LINE: what was wrong" and the dataset is left unchanged. */
pal_err pal_dataset_parse(pal_dataset *dataset, const char *name, const char *data, size_t len,
                          char *errbuf, size_t errlen);

/* Reads the file at path and parses it as above; PAL_ERR_IO when it cannot be
 * read (errbuf says why). */
pal_err pal_dataset_load(pal_dataset *dataset, const char *path, char *errbuf, size_t errlen);

#endif
