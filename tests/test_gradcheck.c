/* Finite-difference gradient checks against a double-precision reference.
 *
 * The reference is written here, independently of the library: a naive
 * double-precision forward pass (loops, no BLAS) through fm_act_value, and each
 * loss from its textbook formula. Central differences of that reference (step
 * 1e-6 in double) give the gradient that fathom's float backward pass must
 * match. Bound: |analytic - numeric| <= 2e-3 * max|numeric| + 1e-6 for every
 * parameter; float32 forward/backward errors are ~1e-6 relative, so a wrong
 * derivative (wrong by a factor, a sign, or a missing term) fails by orders of
 * magnitude. Every check also asserts that the numeric gradient is not trivially
 * small, so that an all-zero backward pass cannot pass. */
#include "test_support.h"

#include "nn/net_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FD_STEP 1e-6
#define REL_BOUND 2e-3
#define ABS_BOUND 1e-6

/* ---------------------------------------------------------------- reference */

static double ref_loss_of_output(const fm_loss *loss, const fm_activation *out_act, const double *z, const float *y,
                                 int batch, int n_out)
{
    double total = 0.0;
    if (loss->kind == FM_LOSS_CROSS_ENTROPY) {
        for (int r = 0; r < batch; r++) {
            const double *zr = z + (size_t)r * n_out;
            double sum = 0.0;
            for (int c = 0; c < n_out; c++)
                sum += exp(zr[c]);
            double p = exp(zr[(int)y[r]]) / sum;
            total += -log(p);
        }
        return total / batch;
    }
    for (int i = 0; i < batch * n_out; i++) {
        double t = y[i];
        if (loss->kind == FM_LOSS_BCE) {
            double p = 1.0 / (1.0 + exp(-z[i]));
            total += -(t * log(p) + (1.0 - t) * log(1.0 - p));
        } else {
            double d = fm_act_value(out_act, z[i]) - t;
            if (loss->kind == FM_LOSS_MSE)
                total += d * d;
            else
                total += fabs(d) <= loss->delta ? 0.5 * d * d : loss->delta * (fabs(d) - 0.5 * loss->delta);
        }
    }
    return total / (batch * n_out);
}

/* Loss of the whole network in double, for parameters p (same layout as fathom's). */
static double ref_net_loss(fm_net *net, const double *p, const float *x, const float *y, int batch,
                           const fm_loss *loss)
{
    int n_layers = fm_net_n_layers(net);
    int width = fm_net_n_in(net);
    double *in = malloc(sizeof(double) * (size_t)batch * width);
    for (int i = 0; i < batch * width; i++)
        in[i] = x[i];
    double *z = NULL;
    size_t offset = 0;
    for (int l = 0; l < n_layers; l++) {
        const fm_layer_spec *spec = fm_net_layer(net, l);
        int n_out = spec->n_out;
        const double *w = p + offset, *b = p + offset + (size_t)n_out * width;
        offset += (size_t)n_out * width + n_out;
        free(z);
        z = malloc(sizeof(double) * (size_t)batch * n_out);
        for (int r = 0; r < batch; r++)
            for (int o = 0; o < n_out; o++) {
                double s = b[o];
                for (int i = 0; i < width; i++)
                    s += w[(size_t)o * width + i] * in[(size_t)r * width + i];
                z[(size_t)r * n_out + o] = s;
            }
        if (l == n_layers - 1)
            break;
        free(in);
        in = malloc(sizeof(double) * (size_t)batch * n_out);
        for (int i = 0; i < batch * n_out; i++)
            in[i] = fm_act_value(&spec->act, z[i]);
        width = n_out;
    }
    double value = ref_loss_of_output(loss, &fm_net_layer(net, n_layers - 1)->act, z, y, batch,
                                      fm_net_n_out(net));
    free(in);
    free(z);
    return value;
}

/* ------------------------------------------------------------------ checks */

typedef struct net_case {
    const char *name;
    int n_in;
    const char *acts[8];
    int widths[8];
    int n_layers;
    const char *loss;
} net_case;

