/* The network object: dead ReLU units learn nothing, bad shapes are refused,
 * buffers grow once, softmax and alpha-dropout behave as the theory says,
 * activations parse and print back, training is bit-identical for a seed. */
#include "test_support.h"

#include "nn/net_internal.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static fm_layer_spec layer(int n_out, fm_act_kind kind, fm_init_kind init)
{
    fm_layer_spec s;
    memset(&s, 0, sizeof s);
    s.n_out = n_out;
    s.act = fm_activation_default(kind);
    s.init.kind = init;
    return s;
}

/* A ReLU unit whose pre-activation is negative on every sample outputs 0 and
 * gets gradient 0: after an SGD step its incoming weights and bias are
 * bit-for-bit unchanged, while its live neighbours move. (FANN once passed the
 * full gradient to such units.) */
static void test_dead_relu_unit_does_not_move(void **state)
{
    (void)state;
    fm_error err;
    fm_layer_spec specs[3] = {layer(8, FM_ACT_RELU, FM_INIT_HE), layer(6, FM_ACT_RELU, FM_INIT_HE),
                              layer(2, FM_ACT_LINEAR, FM_INIT_LECUN)};
    fm_net *net;
    FM_ASSERT_OK(fm_net_create(5, specs, 3, 3, &net, &err), &err);
    const int dead = 3;
    fm_net_bias(net, 0)[dead] = -100.0f; /* inputs are N(0,1): z stays far below 0 */
    enum { B = 16 };
    float x[B * 5], y[B * 2], g[B * 2];
    fm_rng rng;
    fm_rng_seed(&rng, 8);
    for (int i = 0; i < B * 5; i++)
        x[i] = (float)fm_rng_normal(&rng);
    for (int i = 0; i < B * 2; i++)
        y[i] = (float)fm_rng_normal(&rng);
    float before[8 * 5 + 8];
    memcpy(before, fm_net_weight(net, 0), sizeof before); /* W then b of layer 0 */

    fm_optim_config config = fm_optim_config_default(FM_OPTIM_SGD);
    config.lr = 0.1;
    fm_optim *opt;
    FM_ASSERT_OK(fm_optim_create(&config, fm_net_n_params(net), &opt, &err), &err);
    fm_loss loss = {FM_LOSS_MSE, 1.0};
    FM_ASSERT_OK(fm_net_forward(net, x, B, 1, &err), &err);
    for (int r = 0; r < B; r++) {
        assert_true(fm_net_z(net, 0)[r * 8 + dead] < 0.0f);
        assert_true(fm_net_a(net, 0)[r * 8 + dead] == 0.0f);
    }
    double value;
    FM_ASSERT_OK(fm_loss_compute(&loss, &specs[2].act, fm_net_z(net, 2), fm_net_output(net), y, B, 2, &value, g, &err),
                 &err);
    FM_ASSERT_OK(fm_net_backward(net, x, g, &err), &err);
    for (int r = 0; r < B; r++)
        assert_true(fm_net_delta(net, 0)[r * 8 + dead] == 0.0f);
    fm_optim_step(opt, fm_net_params(net), fm_net_grads(net), config.lr);

    const float *w = fm_net_weight(net, 0), *b = fm_net_bias(net, 0);
    int live_moved = 0;
    for (int o = 0; o < 8; o++) {
        int moved = b[o] != before[40 + o];
        for (int i = 0; i < 5; i++)
            moved |= w[o * 5 + i] != before[o * 5 + i];
        if (o == dead)
            assert_false(moved);
        else
            live_moved += moved;
    }
    assert_true(live_moved >= 5); /* the check is not vacuous: live units learn */
    fm_optim_free(opt);
    fm_net_free(net);
}

