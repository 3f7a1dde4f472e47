/* Per-column standardisation: x' = (x - mean) / std, fitted on the training data
 * and stored with the model so that prediction applies the same transform. */
#include "core/internal.h"

#include <math.h>
#include <stdlib.h>

/* A constant column has no spread to divide by: it gets std 1, so it is only
 * centred and becomes 0. Usually its std comes out exactly 0, but once the double
 * sum is inexact (beyond ~2^29 rows) the mean misses the value by a rounding
 * error and a std of ~1e-16 relative remains. The threshold of 1e-12 relative to
 * the mean is far above that noise and far below any real variation of float
 * data (distinct floats differ by at least 2^-24 ~ 6e-8 relative); dividing by a
 * noise-level std would blow rounding errors up to values of order 1. */
#define FM_CONSTANT_COLUMN_RATIO 1e-12

static fm_standardizer *standardizer_alloc(int n)
{
    fm_standardizer *s = fm_alloc_array(1, sizeof *s);
    if (!s)
        return NULL;
    s->n = n;
    s->mean = fm_alloc_array((size_t)n, sizeof *s->mean);
    s->std = fm_alloc_array((size_t)n, sizeof *s->std);
    if (!s->mean || !s->std) {
        fm_standardizer_free(s);
        return NULL;
    }
    return s;
}

void fm_standardizer_free(fm_standardizer *s)
{
    if (!s)
        return;
    free(s->mean);
    free(s->std);
    free(s);
}

fm_status fm_standardizer_fit(const float *data, size_t rows, int n, fm_standardizer **out, fm_error *err)
{
    if (out)
        *out = NULL;
    if (!data || !out) /* checked here as well, so that the message names the function called */
        return fm_fail(err, FM_ERR_ARG, "fm_standardizer_fit: data and out must not be NULL");
    return fm_standardizer_fit_collective(data, rows, n, NULL, out, err);
}

/* With several processes the two passes become two sums over processes
 * (column sums and the row count, then squared deviations from the global
 * mean), so the fit is that of the whole data set. Missing data or memory
 * on any process stops every process at an agreement before the sums; a
 * process that finds a non-finite value still takes part in both sums, with
 * zeros, so that none waits for it, and its error comes back to the caller,
 * who agrees on it (fm_collective.agree). */
