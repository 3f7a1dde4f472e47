/* The training loop: shuffled mini-batches, an optimiser step per batch,
 * validation and early stopping per epoch, a progress callback, and optional
 * per-layer diagnostics. Every buffer is allocated before the first step; a
 * step only computes. A loss or gradient that stops being finite, or a loss
 * that explodes, ends training with the place it happened and the last good
 * weights restored, never silently trained through. */
#include "nn/net_internal.h"
#include "core/reduce.h"
#include "nn/train_state.h"
#include "probe/stats_reduce.h"

#include <math.h>
#include <stdint.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

fm_train_options fm_train_options_default(void)
{
    fm_train_options o;
    memset(&o, 0, sizeof o);
    o.epochs = 10;
    o.batch = 32;
    o.shuffle = 1;
    o.patience = 0;
    o.seed = 1;
    o.progress_interval = 0.2;
    o.explode_factor = 100.0;
    o.vanish_ratio = 1e-5;
    return o;
}

static int is_classification(const fm_loss *loss)
{
    return loss->kind == FM_LOSS_CROSS_ENTROPY || loss->kind == FM_LOSS_BCE;
}

/* Correct predictions in a batch: argmax for softmax outputs, threshold 0.5 for
 * sigmoid outputs (every output unit counts once). Returns the count and the
 * number of decisions. */
static size_t count_correct(const fm_loss *loss, const float *a, const float *y, int batch, int n_out,
                            size_t *decisions)
{
    size_t correct = 0;
    if (loss->kind == FM_LOSS_CROSS_ENTROPY) {
        for (int r = 0; r < batch; r++) {
            const float *ar = a + (size_t)r * (size_t)n_out;
            int best = 0;
            for (int c = 1; c < n_out; c++)
                if (ar[c] > ar[best])
                    best = c;
            correct += (float)best == y[r];
        }
        *decisions = (size_t)batch;
    } else {
        size_t count = (size_t)batch * (size_t)n_out;
        for (size_t i = 0; i < count; i++)
            correct += (a[i] > 0.5f) == (y[i] > 0.5f);
        *decisions = count;
    }
    return correct;
}

static fm_status check_data(const fm_net *net, const fm_loss *loss, const fm_dataset *data, const char *what,
                            fm_error *err)
{
    if (!data || data->rows == 0)
        return fm_fail(err, FM_ERR_ARG, "%s data has no rows", what);
    if (!data->y)
        return fm_fail(err, FM_ERR_ARG, "%s data has no targets", what);
    if (data->n_in != net->n_in)
        return fm_fail(err, FM_ERR_ARG, "%s data has %d input columns but the network takes %d", what, data->n_in,
                       net->n_in);
    int n_out = fm_net_n_out(net);
    int width = fm_loss_target_width(loss, n_out);
    if (data->n_out != width)
        return fm_fail(err, FM_ERR_ARG, "%s data has %d target columns but loss %s with %d outputs needs %d", what,
                       data->n_out, fm_loss_name(loss->kind), n_out, width);
    /* Non-finite values would surface as a diverged loss several steps later;
     * name the row instead (the search runs only when the fast check fails). */
    if (fm_reduce_all_finite(data->x, data->rows * (size_t)data->n_in) &&
        fm_reduce_all_finite(data->y, data->rows * (size_t)width))
        return fm_loss_check(loss, &net->specs[net->n_layers - 1].act, err);
    for (size_t r = 0; r < data->rows; r++) {
        for (int i = 0; i < data->n_in; i++)
            if (!isfinite(data->x[r * (size_t)data->n_in + (size_t)i]))
                return fm_fail(err, FM_ERR_ARG, "%s data row %zu: input %d is not finite", what, r + 1, i + 1);
        for (int i = 0; i < width; i++)
            if (!isfinite(data->y[r * (size_t)width + (size_t)i]))
                return fm_fail(err, FM_ERR_ARG, "%s data row %zu: target %d is not finite", what, r + 1, i + 1);
    }
    return fm_loss_check(loss, &net->specs[net->n_layers - 1].act, err);
}

/* The sums behind fm_evaluate's figures, which add up over processes. */
enum { EVAL_LOSS, EVAL_SQ, EVAL_CORRECT, EVAL_DECISIONS, EVAL_ROWS, EVAL_SUMS };

static fm_status evaluate_sums(fm_net *net, const fm_loss *loss, const fm_dataset *data, double sums[EVAL_SUMS],
                               fm_error *err)
{
    fm_status st = FM_OK;
    const int chunk = 256;
    int n_out = fm_net_n_out(net), width = data->n_out;
    const fm_activation *out_act = &net->specs[net->n_layers - 1].act;
    double loss_sum = 0.0, sq_sum = 0.0;
    size_t correct = 0, decisions = 0;
    for (size_t start = 0; start < data->rows; start += (size_t)chunk) {
        int batch = (int)(data->rows - start < (size_t)chunk ? data->rows - start : (size_t)chunk);
        const float *x = data->x + start * (size_t)data->n_in;
        const float *y = data->y + start * (size_t)width;
        st = fm_net_forward(net, x, batch, 0, err);
        if (st != FM_OK)
            return st;
        const fm_net_layer_state *last = &net->layers[net->n_layers - 1];
        double value;
        st = fm_loss_compute(loss, out_act, last->z, last->a, y, batch, n_out, &value, NULL, err);
        if (st != FM_OK)
            return st;
        loss_sum += value * batch;
        if (is_classification(loss)) {
            size_t d;
            correct += count_correct(loss, last->a, y, batch, n_out, &d);
            decisions += d;
        } else {
            size_t count = (size_t)batch * (size_t)n_out;
            for (size_t i = 0; i < count; i++) {
                double d = (double)last->a[i] - y[i];
                sq_sum += d * d;
            }
        }
    }
    sums[EVAL_LOSS] = loss_sum;
    sums[EVAL_SQ] = sq_sum;
    sums[EVAL_CORRECT] = (double)correct;
    sums[EVAL_DECISIONS] = (double)decisions;
    sums[EVAL_ROWS] = (double)data->rows;
    return FM_OK;
}

static void evaluate_finish(const fm_net *net, const fm_loss *loss, const double sums[EVAL_SUMS], double *loss_value,
                            double *metric)
{
    if (loss_value)
        *loss_value = sums[EVAL_LOSS] / sums[EVAL_ROWS];
    if (metric)
        *metric = is_classification(loss) ? sums[EVAL_CORRECT] / sums[EVAL_DECISIONS]
                                          : sqrt(sums[EVAL_SQ] / (sums[EVAL_ROWS] * fm_net_n_out(net)));
}

fm_status fm_evaluate(fm_net *net, const fm_loss *loss, const fm_dataset *data, double *loss_value, double *metric,
                      fm_error *err)
{
    if (!net || !loss || !data)
        return fm_fail(err, FM_ERR_ARG, "fm_evaluate: net, loss and data must not be NULL");
    fm_status st = check_data(net, loss, data, "evaluation", err);
    double sums[EVAL_SUMS];
    if (st == FM_OK)
        st = evaluate_sums(net, loss, data, sums, err);
    if (st == FM_OK)
        evaluate_finish(net, loss, sums, loss_value, metric);
    return st;
}

