/* IDX (the MNIST format), read through zlib so that .gz and plain files are
 * one code path: magic 0x00 0x00 TYPE NDIM, NDIM big-endian int32
 * dimensions, then the values. The first dimension is the rows; the rest are
 * flattened into columns (28x28 images become 784 columns). */
#include "io/io_internal.h"

#include "core/internal.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define IDX_TYPE_UBYTE 0x08
/* The first read is capped so that a header announcing a huge array costs
 * memory only in step with the bytes that really arrive. */
#define FIRST_READ_CAP ((size_t)1 << 20)
/* gzread takes an unsigned int length. */
#define GZREAD_MAX ((size_t)1 << 30)

static const char *idx_type_name(int type)
{
    switch (type) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "short";
    case 0x0C: return "int";
    case 0x0D: return "float";
    case 0x0E: return "double";
    }
    return "unknown";
}

/* zlib's own account of a failure, or `fallback` when it has none. */
static const char *gz_reason(gzFile gz, const char *path, const char *fallback)
{
    int code = Z_OK;
    const char *message = gzerror(gz, &code);
    if (code == Z_OK || !message || !*message)
        return fallback;
    /* zlib puts "path: " in front, which the caller's message already has. */
    size_t len = strlen(path);
    if (strncmp(message, path, len) == 0 && strncmp(message + len, ": ", 2) == 0)
        message += len + 2;
    return message;
}

/* Read up to `want` bytes; returns the count read, or -1 on a zlib error. */
static long long read_fully(gzFile gz, unsigned char *buf, size_t want)
{
    size_t done = 0;
    while (done < want) {
        size_t n = want - done < GZREAD_MAX ? want - done : GZREAD_MAX;
        int got = gzread(gz, buf + done, (unsigned)n);
        if (got < 0)
            return -1;
        if (got == 0)
            break;
        done += (size_t)got;
    }
    return (long long)done;
}

/* The data bytes, in a buffer that grows with what arrives. */
static fm_status read_data(gzFile gz, const char *path, size_t expected, int check_end, unsigned char **out,
                           fm_error *err)
{
    *out = NULL;
    size_t capacity = expected < FIRST_READ_CAP ? expected : FIRST_READ_CAP;
    unsigned char *buf = malloc(capacity);
    if (!buf)
        return fm_fail(err, FM_ERR_NOMEM, "%s: out of memory", path);
    size_t have = 0;
    for (;;) {
        long long got = read_fully(gz, buf + have, capacity - have);
        if (got < 0) {
            free(buf);
            return fm_fail(err, FM_ERR_FORMAT, "%s: cannot decompress: %s", path,
                           gz_reason(gz, path, "read error"));
        }
        have += (size_t)got;
        if (have < capacity || capacity == expected)
            break;
        size_t grown = capacity > expected / 2 ? expected : capacity * 2;
        unsigned char *bigger = realloc(buf, grown);
        if (!bigger) {
            free(buf);
            return fm_fail(err, FM_ERR_NOMEM, "%s: out of memory for %zu bytes", path, grown);
        }
        buf = bigger;
        capacity = grown;
    }
    /* zlib reports a gzip stream cut short only through gzerror. */
    if (have < expected) {
        int code = Z_OK;
        gzerror(gz, &code);
        free(buf);
        if (code != Z_OK)
            return fm_fail(
                err, FM_ERR_FORMAT,
                "%s: truncated: the header announces %zu data bytes but the compressed stream ends "
                "after %zu",
                path, expected, have);
        return fm_fail(err, FM_ERR_FORMAT,
                       "%s: truncated: the header announces %zu data bytes but only %zu follow", path,
                       expected, have);
    }
    unsigned char extra;
    /* A shard that is not the last stops before the end of the data. */
    long long more = check_end ? read_fully(gz, &extra, 1) : 0;
    if (more != 0) {
        free(buf);
        if (more < 0)
            return fm_fail(err, FM_ERR_FORMAT, "%s: cannot decompress: %s", path,
                           gz_reason(gz, path, "read error"));
        return fm_fail(err, FM_ERR_FORMAT, "%s: extra bytes after the %zu data bytes the header announces",
                       path, expected);
    }
    *out = buf;
    return FM_OK;
}

