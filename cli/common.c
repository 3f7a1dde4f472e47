#include "cli.h"

#include <getopt.h>

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_exit_code(fm_status status)
{
    switch (status) {
    case FM_OK: return EXIT_OK;
    case FM_ERR_ARG: return EXIT_USAGE;
    case FM_ERR_IO: return EXIT_IO;
    case FM_ERR_FORMAT: return EXIT_FORMAT;
    case FM_ERR_NUMERIC: return EXIT_DIVERGED;
    case FM_ERR_NOMEM: return EXIT_NOMEM;
    case FM_ERR_STOPPED: return EXIT_STOPPED;
    }
    return EXIT_FAILURE_OTHER;
}

int cli_report(const char *command, const fm_error *err)
{
    fprintf(stderr, "fathom %s: %s\n", command, err->message[0] ? err->message : fm_status_name(err->status));
    return cli_exit_code(err->status);
}

/* The rank the MPI launcher gave this process, read before MPI starts (the
 * command line is checked first): 0 when not launched by mpirun. OpenMPI
 * sets OMPI_COMM_WORLD_RANK, MPICH and others PMI_RANK. */
static long launcher_rank(void)
{
    const char *r = getenv("OMPI_COMM_WORLD_RANK");
    if (!r)
        r = getenv("PMI_RANK");
    return r ? strtol(r, NULL, 10) : 0;
}

int cli_usage_error(const char *command, const char *fmt, ...)
{
    if (launcher_rank() != 0)
        return EXIT_USAGE; /* every process sees the same command line: rank 0 says what is wrong with it */
    va_list args;
    va_start(args, fmt);
    fprintf(stderr, "fathom %s: ", command);
    vfprintf(stderr, fmt, args);
    fprintf(stderr, " (try fathom %s --help)\n", command);
    va_end(args);
    return EXIT_USAGE;
}

fm_status cli_fail_io(fm_error *err, const char *path, int errnum)
{
    return fm_error_set(err, FM_ERR_IO, "cannot open %s: %s", path, strerror(errnum));
}

int cli_parse_int(const char *text, long min, long max, long *out)
{
    if (!text || !*text)
        return 0;
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (*end != '\0' || errno == ERANGE || value < min || value > max)
        return 0;
    *out = value;
    return 1;
}

int cli_parse_double(const char *text, double min, double max, double *out)
{
    if (!text || !*text)
        return 0;
    char *end;
    errno = 0;
    double value = strtod(text, &end);
    if (*end != '\0' || errno == ERANGE || !isfinite(value) || value < min || value > max)
        return 0;
    *out = value;
    return 1;
}

int cli_parse_widths(const char *text, int *widths, int max)
{
    int n = 0;
    const char *p = text;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char item[64];
        if (len == 0 || len >= sizeof item)
            return -1;
        memcpy(item, p, len);
        item[len] = '\0';
        char *x = strchr(item, 'x');
        long width, repeat = 1;
        if (x) {
            *x = '\0';
            if (!cli_parse_int(x + 1, 1, max, &repeat))
                return -1;
        }
        if (!cli_parse_int(item, 1, FM_MAX_WIDTH, &width))
            return -1;
        if (n + repeat > max)
            return -1;
        for (long i = 0; i < repeat; i++)
            widths[n++] = (int)width;
        if (!comma)
            break;
        p = comma + 1;
        if (!*p)
            return -1;
    }
    return n;
}

int cli_parse_override(const char *text, int *layer, const char **spec)
{
    const char *eq = strchr(text, '=');
    if (!eq)
        return 0;
    char number[16];
    size_t len = (size_t)(eq - text);
    if (len == 0 || len >= sizeof number)
        return 0;
    memcpy(number, text, len);
    number[len] = '\0';
    long value;
    if (!cli_parse_int(number, 1, FM_MAX_LAYERS, &value) || !eq[1])
        return 0;
    *layer = (int)value;
    *spec = eq + 1;
    return 1;
}

int cli_parse_seed(const char *text, unsigned long long *out)
{
    if (!text || !*text || *text == '-' || *text == '+')
        return 0;
    char *end;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (*end != '\0' || errno == ERANGE)
        return 0;
    *out = value;
    return 1;
}

void cli_set_threads(int threads)
{
    if (threads > 0)
        openblas_set_num_threads(threads);
}

/* Comma-joined list of names as a column spec. */
static char *join_names(char *const *names, int n)
{
    size_t len = 1;
    for (int i = 0; i < n; i++)
        len += strlen(names[i]) + 1;
    char *spec = malloc(len);
    if (!spec)
        return NULL;
    spec[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (i)
            strcat(spec, ",");
        strcat(spec, names[i]);
    }
    return spec;
}

