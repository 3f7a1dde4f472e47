/* The charts of a run report, each built from the run log read into a
 * run_report and drawn by the SVG module. */
#include "report_internal.h"

#include "core/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *run_string(const run_report *r, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->run, name);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static double end_number(const run_report *r, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->end, name);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static int diverged(const run_report *r)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(r->end, "status");
    return cJSON_IsString(s) && !strcmp(s->valuestring, "diverged");
}

/* Three arrays of n doubles in one allocation: x, y, z. */
static double *columns(size_t n, int k)
{
    return fm_calloc_array(n ? n * (size_t)k : 1, sizeof(double));
}

void report_chart_loss(sbuf *o, const run_report *r, int width)
{
    int ne = r->n_epochs, nd = r->n_diags;
    double *e = columns((size_t)ne, 3), *d = columns((size_t)nd, 2);
    if (!e || !d) {
        free(e);
        free(d);
        o->failed = 1;
        return;
    }
    int any_val = 0, all_positive = 1;
    for (int i = 0; i < ne; i++) {
        e[i] = (double)r->epochs[i].step;
        e[ne + i] = r->epochs[i].train_loss;
        e[2 * ne + i] = r->epochs[i].val_loss;
        any_val |= isfinite(e[2 * ne + i]);
        all_positive &= !(e[ne + i] <= 0) && !(e[2 * ne + i] <= 0);
    }
    for (int i = 0; i < nd; i++) {
        d[i] = (double)r->diags[i].step;
        d[nd + i] = r->diags[i].loss;
        all_positive &= !(d[nd + i] <= 0);
    }
    svg_series s[3];
    int n = 0;
    if (nd)
        s[n++] = (svg_series){"batch loss (diagnose steps)", d, d + nd, nd, SVG_GREY, SVG_SOLID, nd <= 40, 1.2,
                              0.8, 1};
    if (ne)
        s[n++] = (svg_series){"training loss (epoch mean)", e, e + ne, ne, SVG_BLUE, SVG_SOLID, ne <= 60, 2.2, 0, 1};
    if (any_val)
        s[n++] = (svg_series){"validation loss", e, e + 2 * ne, ne, SVG_VERMILLION, SVG_SOLID, ne <= 60, 2.2, 0,
                              1};
    char title[160], vlabel[80] = "";
    snprintf(title, sizeof title, "Loss (%s, standardised targets) against optimiser step", run_string(r, "loss"));
    double vline = NAN;
    if (diverged(r)) {
        vline = end_number(r, "steps");
        snprintf(vlabel, sizeof vlabel, "diverged after step %.0f", vline);
    }
    svg_line_chart c = {title, {"optimiser step", 0, 0, 0, 0}, {"loss", all_positive, 0, 0, 0}, s, n, width, 330,
                        vline, vlabel, NAN, NULL, "no finite loss was logged"};
    svg_line_chart_render(o, &c);
    free(e);
    free(d);
}

typedef struct step_value {
    double step, value;
} step_value;

static int by_step(const void *a, const void *b)
{
    double x = ((const step_value *)a)->step, y = ((const step_value *)b)->step;
    return (x > y) - (x < y);
}

void report_chart_lr(sbuf *o, const run_report *r, int width)
{
    size_t n = (size_t)r->n_epochs + (size_t)r->n_diags, k = 0;
    step_value *p = fm_calloc_array(n ? n : 1, sizeof *p);
    double *xy = columns(n, 2);
    if (!p || !xy) {
        free(p);
        free(xy);
        o->failed = 1;
        return;
    }
    for (int i = 0; i < r->n_diags; i++)
        p[k++] = (step_value){(double)r->diags[i].step, r->diags[i].lr};
    for (int i = 0; i < r->n_epochs; i++)
        p[k++] = (step_value){(double)r->epochs[i].step, r->epochs[i].lr};
    qsort(p, k, sizeof *p, by_step);
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < k; i++) {
        xy[i] = p[i].step;
        xy[n + i] = p[i].value;
        if (isfinite(p[i].value) && p[i].value > 0) {
            lo = fmin(lo, p[i].value);
            hi = fmax(hi, p[i].value);
        }
    }
    svg_series s = {"learning rate", xy, xy + n, (int)k, SVG_GREEN, SVG_SOLID, 0, 2.2, 0, 0};
    svg_line_chart c = {"Learning rate against optimiser step", {"optimiser step", 0, 0, 0, 0},
                        {"learning rate", hi / lo > 10.0, 0, 0, 0}, &s, 1, width, 200, NAN, NULL, NAN, NULL,
                        "no learning rate was logged"};
    svg_line_chart_render(o, &c);
    free(p);
    free(xy);
}

