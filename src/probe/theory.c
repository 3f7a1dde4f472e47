/* Closed-form and quadrature theory of signal propagation: Gaussian
 * expectations, the mean-field recursion and chi_1 (Poole et al. 2016,
 * Schoenholz et al. 2017), critical initialisations, and SELU's moment map
 * (Klambauer et al. 2017). Everything in double. */
#include "core/internal.h"

#include <math.h>
#include <pthread.h>

/* 10-point Gauss-Legendre nodes and weights on [-1, 1]. */
static const double GL_X[5] = {0.1488743389816312, 0.4333953941292472, 0.6794095682990244, 0.8650633666889845,
                               0.9739065285171717};
static const double GL_W[5] = {0.2955242247147529, 0.2692667193099963, 0.2190863625159820, 0.1494513491505806,
                               0.0666713443086881};

/* The quadrature rule: on each half-line the panel [0, 2^-30], then panels
 * [2^-k-1, 2^-k] for k = 29..2 towards the kink at 0, then uniform panels of
 * width 0.25 out to 12 (density ~1e-32 there); 10 Gauss-Legendre nodes each.
 * Nodes and their weights times the Gaussian density are constants, computed
 * once (pthread_once) rather than an exp per node at every expectation: the
 * theory columns of a diagnosed training step evaluate thousands of them. */
enum { PANELS_PER_SIDE = 29 + 47, PANELS = 2 * PANELS_PER_SIDE, NODES = 10 };

typedef struct quadrature_rule {
    double u[PANELS][NODES];
    double weight[PANELS][NODES]; /* Gauss-Legendre weight times exp(-u^2 / 2) */
    double half[PANELS];          /* half the panel's width */
} quadrature_rule;

static quadrature_rule rule;
static pthread_once_t rule_once = PTHREAD_ONCE_INIT;

static void add_panel(int p, double a, double b)
{
    double mid = 0.5 * (a + b), half = 0.5 * (b - a);
    rule.half[p] = half;
    for (int i = 0; i < 5; i++)
        for (int sign = -1; sign <= 1; sign += 2) {
            int j = 2 * i + (sign > 0);
            double u = mid + sign * half * GL_X[i];
            rule.u[p][j] = u;
            rule.weight[p][j] = GL_W[i] * exp(-0.5 * u * u);
        }
}

static void build_rule(void)
{
    int p = 0;
    for (int side = -1; side <= 1; side += 2) {
        double lo = 0.0;
        for (int k = 30; k >= 2; k--) {
            double hi = ldexp(1.0, -k);
            if (side > 0)
                add_panel(p++, lo, hi);
            else
                add_panel(p++, -hi, -lo);
            lo = hi;
        }
        for (int k = 1; k < 48; k++) {
            double a = 0.25 * k; /* panels [0.25, 0.5] ... [11.75, 12] */
            if (side > 0)
                add_panel(p++, a, a + 0.25);
            else
                add_panel(p++, -a - 0.25, -a);
        }
    }
}

/* f fills the n integrands at a node, so that expectations of one activation
 * share the nodes and the activation's evaluations. */
typedef void (*integrands)(double u, void *user, double *values);

/* E[f_k(u)], u ~ N(0, 1), for n <= 2 integrands, into out[k]. */
static void gauss_expectations(integrands f, void *user, int n, double *out)
{
    pthread_once(&rule_once, build_rule);
    double total[2] = {0.0, 0.0}, values[2];
    for (int p = 0; p < PANELS; p++) {
        double part[2] = {0.0, 0.0};
        for (int j = 0; j < NODES; j++) {
            f(rule.u[p][j], user, values);
            for (int k = 0; k < n; k++)
                part[k] += values[k] * rule.weight[p][j];
        }
        for (int k = 0; k < n; k++)
            total[k] += part[k] * rule.half[p];
    }
    for (int k = 0; k < n; k++)
        out[k] = total[k] / sqrt(2.0 * M_PI);
}

typedef struct user_function {
    double (*f)(double u, void *user);
    void *user;
} user_function;

static void one_integrand(double u, void *user, double *values)
{
    const user_function *uf = user;
    values[0] = uf->f(u, uf->user);
}

double fm_gauss_expectation(double (*f)(double u, void *user), void *user)
{
    user_function uf = {f, user};
    double e;
    gauss_expectations(one_integrand, &uf, 1, &e);
    return e;
}

