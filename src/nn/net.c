/* The dense network: creation, parameter views, and the forward and backward
 * passes. Every dense product goes through cblas_sgemm; no loop runs over the
 * samples of a batch except the element-wise ones. Buffers for a batch size are
 * allocated once (fm_net_reserve) and reused by every step after that. */
#include "nn/net_internal.h"
#include "core/hot_loop.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void free_buffers(fm_net *net)
{
    if (!net->layers)
        return;
    for (int l = 0; l < net->n_layers; l++) {
        fm_net_layer_state *s = &net->layers[l];
        if (s->a != s->z)
            free(s->a);
        free(s->z);
        free(s->out);
        free(s->mask);
        free(s->delta);
        s->z = s->a = s->out = s->mask = s->delta = NULL;
    }
    net->capacity = 0;
    net->batch = 0; /* the last pass's values are gone: a backward pass now needs a forward one first */
}

void fm_net_free(fm_net *net)
{
    if (!net)
        return;
    free_buffers(net);
    free(net->layers);
    free(net->specs);
    free(net->params);
    free(net->grads);
    free(net);
}

static fm_status check_spec(int index, const fm_layer_spec *spec, int n_layers, fm_error *err)
{
    if (spec->n_out <= 0 || spec->n_out > FM_MAX_WIDTH)
        return fm_fail(err, FM_ERR_ARG, "layer %d: width %d is outside 1..%d", index + 1, spec->n_out, FM_MAX_WIDTH);
    fm_error why;
    if (fm_activation_check(&spec->act, &why) != FM_OK)
        return fm_fail(err, FM_ERR_ARG, "layer %d: %s", index + 1, why.message);
    if (spec->act.kind == FM_ACT_SOFTMAX && index != n_layers - 1)
        return fm_fail(err, FM_ERR_ARG, "layer %d: softmax is only allowed on the output layer", index + 1);
    if (fm_init_check(&spec->init, &why) != FM_OK)
        return fm_fail(err, FM_ERR_ARG, "layer %d: %s", index + 1, why.message);
    if (!(spec->dropout >= 0.0 && spec->dropout < 1.0))
        return fm_fail(err, FM_ERR_ARG, "layer %d: dropout %g must lie in [0, 1)", index + 1, spec->dropout);
    return FM_OK;
}

fm_status fm_net_create(int n_in, const fm_layer_spec *layers, int n_layers, uint64_t seed, fm_net **out,
                        fm_error *err)
{
    if (!out)
        return fm_fail(err, FM_ERR_ARG, "fm_net_create: out must not be NULL");
    *out = NULL;
    if (n_in <= 0 || n_in > FM_MAX_WIDTH)
        return fm_fail(err, FM_ERR_ARG, "input width %d is outside 1..%d", n_in, FM_MAX_WIDTH);
    if (n_layers <= 0 || n_layers > FM_MAX_LAYERS)
        return fm_fail(err, FM_ERR_ARG, "number of layers %d is outside 1..%d", n_layers, FM_MAX_LAYERS);
    if (!layers)
        return fm_fail(err, FM_ERR_ARG, "fm_net_create: layers must not be NULL");
    size_t n_params = 0;
    int prev = n_in;
    for (int l = 0; l < n_layers; l++) {
        fm_status st = check_spec(l, &layers[l], n_layers, err);
        if (st != FM_OK)
            return st;
        n_params += (size_t)layers[l].n_out * (size_t)prev + (size_t)layers[l].n_out;
        prev = layers[l].n_out;
    }
    /* Widths are capped, but depth x width^2 can still exceed what float
     * offsets and memory allow: refuse before allocating. */
    if (n_params > ((size_t)1 << 34))
        return fm_fail(err, FM_ERR_ARG, "network has %zu parameters, more than the supported 2^34", n_params);

    fm_net *net = fm_calloc_array(1, sizeof *net);
    if (!net)
        return fm_fail(err, FM_ERR_NOMEM, "cannot allocate network");
    net->n_in = n_in;
    net->n_layers = n_layers;
    net->seed = seed;
    net->n_params = n_params;
    net->specs = fm_alloc_array((size_t)n_layers, sizeof *net->specs);
    net->layers = fm_calloc_array((size_t)n_layers, sizeof *net->layers);
    net->params = fm_alloc_array(n_params, sizeof *net->params);
    net->grads = fm_calloc_array(n_params, sizeof *net->grads);
    if (!net->specs || !net->layers || !net->params || !net->grads) {
        fm_net_free(net);
        return fm_fail(err, FM_ERR_NOMEM, "cannot allocate a network of %zu parameters", n_params);
    }
    memcpy(net->specs, layers, (size_t)n_layers * sizeof *layers);
    net->specs[n_layers - 1].dropout = 0.0; /* never drop the output */

    fm_rng_seed(&net->rng, seed);
    size_t offset = 0;
    prev = n_in;
    for (int l = 0; l < n_layers; l++) {
        fm_net_layer_state *s = &net->layers[l];
        s->n_in = prev;
        s->n_out = layers[l].n_out;
        s->weight_offset = offset;
        s->bias_offset = offset + (size_t)s->n_out * (size_t)s->n_in;
        offset = s->bias_offset + (size_t)s->n_out;
        fm_status st = fm_init_fill(&layers[l].init, &layers[l].act, s->n_in, s->n_out, net->params + s->weight_offset,
                                    net->params + s->bias_offset, &net->rng, err);
        if (st != FM_OK) {
            fm_net_free(net);
            return st;
        }
        prev = s->n_out;
    }
    *out = net;
    return FM_OK;
}