void report_depth_panel(sbuf *o, const fm_depth_curve *curves, int n_curves, int backward, const char *title,
                        int width, int height)
{
    int total = 0;
    for (int i = 0; i < n_curves; i++)
        total += curves[i].n_layers;
    double *v = columns((size_t)total, 3);
    svg_series *s = fm_calloc_array(2 * (size_t)n_curves + 2, sizeof *s);
    if (!v || !s) {
        free(v);
        free(s);
        o->failed = 1;
        return;
    }
    int at = 0, n = 0;
    for (int i = 0; i < n_curves; i++) {
        int L = curves[i].n_layers;
        double *x = v + at, *measured = v + total + at, *theory = v + 2 * total + at;
        for (int l = 0; l < L; l++) {
            const fm_layer_stats *st = &curves[i].stats[l];
            x[l] = l + 1;
            measured[l] = backward ? st->var_delta : st->var_z;
            theory[l] = backward ? st->var_delta_theory : st->var_z_meanfield;
        }
        const char *colour = SVG_OKABE_ITO[i % 8];
        s[n++] = (svg_series){curves[i].label, x, measured, L, colour, SVG_SOLID, 1, 2.0, 0, 1};
        s[n++] = (svg_series){NULL, x, theory, L, colour, SVG_DASHED, 0, 1.6, 0, 0};
        at += L;
    }
    svg_line_chart c = {title, {"layer", 0, 0, 0, 1}, {backward ? "Var[dL/dz]" : "Var[z]", 1, 0, 0, 0}, s, n, width,
                        height, NAN, NULL, NAN, NULL, "no finite variances"};
    svg_line_chart_render(o, &c);
    free(v);
    free(s);
}

void report_chart_depth(sbuf *o, const run_report *r, const report_diag *d, const char *title, int width)
{
    int L = r->n_layers;
    double *v = columns((size_t)L, 6);
    if (!v) {
        o->failed = 1;
        return;
    }
    for (int l = 0; l < L; l++) {
        const fm_layer_stats *st = &d->stats[l];
        v[l] = l + 1;
        v[L + l] = st->var_z;
        v[2 * L + l] = st->var_z_meanfield;
        v[3 * L + l] = st->var_z_linear;
        v[4 * L + l] = st->var_delta;
        v[5 * L + l] = st->var_delta_theory;
    }
    svg_series s[5] = {
        {"Var[z] measured", v, v + L, L, SVG_BLUE, SVG_SOLID, 1, 2.2, 0, 1},
        {"Var[z] mean-field theory", v, v + 2 * L, L, SVG_BLUE, SVG_DASHED, 0, 1.6, 0, 0},
        {"Var[z] linear-regime product", v, v + 3 * L, L, SVG_SKY, SVG_DOTTED, 0, 2.0, 0, 0},
        {"Var[dL/dz] measured", v, v + 4 * L, L, SVG_VERMILLION, SVG_SOLID, 1, 2.2, 0, 1},
        {"Var[dL/dz] theory", v, v + 5 * L, L, SVG_VERMILLION, SVG_DASHED, 0, 1.6, 0, 0},
    };
    svg_line_chart c = {title, {"layer", 0, 0, 0, 1}, {"variance", 1, 0, 0, 0}, s, 5, width, 380, NAN, NULL, NAN,
                        NULL, "no finite variances at this step"};
    svg_line_chart_render(o, &c);
    free(v);
}

static int heatmap_height(int rows) { return 82 + (rows * 16 < 120 ? 120 : rows * 16 > 420 ? 420 : rows * 16); }

