/* Model files: bit-exact round trips, the safetensors layout, and a clean
 * FM_ERR_FORMAT for every kind of damage (never a crash). */
#define _POSIX_C_SOURCE 200809L

#include "test_support.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

/* ------------------------------------------------------------ fixtures */

static fm_activation act_of(const char *spec)
{
    fm_activation act;
    fm_error err;
    FM_ASSERT_OK(fm_activation_parse(spec, &act, &err), &err);
    return act;
}

static fm_init init_of(const char *spec)
{
    fm_init init;
    fm_error err;
    FM_ASSERT_OK(fm_init_parse(spec, &init, &err), &err);
    return init;
}

static char **names_of(const char *const *names, int n)
{
    char **copy = calloc((size_t)n, sizeof *copy);
    assert_non_null(copy);
    for (int i = 0; i < n; i++)
        assert_non_null(copy[i] = strdup(names[i]));
    return copy;
}

/* Regression model 3 -> 5 (custom SELU) -> 4 (leaky ReLU 0.2) -> 2, with both
 * standardisers, names that need escaping, a seed above 2^53 and awkward floats. */
static fm_model *regression_model(uint64_t seed)
{
    fm_error err;
    fm_layer_spec specs[3] = {
        {.n_out = 5, .act = act_of("selu:1.0507,1.6733"), .init = init_of("lecun"), .dropout = 0.1},
        {.n_out = 4, .act = act_of("leaky_relu:0.2"), .init = init_of("he_uniform"), .dropout = 0.25},
        {.n_out = 2, .act = act_of("linear"), .init = init_of("normal:0.3")},
    };
    fm_model *model = calloc(1, sizeof *model);
    assert_non_null(model);
    FM_ASSERT_OK(fm_net_create(3, specs, 3, seed, &model->net, &err), &err);
    float *w = fm_net_weight(model->net, 1);
    w[0] = -0.0f;
    w[1] = 1e-40f; /* subnormal */
    w[2] = 123456.789f;
    w[3] = -FLT_MIN;
    float *b = fm_net_bias(model->net, 0);
    for (int i = 0; i < 5; i++)
        b[i] = 0.1f * (float)(i + 1) - 0.35f;

    const float in_mean[] = {1.5f, -2.0f, 1e6f}, in_std[] = {0.5f, 3.0f, 1e-3f};
    const float out_mean[] = {10.0f, -0.1f}, out_std[] = {2.0f, 7.0f};
    FM_ASSERT_OK(fm_standardizer_create(3, in_mean, in_std, &model->input_std, &err), &err);
    FM_ASSERT_OK(fm_standardizer_create(2, out_mean, out_std, &model->target_std, &err), &err);
    FM_ASSERT_OK(fm_loss_parse("huber:0.5", &model->loss, &err), &err);
    const char *in_names[] = {"depth", "temp\xc3\xa9rature", "a \"quoted\", back\\slashed\tname"};
    const char *out_names[] = {"y1", "y2"};
    model->in_names = names_of(in_names, 3);
    model->out_names = names_of(out_names, 2);
    model->n_target_names = 2;
    model->training_json = strdup("{\"optimizer\":\"adam\",\"lr\":0.001,\"epochs\":12,\"note\":\"line\\nbreak\"}");
    assert_non_null(model->training_json);
    return model;
}

/* Classification model 4 -> 8 relu -> 8 tanh (orthogonal) -> 3 softmax: no
 * standardisers, no input names, one target name, no training settings. */
static fm_model *classification_model(void)
{
    fm_error err;
    fm_layer_spec specs[3] = {
        {.n_out = 8, .act = act_of("relu"), .init = init_of("auto"), .dropout = 0.5},
        {.n_out = 8, .act = act_of("tanh"), .init = init_of("orthogonal:1.5")},
        {.n_out = 3, .act = act_of("softmax"), .init = init_of("glorot")},
    };
    fm_model *model = calloc(1, sizeof *model);
    assert_non_null(model);
    FM_ASSERT_OK(fm_net_create(4, specs, 3, 0, &model->net, &err), &err);
    FM_ASSERT_OK(fm_loss_parse("cross_entropy", &model->loss, &err), &err);
    const char *out_names[] = {"label"};
    model->out_names = names_of(out_names, 1);
    model->n_target_names = 1;
    return model;
}

static void assert_bits_equal(double a, double b) { assert_memory_equal(&a, &b, sizeof a); }

static void assert_standardizers_equal(const fm_standardizer *a, const fm_standardizer *b)
{
    if (!a || !b) {
        assert_true(a == b);
        return;
    }
    assert_int_equal(a->n, b->n);
    assert_memory_equal(a->mean, b->mean, (size_t)a->n * sizeof(float));
    assert_memory_equal(a->std, b->std, (size_t)a->n * sizeof(float));
}

static void assert_names_equal(char *const *a, char *const *b, int n)
{
    if (!a || !b) {
        assert_true(a == b);
        return;
    }
    for (int i = 0; i < n; i++)
        assert_string_equal(a[i], b[i]);
}

static void assert_models_equal(const fm_model *a, const fm_model *b)
{
    int n_layers = fm_net_n_layers(a->net);
    assert_int_equal(fm_net_n_in(a->net), fm_net_n_in(b->net));
    assert_int_equal(n_layers, fm_net_n_layers(b->net));
    assert_true(fm_net_seed(a->net) == fm_net_seed(b->net));
    for (int i = 0; i < n_layers; i++) {
        const fm_layer_spec *x = fm_net_layer(a->net, i), *y = fm_net_layer(b->net, i);
        assert_int_equal(x->n_out, y->n_out);
        assert_int_equal(x->act.kind, y->act.kind);
        assert_bits_equal(x->act.alpha, y->act.alpha);
        assert_bits_equal(x->act.lambda, y->act.lambda);
        assert_int_equal(x->init.kind, y->init.kind);
        assert_int_equal(x->init.uniform, y->init.uniform);
        assert_bits_equal(x->init.param, y->init.param);
        assert_bits_equal(x->dropout, y->dropout);
    }
    size_t n_params = fm_net_n_params(a->net);
    assert_int_equal(n_params, fm_net_n_params(b->net));
    assert_memory_equal(fm_net_params(a->net), fm_net_params(b->net), n_params * sizeof(float));
    assert_standardizers_equal(a->input_std, b->input_std);
    assert_standardizers_equal(a->target_std, b->target_std);
    assert_int_equal(a->loss.kind, b->loss.kind);
    if (a->loss.kind == FM_LOSS_HUBER)
        assert_bits_equal(a->loss.delta, b->loss.delta);
    assert_names_equal(a->in_names, b->in_names, fm_net_n_in(a->net));
    assert_int_equal(a->out_names ? a->n_target_names : 0, b->out_names ? b->n_target_names : 0);
    assert_names_equal(a->out_names, b->out_names, a->n_target_names);
    if (a->training_json || b->training_json) {
        assert_non_null(a->training_json);
        assert_non_null(b->training_json);
        assert_string_equal(a->training_json, b->training_json);
    }
}

