/* The public API refuses misuse with a status and a message, never a crash:
 * each case here was found calling the library as a careless caller would
 * (a failed reserve followed by backward, parameters the parsers refuse set
 * directly in structs, options out of range, an out-of-range rank, a
 * directory read as a file). Under the sanitizer build a regression shows as
 * an ASan or UBSan report as well as a failed assertion. */
#include "test_support.h"

#include <limits.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

static fm_layer_spec spec(int n_out, fm_act_kind act)
{
    fm_layer_spec s;
    memset(&s, 0, sizeof s);
    s.n_out = n_out;
    s.act = fm_activation_default(act);
    s.init.kind = FM_INIT_AUTO;
    return s;
}

static fm_net *small_net(void)
{
    fm_layer_spec specs[2] = {spec(4, FM_ACT_RELU), spec(2, FM_ACT_LINEAR)};
    fm_net *net;
    fm_error err;
    FM_ASSERT_OK(fm_net_create(3, specs, 2, 1, &net, &err), &err);
    return net;
}

/* A reserve that fails, or that grows the buffers, discards the last pass:
 * backward then needs a forward pass again (it read freed or fresh buffers). */
static void test_backward_after_a_reserve_needs_a_forward_pass(void **state)
{
    (void)state;
    fm_net *net = small_net();
    float x[3 * 64] = {0}, g[2 * 64] = {0};
    fm_error err;
    FM_ASSERT_OK(fm_net_forward(net, x, 2, 0, &err), &err);
    FM_ASSERT_OK(fm_net_reserve(net, 64, &err), &err);
    FM_ASSERT_FAILS(fm_net_backward(net, x, g, &err), &err, FM_ERR_ARG, "forward");
    FM_ASSERT_OK(fm_net_forward(net, x, 2, 0, &err), &err);
    FM_ASSERT_OK(fm_net_backward(net, x, g, &err), &err);
    fm_net_free(net);
}

/* Parameters the parsers refuse are refused in specs made by hand too. */
static void test_hand_made_specs_are_checked(void **state)
{
    (void)state;
    fm_error err;
    fm_net *net = NULL;
    fm_layer_spec specs[2] = {spec(4, FM_ACT_ELU), spec(1, FM_ACT_LINEAR)};
    specs[0].act.alpha = -1.0;
    FM_ASSERT_FAILS(fm_net_create(3, specs, 2, 1, &net, &err), &err, FM_ERR_ARG, "elu alpha -1");
    specs[0].act = fm_activation_default(FM_ACT_SINE);
    specs[0].act.alpha = INFINITY;
    FM_ASSERT_FAILS(fm_net_create(3, specs, 2, 1, &net, &err), &err, FM_ERR_ARG, "omega0");
    specs[0].act = fm_activation_default(FM_ACT_TANH);
    specs[0].init = (fm_init){FM_INIT_ORTHOGONAL, 0, NAN};
    FM_ASSERT_FAILS(fm_net_create(3, specs, 2, 1, &net, &err), &err, FM_ERR_ARG, "orthogonal gain");
    specs[0].init = (fm_init){FM_INIT_FIXED, 0, 1e300};
    FM_ASSERT_FAILS(fm_net_create(3, specs, 2, 1, &net, &err), &err, FM_ERR_ARG, "variance");
    assert_null(net);
    fm_loss huber = {FM_LOSS_HUBER, -1.0};
    fm_activation linear = fm_activation_default(FM_ACT_LINEAR);
    FM_ASSERT_FAILS(fm_loss_check(&huber, &linear, &err), &err, FM_ERR_ARG, "huber delta -1");
    huber.delta = NAN;
    FM_ASSERT_FAILS(fm_loss_check(&huber, &linear, &err), &err, FM_ERR_ARG, "huber delta");
    FM_ASSERT_FAILS(fm_activation_parse("tanh", NULL, &err), &err, FM_ERR_ARG, "NULL");
    FM_ASSERT_FAILS(fm_loss_parse("mse", NULL, &err), &err, FM_ERR_ARG, "NULL");
}