fm_status fm_collective_rows(const fm_collective *coll, size_t rows, size_t *offset, size_t *total, fm_error *err)
{
    if (!offset || !total)
        return fm_fail(err, FM_ERR_ARG, "fm_collective_rows: offset and total must not be NULL");
    *offset = 0;
    *total = rows;
    if (coll && (coll->size < 1 || coll->rank < 0 || coll->rank >= coll->size))
        return fm_fail(err, FM_ERR_ARG, "collective: rank %d of %d processes does not exist", coll->rank, coll->size);
    if (!coll || coll->size <= 1)
        return FM_OK;
    /* Each process fills its own slot; the sum hands every process all counts
     * (exact in double up to 2^53 rows). */
    double *counts = fm_calloc_array((size_t)coll->size, sizeof *counts);
    fm_status st = counts ? FM_OK : fm_fail(err, FM_ERR_NOMEM, "out of memory for %d row counts", coll->size);
    /* A process without the slots stops every process here, rather than
     * leaving the others waiting in the sum. */
    st = coll->agree(st, err, coll->user);
    if (st == FM_OK && counts) { /* counts: implied by the agreement, said for the analyzer */
        counts[coll->rank] = (double)rows;
        st = coll->sum_doubles(counts, (size_t)coll->size, coll->user, err);
    }
    if (st == FM_OK && counts) {
        *total = 0;
        for (int r = 0; r < coll->size; r++) {
            if (r < coll->rank)
                *offset += (size_t)counts[r];
            *total += (size_t)counts[r];
        }
    }
    free(counts);
    return st;
}

fm_status fm_evaluate_collective(fm_net *net, const fm_loss *loss, const fm_dataset *data, const fm_collective *coll,
                                 double *loss_value, double *metric, fm_error *err)
{
    /* With several processes a refusal is agreed like any other failure, so
     * that no process waits in a sum for this one (data may be NULL: a shard
     * without rows). */
    fm_status st = FM_OK;
    if (!net || !loss)
        st = fm_fail(err, FM_ERR_ARG, "fm_evaluate_collective: net and loss must not be NULL");
    if (!coll || coll->size <= 1) {
        if (st == FM_OK && !data) /* one process: its data is all there is */
            st = fm_fail(err, FM_ERR_ARG, "fm_evaluate_collective: data must not be NULL without other processes");
        return st != FM_OK ? st : fm_evaluate(net, loss, data, loss_value, metric, err);
    }
    double sums[EVAL_SUMS] = {0, 0, 0, 0, 0};
    if (st == FM_OK && data && data->rows > 0) {
        st = check_data(net, loss, data, "evaluation", err);
        if (st == FM_OK)
            st = evaluate_sums(net, loss, data, sums, err);
    }
    st = coll->agree(st, err, coll->user);
    if (st == FM_OK)
        st = coll->sum_doubles(sums, EVAL_SUMS, coll->user, err);
    if (st == FM_OK && !(sums[EVAL_ROWS] > 0))
        st = fm_fail(err, FM_ERR_ARG, "evaluation data has no rows on any process");
    if (st == FM_OK)
        evaluate_finish(net, loss, sums, loss_value, metric);
    return st;
}

/* Everything a run needs, allocated before the first step. The run's mutable
 * state lives in `s`, whose buffers (order, best_params, last_good) the
 * trainer owns and whose optimiser moments are the optimiser's own, so that a
 * checkpoint hands out a view without copying or allocating. */
typedef struct trainer {
    fm_net *net;
    fm_optim *opt;
    const fm_loss *loss;
    const fm_train_options *opts;
    const fm_dataset *train, *val;
    fm_train_callback on_progress;
    void *user;
    int batch_cap, width;
    float *batch_x, *batch_y, *grad_z;
    fm_layer_stats *stats;
    double *update_ratio;
    /* diagnostics: the parameter ranges of each layer's weights and biases
     * (2 l and 2 l + 1) and what the measured step saw of them
     * (fm_optim_step_measured) */
    size_t *range_begin, *range_length;
    fm_update_sums *range_sums;
    const char *pending_warning;
    fm_train_state s;
    /* Data-parallel training (NULL: one process). The training rows of this
     * process are global rows [row_offset, row_offset + train->rows) of
     * global_rows; order[] holds global row numbers. */
    const fm_collective *coll;
    size_t global_rows, row_offset, val_global_rows;
    double *suff;         /* diagnostics: sufficient statistics, summed over processes */
    size_t n_suff;
    int stop_requested;   /* the progress callback asked to stop; agreed at the next step */
} trainer;

static const char VANISHING_WARNING[] =
    "vanishing gradients: the first layer's weight gradients have stayed many orders of magnitude below the last "
    "layer's; the early layers barely learn (check the initialisation and the activation, e.g. run fathom probe)";

static void trainer_free(trainer *t)
{
    free(t->s.order);
    free(t->batch_x);
    free(t->batch_y);
    free(t->grad_z);
    free(t->s.best_params);
    free(t->s.last_good);
    free(t->stats);
    free(t->update_ratio);
    free(t->range_begin);
    free(t->range_length);
    free(t->range_sums);
    free(t->suff);
}

static fm_status trainer_alloc(trainer *t, fm_error *err)
{
    fm_net *net = t->net;
    const int n_in = net->n_in, n_out = fm_net_n_out(net);
    const int diagnose = t->opts->diagnose_every > 0 && t->opts->on_diagnose;
    t->s.order = fm_alloc_array(t->global_rows, sizeof *t->s.order);
    t->batch_x = fm_alloc_array((size_t)t->batch_cap * (size_t)n_in, sizeof *t->batch_x);
    t->batch_y = fm_alloc_array((size_t)t->batch_cap * (size_t)t->width, sizeof *t->batch_y);
    t->grad_z = fm_alloc_array((size_t)t->batch_cap * (size_t)n_out, sizeof *t->grad_z);
    t->s.last_good = fm_alloc_array(net->n_params, sizeof *t->s.last_good);
    int ok = t->s.order && t->batch_x && t->batch_y && t->grad_z && t->s.last_good;
    if (t->val && t->opts->patience > 0) {
        t->s.best_params = fm_alloc_array(net->n_params, sizeof *t->s.best_params);
        ok = ok && t->s.best_params;
    }
    if (diagnose) {
        const size_t layers = (size_t)net->n_layers;
        t->stats = fm_calloc_array(layers, sizeof *t->stats);
        t->update_ratio = fm_calloc_array(layers, sizeof *t->update_ratio);
        t->range_begin = fm_alloc_array(2 * layers, sizeof *t->range_begin);
        t->range_length = fm_alloc_array(2 * layers, sizeof *t->range_length);
        t->range_sums = fm_alloc_array(2 * layers, sizeof *t->range_sums);
        ok = ok && t->stats && t->update_ratio && t->range_begin && t->range_length && t->range_sums;
        for (int l = 0; ok && l < net->n_layers; l++) {
            const fm_net_layer_state *ls = &net->layers[l];
            t->range_begin[2 * l] = ls->weight_offset;
            t->range_length[2 * l] = (size_t)ls->n_in * (size_t)ls->n_out;
            t->range_begin[2 * l + 1] = ls->bias_offset;
            t->range_length[2 * l + 1] = (size_t)ls->n_out;
        }
        if (t->coll) {
            /* + 2: the sum of squared inputs and their count, for the theory columns */
            t->n_suff = fm_stats_sufficient_size(net) + 2;
            t->suff = fm_alloc_array(t->n_suff, sizeof *t->suff);
            ok = ok && t->suff;
        }
    }
    if (!ok)
        return fm_fail(err, FM_ERR_NOMEM, "cannot allocate training buffers");
    return fm_net_reserve(net, t->batch_cap, err);
}

