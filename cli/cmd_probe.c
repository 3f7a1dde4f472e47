/* fathom probe: one forward and one backward pass through an untrained (or a
 * saved) network, and per layer the statistics of the signal beside what
 * theory predicts. The table is what fathom exists for. */
#include "cli.h"
#include "probe_output.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const COMMAND = "probe";

static void usage(FILE *out)
{
    fprintf(out,
            "usage: fathom probe --layers SPEC [options]      (an untrained network)\n"
            "       fathom probe --model MODEL [options]      (a saved one)\n"
            "\n"
            "network (untrained):\n"
            "  --layers SPEC       widths of all layers: 512x64, or 256,128,10 (default 256x20)\n"
            "  --inputs N          input width (default: the first layer's width)\n"
            "  --act ACT           activation of every layer (default tanh)\n"
            "  --act-at L=ACT      activation of layer L (1-based), repeatable\n"
            "  --init INIT         initialiser (default auto); see fathom train --help\n"
            "  --weight-var V      shorthand for --init normal:V (the lecture's Var[W])\n"
            "  --bias-var V        biases drawn from N(0, V) (default 0)\n"
            "  --seed S            seed of weights, inputs and the output gradient (default 1)\n"
            "input:\n"
            "  --samples N         batch size (default 1024)\n"
            "  --input-mean M      synthetic inputs N(M, S^2) (default 0)\n"
            "  --input-std S       (default 1)\n"
            "  --data FILE         a real data set instead (CSV, NPY, IDX), standardised per column\n"
            "  --columns COLS      its input columns (default: all but --targets)\n"
            "  --targets COLS      start the backward pass from the loss against these columns\n"
            "  --loss LOSS         that loss (default: the model's, or mse)\n"
            "comparing configurations:\n"
            "  --compare ACT[/INIT]  probe this activation and initialiser instead of --act and\n"
            "                      --init, repeatable (up to 8): e.g. --compare sigmoid/normal:1\n"
            "                      --compare sigmoid/glorot --compare relu/he --compare selu/lecun;\n"
            "                      the rest (--layers, --samples, --seed, ...) is shared\n"
            "output:\n"
            "  --format FMT        table (default), csv or json (one record per layer; docs/theory.md);\n"
            "                      csv and json take one configuration\n"
            "  --plot FILE.svg     also draw Var[z] and Var[dL/dz] against depth for every\n"
            "                      configuration on one log-scale chart, theory dashed\n"
            "  --threads N         BLAS threads\n"
            "  --help              this text\n"
            "\n"
            "Without --targets the backward pass starts from a random N(0, 1) gradient at the\n"
            "output. Columns:\n"
            "Var[W] measured; mean and variance of z and a; Var z predicted by the lecture's\n"
            "product formula (lin) and by mean-field theory (mf); saturated share (|phi'| < 1%% of\n"
            "its maximum); dead ReLU units (z <= 0 on every sample) or inactive ones (leaky,\n"
            "ELU, SELU); Var[dL/dz] measured and predicted; ||dL/dW||; chi_1.\n");
}

/* Configurations on one chart: as many as the Okabe-Ito palette has colours. */
#define MAX_COMPARE 8

typedef struct probe_args {
    const char *layers, *act, *init, *model, *data, *columns, *targets, *loss, *format;
    double bias_var, input_mean, input_std, weight_var;
    int have_weight_var;
    long inputs, samples, threads;
    unsigned long long seed;
    int n_overrides;
    int act_at[64];
    const char *act_spec[64];
    const char *plot;
    int n_compare;
    const char *compare[MAX_COMPARE]; /* "ACT[/INIT]" */
} probe_args;

