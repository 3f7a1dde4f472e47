/* What the subcommands of the fathom CLI share: exit codes, error reporting,
 * number and list parsing, and loading data the way a model expects it. */
#ifndef FATHOM_CLI_H
#define FATHOM_CLI_H

#include "fathom.h"

/* Exit codes, documented in README.md and `fathom --help`. */
enum {
    EXIT_OK = 0,
    EXIT_FAILURE_OTHER = 1,
    EXIT_USAGE = 2,     /* bad command line or option value */
    EXIT_IO = 3,        /* a file could not be read or written */
    EXIT_FORMAT = 4,    /* a file's contents are malformed */
    EXIT_DIVERGED = 5,  /* training diverged: loss or gradients not finite */
    EXIT_NOMEM = 6,     /* out of memory */
    EXIT_STOPPED = 7    /* interrupted */
};

/* Exit code for a library status. */
int cli_exit_code(fm_status status);

/* Print "fathom COMMAND: message" to stderr and return the exit code for err. */
int cli_report(const char *command, const fm_error *err);

/* Print "fathom COMMAND: <formatted>" and a hint to run --help; returns EXIT_USAGE. */
int cli_usage_error(const char *command, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* FM_ERR_IO "cannot open PATH: strerror(errnum)". */
fm_status cli_fail_io(fm_error *err, const char *path, int errnum);

/* Strict number parsing of option values: the whole text must be a number in range. */
int cli_parse_int(const char *text, long min, long max, long *out);
int cli_parse_double(const char *text, double min, double max, double *out);

/* Widths from "64,64", "256x8" or "256x4,128" into widths (room for max);
 * returns the count, or -1 for a malformed spec. */
int cli_parse_widths(const char *text, int *widths, int max);

/* "L=SPEC" (L a 1-based layer number) into layer and spec (pointing into text). */
int cli_parse_override(const char *text, int *layer, const char **spec);

/* A seed: a decimal integer in 0..2^64-1. */
int cli_parse_seed(const char *text, unsigned long long *out);

/* The network options train and lr-find share: hidden widths, activation,
 * initialiser, output activation, dropout and per-layer overrides (borrowed). */
typedef struct cli_net_options {
    const char *layers, *act, *init, *output_act; /* NULL: the defaults 64,64 / relu / auto / by loss */
    double dropout;
    int n_act_overrides, n_init_overrides;
    const int *act_at, *init_at;                   /* 1-based layers */
    const char *const *act_spec, *const *init_spec;
} cli_net_options;

/* The layer list: hidden layers and an output layer of n_out units whose
 * activation fits the loss (softmax for cross_entropy, sigmoid for bce). */
fm_status cli_build_specs(const cli_net_options *opts, const fm_loss *loss, int n_out, fm_layer_spec **specs_out,
                          int *n_layers_out, fm_error *err);

/* Largest class label + 1, after checking every label is a non-negative integer. */
fm_status cli_count_classes(const fm_dataset *ds, const char *path, long *classes, fm_error *err);
/* A --loss given with a model (--from, --resume) must be the model's own,
 * parameters included (FM_ERR_ARG naming both otherwise). */
fm_status cli_check_loss_matches(const char *spec, const fm_loss *model_loss, fm_error *err);
/* The targets a model's loss takes, checked as data (FM_ERR_FORMAT, path
 * named): class labels integers below n_out for cross-entropy, bce targets
 * in [0, 1]; other losses take any number. */
fm_status cli_check_labels(const fm_loss *loss, int n_out, const fm_dataset *data, const char *path, fm_error *err);
/* Every bce target in [0, 1]; path names the data in the message. */
fm_status cli_check_bce_targets(const fm_dataset *ds, const char *path, fm_error *err);

/* The usage error for getopt_long's '?' (unknown option or missing value). */
int cli_getopt_error(const char *command, char **argv);

/* Set the number of BLAS threads (0: leave OpenBLAS's default). */
void cli_set_threads(int threads);

/* Subcommands: each returns an exit code. argv[0] is the subcommand's name. */
int cmd_train(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_probe(int argc, char **argv);
int cmd_lr_find(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_baseline(int argc, char **argv);
int cmd_synth_seismic(int argc, char **argv);
int cmd_report(int argc, char **argv);

/* Read the data a model applies to: the model's stored input encoding (its
 * training settings' "encoding") or, for CSV and NetCDF, its input columns by
 * name; its target columns when with_targets and present (NetCDF: always, as
 * the target variable gives the grid); for other formats `inputs`/`targets`
 * specs or all columns. Values stay in original units. */
fm_status cli_read_model_data(const fm_model *model, const char *path, const char *target_path, const char *inputs,
                              const char *targets, int with_targets, int skip_bad, fm_dataset **out, fm_error *err);
/* cli_read_model_data of one process's block of the data (fm_data_read_shard):
 * fine-tuning under mpirun. */
fm_status cli_read_model_data_shard(const fm_model *model, const char *path, const char *target_path,
                                    const char *inputs, const char *targets, int with_targets, int skip_bad, int shard,
                                    int n_shards, fm_dataset **out, fm_error *err);

/* A file a command reads or writes, named by its option for messages. */
typedef struct cli_path {
    const char *option; /* e.g. "--out" */
    const char *path;   /* NULL: not given */
} cli_path;

/* Before any work: refuse an output that is one of the inputs (a data path
 * may carry "#SPLIT:part") or another output, or is a directory (FM_ERR_ARG),
 * and one in a directory that does not exist or cannot be written
 * (FM_ERR_IO). cli/output_paths.c */
fm_status cli_check_paths(const cli_path *outputs, int n_outputs, const cli_path *inputs, int n_inputs,
                          fm_error *err);

/* SIGINT, SIGTERM and SIGHUP held back while a command writes its outputs
 * (each a temporary file renamed over the target): a signal then ends the
 * command when the write is complete, not midway with a temporary file left
 * behind. cli_release_signals raises what was held. cli/output_paths.c */
void cli_hold_signals(void);
void cli_release_signals(void);

/* The file part of a data path "PATH#SPLIT:part" (malloc'd; NULL when out of memory). */
char *cli_data_file(const char *path);
/* 1 when the data path names a NetCDF file (.nc, .cdf, .nc4, .netcdf). */
int cli_is_netcdf(const char *path);

/* Report of a model's quality on data with standardised inputs and targets in original units:
 * prints loss, and RMSE per target or accuracy, to stdout. Returns FM_OK or an error. */
fm_status cli_print_evaluation(fm_model *model, fm_dataset *data, const char *label, fm_error *err);

#endif
