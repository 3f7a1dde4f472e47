/* The learning-rate range test (fm_lr_range_test) on a small real
 * regression: ocean temperature from the Levitus climatology sample. The
 * recorded rates follow the exponential schedule exactly, the smoothed loss
 * is the bias-corrected moving average of the recorded losses, the test stops
 * once the loss explodes, the network comes back unchanged, the suggested
 * rate lies where SGD on this problem works (and trains), a rate 100 times
 * larger fails, and bad options are refused. */
#include "test_support.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define STEPS 200

/* Inputs lat, sin_lon, cos_lon, log_depth; target temp; all standardised. */
static fm_dataset *levitus_standardised(void)
{
    fm_error err;
    fm_read_options opts = {"lat,sin_lon,cos_lon,log_depth", "temp", 0};
    fm_dataset *ds = NULL;
    FM_ASSERT_OK(fm_csv_read(FATHOM_TEST_DATA_DIR "/levitus_sample.csv", &opts, &ds, &err), &err);
    assert_int_equal(ds->rows, 4000);
    fm_standardizer *sx, *sy;
    FM_ASSERT_OK(fm_standardizer_fit(ds->x, ds->rows, ds->n_in, &sx, &err), &err);
    FM_ASSERT_OK(fm_standardizer_fit(ds->y, ds->rows, ds->n_out, &sy, &err), &err);
    fm_standardize(sx, ds->x, ds->rows);
    fm_standardize(sy, ds->y, ds->rows);
    fm_standardizer_free(sx);
    fm_standardizer_free(sy);
    return ds;
}

/* 4 -> 32 tanh -> 32 tanh -> 1 linear, lecun (auto) initialisation. */
static fm_net *small_tanh_net(uint64_t seed)
{
    fm_error err;
    fm_layer_spec specs[3];
    memset(specs, 0, sizeof specs);
    for (int l = 0; l < 3; l++) {
        specs[l].n_out = l < 2 ? 32 : 1;
        specs[l].act = fm_activation_default(l < 2 ? FM_ACT_TANH : FM_ACT_LINEAR);
    }
    fm_net *net;
    FM_ASSERT_OK(fm_net_create(4, specs, 3, seed, &net, &err), &err);
    return net;
}

typedef struct run {
    double lrs[STEPS], losses[STEPS], smoothed[STEPS];
    fm_lr_find_result res;
} run;

static void range_test(fm_net *net, const fm_dataset *ds, const fm_optim_config *oc, run *r)
{
    fm_error err;
    fm_loss loss = {FM_LOSS_MSE, 1.0};
    fm_lr_find_options o = fm_lr_find_options_default();
    assert_int_equal(o.steps, STEPS);
    FM_ASSERT_OK(fm_lr_range_test(net, oc, &loss, ds, &o, r->lrs, r->losses, r->smoothed, &r->res, &err), &err);
}

/* Training loss after `epochs` epochs of plain SGD at lr on a fresh net
 * (seed 1); *status receives fm_train's status. */
static double train_at(const fm_dataset *ds, double lr, int epochs, fm_status *status)
{
    fm_error err;
    fm_net *net = small_tanh_net(1);
    fm_optim_config oc = fm_optim_config_default(FM_OPTIM_SGD);
    oc.lr = lr;
    fm_optim *opt;
    FM_ASSERT_OK(fm_optim_create(&oc, fm_net_n_params(net), &opt, &err), &err);
    fm_loss loss = {FM_LOSS_MSE, 1.0};
    fm_train_options to = fm_train_options_default();
    to.epochs = epochs;
    to.batch = 32;
    fm_train_result res;
    *status = fm_train(net, opt, &loss, &to, ds, NULL, NULL, NULL, &res, &err);
    double value = NAN, metric;
    if (*status == FM_OK)
        FM_ASSERT_OK(fm_evaluate(net, &loss, ds, &value, &metric, &err), &err);
    fm_optim_free(opt);
    fm_net_free(net);
    return value;
}

