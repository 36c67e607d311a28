/* CPU layer kernels, forward and backward side by side.
 *
 * Convolution here is im2col + OpenBLAS sgemm per sample, BLAS
 * single-threaded inside an OpenMP loop over samples; net.c uses it only
 * when the oneDNN convolution (dnnl.c) is not built, disabled
 * (SGD_NN_DNNL=0) or refuses a shape. Every sum over the batch runs in a
 * fixed order: conv weight gradients are accumulated per fixed chunk of
 * NN_CHUNK samples (in sample order) and the chunk partials are added in
 * chunk order; BN statistics and BN backward sums are per (sample,
 * channel) partials added per channel in sample order, in double. Hence
 * bit-identical results for any thread count. */
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

/* ---- convolution ---------------------------------------------------- */
static int out_dim(int in, int k, int s, int p) { return (in + 2 * p - k) / s + 1; }

size_t nn_conv_scratch(int cin, int k, int oh, int ow)
{
    return 2 * (size_t)cin * k * k * oh * ow;  /* col + dcol */
}

size_t nn_conv_wpart(size_t n, int cin, int cout, int k)
{
    return ((n + NN_CHUNK - 1) / NN_CHUNK) * (size_t)cout * cin * k * k;
}

static void im2col(const float *x, int c, int h, int w, int k, int s, int p, int oh, int ow,
                   float *col)
{
    size_t P = (size_t)oh * ow;
    for (int ci = 0; ci < c; ci++)
        for (int ki = 0; ki < k; ki++)
            for (int kj = 0; kj < k; kj++) {
                float *row = col + ((size_t)(ci * k + ki) * k + kj) * P;
                const float *xc = x + (size_t)ci * h * w;
                for (int oy = 0; oy < oh; oy++) {
                    int iy = oy * s - p + ki;
                    float *r = row + (size_t)oy * ow;
                    if (iy < 0 || iy >= h) {
                        memset(r, 0, sizeof(float) * ow);
                        continue;
                    }
                    const float *xr = xc + (size_t)iy * w;
                    if (s == 1) {
                        /* contiguous run with zero margins */
                        int lo = p - kj, hi = w + p - kj; /* valid ox in [lo, hi) */
                        if (lo < 0) lo = 0;
                        if (lo > ow) lo = ow;
                        if (hi > ow) hi = ow;
                        if (hi < lo) hi = lo;
                        /* plain loops: rows are short, a memcpy call per row costs more */
                        const float *xs = xr - p + kj + lo;
                        float *rs = r + lo;
                        int len = hi - lo;
                        for (int ox = 0; ox < lo; ox++) r[ox] = 0;
                        for (int t = 0; t < len; t++) rs[t] = xs[t];
                        for (int ox = hi; ox < ow; ox++) r[ox] = 0;
                    } else {
                        for (int ox = 0; ox < ow; ox++) {
                            int ix = ox * s - p + kj;
                            r[ox] = (ix >= 0 && ix < w) ? xr[ix] : 0.0f;
                        }
                    }
                }
            }
}

static void col2im_add(const float *col, int c, int h, int w, int k, int s, int p, int oh, int ow,
                       float *x)
{
    size_t P = (size_t)oh * ow;
    for (int ci = 0; ci < c; ci++)
        for (int ki = 0; ki < k; ki++)
            for (int kj = 0; kj < k; kj++) {
                const float *row = col + ((size_t)(ci * k + ki) * k + kj) * P;
                float *xc = x + (size_t)ci * h * w;
                for (int oy = 0; oy < oh; oy++) {
                    int iy = oy * s - p + ki;
                    if (iy < 0 || iy >= h) continue;
                    const float *r = row + (size_t)oy * ow;
                    float *xr = xc + (size_t)iy * w;
                    if (s == 1) {
                        /* valid ox in [lo, hi), as in im2col */
                        int lo = p - kj, hi = w + p - kj;
                        if (lo < 0) lo = 0;
                        if (hi > ow) hi = ow;
                        for (int ox = lo; ox < hi; ox++) xr[ox - p + kj] += r[ox];
                    } else {
                        for (int ox = 0; ox < ow; ox++) {
                            int ix = ox * s - p + kj;
                            if (ix >= 0 && ix < w) xr[ix] += r[ox];
                        }
                    }
                }
            }
}