void report_heatmap_grad(sbuf *o, const run_report *r, int width)
{
    int L = r->n_layers, n = r->n_diags;
    double *v = columns((size_t)L * (size_t)(n ? n : 1), 1);
    if (!v) {
        o->failed = 1;
        return;
    }
    for (int l = 0; l < L; l++)
        for (int i = 0; i < n; i++) {
            const fm_layer_stats *s = &r->diags[i].stats[l];
            double cells = (double)s->n_in * (double)s->n_out;
            double g = (s->nonfinite & FM_NONFINITE_BACKWARD) || isinf(s->grad_w_norm) ? INFINITY
                       : cells > 0                                                       ? s->grad_w_norm / sqrt(cells)
                                                                                         : NAN;
            v[(size_t)l * n + i] = g;
        }
    svg_heatmap m = {"Gradient RMS per weight, ‖dL/dW‖ / √(n_in·n_out), by layer and step",
                     L, n, v, 1, 0, 0, 0, "optimiser step",
                     n ? (double)r->diags[0].step : 0, n ? (double)r->diags[n - 1].step : 1,
                     "layer (1 = input side)", "gradient RMS (log scale)", 0, width, heatmap_height(L)};
    svg_heatmap_render(o, &m);
    free(v);
}

int report_heatmap_share(sbuf *o, const run_report *r, int which, int width)
{
    int L = r->n_layers, n = r->n_diags, any = 0;
    double *v = columns((size_t)L * (size_t)(n ? n : 1), 1);
    if (!v) {
        o->failed = 1;
        return 0;
    }
    for (int l = 0; l < L; l++)
        for (int i = 0; i < n; i++) {
            const fm_layer_stats *s = &r->diags[i].stats[l];
            double x = which == 0 ? s->dead : which == 1 ? s->saturated : s->inactive;
            if ((s->nonfinite & FM_NONFINITE_FORWARD) && isnan(x))
                x = INFINITY;
            any |= isfinite(x);
            v[(size_t)l * n + i] = x;
        }
    static const char *const titles[3] = {
        "Dead ReLU units: share of units with z ≤ 0 on every sample of the batch",
        "Saturated: share of (unit, sample) with |φ′(z)| below 1% of its maximum",
        "Inactive units (leaky ReLU, ELU, SELU): share negative on every sample"};
    static const char *const labels[3] = {"dead share", "saturated share", "inactive share"};
    if (any) {
        svg_heatmap m = {titles[which], L, n, v, 0, 0.0, 1.0, 1, "optimiser step",
                         n ? (double)r->diags[0].step : 0, n ? (double)r->diags[n - 1].step : 1,
                         "layer (1 = input side)", labels[which], 1, width, heatmap_height(L)};
        svg_heatmap_render(o, &m);
    }
    free(v);
    return any;
}

void report_chart_update_ratio(sbuf *o, const run_report *r, int width)
{
    int L = r->n_layers, n = r->n_diags;
    double *v = columns((size_t)(n ? n : 1), (L + 1));
    if (!v) {
        o->failed = 1;
        return;
    }
    for (int i = 0; i < n; i++) {
        v[i] = (double)r->diags[i].step;
        for (int l = 0; l < L; l++)
            v[(size_t)(l + 1) * n + i] = r->diags[i].update_ratio[l];
    }
    const char *title = "Update-to-weight ratio ‖ΔW‖ / ‖W‖ per step, by layer";
    if (L <= 8) {
        svg_series s[8];
        char names[8][32];
        for (int l = 0; l < L; l++) {
            snprintf(names[l], sizeof names[l], "layer %d", l + 1);
            s[l] = (svg_series){names[l], v, v + (size_t)(l + 1) * n, n, SVG_OKABE_ITO[l], SVG_SOLID, 0, 1.6, 0, 0};
        }
        svg_line_chart c = {title, {"optimiser step", 0, 0, 0, 0}, {"‖ΔW‖ / ‖W‖", 1, 0, 0, 0}, s, L, width, 330,
                            NAN, NULL, 1e-3, "10⁻³: a common rule of thumb", "no update ratios were logged"};
        svg_line_chart_render(o, &c);
    } else {
        /* Too many layers for lines: one row per layer. */
        double *m = columns((size_t)L * (size_t)(n ? n : 1), 1);
        if (!m) {
            free(v);
            o->failed = 1;
            return;
        }
        for (int l = 0; l < L; l++)
            for (int i = 0; i < n; i++)
                m[(size_t)l * n + i] = v[(size_t)(l + 1) * n + i];
        svg_heatmap h = {title, L, n, m, 1, 0, 0, 0, "optimiser step",
                         n ? (double)r->diags[0].step : 0, n ? (double)r->diags[n - 1].step : 1,
                         "layer (1 = input side)", "‖ΔW‖ / ‖W‖ (log scale)", 0, width, heatmap_height(L)};
        svg_heatmap_render(o, &h);
        free(m);
    }
    free(v);
}

