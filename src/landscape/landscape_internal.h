/* Private performance hooks of a landscape: the separable fast paths that
 * Monte Carlo smoothing uses. Not part of the public API (plugins never see
 * them); only the library fills sgd_landscape.fast (the catalog does, for
 * homogeneous separable entries). */
#ifndef SGDSCAPE_LANDSCAPE_INTERNAL_H
#define SGDSCAPE_LANDSCAPE_INTERNAL_H

#include "sgdscape/landscape.h"

#include <stddef.h>
#include <stdint.h>

/* Homogeneous separable landscapes, f(x) = sum_i phi(x_i) with one phi for
 * every coordinate: phi(x[k]) into phi[k] (when phi != NULL) and phi'(x[k])
 * into dphi[k] (when dphi != NULL), k < n. Lets Monte Carlo smoothing work
 * on a cache-sized piece of the coordinates at a time, whatever d, and
 * split one sample's coordinates over threads (smooth_cube.c). */
typedef void (*sgd_phi_batch_fn)(const sgd_landscape *f, size_t n, const double *x, double *phi, double *dphi);

/* With phi_batch: sum_k phi(x[k]) for k < n, accumulated in 16 interleaved
 * partial sums added in a fixed order (the bits depend on n alone), without
 * storing the terms. */
typedef double (*sgd_phi_sum_fn)(const sgd_landscape *f, size_t n, const double *x);

/* With phi_batch, optional: phi at y - eta omega for uniform cube noise,
 * the draw fused in (Monte Carlo smoothing never stores the points). The
 * coordinate of omega is s sgd_sym32(w[k]) (s the cube's half-width),
 * computed as sgd_sym32_scaled(w[k], r2) with r2 = s 2^-31: the bits of
 * sgd_noise_sample_domain's draw. phi_cube_sum: y a run of n coordinates;
 * returns sum_k phi(y[k] - eta omega_k) with phi_sum's order and bits.
 * phi_cube_acc: one coordinate y of n samples; acc[k] += phi(y - eta omega_k). */
typedef double (*sgd_phi_cube_sum_fn)(const sgd_landscape *f, size_t n, const double *y, double eta, double r2,
                                      const uint32_t *w);
typedef void (*sgd_phi_cube_acc_fn)(const sgd_landscape *f, size_t n, double y, double eta, double r2,
                                    const uint32_t *w, double *acc);

/* What sgd_landscape.fast points to (static tables in catalog_sep.c). */
struct sgd_landscape_fast {
    sgd_phi_batch_fn phi_batch;       /* never NULL in a table */
    sgd_phi_sum_fn phi_sum;           /* set with phi_batch */
    sgd_phi_cube_sum_fn phi_cube_sum; /* optional */
    sgd_phi_cube_acc_fn phi_cube_acc; /* optional */
};

#endif
