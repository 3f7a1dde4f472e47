/* fathom train: read data, standardise it on the training split, build (or
 * load) a network, train it with a live progress line, report the result on
 * the validation data beside the predict-the-mean baseline, save the model. */
#include "cli.h"
#include "model_options.h"
#include "run_log.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef FATHOM_HAVE_MPI
#include "dist/mpi_collective.h"
#endif

#define MAX_OVERRIDES 64

static const char *const COMMAND = "train";

static void usage(FILE *out)
{
    fprintf(out,
            "usage: fathom train --data FILE [options] --out MODEL.safetensors\n"
            "\n"
            "data:\n"
            "  --data FILE            training data: .csv (with header), .npy (2-D), IDX (-ubyte[.gz])\n"
            "  --target-data FILE     targets from a second file (e.g. IDX labels, y.npy)\n"
            "  --inputs COLS          input columns: names or 0-based indices/ranges (default: all but targets)\n"
            "  --targets COLS         target columns (regression) or the class-label column\n"
            "  --val-data FILE        validation data (same columns); default: a split of --data\n"
            "  --val-split F          fraction held out for validation (default 0.1; 0 for none)\n"
            "  --split RULE           validate on a held-out split instead: random10, lonband (longitude bands\n"
            "                         0-10, 100-110, 200-210, 300-310 E) or random:F, by each cell's grid index\n"
            "  --skip-bad-rows        skip rows with missing or non-numeric values (counted) instead of failing\n"
            "network:\n"
            "  --layers SPEC          hidden widths: 64,64,64 or 256x8 or 256x4,128 (default 64,64)\n"
            "  --act ACT              hidden activation (default relu): linear sigmoid tanh relu leaky_relu[:SLOPE]\n"
            "                         elu[:ALPHA] selu[:ALPHA,LAMBDA] gelu silu softplus\n"
            "  --init INIT            initialiser (default auto): auto normal:VAR uniform:VAR glorot he lecun\n"
            "                         (each also _uniform) orthogonal[:GAIN] torch\n"
            "  --act-at L=ACT         activation of layer L (1-based; the output layer is the last), repeatable\n"
            "  --init-at L=INIT       initialiser of layer L, repeatable\n"
            "  --output-act ACT       output activation (default: linear; softmax for cross_entropy; sigmoid for bce)\n"
            "  --dropout P            dropout on hidden layers (alpha-dropout on SELU layers)\n"
            "  --classes N            number of classes for cross_entropy (default: largest label + 1)\n"
            "  --from MODEL           start from a saved model's weights and standardisation (fine-tuning)\n"
            "training:\n"
            "  --loss LOSS            mse (default), huber[:DELTA], cross_entropy, bce\n"
            "  --optimizer OPT        sgd (default), adam, adamw\n"
            "  --lr MU                learning rate (default 0.01 for sgd, 0.001 for adam/adamw)\n"
            "  --momentum M           SGD momentum (default 0)    --nesterov   Nesterov momentum\n"
            "  --beta1 B --beta2 B --eps E   Adam(W) settings (0.9, 0.999, 1e-8)\n"
            "  --weight-decay W       L2 (sgd, adam) or decoupled (adamw, default 0.01)\n"
            "  --clip-norm N          clip the global gradient norm to N\n"
            "  --schedule S           constant (default), step:EPOCHS[,GAMMA], cosine[:LR_MIN]\n"
            "  --batch B              mini-batch size (default 32)\n"
            "  --epochs E             epochs (default 10)\n"
            "  --patience P           stop after P epochs without validation improvement; keep the best weights\n"
            "  --seed S               seed for weights, split, shuffling and dropout (default 1)\n"
            "  --threads N            BLAS threads (default: OpenBLAS's choice)\n"
            "diagnostics:\n"
            "  --diagnose N           per-layer statistics every N steps into the run log, and a diagnosis at the end\n"
            "  --log FILE             JSON Lines run log (default with --diagnose: the model's name with .jsonl)\n"
            "  --report FILE          render the run log as an HTML page at the end (fathom report)\n"
            "  --explode-factor F     stop when the smoothed loss exceeds F times its minimum (default 100; 0: off)\n"
            "checkpoints:\n"
            "  --checkpoint FILE      checkpoint file (default: the model's name with .ckpt, or the --resume file)\n"
            "  --checkpoint-every N   write a checkpoint every N optimiser steps (atomically)\n"
            "  --resume FILE          continue the run saved in a checkpoint; give the same data and options\n"
            "                         (the architecture comes from the checkpoint)\n"
            "  On SIGINT/SIGTERM the current step finishes, a checkpoint and the model are written, and\n"
            "  fathom exits with status 7.\n"
            "several machines (when built with MPI; docs/scaling.md):\n"
            "  mpirun -np K fathom train ...   K processes, each reading its share of the rows; the batch is\n"
            "                         the global batch, split across them; rank 0 writes the model, checkpoints\n"
            "                         and run log; the weights equal a one-process run's to float rounding\n"
            "output:\n"
            "  --out FILE             model file to write (default model.safetensors)\n"
            "  --quiet                no progress display\n"
            "  --help                 this text\n");
}

typedef struct train_args {
    cli_model_args common; /* data, network and optimiser options shared with lr-find */
    const char *val_data, *out, *split, *schedule;
    double val_split, dropout, lr, beta1, beta2, eps, explode_factor;
    long diagnose;
    const char *log, *report;
    const char *checkpoint, *resume;
    long checkpoint_every;
    int have_lr, quiet;
    long epochs, patience;
    int n_act_overrides, n_init_overrides;
    int act_at[MAX_OVERRIDES], init_at[MAX_OVERRIDES];
    const char *act_spec[MAX_OVERRIDES], *init_spec[MAX_OVERRIDES];
} train_args;

static volatile sig_atomic_t interrupted = 0;
/* The first SIGINT/SIGTERM asks training to stop after its step (and write a
 * checkpoint); a second one acts as if there were no handler. */
static void on_signal(int sig)
{
    interrupted = 1;
    signal(sig, SIG_DFL);
}

