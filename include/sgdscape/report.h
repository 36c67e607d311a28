/* Reporting on trials (src/optim/report.c): end-point statistics, CSV,
 * .npy and histogram files, the schedule as JSON. */
#ifndef SGDSCAPE_REPORT_H
#define SGDSCAPE_REPORT_H

#include "sgdscape/io.h"
#include "sgdscape/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Statistics of where trials ended, measured as ||x_T - x*|| (x* = 0 if the
 * landscape has none). */
typedef struct sgd_trials_stats {
    size_t n, diverged, hit;
    double fraction_within[4];  /* within radius[k] (over all trials; diverged count as outside) */
    double radius[4];
    size_t nradius;
    double mean_dist;           /* mean ||x_T - x*|| over finite trials */
    double median_dist;
    double mean_f;              /* mean f(x_T) over finite trials */
    size_t distinct_endpoints;  /* clusters of end points more than tol apart */
} sgd_trials_stats;

/* End points closer than tol (Euclidean, single linkage along a sort in 1-D,
 * greedy in d > 1) count as one. */
void sgd_trials_stats_compute(const sgd_trials_result *r, const double *x_star, const double *radius,
                              size_t nradius, double tol, sgd_trials_stats *s);
void sgd_trials_stats_json(const sgd_trials_stats *s, sgd_json *j);

/* Per-trial CSV: trial, status, steps, x_start_*, x_final_*, y_final_*, f_final, dist. */
int sgd_trials_write_csv(const char *path, const sgd_trials_result *r, const double *x_star);
/* Trajectories as .npy arrays of shape (n, nrec, d), and with several stages
 * their end points as stage_x.npy of shape (nstages, n, d). */
int sgd_trials_write_npy(const char *dir, const sgd_trials_result *r);
/* Histogram of the first coordinate of x_T: CSV (bin_lo, bin_hi, count,
 * cumulative) plus a gnuplot figure NAME.{gp,png,svg} when figure != 0. */
int sgd_trials_write_histogram(const char *dir, const char *name, const sgd_trials_result *r, double lo,
                               double hi, size_t bins, int figure);
/* What `sgdscape run` records beside its config: the command's own words. */
typedef struct sgd_trials_run_info {
    const char *fspec;      /* the landscape as given (--f) */
    const char *schedule;   /* the schedule as given (--schedule) */
    double eta, r;          /* --eta and the noise radius r it gave (level = eta r) */
    const double *within;   /* radii of the summary's fraction_within_* */
    size_t nwithin;
    double seconds;         /* the trials' own time, for the summary */
    int argc; char **argv;  /* for the manifest */
} sgd_trials_run_info;

/* A run directory's files for trials run with c: manifest.json (every
 * parameter), summary.json (the statistics, also returned in *st),
 * trials.csv, the .npy arrays and histogram.{csv,gp,png,svg}. */
int sgd_trials_write_run(const char *dir, const sgd_trials_config *c, const sgd_trials_result *res,
                         const sgd_trials_run_info *info, sgd_trials_stats *st);
/* The schedule as JSON (every stage's steps, eta, r, level, decay, start). */
void sgd_schedule_json(const sgd_schedule *s, sgd_json *j);
const char *sgd_trial_status_name(int status);

#ifdef __cplusplus
}
#endif
#endif
