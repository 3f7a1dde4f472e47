/* Theory against closed forms and published values: Gaussian moments, the
 * mean-field critical points in DESIGN.md (ReLU at sigma_w^2 = 2, tanh at 1,
 * tanh with sigma_b^2 = 0.05 at ~1.761), SELU's self-normalising fixed point
 * (0, 1) and the spectral norm ~0.7877 of its Jacobian (Klambauer et al.
 * 2017), and the closed-form moment map against quadrature. */
#include "test_support.h"

#include <math.h>
#include <string.h>

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

static int same_double(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

/* fm_meanfield_moments gives, in one sweep, bit for bit what the separate
 * functions give, bad q included; and both agree with closed forms where
 * those exist: E[relu(sqrt(q) u)^2] = q / 2, E[relu'^2] = 1/2, E[(sqrt(q) u)^2] = q. */
static void test_meanfield_moments_match_separate(void **state)
{
    (void)state;
    const double qs[] = {0.0, 1e-3, 0.5, 1.0, 3.7, 100.0, -1.0, NAN, INFINITY};
    for (int kind = 0; kind < FM_ACT_COUNT; kind++) {
        if (kind == FM_ACT_SOFTMAX)
            continue;
        fm_activation act = fm_activation_default((fm_act_kind)kind);
        for (size_t k = 0; k < sizeof qs / sizeof qs[0]; k++) {
            double phi_sq, dphi_sq;
            fm_meanfield_moments(&act, qs[k], &phi_sq, &dphi_sq);
            double want_phi = fm_meanfield_next_q(&act, qs[k], 1.0, 0.0);
            double want_dphi = fm_meanfield_derivative_moment(&act, qs[k]);
            if (!same_double(phi_sq, want_phi) || !same_double(dphi_sq, want_dphi))
                fail_msg("activation %d, q = %g: (%.17g, %.17g), separately (%.17g, %.17g)", kind, qs[k], phi_sq,
                         dphi_sq, want_phi, want_dphi);
        }
    }
    fm_activation relu = fm_activation_default(FM_ACT_RELU), lin = fm_activation_default(FM_ACT_LINEAR);
    double phi_sq, dphi_sq;
    fm_meanfield_moments(&relu, 3.7, &phi_sq, &dphi_sq);
    assert_true(fabs(phi_sq - 1.85) < 1e-12 && fabs(dphi_sq - 0.5) < 1e-12);
    fm_meanfield_moments(&lin, 2.5, &phi_sq, &dphi_sq);
    assert_true(fabs(phi_sq - 2.5) < 1e-12 && fabs(dphi_sq - 1.0) < 1e-12);
}

/* The theory columns of a probe are the recursions of DESIGN.md written out
 * with the one-expectation functions: q_1 = sigma_w2 E[x^2] + sigma_b2,
 * q_l = next_q(phi_{l-1}, q_{l-1}), chi_1 = chi1(phi_l, q_l), and backward
 * Var[dL/dz_l] = Var[dL/dz_{l+1}] n_{l+1} Var[W_{l+1}] E[phi_l'^2] (1 for a
 * softmax), over a network of every kind of hidden activation. */
static void test_theory_columns_follow_recursions(void **state)
{
    (void)state;
    enum { B = 48, N_IN = 6 };
    const fm_act_kind kinds[] = {FM_ACT_TANH, FM_ACT_RELU, FM_ACT_SELU, FM_ACT_GELU, FM_ACT_SIGMOID,
                                 FM_ACT_LEAKY_RELU, FM_ACT_ELU, FM_ACT_SILU, FM_ACT_SOFTPLUS, FM_ACT_SOFTMAX};
    enum { L = sizeof kinds / sizeof kinds[0] };
    fm_layer_spec specs[L];
    for (int l = 0; l < L; l++) {
        memset(&specs[l], 0, sizeof specs[l]);
        specs[l].n_out = l == L - 1 ? 4 : 9 + l;
        specs[l].act = fm_activation_default(kinds[l]);
        specs[l].init.kind = FM_INIT_AUTO;
    }
    fm_error err;
    fm_net *net;
    FM_ASSERT_OK(fm_net_create(N_IN, specs, L, 5, &net, &err), &err);
    for (int l = 0; l < L; l++) { /* non-zero biases, so that sigma_b2 enters */
        float *b = fm_net_bias(net, l);
        for (int u = 0; u < specs[l].n_out; u++)
            b[u] = 0.05f * (float)((u % 5) - 2);
    }
    float x[B * N_IN];
    fm_rng rng;
    fm_rng_seed(&rng, 8);
    fm_rng_normal_fill(&rng, x, B * N_IN, 0.3, 1.2);
    fm_layer_stats stats[L];
    FM_ASSERT_OK(fm_probe(net, x, B, NULL, 9, stats, &err), &err);
    double input_q = 0.0;
    for (int i = 0; i < B * N_IN; i++)
        input_q += (double)x[i] * x[i];
    input_q /= B * N_IN;
    double q = input_q, derivative[L];
    for (int l = 0; l < L; l++) {
        const float *b = fm_net_bias(net, l);
        double mean = 0.0, sq = 0.0;
        for (int u = 0; u < specs[l].n_out; u++) {
            mean += b[u];
            sq += (double)b[u] * b[u];
        }
        mean /= specs[l].n_out;
        double sigma_b2 = fmax(sq / specs[l].n_out - mean * mean, 0.0) + mean * mean;
        double sigma_w2 = stats[l].n_in * stats[l].var_w;
        q = l == 0 ? sigma_w2 * q + sigma_b2 : fm_meanfield_next_q(&specs[l - 1].act, q, sigma_w2, sigma_b2);
        double chi = fm_meanfield_chi1(&specs[l].act, q, sigma_w2);
        derivative[l] = kinds[l] == FM_ACT_SOFTMAX ? 1.0 : fm_meanfield_derivative_moment(&specs[l].act, q);
        if (fabs(stats[l].var_z_meanfield - q) > 1e-9 * q || fabs(stats[l].chi1 - chi) > 1e-9 * fabs(chi))
            fail_msg("layer %d: q %.17g (recursion %.17g), chi_1 %.17g (%.17g)", l + 1, stats[l].var_z_meanfield, q,
                     stats[l].chi1, chi);
    }
    double var = stats[L - 1].var_delta;
    assert_true(stats[L - 1].var_delta_theory == var);
    for (int l = L - 2; l >= 0; l--) {
        var *= stats[l + 1].n_out * stats[l + 1].var_w * derivative[l];
        if (fabs(stats[l].var_delta_theory - var) > 1e-9 * var)
            fail_msg("layer %d: backward theory %.17g, recursion %.17g", l + 1, stats[l].var_delta_theory, var);
    }
    fm_net_free(net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gaussian_moments),
        cmocka_unit_test(test_critical_points),
        cmocka_unit_test(test_selu_fixed_point_and_jacobian),
        cmocka_unit_test(test_selu_map_matches_quadrature),
        cmocka_unit_test(test_meanfield_moments_match_separate),
        cmocka_unit_test(test_theory_columns_follow_recursions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
