/* The probes of Section 5 (Figures 5a, 5b, 5c) on a stored trajectory. */
#include "probes/probe_internal.h"
#include "sgdscape/dist.h"
#include "sgdscape/error.h"
#include "sgdscape/io.h"
#include "sgdscape/rng.h"

#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sgd_probe_defaults(sgd_probe_config *c)
{
    memset(c, 0, sizeof *c);
    c->normalize = -1;
    c->batches = 10;
    c->points = 100;
    c->radius = 0.5;
    c->confidence = 0.95;
    c->sg_batches = 10;
    c->schedule = "const";
    c->seed = 1;
}

void sgd_probe_ball_offset(uint64_t seed, size_t trial, int epoch, size_t point, size_t p, double radius,
                           double *u)
{
    uint64_t stream = ((uint64_t)trial << 32) | (uint64_t)(point & 0xffffffffu);
    sgd_rng_normal_fill(seed, SGD_RNG_PROBE, stream, (uint64_t)epoch, u, p);
    /* the radius from an index the normal fill never reaches (p < 2^33) */
    double U[2];
    sgd_rng_uniform2(seed, SGD_RNG_PROBE, stream, (uint64_t)epoch, 0xffffffffu, U);
    double zz = 0;
    for (size_t i = 0; i < p; i++) zz += u[i] * u[i];
    double s = zz > 0 ? radius * pow(U[0], 1.0 / (double)p) / sqrt(zz) : 0;
    for (size_t i = 0; i < p; i++) u[i] *= s;
}

int sgd_probe_stats_of(const double *v, size_t n, double confidence, sgd_probe_stats *s)
{
    s->mean = s->min = s->max = s->std = s->hoeffding_lower = s->clt_lower = NAN;
    if (!(confidence > 0 && confidence < 1)) return sgd_error(SGD_EINVAL, "confidence must lie in (0, 1)");
    if (n == 0) return SGD_OK;
    double sum = 0, lo = v[0], hi = v[0];
    for (size_t i = 0; i < n; i++) {
        sum += v[i];
        lo = fmin(lo, v[i]);
        hi = fmax(hi, v[i]);
    }
    double m = sum / (double)n, ss = 0;
    for (size_t i = 0; i < n; i++) ss += (v[i] - m) * (v[i] - m);
    s->mean = m;
    s->min = lo;
    s->max = hi;
    s->std = n > 1 ? sqrt(ss / (double)(n - 1)) : 0;
    /* Lemma 6 with [a, b] the observed range: P(mean - E >= t) <= exp(-2nt^2/(b-a)^2) */
    s->hoeffding_lower = m - (hi - lo) * sqrt(log(1 / (1 - confidence)) / (2.0 * (double)n));
    s->clt_lower = n > 1 ? m - gsl_cdf_ugaussian_Pinv(confidence) * s->std / sqrt((double)n) : NAN;
    return SGD_OK;
}

/* ---- rows kept for --resume ------------------------------------------- */
#define ROW_VALUES 16
static const char ROW_MAGIC[8] = "SGDPRB1";

static void row_path(const char *dir, size_t trial, int epoch, char *out, size_t n)
{
    snprintf(out, n, "%s/row_%04zu_%06d.bin", dir, trial, epoch);
}

static void row_pack(const sgd_probe_row *r, double *v)
{
    const double x[ROW_VALUES] = {r->lr,      r->loss,   r->grad_norm, r->dist,   r->inner,
                                  r->cos,     r->nb_mean, r->nb_min,   r->nb_max, r->nb_std,
                                  r->nb_hoeffding_lower, r->nb_clt_lower, r->sg_mean, r->sg_min,
                                  r->sg_max,  r->step_bound};
    memcpy(v, x, sizeof x);
}

