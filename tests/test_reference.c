/* fathom against PyTorch: forward values, losses, gradients and optimiser steps
 * compared with the fixtures that tests/reference/make_fixtures.py writes
 * (see tests/reference/README.md for the layout and how to regenerate them).
 *
 * Tolerance: a computed value c matches a fixture value t when
 *     |c - t| <= ATOL + RTOL |t|.
 * Fixtures are float64 PyTorch results rounded once to float32; fathom computes
 * in float32, so a correct implementation differs by float32 rounding only.
 * The script checks that PyTorch's own float32 run stays within a tenth of these
 * bounds (in practice within 2%), so they leave a wide margin for a different
 * summation order (BLAS) or libm, while any wrong formula (a missing factor of
 * 2 or 1/B, a wrong derivative, a misplaced bias correction) is off by far more.
 *  - z, a, loss, gradients, SGD weights after 3 steps, per-step losses:
 *    ATOL 1e-5, RTOL 1e-4.
 *  - Adam and AdamW weights after 3 steps: ATOL 5e-5, RTOL 1e-4. Adam divides
 *    by sqrt(v) ~ |g|, so the rounding error of a small gradient element is
 *    amplified by 1/|g| in its step; the fixtures avoid nearly cancelled
 *    elements, and this bound still covers what remains.
 *
 * A missing manifest, a missing fixture or a fixture of the wrong shape fails
 * the test. Mismatches are collected over all cases and reported together, each
 * with case, tensor, index, computed and expected values. */
#include "test_support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef FATHOM_REFERENCE_DIR
#error "FATHOM_REFERENCE_DIR must name tests/reference/fixtures"
#endif

/* What the committed manifest holds; a truncated or missing one fails loudly. */
#define EXPECTED_CASES 8
#define EXPECTED_OPTIMS 24

#define ATOL 1e-5
#define RTOL 1e-4
#define ADAM_ATOL 5e-5
#define ADAM_RTOL 1e-4

/* A fixture gradient whose largest element is below this would let an
 * implementation that returns zeros pass: the fixtures must not be vacuous. */
#define MIN_FIXTURE_GRADIENT 1e-4

#define MAX_REF_CASES 32
#define MAX_REF_OPTIMS 96
#define MAX_REF_LAYERS 16
#define NAME_SIZE 64

typedef struct ref_case {
    char name[NAME_SIZE];
    int n_in;
    int batch;
    char loss[NAME_SIZE];
    int n_layers;
    int width[MAX_REF_LAYERS];
    char act[MAX_REF_LAYERS][NAME_SIZE];
} ref_case;

typedef struct ref_optim {
    char case_name[NAME_SIZE];
    char name[NAME_SIZE];
    char kind[NAME_SIZE];
    int steps;
    fm_optim_config config;
} ref_optim;

typedef struct ref_manifest {
    int declared_cases, declared_optims;
    int n_cases, n_optims;
    ref_case cases[MAX_REF_CASES];
    ref_optim optims[MAX_REF_OPTIMS];
} ref_manifest;

static ref_manifest manifest;
static int manifest_loaded;

/* ---------------------------------------------------------------- manifest */

static void copy_name(char *dst, const char *src, int line_no)
{
    if (!src)
        fail_msg("cases.txt line %d: missing field", line_no);
    if (strlen(src) >= NAME_SIZE)
        fail_msg("cases.txt line %d: field \"%s\" too long", line_no, src);
    strcpy(dst, src);
}

static int parse_int(const char *token, int line_no)
{
    char *end = NULL;
    if (!token)
        fail_msg("cases.txt line %d: missing integer", line_no);
    long v = strtol(token, &end, 10);
    if (end == token || *end != '\0' || v < 0 || v > 1000000)
        fail_msg("cases.txt line %d: bad integer \"%s\"", line_no, token);
    return (int)v;
}

static double parse_double(const char *token, int line_no)
{
    char *end = NULL;
    double v = strtod(token, &end);
    if (end == token || *end != '\0' || !isfinite(v))
        fail_msg("cases.txt line %d: bad number \"%s\"", line_no, token);
    return v;
}

