/* fathom synth-seismic: synthetic seismic sections by the convolutional
 * model, written as SEG-Y: a random layered earth (acoustic impedance that
 * steps at gently dipping interfaces) -> reflectivity r = (Z2 - Z1)/(Z2 + Z1)
 * -> convolution with a zero-phase Ricker wavelet -> Gaussian noise. The
 * impedance and the reflectivity go to their own SEG-Y files of the same
 * geometry, as targets for an inversion network. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const COMMAND = "synth-seismic";

static void usage(FILE *out)
{
    fprintf(out,
            "usage: fathom synth-seismic --out SEISMIC.sgy [options]\n"
            "\n"
            "  --out FILE           the seismic section (SEG-Y, IEEE float)\n"
            "  --impedance FILE     also write the acoustic impedance (m/s * g/cm3)\n"
            "  --reflectivity FILE  also write the reflectivity series\n"
            "  --traces N           traces (default 200)\n"
            "  --samples N          samples per trace, 8..65535 (default 400)\n"
            "  --dt MS              sample interval in ms (default 2)\n"
            "  --layers N           interfaces (default 40)\n"
            "  --block N            a new random earth model every N traces (default: one for the section)\n"
            "  --freq HZ            Ricker peak frequency (default 30)\n"
            "  --noise F            noise standard deviation relative to the signal RMS (default 0.05)\n"
            "  --seed S             random seed (default 1)\n"
            "  --help               this text\n");
}

int cmd_synth_seismic(int argc, char **argv)
{
    static const struct option options[] = {
        {"out", required_argument, 0, 'o'},    {"impedance", required_argument, 0, 'z'},
        {"reflectivity", required_argument, 0, 'r'}, {"traces", required_argument, 0, 't'},
        {"samples", required_argument, 0, 'n'}, {"dt", required_argument, 0, 'd'},
        {"layers", required_argument, 0, 'l'}, {"freq", required_argument, 0, 'f'},
        {"noise", required_argument, 0, 'e'},  {"seed", required_argument, 0, 's'},
        {"block", required_argument, 0, 'b'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0},
    };
    const char *out = NULL, *imp_path = NULL, *refl_path = NULL;
    long traces = 200, samples = 400, layers = 40, block = 0;
    double dt_ms = 2, freq = 30, noise = 0.05;
    unsigned long long seed = 1;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'z': imp_path = optarg; break;
        case 'r': refl_path = optarg; break;
        case 't':
            if (!cli_parse_int(optarg, 1, 1000000, &traces))
                return cli_usage_error(COMMAND, "--traces \"%s\" must be an integer in 1..1000000", optarg);
            break;
        case 'n':
            if (!cli_parse_int(optarg, 8, 65535, &samples))
                return cli_usage_error(COMMAND, "--samples \"%s\" must be an integer in 8..65535", optarg);
            break;
        case 'l':
            if (!cli_parse_int(optarg, 0, 100000, &layers))
                return cli_usage_error(COMMAND, "--layers \"%s\" must be a non-negative integer", optarg);
            break;
        case 'b':
            if (!cli_parse_int(optarg, 1, 1000000, &block))
                return cli_usage_error(COMMAND, "--block \"%s\" must be a positive number of traces", optarg);
            break;
        case 'd':
            if (!cli_parse_double(optarg, 0.001, 65.0, &dt_ms))
                return cli_usage_error(COMMAND, "--dt \"%s\" must be a number of ms in (0, 65]", optarg);
            break;
        case 'f':
            if (!cli_parse_double(optarg, 0.1, 1000.0, &freq))
                return cli_usage_error(COMMAND, "--freq \"%s\" must be a frequency in [0.1, 1000] Hz", optarg);
            break;
        case 'e':
            if (!cli_parse_double(optarg, 0.0, 100.0, &noise))
                return cli_usage_error(COMMAND, "--noise \"%s\" must be a number in [0, 100]", optarg);
            break;
        case 's':
            if (!cli_parse_seed(optarg, &seed))
                return cli_usage_error(COMMAND, "--seed \"%s\" must be an integer in 0..2^64-1", optarg);
            break;
        case 'h': usage(stdout); return EXIT_OK;
        default: return cli_usage_error(COMMAND, "unknown option or missing value: %s", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error(COMMAND, "unexpected argument \"%s\"", argv[optind]);
    if (!out)
        return cli_usage_error(COMMAND, "--out is required");
    /* Before any work or any file written: two outputs on one file (exit 2),
     * an output that is a directory (exit 2) or in a directory that is
     * missing or not writable (exit 3). */
    fm_error err = {FM_OK, ""};
    const cli_path outputs[] = {{"--out", out}, {"--impedance", imp_path}, {"--reflectivity", refl_path}};
    enum { N_OUTPUTS = sizeof outputs / sizeof outputs[0] };
    if (cli_check_paths(outputs, N_OUTPUTS, NULL, 0, &err) != FM_OK)
        return cli_report(COMMAND, &err);

    size_t n = (size_t)traces * (size_t)samples;
    float *seis = calloc(n, sizeof *seis), *imp = malloc(n * sizeof *imp), *refl = malloc(n * sizeof *refl);
    double *depth = malloc((size_t)(layers + 1) * sizeof *depth), *dip = malloc((size_t)(layers + 1) * sizeof *dip);
    double *layer_z = malloc((size_t)(layers + 2) * sizeof *layer_z);
    fm_status st = FM_OK;
    char *staged[N_OUTPUTS] = {NULL, NULL, NULL};
    if (!seis || !imp || !refl || !depth || !dip || !layer_z) {
        st = fm_error_set(&err, FM_ERR_NOMEM, "out of memory for %ld traces of %ld samples", traces, samples);
        goto done;
    }
    fm_rng rng;
    fm_rng_seed(&rng, seed);
    /* Interfaces at random two-way times, each dipping by up to +-0.1 sample
     * per trace; impedance a log-normal random walk from 4500 (m/s g/cm3). */
    const long centre = traces / 2; /* the middle trace, a whole number on purpose */
    for (long t = 0; t < traces; t++) {
        if (t == 0 || (block > 0 && t % block == 0)) {
            for (long l = 0; l < layers; l++) {
                depth[l] = fm_rng_uniform(&rng) * (double)samples;
                dip[l] = (fm_rng_uniform(&rng) - 0.5) * 0.2;
            }
            layer_z[0] = 4500.0;
            for (long l = 1; l <= layers; l++)
                layer_z[l] = layer_z[l - 1] * exp(0.12 * fm_rng_normal(&rng));
        }
        for (long s = 0; s < samples; s++) {
            /* The impedance at (t, s): the product of the steps of the
             * interfaces above. */
            double z = layer_z[0];
            for (long l = 0; l < layers; l++)
                if ((double)s >= depth[l] + dip[l] * (double)(t - centre))
                    z *= layer_z[l + 1] / layer_z[l];
            imp[(size_t)t * (size_t)samples + (size_t)s] = (float)z;
        }
        for (long s = 0; s < samples; s++) {
            size_t i = (size_t)t * (size_t)samples + (size_t)s;
            double z1 = imp[i], z2 = s + 1 < samples ? imp[i + 1] : imp[i];
            refl[i] = (float)((z2 - z1) / (z2 + z1));
        }
    }
    /* Ricker wavelet w(t) = (1 - 2 pi^2 f^2 t^2) exp(-pi^2 f^2 t^2), +-1.5/f. */
    double dt = dt_ms / 1000.0;
    int half = (int)ceil(1.5 / freq / dt);
    double sum_sq = 0;
    for (long t = 0; t < traces; t++)
        for (long s = 0; s < samples; s++) {
            double acc = 0;
            for (int k = -half; k <= half; k++) {
                long at = s - k;
                if (at < 0 || at >= samples)
                    continue;
                double tt = k * dt, a = M_PI * M_PI * freq * freq * tt * tt;
                acc += (1.0 - 2.0 * a) * exp(-a) * refl[(size_t)t * (size_t)samples + (size_t)at];
            }
            seis[(size_t)t * (size_t)samples + (size_t)s] = (float)acc;
            sum_sq += acc * acc;
        }
    double sd = noise * sqrt(sum_sq / (double)n);
    for (size_t i = 0; i < n; i++)
        seis[i] += (float)(sd * fm_rng_normal(&rng));
    /* Each section goes to a temporary file beside its output, and the
     * temporary files are renamed only when all are written: an output that
     * fails (a full disk) leaves every output as it was, not the seismic
     * replaced and its impedance missing. */
    int interval_us = (int)lround(dt_ms * 1000.0);
    const float *sections[N_OUTPUTS] = {seis, imp, refl};
    cli_hold_signals();
    for (int k = 0; k < N_OUTPUTS && st == FM_OK; k++) {
        if (!outputs[k].path)
            continue;
        size_t len = strlen(outputs[k].path) + 48;
        if (!(staged[k] = malloc(len))) {
            st = fm_error_set(&err, FM_ERR_NOMEM, "out of memory");
            break;
        }
        snprintf(staged[k], len, "%s.tmp.%ld.pending", outputs[k].path, (long)getpid());
        st = fm_segy_write_traces(staged[k], sections[k], (size_t)traces, (int)samples, interval_us, &err);
        if (st != FM_OK) {
            free(staged[k]); /* the writer leaves nothing behind when it fails */
            staged[k] = NULL;
        }
    }
    for (int k = 0; k < N_OUTPUTS && st == FM_OK; k++)
        if (staged[k] && rename(staged[k], outputs[k].path) != 0)
            st = fm_error_set(&err, FM_ERR_IO, "cannot write %s %s: %s", outputs[k].option, outputs[k].path,
                              strerror(errno));
    for (int k = 0; k < N_OUTPUTS && st != FM_OK; k++)
        if (staged[k]) { /* before a held signal can end the process */
            remove(staged[k]);
            free(staged[k]);
            staged[k] = NULL;
        }
    cli_release_signals();
    if (st == FM_OK)
        printf("wrote %ld traces of %ld samples (%g ms) to %s%s%s%s%s\n", traces, samples, dt_ms, out,
               imp_path ? ", impedance to " : "", imp_path ? imp_path : "", refl_path ? ", reflectivity to " : "",
               refl_path ? refl_path : "");
done:;
    for (int k = 0; k < N_OUTPUTS; k++)
        free(staged[k]); /* renamed, or removed above on failure */
    int rc = st == FM_OK ? EXIT_OK : cli_report(COMMAND, &err);
    free(seis);
    free(imp);
    free(refl);
    free(depth);
    free(dip);
    free(layer_z);
    return rc;
}
