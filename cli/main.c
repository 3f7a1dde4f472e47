/* fathom: the command-line front end. Owns stdout, stderr and the exit code;
 * everything else is the library's. */
#include "blas_kernels.h"
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* When the user has not chosen OpenBLAS's kernels and it fell back to its
 * slow generic ones, restart once with the newest set the CPU supports
 * (cli/blas_kernels.h). FATHOM_KEEP_BLAS_KERNELS=1 turns this off. */
static void choose_blas_kernels(char **argv)
{
    if (getenv("OPENBLAS_CORETYPE") || getenv("FATHOM_KEEP_BLAS_KERNELS"))
        return;
    const char *better = cli_blas_kernels_for_cpu();
    if (!better || setenv("OPENBLAS_CORETYPE", better, 1) != 0)
        return;
    execv("/proc/self/exe", argv);
    /* Could not restart: carry on with the slower kernels. */
    unsetenv("OPENBLAS_CORETYPE");
}

static void print_help(FILE *out)
{
    fprintf(out,
            "fathom %s: train deep dense networks and see why they do or do not learn\n"
            "\n"
            "usage: fathom COMMAND [OPTIONS]     (fathom COMMAND --help for its options)\n"
            "\n"
            "commands:\n"
            "  train     train a network on CSV, NPY, IDX, NetCDF or SEG-Y data and save it as a model file\n"
            "  predict   apply a model to data and write predictions (CSV, NPY, NetCDF or SEG-Y)\n"
            "  eval      loss and RMSE or accuracy of a model on data with targets\n"
            "  info      print what a model file holds\n"
            "  probe     per-layer variance, saturation, dead units and gradients beside theory\n"
            "  lr-find   learning-rate range test: the loss as the rate grows, and a suggested rate\n"
            "  demo      a short tour: signal propagation at initialisation, then training\n"
            "  report    a run log as a self-contained HTML page of plots\n"
            "  baseline  mean, linear and k-nearest-neighbour baselines on a held-out split (NetCDF grids)\n"
            "  synth-seismic  synthetic seismic by the convolutional model, written as SEG-Y\n"
            "\n"
            "exit status:\n"
            "  0 success                 4 malformed input file\n"
            "  1 other failure           5 training diverged (loss or gradient not finite)\n"
            "  2 bad command line        6 out of memory\n"
            "  3 file not readable or not writable   7 stopped\n",
            FM_VERSION_STRING);
}

/* What a command printed is part of its result: when standard output could
 * not take it (a full disk, a closed descriptor), the command failed. */
static int with_stdout_checked(int rc)
{
    if (fflush(stdout) == 0 && !ferror(stdout))
        return rc;
    fprintf(stderr, "fathom: cannot write to standard output: %s\n", errno ? strerror(errno) : "write error");
    return rc == EXIT_OK ? EXIT_IO : rc;
}

static int run(int argc, char **argv)
{
    if (argc < 2) {
        print_help(stderr);
        return EXIT_USAGE;
    }
    const char *command = argv[1];
    if (strcmp(command, "--help") == 0 || strcmp(command, "-h") == 0 || strcmp(command, "help") == 0) {
        print_help(stdout);
        return EXIT_OK;
    }
    if (strcmp(command, "--version") == 0) {
        printf("fathom %s\n", FM_VERSION_STRING);
        return EXIT_OK;
    }
    static const struct {
        const char *name;
        int (*run)(int, char **);
    } commands[] = {{"train", cmd_train}, {"predict", cmd_predict}, {"eval", cmd_eval}, {"info", cmd_info}, {"probe", cmd_probe},
                    {"lr-find", cmd_lr_find}, {"demo", cmd_demo}, {"report", cmd_report},
                    {"baseline", cmd_baseline}, {"synth-seismic", cmd_synth_seismic}};
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(command, commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "fathom: unknown command \"%s\" (try fathom --help)\n", command);
    return EXIT_USAGE;
}

int main(int argc, char **argv)
{
    choose_blas_kernels(argv);
    return with_stdout_checked(run(argc, argv));
}
