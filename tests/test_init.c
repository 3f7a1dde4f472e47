/* Initialisers: each one's empirical variance on a large layer matches its
 * documented formula within sampling error; uniform forms respect their bound;
 * orthogonal matrices are orthogonal; the same seed gives the same weights. */
#include "test_support.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { N_IN = 600, N_OUT = 900 };

static void moments(const float *w, size_t n, double *mean, double *var, double *max_abs)
{
    double sum = 0.0, sq = 0.0, m = 0.0;
    for (size_t i = 0; i < n; i++) {
        sum += w[i];
        sq += (double)w[i] * w[i];
        m = fmax(m, fabs(w[i]));
    }
    *mean = sum / n;
    *var = sq / n - *mean * *mean;
    *max_abs = m;
}

typedef struct init_case {
    const char *init;
    const char *act;
    double expected_var; /* the closed form, written out here */
} init_case;

static void test_variances_match_formulas(void **state)
{
    (void)state;
    const double n_in = N_IN, n_out = N_OUT;
    const init_case cases[] = {
        {"normal:1", "linear", 1.0},
        {"uniform:1", "linear", 1.0},
        {"normal:0.02", "tanh", 0.02},
        {"glorot", "sigmoid", 2.0 / (n_in + n_out)},
        {"glorot_uniform", "tanh", 2.0 / (n_in + n_out)},
        {"he", "relu", 2.0 / n_in},
        {"he_uniform", "relu", 2.0 / n_in},
        {"he", "leaky_relu:0.2", 2.0 / ((1.0 + 0.04) * n_in)},
        {"lecun", "selu", 1.0 / n_in},
        {"lecun_uniform", "selu", 1.0 / n_in},
        {"torch", "relu", 1.0 / (3.0 * n_in)},
        {"orthogonal", "tanh", 1.0 / n_out},
        {"orthogonal:2", "relu", 4.0 / n_out},
        {"auto", "relu", 2.0 / n_in},
        {"auto", "leaky_relu:0.5", 2.0 / (1.25 * n_in)},
        {"auto", "selu", 1.0 / n_in},
        {"auto", "tanh", 1.0 / n_in},
        {"auto", "sigmoid", 2.0 / (n_in + n_out)},
    };
    float *w = malloc(sizeof(float) * N_IN * N_OUT);
    float *b = malloc(sizeof(float) * N_OUT);
    assert_non_null(w);
    assert_non_null(b);
    fm_error err;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        fm_init init;
        fm_activation act;
        FM_ASSERT_OK(fm_init_parse(cases[k].init, &init, &err), &err);
        FM_ASSERT_OK(fm_activation_parse(cases[k].act, &act, &err), &err);
        double formula = fm_init_variance(&init, &act, N_IN, N_OUT);
        if (fabs(formula - cases[k].expected_var) > 1e-12 * cases[k].expected_var)
            fail_msg("%s/%s: fm_init_variance %.12g, closed form %.12g", cases[k].init, cases[k].act, formula,
                     cases[k].expected_var);
        fm_rng rng;
        fm_rng_seed(&rng, 100 + k);
        FM_ASSERT_OK(fm_init_fill(&init, &act, N_IN, N_OUT, w, b, &rng, &err), &err);
        double mean, var, max_abs;
        size_t n = (size_t)N_IN * N_OUT;
        moments(w, n, &mean, &var, &max_abs);
        /* Sampling error of a variance estimate: sd ~ var sqrt(2/n) (normal),
         * var sqrt(0.8/n) (uniform); 6 sd is ~1% here. Orthogonal entries have
         * exactly the stated second moment. */
        double tolerance = 6.0 * sqrt(2.0 / n) * cases[k].expected_var;
        if (fabs(var - cases[k].expected_var) > tolerance)
            fail_msg("%s/%s: empirical variance %.6g, formula %.6g (tolerance %.2g)", cases[k].init, cases[k].act,
                     var, cases[k].expected_var, tolerance);
        if (fabs(mean) > 6.0 * sqrt(cases[k].expected_var / n))
            fail_msg("%s: mean %.3g is not zero", cases[k].init, mean);
        if (init.uniform && max_abs > sqrt(3.0 * cases[k].expected_var) * (1 + 1e-6))
            fail_msg("%s: |w| reaches %.6g, beyond the uniform bound %.6g", cases[k].init, max_abs,
                     sqrt(3.0 * cases[k].expected_var));
        if (init.kind == FM_INIT_TORCH) {
            double bias_bound = 1.0 / sqrt(n_in), bias_max = 0.0;
            for (int i = 0; i < N_OUT; i++)
                bias_max = fmax(bias_max, fabs(b[i]));
            assert_true(bias_max <= bias_bound && bias_max > 0.9 * bias_bound);
        } else {
            for (int i = 0; i < N_OUT; i++)
                assert_true(b[i] == 0.0f);
        }
    }
    free(w);
    free(b);
}

