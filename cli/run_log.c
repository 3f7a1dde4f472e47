#include "run_log.h"

#include "cli.h"

#include "probe_output.h"

#include <errno.h>
#include <math.h>
#include <string.h>

fm_status run_log_open(run_log *log, const char *path, fm_error *err)
{
    log->path = path;
    log->failed = 0;
    log->hist_written = 0;
    log->hist_step = 0;
    log->file = fopen(path, "w");
    if (!log->file)
        return cli_fail_io(err, path, errno);
    return FM_OK;
}

void run_log_write(run_log *log, cJSON *object)
{
    if (!object)
        return;
    if (log->file) {
        char *text = cJSON_PrintUnformatted(object);
        if (!text || fprintf(log->file, "%s\n", text) < 0 || fflush(log->file) != 0)
            log->failed = 1;
        cJSON_free(text);
    }
    cJSON_Delete(object);
}

fm_status run_log_close(run_log *log, fm_error *err)
{
    if (!log->file)
        return FM_OK;
    int bad = fclose(log->file) != 0 || log->failed;
    log->file = NULL;
    if (bad)
        return fm_error_set(err, FM_ERR_IO, "cannot write the run log %s completely", log->path);
    return FM_OK;
}

static void add_number(cJSON *o, const char *name, double v)
{
    if (isfinite(v))
        cJSON_AddNumberToObject(o, name, v);
    else
        cJSON_AddNullToObject(o, name);
}

void run_log_start(run_log *log, fm_net *net, const char *loss, const char *settings, const char *data_path,
                   size_t train_rows, size_t val_rows)
{
    if (!log->file)
        return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "run");
    cJSON_AddStringToObject(o, "fathom_version", FM_VERSION_STRING);
    cJSON_AddStringToObject(o, "loss", loss);
    cJSON_AddNumberToObject(o, "n_in", fm_net_n_in(net));
    cJSON *layers = cJSON_AddArrayToObject(o, "layers");
    int n_in = fm_net_n_in(net);
    for (int l = 0; l < fm_net_n_layers(net); l++) {
        const fm_layer_spec *s = fm_net_layer(net, l);
        char act[96], init[96];
        fm_activation_format(&s->act, act, sizeof act);
        fm_init_format(&s->init, init, sizeof init);
        cJSON *layer = cJSON_CreateObject();
        cJSON_AddNumberToObject(layer, "n_in", n_in);
        cJSON_AddNumberToObject(layer, "n_out", s->n_out);
        cJSON_AddStringToObject(layer, "activation", act);
        cJSON_AddStringToObject(layer, "init", init);
        add_number(layer, "init_var_w", fm_init_variance(&s->init, &s->act, n_in, s->n_out));
        cJSON_AddNumberToObject(layer, "dropout", s->dropout);
        cJSON_AddItemToArray(layers, layer);
        n_in = s->n_out;
    }
    cJSON *parsed = settings ? cJSON_Parse(settings) : NULL;
    if (parsed)
        cJSON_AddItemToObject(o, "settings", parsed);
    cJSON *data = cJSON_AddObjectToObject(o, "data");
    cJSON_AddStringToObject(data, "path", data_path);
    cJSON_AddNumberToObject(data, "train_rows", (double)train_rows);
    cJSON_AddNumberToObject(data, "val_rows", (double)val_rows);
    run_log_write(log, o);
}

/* "z_hist": {"range": R, "counts": [RUN_LOG_HISTOGRAM_BINS], "below", "above",
 * "nonfinite"} of the layer's z from the batch in hand (the training step's
 * forward pass: the optimiser step that followed does not touch z). */
static void add_histogram(cJSON *layer, fm_net *net, int l)
{
    uint64_t counts[RUN_LOG_HISTOGRAM_BINS];
    fm_histogram info;
    if (fm_z_histogram(net, l, 0.0, RUN_LOG_HISTOGRAM_BINS, counts, &info, NULL) != FM_OK || info.total == 0)
        return;
    cJSON *h = cJSON_AddObjectToObject(layer, "z_hist");
    cJSON_AddNumberToObject(h, "range", info.range);
    cJSON *c = cJSON_AddArrayToObject(h, "counts");
    for (int b = 0; b < RUN_LOG_HISTOGRAM_BINS; b++)
        cJSON_AddItemToArray(c, cJSON_CreateNumber((double)counts[b]));
    cJSON_AddNumberToObject(h, "below", (double)info.below);
    cJSON_AddNumberToObject(h, "above", (double)info.above);
    cJSON_AddNumberToObject(h, "nonfinite", (double)info.nonfinite);
}

void run_log_diagnose(run_log *log, fm_net *net, const fm_train_progress *p, const fm_layer_stats *stats,
                      const double *update_ratio)
{
    if (!log->file)
        return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "diagnose");
    cJSON_AddNumberToObject(o, "epoch", p->epoch + 1);
    cJSON_AddNumberToObject(o, "step", (double)p->step);
    add_number(o, "loss", p->batch_loss);
    add_number(o, "lr", p->lr);
    int histograms = !log->hist_written || p->step >= log->hist_step + RUN_LOG_HISTOGRAM_STEPS;
    if (histograms) {
        log->hist_written = 1;
        log->hist_step = p->step;
    }
    cJSON *layers = cJSON_AddArrayToObject(o, "layers");
    for (int l = 0; l < fm_net_n_layers(net); l++) {
        cJSON *layer = probe_layer_json(net, &stats[l]);
        add_number(layer, "update_ratio", update_ratio[l]);
        if (histograms)
            add_histogram(layer, net, l);
        cJSON_AddItemToArray(layers, layer);
    }
    run_log_write(log, o);
}

void run_log_epoch(run_log *log, const fm_train_progress *p)
{
    if (!log->file)
        return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "epoch");
    cJSON_AddNumberToObject(o, "epoch", p->epoch + 1);
    cJSON_AddNumberToObject(o, "step", (double)p->step);
    add_number(o, "lr", p->lr);
    add_number(o, "train_loss", p->train_loss);
    add_number(o, "val_loss", p->val_loss);
    add_number(o, "val_metric", p->val_metric);
    add_number(o, "samples_per_s", p->samples_per_s);
    add_number(o, "elapsed_s", p->elapsed_s);
    run_log_write(log, o);
}

void run_log_warning(run_log *log, size_t step, const char *message)
{
    if (!log->file)
        return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "warning");
    cJSON_AddNumberToObject(o, "step", (double)step);
    cJSON_AddStringToObject(o, "message", message);
    run_log_write(log, o);
}

void run_log_end(run_log *log, const char *status, const char *message, const fm_train_result *res,
                 const char *diagnosis)
{
    if (!log->file)
        return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "end");
    cJSON_AddStringToObject(o, "status", status);
    if (message && *message)
        cJSON_AddStringToObject(o, "message", message);
    cJSON_AddNumberToObject(o, "epochs_run", res->epochs_run);
    cJSON_AddNumberToObject(o, "steps", (double)res->steps);
    add_number(o, "final_train_loss", res->final_train_loss);
    add_number(o, "best_val_loss", res->best_val_loss);
    cJSON_AddBoolToObject(o, "stopped_early", res->stopped_early);
    cJSON_AddBoolToObject(o, "diverged", res->diverged);
    cJSON_AddBoolToObject(o, "vanishing_gradients", res->vanishing_warned);
    if (diagnosis)
        cJSON_AddStringToObject(o, "diagnosis", diagnosis);
    run_log_write(log, o);
}
