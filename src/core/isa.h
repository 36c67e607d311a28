/* The run-time kernel table (include/sgdscape/isa.h says what and why).
 * Private to the library.
 *
 * A kernel source (listed in CMakeLists.txt's SGD_KERN_SOURCES, not in the
 * glob) is compiled once per variant with SGD_ISA_TAG set to baseline, avx2
 * or avx512 and that variant's -m flags; it names its entry points
 * SGD_KERN(name), which pastes the tag on: spiky_grad_batch_avx2. The list
 * below declares every entry point of every variant and the table's fields,
 * so a mismatch between a kernel and its caller does not compile. The
 * baseline compile also has SGD_ISA_PRIMARY: what a kernel file holds once
 * (the unsuffixed entry points that call through sgd_kern(), scratch). */
#ifndef SGD_CORE_ISA_H
#define SGD_CORE_ISA_H

#include "sgdscape/isa.h"

#include <stddef.h>
#include <stdint.h>

struct nn_view;
struct sgd_net;
struct sep_kernels;
struct mc_job;
struct mc_acc;
struct mc_chunk;
struct sep_tile;
struct sgd_landscape;

/* X(return type, name, parameter list) for each dispatched kernel. */
#define SGD_KERNEL_LIST(X)                                                                                   \
    /* src/landscape/spiky_kern.c: the Figure-3 landscape over n points */                                   \
    X(void, spiky_grad_batch, (const double *p, size_t n, const double *x, double *g))                       \
    X(void, spiky_phi_batch, (const double *p, size_t n, const double *x, double *phi, double *dphi))        \
    X(double, spiky_phi_sum, (const double *p, size_t n, const double *x))                                   \
    /* src/landscape/catalog_sep_kern.c: the separable entries' batched kernels, bound at creation */        \
    X(const struct sep_kernels *, catalog_sep_kernels, (int id))                                             \
    /* src/landscape/formula_kern.c: the interpreter's block sweeps; sin/cos of a block of lanes */          \
    X(void, formula_grad_batch, (const struct sgd_landscape *f, size_t n, const double *x, double *grad))    \
    X(void, formula_sincos_lanes, (int n, const double *a, double *s, double *c))                            \
    /* src/optim/trials_kern.c: uniform noise by Philox (1-D; the cube in d >= 2), and the step */           \
    X(void, trials_noise_1d, (uint64_t seed, uint64_t trial0, uint64_t quad, double r, size_t m, double *om, \
                              double *spare))                                                                \
    X(void, trials_noise_cube, (uint64_t seed, uint64_t trial0, uint64_t T, double r, size_t m, size_t d,    \
                                double *om))                                                                 \
    X(int, trials_step_flat, (size_t m, double eta, double r, double *x, const double *g, const double *s,   \
                              const int *active, int all_active))                                            \
    /* src/smooth/smooth_cube.c: Monte Carlo smoothing under cube noise */                                    \
    X(void, smooth_cube_x_block, (double r, double eta, const double *y, size_t d, uint64_t seed,            \
                                  uint64_t stream, uint64_t step0, size_t m, uint32_t *words, double *x))    \
    X(size_t, smooth_sep_cols_chunk, (const struct mc_job *J, size_t a, size_t b, struct sep_tile *T,        \
                                      struct mc_chunk *c))                                                   \
    X(size_t, smooth_sep_rows_chunk, (const struct mc_job *J, size_t a, size_t b, struct sep_tile *T,        \
                                      struct mc_chunk *c))                                                   \
    X(int, smooth_mc_run_sep_big, (const struct mc_job *J, struct mc_acc *res, size_t *bad))                 \
    /* src/nn/direct_kern.c: small-channel convolutions */                                                   \
    X(void, nn_direct_conv_fwd, (const struct nn_view *x, const float *w, int k, int stride, int pad,        \
                                 struct nn_view *y, size_t n, float **scratch))                              \
    X(void, nn_direct_conv_bwd, (const struct nn_view *x, const float *w, int k, int stride, int pad,        \
                                 const struct nn_view *dy, struct nn_view *dx, float *dw, size_t n,           \
                                 float **scratch, float *wpart))                                             \
    /* src/nn/hvp_kern.c: one Hessian-vector product on a batch, float64 and float32 (hvp.c) */               \
    X(int, hvp_run64, (struct sgd_net *net, const double *x, const float *buffers, int train,                \
                       const float *input, const int32_t *labels, size_t n, const double *v, double *hv,      \
                       double *loss, double *g))                                                              \
    X(int, hvp_run32, (struct sgd_net *net, const float *x, const float *buffers, int train,                 \
                       const float *input, const int32_t *labels, size_t n, const float *v, float *hv,        \
                       double *loss, float *g))

#define SGD_KERN_DECL_(ret, name, args) \
    ret name##_baseline args;           \
    ret name##_avx2 args;               \
    ret name##_avx512 args;
SGD_KERNEL_LIST(SGD_KERN_DECL_)

#define SGD_KERN_FIELD_(ret, name, args) ret(*name) args;
typedef struct sgd_kernels {
    SGD_KERNEL_LIST(SGD_KERN_FIELD_)
} sgd_kernels;

/* The table of the variant in use (chosen on first call, sgd_isa_init). */
const sgd_kernels *sgd_kern(void);

#ifdef SGD_ISA_TAG
#define SGD_KERN_PASTE_(name, tag) name##_##tag
#define SGD_KERN_EXPAND_(name, tag) SGD_KERN_PASTE_(name, tag)
#define SGD_KERN(name) SGD_KERN_EXPAND_(name, SGD_ISA_TAG)
#endif

#endif
