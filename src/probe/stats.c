/* Per-layer statistics of a batch: what the signal does (variance of z, a and
 * dL/dz, saturated and dead units, gradient norms) next to what theory
 * predicts (the lecture's linear-regime product, the mean-field recursion and
 * its backward counterpart). Sums in double; nothing is allocated, so the
 * same code serves the probe and training diagnostics. */
#include "nn/net_internal.h"
#include "core/hot_loop.h"
#include "core/reduce.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct moments {
    double mean, var;
    int finite;
} moments;

static moments measure(const float *v, size_t n)
{
    double sum, sq;
    fm_reduce_moments(v, n, &sum, &sq); /* lane sums: statistics every step must stay cheap */
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
FM_HOT_LOOP static double saturated_share(const fm_activation *act, const float *z, size_t n)
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
FM_HOT_LOOP static double never_active_share(const float *z, int batch, int n_out, int allow_zero)
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

void fm_stats_measure_batch(fm_net *net, fm_layer_stats *stats)
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
        st->var_w = st->sigma_b2 = st->grad_w_norm = NAN;
        moments z = measure(s->z, count), a = measure(s->a, count);
        st->mean_z = z.mean;
        st->var_z = z.var;
        st->mean_a = a.mean;
        st->var_a = a.var;
        st->nonfinite = !z.finite || !a.finite ? FM_NONFINITE_FORWARD : 0;
        st->saturated = z.finite ? saturated_share(act, s->z, count) : NAN;
        st->dead = st->inactive = NAN;
        if (act->kind == FM_ACT_RELU)
            st->dead = never_active_share(s->z, batch, s->n_out, 1);
        else if (act->kind == FM_ACT_LEAKY_RELU || act->kind == FM_ACT_ELU || act->kind == FM_ACT_SELU)
            st->inactive = never_active_share(s->z, batch, s->n_out, 0);
        moments d = measure(s->delta, count);
        st->var_delta = d.var;
        if (!d.finite)
            st->nonfinite |= FM_NONFINITE_BACKWARD;
        st->var_z_linear = st->var_z_meanfield = st->var_delta_theory = st->chi1 = NAN;
    }
}

/* var_w, sigma_b2, ||dL/dW|| and their non-finite flags from sums over a
 * layer's n_w weights and n_b biases (an Inf or NaN in the gradient makes
 * its sum of squares one). */
static void set_param_columns(fm_layer_stats *st, size_t n_w, double w_sum, double w_sq, double g_sq, size_t n_b,
                              double b_sq)
{
    int w_finite = isfinite(w_sum) && isfinite(w_sq), g_finite = isfinite(g_sq);
    double mean = w_sum / (double)n_w;
    st->var_w = w_finite ? fmax(w_sq / (double)n_w - mean * mean, 0.0) : NAN;
    st->sigma_b2 = b_sq / (double)n_b;
    st->grad_w_norm = g_finite ? sqrt(g_sq) : NAN;
    if (!w_finite || !isfinite(b_sq))
        st->nonfinite |= FM_NONFINITE_FORWARD;
    if (!g_finite)
        st->nonfinite |= FM_NONFINITE_BACKWARD;
}

void fm_stats_params_from_sums(fm_net *net, const fm_update_sums *sums, fm_layer_stats *stats)
{
    for (int l = 0; l < net->n_layers; l++) {
        const fm_net_layer_state *s = &net->layers[l];
        const fm_update_sums *w = &sums[2 * l], *b = &sums[2 * l + 1];
        set_param_columns(&stats[l], (size_t)s->n_out * (size_t)s->n_in, w->before_sum, w->before_sq, w->grad_sq,
                          (size_t)s->n_out, b->before_sq);
    }
}

void fm_stats_measure(fm_net *net, fm_layer_stats *stats)
{
    fm_stats_measure_batch(net, stats);
    for (int l = 0; l < net->n_layers; l++) {
        const fm_net_layer_state *s = &net->layers[l];
        size_t n = (size_t)s->n_out * (size_t)s->n_in;
        double w_sum, w_sq;
        fm_reduce_moments(net->params + s->weight_offset, n, &w_sum, &w_sq);
        set_param_columns(&stats[l], n, w_sum, w_sq, fm_reduce_sum_squares(net->grads + s->weight_offset, n),
                          (size_t)s->n_out, fm_reduce_sum_squares(net->params + s->bias_offset, (size_t)s->n_out));
    }
}

