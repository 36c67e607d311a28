/* The Hessian-vector executor's storage (hvp.c builds it, hvp_kern.c's
 * per-variant products use it). Private to the network module. */
#ifndef SGD_NN_HVP_INTERNAL_H
#define SGD_NN_HVP_INTERNAL_H

#include "nn/hvp_layers.h"
#include "nn/nn_internal.h"

#include <stddef.h>

/* The four arrays of every block: a, R{a}, g, R{g}. */
enum { A_VAL, A_RVAL, A_GRAD, A_RGRAD, A_KINDS };

struct nn_hvp_state {
    int bits;                 /* 64 or 32: the element of the arrays below (esz bytes) */
    size_t esz;
    size_t nblk, cap;         /* blocks; batch capacity of their arrays */
    size_t *per;              /* per block: elements per sample */
    void **arr;               /* per block and kind: A_KINDS * nblk arrays */
    int *tblk;                /* per tensor: its block here */
    size_t *toff;             /* per tensor: offset in the sample */
    size_t *soff;             /* per op: BN statistics offset in stat */
    double *stat;
    void *scratch;            /* nthr * sl: convolution columns */
    size_t sl;
    int nthr;
    void *wpart;              /* weight-gradient chunk partials */
    size_t wpart_len;
    void *xw, *vw, *hw, *gw;  /* p elements each: the weights x (float64 only), v
                               * and H v (float32 only), gradient scratch */
};

#endif
