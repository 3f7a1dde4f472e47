/* Datasets: allocation, the train/validation split, selection from a plain
 * matrix, and fm_data_read, which picks a reader by file name. */
#define _POSIX_C_SOURCE 200809L /* stat: a directory is named as one */
#include "io/columns.h"
#include "io/io_internal.h"

#include "core/internal.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void fm_free_names(char **names, int n)
{
    if (!names)
        return;
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

int fm_copy_names(char *const *names, int n, char ***out)
{
    *out = NULL;
    if (!names || n <= 0)
        return 1;
    char **copy = fm_calloc_array((size_t)n, sizeof *copy);
    if (!copy)
        return 0;
    for (int i = 0; i < n; i++) {
        if (names[i] && !(copy[i] = fm_strdup(names[i]))) {
            fm_free_names(copy, n);
            return 0;
        }
    }
    *out = copy;
    return 1;
}

void fm_dataset_free(fm_dataset *ds)
{
    if (!ds)
        return;
    free(ds->x);
    free(ds->y);
    fm_free_names(ds->in_names, ds->n_in);
    fm_free_names(ds->out_names, ds->n_out);
    free(ds->grid_index);
    free(ds->lon);
    free(ds->encoding);
    free(ds);
}

fm_status fm_dataset_alloc(size_t rows, int n_in, int n_out, fm_dataset **out, fm_error *err)
{
    if (!out)
        return fm_fail(err, FM_ERR_ARG, "fm_dataset_alloc: out must not be NULL");
    *out = NULL;
    if (n_in < 0 || n_out < 0)
        return fm_fail(err, FM_ERR_ARG, "fm_dataset_alloc: negative width (%d inputs, %d targets)", n_in,
                       n_out);
    size_t n_x, n_y;
    if (!fm_mul_size(rows, (size_t)n_in, &n_x) || !fm_mul_size(rows, (size_t)n_out, &n_y))
        return fm_fail(err, FM_ERR_NOMEM, "dataset of %zu rows x (%d + %d) columns is too large", rows, n_in,
                       n_out);
    fm_dataset *ds = calloc(1, sizeof *ds);
    if (!ds)
        return fm_fail(err, FM_ERR_NOMEM, "out of memory for a dataset");
    ds->rows = rows;
    ds->n_in = n_in;
    ds->n_out = n_out;
    ds->x = fm_alloc_array(n_x, sizeof *ds->x);
    /* No targets: y stays NULL, as the header documents. */
    ds->y = n_out > 0 ? fm_alloc_array(n_y, sizeof *ds->y) : NULL;
    if (!ds->x || (n_out > 0 && !ds->y)) {
        fm_dataset_free(ds);
        return fm_fail(err, FM_ERR_NOMEM, "out of memory for a dataset of %zu rows x (%d + %d) columns", rows,
                       n_in, n_out);
    }
    *out = ds;
    return FM_OK;
}

void fm_dataset_shrink(fm_dataset *ds)
{
    if (ds->rows == 0)
        return;
    if (ds->n_in > 0) {
        float *x = realloc(ds->x, ds->rows * (size_t)ds->n_in * sizeof *x);
        if (x)
            ds->x = x;
    }
    if (ds->y) {
        float *y = realloc(ds->y, ds->rows * (size_t)ds->n_out * sizeof *y);
        if (y)
            ds->y = y;
    }
    if (ds->grid_index) {
        uint64_t *g = realloc(ds->grid_index, ds->rows * sizeof *g);
        if (g)
            ds->grid_index = g;
    }
    if (ds->lon) {
        double *l = realloc(ds->lon, ds->rows * sizeof *l);
        if (l)
            ds->lon = l;
    }
}

static int is_validation_row(size_t i, uint64_t seed, double threshold)
{
    return (double)(fm_splitmix64(seed ^ (uint64_t)i) % 1000000u) < threshold;
}

static void copy_row(const fm_dataset *from, size_t i, fm_dataset *to, size_t k)
{
    memcpy(to->x + k * (size_t)to->n_in, from->x + i * (size_t)from->n_in,
           (size_t)from->n_in * sizeof *to->x);
    if (from->y && to->y)
        memcpy(to->y + k * (size_t)to->n_out, from->y + i * (size_t)from->n_out,
               (size_t)from->n_out * sizeof *to->y);
    if (from->grid_index && to->grid_index)
        to->grid_index[k] = from->grid_index[i];
    if (from->lon && to->lon)
        to->lon[k] = from->lon[i];
}

/* Room for the grid fields and a copy of the encoding, when `from` has them. */
static int alloc_grid_fields(const fm_dataset *from, fm_dataset *to)
{
    size_t n = to->rows ? to->rows : 1;
    if (from->grid_index && !(to->grid_index = fm_alloc_array(n, sizeof *to->grid_index)))
        return 0;
    if (from->lon && !(to->lon = fm_alloc_array(n, sizeof *to->lon)))
        return 0;
    if (from->encoding && !(to->encoding = fm_strdup(from->encoding)))
        return 0;
    return 1;
}

/* Fraction 0 gives a validation set with zero rows rather than NULL, so
 * callers can always free both and test val->rows. */
fm_status fm_dataset_split(const fm_dataset *all, double fraction, uint64_t seed, fm_dataset **train,
                           fm_dataset **val, fm_error *err)
{
    if (train)
        *train = NULL;
    if (val)
        *val = NULL;
    if (!all || !train || !val)
        return fm_fail(err, FM_ERR_ARG, "fm_dataset_split: all, train and val must not be NULL");
    if (!(fraction >= 0.0 && fraction <= 1.0))
        return fm_fail(err, FM_ERR_ARG, "validation fraction %g is not between 0 and 1", fraction);

    double threshold = fraction * 1e6;
    size_t n_val = 0;
    /* Rows are numbered globally (row_offset), so a shard picks the rows that
     * one process reading everything would. */
    for (size_t i = 0; i < all->rows; i++)
        n_val += (size_t)is_validation_row(all->row_offset + i, seed, threshold);

    fm_dataset *t = NULL, *v = NULL;
    fm_status status = fm_dataset_alloc(all->rows - n_val, all->n_in, all->n_out, &t, err);
    if (status == FM_OK)
        status = fm_dataset_alloc(n_val, all->n_in, all->n_out, &v, err);
    if (status == FM_OK && (!fm_copy_names(all->in_names, all->n_in, &t->in_names) ||
                            !fm_copy_names(all->out_names, all->n_out, &t->out_names) ||
                            !fm_copy_names(all->in_names, all->n_in, &v->in_names) ||
                            !fm_copy_names(all->out_names, all->n_out, &v->out_names) ||
                            !alloc_grid_fields(all, t) || !alloc_grid_fields(all, v)))
        status = fm_fail(err, FM_ERR_NOMEM, "out of memory for column names");
    if (status != FM_OK) {
        fm_dataset_free(t);
        fm_dataset_free(v);
        return status;
    }
    size_t k_train = 0, k_val = 0;
    for (size_t i = 0; i < all->rows; i++) {
        if (is_validation_row(all->row_offset + i, seed, threshold))
            copy_row(all, i, v, k_val++);
        else
            copy_row(all, i, t, k_train++);
    }
    /* Rows dropped while reading belong to the data as a whole; the count
     * stays with the training part. */
    t->skipped = all->skipped;
    *train = t;
    *val = v;
    return FM_OK;
}

static const char *value_text(float value)
{
    if (isnan(value))
        return "NaN";
    return value > 0 ? "inf" : "-inf";
}

fm_status fm_dataset_from_matrix(const char *path, const float *matrix, size_t rows, int cols,
                                 const fm_read_options *opts, float input_divisor, fm_bad_row_policy policy,
                                 fm_dataset **out, unsigned char **bad_rows, fm_error *err)
{
    *out = NULL;
    if (bad_rows)
        *bad_rows = NULL;
    fm_column_selection sel;
    fm_status status = fm_columns_select(opts ? opts->inputs : NULL, opts ? opts->targets : NULL, NULL, cols,
                                         path, &sel, err);
    if (status != FM_OK)
        return status;
    fm_dataset *ds = NULL;
    unsigned char *bad = NULL;
    status = fm_dataset_alloc(rows, sel.n_in, sel.n_out, &ds, err);
    if (status == FM_OK && policy == FM_BAD_ROWS_MARK && !(bad = fm_calloc_array(rows, 1)))
        status = fm_fail(err, FM_ERR_NOMEM, "%s: out of memory for %zu rows", path, rows);

    size_t kept = 0, skipped = 0;
    for (size_t i = 0; status == FM_OK && i < rows; i++) {
        const float *src = matrix + i * (size_t)cols;
        int bad_column = -1;
        for (int j = 0; bad_column < 0 && j < sel.n_in; j++)
            if (!isfinite(src[sel.in[j]]))
                bad_column = sel.in[j];
        for (int j = 0; bad_column < 0 && j < sel.n_out; j++)
            if (!isfinite(src[sel.out[j]]))
                bad_column = sel.out[j];
        if (bad_column >= 0) {
            if (policy == FM_BAD_ROWS_FAIL) {
                status = fm_fail(err, FM_ERR_FORMAT,
                                 "%s: row %zu, column %d (0-based): value %s is not finite "
                                 "(NaN, infinite or beyond the float range)",
                                 path, i, bad_column, value_text(src[bad_column]));
                break;
            }
            skipped++;
            if (policy == FM_BAD_ROWS_SKIP)
                continue;
            bad[kept] = 1;
        }
        float *x = ds->x + kept * (size_t)sel.n_in;
        for (int j = 0; j < sel.n_in; j++)
            x[j] = src[sel.in[j]] / input_divisor;
        if (sel.n_out > 0) {
            float *y = ds->y + kept * (size_t)sel.n_out;
            for (int j = 0; j < sel.n_out; j++)
                y[j] = src[sel.out[j]];
        }
        kept++;
    }
    if (status == FM_OK && kept == 0)
        status =
            fm_fail(err, FM_ERR_FORMAT, "%s: no rows left: all %zu rows hold non-finite values", path, rows);
    fm_column_selection_free(&sel);
    if (status != FM_OK) {
        fm_dataset_free(ds);
        free(bad);
        return status;
    }
    ds->rows = kept;
    ds->skipped = skipped;
    fm_dataset_shrink(ds);
    *out = ds;
    if (bad_rows)
        *bad_rows = bad;
    else
        free(bad);
    return FM_OK;
}

typedef enum data_format { FORMAT_UNKNOWN, FORMAT_CSV, FORMAT_NPY, FORMAT_IDX, FORMAT_NETCDF, FORMAT_SEGY } data_format;

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    if (m > n)
        return 0;
    for (size_t i = 0; i < m; i++)
        if (tolower((unsigned char)s[n - m + i]) != suffix[i])
            return 0;
    return 1;
}

