/* Branch-free float exp/expm1 and the activations built on them, for the
 * element-wise training kernels (src/core/activation.c).
 *
 * Every function here is static inline, has no data-dependent branch (only
 * selects, which become blends) and no call, so that GCC vectorises the loops
 * that use them at -O3 without -ffast-math (SSE2 on plain x86-64, wider with
 * -march). The accuracy is checked against double references by
 * tests/test_fast_math.c over the whole float range, denormal results
 * included: exp <= 1 ulp, expm1 <= 1.5 ulp, sigmoid and tanh <= 2.5 ulp and
 * 2e-7 relative. Maxima measured over every 17th float (2.5e8 values): exp
 * 0.954 ulp, expm1 1.254 ulp, sigmoid 2.40 ulp, tanh 2.42 ulp; relative
 * 1.2e-7 (expm1), 1.76e-7 (sigmoid, tanh).
 *
 * Method (exp and expm1 share it): x = k ln2 + r with k = round(x / ln2) and
 * |r| <= ln2/2 (Cody-Waite: k ln2_hi is exact for |k| <= 150), p = expm1(r) =
 * r + r^2 q(r) with q the Taylor series of (e^r - 1 - r) / r^2 to degree 6
 * (truncation error < 2e-10 relative), then
 *     exp(x)   = 2^k (1 + p),
 *     expm1(x) = (2^k - 1) + 2^k r + 2^k r^2 q   (exact first sum for |k| <= 1).
 * k is rounded with the 1.5 * 2^23 shifter, so it never goes through a
 * float-to-int conversion (UB for NaN or out-of-range values): its bits are
 * read from the float with memcpy and 2^k is assembled in the exponent field
 * with unsigned arithmetic. The argument is clamped first (NaN passes the
 * clamps unchanged and comes out as NaN), so k stays in [-150, 128]; exp
 * splits 2^k into two normal factors so that results in the denormal range
 * are rounded once and results above FLT_MAX overflow to +inf, as expf does.
 *
 * The constants are float literals, the operations plain float arithmetic:
 * no fma is needed (the project builds with -ffp-contract=off; with FMA
 * contraction, -std=gnu11 -march=native, the bounds still hold). */
#ifndef FATHOM_CORE_FAST_MATH_H
#define FATHOM_CORE_FAST_MATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

