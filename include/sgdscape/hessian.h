/* Curvature at a point: the Hessian H of f at x seen through products v -> Hv.
 *
 *   eigenvalues  the top-k (largest algebraic) and bottom-k (most negative)
 *                eigenvalues and vectors by Lanczos with full
 *                reorthogonalisation; both ends come from the same Krylov
 *                space (the bottom of the Lanczos spectrum, no shift). A
 *                Ritz pair (theta, y) is converged when the Lanczos residual
 *                bound |beta_j s_j| <= tol * max|theta|; the reported
 *                residual is the true ||H y - theta y|| (one more product).
 *   trace        Hutchinson: tr H = E z^T H z for Rademacher z, N samples,
 *                with a Student-t interval (N - 1 degrees of freedom).
 *   density      stochastic Lanczos quadrature (SLQ): R runs of m Lanczos
 *                steps from Rademacher starts; each gives Gauss nodes
 *                theta_i and weights tau_i = s_{1i}^2 with sum 1; the density
 *                is (1/R) sum_r sum_i tau_i N(t; theta_i, sigma^2) on a grid.
 *
 * Everything works on an abstract symmetric operator (sgd_linop) in float64:
 * analytic landscapes (the exact Hessian, or central differences of the exact
 * gradient where none is known), networks (sgd_net_loss_hvp, hvp.h), or any
 * caller's callback. Random vectors are counter-based (rng.h, domain
 * SGD_RNG_HESSIAN) and every sum runs in a fixed order, so one seed gives the
 * same bits for any thread count. */
#ifndef SGDSCAPE_HESSIAN_H
#define SGDSCAPE_HESSIAN_H

/* every function here returns or sets an SGD_* code; sgd_errmsg() says why */
#include "sgdscape/error.h"
#include "sgdscape/landscape.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The random domain of every vector drawn here (rng.h leaves 100+ to users). */
#define SGD_RNG_HESSIAN 111u

/* A symmetric operator on R^n: hv = A v. Returns an SGD_* code. */
typedef struct sgd_linop {
    size_t n;
    int (*apply)(void *ctx, const double *v, double *hv);
    void *ctx;
} sgd_linop;

/* ---- building blocks ------------------------------------------------------ */

/* z[0..n) = +-1, bit i of the Philox blocks of counter
 * (seed, SGD_RNG_HESSIAN, stream, step). */
void sgd_rademacher_fill(uint64_t seed, uint64_t stream, uint64_t step, double *z, size_t n);

/* A Lanczos run: m <= n steps from start v0 with full reorthogonalisation
 * (classical Gram-Schmidt twice against every earlier vector). When the
 * Krylov space closes (beta ~ 0) before m steps, it goes on from a fresh
 * Rademacher vector orthogonal to all before (stream `stream`, step 1, 2, ...)
 * with beta = 0, so that repeated eigenvalues are all found. */
typedef struct sgd_lanczos {
    size_t n, m;     /* dimension, steps taken */
    double *alpha;   /* m diagonal of T */
    double *beta;    /* m: beta[j] couples steps j and j+1 (beta[m-1]: the last residual) */
    double *Q;       /* m x n orthonormal basis (row j = q_j) */
} sgd_lanczos;

/* Stop test, called after each step with the steps so far: nonzero stops. */
typedef int (*sgd_lanczos_stop_fn)(void *ctx, const sgd_lanczos *L);

int sgd_lanczos_run(const sgd_linop *A, const double *v0, size_t m, uint64_t seed, uint64_t stream,
                    sgd_lanczos_stop_fn stop, void *stop_ctx, sgd_lanczos *L);
void sgd_lanczos_free(sgd_lanczos *L);

/* Eigenvalues of T (ascending, m) and, if S != NULL, its eigenvectors
 * (m x m, column i for theta[i], LAPACK's dstev). */
int sgd_lanczos_ritz(const sgd_lanczos *L, double *theta, double *S);

/* ---- the experiment --------------------------------------------------------- */

