/* Curvature instruments (hessian.h) against closed forms:
 *   Lanczos: the top and bottom eigenvalues of A = D + U U^T (D diagonal,
 *     U n x 3) equal those of the same matrix by GSL's dense symmetric
 *     solver to 1e-10,
 *     and a repeated eigenvalue is found with its multiplicity;
 *   the landscape path: quadratic:cond=1000 gives a_i = 1000^(i/(d-1)) exactly,
 *     a formula's Hessian matches by hand, central differences to 1e-6;
 *   Hutchinson: the 95% interval covers tr A in >= 90 of 100 seeds;
 *   SLQ: the density integrates to 1 and its mean is tr A / n (to its
 *     Monte Carlo error), and equals the Hutchinson mean of the same vectors;
 *   one seed gives the same bits with 1 and 2 threads. */
#include "check.h"
#include "sgdscape/hessian.h"
#include "sgdscape/landscape.h"

#include <gsl/gsl_eigen.h>
#include <gsl/gsl_sort_vector.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define N 200
#define R 3

typedef struct dlr {
    double D[N], U[R][N];
} dlr;

static int dlr_apply(void *ctx, const double *v, double *hv)
{
    const dlr *a = ctx;
    for (size_t i = 0; i < N; i++) hv[i] = a->D[i] * v[i];
    for (int k = 0; k < R; k++) {
        double c = 0;
        for (size_t i = 0; i < N; i++) c += a->U[k][i] * v[i];
        for (size_t i = 0; i < N; i++) hv[i] += c * a->U[k][i];
    }
    return SGD_OK;
}

static void dlr_init(dlr *a)
{
    /* D = 5 s^3 over s in [-1, 1]: dense in the middle, separated at both ends
     * (negative curvature too); U fixed pseudo-random */
    for (size_t i = 0; i < N; i++) {
        double s = 2.0 * (double)i / (N - 1) - 1.0;
        a->D[i] = 5.0 * s * s * s;
    }
    unsigned s = 12345;
    for (int k = 0; k < R; k++)
        for (size_t i = 0; i < N; i++) {
            s = s * 1103515245u + 12345u;
            a->U[k][i] = ((double)(s >> 8) / (double)(1u << 24) - 0.5) * 1.5;
        }
}

/* The spectrum of a dense symmetric n x n matrix M (overwritten), ascending,
 * by GSL: another solver than the one under test. */
static void dense_eigs(double *M, size_t n, double *w)
{
    gsl_matrix_view mv = gsl_matrix_view_array(M, n, n);
    gsl_vector_view wv = gsl_vector_view_array(w, n);
    gsl_eigen_symm_workspace *ws = gsl_eigen_symm_alloc(n);
    gsl_eigen_symm(&mv.matrix, &wv.vector, ws);
    gsl_eigen_symm_free(ws);
    gsl_sort_vector(&wv.vector);
}

static void dlr_eigs(const dlr *a, double *w)
{
    static double M[N * N];
    double e[N], v[N];
    for (size_t j = 0; j < N; j++) {
        memset(e, 0, sizeof e);
        e[j] = 1;
        dlr_apply((void *)a, e, v);
        for (size_t i = 0; i < N; i++) M[i * N + j] = v[i];
    }
    dense_eigs(M, N, w);
}

static double dlr_trace(const dlr *a)
{
    double t = 0;
    for (size_t i = 0; i < N; i++) {
        t += a->D[i];
        for (int k = 0; k < R; k++) t += a->U[k][i] * a->U[k][i];
    }
    return t;
}

static void test_lanczos(const dlr *a, const double *w)
{
    sgd_linop op = {N, dlr_apply, (void *)a};
    sgd_hessian_config c;
    sgd_hessian_defaults(&c);
    c.op = &op;
    c.top = 4;
    c.bottom = 3;
    c.lanczos_steps = 150; /* converged by the residual test before that, not by exhaustion */
    c.vectors = 1;
    sgd_hessian_result r;
    CHECK(sgd_hessian_run(&c, &r, NULL, NULL) == SGD_OK);
    CHECK(r.ntop == 4 && r.nbottom == 3 && r.converged && r.lanczos_steps < 150);
    for (size_t i = 0; i < 4; i++) CHECK_CLOSE(r.top[i], w[N - 1 - i], 1e-10, 1e-10);
    for (size_t i = 0; i < 3; i++) CHECK_CLOSE(r.bottom[i], w[i], 1e-10, 1e-10);
    /* the eigenvector: A y = lambda y, |y| = 1 */
    double hv[N], ny = 0, res = 0;
    dlr_apply((void *)a, r.top_vecs, hv);
    for (size_t i = 0; i < N; i++) {
        ny += r.top_vecs[i] * r.top_vecs[i];
        res += (hv[i] - r.top[0] * r.top_vecs[i]) * (hv[i] - r.top[0] * r.top_vecs[i]);
    }
    CHECK_CLOSE(ny, 1.0, 1e-12, 0);
    CHECK(sqrt(res) < 1e-8);
    printf("Lanczos: %zu steps, top %.15g (exact %.15g), bottom %.15g (exact %.15g)\n", r.lanczos_steps, r.top[0],
           w[N - 1], r.bottom[0], w[0]);
    sgd_hessian_result_free(&r);
}

