/* Float64 layers of the Hessian-vector executor: forward, backward,
 * R-forward and R-backward side by side (hvp_layers.h states the
 * conventions). Loops follow the math; the heavy products go to OpenBLAS
 * dgemm (single-threaded, one call per sample or per fixed chunk of
 * samples, so that every call and its rounding is the same for any number
 * of threads). R{.} is linear in v, and a ReLU's mask is constant almost
 * everywhere, so R of a masked quantity is the mask times its R. */
#include "nn/hvp_layers.h"
#include "nn/nn_internal.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#define BN_EPS 1e-5   /* PyTorch's default, as layers_bn.c */

static size_t nchunks(size_t n) { return (n + HV_CHUNK - 1) / HV_CHUNK; }
static size_t chunk_len(size_t n, size_t c) { return n - c * HV_CHUNK < HV_CHUNK ? n - c * HV_CHUNK : HV_CHUNK; }

size_t hv_conv_scratch(int cin, int k, int oh, int ow) { return 3 * (size_t)cin * k * k * oh * ow; }
size_t hv_wpart(size_t n, size_t wsize) { return 2 * nchunks(n) * wsize; }

/* ---- convolution ------------------------------------------------------ */
/* col[(ci k + ky) k + kx][oy ow + ox] = x[ci][oy s - p + ky][ox s - p + kx] (0 outside). */
static void im2col(const double *x, int c, int h, int w, int k, int s, int p, int oh, int ow, double *col)
{
    size_t P = (size_t)oh * ow;
    for (int ci = 0; ci < c; ci++)
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++) {
                double *row = col + ((size_t)(ci * k + ky) * k + kx) * P;
                const double *xc = x + (size_t)ci * h * w;
                for (int oy = 0; oy < oh; oy++) {
                    int iy = oy * s - p + ky;
                    double *r = row + (size_t)oy * ow;
                    if (iy < 0 || iy >= h) {
                        memset(r, 0, sizeof(double) * ow);
                        continue;
                    }
                    const double *xr = xc + (size_t)iy * w;
                    if (s == 1) {   /* a contiguous run with zero margins: ix = ox - p + kx */
                        int lo = p - kx < 0 ? 0 : p - kx, hi = w + p - kx > ow ? ow : w + p - kx;
                        if (lo > ow) lo = ow;
                        if (hi < lo) hi = lo;
                        memset(r, 0, sizeof(double) * lo);
                        memcpy(r + lo, xr + lo - p + kx, sizeof(double) * (hi - lo));
                        memset(r + hi, 0, sizeof(double) * (ow - hi));
                        continue;
                    }
                    for (int ox = 0; ox < ow; ox++) {
                        int ix = ox * s - p + kx;
                        r[ox] = ix >= 0 && ix < w ? xr[ix] : 0.0;
                    }
                }
            }
}

/* The adjoint of im2col: x += col scattered back. */
static void col2im_add(const double *col, int c, int h, int w, int k, int s, int p, int oh, int ow, double *x)
{
    size_t P = (size_t)oh * ow;
    for (int ci = 0; ci < c; ci++)
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++) {
                const double *row = col + ((size_t)(ci * k + ky) * k + kx) * P;
                double *xc = x + (size_t)ci * h * w;
                for (int oy = 0; oy < oh; oy++) {
                    int iy = oy * s - p + ky;
                    if (iy < 0 || iy >= h) continue;
                    for (int ox = 0; ox < ow; ox++) {
                        int ix = ox * s - p + kx;
                        if (ix >= 0 && ix < w) xc[(size_t)iy * w + ix] += row[(size_t)oy * ow + ox];
                    }
                }
            }
}

/* The columns of sample i of x: x itself for a 1x1 stride-1 unpadded conv. */
static const double *cols(const hv_view *x, size_t i, int k, int s, int p, int oh, int ow, double *buf)
{
    if (k == 1 && s == 1 && p == 0) return hv_smp(x, i);
    im2col(hv_smp(x, i), x->c, x->h, x->w, k, s, p, oh, ow, buf);
    return buf;
}

