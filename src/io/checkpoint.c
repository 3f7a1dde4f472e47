/* Checkpoint files: a model file (safetensors, docs/formats.md) whose
 * __metadata__ has one more key, "checkpoint" (a JSON object of strings: the
 * run's definition and position, see the table below), and which carries the
 * rank-1 tensors optim.m, optim.v (F32, the optimiser's moments), train.order
 * (U64, the epoch's shuffle order), train.last_good and train.best (F32)
 * after the model's own. Numbers are decimal strings: 64-bit integers and
 * doubles must come back bit for bit, which JSON numbers do not promise.
 * Written through the model file's atomic writer. */
#include "io/model_file_internal.h"
#include "nn/train_state.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECKPOINT_VERSION "2" /* 2: data fingerprints are sums over rows (any number of processes) */

typedef enum { T_SIZE, T_INT, T_LONG, T_U64, T_F64 } field_type;

typedef struct field {
    const char *key;
    field_type type;
    size_t offset;
} field;

#define F(key, type, member) {key, type, offsetof(fm_train_state, member)}

/* Every scalar of the state, by its key in the "checkpoint" object. */
static const field FIELDS[] = {
    F("n_params", T_SIZE, n_params),
    F("rows", T_SIZE, rows),
    F("val_rows", T_SIZE, val_rows),
    F("n_in", T_INT, n_in),
    F("n_out", T_INT, n_out),
    F("epochs", T_INT, epochs),
    F("batch", T_INT, batch),
    F("shuffle", T_INT, shuffle),
    F("patience", T_INT, patience),
    F("seed", T_U64, seed),
    F("explode_factor", T_F64, explode_factor),
    F("train_hash", T_U64, train_hash),
    F("val_hash", T_U64, val_hash),
    F("optim.lr", T_F64, optim.lr),
    F("optim.momentum", T_F64, optim.momentum),
    F("optim.dampening", T_F64, optim.dampening),
    F("optim.nesterov", T_INT, optim.nesterov),
    F("optim.beta1", T_F64, optim.beta1),
    F("optim.beta2", T_F64, optim.beta2),
    F("optim.eps", T_F64, optim.eps),
    F("optim.weight_decay", T_F64, optim.weight_decay),
    F("optim.clip_norm", T_F64, optim.clip_norm),
    F("optim.step_size", T_INT, optim.step_size),
    F("optim.gamma", T_F64, optim.gamma),
    F("optim.lr_min", T_F64, optim.lr_min),
    F("epoch", T_INT, epoch),
    F("batch_index", T_SIZE, batch_index),
    F("batches", T_SIZE, batches),
    F("finished", T_INT, finished),
    F("shuffle_rng.0", T_U64, shuffle_rng.s[0]),
    F("shuffle_rng.1", T_U64, shuffle_rng.s[1]),
    F("shuffle_rng.2", T_U64, shuffle_rng.s[2]),
    F("shuffle_rng.3", T_U64, shuffle_rng.s[3]),
    F("dropout_rng.0", T_U64, dropout_rng.s[0]),
    F("dropout_rng.1", T_U64, dropout_rng.s[1]),
    F("dropout_rng.2", T_U64, dropout_rng.s[2]),
    F("dropout_rng.3", T_U64, dropout_rng.s[3]),
    F("optim_steps", T_LONG, optim_steps),
    F("loss_sum", T_F64, loss_sum),
    F("loss_rows", T_SIZE, loss_rows),
    F("samples_done", T_SIZE, samples_done),
    F("result.epochs_run", T_INT, result.epochs_run),
    F("result.steps", T_SIZE, result.steps),
    F("result.final_train_loss", T_F64, result.final_train_loss),
    F("result.best_val_loss", T_F64, result.best_val_loss),
    F("result.best_epoch", T_INT, result.best_epoch),
    F("result.stopped_early", T_INT, result.stopped_early),
    F("result.diverged", T_INT, result.diverged),
    F("result.restored_epoch", T_INT, result.restored_epoch),
    F("result.vanishing_warned", T_INT, result.vanishing_warned),
    F("bad_epochs", T_INT, bad_epochs),
    F("val_loss", T_F64, val_loss),
    F("val_metric", T_F64, val_metric),
    F("loss_ema", T_F64, loss_ema),
    F("loss_ema_start", T_F64, loss_ema_start),
    F("loss_ema_min", T_F64, loss_ema_min),
    F("vanishing_checks", T_INT, vanishing_checks),
    F("warning_pending", T_INT, warning_pending),
};
#undef F

static const char *const SCHEDULE_NAMES[] = {"constant", "step", "cosine"};

/* ------------------------------------------------------------------ save */

