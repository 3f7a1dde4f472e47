/* NPY, NumPy's array file: versions 1.0 to 3.0, C order, little-endian
 * numbers. The header is a Python dict literal, parsed here by a small
 * recursive-descent reader that accepts only what numpy writes. */
#include "io/io_internal.h"

#include "core/internal.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The data bytes are used as they lie in memory. */
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "fathom's NPY reader and writer assume a little-endian host"
#endif

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
/* numpy's own headers are a few hundred bytes; this only bounds a bad length. */
#define NPY_MAX_HEADER_LEN (1u << 20)
#define NPY_MAX_DIMS 32
/* Doubles at or above this become infinite as floats (see csv.c). */
#define FLOAT_OVERFLOW_LIMIT ((double)FLT_MAX + 0x1p103)
/* Elements converted per fread for the types that need converting. */
#define CONVERT_CHUNK 65536

typedef enum npy_kind { NPY_F4, NPY_F8, NPY_U1, NPY_I4, NPY_I8 } npy_kind;

typedef struct npy_dtype {
    const char *descr;
    npy_kind kind;
    size_t size;
} npy_dtype;

static const npy_dtype supported_dtypes[] = {
    {"<f4", NPY_F4, 4}, {"<f8", NPY_F8, 8}, {"|u1", NPY_U1, 1},
    {"<u1", NPY_U1, 1}, {"<i4", NPY_I4, 4}, {"<i8", NPY_I8, 8},
};

typedef struct npy_header {
    char descr[64];
    int has_descr, has_fortran, has_shape;
    int fortran_order;
    int ndim;
    uint64_t shape[NPY_MAX_DIMS];
} npy_header;

typedef struct header_parser {
    const char *path;
    const char *text; /* NUL-terminated copy of the header */
    const char *p;
    fm_error *err;
} header_parser;

static fm_status syntax_error(header_parser *hp, const char *what)
{
    return fm_fail(hp->err, FM_ERR_FORMAT, "%s: malformed NPY header: %s at offset %d of \"%.120s\"",
                   hp->path, what, (int)(hp->p - hp->text), hp->text);
}

static void skip_blanks(header_parser *hp)
{
    while (*hp->p == ' ' || *hp->p == '\t' || *hp->p == '\n' || *hp->p == '\r')
        hp->p++;
}

static fm_status expect_char(header_parser *hp, char c, const char *what)
{
    skip_blanks(hp);
    if (*hp->p != c)
        return syntax_error(hp, what);
    hp->p++;
    return FM_OK;
}

/* A Python string literal without escapes (numpy writes none in these keys). */
static fm_status parse_string(header_parser *hp, char *buf, size_t size)
{
    skip_blanks(hp);
    char quote = *hp->p;
    if (quote != '\'' && quote != '"')
        return syntax_error(hp, "expected a quoted string");
    const char *start = ++hp->p;
    while (*hp->p && *hp->p != quote && *hp->p != '\\')
        hp->p++;
    if (*hp->p != quote)
        return syntax_error(hp, "unterminated or escaped string");
    size_t len = (size_t)(hp->p - start);
    if (len >= size)
        return syntax_error(hp, "string too long");
    memcpy(buf, start, len);
    buf[len] = '\0';
    hp->p++;
    return FM_OK;
}

static fm_status parse_bool(header_parser *hp, int *value)
{
    skip_blanks(hp);
    if (strncmp(hp->p, "True", 4) == 0) {
        *value = 1;
        hp->p += 4;
    } else if (strncmp(hp->p, "False", 5) == 0) {
        *value = 0;
        hp->p += 5;
    } else {
        return syntax_error(hp, "expected True or False");
    }
    return FM_OK;
}

/* (), (n,), (n, m), ... with an optional trailing comma; Python 2 wrote
 * "3L", so an L suffix is accepted. */
