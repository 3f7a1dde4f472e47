/* NetCDF: fm_data_read on a .nc file with fixed selections that match the
 * seed files (written by gen_geo_seeds.c): the gridded variable "temp" on
 * (time, [depth,] lat, lon) with two of its axes as inputs, then two targets
 * with an input encoding, then "month" from the time axis, depth and another
 * variable on the grid as inputs.
 * What the reader returns must be a consistent dataset. */
#include "fathom.h"
#include "fuzz_support.h"

#include <math.h>

static void check(const fm_dataset *ds)
{
    if (!ds || ds->rows == 0 || ds->n_in <= 0 || ds->n_out <= 0 || !ds->x || !ds->y || !ds->grid_index)
        abort();
    volatile float sum = 0.0f;
    for (size_t i = 0; i < ds->rows * (size_t)ds->n_in; i++) {
        if (!isfinite(ds->x[i]))
            abort();
        sum += ds->x[i];
    }
    for (size_t i = 0; i < ds->rows * (size_t)ds->n_out; i++) {
        if (!isfinite(ds->y[i]))
            abort();
        sum += ds->y[i];
    }
    for (size_t r = 0; r < ds->rows; r++) {
        if (r > 0 && ds->grid_index[r] <= ds->grid_index[r - 1])
            abort(); /* one row per cell, in grid order */
        if (ds->lon && (ds->lon[r] < 0.0 || ds->lon[r] >= 360.0))
            abort(); /* wrapped to [0, 360) (NaN where the file's longitude is NaN) */
    }
    (void)sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const fm_read_options specs[] = {
        {"lat,lon", "temp", 0},
        {"lat:div:90,lon:sincos,time,fourier:2:1", "temp,salt", 0},
        {"month,depth:log1p,salt", "temp", 0},
    };
    const char *path = fuzz_write(data, size, ".nc");
    if (!path)
        return 0;
    for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++) {
        fm_error err;
        fm_dataset *ds = NULL;
        if (fm_data_read(path, NULL, &specs[s], &ds, &err) == FM_OK)
            check(ds);
        fm_dataset_free(ds);
    }
    return 0;
}