void nn_conv_fwd(const nn_view *x, const float *wt, int k, int stride, int pad, nn_view *y,
                 size_t n, float **scratch)
{
    int oh = out_dim(x->h, k, stride, pad), ow = out_dim(x->w, k, stride, pad);
    int P = oh * ow, K = x->c * k * k, cout = y->c;
    int direct = (k == 1 && stride == 1 && pad == 0);
#pragma omp parallel
    {
        float *col = scratch[omp_get_thread_num()];
#pragma omp for schedule(static)
        for (size_t i = 0; i < n; i++) {
            const float *B = nn_smp(x, i);
            if (!direct) {
                im2col(B, x->c, x->h, x->w, k, stride, pad, oh, ow, col);
                B = col;
            }
            nn_sgemm(0, 0, cout, P, K, 1.0f, wt, K, B, P,
                        0.0f, nn_smp(y, i), P);
        }
    }
}

void nn_conv_bwd(const nn_view *x, const float *wt, int k, int stride, int pad, const nn_view *dy,
                 nn_view *dx, float *dw, size_t n, float **scratch, float *wpart)
{
    int oh = dy->h, ow = dy->w;
    int P = oh * ow, K = x->c * k * k, cout = dy->c;
    int direct = (k == 1 && stride == 1 && pad == 0);
    size_t nch = (n + NN_CHUNK - 1) / NN_CHUNK, wsz = (size_t)cout * K;
#pragma omp parallel
    {
        float *col = scratch[omp_get_thread_num()];
        float *dcol = col + (size_t)K * P;
#pragma omp for schedule(static)
        for (size_t c = 0; c < nch; c++) {
            float *part = wpart + c * wsz;
            if (dw) memset(part, 0, sizeof(float) * wsz);
            size_t end = (c + 1) * NN_CHUNK < n ? (c + 1) * NN_CHUNK : n;
            for (size_t i = c * NN_CHUNK; i < end; i++) {
                const float *dyn = nn_smp(dy, i);
                if (dw) {
                    const float *B = nn_smp(x, i);
                    if (!direct) {
                        im2col(B, x->c, x->h, x->w, k, stride, pad, oh, ow, col);
                        B = col;
                    }
                    nn_sgemm(0, 1, cout, K, P, 1.0f, dyn, P,
                                B, P, 1.0f, part, K);
                }
                if (dx) {
                    if (direct) {
                        nn_sgemm(1, 0, K, P, cout, 1.0f, wt,
                                    K, dyn, P, 1.0f, nn_smp(dx, i), P);
                    } else {
                        nn_sgemm(1, 0, K, P, cout, 1.0f, wt,
                                    K, dyn, P, 0.0f, dcol, P);
                        col2im_add(dcol, x->c, x->h, x->w, k, stride, pad, oh, ow, nn_smp(dx, i));
                    }
                }
            }
        }
        if (dw) {
            nn_chunk_sum(wpart, wsz, nch, wsz, dw, 1);
#pragma omp barrier
        }
    }
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

/* BN is split at its two batch-wide reductions, so that net.c can run
 * everything between them sample by sample (its chunked executor):
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
 * recomputation of an output that was not kept (net.c, rematerialised
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

/* ---- elementwise and pooling ------------------------------------------ */
static void relu_fwd_team(const nn_view *x, nn_view *y, size_t n)
{
    size_t m = (size_t)x->c * x->h * x->w;
#pragma omp for schedule(static)
    for (size_t i = 0; i < n; i++) {
        const float *p = nn_smp(x, i);
        float *q = nn_smp(y, i);
        for (size_t j = 0; j < m; j++) q[j] = p[j] > 0 ? p[j] : 0.0f;
    }
}

void nn_relu_fwd(const nn_view *x, nn_view *y, size_t n)
{
    NN_TEAM(relu_fwd_team(x, y, n));
}

static void relu_bwd_team(const nn_view *y, const nn_view *dy, nn_view *dx, size_t n)
{
    size_t m = (size_t)y->c * y->h * y->w;
#pragma omp for schedule(static)
    for (size_t i = 0; i < n; i++) {
        const float *p = nn_smp(y, i), *d = nn_smp(dy, i);
        float *q = nn_smp(dx, i);
        for (size_t j = 0; j < m; j++)
            if (p[j] > 0) q[j] += d[j];
    }
}

void nn_relu_bwd(const nn_view *y, const nn_view *dy, nn_view *dx, size_t n)
{
    NN_TEAM(relu_bwd_team(y, dy, dx, n));
}

static void avgpool_fwd_team(const nn_view *x, nn_view *y, size_t n)
{
    int C = x->c, H = x->h, W = x->w, oh = y->h, ow = y->w;
#pragma omp for schedule(static)
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < C; c++) {
            const float *p = nn_smp(x, i) + (size_t)c * H * W;
            float *q = nn_smp(y, i) + (size_t)c * oh * ow;
            for (int a = 0; a < oh; a++)
                for (int b = 0; b < ow; b++) {
                    const float *r = p + (size_t)2 * a * W + 2 * b;
                    q[a * ow + b] = 0.25f * (r[0] + r[1] + r[W] + r[W + 1]);
                }
        }
}

