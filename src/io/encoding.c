/* Input encodings: sin/cos pairs, log1p and scaling of coordinates, and random
 * Fourier features (Tancik et al. 2020), parsed from and written back to a
 * spec string so that a model can carry the encoding it was trained with. */
#include "core/internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OPS 8
#define MAX_FOURIER 4096

typedef enum op_kind { OP_SINCOS, OP_LOG1P, OP_DIV } op_kind;

typedef struct enc_op {
    op_kind kind;
    double param; /* sincos: period; div: divisor */
} enc_op;

typedef struct enc_item {
    char *name;
    int n_ops;
    enc_op ops[MAX_OPS];
    int width; /* features it produces: 2 after a sincos, else 1 */
} enc_item;

struct fm_encoding {
    int n_items;
    enc_item *items;
    int n_base;          /* features of the items */
    int n_fourier;       /* N: 2N Fourier features follow the base features */
    double fourier_scale;
    uint64_t fourier_seed;
    float *projection;   /* B [n_fourier][n_base] */
    int n_out;
    char **feature_names;
};

void fm_encoding_free(fm_encoding *enc)
{
    if (!enc)
        return;
    for (int i = 0; i < enc->n_items; i++)
        free(enc->items[i].name);
    free(enc->items);
    free(enc->projection);
    if (enc->feature_names)
        for (int j = 0; j < enc->n_out; j++)
            free(enc->feature_names[j]);
    free(enc->feature_names);
    free(enc);
}

static int parse_number(const char *text, double *out)
{
    if (!*text)
        return 0;
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (*end || errno == ERANGE || !isfinite(v))
        return 0;
    *out = v;
    return 1;
}

/* Split `text` at ':' into at most max parts (pointers into text, which is modified). */
static int split_colons(char *text, char **parts, int max)
{
    int n = 0;
    char *p = text;
    for (;;) {
        if (n == max)
            return -1;
        parts[n++] = p;
        char *c = strchr(p, ':');
        if (!c)
            return n;
        *c = '\0';
        p = c + 1;
    }
}