static int parse_args(int argc, char **argv, train_args *a)
{
    enum {
        OPT_SPLIT = CLI_MODEL_OPTION_END, OPT_VAL_DATA, OPT_VAL_SPLIT, OPT_ACT_AT, OPT_INIT_AT, OPT_DROPOUT, OPT_LR,
        OPT_BETA1, OPT_BETA2, OPT_EPS, OPT_SCHEDULE, OPT_EPOCHS, OPT_PATIENCE, OPT_OUT, OPT_QUIET, OPT_HELP,
        OPT_DIAGNOSE, OPT_LOG, OPT_EXPLODE, OPT_CHECKPOINT, OPT_CHECKPOINT_EVERY, OPT_RESUME, OPT_REPORT
    };
    static const struct option options[] = {
        CLI_MODEL_OPTIONS,
        {"val-data", required_argument, 0, OPT_VAL_DATA},
        {"val-split", required_argument, 0, OPT_VAL_SPLIT},
        {"split", required_argument, 0, OPT_SPLIT},
        {"act-at", required_argument, 0, OPT_ACT_AT},
        {"init-at", required_argument, 0, OPT_INIT_AT},
        {"dropout", required_argument, 0, OPT_DROPOUT},
        {"lr", required_argument, 0, OPT_LR},
        {"beta1", required_argument, 0, OPT_BETA1},
        {"beta2", required_argument, 0, OPT_BETA2},
        {"eps", required_argument, 0, OPT_EPS},
        {"schedule", required_argument, 0, OPT_SCHEDULE},
        {"epochs", required_argument, 0, OPT_EPOCHS},
        {"patience", required_argument, 0, OPT_PATIENCE},
        {"out", required_argument, 0, OPT_OUT},
        {"quiet", no_argument, 0, OPT_QUIET},
        {"diagnose", required_argument, 0, OPT_DIAGNOSE},
        {"log", required_argument, 0, OPT_LOG},
        {"report", required_argument, 0, OPT_REPORT},
        {"explode-factor", required_argument, 0, OPT_EXPLODE},
        {"checkpoint", required_argument, 0, OPT_CHECKPOINT},
        {"checkpoint-every", required_argument, 0, OPT_CHECKPOINT_EVERY},
        {"resume", required_argument, 0, OPT_RESUME},
        {"help", no_argument, 0, OPT_HELP},
        {0, 0, 0, 0},
    };
    memset(a, 0, sizeof *a);
    cli_model_args_init(&a->common);
    a->val_split = 0.1;
    a->epochs = 10;
    a->out = "model.safetensors";
    a->schedule = "constant";
    a->explode_factor = 100.0;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        int shared_rc;
        if (cli_model_option(COMMAND, c, optarg, &a->common, &shared_rc)) {
            if (shared_rc != 0)
                return shared_rc;
            continue;
        }
        switch (c) {
        case OPT_VAL_DATA: a->val_data = optarg; break;
        case OPT_VAL_SPLIT:
            if (!cli_parse_double(optarg, 0.0, 0.9, &a->val_split))
                return cli_usage_error(COMMAND, "--val-split \"%s\" must be a number in [0, 0.9]", optarg);
            break;
        case OPT_SPLIT: {
            fm_holdout holdout;
            fm_error split_err = {FM_OK, ""};
            if (fm_holdout_parse(optarg, &holdout, &split_err) != FM_OK)
                return cli_usage_error(COMMAND, "--split: %s", split_err.message);
            a->split = optarg;
            break;
        }
        case OPT_ACT_AT:
        case OPT_INIT_AT: {
            int *count = c == OPT_ACT_AT ? &a->n_act_overrides : &a->n_init_overrides;
            int *layer = c == OPT_ACT_AT ? a->act_at : a->init_at;
            const char **spec = c == OPT_ACT_AT ? a->act_spec : a->init_spec;
            if (*count >= MAX_OVERRIDES || !cli_parse_override(optarg, &layer[*count], &spec[*count]))
                return cli_usage_error(COMMAND, "--%s \"%s\" must be LAYER=SPEC, e.g. 3=tanh",
                                       c == OPT_ACT_AT ? "act-at" : "init-at", optarg);
            (*count)++;
            break;
        }
        case OPT_DROPOUT:
            if (!cli_parse_double(optarg, 0.0, 0.99, &a->dropout))
                return cli_usage_error(COMMAND, "--dropout \"%s\" must be a number in [0, 0.99]", optarg);
            break;
        case OPT_LR:
            if (!cli_parse_double(optarg, 1e-30, 1e6, &a->lr))
                return cli_usage_error(COMMAND, "--lr \"%s\" must be a number in [1e-30, 1e6]", optarg);
            a->have_lr = 1;
            break;
        case OPT_BETA1:
        case OPT_BETA2: {
            double *beta = c == OPT_BETA1 ? &a->beta1 : &a->beta2;
            if (!cli_parse_double(optarg, 0.0, 0.999999999, beta))
                return cli_usage_error(COMMAND, "--beta%d \"%s\" must be a number in [0, 1)", c == OPT_BETA1 ? 1 : 2,
                                       optarg);
            break;
        }
        case OPT_EPS:
            if (!cli_parse_double(optarg, 0.0, 1.0, &a->eps))
                return cli_usage_error(COMMAND, "--eps \"%s\" must be a number in [0, 1]", optarg);
            break;
        case OPT_SCHEDULE: a->schedule = optarg; break;
        case OPT_EPOCHS:
            if (!cli_parse_int(optarg, 1, 1000000, &a->epochs))
                return cli_usage_error(COMMAND, "--epochs \"%s\" must be an integer in 1..1000000", optarg);
            break;
        case OPT_PATIENCE:
            if (!cli_parse_int(optarg, 0, 1000000, &a->patience))
                return cli_usage_error(COMMAND, "--patience \"%s\" must be a non-negative integer", optarg);
            break;
        case OPT_OUT: a->out = optarg; break;
        case OPT_QUIET: a->quiet = 1; break;
        case OPT_DIAGNOSE:
            if (!cli_parse_int(optarg, 1, 1000000000, &a->diagnose))
                return cli_usage_error(COMMAND, "--diagnose \"%s\" must be a positive number of steps", optarg);
            break;
        case OPT_LOG: a->log = optarg; break;
        case OPT_REPORT: a->report = optarg; break;
        case OPT_EXPLODE:
            if (!cli_parse_double(optarg, 0.0, 1e300, &a->explode_factor) || (a->explode_factor > 0 && a->explode_factor <= 1))
                return cli_usage_error(COMMAND, "--explode-factor \"%s\" must be 0 (off) or a number above 1", optarg);
            break;
        case OPT_CHECKPOINT: a->checkpoint = optarg; break;
        case OPT_CHECKPOINT_EVERY:
            if (!cli_parse_int(optarg, 1, 2000000000, &a->checkpoint_every))
                return cli_usage_error(COMMAND, "--checkpoint-every \"%s\" must be a positive number of steps", optarg);
            break;
        case OPT_RESUME: a->resume = optarg; break;
        case 'h':
        case OPT_HELP: usage(stdout); return -1;
        default: return cli_getopt_error(COMMAND, argv);
        }
    }
    if (optind < argc)
        return cli_usage_error(COMMAND, "unexpected argument \"%s\"", argv[optind]);
    if (!a->common.data)
        return cli_usage_error(COMMAND, "--data is required");
    if (a->report && !a->log && !a->diagnose)
        return cli_usage_error(COMMAND, "--report renders the run log: add --diagnose N or --log FILE");
    if (a->resume && a->common.from)
        return cli_usage_error(COMMAND, "give either --resume or --from, not both");
    if (a->common.from && (a->common.layers || a->common.act || a->common.init || a->n_act_overrides || a->n_init_overrides || a->common.output_act))
        return cli_usage_error(COMMAND, "--from takes the architecture from the model; drop --layers, --act, --init");
    if (a->common.target_data && a->common.targets)
        return cli_usage_error(COMMAND, "give either --targets or --target-data, not both");
    if (a->split && a->val_data)
        return cli_usage_error(COMMAND, "give either --split or --val-data, not both");
    return 0;
}

