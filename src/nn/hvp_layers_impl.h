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

#include "nn/hvp_conv_impl.h"
#include "nn/hvp_bn_impl.h"

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
    for (size_t c = 0; c < hv_nchunks(n); c++) {
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
    size_t nch = hv_nchunks(n), ws = (size_t)out * in;
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