typedef struct scaled_act {
    const fm_activation *act;
    double scale; /* sqrt(q) */
} scaled_act;

static void phi_squared(double u, void *user, double *values)
{
    const scaled_act *s = user;
    double v = fm_act_value(s->act, s->scale * u);
    values[0] = v * v;
}

static void dphi_squared(double u, void *user, double *values)
{
    const scaled_act *s = user;
    double d = fm_act_derivative(s->act, s->scale * u);
    values[0] = d * d;
}

static void both_squared(double u, void *user, double *values)
{
    const scaled_act *s = user;
    double v, d;
    fm_act_value_derivative(s->act, s->scale * u, &v, &d);
    values[0] = v * v;
    values[1] = d * d;
}

double fm_meanfield_next_q(const fm_activation *act, double q, double sigma_w2, double sigma_b2)
{
    if (!(q >= 0.0) || isinf(q))
        return q;
    scaled_act s = {act, sqrt(q)};
    double e;
    gauss_expectations(phi_squared, &s, 1, &e);
    return sigma_w2 * e + sigma_b2;
}

double fm_meanfield_derivative_moment(const fm_activation *act, double q)
{
    if (!(q >= 0.0) || isinf(q))
        return NAN;
    scaled_act s = {act, sqrt(q)};
    double e;
    gauss_expectations(dphi_squared, &s, 1, &e);
    return e;
}

void fm_meanfield_moments(const fm_activation *act, double q, double *phi_sq, double *dphi_sq)
{
    if (!(q >= 0.0) || isinf(q)) {
        *phi_sq = q; /* so that the next q is q again, as fm_meanfield_next_q gives */
        *dphi_sq = NAN;
        return;
    }
    scaled_act s = {act, sqrt(q)};
    double e[2];
    gauss_expectations(both_squared, &s, 2, e);
    *phi_sq = e[0];
    *dphi_sq = e[1];
}

double fm_meanfield_chi1(const fm_activation *act, double q, double sigma_w2)
{
    return sigma_w2 * fm_meanfield_derivative_moment(act, q);
}

double fm_meanfield_fixed_point(const fm_activation *act, double sigma_w2, double sigma_b2, double q0)
{
    /* Steffensen's method (the iteration accelerated by Aitken's delta-squared):
     * quadratic convergence at an attracting fixed point, where plain iteration
     * near the critical line needs thousands of steps. Falls back to the plain
     * step whenever the extrapolation is not a usable second moment. */
    double q = q0;
    for (int i = 0; i < 2000; i++) {
        double q1 = fm_meanfield_next_q(act, q, sigma_w2, sigma_b2);
        double q2 = fm_meanfield_next_q(act, q1, sigma_w2, sigma_b2);
        if (!isfinite(q2) || q2 > 1e300)
            return INFINITY;
        double denominator = q2 - 2.0 * q1 + q;
        double next = q2;
        if (denominator != 0.0) {
            double extrapolated = q - (q1 - q) * (q1 - q) / denominator;
            if (isfinite(extrapolated) && extrapolated >= 0.0)
                next = extrapolated;
        }
        if (next < 1e-300)
            return 0.0;
        if (fabs(next - q) <= 1e-13 * next)
            return next;
        q = next;
    }
    return q;
}

/* On the critical line chi_1(q*) = 1 and q* is a fixed point, so for each q*
 * the weight variance is sigma_w2 = 1 / E[phi'^2] and the bias variance that
 * makes q* a fixed point is q* - sigma_w2 E[phi^2]. Searching q* for the wanted
 * bias variance needs no fixed-point iteration at all. */
static double critical_bias_var(const fm_activation *act, double q, double *sigma_w2)
{
    double phi_sq, dphi_sq;
    fm_meanfield_moments(act, q, &phi_sq, &dphi_sq);
    *sigma_w2 = 1.0 / dphi_sq;
    return q - *sigma_w2 * phi_sq;
}