static fm_status parse_item(fm_encoding *enc, char *text, fm_error *err)
{
    char *parts[2 * MAX_OPS + 2];
    int n = split_colons(text, parts, (int)(sizeof parts / sizeof parts[0]));
    if (n < 0)
        return fm_fail(err, FM_ERR_ARG, "encoding: too many operations in \"%s\"", text);
    if (!parts[0][0])
        return fm_fail(err, FM_ERR_ARG, "encoding: an item has no column name");
    if (strcmp(parts[0], "fourier") == 0 && n > 1) {
        double count, scale, seed = 1;
        if (enc->n_fourier)
            return fm_fail(err, FM_ERR_ARG, "encoding: fourier is given twice");
        if (n < 3 || n > 4 || !parse_number(parts[1], &count) || count != floor(count) || count < 1 ||
            count > MAX_FOURIER || !parse_number(parts[2], &scale) || !(scale > 0) ||
            (n == 4 && (!parse_number(parts[3], &seed) || seed < 0 || seed != floor(seed) || seed > 9e15)))
            return fm_fail(err, FM_ERR_ARG,
                           "encoding: fourier needs fourier:N:SCALE[:SEED] with N in 1..%d, SCALE > 0 and an "
                           "integer SEED >= 0",
                           MAX_FOURIER);
        enc->n_fourier = (int)count;
        enc->fourier_scale = scale;
        enc->fourier_seed = (uint64_t)seed;
        return FM_OK;
    }
    if (enc->n_fourier)
        return fm_fail(err, FM_ERR_ARG, "encoding: fourier must be the last item (it encodes the items before it)");
    enc_item item = {0};
    item.width = 1;
    for (int i = 1; i < n; i++) {
        if (item.n_ops == MAX_OPS)
            return fm_fail(err, FM_ERR_ARG, "encoding: more than %d operations on %s", MAX_OPS, parts[0]);
        enc_op op = {OP_LOG1P, 0};
        double value;
        if (strcmp(parts[i], "sincos") == 0) {
            op.kind = OP_SINCOS;
            op.param = 360.0;
            if (i + 1 < n && parse_number(parts[i + 1], &value)) {
                if (!(value > 0))
                    return fm_fail(err, FM_ERR_ARG, "encoding: %s: sincos period %g must be positive", parts[0], value);
                op.param = value;
                i++;
            }
            if (item.width == 2)
                return fm_fail(err, FM_ERR_ARG, "encoding: %s: sincos can be applied once", parts[0]);
            item.width = 2;
        } else if (strcmp(parts[i], "log1p") == 0) {
            op.kind = OP_LOG1P;
        } else if (strcmp(parts[i], "div") == 0) {
            op.kind = OP_DIV;
            if (i + 1 >= n || !parse_number(parts[i + 1], &value) || value == 0)
                return fm_fail(err, FM_ERR_ARG, "encoding: %s: div needs a non-zero number, e.g. div:90", parts[0]);
            op.param = value;
            i++;
        } else {
            return fm_fail(err, FM_ERR_ARG,
                           "encoding: unknown operation \"%s\" on %s (known: sincos[:PERIOD], log1p, div:S; "
                           "and the item fourier:N:SCALE[:SEED])",
                           parts[i], parts[0]);
        }
        if (item.width == 2 && op.kind != OP_SINCOS)
            return fm_fail(err, FM_ERR_ARG, "encoding: %s: sincos must be the last operation", parts[0]);
        item.ops[item.n_ops++] = op;
    }
    for (int i = 0; i < enc->n_items; i++)
        if (strcmp(enc->items[i].name, parts[0]) == 0)
            return fm_fail(err, FM_ERR_ARG, "encoding: column %s is named twice", parts[0]);
    if (!(item.name = fm_strdup(parts[0])))
        return fm_fail(err, FM_ERR_NOMEM, "out of memory");
    enc->items[enc->n_items++] = item;
    enc->n_base += item.width;
    return FM_OK;
}

static char *op_prefixed(const char *prefix, const char *name)
{
    size_t len = strlen(prefix) + strlen(name) + 1;
    char *s = malloc(len);
    if (s)
        snprintf(s, len, "%s%s", prefix, name);
    return s;
}

static fm_status build_names_and_projection(fm_encoding *enc, fm_error *err)
{
    enc->n_out = enc->n_base + 2 * enc->n_fourier;
    enc->feature_names = fm_calloc_array((size_t)enc->n_out, sizeof *enc->feature_names);
    if (!enc->feature_names)
        return fm_fail(err, FM_ERR_NOMEM, "out of memory");
    int j = 0;
    for (int i = 0; i < enc->n_items; i++) {
        const enc_item *it = &enc->items[i];
        /* The last non-sincos operation names the feature: log1p_depth. */
        const char *prefix = "";
        for (int k = 0; k < it->n_ops; k++)
            if (it->ops[k].kind == OP_LOG1P)
                prefix = "log1p_";
        char *base = op_prefixed(prefix, it->name);
        if (!base)
            return fm_fail(err, FM_ERR_NOMEM, "out of memory");
        if (it->width == 2) {
            enc->feature_names[j++] = op_prefixed("sin_", base);
            enc->feature_names[j++] = op_prefixed("cos_", base);
            free(base);
        } else {
            enc->feature_names[j++] = base;
        }
    }
    for (int f = 0; f < 2 * enc->n_fourier; f++) {
        char buf[32];
        snprintf(buf, sizeof buf, "ff_%s_%d", f < enc->n_fourier ? "sin" : "cos", f % enc->n_fourier);
        enc->feature_names[j++] = fm_strdup(buf);
    }
    for (j = 0; j < enc->n_out; j++)
        if (!enc->feature_names[j])
            return fm_fail(err, FM_ERR_NOMEM, "out of memory");
    if (enc->n_fourier) {
        size_t count = (size_t)enc->n_fourier * (size_t)enc->n_base;
        enc->projection = fm_alloc_array(count, sizeof *enc->projection);
        if (!enc->projection)
            return fm_fail(err, FM_ERR_NOMEM, "out of memory");
        fm_rng rng;
        fm_rng_seed(&rng, enc->fourier_seed);
        for (size_t i = 0; i < count; i++)
            enc->projection[i] = (float)(enc->fourier_scale * fm_rng_normal(&rng));
    }
    return FM_OK;
}