static void row_unpack(const double *v, sgd_probe_row *r)
{
    double *f[ROW_VALUES] = {&r->lr,      &r->loss,   &r->grad_norm, &r->dist,   &r->inner,
                             &r->cos,     &r->nb_mean, &r->nb_min,   &r->nb_max, &r->nb_std,
                             &r->nb_hoeffding_lower, &r->nb_clt_lower, &r->sg_mean, &r->sg_min,
                             &r->sg_max,  &r->step_bound};
    for (int i = 0; i < ROW_VALUES; i++) *f[i] = v[i];
}

static int row_save(const char *dir, size_t trial, int epoch, const sgd_probe_row *r, const double *nb, size_t N)
{
    char path[4400];
    double v[ROW_VALUES];
    row_pack(r, v);
    row_path(dir, trial, epoch, path, sizeof path);
    return sgd_keep_save(path, ROW_MAGIC, v, ROW_VALUES, nb, N);
}

/* 1 when a complete row of this shape was there */
static int row_load(const char *dir, size_t trial, int epoch, sgd_probe_row *r, double *nb, size_t N)
{
    char path[4400];
    double v[ROW_VALUES];
    row_path(dir, trial, epoch, path, sizeof path);
    if (!sgd_keep_load(path, ROW_MAGIC, v, ROW_VALUES, nb, N)) return 0;
    row_unpack(v, r);
    return 1;
}

/* ---- one (trial, epoch) ------------------------------------------------ */
typedef struct probe_work {
    sgd_data_loader probe, sg;  /* the probe set; the mini-batches of 5c */
    double *d, *g, *u;          /* x_T - x_t, a gradient, a ball offset */
    float *w;
    double *sgn;                /* mini-batch gradient norms */
    sgd_probe_progress_fn progress;
    void *ctx;
    double done, total;
} probe_work;

static void tick(probe_work *W)
{
    W->done += 1;
    if (W->progress) W->progress(W->ctx, W->done, W->total);
}

static double dot(const double *a, const double *b, size_t p)
{
    double s = 0;
    for (size_t i = 0; i < p; i++) s += a[i] * b[i];
    return s;
}

/* A row's work items, each one gradient: j = 0 at x_t (5.1), 1..N at points
 * of the ball around x_t (5.2), N+1..N+M on mini-batches (5c). Items are
 * independent, so MPI ranks take contiguous slices of them; an item's
 * record is PROBE_REC doubles. */
#define PROBE_REC 4

static size_t row_items(const sgd_probe_config *c) { return 1 + c->points + c->sg_batches; }

static int probe_item(const sgd_probe_config *c, probe_plan *P, probe_work *W, size_t trial, int epoch, size_t j,
                      const float *xt, double *rec)
{
    size_t p = P->p, N = c->points;
    int rc;
    if (j == 0) { /* 5.1 */
        if ((rc = sgd_net_loss_grad(P->net, xt, NULL, SGD_NN_TRAIN, &W->probe, 0, 0, P->batches, &rec[0], W->g,
                                    NULL)))
            return rc;
        rec[1] = sqrt(dot(W->g, W->g, p));
        rec[2] = -dot(W->g, W->d, p);
        rec[3] = sqrt(dot(W->d, W->d, p));
    } else if (j <= N) { /* 5.2: <-grad f(w), x_T - x_t> at a point w of the ball around x_t */
        sgd_probe_ball_offset(c->seed, trial, epoch, j - 1, p, c->radius, W->u);
        for (size_t i = 0; i < p; i++) W->w[i] = (float)((double)xt[i] + W->u[i]);
        if ((rc = sgd_net_loss_grad(P->net, W->w, NULL, SGD_NN_TRAIN, &W->probe, 0, 0, P->batches, NULL, W->g,
                                    NULL)))
            return rc;
        rec[0] = -dot(W->g, W->d, p);
    } else { /* 5c: mini-batch m of the 5c loader's epoch 1 + t + m/nb (epoch 0 is the probe set's shuffle) */
        size_t m = j - 1 - N, nbat = sgd_data_loader_batches(&W->sg);
        if ((rc = sgd_net_loss_grad(P->net, xt, NULL, SGD_NN_TRAIN, &W->sg, 1 + (uint64_t)epoch + m / nbat, m % nbat,
                                    1, NULL, W->g, NULL)))
            return rc;
        rec[0] = sqrt(dot(W->g, W->g, p));
    }
    tick(W);
    return SGD_OK;
}

