/* Gradient noise models W(x): SGD sees v_t = grad f(x_t) + omega_t with
 * E[omega_t] = 0. Each model has a scale s (sgd_noise.scale); the paper's
 * radius r = max ||omega|| is sgd_noise_max_norm (s for the ball, s sqrt(d)
 * for the cube).
 *
 * The kernel that smooths f is the eta-scaled noise eta*omega; its width,
 * eta*s, is what the CLI calls the noise "level" (--r gives s). */
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
    SGD_NOISE_BALL,     /* uniform in the Euclidean ball of radius s (interval in 1-D) */
    SGD_NOISE_CUBE,     /* uniform in the cube [-s, s]^d (d >= 2: 32 random bits per coordinate, sgd_rng_symmetric_fill) */
    SGD_NOISE_GAUSS,    /* N(0, s^2 I): s is the standard deviation, unbounded */
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
    /* The noise's scale s: the ball's radius, the cube's half-width, the
     * Gaussian's sigma. Not the paper's r = max ||omega||, which is
     * sgd_noise_max_norm (s for the ball, s sqrt(d) for the cube). */
    double scale;
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

/* The paper's r = max ||omega||_2 over the support: s for the ball, s*sqrt(d) for the cube,
 * +Inf for Gaussian, 0 for none, NaN for data noise (unknown). */
double sgd_noise_max_norm(const sgd_noise *W, size_t d);

/* E||omega||^2: s^2 d/(d+2) (ball), d s^2/3 (cube), d s^2 (Gaussian). */
double sgd_noise_second_moment(const sgd_noise *W, size_t d);

#ifdef __cplusplus
}
#endif
#endif
