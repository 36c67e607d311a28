/* Batch norm (+ fused ReLU), forward and backward side by side. Its
 * statistics and backward sums are per (sample, channel) partials added
 * per channel in sample order, in double, so the bits do not depend on the
 * thread count (layers.c). */
#include "nn/nn_internal.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#define BN_EPS 1e-5

/* Row reductions in 8 float lanes (vectorisable without reassociation
 * flags; the order is fixed, so still deterministic), rows summed in double. */
#define LANES 8
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
static double lane_total(const float *acc)
{
    double t = 0;
    for (int k = 0; k < LANES; k++) t += acc[k];
    return t;
}

/* ---- batch norm ------------------------------------------------------- */
static double row_sum(const float *p, size_t m)
{
    float acc[LANES] = {0};
    size_t j = 0;
    for (; j + LANES <= m; j += LANES)
        for (int k = 0; k < LANES; k++) acc[k] += p[j + k];
    double t = lane_total(acc);
    for (; j < m; j++) t += p[j];
    return t;
}

static double row_sqdev(const float *p, size_t m, float mu)
{
    float acc[LANES] = {0};
    size_t j = 0;
    for (; j + LANES <= m; j += LANES)
        for (int k = 0; k < LANES; k++) {
            float d = p[j + k] - mu;
            acc[k] += d * d;
        }
    double t = lane_total(acc);
    for (; j < m; j++) t += (double)(p[j] - mu) * (p[j] - mu);
    return t;
}

/* sum dz and sum dz (x - mu), dz = dy masked by y > 0 when relu, where
 * y > 0 is tested as x * ys + yb > 0 with the forward's float scale and
 * shift (bn_out_channel computes y from exactly that value, so the mask is
 * the same bit for bit): backward need not read y, one stream less in
 * both of its memory-bound passes. */
static void row_dz(const float *p, const float *d, float ys, float yb, size_t m, float mu, int relu,
                   double *sdz, double *sdzx)
{
    float a1[LANES] = {0}, a2[LANES] = {0};
    size_t j = 0;
    /* The masked loop was left scalar by GCC (13% of a ResNet-20 step), so
     * it is written with vector extensions: the same 8 lanes and the same
     * arithmetic per lane as the plain loop below; dz = dy where y > 0,
     * else +0, selected by bit mask. */
    /* Without the ReLU the same loop minus the mask: GCC kept the plain
     * lane loop partly scalar too (non-ReLU BN backward ran ~1.7x slower
     * than the masked one). */
    v8f A1 = {0}, A2 = {0};
    if (relu)
        for (; j + LANES <= m; j += LANES) {
            v8f pv, dv;
            memcpy(&pv, p + j, sizeof pv);
            memcpy(&dv, d + j, sizeof dv);
            v8f yv = pv * ys + yb;
            v8f dz = (v8f)((v8i)dv & (yv > 0.0f));
            A1 += dz;
            A2 += dz * (pv - mu);
        }
    else
        for (; j + LANES <= m; j += LANES) {
            v8f pv, dz;
            memcpy(&pv, p + j, sizeof pv);
            memcpy(&dz, d + j, sizeof dz);
            A1 += dz;
            A2 += dz * (pv - mu);
        }
    memcpy(a1, &A1, sizeof A1);
    memcpy(a2, &A2, sizeof A2);
    double t1 = lane_total(a1), t2 = lane_total(a2);
    for (; j < m; j++) {
        float dz = (!relu || p[j] * ys + yb > 0) ? d[j] : 0.0f;
        t1 += dz;
        t2 += (double)dz * (p[j] - mu);
    }
    *sdz += t1;
    *sdzx += t2;
}

/* Channel c's forward as y = x a + sh in float: the one place these
 * coefficients are rounded, so backward's ReLU mask (x a + sh > 0) is the
 * forward's bit for bit. */
static inline void bn_affine(const float *g, const float *b, const double *mean, const double *invstd, int c,
                             float *a, float *sh)
{
    double mu = mean[c], is = invstd[c];
    *a = (float)(g[c] * is);
    *sh = (float)(b[c] - mu * g[c] * is);
}

/* y = g (x - mean) invstd + b of channel c, with the ReLU when relu */
static void bn_out_channel(const nn_view *x, const float *g, const float *b, int relu, size_t n,
                           const double *mean, const double *invstd, int c, nn_view *y)
{
    size_t hw = (size_t)x->h * x->w;
    float a, sh;
    bn_affine(g, b, mean, invstd, c, &a, &sh);
    for (size_t i = 0; i < n; i++) {
        const float *p = nn_smp(x, i) + c * hw;
        float *q = nn_smp(y, i) + c * hw;
        if (relu)
            for (size_t j = 0; j < hw; j++) {
                float v = p[j] * a + sh;
                q[j] = v > 0 ? v : 0.0f;
            }
        else
            for (size_t j = 0; j < hw; j++) q[j] = p[j] * a + sh;
    }
}

