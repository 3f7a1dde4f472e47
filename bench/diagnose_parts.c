/* diagnose_parts: where the time of a diagnosed training step goes. For the
 * 784-512x4-10 SELU network (or --widths) at --batch, it times, each over
 * --steps repetitions on the same batch, the pieces fm_train runs on a step
 * with --diagnose against those of a plain SGD step:
 *
 *   plain step:      forward + loss, fm_net_backward_sgd (fused update)
 *   diagnosed step:  forward + loss, fm_net_backward, fm_stats_measure_batch,
 *                    fm_optim_step_measured over every layer's weights and
 *                    biases (update ratios, weight and gradient sums, the
 *                    gradient norm), fm_stats_params_from_sums and
 *                    fm_stats_theory
 *
 * and, for comparison, fm_optim_step alone and the passes that a step with
 * gradient clipping adds (fm_stats_measure over the weights and gradient, the
 * separate gradient norm). Prints milliseconds per piece and
 * the overhead of the diagnosed step over the plain one. A benchmark: it
 * asserts nothing. docs/benchmarks.md quotes it. */
#include "bench_common.h"

#include <fathom.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_LAYERS 64

enum { FWD, BWD, MEASURE, STEP_MEASURED, FROM_SUMS, THEORY, STEP_PLAIN, MEASURE_ALL, NORM, BWD_FUSED, PARTS };
static const char *const PART_NAMES[PARTS] = {"forward + loss",
                                              "fm_net_backward",
                                              "fm_stats_measure_batch",
                                              "fm_optim_step_measured",
                                              "fm_stats_params_from_sums",
                                              "fm_stats_theory",
                                              "fm_optim_step (not in either)",
                                              "fm_stats_measure (clipping)",
                                              "gradient norm (clipping)",
                                              "fm_net_backward_sgd (fused)"};