fm_status fm_encoding_parse(const char *spec, fm_encoding **out, fm_error *err)
{
    if (out)
        *out = NULL;
    if (!spec || !out)
        return fm_fail(err, FM_ERR_ARG, "fm_encoding_parse: spec and out must not be NULL");
    char *copy = fm_strdup(spec);
    fm_encoding *enc = calloc(1, sizeof *enc);
    size_t n_items = 1;
    for (const char *p = spec; *p; p++)
        n_items += *p == ',';
    if (enc)
        enc->items = fm_calloc_array(n_items, sizeof *enc->items);
    if (!copy || !enc || !enc->items) {
        free(copy);
        fm_encoding_free(enc);
        return fm_fail(err, FM_ERR_NOMEM, "out of memory");
    }
    fm_status st = FM_OK;
    char *p = copy;
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        /* Blanks around items are allowed, as in column specs. */
        while (*p == ' ' || *p == '\t')
            p++;
        size_t len = strlen(p);
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            p[--len] = '\0';
        if (!*p) {
            st = fm_fail(err, FM_ERR_ARG, "encoding \"%s\": empty item", spec);
            break;
        }
        st = parse_item(enc, p, err);
        if (st != FM_OK || !comma)
            break;
        p = comma + 1;
    }
    free(copy);
    if (st == FM_OK && enc->n_items == 0)
        st = fm_fail(err, FM_ERR_ARG, "encoding \"%s\": no columns (fourier encodes the columns before it)", spec);
    if (st == FM_OK)
        st = build_names_and_projection(enc, err);
    if (st != FM_OK) {
        fm_encoding_free(enc);
        return st;
    }
    *out = enc;
    return FM_OK;
}

int fm_encoding_is_identity(const fm_encoding *enc)
{
    if (enc->n_fourier)
        return 0;
    for (int i = 0; i < enc->n_items; i++)
        if (enc->items[i].n_ops)
            return 0;
    return 1;
}

int fm_encoding_n_raw(const fm_encoding *enc) { return enc->n_items; }
const char *fm_encoding_raw_name(const fm_encoding *enc, int i)
{
    return i >= 0 && i < enc->n_items ? enc->items[i].name : NULL;
}
int fm_encoding_n_out(const fm_encoding *enc) { return enc->n_out; }
const char *fm_encoding_feature_name(const fm_encoding *enc, int j)
{
    return j >= 0 && j < enc->n_out ? enc->feature_names[j] : NULL;
}

