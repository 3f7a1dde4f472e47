/* Lane-parallel double sums over float arrays: see reduce.h.
 *
 * The 16 lanes are two 8-wide double vectors (GCC/clang vector extensions):
 * element i + k of each block of 16 goes to lane k. GCC's vectoriser alone
 * keeps such lane arrays partly scalar (measured 0.47 ns per element for the
 * moments); written with vector types the loop runs at memory speed in every
 * target clone (AVX-512, AVX2 and SSE2 each split the same lanes in their own
 * registers, so the results stay identical). */
#include "core/reduce.h"

#include "core/hot_loop.h"

#include <stdint.h>
#include <string.h>

typedef double fm_v8d __attribute__((vector_size(64)));
typedef float fm_v8f __attribute__((vector_size(32)));

/* Elements i .. i+15 as two vectors of doubles. */
static inline void load16(const float *v, fm_v8d *lo, fm_v8d *hi)
{
    fm_v8f a, b;
    memcpy(&a, v, sizeof a);
    memcpy(&b, v + 8, sizeof b);
    *lo = __builtin_convertvector(a, fm_v8d);
    *hi = __builtin_convertvector(b, fm_v8d);
}

/* GCC 12 lowers the 8-wide float-to-double conversion above to two 4-wide
 * ones, an extract and an insert, even for AVX-512, which made the step sums
 * of a diagnosed step bound by conversions (0.37 ns per element). The
 * AVX-512 form converts 8 at once; conversions are exact, and the lanes and
 * their order are the same, so both give identical sums. Used through
 * explicit dispatch (has_avx512 below), since target clones share one body. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && \
    !defined(FATHOM_NO_TARGET_CLONES)
#include <immintrin.h>
#define FM_REDUCE_AVX512 1
#define AVX512_TARGET __attribute__((target("arch=x86-64-v4")))

static inline AVX512_TARGET __attribute__((always_inline)) void load16_avx512(const float *v, fm_v8d *lo, fm_v8d *hi)
{
    __m512d a = _mm512_cvtps_pd(_mm256_loadu_ps(v)), b = _mm512_cvtps_pd(_mm256_loadu_ps(v + 8));
    memcpy(lo, &a, sizeof a);
    memcpy(hi, &b, sizeof b);
}

static int has_avx512(void)
{
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
}
#endif

typedef void (*load16_fn)(const float *v, fm_v8d *lo, fm_v8d *hi);

/* Lanes 0..7 (lo) and 8..15 (hi), then the tail's lanes, added in lane order. */
static inline double add_lanes(const fm_v8d *lo, const fm_v8d *hi, const double tail[FM_REDUCE_LANES])
{
    double lane[FM_REDUCE_LANES];
    memcpy(lane, lo, sizeof *lo);
    memcpy(lane + 8, hi, sizeof *hi);
    double sum = 0.0;
    for (int k = 0; k < FM_REDUCE_LANES; k++)
        sum += lane[k] + tail[k];
    return sum;
}

static inline __attribute__((always_inline)) void moments_body(const float *v, size_t n, double *sum,
                                                              double *sum_sq, load16_fn load)
{
    fm_v8d s0 = {0}, s1 = {0}, q0 = {0}, q1 = {0};
    size_t i = 0;
    for (; i + FM_REDUCE_LANES <= n; i += FM_REDUCE_LANES) {
        fm_v8d x0, x1;
        load(v + i, &x0, &x1);
        s0 += x0;
        s1 += x1;
        q0 += x0 * x0;
        q1 += x1 * x1;
    }
    double ts[FM_REDUCE_LANES] = {0.0}, tq[FM_REDUCE_LANES] = {0.0};
    for (int k = 0; i < n; i++, k++) {
        double x = v[i];
        ts[k] = x;
        tq[k] = x * x;
    }
    *sum = add_lanes(&s0, &s1, ts);
    *sum_sq = add_lanes(&q0, &q1, tq);
}

FM_HOT_LOOP static void moments_portable(const float *v, size_t n, double *sum, double *sum_sq)
{
    moments_body(v, n, sum, sum_sq, load16);
}

#ifdef FM_REDUCE_AVX512
static AVX512_TARGET void moments_avx512(const float *v, size_t n, double *sum, double *sum_sq)
{
    moments_body(v, n, sum, sum_sq, load16_avx512);
}
#endif

