/* Standardisation: fitted statistics, constant columns, round trips, bad input. */
#include "test_support.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void test_fit_mean_and_population_std(void **state)
{
    (void)state;
    /* Column 0: 1..4 (mean 2.5, population var 1.25); column 1: -2, 0, 2, 4 (mean 1, var 5). */
    const float data[] = {1, -2, 2, 0, 3, 2, 4, 4};
    fm_error err;
    fm_standardizer *s = NULL;
    FM_ASSERT_OK(fm_standardizer_fit(data, 4, 2, &s, &err), &err);
    assert_int_equal(s->n, 2);
    assert_float_equal(s->mean[0], 2.5, 1e-7);
    assert_float_equal(s->mean[1], 1.0, 1e-7);
    assert_float_equal(s->std[0], (float)sqrt(1.25), 1e-7);
    assert_float_equal(s->std[1], (float)sqrt(5.0), 1e-7);
    fm_standardizer_free(s);
}

static void test_large_offset_is_stable(void **state)
{
    (void)state;
    /* Depths around 3000 m with a 0.5 m spread: the one-pass formula would lose
     * most digits; the two-pass double computation keeps them. */
    enum { rows = 1000 };
    float *data = malloc(rows * sizeof *data);
    assert_non_null(data);
    for (int i = 0; i < rows; i++)
        data[i] = 3000.0f + ((i % 2) ? 0.5f : -0.5f);
    fm_error err;
    fm_standardizer *s = NULL;
    FM_ASSERT_OK(fm_standardizer_fit(data, rows, 1, &s, &err), &err);
    assert_float_equal(s->mean[0], 3000.0, 1e-4);
    assert_float_equal(s->std[0], 0.5, 1e-6);
    fm_standardizer_free(s);
    free(data);
}

static void test_constant_columns_get_std_one(void **state)
{
    (void)state;
    /* Columns 0 and 1 are constant (at 5 and at a large value with an inexact
     * decimal), column 2 varies. */
    enum { rows = 7 };
    float data[rows * 3];
    for (int i = 0; i < rows; i++) {
        data[i * 3 + 0] = 5.0f;
        data[i * 3 + 1] = 1.1e30f;
        data[i * 3 + 2] = (float)i;
    }
    fm_error err;
    fm_standardizer *s = NULL;
    FM_ASSERT_OK(fm_standardizer_fit(data, rows, 3, &s, &err), &err);
    assert_true(s->std[0] == 1.0f);
    assert_true(s->std[1] == 1.0f);
    assert_true(s->std[2] != 1.0f);
    assert_float_equal(s->mean[0], 5.0, 0);
    fm_standardize(s, data, rows);
    for (int i = 0; i < rows; i++) {
        assert_true(data[i * 3 + 0] == 0.0f);
        assert_true(data[i * 3 + 1] == 0.0f);
    }
    fm_standardizer_free(s);

    /* A single row: every column is constant. */
    const float one[] = {0.0f, -3.0f};
    FM_ASSERT_OK(fm_standardizer_fit(one, 1, 2, &s, &err), &err);
    assert_true(s->std[0] == 1.0f && s->std[1] == 1.0f);
    fm_standardizer_free(s);
}

static void test_standardize_round_trip(void **state)
{
    (void)state;
    enum { rows = 50, n = 3 };
    float data[rows * n], copy[rows * n];
    for (int i = 0; i < rows * n; i++)
        data[i] = copy[i] = (float)((i * 37) % 101) * 0.25f - 7.0f + (float)(i % n) * 100.0f;
    fm_error err;
    fm_standardizer *s = NULL;
    FM_ASSERT_OK(fm_standardizer_fit(data, rows, n, &s, &err), &err);
    fm_standardize(s, data, rows);

    /* After standardising, each column has mean ~0 and population std ~1. */
    for (int j = 0; j < n; j++) {
        double sum = 0, sq = 0;
        for (int i = 0; i < rows; i++)
            sum += data[i * n + j];
        for (int i = 0; i < rows; i++)
            sq += (data[i * n + j] - sum / rows) * (data[i * n + j] - sum / rows);
        assert_float_equal(sum / rows, 0.0, 1e-5);
        assert_float_equal(sqrt(sq / rows), 1.0, 1e-5);
    }
    fm_unstandardize(s, data, rows);
    for (int i = 0; i < rows * n; i++)
        assert_float_equal(data[i], copy[i], 1e-4 * (1.0 + fabs(copy[i])));
    fm_standardizer_free(s);
}

static void test_non_finite_names_column(void **state)
{
    (void)state;
    float data[] = {1, 2, 3, 4, 5, 6};
    fm_error err;
    fm_standardizer *s = (fm_standardizer *)&err; /* must be reset to NULL */
    data[5] = NAN;
    FM_ASSERT_FAILS(fm_standardizer_fit(data, 2, 3, &s, &err), &err, FM_ERR_NUMERIC, "column 2");
    assert_null(s);
    data[5] = 6;
    data[1] = INFINITY;
    FM_ASSERT_FAILS(fm_standardizer_fit(data, 2, 3, &s, &err), &err, FM_ERR_NUMERIC, "column 1");
    data[1] = -INFINITY;
    FM_ASSERT_FAILS(fm_standardizer_fit(data, 2, 3, &s, &err), &err, FM_ERR_NUMERIC, "column 1");
    assert_null(s);
}

