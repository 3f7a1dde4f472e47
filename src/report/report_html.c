/* fm_report_write: a run log as one self-contained HTML page.
 *
 * Why in the library: both `fathom report` and `fathom train --report` need
 * it, and a program that trains through the API can call it too; it prints
 * nothing and writes only the file it is asked for (atomically), like the
 * model writer. The page is a list of sections (SECTIONS below), each a
 * function that appends HTML; maps of predictions on a NetCDF grid
 * (fm_report_write_maps, report_maps.c) are one of them. */
#include "report_internal.h"

#include "core/internal.h"
#include "io/io_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_WIDTH 1200

fm_status report_write_file(const char *path, const sbuf *b, fm_error *err)
{
    fm_atomic_file f;
    fm_status st = fm_atomic_open(&f, path, err);
    if (st != FM_OK)
        return st;
    fm_atomic_write(&f, b->data ? b->data : "", b->len);
    return fm_atomic_commit(&f, err);
}

static const cJSON *item(const cJSON *o, const char *name) { return cJSON_GetObjectItemCaseSensitive(o, name); }

static const char *end_status(const run_report *r)
{
    const cJSON *s = item(r->end, "status");
    return cJSON_IsString(s) ? s->valuestring : NULL;
}

/* A JSON value as text for a table cell. */
static void json_value(sbuf *o, const cJSON *v)
{
    char num[64];
    if (cJSON_IsString(v))
        sbuf_escape(o, v->valuestring);
    else if (cJSON_IsBool(v))
        sbuf_puts(o, cJSON_IsTrue(v) ? "yes" : "no");
    else if (cJSON_IsNumber(v)) {
        snprintf(num, sizeof num, "%.6g", v->valuedouble);
        sbuf_puts(o, num);
    } else if (cJSON_IsNull(v))
        sbuf_puts(o, "–");
    else {
        char *text = cJSON_PrintUnformatted(v);
        sbuf_escape(o, text ? text : "");
        cJSON_free(text);
    }
}

static void row(sbuf *o, const char *key, const cJSON *v)
{
    sbuf_puts(o, "<tr><th>");
    sbuf_escape(o, key);
    sbuf_puts(o, "</th><td>");
    json_value(o, v);
    sbuf_puts(o, "</td></tr>");
}

static void row_text(sbuf *o, const char *key, const char *text)
{
    sbuf_puts(o, "<tr><th>");
    sbuf_escape(o, key);
    sbuf_puts(o, "</th><td>");
    sbuf_escape(o, text);
    sbuf_puts(o, "</td></tr>");
}

/* ------------------------------------------------------------------ sections */

typedef struct page {
    const run_report *r;
    const char *log_path;
    const report_maps_data *maps; /* NULL: no maps */
} page;

static void section_status(sbuf *o, const page *p)
{
    const run_report *r = p->r;
    const char *status = end_status(r);
    const cJSON *message = item(r->end, "message");
    const char *cls = !status ? "warn" : !strcmp(status, "ok") ? "ok" : !strcmp(status, "stopped") ? "warn" : "bad";
    sbuf_printf(o, "<div class=\"status %s\" id=\"status\"><strong>", cls);
    if (!status) {
        sbuf_printf(o, "No end record:</strong> the log stops after %zu diagnose and %d epoch records; the run was "
                       "killed or is still running.",
                    r->diag_seen, r->n_epochs);
    } else if (!strcmp(status, "diverged")) {
        const cJSON *steps = item(r->end, "steps"), *epochs = item(r->end, "epochs_run");
        sbuf_printf(o, "Training diverged</strong> after %.0f optimiser steps (%.0f complete epochs). ",
                    cJSON_IsNumber(steps) ? steps->valuedouble : 0.0,
                    cJSON_IsNumber(epochs) ? epochs->valuedouble : 0.0);
        if (cJSON_IsString(message))
            sbuf_escape(o, message->valuestring);
        if (r->first_nonfinite_layer)
            sbuf_printf(o, " The first Inf or NaN of the forward pass appeared in layer %d at step %zu.",
                        r->first_nonfinite_layer, r->first_nonfinite_step);
    } else {
        sbuf_puts(o, "Status: ");
        sbuf_escape(o, status);
        sbuf_puts(o, "</strong>");
        if (cJSON_IsString(message)) {
            sbuf_puts(o, " – ");
            sbuf_escape(o, message->valuestring);
        }
    }
    if (r->skipped_lines)
        sbuf_puts(o, " (A truncated last line of the log was skipped.)");
    sbuf_puts(o, "</div>\n");
}