static void parse_case(int line_no)
{
    if (manifest.n_cases >= MAX_REF_CASES)
        fail_msg("cases.txt line %d: more than %d cases", line_no, MAX_REF_CASES);
    ref_case *c = &manifest.cases[manifest.n_cases++];
    copy_name(c->name, strtok(NULL, " \t\r\n"), line_no);
    c->n_in = parse_int(strtok(NULL, " \t\r\n"), line_no);
    c->batch = parse_int(strtok(NULL, " \t\r\n"), line_no);
    copy_name(c->loss, strtok(NULL, " \t\r\n"), line_no);
    c->n_layers = parse_int(strtok(NULL, " \t\r\n"), line_no);
    if (c->n_layers < 1 || c->n_layers > MAX_REF_LAYERS || c->n_in < 1 || c->batch < 1)
        fail_msg("cases.txt line %d: bad case dimensions", line_no);
    for (int l = 0; l < c->n_layers; l++) {
        c->width[l] = parse_int(strtok(NULL, " \t\r\n"), line_no);
        copy_name(c->act[l], strtok(NULL, " \t\r\n"), line_no);
        if (c->width[l] < 1)
            fail_msg("cases.txt line %d: bad width", line_no);
    }
    if (strtok(NULL, " \t\r\n"))
        fail_msg("cases.txt line %d: trailing fields", line_no);
}

static void parse_optim(int line_no)
{
    if (manifest.n_optims >= MAX_REF_OPTIMS)
        fail_msg("cases.txt line %d: more than %d optimiser runs", line_no, MAX_REF_OPTIMS);
    ref_optim *o = &manifest.optims[manifest.n_optims++];
    fm_error err = {0};
    fm_optim_kind kind;
    copy_name(o->case_name, strtok(NULL, " \t\r\n"), line_no);
    copy_name(o->name, strtok(NULL, " \t\r\n"), line_no);
    copy_name(o->kind, strtok(NULL, " \t\r\n"), line_no);
    o->steps = parse_int(strtok(NULL, " \t\r\n"), line_no);
    if (o->steps < 1)
        fail_msg("cases.txt line %d: bad step count", line_no);
    FM_ASSERT_OK(fm_optim_parse_kind(o->kind, &kind, &err), &err);
    o->config = fm_optim_config_default(kind);
    int seen = 0;
    for (char *kv = strtok(NULL, " \t\r\n"); kv; kv = strtok(NULL, " \t\r\n")) {
        char *eq = strchr(kv, '=');
        if (!eq)
            fail_msg("cases.txt line %d: \"%s\" is not key=value", line_no, kv);
        *eq = '\0';
        double v = parse_double(eq + 1, line_no);
        fm_optim_config *cfg = &o->config;
        if (strcmp(kv, "lr") == 0)
            cfg->lr = v;
        else if (strcmp(kv, "momentum") == 0)
            cfg->momentum = v;
        else if (strcmp(kv, "dampening") == 0)
            cfg->dampening = v;
        else if (strcmp(kv, "nesterov") == 0)
            cfg->nesterov = v != 0.0;
        else if (strcmp(kv, "beta1") == 0)
            cfg->beta1 = v;
        else if (strcmp(kv, "beta2") == 0)
            cfg->beta2 = v;
        else if (strcmp(kv, "eps") == 0)
            cfg->eps = v;
        else if (strcmp(kv, "weight_decay") == 0)
            cfg->weight_decay = v;
        else if (strcmp(kv, "clip_norm") == 0)
            cfg->clip_norm = v;
        else
            fail_msg("cases.txt line %d: unknown optimiser field \"%s\"", line_no, kv);
        seen++;
    }
    /* Every field is given explicitly, so no default of fathom's can hide a
     * difference from PyTorch's. */
    if (seen != 9)
        fail_msg("cases.txt line %d: expected 9 optimiser fields, got %d", line_no, seen);
}

static const ref_case *find_case(const char *name)
{
    for (int i = 0; i < manifest.n_cases; i++)
        if (strcmp(manifest.cases[i].name, name) == 0)
            return &manifest.cases[i];
    return NULL;
}

