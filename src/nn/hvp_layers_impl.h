/* The Hessian-vector layer kernels for one precision (hvp_layers.h states
 * the conventions), included by hvp_kern.c once per precision with
 * HV_REAL, HV_VIEW, HV_NAME (as for hvp_layers_decl.h), HV_GEMM (nn_dgemm
 * or nn_sgemm) and HV_LANES_N (1 or 8, HV_LANES below) defined. Loops
 * follow the math; scalars and sums are double in both precisions, and the
 * float64 instance gives the bits the float64 executor always gave. No
 * include guard on purpose. */
#define SMP(v, i) HV_NAME(hv_smp)(v, i)
#define HV_PRAGMA(x) _Pragma(#x)
/* A per-channel sum over one sample's row of hw elements, in HV_LANES_N
 * partial sums: BODY(j, l) adds element j into lane l. Element j goes to
 * lane j mod HV_LANES_N (the row's tail to lane 0), so the order is fixed by
 * the code, not by the vector width or the thread count, and the compiler
 * can keep the lanes in one vector. float64 has one lane: the sequential
 * order of its fixtures. hv_fold adds the lanes in order. */
#define HV_LANES(hw, BODY)                                                             \
    do {                                                                               \
        size_t j_ = 0;                                                                 \
        if (HV_LANES_N > 1)                                                            \
            for (; j_ + HV_LANES_N <= (hw); j_ += HV_LANES_N)                          \
                HV_PRAGMA(omp simd)                                                    \
                for (int l_ = 0; l_ < HV_LANES_N; l_++) BODY(j_ + l_, l_);             \
        for (; j_ < (hw); j_++) BODY(j_, 0);                                           \
    } while (0)
static inline double HV_NAME(hv_fold)(const double *a)
{
    double s = a[0];
    for (int l = 1; l < HV_LANES_N; l++) s += a[l];
    return s;
}

