#include "cli.h"

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

int cli_usage_error(const char *command, const char *fmt, ...)
{
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
    st = fm_data_read(path, with_targets ? target_path : NULL, &opts, out, err);
    free(input_spec);
    free(target_spec);
    if (st != FM_OK)
        return st;
    fm_dataset *ds = *out;
    if (ds->n_in != n_in) {
        fm_dataset_free(ds);
        *out = NULL;
        return fm_error_set(err, FM_ERR_ARG, "%s: %d input columns selected but the model takes %d", path, ds->n_in, n_in);
    }
    return FM_OK;
}

fm_status cli_print_evaluation(fm_model *model, fm_dataset *data, const char *label, fm_error *err)
{
    fm_net *net = model->net;
    int n_out = fm_net_n_out(net);
    if (model->loss.kind == FM_LOSS_CROSS_ENTROPY || model->loss.kind == FM_LOSS_BCE) {
        double loss, accuracy;
        fm_status st = fm_evaluate(net, &model->loss, data, &loss, &accuracy, err);
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
