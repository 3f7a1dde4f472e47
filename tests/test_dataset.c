/* Datasets: allocation, the deterministic split, and fm_data_read's dispatch
 * by name, including inputs and targets from two files. */
#include "test_support.h"

#include "core/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

static const char *tmp(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s", fm_test_tmp_path(name));
    return buf;
}

static void test_alloc_and_free(void **state)
{
    (void)state;
    fm_dataset *ds = NULL;
    fm_error err = {0};
    FM_ASSERT_OK(fm_dataset_alloc(3, 2, 1, &ds, &err), &err);
    assert_int_equal(ds->rows, 3);
    assert_int_equal(ds->n_in, 2);
    assert_int_equal(ds->n_out, 1);
    assert_non_null(ds->x);
    assert_non_null(ds->y);
    assert_null(ds->in_names);
    assert_int_equal(ds->skipped, 0);
    ds->x[5] = 1.0f; /* the whole [3][2] block is usable (ASan checks) */
    ds->y[2] = 1.0f;
    fm_dataset_free(ds);

    FM_ASSERT_OK(fm_dataset_alloc(4, 3, 0, &ds, &err), &err);
    assert_null(ds->y);
    fm_dataset_free(ds);
    fm_dataset_free(NULL);

    FM_ASSERT_FAILS(fm_dataset_alloc(3, -1, 0, &ds, &err), &err, FM_ERR_ARG, "negative");
    assert_null(ds);
    FM_ASSERT_FAILS(fm_dataset_alloc((size_t)-1 / 2, 4, 0, &ds, &err), &err, FM_ERR_NOMEM, "too large");
    assert_null(ds);
}

static fm_dataset *numbered_dataset(size_t rows)
{
    fm_dataset *ds = NULL;
    fm_error err = {0};
    FM_ASSERT_OK(fm_dataset_alloc(rows, 2, 1, &ds, &err), &err);
    for (size_t i = 0; i < rows; i++) {
        ds->x[2 * i] = (float)i;
        ds->x[2 * i + 1] = (float)i + 0.5f;
        ds->y[i] = -(float)i;
    }
    ds->in_names = calloc(2, sizeof *ds->in_names);
    ds->out_names = calloc(1, sizeof *ds->out_names);
    assert_non_null(ds->in_names);
    assert_non_null(ds->out_names);
    ds->in_names[0] = fm_strdup("lon");
    ds->in_names[1] = fm_strdup("lat");
    ds->out_names[0] = fm_strdup("depth");
    return ds;
}

static void test_split_follows_the_documented_rule(void **state)
{
    (void)state;
    enum { ROWS = 2000 };
    fm_dataset *all = numbered_dataset(ROWS);
    const uint64_t seed = 12345;
    fm_dataset *train = NULL, *val = NULL;
    fm_error err = {0};
    FM_ASSERT_OK(fm_dataset_split(all, 0.2, seed, &train, &val, &err), &err);
    assert_int_equal(train->rows + val->rows, ROWS);
    assert_true(val->rows > 300 && val->rows < 500);

    size_t t = 0, v = 0;
    for (size_t i = 0; i < ROWS; i++) {
        int in_val = fm_splitmix64(seed ^ (uint64_t)i) % 1000000 < 200000;
        const fm_dataset *part = in_val ? val : train;
        size_t k = in_val ? v++ : t++;
        assert_true(part->x[2 * k] == (float)i);
        assert_true(part->x[2 * k + 1] == (float)i + 0.5f);
        assert_true(part->y[k] == -(float)i);
    }
    assert_int_equal(t, train->rows);
    assert_int_equal(v, val->rows);

    /* Names are copies, not shared pointers. */
    assert_string_equal(train->in_names[1], "lat");
    assert_string_equal(val->out_names[0], "depth");
    assert_ptr_not_equal(train->in_names[0], all->in_names[0]);
    assert_ptr_not_equal(val->in_names[0], train->in_names[0]);

    /* The same seed splits the same way; another seed does not. */
    fm_dataset *train2 = NULL, *val2 = NULL;
    FM_ASSERT_OK(fm_dataset_split(all, 0.2, seed, &train2, &val2, &err), &err);
    assert_int_equal(val2->rows, val->rows);
    assert_memory_equal(val2->x, val->x, val->rows * 2 * sizeof(float));
    fm_dataset_free(train2);
    fm_dataset_free(val2);
    FM_ASSERT_OK(fm_dataset_split(all, 0.2, seed + 1, &train2, &val2, &err), &err);
    assert_true(val2->rows != val->rows || memcmp(val2->x, val->x, val->rows * 2 * sizeof(float)) != 0);
    fm_dataset_free(train2);
    fm_dataset_free(val2);

    fm_dataset_free(train);
    fm_dataset_free(val);
    fm_dataset_free(all);
}

