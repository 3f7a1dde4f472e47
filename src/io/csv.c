/* CSV with a header line: the file is read whole, then tokenised in place
 * (quotes unescaped over themselves, fields NUL-terminated where their
 * delimiter was), and only the selected columns are parsed. */
#include "io/columns.h"
#include "io/io_internal.h"

#include "core/internal.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Doubles at or above this round to infinity as floats (FLT_MAX plus half
 * its ulp; the tie rounds to even, which is infinity). Compared before the
 * conversion, which C leaves undefined out of range. */
#define FLOAT_OVERFLOW_LIMIT ((double)FLT_MAX + 0x1p103)

/* Longest piece of a bad value quoted in a message. */
#define QUOTED_VALUE_CHARS 40

typedef struct csv_field {
    char *text; /* NUL-terminated, unquoted, unescaped */
    size_t len; /* may be less than strlen: an embedded NUL makes a bad number */
} csv_field;

typedef struct csv_cursor {
    const char *path;
    char *p;     /* start of the next row */
    char *end;   /* end of the content (trailing blank lines dropped) */
    size_t line; /* 1-based line number of p */
} csv_cursor;

typedef enum row_result {
    ROW_OK,
    ROW_BAD,  /* reported in the row's message; skippable */
    ROW_FATAL /* the rest of the file cannot be split into rows */
} row_result;

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* Number of fields of the row at p, by the rules of split_row (quotes count
 * only at the start of a field), without changing the text. */
static size_t count_fields(const char *p, const char *end)
{
    size_t n = 1;
    for (;;) {
        while (p < end && is_space(*p))
            p++;
        if (p < end && *p == '"') {
            for (p++; p < end; p++) {
                if (*p == '"') {
                    if (p + 1 < end && p[1] == '"') {
                        p++;
                        continue;
                    }
                    p++;
                    break;
                }
            }
        }
        while (p < end && *p != ',' && *p != '\n')
            p++;
        if (p >= end || *p == '\n')
            return n;
        n++;
        p++;
    }
}

/* Split the row at the cursor into fields, storing the first `capacity` of
 * them and counting all in *n_fields; the cursor moves past the row. Leading
 * and trailing blanks of unquoted fields are dropped, and a CR before the LF. */
static row_result split_row(csv_cursor *c, csv_field *fields, size_t capacity, size_t *n_fields,
                            fm_error *err)
{
    size_t n = 0;
    char *p = c->p;
    char *end = c->end;
    for (;;) {
        while (p < end && is_space(*p))
            p++;
        char *text = p;
        size_t len;
        if (p < end && *p == '"') {
            size_t quote_line = c->line;
            char *read = p + 1;
            char *write = p;
            int closed = 0;
            while (read < end) {
                if (*read == '"') {
                    if (read + 1 < end && read[1] == '"') {
                        *write++ = '"';
                        read += 2;
                        continue;
                    }
                    read++;
                    closed = 1;
                    break;
                }
                if (*read == '\n')
                    c->line++;
                *write++ = *read++;
            }
            if (!closed) {
                fm_fail(err, FM_ERR_FORMAT, "%s:%zu: a quoted field is never closed", c->path, quote_line);
                return ROW_FATAL;
            }
            len = (size_t)(write - text);
            while (read < end && (is_space(*read) || *read == '\r'))
                read++;
            if (read < end && *read != ',' && *read != '\n') {
                fm_fail(err, FM_ERR_FORMAT, "%s:%zu: unexpected text after a closing quote", c->path,
                        c->line);
                char *newline = memchr(read, '\n', (size_t)(end - read));
                c->p = newline ? newline + 1 : end;
                c->line++;
                return ROW_BAD;
            }
            p = read;
        } else {
            while (p < end && *p != ',' && *p != '\n')
                p++;
            char *stop = p;
            while (stop > text && (is_space(stop[-1]) || stop[-1] == '\r'))
                stop--;
            len = (size_t)(stop - text);
        }
        char delimiter = p < end ? *p : '\n';
        text[len] = '\0'; /* at or before the delimiter, which is saved */
        if (n < capacity) {
            fields[n].text = text;
            fields[n].len = len;
        }
        n++;
        if (p < end)
            p++;
        if (delimiter == '\n')
            break;
    }
    c->p = p;
    c->line++;
    *n_fields = n;
    return ROW_OK;
}

