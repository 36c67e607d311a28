/* All of Section 5 of the paper in one experiment, with one report.
 *
 * Stages, each a directory under the work directory and each resumable:
 *   s51_MODEL_SCHED/trialK   `train` runs (x_t kept at every epoch start), and
 *   s51_MODEL_SCHED/probe    `probe` over those trials: 5.1, 5.2, Figure 5c;
 *   s53_MODEL                `branch`: 5.3, the loss surface is locally a slope;
 *   s54_MODEL                `spectrum`: 5.4, Figure 6;
 * then report.html (self-contained: the figures embedded), claims.csv and
 * summary.json, where each of the paper's claims stands beside our number
 * with held / not held. A stage whose directory holds its `.done` marker is
 * skipped; an unfinished one continues where it stopped (train and branch
 * from their checkpoints, probe from its kept rows), so a rerun of the same
 * command after a kill redoes nothing that finished.
 *
 * The presets (sgd_paper5_preset_get) are the paper's settings ("paper"),
 * the same pipeline scaled to Fashion-MNIST and two cores ("quick", <= 30
 * minutes) and a pipeline check ("smoke", seconds; CI runs it). */
#ifndef SGDSCAPE_PAPER5_H
#define SGDSCAPE_PAPER5_H

/* every function here returns or sets an SGD_* code; sgd_errmsg() says why */
#include "sgdscape/error.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SGD_PAPER5_MAX_MODELS 2
#define SGD_PAPER5_MAX_SCHEDULES 2

typedef struct sgd_paper5_preset {
    const char *name;
    /* 5.1 and 5.2: the large nets, each schedule, `trials` runs of `epochs` */
    const char *models[SGD_PAPER5_MAX_MODELS];
    const char *schedules[SGD_PAPER5_MAX_SCHEDULES]; /* train's --schedule ("step", "exp:0.99") */
    int trials, epochs;
    double lr;                 /* base learning rate of every run (0.1) */
    size_t batch;              /* mini-batch size of every run and probe set (128) */
    size_t subset, val_subset; /* training / validation images (0: all) */
    size_t probe_batches, points, sg_batches;
    int probe_every;           /* probe every k-th stored epoch (1: all) */
    /* 5.3 and 5.4: the ~10K nets */
    const char *small[SGD_PAPER5_MAX_MODELS];
    int shared_epochs, branches, branch_epochs;
    int spectrum_epochs, fine_epochs;
    const char *starts;        /* spectrum start epochs ("every:K" or a list) */
    size_t measure_batches;    /* probe-set batches of branch and spectrum */
} sgd_paper5_preset;

/* "smoke", "quick" or "paper"; NULL (and an error) for any other name. */
const sgd_paper5_preset *sgd_paper5_preset_get(const char *name);

typedef struct sgd_paper5_config {
    const char *preset;       /* "quick" */
    const char *data;         /* data set spec ("fashion-mnist"; the paper: cifar10:DIR, cifar100:DIR) */
    uint64_t seed;            /* every stage's seed (1) */
    int threads;              /* for the manifests */
    int quiet;                /* 1: the stages show no progress lines */
    const char *work;         /* where the stages go (NULL: set by ready) */
    /* called once the preset and data are checked, before anything is
     * written; may set *work. Nonzero stops with that code. */
    int (*ready)(void *ctx, const char **work);
    void *ready_ctx;
    int (*stop)(void *ctx);   /* polled between epochs: nonzero stops (resumable) */
    void *stop_ctx;
    int argc; char **argv;    /* for the manifests */
} sgd_paper5_config;

void sgd_paper5_defaults(sgd_paper5_config *c);

/* One claim of the paper beside our number. */
typedef struct sgd_paper5_claim {
    char section[8];          /* "5.1", "5.2", "5c", "5.3", "5.4" */
    char setting[96];         /* model (and schedule) */
    char claim[200];          /* what the paper says */
    char paper[64];           /* the paper's number */
    double ours;              /* our number (NaN: not measured) */
    char ours_text[64];       /* how to read it */
    int held;                 /* 1 held, 0 not held, -1 no verdict (scale-dependent) */
} sgd_paper5_claim;

typedef struct sgd_paper5_result {
    const sgd_paper5_preset *preset;
    sgd_paper5_claim *claim;
    size_t nclaims;
    size_t stages, stages_skipped;  /* run by this call / found finished */
    double seconds;                 /* this call's wall time */
    char work[4200];
} sgd_paper5_result;

typedef void (*sgd_paper5_progress_fn)(void *ctx, const char *stage, double done, double total);

/* Runs the stages that are not finished, then gathers the claims. */
int sgd_paper5_run(const sgd_paper5_config *c, sgd_paper5_result *r, sgd_paper5_progress_fn progress, void *ctx);
/* report.html, claims.csv, summary.json and manifest.json into dir (the
 * work directory, which keeps the stages). */
int sgd_paper5_write(const char *dir, const sgd_paper5_config *c, const sgd_paper5_result *r);
void sgd_paper5_result_free(sgd_paper5_result *r);

#ifdef __cplusplus
}
#endif
#endif