typedef struct sgd_hessian_config {
    /* The operator, the first one given of: */
    const sgd_linop *op;       /* a caller's operator */
    const sgd_landscape *f;    /* a landscape at x (d entries) */
    const double *x;
    /* a network (hvp.h): model, weights (float32 .npy in state_dict order)
     * or run (a `train` run directory: its final x.npy and buffers.npy) */
    const char *model, *weights, *buffers, *run;
    const char *data;          /* training split (NULL: the run's, or fashion-mnist) */
    size_t batches;            /* K loader batches of epoch 0's shuffle (0: the whole split) */
    size_t batch;              /* batch size (0: the run's, or 128) */
    size_t subset;             /* the first K training images (0: the run's, or all) */
    int classes;               /* 0: the run's, or the data set's */
    int bn_eval;               /* 1: BN running statistics; 0: batch statistics */
    int precision;             /* of the products (sgd_net_set_hvp_precision): 64
                                * (float64, the default) or 32 (float32) */
    int normalize;             /* per-channel normalisation (1) */

    /* Landscapes: 1 forces central differences of the gradient even where
     * the landscape has an exact Hessian; fd_h is the relative step (NaN:
     * eps^(1/3)). */
    int fd;
    double fd_h;

    /* Eigenvalues. */
    size_t top, bottom;        /* k largest / k most negative (1, 0) */
    size_t lanczos_steps;      /* at most this many steps (0: min(n, max(100, 4(top+bottom)))) */
    double tol;                /* relative residual tolerance (1e-8) */
    int vectors;               /* keep the eigenvectors (written as .npy) */

    /* Trace (0 samples: not estimated). */
    size_t trace_samples;
    double confidence;         /* of the interval (0.95) */

    /* Spectral density (0 runs: not estimated). */
    size_t density_runs;
    size_t density_steps;      /* Lanczos steps per run (0: min(n, 80)) */
    double sigma;              /* Gaussian width (NaN: 1% of the node range) */
    size_t grid;               /* grid points (1001) */

    uint64_t seed;             /* random vectors; the data shuffle of a network (1) */

    /* Resume: with keep_dir set, each Hutchinson sample and SLQ run is kept
     * there as it finishes (under keep_dir/config.txt: a run with other
     * options is refused, naming the first that differs), and those found
     * there are not computed again; the eigenvalue Lanczos starts over (its
     * basis is n x steps). The results are the same bytes. stop (may be
     * NULL) is asked before each product: nonzero ends the run with
     * "interrupted", the kept parts staying. sgd_hessian_write removes
     * keep_dir. */
    const char *keep_dir;
    int (*stop)(void *ctx);
    void *stop_ctx;
    int threads;               /* for the manifest */
    int argc; char **argv;     /* for the manifest */
} sgd_hessian_config;

void sgd_hessian_defaults(sgd_hessian_config *c);

typedef struct sgd_hessian_result {
    size_t n;                  /* dimension (parameters of a network) */
    char source[64];           /* "operator", "landscape", "network" */
    char hvp[160];             /* how Hv is made, in words */
    char what[1200];           /* the landscape spec or the network and its weights */
    double fx;                 /* f(x) (NaN for a bare operator) */

    /* Eigenvalues: top[0] >= top[1] >= ..., bottom[0] <= bottom[1] <= ... */
    size_t ntop, nbottom, lanczos_steps;
    int converged;             /* every reported pair met tol */
    double *top, *top_resid, *bottom, *bottom_resid;
    double *top_vecs, *bottom_vecs; /* ntop x n, nbottom x n (NULL unless vectors) */

    /* Trace. */
    size_t trace_samples;
    double *trace_sample;      /* z_s^T H z_s */
    double trace, trace_se, trace_lo, trace_hi, confidence;

    /* Density. */
    size_t density_runs, density_steps;
    double *slq_nodes, *slq_weights; /* runs x steps, NaN past a run's own steps */
    double sigma;
    size_t grid;
    double *grid_t, *density;
    double density_mass;       /* trapezoid integral over the grid (~1) */
    double density_mean;       /* sum of tau_i theta_i over runs / R (estimates tr H / n) */

    size_t hvps;               /* products the results rest on (kept parts' included) */
    size_t resumed;            /* parts found kept (keep_dir) */
    char keep[4200];           /* keep_dir, removed by sgd_hessian_write ("" none) */
    double seconds;
} sgd_hessian_result;

typedef void (*sgd_hessian_progress_fn)(void *ctx, double done, double total);

/* Builds the operator, checks every input, and computes what cfg asks for;
 * progress counts Hessian-vector products. */
int sgd_hessian_run(const sgd_hessian_config *c, sgd_hessian_result *r, sgd_hessian_progress_fn progress, void *ctx);
/* manifest.json, summary.json, eigenvalues.csv, eigvecs_top.npy and
 * eigvecs_bottom.npy (with vectors), trace.csv, density.csv, density.npy
 * (grid x 2), slq_nodes.csv and density.{gp,dat,png,svg} into dir. */
int sgd_hessian_write(const char *dir, const sgd_hessian_config *c, const sgd_hessian_result *r);
void sgd_hessian_result_free(sgd_hessian_result *r);
/* The lines `sgdscape hessian` prints: the values, and where they went (out). */
void sgd_hessian_print(FILE *o, const sgd_hessian_result *r, const char *out);

/* Hutchinson and SLQ on their own (sgd_hessian_run calls them). */
int sgd_hutchinson(const sgd_linop *A, size_t samples, double confidence, uint64_t seed, double *sample, double *mean,
                   double *se, double *lo, double *hi);
/* nodes and weights: runs x steps, NaN-padded; steps per run at most `steps`. */
int sgd_slq(const sgd_linop *A, size_t runs, size_t steps, uint64_t seed, double *nodes, double *weights);
/* The smoothed density on `grid` points over [min node - 5 sigma, max + 5 sigma];
 * sigma NaN: 1% of the node range (or of max|node|, or 1). */
int sgd_slq_density(const double *nodes, const double *weights, size_t runs, size_t steps, double *sigma,
                    size_t grid, double *t, double *rho);

#ifdef __cplusplus
}
#endif
#endif
