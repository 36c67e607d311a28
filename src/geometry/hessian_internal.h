/* Inside the Hessian instruments (hessian.h): the counter streams of the
 * random vectors and the operators behind sgd_hessian_run. */
#ifndef SGD_HESSIAN_INTERNAL_H
#define SGD_HESSIAN_INTERNAL_H

#include "sgdscape/hessian.h"

#include <stddef.h>
#include <stdint.h>

/* Streams of domain SGD_RNG_HESSIAN: the eigenvalue Lanczos start, Hutchinson
 * sample s, SLQ run r (a Lanczos restart in stream S draws step 1, 2, ...). */
#define HESS_STREAM_EIGEN 0ull
#define HESS_STREAM_TRACE (1ull << 62)
#define HESS_STREAM_SLQ (2ull << 62)

/* The operator of a config and what it owns. */
typedef struct hess_op {
    sgd_linop op;
    double fx;                 /* f(x) (NaN if unknown) */
    const double *loss;        /* or the loss of the latest product (networks) */
    char source[64], hvp[160], what[1200];
    void *state;
    void (*destroy)(void *state);
} hess_op;

/* The largest d whose d x d Hessian is formed (128 MiB); beyond, central
 * differences of the gradient. */
#define HESS_DENSE_MAX 4096

/* A landscape at x: its exact Hessian (formed once) when it has one and
 * d <= HESS_DENSE_MAX and !fd, else central differences of the gradient
 * with relative step h (NaN: eps^(1/3)). */
int hess_op_landscape(const sgd_landscape *f, const double *x, int fd, double h, hess_op *o);
/* A network at given weights (hvp.h); hessian_net.c. */
int hess_op_network(const sgd_hessian_config *c, hess_op *o);
void hess_op_free(hess_op *o);

#endif