void nn_avgpool_fwd(const nn_view *x, nn_view *y, size_t n)
{
    NN_TEAM(avgpool_fwd_team(x, y, n));
}

static void avgpool_bwd_team(const nn_view *dy, nn_view *dx, size_t n)
{
    int C = dx->c, H = dx->h, W = dx->w, oh = dy->h, ow = dy->w;
    (void)H;
#pragma omp for schedule(static)
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < C; c++) {
            const float *d = nn_smp(dy, i) + (size_t)c * oh * ow;
            float *q = nn_smp(dx, i) + (size_t)c * H * W;
            for (int a = 0; a < oh; a++)
                for (int b = 0; b < ow; b++) {
                    float v = 0.25f * d[a * ow + b];
                    float *r = q + (size_t)2 * a * W + 2 * b;
                    r[0] += v;
                    r[1] += v;
                    r[W] += v;
                    r[W + 1] += v;
                }
        }
}

void nn_avgpool_bwd(const nn_view *dy, nn_view *dx, size_t n)
{
    NN_TEAM(avgpool_bwd_team(dy, dx, n));
}

static void gap_fwd_team(const nn_view *x, nn_view *y, size_t n)
{
    size_t hw = (size_t)x->h * x->w;
#pragma omp for schedule(static)
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < x->c; c++) {
            const float *p = nn_smp(x, i) + c * hw;
            double s = 0;
            for (size_t j = 0; j < hw; j++) s += p[j];
            nn_smp(y, i)[c] = (float)(s / (double)hw);
        }
}

void nn_gap_fwd(const nn_view *x, nn_view *y, size_t n)
{
    NN_TEAM(gap_fwd_team(x, y, n));
}

static void gap_bwd_team(const nn_view *dy, nn_view *dx, size_t n)
{
    size_t hw = (size_t)dx->h * dx->w;
#pragma omp for schedule(static)
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < dx->c; c++) {
            float v = nn_smp(dy, i)[c] / (float)hw;
            float *q = nn_smp(dx, i) + c * hw;
            for (size_t j = 0; j < hw; j++) q[j] += v;
        }
}

void nn_gap_bwd(const nn_view *dy, nn_view *dx, size_t n)
{
    NN_TEAM(gap_bwd_team(dy, dx, n));
}

