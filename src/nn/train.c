/* The training loop: shuffled mini-batches, an optimiser step per batch,
 * validation and early stopping per epoch, a progress callback, and optional
 * per-layer diagnostics. Every buffer is allocated before the first step; a
 * step only computes. A loss or gradient that stops being finite, or a loss
 * that explodes, ends training with the place it happened and the last good
 * weights restored, never silently trained through. */
#include "nn/net_internal.h"

#include <math.h>
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
     * name the row instead. */
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

fm_status fm_evaluate(fm_net *net, const fm_loss *loss, const fm_dataset *data, double *loss_value, double *metric,
                      fm_error *err)
{
    fm_status st = check_data(net, loss, data, "evaluation", err);
    if (st != FM_OK)
        return st;
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
    if (loss_value)
        *loss_value = loss_sum / (double)data->rows;
    if (metric)
        *metric = is_classification(loss) ? (double)correct / (double)decisions
                                          : sqrt(sq_sum / ((double)data->rows * n_out));
    return FM_OK;
}

/* Everything a run needs, allocated before the first step. */
typedef struct trainer {
    fm_net *net;
    fm_optim *opt;
    const fm_loss *loss;
    const fm_train_options *opts;
    const fm_dataset *train, *val;
    fm_train_callback on_progress;
    void *user;
    int batch_cap, width;
    size_t *order;
    float *batch_x, *batch_y, *grad_z;
    float *best_params;   /* early stopping: best validation weights */
    float *last_good;     /* weights at the end of the last completed epoch */
    float *before_step;   /* diagnostics: weights before the step */
    fm_layer_stats *stats;
    double *update_ratio;
    fm_rng shuffle_rng;
    /* divergence and vanishing-gradient watch */
    double loss_ema, loss_ema_start, loss_ema_min;
    int vanishing_checks;
    const char *pending_warning;
} trainer;

static void trainer_free(trainer *t)
{
    free(t->order);
    free(t->batch_x);
    free(t->batch_y);
    free(t->grad_z);
    free(t->best_params);
    free(t->last_good);
    free(t->before_step);
    free(t->stats);
    free(t->update_ratio);
}