void fm_reduce_moments(const float *v, size_t n, double *sum, double *sum_sq)
{
#ifdef FM_REDUCE_AVX512
    if (has_avx512()) {
        moments_avx512(v, n, sum, sum_sq);
        return;
    }
#endif
    moments_portable(v, n, sum, sum_sq);
}

FM_HOT_LOOP double fm_reduce_sum_squares(const float *v, size_t n)
{
    fm_v8d q0 = {0}, q1 = {0};
    size_t i = 0;
    for (; i + FM_REDUCE_LANES <= n; i += FM_REDUCE_LANES) {
        fm_v8d x0, x1;
        load16(v + i, &x0, &x1);
        q0 += x0 * x0;
        q1 += x1 * x1;
    }
    double tq[FM_REDUCE_LANES] = {0.0};
    for (int k = 0; i < n; i++, k++) {
        double x = v[i];
        tq[k] = x * x;
    }
    return add_lanes(&q0, &q1, tq);
}

static inline __attribute__((always_inline)) void step_sums_body(const float *old, const float *now, const float *g,
                                                                size_t n, double sums[FM_STEP_SUMS], load16_fn load)
{
    /* four sums of two 8-lane vectors each: eight accumulators, in registers on AVX-512 */
    fm_v8d u0 = {0}, u1 = {0}, w0 = {0}, w1 = {0}, ww0 = {0}, ww1 = {0}, gg0 = {0}, gg1 = {0};
    size_t i = 0;
    for (; i + FM_REDUCE_LANES <= n; i += FM_REDUCE_LANES) {
        fm_v8d o0, o1, p0, p1, d0, d1;
        load(old + i, &o0, &o1);
        load(now + i, &p0, &p1);
        load(g + i, &d0, &d1);
        fm_v8d e0 = p0 - o0, e1 = p1 - o1;
        u0 += e0 * e0;
        u1 += e1 * e1;
        w0 += o0;
        w1 += o1;
        ww0 += o0 * o0;
        ww1 += o1 * o1;
        gg0 += d0 * d0;
        gg1 += d1 * d1;
    }
    double tail[FM_STEP_SUMS][FM_REDUCE_LANES];
    memset(tail, 0, sizeof tail);
    for (int k = 0; i < n; i++, k++) {
        double o = old[i], e = (double)now[i] - o, d = g[i];
        tail[FM_SUM_UPDATE_SQ][k] = e * e;
        tail[FM_SUM_OLD][k] = o;
        tail[FM_SUM_OLD_SQ][k] = o * o;
        tail[FM_SUM_GRAD_SQ][k] = d * d;
    }
    sums[FM_SUM_UPDATE_SQ] += add_lanes(&u0, &u1, tail[FM_SUM_UPDATE_SQ]);
    sums[FM_SUM_OLD] += add_lanes(&w0, &w1, tail[FM_SUM_OLD]);
    sums[FM_SUM_OLD_SQ] += add_lanes(&ww0, &ww1, tail[FM_SUM_OLD_SQ]);
    sums[FM_SUM_GRAD_SQ] += add_lanes(&gg0, &gg1, tail[FM_SUM_GRAD_SQ]);
}

FM_HOT_LOOP static void step_sums_portable(const float *old, const float *now, const float *g, size_t n,
                                           double sums[FM_STEP_SUMS])
{
    step_sums_body(old, now, g, n, sums, load16);
}

#ifdef FM_REDUCE_AVX512
static AVX512_TARGET void step_sums_avx512(const float *old, const float *now, const float *g, size_t n,
                                           double sums[FM_STEP_SUMS])
{
    step_sums_body(old, now, g, n, sums, load16_avx512);
}
#endif

void fm_reduce_step_sums(const float *old, const float *now, const float *g, size_t n, double sums[FM_STEP_SUMS])
{
#ifdef FM_REDUCE_AVX512
    if (has_avx512()) {
        step_sums_avx512(old, now, g, n, sums);
        return;
    }
#endif
    step_sums_portable(old, now, g, n, sums);
}

FM_HOT_LOOP int fm_reduce_all_finite(const float *v, size_t n)
{
    uint32_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &v[i], sizeof bits);
        bad |= (uint32_t)((bits & 0x7f800000u) == 0x7f800000u); /* exponent all ones: Inf or NaN */
    }
    return bad == 0;
}