static data_format format_of(const char *path)
{
    if (ends_with(path, ".csv"))
        return FORMAT_CSV;
    if (ends_with(path, ".npy"))
        return FORMAT_NPY;
    if (ends_with(path, "-ubyte") || ends_with(path, "-ubyte.gz") || ends_with(path, ".idx") ||
        ends_with(path, ".idx.gz"))
        return FORMAT_IDX;
    if (ends_with(path, ".nc") || ends_with(path, ".cdf") || ends_with(path, ".nc4") || ends_with(path, ".netcdf"))
        return FORMAT_NETCDF;
    if (ends_with(path, ".sgy") || ends_with(path, ".segy"))
        return FORMAT_SEGY;
    return FORMAT_UNKNOWN;
}

fm_status fm_shard_range(const char *path, size_t total, int shard, int n_shards, size_t *begin, size_t *end,
                         fm_error *err)
{
    *begin = 0;
    *end = total;
    if (n_shards <= 1)
        return FM_OK;
    if (shard < 0 || shard >= n_shards)
        return fm_fail(err, FM_ERR_ARG, "shard %d of %d does not exist", shard, n_shards);
    if (total < (size_t)n_shards)
        return fm_fail(err, FM_ERR_ARG, "%s has %zu rows, fewer than the %d processes that share it", path, total,
                       n_shards);
    /* The first total % n_shards blocks take one row more. */
    size_t base = total / (size_t)n_shards, extra = total % (size_t)n_shards, k = (size_t)shard;
    *begin = k * base + (k < extra ? k : extra);
    *end = *begin + base + (k < extra ? 1 : 0);
    return FM_OK;
}

