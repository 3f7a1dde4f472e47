/* The network's layout, shared by the sources that work on its buffers
 * (training, statistics); users see only the opaque fm_net. */
#ifndef FATHOM_NET_INTERNAL_H
#define FATHOM_NET_INTERNAL_H

#include "core/internal.h"

typedef struct fm_net_layer_state {
    int n_in, n_out;
    size_t weight_offset; /* W [n_out][n_in] in params and grads */
    size_t bias_offset;   /* b [n_out] */
    /* Per-batch buffers, [capacity][n_out] each. */
    float *z;     /* pre-activation */
    float *a;     /* activation (the same buffer as z for a linear layer) */
    float *out;   /* after dropout (only with dropout) */
    float *mask;  /* dropout multiplier of each unit, 0 when dropped */
    float *delta; /* dL/dz */
    int out_active; /* the last forward pass applied dropout */
} fm_net_layer_state;

struct fm_net {
    int n_in;
    int n_layers;
    fm_layer_spec *specs;
    fm_net_layer_state *layers;
    uint64_t seed;
    fm_rng rng; /* dropout draws */
    size_t n_params;
    float *params;
    float *grads;
    int capacity; /* largest batch the buffers hold */
    int batch;    /* batch of the last forward pass */
};

/* Batch size of the last forward pass. */
int fm_net_batch(const fm_net *net);

#endif