/* BN is split at its two batch-wide reductions, so that the executor
 * (net_exec.c) can run everything between them sample by sample (in chunks):
 *
 *   forward:  bn_stats (per sample) | bn_stats_combine | bn_apply (per sample)
 *   backward: bn_bwd_sums (per sample) | bn_bwd_combine | bn_bwd_dx (per sample)
 *
 * The per-sample parts write per (sample, channel) partials; the combines
 * add them per channel in sample order, so the result does not depend on
 * how the samples were split between threads. */

/* Per sample i and channel c: part[3 (i C + c) ...] = the row's sum s, its
 * mean m = (float)(s / hw) and q = sum (x - m)^2. Both passes over the row
 * run while it is in L1 (one pass over memory instead of two). */
static void bn_stats_team(const nn_view *x, size_t n, double *part)
{
    int C = x->c;
    size_t hw = (size_t)x->h * x->w;
#pragma omp for schedule(static)
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < C; c++) {
            const float *p = nn_smp(x, i) + c * hw;
            double s = row_sum(p, hw);
            float m = (float)(s / (double)hw);
            double *o = part + 3 * (i * (size_t)C + (size_t)c);
            o[0] = s;
            o[1] = row_sqdev(p, hw, m);
            o[2] = m;
        }
}

void nn_bn_stats(const nn_view *x, size_t n, double *part)
{
    NN_TEAM(bn_stats_team(x, n, part));
}

/* Batch mean and variance per channel from the partials (train), or the
 * running statistics (eval); updates the running statistics in train mode
 * when rm, rv are given. Serial: C x n additions. Per channel, with
 * M = n hw and mu the batch mean, sum over the row of (x - mu)^2 is
 * q + 2 (m - mu)(s - hw m) + hw (m - mu)^2 (exact in real arithmetic;
 * each term is small when m is near the row mean, so no cancellation). */
void nn_bn_stats_combine(int C, size_t hw, size_t n, const double *part, float *rm, float *rv,
                         int train, double *mean, double *invstd)
{
    double M = (double)n * hw;
    for (int c = 0; c < C; c++) {
        double mu, var;
        if (train) {
            double S = 0;
            for (size_t i = 0; i < n; i++) S += part[3 * (i * (size_t)C + (size_t)c)];
            mu = S / M;
            double Q = 0;
            for (size_t i = 0; i < n; i++) {
                const double *o = part + 3 * (i * (size_t)C + (size_t)c);
                double d = o[2] - mu;
                Q += o[1] + 2 * d * (o[0] - (double)hw * o[2]) + (double)hw * d * d;
            }
            var = Q / M;
            if (var < 0) var = 0;
            if (rm && rv) {
                rm[c] = (float)(0.9 * rm[c] + 0.1 * mu);
                rv[c] = (float)(0.9 * rv[c] + 0.1 * (M > 1 ? var * M / (M - 1) : var));
            }
        } else {
            mu = rm[c];
            var = rv[c];
        }
        mean[c] = mu;
        invstd[c] = 1.0 / sqrt(var + BN_EPS);
    }
}

/* y = BN(x) (+ReLU) from the statistics: the forward's output, and the
 * recomputation of an output that was not kept (net_exec.c, rematerialised
 * tensors), bit-identical. */
static void bn_apply_team(const nn_view *x, const float *g, const float *b, int relu, size_t n,
                          const double *mean, const double *invstd, nn_view *y)
{
#pragma omp for schedule(static)
    for (int c = 0; c < x->c; c++) bn_out_channel(x, g, b, relu, n, mean, invstd, c, y);
}

void nn_bn_apply(const nn_view *x, const float *g, const float *b, int relu, size_t n,
                 const double *mean, const double *invstd, nn_view *y)
{
    NN_TEAM(bn_apply_team(x, g, b, relu, n, mean, invstd, y));
}

/* Backward, per sample i and channel c: part[2 (i C + c) ...] = sum dz and
 * sum dz (x - muf) over the row (row_dz; dz = dy masked by the ReLU). */
