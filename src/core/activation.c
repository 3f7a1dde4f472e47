/* The activation table: for each activation its name, phi, phi' (always from the
 * pre-activation z), the initialiser `auto` picks for it, and the largest value of
 * phi' that the saturation rule compares against. */
#include "core/internal.h"
#include "core/fast_math.h"
#include "core/hot_loop.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct act_info {
    const char *name;
    const char *alias; /* accepted when parsing, never written */
    int n_params;      /* parameters accepted after the colon */
    fm_init_kind auto_init;
} act_info;

static const act_info ACT_TABLE[FM_ACT_COUNT] = {
    [FM_ACT_LINEAR] = {"linear", "identity", 0, FM_INIT_LECUN},
    [FM_ACT_SIGMOID] = {"sigmoid", NULL, 0, FM_INIT_GLOROT},
    [FM_ACT_TANH] = {"tanh", NULL, 0, FM_INIT_LECUN},
    [FM_ACT_RELU] = {"relu", NULL, 0, FM_INIT_HE},
    [FM_ACT_LEAKY_RELU] = {"leaky_relu", "leakyrelu", 1, FM_INIT_HE},
    [FM_ACT_ELU] = {"elu", NULL, 1, FM_INIT_HE},
    [FM_ACT_SELU] = {"selu", NULL, 2, FM_INIT_LECUN},
    [FM_ACT_GELU] = {"gelu", NULL, 0, FM_INIT_HE},
    [FM_ACT_SILU] = {"silu", "swish", 0, FM_INIT_HE},
    [FM_ACT_SOFTPLUS] = {"softplus", NULL, 0, FM_INIT_HE},
    [FM_ACT_SOFTMAX] = {"softmax", NULL, 0, FM_INIT_GLOROT},
    /* SIREN: the hidden-layer rule; the first layer wants siren_first. */
    [FM_ACT_SINE] = {"sine", NULL, 1, FM_INIT_SIREN},
};

const char *fm_act_name(fm_act_kind kind)
{
    if ((int)kind < 0 || kind >= FM_ACT_COUNT)
        return NULL;
    return ACT_TABLE[kind].name;
}

fm_init fm_init_auto_for(const fm_activation *act)
{
    fm_init init = {FM_INIT_LECUN, 0, 0.0};
    if ((int)act->kind >= 0 && act->kind < FM_ACT_COUNT)
        init.kind = ACT_TABLE[act->kind].auto_init;
    init.uniform = init.kind == FM_INIT_SIREN; /* SIREN's rule is a uniform law */
    return init;
}

fm_activation fm_activation_default(fm_act_kind kind)
{
    fm_activation act = {kind, 0.0, 0.0};
    switch (kind) {
    case FM_ACT_LEAKY_RELU: act.alpha = 0.01; break;
    case FM_ACT_ELU: act.alpha = 1.0; break;
    case FM_ACT_SINE: act.alpha = 30.0; break;
    case FM_ACT_SELU:
        act.alpha = FM_SELU_ALPHA;
        act.lambda = FM_SELU_LAMBDA;
        break;
    default: break;
    }
    return act;
}

static int parse_number(const char *text, size_t len, double *out)
{
    char buf[64];
    if (len == 0 || len >= sizeof buf)
        return 0;
    memcpy(buf, text, len);
    buf[len] = '\0';
    char *end;
    errno = 0;
    double value = strtod(buf, &end);
    if (*end != '\0' || errno == ERANGE || !isfinite(value))
        return 0;
    *out = value;
    return 1;
}