/* The file part of "PATH#SPLIT:part" (see fm_data_read), malloc'd. */
char *cli_data_file(const char *path)
{
    const char *hash = strrchr(path, '#');
    FILE *f = hash ? fopen(path, "rb") : NULL;
    if (f)
        fclose(f);
    size_t n = hash && !f ? (size_t)(hash - path) : strlen(path);
    char *file = malloc(n + 1);
    if (file) {
        memcpy(file, path, n);
        file[n] = '\0';
    }
    return file;
}

static int has_suffix(const char *path, const char *suffix)
{
    size_t n = strlen(path), m = strlen(suffix);
    return n >= m && strcmp(path + n - m, suffix) == 0;
}

int cli_is_netcdf(const char *path)
{
    char *file = cli_data_file(path);
    int yes = file && (has_suffix(file, ".nc") || has_suffix(file, ".cdf") || has_suffix(file, ".nc4") ||
                       has_suffix(file, ".netcdf"));
    free(file);
    return yes;
}

static int is_csv(const char *path)
{
    char *file = cli_data_file(path);
    int yes = file && has_suffix(file, ".csv");
    free(file);
    return yes;
}

fm_status cli_read_model_data(const fm_model *model, const char *path, const char *target_path, const char *inputs,
                              const char *targets, int with_targets, int skip_bad, fm_dataset **out, fm_error *err)
{
    return cli_read_model_data_shard(model, path, target_path, inputs, targets, with_targets, skip_bad, 0, 1, out, err);
}

fm_status cli_read_model_data_shard(const fm_model *model, const char *path, const char *target_path,
                                    const char *inputs, const char *targets, int with_targets, int skip_bad, int shard,
                                    int n_shards, fm_dataset **out, fm_error *err)
{
    *out = NULL;
    fm_read_options opts = {inputs, targets, skip_bad};
    char *input_spec = NULL, *target_spec = NULL;
    int n_in = fm_net_n_in(model->net);
    /* A model trained on encoded inputs carries its encoding: the raw columns
     * it names are read and encoded the same way. */
    fm_encoding *enc = NULL;
    fm_status st = fm_model_encoding(model, &enc, err);
    if (st != FM_OK)
        return st;
    int named = is_csv(path) || cli_is_netcdf(path);
    if (!inputs && enc) {
        input_spec = fm_encoding_format(enc);
        if (!input_spec) {
            fm_encoding_free(enc);
            return fm_error_set(err, FM_ERR_NOMEM, "cannot build the column list");
        }
        opts.inputs = input_spec;
    } else if (named && !inputs && model->in_names) {
        input_spec = join_names(model->in_names, n_in);
        if (!input_spec)
            return fm_error_set(err, FM_ERR_NOMEM, "cannot build the column list");
        opts.inputs = input_spec;
    }
    fm_encoding_free(enc);
    /* NetCDF samples are the cells of the target variable, with or without
     * the targets wanted. */
    if (named && (with_targets || cli_is_netcdf(path)) && !targets && !target_path && model->out_names) {
        target_spec = join_names(model->out_names, model->n_target_names);
        if (!target_spec) {
            free(input_spec);
            return fm_error_set(err, FM_ERR_NOMEM, "cannot build the column list");
        }
        opts.targets = target_spec;
    }
    st = fm_data_read_shard(path, with_targets ? target_path : NULL, &opts, shard, n_shards, out, err);
    free(input_spec);
    free(target_spec);
    if (st != FM_OK)
        return st;
    fm_dataset *ds = *out;
    char *trained = model->in_names ? join_names(model->in_names, n_in) : NULL;
    if (ds->n_in != n_in) {
        int selected = ds->n_in; /* read before the dataset is freed */
        fm_dataset_free(ds);
        *out = NULL;
        st = fm_error_set(err, FM_ERR_ARG, "%s: %d input columns selected but the model takes %d%s%s%s", path,
                          selected, n_in, trained ? " (it was trained on " : "", trained ? trained : "",
                          trained ? ")" : "");
        free(trained);
        return st;
    }
    /* Inputs given by hand are taken by position: say so when their names
     * are not the model's (lon,lat for a lat,lon model reads and runs, and
     * every prediction is wrong). Other files' columns may have other names
     * on purpose, hence a warning, from the first process only. */
    int renamed = 0;
    for (int i = 0; inputs && trained && ds->in_names && i < n_in; i++)
        renamed |= strcmp(ds->in_names[i], model->in_names[i]) != 0;
    char *given = renamed && shard == 0 ? join_names(ds->in_names, n_in) : NULL;
    if (given)
        fprintf(stderr, "fathom: warning: %s: the inputs read are %s but the model was trained on %s; they are used "
                        "in that order\n", path, given, trained);
    free(given);
    free(trained);
    return FM_OK;
}

