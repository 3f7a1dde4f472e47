/* NPY reader and writer: numpy's exact header layout, bit-exact round trips,
 * every supported dtype and version, and each malformed file. */
#include "test_support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An NPY file of the given version whose header is `dict` padded as numpy
 * pads it (data at a multiple of 64, header ending in a newline). */
static void write_npy(const char *path, int major, const char *dict, const void *data, size_t size)
{
    size_t preamble = major == 1 ? 10 : 12;
    size_t dict_len = strlen(dict);
    size_t total = (preamble + dict_len + 1 + 63) / 64 * 64;
    size_t header_len = total - preamble;
    unsigned char *file = malloc(total + size);
    assert_non_null(file);
    memcpy(file, "\x93NUMPY", 6);
    file[6] = (unsigned char)major;
    file[7] = 0;
    for (size_t i = 0; i < preamble - 8; i++)
        file[8 + i] = (unsigned char)(header_len >> (8 * i));
    memcpy(file + preamble, dict, dict_len);
    memset(file + preamble + dict_len, ' ', header_len - dict_len - 1);
    file[total - 1] = '\n';
    if (size)
        memcpy(file + total, data, size);
    fm_test_write_file(path, file, total + size);
    free(file);
}

static const char *npy_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s", fm_test_tmp_path(name));
    return buf;
}

static void test_write_matches_numpy_layout(void **state)
{
    (void)state;
    char path[4096];
    npy_path(path, sizeof path, "layout.npy");
    const float data[6] = {1, 2, 3, 4, 5, 6};
    fm_error err = {0};
    FM_ASSERT_OK(fm_npy_write(path, data, 3, 2, &err), &err);
    size_t size;
    char *file = fm_test_read_file(path, &size);
    /* numpy.save(np.arange(1, 7, dtype='<f4').reshape(3, 2)) writes exactly this. */
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }";
    assert_int_equal(size, 128 + sizeof data);
    assert_memory_equal(file, "\x93NUMPY\x01\x00\x76\x00", 10);
    assert_memory_equal(file + 10, dict, strlen(dict));
    for (size_t i = 10 + strlen(dict); i < 127; i++)
        assert_int_equal(file[i], ' ');
    assert_int_equal(file[127], '\n');
    assert_memory_equal(file + 128, data, sizeof data);
    free(file);
}

static void test_round_trip_is_bit_exact(void **state)
{
    (void)state;
    enum { ROWS = 1000, COLS = 7 };
    static float data[ROWS * COLS];
    fm_rng rng;
    fm_rng_seed(&rng, 7);
    for (int i = 0; i < ROWS * COLS; i++)
        data[i] = (float)fm_rng_normal(&rng);
    data[0] = -0.0f;
    data[1] = 1.4e-45f;
    data[2] = 3.40282347e+38f;
    char path[4096];
    npy_path(path, sizeof path, "round.npy");
    fm_error err = {0};
    FM_ASSERT_OK(fm_npy_write(path, data, ROWS, COLS, &err), &err);
    float *back = NULL;
    size_t rows = 0;
    int cols = 0;
    FM_ASSERT_OK(fm_npy_read_matrix(path, &back, &rows, &cols, &err), &err);
    assert_int_equal(rows, ROWS);
    assert_int_equal(cols, COLS);
    assert_memory_equal(back, data, sizeof data);
    free(back);
}

