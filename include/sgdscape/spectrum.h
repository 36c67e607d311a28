/* Section 5.4 of the paper, Figure 6: the spectrum of local minima.
 *
 * A base run trains at a large step (lr 0.1, constant) for E epochs (the
 * paper: 300), keeping x at every epoch start; or an existing `train` run is
 * reused. From each start epoch s, SGD continues at a small step (lr_fine
 * 0.01) for F epochs (the paper: 150) and finds a local minimum x_min(s).
 * For each minimum:
 *   train and validation loss and accuracy (Fig 6a and 6b of the paper show
 *   the losses on CIFAR-10 and CIFAR-100; here 6a the losses, 6b the
 *   accuracies of one data set),
 *   |x_min - x_0| (x_0 the base run's initialisation; Fig 6c) and
 *   |x_min - x_s| (the start point),
 *   the one-point convexity of the fine-tune towards its own end: the
 *   fraction of its epochs t with <-grad f(x_t), x_min - x_t> > 0, measured
 *   by sgd_probe_run (probes.h) on the fine-tune's run directory.
 *
 * Every run is a `train` run directory: WORK/base (unless reused) and
 * WORK/fine/sSSSS for start s. A fine-tune starts from x_s (the base's
 * x/x_SSSS.npy, or x.npy for s = E) with zero momentum and fresh BN buffers
 * (running mean 0, variance 1), because the base run keeps neither per
 * epoch (only in its latest checkpoint). Training uses batch statistics, so
 * the buffers do not change the trajectory; they serve only evaluation, and
 * after n steps of running averages (momentum 0.1) the fresh values weigh
 * 0.9^n (Fashion-MNIST at batch 128: n = 469 in the first epoch). Zero
 * momentum restarts the optimiser, as a new run at lr_fine.
 * Every fine-tune uses the same seed (shuffle and augmentation): the minima
 * differ only by where they start.
 *
 * Resume: whatever is in WORK is continued. A finished run (its
 * summary.json present) is reused, a killed one (DIR.partial with a
 * checkpoint) resumes bit-identically, anything else starts afresh.
 * WORK/config.txt names the configuration; another one is refused. Results
 * do not depend on the thread count. */
#ifndef SGDSCAPE_SPECTRUM_H
#define SGDSCAPE_SPECTRUM_H

/* every function here returns or sets an SGD_* code; sgd_errmsg() says why */
#include "sgdscape/error.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sgd_spectrum_config {
    const char *run;          /* reuse this `train` run as the base (NULL: train one) */
    /* The base run's settings. With `run` they come from its manifest and
     * a value given here that differs is an error; the "unset" value of
     * each is in brackets, the default without `run` after it. */
    const char *model;        /* [NULL] required */
    const char *data;         /* [NULL] "fashion-mnist" */
    int epochs;               /* E [0] 300 */
    double lr;                /* constant base step [0] 0.1 */
    size_t batch;             /* [0] 128 */
    double momentum;          /* [NaN] 0.9 */
    double weight_decay;      /* [NaN] 1e-4 */
    int crop, flip;           /* [-1] train's (4 and on for 3x32x32, else 0 and off) */
    int normalize;            /* [-1] 1: the training split's mean/std */
    /* The split, as `train --val V --subset K --val-subset K` (with `run`
     * the same as its own: its image counts must match). */
    size_t val, subset, val_subset;
    /* The fine-tunes. */
    const char *starts;       /* "0,10,20" (increasing) or "every:K" (0, K, 2K, ... <= E); default every:10 */
    double lr_fine;           /* constant (0.01) */
    int epochs_fine;          /* F (150) */
    size_t probe_batches;     /* K of the one-point probe (probes.h; 10, 0 = the whole split) */
    size_t sharpness_steps;   /* > 0: each minimum's top Hessian eigenvalue on the probe's f, by
                               * Lanczos of at most this many steps (hessian.h); 0: not measured */
    int sharpness_precision;  /* of its Hessian-vector products (sgd_net_set_hvp_precision): 64
                               * (default, exact to rounding) or 32 (half the memory, ~2x faster) */
    uint64_t seed;            /* base init and every run's shuffle/augmentation; the probe set (1) */
    int threads;              /* for the manifests */
    int quiet;                /* no effect: the runs never print, they report through progress */
    const char *work;         /* where base/ and fine/ go (NULL: set by ready) */
    /* Called once every input is checked, before anything is written (a
     * caller makes its output directory there, so bad input leaves none);
     * may set *work. Nonzero stops the run with that code. */
    int (*ready)(void *ctx, const char **work);
    void *ready_ctx;
    /* polled at every epoch start of every run (after its checkpoint) and
     * between probe rows: nonzero stops the run, resumable (SGD_EINVAL) */
    int (*stop)(void *ctx);
    void *stop_ctx;
    int argc; char **argv;    /* for the manifests */
} sgd_spectrum_config;

