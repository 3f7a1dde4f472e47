/* What the data readers and writers of src/io share; not part of the public API. */
#ifndef FATHOM_IO_INTERNAL_H
#define FATHOM_IO_INTERNAL_H

#include "fathom.h"

#include <stdio.h>

/* Read a whole file into a malloc'd buffer with a NUL byte after its `size`
 * bytes (so that parsers may terminate the last field in place). */
fm_status fm_read_whole_file(const char *path, char **data, size_t *size, fm_error *err);

/* A file written under a temporary name beside the destination and renamed over
 * it only once complete and durable, so that readers never see half a file and a
 * failed write leaves any existing file untouched. The one way the library
 * writes files (model, CSV, NPY). */
typedef struct fm_atomic_file {
    FILE *stream;     /* write here, or through fm_atomic_write */
    char *tmp_path;   /* `path`.tmp.PID.N */
    const char *path; /* borrowed: must outlive the handle */
    int write_errno;  /* errno of the first failed fm_atomic_write, 0 if none */
} fm_atomic_file;

/* Create the temporary file exclusively (O_EXCL) with mode 0666, so that the
 * umask applies as it would to `path` itself (mkstemp would force 0600).
 * FM_ERR_IO naming `path` and the reason when it cannot be created; nothing is
 * left behind then. */
fm_status fm_atomic_open(fm_atomic_file *file, const char *path, fm_error *err);
/* fwrite of `size` bytes that remembers the errno of the first failure, so that
 * fm_atomic_commit can say why; 1 when everything was written. */
int fm_atomic_write(fm_atomic_file *file, const void *data, size_t size);
/* Flush, fsync, close, rename into place and fsync the directory (so that the
 * rename survives a crash too). Any failure of the writes before, of the flush,
 * the close or the rename is FM_ERR_IO naming `path` and the reason, and the
 * temporary file is removed. The handle is closed either way. */
fm_status fm_atomic_commit(fm_atomic_file *file, fm_error *err);
/* Close and remove the temporary file (after a failure of the caller's own). */
void fm_atomic_abort(fm_atomic_file *file);

/* What a reader does with a row that holds a missing, non-numeric or
 * non-finite value in a selected column, or the wrong number of fields. */
typedef enum fm_bad_row_policy {
    FM_BAD_ROWS_FAIL = 0, /* stop with FM_ERR_FORMAT naming the place */
    FM_BAD_ROWS_SKIP,     /* leave the row out and count it in `skipped` */
    /* keep every row (bad ones hold unspecified values) and flag the bad ones,
     * so that two files read side by side can drop the same rows */
    FM_BAD_ROWS_MARK
} fm_bad_row_policy;

/* fm_csv_read with an explicit policy. With FM_BAD_ROWS_MARK, *bad_rows
 * receives a malloc'd flag per row (1 = bad) and `skipped` counts them;
 * otherwise bad_rows may be NULL and is set to NULL. */
fm_status fm_csv_read_rows(const char *path, const fm_read_options *opts, fm_bad_row_policy policy,
                           fm_dataset **out, unsigned char **bad_rows, fm_error *err);

/* An NPY file as a float32 matrix [rows][cols] without the finiteness check,
 * which the callers do on the columns they keep. */
fm_status fm_npy_load(const char *path, float **data, size_t *rows, int *cols, fm_error *err);

/* A dataset of the columns `opts` selects from matrix [rows][cols] (a file
 * without column names): input values are divided by input_divisor (255 for
 * IDX images, 1 otherwise), targets are copied as they are. Non-finite values
 * in a selected column are bad rows, handled by `policy` as fm_csv_read_rows
 * does. Row and column numbers in messages are 0-based. */
fm_status fm_dataset_from_matrix(const char *path, const float *matrix, size_t rows, int cols,
                                 const fm_read_options *opts, float input_divisor, fm_bad_row_policy policy,
                                 fm_dataset **out, unsigned char **bad_rows, fm_error *err);

/* Shards (fm_data_read_shard): the block of rows [*begin, *end) of `total`
 * that shard `shard` of `n_shards` reads, blocks of nearly equal size in
 * order. FM_ERR_ARG when the file has fewer rows than there are shards. */
fm_status fm_shard_range(const char *path, size_t total, int shard, int n_shards, size_t *begin, size_t *end,
                         fm_error *err);
/* fm_npy_load and fm_idx_read_matrix of one shard's block of rows only;
 * *first_row receives the block's first row in the file. */
fm_status fm_npy_load_shard(const char *path, int shard, int n_shards, float **data, size_t *rows, int *cols,
                            size_t *first_row, fm_error *err);
fm_status fm_idx_read_shard(const char *path, int scale, int shard, int n_shards, float **data, size_t *rows,
                            int *cols, size_t *first_row, fm_error *err);
