/* fathom demo: what fathom is for, in well under a minute.
 *
 * Part 1 probes deep networks at initialisation: for each activation and
 * initialiser, how the variance of the pre-activations and of the gradients
 * changes over 30 layers, and a one-word verdict by fixed rules.
 * Part 2 trains three deep set-ups on Fashion-MNIST with the same optimiser
 * and shows which learn, and fm_stats_advice's diagnosis of why. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const COMMAND = "demo";
static const char *const DEFAULT_DATA_DIR = "/usr/share/datasets/fashion-mnist";

/* A verdict rule's threshold: a change of more than 3 decades (1000-fold)
 * of a variance from the first to the last layer. */
#define DEMO_DECADES 3.0

static void usage(FILE *out)
{
    fprintf(out,
            "usage: fathom demo [--quick] [--seed S] [--threads N]\n"
            "\n"
            "A tour of what fathom shows, in well under a minute:\n"
            "  Part 1: a 30-layer network of width 256 at initialisation, for the activations sigmoid,\n"
            "          tanh, relu and selu and the initialisers normal:1 (the naive Var[W] = 1), glorot,\n"
            "          he and lecun: Var z at layers 1, 10, 20 and 30, the saturated or dead share of\n"
            "          layer 30, the gradient's change over depth, and a verdict.\n"
            "  Part 2: three networks of 20 hidden layers trained for 2 epochs on Fashion-MNIST\n"
            "          (12,000 training images, tested on 10,000) with the same optimiser: which learn,\n"
            "          and the diagnosis of statistics gathered during training.\n"
            "\n"
            "options:\n"
            "  --quick            a smaller version of both parts (a few seconds)\n"
            "  --seed S           seed of weights, inputs and shuffling (default 1)\n"
            "  --threads N        BLAS threads\n"
            "  --data-dir DIR     where the Fashion-MNIST files are (default %s)\n"
            "  --help             this text\n"
            "\n"
            "Part 2 needs Debian's dataset-fashion-mnist (sudo apt-get install dataset-fashion-mnist);\n"
            "without it the demo exits with status 3.\n",
            DEFAULT_DATA_DIR);
}

typedef struct demo_args {
    int quick;
    unsigned long long seed;
    long threads;
    const char *data_dir;
} demo_args;

static int parse_args(int argc, char **argv, demo_args *a)
{
    enum { O_QUICK = 256, O_SEED, O_THREADS, O_DATA_DIR, O_HELP };
    static const struct option options[] = {
        {"quick", no_argument, 0, O_QUICK},
        {"seed", required_argument, 0, O_SEED},
        {"threads", required_argument, 0, O_THREADS},
        {"data-dir", required_argument, 0, O_DATA_DIR},
        {"help", no_argument, 0, O_HELP},
        {0, 0, 0, 0},
    };
    memset(a, 0, sizeof *a);
    a->seed = 1;
    a->data_dir = DEFAULT_DATA_DIR;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case O_QUICK: a->quick = 1; break;
        case O_SEED:
            if (!cli_parse_seed(optarg, &a->seed))
                return cli_usage_error(COMMAND, "--seed \"%s\" must be an integer in 0..2^64-1", optarg);
            break;
        case O_THREADS:
            if (!cli_parse_int(optarg, 1, 1024, &a->threads))
                return cli_usage_error(COMMAND, "--threads \"%s\" must be an integer in 1..1024", optarg);
            break;
        case O_DATA_DIR: a->data_dir = optarg; break;
        case 'h':
        case O_HELP: usage(stdout); return -1;
        default: return cli_getopt_error(COMMAND, argv);
        }
    }
    if (optind < argc)
        return cli_usage_error(COMMAND, "unexpected argument \"%s\"", argv[optind]);
    return 0;
}

/* The sizes of both parts: the full demo and --quick. */
typedef struct demo_sizes {
    int depth, width, samples;           /* Part 1 */
    size_t train_rows, test_rows;        /* Part 2 */
    int hidden, hidden_width, epochs, batch, diagnose_every;
    double lr, momentum;
} demo_sizes;

static const demo_sizes FULL = {30, 256, 1024, 12000, 10000, 20, 128, 2, 64, 50, 0.01, 0.9};
static const demo_sizes QUICK = {15, 128, 256, 3000, 2000, 10, 64, 2, 32, 20, 0.01, 0.9};

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Print text (lines starting "- ") wrapped at `width` columns, each line
 * indented by `indent` spaces and its continuation lines by two more. */