static void test_bad_shapes_are_refused(void **state)
{
    (void)state;
    fm_error err;
    fm_net *net = (fm_net *)1;
    fm_layer_spec ok = layer(4, FM_ACT_RELU, FM_INIT_HE);
    FM_ASSERT_FAILS(fm_net_create(0, &ok, 1, 1, &net, &err), &err, FM_ERR_ARG, "input width 0");
    assert_null(net);
    FM_ASSERT_FAILS(fm_net_create(3, &ok, 0, 1, &net, &err), &err, FM_ERR_ARG, "number of layers");
    fm_layer_spec bad = layer(0, FM_ACT_RELU, FM_INIT_HE);
    FM_ASSERT_FAILS(fm_net_create(3, &bad, 1, 1, &net, &err), &err, FM_ERR_ARG, "layer 1: width 0");
    bad.n_out = FM_MAX_WIDTH + 1;
    FM_ASSERT_FAILS(fm_net_create(3, &bad, 1, 1, &net, &err), &err, FM_ERR_ARG, "outside");
    fm_layer_spec two[2] = {layer(4, FM_ACT_SOFTMAX, FM_INIT_AUTO), layer(2, FM_ACT_LINEAR, FM_INIT_AUTO)};
    FM_ASSERT_FAILS(fm_net_create(3, two, 2, 1, &net, &err), &err, FM_ERR_ARG, "softmax is only allowed");
    two[0] = layer(4, FM_ACT_RELU, FM_INIT_AUTO);
    two[0].dropout = 1.0;
    FM_ASSERT_FAILS(fm_net_create(3, two, 2, 1, &net, &err), &err, FM_ERR_ARG, "dropout");
    /* An absurd but individually valid size is refused before allocating. */
    fm_layer_spec huge[3] = {layer(FM_MAX_WIDTH, FM_ACT_RELU, FM_INIT_HE), layer(FM_MAX_WIDTH, FM_ACT_RELU, FM_INIT_HE),
                             layer(1, FM_ACT_LINEAR, FM_INIT_HE)};
    FM_ASSERT_FAILS(fm_net_create(FM_MAX_WIDTH, huge, 3, 1, &net, &err), &err, FM_ERR_ARG, "parameters");
    fm_net_free(NULL);
}

static void test_predict_matches_forward_and_buffers_grow(void **state)
{
    (void)state;
    fm_error err;
    fm_layer_spec specs[2] = {layer(7, FM_ACT_GELU, FM_INIT_AUTO), layer(3, FM_ACT_SOFTMAX, FM_INIT_AUTO)};
    fm_net *net;
    FM_ASSERT_OK(fm_net_create(4, specs, 2, 2, &net, &err), &err);
    enum { ROWS = 700 }; /* more than one predict chunk, and more than the first forward's batch */
    float *x = malloc(sizeof(float) * ROWS * 4), *y = malloc(sizeof(float) * ROWS * 3);
    fm_rng rng;
    fm_rng_seed(&rng, 4);
    for (int i = 0; i < ROWS * 4; i++)
        x[i] = (float)fm_rng_normal(&rng);
    FM_ASSERT_OK(fm_net_forward(net, x, 3, 0, &err), &err);
    FM_ASSERT_OK(fm_net_predict(net, x, ROWS, y, &err), &err);
    FM_ASSERT_OK(fm_net_forward(net, x + 600 * 4, ROWS - 600, 0, &err), &err);
    assert_memory_equal(fm_net_output(net), y + 600 * 3, sizeof(float) * (ROWS - 600) * 3);
    for (int r = 0; r < ROWS; r++) {
        double sum = 0;
        for (int c = 0; c < 3; c++) {
            assert_true(y[r * 3 + c] > 0.0f);
            sum += y[r * 3 + c];
        }
        assert_true(fabs(sum - 1.0) < 1e-6);
    }
    FM_ASSERT_FAILS(fm_net_forward(net, x, 0, 0, &err), &err, FM_ERR_ARG, "batch size 0");
    free(x);
    free(y);
    fm_net_free(net);
}

/* Alpha-dropout keeps SELU's fixed point: with N(0,1) pre-activations the
 * dropped-out activations still have mean ~0 and variance ~1 (Klambauer et
 * al. 2017). Inverted dropout on the same layer would raise the variance to
 * ~1/(1-p) = 1.25 here; the bounds exclude that. */