/* ---- convolution ------------------------------------------------------ */
/* col[(ci k + ky) k + kx][oy ow + ox] = x[ci][oy s - p + ky][ox s - p + kx] (0 outside). */
static void HV_NAME(im2col)(const HV_REAL *x, int c, int h, int w, int k, int s, int p, int oh, int ow, HV_REAL *col)
{
    size_t P = (size_t)oh * ow;
    for (int ci = 0; ci < c; ci++)
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++) {
                HV_REAL *row = col + ((size_t)(ci * k + ky) * k + kx) * P;
                const HV_REAL *xc = x + (size_t)ci * h * w;
                for (int oy = 0; oy < oh; oy++) {
                    int iy = oy * s - p + ky;
                    HV_REAL *r = row + (size_t)oy * ow;
                    if (iy < 0 || iy >= h) {
                        memset(r, 0, sizeof(HV_REAL) * ow);
                        continue;
                    }
                    const HV_REAL *xr = xc + (size_t)iy * w;
                    if (s == 1) {   /* a contiguous run with zero margins: ix = ox - p + kx */
                        int lo = p - kx < 0 ? 0 : p - kx, hi = w + p - kx > ow ? ow : w + p - kx;
                        if (lo > ow) lo = ow;
                        if (hi < lo) hi = lo;
                        memset(r, 0, sizeof(HV_REAL) * lo);
                        memcpy(r + lo, xr + lo - p + kx, sizeof(HV_REAL) * (hi - lo));
                        memset(r + hi, 0, sizeof(HV_REAL) * (ow - hi));
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
    size_t nch = nchunks(n), ws = (size_t)cout * K;
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

/* ---- batch norm ------------------------------------------------------- *
 * Per channel, M = n h w values, s = 1/sqrt(var + eps), xh = (x - mean) s,
 * y = g xh + b (then ReLU). In train mode mean and var are the batch's:
 *   R{xh} = s (R{x} - mean(R{x}) - xh mean(xh R{x})),  R{s} = -s^2 mean(xh R{x});
 * in eval mode the running buffers' (R{xh} = s R{x}). Backward with
 * dz = dy masked by the ReLU and A = g dz:
 *   dx = s (A - m1 - xh m2), m1 = mean(A), m2 = mean(A xh) (0 in eval);
 *   R{dx} = (R{s}/s) dx + s (R{A} - R{m1} - R{xh} m2 - xh R{m2}),
 *   R{A} = R{g} dz + g R{dz},  dg = sum dz xh, db = sum dz. */
static void HV_NAME(hv_bn_fwd)(const HV_VIEW *x, const HV_VIEW *rx, const HV_REAL *g, const HV_REAL *b, const HV_REAL *rg,
               const HV_REAL *rb, int relu, int train, const float *rm, const float *rv, double *stat,
               HV_VIEW *y, HV_VIEW *ry, size_t n)
{
    int C = x->c;
    size_t hw = (size_t)x->h * x->w;
    double M = (double)n * (double)hw;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        double mu, var;
        if (train) {
            double S[HV_LANES_N] = {0}, Q[HV_LANES_N] = {0};
            for (size_t i = 0; i < n; i++) {
                const HV_REAL *xr = SMP(x, i) + c * hw;
#define SUM_X(j, l) S[l] += xr[j]
                HV_LANES(hw, SUM_X);
#undef SUM_X
            }
            mu = HV_NAME(hv_fold)(S) / M;
            for (size_t i = 0; i < n; i++) {
                const HV_REAL *xr = SMP(x, i) + c * hw;
#define SUM_D2(j, l)                  \
    do {                              \
        double d = xr[j] - mu;        \
        Q[l] += d * d;                \
    } while (0)
                HV_LANES(hw, SUM_D2);
#undef SUM_D2
            }
            var = HV_NAME(hv_fold)(Q) / M;
        } else {
            mu = rm[c];
            var = rv[c];
        }
        double s = 1.0 / sqrt(var + BN_EPS), r1 = 0, r2 = 0;
        if (ry && train) {
            double R1[HV_LANES_N] = {0}, R2[HV_LANES_N] = {0};
            for (size_t i = 0; i < n; i++) {
                const HV_REAL *xr = SMP(x, i) + c * hw, *rxr = SMP(rx, i) + c * hw;
#define SUM_R(j, l)                              \
    do {                                         \
        R1[l] += rxr[j];                         \
        R2[l] += (xr[j] - mu) * s * rxr[j];      \
    } while (0)
                HV_LANES(hw, SUM_R);
#undef SUM_R
            }
            r1 = HV_NAME(hv_fold)(R1) / M;
            r2 = HV_NAME(hv_fold)(R2) / M;
        }
        stat[c] = mu;
        stat[C + c] = s;
        stat[2 * C + c] = r1;
        stat[3 * C + c] = r2;
        double gc = g[c], bc = b[c], rgc = ry ? rg[c] : 0, rbc = ry ? rb[c] : 0;
        for (size_t i = 0; i < n; i++) {
            const HV_REAL *xr = SMP(x, i) + c * hw;
            HV_REAL *yr = SMP(y, i) + c * hw;
            if (!ry) {
#pragma omp simd
                for (size_t j = 0; j < hw; j++) {
                    double xh = (xr[j] - mu) * s, yv = gc * xh + bc;
                    yr[j] = relu && !(yv > 0) ? 0.0 : yv;
                }
                continue;
            }
            const HV_REAL *rxr = SMP(rx, i) + c * hw;
            HV_REAL *ryr = SMP(ry, i) + c * hw;
#pragma omp simd
            for (size_t j = 0; j < hw; j++) {
                double xh = (xr[j] - mu) * s, yv = gc * xh + bc;
                int cut = relu && !(yv > 0);
                double rxh = s * (rxr[j] - r1 - xh * r2);
                yr[j] = cut ? 0.0 : yv;
                ryr[j] = cut ? 0.0 : rgc * xh + gc * rxh + rbc;
            }
        }
    }
}

static void HV_NAME(hv_bn_bwd)(const HV_VIEW *x, const HV_VIEW *rx, const HV_REAL *g, const HV_REAL *rg, int relu, int train,
               const double *stat, const HV_VIEW *y, const HV_VIEW *dy, const HV_VIEW *rdy, HV_VIEW *dx,
               HV_VIEW *rdx, HV_REAL *dg, HV_REAL *db, HV_REAL *rdg, HV_REAL *rdb, size_t n)
{
    int C = x->c;
    size_t hw = (size_t)x->h * x->w;
    double M = (double)n * (double)hw;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        double mu = stat[c], s = stat[C + c], r1 = stat[2 * C + c], r2 = stat[3 * C + c];
        double L0[HV_LANES_N] = {0}, L1[HV_LANES_N] = {0}, L2[HV_LANES_N] = {0}, L3[HV_LANES_N] = {0},
               L4[HV_LANES_N] = {0};
        double gc = g[c], rgc = rdy ? rg[c] : 0;
        /* In eval mode dx and R{dx} do not depend on the sums (m1, m2, R{m1}
         * and R{m2} below are 0): one pass does both, with the same
         * arithmetic as the second pass's. */
        const double z0 = 0;
        int fused = !train && dx && rdy;
        for (size_t i = 0; i < n; i++) {
            const HV_REAL *xr = SMP(x, i) + c * hw, *yr = SMP(y, i) + c * hw, *dyr = SMP(dy, i) + c * hw;
            if (!rdy) {
#define SUM_G(j, l)                                                          \
    do {                                                                     \
        double xh = (xr[j] - mu) * s, dz = !relu || yr[j] > 0 ? dyr[j] : 0.0; \
        L0[l] += dz;                                                         \
        L1[l] += dz * xh;                                                    \
    } while (0)
                HV_LANES(hw, SUM_G);
#undef SUM_G
                continue;
            }
            const HV_REAL *rdyr = SMP(rdy, i) + c * hw, *rxr = SMP(rx, i) + c * hw;
/* the terms of element j and their sums into lane l */
#define BN_R_TERMS(j)                                                  \
    int on = !relu || yr[j] > 0;                                       \
    double xh = (xr[j] - mu) * s, dz = on ? dyr[j] : 0.0;              \
    double rdz = on ? rdyr[j] : 0.0, rxh = s * (rxr[j] - r1 - xh * r2)
#define BN_R_SUMS(l)      \
    L0[l] += dz;          \
    L1[l] += dz * xh;     \
    L2[l] += rdz;         \
    L3[l] += rdz * xh;    \
    L4[l] += dz * rxh
            if (fused) {
                HV_REAL *dxr = SMP(dx, i) + c * hw, *rdxr = SMP(rdx, i) + c * hw;
#define SUM_GR_DX(j, l)                                                                   \
    do {                                                                                  \
        BN_R_TERMS(j);                                                                    \
        BN_R_SUMS(l);                                                                     \
        double dxv = s * (gc * dz - z0 - xh * z0);                                        \
        dxr[j] += dxv;                                                                    \
        rdxr[j] += -s * r2 * dxv + s * (rgc * dz + gc * rdz - z0 - rxh * z0 - xh * z0);   \
    } while (0)
                HV_LANES(hw, SUM_GR_DX);
#undef SUM_GR_DX
                continue;
            }
#define SUM_GR(j, l)    \
    do {                \
        BN_R_TERMS(j);  \
        BN_R_SUMS(l);   \
    } while (0)
            HV_LANES(hw, SUM_GR);
#undef SUM_GR
#undef BN_R_TERMS
#undef BN_R_SUMS
        }
        /* sum dz, sum dz xh, sum R{dz}, sum R{dz} xh, sum dz R{xh} */
        double Sdz = HV_NAME(hv_fold)(L0), Sdzx = HV_NAME(hv_fold)(L1), Srdz = HV_NAME(hv_fold)(L2),
               Srdzx = HV_NAME(hv_fold)(L3), Sdzr = HV_NAME(hv_fold)(L4);
        dg[c] += Sdzx;
        db[c] += Sdz;
        if (rdy) {
            rdg[c] += Srdzx + Sdzr;
            rdb[c] += Srdz;
        }
        if (!dx || fused) continue;
        double m1 = train ? gc * Sdz / M : 0, m2 = train ? gc * Sdzx / M : 0;
        double Rm1 = train && rdy ? (rgc * Sdz + gc * Srdz) / M : 0;
        double Rm2 = train && rdy ? (rgc * Sdzx + gc * Srdzx + gc * Sdzr) / M : 0;
        for (size_t i = 0; i < n; i++) {
            const HV_REAL *xr = SMP(x, i) + c * hw, *yr = SMP(y, i) + c * hw, *dyr = SMP(dy, i) + c * hw;
            HV_REAL *dxr = SMP(dx, i) + c * hw;
            if (!rdy) {
#pragma omp simd
                for (size_t j = 0; j < hw; j++) {
                    double xh = (xr[j] - mu) * s, dz = !relu || yr[j] > 0 ? dyr[j] : 0.0;
                    dxr[j] += s * (gc * dz - m1 - xh * m2);
                }
                continue;
            }
            const HV_REAL *rdyr = SMP(rdy, i) + c * hw, *rxr = SMP(rx, i) + c * hw;
            HV_REAL *rdxr = SMP(rdx, i) + c * hw;
#pragma omp simd
            for (size_t j = 0; j < hw; j++) {
                int on = !relu || yr[j] > 0;
                double xh = (xr[j] - mu) * s, dz = on ? dyr[j] : 0.0;
                double dxv = s * (gc * dz - m1 - xh * m2);
                dxr[j] += dxv;
                double rdz = on ? rdyr[j] : 0.0, rxh = s * (rxr[j] - r1 - xh * r2);
                double RA = rgc * dz + gc * rdz;
                rdxr[j] += -s * r2 * dxv + s * (RA - Rm1 - rxh * m2 - xh * Rm2);
            }
        }
    }
}

/* ---- ReLU and residual add ------------------------------------------- */
/* The elementwise loops below carry `omp simd`: their rows never overlap
 * (values, R-values and gradients are separate arrays), which GCC cannot
 * prove past its limit of alias checks; the masked updates are selects, so
 * a lane the mask cuts keeps its bits (even a -0). */
static void HV_NAME(hv_relu_fwd)(const HV_VIEW *x, const HV_VIEW *rx, HV_VIEW *y, HV_VIEW *ry, size_t n)
{
    size_t m = (size_t)x->c * x->h * x->w;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        const HV_REAL *xr = SMP(x, i), *rxr = ry ? SMP(rx, i) : xr;
        HV_REAL *yr = SMP(y, i), *ryr = ry ? SMP(ry, i) : yr;
#pragma omp simd
        for (size_t j = 0; j < m; j++) {
            int on = xr[j] > 0;
            if (ry) ryr[j] = on ? rxr[j] : 0.0;
            yr[j] = on ? xr[j] : 0.0;
        }
    }
}

