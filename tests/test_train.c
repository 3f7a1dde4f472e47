/* The training loop on real data: a regression (ocean temperature from the
 * Levitus climatology sample) and a classification (Fashion-MNIST) converge to
 * stated levels; divergence is detected and reported; early stopping keeps
 * the best weights; a callback can stop training; a seed gives bit-identical
 * training on one thread. */
#include "test_support.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

static fm_dataset *levitus(fm_error *err)
{
    fm_read_options opts = {"lat,sin_lon,cos_lon,log_depth", "temp", 0};
    fm_dataset *ds = NULL;
    FM_ASSERT_OK(fm_csv_read(FATHOM_TEST_DATA_DIR "/levitus_sample.csv", &opts, &ds, err), err);
    assert_int_equal(ds->rows, 4000);
    return ds;
}

/* Standardise inputs and targets on the training split, as the CLI does. */
static void standardise(fm_dataset *train, fm_dataset *val)
{
    fm_error err;
    fm_standardizer *sx, *sy;
    FM_ASSERT_OK(fm_standardizer_fit(train->x, train->rows, train->n_in, &sx, &err), &err);
    fm_standardize(sx, train->x, train->rows);
    fm_standardize(sx, val->x, val->rows);
    if (train->n_out && val->y) {
        FM_ASSERT_OK(fm_standardizer_fit(train->y, train->rows, train->n_out, &sy, &err), &err);
        fm_standardize(sy, train->y, train->rows);
        fm_standardize(sy, val->y, val->rows);
        fm_standardizer_free(sy);
    }
    fm_standardizer_free(sx);
}

static fm_net *regression_net(uint64_t seed, const char *act)
{
    fm_error err;
    fm_layer_spec specs[4];
    memset(specs, 0, sizeof specs);
    for (int l = 0; l < 4; l++) {
        specs[l].n_out = l < 3 ? 48 : 1;
        FM_ASSERT_OK(fm_activation_parse(l < 3 ? act : "linear", &specs[l].act, &err), &err);
    }
    fm_net *net;
    FM_ASSERT_OK(fm_net_create(4, specs, 4, seed, &net, &err), &err);
    return net;
}

/* Temperature from (lat, lon, depth) on 3,600 cells: predicting the mean has
 * RMSE 1 in standardised units; a 3x48 tanh net must explain more than 95% of
 * the variance on held-out cells (RMSE < 0.22, i.e. about 1.9 deg C of 8.6). */
static void test_regression_converges(void **state)
{
    (void)state;
    fm_error err;
    fm_dataset *all = levitus(&err), *train, *val;
    FM_ASSERT_OK(fm_dataset_split(all, 0.1, 5, &train, &val, &err), &err);
    standardise(train, val);
    fm_net *net = regression_net(1, "tanh");
    fm_optim_config config = fm_optim_config_default(FM_OPTIM_ADAM);
    config.lr = 0.003;
    fm_optim *opt;
    FM_ASSERT_OK(fm_optim_create(&config, fm_net_n_params(net), &opt, &err), &err);
    fm_loss loss = {FM_LOSS_MSE, 1.0};
    fm_train_options to = fm_train_options_default();
    to.epochs = 40;
    to.batch = 64;
    double before, after, rmse;
    FM_ASSERT_OK(fm_evaluate(net, &loss, val, &before, &rmse, &err), &err);
    fm_train_result res;
    FM_ASSERT_OK(fm_train(net, opt, &loss, &to, train, val, NULL, NULL, &res, &err), &err);
    FM_ASSERT_OK(fm_evaluate(net, &loss, val, &after, &rmse, &err), &err);
    assert_int_equal(res.epochs_run, 40);
    assert_int_equal(res.steps, 40 * ((train->rows + 63) / 64));
    if (!(rmse < 0.22))
        fail_msg("validation RMSE %.4f (standardised) after 40 epochs; expected < 0.22 (loss %.4f -> %.4f)", rmse,
                 before, after);
    fm_optim_free(opt);
    fm_net_free(net);
    fm_dataset_free(all);
    fm_dataset_free(train);
    fm_dataset_free(val);
}

/* Fashion-MNIST from Debian's dataset-fashion-mnist: 8,000 test-set images for
 * training, the other 2,000 held out. A 784-128-10 ReLU net reaches well over
 * 75% in 4 epochs (its published MLP benchmarks reach 87-88% on the full set;
 * chance is 10%). */