/* ---- linear ------------------------------------------------------------ */
void nn_linear_fwd(const nn_view *x, const float *w, const float *b, nn_view *y, size_t n)
{
    int in = x->c * x->h * x->w, out = y->c;
    nn_sgemm(0, 1, (int)n, out, in, 1.0f, x->d, (int)x->ns, w,
                in, 0.0f, y->d, (int)y->ns);
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < out; j++) nn_smp(y, i)[j] += b[j];
}

void nn_linear_bwd(const nn_view *x, const float *w, const nn_view *dy, nn_view *dx, float *dw,
                   float *db, size_t n)
{
    int in = x->c * x->h * x->w, out = dy->c;
    if (dx)
        nn_sgemm(0, 0, (int)n, in, out, 1.0f, dy->d,
                    (int)dy->ns, w, in, 1.0f, dx->d, (int)dx->ns);
    nn_sgemm(1, 0, out, in, (int)n, 1.0f, dy->d, (int)dy->ns,
                x->d, (int)x->ns, 1.0f, dw, in);
    for (int j = 0; j < out; j++) {
        double s = 0;
        for (size_t i = 0; i < n; i++) s += nn_smp(dy, i)[j];
        db[j] += (float)s;
    }
}

/* ---- residual add, option-A shortcut ----------------------------------- */
static void add_fwd_team(const nn_view *a, const nn_view *b, int relu, nn_view *y, size_t n)
{
    size_t m = (size_t)y->c * y->h * y->w;
#pragma omp for schedule(static)
    for (size_t i = 0; i < n; i++) {
        const float *p = nn_smp(a, i), *q = nn_smp(b, i);
        float *r = nn_smp(y, i);
        if (relu)
            for (size_t j = 0; j < m; j++) {
                float v = p[j] + q[j];
                r[j] = v > 0 ? v : 0.0f;
            }
        else
            for (size_t j = 0; j < m; j++) r[j] = p[j] + q[j];
    }
}

void nn_add_fwd(const nn_view *a, const nn_view *b, int relu, nn_view *y, size_t n)
{
    NN_TEAM(add_fwd_team(a, b, relu, y, n));
}

/* One row of da, db (+)= dy masked by the fused ReLU; oa, ob (store) are
 * literals at every call: each inlined copy is one plain loop. */
static inline __attribute__((always_inline)) void add_bwd_row(const float *d, const float *o, float *p,
                                                              float *q, size_t m, int relu, int oa,
                                                              int ob)
{
    for (size_t j = 0; j < m; j++) {
        float dz = (!relu || o[j] > 0) ? d[j] : 0.0f;
        if (oa) p[j] = dz;
        else p[j] += dz;
        if (ob) q[j] = dz;
        else q[j] += dz;
    }
}

static void add_bwd_team(const nn_view *y, const nn_view *dy, int relu, nn_view *da, nn_view *db, size_t n)
{
    size_t m = (size_t)dy->c * dy->h * dy->w;
#pragma omp for schedule(static)
    for (size_t i = 0; i < n; i++) {
        const float *d = nn_smp(dy, i), *o = nn_smp(y, i);
        float *p = nn_smp(da, i), *q = nn_smp(db, i);
        if (da->overwrite && db->overwrite) add_bwd_row(d, o, p, q, m, relu, 1, 1);
        else if (da->overwrite) add_bwd_row(d, o, p, q, m, relu, 1, 0);
        else if (db->overwrite) add_bwd_row(d, o, p, q, m, relu, 0, 1);
        else add_bwd_row(d, o, p, q, m, relu, 0, 0);
    }
}

void nn_add_bwd(const nn_view *y, const nn_view *dy, int relu, nn_view *da, nn_view *db, size_t n)
{
    NN_TEAM(add_bwd_team(y, dy, relu, da, db, n));
}

