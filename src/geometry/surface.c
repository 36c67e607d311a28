/* f on the plane X + alpha d1 + beta d2 (Li et al. 2018), and a run's
 * trajectory projected onto it. */
#include "geometry/geometry_internal.h"
#include "sgdscape/io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sgd_surface_defaults(sgd_surface_config *c)
{
    memset(c, 0, sizeof *c);
    sgd_geom_source_defaults(&c->src);
    c->dirs = SGD_DIRS_RANDOM;
    c->dir_seed = 1;
    c->alpha_lo = c->beta_lo = -1;
    c->alpha_hi = c->beta_hi = 1;
    c->nalpha = c->nbeta = 21;
}

void sgd_surface_result_free(sgd_surface_result *r)
{
    free(r->alpha);
    free(r->beta);
    free(r->loss);
    free(r->acc);
    free(r->traj_epoch);
    free(r->traj_xy);
    free(r->traj_resid);
    free(r->d);
    memset(r, 0, sizeof *r);
}

/* A direction file: float32 (or float64) .npy of p finite values. */
static int read_dir(const geom_ctx *g, const char *path, double *d)
{
    sgd_npy a;
    int rc = sgd_npy_read(path, &a);
    if (rc) return rc;
    if ((a.dtype != SGD_NPY_F32 && a.dtype != SGD_NPY_F64) || a.count != g->p)
        rc = sgd_error(SGD_EFORMAT, "%s: %zu values, but model %s has p = %zu (want float32 or float64)", path,
                       a.count, g->model, g->p);
    for (size_t i = 0; i < g->p && !rc; i++) {
        d[i] = a.dtype == SGD_NPY_F32 ? (double)((float *)a.data)[i] : ((double *)a.data)[i];
        if (!isfinite(d[i])) rc = sgd_error(SGD_EFORMAT, "%s: value %zu is not finite", path, i);
    }
    sgd_npy_free(&a);
    return rc;
}

/* d1, d2 into r->d (2 x p) from c->dirs. */
static int directions(const sgd_surface_config *c, geom_ctx *g, const float *X, const float *traj, size_t n,
                      sgd_surface_result *r)
{
    double *d = r->d;
    int rc = SGD_OK;
    if (c->dirs == SGD_DIRS_RANDOM) {
        for (int k = 0; k < 2 && !rc; k++)
            rc = sgd_geom_random_direction(g->net, X, c->dir_seed, k, c->keep_bias_bn, d + (size_t)k * g->p);
    } else if (c->dirs == SGD_DIRS_FILES) {
        for (int k = 0; k < 2 && !rc; k++) rc = read_dir(g, c->dir_files[k], d + (size_t)k * g->p);
    } else {
        sgd_pca_result P;
        if ((rc = sgd_pca_of(traj, n, traj + (n - 1) * g->p, g->p, &P))) return rc;
        for (size_t i = 0; i < 2 * g->p; i++) d[i] = P.dirs[i];
        sgd_pca_result_free(&P);
    }
    return rc;
}

typedef struct plane {
    const float *X;
    const double *d;
    const sgd_surface_result *r;
    size_t p;
} plane;

static void plane_at(void *ctx, size_t q, float *x)
{
    const plane *P = ctx;
    size_t i = q / P->r->nbeta, j = q % P->r->nbeta;
    geom_combine(P->X, P->r->alpha[i], P->d, P->r->beta[j], P->d + P->p, P->p, x);
}

/* config.txt of the kept points: everything that shapes them. */
static int fingerprint(const sgd_surface_config *c, const geom_ctx *g, const char *x, char *fp, size_t n)
{
    static const char *const kinds[] = {"random", "files", "pca"};
    int rc = geom_source_fingerprint(g, fp, n);
    size_t o = strlen(fp);
    if (!rc) snprintf(fp + o, n - o, "X %s\n--dirs %s %s %s\n--keep-bias-bn %d\n--dir-seed %llu\n--alpha %.17g:%.17g:%zu\n"
             "--beta %.17g:%.17g:%zu\n", x, kinds[c->dirs], c->dirs == SGD_DIRS_FILES ? c->dir_files[0] : "-",
             c->dirs == SGD_DIRS_FILES ? c->dir_files[1] : "-", c->keep_bias_bn, (unsigned long long)c->dir_seed,
             c->alpha_lo, c->alpha_hi, c->nalpha, c->beta_lo, c->beta_hi, c->nbeta);
    return rc;
}

static void summarize(sgd_surface_result *r, const double *v)
{
    size_t N = r->nalpha * r->nbeta;
    r->min_loss = INFINITY;
    r->min_alpha = r->min_beta = NAN;
    for (size_t q = 0; q < N; q++) {
        r->loss[q] = v[q * GEOM_NV];
        r->acc[q] = v[q * GEOM_NV + 1];
        if (r->loss[q] < r->min_loss) {
            r->min_loss = r->loss[q];
            r->min_alpha = r->alpha[q / r->nbeta];
            r->min_beta = r->beta[q % r->nbeta];
        }
    }
    double n1 = 0, n2 = 0, n12 = 0;
    for (size_t k = 0; k < r->p; k++) {
        n1 += r->d[k] * r->d[k];
        n2 += r->d[r->p + k] * r->d[r->p + k];
        n12 += r->d[k] * r->d[r->p + k];
    }
    r->dir_norm[0] = sqrt(n1);
    r->dir_norm[1] = sqrt(n2);
    r->dir_cos = n1 > 0 && n2 > 0 ? n12 / sqrt(n1 * n2) : NAN;
}

