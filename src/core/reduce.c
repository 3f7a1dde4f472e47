/* Lane-parallel double sums over float arrays: see reduce.h.
 *
 * The 16 lanes are held in GCC vector types of the registers' width, as
 * many as it takes: the bodies are in core/reduce_lanes.h, compiled here
 * with eight 2-wide vectors (SSE2, the portable form), four 4-wide ones
 * (AVX2) and two 8-wide ones (AVX-512), the form chosen at run time.
 * GCC's vectoriser alone keeps such lane arrays partly scalar (measured
 * 0.47 ns per element for the moments), and vectors wider than the target's
 * registers are worse: GCC 12 moves 8-wide double vectors on AVX2 through
 * the stack an element at a time, which made the step sums 2.4 ns per
 * element on an AVX2-only CPU (docs/benchmarks.md). Every width adds the
 * same lanes in the same order, so the results are identical. */
#include "core/reduce.h"

#include "core/hot_loop.h"

#include <stdint.h>
#include <string.h>

/* The lanes (FM_REDUCE_LANES doubles, lane k at element k of the memory
 * image of `acc`) and the tail's lanes, added in lane order. */
static inline double add_lanes(const void *acc, const double tail[FM_REDUCE_LANES])
{
    double lane[FM_REDUCE_LANES];
    memcpy(lane, acc, sizeof lane);
    double sum = 0.0;
    for (int k = 0; k < FM_REDUCE_LANES; k++)
        sum += lane[k] + tail[k];
    return sum;
}

/* ---- eight 2-wide vectors, SSE2's registers: the portable form, for CPUs
 * without AVX2 and for builds by other compilers */

typedef double fm_v2d __attribute__((vector_size(16)));
typedef float fm_v2f __attribute__((vector_size(8)));

static inline void load16_v2(const float *v, fm_v2d x[8])
{
#pragma GCC unroll 8
    for (int k = 0; k < 8; k++) {
        fm_v2f f;
        memcpy(&f, v + 2 * k, sizeof f);
        x[k] = __builtin_convertvector(f, fm_v2d);
    }
}

#define LANE_VEC fm_v2d
#define LANE_WIDTH 2
#define LANE_NAME v2
#include "core/reduce_lanes.h"
#undef LANE_VEC
#undef LANE_WIDTH
#undef LANE_NAME

static void moments_portable(const float *v, size_t n, double *sum, double *sum_sq)
{
    moments_body_v2(v, n, sum, sum_sq, load16_v2);
}

static double sum_squares_portable(const float *v, size_t n) { return sum_squares_body_v2(v, n, load16_v2); }

static void step_sums_portable(const float *old, const float *now, const float *g, size_t n,
                               double sums[FM_STEP_SUMS])
{
    step_sums_body_v2(old, now, g, n, sums, load16_v2);
}

/* ---- explicit conversions where the CPU has AVX2 or AVX-512, chosen at run
 * time (one has_* test per call): GCC 12 lowers the generic conversions
 * above to half-width ones joined with an insert (4-wide on AVX2: two 2-wide
 * conversions, one through the stack), and the 8-wide one to two 4-wide
 * ones with an extract and an insert even for AVX-512, which left the sums
 * bound by conversions. AVX2 converts 4 at once into the 4-wide body
 * (step sums 2.4 -> 0.38-0.43 ns per element on an AVX2-only CPU); AVX-512
 * converts 8 at once into the 8-wide body (0.47 -> 0.39 ms for the step
 * sums of 1.2 M parameters). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && \
    !defined(FATHOM_NO_TARGET_CLONES)
#include <immintrin.h>
#define FM_REDUCE_EXPLICIT 1
#define AVX2_TARGET __attribute__((target("arch=x86-64-v3")))
#define AVX512_TARGET __attribute__((target("arch=x86-64-v4")))

typedef double fm_v4d __attribute__((vector_size(32)));

#define LANE_VEC fm_v4d
#define LANE_WIDTH 4
#define LANE_NAME v4
#include "core/reduce_lanes.h"
#undef LANE_VEC
#undef LANE_WIDTH
#undef LANE_NAME

static inline AVX2_TARGET __attribute__((always_inline)) void load16_avx2(const float *v, fm_v4d x[4])
{
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        __m256d a = _mm256_cvtps_pd(_mm_loadu_ps(v + 4 * k));
        memcpy(&x[k], &a, sizeof a);
    }
}

/* The CPU checks ask for the whole instruction set the forms are compiled
 * for (x86-64-v3 also allows BMI, LZCNT, MOVBE and F16C), not only the
 * features they use today. widest_form caps them for tests. */