/* Powers of ten that doubles hold exactly. */
static const double exact_powers_of_ten[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                             1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                             1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* strtod dominates reading a large CSV. Clinger's fast path gives the same
 * correctly rounded double for the common case -- at most 2^53 as digits
 * and a power of ten that is exact -- with one multiplication or division.
 * Returns 0 (leaving the text to strtod) for anything else, including text
 * that is not a number, so that strtod remains the one judge of errors. */
static int parse_plain_decimal(const char *text, size_t len, double *out)
{
    const char *p = text;
    const char *end = text + len;
    int negative = 0;
    if (p < end && (*p == '+' || *p == '-'))
        negative = *p++ == '-';
    uint64_t mantissa = 0;
    int significant = 0, exponent = 0, digits = 0;
    for (int in_fraction = 0;; p++) {
        if (p < end && *p == '.' && !in_fraction) {
            in_fraction = 1;
            continue;
        }
        if (p >= end || *p < '0' || *p > '9')
            break;
        digits++;
        if (mantissa == 0 && *p == '0') {
            exponent -= in_fraction;
            continue;
        }
        if (++significant > 19)
            return 0;
        mantissa = mantissa * 10 + (uint64_t)(*p - '0');
        exponent -= in_fraction;
    }
    if (digits == 0)
        return 0;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        int exponent_negative = 0;
        if (p < end && (*p == '+' || *p == '-'))
            exponent_negative = *p++ == '-';
        if (p >= end || *p < '0' || *p > '9')
            return 0;
        int written = 0;
        for (; p < end && *p >= '0' && *p <= '9'; p++)
            if (written < 100000)
                written = written * 10 + (*p - '0');
        exponent += exponent_negative ? -written : written;
    }
    while (p < end && is_space(*p))
        p++;
    if (p != end)
        return 0;
    if (mantissa == 0) {
        *out = negative ? -0.0 : 0.0;
        return 1;
    }
    if (mantissa > (UINT64_C(1) << 53) || exponent < -22 || exponent > 22)
        return 0;
    double value = (double)mantissa;
    value = exponent < 0 ? value / exact_powers_of_ten[-exponent] : value * exact_powers_of_ten[exponent];
    *out = negative ? -value : value;
    return 1;
}

static row_result parse_value(const csv_field *field, float *dest, const csv_cursor *c, size_t line,
                              const char *column, fm_error *err)
{
    if (field->len == 0) {
        fm_fail(err, FM_ERR_FORMAT, "%s:%zu: column \"%s\": missing value", c->path, line, column);
        return ROW_BAD;
    }
    const char *text = field->text;
    double quick;
    if (parse_plain_decimal(text, field->len, &quick)) {
        /* At most 2^53 x 10^22 < 9.1e37, inside the float range. */
        *dest = (float)quick;
        return ROW_OK;
    }
    const char *text_end = text + field->len;
    char *stop;
    errno = 0;
    double value = strtod(text, &stop);
    int range_error = errno == ERANGE;
    const char *rest = stop;
    while (rest < text_end && is_space(*rest))
        rest++;
    const char *problem = NULL;
    if (strlen(text) != field->len)
        problem = "holds a NUL byte";
    else if (stop == text || rest != text_end)
        problem = "is not a number"; /* hexadecimal floats (0x1p-3) are numbers: exact values */
    else if (isnan(value) || (isinf(value) && !range_error))
        problem = "is not a finite number";
    else if (fabs(value) >= FLOAT_OVERFLOW_LIMIT)
        problem = "is out of the float range";
    if (problem) {
        fm_fail(err, FM_ERR_FORMAT, "%s:%zu: column \"%s\": \"%.*s%s\" %s", c->path, line, column,
                QUOTED_VALUE_CHARS, text, field->len > QUOTED_VALUE_CHARS ? "..." : "", problem);
        return ROW_BAD;
    }
    *dest = (float)value;
    return ROW_OK;
}

