/* bench_train: fathom's side of the side-by-side benchmark (bench/run.sh).
 *
 * Modes, one JSON line per repetition (per process for --probe), every line
 * with the process's peak resident memory (getrusage ru_maxrss) so far:
 *
 *  train (default)  training throughput. The network (--act hidden layers,
 *                   LeCun-normal weights; softmax output with cross-entropy,
 *                   or a linear output with --loss mse), N random float32
 *                   samples held in memory, plain SGD lr 0.01. A timed step is
 *                   what fm_train does for plain SGD: gather a shuffled
 *                   batch, fm_net_forward, fm_loss_compute with the gradient,
 *                   fm_net_backward_sgd (the backward pass fused with the SGD
 *                   update; ms_optim is then 0); --separate-step times
 *                   fm_net_backward and fm_optim_step instead.
 *  --infer          inference: fm_net_forward (training = 0) on `batch`
 *                   samples per call, each call timed; the median microseconds
 *                   per call is the latency (batch 1), samples/s the
 *                   throughput (batch 1024).
 *  --probe          the time of one probe: fm_net_create (drawing the weights)
 *                   and the first fm_probe on `batch` N(0, 1) samples (what
 *                   `fathom probe` costs), then the median of --reps further
 *                   probes on the warm network. Every layer has --act, as in
 *                   `fathom probe`.
 *  --diagnose       the cost of diagnostics: fm_train with diagnose_every 1
 *                   against 0 on the same network and data, in turns, each
 *                   for --min-seconds. Two callbacks: one that does what
 *                   `fathom train --diagnose 1` adds to the library's
 *                   statistics (a z histogram per layer and one log line per
 *                   step; overhead_pct), and one that discards them, the
 *                   library's share alone (overhead_library_pct).
 *  --sgemm          the bound: the bare cblas_sgemm calls of a training step
 *                   and of a forward pass (same shapes, transposes and leading
 *                   dimensions as src/nn/net.c, nothing else), at batch 1 also
 *                   the forward pass as cblas_sgemv calls, and the activation
 *                   kernels alone; --shapes adds single shapes.
 *
 * Every timed loop runs at least --steps iterations and at least --min-seconds.
 * bench/torch_train.py and bench/fann_train.c are the peers. This is a
 * benchmark, not a test: it asserts nothing about time.
 */
#include "bench_common.h"
#include "blas_kernels.h"

#include <fathom.h>

#include <cblas.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LAYERS 128
/* Most calls whose times --infer keeps for the median (2 MiB of doubles). */
#define MAX_TIMED_CALLS (1 << 18)
/* Bins of the z histograms `fathom train --diagnose` logs, and the fewest
 * steps between two records that carry them (cli/run_log.h). */
#define LOG_HISTOGRAM_BINS 32
#define LOG_HISTOGRAM_STEPS 16

typedef enum bench_mode { MODE_TRAIN, MODE_INFER, MODE_PROBE, MODE_DIAGNOSE, MODE_SGEMM } bench_mode;

static const char *const mode_names[] = {"train", "infer", "probe", "diagnose", "sgemm"};

typedef struct bench_opts {
    bench_mode mode;
    int widths[MAX_LAYERS + 1];
    int n_widths;
    int batch, steps, warmup, threads, reps, shapes;
    int separate_step; /* train: backward, then fm_optim_step (not the fused SGD step) */
    double min_seconds;
    long samples;
    unsigned long long seed;
    fm_activation act; /* hidden layers (every layer for --probe) */
    fm_loss loss;      /* cross-entropy: softmax output; otherwise a linear output */
} bench_opts;



static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench_train [options]\n"
            "  --widths LIST    n_in,h1,...,n_out; WxK stands for K layers of width W\n"
            "                   (default 784,512,512,512,512,10)\n"
            "  --act ACT        hidden activation, as fathom train --act (default selu)\n"
            "  --loss LOSS      cross_entropy (softmax output, default) or mse (linear output)\n"
            "  --batch B        batch size (default 128)\n"
            "  --steps K        timed steps (calls, probes) per repetition, at least (default 100)\n"
            "  --min-seconds S  and at least this long (default 0)\n"
            "  --warmup W       untimed steps before the first repetition (default 10)\n"
            "  --samples N      random samples held in memory (default 8192)\n"
            "  --threads T      openblas_set_num_threads(T) (default 1)\n"
            "  --reps R         repetitions, one JSON line each (default 1)\n"
            "  --seed S         seed of the network and the data (default 1)\n"
            "  --separate-step  train: fm_net_backward + fm_optim_step, not the fused SGD step\n"
            "  --infer          time inference (fm_net_forward, training 0) instead of training\n"
            "  --probe          time network creation and fm_probe\n"
            "  --diagnose       time fm_train with diagnostics every step against none\n"
            "  --sgemm          time the bare sgemm calls of a step and of a forward pass\n"
            "  --shapes         with --sgemm: also single GEMM shapes and a 1024^3 square\n"
            "  --blas-kernels   print the OPENBLAS_CORETYPE the fathom CLI would choose on this\n"
            "                   CPU (\"default\": OpenBLAS's own), and exit\n");
}


static void fill_uniform(float *a, size_t n, fm_rng *rng)
{
    for (size_t i = 0; i < n; i++)
        a[i] = (float)(2.0 * fm_rng_uniform(rng) - 1.0);
}

static int is_classifier(const bench_opts *o)
{
    return o->loss.kind == FM_LOSS_CROSS_ENTROPY;
}

