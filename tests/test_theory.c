/* Theory against closed forms and published values: Gaussian moments, the
 * mean-field critical points in DESIGN.md (ReLU at sigma_w^2 = 2, tanh at 1,
 * tanh with sigma_b^2 = 0.05 at ~1.761), SELU's self-normalising fixed point
 * (0, 1) and the spectral norm ~0.7877 of its Jacobian (Klambauer et al.
 * 2017), and the closed-form moment map against quadrature. */
#include "test_support.h"

#include <math.h>

static double power(double u, void *user) { return pow(u, *(double *)user); }
static double relu_sq(double u, void *user)
{
    (void)user;
    return u > 0 ? u * u : 0.0;
}

static void test_gaussian_moments(void **state)
{
    (void)state;
    const double expected[] = {1.0, 0.0, 1.0, 0.0, 3.0, 0.0, 15.0, 0.0, 105.0};
    for (int k = 0; k <= 8; k++) {
        double p = k;
        double e = fm_gauss_expectation(power, &p);
        if (fabs(e - expected[k]) > 1e-12 * (1 + expected[k]))
            fail_msg("E[u^%d] = %.15g, expected %g", k, e, expected[k]);
    }
    assert_true(fabs(fm_gauss_expectation(relu_sq, NULL) - 0.5) < 1e-13);
    /* SELU's defining property: E[selu(u)] = 0 and E[selu(u)^2] = 1 for u ~ N(0, 1). */
    fm_activation selu = fm_activation_default(FM_ACT_SELU);
    assert_true(fabs(fm_meanfield_next_q(&selu, 1.0, 1.0, 0.0) - 1.0) < 1e-9);
    /* tanh(100 u) is nearly a step; its square's expectation is close to 1 -
     * E[sech^2] ~ 1 - 2/(100 sqrt(2 pi)) (derivative mass at 0). */
    fm_activation tanh_act = fm_activation_default(FM_ACT_TANH);
    double steep = fm_meanfield_next_q(&tanh_act, 1e4, 1.0, 0.0);
    assert_true(fabs(steep - (1.0 - 2.0 / (100.0 * sqrt(2.0 * M_PI)))) < 1e-6);
}

static void test_critical_points(void **state)
{
    (void)state;
    fm_error err;
    fm_activation relu = fm_activation_default(FM_ACT_RELU), tanh_act = fm_activation_default(FM_ACT_TANH);
    double w;
    FM_ASSERT_OK(fm_meanfield_critical_weight_var(&relu, 0.0, 0.5, 4.0, &w, &err), &err);
    if (fabs(w - 2.0) > 1e-9)
        fail_msg("ReLU critical sigma_w^2 = %.12g, expected 2 (He)", w);
    FM_ASSERT_OK(fm_meanfield_critical_weight_var(&tanh_act, 0.0, 0.5, 1.5, &w, &err), &err);
    if (fabs(w - 1.0) > 2e-3)
        fail_msg("tanh critical sigma_w^2 = %.12g, expected 1", w);
    FM_ASSERT_OK(fm_meanfield_critical_weight_var(&tanh_act, 0.05, 1.0, 3.0, &w, &err), &err);
    if (fabs(w - 1.761) > 2e-3)
        fail_msg("tanh (sigma_b^2 0.05) critical sigma_w^2 = %.12g, expected ~1.761", w);
    /* chi_1 of ReLU is sigma_w^2 / 2 whatever q. */
    assert_true(fabs(fm_meanfield_chi1(&relu, 3.7, 2.0) - 1.0) < 1e-12);
    /* Linear: q grows by sigma_w^2 per layer, chi_1 = sigma_w^2. */
    fm_activation lin = fm_activation_default(FM_ACT_LINEAR);
    assert_true(fabs(fm_meanfield_next_q(&lin, 2.0, 3.0, 0.5) - 6.5) < 1e-12);
    FM_ASSERT_FAILS(fm_meanfield_critical_weight_var(&relu, 0.0, 3.0, 4.0, &w, &err), &err, FM_ERR_ARG,
                    "no critical point");
    /* ReLU with a bias has no critical point: chi_1 = sigma_w^2 / 2 < 1 wherever q* is finite. */
    FM_ASSERT_FAILS(fm_meanfield_critical_weight_var(&relu, 0.1, 0.5, 4.0, &w, &err), &err, FM_ERR_ARG,
                    "no critical point");
    /* The answer is a fixed point where chi_1 = 1, checked by iterating the recursion. */
    FM_ASSERT_OK(fm_meanfield_critical_weight_var(&tanh_act, 0.05, 1.0, 3.0, &w, &err), &err);
    double q_star = fm_meanfield_fixed_point(&tanh_act, w, 0.05, 1.0);
    assert_true(fabs(fm_meanfield_chi1(&tanh_act, q_star, w) - 1.0) < 1e-6);
}