/* W W^T = gain^2 I for wide matrices (orthonormal rows), W^T W for tall ones. */
static void test_orthogonal_is_orthogonal(void **state)
{
    (void)state;
    const int shapes[][2] = {{64, 64}, {40, 100}, {100, 40}};
    fm_error err;
    for (int s = 0; s < 3; s++) {
        int n_in = shapes[s][0], n_out = shapes[s][1];
        float *w = malloc(sizeof(float) * (size_t)n_in * n_out);
        fm_init init;
        FM_ASSERT_OK(fm_init_parse("orthogonal:1.5", &init, &err), &err);
        fm_activation act = fm_activation_default(FM_ACT_TANH);
        fm_rng rng;
        fm_rng_seed(&rng, 5);
        FM_ASSERT_OK(fm_init_fill(&init, &act, n_in, n_out, w, NULL, &rng, &err), &err);
        int wide = n_in >= n_out; /* rows (length n_in) are orthonormal */
        int k = wide ? n_out : n_in;
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++) {
                double dot = 0.0;
                if (wide)
                    for (int c = 0; c < n_in; c++)
                        dot += (double)w[i * n_in + c] * w[j * n_in + c];
                else
                    for (int r = 0; r < n_out; r++)
                        dot += (double)w[r * n_in + i] * w[r * n_in + j];
                double expected = i == j ? 2.25 : 0.0;
                if (fabs(dot - expected) > 1e-5)
                    fail_msg("%dx%d: (Q Q^T)[%d][%d] = %.9g, expected %g", n_out, n_in, i, j, dot, expected);
            }
        free(w);
    }
}

static void test_same_seed_same_weights(void **state)
{
    (void)state;
    fm_error err;
    fm_layer_spec specs[3] = {
        {32, fm_activation_default(FM_ACT_RELU), {FM_INIT_HE, 0, 0}, 0},
        {16, fm_activation_default(FM_ACT_TANH), {FM_INIT_ORTHOGONAL, 0, 1.0}, 0},
        {3, fm_activation_default(FM_ACT_LINEAR), {FM_INIT_GLOROT, 1, 0}, 0},
    };
    fm_net *a, *b, *c;
    FM_ASSERT_OK(fm_net_create(10, specs, 3, 1234, &a, &err), &err);
    FM_ASSERT_OK(fm_net_create(10, specs, 3, 1234, &b, &err), &err);
    FM_ASSERT_OK(fm_net_create(10, specs, 3, 1235, &c, &err), &err);
    size_t n = fm_net_n_params(a);
    assert_int_equal(n, 10 * 32 + 32 + 32 * 16 + 16 + 16 * 3 + 3);
    assert_memory_equal(fm_net_params(a), fm_net_params(b), n * sizeof(float));
    assert_memory_not_equal(fm_net_params(a), fm_net_params(c), n * sizeof(float));
    fm_net_free(a);
    fm_net_free(b);
    fm_net_free(c);
}