static void test_classification_converges(void **state)
{
    (void)state;
    fm_error err;
    fm_dataset *all = NULL, *train, *val;
    fm_read_options opts = {NULL, NULL, 0};
    fm_status st = fm_data_read(FASHION_DIR "/t10k-images-idx3-ubyte.gz", FASHION_DIR "/t10k-labels-idx1-ubyte.gz",
                                &opts, &all, &err);
    if (st != FM_OK)
        fail_msg("cannot read Fashion-MNIST (install dataset-fashion-mnist): %s", err.message);
    assert_int_equal(all->rows, 10000);
    assert_int_equal(all->n_in, 784);
    assert_int_equal(all->n_out, 1);
    FM_ASSERT_OK(fm_dataset_split(all, 0.2, 9, &train, &val, &err), &err);
    /* Inputs only: the targets are class labels. */
    fm_standardizer *sx;
    FM_ASSERT_OK(fm_standardizer_fit(train->x, train->rows, 784, &sx, &err), &err);
    fm_standardize(sx, train->x, train->rows);
    fm_standardize(sx, val->x, val->rows);
    fm_standardizer_free(sx);

    fm_layer_spec specs[2];
    memset(specs, 0, sizeof specs);
    specs[0].n_out = 128;
    specs[0].act = fm_activation_default(FM_ACT_RELU);
    specs[1].n_out = 10;
    specs[1].act = fm_activation_default(FM_ACT_SOFTMAX);
    fm_net *net;
    FM_ASSERT_OK(fm_net_create(784, specs, 2, 3, &net, &err), &err);
    fm_optim_config config = fm_optim_config_default(FM_OPTIM_SGD);
    config.lr = 0.05;
    config.momentum = 0.9;
    fm_optim *opt;
    FM_ASSERT_OK(fm_optim_create(&config, fm_net_n_params(net), &opt, &err), &err);
    fm_loss loss = {FM_LOSS_CROSS_ENTROPY, 1.0};
    fm_train_options to = fm_train_options_default();
    to.epochs = 4;
    to.batch = 64;
    FM_ASSERT_OK(fm_train(net, opt, &loss, &to, train, val, NULL, NULL, NULL, &err), &err);
    double val_loss, accuracy;
    FM_ASSERT_OK(fm_evaluate(net, &loss, val, &val_loss, &accuracy, &err), &err);
    if (!(accuracy > 0.78))
        fail_msg("held-out accuracy %.4f; expected > 0.78 (loss %.4f)", accuracy, val_loss);
    fm_optim_free(opt);
    fm_net_free(net);
    fm_dataset_free(all);
    fm_dataset_free(train);
    fm_dataset_free(val);
}

/* A learning rate far too large must stop training with a numerical error that
 * says where, not train on through NaN. */
static void test_divergence_is_reported(void **state)
{
    (void)state;
    fm_error err;
    fm_dataset *all = levitus(&err), *train, *val;
    FM_ASSERT_OK(fm_dataset_split(all, 0.1, 5, &train, &val, &err), &err);
    standardise(train, val);
    fm_net *net = regression_net(2, "relu");
    fm_optim_config config = fm_optim_config_default(FM_OPTIM_SGD);
    config.lr = 50.0;
    fm_optim *opt;
    FM_ASSERT_OK(fm_optim_create(&config, fm_net_n_params(net), &opt, &err), &err);
    fm_loss loss = {FM_LOSS_MSE, 1.0};
    fm_train_options to = fm_train_options_default();
    to.epochs = 5;
    FM_ASSERT_FAILS(fm_train(net, opt, &loss, &to, train, val, NULL, NULL, NULL, &err), &err, FM_ERR_NUMERIC,
                    "diverged");
    assert_true(fm_test_contains(err.message, "epoch 1"));
    assert_true(fm_test_contains(err.message, "learning rate 50"));
    fm_optim_free(opt);
    fm_net_free(net);
    fm_dataset_free(all);
    fm_dataset_free(train);
    fm_dataset_free(val);
}

typedef struct stop_state {
    int calls;
    int stop_after_epoch;
    double val_losses[64];
} stop_state;

static int record_and_maybe_stop(const fm_train_progress *p, void *user)
{
    stop_state *s = user;
    s->calls++;
    if (p->end_of_epoch && p->epoch < 64)
        s->val_losses[p->epoch] = p->val_loss;
    return p->end_of_epoch && p->epoch + 1 == s->stop_after_epoch;
}