static void load_manifest(void)
{
    if (manifest_loaded)
        return;
    memset(&manifest, 0, sizeof manifest);
    manifest.declared_cases = manifest.declared_optims = -1;
    const char *path = FATHOM_REFERENCE_DIR "/cases.txt";
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open the reference manifest %s (regenerate with "
                 "/usr/bin/python3 tests/reference/make_fixtures.py)", path);
    char line[2048];
    int line_no = 0;
    while (fgets(line, sizeof line, f)) {
        line_no++;
        if (!strchr(line, '\n') && !feof(f)) {
            fclose(f);
            fail_msg("cases.txt line %d is too long", line_no);
        }
        char *kind = strtok(line, " \t\r\n");
        if (!kind || kind[0] == '#')
            continue;
        if (strcmp(kind, "count") == 0) {
            manifest.declared_cases = parse_int(strtok(NULL, " \t\r\n"), line_no);
            manifest.declared_optims = parse_int(strtok(NULL, " \t\r\n"), line_no);
        } else if (strcmp(kind, "case") == 0) {
            parse_case(line_no);
        } else if (strcmp(kind, "optim") == 0) {
            parse_optim(line_no);
        } else {
            fclose(f);
            fail_msg("cases.txt line %d: unknown record \"%s\"", line_no, kind);
        }
    }
    int read_error = ferror(f);
    fclose(f);
    if (read_error)
        fail_msg("error reading %s", path);
    manifest_loaded = 1;
}

/* ---------------------------------------------------------------- fixtures */

/* Read dir/name.npy under the fixture directory; it must be [rows][cols]. */
static float *load_fixture(const char *dir, const char *name, size_t rows, int cols)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/%s.npy", FATHOM_REFERENCE_DIR, dir, name);
    float *data = NULL;
    size_t got_rows = 0;
    int got_cols = 0;
    fm_error err = {0};
    fm_status st = fm_npy_read_matrix(path, &data, &got_rows, &got_cols, &err);
    if (st != FM_OK)
        fail_msg("cannot read fixture %s: %s (%s)", path, err.message, fm_status_name(st));
    if (got_rows != rows || got_cols != cols) {
        free(data);
        fail_msg("fixture %s is [%zu][%d], expected [%zu][%d]", path, got_rows, got_cols, rows, cols);
    }
    return data;
}

/* ------------------------------------------------------------- comparisons */

static char report[16384];
static size_t report_len;
static int n_mismatches;
static double worst_ratio;
static char worst_where[256];

static void reset_report(void)
{
    report[0] = '\0';
    report_len = 0;
    n_mismatches = 0;
    worst_ratio = 0.0;
    worst_where[0] = '\0';
}

static void add_report(const char *fmt, ...) CMOCKA_PRINTF_ATTRIBUTE(1, 2);
static void add_report(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (report_len < sizeof report) {
        int n = vsnprintf(report + report_len, sizeof report - report_len, fmt, ap);
        if (n > 0)
            report_len += (size_t)n;
    }
    va_end(ap);
}

/* Compare computed c with fixture t (n values of a [.][cols] tensor); records
 * the worst element of a tensor that is out of tolerance. */
static void compare(const char *where, const char *tensor, const float *c, const float *t, size_t n,
                    int cols, double atol, double rtol)
{
    double worst = 0.0;
    size_t worst_i = 0;
    for (size_t i = 0; i < n; i++) {
        double diff = fabs((double)c[i] - (double)t[i]);
        double ratio = diff / (atol + rtol * fabs((double)t[i]));
        if (isnan(ratio))
            ratio = INFINITY; /* a NaN from fathom is the worst mismatch */
        if (ratio > worst) {
            worst = ratio;
            worst_i = i;
        }
    }
    if (worst > worst_ratio) {
        worst_ratio = worst;
        snprintf(worst_where, sizeof worst_where, "%s %s[%zu][%zu]", where, tensor, worst_i / (size_t)cols,
                 worst_i % (size_t)cols);
    }
    if (worst > 1.0) {
        n_mismatches++;
        char line[512];
        snprintf(line, sizeof line,
                 "%s %s[%zu][%zu]: fathom %.9g, PyTorch %.9g, |diff| %.3g > tolerance %.3g (%.3gx)\n", where,
                 tensor, worst_i / (size_t)cols, worst_i % (size_t)cols, (double)c[worst_i], (double)t[worst_i],
                 fabs((double)c[worst_i] - (double)t[worst_i]), atol + rtol * fabs((double)t[worst_i]), worst);
        print_message("mismatch: %s", line);
        add_report("%s", line);
    }
}

