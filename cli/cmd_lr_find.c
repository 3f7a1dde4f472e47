/* fathom lr-find: the learning-rate range test (Smith 2017; fastai's
 * lr_find). A fresh network (or a saved model's) takes a few hundred steps
 * with the learning rate growing exponentially; the smoothed loss against the
 * rate shows where training is fastest and where it blows up. The data,
 * network and optimiser options are those of fathom train. */
#include "cli.h"
#include "model_options.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const COMMAND = "lr-find";

static void usage(FILE *out)
{
    fprintf(out,
            "usage: fathom lr-find --data FILE [options]\n"
            "\n"
            "A learning-rate range test: --steps optimiser steps on shuffled mini-batches with the\n"
            "learning rate growing exponentially from --lr-min to --lr-max, recording the loss and its\n"
            "smoothed value (moving average, beta 0.98, bias-corrected); stops once the smoothed loss\n"
            "exceeds 4 times its minimum or stops being finite. Suggests the rate where the smoothed\n"
            "loss falls fastest against log lr, and reports the rate at its minimum / 10.\n"
            "\n"
            "data (as fathom train; standardised on all rows):\n"
            "  --data FILE            .csv (with header), .npy (2-D), IDX (-ubyte[.gz])\n"
            "  --target-data FILE     targets from a second file\n"
            "  --inputs COLS          input columns (default: all but targets)\n"
            "  --targets COLS         target columns or the class-label column\n"
            "  --skip-bad-rows        skip rows with missing or non-numeric values\n"
            "  --classes N            number of classes for cross_entropy (default: largest label + 1)\n"
            "network:\n"
            "  --layers SPEC          hidden widths: 64,64 (default) or 256x8\n"
            "  --act ACT              hidden activation (default relu)\n"
            "  --init INIT            initialiser (default auto)\n"
            "  --output-act ACT       output activation (default by the loss)\n"
            "  --from MODEL           start from a saved model (its architecture, weights and standardisation)\n"
            "optimiser:\n"
            "  --loss LOSS            mse (default), huber[:DELTA], cross_entropy, bce\n"
            "  --optimizer OPT        sgd (default), adam, adamw\n"
            "  --momentum M           SGD momentum (default 0)    --nesterov\n"
            "  --weight-decay W       L2 (sgd, adam) or decoupled (adamw)\n"
            "  --clip-norm N          clip the global gradient norm to N\n"
            "  --batch B              mini-batch size (default 32)\n"
            "  --seed S               seed for weights and shuffling (default 1)\n"
            "  --threads N            BLAS threads\n"
            "range test:\n"
            "  --steps N              steps at most (default 200, at least 10)\n"
            "  --lr-min LR            first learning rate (default 1e-6)\n"
            "  --lr-max LR            last learning rate (default 10)\n"
            "  --out FILE.csv         every step: step,lr,loss,smoothed_loss\n"
            "  --help                 this text\n");
}

typedef struct lr_args {
    cli_model_args common; /* data, network and optimiser, as fathom train */
    const char *out;
    double lr_min, lr_max;
    long steps;
} lr_args;