static fm_status trainer_alloc(trainer *t, fm_error *err)
{
    fm_net *net = t->net;
    const int n_in = net->n_in, n_out = fm_net_n_out(net);
    const int diagnose = t->opts->diagnose_every > 0 && t->opts->on_diagnose;
    t->order = fm_alloc_array(t->train->rows, sizeof *t->order);
    t->batch_x = fm_alloc_array((size_t)t->batch_cap * (size_t)n_in, sizeof *t->batch_x);
    t->batch_y = fm_alloc_array((size_t)t->batch_cap * (size_t)t->width, sizeof *t->batch_y);
    t->grad_z = fm_alloc_array((size_t)t->batch_cap * (size_t)n_out, sizeof *t->grad_z);
    t->last_good = fm_alloc_array(net->n_params, sizeof *t->last_good);
    int ok = t->order && t->batch_x && t->batch_y && t->grad_z && t->last_good;
    if (t->val && t->opts->patience > 0) {
        t->best_params = fm_alloc_array(net->n_params, sizeof *t->best_params);
        ok = ok && t->best_params;
    }
    if (diagnose) {
        t->before_step = fm_alloc_array(net->n_params, sizeof *t->before_step);
        t->stats = fm_calloc_array((size_t)net->n_layers, sizeof *t->stats);
        t->update_ratio = fm_calloc_array((size_t)net->n_layers, sizeof *t->update_ratio);
        ok = ok && t->before_step && t->stats && t->update_ratio;
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

static int all_finite(const float *v, size_t n)
{
    float sum = 0.0f;
    for (size_t i = 0; i < n; i++)
        sum += v[i] * 0.0f; /* NaN or Inf anywhere makes the sum NaN */
    return sum == 0.0f;
}

static double block_norm(const float *v, size_t n)
{
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += (double)v[i] * v[i];
    return sqrt(sum);
}

static void gather_batch(trainer *t, size_t first, int batch)
{
    const int n_in = t->net->n_in, width = t->width;
    for (int r = 0; r < batch; r++) {
        size_t row = t->order[first + (size_t)r];
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
    if (!(t->opts->explode_factor > 0.0))
        return 0;
    if (step == 0) {
        t->loss_ema = t->loss_ema_start = t->loss_ema_min = value;
        return 0;
    }
    t->loss_ema = 0.95 * t->loss_ema + 0.05 * value;
    if (t->loss_ema < t->loss_ema_min)
        t->loss_ema_min = t->loss_ema;
    return step >= 10 && t->loss_ema > t->opts->explode_factor * t->loss_ema_min &&
           t->loss_ema > t->loss_ema_start;
}

/* Vanishing gradients: the first layer's RMS weight gradient far below the
 * last layer's, three checks in a row. */
static void watch_vanishing(trainer *t, fm_train_result *res)
{
    fm_net *net = t->net;
    if (!(t->opts->vanish_ratio > 0.0) || net->n_layers < 2 || res->vanishing_warned)
        return;
    const fm_net_layer_state *first = &net->layers[0], *last = &net->layers[net->n_layers - 1];
    size_t n_first = (size_t)first->n_in * (size_t)first->n_out, n_last = (size_t)last->n_in * (size_t)last->n_out;
    double rms_first = block_norm(net->grads + first->weight_offset, n_first) / sqrt((double)n_first);
    double rms_last = block_norm(net->grads + last->weight_offset, n_last) / sqrt((double)n_last);
    if (rms_last > 0.0 && rms_first < t->opts->vanish_ratio * rms_last)
        t->vanishing_checks++;
    else
        t->vanishing_checks = 0;
    if (t->vanishing_checks >= 3) {
        res->vanishing_warned = 1;
        t->pending_warning = "vanishing gradients: the first layer's weight gradients have stayed many orders of "
                             "magnitude below the last layer's; the early layers barely learn (check the "
                             "initialisation and the activation, e.g. run fathom probe)";
    }
}

static void diagnose_before_step(trainer *t, int batch)
{
    fm_net *net = t->net;
    fm_stats_measure(net, t->stats);
    double sq = 0.0;
    size_t count = (size_t)batch * (size_t)net->n_in;
    for (size_t i = 0; i < count; i++)
        sq += (double)t->batch_x[i] * t->batch_x[i];
    fm_stats_theory(net, sq / (double)count, t->stats);
    memcpy(t->before_step, net->params, net->n_params * sizeof(float));
}

static void diagnose_after_step(trainer *t)
{
    fm_net *net = t->net;
    for (int l = 0; l < net->n_layers; l++) {
        const fm_net_layer_state *s = &net->layers[l];
        size_t n = (size_t)s->n_in * (size_t)s->n_out;
        const float *after = net->params + s->weight_offset, *before = t->before_step + s->weight_offset;
        double diff = 0.0, base = 0.0;
        for (size_t i = 0; i < n; i++) {
            double d = (double)after[i] - before[i];
            diff += d * d;
            base += (double)before[i] * before[i];
        }
        t->update_ratio[l] = base > 0.0 ? sqrt(diff / base) : NAN;
    }
}

/* Fill the progress record; a pending warning goes out with the next call
 * of the progress callback (take_warning), not with diagnostics. */
static void fill_progress(trainer *t, fm_train_progress *p, int epoch, double lr, size_t samples_done,
                          double start_time, int take_warning)
{
    double now = fm_now_seconds();
    p->epoch = epoch;
    p->lr = lr;
    p->elapsed_s = now - start_time;
    p->samples_per_s = p->elapsed_s > 0 ? (double)samples_done / p->elapsed_s : 0.0;
    double total = (double)t->train->rows * t->opts->epochs;
    p->eta_s = p->samples_per_s > 0 ? (total - (double)samples_done) / p->samples_per_s : 0.0;
    p->warning = take_warning ? t->pending_warning : NULL;
    if (take_warning)
        t->pending_warning = NULL;
}

/* Divergence: put back the weights of the last completed epoch and say where
 * and why it happened. */
static fm_status diverged(trainer *t, fm_train_result *res, int epoch, double lr, const char *what, fm_error *err)
{
    memcpy(t->net->params, t->last_good, t->net->n_params * sizeof(float));
    res->diverged = 1;
    res->restored_epoch = epoch;
    return fm_fail(err, FM_ERR_NUMERIC,
                   "training diverged: %s at epoch %d, step %zu (learning rate %g): the gradients exploded; try a "
                   "learning rate about 10 times smaller or gradient clipping; the weights of %s were kept",
                   what, epoch + 1, res->steps + 1, lr, epoch == 0 ? "the start" : "the last completed epoch");
}

fm_status fm_train(fm_net *net, fm_optim *opt, const fm_loss *loss, const fm_train_options *opts,
                   const fm_dataset *train, const fm_dataset *val, fm_train_callback on_progress, void *user,
                   fm_train_result *result, fm_error *err)
{
    fm_train_result res = {0, 0, NAN, NAN, -1, 0, 0, 0, 0};
    if (result)
        *result = res;
    if (opts->epochs <= 0 || opts->batch <= 0)
        return fm_fail(err, FM_ERR_ARG, "epochs (%d) and batch size (%d) must be positive", opts->epochs, opts->batch);
    fm_status st = check_data(net, loss, train, "training", err);
    if (st == FM_OK && val && val->rows > 0)
        st = check_data(net, loss, val, "validation", err);
    if (st != FM_OK)
        return st;
    trainer t;
    memset(&t, 0, sizeof t);
    t.net = net;
    t.opt = opt;
    t.loss = loss;
    t.opts = opts;
    t.train = train;
    t.val = val && val->rows > 0 ? val : NULL;
    t.on_progress = on_progress;
    t.user = user;
    t.width = train->n_out;
    t.batch_cap = (size_t)opts->batch < train->rows ? opts->batch : (int)train->rows;
    st = trainer_alloc(&t, err);
    if (st != FM_OK) {
        trainer_free(&t);
        return st;
    }
    const fm_optim_config *config = fm_optim_get_config(opt);
    const int n_out = fm_net_n_out(net);
    const fm_activation *out_act = &net->specs[net->n_layers - 1].act;
    const int diagnose = t.stats != NULL;
    const int check_every = diagnose ? opts->diagnose_every : 50;
    for (size_t i = 0; i < train->rows; i++)
        t.order[i] = i;
    fm_rng_seed(&t.shuffle_rng, opts->seed);

    const size_t batches = (train->rows + (size_t)t.batch_cap - 1) / (size_t)t.batch_cap;
    const double start_time = fm_now_seconds();
    double last_report = start_time;
    size_t samples_done = 0;
    int bad_epochs = 0;
    fm_train_progress prog;
    memset(&prog, 0, sizeof prog);
    prog.epochs = opts->epochs;
    prog.batches = batches;
    prog.val_loss = NAN;
    prog.val_metric = NAN;

    for (int epoch = 0; epoch < opts->epochs && st == FM_OK; epoch++) {
        double lr = fm_schedule_lr(config, epoch, opts->epochs);
        memcpy(t.last_good, net->params, net->n_params * sizeof(float));
        if (opts->shuffle)
            shuffle(t.order, train->rows, &t.shuffle_rng);
        double loss_sum = 0.0;
        size_t loss_rows = 0;
        for (size_t bi = 0; bi < batches; bi++) {
            size_t first = bi * (size_t)t.batch_cap;
            int batch = (int)(train->rows - first < (size_t)t.batch_cap ? train->rows - first : (size_t)t.batch_cap);
            gather_batch(&t, first, batch);
            st = fm_net_forward(net, t.batch_x, batch, 1, err);
            if (st != FM_OK)
                break;
            const fm_net_layer_state *last = &net->layers[net->n_layers - 1];
            double value;
            st = fm_loss_compute(loss, out_act, last->z, last->a, t.batch_y, batch, n_out, &value, t.grad_z, err);
            if (st == FM_ERR_NUMERIC) {
                st = diverged(&t, &res, epoch, lr, isnan(value) ? "the loss became NaN" : "the loss became infinite",
                              err);
                break;
            }
            if (st != FM_OK)
                break;
            if (loss_exploded(&t, value, res.steps)) {
                char what[160];
                snprintf(what, sizeof what, "the loss (smoothed) grew to %.4g, %.0f times its minimum %.4g", t.loss_ema,
                         t.loss_ema / t.loss_ema_min, t.loss_ema_min);
                st = diverged(&t, &res, epoch, lr, what, err);
                break;
            }
            st = fm_net_backward(net, t.batch_x, t.grad_z, err);
            if (st != FM_OK)
                break;
            int diagnose_now = diagnose && res.steps % (size_t)opts->diagnose_every == 0;
            if (diagnose_now)
                diagnose_before_step(&t, batch);
            if (res.steps % (size_t)check_every == 0)
                watch_vanishing(&t, &res);
            double norm = fm_clip_grad_norm(net->grads, net->n_params, config->clip_norm);
            if (!isfinite(norm)) {
                st = diverged(&t, &res, epoch, lr,
                              isnan(norm) ? "the gradient became NaN" : "the gradient became infinite", err);
                break;
            }
            fm_optim_step(opt, net->params, net->grads, lr);
            loss_sum += value * batch;
            loss_rows += (size_t)batch;
            samples_done += (size_t)batch;
            prog.batch_loss = value;
            if (diagnose_now) {
                diagnose_after_step(&t);
                prog.batch_index = bi + 1;
                prog.step = res.steps;
                prog.train_loss = loss_sum / (double)loss_rows;
                prog.end_of_epoch = 0;
                fill_progress(&t, &prog, epoch, lr, samples_done, start_time, 0);
                opts->on_diagnose(&prog, t.stats, t.update_ratio, net->n_layers, opts->diagnose_user);
            }
            res.steps++;
            if (on_progress) {
                double now = fm_now_seconds();
                if ((now - last_report >= opts->progress_interval || t.pending_warning) && bi + 1 < batches) {
                    last_report = now;
                    prog.batch_index = bi + 1;
                    prog.step = res.steps;
                    prog.train_loss = loss_sum / (double)loss_rows;
                    prog.end_of_epoch = 0;
                    fill_progress(&t, &prog, epoch, lr, samples_done, start_time, 1);
                    if (on_progress(&prog, user)) {
                        st = fm_fail(err, FM_ERR_STOPPED, "training stopped by the caller at epoch %d", epoch + 1);
                        break;
                    }
                }
            }
        }
        if (st != FM_OK)
            break;
        /* The parameters can overflow without the loss noticing yet. */
        if (!all_finite(net->params, net->n_params)) {
            st = diverged(&t, &res, epoch, lr, "the weights became non-finite", err);
            break;
        }
        res.epochs_run = epoch + 1;
        res.final_train_loss = loss_sum / (double)loss_rows;
        if (t.val) {
            double val_loss, val_metric;
            st = fm_evaluate(net, loss, t.val, &val_loss, &val_metric, err);
            if (st != FM_OK)
                break;
            prog.val_loss = val_loss;
            prog.val_metric = val_metric;
            if (res.best_epoch < 0 || val_loss < res.best_val_loss) {
                res.best_val_loss = val_loss;
                res.best_epoch = epoch;
                bad_epochs = 0;
                if (t.best_params)
                    memcpy(t.best_params, net->params, net->n_params * sizeof(float));
            } else {
                bad_epochs++;
            }
        }
        if (on_progress) {
            prog.batch_index = batches;
            prog.step = res.steps;
            prog.train_loss = res.final_train_loss;
            prog.end_of_epoch = 1;
            fill_progress(&t, &prog, epoch, lr, samples_done, start_time, 1);
            if (on_progress(&prog, user)) {
                st = fm_fail(err, FM_ERR_STOPPED, "training stopped by the caller after epoch %d", epoch + 1);
                break;
            }
        }
        if (t.val && opts->patience > 0 && bad_epochs >= opts->patience) {
            res.stopped_early = 1;
            break;
        }
    }
    if (t.best_params && res.best_epoch >= 0 && (st == FM_OK || st == FM_ERR_STOPPED))
        memcpy(net->params, t.best_params, net->n_params * sizeof(float));
    trainer_free(&t);
    if (result)
        *result = res;
    return st;
}