void hv_conv_fwd(const hv_view *x, const hv_view *rx, const double *w, const double *rw, int k,
                 int stride, int pad, hv_view *y, hv_view *ry, size_t n, double *scratch, size_t sl)
{
    int cout = y->c, oh = y->h, ow = y->w, K = x->c * k * k, P = oh * ow;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        double *sc = scratch + (size_t)omp_get_thread_num() * sl;
        const double *col = cols(x, i, k, stride, pad, oh, ow, sc);
        nn_dgemm(0, 0, cout, P, K, 1, w, K, col, P, 0, hv_smp(y, i), P);   /* y = W col */
        if (!ry) continue;
        double *r = hv_smp(ry, i);
        nn_dgemm(0, 0, cout, P, K, 1, rw, K, col, P, 0, r, P);              /* + R{W} col */
        if (rx) {
            const double *rcol = cols(rx, i, k, stride, pad, oh, ow, sc + (size_t)K * P);
            nn_dgemm(0, 0, cout, P, K, 1, w, K, rcol, P, 1, r, P);          /* + W R{col} */
        }
    }
}

void hv_conv_bwd(const hv_view *x, const hv_view *rx, const double *w, const double *rw, int k,
                 int stride, int pad, const hv_view *dy, const hv_view *rdy, hv_view *dx, hv_view *rdx,
                 double *dw, double *rdw, size_t n, double *scratch, size_t sl, double *wpart)
{
    int cout = dy->c, oh = dy->h, ow = dy->w, K = x->c * k * k, P = oh * ow;
    int direct = k == 1 && stride == 1 && pad == 0;
    size_t nch = nchunks(n), ws = (size_t)cout * K;
#pragma omp parallel
    {
        double *sc = scratch + (size_t)omp_get_thread_num() * sl;
        double *rbuf = sc + (size_t)K * P, *dcol = sc + 2 * (size_t)K * P;
#pragma omp for schedule(static)
        for (size_t c = 0; c < nch; c++) {
            double *pw = wpart + 2 * c * ws, *prw = pw + ws;
            memset(pw, 0, sizeof(double) * 2 * ws);
            for (size_t i = c * HV_CHUNK; i < c * HV_CHUNK + chunk_len(n, c); i++) {
                const double *col = cols(x, i, k, stride, pad, oh, ow, sc);
                const double *d = hv_smp(dy, i), *rd = rdy ? hv_smp(rdy, i) : NULL;
                nn_dgemm(0, 1, cout, K, P, 1, d, P, col, P, 1, pw, K);          /* dW += dy col^T */
                if (rd) {
                    nn_dgemm(0, 1, cout, K, P, 1, rd, P, col, P, 1, prw, K);    /* R{dW} += R{dy} col^T */
                    if (rx) {
                        const double *rcol = cols(rx, i, k, stride, pad, oh, ow, rbuf);
                        nn_dgemm(0, 1, cout, K, P, 1, d, P, rcol, P, 1, prw, K); /* + dy R{col}^T */
                    }
                }
                if (!dx) continue;
                /* dcol = W^T dy; R{dcol} = W^T R{dy} + R{W}^T dy; scattered into dx, R{dx} */
                if (direct) {
                    nn_dgemm(1, 0, K, P, cout, 1, w, K, d, P, 1, hv_smp(dx, i), P);
                    if (rd) {
                        nn_dgemm(1, 0, K, P, cout, 1, w, K, rd, P, 1, hv_smp(rdx, i), P);
                        nn_dgemm(1, 0, K, P, cout, 1, rw, K, d, P, 1, hv_smp(rdx, i), P);
                    }
                    continue;
                }
                nn_dgemm(1, 0, K, P, cout, 1, w, K, d, P, 0, dcol, P);
                col2im_add(dcol, x->c, x->h, x->w, k, stride, pad, oh, ow, hv_smp(dx, i));
                if (rd) {
                    nn_dgemm(1, 0, K, P, cout, 1, w, K, rd, P, 0, dcol, P);
                    nn_dgemm(1, 0, K, P, cout, 1, rw, K, d, P, 1, dcol, P);
                    col2im_add(dcol, x->c, x->h, x->w, k, stride, pad, oh, ow, hv_smp(rdx, i));
                }
            }
        }
        /* the chunk partials in chunk order (the for's barrier is before) */
#pragma omp for schedule(static)
        for (size_t j = 0; j < ws; j++) {
            double s = 0, r = 0;
            for (size_t c = 0; c < nch; c++) {
                s += wpart[2 * c * ws + j];
                r += wpart[(2 * c + 1) * ws + j];
            }
            dw[j] += s;
            if (rdw) rdw[j] += r;
        }
    }
}