static int widest_form = 2;

static int has_avx2(void) { return widest_form >= 1 && __builtin_cpu_supports("x86-64-v3"); }

static AVX2_TARGET void moments_avx2(const float *v, size_t n, double *sum, double *sum_sq)
{
    moments_body_v4(v, n, sum, sum_sq, load16_avx2);
}

static AVX2_TARGET double sum_squares_avx2(const float *v, size_t n) { return sum_squares_body_v4(v, n, load16_avx2); }

static AVX2_TARGET void step_sums_avx2(const float *old, const float *now, const float *g, size_t n,
                                       double sums[FM_STEP_SUMS])
{
    step_sums_body_v4(old, now, g, n, sums, load16_avx2);
}

typedef double fm_v8d __attribute__((vector_size(64)));

static inline AVX512_TARGET __attribute__((always_inline)) void load16_avx512(const float *v, fm_v8d x[2])
{
    __m512d a = _mm512_cvtps_pd(_mm256_loadu_ps(v)), b = _mm512_cvtps_pd(_mm256_loadu_ps(v + 8));
    memcpy(&x[0], &a, sizeof a);
    memcpy(&x[1], &b, sizeof b);
}

static int has_avx512(void) { return widest_form >= 2 && __builtin_cpu_supports("x86-64-v4"); }

#define LANE_VEC fm_v8d
#define LANE_WIDTH 8
#define LANE_NAME v8
#include "core/reduce_lanes.h"
#undef LANE_VEC
#undef LANE_WIDTH
#undef LANE_NAME

static AVX512_TARGET void moments_avx512(const float *v, size_t n, double *sum, double *sum_sq)
{
    moments_body_v8(v, n, sum, sum_sq, load16_avx512);
}

static AVX512_TARGET double sum_squares_avx512(const float *v, size_t n)
{
    return sum_squares_body_v8(v, n, load16_avx512);
}

static AVX512_TARGET void step_sums_avx512(const float *old, const float *now, const float *g, size_t n,
                                           double sums[FM_STEP_SUMS])
{
    step_sums_body_v8(old, now, g, n, sums, load16_avx512);
}
#endif

int fm_test_reduce_widest_form(int widest)
{
#ifdef FM_REDUCE_EXPLICIT
    widest_form = widest < 0 ? 0 : widest > 2 ? 2 : widest;
    int ran = 0;
    if (has_avx512())
        ran = 2;
    else if (has_avx2())
        ran = 1;
    return ran;
#else
    (void)widest;
    return 0;
#endif
}

void fm_reduce_moments(const float *v, size_t n, double *sum, double *sum_sq)
{
#ifdef FM_REDUCE_EXPLICIT
    if (has_avx512()) {
        moments_avx512(v, n, sum, sum_sq);
        return;
    }
    if (has_avx2()) {
        moments_avx2(v, n, sum, sum_sq);
        return;
    }
#endif
    moments_portable(v, n, sum, sum_sq);
}

double fm_reduce_sum_squares(const float *v, size_t n)
{
#ifdef FM_REDUCE_EXPLICIT
    if (has_avx512())
        return sum_squares_avx512(v, n);
    if (has_avx2())
        return sum_squares_avx2(v, n);
#endif
    return sum_squares_portable(v, n);
}

void fm_reduce_step_sums(const float *old, const float *now, const float *g, size_t n, double sums[FM_STEP_SUMS])
{
#ifdef FM_REDUCE_EXPLICIT
    if (has_avx512()) {
        step_sums_avx512(old, now, g, n, sums);
        return;
    }
    if (has_avx2()) {
        step_sums_avx2(old, now, g, n, sums);
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