/* ------------------------------------------------------------ file helpers */

typedef struct bytes {
    unsigned char *data;
    size_t size;
} bytes;

static bytes read_all(const char *path)
{
    bytes b = {0};
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    assert_true(size >= 0);
    b.size = (size_t)size;
    b.data = malloc(b.size + 1);
    assert_non_null(b.data);
    assert_int_equal(fread(b.data, 1, b.size, f), b.size);
    fclose(f);
    return b;
}

static uint64_t header_length(const bytes *file)
{
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | file->data[i];
    return n;
}

static void put_length(unsigned char *out, uint64_t n)
{
    for (int i = 0; i < 8; i++)
        out[i] = (unsigned char)(n >> (8 * i));
}

/* A file with the given header text (padded with spaces when `pad`) and data. */
static void write_model_bytes(const char *path, const char *header, int pad, const unsigned char *data,
                              size_t data_size)
{
    size_t n = strlen(header), padded = n;
    while (pad && (8 + padded) % 8)
        padded++;
    size_t size = 8 + padded + data_size;
    unsigned char *out = malloc(size);
    assert_non_null(out);
    put_length(out, padded);
    memcpy(out + 8, header, n);
    memset(out + 8 + n, ' ', padded - n);
    if (data_size)
        memcpy(out + 8 + padded, data, data_size);
    fm_test_write_file(path, out, size);
    free(out);
}

/* The saved file split into its parsed header and its data section. */
typedef struct model_file {
    bytes raw;
    cJSON *header;
    unsigned char *data; /* points into raw */
    size_t data_size;
} model_file;

static model_file parse_file(const char *path)
{
    model_file mf = {.raw = read_all(path)};
    uint64_t n = header_length(&mf.raw);
    assert_true(8 + n <= mf.raw.size);
    mf.header = cJSON_ParseWithLength((const char *)mf.raw.data + 8, (size_t)n);
    assert_non_null(mf.header);
    mf.data = mf.raw.data + 8 + n;
    mf.data_size = mf.raw.size - 8 - (size_t)n;
    return mf;
}

static void free_file(model_file *mf)
{
    cJSON_Delete(mf->header);
    free(mf->raw.data);
}

static void write_file_json(const char *path, const model_file *mf)
{
    char *text = cJSON_PrintUnformatted(mf->header);
    assert_non_null(text);
    write_model_bytes(path, text, 1, mf->data, mf->data_size);
    cJSON_free(text);
}

static cJSON *metadata(const model_file *mf) { return cJSON_GetObjectItemCaseSensitive(mf->header, "__metadata__"); }

static void set_metadata(model_file *mf, const char *key, const char *value)
{
    cJSON *meta = metadata(mf);
    cJSON_DeleteItemFromObjectCaseSensitive(meta, key);
    if (value)
        cJSON_AddStringToObject(meta, key, value);
}

/* Replace (or with value NULL, remove) one key of the "model" metadata JSON. */
static void set_model_key(model_file *mf, const char *key, cJSON *value)
{
    cJSON *model = cJSON_Parse(cJSON_GetObjectItemCaseSensitive(metadata(mf), "model")->valuestring);
    assert_non_null(model);
    cJSON_DeleteItemFromObjectCaseSensitive(model, key);
    if (value)
        cJSON_AddItemToObject(model, key, value);
    char *text = cJSON_PrintUnformatted(model);
    set_metadata(mf, "model", text);
    cJSON_free(text);
    cJSON_Delete(model);
}

static cJSON *model_key(const model_file *mf, const char *key, cJSON **owner)
{
    *owner = cJSON_Parse(cJSON_GetObjectItemCaseSensitive(metadata(mf), "model")->valuestring);
    assert_non_null(*owner);
    return cJSON_GetObjectItemCaseSensitive(*owner, key);
}

static cJSON *tensor_entry(const model_file *mf, const char *name)
{
    cJSON *entry = cJSON_GetObjectItemCaseSensitive(mf->header, name);
    assert_non_null(entry);
    return entry;
}

static size_t tensor_begin(const model_file *mf, const char *name)
{
    cJSON *offsets = cJSON_GetObjectItemCaseSensitive(tensor_entry(mf, name), "data_offsets");
    return (size_t)cJSON_GetArrayItem(offsets, 0)->valuedouble;
}

static void set_offsets(model_file *mf, const char *name, double begin, double end)
{
    cJSON *entry = tensor_entry(mf, name);
    double pair[2] = {begin, end};
    cJSON_ReplaceItemInObjectCaseSensitive(entry, "data_offsets", cJSON_CreateDoubleArray(pair, 2));
}

static void set_float(model_file *mf, const char *name, size_t element, float value)
{
    memcpy(mf->data + tensor_begin(mf, name) + 4 * element, &value, 4); /* the tests run on little-endian hosts */
}

/* Loading `path` fails with `status`, leaves *out NULL, and the message names the
 * file and contains `needle`. */
static void expect_failure(const char *path, fm_status status, const char *needle)
{
    fm_error err;
    fm_model *model = (fm_model *)&err;
    FM_ASSERT_FAILS(fm_model_load(path, &model, &err), &err, status, needle);
    assert_null(model);
    if (status == FM_ERR_FORMAT && !fm_test_contains(err.message, path))
        fail_msg("message \"%s\" does not name the file", err.message);
}

static int count_temp_files(const char *path)
{
    char dir[4096], base[4096], prefix[4200];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    assert_non_null(slash);
    *slash = '\0';
    snprintf(base, sizeof base, "%s", slash + 1);
    snprintf(prefix, sizeof prefix, "%s.tmp.", base);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL)
        if (strncmp(entry->d_name, prefix, strlen(prefix)) == 0)
            count++;
    closedir(d);
    return count;
}

