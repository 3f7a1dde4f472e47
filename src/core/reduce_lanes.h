/* The bodies of the lane sums (core/reduce.h), written once for any vector
 * width and included by core/reduce.c once per width, with
 *   LANE_VEC    a GCC vector of LANE_WIDTH doubles,
 *   LANE_WIDTH  8, 4 or 2, so that FM_REDUCE_LANES / LANE_WIDTH vectors hold
 *               the 16 lanes (lane k in element k of their memory image),
 *   LANE_NAME   the suffix of the functions defined.
 * A body receives its load (16 floats as doubles into the lanes) as a
 * pointer, so that the always-inline body can be inlined into a function of
 * another target (an indirect call the compiler resolves after inlining;
 * a direct call to a function of a wider target would not inline).
 *
 * Every width performs the same additions in the same order (lane k adds
 * elements k, k + 16, k + 32, ... in turn; the lanes and the tail are added
 * in lane order), so the sums are identical bit for bit. */

#define LANE_VECS (FM_REDUCE_LANES / LANE_WIDTH)
#define LANE_CAT_(a, b) a##_##b
#define LANE_CAT(a, b) LANE_CAT_(a, b)
#define LANE_FN(name) LANE_CAT(name, LANE_NAME)
/* The loops over a block's vectors unrolled whatever the optimisation level,
 * so that the vectors stay in registers (at -O2 GCC 12 kept them in memory:
 * the AVX2 step sums ran 0.7-1.2 instead of 0.42 ns per element). */
#define LANE_PRAGMA_(x) _Pragma(#x)
#define LANE_UNROLL LANE_PRAGMA_(GCC unroll 8)

typedef void (*LANE_FN(load16_fn))(const float *v, LANE_VEC x[LANE_VECS]);

static inline __attribute__((always_inline)) void LANE_FN(moments_body)(const float *v, size_t n, double *sum,
                                                                       double *sum_sq, LANE_FN(load16_fn) load)
{
    LANE_VEC s[LANE_VECS] = {{0}}, q[LANE_VECS] = {{0}};
    size_t i = 0;
    for (; i + FM_REDUCE_LANES <= n; i += FM_REDUCE_LANES) {
        LANE_VEC x[LANE_VECS];
        load(v + i, x);
        LANE_UNROLL
        for (int k = 0; k < LANE_VECS; k++) {
            s[k] += x[k];
            q[k] += x[k] * x[k];
        }
    }
    double ts[FM_REDUCE_LANES] = {0.0}, tq[FM_REDUCE_LANES] = {0.0};
    for (int k = 0; i < n; i++, k++) {
        double x = v[i];
        ts[k] = x;
        tq[k] = x * x;
    }
    *sum = add_lanes(s, ts);
    *sum_sq = add_lanes(q, tq);
}

static inline __attribute__((always_inline)) double LANE_FN(sum_squares_body)(const float *v, size_t n,
                                                                              LANE_FN(load16_fn) load)
{
    LANE_VEC q[LANE_VECS] = {{0}};
    size_t i = 0;
    for (; i + FM_REDUCE_LANES <= n; i += FM_REDUCE_LANES) {
        LANE_VEC x[LANE_VECS];
        load(v + i, x);
        LANE_UNROLL
        for (int k = 0; k < LANE_VECS; k++)
            q[k] += x[k] * x[k];
    }
    double tq[FM_REDUCE_LANES] = {0.0};
    for (int k = 0; i < n; i++, k++) {
        double x = v[i];
        tq[k] = x * x;
    }
    return add_lanes(q, tq);
}

static inline __attribute__((always_inline)) void LANE_FN(step_sums_body)(const float *old, const float *now,
                                                                         const float *g, size_t n,
                                                                         double sums[FM_STEP_SUMS],
                                                                         LANE_FN(load16_fn) load)
{
    /* four sums of 16 lanes: 8 registers on AVX-512, all 16 on AVX2 */
    LANE_VEC u[LANE_VECS] = {{0}}, w[LANE_VECS] = {{0}}, ww[LANE_VECS] = {{0}}, gg[LANE_VECS] = {{0}};
    size_t i = 0;
    for (; i + FM_REDUCE_LANES <= n; i += FM_REDUCE_LANES) {
        LANE_VEC o[LANE_VECS], p[LANE_VECS], d[LANE_VECS];
        load(old + i, o);
        load(now + i, p);
        load(g + i, d);
        LANE_UNROLL
        for (int k = 0; k < LANE_VECS; k++) {
            LANE_VEC e = p[k] - o[k];
            u[k] += e * e;
            w[k] += o[k];
            ww[k] += o[k] * o[k];
            gg[k] += d[k] * d[k];
        }
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
    sums[FM_SUM_UPDATE_SQ] += add_lanes(u, tail[FM_SUM_UPDATE_SQ]);
    sums[FM_SUM_OLD] += add_lanes(w, tail[FM_SUM_OLD]);
    sums[FM_SUM_OLD_SQ] += add_lanes(ww, tail[FM_SUM_OLD_SQ]);
    sums[FM_SUM_GRAD_SQ] += add_lanes(gg, tail[FM_SUM_GRAD_SQ]);
}

#undef LANE_FN
#undef LANE_UNROLL
#undef LANE_PRAGMA_
#undef LANE_CAT
#undef LANE_CAT_
#undef LANE_VECS