static void test_schedule_smoothing_and_stop(void **state)
{
    (void)state;
    fm_dataset *ds = levitus_standardised();
    fm_net *net = small_tanh_net(1);
    size_t n_params = fm_net_n_params(net);
    float *before = malloc(n_params * sizeof *before);
    assert_non_null(before);
    memcpy(before, fm_net_params(net), n_params * sizeof *before);
    fm_optim_config oc = fm_optim_config_default(FM_OPTIM_SGD);
    run *r = calloc(1, sizeof *r);
    assert_non_null(r);
    range_test(net, ds, &oc, r);
    int n = r->res.steps_taken;
    /* lr 10 is far beyond what SGD survives here: the smoothed loss passes 4x
     * its minimum (or overflows) well before the last step. */
    if (!(n >= 20 && n < STEPS && r->res.stopped_early))
        fail_msg("expected an early stop; took %d steps, stopped_early %d", n, r->res.stopped_early);
    /* lr_i = lr_min (lr_max / lr_min)^(i / (steps - 1)): a constant ratio
     * (10^7)^(1/199) between neighbours. */
    for (int i = 0; i < n; i++) {
        double want = 1e-6 * pow(1e7, (double)i / (STEPS - 1));
        if (fabs(r->lrs[i] - want) > 1e-13 * want)
            fail_msg("lr[%d] = %.17g, expected %.17g", i, r->lrs[i], want);
        if (i > 0 && fabs(r->lrs[i] / r->lrs[i - 1] - pow(1e7, 1.0 / (STEPS - 1))) > 1e-12)
            fail_msg("lr[%d] / lr[%d] is not the constant ratio", i, i - 1);
    }
    /* Bias-corrected exponential smoothing with beta 0.98. */
    double m = 0.0, bp = 1.0, best = INFINITY;
    for (int i = 0; i < n; i++) {
        m = 0.98 * m + 0.02 * r->losses[i];
        bp *= 0.98;
        if (fabs(r->smoothed[i] - m / (1.0 - bp)) > 1e-12 * fabs(m / (1.0 - bp)))
            fail_msg("smoothed[%d] = %.17g, expected %.17g", i, r->smoothed[i], m / (1.0 - bp));
        /* The minimum is tracked after the settling tenth of the steps;
         * no step before the last passed 4 times it. */
        if (i + 1 < n) {
            assert_true(isfinite(r->smoothed[i]));
            if (i >= STEPS / 10)
                best = fmin(best, r->smoothed[i]);
            if (i > STEPS / 10 && r->smoothed[i] > 4.0 * best)
                fail_msg("step %d: smoothed loss %g above 4 x %g without stopping", i, r->smoothed[i], best);
        }
    }
    assert_true(fabs(r->smoothed[0] - r->losses[0]) < 1e-12);
    assert_true(!isfinite(r->smoothed[n - 1]) || r->smoothed[n - 1] > 4.0 * best);
    /* The minimum and the rule of thumb derived from it. */
    assert_true(r->res.min_index >= 0 && r->res.min_index < n);
    assert_true(r->res.min_loss_lr == r->lrs[r->res.min_index]);
    assert_true(fabs(r->res.min_loss_lr_10 - r->res.min_loss_lr / 10) < 1e-15);
    assert_true(r->res.suggested_index >= 0 && r->res.suggested_index < r->res.min_index);
    assert_true(r->res.suggested_lr == r->lrs[r->res.suggested_index]);
    /* The network comes back as it was. */
    assert_memory_equal(before, fm_net_params(net), n_params * sizeof *before);
    /* smoothed may be NULL: the same steps and suggestion. */
    run *r2 = calloc(1, sizeof *r2);
    fm_error err;
    fm_loss loss = {FM_LOSS_MSE, 1.0};
    fm_lr_find_options o = fm_lr_find_options_default();
    FM_ASSERT_OK(fm_lr_range_test(net, &oc, &loss, ds, &o, r2->lrs, r2->losses, NULL, &r2->res, &err), &err);
    assert_int_equal(r2->res.steps_taken, n);
    assert_true(r2->res.suggested_lr == r->res.suggested_lr);
    assert_memory_equal(r2->losses, r->losses, (size_t)n * sizeof(double));
    free(r2);
    free(r);
    free(before);
    fm_net_free(net);
    fm_dataset_free(ds);
}

