/* N independent SGD trials. Trials are processed in blocks so a landscape's
 * batch gradient sees many points at once; every random number is addressed
 * by (seed, trial, step), so the result is the same for any thread count. */
#include "sgdscape/optim.h"
#include "optim/trials_internal.h"
#include "sgdscape/dist.h"
#include "sgdscape/error.h"
#include "sgdscape/rng.h"
#include "core/isa.h"

#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOCK 64
_Static_assert(BLOCK <= 64, "trials_noise_1d (trials_kern.c) draws at most 64 trials");

void sgd_trials_defaults(sgd_trials_config *c, const sgd_landscape *f)
{
    memset(c, 0, sizeof *c);
    c->f = f;
    c->noise.kind = SGD_NOISE_BALL;
    c->ntrials = 100;
    c->seed = 1;
    c->start_lo = f ? f->lo : -5;
    c->start_hi = f ? f->hi : 5;
}

/* x_next is x - eta (grad + omega), the paper's update written as the trial
 * runner computes it (the same bits; tests/test_trials.c), not y - eta omega,
 * which rounds differently. */
double sgd_step(const sgd_landscape *f, double eta, const double *omega, const double *x, double *y,
                double *x_next, double *grad)
{
    double v = f->fg(f, x, grad);
    for (size_t i = 0; i < f->d; i++) {
        const double xi = x[i], gi = grad[i], oi = omega ? omega[i] : 0.0; /* any of them may alias y or x_next */
        y[i] = xi - eta * gi;
        x_next[i] = omega ? xi - eta * (gi + oi) : xi - eta * gi;
    }
    return v;
}

void sgd_trials_result_free(sgd_trials_result *r)
{
    free(r->x_start);
    free(r->x_final);
    free(r->y_final);
    free(r->f_final);
    free(r->status);
    free(r->steps);
    free(r->traj_x);
    free(r->traj_y);
    free(r->stage_x);
    memset(r, 0, sizeof *r);
}

static void draw_box(uint64_t seed, uint32_t domain, uint64_t trial, uint64_t step, double lo, double hi,
                     double *x, size_t d)
{
    sgd_rng_uniform_fill(seed, domain, trial, step, x, d);
    for (size_t i = 0; i < d; i++) x[i] = lo + (hi - lo) * x[i];
}

/* Uniform omega in [-r, r]^d for trials trial0 .. trial0+m-1 at step T: the
 * same numbers as sgd_noise_sample (cube, or the 1-D interval), drawn with
 * the inline Philox across trials (the variant's trials_noise_1d and
 * trials_noise_cube, trials_kern.c). Returns omega as s with *scale:
 * omega = *scale s. In 1-D one Philox block serves steps 4k .. 4k+3 (see
 * noise.c): at T = 4k `spare` receives the unscaled noise of T+1 .. T+3
 * (row t-1 for T+t), which later steps return with *scale = r when
 * *held == k (the caller's record of what spare holds), to be scaled in
 * the step; otherwise s is om, scaled already (*scale = 1). */
static const double *uniform_noise(uint64_t seed, uint64_t trial0, uint64_t T, double r, size_t m, size_t d,
                                   double *om, double *spare, uint64_t *held, double *scale)
{
    *scale = 1.0;
    if (d > 1) {
        sgd_kern()->trials_noise_cube(seed, trial0, T, r, m, d, om);
        return om;
    }
    if (T & 3) {
        *scale = r;
        return spare + ((T & 3) - 1) * m;
    }
    sgd_kern()->trials_noise_1d(seed, trial0, T >> 2, r, m, om, spare);
    *held = T >> 2;
    return om;
}

typedef struct block_ws {
    double *x, *v, *g, *om, *spare;
    int *active;
} block_ws;

/* One trial's step, the plain form of every path in block_update:
 * x -= eta (g + omega) (sgd_step's x_next), or with heavy-ball momentum
 * mu > 0: v = mu v + g + omega, x -= eta v. Returns nonzero when x leaves
 * the finite doubles. */
