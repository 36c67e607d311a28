/* Section 5.3's measurement over finished branches: inner(i, t, j) =
 * <-grad f(x_t^(i)), x_T^(j) - x_t^(i)> for every epoch t of every branch i
 * and every final j, f being the probe's (probe_input.c resolves the
 * branches as the trials of a probe). */
#include "probes/branch_internal.h"
#include "probes/probe_internal.h"
#include "sgdscape/dist.h"
#include "sgdscape/error.h"
#include "sgdscape/io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- rows kept for --resume: ROWS/row_IIII_TTTTTT.npy = loss, |g|, inner(i, t, 0..B-1) */
static void row_path(const char *rows, size_t i, size_t t, char *out, size_t n)
{
    snprintf(out, n, "%s/row_%04zu_%06zu.npy", rows, i, t);
}

/* 1 when a complete row of B finals was there */
static int row_reuse(const char *rows, size_t i, size_t t, size_t B, double *v)
{
    char path[4400];
    struct stat st;
    row_path(rows, i, t, path, sizeof path);
    if (stat(path, &st) != 0) return 0;
    sgd_npy a;
    if (sgd_npy_read(path, &a)) {
        sgd_error_clear(); /* a damaged row is computed again */
        return 0;
    }
    int ok = a.dtype == SGD_NPY_F64 && a.ndim == 1 && a.count == 2 + B;
    if (ok) memcpy(v, a.data, (2 + B) * sizeof *v);
    sgd_npy_free(&a);
    return ok;
}

/* ---- one (i, t): the gradient once, then every final ----------------------- */
typedef struct measure {
    probe_plan P;
    sgd_data_loader L;          /* the probe set */
    float *xt, *finals;         /* x_t^(i); x_T^(j) for all j (B x p) */
    double *g, *v;              /* a gradient; a row: loss, |g|, B inner products */
} measure;

static int measure_row(measure *M, size_t B, const float *xt, double *v)
{
    size_t p = M->P.p;
    int rc = sgd_net_loss_grad(M->P.net, xt, NULL, SGD_NN_TRAIN, &M->L, 0, 0, M->P.batches, &v[0], M->g, NULL);
    if (rc) return rc;
    double gg = 0;
    for (size_t k = 0; k < p; k++) gg += M->g[k] * M->g[k];
    v[1] = sqrt(gg);
    for (size_t j = 0; j < B; j++) {
        /* the terms and their order of probe.c's inner = -dot(g, x_T - x_t) */
        const float *xT = M->finals + j * p;
        double s = 0;
        for (size_t k = 0; k < p; k++) s += M->g[k] * ((double)xT[k] - (double)xt[k]);
        v[2 + j] = -s;
    }
    return SGD_OK;
}

/* Row q = (i, t) of R from v = loss, |g|, B inner products. */
static void keep_row(sgd_branch_result *R, size_t q, const double *v)
{
    R->row[q].loss = v[0];
    R->row[q].grad_norm = v[1];
    memcpy(R->inner + q * R->branches, v + 2, R->branches * sizeof *v);
}

static double distance(const float *a, const float *b, size_t p)
{
    double s = 0;
    for (size_t k = 0; k < p; k++) s += ((double)a[k] - (double)b[k]) * ((double)a[k] - (double)b[k]);
    return sqrt(s);
}

/* The claims: how many inner products are not positive, the finals' distances. */
static void summarize(sgd_branch_result *R)
{
    size_t B = R->branches, E1 = R->epochs;
    R->inner_min = INFINITY;
    for (size_t i = 0; i < B; i++)
        for (size_t t = 0; t < E1; t++) {
            sgd_branch_row *r = &R->row[i * E1 + t];
            const double *in = R->inner + (i * E1 + t) * B;
            double mn = INFINITY, mx = -INFINITY, sum = 0;
            for (size_t j = 0; j < B; j++) {
                mn = fmin(mn, in[j]);
                mx = fmax(mx, in[j]);
                sum += in[j];
                if (!(in[j] > 0)) {
                    r->nonpositive++;
                    if (j != i) r->nonpositive_others++;
                }
            }
            r->inner_self = in[i];
            r->inner_min = mn;
            r->inner_mean = sum / (double)B;
            r->inner_max = mx;
            R->nonpositive += (size_t)r->nonpositive;
            R->nonpositive_others += (size_t)r->nonpositive_others;
            R->inner_min = fmin(R->inner_min, mn);
        }
    R->count = B * E1 * B;
    R->count_others = B * E1 * (B - 1);
    R->frac_nonpositive = (double)R->nonpositive / (double)R->count;
    R->frac_nonpositive_others = R->count_others ? (double)R->nonpositive_others / (double)R->count_others : NAN;
    double mn = INFINITY, mx = -INFINITY, sum = 0;
    size_t pairs = 0;
    for (size_t i = 0; i < B; i++)
        for (size_t j = i + 1; j < B; j++) {
            double d = R->dist[i * B + j];
            mn = fmin(mn, d);
            mx = fmax(mx, d);
            sum += d;
            pairs++;
        }
    R->dist_min = pairs ? mn : NAN;
    R->dist_max = pairs ? mx : NAN;
    R->dist_mean = pairs ? sum / (double)pairs : NAN;
}