/* Why 1e-4 .. 1: with standardised inputs and target and lecun-initialised
 * tanh layers, every layer's gradient is of order 1 and the curvature of the
 * MSE loss (the largest Hessian eigenvalue) of order 1 to 10, so plain SGD
 * becomes unstable somewhere around lr ~ 2 / lambda_max ~ 0.2 .. 1 (the range
 * test blows up there) and below about 1e-4 the 200 steps of the test move
 * the weights too little to change the loss. The steepest descent lies in
 * between, a decade or so below the blow-up (over ten network seeds it fell
 * between 4e-3 and 0.1). Training at it for 3 epochs must at least halve the
 * initial loss; at 100 times it (beyond 0.4) SGD diverges or ends far worse. */
static void test_suggestion_trains(void **state)
{
    (void)state;
    fm_dataset *ds = levitus_standardised();
    fm_net *net = small_tanh_net(1);
    fm_optim_config oc = fm_optim_config_default(FM_OPTIM_SGD);
    run *r = calloc(1, sizeof *r);
    assert_non_null(r);
    range_test(net, ds, &oc, r);
    double lr = r->res.suggested_lr;
    print_message("suggested %g (step %d), min-loss lr %g (step %d), %d steps\n", lr, r->res.suggested_index,
                  r->res.min_loss_lr, r->res.min_index, r->res.steps_taken);
    if (!(lr >= 1e-4 && lr <= 1.0))
        fail_msg("suggested learning rate %g outside [1e-4, 1]", lr);
    fm_status st;
    double initial = train_at(ds, 1e-30, 1, &st);
    double good = train_at(ds, lr, 3, &st);
    assert_int_equal(st, FM_OK);
    fm_status st_big;
    double big = train_at(ds, 100 * lr, 3, &st_big);
    print_message("loss: initial %g, at the suggestion %g, at 100x %g (%s)\n", initial, good, big,
                  fm_status_name(st_big));
    assert_true(good < 0.5 * initial);
    assert_true(st_big == FM_ERR_NUMERIC || big > 2.0 * good);
    free(r);
    fm_net_free(net);
    fm_dataset_free(ds);
}

/* The rules on a made-up curve: a loss that falls as a logistic step in log lr
 * centred at lr = 1e-2 and rises after 1e-1. Slopes are per unit of log lr,
 * so the steepest point of the step is its centre. */
static void test_suggest_rules(void **state)
{
    (void)state;
    enum { N = 100 };
    double lrs[N], smoothed[N];
    for (int i = 0; i < N; i++) {
        lrs[i] = 1e-6 * pow(1e7, i / (N - 1.0));
        double x = log10(lrs[i]);
        smoothed[i] = 1.0 - 0.8 / (1.0 + exp(-2.0 * (x + 2.0))) + (x > -1 ? 3.0 * (x + 1) * (x + 1) : 0.0);
    }
    fm_lr_find_result res;
    fm_error err;
    FM_ASSERT_OK(fm_lr_suggest(lrs, smoothed, N, 10, &res, &err), &err);
    if (!(res.suggested_lr > 0.6e-2 && res.suggested_lr < 1.6e-2))
        fail_msg("steepest descent at %g, expected near 1e-2", res.suggested_lr);
    assert_true(res.min_loss_lr > 3e-2 && res.min_loss_lr < 2e-1);
    /* A dip far below the minimum, steeper than the real descent but in the
     * flat part of the curve (as noise makes one): not the descent into the
     * minimum, so ignored. (Without the two-decade rule it would be chosen,
     * at about 4e-5.) */
    for (int i = 0; i < N; i++) {
        double x = log10(lrs[i]);
        if (x >= -4.8 && x < -4.0)
            smoothed[i] -= 0.75 * (x + 4.8);
        else if (x >= -4.0 && x < -3.2)
            smoothed[i] += -0.6 + 0.75 * (x + 4.0);
    }
    FM_ASSERT_OK(fm_lr_suggest(lrs, smoothed, N, 10, &res, &err), &err);
    if (!(res.suggested_lr > 0.6e-2 && res.suggested_lr < 1.6e-2))
        fail_msg("with a dip near 1e-4, steepest descent at %g, expected near 1e-2", res.suggested_lr);
    assert_true(res.min_loss_lr > 3e-2 && res.min_loss_lr < 2e-1);
    /* No descent at all: the fallback is the minimum's rate over 10. */
    for (int i = 0; i < N; i++)
        smoothed[i] = 1.0 + i;
    FM_ASSERT_OK(fm_lr_suggest(lrs, smoothed, N, 10, &res, &err), &err);
    assert_int_equal(res.suggested_index, -1);
    assert_int_equal(res.min_index, 10); /* the first after the settling steps */
    assert_true(res.suggested_lr == lrs[10] / 10);
    smoothed[0] = NAN;
    FM_ASSERT_FAILS(fm_lr_suggest(lrs, smoothed, N, 10, &res, &err), &err, FM_ERR_ARG, "");
    FM_ASSERT_FAILS(fm_lr_suggest(lrs, smoothed, 1, 0, &res, &err), &err, FM_ERR_ARG, "");
}

