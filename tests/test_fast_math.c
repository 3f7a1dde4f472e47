/* Accuracy of core/fast_math.h and of the float activation kernels built on it.
 *
 * References are computed in double (exp, expm1, tanh, and the library's own
 * double forms fm_act_value / fm_act_derivative, which stay the reference).
 * Errors are measured in ulps of the float nearest the reference (the ulp of
 * a denormal is 2^-149), or relative to the reference.
 *
 * Points: 2^20 + 1 evenly spaced floats in [-90, 90]; every 4099th float bit
 * pattern (~1.05M points covering the whole float line: denormals, huge
 * values); the special values (+-0, denormals, FLT_MIN, FLT_MAX, +-inf); 64
 * floats either side of every threshold of the implementation (the clamps,
 * ln FLT_MAX, ln FLT_MIN, ln 2^-149, tanh's saturation) and 16 either side
 * of every range-reduction boundary (k + 1/2) ln2.
 *
 * Bounds asserted (in brackets: the maxima on these points, then over every
 * 17th float, 2.5e8 values, measured once offline):
 *   fm_fast_expf    <= 1 ulp                        (0.951; 0.954)
 *   fm_fast_expm1f  <= 1.5 ulp, relative <= 2e-7    (1.238, 1.19e-7; 1.254, 1.21e-7)
 *   fm_fast_sigmoid <= 2.5 ulp, relative <= 2e-7    (2.12, 1.72e-7; 2.40, 1.76e-7),
 *                   results >= FLT_MIN; 1 - sigmoid the same
 *   fm_fast_tanhf   <= 2.5 ulp, relative <= 2e-7    (2.29, 1.64e-7; 2.42, 1.76e-7)
 *   sigmoid', tanh' relative <= 4e-7                (2.96e-7, 2.87e-7)
 * and for the kernels, see kernel_bound. */
#include "test_support.h"

#include "core/fast_math.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ points */

typedef struct points {
    float *x;
    size_t n, cap;
} points;

static void push(points *p, float x)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 4096;
        p->x = realloc(p->x, p->cap * sizeof *p->x);
        assert_non_null(p->x);
    }
    p->x[p->n++] = x;
}

static void push_around(points *p, float t, int count)
{
    float up = t, down = t;
    push(p, t);
    for (int i = 0; i < count; i++) {
        up = nextafterf(up, INFINITY);
        down = nextafterf(down, -INFINITY);
        push(p, up);
        push(p, down);
    }
}

static points sweep_points(void)
{
    points p = {NULL, 0, 0};
    const size_t n_uniform = (size_t)1 << 20;
    for (size_t i = 0; i <= n_uniform; i++)
        push(&p, (float)(-90.0 + 180.0 * (double)i / (double)n_uniform));
    for (uint64_t b = 0; b < ((uint64_t)1 << 32); b += 4099) {
        float x = fm_u2f_((uint32_t)b);
        if (!isnan(x))
            push(&p, x);
    }
    static const float specials[] = {0.0f,     -0.0f,     0x1p-149f, -0x1p-149f, 0x1p-130f, -0x1p-130f,
                                     FLT_MIN,  -FLT_MIN,  FLT_MAX,   -FLT_MAX,   INFINITY,  -INFINITY,
                                     1e-8f,    -1e-8f,    1.0f,      -1.0f};
    for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++)
        push(&p, specials[i]);
    static const float thresholds[] = {
        88.72283935546875f, /* ln FLT_MAX */
        -87.33654022216797f, /* ln FLT_MIN */
        -103.27892303466797f, /* ln 2^-149 */
        -103.97207641601562f, /* ln 2^-150 */
        89.0f, -104.0f, 20.0f, -20.0f, 10.0f, 9.0109f, -9.0109f, 4.5f, -4.5f,
        16.635532f, /* 24 ln2 */
        -17.328680f, /* -25 ln2 */
    };
    for (size_t i = 0; i < sizeof thresholds / sizeof thresholds[0]; i++)
        push_around(&p, thresholds[i], 64);
    for (int k = -151; k <= 129; k++)
        push_around(&p, (float)((k + 0.5) * M_LN2), 16);
    return p;
}

/* ------------------------------------------------------------------ errors */

