/* Every public function that returns an fm_status answers a NULL where the
 * header wants an object, an array or an output with FM_ERR_ARG and a message
 * naming the function, never with a crash: the library does not abort on bad
 * input, and a caller's NULL is bad input. Each call passes one NULL with
 * every other argument valid, so that the entry check is what answers; many
 * of these crashed before (a probe of every such function, one pointer NULL
 * at a time, under ASan/UBSan). Arguments that may be NULL still may, and
 * every free function accepts NULL. */
#include "test_support.h"

#include <ctype.h>
#include <netcdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 1 when msg names fn as a whole word ("fm_data_read" is not named by a
 * message about fm_data_read_shard). */
static int names_function(const char *msg, const char *fn)
{
    size_t len = strlen(fn);
    for (const char *p = strstr(msg, fn); p; p = strstr(p + 1, fn)) {
        unsigned char next = (unsigned char)p[len];
        if (!isalnum(next) && next != '_')
            return 1;
    }
    return 0;
}

static fm_error err;

#define ASSERT_REFUSED(fn, call)                                                                            \
    do {                                                                                                    \
        err = (fm_error){FM_OK, ""};                                                                        \
        fm_status refused_status_ = (call);                                                                 \
        if (refused_status_ != FM_ERR_ARG)                                                                  \
            fail_msg("%s: expected %s, got %s (%s)", #call, fm_status_name(FM_ERR_ARG),                     \
                     fm_status_name(refused_status_), err.message);                                         \
        if (!names_function(err.message, #fn))                                                              \
            fail_msg("%s: message \"%s\" does not name %s", #call, err.message, #fn);                       \
    } while (0)

/* ------------------------------------------------------------- fixtures */

enum { ROWS = 8, N_IN = 3 };

/* A collective of two processes seen from rank 0 alone: the sums leave the
 * values as they are and agree returns the local status. Enough to take the
 * collective code paths in one process. */
static fm_status sum_doubles_alone(double *v, size_t n, void *user, fm_error *e) { return FM_OK; }
static fm_status sum_floats_alone(float *v, size_t n, void *user, fm_error *e) { return FM_OK; }
static fm_status agree_alone(fm_status local, fm_error *e, void *user) { return local; }
static const fm_collective TWO = {0, 2, sum_doubles_alone, sum_floats_alone, agree_alone, NULL};

typedef struct fixture {
    fm_layer_spec specs[2];
    fm_net *net; /* 3 -> 4 tanh -> 1 linear */
    fm_dataset *ds;
    fm_optim_config config;
    fm_optim *opt;
    fm_loss loss;
    fm_activation linear;
    float x[ROWS * N_IN], y[ROWS], grad[ROWS];
    fm_layer_stats stats[2];
    fm_model model; /* borrows net */
    fm_encoding *enc;
} fixture;

static void fixture_make(fixture *f)
{
    memset(f, 0, sizeof *f);
    for (int l = 0; l < 2; l++) {
        f->specs[l].n_out = l == 0 ? 4 : 1;
        f->specs[l].act = fm_activation_default(l == 0 ? FM_ACT_TANH : FM_ACT_LINEAR);
        f->specs[l].init.kind = FM_INIT_AUTO;
    }
    FM_ASSERT_OK(fm_net_create(N_IN, f->specs, 2, 1, &f->net, &err), &err);
    FM_ASSERT_OK(fm_dataset_alloc(ROWS, N_IN, 1, &f->ds, &err), &err);
    for (int i = 0; i < ROWS * N_IN; i++)
        f->x[i] = f->ds->x[i] = (float)(i % 5) * 0.25f - 0.5f;
    for (int i = 0; i < ROWS; i++) {
        f->y[i] = f->ds->y[i] = (float)i * 0.1f;
        f->grad[i] = 0.01f;
    }
    f->config = fm_optim_config_default(FM_OPTIM_SGD);
    FM_ASSERT_OK(fm_optim_create(&f->config, fm_net_n_params(f->net), &f->opt, &err), &err);
    f->loss = (fm_loss){FM_LOSS_MSE, 1.0};
    f->linear = fm_activation_default(FM_ACT_LINEAR);
    f->model.net = f->net;
    f->model.loss = f->loss;
    FM_ASSERT_OK(fm_encoding_parse("a,b:sincos", &f->enc, &err), &err);
}

static void fixture_free(fixture *f)
{
    fm_encoding_free(f->enc);
    fm_optim_free(f->opt);
    fm_dataset_free(f->ds);
    fm_net_free(f->net);
}

/* --------------------------------------------------- parsers and numerics */

static void test_parsers_and_numerics_refuse_null(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f);
    fm_activation act;
    fm_init init = {FM_INIT_AUTO, 0, 0}, parsed_init;
    fm_loss loss;
    fm_optim_kind kind;
    fm_optim *opt = NULL;
    fm_holdout holdout;
    fm_encoding *enc = NULL;
    fm_rng rng;
    fm_rng_seed(&rng, 1);
    float w[12], b[4], out[ROWS * 3];
    double value, lrs[4] = {1e-3, 1e-2, 1e-1, 1}, smoothed[4] = {1, 0.5, 0.4, 2}, sigma_w2;
    fm_lr_find_result result;

    ASSERT_REFUSED(fm_activation_parse, fm_activation_parse(NULL, &act, &err));
    ASSERT_REFUSED(fm_activation_parse, fm_activation_parse("relu", NULL, &err));
    ASSERT_REFUSED(fm_activation_check, fm_activation_check(NULL, &err));
    ASSERT_REFUSED(fm_init_parse, fm_init_parse(NULL, &parsed_init, &err));
    ASSERT_REFUSED(fm_init_parse, fm_init_parse("he", NULL, &err));
    ASSERT_REFUSED(fm_init_check, fm_init_check(NULL, &err));
    ASSERT_REFUSED(fm_init_fill, fm_init_fill(NULL, &f.linear, 3, 4, w, b, &rng, &err));
    ASSERT_REFUSED(fm_init_fill, fm_init_fill(&init, NULL, 3, 4, w, b, &rng, &err));
    ASSERT_REFUSED(fm_init_fill, fm_init_fill(&init, &f.linear, 3, 4, NULL, b, &rng, &err));
    ASSERT_REFUSED(fm_init_fill, fm_init_fill(&init, &f.linear, 3, 4, w, b, NULL, &err));
    ASSERT_REFUSED(fm_loss_parse, fm_loss_parse(NULL, &loss, &err));
    ASSERT_REFUSED(fm_loss_parse, fm_loss_parse("mse", NULL, &err));
    ASSERT_REFUSED(fm_loss_check, fm_loss_check(NULL, &f.linear, &err));
    ASSERT_REFUSED(fm_loss_check, fm_loss_check(&f.loss, NULL, &err));
    ASSERT_REFUSED(fm_loss_compute, fm_loss_compute(NULL, &f.linear, f.y, f.y, f.y, ROWS, 1, &value, f.grad, &err));
    ASSERT_REFUSED(fm_loss_compute, fm_loss_compute(&f.loss, NULL, f.y, f.y, f.y, ROWS, 1, &value, f.grad, &err));
    ASSERT_REFUSED(fm_loss_compute, fm_loss_compute(&f.loss, &f.linear, NULL, f.y, f.y, ROWS, 1, &value, f.grad, &err));
    ASSERT_REFUSED(fm_loss_compute, fm_loss_compute(&f.loss, &f.linear, f.y, NULL, f.y, ROWS, 1, &value, f.grad, &err));
    ASSERT_REFUSED(fm_loss_compute, fm_loss_compute(&f.loss, &f.linear, f.y, f.y, NULL, ROWS, 1, &value, f.grad, &err));
    ASSERT_REFUSED(fm_loss_compute, fm_loss_compute(&f.loss, &f.linear, f.y, f.y, f.y, ROWS, 1, NULL, f.grad, &err));
    ASSERT_REFUSED(fm_optim_parse_kind, fm_optim_parse_kind(NULL, &kind, &err));
    ASSERT_REFUSED(fm_optim_parse_kind, fm_optim_parse_kind("sgd", NULL, &err));
    ASSERT_REFUSED(fm_optim_create, fm_optim_create(NULL, 10, &opt, &err));
    ASSERT_REFUSED(fm_optim_create, fm_optim_create(&f.config, 10, NULL, &err));
    ASSERT_REFUSED(fm_holdout_parse, fm_holdout_parse(NULL, &holdout, &err));
    ASSERT_REFUSED(fm_holdout_parse, fm_holdout_parse("random10", NULL, &err));
    ASSERT_REFUSED(fm_encoding_parse, fm_encoding_parse(NULL, &enc, &err));
    ASSERT_REFUSED(fm_encoding_parse, fm_encoding_parse("a", NULL, &err));
    ASSERT_REFUSED(fm_encoding_apply, fm_encoding_apply(NULL, f.x, 2, out, &err));
    ASSERT_REFUSED(fm_encoding_apply, fm_encoding_apply(f.enc, NULL, 2, out, &err));
    ASSERT_REFUSED(fm_encoding_apply, fm_encoding_apply(f.enc, f.x, 2, NULL, &err));
    ASSERT_REFUSED(fm_meanfield_critical_weight_var,
                   fm_meanfield_critical_weight_var(NULL, 0.0, 0.1, 10, &sigma_w2, &err));
    ASSERT_REFUSED(fm_meanfield_critical_weight_var,
                   fm_meanfield_critical_weight_var(&f.specs[0].act, 0.0, 0.1, 10, NULL, &err));
    ASSERT_REFUSED(fm_lr_suggest, fm_lr_suggest(NULL, smoothed, 4, 0, &result, &err));
    ASSERT_REFUSED(fm_lr_suggest, fm_lr_suggest(lrs, NULL, 4, 0, &result, &err));
    ASSERT_REFUSED(fm_lr_suggest, fm_lr_suggest(lrs, smoothed, 4, 0, NULL, &err));
    assert_null(opt);
    assert_null(enc);
    fixture_free(&f);
}

/* A NULL format is the caller's bug too, but fm_error_set reports a status
 * the caller chose: it keeps that status and says what was missing. */
static void test_error_set_without_a_format(void **state)
{
    (void)state;
    err = (fm_error){FM_OK, ""};
    assert_int_equal(fm_error_set(&err, FM_ERR_IO, NULL), FM_ERR_IO);
    assert_int_equal(err.status, FM_ERR_IO);
    assert_true(names_function(err.message, "fm_error_set"));
    assert_int_equal(fm_error_set(NULL, FM_ERR_FORMAT, NULL), FM_ERR_FORMAT);
}

/* ------------------------------------------------- networks and training */

static void test_networks_and_training_refuse_null(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f);
    fm_net *net = NULL;
    float y[ROWS];
    double loss_value, metric, lrs[20], losses[20];
    size_t offset, total;
    uint64_t counts[8];
    fm_histogram info;
    fm_train_options opts = fm_train_options_default();
    opts.epochs = 1;
    fm_train_result result;
    fm_lr_find_options lr_opts = fm_lr_find_options_default();
    lr_opts.steps = 20;
    fm_lr_find_result lr_result;

    ASSERT_REFUSED(fm_net_create, fm_net_create(N_IN, NULL, 2, 1, &net, &err));
    ASSERT_REFUSED(fm_net_create, fm_net_create(N_IN, f.specs, 2, 1, NULL, &err));
    assert_null(net);
    ASSERT_REFUSED(fm_net_reserve, fm_net_reserve(NULL, 4, &err));
    ASSERT_REFUSED(fm_net_forward, fm_net_forward(NULL, f.x, ROWS, 0, &err));
    ASSERT_REFUSED(fm_net_forward, fm_net_forward(f.net, NULL, ROWS, 0, &err));
    /* backward after a valid forward pass, so that only the NULL is wrong */
    FM_ASSERT_OK(fm_net_forward(f.net, f.x, ROWS, 0, &err), &err);
    ASSERT_REFUSED(fm_net_backward, fm_net_backward(NULL, f.x, f.grad, &err));
    ASSERT_REFUSED(fm_net_backward, fm_net_backward(f.net, NULL, f.grad, &err));
    ASSERT_REFUSED(fm_net_backward, fm_net_backward(f.net, f.x, NULL, &err));
    ASSERT_REFUSED(fm_net_backward_sgd, fm_net_backward_sgd(NULL, f.x, f.grad, 0.1f, &err));
    ASSERT_REFUSED(fm_net_backward_sgd, fm_net_backward_sgd(f.net, NULL, f.grad, 0.1f, &err));
    ASSERT_REFUSED(fm_net_backward_sgd, fm_net_backward_sgd(f.net, f.x, NULL, 0.1f, &err));
    ASSERT_REFUSED(fm_net_predict, fm_net_predict(NULL, f.x, ROWS, y, &err));
    ASSERT_REFUSED(fm_net_predict, fm_net_predict(f.net, NULL, ROWS, y, &err));
    ASSERT_REFUSED(fm_net_predict, fm_net_predict(f.net, f.x, ROWS, NULL, &err));
    ASSERT_REFUSED(fm_probe, fm_probe(NULL, f.x, ROWS, NULL, 1, f.stats, &err));
    ASSERT_REFUSED(fm_probe, fm_probe(f.net, NULL, ROWS, NULL, 1, f.stats, &err));
    ASSERT_REFUSED(fm_probe, fm_probe(f.net, f.x, ROWS, NULL, 1, NULL, &err));
    ASSERT_REFUSED(fm_probe_with_loss, fm_probe_with_loss(NULL, f.x, ROWS, &f.loss, f.y, NULL, f.stats, &err));
    ASSERT_REFUSED(fm_probe_with_loss, fm_probe_with_loss(f.net, NULL, ROWS, &f.loss, f.y, NULL, f.stats, &err));
    ASSERT_REFUSED(fm_probe_with_loss, fm_probe_with_loss(f.net, f.x, ROWS, NULL, f.y, NULL, f.stats, &err));
    ASSERT_REFUSED(fm_probe_with_loss, fm_probe_with_loss(f.net, f.x, ROWS, &f.loss, NULL, NULL, f.stats, &err));
    ASSERT_REFUSED(fm_probe_with_loss, fm_probe_with_loss(f.net, f.x, ROWS, &f.loss, f.y, NULL, NULL, &err));
    ASSERT_REFUSED(fm_z_histogram, fm_z_histogram(NULL, 0, 0, 8, counts, &info, &err));
    ASSERT_REFUSED(fm_z_histogram, fm_z_histogram(f.net, 0, 0, 8, NULL, &info, &err));
    ASSERT_REFUSED(fm_z_histogram, fm_z_histogram(f.net, 0, 0, 8, counts, NULL, &err));

    ASSERT_REFUSED(fm_train, fm_train(NULL, f.opt, &f.loss, &opts, f.ds, NULL, NULL, NULL, &result, &err));
    ASSERT_REFUSED(fm_train, fm_train(f.net, NULL, &f.loss, &opts, f.ds, NULL, NULL, NULL, &result, &err));
    ASSERT_REFUSED(fm_train, fm_train(f.net, f.opt, NULL, &opts, f.ds, NULL, NULL, NULL, &result, &err));
    ASSERT_REFUSED(fm_train, fm_train(f.net, f.opt, &f.loss, NULL, f.ds, NULL, NULL, NULL, &result, &err));
    ASSERT_REFUSED(fm_train, fm_train(f.net, f.opt, &f.loss, &opts, NULL, NULL, NULL, NULL, &result, &err));
    ASSERT_REFUSED(fm_evaluate, fm_evaluate(NULL, &f.loss, f.ds, &loss_value, &metric, &err));
    ASSERT_REFUSED(fm_evaluate, fm_evaluate(f.net, NULL, f.ds, &loss_value, &metric, &err));
    ASSERT_REFUSED(fm_evaluate, fm_evaluate(f.net, &f.loss, NULL, &loss_value, &metric, &err));
    ASSERT_REFUSED(fm_evaluate_collective,
                   fm_evaluate_collective(NULL, &f.loss, f.ds, &TWO, &loss_value, &metric, &err));
    ASSERT_REFUSED(fm_evaluate_collective,
                   fm_evaluate_collective(f.net, NULL, f.ds, &TWO, &loss_value, &metric, &err));
    ASSERT_REFUSED(fm_evaluate_collective,
                   fm_evaluate_collective(NULL, &f.loss, f.ds, NULL, &loss_value, &metric, &err));
    ASSERT_REFUSED(fm_evaluate_collective,
                   fm_evaluate_collective(f.net, &f.loss, NULL, NULL, &loss_value, &metric, &err));
    ASSERT_REFUSED(fm_collective_rows, fm_collective_rows(&TWO, ROWS, NULL, &total, &err));
    ASSERT_REFUSED(fm_collective_rows, fm_collective_rows(&TWO, ROWS, &offset, NULL, &err));
    ASSERT_REFUSED(fm_lr_range_test,
                   fm_lr_range_test(NULL, &f.config, &f.loss, f.ds, &lr_opts, lrs, losses, NULL, &lr_result, &err));
    ASSERT_REFUSED(fm_lr_range_test,
                   fm_lr_range_test(f.net, NULL, &f.loss, f.ds, &lr_opts, lrs, losses, NULL, &lr_result, &err));
    ASSERT_REFUSED(fm_lr_range_test,
                   fm_lr_range_test(f.net, &f.config, NULL, f.ds, &lr_opts, lrs, losses, NULL, &lr_result, &err));
    ASSERT_REFUSED(fm_lr_range_test,
                   fm_lr_range_test(f.net, &f.config, &f.loss, NULL, &lr_opts, lrs, losses, NULL, &lr_result, &err));
    ASSERT_REFUSED(fm_lr_range_test,
                   fm_lr_range_test(f.net, &f.config, &f.loss, f.ds, NULL, lrs, losses, NULL, &lr_result, &err));
    ASSERT_REFUSED(fm_lr_range_test,
                   fm_lr_range_test(f.net, &f.config, &f.loss, f.ds, &lr_opts, NULL, losses, NULL, &lr_result, &err));
    ASSERT_REFUSED(fm_lr_range_test,
                   fm_lr_range_test(f.net, &f.config, &f.loss, f.ds, &lr_opts, lrs, NULL, NULL, &lr_result, &err));
    ASSERT_REFUSED(fm_lr_range_test,
                   fm_lr_range_test(f.net, &f.config, &f.loss, f.ds, &lr_opts, lrs, losses, NULL, NULL, &err));
    fixture_free(&f);
}

/* ------------------------------------------------------------ data, files */

static void write_grid_nc(const char *path)
{
    int nc, d[2], vlat, vlon, vt;
    assert_int_equal(nc_create(path, NC_CLOBBER, &nc), NC_NOERR);
    nc_def_dim(nc, "lat", 2, &d[0]);
    nc_def_dim(nc, "lon", 3, &d[1]);
    nc_def_var(nc, "lat", NC_DOUBLE, 1, &d[0], &vlat);
    nc_put_att_text(nc, vlat, "units", 13, "degrees_north");
    nc_def_var(nc, "lon", NC_DOUBLE, 1, &d[1], &vlon);
    nc_put_att_text(nc, vlon, "units", 12, "degrees_east");
    nc_def_var(nc, "t", NC_FLOAT, 2, d, &vt);
    assert_int_equal(nc_enddef(nc), NC_NOERR);
    double lat[2] = {-10, 10}, lon[3] = {0, 120, 240};
    float t[6] = {1, 2, 3, 4, 5, 6};
    nc_put_var_double(nc, vlat, lat);
    nc_put_var_double(nc, vlon, lon);
    nc_put_var_float(nc, vt, t);
    assert_int_equal(nc_close(nc), NC_NOERR);
}

static void test_data_and_files_refuse_null(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f);
    const char *csv = FATHOM_TEST_DATA_DIR "/levitus_sample.csv";
    fm_read_options ropts = {"lat,sin_lon,cos_lon,log_depth", "temp", 0};
    char npy[4096], idx[4096], segy[4096], model_path[4096], log[4096], nc[4096];
    snprintf(npy, sizeof npy, "%s", fm_test_tmp_path("api_null.npy"));
    snprintf(idx, sizeof idx, "%s", fm_test_tmp_path("api_null.idx"));
    snprintf(segy, sizeof segy, "%s", fm_test_tmp_path("api_null.sgy"));
    snprintf(model_path, sizeof model_path, "%s", fm_test_tmp_path("api_null.safetensors"));
    snprintf(log, sizeof log, "%s", fm_test_tmp_path("api_null.jsonl"));
    snprintf(nc, sizeof nc, "%s", fm_test_tmp_path("api_null.nc"));
    const char *out_path = fm_test_tmp_path("api_null.out");
    FM_ASSERT_OK(fm_npy_write(npy, f.x, ROWS, N_IN, &err), &err);
    const unsigned char idx_bytes[] = {0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9}; /* 1-D ubyte, 3 labels */
    fm_test_write_file(idx, idx_bytes, sizeof idx_bytes);
    FM_ASSERT_OK(fm_segy_write_traces(segy, f.x, 3, ROWS, 4000, &err), &err);
    FM_ASSERT_OK(fm_model_save(&f.model, model_path, &err), &err);
    fm_test_write_text(log, "{\"type\":\"run\",\"fathom_version\":\"0.1.0\",\"loss\":\"mse\",\"n_in\":3,"
                            "\"layers\":[]}\n");
    write_grid_nc(nc);

    fm_dataset *ds = NULL, *other = NULL;
    fm_holdout holdout = {FM_HOLDOUT_RANDOM10, 0.1};
    float *data = NULL, mean[1] = {0}, std[1] = {1};
    size_t rows, n_traces;
    int cols, n_samples, interval;
    fm_standardizer *s = NULL;
    fm_model *model = NULL;
    fm_encoding *enc = NULL;
    fm_grid_slice slice;
    fm_depth_curve curve = {"c", f.stats, 2};
    uint64_t grid_index[6] = {0, 1, 2, 3, 4, 5};
    float pred[6] = {1, 2, 3, 4, 5, 6};
    char *names[1] = {"t"};

    ASSERT_REFUSED(fm_output_check, fm_output_check(NULL, &err));
    ASSERT_REFUSED(fm_dataset_alloc, fm_dataset_alloc(ROWS, N_IN, 1, NULL, &err));
    ASSERT_REFUSED(fm_dataset_split, fm_dataset_split(NULL, 0.5, 1, &ds, &other, &err));
    ASSERT_REFUSED(fm_dataset_split, fm_dataset_split(f.ds, 0.5, 1, NULL, &other, &err));
    ASSERT_REFUSED(fm_dataset_split, fm_dataset_split(f.ds, 0.5, 1, &ds, NULL, &err));
    ASSERT_REFUSED(fm_dataset_split_holdout, fm_dataset_split_holdout(NULL, &holdout, &ds, &other, &err));
    ASSERT_REFUSED(fm_dataset_split_holdout, fm_dataset_split_holdout(f.ds, NULL, &ds, &other, &err));
    ASSERT_REFUSED(fm_csv_read, fm_csv_read(NULL, &ropts, &ds, &err));
    ASSERT_REFUSED(fm_csv_read, fm_csv_read(csv, &ropts, NULL, &err));
    ASSERT_REFUSED(fm_csv_write, fm_csv_write(NULL, f.x, ROWS, N_IN, NULL, &err));
    ASSERT_REFUSED(fm_csv_write, fm_csv_write(out_path, NULL, ROWS, N_IN, NULL, &err));
    ASSERT_REFUSED(fm_npy_read_matrix, fm_npy_read_matrix(NULL, &data, &rows, &cols, &err));
    ASSERT_REFUSED(fm_npy_read_matrix, fm_npy_read_matrix(npy, NULL, &rows, &cols, &err));
    ASSERT_REFUSED(fm_npy_read_matrix, fm_npy_read_matrix(npy, &data, NULL, &cols, &err));
    ASSERT_REFUSED(fm_npy_read_matrix, fm_npy_read_matrix(npy, &data, &rows, NULL, &err));
    ASSERT_REFUSED(fm_npy_read, fm_npy_read(NULL, NULL, &ds, &err));
    ASSERT_REFUSED(fm_npy_read, fm_npy_read(npy, NULL, NULL, &err));
    ASSERT_REFUSED(fm_npy_write, fm_npy_write(NULL, f.x, ROWS, N_IN, &err));
    ASSERT_REFUSED(fm_npy_write, fm_npy_write(out_path, NULL, ROWS, N_IN, &err));
    ASSERT_REFUSED(fm_idx_read_matrix, fm_idx_read_matrix(NULL, 1, &data, &rows, &cols, &err));
    ASSERT_REFUSED(fm_idx_read_matrix, fm_idx_read_matrix(idx, 1, NULL, &rows, &cols, &err));
    ASSERT_REFUSED(fm_idx_read_matrix, fm_idx_read_matrix(idx, 1, &data, NULL, &cols, &err));
    ASSERT_REFUSED(fm_idx_read_matrix, fm_idx_read_matrix(idx, 1, &data, &rows, NULL, &err));
    ASSERT_REFUSED(fm_data_read, fm_data_read(NULL, NULL, &ropts, &ds, &err));
    ASSERT_REFUSED(fm_data_read, fm_data_read(csv, NULL, &ropts, NULL, &err));
    ASSERT_REFUSED(fm_data_read_shard, fm_data_read_shard(NULL, NULL, &ropts, 0, 2, &ds, &err));
    ASSERT_REFUSED(fm_data_read_shard, fm_data_read_shard(csv, NULL, &ropts, 0, 2, NULL, &err));
    ASSERT_REFUSED(fm_standardizer_fit, fm_standardizer_fit(NULL, ROWS, N_IN, &s, &err));
    ASSERT_REFUSED(fm_standardizer_fit, fm_standardizer_fit(f.x, ROWS, N_IN, NULL, &err));
    ASSERT_REFUSED(fm_standardizer_fit_collective, fm_standardizer_fit_collective(NULL, ROWS, N_IN, NULL, &s, &err));
    ASSERT_REFUSED(fm_standardizer_fit_collective, fm_standardizer_fit_collective(NULL, ROWS, N_IN, &TWO, &s, &err));
    ASSERT_REFUSED(fm_standardizer_fit_collective, fm_standardizer_fit_collective(f.x, ROWS, N_IN, NULL, NULL, &err));
    ASSERT_REFUSED(fm_standardizer_create, fm_standardizer_create(1, NULL, std, &s, &err));
    ASSERT_REFUSED(fm_standardizer_create, fm_standardizer_create(1, mean, NULL, &s, &err));
    ASSERT_REFUSED(fm_standardizer_create, fm_standardizer_create(1, mean, std, NULL, &err));
    ASSERT_REFUSED(fm_model_save, fm_model_save(NULL, out_path, &err));
    ASSERT_REFUSED(fm_model_save, fm_model_save(&f.model, NULL, &err));
    ASSERT_REFUSED(fm_model_load, fm_model_load(NULL, &model, &err));
    ASSERT_REFUSED(fm_model_load, fm_model_load(model_path, NULL, &err));
    ASSERT_REFUSED(fm_model_encoding, fm_model_encoding(NULL, &enc, &err));
    ASSERT_REFUSED(fm_model_encoding, fm_model_encoding(&f.model, NULL, &err));
    ASSERT_REFUSED(fm_plot_depth_svg, fm_plot_depth_svg(NULL, "t", &curve, 1, &err));
    ASSERT_REFUSED(fm_plot_depth_svg, fm_plot_depth_svg(out_path, "t", NULL, 1, &err));
    ASSERT_REFUSED(fm_report_write, fm_report_write(NULL, out_path, &err));
    ASSERT_REFUSED(fm_report_write, fm_report_write(log, NULL, &err));
    ASSERT_REFUSED(fm_report_write_maps, fm_report_write_maps(NULL, out_path, NULL, &err));
    ASSERT_REFUSED(fm_report_write_maps, fm_report_write_maps(log, NULL, NULL, &err));
    ASSERT_REFUSED(fm_grid_slice_read, fm_grid_slice_read(NULL, "t", 0, &slice, &err));
    ASSERT_REFUSED(fm_grid_slice_read, fm_grid_slice_read(nc, NULL, 0, &slice, &err));
    ASSERT_REFUSED(fm_grid_slice_read, fm_grid_slice_read(nc, "t", 0, NULL, &err));
    ASSERT_REFUSED(fm_netcdf_write_predictions,
                   fm_netcdf_write_predictions(NULL, "t", out_path, grid_index, 6, 1, names, pred, NULL, &err));
    ASSERT_REFUSED(fm_netcdf_write_predictions,
                   fm_netcdf_write_predictions(nc, NULL, out_path, grid_index, 6, 1, names, pred, NULL, &err));
    ASSERT_REFUSED(fm_netcdf_write_predictions,
                   fm_netcdf_write_predictions(nc, "t", NULL, grid_index, 6, 1, names, pred, NULL, &err));
    ASSERT_REFUSED(fm_netcdf_write_predictions,
                   fm_netcdf_write_predictions(nc, "t", out_path, NULL, 6, 1, names, pred, NULL, &err));
    ASSERT_REFUSED(fm_netcdf_write_predictions,
                   fm_netcdf_write_predictions(nc, "t", out_path, grid_index, 6, 1, NULL, pred, NULL, &err));
    ASSERT_REFUSED(fm_netcdf_write_predictions,
                   fm_netcdf_write_predictions(nc, "t", out_path, grid_index, 6, 1, names, NULL, NULL, &err));
    ASSERT_REFUSED(fm_segy_read_traces, fm_segy_read_traces(NULL, &data, &n_traces, &n_samples, &interval, &err));
    ASSERT_REFUSED(fm_segy_read_traces, fm_segy_read_traces(segy, NULL, &n_traces, &n_samples, &interval, &err));
    ASSERT_REFUSED(fm_segy_read_traces, fm_segy_read_traces(segy, &data, NULL, &n_samples, &interval, &err));
    ASSERT_REFUSED(fm_segy_read_traces, fm_segy_read_traces(segy, &data, &n_traces, NULL, &interval, &err));
    ASSERT_REFUSED(fm_segy_write_traces, fm_segy_write_traces(NULL, f.x, 3, ROWS, 4000, &err));
    ASSERT_REFUSED(fm_segy_write_traces, fm_segy_write_traces(out_path, NULL, 3, ROWS, 4000, &err));
    ASSERT_REFUSED(fm_segy_write_like, fm_segy_write_like(NULL, out_path, f.x, 3, ROWS, &err));
    ASSERT_REFUSED(fm_segy_write_like, fm_segy_write_like(segy, NULL, f.x, 3, ROWS, &err));
    ASSERT_REFUSED(fm_segy_write_like, fm_segy_write_like(segy, out_path, NULL, 3, ROWS, &err));
    assert_null(ds);
    assert_null(data);
    assert_null(s);
    assert_null(model);
    assert_null(enc);
    fixture_free(&f);
}