/* Random inputs in [-1, 1] and their targets: class labels for cross-entropy;
 * for regression a smooth function of the inputs (its value does not change
 * the work, but a loss that falls shows the step is a real one). The peers
 * draw the same distributions. */
static int make_data(const bench_opts *o, size_t n, float **x_out, float **y_out, int *width_out, fm_rng *rng)
{
    int n_in = o->widths[0], n_out = o->widths[o->n_widths - 1];
    int width = fm_loss_target_width(&o->loss, n_out);
    float *x = malloc(n * (size_t)n_in * sizeof *x), *y = malloc(n * (size_t)width * sizeof *y);
    if (!x || !y) {
        free(x);
        free(y);
        return -1;
    }
    fill_uniform(x, n * (size_t)n_in, rng);
    for (size_t i = 0; i < n; i++) {
        const float *row = x + i * (size_t)n_in;
        for (int j = 0; j < width; j++)
            y[i * (size_t)width + (size_t)j] = is_classifier(o)
                                                   ? (float)fm_rng_below(rng, (uint64_t)n_out)
                                                   : sinf(3.0f * row[j % n_in]) * row[(j + 1) % n_in];
    }
    *x_out = x;
    *y_out = y;
    *width_out = width;
    return 0;
}

static fm_net *make_net(const bench_opts *o, fm_error *err)
{
    int n_layers = o->n_widths - 1;
    fm_layer_spec specs[MAX_LAYERS];
    fm_init lecun = {FM_INIT_LECUN, 0, 0.0};
    for (int l = 0; l < n_layers; l++) {
        specs[l].n_out = o->widths[l + 1];
        specs[l].act = o->act;
        if (l == n_layers - 1 && o->mode != MODE_PROBE)
            specs[l].act = fm_activation_default(is_classifier(o) ? FM_ACT_SOFTMAX : FM_ACT_LINEAR);
        specs[l].init = lecun;
        specs[l].dropout = 0.0;
    }
    fm_net *net = NULL;
    if (fm_net_create(o->widths[0], specs, n_layers, o->seed, &net, err) != FM_OK)
        return NULL;
    return net;
}

/* FLOPs of the GEMMs of one training step: forward 2*B*in*out and dW
 * 2*B*in*out for every layer, dX 2*B*in*out for every layer but the first. */
static double step_flops(const int *w, int n_layers, int batch)
{
    double f = 0.0;
    for (int l = 0; l < n_layers; l++) {
        double mnk = 2.0 * batch * (double)w[l] * (double)w[l + 1];
        f += 2.0 * mnk + (l > 0 ? mnk : 0.0);
    }
    return f;
}

static double forward_flops(const int *w, int n_layers, int batch)
{
    double f = 0.0;
    for (int l = 0; l < n_layers; l++)
        f += 2.0 * batch * (double)w[l] * (double)w[l + 1];
    return f;
}

/* The start of every JSON line: who, what and on which network. */
static void print_head(const bench_opts *o)
{
    char act[96], loss[64];
    fm_activation_format(&o->act, act, sizeof act);
    fm_loss_format(&o->loss, loss, sizeof loss);
    printf("{\"impl\":\"%s\",\"mode\":\"%s\",\"widths\":[", o->mode == MODE_SGEMM ? "sgemm" : "fathom",
           mode_names[o->mode]);
    for (int i = 0; i < o->n_widths; i++)
        printf("%s%d", i ? "," : "", o->widths[i]);
    printf("],\"act\":\"%s\",\"loss\":\"%s\",\"batch\":%d,\"threads\":%d", act, loss, o->batch, o->threads);
}

/* The end of every JSON line. */
static void print_tail(void)
{
    printf(",\"peak_rss_mb\":%.1f,\"openblas_core\":\"%s\"}\n", bench_peak_rss_mb(), openblas_get_corename());
    fflush(stdout);
}



/* ------------------------------------------------------------ sgemm only */

/* A unit of bare work whose best time per call is wanted. */
typedef enum work_kind {
    WORK_STEP_GEMMS,
    WORK_FORWARD_GEMMS,
    WORK_FORWARD_GEMVS,
    WORK_ACT_FORWARD,
    WORK_ACT_BACKWARD,
    WORK_ONE_GEMM
} work_kind;

/* The memory a network's GEMMs touch, laid out as in fathom: one block of
 * weights (layer after layer, each [out][in]) and one of their gradients,
 * and per layer its input [B][in] and its z / dL/dz [B][out]. Distinct
 * buffers per layer matter: at small batches the weights (4.8 MB for the
 * 784-512x4-10 network) do not fit in the caches, and a bound that reused
 * one buffer for every layer would be a bound of a smaller problem. */
typedef struct work {
    work_kind kind;
    const int *w;
    int n_layers, batch;
    const fm_activation *act;
    float *weights[MAX_LAYERS], *grads[MAX_LAYERS]; /* [out][in] */
    float *input[MAX_LAYERS + 1];                   /* [B][w[l]]; input[L] is the output's a */
    float *delta[MAX_LAYERS];                       /* [B][w[l + 1]] */
    float *a, *b, *c;                               /* scratch for WORK_ONE_GEMM and the activations */
    CBLAS_TRANSPOSE ta, tb;                         /* WORK_ONE_GEMM */
    int m, n, k, lda, ldb, ldc;
} work;