/* Early stopping restores the weights of the best validation epoch; a callback
 * that returns non-zero stops training with FM_ERR_STOPPED. */
static void test_early_stopping_and_callback(void **state)
{
    (void)state;
    fm_error err;
    fm_dataset *all = levitus(&err), *train, *val;
    FM_ASSERT_OK(fm_dataset_split(all, 0.1, 5, &train, &val, &err), &err);
    standardise(train, val);
    fm_net *net = regression_net(3, "tanh");
    fm_optim_config config = fm_optim_config_default(FM_OPTIM_ADAM);
    config.lr = 0.02; /* noisy enough that validation loss goes up sometimes */
    fm_optim *opt;
    FM_ASSERT_OK(fm_optim_create(&config, fm_net_n_params(net), &opt, &err), &err);
    fm_loss loss = {FM_LOSS_MSE, 1.0};
    fm_train_options to = fm_train_options_default();
    to.epochs = 60;
    to.batch = 128;
    to.patience = 2;
    stop_state s = {0, -1, {0}};
    fm_train_result res;
    FM_ASSERT_OK(fm_train(net, opt, &loss, &to, train, val, record_and_maybe_stop, &s, &res, &err), &err);
    assert_true(res.stopped_early);
    assert_true(res.epochs_run < 60);
    assert_int_equal(res.epochs_run, res.best_epoch + 1 + to.patience);
    double best = INFINITY;
    for (int e = 0; e < res.epochs_run; e++)
        best = fmin(best, s.val_losses[e]);
    assert_true(res.best_val_loss == best);
    double now;
    FM_ASSERT_OK(fm_evaluate(net, &loss, val, &now, NULL, &err), &err);
    assert_true(fabs(now - best) <= 1e-12 * (1 + best)); /* best weights restored */

    fm_net *net2 = regression_net(3, "tanh");
    fm_optim *opt2;
    FM_ASSERT_OK(fm_optim_create(&config, fm_net_n_params(net2), &opt2, &err), &err);
    stop_state s2 = {0, 3, {0}};
    to.patience = 0;
    FM_ASSERT_FAILS(fm_train(net2, opt2, &loss, &to, train, val, record_and_maybe_stop, &s2, &res, &err), &err,
                    FM_ERR_STOPPED, "stopped");
    assert_int_equal(res.epochs_run, 3);
    fm_optim_free(opt);
    fm_optim_free(opt2);
    fm_net_free(net);
    fm_net_free(net2);
    fm_dataset_free(all);
    fm_dataset_free(train);
    fm_dataset_free(val);
}

/* One thread (set by CTest through OPENBLAS_NUM_THREADS=1): same seed, same
 * data, same options give bit-identical weights, dropout included. */
static void test_training_is_reproducible(void **state)
{
    (void)state;
    fm_error err;
    fm_dataset *all = levitus(&err), *train, *val;
    FM_ASSERT_OK(fm_dataset_split(all, 0.1, 5, &train, &val, &err), &err);
    standardise(train, val);
    float *first = NULL;
    for (int run = 0; run < 2; run++) {
        fm_layer_spec specs[3];
        memset(specs, 0, sizeof specs);
        specs[0] = (fm_layer_spec){32, fm_activation_default(FM_ACT_SELU), {FM_INIT_AUTO, 0, 0}, 0.1};
        specs[1] = (fm_layer_spec){32, fm_activation_default(FM_ACT_RELU), {FM_INIT_AUTO, 0, 0}, 0.1};
        specs[2] = (fm_layer_spec){1, fm_activation_default(FM_ACT_LINEAR), {FM_INIT_AUTO, 0, 0}, 0.0};
        fm_net *net;
        FM_ASSERT_OK(fm_net_create(4, specs, 3, 77, &net, &err), &err);
        fm_optim_config config = fm_optim_config_default(FM_OPTIM_ADAMW);
        fm_optim *opt;
        FM_ASSERT_OK(fm_optim_create(&config, fm_net_n_params(net), &opt, &err), &err);
        fm_loss loss = {FM_LOSS_HUBER, 1.0};
        fm_train_options to = fm_train_options_default();
        to.epochs = 2;
        to.seed = 99;
        FM_ASSERT_OK(fm_train(net, opt, &loss, &to, train, val, NULL, NULL, NULL, &err), &err);
        size_t bytes = fm_net_n_params(net) * sizeof(float);
        if (run == 0) {
            first = malloc(bytes);
            memcpy(first, fm_net_params(net), bytes);
        } else {
            assert_memory_equal(first, fm_net_params(net), bytes);
        }
        fm_optim_free(opt);
        fm_net_free(net);
    }
    free(first);
    fm_dataset_free(all);
    fm_dataset_free(train);
    fm_dataset_free(val);
}

