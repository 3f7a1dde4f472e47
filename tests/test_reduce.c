/* The lane-parallel sums of core/reduce.h against plain sums in long double.
 *
 * A sum of n doubles in any order is within n * eps * (sum of |terms|) of the
 * exact one; the lanes and the reference each are, so |lanes - reference| <=
 * 2 n eps sum|terms| (eps = 2^-53). With n <= 2^17 that is 3e-11 relative to
 * sum|terms|: the bound asserted is 1e-10 of it. A dropped element, a lane
 * counted twice, a wrong tail or a float (not double) accumulator all miss
 * it by orders of magnitude (a float accumulator errs by ~1e-7 relative).
 * Lengths cover empty, shorter than one lane block, exact multiples of the
 * 16 lanes and ragged tails. fm_reduce_all_finite must see an Inf or NaN at
 * any position, the tail included, and accept the largest finite values.
 *
 * The sums must also be exactly those of the 16 lanes reduce.h defines, bit
 * for bit, in every form this CPU can run (the portable one, and AVX2's and
 * AVX-512's where it has them): training runs and statistics are the same on every machine only if
 * every form adds the same numbers in the same order. The reference is the
 * definition written out in scalar code: lane k adds f(v[k]), f(v[k + 16]),
 * ... over the whole blocks; the tail's element k stands alone; the result
 * adds lane[k] + tail[k] for k = 0..15 in turn. */
#include "test_support.h"

#include "core/reduce.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_LENGTH = 131072 };
static const size_t LENGTHS[] = {0, 1, 7, 15, 16, 17, 31, 32, 33, 1000, 4099, MAX_LENGTH};

/* Room for the longest of LENGTHS. */
static float *buffer(void)
{
    float *v = malloc(MAX_LENGTH * sizeof *v);
    assert_non_null(v);
    return v;
}

static void fill(float *v, size_t n, fm_rng *rng)
{
    for (size_t i = 0; i < n; i++)
        v[i] = (float)(fm_rng_normal(rng) * (1.0 + 1000.0 * (i % 17 == 0))); /* mixed magnitudes */
}

static void assert_close(double got, long double want, long double scale, const char *what, size_t n)
{
    long double bound = 1e-10L * scale + 1e-300L;
    if (fabsl((long double)got - want) > bound)
        fail_msg("%s, n = %zu: %.17g, reference %.17Lg (bound %.3Lg)", what, n, got, want, bound);
}

static void test_sums_match_reference(void **state)
{
    (void)state;
    float *a = buffer(), *b = buffer();
    fm_rng rng;
    fm_rng_seed(&rng, 99);
    for (size_t k = 0; k < sizeof LENGTHS / sizeof LENGTHS[0]; k++) {
        size_t n = LENGTHS[k];
        fill(a, n, &rng);
        fill(b, n, &rng);
        long double s = 0, s_abs = 0, q = 0, d = 0, qb = 0;
        for (size_t i = 0; i < n; i++) {
            long double x = a[i], y = (long double)a[i] - (long double)b[i];
            s += x;
            s_abs += fabsl(x);
            q += x * x;
            d += y * y;
            qb += (long double)b[i] * b[i];
        }
        double sum = -1.0, sum_sq = -1.0;
        fm_reduce_moments(a, n, &sum, &sum_sq);
        assert_close(sum, s, s_abs, "moments: sum", n);
        assert_close(sum_sq, q, q, "moments: sum of squares", n);
        assert_close(fm_reduce_sum_squares(a, n), q, q, "sum of squares", n);
        /* the step sums: b the values before the step, a after it, b the gradient too; added to what is there */
        double step[FM_STEP_SUMS] = {1.0, 1.0, 1.0, 1.0};
        fm_reduce_step_sums(b, a, b, n, step);
        assert_close(step[FM_SUM_UPDATE_SQ] - 1.0, d, d + 1.0L, "step sums: update", n);
        assert_close(step[FM_SUM_OLD_SQ] - 1.0, qb, qb + 1.0L, "step sums: old squares", n);
        assert_close(step[FM_SUM_GRAD_SQ] - 1.0, qb, qb + 1.0L, "step sums: gradient squares", n);
        long double sb = 0, sb_abs = 0;
        for (size_t i = 0; i < n; i++) {
            sb += b[i];
            sb_abs += fabsl((long double)b[i]);
        }
        assert_close(step[FM_SUM_OLD] - 1.0, sb, sb_abs + 1.0L, "step sums: old values", n);
        /* the same input gives the same bits (no dependence on alignment or state) */
        double again, again_sq;
        fm_reduce_moments(a, n, &again, &again_sq);
        assert_true(again == sum && again_sq == sum_sq);
    }
    free(a);
    free(b);
}

