/* bench_train: training throughput of a dense network in fathom, and the
 * throughput of the bare cblas_sgemm calls a training step makes.
 *
 * It builds the network (SELU hidden layers, LeCun-normal weights, softmax
 * output, cross-entropy, plain SGD lr 0.01), fills N random float32 samples
 * and labels 0..n_out-1 in memory, warms up, then times `steps` full training
 * steps (gather a shuffled batch, fm_net_forward, fm_loss_compute with the
 * gradient, fm_net_backward, fm_optim_step) with clock_gettime(CLOCK_MONOTONIC).
 * Each repetition prints one JSON line. bench/torch_train.py is its PyTorch
 * twin; bench/run.sh runs the two side by side.
 *
 * With --sgemm it also times the same cblas_sgemm calls a step makes (same
 * shapes, transposes and leading dimensions, nothing else) and a few single
 * shapes, so the training rate can be stated as a fraction of the GEMM bound.
 *
 * This is a benchmark, not a test: it asserts nothing about time.
 */
#include <fathom.h>

#include <cblas.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_LAYERS 64

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench_train [options]\n"
            "  --widths LIST    n_in,h1,...,n_out (default 784,512,512,512,512,10)\n"
            "  --batch B        batch size (default 128)\n"
            "  --steps K        timed training steps per repetition (default 100)\n"
            "  --warmup W       untimed steps before the first repetition (default 10)\n"
            "  --samples N      random samples held in memory (default 8192)\n"
            "  --threads T      openblas_set_num_threads(T) (default 1)\n"
            "  --reps R         repetitions, one JSON line each (default 1)\n"
            "  --sgemm          also time the bare sgemm calls of a step (one JSON line)\n"
            "  --seed S         seed of the network and the data (default 1)\n");
}

static int parse_widths(const char *s, int *w, int max)
{
    int n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v <= 0 || v > FM_MAX_WIDTH || n >= max)
            return -1;
        w[n++] = (int)v;
        p = end;
        if (*p == ',')
            p++;
        else if (*p)
            return -1;
    }
    return n;
}

static void fill_uniform(float *a, size_t n, fm_rng *rng)
{
    for (size_t i = 0; i < n; i++)
        a[i] = (float)(2.0 * fm_rng_uniform(rng) - 1.0);
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

static void print_widths(const int *w, int n)
{
    printf("\"widths\":[");
    for (int i = 0; i < n; i++)
        printf("%s%d", i ? "," : "", w[i]);
    printf("]");
}

/* ------------------------------------------------------------ sgemm only */

/* Mean seconds per call of one GEMM repeated for at least min_seconds. */
static double time_gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, const float *a, int lda,
                        const float *b, int ldb, float *c, int ldc, double min_seconds)
{
    cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc); /* warm */
    long calls = 0;
    double t0 = now_s(), t;
    do {
        cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
        calls++;
        t = now_s() - t0;
    } while (t < min_seconds);
    return t / (double)calls;
}