/* |got - ref| in ulps of the float nearest ref; 0 for matching NaN / inf,
 * HUGE_VAL for a NaN, an infinity or a finite value where it should not be. */
static double ulp_error(float got, double ref)
{
    if (isnan(ref))
        return isnan(got) ? 0.0 : HUGE_VAL;
    float rf = (float)ref;
    if (isinf(rf))
        return got == rf ? 0.0 : HUGE_VAL;
    if (!isfinite(got))
        return HUGE_VAL;
    double a = fabs(ref), ulp = 0x1p-149;
    if (a >= 0x1p-126) {
        int e;
        frexp(a, &e); /* a in [2^(e-1), 2^e) */
        ulp = ldexp(1.0, e - 24);
    }
    return fabs((double)got - ref) / ulp;
}

static double rel_error(float got, double ref)
{
    if (ref == 0.0)
        return got == 0.0f ? 0.0 : HUGE_VAL;
    return fabs((double)got - ref) / fabs(ref);
}

typedef struct worst {
    double err;
    float at;
} worst;

static void track(worst *w, double err, float x)
{
    if (err > w->err || (isnan(err) && !isnan(w->err))) {
        w->err = err;
        w->at = x;
    }
}

static double sigmoid_ref(double z) { return z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z)); }

/* ------------------------------------------------------------ the functions */

static void test_exp_expm1_ulps(void **state)
{
    (void)state;
    points p = sweep_points();
    worst e = {0, 0}, m = {0, 0}, mr = {0, 0};
    for (size_t i = 0; i < p.n; i++) {
        float x = p.x[i];
        track(&e, ulp_error(fm_fast_expf(x), exp((double)x)), x);
        double ref = expm1((double)x);
        float got = fm_fast_expm1f(x);
        track(&m, ulp_error(got, ref), x);
        if (isfinite(ref) && fabs(ref) < FLT_MAX)
            track(&mr, rel_error(got, ref), x);
    }
    print_message("fm_fast_expf: max %.3f ulp at %a; fm_fast_expm1f: max %.3f ulp at %a, relative %.3g at %a "
                  "(%zu points)\n",
                  e.err, (double)e.at, m.err, (double)m.at, mr.err, (double)mr.at, p.n);
    if (!(e.err <= 1.0))
        fail_msg("fm_fast_expf: %.3f ulp at %a", e.err, (double)e.at);
    if (!(m.err <= 1.5))
        fail_msg("fm_fast_expm1f: %.3f ulp at %a", m.err, (double)m.at);
    if (!(mr.err <= 2e-7))
        fail_msg("fm_fast_expm1f: relative error %.3g at %a", mr.err, (double)mr.at);
    free(p.x);
}

/* The kernels call restricted forms that leave out what their arguments
 * never need. fm_fast_expf is fm_fast_expf_to89 behind its upper clamp, so
 * the tests of fm_fast_expf cover it; fm_fast_expm1f_to20 (on x <= 20) has a
 * body of its own and must give fm_fast_expm1f's bits there, so that the
 * accuracy bounds above carry over. Checked on the sweep's points and on
 * every 257th float bit pattern, NaN and -inf included. */
static int same_result(float a, float b) { return (isnan(a) && isnan(b)) || fm_f2u_(a) == fm_f2u_(b); }

static void check_restricted(float x)
{
    if (!(x > 20.0f) && !same_result(fm_fast_expm1f_to20(x), fm_fast_expm1f(x)))
        fail_msg("fm_fast_expm1f_to20(%a) = %a, fm_fast_expm1f %a", (double)x, (double)fm_fast_expm1f_to20(x),
                 (double)fm_fast_expm1f(x));
}

static void test_restricted_forms(void **state)
{
    (void)state;
    points p = sweep_points();
    for (size_t i = 0; i < p.n; i++)
        check_restricted(p.x[i]);
    free(p.x);
    for (uint64_t b = 0; b < ((uint64_t)1 << 32); b += 257)
        check_restricted(fm_u2f_((uint32_t)b));
    check_restricted(NAN);
    check_restricted(-NAN);
    check_restricted(-INFINITY);
    check_restricted(20.0f);
    check_restricted(nextafterf(20.0f, 0.0f));
}