static void test_alpha_dropout_keeps_selu_moments(void **state)
{
    (void)state;
    fm_error err;
    enum { N = 256, B = 512 };
    fm_layer_spec specs[2] = {layer(N, FM_ACT_SELU, FM_INIT_LECUN), layer(1, FM_ACT_LINEAR, FM_INIT_LECUN)};
    specs[0].dropout = 0.2;
    fm_net *net;
    FM_ASSERT_OK(fm_net_create(N, specs, 2, 21, &net, &err), &err);
    float *x = malloc(sizeof(float) * N * B);
    fm_rng rng;
    fm_rng_seed(&rng, 22);
    for (int i = 0; i < N * B; i++)
        x[i] = (float)fm_rng_normal(&rng);
    FM_ASSERT_OK(fm_net_forward(net, x, B, 1, &err), &err);
    const fm_net_layer_state *s = &net->layers[0];
    double sum = 0, sq = 0, zsq = 0, dropped = 0;
    for (int i = 0; i < N * B; i++) {
        sum += s->out[i];
        sq += (double)s->out[i] * s->out[i];
        zsq += (double)s->z[i] * s->z[i];
        dropped += s->mask[i] == 0.0f;
    }
    double mean = sum / (N * B), var = sq / (N * B) - mean * mean;
    assert_true(fabs(zsq / (N * B) - 1.0) < 0.05); /* the premise: z ~ N(0, 1) */
    assert_true(fabs(dropped / (N * B) - 0.2) < 0.01);
    if (fabs(mean) > 0.03 || fabs(var - 1.0) > 0.05)
        fail_msg("alpha-dropout output mean %.4f variance %.4f, expected 0 and 1", mean, var);
    /* Evaluation mode applies no dropout. */
    FM_ASSERT_OK(fm_net_forward(net, x, B, 0, &err), &err);
    assert_false(net->layers[0].out_active);
    free(x);
    fm_net_free(net);
}

static void test_activation_parsing(void **state)
{
    (void)state;
    fm_error err;
    fm_activation act;
    FM_ASSERT_OK(fm_activation_parse("selu", &act, &err), &err);
    assert_true(act.alpha == FM_SELU_ALPHA && act.lambda == FM_SELU_LAMBDA);
    /* The published constants, independently of the header's macros. */
    assert_true(fabs(act.alpha - 1.6732632423543772) < 1e-15);
    assert_true(fabs(act.lambda - 1.0507009873554805) < 1e-15);
    assert_true(fabs(fm_act_value(&act, 1.0) - 1.0507009873554805) < 1e-15);
    FM_ASSERT_OK(fm_activation_parse("selu:1.0507009873554805,1.6732632423543772", &act, &err), &err);
    assert_true(act.alpha == 1.0507009873554805 && act.lambda == 1.6732632423543772);
    char text[96];
    fm_activation_format(&act, text, sizeof text);
    fm_activation back;
    FM_ASSERT_OK(fm_activation_parse(text, &back, &err), &err);
    assert_true(back.alpha == act.alpha && back.lambda == act.lambda);
    FM_ASSERT_OK(fm_activation_parse("leaky_relu", &act, &err), &err);
    assert_true(act.alpha == 0.01);
    FM_ASSERT_OK(fm_activation_parse("swish", &act, &err), &err);
    assert_int_equal(act.kind, FM_ACT_SILU);
    FM_ASSERT_FAILS(fm_activation_parse("relu6", &act, &err), &err, FM_ERR_ARG, "unknown activation");
    FM_ASSERT_FAILS(fm_activation_parse("relu:1", &act, &err), &err, FM_ERR_ARG, "takes 0 parameters");
    FM_ASSERT_FAILS(fm_activation_parse("elu:abc", &act, &err), &err, FM_ERR_ARG, "not a finite number");
    FM_ASSERT_FAILS(fm_activation_parse("elu:-1", &act, &err), &err, FM_ERR_ARG, "positive");
    FM_ASSERT_FAILS(fm_activation_parse("leaky_relu:2", &act, &err), &err, FM_ERR_ARG, "[0, 1]");
    FM_ASSERT_FAILS(fm_activation_parse("", &act, &err), &err, FM_ERR_ARG, "empty");
    /* Known values from the closed forms. */
    FM_ASSERT_OK(fm_activation_parse("softplus", &act, &err), &err);
    assert_true(fabs(fm_act_value(&act, 0.0) - log(2.0)) < 1e-15);
    FM_ASSERT_OK(fm_activation_parse("gelu", &act, &err), &err);
    assert_true(fabs(fm_act_value(&act, 1.0) - 0.8413447460685429) < 1e-12); /* Phi(1) */
    /* The saturation rule's maximum derivative is the true maximum. */
    const char *names[] = {"sigmoid", "tanh", "gelu", "silu", "elu:2", "selu"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        FM_ASSERT_OK(fm_activation_parse(names[k], &act, &err), &err);
        double best = 0.0;
        for (double z = -20.0; z <= 20.0; z += 1e-4)
            best = fmax(best, fabs(fm_act_derivative(&act, z)));
        if (fabs(best - fm_act_max_derivative(&act)) > 1e-6 * best)
            fail_msg("%s: max |phi'| %.9g on a grid, table says %.9g", names[k], best, fm_act_max_derivative(&act));
    }
}

