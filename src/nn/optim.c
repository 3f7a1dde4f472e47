/* Optimisers with PyTorch's exact update rules (torch.optim.SGD, Adam, AdamW,
 * single-tensor, non-amsgrad, maximize=False), as flat loops over the one
 * contiguous parameter block; learning-rate schedules per epoch; clipping by
 * the global gradient norm. */
#include "core/internal.h"
#include "core/hot_loop.h"
#include "core/reduce.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct fm_optim {
    fm_optim_config config;
    size_t n;
    float *buf1;  /* SGD momentum buffer, or Adam's first moment */
    float *buf2;  /* Adam's second moment */
    long step;    /* steps taken (Adam's bias correction) */
};

fm_optim_config fm_optim_config_default(fm_optim_kind kind)
{
    fm_optim_config c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.lr = kind == FM_OPTIM_SGD ? 0.01 : 0.001;
    c.beta1 = 0.9;
    c.beta2 = 0.999;
    c.eps = 1e-8;
    c.weight_decay = kind == FM_OPTIM_ADAMW ? 0.01 : 0.0;
    c.schedule = FM_SCHEDULE_CONSTANT;
    c.step_size = 10;
    c.gamma = 0.1;
    c.lr_min = 0.0;
    return c;
}

static const char *const OPTIM_NAMES[FM_OPTIM_COUNT] = {"sgd", "adam", "adamw"};

const char *fm_optim_name(fm_optim_kind kind)
{
    if ((int)kind < 0 || kind >= FM_OPTIM_COUNT)
        return NULL;
    return OPTIM_NAMES[kind];
}

fm_status fm_optim_parse_kind(const char *name, fm_optim_kind *out, fm_error *err)
{
    if (!name || !out)
        return fm_fail(err, FM_ERR_ARG, "fm_optim_parse_kind: name and out must not be NULL");
    for (int k = 0; k < FM_OPTIM_COUNT; k++)
        if (strcmp(name, OPTIM_NAMES[k]) == 0) {
            *out = (fm_optim_kind)k;
            return FM_OK;
        }
    return fm_fail(err, FM_ERR_ARG, "unknown optimiser \"%s\" (known: sgd, adam, adamw)", name);
}

static fm_status check_config(const fm_optim_config *c, fm_error *err)
{
    if (!fm_optim_name(c->kind))
        return fm_fail(err, FM_ERR_ARG, "invalid optimiser");
    if ((int)c->schedule < 0 || c->schedule > FM_SCHEDULE_COSINE)
        return fm_fail(err, FM_ERR_ARG, "invalid learning-rate schedule");
    if (!(c->lr > 0.0) || !isfinite(c->lr))
        return fm_fail(err, FM_ERR_ARG, "learning rate %g must be a positive number", c->lr);
    if (!(c->momentum >= 0.0 && c->momentum < 1.0))
        return fm_fail(err, FM_ERR_ARG, "momentum %g must lie in [0, 1)", c->momentum);
    if (!(c->dampening >= 0.0 && c->dampening <= 1.0))
        return fm_fail(err, FM_ERR_ARG, "dampening %g must lie in [0, 1]", c->dampening);
    if (c->nesterov && (c->momentum <= 0.0 || c->dampening != 0.0))
        return fm_fail(err, FM_ERR_ARG, "Nesterov momentum needs a momentum > 0 and zero dampening");
    if (!(c->beta1 >= 0.0 && c->beta1 < 1.0) || !(c->beta2 >= 0.0 && c->beta2 < 1.0))
        return fm_fail(err, FM_ERR_ARG, "Adam betas (%g, %g) must lie in [0, 1)", c->beta1, c->beta2);
    if (!(c->eps >= 0.0) || !isfinite(c->eps))
        return fm_fail(err, FM_ERR_ARG, "epsilon %g must be a non-negative number", c->eps);
    if (!(c->weight_decay >= 0.0) || !isfinite(c->weight_decay))
        return fm_fail(err, FM_ERR_ARG, "weight decay %g must be a non-negative number", c->weight_decay);
    if (!(c->clip_norm >= 0.0) || !isfinite(c->clip_norm))
        return fm_fail(err, FM_ERR_ARG, "gradient clipping norm %g must be a non-negative number", c->clip_norm);
    if (c->schedule == FM_SCHEDULE_STEP && (c->step_size <= 0 || !(c->gamma > 0.0) || !isfinite(c->gamma)))
        return fm_fail(err, FM_ERR_ARG, "step schedule needs a positive step size and decay factor");
    if (c->schedule == FM_SCHEDULE_COSINE && (!(c->lr_min >= 0.0) || c->lr_min > c->lr))
        return fm_fail(err, FM_ERR_ARG, "cosine schedule's final learning rate %g must lie in [0, lr]", c->lr_min);
    return FM_OK;
}

