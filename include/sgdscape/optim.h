/* SGD exactly as in the paper, x_{t+1} = x_t - eta (grad f(x_t) + omega_t),
 * with the alternative-view sequence y_t = x_t - eta grad f(x_t) recorded
 * beside x_t; schedules (constant, multi-stage, exponential decay, restarts);
 * and N independent deterministic trials run over threads. */
#ifndef SGDSCAPE_OPTIM_H
#define SGDSCAPE_OPTIM_H

#include <stddef.h>
#include <stdint.h>
#include "sgdscape/landscape.h"
#include "sgdscape/noise.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where a stage's trials start. */
typedef enum {
    SGD_START_CONTINUE = 0, /* from the previous stage's end points */
    SGD_START_FRESH = 1     /* fresh uniform draw in [start_lo, start_hi]^d */
} sgd_start_mode;

/* One stage of a schedule: `steps` iterations at step size
 * eta_t = eta * decay^(t - stage start) with noise radius r_t = r * rdecay^(...). */
typedef struct sgd_stage {
    size_t steps;
    double eta;
    double r;          /* noise radius; the noise level is eta*r */
    double decay;      /* per-step factor on eta (1 = constant) */
    double rdecay;     /* per-step factor on r (1 = constant) */
    sgd_start_mode start;
    double start_lo, start_hi; /* SGD_START_FRESH only */
} sgd_stage;

#define SGD_MAX_STAGES 32

typedef struct sgd_schedule {
    size_t nstages;
    sgd_stage stage[SGD_MAX_STAGES];
} sgd_schedule;

/* Parse a schedule string:
 *   "const"                               one stage from the base eta, r, steps
 *   "exp:0.999"                           eta decays by 0.999 per step
 *   "stages:STEPS@LEVEL[/ETA][~LO:HI],..." multi-stage; ~LO:HI restarts fresh
 *        e.g. "stages:2000@0.15~-1.5:1.5,2000@0.05~-0.5:0.5"
 * base_eta/base_r/base_steps fill what a stage leaves out. */
int sgd_schedule_parse(const char *s, double base_eta, double base_r, size_t base_steps,
                       sgd_schedule *out);
int sgd_schedule_validate(const sgd_schedule *s);   /* eta > 0, finite, ... */
size_t sgd_schedule_total_steps(const sgd_schedule *s);

typedef enum {
    SGD_TRIAL_RUNNING = 0,
    SGD_TRIAL_DONE = 1,      /* ran every step */
    SGD_TRIAL_HIT = 2,       /* stopped: came within stop_radius of x* */
    SGD_TRIAL_DIVERGED = 3   /* an iterate turned NaN or Inf */
} sgd_trial_status;

typedef struct sgd_trials_config {
    const sgd_landscape *f;
    sgd_noise noise;        /* kind (and hook); radius r comes from the schedule */
    sgd_schedule sched;
    size_t ntrials;
    uint64_t seed;
    int threads;            /* <= 0: all cores */
    double start_lo, start_hi; /* initial uniform box [lo, hi]^d */
    const double *x0;       /* optional fixed start (d entries) instead of the box */
    double momentum;        /* heavy ball, PyTorch convention; 0 = plain SGD */
    double stop_radius;     /* > 0: stop a trial when ||x_t - x*|| <= stop_radius */
    size_t record_every;    /* > 0: keep x_t, y_t every this many steps */
    uint64_t trial_offset;  /* global index of trial 0 (MPI ranks run slices) */
} sgd_trials_config;

typedef struct sgd_trials_result {
    size_t ntrials, d;
    double *x_start;   /* n*d: where each trial started */
    double *x_final;   /* n*d: last iterate x_T */
    double *y_final;   /* n*d: y_T = x_T - eta grad f(x_T) */
    double *f_final;   /* n */
    int *status;       /* n: sgd_trial_status */
    size_t *steps;     /* n: steps taken (to the stop or the divergence) */
    /* recorded trajectories: n * nrec * d, rows at t = 0, k, 2k, ... */
    size_t nrec;
    double *traj_x, *traj_y;
    size_t nstages;
    double *stage_x;   /* nstages * n * d: end point of each stage (stage_x.npy) */
} sgd_trials_result;

typedef void (*sgd_trials_progress_fn)(void *ctx, double done, double total);

/* Initialise the config with defaults (seed 1, 100 trials, box = f's domain). */
void sgd_trials_defaults(sgd_trials_config *c, const sgd_landscape *f);

/* Run the trials. Deterministic: the result depends only on the config, never
 * on `threads` nor on the MPI rank count. Diverged trials are reported in
 * status, never a crash. Under MPI (sgd_dist_init, dist.h) each rank runs a
 * contiguous slice and rank 0 receives the whole result; the other ranks
 * get SGD_DIST_ELSEWHERE and no result. */
int sgd_trials_run(const sgd_trials_config *c, sgd_trials_result *r,
                   sgd_trials_progress_fn progress, void *progress_ctx);
void sgd_trials_result_free(sgd_trials_result *r);

/* One SGD step on one point (the plain version of the trial runner, which
 * tests/test_trials.c holds bit for bit against it):
 * given x, writes y = x - eta grad f(x) and x_next = x - eta (grad f(x) + omega)
 * (= y - eta omega, rounded as the trial runner rounds it: the same bits). Returns
 * f(x). grad is scratch of d entries. */
double sgd_step(const sgd_landscape *f, double eta, const double *omega,
                const double *x, double *y, double *x_next, double *grad);

#ifdef __cplusplus
}
#endif

/* The reporting functions, once declared here. */
#include "sgdscape/report.h"

#endif
