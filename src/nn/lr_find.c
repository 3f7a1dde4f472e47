/* The learning-rate range test (Smith 2017; fastai's lr_find): a short run
 * whose learning rate grows exponentially from step to step, recording the
 * loss, until the loss explodes. Where the smoothed loss falls fastest is a
 * good learning rate to train with. Every buffer is allocated before the
 * first step; the network's weights are put back at the end. */
#include "core/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

fm_lr_find_options fm_lr_find_options_default(void)
{
    fm_lr_find_options o;
    memset(&o, 0, sizeof o);
    o.lr_min = 1e-6;
    o.lr_max = 10.0;
    o.steps = 200;
    o.batch = 32;
    o.seed = 1;
    o.beta = 0.98;
    o.stop_factor = 4.0;
    return o;
}

static fm_status check_options(const fm_lr_find_options *o, fm_error *err)
{
    if (!(o->lr_min > 0.0) || !isfinite(o->lr_min))
        return fm_fail(err, FM_ERR_ARG, "the smallest learning rate %g must be a positive number", o->lr_min);
    if (!(o->lr_max > o->lr_min) || !isfinite(o->lr_max))
        return fm_fail(err, FM_ERR_ARG, "the largest learning rate %g must be a number above the smallest, %g",
                       o->lr_max, o->lr_min);
    if (o->steps < 10)
        return fm_fail(err, FM_ERR_ARG, "a range test needs at least 10 steps (got %d)", o->steps);
    if (o->batch <= 0)
        return fm_fail(err, FM_ERR_ARG, "the batch size %d must be positive", o->batch);
    if (!(o->beta >= 0.0 && o->beta < 1.0))
        return fm_fail(err, FM_ERR_ARG, "the smoothing factor %g must lie in [0, 1)", o->beta);
    if (!(o->stop_factor == 0.0 || (o->stop_factor > 1.0 && isfinite(o->stop_factor))))
        return fm_fail(err, FM_ERR_ARG, "the stop factor %g must be 0 (never stop) or a number above 1",
                       o->stop_factor);
    return FM_OK;
}

static fm_status check_data(fm_net *net, const fm_loss *loss, const fm_dataset *data, fm_error *err)
{
    if (!data || data->rows == 0)
        return fm_fail(err, FM_ERR_ARG, "the range test's data has no rows");
    if (!data->y)
        return fm_fail(err, FM_ERR_ARG, "the range test's data has no targets");
    if (data->n_in != fm_net_n_in(net))
        return fm_fail(err, FM_ERR_ARG, "the data has %d input columns but the network takes %d", data->n_in,
                       fm_net_n_in(net));
    int width = fm_loss_target_width(loss, fm_net_n_out(net));
    if (data->n_out != width)
        return fm_fail(err, FM_ERR_ARG, "the data has %d target columns but loss %s with %d outputs needs %d",
                       data->n_out, fm_loss_name(loss->kind), fm_net_n_out(net), width);
    for (size_t r = 0; r < data->rows; r++) {
        for (int i = 0; i < data->n_in; i++)
            if (!isfinite(data->x[r * (size_t)data->n_in + (size_t)i]))
                return fm_fail(err, FM_ERR_ARG, "data row %zu: input %d is not finite", r + 1, i + 1);
        for (int i = 0; i < width; i++)
            if (!isfinite(data->y[r * (size_t)width + (size_t)i]))
                return fm_fail(err, FM_ERR_ARG, "data row %zu: target %d is not finite", r + 1, i + 1);
    }
    return fm_loss_check(loss, &fm_net_layer(net, fm_net_n_layers(net) - 1)->act, err);
}

