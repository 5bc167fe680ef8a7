/*
 * tg_rng.h: a seeded random generator, so that a run is reproducible bit for bit.
 *
 * The generator is xoshiro256** (Blackman and Vigna), seeded by expanding a 64-bit seed with
 * splitmix64 as its authors recommend. Normal draws use the Box-Muller transform, one output
 * per pair of uniforms, so every draw consumes the same amount of the stream. The state is a
 * plain struct: copy it to fork a stream, save it to resume one.
 */
#ifndef TG_RNG_H
#define TG_RNG_H

#include <stdint.h>

typedef struct tg_rng {
    uint64_t s[4];
} tg_rng;

void tg_rng_seed(tg_rng *rng, uint64_t seed);

uint64_t tg_rng_next(tg_rng *rng);

/* Uniform in [0, 1), with 53 random bits. */
double tg_rng_uniform(tg_rng *rng);

/* Uniform integer in [0, n), without modulo bias; n must be positive. */
uint64_t tg_rng_below(tg_rng *rng, uint64_t n);

double tg_rng_normal(tg_rng *rng, double mean, double std);

#endif