static void shuffle(size_t *order, size_t n, fm_rng *rng)
{
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)fm_rng_below(rng, (uint64_t)i + 1);
        size_t tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
}


static double block_norm(const float *v, size_t n) { return sqrt(fm_reduce_sum_squares(v, n)); }

static void gather_batch(trainer *t, size_t first, int batch)
{
    const int n_in = t->net->n_in, width = t->width;
    for (int r = 0; r < batch; r++) {
        size_t row = t->s.order[first + (size_t)r];
        memcpy(t->batch_x + (size_t)r * (size_t)n_in, t->train->x + row * (size_t)n_in, (size_t)n_in * sizeof(float));
        memcpy(t->batch_y + (size_t)r * (size_t)width, t->train->y + row * (size_t)width,
               (size_t)width * sizeof(float));
    }
}

/* Exploding loss: an exponential moving average over ~20 steps that rises far
 * above both its minimum and the first loss. Checked from step 10 on, so that
 * a loss that blows up within the first steps is caught as well. */
static int loss_exploded(trainer *t, double value, size_t step)
{
    fm_train_state *s = &t->s;
    if (!(t->opts->explode_factor > 0.0))
        return 0;
    if (step == 0) {
        s->loss_ema = s->loss_ema_start = s->loss_ema_min = value;
        return 0;
    }
    s->loss_ema = 0.95 * s->loss_ema + 0.05 * value;
    if (s->loss_ema < s->loss_ema_min)
        s->loss_ema_min = s->loss_ema;
    return step >= 10 && s->loss_ema > t->opts->explode_factor * s->loss_ema_min && s->loss_ema > s->loss_ema_start;
}

/* Vanishing gradients: the first layer's RMS weight gradient (rms_first) far
 * below the last layer's (rms_last), three checks in a row. */
static void watch_vanishing(trainer *t, fm_train_result *res, double rms_first, double rms_last)
{
    if (!(t->opts->vanish_ratio > 0.0) || t->net->n_layers < 2 || res->vanishing_warned)
        return;
    if (rms_last > 0.0 && rms_first < t->opts->vanish_ratio * rms_last)
        t->s.vanishing_checks++;
    else
        t->s.vanishing_checks = 0;
    if (t->s.vanishing_checks >= 3) {
        res->vanishing_warned = 1;
        t->pending_warning = VANISHING_WARNING;
    }
}

static double weight_grad_rms(const fm_net *net, int layer)
{
    const fm_net_layer_state *s = &net->layers[layer];
    size_t n = (size_t)s->n_in * (size_t)s->n_out;
    return block_norm(net->grads + s->weight_offset, n) / sqrt((double)n);
}

static double stats_grad_rms(const fm_layer_stats *st) { return st->grad_w_norm / sqrt((double)st->n_in * st->n_out); }

static double input_second_moment(const trainer *t, int batch)
{
    size_t count = (size_t)batch * (size_t)t->net->n_in;
    return fm_reduce_sum_squares(t->batch_x, count) / (double)count;
}

/* Statistics of a diagnosed step whose gradient is clipped: the gradient's
 * columns describe it as backward made it, before the clipping. */
static void diagnose_before_clipping(trainer *t, int batch)
{
    fm_stats_measure(t->net, t->stats);
    fm_stats_theory(t->net, input_second_moment(t, batch), t->stats);
}

/* The optimiser step of a diagnosed step: it also measures every layer's
 * update-to-weight ratio ||W_after - W_before|| / ||W_before|| and the sums
 * of its weights and gradient, a cache-sized chunk at a time, instead of
 * copying every weight before the step and comparing after it, and instead
 * of passes of their own over the weights and the gradient for the
 * statistics (together more than the step itself on the benchmark network).
 * Returns the gradient's global norm. */
static double step_measured(trainer *t, double lr)
{
    fm_net *net = t->net;
    fm_optim_step_measured(t->opt, net->params, net->grads, lr, t->range_begin, t->range_length, 2 * net->n_layers,
                           t->range_sums);
    double grad_sq = 0.0;
    for (int l = 0; l < net->n_layers; l++) {
        const fm_update_sums *w = &t->range_sums[2 * l];
        t->update_ratio[l] = w->before_sq > 0.0 ? sqrt(w->update_sq / w->before_sq) : NAN;
        grad_sq += w->grad_sq + t->range_sums[2 * l + 1].grad_sq;
    }
    return sqrt(grad_sq);
}

/* Fill the progress record; a pending warning goes out with the next call
 * of the progress callback (take_warning), not with diagnostics. */
static void fill_progress(trainer *t, fm_train_progress *p, int epoch, double lr, double start_time,
                          size_t start_samples, int take_warning)
{
    double now = fm_now_seconds();
    size_t samples_done = t->s.samples_done;
    p->epoch = epoch;
    p->lr = lr;
    p->elapsed_s = now - start_time;
    /* Speed from this call's samples only: a resumed run starts its clock anew. */
    p->samples_per_s = p->elapsed_s > 0 ? (double)(samples_done - start_samples) / p->elapsed_s : 0.0;
    double total = (double)t->global_rows * t->opts->epochs;
    p->eta_s = p->samples_per_s > 0 ? (total - (double)samples_done) / p->samples_per_s : 0.0;
    p->warning = take_warning ? t->pending_warning : NULL;
    if (take_warning)
        t->pending_warning = NULL;
}

/* Divergence: put back the weights of the last completed epoch and say where
 * and why it happened. */
static fm_status diverged(trainer *t, fm_train_result *res, int epoch, double lr, const char *what, fm_error *err)
{
    memcpy(t->net->params, t->s.last_good, t->net->n_params * sizeof(float));
    res->diverged = 1;
    res->restored_epoch = epoch;
    t->s.finished = 1;
    return fm_fail(err, FM_ERR_NUMERIC,
                   "training diverged: %s at epoch %d, step %zu (learning rate %g): the gradients exploded; try a "
                   "learning rate about 10 times smaller or gradient clipping; the weights of %s were kept",
                   what, epoch + 1, res->steps + 1, lr, epoch == 0 ? "the start" : "the last completed epoch");
}

/* The smoothed loss has exploded: stop as diverged (FM_ERR_NUMERIC), else FM_OK. */
static fm_status check_explosion(trainer *t, fm_train_result *res, int epoch, double lr, double value, fm_error *err)
{
    if (!loss_exploded(t, value, res->steps))
        return FM_OK;
    fm_train_state *s = &t->s;
    char what[160];
    snprintf(what, sizeof what, "the loss (smoothed) grew to %.4g, %.0f times its minimum %.4g", s->loss_ema,
             s->loss_ema / s->loss_ema_min, s->loss_ema_min);
    return diverged(t, res, epoch, lr, what, err);
}

/* One row's share of a fingerprint: FNV-1a over its global index and the
 * bits of its inputs and targets, finished by splitmix64 so that the sum
 * over rows mixes well. */
static uint64_t row_hash(uint64_t index, const float *x, int n_in, const float *y, int n_out)
{
    const uint64_t prime = 1099511628211ULL;
    uint64_t h = (1469598103934665603ULL ^ index) * prime;
    for (int b = 0; b < 2; b++) {
        const float *v = b == 0 ? x : y;
        int n = b == 0 ? n_in : (y ? n_out : 0);
        for (int i = 0; i < n; i++) {
            uint32_t bits;
            memcpy(&bits, &v[i], 4);
            h = (h ^ bits) * prime;
        }
    }
    return fm_splitmix64(h);
}

