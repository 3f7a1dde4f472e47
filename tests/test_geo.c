/* Geoscience data: NetCDF grids in and out, fill values per type, Ferret
 * modulo longitudes, the geobaselines splits, input encodings, SEG-Y, the sine
 * activation and the SIREN initialisers, and NetCDF read by blocks of the grid
 * for several processes (fm_data_read_shard). Small NetCDF files are written
 * here with the netCDF-C API. */
#include "test_support.h"

#include "core/internal.h"

#include <math.h>
#include <netcdf.h>
#include <segyio/segy.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NC_CHECK(call)                                                              \
    do {                                                                            \
        int nc_rc_ = (call);                                                        \
        if (nc_rc_ != NC_NOERR)                                                     \
            fail_msg("%s: %s", #call, nc_strerror(nc_rc_));                         \
    } while (0)

enum { NZ = 2, NY = 3, NX = 5 };

/* A Ferret-like grid: depth (positive down), lat (degrees_north), lon
 * (degrees_east, a modulo axis running 340 .. 380, whose last column repeats
 * the first + 360 when dup_lon), a float TEMP with _FillValue -1e34 on two
 * cells and NaN on one, a double SALT with fill -1e10, a short MASK with fill
 * -99, and a 1-D variable on another dimension. */
static const char *write_grid(const char *name, int dup_lon, int all_fill)
{
    static char path[512];
    snprintf(path, sizeof path, "%s", fm_test_tmp_path(name));
    int nc, dz, dy, dx, de, vz, vy, vx, vt, vs, vm, ve;
    NC_CHECK(nc_create(path, NC_CLOBBER, &nc));
    NC_CHECK(nc_def_dim(nc, "ZAXTEST", NZ, &dz));
    NC_CHECK(nc_def_dim(nc, "YAXTEST", NY, &dy));
    NC_CHECK(nc_def_dim(nc, "XAXTEST", NX, &dx));
    NC_CHECK(nc_def_dim(nc, "EDGES", 3, &de));
    NC_CHECK(nc_def_var(nc, "ZAXTEST", NC_DOUBLE, 1, &dz, &vz));
    NC_CHECK(nc_put_att_text(nc, vz, "units", 6, "METERS"));
    NC_CHECK(nc_put_att_text(nc, vz, "positive", 4, "down"));
    NC_CHECK(nc_def_var(nc, "YAXTEST", NC_DOUBLE, 1, &dy, &vy));
    NC_CHECK(nc_put_att_text(nc, vy, "units", 13, "degrees_north"));
    NC_CHECK(nc_def_var(nc, "XAXTEST", NC_DOUBLE, 1, &dx, &vx));
    NC_CHECK(nc_put_att_text(nc, vx, "units", 12, "degrees_east"));
    NC_CHECK(nc_put_att_text(nc, vx, "modulo", 1, " "));
    int dims[3] = {dz, dy, dx};
    NC_CHECK(nc_def_var(nc, "TEMP", NC_FLOAT, 3, dims, &vt));
    float tfill = -1e34f;
    NC_CHECK(nc_put_att_float(nc, vt, "_FillValue", NC_FLOAT, 1, &tfill));
    NC_CHECK(nc_put_att_float(nc, vt, "missing_value", NC_FLOAT, 1, &tfill));
    NC_CHECK(nc_put_att_text(nc, vt, "units", 5, "DEG C"));
    NC_CHECK(nc_put_att_text(nc, vt, "long_name", 11, "TEMPERATURE"));
    NC_CHECK(nc_def_var(nc, "SALT", NC_DOUBLE, 3, dims, &vs));
    double sfill = -1e10;
    NC_CHECK(nc_put_att_double(nc, vs, "_FillValue", NC_DOUBLE, 1, &sfill));
    NC_CHECK(nc_def_var(nc, "MASK", NC_SHORT, 3, dims, &vm));
    short mfill = -99;
    NC_CHECK(nc_put_att_short(nc, vm, "missing_value", NC_SHORT, 1, &mfill));
    NC_CHECK(nc_def_var(nc, "EDGEVAR", NC_FLOAT, 1, &de, &ve));
    NC_CHECK(nc_put_att_text(nc, NC_GLOBAL, "title", 9, "test grid"));
    NC_CHECK(nc_enddef(nc));
    double z[NZ] = {0, 100}, y[NY] = {-10, 0, 10}, x[NX] = {340, 350, 360, 370, 380};
    if (!dup_lon)
        x[NX - 1] = 375;
    NC_CHECK(nc_put_var_double(nc, vz, z));
    NC_CHECK(nc_put_var_double(nc, vy, y));
    NC_CHECK(nc_put_var_double(nc, vx, x));
    float t[NZ * NY * NX];
    double s[NZ * NY * NX];
    short m[NZ * NY * NX];
    for (int i = 0; i < NZ * NY * NX; i++) {
        t[i] = all_fill ? tfill : (float)i;
        s[i] = 30.0 + i;
        m[i] = 1;
    }
    if (!all_fill) {
        t[3] = tfill;
        t[7] = NAN;
        t[20] = tfill;
    }
    s[11] = sfill;
    m[12] = -99;
    NC_CHECK(nc_put_var_float(nc, vt, t));
    NC_CHECK(nc_put_var_double(nc, vs, s));
    NC_CHECK(nc_put_var_short(nc, vm, m));
    float e[3] = {1, 2, 3};
    NC_CHECK(nc_put_var_float(nc, ve, e));
    NC_CHECK(nc_close(nc));
    return path;
}

static fm_status read_grid(const char *path, const char *inputs, const char *targets, fm_dataset **ds, fm_error *err)
{
    fm_read_options opts = {inputs, targets, 0};
    return fm_data_read(path, NULL, &opts, ds, err);
}

static void test_netcdf_cells_become_rows(void **state)
{
    (void)state;
    const char *path = write_grid("grid.nc", 0, 0);
    fm_dataset *ds = NULL;
    fm_error err = {0};
    FM_ASSERT_OK(read_grid(path, "lat,lon,depth", "TEMP", &ds, &err), &err);
    /* 30 cells, 3 invalid: two -1e34 (float fill) and one NaN */
    assert_int_equal(ds->rows, 27);
    assert_int_equal(ds->skipped, 3);
    assert_int_equal(ds->n_in, 3);
    assert_string_equal(ds->in_names[1], "lon");
    assert_string_equal(ds->out_names[0], "TEMP");
    assert_non_null(ds->grid_index);
    assert_non_null(ds->lon);
    for (size_t r = 0; r < ds->rows; r++) {
        uint64_t g = ds->grid_index[r];
        assert_true(g != 3 && g != 7 && g != 20);
        assert_true(ds->y[r] == (float)g); /* TEMP holds its own flat index */
        size_t k = g / (NY * NX), j = (g / NX) % NY, i = g % NX;
        static const double lon[NX] = {340, 350, 0, 10, 15}; /* wrapped from 360, 370, 375 */
        assert_true(ds->x[r * 3] == (float)(-10 + 10 * (double)j));
        assert_true(ds->x[r * 3 + 1] == (float)lon[i]);
        assert_true(ds->lon[r] == lon[i]);
        assert_true(ds->x[r * 3 + 2] == (float)(100 * k));
    }
    fm_dataset_free(ds);

    /* The file's own axis names work too, and other variables on the grid:
     * SALT's double fill -1e10 and MASK's short missing_value drop two more. */
    FM_ASSERT_OK(read_grid(path, "YAXTEST,XAXTEST:sincos,SALT,MASK", "TEMP", &ds, &err), &err);
    assert_int_equal(ds->rows, 25);
    assert_int_equal(ds->n_in, 5);
    assert_string_equal(ds->in_names[1], "sin_XAXTEST");
    assert_non_null(ds->encoding);
    assert_string_equal(ds->encoding, "YAXTEST,XAXTEST:sincos,SALT,MASK");
    for (size_t r = 0; r < ds->rows; r++) {
        assert_true(ds->grid_index[r] != 11 && ds->grid_index[r] != 12);
        double lon = ds->lon[r] * M_PI / 180;
        assert_true(fabs(ds->x[r * 5 + 1] - sin(lon)) < 1e-6);
        assert_true(fabs(ds->x[r * 5 + 2] - cos(lon)) < 1e-6);
        assert_true(ds->x[r * 5 + 3] == (float)(30.0 + (double)ds->grid_index[r]));
    }
    fm_dataset_free(ds);
}

static void test_netcdf_duplicated_longitude_column_is_dropped(void **state)
{
    (void)state;
    const char *path = write_grid("grid_dup.nc", 1, 0);
    fm_dataset *ds = NULL;
    fm_error err = {0};
    FM_ASSERT_OK(read_grid(path, "lat,lon", "TEMP", &ds, &err), &err);
    /* column 4 (380 = 20 + 360 ... here 340 + 40: not a duplicate of 340) */
    fm_dataset_free(ds);
    /* 340 .. 380 spans 40 degrees: nothing dropped; a real wrap column is
     * checked against the first + 360. */
    int nc, dx, vx, vt;
    const char *wrap = fm_test_tmp_path("wrap.nc");
    NC_CHECK(nc_create(wrap, NC_CLOBBER, &nc));
    NC_CHECK(nc_def_dim(nc, "X", 4, &dx));
    NC_CHECK(nc_def_var(nc, "X", NC_DOUBLE, 1, &dx, &vx));
    NC_CHECK(nc_put_att_text(nc, vx, "units", 12, "degrees_east"));
    NC_CHECK(nc_def_var(nc, "ROSE", NC_FLOAT, 1, &dx, &vt));
    NC_CHECK(nc_enddef(nc));
    double x[4] = {20, 140, 260, 380};
    float v[4] = {1, 2, 3, 1};
    NC_CHECK(nc_put_var_double(nc, vx, x));
    NC_CHECK(nc_put_var_float(nc, vt, v));
    NC_CHECK(nc_close(nc));
    FM_ASSERT_OK(read_grid(wrap, "lon", "ROSE", &ds, &err), &err);
    assert_int_equal(ds->rows, 3);
    assert_int_equal(ds->skipped, 1);
    assert_true(ds->x[2] == 260.0f);
    fm_dataset_free(ds);
}

static void test_netcdf_bad_input(void **state)
{
    (void)state;
    const char *path = write_grid("grid_bad.nc", 0, 0);
    char good[512];
    snprintf(good, sizeof good, "%s", path);
    fm_dataset *ds = NULL;
    fm_error err = {0};
    /* a missing variable lists those that exist */
    FM_ASSERT_FAILS(read_grid(good, "lat,lon", "TEMPX", &ds, &err), &err, FM_ERR_ARG, "no variable \"TEMPX\"");
    assert_true(fm_test_contains(err.message, "SALT") && fm_test_contains(err.message, "TEMP("));
    assert_true(fm_test_contains(err.message, "grid_bad.nc"));
    assert_null(ds);
    /* an input on other dimensions */
    FM_ASSERT_FAILS(read_grid(good, "lat,EDGEVAR", "TEMP", &ds, &err), &err, FM_ERR_FORMAT, "dimensions");
    /* an unknown input, and no targets */
    FM_ASSERT_FAILS(read_grid(good, "lat,nope", "TEMP", &ds, &err), &err, FM_ERR_ARG, "no axis or variable \"nope\"");
    FM_ASSERT_FAILS(read_grid(good, "lat", "", &ds, &err), &err, FM_ERR_ARG, "--targets");
    FM_ASSERT_FAILS(read_grid(good, "time", "TEMP", &ds, &err), &err, FM_ERR_ARG, "no time axis");
    /* a grid that is all fill values */
    const char *empty = write_grid("grid_fill.nc", 0, 1);
    FM_ASSERT_FAILS(read_grid(empty, "lat", "TEMP", &ds, &err), &err, FM_ERR_FORMAT, "fill values");
    assert_true(fm_test_contains(err.message, "grid_fill.nc"));
    /* not NetCDF */
    const char *text = fm_test_tmp_path("text.nc");
    fm_test_write_text(text, "lat,lon\n1,2\n");
    FM_ASSERT_FAILS(read_grid(text, "lat", "TEMP", &ds, &err), &err, FM_ERR_FORMAT, "not a NetCDF file");
    /* truncated: the header survives, the data does not */
    size_t size;
    char *bytes = fm_test_read_file(good, &size);
    const char *cut = fm_test_tmp_path("truncated.nc");
    fm_test_write_file(cut, bytes, size - 200);
    free(bytes);
    fm_status st = read_grid(cut, "lat,lon", "TEMP", &ds, &err);
    assert_int_equal(st, FM_ERR_FORMAT);
    assert_true(fm_test_contains(err.message, "truncated.nc"));
    assert_null(ds);
    /* a missing file */
    FM_ASSERT_FAILS(read_grid(fm_test_tmp_path("absent.nc"), "lat", "TEMP", &ds, &err), &err, FM_ERR_IO, "absent.nc");
}

/* A classic file (CDF-1, or CDF-2 with NC_64BIT_OFFSET) with a grid T(y, x)
 * = 1..12 and a record variable R(time, x) = 100.. of two records. */
static void write_classic(const char *path, int format_flag)
{
    int nc, dy, dx, dt, vt, vr;
    NC_CHECK(nc_create(path, NC_CLOBBER | format_flag, &nc));
    NC_CHECK(nc_def_dim(nc, "y", 3, &dy));
    NC_CHECK(nc_def_dim(nc, "x", 4, &dx));
    NC_CHECK(nc_def_dim(nc, "time", NC_UNLIMITED, &dt));
    int grid_dims[2] = {dy, dx}, record_dims[2] = {dt, dx};
    NC_CHECK(nc_def_var(nc, "T", NC_FLOAT, 2, grid_dims, &vt));
    NC_CHECK(nc_def_var(nc, "R", NC_FLOAT, 2, record_dims, &vr));
    NC_CHECK(nc_enddef(nc));
    float t[12], r[8];
    for (int i = 0; i < 12; i++)
        t[i] = (float)(i + 1);
    for (int i = 0; i < 8; i++)
        r[i] = (float)(100 + i);
    size_t start[2] = {0, 0}, count[2] = {2, 4};
    NC_CHECK(nc_put_var_float(nc, vt, t));
    NC_CHECK(nc_put_vara_float(nc, vr, start, count, r));
    NC_CHECK(nc_close(nc));
}

/* The offset of the "begin" field of the 2-D variable `name` (one letter,
 * no attributes) in a classic header: the name (length and padded text),
 * ndims, two dimension ids, the empty attribute list, the type and vsize. */
static size_t begin_field(const char *bytes, size_t size, char name)
{
    const char entry[12] = {0, 0, 0, 1, name, 0, 0, 0, 0, 0, 0, 2};
    for (size_t i = 0; i + sizeof entry <= size; i++)
        if (!memcmp(bytes + i, entry, sizeof entry))
            return i + 4 + 4 + 4 + 2 * 4 + 8 + 4 + 4;
    fail_msg("no variable %c in the header", name);
    return 0;
}

static void put_big_endian(char *at, int bytes, unsigned long long value)
{
    for (int i = bytes - 1; i >= 0; i--, value >>= 8)
        at[i] = (char)(value & 0xFF);
}

/* netCDF-C reads data past the end of a classic file as fill values (zeros
 * here) without an error: a damaged begin offset, or data cut off at the end,
 * must be refused with the variable named. */
static void test_netcdf_data_beyond_the_end_is_refused(void **state)
{
    (void)state;
    static const struct {
        int flag, offset_bytes;
        const char *name;
    } formats[] = {{0, 4, "cdf1"}, {NC_64BIT_OFFSET, 8, "cdf2"}};
    for (size_t f = 0; f < sizeof formats / sizeof formats[0]; f++) {
        char path[512], bad[512], file_name[64];
        snprintf(file_name, sizeof file_name, "classic_%s.nc", formats[f].name);
        snprintf(path, sizeof path, "%s", fm_test_tmp_path(file_name));
        snprintf(file_name, sizeof file_name, "badbegin_%s.nc", formats[f].name);
        snprintf(bad, sizeof bad, "%s", fm_test_tmp_path(file_name));
        write_classic(path, formats[f].flag);
        fm_dataset *ds = NULL;
        fm_error err = {0};
        FM_ASSERT_OK(read_grid(path, "x", "T", &ds, &err), &err);
        assert_int_equal(ds->rows, 12);
        assert_true(ds->y[11] == 12.0f);
        fm_dataset_free(ds);
        FM_ASSERT_OK(read_grid(path, "x", "R", &ds, &err), &err);
        assert_int_equal(ds->rows, 8);
        assert_true(ds->y[7] == 107.0f);
        fm_dataset_free(ds);
        ds = NULL;

        size_t size;
        char *bytes = fm_test_read_file(path, &size);
        char *copy = malloc(size);
        assert_non_null(copy);
        /* all the data 4 KB further on than it is: the begins stay in order
         * (netCDF-C checks that), but the file ends before them */
        const size_t t_at = begin_field(bytes, size, 'T'), r_at = begin_field(bytes, size, 'R');
        const size_t t_begin = size - 32 - 48, r_begin = size - 32; /* where the writer put them */
        char field[8];
        put_big_endian(field, formats[f].offset_bytes, t_begin);
        assert_memory_equal(bytes + t_at, field, (size_t)formats[f].offset_bytes);
        put_big_endian(field, formats[f].offset_bytes, r_begin);
        assert_memory_equal(bytes + r_at, field, (size_t)formats[f].offset_bytes);
        memcpy(copy, bytes, size);
        put_big_endian(copy + t_at, formats[f].offset_bytes, t_begin + 4096);
        put_big_endian(copy + r_at, formats[f].offset_bytes, r_begin + 4096);
        fm_test_write_file(bad, copy, size);
        FM_ASSERT_FAILS(read_grid(bad, "x", "T", &ds, &err), &err, FM_ERR_FORMAT, "variable \"T\" needs bytes up to");
        char numbers[128];
        snprintf(numbers, sizeof numbers, "%zu but the file has %zu", t_begin + 4096 + 48, size);
        assert_true(fm_test_contains(err.message, numbers) && fm_test_contains(err.message, file_name));
        assert_null(ds);
        /* R's first record where its second is: the second runs past the end */
        memcpy(copy, bytes, size);
        put_big_endian(copy + r_at, formats[f].offset_bytes, r_begin + 16);
        fm_test_write_file(bad, copy, size);
        FM_ASSERT_FAILS(read_grid(bad, "x", "R", &ds, &err), &err, FM_ERR_FORMAT, "variable \"R\" needs bytes up to");
        snprintf(numbers, sizeof numbers, "%zu but the file has %zu", size + 16, size);
        assert_true(fm_test_contains(err.message, numbers));
        /* a begin past any file */
        put_big_endian(copy + r_at, formats[f].offset_bytes, formats[f].offset_bytes == 4 ? 0xFFFFFFF0ull : 1ull << 62);
        fm_test_write_file(bad, copy, size);
        FM_ASSERT_FAILS(read_grid(bad, "x", "R", &ds, &err), &err, FM_ERR_FORMAT, "variable \"R\"");
        /* cut short at the end: the last record is incomplete; then T's data too */
        fm_test_write_file(bad, bytes, size - 4);
        FM_ASSERT_FAILS(read_grid(bad, "x", "T", &ds, &err), &err, FM_ERR_FORMAT, "variable \"R\" needs bytes up to");
        assert_true(fm_test_contains(err.message, "truncated or damaged"));
        fm_test_write_file(bad, bytes, size - 32 - 20);
        FM_ASSERT_FAILS(read_grid(bad, "x", "T", &ds, &err), &err, FM_ERR_FORMAT, "variable \"T\" needs bytes up to");
        free(copy);
        free(bytes);
    }
}

static void test_holdout_rules_match_geobaselines(void **state)
{
    (void)state;
    fm_holdout h;
    fm_error err = {0};
    FM_ASSERT_OK(fm_holdout_parse("random10", &h, &err), &err);
    size_t held = 0;
    for (uint64_t i = 0; i < 100000; i++) {
        int in = fm_holdout_contains(&h, i, NAN);
        assert_int_equal(in, fm_splitmix64(i) % 10 == 0);
        held += (size_t)in;
    }
    assert_true(held > 9500 && held < 10500);
    FM_ASSERT_OK(fm_holdout_parse("lonband", &h, &err), &err);
    static const struct {
        double lon;
        int in;
    } cases[] = {{0, 1},    {9.99, 1},  {10, 0},    {99.9, 0}, {100, 1}, {105.5, 1}, {110, 0}, {205, 1},
                 {305, 1},  {359.5, 0}, {365.5, 1}, {-355, 1}, {-5, 0},  {379.5, 0}, {20.5, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (fm_holdout_contains(&h, 7, cases[i].lon) != cases[i].in)
            fail_msg("lonband at %g: expected %d", cases[i].lon, cases[i].in);
    FM_ASSERT_OK(fm_holdout_parse("random:0.25", &h, &err), &err);
    char text[32];
    fm_holdout_format(&h, text, sizeof text);
    assert_string_equal(text, "random:0.25");
    FM_ASSERT_FAILS(fm_holdout_parse("random:1.5", &h, &err), &err, FM_ERR_ARG, "between 0 and 1");
    FM_ASSERT_FAILS(fm_holdout_parse("blocks", &h, &err), &err, FM_ERR_ARG, "lonband");

    /* The split of a read grid and the FILE#SPLIT:part selector agree. */
    const char *path = write_grid("grid_split.nc", 0, 0);
    fm_dataset *all = NULL, *train = NULL, *test = NULL, *sel = NULL;
    FM_ASSERT_OK(read_grid(path, "lat,lon", "TEMP", &all, &err), &err);
    FM_ASSERT_OK(fm_holdout_parse("lonband", &h, &err), &err);
    FM_ASSERT_OK(fm_dataset_split_holdout(all, &h, &train, &test, &err), &err);
    assert_int_equal(train->rows + test->rows, all->rows);
    for (size_t r = 0; r < test->rows; r++)
        assert_true(test->lon[r] < 10 && test->x[r * 2 + 1] == (float)test->lon[r]);
    for (size_t r = 0; r < train->rows; r++)
        assert_true(train->lon[r] >= 10);
    char spec[600];
    snprintf(spec, sizeof spec, "%s#lonband:test", path);
    FM_ASSERT_OK(read_grid(spec, "lat,lon", "TEMP", &sel, &err), &err);
    assert_int_equal(sel->rows, test->rows);
    assert_memory_equal(sel->grid_index, test->grid_index, sel->rows * sizeof *sel->grid_index);
    fm_dataset_free(sel);
    snprintf(spec, sizeof spec, "%s#lonband:middle", path);
    FM_ASSERT_FAILS(read_grid(spec, "lat", "TEMP", &sel, &err), &err, FM_ERR_ARG, "SPLIT:train");
    /* the ordinary split carries grid indices too */
    fm_dataset *a = NULL, *b = NULL;
    FM_ASSERT_OK(fm_dataset_split(all, 0.3, 1, &a, &b, &err), &err);
    assert_non_null(a->grid_index);
    assert_non_null(b->lon);
    fm_dataset_free(a);
    fm_dataset_free(b);
    fm_dataset_free(all);
    fm_dataset_free(train);
    fm_dataset_free(test);
}

static void test_encoding_spec_and_values(void **state)
{
    (void)state;
    fm_encoding *enc = NULL;
    fm_error err = {0};
    FM_ASSERT_OK(fm_encoding_parse("lat:div:90, lon:sincos ,depth:log1p,month:sincos:12,fourier:3:2.5:7", &enc, &err),
                 &err);
    assert_int_equal(fm_encoding_n_raw(enc), 4);
    assert_string_equal(fm_encoding_raw_name(enc, 3), "month");
    assert_int_equal(fm_encoding_n_out(enc), 6 + 6);
    assert_string_equal(fm_encoding_feature_name(enc, 1), "sin_lon");
    assert_string_equal(fm_encoding_feature_name(enc, 3), "log1p_depth");
    assert_string_equal(fm_encoding_feature_name(enc, 6), "ff_sin_0");
    assert_string_equal(fm_encoding_feature_name(enc, 11), "ff_cos_2");
    assert_false(fm_encoding_is_identity(enc));
    char *text = fm_encoding_format(enc);
    assert_string_equal(text, "lat:div:90,lon:sincos,depth:log1p,month:sincos:12,fourier:3:2.5:7");
    float raw[4] = {45, 90, 99, 3}, out[12], again[12];
    FM_ASSERT_OK(fm_encoding_apply(enc, raw, 1, out, &err), &err);
    assert_true(fabs(out[0] - 0.5) < 1e-7);
    assert_true(fabs(out[1] - 1.0) < 1e-6 && fabs(out[2]) < 1e-6);
    assert_true(fabs(out[3] - log(100.0)) < 1e-6);
    assert_true(fabs(out[4] - 1.0) < 1e-6 && fabs(out[5]) < 1e-6); /* month 3 of 12: a quarter turn */
    for (int f = 0; f < 3; f++) /* sin^2 + cos^2 = 1 */
        assert_true(fabs(out[6 + f] * out[6 + f] + out[9 + f] * out[9 + f] - 1.0) < 1e-5);
    /* the projection comes back from the spec alone, and depends on the seed */
    fm_encoding *copy = NULL;
    FM_ASSERT_OK(fm_encoding_parse(text, &copy, &err), &err);
    FM_ASSERT_OK(fm_encoding_apply(copy, raw, 1, again, &err), &err);
    assert_memory_equal(out, again, sizeof out);
    fm_encoding_free(copy);
    FM_ASSERT_OK(fm_encoding_parse("lat:div:90,lon:sincos,depth:log1p,month:sincos:12,fourier:3:2.5:8", &copy, &err),
                 &err);
    FM_ASSERT_OK(fm_encoding_apply(copy, raw, 1, again, &err), &err);
    assert_true(memcmp(out + 6, again + 6, 6 * sizeof *out) != 0);
    fm_encoding_free(copy);
    free(text);
    raw[2] = -2; /* log1p(-2) */
    FM_ASSERT_FAILS(fm_encoding_apply(enc, raw, 1, out, &err), &err, FM_ERR_FORMAT, "depth");
    fm_encoding_free(enc);

    FM_ASSERT_FAILS(fm_encoding_parse("lat,lon:sine", &enc, &err), &err, FM_ERR_ARG, "unknown operation \"sine\"");
    FM_ASSERT_FAILS(fm_encoding_parse("lat:div", &enc, &err), &err, FM_ERR_ARG, "div:90");
    FM_ASSERT_FAILS(fm_encoding_parse("lat,fourier:0:1", &enc, &err), &err, FM_ERR_ARG, "fourier:N:SCALE");
    FM_ASSERT_FAILS(fm_encoding_parse("fourier:4:1,lat", &enc, &err), &err, FM_ERR_ARG, "last item");
    FM_ASSERT_FAILS(fm_encoding_parse("lat,,lon", &enc, &err), &err, FM_ERR_ARG, "empty item");
    FM_ASSERT_FAILS(fm_encoding_parse("lat,lat:sincos", &enc, &err), &err, FM_ERR_ARG, "twice");
    assert_null(enc);
    FM_ASSERT_OK(fm_encoding_parse("a,b", &enc, &err), &err);
    assert_true(fm_encoding_is_identity(enc));
    fm_encoding_free(enc);
}

static void test_encoding_on_csv_and_in_a_model(void **state)
{
    (void)state;
    const char *csv = fm_test_tmp_path("enc.csv");
    fm_test_write_text(csv, "lon,depth,t\n90,0,1\n180,1,2\n");
    fm_dataset *ds = NULL;
    fm_error err = {0};
    fm_read_options opts = {"lon:sincos,depth:log1p", "t", 0};
    FM_ASSERT_OK(fm_data_read(csv, NULL, &opts, &ds, &err), &err);
    assert_int_equal(ds->n_in, 3);
    assert_true(fabs(ds->x[3] - 0.0) < 1e-6 && fabs(ds->x[4] + 1.0) < 1e-6 && fabs(ds->x[5] - log(2.0)) < 1e-6);
    assert_string_equal(ds->encoding, "lon:sincos,depth:log1p");
    fm_dataset_free(ds);
    opts.inputs = "lon:sincos,nope:log1p";
    FM_ASSERT_FAILS(fm_data_read(csv, NULL, &opts, &ds, &err), &err, FM_ERR_ARG, "nope");

    /* a model carries its encoding in its training settings */
    fm_model model = {0};
    fm_layer_spec spec = {1, fm_activation_default(FM_ACT_LINEAR), {FM_INIT_LECUN, 0, 0}, 0};
    FM_ASSERT_OK(fm_net_create(3, &spec, 1, 1, &model.net, &err), &err);
    fm_encoding *enc = (fm_encoding *)1;
    FM_ASSERT_OK(fm_model_encoding(&model, &enc, &err), &err);
    assert_null(enc);
    model.training_json = fm_strdup("{\"lr\":0.1,\"encoding\":\"lon:sincos,depth:log1p\"}");
    FM_ASSERT_OK(fm_model_encoding(&model, &enc, &err), &err);
    assert_non_null(enc);
    assert_int_equal(fm_encoding_n_out(enc), 3);
    fm_encoding_free(enc);
    free(model.training_json);
    model.training_json = fm_strdup("{\"encoding\":\"lon:sincos\"}");
    FM_ASSERT_FAILS(fm_model_encoding(&model, &enc, &err), &err, FM_ERR_FORMAT, "network takes 3");
    free(model.training_json);
    fm_net_free(model.net);
}

static void test_netcdf_predictions_on_the_same_grid(void **state)
{
    (void)state;
    const char *path = write_grid("grid_pred.nc", 0, 0);
    char src[512];
    snprintf(src, sizeof src, "%s", path);
    fm_dataset *ds = NULL;
    fm_error err = {0};
    FM_ASSERT_OK(read_grid(src, "lat,lon,depth", "TEMP", &ds, &err), &err);
    float *pred = malloc(ds->rows * sizeof *pred);
    for (size_t r = 0; r < ds->rows; r++)
        pred[r] = ds->y[r] + 0.5f;
    char *names[1] = {"TEMP"};
    const char *out = fm_test_tmp_path("pred_out.nc");
    char out_path[512];
    snprintf(out_path, sizeof out_path, "%s", out);
    FM_ASSERT_OK(fm_netcdf_write_predictions(src, "TEMP", out_path, ds->grid_index, ds->rows, 1, names, pred, ds->y,
                                             &err),
                 &err);
    int nc, vp, vr, vx, ndims, dimids[4];
    NC_CHECK(nc_open(out_path, NC_NOWRITE, &nc));
    NC_CHECK(nc_inq_varid(nc, "TEMP_prediction", &vp));
    NC_CHECK(nc_inq_varid(nc, "TEMP_residual", &vr));
    NC_CHECK(nc_inq_varid(nc, "XAXTEST", &vx));
    NC_CHECK(nc_inq_var(nc, vp, NULL, NULL, &ndims, dimids, NULL));
    assert_int_equal(ndims, 3);
    char units[32] = "";
    NC_CHECK(nc_get_att_text(nc, vx, "units", units));
    assert_memory_equal(units, "degrees_east", 12);
    double x[NX];
    NC_CHECK(nc_get_var_double(nc, vx, x));
    assert_true(x[0] == 340 && x[NX - 1] == 375); /* coordinates as in the source */
    float p[NZ * NY * NX], res[NZ * NY * NX], fill;
    NC_CHECK(nc_get_var_float(nc, vp, p));
    NC_CHECK(nc_get_var_float(nc, vr, res));
    NC_CHECK(nc_get_att_float(nc, vp, "_FillValue", &fill));
    assert_true(fill == -1e34f);
    for (int i = 0; i < NZ * NY * NX; i++) {
        if (i == 3 || i == 7 || i == 20) {
            assert_true(p[i] == fill && res[i] == fill);
        } else {
            assert_true(p[i] == (float)i + 0.5f);
            assert_true(res[i] == 0.5f);
        }
    }
    char title[16] = "";
    NC_CHECK(nc_get_att_text(nc, NC_GLOBAL, "title", title));
    assert_memory_equal(title, "test grid", 9);
    NC_CHECK(nc_close(nc));
    /* no temporary file is left beside it; a bad destination fails cleanly */
    FM_ASSERT_FAILS(fm_netcdf_write_predictions(src, "TEMP", "/nonexistent-dir/p.nc", ds->grid_index, ds->rows, 1, names,
                                                pred, NULL, &err),
                    &err, FM_ERR_IO, "/nonexistent-dir/p.nc");
    FM_ASSERT_FAILS(fm_netcdf_write_predictions(src, "NOPE", out_path, ds->grid_index, ds->rows, 1, names, pred, NULL,
                                                &err),
                    &err, FM_ERR_ARG, "NOPE");
    free(pred);
    fm_dataset_free(ds);
}

static void test_segy_round_trip_and_windows(void **state)
{
    (void)state;
    enum { TRACES = 4, SAMPLES = 6 };
    float traces[TRACES * SAMPLES];
    for (int i = 0; i < TRACES * SAMPLES; i++)
        traces[i] = (float)i * 0.25f - 1.0f;
    const char *path = fm_test_tmp_path("small.sgy");
    char sgy[512];
    snprintf(sgy, sizeof sgy, "%s", path);
    fm_error err = {0};
    FM_ASSERT_OK(fm_segy_write_traces(sgy, traces, TRACES, SAMPLES, 2000, &err), &err);
    float *back = NULL;
    size_t n;
    int ns, dt;
    FM_ASSERT_OK(fm_segy_read_traces(sgy, &back, &n, &ns, &dt, &err), &err);
    assert_int_equal(n, TRACES);
    assert_int_equal(ns, SAMPLES);
    assert_int_equal(dt, 2000);
    assert_memory_equal(back, traces, sizeof traces);
    free(back);

    fm_dataset *ds = NULL;
    fm_read_options opts = {"window:3,time,trace", NULL, 0};
    FM_ASSERT_OK(fm_data_read(sgy, NULL, &opts, &ds, &err), &err);
    assert_int_equal(ds->rows, TRACES * SAMPLES);
    assert_int_equal(ds->n_in, 5);
    assert_string_equal(ds->in_names[0], "s-1");
    assert_string_equal(ds->in_names[1], "s");
    /* trace 1, sample 0: zero before the trace start */
    const float *x = ds->x + (size_t)(1 * SAMPLES) * 5;
    assert_true(x[0] == 0.0f && x[1] == traces[SAMPLES] && x[2] == traces[SAMPLES + 1]);
    assert_true(x[3] == 0.0f && x[4] == 1.0f);
    x = ds->x + (size_t)(1 * SAMPLES + 2) * 5;
    assert_true(x[3] == 4.0f); /* 2 samples of 2 ms */
    assert_int_equal(ds->grid_index[SAMPLES + 2], SAMPLES + 2);
    fm_dataset_free(ds);
    /* targets from a second SEG-Y file of the same geometry */
    FM_ASSERT_OK(fm_data_read(sgy, sgy, &opts, &ds, &err), &err);
    assert_int_equal(ds->n_out, 1);
    assert_true(ds->y[7] == traces[7]);
    fm_dataset_free(ds);
    opts.inputs = "window:4";
    FM_ASSERT_FAILS(fm_data_read(sgy, NULL, &opts, &ds, &err), &err, FM_ERR_ARG, "odd");

    /* inconsistent trace lengths: a trace header that disagrees */
    size_t size;
    char *bytes = fm_test_read_file(sgy, &size);
    const int trace_bytes = 240 + 4 * SAMPLES;
    char *hdr = bytes + 3600 + 2 * trace_bytes;
    hdr[114] = 0;
    hdr[115] = 9; /* bytes 115-116 (1-based): samples in this trace */
    const char *bad = fm_test_tmp_path("bad_len.sgy");
    fm_test_write_file(bad, bytes, size);
    FM_ASSERT_FAILS(fm_segy_read_traces(bad, &back, &n, &ns, &dt, &err), &err, FM_ERR_FORMAT,
                    "inconsistent trace lengths");
    assert_true(fm_test_contains(err.message, "bad_len.sgy") && fm_test_contains(err.message, "trace 2"));
    /* truncated in the middle of a trace */
    const char *cut = fm_test_tmp_path("cut.sgy");
    fm_test_write_file(cut, bytes, size - 10);
    FM_ASSERT_FAILS(fm_segy_read_traces(cut, &back, &n, &ns, &dt, &err), &err, FM_ERR_FORMAT, "truncated");
    /* not SEG-Y */
    const char *tiny = fm_test_tmp_path("tiny.sgy");
    fm_test_write_text(tiny, "hello");
    FM_ASSERT_FAILS(fm_segy_read_traces(tiny, &back, &n, &ns, &dt, &err), &err, FM_ERR_FORMAT, "not a SEG-Y file");
    memset(bytes + 3200, 0, 400); /* binary header without a format */
    fm_test_write_file(tiny, bytes, size);
    FM_ASSERT_FAILS(fm_segy_read_traces(tiny, &back, &n, &ns, &dt, &err), &err, FM_ERR_FORMAT, "format code");
    free(bytes);
}

/* SEG-Y rev 1 sample counts and intervals are unsigned 16-bit: 40000
 * samples of 40 ms (both above 32767) come back as written. */
static void test_segy_large_sample_count_and_interval(void **state)
{
    (void)state;
    enum { TRACES = 2, SAMPLES = 40000, INTERVAL = 40000 };
    float *traces = malloc(sizeof *traces * TRACES * SAMPLES);
    assert_non_null(traces);
    for (int i = 0; i < TRACES * SAMPLES; i++)
        traces[i] = (float)(i % 1000) * 0.5f;
    char path[512];
    snprintf(path, sizeof path, "%s", fm_test_tmp_path("long.sgy"));
    fm_error err = {0};
    FM_ASSERT_OK(fm_segy_write_traces(path, traces, TRACES, SAMPLES, INTERVAL, &err), &err);
    float *back = NULL;
    size_t n;
    int ns, dt;
    FM_ASSERT_OK(fm_segy_read_traces(path, &back, &n, &ns, &dt, &err), &err);
    assert_int_equal(n, TRACES);
    assert_int_equal(ns, SAMPLES);
    assert_int_equal(dt, INTERVAL);
    assert_memory_equal(back, traces, sizeof *traces * TRACES * SAMPLES);
    free(back);
    fm_dataset *ds = NULL;
    fm_read_options opts = {"time", NULL, 0};
    FM_ASSERT_OK(fm_data_read(path, NULL, &opts, &ds, &err), &err);
    assert_int_equal(ds->rows, TRACES * SAMPLES);
    assert_true(ds->x[SAMPLES - 1] == (float)((SAMPLES - 1) * 40.0)); /* ms */
    fm_dataset_free(ds);
    /* the largest count, 65535, too */
    FM_ASSERT_OK(fm_segy_write_traces(path, traces, 1, 65535, 2000, &err), &err);
    FM_ASSERT_OK(fm_segy_read_traces(path, &back, &n, &ns, &dt, &err), &err);
    assert_int_equal(ns, 65535);
    assert_memory_equal(back, traces, sizeof *traces * 65535);
    free(back);
    free(traces);
}

/* Big-endian 2- and 4-byte fields at a 1-based SEG-Y byte position, as the
 * standard numbers them. */
static void put_be16(char *file, int pos, int value)
{
    file[pos - 1] = (char)((value >> 8) & 0xFF);
    file[pos] = (char)(value & 0xFF);
}

static void put_be32(char *file, int pos, int32_t value)
{
    uint32_t u = (uint32_t)value;
    for (int i = 0; i < 4; i++)
        file[pos - 1 + i] = (char)((u >> (24 - 8 * i)) & 0xFF);
}

static int get_be16(const char *file, int pos)
{
    return (int16_t)(((unsigned char)file[pos - 1] << 8) | (unsigned char)file[pos]);
}

static int32_t get_be32(const char *file, int pos)
{
    uint32_t u = 0;
    for (int i = 0; i < 4; i++)
        u = (u << 8) | (unsigned char)file[pos - 1 + i];
    return (int32_t)u;
}

/* A section as a survey's file would have it: written by fathom, then given
 * an EBCDIC textual header line, a job and line number, IBM float samples
 * (format 1) in a rev. 0 file, and per trace CDP coordinates with scalar
 * -100, inline, crossline and a trace identification code. */
static char *survey_section(const char *path, const float *traces, int n_traces, int n_samples, size_t *size)
{
    fm_error err = {0};
    FM_ASSERT_OK(fm_segy_write_traces(path, traces, (size_t)n_traces, n_samples, 2000, &err), &err);
    char *bytes = fm_test_read_file(path, size);
    static const unsigned char ebcdic_c1[] = {0xC3, 0x40, 0xF1, 0x40, 0xE2, 0xE4, 0xD9, 0xE5, 0xC5, 0xE8}; /* "C 1 SURVEY" */
    memcpy(bytes, ebcdic_c1, sizeof ebcdic_c1);
    put_be32(bytes, 3201, 77);   /* job identification number */
    put_be32(bytes, 3205, 4242); /* line number */
    put_be16(bytes, 3225, 1);    /* IBM float */
    put_be16(bytes, 3501, 0);    /* SEG-Y rev. 0 */
    const int trace_bytes = 240 + 4 * n_samples;
    for (int t = 0; t < n_traces; t++) {
        char *tr = bytes + 3600 + (size_t)t * (size_t)trace_bytes;
        put_be16(tr, 29, 1);                     /* trace identification: seismic data */
        put_be16(tr, 71, -100);                  /* coordinate scalar: divide by 100 */
        put_be32(tr, 181, 50000000 + 2500 * t);  /* CDP X, cm */
        put_be32(tr, 185, 700000000);            /* CDP Y, cm */
        put_be32(tr, 189, 1000 + t);             /* inline */
        put_be32(tr, 193, 2000);                 /* crossline */
        float samples[64];
        assert_true(n_samples <= 64);
        memcpy(samples, traces + (size_t)t * (size_t)n_samples, (size_t)n_samples * sizeof *samples);
        segy_from_native(SEGY_IBM_FLOAT_4_BYTE, n_samples, samples);
        memcpy(tr + 240, samples, (size_t)n_samples * sizeof *samples);
    }
    fm_test_write_file(path, bytes, *size);
    return bytes;
}

/* Predictions written over a survey's section keep its headers: the textual
 * header as it was (EBCDIC), the binary header but for the sample format
 * (now IEEE, 5) and the revision (format 5 is rev. 1), and every trace's 240
 * bytes, coordinates and line numbers included. */
static void test_segy_write_like_keeps_the_headers(void **state)
{
    (void)state;
    enum { TRACES = 3, SAMPLES = 5 };
    float traces[TRACES * SAMPLES], pred[TRACES * SAMPLES];
    for (int i = 0; i < TRACES * SAMPLES; i++) {
        traces[i] = (float)i * 0.5f - 2.0f; /* exact in IBM float */
        pred[i] = (float)i * 0.125f + 1.0f;
    }
    char survey[512], out[512];
    snprintf(survey, sizeof survey, "%s", fm_test_tmp_path("survey.sgy"));
    snprintf(out, sizeof out, "%s", fm_test_tmp_path("survey_pred.sgy"));
    size_t size, out_size;
    char *in = survey_section(survey, traces, TRACES, SAMPLES, &size);
    fm_error err = {0};
    float *back = NULL;
    size_t n;
    int ns, dt;
    FM_ASSERT_OK(fm_segy_read_traces(survey, &back, &n, &ns, &dt, &err), &err); /* the IBM input reads */
    assert_memory_equal(back, traces, sizeof traces);
    free(back);

    FM_ASSERT_OK(fm_segy_write_like(survey, out, pred, TRACES, SAMPLES, &err), &err);
    char *got = fm_test_read_file(out, &out_size);
    assert_int_equal(out_size, size);
    assert_memory_equal(got, in, 3200);
    assert_int_equal(get_be16(got, 3225), 5);
    assert_int_equal(get_be16(got, 3501), 0x0100);
    put_be16(got, 3225, 1); /* the two fields that must change, put back: */
    put_be16(got, 3501, 0); /* the rest of the binary header is the input's */
    assert_memory_equal(got + 3200, in + 3200, 400);
    const int trace_bytes = 240 + 4 * SAMPLES;
    for (int t = 0; t < TRACES; t++) {
        const char *tr = got + 3600 + (size_t)t * (size_t)trace_bytes;
        assert_memory_equal(tr, in + 3600 + (size_t)t * (size_t)trace_bytes, 240);
        assert_int_equal(get_be32(tr, 181), 50000000 + 2500 * t);
        assert_int_equal(get_be32(tr, 189), 1000 + t);
        assert_int_equal(get_be16(tr, 71), -100);
    }
    free(got);
    FM_ASSERT_OK(fm_segy_read_traces(out, &back, &n, &ns, &dt, &err), &err);
    assert_int_equal(n, TRACES);
    assert_int_equal(ns, SAMPLES);
    assert_int_equal(dt, 2000);
    assert_memory_equal(back, pred, sizeof pred);
    free(back);

    /* another geometry would put headers on the wrong traces: refused, and
     * nothing is written */
    char other[512];
    snprintf(other, sizeof other, "%s", fm_test_tmp_path("survey_other.sgy"));
    remove(other);
    FM_ASSERT_FAILS(fm_segy_write_like(survey, other, pred, TRACES - 1, SAMPLES, &err), &err, FM_ERR_ARG,
                    "2 traces x 5 samples");
    assert_true(fm_test_contains(err.message, "3 traces x 5 samples"));
    FM_ASSERT_FAILS(fm_segy_write_like(survey, other, pred, 1, TRACES * SAMPLES, &err), &err, FM_ERR_ARG,
                    "1 traces x 15 samples");
    assert_false(fm_test_file_exists(other));
    const char *tiny = fm_test_tmp_path("survey_tiny.sgy");
    fm_test_write_text(tiny, "not seismic");
    FM_ASSERT_FAILS(fm_segy_write_like(tiny, other, pred, TRACES, SAMPLES, &err), &err, FM_ERR_FORMAT,
                    "not a SEG-Y file");
    assert_false(fm_test_file_exists(other));
    free(in);
}

/* cdp_x and cdp_y are read under the coordinate scalar (bytes 71-72):
 * negative divides, positive multiplies, 0 is 1; the offset and the line
 * numbers are not coordinates and stay as stored. */
static void test_segy_coordinates_apply_the_scalar(void **state)
{
    (void)state;
    enum { TRACES = 3, SAMPLES = 2, ITEMS = 5 };
    float traces[TRACES * SAMPLES] = {0.5f, 1, 1.5f, 2, 2.5f, 3};
    char path[512];
    snprintf(path, sizeof path, "%s", fm_test_tmp_path("scalco.sgy"));
    size_t size;
    char *bytes = survey_section(path, traces, TRACES, SAMPLES, &size); /* scalar -100, CDP in cm */
    const int trace_bytes = 240 + 4 * SAMPLES;
    for (int t = 0; t < TRACES; t++)
        put_be32(bytes + 3600 + (size_t)t * (size_t)trace_bytes, 37, 150 + t); /* offset */
    fm_test_write_file(path, bytes, size);
    fm_error err = {0};
    fm_dataset *ds = NULL;
    fm_read_options opts = {"cdp_x,cdp_y,iline,xline,offset", NULL, 0};
    FM_ASSERT_OK(fm_data_read(path, NULL, &opts, &ds, &err), &err);
    assert_int_equal(ds->n_in, ITEMS);
    for (int t = 0; t < TRACES; t++)
        for (int smp = 0; smp < SAMPLES; smp++) {
            const float *x = ds->x + (size_t)(t * SAMPLES + smp) * ITEMS;
            assert_true(x[0] == 500000.0f + 25.0f * (float)t); /* m */
            assert_true(x[1] == 7000000.0f);
            assert_true(x[2] == (float)(1000 + t) && x[3] == 2000.0f && x[4] == (float)(150 + t));
        }
    fm_dataset_free(ds);
    /* every kind of scalar, on a coordinate of 12345 */
    static const struct {
        int scalar;
        double expect;
    } cases[] = {{-100, 123.45}, {-1000, 12.345}, {-1, 12345}, {0, 12345}, {1, 12345}, {10, 123450}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        put_be16(bytes + 3600, 71, cases[c].scalar);
        put_be32(bytes + 3600, 185, 12345); /* cdp_y of trace 0 */
        fm_test_write_file(path, bytes, size);
        FM_ASSERT_OK(fm_data_read(path, NULL, &opts, &ds, &err), &err);
        if (fabs(ds->x[1] - cases[c].expect) > 1e-6 * cases[c].expect)
            fail_msg("scalar %d: cdp_y %.7g, expected %.7g", cases[c].scalar, ds->x[1], cases[c].expect);
        assert_true(ds->x[2] == 1000.0f); /* iline unscaled */
        fm_dataset_free(ds);
    }
    free(bytes);
}

/* The sample interval: the binary header's, which SEG-Y makes the file's,
 * even against the trace headers; the first trace header's only when the
 * binary header gives none; none at all is 0, unknown, and the "time" input
 * refuses it rather than invent segyio's 4 ms. */
static void test_segy_sample_interval_rule(void **state)
{
    (void)state;
    enum { TRACES = 2, SAMPLES = 4 };
    float traces[TRACES * SAMPLES] = {1, 2, 3, 4, 5, 6, 7, 8};
    char path[512];
    snprintf(path, sizeof path, "%s", fm_test_tmp_path("interval.sgy"));
    fm_error err = {0};
    FM_ASSERT_OK(fm_segy_write_traces(path, traces, TRACES, SAMPLES, 2000, &err), &err);
    size_t size;
    char *bytes = fm_test_read_file(path, &size);
    const int trace_bytes = 240 + 4 * SAMPLES;
    static const struct {
        int bin_us, trace_us, expect_us;
    } cases[] = {{2000, 1000, 2000}, {0, 1000, 1000}, {3000, 0, 3000}, {0, 0, 0}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        put_be16(bytes, 3217, cases[c].bin_us);
        for (int t = 0; t < TRACES; t++)
            put_be16(bytes + 3600 + (size_t)t * (size_t)trace_bytes, 117, cases[c].trace_us);
        fm_test_write_file(path, bytes, size);
        float *back = NULL;
        size_t n;
        int ns, dt = -1;
        FM_ASSERT_OK(fm_segy_read_traces(path, &back, &n, &ns, &dt, &err), &err);
        free(back);
        if (dt != cases[c].expect_us)
            fail_msg("binary header %d us, trace headers %d us: interval %d us, expected %d", cases[c].bin_us,
                     cases[c].trace_us, dt, cases[c].expect_us);
        fm_dataset *ds = NULL;
        fm_read_options opts = {"window:1,time", NULL, 0};
        if (cases[c].expect_us) {
            FM_ASSERT_OK(fm_data_read(path, NULL, &opts, &ds, &err), &err);
            assert_true(ds->x[3 * 2 + 1] == (float)(3 * cases[c].expect_us / 1000.0)); /* sample 3, ms */
            fm_dataset_free(ds);
            continue;
        }
        FM_ASSERT_FAILS(fm_data_read(path, NULL, &opts, &ds, &err), &err, FM_ERR_FORMAT, "sample interval");
        assert_true(fm_test_contains(err.message, "interval.sgy") && fm_test_contains(err.message, "\"time\""));
        assert_null(ds);
        /* inputs that need no interval still read */
        opts.inputs = "window:3,trace";
        FM_ASSERT_OK(fm_data_read(path, NULL, &opts, &ds, &err), &err);
        assert_int_equal(ds->rows, TRACES * SAMPLES);
        fm_dataset_free(ds);
        /* and a section written over it keeps the unknown interval rather
         * than writing one it does not know */
        char out[512];
        snprintf(out, sizeof out, "%s", fm_test_tmp_path("interval_out.sgy"));
        FM_ASSERT_OK(fm_segy_write_like(path, out, traces, TRACES, SAMPLES, &err), &err);
        FM_ASSERT_OK(fm_segy_read_traces(out, &back, &n, &ns, &dt, &err), &err);
        free(back);
        assert_int_equal(dt, 0);
    }
    free(bytes);
}

/* A little-endian file (rev. 2 allows them) read big-endian gives format
 * code 1280 for 5: the message says the file looks byte-swapped. A code that
 * is wrong but not swapped says no such thing. */
static void test_segy_little_endian_format_is_named(void **state)
{
    (void)state;
    float traces[2 * 3] = {1, 2, 3, 4, 5, 6};
    char path[512], out[512];
    snprintf(path, sizeof path, "%s", fm_test_tmp_path("swapped.sgy"));
    snprintf(out, sizeof out, "%s", fm_test_tmp_path("swapped_out.sgy"));
    fm_error err = {0};
    FM_ASSERT_OK(fm_segy_write_traces(path, traces, 2, 3, 2000, &err), &err);
    size_t size;
    char *bytes = fm_test_read_file(path, &size);
    float *back = NULL;
    size_t n;
    int ns, dt;
    static const struct {
        unsigned char hi, lo;
        const char *needle;
        int swapped;
    } cases[] = {{0x05, 0x00, "code 1280, which byte-swapped is 5", 1},
                 {0x01, 0x00, "code 256, which byte-swapped is 1", 1},
                 {0x00, 0x03, "code 3 (expected 1", 0},
                 {0x7F, 0x7F, "code 32639 (expected 1", 0}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        bytes[3224] = (char)cases[c].hi; /* bytes 3225-3226: sample format code */
        bytes[3225] = (char)cases[c].lo;
        fm_test_write_file(path, bytes, size);
        FM_ASSERT_FAILS(fm_segy_read_traces(path, &back, &n, &ns, &dt, &err), &err, FM_ERR_FORMAT, cases[c].needle);
        assert_int_equal(fm_test_contains(err.message, "little-endian"), cases[c].swapped);
        assert_null(back);
        FM_ASSERT_FAILS(fm_segy_write_like(path, out, traces, 2, 3, &err), &err, FM_ERR_FORMAT, "format code");
        assert_int_equal(fm_test_contains(err.message, "little-endian"), cases[c].swapped);
    }
    free(bytes);
}

/* --target-data pairs rows by their place in the file, so two sections must
 * agree in traces and samples, not only in their product: 10 traces of 60
 * samples against 12 of 50 (600 rows each) would pair different samples. */
static void test_segy_targets_need_the_same_geometry(void **state)
{
    (void)state;
    static float traces[12 * 60];
    for (size_t i = 0; i < sizeof traces / sizeof traces[0]; i++)
        traces[i] = (float)i;
    char wide[512], narrow[512];
    snprintf(wide, sizeof wide, "%s", fm_test_tmp_path("geom_10x60.sgy"));
    snprintf(narrow, sizeof narrow, "%s", fm_test_tmp_path("geom_12x50.sgy"));
    fm_error err = {0};
    FM_ASSERT_OK(fm_segy_write_traces(wide, traces, 10, 60, 2000, &err), &err);
    FM_ASSERT_OK(fm_segy_write_traces(narrow, traces, 12, 50, 2000, &err), &err);
    fm_dataset *ds = NULL;
    fm_read_options opts = {"window:1", NULL, 0};
    FM_ASSERT_FAILS(fm_data_read(wide, narrow, &opts, &ds, &err), &err, FM_ERR_FORMAT, "10 traces x 60 samples");
    assert_true(fm_test_contains(err.message, "12 traces x 50 samples"));
    assert_true(fm_test_contains(err.message, "geom_10x60.sgy") && fm_test_contains(err.message, "geom_12x50.sgy"));
    assert_null(ds);
    FM_ASSERT_FAILS(fm_data_read(narrow, wide, &opts, &ds, &err), &err, FM_ERR_FORMAT, "12 traces x 50 samples");
    /* the same geometry still pairs */
    FM_ASSERT_OK(fm_data_read(wide, wide, &opts, &ds, &err), &err);
    assert_int_equal(ds->rows, 600);
    fm_dataset_free(ds);
}

static void test_sine_activation_and_siren_init(void **state)
{
    (void)state;
    fm_activation act;
    fm_error err = {0};
    FM_ASSERT_OK(fm_activation_parse("sine", &act, &err), &err);
    assert_int_equal(act.kind, FM_ACT_SINE);
    assert_true(act.alpha == 30.0);
    assert_true(fabs(fm_act_value(&act, 0.01) - sin(0.3)) < 1e-15);
    assert_true(fabs(fm_act_derivative(&act, 0.01) - 30 * cos(0.3)) < 1e-12);
    assert_true(fm_act_max_derivative(&act) == 30.0);
    FM_ASSERT_OK(fm_activation_parse("sine:2.5", &act, &err), &err);
    char text[32];
    fm_activation_format(&act, text, sizeof text);
    assert_string_equal(text, "sine:2.5");
    FM_ASSERT_FAILS(fm_activation_parse("sine:0", &act, &err), &err, FM_ERR_ARG, "omega0");

    /* SIREN: hidden layers U(+-sqrt(6/n)/omega0), first layer U(+-1/n) */
    FM_ASSERT_OK(fm_activation_parse("sine", &act, &err), &err);
    fm_init init = fm_init_auto_for(&act);
    assert_int_equal(init.kind, FM_INIT_SIREN);
    assert_int_equal(init.uniform, 1);
    const int n_in = 200, n_out = 300;
    assert_true(fabs(fm_init_variance(&init, &act, n_in, n_out) - 2.0 / (n_in * 900.0)) < 1e-18);
    float *w = malloc((size_t)n_in * n_out * sizeof *w);
    fm_rng rng;
    fm_rng_seed(&rng, 3);
    FM_ASSERT_OK(fm_init_fill(&init, &act, n_in, n_out, w, NULL, &rng, &err), &err);
    double bound = sqrt(6.0 / n_in) / 30.0, sq = 0;
    for (int i = 0; i < n_in * n_out; i++) {
        assert_true(fabsf(w[i]) <= bound * (1 + 1e-6));
        sq += (double)w[i] * w[i];
    }
    assert_true(fabs(sq / (n_in * n_out) / (bound * bound / 3) - 1) < 0.02);
    fm_init first;
    FM_ASSERT_OK(fm_init_parse("siren_first", &first, &err), &err);
    fm_init_format(&first, text, sizeof text);
    assert_string_equal(text, "siren_first");
    FM_ASSERT_OK(fm_init_fill(&first, &act, n_in, n_out, w, NULL, &rng, &err), &err);
    sq = 0;
    for (int i = 0; i < n_in * n_out; i++) {
        assert_true(fabsf(w[i]) <= 1.0 / n_in * (1 + 1e-6));
        sq += (double)w[i] * w[i];
    }
    assert_true(fabs(sq / (n_in * n_out) * 3.0 * n_in * n_in - 1) < 0.02);
    free(w);
    /* mean field: with the SIREN rule (sigma_w^2 = 2/omega0^2), a wide sine
     * network keeps an O(1) pre-activation variance across depth */
    double q = 1.0;
    for (int l = 0; l < 20; l++)
        q = fm_meanfield_next_q(&act, q, 2.0 / 900.0, 0.0);
    assert_true(q > 1e-4 && q < 1e-2); /* z ~ N(0, 1/900): omega0 z ~ N(0, 1) */
}

/* ------------------------------------------------ grid blocks (MPI shards) */

/* Files for fm_data_read_shard on NetCDF: a 3-D grid whose outermost
 * dimension is depth, a 2-D grid whose outermost is latitude (ETOPO-like:
 * the wrap-around longitude column repeated, a scaled short), and a 3-D grid
 * on an unlimited (record) time axis. Each has fill values of several kinds,
 * a longitude axis that runs past 360 and an extra input variable on the
 * grid. */
enum { SZ = 7, SY = 4, SX = 6 };
enum { LY2 = 5, LX2 = 9 };
enum { TT = 4, TY = 3, TX = 4 };

static void def_axis(int nc, const char *name, int dim, const char *units, const char *positive, int *var)
{
    NC_CHECK(nc_def_var(nc, name, NC_DOUBLE, 1, &dim, var));
    NC_CHECK(nc_put_att_text(nc, *var, "units", strlen(units), units));
    if (positive)
        NC_CHECK(nc_put_att_text(nc, *var, "positive", strlen(positive), positive));
}

/* DEPTH (7, positive down) x LAT (4) x LON (6: 200 .. 560, a modulo axis
 * whose last column repeats the first + 360). TEMP (float, _FillValue and
 * missing_value -1e34, one NaN, a fill row, a sea floor on the deepest
 * level), SALT (double, fill -1e10) and DEEP (TEMP without its two deepest
 * levels: all fill there). */
static void write_depth_grid(const char *path)
{
    int nc, dz, dy, dx, vz, vy, vx, vt, vs, vd;
    NC_CHECK(nc_create(path, NC_CLOBBER, &nc));
    NC_CHECK(nc_def_dim(nc, "DEPTH", SZ, &dz));
    NC_CHECK(nc_def_dim(nc, "LAT", SY, &dy));
    NC_CHECK(nc_def_dim(nc, "LON", SX, &dx));
    def_axis(nc, "DEPTH", dz, "m", "down", &vz);
    def_axis(nc, "LAT", dy, "degrees_north", NULL, &vy);
    def_axis(nc, "LON", dx, "degrees_east", NULL, &vx);
    NC_CHECK(nc_put_att_text(nc, vx, "modulo", 1, " "));
    int dims[3] = {dz, dy, dx};
    float tfill = -1e34f;
    double sfill = -1e10;
    NC_CHECK(nc_def_var(nc, "TEMP", NC_FLOAT, 3, dims, &vt));
    NC_CHECK(nc_put_att_float(nc, vt, "_FillValue", NC_FLOAT, 1, &tfill));
    NC_CHECK(nc_put_att_float(nc, vt, "missing_value", NC_FLOAT, 1, &tfill));
    NC_CHECK(nc_def_var(nc, "SALT", NC_DOUBLE, 3, dims, &vs));
    NC_CHECK(nc_put_att_double(nc, vs, "_FillValue", NC_DOUBLE, 1, &sfill));
    NC_CHECK(nc_def_var(nc, "DEEP", NC_FLOAT, 3, dims, &vd));
    NC_CHECK(nc_put_att_float(nc, vd, "_FillValue", NC_FLOAT, 1, &tfill));
    NC_CHECK(nc_enddef(nc));
    double z[SZ] = {0, 10, 20, 50, 100, 200, 500}, y[SY] = {-60, -20, 20, 60};
    double x[SX] = {200, 260, 320, 380, 440, 560};
    NC_CHECK(nc_put_var_double(nc, vz, z));
    NC_CHECK(nc_put_var_double(nc, vy, y));
    NC_CHECK(nc_put_var_double(nc, vx, x));
    enum { N = SZ * SY * SX };
    float t[N], deep[N];
    double salt[N];
    for (int i = 0; i < N; i++) {
        int level = i / (SY * SX), row = (i / SX) % SY;
        t[i] = 0.25f * (float)i - 3.0f;
        if (level == SZ - 1 && row > 0)
            t[i] = tfill; /* the sea floor: only the first row of the deepest level is water */
        salt[i] = 34.0 + 0.01 * i;
        deep[i] = level >= SZ - 2 ? tfill : t[i];
    }
    t[5] = tfill;
    t[17] = NAN;
    for (int i = 30; i < 36; i++)
        t[i] = tfill; /* a whole row of level 1 */
    salt[40] = sfill;
    salt[100] = sfill;
    NC_CHECK(nc_put_var_float(nc, vt, t));
    NC_CHECK(nc_put_var_double(nc, vs, salt));
    NC_CHECK(nc_put_var_float(nc, vd, deep));
    NC_CHECK(nc_close(nc));
}

/* ETOPO-like: LAT (5) x LON (9: 0 .. 360, the last repeating the first),
 * ROSE a short with scale_factor, add_offset and missing_value, SLOPE a float
 * with one NaN. */
static void write_lat_grid(const char *path)
{
    int nc, dy, dx, vy, vx, vr, vs;
    NC_CHECK(nc_create(path, NC_CLOBBER, &nc));
    NC_CHECK(nc_def_dim(nc, "ETOPOY", LY2, &dy));
    NC_CHECK(nc_def_dim(nc, "ETOPOX", LX2, &dx));
    def_axis(nc, "ETOPOY", dy, "degrees_north", NULL, &vy);
    def_axis(nc, "ETOPOX", dx, "degrees_east", NULL, &vx);
    int dims[2] = {dy, dx};
    short missing = -999;
    double scale = 0.5, offset = 10;
    NC_CHECK(nc_def_var(nc, "ROSE", NC_SHORT, 2, dims, &vr));
    NC_CHECK(nc_put_att_short(nc, vr, "missing_value", NC_SHORT, 1, &missing));
    NC_CHECK(nc_put_att_double(nc, vr, "scale_factor", NC_DOUBLE, 1, &scale));
    NC_CHECK(nc_put_att_double(nc, vr, "add_offset", NC_DOUBLE, 1, &offset));
    NC_CHECK(nc_def_var(nc, "SLOPE", NC_FLOAT, 2, dims, &vs));
    NC_CHECK(nc_enddef(nc));
    double y[LY2] = {-80, -40, 0, 40, 80}, x[LX2];
    for (int i = 0; i < LX2; i++)
        x[i] = 45.0 * i;
    NC_CHECK(nc_put_var_double(nc, vy, y));
    NC_CHECK(nc_put_var_double(nc, vx, x));
    short rose[LY2 * LX2];
    float slope[LY2 * LX2];
    for (int i = 0; i < LY2 * LX2; i++) {
        rose[i] = (short)(7 * i - 100);
        slope[i] = 0.1f * (float)(i % 7);
    }
    rose[3] = missing;
    rose[20] = missing;
    slope[33] = NAN;
    NC_CHECK(nc_put_var_short(nc, vr, rose));
    NC_CHECK(nc_put_var_float(nc, vs, slope));
    NC_CHECK(nc_close(nc));
}

/* TIME (unlimited, 4 records, days since 2000-01-15) x LAT (3) x LON (4):
 * SST with _FillValue 1e20 on land, AIRT another variable on the grid. */
static void write_time_grid(const char *path)
{
    int nc, dt, dy, dx, vt, vy, vx, vs, va;
    NC_CHECK(nc_create(path, NC_CLOBBER, &nc));
    NC_CHECK(nc_def_dim(nc, "TIME", NC_UNLIMITED, &dt));
    NC_CHECK(nc_def_dim(nc, "LAT", TY, &dy));
    NC_CHECK(nc_def_dim(nc, "LON", TX, &dx));
    def_axis(nc, "TIME", dt, "days since 2000-01-15", NULL, &vt);
    def_axis(nc, "LAT", dy, "degrees_north", NULL, &vy);
    def_axis(nc, "LON", dx, "degrees_east", NULL, &vx);
    int dims[3] = {dt, dy, dx};
    float fill = 1e20f;
    NC_CHECK(nc_def_var(nc, "SST", NC_FLOAT, 3, dims, &vs));
    NC_CHECK(nc_put_att_float(nc, vs, "_FillValue", NC_FLOAT, 1, &fill));
    NC_CHECK(nc_def_var(nc, "AIRT", NC_FLOAT, 3, dims, &va));
    NC_CHECK(nc_enddef(nc));
    double y[TY] = {-30, 0, 30}, x[TX] = {0, 90, 180, 270};
    NC_CHECK(nc_put_var_double(nc, vy, y));
    NC_CHECK(nc_put_var_double(nc, vx, x));
    for (size_t k = 0; k < TT; k++) {
        double day = 30.0 * (double)k;
        NC_CHECK(nc_put_var1_double(nc, vt, &k, &day));
        float sst[TY * TX], airt[TY * TX];
        for (int i = 0; i < TY * TX; i++) {
            sst[i] = i % 5 == 2 ? fill : 20.0f + (float)k + 0.5f * (float)i;
            airt[i] = 15.0f - (float)k + 0.25f * (float)i;
        }
        size_t start[3] = {k, 0, 0}, count[3] = {1, TY, TX};
        NC_CHECK(nc_put_vara_float(nc, vs, start, count, sst));
        NC_CHECK(nc_put_vara_float(nc, va, start, count, airt));
    }
    NC_CHECK(nc_close(nc));
}

/* Longitude outermost: LON (7: 0 .. 360, the last repeating the first) x
 * LAT (3), H a float without attributes (netCDF's default fill marks the one
 * cell left unwritten). */
static void write_lon_grid(const char *path)
{
    int nc, dx, dy, vx, vy, vh;
    NC_CHECK(nc_create(path, NC_CLOBBER, &nc));
    NC_CHECK(nc_def_dim(nc, "LON", 7, &dx));
    NC_CHECK(nc_def_dim(nc, "LAT", 3, &dy));
    def_axis(nc, "LON", dx, "degrees_east", NULL, &vx);
    def_axis(nc, "LAT", dy, "degrees_north", NULL, &vy);
    int dims[2] = {dx, dy};
    NC_CHECK(nc_def_var(nc, "H", NC_FLOAT, 2, dims, &vh));
    NC_CHECK(nc_enddef(nc));
    double x[7] = {0, 60, 120, 180, 240, 300, 360}, y[3] = {-30, 0, 30};
    NC_CHECK(nc_put_var_double(nc, vx, x));
    NC_CHECK(nc_put_var_double(nc, vy, y));
    float h[21];
    for (int i = 0; i < 21; i++)
        h[i] = 100.0f - 3.0f * (float)i;
    NC_CHECK(nc_put_var_float(nc, vh, h));
    size_t hole[2] = {2, 1};
    float unwritten = NC_FILL_FLOAT;
    NC_CHECK(nc_put_var1_float(nc, vh, hole, &unwritten));
    NC_CHECK(nc_close(nc));
}

/* The block [first, last) of n outer indices that shard s of k reads: the
 * first n % k blocks one index longer. */
static void expected_block(size_t n, int s, int k, size_t *first, size_t *last)
{
    size_t base = n / (size_t)k, extra = n % (size_t)k, i = (size_t)s;
    *first = i * base + (i < extra ? i : extra);
    *last = *first + base + (i < extra ? 1 : 0);
}

/* Shards of K = 1, 2, 3, 5 and of more processes than the outermost dimension
 * has indices, against one read of everything: concatenated in order they are
 * its rows bit for bit (inputs, targets, grid indices, longitudes; skipped
 * cells add up), and each holds exactly the rows whose grid cells lie in its
 * own block of outer indices. A shard past the last index, or whose block
 * holds none of the rows, fails, saying so. */
static void check_grid_shards(const char *path, const char *inputs, const char *targets, size_t outer, size_t inner)
{
    fm_error err = {0};
    fm_read_options opts = {inputs, targets, 0};
    fm_dataset *whole = NULL;
    FM_ASSERT_OK(fm_data_read(path, NULL, &opts, &whole, &err), &err);
    assert_non_null(whole->grid_index);
    const int ks[] = {1, 2, 3, 5, (int)outer + 2};
    for (size_t t = 0; t < sizeof ks / sizeof ks[0]; t++) {
        const int k = ks[t];
        size_t row = 0, skipped = 0, empty = 0;
        for (int s = 0; s < k; s++) {
            size_t first, last;
            expected_block(outer, s, k, &first, &last);
            fm_dataset *part = NULL;
            if (first == last) {
                FM_ASSERT_FAILS(fm_data_read_shard(path, NULL, &opts, s, k, &part, &err), &err, FM_ERR_ARG,
                                "fewer than the");
                assert_true(fm_test_contains(err.message, "no block to read"));
                assert_null(part);
                continue;
            }
            /* The whole read's rows in this block, which starts where the
             * previous block's rows ended. */
            size_t n = 0;
            while (row + n < whole->rows && whole->grid_index[row + n] / inner < last)
                n++;
            assert_true(n == 0 || whole->grid_index[row] / inner >= first);
            fm_status st = fm_data_read_shard(path, NULL, &opts, s, k, &part, &err);
            if (n == 0) {
                /* No rows here (no valid cell, or none in the selected part):
                 * the shard fails, saying which block. */
                if (st != FM_ERR_ARG || !fm_test_contains(err.message, "block"))
                    fail_msg("shard %d of %d of %s: expected an empty block's error, got %s (%s)", s, k, path,
                             fm_status_name(st), err.message);
                assert_true(fm_test_contains(err.message, "no valid cell") ||
                            fm_test_contains(err.message, "has no rows in the block"));
                assert_null(part);
                empty++;
                continue;
            }
            FM_ASSERT_OK(st, &err);
            assert_int_equal(part->rows, n);
            assert_int_equal(part->n_in, whole->n_in);
            assert_int_equal(part->n_out, whole->n_out);
            for (size_t r = 0; r < part->rows; r++)
                assert_true(part->grid_index[r] >= first * inner && part->grid_index[r] < last * inner);
            assert_memory_equal(part->x, whole->x + row * (size_t)whole->n_in, n * (size_t)whole->n_in * sizeof(float));
            assert_memory_equal(part->y, whole->y + row * (size_t)whole->n_out, n * (size_t)whole->n_out * sizeof(float));
            assert_memory_equal(part->grid_index, whole->grid_index + row, n * sizeof(uint64_t));
            assert_true((part->lon == NULL) == (whole->lon == NULL));
            if (whole->lon)
                assert_memory_equal(part->lon, whole->lon + row, n * sizeof(double));
            for (int j = 0; j < whole->n_in; j++)
                assert_string_equal(part->in_names[j], whole->in_names[j]);
            assert_true((part->encoding == NULL) == (whole->encoding == NULL));
            if (whole->encoding)
                assert_string_equal(part->encoding, whole->encoding);
            skipped += part->skipped;
            row += n;
            fm_dataset_free(part);
        }
        assert_int_equal(row, whole->rows);
        /* Up to 3 processes, every block of these grids holds rows; the
         * cells a failed shard would have skipped are not counted. */
        assert_true(k > 3 || empty == 0);
        if (empty == 0)
            assert_int_equal(skipped, whole->skipped);
    }
    fm_dataset_free(whole);
}

static void test_netcdf_shards_are_grid_blocks(void **state)
{
    (void)state;
    char depth[512], lat[512], seasons[512], lon[512], sel[600];
    snprintf(depth, sizeof depth, "%s", fm_test_tmp_path("shard_depth.nc"));
    snprintf(lon, sizeof lon, "%s", fm_test_tmp_path("shard_lon.nc"));
    snprintf(lat, sizeof lat, "%s", fm_test_tmp_path("shard_lat.nc"));
    snprintf(seasons, sizeof seasons, "%s", fm_test_tmp_path("shard_time.nc"));
    write_depth_grid(depth);
    write_lat_grid(lat);
    write_time_grid(seasons);
    write_lon_grid(lon);

    /* Depth outermost: axes and another variable as inputs, plain and
     * encoded (with Fourier features), two targets, and the split selectors,
     * which keep the same cells in every block. */
    check_grid_shards(depth, "lat,lon,depth,SALT", "TEMP", SZ, SY * SX);
    check_grid_shards(depth, "depth:log1p,lat:div:90,LON:sincos,SALT,fourier:4:1:3", "TEMP", SZ, SY * SX);
    check_grid_shards(depth, "lat,lon", "TEMP,SALT", SZ, SY * SX);
    snprintf(sel, sizeof sel, "%s#lonband:test", depth);
    check_grid_shards(sel, "lat,lon,depth", "TEMP", SZ, SY * SX);
    snprintf(sel, sizeof sel, "%s#random10:train", depth);
    check_grid_shards(sel, "lat,lon:sincos,depth", "TEMP", SZ, SY * SX);
    /* Latitude outermost, the repeated column left out in every block. */
    check_grid_shards(lat, "lat,lon,SLOPE", "ROSE", LY2, LX2);
    check_grid_shards(lat, "lat:div:90,lon:sincos,fourier:3:0.5", "ROSE", LY2, LX2);
    /* An unlimited time axis outermost, months from it. */
    check_grid_shards(seasons, "month:sincos:12,lat,lon:sincos,AIRT", "SST", TT, TY * TX);
    /* Longitude outermost: the repeated column is the last block's last
     * index, recognised by its place in the whole grid. */
    check_grid_shards(lon, "lat,lon", "H", 7, 3);

    /* The whole-grid facts still hold in the blocks: the repeated column
     * (index 8, 360 = 0 + 360) is in no block, longitudes past 360 wrap. */
    fm_error err = {0};
    fm_read_options opts = {"lat,lon", "ROSE", 0};
    fm_dataset *part = NULL;
    for (int s = 0; s < 3; s++) {
        FM_ASSERT_OK(fm_data_read_shard(lat, NULL, &opts, s, 3, &part, &err), &err);
        for (size_t r = 0; r < part->rows; r++) {
            assert_true(part->grid_index[r] % LX2 != LX2 - 1);
            assert_true(part->lon[r] >= 0 && part->lon[r] < 360);
            /* scale_factor and add_offset applied: 0.5 * (7 i - 100) + 10 */
            assert_true(part->y[r] == (float)(0.5 * (7.0 * (double)part->grid_index[r] - 100) + 10));
        }
        fm_dataset_free(part);
    }
    opts = (fm_read_options){"lon", "TEMP", 0};
    FM_ASSERT_OK(fm_data_read_shard(depth, NULL, &opts, 1, 2, &part, &err), &err); /* levels 4-6 */
    for (size_t r = 0; r < part->rows; r++) {
        static const double wrapped[SX] = {200, 260, 320, 20, 80};
        size_t i = part->grid_index[r] % SX;
        assert_true(i != SX - 1);
        assert_true(part->lon[r] == wrapped[i] && part->x[r] == (float)wrapped[i]);
    }
    fm_dataset_free(part);
}

/* A block with no valid cell: DEEP is all fill on the two deepest levels,
 * which are the whole block of the last of 3 processes (levels 5-6) but only
 * part of the last of 2 (levels 4-6). */
static void test_netcdf_empty_grid_block_fails(void **state)
{
    (void)state;
    char depth[512];
    snprintf(depth, sizeof depth, "%s", fm_test_tmp_path("shard_empty.nc"));
    write_depth_grid(depth);
    fm_error err = {0};
    fm_read_options opts = {"lat,lon,depth", "DEEP", 0};
    fm_dataset *part = NULL;
    FM_ASSERT_OK(fm_data_read_shard(depth, NULL, &opts, 1, 2, &part, &err), &err);
    assert_int_equal(part->rows, SY * (SX - 1)); /* level 4 only, the repeated column left out */
    fm_dataset_free(part);
    for (int s = 0; s < 2; s++) {
        FM_ASSERT_OK(fm_data_read_shard(depth, NULL, &opts, s, 3, &part, &err), &err);
        fm_dataset_free(part);
    }
    FM_ASSERT_FAILS(fm_data_read_shard(depth, NULL, &opts, 2, 3, &part, &err), &err, FM_ERR_ARG,
                    "holds no valid cell");
    assert_true(fm_test_contains(err.message, "shard_empty.nc"));
    assert_true(fm_test_contains(err.message, "DEEP"));
    assert_true(fm_test_contains(err.message, "process 2 of 3"));
    assert_true(fm_test_contains(err.message, "DEPTH indices 5 to 6 of 7"));
    assert_null(part);
    /* More processes than levels: those past the last level have no block. */
    FM_ASSERT_FAILS(fm_data_read_shard(depth, NULL, &opts, 7, 8, &part, &err), &err, FM_ERR_ARG,
                    "fewer than the 8 processes");
    assert_true(fm_test_contains(err.message, "use at most 7 processes"));
    assert_null(part);
    /* A split selector whose part of a block is empty says whose block: the
     * random10 test cells of TEMP, none of them on the deepest level (5 water
     * cells), the block of the last of 7 processes. */
    char sel[600];
    snprintf(sel, sizeof sel, "%s#random10:test", depth);
    opts = (fm_read_options){"lat,lon,depth", "TEMP", 0};
    FM_ASSERT_OK(fm_data_read(sel, NULL, &opts, &part, &err), &err);
    assert_true(part->rows > 0);
    for (size_t r = 0; r < part->rows; r++)
        assert_true(part->grid_index[r] < (SZ - 1) * SY * SX);
    fm_dataset_free(part);
    FM_ASSERT_OK(fm_data_read_shard(sel, NULL, &opts, 0, 7, &part, &err), &err);
    fm_dataset_free(part);
    FM_ASSERT_FAILS(fm_data_read_shard(sel, NULL, &opts, 6, 7, &part, &err), &err, FM_ERR_ARG,
                    "has no rows in the block of process 6 of 7");
    assert_null(part);
}

/* A shard reads its block and nothing else: in a netCDF-4 file whose variable
 * is stored one chunk per level with Fletcher-32 checksums, the chunk of one
 * level is damaged. Reading everything fails on the checksum; the shards
 * whose blocks do not hold that level read without noticing, and only the
 * shard that holds it fails. */
static void test_netcdf_shard_reads_only_its_block(void **state)
{
    (void)state;
    enum { CZ = 6, CY = 4, CX = 5, CELLS = CY * CX, BAD = 4 };
    char path[512];
    snprintf(path, sizeof path, "%s", fm_test_tmp_path("shard_chunks.nc"));
    int nc, dz, dy, dx, vy, vx, vv;
    NC_CHECK(nc_create(path, NC_CLOBBER | NC_NETCDF4, &nc));
    NC_CHECK(nc_def_dim(nc, "Z", CZ, &dz));
    NC_CHECK(nc_def_dim(nc, "LAT", CY, &dy));
    NC_CHECK(nc_def_dim(nc, "LON", CX, &dx));
    def_axis(nc, "LAT", dy, "degrees_north", NULL, &vy);
    def_axis(nc, "LON", dx, "degrees_east", NULL, &vx);
    int dims[3] = {dz, dy, dx};
    NC_CHECK(nc_def_var(nc, "V", NC_FLOAT, 3, dims, &vv));
    size_t chunk[3] = {1, CY, CX};
    NC_CHECK(nc_def_var_chunking(nc, vv, NC_CHUNKED, chunk));
    NC_CHECK(nc_def_var_fletcher32(nc, vv, NC_FLETCHER32));
    NC_CHECK(nc_enddef(nc));
    double y[CY] = {-45, -15, 15, 45}, x[CX] = {0, 72, 144, 216, 288};
    NC_CHECK(nc_put_var_double(nc, vy, y));
    NC_CHECK(nc_put_var_double(nc, vx, x));
    float v[CZ * CELLS];
    for (int i = 0; i < CZ * CELLS; i++)
        v[i] = 1000.0f * (float)(i / CELLS) + (float)(i % CELLS) + 0.5f;
    NC_CHECK(nc_put_var_float(nc, vv, v));
    NC_CHECK(nc_close(nc));

    /* Level BAD's chunk is its CELLS floats as they are (no compression):
     * find them in the file and change one byte. */
    size_t size;
    unsigned char *bytes = (unsigned char *)fm_test_read_file(path, &size);
    const unsigned char *level = (const unsigned char *)(v + BAD * CELLS);
    size_t at = SIZE_MAX, found = 0;
    for (size_t i = 0; i + sizeof(float) * CELLS <= size; i++)
        if (!memcmp(bytes + i, level, sizeof(float) * CELLS)) {
            at = i;
            found++;
        }
    assert_int_equal(found, 1);
    bytes[at + 2 * sizeof(float) + 1] ^= 0x40;
    fm_test_write_file(path, bytes, size);
    free(bytes);

    fm_error err = {0};
    fm_read_options opts = {"lat,lon", "V", 0};
    fm_dataset *ds = NULL;
    FM_ASSERT_FAILS(fm_data_read(path, NULL, &opts, &ds, &err), &err, FM_ERR_FORMAT, "cannot read variable V");
    /* 3 processes: levels 0-1, 2-3 read; 4-5 holds the damage */
    for (int s = 0; s < 2; s++) {
        FM_ASSERT_OK(fm_data_read_shard(path, NULL, &opts, s, 3, &ds, &err), &err);
        assert_int_equal(ds->rows, 2 * CELLS);
        for (size_t r = 0; r < ds->rows; r++) {
            assert_int_equal(ds->grid_index[r], (size_t)s * 2 * CELLS + r);
            assert_true(ds->y[r] == v[ds->grid_index[r]]);
        }
        fm_dataset_free(ds);
    }
    FM_ASSERT_FAILS(fm_data_read_shard(path, NULL, &opts, 2, 3, &ds, &err), &err, FM_ERR_FORMAT,
                    "cannot read variable V");
    assert_null(ds);
    /* 6 processes: one level each; only level BAD's fails */
    for (int s = 0; s < CZ; s++) {
        fm_status st = fm_data_read_shard(path, NULL, &opts, s, CZ, &ds, &err);
        assert_int_equal(st, s == BAD ? FM_ERR_FORMAT : FM_OK);
        fm_dataset_free(ds);
        ds = NULL;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_netcdf_cells_become_rows),
        cmocka_unit_test(test_netcdf_duplicated_longitude_column_is_dropped),
        cmocka_unit_test(test_netcdf_bad_input),
        cmocka_unit_test(test_netcdf_data_beyond_the_end_is_refused),
        cmocka_unit_test(test_holdout_rules_match_geobaselines),
        cmocka_unit_test(test_encoding_spec_and_values),
        cmocka_unit_test(test_encoding_on_csv_and_in_a_model),
        cmocka_unit_test(test_netcdf_predictions_on_the_same_grid),
        cmocka_unit_test(test_segy_round_trip_and_windows),
        cmocka_unit_test(test_segy_large_sample_count_and_interval),
        cmocka_unit_test(test_segy_targets_need_the_same_geometry),
        cmocka_unit_test(test_segy_write_like_keeps_the_headers),
        cmocka_unit_test(test_segy_coordinates_apply_the_scalar),
        cmocka_unit_test(test_segy_sample_interval_rule),
        cmocka_unit_test(test_segy_little_endian_format_is_named),
        cmocka_unit_test(test_sine_activation_and_siren_init),
        cmocka_unit_test(test_netcdf_shards_are_grid_blocks),
        cmocka_unit_test(test_netcdf_empty_grid_block_fails),
        cmocka_unit_test(test_netcdf_shard_reads_only_its_block),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