int sgd_surface_run(const sgd_surface_config *c, sgd_surface_result *r, sgd_geom_progress_fn progress, void *ctx)
{
    memset(r, 0, sizeof *r);
    double t0 = sgd_now();
    if (c->nalpha < 1 || c->nbeta < 1 || c->alpha_hi < c->alpha_lo || c->beta_hi < c->beta_lo)
        return sgd_error(SGD_EINVAL, "--alpha, --beta: want LO < HI and N >= 1 points");
    if (!c->x && !c->src.run) return sgd_error(SGD_EINVAL, "give the centre X (a weight file) or --run DIR");
    if (c->dirs == SGD_DIRS_PCA && !c->src.run) return sgd_error(SGD_EINVAL, "--dirs pca needs --run DIR");
    if (c->dirs == SGD_DIRS_FILES && (!c->dir_files[0] || !c->dir_files[1]))
        return sgd_error(SGD_EINVAL, "--dirs: give two files D1.npy,D2.npy");
    geom_ctx g;
    int rc = geom_open(&c->src, 0, &g);
    float *X = NULL, *traj = NULL;
    int *epoch = NULL;
    size_t n = 0, N = c->nalpha * c->nbeta;
    double *v = NULL;
    if (rc) goto out;
    if (c->x) snprintf(r->x, sizeof r->x, "%s", c->x);
    else geom_x_path(&g, -1, r->x, sizeof r->x);
    r->nalpha = c->nalpha;
    r->nbeta = c->nbeta;
    r->p = g.p;
    X = malloc(g.p * sizeof *X);
    v = malloc(N * GEOM_NV * sizeof *v);
    r->alpha = malloc(c->nalpha * sizeof *r->alpha);
    r->beta = malloc(c->nbeta * sizeof *r->beta);
    r->loss = malloc(N * sizeof *r->loss);
    r->acc = malloc(N * sizeof *r->acc);
    r->d = malloc(2 * g.p * sizeof *r->d);
    if (!X || !v || !r->alpha || !r->beta || !r->loss || !r->acc || !r->d) {
        rc = sgd_error(SGD_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = geom_read_x(&g, r->x, X))) goto out;
    if (c->src.run && (rc = geom_load_traj(&g, &traj, &epoch, &n))) goto out;
    if ((rc = directions(c, &g, X, traj, n, r))) goto out;
    for (size_t i = 0; i < c->nalpha; i++) r->alpha[i] = geom_grid(c->alpha_lo, c->alpha_hi, c->nalpha, i);
    for (size_t j = 0; j < c->nbeta; j++) r->beta[j] = geom_grid(c->beta_lo, c->beta_hi, c->nbeta, j);
    plane P = {X, r->d, r, g.p};
    char fp[24000];
    if ((rc = fingerprint(c, &g, r->x, fp, sizeof fp))) goto out;
    geom_points_spec S = {N, plane_at, &P, 0, &c->keep, fp, "points there come from a surface"};
    if ((rc = geom_points(&g, &S, v, &r->resumed, progress, ctx))) goto out;
    if (c->keep.dir) snprintf(r->keep, sizeof r->keep, "%s", c->keep.dir);
    summarize(r, v);
    double f0[GEOM_NV];
    if ((rc = geom_eval(&g, X, 0, f0))) goto out;
    r->center_loss = f0[0];
    r->center_acc = f0[1];
    if (traj) {
        r->ntraj = n;
        r->traj_epoch = epoch;
        epoch = NULL;
        r->traj_xy = malloc(n * 2 * sizeof *r->traj_xy);
        r->traj_resid = malloc(n * sizeof *r->traj_resid);
        if (!r->traj_xy || !r->traj_resid) {
            rc = sgd_error(SGD_ENOMEM, "out of memory");
            goto out;
        }
        for (size_t t = 0; t < n; t++)
            geom_project(traj + t * g.p, X, r->d, r->d + g.p, g.p, r->traj_xy + 2 * t, r->traj_resid + t);
    }
    snprintf(r->model, sizeof r->model, "%s", g.model);
    snprintf(r->data, sizeof r->data, "%s", g.data);
    r->batch = g.Ltr.o.batch;
    r->batches = g.batches;
    r->train_images = g.tr.n;
    r->seconds = sgd_now() - t0;
out:
    free(X);
    free(v);
    free(traj);
    free(epoch);
    if (rc) sgd_surface_result_free(r);
    geom_close(&g);
    return rc;
}
