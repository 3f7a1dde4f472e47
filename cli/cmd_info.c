/* fathom info: what a model file holds, layer by layer. */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>

static const char *const COMMAND = "info";

int cmd_info(int argc, char **argv)
{
    static const struct option options[] = {
        {"model", required_argument, 0, 'm'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *path = NULL;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'm': path = optarg; break;
        case 'h':
            printf("usage: fathom info MODEL   (or --model MODEL)\n\nPrints the architecture, the initialisers, "
                   "the standardisation and the training settings stored in a model file.\n");
            return EXIT_OK;
        default: return cli_usage_error(COMMAND, "unknown option or missing value: %s", argv[optind - 1]);
        }
    }
    if (!path && optind < argc)
        path = argv[optind++];
    if (optind < argc)
        return cli_usage_error(COMMAND, "unexpected argument \"%s\"", argv[optind]);
    if (!path)
        return cli_usage_error(COMMAND, "a model file is required");

    fm_error err = {FM_OK, ""};
    fm_model *model = NULL;
    fm_status st = fm_model_load(path, &model, &err);
    if (st != FM_OK)
        return cli_report(COMMAND, &err);
    fm_net *net = model->net;
    char loss[64];
    fm_loss_format(&model->loss, loss, sizeof loss);
    printf("model      %s\n", path);
    printf("inputs     %d", fm_net_n_in(net));
    if (model->in_names) {
        printf(" (");
        for (int i = 0; i < fm_net_n_in(net) && i < 12; i++)
            printf("%s%s", i ? ", " : "", model->in_names[i]);
        printf("%s)", fm_net_n_in(net) > 12 ? ", ..." : "");
    }
    printf("\nloss       %s\nparameters %zu\nseed       %llu\n", loss, fm_net_n_params(net),
           (unsigned long long)fm_net_seed(net));
    printf("\n layer  n_in -> n_out  activation            init              Var[W] init   Var[W] now  dropout\n");
    int n_in = fm_net_n_in(net);
    for (int l = 0; l < fm_net_n_layers(net); l++) {
        const fm_layer_spec *s = fm_net_layer(net, l);
        char act[96], init[64];
        fm_activation_format(&s->act, act, sizeof act);
        fm_init_format(&s->init, init, sizeof init);
        const float *w = fm_net_weight(net, l);
        size_t count = (size_t)s->n_out * (size_t)n_in;
        double sum = 0, sq = 0;
        for (size_t i = 0; i < count; i++) {
            sum += w[i];
            sq += (double)w[i] * w[i];
        }
        double mean = sum / (double)count;
        printf(" %5d  %5d -> %-5d  %-20s  %-16s  %12.4g  %11.4g  %.3g\n", l + 1, n_in, s->n_out, act, init,
               fm_init_variance(&s->init, &s->act, n_in, s->n_out), sq / (double)count - mean * mean, s->dropout);
        n_in = s->n_out;
    }
    if (model->input_std)
        printf("\ninput standardisation: %d means and standard deviations\n", model->input_std->n);
    if (model->target_std) {
        printf("target standardisation:");
        for (int i = 0; i < model->target_std->n && i < 8; i++)
            printf(" %s mean %.6g std %.6g;", model->out_names && i < model->n_target_names ? model->out_names[i] : "y",
                   (double)model->target_std->mean[i], (double)model->target_std->std[i]);
        printf("\n");
    }
    if (model->training_json)
        printf("training: %s\n", model->training_json);
    fm_model_free(model);
    return EXIT_OK;
}
