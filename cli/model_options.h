/* The command-line options that fathom train and fathom lr-find share: where
 * the data come from, the network, and the optimiser. Both commands embed a
 * cli_model_args, list CLI_MODEL_OPTIONS in their getopt_long table and hand
 * every option to cli_model_option first, so that each option is spelled,
 * checked and worded in one place. */
#ifndef FATHOM_CLI_MODEL_OPTIONS_H
#define FATHOM_CLI_MODEL_OPTIONS_H

#include <getopt.h>

typedef struct cli_model_args {
    /* data */
    const char *data, *target_data, *inputs, *targets;
    int skip_bad;
    long classes;
    /* network */
    const char *layers, *act, *init, *output_act, *from;
    /* optimiser and its loop */
    const char *loss, *optimizer;
    double momentum, weight_decay, clip_norm;
    int nesterov, have_weight_decay;
    long batch, threads;
    unsigned long long seed;
} cli_model_args;

/* getopt_long values of the shared options; a command numbers its own from
 * CLI_MODEL_OPTION_END. */
enum {
    CLI_OPT_DATA = 256, CLI_OPT_TARGET_DATA, CLI_OPT_INPUTS, CLI_OPT_TARGETS, CLI_OPT_SKIP_BAD, CLI_OPT_CLASSES,
    CLI_OPT_LAYERS, CLI_OPT_ACT, CLI_OPT_INIT, CLI_OPT_OUTPUT_ACT, CLI_OPT_FROM, CLI_OPT_LOSS, CLI_OPT_OPTIMIZER,
    CLI_OPT_MOMENTUM, CLI_OPT_NESTEROV, CLI_OPT_WEIGHT_DECAY, CLI_OPT_CLIP, CLI_OPT_BATCH, CLI_OPT_SEED,
    CLI_OPT_THREADS, CLI_MODEL_OPTION_END
};

/* The shared entries of a getopt_long table. */
#define CLI_MODEL_OPTIONS                                                                                         \
    {"data", required_argument, 0, CLI_OPT_DATA}, {"target-data", required_argument, 0, CLI_OPT_TARGET_DATA},     \
        {"inputs", required_argument, 0, CLI_OPT_INPUTS}, {"targets", required_argument, 0, CLI_OPT_TARGETS},     \
        {"skip-bad-rows", no_argument, 0, CLI_OPT_SKIP_BAD}, {"classes", required_argument, 0, CLI_OPT_CLASSES},  \
        {"layers", required_argument, 0, CLI_OPT_LAYERS}, {"act", required_argument, 0, CLI_OPT_ACT},             \
        {"init", required_argument, 0, CLI_OPT_INIT}, {"output-act", required_argument, 0, CLI_OPT_OUTPUT_ACT},   \
        {"from", required_argument, 0, CLI_OPT_FROM}, {"loss", required_argument, 0, CLI_OPT_LOSS},              \
        {"optimizer", required_argument, 0, CLI_OPT_OPTIMIZER},                                                    \
        {"momentum", required_argument, 0, CLI_OPT_MOMENTUM}, {"nesterov", no_argument, 0, CLI_OPT_NESTEROV},     \
        {"weight-decay", required_argument, 0, CLI_OPT_WEIGHT_DECAY},                                              \
        {"clip-norm", required_argument, 0, CLI_OPT_CLIP}, {"batch", required_argument, 0, CLI_OPT_BATCH},        \
        {"seed", required_argument, 0, CLI_OPT_SEED}, { "threads", required_argument, 0, CLI_OPT_THREADS }

/* Defaults common to both commands (batch 32, seed 1, sgd); the rest zero or
 * NULL (a NULL loss means mse, or a --from model's own). */
void cli_model_args_init(cli_model_args *a);

/* Take getopt_long's value c (with its argument) if it is a shared option:
 * returns 1 and sets *exit_code to 0, or to the usage error's exit code when
 * the value is invalid (the message printed for `command`); returns 0 for an
 * option that is not shared. */
int cli_model_option(const char *command, int c, const char *arg, cli_model_args *a, int *exit_code);

#endif
