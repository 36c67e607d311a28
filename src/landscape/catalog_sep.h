/* The catalog's separable phi cores (catalog_sep.c has the entries), shared
 * by the scalar ops there and the batched kernels of catalog_sep_kern.c,
 * which every kernel variant compiles (src/core/isa.h): one inline phi each,
 * NAME##_core(b, x, d1, d2), b the parameter block, d1 and d2 possibly NULL
 * (the inlined core then computes only what is asked). */
#ifndef SGD_LANDSCAPE_CATALOG_SEP_H
#define SGD_LANDSCAPE_CATALOG_SEP_H

#include "landscape/catalog_internal.h"
#include "landscape/landscape_internal.h"
#include "core/fastmath.h"

/* The entries with batched kernels, and what a variant gives for each:
 * grad_batch and the fast paths (the values stay in catalog_sep.c). */
enum { SEP_K_QUADRATIC, SEP_K_RAST, SEP_K_ST, SEP_K_DW, SEP_NKERN };
typedef struct sep_kernels {
    sgd_grad_batch_fn grad_batch;
    const struct sgd_landscape_fast *fast;
} sep_kernels;

/* ---- quadratic: phi_i = a_i x^2 / 2 -------------------------------------- */
/* b[0] = a: the batched kernels serve the isotropic case only. */
static inline double quadratic_core(const double *b, double x, double *d1, double *d2)
{
    if (d1) *d1 = b[0] * x;
    if (d2) *d2 = b[0];
    return 0.5 * b[0] * x * x;
}

/* ---- Rastrigin: phi = x^2 - A cos(2 pi x) + A ------------------------------ */
/* The value alone needs only cos(2 pi x): sgd_cos2pi reduces to one period
 * exactly and evaluates one polynomial (about 40% fewer operations than
 * sgd_sincos). With a derivative the value takes the sincos's cosine; the two
 * agree to ~1e-16 (tests/test_landscape.c), so fg and the batched values
 * differ in the last bits. */
static inline double rast_core(const double *b, double x, double *d1, double *d2)
{
    const double A = b[0], w = 2 * PI;
    if (!d1 && !d2) return x * x - A * sgd_cos2pi(x) + A;
    double s, c;
    sgd_sincos(w * x, &s, &c);
    if (d1) *d1 = 2 * x + A * w * s;
    if (d2) *d2 = 2 + A * w * w * c;
    return x * x - A * c + A;
}

/* ---- Styblinski-Tang: phi = (x^4 - 16 x^2 + 5 x)/2 -------------------------- */
static inline double st_core(const double *b, double x, double *d1, double *d2)
{
    (void)b;
    double x2 = x * x;
    if (d1) *d1 = (4 * x2 * x - 32 * x + 5) / 2;
    if (d2) *d2 = (12 * x2 - 32) / 2;
    return (x2 * x2 - 16 * x2 + 5 * x) / 2;
}

/* ---- tilted double well: phi = (x^2 - 1)^2 + tilt x ------------------------ */
static inline double dw_core(const double *b, double x, double *d1, double *d2)
{
    double t = b[0], x2 = x * x;
    if (d1) *d1 = 4 * x * (x2 - 1) + t;
    if (d2) *d2 = 12 * x2 - 4;
    return (x2 - 1) * (x2 - 1) + t * x;
}

#endif