static int measure_open(const sgd_branch_config *c, branch_setup *S, measure *M)
{
    size_t B = (size_t)c->branches;
    char (*dirs)[4300] = malloc(B * sizeof *dirs);
    const char **runs = malloc(B * sizeof *runs);
    int rc = dirs && runs ? SGD_OK : sgd_error(SGD_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < B; i++) {
        branch_dir(S, i, dirs[i], sizeof dirs[i]);
        runs[i] = dirs[i];
    }
    char epochs[64];
    snprintf(epochs, sizeof epochs, "0:%d", c->epochs - 1);
    sgd_probe_config pc;
    sgd_probe_defaults(&pc);
    pc.runs = runs;
    pc.nruns = B;
    pc.batches = c->batches;
    pc.points = 0;
    pc.sg_batches = 0;
    pc.seed = c->seed;
    pc.epochs = epochs;
    /* each file is checked as it is read */
    if (!rc) rc = probe_plan_open(&pc, &M->P, 0);
    if (!rc) rc = sgd_data_loader_init(&M->L, &M->P.tr, &M->P.lo);
    size_t p = M->P.p;
    if (!rc) {
        M->xt = malloc(p * sizeof *M->xt);
        M->finals = malloc(B * p * sizeof *M->finals);
        M->g = malloc(p * sizeof *M->g);
        M->v = malloc((2 + B) * sizeof *M->v);
        if (!M->xt || !M->finals || !M->g || !M->v)
            rc = sgd_error(SGD_ENOMEM, "out of memory for %zu finals of %zu weights", B, p);
    }
    for (size_t j = 0; !rc && j < B; j++) rc = probe_load_x(&M->P, M->P.t[j].target, M->finals + j * p);
    free(dirs);
    free(runs);
    return rc;
}

static void measure_close(measure *M)
{
    if (M->L.d) sgd_data_loader_free(&M->L);
    probe_plan_free(&M->P);
    free(M->xt);
    free(M->finals);
    free(M->g);
    free(M->v);
}