/* fm_csv_read_rows of one shard's block of data lines (records); the whole
 * file is scanned so that quoted fields keep their meaning, but only the
 * block is parsed. */
fm_status fm_csv_read_shard(const char *path, const fm_read_options *opts, fm_bad_row_policy policy, int shard,
                            int n_shards, fm_dataset **out, unsigned char **bad_rows, size_t *first_row,
                            fm_error *err);

/* Give back the room of rows beyond ds->rows (after rows were left out). */
void fm_dataset_shrink(fm_dataset *ds);

/* Malloc'd copies of n names (NULL in, NULL out); 0 on allocation failure. */
int fm_copy_names(char *const *names, int n, char ***out);
void fm_free_names(char **names, int n);

/* Open a NetCDF file read-only (netCDF-C's id in *ncid, -1 on failure) after
 * the checks netCDF-C leaves out (src/io/netcdf_open.c): a classic header's
 * counts and names must fit in the file and in NC_MAX_NAME, every variable's
 * data must lie inside the file, and a netCDF-4 file's names must fit in
 * NC_MAX_NAME, so that callers may read any name into NC_MAX_NAME + 1 bytes.
 * FM_ERR_IO when the file cannot be opened, FM_ERR_FORMAT naming the problem
 * otherwise; nothing stays open on failure. */
fm_status fm_netcdf_open(const char *path, int *ncid, fm_error *err);

/* The values of numeric variable varid over the hyperslab start/count (n
 * cells) as doubles, unpacked (scale_factor, add_offset; _Unsigned integers
 * read as unsigned); valid[i] is cleared (and left as it was otherwise) where
 * the cell is missing: its _FillValue (netCDF's default fill without one), a
 * missing_value, outside valid_min / valid_max / valid_range, or NaN, so that
 * one mask gathers the cells where every variable read is valid
 * (src/io/netcdf_values.c). FM_ERR_FORMAT for a variable that is not numeric,
 * a packing or range attribute that is not one number (two for
 * valid_range), or a read that fails. */
fm_status fm_netcdf_read_values(int ncid, int varid, const char *path, const char *name, const size_t *start,
                                const size_t *count, size_t n, double *values, unsigned char *valid, fm_error *err);
/* 1 when variable varid holds numbers (not text or strings). */
int fm_netcdf_numeric(int ncid, int varid);

/* Time values in `units` ("UNIT since Y-M-D [h:m:s]", UNIT days, hours,
 * minutes or seconds) of a CF calendar ("" or NULL: standard) replaced by
 * their month of the year in [0, 12): 0 at the start of January, 0.5 in the
 * middle of it (src/io/calendar.c). Non-finite values stay. FM_ERR_FORMAT
 * naming `where` for other units or calendars, an impossible reference date,
 * or a time beyond 100,000 years from it. */
fm_status fm_time_to_month(const char *units, const char *calendar_name, double *values, size_t n, const char *where,
                           fm_error *err);

/* NetCDF: one row per valid cell of the `targets` variable(s), inputs the
 * comma-separated names of axes or variables on the same grid (see
 * fm_data_read). Every row gets its grid index and longitude. */
fm_status fm_netcdf_read(const char *path, const char *inputs, const char *targets, fm_dataset **out,
                         fm_error *err);
/* fm_netcdf_read of one shard's block of the grid: the indices of the first
 * target's outermost dimension are cut into n_shards nearly equal contiguous
 * ranges (the first len % n_shards one longer) and shard `shard` reads its
 * range of every grid variable (nc_get_vara hyperslabs), holding only those
 * cells; coordinate axes are read whole. Rows, grid indices (of the whole
 * variable) and longitudes are those of fm_netcdf_read's rows from the block,
 * in the same order, so shards 0..n_shards-1 concatenate to its result. A
 * shard whose range is empty (fewer indices than shards) or holds no valid
 * cell is FM_ERR_ARG naming the process and its range. */
fm_status fm_netcdf_read_shard(const char *path, const char *inputs, const char *targets, int shard, int n_shards,
                               fm_dataset **out, fm_error *err);

/* The geometry of a SEG-Y section. Two sections pair up row for row only
 * when both numbers agree: 10 traces of 60 samples and 12 of 50 have the
 * same 600 rows, but row 60 is sample 0 of trace 1 in one and sample 10 of
 * trace 1 in the other. */
typedef struct fm_segy_shape {
    size_t traces;
    int samples;
} fm_segy_shape;
/* SEG-Y: one row per trace sample (see fm_data_read); grid index
 * trace * n_samples + sample. `targets` must be blank. shape (may be NULL)
 * receives the section's geometry. */
fm_status fm_segy_read(const char *path, const char *inputs, const char *targets, fm_segy_shape *shape,
                       fm_dataset **out, fm_error *err);

#endif
