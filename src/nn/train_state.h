/* The state of a training run between two steps (fm_train_state of fathom.h),
 * shared by the training loop (train.c), which keeps its run in one of these,
 * and the checkpoint file (io/checkpoint.c), which writes and reads it.
 * Not part of the public API. */
#ifndef FATHOM_TRAIN_STATE_H
#define FATHOM_TRAIN_STATE_H

#include "fathom.h"

struct fm_train_state {
    int owns; /* 1: the buffers below are malloc'd (a loaded state); 0: a view into a running fm_train */

    /* What defines the run; a resumed run must agree on all of it. */
    size_t n_params;
    size_t rows, val_rows;  /* training and validation rows */
    int n_in, n_out;        /* input width, target width */
    int epochs, batch, shuffle, patience;
    uint64_t seed;
    double explode_factor;
    fm_optim_config optim;
    uint64_t train_hash, val_hash; /* fingerprints of the (standardised) data: fm_train_data_hash */

    /* Where it stands: batch_index batches of epoch `epoch` are done. With
     * batch_index 0 the epoch has not started (no shuffle yet); with
     * batch_index == batches its end (validation, early stopping) is pending. */
    int epoch;
    size_t batch_index, batches;
    int finished;        /* nothing left to do: all epochs run, or stopped early */
    size_t *order;       /* [rows] the current epoch's shuffle order */
    fm_rng shuffle_rng;  /* the shuffle's generator */
    fm_rng dropout_rng;  /* the network's generator */
    long optim_steps;
    float *optim_m, *optim_v; /* [n_params] or NULL: fm_optim_buffer 0 and 1 */

    /* The epoch so far. */
    double loss_sum;
    size_t loss_rows, samples_done;

    /* Results, early stopping, divergence and vanishing watch. */
    fm_train_result result;
    int bad_epochs;
    double val_loss, val_metric; /* last validation, NaN before any */
    float *best_params;          /* [n_params]: best validation weights (early stopping only), else NULL */
    float *last_good;            /* [n_params]: weights at the start of the epoch */
    double loss_ema, loss_ema_start, loss_ema_min;
    int vanishing_checks;
    int warning_pending;
};

/* 64-bit fingerprint of a dataset's shape and float bits; 0 for NULL or an
 * empty dataset. It is a sum (mod 2^64) over rows of a hash of each row's
 * global index and bits, finished with the shape, so that shards hashed on
 * several processes (fm_train_data_rows_hash with their first global row)
 * and summed give the fingerprint of the whole (docs/formats.md). */
uint64_t fm_train_data_hash(const fm_dataset *data);
uint64_t fm_train_data_rows_hash(const fm_dataset *data, size_t first_row);
uint64_t fm_train_data_hash_finish(uint64_t rows_hash, size_t rows, int n_in, int n_out);

#endif