uint64_t fm_train_data_rows_hash(const fm_dataset *data, size_t first_row)
{
    uint64_t sum = 0;
    if (!data)
        return 0;
    for (size_t r = 0; r < data->rows; r++)
        sum += row_hash((uint64_t)(first_row + r), data->x + r * (size_t)data->n_in, data->n_in,
                        data->y ? data->y + r * (size_t)data->n_out : NULL, data->n_out);
    return sum;
}

uint64_t fm_train_data_hash_finish(uint64_t rows_hash, size_t rows, int n_in, int n_out)
{
    if (rows == 0)
        return 0;
    const uint64_t prime = 1099511628211ULL;
    uint64_t h = (1469598103934665603ULL ^ (uint64_t)rows) * prime;
    h = (h ^ (uint64_t)(uint32_t)n_in) * prime;
    h = (h ^ (uint64_t)(uint32_t)n_out) * prime;
    return fm_splitmix64(h ^ rows_hash);
}

uint64_t fm_train_data_hash(const fm_dataset *data)
{
    if (!data || data->rows == 0)
        return 0;
    return fm_train_data_hash_finish(fm_train_data_rows_hash(data, 0), data->rows, data->n_in, data->n_out);
}

/* A 64-bit sum over processes, in four 16-bit limbs: each limb's sum stays
 * exact in double for any number of processes, and the carries between limbs
 * wrap modulo 2^64 as the sum itself does. */
static fm_status sum_u64(const fm_collective *coll, uint64_t *values, int n, fm_error *err)
{
    double limbs[8];
    for (int k = 0; k < n; k++)
        for (int i = 0; i < 4; i++)
            limbs[4 * k + i] = (double)((values[k] >> (16 * i)) & 0xffffu);
    fm_status st = coll->sum_doubles(limbs, 4 * (size_t)n, coll->user, err);
    for (int k = 0; st == FM_OK && k < n; k++) {
        values[k] = 0;
        for (int i = 0; i < 4; i++)
            values[k] += (uint64_t)limbs[4 * k + i] << (16 * i);
    }
    return st;
}

/* The run's definition, for checkpoints and for checking a resumed state.
 * With several processes the rows and fingerprints are those of the global
 * data, so that a checkpoint does not depend on how many wrote it. */
static fm_status describe_run(trainer *t, fm_error *err)
{
    fm_train_state *s = &t->s;
    const fm_train_options *o = t->opts;
    s->n_params = t->net->n_params;
    s->rows = t->global_rows;
    s->val_rows = t->val ? t->val_global_rows : 0;
    s->n_in = t->net->n_in;
    s->n_out = t->width;
    s->epochs = o->epochs;
    s->batch = o->batch;
    s->shuffle = o->shuffle ? 1 : 0;
    s->patience = o->patience;
    s->seed = o->seed;
    s->explode_factor = o->explode_factor;
    s->optim = *fm_optim_get_config(t->opt);
    s->optim_m = fm_optim_buffer(t->opt, 0);
    s->optim_v = fm_optim_buffer(t->opt, 1);
    if (!t->coll) {
        /* The fingerprints serve checkpoints only; hashing every value costs
         * a pass over the data at each fm_train call, which short calls (a
         * few steps at a time, as a caller driving its own schedule makes
         * them) would feel. Under a collective every process must take part,
         * so there they are always computed. */
        if (o->on_checkpoint || o->resume) {
            s->train_hash = fm_train_data_hash(t->train);
            s->val_hash = fm_train_data_hash(t->val);
        }
        return FM_OK;
    }
    size_t val_offset = 0, val_total = 0;
    fm_status st = fm_collective_rows(t->coll, t->val ? t->val->rows : 0, &val_offset, &val_total, err);
    uint64_t sums[2] = {fm_train_data_rows_hash(t->train, t->row_offset), fm_train_data_rows_hash(t->val, val_offset)};
    if (st == FM_OK)
        st = sum_u64(t->coll, sums, 2, err);
    s->train_hash = fm_train_data_hash_finish(sums[0], t->global_rows, t->net->n_in, t->width);
    s->val_hash = t->val ? fm_train_data_hash_finish(sums[1], val_total, t->net->n_in, t->width) : 0;
    return st;
}

#define MISMATCH(cond, ...)                                                                                         \
    do {                                                                                                            \
        if (cond) {                                                                                                 \
            char detail_[300];                                                                                      \
            snprintf(detail_, sizeof detail_, __VA_ARGS__);                                                         \
            return fm_fail(err, FM_ERR_ARG, "cannot resume: %s", detail_);                                        \
        }                                                                                                           \
    } while (0)

/* A saved state fits this run only if everything that shapes the run is the
 * same; the first difference is named. */
static fm_status check_resume(const fm_train_state *run, const fm_train_state *saved, fm_error *err)
{
    MISMATCH(saved->n_params != run->n_params, "the checkpoint's network has %zu parameters, this one %zu",
             saved->n_params, run->n_params);
    MISMATCH(saved->n_in != run->n_in || saved->n_out != run->n_out,
             "the checkpoint's run had %d inputs and %d target columns, this one %d and %d", saved->n_in,
             saved->n_out, run->n_in, run->n_out);
    /* The seed first: it also draws the validation split, so a different
     * seed shows as different data below. */
    MISMATCH(saved->seed != run->seed, "the checkpoint's run has seed %llu, this one %llu",
             (unsigned long long)saved->seed, (unsigned long long)run->seed);
    MISMATCH(saved->rows != run->rows, "the checkpoint's run trained on %zu rows, this one on %zu", saved->rows,
             run->rows);
    MISMATCH(saved->val_rows != run->val_rows, "the checkpoint's run validated on %zu rows, this one on %zu",
             saved->val_rows, run->val_rows);
    MISMATCH(saved->train_hash != run->train_hash,
             "the training data differ from the checkpoint's run (same size, different values: another file, split "
             "or standardisation?)");
    MISMATCH(saved->val_hash != run->val_hash, "the validation data differ from the checkpoint's run");
    MISMATCH(saved->epochs != run->epochs, "the checkpoint's run has %d epochs, this one %d", saved->epochs,
             run->epochs);
    MISMATCH(saved->batch != run->batch, "the checkpoint's run has batch size %d, this one %d", saved->batch,
             run->batch);
    MISMATCH(saved->shuffle != run->shuffle, "the checkpoint's run %s shuffle, this one %s",
             saved->shuffle ? "does" : "does not", run->shuffle ? "does" : "does not");
    MISMATCH(saved->patience != run->patience, "the checkpoint's run has patience %d, this one %d", saved->patience,
             run->patience);
    MISMATCH(memcmp(&saved->explode_factor, &run->explode_factor, sizeof(double)) != 0,
             "the checkpoint's run has explode factor %g, this one %g", saved->explode_factor, run->explode_factor);
    const fm_optim_config *a = &saved->optim, *b = &run->optim;
    MISMATCH(a->kind != b->kind, "the checkpoint's optimiser is %s, this one %s", fm_optim_name(a->kind),
             fm_optim_name(b->kind));
#define SAME_NUMBER(field, label)                                                                                   \
    MISMATCH(memcmp(&a->field, &b->field, sizeof a->field) != 0, "the checkpoint's %s is %.17g, this run's %.17g", \
             label, (double)a->field, (double)b->field)
    SAME_NUMBER(lr, "learning rate");
    SAME_NUMBER(momentum, "momentum");
    SAME_NUMBER(dampening, "dampening");
    SAME_NUMBER(nesterov, "nesterov setting");
    SAME_NUMBER(beta1, "beta1");
    SAME_NUMBER(beta2, "beta2");
    SAME_NUMBER(eps, "epsilon");
    SAME_NUMBER(weight_decay, "weight decay");
    SAME_NUMBER(clip_norm, "clipping norm");
    SAME_NUMBER(schedule, "schedule kind");
    SAME_NUMBER(step_size, "schedule step size");
    SAME_NUMBER(gamma, "schedule decay factor");
    SAME_NUMBER(lr_min, "schedule's final learning rate");
#undef SAME_NUMBER
    MISMATCH((saved->optim_m != NULL) != (run->optim_m != NULL) || (saved->optim_v != NULL) != (run->optim_v != NULL),
             "the checkpoint's optimiser state does not fit the optimiser");
    MISMATCH((saved->best_params != NULL) != (run->best_params != NULL),
             "the checkpoint %s best weights for early stopping, this run %s them",
             saved->best_params ? "has" : "has no", run->best_params ? "needs" : "does not need");
    MISMATCH(saved->batches != run->batches || saved->epoch < 0 || saved->epoch > saved->epochs ||
                 saved->batch_index > saved->batches || saved->result.steps != (size_t)saved->optim_steps,
             "the checkpoint's position (epoch %d, batch %zu of %zu, step %zu) is inconsistent", saved->epoch,
             saved->batch_index, saved->batches, saved->result.steps);
    return FM_OK;
}
#undef MISMATCH