void fm_stats_theory(fm_net *net, double input_q, fm_layer_stats *stats)
{
    /* One quadrature sweep per layer (fm_meanfield_moments) gives both what
     * the next layer's q needs, E[phi_l^2] at q_l, and what chi_1 and the
     * backward recursion need, E[phi_l'^2] at q_l; the latter waits in
     * var_delta_theory until the backward loop below uses it. */
    double linear = input_q, q_prev = input_q, phi_sq_prev = NAN;
    for (int l = 0; l < net->n_layers; l++) {
        const fm_net_layer_state *s = &net->layers[l];
        fm_layer_stats *st = &stats[l];
        double sigma_w2 = (double)s->n_in * st->var_w, sigma_b2 = st->sigma_b2;
        linear *= sigma_w2;
        st->var_z_linear = linear;
        /* The first layer sees x itself: its q is a second moment of data.
         * A q gone bad (negative, NaN, Inf) stays as it is downwards. */
        double q;
        if (l == 0)
            q = sigma_w2 * input_q + sigma_b2;
        else if (!(q_prev >= 0.0) || isinf(q_prev))
            q = q_prev;
        else
            q = sigma_w2 * phi_sq_prev + sigma_b2;
        st->var_z_meanfield = q;
        double dphi_sq;
        fm_meanfield_moments(&net->specs[l].act, q, &phi_sq_prev, &dphi_sq);
        q_prev = q;
        st->chi1 = sigma_w2 * dphi_sq;
        st->var_delta_theory = net->specs[l].act.kind == FM_ACT_SOFTMAX ? 1.0 : dphi_sq;
    }
    /* Backward: Var[dL/dz_l] = Var[dL/dz_{l+1}] n_{l+1} Var[W_{l+1}] E[phi_l'(z_l)^2]. */
    int last = net->n_layers - 1;
    double var = stats[last].var_delta;
    stats[last].var_delta_theory = var;
    for (int l = last - 1; l >= 0; l--) {
        const fm_layer_stats *next = &stats[l + 1];
        var *= (double)next->n_out * next->var_w * stats[l].var_delta_theory;
        stats[l].var_delta_theory = var;
    }
}

fm_status fm_probe_with_loss(fm_net *net, const float *x, int batch, const fm_loss *loss, const float *targets,
                             double *loss_value, fm_layer_stats *stats, fm_error *err)
{
    if (!net || !x || !loss || !targets || !stats) /* loss_value may be NULL */
        return fm_fail(err, FM_ERR_ARG, "fm_probe_with_loss: net, x, loss, targets and stats must not be NULL");
    fm_status st = fm_net_forward(net, x, batch, 0, err);
    if (st != FM_OK)
        return st;
    int last = net->n_layers - 1;
    fm_net_layer_state *out = &net->layers[last];
    double value;
    /* The output layer's delta buffer holds dL/dz; backward reads it in place. */
    st = fm_loss_compute(loss, &net->specs[last].act, out->z, out->a, targets, batch, out->n_out, &value, out->delta,
                         err);
    if (st == FM_OK)
        st = fm_net_backward(net, x, out->delta, err);
    if (st != FM_OK)
        return st;
    if (loss_value)
        *loss_value = value;
    fm_stats_measure(net, stats);
    moments in = measure(x, (size_t)batch * (size_t)net->n_in);
    fm_stats_theory(net, in.finite ? in.var + in.mean * in.mean : NAN, stats);
    return FM_OK;
}

int fm_stats_first_nonfinite(const fm_layer_stats *stats, int n_layers)
{
    for (int l = 0; l < n_layers; l++)
        if ((stats[l].nonfinite & FM_NONFINITE_FORWARD) || !isfinite(stats[l].var_z) || !isfinite(stats[l].var_a))
            return l + 1;
    return 0;
}