int fm_net_n_in(const fm_net *net) { return net->n_in; }
int fm_net_n_out(const fm_net *net) { return net->layers[net->n_layers - 1].n_out; }
int fm_net_n_layers(const fm_net *net) { return net->n_layers; }
const fm_layer_spec *fm_net_layer(const fm_net *net, int layer) { return &net->specs[layer]; }
uint64_t fm_net_seed(const fm_net *net) { return net->seed; }
fm_rng *fm_net_rng(fm_net *net) { return &net->rng; }
size_t fm_net_n_params(const fm_net *net) { return net->n_params; }
float *fm_net_params(fm_net *net) { return net->params; }
float *fm_net_grads(fm_net *net) { return net->grads; }
float *fm_net_weight(fm_net *net, int layer) { return net->params + net->layers[layer].weight_offset; }
float *fm_net_bias(fm_net *net, int layer) { return net->params + net->layers[layer].bias_offset; }
float *fm_net_weight_grad(fm_net *net, int layer) { return net->grads + net->layers[layer].weight_offset; }
float *fm_net_bias_grad(fm_net *net, int layer) { return net->grads + net->layers[layer].bias_offset; }
const float *fm_net_z(const fm_net *net, int layer) { return net->layers[layer].z; }
const float *fm_net_a(const fm_net *net, int layer) { return net->layers[layer].a; }
const float *fm_net_output(const fm_net *net) { return net->layers[net->n_layers - 1].a; }
const float *fm_net_delta(const fm_net *net, int layer) { return net->layers[layer].delta; }
int fm_net_batch(const fm_net *net) { return net->batch; }

fm_status fm_net_reserve(fm_net *net, int batch, fm_error *err)
{
    if (!net)
        return fm_fail(err, FM_ERR_ARG, "fm_net_reserve: net must not be NULL");
    if (batch <= 0)
        return fm_fail(err, FM_ERR_ARG, "batch size %d must be positive", batch);
    if (batch <= net->capacity)
        return FM_OK;
    free_buffers(net);
    for (int l = 0; l < net->n_layers; l++) {
        fm_net_layer_state *s = &net->layers[l];
        size_t count;
        if (!fm_mul_size((size_t)batch, (size_t)s->n_out, &count))
            return fm_fail(err, FM_ERR_NOMEM, "batch %d x width %d overflows", batch, s->n_out);
        s->z = fm_alloc_array(count, sizeof *s->z);
        /* A linear layer's activation is its pre-activation: share the buffer. */
        s->a = net->specs[l].act.kind == FM_ACT_LINEAR ? s->z : fm_alloc_array(count, sizeof *s->a);
        s->delta = fm_alloc_array(count, sizeof *s->delta);
        if (net->specs[l].dropout > 0.0) {
            s->out = fm_alloc_array(count, sizeof *s->out);
            s->mask = fm_alloc_array(count, sizeof *s->mask);
        }
        if (!s->z || !s->a || !s->delta || (net->specs[l].dropout > 0.0 && (!s->out || !s->mask))) {
            free_buffers(net);
            return fm_fail(err, FM_ERR_NOMEM, "cannot allocate buffers for batch %d", batch);
        }
    }
    net->capacity = batch;
    return FM_OK;
}

/* Input of layer l for the current batch: x, or the previous layer's output
 * after dropout. */
static const float *layer_input(const fm_net *net, const float *x, int l)
{
    if (l == 0)
        return x;
    const fm_net_layer_state *p = &net->layers[l - 1];
    return p->out_active ? p->out : p->a;
}

