/* OpenBLAS, loaded when a network first needs it.
 *
 * Why not linked: the pthread build of OpenBLAS (Debian's default) starts its
 * thread pool when the library is loaded, and each idle worker then spins on
 * a core for about 0.1 s (its thread timeout) - in every process, including
 * those that never multiply a matrix. A 2-thread Monte Carlo run lost its
 * second core to it (measured: CPU time = 2 x wall time with --threads 1).
 * The engine never wants that pool anyway: it calls sgemm from its own
 * OpenMP threads, one single-threaded call each (sums then do not depend on
 * the thread count). So we load OpenBLAS on first use with
 * OPENBLAS_NUM_THREADS=1, and no pool exists.
 *
 * Why sgemm_ and not cblas_sgemm: the library also links GSL, whose
 * libgslcblas exports a naive cblas_sgemm (10x slower) that won symbol
 * resolution when it came first; sgemm_ exists only in OpenBLAS. */
#include "nn/nn_internal.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "sgdscape/error.h"

typedef void (*sgemm_fn)(const char *, const char *, const int *, const int *, const int *, const float *,
                         const float *, const int *, const float *, const int *, const float *, float *,
                         const int *);
typedef void (*dgemm_fn)(const char *, const char *, const int *, const int *, const int *, const double *,
                         const double *, const int *, const double *, const int *, const double *, double *,
                         const int *);

static struct {
    sgemm_fn sgemm;
    dgemm_fn dgemm;   /* the float64 Hessian-vector executor's (hvp.c) */
    void *handle;     /* OpenBLAS, kept open: its LAPACK too (nn_lapack_sym) */
    char err[256];
} blas;

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

static void blas_load(void)
{
    /* read by OpenBLAS when it initialises, i.e. during dlopen; a process
     * that already loaded OpenBLAS keeps its own setting (below) */
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
    void *h = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(blas.err, sizeof blas.err, "cannot load OpenBLAS (libopenblas.so.0; Debian: libopenblas0): %s",
                 dlerror());
        return;
    }
    blas.handle = h;
    blas.sgemm = (sgemm_fn)dlsym(h, "sgemm_");
    blas.dgemm = (dgemm_fn)dlsym(h, "dgemm_");
    if (!blas.sgemm || !blas.dgemm) {
        snprintf(blas.err, sizeof blas.err, "libopenblas.so.0 has no symbol %s", blas.sgemm ? "dgemm_" : "sgemm_");
        return;
    }
    /* Already loaded with a pool (the host program linked it): make the pthread
     * build single-threaded. Not the OpenMP build (openblas_get_parallel() == 2),
     * whose setter would change this process's OpenMP thread count. */
    int (*parallel)(void) = NULL;
    void (*set_threads)(int) = NULL;
    *(void **)&parallel = dlsym(h, "openblas_get_parallel");
    *(void **)&set_threads = dlsym(h, "openblas_set_num_threads");
    if (parallel && set_threads && parallel() == 1) set_threads(1);
}

int nn_blas_load(void)
{
    pthread_once(&blas_once, blas_load);
    return blas.sgemm && blas.dgemm ? SGD_OK : sgd_error(SGD_EUNSUPPORTED, "%s", blas.err);
}

void *nn_lapack_sym(const char *name)
{
    if (nn_blas_load()) return NULL;
    void *f = dlsym(blas.handle, name);
    if (!f) sgd_error(SGD_EUNSUPPORTED, "LAPACK %s not found in OpenBLAS (libopenblas.so.0)", name);
    return f;
}

/* Row-major C = op(A) op(B) as column-major C^T = op(B)^T op(A)^T.
 * sgd_net_create refuses to build a network without OpenBLAS; a kernel
 * called directly (the tests) loads it here, and without it gets the
 * textbook loop rather than a crash. */
void nn_sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
              float beta, float *C, int ldc)
{
    pthread_once(&blas_once, blas_load);
    if (blas.sgemm) {
        const char *cta = ta ? "T" : "N", *ctb = tb ? "T" : "N";
        blas.sgemm(ctb, cta, &N, &M, &K, &alpha, B, &ldb, A, &lda, &beta, C, &ldc);
        return;
    }
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float s = 0;
            for (int k = 0; k < K; k++) s += (ta ? A[k * lda + i] : A[i * lda + k]) * (tb ? B[j * ldb + k] : B[k * ldb + j]);
            C[i * ldc + j] = alpha * s + (beta == 0 ? 0.0f : beta * C[i * ldc + j]);
        }
}

/* nn_sgemm in float64, for the Hessian-vector executor (hvp.c), which runs
 * only on a network, i.e. with OpenBLAS loaded (nn_blas_load): no fallback. */
void nn_dgemm(int ta, int tb, int M, int N, int K, double alpha, const double *A, int lda, const double *B,
              int ldb, double beta, double *C, int ldc)
{
    const char *cta = ta ? "T" : "N", *ctb = tb ? "T" : "N";
    blas.dgemm(ctb, cta, &N, &M, &K, &alpha, B, &ldb, A, &lda, &beta, C, &ldc);
}