int fm_stats_first_nonfinite_backward(const fm_layer_stats *stats, int n_layers)
{
    for (int l = n_layers - 1; l >= 0; l--)
        if ((stats[l].nonfinite & FM_NONFINITE_BACKWARD) || !isfinite(stats[l].var_delta))
            return l + 1;
    return 0;
}

fm_status fm_probe(fm_net *net, const float *x, int batch, const float *grad_out, uint64_t seed,
                   fm_layer_stats *stats, fm_error *err)
{
    if (!net || !x || !stats) /* grad_out may be NULL */
        return fm_fail(err, FM_ERR_ARG, "fm_probe: net, x and stats must not be NULL");
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
        fm_rng_normal_fill(&rng, delta, count, 0.0, 1.0);
        st = fm_net_backward(net, x, delta, err);
    }
    if (st != FM_OK)
        return st;
    fm_stats_measure(net, stats);
    moments in = measure(x, (size_t)batch * (size_t)net->n_in);
    fm_stats_theory(net, in.finite ? in.var + in.mean * in.mean : NAN, stats);
    return FM_OK;
}

/* Append a finding to buf, keeping it NUL-terminated. */
static void add_finding(char *buf, size_t size, size_t *used, int *count, const char *fmt, ...) FM_PRINTF(5, 6);
static void add_finding(char *buf, size_t size, size_t *used, int *count, const char *fmt, ...)
{
    (*count)++;
    if (*used + 1 >= size)
        return;
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(buf + *used, size - *used, fmt, args);
    va_end(args);
    if (n > 0)
        *used = *used + (size_t)n < size ? *used + (size_t)n : size - 1;
}

/* A list of layers meeting a condition, as "3, 4, 7" (at most a dozen named). */
static void layer_list(const fm_layer_stats *stats, int n_layers, int (*pick)(const fm_layer_stats *), char *out,
                       size_t size, int *found)
{
    size_t used = 0;
    *found = 0;
    out[0] = '\0';
    for (int l = 0; l < n_layers; l++) {
        if (!pick(&stats[l]))
            continue;
        if (*found < 12 && used + 16 < size)
            used += (size_t)snprintf(out + used, size - used, "%s%d", *found ? ", " : "", l + 1);
        else if (*found == 12 && used + 8 < size)
            used += (size_t)snprintf(out + used, size - used, ", ...");
        (*found)++;
    }
}

static int is_dead(const fm_layer_stats *s) { return s->dead > 0.1; }
static int is_inactive(const fm_layer_stats *s) { return s->inactive > 0.5; }
static int is_saturated(const fm_layer_stats *s) { return s->saturated > 0.2; }

