/* xoshiro256** (Blackman and Vigna) seeded by splitmix64: fast, small state, and
 * owned by each object that needs randomness, so results depend only on seeds. */
#include "core/internal.h"

#include <math.h>

uint64_t fm_splitmix64(uint64_t x)
{
    uint64_t z = x + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void fm_rng_seed(fm_rng *rng, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) {
        rng->s[i] = fm_splitmix64(x);
        x += 0x9E3779B97F4A7C15ull;
    }
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t fm_rng_next(fm_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double fm_rng_uniform(fm_rng *rng) { return (double)(fm_rng_next(rng) >> 11) * 0x1.0p-53; }

/* Marsaglia's polar method: two independent N(0, 1) values, u f and v f. */
static void polar_pair(fm_rng *rng, double *u_out, double *v_out, double *f_out)
{
    double u, v, s;
    do {
        u = 2.0 * fm_rng_uniform(rng) - 1.0;
        v = 2.0 * fm_rng_uniform(rng) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    *u_out = u;
    *v_out = v;
    *f_out = sqrt(-2.0 * log(s) / s);
}

double fm_rng_normal(fm_rng *rng)
{
    /* The second value is discarded so that the generator's state alone
     * determines the stream. */
    double u, v, f;
    polar_pair(rng, &u, &v, &f);
    return u * f;
}

void fm_rng_normal_fill(fm_rng *rng, float *out, size_t n, double mean, double sd)
{
    size_t i = 0;
    while (i < n) {
        double u, v, f;
        polar_pair(rng, &u, &v, &f);
        out[i++] = (float)(mean + sd * (u * f));
        if (i < n) /* an odd n drops the last pair's second value */
            out[i++] = (float)(mean + sd * (v * f));
    }
}

uint64_t fm_rng_below(fm_rng *rng, uint64_t n)
{
    /* Rejection sampling removes the modulo bias. */
    uint64_t limit = (uint64_t)-1 - ((uint64_t)-1 % n);
    uint64_t x;
    do {
        x = fm_rng_next(rng);
    } while (x >= limit);
    return x % n;
}
