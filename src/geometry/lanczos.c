/* Lanczos with full reorthogonalisation, and the tridiagonal eigenproblem
 * by LAPACK's dstev from the OpenBLAS the engine loads (nn/blas.c: linking
 * LAPACK would start OpenBLAS's spinning thread pool in every process).
 * Every inner product runs in index order in one thread: the bits do not
 * depend on the thread count (the operator's own products must not either). */
#include "nn/nn_internal.h"
#include "sgdscape/error.h"
#include "sgdscape/hessian.h"
#include "sgdscape/rng.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

void sgd_rademacher_fill(uint64_t seed, uint64_t stream, uint64_t step, double *z, size_t n)
{
    uint32_t w[4];
    for (size_t b = 0; b * 128 < n; b++) {
        sgd_rng_words(seed, SGD_RNG_HESSIAN, stream, step, (uint32_t)b, w);
        size_t end = n - b * 128 < 128 ? n - b * 128 : 128;
        for (size_t i = 0; i < end; i++) z[b * 128 + i] = (w[i >> 5] >> (i & 31)) & 1u ? 1.0 : -1.0;
    }
}

static double dot(const double *a, const double *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* w -= sum_i (q_i . w) q_i over rows 0..k-1 of Q, twice (CGS2: once is not
 * enough in floating point when w has lost most of its norm). */
static void reorthogonalise(const double *Q, size_t k, size_t n, double *w, double *c)
{
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < k; i++) c[i] = dot(Q + i * n, w, n);
        for (size_t i = 0; i < k; i++) {
            const double *q = Q + i * n;
            for (size_t t = 0; t < n; t++) w[t] -= c[i] * q[t];
        }
    }
}

void sgd_lanczos_free(sgd_lanczos *L)
{
    free(L->alpha);
    free(L->beta);
    free(L->Q);
    memset(L, 0, sizeof *L);
}

int sgd_lanczos_run(const sgd_linop *A, const double *v0, size_t m, uint64_t seed, uint64_t stream,
                    sgd_lanczos_stop_fn stop, void *stop_ctx, sgd_lanczos *L)
{
    memset(L, 0, sizeof *L);
    size_t n = A->n;
    if (n == 0 || m == 0) return sgd_error(SGD_EINVAL, "Lanczos: need n >= 1 and steps >= 1");
    if (m > n) m = n;
    L->n = n;
    L->alpha = calloc(m, sizeof *L->alpha);
    L->beta = calloc(m, sizeof *L->beta);
    L->Q = malloc(m * n * sizeof *L->Q);
    double *w = malloc(n * sizeof *w), *c = malloc(m * sizeof *c);
    int rc = SGD_OK;
    if (!L->alpha || !L->beta || !L->Q || !w || !c) {
        rc = sgd_error(SGD_ENOMEM, "out of memory for %zu Lanczos vectors of %zu entries", m, n);
        goto done;
    }
    double nv = sqrt(dot(v0, v0, n)), scale = 0;
    if (!(nv > 0) || !isfinite(nv)) {
        rc = sgd_error(SGD_EINVAL, "Lanczos: the start vector is zero or not finite");
        goto done;
    }
    for (size_t t = 0; t < n; t++) L->Q[t] = v0[t] / nv;
    uint64_t restart = 0;
    for (size_t j = 0; j < m; j++) {
        double *q = L->Q + j * n;
        if ((rc = A->apply(A->ctx, q, w))) goto done;
        L->alpha[j] = dot(q, w, n);
        L->m = j + 1;
        const double *qp = j ? q - n : q, bp = j ? L->beta[j - 1] : 0.0; /* q_{j-1} */
        for (size_t t = 0; t < n; t++) w[t] -= L->alpha[j] * q[t] + bp * qp[t];
        reorthogonalise(L->Q, j + 1, n, w, c);
        double b = sqrt(dot(w, w, n));
        if (!isfinite(b) || !isfinite(L->alpha[j])) {
            rc = sgd_error(SGD_EDIVERGED, "Lanczos: a Hessian-vector product is not finite (step %zu)", j + 1);
            goto done;
        }
        /* |T| grows with the steps; beta below eps |T| sqrt(n) is rounding:
         * the Krylov space is invariant */
        scale = fmax(scale, fabs(L->alpha[j]) + b + (j ? L->beta[j - 1] : 0.0));
        if (b <= 1e-14 * scale * sqrt((double)n)) {
            L->beta[j] = 0;
            if (j + 1 < m) { /* a fresh direction orthogonal to everything so far */
                double nb = 0;
                for (int tries = 0; tries < 4 && !(nb > 0.5); tries++) {
                    sgd_rademacher_fill(seed, stream, 1 + restart++, w, n);
                    reorthogonalise(L->Q, j + 1, n, w, c);
                    nb = sqrt(dot(w, w, n)) / sqrt((double)n);
                }
                if (!(nb > 1e-8)) break; /* the basis spans R^n up to rounding */
                nb *= sqrt((double)n);
                for (size_t t = 0; t < n; t++) q[n + t] = w[t] / nb;
            }
        } else {
            L->beta[j] = b;
            if (j + 1 < m)
                for (size_t t = 0; t < n; t++) q[n + t] = w[t] / b;
        }
        if (stop && j + 1 < m && stop(stop_ctx, L)) break;
    }
done:
    free(w);
    free(c);
    if (rc) sgd_lanczos_free(L);
    return rc;
}

typedef void (*dstev_fn)(const char *jobz, const int *n, double *d, double *e, double *z, const int *ldz,
                         double *work, int *info, size_t ljobz);

/* dstev_ of the OpenBLAS nn_blas_load loaded (single-threaded), looked up once. */
static dstev_fn dstev;
static pthread_once_t dstev_once = PTHREAD_ONCE_INIT;

static void dstev_lookup(void)
{
    *(void **)&dstev = nn_lapack_sym("dstev_");
    sgd_error_clear(); /* the caller says it when dstev is NULL */
}

int sgd_lanczos_ritz(const sgd_lanczos *L, double *theta, double *S)
{
    pthread_once(&dstev_once, dstev_lookup);
    if (!dstev) return sgd_error(SGD_EUNSUPPORTED, "LAPACK dstev_ not found in OpenBLAS (libopenblas.so.0)");
    int m = (int)L->m, info = 0;
    double *e = malloc((size_t)(3 * m + 1) * sizeof *e), *work = e + m;
    if (!e) return sgd_error(SGD_ENOMEM, "out of memory");
    memcpy(theta, L->alpha, (size_t)m * sizeof *theta);
    if (m > 1) memcpy(e, L->beta, (size_t)(m - 1) * sizeof *e);
    dstev(S ? "V" : "N", &m, theta, e, S, &m, work, &info, 1);
    free(e);
    if (info) return sgd_error(SGD_EDIVERGED, "LAPACK dstev failed (info %d) on the %d x %d tridiagonal matrix", info, m, m);
    return SGD_OK;
}