/* How a format is shared among processes (docs/scaling.md). */
typedef enum shard_kind {
    SHARD_ROWS = 0, /* CSV, NPY, IDX: the reader reads a block of file rows */
    SHARD_GRID,     /* NetCDF: the reader reads a block of the grid's outermost dimension */
    SHARD_CUT       /* SEG-Y: the reader reads everything; the block of its rows is kept */
} shard_kind;

/* Which part of a file a read keeps: shard `index` of `count` (count 1: all).
 * first_row receives the file row the kept block starts at, for formats read
 * by blocks of file rows (SHARD_ROWS); the others leave it unchanged. */
typedef struct shard_spec {
    int index, count;
    size_t first_row;
    shard_kind kind;
} shard_spec;

/* Read one file with a selection. IDX inputs are scaled to [0, 1] (pixels)
 * while IDX targets keep their byte values (class labels). */
static fm_status read_one(const char *path, const char *inputs, const char *targets, int as_targets,
                          fm_bad_row_policy policy, shard_spec *shard, fm_segy_shape *segy_shape, fm_dataset **out,
                          unsigned char **bad_rows, fm_error *err)
{
    fm_read_options opts = {inputs, targets, policy != FM_BAD_ROWS_FAIL};
    data_format format = format_of(path);
    if (format == FORMAT_CSV)
        return fm_csv_read_shard(path, &opts, policy, shard->index, shard->count, out, bad_rows, &shard->first_row,
                                 err);
    if (bad_rows)
        *bad_rows = NULL;
    /* NetCDF cells become rows only after fill values are left out, so a
     * process cannot seek to a block of rows; it reads a block of the grid
     * instead (a contiguous range of the outermost dimension), and the
     * blocks of all processes still concatenate to the rows of one reading
     * everything. SEG-Y reads the whole selection and keeps the block of its
     * rows afterwards (docs/scaling.md). */
    if (format == FORMAT_NETCDF) {
        shard->kind = SHARD_GRID;
        return fm_netcdf_read_shard(path, inputs, targets, shard->index, shard->count, out, err);
    }
    if (format == FORMAT_SEGY) {
        shard->kind = SHARD_CUT;
        return fm_segy_read(path, inputs, targets, segy_shape, out, err);
    }
    if (format == FORMAT_UNKNOWN)
        return fm_fail(err, FM_ERR_ARG,
                       "%s: unknown data format; expected a name ending in .csv, .npy, .idx, .idx.gz, "
                       "-ubyte, -ubyte.gz, .nc, .cdf, .nc4, .sgy or .segy",
                       path);
    float *matrix;
    size_t rows;
    int cols;
    fm_status status = format == FORMAT_NPY
                           ? fm_npy_load_shard(path, shard->index, shard->count, &matrix, &rows, &cols,
                                               &shard->first_row, err)
                           : fm_idx_read_shard(path, 0, shard->index, shard->count, &matrix, &rows, &cols,
                                               &shard->first_row, err);
    if (status != FM_OK)
        return status;
    float divisor = format == FORMAT_IDX && !as_targets ? 255.0f : 1.0f;
    status = fm_dataset_from_matrix(path, matrix, rows, cols, &opts, divisor, policy, out, bad_rows, err);
    free(matrix);
    return status;
}