static void field_text(const fm_train_state *s, const field *f, char *buf, size_t size)
{
    const char *p = (const char *)s + f->offset;
    switch (f->type) {
    case T_SIZE: snprintf(buf, size, "%zu", *(const size_t *)(const void *)p); break;
    case T_INT: snprintf(buf, size, "%d", *(const int *)(const void *)p); break;
    case T_LONG: snprintf(buf, size, "%ld", *(const long *)(const void *)p); break;
    case T_U64: snprintf(buf, size, "%" PRIu64, *(const uint64_t *)(const void *)p); break;
    case T_F64: snprintf(buf, size, "%a", *(const double *)(const void *)p); break; /* exact, hexadecimal */
    }
}

static char *state_json(const fm_train_state *s)
{
    cJSON *o = cJSON_CreateObject();
    int ok = o && cJSON_AddStringToObject(o, "checkpoint_version", CHECKPOINT_VERSION);
    ok = ok && cJSON_AddStringToObject(o, "optim.kind", fm_optim_name(s->optim.kind));
    ok = ok && (unsigned)s->optim.schedule < 3 &&
         cJSON_AddStringToObject(o, "optim.schedule", SCHEDULE_NAMES[s->optim.schedule]);
    char text[64];
    for (size_t i = 0; ok && i < sizeof FIELDS / sizeof FIELDS[0]; i++) {
        field_text(s, &FIELDS[i], text, sizeof text);
        ok = cJSON_AddStringToObject(o, FIELDS[i].key, text) != NULL;
    }
    char *printed = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return printed;
}

fm_status fm_checkpoint_save(const char *path, const fm_model *model, const fm_train_state *state, fm_error *err)
{
    if (!path || !model || !model->net || !state)
        return fm_fail(err, FM_ERR_ARG, "fm_checkpoint_save: no path, model or state");
    if (fm_net_n_params(model->net) != state->n_params)
        return fm_fail(err, FM_ERR_ARG, "checkpoint save: the model has %zu parameters, the training state %zu",
                       fm_net_n_params(model->net), state->n_params);
    /* The order as U64 whatever size_t is; on 64-bit hosts it is the same bytes. */
    uint64_t *order = NULL;
    if (sizeof(size_t) == sizeof(uint64_t)) {
        order = (uint64_t *)(void *)state->order;
    } else {
        order = fm_alloc_array(state->rows, sizeof *order);
        if (!order)
            return fm_fail(err, FM_ERR_NOMEM, "checkpoint save: out of memory");
        for (size_t i = 0; i < state->rows; i++)
            order[i] = state->order[i];
    }
    fm_extra_tensor extras[5];
    int n = 0;
    memset(extras, 0, sizeof extras);
#define ADD(nm, is_u64, cnt, ptr)                                                                                     \
    do {                                                                                                              \
        snprintf(extras[n].name, sizeof extras[n].name, "%s", nm);                                                    \
        extras[n].u64 = is_u64;                                                                                       \
        extras[n].count = cnt;                                                                                        \
        extras[n].data = (void *)(ptr);                                                                               \
        n++;                                                                                                          \
    } while (0)
    if (state->optim_m)
        ADD("optim.m", 0, state->n_params, state->optim_m);
    if (state->optim_v)
        ADD("optim.v", 0, state->n_params, state->optim_v);
    ADD("train.order", 1, state->rows, order);
    ADD("train.last_good", 0, state->n_params, state->last_good);
    if (state->best_params)
        ADD("train.best", 0, state->n_params, state->best_params);
#undef ADD
    char *json = state_json(state);
    fm_status st = json ? fm_model_save_with(model, path, json, extras, n, err)
                        : fm_fail(err, FM_ERR_NOMEM, "checkpoint save: out of memory");
    cJSON_free(json);
    if ((void *)order != (void *)state->order)
        free(order);
    return st;
}

/* ------------------------------------------------------------------ load */

static fm_status bad(fm_error *err, const char *path, const char *what, const char *key)
{
    return fm_fail(err, FM_ERR_FORMAT, "checkpoint %s: %s \"%s\"", path, what, key);
}

static int parse_unsigned(const char *text, uint64_t max, uint64_t *out)
{
    size_t digits = strspn(text, "0123456789");
    if (digits == 0 || digits > 20 || text[digits] != '\0')
        return 0;
    errno = 0;
    unsigned long long v = strtoull(text, NULL, 10);
    if (errno == ERANGE || v > max)
        return 0;
    *out = (uint64_t)v;
    return 1;
}

static int parse_signed(const char *text, long long min, long long max, long long *out)
{
    if (*text == '-') {
        uint64_t v;
        if (!parse_unsigned(text + 1, (uint64_t)1 << 62, &v) || -(long long)v < min)
            return 0;
        *out = -(long long)v;
        return 1;
    }
    uint64_t v;
    if (!parse_unsigned(text, (uint64_t)max, &v))
        return 0;
    *out = (long long)v;
    return 1;
}