/* A = diag(3,3,3,1,...,1) + 0: the Krylov space of one vector sees 3 once;
 * the restarts find all three copies. */
static int diag_apply(void *ctx, const double *v, double *hv)
{
    (void)ctx;
    for (size_t i = 0; i < 8; i++) hv[i] = (i < 3 ? 3.0 : 1.0) * v[i];
    return SGD_OK;
}

static void test_multiplicity(void)
{
    sgd_linop op = {8, diag_apply, NULL};
    sgd_hessian_config c;
    sgd_hessian_defaults(&c);
    c.op = &op;
    c.top = 4;
    sgd_hessian_result r;
    CHECK(sgd_hessian_run(&c, &r, NULL, NULL) == SGD_OK);
    CHECK(r.ntop == 4);
    for (size_t i = 0; i < 3; i++) CHECK_CLOSE(r.top[i], 3.0, 1e-12, 0);
    CHECK_CLOSE(r.top[3], 1.0, 1e-12, 0);
    sgd_hessian_result_free(&r);
}

static void test_landscape(void)
{
    size_t d = 12;
    sgd_landscape *f = sgd_landscape_create("quadratic:cond=1000", d);
    CHECK(f != NULL);
    if (!f) return;
    double x[12];
    for (size_t i = 0; i < d; i++) x[i] = 0.1 * (double)i - 0.4;
    sgd_hessian_config c;
    sgd_hessian_defaults(&c);
    c.f = f;
    c.x = x;
    c.top = 3;
    c.bottom = 3;
    for (int fd = 0; fd < 2; fd++) {
        c.fd = fd;
        sgd_hessian_result r;
        CHECK(sgd_hessian_run(&c, &r, NULL, NULL) == SGD_OK);
        double tol = fd ? 1e-6 : 1e-11; /* differences of a quadratic's gradient: rounding only */
        for (size_t i = 0; i < 3; i++) {
            CHECK_CLOSE(r.top[i], pow(1000.0, (double)(d - 1 - i) / (double)(d - 1)), 0, tol);
            CHECK_CLOSE(r.bottom[i], pow(1000.0, (double)i / (double)(d - 1)), 0, tol);
        }
        CHECK_CLOSE(r.top[0] / r.bottom[0], 1000.0, 0, fd ? 1e-6 : 1e-11);
        CHECK(strstr(r.hvp, fd ? "central differences" : "exact Hessian") != NULL);
        sgd_hessian_result_free(&r);
    }
    sgd_landscape_free(f);
    /* f = x1^2 + 100 x2^2 + x1 x2 x3 at (1, 2, 3): H = [[2, 3, 2], [3, 200, 1], [2, 1, 0]], trace 202 */
    f = sgd_landscape_create("x1^2 + 100*x2^2 + x1*x2*x3", 3);
    CHECK(f != NULL);
    if (!f) return;
    double y[3] = {1, 2, 3}, M[9] = {2, 3, 2, 3, 200, 1, 2, 1, 0}, w[3];
    dense_eigs(M, 3, w);
    sgd_hessian_defaults(&c);
    c.f = f;
    c.x = y;
    c.top = 3;
    c.trace_samples = 50;
    sgd_hessian_result r;
    CHECK(sgd_hessian_run(&c, &r, NULL, NULL) == SGD_OK);
    for (int i = 0; i < 3; i++) CHECK_CLOSE(r.top[i], w[2 - i], 1e-12, 1e-12);
    CHECK(r.trace_lo <= 202 && 202 <= r.trace_hi);
    CHECK_CLOSE(r.fx, 1 + 400 + 6, 0, 1e-15);
    sgd_hessian_result_free(&r);
    sgd_landscape_free(f);
}

static void test_hutchinson(const dlr *a)
{
    sgd_linop op = {N, dlr_apply, (void *)a};
    double tr = dlr_trace(a), s[40], m, se, lo, hi;
    int cover = 0;
    for (uint64_t seed = 1; seed <= 100; seed++) {
        CHECK(sgd_hutchinson(&op, 40, 0.95, seed, s, &m, &se, &lo, &hi) == SGD_OK);
        cover += lo <= tr && tr <= hi;
    }
    printf("Hutchinson: 95%% interval covers tr A = %.6g in %d of 100 seeds\n", tr, cover);
    CHECK(cover >= 90);
    /* and it is a real interval, not the whole line */
    CHECK(hi - lo < 0.5 * fabs(tr) + 10);
}