/* The loss-driven probe is the forward pass, the loss's dL/dz and the backward
 * pass, measured: the same numbers as doing those steps by hand. */
static void test_probe_with_loss_matches_manual_steps(void **state)
{
    (void)state;
    fm_error err;
    fm_layer_spec specs[3] = {layer(16, FM_ACT_TANH, FM_INIT_AUTO), layer(12, FM_ACT_RELU, FM_INIT_AUTO),
                              layer(3, FM_ACT_SOFTMAX, FM_INIT_AUTO)};
    fm_net *net;
    FM_ASSERT_OK(fm_net_create(5, specs, 3, 31, &net, &err), &err);
    enum { B = 64 };
    float x[B * 5], y[B], g[B * 3];
    fm_rng rng;
    fm_rng_seed(&rng, 32);
    for (int i = 0; i < B * 5; i++)
        x[i] = (float)fm_rng_normal(&rng);
    for (int i = 0; i < B; i++)
        y[i] = (float)fm_rng_below(&rng, 3);
    fm_loss loss = {FM_LOSS_CROSS_ENTROPY, 1.0};
    fm_layer_stats probed[3], manual[3];
    double value;
    FM_ASSERT_OK(fm_probe_with_loss(net, x, B, &loss, y, &value, probed, &err), &err);
    FM_ASSERT_OK(fm_net_forward(net, x, B, 0, &err), &err);
    double manual_value;
    FM_ASSERT_OK(fm_loss_compute(&loss, &specs[2].act, fm_net_z(net, 2), fm_net_output(net), y, B, 3, &manual_value,
                                 g, &err),
                 &err);
    FM_ASSERT_OK(fm_net_backward(net, x, g, &err), &err);
    fm_stats_measure(net, manual);
    assert_true(value == manual_value);
    for (int l = 0; l < 3; l++) {
        assert_true(probed[l].var_delta == manual[l].var_delta);
        assert_true(probed[l].grad_w_norm == manual[l].grad_w_norm);
        assert_true(probed[l].var_delta > 0.0);
        assert_true(isfinite(probed[l].var_z_meanfield));
    }
    fm_loss mse = {FM_LOSS_MSE, 1.0};
    FM_ASSERT_FAILS(fm_probe_with_loss(net, x, B, &mse, y, NULL, probed, &err), &err, FM_ERR_ARG, "softmax");
    fm_net_free(net);
}

/* The fused backward + SGD step equals the backward pass followed by a
 * separate SGD step: per parameter the two differ at most by the rounding of
 * w - lr g done once (FMA in the BLAS kernel) instead of twice, i.e. by a few
 * float epsilons of |w| + |lr g|. Mixed activations and both kinds of dropout,
 * with the dropout draws of the two networks made identical by their seeds. */
