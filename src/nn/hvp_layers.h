/* Layer kernels of the Hessian-vector executor (hvp.c): for each layer its
 * forward, backward, R-forward and R-backward side by side, written once
 * (hvp_layers_decl.h says what each computes, hvp_layers_impl.h has the
 * code) and compiled per precision and kernel variant (hvp_kern.c). R{.} is Pearlmutter's operator, the
 * directional derivative d/dt (.)(x + t v) at t = 0: R-forward carries R{a}
 * for every activation a, R-backward R{g} for every activation gradient g,
 * and R of the parameter gradient is H v.
 *
 * Two precisions of the same code: float64 (hv_x64, on hv_view, OpenBLAS
 * dgemm), the exact default, and float32 (hv_x32, on hv_view32, sgemm),
 * PyHessian's precision at about half the memory traffic. Both reduce in
 * double (BN sums, chunk sums, the loss); only the stored arrays and the
 * products take the element type.
 *
 * Conventions: an R argument NULL means the pass without R (gradient only);
 * rx NULL for a convolution or linear input means R{x} = 0 (the network's
 * input). Backward kernels add (+=) into input and parameter gradients; dx
 * NULL: no input gradient (the network's input). The batch is split into
 * fixed chunks of HV_CHUNK samples for weight-gradient partials, which are
 * summed in chunk order, and per-channel BN sums run over the samples in
 * order on one thread: the bits do not depend on the thread count. */
#ifndef SGD_NN_HVP_LAYERS_H
#define SGD_NN_HVP_LAYERS_H

#include <stddef.h>
#include <stdint.h>

/* A batch of one activation tensor: sample i at d + i ns. */
typedef struct hv_view {
    double *d;
    size_t ns;
    int c, h, w;
} hv_view;
typedef struct hv_view32 {
    float *d;
    size_t ns;
    int c, h, w;
} hv_view32;

static inline double *hv_smp64(const hv_view *v, size_t i) { return v->d + i * v->ns; }
static inline float *hv_smp32(const hv_view32 *v, size_t i) { return v->d + i * v->ns; }

#define HV_CHUNK 4

/* Per-thread scratch of a convolution and the weight-gradient partials of
 * conv and linear (dW and R{dW} of every chunk), in elements of either
 * precision. */
static inline size_t hv_nchunks(size_t n) { return (n + HV_CHUNK - 1) / HV_CHUNK; }
static inline size_t hv_conv_scratch(int cin, int k, int oh, int ow) { return 3 * (size_t)cin * k * k * oh * ow; }
static inline size_t hv_wpart(size_t n, size_t wsize) { return 2 * hv_nchunks(n) * wsize; }


#endif
