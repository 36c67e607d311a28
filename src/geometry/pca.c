/* PCA of a trajectory {x_t - x_T}: the Gram matrix of the centred rows
 * (n x n, n = stored epochs + 1, small), its eigen-decomposition by LAPACK's
 * dsyevd from the OpenBLAS the engine loads (nn/blas.c: linking LAPACK would
 * load OpenBLAS's spinning thread pool into every process), and the top two
 * directions in parameter space. */
#include "geometry/geometry_internal.h"
#include "nn/nn_internal.h"
#include "sgdscape/io.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef void (*dsyevd_fn)(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
                          double *work, const int *lwork, int *iwork, const int *liwork, int *info, size_t ljobz,
                          size_t luplo);

int geom_dsyevd(int n, double *a, double *w)
{
    dsyevd_fn f;
    *(void **)&f = nn_lapack_sym("dsyevd_");
    if (!f) return SGD_EUNSUPPORTED;
    int rc = SGD_OK;
    int lwork = 1 + 6 * n + 2 * n * n, liwork = 3 + 5 * n, info = 0;
    double *work = malloc((size_t)lwork * sizeof *work);
    int *iwork = malloc((size_t)liwork * sizeof *iwork);
    if (!work || !iwork) rc = sgd_error(SGD_ENOMEM, "out of memory");
    else f("V", "L", &n, a, &n, w, work, &lwork, iwork, &liwork, &info, 1, 1);
    if (!rc && info) rc = sgd_error(SGD_EINVAL, "dsyevd: info %d (the eigenvalues did not converge)", info);
    free(work);
    free(iwork);
    return rc;
}

void sgd_pca_result_free(sgd_pca_result *r)
{
    free(r->epoch);
    free(r->variance);
    free(r->ratio);
    free(r->coords);
    free(r->dirs);
    memset(r, 0, sizeof *r);
}

/* G[i][j] = <x_i - mean, x_j - mean>, each entry a sum in index order (the
 * same bits for any thread count); the x_T of the rows x_t - x_T cancels. */
static void gram(const float *x, size_t n, size_t p, const double *mean, double *G)
{
#pragma omp parallel for schedule(dynamic)
    for (size_t q = 0; q < n * n; q++) {
        size_t i = q / n, j = q % n;
        if (j < i) continue;
        const float *a = x + i * p, *b = x + j * p;
        double s = 0;
        for (size_t k = 0; k < p; k++) s += ((double)a[k] - mean[k]) * ((double)b[k] - mean[k]);
        G[i * n + j] = G[j * n + i] = s;
    }
}

int sgd_pca_of(const float *x, size_t n, const float *xT, size_t p, sgd_pca_result *r)
{
    memset(r, 0, sizeof *r);
    if (n < 3 || n > 100000) return sgd_error(SGD_EINVAL, "pca: %zu points; need 3 or more (2 stored epochs and x_T)", n);
    r->n = n;
    r->p = p;
    double *mean = calloc(p, sizeof *mean), *G = malloc(n * n * sizeof *G), *w = malloc(n * sizeof *w);
    r->epoch = calloc(n, sizeof *r->epoch);
    r->variance = malloc(n * sizeof *r->variance);
    r->ratio = malloc(n * sizeof *r->ratio);
    r->coords = malloc(n * 2 * sizeof *r->coords);
    r->dirs = malloc(2 * p * sizeof *r->dirs);
    double *v = malloc(2 * p * sizeof *v);
    int rc = SGD_OK;
    if (!mean || !G || !w || !r->epoch || !r->variance || !r->ratio || !r->coords || !r->dirs || !v) {
        rc = sgd_error(SGD_ENOMEM, "out of memory for the PCA of %zu x %zu", n, p);
        goto out;
    }
    for (size_t t = 0; t < n; t++) {
        r->epoch[t] = t + 1 < n ? (int)t : -1;
        for (size_t k = 0; k < p; k++) mean[k] += (double)x[t * p + k];
    }
    for (size_t k = 0; k < p; k++) mean[k] /= (double)n;
    gram(x, n, p, mean, G);
    if ((rc = geom_dsyevd((int)n, G, w))) goto out;
    /* descending; the last eigenvalue is 0 (centring), rounding aside */
    double total = 0, tol = 1e-12 * fabs(w[n - 1]);
    for (size_t k = 0; k < n; k++)
        if (w[k] > tol) total += w[k];
    for (size_t k = 0; k < n; k++) {
        double e = w[n - 1 - k];
        if (!(e > tol) || k >= n - 1) break;
        r->variance[k] = e / (double)(n - 1);
        r->ratio[k] = e / total;
        r->ncomp++;
    }
    if (r->ncomp < 2) {
        rc = sgd_error(SGD_EINVAL, "pca: the trajectory spans fewer than 2 dimensions");
        goto out;
    }
    for (int c = 0; c < 2; c++) {
        const double *u = G + (n - 1 - (size_t)c) * n; /* column = row: column-major output */
        double s = sqrt(w[n - 1 - (size_t)c]), big = 0;
        double *d = v + (size_t)c * p;
#pragma omp parallel for schedule(static)
        for (size_t k = 0; k < p; k++) {
            double acc = 0;
            for (size_t t = 0; t < n; t++) acc += u[t] * ((double)x[t * p + k] - mean[k]);
            d[k] = acc / s;
        }
        for (size_t k = 0; k < p; k++)
            if (fabs(d[k]) > fabs(big)) big = d[k];
        double sign = big < 0 ? -1 : 1;
        for (size_t k = 0; k < p; k++) {
            d[k] *= sign;
            r->dirs[(size_t)c * p + k] = (float)d[k];
        }
        for (size_t t = 0; t < n; t++) {
            double acc = 0;
            for (size_t k = 0; k < p; k++) acc += ((double)x[t * p + k] - (double)xT[k]) * d[k];
            r->coords[t * 2 + (size_t)c] = acc;
        }
    }
out:
    free(mean);
    free(G);
    free(w);
    free(v);
    if (rc) sgd_pca_result_free(r);
    return rc;
}

int sgd_pca_run(const sgd_pca_config *c, sgd_pca_result *r, sgd_geom_progress_fn progress, void *ctx)
{
    memset(r, 0, sizeof *r);
    if (!c->run) return sgd_error(SGD_EINVAL, "pca: give a train run directory");
    double t0 = sgd_now();
    sgd_geom_source s;
    sgd_geom_source_defaults(&s);
    s.run = c->run;
    s.batches = s.bn_batches = 0; /* no f here */
    geom_ctx g;
    float *x = NULL;
    int *epoch = NULL;
    size_t n = 0;
    int rc = geom_open(&s, 0, &g);
    if (!rc) rc = geom_load_traj(&g, &x, &epoch, &n);
    if (progress && !rc) progress(ctx, 1, 2);
    if (!rc) rc = sgd_pca_of(x, n, x + (n - 1) * g.p, g.p, r);
    if (!rc) {
        memcpy(r->epoch, epoch, n * sizeof *epoch);
        r->seconds = sgd_now() - t0;
        if (progress) progress(ctx, 2, 2);
    }
    free(x);
    free(epoch);
    geom_close(&g);
    return rc;
}
