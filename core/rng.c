#include <math.h>

#include "tg_rng.h"

static const double two_pi = 6.283185307179586476925286766559;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void tg_rng_seed(tg_rng *rng, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&seed);
}

uint64_t tg_rng_next(tg_rng *rng)
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

double tg_rng_uniform(tg_rng *rng)
{
    return (double)(tg_rng_next(rng) >> 11) * 0x1.0p-53;
}

uint64_t tg_rng_below(tg_rng *rng, uint64_t n)
{
    /* Reject the top partial copy of [0, n) so every residue is equally likely. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = tg_rng_next(rng);
    while (x >= limit);
    return x % n;
}

double tg_rng_normal(tg_rng *rng, double mean, double std)
{
    /* 1 - u lies in (0, 1], so the logarithm is finite. */
    double u = 1.0 - tg_rng_uniform(rng);
    double v = tg_rng_uniform(rng);
    return mean + std * sqrt(-2.0 * log(u)) * cos(two_pi * v);
}