fm_status fm_activation_parse(const char *spec, fm_activation *out, fm_error *err)
{
    if (!spec || !out)
        return fm_fail(err, FM_ERR_ARG, "fm_activation_parse: spec and out must not be NULL");
    if (!*spec)
        return fm_fail(err, FM_ERR_ARG, "empty activation name");
    const char *colon = strchr(spec, ':');
    size_t name_len = colon ? (size_t)(colon - spec) : strlen(spec);
    int kind = -1;
    for (int k = 0; k < FM_ACT_COUNT; k++) {
        const act_info *info = &ACT_TABLE[k];
        if ((strlen(info->name) == name_len && strncmp(spec, info->name, name_len) == 0) ||
            (info->alias && strlen(info->alias) == name_len && strncmp(spec, info->alias, name_len) == 0)) {
            kind = k;
            break;
        }
    }
    if (kind < 0)
        return fm_fail(err, FM_ERR_ARG,
                       "unknown activation \"%.*s\" (known: linear, sigmoid, tanh, relu, leaky_relu, elu, "
                       "selu, gelu, silu, softplus, softmax, sine)",
                       (int)(name_len > 64 ? 64 : name_len), spec);
    fm_activation act = fm_activation_default((fm_act_kind)kind);
    if (colon) {
        double params[2];
        int n = 0;
        const char *p = colon + 1;
        for (;;) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            if (n >= ACT_TABLE[kind].n_params)
                return fm_fail(err, FM_ERR_ARG, "activation \"%s\" takes %d parameter%s", ACT_TABLE[kind].name,
                               ACT_TABLE[kind].n_params, ACT_TABLE[kind].n_params == 1 ? "" : "s");
            if (!parse_number(p, len, &params[n]))
                return fm_fail(err, FM_ERR_ARG, "activation \"%s\": \"%.*s\" is not a finite number",
                               ACT_TABLE[kind].name, (int)(len > 64 ? 64 : len), p);
            n++;
            if (!comma)
                break;
            p = comma + 1;
        }
        if (n >= 1)
            act.alpha = params[0];
        if (n >= 2)
            act.lambda = params[1];
    }
    fm_status st = fm_activation_check(&act, err);
    if (st == FM_OK)
        *out = act;
    return st;
}

fm_status fm_activation_check(const fm_activation *act, fm_error *err)
{
    if (!act)
        return fm_fail(err, FM_ERR_ARG, "fm_activation_check: act must not be NULL");
    if (!fm_act_name(act->kind))
        return fm_fail(err, FM_ERR_ARG, "invalid activation");
    const char *name = fm_act_name(act->kind);
    if (act->kind == FM_ACT_LEAKY_RELU && !(act->alpha >= 0.0 && act->alpha <= 1.0))
        return fm_fail(err, FM_ERR_ARG, "leaky_relu slope %g must lie in [0, 1]", act->alpha);
    if ((act->kind == FM_ACT_ELU || act->kind == FM_ACT_SELU) && !(act->alpha > 0.0 && isfinite(act->alpha)))
        return fm_fail(err, FM_ERR_ARG, "%s alpha %g must be a positive finite number", name, act->alpha);
    if (act->kind == FM_ACT_SINE && !(act->alpha > 0.0 && isfinite(act->alpha)))
        return fm_fail(err, FM_ERR_ARG, "sine omega0 %g must be a positive finite number", act->alpha);
    if (act->kind == FM_ACT_SELU && !(act->lambda > 0.0 && isfinite(act->lambda)))
        return fm_fail(err, FM_ERR_ARG, "selu lambda %g must be a positive finite number", act->lambda);
    return FM_OK;
}

void fm_activation_format(const fm_activation *act, char *buf, size_t size)
{
    const char *name = fm_act_name(act->kind);
    fm_activation def = fm_activation_default(act->kind);
    if (!name)
        name = "invalid";
    char alpha[32], lambda[32];
    fm_format_double(alpha, sizeof alpha, act->alpha);
    fm_format_double(lambda, sizeof lambda, act->lambda);
    if (act->kind == FM_ACT_SELU && (act->alpha != def.alpha || act->lambda != def.lambda))
        snprintf(buf, size, "%s:%s,%s", name, alpha, lambda);
    else if ((act->kind == FM_ACT_LEAKY_RELU || act->kind == FM_ACT_ELU || act->kind == FM_ACT_SINE) &&
             act->alpha != def.alpha)
        snprintf(buf, size, "%s:%s", name, alpha);
    else
        snprintf(buf, size, "%s", name);
}

/* ---- scalar reference forms, in double ---- */

static double sigmoid_d(double z) { return z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z)); }

double fm_act_value(const fm_activation *act, double z)
{
    switch (act->kind) {
    case FM_ACT_LINEAR: return z;
    case FM_ACT_SIGMOID: return sigmoid_d(z);
    case FM_ACT_TANH: return tanh(z);
    case FM_ACT_RELU: return z > 0 ? z : 0.0;
    case FM_ACT_LEAKY_RELU: return z > 0 ? z : act->alpha * z;
    case FM_ACT_ELU: return z > 0 ? z : act->alpha * expm1(z);
    case FM_ACT_SELU: return act->lambda * (z > 0 ? z : act->alpha * expm1(z));
    case FM_ACT_GELU: return 0.5 * z * (1.0 + erf(z * M_SQRT1_2));
    case FM_ACT_SILU: return z * sigmoid_d(z);
    case FM_ACT_SOFTPLUS: return (z > 0 ? z : 0.0) + log1p(exp(-fabs(z)));
    case FM_ACT_SINE: return sin(act->alpha * z);
    case FM_ACT_SOFTMAX:
    case FM_ACT_COUNT: break;
    }
    return z;
}