void sgd_spectrum_defaults(sgd_spectrum_config *c);

/* One local minimum: one row of spectrum.csv. */
typedef struct sgd_spectrum_row {
    int start;                    /* s */
    double train_loss, train_acc; /* at x_min on the whole training split: BN running
                                   * statistics, no augmentation (as validation) */
    double val_loss, val_acc;     /* the fine-tune's last evaluation (train.csv; NaN: no split) */
    double fit_loss, fit_acc;     /* train.csv's last epoch: the running mean while training */
    double dist_init;             /* |x_min - x_0| */
    double dist_start;            /* |x_min - x_s| */
    double start_dist_init;       /* |x_s - x_0| */
    double onepoint_frac;         /* fraction of fine-tune epochs t with inner > 0 */
    double inner_min;             /* smallest inner over those epochs */
    double sharpness;             /* top Hessian eigenvalue at x_min (NaN unless sharpness_steps) */
    double sharpness_resid;       /* |H y - lambda y| of its Ritz pair */
    double epoch_seconds;         /* mean of train.csv's seconds per fine-tune epoch */
} sgd_spectrum_row;

typedef struct sgd_spectrum_result {
    size_t nstarts, epochs_fine, p;
    sgd_spectrum_row *row;        /* nstarts */
    double *inner;                /* nstarts x epochs_fine: <-grad f(x_t), x_min - x_t> */
    /* the paper's claims as numbers (NaN when fewer than 2 minima) */
    double spearman_train_loss;   /* rank correlation with the start epoch (paper: < 0) */
    double spearman_val_loss;     /* (paper: < 0) */
    double spearman_dist_init;    /* (paper: > 0) */
    double spearman_sharpness;    /* with the start epoch: are later minima flatter (< 0)? NaN unmeasured */
    double frac_onepoint;         /* minima whose every fine-tune epoch has inner > 0 (paper: all) */
    double min_onepoint_frac;
    double min_pair_dist, mean_pair_dist;  /* between the minima ("not from the same region") */
    /* resolved settings, for the manifest */
    char model[256], data[1024], base[4200];
    int epochs, crop, flip, normalize, classes;
    double lr, momentum, weight_decay;
    size_t batch, train_images, val_images;
    int base_trained;             /* the base was trained (or resumed) by this call */
    size_t fine_trained, fine_resumed, fine_reused;
    double seconds;
} sgd_spectrum_result;

typedef void (*sgd_spectrum_progress_fn)(void *ctx, double done, double total);

/* Checks every input (data, model, starts, a reused run's manifest and x
 * files), calls ready, then trains and measures; progress counts training
 * epochs (fractions as the batches go). */
int sgd_spectrum_run(const sgd_spectrum_config *c, sgd_spectrum_result *r, sgd_spectrum_progress_fn progress,
                     void *ctx);
/* spectrum.csv, inner.npy, summary.json, manifest.json and
 * fig6{a,b,c,d}.{gp,dat,png,svg} into dir (an open run directory):
 * 6a train/validation loss, 6b accuracy, 6c |x_min - x_0| (with |x_s - x_0|
 * and |x_min - x_s|), 6d the one-point fraction, each against s. */
int sgd_spectrum_write(const char *dir, const sgd_spectrum_config *c, const sgd_spectrum_result *r);
void sgd_spectrum_result_free(sgd_spectrum_result *r);

/* "0,10,20" (strictly increasing, >= 0) or "every:K" (0, K, ... <= epochs)
 * into a malloc'ed array; every start must be <= epochs. */
int sgd_spectrum_parse_starts(const char *s, int epochs, int **starts, size_t *n);

#ifdef __cplusplus
}
#endif
#endif
