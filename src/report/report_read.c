/* Reading a run log (docs/formats.md, "Run log") into a run_report: the run
 * and end records as JSON, epochs in full, and diagnose records thinned to
 * at most REPORT_MAX_DIAGNOSE evenly spaced ones plus the last. */
#include "report_internal.h"

#include "core/internal.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double number_or_nan(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static int flag(const cJSON *o, const char *name) { return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, name)); }

typedef struct field {
    const char *name;
    size_t offset;
} field;

#define FIELD(f) {#f, offsetof(fm_layer_stats, f)}
static const field FIELDS[] = {
    FIELD(var_w),     FIELD(mean_z),           FIELD(var_z),       FIELD(var_z_linear), FIELD(var_z_meanfield),
    FIELD(mean_a),    FIELD(var_a),            FIELD(saturated),   FIELD(dead),         FIELD(inactive),
    FIELD(var_delta), FIELD(var_delta_theory), FIELD(grad_w_norm), FIELD(chi1),
};

static void parse_hist(const cJSON *layer, report_hist *h)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(layer, "z_hist");
    const cJSON *counts = cJSON_GetObjectItemCaseSensitive(o, "counts");
    h->present = 0;
    int bins = cJSON_GetArraySize(counts);
    double range = number_or_nan(o, "range");
    if (!cJSON_IsArray(counts) || bins < 1 || bins > FM_HISTOGRAM_MAX_BINS || !(range > 0) || !isfinite(range))
        return;
    double total = 0.0;
    int b = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, counts)
    {
        double v = cJSON_IsNumber(c) && c->valuedouble >= 0 ? c->valuedouble : 0.0;
        h->counts[b++] = v;
        total += v;
    }
    double outside = 0.0;
    static const char *const extra[] = {"below", "above", "nonfinite"};
    for (int i = 0; i < 3; i++) {
        double v = number_or_nan(o, extra[i]);
        if (v > 0)
            outside += v;
    }
    h->present = 1;
    h->range = range;
    h->bins = bins;
    h->outside = outside;
    h->total = total + outside;
}

/* A count read from a log: NaN, negative or beyond max (a damaged or hostile
 * log) becomes 0 rather than an undefined conversion to an integer. */
static double count_or_zero(double v, double max) { return v >= 0.0 && v <= max ? v : 0.0; }

/* One diagnose record into r->last (and its histograms into r->last_hist). */
static fm_status parse_diagnose(run_report *r, const cJSON *o, size_t line, const char *path, fm_error *err)
{
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(o, "layers");
    if (!cJSON_IsArray(layers) || cJSON_GetArraySize(layers) != r->n_layers)
        return fm_fail(err, FM_ERR_FORMAT, "%s line %zu: a diagnose record needs %d layers like the run record", path,
                       line, r->n_layers);
    report_diag *d = &r->last;
    d->step = (size_t)count_or_zero(number_or_nan(o, "step"), 1e15);
    d->epoch = (int)count_or_zero(number_or_nan(o, "epoch"), 1e9);
    d->loss = number_or_nan(o, "loss");
    d->lr = number_or_nan(o, "lr");
    int l = 0;
    const cJSON *layer;
    cJSON_ArrayForEach(layer, layers)
    {
        fm_layer_stats *s = &d->stats[l];
        memset(s, 0, sizeof *s);
        s->layer = l + 1;
        s->n_in = (int)count_or_zero(number_or_nan(layer, "n_in"), FM_MAX_WIDTH);
        s->n_out = (int)count_or_zero(number_or_nan(layer, "n_out"), FM_MAX_WIDTH);
        for (size_t f = 0; f < sizeof FIELDS / sizeof FIELDS[0]; f++) {
            double value = number_or_nan(layer, FIELDS[f].name);
            memcpy((char *)s + FIELDS[f].offset, &value, sizeof value);
        }
        s->nonfinite = (flag(layer, "nonfinite_forward") ? FM_NONFINITE_FORWARD : 0) |
                       (flag(layer, "nonfinite_backward") ? FM_NONFINITE_BACKWARD : 0);
        d->update_ratio[l] = number_or_nan(layer, "update_ratio");
        /* Histograms are in some records only (run_log.h): keep the last seen. */
        parse_hist(layer, &r->hist_scratch);
        if (r->hist_scratch.present) {
            r->last_hist[l] = r->hist_scratch;
            r->last_hist_step = d->step;
        }
        if ((s->nonfinite & FM_NONFINITE_FORWARD) && !r->first_nonfinite_layer) {
            r->first_nonfinite_layer = l + 1;
            r->first_nonfinite_step = d->step;
        }
        l++;
    }
    return FM_OK;
}

