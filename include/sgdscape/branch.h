/* Section 5.3 of the paper: the loss surface is locally a "slope".
 *
 * Train a shared prefix of E0 epochs once (or take x_E0 from a train run),
 * then B SGD branches from that same point for E1 epochs at a constant lr.
 * The branches differ only in their shuffle and augmentation seed: branch i
 * trains with seed_i = sgd_branch_seed(seed, i), a Philox word pair of
 * (seed, SGD_RNG_BRANCH, stream i). Each branch is a `train` run directory
 * WORK/branches/bNNN holding x_t^(i) at every epoch start t = 0..E1-1
 * (x/x_EEEE.npy; x_0 is the branch point) and its final x_T^(i) (x.npy).
 * The branches start from the prefix's momentum buffer (the same SGD state
 * the prefix would have continued with) unless fresh_momentum is set.
 *
 * For every epoch t of every branch i and every final x_T^(j) it measures
 *   inner(i, t, j) = <-grad f(x_t^(i)), x_T^(j) - x_t^(i)>,
 * with f exactly as `sgdscape probe` takes it: the mean loss over K fixed
 * mini-batches of the training split (batches 0..K-1 of epoch 0 shuffled
 * with the seed, no augmentation, BN with batch statistics). Each gradient is
 * computed once per (i, t) and dotted with all B directions. It reports the
 * fraction of inner products that are not positive, with j = i and without
 * (the paper's 343,000 = 49 x 140 x 50), and the pairwise distances between
 * the finals. Results do not depend on the thread count. */
#ifndef SGDSCAPE_BRANCH_H
#define SGDSCAPE_BRANCH_H

/* every function here returns or sets an SGD_* code; sgd_errmsg() says why */
#include "sgdscape/error.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sgd_branch_config {
    const char *run;          /* branch from RUN/x/x_E0.npy of this train run (NULL: train the prefix) */
    /* without run: the network and its training; with run they come from
     * the run's manifest.json and these are ignored */
    const char *model;        /* network spec (required without run) */
    const char *data;         /* data set spec ("fashion-mnist") */
    size_t subset;            /* train on the first K training images (0: all) */
    size_t batch;             /* 128 */
    double momentum;          /* 0.9 */
    double weight_decay;      /* 1e-4 */
    int crop, flip;           /* -1: train's defaults (4 px and on for 3x32x32 inputs, else off) */
    int normalize;            /* 1: per-channel mean/std of the training split (as train) */
    /* the experiment */
    int shared_epochs;        /* E0 (10); >= 1 without run, >= 0 with */
    int branches;             /* B (50) */
    int epochs;               /* E1 (140) */
    double lr;                /* constant learning rate of the prefix and the branches (0.1) */
    int fresh_momentum;       /* 1: branches start with zero momentum; 0: with the prefix's */
    size_t batches;           /* K: probe-set batches of f (10); 0 = the whole training split */
    size_t sharpness_steps;   /* > 0: each final's top Hessian eigenvalue of f by Lanczos of at most
                               * this many steps (hessian.h; finals.csv); 0: not measured */
    int sharpness_precision;  /* of its Hessian-vector products (sgd_net_set_hvp_precision): 64
                               * (default, exact to rounding) or 32 (half the memory, ~2x faster) */
    uint64_t seed;            /* prefix init and order, branch seeds, probe set (1) */
    int threads;              /* for the manifest; the caller sets OpenMP */
    /* where prefix/, branches/ and rows/ go; what is there already from the
     * same configuration (config.txt) is continued, not redone */
    const char *work;
    /* called once every input is checked, before anything is trained (a
     * caller makes its output directory there, so bad input leaves none);
     * may set *work. Nonzero stops the run with that code. */
    int (*ready)(void *ctx, const char **work);
    void *ready_ctx;
    int (*stop)(void *ctx);   /* polled between epochs and rows: nonzero stops (SGD_EINVAL), resumable */
    void *stop_ctx;
    int argc; char **argv;    /* for the manifests */
} sgd_branch_config;

void sgd_branch_defaults(sgd_branch_config *c);

/* The shuffle/augmentation seed of branch i. */
uint64_t sgd_branch_seed(uint64_t seed, size_t i);

/* One row of branch.csv: branch i at its epoch t (x_t^(i), the start of
 * branch epoch t = global epoch E0 + t). */
typedef struct sgd_branch_row {
    int branch, epoch;
    double loss, grad_norm;   /* f(x_t^(i)), |grad f(x_t^(i))| */
    double inner_self;        /* towards its own final x_T^(i) */
    double inner_min, inner_mean, inner_max; /* over the B finals j */
    int nonpositive;          /* finals j with inner <= 0 (j = i included) */
    int nonpositive_others;   /* the same over j != i */
} sgd_branch_row;

typedef struct sgd_branch_result {
    size_t branches, epochs, p;
    sgd_branch_row *row;      /* B x E1, branch-major */
    double *inner;            /* B x E1 x B: inner(i, t, j) */
    double *dist;             /* B x B: |x_T^(i) - x_T^(j)| */
    double *final_loss;       /* B: f(x_T^(i)) */
    double *dist_start;       /* B: |x_T^(i) - x_0|, how far each branch went */
    double *sharpness;        /* B: top Hessian eigenvalue of f at x_T^(i) (NULL unless sharpness_steps) */
    double *sharpness_resid;  /* B: |H y - lambda y| of its Ritz pair */
    uint64_t *branch_seed;    /* B */
    /* the paper's claims as numbers (NaN when nothing to count) */
    size_t count, nonpositive;               /* all (i, t, j) */
    size_t count_others, nonpositive_others; /* j != i: the paper's 343,000 */
    double frac_nonpositive, frac_nonpositive_others;
    double inner_min;
    double dist_min, dist_mean, dist_max;    /* over pairs i < j */
    /* what was resolved, for the manifest */
    char model[256], data[1024], source[4400]; /* source: the train run x_E0 came from */
    int classes, normalize, crop, flip, momentum_from_prefix, buffers_from_prefix;
    size_t batch, batches, train_images;
    double momentum, weight_decay;
    size_t resumed_branches, resumed_rows;    /* found finished in work */
    size_t branch_epochs_trained;             /* trained by this call */
    double train_seconds, measure_seconds, seconds;
    char work[4200], rows_dir[4300];
} sgd_branch_result;

typedef void (*sgd_branch_progress_fn)(void *ctx, double done, double total);

/* Train (what work does not hold yet) and measure. */
int sgd_branch_run(const sgd_branch_config *c, sgd_branch_result *r, sgd_branch_progress_fn progress, void *ctx);
/* branch.csv, inner.npy, distances.csv, distances.npy, summary.json,
 * manifest.json, figures branch_hist and branch_heat (.gp, .dat, .png,
 * .svg) into dir (normally the work directory, which keeps prefix/ and
 * branches/); then removes the kept rows. */
int sgd_branch_write(const char *dir, const sgd_branch_config *c, const sgd_branch_result *r);
void sgd_branch_result_free(sgd_branch_result *r);

#ifdef __cplusplus
}
#endif
#endif