static void test_exp_expm1_special_values(void **state)
{
    (void)state;
    assert_true(fm_fast_expf(0.0f) == 1.0f);
    assert_true(fm_fast_expf(-0.0f) == 1.0f);
    assert_true(fm_fast_expf(INFINITY) == INFINITY);
    assert_true(fm_fast_expf(-INFINITY) == 0.0f);
    assert_true(isnan(fm_fast_expf(NAN)));
    assert_true(isnan(fm_fast_expf(-NAN)));
    assert_true(fm_fast_expf(88.72283f) <= FLT_MAX);       /* just below ln FLT_MAX: finite */
    assert_true(fm_fast_expf(88.72284f) == INFINITY);      /* just above: overflows like expf */
    assert_true(fm_fast_expf(-103.0f) > 0.0f);             /* denormal result */
    assert_true(fm_fast_expf(-104.0f) == 0.0f);
    assert_true(fm_fast_expf(-1e30f) == 0.0f);
    assert_true(fm_fast_expf(1e30f) == INFINITY);
    assert_true(fm_fast_expm1f(0.0f) == 0.0f && !signbit(fm_fast_expm1f(0.0f)));
    assert_true(fm_fast_expm1f(-0.0f) == 0.0f && signbit(fm_fast_expm1f(-0.0f)));
    assert_true(fm_fast_expm1f(0x1p-149f) == 0x1p-149f);    /* expm1(x) = x for tiny x */
    assert_true(fm_fast_expm1f(-0x1p-130f) == -0x1p-130f);
    assert_true(fm_fast_expm1f(1e-8f) == 1e-8f);
    assert_true(fm_fast_expm1f(-INFINITY) == -1.0f);
    assert_true(fm_fast_expm1f(-30.0f) == -1.0f);
    assert_true(fm_fast_expm1f(INFINITY) == INFINITY);
    assert_true(fm_fast_expm1f(88.72283f) <= FLT_MAX);
    assert_true(fm_fast_expm1f(88.72284f) == INFINITY);
    assert_true(isnan(fm_fast_expm1f(NAN)));
}

static void test_sigmoid_tanh(void **state)
{
    (void)state;
    points p = sweep_points();
    worst su = {0, 0}, sr = {0, 0}, tu = {0, 0}, tr = {0, 0}, cr = {0, 0}, sdr = {0, 0}, tdr = {0, 0};
    for (size_t i = 0; i < p.n; i++) {
        float x = p.x[i];
        double s = sigmoid_ref(x), t = tanh((double)x);
        float comp, got = fm_fast_sigmoid2(x, &comp);
        if (got != fm_fast_sigmoid(x))
            fail_msg("fm_fast_sigmoid and fm_fast_sigmoid2 differ at %a", (double)x);
        if (s >= FLT_MIN) { /* away from underflow */
            track(&su, ulp_error(got, s), x);
            track(&sr, rel_error(got, s), x);
        }
        if (1.0 - s >= FLT_MIN)
            track(&cr, rel_error(comp, sigmoid_ref(-(double)x)), x);
        /* The derivatives against accurate double forms: s (1 - s) = e / (1 + e)^2,
         * 1 - t^2 = 4 e2 / (1 + e2)^2 with e = e^-|x|, e2 = e^-2|x|. */
        double ed = exp(-fabs((double)x)), e2 = exp(-2.0 * fabs((double)x));
        double sd = ed / ((1.0 + ed) * (1.0 + ed)), td = 4.0 * e2 / ((1.0 + e2) * (1.0 + e2));
        if (sd >= FLT_MIN)
            track(&sdr, rel_error(fm_fast_sigmoid_deriv(x), sd), x);
        if (td >= FLT_MIN)
            track(&tdr, rel_error(fm_fast_tanh_deriv(x), td), x);
        float tg = fm_fast_tanhf(x);
        track(&tu, ulp_error(tg, t), x);
        if (fabs(t) >= FLT_MIN)
            track(&tr, rel_error(tg, t), x);
    }
    print_message("sigmoid: max %.3f ulp at %a, relative %.3g at %a (1 - sigmoid: %.3g at %a); "
                  "tanh: max %.3f ulp at %a, relative %.3g at %a\n",
                  su.err, (double)su.at, sr.err, (double)sr.at, cr.err, (double)cr.at, tu.err, (double)tu.at,
                  tr.err, (double)tr.at);
    if (!(su.err <= 2.5 && sr.err <= 2e-7 && cr.err <= 2e-7))
        fail_msg("sigmoid: %.3f ulp at %a, relative %.3g at %a, 1 - sigmoid %.3g at %a", su.err, (double)su.at,
                 sr.err, (double)sr.at, cr.err, (double)cr.at);
    print_message("sigmoid': relative %.3g at %a; tanh': relative %.3g at %a\n", sdr.err, (double)sdr.at, tdr.err,
                  (double)tdr.at);
    if (!(sdr.err <= 4e-7 && tdr.err <= 4e-7))
        fail_msg("sigmoid': relative %.3g at %a; tanh': relative %.3g at %a", sdr.err, (double)sdr.at, tdr.err,
                 (double)tdr.at);
    if (!(tu.err <= 2.5 && tr.err <= 2e-7))
        fail_msg("tanh: %.3f ulp at %a, relative %.3g at %a", tu.err, (double)tu.at, tr.err, (double)tr.at);
    free(p.x);

    assert_true(fm_fast_sigmoid(INFINITY) == 1.0f);
    assert_true(fm_fast_sigmoid(-INFINITY) == 0.0f);
    assert_true(fm_fast_sigmoid(0.0f) == 0.5f);
    assert_true(isnan(fm_fast_sigmoid(NAN)));
    assert_true(fm_fast_tanhf(INFINITY) == 1.0f);
    assert_true(fm_fast_tanhf(-INFINITY) == -1.0f);
    assert_true(fm_fast_tanhf(9.5f) == 1.0f && fm_fast_tanhf(-9.5f) == -1.0f);
    assert_true(fm_fast_tanhf(-0.0f) == 0.0f && signbit(fm_fast_tanhf(-0.0f)));
    assert_true(fm_fast_tanhf(1e-30f) == 1e-30f);
    assert_true(isnan(fm_fast_tanhf(NAN)));
    assert_true(fm_fast_tanh_deriv(INFINITY) == 0.0f && fm_fast_tanh_deriv(0.0f) == 1.0f);
    assert_true(fm_fast_sigmoid_deriv(-INFINITY) == 0.0f && fm_fast_sigmoid_deriv(0.0f) == 0.25f);
    assert_true(isnan(fm_fast_tanh_deriv(NAN)) && isnan(fm_fast_sigmoid_deriv(NAN)));
}