static void test_mismatched_data_is_refused(void **state)
{
    (void)state;
    fm_error err;
    fm_dataset *all = levitus(&err);
    fm_net *net = regression_net(1, "relu");
    fm_optim *opt;
    fm_optim_config config = fm_optim_config_default(FM_OPTIM_SGD);
    FM_ASSERT_OK(fm_optim_create(&config, fm_net_n_params(net), &opt, &err), &err);
    fm_loss ce = {FM_LOSS_CROSS_ENTROPY, 1.0};
    fm_train_options to = fm_train_options_default();
    FM_ASSERT_FAILS(fm_train(net, opt, &ce, &to, all, NULL, NULL, NULL, NULL, &err), &err, FM_ERR_ARG, "softmax");
    fm_loss mse = {FM_LOSS_MSE, 1.0};
    to.batch = 0;
    FM_ASSERT_FAILS(fm_train(net, opt, &mse, &to, all, NULL, NULL, NULL, NULL, &err), &err, FM_ERR_ARG, "batch");
    to.batch = 16;
    all->n_in = 3; /* pretend: the network takes 4 */
    FM_ASSERT_FAILS(fm_train(net, opt, &mse, &to, all, NULL, NULL, NULL, NULL, &err), &err, FM_ERR_ARG,
                    "3 input columns");
    all->n_in = 4;
    all->y[7] = NAN;
    FM_ASSERT_FAILS(fm_train(net, opt, &mse, &to, all, NULL, NULL, NULL, NULL, &err), &err, FM_ERR_ARG,
                    "not finite");
    /* Bad optimiser settings. */
    fm_optim *bad;
    config.lr = -1;
    FM_ASSERT_FAILS(fm_optim_create(&config, 10, &bad, &err), &err, FM_ERR_ARG, "learning rate");
    config = fm_optim_config_default(FM_OPTIM_SGD);
    config.nesterov = 1;
    FM_ASSERT_FAILS(fm_optim_create(&config, 10, &bad, &err), &err, FM_ERR_ARG, "Nesterov");
    fm_optim_free(opt);
    fm_net_free(net);
    fm_dataset_free(all);
}

/* Schedules in closed form (PyTorch StepLR and CosineAnnealingLR) and clipping. */
static void test_schedules_and_clipping(void **state)
{
    (void)state;
    fm_optim_config c = fm_optim_config_default(FM_OPTIM_SGD);
    c.lr = 0.1;
    assert_true(fm_schedule_lr(&c, 7, 10) == 0.1);
    c.schedule = FM_SCHEDULE_STEP;
    c.step_size = 3;
    c.gamma = 0.5;
    assert_true(fabs(fm_schedule_lr(&c, 2, 10) - 0.1) < 1e-15);
    assert_true(fabs(fm_schedule_lr(&c, 3, 10) - 0.05) < 1e-15);
    assert_true(fabs(fm_schedule_lr(&c, 7, 10) - 0.025) < 1e-15);
    c.schedule = FM_SCHEDULE_COSINE;
    c.lr_min = 0.01;
    assert_true(fabs(fm_schedule_lr(&c, 0, 10) - 0.1) < 1e-15);
    assert_true(fabs(fm_schedule_lr(&c, 5, 10) - 0.055) < 1e-15);
    assert_true(fabs(fm_schedule_lr(&c, 10, 10) - 0.01) < 1e-15);
    float g[4] = {3, 4, 0, 0};
    assert_true(fabs(fm_clip_grad_norm(g, 4, 1.0) - 5.0) < 1e-12);
    assert_true(fabs(g[0] - 0.6f) < 1e-6 && fabs(g[1] - 0.8f) < 1e-6);
    float h[2] = {0.3f, 0.4f};
    fm_clip_grad_norm(h, 2, 1.0);
    assert_true(h[0] == 0.3f && h[1] == 0.4f); /* below the bound: untouched */
}