static void HV_NAME(hv_relu_bwd)(const HV_VIEW *y, const HV_VIEW *dy, const HV_VIEW *rdy, HV_VIEW *dx, HV_VIEW *rdx, size_t n)
{
    size_t m = (size_t)y->c * y->h * y->w;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        const HV_REAL *yr = SMP(y, i), *dyr = SMP(dy, i), *rdyr = rdy ? SMP(rdy, i) : dyr;
        HV_REAL *dxr = SMP(dx, i), *rdxr = rdy ? SMP(rdx, i) : dxr;
#pragma omp simd
        for (size_t j = 0; j < m; j++) {
            int on = yr[j] > 0;
            dxr[j] = on ? dxr[j] + dyr[j] : dxr[j];
            if (rdy) rdxr[j] = on ? rdxr[j] + rdyr[j] : rdxr[j];
        }
    }
}

static void HV_NAME(hv_add_fwd)(const HV_VIEW *a, const HV_VIEW *b, const HV_VIEW *ra, const HV_VIEW *rb, int relu,
                HV_VIEW *y, HV_VIEW *ry, size_t n)
{
    size_t m = (size_t)y->c * y->h * y->w;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        const HV_REAL *ar = SMP(a, i), *br = SMP(b, i);
        const HV_REAL *rar = ry ? SMP(ra, i) : ar, *rbr = ry ? SMP(rb, i) : br;
        HV_REAL *yr = SMP(y, i), *ryr = ry ? SMP(ry, i) : yr;
#pragma omp simd
        for (size_t j = 0; j < m; j++) {
            double v = ar[j] + br[j];
            int cut = relu && !(v > 0);
            if (ry) ryr[j] = cut ? 0.0 : rar[j] + rbr[j];
            yr[j] = cut ? 0.0 : v;
        }
    }
}