int fm_stats_advice(const fm_layer_stats *stats, int n_layers, char *buf, size_t size)
{
    size_t used = 0;
    int count = 0;
    char layers[128];
    int found;
    if (size == 0)
        return 0;
    buf[0] = '\0';
    int bad = fm_stats_first_nonfinite(stats, n_layers);
    int bad_backward = fm_stats_first_nonfinite_backward(stats, n_layers);
    if (bad)
        add_finding(buf, size, &used, &count,
                    "- Values overflowed or became NaN from layer %d on: the signal explodes; lower the weight "
                    "variance (an initialiser such as auto, he or lecun) or the learning rate.\n",
                    bad);
    else if (bad_backward)
        add_finding(buf, size, &used, &count,
                    "- Gradients overflowed or became NaN at layer %d, on their way back from the output: they "
                    "explode; lower the weight variance or the learning rate.\n",
                    bad_backward);
    bad = bad || bad_backward;
    layer_list(stats, n_layers, is_dead, layers, sizeof layers, &found);
    if (found)
        add_finding(buf, size, &used, &count,
                    "- Dead ReLU units (more than 10%% off on every sample) in layer%s %s: they output 0 and get no "
                    "gradient. Use he initialisation, a smaller learning rate, or leaky_relu, elu or selu.\n",
                    found > 1 ? "s" : "", layers);
    layer_list(stats, n_layers, is_inactive, layers, sizeof layers, &found);
    if (found)
        add_finding(buf, size, &used, &count,
                    "- More than half the units are negative on every sample in layer%s %s (they still pass a "
                    "gradient, but the layer is mostly in its negative regime).\n",
                    found > 1 ? "s" : "", layers);
    layer_list(stats, n_layers, is_saturated, layers, sizeof layers, &found);
    if (found)
        add_finding(buf, size, &used, &count,
                    "- Saturated layer%s %s (more than 20%% of units with phi' below 1%% of its maximum): "
                    "gradients vanish there. The weight variance is too large: use glorot or lecun.\n",
                    found > 1 ? "s" : "", layers);
    /* Gradient flow: the first layer's Var[dL/dz] against the last hidden layer's. */
    if (n_layers >= 3 && !bad) {
        double first = stats[0].var_delta, last = stats[n_layers - 2].var_delta;
        if (first > 0.0 && last > 0.0 && isfinite(first) && isfinite(last)) {
            double decades = log10(first / last);
            if (decades < -4.0)
                add_finding(buf, size, &used, &count,
                            "- Vanishing gradients: Var[dL/dz] of layer 1 is %.0f orders of magnitude below layer "
                            "%d's; the first layers will barely learn.\n",
                            -decades, n_layers - 1);
            else if (decades > 4.0)
                add_finding(buf, size, &used, &count,
                            "- Exploding gradients: Var[dL/dz] of layer 1 is %.0f orders of magnitude above layer "
                            "%d's.\n",
                            decades, n_layers - 1);
        }
    }
    /* chi_1, geometric mean over the hidden layers. */
    double log_chi = 0.0;
    int n_chi = 0;
    for (int l = 0; l + 1 < n_layers; l++)
        if (stats[l].chi1 > 0.0 && isfinite(stats[l].chi1)) {
            log_chi += log(stats[l].chi1);
            n_chi++;
        }
    if (n_chi >= 4) {
        double chi = exp(log_chi / n_chi);
        double over_depth = pow(chi, n_chi);
        if (over_depth < 1e-3 || over_depth > 1e3)
            add_finding(buf, size, &used, &count,
                        "- Mean-field chi_1 is %.3g per layer (%s): over %d layers gradients scale by about %.1e. "
                        "The critical choice keeps chi_1 near 1 (he for ReLU, lecun for SELU and tanh).\n",
                        chi, chi < 1.0 ? "ordered phase, vanishing" : "chaotic phase, exploding", n_chi,
                        over_depth);
    }
    if (count == 0) {
        add_finding(buf, size, &used, &count,
                    "- No dead or saturated layers; variances and gradients stay within a healthy range.\n");
        return 0;
    }
    return count;
}

/* ------------------------------------------ statistics summed over processes */

/* Per layer: rows, sum and sum of squares of z, a and dL/dz, saturated
 * (unit, sample) pairs, non-finite forward and backward flags, then per unit
 * the samples on which it was active. Sums of these over processes describe
 * the union of their batches, which is what training on several processes
 * reports (fm_stats_from_sufficient). */
enum { SUFF_ROWS, SUFF_Z, SUFF_ZZ, SUFF_A, SUFF_AA, SUFF_D, SUFF_DD, SUFF_SATURATED, SUFF_BAD_FORWARD,
       SUFF_BAD_BACKWARD, SUFF_FIXED };

static int tracks_activity(const fm_activation *act)
{
    return act->kind == FM_ACT_RELU || act->kind == FM_ACT_LEAKY_RELU || act->kind == FM_ACT_ELU ||
           act->kind == FM_ACT_SELU;
}

size_t fm_stats_sufficient_size(const fm_net *net)
{
    size_t n = 0;
    for (int l = 0; l < net->n_layers; l++)
        n += SUFF_FIXED + (size_t)net->layers[l].n_out;
    return n;
}

static void sums_of(const float *v, size_t n, double *sum, double *sq)
{
    double s = 0.0, q = 0.0;
    for (size_t i = 0; i < n; i++) {
        s += v[i];
        q += (double)v[i] * v[i];
    }
    *sum = s;
    *sq = q;
}