fm_status fm_encoding_apply(const fm_encoding *enc, const float *raw, size_t rows, float *out, fm_error *err)
{
    if (!enc || (rows > 0 && (!raw || !out)))
        return fm_fail(err, FM_ERR_ARG, "fm_encoding_apply: enc, raw and out must not be NULL");
    const int n_raw = enc->n_items, n_out = enc->n_out, n_base = enc->n_base;
    for (size_t r = 0; r < rows; r++) {
        const float *in = raw + r * (size_t)n_raw;
        float *o = out + r * (size_t)n_out;
        int j = 0;
        for (int i = 0; i < n_raw; i++) {
            const enc_item *it = &enc->items[i];
            double v = in[i];
            for (int k = 0; k < it->n_ops; k++) {
                const enc_op *op = &it->ops[k];
                if (op->kind == OP_LOG1P)
                    v = log1p(v);
                else if (op->kind == OP_DIV)
                    v /= op->param;
            }
            if (it->width == 2) {
                double angle = 2.0 * M_PI * v / it->ops[it->n_ops - 1].param;
                o[j++] = (float)sin(angle);
                o[j++] = (float)cos(angle);
            } else {
                o[j++] = (float)v;
            }
            if (!isfinite(o[j - 1]))
                return fm_fail(err, FM_ERR_FORMAT, "encoding: row %zu: %s = %g gives a non-finite %s", r, it->name,
                               (double)in[i], enc->feature_names[j - 1]);
        }
        /* Fourier features of the base features: sin(2 pi B v), cos(2 pi B v). */
        for (int f = 0; f < enc->n_fourier; f++) {
            const float *b = enc->projection + (size_t)f * (size_t)n_base;
            double dot = 0.0;
            for (int d = 0; d < n_base; d++)
                dot += (double)b[d] * (double)o[d];
            double angle = 2.0 * M_PI * dot;
            o[n_base + f] = (float)sin(angle);
            o[n_base + enc->n_fourier + f] = (float)cos(angle);
        }
    }
    return FM_OK;
}

char *fm_encoding_format(const fm_encoding *enc)
{
    size_t cap = 64;
    for (int i = 0; i < enc->n_items; i++)
        cap += strlen(enc->items[i].name) + 40 * (size_t)(enc->items[i].n_ops + 1);
    char *s = malloc(cap);
    if (!s)
        return NULL;
    size_t len = 0;
    for (int i = 0; i < enc->n_items; i++) {
        const enc_item *it = &enc->items[i];
        len += (size_t)snprintf(s + len, cap - len, "%s%s", i ? "," : "", it->name);
        for (int k = 0; k < it->n_ops; k++) {
            char num[32];
            fm_format_double(num, sizeof num, it->ops[k].param);
            if (it->ops[k].kind == OP_LOG1P)
                len += (size_t)snprintf(s + len, cap - len, ":log1p");
            else if (it->ops[k].kind == OP_DIV)
                len += (size_t)snprintf(s + len, cap - len, ":div:%s", num);
            else if (it->ops[k].param == 360.0)
                len += (size_t)snprintf(s + len, cap - len, ":sincos");
            else
                len += (size_t)snprintf(s + len, cap - len, ":sincos:%s", num);
        }
    }
    if (enc->n_fourier) {
        char num[32];
        fm_format_double(num, sizeof num, enc->fourier_scale);
        snprintf(s + len, cap - len, ",fourier:%d:%s:%llu", enc->n_fourier, num,
                 (unsigned long long)enc->fourier_seed);
    }
    return s;
}

fm_status fm_model_encoding(const fm_model *model, fm_encoding **out, fm_error *err)
{
    if (out)
        *out = NULL;
    if (!model || !model->net || !out)
        return fm_fail(err, FM_ERR_ARG, "fm_model_encoding: model (with its network) and out must not be NULL");
    if (!model->training_json)
        return FM_OK;
    cJSON *json = cJSON_Parse(model->training_json);
    if (!json)
        return fm_fail(err, FM_ERR_FORMAT, "the model's training settings are not valid JSON");
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(json, "encoding");
    fm_status st = FM_OK;
    if (item && !cJSON_IsString(item))
        st = fm_fail(err, FM_ERR_FORMAT, "the model's \"encoding\" setting is not a string");
    else if (item)
        st = fm_encoding_parse(item->valuestring, out, err);
    if (st == FM_OK && *out && fm_net_n_in(model->net) != (*out)->n_out) {
        st = fm_fail(err, FM_ERR_FORMAT, "the model's encoding \"%s\" gives %d features but the network takes %d",
                     item->valuestring, (*out)->n_out, fm_net_n_in(model->net));
        fm_encoding_free(*out);
        *out = NULL;
    }
    cJSON_Delete(json);
    return st;
}