double fm_act_derivative(const fm_activation *act, double z)
{
    switch (act->kind) {
    case FM_ACT_LINEAR: return 1.0;
    case FM_ACT_SIGMOID: {
        double s = sigmoid_d(z);
        return s * (1.0 - s);
    }
    case FM_ACT_TANH: {
        double t = tanh(z);
        return 1.0 - t * t;
    }
    case FM_ACT_RELU: return z > 0 ? 1.0 : 0.0;
    case FM_ACT_LEAKY_RELU: return z > 0 ? 1.0 : act->alpha;
    case FM_ACT_ELU: return z > 0 ? 1.0 : act->alpha * exp(z);
    case FM_ACT_SELU: return act->lambda * (z > 0 ? 1.0 : act->alpha * exp(z));
    case FM_ACT_GELU: return 0.5 * (1.0 + erf(z * M_SQRT1_2)) + z * exp(-0.5 * z * z) * (0.5 * M_2_SQRTPI * M_SQRT1_2);
    case FM_ACT_SILU: {
        double s = sigmoid_d(z);
        return s * (1.0 + z * (1.0 - s));
    }
    case FM_ACT_SOFTPLUS: return sigmoid_d(z);
    case FM_ACT_SINE: return act->alpha * cos(act->alpha * z);
    case FM_ACT_SOFTMAX:
    case FM_ACT_COUNT: break;
    }
    return 1.0;
}

void fm_act_value_derivative(const fm_activation *act, double z, double *value, double *derivative)
{
    switch (act->kind) {
    case FM_ACT_SIGMOID: {
        double s = sigmoid_d(z);
        *value = s;
        *derivative = s * (1.0 - s);
        return;
    }
    case FM_ACT_TANH: {
        double t = tanh(z);
        *value = t;
        *derivative = 1.0 - t * t;
        return;
    }
    case FM_ACT_GELU: {
        double cdf = 1.0 + erf(z * M_SQRT1_2);
        *value = 0.5 * z * cdf;
        *derivative = 0.5 * cdf + z * exp(-0.5 * z * z) * (0.5 * M_2_SQRTPI * M_SQRT1_2);
        return;
    }
    case FM_ACT_SILU: {
        double s = sigmoid_d(z);
        *value = z * s;
        *derivative = s * (1.0 + z * (1.0 - s));
        return;
    }
    case FM_ACT_SOFTPLUS: {
        /* sigmoid_d takes exp(-z) for z >= 0 and exp(z) below: exp(-|z|) either way */
        double e = exp(-fabs(z));
        *value = (z > 0 ? z : 0.0) + log1p(e);
        *derivative = z >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
        return;
    }
    default: /* nothing to share (or only on one side, as ELU's expm1 and exp) */
        *value = fm_act_value(act, z);
        *derivative = fm_act_derivative(act, z);
        return;
    }
}

double fm_act_max_derivative(const fm_activation *act)
{
    switch (act->kind) {
    case FM_ACT_SIGMOID: return 0.25;
    case FM_ACT_LEAKY_RELU: return act->alpha > 1.0 ? act->alpha : 1.0;
    case FM_ACT_ELU: return act->alpha > 1.0 ? act->alpha : 1.0;
    case FM_ACT_SELU: return act->lambda * (act->alpha > 1.0 ? act->alpha : 1.0);
    /* GELU' peaks at z = sqrt(2): 0.5 (1 + erf(1)) + sqrt(2) e^-1 / sqrt(2 pi). */
    case FM_ACT_GELU: return 0.5 * (1.0 + erf(1.0)) + M_SQRT2 * exp(-1.0) * (0.5 * M_2_SQRTPI * M_SQRT1_2);
    /* SiLU' peaks where 1 + z (1 - s) (1 - 2 s) ... = 0 is solved: z ~ 2.3994. */
    case FM_ACT_SILU: return 1.0998393194;
    case FM_ACT_SINE: return act->alpha;
    default: return 1.0;
    }
}