/* Put a saved state into the run: scalars, buffers, the optimiser and the
 * network's generator. The weights are the network's (the caller loaded them
 * from the same checkpoint). */
static void restore_state(trainer *t, const fm_train_state *saved)
{
    fm_train_state *s = &t->s;
    size_t n = s->n_params;
    memcpy(s->order, saved->order, s->rows * sizeof *s->order); /* s->rows: the global rows */
    memcpy(s->last_good, saved->last_good, n * sizeof(float));
    if (s->best_params)
        memcpy(s->best_params, saved->best_params, n * sizeof(float));
    if (s->optim_m)
        memcpy(s->optim_m, saved->optim_m, n * sizeof(float));
    if (s->optim_v)
        memcpy(s->optim_v, saved->optim_v, n * sizeof(float));
    fm_optim_set_steps(t->opt, saved->optim_steps);
    t->net->rng = saved->dropout_rng;
    s->shuffle_rng = saved->shuffle_rng;
    s->epoch = saved->epoch;
    s->batch_index = saved->batch_index;
    s->finished = saved->finished;
    s->loss_sum = saved->loss_sum;
    s->loss_rows = saved->loss_rows;
    s->samples_done = saved->samples_done;
    s->result = saved->result;
    s->bad_epochs = saved->bad_epochs;
    s->val_loss = saved->val_loss;
    s->val_metric = saved->val_metric;
    s->loss_ema = saved->loss_ema;
    s->loss_ema_start = saved->loss_ema_start;
    s->loss_ema_min = saved->loss_ema_min;
    s->vanishing_checks = saved->vanishing_checks;
    t->pending_warning = saved->warning_pending ? VANISHING_WARNING : NULL;
}

/* Hand the run's state to the checkpoint callback. Only scalars are brought
 * up to date; the buffers are the run's own. */
static fm_status take_checkpoint(trainer *t, fm_error *err)
{
    if (!t->opts->on_checkpoint)
        return FM_OK;
    t->s.dropout_rng = t->net->rng;
    t->s.optim_steps = fm_optim_steps(t->opt);
    t->s.warning_pending = t->pending_warning != NULL;
    fm_error sub = {FM_OK, ""};
    fm_status st = t->opts->on_checkpoint(&t->s, t->opts->checkpoint_user, &sub);
    if (st != FM_OK)
        st = fm_fail(err, st, "checkpoint at step %zu failed: %s", t->s.result.steps, sub.message);
    /* Typically one process writes: its verdict is everyone's. */
    if (t->coll)
        st = t->coll->agree(st, err, t->coll->user);
    return st;
}

/* ------------------------------------------------ several processes */

/* This process's rows of global batch [first, first + batch) of the order,
 * copied to the front of the batch buffers; returns how many. */
static int gather_local(trainer *t, size_t first, int batch)
{
    const int n_in = t->net->n_in, width = t->width;
    const size_t begin = t->row_offset, end = t->row_offset + t->train->rows;
    int n = 0;
    for (int r = 0; r < batch; r++) {
        size_t row = t->s.order[first + (size_t)r];
        if (row < begin || row >= end)
            continue;
        row -= begin;
        memcpy(t->batch_x + (size_t)n * (size_t)n_in, t->train->x + row * (size_t)n_in, (size_t)n_in * sizeof(float));
        memcpy(t->batch_y + (size_t)n * (size_t)width, t->train->y + row * (size_t)width,
               (size_t)width * sizeof(float));
        n++;
    }
    return n;
}

enum { STEP_FAILED, STEP_LOSS, STEP_STOP, STEP_SUMS };

/* Forward and backward of this process's part of a global batch, then the
 * sums over processes: first a few doubles (a failure flag, the loss summed
 * over rows, a stop request), then the gradient block. dL/dz of the output is
 * scaled by n/batch before the backward pass, so that this process's gradient
 * is its rows' share of the mean over the whole batch and the sum is that
 * mean. *value receives the batch's mean loss (non-finite when any process's
 * was: divergence is decided on the same number everywhere), *n_local the
 * process's rows. A failure anywhere is agreed and returned by every process;
 * a stop request returns FM_ERR_STOPPED everywhere, before the step. */
static fm_status dist_step(trainer *t, size_t first, int batch, double *value, int *n_local, fm_error *err)
{
    fm_net *net = t->net;
    const fm_collective *coll = t->coll;
    const int n_out = fm_net_n_out(net);
    const fm_activation *out_act = &net->specs[net->n_layers - 1].act;
    int n = gather_local(t, first, batch);
    *n_local = n;
    fm_error local_err = {FM_OK, ""};
    fm_status local = FM_OK;
    double loss_value = 0.0;
    int have_gradient = 0;
    fm_rng rng_before = net->rng; /* a stopped step must not have drawn dropout masks */
    if (n > 0) {
        local = fm_net_forward(net, t->batch_x, n, 1, &local_err);
        const fm_net_layer_state *last = &net->layers[net->n_layers - 1];
        if (local == FM_OK)
            local = fm_loss_compute(t->loss, out_act, last->z, last->a, t->batch_y, n, n_out, &loss_value, t->grad_z,
                                    &local_err);
        if (local == FM_ERR_NUMERIC) {
            /* Not a failure of this process: the non-finite loss goes into the sum. */
            local = FM_OK;
            if (isfinite(loss_value))
                loss_value = NAN;
        } else if (local == FM_OK) {
            if (n != batch) {
                float share = (float)((double)n / (double)batch);
                size_t count = (size_t)n * (size_t)n_out;
                for (size_t i = 0; i < count; i++)
                    t->grad_z[i] *= share;
            }
            local = fm_net_backward(net, t->batch_x, t->grad_z, &local_err);
            have_gradient = local == FM_OK;
        }
    }
    if (!have_gradient)
        memset(net->grads, 0, net->n_params * sizeof(float));
    double sums[STEP_SUMS] = {local != FM_OK ? 1.0 : 0.0, n > 0 ? loss_value * n : 0.0, t->stop_requested};
    fm_status st = coll->sum_doubles(sums, STEP_SUMS, coll->user, err);
    if (st != FM_OK)
        return st;
    if (sums[STEP_FAILED] > 0) {
        if (local != FM_OK)
            *err = local_err;
        return coll->agree(local, err, coll->user);
    }
    if (sums[STEP_STOP] > 0) {
        net->rng = rng_before;
        return FM_ERR_STOPPED;
    }
    *value = sums[STEP_LOSS] / (double)batch;
    if (!isfinite(*value))
        return FM_OK; /* the caller stops as diverged, on every process alike */
    return coll->sum_floats(net->grads, net->n_params, coll->user, err);
}