static void test_split_edges(void **state)
{
    (void)state;
    fm_dataset *all = numbered_dataset(100);
    fm_dataset *train = NULL, *val = NULL;
    fm_error err = {0};

    /* Fraction 0: an empty validation set, not NULL. */
    FM_ASSERT_OK(fm_dataset_split(all, 0.0, 1, &train, &val, &err), &err);
    assert_non_null(val);
    assert_int_equal(val->rows, 0);
    assert_int_equal(train->rows, 100);
    assert_memory_equal(train->x, all->x, 200 * sizeof(float));
    fm_dataset_free(train);
    fm_dataset_free(val);

    FM_ASSERT_OK(fm_dataset_split(all, 1.0, 1, &train, &val, &err), &err);
    assert_int_equal(train->rows, 0);
    assert_int_equal(val->rows, 100);
    fm_dataset_free(train);
    fm_dataset_free(val);

    FM_ASSERT_FAILS(fm_dataset_split(all, -0.1, 1, &train, &val, &err), &err, FM_ERR_ARG, "-0.1");
    FM_ASSERT_FAILS(fm_dataset_split(all, 1.5, 1, &train, &val, &err), &err, FM_ERR_ARG, "1.5");
    FM_ASSERT_FAILS(fm_dataset_split(all, NAN, 1, &train, &val, &err), &err, FM_ERR_ARG, "between 0 and 1");
    assert_null(train);
    assert_null(val);
    FM_ASSERT_FAILS(fm_dataset_split(NULL, 0.5, 1, &train, &val, &err), &err, FM_ERR_ARG, "");

    /* No targets: y stays NULL in both parts. */
    fm_dataset *inputs_only = NULL;
    FM_ASSERT_OK(fm_dataset_alloc(10, 1, 0, &inputs_only, &err), &err);
    for (int i = 0; i < 10; i++)
        inputs_only->x[i] = (float)i;
    FM_ASSERT_OK(fm_dataset_split(inputs_only, 0.5, 3, &train, &val, &err), &err);
    assert_null(train->y);
    assert_null(val->y);
    assert_null(train->in_names);
    assert_int_equal(train->rows + val->rows, 10);
    fm_dataset_free(train);
    fm_dataset_free(val);
    fm_dataset_free(inputs_only);
    fm_dataset_free(all);
}

static void write_idx(const char *path, int gz, int ndim, const uint32_t *dims, const unsigned char *data,
                      size_t size)
{
    unsigned char file[256];
    size_t n = 0;
    file[n++] = 0;
    file[n++] = 0;
    file[n++] = 0x08;
    file[n++] = (unsigned char)ndim;
    for (int d = 0; d < ndim; d++)
        for (int b = 3; b >= 0; b--)
            file[n++] = (unsigned char)(dims[d] >> (8 * b));
    memcpy(file + n, data, size);
    n += size;
    if (!gz) {
        fm_test_write_file(path, file, n);
        return;
    }
    gzFile f = gzopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(gzwrite(f, file, (unsigned)n), (int)n);
    assert_int_equal(gzclose(f), Z_OK);
}

