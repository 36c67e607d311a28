/* The convolution's forward, backward and their R (im2col and OpenBLAS
 * gemm per sample): a part of the template hvp_layers_impl.h, which
 * includes it with its macros defined. No include guard on purpose. */
/* ---- convolution ------------------------------------------------------ */
#define IM2COL_T HV_REAL
#define IM2COL_NAME HV_NAME(im2col)
#include "nn/im2col_impl.h"

/* The adjoint of im2col: x += col scattered back. */
static void HV_NAME(col2im_add)(const HV_REAL *col, int c, int h, int w, int k, int s, int p, int oh, int ow, HV_REAL *x)
{
    size_t P = (size_t)oh * ow;
    for (int ci = 0; ci < c; ci++)
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++) {
                const HV_REAL *row = col + ((size_t)(ci * k + ky) * k + kx) * P;
                HV_REAL *xc = x + (size_t)ci * h * w;
                for (int oy = 0; oy < oh; oy++) {
                    int iy = oy * s - p + ky;
                    if (iy < 0 || iy >= h) continue;
                    HV_REAL *xr = xc + (size_t)iy * w;
                    const HV_REAL *r = row + (size_t)oy * ow;
                    if (s == 1) {   /* valid ox in [lo, hi), as in im2col: one vector loop */
                        int lo = p - kx < 0 ? 0 : p - kx, hi = w + p - kx > ow ? ow : w + p - kx;
                        for (int ox = lo; ox < hi; ox++) xr[ox - p + kx] += r[ox];
                        continue;
                    }
                    for (int ox = 0; ox < ow; ox++) {
                        int ix = ox * s - p + kx;
                        if (ix >= 0 && ix < w) xr[ix] += r[ox];
                    }
                }
            }
}

/* The columns of sample i of x: x itself for a 1x1 stride-1 unpadded conv. */
static const HV_REAL *HV_NAME(cols)(const HV_VIEW *x, size_t i, int k, int s, int p, int oh, int ow, HV_REAL *buf)
{
    if (k == 1 && s == 1 && p == 0) return SMP(x, i);
    HV_NAME(im2col)(SMP(x, i), x->c, x->h, x->w, k, s, p, oh, ow, buf);
    return buf;
}

static void HV_NAME(hv_conv_fwd)(const HV_VIEW *x, const HV_VIEW *rx, const HV_REAL *w, const HV_REAL *rw, int k,
                 int stride, int pad, HV_VIEW *y, HV_VIEW *ry, size_t n, HV_REAL *scratch, size_t sl)
{
    int cout = y->c, oh = y->h, ow = y->w, K = x->c * k * k, P = oh * ow;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        HV_REAL *sc = scratch + (size_t)omp_get_thread_num() * sl;
        const HV_REAL *col = HV_NAME(cols)(x, i, k, stride, pad, oh, ow, sc);
        HV_GEMM(0, 0, cout, P, K, 1, w, K, col, P, 0, SMP(y, i), P);   /* y = W col */
        if (!ry) continue;
        HV_REAL *r = SMP(ry, i);
        HV_GEMM(0, 0, cout, P, K, 1, rw, K, col, P, 0, r, P);              /* + R{W} col */
        if (rx) {
            const HV_REAL *rcol = HV_NAME(cols)(rx, i, k, stride, pad, oh, ow, sc + (size_t)K * P);
            HV_GEMM(0, 0, cout, P, K, 1, w, K, rcol, P, 1, r, P);          /* + W R{col} */
        }
    }
}

static void HV_NAME(hv_conv_bwd)(const HV_VIEW *x, const HV_VIEW *rx, const HV_REAL *w, const HV_REAL *rw, int k,
                 int stride, int pad, const HV_VIEW *dy, const HV_VIEW *rdy, HV_VIEW *dx, HV_VIEW *rdx,
                 HV_REAL *dw, HV_REAL *rdw, size_t n, HV_REAL *scratch, size_t sl, HV_REAL *wpart)
{
    int cout = dy->c, oh = dy->h, ow = dy->w, K = x->c * k * k, P = oh * ow;
    int direct = k == 1 && stride == 1 && pad == 0;
    size_t nch = hv_nchunks(n), ws = (size_t)cout * K;
#pragma omp parallel
    {
        HV_REAL *sc = scratch + (size_t)omp_get_thread_num() * sl;
        HV_REAL *rbuf = sc + (size_t)K * P, *dcol = sc + 2 * (size_t)K * P;
#pragma omp for schedule(static)
        for (size_t c = 0; c < nch; c++) {
            HV_REAL *pw = wpart + 2 * c * ws, *prw = pw + ws;
            memset(pw, 0, sizeof(HV_REAL) * 2 * ws);
            for (size_t i = c * HV_CHUNK; i < c * HV_CHUNK + chunk_len(n, c); i++) {
                const HV_REAL *col = HV_NAME(cols)(x, i, k, stride, pad, oh, ow, sc);
                const HV_REAL *d = SMP(dy, i), *rd = rdy ? SMP(rdy, i) : NULL;
                if (dw) HV_GEMM(0, 1, cout, K, P, 1, d, P, col, P, 1, pw, K);  /* dW += dy col^T */
                if (rd) {
                    HV_GEMM(0, 1, cout, K, P, 1, rd, P, col, P, 1, prw, K);    /* R{dW} += R{dy} col^T */
                    if (rx) {
                        const HV_REAL *rcol = HV_NAME(cols)(rx, i, k, stride, pad, oh, ow, rbuf);
                        HV_GEMM(0, 1, cout, K, P, 1, d, P, rcol, P, 1, prw, K); /* + dy R{col}^T */
                    }
                }
                if (!dx) continue;
                /* dcol = W^T dy; R{dcol} = W^T R{dy} + R{W}^T dy; scattered into dx, R{dx} */
                if (direct) {
                    HV_GEMM(1, 0, K, P, cout, 1, w, K, d, P, 1, SMP(dx, i), P);
                    if (rd) {
                        HV_GEMM(1, 0, K, P, cout, 1, w, K, rd, P, 1, SMP(rdx, i), P);
                        HV_GEMM(1, 0, K, P, cout, 1, rw, K, d, P, 1, SMP(rdx, i), P);
                    }
                    continue;
                }
                HV_GEMM(1, 0, K, P, cout, 1, w, K, d, P, 0, dcol, P);
                HV_NAME(col2im_add)(dcol, x->c, x->h, x->w, k, stride, pad, oh, ow, SMP(dx, i));
                if (rd) {
                    HV_GEMM(1, 0, K, P, cout, 1, w, K, rd, P, 0, dcol, P);
                    HV_GEMM(1, 0, K, P, cout, 1, rw, K, d, P, 1, dcol, P);
                    HV_NAME(col2im_add)(dcol, x->c, x->h, x->w, k, stride, pad, oh, ow, SMP(rdx, i));
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
            if (dw) dw[j] += s;
            if (rdw) rdw[j] += r;
        }
    }
}
