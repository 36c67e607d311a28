/* Batch norm's forward, backward and their R: a part of the template
 * hvp_layers_impl.h, which includes it with its macros defined. No include
 * guard on purpose. */
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