/* "4 → 32 tanh (auto) ×8 → 1 linear" and the parameter count. */
static void architecture(sbuf *o, const run_report *r)
{
    const cJSON *layers = item(r->run, "layers");
    const cJSON *n_in = item(r->run, "n_in");
    double params = 0.0;
    sbuf_printf(o, "%.0f inputs", cJSON_IsNumber(n_in) ? n_in->valuedouble : 0.0);
    int count = cJSON_GetArraySize(layers);
    for (int i = 0; i < count;) {
        const cJSON *l = cJSON_GetArrayItem(layers, i);
        int j = i + 1;
        while (j < count) {
            const cJSON *m = cJSON_GetArrayItem(layers, j);
            if (!cJSON_Compare(item(l, "n_out"), item(m, "n_out"), 1) ||
                !cJSON_Compare(item(l, "activation"), item(m, "activation"), 1) ||
                !cJSON_Compare(item(l, "init"), item(m, "init"), 1) ||
                !cJSON_Compare(item(l, "dropout"), item(m, "dropout"), 1))
                break;
            j++;
        }
        const cJSON *act = item(l, "activation"), *init = item(l, "init"), *drop = item(l, "dropout");
        sbuf_printf(o, " → %.0f ", cJSON_IsNumber(item(l, "n_out")) ? item(l, "n_out")->valuedouble : 0.0);
        sbuf_escape(o, cJSON_IsString(act) ? act->valuestring : "?");
        sbuf_puts(o, " <span class=\"dim\">(");
        sbuf_escape(o, cJSON_IsString(init) ? init->valuestring : "?");
        if (cJSON_IsNumber(drop) && drop->valuedouble > 0)
            sbuf_printf(o, ", dropout %.3g", drop->valuedouble);
        sbuf_puts(o, ")</span>");
        if (j - i > 1)
            sbuf_printf(o, " ×%d", j - i);
        i = j;
    }
    for (int i = 0; i < count; i++) {
        const cJSON *l = cJSON_GetArrayItem(layers, i);
        double a = cJSON_IsNumber(item(l, "n_in")) ? item(l, "n_in")->valuedouble : 0;
        double b = cJSON_IsNumber(item(l, "n_out")) ? item(l, "n_out")->valuedouble : 0;
        params += a * b + b;
    }
    sbuf_printf(o, "<br><span class=\"dim\">%d layers, %.0f parameters</span>", count, params);
}