/* The row (trial, epoch) from its items' records. */
static int probe_assemble(const sgd_probe_config *c, probe_plan *P, probe_work *W, size_t trial, int epoch,
                          const double *rec, sgd_probe_row *r, double *nb)
{
    size_t N = c->points, M = c->sg_batches;
    int rc;
    r->trial = (int)trial;
    r->epoch = epoch;
    r->lr = probe_lr_at(P, trial, epoch);
    r->loss = rec[0];
    r->grad_norm = rec[1];
    r->inner = rec[2];
    r->dist = rec[3];
    r->cos = r->grad_norm > 0 && r->dist > 0 ? r->inner / (r->grad_norm * r->dist) : NAN;
    for (size_t j = 0; j < N; j++) nb[j] = rec[(1 + j) * PROBE_REC];
    sgd_probe_stats st;
    if ((rc = sgd_probe_stats_of(nb, N, c->confidence, &st))) return rc;
    r->nb_mean = st.mean;
    r->nb_min = st.min;
    r->nb_max = st.max;
    r->nb_std = st.std;
    r->nb_hoeffding_lower = st.hoeffding_lower;
    r->nb_clt_lower = st.clt_lower;
    for (size_t m = 0; m < M; m++) W->sgn[m] = rec[(1 + N + m) * PROBE_REC];
    if ((rc = sgd_probe_stats_of(W->sgn, M, c->confidence, &st))) return rc;
    r->sg_mean = st.mean;
    r->sg_min = st.min;
    r->sg_max = st.max;
    r->step_bound = r->lr * st.max;
    return SGD_OK;
}

/* ---- the paper's claims as numbers ------------------------------------- */
static void summarize(sgd_probe_result *R)
{
    size_t n5 = 0, pos5 = 0, pos_nb = 0, pos_h = 0, nnb = 0;
    R->max_step_bound = NAN;
    for (size_t k = 0; k < R->nepochs; k++) {
        double mi = INFINITY, mnb = INFINITY, mh = INFINITY;
        for (size_t i = 0; i < R->trials; i++) {
            const sgd_probe_row *r = &R->row[i * R->nepochs + k];
            mi = fmin(mi, r->inner);
            mnb = fmin(mnb, r->nb_min);
            mh = fmin(mh, r->nb_hoeffding_lower);
            if (isfinite(r->step_bound) && !(r->step_bound <= R->max_step_bound)) R->max_step_bound = r->step_bound;
        }
        if (R->epoch[k] >= 5) {
            n5++;
            pos5 += mi > 0;
        }
        if (R->points) {
            nnb++;
            pos_nb += mnb > 0;
            pos_h += mh > 0;
        }
    }
    R->frac_min_inner_pos_5 = n5 ? (double)pos5 / (double)n5 : NAN;
    R->frac_nb_min_pos = nnb ? (double)pos_nb / (double)nnb : NAN;
    R->frac_nb_hoeffding_pos = nnb ? (double)pos_h / (double)nnb : NAN;
}

int sgd_probe_check(const sgd_probe_config *c)
{
    probe_plan P;
    int rc = probe_plan_open(c, &P, 1);
    probe_plan_free(&P);
    return rc;
}

void sgd_probe_result_free(sgd_probe_result *r)
{
    free(r->epoch);
    free(r->row);
    free(r->neighbors);
    memset(r, 0, sizeof *r);
}