/* Valid UTF-8 without NUL or other control characters (tabs allowed). */
static int header_name_is_text(const csv_field *field)
{
    if (strlen(field->text) != field->len || !fm_utf8_valid(field->text))
        return 0;
    for (size_t i = 0; i < field->len; i++) {
        unsigned char ch = (unsigned char)field->text[i];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return 0;
    }
    return 1;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Duplicate names would make selection by name ambiguous. Sorting a copy
 * keeps this O(n log n) for wide files. */
static fm_status check_unique_names(const csv_cursor *c, const char **names, size_t n, fm_error *err)
{
    const char **sorted = fm_alloc_array(n, sizeof *sorted);
    if (!sorted)
        return fm_fail(err, FM_ERR_NOMEM, "%s: out of memory for the header", c->path);
    memcpy(sorted, names, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, compare_names);
    const char *repeated = NULL;
    for (size_t i = 1; i < n && !repeated; i++)
        if (strcmp(sorted[i - 1], sorted[i]) == 0)
            repeated = sorted[i];
    free(sorted);
    if (!repeated)
        return FM_OK;
    size_t first = 0, second = 0;
    while (strcmp(names[first], repeated) != 0)
        first++;
    second = first + 1;
    while (strcmp(names[second], repeated) != 0)
        second++;
    return fm_fail(err, FM_ERR_FORMAT, "%s:1: column name \"%s\" appears twice (0-based columns %zu and %zu)",
                   c->path, repeated, first, second);
}

static int copy_selected_names(const char **names, const int *indices, int n, char ***out)
{
    *out = NULL;
    if (n == 0)
        return 1;
    char **copy = fm_calloc_array((size_t)n, sizeof *copy);
    if (!copy)
        return 0;
    for (int i = 0; i < n; i++) {
        copy[i] = fm_strdup(names[indices[i]]);
        if (!copy[i]) {
            fm_free_names(copy, n);
            return 0;
        }
    }
    *out = copy;
    return 1;
}

/* Everything one read owns, released in one place. */
typedef struct csv_read {
    char *buffer;
    const char **names;
    csv_field *fields;
    fm_column_selection sel;
    fm_dataset *ds;
    unsigned char *bad;
} csv_read;

static void csv_read_release(csv_read *r)
{
    free(r->buffer);
    free(r->names);
    free(r->fields);
    fm_column_selection_free(&r->sel);
    fm_dataset_free(r->ds);
    free(r->bad);
}

static fm_status parse_rows(csv_read *r, csv_cursor *c, size_t n_columns, fm_bad_row_policy policy, size_t begin,
                            size_t end, fm_error *err)
{
    size_t record = 0;
    fm_dataset *ds = r->ds;
    size_t capacity = ds->rows;
    size_t rows = 0;
    size_t skipped = 0;
    fm_error row_err = {FM_OK, ""};
    fm_error first_bad = {FM_OK, ""};
    while (c->p < c->end) {
        size_t line = c->line;
        size_t n_fields = 0;
        row_result result = split_row(c, r->fields, n_columns, &n_fields, &row_err);
        if (result == ROW_FATAL)
            return fm_fail(err, row_err.status, "%s", row_err.message);
        /* Another shard's record: scanned past, not parsed. */
        if (record++ < begin || record > end)
            continue;
        if (result == ROW_OK && n_fields != n_columns) {
            fm_fail(&row_err, FM_ERR_FORMAT, "%s:%zu: expected %zu fields, found %zu", c->path, line,
                    n_columns, n_fields);
            result = ROW_BAD;
        }
        if (rows >= capacity) /* cannot happen: every row ends a line; kept as a guard */
            return fm_fail(err, FM_ERR_FORMAT, "%s:%zu: more rows than lines", c->path, line);
        float *x = ds->x + rows * (size_t)ds->n_in;
        float *y = ds->y ? ds->y + rows * (size_t)ds->n_out : NULL;
        for (int j = 0; result == ROW_OK && j < r->sel.n_in; j++)
            result = parse_value(&r->fields[r->sel.in[j]], &x[j], c, line, r->names[r->sel.in[j]], &row_err);
        for (int j = 0; result == ROW_OK && j < r->sel.n_out; j++)
            result =
                parse_value(&r->fields[r->sel.out[j]], &y[j], c, line, r->names[r->sel.out[j]], &row_err);
        if (result == ROW_OK) {
            rows++;
            continue;
        }
        if (policy == FM_BAD_ROWS_FAIL)
            return fm_fail(err, row_err.status, "%s", row_err.message);
        if (skipped++ == 0)
            first_bad = row_err;
        if (policy == FM_BAD_ROWS_MARK)
            r->bad[rows++] = 1;
    }
    if (rows == 0 && skipped == 0)
        return fm_fail(err, FM_ERR_FORMAT, "%s: no data rows after the header line", c->path);
    if (rows == 0)
        return fm_fail(err, FM_ERR_FORMAT, "%s: all %zu data rows are bad; the first: %s", c->path, skipped,
                       first_bad.message);
    ds->rows = rows;
    ds->skipped = skipped;
    return FM_OK;
}

fm_status fm_csv_read_rows(const char *path, const fm_read_options *opts, fm_bad_row_policy policy,
                           fm_dataset **out, unsigned char **bad_rows, fm_error *err)
{
    size_t first_row;
    return fm_csv_read_shard(path, opts, policy, 0, 1, out, bad_rows, &first_row, err);
}

/* Records (data rows) after the header by the rules of split_row, without
 * changing the text (split_row unquotes in place, so the rows must be split
 * only once): a line break inside quotes does not end a record, text after a
 * closing quote makes the rest of the line one bad record. */
static fm_status count_records(const csv_cursor *c, size_t *records, fm_error *err)
{
    const char *p = c->p, *end = c->end;
    size_t n = 0, line = c->line;
    while (p < end) {
        for (;;) { /* one field per turn */
            while (p < end && is_space(*p))
                p++;
            if (p < end && *p == '"') {
                size_t quote_line = line;
                int closed = 0;
                for (p++; p < end; p++) {
                    if (*p == '"') {
                        if (p + 1 < end && p[1] == '"') {
                            p++;
                            continue;
                        }
                        p++;
                        closed = 1;
                        break;
                    }
                    if (*p == '\n')
                        line++;
                }
                if (!closed)
                    return fm_fail(err, FM_ERR_FORMAT, "%s:%zu: a quoted field is never closed", c->path, quote_line);
                while (p < end && (is_space(*p) || *p == '\r'))
                    p++;
                if (p < end && *p != ',' && *p != '\n') {
                    const char *newline = memchr(p, '\n', (size_t)(end - p));
                    p = newline ? newline : end;
                }
            } else {
                while (p < end && *p != ',' && *p != '\n')
                    p++;
            }
            char delimiter = p < end ? *p : '\n';
            if (p < end)
                p++;
            if (delimiter == '\n')
                break;
        }
        line++;
        n++;
    }
    *records = n;
    return FM_OK;
}

fm_status fm_csv_read_shard(const char *path, const fm_read_options *opts, fm_bad_row_policy policy, int shard,
                            int n_shards, fm_dataset **out, unsigned char **bad_rows, size_t *first_row,
                            fm_error *err)
{
    *first_row = 0;
    if (out)
        *out = NULL;
    if (bad_rows)
        *bad_rows = NULL;
    if (!path || !out || (policy == FM_BAD_ROWS_MARK && !bad_rows))
        return fm_fail(err, FM_ERR_ARG, "fm_csv_read: path and out must not be NULL");

    csv_read r = {0};
    size_t size;
    fm_status status = fm_read_whole_file(path, &r.buffer, &size, err);
    if (status != FM_OK)
        return status;

    csv_cursor c = {path, r.buffer, r.buffer + size, 1};
    if (size >= 3 && memcmp(c.p, "\xEF\xBB\xBF", 3) == 0)
        c.p += 3;
    while (c.end > c.p && (c.end[-1] == '\n' || c.end[-1] == '\r' || is_space(c.end[-1])))
        c.end--;
    if (c.p == c.end) {
        csv_read_release(&r);
        return fm_fail(err, FM_ERR_FORMAT, "%s: the file is empty; expected a header line", path);
    }

    size_t n_columns = count_fields(c.p, c.end);
    if (n_columns > (size_t)FM_MAX_WIDTH * 2) {
        csv_read_release(&r);
        return fm_fail(err, FM_ERR_FORMAT, "%s:1: %zu columns is more than fathom accepts", path, n_columns);
    }
    r.names = fm_alloc_array(n_columns, sizeof *r.names);
    r.fields = fm_alloc_array(n_columns, sizeof *r.fields);
    if (!r.names || !r.fields) {
        csv_read_release(&r);
        return fm_fail(err, FM_ERR_NOMEM, "%s: out of memory for %zu columns", path, n_columns);
    }
    size_t n_header = 0;
    fm_error header_err = {FM_OK, ""};
    if (split_row(&c, r.fields, n_columns, &n_header, &header_err) != ROW_OK) {
        csv_read_release(&r);
        return fm_fail(err, FM_ERR_FORMAT, "%s (in the header)", header_err.message);
    }
    for (size_t i = 0; i < n_columns; i++) {
        r.names[i] = r.fields[i].text;
        /* A binary file read as CSV makes a "header" of garbage: say what it
         * is rather than quote the bytes back as column names. */
        if (!header_name_is_text(&r.fields[i])) {
            csv_read_release(&r);
            return fm_fail(err, FM_ERR_FORMAT,
                           "%s:1: the name of column %zu is not text (not UTF-8, or control characters): is this a "
                           "CSV file?",
                           path, i + 1);
        }
    }
    if (n_columns == 1 && r.fields[0].len == 0) {
        csv_read_release(&r);
        return fm_fail(err, FM_ERR_FORMAT, "%s:1: the header line is empty", path);
    }
    status = check_unique_names(&c, r.names, n_columns, err);
    if (status == FM_OK)
        status = fm_columns_select(opts ? opts->inputs : NULL, opts ? opts->targets : NULL, r.names,
                                   (int)n_columns, path, &r.sel, err);
    if (status != FM_OK) {
        csv_read_release(&r);
        return status;
    }

    /* Every row ends a line, so lines bound rows (quoted newlines only overcount). */
    size_t max_rows = 1;
    for (const char *q = c.p; (q = memchr(q, '\n', (size_t)(c.end - q))) != NULL; q++)
        max_rows++;
    size_t begin = 0, end = SIZE_MAX;
    if (n_shards > 1) {
        size_t records = 0;
        status = count_records(&c, &records, err);
        if (status == FM_OK)
            status = fm_shard_range(path, records, shard, n_shards, &begin, &end, err);
        if (status != FM_OK) {
            csv_read_release(&r);
            return status;
        }
        max_rows = end - begin;
        *first_row = begin;
    }
    status = fm_dataset_alloc(max_rows, r.sel.n_in, r.sel.n_out, &r.ds, err);
    if (status == FM_OK && policy == FM_BAD_ROWS_MARK && !(r.bad = fm_calloc_array(max_rows, 1)))
        status = fm_fail(err, FM_ERR_NOMEM, "%s: out of memory for %zu rows", path, max_rows);
    if (status == FM_OK)
        status = parse_rows(&r, &c, n_columns, policy, begin, end, err);
    if (status == FM_OK && (!copy_selected_names(r.names, r.sel.in, r.sel.n_in, &r.ds->in_names) ||
                            !copy_selected_names(r.names, r.sel.out, r.sel.n_out, &r.ds->out_names)))
        status = fm_fail(err, FM_ERR_NOMEM, "%s: out of memory for the column names", path);
    if (status != FM_OK) {
        csv_read_release(&r);
        return status;
    }
    fm_dataset_shrink(r.ds);
    *out = r.ds;
    if (bad_rows)
        *bad_rows = r.bad;
    r.ds = NULL;
    r.bad = NULL;
    csv_read_release(&r);
    return FM_OK;
}

fm_status fm_csv_read(const char *path, const fm_read_options *opts, fm_dataset **out, fm_error *err)
{
    fm_bad_row_policy policy = opts && opts->skip_bad_rows ? FM_BAD_ROWS_SKIP : FM_BAD_ROWS_FAIL;
    return fm_csv_read_rows(path, opts, policy, out, NULL, err);
}

/* Quote a field only when a reader would otherwise split or trim it. */
static void write_csv_text(FILE *f, const char *text)
{
    size_t len = strlen(text);
    int needs_quotes =
        len == 0 || is_space(text[0]) || is_space(text[len - 1]) || strpbrk(text, ",\"\r\n") != NULL;
    if (!needs_quotes) {
        fputs(text, f);
        return;
    }
    fputc('"', f);
    for (const char *p = text; *p; p++) {
        if (*p == '"')
            fputc('"', f);
        fputc(*p, f);
    }
    fputc('"', f);
}

fm_status fm_csv_write(const char *path, const float *data, size_t rows, int cols, char *const *names,
                       fm_error *err)
{
    if (!path || cols <= 0 || (rows > 0 && !data))
        return fm_fail(err, FM_ERR_ARG, "fm_csv_write: need a path, cols > 0 and data for %zu rows", rows);
    fm_atomic_file file;
    fm_status status = fm_atomic_open(&file, path, err);
    if (status != FM_OK)
        return status;
    FILE *f = file.stream;
    for (int j = 0; j < cols; j++) {
        if (j)
            fputc(',', f);
        if (names && names[j]) {
            write_csv_text(f, names[j]);
        } else {
            /* Readers need a header; unnamed columns get their index. */
            fprintf(f, "c%d", j);
        }
    }
    fputc('\n', f);
    /* %.9g: nine significant digits bring every float back bit for bit. */
    for (size_t i = 0; i < rows && !ferror(f); i++) {
        const float *row = data + i * (size_t)cols;
        for (int j = 0; j < cols; j++)
            fprintf(f, j ? ",%.9g" : "%.9g", (double)row[j]);
        fputc('\n', f);
    }
    return fm_atomic_commit(&file, err);
}