static void section_summary(sbuf *o, const page *p)
{
    const run_report *r = p->r;
    sbuf_puts(o, "<section class=\"cards\"><div class=\"card wide\"><h3>Network</h3><p>");
    architecture(o, r);
    sbuf_puts(o, "</p></div>");

    sbuf_puts(o, "<div class=\"card\"><h3>Training settings</h3><table>");
    row(o, "loss", item(r->run, "loss"));
    const cJSON *settings = item(r->run, "settings"), *v;
    static const char *const skip[] = {"epochs_run", "steps", "train_rows", "val_rows", "final_train_loss",
                                       "best_val_loss", "best_epoch", "stopped_early", "diverged"};
    cJSON_ArrayForEach(v, settings)
    {
        int skipped = 0;
        for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
            skipped |= v->string && !strcmp(v->string, skip[i]);
        if (!skipped && v->string)
            row(o, v->string, v);
    }
    sbuf_puts(o, "</table></div>");

    sbuf_puts(o, "<div class=\"card\"><h3>Data</h3><table>");
    const cJSON *data = item(r->run, "data");
    cJSON_ArrayForEach(v, data)
    {
        if (v->string)
            row(o, v->string, v);
    }
    row(o, "fathom version", item(r->run, "fathom_version"));
    row_text(o, "run log", p->log_path);
    sbuf_puts(o, "</table></div>");

    sbuf_puts(o, "<div class=\"card\"><h3>Result</h3><table>");
    if (r->end) {
        static const char *const keys[] = {"status", "epochs_run", "steps", "final_train_loss", "best_val_loss",
                                           "stopped_early", "vanishing_gradients"};
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            if (item(r->end, keys[i]))
                row(o, keys[i], item(r->end, keys[i]));
    } else {
        row_text(o, "status", "no end record");
    }
    if (r->n_epochs) {
        const report_epoch *e = &r->epochs[r->n_epochs - 1];
        char text[64];
        if (isfinite(e->val_metric)) {
            snprintf(text, sizeof text, "%.4g", e->val_metric);
            row_text(o, "last validation metric (accuracy, or RMSE in standard deviations)", text);
        }
        if (isfinite(e->elapsed_s)) {
            snprintf(text, sizeof text, "%.1f s (%.0f samples/s)", e->elapsed_s, e->samples_per_s);
            row_text(o, "time", text);
        }
    }
    sbuf_printf(o, "<tr><th>diagnose records</th><td>%zu (%d drawn)</td></tr>", r->diag_seen, r->n_diags);
    sbuf_puts(o, "</table></div>");

    const cJSON *diagnosis = item(r->end, "diagnosis");
    sbuf_puts(o, "<div class=\"card wide\"><h3>Diagnosis");
    if (r->n_diags)
        sbuf_printf(o, " <span class=\"dim\">(statistics of step %zu)</span>", r->diags[r->n_diags - 1].step + 1);
    sbuf_puts(o, "</h3>");
    if (cJSON_IsString(diagnosis)) {
        sbuf_puts(o, "<ul class=\"diagnosis\">");
        const char *s = diagnosis->valuestring;
        while (*s) {
            const char *nl = strchr(s, '\n');
            size_t len = nl ? (size_t)(nl - s) : strlen(s);
            if (len > 2 && s[0] == '-' && s[1] == ' ') {
                s += 2;
                len -= 2;
            }
            if (len) {
                char *line = malloc(len + 1);
                if (line) {
                    memcpy(line, s, len);
                    line[len] = 0;
                    sbuf_puts(o, "<li>");
                    sbuf_escape(o, line);
                    sbuf_puts(o, "</li>");
                    free(line);
                }
            }
            s += len + (nl ? 1 : 0);
        }
        sbuf_puts(o, "</ul>");
    } else {
        sbuf_puts(o, "<p class=\"dim\">No diagnosis in the log (train with --diagnose N).</p>");
    }
    sbuf_puts(o, "</div></section>\n");
    if (r->n_warnings) {
        sbuf_printf(o, "<section><h2>Warnings</h2><ul>");
        for (int i = 0; i < r->n_warnings; i++) {
            sbuf_printf(o, "<li>step %zu: ", r->warnings[i].step);
            sbuf_escape(o, r->warnings[i].message);
            sbuf_puts(o, "</li>");
        }
        if (r->warnings_seen > (size_t)r->n_warnings)
            sbuf_printf(o, "<li>… and %zu more</li>", r->warnings_seen - (size_t)r->n_warnings);
        sbuf_puts(o, "</ul></section>\n");
    }
}