/* Diagnostics of the global batch: every process sums its rows' statistics. */
static fm_status dist_diagnose_before_step(trainer *t, int n_local, fm_error *err)
{
    fm_net *net = t->net;
    size_t n_stats = t->n_suff - 2;
    fm_stats_sufficient(net, n_local, t->suff);
    size_t count = (size_t)n_local * (size_t)net->n_in;
    t->suff[n_stats] = fm_reduce_sum_squares(t->batch_x, count);
    t->suff[n_stats + 1] = (double)count;
    fm_status st = t->coll->sum_doubles(t->suff, t->n_suff, t->coll->user, err);
    if (st != FM_OK)
        return st;
    fm_stats_from_sufficient(net, t->suff, t->stats);
    fm_stats_theory(net, t->suff[n_stats] / t->suff[n_stats + 1], t->stats);
    return FM_OK;
}

/* The processes' weights must be identical after every step; they are if
 * the sums are the same on every process, as MPI's reductions give. Checked
 * once per epoch, cheaply: a 60-bit hash of the weights in three 20-bit
 * parts whose sums and sums of squares over processes show any difference
 * (all equal exactly when K * sum(x^2) = sum(x)^2, exact in double). */
static fm_status dist_check_weights(trainer *t, int epoch, fm_error *err)
{
    const fm_collective *coll = t->coll;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < t->net->n_params; i++) {
        uint32_t bits;
        memcpy(&bits, &t->net->params[i], 4);
        h = (h ^ bits) * 1099511628211ULL;
    }
    double v[6];
    for (int i = 0; i < 3; i++) {
        double part = (double)((h >> (20 * i)) & 0xfffffu);
        v[i] = part;
        v[3 + i] = part * part;
    }
    fm_status st = coll->sum_doubles(v, 6, coll->user, err);
    for (int i = 0; st == FM_OK && i < 3; i++)
        if (v[i] * v[i] != (double)coll->size * v[3 + i])
            st = fm_fail(err, FM_ERR_NUMERIC,
                         "the processes' weights differ after epoch %d: the collective's sums were not the same "
                         "on every process",
                         epoch + 1);
    return st;
}

/* The options fm_train reads, each within what it means. */
static fm_status check_options(const fm_train_options *o, fm_error *err)
{
    if (o->epochs <= 0 || o->batch <= 0)
        return fm_fail(err, FM_ERR_ARG, "epochs (%d) and batch size (%d) must be positive", o->epochs, o->batch);
    if (o->patience < 0 || o->diagnose_every < 0)
        return fm_fail(err, FM_ERR_ARG, "patience (%d) and diagnose_every (%d) must not be negative", o->patience,
                       o->diagnose_every);
    if (o->diagnose_every > 0 && !o->on_diagnose)
        return fm_fail(err, FM_ERR_ARG, "diagnose_every %d needs an on_diagnose callback", o->diagnose_every);
    if (o->checkpoint_every > 0 && !o->on_checkpoint)
        return fm_fail(err, FM_ERR_ARG, "checkpoint_every %zu needs an on_checkpoint callback", o->checkpoint_every);
    if (!(o->explode_factor >= 0.0) || !(o->vanish_ratio >= 0.0) || !(o->progress_interval >= 0.0))
        return fm_fail(err, FM_ERR_ARG, "explode_factor (%g), vanish_ratio (%g) and progress_interval (%g) must be "
                       "numbers >= 0", o->explode_factor, o->vanish_ratio, o->progress_interval);
    return FM_OK;
}

/* Setup on several processes: every process checks its own shards, then all
 * agree before anything is summed, so that a bad shard stops every process
 * with its rank named. */
static fm_status dist_setup(trainer *t, fm_status local, fm_error *err)
{
    const fm_collective *coll = t->coll;
    fm_status st = coll->agree(local, err, coll->user);
    size_t val_offset = 0;
    if (st == FM_OK)
        st = fm_collective_rows(coll, t->train->rows, &t->row_offset, &t->global_rows, err);
    if (st == FM_OK)
        st = fm_collective_rows(coll, t->val ? t->val->rows : 0, &val_offset, &t->val_global_rows, err);
    return st;
}