static int is_blank_spec(const char *spec)
{
    if (!spec)
        return 1;
    for (; *spec; spec++)
        if (*spec != ' ' && *spec != '\t')
            return 0;
    return 1;
}

static int is_bad(const unsigned char *bad_inputs, const unsigned char *bad_targets, size_t i)
{
    return (bad_inputs && bad_inputs[i]) || (bad_targets && bad_targets[i]);
}

/* Inputs and targets from two files read side by side: a row bad in either
 * file is dropped from both, so that they stay aligned. */
static fm_status read_pair(const char *path, const char *target_path, const fm_read_options *opts,
                           shard_spec *shard, fm_dataset **out, fm_error *err)
{
    shard_spec target_shard = *shard;
    int skip = opts && opts->skip_bad_rows;
    fm_bad_row_policy policy = skip ? FM_BAD_ROWS_MARK : FM_BAD_ROWS_FAIL;
    fm_dataset *inputs = NULL, *targets = NULL, *ds = NULL;
    unsigned char *bad_inputs = NULL, *bad_targets = NULL;
    /* traces 0: not SEG-Y (a SEG-Y section has at least one trace) */
    fm_segy_shape input_shape = {0, 0}, target_shape = {0, 0};
    fm_status status = read_one(path, opts ? opts->inputs : NULL, NULL, 0, policy, shard, &input_shape, &inputs,
                                &bad_inputs, err);
    if (status == FM_OK)
        status = read_one(target_path, NULL, NULL, 1, policy, &target_shard, &target_shape, &targets, &bad_targets,
                          err);
    /* Both files are cut alike only when both are read the same way. */
    if (status == FM_OK && shard->count > 1 && shard->kind != target_shard.kind)
        status = fm_fail(err, FM_ERR_ARG,
                         "%s and %s: with several processes, inputs and targets must both be tables (CSV, NPY, "
                         "IDX), both NetCDF grids or both SEG-Y",
                         path, target_path);
    /* Equal row counts are not enough for two sections: rows are paired by
     * their place in the file, which is the same sample of the same trace
     * only when both sections have the same traces x samples. */
    if (status == FM_OK && input_shape.traces && target_shape.traces &&
        (input_shape.traces != target_shape.traces || input_shape.samples != target_shape.samples))
        status = fm_fail(err, FM_ERR_FORMAT,
                         "%s has %zu traces x %d samples but %s has %zu traces x %d samples: SEG-Y targets must "
                         "have the geometry of the inputs, trace for trace and sample for sample",
                         path, input_shape.traces, input_shape.samples, target_path, target_shape.traces,
                         target_shape.samples);
    if (status == FM_OK && inputs->rows != targets->rows)
        status = fm_fail(err, FM_ERR_FORMAT, "%s has %zu rows but %s has %zu: they must match row for row",
                         path, inputs->rows, target_path, targets->rows);
    size_t kept = 0;
    if (status == FM_OK) {
        for (size_t i = 0; i < inputs->rows; i++)
            kept += !(skip && is_bad(bad_inputs, bad_targets, i));
        if (kept == 0)
            status = fm_fail(err, FM_ERR_FORMAT, "%s and %s: no rows left after skipping bad rows", path,
                             target_path);
    }
    if (status == FM_OK)
        status = fm_dataset_alloc(kept, inputs->n_in, targets->n_in, &ds, err);
    if (status == FM_OK && !alloc_grid_fields(inputs, ds)) {
        fm_dataset_free(ds);
        ds = NULL;
        status = fm_fail(err, FM_ERR_NOMEM, "out of memory for %zu rows", kept);
    }
    if (status == FM_OK) {
        size_t k = 0;
        for (size_t i = 0; i < inputs->rows; i++) {
            if (skip && is_bad(bad_inputs, bad_targets, i))
                continue;
            if (ds->grid_index)
                ds->grid_index[k] = inputs->grid_index[i];
            if (ds->lon)
                ds->lon[k] = inputs->lon[i];
            memcpy(ds->x + k * (size_t)ds->n_in, inputs->x + i * (size_t)ds->n_in,
                   (size_t)ds->n_in * sizeof *ds->x);
            if (ds->n_out > 0)
                memcpy(ds->y + k * (size_t)ds->n_out, targets->x + i * (size_t)ds->n_out,
                       (size_t)ds->n_out * sizeof *ds->y);
            k++;
        }
        ds->skipped = inputs->rows - kept;
        /* The names move over rather than being copied. */
        ds->in_names = inputs->in_names;
        inputs->in_names = NULL;
        ds->out_names = targets->in_names;
        targets->in_names = NULL;
        *out = ds;
    }
    fm_dataset_free(inputs);
    fm_dataset_free(targets);
    free(bad_inputs);
    free(bad_targets);
    return status;
}

