/* fann_train: the FANN peer of bench/bench_train.c (FANN 2.2, float build).
 *
 * The same networks as fathom's side as far as FANN can build them:
 *  - hidden layers: FANN has no SELU (nor ReLU or ELU), so "selu" and "tanh"
 *    both give FANN_SIGMOID_SYMMETRIC with steepness 1, which is tanh(z): the
 *    closest activation it has, and like SELU one exponential per unit;
 *    "elliot" gives FANN_ELLIOT_SYMMETRIC (z / (1 + |z|), no exponential);
 *  - output: FANN has no softmax, so a classifier gets FANN_SIGMOID outputs
 *    trained with squared error against one-hot targets, FANN's usual setup;
 *    a regression network (--loss mse) gets FANN_LINEAR outputs;
 *  - a bias on every unit, LeCun-uniform weights U(+-sqrt(3 / n_in)), zero
 *    biases; plain gradient descent, learning rate 0.01, no momentum, the
 *    linear error function (FANN's default tanh error function is not plain
 *    squared error);
 *  - float32 data held in memory, the same distributions as bench_train.
 *
 * Training is FANN's per-sample (online) fann_train on each sample of a
 * shuffled order: that is FANN's throughput as its users get it. --batch B
 * only groups B samples into a "step" for the clock. --mode batch instead
 * trains mini-batches: fann_train_epoch with FANN_TRAIN_BATCH on a B-sample
 * fann_train_data, which is mini-batch SGD with the mean gradient.
 * --infer times fann_run: one sample per call at batch 1, a loop of B calls
 * per "call" at batch B. FANN is single-threaded (threads is always 1).
 *
 * One JSON line per repetition, with the process's peak resident memory.
 */
#include "bench_common.h"

#include <floatfann.h>

#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LAYERS 128
#define MAX_TIMED_CALLS (1 << 18)

typedef struct fann_opts {
    unsigned int widths[MAX_LAYERS + 1];
    int n_widths;
    int batch, steps, warmup, reps, infer, minibatch, classifier;
    double min_seconds;
    long samples;
    uint64_t seed;
    const char *act_requested;
    enum fann_activationfunc_enum hidden_act;
} fann_opts;



/* splitmix64: a private generator, so that this program needs only FANN. */
static uint64_t next_u64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double uniform01(uint64_t *state)
{
    return (double)(next_u64(state) >> 11) * 0x1.0p-53;
}

/* bench_parse_widths into FANN's unsigned layer sizes. */
static int parse_widths(const char *s, unsigned int *w, int max)
{
    int tmp[MAX_LAYERS + 1];
    int n = bench_parse_widths(s, tmp, max < MAX_LAYERS + 1 ? max : MAX_LAYERS + 1, 1000000);
    for (int i = 0; i < n; i++)
        w[i] = (unsigned int)tmp[i];
    return n;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: fann_train [options]\n"
               "  --widths LIST    n_in,h1,...,n_out; WxK for K layers of width W (default 784,512x4,10)\n"
               "  --act ACT        selu or tanh (FANN_SIGMOID_SYMMETRIC, steepness 1), elliot (default selu)\n"
               "  --loss LOSS      cross_entropy (sigmoid outputs, one-hot targets) or mse (linear output)\n"
               "  --batch B        samples per timed step, or per call with --infer (default 128)\n"
               "  --mode MODE      online (fann_train per sample, default) or batch (FANN_TRAIN_BATCH)\n"
               "  --steps K        timed steps per repetition, at least (default 100)\n"
               "  --min-seconds S  and at least this long (default 0)\n"
               "  --warmup W       untimed steps first (default 10)\n"
               "  --samples N      random samples held in memory (default 8192)\n"
               "  --reps R         repetitions, one JSON line each (default 1)\n"
               "  --threads T      accepted for symmetry; FANN runs on one thread\n"
               "  --seed S         seed (default 1)\n"
               "  --infer          time fann_run instead of training\n");
}

/* LeCun uniform weights into every unit, zero biases. This walks FANN's
 * public layer and neuron structs, as FANN's own fann_randomize_weights does:
 * fann_set_weight_array searches the whole network for each connection, which
 * takes hours on a million weights. Each layer ends with its bias neuron. */