/* ---- batch norm ------------------------------------------------------- *
 * Per channel, M = n h w values, s = 1/sqrt(var + eps), xh = (x - mean) s,
 * y = g xh + b (then ReLU). In train mode mean and var are the batch's:
 *   R{xh} = s (R{x} - mean(R{x}) - xh mean(xh R{x})),  R{s} = -s^2 mean(xh R{x});
 * in eval mode the running buffers' (R{xh} = s R{x}). Backward with
 * dz = dy masked by the ReLU and A = g dz:
 *   dx = s (A - m1 - xh m2), m1 = mean(A), m2 = mean(A xh) (0 in eval);
 *   R{dx} = (R{s}/s) dx + s (R{A} - R{m1} - R{xh} m2 - xh R{m2}),
 *   R{A} = R{g} dz + g R{dz},  dg = sum dz xh, db = sum dz. */
void hv_bn_fwd(const hv_view *x, const hv_view *rx, const double *g, const double *b, const double *rg,
               const double *rb, int relu, int train, const float *rm, const float *rv, double *stat,
               hv_view *y, hv_view *ry, size_t n)
{
    int C = x->c;
    size_t hw = (size_t)x->h * x->w;
    double M = (double)n * (double)hw;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        double mu, var;
        if (train) {
            double S = 0, Q = 0;
            for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < hw; j++) S += hv_smp(x, i)[c * hw + j];
            mu = S / M;
            for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < hw; j++) {
                    double d = hv_smp(x, i)[c * hw + j] - mu;
                    Q += d * d;
                }
            var = Q / M;
        } else {
            mu = rm[c];
            var = rv[c];
        }
        double s = 1.0 / sqrt(var + BN_EPS), r1 = 0, r2 = 0;
        if (ry && train) {
            for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < hw; j++) {
                    double xv = hv_smp(x, i)[c * hw + j], rxv = hv_smp(rx, i)[c * hw + j];
                    r1 += rxv;
                    r2 += (xv - mu) * s * rxv;
                }
            r1 /= M;
            r2 /= M;
        }
        stat[c] = mu;
        stat[C + c] = s;
        stat[2 * C + c] = r1;
        stat[3 * C + c] = r2;
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < hw; j++) {
                size_t o = c * hw + j;
                double xh = (hv_smp(x, i)[o] - mu) * s, yv = g[c] * xh + b[c];
                int cut = relu && !(yv > 0);
                hv_smp(y, i)[o] = cut ? 0.0 : yv;
                if (!ry) continue;
                double rxh = s * (hv_smp(rx, i)[o] - r1 - xh * r2);
                hv_smp(ry, i)[o] = cut ? 0.0 : rg[c] * xh + g[c] * rxh + rb[c];
            }
    }
}

