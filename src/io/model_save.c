/* Saving a model file (layout in model_file_internal.h and docs/formats.md): the
 * model is checked first, so that a file that would be refused on load is never
 * written, then the header is built in memory and everything is written through
 * one atomic temporary-file-and-rename (io_files.c). */
#include "io/io_internal.h"
#include "io/model_file_internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for an activation, initialiser or loss in canonical text form. */
#define FM_SPEC_TEXT 160

/* A JSON string literal: quotes, backslashes and control characters escaped,
 * UTF-8 passed through (the caller has checked it). */
static void json_string(fm_text_buf *tb, const char *s)
{
    fm_tb_append(tb, "\"", 1);
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        fm_tb_append(tb, run, (size_t)(s - run));
        char esc[8];
        if (c == '"' || c == '\\')
            snprintf(esc, sizeof esc, "\\%c", c);
        else if (c == '\n')
            snprintf(esc, sizeof esc, "\\n");
        else if (c == '\t')
            snprintf(esc, sizeof esc, "\\t");
        else
            snprintf(esc, sizeof esc, "\\u%04x", c);
        fm_tb_puts(tb, esc);
        run = s + 1;
    }
    fm_tb_append(tb, run, (size_t)(s - run));
    fm_tb_append(tb, "\"", 1);
}

static fm_status check_names(char *const *names, int count, const char *what, fm_error *err)
{
    for (int i = 0; i < count; i++) {
        if (!names[i])
            return fm_fail(err, FM_ERR_ARG, "model save: %s name %d is NULL", what, i);
        if (!fm_utf8_valid(names[i]))
            return fm_fail(err, FM_ERR_ARG, "model save: %s name %d is not valid UTF-8 (the model file's header must be)",
                           what, i);
    }
    return FM_OK;
}

static fm_status check_standardizer(const fm_standardizer *s, int n, const char *what, fm_error *err)
{
    if (!s)
        return FM_OK;
    if (s->n != n || !s->mean || !s->std)
        return fm_fail(err, FM_ERR_ARG, "model save: %s standardizer has %d columns, the network %d", what, s->n, n);
    for (int j = 0; j < n; j++)
        if (!isfinite(s->mean[j]) || !isfinite(s->std[j]) || !(s->std[j] > 0.0f))
            return fm_fail(err, FM_ERR_ARG, "model save: %s standardizer column %d has mean %g, std %g", what, j,
                           (double)s->mean[j], (double)s->std[j]);
    return FM_OK;
}

/* The "model" metadata: architecture, loss, seed and names as compact JSON. */
static fm_status model_json_text(const fm_model *model, char **out, fm_error *err)
{
    const fm_net *net = model->net;
    int n_layers = fm_net_n_layers(net);
    char text[FM_SPEC_TEXT];
    int ok = 1;

    cJSON *root = cJSON_CreateObject();
    ok = ok && root && cJSON_AddNumberToObject(root, "n_in", fm_net_n_in(net));
    cJSON *layers = ok ? cJSON_AddArrayToObject(root, "layers") : NULL;
    ok = ok && layers;
    for (int i = 0; ok && i < n_layers; i++) {
        const fm_layer_spec *spec = fm_net_layer(net, i);
        cJSON *layer = cJSON_CreateObject();
        if (!layer || !cJSON_AddItemToArray(layers, layer)) {
            cJSON_Delete(layer);
            ok = 0;
            break;
        }
        ok = cJSON_AddNumberToObject(layer, "n_out", spec->n_out) != NULL;
        fm_activation_format(&spec->act, text, sizeof text);
        ok = ok && cJSON_AddStringToObject(layer, "activation", text);
        fm_init_format(&spec->init, text, sizeof text);
        ok = ok && cJSON_AddStringToObject(layer, "init", text);
        ok = ok && cJSON_AddNumberToObject(layer, "dropout", spec->dropout);
    }
    fm_loss_format(&model->loss, text, sizeof text);
    ok = ok && cJSON_AddStringToObject(root, "loss", text);
    snprintf(text, sizeof text, "%" PRIu64, fm_net_seed(net));
    ok = ok && cJSON_AddStringToObject(root, "seed", text);
    if (ok && model->in_names) {
        cJSON *names = cJSON_CreateStringArray((const char *const *)model->in_names, fm_net_n_in(net));
        ok = names && cJSON_AddItemToObject(root, "input_names", names);
        if (!ok)
            cJSON_Delete(names);
    }
    if (ok && model->out_names && model->n_target_names > 0) {
        cJSON *names = cJSON_CreateStringArray((const char *const *)model->out_names, model->n_target_names);
        ok = names && cJSON_AddItemToObject(root, "target_names", names);
        if (!ok)
            cJSON_Delete(names);
    }
    char *printed = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!printed)
        return fm_fail(err, FM_ERR_NOMEM, "model save: out of memory building the metadata");
    *out = printed;
    return FM_OK;
}