fm_status fm_lr_suggest(const double *lrs, const double *smoothed, int n, int skip, fm_lr_find_result *result,
                        fm_error *err)
{
    if (!lrs || !smoothed || !result)
        return fm_fail(err, FM_ERR_ARG, "fm_lr_suggest needs the learning rates, the losses and a result");
    if (n < 2 || !isfinite(smoothed[0]))
        return fm_fail(err, FM_ERR_ARG, "too few finite losses (%d) to suggest a learning rate", n);
    if (skip < 0)
        return fm_fail(err, FM_ERR_ARG, "the number of settling steps %d must not be negative", skip);
    /* The usable part: up to the first non-finite value. */
    int usable = 0;
    while (usable < n && isfinite(smoothed[usable]) && lrs[usable] > 0.0 && isfinite(lrs[usable]))
        usable++;
    int start = skip < usable ? skip : 0;
    int min_index = start;
    for (int i = start + 1; i < usable; i++)
        if (smoothed[i] < smoothed[min_index])
            min_index = i;
    result->min_index = min_index;
    result->min_loss = smoothed[min_index];
    result->min_loss_lr = lrs[min_index];
    result->min_loss_lr_10 = lrs[min_index] / 10.0;
    /* Steepest descent: the least-squares slope of the smoothed loss against
     * log lr over the 2w + 1 steps around each candidate, searched over the
     * descent into the minimum: the two decades of learning rate below it,
     * after the settling steps. (Further down the curve is flat, and its
     * noise would only produce spurious slopes.) */
    int w = n / 20 > 1 ? n / 20 : 1;
    int first = start;
    while (first < min_index && lrs[first] < lrs[min_index] / 100.0)
        first++;
    double best = 0.0;
    int best_index = -1;
    for (int i = first + w; i + w <= min_index; i++) {
        double mx = 0.0, my = 0.0;
        for (int j = i - w; j <= i + w; j++) {
            mx += log(lrs[j]);
            my += smoothed[j];
        }
        mx /= 2 * w + 1;
        my /= 2 * w + 1;
        double sxy = 0.0, sxx = 0.0;
        for (int j = i - w; j <= i + w; j++) {
            double dx = log(lrs[j]) - mx;
            sxy += dx * (smoothed[j] - my);
            sxx += dx * dx;
        }
        if (!(sxx > 0.0))
            continue;
        double slope = sxy / sxx;
        if (slope < best) {
            best = slope;
            best_index = i;
        }
    }
    result->suggested_index = best_index;
    result->suggested_lr = best_index >= 0 ? lrs[best_index] : result->min_loss_lr_10;
    return FM_OK;
}

/* Rows in a shuffled order; a new order whenever the next batch would not fit. */
typedef struct batch_source {
    const fm_dataset *data;
    size_t *order;
    size_t next;
    int batch;
    fm_rng rng;
} batch_source;

static void shuffle(size_t *order, size_t n, fm_rng *rng)
{
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)fm_rng_below(rng, (uint64_t)i + 1);
        size_t tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
}

static void next_batch(batch_source *src, float *x, float *y)
{
    const fm_dataset *d = src->data;
    if (src->next + (size_t)src->batch > d->rows) {
        shuffle(src->order, d->rows, &src->rng);
        src->next = 0;
    }
    for (int r = 0; r < src->batch; r++) {
        size_t row = src->order[src->next + (size_t)r];
        memcpy(x + (size_t)r * (size_t)d->n_in, d->x + row * (size_t)d->n_in, (size_t)d->n_in * sizeof *x);
        memcpy(y + (size_t)r * (size_t)d->n_out, d->y + row * (size_t)d->n_out, (size_t)d->n_out * sizeof *y);
    }
    src->next += (size_t)src->batch;
}

