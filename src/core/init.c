/* Weight initialisers. Each has a documented variance (see fathom.h) that
 * tests/test_init.c checks empirically; biases start at zero except for the
 * PyTorch default, which reproduces nn.Linear's uniform bias. */
#include "core/internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Weight draws stay finite in float32 (largest 3.4e38) up to many standard
 * deviations; anything bigger only fills the network with Inf. The limit is
 * far beyond any useful scale and still lets a probe show what huge weights
 * do to the signal. */
#define MAX_INIT_VARIANCE 1e60
#define MAX_INIT_GAIN 1e30

typedef struct init_name {
    const char *name;
    fm_init_kind kind;
    int uniform;
} init_name;

static const init_name INIT_NAMES[] = {
    {"auto", FM_INIT_AUTO, 0},
    {"normal", FM_INIT_FIXED, 0},
    {"uniform", FM_INIT_FIXED, 1},
    {"glorot", FM_INIT_GLOROT, 0},
    {"glorot_normal", FM_INIT_GLOROT, 0},
    {"glorot_uniform", FM_INIT_GLOROT, 1},
    {"xavier", FM_INIT_GLOROT, 0},
    {"xavier_normal", FM_INIT_GLOROT, 0},
    {"xavier_uniform", FM_INIT_GLOROT, 1},
    {"he", FM_INIT_HE, 0},
    {"he_normal", FM_INIT_HE, 0},
    {"he_uniform", FM_INIT_HE, 1},
    {"kaiming", FM_INIT_HE, 0},
    {"kaiming_normal", FM_INIT_HE, 0},
    {"kaiming_uniform", FM_INIT_HE, 1},
    {"lecun", FM_INIT_LECUN, 0},
    {"lecun_normal", FM_INIT_LECUN, 0},
    {"lecun_uniform", FM_INIT_LECUN, 1},
    {"orthogonal", FM_INIT_ORTHOGONAL, 0},
    {"torch", FM_INIT_TORCH, 1},
    {"siren", FM_INIT_SIREN, 1},
    {"siren_first", FM_INIT_SIREN_FIRST, 1},
};

fm_status fm_init_check(const fm_init *init, fm_error *err)
{
    if (!init)
        return fm_fail(err, FM_ERR_ARG, "fm_init_check: init must not be NULL");
    if ((int)init->kind < 0 || init->kind >= FM_INIT_COUNT)
        return fm_fail(err, FM_ERR_ARG, "invalid initialiser");
    if (init->kind == FM_INIT_FIXED && !(init->param >= 0.0))
        return fm_fail(err, FM_ERR_ARG, "initialiser variance %g must not be negative", init->param);
    if (init->kind == FM_INIT_FIXED && !(init->param <= MAX_INIT_VARIANCE))
        return fm_fail(err, FM_ERR_ARG,
                       "initialiser variance %g is beyond float32 weights (at most %g; the largest float is 3.4e38)",
                       init->param, MAX_INIT_VARIANCE);
    if (init->kind == FM_INIT_ORTHOGONAL && !(init->param > 0.0))
        return fm_fail(err, FM_ERR_ARG, "orthogonal gain %g must be positive", init->param);
    if (init->kind == FM_INIT_ORTHOGONAL && !(init->param <= MAX_INIT_GAIN))
        return fm_fail(err, FM_ERR_ARG, "orthogonal gain %g is beyond float32 weights (at most %g)", init->param,
                       MAX_INIT_GAIN);
    return FM_OK;
}