fm_status fm_optim_create(const fm_optim_config *config, size_t n_params, fm_optim **out, fm_error *err)
{
    if (out)
        *out = NULL;
    if (!config || !out)
        return fm_fail(err, FM_ERR_ARG, "fm_optim_create: config and out must not be NULL");
    fm_status st = check_config(config, err);
    if (st != FM_OK)
        return st;
    fm_optim *opt = fm_calloc_array(1, sizeof *opt);
    if (!opt)
        return fm_fail(err, FM_ERR_NOMEM, "cannot allocate optimiser");
    opt->config = *config;
    opt->n = n_params;
    int needs_buf1 = config->kind != FM_OPTIM_SGD || config->momentum > 0.0;
    int needs_buf2 = config->kind != FM_OPTIM_SGD;
    if (needs_buf1)
        opt->buf1 = fm_calloc_array(n_params, sizeof *opt->buf1);
    if (needs_buf2)
        opt->buf2 = fm_calloc_array(n_params, sizeof *opt->buf2);
    if ((needs_buf1 && !opt->buf1) || (needs_buf2 && !opt->buf2)) {
        fm_optim_free(opt);
        return fm_fail(err, FM_ERR_NOMEM, "cannot allocate optimiser state for %zu parameters", n_params);
    }
    *out = opt;
    return FM_OK;
}

void fm_optim_free(fm_optim *opt)
{
    if (!opt)
        return;
    free(opt->buf1);
    free(opt->buf2);
    free(opt);
}

const fm_optim_config *fm_optim_get_config(const fm_optim *opt) { return &opt->config; }

long fm_optim_steps(const fm_optim *opt) { return opt->step; }
void fm_optim_set_steps(fm_optim *opt, long steps) { opt->step = steps; }
float *fm_optim_buffer(fm_optim *opt, int which) { return which == 0 ? opt->buf1 : which == 1 ? opt->buf2 : NULL; }
size_t fm_optim_n_params(const fm_optim *opt) { return opt->n; }

/* The update is memory-bound (a step reads and writes every parameter), so
 * each case gets a loop of its own with nothing to test per element: plain
 * SGD is one multiply-subtract per parameter. Each works on a range of n
 * parameters (p, g and the buffers all offset to its start), so that a
 * measured step (below) can run it chunk by chunk. */
FM_HOT_LOOP static void sgd_range(const fm_optim *opt, float *restrict p, const float *restrict g,
                                  float *restrict buf, size_t n, float lr)
{
    const fm_optim_config *c = &opt->config;
    const float wd = (float)c->weight_decay, mom = (float)c->momentum, damp = 1.0f - (float)c->dampening;
    if (!buf) {
        if (wd == 0.0f)
            for (size_t i = 0; i < n; i++)
                p[i] -= lr * g[i];
        else
            for (size_t i = 0; i < n; i++)
                p[i] -= lr * (g[i] + wd * p[i]);
        return;
    }
    if (opt->step == 0) {
        /* PyTorch starts the momentum buffer at the first gradient, undamped. */
        for (size_t i = 0; i < n; i++)
            buf[i] = g[i] + wd * p[i];
    } else {
        for (size_t i = 0; i < n; i++)
            buf[i] = mom * buf[i] + damp * (g[i] + wd * p[i]);
    }
    if (c->nesterov)
        for (size_t i = 0; i < n; i++)
            p[i] -= lr * ((g[i] + wd * p[i]) + mom * buf[i]);
    else
        for (size_t i = 0; i < n; i++)
            p[i] -= lr * buf[i];
}

