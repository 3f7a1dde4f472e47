/* Column specs ("depth,temp", "0-7", "3"): which columns of a file a reader keeps. */
#ifndef FATHOM_IO_COLUMNS_H
#define FATHOM_IO_COLUMNS_H

#include "fathom.h"

/* Indices (0-based, into the file's columns) of the inputs and targets, each in
 * the order the spec names them. */
typedef struct fm_column_selection {
    int n_in;
    int *in;
    int n_out;
    int *out;
} fm_column_selection;

/* Resolve one spec against a file's columns. `names` may be NULL for formats
 * without column names (NPY, IDX): then only indices and ranges are accepted.
 * A token that is exactly a header name is that column, even if it looks like
 * a number. `role` ("input", "target") and `path` only serve the messages.
 * An empty or NULL spec gives zero columns. *indices is malloc'd (free it). */
fm_status fm_columns_parse(const char *spec, const char *const *names, int n_columns, const char *role,
                           const char *path, int **indices, int *count, fm_error *err);

/* Resolve the input and target specs of a reader. `inputs` NULL or blank means
 * every column that is not a target; `targets` NULL or blank means none. A
 * column in both lists, or twice in one, is an FM_ERR_ARG. */
fm_status fm_columns_select(const char *inputs, const char *targets, const char *const *names, int n_columns,
                            const char *path, fm_column_selection *sel, fm_error *err);

void fm_column_selection_free(fm_column_selection *sel);

#endif