fm_status fm_lr_range_test(fm_net *net, const fm_optim_config *config, const fm_loss *loss, const fm_dataset *train,
                           const fm_lr_find_options *opts, double *lrs, double *losses, double *smoothed,
                           fm_lr_find_result *result, fm_error *err)
{
    if (!net || !config || !loss || !train || !opts || !lrs || !losses || !result)
        return fm_fail(err, FM_ERR_ARG, "fm_lr_range_test needs a network, an optimiser configuration, a loss, "
                                        "data, options, buffers and a result");
    memset(result, 0, sizeof *result);
    result->suggested_index = -1;
    result->suggested_lr = result->min_loss_lr = result->min_loss_lr_10 = result->min_loss = NAN;
    fm_status st = check_options(opts, err);
    if (st == FM_OK)
        st = check_data(net, loss, train, err);
    if (st != FM_OK)
        return st;
    /* The optimiser's own rate only has to pass validation: each step gets its own. */
    fm_optim_config oc = *config;
    oc.lr = opts->lr_min;
    oc.schedule = FM_SCHEDULE_CONSTANT;

    const int n_in = fm_net_n_in(net), n_out = fm_net_n_out(net), width = train->n_out;
    const int batch = (size_t)opts->batch < train->rows ? opts->batch : (int)train->rows;
    const size_t n_params = fm_net_n_params(net);
    fm_optim *opt = NULL;
    batch_source src = {train, NULL, 0, batch, {{0}}};
    float *batch_x = NULL, *batch_y = NULL, *grad_z = NULL, *saved = NULL;
    double *own_smoothed = NULL, *smooth_buf = smoothed;
    int have_saved = 0, taken = 0;
    st = fm_optim_create(&oc, n_params, &opt, err);
    if (st != FM_OK)
        return st;
    src.order = fm_alloc_array(train->rows, sizeof *src.order);
    batch_x = fm_alloc_array((size_t)batch * (size_t)n_in, sizeof *batch_x);
    batch_y = fm_alloc_array((size_t)batch * (size_t)width, sizeof *batch_y);
    grad_z = fm_alloc_array((size_t)batch * (size_t)n_out, sizeof *grad_z);
    saved = fm_alloc_array(n_params, sizeof *saved);
    if (!smoothed)
        smooth_buf = own_smoothed = fm_alloc_array((size_t)opts->steps, sizeof *own_smoothed);
    if (!src.order || !batch_x || !batch_y || !grad_z || !saved || !smooth_buf) {
        st = fm_fail(err, FM_ERR_NOMEM, "cannot allocate the range test's buffers");
        goto done;
    }
    st = fm_net_reserve(net, batch, err);
    if (st != FM_OK)
        goto done;
    float *params = fm_net_params(net), *grads = fm_net_grads(net);
    memcpy(saved, params, n_params * sizeof *saved);
    have_saved = 1;
    for (size_t i = 0; i < train->rows; i++)
        src.order[i] = i;
    fm_rng_seed(&src.rng, opts->seed);
    shuffle(src.order, train->rows, &src.rng);

    const fm_activation *out_act = &fm_net_layer(net, fm_net_n_layers(net) - 1)->act;
    const double ratio = opts->lr_max / opts->lr_min;
    const double beta = opts->beta;
    const int settle = opts->steps / 10;
    double avg = 0.0, beta_power = 1.0, best = INFINITY;
    for (int i = 0; i < opts->steps; i++) {
        /* The last step lands exactly on lr_max. */
        double lr = i == opts->steps - 1 ? opts->lr_max
                                         : opts->lr_min * pow(ratio, (double)i / (double)(opts->steps - 1));
        next_batch(&src, batch_x, batch_y);
        st = fm_net_forward(net, batch_x, batch, 1, err);
        if (st != FM_OK)
            goto done;
        double value = NAN;
        fm_error loss_err;
        fm_status loss_st = fm_loss_compute(loss, out_act, fm_net_z(net, fm_net_n_layers(net) - 1),
                                            fm_net_output(net), batch_y, batch, n_out, &value, grad_z, &loss_err);
        if (loss_st != FM_OK && loss_st != FM_ERR_NUMERIC) {
            if (err)
                *err = loss_err;
            st = loss_st;
            goto done;
        }
        avg = beta * avg + (1.0 - beta) * value;
        beta_power *= beta;
        double smooth = avg / (1.0 - beta_power);
        lrs[i] = lr;
        losses[i] = value;
        smooth_buf[i] = smooth;
        taken = i + 1;
        if (loss_st == FM_ERR_NUMERIC || !isfinite(smooth)) {
            result->stopped_early = 2;
            break;
        }
        /* The first steps' smoothed loss rests on a few batches: the
         * minimum is tracked once they have passed. */
        if (i >= settle && smooth < best)
            best = smooth;
        if (opts->stop_factor > 0.0 && i > settle && smooth > opts->stop_factor * best) {
            result->stopped_early = 1;
            break;
        }
        st = fm_net_backward(net, batch_x, grad_z, err);
        if (st != FM_OK)
            goto done;
        double norm = fm_clip_grad_norm(grads, n_params, config->clip_norm);
        if (!isfinite(norm)) {
            result->stopped_early = 2;
            break;
        }
        fm_optim_step(opt, params, grads, lr);
    }
    result->steps_taken = taken;
    {
        fm_error suggest_err;
        if (fm_lr_suggest(lrs, smooth_buf, taken, settle, result, &suggest_err) != FM_OK)
            result->suggested_index = -1;
    }

done:
    if (have_saved)
        memcpy(fm_net_params(net), saved, n_params * sizeof *saved);
    fm_optim_free(opt);
    free(src.order);
    free(batch_x);
    free(batch_y);
    free(grad_z);
    free(saved);
    free(own_smoothed);
    return st;
}