static fm_status read_plain(const char *path, const char *target_path, const fm_read_options *opts,
                            shard_spec *shard, fm_dataset **out, fm_error *err)
{
    if (!target_path) {
        fm_bad_row_policy policy = opts && opts->skip_bad_rows ? FM_BAD_ROWS_SKIP : FM_BAD_ROWS_FAIL;
        return read_one(path, opts ? opts->inputs : NULL, opts ? opts->targets : NULL, 0, policy, shard, NULL, out,
                        NULL, err);
    }
    if (opts && !is_blank_spec(opts->targets))
        return fm_fail(err, FM_ERR_ARG,
                       "targets \"%s\" were chosen in %s, but the targets come from %s; give one or the "
                       "other",
                       opts->targets, path, target_path);
    return read_pair(path, target_path, opts, shard, out, err);
}

/* "PATH#SPLIT:train|test": the base path (malloc'd), the rule and the part
 * (0 train, 1 test); part -1 when the path has no selector or names an
 * existing file as it is. */
static fm_status parse_selector(const char *path, char **base, fm_holdout *holdout, int *part, fm_error *err)
{
    *base = NULL;
    *part = -1;
    const char *hash = strrchr(path, '#');
    if (!hash)
        return FM_OK;
    FILE *f = fopen(path, "rb");
    if (f) {
        fclose(f);
        return FM_OK;
    }
    const char *colon = strrchr(hash, ':');
    if (!colon || (strcmp(colon + 1, "train") != 0 && strcmp(colon + 1, "test") != 0))
        return fm_fail(err, FM_ERR_ARG, "%s: after '#' give SPLIT:train or SPLIT:test, e.g. FILE#lonband:test", path);
    char rule[64];
    size_t len = (size_t)(colon - hash - 1);
    if (len >= sizeof rule)
        return fm_fail(err, FM_ERR_ARG, "%s: unknown split", path);
    memcpy(rule, hash + 1, len);
    rule[len] = '\0';
    fm_status st = fm_holdout_parse(rule, holdout, err);
    if (st != FM_OK)
        return st;
    size_t n = (size_t)(hash - path);
    if (!(*base = malloc(n + 1)))
        return fm_fail(err, FM_ERR_NOMEM, "out of memory");
    memcpy(*base, path, n);
    (*base)[n] = '\0';
    *part = strcmp(colon + 1, "test") == 0;
    return FM_OK;
}

