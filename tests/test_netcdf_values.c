/* How stored NetCDF numbers become values (src/io/netcdf_values.c), for the
 * grid reader (fm_data_read) and the map reader (fm_grid_slice_read): packed
 * variables and coordinates (scale_factor, add_offset), _Unsigned bytes,
 * valid ranges, missing values of another type than the variable, damaged
 * packing attributes, text coordinates, missing coordinates, and a variable
 * that shares a dimension's name without being its coordinate variable.
 * Files are written with the netCDF-C API; expected values are computed here
 * from the conventions' formulas (value = stored * scale + offset; an
 * unsigned byte b stored as the signed byte b - 256 when b > 127). */
#include "test_support.h"

#include "core/internal.h"

#include <math.h>
#include <netcdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NC_CHECK(call)                                                                                             \
    do {                                                                                                           \
        int nc_rc_ = (call);                                                                                       \
        if (nc_rc_ != NC_NOERR)                                                                                    \
            fail_msg("%s: %s", #call, nc_strerror(nc_rc_));                                                        \
    } while (0)

enum { NLAT = 4, NLON = 5, CELLS = NLAT * NLON };

typedef struct grid_file {
    int nc, lat_dim, lon_dim, lat, lon;
} grid_file;

/* A classic file with lat(lat) = -30, -10, 10, 30 and lon(lon) = 0, 72, ...
 * as doubles with their CF units; variables are added by the caller. */
static grid_file grid_begin(const char *path, int mode)
{
    grid_file g;
    NC_CHECK(nc_create(path, NC_CLOBBER | mode, &g.nc));
    NC_CHECK(nc_def_dim(g.nc, "lat", NLAT, &g.lat_dim));
    NC_CHECK(nc_def_dim(g.nc, "lon", NLON, &g.lon_dim));
    NC_CHECK(nc_def_var(g.nc, "lat", NC_DOUBLE, 1, &g.lat_dim, &g.lat));
    NC_CHECK(nc_put_att_text(g.nc, g.lat, "units", 13, "degrees_north"));
    NC_CHECK(nc_def_var(g.nc, "lon", NC_DOUBLE, 1, &g.lon_dim, &g.lon));
    NC_CHECK(nc_put_att_text(g.nc, g.lon, "units", 12, "degrees_east"));
    return g;
}

static void grid_put_axes(const grid_file *g)
{
    const double lat[NLAT] = {-30, -10, 10, 30}, lon[NLON] = {0, 72, 144, 216, 288};
    NC_CHECK(nc_put_var_double(g->nc, g->lat, lat));
    NC_CHECK(nc_put_var_double(g->nc, g->lon, lon));
}

static int def_grid_var(const grid_file *g, const char *name, nc_type type)
{
    int dims[2] = {g->lat_dim, g->lon_dim}, v;
    NC_CHECK(nc_def_var(g->nc, name, type, 2, dims, &v));
    return v;
}

static fm_status read_grid(const char *path, const char *inputs, const char *targets, fm_dataset **ds, fm_error *err)
{
    const fm_read_options opts = {inputs, targets, 0};
    *ds = NULL;
    return fm_data_read(path, NULL, &opts, ds, err);
}

/* Unsigned bytes 0..249 in steps of 13, stored signed with _Unsigned, packed
 * by 0.2 and -2: every value comes back as b * 0.2 - 2, also on a map. */
static void test_unsigned_packed_bytes(void **state)
{
    (void)state;
    const char *path = fm_test_tmp_path("nv_ubyte.nc");
    grid_file g = grid_begin(path, 0);
    int v = def_grid_var(&g, "T", NC_BYTE);
    NC_CHECK(nc_put_att_text(g.nc, v, "_Unsigned", 4, "true"));
    const double scale = 0.2, offset = -2.0;
    NC_CHECK(nc_put_att_double(g.nc, v, "scale_factor", NC_DOUBLE, 1, &scale));
    NC_CHECK(nc_put_att_double(g.nc, v, "add_offset", NC_DOUBLE, 1, &offset));
    const signed char fill = -1; /* 255 unsigned */
    NC_CHECK(nc_put_att_schar(g.nc, v, "_FillValue", NC_BYTE, 1, &fill));
    NC_CHECK(nc_enddef(g.nc));
    grid_put_axes(&g);
    signed char stored[CELLS];
    int unsigned_value[CELLS];
    for (int c = 0; c < CELLS; c++) {
        unsigned_value[c] = c == 7 ? 255 : (c * 13) % 250;
        stored[c] = (signed char)(unsigned_value[c] > 127 ? unsigned_value[c] - 256 : unsigned_value[c]);
    }
    NC_CHECK(nc_put_var_schar(g.nc, v, stored));
    NC_CHECK(nc_close(g.nc));

    fm_error err;
    fm_dataset *ds;
    FM_ASSERT_OK(read_grid(path, "lat,lon", "T", &ds, &err), &err);
    assert_int_equal(ds->rows, CELLS - 1); /* cell 7 holds the fill value */
    for (size_t r = 0; r < ds->rows; r++) {
        int c = (int)ds->grid_index[r];
        assert_true(c != 7);
        assert_float_equal(ds->y[r], (float)(unsigned_value[c] * 0.2 - 2.0), 1e-5);
    }
    fm_dataset_free(ds);
    fm_grid_slice slice;
    FM_ASSERT_OK(fm_grid_slice_read(path, "T", 0, &slice, &err), &err);
    for (int c = 0; c < CELLS; c++) {
        double want = c == 7 ? NAN : unsigned_value[c] * 0.2 - 2.0;
        double got = slice.values[c]; /* [lat][lon], as the file */
        if (c == 7)
            assert_true(isnan(got));
        else
            assert_float_equal(got, want, 1e-12);
    }
    fm_grid_slice_free(&slice);
}

/* Coordinates stored as shorts in hundredths of a degree: inputs, longitude
 * wrapping and the map's axes see degrees. */
static void test_packed_coordinates(void **state)
{
    (void)state;
    const char *path = fm_test_tmp_path("nv_coords.nc");
    int nc, dims[2], lat, lon, v;
    NC_CHECK(nc_create(path, NC_CLOBBER, &nc));
    NC_CHECK(nc_def_dim(nc, "lat", NLAT, &dims[0]));
    NC_CHECK(nc_def_dim(nc, "lon", NLON, &dims[1]));
    NC_CHECK(nc_def_var(nc, "lat", NC_SHORT, 1, &dims[0], &lat));
    NC_CHECK(nc_def_var(nc, "lon", NC_SHORT, 1, &dims[1], &lon));
    const float hundredth = 0.01f;
    NC_CHECK(nc_put_att_float(nc, lat, "scale_factor", NC_FLOAT, 1, &hundredth));
    NC_CHECK(nc_put_att_float(nc, lon, "scale_factor", NC_FLOAT, 1, &hundredth));
    NC_CHECK(nc_put_att_text(nc, lon, "units", 12, "degrees_east"));
    NC_CHECK(nc_def_var(nc, "T", NC_FLOAT, 2, dims, &v));
    NC_CHECK(nc_enddef(nc));
    const short lat_stored[NLAT] = {-4550, -1525, 1525, 4550};
    const short lon_stored[NLON] = {-18000, -9000, 0, 9000, 17950}; /* -180 .. 179.5 */
    NC_CHECK(nc_put_var_short(nc, lat, lat_stored));
    NC_CHECK(nc_put_var_short(nc, lon, lon_stored));
    float t[CELLS];
    for (int c = 0; c < CELLS; c++)
        t[c] = (float)c;
    NC_CHECK(nc_put_var_float(nc, v, t));
    NC_CHECK(nc_close(nc));

    fm_error err;
    fm_dataset *ds;
    FM_ASSERT_OK(read_grid(path, "lat,lon", "T", &ds, &err), &err);
    assert_int_equal(ds->rows, CELLS);
    for (size_t r = 0; r < ds->rows; r++) {
        size_t c = ds->grid_index[r];
        double want_lat = lat_stored[c / NLON] * (double)hundredth;
        double want_lon = lon_stored[c % NLON] * (double)hundredth;
        want_lon = want_lon < 0 ? want_lon + 360.0 : want_lon; /* wrapped to [0, 360) */
        assert_float_equal(ds->x[r * 2], (float)want_lat, 1e-4);
        assert_float_equal(ds->x[r * 2 + 1], (float)want_lon, 1e-3);
        assert_float_equal(ds->lon[r], want_lon, 1e-3);
    }
    fm_dataset_free(ds);
    fm_grid_slice slice;
    FM_ASSERT_OK(fm_grid_slice_read(path, "T", 0, &slice, &err), &err);
    assert_float_equal(slice.lat[0], -45.5, 1e-5);
    assert_float_equal(slice.lon[4], 179.5, 1e-5);
    fm_grid_slice_free(&slice);
}

/* Missing cells by valid_range (stored units), by valid_min/valid_max of the
 * packing type on a packed variable (unpacked units), and by missing_value
 * of another type than the variable (a double -1e34 on a float), one of them
 * out of the type's range (which must not hide the others). */
static void test_valid_ranges_and_missing_values(void **state)
{
    (void)state;
    const char *path = fm_test_tmp_path("nv_missing.nc");
    grid_file g = grid_begin(path, 0);
    int ranged = def_grid_var(&g, "RANGED", NC_FLOAT);
    const float range[2] = {-5, 40};
    NC_CHECK(nc_put_att_float(g.nc, ranged, "valid_range", NC_FLOAT, 2, range));
    int packed = def_grid_var(&g, "PACKED", NC_SHORT);
    const double scale = 0.5, vmin = -1.0, vmax = 3.0;
    NC_CHECK(nc_put_att_double(g.nc, packed, "scale_factor", NC_DOUBLE, 1, &scale));
    NC_CHECK(nc_put_att_double(g.nc, packed, "valid_min", NC_DOUBLE, 1, &vmin)); /* unpacked: stored -2 .. 6 */
    NC_CHECK(nc_put_att_double(g.nc, packed, "valid_max", NC_DOUBLE, 1, &vmax));
    int missing = def_grid_var(&g, "MISSING", NC_SHORT);
    const double missing_values[2] = {-9999, 1e10}; /* 1e10 fits no short */
    NC_CHECK(nc_put_att_double(g.nc, missing, "missing_value", NC_DOUBLE, 2, missing_values));
    int filled = def_grid_var(&g, "FILLED", NC_FLOAT);
    const double fill = -1e34;
    /* netCDF-C refuses a _FillValue of another type; a missing_value it keeps */
    NC_CHECK(nc_put_att_double(g.nc, filled, "missing_value", NC_DOUBLE, 1, &fill));
    NC_CHECK(nc_enddef(g.nc));
    grid_put_axes(&g);
    float r[CELLS], f[CELLS];
    short p[CELLS], m[CELLS];
    for (int c = 0; c < CELLS; c++) {
        r[c] = c % 4 == 0 ? 1e20f : (float)c;      /* cells 0, 4, 8, 12, 16 out of range */
        p[c] = (short)(c - 5);                      /* stored -5 .. 14: valid -2 .. 6, cells 3 .. 11 */
        m[c] = c % 5 == 1 ? (short)-9999 : (short)c; /* cells 1, 6, 11, 16 missing */
        f[c] = c == 19 ? (float)fill : (float)c;    /* cell 19 */
    }
    NC_CHECK(nc_put_var_float(g.nc, ranged, r));
    NC_CHECK(nc_put_var_short(g.nc, packed, p));
    NC_CHECK(nc_put_var_short(g.nc, missing, m));
    NC_CHECK(nc_put_var_float(g.nc, filled, f));
    NC_CHECK(nc_close(g.nc));

    fm_error err;
    fm_dataset *ds;
    FM_ASSERT_OK(read_grid(path, "lat,lon", "RANGED", &ds, &err), &err);
    assert_int_equal(ds->rows, CELLS - 5);
    for (size_t i = 0; i < ds->rows; i++)
        assert_true(ds->grid_index[i] % 4 != 0 && ds->y[i] < 40);
    fm_dataset_free(ds);
    FM_ASSERT_OK(read_grid(path, "lat,lon", "PACKED", &ds, &err), &err);
    assert_int_equal(ds->rows, 9);
    for (size_t i = 0; i < ds->rows; i++) {
        size_t c = ds->grid_index[i];
        assert_true(c >= 3 && c <= 11);
        assert_float_equal(ds->y[i], ((double)c - 5) * 0.5, 1e-6);
    }
    fm_dataset_free(ds);
    FM_ASSERT_OK(read_grid(path, "lat,lon", "MISSING", &ds, &err), &err);
    assert_int_equal(ds->rows, CELLS - 4);
    for (size_t i = 0; i < ds->rows; i++)
        assert_true(ds->grid_index[i] % 5 != 1);
    fm_dataset_free(ds);
    FM_ASSERT_OK(read_grid(path, "lat,lon", "FILLED", &ds, &err), &err);
    assert_int_equal(ds->rows, CELLS - 1);
    assert_int_equal(ds->grid_index[ds->rows - 1], 18);
    fm_dataset_free(ds);
}

/* A scale_factor or add_offset of several values (a damaged file: the reader
 * used to write them all into one double) is refused by both readers. */
static void test_damaged_packing_attributes(void **state)
{
    (void)state;
    const char *path = fm_test_tmp_path("nv_damaged.nc");
    grid_file g = grid_begin(path, 0);
    int v = def_grid_var(&g, "T_prediction", NC_SHORT);
    int w = def_grid_var(&g, "U", NC_SHORT);
    double many[40];
    for (int i = 0; i < 40; i++)
        many[i] = 1.0 + i;
    NC_CHECK(nc_put_att_double(g.nc, v, "scale_factor", NC_DOUBLE, 40, many));
    NC_CHECK(nc_put_att_double(g.nc, w, "add_offset", NC_DOUBLE, 3, many));
    NC_CHECK(nc_enddef(g.nc));
    grid_put_axes(&g);
    short zeros[CELLS] = {0};
    NC_CHECK(nc_put_var_short(g.nc, v, zeros));
    NC_CHECK(nc_put_var_short(g.nc, w, zeros));
    NC_CHECK(nc_close(g.nc));
    fm_error err;
    fm_dataset *ds;
    FM_ASSERT_FAILS(read_grid(path, "lat,lon", "T_prediction", &ds, &err), &err, FM_ERR_FORMAT,
                    "attribute scale_factor of variable T_prediction has 40 values");
    assert_null(ds);
    FM_ASSERT_FAILS(read_grid(path, "lat,lon", "U", &ds, &err), &err, FM_ERR_FORMAT,
                    "attribute add_offset of variable U has 3 values");
    fm_grid_slice slice;
    FM_ASSERT_FAILS(fm_grid_slice_read(path, "T_prediction", 0, &slice, &err), &err, FM_ERR_FORMAT, "scale_factor");
}

/* A 1-D variable "lat" on another, longer dimension than the grid's "lat":
 * not the coordinate variable (its 5000 values would overrun the 4 the map
 * holds), so the map's latitudes are the indices. */
static void test_name_sharing_variable_is_not_a_coordinate(void **state)
{
    (void)state;
    const char *path = fm_test_tmp_path("nv_mismatch.nc");
    int nc, lat_dim, lon_dim, y_dim, lat, v;
    NC_CHECK(nc_create(path, NC_CLOBBER, &nc));
    NC_CHECK(nc_def_dim(nc, "lat", NLAT, &lat_dim));
    NC_CHECK(nc_def_dim(nc, "lon", NLON, &lon_dim));
    NC_CHECK(nc_def_dim(nc, "y", 5000, &y_dim));
    NC_CHECK(nc_def_var(nc, "lat", NC_DOUBLE, 1, &y_dim, &lat));
    int dims[2] = {lat_dim, lon_dim};
    NC_CHECK(nc_def_var(nc, "T_prediction", NC_FLOAT, 2, dims, &v));
    NC_CHECK(nc_enddef(nc));
    double *far = calloc(5000, sizeof *far);
    assert_non_null(far);
    NC_CHECK(nc_put_var_double(nc, lat, far));
    free(far);
    float t[CELLS] = {0};
    NC_CHECK(nc_put_var_float(nc, v, t));
    NC_CHECK(nc_close(nc));
    fm_error err;
    fm_grid_slice slice;
    FM_ASSERT_OK(fm_grid_slice_read(path, "T_prediction", 0, &slice, &err), &err);
    for (int i = 0; i < NLAT; i++)
        assert_float_equal(slice.lat[i], i, 0);
    fm_grid_slice_free(&slice);
}

/* Station labels as a text coordinate: the grid reads (the labels only span
 * it), the labels cannot be an input; a missing latitude is named as such. */
static void test_text_and_missing_coordinates(void **state)
{
    (void)state;
    const char *path = fm_test_tmp_path("nv_stations.nc");
    int nc, st_dim, t_dim, st, time, v;
    NC_CHECK(nc_create(path, NC_CLOBBER | NC_NETCDF4, &nc));
    NC_CHECK(nc_def_dim(nc, "station", 3, &st_dim));
    NC_CHECK(nc_def_dim(nc, "time", 4, &t_dim));
    NC_CHECK(nc_def_var(nc, "station", NC_STRING, 1, &st_dim, &st));
    NC_CHECK(nc_def_var(nc, "time", NC_DOUBLE, 1, &t_dim, &time));
    int dims[2] = {st_dim, t_dim};
    NC_CHECK(nc_def_var(nc, "T", NC_FLOAT, 2, dims, &v));
    NC_CHECK(nc_enddef(nc));
    const char *names[3] = {"north", "middle", "south"};
    NC_CHECK(nc_put_var_string(nc, st, names));
    const double times[4] = {0, 1, 2, 3};
    NC_CHECK(nc_put_var_double(nc, time, times));
    float t[12];
    for (int c = 0; c < 12; c++)
        t[c] = (float)c;
    NC_CHECK(nc_put_var_float(nc, v, t));
    NC_CHECK(nc_close(nc));
    fm_error err;
    fm_dataset *ds;
    FM_ASSERT_OK(read_grid(path, "time", "T", &ds, &err), &err);
    assert_int_equal(ds->rows, 12);
    fm_dataset_free(ds);
    FM_ASSERT_FAILS(read_grid(path, "station,time", "T", &ds, &err), &err, FM_ERR_FORMAT,
                    "coordinate variable station holds text");

    const char *nan_path = fm_test_tmp_path("nv_nan_lat.nc");
    grid_file g = grid_begin(nan_path, 0);
    int u = def_grid_var(&g, "T", NC_FLOAT);
    NC_CHECK(nc_enddef(g.nc));
    const double lat[NLAT] = {-30, -10, NAN, 30}, lon[NLON] = {0, 72, 144, 216, 288};
    NC_CHECK(nc_put_var_double(g.nc, g.lat, lat));
    NC_CHECK(nc_put_var_double(g.nc, g.lon, lon));
    float cells[CELLS] = {0};
    NC_CHECK(nc_put_var_float(g.nc, u, cells));
    NC_CHECK(nc_close(g.nc));
    FM_ASSERT_FAILS(read_grid(nan_path, "lat,lon", "T", &ds, &err), &err, FM_ERR_FORMAT,
                    "coordinate lat[2] is missing or not a finite number");
    FM_ASSERT_OK(read_grid(nan_path, "lon", "T", &ds, &err), &err); /* latitude not used */
    fm_dataset_free(ds);
}

/* A netCDF-4 variable inside a group is not found by its name; the message
 * says the file has groups and names them. */
static void test_variable_in_a_group_is_explained(void **state)
{
    (void)state;
    const char *path = fm_test_tmp_path("nv_group.nc");
    int nc, grp, dim, v;
    NC_CHECK(nc_create(path, NC_CLOBBER | NC_NETCDF4, &nc));
    NC_CHECK(nc_def_grp(nc, "ocean", &grp));
    NC_CHECK(nc_def_dim(grp, "x", 3, &dim));
    NC_CHECK(nc_def_var(grp, "T", NC_FLOAT, 1, &dim, &v));
    NC_CHECK(nc_close(nc));
    fm_error err;
    fm_dataset *ds;
    FM_ASSERT_FAILS(read_grid(path, "x", "T", &ds, &err), &err, FM_ERR_ARG, "the file's groups are ocean");
    assert_true(fm_test_contains(err.message, "no variable \"T\""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unsigned_packed_bytes),
        cmocka_unit_test(test_packed_coordinates),
        cmocka_unit_test(test_valid_ranges_and_missing_values),
        cmocka_unit_test(test_damaged_packing_attributes),
        cmocka_unit_test(test_name_sharing_variable_is_not_a_coordinate),
        cmocka_unit_test(test_text_and_missing_coordinates),
        cmocka_unit_test(test_variable_in_a_group_is_explained),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
