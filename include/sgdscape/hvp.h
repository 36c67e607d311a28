/* Exact Hessian-vector products of a network's loss: Pearlmutter's
 * R-operator (forward-mode through the forward and the backward pass) over
 * the engine's op tape, for every layer the engine has (convolution, BN in
 * train and eval mode, ReLU, pooling, add, option-A shortcut, DenseNet
 * concatenation, linear, softmax cross-entropy).
 *
 * f is the function sgd_net_run and sgd_net_loss_grad compute: the mean
 * cross-entropy of a batch (of k loader batches, each with equal weight).
 * H v is exact up to rounding: no finite differences. The arithmetic is
 * float64 throughout by default (sgd_net_set_hvp_precision: float32, as
 * PyHessian's products, about twice as fast) and reduces over the batch in
 * a fixed order, so Hv has the same bits for any number of threads. The running BN buffers are read
 * in EVAL mode and never modified. Cost: about 3 gradients' arithmetic in
 * float64; memory: 8 times the float32 engine's activations, kept with the
 * network until sgd_net_free (docs/nn.md, "Hessian-vector products"). */
#ifndef SGDSCAPE_HVP_H
#define SGDSCAPE_HVP_H

#include <stddef.h>
#include <stdint.h>
#include "sgdscape/data.h"
#include "sgdscape/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The precision of the products that follow: 64 (float64, the default)
 * or 32 (float32 storage and products; sums, BN statistics and the loss
 * stay in double). v, hv, loss and grad are float64 in both. Returns
 * SGD_OK or SGD_EINVAL for any other value. */
int sgd_net_set_hvp_precision(sgd_net *net, int bits);

/* H(x) v of the mean loss of one batch (input: n samples, labels: n), BN in
 * `mode`. v and hv have p = sgd_net_nparams(net) entries. loss and grad
 * (p entries) may be NULL; they get f(x) and grad f(x) in float64 from the
 * same pass. Returns SGD_OK, SGD_EINVAL (bad argument or label), SGD_ENOMEM,
 * or SGD_EDIVERGED when the loss or a product is not finite. */
int sgd_net_hvp(sgd_net *net, const float *x, const float *buffers, int mode, const float *input,
                const int32_t *labels, size_t n, const double *v, double *hv, double *loss, double *grad);

/* The same over batches first..first+k-1 of the loader's epoch `epoch`
 * (k = 0: all), each batch's Hv with equal weight, as sgd_net_loss_grad
 * weighs losses and gradients. */
int sgd_net_loss_hvp(sgd_net *net, const float *x, const float *buffers, int mode, sgd_data_loader *L,
                     uint64_t epoch, size_t first, size_t k, const double *v, double *hv, double *loss);

#ifdef __cplusplus
}
#endif
#endif