static int run_sgemm(const int *w, int n_layers, int batch, int threads, int steps)
{
    int maxw = 0;
    for (int l = 0; l <= n_layers; l++)
        if (w[l] > maxw)
            maxw = w[l];
    size_t big = (size_t)maxw * (size_t)(maxw > batch ? maxw : batch);
    size_t sq = 1024 * 1024;
    if (big < sq)
        big = sq;
    float *a = malloc(big * sizeof *a), *b = malloc(big * sizeof *b), *c = malloc(big * sizeof *c);
    if (!a || !b || !c) {
        fprintf(stderr, "bench_train: out of memory\n");
        return 1;
    }
    fm_rng rng;
    fm_rng_seed(&rng, 7);
    fill_uniform(a, big, &rng);
    fill_uniform(b, big, &rng);
    memset(c, 0, big * sizeof *c);

    /* The GEMMs of one step exactly as src/nn/net.c issues them. */
    double best = 1e30;
    for (int rep = 0; rep < 4; rep++) { /* the first is a warm-up that is rarely the best */
        double t0 = now_s();
        for (int s = 0; s < steps; s++) {
            for (int l = 0; l < n_layers; l++) /* forward: z[B][out] += in[B][in] W^T */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, batch, w[l + 1], w[l], 1.0f, a, w[l], b, w[l],
                            1.0f, c, w[l + 1]);
            for (int l = n_layers - 1; l >= 0; l--) {
                /* dW[out][in] = delta^T in */
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, w[l + 1], w[l], batch, 1.0f, a, w[l + 1], b,
                            w[l], 0.0f, c, w[l]);
                if (l > 0) /* dX[B][in] = delta W */
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, batch, w[l], w[l + 1], 1.0f, a, w[l + 1],
                                b, w[l], 0.0f, c, w[l]);
            }
        }
        double t = (now_s() - t0) / steps;
        if (t < best)
            best = t;
    }
    double flops = step_flops(w, n_layers, batch);

    /* The element-wise SELU work of a step, through the public kernels the
     * network uses: forward on every hidden layer, backward on every hidden
     * layer (the output layer's softmax is fused with the loss). */
    fm_activation selu = fm_activation_default(FM_ACT_SELU);
    for (size_t i = 0; i < big; i++)
        a[i] = (float)(fm_rng_normal(&rng)); /* z ~ N(0,1): half the units take the exp branch */
    double act_fwd = 1e30, act_bwd = 1e30;
    for (int rep = 0; rep < 4; rep++) {
        double t0 = now_s();
        for (int s = 0; s < steps; s++)
            for (int l = 0; l < n_layers - 1; l++)
                fm_act_forward(&selu, a, c, (size_t)batch * (size_t)w[l + 1]);
        double t1 = now_s();
        for (int s = 0; s < steps; s++)
            for (int l = 0; l < n_layers - 1; l++)
                fm_act_backward(&selu, a, b, c, (size_t)batch * (size_t)w[l + 1]);
        double t2 = now_s();
        if ((t1 - t0) / steps < act_fwd)
            act_fwd = (t1 - t0) / steps;
        if ((t2 - t1) / steps < act_bwd)
            act_bwd = (t2 - t1) / steps;
    }

    int n1 = w[1], k1 = w[0], h = n_layers >= 2 ? w[2] : w[1];
    double min_s = 0.2;
    double t_fwd1 = time_gemm(CblasNoTrans, CblasTrans, batch, n1, k1, a, k1, b, k1, c, n1, min_s);
    double t_fwdh = time_gemm(CblasNoTrans, CblasTrans, batch, h, n1, a, n1, b, n1, c, h, min_s);
    double t_dwh = time_gemm(CblasTrans, CblasNoTrans, h, n1, batch, a, h, b, n1, c, n1, min_s);
    double t_dxh = time_gemm(CblasNoTrans, CblasNoTrans, batch, n1, h, a, h, b, n1, c, n1, min_s);
    double t_sq = time_gemm(CblasNoTrans, CblasNoTrans, 1024, 1024, 1024, a, 1024, b, 1024, c, 1024, min_s);

    printf("{\"impl\":\"sgemm\",");
    print_widths(w, n_layers + 1);
    printf(",\"batch\":%d,\"threads\":%d,\"step_gemm_s\":%.6e,\"step_gflop\":%.6f,"
           "\"step_gemm_gflops\":%.3f,\"gemm_bound_samples_per_s\":%.1f,"
           "\"fwd_%dx%dx%d_gflops\":%.3f,\"fwd_%dx%dx%d_gflops\":%.3f,"
           "\"dW_%dx%dx%d_gflops\":%.3f,\"dX_%dx%dx%d_gflops\":%.3f,\"square_1024_gflops\":%.3f,"
           "\"step_selu_forward_ms\":%.4f,\"step_selu_backward_ms\":%.4f,\"openblas_core\":\"%s\"}\n",
           batch, threads, best, flops * 1e-9, flops / best * 1e-9, batch / best,
           batch, n1, k1, 2.0 * batch * n1 * k1 / t_fwd1 * 1e-9,
           batch, h, n1, 2.0 * batch * h * n1 / t_fwdh * 1e-9,
           h, n1, batch, 2.0 * batch * h * n1 / t_dwh * 1e-9,
           batch, n1, h, 2.0 * batch * h * n1 / t_dxh * 1e-9,
           2.0 * 1024.0 * 1024.0 * 1024.0 / t_sq * 1e-9, 1e3 * act_fwd, 1e3 * act_bwd, openblas_get_corename());
    fflush(stdout);
    free(a);
    free(b);
    free(c);
    return 0;
}