static void bn_bwd_sums_team(const nn_view *x, const float *g, const float *b, int relu, size_t n,
                             const double *mean, const double *invstd, const nn_view *dy,
                             double *part)
{
    int C = x->c;
    size_t hw = (size_t)x->h * x->w;
#pragma omp for schedule(static)
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < C; c++) {
            double mu = mean[c];
            float ys, yb; /* the forward's scale and shift, for the ReLU mask */
            bn_affine(g, b, mean, invstd, c, &ys, &yb);
            double *o = part + 2 * (i * (size_t)C + (size_t)c);
            o[0] = o[1] = 0;
            row_dz(nn_smp(x, i) + c * hw, nn_smp(dy, i) + c * hw, ys, yb, hw, (float)mu, relu, &o[0],
                   &o[1]);
        }
}

void nn_bn_bwd_sums(const nn_view *x, const float *g, const float *b, int relu, size_t n,
                    const double *mean, const double *invstd, const nn_view *dy, double *part)
{
    NN_TEAM(bn_bwd_sums_team(x, g, b, relu, n, mean, invstd, dy, part));
}

/* dg, db += the batch sums (skipped where NULL); coef[3c ...] = A, K0, K1 of
 * dx = A dz + K0 + K1 x (train: dx = a (dz - mean(dz) - xhat mean(dz xhat));
 * eval: a dz), with float coefficients. Serial: C x n additions. */
void nn_bn_bwd_combine(int C, size_t hw, size_t n, const float *g, int train, const double *mean,
                       const double *invstd, const double *part, float *dg, float *db, float *coef)
{
    double M = (double)n * hw;
    for (int c = 0; c < C; c++) {
        double sdz = 0, sdzx = 0, mu = mean[c], is = invstd[c];
        for (size_t i = 0; i < n; i++) {
            const double *o = part + 2 * (i * (size_t)C + (size_t)c);
            sdz += o[0];
            sdzx += o[1];
        }
        float muf = (float)mu;
        /* sum dz (x - mu) = sum dz (x - muf) - (mu - muf) sum dz */
        sdzx = (sdzx - (mu - muf) * sdz) * is;   /* now sum dz * xhat */
        if (dg) dg[c] += (float)sdzx;
        if (db) db[c] += (float)sdz;
        double a = g[c] * is;
        double m1 = train ? sdz / M : 0, m2 = train ? sdzx / M : 0;
        coef[3 * c] = (float)a;
        coef[3 * c + 1] = (float)(-a * m1 + a * is * m2 * mu);
        coef[3 * c + 2] = (float)(-a * is * m2);
    }
}

/* One row of dx (+)= A dz + K0 + K1 x. relu and over are literals at every
 * call: each inlined copy is one branch-free loop that vectorises. */
static inline __attribute__((always_inline)) void bn_dx_row(const float *p, const float *d, float *q,
                                                            size_t hw, float ys, float yb, float A,
                                                            float K0, float K1, int relu, int over)
{
    for (size_t j = 0; j < hw; j++) {
        float dv = d[j];  /* loaded unconditionally: the loop vectorises */
        float dz = !relu || p[j] * ys + yb > 0 ? dv : 0.0f;
        if (over) q[j] = A * dz + K0 + K1 * p[j];
        else q[j] += A * dz + K0 + K1 * p[j];
    }
}

/* dx (+)= A dz + K0 + K1 x per sample; stores when dx->overwrite. */
static void bn_bwd_dx_team(const nn_view *x, const float *g, const float *b, int relu, size_t n,
                           const double *mean, const double *invstd, const float *coef,
                           const nn_view *dy, nn_view *dx)
{
    int C = x->c, over = dx->overwrite;
    size_t hw = (size_t)x->h * x->w;
#pragma omp for schedule(static)
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < C; c++) {
            float ys, yb;
            bn_affine(g, b, mean, invstd, c, &ys, &yb);
            float A = coef[3 * c], K0 = coef[3 * c + 1], K1 = coef[3 * c + 2];
            const float *p = nn_smp(x, i) + c * hw, *d = nn_smp(dy, i) + c * hw;
            float *q = nn_smp(dx, i) + c * hw;
            if (relu && over) bn_dx_row(p, d, q, hw, ys, yb, A, K0, K1, 1, 1);
            else if (relu) bn_dx_row(p, d, q, hw, ys, yb, A, K0, K1, 1, 0);
            else if (over) bn_dx_row(p, d, q, hw, ys, yb, A, K0, K1, 0, 1);
            else bn_dx_row(p, d, q, hw, ys, yb, A, K0, K1, 0, 0);
        }
}

void nn_bn_bwd_dx(const nn_view *x, const float *g, const float *b, int relu, size_t n,
                  const double *mean, const double *invstd, const float *coef, const nn_view *dy,
                  nn_view *dx)
{
    NN_TEAM(bn_bwd_dx_team(x, g, b, relu, n, mean, invstd, coef, dy, dx));
}
