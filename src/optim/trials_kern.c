/* The trial runner's per-step kernels without momentum across a block of
 * trials: uniform noise (the 1-D interval of Figure 3, the cube in d >= 2)
 * and the step; compiled once per kernel variant (src/core/isa.h).
 * trials.c calls them through sgd_kern(). */
#include "core/isa.h"
#include "core/fastmath.h"
#include "core/rng_internal.h"
#include "sgdscape/rng.h"

#include <float.h>
#include <math.h>

/* Uniform omega_T = r sgd_sym32(word 0) for trials trial0 .. trial0+m-1
 * (m <= 64) at a step T = 4 quad, and spare[(t-1) m + j] = sgd_sym32(word t)
 * for steps T+1 .. T+3: one Philox block serves four steps (noise.c's 1-D
 * layout, sgd_rng_counter's words), drawn across trials so the loop
 * vectorises. */
void SGD_KERN(trials_noise_1d)(uint64_t seed, uint64_t trial0, uint64_t quad, double r, size_t m, double *om,
                               double *spare)
{
    uint32_t w0[64], w1[64], w2[64], w3[64];
    for (size_t j = 0; j < m; j++) {
        uint64_t tr = trial0 + j;
        w0[j] = 0;
        w1[j] = (uint32_t)quad;
        w2[j] = (uint32_t)tr;
        w3[j] = sgd_rng_counter_w3(SGD_RNG_NOISE, tr, quad);
    }
    sgd_philox4x32_soa(m, w0, w1, w2, w3, (uint32_t)seed, (uint32_t)(seed >> 32));
    for (size_t j = 0; j < m; j++) {
        om[j] = r * sgd_sym32(w0[j]);
        spare[j] = sgd_sym32(w1[j]);
        spare[m + j] = sgd_sym32(w2[j]);
        spare[2 * m + j] = sgd_sym32(w3[j]);
    }
}

/* Cube noise in d >= 2: om[j d + i] = r sgd_sym32(word) for trials trial0 ..
 * trial0+m-1 (m <= 64) at step T, the numbers of sgd_noise_sample_domain
 * (sgd_rng_symmetric_fill: block q of a trial's stream holds coordinates q,
 * q+h, q+2h, q+3h, h = ceil(d/4)). Drawn one block index q at a time across
 * the trials, so Philox runs at the variant's width rather than on the two
 * or three blocks of one trial. */
void SGD_KERN(trials_noise_cube)(uint64_t seed, uint64_t trial0, uint64_t T, double r, size_t m, size_t d,
                                 double *om)
{
    const size_t h = (d + 3) / 4;
    uint32_t w[4][64];
    for (size_t q = 0; q < h; q++) {
        for (size_t j = 0; j < m; j++) {
            uint64_t tr = trial0 + j;
            w[0][j] = (uint32_t)q;
            w[1][j] = (uint32_t)T;
            w[2][j] = (uint32_t)tr;
            w[3][j] = sgd_rng_counter_w3(SGD_RNG_NOISE, tr, T);
        }
        sgd_philox4x32_soa(m, w[0], w[1], w[2], w[3], (uint32_t)seed, (uint32_t)(seed >> 32));
        for (size_t t = 0; t < 4 && t * h + q < d; t++)
            for (size_t j = 0; j < m; j++) om[j * d + t * h + q] = sgd_sym32(w[t][j]) * r;
    }
}

/* x_j -= eta (g_j + r s_j) for j < m: the trials of a 1-D block, those with
 * active[j] == 0 held still (active is not read when all_active), or every
 * coordinate of a block none of whose trials has stopped. s is the noise
 * already scaled (r = 1: r s_j == s_j in every bit) or the 1-D steps' spare
 * row, scaled here rather than in a loop of its own: r s_j rounds as it
 * would there. Nonzero when some x left the finite doubles. */
int SGD_KERN(trials_step_flat)(size_t m, double eta, double r, double *x, const double *g, const double *s,
                               const int *active, int all_active)
{
    int bad = 0;
    if (all_active) {
#pragma omp simd reduction(| : bad)
        for (size_t j = 0; j < m; j++) {
            x[j] -= eta * (g[j] + r * s[j]);
            bad |= !(fabs(x[j]) <= DBL_MAX);
        }
    } else {
#pragma omp simd reduction(| : bad)
        for (size_t j = 0; j < m; j++) {
            double xn = x[j] - eta * (g[j] + r * s[j]);
            x[j] = active[j] ? xn : x[j];
            bad |= active[j] && !(fabs(xn) <= DBL_MAX);
        }
    }
    return bad;
}