static void diag_free(report_diag *d)
{
    free(d->stats);
    free(d->update_ratio);
    d->stats = NULL;
    d->update_ratio = NULL;
}

static fm_status diag_copy(const run_report *r, const report_diag *from, report_diag *to, fm_error *err)
{
    *to = *from;
    to->stats = fm_alloc_array((size_t)r->n_layers, sizeof *to->stats);
    to->update_ratio = fm_alloc_array((size_t)r->n_layers, sizeof *to->update_ratio);
    if (!to->stats || !to->update_ratio) {
        diag_free(to);
        return fm_fail(err, FM_ERR_NOMEM, "out of memory reading the run log");
    }
    memcpy(to->stats, from->stats, (size_t)r->n_layers * sizeof *to->stats);
    memcpy(to->update_ratio, from->update_ratio, (size_t)r->n_layers * sizeof *to->update_ratio);
    return FM_OK;
}

/* Keep r->last when it falls on the current spacing. */
static fm_status keep_diagnose(run_report *r, fm_error *err)
{
    size_t index = r->diag_seen++;
    r->last.index = index;
    if (index == 0)
        memcpy(r->first_hist, r->last_hist, (size_t)r->n_layers * sizeof *r->first_hist);
    if (index % r->stride != 0)
        return FM_OK;
    if (r->n_diags == REPORT_MAX_DIAGNOSE) {
        int kept = 0;
        for (int i = 0; i < r->n_diags; i++) {
            if (r->diags[i].index % (2 * r->stride) == 0)
                r->diags[kept++] = r->diags[i];
            else
                diag_free(&r->diags[i]);
        }
        r->n_diags = kept;
        r->stride *= 2;
        if (index % r->stride != 0)
            return FM_OK;
    }
    return diag_copy(r, &r->last, &r->diags[r->n_diags++], err);
}

static fm_status parse_run(run_report *r, cJSON *o, const char *path, fm_error *err)
{
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(o, "layers");
    int n = cJSON_GetArraySize(layers);
    r->run = o; /* freed with the report from here on */
    if (!cJSON_IsArray(layers) || n < 1 || n > FM_MAX_LAYERS)
        return fm_fail(err, FM_ERR_FORMAT, "%s: the run record has no layers", path);
    r->n_layers = n;
    r->act = calloc((size_t)n, sizeof *r->act);
    r->diags = fm_calloc_array(REPORT_MAX_DIAGNOSE + 1, sizeof *r->diags);
    r->last.stats = fm_calloc_array((size_t)n, sizeof *r->last.stats);
    r->last.update_ratio = fm_calloc_array((size_t)n, sizeof *r->last.update_ratio);
    r->first_hist = fm_calloc_array((size_t)n, sizeof *r->first_hist);
    r->last_hist = fm_calloc_array((size_t)n, sizeof *r->last_hist);
    if (!r->act || !r->diags || !r->last.stats || !r->last.update_ratio || !r->first_hist || !r->last_hist)
        return fm_fail(err, FM_ERR_NOMEM, "out of memory reading the run log");
    int l = 0;
    const cJSON *layer;
    cJSON_ArrayForEach(layer, layers)
    {
        const cJSON *act = cJSON_GetObjectItemCaseSensitive(layer, "activation");
        r->act[l] = fm_strdup(cJSON_IsString(act) ? act->valuestring : "?");
        if (!r->act[l])
            return fm_fail(err, FM_ERR_NOMEM, "out of memory reading the run log");
        l++;
    }
    return FM_OK;
}

static fm_status parse_epoch(run_report *r, const cJSON *o, fm_error *err)
{
    if (r->n_epochs == r->cap_epochs) {
        int cap = r->cap_epochs ? 2 * r->cap_epochs : 64;
        report_epoch *e = realloc(r->epochs, (size_t)cap * sizeof *e);
        if (!e)
            return fm_fail(err, FM_ERR_NOMEM, "out of memory reading the run log");
        r->epochs = e;
        r->cap_epochs = cap;
    }
    report_epoch *e = &r->epochs[r->n_epochs++];
    e->epoch = (int)count_or_zero(number_or_nan(o, "epoch"), 1e9);
    e->step = (size_t)count_or_zero(number_or_nan(o, "step"), 1e15);
    e->lr = number_or_nan(o, "lr");
    e->train_loss = number_or_nan(o, "train_loss");
    e->val_loss = number_or_nan(o, "val_loss");
    e->val_metric = number_or_nan(o, "val_metric");
    e->samples_per_s = number_or_nan(o, "samples_per_s");
    e->elapsed_s = number_or_nan(o, "elapsed_s");
    return FM_OK;
}