static fm_status parse_shape(header_parser *hp, npy_header *h)
{
    fm_status status = expect_char(hp, '(', "expected '(' to open the shape");
    if (status != FM_OK)
        return status;
    h->ndim = 0;
    for (;;) {
        skip_blanks(hp);
        if (*hp->p == ')') {
            hp->p++;
            return FM_OK;
        }
        if (*hp->p < '0' || *hp->p > '9')
            return syntax_error(hp, "expected a non-negative integer in the shape");
        uint64_t value = 0;
        while (*hp->p >= '0' && *hp->p <= '9') {
            unsigned digit = (unsigned)(*hp->p - '0');
            if (value > (UINT64_MAX - digit) / 10)
                return syntax_error(hp, "shape dimension too large");
            value = value * 10 + digit;
            hp->p++;
        }
        if (*hp->p == 'L')
            hp->p++;
        if (h->ndim == NPY_MAX_DIMS)
            return syntax_error(hp, "too many dimensions");
        h->shape[h->ndim++] = value;
        skip_blanks(hp);
        if (*hp->p == ',')
            hp->p++;
        else if (*hp->p != ')')
            return syntax_error(hp, "expected ',' or ')' in the shape");
    }
}

static fm_status parse_entry(header_parser *hp, npy_header *h)
{
    char key[32];
    fm_status status = parse_string(hp, key, sizeof key);
    if (status == FM_OK)
        status = expect_char(hp, ':', "expected ':' after a key");
    if (status != FM_OK)
        return status;
    int *seen;
    if (strcmp(key, "descr") == 0) {
        skip_blanks(hp);
        if (*hp->p == '[' || *hp->p == '{')
            return fm_fail(hp->err, FM_ERR_FORMAT,
                           "%s: structured dtypes are not supported (descr is a list); store a plain "
                           "2-D float array",
                           hp->path);
        seen = &h->has_descr;
        status = parse_string(hp, h->descr, sizeof h->descr);
    } else if (strcmp(key, "fortran_order") == 0) {
        seen = &h->has_fortran;
        status = parse_bool(hp, &h->fortran_order);
    } else if (strcmp(key, "shape") == 0) {
        seen = &h->has_shape;
        status = parse_shape(hp, h);
    } else {
        return syntax_error(hp, "unknown key (expected 'descr', 'fortran_order' and 'shape')");
    }
    if (status != FM_OK)
        return status;
    if (*seen)
        return syntax_error(hp, "a key appears twice");
    *seen = 1;
    return FM_OK;
}

static fm_status parse_header(const char *path, const char *text, npy_header *h, fm_error *err)
{
    header_parser hp = {path, text, text, err};
    memset(h, 0, sizeof *h);
    fm_status status = expect_char(&hp, '{', "expected '{'");
    for (;;) {
        if (status != FM_OK)
            return status;
        skip_blanks(&hp);
        if (*hp.p == '}')
            break;
        status = parse_entry(&hp, h);
        if (status != FM_OK)
            return status;
        skip_blanks(&hp);
        if (*hp.p == ',')
            hp.p++;
        else if (*hp.p != '}')
            return syntax_error(&hp, "expected ',' or '}'");
    }
    hp.p++;
    skip_blanks(&hp);
    if (*hp.p != '\0')
        return syntax_error(&hp, "unexpected text after the dict");
    if (!h->has_descr || !h->has_fortran || !h->has_shape)
        return fm_fail(err, FM_ERR_FORMAT, "%s: NPY header lacks '%s'", path,
                       !h->has_descr     ? "descr"
                       : !h->has_fortran ? "fortran_order"
                                         : "shape");
    return FM_OK;
}

static void format_shape(const npy_header *h, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "(");
    for (int i = 0; i < h->ndim && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%llu", i ? ", " : "",
                                 (unsigned long long)h->shape[i]);
    if (used < size)
        snprintf(buf + used, size - used, "%s)", h->ndim == 1 ? "," : "");
}