static void test_bad_arguments(void **state)
{
    (void)state;
    fm_dataset *ds = levitus_standardised();
    fm_net *net = small_tanh_net(1);
    fm_optim_config oc = fm_optim_config_default(FM_OPTIM_SGD);
    fm_loss loss = {FM_LOSS_MSE, 1.0};
    run *r = calloc(1, sizeof *r);
    fm_error err;
    fm_lr_find_options o = fm_lr_find_options_default();
    o.lr_min = 1.0;
    o.lr_max = 1.0;
    FM_ASSERT_FAILS(fm_lr_range_test(net, &oc, &loss, ds, &o, r->lrs, r->losses, r->smoothed, &r->res, &err), &err,
                    FM_ERR_ARG, "above the smallest");
    o.lr_max = 0.5;
    FM_ASSERT_FAILS(fm_lr_range_test(net, &oc, &loss, ds, &o, r->lrs, r->losses, r->smoothed, &r->res, &err), &err,
                    FM_ERR_ARG, "above the smallest");
    o = fm_lr_find_options_default();
    o.steps = 9;
    FM_ASSERT_FAILS(fm_lr_range_test(net, &oc, &loss, ds, &o, r->lrs, r->losses, r->smoothed, &r->res, &err), &err,
                    FM_ERR_ARG, "at least 10 steps");
    o = fm_lr_find_options_default();
    o.lr_min = 0.0;
    FM_ASSERT_FAILS(fm_lr_range_test(net, &oc, &loss, ds, &o, r->lrs, r->losses, r->smoothed, &r->res, &err), &err,
                    FM_ERR_ARG, "positive");
    o.lr_min = -1e-3;
    FM_ASSERT_FAILS(fm_lr_range_test(net, &oc, &loss, ds, &o, r->lrs, r->losses, r->smoothed, &r->res, &err), &err,
                    FM_ERR_ARG, "positive");
    o.lr_min = NAN;
    FM_ASSERT_FAILS(fm_lr_range_test(net, &oc, &loss, ds, &o, r->lrs, r->losses, r->smoothed, &r->res, &err), &err,
                    FM_ERR_ARG, "positive");
    o = fm_lr_find_options_default();
    o.lr_max = INFINITY;
    FM_ASSERT_FAILS(fm_lr_range_test(net, &oc, &loss, ds, &o, r->lrs, r->losses, r->smoothed, &r->res, &err), &err,
                    FM_ERR_ARG, "largest");
    o = fm_lr_find_options_default();
    o.beta = 1.0;
    FM_ASSERT_FAILS(fm_lr_range_test(net, &oc, &loss, ds, &o, r->lrs, r->losses, r->smoothed, &r->res, &err), &err,
                    FM_ERR_ARG, "smoothing");
    o = fm_lr_find_options_default();
    FM_ASSERT_FAILS(fm_lr_range_test(net, &oc, &loss, ds, &o, NULL, r->losses, r->smoothed, &r->res, &err), &err,
                    FM_ERR_ARG, "buffers");
    /* Data that does not fit the network. */
    fm_loss ce = {FM_LOSS_CROSS_ENTROPY, 1.0};
    FM_ASSERT_FAILS(fm_lr_range_test(net, &oc, &ce, ds, &o, r->lrs, r->losses, r->smoothed, &r->res, &err), &err,
                    FM_ERR_ARG, "");
    free(r);
    fm_net_free(net);
    fm_dataset_free(ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schedule_smoothing_and_stop),
        cmocka_unit_test(test_suggestion_trains),
        cmocka_unit_test(test_suggest_rules),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