/* ---- vector forms in float, the training path ----
 *
 * Every loop body is branch-free and call-free (core/fast_math.h), so GCC
 * vectorises these loops at -O3, the Release build (check with
 * -fopt-info-vec-optimized); only GELU's erff and softplus's log1pf remain
 * libm calls (with libm's expf beside them: in a loop that calls anyway, the
 * inline exp measured slower). Each value is loaded into a local before the select, so that
 * the select does not make a load conditional, and selects whose arms do
 * float arithmetic go through fm_select_ (a bit mask: see fast_math.h for why
 * a plain ?: can stop the vectoriser). Piecewise forms compute both sides and
 * select: the exp side sees min(z, 0), written so that NaN stays NaN
 * (z > 0 ? 0 : z). */

/* FM_HOT_LOOP (hot_loop.h): wide clones of these loops for AVX2 and AVX-512
 * machines, and the -O3 vectoriser cost model also at -O2 (e.g. CMake's
 * RelWithDebInfo), whose "very cheap" model refuses loops of unknown trip
 * count: scalar, the bit-mask selects are slower than the libm calls they
 * replace (measured: SELU forward 19 ns/element at -O2 against 13 for the old
 * libm loop and 4 vectorised). Neither changes floating-point semantics. */

FM_HOT_LOOP void fm_act_forward(const fm_activation *act, const float *z, float *a, size_t n)
{
    const float alpha = (float)act->alpha, lambda = (float)act->lambda;
    switch (act->kind) {
    case FM_ACT_LINEAR:
    case FM_ACT_SOFTMAX: /* row-wise: fm_softmax_rows does it */
    case FM_ACT_COUNT:
        if (a != z)
            memmove(a, z, n * sizeof *a);
        break;
    case FM_ACT_SIGMOID:
        for (size_t i = 0; i < n; i++)
            a[i] = fm_fast_sigmoid(z[i]);
        break;
    case FM_ACT_TANH:
        for (size_t i = 0; i < n; i++)
            a[i] = fm_fast_tanhf(z[i]);
        break;
    case FM_ACT_RELU:
        for (size_t i = 0; i < n; i++) {
            float x = z[i];
            a[i] = x > 0.0f ? x : 0.0f;
        }
        break;
    case FM_ACT_LEAKY_RELU:
        for (size_t i = 0; i < n; i++) {
            float x = z[i];
            a[i] = fm_select_(x > 0.0f, x, alpha * x);
        }
        break;
    case FM_ACT_ELU:
        for (size_t i = 0; i < n; i++) {
            float x = z[i];
            int pos = x > 0.0f;
            float neg = alpha * fm_fast_expm1f_to20(fm_select_(pos, 0.0f, x));
            a[i] = fm_select_(pos, x, neg);
        }
        break;
    case FM_ACT_SELU: {
        const float lambda_alpha = (float)(act->lambda * act->alpha);
        for (size_t i = 0; i < n; i++) {
            float x = z[i];
            int pos = x > 0.0f;
            float neg = lambda_alpha * fm_fast_expm1f_to20(fm_select_(pos, 0.0f, x));
            a[i] = fm_select_(pos, lambda * x, neg);
        }
        break;
    }
    case FM_ACT_GELU:
        for (size_t i = 0; i < n; i++)
            a[i] = 0.5f * z[i] * (1.0f + erff(z[i] * (float)M_SQRT1_2));
        break;
    case FM_ACT_SILU:
        for (size_t i = 0; i < n; i++) {
            float x = z[i];
            a[i] = x * fm_fast_sigmoid(x);
        }
        break;
    case FM_ACT_SOFTPLUS:
        for (size_t i = 0; i < n; i++) {
            float x = z[i];
            a[i] = (x > 0.0f ? x : 0.0f) + log1pf(expf(-fabsf(x)));
        }
        break;
    case FM_ACT_SINE: {
        /* The argument in double: omega0 z reaches hundreds of radians, where
         * a float product would lose the phase. */
        const double omega = act->alpha;
        for (size_t i = 0; i < n; i++)
            a[i] = (float)sin(omega * (double)z[i]);
        break;
    }
    }
}