static int parse_args(int argc, char **argv, lr_args *a)
{
    enum { O_STEPS = CLI_MODEL_OPTION_END, O_LR_MIN, O_LR_MAX, O_OUT, O_HELP };
    static const struct option options[] = {
        CLI_MODEL_OPTIONS,
        {"steps", required_argument, 0, O_STEPS},
        {"lr-min", required_argument, 0, O_LR_MIN},
        {"lr-max", required_argument, 0, O_LR_MAX},
        {"out", required_argument, 0, O_OUT},
        {"help", no_argument, 0, O_HELP},
        {0, 0, 0, 0},
    };
    memset(a, 0, sizeof *a);
    cli_model_args_init(&a->common);
    a->steps = 200;
    a->lr_min = 1e-6;
    a->lr_max = 10.0;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        int shared_rc;
        if (cli_model_option(COMMAND, c, optarg, &a->common, &shared_rc)) {
            if (shared_rc != 0)
                return shared_rc;
            continue;
        }
        switch (c) {
        case O_STEPS:
            if (!cli_parse_int(optarg, 10, 10000000, &a->steps))
                return cli_usage_error(COMMAND, "--steps \"%s\" must be an integer in 10..10000000", optarg);
            break;
        case O_LR_MIN:
        case O_LR_MAX: {
            double *lr = c == O_LR_MIN ? &a->lr_min : &a->lr_max;
            if (!cli_parse_double(optarg, 1e-30, 1e6, lr)) /* the range train takes for --lr */
                return cli_usage_error(COMMAND, "--%s \"%s\" must be a number in [1e-30, 1e6]",
                                       c == O_LR_MIN ? "lr-min" : "lr-max", optarg);
            break;
        }
        case O_OUT: a->out = optarg; break;
        case 'h':
        case O_HELP: usage(stdout); return -1;
        default: return cli_getopt_error(COMMAND, argv);
        }
    }
    if (optind < argc)
        return cli_usage_error(COMMAND, "unexpected argument \"%s\"", argv[optind]);
    if (!a->common.data)
        return cli_usage_error(COMMAND, "--data is required");
    if (!(a->lr_min < a->lr_max))
        return cli_usage_error(COMMAND, "--lr-min %g must be below --lr-max %g", a->lr_min, a->lr_max);
    if (a->common.from && (a->common.layers || a->common.act || a->common.init || a->common.output_act))
        return cli_usage_error(COMMAND, "--from takes the architecture from the model; drop --layers, --act, --init");
    if (a->common.target_data && a->common.targets)
        return cli_usage_error(COMMAND, "give either --targets or --target-data, not both");
    if (a->out) {
        size_t n = strlen(a->out);
        if (n < 4 || strcmp(a->out + n - 4, ".csv") != 0)
            return cli_usage_error(COMMAND, "--out \"%s\" must name a .csv file", a->out);
    }
    return 0;
}

static fm_status write_csv(const char *path, const double *lrs, const double *losses, const double *smoothed, int n,
                           fm_error *err)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return cli_fail_io(err, path, errno);
    fprintf(f, "step,lr,loss,smoothed_loss\n");
    for (int i = 0; i < n; i++)
        fprintf(f, "%d,%.9g,%.9g,%.9g\n", i + 1, lrs[i], losses[i], smoothed[i]);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad)
        return fm_error_set(err, FM_ERR_IO, "cannot write %s", path);
    return FM_OK;
}

/* About 20 log-spaced rows (evenly spaced steps, since lr is exponential in
 * the step) plus the suggestion and the minimum, with a bar for the smoothed loss. */
static void print_table(const double *lrs, const double *smoothed, int n, const fm_lr_find_result *res)
{
    enum { ROWS = 20, BAR = 40 };
    int picks[ROWS + 2], count = 0;
    for (int k = 0; k < ROWS && k < n; k++) {
        int idx = n <= ROWS ? k : (int)lround((double)k * (n - 1) / (ROWS - 1));
        if (count == 0 || picks[count - 1] != idx)
            picks[count++] = idx;
    }
    int extra[2] = {res->suggested_index, res->min_index};
    for (int e = 0; e < 2; e++) {
        int idx = extra[e];
        if (idx < 0 || idx >= n)
            continue;
        int pos = 0;
        while (pos < count && picks[pos] < idx)
            pos++;
        if (pos < count && picks[pos] == idx)
            continue;
        memmove(picks + pos + 1, picks + pos, (size_t)(count - pos) * sizeof *picks);
        picks[pos] = idx;
        count++;
    }
    /* The bar spans the smoothed loss from its minimum to the largest value
     * shown up to the minimum; the blow-up after it is cut off ('>'). */
    double lo = INFINITY, hi = -INFINITY;
    for (int k = 0; k < count; k++) {
        double s = smoothed[picks[k]];
        if (isfinite(s)) {
            lo = fmin(lo, s);
            if (picks[k] <= res->min_index)
                hi = fmax(hi, s);
        }
    }
    printf("%5s %11s %13s\n", "step", "lr", "smoothed loss");
    for (int k = 0; k < count; k++) {
        int i = picks[k];
        double s = smoothed[i];
        char bar[BAR + 2];
        if (isfinite(s)) {
            double frac = hi > lo ? (s - lo) / (hi - lo) : 0.0;
            int len = (int)lround(BAR * fmin(frac, 1.0));
            memset(bar, '#', (size_t)len);
            if (frac > 1.0)
                bar[len++] = '>';
            bar[len] = '\0';
        } else {
            snprintf(bar, sizeof bar, "(not finite)");
        }
        const char *note = i == res->suggested_index ? "<- steepest descent (suggested)"
                           : i == res->min_index     ? "<- minimum"
                                                     : NULL;
        if (note)
            printf("%5d %11.3e %13.5g |%-*s %s\n", i + 1, lrs[i], s, BAR + 1, bar, note);
        else
            printf("%5d %11.3e %13.5g |%s\n", i + 1, lrs[i], s, bar);
    }
}