static void make_inputs(int batch, int n_in, int n_out, const fm_loss *loss, float *x, float *y, fm_rng *rng)
{
    for (int i = 0; i < batch * n_in; i++)
        x[i] = (float)fm_rng_normal(rng);
    int width = fm_loss_target_width(loss, n_out);
    for (int i = 0; i < batch * width; i++) {
        if (loss->kind == FM_LOSS_CROSS_ENTROPY)
            y[i] = (float)fm_rng_below(rng, (uint64_t)n_out);
        else if (loss->kind == FM_LOSS_BCE)
            y[i] = (float)fm_rng_uniform(rng);
        else
            y[i] = (float)(2.0 * fm_rng_normal(rng));
    }
}

static void check_net_case(const net_case *c)
{
    fm_error err;
    fm_layer_spec specs[8];
    for (int l = 0; l < c->n_layers; l++) {
        memset(&specs[l], 0, sizeof specs[l]);
        specs[l].n_out = c->widths[l];
        FM_ASSERT_OK(fm_activation_parse(c->acts[l], &specs[l].act, &err), &err);
        /* Moderate weights: the signal neither saturates nor vanishes at depth 6+. */
        FM_ASSERT_OK(fm_init_parse("normal:0.5", &specs[l].init, &err), &err);
        specs[l].init.param = 1.5 / (l > 0 ? c->widths[l - 1] : c->n_in);
    }
    fm_loss loss;
    FM_ASSERT_OK(fm_loss_parse(c->loss, &loss, &err), &err);
    fm_net *net;
    FM_ASSERT_OK(fm_net_create(c->n_in, specs, c->n_layers, 42, &net, &err), &err);
    /* Non-zero biases so that the bias gradients and kinks are exercised too. */
    fm_rng rng;
    fm_rng_seed(&rng, 7);
    for (int l = 0; l < c->n_layers; l++)
        for (int o = 0; o < specs[l].n_out; o++)
            fm_net_bias(net, l)[o] = (float)(0.1 * fm_rng_normal(&rng));

    enum { BATCH = 6 };
    int n_out = fm_net_n_out(net);
    float x[BATCH * 16], y[BATCH * 16], grad_z[BATCH * 16];
    make_inputs(BATCH, c->n_in, n_out, &loss, x, y, &rng);

    FM_ASSERT_OK(fm_net_forward(net, x, BATCH, 0, &err), &err);
    double value;
    FM_ASSERT_OK(fm_loss_compute(&loss, &specs[c->n_layers - 1].act, fm_net_z(net, c->n_layers - 1),
                                 fm_net_output(net), y, BATCH, n_out, &value, grad_z, &err),
                 &err);
    FM_ASSERT_OK(fm_net_backward(net, x, grad_z, &err), &err);

    size_t n = fm_net_n_params(net);
    double *p = malloc(n * sizeof *p);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = fm_net_params(net)[i];
    double ref_value = ref_net_loss(net, p, x, y, BATCH, &loss);
    if (fabs(ref_value - value) > 1e-5 * (1.0 + fabs(ref_value)))
        fail_msg("%s: loss %.9g differs from the double reference %.9g", c->name, value, ref_value);

    double *numeric = malloc(n * sizeof *numeric);
    double max_numeric = 0.0;
    for (size_t i = 0; i < n; i++) {
        double saved = p[i];
        p[i] = saved + FD_STEP;
        double up = ref_net_loss(net, p, x, y, BATCH, &loss);
        p[i] = saved - FD_STEP;
        double down = ref_net_loss(net, p, x, y, BATCH, &loss);
        p[i] = saved;
        numeric[i] = (up - down) / (2.0 * FD_STEP);
        if (fabs(numeric[i]) > max_numeric)
            max_numeric = fabs(numeric[i]);
    }
    if (!(max_numeric > 1e-3))
        fail_msg("%s: numeric gradient is trivially small (max %g): the check would be vacuous", c->name,
                 max_numeric);
    /* The first layer's gradient must be non-trivial too, or depth hides errors. */
    double first_max = 0.0;
    for (size_t i = 0; i < (size_t)specs[0].n_out * c->n_in; i++)
        first_max = fmax(first_max, fabs(numeric[i]));
    if (!(first_max > 1e-3 * max_numeric))
        fail_msg("%s: first-layer gradient vanished (max %g vs %g)", c->name, first_max, max_numeric);

    const float *g = fm_net_grads(net);
    double worst = 0.0;
    size_t worst_i = 0;
    for (size_t i = 0; i < n; i++) {
        double excess = fabs(g[i] - numeric[i]) - (REL_BOUND * max_numeric + ABS_BOUND);
        if (excess > worst) {
            worst = excess;
            worst_i = i;
        }
    }
    if (worst > 0.0)
        fail_msg("%s: parameter %zu: analytic %.9g vs numeric %.9g (bound %.3g)", c->name, worst_i,
                 (double)g[worst_i], numeric[worst_i], REL_BOUND * max_numeric + ABS_BOUND);
    free(p);
    free(numeric);
    fm_net_free(net);
}

