/* Names in NetCDF files longer than NC_MAX_NAME (256 bytes). netCDF-C reads
 * them from a classic header, and keeps netCDF-4 (HDF5) attribute names, at
 * whatever length the file gives, then copies them whole into the caller's
 * NC_MAX_NAME + 1 bytes (a stack overflow found by fuzz_netcdf). Every reader
 * opens through fm_netcdf_open, which must refuse such a file by name, and
 * accept names of exactly 256 bytes, the format's limit.
 * Classic files are written here byte by byte (netCDF-C refuses to write a
 * long name), following the CDF-1 layout of the NetCDF format specification;
 * a control file of the same writer with short names must read, so that the
 * refusals are for the names and not for a broken writer. HDF5 files are
 * written with the HDF5 C API, which netCDF-C opens as netCDF-4. */
#include "test_support.h"

#include "core/internal.h"
#include "io/io_internal.h"

#include <hdf5.h>
#include <netcdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct bytes {
    unsigned char data[4096];
    size_t len;
} bytes;

static void put_u32(bytes *b, unsigned v)
{
    for (int i = 3; i >= 0; i--)
        b->data[b->len++] = (unsigned char)(v >> (8 * i));
}

/* A name: its length, its bytes, zero padding to a multiple of 4. */
static void put_name(bytes *b, const char *name)
{
    size_t n = strlen(name);
    put_u32(b, (unsigned)n);
    memcpy(b->data + b->len, name, n);
    b->len += n;
    while (b->len % 4)
        b->data[b->len++] = 0;
}

static void put_float(bytes *b, float f)
{
    unsigned u;
    memcpy(&u, &f, sizeof u);
    put_u32(b, u);
}

/* A name of n copies of c. */
static char *long_name(size_t n, char c)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* A CDF-1 file: one dimension `dim` of length 3, one global text attribute
 * named `att`, one float variable `var` on `dim` holding 1, 2, 3. */
static const char *write_classic(const char *file, const char *dim, const char *att, const char *var)
{
    bytes b = {.len = 0};
    memcpy(b.data, "CDF\001", 4);
    b.len = 4;
    put_u32(&b, 0);    /* numrecs */
    put_u32(&b, 0x0A); /* NC_DIMENSION */
    put_u32(&b, 1);
    put_name(&b, dim);
    put_u32(&b, 3);
    put_u32(&b, 0x0C); /* NC_ATTRIBUTE: the global attributes */
    put_u32(&b, 1);
    put_name(&b, att);
    put_u32(&b, NC_CHAR);
    put_u32(&b, 1);
    put_u32(&b, 0x78000000); /* "x" and padding */
    put_u32(&b, 0x0B);       /* NC_VARIABLE */
    put_u32(&b, 1);
    put_name(&b, var);
    put_u32(&b, 1); /* ndims */
    put_u32(&b, 0); /* dimid */
    put_u32(&b, 0); /* no variable attributes (ABSENT) */
    put_u32(&b, 0);
    put_u32(&b, NC_FLOAT);
    put_u32(&b, 12);                      /* vsize */
    put_u32(&b, (unsigned)(b.len + 4));   /* begin: right after this field */
    put_float(&b, 1.0f);
    put_float(&b, 2.0f);
    put_float(&b, 3.0f);
    const char *path = fm_test_tmp_path(file);
    fm_test_write_file(path, b.data, b.len);
    return path;
}

static void assert_refused(const char *path, const char *needle)
{
    fm_error err;
    int ncid = 123;
    FM_ASSERT_FAILS(fm_netcdf_open(path, &ncid, &err), &err, FM_ERR_FORMAT, needle);
    assert_int_equal(ncid, -1);
    assert_true(fm_test_contains(err.message, path));
    assert_true(fm_test_contains(err.message, "at most 256"));
}