fm_status fm_init_parse(const char *spec, fm_init *out, fm_error *err)
{
    if (!spec || !out)
        return fm_fail(err, FM_ERR_ARG, "fm_init_parse: spec and out must not be NULL");
    if (!*spec)
        return fm_fail(err, FM_ERR_ARG, "empty initialiser name");
    const char *colon = strchr(spec, ':');
    size_t name_len = colon ? (size_t)(colon - spec) : strlen(spec);
    const init_name *found = NULL;
    for (size_t i = 0; i < sizeof INIT_NAMES / sizeof INIT_NAMES[0]; i++)
        if (strlen(INIT_NAMES[i].name) == name_len && strncmp(spec, INIT_NAMES[i].name, name_len) == 0)
            found = &INIT_NAMES[i];
    if (!found)
        return fm_fail(err, FM_ERR_ARG,
                       "unknown initialiser \"%.*s\" (known: auto, normal:VAR, uniform:VAR, glorot, he, lecun, "
                       "each also _uniform, orthogonal[:GAIN], torch, siren, siren_first)",
                       (int)(name_len > 64 ? 64 : name_len), spec);
    fm_init init = {found->kind, found->uniform, found->kind == FM_INIT_ORTHOGONAL ? 1.0 : 0.0};
    if (found->kind == FM_INIT_FIXED || found->kind == FM_INIT_ORTHOGONAL) {
        if (!colon) {
            if (found->kind == FM_INIT_FIXED)
                return fm_fail(err, FM_ERR_ARG, "initialiser \"%s\" needs a variance, e.g. \"%s:1\"", found->name,
                               found->name);
        } else {
            char *end;
            errno = 0;
            double value = strtod(colon + 1, &end);
            if (end == colon + 1 || *end != '\0' || errno == ERANGE || !isfinite(value))
                return fm_fail(err, FM_ERR_ARG, "initialiser \"%s\": \"%s\" is not a finite number", found->name,
                               colon + 1);
            init.param = value;
        }
    } else if (colon) {
        return fm_fail(err, FM_ERR_ARG, "initialiser \"%s\" takes no parameter", found->name);
    }
    fm_status st = fm_init_check(&init, err); /* the parameter's range: the same rules as for specs made by hand */
    if (st == FM_OK)
        *out = init;
    return st;
}

void fm_init_format(const fm_init *init, char *buf, size_t size)
{
    const char *suffix = init->uniform ? "_uniform" : "";
    char param[32];
    fm_format_double(param, sizeof param, init->param);
    switch (init->kind) {
    case FM_INIT_AUTO: snprintf(buf, size, "auto"); break;
    case FM_INIT_FIXED: snprintf(buf, size, "%s:%s", init->uniform ? "uniform" : "normal", param); break;
    case FM_INIT_GLOROT: snprintf(buf, size, "glorot%s", suffix); break;
    case FM_INIT_HE: snprintf(buf, size, "he%s", suffix); break;
    case FM_INIT_LECUN: snprintf(buf, size, "lecun%s", suffix); break;
    case FM_INIT_ORTHOGONAL:
        if (init->param == 1.0)
            snprintf(buf, size, "orthogonal");
        else
            snprintf(buf, size, "orthogonal:%s", param);
        break;
    case FM_INIT_TORCH: snprintf(buf, size, "torch"); break;
    case FM_INIT_SIREN: snprintf(buf, size, "siren"); break;
    case FM_INIT_SIREN_FIRST: snprintf(buf, size, "siren_first"); break;
    default: snprintf(buf, size, "invalid"); break;
    }
}

static fm_init resolve(const fm_init *init, const fm_activation *act)
{
    if (init->kind != FM_INIT_AUTO)
        return *init;
    return fm_init_auto_for(act);
}

double fm_init_variance(const fm_init *init, const fm_activation *act, int n_in, int n_out)
{
    fm_init r = resolve(init, act);
    switch (r.kind) {
    case FM_INIT_FIXED: return r.param;
    case FM_INIT_GLOROT: return 2.0 / ((double)n_in + (double)n_out);
    case FM_INIT_HE: {
        double slope = act->kind == FM_ACT_LEAKY_RELU ? act->alpha : 0.0;
        return 2.0 / ((1.0 + slope * slope) * (double)n_in);
    }
    case FM_INIT_LECUN: return 1.0 / (double)n_in;
    case FM_INIT_ORTHOGONAL: return r.param * r.param / (double)(n_in > n_out ? n_in : n_out);
    case FM_INIT_TORCH: return 1.0 / (3.0 * (double)n_in);
    /* U(+-sqrt(6 / n_in) / omega0): Var = bound^2 / 3. */
    case FM_INIT_SIREN: {
        double omega = act->kind == FM_ACT_SINE ? act->alpha : 1.0;
        return 2.0 / ((double)n_in * omega * omega);
    }
    /* U(+-1 / n_in). */
    case FM_INIT_SIREN_FIRST: return 1.0 / (3.0 * (double)n_in * (double)n_in);
    default: return NAN;
    }
}