/* ------------------------------------------------------------ checkpoints */

typedef struct checkpoint_user {
    const fm_model *model;
    const char *path;
} checkpoint_user;

/* Called with a live training state: the save refuses NULLs beside it, then
 * writes the checkpoint the load below reads. */
static fm_status save_checkpoint(const fm_train_state *train_state, void *user, fm_error *e)
{
    const checkpoint_user *c = user;
    ASSERT_REFUSED(fm_checkpoint_save, fm_checkpoint_save(NULL, c->model, train_state, &err));
    ASSERT_REFUSED(fm_checkpoint_save, fm_checkpoint_save(c->path, NULL, train_state, &err));
    ASSERT_REFUSED(fm_checkpoint_save, fm_checkpoint_save(c->path, c->model, NULL, &err));
    return fm_checkpoint_save(c->path, c->model, train_state, e);
}

static void test_checkpoints_refuse_null(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f);
    char path[4096];
    snprintf(path, sizeof path, "%s", fm_test_tmp_path("api_null.ckpt"));
    checkpoint_user c = {&f.model, path};
    fm_train_options opts = fm_train_options_default();
    opts.epochs = 1;
    opts.batch = 4;
    opts.checkpoint_every = 1;
    opts.stop_after_step = 1;
    opts.on_checkpoint = save_checkpoint;
    opts.checkpoint_user = &c;
    assert_int_equal(fm_train(f.net, f.opt, &f.loss, &opts, f.ds, NULL, NULL, NULL, NULL, &err), FM_ERR_STOPPED);
    fm_model *model = NULL;
    fm_train_state *train_state = NULL;
    ASSERT_REFUSED(fm_checkpoint_load, fm_checkpoint_load(NULL, &model, &train_state, &err));
    ASSERT_REFUSED(fm_checkpoint_load, fm_checkpoint_load(path, NULL, &train_state, &err));
    ASSERT_REFUSED(fm_checkpoint_load, fm_checkpoint_load(path, &model, NULL, &err));
    FM_ASSERT_OK(fm_checkpoint_load(path, &model, &train_state, &err), &err);
    fm_model_free(model);
    fm_train_state_free(train_state);
    fixture_free(&f);
}

