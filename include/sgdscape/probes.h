/* Section 5 of the paper on a stored SGD trajectory: Figures 5a, 5b, 5c.
 *
 * A trajectory is the weights x_t at the start of every epoch (float32, the
 * flat vector of nn.h) and a target x_T (by default the run's final x). For
 * every probed epoch t of every trial:
 *   5.1  f(x_t), grad f(x_t) on the probe set, inner = <-grad f(x_t), x_T - x_t>,
 *        cos (inner normalised), dist = |x_T - x_t|;
 *   5.2  N points w uniform in the ball of radius r around x_t and
 *        <-grad f(w), x_T - x_t> at each: mean, min, max, std, and one-sided
 *        lower confidence bounds on the expectation (Hoeffding with the
 *        observed range, as the paper's Lemma 6 is used; and the CLT);
 *   5c   the norms of M mini-batch gradients at x_t and lr_t * max |g|.
 *
 * The probe set is batches 0..K-1 of epoch 0 of the training split shuffled
 * with the probe seed, at the run's batch size, no augmentation, BN with
 * batch statistics: f is exactly `sgdscape grad --seed S --epoch 0
 * --batches K`. The same batches serve every point. Results do not depend on
 * the thread count (the network engine's reductions are fixed-order and the
 * points are evaluated one after the other). */
#ifndef SGDSCAPE_PROBES_H
#define SGDSCAPE_PROBES_H

/* every function here returns or sets an SGD_* code; sgd_errmsg() says why */
#include "sgdscape/error.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sgd_probe_config {
    const char *const *runs;  /* `train` run directories, one per trial ... */
    size_t nruns;
    const char *traj;         /* ... or one directory of x_EEEE.npy files */
    const char *target;       /* x_T (NULL: RUN/x.npy; required with traj) */
    const char *model;        /* override the run's (required with traj) */
    const char *data;         /* override the run's (required with traj) */
    int classes;              /* 0: the run's, else the data set's */
    size_t subset;            /* probe on the first K training images (0: the run's split) */
    int normalize;            /* -1: as the run (traj: on); 0: off; 1: train-split mean/std */
    size_t batch;             /* 0: the run's batch size (traj: 128) */
    size_t batches;           /* K: probe-set batches (10); 0 = the whole split */
    size_t points;            /* N: neighbourhood points per epoch (100; 0: skip 5.2) */
    double radius;            /* r of the ball (0.5) */
    double confidence;        /* of the lower bounds (0.95) */
    size_t sg_batches;        /* M: mini-batch gradients per epoch (10; 0: skip 5c) */
    const char *epochs;       /* "A:B[:STEP]" (inclusive), NULL: every stored epoch */
    double lr;                /* traj: base learning rate for lr_t (0: unknown, NaN columns) */
    const char *schedule;     /* traj: schedule of lr (nn.h); "step" spans the stored epochs */
    uint64_t seed;            /* probe set, ball points, mini-batches (1) */
    int threads;              /* for the manifest */
    const char *rows_dir;     /* keep finished rows here and reuse them (resume); NULL: none */
    /* called once every input is checked, before anything is computed (a
     * caller makes its output directory there, so bad input leaves none);
     * may set *rows_dir in place of rows_dir. Nonzero stops the run with
     * that code. */
    int (*ready)(void *ctx, const char **rows_dir);
    void *ready_ctx;
    int (*stop)(void *ctx);   /* polled between rows: nonzero stops the run (SGD_EINVAL) */
    void *stop_ctx;
    int argc; char **argv;    /* for the manifest */
} sgd_probe_config;

void sgd_probe_defaults(sgd_probe_config *c);

/* One row of probe.csv (NaN where a part was skipped or lr_t is unknown). */
typedef struct sgd_probe_row {
    int trial, epoch;
    double lr, loss, grad_norm, dist, inner, cos;
    double nb_mean, nb_min, nb_max, nb_std, nb_hoeffding_lower, nb_clt_lower;
    double sg_mean, sg_min, sg_max, step_bound;
} sgd_probe_row;

typedef struct sgd_probe_result {
    size_t trials, nepochs, points, p;
    int *epoch;               /* the probed epochs */
    sgd_probe_row *row;       /* trials x nepochs, trial-major */
    double *neighbors;        /* trials x nepochs x points */
    /* the paper's claims as numbers (NaN when nothing to count) */
    double frac_min_inner_pos_5;  /* epochs t >= 5 whose min over trials of inner > 0 */
    double frac_nb_min_pos;       /* epochs whose min over trials and points > 0 */
    double frac_nb_hoeffding_pos; /* epochs whose smallest Hoeffding bound > 0 */
    double max_step_bound;
    /* what was resolved from the runs and flags, for the manifest */
    char model[256], data[1024];
    int classes, normalize;
    size_t batch, batches, probe_images;
    size_t resumed_rows;      /* rows taken from rows_dir */
    char rows_dir[4400];      /* where the rows were kept ("" if nowhere) */
    double seconds;
} sgd_probe_result;

typedef void (*sgd_probe_progress_fn)(void *ctx, double done, double total);

/* Check every input (manifests, each x_t and x_T file: present, float32,
 * p values, finite; the data set) without computing anything, so that a
 * caller can refuse bad input before creating an output directory. */
int sgd_probe_check(const sgd_probe_config *c);
/* Probe (checks first). With c->rows_dir, each finished (trial, epoch) is
 * saved there and rows already there from the same configuration are
 * reused: a resumed run gives the same bits. */
int sgd_probe_run(const sgd_probe_config *c, sgd_probe_result *r, sgd_probe_progress_fn progress, void *ctx);
/* probe.csv, neighbors.npy, summary.json, manifest.json, fig5{a,b,c}.{gp,dat,png,svg}
 * into dir (an open run directory's path); then removes the kept rows. */
int sgd_probe_write(const char *dir, const sgd_probe_config *c, const sgd_probe_result *r);
void sgd_probe_result_free(sgd_probe_result *r);

/* The ball sampler: u (p values) = z/|z| * radius * U^(1/p), z standard
 * normal, U uniform, from the Philox counter (SGD_RNG_PROBE, stream
 * trial * 2^32 + point, step epoch): uniform in the ball of R^p. */
void sgd_probe_ball_offset(uint64_t seed, size_t trial, int epoch, size_t point, size_t p, double radius,
                           double *u);

/* Summary of n samples v and one-sided lower bounds on their expectation at
 * `confidence`: Hoeffding with [a, b] = [min, max] observed,
 *   mean - (max - min) sqrt(ln(1/(1 - confidence)) / (2n)),
 * and CLT, mean - z_confidence * std / sqrt(n) (std with n - 1). */
typedef struct sgd_probe_stats {
    double mean, min, max, std, hoeffding_lower, clt_lower;
} sgd_probe_stats;
int sgd_probe_stats_of(const double *v, size_t n, double confidence, sgd_probe_stats *s);

/* For a reader (probe_report.c): the summary `sgdscape probe` prints, to o. */
void sgd_probe_print(FILE *o, const sgd_probe_config *c, const sgd_probe_result *r);
/* DIR.partial of a killed or interrupted probe (out = DIR), reopened as it
 * is for --resume: its rows are what sgd_probe_run continues. SGD_EIO if it
 * holds no probe. */
struct sgd_rundir;
int sgd_probe_reopen(struct sgd_rundir *rd, const char *out);

#ifdef __cplusplus
}
#endif
#endif