fm_status fm_standardizer_fit_collective(const float *data, size_t rows, int n, const fm_collective *coll,
                                         fm_standardizer **out, fm_error *err)
{
    if (coll && coll->size <= 1)
        coll = NULL;
    if (!out)
        return fm_fail(err, FM_ERR_ARG, "fm_standardizer_fit_collective: out must not be NULL");
    *out = NULL;
    if (!coll && !data)
        return fm_fail(err, FM_ERR_ARG, "fm_standardizer_fit_collective: data must not be NULL");
    if (n <= 0)
        return fm_fail(err, FM_ERR_ARG, "standardizer fit: %d columns (need at least 1)", n);
    if (!coll && rows == 0)
        return fm_fail(err, FM_ERR_ARG, "standardizer fit: no data rows");

    /* One more slot than columns: the row count travels with the sums. */
    double *sum = fm_calloc_array((size_t)n + 1, sizeof *sum);
    double *sq = fm_calloc_array((size_t)n, sizeof *sq);
    fm_standardizer *s = standardizer_alloc(n);
    /* A process of a collective refuses missing data without returning, so
     * that it still takes part in the agreement below and no other process
     * waits for it; its shard may hold no rows and no data. */
    fm_status status = FM_OK;
    if (rows > 0 && !data)
        status = fm_fail(err, FM_ERR_ARG, "fm_standardizer_fit_collective: data must not be NULL for %zu rows", rows);
    if (!sum || !sq || !s)
        status = fm_fail(err, FM_ERR_NOMEM, "standardizer fit: out of memory for %d columns", n);
    /* Under a collective every process learns here whether all have their
     * buffers: one without them stops the others instead of leaving them
     * waiting in the sums below (tests/test_collective.c fails each
     * allocation in turn). */
    if (coll)
        status = coll->agree(status, err, coll->user);
    if (status != FM_OK)
        goto done;

    /* Two passes (mean, then squared deviations) in double: the one-pass
     * E[x^2] - E[x]^2 cancels catastrophically for columns with a large offset,
     * such as temperatures in kelvin or depths in metres. */
    for (size_t r = 0; status == FM_OK && data && r < rows; r++) {
        const float *row = data + r * (size_t)n;
        for (int j = 0; j < n; j++) {
            if (!isfinite(row[j])) {
                status = fm_fail(err, FM_ERR_NUMERIC, "standardizer fit: column %d has a non-finite value (%g) in row %zu",
                                 j, (double)row[j], r);
                break;
            }
            sum[j] += row[j];
        }
    }
    double total = (double)rows;
    if (coll) {
        if (status != FM_OK)
            for (int j = 0; j <= n; j++)
                sum[j] = 0.0;
        else
            sum[n] = total;
        fm_error sub = {FM_OK, ""};
        fm_status reduced = coll->sum_doubles(sum, (size_t)n + 1, coll->user, &sub);
        if (reduced != FM_OK && status == FM_OK)
            status = fm_fail(err, reduced, "standardizer fit: %s", sub.message);
        total = sum[n];
        if (status == FM_OK && !(total > 0))
            status = fm_fail(err, FM_ERR_ARG, "standardizer fit: no data rows on any process");
    } else if (status != FM_OK) {
        goto done;
    }
    for (int j = 0; j < n; j++)
        sum[j] /= total > 0 ? total : 1.0; /* now the mean */
    for (size_t r = 0; status == FM_OK && r < rows; r++) {
        const float *row = data + r * (size_t)n;
        for (int j = 0; j < n; j++) {
            double d = (double)row[j] - sum[j];
            sq[j] += d * d;
        }
    }
    if (coll) {
        fm_error sub = {FM_OK, ""};
        if (status != FM_OK)
            for (int j = 0; j < n; j++)
                sq[j] = 0.0;
        fm_status reduced = coll->sum_doubles(sq, (size_t)n, coll->user, &sub);
        if (reduced != FM_OK && status == FM_OK)
            status = fm_fail(err, reduced, "standardizer fit: %s", sub.message);
    }
    if (status != FM_OK)
        goto done;
    for (int j = 0; j < n; j++) {
        double mean = sum[j];
        double std = sqrt(sq[j] / total); /* population std, as numpy's default */
        /* A spread of subnormals can round to a float std of 0: constant too.
         * (Mean and std of finite floats cannot exceed float's range.) */
        if (std == 0.0 || std < FM_CONSTANT_COLUMN_RATIO * fabs(mean) || (float)std == 0.0f)
            std = 1.0;
        s->mean[j] = (float)mean;
        s->std[j] = (float)std;
    }

done:
    free(sum);
    free(sq);
    if (status != FM_OK) {
        fm_standardizer_free(s);
        return status;
    }
    *out = s;
    return FM_OK;
}

fm_status fm_standardizer_create(int n, const float *mean, const float *std, fm_standardizer **out, fm_error *err)
{
    if (!out)
        return fm_fail(err, FM_ERR_ARG, "fm_standardizer_create: out must not be NULL");
    *out = NULL;
    if (n <= 0)
        return fm_fail(err, FM_ERR_ARG, "standardizer: %d columns (need at least 1)", n);
    if (!mean || !std)
        return fm_fail(err, FM_ERR_ARG, "fm_standardizer_create: mean and std must not be NULL");
    for (int j = 0; j < n; j++) {
        if (!isfinite(mean[j]))
            return fm_fail(err, FM_ERR_ARG, "standardizer: mean of column %d is not finite (%g)", j, (double)mean[j]);
        if (!isfinite(std[j]) || !(std[j] > 0.0f))
            return fm_fail(err, FM_ERR_ARG, "standardizer: std of column %d is %g (must be finite and positive)", j,
                           (double)std[j]);
    }
    fm_standardizer *s = standardizer_alloc(n);
    if (!s)
        return fm_fail(err, FM_ERR_NOMEM, "standardizer: out of memory for %d columns", n);
    for (int j = 0; j < n; j++) {
        s->mean[j] = mean[j];
        s->std[j] = std[j];
    }
    *out = s;
    return FM_OK;
}

/* data [rows][s->n] */
void fm_standardize(const fm_standardizer *s, float *data, size_t rows)
{
    if (!s || !data)
        return;
    size_t n = (size_t)s->n;
    for (size_t r = 0; r < rows; r++) {
        float *row = data + r * n;
        for (size_t j = 0; j < n; j++)
            row[j] = (row[j] - s->mean[j]) / s->std[j];
    }
}

/* data [rows][s->n] */
void fm_unstandardize(const fm_standardizer *s, float *data, size_t rows)
{
    if (!s || !data)
        return;
    size_t n = (size_t)s->n;
    for (size_t r = 0; r < rows; r++) {
        float *row = data + r * n;
        for (size_t j = 0; j < n; j++)
            row[j] = row[j] * s->std[j] + s->mean[j];
    }
}