fm_status cli_check_labels(const fm_loss *loss, int n_out, const fm_dataset *data, const char *path, fm_error *err)
{
    if (loss->kind == FM_LOSS_BCE)
        return cli_check_bce_targets(data, path, err);
    if (loss->kind != FM_LOSS_CROSS_ENTROPY)
        return FM_OK;
    long classes = 0;
    fm_status st = cli_count_classes(data, path, &classes, err);
    if (st == FM_OK && classes > n_out)
        st = fm_error_set(err, FM_ERR_FORMAT, "%s: column \"%s\": class label %ld, but the network has %d classes "
                          "(0..%d)", path, data->out_names ? data->out_names[0] : "1", classes - 1, n_out, n_out - 1);
    return st;
}

fm_status cli_check_bce_targets(const fm_dataset *ds, const char *path, fm_error *err)
{
    size_t count = ds->rows * (size_t)ds->n_out;
    for (size_t i = 0; i < count; i++)
        if (!(ds->y[i] >= 0.0f && ds->y[i] <= 1.0f)) {
            int col = (int)(i % (size_t)ds->n_out);
            return fm_error_set(err, FM_ERR_FORMAT,
                                "%s: column \"%s\": bce target %g (row %zu of the rows read) is outside [0, 1]", path,
                                ds->out_names ? ds->out_names[col] : "?", (double)ds->y[i], i / (size_t)ds->n_out + 1);
        }
    return FM_OK;
}

fm_status cli_print_evaluation(fm_model *model, fm_dataset *data, const char *label, fm_error *err)
{
    fm_net *net = model->net;
    int n_out = fm_net_n_out(net);
    if (model->loss.kind == FM_LOSS_CROSS_ENTROPY || model->loss.kind == FM_LOSS_BCE) {
        double loss, accuracy;
        /* Labels are data: a bad one is the file's fault (exit 4), named there. */
        fm_status st = cli_check_labels(&model->loss, n_out, data, label, err);
        if (st == FM_OK)
            st = fm_evaluate(net, &model->loss, data, &loss, &accuracy, err);
        if (st != FM_OK)
            return st;
        printf("%s: %zu samples, loss %.6g, accuracy %.4f\n", label, data->rows, loss, accuracy);
        return FM_OK;
    }
    /* Regression: the loss in the standardised units the network was trained
     * in, then RMSE per target in original units beside predicting the mean. */
    size_t count = data->rows * (size_t)n_out;
    if (count / (size_t)n_out != data->rows)
        return fm_error_set(err, FM_ERR_NOMEM, "too many predictions");
    float *pred = malloc(count * sizeof *pred);
    float *scaled_targets = malloc(count * sizeof *scaled_targets);
    if (!pred || !scaled_targets) {
        free(pred);
        free(scaled_targets);
        return fm_error_set(err, FM_ERR_NOMEM, "cannot allocate predictions");
    }
    memcpy(scaled_targets, data->y, count * sizeof *scaled_targets);
    if (model->target_std)
        fm_standardize(model->target_std, scaled_targets, data->rows);
    fm_dataset scaled = *data;
    scaled.y = scaled_targets;
    double loss, scaled_rmse;
    fm_status st = fm_evaluate(net, &model->loss, &scaled, &loss, &scaled_rmse, err);
    free(scaled_targets);
    if (st == FM_OK)
        st = fm_net_predict(net, data->x, data->rows, pred, err);
    if (st != FM_OK) {
        free(pred);
        return st;
    }
    if (model->target_std)
        fm_unstandardize(model->target_std, pred, data->rows);
    printf("%s: %zu samples, loss %.6g (standardised units)\n", label, data->rows, loss);
    for (int o = 0; o < n_out; o++) {
        double sq = 0.0, sq_mean = 0.0, mean = model->target_std ? model->target_std->mean[o] : 0.0;
        for (size_t r = 0; r < data->rows; r++) {
            double y = data->y[r * (size_t)n_out + (size_t)o];
            double d = pred[r * (size_t)n_out + (size_t)o] - y;
            sq += d * d;
            sq_mean += (mean - y) * (mean - y);
        }
        const char *name = model->out_names && o < model->n_target_names ? model->out_names[o] : "output";
        printf("  %-16s RMSE %.6g   (predicting the training mean: %.6g)\n", name, sqrt(sq / (double)data->rows),
               sqrt(sq_mean / (double)data->rows));
    }
    free(pred);
    return FM_OK;
}

/* The network's layer list: hidden layers from --layers/--act/--init and the
 * output layer sized by the targets, with per-layer overrides applied. */
