/* The Figure-3 landscape's batched kernels (spiky.c has the landscape),
 * compiled once per kernel variant (src/core/isa.h): spiky_core across
 * points, which the compiler vectorises at the variant's width. */
#include "landscape/spiky.h"
#include "core/isa.h"

static inline __attribute__((always_inline)) void grad_batch_q(const double *p, size_t n, const double *x,
                                                               double *g, const int form)
{
    SPIKY_UNPACK;
    double gk;
#pragma omp simd simdlen(8) private(gk)
    for (size_t k = 0; k < n; k++) {
        spiky_core(A1, w1, A2, w2, a, w, form, x[k], &gk, NULL);
        g[k] = gk;
    }
}

void SGD_KERN(spiky_grad_batch)(const double *p, size_t n, const double *x, double *g)
{
    SPIKY_DISPATCH(grad_batch_q, p, n, x, g);
}

static inline __attribute__((always_inline)) void phi_batch_q(const double *p, size_t n, const double *x,
                                                              double *phi, double *dphi, const int form)
{
    SPIKY_UNPACK;
    double gk;
    if (dphi) {
#pragma omp simd simdlen(8) private(gk)
        for (size_t k = 0; k < n; k++) {
            phi[k] = spiky_core(A1, w1, A2, w2, a, w, form, x[k], &gk, NULL);
            dphi[k] = gk;
        }
    } else {
#pragma omp simd simdlen(8) private(gk)
        for (size_t k = 0; k < n; k++) phi[k] = spiky_core(A1, w1, A2, w2, a, w, form, x[k], &gk, NULL);
    }
}

void SGD_KERN(spiky_phi_batch)(const double *p, size_t n, const double *x, double *phi, double *dphi)
{
    if (!phi) {
        if (dphi) SGD_KERN(spiky_grad_batch)(p, n, x, dphi);
        return;
    }
    SPIKY_DISPATCH(phi_batch_q, p, n, x, phi, dphi);
}

static inline __attribute__((always_inline)) double phi_sum_q(const double *p, size_t n, const double *x,
                                                              const int form)
{
    SPIKY_UNPACK;
    double gk, v;
    SGD_SUM16(v, n, spiky_core(A1, w1, A2, w2, a, w, form, x[k_], &gk, NULL));
    return v;
}

double SGD_KERN(spiky_phi_sum)(const double *p, size_t n, const double *x)
{
    return SPIKY_DISPATCH(phi_sum_q, p, n, x);
}