static void finish_report(const char *what)
{
    print_message("%s: worst deviation %.3g of tolerance at %s\n", what, worst_ratio, worst_where);
    if (n_mismatches > 0)
        fail_msg("%d %s tensor(s) differ from PyTorch:\n%s", n_mismatches, what, report);
}

static double max_abs(const float *t, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        if (fabs((double)t[i]) > m)
            m = fabs((double)t[i]);
    return m;
}

/* ---------------------------------------------------------------- networks */

typedef struct ref_run {
    const ref_case *c;
    fm_net *net;
    fm_loss loss;
    float *x;     /* [batch][n_in] */
    float *y;     /* [batch][target width] */
    float *grad_z; /* [batch][n_out] */
} ref_run;

/* Build the case's network with the fixture's initial parameters. */
static void open_run(const ref_case *c, ref_run *run)
{
    fm_error err = {0};
    fm_layer_spec specs[MAX_REF_LAYERS];
    memset(run, 0, sizeof *run);
    run->c = c;
    for (int l = 0; l < c->n_layers; l++) {
        memset(&specs[l], 0, sizeof specs[l]);
        specs[l].n_out = c->width[l];
        FM_ASSERT_OK(fm_activation_parse(c->act[l], &specs[l].act, &err), &err);
        specs[l].init.kind = FM_INIT_AUTO;
        specs[l].dropout = 0.0;
    }
    /* Any seed: every parameter is overwritten below. */
    FM_ASSERT_OK(fm_net_create(c->n_in, specs, c->n_layers, 99, &run->net, &err), &err);
    FM_ASSERT_OK(fm_loss_parse(c->loss, &run->loss, &err), &err);
    FM_ASSERT_OK(fm_loss_check(&run->loss, &specs[c->n_layers - 1].act, &err), &err);

    size_t expected_params = 0;
    int fan_in = c->n_in;
    char name[64];
    for (int l = 0; l < c->n_layers; l++) {
        int n_out = c->width[l];
        snprintf(name, sizeof name, "layer%d.weight", l);
        float *w = load_fixture(c->name, name, (size_t)n_out, fan_in);
        memcpy(fm_net_weight(run->net, l), w, sizeof *w * (size_t)n_out * (size_t)fan_in);
        free(w);
        snprintf(name, sizeof name, "layer%d.bias", l);
        float *b = load_fixture(c->name, name, 1, n_out);
        memcpy(fm_net_bias(run->net, l), b, sizeof *b * (size_t)n_out);
        free(b);
        expected_params += (size_t)n_out * (size_t)fan_in + (size_t)n_out;
        fan_in = n_out;
    }
    assert_int_equal(fm_net_n_params(run->net), expected_params);
    int n_out = c->width[c->n_layers - 1];
    run->x = load_fixture(c->name, "x", (size_t)c->batch, c->n_in);
    run->y = load_fixture(c->name, "y", (size_t)c->batch, fm_loss_target_width(&run->loss, n_out));
    run->grad_z = malloc(sizeof *run->grad_z * (size_t)c->batch * (size_t)n_out);
    assert_non_null(run->grad_z);
}

static void close_run(ref_run *run)
{
    fm_net_free(run->net);
    free(run->x);
    free(run->y);
    free(run->grad_z);
}

/* Forward, loss and backward on the case's batch; returns the loss. */
static double step_forward_backward(ref_run *run, int training)
{
    const ref_case *c = run->c;
    fm_error err = {0};
    int last = c->n_layers - 1;
    double value = NAN;
    FM_ASSERT_OK(fm_net_forward(run->net, run->x, c->batch, training, &err), &err);
    FM_ASSERT_OK(fm_loss_compute(&run->loss, &fm_net_layer(run->net, last)->act, fm_net_z(run->net, last),
                                 fm_net_a(run->net, last), run->y, c->batch, c->width[last], &value,
                                 run->grad_z, &err),
                 &err);
    FM_ASSERT_OK(fm_net_backward(run->net, run->x, run->grad_z, &err), &err);
    return value;
}

/* ------------------------------------------------------------------- tests */