static void test_extreme_finite_values(void **state)
{
    (void)state;
    fm_error err;
    fm_standardizer *s = NULL;
    /* The largest spread of finite floats still fits: std <= max |x|. */
    const float wide[] = {-3.4e38f, 3.4e38f, -3.4e38f, 3.4e38f};
    FM_ASSERT_OK(fm_standardizer_fit(wide, 4, 1, &s, &err), &err);
    assert_true(isfinite(s->std[0]) && s->std[0] > 3e38f);
    fm_standardizer_free(s);
    /* A spread of subnormals whose std rounds to float 0 counts as constant. */
    const float tiny[] = {0.0f, 1.4e-45f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    FM_ASSERT_OK(fm_standardizer_fit(tiny, 8, 1, &s, &err), &err);
    assert_true(s->std[0] == 1.0f);
    fm_standardizer_free(s);
}

static void test_fit_bad_arguments(void **state)
{
    (void)state;
    const float data[] = {1, 2};
    fm_error err;
    fm_standardizer *s = NULL;
    FM_ASSERT_FAILS(fm_standardizer_fit(data, 0, 2, &s, &err), &err, FM_ERR_ARG, "no data");
    FM_ASSERT_FAILS(fm_standardizer_fit(data, 1, 0, &s, &err), &err, FM_ERR_ARG, "0 columns");
    FM_ASSERT_FAILS(fm_standardizer_fit(data, 1, -1, &s, &err), &err, FM_ERR_ARG, "columns");
    FM_ASSERT_FAILS(fm_standardizer_fit(NULL, 1, 2, &s, &err), &err, FM_ERR_ARG, "data and out must not be NULL");
    FM_ASSERT_FAILS(fm_standardizer_fit(data, 1, 2, NULL, &err), &err, FM_ERR_ARG, "NULL");
    /* err may be NULL. */
    assert_int_equal(fm_standardizer_fit(data, 0, 2, &s, NULL), FM_ERR_ARG);
}

static void test_create_validates(void **state)
{
    (void)state;
    const float mean[] = {1.0f, -2.0f};
    const float std[] = {0.5f, 3.0f};
    fm_error err;
    fm_standardizer *s = NULL;
    FM_ASSERT_OK(fm_standardizer_create(2, mean, std, &s, &err), &err);
    assert_int_equal(s->n, 2);
    assert_memory_equal(s->mean, mean, sizeof mean);
    assert_memory_equal(s->std, std, sizeof std);
    assert_true(s->mean != mean && s->std != std); /* copies */
    fm_standardizer_free(s);

    FM_ASSERT_FAILS(fm_standardizer_create(0, mean, std, &s, &err), &err, FM_ERR_ARG, "columns");
    assert_null(s);
    FM_ASSERT_FAILS(fm_standardizer_create(2, NULL, std, &s, &err), &err, FM_ERR_ARG, "NULL");
    const float bad_mean[] = {1.0f, NAN};
    FM_ASSERT_FAILS(fm_standardizer_create(2, bad_mean, std, &s, &err), &err, FM_ERR_ARG, "mean of column 1");
    const float zero_std[] = {0.0f, 1.0f};
    FM_ASSERT_FAILS(fm_standardizer_create(2, mean, zero_std, &s, &err), &err, FM_ERR_ARG, "std of column 0");
    const float neg_std[] = {1.0f, -1.0f};
    FM_ASSERT_FAILS(fm_standardizer_create(2, mean, neg_std, &s, &err), &err, FM_ERR_ARG, "std of column 1");
    const float inf_std[] = {INFINITY, 1.0f};
    FM_ASSERT_FAILS(fm_standardizer_create(2, mean, inf_std, &s, &err), &err, FM_ERR_ARG, "std of column 0");
    const float nan_std[] = {1.0f, NAN};
    FM_ASSERT_FAILS(fm_standardizer_create(2, mean, nan_std, &s, &err), &err, FM_ERR_ARG, "std of column 1");
}

static void test_free_and_apply_accept_null(void **state)
{
    (void)state;
    fm_standardizer_free(NULL);
    float x[] = {1.0f};
    fm_standardize(NULL, x, 1);
    fm_unstandardize(NULL, x, 1);
    assert_true(x[0] == 1.0f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fit_mean_and_population_std),
        cmocka_unit_test(test_large_offset_is_stable),
        cmocka_unit_test(test_constant_columns_get_std_one),
        cmocka_unit_test(test_standardize_round_trip),
        cmocka_unit_test(test_non_finite_names_column),
        cmocka_unit_test(test_extreme_finite_values),
        cmocka_unit_test(test_fit_bad_arguments),
        cmocka_unit_test(test_create_validates),
        cmocka_unit_test(test_free_and_apply_accept_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