static inline int trial_update(size_t d, double mu, double eta, double *x, double *v, const double *g,
                               const double *om)
{
    int bad = 0;
    if (mu > 0)
        for (size_t i = 0; i < d; i++) {
            v[i] = mu * v[i] + g[i] + om[i];
            x[i] -= eta * v[i];
            bad |= !(fabs(x[i]) <= DBL_MAX);
        }
    else
#pragma omp simd reduction(| : bad)
        for (size_t i = 0; i < d; i++) {
            x[i] -= eta * (g[i] + om[i]);
            bad |= !(fabs(x[i]) <= DBL_MAX);
        }
    return bad;
}

/* x_{t+1} = x_t - eta (grad f(x_t) + omega_t) for the m trials of a block,
 * omega = scale s (uniform_noise); stopped trials stay put. Without
 * momentum, in 1-D (Figure 3) or while no trial of the block has stopped,
 * it is one loop over the block's m d coordinates, which vectorises (the
 * variant's trials_step_flat, trials_kern.c): trial_update's arithmetic per
 * coordinate. Returns nonzero when some x left the finite doubles. */
static int block_update(const block_ws *w, size_t m, size_t d, double mu, double eta, int all_active,
                        const double *s, double scale)
{
    if (!(mu > 0) && (d == 1 || all_active))
        return sgd_kern()->trials_step_flat(m * d, eta, scale, w->x, w->g, s, w->active, all_active);
    if (s != w->om)
        for (size_t i = 0; i < m * d; i++) w->om[i] = scale * s[i];
    int bad = 0;
    for (size_t j = 0; j < m; j++)
        if (w->active[j])
            bad |= trial_update(d, mu, eta, w->x + j * d, w->v + j * d, w->g + j * d, w->om + j * d);
    return bad;
}

/* Trials are independent, so the blocking may follow the number of
 * workers (threads, or threads x ranks sharing a queue) without changing
 * any result: even blocks of at most BLOCK trials. */
static size_t trials_block(size_t n, size_t workers)
{
    size_t block = (n + workers - 1) / workers;
    return block > BLOCK ? BLOCK : (block + 3) / 4 * 4;
}

static int trials_threads(const sgd_trials_config *c) { return c->threads > 0 ? c->threads : omp_get_num_procs(); }

/* The trials of c, in blocks of `block`: from the queue q when given (the
 * blocks this rank takes; the others' rows stay zero), else every block,
 * threads taking them in turn. */