/* ------------------------------------------------------------------ kernels */

static const char *const ACTS[] = {"linear", "sigmoid", "tanh", "relu", "leaky_relu:0.2", "elu", "elu:0.7",
                                   "selu",   "gelu",    "silu", "softplus", "selu:1.0507,1.6733"};

/* The bound of one kernel value against the double reference: relative for
 * the exp-based activations (with a floor of a few denormal ulps for results
 * in the underflow range), and for SiLU' (which crosses zero at z ~ -1.28)
 * relative to s (1 + |z| (1 - s)), the size of the terms that cancel. GELU
 * and softplus forward (libm erff / log1pf, unchanged) get the
 * 2e-6 (1 + |ref|) of test_gradcheck. */
static double kernel_bound(const fm_activation *act, int backward, double z, double ref)
{
    const double tiny = 0x1p-146;
    switch (act->kind) {
    case FM_ACT_GELU: return 2e-6 * (1.0 + fabs(ref));
    case FM_ACT_SOFTPLUS:
        return backward ? 2e-7 * fabs(ref) + tiny : 2e-6 * (1.0 + fabs(ref));
    case FM_ACT_SILU:
        if (backward) {
            double s = sigmoid_ref(z);
            return 3e-7 * s * (1.0 + fabs(z) * (1.0 - s)) + 0x1p-140;
        }
        /* z * sigmoid(z): one rounding more; and sigmoid(z) underflows to 0
         * (z < -103.9) before the product with z would be a denormal (so also
         * the floor of SiLU' above). */
        return 2.5e-7 * fabs(ref) + 0x1p-140;
    case FM_ACT_SIGMOID:
    case FM_ACT_TANH:
        /* The double references s (1 - s) and 1 - t^2 themselves lose all but
         * ~1e-16 absolutely as s, |t| -> 1 (the kernels do not: see
         * test_sigmoid_tanh, which checks them against e / (1 + e)^2). */
        return backward ? 4e-7 * fabs(ref) + 4e-16 : 2e-7 * fabs(ref) + tiny;
    default: return 2.5e-7 * fabs(ref) + tiny;
    }
}