int main(int argc, char **argv)
{
    int widths[MAX_LAYERS + 1];
    int n_widths = bench_parse_widths("784,512x4,10", widths, MAX_LAYERS + 1, FM_MAX_WIDTH);
    long batch = 128, steps = 100;
    static const struct option opts[] = {{"widths", required_argument, 0, 'w'},
                                         {"batch", required_argument, 0, 'b'},
                                         {"steps", required_argument, 0, 'k'},
                                         {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'w')
            n_widths = bench_parse_widths(optarg, widths, MAX_LAYERS + 1, FM_MAX_WIDTH);
        else if (c == 'b')
            batch = strtol(optarg, NULL, 10);
        else if (c == 'k')
            steps = strtol(optarg, NULL, 10);
        else {
            fprintf(stderr, "usage: diagnose_parts [--widths LIST] [--batch B] [--steps K]\n");
            return 2;
        }
    }
    if (n_widths < 2 || batch < 1 || batch > 65536 || steps < 1) {
        fprintf(stderr, "diagnose_parts: bad --widths, --batch or --steps\n");
        return 2;
    }
    const int n_layers = n_widths - 1, n_in = widths[0], n_out = widths[n_layers];
    fm_layer_spec specs[MAX_LAYERS];
    for (int l = 0; l < n_layers; l++) {
        specs[l] = (fm_layer_spec){0};
        specs[l].n_out = widths[l + 1];
        specs[l].act = fm_activation_default(l < n_layers - 1 ? FM_ACT_SELU : FM_ACT_SOFTMAX);
        specs[l].init.kind = FM_INIT_LECUN;
    }
    fm_error err;
    fm_net *net = NULL;
    fm_optim *opt = NULL;
    fm_optim_config oc = fm_optim_config_default(FM_OPTIM_SGD);
    oc.lr = 1e-4; /* small: the network stays where it is over the repetitions */
    float *x = malloc(sizeof(float) * (size_t)batch * (size_t)n_in);
    float *y = calloc((size_t)batch, sizeof(float)), *g = malloc(sizeof(float) * (size_t)batch * (size_t)n_out);
    if (!x || !y || !g || fm_net_create(n_in, specs, n_layers, 1, &net, &err) != FM_OK ||
        fm_optim_create(&oc, fm_net_n_params(net), &opt, &err) != FM_OK) {
        fprintf(stderr, "diagnose_parts: %s\n", net ? err.message : "out of memory or bad network");
        return 1;
    }
    fm_rng rng;
    fm_rng_seed(&rng, 1);
    fm_rng_normal_fill(&rng, x, (size_t)batch * (size_t)n_in, 0.0, 1.0);
    for (long i = 0; i < batch; i++)
        y[i] = (float)(i % n_out);
    const fm_loss loss = {FM_LOSS_CROSS_ENTROPY, 1.0};
    fm_layer_stats stats[MAX_LAYERS];
    fm_update_sums sums[2 * MAX_LAYERS];
    size_t begin[2 * MAX_LAYERS], length[2 * MAX_LAYERS]; /* each layer's weights, then its biases */
    for (int l = 0; l < n_layers; l++) {
        begin[2 * l] = (size_t)(fm_net_weight(net, l) - fm_net_params(net));
        length[2 * l] = (size_t)widths[l] * (size_t)widths[l + 1];
        begin[2 * l + 1] = (size_t)(fm_net_bias(net, l) - fm_net_params(net));
        length[2 * l + 1] = (size_t)widths[l + 1];
    }
    double t[PARTS] = {0}, value;
    for (long k = 0; k < steps; k++) {
        double t0 = bench_now_s();
        fm_net_forward(net, x, (int)batch, 1, &err);
        fm_loss_compute(&loss, &specs[n_layers - 1].act, fm_net_z(net, n_layers - 1), fm_net_output(net), y,
                        (int)batch, n_out, &value, g, &err);
        double t1 = bench_now_s();
        fm_net_backward(net, x, g, &err);
        double t2 = bench_now_s();
        fm_stats_measure_batch(net, stats);
        double t3 = bench_now_s();
        fm_optim_step_measured(opt, fm_net_params(net), fm_net_grads(net), oc.lr, begin, length, 2 * n_layers, sums);
        double t4 = bench_now_s();
        fm_stats_params_from_sums(net, sums, stats);
        double t5 = bench_now_s();
        fm_stats_theory(net, 1.0, stats);
        double t6 = bench_now_s();
        fm_optim_step(opt, fm_net_params(net), fm_net_grads(net), oc.lr);
        double t7 = bench_now_s();
        fm_stats_measure(net, stats);
        double t8 = bench_now_s();
        fm_clip_grad_norm(fm_net_grads(net), fm_net_n_params(net), 0.0);
        double t9 = bench_now_s();
        fm_net_forward(net, x, (int)batch, 1, &err);
        fm_loss_compute(&loss, &specs[n_layers - 1].act, fm_net_z(net, n_layers - 1), fm_net_output(net), y,
                        (int)batch, n_out, &value, g, &err);
        double t10 = bench_now_s();
        fm_net_backward_sgd(net, x, g, (float)oc.lr, &err);
        double t11 = bench_now_s();
        t[FWD] += (t1 - t0) + (t10 - t9);
        t[BWD] += t2 - t1;
        t[MEASURE] += t3 - t2;
        t[STEP_MEASURED] += t4 - t3;
        t[FROM_SUMS] += t5 - t4;
        t[THEORY] += t6 - t5;
        t[STEP_PLAIN] += t7 - t6;
        t[MEASURE_ALL] += t8 - t7;
        t[NORM] += t9 - t8;
        t[BWD_FUSED] += t11 - t10;
    }
    t[FWD] /= 2.0; /* timed twice per repetition */
    for (int p = 0; p < PARTS; p++)
        printf("%-30s %8.3f ms\n", PART_NAMES[p], 1e3 * t[p] / (double)steps);
    double plain = t[FWD] + t[BWD_FUSED];
    double diagnosed = t[FWD] + t[BWD] + t[MEASURE] + t[STEP_MEASURED] + t[FROM_SUMS] + t[THEORY];
    printf("plain step %.3f ms, diagnosed step %.3f ms: +%.0f %%\n", 1e3 * plain / (double)steps,
           1e3 * diagnosed / (double)steps, 100.0 * (diagnosed - plain) / plain);
    fm_optim_free(opt);
    fm_net_free(net);
    free(x);
    free(y);
    free(g);
    return 0;
}