static fm_status build_optimizer_config(const train_args *a, fm_optim_config *config, fm_error *err)
{
    fm_optim_kind kind;
    fm_status st = fm_optim_parse_kind(a->common.optimizer, &kind, err);
    if (st != FM_OK)
        return st;
    *config = fm_optim_config_default(kind);
    if (a->have_lr)
        config->lr = a->lr;
    config->momentum = a->common.momentum;
    config->nesterov = a->common.nesterov;
    if (a->beta1 > 0)
        config->beta1 = a->beta1;
    if (a->beta2 > 0)
        config->beta2 = a->beta2;
    if (a->eps > 0)
        config->eps = a->eps;
    if (a->common.have_weight_decay)
        config->weight_decay = a->common.weight_decay;
    config->clip_norm = a->common.clip_norm;
    const char *s = a->schedule;
    if (strcmp(s, "constant") == 0) {
        config->schedule = FM_SCHEDULE_CONSTANT;
    } else if (strncmp(s, "step:", 5) == 0) {
        config->schedule = FM_SCHEDULE_STEP;
        char buf[64];
        snprintf(buf, sizeof buf, "%s", s + 5);
        char *comma = strchr(buf, ',');
        if (comma)
            *comma = '\0';
        long step;
        if (!cli_parse_int(buf, 1, 1000000, &step) || (comma && !cli_parse_double(comma + 1, 1e-12, 1.0, &config->gamma)))
            return fm_error_set(err, FM_ERR_ARG, "--schedule \"%s\" must be step:EPOCHS[,GAMMA]", s);
        config->step_size = (int)step;
    } else if (strcmp(s, "cosine") == 0 || strncmp(s, "cosine:", 7) == 0) {
        config->schedule = FM_SCHEDULE_COSINE;
        if (s[6] == ':' && !cli_parse_double(s + 7, 0.0, config->lr, &config->lr_min))
            return fm_error_set(err, FM_ERR_ARG, "--schedule \"%s\": the final learning rate must be a number in [0, %g] "
                                "(--lr)", s, config->lr);
    } else {
        return fm_error_set(err, FM_ERR_ARG, "--schedule \"%s\" must be constant, step:EPOCHS[,GAMMA] or cosine[:LR_MIN]", s);
    }
    return FM_OK;
}

/* Progress: one line rewritten in place on a terminal, a plain line per epoch otherwise. */
typedef struct progress_state {
    int tty;
    int quiet;
    int classification;
    run_log *log;
    fm_net *net;
    fm_layer_stats *last_stats; /* copy of the latest diagnostics (n_layers entries) */
    int n_layers;
    int have_stats;
    size_t stats_step; /* the step the copy describes */
    int silent;        /* a process other than rank 0 under mpirun: it prints nothing */
} progress_state;

static void on_diagnose(const fm_train_progress *p, const fm_layer_stats *stats, const double *update_ratio,
                        int n_layers, void *user);

static void format_duration(double seconds, char *buf, size_t size)
{
    if (!isfinite(seconds) || seconds < 0)
        seconds = 0;
    long s = (long)(seconds + 0.5);
    if (s >= 3600)
        snprintf(buf, size, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
    else
        snprintf(buf, size, "%02ld:%02ld", s / 60, s % 60);
}

static int on_progress(const fm_train_progress *p, void *user)
{
    progress_state *state = user;
    if (state->silent)
        return interrupted != 0;
    if (p->warning) {
        fprintf(stderr, "%sfathom train: warning: %s\n", state->tty ? "\r\033[K" : "", p->warning);
        run_log_warning(state->log, p->step, p->warning);
    }
    if (p->end_of_epoch)
        run_log_epoch(state->log, p);
    if (!state->quiet && (state->tty || p->end_of_epoch)) {
        char eta[32], elapsed[32], val[96] = "";
        format_duration(p->eta_s, eta, sizeof eta);
        format_duration(p->elapsed_s, elapsed, sizeof elapsed);
        if (p->end_of_epoch && !isnan(p->val_loss))
            snprintf(val, sizeof val, "  val loss %.5g  val %s %.4g", p->val_loss,
                     state->classification ? "accuracy" : "rmse", p->val_metric);
        if (state->tty)
            fprintf(stderr, "\r\033[K");
        if (p->end_of_epoch)
            fprintf(stderr, "epoch %d/%d  loss %.5g%s  lr %.3g  %.0f samples/s  %s elapsed\n", p->epoch + 1, p->epochs,
                    p->train_loss, val, p->lr, p->samples_per_s, elapsed);
        else
            fprintf(stderr, "epoch %d/%d  batch %zu/%zu  loss %.5g  %.0f samples/s  %s left", p->epoch + 1, p->epochs,
                    p->batch_index, p->batches, p->train_loss, p->samples_per_s, eta);
        fflush(stderr);
    }
    return interrupted != 0;
}

static void on_diagnose(const fm_train_progress *p, const fm_layer_stats *stats, const double *update_ratio,
                        int n_layers, void *user)
{
    progress_state *state = user;
    run_log_diagnose(state->log, state->net, p, stats, update_ratio);
    memcpy(state->last_stats, stats, (size_t)n_layers * sizeof *stats);
    state->have_stats = 1;
    state->stats_step = p->step;
}


static char *training_json(const train_args *a, const fm_optim_config *oc, const fm_train_result *res,
                           size_t train_rows, size_t val_rows, const char *encoding)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "optimizer", fm_optim_name(oc->kind));
    cJSON_AddNumberToObject(o, "lr", oc->lr);
    cJSON_AddNumberToObject(o, "momentum", oc->momentum);
    cJSON_AddBoolToObject(o, "nesterov", oc->nesterov);
    cJSON_AddNumberToObject(o, "beta1", oc->beta1);
    cJSON_AddNumberToObject(o, "beta2", oc->beta2);
    cJSON_AddNumberToObject(o, "eps", oc->eps);
    cJSON_AddNumberToObject(o, "weight_decay", oc->weight_decay);
    cJSON_AddNumberToObject(o, "clip_norm", oc->clip_norm);
    cJSON_AddStringToObject(o, "schedule", a->schedule);
    cJSON_AddNumberToObject(o, "batch", (double)a->common.batch);
    cJSON_AddNumberToObject(o, "epochs", (double)a->epochs);
    cJSON_AddNumberToObject(o, "epochs_run", res->epochs_run);
    cJSON_AddNumberToObject(o, "steps", (double)res->steps);
    cJSON_AddNumberToObject(o, "patience", (double)a->patience);
    cJSON_AddNumberToObject(o, "val_split", a->val_split);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", a->common.seed);
    cJSON_AddStringToObject(o, "seed", seed);
    cJSON_AddNumberToObject(o, "train_rows", (double)train_rows);
    cJSON_AddNumberToObject(o, "val_rows", (double)val_rows);
    if (isfinite(res->final_train_loss))
        cJSON_AddNumberToObject(o, "final_train_loss", res->final_train_loss);
    if (isfinite(res->best_val_loss))
        cJSON_AddNumberToObject(o, "best_val_loss", res->best_val_loss);
    if (a->common.from)
        cJSON_AddStringToObject(o, "fine_tuned_from", a->common.from);
    /* The input encoding the reader applied: predict, eval and probe apply it again. */
    if (encoding)
        cJSON_AddStringToObject(o, "encoding", encoding);
    if (a->split)
        cJSON_AddStringToObject(o, "split", a->split);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