static void test_deep_networks_every_loss(void **state)
{
    (void)state;
    static const net_case cases[] = {
        {"mixed-8-mse", 5, {"tanh", "relu", "selu", "gelu", "sigmoid", "elu", "silu", "linear"},
         {7, 6, 7, 5, 6, 7, 5, 3}, 8, "mse"},
        {"mixed-7-huber", 4, {"softplus", "leaky_relu:0.1", "tanh", "selu:1.0507,1.6733", "elu:0.5", "gelu", "tanh"},
         {6, 6, 5, 6, 5, 6, 2}, 7, "huber:0.3"},
        {"mixed-6-ce", 6, {"selu", "silu", "leaky_relu", "tanh", "relu", "softmax"}, {8, 7, 6, 7, 6, 4}, 6,
         "cross_entropy"},
        {"mixed-6-bce", 3, {"gelu", "elu", "softplus", "sigmoid", "selu", "sigmoid"}, {5, 6, 5, 6, 5, 3}, 6, "bce"},
        {"sigmoid-out-mse", 4, {"relu", "tanh", "silu", "softplus", "leaky_relu:0.2", "sigmoid"}, {6, 5, 6, 5, 6, 2},
         6, "mse"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_net_case(&cases[i]);
}

static void test_every_activation_in_a_deep_net(void **state)
{
    (void)state;
    static const char *acts[] = {"linear", "sigmoid", "tanh", "relu", "leaky_relu", "elu",
                                 "selu",   "gelu",    "silu", "softplus", "sine:1"};
    for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++) {
        net_case c = {acts[a], 4, {0}, {6, 6, 6, 6, 6, 3}, 6, "mse"};
        for (int l = 0; l < 5; l++)
            c.acts[l] = acts[a];
        c.acts[5] = "linear";
        check_net_case(&c);
    }
}

/* phi' of every activation against central differences of phi in double, and
 * the float forward/backward against the double forms. Points avoid the kinks
 * of relu and leaky relu (derivative undefined at 0). */
static void test_activation_derivatives(void **state)
{
    (void)state;
    static const char *acts[] = {"linear", "sigmoid", "tanh",        "relu",    "leaky_relu:0.2", "elu:0.7",
                                 "selu",   "gelu",    "silu",        "softplus", "selu:1.0507,1.6733",
                                 "sine",   "sine:1"};
    fm_error err;
    for (size_t k = 0; k < sizeof acts / sizeof acts[0]; k++) {
        fm_activation act;
        FM_ASSERT_OK(fm_activation_parse(acts[k], &act, &err), &err);
        float z[401], a[401], ones[401], dz[401];
        for (int i = 0; i < 401; i++) {
            z[i] = (float)(-8.0 + 0.04 * i + 0.013); /* never exactly 0 */
            ones[i] = 1.0f;
        }
        fm_act_forward(&act, z, a, 401);
        fm_act_backward(&act, z, ones, dz, 401);
        double nontrivial = 0.0;
        for (int i = 0; i < 401; i++) {
            double zi = z[i];
            double h = 1e-6;
            double numeric = (fm_act_value(&act, zi + h) - fm_act_value(&act, zi - h)) / (2 * h);
            double analytic = fm_act_derivative(&act, zi);
            if (fabs(numeric - analytic) > 1e-6 * (1.0 + fabs(numeric)))
                fail_msg("%s: phi'(%g) = %.12g, finite difference %.12g", acts[k], zi, analytic, numeric);
            if (fabs(dz[i] - analytic) > 2e-6 * (1.0 + fabs(analytic)))
                fail_msg("%s: float backward at %g gives %.9g, double %.12g", acts[k], zi, (double)dz[i], analytic);
            double value = fm_act_value(&act, zi);
            if (fabs(a[i] - value) > 2e-6 * (1.0 + fabs(value)))
                fail_msg("%s: float forward at %g gives %.9g, double %.12g", acts[k], zi, (double)a[i], value);
            nontrivial += fabs(analytic);
        }
        assert_true(nontrivial > 1.0);
        /* The combined evaluation the quadrature uses is both functions, bit for bit. */
        const double extra[] = {0.0, -0.0, 1e-300, -1e-300, 40.0, -40.0, 700.0, -700.0};
        for (int i = 0; i < 401 + (int)(sizeof extra / sizeof extra[0]); i++) {
            double zi = i < 401 ? z[i] : extra[i - 401], v, d;
            fm_act_value_derivative(&act, zi, &v, &d);
            double want_v = fm_act_value(&act, zi), want_d = fm_act_derivative(&act, zi);
            if (memcmp(&v, &want_v, sizeof v) != 0 || memcmp(&d, &want_d, sizeof d) != 0)
                fail_msg("%s at %g: together (%.17g, %.17g), apart (%.17g, %.17g)", acts[k], zi, v, d, want_v,
                         want_d);
        }
    }
}

/* dL/dz of every loss against central differences of the textbook loss. */
static void test_loss_gradients(void **state)
{
    (void)state;
    static const struct {
        const char *loss, *act;
    } cases[] = {{"mse", "linear"},   {"mse", "tanh"},          {"huber", "linear"}, {"huber:0.25", "softplus"},
                 {"bce", "sigmoid"},  {"cross_entropy", "softmax"}};
    fm_error err;
    fm_rng rng;
    fm_rng_seed(&rng, 3);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        fm_loss loss;
        fm_activation act;
        FM_ASSERT_OK(fm_loss_parse(cases[k].loss, &loss, &err), &err);
        FM_ASSERT_OK(fm_activation_parse(cases[k].act, &act, &err), &err);
        enum { B = 5, N = 4 };
        float z[B * N], a[B * N], y[B * N], g[B * N];
        make_inputs(B, 0, N, &loss, z, y, &rng);
        for (int i = 0; i < B * N; i++)
            z[i] = (float)(1.5 * fm_rng_normal(&rng));
        if (act.kind == FM_ACT_SOFTMAX)
            fm_softmax_rows(z, a, B, N);
        else
            fm_act_forward(&act, z, a, B * N);
        double value;
        FM_ASSERT_OK(fm_loss_compute(&loss, &act, z, a, y, B, N, &value, g, &err), &err);
        double zd[B * N];
        for (int i = 0; i < B * N; i++)
            zd[i] = z[i];
        double ref = ref_loss_of_output(&loss, &act, zd, y, B, N);
        if (fabs(ref - value) > 1e-6 * (1.0 + fabs(ref)))
            fail_msg("%s: loss %.9g vs reference %.9g", cases[k].loss, value, ref);
        double max_g = 0.0;
        for (int i = 0; i < B * N; i++) {
            double saved = zd[i];
            zd[i] = saved + 1e-6;
            double up = ref_loss_of_output(&loss, &act, zd, y, B, N);
            zd[i] = saved - 1e-6;
            double down = ref_loss_of_output(&loss, &act, zd, y, B, N);
            zd[i] = saved;
            double numeric = (up - down) / 2e-6;
            max_g = fmax(max_g, fabs(numeric));
            if (fabs(g[i] - numeric) > 1e-5 + 1e-4 * fabs(numeric))
                fail_msg("%s/%s: dL/dz[%d] = %.9g, finite difference %.9g", cases[k].loss, cases[k].act, i,
                         (double)g[i], numeric);
        }
        assert_true(max_g > 1e-3);
    }
}