static void do_work(const work *u)
{
    const int *w = u->w;
    const int batch = u->batch;
    switch (u->kind) {
    case WORK_STEP_GEMMS:
    case WORK_FORWARD_GEMMS:
        for (int l = 0; l < u->n_layers; l++) /* forward: z[B][out] += in[B][in] W^T (z holds the bias) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, batch, w[l + 1], w[l], 1.0f, u->input[l], w[l],
                        u->weights[l], w[l], 1.0f, u->input[l + 1], w[l + 1]);
        if (u->kind == WORK_FORWARD_GEMMS)
            break;
        for (int l = u->n_layers - 1; l >= 0; l--) {
            /* dW[out][in] = delta^T in */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, w[l + 1], w[l], batch, 1.0f, u->delta[l], w[l + 1],
                        u->input[l], w[l], 0.0f, u->grads[l], w[l]);
            if (l > 0) /* dX[B][in] = delta W, the previous layer's dL/da */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, batch, w[l], w[l + 1], 1.0f, u->delta[l],
                            w[l + 1], u->weights[l], w[l], 0.0f, u->delta[l - 1], w[l]);
        }
        break;
    case WORK_FORWARD_GEMVS: /* batch 1 as matrix-vector products: z[out] += W[out][in] x[in] */
        for (int l = 0; l < u->n_layers; l++)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, w[l + 1], w[l], 1.0f, u->weights[l], w[l], u->input[l], 1, 1.0f,
                        u->input[l + 1], 1);
        break;
    case WORK_ACT_FORWARD: /* every hidden layer; the output layer's is fused with the loss */
        for (int l = 0; l < u->n_layers - 1; l++)
            fm_act_forward(u->act, u->a, u->c, (size_t)batch * (size_t)w[l + 1]);
        break;
    case WORK_ACT_BACKWARD:
        for (int l = 0; l < u->n_layers - 1; l++)
            fm_act_backward(u->act, u->a, u->b, u->c, (size_t)batch * (size_t)w[l + 1]);
        break;
    case WORK_ONE_GEMM:
        cblas_sgemm(CblasRowMajor, u->ta, u->tb, u->m, u->n, u->k, 1.0f, u->a, u->lda, u->b, u->ldb, 0.0f, u->c,
                    u->ldc);
        break;
    }
}

/* Best mean seconds per call over 4 rounds that together last about
 * `seconds` (the first round is a warm-up that is rarely the best). */
static double best_per_call(const work *u, double seconds)
{
    do_work(u);
    double t0 = bench_now_s();
    do_work(u);
    double once = bench_now_s() - t0;
    long calls = once > 0 ? (long)(seconds / 4.0 / once) : 1000;
    if (calls < 1)
        calls = 1;
    double best = 1e30;
    for (int round = 0; round < 4; round++) {
        t0 = bench_now_s();
        for (long i = 0; i < calls; i++)
            do_work(u);
        double t = (bench_now_s() - t0) / (double)calls;
        if (t < best)
            best = t;
    }
    return best;
}

static double one_gemm_gflops(work *u, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, double seconds)
{
    u->kind = WORK_ONE_GEMM;
    u->ta = ta;
    u->tb = tb;
    u->m = m;
    u->n = n;
    u->k = k;
    u->lda = ta == CblasNoTrans ? k : m;
    u->ldb = tb == CblasNoTrans ? n : k;
    u->ldc = n;
    return 2.0 * m * (double)n * k / best_per_call(u, seconds) * 1e-9;
}

/* Floats of a network's buffers in a work (see struct work). */
static size_t work_floats(const int *w, int n_layers, int batch)
{
    size_t total = 0;
    for (int l = 0; l < n_layers; l++)
        total += 2 * (size_t)w[l] * (size_t)w[l + 1] + (size_t)batch * ((size_t)w[l] + (size_t)w[l + 1]);
    return total + (size_t)batch * (size_t)w[n_layers];
}

