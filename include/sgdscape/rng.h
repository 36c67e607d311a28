/* Counter-based random streams (Random123 Philox4x32-10).
 *
 * Every random number in sgdscape is a pure function of
 * (seed, domain, stream, step, index): no state is carried between draws, so
 * results do not depend on how trials are split over threads or MPI ranks.
 *   seed   - the user's seed (64 bits, the Philox key)
 *   domain - what the number is for (SGD_RNG_INIT, SGD_RNG_NOISE, ...)
 *   stream - usually the trial index
 *   step   - the iteration t (or epoch)
 *   index  - which number within that step (coordinate, sample, ...)
 */
#ifndef SGDSCAPE_RNG_H
#define SGDSCAPE_RNG_H

#include <math.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    SGD_RNG_INIT = 1,     /* starting points */
    SGD_RNG_NOISE = 2,    /* gradient noise omega_t */
    SGD_RNG_RESTART = 3,  /* fresh starting points of a restart stage */
    SGD_RNG_SMOOTH = 4,   /* Monte Carlo smoothing samples */
    SGD_RNG_CHECK = 5,    /* Assumption-1 sample points */
    SGD_RNG_SHUFFLE = 6,  /* data-set shuffling */
    SGD_RNG_AUGMENT = 7,  /* data augmentation */
    SGD_RNG_WEIGHTS = 8,  /* network initialisation */
    SGD_RNG_PROBE = 9,    /* probe sample points */
    SGD_RNG_BRANCH = 10,  /* seeds of the SGD branches (branch.h) */
    SGD_RNG_USER = 100    /* first value free for users */
};

/* Four 32-bit random words for counter (domain, stream, step, index). */
void sgd_rng_words(uint64_t seed, uint32_t domain, uint64_t stream,
                   uint64_t step, uint32_t index, uint32_t out[4]);

/* Two doubles uniform on [0,1) (53 random bits each). */
void sgd_rng_uniform2(uint64_t seed, uint32_t domain, uint64_t stream,
                      uint64_t step, uint32_t index, double out[2]);

/* Two independent standard normals (Box-Muller on one Philox block). */
void sgd_rng_normal2(uint64_t seed, uint32_t domain, uint64_t stream,
                     uint64_t step, uint32_t index, double out[2]);

/* Fill u[0..n) with uniforms on [0,1), numbers `index` = 0,1,... of the
 * counter (domain, stream, step). */
void sgd_rng_uniform_fill(uint64_t seed, uint32_t domain, uint64_t stream,
                          uint64_t step, double *u, uint64_t n);

/* Fill z[0..n) with standard normals. */
void sgd_rng_normal_fill(uint64_t seed, uint32_t domain, uint64_t stream,
                         uint64_t step, double *z, uint64_t n);

/* Uniform integer in [0, n) (n >= 1), unbiased (Lemire's method). */
uint64_t sgd_rng_below(uint64_t seed, uint32_t domain, uint64_t stream,
                       uint64_t step, uint32_t index, uint64_t n);

/* Fill v[0..n) with numbers uniform on (-1, 1), 32 random bits each, four
 * per Philox block: with h = ceil(n/4) blocks (index 0..h-1 of the counter
 * (domain, stream, step)), word t of block q gives v[t h + q]. Twice the
 * throughput of 53-bit draws, and the arrangement lets a vector loop write
 * each word array to one contiguous run. The values are (s + 1/2) 2^-31
 * for s a signed 32-bit word: symmetric about 0, never +-1. Cube noise in
 * d >= 2 and Monte Carlo smoothing draw with it. */
void sgd_rng_symmetric_fill(uint64_t seed, uint32_t domain, uint64_t stream,
                            uint64_t step, double *v, uint64_t n);

/* One 32-bit word -> (-1, 1), as sgd_rng_symmetric_fill maps it. */
static inline double sgd_sym32(uint32_t w)
{
    return ((double)(int32_t)(w ^ 0x80000000u) + 0.5) * 0x1.0p-31;
}

#ifdef __cplusplus
}
#endif
#endif