static void print_wrapped(const char *text, int indent, int width)
{
    const char *p = text;
    while (*p) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        int first = 1;
        while (len > 0) {
            int room = width - indent - (first ? 0 : 2);
            size_t take = len;
            if ((int)len > room) {
                take = (size_t)room;
                while (take > 0 && p[take] != ' ')
                    take--;
                if (take == 0)
                    take = (size_t)room;
            }
            printf("%*s%.*s\n", indent + (first ? 0 : 2), "", (int)take, p);
            p += take;
            len -= take;
            while (len > 0 && *p == ' ') {
                p++;
                len--;
            }
            first = 0;
        }
        p = end ? end + 1 : p + len;
    }
}

/* ------------------------------------------------------------------ Part 1 */

typedef struct p1_result {
    double var_z[4];       /* at layers 1, L/3, 2L/3, L */
    double share;          /* saturated (or, for relu, dead) share of the last layer */
    int share_is_dead;
    double grad_decades;   /* log10(Var[dL/dz] layer 1 / layer L) */
    const char *verdict;
} p1_result;

/* The verdict: the first of these rules that applies (D = DEMO_DECADES).
 *   explodes   values overflow (Inf or NaN), or Var z grows more than 10^D-fold
 *              from layer 1 to the last layer;
 *   saturates  more than a fifth of the last layer's (unit, sample) pairs have
 *              |phi'(z)| below 1% of its maximum (fm_stats_advice's threshold);
 *   dies       more than half of the last layer's ReLU units are off on every sample;
 *   vanishes   Var z shrinks more than 10^D-fold, or Var[dL/dz] at layer 1 is
 *              more than 10^D times smaller than at the last layer;
 *   explodes   Var[dL/dz] at layer 1 is more than 10^D times larger;
 *   healthy    none of these. */
static const char *verdict_of(const fm_layer_stats *stats, int n_layers)
{
    const fm_layer_stats *first = &stats[0], *last = &stats[n_layers - 1];
    if (fm_stats_first_nonfinite(stats, n_layers) || fm_stats_first_nonfinite_backward(stats, n_layers))
        return "explodes";
    double forward = log10(last->var_z / first->var_z);
    double backward = log10(first->var_delta / last->var_delta);
    if (!isfinite(forward) && last->var_z > first->var_z)
        return "explodes";
    if (forward > DEMO_DECADES)
        return "explodes";
    if (last->saturated > 0.2)
        return "saturates";
    if (last->dead > 0.5)
        return "dies";
    if (!(forward >= -DEMO_DECADES) || !(backward >= -DEMO_DECADES))
        return "vanishes";
    if (backward > DEMO_DECADES)
        return "explodes";
    return "healthy";
}

static void cell(char *buf, size_t size, double v)
{
    if (isnan(v))
        snprintf(buf, size, "nan");
    else if (isinf(v))
        snprintf(buf, size, v > 0 ? "inf" : "-inf");
    else
        snprintf(buf, size, "%.3g", v);
}

