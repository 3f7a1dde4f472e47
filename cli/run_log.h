/* The JSON Lines run log of fathom train: one object per line, each with a
 * "type" (run, diagnose, epoch, warning, end); the report reads only this.
 * Format documented in docs/formats.md. */
#ifndef FATHOM_RUN_LOG_H
#define FATHOM_RUN_LOG_H

#include "fathom.h"

#include <cjson/cJSON.h>
#include <stdio.h>

/* Bins of the histogram of z in each layer of a diagnose record. */
#define RUN_LOG_HISTOGRAM_BINS 32
/* Histograms go into the first diagnose record and then into one record in
 * every RUN_LOG_HISTOGRAM_STEPS training steps at most: the report draws only
 * the first and the last, and binning every layer's z every step was a third
 * of the cost of --diagnose 1 (docs/benchmarks.md). */
#define RUN_LOG_HISTOGRAM_STEPS 16

typedef struct run_log {
    FILE *file;
    const char *path;
    int failed;          /* a write failed: reported once at the end */
    int hist_written;    /* a record with histograms has been written */
    size_t hist_step;    /* the step of the last one */
} run_log;

/* Open (truncate) the log; FM_ERR_IO naming the path on failure. */
fm_status run_log_open(run_log *log, const char *path, fm_error *err);

/* Write one object as a line and free it (no-op without a file). */
void run_log_write(run_log *log, cJSON *object);

/* Close; FM_ERR_IO if any write failed. */
fm_status run_log_close(run_log *log, fm_error *err);

/* The records. `settings` is a JSON object text (the model's training settings). */
void run_log_start(run_log *log, fm_net *net, const char *loss, const char *settings, const char *data_path,
                   size_t train_rows, size_t val_rows);
void run_log_diagnose(run_log *log, fm_net *net, const fm_train_progress *p, const fm_layer_stats *stats,
                      const double *update_ratio);
void run_log_epoch(run_log *log, const fm_train_progress *p);
void run_log_warning(run_log *log, size_t step, const char *message);
void run_log_end(run_log *log, const char *status, const char *message, const fm_train_result *res,
                 const char *diagnosis);

#endif