static void section_loss(sbuf *o, const page *p)
{
    sbuf_puts(o, "<section><h2>Loss and learning rate</h2>\n");
    report_chart_loss(o, p->r, PAGE_WIDTH);
    report_chart_lr(o, p->r, PAGE_WIDTH);
    sbuf_puts(o, "</section>\n");
}

static void section_depth(sbuf *o, const page *p)
{
    const run_report *r = p->r;
    sbuf_puts(o, "<section><h2>Variance against depth</h2><p class=\"note\">Measured on the training batch of each "
                 "step (solid, with markers) beside theory (dashed and dotted): the mean-field recursion and the "
                 "lecture's linear-regime product for Var[z], the backward recursion from the output layer for "
                 "Var[dL/dz]. Parallel lines that fall or rise steadily from layer to layer are vanishing or "
                 "exploding signals.</p>\n");
    if (!r->n_diags) {
        sbuf_puts(o, "<p class=\"dim\">No diagnose records: train with --diagnose N to see these.</p></section>\n");
        return;
    }
    const report_diag *pick[3] = {&r->diags[0], NULL, &r->diags[r->n_diags - 1]};
    const char *names[3] = {"start", "middle", "end"};
    if (r->n_diags >= 3) {
        double mid = 0.5 * ((double)pick[0]->step + (double)pick[2]->step);
        int best = 1;
        for (int i = 1; i + 1 < r->n_diags; i++)
            if (fabs((double)r->diags[i].step - mid) < fabs((double)r->diags[best].step - mid))
                best = i;
        pick[1] = &r->diags[best];
    }
    int shown = r->n_diags == 1 ? 1 : r->n_diags == 2 ? 2 : 3;
    int width = shown == 1 ? PAGE_WIDTH : (PAGE_WIDTH - 10 * (shown - 1)) / shown;
    sbuf_puts(o, "<div class=\"row\">");
    for (int k = 0; k < 3; k++) {
        if (!pick[k] || (k == 2 && shown == 1))
            continue;
        char title[96];
        snprintf(title, sizeof title, "%s: step %zu (epoch %d)", names[k], pick[k]->step, pick[k]->epoch);
        report_chart_depth(o, r, pick[k], title, width);
    }
    sbuf_puts(o, "</div></section>\n");
}

static void section_heatmaps(sbuf *o, const page *p)
{
    const run_report *r = p->r;
    if (!r->n_diags)
        return;
    sbuf_puts(o, "<section><h2>Gradients by layer and step</h2><p class=\"note\">Each row a layer, each column a "
                 "step (averaged over neighbouring steps where there are more than fit). Dark rows at the top are "
                 "vanishing gradients; a bright band that spreads is an explosion. Hover for values.</p>\n");
    report_heatmap_grad(o, r, PAGE_WIDTH);
    sbuf_puts(o, "</section>\n<section><h2>Dead, saturated and inactive units</h2>\n");
    int any = 0;
    for (int which = 0; which < 3; which++)
        any |= report_heatmap_share(o, r, which, PAGE_WIDTH);
    if (!any)
        sbuf_puts(o, "<p class=\"dim\">No layer has a share that applies.</p>");
    sbuf_puts(o, "</section>\n<section><h2>Update-to-weight ratio</h2>\n");
    report_chart_update_ratio(o, r, PAGE_WIDTH);
    sbuf_puts(o, "</section>\n");
}

#define MAX_HISTOGRAMS 24