fm_status fm_meanfield_critical_weight_var(const fm_activation *act, double sigma_b2, double lo, double hi,
                                           double *sigma_w2, fm_error *err)
{
    if (!act || !sigma_w2)
        return fm_fail(err, FM_ERR_ARG, "fm_meanfield_critical_weight_var: act and sigma_w2 must not be NULL");
    if (!(lo > 0.0 && hi > lo) || !(sigma_b2 >= 0.0))
        return fm_fail(err, FM_ERR_ARG, "critical point search needs 0 < lo < hi and sigma_b2 >= 0");
    /* Bracket the root of g(q) = bias(q) - sigma_b2 on a log grid of q*, then
     * bisect in log q. A g that vanishes from the start (ReLU without bias:
     * every q* is critical at sigma_w2 = 2; tanh as q* -> 0) answers at once. */
    double q_lo = 1e-12, w = NAN, w_lo;
    double g_lo = critical_bias_var(act, q_lo, &w_lo) - sigma_b2;
    int found = fabs(g_lo) <= 1e-12 * (1.0 + sigma_b2);
    if (found)
        w = w_lo;
    double q_hi = q_lo;
    for (int i = 0; !found && i < 72; i++) { /* 1e-12 .. 1e6 in quarter decades */
        double w_hi, q = q_lo * pow(10.0, 0.25);
        double g = critical_bias_var(act, q, &w_hi) - sigma_b2;
        if (!isfinite(g))
            break;
        if ((g <= 0.0) != (g_lo <= 0.0)) {
            q_hi = q;
            found = 2;
            break;
        }
        q_lo = q;
        g_lo = g;
    }
    if (found == 2) {
        for (int i = 0; i < 100 && q_hi - q_lo > 1e-14 * q_hi; i++) {
            double mid = sqrt(q_lo * q_hi), w_mid;
            double g = critical_bias_var(act, mid, &w_mid) - sigma_b2;
            if ((g <= 0.0) == (g_lo <= 0.0)) {
                q_lo = mid;
                g_lo = g;
            } else {
                q_hi = mid;
            }
        }
        critical_bias_var(act, sqrt(q_lo * q_hi), &w);
    }
    if (!found || !(w >= lo && w <= hi))
        return fm_fail(err, FM_ERR_ARG,
                       "no critical point (chi_1 = 1 at the fixed point) with bias variance %g and weight variance "
                       "in [%g, %g]",
                       sigma_b2, lo, hi);
    *sigma_w2 = w;
    return FM_OK;
}

void fm_selu_moment_map(double mu, double nu, double omega, double tau, double alpha, double lambda,
                        double *mu_next, double *nu_next)
{
    const double m = mu * omega, v = nu * tau, s = sqrt(v), r2 = M_SQRT2;
    const double gauss = sqrt(2.0 / M_PI) * s * exp(-m * m / (2.0 * v));
    const double e1 = exp(m + v / 2.0) * erfc((m + v) / (r2 * s));
    const double e2 = exp(2.0 * (m + v)) * erfc((m + 2.0 * v) / (r2 * s));
    const double c0 = erfc(m / (r2 * s));
    double mean = 0.5 * lambda * (m * (2.0 - c0) + alpha * e1 - alpha * c0 + gauss);
    double second = 0.5 * lambda * lambda *
                    ((m * m + v) * (2.0 - c0) + alpha * alpha * (-2.0 * e1 + e2 + c0) + m * gauss);
    *mu_next = mean;
    *nu_next = second - mean * mean;
}

void fm_selu_jacobian(double mu, double nu, double omega, double tau, double alpha, double lambda, double jac[4])
{
    const double h = 1e-6;
    double mp, np, mm, nm;
    fm_selu_moment_map(mu + h, nu, omega, tau, alpha, lambda, &mp, &np);
    fm_selu_moment_map(mu - h, nu, omega, tau, alpha, lambda, &mm, &nm);
    jac[0] = (mp - mm) / (2 * h);
    jac[2] = (np - nm) / (2 * h);
    fm_selu_moment_map(mu, nu + h, omega, tau, alpha, lambda, &mp, &np);
    fm_selu_moment_map(mu, nu - h, omega, tau, alpha, lambda, &mm, &nm);
    jac[1] = (mp - mm) / (2 * h);
    jac[3] = (np - nm) / (2 * h);
}

double fm_spectral_norm_2x2(const double m[4])
{
    /* Largest eigenvalue of M^T M, in closed form. */
    double a = m[0] * m[0] + m[2] * m[2];
    double b = m[0] * m[1] + m[2] * m[3];
    double d = m[1] * m[1] + m[3] * m[3];
    double tr = a + d, det = a * d - b * b;
    double disc = sqrt(fmax(tr * tr / 4.0 - det, 0.0));
    return sqrt(tr / 2.0 + disc);
}
