/* Private fast forms of the public word maps in sgdscape/rng.h, for the
 * library's vector loops (Monte Carlo smoothing, the catalog's fused cube
 * draws, trials, the Philox kernels). Not part of the public API. */
#ifndef SGDSCAPE_RNG_INTERNAL_H
#define SGDSCAPE_RNG_INTERNAL_H

#include "sgdscape/rng.h"

#include <math.h>
#include <stdint.h>

/* r * sgd_sym32(w), the same bits, given r2 = r 2^-31 (exact for any normal
 * r >= 2^-990): both round the real (s + 1/2) r 2^-31 once. With FMA it is
 * one fused s r2 + r2/2 (both terms exact), two operations fewer per
 * coordinate in the Monte Carlo loops. */
static inline double sgd_sym32_scaled(uint32_t w, double r2)
{
#ifdef __FMA__
    return fma(r2, (double)(int32_t)(w ^ 0x80000000u), 0.5 * r2);
#else
    return ((double)(int32_t)(w ^ 0x80000000u) + 0.5) * r2;
#endif
}

/* Word pair -> double in [0,1): the 53-bit integer (hi << 21 | lo >> 11)
 * times 2^-53, computed as hi 2^-32 + (lo >> 11) 2^-53 (both terms and the
 * sum are exact) with 32-bit conversions, which vectorise on AVX2. */
static inline double sgd_u01(uint32_t hi, uint32_t lo)
{
    double h = (double)(int32_t)(hi ^ 0x80000000u) + 2147483648.0;
    double l = (double)(int32_t)(lo >> 11);
    return h * 0x1.0p-32 + l * 0x1.0p-53;
}

#endif