static void test_slq(const dlr *a)
{
    sgd_linop op = {N, dlr_apply, (void *)a};
    sgd_hessian_config c;
    sgd_hessian_defaults(&c);
    c.op = &op;
    c.top = 0;
    c.density_runs = 20;
    c.density_steps = 30;
    c.trace_samples = 20; /* the same seed: the SLQ starts are other streams */
    sgd_hessian_result r;
    CHECK(sgd_hessian_run(&c, &r, NULL, NULL) == SGD_OK);
    double tr = dlr_trace(a);
    CHECK_CLOSE(r.density_mass, 1.0, 1e-6, 0);
    /* mean = (1/R) sum z^T A z / n: a Hutchinson estimate of tr/n; within 4 of its standard errors */
    double se = r.trace_se / (double)N;
    printf("SLQ: mass %.9f, mean %.6g, tr/n %.6g (se %.3g)\n", r.density_mass, r.density_mean, tr / N, se);
    CHECK(fabs(r.density_mean - tr / N) < 4 * se + 1e-12);
    /* its own identity: the weights of each run sum to 1, sum tau theta = alpha_1 = z^T A z / n */
    double *tz = malloc(N * 2 * sizeof *tz), az = 0;
    sgd_rademacher_fill(c.seed, 2ull << 62, 0, tz, N);
    dlr_apply((void *)a, tz, tz + N);
    for (size_t i = 0; i < N; i++) az += tz[i] * tz[N + i];
    double wsum = 0, first = 0;
    for (size_t i = 0; i < r.density_steps; i++) {
        wsum += r.slq_weights[i];
        first += r.slq_weights[i] * r.slq_nodes[i];
    }
    CHECK_CLOSE(wsum, 1.0, 1e-12, 0);
    CHECK_CLOSE(first, az / N, 1e-12, 1e-12);
    free(tz);
    sgd_hessian_result_free(&r);
}

static void test_threads(void)
{
    size_t d = 300; /* dense products split over threads from d >= 256 */
    sgd_landscape *f = sgd_landscape_create("x1*x2 + sum(sin(x)^2 + 0.3*x^4)", d);
    CHECK(f != NULL);
    if (!f) return;
    double *x = malloc(d * sizeof *x);
    for (size_t i = 0; i < d; i++) x[i] = sin((double)i);
    sgd_hessian_config c;
    sgd_hessian_defaults(&c);
    c.f = f;
    c.x = x;
    c.top = 2;
    c.bottom = 2;
    c.trace_samples = 5;
    c.density_runs = 2;
    c.density_steps = 20;
    sgd_hessian_result r1, r2;
    omp_set_num_threads(1);
    CHECK(sgd_hessian_run(&c, &r1, NULL, NULL) == SGD_OK);
    omp_set_num_threads(2);
    CHECK(sgd_hessian_run(&c, &r2, NULL, NULL) == SGD_OK);
    CHECK(memcmp(r1.top, r2.top, 2 * sizeof(double)) == 0 && memcmp(r1.bottom, r2.bottom, 2 * sizeof(double)) == 0);
    CHECK(r1.trace == r2.trace);
    CHECK(memcmp(r1.density, r2.density, r1.grid * sizeof(double)) == 0);
    sgd_hessian_result_free(&r1);
    sgd_hessian_result_free(&r2);
    free(x);
    sgd_landscape_free(f);
}

static void test_errors(void)
{
    sgd_linop op = {8, diag_apply, NULL};
    sgd_hessian_config c;
    sgd_hessian_result r;
    sgd_hessian_defaults(&c);
    c.op = &op;
    c.top = 5;
    c.bottom = 4; /* 9 > n = 8 */
    CHECK(sgd_hessian_run(&c, &r, NULL, NULL) == SGD_EINVAL);
    c.top = c.bottom = 0; /* nothing asked */
    CHECK(sgd_hessian_run(&c, &r, NULL, NULL) == SGD_EINVAL);
    c.top = 1;
    c.lanczos_steps = 1;
    c.bottom = 1;
    CHECK(sgd_hessian_run(&c, &r, NULL, NULL) == SGD_EINVAL);
}

int main(void)
{
    static dlr a;
    double w[N];
    dlr_init(&a);
    dlr_eigs(&a, w);
    test_lanczos(&a, w);
    test_multiplicity();
    test_landscape();
    test_hutchinson(&a);
    test_slq(&a);
    test_threads();
    test_errors();
    return check_done();
}
