/* fathom eval: loss and RMSE (per target, original units) or accuracy of a model. */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>

static const char *const COMMAND = "eval";

static void usage(FILE *out)
{
    fprintf(out, "usage: fathom eval --model MODEL --data FILE [options]\n"
                 "\n"
                 "  --model FILE        model written by fathom train\n"
                 "  --data FILE         data with targets: CSV (columns found by the model's names), NPY, IDX,\n"
                 "                      NetCDF or SEG-Y; FILE#SPLIT:test evaluates one part of a split\n"
                 "                      (e.g. levitus_climatology.cdf#lonband:test)\n"
                 "  --target-data FILE  targets from a second file (IDX labels, y.npy)\n"
                 "  --inputs COLS       input columns or encoding, when they differ from the model's (by default\n"
                 "                      the model's stored encoding or input names)\n"
                 "  --targets COLS      target columns, likewise\n"
                 "  --skip-bad-rows     skip rows with missing values instead of failing\n"
                 "  --threads N         BLAS threads\n"
                 "  --help              this text\n");
}

int cmd_eval(int argc, char **argv)
{
    static const struct option options[] = {
        {"model", required_argument, 0, 'm'},   {"data", required_argument, 0, 'd'},
        {"target-data", required_argument, 0, 'y'}, {"inputs", required_argument, 0, 'i'},
        {"targets", required_argument, 0, 'g'}, {"skip-bad-rows", no_argument, 0, 's'},
        {"threads", required_argument, 0, 't'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *model_path = NULL, *data_path = NULL, *target_path = NULL, *inputs = NULL, *targets = NULL;
    int skip_bad = 0;
    long threads = 0;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'd': data_path = optarg; break;
        case 'y': target_path = optarg; break;
        case 'i': inputs = optarg; break;
        case 'g': targets = optarg; break;
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
    if (!model_path || !data_path)
        return cli_usage_error(COMMAND, "--model and --data are required");
    if (target_path && targets)
        return cli_usage_error(COMMAND, "give either --targets or --target-data, not both");
    cli_set_threads((int)threads);

    fm_error err = {FM_OK, ""};
    fm_model *model = NULL;
    fm_dataset *data = NULL;
    fm_status st = fm_model_load(model_path, &model, &err);
    if (st == FM_OK)
        st = cli_read_model_data(model, data_path, target_path, inputs, targets, 1, skip_bad, &data, &err);
    if (st == FM_OK && (!data->y || data->n_out == 0))
        st = fm_error_set(&err, FM_ERR_ARG, "%s: no target columns found (give --targets or --target-data)", data_path);
    if (st == FM_OK) {
        if (data->skipped)
            fprintf(stderr, "fathom eval: skipped %zu bad rows of %s\n", data->skipped, data_path);
        if (model->input_std)
            fm_standardize(model->input_std, data->x, data->rows);
        st = cli_print_evaluation(model, data, data_path, &err);
    }
    int rc = st == FM_OK ? EXIT_OK : cli_report(COMMAND, &err);
    fm_dataset_free(data);
    fm_model_free(model);
    return rc;
}