static fm_status read_field(const cJSON *root, const field *f, fm_train_state *s, const char *path, fm_error *err)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, f->key);
    if (!cJSON_IsString(item))
        return bad(err, path, "has no string", f->key);
    const char *text = item->valuestring;
    char *p = (char *)s + f->offset;
    uint64_t u;
    long long i;
    switch (f->type) {
    case T_SIZE:
        if (!parse_unsigned(text, SIZE_MAX, &u))
            return bad(err, path, "has an invalid size in", f->key);
        *(size_t *)(void *)p = (size_t)u;
        break;
    case T_U64:
        if (!parse_unsigned(text, UINT64_MAX, &u))
            return bad(err, path, "has an invalid unsigned integer in", f->key);
        *(uint64_t *)(void *)p = u;
        break;
    case T_INT:
        if (!parse_signed(text, -1, 1000000000, &i))
            return bad(err, path, "has an invalid integer in", f->key);
        *(int *)(void *)p = (int)i;
        break;
    case T_LONG:
        if (!parse_signed(text, 0, (long long)1 << 62, &i) || (unsigned long long)i > (unsigned long long)LONG_MAX)
            return bad(err, path, "has an invalid integer in", f->key);
        *(long *)(void *)p = (long)i;
        break;
    case T_F64: {
        char *end = NULL;
        errno = 0;
        double v = strtod(text, &end);
        if (end == text || *end != '\0')
            return bad(err, path, "has an invalid number in", f->key);
        *(double *)(void *)p = v;
        break;
    }
    }
    return FM_OK;
}

static fm_status parse_state(const char *json, fm_train_state *s, const char *path, fm_error *err)
{
    cJSON *root = fm_json_parse_whole(json);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return fm_fail(err, FM_ERR_FORMAT, "checkpoint %s: the checkpoint metadata is not a JSON object", path);
    }
    fm_status st = FM_OK;
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, "checkpoint_version");
    if (!cJSON_IsString(item) || strcmp(item->valuestring, CHECKPOINT_VERSION) != 0)
        st = fm_fail(err, FM_ERR_FORMAT, "checkpoint %s: unsupported checkpoint_version (this build reads %s)", path,
                     CHECKPOINT_VERSION);
    item = cJSON_GetObjectItemCaseSensitive(root, "optim.kind");
    fm_error sub;
    if (st == FM_OK && (!cJSON_IsString(item) || fm_optim_parse_kind(item->valuestring, &s->optim.kind, &sub) != FM_OK))
        st = bad(err, path, "has an invalid", "optim.kind");
    item = cJSON_GetObjectItemCaseSensitive(root, "optim.schedule");
    if (st == FM_OK) {
        int found = -1;
        for (int k = 0; k < 3 && cJSON_IsString(item); k++)
            if (strcmp(item->valuestring, SCHEDULE_NAMES[k]) == 0)
                found = k;
        if (found < 0)
            st = bad(err, path, "has an invalid", "optim.schedule");
        else
            s->optim.schedule = (fm_schedule_kind)found;
    }
    for (size_t i = 0; st == FM_OK && i < sizeof FIELDS / sizeof FIELDS[0]; i++)
        st = read_field(root, &FIELDS[i], s, path, err);
    cJSON_Delete(root);
    if (st != FM_OK)
        return st;
    if (s->epochs < 1 || s->batch < 1 || s->epoch < 0 || s->epoch > s->epochs || s->batches == 0 ||
        s->batch_index > s->batches || s->rows == 0 || s->result.steps != (size_t)s->optim_steps ||
        s->loss_rows > s->rows || s->n_in < 1 || s->n_out < 1)
        return fm_fail(err, FM_ERR_FORMAT,
                       "checkpoint %s: inconsistent position (epoch %d of %d, batch %zu of %zu, %zu steps)", path,
                       s->epoch, s->epochs, s->batch_index, s->batches, s->result.steps);
    return FM_OK;
}