/* Save the regression model to a scratch file; returns its path (static). */
static const char *saved_regression(const char *name, fm_model **model_out)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s", fm_test_tmp_path(name));
    fm_error err;
    fm_model *model = regression_model(0xFEDCBA9876543210ull);
    FM_ASSERT_OK(fm_model_save(model, path, &err), &err);
    if (model_out)
        *model_out = model;
    else
        fm_model_free(model);
    return path;
}

/* ------------------------------------------------------------------ tests */

static void test_round_trip_is_bit_exact(void **state)
{
    (void)state;
    fm_error err;
    fm_model *model;
    const char *path = saved_regression("round_trip.safetensors", &model);
    fm_model *loaded = NULL;
    FM_ASSERT_OK(fm_model_load(path, &loaded, &err), &err);
    assert_models_equal(model, loaded);

    /* The non-default activation parameters survive exactly. */
    const fm_layer_spec *selu = fm_net_layer(loaded->net, 0), *leaky = fm_net_layer(loaded->net, 1);
    assert_int_equal(selu->act.kind, FM_ACT_SELU);
    assert_true(selu->act.alpha == 1.0507 && selu->act.lambda == 1.6733);
    assert_int_equal(leaky->act.kind, FM_ACT_LEAKY_RELU);
    assert_true(leaky->act.alpha == 0.2);
    assert_true(fm_net_seed(loaded->net) == 0xFEDCBA9876543210ull);
    assert_int_equal(loaded->loss.kind, FM_LOSS_HUBER);
    assert_true(loaded->loss.delta == 0.5);
    float w1 = fm_net_weight(loaded->net, 1)[0];
    assert_true(w1 == 0.0f && signbit(w1));

    /* Saving what was loaded gives the same bytes. */
    char again[4096];
    snprintf(again, sizeof again, "%s", fm_test_tmp_path("round_trip_again.safetensors"));
    FM_ASSERT_OK(fm_model_save(loaded, again, &err), &err);
    bytes a = read_all(path), b = read_all(again);
    assert_int_equal(a.size, b.size);
    assert_memory_equal(a.data, b.data, a.size);
    free(a.data);
    free(b.data);

    /* The same outputs for the same inputs. */
    const float x[2 * 3] = {0.5f, -1.0f, 2.0f, -0.25f, 0.0f, 1.0f};
    float y0[2 * 2], y1[2 * 2];
    FM_ASSERT_OK(fm_net_predict(model->net, x, 2, y0, &err), &err);
    FM_ASSERT_OK(fm_net_predict(loaded->net, x, 2, y1, &err), &err);
    assert_memory_equal(y0, y1, sizeof y0);
    fm_model_free(model);
    fm_model_free(loaded);
}

static void test_round_trip_classification(void **state)
{
    (void)state;
    fm_error err;
    char path[4096];
    snprintf(path, sizeof path, "%s", fm_test_tmp_path("classifier.safetensors"));
    fm_model *model = classification_model();
    FM_ASSERT_OK(fm_model_save(model, path, &err), &err);
    fm_model *loaded = NULL;
    FM_ASSERT_OK(fm_model_load(path, &loaded, &err), &err);
    assert_models_equal(model, loaded);
    assert_null(loaded->input_std);
    assert_null(loaded->target_std);
    assert_null(loaded->in_names);
    assert_null(loaded->training_json);
    assert_int_equal(loaded->n_target_names, 1);
    assert_string_equal(loaded->out_names[0], "label");
    assert_int_equal(loaded->loss.kind, FM_LOSS_CROSS_ENTROPY);

    model_file mf = parse_file(path);
    assert_null(cJSON_GetObjectItemCaseSensitive(mf.header, "input.mean"));
    assert_null(cJSON_GetObjectItemCaseSensitive(mf.header, "target.std"));
    assert_null(cJSON_GetObjectItemCaseSensitive(metadata(&mf), "training"));
    free_file(&mf);
    fm_model_free(model);
    fm_model_free(loaded);
}

static void test_file_layout(void **state)
{
    (void)state;
    fm_model *model;
    const char *path = saved_regression("layout.safetensors", &model);
    bytes file = read_all(path);
    uint64_t n = header_length(&file);
    assert_true(n > 0 && 8 + n <= file.size);
    assert_int_equal((8 + n) % 8, 0);
    assert_true(file.data[8] == '{');

    model_file mf = parse_file(path);
    assert_true(cJSON_IsObject(mf.header));
    cJSON *meta = metadata(&mf), *item;
    assert_true(cJSON_IsObject(meta));
    cJSON_ArrayForEach(item, meta) {
        assert_true(cJSON_IsString(item)); /* safetensors: string to string */
    }
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(meta, "format")->valuestring, "fathom");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(meta, "format_version")->valuestring, "1");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(meta, "fathom_version")->valuestring, FM_VERSION_STRING);
    cJSON *training = cJSON_Parse(cJSON_GetObjectItemCaseSensitive(meta, "training")->valuestring);
    assert_true(cJSON_IsObject(training));
    cJSON_Delete(training);

    cJSON *owner;
    assert_int_equal(model_key(&mf, "n_in", &owner)->valuedouble, 3);
    cJSON *layers = cJSON_GetObjectItemCaseSensitive(owner, "layers");
    assert_int_equal(cJSON_GetArraySize(layers), 3);
    cJSON *layer0 = cJSON_GetArrayItem(layers, 0);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(layer0, "n_out")->valuedouble, 5);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(layer0, "init")->valuestring, "lecun");
    assert_true(cJSON_GetObjectItemCaseSensitive(layer0, "dropout")->valuedouble == 0.1);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(owner, "seed")->valuestring, "18364758544493064720");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(owner, "loss")->valuestring, "huber:0.5");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(owner, "input_names")), 3);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(owner, "target_names")), 2);
    cJSON_Delete(owner);

    /* Every tensor: F32, the PyTorch shape, contiguous in header order. */
    const char *names[] = {"layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias", "layers.2.weight",
                           "layers.2.bias",   "input.mean",    "input.std",       "target.mean",   "target.std"};
    const int shapes[][2] = {{5, 3}, {5, 0}, {4, 5}, {4, 0}, {2, 4}, {2, 0}, {3, 0}, {3, 0}, {2, 0}, {2, 0}};
    size_t offset = 0;
    int count = 0;
    cJSON_ArrayForEach(item, mf.header) {
        if (strcmp(item->string, "__metadata__") == 0)
            continue;
        assert_true(count < 10);
        assert_string_equal(item->string, names[count]);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(item, "dtype")->valuestring, "F32");
        cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
        int rank = shapes[count][1] ? 2 : 1;
        assert_int_equal(cJSON_GetArraySize(shape), rank);
        size_t elements = 1;
        for (int d = 0; d < rank; d++) {
            assert_int_equal(cJSON_GetArrayItem(shape, d)->valuedouble, shapes[count][d]);
            elements *= (size_t)shapes[count][d];
        }
        cJSON *offsets = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
        assert_int_equal(cJSON_GetArrayItem(offsets, 0)->valuedouble, offset);
        offset += 4 * elements;
        assert_int_equal(cJSON_GetArrayItem(offsets, 1)->valuedouble, offset);
        count++;
    }
    assert_int_equal(count, 10);
    assert_int_equal(mf.data_size, offset);
    /* The data are the parameters, little endian (this host is). */
    assert_memory_equal(mf.data, fm_net_params(model->net), fm_net_n_params(model->net) * sizeof(float));
    assert_memory_equal(mf.data + tensor_begin(&mf, "input.std"), model->input_std->std, 3 * sizeof(float));
    free_file(&mf);
    free(file.data);
    fm_model_free(model);
}