/* fm_train's options, the optimiser's schedule and a holdout, each out of range. */
static void test_options_out_of_range_are_refused(void **state)
{
    (void)state;
    fm_error err;
    fm_net *net = small_net();
    fm_dataset *ds;
    FM_ASSERT_OK(fm_dataset_alloc(8, 3, 2, &ds, &err), &err);
    memset(ds->x, 0, 8 * 3 * sizeof(float));
    memset(ds->y, 0, 8 * 2 * sizeof(float));
    fm_optim_config oc = fm_optim_config_default(FM_OPTIM_SGD);
    fm_optim *opt;
    FM_ASSERT_OK(fm_optim_create(&oc, fm_net_n_params(net), &opt, &err), &err);
    fm_loss mse = {FM_LOSS_MSE, 1.0};
    fm_train_options to = fm_train_options_default();
    to.diagnose_every = 1; /* no callback: the statistics would go nowhere */
    FM_ASSERT_FAILS(fm_train(net, opt, &mse, &to, ds, NULL, NULL, NULL, NULL, &err), &err, FM_ERR_ARG,
                    "on_diagnose");
    to = fm_train_options_default();
    to.explode_factor = NAN;
    FM_ASSERT_FAILS(fm_train(net, opt, &mse, &to, ds, NULL, NULL, NULL, NULL, &err), &err, FM_ERR_ARG,
                    "explode_factor");
    to = fm_train_options_default();
    to.patience = -1;
    FM_ASSERT_FAILS(fm_train(net, opt, &mse, &to, ds, NULL, NULL, NULL, NULL, &err), &err, FM_ERR_ARG, "patience");
    FM_ASSERT_FAILS(fm_train(NULL, opt, &mse, &to, ds, NULL, NULL, NULL, NULL, &err), &err, FM_ERR_ARG, "NULL");
    fm_optim *bad = NULL;
    oc.schedule = (fm_schedule_kind)42;
    FM_ASSERT_FAILS(fm_optim_create(&oc, 10, &bad, &err), &err, FM_ERR_ARG, "schedule");
    assert_null(bad);
    oc.schedule = FM_SCHEDULE_STEP;
    oc.step_size = 0; /* fm_schedule_lr takes any config: no division by zero */
    assert_true(fm_schedule_lr(&oc, 3, 10) == oc.lr);
    fm_dataset *tr = NULL, *te = NULL;
    fm_holdout holdouts[] = {{(fm_holdout_kind)9, 0.0}, {FM_HOLDOUT_RANDOM, NAN}, {FM_HOLDOUT_RANDOM, 5.0}};
    for (int k = 0; k < 3; k++)
        FM_ASSERT_FAILS(fm_dataset_split_holdout(ds, &holdouts[k], &tr, &te, &err), &err, FM_ERR_ARG,
                        "invalid holdout");
    assert_null(tr);
    fm_optim_free(opt);
    fm_dataset_free(ds);
    fm_net_free(net);
}

static void test_collective_rank_out_of_range(void **state)
{
    (void)state;
    fm_error err;
    size_t offset, total;
    fm_collective c;
    memset(&c, 0, sizeof c);
    c.rank = 5;
    c.size = 2;
    FM_ASSERT_FAILS(fm_collective_rows(&c, 5, &offset, &total, &err), &err, FM_ERR_ARG, "rank 5 of 2");
    c.rank = -1;
    FM_ASSERT_FAILS(fm_collective_rows(&c, 5, &offset, &total, &err), &err, FM_ERR_ARG, "rank -1");
}

/* A directory read as a file is named as one (it opened, and ftell gave
 * LONG_MAX: "out of memory reading 9e18 bytes"); a checkpoint without a path. */
static void test_directories_and_missing_paths(void **state)
{
    (void)state;
    fm_error err;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", fm_test_tmp_path("a_directory.csv"));
    mkdir(dir, 0755);
    fm_dataset *ds = NULL;
    FM_ASSERT_FAILS(fm_csv_read(dir, NULL, &ds, &err), &err, FM_ERR_IO, "is a directory");
    assert_null(ds);
    fm_model *model = NULL;
    fm_train_state *st = NULL;
    FM_ASSERT_FAILS(fm_checkpoint_load(NULL, &model, &st, &err), &err, FM_ERR_ARG, "no path");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backward_after_a_reserve_needs_a_forward_pass),
        cmocka_unit_test(test_hand_made_specs_are_checked),
        cmocka_unit_test(test_options_out_of_range_are_refused),
        cmocka_unit_test(test_collective_rank_out_of_range),
        cmocka_unit_test(test_directories_and_missing_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