/* Checks the model and fills the tensor table with sources and offsets. */
static fm_status save_prepare(const fm_model *model, fm_model_tensor *t, int *widths, uint64_t *data_size, fm_error *err)
{
    fm_net *net = model->net;
    int n_in = fm_net_n_in(net), n_layers = fm_net_n_layers(net);
    for (int i = 0; i < n_layers; i++) {
        const fm_layer_spec *spec = fm_net_layer(net, i);
        widths[i] = spec->n_out;
        if (!isfinite(spec->dropout) || spec->dropout < 0 || spec->dropout >= 1)
            return fm_fail(err, FM_ERR_ARG, "model save: layer %d has dropout %g", i, spec->dropout);
    }
    fm_tensor_table_shapes(t, n_in, widths, n_layers);
    int n_out = widths[n_layers - 1];
    fm_status status = check_standardizer(model->input_std, n_in, "input", err);
    if (status == FM_OK)
        status = check_standardizer(model->target_std, n_out, "target", err);
    if (status != FM_OK)
        return status;
    fm_error sub;
    if (fm_loss_check(&model->loss, &fm_net_layer(net, n_layers - 1)->act, &sub) != FM_OK)
        return fm_fail(err, FM_ERR_ARG, "model save: %s", sub.message);

    for (int i = 0; i < n_layers; i++) {
        t[2 * i].data = fm_net_weight(net, i);
        t[2 * i + 1].data = fm_net_bias(net, i);
        t[2 * i].present = t[2 * i + 1].present = 1;
    }
    int base = 2 * n_layers;
    if (model->input_std) {
        t[base + FM_EXTRA_INPUT_MEAN].data = model->input_std->mean;
        t[base + FM_EXTRA_INPUT_STD].data = model->input_std->std;
        t[base + FM_EXTRA_INPUT_MEAN].present = t[base + FM_EXTRA_INPUT_STD].present = 1;
    }
    if (model->target_std) {
        t[base + FM_EXTRA_TARGET_MEAN].data = model->target_std->mean;
        t[base + FM_EXTRA_TARGET_STD].data = model->target_std->std;
        t[base + FM_EXTRA_TARGET_MEAN].present = t[base + FM_EXTRA_TARGET_STD].present = 1;
    }

    uint64_t offset = 0;
    for (int k = 0; k < base + FM_EXTRA_COUNT; k++) {
        if (!t[k].present)
            continue;
        /* A file with a NaN weight would be refused on load: refuse it now. */
        for (uint64_t e = 0; e < t[k].count; e++) {
            if (!isfinite(t[k].data[e])) {
                char name[48];
                fm_tensor_name(k, n_layers, name, sizeof name);
                return fm_fail(err, FM_ERR_NUMERIC, "model save: %s has a non-finite value (%g) at element %" PRIu64,
                               name, (double)t[k].data[e], e);
            }
        }
        t[k].begin = offset;
        offset += 4 * t[k].count;
        t[k].end = offset;
    }
    *data_size = offset;
    return FM_OK;
}

/* The JSON header, padded with spaces so that 8 + its length is a multiple of 8
 * (the data section then starts 8-byte aligned, as safetensors recommends). */