int cmd_lr_find(int argc, char **argv)
{
    lr_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc != 0)
        return rc < 0 ? EXIT_OK : rc;
    cli_set_threads((int)a.common.threads);

    fm_error err = {FM_OK, ""};
    fm_model *model = NULL;
    fm_net *own = NULL, *net = NULL;
    fm_dataset *data = NULL;
    fm_layer_spec *specs = NULL;
    fm_standardizer *sx = NULL, *sy = NULL;
    double *lrs = NULL, *losses = NULL, *smoothed = NULL;
    fm_loss loss;
    const cli_path out_files[] = {{"--out", a.out}};
    const cli_path in_files[] = {{"--data", a.common.data}, {"--target-data", a.common.target_data},
                               {"--from", a.common.from}};
    fm_status st = cli_check_paths(out_files, 1, in_files, 3, &err);
    if (st != FM_OK)
        goto done;

    if (a.common.from) {
        st = fm_model_load(a.common.from, &model, &err);
        if (st == FM_OK && a.common.loss)
            st = cli_check_loss_matches(a.common.loss, &model->loss, &err);
        if (st == FM_OK)
            loss = model->loss;
    } else {
        st = fm_loss_parse(a.common.loss ? a.common.loss : "mse", &loss, &err);
    }
    if (st != FM_OK)
        goto done;

    fm_read_options read_opts = {a.common.inputs, a.common.targets, a.common.skip_bad};
    if (model && !a.common.target_data)
        st = cli_read_model_data(model, a.common.data, NULL, a.common.inputs, a.common.targets, 1, a.common.skip_bad, &data, &err);
    else
        st = fm_data_read(a.common.data, a.common.target_data, &read_opts, &data, &err);
    if (st != FM_OK)
        goto done;
    if (!data->y || data->n_out == 0) {
        st = fm_error_set(&err, FM_ERR_ARG, "%s: no target columns (give --targets or --target-data)", a.common.data);
        goto done;
    }
    if (data->rows == 0) {
        st = fm_error_set(&err, FM_ERR_ARG, "%s has no rows", a.common.data);
        goto done;
    }
    if (data->skipped)
        fprintf(stderr, "fathom lr-find: skipped %zu bad rows of %s\n", data->skipped, a.common.data);

    int classification = loss.kind == FM_LOSS_CROSS_ENTROPY;
    int n_out = data->n_out;
    if (loss.kind == FM_LOSS_BCE &&
        (st = cli_check_bce_targets(data, a.common.target_data ? a.common.target_data : a.common.data, &err)) != FM_OK)
        goto done;
    if (classification) {
        long classes = 0;
        if (data->n_out != 1) {
            st = fm_error_set(&err, FM_ERR_ARG, "cross_entropy needs one class-label column, got %d target columns",
                          data->n_out);
            goto done;
        }
        st = cli_count_classes(data, a.common.target_data ? a.common.target_data : a.common.data, &classes, &err);
        if (st != FM_OK)
            goto done;
        if (a.common.classes && classes > a.common.classes) {
            st = fm_error_set(&err, FM_ERR_ARG, "a class label %ld is outside --classes %ld", classes - 1, a.common.classes);
            goto done;
        }
        if (a.common.classes)
            classes = a.common.classes;
        if (classes < 2) {
            st = fm_error_set(&err, FM_ERR_ARG, "cross_entropy needs at least two classes in the labels");
            goto done;
        }
        n_out = (int)classes;
    }

    if (model) {
        net = model->net;
        if (fm_net_n_in(net) != data->n_in || fm_net_n_out(net) != n_out) {
            st = fm_error_set(&err, FM_ERR_ARG, "the data has %d inputs and %d outputs; the model %s has %d and %d",
                          data->n_in, n_out, a.common.from, fm_net_n_in(net), fm_net_n_out(net));
            goto done;
        }
        if (model->input_std)
            fm_standardize(model->input_std, data->x, data->rows);
        if (model->target_std)
            fm_standardize(model->target_std, data->y, data->rows);
    } else {
        int n_layers = 0;
        cli_net_options net_opts = {a.common.layers, a.common.act, a.common.init, a.common.output_act, 0.0, 0, 0, NULL, NULL, NULL, NULL};
        st = cli_build_specs(&net_opts, &loss, n_out, &specs, &n_layers, &err);
        if (st == FM_OK)
            st = fm_net_create(data->n_in, specs, n_layers, a.common.seed, &own, &err);
        if (st == FM_OK)
            st = fm_standardizer_fit(data->x, data->rows, data->n_in, &sx, &err);
        if (st == FM_OK && !classification && loss.kind != FM_LOSS_BCE)
            st = fm_standardizer_fit(data->y, data->rows, data->n_out, &sy, &err);
        if (st != FM_OK)
            goto done;
        fm_standardize(sx, data->x, data->rows);
        if (sy)
            fm_standardize(sy, data->y, data->rows);
        net = own;
    }

    fm_optim_kind kind;
    st = fm_optim_parse_kind(a.common.optimizer, &kind, &err);
    if (st != FM_OK)
        goto done;
    fm_optim_config oc = fm_optim_config_default(kind);
    oc.momentum = a.common.momentum;
    oc.nesterov = a.common.nesterov;
    if (a.common.have_weight_decay)
        oc.weight_decay = a.common.weight_decay;
    oc.clip_norm = a.common.clip_norm;
    fm_lr_find_options lo = fm_lr_find_options_default();
    lo.lr_min = a.lr_min;
    lo.lr_max = a.lr_max;
    lo.steps = (int)a.steps;
    lo.batch = (int)a.common.batch;
    lo.seed = a.common.seed;
    lrs = calloc((size_t)a.steps, sizeof *lrs);
    losses = calloc((size_t)a.steps, sizeof *losses);
    smoothed = calloc((size_t)a.steps, sizeof *smoothed);
    if (!lrs || !losses || !smoothed) {
        st = fm_error_set(&err, FM_ERR_NOMEM, "cannot allocate %ld steps", a.steps);
        goto done;
    }

    int n_layers = fm_net_n_layers(net);
    printf("range test of %d -> ", fm_net_n_in(net));
    for (int l = 0; l < n_layers; l++) {
        char act[96];
        fm_activation_format(&fm_net_layer(net, l)->act, act, sizeof act);
        printf("%d %s%s", fm_net_layer(net, l)->n_out, act, l + 1 < n_layers ? " -> " : "");
    }
    printf(" (%zu parameters), %s", fm_net_n_params(net), fm_optim_name(kind));
    if (kind == FM_OPTIM_SGD && a.common.momentum > 0)
        printf(" momentum %g", a.common.momentum);
    printf(", batch %ld, on %zu rows\n", a.common.batch, data->rows);
    printf("learning rate from %g to %g over at most %ld steps\n", a.lr_min, a.lr_max, a.steps);
    fflush(stdout);

    fm_lr_find_result res;
    st = fm_lr_range_test(net, &oc, &loss, data, &lo, lrs, losses, smoothed, &res, &err);
    if (st != FM_OK)
        goto done;
    int n = res.steps_taken;
    if (res.stopped_early == 1)
        printf("stopped after %d steps: the smoothed loss passed 4 times its minimum\n", n);
    else if (res.stopped_early == 2)
        printf("stopped after %d steps: the loss or the gradient stopped being finite\n", n);
    else
        printf("all %d steps taken: the loss did not blow up (a larger --lr-max shows where it does)\n", n);
    printf("\n");
    print_table(lrs, smoothed, n, &res);
    printf("\n");
    if (isfinite(res.min_loss)) {
        if (res.suggested_index >= 0)
            printf("suggested learning rate: %.3g (steepest descent of the smoothed loss, step %d)\n",
                   res.suggested_lr, res.suggested_index + 1);
        else
            printf("suggested learning rate: %.3g (the smoothed loss never fell: the minimum's rate / 10; widen "
                   "--lr-min .. --lr-max, or check the data and the initialisation)\n",
                   res.suggested_lr);
        printf("minimum smoothed loss %.5g at learning rate %.3g; that rate / 10: %.3g\n", res.min_loss,
               res.min_loss_lr, res.min_loss_lr_10);
    } else {
        printf("no suggestion: the loss stopped being finite within the first steps; try a smaller --lr-min\n");
    }
    if (a.out) {
        cli_hold_signals();
        st = write_csv(a.out, lrs, losses, smoothed, n, &err);
        cli_release_signals();
        if (st == FM_OK)
            printf("%d steps written to %s\n", n, a.out);
    }

done:
    rc = st == FM_OK ? EXIT_OK : cli_report(COMMAND, &err);
    free(lrs);
    free(losses);
    free(smoothed);
    free(specs);
    fm_standardizer_free(sx);
    fm_standardizer_free(sy);
    fm_dataset_free(data);
    fm_net_free(own);
    fm_model_free(model);
    return rc;
}