/* fm_rng_normal_fill draws N(mean, sd^2) using both values of each polar
 * pair. With n = 2^20 draws the sampling errors (standard deviations) are:
 * mean sd/sqrt(n) ~ 0.001 sd; variance sd^2 sqrt(2/n) ~ 0.0014 sd^2; the share
 * within one sd (p = 0.6827) sqrt(p(1-p)/n) ~ 0.00045; excess kurtosis
 * sqrt(24/n) ~ 0.0048; the correlation of the two values of a pair
 * 1/sqrt(n/2) ~ 0.0014. The bounds are 5 to 6 of these: a wrong constant in
 * the transform, a biased second value or correlated pairs fail them. An odd
 * length fills every element. */
static void test_normal_fill_is_standard_normal(void **state)
{
    (void)state;
    enum { N = 1 << 20 };
    float *v = malloc(N * sizeof *v);
    assert_non_null(v);
    fm_rng rng;
    fm_rng_seed(&rng, 2024);
    const double mean = 3.0, sd = 0.5;
    fm_rng_normal_fill(&rng, v, N, mean, sd);
    double s1 = 0, s2 = 0, s4 = 0, pair = 0, within = 0;
    for (int i = 0; i < N; i++) {
        double z = ((double)v[i] - mean) / sd;
        s1 += z;
        s2 += z * z;
        s4 += z * z * z * z;
        within += fabs(z) < 1.0;
        if (i % 2 == 0)
            pair += z * (((double)v[i + 1] - mean) / sd);
    }
    double m = s1 / N, var = s2 / N - m * m;
    assert_true(fabs(m) < 0.006);
    assert_true(fabs(var - 1.0) < 0.008);
    assert_true(fabs(within / N - 0.682689) < 0.0027);
    assert_true(fabs(s4 / N / (var * var) - 3.0) < 0.03);
    assert_true(fabs(pair / (N / 2)) < 0.008);

    float odd[7];
    for (int i = 0; i < 7; i++)
        odd[i] = NAN;
    fm_rng_normal_fill(&rng, odd, 7, 0.0, 1.0);
    for (int i = 0; i < 7; i++)
        assert_true(isfinite(odd[i]) && fabsf(odd[i]) < 10.0f);
    free(v);
}

static void test_parse_errors(void **state)
{
    (void)state;
    fm_error err;
    fm_init init;
    FM_ASSERT_FAILS(fm_init_parse("gaussian", &init, &err), &err, FM_ERR_ARG, "unknown initialiser");
    FM_ASSERT_FAILS(fm_init_parse("normal", &init, &err), &err, FM_ERR_ARG, "needs a variance");
    FM_ASSERT_FAILS(fm_init_parse("normal:-1", &init, &err), &err, FM_ERR_ARG, "negative");
    FM_ASSERT_FAILS(fm_init_parse("normal:nan", &init, &err), &err, FM_ERR_ARG, "not a finite number");
    FM_ASSERT_FAILS(fm_init_parse("he:2", &init, &err), &err, FM_ERR_ARG, "takes no parameter");
    FM_ASSERT_FAILS(fm_init_parse("orthogonal:0", &init, &err), &err, FM_ERR_ARG, "positive");
    /* Canonical text parses back to the same initialiser. */
    const char *specs[] = {"auto", "normal:0.5", "uniform:2", "glorot_uniform", "he", "lecun", "orthogonal:1.5", "torch"};
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        fm_init a, b;
        char text[64];
        FM_ASSERT_OK(fm_init_parse(specs[i], &a, &err), &err);
        fm_init_format(&a, text, sizeof text);
        FM_ASSERT_OK(fm_init_parse(text, &b, &err), &err);
        assert_int_equal(a.kind, b.kind);
        assert_int_equal(a.uniform, b.uniform);
        assert_true(a.param == b.param);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_variances_match_formulas),
        cmocka_unit_test(test_orthogonal_is_orthogonal),
        cmocka_unit_test(test_same_seed_same_weights),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_normal_fill_is_standard_normal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
