/* Geoscience data: NetCDF grids in and out, fill values per type, Ferret
 * modulo longitudes, the geobaselines splits, input encodings, SEG-Y, the sine
 * activation and the SIREN initialisers. Small NetCDF files are written here
 * with the netCDF-C API. */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_netcdf_cells_become_rows),
        cmocka_unit_test(test_netcdf_duplicated_longitude_column_is_dropped),
        cmocka_unit_test(test_netcdf_bad_input),
        cmocka_unit_test(test_holdout_rules_match_geobaselines),
        cmocka_unit_test(test_encoding_spec_and_values),
        cmocka_unit_test(test_encoding_on_csv_and_in_a_model),
        cmocka_unit_test(test_netcdf_predictions_on_the_same_grid),
        cmocka_unit_test(test_segy_round_trip_and_windows),
        cmocka_unit_test(test_sine_activation_and_siren_init),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