void hv_bn_bwd(const hv_view *x, const hv_view *rx, const double *g, const double *rg, int relu, int train,
               const double *stat, const hv_view *y, const hv_view *dy, const hv_view *rdy, hv_view *dx,
               hv_view *rdx, double *dg, double *db, double *rdg, double *rdb, size_t n)
{
    int C = x->c;
    size_t hw = (size_t)x->h * x->w;
    double M = (double)n * (double)hw;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        double mu = stat[c], s = stat[C + c], r1 = stat[2 * C + c], r2 = stat[3 * C + c];
        double Sdz = 0, Sdzx = 0, Srdz = 0, Srdzx = 0, Sdzr = 0;
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < hw; j++) {
                size_t o = c * hw + j;
                int on = !relu || hv_smp(y, i)[o] > 0;
                double xh = (hv_smp(x, i)[o] - mu) * s, dz = on ? hv_smp(dy, i)[o] : 0.0;
                Sdz += dz;
                Sdzx += dz * xh;
                if (!rdy) continue;
                double rdz = on ? hv_smp(rdy, i)[o] : 0.0, rxh = s * (hv_smp(rx, i)[o] - r1 - xh * r2);
                Srdz += rdz;
                Srdzx += rdz * xh;
                Sdzr += dz * rxh;
            }
        dg[c] += Sdzx;
        db[c] += Sdz;
        if (rdy) {
            rdg[c] += Srdzx + Sdzr;
            rdb[c] += Srdz;
        }
        if (!dx) continue;
        double m1 = train ? g[c] * Sdz / M : 0, m2 = train ? g[c] * Sdzx / M : 0;
        double Rm1 = train && rdy ? (rg[c] * Sdz + g[c] * Srdz) / M : 0;
        double Rm2 = train && rdy ? (rg[c] * Sdzx + g[c] * Srdzx + g[c] * Sdzr) / M : 0;
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < hw; j++) {
                size_t o = c * hw + j;
                int on = !relu || hv_smp(y, i)[o] > 0;
                double xh = (hv_smp(x, i)[o] - mu) * s, dz = on ? hv_smp(dy, i)[o] : 0.0;
                double dxv = s * (g[c] * dz - m1 - xh * m2);
                hv_smp(dx, i)[o] += dxv;
                if (!rdy) continue;
                double rdz = on ? hv_smp(rdy, i)[o] : 0.0, rxh = s * (hv_smp(rx, i)[o] - r1 - xh * r2);
                double RA = rg[c] * dz + g[c] * rdz;
                hv_smp(rdx, i)[o] += -s * r2 * dxv + s * (RA - Rm1 - rxh * m2 - xh * Rm2);
            }
    }
}

/* ---- ReLU and residual add ------------------------------------------- */
void hv_relu_fwd(const hv_view *x, const hv_view *rx, hv_view *y, hv_view *ry, size_t n)
{
    size_t m = (size_t)x->c * x->h * x->w;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < m; j++) {
            int on = hv_smp(x, i)[j] > 0;
            hv_smp(y, i)[j] = on ? hv_smp(x, i)[j] : 0.0;
            if (ry) hv_smp(ry, i)[j] = on ? hv_smp(rx, i)[j] : 0.0;
        }
}

void hv_relu_bwd(const hv_view *y, const hv_view *dy, const hv_view *rdy, hv_view *dx, hv_view *rdx, size_t n)
{
    size_t m = (size_t)y->c * y->h * y->w;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < m; j++) {
            if (!(hv_smp(y, i)[j] > 0)) continue;
            hv_smp(dx, i)[j] += hv_smp(dy, i)[j];
            if (rdy) hv_smp(rdx, i)[j] += hv_smp(rdy, i)[j];
        }
}

void hv_add_fwd(const hv_view *a, const hv_view *b, const hv_view *ra, const hv_view *rb, int relu,
                hv_view *y, hv_view *ry, size_t n)
{
    size_t m = (size_t)y->c * y->h * y->w;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < m; j++) {
            double v = hv_smp(a, i)[j] + hv_smp(b, i)[j];
            int cut = relu && !(v > 0);
            hv_smp(y, i)[j] = cut ? 0.0 : v;
            if (ry) hv_smp(ry, i)[j] = cut ? 0.0 : hv_smp(ra, i)[j] + hv_smp(rb, i)[j];
        }
}

void hv_add_bwd(const hv_view *y, const hv_view *dy, const hv_view *rdy, int relu, hv_view *da, hv_view *db,
                hv_view *rda, hv_view *rdb, size_t n)
{
    size_t m = (size_t)y->c * y->h * y->w;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < m; j++) {
            if (relu && !(hv_smp(y, i)[j] > 0)) continue;
            double d = hv_smp(dy, i)[j];
            if (da) hv_smp(da, i)[j] += d;
            hv_smp(db, i)[j] += d;
            if (!rdy) continue;
            if (rda) hv_smp(rda, i)[j] += hv_smp(rdy, i)[j];
            hv_smp(rdb, i)[j] += hv_smp(rdy, i)[j];
        }
}