/* The model stores its column names and predict, eval and probe select the
 * columns of new data by them, as a comma-separated list in which ':' starts
 * an encoding: a name that is empty or holds either could not be found again
 * after training, so it is refused before training. */
static fm_status check_storable_names(char *const *names, int n, const char *path, fm_error *err)
{
    for (int i = 0; names && i < n; i++) {
        if (names[i][0] == '\0')
            return fm_error_set(err, FM_ERR_FORMAT, "%s: column %d has an empty name; name it to train on it", path,
                                i + 1);
        if (strpbrk(names[i], ",:"))
            return fm_error_set(err, FM_ERR_FORMAT,
                                "%s: column name \"%s\" holds a '%c': the model could not select it again by name; "
                                "rename the column",
                                path, names[i], *strpbrk(names[i], ",:"));
    }
    return FM_OK;
}

static char **copy_names(char *const *names, int n)
{
    if (!names)
        return NULL;
    char **copy = calloc((size_t)n, sizeof *copy);
    if (!copy)
        return NULL;
    for (int i = 0; i < n; i++) {
        copy[i] = malloc(strlen(names[i]) + 1);
        if (!copy[i]) {
            for (int j = 0; j < i; j++)
                free(copy[j]);
            free(copy);
            return NULL;
        }
        strcpy(copy[i], names[i]);
    }
    return copy;
}

/* "model.safetensors" -> "model" + suffix (malloc'd). */
static char *path_with_suffix(const char *out, const char *suffix)
{
    size_t len = strlen(out);
    const char *ext = ".safetensors";
    size_t ext_len = strlen(ext);
    if (len > ext_len && strcmp(out + len - ext_len, ext) == 0)
        len -= ext_len;
    char *path = malloc(len + strlen(suffix) + 1);
    if (path) {
        memcpy(path, out, len);
        path[len] = '\0';
        strcat(path, suffix);
    }
    return path;
}

typedef struct checkpoint_target {
    const fm_model *model;
    const char *path;
    size_t written;
    int writer;    /* 1: this process writes (the only one, or rank 0 under mpirun) */
    long fail_at;  /* tests only (FATHOM_TEST_FAIL_RANK): fail this call, counting from 1; 0 never */
    size_t calls;
} checkpoint_target;

static fm_status write_checkpoint(const fm_train_state *state, void *user, fm_error *err)
{
    checkpoint_target *target = user;
    target->calls++;
    if (target->fail_at > 0 && target->calls == (size_t)target->fail_at)
        return fm_error_set(err, FM_ERR_NOMEM, "out of memory (simulated by FATHOM_TEST_FAIL_RANK)");
    if (!target->writer)
        return FM_OK;
    fm_status st = fm_checkpoint_save(target->path, target->model, state, err);
    if (st == FM_OK)
        target->written++;
    return st;
}

static cli_net_options net_options(const train_args *a)
{
    cli_net_options o = {a->common.layers,  a->common.act,           a->common.init,   a->common.output_act, a->dropout, a->n_act_overrides,
                         a->n_init_overrides, a->act_at, a->init_at, a->act_spec, a->init_spec};
    return o;
}

/* With --resume, architecture options (when given) must describe the
 * checkpoint's network; the first difference is named. */
static fm_status check_architecture(const train_args *a, const fm_loss *loss, const fm_net *net, fm_error *err)
{
    if (!(a->common.layers || a->common.act || a->common.init || a->n_act_overrides || a->n_init_overrides || a->common.output_act ||
          a->dropout > 0.0))
        return FM_OK;
    fm_layer_spec *specs = NULL;
    int n_layers = 0;
    cli_net_options net_opts = net_options(a);
    fm_status st = cli_build_specs(&net_opts, loss, fm_net_n_out(net), &specs, &n_layers, err);
    if (st != FM_OK)
        return st;
    if (n_layers != fm_net_n_layers(net))
        st = fm_error_set(err, FM_ERR_ARG, "cannot resume: the options describe %d layers, the checkpoint's network has %d",
                          n_layers, fm_net_n_layers(net));
    for (int l = 0; st == FM_OK && l < n_layers; l++) {
        const fm_layer_spec *have = fm_net_layer(net, l);
        char want_text[96], have_text[96];
        if (specs[l].n_out != have->n_out)
            st = fm_error_set(err, FM_ERR_ARG, "cannot resume: layer %d has width %d in the options, %d in the checkpoint",
                              l + 1, specs[l].n_out, have->n_out);
        fm_activation_format(&specs[l].act, want_text, sizeof want_text);
        fm_activation_format(&have->act, have_text, sizeof have_text);
        if (st == FM_OK && strcmp(want_text, have_text) != 0)
            st = fm_error_set(err, FM_ERR_ARG, "cannot resume: layer %d has activation %s in the options, %s in the checkpoint",
                              l + 1, want_text, have_text);
        fm_init_format(&specs[l].init, want_text, sizeof want_text);
        fm_init_format(&have->init, have_text, sizeof have_text);
        if (st == FM_OK && strcmp(want_text, have_text) != 0)
            st = fm_error_set(err, FM_ERR_ARG, "cannot resume: layer %d has initialiser %s in the options, %s in the checkpoint",
                              l + 1, want_text, have_text);
        if (st == FM_OK && l + 1 < n_layers && specs[l].dropout != have->dropout)
            st = fm_error_set(err, FM_ERR_ARG, "cannot resume: layer %d has dropout %g in the options, %g in the checkpoint",
                              l + 1, specs[l].dropout, have->dropout);
    }
    free(specs);
    return st;
}

/* Refuse a network that cannot fit in this machine's memory, before allocating it. */
static fm_status check_memory(const fm_dataset *train, const fm_layer_spec *specs, int n_layers, int batch,
                              const fm_optim_config *oc, int early_stopping, fm_error *err)
{
    int buffers = oc->kind != FM_OPTIM_SGD ? 2 : oc->momentum > 0.0 ? 1 : 0;
    int cap = (size_t)batch < train->rows ? batch : (int)train->rows;
    uint64_t need = fm_train_memory_estimate(train->n_in, specs, n_layers, cap, buffers, early_stopping, train->rows);
    uint64_t have = fm_physical_memory();
    if (have == 0 || need <= have)
        return FM_OK;
    double params = 0.0;
    int prev = train->n_in;
    for (int l = 0; l < n_layers; l++) {
        params += ((double)prev + 1.0) * specs[l].n_out;
        prev = specs[l].n_out;
    }
    return fm_error_set(err, FM_ERR_ARG,
                        "the network needs about %.3g GiB to train (%.3g parameters, with gradients, optimiser "
                        "state and batch buffers) but this machine has %.3g GiB of memory; use fewer or narrower "
                        "layers or a smaller batch",
                        (double)need / 1073741824.0, params, (double)have / 1073741824.0);
}

