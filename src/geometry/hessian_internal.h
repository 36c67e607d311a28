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

/* One Hutchinson sample s: *q = z^T A z (z: 2n scratch); and the mean, its
 * standard error and the Student-t interval of samples. */
int hess_trace_sample(const sgd_linop *A, uint64_t seed, size_t s, double *z, double *q);
int hess_trace_stats(const double *sample, size_t samples, double confidence, double *mean, double *se, double *lo,
                     double *hi);
/* SLQ run r: `steps` nodes and weights (NaN past the run's own steps); z: n,
 * S: steps x steps scratch. */
int hess_slq_run(const sgd_linop *A, size_t steps, uint64_t seed, size_t r, double *z, double *S, double *nodes,
                 double *weights);

/* The parts of a run kept for a resume (sgd_hessian_config.keep_dir):
 * KEEP/trace_SSSSSS.bin (z^T H z, f, products) and KEEP/slq_RRRRRR.bin
 * (nodes, weights, f, products), rank 0 alone writing. */
typedef struct hess_keep {
    const char *dir;           /* NULL: nothing kept */
    size_t resumed;            /* parts found kept */
    double fx;                 /* f(x) as a kept part saw it (NaN: none) */
} hess_keep;
/* Claim dir for c (its config.txt: every option that shapes a part). */
int hess_keep_open(hess_keep *k, const sgd_hessian_config *c, const hess_op *o);
/* 1 when part KIND_I of nv values was kept: v, and *products the products it took. */
int hess_keep_load(hess_keep *k, const char *kind, size_t i, double *v, size_t nv, size_t *products);
int hess_keep_save(const hess_keep *k, const char *kind, size_t i, const double *v, size_t nv, double fx,
                   size_t products);

#endif