static fm_status part1(const demo_sizes *z, uint64_t seed, fm_error *err)
{
    static const char *const ACTS[] = {"sigmoid", "tanh", "relu", "selu"};
    static const char *const INITS[] = {"normal:1", "glorot", "he", "lecun"};
    const int L = z->depth, W = z->width, B = z->samples;
    const int at[4] = {1, L / 3, 2 * L / 3, L};
    double start = now_seconds();
    printf("Part 1 - signal propagation at initialisation\n\n");
    printf("A fresh network of %d layers of width %d (all with the same activation, biases 0): one\n"
           "forward pass of %d inputs x ~ N(0, 1) and one backward pass from a random N(0, 1)\n"
           "gradient at the output, measured layer by layer (as fathom probe does).\n\n",
           L, W, B);
    fm_status st = FM_OK;
    size_t count = (size_t)B * (size_t)W;
    float *x = malloc(count * sizeof *x);
    fm_layer_stats *stats = calloc((size_t)L, sizeof *stats);
    fm_layer_spec *specs = calloc((size_t)L, sizeof *specs);
    if (!x || !stats || !specs) {
        st = fm_error_set(err, FM_ERR_NOMEM, "out of memory");
        goto done;
    }
    fm_rng rng;
    fm_rng_seed(&rng, seed ^ 0x1A7A1A7Aull);
    for (size_t i = 0; i < count; i++)
        x[i] = (float)fm_rng_normal(&rng);

    char last_layer[32];
    snprintf(last_layer, sizeof last_layer, "layer %d", L);
    printf("%22s%-35s  %10s %8s\n", "", "----------- Var z at layer -----------", last_layer, "grad");
    printf("%-10s %-10s %8d %8d %8d %8d  %10s %8s  %s\n", "activation", "init", at[0], at[1], at[2], at[3],
           "sat/dead", "decades", "verdict");
    int healthy = 0;
    for (int a = 0; a < 4; a++) {
        fm_activation act;
        st = fm_activation_parse(ACTS[a], &act, err);
        if (st != FM_OK)
            goto done;
        fm_init recommended = fm_init_auto_for(&act);
        for (int i = 0; i < 4; i++) {
            fm_init init;
            st = fm_init_parse(INITS[i], &init, err);
            if (st != FM_OK)
                goto done;
            for (int l = 0; l < L; l++) {
                specs[l].n_out = W;
                specs[l].act = act;
                specs[l].init = init;
                specs[l].dropout = 0.0;
            }
            fm_net *net = NULL;
            st = fm_net_create(W, specs, L, seed, &net, err);
            if (st == FM_OK)
                st = fm_probe(net, x, B, NULL, seed ^ 0x9AD1E47ull, stats, err);
            fm_net_free(net);
            if (st != FM_OK)
                goto done;
            p1_result r;
            for (int k = 0; k < 4; k++)
                r.var_z[k] = stats[at[k] - 1].var_z;
            const fm_layer_stats *last = &stats[L - 1];
            r.share_is_dead = act.kind == FM_ACT_RELU;
            r.share = r.share_is_dead ? last->dead : last->saturated;
            r.grad_decades = log10(stats[0].var_delta / last->var_delta);
            r.verdict = verdict_of(stats, L);
            healthy += strcmp(r.verdict, "healthy") == 0;
            int is_auto = init.kind == recommended.kind;
            char cells[4][32], init_text[32], share[32], grad[32];
            for (int k = 0; k < 4; k++)
                cell(cells[k], sizeof cells[k], r.var_z[k]);
            snprintf(init_text, sizeof init_text, "%s%s", INITS[i], is_auto ? " *" : "");
            if (isfinite(r.share))
                snprintf(share, sizeof share, "%3.0f%% %s", 100.0 * r.share, r.share_is_dead ? "dead" : "sat");
            else
                snprintf(share, sizeof share, "-");
            if (isfinite(r.grad_decades))
                snprintf(grad, sizeof grad, "%+.1f", r.grad_decades);
            else
                cell(grad, sizeof grad, r.grad_decades);
            printf("%-10s %-10s %8s %8s %8s %8s  %10s %8s  %s\n", i == 0 ? ACTS[a] : "", init_text, cells[0],
                   cells[1], cells[2], cells[3], share, grad, r.verdict);
            fflush(stdout);
        }
    }
    printf("\n");
    print_wrapped("* the initialiser theory recommends for the activation (fathom's \"auto\"): glorot for sigmoid, "
                  "lecun for tanh and selu, he for relu. For square layers glorot and lecun coincide "
                  "(Var[W] = 1/n).\n"
                  "sat/dead: the share of the last layer's (unit, sample) pairs saturated, |phi'(z)| below 1% "
                  "of its maximum (for selu: z below about -4.6), or, for relu, of its units dead (z <= 0 on "
                  "every sample).\n"
                  "grad decades: log10 of Var[dL/dz] at layer 1 over the last layer's; negative: the gradient shrinks "
                  "on its way back to the first layers.\n",
                  0, 96);
    char rules[1024];
    snprintf(rules, sizeof rules,
             "verdict, the first rule that applies: explodes: values overflow, or Var z grows more than "
             "%.0f-fold from layer 1 to %d; saturates: over a fifth of layer %d saturated; dies: over half of "
             "its units dead; vanishes: Var z, or the gradient on its way back, shrinks more than %.0f-fold; "
             "explodes: the gradient grows more than %.0f-fold; healthy: none of these.\n",
             pow(10.0, DEMO_DECADES), L, L, pow(10.0, DEMO_DECADES), pow(10.0, DEMO_DECADES));
    print_wrapped(rules, 0, 96);
    printf("\n%d of 16 combinations are healthy at depth %d (Part 1 took %.1f s).\n\n", healthy, L,
           now_seconds() - start);
done:
    free(x);
    free(stats);
    free(specs);
    return st;
}

/* ------------------------------------------------------------------ Part 2 */

typedef struct diag_state {
    fm_layer_stats *last;
    int have;
    size_t step;
} diag_state;

static void on_diagnose(const fm_train_progress *p, const fm_layer_stats *stats, const double *update_ratio,
                        int n_layers, void *user)
{
    (void)update_ratio;
    diag_state *d = user;
    memcpy(d->last, stats, (size_t)n_layers * sizeof *stats);
    d->have = 1;
    d->step = p->step;
}