static void HV_NAME(hv_add_bwd)(const HV_VIEW *y, const HV_VIEW *dy, const HV_VIEW *rdy, int relu, HV_VIEW *da, HV_VIEW *db,
                HV_VIEW *rda, HV_VIEW *rdb, size_t n)
{
    size_t m = (size_t)y->c * y->h * y->w;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        const HV_REAL *yr = SMP(y, i), *dyr = SMP(dy, i), *rdyr = rdy ? SMP(rdy, i) : dyr;
        HV_REAL *dbr = SMP(db, i), *dar = da ? SMP(da, i) : dbr;
        HV_REAL *rdbr = rdy ? SMP(rdb, i) : dbr, *rdar = rdy && rda ? SMP(rda, i) : dbr;
#pragma omp simd
        for (size_t j = 0; j < m; j++) {
            int on = !relu || yr[j] > 0;
            double d = dyr[j];
            if (da) dar[j] = on ? dar[j] + d : dar[j];
            dbr[j] = on ? dbr[j] + d : dbr[j];
            if (rdy) {
                if (rda) rdar[j] = on ? rdar[j] + rdyr[j] : rdar[j];
                rdbr[j] = on ? rdbr[j] + rdyr[j] : rdbr[j];
            }
        }
    }
}

/* ---- pooling and the option-A shortcut (linear, parameter-free) ------ */
static void HV_NAME(hv_avgpool_fwd)(const HV_VIEW *x, HV_VIEW *y, size_t n)
{
    int W = x->w, oh = y->h, ow = y->w;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < x->c; c++) {
            const HV_REAL *p = SMP(x, i) + (size_t)c * x->h * W;
            HV_REAL *q = SMP(y, i) + (size_t)c * oh * ow;
            for (int a = 0; a < oh; a++)
                for (int b = 0; b < ow; b++) {
                    const HV_REAL *r = p + (size_t)2 * a * W + 2 * b;
                    q[a * ow + b] = 0.25 * (r[0] + r[1] + r[W] + r[W + 1]);
                }
        }
}

