/* The directions of a surface: random and filter-normalised (Li et al.
 * 2018), and the coordinates of a trajectory in the plane they span. */
#include "geometry/geometry_internal.h"
#include "sgdscape/rng.h"

#include <math.h>
#include <stdlib.h>

int sgd_geom_filter_normalize(const sgd_net *net, const float *x, double *d, int keep_bias_bn)
{
    size_t nt = sgd_net_ntensors(net);
    for (size_t t = 0; t < nt; t++) {
        sgd_net_tensor T;
        int rc = sgd_net_tensor_info(net, t, &T);
        if (rc) return rc;
        if (T.is_buffer) continue;
        if (T.ndim <= 1) { /* biases, BN weights and biases */
            for (size_t i = 0; i < T.count; i++) d[T.offset + i] = keep_bias_bn ? (double)x[T.offset + i] : 0.0;
            continue;
        }
        size_t nf = T.shape[0], per = T.count / nf;
        for (size_t f = 0; f < nf; f++) {
            const float *xf = x + T.offset + f * per;
            double *df = d + T.offset + f * per, nx = 0, nd = 0;
            for (size_t i = 0; i < per; i++) {
                nx += (double)xf[i] * (double)xf[i];
                nd += df[i] * df[i];
            }
            double scale = sqrt(nx) / (sqrt(nd) + 1e-10);
            for (size_t i = 0; i < per; i++) df[i] *= scale;
        }
    }
    return SGD_OK;
}

int sgd_geom_random_direction(const sgd_net *net, const float *x, uint64_t seed, int k, int keep_bias_bn, double *d)
{
    sgd_rng_normal_fill(seed, SGD_RNG_GEOMETRY, (uint64_t)k, 0, d, sgd_net_nparams(net));
    return sgd_geom_filter_normalize(net, x, d, keep_bias_bn);
}

void geom_project(const float *y, const float *X, const double *d1, const double *d2, size_t p, double *ab,
                  double *resid)
{
    /* least squares of y - X = a d1 + b d2: the 2 x 2 normal equations */
    double g11 = 0, g12 = 0, g22 = 0, r1 = 0, r2 = 0, yy = 0;
    for (size_t i = 0; i < p; i++) {
        double v = (double)y[i] - (double)X[i];
        g11 += d1[i] * d1[i];
        g12 += d1[i] * d2[i];
        g22 += d2[i] * d2[i];
        r1 += d1[i] * v;
        r2 += d2[i] * v;
        yy += v * v;
    }
    double det = g11 * g22 - g12 * g12;
    ab[0] = det > 0 ? (g22 * r1 - g12 * r2) / det : NAN;
    ab[1] = det > 0 ? (g11 * r2 - g12 * r1) / det : NAN;
    double e = 0;
    for (size_t i = 0; i < p; i++) {
        double v = (double)y[i] - (double)X[i] - ab[0] * d1[i] - ab[1] * d2[i];
        e += v * v;
    }
    *resid = yy > 0 ? sqrt(e / yy) : 0;
}