static void test_versions_and_dtypes(void **state)
{
    (void)state;
    char path[4096];
    npy_path(path, sizeof path, "dtypes.npy");
    fm_error err = {0};
    float *m = NULL;
    size_t rows;
    int cols;

    const double f8[4] = {0.1, -2.5, 1e-300, 65504.0};
    for (int major = 1; major <= 3; major++) {
        write_npy(path, major, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }", f8, sizeof f8);
        FM_ASSERT_OK(fm_npy_read_matrix(path, &m, &rows, &cols, &err), &err);
        assert_int_equal(rows, 2);
        assert_int_equal(cols, 2);
        assert_true(m[0] == 0.1f && m[1] == -2.5f && m[2] == 0.0f && m[3] == 65504.0f);
        free(m);
    }

    const unsigned char u1[3] = {0, 128, 255};
    write_npy(path, 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }", u1, sizeof u1);
    FM_ASSERT_OK(fm_npy_read_matrix(path, &m, &rows, &cols, &err), &err);
    assert_int_equal(rows, 3);
    assert_int_equal(cols, 1);
    assert_true(m[0] == 0.0f && m[1] == 128.0f && m[2] == 255.0f);
    free(m);

    const int32_t i4[2] = {-7, 2147483647};
    write_npy(path, 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (1, 2), }", i4, sizeof i4);
    FM_ASSERT_OK(fm_npy_read_matrix(path, &m, &rows, &cols, &err), &err);
    assert_true(m[0] == -7.0f && m[1] == 2147483648.0f);
    free(m);

    const int64_t i8[2] = {-3, (int64_t)1 << 40};
    /* Keys in another order and double quotes are still a valid dict. */
    write_npy(path, 1, "{\"shape\": (2, 1), \"fortran_order\": False, \"descr\": \"<i8\"}", i8, sizeof i8);
    FM_ASSERT_OK(fm_npy_read_matrix(path, &m, &rows, &cols, &err), &err);
    assert_int_equal(rows, 2);
    assert_true(m[0] == -3.0f && m[1] == 1099511627776.0f);
    free(m);
}

static void test_shapes(void **state)
{
    (void)state;
    char path[4096];
    npy_path(path, sizeof path, "shapes.npy");
    fm_error err = {0};
    float *m = NULL;
    size_t rows;
    int cols;
    float values[12];
    for (int i = 0; i < 12; i++)
        values[i] = (float)i;

    /* Trailing dimensions are flattened into columns, as for IDX images. */
    write_npy(path, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2, 3), }", values,
              sizeof values);
    FM_ASSERT_OK(fm_npy_read_matrix(path, &m, &rows, &cols, &err), &err);
    assert_int_equal(rows, 2);
    assert_int_equal(cols, 6);
    assert_true(m[7] == 7.0f);
    free(m);

    /* Python 2 wrote long integers with an L. */
    write_npy(path, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3L, 4L), }", values,
              sizeof values);
    FM_ASSERT_OK(fm_npy_read_matrix(path, &m, &rows, &cols, &err), &err);
    assert_int_equal(rows, 3);
    assert_int_equal(cols, 4);
    free(m);

    write_npy(path, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", values, 4);
    FM_ASSERT_FAILS(fm_npy_read_matrix(path, &m, &rows, &cols, &err), &err, FM_ERR_FORMAT, "scalar");
    write_npy(path, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }", values, 0);
    FM_ASSERT_FAILS(fm_npy_read_matrix(path, &m, &rows, &cols, &err), &err, FM_ERR_FORMAT, "empty");
}

static void test_malformed_files(void **state)
{
    (void)state;
    char path[4096];
    npy_path(path, sizeof path, "broken.npy");
    fm_error err = {0};
    float *m = NULL;
    size_t rows;
    int cols;
    float values[6] = {0};
    static const struct {
        const char *dict;
        size_t data_size;
        const char *needle;
    } cases[] = {
        {"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 24, "Fortran order"},
        {"{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", 24, "dtype '>f4' is not supported"},
        {"{'descr': '<c8', 'fortran_order': False, 'shape': (2, 3), }", 24, "dtype '<c8' is not supported"},
        {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", 8, "structured dtypes"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 20,
         "shape (2, 3) of '<f4' needs 24 data bytes but the file holds 20 (truncated)"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 24 + 4,
         "holds 28 (extra bytes at the end)"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000, 1000000000000), }", 24,
         "shape (1000000000000, 1000000000000) is too large"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000, 1000000), }", 24,
         "needs 4000000000000000 data bytes but the file holds 24"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999, 1), }", 24,
         "shape dimension too large"},
        {"{'descr': '<f4' 'fortran_order': False, 'shape': (2, 3), }", 24,
         "malformed NPY header: expected ',' or '}'"},
        {"{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2, 3), }", 24, "expected True or False"},
        {"{'descr': '<f4', 'shape': (2, 3), }", 24, "lacks 'fortran_order'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'extra': 1}", 24, "unknown key"},
        {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 24, "appears twice"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }", 24, "non-negative integer"},
        {"['descr', '<f4']", 24, "expected '{'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } junk", 24,
         "unexpected text after the dict"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned char data[64] = {0};
        memcpy(data, values, sizeof values);
        write_npy(path, 1, cases[i].dict, data, cases[i].data_size);
        m = NULL;
        FM_ASSERT_FAILS(fm_npy_read_matrix(path, &m, &rows, &cols, &err), &err, FM_ERR_FORMAT,
                        cases[i].needle);
        assert_true(fm_test_contains(err.message, "broken.npy"));
        assert_null(m);
    }
}