static int run_sgemm(const bench_opts *o)
{
    const int *w = o->widths;
    int n_layers = o->n_widths - 1, batch = o->batch;
    int maxw = 0;
    for (int l = 0; l <= n_layers; l++)
        if (w[l] > maxw)
            maxw = w[l];
    /* Scratch for the single shapes (up to 1024^3) and the activations. */
    size_t big = (size_t)maxw * (size_t)(maxw > batch ? maxw : batch);
    if (big < 1024 * 1024)
        big = 1024 * 1024;
    size_t net_floats = work_floats(w, n_layers, batch);
    float *net_mem = malloc(net_floats * sizeof *net_mem);
    float *a = malloc(big * sizeof *a), *b = malloc(big * sizeof *b), *c = malloc(big * sizeof *c);
    if (!net_mem || !a || !b || !c) {
        fprintf(stderr, "bench_train: out of memory\n");
        free(net_mem);
        free(a);
        free(b);
        free(c);
        return 1;
    }
    fm_rng rng;
    fm_rng_seed(&rng, 7);
    fill_uniform(net_mem, net_floats, &rng);
    fill_uniform(a, big, &rng);
    fill_uniform(b, big, &rng);
    memset(c, 0, big * sizeof *c);

    work u;
    memset(&u, 0, sizeof u);
    u.w = w;
    u.n_layers = n_layers;
    u.batch = batch;
    u.act = &o->act;
    u.a = a;
    u.b = b;
    u.c = c;
    float *p = net_mem;
    for (int l = 0; l < n_layers; l++) {
        u.weights[l] = p;
        p += (size_t)w[l] * (size_t)w[l + 1];
    }
    for (int l = 0; l < n_layers; l++) {
        u.grads[l] = p;
        p += (size_t)w[l] * (size_t)w[l + 1];
    }
    for (int l = 0; l <= n_layers; l++) {
        u.input[l] = p;
        p += (size_t)batch * (size_t)w[l];
    }
    for (int l = 0; l < n_layers; l++) {
        u.delta[l] = p;
        p += (size_t)batch * (size_t)w[l + 1];
    }
    /* Each measurement gets a share of the run's time; 0.4 s when none is asked. */
    double share = o->min_seconds > 0 ? o->min_seconds : 0.4;

    u.kind = WORK_STEP_GEMMS;
    double t_step = best_per_call(&u, share);
    u.kind = WORK_FORWARD_GEMMS;
    double t_fwd = best_per_call(&u, share / 2);
    /* At batch 1 a forward pass may use sgemv instead, often faster. */
    u.kind = WORK_FORWARD_GEMVS;
    double t_gemv = batch == 1 ? best_per_call(&u, share / 2) : 0.0;

    /* The element-wise work of a step through the public kernels the network
     * uses, z ~ N(0, 1) (half the SELU units take the exponential branch). */
    for (size_t i = 0; i < big; i++)
        a[i] = (float)fm_rng_normal(&rng);
    u.kind = WORK_ACT_FORWARD;
    double t_act_fwd = n_layers > 1 ? best_per_call(&u, share / 4) : 0.0;
    u.kind = WORK_ACT_BACKWARD;
    double t_act_bwd = n_layers > 1 ? best_per_call(&u, share / 4) : 0.0;

    double flops = step_flops(w, n_layers, batch), fflops = forward_flops(w, n_layers, batch);
    print_head(o);
    printf(",\"step_gemm_s\":%.6e,\"step_gflop\":%.6f,\"step_gemm_gflops\":%.3f,\"gemm_bound_samples_per_s\":%.1f,"
           "\"fwd_gemm_s\":%.6e,\"fwd_gemm_gflops\":%.3f,\"fwd_bound_samples_per_s\":%.1f,\"fwd_bound_us\":%.3f,"
           "\"step_act_forward_ms\":%.4f,\"step_act_backward_ms\":%.4f",
           t_step, flops * 1e-9, flops / t_step * 1e-9, batch / t_step, t_fwd, fflops / t_fwd * 1e-9, batch / t_fwd,
           1e6 * t_fwd, 1e3 * t_act_fwd, 1e3 * t_act_bwd);
    if (batch == 1)
        printf(",\"fwd_gemv_s\":%.6e,\"fwd_gemv_us\":%.3f,\"fwd_gemv_gflops\":%.3f", t_gemv, 1e6 * t_gemv,
               fflops / t_gemv * 1e-9);
    if (o->shapes) {
        int n1 = w[1], k1 = w[0], h = n_layers >= 2 ? w[2] : w[1];
        double sh = share / 4;
        printf(",\"fwd_%dx%dx%d_gflops\":%.3f", batch, n1, k1,
               one_gemm_gflops(&u, CblasNoTrans, CblasTrans, batch, n1, k1, sh));
        printf(",\"fwd_%dx%dx%d_gflops\":%.3f", batch, h, n1,
               one_gemm_gflops(&u, CblasNoTrans, CblasTrans, batch, h, n1, sh));
        printf(",\"dW_%dx%dx%d_gflops\":%.3f", h, n1, batch,
               one_gemm_gflops(&u, CblasTrans, CblasNoTrans, h, n1, batch, sh));
        printf(",\"dX_%dx%dx%d_gflops\":%.3f", batch, n1, h,
               one_gemm_gflops(&u, CblasNoTrans, CblasNoTrans, batch, n1, h, sh));
        printf(",\"square_1024_gflops\":%.3f", one_gemm_gflops(&u, CblasNoTrans, CblasNoTrans, 1024, 1024, 1024, sh));
    }
    print_tail();
    free(net_mem);
    free(a);
    free(b);
    free(c);
    return 0;
}

/* --------------------------------------------------------------- training */