/* ------------------------------------------------ several processes (MPI) */

/* The collective of this run: NULL for one process. Under mpirun (when built
 * with MPI) every process runs this same command; each reads its share of
 * the rows, and rank 0 alone prints, writes the model, checkpoints and the
 * run log. Every fallible phase ends in an agreement (fm_collective.agree),
 * so a failure on any process stops all of them with "rank R: cause". */
static const fm_collective *world = NULL;

static fm_status agree(fm_status st, fm_error *err)
{
    return world ? world->agree(st, err, world->user) : st;
}

/* The largest of a value over processes, by a sum of one slot each. */
static fm_status max_over_ranks(long *value, fm_error *err)
{
    if (!world || world->size <= 1)
        return FM_OK;
    double *slots = calloc((size_t)world->size, sizeof *slots);
    fm_status st = slots ? FM_OK : fm_error_set(err, FM_ERR_NOMEM, "out of memory for %d slots", world->size);
    st = agree(st, err); /* a process without them stops all, none waits in the sum */
    if (st == FM_OK && slots) { /* slots: implied by the agreement, said for the analyzer */
        slots[world->rank] = (double)*value;
        st = world->sum_doubles(slots, (size_t)world->size, world->user, err);
    }
    for (int r = 0; st == FM_OK && slots && r < world->size; r++)
        if (slots[r] > (double)*value)
            *value = (long)slots[r];
    free(slots);
    return st;
}

/* Global row numbering of a shard: fm_dataset.row_offset from the rows of
 * the processes before it. */
static fm_status place_shard(fm_dataset *ds, size_t *total, fm_error *err)
{
    size_t offset = 0;
    fm_status st = fm_collective_rows(world, ds ? ds->rows : 0, &offset, total, err);
    if (ds)
        ds->row_offset = offset;
    return st;
}

/* The validation report of a run on several processes: each sums its rows'
 * squared errors (original units) and every process gets the totals; rank 0
 * prints them as cli_print_evaluation does for one process. */
static fm_status print_evaluation_shared(fm_model *model, fm_dataset *val, fm_error *err)
{
    fm_net *net = model->net;
    int n_out = fm_net_n_out(net);
    int classification = model->loss.kind == FM_LOSS_CROSS_ENTROPY || model->loss.kind == FM_LOSS_BCE;
    /* Predictions are n_out wide; targets val->n_out (1 for cross-entropy's labels). */
    size_t count = val->rows * (size_t)n_out, y_count = val->rows * (size_t)val->n_out;
    float *pred = malloc((count ? count : 1) * sizeof *pred);
    float *scaled = malloc((y_count ? y_count : 1) * sizeof *scaled);
    double *sums = calloc(2 * (size_t)n_out + 1, sizeof *sums);
    const int have = pred && scaled && sums;
    fm_status st = have ? FM_OK : fm_error_set(err, FM_ERR_NOMEM, "cannot allocate predictions");
    if (have && y_count && val->y) {
        memcpy(scaled, val->y, y_count * sizeof *scaled);
        if (model->target_std)
            fm_standardize(model->target_std, scaled, val->rows);
    }
    fm_dataset scaled_val = *val;
    scaled_val.y = scaled;
    if (have && count && !classification)
        st = fm_net_predict(net, val->x, val->rows, pred, err);
    st = agree(st, err);
    double loss = NAN, metric = NAN;
    if (st == FM_OK)
        st = fm_evaluate_collective(net, &model->loss, &scaled_val, world, &loss, &metric, err);
    if (st == FM_OK && have && !classification) {
        if (model->target_std)
            fm_unstandardize(model->target_std, pred, val->rows);
        for (int o = 0; count && val->y && o < n_out; o++) {
            double mean = model->target_std ? model->target_std->mean[o] : 0.0;
            for (size_t r = 0; r < val->rows; r++) {
                double y = val->y[r * (size_t)n_out + (size_t)o];
                double d = pred[r * (size_t)n_out + (size_t)o] - y;
                sums[2 * o] += d * d;
                sums[2 * o + 1] += (mean - y) * (mean - y);
            }
        }
        sums[2 * n_out] = (double)val->rows;
        st = world->sum_doubles(sums, 2 * (size_t)n_out + 1, world->user, err);
    }
    if (st == FM_OK && classification) {
        size_t rows = 0, offset = 0;
        st = fm_collective_rows(world, val->rows, &offset, &rows, err);
        printf("validation: %zu samples, loss %.6g, accuracy %.4f\n", rows, loss, metric);
    } else if (st == FM_OK && have) {
        double rows = sums[2 * n_out];
        printf("validation: %.0f samples, loss %.6g (standardised units)\n", rows, loss);
        for (int o = 0; o < n_out; o++) {
            const char *name = model->out_names && o < model->n_target_names ? model->out_names[o] : "output";
            printf("  %-16s RMSE %.6g   (predicting the training mean: %.6g)\n", name, sqrt(sums[2 * o] / rows),
                   sqrt(sums[2 * o + 1] / rows));
        }
    }
    free(pred);
    free(scaled);
    free(sums);
    return st;
}

/* Tests only: FATHOM_TEST_FAIL_RANK=R:read makes rank R fail as if its shard
 * could not be read; R:checkpoint:N makes its N-th checkpoint call fail as if
 * out of memory; 0:log makes rank 0's run log fail as if its disk were full
 * after the model was written. Lets the fault tests check that every process
 * stops, quickly and naming the rank, without a machine that actually fails. */
static int test_failure(int rank, const char *what, long *arg)
{
    const char *spec = getenv("FATHOM_TEST_FAIL_RANK");
    if (!spec || !world)
        return 0;
    char *end;
    long r = strtol(spec, &end, 10);
    if (end == spec || *end != ':' || r != rank)
        return 0;
    size_t len = strlen(what);
    if (strncmp(end + 1, what, len) != 0)
        return 0;
    if (arg)
        *arg = end[1 + len] == ':' ? strtol(end + 2 + len, NULL, 10) : 1;
    return 1;
}

int cmd_train(int argc, char **argv)
{
    train_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc != 0)
        return rc < 0 ? EXIT_OK : rc;
    cli_set_threads((int)a.common.threads);
    fm_collective world_storage;
    int rank = 0;