/* The first `rows` rows of a data set, as a new data set. */
static fm_status head_rows(fm_dataset *all, size_t rows, fm_dataset **out, fm_error *err)
{
    if (rows > all->rows)
        rows = all->rows;
    fm_status st = fm_dataset_alloc(rows, all->n_in, all->n_out, out, err);
    if (st != FM_OK)
        return st;
    memcpy((*out)->x, all->x, rows * (size_t)all->n_in * sizeof(float));
    memcpy((*out)->y, all->y, rows * (size_t)all->n_out * sizeof(float));
    return FM_OK;
}

static int readable(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    fclose(f);
    return 1;
}

typedef struct setup {
    const char *label, *act, *init, *why;
} setup;

static const setup SETUPS[3] = {
    {"(a)", "sigmoid", "normal:1", "the lecture's naive Var[W] = 1"},
    {"(b)", "relu", "normal:0.0001", "small random weights, W = 0.01 randn"},
    {"(c)", "selu", "lecun", "self-normalising, as theory recommends"},
};

static fm_status train_setup(const setup *s, const demo_sizes *z, uint64_t seed, const fm_dataset *train,
                             const fm_dataset *test, double *accuracy, fm_error *err)
{
    const int n_layers = z->hidden + 1;
    fm_layer_spec *specs = calloc((size_t)n_layers, sizeof *specs);
    fm_layer_stats *last = calloc((size_t)n_layers, sizeof *last);
    fm_net *net = NULL;
    fm_optim *opt = NULL;
    fm_status st = FM_OK;
    *accuracy = NAN;
    if (!specs || !last) {
        st = fm_error_set(err, FM_ERR_NOMEM, "out of memory");
        goto done;
    }
    fm_activation act, softmax = fm_activation_default(FM_ACT_SOFTMAX);
    fm_init init;
    st = fm_activation_parse(s->act, &act, err);
    if (st == FM_OK)
        st = fm_init_parse(s->init, &init, err);
    if (st != FM_OK)
        goto done;
    for (int l = 0; l < n_layers; l++) {
        specs[l].n_out = l < z->hidden ? z->hidden_width : 10;
        specs[l].act = l < z->hidden ? act : softmax;
        specs[l].init = init;
    }
    st = fm_net_create(train->n_in, specs, n_layers, seed, &net, err);
    if (st != FM_OK)
        goto done;
    fm_optim_config oc = fm_optim_config_default(FM_OPTIM_SGD);
    oc.lr = z->lr;
    oc.momentum = z->momentum;
    st = fm_optim_create(&oc, fm_net_n_params(net), &opt, err);
    if (st != FM_OK)
        goto done;
    fm_loss loss = {FM_LOSS_CROSS_ENTROPY, 1.0};
    diag_state d = {last, 0, 0};
    fm_train_options to = fm_train_options_default();
    to.epochs = z->epochs;
    to.batch = z->batch;
    to.seed = seed;
    to.diagnose_every = z->diagnose_every;
    to.on_diagnose = on_diagnose;
    to.diagnose_user = &d;
    printf("%s %s with %s initialisation (%s)\n", s->label, s->act, s->init, s->why);
    fflush(stdout);
    double start = now_seconds();
    fm_train_result res;
    fm_error train_err = {FM_OK, ""};
    fm_status train_st = fm_train(net, opt, &loss, &to, train, NULL, NULL, NULL, &res, &train_err);
    if (train_st != FM_OK && !res.diverged) {
        *err = train_err;
        st = train_st;
        goto done;
    }
    double test_loss = NAN;
    st = fm_evaluate(net, &loss, test, &test_loss, accuracy, err);
    if (st != FM_OK)
        goto done;
    printf("    test accuracy %.4f, test loss %.4f, final training loss %.4f (%.1f s)%s\n", *accuracy, test_loss,
           res.final_train_loss, now_seconds() - start, res.diverged ? "; training diverged" : "");
    if (d.have) {
        char advice[4096];
        fm_stats_advice(last, n_layers, advice, sizeof advice);
        printf("    diagnosis from the statistics of training step %zu:\n", d.step + 1);
        print_wrapped(advice, 4, 96);
    }
    printf("\n");
done:
    fm_optim_free(opt);
    fm_net_free(net);
    free(specs);
    free(last);
    return st;
}