static int run_train(const bench_opts *o)
{
    int n_layers = o->n_widths - 1, n_in = o->widths[0], n_out = o->widths[n_layers], batch = o->batch;
    int rc = 1, width = 1;
    size_t n = (size_t)o->samples;
    float *x = NULL, *y = NULL, *bx = NULL, *by = NULL, *grad = NULL;
    size_t *order = NULL;
    fm_optim *opt = NULL;
    fm_error err;
    fm_net *net = make_net(o, &err);
    fm_optim_config oc = fm_optim_config_default(FM_OPTIM_SGD);
    oc.lr = 0.01;
    if (!net || fm_optim_create(&oc, fm_net_n_params(net), &opt, &err) != FM_OK ||
        fm_net_reserve(net, batch, &err) != FM_OK) {
        fprintf(stderr, "bench_train: %s\n", err.message);
        goto done;
    }
    const fm_activation *out_act = &fm_net_layer(net, n_layers - 1)->act;

    /* Data in memory, a shuffled order, and the batch buffers: all allocated
     * before timing, as a training loop would. */
    fm_rng rng;
    fm_rng_seed(&rng, o->seed ^ 0x9e3779b97f4a7c15ULL);
    order = malloc(n * sizeof *order);
    bx = malloc((size_t)batch * (size_t)n_in * sizeof *bx);
    grad = malloc((size_t)batch * (size_t)n_out * sizeof *grad);
    if (make_data(o, n, &x, &y, &width, &rng) == 0)
        by = malloc((size_t)batch * (size_t)width * sizeof *by);
    if (!x || !order || !bx || !by || !grad) {
        fprintf(stderr, "bench_train: out of memory\n");
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    size_t pos = n; /* forces a shuffle on the first batch */

    double loss_value = 0;
    for (int rep = -1; rep < o->reps; rep++) {
        int k = rep < 0 ? o->warmup : o->steps;
        double min_s = rep < 0 ? 0.0 : o->min_seconds;
        double t_gather = 0, t_fwd = 0, t_loss = 0, t_bwd = 0, t_opt = 0;
        double t_start = bench_now_s(), t_end = t_start;
        long s;
        for (s = 0; s < k || t_end - t_start < min_s; s++) {
            double t0 = bench_now_s();
            if (pos + (size_t)batch > n) { /* new epoch: Fisher-Yates shuffle */
                for (size_t i = n - 1; i > 0; i--) {
                    size_t j = (size_t)fm_rng_below(&rng, i + 1), tmp = order[i];
                    order[i] = order[j];
                    order[j] = tmp;
                }
                pos = 0;
            }
            for (int r = 0; r < batch; r++) {
                size_t i = order[pos + (size_t)r];
                memcpy(bx + (size_t)r * (size_t)n_in, x + i * (size_t)n_in, (size_t)n_in * sizeof *bx);
                memcpy(by + (size_t)r * (size_t)width, y + i * (size_t)width, (size_t)width * sizeof *by);
            }
            pos += (size_t)batch;
            double t1 = bench_now_s();
            fm_status st = fm_net_forward(net, bx, batch, 1, &err);
            double t2 = bench_now_s();
            if (st == FM_OK)
                st = fm_loss_compute(&o->loss, out_act, fm_net_z(net, n_layers - 1), fm_net_output(net), by, batch,
                                     n_out, &loss_value, grad, &err);
            double t3 = bench_now_s();
            if (st == FM_OK)
                st = o->separate_step ? fm_net_backward(net, bx, grad, &err)
                                      : fm_net_backward_sgd(net, bx, grad, (float)oc.lr, &err);
            double t4 = bench_now_s();
            if (st != FM_OK) {
                fprintf(stderr, "bench_train: %s\n", err.message);
                goto done;
            }
            if (o->separate_step)
                fm_optim_step(opt, fm_net_params(net), fm_net_grads(net), oc.lr);
            double t5 = bench_now_s();
            t_gather += t1 - t0;
            t_fwd += t2 - t1;
            t_loss += t3 - t2;
            t_bwd += t4 - t3;
            t_opt += t5 - t4;
            t_end = t5;
        }
        double elapsed = t_end - t_start;
        if (rep < 0)
            continue;
        double flops = step_flops(o->widths, n_layers, batch), steps = (double)s;
        print_head(o);
        printf(",\"steps\":%ld,\"rep\":%d,\"seconds\":%.6f,\"samples_per_s\":%.1f,\"step_ms\":%.5f,\"gflops\":%.3f,"
               "\"ms_gather\":%.5f,\"ms_forward\":%.5f,\"ms_loss\":%.5f,\"ms_backward\":%.5f,\"ms_optim\":%.5f,"
               "\"loss_value\":%.5f,\"data_mb\":%.1f,\"step_kind\":\"%s\"",
               s, rep, elapsed, batch * steps / elapsed, 1e3 * elapsed / steps, flops * steps / elapsed * 1e-9,
               1e3 * t_gather / steps, 1e3 * t_fwd / steps, 1e3 * t_loss / steps, 1e3 * t_bwd / steps,
               1e3 * t_opt / steps, loss_value, (double)n * (n_in + width) * sizeof(float) / 1048576.0,
               o->separate_step ? "separate" : "fused");
        print_tail();
    }
    rc = 0;
done:
    free(x);
    free(y);
    free(order);
    free(bx);
    free(by);
    free(grad);
    fm_optim_free(opt);
    fm_net_free(net);
    return rc;
}

/* -------------------------------------------------------------- inference */

static int run_infer(const bench_opts *o)
{
    int n_in = o->widths[0], batch = o->batch, rc = 1, width;
    size_t n = (size_t)o->samples;
    float *x = NULL, *y = NULL;
    double *times = NULL;
    fm_error err;
    fm_net *net = make_net(o, &err);
    if (!net || fm_net_reserve(net, batch, &err) != FM_OK) {
        fprintf(stderr, "bench_train: %s\n", err.message);
        goto done;
    }
    fm_rng rng;
    fm_rng_seed(&rng, o->seed ^ 0x9e3779b97f4a7c15ULL);
    times = malloc(MAX_TIMED_CALLS * sizeof *times);
    if (make_data(o, n, &x, &y, &width, &rng) != 0 || !times) {
        fprintf(stderr, "bench_train: out of memory\n");
        goto done;
    }
    /* Consecutive calls read different samples, as a server's would. */
    size_t pos = 0;
    volatile float sink = 0.0f;
    for (int rep = -1; rep < o->reps; rep++) {
        int k = rep < 0 ? o->warmup : o->steps;
        double min_s = rep < 0 ? 0.0 : o->min_seconds;
        double t_start = bench_now_s(), t_end = t_start;
        long calls;
        for (calls = 0; (calls < k || t_end - t_start < min_s) && calls < MAX_TIMED_CALLS; calls++) {
            if (pos + (size_t)batch > n)
                pos = 0;
            double t0 = bench_now_s();
            fm_status st = fm_net_forward(net, x + pos * (size_t)n_in, batch, 0, &err);
            if (st != FM_OK) {
                fprintf(stderr, "bench_train: %s\n", err.message);
                goto done;
            }
            sink += fm_net_output(net)[0];
            t_end = bench_now_s();
            times[calls] = t_end - t0;
            pos += (size_t)batch;
        }
        if (rep < 0)
            continue;
        double elapsed = t_end - t_start;
        double median = bench_quantile(times, (size_t)calls, 0.5);
        print_head(o);
        printf(",\"calls\":%ld,\"rep\":%d,\"seconds\":%.6f,\"samples_per_s\":%.1f,\"us_per_call\":%.3f,"
               "\"us_per_call_mean\":%.3f,\"us_per_call_p10\":%.3f,\"us_per_call_p90\":%.3f",
               calls, rep, elapsed, (double)batch * (double)calls / elapsed, 1e6 * median, 1e6 * elapsed / (double)calls,
               1e6 * bench_quantile(times, (size_t)calls, 0.1), 1e6 * bench_quantile(times, (size_t)calls, 0.9));
        print_tail();
    }
    (void)sink;
    rc = 0;
done:
    free(times);
    free(x);
    free(y);
    fm_net_free(net);
    return rc;
}

/* ------------------------------------------------------------------ probe */

static int run_probe(const bench_opts *o)
{
    int n_layers = o->n_widths - 1, n_in = o->widths[0], batch = o->batch, rc = 1;
    fm_net *net = NULL;
    fm_error err;
    fm_rng rng;
    /* N(0, 1) inputs from the seed `fathom probe` derives for them (the
     * network's own seed would draw the first weights again). */
    fm_rng_seed(&rng, o->seed ^ 0x1A7A1A7Aull);
    float *x = malloc((size_t)batch * (size_t)n_in * sizeof *x);
    fm_layer_stats *stats = malloc((size_t)n_layers * sizeof *stats);
    double *warm = malloc((size_t)o->reps * sizeof *warm);
    if (!x || !stats || !warm) {
        fprintf(stderr, "bench_train: out of memory\n");
        goto done;
    }
    for (size_t i = 0; i < (size_t)batch * (size_t)n_in; i++)
        x[i] = (float)fm_rng_normal(&rng);

    double t0 = bench_now_s();
    net = make_net(o, &err);
    double t1 = bench_now_s();
    if (!net || fm_probe(net, x, batch, NULL, o->seed ^ 0x9AD1E47ull, stats, &err) != FM_OK) {
        fprintf(stderr, "bench_train: %s\n", err.message);
        goto done;
    }
    double t2 = bench_now_s();
    double lo = 1e30, hi = 0.0;
    for (int rep = 0; rep < o->reps; rep++) {
        double ts = bench_now_s();
        if (fm_probe(net, x, batch, NULL, o->seed ^ 0x9AD1E47ull, stats, &err) != FM_OK) {
            fprintf(stderr, "bench_train: %s\n", err.message);
            goto done;
        }
        warm[rep] = bench_now_s() - ts;
        lo = warm[rep] < lo ? warm[rep] : lo;
        hi = warm[rep] > hi ? warm[rep] : hi;
    }
    print_head(o);
    /* var_z of the first and last layers: the peers compute the same numbers. */
    printf(",\"create_s\":%.6f,\"first_probe_s\":%.6f,\"cold_s\":%.6f,\"probe_s\":%.6f,\"probe_s_min\":%.6f,"
           "\"probe_s_max\":%.6f,\"warm_reps\":%d,\"var_z_first\":%.6g,\"var_z_last\":%.6g",
           t1 - t0, t2 - t1, t2 - t0, bench_quantile(warm, (size_t)o->reps, 0.5), lo, hi, o->reps, stats[0].var_z,
           stats[n_layers - 1].var_z);
    print_tail();
    rc = 0;
done:
    free(x);
    free(stats);
    free(warm);
    fm_net_free(net);
    return rc;
}

/* ------------------------------------------------------------ diagnostics */

typedef struct diagnose_sink {
    FILE *log;
    fm_net *net;
    int hist_written;
    size_t hist_step;
} diagnose_sink;

/* What `fathom train --diagnose` does with each step's statistics, without
 * cJSON: one line of every column, and a z histogram per layer at most once
 * every LOG_HISTOGRAM_STEPS steps. */
static void on_diagnose(const fm_train_progress *p, const fm_layer_stats *stats, const double *update_ratio,
                        int n_layers, void *user)
{
    diagnose_sink *d = user;
    uint64_t counts[LOG_HISTOGRAM_BINS];
    fm_histogram info;
    int histograms = !d->hist_written || p->step >= d->hist_step + LOG_HISTOGRAM_STEPS;
    if (histograms) {
        d->hist_written = 1;
        d->hist_step = p->step;
    }
    fprintf(d->log, "{\"type\":\"diagnose\",\"step\":%zu,\"loss\":%.17g,\"layers\":[", p->step, p->batch_loss);
    for (int l = 0; l < n_layers; l++) {
        const fm_layer_stats *s = &stats[l];
        fprintf(d->log,
                "%s{\"layer\":%d,\"var_w\":%.17g,\"mean_z\":%.17g,\"var_z\":%.17g,\"mean_a\":%.17g,\"var_a\":%.17g,"
                "\"var_z_linear\":%.17g,\"var_z_meanfield\":%.17g,\"saturated\":%.17g,\"dead\":%.17g,"
                "\"inactive\":%.17g,\"var_delta\":%.17g,\"var_delta_theory\":%.17g,\"grad_w_norm\":%.17g,"
                "\"chi1\":%.17g,\"update_ratio\":%.17g",
                l ? "," : "", s->layer, s->var_w, s->mean_z, s->var_z, s->mean_a, s->var_a, s->var_z_linear,
                s->var_z_meanfield, s->saturated, s->dead, s->inactive, s->var_delta, s->var_delta_theory,
                s->grad_w_norm, s->chi1, update_ratio[l]);
        if (histograms && fm_z_histogram(d->net, l, 0.0, LOG_HISTOGRAM_BINS, counts, &info, NULL) == FM_OK) {
            fprintf(d->log, ",\"z_hist\":{\"range\":%.17g,\"counts\":[", info.range);
            for (int b = 0; b < LOG_HISTOGRAM_BINS; b++)
                fprintf(d->log, "%s%llu", b ? "," : "", (unsigned long long)counts[b]);
            fprintf(d->log, "]}");
        }
        fprintf(d->log, "}");
    }
    fprintf(d->log, "]}\n");
}

/* The library's share alone: statistics, theory and update ratios are
 * computed by fm_train before the callback; this one takes them and goes. */
static void on_diagnose_discard(const fm_train_progress *p, const fm_layer_stats *stats, const double *update_ratio,
                                int n_layers, void *user)
{
    (void)p;
    (void)stats;
    (void)update_ratio;
    (void)n_layers;
    (void)user;
}

/* What a timed fm_train call does with diagnostics. */
enum { DIAG_NONE = 0, DIAG_LIBRARY, DIAG_LOGGED, DIAG_VARIANTS };

/* Seconds of `steps` optimiser steps of fm_train with a DIAG_ variant. */
static double timed_fm_train(fm_net *net, fm_optim *opt, const bench_opts *o, const fm_dataset *ds, int steps,
                             int diagnose, diagnose_sink *sink)
{
    fm_train_options to = fm_train_options_default();
    to.batch = o->batch;
    to.seed = o->seed;
    to.epochs = (int)((size_t)steps * (size_t)o->batch / ds->rows) + 2;
    to.stop_after_step = (size_t)steps;
    if (diagnose != DIAG_NONE) {
        to.diagnose_every = 1;
        to.on_diagnose = diagnose == DIAG_LOGGED ? on_diagnose : on_diagnose_discard;
        to.diagnose_user = sink;
        sink->hist_written = 0; /* each fm_train call counts its steps from 0 */
        sink->hist_step = 0;
    }
    fm_train_result res;
    fm_error err;
    double t0 = bench_now_s();
    fm_status st = fm_train(net, opt, &o->loss, &to, ds, NULL, NULL, NULL, &res, &err);
    double t = bench_now_s() - t0;
    if (st != FM_ERR_STOPPED && st != FM_OK) {
        fprintf(stderr, "bench_train: %s\n", err.message);
        return -1.0;
    }
    return t;
}

/* Calls of fm_train of --steps steps each until --min-seconds have passed
 * (one call at least): seconds, and the steps taken in *steps. Each call
 * allocates its buffers once; --steps large enough makes that negligible. */
static double timed_fm_train_for(fm_net *net, fm_optim *opt, const bench_opts *o, const fm_dataset *ds, int diagnose,
                                 diagnose_sink *sink, long *steps)
{
    double total = 0.0;
    *steps = 0;
    do {
        double t = timed_fm_train(net, opt, o, ds, o->steps, diagnose, sink);
        if (t < 0)
            return -1.0;
        total += t;
        *steps += o->steps;
    } while (total < o->min_seconds);
    return total;
}

static int run_diagnose(const bench_opts *o)
{
    int rc = 1, width = 1;
    float *x = NULL, *y = NULL;
    fm_dataset *ds = NULL;
    fm_optim *opt = NULL;
    fm_error err;
    fm_net *net = make_net(o, &err);
    diagnose_sink sink = {NULL, net, 0, 0};
    fm_optim_config oc = fm_optim_config_default(FM_OPTIM_SGD);
    oc.lr = 0.01;
    if (!net || fm_optim_create(&oc, fm_net_n_params(net), &opt, &err) != FM_OK) {
        fprintf(stderr, "bench_train: %s\n", err.message);
        goto done;
    }
    fm_rng rng;
    fm_rng_seed(&rng, o->seed ^ 0x9e3779b97f4a7c15ULL);
    if (make_data(o, (size_t)o->samples, &x, &y, &width, &rng) != 0 ||
        fm_dataset_alloc((size_t)o->samples, o->widths[0], width, &ds, &err) != FM_OK) {
        fprintf(stderr, "bench_train: out of memory\n");
        goto done;
    }
    memcpy(ds->x, x, (size_t)o->samples * (size_t)o->widths[0] * sizeof *x);
    memcpy(ds->y, y, (size_t)o->samples * (size_t)width * sizeof *y);
    sink.log = fopen("/dev/null", "w");
    if (!sink.log) {
        fprintf(stderr, "bench_train: cannot open /dev/null\n");
        goto done;
    }
    if (o->warmup > 0)
        for (int v = 0; v < DIAG_VARIANTS; v++)
            if (timed_fm_train(net, opt, o, ds, o->warmup, v, &sink) < 0)
                goto done;
    for (int rep = 0; rep < o->reps; rep++) {
        long steps[DIAG_VARIANTS];
        double seconds[DIAG_VARIANTS], rate[DIAG_VARIANTS];
        /* Rotate the order so that a drifting load hits every variant. */
        for (int i = 0; i < DIAG_VARIANTS; i++) {
            int v = (i + rep) % DIAG_VARIANTS;
            seconds[v] = timed_fm_train_for(net, opt, o, ds, v, &sink, &steps[v]);
            if (seconds[v] < 0)
                goto done;
            rate[v] = (double)steps[v] * o->batch / seconds[v];
        }
        print_head(o);
        /* overhead: extra time per step, in % of a step without diagnostics. */
        printf(",\"steps\":%ld,\"rep\":%d,\"seconds\":%.6f,\"samples_per_s\":%.1f,"
               "\"samples_per_s_diagnose\":%.1f,\"samples_per_s_diagnose_library\":%.1f,"
               "\"overhead_pct\":%.2f,\"overhead_library_pct\":%.2f",
               steps[DIAG_NONE], rep, seconds[DIAG_NONE], rate[DIAG_NONE], rate[DIAG_LOGGED], rate[DIAG_LIBRARY],
               100.0 * (rate[DIAG_NONE] / rate[DIAG_LOGGED] - 1.0), 100.0 * (rate[DIAG_NONE] / rate[DIAG_LIBRARY] - 1.0));
        print_tail();
    }
    rc = 0;
done:
    if (sink.log)
        fclose(sink.log);
    free(x);
    free(y);
    fm_dataset_free(ds);
    fm_optim_free(opt);
    fm_net_free(net);
    return rc;
}

/* ------------------------------------------------------------------- main */

int main(int argc, char **argv)
{
    bench_opts o;
    memset(&o, 0, sizeof o);
    o.mode = MODE_TRAIN;
    o.n_widths = bench_parse_widths("784,512x4,10", o.widths, MAX_LAYERS + 1, FM_MAX_WIDTH);
    o.batch = 128;
    o.steps = 100;
    o.warmup = 10;
    o.threads = 1;
    o.reps = 1;
    o.samples = 8192;
    o.seed = 1;
    o.act = fm_activation_default(FM_ACT_SELU);
    o.loss.kind = FM_LOSS_CROSS_ENTROPY;
    o.loss.delta = 1.0;
    enum { O_MIN_SECONDS = 256, O_INFER, O_PROBE, O_DIAGNOSE, O_SHAPES, O_SEPARATE, O_BLAS_KERNELS };
    static const struct option opts[] = {
        {"widths", required_argument, 0, 'w'},  {"batch", required_argument, 0, 'b'},
        {"steps", required_argument, 0, 'k'},   {"warmup", required_argument, 0, 'W'},
        {"samples", required_argument, 0, 'n'}, {"threads", required_argument, 0, 't'},
        {"reps", required_argument, 0, 'r'},    {"sgemm", no_argument, 0, 'g'},
        {"seed", required_argument, 0, 's'},    {"act", required_argument, 0, 'a'},
        {"loss", required_argument, 0, 'l'},    {"min-seconds", required_argument, 0, O_MIN_SECONDS},
        {"infer", no_argument, 0, O_INFER},     {"probe", no_argument, 0, O_PROBE},
        {"diagnose", no_argument, 0, O_DIAGNOSE}, {"shapes", no_argument, 0, O_SHAPES},
        {"separate-step", no_argument, 0, O_SEPARATE}, {"blas-kernels", no_argument, 0, O_BLAS_KERNELS},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    fm_error err;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'w':
            o.n_widths = bench_parse_widths(optarg, o.widths, MAX_LAYERS + 1, FM_MAX_WIDTH);
            if (o.n_widths < 2) {
                fprintf(stderr, "bench_train: bad --widths \"%s\" (at most %d layers)\n", optarg, MAX_LAYERS);
                return 2;
            }
            break;
        case 'a':
            if (fm_activation_parse(optarg, &o.act, &err) != FM_OK || o.act.kind == FM_ACT_SOFTMAX) {
                fprintf(stderr, "bench_train: bad --act \"%s\"\n", optarg);
                return 2;
            }
            break;
        case 'l':
            if (fm_loss_parse(optarg, &o.loss, &err) != FM_OK ||
                (o.loss.kind != FM_LOSS_CROSS_ENTROPY && o.loss.kind != FM_LOSS_MSE)) {
                fprintf(stderr, "bench_train: --loss is cross_entropy or mse\n");
                return 2;
            }
            break;
        case 'b': o.batch = atoi(optarg); break;
        case 'k': o.steps = atoi(optarg); break;
        case 'W': o.warmup = atoi(optarg); break;
        case 'n': o.samples = atol(optarg); break;
        case 't': o.threads = atoi(optarg); break;
        case 'r': o.reps = atoi(optarg); break;
        case 's': o.seed = strtoull(optarg, NULL, 10); break;
        case 'g': o.mode = MODE_SGEMM; break;
        case O_INFER: o.mode = MODE_INFER; break;
        case O_PROBE: o.mode = MODE_PROBE; break;
        case O_DIAGNOSE: o.mode = MODE_DIAGNOSE; break;
        case O_SHAPES: o.shapes = 1; break;
        case O_SEPARATE: o.separate_step = 1; break;
        case O_MIN_SECONDS: o.min_seconds = atof(optarg); break;
        case O_BLAS_KERNELS: {
            /* What the fathom CLI would set OPENBLAS_CORETYPE to, for bench/run.sh. */
            const char *kernels = cli_blas_kernels_for_cpu();
            printf("%s\n", kernels ? kernels : "default");
            return 0;
        }
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (o.batch <= 0 || o.steps <= 0 || o.warmup < 0 || o.threads <= 0 || o.reps <= 0 || o.min_seconds < 0 ||
        (o.mode != MODE_PROBE && o.mode != MODE_SGEMM && o.samples < o.batch)) {
        fprintf(stderr, "bench_train: need batch, steps, threads, reps > 0 and samples >= batch\n");
        usage(stderr);
        return 2;
    }
    openblas_set_num_threads(o.threads);
    switch (o.mode) {
    case MODE_SGEMM: return run_sgemm(&o);
    case MODE_INFER: return run_infer(&o);
    case MODE_PROBE: return run_probe(&o);
    case MODE_DIAGNOSE: return run_diagnose(&o);
    case MODE_TRAIN: break;
    }
    return run_train(&o);
}