static void test_kernels_against_double(void **state)
{
    (void)state;
    /* Dense on [-20, 20] (where everything is away from underflow), then the
     * tails down to underflow and overflow. */
    const size_t n_dense = (size_t)1 << 20, n_tail = (size_t)1 << 16;
    size_t n = n_dense + 2 * n_tail;
    float *z = malloc(n * sizeof *z), *a = malloc(n * sizeof *a), *g = malloc(n * sizeof *g);
    float *ones = malloc(n * sizeof *ones);
    assert_true(z && a && g && ones);
    for (size_t i = 0; i < n_dense; i++)
        z[i] = (float)(-20.0 + 40.0 * (double)i / (double)(n_dense - 1));
    for (size_t i = 0; i < n_tail; i++) {
        z[n_dense + i] = (float)(-120.0 + 100.0 * (double)i / (double)n_tail);
        z[n_dense + n_tail + i] = (float)(20.0 + 68.0 * (double)i / (double)n_tail);
    }
    for (size_t i = 0; i < n; i++)
        ones[i] = 1.0f;
    fm_error err;
    for (size_t k = 0; k < sizeof ACTS / sizeof ACTS[0]; k++) {
        fm_activation act;
        FM_ASSERT_OK(fm_activation_parse(ACTS[k], &act, &err), &err);
        fm_act_forward(&act, z, a, n);
        fm_act_backward(&act, z, ones, g, n);
        worst f = {0, 0}, b = {0, 0}, used = {0, 0};
        for (size_t i = 0; i < n; i++) {
            double zi = z[i];
            double v = fm_act_value(&act, zi), d = fm_act_derivative(&act, zi);
            double fe = fabs((double)a[i] - v), be = fabs((double)g[i] - d);
            double fb = kernel_bound(&act, 0, zi, v), bb = kernel_bound(&act, 1, zi, d);
            if (!(fe <= fb))
                fail_msg("%s forward at %a: %.9g, double %.17g (error %.3g > %.3g)", ACTS[k], zi, (double)a[i], v,
                         fe, fb);
            if (!(be <= bb))
                fail_msg("%s backward at %a: %.9g, double %.17g (error %.3g > %.3g)", ACTS[k], zi, (double)g[i], d,
                         be, bb);
            track(&used, fe / fb > be / bb ? fe / fb : be / bb, z[i]);
            if (fabs(zi) <= 8.0) { /* relative errors where every reference is accurate */
                track(&f, v != 0 ? fe / fabs(v) : fe, z[i]);
                if (!(act.kind == FM_ACT_SILU && fabs(d) < 1e-3)) /* SiLU' = 0 at z ~ -1.28 */
                    track(&b, d != 0 ? be / fabs(d) : be, z[i]);
            }
        }
        print_message("%-20s max relative error on [-8, 8]: forward %.3g at %a, backward %.3g at %a; "
                      "max share of the bound used on [-120, 88]: %.2f at %a\n",
                      ACTS[k], f.err, (double)f.at, b.err, (double)b.at, used.err, (double)used.at);
    }
    free(z);
    free(a);
    free(g);
    free(ones);
}