static int run_blocks(const sgd_trials_config *c, sgd_trials_result *r, sgd_trials_progress_fn progress,
                      void *progress_ctx, sgd_dist_queue *q, size_t block)
{
    memset(r, 0, sizeof *r);
    const sgd_landscape *f = c->f;
    if (!f) return sgd_error(SGD_EINVAL, "trials: no landscape");
    int rc = sgd_schedule_validate(&c->sched);
    if (rc) return rc;
    if (c->ntrials == 0) return sgd_error(SGD_EINVAL, "--trials: must be >= 1");
    if (!(c->start_hi > c->start_lo) && !c->x0)
        return sgd_error(SGD_EINVAL, "--start: need LO < HI (got %g:%g)", c->start_lo, c->start_hi);
    if (!(c->momentum >= 0 && c->momentum < 1))
        return sgd_error(SGD_EINVAL, "--momentum: must be in [0, 1) (got %g)", c->momentum);
    if (c->stop_radius > 0 && !f->x_star)
        return sgd_error(SGD_EINVAL, "--stop-radius: the landscape has no known x* (give --x-star)");
    if (c->noise.kind == SGD_NOISE_DATA && !c->noise.data)
        return sgd_error(SGD_EINVAL, "noise: data noise needs a sampling hook");
    if ((rc = sgd_isa_init())) return rc; /* an SGD_ISA this CPU cannot run */

    size_t n = c->ntrials, d = f->d, total = sgd_schedule_total_steps(&c->sched);
    size_t ns = c->sched.nstages;
    r->ntrials = n;
    r->d = d;
    r->nstages = ns;
    r->x_start = calloc(n * d, sizeof(double));
    r->x_final = calloc(n * d, sizeof(double));
    r->y_final = calloc(n * d, sizeof(double));
    r->f_final = calloc(n, sizeof(double));
    r->status = calloc(n, sizeof(int));
    r->steps = calloc(n, sizeof(size_t));
    r->stage_x = calloc(ns * n * d, sizeof(double));
    if (c->record_every) {
        r->nrec = total / c->record_every + 1;
        /* x_t and y_t, in doubles (a double: no size_t overflow on the way) */
        double bytes = 2.0 * (double)r->nrec * (double)n * (double)d * sizeof(double);
        long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
        double mem = pages > 0 && psz > 0 ? (double)pages * (double)psz : 1e18;
        if (bytes > mem || (r->traj_x = malloc((size_t)(bytes / 2))) == NULL ||
            (r->traj_y = malloc((size_t)(bytes / 2))) == NULL) {
            size_t nrec = r->nrec;
            sgd_trials_result_free(r);
            return sgd_error(SGD_ENOMEM,
                             "--record-every %zu: recording %zu rows x %zu trials x %zu dims of x_t and y_t = %.3g GB "
                             "(this machine has %.3g GB); use a larger --record-every",
                             c->record_every, nrec, n, d, bytes / 1e9, mem / 1e9);
        }
    }
    if (!r->x_start || !r->x_final || !r->y_final || !r->f_final || !r->status || !r->steps || !r->stage_x) {
        sgd_trials_result_free(r);
        return sgd_error(SGD_ENOMEM, "trials: out of memory allocating %.3g GB for %zu trials x %zu dims x %zu stages",
                         (double)n * (double)d * (double)(ns + 4) * sizeof(double) / 1e9, n, d, ns);
    }

    int threads = trials_threads(c);
    if (!block) block = trials_block(n, (size_t)threads);
    size_t nblocks = (n + block - 1) / block;
    _Atomic size_t taken = 0; /* without q: the next block */
    int failed = SGD_OK;
    size_t done_blocks = 0;
    char errbuf[256] = "";

#pragma omp parallel num_threads(threads)
    {
        block_ws w;
        w.x = malloc(BLOCK * d * sizeof(double));
        w.v = calloc(BLOCK * d, sizeof(double));
        w.g = malloc(BLOCK * d * sizeof(double));
        w.om = malloc(BLOCK * d * sizeof(double));
        w.spare = malloc(3 * BLOCK * sizeof(double));
        w.active = malloc(BLOCK * sizeof(int));
        int ok = w.x && w.v && w.g && w.om && w.spare && w.active;
        for (;;) {
            size_t b = q ? sgd_dist_queue_next(q) : atomic_fetch_add_explicit(&taken, 1, memory_order_relaxed);
            if (b >= nblocks) break;
            if (!ok) {
#pragma omp atomic write
                failed = SGD_ENOMEM;
                continue;
            }
            size_t t0 = b * block, m = n - t0 < block ? n - t0 : block;
            uint64_t gtrial0 = c->trial_offset + t0;
            for (size_t j = 0; j < m; j++) {
                double *xj = w.x + j * d;
                if (c->x0) memcpy(xj, c->x0, d * sizeof(double));
                else draw_box(c->seed, SGD_RNG_INIT, gtrial0 + j, 0, c->start_lo, c->start_hi, xj, d);
                w.active[j] = 1;
            }
            memset(w.v, 0, BLOCK * d * sizeof(double));
            size_t T = 0; /* global step counter: addresses the noise stream */
            const int uniform = c->noise.kind == SGD_NOISE_CUBE || (c->noise.kind == SGD_NOISE_BALL && d == 1);
            uint64_t held = UINT64_MAX; /* w.spare holds steps 4 held + 1 .. + 3 (1-D uniform) */
            int all_active = 1; /* no trial of the block has stopped */
            double eta = c->sched.stage[0].eta;
            for (size_t k = 0; k < ns; k++) {
                const sgd_stage *st = &c->sched.stage[k];
                if (st->start == SGD_START_FRESH) {
                    for (size_t j = 0; j < m; j++) {
                        if (r->status[t0 + j] == SGD_TRIAL_DIVERGED) continue;
                        draw_box(c->seed, SGD_RNG_RESTART, gtrial0 + j, k, st->start_lo, st->start_hi,
                                 w.x + j * d, d);
                        memset(w.v + j * d, 0, d * sizeof(double));
                        w.active[j] = 1;
                        r->status[t0 + j] = SGD_TRIAL_RUNNING;
                    }
                }
                all_active = 1;
                for (size_t j = 0; j < m; j++) all_active &= w.active[j];
                if (k == 0) /* x_0, after any fresh start of the first stage */
                    for (size_t j = 0; j < m; j++)
                        memcpy(r->x_start + (t0 + j) * d, w.x + j * d, d * sizeof(double));
                double eta_t = st->eta, r_t = st->r;
                for (size_t s = 0; s < st->steps; s++, T++) {
                    eta = eta_t;
                    f->grad_batch(f, m, w.x, w.g);
                    if (c->record_every && T % c->record_every == 0)
                        for (size_t j = 0; j < m; j++) {
                            if (!w.active[j]) continue;
                            size_t row = ((t0 + j) * r->nrec + T / c->record_every) * d;
                            for (size_t i = 0; i < d; i++) {
                                r->traj_x[row + i] = w.x[j * d + i];
                                r->traj_y[row + i] = w.x[j * d + i] - eta_t * w.g[j * d + i];
                            }
                        }
                    /* omega_t = scale s for every trial of the block */
                    const double *s_om = w.om;
                    double scale = 1.0;
                    if (c->noise.kind == SGD_NOISE_NONE || r_t == 0)
                        memset(w.om, 0, m * d * sizeof(double));
                    else if (uniform && (d > 1 || (T & 3) == 0 || held == T >> 2))
                        s_om = uniform_noise(c->seed, gtrial0, T, r_t, m, d, w.om, w.spare, &held, &scale);
                    else {
                        sgd_noise W = c->noise; /* general models, and 1-D steps whose block was not drawn */
                        W.scale = r_t;
                        for (size_t j = 0; j < m; j++) {
                            if (!w.active[j]) continue;
                            int nrc = sgd_noise_sample(&W, d, c->seed, gtrial0 + j, T, w.x + j * d, w.om + j * d);
                            if (nrc) {
#pragma omp critical(sgd_trials_err)
                                {
                                    failed = nrc;
                                    snprintf(errbuf, sizeof errbuf, "%s", sgd_errmsg());
                                }
                                w.active[j] = 0;
                                all_active = 0;
                            }
                        }
                    }
                    int bad = block_update(&w, m, d, c->momentum, eta_t, all_active, s_om, scale);
                    if (bad || c->stop_radius > 0)
                        for (size_t j = 0; j < m; j++) {
                            if (!w.active[j]) continue;
                            const double *xj = w.x + j * d;
                            double dist2 = 0;
                            int finite = 1;
                            for (size_t i = 0; i < d; i++) {
                                double e = xj[i] - (f->x_star ? f->x_star[i] : 0.0);
                                dist2 += e * e;
                                finite &= isfinite(xj[i]);
                            }
                            if (!finite || (c->stop_radius > 0 && dist2 <= c->stop_radius * c->stop_radius)) {
                                w.active[j] = 0;
                                all_active = 0;
                                r->steps[t0 + j] = T + 1;
                                r->status[t0 + j] = finite ? SGD_TRIAL_HIT : SGD_TRIAL_DIVERGED;
                            }
                        }
                    eta_t *= st->decay;
                    r_t *= st->rdecay;
                }
                for (size_t j = 0; j < m; j++)
                    memcpy(r->stage_x + (k * n + t0 + j) * d, w.x + j * d, d * sizeof(double));
            }
            /* Final rows: the last record, y_T, f(x_T). Stopped trials keep
             * their last iterate in every later trajectory row. */
            for (size_t j = 0; j < m; j++) {
                double *xj = w.x + j * d, *gj = w.g + j * d;
                size_t id = t0 + j;
                double fv = f->fg(f, xj, gj);
                r->f_final[id] = fv;
                for (size_t i = 0; i < d; i++) {
                    r->x_final[id * d + i] = xj[i];
                    r->y_final[id * d + i] = xj[i] - eta * gj[i];
                }
                if (r->status[id] == SGD_TRIAL_RUNNING) {
                    r->status[id] = SGD_TRIAL_DONE;
                    r->steps[id] = T;
                }
                if (c->record_every) {
                    size_t first = (r->steps[id] + c->record_every - 1) / c->record_every;
                    for (size_t q = first; q < r->nrec; q++)
                        for (size_t i = 0; i < d; i++) {
                            r->traj_x[(id * r->nrec + q) * d + i] = xj[i];
                            r->traj_y[(id * r->nrec + q) * d + i] = r->y_final[id * d + i];
                        }
                }
            }
            size_t now;
#pragma omp atomic capture
            now = ++done_blocks;
            /* with a queue, the blocks taken so far on the machine */
            if (progress && omp_get_thread_num() == 0) progress(progress_ctx, (double)(q ? b + 1 : now), (double)nblocks);
        }
        free(w.x);
        free(w.v);
        free(w.g);
        free(w.om);
        free(w.spare);
        free(w.active);
    }
    if (failed) {
        sgd_trials_result_free(r);
        if (errbuf[0]) return sgd_error(failed, "%s", errbuf);
        return sgd_error(failed, "trials: out of memory");
    }
    return SGD_OK;
}