static char *join_raw_names(const fm_encoding *enc)
{
    size_t len = 1;
    for (int i = 0; i < fm_encoding_n_raw(enc); i++)
        len += strlen(fm_encoding_raw_name(enc, i)) + 1;
    char *spec = malloc(len);
    if (!spec)
        return NULL;
    spec[0] = '\0';
    for (int i = 0; i < fm_encoding_n_raw(enc); i++) {
        if (i)
            strcat(spec, ",");
        strcat(spec, fm_encoding_raw_name(enc, i));
    }
    return spec;
}

/* Replace the raw input columns of ds by their encoding. */
static fm_status encode_inputs(fm_dataset *ds, const fm_encoding *enc, const char *path, fm_error *err)
{
    int n_raw = fm_encoding_n_raw(enc), n_out = fm_encoding_n_out(enc);
    if (ds->n_in != n_raw)
        return fm_fail(err, FM_ERR_ARG,
                       "%s: the encoding reads %d columns but the input items select %d; with encodings each item "
                       "must name one column",
                       path, n_raw, ds->n_in);
    size_t count;
    if (!fm_mul_size(ds->rows ? ds->rows : 1, (size_t)n_out, &count))
        return fm_fail(err, FM_ERR_NOMEM, "%s: encoded inputs too large", path);
    float *x = fm_alloc_array(count, sizeof *x);
    char **names = fm_calloc_array((size_t)n_out, sizeof *names);
    char *spec = fm_encoding_format(enc);
    fm_status st = x && names && spec ? FM_OK : fm_fail(err, FM_ERR_NOMEM, "out of memory for encoded inputs");
    for (int j = 0; st == FM_OK && j < n_out; j++)
        if (!(names[j] = fm_strdup(fm_encoding_feature_name(enc, j))))
            st = fm_fail(err, FM_ERR_NOMEM, "out of memory for encoded inputs");
    if (st == FM_OK) {
        st = fm_encoding_apply(enc, ds->x, ds->rows, x, err);
        if (st != FM_OK) {
            char message[sizeof err->message];
            snprintf(message, sizeof message, "%s", err ? err->message : "");
            st = fm_fail(err, st, "%s: %s", path, message);
        }
    }
    if (st != FM_OK) {
        free(x);
        fm_free_names(names, n_out);
        free(spec);
        return st;
    }
    free(ds->x);
    fm_free_names(ds->in_names, ds->n_in);
    free(ds->encoding);
    ds->x = x;
    ds->in_names = names;
    ds->n_in = n_out;
    ds->encoding = spec;
    return FM_OK;
}