static fm_status part2(const demo_sizes *z, uint64_t seed, const char *const paths[4], fm_error *err)
{
    double start = now_seconds();
    fm_dataset *all = NULL, *train = NULL, *test = NULL, *all_test = NULL;
    fm_standardizer *sx = NULL;
    fm_read_options opts = {NULL, NULL, 0};
    printf("Part 2 - training on Fashion-MNIST\n\n");
    fm_status st = fm_data_read(paths[0], paths[1], &opts, &all, err);
    if (st == FM_OK)
        st = head_rows(all, z->train_rows, &train, err);
    fm_dataset_free(all);
    if (st == FM_OK)
        st = fm_data_read(paths[2], paths[3], &opts, &all_test, err);
    if (st == FM_OK)
        st = head_rows(all_test, z->test_rows, &test, err);
    fm_dataset_free(all_test);
    if (st == FM_OK)
        st = fm_standardizer_fit(train->x, train->rows, train->n_in, &sx, err);
    if (st != FM_OK)
        goto done;
    fm_standardize(sx, train->x, train->rows);
    fm_standardize(sx, test->x, test->rows);
    printf("%zu training images (28 x 28 pixels, 10 classes), tested on %zu others; pixels standardised.\n"
           "Each network: %d hidden layers of %d and a softmax output, trained for %d epochs by SGD\n"
           "(learning rate %g, momentum %g, batch %d), the same seed for all. Chance is 10%%.\n\n",
           train->rows, test->rows, z->hidden, z->hidden_width, z->epochs, z->lr, z->momentum, z->batch);
    fflush(stdout);
    double acc[3];
    for (int i = 0; i < 3 && st == FM_OK; i++)
        st = train_setup(&SETUPS[i], z, seed, train, test, &acc[i], err);
    if (st != FM_OK)
        goto done;
    printf("Summary (test accuracy):\n");
    for (int i = 0; i < 3; i++) {
        char bar[41];
        int len = isfinite(acc[i]) ? (int)lround(40.0 * fmax(0.0, fmin(1.0, acc[i]))) : 0;
        memset(bar, '#', (size_t)len);
        bar[len] = '\0';
        char name[64];
        snprintf(name, sizeof name, "%s %s, %s", SETUPS[i].label, SETUPS[i].act, SETUPS[i].init);
        printf("  %-26s %6.1f%%  %s\n", name, 100.0 * acc[i], bar);
    }
    printf("\nThe same depth, data and optimiser: only the activation and the initialisation differ, and\n"
           "Part 1 foretold the outcome before a single step: sigmoid with normal:1 saturates, relu's\n"
           "signal vanishes already with glorot's Var[W] = 1/n (and (b)'s weights are far smaller),\n"
           "selu with lecun keeps Var z near 1 at every depth. (Part 2 took %.1f s.)\n",
           now_seconds() - start);
done:
    fm_standardizer_free(sx);
    fm_dataset_free(train);
    fm_dataset_free(test);
    return st;
}

int cmd_demo(int argc, char **argv)
{
    demo_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc != 0)
        return rc < 0 ? EXIT_OK : rc;
    cli_set_threads((int)a.threads);
    const demo_sizes *z = a.quick ? &QUICK : &FULL;

    /* Fail before spending a minute when Part 2's data is missing. */
    static const char *const FILES[4] = {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                                         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"};
    char paths[4][4096];
    const char *path_list[4];
    for (int i = 0; i < 4; i++) {
        int n = snprintf(paths[i], sizeof paths[i], "%s/%s", a.data_dir, FILES[i]);
        if (n < 0 || (size_t)n >= sizeof paths[i])
            return cli_usage_error(COMMAND, "--data-dir is too long");
        path_list[i] = paths[i];
        if (!readable(paths[i])) {
            fprintf(stderr,
                    "fathom demo: cannot read %s: %s\n"
                    "The demo trains on Fashion-MNIST. On Debian or Ubuntu install it with\n"
                    "    sudo apt-get install dataset-fashion-mnist\n"
                    "(files in %s), or point --data-dir at a folder holding the four\n"
                    "*-ubyte.gz files of https://github.com/zalandoresearch/fashion-mnist.\n",
                    paths[i], strerror(errno), DEFAULT_DATA_DIR);
            return EXIT_IO;
        }
    }

    double start = now_seconds();
    printf("fathom %s demo: why some deep networks train and others do not%s\n\n", FM_VERSION_STRING,
           a.quick ? " (quick version)" : "");
    fm_error err = {FM_OK, ""};
    fm_status st = part1(z, a.seed, &err);
    if (st == FM_OK)
        st = part2(z, a.seed, path_list, &err);
    if (st != FM_OK)
        return cli_report(COMMAND, &err);
    printf("\nTotal %.1f s. Next: fathom probe --help, fathom train --help, fathom lr-find --help.\n",
           now_seconds() - start);
    return EXIT_OK;
}