fm_status cli_build_specs(const cli_net_options *a, const fm_loss *loss, int n_out, fm_layer_spec **specs_out,
                             int *n_layers_out, fm_error *err)
{
    int widths[FM_MAX_LAYERS];
    int hidden = cli_parse_widths(a->layers ? a->layers : "64,64", widths, FM_MAX_LAYERS - 1);
    if (hidden < 0)
        return fm_error_set(err, FM_ERR_ARG, "--layers \"%s\" must be widths like 64,64 or 256x8", a->layers);
    int n_layers = hidden + 1;
    fm_layer_spec *specs = calloc((size_t)n_layers, sizeof *specs);
    if (!specs)
        return fm_error_set(err, FM_ERR_NOMEM, "cannot allocate layer list");
    fm_activation hidden_act = fm_activation_default(FM_ACT_RELU), output_act = fm_activation_default(FM_ACT_LINEAR);
    fm_init init = {FM_INIT_AUTO, 0, 0.0};
    fm_status st = fm_activation_parse(a->act ? a->act : "relu", &hidden_act, err);
    if (st == FM_OK)
        st = fm_init_parse(a->init ? a->init : "auto", &init, err);
    if (st == FM_OK) {
        const char *out_name = a->output_act ? a->output_act
                               : loss->kind == FM_LOSS_CROSS_ENTROPY ? "softmax"
                               : loss->kind == FM_LOSS_BCE           ? "sigmoid"
                                                                     : "linear";
        st = fm_activation_parse(out_name, &output_act, err);
    }
    if (st == FM_OK && hidden_act.kind == FM_ACT_SOFTMAX)
        st = fm_error_set(err, FM_ERR_ARG, "softmax is only allowed on the output layer");
    if (st == FM_OK)
        st = fm_loss_check(loss, &output_act, err);
    for (int l = 0; st == FM_OK && l < n_layers; l++) {
        specs[l].n_out = l < hidden ? widths[l] : n_out;
        specs[l].act = l < hidden ? hidden_act : output_act;
        specs[l].init = init;
        specs[l].dropout = l < hidden ? a->dropout : 0.0;
    }
    for (int i = 0; st == FM_OK && i < a->n_act_overrides; i++) {
        if (a->act_at[i] > n_layers)
            st = fm_error_set(err, FM_ERR_ARG, "--act-at %d: the network has %d layers", a->act_at[i], n_layers);
        else
            st = fm_activation_parse(a->act_spec[i], &specs[a->act_at[i] - 1].act, err);
    }
    /* An override of the output activation must still fit the loss. */
    if (st == FM_OK && a->n_act_overrides)
        st = fm_loss_check(loss, &specs[n_layers - 1].act, err);
    for (int i = 0; st == FM_OK && i < a->n_init_overrides; i++) {
        if (a->init_at[i] > n_layers)
            st = fm_error_set(err, FM_ERR_ARG, "--init-at %d: the network has %d layers", a->init_at[i], n_layers);
        else
            st = fm_init_parse(a->init_spec[i], &specs[a->init_at[i] - 1].init, err);
    }
    if (st != FM_OK) {
        free(specs);
        return st;
    }
    *specs_out = specs;
    *n_layers_out = n_layers;
    return FM_OK;
}

/* Largest class label + 1, after checking every label is a non-negative integer. */
fm_status cli_count_classes(const fm_dataset *ds, const char *path, long *classes, fm_error *err)
{
    double max = -1;
    const char *column = ds->out_names ? ds->out_names[0] : "1";
    for (size_t r = 0; r < ds->rows; r++) {
        float y = ds->y[r];
        if (!(y >= 0.0f) || y != floorf(y))
            return fm_error_set(err, FM_ERR_FORMAT,
                                "%s: column \"%s\": class label %g (row %zu of the rows read) is not a non-negative "
                                "integer",
                                path, column, (double)y, r + 1);
        if (y >= FM_MAX_WIDTH)
            return fm_error_set(err, FM_ERR_FORMAT,
                                "%s: column \"%s\": class label %g (row %zu of the rows read) would need more than "
                                "%d output units",
                                path, column, (double)y, r + 1, FM_MAX_WIDTH);
        if (y > max)
            max = y;
    }
    *classes = (long)max + 1;
    return FM_OK;
}

int cli_getopt_error(const char *command, char **argv)
{
    if (optopt && optopt < 256)
        return cli_usage_error(command, "unknown option -%c", optopt);
    if (optopt)
        return cli_usage_error(command, "option %s needs a value", argv[optind - 1]);
    return cli_usage_error(command, "unknown option %s", argv[optind - 1]);
}

fm_status cli_check_loss_matches(const char *spec, const fm_loss *model_loss, fm_error *err)
{
    fm_loss wanted;
    fm_status st = fm_loss_parse(spec, &wanted, err);
    if (st != FM_OK)
        return st;
    char have[64], want[64];
    fm_loss_format(model_loss, have, sizeof have);
    fm_loss_format(&wanted, want, sizeof want);
    if (wanted.kind != model_loss->kind || strcmp(have, want) != 0) /* huber's delta included */
        return fm_error_set(err, FM_ERR_ARG, "--loss %s differs from the model's loss %s", want, have);
    return FM_OK;
}