static void padshort_fwd_team(const nn_view *x, int stride, int pad, nn_view *y, size_t n)
{
#pragma omp for schedule(static)
    for (size_t i = 0; i < n; i++) {
        float *q = nn_smp(y, i);
        memset(q, 0, sizeof(float) * y->c * y->h * y->w);
        for (int c = 0; c < x->c; c++) {
            const float *p = nn_smp(x, i) + (size_t)c * x->h * x->w;
            float *r = q + (size_t)(c + pad) * y->h * y->w;
            for (int a = 0; a < y->h; a++)
                for (int b = 0; b < y->w; b++) r[a * y->w + b] = p[(size_t)a * stride * x->w + b * stride];
        }
    }
}

void nn_padshort_fwd(const nn_view *x, int stride, int pad, nn_view *y, size_t n)
{
    NN_TEAM(padshort_fwd_team(x, stride, pad, y, n));
}

static void padshort_bwd_team(const nn_view *dy, int stride, int pad, nn_view *dx, size_t n)
{
#pragma omp for schedule(static)
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < dx->c; c++) {
            const float *d = nn_smp(dy, i) + (size_t)(c + pad) * dy->h * dy->w;
            float *q = nn_smp(dx, i) + (size_t)c * dx->h * dx->w;
            for (int a = 0; a < dy->h; a++)
                for (int b = 0; b < dy->w; b++) q[(size_t)a * stride * dx->w + b * stride] += d[a * dy->w + b];
        }
}

void nn_padshort_bwd(const nn_view *dy, int stride, int pad, nn_view *dx, size_t n)
{
    NN_TEAM(padshort_bwd_team(dy, stride, pad, dx, n));
}

static void zero_team(nn_view *dx, size_t n)
{
    size_t m = (size_t)dx->c * dx->h * dx->w;
#pragma omp for schedule(static)
    for (size_t i = 0; i < n; i++) memset(nn_smp(dx, i), 0, sizeof(float) * m);
}

void nn_zero(nn_view *dx, size_t n)
{
    NN_TEAM(zero_team(dx, n));
}

/* ---- loss -------------------------------------------------------------- */
double nn_softmax_ce(const float *logits, size_t ls, const int32_t *labels, size_t n, int classes,
                     float *dlogits, size_t ds, size_t *correct)
{
    double total = 0;
    size_t hits = 0;
    for (size_t i = 0; i < n; i++) {
        const float *z = logits + i * ls;
        double mx = z[0];
        int arg = 0;
        for (int j = 1; j < classes; j++)
            if (z[j] > mx) {
                mx = z[j];
                arg = j;
            }
        double se = 0;
        for (int j = 0; j < classes; j++) se += exp(z[j] - mx);
        double lse = mx + log(se);
        total += lse - z[labels[i]];
        hits += arg == labels[i];
        if (dlogits) {
            float *d = dlogits + i * ds;
            for (int j = 0; j < classes; j++) {
                double pj = exp(z[j] - lse);
                d[j] = (float)((pj - (j == labels[i])) / (double)n);
            }
        }
    }
    if (correct) *correct = hits;
    return total / (double)n;
}

const sgd_nn_ops nn_cpu_ops = {"cpu-openblas", nn_conv_fwd,  nn_conv_bwd,
                               nn_bn_stats, nn_bn_stats_combine, nn_bn_apply,
                               nn_bn_bwd_sums, nn_bn_bwd_combine, nn_bn_bwd_dx,
                               nn_relu_fwd,  nn_relu_bwd,  nn_avgpool_fwd,
                               nn_avgpool_bwd, nn_gap_fwd,   nn_gap_bwd,   nn_linear_fwd,
                               nn_linear_bwd,  nn_add_fwd,   nn_add_bwd,   nn_padshort_fwd,
                               nn_padshort_bwd, nn_zero,
                               nn_direct_conv_ok, nn_direct_scratch, nn_direct_conv_fwd,
                               nn_direct_conv_bwd};