static void test_fused_sgd_step_matches_separate_step(void **state)
{
    (void)state;
    fm_error err;
    fm_layer_spec specs[4] = {layer(40, FM_ACT_TANH, FM_INIT_GLOROT), layer(30, FM_ACT_SELU, FM_INIT_LECUN),
                              layer(20, FM_ACT_RELU, FM_INIT_HE), layer(3, FM_ACT_LINEAR, FM_INIT_LECUN)};
    specs[1].dropout = 0.1; /* alpha-dropout */
    specs[2].dropout = 0.2; /* standard dropout */
    fm_net *sep, *fused;
    FM_ASSERT_OK(fm_net_create(7, specs, 4, 11, &sep, &err), &err);
    FM_ASSERT_OK(fm_net_create(7, specs, 4, 11, &fused, &err), &err);
    const size_t n = fm_net_n_params(sep);
    assert_memory_equal(fm_net_params(sep), fm_net_params(fused), n * sizeof(float));
    enum { B = 24 };
    float x[B * 7], y[B * 3], g[B * 3];
    fm_rng rng;
    fm_rng_seed(&rng, 5);
    for (int i = 0; i < B * 7; i++)
        x[i] = (float)fm_rng_normal(&rng);
    for (int i = 0; i < B * 3; i++)
        y[i] = (float)fm_rng_normal(&rng);
    fm_optim_config config = fm_optim_config_default(FM_OPTIM_SGD);
    config.lr = 0.05;
    fm_optim *opt;
    FM_ASSERT_OK(fm_optim_create(&config, n, &opt, &err), &err);
    fm_loss loss = {FM_LOSS_MSE, 1.0};
    double value;

    float *before = malloc(n * sizeof *before), *grad = malloc(n * sizeof *grad);
    assert_non_null(before);
    assert_non_null(grad);
    memcpy(before, fm_net_params(sep), n * sizeof *before);
    FM_ASSERT_OK(fm_net_forward(sep, x, B, 1, &err), &err);
    FM_ASSERT_OK(fm_loss_compute(&loss, &specs[3].act, fm_net_z(sep, 3), fm_net_output(sep), y, B, 3, &value, g, &err),
                 &err);
    FM_ASSERT_OK(fm_net_backward(sep, x, g, &err), &err);
    memcpy(grad, fm_net_grads(sep), n * sizeof *grad);
    fm_optim_step(opt, fm_net_params(sep), fm_net_grads(sep), config.lr);

    FM_ASSERT_OK(fm_net_forward(fused, x, B, 1, &err), &err);
    FM_ASSERT_OK(
        fm_loss_compute(&loss, &specs[3].act, fm_net_z(fused, 3), fm_net_output(fused), y, B, 3, &value, g, &err),
        &err);
    FM_ASSERT_OK(fm_net_backward_sgd(fused, x, g, (float)config.lr, &err), &err);

    const float *a = fm_net_params(sep), *b = fm_net_params(fused);
    size_t moved = 0;
    for (size_t i = 0; i < n; i++) {
        double step = config.lr * fabs((double)grad[i]);
        double bound = 4.0 * FLT_EPSILON * (fabs((double)before[i]) + step);
        if (fabs((double)a[i] - (double)b[i]) > bound)
            fail_msg("parameter %zu: separate %.9g, fused %.9g, before %.9g, lr*g %.3g", i, (double)a[i],
                     (double)b[i], (double)before[i], step);
        moved += a[i] != before[i];
    }
    assert_true(moved > n / 2); /* not vacuous: most parameters moved */
    free(before);
    free(grad);
    fm_optim_free(opt);
    fm_net_free(sep);
    fm_net_free(fused);
}

/* fm_optim_step_measured makes exactly the update fm_optim_step makes (bit
 * for bit: the same element-wise operations, chunk by chunk) for every
 * optimiser, and its sums of squares match sums taken directly in double over
 * a copy, for ranges that span many chunks, end mid-chunk and leave gaps. */
static void test_measured_step_equals_plain_step(void **state)
{
    (void)state;
    enum { N = 20000, RANGES = 3 };
    const size_t begin[RANGES] = {0, 4100, 9000}, length[RANGES] = {4100, 3, 10999};
    fm_optim_config configs[4] = {fm_optim_config_default(FM_OPTIM_SGD), fm_optim_config_default(FM_OPTIM_SGD),
                                  fm_optim_config_default(FM_OPTIM_ADAM), fm_optim_config_default(FM_OPTIM_ADAMW)};
    configs[1].momentum = 0.9;
    configs[1].nesterov = 1;
    configs[1].weight_decay = 1e-3;
    configs[2].weight_decay = 1e-2;
    float *p1 = malloc(N * sizeof *p1), *p2 = malloc(N * sizeof *p2), *g = malloc(N * sizeof *g);
    float *old = malloc(N * sizeof *old);
    assert_true(p1 && p2 && g && old);
    for (int c = 0; c < 4; c++) {
        fm_error err;
        fm_optim *a, *b;
        FM_ASSERT_OK(fm_optim_create(&configs[c], N, &a, &err), &err);
        FM_ASSERT_OK(fm_optim_create(&configs[c], N, &b, &err), &err);
        fm_rng rng;
        fm_rng_seed(&rng, 40 + (uint64_t)c);
        fm_rng_normal_fill(&rng, p1, N, 0.0, 0.1);
        memcpy(p2, p1, N * sizeof *p1);
        for (int step = 0; step < 3; step++) {
            fm_rng_normal_fill(&rng, g, N, 0.0, 1.0);
            memcpy(old, p1, N * sizeof *old);
            fm_update_sums sums[RANGES];
            fm_optim_step(a, p1, g, 0.01);
            fm_optim_step_measured(b, p2, g, 0.01, begin, length, RANGES, sums);
            assert_memory_equal(p1, p2, N * sizeof *p1);
            assert_int_equal(fm_optim_steps(a), fm_optim_steps(b));
            for (int r = 0; r < RANGES; r++) {
                /* sums of n terms in another order: within 2 n eps of the sum of |terms| */
                double du = 0.0, ws = 0.0, ws_abs = 0.0, wq = 0.0, gq = 0.0;
                for (size_t i = begin[r]; i < begin[r] + length[r]; i++) {
                    double d = (double)p1[i] - (double)old[i];
                    du += d * d;
                    ws += old[i];
                    ws_abs += fabs(old[i]);
                    wq += (double)old[i] * old[i];
                    gq += (double)g[i] * g[i];
                }
                assert_true(du > 0.0);
                assert_true(fabs(sums[r].update_sq - du) <= 1e-12 * du);
                assert_true(fabs(sums[r].before_sq - wq) <= 1e-12 * wq);
                assert_true(fabs(sums[r].grad_sq - gq) <= 1e-12 * gq);
                assert_true(fabs(sums[r].before_sum - ws) <= 1e-12 * ws_abs);
            }
        }
        for (int k = 0; k < 2; k++)
            if (fm_optim_buffer(a, k))
                assert_memory_equal(fm_optim_buffer(a, k), fm_optim_buffer(b, k), N * sizeof(float));
        fm_optim_free(a);
        fm_optim_free(b);
    }
    free(p1);
    free(p2);
    free(g);
    free(old);
}