int sgd_trials_run_local(const sgd_trials_config *c, sgd_trials_result *r, sgd_trials_progress_fn progress,
                         void *progress_ctx)
{
    return run_blocks(c, r, progress, progress_ctx, NULL, 0);
}

/* ---- over MPI ranks (docs/mpi.md) --------------------------------------------
 * Each rank runs the contiguous slice of trials sgd_dist_slice gives it, or
 * (sgd_trials_run_dist without trajectories) the blocks it takes from a
 * queue shared by the ranks of a machine, at their global indices
 * (trial_offset), so every trial draws the numbers it draws in one process;
 * the per-trial rows are then gathered in trial order. */

int sgd_trials_result_alloc(sgd_trials_result *r, size_t n, size_t d, size_t nrec, size_t ns)
{
    memset(r, 0, sizeof *r);
    r->ntrials = n;
    r->d = d;
    r->nrec = nrec;
    r->nstages = ns;
    r->x_start = malloc(n * d * sizeof(double));
    r->x_final = malloc(n * d * sizeof(double));
    r->y_final = malloc(n * d * sizeof(double));
    r->f_final = malloc(n * sizeof(double));
    r->status = malloc(n * sizeof(int));
    r->steps = malloc(n * sizeof(size_t));
    if (ns) r->stage_x = malloc(ns * n * d * sizeof(double));
    if (nrec) {
        r->traj_x = malloc(n * nrec * d * sizeof(double));
        r->traj_y = malloc(n * nrec * d * sizeof(double));
    }
    if (!r->x_start || !r->x_final || !r->y_final || !r->f_final || !r->status || !r->steps || (ns && !r->stage_x) ||
        (nrec && (!r->traj_x || !r->traj_y))) {
        sgd_trials_result_free(r);
        return sgd_error(SGD_ENOMEM, "trials: out of memory gathering %zu trials x %zu dims x %zu rows", n, d,
                         nrec ? nrec : 1);
    }
    return SGD_OK;
}