/* ---------------------------------------------- what may be NULL still may */

static void test_optional_arguments_still_take_null(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f);
    fm_rng rng;
    fm_rng_seed(&rng, 1);
    float w[12], raw[2 * 2] = {1, 90, 2, 180}, encoded[2 * 3], *traces = NULL;
    fm_init torch = {FM_INIT_TORCH, 1, 0};
    double value, loss_value, metric;
    size_t n_traces;
    int n_samples;
    char segy[4096];
    snprintf(segy, sizeof segy, "%s", fm_test_tmp_path("api_null_optional.sgy"));

    FM_ASSERT_OK(fm_init_fill(&torch, &f.linear, 3, 4, w, NULL, &rng, &err), &err); /* no biases */
    FM_ASSERT_OK(fm_loss_compute(&f.loss, &f.linear, f.y, f.y, f.y, ROWS, 1, &value, NULL, &err), &err);
    FM_ASSERT_OK(fm_probe(f.net, f.x, ROWS, NULL, 1, f.stats, &err), &err);
    FM_ASSERT_OK(fm_probe_with_loss(f.net, f.x, ROWS, &f.loss, f.y, NULL, f.stats, &err), &err);
    FM_ASSERT_OK(fm_net_predict(f.net, NULL, 0, NULL, &err), &err); /* no rows, no arrays */
    FM_ASSERT_OK(fm_encoding_apply(f.enc, raw, 2, encoded, &err), &err);
    FM_ASSERT_OK(fm_encoding_apply(f.enc, NULL, 0, NULL, &err), &err);
    FM_ASSERT_OK(fm_evaluate(f.net, &f.loss, f.ds, NULL, NULL, &err), &err);
    assert_int_equal(fm_evaluate(f.net, &f.loss, f.ds, &loss_value, &metric, NULL), FM_OK);
    FM_ASSERT_OK(fm_evaluate_collective(f.net, &f.loss, f.ds, NULL, &loss_value, &metric, &err), &err);
    FM_ASSERT_OK(fm_evaluate_collective(f.net, &f.loss, f.ds, &TWO, &loss_value, &metric, &err), &err);
    size_t offset, total;
    FM_ASSERT_OK(fm_collective_rows(NULL, ROWS, &offset, &total, &err), &err);
    assert_int_equal(total, ROWS);
    fm_standardizer *s = NULL;
    FM_ASSERT_OK(fm_standardizer_fit_collective(f.x, ROWS, N_IN, NULL, &s, &err), &err);
    fm_standardizer_free(s);
    FM_ASSERT_OK(fm_segy_write_traces(segy, f.x, 3, ROWS, 4000, &err), &err);
    FM_ASSERT_OK(fm_segy_read_traces(segy, &traces, &n_traces, &n_samples, NULL, &err), &err);
    assert_int_equal(n_traces, 3);
    free(traces);
    fm_encoding *enc = (fm_encoding *)1; /* overwritten with NULL: the model has no encoding */
    FM_ASSERT_OK(fm_model_encoding(&f.model, &enc, &err), &err);
    assert_null(enc);
    /* err itself is optional everywhere: a refusal without it is still a status */
    assert_int_equal(fm_net_forward(NULL, f.x, ROWS, 0, NULL), FM_ERR_ARG);
    assert_int_equal(fm_loss_compute(&f.loss, &f.linear, f.y, NULL, f.y, ROWS, 1, &value, NULL, NULL), FM_ERR_ARG);
    fixture_free(&f);
}

/* Every free function accepts NULL, as the header promises. */
static void test_free_functions_accept_null(void **state)
{
    (void)state;
    fm_net_free(NULL);
    fm_optim_free(NULL);
    fm_dataset_free(NULL);
    fm_standardizer_free(NULL);
    fm_model_free(NULL);
    fm_train_state_free(NULL);
    fm_grid_slice_free(NULL);
    fm_encoding_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parsers_and_numerics_refuse_null),
        cmocka_unit_test(test_error_set_without_a_format),
        cmocka_unit_test(test_networks_and_training_refuse_null),
        cmocka_unit_test(test_data_and_files_refuse_null),
        cmocka_unit_test(test_checkpoints_refuse_null),
        cmocka_unit_test(test_optional_arguments_still_take_null),
        cmocka_unit_test(test_free_functions_accept_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