static void init_weights(struct fann *ann, uint64_t *rng)
{
    for (struct fann_layer *layer = ann->first_layer + 1; layer != ann->last_layer; layer++) {
        const struct fann_layer *prev = layer - 1;
        const struct fann_neuron *bias = prev->last_neuron - 1;
        unsigned int fan_in = (unsigned int)(prev->last_neuron - prev->first_neuron) - 1;
        double limit = sqrt(3.0 / fan_in);
        for (struct fann_neuron *unit = layer->first_neuron; unit != layer->last_neuron; unit++)
            for (unsigned int i = unit->first_con; i < unit->last_con; i++)
                ann->weights[i] =
                    ann->connections[i] == bias ? 0.0f : (fann_type)((2.0 * uniform01(rng) - 1.0) * limit);
    }
}

static void print_head(const fann_opts *o, struct fann *ann)
{
    printf("{\"impl\":\"fann\",\"mode\":\"%s\",\"widths\":[", o->infer ? "infer" : "train");
    for (int i = 0; i < o->n_widths; i++)
        printf("%s%u", i ? "," : "", o->widths[i]);
    printf("],\"act\":\"%s\",\"fann_hidden\":\"%s\",\"fann_output\":\"%s\",\"loss\":\"%s\",\"training\":\"%s\","
           "\"batch\":%d,\"threads\":1",
           o->act_requested, FANN_ACTIVATIONFUNC_NAMES[o->hidden_act],
           FANN_ACTIVATIONFUNC_NAMES[fann_get_activation_function(ann, o->n_widths - 1, 0)],
           o->classifier ? "cross_entropy" : "mse", o->minibatch ? "batch" : "online", o->batch);
}

static void print_tail(void)
{
    printf(",\"peak_rss_mb\":%.1f,\"fann\":\"2.2\"}\n", bench_peak_rss_mb());
    fflush(stdout);
}



