/* Distribution over processes (MPI), GSL style: an experiment's independent
 * items (trials, points) are split into contiguous slices, one per rank,
 * or (the trials of `run`) taken from a queue shared by the ranks of a
 * machine; every rank computes its items with the same per-item random
 * streams as a single process, and the per-item results are gathered to
 * rank 0 in global order, so the union is bit for bit the single-process
 * result. Nothing is ever summed across ranks in a rank-dependent order.
 *
 * Opt-in: until sgd_dist_init is called (and whenever the process was not
 * started by mpirun / srun, or the library was built without MPI), there is
 * one rank and every function here is a no-op; the library behaves exactly
 * as a single process. docs/mpi.md describes the design and how to run. */
#ifndef SGDSCAPE_DIST_H
#define SGDSCAPE_DIST_H

#include "sgdscape/error.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Not an error: returned by a distributed experiment (sgd_trials_run,
 * sgd_fig3_run, sgd_verify_theorem1, sgd_smooth_points, sgd_onepoint_check,
 * sgd_onepoint_scan) on ranks other than 0 once their part has gone to rank
 * 0, which alone holds (and writes) the result. The caller has nothing more
 * to do with it; sgd_dist_handed_off() then returns 1. */
#define SGD_DIST_ELSEWHERE 100

/* Starts MPI (MPI_Init_thread, funneled: only the calling thread talks MPI)
 * when the library was built with it (SGD_MPI) and the environment shows a
 * launcher (OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK); otherwise a single
 * rank and nothing is called. A build without MPI started by a launcher with
 * more than one rank is an error (every rank would write the same run). */
int sgd_dist_init(int *argc, char ***argv);
/* MPI_Finalize if sgd_dist_init started MPI. */
void sgd_dist_finalize(void);
int sgd_dist_rank(void);   /* 0 .. size-1 */
int sgd_dist_size(void);   /* 1 without MPI */
int sgd_dist_mpi_built(void); /* 1 if the library was built with MPI */

/* Between sgd_dist_local(1) and sgd_dist_local(0) this process acts as a
 * job of one rank (rank 0 of 1; agreements, gathers and broadcasts do
 * nothing): an experiment called there runs whole on this rank. For work a
 * rank owns inside a split experiment: the probe of the one fine-tune
 * (spectrum), a stage that rank 0 runs alone (paper5's train). Nests. */
void sgd_dist_local(int on);

/* This rank's contiguous slice [*lo, *hi) of n items: rank k of K has
 * [floor(n k / K), floor(n (k+1) / K)). */
void sgd_dist_slice(size_t n, size_t *lo, size_t *hi);
void sgd_dist_slice_of(size_t n, int rank, int size, size_t *lo, size_t *hi);

/* Collective: every rank brings its status from the phase just computed
 * (SGD_OK or an SGD_* code with sgd_errmsg()) and all return the same: SGD_OK,
 * or the code and message of the lowest failing rank (its items come first,
 * so the message is the one a single process gives). Waits without spinning.
 * A rank that has left the command early (a failure only it saw) is
 * detected here too: the others then fail with "rank K: its message". */
int sgd_dist_agree(int status);

/* Collective, after a successful sgd_dist_agree: each rank brings `mine`, the
 * items of its slice of n items of `item` bytes (sgd_dist_slice(n)); rank 0
 * (every rank with to_all) receives all n in global order into full. full
 * may be NULL on ranks that receive nothing; mine may lie inside full at its
 * slice's place (in place). Any size (sent in pieces below 1 GiB). */
int sgd_dist_gather(void *full, const void *mine, size_t n, size_t item, int to_all);
/* sgd_dist_gather with this rank's items already at their place in full
 * (full holds n items on every rank). */
int sgd_dist_gather_inplace(void *full, size_t n, size_t item, int to_all);
/* Point to point, n bytes (in pieces below 1 GiB): for a gather that folds
 * each piece as it arrives, in order (Monte Carlo chunks). */
int sgd_dist_send(const void *buf, size_t n, int to);
int sgd_dist_recv(void *buf, size_t n, int from);
/* Collective: n bytes of buf from rank 0 to every rank. */
int sgd_dist_bcast(void *buf, size_t n);
/* Collective, in place: full holds nch chunks of `chunk` bytes (the last
 * one cut at `total` bytes); each rank has computed its slice of them
 * (sgd_dist_slice(nch)) and every rank receives all the others' (an
 * allgather). For data-parallel train: a batch's per-chunk partials. */
int sgd_dist_share_chunks(void *full, size_t nch, size_t chunk, size_t total);
/* Collective: v[i] = max over ranks of v[i] (exact: max does not round). */
int sgd_dist_max(double *v, size_t n);

/* A queue of n work items shared by every thread of every rank on one
 * machine: ranks on a machine take items one at a time as they finish (a
 * counter in MPI shared memory, taken with C11 atomics; no MPI call per
 * item), as OpenMP's dynamic schedule does for threads, so that a slower
 * core does fewer; machines take contiguous slices (sgd_dist_slice over
 * machines). Which rank computes an item must not change it: for items that
 * draw their numbers by their own index (trials). One rank, or no MPI: a
 * counter of this process. open and close are collective. */
typedef struct sgd_dist_queue sgd_dist_queue;
int sgd_dist_queue_open(size_t n, sgd_dist_queue **q);
/* The next item for the calling thread, or SIZE_MAX when none is left. */
size_t sgd_dist_queue_next(sgd_dist_queue *q);
void sgd_dist_queue_close(sgd_dist_queue *q);
/* Collective, after a successful sgd_dist_agree: every rank holds `full`
 * (bytes) with the items it computed in place and zero bytes elsewhere;
 * rank 0 (every rank with to_all) receives their union, the bitwise OR,
 * exact because each item was computed by one rank. */
int sgd_dist_merge(void *full, size_t bytes, int to_all);

/* Record that this rank's results went to rank 0 and return
 * SGD_DIST_ELSEWHERE (with a message saying so); rank 0 gets SGD_OK. */
int sgd_dist_hand_off(void);
int sgd_dist_handed_off(void);

/* The end of a command, on every rank (collective): this rank's exit status
 * in, the job's out, the same on every rank: 0, or the status of the lowest
 * failing rank. Its message was printed by rank 0 if rank 0 failed; a message
 * of another rank (held, see sgd_dist_hold) is printed by rank 0 as
 * "PREFIX: rank K: message". A rank whose results were handed off counts as
 * 0. Then MPI_Finalize. With one rank: returns status. */
int sgd_dist_finish(int status, const char *prefix);
/* Ranks other than 0 do not print: a front end hands its one-line messages
 * here (they become sgd_errmsg(), which sgd_dist_agree and sgd_dist_finish
 * pass to rank 0). */
void sgd_dist_hold(const char *msg);

#ifdef __cplusplus
}
#endif
#endif
