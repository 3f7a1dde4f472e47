/* Column specs: names, 0-based indices and inclusive ranges, comma separated. */
#include "io/columns.h"

#include "core/internal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Long header lists are cut so that the message still names the problem. */
#define AVAILABLE_LIST_CHARS 240

static int is_blank(const char *s)
{
    if (!s)
        return 1;
    for (; *s; s++)
        if (*s != ' ' && *s != '\t')
            return 0;
    return 1;
}

/* Parse a run of decimal digits [s, end) as a non-negative int; -1 if it is not
 * one or does not fit (so that huge indices read as out of range, not wrapped). */
static long long parse_index(const char *s, const char *end)
{
    if (s == end)
        return -1;
    long long value = 0;
    for (; s < end; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        value = value * 10 + (*s - '0');
        if (value > INT_MAX)
            return (long long)INT_MAX + 1;
    }
    return value;
}

static void list_available(const char *const *names, int n_columns, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n_columns; i++) {
        size_t need = strlen(names[i]) + 4;
        if (used + need > AVAILABLE_LIST_CHARS || used + need >= size) {
            snprintf(buf + used, size - used, "... (%d columns in all)", n_columns);
            return;
        }
        used += (size_t)snprintf(buf + used, size - used, "%s\"%s\"", i ? ", " : "", names[i]);
    }
}

/* Resolve one token to the first and last column it names (a range or one column). */
static fm_status resolve_token(const char *token, size_t len, const char *const *names, int n_columns,
                               const char *role, const char *path, int *first, int *last, fm_error *err)
{
    if (names) {
        for (int i = 0; i < n_columns; i++) {
            if (strlen(names[i]) == len && memcmp(names[i], token, len) == 0) {
                *first = *last = i;
                return FM_OK;
            }
        }
    }
    const char *end = token + len;
    const char *dash = memchr(token, '-', len);
    long long lo = parse_index(token, dash ? dash : end);
    long long hi = dash ? parse_index(dash + 1, end) : lo;
    if (lo < 0 || hi < 0) {
        if (!names)
            return fm_fail(err, FM_ERR_ARG,
                           "%s: %s column \"%.*s\" is not a 0-based index or range such as 0-7 "
                           "(this format has no column names)",
                           path, role, (int)len, token);
        char available[AVAILABLE_LIST_CHARS + 64];
        list_available(names, n_columns, available, sizeof available);
        return fm_fail(err, FM_ERR_ARG, "%s: unknown %s column \"%.*s\"; available: %s", path, role, (int)len,
                       token, available);
    }
    if (lo > hi)
        return fm_fail(err, FM_ERR_ARG, "%s: %s column range \"%.*s\" runs backwards", path, role, (int)len,
                       token);
    if (hi >= n_columns)
        return fm_fail(err, FM_ERR_ARG,
                       "%s: %s column \"%.*s\" is out of range: the file has %d columns (0-%d)", path, role,
                       (int)len, token, n_columns, n_columns - 1);
    *first = (int)lo;
    *last = (int)hi;
    return FM_OK;
}

static void describe_column(const char *const *names, int index, char *buf, size_t size)
{
    if (names)
        snprintf(buf, size, "\"%s\"", names[index]);
    else
        snprintf(buf, size, "%d", index);
}

fm_status fm_columns_parse(const char *spec, const char *const *names, int n_columns, const char *role,
                           const char *path, int **indices, int *count, fm_error *err)
{
    *indices = NULL;
    *count = 0;
    if (is_blank(spec))
        return FM_OK;

    /* Each column can appear at most once, so n_columns bounds the list and a
     * flag per column finds repeats. */
    int *list = fm_alloc_array((size_t)n_columns, sizeof *list);
    unsigned char *seen = fm_calloc_array((size_t)n_columns, 1);
    if (!list || !seen) {
        free(list);
        free(seen);
        return fm_fail(err, FM_ERR_NOMEM, "%s: out of memory for the column list", path);
    }

    fm_status status = FM_OK;
    int n = 0;
    const char *p = spec;
    for (;;) {
        const char *stop = strchr(p, ',');
        const char *end = stop ? stop : p + strlen(p);
        const char *start = p;
        while (start < end && (*start == ' ' || *start == '\t'))
            start++;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        if (start == end) {
            status =
                fm_fail(err, FM_ERR_ARG, "%s: empty entry in the %s column list \"%s\"", path, role, spec);
            break;
        }
        int first = 0, last = -1;
        status =
            resolve_token(start, (size_t)(end - start), names, n_columns, role, path, &first, &last, err);
        if (status != FM_OK)
            break;
        for (int c = first; c <= last; c++) {
            if (seen[c]) {
                char what[300];
                describe_column(names, c, what, sizeof what);
                status = fm_fail(err, FM_ERR_ARG, "%s: %s column %s is listed twice", path, role, what);
                break;
            }
            seen[c] = 1;
            list[n++] = c;
        }
        if (status != FM_OK || !stop)
            break;
        p = stop + 1;
    }
    free(seen);
    if (status != FM_OK) {
        free(list);
        return status;
    }
    *indices = list;
    *count = n;
    return FM_OK;
}

void fm_column_selection_free(fm_column_selection *sel)
{
    if (!sel)
        return;
    free(sel->in);
    free(sel->out);
    sel->in = sel->out = NULL;
    sel->n_in = sel->n_out = 0;
}

fm_status fm_columns_select(const char *inputs, const char *targets, const char *const *names, int n_columns,
                            const char *path, fm_column_selection *sel, fm_error *err)
{
    memset(sel, 0, sizeof *sel);
    if (n_columns <= 0)
        return fm_fail(err, FM_ERR_FORMAT, "%s: the file has no columns", path);

    fm_status status =
        fm_columns_parse(targets, names, n_columns, "target", path, &sel->out, &sel->n_out, err);
    if (status != FM_OK)
        return status;

    unsigned char *is_target = fm_calloc_array((size_t)n_columns, 1);
    if (!is_target) {
        fm_column_selection_free(sel);
        return fm_fail(err, FM_ERR_NOMEM, "%s: out of memory for the column list", path);
    }
    for (int i = 0; i < sel->n_out; i++)
        is_target[sel->out[i]] = 1;

    if (is_blank(inputs)) {
        sel->in = fm_alloc_array((size_t)n_columns, sizeof *sel->in);
        if (!sel->in) {
            status = fm_fail(err, FM_ERR_NOMEM, "%s: out of memory for the column list", path);
        } else {
            for (int c = 0; c < n_columns; c++)
                if (!is_target[c])
                    sel->in[sel->n_in++] = c;
            if (sel->n_in == 0)
                status =
                    fm_fail(err, FM_ERR_ARG, "%s: no input columns left: every column is a target", path);
        }
    } else {
        status = fm_columns_parse(inputs, names, n_columns, "input", path, &sel->in, &sel->n_in, err);
        for (int i = 0; status == FM_OK && i < sel->n_in; i++) {
            if (is_target[sel->in[i]]) {
                char what[300];
                describe_column(names, sel->in[i], what, sizeof what);
                status = fm_fail(err, FM_ERR_ARG, "%s: column %s is both an input and a target", path, what);
            }
        }
    }
    free(is_target);
    if (status != FM_OK)
        fm_column_selection_free(sel);
    return status;
}
