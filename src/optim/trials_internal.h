/* The trial runner's parts for the experiments built on it (fig3.c,
 * src/theory/verify.c): one rank's slice, and the gather (docs/mpi.md). */
#ifndef SGD_TRIALS_INTERNAL_H
#define SGD_TRIALS_INTERNAL_H

#include "sgdscape/optim.h"

/* The trials [c->trial_offset, c->trial_offset + c->ntrials) here, in one
 * process: the body of sgd_trials_run. */
int sgd_trials_run_local(const sgd_trials_config *c, sgd_trials_result *r, sgd_trials_progress_fn progress,
                         void *progress_ctx);
/* This rank's slice of c's trials (sgd_dist_slice), at their global
 * indices; no agreement. An empty slice gives an empty result (d, nstages set). */
int sgd_trials_run_slice(const sgd_trials_config *c, sgd_trials_result *r, sgd_trials_progress_fn progress,
                         void *progress_ctx);
/* Collective: every rank's slice result loc (freed) into r, n trials in
 * trial order, on rank 0 (every rank with to_all; elsewhere r stays empty).
 * Call after a successful sgd_dist_agree. */
int sgd_trials_gather(sgd_trials_result *loc, size_t n, size_t nrec, size_t ns, sgd_trials_result *r, int to_all);
/* Every array of a result of n trials in d dims, nrec recorded rows (0: no
 * trajectories) and ns stage ends (0: none), uninitialised; SGD_ENOMEM
 * with a message (r then empty). */
int sgd_trials_result_alloc(sgd_trials_result *r, size_t n, size_t d, size_t nrec, size_t ns);
/* sgd_trials_run without the hand-off: under MPI the ranks of a machine
 * take blocks from a shared queue and the rows are merged (without
 * trajectories), or run_slice, agree, gather (with them). */
int sgd_trials_run_dist(const sgd_trials_config *c, sgd_trials_result *r, sgd_trials_progress_fn progress,
                        void *progress_ctx, int to_all);

#endif
