/* The Hessian-vector executor and its layers (hvp_layers.h states the
 * conventions), compiled per kernel variant (src/core/isa.h): the element-
 * wise and BN loops run at the CPU's vector width. Written once
 * (hvp_layers_impl.h, hvp_exec.h), instantiated here for float64 and
 * float32; every variant gives the same bits (no contraction, fixed sum
 * orders). The heavy
 * products go to OpenBLAS dgemm or sgemm (single-threaded, one call per
 * sample or per fixed chunk of samples, so that every call and its rounding
 * is the same for any number of threads). R{.} is linear in v, and a
 * ReLU's mask is constant almost everywhere, so R of a masked quantity is
 * the mask times its R. */
#include "core/isa.h"
#include "nn/hvp_internal.h"
#include "sgdscape/error.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#define BN_EPS 1e-5   /* PyTorch's default, as layers_bn.c */

static size_t chunk_len(size_t n, size_t c) { return n - c * HV_CHUNK < HV_CHUNK ? n - c * HV_CHUNK : HV_CHUNK; }

#define HV_REAL double
#define HV_VIEW hv_view
#define HV_NAME(f) f##64
#define HV_GEMM nn_dgemm
#define HV_LANES_N 1
#define HV_DNNL 0
#include "nn/hvp_layers_decl.h"
#include "nn/hvp_layers_impl.h"
#include "nn/hvp_exec.h"

#define HV_REAL float
#define HV_VIEW hv_view32
#define HV_NAME(f) f##32
#define HV_GEMM nn_sgemm
#define HV_LANES_N 8
#define HV_DNNL 1
#include "nn/hvp_layers_decl.h"
#include "nn/hvp_layers_impl.h"
#include "nn/hvp_exec.h"

int SGD_KERN(hvp_run64)(sgd_net *net, const double *x, const float *buffers, int train, const float *input,
                        const int32_t *labels, size_t n, const double *v, double *hv, double *loss, double *g)
{
    return run64(net, x, buffers, train, input, labels, n, v, hv, loss, g);
}

int SGD_KERN(hvp_run32)(sgd_net *net, const float *x, const float *buffers, int train, const float *input,
                        const int32_t *labels, size_t n, const float *v, float *hv, double *loss, float *g)
{
    return run32(net, x, buffers, train, input, labels, n, v, hv, loss, g);
}
