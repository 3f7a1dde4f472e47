/* Loading a model file (layout in model_file_internal.h and docs/formats.md).
 *
 * Loading trusts nothing: every field is checked, and sizes are checked against
 * the file's length before anything proportional to them is allocated. The steps
 * are numbered in the order fm_model_load takes them. */
#define _POSIX_C_SOURCE 200809L /* fileno, fstat */
#define _FILE_OFFSET_BITS 64    /* a st_size beyond 2 GiB on 32-bit hosts */

#include "io/model_file_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Offsets are JSON numbers, which readers hold as doubles: exact up to 2^53. */
#define FM_MODEL_MAX_OFFSET 9007199254740992.0

/* Index of a tensor name in the table, or -1 for a name the model does not have. */
static int tensor_index(const char *name, int n_layers)
{
    for (int k = 0; k < FM_EXTRA_COUNT; k++)
        if (strcmp(name, fm_model_extra_names[k]) == 0)
            return 2 * n_layers + k;
    if (strncmp(name, "layers.", 7) != 0)
        return -1;
    const char *p = name + 7;
    if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] >= '0' && p[1] <= '9'))
        return -1; /* one spelling per index: no sign, no leading zeros */
    long layer = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        layer = layer * 10 + (*p - '0');
        if (layer >= n_layers)
            return -1;
    }
    if (strcmp(p, ".weight") == 0)
        return (int)(2 * layer);
    if (strcmp(p, ".bias") == 0)
        return (int)(2 * layer + 1);
    return -1;
}

typedef struct loader {
    const char *path;
    fm_error *err;
    FILE *f;
    uint64_t data_size; /* bytes after the header */
    cJSON *root;
    cJSON *model;       /* parsed "model" metadata */
    const char *training;
    int n_in, n_layers;
    fm_layer_spec *specs;
    int *widths;
    uint64_t seed;
    fm_loss loss;
    const cJSON *input_names, *target_names;
    fm_model_tensor *t; /* 2 * n_layers + FM_EXTRA_COUNT model entries, then the checkpoint tensors */
    const char *checkpoint; /* the "checkpoint" metadata (a checkpoint file), or NULL */
    int n_extra;            /* checkpoint tensors found */
    char extra_names[FM_MAX_EXTRA_TENSORS][FM_EXTRA_NAME_MAX];
    int want_extras;        /* read their data (fm_model_load_with) rather than skip it */
} loader;

/* Name of table entry k, model or checkpoint tensor. */
static void entry_name(const loader *ld, int k, char *buf, size_t size)
{
    int n_model = 2 * ld->n_layers + FM_EXTRA_COUNT;
    if (k >= n_model)
        snprintf(buf, size, "%s", ld->extra_names[k - n_model]);
    else
        fm_tensor_name(k, ld->n_layers, buf, size);
}

static void report_bad(const loader *ld, const char *fmt, ...) FM_PRINTF(2, 3);
static void report_bad(const loader *ld, const char *fmt, ...)
{
    char message[400];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    fm_fail(ld->err, FM_ERR_FORMAT, "model file %s: %s", ld->path, message);
}

/* `return bad(ld, "...", ...);`: reports a malformed file and evaluates to
 * FM_ERR_FORMAT, visibly so (the analyzer does not follow variadic calls). */
#define bad(ld, ...) (report_bad((ld), __VA_ARGS__), FM_ERR_FORMAT)

/* The one member `key` of obj: 1 found, 0 absent, -1 given more than once
 * (readers disagree on which duplicate wins, so none is accepted). */
static int member(const cJSON *obj, const char *key, const cJSON **out)
{
    const cJSON *found = NULL, *item;
    cJSON_ArrayForEach(item, obj) {
        if (item->string && strcmp(item->string, key) == 0) {
            if (found)
                return -1;
            found = item;
        }
    }
    *out = found;
    return found != NULL;
}

static fm_status get_member(loader *ld, const cJSON *obj, const char *where, const char *key, int required,
                            const cJSON **out)
{
    if (member(obj, key, out) < 0)
        return bad(ld, "%s has \"%s\" more than once", where, key);
    /* On FM_OK a required member is there: *out is not NULL. */
    if (!*out && required)
        return bad(ld, "%s has no \"%s\"", where, key);
    return FM_OK;
}

static fm_status get_string(loader *ld, const cJSON *obj, const char *where, const char *key, int required,
                            const char **out)
{
    const cJSON *item = NULL;
    *out = NULL;
    fm_status status = get_member(ld, obj, where, key, required, &item);
    if (status != FM_OK || !item)
        return status;
    if (!cJSON_IsString(item))
        return bad(ld, "%s \"%s\" is not a string", where, key);
    *out = item->valuestring;
    return FM_OK;
}