typedef struct diag_state {
    int calls;
    size_t steps[64];
    int warned;
    double first_ratio;
    int n_layers;
} diag_state;

static void count_diagnose(const fm_train_progress *p, const fm_layer_stats *stats, const double *update_ratio,
                           int n_layers, void *user)
{
    diag_state *d = user;
    if (d->calls < 64)
        d->steps[d->calls] = p->step;
    d->calls++;
    d->n_layers = n_layers;
    d->first_ratio = update_ratio[0];
    assert_int_equal(stats[0].layer, 1);
    assert_int_equal(stats[n_layers - 1].n_out, 1);
    assert_true(isfinite(stats[0].var_z_meanfield));
}

static int note_warning(const fm_train_progress *p, void *user)
{
    diag_state *d = user;
    if (p->warning && strstr(p->warning, "vanishing"))
        d->warned = 1;
    return 0;
}

/* Diagnostics arrive every N steps from the first; a deep sigmoid stack with
 * small weights (Var[W] = 0.1 / n_in: each layer scales gradients by about
 * 0.1 / 16) starves its first layer of gradient, and the warning says so. */
static void test_diagnostics_and_vanishing_warning(void **state)
{
    (void)state;
    fm_error err;
    fm_dataset *all = levitus(&err), *train, *val;
    FM_ASSERT_OK(fm_dataset_split(all, 0.1, 5, &train, &val, &err), &err);
    standardise(train, val);
    fm_layer_spec specs[9];
    memset(specs, 0, sizeof specs);
    for (int l = 0; l < 9; l++) {
        specs[l].n_out = l < 8 ? 32 : 1;
        specs[l].act = fm_activation_default(l < 8 ? FM_ACT_SIGMOID : FM_ACT_LINEAR);
        specs[l].init = (fm_init){FM_INIT_FIXED, 0, l == 0 ? 0.1 / 4 : 0.1 / 32};
    }
    fm_net *net;
    FM_ASSERT_OK(fm_net_create(4, specs, 9, 5, &net, &err), &err);
    fm_optim_config config = fm_optim_config_default(FM_OPTIM_SGD);
    fm_optim *opt;
    FM_ASSERT_OK(fm_optim_create(&config, fm_net_n_params(net), &opt, &err), &err);
    fm_loss loss = {FM_LOSS_MSE, 1.0};
    fm_train_options to = fm_train_options_default();
    to.epochs = 1;
    to.batch = 32;
    to.progress_interval = 0.0;
    to.diagnose_every = 25;
    diag_state d = {0};
    to.on_diagnose = count_diagnose;
    to.diagnose_user = &d;
    fm_train_result res;
    FM_ASSERT_OK(fm_train(net, opt, &loss, &to, train, val, note_warning, &d, &res, &err), &err);
    size_t steps = (train->rows + 31) / 32;
    assert_int_equal(d.calls, (int)((steps + 24) / 25));
    assert_int_equal(d.steps[0], 0);
    assert_int_equal(d.steps[1], 25);
    assert_int_equal(d.n_layers, 9);
    assert_true(d.first_ratio >= 0.0 && d.first_ratio < 1e-4); /* the first layer hardly moves */
    assert_true(res.vanishing_warned);
    assert_true(d.warned);

    /* The same network at He-like scale warns of nothing. */
    fm_net *healthy;
    for (int l = 0; l < 8; l++)
        specs[l].init = (fm_init){FM_INIT_GLOROT, 0, 0};
    specs[0].act = fm_activation_default(FM_ACT_TANH);
    for (int l = 1; l < 8; l++)
        specs[l].act = fm_activation_default(FM_ACT_TANH);
    FM_ASSERT_OK(fm_net_create(4, specs, 9, 5, &healthy, &err), &err);
    fm_optim *opt2;
    FM_ASSERT_OK(fm_optim_create(&config, fm_net_n_params(healthy), &opt2, &err), &err);
    diag_state d2 = {0};
    to.diagnose_user = &d2;
    FM_ASSERT_OK(fm_train(healthy, opt2, &loss, &to, train, val, note_warning, &d2, &res, &err), &err);
    assert_false(res.vanishing_warned);
    assert_false(d2.warned);
    fm_optim_free(opt);
    fm_optim_free(opt2);
    fm_net_free(net);
    fm_net_free(healthy);
    fm_dataset_free(all);
    fm_dataset_free(train);
    fm_dataset_free(val);
}