static void HV_NAME(hv_avgpool_bwd)(const HV_VIEW *dy, HV_VIEW *dx, size_t n)
{
    int W = dx->w, oh = dy->h, ow = dy->w;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < dx->c; c++) {
            const HV_REAL *d = SMP(dy, i) + (size_t)c * oh * ow;
            HV_REAL *q = SMP(dx, i) + (size_t)c * dx->h * W;
            for (int a = 0; a < oh; a++)
                for (int b = 0; b < ow; b++) {
                    double v = 0.25 * d[a * ow + b];
                    HV_REAL *r = q + (size_t)2 * a * W + 2 * b;
                    r[0] += v;
                    r[1] += v;
                    r[W] += v;
                    r[W + 1] += v;
                }
        }
}

static void HV_NAME(hv_gap_fwd)(const HV_VIEW *x, HV_VIEW *y, size_t n)
{
    size_t hw = (size_t)x->h * x->w;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < x->c; c++) {
            double s = 0;
            for (size_t j = 0; j < hw; j++) s += SMP(x, i)[c * hw + j];
            SMP(y, i)[c] = s / (double)hw;
        }
}

static void HV_NAME(hv_gap_bwd)(const HV_VIEW *dy, HV_VIEW *dx, size_t n)
{
    size_t hw = (size_t)dx->h * dx->w;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < dx->c; c++) {
            double v = SMP(dy, i)[c] / (double)hw;
            for (size_t j = 0; j < hw; j++) SMP(dx, i)[c * hw + j] += v;
        }
}

static void HV_NAME(hv_padshort_fwd)(const HV_VIEW *x, int stride, int pad, HV_VIEW *y, size_t n)
{
    size_t yhw = (size_t)y->h * y->w;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        memset(SMP(y, i), 0, sizeof(HV_REAL) * y->c * yhw);
        for (int c = 0; c < x->c; c++) {
            const HV_REAL *p = SMP(x, i) + (size_t)c * x->h * x->w;
            HV_REAL *q = SMP(y, i) + (c + pad) * yhw;
            for (int a = 0; a < y->h; a++)
                for (int b = 0; b < y->w; b++) q[a * y->w + b] = p[(size_t)a * stride * x->w + b * stride];
        }
    }
}

static void HV_NAME(hv_padshort_bwd)(const HV_VIEW *dy, int stride, int pad, HV_VIEW *dx, size_t n)
{
    size_t yhw = (size_t)dy->h * dy->w;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < dx->c; c++) {
            const HV_REAL *d = SMP(dy, i) + (c + pad) * yhw;
            HV_REAL *q = SMP(dx, i) + (size_t)c * dx->h * dx->w;
            for (int a = 0; a < dy->h; a++)
                for (int b = 0; b < dy->w; b++) q[(size_t)a * stride * dx->w + b * stride] += d[a * dy->w + b];
        }
}

/* ---- linear ------------------------------------------------------------ */
static void HV_NAME(hv_linear_fwd)(const HV_VIEW *x, const HV_VIEW *rx, const HV_REAL *w, const HV_REAL *b, const HV_REAL *rw,
                   const HV_REAL *rb, HV_VIEW *y, HV_VIEW *ry, size_t n)
{
    int in = x->c * x->h * x->w, out = y->c;
#pragma omp parallel for schedule(static)
    for (size_t c = 0; c < nchunks(n); c++) {
        size_t i0 = c * HV_CHUNK;
        int cnt = (int)chunk_len(n, c);
        HV_GEMM(0, 1, cnt, out, in, 1, SMP(x, i0), (int)x->ns, w, in, 0, SMP(y, i0), (int)y->ns);
        if (ry) {
            HV_GEMM(0, 1, cnt, out, in, 1, SMP(x, i0), (int)x->ns, rw, in, 0, SMP(ry, i0), (int)ry->ns);
            if (rx)
                HV_GEMM(0, 1, cnt, out, in, 1, SMP(rx, i0), (int)rx->ns, w, in, 1, SMP(ry, i0),
                         (int)ry->ns);
        }
        for (size_t i = i0; i < i0 + (size_t)cnt; i++)
            for (int j = 0; j < out; j++) {
                SMP(y, i)[j] += b[j];
                if (ry) SMP(ry, i)[j] += rb[j];
            }
    }
}