/* ---- pooling and the option-A shortcut (linear, parameter-free) ------ */
void hv_avgpool_fwd(const hv_view *x, hv_view *y, size_t n)
{
    int W = x->w, oh = y->h, ow = y->w;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < x->c; c++) {
            const double *p = hv_smp(x, i) + (size_t)c * x->h * W;
            double *q = hv_smp(y, i) + (size_t)c * oh * ow;
            for (int a = 0; a < oh; a++)
                for (int b = 0; b < ow; b++) {
                    const double *r = p + (size_t)2 * a * W + 2 * b;
                    q[a * ow + b] = 0.25 * (r[0] + r[1] + r[W] + r[W + 1]);
                }
        }
}

void hv_avgpool_bwd(const hv_view *dy, hv_view *dx, size_t n)
{
    int W = dx->w, oh = dy->h, ow = dy->w;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < dx->c; c++) {
            const double *d = hv_smp(dy, i) + (size_t)c * oh * ow;
            double *q = hv_smp(dx, i) + (size_t)c * dx->h * W;
            for (int a = 0; a < oh; a++)
                for (int b = 0; b < ow; b++) {
                    double v = 0.25 * d[a * ow + b], *r = q + (size_t)2 * a * W + 2 * b;
                    r[0] += v;
                    r[1] += v;
                    r[W] += v;
                    r[W + 1] += v;
                }
        }
}

void hv_gap_fwd(const hv_view *x, hv_view *y, size_t n)
{
    size_t hw = (size_t)x->h * x->w;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < x->c; c++) {
            double s = 0;
            for (size_t j = 0; j < hw; j++) s += hv_smp(x, i)[c * hw + j];
            hv_smp(y, i)[c] = s / (double)hw;
        }
}

void hv_gap_bwd(const hv_view *dy, hv_view *dx, size_t n)
{
    size_t hw = (size_t)dx->h * dx->w;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < dx->c; c++) {
            double v = hv_smp(dy, i)[c] / (double)hw;
            for (size_t j = 0; j < hw; j++) hv_smp(dx, i)[c * hw + j] += v;
        }
}

void hv_padshort_fwd(const hv_view *x, int stride, int pad, hv_view *y, size_t n)
{
    size_t yhw = (size_t)y->h * y->w;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        memset(hv_smp(y, i), 0, sizeof(double) * y->c * yhw);
        for (int c = 0; c < x->c; c++) {
            const double *p = hv_smp(x, i) + (size_t)c * x->h * x->w;
            double *q = hv_smp(y, i) + (c + pad) * yhw;
            for (int a = 0; a < y->h; a++)
                for (int b = 0; b < y->w; b++) q[a * y->w + b] = p[(size_t)a * stride * x->w + b * stride];
        }
    }
}

void hv_padshort_bwd(const hv_view *dy, int stride, int pad, hv_view *dx, size_t n)
{
    size_t yhw = (size_t)dy->h * dy->w;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < dx->c; c++) {
            const double *d = hv_smp(dy, i) + (c + pad) * yhw;
            double *q = hv_smp(dx, i) + (size_t)c * dx->h * dx->w;
            for (int a = 0; a < dy->h; a++)
                for (int b = 0; b < dy->w; b++) q[(size_t)a * stride * dx->w + b * stride] += d[a * dy->w + b];
        }
}

/* ---- linear ------------------------------------------------------------ */
void hv_linear_fwd(const hv_view *x, const hv_view *rx, const double *w, const double *b, const double *rw,
                   const double *rb, hv_view *y, hv_view *ry, size_t n)
{
    int in = x->c * x->h * x->w, out = y->c;
#pragma omp parallel for schedule(static)
    for (size_t c = 0; c < nchunks(n); c++) {
        size_t i0 = c * HV_CHUNK;
        int cnt = (int)chunk_len(n, c);
        nn_dgemm(0, 1, cnt, out, in, 1, hv_smp(x, i0), (int)x->ns, w, in, 0, hv_smp(y, i0), (int)y->ns);
        if (ry) {
            nn_dgemm(0, 1, cnt, out, in, 1, hv_smp(x, i0), (int)x->ns, rw, in, 0, hv_smp(ry, i0), (int)ry->ns);
            if (rx)
                nn_dgemm(0, 1, cnt, out, in, 1, hv_smp(rx, i0), (int)rx->ns, w, in, 1, hv_smp(ry, i0),
                         (int)ry->ns);
        }
        for (size_t i = i0; i < i0 + (size_t)cnt; i++)
            for (int j = 0; j < out; j++) {
                hv_smp(y, i)[j] += b[j];
                if (ry) hv_smp(ry, i)[j] += rb[j];
            }
    }
}