static uint32_t read_le32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* Read the preamble and header dict; leaves the stream at the data. */
static fm_status read_header(FILE *f, const char *path, npy_header *h, long *data_offset, fm_error *err)
{
    unsigned char preamble[12];
    if (fread(preamble, 1, 10, f) != 10 || memcmp(preamble, NPY_MAGIC, NPY_MAGIC_LEN) != 0)
        return fm_fail(err, FM_ERR_FORMAT, "%s: not an NPY file (it does not start with \\x93NUMPY)", path);
    int major = preamble[6], minor = preamble[7];
    if (major < 1 || major > 3 || minor != 0)
        return fm_fail(err, FM_ERR_FORMAT, "%s: NPY version %d.%d is not supported (1.0, 2.0 or 3.0)", path,
                       major, minor);
    size_t header_len;
    long offset;
    if (major == 1) {
        header_len = (size_t)preamble[8] | (size_t)preamble[9] << 8;
        offset = 10;
    } else {
        if (fread(preamble + 10, 1, 2, f) != 2)
            return fm_fail(err, FM_ERR_FORMAT, "%s: truncated NPY preamble", path);
        header_len = read_le32(preamble + 8);
        offset = 12;
    }
    if (header_len == 0 || header_len > NPY_MAX_HEADER_LEN)
        return fm_fail(err, FM_ERR_FORMAT, "%s: implausible NPY header length %zu", path, header_len);
    char *text = malloc(header_len + 1);
    if (!text)
        return fm_fail(err, FM_ERR_NOMEM, "%s: out of memory for the NPY header", path);
    if (fread(text, 1, header_len, f) != header_len) {
        free(text);
        return fm_fail(err, FM_ERR_FORMAT, "%s: truncated NPY header (%zu bytes announced)", path,
                       header_len);
    }
    text[header_len] = '\0';
    fm_status status = FM_OK;
    if (strlen(text) != header_len)
        status = fm_fail(err, FM_ERR_FORMAT, "%s: NPY header holds a NUL byte", path);
    else
        status = parse_header(path, text, h, err);
    free(text);
    *data_offset = offset + (long)header_len;
    return status;
}

static fm_status read_converted(FILE *f, const char *path, const npy_dtype *dtype, float *out, size_t count,
                                fm_error *err)
{
    unsigned char *chunk = malloc(CONVERT_CHUNK * dtype->size);
    if (!chunk)
        return fm_fail(err, FM_ERR_NOMEM, "%s: out of memory", path);
    for (size_t done = 0; done < count;) {
        size_t n = count - done < CONVERT_CHUNK ? count - done : CONVERT_CHUNK;
        if (fread(chunk, dtype->size, n, f) != n) {
            free(chunk);
            return fm_fail(err, FM_ERR_IO, "%s: read error in the data", path);
        }
        for (size_t i = 0; i < n; i++) {
            const unsigned char *b = chunk + i * dtype->size;
            float *dest = &out[done + i];
            switch (dtype->kind) {
            case NPY_F8: {
                double d;
                memcpy(&d, b, sizeof d);
                /* Out of float range becomes infinite, which the finiteness
                 * check then reports; the cast itself would be undefined. */
                *dest = fabs(d) >= FLOAT_OVERFLOW_LIMIT ? (d > 0 ? INFINITY : -INFINITY) : (float)d;
                break;
            }
            case NPY_U1: *dest = (float)b[0]; break;
            case NPY_I4: {
                int32_t v;
                memcpy(&v, b, sizeof v);
                *dest = (float)v;
                break;
            }
            case NPY_I8: {
                int64_t v;
                memcpy(&v, b, sizeof v);
                *dest = (float)v;
                break;
            }
            case NPY_F4: memcpy(dest, b, sizeof *dest); break;
            }
        }
        done += n;
    }
    free(chunk);
    return FM_OK;
}

static int host_is_little_endian(void)
{
    const uint16_t probe = 1;
    return *(const unsigned char *)&probe == 1;
}

fm_status fm_npy_load(const char *path, float **data, size_t *rows, int *cols, fm_error *err)
{
    size_t first_row;
    return fm_npy_load_shard(path, 0, 1, data, rows, cols, &first_row, err);
}