void fm_stats_sufficient(const fm_net *net, int batch, double *suff)
{
    memset(suff, 0, fm_stats_sufficient_size(net) * sizeof *suff);
    if (batch <= 0)
        return; /* this process had no rows in the batch: it adds nothing */
    for (int l = 0; l < net->n_layers; l++) {
        const fm_net_layer_state *s = &net->layers[l];
        const fm_activation *act = &net->specs[l].act;
        size_t count = (size_t)batch * (size_t)s->n_out;
        suff[SUFF_ROWS] = batch;
        sums_of(s->z, count, &suff[SUFF_Z], &suff[SUFF_ZZ]);
        sums_of(s->a, count, &suff[SUFF_A], &suff[SUFF_AA]);
        sums_of(s->delta, count, &suff[SUFF_D], &suff[SUFF_DD]);
        int forward_ok = isfinite(suff[SUFF_Z]) && isfinite(suff[SUFF_ZZ]) && isfinite(suff[SUFF_A]) &&
                         isfinite(suff[SUFF_AA]);
        suff[SUFF_BAD_FORWARD] = forward_ok ? 0.0 : 1.0;
        suff[SUFF_BAD_BACKWARD] = isfinite(suff[SUFF_D]) && isfinite(suff[SUFF_DD]) ? 0.0 : 1.0;
        /* NaN for activations without saturation (and for non-finite z): it stays NaN in the sum. */
        suff[SUFF_SATURATED] = forward_ok ? round(saturated_share(act, s->z, count) * (double)count) : NAN;
        double *active = suff + SUFF_FIXED;
        if (tracks_activity(act)) {
            int allow_zero = act->kind == FM_ACT_RELU;
            for (int r = 0; r < batch; r++) {
                const float *row = s->z + (size_t)r * (size_t)s->n_out;
                for (int u = 0; u < s->n_out; u++)
                    active[u] += allow_zero ? row[u] > 0.0f : row[u] >= 0.0f;
            }
        }
        suff += SUFF_FIXED + (size_t)s->n_out;
    }
}

static void moments_of(double rows_units, double sum, double sq, double *mean, double *var)
{
    *mean = *var = NAN;
    if (rows_units > 0 && isfinite(sum) && isfinite(sq)) {
        *mean = sum / rows_units;
        *var = fmax(sq / rows_units - *mean * *mean, 0.0);
    }
}

void fm_stats_from_sufficient(fm_net *net, const double *suff, fm_layer_stats *stats)
{
    /* Weights and their (already summed) gradients are the same on every
     * process: measure them here; the batch columns come from the sums. */
    fm_stats_measure(net, stats);
    for (int l = 0; l < net->n_layers; l++) {
        const fm_net_layer_state *s = &net->layers[l];
        const fm_activation *act = &net->specs[l].act;
        fm_layer_stats *st = &stats[l];
        double units = suff[SUFF_ROWS] * (double)s->n_out;
        moments_of(units, suff[SUFF_Z], suff[SUFF_ZZ], &st->mean_z, &st->var_z);
        moments_of(units, suff[SUFF_A], suff[SUFF_AA], &st->mean_a, &st->var_a);
        double mean_d;
        moments_of(units, suff[SUFF_D], suff[SUFF_DD], &mean_d, &st->var_delta);
        int keep_weights = st->nonfinite & ~(FM_NONFINITE_FORWARD | FM_NONFINITE_BACKWARD);
        int bad_w = !isfinite(st->var_w) || !isfinite(st->sigma_b2), bad_g = !isfinite(st->grad_w_norm);
        st->nonfinite = keep_weights;
        if (suff[SUFF_BAD_FORWARD] > 0 || bad_w)
            st->nonfinite |= FM_NONFINITE_FORWARD;
        if (suff[SUFF_BAD_BACKWARD] > 0 || bad_g)
            st->nonfinite |= FM_NONFINITE_BACKWARD;
        st->saturated = units > 0 && suff[SUFF_BAD_FORWARD] == 0 ? suff[SUFF_SATURATED] / units : NAN;
        st->dead = st->inactive = NAN;
        if (tracks_activity(act) && suff[SUFF_ROWS] > 0) {
            const double *active = suff + SUFF_FIXED;
            int never = 0;
            for (int u = 0; u < s->n_out; u++)
                never += active[u] == 0.0;
            double share = (double)never / (double)s->n_out;
            if (act->kind == FM_ACT_RELU)
                st->dead = share;
            else
                st->inactive = share;
        }
        suff += SUFF_FIXED + (size_t)s->n_out;
    }
}
