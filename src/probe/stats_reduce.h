/* Per-layer statistics of a batch spread over several processes: each
 * process turns its part into sums (fm_stats_sufficient), the sums are added
 * over processes, and every process reads the statistics of the whole batch
 * from them (fm_stats_from_sufficient). Not part of the public API; used by
 * data-parallel training (nn/train.c). */
#ifndef FATHOM_STATS_REDUCE_H
#define FATHOM_STATS_REDUCE_H

#include "nn/net_internal.h"

/* Doubles of sufficient statistics for `net`: per layer 10 + n_out. */
size_t fm_stats_sufficient_size(const fm_net *net);

/* The sums of the last forward and backward pass over `batch` rows into suff
 * [fm_stats_sufficient_size]; batch 0 (the process had no rows) gives zeros. */
void fm_stats_sufficient(const fm_net *net, int batch, double *suff);

/* The measured columns of fm_stats_measure from summed sufficient statistics:
 * mean and variance of z, a and dL/dz, the saturated share, dead or inactive
 * units (never active on any sample of any process); Var[W] and ||dL/dW|| from
 * the network, whose weights and summed gradients every process shares. */
void fm_stats_from_sufficient(fm_net *net, const double *suff, fm_layer_stats *stats);

#endif
