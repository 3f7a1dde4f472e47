/* Per-layer statistics of a batch: what the signal does (variance of z, a and
 * dL/dz, saturated and dead units, gradient norms) next to what theory
 * predicts (the lecture's linear-regime product, the mean-field recursion and
 * its backward counterpart). Sums in double; nothing is allocated, so the
 * same code serves the probe and training diagnostics. */
#include "nn/net_internal.h"

#include <math.h>
#include <string.h>

typedef struct moments {
    double mean, var;
    int finite;
} moments;

static moments measure(const float *v, size_t n)
{
    double sum = 0.0, sq = 0.0;
    for (size_t i = 0; i < n; i++) {
        sum += v[i];
        sq += (double)v[i] * v[i];
    }
    moments m = {NAN, NAN, isfinite(sum) && isfinite(sq)};
    if (n > 0 && m.finite) {
        m.mean = sum / (double)n;
        m.var = fmax(sq / (double)n - m.mean * m.mean, 0.0);
    }
    return m;
}

/* Saturation: |phi'(z)| below 1% of its maximum. For the activations whose
 * derivative is monotone in each tail this is a threshold on z, solved in
 * closed form; GELU and SiLU dip below zero and come back, so their
 * derivative is evaluated. ReLU-like units have no saturation, only death. */
static double saturated_share(const fm_activation *act, const float *z, size_t n)
{
    const double limit = 0.01 * fm_act_max_derivative(act);
    size_t count = 0;
    switch (act->kind) {
    case FM_ACT_SIGMOID: {
        /* s (1 - s) < limit  <=>  |z| > logit of the smaller root */
        double s = 0.5 * (1.0 - sqrt(1.0 - 4.0 * limit));
        float t = (float)-log(s / (1.0 - s));
        for (size_t i = 0; i < n; i++)
            count += fabsf(z[i]) > t;
        break;
    }
    case FM_ACT_TANH: {
        float t = (float)atanh(sqrt(1.0 - limit));
        for (size_t i = 0; i < n; i++)
            count += fabsf(z[i]) > t;
        break;
    }
    case FM_ACT_ELU:
    case FM_ACT_SELU: {
        /* (lambda) alpha e^z < limit on the negative side; the positive side never saturates */
        double scale = act->kind == FM_ACT_SELU ? act->lambda * act->alpha : act->alpha;
        float t = (float)log(limit / scale);
        for (size_t i = 0; i < n; i++)
            count += z[i] < t && z[i] <= 0.0f;
        break;
    }
    case FM_ACT_SOFTPLUS: {
        float t = (float)log(limit / (1.0 - limit));
        for (size_t i = 0; i < n; i++)
            count += z[i] < t;
        break;
    }
    case FM_ACT_GELU:
    case FM_ACT_SILU:
        for (size_t i = 0; i < n; i++)
            count += fabs(fm_act_derivative(act, z[i])) < limit;
        break;
    default: return NAN;
    }
    return (double)count / (double)n;
}

/* Share of units negative (dead: <= 0 for ReLU) on every sample of the batch.
 * Units are scanned in blocks so that a stack flag array suffices. */
static double never_active_share(const float *z, int batch, int n_out, int allow_zero)
{
    enum { BLOCK = 512 };
    unsigned char active[BLOCK];
    int never = 0;
    for (int start = 0; start < n_out; start += BLOCK) {
        int width = n_out - start < BLOCK ? n_out - start : BLOCK;
        memset(active, 0, (size_t)width);
        for (int r = 0; r < batch; r++) {
            const float *row = z + (size_t)r * (size_t)n_out + (size_t)start;
            for (int u = 0; u < width; u++)
                active[u] |= allow_zero ? row[u] > 0.0f : row[u] >= 0.0f;
        }
        for (int u = 0; u < width; u++)
            never += !active[u];
    }
    return (double)never / (double)n_out;
}

