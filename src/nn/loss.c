/* Losses, reduced as PyTorch's reduction='mean' does, each returning dL/dz of the
 * output layer: cross-entropy and binary cross-entropy are fused with their
 * softmax and sigmoid (stable, and the Jacobian collapses to a - y); mse and
 * Huber go through the output activation's derivative. */
#include "core/internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const LOSS_NAMES[FM_LOSS_COUNT] = {
    [FM_LOSS_MSE] = "mse",
    [FM_LOSS_CROSS_ENTROPY] = "cross_entropy",
    [FM_LOSS_BCE] = "bce",
    [FM_LOSS_HUBER] = "huber",
};

const char *fm_loss_name(fm_loss_kind kind)
{
    if ((int)kind < 0 || kind >= FM_LOSS_COUNT)
        return NULL;
    return LOSS_NAMES[kind];
}

fm_status fm_loss_parse(const char *spec, fm_loss *out, fm_error *err)
{
    if (!spec || !out)
        return fm_fail(err, FM_ERR_ARG, "fm_loss_parse: spec and out must not be NULL");
    if (!*spec)
        return fm_fail(err, FM_ERR_ARG, "empty loss name");
    const char *colon = strchr(spec, ':');
    size_t len = colon ? (size_t)(colon - spec) : strlen(spec);
    fm_loss loss = {FM_LOSS_MSE, 1.0};
    if (len == 3 && strncmp(spec, "mse", 3) == 0)
        loss.kind = FM_LOSS_MSE;
    else if ((len == 13 && strncmp(spec, "cross_entropy", 13) == 0) || (len == 2 && strncmp(spec, "ce", 2) == 0))
        loss.kind = FM_LOSS_CROSS_ENTROPY;
    else if (len == 3 && strncmp(spec, "bce", 3) == 0)
        loss.kind = FM_LOSS_BCE;
    else if (len == 5 && strncmp(spec, "huber", 5) == 0)
        loss.kind = FM_LOSS_HUBER;
    else
        return fm_fail(err, FM_ERR_ARG, "unknown loss \"%.*s\" (known: mse, cross_entropy, bce, huber[:DELTA])",
                       (int)(len > 64 ? 64 : len), spec);
    if (colon) {
        if (loss.kind != FM_LOSS_HUBER)
            return fm_fail(err, FM_ERR_ARG, "loss \"%s\" takes no parameter", LOSS_NAMES[loss.kind]);
        char *end;
        errno = 0;
        double delta = strtod(colon + 1, &end);
        if (end == colon + 1 || *end != '\0' || errno == ERANGE || !(delta > 0.0) || !isfinite(delta))
            return fm_fail(err, FM_ERR_ARG, "huber delta \"%s\" must be a positive number", colon + 1);
        loss.delta = delta;
    }
    *out = loss;
    return FM_OK;
}

void fm_loss_format(const fm_loss *loss, char *buf, size_t size)
{
    const char *name = fm_loss_name(loss->kind);
    char delta[32];
    fm_format_double(delta, sizeof delta, loss->delta);
    if (!name)
        snprintf(buf, size, "invalid");
    else if (loss->kind == FM_LOSS_HUBER && loss->delta != 1.0)
        snprintf(buf, size, "huber:%s", delta);
    else
        snprintf(buf, size, "%s", name);
}

int fm_loss_target_width(const fm_loss *loss, int n_out) { return loss->kind == FM_LOSS_CROSS_ENTROPY ? 1 : n_out; }

fm_status fm_loss_check(const fm_loss *loss, const fm_activation *output_act, fm_error *err)
{
    if (!loss || !output_act)
        return fm_fail(err, FM_ERR_ARG, "fm_loss_check: loss and output activation must not be NULL");
    if (!fm_act_name(output_act->kind))
        return fm_fail(err, FM_ERR_ARG, "invalid output activation");
    if (loss->kind == FM_LOSS_HUBER && !(loss->delta > 0.0 && isfinite(loss->delta)))
        return fm_fail(err, FM_ERR_ARG, "huber delta %g must be a positive finite number", loss->delta);
    const char *act = fm_act_name(output_act->kind);
    switch (loss->kind) {
    case FM_LOSS_CROSS_ENTROPY:
        if (output_act->kind != FM_ACT_SOFTMAX)
            return fm_fail(err, FM_ERR_ARG, "loss cross_entropy needs a softmax output layer, not %s", act);
        break;
    case FM_LOSS_BCE:
        if (output_act->kind != FM_ACT_SIGMOID)
            return fm_fail(err, FM_ERR_ARG, "loss bce needs a sigmoid output layer, not %s", act);
        break;
    case FM_LOSS_MSE:
    case FM_LOSS_HUBER:
        if (output_act->kind == FM_ACT_SOFTMAX)
            return fm_fail(err, FM_ERR_ARG, "a softmax output layer needs the cross_entropy loss, not %s",
                           fm_loss_name(loss->kind));
        break;
    default: return fm_fail(err, FM_ERR_ARG, "invalid loss");
    }
    return FM_OK;
}