/* Every diagnosed step's statistics, for comparing two runs. */
enum { RECORD_STEPS = 64, RECORD_LAYERS = 4 };
typedef struct stats_record {
    int calls;
    fm_layer_stats stats[RECORD_STEPS][RECORD_LAYERS];
    double ratio[RECORD_STEPS][RECORD_LAYERS];
} stats_record;

static void record_stats(const fm_train_progress *p, const fm_layer_stats *stats, const double *update_ratio,
                         int n_layers, void *user)
{
    (void)p;
    stats_record *r = user;
    assert_int_equal(n_layers, RECORD_LAYERS);
    if (r->calls < RECORD_STEPS) {
        memcpy(r->stats[r->calls], stats, sizeof r->stats[0]);
        memcpy(r->ratio[r->calls], update_ratio, sizeof r->ratio[0]);
    }
    r->calls++;
}

static void assert_near(double got, double want, double rel, const char *what, int step, int layer)
{
    if (isnan(want) ? !isnan(got) : fabs(got - want) > rel * fabs(want))
        fail_msg("step %d, layer %d, %s: %.17g, measured apart %.17g", step, layer + 1, what, got, want);
}

/* A diagnosed step measures the weights and their gradient inside the
 * optimiser step, unless the gradient is clipped, when the statistics are
 * taken by passes of their own before the clipping. A clipping bound no
 * gradient reaches makes the two runs take the same steps: the weights must
 * end bit-identical and every statistic agree, the batch columns exactly,
 * the weights' and gradient's to the rounding of sums taken in another order,
 * the theory columns that depend on them likewise. Adam, so that no step of
 * either run takes the fused SGD path. */
static void test_diagnosed_step_measures_like_separate_passes(void **state)
{
    (void)state;
    fm_error err;
    fm_dataset *all = levitus(&err), *train, *val;
    FM_ASSERT_OK(fm_dataset_split(all, 0.1, 5, &train, &val, &err), &err);
    standardise(train, val);
    fm_net *nets[2] = {regression_net(11, "tanh"), regression_net(11, "tanh")};
    stats_record *rec = calloc(2, sizeof *rec);
    assert_non_null(rec);
    for (int run = 0; run < 2; run++) {
        fm_optim_config config = fm_optim_config_default(FM_OPTIM_ADAM);
        config.lr = 1e-3;
        config.clip_norm = run == 0 ? 0.0 : 1e30;
        fm_optim *opt;
        FM_ASSERT_OK(fm_optim_create(&config, fm_net_n_params(nets[run]), &opt, &err), &err);
        fm_loss loss = {FM_LOSS_MSE, 1.0};
        fm_train_options to = fm_train_options_default();
        to.epochs = 2; /* 2 x 57 steps */
        to.batch = 64;
        to.diagnose_every = 1;
        to.on_diagnose = record_stats;
        to.diagnose_user = &rec[run];
        FM_ASSERT_OK(fm_train(nets[run], opt, &loss, &to, train, NULL, NULL, NULL, NULL, &err), &err);
        fm_optim_free(opt);
    }
    assert_int_equal(rec[0].calls, rec[1].calls);
    assert_true(rec[0].calls >= RECORD_STEPS);
    assert_memory_equal(fm_net_params(nets[0]), fm_net_params(nets[1]), fm_net_n_params(nets[0]) * sizeof(float));
    for (int k = 0; k < RECORD_STEPS; k++)
        for (int l = 0; l < RECORD_LAYERS; l++) {
            const fm_layer_stats *a = &rec[0].stats[k][l], *b = &rec[1].stats[k][l];
            assert_near(a->mean_z, b->mean_z, 0.0, "mean z", k, l);
            assert_near(a->var_z, b->var_z, 0.0, "Var z", k, l);
            assert_near(a->var_a, b->var_a, 0.0, "Var a", k, l);
            assert_near(a->saturated, b->saturated, 0.0, "saturated", k, l);
            assert_near(a->var_delta, b->var_delta, 0.0, "Var dL/dz", k, l);
            assert_near(rec[0].ratio[k][l], rec[1].ratio[k][l], 0.0, "update ratio", k, l);
            assert_near(a->var_w, b->var_w, 1e-12, "Var W", k, l);
            assert_near(a->grad_w_norm, b->grad_w_norm, 1e-12, "|dL/dW|", k, l);
            assert_near(a->var_z_linear, b->var_z_linear, 1e-10, "linear theory", k, l);
            assert_near(a->var_z_meanfield, b->var_z_meanfield, 1e-10, "mean-field q", k, l);
            assert_near(a->chi1, b->chi1, 1e-10, "chi_1", k, l);
            assert_near(a->var_delta_theory, b->var_delta_theory, 1e-10, "backward theory", k, l);
            assert_int_equal(a->nonfinite, b->nonfinite);
            assert_true(a->grad_w_norm > 0.0 && a->var_w > 0.0 && rec[0].ratio[k][l] > 0.0);
        }
    free(rec);
    fm_net_free(nets[0]);
    fm_net_free(nets[1]);
    fm_dataset_free(all);
    fm_dataset_free(train);
    fm_dataset_free(val);
}