fm_status fm_plot_depth_svg(const char *svg_path, const char *title, const fm_depth_curve *curves, int n_curves,
                            fm_error *err)
{
    if (!svg_path || !curves || n_curves < 1 || n_curves > 8)
        return fm_fail(err, FM_ERR_ARG, "fm_plot_depth_svg: a path and 1..8 curves are needed");
    for (int i = 0; i < n_curves; i++)
        if (!curves[i].stats || curves[i].n_layers < 1 || !curves[i].label)
            return fm_fail(err, FM_ERR_ARG, "fm_plot_depth_svg: curve %d has no statistics or label", i + 1);
    const int panel = 560, head = title ? 30 : 0;
    sbuf inner = {0};
    report_depth_panel(&inner, curves, n_curves, 0, "Forward: Var[z] against depth", panel, 430);
    sbuf second = {0};
    report_depth_panel(&second, curves, n_curves, 1, "Backward: Var[dL/dz] against depth", panel, 430);
    /* Both panels carry the legend of the configurations; a key for the line styles goes on top. */
    sbuf o = {0};
    int panel_h = 0;
    if (!inner.failed && inner.data) {
        const char *h = strstr(inner.data, "height=\"");
        panel_h = h ? atoi(h + 8) : 430;
    }
    sbuf_printf(&o,
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
                "height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">",
                2 * panel + 10, panel_h + head + 22, 2 * panel + 10, panel_h + head + 22);
    sbuf_printf(&o, "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>", 2 * panel + 10, panel_h + head + 22);
    if (title) {
        sbuf_puts(&o, "<text x=\"10\" y=\"21\" font-size=\"15\" font-weight=\"bold\">");
        sbuf_escape(&o, title);
        sbuf_puts(&o, "</text>");
    }
    sbuf_printf(&o, "<g transform=\"translate(0,%d)\">%s</g>", head, inner.data ? inner.data : "");
    sbuf_printf(&o, "<g transform=\"translate(%d,%d)\">%s</g>", panel + 10, head, second.data ? second.data : "");
    sbuf_printf(&o,
                "<g font-size=\"11.5\" fill=\"#333\" transform=\"translate(72,%d)\"><line x1=\"0\" y1=\"-4\" "
                "x2=\"28\" y2=\"-4\" stroke=\"#333\" stroke-width=\"2\"/><circle cx=\"14\" cy=\"-4\" r=\"3\" "
                "fill=\"#333\"/><text x=\"34\" y=\"0\">measured</text><line x1=\"120\" y1=\"-4\" x2=\"148\" "
                "y2=\"-4\" stroke=\"#333\" stroke-width=\"1.6\" stroke-dasharray=\"7 4\"/><text x=\"154\" "
                "y=\"0\">theory: mean-field q (forward), backward recursion from the output (backward)</text></g>",
                panel_h + head + 14);
    sbuf_puts(&o, "</svg>\n");
    fm_status st = inner.failed || second.failed || o.failed
                       ? fm_fail(err, FM_ERR_NOMEM, "out of memory drawing %s", svg_path)
                       : report_write_file(svg_path, &o, err);
    sbuf_free(&inner);
    sbuf_free(&second);
    sbuf_free(&o);
    return st;
}
