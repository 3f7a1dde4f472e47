/* fathom predict: apply a model to data and write the outputs in the targets'
 * original units (or class probabilities and the predicted class). */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const COMMAND = "predict";

static void usage(FILE *out)
{
    fprintf(out, "usage: fathom predict --model MODEL --data FILE --out FILE.csv|.npy|.nc|.sgy [options]\n"
                 "\n"
                 "  --model FILE      model written by fathom train\n"
                 "  --data FILE       inputs: CSV (columns found by the model's input names), NPY, IDX,\n"
                 "                    NetCDF (the model's target variable gives the grid) or SEG-Y;\n"
                 "                    FILE#SPLIT:test keeps one part of a split (e.g. grid.nc#lonband:test)\n"
                 "  --inputs COLS     input columns or encoding, when they differ from the model's\n"
                 "  --out FILE        predictions: CSV (with header) or NPY (float32), chosen by extension;\n"
                 "                    .nc from NetCDF data: the same grid with VAR_prediction and\n"
                 "                    VAR_residual (prediction - truth), fill values elsewhere;\n"
                 "                    .sgy from SEG-Y data: predicted traces of the same geometry\n"
                 "                    under the input's headers (IEEE float)\n"
                 "  --skip-bad-rows   skip rows with missing values instead of failing (they get no prediction)\n"
                 "  --threads N       BLAS threads\n"
                 "  --help            this text\n"
                 "\n"
                 "Regression outputs are in the targets' original units. Classification writes the\n"
                 "predicted class followed by one probability per class.\n");
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Predictions of a SEG-Y input as traces of the same geometry (first output;
 * samples without a row are 0), each under its input trace's header, so that
 * coordinates, line numbers and scalars stay with the trace they describe. */
static fm_status write_segy(const char *data_path, const char *out_path, const fm_dataset *data, const float *pred,
                            int n_out, fm_error *err)
{
    char *file = cli_data_file(data_path);
    float *traces = NULL;
    size_t n_traces = 0;
    int n_samples = 0, interval = 0;
    if (!file) {
        fm_error_set(err, FM_ERR_NOMEM, "out of memory");
        return FM_ERR_NOMEM;
    }
    fm_status st = fm_segy_read_traces(file, &traces, &n_traces, &n_samples, &interval, err);
    if (st != FM_OK) {
        free(file);
        return st;
    }
    size_t cells = n_traces * (size_t)n_samples;
    memset(traces, 0, cells * sizeof *traces);
    for (size_t r = 0; r < data->rows && st == FM_OK; r++) {
        if (data->grid_index[r] >= cells)
            st = fm_error_set(err, FM_ERR_ARG, "%s: sample %zu lies outside the traces of %s", out_path, r, data_path);
        else
            traces[data->grid_index[r]] = pred[r * (size_t)n_out];
    }
    if (st == FM_OK)
        st = fm_segy_write_like(file, out_path, traces, n_traces, n_samples, err);
    free(file);
    free(traces);
    return st;
}

int cmd_predict(int argc, char **argv)
{
    static const struct option options[] = {
        {"model", required_argument, 0, 'm'}, {"data", required_argument, 0, 'd'},
        {"inputs", required_argument, 0, 'i'}, {"out", required_argument, 0, 'o'},
        {"skip-bad-rows", no_argument, 0, 's'}, {"threads", required_argument, 0, 't'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0},
    };
    const char *model_path = NULL, *data_path = NULL, *inputs = NULL, *out_path = NULL;
    int skip_bad = 0;
    long threads = 0;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'd': data_path = optarg; break;
        case 'i': inputs = optarg; break;
        case 'o': out_path = optarg; break;
        case 's': skip_bad = 1; break;
        case 't':
            if (!cli_parse_int(optarg, 1, 1024, &threads))
                return cli_usage_error(COMMAND, "--threads \"%s\" must be an integer in 1..1024", optarg);
            break;
        case 'h': usage(stdout); return EXIT_OK;
        default: return cli_usage_error(COMMAND, "unknown option or missing value: %s", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error(COMMAND, "unexpected argument \"%s\"", argv[optind]);
    if (!model_path || !data_path || !out_path)
        return cli_usage_error(COMMAND, "--model, --data and --out are required");
    int to_netcdf = ends_with(out_path, ".nc"), to_segy = ends_with(out_path, ".sgy") || ends_with(out_path, ".segy");
    if (!ends_with(out_path, ".csv") && !ends_with(out_path, ".npy") && !to_netcdf && !to_segy)
        return cli_usage_error(COMMAND, "--out \"%s\" must end in .csv, .npy, .nc or .sgy", out_path);
    if (to_netcdf && !cli_is_netcdf(data_path))
        return cli_usage_error(COMMAND, "--out %s: NetCDF output needs NetCDF --data (its grid is copied)", out_path);
    if (to_segy) {
        char *file = cli_data_file(data_path);
        int segy_data = file && (ends_with(file, ".sgy") || ends_with(file, ".segy"));
        free(file);
        if (!segy_data)
            return cli_usage_error(COMMAND, "--out %s: SEG-Y output needs SEG-Y --data (its traces are copied)",
                                   out_path);
    }
    cli_set_threads((int)threads);

    fm_error err = {FM_OK, ""};
    fm_model *model = NULL;
    fm_dataset *data = NULL;
    float *pred = NULL, *table = NULL;
    char **names = NULL;
    int cols = 0;
    const cli_path out_files[] = {{"--out", out_path}}, in_files[] = {{"--data", data_path}, {"--model", model_path}};
    fm_status st = cli_check_paths(out_files, 1, in_files, 2, &err);
    if (st == FM_OK)
        st = fm_model_load(model_path, &model, &err);
    if (st == FM_OK)
        st = cli_read_model_data(model, data_path, NULL, inputs, NULL, to_netcdf, skip_bad, &data, &err);
    if (st != FM_OK)
        goto done;
    if (data->skipped)
        fprintf(stderr, "fathom predict: skipped %zu bad rows of %s\n", data->skipped, data_path);
    if (model->input_std)
        fm_standardize(model->input_std, data->x, data->rows);
    int n_out = fm_net_n_out(model->net);
    pred = malloc(data->rows * (size_t)n_out * sizeof *pred);
    if (!pred) {
        st = fm_error_set(&err, FM_ERR_NOMEM, "cannot allocate %zu predictions", data->rows);
        goto done;
    }
    st = fm_net_predict(model->net, data->x, data->rows, pred, &err);
    if (st != FM_OK)
        goto done;
    int classification = model->loss.kind == FM_LOSS_CROSS_ENTROPY;
    cols = classification ? n_out + 1 : n_out;
    names = calloc((size_t)cols, sizeof *names);
    table = classification ? malloc(data->rows * (size_t)cols * sizeof *table) : pred;
    if (!names || !table) {
        st = fm_error_set(&err, FM_ERR_NOMEM, "cannot allocate the output table");
        goto done;
    }
    for (int j = 0; j < cols; j++) {
        char buf[256];
        if (classification)
            snprintf(buf, sizeof buf, j == 0 ? "class" : "p_%d", j - 1);
        else if (model->out_names && j < model->n_target_names)
            snprintf(buf, sizeof buf, "%s", model->out_names[j]);
        else
            snprintf(buf, sizeof buf, "output_%d", j);
        names[j] = malloc(strlen(buf) + 1);
        if (!names[j]) {
            st = fm_error_set(&err, FM_ERR_NOMEM, "cannot allocate column names");
            goto done;
        }
        strcpy(names[j], buf);
    }
    if (classification) {
        for (size_t r = 0; r < data->rows; r++) {
            const float *p = pred + r * (size_t)n_out;
            int best = 0;
            for (int k = 1; k < n_out; k++)
                if (p[k] > p[best])
                    best = k;
            table[r * (size_t)cols] = (float)best;
            memcpy(table + r * (size_t)cols + 1, p, (size_t)n_out * sizeof *p);
        }
    } else if (model->target_std) {
        fm_unstandardize(model->target_std, pred, data->rows);
    }
    cli_hold_signals();
    if ((to_netcdf || to_segy) && (classification || !data->grid_index)) {
        st = fm_error_set(&err, FM_ERR_ARG, "--out %s: gridded output needs regression and gridded (NetCDF or SEG-Y) data",
                          out_path);
    } else if (to_netcdf) {
        char *file = cli_data_file(data_path);
        const char *grid_var = model->out_names && model->n_target_names ? model->out_names[0] : NULL;
        if (!file || !grid_var)
            st = fm_error_set(&err, FM_ERR_ARG, "%s: the model names no target variable to take the grid from", model_path);
        else
            st = fm_netcdf_write_predictions(file, grid_var, out_path, data->grid_index, data->rows, n_out, names, table,
                                             data->y && data->n_out == n_out ? data->y : NULL, &err);
        free(file);
    } else if (to_segy) {
        st = write_segy(data_path, out_path, data, table, n_out, &err);
    } else if (ends_with(out_path, ".csv")) {
        st = fm_csv_write(out_path, table, data->rows, cols, names, &err);
    } else {
        st = fm_npy_write(out_path, table, data->rows, cols, &err);
    }
    cli_release_signals();
    if (st == FM_OK)
        printf("wrote %zu predictions to %s\n", data->rows, out_path);

done:;
    int rc = st == FM_OK ? EXIT_OK : cli_report(COMMAND, &err);
    if (names)
        for (int j = 0; j < cols; j++)
            free(names[j]);
    free(names);
    if (table != pred)
        free(table);
    free(pred);
    fm_dataset_free(data);
    fm_model_free(model);
    return rc;
}