/* A gradient that overflows while the loss stays finite: one input column at
 * 3e38 (finite float) meets first-layer weights of ~1e-40, so z and the loss
 * are moderate, but dL/dW_1 sums 64 rows of 3e38 times dL/dz and overflows.
 * With statistics every step the overflow shows in the measured step's sums,
 * after the update; without them in the norm before it. Either way training
 * stops as diverged, says so, and the initial weights come back bit for bit. */
static void test_overflowing_gradient_in_diagnosed_step(void **state)
{
    (void)state;
    fm_error err;
    enum { ROWS = 64 };
    fm_dataset *data;
    FM_ASSERT_OK(fm_dataset_alloc(ROWS, 2, 1, &data, &err), &err);
    for (int r = 0; r < ROWS; r++) {
        data->x[2 * r] = 3e38f;
        data->x[2 * r + 1] = (float)(r % 7) * 0.1f;
        data->y[r] = 1.0f;
    }
    for (int diagnose = 0; diagnose <= 1; diagnose++) {
        fm_layer_spec specs[2];
        memset(specs, 0, sizeof specs);
        specs[0].n_out = 8;
        specs[0].act = fm_activation_default(FM_ACT_TANH);
        specs[0].init = (fm_init){FM_INIT_FIXED, 0, 1e-80};
        specs[1].n_out = 1;
        specs[1].act = fm_activation_default(FM_ACT_LINEAR);
        specs[1].init = (fm_init){FM_INIT_FIXED, 0, 100.0};
        fm_net *net;
        FM_ASSERT_OK(fm_net_create(2, specs, 2, 3, &net, &err), &err);
        size_t n = fm_net_n_params(net);
        float *initial = malloc(n * sizeof *initial);
        assert_non_null(initial);
        memcpy(initial, fm_net_params(net), n * sizeof *initial);
        fm_optim_config config = fm_optim_config_default(FM_OPTIM_ADAM);
        fm_optim *opt;
        FM_ASSERT_OK(fm_optim_create(&config, n, &opt, &err), &err);
        fm_loss loss = {FM_LOSS_MSE, 1.0};
        fm_train_options to = fm_train_options_default();
        to.epochs = 2;
        to.batch = ROWS;
        stats_record rec = {0};
        if (diagnose) {
            to.diagnose_every = 1;
            to.on_diagnose = record_stats;
            to.diagnose_user = &rec;
        }
        fm_train_result res;
        FM_ASSERT_FAILS(fm_train(net, opt, &loss, &to, data, NULL, NULL, NULL, &res, &err), &err, FM_ERR_NUMERIC,
                        "the gradient became infinite");
        assert_true(fm_test_contains(err.message, "step 1"));
        assert_true(res.diverged);
        assert_int_equal(rec.calls, 0); /* the diverged step reports no statistics */
        assert_memory_equal(fm_net_params(net), initial, n * sizeof *initial);
        free(initial);
        fm_optim_free(opt);
        fm_net_free(net);
    }
    fm_dataset_free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regression_converges),
        cmocka_unit_test(test_classification_converges),
        cmocka_unit_test(test_divergence_is_reported),
        cmocka_unit_test(test_early_stopping_and_callback),
        cmocka_unit_test(test_training_is_reproducible),
        cmocka_unit_test(test_mismatched_data_is_refused),
        cmocka_unit_test(test_schedules_and_clipping),
        cmocka_unit_test(test_diagnostics_and_vanishing_warning),
        cmocka_unit_test(test_diagnosed_step_measures_like_separate_passes),
        cmocka_unit_test(test_overflowing_gradient_in_diagnosed_step),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