#ifdef FATHOM_HAVE_MPI
    if (fm_mpi_launched()) {
        fm_error mpi_err = {FM_OK, ""};
        if (fm_mpi_start(&world_storage, &mpi_err) != FM_OK)
            return cli_report(COMMAND, &mpi_err);
        world = &world_storage;
        rank = world->rank;
        /* One BLAS thread per process unless asked: K processes usually share
         * a machine's cores already. */
        if (a.common.threads <= 0 && !getenv("OPENBLAS_NUM_THREADS"))
            cli_set_threads(1);
        /* Rank 0 speaks for all: the others' output would repeat it. */
        if (rank > 0 && !freopen("/dev/null", "w", stdout))
            fprintf(stderr, "fathom train: rank %d: cannot silence standard output\n", rank);
    }
#else
    (void)world_storage;
#endif
    const int ranks = world ? world->size : 1;

    fm_error err = {FM_OK, ""};
    fm_model *model = NULL;
    fm_dataset *all = NULL, *train = NULL, *val = NULL;
    fm_layer_spec *specs = NULL;
    fm_optim *opt = NULL;
    char *json = NULL;
    fm_status st = FM_OK;
    /* Set from the model or --loss before any use; zeroed for clang-analyzer,
     * which cannot see that agree() keeps a failure. */
    fm_loss loss = {0};
    run_log log = {0};
    fm_layer_stats *last_stats = NULL;
    fm_train_state *resume_state = NULL;
    char *checkpoint_owned = NULL;
    char *log_path_owned = NULL;
    const char *log_path = a.log;
    if (!log_path && a.diagnose) {
        /* model.safetensors -> model.jsonl */
        size_t len = strlen(a.out);
        const char *ext = ".safetensors";
        size_t ext_len = strlen(ext);
        if (len > ext_len && strcmp(a.out + len - ext_len, ext) == 0)
            len -= ext_len;
        log_path_owned = malloc(len + 7);
        if (log_path_owned) {
            memcpy(log_path_owned, a.out, len);
            strcpy(log_path_owned + len, ".jsonl");
        } else {
            st = fm_error_set(&err, FM_ERR_NOMEM, "out of memory");
        }
        log_path = log_path_owned;
    }

    const char *source = a.common.from ? a.common.from : a.resume;
    const char *checkpoint_path = a.checkpoint ? a.checkpoint : a.resume;
    if (!checkpoint_path) {
        checkpoint_owned = path_with_suffix(a.out, ".ckpt");
        if (!checkpoint_owned && st == FM_OK)
            st = fm_error_set(&err, FM_ERR_NOMEM, "out of memory");
        checkpoint_path = checkpoint_owned;
    }
    /* Nothing may overwrite an input, and every output must be writable
     * before the run starts rather than after it ends. The checkpoint
     * continues the --resume file when it is that file. Only the writer (rank
     * 0 under mpirun) checks the outputs, since only it writes them: the
     * other processes' machines need not have the output folders. Every
     * process learns the outcome, so that none goes on alone to wait in the
     * next collective for one that stopped here. */
    const int checkpoint_is_resume = a.resume && checkpoint_path && strcmp(checkpoint_path, a.resume) == 0;
    const cli_path out_files[] = {{"--out", a.out},
                                {"--log", log_path},
                                {"--report", a.report},
                                {"--checkpoint", checkpoint_is_resume ? NULL : checkpoint_path}};
    const cli_path in_files[] = {{"--data", a.common.data},     {"--target-data", a.common.target_data},
                               {"--val-data", a.val_data},    {"--from", a.common.from},
                               {"--resume", a.resume}};
    if (st == FM_OK && rank == 0)
        st = cli_check_paths(out_files, 4, in_files, 5, &err);
    if ((st = agree(st, &err)) != FM_OK)
        goto done;
    if (source) {
        st = a.resume ? fm_checkpoint_load(a.resume, &model, &resume_state, &err) : fm_model_load(a.common.from, &model, &err);
        if (st == FM_OK && a.common.loss)
            st = cli_check_loss_matches(a.common.loss, &model->loss, &err);
        if (st == FM_OK)
            loss = model->loss;
        /* Every process reads the same file: agree in case one cannot. */
        st = agree(st, &err);
    } else {
        st = fm_loss_parse(a.common.loss ? a.common.loss : "mse", &loss, &err);
        if (st == FM_OK && a.common.output_act) {
            /* Refuse a loss the output cannot carry before reading any data. */
            fm_activation output_act;
            st = fm_activation_parse(a.common.output_act, &output_act, &err);
            if (st == FM_OK)
                st = fm_loss_check(&loss, &output_act, &err);
        }
    }
    if (st != FM_OK)
        goto done;

    /* Data: with --from, a CSV is read by the model's column names. */
    fm_read_options read_opts = {a.common.inputs, a.common.targets, a.common.skip_bad};
    if (model && !a.common.target_data && !a.resume) {
        /* Under mpirun each process reads its own block of rows, here as below. */
        st = cli_read_model_data_shard(model, a.common.data, NULL, a.common.inputs, a.common.targets, 1,
                                       a.common.skip_bad, rank, ranks, &all, &err);
    } else {
        /* Under mpirun each process reads its own block of rows. */
        st = fm_data_read_shard(a.common.data, a.common.target_data, &read_opts, rank, ranks, &all, &err);
    }
    if (st == FM_OK && test_failure(rank, "read", NULL))
        st = fm_error_set(&err, FM_ERR_FORMAT, "%s: cannot read this process's rows (simulated by FATHOM_TEST_FAIL_RANK)",
                          a.common.data);
    if (st == FM_OK && (!all->y || all->n_out == 0))
        st = fm_error_set(&err, FM_ERR_ARG, "%s: no target columns (give --targets or --target-data)", a.common.data);
    if (st == FM_OK && !model) {
        /* Without an encoding, predict and eval find the inputs again by these names. */
        st = all->encoding ? FM_OK : check_storable_names(all->in_names, all->n_in, a.common.data, &err);
        if (st == FM_OK)
            st = check_storable_names(all->out_names, all->n_out, a.common.target_data ? a.common.target_data
                                                                                       : a.common.data, &err);
    }
    st = agree(st, &err);
    if (st != FM_OK)
        goto done;
    size_t all_rows = all->rows, skipped = all->skipped;
    if (world) {
        /* The shard's rows are numbered globally from here on (splits use it). */
        st = place_shard(all, &all_rows, &err);
        long total_skipped = 0;
        double skipped_sum[1] = {(double)all->skipped};
        if (st == FM_OK)
            st = world->sum_doubles(skipped_sum, 1, world->user, &err);
        total_skipped = (long)skipped_sum[0];
        skipped = (size_t)total_skipped;
        if (st != FM_OK)
            goto done;
    }
    if (skipped && rank == 0)
        fprintf(stderr, "fathom train: skipped %zu bad rows of %s\n", skipped, a.common.data);
    if (a.val_data) {
        train = all;
        all = NULL;
        st = fm_data_read_shard(a.val_data, NULL, &read_opts, rank, ranks, &val, &err);
        if (st == FM_OK && (val->n_in != train->n_in || val->n_out != train->n_out))
            st = fm_error_set(&err, FM_ERR_ARG, "%s has %d inputs and %d targets; the training data has %d and %d",
                         a.val_data, val->n_in, val->n_out, train->n_in, train->n_out);
    } else if (a.split) {
        /* Validate on the held-out cells of a geoscience split (fm_holdout). */
        fm_holdout holdout;
        st = fm_holdout_parse(a.split, &holdout, &err);
        if (st == FM_OK)
            st = fm_dataset_split_holdout(all, &holdout, &train, &val, &err);
    } else {
        st = fm_dataset_split(all, a.val_split, a.common.seed, &train, &val, &err);
    }
    if (st == FM_OK && !train)
        st = fm_error_set(&err, FM_ERR_ARG, "no training data");
    st = agree(st, &err);
    if (st != FM_OK || !train)
        goto done;
    size_t train_rows = train->rows, val_rows = val ? val->rows : 0;
    if (world) {
        st = place_shard(train, &train_rows, &err);
        if (st == FM_OK)
            st = place_shard(val, &val_rows, &err);
        if (st != FM_OK)
            goto done;
    }
    (void)all_rows;
    if (train_rows == 0) {
        st = fm_error_set(&err, FM_ERR_ARG, "no training rows left after the validation split");
        goto done;
    }
    if (train->rows == 0)
        st = fm_error_set(&err, FM_ERR_ARG,
                          "this process holds none of the %zu training rows: %d processes are too many for the data "
                          "(use at most about one per row, in practice far fewer)",
                          train_rows, ranks);
    st = agree(st, &err);
    if (st != FM_OK)
        goto done;

    int classification = loss.kind == FM_LOSS_CROSS_ENTROPY;
    int n_out = train->n_out;
    if (loss.kind == FM_LOSS_BCE) {
        st = cli_check_bce_targets(train, a.common.target_data ? a.common.target_data : a.common.data, &err);
        if (st == FM_OK && val)
            st = cli_check_bce_targets(val, a.val_data ? a.val_data : a.common.data, &err);
        st = agree(st, &err);
        if (st != FM_OK)
            goto done;
    }
    if (classification) {
        long classes = 0;
        if (train->n_out != 1) {
            st = fm_error_set(&err, FM_ERR_ARG, "cross_entropy needs one class-label column, got %d target columns",
                         train->n_out);
            goto done;
        }
        st = cli_count_classes(train, a.common.target_data ? a.common.target_data : a.common.data, &classes, &err);
        if (st == FM_OK && val && val->rows) {
            long val_classes = 0;
            st = cli_count_classes(val, a.val_data ? a.val_data : a.common.data, &val_classes, &err);
            if (st == FM_OK && val_classes > classes)
                classes = val_classes;
        }
        /* The classes are those of all processes' labels. */
        st = agree(st, &err);
        if (st == FM_OK)
            st = max_over_ranks(&classes, &err);
        if (st != FM_OK)
            goto done;
        if (a.common.classes) {
            if (classes > a.common.classes) {
                st = fm_error_set(&err, FM_ERR_ARG, "a class label %ld is outside --classes %ld", classes - 1, a.common.classes);
                goto done;
            }
            classes = a.common.classes;
        }
        if (classes < 2) {
            st = fm_error_set(&err, FM_ERR_ARG, "cross_entropy needs at least two classes in the labels");
            goto done;
        }
        n_out = (int)classes;
    }

    if (!model) {
        /* A process that cannot allocate goes on to the agreement below, so
         * that it stops the others instead of leaving them waiting in it. */
        model = calloc(1, sizeof *model);
        if (!model)
            st = fm_error_set(&err, FM_ERR_NOMEM, "cannot allocate model");
        else
            model->loss = loss;
        int n_spec_layers = 0;
        cli_net_options net_opts = net_options(&a);
        if (st == FM_OK)
            st = cli_build_specs(&net_opts, &loss, n_out, &specs, &n_spec_layers, &err);
        if (st == FM_OK)
            st = fm_loss_check(&loss, &specs[n_spec_layers - 1].act, &err);
        fm_optim_config early_oc;
        if (st == FM_OK)
            st = build_optimizer_config(&a, &early_oc, &err);
        if (st == FM_OK)
            st = check_memory(train, specs, n_spec_layers, (int)a.common.batch, &early_oc, a.patience > 0 && val_rows,
                              &err);
        /* The same seed gives every process the same initial weights. */
        if (st == FM_OK && model)
            st = fm_net_create(train->n_in, specs, n_spec_layers, a.common.seed, &model->net, &err);
        st = agree(st, &err);
        if (st != FM_OK)
            goto done;
        /* Standardisation of the whole training set, summed over processes. */
        st = fm_standardizer_fit_collective(train->x, train->rows, train->n_in, world, &model->input_std, &err);
        st = agree(st, &err);
        if (st == FM_OK && !classification && loss.kind != FM_LOSS_BCE) {
            st = fm_standardizer_fit_collective(train->y, train->rows, train->n_out, world, &model->target_std, &err);
            st = agree(st, &err);
        }
        if (st != FM_OK)
            goto done;
        model->in_names = copy_names(train->in_names, train->n_in);
        model->out_names = copy_names(train->out_names, train->n_out);
        model->n_target_names = model->out_names ? train->n_out : 0;
    } else if (fm_net_n_in(model->net) != train->n_in || fm_net_n_out(model->net) != n_out) {
        /* Every process holds the same model and the same global class count: all agree. */
        st = fm_error_set(&err, FM_ERR_ARG, "the data has %d inputs and %d outputs; the model %s has %d and %d",
                     train->n_in, n_out, source, fm_net_n_in(model->net), fm_net_n_out(model->net));
        goto done;
    } else if (a.resume && (st = check_architecture(&a, &loss, model->net, &err)) != FM_OK) {
        goto done;
    }
    if (model->input_std) {
        fm_standardize(model->input_std, train->x, train->rows);
        if (val)
            fm_standardize(model->input_std, val->x, val->rows);
    }
    if (model->target_std) {
        fm_standardize(model->target_std, train->y, train->rows);
        if (val)
            fm_standardize(model->target_std, val->y, val->rows);
    }

    fm_optim_config oc;
    st = build_optimizer_config(&a, &oc, &err);
    if (st == FM_OK)
        st = fm_optim_create(&oc, fm_net_n_params(model->net), &opt, &err);
    st = agree(st, &err);
    if (st != FM_OK)
        goto done;

    fm_train_options to = fm_train_options_default();
    to.epochs = (int)a.epochs;
    to.batch = (int)a.common.batch;
    to.patience = (int)a.patience;
    to.seed = a.common.seed;
    to.progress_interval = 0.1;
    to.explode_factor = a.explode_factor;
    checkpoint_target ck = {model, checkpoint_path, 0, rank == 0, 0, 0};
    long fail_at = 0;
    if (test_failure(rank, "checkpoint", &fail_at))
        ck.fail_at = fail_at;
    to.collective = world;
    to.checkpoint_every = (size_t)a.checkpoint_every;
    to.on_checkpoint = write_checkpoint;
    to.checkpoint_user = &ck;
    to.resume = resume_state;
    int n_layers = fm_net_n_layers(model->net);
    progress_state ps = {isatty(STDERR_FILENO), a.quiet, classification || loss.kind == FM_LOSS_BCE, &log,
                         model->net, NULL, n_layers, 0, 0, rank > 0};
    if (a.diagnose) {
        ps.last_stats = calloc((size_t)n_layers, sizeof *ps.last_stats);
        if (!ps.last_stats) /* agreed on below with the run log */
            st = fm_error_set(&err, FM_ERR_NOMEM, "out of memory for the statistics of %d layers", n_layers);
        to.diagnose_every = (int)a.diagnose;
        to.on_diagnose = on_diagnose;
        to.diagnose_user = &ps;
    }
    last_stats = ps.last_stats;
    if (rank > 0)
        log_path = NULL; /* rank 0 writes the run log */
    if (st == FM_OK && log_path)
        st = run_log_open(&log, log_path, &err);
    st = agree(st, &err);
    if (st != FM_OK)
        goto done;
    if (log_path) {
        fm_train_result none = {0, 0, NAN, NAN, -1, 0, 0, 0, 0};
        char *settings = training_json(&a, &oc, &none, train_rows, val_rows, train->encoding);
        char loss_text[64];
        fm_loss_format(&loss, loss_text, sizeof loss_text);
        run_log_start(&log, model->net, loss_text, settings, a.common.data, train_rows, val_rows);
        cJSON_free(settings);
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    printf("training %d -> ", fm_net_n_in(model->net));
    for (int l = 0; l < n_layers; l++) {
        char act[96];
        fm_activation_format(&fm_net_layer(model->net, l)->act, act, sizeof act);
        printf("%d %s%s", fm_net_layer(model->net, l)->n_out, act, l + 1 < n_layers ? " -> " : "");
    }
    printf(" (%zu parameters) on %zu rows, validating on %zu", fm_net_n_params(model->net), train_rows, val_rows);
    if (ranks > 1)
        printf(", %d processes", ranks);
    printf("\n");
    fflush(stdout);
    fm_train_result res;
    fm_error train_err = {FM_OK, ""};
    fm_status train_status = fm_train(model->net, opt, &loss, &to, train, val, on_progress, &ps, &res, &train_err);
    if (ps.tty && !a.quiet && !ps.silent)
        fprintf(stderr, "\r\033[K");
    /* A diverged run still has good weights (those of its last completed
     * epoch): they are saved, and the exit status says it diverged. */
    if (train_status != FM_OK && train_status != FM_ERR_STOPPED && !res.diverged) {
        err = train_err;
        st = train_status;
        run_log_end(&log, "failed", err.message, &res, NULL);
        goto done;
    }
    if (train_status == FM_ERR_STOPPED && rank == 0)
        fprintf(stderr,
                "fathom train: interrupted after %zu steps; checkpoint written to %s (continue with --resume %s); "
                "saving the model as it is\n",
                res.steps, checkpoint_path, checkpoint_path);

    json = training_json(&a, &oc, &res, train_rows, val_rows, train->encoding);
    free(model->training_json);
    model->training_json = json;
    json = NULL;
    if (res.stopped_early)
        printf("stopped early after epoch %d; kept the weights of epoch %d\n", res.epochs_run, res.best_epoch + 1);
    if (val_rows && !res.diverged) {
        /* Report in original units: undo the target standardisation of val. */
        if (model->target_std)
            fm_unstandardize(model->target_std, val->y, val->rows);
        fm_error eval_err = {FM_OK, ""};
        fm_status eval_st = world ? print_evaluation_shared(model, val, &eval_err)
                                  : cli_print_evaluation(model, val, "validation", &eval_err);
        if (eval_st != FM_OK && rank == 0)
            fprintf(stderr, "fathom train: evaluation failed: %s\n", eval_err.message);
    }
    char diagnosis[2048] = "";
    if (ps.have_stats) {
        fm_stats_advice(ps.last_stats, n_layers, diagnosis, sizeof diagnosis);
        printf("diagnosis (statistics of step %zu):\n%s", ps.stats_step + 1, diagnosis);
    }
    run_log_end(&log,
                res.diverged ? "diverged" : train_status == FM_ERR_STOPPED ? "stopped" : "ok",
                train_status == FM_OK ? NULL : train_err.message, &res, ps.have_stats ? diagnosis : NULL);
    /* Rank 0 writes the model; the others learn whether it could. */
    st = rank == 0 ? fm_model_save(model, a.out, &err) : FM_OK;
    st = agree(st, &err);
    if (st == FM_OK) {
        if (res.diverged && res.restored_epoch > 0)
            printf("the last good weights (end of epoch %d) written to %s\n", res.restored_epoch, a.out);
        else if (res.diverged)
            printf("the initial weights written to %s (training diverged in the first epoch)\n", a.out);
        else
            printf("model written to %s\n", a.out);
        st = train_status;
        if (st != FM_OK)
            err = train_err;
        if (st == FM_ERR_STOPPED)
            fm_error_set(&err, FM_ERR_STOPPED, "stopped by a signal");
    }
    if (st == FM_OK || st == FM_ERR_STOPPED || res.diverged) {
        /* The model is written; a log or report that cannot be is still a
         * failure of the command (exit 3), unless training already failed. */
        fm_error log_err = {FM_OK, ""};
        fm_status out_st = run_log_close(&log, &log_err);
        if (out_st == FM_OK && log_path && test_failure(rank, "log", NULL))
            out_st = fm_error_set(&log_err, FM_ERR_IO, "cannot write %s (simulated by FATHOM_TEST_FAIL_RANK)", log_path);
        if (out_st == FM_OK && log_path)
            printf("run log written to %s\n", log_path);
        if (out_st == FM_OK && a.report && log_path) {
            out_st = rank == 0 ? fm_report_write(log_path, a.report, &log_err) : FM_OK;
            if (out_st == FM_OK)
                printf("report written to %s\n", a.report);
        }
        /* Rank 0 alone writes them; every process exits with the outcome. */
        out_st = agree(out_st, &log_err);
        if (out_st != FM_OK && st == FM_OK) {
            st = out_st;
            err = log_err;
        } else if (out_st != FM_OK && rank == 0) {
            fprintf(stderr, "fathom train: %s\n", log_err.message);
        }
    }

done:
    /* Under mpirun every process knows the agreed failure; rank 0 says it. */
    rc = st == FM_OK ? EXIT_OK : rank == 0 ? cli_report(COMMAND, &err) : cli_exit_code(err.status);
    run_log_close(&log, NULL);
    free(log_path_owned);
    free(checkpoint_owned);
    fm_train_state_free(resume_state);
    free(last_stats);
    free(json);
    free(specs);
    fm_optim_free(opt);
    fm_dataset_free(all);
    fm_dataset_free(train);
    fm_dataset_free(val);
    fm_model_free(model);
#ifdef FATHOM_HAVE_MPI
    if (world) {
        world = NULL;
        fm_mpi_stop();
    }
#endif
    return rc;
}