/* --------------------------------------------------------------- training */

int main(int argc, char **argv)
{
    int widths[MAX_LAYERS + 1] = {784, 512, 512, 512, 512, 10};
    int n_widths = 6;
    int batch = 128, steps = 100, warmup = 10, threads = 1, reps = 1, do_sgemm = 0;
    long samples = 8192;
    unsigned long long seed = 1;
    static const struct option opts[] = {
        {"widths", required_argument, 0, 'w'}, {"batch", required_argument, 0, 'b'},
        {"steps", required_argument, 0, 'k'},  {"warmup", required_argument, 0, 'W'},
        {"samples", required_argument, 0, 'n'}, {"threads", required_argument, 0, 't'},
        {"reps", required_argument, 0, 'r'},   {"sgemm", no_argument, 0, 'g'},
        {"seed", required_argument, 0, 's'},   {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'w':
            n_widths = parse_widths(optarg, widths, MAX_LAYERS + 1);
            if (n_widths < 2) {
                fprintf(stderr, "bench_train: bad --widths \"%s\"\n", optarg);
                return 2;
            }
            break;
        case 'b': batch = atoi(optarg); break;
        case 'k': steps = atoi(optarg); break;
        case 'W': warmup = atoi(optarg); break;
        case 'n': samples = atol(optarg); break;
        case 't': threads = atoi(optarg); break;
        case 'r': reps = atoi(optarg); break;
        case 'g': do_sgemm = 1; break;
        case 's': seed = strtoull(optarg, NULL, 10); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (batch <= 0 || steps <= 0 || warmup < 0 || threads <= 0 || reps <= 0 || samples < batch) {
        fprintf(stderr, "bench_train: need batch, steps, threads, reps > 0 and samples >= batch\n");
        usage(stderr);
        return 2;
    }
    openblas_set_num_threads(threads);
    int n_layers = n_widths - 1, n_in = widths[0], n_out = widths[n_layers];

    if (do_sgemm)
        return run_sgemm(widths, n_layers, batch, threads, steps);

    fm_layer_spec specs[MAX_LAYERS];
    fm_init lecun = {FM_INIT_LECUN, 0, 0.0};
    for (int l = 0; l < n_layers; l++) {
        specs[l].n_out = widths[l + 1];
        specs[l].act = fm_activation_default(l == n_layers - 1 ? FM_ACT_SOFTMAX : FM_ACT_SELU);
        specs[l].init = lecun;
        specs[l].dropout = 0.0;
    }
    fm_error err;
    fm_net *net = NULL;
    fm_optim *opt = NULL;
    if (fm_net_create(n_in, specs, n_layers, seed, &net, &err) != FM_OK) {
        fprintf(stderr, "bench_train: %s\n", err.message);
        return 1;
    }
    fm_optim_config oc = fm_optim_config_default(FM_OPTIM_SGD);
    oc.lr = 0.01;
    if (fm_optim_create(&oc, fm_net_n_params(net), &opt, &err) != FM_OK ||
        fm_net_reserve(net, batch, &err) != FM_OK) {
        fprintf(stderr, "bench_train: %s\n", err.message);
        return 1;
    }
    fm_loss loss = {FM_LOSS_CROSS_ENTROPY, 1.0};
    const fm_activation *out_act = &fm_net_layer(net, n_layers - 1)->act;

    /* Data in memory, a shuffled order, and the batch buffers: all allocated
     * before timing, as a training loop would. */
    size_t n = (size_t)samples;
    float *x = malloc(n * (size_t)n_in * sizeof *x);
    float *y = malloc(n * sizeof *y);
    size_t *order = malloc(n * sizeof *order);
    float *bx = malloc((size_t)batch * (size_t)n_in * sizeof *bx);
    float *by = malloc((size_t)batch * sizeof *by);
    float *grad = malloc((size_t)batch * (size_t)n_out * sizeof *grad);
    if (!x || !y || !order || !bx || !by || !grad) {
        fprintf(stderr, "bench_train: out of memory\n");
        return 1;
    }
    fm_rng rng;
    fm_rng_seed(&rng, seed ^ 0x9e3779b97f4a7c15ULL);
    fill_uniform(x, n * (size_t)n_in, &rng);
    for (size_t i = 0; i < n; i++) {
        y[i] = (float)fm_rng_below(&rng, (uint64_t)n_out);
        order[i] = i;
    }
    size_t pos = n; /* forces a shuffle on the first batch */

    double t_gather = 0, t_fwd = 0, t_loss = 0, t_bwd = 0, t_opt = 0, loss_value = 0;
    for (int rep = -1; rep < reps; rep++) {
        int k = rep < 0 ? warmup : steps;
        t_gather = t_fwd = t_loss = t_bwd = t_opt = 0;
        double t_start = now_s();
        for (int s = 0; s < k; s++) {
            double t0 = now_s();
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
                by[r] = y[i];
            }
            pos += (size_t)batch;
            double t1 = now_s();
            fm_status st = fm_net_forward(net, bx, batch, 1, &err);
            double t2 = now_s();
            if (st == FM_OK)
                st = fm_loss_compute(&loss, out_act, fm_net_z(net, n_layers - 1), fm_net_output(net), by, batch,
                                     n_out, &loss_value, grad, &err);
            double t3 = now_s();
            if (st == FM_OK)
                st = fm_net_backward(net, bx, grad, &err);
            double t4 = now_s();
            if (st != FM_OK) {
                fprintf(stderr, "bench_train: %s\n", err.message);
                return 1;
            }
            fm_optim_step(opt, fm_net_params(net), fm_net_grads(net), oc.lr);
            double t5 = now_s();
            t_gather += t1 - t0;
            t_fwd += t2 - t1;
            t_loss += t3 - t2;
            t_bwd += t4 - t3;
            t_opt += t5 - t4;
        }
        double elapsed = now_s() - t_start;
        if (rep < 0)
            continue;
        double flops = step_flops(widths, n_layers, batch);
        printf("{\"impl\":\"fathom\",");
        print_widths(widths, n_widths);
        printf(",\"batch\":%d,\"threads\":%d,\"steps\":%d,\"rep\":%d,\"seconds\":%.6f,\"samples_per_s\":%.1f,"
               "\"step_ms\":%.4f,\"gflops\":%.3f,\"ms_gather\":%.4f,\"ms_forward\":%.4f,\"ms_loss\":%.4f,"
               "\"ms_backward\":%.4f,\"ms_optim\":%.4f,\"loss\":%.5f,\"openblas_core\":\"%s\"}\n",
               batch, threads, steps, rep, elapsed, (double)batch * steps / elapsed, 1e3 * elapsed / steps,
               flops * steps / elapsed * 1e-9, 1e3 * t_gather / steps, 1e3 * t_fwd / steps, 1e3 * t_loss / steps,
               1e3 * t_bwd / steps, 1e3 * t_opt / steps, loss_value, openblas_get_corename());
        fflush(stdout);
    }
    free(x);
    free(y);
    free(order);
    free(bx);
    free(by);
    free(grad);
    fm_optim_free(opt);
    fm_net_free(net);
    return 0;
}