#define REPORT_MAX_WARNINGS 20

static fm_status parse_warning(run_report *r, const cJSON *o, fm_error *err)
{
    r->warnings_seen++;
    if (r->n_warnings == REPORT_MAX_WARNINGS)
        return FM_OK;
    if (!r->warnings && !(r->warnings = calloc(REPORT_MAX_WARNINGS, sizeof *r->warnings)))
        return fm_fail(err, FM_ERR_NOMEM, "out of memory reading the run log");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "message");
    report_warning *w = &r->warnings[r->n_warnings++];
    w->step = (size_t)count_or_zero(number_or_nan(o, "step"), 1e15);
    w->message = fm_strdup(cJSON_IsString(m) ? m->valuestring : "");
    return w->message ? FM_OK : fm_fail(err, FM_ERR_NOMEM, "out of memory reading the run log");
}

static fm_status parse_line(run_report *r, char *text, size_t line, const char *path, fm_error *err)
{
    cJSON *o = cJSON_Parse(text);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return fm_fail(err, FM_ERR_FORMAT, "%s line %zu is not a JSON object", path, line);
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "type");
    const char *t = cJSON_IsString(type) ? type->valuestring : "";
    fm_status st = FM_OK;
    if (!strcmp(t, "run")) {
        if (r->run) {
            cJSON_Delete(o);
            return fm_fail(err, FM_ERR_FORMAT, "%s line %zu: a second run record (one log per run)", path, line);
        }
        return parse_run(r, o, path, err); /* keeps o */
    }
    if (!r->run && (!strcmp(t, "diagnose") || !strcmp(t, "epoch") || !strcmp(t, "end")))
        st = fm_fail(err, FM_ERR_FORMAT, "%s line %zu: a %s record before the run record", path, line, t);
    else if (!strcmp(t, "diagnose")) {
        st = parse_diagnose(r, o, line, path, err);
        if (st == FM_OK)
            st = keep_diagnose(r, err);
    } else if (!strcmp(t, "epoch"))
        st = parse_epoch(r, o, err);
    else if (!strcmp(t, "warning"))
        st = parse_warning(r, o, err);
    else if (!strcmp(t, "end")) {
        cJSON_Delete(r->end);
        r->end = o;
        return FM_OK;
    }
    /* Other types are ignored: newer writers may add records. */
    cJSON_Delete(o);
    return st;
}

fm_status report_read(const char *path, run_report *r, fm_error *err)
{
    memset(r, 0, sizeof *r);
    r->stride = 1;
    FILE *f = fopen(path, "r");
    if (!f)
        return fm_fail(err, FM_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    char *text = NULL;
    size_t cap = 0, line = 0;
    ssize_t len;
    fm_status st = FM_OK;
    while (st == FM_OK && (len = getline(&text, &cap, f)) >= 0) {
        line++;
        int complete = len > 0 && text[len - 1] == '\n';
        while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
            text[--len] = 0;
        if (len == 0)
            continue;
        st = parse_line(r, text, line, path, err);
        if (st == FM_ERR_FORMAT && !complete) {
            /* The last line of a run that was killed mid-write. */
            st = FM_OK;
            r->skipped_lines++;
        }
    }
    if (st == FM_OK && ferror(f))
        st = fm_fail(err, FM_ERR_IO, "cannot read %s", path);
    free(text);
    fclose(f);
    if (st == FM_OK && !r->run)
        st = fm_fail(err, FM_ERR_FORMAT, "%s has no run record: is it a run log of fathom train --log?", path);
    if (st == FM_OK && r->diag_seen > 0 && (r->n_diags == 0 || r->diags[r->n_diags - 1].index != r->last.index))
        st = diag_copy(r, &r->last, &r->diags[r->n_diags++], err);
    return st;
}

void report_free(run_report *r)
{
    cJSON_Delete(r->run);
    cJSON_Delete(r->end);
    if (r->act)
        for (int l = 0; l < r->n_layers; l++)
            free(r->act[l]);
    free(r->act);
    if (r->diags)
        for (int i = 0; i < r->n_diags; i++)
            diag_free(&r->diags[i]);
    free(r->diags);
    diag_free(&r->last);
    free(r->first_hist);
    free(r->last_hist);
    free(r->epochs);
    for (int i = 0; i < r->n_warnings; i++)
        free(r->warnings[i].message);
    free(r->warnings);
    memset(r, 0, sizeof *r);
}
