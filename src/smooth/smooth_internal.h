/* Monte Carlo smoothing internals that the tests reach (tests/test_smooth.c):
 * the general path's draw for uniform cube noise. */
#ifndef SGD_SMOOTH_INTERNAL_H
#define SGD_SMOOTH_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* Words of scratch smooth_cube_x_block needs. */
#define SGD_SMOOTH_WORDS 4096

/* x = y - eta omega for samples step0 .. step0+m-1 of cube noise of radius
 * r >= 2^-990 in d >= 2 (x is m rows of d), omega exactly as
 * sgd_noise_sample_domain(W, d, seed, SGD_RNG_SMOOTH, stream, step) draws
 * it (r times sgd_rng_symmetric_fill). Small d in columns of many samples
 * (h = ceil(d/4) < 32), larger d a sample at a time, d > 4096 in runs of
 * 1024 blocks. words: SGD_SMOOTH_WORDS words of scratch. */
void smooth_cube_x_block(double r, double eta, const double *y, size_t d, uint64_t seed, uint64_t stream,
                         uint64_t step0, size_t m, uint32_t *words, double *x);

#endif