int branch_measure(const sgd_branch_config *c, branch_setup *S, sgd_branch_result *R)
{
    size_t B = R->branches, E1 = R->epochs, p = R->p;
    measure M;
    memset(&M, 0, sizeof M);
    int rc = measure_open(c, S, &M);
    if (!rc && M.P.p != p)
        rc = sgd_error(SGD_EINVAL, "%s: %zu weights, the network %zu", M.P.t[0].target, M.P.p, p);
    R->row = calloc(B * E1, sizeof *R->row);
    R->inner = malloc(B * E1 * B * sizeof *R->inner);
    R->dist = malloc(B * B * sizeof *R->dist);
    R->final_loss = malloc(B * sizeof *R->final_loss);
    R->dist_start = malloc(B * sizeof *R->dist_start);
    if (!rc && (!R->row || !R->inner || !R->dist || !R->final_loss || !R->dist_start))
        rc = sgd_error(SGD_ENOMEM, "out of memory for %zu x %zu x %zu inner products", B, E1, B);
    snprintf(R->rows_dir, sizeof R->rows_dir, "%s/rows", S->work);
    if (!rc && sgd_dist_rank() == 0) rc = sgd_mkdirs(R->rows_dir);
    double done = S->offset, K = (double)S->probe_batches;
    char path[4400];
    size_t n = B * E1, w = 2 + B, nr = (size_t)sgd_dist_size(), npend = 0;
    /* Rows a killed run kept: rank 0 reads them, every rank learns which;
     * then waves of one pending row per rank, gathered to rank 0, which
     * keeps them. */
    unsigned char *done_row = calloc(n + 1, 1);
    size_t *pend = malloc((n + 1) * sizeof *pend);
    double *wave = malloc(nr * w * sizeof *wave);
    if (!rc && (!done_row || !pend || !wave)) rc = sgd_error(SGD_ENOMEM, "out of memory");
    for (size_t q = 0; !rc && q < n; q++) {
        R->row[q].branch = (int)(q / E1);
        R->row[q].epoch = (int)(q % E1);
        if (sgd_dist_rank() == 0 && row_reuse(R->rows_dir, q / E1, q % E1, B, M.v)) {
            keep_row(R, q, M.v);
            R->resumed_rows++;
            done_row[q] = 1;
            done += K;
        }
    }
    if ((rc = sgd_dist_agree(rc)) || (rc = sgd_dist_bcast(done_row, n))) goto out;
    for (size_t q = 0; q < n; q++)
        if (!done_row[q]) pend[npend++] = q;
    for (size_t a = 0; !rc && a < npend; a += nr) {
        size_t m = npend - a < nr ? npend - a : nr, lo, hi;
        sgd_dist_slice(m, &lo, &hi);
        for (size_t k = lo; k < hi && !rc; k++) {
            size_t i = pend[a + k] / E1, t = pend[a + k] % E1;
            if (c->stop && c->stop(c->stop_ctx)) {
                rc = sgd_error(SGD_EINVAL, "interrupted");
                break;
            }
            probe_x_path(&M.P, i, (int)t, path, sizeof path);
            if ((rc = probe_load_x(&M.P, path, M.xt))) break;
            if ((rc = measure_row(&M, B, M.xt, wave + (k - lo) * w))) {
                char why[512];
                snprintf(why, sizeof why, "%s", sgd_errmsg());
                rc = sgd_error(rc, "branch %zu epoch %zu (%s): %s", i, t, path, why);
            }
        }
        if ((rc = sgd_dist_agree(rc))) break;
        sgd_dist_gather(wave, wave, m, w * sizeof *wave, 0);
        for (size_t k = 0; k < m && !rc && sgd_dist_rank() == 0; k++) {
            size_t q = pend[a + k], shape[1] = {w};
            row_path(R->rows_dir, q / E1, q % E1, path, sizeof path);
            if (!(rc = sgd_npy_write(path, SGD_NPY_F64, wave + k * w, 1, shape))) keep_row(R, q, wave + k * w);
        }
        done += K * (double)m;
        if (S->progress) S->progress(S->ctx, done, S->total);
    }
    /* the rest on rank 0 alone */
    if (rc || sgd_dist_rank() != 0) goto out;
    /* the finals: f(x_T^(j)), distances between them and to the branch point */
    for (size_t j = 0; !rc && j < B; j++) {
        rc = sgd_net_loss_grad(M.P.net, M.finals + j * p, NULL, SGD_NN_TRAIN, &M.L, 0, 0, M.P.batches,
                               &R->final_loss[j], NULL, NULL);
        if (rc) break;
        R->dist_start[j] = distance(M.finals + j * p, S->x0, p);
        for (size_t i = 0; i < B; i++) R->dist[j * B + i] = i == j ? 0 : distance(M.finals + j * p, M.finals + i * p, p);
        done += K;
        if (S->progress) S->progress(S->ctx, done, S->total);
    }
    /* how sharp each final is (not a claim of the paper) */
    if (!rc && c->sharpness_steps) {
        if (!(R->sharpness = malloc(2 * B * sizeof *R->sharpness))) rc = sgd_error(SGD_ENOMEM, "out of memory");
        else R->sharpness_resid = R->sharpness + B;
    }
    for (size_t j = 0; !rc && R->sharpness && j < B; j++)
        rc = probe_sharpness(&M.P, M.finals + j * p, c->sharpness_steps, c->sharpness_precision, c->seed,
                             &R->sharpness[j],
                             &R->sharpness_resid[j]);
    if (!rc) summarize(R);
out:
    free(done_row);
    free(pend);
    free(wave);
    measure_close(&M);
    return rc;
}