/* The lane definition in scalar code: f(v, i) is the term of element i. */
static double lane_reference(size_t n, double (*f)(const float *const *arrays, size_t i), const float *const *arrays)
{
    size_t blocks = n / FM_REDUCE_LANES;
    double sum = 0.0;
    for (size_t k = 0; k < FM_REDUCE_LANES; k++) {
        double lane = 0.0, tail = 0.0;
        for (size_t b = 0; b < blocks; b++)
            lane += f(arrays, b * FM_REDUCE_LANES + k);
        if (blocks * FM_REDUCE_LANES + k < n)
            tail = f(arrays, blocks * FM_REDUCE_LANES + k);
        sum += lane + tail;
    }
    return sum;
}

static double term_value(const float *const *v, size_t i) { return v[0][i]; }
static double term_square(const float *const *v, size_t i) { return (double)v[0][i] * (double)v[0][i]; }
static double term_update_square(const float *const *v, size_t i)
{
    double e = (double)v[1][i] - (double)v[0][i];
    return e * e;
}
static double term_grad_square(const float *const *v, size_t i) { return (double)v[2][i] * (double)v[2][i]; }

static void assert_same_bits(double got, double want, const char *what, size_t n)
{
    if (memcmp(&got, &want, sizeof got) != 0)
        fail_msg("%s, n = %zu: %.17g, the lanes' sum %.17g", what, n, got, want);
}

static void check_lanes(void)
{
    float *a = buffer(), *b = buffer(), *g = buffer();
    fm_rng rng;
    fm_rng_seed(&rng, 7);
    for (size_t k = 0; k < sizeof LENGTHS / sizeof LENGTHS[0]; k++) {
        size_t n = LENGTHS[k];
        fill(a, n, &rng);
        fill(b, n, &rng);
        fill(g, n, &rng);
        const float *one[1] = {a};
        double sum, sum_sq;
        fm_reduce_moments(a, n, &sum, &sum_sq);
        assert_same_bits(sum, lane_reference(n, term_value, one), "moments: sum", n);
        assert_same_bits(sum_sq, lane_reference(n, term_square, one), "moments: sum of squares", n);
        assert_same_bits(fm_reduce_sum_squares(a, n), lane_reference(n, term_square, one), "sum of squares", n);
        const float *step_arrays[3] = {b, a, g}; /* old, now, gradient */
        double step[FM_STEP_SUMS] = {0.0, 0.0, 0.0, 0.0};
        fm_reduce_step_sums(b, a, g, n, step);
        assert_same_bits(step[FM_SUM_UPDATE_SQ], lane_reference(n, term_update_square, step_arrays), "step: update", n);
        assert_same_bits(step[FM_SUM_OLD], lane_reference(n, term_value, step_arrays), "step: old values", n);
        assert_same_bits(step[FM_SUM_OLD_SQ], lane_reference(n, term_square, step_arrays), "step: old squares", n);
        assert_same_bits(step[FM_SUM_GRAD_SQ], lane_reference(n, term_grad_square, step_arrays), "step: gradient", n);
    }
    free(a);
    free(b);
    free(g);
}

/* Every form this CPU can run: the portable one, AVX2's, AVX-512's. */
static void test_sums_follow_the_lanes(void **state)
{
    (void)state;
    int ran[3] = {0, 0, 0};
    for (int widest = 0; widest <= 2; widest++) {
        int form = fm_test_reduce_widest_form(widest);
        if (ran[form])
            continue; /* this CPU has no wider form */
        ran[form] = 1;
        check_lanes();
    }
    fm_test_reduce_widest_form(2);
    assert_true(ran[0]);
    print_message("lane sums checked in the forms: portable%s%s\n", ran[1] ? ", AVX2" : "", ran[2] ? ", AVX-512" : "");
}

static void test_all_finite_sees_every_position(void **state)
{
    (void)state;
    enum { N = 67 };
    float v[N];
    for (int i = 0; i < N; i++)
        v[i] = i % 2 ? FLT_MAX : -FLT_MAX;
    assert_true(fm_reduce_all_finite(v, N));
    assert_true(fm_reduce_all_finite(v, 0));
    const float bad[3] = {INFINITY, -INFINITY, NAN};
    for (int k = 0; k < 3; k++)
        for (int at = 0; at < N; at++) {
            float keep = v[at];
            v[at] = bad[k];
            if (fm_reduce_all_finite(v, N))
                fail_msg("value %d (%g) at position %d of %d not seen", k, (double)bad[k], at, N);
            assert_true(fm_reduce_all_finite(v, (size_t)at)); /* everything before it is finite */
            v[at] = keep;
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sums_match_reference),
        cmocka_unit_test(test_sums_follow_the_lanes),
        cmocka_unit_test(test_all_finite_sees_every_position),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