static void test_every_truncation_fails_cleanly(void **state)
{
    (void)state;
    const char *path = saved_regression("truncate_source.safetensors", NULL);
    bytes file = read_all(path);
    uint64_t n = header_length(&file);
    char cut[4096];
    snprintf(cut, sizeof cut, "%s", fm_test_tmp_path("truncated.safetensors"));
    for (size_t size = 0; size < file.size; size++) {
        fm_test_write_file(cut, file.data, size);
        const char *needle = size < 8 ? "shorter than" : size < 8 + n ? "header length" : "truncated";
        expect_failure(cut, FM_ERR_FORMAT, needle);
    }
    free(file.data);
}

/* Every single-byte corruption either still describes a valid model (a changed
 * weight, name or version text) or fails with FM_ERR_FORMAT; none crashes. */
static void test_every_byte_flip_is_handled(void **state)
{
    (void)state;
    const char *path = saved_regression("flip_source.safetensors", NULL);
    bytes file = read_all(path);
    char flipped[4096];
    snprintf(flipped, sizeof flipped, "%s", fm_test_tmp_path("flipped.safetensors"));
    size_t loaded = 0;
    for (size_t i = 0; i < file.size; i++) {
        file.data[i] ^= 0x5A;
        fm_test_write_file(flipped, file.data, file.size);
        file.data[i] ^= 0x5A;
        fm_error err;
        fm_model *model = NULL;
        fm_status status = fm_model_load(flipped, &model, &err);
        if (status == FM_OK) {
            loaded++;
            fm_model_free(model);
        } else if (status != FM_ERR_FORMAT) {
            fail_msg("byte %zu flipped: %s (%s)", i, fm_status_name(status), err.message);
        } else {
            assert_null(model);
        }
    }
    assert_true(loaded > 0);
    free(file.data);
}

static void test_trailing_bytes_and_length_field(void **state)
{
    (void)state;
    const char *source = saved_regression("length_source.safetensors", NULL);
    bytes file = read_all(source);
    uint64_t n = header_length(&file);
    char path[4096];
    snprintf(path, sizeof path, "%s", fm_test_tmp_path("length.safetensors"));
    unsigned char *copy = malloc(file.size + 1);
    assert_non_null(copy);

    memcpy(copy, file.data, file.size);
    copy[file.size] = 0;
    fm_test_write_file(path, copy, file.size + 1);
    expect_failure(path, FM_ERR_FORMAT, "trailing");

    const struct {
        uint64_t length;
        const char *needle;
    } cases[] = {
        {0, "header length is 0"},
        {UINT64_MAX, "above the limit"},
        {(uint64_t)1 << 40, "above the limit"},
        {file.size, "larger than the rest"},
        {n + 8, "header"},  /* takes tensor bytes into the header */
        {n - 16, "JSON"},   /* cuts the JSON object short */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memcpy(copy, file.data, file.size);
        put_length(copy, cases[i].length);
        fm_test_write_file(path, copy, file.size);
        expect_failure(path, FM_ERR_FORMAT, cases[i].needle);
    }
    free(copy);
    free(file.data);
}