int sgd_probe_run(const sgd_probe_config *c, sgd_probe_result *R, sgd_probe_progress_fn progress, void *ctx)
{
    memset(R, 0, sizeof *R);
    double t0 = sgd_now();
    probe_plan P;
    probe_work W;
    memset(&W, 0, sizeof W);
    float *xt = NULL, *xT = NULL;
    char *fp = NULL;
    unsigned char *done = NULL;
    size_t *pend = NULL;
    double *rec = NULL;
    int rc = probe_plan_open(c, &P, 1);
    if (rc) goto out;
    size_t p = P.p, N = c->points, M = c->sg_batches;
    R->trials = P.trials;
    R->nepochs = P.nepochs;
    R->points = N;
    R->p = p;
    R->epoch = malloc(P.nepochs * sizeof *R->epoch);
    R->row = calloc(P.trials * P.nepochs, sizeof *R->row);
    R->neighbors = malloc((P.trials * P.nepochs * N + 1) * sizeof *R->neighbors);
    W.d = malloc(p * sizeof *W.d);
    W.g = malloc(p * sizeof *W.g);
    W.u = malloc(p * sizeof *W.u);
    W.w = malloc(p * sizeof *W.w);
    W.sgn = malloc((M + 1) * sizeof *W.sgn);
    xt = malloc(p * sizeof *xt);
    xT = malloc(p * sizeof *xT);
    if (!R->epoch || !R->row || !R->neighbors || !W.d || !W.g || !W.u || !W.w || !W.sgn || !xt || !xT) {
        rc = sgd_error(SGD_ENOMEM, "out of memory for the probe buffers (p = %zu)", p);
        goto out;
    }
    memcpy(R->epoch, P.epoch, P.nepochs * sizeof *R->epoch);
    snprintf(R->model, sizeof R->model, "%s", P.model);
    snprintf(R->data, sizeof R->data, "%s", P.data);
    R->classes = P.classes;
    R->normalize = P.lo.normalize;
    R->batch = P.lo.batch;
    R->probe_images = P.tr.n;
    if ((rc = sgd_data_loader_init(&W.probe, &P.tr, &P.lo))) goto out;
    sgd_data_loader_opts so = P.lo;
    so.drop_last = P.tr.n >= so.batch; /* every 5c gradient at the full batch size when it can be */
    if ((rc = sgd_data_loader_init(&W.sg, &P.tr, &so))) goto out;
    size_t nb = sgd_data_loader_batches(&W.probe);
    if (P.batches > nb) {
        rc = sgd_error(SGD_EINVAL, "--batches %zu: the probe split has %zu batches of %zu", P.batches, nb, P.lo.batch);
        goto out;
    }
    R->batches = P.batches ? P.batches : nb;
    const char *rows_dir = c->rows_dir;
    if (c->ready && (rc = c->ready(c->ready_ctx, &rows_dir))) goto out;
    if (sgd_dist_rank() != 0) rows_dir = NULL; /* rank 0 alone keeps rows */
    if (rows_dir) {
        snprintf(R->rows_dir, sizeof R->rows_dir, "%s", rows_dir);
        if (!(fp = probe_fingerprint(c, &P))) {
            rc = sgd_error(SGD_ENOMEM, "out of memory");
            goto out;
        }
        if ((rc = sgd_mkdirs(rows_dir)) || (rc = sgd_rundir_claim(rows_dir, fp, "rows there come from a probe"))) goto out;
    }
    W.progress = progress;
    W.ctx = ctx;
    size_t nrows = P.trials * P.nepochs, ipr = row_items(c);
    W.total = (double)nrows * (double)ipr;
    /* Rows an interrupted run kept: rank 0 reads them, every rank learns which. */
    if (!(done = calloc(nrows + 1, 1)) || !(pend = malloc((nrows + 1) * sizeof *pend))) {
        rc = sgd_error(SGD_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t q = 0; q < nrows && rows_dir; q++) {
        size_t i = q / P.nepochs, k = q % P.nepochs;
        if (!row_load(rows_dir, i, P.epoch[k], &R->row[q], R->neighbors + q * N, N)) continue;
        R->row[q].trial = (int)i;
        R->row[q].epoch = P.epoch[k];
        R->resumed_rows++;
        done[q] = 1;
    }
    W.done = (double)R->resumed_rows * (double)ipr;
    /* every rank is here (one that failed above is found out now) */
    if ((rc = sgd_dist_agree(SGD_OK)) || (rc = sgd_dist_bcast(done, nrows))) goto out;
    size_t npend = 0;
    for (size_t q = 0; q < nrows; q++)
        if (!done[q]) pend[npend++] = q;
    /* Waves of rows, their items split over the ranks: one row at a time
     * unless there are more ranks than items in a row. */
    size_t K = (size_t)sgd_dist_size(), wr = (K + ipr - 1) / ipr;
    if (!(rec = malloc(wr * ipr * PROBE_REC * sizeof *rec))) {
        rc = sgd_error(SGD_ENOMEM, "out of memory");
        goto out;
    }
    char path[4300] = "";
    size_t cur_T = SIZE_MAX, cur_x = SIZE_MAX;
    for (size_t a = 0; a < npend && !rc; a += wr) {
        size_t nr = npend - a < wr ? npend - a : wr, n = nr * ipr, lo, hi;
        sgd_dist_slice(n, &lo, &hi);
        for (size_t it = lo; it < hi && !rc; it++) {
            size_t q = pend[a + it / ipr], i = q / P.nepochs;
            int epoch = P.epoch[q % P.nepochs];
            if (c->stop && c->stop(c->stop_ctx)) {
                rc = sgd_error(SGD_EINVAL, "interrupted");
                break;
            }
            if (i != cur_T) {
                if ((rc = probe_load_x(&P, P.t[i].target, xT))) break;
                cur_T = i;
                cur_x = SIZE_MAX;
            }
            if (q != cur_x) {
                probe_x_path(&P, i, epoch, path, sizeof path);
                if ((rc = probe_load_x(&P, path, xt))) break;
                for (size_t e = 0; e < p; e++) W.d[e] = (double)xT[e] - (double)xt[e];
                cur_x = q;
            }
            if ((rc = probe_item(c, &P, &W, i, epoch, it % ipr, xt, rec + (it - lo) * PROBE_REC))) {
                char why[512];
                snprintf(why, sizeof why, "%s", sgd_errmsg());
                rc = sgd_error(rc, "trial %zu epoch %d (%s): %s", i, epoch, path, why);
            }
        }
        if ((rc = sgd_dist_agree(rc))) break;
        sgd_dist_gather(rec, rec, n, PROBE_REC * sizeof *rec, 0);
        if (sgd_dist_rank() != 0) continue;
        for (size_t b = 0; b < nr && !rc; b++) {
            size_t q = pend[a + b], i = q / P.nepochs;
            int epoch = P.epoch[q % P.nepochs];
            double *nbv = R->neighbors + q * N;
            if (!(rc = probe_assemble(c, &P, &W, i, epoch, rec + b * ipr * PROBE_REC, &R->row[q], nbv)) && rows_dir)
                rc = row_save(rows_dir, i, epoch, &R->row[q], nbv, N);
        }
        W.done = (double)(R->resumed_rows + a + nr) * (double)ipr;
        if (progress) progress(ctx, W.done, W.total);
    }
    if (!rc && sgd_dist_rank() != 0) rc = sgd_dist_hand_off();
    if (!rc) summarize(R);
out:
    if (W.probe.d) sgd_data_loader_free(&W.probe);
    if (W.sg.d) sgd_data_loader_free(&W.sg);
    free(W.d);
    free(W.g);
    free(W.u);
    free(W.w);
    free(W.sgn);
    free(xt);
    free(xT);
    free(fp);
    free(done);
    free(pend);
    free(rec);
    probe_plan_free(&P);
    R->seconds = sgd_now() - t0;
    if (rc) sgd_probe_result_free(R);
    return rc;
}