static void test_malformed_preamble(void **state)
{
    (void)state;
    char path[4096];
    npy_path(path, sizeof path, "preamble.npy");
    fm_error err = {0};
    float *m = NULL;
    size_t rows;
    int cols;

    fm_test_write_text(path, "col1,col2\n1,2\n");
    FM_ASSERT_FAILS(fm_npy_read_matrix(path, &m, &rows, &cols, &err), &err, FM_ERR_FORMAT,
                    "preamble.npy: not an NPY file");
    fm_test_write_file(path, "\x93NUM", 4);
    FM_ASSERT_FAILS(fm_npy_read_matrix(path, &m, &rows, &cols, &err), &err, FM_ERR_FORMAT, "not an NPY file");
    fm_test_write_file(path, "\x93NUMPY\x04\x00\x10\x00", 10);
    FM_ASSERT_FAILS(fm_npy_read_matrix(path, &m, &rows, &cols, &err), &err, FM_ERR_FORMAT, "version 4.0");
    /* The header length announces more than the file holds. */
    fm_test_write_file(path, "\x93NUMPY\x01\x00\x00\x01{'descr'", 17);
    FM_ASSERT_FAILS(fm_npy_read_matrix(path, &m, &rows, &cols, &err), &err, FM_ERR_FORMAT,
                    "truncated NPY header");
    fm_test_write_file(path, "\x93NUMPY\x02\x00\xff\xff\xff\x7f", 12);
    FM_ASSERT_FAILS(fm_npy_read_matrix(path, &m, &rows, &cols, &err), &err, FM_ERR_FORMAT,
                    "implausible NPY header length");
    fm_test_write_file(path, "\x93NUMPY\x01\x00\x00\x00", 10);
    FM_ASSERT_FAILS(fm_npy_read_matrix(path, &m, &rows, &cols, &err), &err, FM_ERR_FORMAT,
                    "implausible NPY header length");
    fm_test_write_file(path, "\x93NUMPY\x01\x00\x04\x00{\0}\n", 14);
    FM_ASSERT_FAILS(fm_npy_read_matrix(path, &m, &rows, &cols, &err), &err, FM_ERR_FORMAT, "NUL");
    FM_ASSERT_FAILS(fm_npy_read_matrix(fm_test_tmp_path("missing.npy"), &m, &rows, &cols, &err), &err,
                    FM_ERR_IO, "missing.npy");
    assert_null(m);
}