fm_status fm_train(fm_net *net, fm_optim *opt, const fm_loss *loss, const fm_train_options *opts,
                   const fm_dataset *train, const fm_dataset *val, fm_train_callback on_progress, void *user,
                   fm_train_result *result, fm_error *err)
{
    fm_train_result none = {0, 0, NAN, NAN, -1, 0, 0, 0, 0};
    if (result)
        *result = none;
    if (!net || !opt || !loss || !opts || !train)
        return fm_fail(err, FM_ERR_ARG, "fm_train: net, opt, loss, opts and train must not be NULL");
    const fm_collective *coll = opts->collective && opts->collective->size > 1 ? opts->collective : NULL;
    fm_status st = check_options(opts, err);
    if (st == FM_OK) /* check_data also checks the loss against the output layer */
        st = check_data(net, loss, train, "training", err);
    if (st == FM_OK && val && val->rows > 0)
        st = check_data(net, loss, val, "validation", err);
    if (st == FM_OK && fm_optim_n_params(opt) != net->n_params)
        st = fm_fail(err, FM_ERR_ARG, "the optimiser was made for %zu parameters, the network has %zu",
                     fm_optim_n_params(opt), net->n_params);
    if (st != FM_OK && !coll)
        return st;
    trainer t;
    memset(&t, 0, sizeof t);
    t.net = net;
    t.opt = opt;
    t.loss = loss;
    t.opts = opts;
    t.train = train;
    t.coll = coll;
    t.on_progress = on_progress;
    t.user = user;
    if (coll) {
        /* A process may hold no validation rows while others do. */
        t.val = val;
        st = dist_setup(&t, st, err);
        if (st != FM_OK)
            return st;
        if (t.val_global_rows == 0)
            t.val = NULL;
    } else {
        t.val = val && val->rows > 0 ? val : NULL;
        t.global_rows = train->rows;
        t.val_global_rows = t.val ? t.val->rows : 0;
    }
    t.width = train->n_out;
    t.batch_cap = (size_t)opts->batch < t.global_rows ? opts->batch : (int)t.global_rows;
    st = trainer_alloc(&t, err);
    if (coll)
        st = coll->agree(st, err, coll->user);
    if (st != FM_OK) {
        trainer_free(&t);
        return st;
    }
    fm_train_state *s = &t.s;
    const size_t rows = t.global_rows;
    const size_t batches = (rows + (size_t)t.batch_cap - 1) / (size_t)t.batch_cap;
    st = describe_run(&t, err);
    if (st != FM_OK) {
        trainer_free(&t);
        return st;
    }
    s->batches = batches;
    s->result = none;
    s->val_loss = NAN;
    s->val_metric = NAN;
    if (opts->resume) {
        /* Every process checks the same saved state against the same global
         * description, so all come to the same verdict. */
        st = check_resume(s, opts->resume, err);
        if (st != FM_OK) {
            trainer_free(&t);
            return st;
        }
        restore_state(&t, opts->resume);
    } else {
        for (size_t i = 0; i < rows; i++)
            s->order[i] = i;
        fm_rng_seed(&s->shuffle_rng, opts->seed);
        /* Defined contents before the first validation, for checkpoints. */
        if (s->best_params)
            memcpy(s->best_params, net->params, net->n_params * sizeof(float));
    }
    if (coll && coll->rank > 0) {
        /* Dropout masks of different processes must be independent; rank 0
         * keeps the stream that checkpoints record. */
        fm_rng_seed(&net->rng, fm_splitmix64(net->rng.s[0] ^ (0x9E3779B97F4A7C15ULL * (uint64_t)coll->rank)));
    }
    fm_train_result *res = &s->result;

    const fm_optim_config *config = fm_optim_get_config(opt);
    const int n_out = fm_net_n_out(net);
    const fm_activation *out_act = &net->specs[net->n_layers - 1].act;
    const int diagnose = t.stats != NULL;
    const int check_every = diagnose ? opts->diagnose_every : 50;
    /* Plain SGD (no momentum, weight decay or clipping) in one process needs
     * the gradient only for the checks of every check_every-th step: the
     * other steps fuse the update into the backward pass
     * (fm_net_backward_sgd). A gradient that overflows there shows as a
     * non-finite loss at the next step or non-finite weights at the end of the
     * epoch, and divergence is reported as usual. */
    const int fuse_sgd = !coll && config->kind == FM_OPTIM_SGD && config->momentum == 0.0 &&
                         config->weight_decay == 0.0 && !(config->clip_norm > 0.0);
    /* A diagnosed step in one process without clipping measures the weights
     * and the gradient inside the optimiser step (step_measured); otherwise
     * they are measured before it (before the clipping). */
    const int measure_in_step_when_diagnosed = !coll && !(config->clip_norm > 0.0);
    const double start_time = fm_now_seconds();
    const size_t start_samples = s->samples_done;
    double last_report = start_time;
    fm_train_progress prog;
    memset(&prog, 0, sizeof prog);
    prog.epochs = opts->epochs;
    prog.batches = batches;

    while (s->epoch < opts->epochs && !s->finished && st == FM_OK) {
        const int epoch = s->epoch;
        double lr = fm_schedule_lr(config, epoch, opts->epochs);
        if (s->batch_index == 0) {
            memcpy(s->last_good, net->params, net->n_params * sizeof(float));
            if (opts->shuffle)
                shuffle(s->order, rows, &s->shuffle_rng);
            s->loss_sum = 0.0;
            s->loss_rows = 0;
        }
        while (s->batch_index < batches) {
            const size_t bi = s->batch_index;
            size_t first = bi * (size_t)t.batch_cap;
            int batch = (int)(rows - first < (size_t)t.batch_cap ? rows - first : (size_t)t.batch_cap);
            double value;
            int n_local = batch;
            const int diagnose_now = diagnose && res->steps % (size_t)opts->diagnose_every == 0;
            const int check_now = res->steps % (size_t)check_every == 0;
            const int fused = fuse_sgd && !diagnose_now && !check_now;
            if (coll) {
                st = dist_step(&t, first, batch, &value, &n_local, err);
                if (st == FM_ERR_STOPPED) {
                    /* Some process was asked to stop: all stop here, before this step. */
                    st = take_checkpoint(&t, err);
                    if (st == FM_OK)
                        st = fm_fail(err, FM_ERR_STOPPED, "training stopped by the caller at epoch %d, step %zu",
                                     epoch + 1, res->steps);
                    break;
                }
                if (st != FM_OK)
                    break;
                if (!isfinite(value)) {
                    st = diverged(&t, res, epoch, lr, isnan(value) ? "the loss became NaN" : "the loss became infinite",
                                  err);
                    break;
                }
                if ((st = check_explosion(&t, res, epoch, lr, value, err)) != FM_OK)
                    break;
            } else {
                gather_batch(&t, first, batch);
                st = fm_net_forward(net, t.batch_x, batch, 1, err);
                if (st != FM_OK)
                    break;
                const fm_net_layer_state *last = &net->layers[net->n_layers - 1];
                st = fm_loss_compute(loss, out_act, last->z, last->a, t.batch_y, batch, n_out, &value, t.grad_z, err);
                if (st == FM_ERR_NUMERIC) {
                    st = diverged(&t, res, epoch, lr,
                                  isnan(value) ? "the loss became NaN" : "the loss became infinite", err);
                    break;
                }
                if (st != FM_OK)
                    break;
                if ((st = check_explosion(&t, res, epoch, lr, value, err)) != FM_OK)
                    break;
                st = fused ? fm_net_backward_sgd(net, t.batch_x, t.grad_z, (float)lr, err)
                           : fm_net_backward(net, t.batch_x, t.grad_z, err);
                if (st != FM_OK)
                    break;
            }
            const int measure_in_step = diagnose_now && measure_in_step_when_diagnosed;
            if (diagnose_now && coll) {
                st = dist_diagnose_before_step(&t, n_local, err);
                if (st != FM_OK)
                    break;
            } else if (measure_in_step) {
                fm_stats_measure_batch(net, t.stats);
            } else if (diagnose_now) {
                diagnose_before_clipping(&t, batch);
            }
            if (check_now && !measure_in_step)
                watch_vanishing(&t, res, weight_grad_rms(net, 0), weight_grad_rms(net, net->n_layers - 1));
            if (fused) {
                fm_optim_set_steps(opt, fm_optim_steps(opt) + 1); /* the update is done */
            } else if (measure_in_step) {
                /* A non-finite gradient shows in the step's sums; the update it
                 * made is undone with the rest by diverged(). */
                double norm = step_measured(&t, lr);
                if (!isfinite(norm)) {
                    st = diverged(&t, res, epoch, lr,
                                  isnan(norm) ? "the gradient became NaN" : "the gradient became infinite", err);
                    break;
                }
                fm_stats_params_from_sums(net, t.range_sums, t.stats);
                fm_stats_theory(net, input_second_moment(&t, batch), t.stats);
                watch_vanishing(&t, res, stats_grad_rms(&t.stats[0]), stats_grad_rms(&t.stats[net->n_layers - 1]));
            } else {
                double norm = fm_clip_grad_norm(net->grads, net->n_params, config->clip_norm);
                if (!isfinite(norm)) {
                    st = diverged(&t, res, epoch, lr,
                                  isnan(norm) ? "the gradient became NaN" : "the gradient became infinite", err);
                    break;
                }
                if (diagnose_now)
                    step_measured(&t, lr);
                else
                    fm_optim_step(opt, net->params, net->grads, lr);
            }
            s->loss_sum += value * batch;
            s->loss_rows += (size_t)batch;
            s->samples_done += (size_t)batch;
            prog.batch_loss = value;
            if (diagnose_now) {
                prog.batch_index = bi + 1;
                prog.step = res->steps;
                prog.train_loss = s->loss_sum / (double)s->loss_rows;
                prog.end_of_epoch = 0;
                prog.val_loss = s->val_loss;
                prog.val_metric = s->val_metric;
                fill_progress(&t, &prog, epoch, lr, start_time, start_samples, 0);
                opts->on_diagnose(&prog, t.stats, t.update_ratio, net->n_layers, opts->diagnose_user);
            }
            res->steps++;
            s->batch_index = bi + 1;
            int stop = 0;
            if (on_progress) {
                double now = fm_now_seconds();
                if ((now - last_report >= opts->progress_interval || t.pending_warning) && bi + 1 < batches) {
                    last_report = now;
                    prog.batch_index = bi + 1;
                    prog.step = res->steps;
                    prog.train_loss = s->loss_sum / (double)s->loss_rows;
                    prog.end_of_epoch = 0;
                    prog.val_loss = s->val_loss;
                    prog.val_metric = s->val_metric;
                    fill_progress(&t, &prog, epoch, lr, start_time, start_samples, 1);
                    if (on_progress(&prog, user))
                        stop = 1;
                }
            }
            if (coll && stop) {
                /* The processes' callbacks run at different moments: the
                 * request travels with the next step's sums. */
                t.stop_requested = 1;
                stop = 0;
            }
            int stop_here = opts->stop_after_step > 0 && res->steps >= opts->stop_after_step;
            if (stop || stop_here || (opts->checkpoint_every > 0 && res->steps % opts->checkpoint_every == 0)) {
                st = take_checkpoint(&t, err);
                if (st != FM_OK)
                    break;
            }
            if (stop || stop_here) {
                st = fm_fail(err, FM_ERR_STOPPED, "training stopped %s at epoch %d, step %zu",
                             stop ? "by the caller" : "as asked", epoch + 1, res->steps);
                break;
            }
        }
        if (st != FM_OK)
            break;
        /* The parameters can overflow without the loss noticing yet. */
        if (!fm_reduce_all_finite(net->params, net->n_params)) {
            st = diverged(&t, res, epoch, lr, "the weights became non-finite", err);
            break;
        }
        if (coll && (st = dist_check_weights(&t, epoch, err)) != FM_OK)
            break;
        res->epochs_run = epoch + 1;
        res->final_train_loss = s->loss_sum / (double)s->loss_rows;
        if (t.val) {
            double val_loss, val_metric;
            st = fm_evaluate_collective(net, loss, t.val, coll, &val_loss, &val_metric, err);
            if (st != FM_OK)
                break;
            s->val_loss = val_loss;
            s->val_metric = val_metric;
            if (res->best_epoch < 0 || val_loss < res->best_val_loss) {
                res->best_val_loss = val_loss;
                res->best_epoch = epoch;
                s->bad_epochs = 0;
                if (s->best_params)
                    memcpy(s->best_params, net->params, net->n_params * sizeof(float));
            } else {
                s->bad_epochs++;
            }
        }
        /* The epoch is complete: the state moves to the next one before the
         * callback, so that a stop here resumes with the next epoch. */
        if (t.val && opts->patience > 0 && s->bad_epochs >= opts->patience)
            res->stopped_early = 1;
        s->epoch = epoch + 1;
        s->batch_index = 0;
        if (res->stopped_early || s->epoch >= opts->epochs)
            s->finished = 1;
        int stop = 0;
        if (on_progress) {
            prog.batch_index = batches;
            prog.step = res->steps;
            prog.train_loss = res->final_train_loss;
            prog.end_of_epoch = 1;
            prog.val_loss = s->val_loss;
            prog.val_metric = s->val_metric;
            fill_progress(&t, &prog, epoch, lr, start_time, start_samples, 1);
            stop = on_progress(&prog, user) != 0;
        }
        if (coll) {
            /* Every process is here at once: agree on a stop now, before the
             * next epoch's shuffle moves the state on. */
            double any[1] = {stop || t.stop_requested ? 1.0 : 0.0};
            st = coll->sum_doubles(any, 1, coll->user, err);
            if (st != FM_OK)
                break;
            stop = any[0] > 0;
            t.stop_requested = 0;
        }
        if (stop) {
            st = take_checkpoint(&t, err);
            if (st == FM_OK)
                st = fm_fail(err, FM_ERR_STOPPED, "training stopped by the caller after epoch %d", epoch + 1);
            break;
        }
    }
    if (s->best_params && res->best_epoch >= 0 && (st == FM_OK || st == FM_ERR_STOPPED))
        memcpy(net->params, s->best_params, net->n_params * sizeof(float));
    if (result)
        *result = *res;
    trainer_free(&t);
    return st;
}

