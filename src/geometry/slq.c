/* Trace and spectral density from random probes: Hutchinson's estimator and
 * stochastic Lanczos quadrature. Probe s (or run r) draws its Rademacher
 * vector from its own counter stream, so each is the same whatever else is
 * asked for. */
#include "geometry/hessian_internal.h"

#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int hess_trace_sample(const sgd_linop *A, uint64_t seed, size_t s, double *z, double *q)
{
    size_t n = A->n;
    double *hz = z + n, acc = 0;
    sgd_rademacher_fill(seed, HESS_STREAM_TRACE + s, 0, z, n);
    int rc = A->apply(A->ctx, z, hz);
    if (rc) return rc;
    for (size_t i = 0; i < n; i++) acc += z[i] * hz[i];
    *q = acc;
    return isfinite(acc) ? SGD_OK : sgd_error(SGD_EDIVERGED, "Hutchinson: z^T H z is not finite (sample %zu)", s + 1);
}

int sgd_hutchinson(const sgd_linop *A, size_t samples, double confidence, uint64_t seed, double *sample, double *mean,
                   double *se, double *lo, double *hi)
{
    size_t n = A->n;
    if (samples < 1) return sgd_error(SGD_EINVAL, "Hutchinson: need at least one sample");
    if (!(confidence > 0 && confidence < 1)) return sgd_error(SGD_EINVAL, "Hutchinson: confidence must be in (0, 1)");
    double *z = malloc(2 * n * sizeof *z);
    if (!z) return sgd_error(SGD_ENOMEM, "out of memory for two vectors of %zu entries", n);
    int rc = SGD_OK;
    for (size_t s = 0; s < samples && !rc; s++) rc = hess_trace_sample(A, seed, s, z, &sample[s]);
    free(z);
    return rc ? rc : hess_trace_stats(sample, samples, confidence, mean, se, lo, hi);
}

int hess_trace_stats(const double *sample, size_t samples, double confidence, double *mean, double *se, double *lo,
                     double *hi)
{
    double m = 0, v = 0;
    for (size_t s = 0; s < samples; s++) m += sample[s];
    m /= (double)samples;
    for (size_t s = 0; s < samples; s++) v += (sample[s] - m) * (sample[s] - m);
    *mean = m;
    if (samples < 2) {
        *se = *lo = *hi = NAN;
        return SGD_OK;
    }
    *se = sqrt(v / (double)(samples - 1) / (double)samples);
    double t = gsl_cdf_tdist_Pinv(0.5 + 0.5 * confidence, (double)(samples - 1));
    *lo = m - t * *se;
    *hi = m + t * *se;
    return SGD_OK;
}

int sgd_slq(const sgd_linop *A, size_t runs, size_t steps, uint64_t seed, double *nodes, double *weights)
{
    size_t n = A->n;
    if (runs < 1 || steps < 1) return sgd_error(SGD_EINVAL, "SLQ: need runs >= 1 and steps >= 1");
    double *z = malloc(n * sizeof *z), *S = malloc(steps * steps * sizeof *S);
    int rc = z && S ? SGD_OK : sgd_error(SGD_ENOMEM, "out of memory for SLQ (%zu steps, n = %zu)", steps, n);
    for (size_t r = 0; r < runs && !rc; r++) rc = hess_slq_run(A, steps, seed, r, z, S, nodes + r * steps, weights + r * steps);
    free(z);
    free(S);
    return rc;
}

int hess_slq_run(const sgd_linop *A, size_t steps, uint64_t seed, size_t r, double *z, double *S, double *nodes,
                 double *weights)
{
    sgd_lanczos L;
    for (size_t i = 0; i < steps; i++) nodes[i] = weights[i] = NAN;
    sgd_rademacher_fill(seed, HESS_STREAM_SLQ + r, 0, z, A->n);
    int rc = sgd_lanczos_run(A, z, steps, seed, HESS_STREAM_SLQ + r, NULL, NULL, &L);
    if (rc) return rc;
    /* Gauss quadrature of the measure sum_i (q_1 . u_i)^2 delta(lambda_i): nodes
     * the Ritz values, weights the squared first components */
    rc = sgd_lanczos_ritz(&L, nodes, S);
    for (size_t i = 0; !rc && i < L.m; i++) weights[i] = S[i * L.m] * S[i * L.m];
    sgd_lanczos_free(&L);
    return rc;
}

int sgd_slq_density(const double *nodes, const double *weights, size_t runs, size_t steps, double *sigma,
                    size_t grid, double *t, double *rho)
{
    if (grid < 2) return sgd_error(SGD_EINVAL, "SLQ density: need at least 2 grid points");
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < runs * steps; i++)
        if (!isnan(nodes[i])) {
            lo = fmin(lo, nodes[i]);
            hi = fmax(hi, nodes[i]);
        }
    if (!(lo <= hi)) return sgd_error(SGD_EINVAL, "SLQ density: no nodes");
    double s = *sigma;
    if (isnan(s)) {
        s = 0.01 * (hi - lo);
        if (!(s > 0)) s = 0.01 * fmax(fabs(lo), fabs(hi));
        if (!(s > 0)) s = 1;
    }
    if (!(s > 0) || !isfinite(s)) return sgd_error(SGD_EINVAL, "SLQ density: sigma must be > 0");
    *sigma = s;
    double a = lo - 5 * s, b = hi + 5 * s, c = 1.0 / (s * sqrt(2 * M_PI) * (double)runs);
    for (size_t g = 0; g < grid; g++) {
        t[g] = a + (b - a) * (double)g / (double)(grid - 1);
        double acc = 0;
        for (size_t i = 0; i < runs * steps; i++) {
            if (isnan(nodes[i])) continue;
            double u = (t[g] - nodes[i]) / s;
            acc += weights[i] * exp(-0.5 * u * u);
        }
        rho[g] = acc * c;
    }
    return SGD_OK;
}