static int parse_args(int argc, char **argv, probe_args *a)
{
    enum { O_LAYERS = 256, O_INPUTS, O_ACT, O_ACT_AT, O_INIT, O_WVAR, O_BVAR, O_SEED, O_SAMPLES, O_IMEAN, O_ISTD,
           O_DATA, O_COLUMNS, O_MODEL, O_FORMAT, O_THREADS, O_HELP, O_TARGETS, O_LOSS, O_PLOT, O_COMPARE };
    static const struct option options[] = {
        {"layers", required_argument, 0, O_LAYERS},   {"inputs", required_argument, 0, O_INPUTS},
        {"act", required_argument, 0, O_ACT},         {"act-at", required_argument, 0, O_ACT_AT},
        {"init", required_argument, 0, O_INIT},       {"weight-var", required_argument, 0, O_WVAR},
        {"bias-var", required_argument, 0, O_BVAR},   {"seed", required_argument, 0, O_SEED},
        {"samples", required_argument, 0, O_SAMPLES}, {"input-mean", required_argument, 0, O_IMEAN},
        {"input-std", required_argument, 0, O_ISTD},  {"data", required_argument, 0, O_DATA},
        {"columns", required_argument, 0, O_COLUMNS}, {"model", required_argument, 0, O_MODEL},
        {"targets", required_argument, 0, O_TARGETS}, {"loss", required_argument, 0, O_LOSS},
        {"format", required_argument, 0, O_FORMAT},   {"threads", required_argument, 0, O_THREADS},
        {"plot", required_argument, 0, O_PLOT},       {"compare", required_argument, 0, O_COMPARE},
        {"help", no_argument, 0, O_HELP},             {0, 0, 0, 0},
    };
    memset(a, 0, sizeof *a);
    a->samples = 1024;
    a->input_std = 1.0;
    a->seed = 1;
    a->format = "table";
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case O_LAYERS: a->layers = optarg; break;
        case O_INPUTS:
            if (!cli_parse_int(optarg, 1, FM_MAX_WIDTH, &a->inputs))
                return cli_usage_error(COMMAND, "--inputs \"%s\" must be an integer in 1..%d", optarg, FM_MAX_WIDTH);
            break;
        case O_ACT: a->act = optarg; break;
        case O_ACT_AT:
            if (a->n_overrides >= 64 ||
                !cli_parse_override(optarg, &a->act_at[a->n_overrides], &a->act_spec[a->n_overrides]))
                return cli_usage_error(COMMAND, "--act-at \"%s\" must be LAYER=ACT, e.g. 3=tanh", optarg);
            a->n_overrides++;
            break;
        case O_INIT: a->init = optarg; break;
        case O_WVAR:
            if (!cli_parse_double(optarg, 0.0, 1e30, &a->weight_var))
                return cli_usage_error(COMMAND, "--weight-var \"%s\" must be a number in [0, 1e30]", optarg);
            a->have_weight_var = 1;
            break;
        case O_BVAR:
            if (!cli_parse_double(optarg, 0.0, 1e30, &a->bias_var))
                return cli_usage_error(COMMAND, "--bias-var \"%s\" must be a number in [0, 1e30]", optarg);
            break;
        case O_SEED:
            if (!cli_parse_seed(optarg, &a->seed))
                return cli_usage_error(COMMAND, "--seed \"%s\" must be an integer in 0..2^64-1", optarg);
            break;
        case O_SAMPLES:
            if (!cli_parse_int(optarg, 2, 1 << 22, &a->samples))
                return cli_usage_error(COMMAND, "--samples \"%s\" must be an integer in 2..%d", optarg, 1 << 22);
            break;
        case O_IMEAN:
            if (!cli_parse_double(optarg, -1e30, 1e30, &a->input_mean))
                return cli_usage_error(COMMAND, "--input-mean \"%s\" must be a number in [-1e30, 1e30]", optarg);
            break;
        case O_ISTD:
            if (!cli_parse_double(optarg, 0.0, 1e30, &a->input_std))
                return cli_usage_error(COMMAND, "--input-std \"%s\" must be a number in [0, 1e30]", optarg);
            break;
        case O_DATA: a->data = optarg; break;
        case O_COLUMNS: a->columns = optarg; break;
        case O_TARGETS: a->targets = optarg; break;
        case O_LOSS: a->loss = optarg; break;
        case O_MODEL: a->model = optarg; break;
        case O_FORMAT: a->format = optarg; break;
        case O_PLOT: a->plot = optarg; break;
        case O_COMPARE:
            if (a->n_compare >= MAX_COMPARE)
                return cli_usage_error(COMMAND, "at most %d --compare configurations", MAX_COMPARE);
            if (!*optarg || *optarg == '/')
                return cli_usage_error(COMMAND, "--compare \"%s\" must be ACT or ACT/INIT, e.g. tanh/glorot", optarg);
            a->compare[a->n_compare++] = optarg;
            break;
        case O_THREADS:
            if (!cli_parse_int(optarg, 1, 1024, &a->threads))
                return cli_usage_error(COMMAND, "--threads \"%s\" must be an integer in 1..1024", optarg);
            break;
        case 'h':
        case O_HELP: usage(stdout); return -1;
        default: return cli_usage_error(COMMAND, "unknown option or missing value: %s", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error(COMMAND, "unexpected argument \"%s\"", argv[optind]);
    if (strcmp(a->format, "table") != 0 && strcmp(a->format, "csv") != 0 && strcmp(a->format, "json") != 0)
        return cli_usage_error(COMMAND, "--format \"%s\" must be table, csv or json", a->format);
    if (a->model && (a->layers || a->act || a->init || a->have_weight_var || a->n_overrides || a->inputs))
        return cli_usage_error(COMMAND, "--model takes the network from the file; drop --layers, --act, --init");
    if (a->init && a->have_weight_var)
        return cli_usage_error(COMMAND, "give either --init or --weight-var, not both");
    if ((a->targets || a->loss) && !a->data)
        return cli_usage_error(COMMAND, "--targets and --loss need --data");
    if (a->n_compare && a->model)
        return cli_usage_error(COMMAND, "--compare builds untrained networks; it does not go with --model");
    if (a->n_compare > 1 && strcmp(a->format, "table") != 0)
        return cli_usage_error(COMMAND, "several --compare configurations print as tables only (use --plot)");
    if (a->loss && !a->targets)
        return cli_usage_error(COMMAND, "--loss needs --targets (the backward pass starts from the loss)");
    return 0;
}

/* Every layer from --layers, with --act, --init/--weight-var and overrides. */
static fm_status build_net(const probe_args *a, fm_net **net, fm_error *err)
{
    int *widths = malloc(sizeof(int) * FM_MAX_LAYERS);
    fm_layer_spec *specs = NULL;
    fm_status st = FM_OK;
    if (!widths)
        return fm_error_set(err, FM_ERR_NOMEM, "out of memory");
    int n_layers = cli_parse_widths(a->layers ? a->layers : "256x20", widths, FM_MAX_LAYERS);
    if (n_layers <= 0) {
        st = fm_error_set(err, FM_ERR_ARG, "--layers \"%s\" must be widths like 512x64 or 256,128,10", a->layers);
        goto done;
    }
    specs = calloc((size_t)n_layers, sizeof *specs);
    if (!specs) {
        st = fm_error_set(err, FM_ERR_NOMEM, "out of memory");
        goto done;
    }
    fm_activation act = fm_activation_default(FM_ACT_TANH);
    fm_init init = {FM_INIT_AUTO, 0, 0.0};
    char init_text[64];
    if (a->have_weight_var)
        snprintf(init_text, sizeof init_text, "normal:%.17g", a->weight_var);
    else
        snprintf(init_text, sizeof init_text, "%s", a->init ? a->init : "auto");
    st = fm_activation_parse(a->act ? a->act : "tanh", &act, err);
    if (st == FM_OK)
        st = fm_init_parse(init_text, &init, err);
    if (st == FM_OK && act.kind == FM_ACT_SOFTMAX && n_layers > 1)
        st = fm_error_set(err, FM_ERR_ARG, "softmax is only allowed on the output layer (use --act-at)");
    for (int l = 0; st == FM_OK && l < n_layers; l++) {
        specs[l].n_out = widths[l];
        specs[l].act = act;
        specs[l].init = init;
    }
    for (int i = 0; st == FM_OK && i < a->n_overrides; i++) {
        if (a->act_at[i] > n_layers)
            st = fm_error_set(err, FM_ERR_ARG, "--act-at %d: the network has %d layers", a->act_at[i], n_layers);
        else
            st = fm_activation_parse(a->act_spec[i], &specs[a->act_at[i] - 1].act, err);
    }
    if (st == FM_OK)
        st = fm_net_create(a->inputs ? (int)a->inputs : widths[0], specs, n_layers, a->seed, net, err);
    if (st == FM_OK && a->bias_var > 0.0) {
        fm_rng rng;
        fm_rng_seed(&rng, a->seed ^ 0xB1A5B1A5ull);
        double sd = sqrt(a->bias_var);
        for (int l = 0; l < n_layers; l++)
            for (int o = 0; o < widths[l]; o++)
                fm_net_bias(*net, l)[o] = (float)(sd * fm_rng_normal(&rng));
    }
done:
    free(widths);
    free(specs);
    return st;
}

/* Standardise data in place: with the model's statistics, or fitted here. */
static fm_status standardise(const fm_standardizer *known, float *data, size_t rows, int n, fm_error *err)
{
    if (known) {
        fm_standardize(known, data, rows);
        return FM_OK;
    }
    fm_standardizer *s = NULL;
    fm_status st = fm_standardizer_fit(data, rows, n, &s, err);
    if (st == FM_OK)
        fm_standardize(s, data, rows);
    fm_standardizer_free(s);
    return st;
}

/* Take `batch` evenly spaced rows [rows][n] (not just the first ones). */
static float *sample_rows(const float *data, size_t rows, int n, int batch)
{
    float *out = malloc((size_t)batch * (size_t)n * sizeof *out);
    if (!out)
        return NULL;
    for (int r = 0; r < batch; r++) {
        size_t row = (size_t)((double)r * (double)rows / batch);
        memcpy(out + (size_t)r * (size_t)n, data + row * (size_t)n, (size_t)n * sizeof *out);
    }
    return out;
}

/* Inputs (and with --targets, targets): a standardised sample of a data set,
 * or N(mean, std^2). Regression targets are standardised like the inputs;
 * class labels stay as they are. */
static fm_status make_inputs(const probe_args *a, const fm_model *model, const fm_loss *loss, int n_in, int n_out,
                             float **x_out, float **y_out, int *batch_out, fm_error *err)
{
    *x_out = *y_out = NULL;
    if (a->data) {
        fm_read_options opts = {a->columns, a->targets, 1};
        fm_dataset *ds = NULL;
        fm_status st = model ? cli_read_model_data(model, a->data, NULL, a->columns, a->targets, a->targets != NULL,
                                                   1, &ds, err)
                             : fm_data_read(a->data, NULL, &opts, &ds, err);
        if (st != FM_OK)
            return st;
        int batch = (int)(ds->rows < (size_t)a->samples ? ds->rows : (size_t)a->samples);
        int regression = loss && loss->kind != FM_LOSS_CROSS_ENTROPY && loss->kind != FM_LOSS_BCE;
        if (ds->n_in != n_in)
            st = fm_error_set(err, FM_ERR_ARG, "%s has %d input columns; the network takes %d", a->data, ds->n_in,
                              n_in);
        else if (loss && ds->n_out != fm_loss_target_width(loss, n_out))
            st = fm_error_set(err, FM_ERR_ARG, "%s: %d target column%s (--targets %s) for a network with %d output%s",
                              a->data, ds->n_out, ds->n_out == 1 ? "" : "s", a->targets, n_out, n_out == 1 ? "" : "s");
        else if (loss)
            st = cli_check_labels(loss, n_out, ds, a->data, err);
        if (st == FM_OK && ds->skipped > 0) /* rows with missing or non-numeric values are left out, and said so */
            fprintf(stderr, "fathom probe: %s: %zu row%s with missing or non-numeric values left out\n", a->data,
                    ds->skipped, ds->skipped == 1 ? "" : "s");
        if (st == FM_OK)
            st = standardise(model ? model->input_std : NULL, ds->x, ds->rows, ds->n_in, err);
        if (st == FM_OK && loss && regression && (!model || model->target_std))
            st = standardise(model ? model->target_std : NULL, ds->y, ds->rows, ds->n_out, err);
        if (st == FM_OK) {
            *x_out = sample_rows(ds->x, ds->rows, n_in, batch);
            if (loss)
                *y_out = sample_rows(ds->y, ds->rows, ds->n_out, batch);
            if (!*x_out || (loss && !*y_out))
                st = fm_error_set(err, FM_ERR_NOMEM, "out of memory");
        }
        fm_dataset_free(ds);
        *batch_out = batch;
        return st;
    }
    size_t count = (size_t)a->samples * (size_t)n_in;
    float *x = malloc(count * sizeof *x);
    if (!x)
        return fm_error_set(err, FM_ERR_NOMEM, "cannot allocate %ld x %d inputs", a->samples, n_in);
    fm_rng rng;
    fm_rng_seed(&rng, a->seed ^ 0x1A7A1A7Aull);
    fm_rng_normal_fill(&rng, x, count, a->input_mean, a->input_std);
    *x_out = x;
    *batch_out = (int)a->samples;
    return FM_OK;
}

/* Probe one configuration: build (or load) the network, probe it, print its
 * statistics, and hand them back in *stats_out (n_layers entries; the
 * caller frees) when stats_out is not NULL. */
static fm_status probe_one(const probe_args *a, fm_layer_stats **stats_out, int *n_layers_out, fm_error *err)
{
    fm_model *model = NULL;
    fm_net *own = NULL, *net;
    float *x = NULL, *y = NULL;
    fm_layer_stats *stats = NULL;
    int batch = 0;
    fm_loss loss = {FM_LOSS_MSE, 1.0};
    double loss_value = NAN;
    fm_status st = a->model ? fm_model_load(a->model, &model, err) : build_net(a, &own, err);
    if (st != FM_OK)
        goto done;
    net = model ? model->net : own;
    if (a->targets) {
        if (a->loss)
            st = fm_loss_parse(a->loss, &loss, err);
        else if (model)
            loss = model->loss;
        if (st == FM_OK)
            st = fm_loss_check(&loss, &fm_net_layer(net, fm_net_n_layers(net) - 1)->act, err);
        if (st != FM_OK)
            goto done;
    }
    st = make_inputs(a, model, a->targets ? &loss : NULL, fm_net_n_in(net), fm_net_n_out(net), &x, &y, &batch, err);
    if (st != FM_OK)
        goto done;
    stats = calloc((size_t)fm_net_n_layers(net), sizeof *stats);
    if (!stats) {
        st = fm_error_set(err, FM_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (a->targets)
        st = fm_probe_with_loss(net, x, batch, &loss, y, &loss_value, stats, err);
    else
        st = fm_probe(net, x, batch, NULL, a->seed ^ 0x9AD1E47ull, stats, err);
    if (st != FM_OK)
        goto done;
    probe_print(stdout, a->format, net, stats, batch, isatty(STDOUT_FILENO));
    if (a->targets && strcmp(a->format, "table") == 0) {
        char loss_text[64];
        fm_loss_format(&loss, loss_text, sizeof loss_text);
        printf("Backward pass from the %s loss against %s: %.6g.\n", loss_text, a->targets, loss_value);
    }
    if (stats_out) {
        *stats_out = stats;
        *n_layers_out = fm_net_n_layers(net);
        stats = NULL;
    }

done:
    free(stats);
    free(x);
    free(y);
    fm_net_free(own);
    fm_model_free(model);
    return st;
}

/* The legend label of a configuration: "tanh / glorot", "relu / auto". */
static void config_label(const probe_args *a, char *buf, size_t size)
{
    if (a->model) {
        snprintf(buf, size, "%s", a->model);
        return;
    }
    char init[64];
    if (a->have_weight_var)
        snprintf(init, sizeof init, "normal:%g", a->weight_var);
    else
        snprintf(init, sizeof init, "%s", a->init ? a->init : "auto");
    snprintf(buf, size, "%s / %s", a->act ? a->act : "tanh", init);
}

int cmd_probe(int argc, char **argv)
{
    probe_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc != 0)
        return rc < 0 ? EXIT_OK : rc;
    cli_set_threads((int)a.threads);
    fm_error err = {FM_OK, ""};
    int n_configs = a.n_compare ? a.n_compare : 1;
    fm_layer_stats *stats[MAX_COMPARE] = {0};
    int n_layers[MAX_COMPARE] = {0};
    char labels[MAX_COMPARE][160];
    char act_text[MAX_COMPARE][128];
    const cli_path out_files[] = {{"--plot", a.plot}}, in_files[] = {{"--data", a.data}, {"--model", a.model}};
    fm_status st = cli_check_paths(out_files, 1, in_files, 2, &err);
    for (int i = 0; i < n_configs && st == FM_OK; i++) {
        probe_args one = a;
        if (a.n_compare) {
            /* ACT[/INIT]: the part after the slash replaces --init (and --weight-var). */
            snprintf(act_text[i], sizeof act_text[i], "%s", a.compare[i]);
            char *slash = strchr(act_text[i], '/');
            one.act = act_text[i];
            if (slash) {
                *slash = 0;
                one.init = slash + 1;
                one.have_weight_var = 0;
            }
        }
        config_label(&one, labels[i], sizeof labels[i]);
        if (n_configs > 1) {
            printf("%s== %s ==\n", i ? "\n" : "", labels[i]);
            fflush(stdout);
        }
        st = probe_one(&one, a.plot ? &stats[i] : NULL, &n_layers[i], &err);
    }
    if (st == FM_OK && a.plot) {
        fm_depth_curve curves[MAX_COMPARE];
        for (int i = 0; i < n_configs; i++)
            curves[i] = (fm_depth_curve){labels[i], stats[i], n_layers[i]};
        char title[200];
        snprintf(title, sizeof title, "Signal propagation at initialisation: %d layers, %ld samples%s",
                 n_layers[0], a.data ? a.samples : a.samples, a.data ? " of the data" : " of N(0, 1) inputs");
        st = fm_plot_depth_svg(a.plot, title, curves, n_configs, &err);
        if (st == FM_OK)
            fprintf(stderr, "plot written to %s\n", a.plot);
    }
    rc = st == FM_OK ? EXIT_OK : cli_report(COMMAND, &err);
    for (int i = 0; i < n_configs; i++)
        free(stats[i]);
    return rc;
}