static fm_status build_header(const fm_model *model, const fm_model_tensor *t, int n_tensors, const char *model_text,
                              const char *checkpoint_json, const fm_extra_tensor *extras, int n_extra,
                              uint64_t data_size, fm_text_buf *tb, fm_error *err)
{
    int n_layers = fm_net_n_layers(model->net);
    fm_tb_puts(tb, "{\"__metadata__\":{\"format\":\"fathom\",\"format_version\":");
    fm_tb_printf(tb, "\"%d\"", FM_MODEL_FORMAT_VERSION);
    fm_tb_puts(tb, ",\"fathom_version\":");
    json_string(tb, FM_VERSION_STRING);
    fm_tb_puts(tb, ",\"model\":");
    json_string(tb, model_text);
    if (model->training_json) {
        fm_tb_puts(tb, ",\"training\":");
        json_string(tb, model->training_json);
    }
    if (checkpoint_json) {
        fm_tb_puts(tb, ",\"checkpoint\":");
        json_string(tb, checkpoint_json);
    }
    fm_tb_puts(tb, "}");
    for (int k = 0; k < n_tensors; k++) {
        if (!t[k].present)
            continue;
        char name[48], shape[64];
        fm_tensor_name(k, n_layers, name, sizeof name);
        fm_tensor_shape_text(&t[k], shape, sizeof shape);
        fm_tb_printf(tb, ",\"%s\":{\"dtype\":\"F32\",\"shape\":%s,\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", name,
                  shape, t[k].begin, t[k].end);
    }
    /* Checkpoint tensors follow the model's, in the order given. */
    uint64_t offset = data_size;
    for (int e = 0; e < n_extra; e++) {
        uint64_t bytes = extras[e].count * (extras[e].u64 ? 8u : 4u);
        fm_tb_printf(tb, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%" PRIu64 "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}",
                     extras[e].name, extras[e].u64 ? "U64" : "F32", extras[e].count, offset, offset + bytes);
        offset += bytes;
    }
    fm_tb_puts(tb, "}");
    while (!tb->failed && (8 + tb->len) % 8 != 0)
        fm_tb_puts(tb, " ");
    if (tb->failed)
        return fm_fail(err, FM_ERR_NOMEM, "model save: out of memory building the header");
    if (tb->len > FM_MODEL_MAX_HEADER)
        return fm_fail(err, FM_ERR_ARG, "model save: the header would be %zu bytes, above the limit of %" PRIu64,
                       tb->len, FM_MODEL_MAX_HEADER);
    return FM_OK;
}

/* The floats in little-endian byte order, whatever the host's. */
static int write_f32_le(fm_atomic_file *file, const float *values, uint64_t count)
{
    if (fm_host_is_little_endian())
        return fm_atomic_write(file, values, 4 * (size_t)count);
    float chunk[1024];
    while (count > 0) {
        size_t n = count < 1024 ? (size_t)count : 1024;
        memcpy(chunk, values, n * 4);
        fm_swap_f32(chunk, n);
        if (!fm_atomic_write(file, chunk, 4 * n))
            return 0;
        values += n;
        count -= n;
    }
    return 1;
}

/* Length field, header and tensors, written atomically (fm_atomic_open): on
 * failure the temporary file is removed and `path` is untouched. */
/* 8-byte integers in little-endian byte order. */
static int write_u64_le(fm_atomic_file *file, const uint64_t *values, uint64_t count)
{
    if (fm_host_is_little_endian())
        return fm_atomic_write(file, values, 8 * (size_t)count);
    uint64_t chunk[512];
    while (count > 0) {
        size_t n = count < 512 ? (size_t)count : 512;
        memcpy(chunk, values, n * 8);
        fm_swap_u64(chunk, n);
        if (!fm_atomic_write(file, chunk, 8 * n))
            return 0;
        values += n;
        count -= n;
    }
    return 1;
}

static fm_status write_model_file(const char *path, const fm_text_buf *header, const fm_model_tensor *t,
                                  int n_tensors, const fm_extra_tensor *extras, int n_extra, fm_error *err)
{
    fm_atomic_file file;
    fm_status status = fm_atomic_open(&file, path, err);
    if (status != FM_OK)
        return status;
    unsigned char length[8];
    for (int b = 0; b < 8; b++)
        length[b] = (unsigned char)((uint64_t)header->len >> (8 * b));
    int ok = fm_atomic_write(&file, length, 8) && fm_atomic_write(&file, header->data, header->len);
    for (int k = 0; ok && k < n_tensors; k++)
        if (t[k].present)
            ok = write_f32_le(&file, t[k].data, t[k].count);
    for (int e = 0; ok && e < n_extra; e++)
        ok = extras[e].u64 ? write_u64_le(&file, extras[e].data, extras[e].count)
                           : write_f32_le(&file, extras[e].data, extras[e].count);
    /* A failed write is reported, and the temporary file removed, by the commit. */
    return fm_atomic_commit(&file, err);
}