static void test_dispatch_by_name(void **state)
{
    (void)state;
    char path[4096];
    fm_dataset *ds = NULL;
    fm_error err = {0};

    tmp(path, sizeof path, "dispatch.CSV");
    fm_test_write_text(path, "a,b,c\n1,2,3\n4,5,6\n");
    fm_read_options opts = {NULL, "c", 0};
    FM_ASSERT_OK(fm_data_read(path, NULL, &opts, &ds, &err), &err);
    assert_int_equal(ds->n_in, 2);
    assert_true(ds->y[1] == 6.0f);
    assert_string_equal(ds->in_names[1], "b");
    fm_dataset_free(ds);

    tmp(path, sizeof path, "dispatch.npy");
    const float values[6] = {1, 2, 3, 4, 5, 6};
    FM_ASSERT_OK(fm_npy_write(path, values, 3, 2, &err), &err);
    opts = (fm_read_options){"0", "1", 0};
    FM_ASSERT_OK(fm_data_read(path, NULL, &opts, &ds, &err), &err);
    assert_int_equal(ds->rows, 3);
    assert_true(ds->x[2] == 5.0f && ds->y[2] == 6.0f);
    fm_dataset_free(ds);

    /* IDX: inputs are scaled to [0, 1], targets keep their byte values. */
    const uint32_t dims[2] = {2, 3};
    const unsigned char bytes[6] = {0, 51, 7, 255, 102, 9};
    const char *idx_names[4] = {"dispatch.idx", "dispatch.idx.gz", "dispatch-ubyte",
                                "dispatch-idx2-ubyte.gz"};
    for (int i = 0; i < 4; i++) {
        tmp(path, sizeof path, idx_names[i]);
        write_idx(path, strstr(idx_names[i], ".gz") != NULL, 2, dims, bytes, sizeof bytes);
        opts = (fm_read_options){NULL, "2", 0};
        FM_ASSERT_OK(fm_data_read(path, NULL, &opts, &ds, &err), &err);
        assert_int_equal(ds->rows, 2);
        assert_int_equal(ds->n_in, 2);
        assert_true(ds->x[0] == 0.0f && ds->x[1] == 0.2f && ds->x[2] == 1.0f && ds->x[3] == 0.4f);
        assert_true(ds->y[0] == 7.0f && ds->y[1] == 9.0f);
        fm_dataset_free(ds);
    }

    tmp(path, sizeof path, "dispatch.txt");
    fm_test_write_text(path, "a\n1\n");
    FM_ASSERT_FAILS(fm_data_read(path, NULL, NULL, &ds, &err), &err, FM_ERR_ARG,
                    "dispatch.txt: unknown data format");
    assert_null(ds);
    /* The reader's own errors come through unchanged. */
    tmp(path, sizeof path, "dispatch.csv");
    fm_test_write_text(path, "a,b\n1,x\n");
    FM_ASSERT_FAILS(fm_data_read(path, NULL, NULL, &ds, &err), &err, FM_ERR_FORMAT,
                    "dispatch.csv:2: column \"b\"");
}

static void test_targets_from_a_second_file(void **state)
{
    (void)state;
    char x_path[4096], y_path[4096];
    tmp(x_path, sizeof x_path, "pair_X.npy");
    tmp(y_path, sizeof y_path, "pair_y.npy");
    const float x[6] = {1, 2, 3, 4, 5, 6};
    const float y[3] = {10, 20, 30};
    fm_error err = {0};
    FM_ASSERT_OK(fm_npy_write(x_path, x, 3, 2, &err), &err);
    FM_ASSERT_OK(fm_npy_write(y_path, y, 3, 1, &err), &err);
    fm_dataset *ds = NULL;
    FM_ASSERT_OK(fm_data_read(x_path, y_path, NULL, &ds, &err), &err);
    assert_int_equal(ds->rows, 3);
    assert_int_equal(ds->n_in, 2);
    assert_int_equal(ds->n_out, 1);
    assert_memory_equal(ds->x, x, sizeof x);
    assert_memory_equal(ds->y, y, sizeof y);
    fm_dataset_free(ds);

    /* Input selection still applies to the first file. */
    fm_read_options opts = {"1", NULL, 0};
    FM_ASSERT_OK(fm_data_read(x_path, y_path, &opts, &ds, &err), &err);
    assert_int_equal(ds->n_in, 1);
    assert_true(ds->x[0] == 2.0f && ds->x[2] == 6.0f);
    fm_dataset_free(ds);

    opts = (fm_read_options){NULL, "0", 0};
    FM_ASSERT_FAILS(fm_data_read(x_path, y_path, &opts, &ds, &err), &err, FM_ERR_ARG, "pair_y.npy");
    assert_null(ds);

    FM_ASSERT_OK(fm_npy_write(y_path, y, 2, 1, &err), &err);
    FM_ASSERT_FAILS(fm_data_read(x_path, y_path, NULL, &ds, &err), &err, FM_ERR_FORMAT,
                    "pair_X.npy has 3 rows but");
    assert_true(fm_test_contains(err.message, "pair_y.npy has 2"));
}