int sgd_trials_gather(sgd_trials_result *loc, size_t n, size_t nrec, size_t ns, sgd_trials_result *r, int to_all)
{
    memset(r, 0, sizeof *r);
    if (sgd_dist_size() == 1) {
        *r = *loc;
        memset(loc, 0, sizeof *loc);
        return SGD_OK;
    }
    const size_t d = loc->d, dd = d * sizeof(double);
    const int here = to_all || sgd_dist_rank() == 0;
    int rc = sgd_dist_agree(here ? sgd_trials_result_alloc(r, n, d, nrec, ns) : SGD_OK);
    if (rc) {
        sgd_trials_result_free(r);
        sgd_trials_result_free(loc);
        return rc;
    }
    size_t lo, hi;
    sgd_dist_slice(n, &lo, &hi);
    const size_t m = hi - lo;
    sgd_dist_gather(r->x_start, loc->x_start, n, dd, to_all);
    sgd_dist_gather(r->x_final, loc->x_final, n, dd, to_all);
    sgd_dist_gather(r->y_final, loc->y_final, n, dd, to_all);
    sgd_dist_gather(r->f_final, loc->f_final, n, sizeof(double), to_all);
    sgd_dist_gather(r->status, loc->status, n, sizeof(int), to_all);
    sgd_dist_gather(r->steps, loc->steps, n, sizeof(size_t), to_all);
    for (size_t k = 0; k < ns; k++) /* (stage, trial, d): a gather per stage */
        sgd_dist_gather(r->stage_x ? r->stage_x + k * n * d : NULL, loc->stage_x ? loc->stage_x + k * m * d : NULL, n,
                        dd, to_all);
    if (nrec) {
        sgd_dist_gather(r->traj_x, loc->traj_x, n, nrec * dd, to_all);
        sgd_dist_gather(r->traj_y, loc->traj_y, n, nrec * dd, to_all);
    }
    sgd_trials_result_free(loc);
    return SGD_OK;
}

