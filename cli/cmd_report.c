/* fathom report: a run log (fathom train --log / --diagnose) as one
 * self-contained HTML page; the work is fm_report_write's. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const COMMAND = "report";

static void usage(FILE *out)
{
    fprintf(out, "usage: fathom report RUN.jsonl [-o REPORT.html] [--map PRED.nc [--slice K] [--map-var VAR]]\n"
                 "\n"
                 "Render the JSON Lines run log of fathom train (--log FILE or --diagnose N) as one\n"
                 "self-contained HTML file that opens offline: loss and learning rate against step,\n"
                 "variance of z and dL/dz against depth at the start, middle and end with theory\n"
                 "dashed, heatmaps of gradient RMS and of dead and saturated shares per layer and\n"
                 "step, update-to-weight ratios, histograms of z, the settings, the data, the final\n"
                 "metrics and the diagnosis. A run that diverged is rendered too and says where.\n"
                 "\n"
                 "  -o, --out FILE   the HTML file (default: RUN with .jsonl replaced by .html)\n"
                 "  --map PRED.nc    add maps (lon x lat) of truth, prediction and residual from the\n"
                 "                   NetCDF file of fathom predict --data GRID.nc --out PRED.nc (it holds\n"
                 "                   NAME_prediction and NAME_residual; truth = prediction - residual)\n"
                 "  --slice K        index of the depth or time level to draw (default 0)\n"
                 "  --map-var VAR    the NAME_prediction variable, when the file holds several\n"
                 "  --help           this text\n");
}

int cmd_report(int argc, char **argv)
{
    static const struct option options[] = {
        {"out", required_argument, 0, 'o'}, {"map", required_argument, 0, 'm'},
        {"slice", required_argument, 0, 's'}, {"map-var", required_argument, 0, 'v'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *out = NULL;
    fm_report_maps maps = {NULL, NULL, 0};
    int slice_given = 0;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "o:h", options, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'm': maps.path = optarg; break;
        case 'v': maps.variable = optarg; break;
        case 's': {
            char *end = NULL;
            errno = 0;
            long long k = strtoll(optarg, &end, 10);
            if (!*optarg || *end || errno || k < 0)
                return cli_usage_error(COMMAND, "--slice %s: give a level index 0, 1, 2, ...", optarg);
            maps.slice = (size_t)k;
            slice_given = 1;
            break;
        }
        case 'h': usage(stdout); return EXIT_OK;
        default: return cli_usage_error(COMMAND, "unknown option or missing value: %s", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return cli_usage_error(COMMAND, optind >= argc ? "give the run log to render" : "give one run log only");
    if ((slice_given || maps.variable) && !maps.path)
        return cli_usage_error(COMMAND, "--slice and --map-var need --map PRED.nc");
    const char *log_path = argv[optind];
    char *owned = NULL;
    if (!out) {
        size_t n = strlen(log_path);
        size_t stem = n > 6 && !strcmp(log_path + n - 6, ".jsonl") ? n - 6 : n;
        owned = malloc(stem + 6);
        if (!owned)
            return cli_report(COMMAND, &(fm_error){FM_ERR_NOMEM, "out of memory"});
        memcpy(owned, log_path, stem);
        memcpy(owned + stem, ".html", 6);
        out = owned;
    }
    fm_error err = {FM_OK, ""};
    int rc = EXIT_OK;
    const cli_path out_files[] = {{"-o", out}}, in_files[] = {{"the run log", log_path}, {"--map", maps.path}};
    fm_status st = cli_check_paths(out_files, 1, in_files, 2, &err);
    if (st == FM_OK) {
        cli_hold_signals();
        st = fm_report_write_maps(log_path, out, maps.path ? &maps : NULL, &err);
        cli_release_signals();
    }
    if (st != FM_OK)
        rc = cli_report(COMMAND, &err);
    else
        printf("report written to %s\n", out);
    free(owned);
    return rc;
}