void hv_linear_bwd(const hv_view *x, const hv_view *rx, const double *w, const double *rw, const hv_view *dy,
                   const hv_view *rdy, hv_view *dx, hv_view *rdx, double *dw, double *db, double *rdw,
                   double *rdb, size_t n, double *wpart)
{
    int in = x->c * x->h * x->w, out = dy->c;
    size_t nch = nchunks(n), ws = (size_t)out * in;
#pragma omp parallel
    {
#pragma omp for schedule(static)
        for (size_t c = 0; c < nch; c++) {
            size_t i0 = c * HV_CHUNK;
            int cnt = (int)chunk_len(n, c), nx = (int)x->ns, nd = (int)dy->ns;
            double *pw = wpart + 2 * c * ws, *prw = pw + ws;
            const double *d = hv_smp(dy, i0);
            nn_dgemm(1, 0, out, in, cnt, 1, d, nd, hv_smp(x, i0), nx, 0, pw, in);      /* dy^T x */
            if (dx) nn_dgemm(0, 0, cnt, in, out, 1, d, nd, w, in, 1, hv_smp(dx, i0), (int)dx->ns);
            if (!rdy) continue;
            const double *rd = hv_smp(rdy, i0);
            int nr = (int)rdy->ns;
            nn_dgemm(1, 0, out, in, cnt, 1, rd, nr, hv_smp(x, i0), nx, 0, prw, in);   /* R{dy}^T x */
            if (rx) nn_dgemm(1, 0, out, in, cnt, 1, d, nd, hv_smp(rx, i0), (int)rx->ns, 1, prw, in);
            if (dx) {
                nn_dgemm(0, 0, cnt, in, out, 1, rd, nr, w, in, 1, hv_smp(rdx, i0), (int)rdx->ns);
                nn_dgemm(0, 0, cnt, in, out, 1, d, nd, rw, in, 1, hv_smp(rdx, i0), (int)rdx->ns);
            }
        }
#pragma omp for schedule(static)
        for (size_t j = 0; j < ws; j++) {
            double s = 0, r = 0;
            for (size_t c = 0; c < nch; c++) {
                s += wpart[2 * c * ws + j];
                if (rdy) r += wpart[(2 * c + 1) * ws + j];
            }
            dw[j] += s;
            if (rdy) rdw[j] += r;
        }
#pragma omp for schedule(static)
        for (int j = 0; j < out; j++) {
            double s = 0, r = 0;
            for (size_t i = 0; i < n; i++) {
                s += hv_smp(dy, i)[j];
                if (rdy) r += hv_smp(rdy, i)[j];
            }
            db[j] += s;
            if (rdy) rdb[j] += r;
        }
    }
}

/* ---- loss -------------------------------------------------------------- *
 * L = mean over samples of lse(z) - z_label; dz = (p - onehot) / n with
 * p = softmax(z); R{dz} = p (R{z} - <p, R{z}>) / n. */
double hv_softmax_ce(const hv_view *z, const hv_view *rz, const int32_t *labels, size_t n, int classes,
                     hv_view *dz, hv_view *rdz)
{
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        const double *zi = hv_smp(z, i);
        double mx = zi[0], se = 0, prz = 0;
        for (int j = 1; j < classes; j++) mx = zi[j] > mx ? zi[j] : mx;
        for (int j = 0; j < classes; j++) se += exp(zi[j] - mx);
        double lse = mx + log(se);
        total += lse - zi[labels[i]];
        double *d = hv_smp(dz, i);
        for (int j = 0; j < classes; j++) d[j] = exp(zi[j] - lse);   /* p, for now */
        if (rz) {
            for (int j = 0; j < classes; j++) prz += d[j] * hv_smp(rz, i)[j];
            for (int j = 0; j < classes; j++) hv_smp(rdz, i)[j] = d[j] * (hv_smp(rz, i)[j] - prz) / (double)n;
        }
        for (int j = 0; j < classes; j++) d[j] = (d[j] - (j == labels[i])) / (double)n;
    }
    return total / (double)n;
}