static fm_status cross_entropy(const float *z, const float *a, const float *targets, int batch, int n_out,
                               double *value, float *grad_z, fm_error *err)
{
    double total = 0.0;
    const float inv_batch = 1.0f / (float)batch;
    for (int r = 0; r < batch; r++) {
        float label = targets[r];
        if (!(label >= 0.0f && label < (float)n_out) || label != floorf(label))
            return fm_fail(err, FM_ERR_ARG, "sample %d: class label %g is not an integer in 0..%d", r, (double)label,
                           n_out - 1);
        int y = (int)label;
        const float *zr = z + (size_t)r * (size_t)n_out;
        /* log-sum-exp from z, not log(a): exact where softmax underflows. */
        double max = zr[0];
        for (int c = 1; c < n_out; c++)
            if (zr[c] > max)
                max = zr[c];
        double sum = exp((double)zr[0] - max); /* n_out >= 1, and the maximum's term is 1 */
        for (int c = 1; c < n_out; c++)
            sum += exp((double)zr[c] - max);
        total += max + log(sum) - (double)zr[y];
        if (grad_z) {
            const float *ar = a + (size_t)r * (size_t)n_out;
            float *gr = grad_z + (size_t)r * (size_t)n_out;
            for (int c = 0; c < n_out; c++)
                gr[c] = (ar[c] - (c == y ? 1.0f : 0.0f)) * inv_batch;
        }
    }
    *value = total / batch;
    return FM_OK;
}

fm_status fm_loss_compute(const fm_loss *loss, const fm_activation *output_act, const float *z, const float *a,
                          const float *targets, int batch, int n_out, double *value, float *grad_z, fm_error *err)
{
    if (!loss || !output_act || !z || !a || !targets || !value) /* grad_z may be NULL */
        return fm_fail(err, FM_ERR_ARG, "fm_loss_compute: loss, output_act, z, a, targets and value must not be NULL");
    if (batch <= 0 || n_out <= 0)
        return fm_fail(err, FM_ERR_ARG, "loss of an empty batch");
    fm_status st = fm_loss_check(loss, output_act, err);
    if (st != FM_OK)
        return st;
    if (loss->kind == FM_LOSS_CROSS_ENTROPY) {
        st = cross_entropy(z, a, targets, batch, n_out, value, grad_z, err);
    } else {
        size_t count = (size_t)batch * (size_t)n_out;
        const float inv_count = (float)(1.0 / (double)count);
        double total = 0.0;
        for (size_t i = 0; i < count; i++) {
            float y = targets[i];
            if (!isfinite(y))
                return fm_fail(err, FM_ERR_ARG, "sample %zu: target %zu is not finite", i / (size_t)n_out,
                               i % (size_t)n_out);
            float g;
            if (loss->kind == FM_LOSS_MSE) {
                float d = a[i] - y;
                total += (double)d * d;
                g = 2.0f * d * inv_count;
            } else if (loss->kind == FM_LOSS_HUBER) {
                float d = a[i] - y, delta = (float)loss->delta;
                float ad = fabsf(d);
                if (ad <= delta) {
                    total += 0.5 * (double)d * d;
                    g = d * inv_count;
                } else {
                    total += (double)delta * ((double)ad - 0.5 * (double)delta);
                    g = (d > 0 ? delta : -delta) * inv_count;
                }
            } else { /* BCE with logits: max(z,0) - z y + log(1 + e^-|z|) */
                double zi = z[i];
                if (!(y >= 0.0f && y <= 1.0f))
                    return fm_fail(err, FM_ERR_ARG, "sample %zu: bce target %g is outside [0, 1]", i / (size_t)n_out,
                                   (double)y);
                total += (zi > 0 ? zi : 0.0) - zi * y + log1p(exp(-fabs(zi)));
                g = (a[i] - y) * inv_count;
            }
            if (grad_z)
                grad_z[i] = g;
        }
        *value = total / (double)count;
        /* mse and Huber measure a; the chain rule takes the gradient to z. BCE is
         * already with respect to z. */
        if (grad_z && loss->kind != FM_LOSS_BCE)
            fm_act_backward(output_act, z, grad_z, grad_z, count);
    }
    if (st == FM_OK && !isfinite(*value))
        return fm_fail(err, FM_ERR_NUMERIC, "the loss is %s", isnan(*value) ? "NaN" : "infinite");
    return st;
}