void fm_stats_measure(fm_net *net, fm_layer_stats *stats)
{
    const int batch = net->batch;
    for (int l = 0; l < net->n_layers; l++) {
        const fm_net_layer_state *s = &net->layers[l];
        const fm_activation *act = &net->specs[l].act;
        fm_layer_stats *st = &stats[l];
        size_t count = (size_t)batch * (size_t)s->n_out;
        memset(st, 0, sizeof *st);
        st->layer = l + 1;
        st->n_in = s->n_in;
        st->n_out = s->n_out;
        moments w = measure(net->params + s->weight_offset, (size_t)s->n_out * (size_t)s->n_in);
        st->var_w = w.var;
        moments z = measure(s->z, count), a = measure(s->a, count);
        st->mean_z = z.mean;
        st->var_z = z.var;
        st->mean_a = a.mean;
        st->var_a = a.var;
        st->nonfinite = !z.finite || !a.finite || !w.finite;
        st->saturated = z.finite ? saturated_share(act, s->z, count) : NAN;
        st->dead = st->inactive = NAN;
        if (act->kind == FM_ACT_RELU)
            st->dead = never_active_share(s->z, batch, s->n_out, 1);
        else if (act->kind == FM_ACT_LEAKY_RELU || act->kind == FM_ACT_ELU || act->kind == FM_ACT_SELU)
            st->inactive = never_active_share(s->z, batch, s->n_out, 0);
        moments d = measure(s->delta, count);
        st->var_delta = d.var;
        st->nonfinite |= !d.finite;
        moments g = measure(net->grads + s->weight_offset, (size_t)s->n_out * (size_t)s->n_in);
        st->grad_w_norm = g.finite ? sqrt((g.var + g.mean * g.mean) * (double)s->n_out * (double)s->n_in) : NAN;
        st->nonfinite |= !g.finite;
        st->var_z_linear = st->var_z_meanfield = st->var_delta_theory = st->chi1 = NAN;
    }
}

void fm_stats_theory(fm_net *net, double input_q, fm_layer_stats *stats)
{
    double linear = input_q, q_prev = input_q;
    const fm_activation *prev_act = NULL;
    for (int l = 0; l < net->n_layers; l++) {
        const fm_net_layer_state *s = &net->layers[l];
        fm_layer_stats *st = &stats[l];
        double sigma_w2 = (double)s->n_in * st->var_w;
        moments b = measure(net->params + s->bias_offset, (size_t)s->n_out);
        double sigma_b2 = b.var + b.mean * b.mean;
        linear *= sigma_w2;
        st->var_z_linear = linear;
        /* The first layer sees x itself: its q is a second moment of data. */
        double q = prev_act ? fm_meanfield_next_q(prev_act, q_prev, sigma_w2, sigma_b2) : sigma_w2 * q_prev + sigma_b2;
        st->var_z_meanfield = q;
        st->chi1 = fm_meanfield_chi1(&net->specs[l].act, q, sigma_w2);
        q_prev = q;
        prev_act = &net->specs[l].act;
    }
    /* Backward: Var[dL/dz_l] = Var[dL/dz_{l+1}] n_{l+1} Var[W_{l+1}] E[phi_l'(z_l)^2]. */
    int last = net->n_layers - 1;
    double var = stats[last].var_delta;
    stats[last].var_delta_theory = var;
    for (int l = last - 1; l >= 0; l--) {
        const fm_layer_stats *next = &stats[l + 1];
        double derivative = net->specs[l].act.kind == FM_ACT_SOFTMAX
                                ? 1.0
                                : fm_meanfield_derivative_moment(&net->specs[l].act, stats[l].var_z_meanfield);
        var *= (double)next->n_out * next->var_w * derivative;
        stats[l].var_delta_theory = var;
    }
}

int fm_stats_first_nonfinite(const fm_layer_stats *stats, int n_layers)
{
    for (int l = 0; l < n_layers; l++)
        if (stats[l].nonfinite || !isfinite(stats[l].var_z) || !isfinite(stats[l].var_a))
            return l + 1;
    return 0;
}

fm_status fm_probe(fm_net *net, const float *x, int batch, const float *grad_out, uint64_t seed,
                   fm_layer_stats *stats, fm_error *err)
{
    fm_status st = fm_net_forward(net, x, batch, 0, err);
    if (st != FM_OK)
        return st;
    int last = net->n_layers - 1;
    float *delta = net->layers[last].delta;
    size_t count = (size_t)batch * (size_t)net->layers[last].n_out;
    if (grad_out) {
        st = fm_net_backward(net, x, grad_out, err);
    } else {
        /* A unit-variance random output gradient, generated in place in the
         * output layer's delta buffer (backward copies from it first). */
        fm_rng rng;
        fm_rng_seed(&rng, seed);
        for (size_t i = 0; i < count; i++)
            delta[i] = (float)fm_rng_normal(&rng);
        st = fm_net_backward(net, x, delta, err);
    }
    if (st != FM_OK)
        return st;
    fm_stats_measure(net, stats);
    moments in = measure(x, (size_t)batch * (size_t)net->n_in);
    fm_stats_theory(net, in.finite ? in.var + in.mean * in.mean : NAN, stats);
    return FM_OK;
}