/* Dropout on a [count] activation, in place into s->out. Standard dropout keeps
 * a unit with probability q = 1 - p and scales it by 1/q. Alpha-dropout (for
 * SELU, Klambauer et al. 2017) sets dropped units to alpha' = -lambda alpha and
 * applies out = A x + B so that mean 0 and variance 1 are kept. The mask stores
 * the multiplier of each unit (0 when dropped), which is also its gradient. */
static void apply_dropout(fm_net *net, int l, size_t count)
{
    fm_net_layer_state *s = &net->layers[l];
    const fm_layer_spec *spec = &net->specs[l];
    double p = spec->dropout, q = 1.0 - p;
    float scale, shift, dropped;
    if (spec->act.kind == FM_ACT_SELU) {
        double alpha_prime = -spec->act.lambda * spec->act.alpha;
        double a = 1.0 / sqrt(q + alpha_prime * alpha_prime * q * p);
        double b = -a * p * alpha_prime;
        scale = (float)a;
        shift = (float)b;
        dropped = (float)(a * alpha_prime + b);
    } else {
        scale = (float)(1.0 / q);
        shift = 0.0f;
        dropped = 0.0f;
    }
    for (size_t i = 0; i < count; i++) {
        int keep = fm_rng_uniform(&net->rng) < q;
        s->mask[i] = keep ? scale : 0.0f;
        s->out[i] = keep ? s->a[i] * scale + shift : dropped;
    }
}

/* z [rows][cols] = b broadcast over rows: the GEMM then adds in . W^T. */
FM_HOT_LOOP static void broadcast_rows(float *restrict z, const float *restrict b, int rows, int cols)
{
    for (int r = 0; r < rows; r++) {
        float *zr = z + (size_t)r * (size_t)cols;
        for (int c = 0; c < cols; c++)
            zr[c] = b[c];
    }
}

/* db = column sums of delta [rows][cols], accumulated in row order like a GEMV
 * would (each column its own sum: the loop runs across columns, vectorised,
 * without reassociating any sum). */
FM_HOT_LOOP static void column_sums(float *restrict db, const float *restrict delta, int rows, int cols)
{
    for (int c = 0; c < cols; c++)
        db[c] = 0.0f;
    for (int r = 0; r < rows; r++) {
        const float *row = delta + (size_t)r * (size_t)cols;
        for (int c = 0; c < cols; c++)
            db[c] += row[c];
    }
}

fm_status fm_net_forward(fm_net *net, const float *x, int batch, int training, fm_error *err)
{
    if (!net || !x)
        return fm_fail(err, FM_ERR_ARG, "fm_net_forward: net and x must not be NULL");
    fm_status st = fm_net_reserve(net, batch, err);
    if (st != FM_OK)
        return st;
    net->batch = batch;
    for (int l = 0; l < net->n_layers; l++) {
        fm_net_layer_state *s = &net->layers[l];
        const fm_layer_spec *spec = &net->specs[l];
        const float *in = layer_input(net, x, l);
        const float *w = net->params + s->weight_offset;
        const float *b = net->params + s->bias_offset;
        size_t count = (size_t)batch * (size_t)s->n_out;
        /* z = b broadcast over rows, then z += in [B][n_in] . W^T [n_in][n_out]. */
        broadcast_rows(s->z, b, batch, s->n_out);
        if (batch == 1)
            /* One sample is a matrix-vector product, which streams W once and is
             * memory-bound: OpenBLAS splits sgemv across its threads (61 us for
             * the 784-512x4-10 network on 2 threads, docs/benchmarks.md) but runs
             * an sgemm with one row on one thread (166 us). */
            cblas_sgemv(CblasRowMajor, CblasNoTrans, s->n_out, s->n_in, 1.0f, w, s->n_in, in, 1, 1.0f, s->z, 1);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, batch, s->n_out, s->n_in, 1.0f, in, s->n_in, w,
                        s->n_in, 1.0f, s->z, s->n_out);
        if (spec->act.kind == FM_ACT_SOFTMAX)
            fm_softmax_rows(s->z, s->a, (size_t)batch, (size_t)s->n_out);
        else if (s->a != s->z)
            fm_act_forward(&spec->act, s->z, s->a, count);
        s->out_active = training && spec->dropout > 0.0;
        if (s->out_active)
            apply_dropout(net, l, count);
    }
    return FM_OK;
}

/* b -= lr * (column sums of delta): the bias update of a fused step. The sums
 * are the same as column_sums' (row order); only the final update is added. */
