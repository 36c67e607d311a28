/* Gradient noise models W(x): SGD sees v_t = grad f(x_t) + omega_t with
 * E[omega_t] = 0. The paper's radius r = max ||omega||.
 *
 * The kernel that smooths f is the eta-scaled noise eta*omega; its width,
 * eta*r, is what the CLI calls the noise "level". */
#ifndef SGDSCAPE_NOISE_H
#define SGDSCAPE_NOISE_H

/* every function here returns or sets an SGD_* code; sgd_errmsg() says why */
#include "sgdscape/error.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    SGD_NOISE_NONE = 0, /* omega = 0: gradient descent */
    SGD_NOISE_BALL,     /* uniform in the Euclidean ball of radius r (interval in 1-D) */
    SGD_NOISE_CUBE,     /* uniform in the cube [-r, r]^d (d >= 2: 32 random bits per coordinate, sgd_rng_symmetric_fill) */
    SGD_NOISE_GAUSS,    /* N(0, r^2 I): r is the standard deviation, unbounded */
    SGD_NOISE_DATA      /* data-dependent: the hook below draws omega */
} sgd_noise_kind;

/* Hook for data-dependent noise W(x) (mini-batches): fill omega[0..d) for
 * trial `trial` at step `step` at the point x. Must be a pure function of its
 * arguments (draw from sgd_rng_* with SGD_RNG_NOISE) so runs stay
 * deterministic. Returns SGD_OK or an error code. */
typedef int (*sgd_noise_data_fn)(void *ctx, const double *x, size_t d, uint64_t seed,
                                 uint64_t trial, uint64_t step, double *omega);

typedef struct sgd_noise {
    sgd_noise_kind kind;
    double r;               /* radius (ball, cube half-width, Gaussian sigma) */
    sgd_noise_data_fn data; /* SGD_NOISE_DATA only */
    void *data_ctx;
} sgd_noise;

/* Parse "none", "gd", "ball", "uniform" (= ball), "interval" (= ball), "cube",
 * "gauss"/"gaussian". Returns SGD_EINVAL naming `name` if unknown. */
int sgd_noise_parse(const char *name, sgd_noise_kind *kind);
const char *sgd_noise_name(sgd_noise_kind kind);

/* Draw omega_t for (seed, trial, step) into omega[0..d). Pure function of
 * its arguments. x is only used by SGD_NOISE_DATA. */
int sgd_noise_sample(const sgd_noise *W, size_t d, uint64_t seed, uint64_t trial,
                     uint64_t step, const double *x, double *omega);

/* The same draw, addressed by an explicit RNG domain (smoothing and checks
 * use their own domains). */
void sgd_noise_sample_domain(const sgd_noise *W, size_t d, uint64_t seed, uint32_t domain,
                             uint64_t stream, uint64_t step, double *omega);

/* max ||omega||_2 over the support: r for the ball, r*sqrt(d) for the cube,
 * +Inf for Gaussian, 0 for none, NaN for data noise (unknown). */
double sgd_noise_max_norm(const sgd_noise *W, size_t d);

/* E||omega||^2: r^2 d/(d+2) (ball), d r^2/3 (cube), d r^2 (Gaussian). */
double sgd_noise_second_moment(const sgd_noise *W, size_t d);

#ifdef __cplusplus
}
#endif
#endif
