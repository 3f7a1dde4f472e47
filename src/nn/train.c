/* The training loop: shuffled mini-batches, an optimiser step per batch,
 * validation and early stopping per epoch, and a progress callback. Every
 * buffer is allocated before the first step; a step only computes. A loss or
 * gradient that stops being finite ends training with the place it happened,
 * never silently trained through. */
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

typedef struct train_buffers {
    size_t *order;
    float *batch_x;
    float *batch_y;
    float *grad_z;
    float *best_params;
} train_buffers;

static void free_train_buffers(train_buffers *b)
{
    free(b->order);
    free(b->batch_x);
    free(b->batch_y);
    free(b->grad_z);
    free(b->best_params);
}

static void shuffle(size_t *order, size_t n, fm_rng *rng)
{
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)fm_rng_below(rng, (uint64_t)i + 1);
        size_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

static int all_finite(const float *v, size_t n)
{
    float sum = 0.0f;
    for (size_t i = 0; i < n; i++)
        sum += v[i] * 0.0f; /* NaN or Inf anywhere makes the sum NaN */
    return sum == 0.0f;
}

fm_status fm_train(fm_net *net, fm_optim *opt, const fm_loss *loss, const fm_train_options *opts,
                   const fm_dataset *train, const fm_dataset *val, fm_train_callback on_progress, void *user,
                   fm_train_result *result, fm_error *err)
{
    fm_train_result res = {0, 0, NAN, NAN, -1, 0};
    if (result)
        *result = res;
    if (opts->epochs <= 0 || opts->batch <= 0)
        return fm_fail(err, FM_ERR_ARG, "epochs (%d) and batch size (%d) must be positive", opts->epochs, opts->batch);
    fm_status st = check_data(net, loss, train, "training", err);
    if (st == FM_OK && val && val->rows > 0)
        st = check_data(net, loss, val, "validation", err);
    if (st != FM_OK)
        return st;
    if (val && val->rows == 0)
        val = NULL;
    const fm_optim_config *config = fm_optim_get_config(opt);
    const int n_in = net->n_in, n_out = fm_net_n_out(net), width = train->n_out;
    const int batch_cap = opts->batch < (int)(train->rows < 1000000000 ? train->rows : 1000000000)
                              ? opts->batch
                              : (int)train->rows;
    const fm_activation *out_act = &net->specs[net->n_layers - 1].act;

    train_buffers buf = {0};
    buf.order = fm_alloc_array(train->rows, sizeof *buf.order);
    buf.batch_x = fm_alloc_array((size_t)batch_cap * (size_t)n_in, sizeof *buf.batch_x);
    buf.batch_y = fm_alloc_array((size_t)batch_cap * (size_t)width, sizeof *buf.batch_y);
    buf.grad_z = fm_alloc_array((size_t)batch_cap * (size_t)n_out, sizeof *buf.grad_z);
    if (val && opts->patience > 0)
        buf.best_params = fm_alloc_array(net->n_params, sizeof *buf.best_params);
    if (!buf.order || !buf.batch_x || !buf.batch_y || !buf.grad_z || (val && opts->patience > 0 && !buf.best_params)) {
        free_train_buffers(&buf);
        return fm_fail(err, FM_ERR_NOMEM, "cannot allocate training buffers");
    }
    st = fm_net_reserve(net, batch_cap, err);
    if (st != FM_OK) {
        free_train_buffers(&buf);
        return st;
    }
    for (size_t i = 0; i < train->rows; i++)
        buf.order[i] = i;
    fm_rng shuffle_rng;
    fm_rng_seed(&shuffle_rng, opts->seed);

    const size_t batches = (train->rows + (size_t)batch_cap - 1) / (size_t)batch_cap;
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
        if (opts->shuffle)
            shuffle(buf.order, train->rows, &shuffle_rng);
        double loss_sum = 0.0;
        size_t loss_rows = 0;
        for (size_t bi = 0; bi < batches; bi++) {
            size_t first = bi * (size_t)batch_cap;
            int batch = (int)(train->rows - first < (size_t)batch_cap ? train->rows - first : (size_t)batch_cap);
            for (int r = 0; r < batch; r++) {
                size_t row = buf.order[first + (size_t)r];
                memcpy(buf.batch_x + (size_t)r * (size_t)n_in, train->x + row * (size_t)n_in,
                       (size_t)n_in * sizeof(float));
                memcpy(buf.batch_y + (size_t)r * (size_t)width, train->y + row * (size_t)width,
                       (size_t)width * sizeof(float));
            }
            st = fm_net_forward(net, buf.batch_x, batch, 1, err);
            if (st != FM_OK)
                break;
            const fm_net_layer_state *last = &net->layers[net->n_layers - 1];
            double value;
            st = fm_loss_compute(loss, out_act, last->z, last->a, buf.batch_y, batch, n_out, &value, buf.grad_z, err);
            if (st == FM_ERR_NUMERIC) {
                st = fm_fail(err, FM_ERR_NUMERIC,
                             "training diverged: the loss became %s at epoch %d, step %zu (learning rate %g); "
                             "try a smaller learning rate or gradient clipping",
                             err && strstr(err->message, "NaN") ? "NaN" : "infinite", epoch + 1, res.steps + 1, lr);
                break;
            }
            if (st != FM_OK)
                break;
            st = fm_net_backward(net, buf.batch_x, buf.grad_z, err);
            if (st != FM_OK)
                break;
            double norm = fm_clip_grad_norm(net->grads, net->n_params, config->clip_norm);
            if (!isfinite(norm)) {
                st = fm_fail(err, FM_ERR_NUMERIC,
                             "training diverged: the gradient became %s at epoch %d, step %zu (learning rate %g); "
                             "try a smaller learning rate or gradient clipping",
                             isnan(norm) ? "NaN" : "infinite", epoch + 1, res.steps + 1, lr);
                break;
            }
            fm_optim_step(opt, net->params, net->grads, lr);
            res.steps++;
            loss_sum += value * batch;
            loss_rows += (size_t)batch;
            samples_done += (size_t)batch;
            if (on_progress) {
                double now = fm_now_seconds();
                if (now - last_report >= opts->progress_interval || bi + 1 == batches) {
                    last_report = now;
                    prog.epoch = epoch;
                    prog.batch_index = bi + 1;
                    prog.step = res.steps;
                    prog.lr = lr;
                    prog.train_loss = loss_sum / (double)loss_rows;
                    prog.elapsed_s = now - start_time;
                    prog.samples_per_s = prog.elapsed_s > 0 ? (double)samples_done / prog.elapsed_s : 0.0;
                    double total = (double)train->rows * opts->epochs;
                    prog.eta_s = prog.samples_per_s > 0 ? (total - (double)samples_done) / prog.samples_per_s : 0.0;
                    prog.end_of_epoch = 0;
                    if (bi + 1 < batches && on_progress(&prog, user)) {
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
            st = fm_fail(err, FM_ERR_NUMERIC, "training diverged: weights became non-finite in epoch %d (learning rate %g)",
                         epoch + 1, lr);
            break;
        }
        res.epochs_run = epoch + 1;
        res.final_train_loss = loss_sum / (double)loss_rows;
        if (val) {
            double val_loss, val_metric;
            st = fm_evaluate(net, loss, val, &val_loss, &val_metric, err);
            if (st != FM_OK)
                break;
            prog.val_loss = val_loss;
            prog.val_metric = val_metric;
            if (res.best_epoch < 0 || val_loss < res.best_val_loss) {
                res.best_val_loss = val_loss;
                res.best_epoch = epoch;
                bad_epochs = 0;
                if (buf.best_params)
                    memcpy(buf.best_params, net->params, net->n_params * sizeof(float));
            } else {
                bad_epochs++;
            }
        }
        if (on_progress) {
            double now = fm_now_seconds();
            prog.epoch = epoch;
            prog.batch_index = batches;
            prog.step = res.steps;
            prog.lr = lr;
            prog.train_loss = res.final_train_loss;
            prog.elapsed_s = now - start_time;
            prog.samples_per_s = prog.elapsed_s > 0 ? (double)samples_done / prog.elapsed_s : 0.0;
            prog.eta_s = prog.samples_per_s > 0
                             ? ((double)train->rows * opts->epochs - (double)samples_done) / prog.samples_per_s
                             : 0.0;
            prog.end_of_epoch = 1;
            if (on_progress(&prog, user)) {
                st = fm_fail(err, FM_ERR_STOPPED, "training stopped by the caller after epoch %d", epoch + 1);
                break;
            }
        }
        if (val && opts->patience > 0 && bad_epochs >= opts->patience) {
            res.stopped_early = 1;
            break;
        }
    }
    if (buf.best_params && res.best_epoch >= 0 && (st == FM_OK || st == FM_ERR_STOPPED))
        memcpy(net->params, buf.best_params, net->n_params * sizeof(float));
    free_train_buffers(&buf);
    if (result)
        *result = res;
    return st;
}