FM_HOT_LOOP void fm_act_backward(const fm_activation *act, const float *z, const float *grad_a, float *grad_z,
                                  size_t n)
{
    const float alpha = (float)act->alpha, lambda = (float)act->lambda;
    switch (act->kind) {
    case FM_ACT_LINEAR:
    case FM_ACT_SOFTMAX: /* the fused loss already returns dL/dz */
    case FM_ACT_COUNT:
        if (grad_z != grad_a)
            memmove(grad_z, grad_a, n * sizeof *grad_z);
        break;
    case FM_ACT_SIGMOID:
        /* s (1 - s) = e / (1 + e)^2, e = e^-|z|: accurate in both tails. */
        for (size_t i = 0; i < n; i++)
            grad_z[i] = grad_a[i] * fm_fast_sigmoid_deriv(z[i]);
        break;
    case FM_ACT_TANH:
        /* 1 - t^2 = 4 e / (1 + e)^2, e = e^-2|z|: no cancellation as |t| -> 1. */
        for (size_t i = 0; i < n; i++)
            grad_z[i] = grad_a[i] * fm_fast_tanh_deriv(z[i]);
        break;
    case FM_ACT_RELU:
        /* Zero at z <= 0 exactly: a unit inactive on every sample learns nothing. */
        for (size_t i = 0; i < n; i++) {
            float x = z[i], g = grad_a[i];
            grad_z[i] = x > 0.0f ? g : 0.0f;
        }
        break;
    case FM_ACT_LEAKY_RELU:
        for (size_t i = 0; i < n; i++) {
            float x = z[i], g = grad_a[i];
            grad_z[i] = fm_select_(x > 0.0f, g, alpha * g);
        }
        break;
    case FM_ACT_ELU:
        for (size_t i = 0; i < n; i++) {
            float x = z[i], g = grad_a[i];
            int pos = x > 0.0f;
            float neg = g * alpha * fm_fast_expf_to89(fm_select_(pos, 0.0f, x));
            grad_z[i] = fm_select_(pos, g, neg);
        }
        break;
    case FM_ACT_SELU: {
        const float lambda_alpha = (float)(act->lambda * act->alpha);
        for (size_t i = 0; i < n; i++) {
            float x = z[i];
            int pos = x > 0.0f;
            float neg = lambda_alpha * fm_fast_expf_to89(fm_select_(pos, 0.0f, x));
            grad_z[i] = grad_a[i] * fm_select_(pos, lambda, neg);
        }
        break;
    }
    case FM_ACT_GELU: {
        const float inv_sqrt_2pi = (float)(0.5 * M_2_SQRTPI * M_SQRT1_2);
        for (size_t i = 0; i < n; i++) {
            float x = z[i];
            float cdf = 0.5f * (1.0f + erff(x * (float)M_SQRT1_2));
            grad_z[i] = grad_a[i] * (cdf + x * expf(-0.5f * x * x) * inv_sqrt_2pi);
        }
        break;
    }
    case FM_ACT_SILU:
        /* s (1 + z (1 - s)) with 1 - s computed as sigmoid(-z), not by cancellation. */
        for (size_t i = 0; i < n; i++) {
            float x = z[i], comp;
            float s = fm_fast_sigmoid2(x, &comp);
            grad_z[i] = grad_a[i] * s * (1.0f + x * comp);
        }
        break;
    case FM_ACT_SOFTPLUS:
        for (size_t i = 0; i < n; i++)
            grad_z[i] = grad_a[i] * fm_fast_sigmoid(z[i]);
        break;
    case FM_ACT_SINE: {
        const double omega = act->alpha;
        for (size_t i = 0; i < n; i++)
            grad_z[i] = (float)((double)grad_a[i] * omega * cos(omega * (double)z[i]));
        break;
    }
    }
}

void fm_softmax_rows(const float *z, float *a, size_t rows, size_t cols)
{
    for (size_t r = 0; r < rows; r++) {
        const float *zr = z + r * cols;
        float *ar = a + r * cols;
        float max = zr[0];
        for (size_t c = 1; c < cols; c++)
            if (zr[c] > max)
                max = zr[c];
        /* Sums in double: the normaliser of a wide softmax loses digits in float. */
        double sum = 0.0;
        for (size_t c = 0; c < cols; c++) {
            float e = expf(zr[c] - max);
            ar[c] = e;
            sum += e;
        }
        float inv = (float)(1.0 / sum);
        for (size_t c = 0; c < cols; c++)
            ar[c] *= inv;
    }
}