static void test_selu_fixed_point_and_jacobian(void **state)
{
    (void)state;
    double mu, nu;
    fm_selu_moment_map(0.0, 1.0, 0.0, 1.0, FM_SELU_ALPHA, FM_SELU_LAMBDA, &mu, &nu);
    if (fabs(mu) > 1e-12 || fabs(nu - 1.0) > 1e-12)
        fail_msg("g(0, 1) = (%.15g, %.15g), expected (0, 1)", mu, nu);
    double j[4];
    fm_selu_jacobian(0.0, 1.0, 0.0, 1.0, FM_SELU_ALPHA, FM_SELU_LAMBDA, j);
    /* Klambauer et al. 2017: J(0, 1, 0, 1) = ((0, 0.088834), (0, 0.782648)), norm 0.7877. */
    assert_true(fabs(j[0]) < 1e-8 && fabs(j[2]) < 1e-8);
    assert_true(fabs(j[1] - 0.088834) < 1e-5);
    assert_true(fabs(j[3] - 0.782648) < 1e-5);
    double norm = fm_spectral_norm_2x2(j);
    if (fabs(norm - 0.7877) > 1e-4)
        fail_msg("spectral norm %.6f, expected ~0.7877", norm);
    /* The lecture's swapped constants move the fixed point: g(0, 1) != (0, 1). */
    fm_selu_moment_map(0.0, 1.0, 0.0, 1.0, FM_SELU_LAMBDA, FM_SELU_ALPHA, &mu, &nu);
    assert_true(fabs(mu) > 0.1 || fabs(nu - 1.0) > 0.1);
    /* Spectral norm of a known matrix: [[3, 0], [4, 5]] has singular values sqrt(45) and sqrt(5). */
    const double m[4] = {3, 0, 4, 5};
    assert_true(fabs(fm_spectral_norm_2x2(m) - sqrt(45.0)) < 1e-12);
}

typedef struct shifted {
    fm_activation act;
    double mean, sd;
    int square;
} shifted;

static double shifted_selu(double u, void *user)
{
    const shifted *s = user;
    double v = fm_act_value(&s->act, s->mean + s->sd * u);
    return s->square ? v * v : v;
}

/* The closed form against quadrature of E[selu(z)] with z ~ N(mu omega, nu tau). */
static void test_selu_map_matches_quadrature(void **state)
{
    (void)state;
    const double cases[][4] = {{0.0, 1.3, 0.0, 0.8}, {0.4, 0.7, 0.5, 1.2}, {-0.6, 1.5, 0.3, 0.9}};
    for (int k = 0; k < 3; k++) {
        double mu = cases[k][0], nu = cases[k][1], omega = cases[k][2], tau = cases[k][3];
        double m_closed, v_closed;
        fm_selu_moment_map(mu, nu, omega, tau, FM_SELU_ALPHA, FM_SELU_LAMBDA, &m_closed, &v_closed);
        shifted s = {fm_activation_default(FM_ACT_SELU), mu * omega, sqrt(nu * tau), 0};
        double m_quad = fm_gauss_expectation(shifted_selu, &s);
        s.square = 1;
        double v_quad = fm_gauss_expectation(shifted_selu, &s) - m_quad * m_quad;
        if (fabs(m_closed - m_quad) > 1e-5 || fabs(v_closed - v_quad) > 1e-5)
            fail_msg("case %d: closed form (%.9g, %.9g), quadrature (%.9g, %.9g)", k, m_closed, v_closed, m_quad,
                     v_quad);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gaussian_moments),
        cmocka_unit_test(test_critical_points),
        cmocka_unit_test(test_selu_fixed_point_and_jacobian),
        cmocka_unit_test(test_selu_map_matches_quadrature),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