static void test_bad_rows_are_dropped_from_both_files(void **state)
{
    (void)state;
    char x_path[4096], y_path[4096];
    tmp(x_path, sizeof x_path, "aligned_X.csv");
    tmp(y_path, sizeof y_path, "aligned_y.npy");
    /* Data row 1 (line 3) is bad in the CSV, row 2 in the targets. */
    fm_test_write_text(x_path, "u,v\n0,0.5\n1,?\n2,2.5\n3,3.5\n");
    const float y[4] = {100, 101, NAN, 103};
    fm_error err = {0};
    FM_ASSERT_OK(fm_npy_write(y_path, y, 4, 1, &err), &err);
    fm_dataset *ds = NULL;
    FM_ASSERT_FAILS(fm_data_read(x_path, y_path, NULL, &ds, &err), &err, FM_ERR_FORMAT,
                    "aligned_X.csv:3: column \"v\": \"?\" is not a number");
    fm_read_options opts = {NULL, NULL, 1};
    FM_ASSERT_OK(fm_data_read(x_path, y_path, &opts, &ds, &err), &err);
    assert_int_equal(ds->rows, 2);
    assert_int_equal(ds->skipped, 2);
    assert_true(ds->x[0] == 0.0f && ds->x[1] == 0.5f && ds->y[0] == 100.0f);
    assert_true(ds->x[2] == 3.0f && ds->x[3] == 3.5f && ds->y[1] == 103.0f);
    assert_string_equal(ds->in_names[0], "u");
    assert_null(ds->out_names);
    fm_dataset_free(ds);
}

static void test_fashion_mnist_images_and_labels(void **state)
{
    (void)state;
    const char *images = FASHION_DIR "/t10k-images-idx3-ubyte.gz";
    const char *labels = FASHION_DIR "/t10k-labels-idx1-ubyte.gz";
    if (!fm_test_file_exists(images) || !fm_test_file_exists(labels))
        fail_msg("%s or %s is missing: install the Debian package dataset-fashion-mnist", images, labels);
    fm_dataset *ds = NULL;
    fm_error err = {0};
    FM_ASSERT_OK(fm_data_read(images, labels, NULL, &ds, &err), &err);
    assert_int_equal(ds->rows, 10000);
    assert_int_equal(ds->n_in, 784);
    assert_int_equal(ds->n_out, 1);
    int counts[10] = {0};
    for (size_t i = 0; i < ds->rows; i++) {
        assert_true(ds->y[i] >= 0.0f && ds->y[i] <= 9.0f);
        counts[(int)ds->y[i]]++;
    }
    for (int c = 0; c < 10; c++)
        assert_int_equal(counts[c], 1000);
    for (size_t i = 0; i < ds->rows * 784; i += 101)
        assert_true(ds->x[i] >= 0.0f && ds->x[i] <= 1.0f);
    fm_dataset_free(ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_and_free),
        cmocka_unit_test(test_split_follows_the_documented_rule),
        cmocka_unit_test(test_split_edges),
        cmocka_unit_test(test_dispatch_by_name),
        cmocka_unit_test(test_targets_from_a_second_file),
        cmocka_unit_test(test_bad_rows_are_dropped_from_both_files),
        cmocka_unit_test(test_fashion_mnist_images_and_labels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