static void HV_NAME(hv_linear_bwd)(const HV_VIEW *x, const HV_VIEW *rx, const HV_REAL *w, const HV_REAL *rw, const HV_VIEW *dy,
                   const HV_VIEW *rdy, HV_VIEW *dx, HV_VIEW *rdx, HV_REAL *dw, HV_REAL *db, HV_REAL *rdw,
                   HV_REAL *rdb, size_t n, HV_REAL *wpart)
{
    int in = x->c * x->h * x->w, out = dy->c;
    size_t nch = nchunks(n), ws = (size_t)out * in;
#pragma omp parallel
    {
#pragma omp for schedule(static)
        for (size_t c = 0; c < nch; c++) {
            size_t i0 = c * HV_CHUNK;
            int cnt = (int)chunk_len(n, c), nx = (int)x->ns, nd = (int)dy->ns;
            HV_REAL *pw = wpart + 2 * c * ws, *prw = pw + ws;
            const HV_REAL *d = SMP(dy, i0);
            HV_GEMM(1, 0, out, in, cnt, 1, d, nd, SMP(x, i0), nx, 0, pw, in);      /* dy^T x */
            if (dx) HV_GEMM(0, 0, cnt, in, out, 1, d, nd, w, in, 1, SMP(dx, i0), (int)dx->ns);
            if (!rdy) continue;
            const HV_REAL *rd = SMP(rdy, i0);
            int nr = (int)rdy->ns;
            HV_GEMM(1, 0, out, in, cnt, 1, rd, nr, SMP(x, i0), nx, 0, prw, in);   /* R{dy}^T x */
            if (rx) HV_GEMM(1, 0, out, in, cnt, 1, d, nd, SMP(rx, i0), (int)rx->ns, 1, prw, in);
            if (dx) {
                HV_GEMM(0, 0, cnt, in, out, 1, rd, nr, w, in, 1, SMP(rdx, i0), (int)rdx->ns);
                HV_GEMM(0, 0, cnt, in, out, 1, d, nd, rw, in, 1, SMP(rdx, i0), (int)rdx->ns);
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
                s += SMP(dy, i)[j];
                if (rdy) r += SMP(rdy, i)[j];
            }
            db[j] += s;
            if (rdy) rdb[j] += r;
        }
    }
}

/* ---- loss -------------------------------------------------------------- *
 * L = mean over samples of lse(z) - z_label; dz = (p - onehot) / n with
 * p = softmax(z); R{dz} = p (R{z} - <p, R{z}>) / n. */
static double HV_NAME(hv_softmax_ce)(const HV_VIEW *z, const HV_VIEW *rz, const int32_t *labels, size_t n, int classes,
                     HV_VIEW *dz, HV_VIEW *rdz)
{
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        const HV_REAL *zi = SMP(z, i);
        double mx = zi[0], se = 0, prz = 0;
        for (int j = 1; j < classes; j++) mx = zi[j] > mx ? zi[j] : mx;
        for (int j = 0; j < classes; j++) se += exp(zi[j] - mx);
        double lse = mx + log(se);
        total += lse - zi[labels[i]];
        HV_REAL *d = SMP(dz, i);
        for (int j = 0; j < classes; j++) d[j] = exp(zi[j] - lse);   /* p, for now */
        if (rz) {
            for (int j = 0; j < classes; j++) prz += d[j] * SMP(rz, i)[j];
            for (int j = 0; j < classes; j++) SMP(rdz, i)[j] = d[j] * (SMP(rz, i)[j] - prz) / (double)n;
        }
        for (int j = 0; j < classes; j++) d[j] = (d[j] - (j == labels[i])) / (double)n;
    }
    return total / (double)n;
}

#undef SMP
#undef HV_LANES
#undef HV_PRAGMA
#undef HV_LANES_N
#undef HV_GEMM
