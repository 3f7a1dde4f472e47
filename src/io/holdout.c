/* Held-out test sets decided by each sample's grid index and longitude: the
 * random and longitude-band splits of geobaselines.py, bit for bit. */
#include "io/io_internal.h"

#include "core/internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

fm_status fm_holdout_parse(const char *spec, fm_holdout *out, fm_error *err)
{
    if (!spec || !out)
        return fm_fail(err, FM_ERR_ARG, "fm_holdout_parse: spec and out must not be NULL");
    fm_holdout h = {FM_HOLDOUT_RANDOM10, 0.1};
    if (strcmp(spec, "random10") == 0) {
        h.kind = FM_HOLDOUT_RANDOM10;
    } else if (strcmp(spec, "lonband") == 0) {
        h.kind = FM_HOLDOUT_LONBAND;
        h.fraction = 0.0;
    } else if (strncmp(spec, "random:", 7) == 0) {
        char *end;
        errno = 0;
        double f = strtod(spec + 7, &end);
        if (end == spec + 7 || *end || errno == ERANGE || !(f > 0.0 && f < 1.0))
            return fm_fail(err, FM_ERR_ARG, "split \"%s\": the fraction must be a number between 0 and 1", spec);
        h.kind = FM_HOLDOUT_RANDOM;
        h.fraction = f;
    } else {
        return fm_fail(err, FM_ERR_ARG, "unknown split \"%s\" (known: random10, lonband, random:F)", spec);
    }
    *out = h;
    return FM_OK;
}

void fm_holdout_format(const fm_holdout *holdout, char *buf, size_t size)
{
    char num[32];
    switch (holdout->kind) {
    case FM_HOLDOUT_RANDOM10: snprintf(buf, size, "random10"); break;
    case FM_HOLDOUT_LONBAND: snprintf(buf, size, "lonband"); break;
    case FM_HOLDOUT_RANDOM:
        fm_format_double(num, sizeof num, holdout->fraction);
        snprintf(buf, size, "random:%s", num);
        break;
    default: snprintf(buf, size, "invalid"); break;
    }
}

int fm_holdout_contains(const fm_holdout *holdout, uint64_t grid_index, double lon)
{
    switch (holdout->kind) {
    case FM_HOLDOUT_RANDOM10: return fm_splitmix64(grid_index) % 10u == 0;
    case FM_HOLDOUT_RANDOM:
        return (double)(fm_splitmix64(grid_index) % 1000000u) < holdout->fraction * 1e6;
    case FM_HOLDOUT_LONBAND: {
        if (!isfinite(lon))
            return 0;
        /* Python's % on floats: the result has the divisor's sign. */
        double wrapped = fmod(lon, 360.0);
        if (wrapped < 0)
            wrapped += 360.0;
        long band = (long)floor(wrapped / 10.0);
        return band % 10 == 0;
    }
    }
    return 0;
}

static fm_status alloc_like(const fm_dataset *all, size_t rows, fm_dataset **out, fm_error *err)
{
    fm_status st = fm_dataset_alloc(rows, all->n_in, all->n_out, out, err);
    if (st != FM_OK)
        return st;
    fm_dataset *ds = *out;
    int ok = fm_copy_names(all->in_names, all->n_in, &ds->in_names) &&
             fm_copy_names(all->out_names, all->n_out, &ds->out_names);
    if (ok && all->encoding)
        ok = (ds->encoding = fm_strdup(all->encoding)) != NULL;
    if (ok && all->grid_index)
        ok = (ds->grid_index = fm_alloc_array(rows ? rows : 1, sizeof *ds->grid_index)) != NULL;
    if (ok && all->lon)
        ok = (ds->lon = fm_alloc_array(rows ? rows : 1, sizeof *ds->lon)) != NULL;
    if (!ok) {
        fm_dataset_free(ds);
        *out = NULL;
        return fm_fail(err, FM_ERR_NOMEM, "out of memory for a split of %zu rows", rows);
    }
    return FM_OK;
}

fm_status fm_dataset_split_holdout(const fm_dataset *all, const fm_holdout *holdout, fm_dataset **train,
                                   fm_dataset **test, fm_error *err)
{
    if (train)
        *train = NULL;
    if (test)
        *test = NULL;
    if (!all || !holdout)
        return fm_fail(err, FM_ERR_ARG, "fm_dataset_split_holdout: all and holdout must not be NULL");
    if ((int)holdout->kind < 0 || holdout->kind > FM_HOLDOUT_LONBAND ||
        (holdout->kind == FM_HOLDOUT_RANDOM && !(holdout->fraction > 0.0 && holdout->fraction < 1.0)))
        return fm_fail(err, FM_ERR_ARG, "invalid holdout (kind %d, fraction %g): the fraction must lie in (0, 1)",
                       (int)holdout->kind, holdout->fraction);
    if (holdout->kind == FM_HOLDOUT_LONBAND && !all->lon)
        return fm_fail(err, FM_ERR_ARG,
                       "the lonband split needs longitudes: read gridded data with a longitude axis (NetCDF)");
    unsigned char *in_test = fm_alloc_array(all->rows ? all->rows : 1, 1);
    if (!in_test)
        return fm_fail(err, FM_ERR_NOMEM, "out of memory");
    size_t n_test = 0;
    for (size_t i = 0; i < all->rows; i++) {
        uint64_t index = all->grid_index ? all->grid_index[i] : (uint64_t)(all->row_offset + i);
        in_test[i] = (unsigned char)fm_holdout_contains(holdout, index, all->lon ? all->lon[i] : NAN);
        n_test += in_test[i];
    }
    fm_dataset *part[2] = {NULL, NULL};
    fm_status st = FM_OK;
    if (train)
        st = alloc_like(all, all->rows - n_test, &part[0], err);
    if (st == FM_OK && test)
        st = alloc_like(all, n_test, &part[1], err);
    if (st != FM_OK) {
        fm_dataset_free(part[0]);
        free(in_test);
        return st;
    }
    size_t k[2] = {0, 0};
    for (size_t i = 0; i < all->rows; i++) {
        fm_dataset *to = part[in_test[i]];
        if (!to)
            continue;
        size_t r = k[in_test[i]]++;
        memcpy(to->x + r * (size_t)all->n_in, all->x + i * (size_t)all->n_in, (size_t)all->n_in * sizeof *to->x);
        if (all->y)
            memcpy(to->y + r * (size_t)all->n_out, all->y + i * (size_t)all->n_out,
                   (size_t)all->n_out * sizeof *to->y);
        if (all->grid_index)
            to->grid_index[r] = all->grid_index[i];
        if (all->lon)
            to->lon[r] = all->lon[i];
    }
    free(in_test);
    if (part[0])
        part[0]->skipped = all->skipped;
    if (train)
        *train = part[0];
    if (test)
        *test = part[1];
    return FM_OK;
}