static int integral_in(const cJSON *item, double lo, double hi)
{
    if (!cJSON_IsNumber(item))
        return 0;
    double v = item->valuedouble;
    return isfinite(v) && v >= lo && v <= hi && v == floor(v);
}

static fm_status get_int(loader *ld, const cJSON *obj, const char *where, const char *key, int lo, int hi, int *out)
{
    const cJSON *item = NULL;
    fm_status status = get_member(ld, obj, where, key, 1, &item);
    if (status != FM_OK)
        return status;
    if (!integral_in(item, lo, hi)) {
        char *text = cJSON_PrintUnformatted(item);
        status = bad(ld, "%s \"%s\" is %.40s, expected an integer in [%d, %d]", where, key, text ? text : "?", lo, hi);
        cJSON_free(text);
        return status;
    }
    *out = (int)item->valuedouble;
    return FM_OK;
}

/* Step 1: length field and header bytes. */
static fm_status read_header(loader *ld, char **header_out, uint64_t *header_len)
{
    struct stat st;
    if (fstat(fileno(ld->f), &st) != 0)
        return fm_fail(ld->err, FM_ERR_IO, "cannot stat model file %s: %s", ld->path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return fm_fail(ld->err, FM_ERR_IO, "model file %s is not a regular file", ld->path);
    uint64_t file_size = (uint64_t)st.st_size;
    if (file_size < 8)
        return bad(ld, "file is %" PRIu64 " bytes, shorter than the 8-byte header length (truncated or not a model)",
                   file_size);
    unsigned char length[8];
    if (fread(length, 1, 8, ld->f) != 8)
        return fm_fail(ld->err, FM_ERR_IO, "cannot read model file %s", ld->path);
    uint64_t n = 0;
    for (int b = 7; b >= 0; b--)
        n = (n << 8) | length[b];
    if (n == 0)
        return bad(ld, "header length is 0");
    if (n > FM_MODEL_MAX_HEADER)
        return bad(ld, "header length %" PRIu64 " is above the limit of %" PRIu64 " bytes (corrupt or not a model)", n,
                   FM_MODEL_MAX_HEADER);
    if (n > file_size - 8)
        return bad(ld, "header length %" PRIu64 " is larger than the rest of the file (%" PRIu64 " bytes): truncated?",
                   n, file_size - 8);
    char *header = malloc((size_t)n + 1);
    if (!header)
        return fm_fail(ld->err, FM_ERR_NOMEM, "model file %s: out of memory for a %" PRIu64 "-byte header", ld->path, n);
    if (fread(header, 1, (size_t)n, ld->f) != (size_t)n) {
        free(header);
        return fm_fail(ld->err, FM_ERR_IO, "cannot read the header of model file %s", ld->path);
    }
    header[n] = '\0';
    ld->data_size = file_size - 8 - n;
    *header_out = header;
    *header_len = n;
    return FM_OK;
}

/* Step 2: parse the header as one JSON object followed only by padding. */
static fm_status parse_header(loader *ld, const char *header, uint64_t n)
{
    const char *nul = memchr(header, '\0', (size_t)n);
    if (nul)
        return bad(ld, "header contains a NUL byte at offset %td", nul - header);
    size_t invalid = fm_utf8_invalid_at((const unsigned char *)header, (size_t)n);
    if (invalid != (size_t)n)
        return bad(ld, "header is not valid UTF-8 (byte %zu)", invalid);
    const char *end = NULL;
    ld->root = cJSON_ParseWithLengthOpts(header, (size_t)n, &end, 0);
    if (!ld->root) /* on failure cJSON points `end` at the error */
        return bad(ld, "header is not valid JSON (near byte %td)", end ? end - header : (ptrdiff_t)0);
    if (!cJSON_IsObject(ld->root))
        return bad(ld, "header is not a JSON object");
    for (const char *p = end; p < header + n; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            return bad(ld, "header has trailing bytes after its JSON object (byte %td)", p - header);
    return FM_OK;
}

/* Step 3: "__metadata__" and the model description in it. */
static fm_status parse_metadata(loader *ld)
{
    const cJSON *meta = NULL, *item = NULL;
    fm_status status = get_member(ld, ld->root, "header", "__metadata__", 0, &meta);
    if (status != FM_OK)
        return status;
    if (!meta)
        return bad(ld, "header has no __metadata__ (not a fathom model)");
    if (!cJSON_IsObject(meta))
        return bad(ld, "__metadata__ is not an object");
    cJSON_ArrayForEach(item, meta) {
        if (!cJSON_IsString(item)) /* the safetensors spec: string to string */
            return bad(ld, "__metadata__ value \"%.60s\" is not a string", item->string ? item->string : "");
    }

    const char *format = NULL, *version = NULL, *fathom_version = NULL, *model_text = NULL;
    if ((status = get_string(ld, meta, "__metadata__", "format", 0, &format)) != FM_OK)
        return status;
    if (!format)
        return bad(ld, "__metadata__ has no \"format\" (not a fathom model)");
    if (strcmp(format, "fathom") != 0)
        return bad(ld, "format is \"%.60s\", expected \"fathom\"", format);
    if ((status = get_string(ld, meta, "__metadata__", "format_version", 1, &version)) != FM_OK)
        return status;
    char expected[16];
    snprintf(expected, sizeof expected, "%d", FM_MODEL_FORMAT_VERSION);
    if (strcmp(version, expected) != 0)
        return bad(ld, "unsupported format_version \"%.40s\" (this build of fathom reads version %s)", version,
                   expected);
    if ((status = get_string(ld, meta, "__metadata__", "fathom_version", 0, &fathom_version)) != FM_OK)
        return status;
    if ((status = get_string(ld, meta, "__metadata__", "training", 0, &ld->training)) != FM_OK)
        return status;
    if (ld->training) {
        cJSON *training = fm_json_parse_whole(ld->training);
        int is_object = cJSON_IsObject(training);
        cJSON_Delete(training);
        if (!is_object)
            return bad(ld, "__metadata__ \"training\" is not a JSON object");
    }
    if ((status = get_string(ld, meta, "__metadata__", "checkpoint", 0, &ld->checkpoint)) != FM_OK)
        return status;
    if (ld->checkpoint) {
        cJSON *checkpoint = fm_json_parse_whole(ld->checkpoint);
        int is_object = cJSON_IsObject(checkpoint);
        cJSON_Delete(checkpoint);
        if (!is_object)
            return bad(ld, "__metadata__ \"checkpoint\" is not a JSON object");
    }
    if ((status = get_string(ld, meta, "__metadata__", "model", 1, &model_text)) != FM_OK)
        return status;
    ld->model = fm_json_parse_whole(model_text);
    if (!ld->model)
        return bad(ld, "__metadata__ \"model\" is not valid JSON");
    if (!cJSON_IsObject(ld->model))
        return bad(ld, "__metadata__ \"model\" is not a JSON object");
    return FM_OK;
}

static fm_status parse_layer(loader *ld, const cJSON *layer, int i)
{
    char where[48];
    snprintf(where, sizeof where, "model layers[%d]", i);
    if (!cJSON_IsObject(layer))
        return bad(ld, "%s is not an object", where);
    fm_layer_spec *spec = &ld->specs[i];
    const char *act = NULL, *init = NULL;
    const cJSON *dropout = NULL;
    fm_error sub;
    fm_status status = get_int(ld, layer, where, "n_out", 1, FM_MAX_WIDTH, &spec->n_out);
    if (status == FM_OK)
        status = get_string(ld, layer, where, "activation", 1, &act);
    if (status == FM_OK)
        status = get_string(ld, layer, where, "init", 1, &init);
    if (status == FM_OK)
        status = get_member(ld, layer, where, "dropout", 1, &dropout);
    if (status != FM_OK)
        return status;
    if (fm_activation_parse(act, &spec->act, &sub) != FM_OK)
        return bad(ld, "%s activation \"%.40s\": %s", where, act, sub.message);
    if (fm_init_parse(init, &spec->init, &sub) != FM_OK)
        return bad(ld, "%s init \"%.40s\": %s", where, init, sub.message);
    if (!cJSON_IsNumber(dropout) || !isfinite(dropout->valuedouble) || dropout->valuedouble < 0 ||
        dropout->valuedouble >= 1)
        return bad(ld, "%s dropout must be a number in [0, 1)", where);
    spec->dropout = dropout->valuedouble;
    ld->widths[i] = spec->n_out;
    return FM_OK;
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static fm_status parse_names(loader *ld, const char *key, int expected, const cJSON **out)
{
    const cJSON *names = NULL, *item = NULL;
    fm_status status = get_member(ld, ld->model, "model", key, 0, &names);
    *out = NULL;
    if (status != FM_OK || !names || cJSON_IsNull(names))
        return status;
    if (!cJSON_IsArray(names))
        return bad(ld, "model \"%s\" is not an array", key);
    int count = cJSON_GetArraySize(names);
    if (expected >= 0 && count != expected)
        return bad(ld, "model \"%s\" has %d names, expected %d", key, count, expected);
    if (count > FM_MAX_WIDTH)
        return bad(ld, "model \"%s\" has %d names", key, count);
    cJSON_ArrayForEach(item, names) {
        if (!cJSON_IsString(item))
            return bad(ld, "model \"%s\" has an entry that is not a string", key);
        if (item->valuestring[0] == '\0')
            return bad(ld, "model \"%s\" has an empty name", key);
    }
    /* Columns are selected by these names: each must name one column. */
    if (count > 1) {
        const char **sorted = fm_alloc_array((size_t)count, sizeof *sorted);
        if (!sorted)
            return fm_fail(ld->err, FM_ERR_NOMEM, "out of memory checking the names of %s", ld->path);
        int k = 0;
        cJSON_ArrayForEach(item, names) sorted[k++] = item->valuestring;
        qsort(sorted, (size_t)count, sizeof *sorted, compare_strings);
        const char *twice = NULL;
        for (int i = 1; i < count && !twice; i++)
            if (strcmp(sorted[i - 1], sorted[i]) == 0)
                twice = sorted[i];
        fm_status st = twice ? bad(ld, "model \"%s\" lists the name \"%.64s\" twice", key, twice) : FM_OK;
        free(sorted);
        if (st != FM_OK)
            return st;
    }
    *out = count > 0 ? names : NULL;
    return FM_OK;
}

/* Step 4: the architecture, loss, seed and names. */
static fm_status parse_model(loader *ld)
{
    const cJSON *layers = NULL, *layer = NULL;
    const char *loss = NULL, *seed = NULL;
    fm_status status = get_int(ld, ld->model, "model", "n_in", 1, FM_MAX_WIDTH, &ld->n_in);
    if (status == FM_OK)
        status = get_member(ld, ld->model, "model", "layers", 1, &layers);
    if (status != FM_OK)
        return status;
    if (!cJSON_IsArray(layers))
        return bad(ld, "model \"layers\" is not an array");
    int n_layers = cJSON_GetArraySize(layers);
    if (n_layers < 1 || n_layers > FM_MAX_LAYERS)
        return bad(ld, "model has %d layers, expected 1 to %d", n_layers, FM_MAX_LAYERS);
    ld->n_layers = n_layers;
    ld->specs = fm_calloc_array((size_t)n_layers, sizeof *ld->specs);
    ld->widths = fm_calloc_array((size_t)n_layers, sizeof *ld->widths);
    if (!ld->specs || !ld->widths)
        return fm_fail(ld->err, FM_ERR_NOMEM, "model file %s: out of memory", ld->path);
    int i = 0;
    cJSON_ArrayForEach(layer, layers) {
        if ((status = parse_layer(ld, layer, i++)) != FM_OK)
            return status;
    }

    fm_error sub;
    if ((status = get_string(ld, ld->model, "model", "loss", 1, &loss)) != FM_OK)
        return status;
    if (fm_loss_parse(loss, &ld->loss, &sub) != FM_OK)
        return bad(ld, "model loss \"%.40s\": %s", loss, sub.message);
    if (fm_loss_check(&ld->loss, &ld->specs[n_layers - 1].act, &sub) != FM_OK)
        return bad(ld, "model loss does not fit the output layer: %s", sub.message);

    /* The seed is a decimal string: JSON numbers are doubles and lose 64-bit seeds. */
    if ((status = get_string(ld, ld->model, "model", "seed", 1, &seed)) != FM_OK)
        return status;
    size_t digits = strspn(seed, "0123456789");
    if (digits == 0 || digits > 20 || seed[digits] != '\0')
        return bad(ld, "model seed \"%.40s\" is not a decimal unsigned integer", seed);
    errno = 0;
    unsigned long long value = strtoull(seed, NULL, 10);
    if (errno == ERANGE)
        return bad(ld, "model seed \"%.40s\" does not fit in 64 bits", seed);
    ld->seed = (uint64_t)value;

    if ((status = parse_names(ld, "input_names", ld->n_in, &ld->input_names)) != FM_OK)
        return status;
    return parse_names(ld, "target_names", -1, &ld->target_names);
}

static fm_status parse_tensor_entry(loader *ld, const char *name, const cJSON *entry, fm_model_tensor *t)
{
    const cJSON *dtype = NULL, *shape = NULL, *offsets = NULL, *dim = NULL;
    char where[64], expected[64];
    snprintf(where, sizeof where, "tensor %s", name);
    if (!cJSON_IsObject(entry))
        return bad(ld, "%s is not an object", where);
    fm_status status = get_member(ld, entry, where, "dtype", 1, &dtype);
    if (status == FM_OK)
        status = get_member(ld, entry, where, "shape", 1, &shape);
    if (status == FM_OK)
        status = get_member(ld, entry, where, "data_offsets", 1, &offsets);
    if (status != FM_OK)
        return status;
    if (!cJSON_IsString(dtype))
        return bad(ld, "%s dtype is not a string", where);
    if (t->is_extra && strcmp(dtype->valuestring, "U64") == 0)
        t->elsize = 8;
    else if (strcmp(dtype->valuestring, "F32") == 0)
        t->elsize = 4;
    else
        return bad(ld, "%s has dtype %.20s; only F32%s is supported", where, dtype->valuestring,
                   t->is_extra ? " or U64" : "");

    if (!cJSON_IsArray(shape))
        return bad(ld, "%s shape is not an array", where);
    if (t->is_extra) {
        /* A checkpoint tensor is a vector of any length; the checkpoint
         * reader checks the length against the run. */
        const cJSON *first = cJSON_GetArrayItem(shape, 0);
        if (cJSON_GetArraySize(shape) != 1 || !integral_in(first, 0, FM_MODEL_MAX_OFFSET / 8))
            return bad(ld, "%s shape must be [N], one non-negative integer", where);
        t->rank = 1;
        t->shape[0] = t->count = (uint64_t)first->valuedouble;
    }
    fm_text_buf actual = {0};
    int rank = 0, shape_ok = 1;
    fm_tb_puts(&actual, "[");
    cJSON_ArrayForEach(dim, shape) {
        if (!integral_in(dim, 0, FM_MODEL_MAX_OFFSET))
        {
            free(actual.data);
            return bad(ld, "%s shape has an entry that is not a non-negative integer", where);
        }
        if (rank < 8)
            fm_tb_printf(&actual, "%s%.0f", rank ? "," : "", dim->valuedouble);
        else if (rank == 8)
            fm_tb_puts(&actual, ",...");
        if (rank >= t->rank || (uint64_t)dim->valuedouble != t->shape[rank])
            shape_ok = 0;
        rank++;
    }
    fm_tb_puts(&actual, "]");
    if (!shape_ok || rank != t->rank) {
        fm_tensor_shape_text(t, expected, sizeof expected);
        status = bad(ld, "%s has shape %s, expected %s", where, actual.failed ? "?" : actual.data, expected);
        free(actual.data);
        return status;
    }
    free(actual.data);

    if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2 ||
        !integral_in(cJSON_GetArrayItem(offsets, 0), 0, FM_MODEL_MAX_OFFSET) ||
        !integral_in(cJSON_GetArrayItem(offsets, 1), 0, FM_MODEL_MAX_OFFSET))
        return bad(ld, "%s data_offsets is not a pair of non-negative integers", where);
    t->begin = (uint64_t)cJSON_GetArrayItem(offsets, 0)->valuedouble;
    t->end = (uint64_t)cJSON_GetArrayItem(offsets, 1)->valuedouble;
    if (t->end < t->begin)
        return bad(ld, "%s data_offsets [%" PRIu64 ",%" PRIu64 "] end before they begin", where, t->begin, t->end);
    if (t->end - t->begin != (uint64_t)t->elsize * t->count)
        return bad(ld, "%s data_offsets [%" PRIu64 ",%" PRIu64 "] span %" PRIu64 " bytes, its shape needs %" PRIu64,
                   where, t->begin, t->end, t->end - t->begin, (uint64_t)t->elsize * t->count);
    if (t->end > ld->data_size)
        return bad(ld, "%s data_offsets [%" PRIu64 ",%" PRIu64 "] go beyond the data section (%" PRIu64 " bytes)",
                   where, t->begin, t->end, ld->data_size);
    return FM_OK;
}

static int compare_begin(const void *a, const void *b)
{
    const fm_model_tensor *x = *(const fm_model_tensor *const *)a, *y = *(const fm_model_tensor *const *)b;
    return (x->begin > y->begin) - (x->begin < y->begin);
}

/* Step 5: the tensor entries against the architecture, and the data layout. */
static fm_status parse_tensors(loader *ld, fm_model_tensor ***order_out, int *n_present)
{
    int n_layers = ld->n_layers, n_tensors = 2 * n_layers + FM_EXTRA_COUNT;
    ld->t = fm_calloc_array((size_t)n_tensors + FM_MAX_EXTRA_TENSORS, sizeof *ld->t);
    if (!ld->t)
        return fm_fail(ld->err, FM_ERR_NOMEM, "model file %s: out of memory", ld->path);
    fm_tensor_table_shapes(ld->t, ld->n_in, ld->widths, n_layers);

    const cJSON *entry;
    fm_status status;
    cJSON_ArrayForEach(entry, ld->root) {
        const char *name = entry->string ? entry->string : "";
        if (strcmp(name, "__metadata__") == 0)
            continue; /* checked (and its uniqueness) by parse_metadata */
        int k = tensor_index(name, n_layers);
        if (k < 0 && ld->checkpoint && fm_extra_tensor_name_ok(name)) {
            for (int e = 0; e < ld->n_extra; e++)
                if (strcmp(ld->extra_names[e], name) == 0)
                    return bad(ld, "tensor %s appears more than once", name);
            if (ld->n_extra == FM_MAX_EXTRA_TENSORS)
                return bad(ld, "more than %d checkpoint tensors", FM_MAX_EXTRA_TENSORS);
            snprintf(ld->extra_names[ld->n_extra], FM_EXTRA_NAME_MAX, "%s", name);
            k = n_tensors + ld->n_extra++;
            ld->t[k].is_extra = 1;
        }
        if (k < 0)
            return bad(ld, "unexpected tensor \"%.60s\" (the model has %d layers)", name, n_layers);
        if (ld->t[k].present)
            return bad(ld, "tensor %s appears more than once", name);
        if ((status = parse_tensor_entry(ld, name, entry, &ld->t[k])) != FM_OK)
            return status;
        ld->t[k].present = 1;
    }

    char name[48];
    for (int k = 0; k < 2 * n_layers; k++) {
        if (!ld->t[k].present) {
            fm_tensor_name(k, n_layers, name, sizeof name);
            return bad(ld, "missing tensor %s", name);
        }
    }
    for (int k = 0; k < FM_EXTRA_COUNT; k += 2) {
        const fm_model_tensor *mean = &ld->t[2 * n_layers + k], *std = mean + 1;
        if (mean->present != std->present)
            return bad(ld, "%s is present but %s is missing", fm_model_extra_names[k + !mean->present],
                       fm_model_extra_names[k + mean->present]);
    }

    /* The sizes are now tied to the architecture; the file must hold exactly them. */
    uint64_t total = 0;
    int count = 0, n_entries = n_tensors + ld->n_extra;
    for (int k = 0; k < n_entries; k++) {
        if (ld->t[k].present) {
            total += (uint64_t)ld->t[k].elsize * ld->t[k].count;
            count++;
        }
    }
    if (ld->data_size < total)
        return bad(ld, "data section has %" PRIu64 " bytes, the tensors need %" PRIu64 ": truncated", ld->data_size,
                   total);
    if (ld->data_size > total)
        return bad(ld, "%" PRIu64 " trailing bytes after the tensor data (data section %" PRIu64 " bytes, tensors %" PRIu64
                   ")", ld->data_size - total, ld->data_size, total);

    /* An array of pointers into ld->t, sorted by offset: sizeof *order (a pointer) is meant. */
    fm_model_tensor **order = fm_alloc_array((size_t)count, sizeof *order); // NOLINT(bugprone-sizeof-expression): array of pointers
    if (!order)
        return fm_fail(ld->err, FM_ERR_NOMEM, "model file %s: out of memory", ld->path);
    for (int k = 0, j = 0; k < n_entries; k++)
        if (ld->t[k].present)
            order[j++] = &ld->t[k];
    qsort(order, (size_t)count, sizeof *order, compare_begin); // NOLINT(bugprone-sizeof-expression): array of pointers
    uint64_t expected_begin = 0;
    status = FM_OK;
    for (int j = 0; j < count && status == FM_OK; j++) {
        char other[48] = "";
        entry_name(ld, (int)(order[j] - ld->t), name, sizeof name);
        if (j > 0)
            entry_name(ld, (int)(order[j - 1] - ld->t), other, sizeof other);
        if (order[j]->begin < expected_begin)
            status = bad(ld, "tensors %s and %s overlap in the data section", other, name);
        else if (order[j]->begin > expected_begin)
            status = bad(ld, "gap of %" PRIu64 " bytes in the data section before tensor %s",
                         order[j]->begin - expected_begin, name);
        expected_begin = order[j]->end;
    }
    if (status != FM_OK) {
        free(order);
        return status;
    }
    *order_out = order;
    *n_present = count;
    return FM_OK;
}

static fm_status copy_names(loader *ld, const cJSON *names, char ***out)
{
    int count = cJSON_GetArraySize(names), i = 0;
    char **copy = fm_calloc_array((size_t)count, sizeof *copy);
    if (!copy)
        return fm_fail(ld->err, FM_ERR_NOMEM, "model file %s: out of memory", ld->path);
    *out = copy; /* owned by the model from here, even when partly filled */
    const cJSON *item;
    cJSON_ArrayForEach(item, names) {
        if (!(copy[i++] = fm_strdup(item->valuestring)))
            return fm_fail(ld->err, FM_ERR_NOMEM, "model file %s: out of memory", ld->path);
    }
    return FM_OK;
}

/* Step 6: build the network and fill it from the data section (read in file order). */
static fm_status load_data(loader *ld, fm_model_tensor **order, int count, fm_model *model)
{
    int n_layers = ld->n_layers, base = 2 * n_layers;
    fm_error sub;
    if (fm_net_create(ld->n_in, ld->specs, n_layers, ld->seed, &model->net, &sub) != FM_OK)
        return sub.status == FM_ERR_NOMEM ? fm_fail(ld->err, FM_ERR_NOMEM, "model file %s: %s", ld->path, sub.message)
                                          : bad(ld, "the network it describes is invalid: %s", sub.message);
    for (int i = 0; i < n_layers; i++) {
        ld->t[2 * i].data = fm_net_weight(model->net, i);
        ld->t[2 * i + 1].data = fm_net_bias(model->net, i);
    }
    for (int k = base; k < base + FM_EXTRA_COUNT; k++) {
        if (ld->t[k].present && !(ld->t[k].data = fm_alloc_array((size_t)ld->t[k].count, sizeof(float))))
            return fm_fail(ld->err, FM_ERR_NOMEM, "model file %s: out of memory", ld->path);
    }

    char name[48];
    for (int j = 0; j < count; j++) {
        fm_model_tensor *t = order[j];
        entry_name(ld, (int)(t - ld->t), name, sizeof name);
        if (t->is_extra) {
            /* Checkpoint tensors: read for fm_model_load_with, else skipped.
             * Their sizes were checked against the file's length. */
            size_t bytes = (size_t)t->count * (size_t)t->elsize;
            if (!ld->want_extras) {
                if (fseek(ld->f, (long)bytes, SEEK_CUR) != 0)
                    return fm_fail(ld->err, FM_ERR_IO, "model file %s: cannot skip tensor %s", ld->path, name);
                continue;
            }
            if (!(t->data = malloc(bytes ? bytes : 1)))
                return fm_fail(ld->err, FM_ERR_NOMEM, "model file %s: out of memory for tensor %s", ld->path, name);
            if (fread(t->data, 1, bytes, ld->f) != bytes)
                return fm_fail(ld->err, FM_ERR_IO, "model file %s: cannot read tensor %s", ld->path, name);
            if (!fm_host_is_little_endian()) {
                if (t->elsize == 8)
                    fm_swap_u64((uint64_t *)(void *)t->data, (size_t)t->count);
                else
                    fm_swap_f32(t->data, (size_t)t->count);
            }
            continue;
        }
        if (fread(t->data, 4, (size_t)t->count, ld->f) != (size_t)t->count)
            return fm_fail(ld->err, FM_ERR_IO, "model file %s: cannot read tensor %s (file changed while reading?)",
                           ld->path, name);
        if (!fm_host_is_little_endian())
            fm_swap_f32(t->data, (size_t)t->count);
        int is_std = (t - ld->t) == base + FM_EXTRA_INPUT_STD || (t - ld->t) == base + FM_EXTRA_TARGET_STD;
        for (uint64_t e = 0; e < t->count; e++) {
            if (!isfinite(t->data[e]))
                return bad(ld, "tensor %s has a non-finite value (%g) at element %" PRIu64, name, (double)t->data[e], e);
            if (is_std && !(t->data[e] > 0.0f))
                return bad(ld, "tensor %s has a non-positive standard deviation (%g) at element %" PRIu64, name,
                           (double)t->data[e], e);
        }
    }

    const fm_model_tensor *x = &ld->t[base];
    if (x[FM_EXTRA_INPUT_MEAN].present &&
        fm_standardizer_create(ld->n_in, x[FM_EXTRA_INPUT_MEAN].data, x[FM_EXTRA_INPUT_STD].data, &model->input_std,
                               &sub) != FM_OK)
        return fm_fail(ld->err, sub.status, "model file %s: %s", ld->path, sub.message);
    if (x[FM_EXTRA_TARGET_MEAN].present &&
        fm_standardizer_create((int)x[FM_EXTRA_TARGET_MEAN].count, x[FM_EXTRA_TARGET_MEAN].data, x[FM_EXTRA_TARGET_STD].data,
                               &model->target_std, &sub) != FM_OK)
        return fm_fail(ld->err, sub.status, "model file %s: %s", ld->path, sub.message);

    model->loss = ld->loss;
    fm_status status;
    if (ld->input_names && (status = copy_names(ld, ld->input_names, &model->in_names)) != FM_OK)
        return status;
    if (ld->target_names) {
        model->n_target_names = cJSON_GetArraySize(ld->target_names);
        if ((status = copy_names(ld, ld->target_names, &model->out_names)) != FM_OK)
            return status;
    }
    if (ld->training && !(model->training_json = fm_strdup(ld->training)))
        return fm_fail(ld->err, FM_ERR_NOMEM, "model file %s: out of memory", ld->path);
    return FM_OK;
}

fm_status fm_model_load(const char *path, fm_model **out, fm_error *err)
{
    if (out)
        *out = NULL;
    if (!path || !out)
        return fm_fail(err, FM_ERR_ARG, "fm_model_load: path and out must not be NULL");
    return fm_model_load_with(path, out, NULL, NULL, NULL, err);
}

fm_status fm_model_load_with(const char *path, fm_model **out, char **checkpoint_json, fm_extra_tensor *extras,
                             int *n_extra, fm_error *err)
{
    if (checkpoint_json)
        *checkpoint_json = NULL;
    if (n_extra)
        *n_extra = 0;
    if (!out)
        return fm_fail(err, FM_ERR_ARG, "model load: output pointer is NULL");
    *out = NULL;
    if (!path || !*path)
        return fm_fail(err, FM_ERR_ARG, "model load: no path");

    loader ld = {.path = path, .err = err, .want_extras = extras != NULL && n_extra != NULL};
    ld.f = fopen(path, "rb");
    if (!ld.f)
        return fm_fail(err, FM_ERR_IO, "cannot open model file %s: %s", path, strerror(errno));

    char *header = NULL;
    uint64_t header_len = 0;
    fm_model_tensor **order = NULL;
    int count = 0;
    fm_model *model = NULL;
    fm_status status = read_header(&ld, &header, &header_len);
    if (status == FM_OK)
        status = parse_header(&ld, header, header_len);
    if (status == FM_OK)
        status = parse_metadata(&ld);
    if (status == FM_OK)
        status = parse_model(&ld);
    if (status == FM_OK)
        status = parse_tensors(&ld, &order, &count);
    if (status == FM_OK && !(model = calloc(1, sizeof *model)))
        status = fm_fail(err, FM_ERR_NOMEM, "model file %s: out of memory", path);
    if (status == FM_OK)
        status = load_data(&ld, order, count, model);
    if (status == FM_OK && checkpoint_json && ld.checkpoint && !(*checkpoint_json = fm_strdup(ld.checkpoint)))
        status = fm_fail(err, FM_ERR_NOMEM, "model file %s: out of memory", path);
    if (ld.t) {
        int n_model = 2 * ld.n_layers + FM_EXTRA_COUNT;
        for (int e = 0; e < ld.n_extra; e++) {
            fm_model_tensor *t = &ld.t[n_model + e];
            if (status == FM_OK && ld.want_extras) {
                snprintf(extras[e].name, sizeof extras[e].name, "%s", ld.extra_names[e]);
                extras[e].u64 = t->elsize == 8;
                extras[e].count = t->count;
                extras[e].data = t->data;
            } else {
                free(t->data);
            }
        }
        if (status == FM_OK && ld.want_extras)
            *n_extra = ld.n_extra;
    }
    if (status != FM_OK && checkpoint_json) {
        free(*checkpoint_json);
        *checkpoint_json = NULL;
    }

    if (ld.t) {
        for (int k = 2 * ld.n_layers; k < 2 * ld.n_layers + FM_EXTRA_COUNT; k++)
            if (ld.t[k].present)
                free(ld.t[k].data);
    }
    free(ld.t);
    free(order);
    free(ld.specs);
    free(ld.widths);
    cJSON_Delete(ld.model);
    cJSON_Delete(ld.root); /* ld.training pointed into it */
    free(header);
    fclose(ld.f);
    if (status != FM_OK) {
        fm_model_free(model);
        return status;
    }
    fm_error_clear(err);
    *out = model;
    return FM_OK;
}

void fm_model_free(fm_model *model)
{
    if (!model)
        return;
    if (model->in_names) {
        /* in_names holds n_in names (fm_model_load sets the network first). */
        int n = model->net ? fm_net_n_in(model->net) : 0;
        for (int i = 0; i < n; i++)
            free(model->in_names[i]);
        free(model->in_names);
    }
    if (model->out_names) {
        for (int i = 0; i < model->n_target_names; i++)
            free(model->out_names[i]);
        free(model->out_names);
    }
    fm_standardizer_free(model->input_std);
    fm_standardizer_free(model->target_std);
    free(model->training_json);
    fm_net_free(model->net);
    free(model);
}