static void section_histograms(sbuf *o, const page *p)
{
    const run_report *r = p->r;
    int present = 0;
    for (int l = 0; l < r->n_layers; l++)
        present |= r->first_hist[l].present || r->last_hist[l].present;
    sbuf_puts(o, "<section><h2>Distribution of z per layer</h2>");
    if (!present) {
        sbuf_puts(o, "<p class=\"dim\">This log has no histograms (written by fathom 0.1.0 before they were added, "
                     "or without --diagnose).</p></section>\n");
        return;
    }
    int shown = r->n_layers < MAX_HISTOGRAMS ? r->n_layers : MAX_HISTOGRAMS;
    sbuf_printf(o, "<p class=\"note\"><span class=\"sw start\"></span> first diagnose step (%zu) &nbsp; "
                   "<span class=\"sw end\"></span> last (%zu); density per unit z, each over its batch.",
                r->diags[0].step, r->last_hist_step);
    if (shown < r->n_layers)
        sbuf_printf(o, " %d of %d layers, evenly spaced.", shown, r->n_layers);
    sbuf_puts(o, "</p><div class=\"grid\">");
    for (int k = 0; k < shown; k++) {
        int l = shown == r->n_layers ? k : (int)lround((double)k * (r->n_layers - 1) / (shown - 1));
        const report_hist *a = &r->first_hist[l], *b = &r->last_hist[l];
        svg_hist ha = {a->range, a->bins, a->present ? a->counts : NULL, a->outside, a->total};
        svg_hist hb = {b->range, b->bins, b->present ? b->counts : NULL, b->outside, b->total};
        char title[128];
        snprintf(title, sizeof title, "layer %d · %s", l + 1, r->act[l]);
        svg_histogram_render(o, title, &ha, r->diag_seen > 1 ? &hb : NULL, 290, 170);
    }
    sbuf_puts(o, "</div></section>\n");
}

/* Truth, prediction and residual on the grid (report_maps.c), when asked for. */
static void section_maps(sbuf *o, const page *p)
{
    if (p->maps)
        report_section_maps(o, p->maps, PAGE_WIDTH);
}

/* The page, in order. */
static void (*const SECTIONS[])(sbuf *, const page *) = {
    section_status, section_summary, section_maps, section_loss, section_depth, section_heatmaps, section_histograms,
};

static const char STYLE[] =
    "body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;color:#1b1b1b;margin:0;background:#f6f6f4}"
    "main{max-width:1220px;margin:0 auto;padding:14px 10px 40px}"
    "h1{font-size:22px;margin:6px 0 2px}h2{font-size:17px;margin:22px 0 6px;border-bottom:1px solid #ccc;"
    "padding-bottom:3px}h3{font-size:14px;margin:0 0 6px}"
    ".dim{color:#666}.note{color:#444;font-size:13px;max-width:1100px}"
    ".status{padding:9px 12px;border-radius:4px;margin:10px 0;font-size:14px;border-left:6px solid}"
    ".status.ok{background:#e6f4ee;border-color:#009E73}.status.bad{background:#fbe9df;border-color:#D55E00}"
    ".status.warn{background:#fdf3dc;border-color:#E69F00}"
    ".cards{display:flex;flex-wrap:wrap;gap:10px}.card{background:#fff;border:1px solid #ddd;border-radius:4px;"
    "padding:10px 12px;flex:1 1 300px;font-size:13px}.card.wide{flex-basis:100%}"
    "table{border-collapse:collapse}th{text-align:left;font-weight:normal;color:#555;padding:1px 12px 1px 0;"
    "vertical-align:top}td{padding:1px 0;overflow-wrap:anywhere}"
    "ul.diagnosis{margin:0;padding-left:18px}ul.diagnosis li{margin:3px 0}"
    "svg{display:block;margin:6px 0;background:#fff;border:1px solid #e2e2e2}"
    ".row{display:flex;gap:10px}.grid{display:flex;flex-wrap:wrap;gap:8px}.grid svg{margin:0}"
    ".sw{display:inline-block;width:14px;height:10px;vertical-align:middle}.sw.start{background:#56B4E9;"
    "border:1px solid #0072B2}.sw.end{border:2px solid #D55E00;height:7px}"
    "#tip{position:fixed;pointer-events:none;background:rgba(20,20,20,.88);color:#fff;font-size:12px;"
    "padding:4px 7px;border-radius:3px;display:none;white-space:nowrap}";