/* With dropout active, the backward pass must use the same mask as the forward
 * pass: compare against a reference that applies the recorded mask. */
static void test_dropout_gradient_uses_mask(void **state)
{
    (void)state;
    fm_error err;
    fm_layer_spec specs[3] = {
        {8, fm_activation_default(FM_ACT_SELU), {FM_INIT_LECUN, 0, 0}, 0.3},
        {8, fm_activation_default(FM_ACT_TANH), {FM_INIT_LECUN, 0, 0}, 0.25},
        {2, fm_activation_default(FM_ACT_LINEAR), {FM_INIT_LECUN, 0, 0}, 0.0},
    };
    fm_net *net;
    FM_ASSERT_OK(fm_net_create(3, specs, 3, 9, &net, &err), &err);
    enum { B = 5 };
    float x[B * 3], y[B * 2], g[B * 2];
    fm_rng rng;
    fm_rng_seed(&rng, 11);
    for (int i = 0; i < B * 3; i++)
        x[i] = (float)fm_rng_normal(&rng);
    for (int i = 0; i < B * 2; i++)
        y[i] = (float)fm_rng_normal(&rng);
    fm_loss loss = {FM_LOSS_MSE, 1.0};
    FM_ASSERT_OK(fm_net_forward(net, x, B, 1, &err), &err);
    double value;
    FM_ASSERT_OK(fm_loss_compute(&loss, &specs[2].act, fm_net_z(net, 2), fm_net_output(net), y, B, 2, &value, g, &err),
                 &err);
    FM_ASSERT_OK(fm_net_backward(net, x, g, &err), &err);

    /* Reference: double forward with the recorded masks; dropped units take the
     * alpha-dropout value for SELU (A alpha' + B) and 0 otherwise. */
    size_t n = fm_net_n_params(net);
    double *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++)
        p[i] = fm_net_params(net)[i];
    float masks[2][B * 8];
    int dropped_count = 0;
    for (int l = 0; l < 2; l++)
        for (int i = 0; i < B * 8; i++) {
            masks[l][i] = net->layers[l].mask[i];
            dropped_count += masks[l][i] == 0.0f;
        }
    assert_true(dropped_count > 0 && dropped_count < 2 * B * 8);
    double q = 0.7, ap = -FM_SELU_LAMBDA * FM_SELU_ALPHA;
    double A = pow(q + ap * ap * q * (1 - q), -0.5), Bs = -A * (1 - q) * ap;
    double numeric_max = 0.0, worst = 0.0;
    for (size_t k = 0; k <= n; k++) {
        /* k == n: unperturbed check of the forward value. */
        double losses[2];
        for (int side = 0; side < 2; side++) {
            double saved = k < n ? p[k] : 0.0;
            if (k < n)
                p[k] = saved + (side ? -1e-6 : 1e-6);
            double in[B * 8], z[B * 8];
            int width = 3;
            for (int i = 0; i < B * 3; i++)
                in[i] = x[i];
            size_t off = 0;
            for (int l = 0; l < 3; l++) {
                int n_out = specs[l].n_out;
                for (int r = 0; r < B; r++)
                    for (int o = 0; o < n_out; o++) {
                        double s = p[off + (size_t)n_out * width + o];
                        for (int i = 0; i < width; i++)
                            s += p[off + (size_t)o * width + i] * in[r * width + i];
                        z[r * n_out + o] = s;
                    }
                off += (size_t)n_out * width + n_out;
                if (l == 2)
                    break;
                for (int i = 0; i < B * n_out; i++) {
                    double act = fm_act_value(&specs[l].act, z[i]);
                    if (l == 0)
                        in[i] = masks[0][i] != 0.0f ? A * act + Bs : A * ap + Bs;
                    else
                        in[i] = masks[1][i] != 0.0f ? act / 0.75 : 0.0;
                }
                width = n_out;
            }
            double total = 0.0;
            for (int i = 0; i < B * 2; i++)
                total += (z[i] - y[i]) * (z[i] - y[i]);
            losses[side] = total / (B * 2);
            if (k < n)
                p[k] = saved;
        }
        if (k == n) {
            assert_true(fabs(losses[0] - value) < 1e-5 * (1 + value));
            break;
        }
        double numeric = (losses[0] - losses[1]) / 2e-6;
        numeric_max = fmax(numeric_max, fabs(numeric));
        worst = fmax(worst, fabs(numeric - fm_net_grads(net)[k]) - 1e-4 * (1 + fabs(numeric)));
    }
    assert_true(numeric_max > 1e-2);
    if (worst > 0)
        fail_msg("dropout gradient mismatch by %g", worst);
    free(p);
    fm_net_free(net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_activation_derivatives),
        cmocka_unit_test(test_loss_gradients),
        cmocka_unit_test(test_deep_networks_every_loss),
        cmocka_unit_test(test_every_activation_in_a_deep_net),
        cmocka_unit_test(test_dropout_gradient_uses_mask),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