/* Take the tensors into the state, checking their sizes and values. */
static fm_status adopt_tensors(fm_train_state *s, fm_extra_tensor *extras, int n_extra, const char *path,
                               fm_error *err)
{
    uint64_t *order = NULL;
    for (int e = 0; e < n_extra; e++) {
        fm_extra_tensor *x = &extras[e];
        float **dest = strcmp(x->name, "optim.m") == 0           ? &s->optim_m
                       : strcmp(x->name, "optim.v") == 0         ? &s->optim_v
                       : strcmp(x->name, "train.last_good") == 0 ? &s->last_good
                       : strcmp(x->name, "train.best") == 0      ? &s->best_params
                                                                 : NULL;
        if (dest) {
            if (x->u64 || x->count != s->n_params)
                return fm_fail(err, FM_ERR_FORMAT, "checkpoint %s: tensor %s must be F32 [%zu]", path, x->name,
                               s->n_params);
            const float *v = x->data;
            for (uint64_t i = 0; i < x->count; i++)
                if (!isfinite(v[i]))
                    return fm_fail(err, FM_ERR_FORMAT, "checkpoint %s: tensor %s has a non-finite value at element %" PRIu64,
                                   path, x->name, i);
            *dest = x->data;
            x->data = NULL;
        } else if (strcmp(x->name, "train.order") == 0) {
            if (!x->u64 || x->count != s->rows)
                return fm_fail(err, FM_ERR_FORMAT, "checkpoint %s: tensor train.order must be U64 [%zu]", path,
                               s->rows);
            order = x->data;
        } else {
            return fm_fail(err, FM_ERR_FORMAT, "checkpoint %s: unknown tensor %s", path, x->name);
        }
    }
    if (!order || !s->last_good)
        return fm_fail(err, FM_ERR_FORMAT, "checkpoint %s: missing tensor %s", path,
                       !order ? "train.order" : "train.last_good");
    if (s->optim_v && !s->optim_m)
        return fm_fail(err, FM_ERR_FORMAT, "checkpoint %s: optim.v without optim.m", path);
    /* The order must be a permutation of the rows. */
    unsigned char *seen = calloc(s->rows, 1);
    s->order = fm_alloc_array(s->rows, sizeof *s->order);
    if (!seen || !s->order) {
        free(seen);
        return fm_fail(err, FM_ERR_NOMEM, "checkpoint %s: out of memory", path);
    }
    for (size_t i = 0; i < s->rows; i++) {
        if (order[i] >= s->rows || seen[order[i]]) {
            free(seen);
            return fm_fail(err, FM_ERR_FORMAT, "checkpoint %s: train.order is not a permutation of the %zu rows "
                                               "(entry %zu is %" PRIu64 ")", path, s->rows, i, order[i]);
        }
        seen[order[i]] = 1;
        s->order[i] = (size_t)order[i];
    }
    free(seen);
    return FM_OK;
}

fm_status fm_checkpoint_load(const char *path, fm_model **model_out, fm_train_state **state_out, fm_error *err)
{
    if (!model_out || !state_out)
        return fm_fail(err, FM_ERR_ARG, "fm_checkpoint_load: model and state must not be NULL");
    *model_out = NULL;
    *state_out = NULL;
    fm_model *model = NULL;
    char *json = NULL;
    fm_extra_tensor extras[FM_MAX_EXTRA_TENSORS];
    int n_extra = 0;
    memset(extras, 0, sizeof extras);
    if (!path || !*path)
        return fm_fail(err, FM_ERR_ARG, "fm_checkpoint_load: no path");
    FILE *probe = fopen(path, "rb"); /* name it a checkpoint, not a model file, when it cannot be opened */
    if (!probe)
        return fm_fail(err, FM_ERR_IO, "cannot open checkpoint %s: %s", path, strerror(errno));
    fclose(probe);
    fm_status st = fm_model_load_with(path, &model, &json, extras, &n_extra, err);
    if (st != FM_OK)
        return st;
    fm_train_state *s = calloc(1, sizeof *s);
    if (!s)
        st = fm_fail(err, FM_ERR_NOMEM, "checkpoint %s: out of memory", path);
    else
        s->owns = 1;
    if (st == FM_OK && !json)
        st = fm_fail(err, FM_ERR_FORMAT, "%s is a model file without training state, not a checkpoint", path);
    if (st == FM_OK)
        st = parse_state(json, s, path, err);
    if (st == FM_OK && s->n_params != fm_net_n_params(model->net))
        st = fm_fail(err, FM_ERR_FORMAT, "checkpoint %s: its state is for %zu parameters, its model has %zu", path,
                     s->n_params, fm_net_n_params(model->net));
    if (st == FM_OK && s->n_in != fm_net_n_in(model->net))
        st = fm_fail(err, FM_ERR_FORMAT, "checkpoint %s: its state is for %d inputs, its model has %d", path, s->n_in,
                     fm_net_n_in(model->net));
    if (st == FM_OK)
        st = adopt_tensors(s, extras, n_extra, path, err);
    for (int e = 0; e < n_extra; e++)
        free(extras[e].data);
    free(json);
    if (st != FM_OK) {
        fm_train_state_free(s);
        fm_model_free(model);
        return st;
    }
    fm_error_clear(err);
    *model_out = model;
    *state_out = s;
    return FM_OK;
}
