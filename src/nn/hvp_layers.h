/* Float64 layer kernels of the Hessian-vector executor (hvp.c): for each
 * layer its forward, backward, R-forward and R-backward side by side
 * (hvp_layers.c). R{.} is Pearlmutter's operator, the directional
 * derivative d/dt (.)(x + t v) at t = 0: R-forward carries R{a} for every
 * activation a, R-backward R{g} for every activation gradient g, and R of
 * the parameter gradient is H v.
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

/* A batch of one activation tensor in float64: sample i at d + i ns. */
typedef struct hv_view {
    double *d;
    size_t ns;
    int c, h, w;
} hv_view;

static inline double *hv_smp(const hv_view *v, size_t i) { return v->d + i * v->ns; }

#define HV_CHUNK 4

/* Per-thread scratch of a convolution (doubles) and the weight-gradient
 * partials of conv and linear (doubles, dW and R{dW} of every chunk). */
size_t hv_conv_scratch(int cin, int k, int oh, int ow);
size_t hv_wpart(size_t n, size_t wsize);

/* y = conv(x, w) (k x k, stride, pad, no bias); ry = conv(rx, w) + conv(x, rw). */
void hv_conv_fwd(const hv_view *x, const hv_view *rx, const double *w, const double *rw, int k,
                 int stride, int pad, hv_view *y, hv_view *ry, size_t n, double *scratch, size_t sl);
/* dx += conv^T(dy, w), dw += dy * x; rdx += conv^T(rdy, w) + conv^T(dy, rw),
 * rdw += rdy * x + dy * rx. */
void hv_conv_bwd(const hv_view *x, const hv_view *rx, const double *w, const double *rw, int k,
                 int stride, int pad, const hv_view *dy, const hv_view *rdy, hv_view *dx, hv_view *rdx,
                 double *dw, double *rdw, size_t n, double *scratch, size_t sl, double *wpart);

/* Batch norm (+ fused ReLU when relu). stat: 4 C doubles (mean, 1/std, and
 * for R: mean(rx), mean(xhat rx) in train mode, 0 in eval), written by
 * forward, read by backward. train = 0: mean and variance from rm, rv. */
void hv_bn_fwd(const hv_view *x, const hv_view *rx, const double *g, const double *b, const double *rg,
               const double *rb, int relu, int train, const float *rm, const float *rv, double *stat,
               hv_view *y, hv_view *ry, size_t n);
void hv_bn_bwd(const hv_view *x, const hv_view *rx, const double *g, const double *rg, int relu, int train,
               const double *stat, const hv_view *y, const hv_view *dy, const hv_view *rdy, hv_view *dx,
               hv_view *rdx, double *dg, double *db, double *rdg, double *rdb, size_t n);

void hv_relu_fwd(const hv_view *x, const hv_view *rx, hv_view *y, hv_view *ry, size_t n);
void hv_relu_bwd(const hv_view *y, const hv_view *dy, const hv_view *rdy, hv_view *dx, hv_view *rdx, size_t n);
/* y = relu?(a + b) */
void hv_add_fwd(const hv_view *a, const hv_view *b, const hv_view *ra, const hv_view *rb, int relu,
                hv_view *y, hv_view *ry, size_t n);
void hv_add_bwd(const hv_view *y, const hv_view *dy, const hv_view *rdy, int relu, hv_view *da, hv_view *db,
                hv_view *rda, hv_view *rdb, size_t n);

/* Linear maps without parameters: R-forward is the same map of R{x},
 * R-backward the same adjoint of R{dy} (the executor calls them twice). */
void hv_avgpool_fwd(const hv_view *x, hv_view *y, size_t n);
void hv_avgpool_bwd(const hv_view *dy, hv_view *dx, size_t n);
void hv_gap_fwd(const hv_view *x, hv_view *y, size_t n);
void hv_gap_bwd(const hv_view *dy, hv_view *dx, size_t n);
void hv_padshort_fwd(const hv_view *x, int stride, int pad, hv_view *y, size_t n);
void hv_padshort_bwd(const hv_view *dy, int stride, int pad, hv_view *dx, size_t n);

/* y = x w^T + b (w: out x in, x flattened); ry = rx w^T + x rw^T + rb. */
void hv_linear_fwd(const hv_view *x, const hv_view *rx, const double *w, const double *b, const double *rw,
                   const double *rb, hv_view *y, hv_view *ry, size_t n);
void hv_linear_bwd(const hv_view *x, const hv_view *rx, const double *w, const double *rw, const hv_view *dy,
                   const hv_view *rdy, hv_view *dx, hv_view *rdx, double *dw, double *db, double *rdw,
                   double *rdb, size_t n, double *wpart);

/* Mean softmax cross-entropy of the logits z (n x classes); dz = its
 * gradient, rdz = R{dz} from rz (both stored). Returns the loss. */
double hv_softmax_ce(const hv_view *z, const hv_view *rz, const int32_t *labels, size_t n, int classes,
                     hv_view *dz, hv_view *rdz);

#endif