static void test_manifest(void **state)
{
    (void)state;
    load_manifest();
    if (manifest.declared_cases != manifest.n_cases || manifest.declared_optims != manifest.n_optims)
        fail_msg("cases.txt declares %d cases and %d optimiser runs but holds %d and %d",
                 manifest.declared_cases, manifest.declared_optims, manifest.n_cases, manifest.n_optims);
    if (manifest.n_cases != EXPECTED_CASES || manifest.n_optims != EXPECTED_OPTIMS)
        fail_msg("cases.txt holds %d cases and %d optimiser runs, this test expects %d and %d",
                 manifest.n_cases, manifest.n_optims, EXPECTED_CASES, EXPECTED_OPTIMS);

    /* The fixtures claim to cover every activation, loss and optimiser. */
    int act_seen[FM_ACT_COUNT] = {0}, loss_seen[FM_LOSS_COUNT] = {0}, optim_seen[FM_OPTIM_COUNT] = {0};
    fm_error err = {0};
    for (int i = 0; i < manifest.n_cases; i++) {
        const ref_case *c = &manifest.cases[i];
        fm_loss loss;
        FM_ASSERT_OK(fm_loss_parse(c->loss, &loss, &err), &err);
        loss_seen[loss.kind] = 1;
        for (int l = 0; l < c->n_layers; l++) {
            fm_activation act;
            FM_ASSERT_OK(fm_activation_parse(c->act[l], &act, &err), &err);
            act_seen[act.kind] = 1;
        }
    }
    for (int i = 0; i < manifest.n_optims; i++) {
        if (!find_case(manifest.optims[i].case_name))
            fail_msg("optimiser run %s names unknown case %s", manifest.optims[i].name,
                     manifest.optims[i].case_name);
        optim_seen[manifest.optims[i].config.kind] = 1;
    }
    for (int k = 0; k < FM_ACT_COUNT; k++)
        if (!act_seen[k])
            fail_msg("no reference case uses activation %s", fm_act_name((fm_act_kind)k));
    for (int k = 0; k < FM_LOSS_COUNT; k++)
        if (!loss_seen[k])
            fail_msg("no reference case uses loss %s", fm_loss_name((fm_loss_kind)k));
    for (int k = 0; k < FM_OPTIM_COUNT; k++)
        if (!optim_seen[k])
            fail_msg("no reference case uses optimiser %s", fm_optim_name((fm_optim_kind)k));
}

/* z and a of every layer, the loss, and every gradient after one backward pass. */
static void test_forward_loss_gradients(void **state)
{
    (void)state;
    load_manifest();
    assert_int_equal(manifest.n_cases, EXPECTED_CASES);
    reset_report();
    char name[64];
    for (int i = 0; i < manifest.n_cases; i++) {
        const ref_case *c = &manifest.cases[i];
        ref_run run;
        open_run(c, &run);
        double value = step_forward_backward(&run, 0);

        int fan_in = c->n_in;
        for (int l = 0; l < c->n_layers; l++) {
            int n_out = c->width[l];
            size_t n_act = (size_t)c->batch * (size_t)n_out;
            size_t n_w = (size_t)n_out * (size_t)fan_in;
            snprintf(name, sizeof name, "layer%d.z", l);
            float *t = load_fixture(c->name, name, (size_t)c->batch, n_out);
            compare(c->name, name, fm_net_z(run.net, l), t, n_act, n_out, ATOL, RTOL);
            free(t);
            snprintf(name, sizeof name, "layer%d.a", l);
            t = load_fixture(c->name, name, (size_t)c->batch, n_out);
            compare(c->name, name, fm_net_a(run.net, l), t, n_act, n_out, ATOL, RTOL);
            free(t);

            snprintf(name, sizeof name, "layer%d.weight_grad", l);
            t = load_fixture(c->name, name, (size_t)n_out, fan_in);
            if (max_abs(t, n_w) < MIN_FIXTURE_GRADIENT)
                fail_msg("%s %s: fixture gradient is all ~0 (max %g): the test would be vacuous", c->name,
                         name, max_abs(t, n_w));
            compare(c->name, name, fm_net_weight_grad(run.net, l), t, n_w, fan_in, ATOL, RTOL);
            free(t);
            snprintf(name, sizeof name, "layer%d.bias_grad", l);
            t = load_fixture(c->name, name, 1, n_out);
            if (max_abs(t, (size_t)n_out) < MIN_FIXTURE_GRADIENT)
                fail_msg("%s %s: fixture gradient is all ~0 (max %g): the test would be vacuous", c->name,
                         name, max_abs(t, (size_t)n_out));
            compare(c->name, name, fm_net_bias_grad(run.net, l), t, (size_t)n_out, n_out, ATOL, RTOL);
            free(t);
            fan_in = n_out;
        }
        float *t = load_fixture(c->name, "loss", 1, 1);
        float computed = (float)value;
        compare(c->name, "loss", &computed, t, 1, 1, ATOL, RTOL);
        free(t);
        close_run(&run);
    }
    finish_report("forward/loss/gradient");
}