FM_HOT_LOOP static void adam_range(const fm_optim *opt, float *restrict p, const float *restrict g,
                                   float *restrict m, float *restrict v, size_t n, double lr)
{
    const fm_optim_config *c = &opt->config;
    const long t = opt->step + 1;
    const float b1 = (float)c->beta1, b2 = (float)c->beta2;
    const double bias1 = 1.0 - pow(c->beta1, (double)t);
    const double bias2 = 1.0 - pow(c->beta2, (double)t);
    const float step_size = (float)(lr / bias1);
    const float bias2_sqrt = (float)sqrt(bias2);
    const float eps = (float)c->eps;
    const int decoupled = c->kind == FM_OPTIM_ADAMW;
    const float wd = (float)c->weight_decay;
    const float decay = (float)(1.0 - lr * c->weight_decay);
    for (size_t i = 0; i < n; i++) {
        float grad = g[i];
        if (decoupled)
            p[i] *= decay;
        else if (wd != 0.0f)
            grad += wd * p[i];
        m[i] = b1 * m[i] + (1.0f - b1) * grad;
        v[i] = b2 * v[i] + (1.0f - b2) * grad * grad;
        float denom = sqrtf(v[i]) / bias2_sqrt + eps;
        p[i] -= step_size * m[i] / denom;
    }
}

/* The update of parameters [begin, begin + n), without counting a step. */
static void update_range(fm_optim *opt, float *params, const float *grads, size_t begin, size_t n, double lr)
{
    if (opt->config.kind == FM_OPTIM_SGD) /* the momentum buffer exists only with momentum */
        sgd_range(opt, params + begin, grads + begin, opt->buf1 ? opt->buf1 + begin : NULL, n, (float)lr);
    else /* Adam's two moments are allocated with the optimiser */
        adam_range(opt, params + begin, grads + begin, opt->buf1 + begin, opt->buf2 + begin, n, lr);
}

void fm_optim_step(fm_optim *opt, float *params, const float *grads, double lr)
{
    update_range(opt, params, grads, 0, opt->n, lr);
    opt->step++;
}

/* Chunks small enough that their old values stay in the L1 cache between the
 * copy, the update and the difference. */
#define MEASURE_CHUNK 2048

void fm_optim_step_measured(fm_optim *opt, float *params, const float *grads, double lr, const size_t *begin,
                            const size_t *length, int n_ranges, fm_update_sums *sums)
{
    float old[MEASURE_CHUNK];
    size_t done = 0;
    for (int r = 0; r <= n_ranges; r++) {
        /* the gap before range r (or the tail after the last), updated as it is */
        size_t start = r < n_ranges ? begin[r] : opt->n;
        if (start > done)
            update_range(opt, params, grads, done, start - done, lr);
        if (r == n_ranges)
            break;
        double s[FM_STEP_SUMS] = {0.0};
        for (size_t at = start; at < start + length[r]; at += MEASURE_CHUNK) {
            size_t n = start + length[r] - at < MEASURE_CHUNK ? start + length[r] - at : MEASURE_CHUNK;
            memcpy(old, params + at, n * sizeof *old);
            update_range(opt, params, grads, at, n, lr);
            fm_reduce_step_sums(old, params + at, grads + at, n, s);
        }
        sums[r] = (fm_update_sums){s[FM_SUM_UPDATE_SQ], s[FM_SUM_OLD], s[FM_SUM_OLD_SQ], s[FM_SUM_GRAD_SQ]};
        done = start + length[r];
    }
    opt->step++;
}

double fm_schedule_lr(const fm_optim_config *c, int epoch, int epochs)
{
    switch (c->schedule) {
    case FM_SCHEDULE_STEP: {
        /* StepLR: one decay per step_size whole epochs (integer division on purpose). */
        if (c->step_size <= 0 || epoch < 0) /* refused by fm_optim_create; this function takes any config */
            return c->lr;
        int decays = epoch / c->step_size;
        return c->lr * pow(c->gamma, (double)decays);
    }
    case FM_SCHEDULE_COSINE:
        /* CosineAnnealingLR with T_max = epochs, in closed form. */
        if (epochs <= 0)
            return c->lr;
        return c->lr_min + (c->lr - c->lr_min) * 0.5 * (1.0 + cos(M_PI * (double)epoch / (double)epochs));
    case FM_SCHEDULE_CONSTANT:
    default: return c->lr;
    }
}

FM_HOT_LOOP static void scale_floats(float *v, size_t n, float c)
{
    for (size_t i = 0; i < n; i++)
        v[i] *= c;
}

double fm_clip_grad_norm(float *grads, size_t n, double max_norm)
{
    double norm = sqrt(fm_reduce_sum_squares(grads, n)); /* lane sums: core/reduce.h */
    if (max_norm > 0.0) {
        double coef = max_norm / (norm + 1e-6);
        if (coef < 1.0)
            scale_floats(grads, n, (float)coef);
    }
    return norm;
}
