/* Sums over float arrays for the statistics (per-layer moments, gradient
 * norms, update ratios), in double and fast.
 *
 * A plain `for (i) sum += v[i]` in double is one serial chain of dependent
 * additions (~4 cycles each): for the million-parameter networks of the
 * benchmarks, statistics every step cost more than the step itself. These
 * keep FM_REDUCE_LANES independent partial sums, element i going to lane
 * i mod FM_REDUCE_LANES, added in a fixed order at the end: the loop
 * vectorises without reassociating anything, and the result is the same on
 * every machine, clone and run. */
#ifndef FATHOM_CORE_REDUCE_H
#define FATHOM_CORE_REDUCE_H

#include <stddef.h>

#define FM_REDUCE_LANES 16

/* sum of v[i] and of v[i]^2, in double. Non-finite values propagate (Inf or
 * NaN in v make the sums non-finite). */
void fm_reduce_moments(const float *v, size_t n, double *sum, double *sum_sq);

/* sum of v[i]^2 in double. */
double fm_reduce_sum_squares(const float *v, size_t n);

/* What an optimiser step did to n parameters, in one pass over a chunk:
 * sums[FM_SUM_UPDATE_SQ] = sum of (now[i] - old[i])^2 (differences in
 * double), sums[FM_SUM_OLD] and [FM_SUM_OLD_SQ] of old[i] and old[i]^2,
 * sums[FM_SUM_GRAD_SQ] of g[i]^2. Added to sums. */
enum { FM_SUM_UPDATE_SQ, FM_SUM_OLD, FM_SUM_OLD_SQ, FM_SUM_GRAD_SQ, FM_STEP_SUMS };
void fm_reduce_step_sums(const float *old, const float *now, const float *g, size_t n, double sums[FM_STEP_SUMS]);

/* Tests only: use no form wider than `widest` (0: the portable SSE2 one,
 * 1: up to AVX2, 2: up to AVX-512, the default) from now on; returns the
 * form the sums now take on this CPU (0, 1 or 2), so that a test can run
 * every form the CPU has. */
int fm_test_reduce_widest_form(int widest);

/* 1 when every v[i] is finite (no Inf, no NaN). Reads the exponent bits with
 * integer operations, so the loop vectorises and never stops early: a
 * whole-data check before training costs a fraction of one step. */
int fm_reduce_all_finite(const float *v, size_t n);

#endif