fm_status fm_npy_load_shard(const char *path, int shard, int n_shards, float **data, size_t *rows, int *cols,
                            size_t *first_row, fm_error *err)
{
    *data = NULL;
    *first_row = 0;
    if (!host_is_little_endian())
        return fm_fail(err, FM_ERR_ARG, "%s: NPY needs a little-endian host", path);
    FILE *f = fopen(path, "rb");
    if (!f)
        return fm_fail(err, FM_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    npy_header h;
    long data_offset = 0;
    fm_status status = read_header(f, path, &h, &data_offset, err);
    if (status != FM_OK) {
        fclose(f);
        return status;
    }

    const npy_dtype *dtype = NULL;
    for (size_t i = 0; i < sizeof supported_dtypes / sizeof supported_dtypes[0]; i++)
        if (strcmp(h.descr, supported_dtypes[i].descr) == 0)
            dtype = &supported_dtypes[i];
    char shape_text[128];
    format_shape(&h, shape_text, sizeof shape_text);
    uint64_t width = 1;
    int width_ok = 1;
    for (int d = 1; d < h.ndim; d++) {
        if (h.shape[d] != 0 && width > (uint64_t)INT_MAX / h.shape[d])
            width_ok = 0;
        else
            width *= h.shape[d];
    }
    size_t count = 0, bytes = 0;
    if (!dtype)
        status = fm_fail(err, FM_ERR_FORMAT,
                         "%s: dtype '%s' is not supported (expected '<f4', '<f8', '|u1', '<i4' or '<i8')",
                         path, h.descr);
    else if (h.fortran_order)
        status = fm_fail(err, FM_ERR_FORMAT,
                         "%s: the array is in Fortran order; save it in C order "
                         "(numpy.ascontiguousarray)",
                         path);
    else if (h.ndim == 0)
        status =
            fm_fail(err, FM_ERR_FORMAT, "%s: the array is a scalar (shape ()); expected 1-D or 2-D", path);
    else if (!width_ok || h.shape[0] > SIZE_MAX || !fm_mul_size((size_t)h.shape[0], (size_t)width, &count) ||
             !fm_mul_size(count, dtype->size, &bytes) || bytes > (size_t)LONG_MAX)
        status = fm_fail(err, FM_ERR_FORMAT, "%s: shape %s is too large", path, shape_text);
    else if (count == 0)
        status = fm_fail(err, FM_ERR_FORMAT, "%s: the array is empty (shape %s)", path, shape_text);
    if (status != FM_OK) {
        fclose(f);
        return status;
    }

    /* Compare the size with the shape before allocating, so that a lying
     * header cannot ask for a huge buffer. */
    long file_size = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        file_size = ftell(f);
    if (file_size < 0 || fseek(f, data_offset, SEEK_SET) != 0) {
        fclose(f);
        return fm_fail(err, FM_ERR_IO, "cannot seek in %s: %s", path, strerror(errno));
    }
    long actual = file_size - data_offset;
    if (actual < 0 || (size_t)actual != bytes) {
        fclose(f);
        return fm_fail(err, FM_ERR_FORMAT,
                       "%s: shape %s of '%s' needs %zu data bytes but the file holds %ld (%s)", path,
                       shape_text, h.descr, bytes, actual < 0 ? 0 : actual,
                       actual < 0 || (size_t)actual < bytes ? "truncated" : "extra bytes at the end");
    }

    /* A shard reads its block of rows only: seek to it. */
    size_t begin = 0, end = (size_t)h.shape[0];
    if (n_shards > 1) {
        status = fm_shard_range(path, (size_t)h.shape[0], shard, n_shards, &begin, &end, err);
        long offset = data_offset + (long)(begin * (size_t)width * dtype->size);
        if (status == FM_OK && fseek(f, offset, SEEK_SET) != 0)
            status = fm_fail(err, FM_ERR_IO, "cannot seek in %s: %s", path, strerror(errno));
        if (status != FM_OK) {
            fclose(f);
            return status;
        }
        count = (end - begin) * (size_t)width;
    }
    float *matrix = fm_alloc_array(count, sizeof *matrix);
    if (!matrix) {
        fclose(f);
        return fm_fail(err, FM_ERR_NOMEM, "%s: out of memory for %zu values", path, count);
    }
    if (dtype->kind == NPY_F4) {
        if (fread(matrix, sizeof *matrix, count, f) != count)
            status = fm_fail(err, FM_ERR_IO, "%s: read error in the data", path);
    } else {
        status = read_converted(f, path, dtype, matrix, count, err);
    }
    fclose(f);
    if (status != FM_OK) {
        free(matrix);
        return status;
    }
    *data = matrix;
    *rows = end - begin;
    *cols = (int)width;
    *first_row = begin;
    return FM_OK;
}

fm_status fm_npy_read_matrix(const char *path, float **data, size_t *rows, int *cols, fm_error *err)
{
    if (!path || !data || !rows || !cols)
        return fm_fail(err, FM_ERR_ARG, "fm_npy_read_matrix: arguments must not be NULL");
    fm_status status = fm_npy_load(path, data, rows, cols, err);
    if (status != FM_OK)
        return status;
    size_t count = *rows * (size_t)*cols;
    for (size_t i = 0; i < count; i++) {
        if (!isfinite((*data)[i])) {
            float value = (*data)[i];
            free(*data);
            *data = NULL;
            return fm_fail(err, FM_ERR_FORMAT,
                           "%s: row %zu, column %zu (0-based): value %s is not finite "
                           "(NaN, infinite or beyond the float range)",
                           path, i / (size_t)*cols, i % (size_t)*cols,
                           isnan(value) ? "NaN"
                           : value > 0  ? "inf"
                                        : "-inf");
        }
    }
    return FM_OK;
}

fm_status fm_npy_read(const char *path, const fm_read_options *opts, fm_dataset **out, fm_error *err)
{
    if (out)
        *out = NULL;
    if (!path || !out)
        return fm_fail(err, FM_ERR_ARG, "fm_npy_read: path and out must not be NULL");
    float *matrix;
    size_t rows;
    int cols;
    fm_status status = fm_npy_load(path, &matrix, &rows, &cols, err);
    if (status != FM_OK)
        return status;
    fm_bad_row_policy policy = opts && opts->skip_bad_rows ? FM_BAD_ROWS_SKIP : FM_BAD_ROWS_FAIL;
    status = fm_dataset_from_matrix(path, matrix, rows, cols, opts, 1.0f, policy, out, NULL, err);
    free(matrix);
    return status;
}

fm_status fm_npy_write(const char *path, const float *data, size_t rows, int cols, fm_error *err)
{
    size_t count, bytes;
    if (!path || cols <= 0 || (rows > 0 && !data))
        return fm_fail(err, FM_ERR_ARG, "fm_npy_write: need a path, cols > 0 and data for %zu rows", rows);
    if (!fm_mul_size(rows, (size_t)cols, &count) || !fm_mul_size(count, sizeof *data, &bytes))
        return fm_fail(err, FM_ERR_ARG, "fm_npy_write: %zu x %d values is too many", rows, cols);
    if (!host_is_little_endian())
        return fm_fail(err, FM_ERR_ARG, "%s: NPY needs a little-endian host", path);

    /* Version 1.0, with the header padded so that the data starts at a
     * multiple of 64 bytes and the header ends in a newline, as numpy does. */
    char header[160];
    int len = snprintf(header, sizeof header,
                       "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %d), }", rows, cols);
    size_t total = 10 + (size_t)len + 1;
    size_t padded = (total + 63) / 64 * 64;
    size_t header_len = padded - 10;
    memset(header + len, ' ', header_len - 1 - (size_t)len);
    header[header_len - 1] = '\n';
    unsigned char preamble[10] = {0x93,
                                  'N',
                                  'U',
                                  'M',
                                  'P',
                                  'Y',
                                  1,
                                  0,
                                  (unsigned char)(header_len & 0xff),
                                  (unsigned char)(header_len >> 8)};

    fm_atomic_file file;
    fm_status status = fm_atomic_open(&file, path, err);
    if (status != FM_OK)
        return status;
    /* A failed write is reported, and the temporary file removed, by the commit. */
    if (fm_atomic_write(&file, preamble, sizeof preamble) && fm_atomic_write(&file, header, header_len))
        fm_atomic_write(&file, data, bytes);
    return fm_atomic_commit(&file, err);
}