static void test_bad_headers(void **state)
{
    (void)state;
    char path[4096];
    snprintf(path, sizeof path, "%s", fm_test_tmp_path("bad_header.safetensors"));
    const unsigned char data[16] = {0};
    const struct {
        const char *header;
        const char *needle;
    } cases[] = {
        {"this is not json", "not valid JSON"},
        {"{\"a\":", "not valid JSON"},
        {"[1, 2, 3]", "not a JSON object"},
        {"{} {}", "trailing bytes"},
        {"{}", "no __metadata__"},
        {"{\"__metadata__\":[]}", "__metadata__ is not an object"},
        {"{\"__metadata__\":{\"format\":3}}", "not a string"},
        {"{\"__metadata__\":{}}", "no \"format\""},
        {"{\"__metadata__\":{\"format\":\"gguf\"}}", "expected \"fathom\""},
        {"{\"__metadata__\":{\"format\":\"fathom\"}}", "no \"format_version\""},
        {"{\"__metadata__\":{\"format\":\"fathom\",\"format_version\":\"1\"}}", "no \"model\""},
        {"{\"__metadata__\":{\"format\":\"fathom\",\"format_version\":\"1\",\"model\":\"{\"}}", "not valid JSON"},
        {"{\"__metadata__\":{\"format\":\"fathom\",\"format_version\":\"1\",\"model\":\"[]\"}}", "not a JSON object"},
        {"{\"__metadata__\":{\"format\":\"fathom\",\"format_version\":\"1\",\"model\":\"{}\"}}", "n_in"},
        {"{\"__metadata__\":{\"format\":\"fathom\",\"format_version\":\"1\",\"format_version\":\"1\"}}",
         "more than once"},
        {"{\"__metadata__\":{},\"__metadata__\":{}}", "more than once"},
        {"{\"__metadata__\":{\"format\":\"fath\xffom\"}}", "UTF-8"},
        {"{\"__metadata__\":{\"format\":\"fathom\",\"format_version\":\"1\",\"model\":\"{}\",\"training\":\"[1]\"}}",
         "training"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_model_bytes(path, cases[i].header, 1, data, sizeof data);
        expect_failure(path, FM_ERR_FORMAT, cases[i].needle);
    }

    /* A NUL byte inside the header. */
    unsigned char nul[8 + 16] = {0};
    put_length(nul, 16);
    memcpy(nul + 8, "{\"a\":\"b\0c\"}    ", 16);
    fm_test_write_file(path, nul, sizeof nul);
    expect_failure(path, FM_ERR_FORMAT, "NUL");

    /* Too short for the length field, empty, a directory, missing. */
    fm_test_write_file(path, "abc", 3);
    expect_failure(path, FM_ERR_FORMAT, "shorter than");
    fm_test_write_file(path, "", 0);
    expect_failure(path, FM_ERR_FORMAT, "shorter than");
    expect_failure(FATHOM_TEST_TMP_DIR, FM_ERR_IO, "not a regular file");
    expect_failure(fm_test_tmp_path("does_not_exist.safetensors"), FM_ERR_IO, "does_not_exist");
    fm_error err;
    fm_model *model;
    FM_ASSERT_FAILS(fm_model_load(NULL, &model, &err), &err, FM_ERR_ARG, "path");
    FM_ASSERT_FAILS(fm_model_load(path, NULL, &err), &err, FM_ERR_ARG, "NULL");
}

/* One damaged copy of the regression model's file: the header mutated by `edit`. */
typedef void (*edit_fn)(model_file *mf);

static void expect_edit_fails(const char *source, edit_fn edit, const char *needle)
{
    model_file mf = parse_file(source);
    edit(&mf);
    char path[4096];
    snprintf(path, sizeof path, "%s", fm_test_tmp_path("edited.safetensors"));
    write_file_json(path, &mf);
    expect_failure(path, FM_ERR_FORMAT, needle);
    free_file(&mf);
}

static void edit_dtype_f16(model_file *mf)
{
    cJSON_ReplaceItemInObjectCaseSensitive(tensor_entry(mf, "layers.1.bias"), "dtype", cJSON_CreateString("F16"));
}
static void edit_dtype_number(model_file *mf)
{
    cJSON_ReplaceItemInObjectCaseSensitive(tensor_entry(mf, "layers.1.bias"), "dtype", cJSON_CreateNumber(32));
}
static void edit_wrong_shape(model_file *mf)
{
    const int shape[] = {2, 5};
    cJSON_ReplaceItemInObjectCaseSensitive(tensor_entry(mf, "layers.2.weight"), "shape", cJSON_CreateIntArray(shape, 2));
}
static void edit_wrong_rank(model_file *mf)
{
    const int shape[] = {5, 1};
    cJSON_ReplaceItemInObjectCaseSensitive(tensor_entry(mf, "layers.0.bias"), "shape", cJSON_CreateIntArray(shape, 2));
}
static void edit_negative_dim(model_file *mf)
{
    const int shape[] = {-5};
    cJSON_ReplaceItemInObjectCaseSensitive(tensor_entry(mf, "layers.0.bias"), "shape", cJSON_CreateIntArray(shape, 1));
}
static void edit_missing_dtype(model_file *mf) { cJSON_DeleteItemFromObjectCaseSensitive(tensor_entry(mf, "input.std"), "dtype"); }
static void edit_missing_shape(model_file *mf) { cJSON_DeleteItemFromObjectCaseSensitive(tensor_entry(mf, "input.std"), "shape"); }
static void edit_missing_offsets(model_file *mf)
{
    cJSON_DeleteItemFromObjectCaseSensitive(tensor_entry(mf, "input.std"), "data_offsets");
}
static void edit_entry_not_object(model_file *mf)
{
    cJSON_ReplaceItemInObjectCaseSensitive(mf->header, "layers.0.bias", cJSON_CreateString("F32"));
}
static void edit_offsets_overlap(model_file *mf)
{
    /* layers.0.weight is [0, 60]; its bias [60, 80] moved back onto it. */
    set_offsets(mf, "layers.0.bias", 40, 60);
}
static void edit_offsets_gap(model_file *mf) { set_offsets(mf, "layers.0.bias", 64, 84); }
static void edit_offsets_beyond(model_file *mf)
{
    set_offsets(mf, "target.std", (double)mf->data_size, (double)mf->data_size + 8);
}
static void edit_offsets_reversed(model_file *mf) { set_offsets(mf, "layers.0.bias", 80, 60); }
static void edit_offsets_span(model_file *mf) { set_offsets(mf, "layers.0.bias", 60, 84); }
static void edit_offsets_fraction(model_file *mf) { set_offsets(mf, "layers.0.bias", 60.5, 80.5); }
static void edit_missing_tensor(model_file *mf) { cJSON_DeleteItemFromObjectCaseSensitive(mf->header, "layers.1.bias"); }
static void edit_missing_std(model_file *mf) { cJSON_DeleteItemFromObjectCaseSensitive(mf->header, "input.std"); }
static void edit_extra_tensor(model_file *mf)
{
    cJSON *copy = cJSON_Duplicate(tensor_entry(mf, "layers.2.bias"), 1);
    cJSON_AddItemToObject(mf->header, "layers.3.bias", copy);
}
static void edit_unknown_tensor(model_file *mf)
{
    cJSON *copy = cJSON_Duplicate(tensor_entry(mf, "layers.2.bias"), 1);
    cJSON_AddItemToObject(mf->header, "output.scale", copy);
}
static void edit_leading_zero_name(model_file *mf)
{
    cJSON *entry = cJSON_DetachItemFromObjectCaseSensitive(mf->header, "layers.1.bias");
    cJSON_AddItemToObject(mf->header, "layers.01.bias", entry);
}
static void edit_duplicate_tensor(model_file *mf)
{
    cJSON *copy = cJSON_Duplicate(tensor_entry(mf, "layers.2.bias"), 1);
    cJSON_AddItemToObject(mf->header, "layers.2.bias", copy);
}
static void edit_format_version(model_file *mf) { set_metadata(mf, "format_version", "2"); }
static void edit_format_missing(model_file *mf) { set_metadata(mf, "format", NULL); }
static void edit_format_other(model_file *mf) { set_metadata(mf, "format", "pt"); }
static void edit_model_not_json(model_file *mf) { set_metadata(mf, "model", "{\"n_in\":"); }
static void edit_training_not_object(model_file *mf) { set_metadata(mf, "training", "\"adam\""); }
static void edit_training_junk(model_file *mf) { set_metadata(mf, "training", "{\"lr\":1} junk"); }
static void edit_model_junk(model_file *mf)
{
    char text[4096];
    snprintf(text, sizeof text, "%s}", cJSON_GetObjectItemCaseSensitive(metadata(mf), "model")->valuestring);
    set_metadata(mf, "model", text);
}
static void edit_metadata_number(model_file *mf)
{
    cJSON_AddNumberToObject(metadata(mf), "epochs", 12);
}
static void edit_n_in_huge(model_file *mf) { set_model_key(mf, "n_in", cJSON_CreateNumber(2000000)); }
static void edit_n_in_mismatch(model_file *mf)
{
    set_model_key(mf, "input_names", NULL);
    set_model_key(mf, "n_in", cJSON_CreateNumber(1000000));
}
static void edit_n_in_fraction(model_file *mf) { set_model_key(mf, "n_in", cJSON_CreateNumber(3.5)); }
static void edit_n_in_string(model_file *mf) { set_model_key(mf, "n_in", cJSON_CreateString("3")); }
static void edit_layers_missing(model_file *mf) { set_model_key(mf, "layers", NULL); }
static void edit_layers_empty(model_file *mf) { set_model_key(mf, "layers", cJSON_CreateArray()); }

static void edit_layer_field(model_file *mf, int index, const char *key, cJSON *value)
{
    cJSON *owner;
    cJSON *layers = cJSON_Duplicate(model_key(mf, "layers", &owner), 1);
    cJSON_Delete(owner);
    cJSON *layer = cJSON_GetArrayItem(layers, index);
    cJSON_DeleteItemFromObjectCaseSensitive(layer, key);
    if (value)
        cJSON_AddItemToObject(layer, key, value);
    set_model_key(mf, "layers", layers);
}
static void edit_too_many_layers(model_file *mf)
{
    cJSON *layers = cJSON_CreateArray();
    for (int i = 0; i < FM_MAX_LAYERS + 1; i++) {
        cJSON *layer = cJSON_CreateObject();
        cJSON_AddNumberToObject(layer, "n_out", 1);
        cJSON_AddStringToObject(layer, "activation", "linear");
        cJSON_AddStringToObject(layer, "init", "auto");
        cJSON_AddNumberToObject(layer, "dropout", 0);
        cJSON_AddItemToArray(layers, layer);
    }
    set_model_key(mf, "layers", layers);
}
static void edit_width_huge(model_file *mf) { edit_layer_field(mf, 1, "n_out", cJSON_CreateNumber(1e9)); }
static void edit_width_zero(model_file *mf) { edit_layer_field(mf, 0, "n_out", cJSON_CreateNumber(0)); }
static void edit_width_mismatch(model_file *mf) { edit_layer_field(mf, 1, "n_out", cJSON_CreateNumber(1000000)); }
static void edit_bad_activation(model_file *mf) { edit_layer_field(mf, 0, "activation", cJSON_CreateString("swish9")); }
static void edit_bad_act_param(model_file *mf)
{
    edit_layer_field(mf, 1, "activation", cJSON_CreateString("leaky_relu:abc"));
}
static void edit_missing_activation(model_file *mf) { edit_layer_field(mf, 0, "activation", NULL); }
static void edit_softmax_hidden(model_file *mf) { edit_layer_field(mf, 0, "activation", cJSON_CreateString("softmax")); }
static void edit_bad_init(model_file *mf) { edit_layer_field(mf, 2, "init", cJSON_CreateString("bogus")); }
static void edit_bad_dropout(model_file *mf) { edit_layer_field(mf, 0, "dropout", cJSON_CreateNumber(1.0)); }
static void edit_dropout_string(model_file *mf) { edit_layer_field(mf, 0, "dropout", cJSON_CreateString("0.1")); }
static void edit_layer_not_object(model_file *mf)
{
    cJSON *owner;
    cJSON *layers = cJSON_Duplicate(model_key(mf, "layers", &owner), 1);
    cJSON_Delete(owner);
    cJSON_ReplaceItemInArray(layers, 1, cJSON_CreateNumber(4));
    set_model_key(mf, "layers", layers);
}
static void edit_bad_loss(model_file *mf) { set_model_key(mf, "loss", cJSON_CreateString("hinge")); }
static void edit_loss_mismatch(model_file *mf) { set_model_key(mf, "loss", cJSON_CreateString("cross_entropy")); }
static void edit_missing_loss(model_file *mf) { set_model_key(mf, "loss", NULL); }
static void edit_seed_negative(model_file *mf) { set_model_key(mf, "seed", cJSON_CreateString("-1")); }
static void edit_seed_overflow(model_file *mf) { set_model_key(mf, "seed", cJSON_CreateString("18446744073709551616")); }
static void edit_seed_number(model_file *mf) { set_model_key(mf, "seed", cJSON_CreateNumber(7)); }
static void edit_seed_missing(model_file *mf) { set_model_key(mf, "seed", NULL); }
static void edit_input_names_count(model_file *mf)
{
    const char *names[] = {"a", "b"};
    set_model_key(mf, "input_names", cJSON_CreateStringArray(names, 2));
}
static void edit_target_names_type(model_file *mf)
{
    const int values[] = {1, 2};
    set_model_key(mf, "target_names", cJSON_CreateIntArray(values, 2));
}
static void edit_names_not_array(model_file *mf) { set_model_key(mf, "input_names", cJSON_CreateString("depth")); }
static void edit_input_names_twice(model_file *mf)
{
    const char *names[] = {"lat", "depth", "lat"};
    set_model_key(mf, "input_names", cJSON_CreateStringArray(names, 3));
}
static void edit_input_name_empty(model_file *mf)
{
    const char *names[] = {"lat", "", "lon"};
    set_model_key(mf, "input_names", cJSON_CreateStringArray(names, 3));
}

static void test_damaged_headers(void **state)
{
    (void)state;
    const struct {
        edit_fn edit;
        const char *needle;
    } cases[] = {
        {edit_dtype_f16, "layers.1.bias has dtype F16"},
        {edit_dtype_number, "dtype is not a string"},
        {edit_wrong_shape, "layers.2.weight has shape [2,5], expected [2,4]"},
        {edit_wrong_rank, "layers.0.bias has shape [5,1], expected [5]"},
        {edit_negative_dim, "non-negative integer"},
        {edit_missing_dtype, "tensor input.std has no \"dtype\""},
        {edit_missing_shape, "tensor input.std has no \"shape\""},
        {edit_missing_offsets, "tensor input.std has no \"data_offsets\""},
        {edit_entry_not_object, "tensor layers.0.bias is not an object"},
        {edit_offsets_overlap, "overlap"},
        {edit_offsets_gap, "gap of 4 bytes"},
        {edit_offsets_beyond, "beyond the data section"},
        {edit_offsets_reversed, "end before"},
        {edit_offsets_span, "span 24 bytes"},
        {edit_offsets_fraction, "data_offsets is not a pair"},
        {edit_missing_tensor, "missing tensor layers.1.bias"},
        {edit_missing_std, "input.mean is present but input.std is missing"},
        {edit_extra_tensor, "unexpected tensor \"layers.3.bias\""},
        {edit_unknown_tensor, "unexpected tensor \"output.scale\""},
        {edit_leading_zero_name, "unexpected tensor \"layers.01.bias\""},
        {edit_duplicate_tensor, "layers.2.bias appears more than once"},
        {edit_format_version, "unsupported format_version \"2\""},
        {edit_format_missing, "no \"format\""},
        {edit_format_other, "format is \"pt\""},
        {edit_model_not_json, "\"model\" is not valid JSON"},
        {edit_training_not_object, "\"training\" is not a JSON object"},
        {edit_training_junk, "\"training\" is not a JSON object"},
        {edit_model_junk, "\"model\" is not valid JSON"},
        {edit_metadata_number, "__metadata__ value \"epochs\" is not a string"},
        {edit_n_in_huge, "n_in"},
        {edit_n_in_mismatch, "layers.0.weight has shape [5,3], expected [5,1000000]"},
        {edit_n_in_fraction, "n_in\" is 3.5"},
        {edit_n_in_string, "n_in"},
        {edit_layers_missing, "no \"layers\""},
        {edit_layers_empty, "0 layers"},
        {edit_too_many_layers, "10001 layers"},
        {edit_width_huge, "n_out"},
        {edit_width_zero, "n_out"},
        {edit_width_mismatch, "layers.1.weight has shape [4,5], expected [1000000,5]"},
        {edit_bad_activation, "layers[0] activation \"swish9\""},
        {edit_bad_act_param, "leaky_relu:abc"},
        {edit_missing_activation, "layers[0] has no \"activation\""},
        {edit_softmax_hidden, "softmax"},
        {edit_bad_init, "init \"bogus\""},
        {edit_bad_dropout, "dropout"},
        {edit_dropout_string, "dropout"},
        {edit_layer_not_object, "layers[1] is not an object"},
        {edit_bad_loss, "loss \"hinge\""},
        {edit_loss_mismatch, "does not fit the output layer"},
        {edit_missing_loss, "no \"loss\""},
        {edit_seed_negative, "seed \"-1\""},
        {edit_seed_overflow, "64 bits"},
        {edit_seed_number, "seed\" is not a string"},
        {edit_seed_missing, "no \"seed\""},
        {edit_input_names_count, "input_names\" has 2 names, expected 3"},
        {edit_target_names_type, "target_names\" has an entry that is not a string"},
        {edit_names_not_array, "input_names\" is not an array"},
        {edit_input_names_twice, "lists the name \"lat\" twice"},
        {edit_input_name_empty, "input_names\" has an empty name"},
    };
    const char *source = saved_regression("edit_source.safetensors", NULL);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_edit_fails(source, cases[i].edit, cases[i].needle);
}

static void test_bad_values(void **state)
{
    (void)state;
    const char *source = saved_regression("values_source.safetensors", NULL);
    char path[4096];
    snprintf(path, sizeof path, "%s", fm_test_tmp_path("values.safetensors"));
    const struct {
        const char *tensor;
        size_t element;
        float value;
        const char *needle;
    } cases[] = {
        {"layers.0.weight", 0, NAN, "layers.0.weight has a non-finite value"},
        {"layers.2.weight", 7, INFINITY, "layers.2.weight has a non-finite value (inf) at element 7"},
        {"layers.1.bias", 3, -INFINITY, "layers.1.bias has a non-finite"},
        {"input.mean", 2, NAN, "input.mean has a non-finite"},
        {"input.std", 1, 0.0f, "input.std has a non-positive standard deviation"},
        {"target.std", 0, -2.0f, "target.std has a non-positive"},
        {"target.std", 1, NAN, "target.std has a non-finite"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        model_file mf = parse_file(source);
        set_float(&mf, cases[i].tensor, cases[i].element, cases[i].value);
        fm_test_write_file(path, mf.raw.data, mf.raw.size);
        expect_failure(path, FM_ERR_FORMAT, cases[i].needle);
        free_file(&mf);
    }
}

/* Files written by other tools may order keys differently, skip the padding, add
 * metadata, or store the tensors in another order: all of that is fine. */
static void test_tolerated_variations(void **state)
{
    (void)state;
    fm_error err;
    fm_model *model;
    const char *source = saved_regression("tolerant_source.safetensors", &model);
    model_file mf = parse_file(source);

    /* Reverse the header's keys (metadata last) and add unknown keys. */
    cJSON *reversed = cJSON_CreateObject();
    while (mf.header->child) {
        cJSON *last = mf.header->child;
        while (last->next)
            last = last->next;
        cJSON_AddItemToObject(reversed, last->string, cJSON_DetachItemViaPointer(mf.header, last));
    }
    cJSON_Delete(mf.header);
    mf.header = reversed;
    cJSON_AddStringToObject(metadata(&mf), "author", "someone");
    set_model_key(&mf, "comment", cJSON_CreateString("an unknown key"));

    /* Swap the data of input.mean and input.std (both 12 bytes) with their offsets. */
    size_t mean_at = tensor_begin(&mf, "input.mean"), std_at = tensor_begin(&mf, "input.std");
    unsigned char tmp[12];
    memcpy(tmp, mf.data + mean_at, 12);
    memcpy(mf.data + mean_at, mf.data + std_at, 12);
    memcpy(mf.data + std_at, tmp, 12);
    set_offsets(&mf, "input.mean", (double)std_at, (double)std_at + 12);
    set_offsets(&mf, "input.std", (double)mean_at, (double)mean_at + 12);

    char path[4096];
    snprintf(path, sizeof path, "%s", fm_test_tmp_path("tolerant.safetensors"));
    char *text = cJSON_Print(mf.header); /* formatted, with newlines */
    assert_non_null(text);
    write_model_bytes(path, text, 0, mf.data, mf.data_size);
    cJSON_free(text);
    fm_model *loaded = NULL;
    FM_ASSERT_OK(fm_model_load(path, &loaded, &err), &err);
    assert_models_equal(model, loaded);
    fm_model_free(loaded);
    free_file(&mf);
    fm_model_free(model);
}

static void test_save_over_existing_file_is_atomic(void **state)
{
    (void)state;
    fm_error err;
    char path[4096];
    snprintf(path, sizeof path, "%s", fm_test_tmp_path("replace.safetensors"));
    fm_model *first = regression_model(1), *second = classification_model();
    FM_ASSERT_OK(fm_model_save(first, path, &err), &err);
    struct stat before, after;
    assert_int_equal(stat(path, &before), 0);
    FM_ASSERT_OK(fm_model_save(second, path, &err), &err);
    assert_int_equal(stat(path, &after), 0);
    /* A new file renamed into place, not the old one rewritten in place. */
    assert_true(before.st_ino != after.st_ino);
    assert_int_equal(count_temp_files(path), 0);
    fm_model *loaded = NULL;
    FM_ASSERT_OK(fm_model_load(path, &loaded, &err), &err);
    assert_models_equal(second, loaded);
    fm_model_free(loaded);
    fm_model_free(first);
    fm_model_free(second);
}

static void test_failed_saves(void **state)
{
    (void)state;
    fm_error err;
    char missing[4096];
    snprintf(missing, sizeof missing, "%s", fm_test_tmp_path("no_such_dir/model.safetensors"));
    fm_model *model = regression_model(5);
    FM_ASSERT_FAILS(fm_model_save(model, missing, &err), &err, FM_ERR_IO, "no_such_dir");
    assert_int_equal(count_temp_files(missing), 0);

    /* An existing file stays as it was when a save is refused or fails. */
    char path[4096];
    snprintf(path, sizeof path, "%s", fm_test_tmp_path("keep.safetensors"));
    FM_ASSERT_OK(fm_model_save(model, path, &err), &err);
    bytes original = read_all(path);

    fm_model *other = regression_model(6);
    free(other->training_json);
    other->training_json = strdup("[not an object]");
    FM_ASSERT_FAILS(fm_model_save(other, path, &err), &err, FM_ERR_ARG, "training");
    free(other->training_json);
    other->training_json = strdup("{\"lr\":1} {}");
    FM_ASSERT_FAILS(fm_model_save(other, path, &err), &err, FM_ERR_ARG, "training");
    free(other->training_json);
    other->training_json = NULL;
    fm_net_weight(other->net, 2)[3] = NAN;
    FM_ASSERT_FAILS(fm_model_save(other, path, &err), &err, FM_ERR_NUMERIC, "layers.2.weight");
    fm_net_weight(other->net, 2)[3] = 0.0f;
    free(other->in_names[1]);
    other->in_names[1] = strdup("bad\xff");
    FM_ASSERT_FAILS(fm_model_save(other, path, &err), &err, FM_ERR_ARG, "UTF-8");
    strcpy(other->in_names[1], "ok");
    other->input_std->std[0] = 0.0f;
    FM_ASSERT_FAILS(fm_model_save(other, path, &err), &err, FM_ERR_ARG, "input standardizer");
    other->input_std->std[0] = 1.0f;
    fm_standardizer *wrong = other->target_std;
    other->target_std = other->input_std; /* 3 columns for a 2-wide output */
    FM_ASSERT_FAILS(fm_model_save(other, path, &err), &err, FM_ERR_ARG, "target standardizer");
    other->target_std = wrong;
    FM_ASSERT_OK(fm_loss_parse("cross_entropy", &other->loss, &err), &err);
    FM_ASSERT_FAILS(fm_model_save(other, path, &err), &err, FM_ERR_ARG, "softmax");
    FM_ASSERT_FAILS(fm_model_save(NULL, path, &err), &err, FM_ERR_ARG, "model");
    FM_ASSERT_FAILS(fm_model_save(other, NULL, &err), &err, FM_ERR_ARG, "path");

    /* A write that fails halfway (file size limit): FM_ERR_IO, temp file removed. */
    FM_ASSERT_OK(fm_loss_parse("mse", &other->loss, &err), &err);
    struct rlimit old_limit, small;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
    small = old_limit;
    small.rlim_cur = 512;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    fm_status status = fm_model_save(other, path, &err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old_limit), 0);
    signal(SIGXFSZ, old_handler);
    assert_int_equal(status, FM_ERR_IO);
    assert_true(fm_test_contains(err.message, path));

    assert_int_equal(count_temp_files(path), 0);
    bytes now = read_all(path);
    assert_int_equal(now.size, original.size);
    assert_memory_equal(now.data, original.data, now.size);
    free(now.data);
    free(original.data);
    fm_model_free(other);
    fm_model_free(model);
}

static void test_free_accepts_null(void **state)
{
    (void)state;
    fm_model_free(NULL);
    fm_model *empty = calloc(1, sizeof *empty);
    assert_non_null(empty);
    fm_model_free(empty);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_is_bit_exact),
        cmocka_unit_test(test_round_trip_classification),
        cmocka_unit_test(test_file_layout),
        cmocka_unit_test(test_every_truncation_fails_cleanly),
        cmocka_unit_test(test_every_byte_flip_is_handled),
        cmocka_unit_test(test_trailing_bytes_and_length_field),
        cmocka_unit_test(test_bad_headers),
        cmocka_unit_test(test_damaged_headers),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_tolerated_variations),
        cmocka_unit_test(test_save_over_existing_file_is_atomic),
        cmocka_unit_test(test_failed_saves),
        cmocka_unit_test(test_free_accepts_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