/* Weights after `steps` x (forward, loss, backward, [clip], step) on one batch. */
static void test_optimisers(void **state)
{
    (void)state;
    load_manifest();
    assert_int_equal(manifest.n_optims, EXPECTED_OPTIMS);
    reset_report();
    char dir[2 * NAME_SIZE + 2], where[2 * NAME_SIZE + 2], name[64];
    fm_error err = {0};
    for (int i = 0; i < manifest.n_optims; i++) {
        const ref_optim *o = &manifest.optims[i];
        const ref_case *c = find_case(o->case_name);
        if (!c)
            fail_msg("optimiser run %s names unknown case %s", o->name, o->case_name);
        snprintf(dir, sizeof dir, "%s/%s", c->name, o->name);
        snprintf(where, sizeof where, "%s/%s", c->name, o->name);
        int adam = o->config.kind != FM_OPTIM_SGD;
        double atol = adam ? ADAM_ATOL : ATOL, rtol = adam ? ADAM_RTOL : RTOL;

        ref_run run;
        open_run(c, &run);
        size_t n_params = fm_net_n_params(run.net);
        float *initial = malloc(sizeof *initial * n_params);
        float *losses = malloc(sizeof *losses * (size_t)o->steps);
        assert_non_null(initial);
        assert_non_null(losses);
        memcpy(initial, fm_net_params(run.net), sizeof *initial * n_params);

        fm_optim *opt = NULL;
        FM_ASSERT_OK(fm_optim_create(&o->config, n_params, &opt, &err), &err);
        for (int s = 0; s < o->steps; s++) {
            /* training = 1: the path fm_train takes; no layer has dropout. */
            losses[s] = (float)step_forward_backward(&run, 1);
            /* fm_optim_step does not clip (fm_train does, before it), so
             * clip here as torch.nn.utils.clip_grad_norm_ did in the twin. */
            if (o->config.clip_norm > 0.0)
                fm_clip_grad_norm(fm_net_grads(run.net), n_params, o->config.clip_norm);
            fm_optim_step(opt, fm_net_params(run.net), fm_net_grads(run.net), o->config.lr);
        }

        float *t = load_fixture(dir, "losses", 1, o->steps);
        compare(where, "losses", losses, t, (size_t)o->steps, o->steps, ATOL, RTOL);
        free(t);
        int fan_in = c->n_in;
        double moved = 0.0;
        for (int l = 0; l < c->n_layers; l++) {
            int n_out = c->width[l];
            size_t n_w = (size_t)n_out * (size_t)fan_in;
            float *w0 = initial + (fm_net_weight(run.net, l) - fm_net_params(run.net));
            float *b0 = initial + (fm_net_bias(run.net, l) - fm_net_params(run.net));
            snprintf(name, sizeof name, "layer%d.weight", l);
            t = load_fixture(dir, name, (size_t)n_out, fan_in);
            for (size_t k = 0; k < n_w; k++)
                moved = fmax(moved, fabs((double)t[k] - (double)w0[k]));
            compare(where, name, fm_net_weight(run.net, l), t, n_w, fan_in, atol, rtol);
            free(t);
            snprintf(name, sizeof name, "layer%d.bias", l);
            t = load_fixture(dir, name, 1, n_out);
            for (int k = 0; k < n_out; k++)
                moved = fmax(moved, fabs((double)t[k] - (double)b0[k]));
            compare(where, name, fm_net_bias(run.net, l), t, (size_t)n_out, n_out, atol, rtol);
            free(t);
            fan_in = n_out;
        }
        if (moved < 1e-3)
            fail_msg("%s: the fixture's parameters barely move (%g): the test would be vacuous", where, moved);
        fm_optim_free(opt);
        free(initial);
        free(losses);
        close_run(&run);
    }
    finish_report("optimiser");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_manifest),
        cmocka_unit_test(test_forward_loss_gradients),
        cmocka_unit_test(test_optimisers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