/* Keep rows [begin, end) of *ds (a new dataset replaces it). */
static fm_status keep_rows(fm_dataset **ds, size_t begin, size_t end, fm_error *err)
{
    fm_dataset *all = *ds, *part = NULL;
    fm_status st = fm_dataset_alloc(end - begin, all->n_in, all->n_out, &part, err);
    if (st != FM_OK)
        return st;
    if (!fm_copy_names(all->in_names, all->n_in, &part->in_names) ||
        !fm_copy_names(all->out_names, all->n_out, &part->out_names) || !alloc_grid_fields(all, part)) {
        fm_dataset_free(part);
        return fm_fail(err, FM_ERR_NOMEM, "out of memory for a shard of %zu rows", end - begin);
    }
    for (size_t i = begin; i < end; i++)
        copy_row(all, i, part, i - begin);
    part->skipped = all->skipped;
    part->row_offset = begin;
    fm_dataset_free(all);
    *ds = part;
    return FM_OK;
}

/* A directory opens as a file on Linux and reads as nothing or as an
 * absurd size: name it for what it is before any reader sees it. */
static fm_status refuse_directory(const char *path, fm_error *err)
{
    struct stat info;
    if (stat(path, &info) == 0 && S_ISDIR(info.st_mode))
        return fm_fail(err, FM_ERR_IO, "%s is a directory, not a data file", path);
    return FM_OK;
}

fm_status fm_data_read(const char *path, const char *target_path, const fm_read_options *opts,
                       fm_dataset **out, fm_error *err)
{
    if (out)
        *out = NULL;
    if (!path || !out) /* checked here as well, so that the message names the function called */
        return fm_fail(err, FM_ERR_ARG, "fm_data_read: path and out must not be NULL");
    return fm_data_read_shard(path, target_path, opts, 0, 1, out, err);
}