/* ------------------------------------------------------ state accessors */

int fm_train_state_epoch(const fm_train_state *state) { return state->epoch; }
size_t fm_train_state_batch(const fm_train_state *state) { return state->batch_index; }
size_t fm_train_state_steps(const fm_train_state *state) { return state->result.steps; }
int fm_train_state_finished(const fm_train_state *state) { return state->finished; }

void fm_train_state_free(fm_train_state *state)
{
    if (!state)
        return;
    if (state->owns) {
        free(state->order);
        free(state->optim_m);
        free(state->optim_v);
        free(state->best_params);
        free(state->last_good);
    }
    free(state);
}

/* ------------------------------------------------------ memory estimate */

static uint64_t sat_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }
static uint64_t sat_mul(uint64_t a, uint64_t b) { return a != 0 && b > UINT64_MAX / a ? UINT64_MAX : a * b; }

uint64_t fm_train_memory_estimate(int n_in, const fm_layer_spec *layers, int n_layers, int batch, int optim_buffers,
                                  int early_stopping, size_t train_rows)
{
    uint64_t params = 0, units = 0, dropout_units = 0;
    uint64_t prev = n_in > 0 ? (uint64_t)n_in : 0;
    for (int l = 0; l < n_layers; l++) {
        uint64_t width = layers[l].n_out > 0 ? (uint64_t)layers[l].n_out : 0;
        params = sat_add(params, sat_add(sat_mul(width, prev), width));
        units = sat_add(units, width);
        if (layers[l].dropout > 0.0 && l + 1 < n_layers)
            dropout_units = sat_add(dropout_units, width);
        prev = width;
    }
    /* params and grads, optimiser moments, last good (and best) weights */
    uint64_t copies = 2u + (uint64_t)(optim_buffers > 0 ? optim_buffers : 0) + 1u + (early_stopping ? 1u : 0u);
    uint64_t bytes = sat_mul(sat_mul(params, copies), sizeof(float));
    uint64_t b = batch > 0 ? (uint64_t)batch : 0;
    /* z, a, dL/dz per unit and sample; dropout's output and mask; the batch copies */
    uint64_t per_sample = sat_add(sat_mul(units, 3), sat_mul(dropout_units, 2));
    per_sample = sat_add(per_sample, sat_add(sat_mul(prev, 2), (uint64_t)(n_in > 0 ? n_in : 0)));
    bytes = sat_add(bytes, sat_mul(sat_mul(b, per_sample), sizeof(float)));
    return sat_add(bytes, sat_mul((uint64_t)train_rows, sizeof(size_t)));
}

uint64_t fm_physical_memory(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0)
        return 0;
    return sat_mul((uint64_t)pages, (uint64_t)page);
}