/* Hover values for heatmaps: each carries its cells in data- attributes;
 * the script maps the pointer to a cell and shows it. Sets data-ready on
 * <html> so that a test can see the script ran. */
static const char SCRIPT[] =
    "(function(){var tip=document.getElementById('tip');var maps=document.querySelectorAll('svg.heatmap');"
    "maps.forEach(function(svg){var d=svg.querySelector('.hm-data');if(!d)return;var g=function(k){"
    "return parseFloat(d.getAttribute('data-'+k))};var v=d.getAttribute('data-v').split(' ');"
    "var rows=g('rows'),cols=g('cols'),x0=g('x0'),x1=g('x1'),pct=g('percent');"
    "svg.addEventListener('mousemove',function(e){var b=svg.getBoundingClientRect();"
    "var vb=svg.viewBox.baseVal;var x=(e.clientX-b.left)*vb.width/b.width,y=(e.clientY-b.top)*vb.height/b.height;"
    "var c=Math.floor((x-g('px'))/g('pw')*cols),r=Math.floor((y-g('py'))/g('ph')*rows);"
    "if(c<0||r<0||c>=cols||r>=rows){tip.style.display='none';return}"
    "var s0=x0+(x1-x0)*c/cols,s1=x0+(x1-x0)*(c+1)/cols;var val=v[r*cols+c];"
    "tip.textContent='layer '+(r+1)+', steps '+Math.round(s0)+'–'+Math.round(s1)+': '+d.getAttribute("
    "'data-vlabel')+' = '+(val==='nan'?'no data':val==='inf'?'Inf or NaN':val+(pct?' %':''));"
    "tip.style.display='block';tip.style.left=(e.clientX+14)+'px';tip.style.top=(e.clientY+12)+'px'});"
    "svg.addEventListener('mouseleave',function(){tip.style.display='none'})});"
    "document.documentElement.setAttribute('data-ready','heatmaps:'+maps.length)})();";

fm_status fm_report_write(const char *jsonl_path, const char *html_path, fm_error *err)
{
    if (!jsonl_path || !html_path) /* checked here as well, so that the message names the function called */
        return fm_fail(err, FM_ERR_ARG, "fm_report_write: both paths are needed");
    return fm_report_write_maps(jsonl_path, html_path, NULL, err);
}

fm_status fm_report_write_maps(const char *jsonl_path, const char *html_path, const fm_report_maps *maps,
                               fm_error *err)
{
    if (!jsonl_path || !html_path)
        return fm_fail(err, FM_ERR_ARG, "fm_report_write_maps: both paths are needed");
    run_report r;
    fm_status st = report_read(jsonl_path, &r, err);
    if (st != FM_OK) {
        report_free(&r);
        return st;
    }
    report_maps_data map_data;
    if (maps && (st = report_maps_load(maps, &map_data, err)) != FM_OK) {
        report_free(&r);
        return st;
    }
    sbuf o = {0};
    sbuf_puts(&o, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>fathom run report: ");
    sbuf_escape(&o, jsonl_path);
    sbuf_printf(&o, "</title><style>%s</style></head>\n<body><main>\n<h1>fathom run report</h1>"
                    "<div class=\"dim\">",
                STYLE);
    sbuf_escape(&o, jsonl_path);
    sbuf_puts(&o, "</div>\n");
    page p = {&r, jsonl_path, maps ? &map_data : NULL};
    for (size_t i = 0; i < sizeof SECTIONS / sizeof SECTIONS[0]; i++)
        SECTIONS[i](&o, &p);
    sbuf_printf(&o, "</main><div id=\"tip\"></div>\n<script>%s</script>\n</body></html>\n", SCRIPT);
    if (o.failed)
        st = fm_fail(err, FM_ERR_NOMEM, "out of memory writing the report %s", html_path);
    else
        st = report_write_file(html_path, &o, err);
    sbuf_free(&o);
    report_free(&r);
    if (maps)
        report_maps_free(&map_data);
    return st;
}