static fm_status read_header(gzFile gz, const char *path, size_t *rows, int *cols, fm_error *err)
{
    unsigned char magic[4];
    long long got = read_fully(gz, magic, sizeof magic);
    if (got < 0)
        return fm_fail(err, FM_ERR_FORMAT, "%s: cannot decompress: %s", path,
                       gz_reason(gz, path, "read error"));
    if (got < 4)
        return fm_fail(err, FM_ERR_FORMAT, "%s: truncated IDX header (%lld bytes)", path, got);
    if (magic[0] != 0 || magic[1] != 0)
        return fm_fail(err, FM_ERR_FORMAT,
                       "%s: not an IDX file (it starts with 0x%02x 0x%02x, expected 0x00 0x00)", path,
                       magic[0], magic[1]);
    int type = magic[2], ndim = magic[3];
    if (type != IDX_TYPE_UBYTE)
        return fm_fail(err, FM_ERR_FORMAT,
                       "%s: IDX type 0x%02X (%s) is not supported; only 0x08 (unsigned byte)", path, type,
                       idx_type_name(type));
    if (ndim == 0)
        return fm_fail(err, FM_ERR_FORMAT, "%s: IDX header has zero dimensions", path);

    /* Zeroed: the analyzer cannot tell that read_fully filled the ndim * 4
     * bytes the check below demands before the loop reads them. */
    unsigned char dims[255 * 4] = {0};
    got = read_fully(gz, dims, (size_t)ndim * 4);
    if (got < 0)
        return fm_fail(err, FM_ERR_FORMAT, "%s: cannot decompress: %s", path,
                       gz_reason(gz, path, "read error"));
    if (got < ndim * 4)
        return fm_fail(err, FM_ERR_FORMAT, "%s: truncated IDX header (%d dimensions announced)", path, ndim);
    uint64_t width = 1;
    size_t n_rows = 0;
    for (int d = 0; d < ndim; d++) {
        const unsigned char *b = dims + 4 * d;
        uint32_t size = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
        if (size > INT32_MAX)
            return fm_fail(err, FM_ERR_FORMAT, "%s: IDX dimension %d is negative", path, d);
        if (size == 0)
            return fm_fail(err, FM_ERR_FORMAT, "%s: IDX dimension %d is zero: no data", path, d);
        if (d == 0) {
            n_rows = size;
        } else {
            width *= size;
            if (width > INT_MAX)
                return fm_fail(err, FM_ERR_FORMAT, "%s: IDX rows of more than %d values are not supported",
                               path, INT_MAX);
        }
    }
    *rows = n_rows;
    *cols = (int)width;
    return FM_OK;
}

fm_status fm_idx_read_matrix(const char *path, int scale, float **data, size_t *rows, int *cols,
                             fm_error *err)
{
    size_t first_row;
    return fm_idx_read_shard(path, scale, 0, 1, data, rows, cols, &first_row, err);
}

fm_status fm_idx_read_shard(const char *path, int scale, int shard, int n_shards, float **data, size_t *rows,
                            int *cols, size_t *first_row, fm_error *err)
{
    if (!path || !data || !rows || !cols || !first_row)
        return fm_fail(err, FM_ERR_ARG, "fm_idx_read_matrix: arguments must not be NULL");
    *data = NULL;
    *first_row = 0;
    errno = 0;
    gzFile gz = gzopen(path, "rb");
    if (!gz) {
        /* zlib leaves errno at 0 when it is out of memory. */
        int open_errno = errno;
        fm_status status = open_errno ? FM_ERR_IO : FM_ERR_NOMEM;
        return fm_fail(err, status, "cannot open %s: %s", path, open_errno ? strerror(open_errno) : "out of memory");
    }
    size_t n_rows = 0;
    int n_cols = 0;
    unsigned char *bytes = NULL;
    fm_status status = read_header(gz, path, &n_rows, &n_cols, err);
    size_t count = 0;
    if (status == FM_OK && !fm_mul_size(n_rows, (size_t)n_cols, &count))
        status = fm_fail(err, FM_ERR_FORMAT, "%s: IDX shape %zu x %d is too large", path, n_rows, n_cols);
    size_t begin = 0, end = n_rows;
    if (status == FM_OK && n_shards > 1) {
        /* gzip streams do not seek: zlib decompresses up to the block and drops it. */
        status = fm_shard_range(path, n_rows, shard, n_shards, &begin, &end, err);
        if (status == FM_OK && begin > 0 && gzseek(gz, (z_off_t)(begin * (size_t)n_cols), SEEK_CUR) < 0)
            status = fm_fail(err, FM_ERR_FORMAT, "%s: cannot skip to row %zu: %s", path, begin,
                             gz_reason(gz, path, "seek error"));
        count = (end - begin) * (size_t)n_cols;
    }
    if (status == FM_OK)
        status = read_data(gz, path, count, end == n_rows, &bytes, err);
    gzclose(gz);
    if (status != FM_OK)
        return status;

    float *matrix = fm_alloc_array(count, sizeof *matrix);
    if (!matrix) {
        free(bytes);
        return fm_fail(err, FM_ERR_NOMEM, "%s: out of memory for %zu values", path, count);
    }
    /* Division rather than multiplication by 1/255 keeps 51 -> 0.2f exact. */
    for (size_t i = 0; i < count; i++)
        matrix[i] = scale ? (float)bytes[i] / 255.0f : (float)bytes[i];
    free(bytes);
    *data = matrix;
    *rows = end - begin;
    *cols = n_cols;
    *first_row = begin;
    return FM_OK;
}