/* Orthonormalise the k columns of the tall matrix m [rows][k] (rows >= k) by
 * modified Gram-Schmidt in double: the same Q as a QR decomposition whose R has
 * a positive diagonal, which is what PyTorch's orthogonal_ produces. */
static void orthonormalise_columns(double *m, size_t rows, size_t k)
{
    for (size_t j = 0; j < k; j++) {
        for (size_t i = 0; i < j; i++) {
            double dot = 0.0;
            for (size_t r = 0; r < rows; r++)
                dot += m[r * k + i] * m[r * k + j];
            for (size_t r = 0; r < rows; r++)
                m[r * k + j] -= dot * m[r * k + i];
        }
        double norm = 0.0;
        for (size_t r = 0; r < rows; r++)
            norm += m[r * k + j] * m[r * k + j];
        norm = sqrt(norm);
        /* A zero column has probability zero for Gaussian input; keep it zero. */
        double inv = norm > 0.0 ? 1.0 / norm : 0.0;
        for (size_t r = 0; r < rows; r++)
            m[r * k + j] *= inv;
    }
}

static fm_status fill_orthogonal(double gain, int n_in, int n_out, float *w, fm_rng *rng, fm_error *err)
{
    /* Work on the tall orientation: [n_out][n_in] if n_out >= n_in, else its transpose. */
    int tall = n_out >= n_in;
    size_t rows = (size_t)(tall ? n_out : n_in), k = (size_t)(tall ? n_in : n_out);
    double *m = fm_alloc_array(rows * k, sizeof *m);
    if (!m)
        return fm_fail(err, FM_ERR_NOMEM, "orthogonal initialiser: cannot allocate %zu x %zu scratch matrix", rows, k);
    for (size_t i = 0; i < rows * k; i++)
        m[i] = fm_rng_normal(rng);
    orthonormalise_columns(m, rows, k);
    for (size_t o = 0; o < (size_t)n_out; o++)
        for (size_t i = 0; i < (size_t)n_in; i++)
            w[o * (size_t)n_in + i] = (float)(gain * (tall ? m[o * k + i] : m[i * k + o]));
    free(m);
    return FM_OK;
}

fm_status fm_init_fill(const fm_init *init, const fm_activation *act, int n_in, int n_out, float *w, float *b,
                       fm_rng *rng, fm_error *err)
{
    if (!init || !act || !w || !rng) /* b may be NULL */
        return fm_fail(err, FM_ERR_ARG, "fm_init_fill: init, act, w and rng must not be NULL");
    if (n_in <= 0 || n_out <= 0)
        return fm_fail(err, FM_ERR_ARG, "initialiser: layer shape %d x %d is not positive", n_out, n_in);
    fm_init r = resolve(init, act);
    size_t count = (size_t)n_in * (size_t)n_out;
    if (b)
        memset(b, 0, (size_t)n_out * sizeof *b);
    if (r.kind == FM_INIT_ORTHOGONAL)
        return fill_orthogonal(r.param, n_in, n_out, w, rng, err);
    double var = fm_init_variance(&r, act, n_in, n_out);
    if (!isfinite(var) || var < 0.0 || var > MAX_INIT_VARIANCE)
        return fm_fail(err, FM_ERR_ARG, "initialiser gives an invalid variance %g", var);
    if (r.uniform) {
        double bound = sqrt(3.0 * var);
        for (size_t i = 0; i < count; i++)
            w[i] = (float)(bound * (2.0 * fm_rng_uniform(rng) - 1.0));
        if (r.kind == FM_INIT_TORCH && b) {
            double bias_bound = 1.0 / sqrt((double)n_in);
            for (int i = 0; i < n_out; i++)
                b[i] = (float)(bias_bound * (2.0 * fm_rng_uniform(rng) - 1.0));
        }
    } else {
        fm_rng_normal_fill(rng, w, count, 0.0, sqrt(var));
    }
    return FM_OK;
}