/* The control: the hand-written file reads, names and values as written. */
static void test_hand_written_classic_file_reads(void **state)
{
    (void)state;
    char *dim = long_name(NC_MAX_NAME, 'd'), *att = long_name(NC_MAX_NAME, 'a'), *var = long_name(NC_MAX_NAME, 'v');
    const char *path = write_classic("names_256.nc", dim, att, var);
    fm_error err;
    int ncid;
    FM_ASSERT_OK(fm_netcdf_open(path, &ncid, &err), &err);
    char name[NC_MAX_NAME + 1];
    size_t len = 0;
    assert_int_equal(nc_inq_dim(ncid, 0, name, &len), NC_NOERR);
    assert_string_equal(name, dim);
    assert_int_equal(len, 3);
    assert_int_equal(nc_inq_attname(ncid, NC_GLOBAL, 0, name), NC_NOERR);
    assert_string_equal(name, att);
    assert_int_equal(nc_inq_varname(ncid, 0, name), NC_NOERR);
    assert_string_equal(name, var);
    float values[3];
    assert_int_equal(nc_get_var_float(ncid, 0, values), NC_NOERR);
    assert_true(values[0] == 1.0f && values[1] == 2.0f && values[2] == 3.0f);
    nc_close(ncid);
    free(dim);
    free(att);
    free(var);
}

static void test_long_classic_names_are_refused(void **state)
{
    (void)state;
    char *name = long_name(NC_MAX_NAME + 1, 'n'), *huge = long_name(770, 'h');
    assert_refused(write_classic("long_dim.nc", name, "title", "temp"), "a dimension name of 257 bytes at byte 16");
    assert_refused(write_classic("long_att.nc", "x", name, "temp"), "an attribute name of 257 bytes at byte 36");
    assert_refused(write_classic("long_var.nc", "x", "title", huge), "a variable name of 770 bytes at byte 68");
    /* through the readers: the data reader and the report's map reader */
    const char *path = write_classic("long_var_read.nc", "x", "title", huge);
    fm_error err;
    fm_dataset *ds = NULL;
    const fm_read_options opts = {"x", "temp", 0};
    FM_ASSERT_FAILS(fm_data_read(path, NULL, &opts, &ds, &err), &err, FM_ERR_FORMAT, "a variable name of 770 bytes");
    assert_null(ds);
    fm_grid_slice slice;
    FM_ASSERT_FAILS(fm_grid_slice_read(path, "temp", 0, &slice, &err), &err, FM_ERR_FORMAT, "a variable name of 770 bytes");
    free(name);
    free(huge);
}

/* An HDF5 file with a float dataset "temp" of 3 values holding one attribute
 * named `att`: netCDF-C sees a netCDF-4 variable with that attribute. */
static const char *write_hdf5(const char *file, const char *att)
{
    const char *path = fm_test_tmp_path(file);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    hsize_t n = 3;
    hid_t space = H5Screate_simple(1, &n, NULL);
    hid_t set = H5Dcreate2(f, "temp", H5T_NATIVE_FLOAT, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(set >= 0);
    const float values[3] = {1.0f, 2.0f, 3.0f};
    assert_true(H5Dwrite(set, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values) >= 0);
    hid_t scalar = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(set, att, H5T_NATIVE_INT, scalar, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(a >= 0);
    const int one = 1;
    assert_true(H5Awrite(a, H5T_NATIVE_INT, &one) >= 0);
    H5Aclose(a);
    H5Sclose(scalar);
    H5Dclose(set);
    H5Sclose(space);
    H5Fclose(f);
    return path;
}

static void test_netcdf4_attribute_names(void **state)
{
    (void)state;
    char *ok = long_name(NC_MAX_NAME, 'a'), *bad = long_name(300, 'b');
    fm_error err;
    int ncid;
    FM_ASSERT_OK(fm_netcdf_open(write_hdf5("h5_att_256.nc", ok), &ncid, &err), &err);
    int format = 0, varid = -1, natts = 0;
    assert_int_equal(nc_inq_format(ncid, &format), NC_NOERR);
    assert_int_equal(format, NC_FORMAT_NETCDF4);
    assert_int_equal(nc_inq_varid(ncid, "temp", &varid), NC_NOERR);
    assert_int_equal(nc_inq_varnatts(ncid, varid, &natts), NC_NOERR);
    assert_int_equal(natts, 1);
    char name[NC_MAX_NAME + 1];
    assert_int_equal(nc_inq_attname(ncid, varid, 0, name), NC_NOERR);
    assert_string_equal(name, ok);
    nc_close(ncid);
    assert_refused(write_hdf5("h5_att_300.nc", bad), "an attribute name of 300 bytes");
    free(ok);
    free(bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_written_classic_file_reads),
        cmocka_unit_test(test_long_classic_names_are_refused),
        cmocka_unit_test(test_netcdf4_attribute_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
