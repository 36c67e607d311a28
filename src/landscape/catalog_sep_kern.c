/* The batched kernels of the catalog's separable entries (the cores are in
 * catalog_sep.h), compiled once per kernel variant (src/core/isa.h). The
 * loops read like the math and vectorise across points (gradients) or
 * coordinates (values); every sum is in a fixed order (SGD_SUM16), so the
 * variants give the same bits. */
#include "landscape/catalog_sep.h"
#include "core/isa.h"
#include "core/rng_internal.h"

#define SEP_BATCH_KERNELS(NAME)                                                             \
    static inline double NAME##_val(const double *b, double x) { return NAME##_core(b, x, NULL, NULL); } \
    static inline double NAME##_grad(const double *b, double x)                             \
    {                                                                                       \
        double d1_;                                                                         \
        NAME##_core(b, x, &d1_, NULL);                                                      \
        return d1_;                                                                         \
    }                                                                                       \
    static void NAME##_grad_batch(const sgd_landscape *f, size_t n, const double *x, double *g) \
    {                                                                                       \
        const double *b = ((const sep_params *)f->params)->buf;                             \
        size_t m = n * f->d;                                                                \
        _Pragma("omp simd") for (size_t e = 0; e < m; e++) g[e] = NAME##_grad(b, x[e]);     \
    }                                                                                       \
    static void NAME##_phi_batch(const sgd_landscape *f, size_t n, const double *x, double *phi, \
                                 double *dphi)                                              \
    {                                                                                       \
        const double *b = ((const sep_params *)f->params)->buf;                             \
        if (phi) _Pragma("omp simd") for (size_t k = 0; k < n; k++) phi[k] = NAME##_val(b, x[k]); \
        if (dphi) _Pragma("omp simd") for (size_t k = 0; k < n; k++) dphi[k] = NAME##_grad(b, x[k]); \
    }                                                                                       \
    static double NAME##_phi_sum(const sgd_landscape *f, size_t n, const double *x)         \
    {                                                                                       \
        const double *b = ((const sep_params *)f->params)->buf;                             \
        double s_;                                                                          \
        SGD_SUM16(s_, n, NAME##_val(b, x[k_]));                                             \
        return s_;                                                                          \
    }                                                                                       \
    static double NAME##_phi_cube_sum(const sgd_landscape *f, size_t n, const double *y, double eta, \
                                      double r2, const uint32_t *w)                         \
    {                                                                                       \
        const double *b = ((const sep_params *)f->params)->buf;                             \
        double s_;                                                                          \
        SGD_SUM16(s_, n, NAME##_val(b, y[k_] - eta * sgd_sym32_scaled(w[k_], r2)));         \
        return s_;                                                                          \
    }                                                                                       \
    static void NAME##_phi_cube_acc(const sgd_landscape *f, size_t n, double y, double eta, double r2, \
                                    const uint32_t *w, double *acc)                         \
    {                                                                                       \
        const double *b = ((const sep_params *)f->params)->buf;                             \
        _Pragma("omp simd") for (size_t k = 0; k < n; k++) acc[k] += NAME##_val(b, y - eta * sgd_sym32_scaled(w[k], r2)); \
    }                                                                                       \
    static const struct sgd_landscape_fast NAME##_fast = {NAME##_phi_batch, NAME##_phi_sum, \
                                                          NAME##_phi_cube_sum, NAME##_phi_cube_acc};

SEP_BATCH_KERNELS(quadratic)
SEP_BATCH_KERNELS(rast)
SEP_BATCH_KERNELS(st)
SEP_BATCH_KERNELS(dw)

static const sep_kernels sets[SEP_NKERN] = {
    [SEP_K_QUADRATIC] = {quadratic_grad_batch, &quadratic_fast},
    [SEP_K_RAST] = {rast_grad_batch, &rast_fast},
    [SEP_K_ST] = {st_grad_batch, &st_fast},
    [SEP_K_DW] = {dw_grad_batch, &dw_fast},
};

const struct sep_kernels *SGD_KERN(catalog_sep_kernels)(int id) { return &sets[id]; }