int sgd_trials_run_slice(const sgd_trials_config *c, sgd_trials_result *r, sgd_trials_progress_fn progress,
                         void *progress_ctx)
{
    size_t lo, hi;
    sgd_dist_slice(c->ntrials, &lo, &hi);
    if (hi == lo && c->ntrials > 0) { /* more ranks than trials: nothing here */
        memset(r, 0, sizeof *r);
        r->d = c->f ? c->f->d : 0;
        r->nstages = c->sched.nstages;
        return SGD_OK;
    }
    sgd_trials_config cs = *c;
    cs.ntrials = hi - lo;
    cs.trial_offset = c->trial_offset + lo;
    return sgd_trials_run_local(&cs, r, progress, progress_ctx);
}

/* The trials over ranks that share a queue of blocks (dist.h): each rank
 * holds rows for all n trials, its own blocks filled and zeros elsewhere,
 * and the merge ORs them together. Without recorded trajectories only: with
 * them every rank would hold all n trials' rows (the static slices hold a
 * rank's share). */
static int run_queue(const sgd_trials_config *c, sgd_trials_result *r, sgd_trials_progress_fn progress,
                     void *progress_ctx, int to_all)
{
    size_t n = c->ntrials, block = trials_block(n, (size_t)trials_threads(c) * (size_t)sgd_dist_size());
    sgd_dist_queue *q;
    int rc = sgd_dist_queue_open((n + block - 1) / block, &q);
    if (rc) return rc;
    rc = sgd_dist_agree(run_blocks(c, r, progress, progress_ctx, q, block));
    sgd_dist_queue_close(q);
    if (rc) {
        sgd_trials_result_free(r);
        return rc;
    }
    const size_t d = r->d, ns = r->nstages;
    sgd_dist_merge(r->x_start, n * d * sizeof(double), to_all);
    sgd_dist_merge(r->x_final, n * d * sizeof(double), to_all);
    sgd_dist_merge(r->y_final, n * d * sizeof(double), to_all);
    sgd_dist_merge(r->f_final, n * sizeof(double), to_all);
    sgd_dist_merge(r->status, n * sizeof(int), to_all);
    sgd_dist_merge(r->steps, n * sizeof(size_t), to_all);
    sgd_dist_merge(r->stage_x, ns * n * d * sizeof(double), to_all);
    if (!to_all && sgd_dist_rank() != 0) sgd_trials_result_free(r); /* as a gather leaves it */
    return SGD_OK;
}

int sgd_trials_run_dist(const sgd_trials_config *c, sgd_trials_result *r, sgd_trials_progress_fn progress,
                        void *progress_ctx, int to_all)
{
    if (sgd_dist_size() > 1 && !c->record_every && c->ntrials > 0)
        return run_queue(c, r, progress, progress_ctx, to_all);
    sgd_trials_result loc;
    int rc = sgd_dist_agree(sgd_trials_run_slice(c, &loc, progress, progress_ctx));
    if (rc) {
        sgd_trials_result_free(&loc);
        memset(r, 0, sizeof *r);
        return rc;
    }
    size_t total = sgd_schedule_total_steps(&c->sched);
    size_t nrec = c->record_every ? total / c->record_every + 1 : 0;
    return sgd_trials_gather(&loc, c->ntrials, nrec, c->sched.nstages, r, to_all);
}

int sgd_trials_run(const sgd_trials_config *c, sgd_trials_result *r, sgd_trials_progress_fn progress,
                   void *progress_ctx)
{
    int rc = sgd_trials_run_dist(c, r, progress, progress_ctx, 0);
    return rc ? rc : sgd_dist_hand_off();
}