FM_HOT_LOOP static void bias_sgd(float *restrict b, float *restrict sums, const float *restrict delta, int rows,
                                 int cols, float lr)
{
    column_sums(sums, delta, rows, cols);
    for (int c = 0; c < cols; c++)
        b[c] -= lr * sums[c];
}

/* The backward pass, and with apply_sgd also plain SGD's update of each layer
 * as soon as its gradient is known: W += -lr delta^T in is one GEMM with
 * beta = 1 straight into the weights, which saves writing the gradient and a
 * separate pass over every parameter (measured: ~15% of a step at batch 32).
 * dL/d(in) is taken from the old W first, so the result is the same step. */
static fm_status backward(fm_net *net, const float *x, const float *grad_out_z, int apply_sgd, float lr,
                          fm_error *err)
{
    if (!net || !x || !grad_out_z)
        return fm_fail(err, FM_ERR_ARG, "%s: net, x and grad_out_z must not be NULL",
                       apply_sgd ? "fm_net_backward_sgd" : "fm_net_backward");
    int batch = net->batch;
    if (batch <= 0)
        return fm_fail(err, FM_ERR_ARG, "backward pass without a forward pass");
    int last = net->n_layers - 1;
    if (net->layers[last].delta != grad_out_z) /* callers may hand back the buffer itself */
        memcpy(net->layers[last].delta, grad_out_z, (size_t)batch * (size_t)net->layers[last].n_out * sizeof(float));
    for (int l = last; l >= 0; l--) {
        fm_net_layer_state *s = &net->layers[l];
        const float *in = layer_input(net, x, l);
        float *w = net->params + s->weight_offset;
        float *dw = net->grads + s->weight_offset;
        float *db = net->grads + s->bias_offset;
        if (l > 0) {
            fm_net_layer_state *p = &net->layers[l - 1];
            /* dL/d(in) [B][n_in] = delta [B][n_out] . W [n_out][n_in], written into the
             * previous layer's delta and turned into dL/dz there below. */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, batch, s->n_in, s->n_out, 1.0f, s->delta,
                        s->n_out, w, s->n_in, 0.0f, p->delta, s->n_in);
        }
        if (apply_sgd) {
            /* W [n_out][n_in] += -lr delta^T [n_out][B] . in [B][n_in]; db is scratch. */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, s->n_out, s->n_in, batch, -lr, s->delta, s->n_out,
                        in, s->n_in, 1.0f, w, s->n_in);
            bias_sgd(net->params + s->bias_offset, db, s->delta, batch, s->n_out, lr);
        } else {
            /* dW [n_out][n_in] = delta^T [n_out][B] . in [B][n_in] */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, s->n_out, s->n_in, batch, 1.0f, s->delta, s->n_out,
                        in, s->n_in, 0.0f, dw, s->n_in);
            column_sums(db, s->delta, batch, s->n_out);
        }
        if (l == 0)
            break;
        fm_net_layer_state *p = &net->layers[l - 1];
        size_t count = (size_t)batch * (size_t)p->n_out;
        if (p->out_active)
            for (size_t i = 0; i < count; i++)
                p->delta[i] *= p->mask[i];
        fm_act_backward(&net->specs[l - 1].act, p->z, p->delta, p->delta, count);
    }
    return FM_OK;
}

fm_status fm_net_backward(fm_net *net, const float *x, const float *grad_out_z, fm_error *err)
{
    return backward(net, x, grad_out_z, 0, 0.0f, err);
}

fm_status fm_net_backward_sgd(fm_net *net, const float *x, const float *grad_out_z, float lr, fm_error *err)
{
    return backward(net, x, grad_out_z, 1, lr, err);
}

fm_status fm_net_predict(fm_net *net, const float *x, size_t rows, float *y, fm_error *err)
{
    if (!net || (rows > 0 && (!x || !y)))
        return fm_fail(err, FM_ERR_ARG, "fm_net_predict: net, x and y must not be NULL");
    const size_t chunk = 256;
    int n_in = net->n_in, n_out = fm_net_n_out(net);
    for (size_t start = 0; start < rows; start += chunk) {
        int batch = (int)(rows - start < chunk ? rows - start : chunk);
        fm_status st = fm_net_forward(net, x + start * (size_t)n_in, batch, 0, err);
        if (st != FM_OK)
            return st;
        memcpy(y + start * (size_t)n_out, fm_net_output(net), (size_t)batch * (size_t)n_out * sizeof *y);
    }
    return FM_OK;
}