static void test_non_finite_values(void **state)
{
    (void)state;
    char path[4096];
    npy_path(path, sizeof path, "nan.npy");
    fm_error err = {0};
    float values[9] = {1, 2, 3, 4, 5, NAN, 7, 8, 9};
    FM_ASSERT_OK(fm_npy_write(path, values, 3, 3, &err), &err);
    float *m = NULL;
    size_t rows;
    int cols;
    FM_ASSERT_FAILS(fm_npy_read_matrix(path, &m, &rows, &cols, &err), &err, FM_ERR_FORMAT,
                    "nan.npy: row 1, column 2 (0-based): value NaN is not finite");
    assert_null(m);

    fm_dataset *ds = NULL;
    FM_ASSERT_FAILS(fm_npy_read(path, NULL, &ds, &err), &err, FM_ERR_FORMAT, "row 1, column 2");
    fm_read_options skip = {NULL, "0", 1};
    FM_ASSERT_OK(fm_npy_read(path, &skip, &ds, &err), &err);
    assert_int_equal(ds->rows, 2);
    assert_int_equal(ds->skipped, 1);
    assert_int_equal(ds->n_in, 2);
    assert_true(ds->y[0] == 1.0f && ds->y[1] == 7.0f);
    assert_true(ds->x[0] == 2.0f && ds->x[3] == 9.0f);
    assert_null(ds->in_names);
    fm_dataset_free(ds);

    /* A NaN in a column that is not selected does not matter. */
    fm_read_options pick = {"0-1", NULL, 0};
    FM_ASSERT_OK(fm_npy_read(path, &pick, &ds, &err), &err);
    assert_int_equal(ds->rows, 3);
    fm_dataset_free(ds);

    /* A double beyond the float range cannot be stored as a float. */
    const double big[2] = {1.0, 1e300};
    write_npy(path, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", big, sizeof big);
    FM_ASSERT_FAILS(
        fm_npy_read_matrix(path, &m, &rows, &cols, &err), &err, FM_ERR_FORMAT,
        "row 1, column 0 (0-based): value inf is not finite (NaN, infinite or beyond the float range)");
}

static void test_selection_by_index(void **state)
{
    (void)state;
    char path[4096];
    npy_path(path, sizeof path, "select.npy");
    fm_error err = {0};
    float values[8] = {0, 1, 2, 3, 10, 11, 12, 13};
    FM_ASSERT_OK(fm_npy_write(path, values, 2, 4, &err), &err);
    fm_dataset *ds = NULL;
    fm_read_options opts = {"3,0-1", "2", 0};
    FM_ASSERT_OK(fm_npy_read(path, &opts, &ds, &err), &err);
    assert_int_equal(ds->n_in, 3);
    assert_int_equal(ds->n_out, 1);
    assert_true(ds->x[0] == 3.0f && ds->x[1] == 0.0f && ds->x[2] == 1.0f);
    assert_true(ds->x[3] == 13.0f && ds->y[1] == 12.0f);
    fm_dataset_free(ds);

    opts = (fm_read_options){"depth", NULL, 0};
    FM_ASSERT_FAILS(fm_npy_read(path, &opts, &ds, &err), &err, FM_ERR_ARG,
                    "\"depth\" is not a 0-based index");
    assert_true(fm_test_contains(err.message, "select.npy"));
    opts = (fm_read_options){"4", NULL, 0};
    FM_ASSERT_FAILS(fm_npy_read(path, &opts, &ds, &err), &err, FM_ERR_ARG, "the file has 4 columns (0-3)");
}

static void test_write_errors(void **state)
{
    (void)state;
    fm_error err = {0};
    float values[2] = {1, 2};
    FM_ASSERT_FAILS(fm_npy_write(fm_test_tmp_path("nowhere/x.npy"), values, 1, 2, &err), &err, FM_ERR_IO,
                    "x.npy");
    FM_ASSERT_FAILS(fm_npy_write(fm_test_tmp_path("x.npy"), NULL, 1, 2, &err), &err, FM_ERR_ARG, "");
    FM_ASSERT_FAILS(fm_npy_write(fm_test_tmp_path("x.npy"), values, (size_t)-1, 2, &err), &err, FM_ERR_ARG,
                    "too many");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_matches_numpy_layout),
        cmocka_unit_test(test_round_trip_is_bit_exact),
        cmocka_unit_test(test_versions_and_dtypes),
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_malformed_files),
        cmocka_unit_test(test_malformed_preamble),
        cmocka_unit_test(test_non_finite_values),
        cmocka_unit_test(test_selection_by_index),
        cmocka_unit_test(test_write_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
