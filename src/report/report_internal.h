/* What the run-report sources share: the run log read into memory
 * (report_read.c), charts of it (report_charts.c) and the page (report_html.c). */
#ifndef FATHOM_REPORT_INTERNAL_H
#define FATHOM_REPORT_INTERNAL_H

#include "fathom.h"

#include "svg.h"

#include <cjson/cJSON.h>

/* Diagnose records kept for the time series: when more arrive, every other
 * one is dropped and the spacing doubles, so a run of any length needs a
 * bounded amount of memory and still covers its whole span evenly. */
#define REPORT_MAX_DIAGNOSE 2048

typedef struct report_hist {
    int present;
    double range;
    int bins;
    double counts[FM_HISTOGRAM_MAX_BINS];
    double outside, total;
} report_hist;

typedef struct report_diag {
    size_t index;   /* among all diagnose records of the log */
    size_t step;
    int epoch;
    double loss, lr;
    fm_layer_stats *stats; /* [n_layers] */
    double *update_ratio;  /* [n_layers] */
} report_diag;

typedef struct report_epoch {
    int epoch;
    size_t step;
    double lr, train_loss, val_loss, val_metric, samples_per_s, elapsed_s;
} report_epoch;

typedef struct report_warning {
    size_t step;
    char *message;
} report_warning;

typedef struct run_report {
    cJSON *run; /* the run record */
    cJSON *end; /* the end record, NULL when the log stops before it */
    int n_layers;
    char **act; /* activation text per layer */
    report_diag *diags; /* kept diagnose records, in order; the last record always among them */
    int n_diags;
    size_t diag_seen, stride;
    report_diag last;       /* the latest record read (scratch while reading) */
    report_hist *first_hist, *last_hist; /* [n_layers]: of the first and the last diagnose record with them */
    size_t last_hist_step;               /* the step of last_hist */
    report_hist hist_scratch;            /* one layer's histogram while a record is read */
    report_epoch *epochs;
    int n_epochs, cap_epochs;
    report_warning *warnings;
    int n_warnings;
    size_t warnings_seen;
    int first_nonfinite_layer;  /* forward, 1-based; 0 if none was seen */
    size_t first_nonfinite_step;
    int skipped_lines;          /* a truncated last line */
} run_report;

fm_status report_read(const char *path, run_report *r, fm_error *err);
void report_free(run_report *r);

/* The report's charts, each a complete <svg>. */
void report_chart_loss(sbuf *o, const run_report *r, int width);
void report_chart_lr(sbuf *o, const run_report *r, int width);
void report_chart_depth(sbuf *o, const run_report *r, const report_diag *d, const char *title, int width);
void report_heatmap_grad(sbuf *o, const run_report *r, int width);
/* which: 0 dead, 1 saturated, 2 inactive; nothing when no layer has the column. */
int report_heatmap_share(sbuf *o, const run_report *r, int which, int width);
void report_chart_update_ratio(sbuf *o, const run_report *r, int width);

/* Curves of variance against depth (shared with fm_plot_depth_svg): Var[z]
 * (backward = 0) or Var[dL/dz] (backward = 1), measured and theory, of each
 * curve. */
void report_depth_panel(sbuf *o, const fm_depth_curve *curves, int n_curves, int backward, const char *title,
                        int width, int height);

/* Maps of a prediction file (report_maps.c): the slice of NAME_prediction
 * and NAME_residual, and the truth as their difference. */
typedef struct report_maps_data {
    const char *path;
    size_t slice;
    char pred_name[256], name[256]; /* "TEMP_prediction", "TEMP" */
    fm_grid_slice pred, resid;
    double *truth; /* [nlat][nlon], NaN where either is missing */
} report_maps_data;

/* Reads everything the section needs; a bad file fails here, before the page. */
fm_status report_maps_load(const fm_report_maps *opt, report_maps_data *m, fm_error *err);
void report_maps_free(report_maps_data *m);
void report_section_maps(sbuf *o, const report_maps_data *m, int width);

/* Write a buffer to path atomically. */
fm_status report_write_file(const char *path, const sbuf *b, fm_error *err);

#endif