/* NaN in gives NaN out; +-inf behave like the libm forms. */
static void test_kernels_special_values(void **state)
{
    (void)state;
    const float z[4] = {NAN, INFINITY, -INFINITY, -0.0f};
    const float ones[4] = {1.0f, 1.0f, 1.0f, 1.0f};
    float a[4], g[4];
    fm_error err;
    for (size_t k = 0; k < sizeof ACTS / sizeof ACTS[0]; k++) {
        fm_activation act;
        FM_ASSERT_OK(fm_activation_parse(ACTS[k], &act, &err), &err);
        fm_act_forward(&act, z, a, 4);
        fm_act_backward(&act, z, ones, g, 4);
        if (!isnan(a[0]) && act.kind != FM_ACT_RELU && act.kind != FM_ACT_LEAKY_RELU)
            fail_msg("%s(NaN) = %g", ACTS[k], (double)a[0]);
        if (!isnan(g[0]) && act.kind != FM_ACT_RELU && act.kind != FM_ACT_LEAKY_RELU && act.kind != FM_ACT_LINEAR)
            fail_msg("%s'(NaN) = %g", ACTS[k], (double)g[0]);
        /* The double reference at +-inf (gelu's is NaN at -inf: 0 * inf). */
        for (int i = 1; i < 3; i++) {
            double v = fm_act_value(&act, z[i]);
            if (act.kind == FM_ACT_GELU)
                continue;
            if (!((double)a[i] == (float)v) && !(isnan(a[i]) && isnan(v))) /* silu(-inf): -inf * 0 */
                fail_msg("%s(%g) = %g, double %g", ACTS[k], (double)z[i], (double)a[i], v);
        }
        if (act.kind == FM_ACT_ELU || act.kind == FM_ACT_SELU) {
            assert_true(isnan(a[0]) && isnan(g[0]));
            float neg = act.kind == FM_ACT_ELU ? (float)act.alpha : (float)(act.lambda * act.alpha);
            assert_true(a[1] == INFINITY && a[2] == -neg);
            assert_true(g[1] == (act.kind == FM_ACT_ELU ? 1.0f : (float)act.lambda) && g[2] == 0.0f);
        }
    }
    fm_activation selu = fm_activation_default(FM_ACT_SELU);
    fm_act_forward(&selu, z, a, 4);
    assert_true(a[1] == INFINITY);
    assert_true(a[2] == (float)(FM_SELU_LAMBDA * FM_SELU_ALPHA) * -1.0f);
    fm_activation sig = fm_activation_default(FM_ACT_SIGMOID), th = fm_activation_default(FM_ACT_TANH);
    fm_act_forward(&sig, z, a, 4);
    assert_true(isnan(a[0]) && a[1] == 1.0f && a[2] == 0.0f && a[3] == 0.5f);
    fm_act_forward(&th, z, a, 4);
    assert_true(isnan(a[0]) && a[1] == 1.0f && a[2] == -1.0f && a[3] == 0.0f && signbit(a[3]));
}

/* The vectorised loops: every length (vector body and scalar remainder) and
 * in place (a == z, grad_z == grad_a) give the same bits as one element at a
 * time. */
static void test_kernels_lengths_and_aliasing(void **state)
{
    (void)state;
    enum { N = 67 };
    float z[N], gin[N], a[N], g[N], a1[N], g1[N], inplace[N];
    for (int i = 0; i < N; i++) {
        z[i] = (float)(-6.0 + 12.0 * i / (N - 1) + 0.01);
        gin[i] = (float)(0.5 + 0.01 * i);
    }
    fm_error err;
    for (size_t k = 0; k < sizeof ACTS / sizeof ACTS[0]; k++) {
        fm_activation act;
        FM_ASSERT_OK(fm_activation_parse(ACTS[k], &act, &err), &err);
        for (int i = 0; i < N; i++) {
            fm_act_forward(&act, &z[i], &a1[i], 1);
            fm_act_backward(&act, &z[i], &gin[i], &g1[i], 1);
        }
        for (int len = 0; len <= N; len++) {
            memset(a, 0, sizeof a);
            memset(g, 0, sizeof g);
            fm_act_forward(&act, z, a, (size_t)len);
            fm_act_backward(&act, z, gin, g, (size_t)len);
            if (memcmp(a, a1, (size_t)len * sizeof *a) != 0 || memcmp(g, g1, (size_t)len * sizeof *g) != 0)
                fail_msg("%s: a call on %d elements differs from element-wise calls", ACTS[k], len);
        }
        memcpy(inplace, z, sizeof inplace);
        fm_act_forward(&act, inplace, inplace, N);
        assert_memory_equal(inplace, a1, sizeof inplace);
        memcpy(inplace, gin, sizeof inplace);
        fm_act_backward(&act, z, inplace, inplace, N);
        assert_memory_equal(inplace, g1, sizeof inplace);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exp_expm1_ulps),
        cmocka_unit_test(test_exp_expm1_special_values),
        cmocka_unit_test(test_restricted_forms),
        cmocka_unit_test(test_sigmoid_tanh),
        cmocka_unit_test(test_kernels_against_double),
        cmocka_unit_test(test_kernels_special_values),
        cmocka_unit_test(test_kernels_lengths_and_aliasing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
