/* The options fathom train and fathom lr-find share: see model_options.h. */
#include "model_options.h"

#include "cli.h"

#include <string.h>

void cli_model_args_init(cli_model_args *a)
{
    memset(a, 0, sizeof *a);
    a->batch = 32;
    a->seed = 1;
    a->optimizer = "sgd";
}

int cli_model_option(const char *command, int c, const char *arg, cli_model_args *a, int *exit_code)
{
    *exit_code = 0;
    switch (c) {
    case CLI_OPT_DATA: a->data = arg; break;
    case CLI_OPT_TARGET_DATA: a->target_data = arg; break;
    case CLI_OPT_INPUTS: a->inputs = arg; break;
    case CLI_OPT_TARGETS: a->targets = arg; break;
    case CLI_OPT_SKIP_BAD: a->skip_bad = 1; break;
    case CLI_OPT_CLASSES:
        if (!cli_parse_int(arg, 2, FM_MAX_WIDTH, &a->classes))
            *exit_code = cli_usage_error(command, "--classes \"%s\" must be an integer >= 2", arg);
        break;
    case CLI_OPT_LAYERS: a->layers = arg; break;
    case CLI_OPT_ACT: a->act = arg; break;
    case CLI_OPT_INIT: a->init = arg; break;
    case CLI_OPT_OUTPUT_ACT: a->output_act = arg; break;
    case CLI_OPT_FROM: a->from = arg; break;
    case CLI_OPT_LOSS: a->loss = arg; break;
    case CLI_OPT_OPTIMIZER: a->optimizer = arg; break;
    case CLI_OPT_MOMENTUM:
        if (!cli_parse_double(arg, 0.0, 0.9999, &a->momentum))
            *exit_code = cli_usage_error(command, "--momentum \"%s\" must be a number in [0, 1)", arg);
        break;
    case CLI_OPT_NESTEROV: a->nesterov = 1; break;
    case CLI_OPT_WEIGHT_DECAY:
        if (!cli_parse_double(arg, 0.0, 1e3, &a->weight_decay))
            *exit_code = cli_usage_error(command, "--weight-decay \"%s\" must be a number in [0, 1000]", arg);
        a->have_weight_decay = 1;
        break;
    case CLI_OPT_CLIP:
        if (!cli_parse_double(arg, 1e-30, 1e30, &a->clip_norm))
            *exit_code = cli_usage_error(command, "--clip-norm \"%s\" must be a number in [1e-30, 1e30]", arg);
        break;
    case CLI_OPT_BATCH:
        if (!cli_parse_int(arg, 1, 1 << 20, &a->batch))
            *exit_code = cli_usage_error(command, "--batch \"%s\" must be an integer in 1..%d", arg, 1 << 20);
        break;
    case CLI_OPT_SEED:
        if (!cli_parse_seed(arg, &a->seed))
            *exit_code = cli_usage_error(command, "--seed \"%s\" must be an integer in 0..2^64-1", arg);
        break;
    case CLI_OPT_THREADS:
        if (!cli_parse_int(arg, 1, 1024, &a->threads))
            *exit_code = cli_usage_error(command, "--threads \"%s\" must be an integer in 1..1024", arg);
        break;
    default: return 0;
    }
    return 1;
}