static fm_status check_extras(const char *checkpoint_json, const fm_extra_tensor *extras, int n_extra, fm_error *err)
{
    if (n_extra < 0 || n_extra > FM_MAX_EXTRA_TENSORS || (n_extra > 0 && !checkpoint_json))
        return fm_fail(err, FM_ERR_ARG, "model save: %d extra tensors (at most %d, and only in a checkpoint)", n_extra,
                       FM_MAX_EXTRA_TENSORS);
    if (checkpoint_json && !fm_utf8_valid(checkpoint_json))
        return fm_fail(err, FM_ERR_ARG, "model save: checkpoint metadata is not valid UTF-8");
    for (int e = 0; e < n_extra; e++) {
        if (!fm_extra_tensor_name_ok(extras[e].name) || (extras[e].count > 0 && !extras[e].data) ||
            extras[e].count > ((uint64_t)1 << 50))
            return fm_fail(err, FM_ERR_ARG, "model save: bad checkpoint tensor \"%.40s\"", extras[e].name);
        for (int o = 0; o < e; o++)
            if (strcmp(extras[o].name, extras[e].name) == 0)
                return fm_fail(err, FM_ERR_ARG, "model save: checkpoint tensor %s given twice", extras[e].name);
        if (!extras[e].u64) {
            const float *v = extras[e].data;
            for (uint64_t i = 0; i < extras[e].count; i++)
                if (!isfinite(v[i]))
                    return fm_fail(err, FM_ERR_NUMERIC,
                                   "model save: %s has a non-finite value (%g) at element %" PRIu64, extras[e].name,
                                   (double)v[i], i);
        }
    }
    return FM_OK;
}

fm_status fm_model_save(const fm_model *model, const char *path, fm_error *err)
{
    if (!model || !path)
        return fm_fail(err, FM_ERR_ARG, "fm_model_save: model and path must not be NULL");
    return fm_model_save_with(model, path, NULL, NULL, 0, err);
}

fm_status fm_model_save_with(const fm_model *model, const char *path, const char *checkpoint_json,
                             const fm_extra_tensor *extras, int n_extra, fm_error *err)
{
    if (!model || !model->net)
        return fm_fail(err, FM_ERR_ARG, "model save: no model or no network");
    if (!path || !*path)
        return fm_fail(err, FM_ERR_ARG, "model save: no path");
    int n_layers = fm_net_n_layers(model->net);
    if (n_layers <= 0 || n_layers > FM_MAX_LAYERS)
        return fm_fail(err, FM_ERR_ARG, "model save: the network has %d layers", n_layers);
    if (model->in_names) {
        fm_status status = check_names(model->in_names, fm_net_n_in(model->net), "input", err);
        if (status != FM_OK)
            return status;
    }
    if (model->out_names) {
        if (model->n_target_names < 0 || model->n_target_names > FM_MAX_WIDTH)
            return fm_fail(err, FM_ERR_ARG, "model save: %d target names", model->n_target_names);
        fm_status status = check_names(model->out_names, model->n_target_names, "target", err);
        if (status != FM_OK)
            return status;
    }
    if (model->training_json) {
        if (!fm_utf8_valid(model->training_json))
            return fm_fail(err, FM_ERR_ARG, "model save: training settings are not valid UTF-8");
        cJSON *training = fm_json_parse_whole(model->training_json);
        int is_object = cJSON_IsObject(training);
        cJSON_Delete(training);
        if (!is_object)
            return fm_fail(err, FM_ERR_ARG, "model save: training settings are not a JSON object");
    }

    int n_tensors = 2 * n_layers + FM_EXTRA_COUNT;
    fm_model_tensor *t = fm_calloc_array((size_t)n_tensors, sizeof *t);
    int *widths = fm_alloc_array((size_t)n_layers, sizeof *widths);
    char *model_text = NULL;
    fm_text_buf header = {0};
    uint64_t data_size = 0;
    fm_status status = (t && widths) ? FM_OK : fm_fail(err, FM_ERR_NOMEM, "model save: out of memory");
    if (status == FM_OK)
        status = check_extras(checkpoint_json, extras, n_extra, err);
    if (status == FM_OK)
        status = save_prepare(model, t, widths, &data_size, err);
    if (status == FM_OK)
        status = model_json_text(model, &model_text, err);
    if (status == FM_OK)
        status = build_header(model, t, n_tensors, model_text, checkpoint_json, extras, n_extra, data_size, &header,
                              err);
    if (status == FM_OK)
        status = write_model_file(path, &header, t, n_tensors, extras, n_extra, err);
    free(header.data);
    cJSON_free(model_text);
    free(widths);
    free(t);
    return status;
}