static int run_train(const fann_opts *o, struct fann *ann, const float *x, const float *y, size_t n, uint64_t *rng)
{
    unsigned int n_in = o->widths[0], n_out = o->widths[o->n_widths - 1];
    size_t *order = malloc(n * sizeof *order);
    struct fann_train_data *td = o->minibatch ? fann_create_train((unsigned)o->batch, n_in, n_out) : NULL;
    if (!order || (o->minibatch && !td)) {
        fprintf(stderr, "fann_train: out of memory\n");
        free(order);
        if (td)
            fann_destroy_train(td);
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    size_t pos = n;
    float mse = 0.0f;
    for (int rep = -1; rep < o->reps; rep++) {
        int k = rep < 0 ? o->warmup : o->steps;
        double min_s = rep < 0 ? 0.0 : o->min_seconds;
        fann_reset_MSE(ann);
        double t_start = bench_now_s(), t_end = t_start;
        long s;
        for (s = 0; s < k || t_end - t_start < min_s; s++) {
            if (pos + (size_t)o->batch > n) {
                for (size_t i = n - 1; i > 0; i--) {
                    size_t j = (size_t)(next_u64(rng) % (i + 1)), tmp = order[i];
                    order[i] = order[j];
                    order[j] = tmp;
                }
                pos = 0;
            }
            if (o->minibatch) {
                for (int r = 0; r < o->batch; r++) {
                    size_t i = order[pos + (size_t)r];
                    memcpy(td->input[r], x + i * n_in, n_in * sizeof(float));
                    memcpy(td->output[r], y + i * n_out, n_out * sizeof(float));
                }
                mse = fann_train_epoch(ann, td);
            } else {
                for (int r = 0; r < o->batch; r++) {
                    size_t i = order[pos + (size_t)r];
                    fann_train(ann, (fann_type *)(x + i * n_in), (fann_type *)(y + i * n_out));
                }
            }
            pos += (size_t)o->batch;
            t_end = bench_now_s();
        }
        if (rep < 0)
            continue;
        if (!o->minibatch)
            mse = fann_get_MSE(ann);
        double elapsed = t_end - t_start;
        print_head(o, ann);
        printf(",\"steps\":%ld,\"rep\":%d,\"seconds\":%.6f,\"samples_per_s\":%.1f,\"step_ms\":%.5f,"
               "\"loss_value\":%.5f,\"data_mb\":%.1f",
               s, rep, elapsed, (double)o->batch * (double)s / elapsed, 1e3 * elapsed / (double)s, mse,
               (double)n * (n_in + n_out) * sizeof(float) / 1048576.0);
        print_tail();
    }
    if (td)
        fann_destroy_train(td);
    free(order);
    return 0;
}

static int run_infer(const fann_opts *o, struct fann *ann, const float *x, size_t n)
{
    unsigned int n_in = o->widths[0];
    double *times = malloc(MAX_TIMED_CALLS * sizeof *times);
    if (!times) {
        fprintf(stderr, "fann_train: out of memory\n");
        return 1;
    }
    size_t pos = 0;
    volatile float sink = 0.0f;
    for (int rep = -1; rep < o->reps; rep++) {
        int k = rep < 0 ? o->warmup : o->steps;
        double min_s = rep < 0 ? 0.0 : o->min_seconds;
        double t_start = bench_now_s(), t_end = t_start;
        long calls;
        for (calls = 0; (calls < k || t_end - t_start < min_s) && calls < MAX_TIMED_CALLS; calls++) {
            if (pos + (size_t)o->batch > n)
                pos = 0;
            double t0 = bench_now_s();
            for (int r = 0; r < o->batch; r++)
                sink += fann_run(ann, (fann_type *)(x + (pos + (size_t)r) * n_in))[0];
            t_end = bench_now_s();
            times[calls] = t_end - t0;
            pos += (size_t)o->batch;
        }
        if (rep < 0)
            continue;
        double elapsed = t_end - t_start;
        double median = bench_quantile(times, (size_t)calls, 0.5);
        print_head(o, ann);
        printf(",\"calls\":%ld,\"rep\":%d,\"seconds\":%.6f,\"samples_per_s\":%.1f,\"us_per_call\":%.3f,"
               "\"us_per_call_mean\":%.3f,\"us_per_call_p10\":%.3f,\"us_per_call_p90\":%.3f",
               calls, rep, elapsed, (double)o->batch * (double)calls / elapsed, 1e6 * median,
               1e6 * elapsed / (double)calls, 1e6 * bench_quantile(times, (size_t)calls, 0.1),
               1e6 * bench_quantile(times, (size_t)calls, 0.9));
        print_tail();
    }
    (void)sink;
    free(times);
    return 0;
}

int main(int argc, char **argv)
{
    fann_opts o;
    memset(&o, 0, sizeof o);
    o.n_widths = parse_widths("784,512x4,10", o.widths, MAX_LAYERS + 1);
    o.batch = 128;
    o.steps = 100;
    o.warmup = 10;
    o.reps = 1;
    o.samples = 8192;
    o.seed = 1;
    o.classifier = 1;
    o.act_requested = "selu";
    o.hidden_act = FANN_SIGMOID_SYMMETRIC;
    enum { O_MIN_SECONDS = 256, O_INFER, O_MODE };
    static const struct option opts[] = {
        {"widths", required_argument, 0, 'w'}, {"batch", required_argument, 0, 'b'},
        {"steps", required_argument, 0, 'k'},  {"warmup", required_argument, 0, 'W'},
        {"samples", required_argument, 0, 'n'}, {"threads", required_argument, 0, 't'},
        {"reps", required_argument, 0, 'r'},   {"seed", required_argument, 0, 's'},
        {"act", required_argument, 0, 'a'},    {"loss", required_argument, 0, 'l'},
        {"min-seconds", required_argument, 0, O_MIN_SECONDS}, {"infer", no_argument, 0, O_INFER},
        {"mode", required_argument, 0, O_MODE}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'w':
            o.n_widths = parse_widths(optarg, o.widths, MAX_LAYERS + 1);
            if (o.n_widths < 2) {
                fprintf(stderr, "fann_train: bad --widths \"%s\"\n", optarg);
                return 2;
            }
            break;
        case 'a':
            if (strcmp(optarg, "selu") == 0 || strcmp(optarg, "tanh") == 0) {
                o.hidden_act = FANN_SIGMOID_SYMMETRIC;
            } else if (strcmp(optarg, "elliot") == 0) {
                o.hidden_act = FANN_ELLIOT_SYMMETRIC;
            } else {
                fprintf(stderr, "fann_train: --act is selu, tanh or elliot\n");
                return 2;
            }
            o.act_requested = optarg;
            break;
        case 'l':
            if (strcmp(optarg, "mse") == 0) {
                o.classifier = 0;
            } else if (strcmp(optarg, "cross_entropy") == 0 || strcmp(optarg, "ce") == 0) {
                o.classifier = 1;
            } else {
                fprintf(stderr, "fann_train: --loss is cross_entropy or mse\n");
                return 2;
            }
            break;
        case O_MODE:
            if (strcmp(optarg, "online") != 0 && strcmp(optarg, "batch") != 0) {
                fprintf(stderr, "fann_train: --mode is online or batch\n");
                return 2;
            }
            o.minibatch = strcmp(optarg, "batch") == 0;
            break;
        case 'b': o.batch = atoi(optarg); break;
        case 'k': o.steps = atoi(optarg); break;
        case 'W': o.warmup = atoi(optarg); break;
        case 'n': o.samples = atol(optarg); break;
        case 't': break;
        case 'r': o.reps = atoi(optarg); break;
        case 's': o.seed = strtoull(optarg, NULL, 10); break;
        case O_MIN_SECONDS: o.min_seconds = atof(optarg); break;
        case O_INFER: o.infer = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (o.batch <= 0 || o.steps <= 0 || o.warmup < 0 || o.reps <= 0 || o.min_seconds < 0 || o.samples < o.batch) {
        fprintf(stderr, "fann_train: need batch, steps, reps > 0 and samples >= batch\n");
        return 2;
    }

    struct fann *ann = fann_create_standard_array((unsigned)o.n_widths, o.widths);
    if (!ann) {
        fprintf(stderr, "fann_train: cannot create the network\n");
        return 1;
    }
    fann_set_activation_function_hidden(ann, o.hidden_act);
    fann_set_activation_steepness_hidden(ann, 1.0f);
    /* FANN_SIGMOID is 1 / (1 + e^(-2 s z)): steepness 0.5 makes it the logistic function. */
    fann_set_activation_function_output(ann, o.classifier ? FANN_SIGMOID : FANN_LINEAR);
    fann_set_activation_steepness_output(ann, o.classifier ? 0.5f : 1.0f);
    fann_set_training_algorithm(ann, o.minibatch ? FANN_TRAIN_BATCH : FANN_TRAIN_INCREMENTAL);
    fann_set_train_error_function(ann, FANN_ERRORFUNC_LINEAR);
    fann_set_learning_rate(ann, 0.01f);
    fann_set_learning_momentum(ann, 0.0f);
    uint64_t rng = o.seed;
    init_weights(ann, &rng);

    /* Data: inputs U(-1, 1); one-hot targets of random classes, or the same
     * smooth function of the inputs as bench_train for regression. */
    unsigned int n_in = o.widths[0], n_out = o.widths[o.n_widths - 1];
    size_t n = (size_t)o.samples;
    float *x = malloc(n * n_in * sizeof *x), *y = calloc(n * n_out, sizeof *y);
    if (!x || !y) {
        fprintf(stderr, "fann_train: out of memory\n");
        free(x);
        free(y);
        fann_destroy(ann);
        return 1;
    }
    for (size_t i = 0; i < n * n_in; i++)
        x[i] = (float)(2.0 * uniform01(&rng) - 1.0);
    for (size_t i = 0; i < n; i++) {
        const float *row = x + i * n_in;
        if (o.classifier)
            y[i * n_out + next_u64(&rng) % n_out] = 1.0f;
        else
            for (unsigned int j = 0; j < n_out; j++)
                y[i * n_out + j] = sinf(3.0f * row[j % n_in]) * row[(j + 1) % n_in];
    }

    int rc = o.infer ? run_infer(&o, ann, x, n) : run_train(&o, ann, x, y, n, &rng);
    free(x);
    free(y);
    fann_destroy(ann);
    return rc;
}