fm_status fm_data_read_shard(const char *path, const char *target_path, const fm_read_options *opts, int shard,
                             int n_shards, fm_dataset **out, fm_error *err)
{
    if (out)
        *out = NULL;
    if (!path || !out)
        return fm_fail(err, FM_ERR_ARG, "fm_data_read_shard: path and out must not be NULL");
    if (!*path)
        return fm_fail(err, FM_ERR_ARG, "the data file name is empty");
    if (n_shards < 1 || shard < 0 || shard >= n_shards)
        return fm_fail(err, FM_ERR_ARG, "fm_data_read_shard: shard %d of %d does not exist", shard, n_shards);
    shard_spec spec = {shard, n_shards, 0, SHARD_ROWS};
    char *base = NULL;
    fm_holdout holdout;
    int part;
    fm_status st = parse_selector(path, &base, &holdout, &part, err);
    if (st != FM_OK)
        return st;
    const char *file = base ? base : path;
    if ((st = refuse_directory(file, err)) != FM_OK || (target_path && (st = refuse_directory(target_path, err)))) {
        free(base);
        return st;
    }
    data_format format = format_of(file);
    fm_read_options plain = opts ? *opts : (fm_read_options){NULL, NULL, 0};
    fm_encoding *enc = NULL;
    char *raw_spec = NULL;
    /* SEG-Y inputs are windows, not columns; elsewhere an encoding spec
     * (anything with a ':' in a CSV or NPY spec, every NetCDF spec) selects
     * the raw columns the encoding reads. */
    if (format != FORMAT_SEGY && plain.inputs && !is_blank_spec(plain.inputs) &&
        (format == FORMAT_NETCDF || strchr(plain.inputs, ':'))) {
        st = fm_encoding_parse(plain.inputs, &enc, err);
        if (st == FM_OK && !(raw_spec = join_raw_names(enc)))
            st = fm_fail(err, FM_ERR_NOMEM, "out of memory");
        if (st == FM_OK)
            plain.inputs = raw_spec;
    }
    if (st == FM_OK)
        st = read_plain(file, target_path, &plain, &spec, out, err);
    if (st != FM_OK && n_shards > 1 && spec.kind == SHARD_ROWS && spec.first_row > 0) {
        char message[sizeof err->message];
        snprintf(message, sizeof message, "%s", err ? err->message : "");
        st = fm_fail(err, st, "%s (row numbers count from file row %zu, where this process's share begins)", message,
                     spec.first_row);
    }
    if (st == FM_OK && enc && !fm_encoding_is_identity(enc))
        st = encode_inputs(*out, enc, file, err);
    /* A grid block's rows (SHARD_GRID) keep row_offset 0: how many valid
     * cells the blocks before it hold is known only to the processes that
     * read them (fm_collective_rows places the shard; fathom train does). */
    if (st == FM_OK && n_shards > 1 && spec.kind == SHARD_ROWS) {
        /* Rows numbered from the file row the block starts at: the numbering
         * of the whole file only when no row before was skipped, which this
         * process cannot know. */
        (*out)->row_offset = spec.first_row;
        if (part >= 0 && !(*out)->grid_index && plain.skip_bad_rows)
            st = fm_fail(err, FM_ERR_ARG,
                         "%s: with several processes, a #SPLIT selector on a table cannot be combined with "
                         "--skip-bad-rows (rows are numbered across the whole file); use --split instead",
                         path);
    }
    if (st == FM_OK && part >= 0) {
        fm_dataset *kept = NULL;
        st = fm_dataset_split_holdout(*out, &holdout, part == 0 ? &kept : NULL, part == 1 ? &kept : NULL, err);
        /* A grid block's part says whose block: other processes may hold
         * rows of it. */
        if (st == FM_OK && kept->rows == 0 && (n_shards == 1 || spec.kind != SHARD_GRID))
            st = fm_fail(err, FM_ERR_ARG, "%s: the %s part of split %s has no rows", path, part ? "test" : "train",
                         path + strlen(file) + 1);
        else if (st == FM_OK && kept->rows == 0)
            st = fm_fail(err, FM_ERR_ARG,
                         "%s: the %s part of split %s has no rows in the block of process %d of %d (use fewer "
                         "processes)",
                         path, part ? "test" : "train", path + strlen(file) + 1, shard, n_shards);
        fm_dataset_free(*out);
        *out = kept;
    }
    if (st == FM_OK && n_shards > 1 && spec.kind == SHARD_CUT) {
        size_t begin, end;
        st = fm_shard_range(path, (*out)->rows, shard, n_shards, &begin, &end, err);
        if (st == FM_OK)
            st = keep_rows(out, begin, end, err);
    }
    if (st != FM_OK) {
        fm_dataset_free(*out);
        *out = NULL;
    }
    fm_encoding_free(enc);
    free(raw_spec);
    free(base);
    return st;
}