static inline uint32_t fm_f2u_(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static inline float fm_u2f_(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* c ? a : b through a bit mask. A plain ?: on floats is a branch until
 * if-conversion, and GCC's jump threading specialises the paths behind
 * consecutive clamps (e.g. x = 89 constant-folds to a trapping overflow), which
 * then cannot be if-converted: "control flow in loop", no vectorisation. The
 * mask form never is a branch; it becomes and/andnot/or (or a blend). */
static inline float fm_select_(int c, float a, float b)
{
    uint32_t m = 0u - (uint32_t)(c != 0);
    return fm_u2f_((fm_f2u_(a) & m) | (fm_f2u_(b) & ~m));
}

/* 2^k as a float from the biased exponent e = k + 127, 1 <= e <= 254 (caller's
 * duty; unsigned, so even a wrong e is no UB, only a wrong value). */
static inline float fm_pow2_biased_(uint32_t e) { return fm_u2f_(e << 23); }

/* Shared range reduction: for x in [-104, 89] (or NaN) returns r with
 * x = k ln2 + r, |r| <= ln2/2 + 1e-7, sets *kb = k + 127 (mod 2^32) and
 * *q = (e^r - 1 - r) / r^2 (Taylor to r^6). */
static inline float fm_exp_reduce_(float x, uint32_t *kb, float *q)
{
    const float shifter = 0x1.8p23f; /* 1.5 * 2^23: adding it rounds to an integer */
    const float inv_ln2 = 0x1.715476p+0f;
    const float ln2_hi = 0x1.63p-1f;            /* 0.693359375: 9 bits, k ln2_hi exact */
    const float ln2_lo = -0x1.bd0106p-13f;      /* ln2 - ln2_hi */
    float t = x * inv_ln2 + shifter;
    float kf = t - shifter;
    /* t's low mantissa bits hold k + 2^22: k + 127 = bits(t) - bits(shifter) + 127. */
    *kb = fm_f2u_(t) - 0x4b400000u + 127u;
    float r = (x - kf * ln2_hi) - kf * ln2_lo;
    *q = 0x1p-1f +
         r * (0x1.555556p-3f +
              r * (0x1.555556p-5f + r * (0x1.111112p-7f + r * (0x1.6c16c2p-10f + r * (0x1.a01a02p-13f +
                                                                                     r * 0x1.a01a02p-16f)))));
    return r;
}

/* e^x for x <= 89, -inf and NaN: fm_fast_expf without its upper clamp. The
 * derivative kernels call it directly, since their arguments (e^min(z, 0),
 * e^-|z|, e^-2|z|) are never positive. */
static inline float fm_fast_expf_to89(float x)
{
    /* Below -104 the result is 0 (e^-104 < 2^-150): with the caller's x <= 89
     * the clamp keeps k in [-150, 129]. Written as a select (x < lo fails for
     * NaN) so that NaN goes through (fmaxf would drop it). */
    x = fm_select_(x < -104.0f, -104.0f, x);
    uint32_t kb;
    float q;
    float r = fm_exp_reduce_(x, &kb, &q);
    float p = r + r * r * q;
    /* 2^k = 2^k1 2^k2 with k1 = floor(k/2), k2 = k - k1, both in [-75, 65]:
     * normal, so (1 + p) 2^k1 is exact and the second product rounds once
     * (into the denormals or to +inf where it must). kb = k + 127 in
     * [-23, 256]; kb + 127 >= 104 keeps the halving unsigned and exact. */
    uint32_t kb1 = (kb + 127u) >> 1;  /* = floor(k/2) + 127 */
    uint32_t kb2 = kb + 127u - kb1;   /* = k - floor(k/2) + 127 */
    return ((1.0f + p) * fm_pow2_biased_(kb1)) * fm_pow2_biased_(kb2);
}

/* e^x, <= 1 ulp; e^x > FLT_MAX gives +inf, e^-inf = 0, NaN gives NaN. Above
 * 89 the result is +inf anyway (ln FLT_MAX = 88.72). */
static inline float fm_fast_expf(float x) { return fm_fast_expf_to89(fm_select_(x > 89.0f, 89.0f, x)); }

/* 2^k - 1 + 2^k r + 2^k r^2 q, the expm1 of x = k ln2 + r for k <= 30
 * (kb = k + 127): 2^k r is exact, 2^k - 1 too for k <= 24, and their sum is
 * exact for |k| <= 1, where cancellation would hurt; for larger |k| the sum
 * is dominated by 2^k - 1 and its rounding costs at most half an ulp. */
static inline float fm_expm1_scaled_(float r, float r2q, uint32_t kb)
{
    float s = fm_pow2_biased_(kb);
    return ((s - 1.0f) + s * r) + s * r2q;
}

/* e^x - 1, <= 1.5 ulp (relative accuracy near 0: expm1(x) = x for tiny x,
 * expm1(-0) = -0); -1 for x <= -17.4 and -inf, +inf above ln FLT_MAX, NaN
 * gives NaN. */
static inline float fm_fast_expm1f(float x)
{
    /* Below -20, e^x < 2^-28: the result rounds to -1. The clamp keeps 2^k normal
     * (k >= -29). Above 20 (k >= 29) the -1 is 1/32 of an ulp of e^x or less, so
     * expm1 = exp there, computed with the split scale of fm_fast_expf. */
    float xc = fm_select_(x < -20.0f, -20.0f, x);
    xc = fm_select_(xc > 89.0f, 89.0f, xc);
    uint32_t kb;
    float q;
    float r = fm_exp_reduce_(xc, &kb, &q);
    float r2q = r * r * q;
    /* x <= 20 (k <= 29); kb clamped to k <= 30 so that the scale stays finite
     * for the lanes that take the other path. */
    float small = fm_expm1_scaled_(r, r2q, kb > 157u ? 157u : kb);
    uint32_t kb1 = (kb + 127u) >> 1;
    uint32_t kb2 = kb + 127u - kb1;
    float big = ((1.0f + (r + r2q)) * fm_pow2_biased_(kb1)) * fm_pow2_biased_(kb2);
    /* x == 0: return x itself, so that expm1(-0) = -0 (the sum above gives +0). */
    return fm_select_(xc > 20.0f, big, fm_select_(x == 0.0f, x, small));
}

/* fm_fast_expm1f(x) for x <= 20, -inf and NaN, the same bits (tested over
 * that range), without the clamps and the path for x > 20 that those never
 * take: the SELU and ELU kernels call it on min(z, 0), tanh on 2|z| <= 20,
 * where it saves a third of expm1's operations. */
static inline float fm_fast_expm1f_to20(float x)
{
    float xc = fm_select_(x < -20.0f, -20.0f, x);
    uint32_t kb;
    float q;
    float r = fm_exp_reduce_(xc, &kb, &q);
    /* k <= 29: 2^k is normal and finite; x == 0 as in fm_fast_expm1f. */
    return fm_select_(x == 0.0f, x, fm_expm1_scaled_(r, r * r * q, kb));
}

/* Logistic sigmoid 1 / (1 + e^-z), stable for both signs (from e = e^-|z|
 * in (0, 1]: 1/(1+e) for z >= 0, e/(1+e) below: one division either way),
 * <= 2.5 ulp away from underflow; +inf -> 1, -inf -> 0, NaN -> NaN.
 * fm_fast_sigmoid2 also returns 1 - sigmoid(z) (= sigmoid(-z)) in *comp,
 * as accurate (no cancellation). */
static inline float fm_fast_sigmoid2(float z, float *comp)
{
    float e = fm_fast_expf_to89(-fabsf(z));
    float d = 1.0f + e;
    int pos = z >= 0.0f;
    *comp = fm_select_(pos, e, 1.0f) / d;
    return fm_select_(pos, 1.0f, e) / d;
}

static inline float fm_fast_sigmoid(float z)
{
    float e = fm_fast_expf_to89(-fabsf(z));
    return fm_select_(z >= 0.0f, 1.0f, e) / (1.0f + e);
}

/* sigmoid'(z) = e / (1 + e)^2 with e = e^-|z|: symmetric, no cancellation. */
static inline float fm_fast_sigmoid_deriv(float z)
{
    float e = fm_fast_expf_to89(-fabsf(z));
    float d = 1.0f / (1.0f + e);
    return e * d * d;
}

/* tanh z = sign(z) u / (u + 2), u = expm1(2|z|): <= 2.5 ulp, relative
 * accuracy at 0; exactly +-1 for |z| > 13 ln2 = 9.0109, where tanh rounds
 * to 1 in float (1 - tanh z < 2 e^-2z < 2^-25); +-inf -> +-1, -0 -> -0,
 * NaN -> NaN. */
static inline float fm_fast_tanhf(float z)
{
    float a = fabsf(z);
    float ac = fm_select_(a > 10.0f, 10.0f, a); /* u finite; NaN passes */
    float u = fm_fast_expm1f_to20(2.0f * ac);
    float t = u / (u + 2.0f);
    t = fm_select_(a > 9.0109f, 1.0f, t);
    return copysignf(t, z);
}

/* tanh'(z) = 1 - tanh^2 z = 4 e / (1 + e)^2 with e = e^-2|z|: no cancellation
 * for large |z| (where 1 - t^2 loses every digit); +-inf -> 0, NaN -> NaN. */
static inline float fm_fast_tanh_deriv(float z)
{
    float e = fm_fast_expf_to89(-2.0f * fabsf(z));
    float d = 1.0f / (1.0f + e);
    return 4.0f * e * d * d;
}

#endif