/* A single sample goes through a matrix-vector product (cblas_sgemv) instead
 * of a one-row GEMM: the same values up to the order of the float sums. The
 * rounding of a sum of n terms grows like sqrt(n) eps |terms| in practice
 * (~1e-6 relative here) and at worst like n eps; the 1e-4 asserted is far
 * above the first and far below what a wrong row, a lost bias or transposed
 * weights give (differences of order 1). */
static void test_single_sample_matches_batch(void **state)
{
    (void)state;
    fm_error err;
    fm_layer_spec specs[3] = {layer(300, FM_ACT_TANH, FM_INIT_LECUN), layer(200, FM_ACT_SELU, FM_INIT_LECUN),
                              layer(5, FM_ACT_LINEAR, FM_INIT_LECUN)};
    fm_net *net;
    FM_ASSERT_OK(fm_net_create(784, specs, 3, 6, &net, &err), &err);
    enum { B = 9, N_IN = 784 };
    float *x = malloc(sizeof(float) * B * N_IN);
    assert_non_null(x);
    fm_rng rng;
    fm_rng_seed(&rng, 17);
    fm_rng_normal_fill(&rng, x, B * N_IN, 0.0, 1.0);
    for (int l = 0; l < 3; l++) /* biases that matter (the initialiser leaves them 0) */
        fm_rng_normal_fill(&rng, fm_net_bias(net, l), (size_t)specs[l].n_out, 0.0, 0.5);
    float batch_out[B * 5];
    FM_ASSERT_OK(fm_net_forward(net, x, B, 0, &err), &err);
    memcpy(batch_out, fm_net_output(net), sizeof batch_out);
    for (int r = 0; r < B; r++) {
        FM_ASSERT_OK(fm_net_forward(net, x + r * N_IN, 1, 0, &err), &err);
        for (int c = 0; c < 5; c++) {
            double one = fm_net_output(net)[c], many = batch_out[r * 5 + c];
            if (fabs(one - many) > 1e-4 * (1.0 + fabs(many)))
                fail_msg("sample %d output %d: alone %.9g, in a batch %.9g", r, c, one, many);
        }
    }
    free(x);
    fm_net_free(net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dead_relu_unit_does_not_move),
        cmocka_unit_test(test_bad_shapes_are_refused),
        cmocka_unit_test(test_predict_matches_forward_and_buffers_grow),
        cmocka_unit_test(test_alpha_dropout_keeps_selu_moments),
        cmocka_unit_test(test_activation_parsing),
        cmocka_unit_test(test_probe_with_loss_matches_manual_steps),
        cmocka_unit_test(test_fused_sgd_step_matches_separate_step),
        cmocka_unit_test(test_measured_step_equals_plain_step),
        cmocka_unit_test(test_single_sample_matches_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
