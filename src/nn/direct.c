/* Direct convolution for small channel counts, on the engine's NCHW views.
 *
 * Why: oneDNN works in nChw8c on AVX2, so a layer with 3 or 4 channels is
 * padded to 8 on both sides (up to 4x the arithmetic) and every call
 * reorders NCHW in and out; im2col + sgemm spends its time copying. Here a
 * convolution of one sample is a tiny "gathered GEMM":
 *
 *     out[o][j] = sum_kc W[o][kc] * src[col[kc] + j]
 *
 * where src is a zero-padded copy of the input image, j runs over a flat
 * output grid whose rows have the padded width (positions past the real
 * output width are computed and thrown away: no branches at the borders),
 * and each column kc = (input channel, tap) is just an offset col[kc] into
 * src. Strided convolutions split the padded image into s x s phase planes
 * (even/odd rows and columns for s = 2), so every tap again reads a
 * contiguous run. The output is vectorised across j (8 lanes) with several
 * output channels' accumulators in registers per input load.
 *
 *   forward:         src = padded phase-split x, W = w as stored (OIHW).
 *   backward data:   the transposed convolution as s x s sub-convolutions,
 *                    one per phase (ry, rx) of dx: src = dy padded by
 *                    Q = (k-1)/s, W[ci][co, tap] = w[co][ci][ry+s*t][rx+s*u];
 *                    each result is added into dx at rows s*a+ry-p and
 *                    columns s*b+rx-p.
 *   backward weights: dw[o][kc] += sum_j dyf[o][j] * src[col[kc] + j], with
 *                    dyf = dy on the flat grid, zero at thrown-away positions.
 *
 * Products and sums are separate operations (the build has FP contraction
 * off), the order of every sum is fixed by the shape alone. Long sums are
 * blocked (issue 12): a float32 sum of n terms in one accumulator is off by
 * up to ~n ulp of its running magnitude, so at batch 128 of 32x32 images
 * (131072 products per weight) the direct kernels were further from float64
 * than oneDNN. Now gg sums up to KB columns per register partial and adds
 * the partials; weight gradients sum up to JBLK vectors of j per partial,
 * the blocks of one sample, the samples of a chunk, the 8 lanes pairwise,
 * then the chunks pairwise (nn_chunk_sum).
 *
 * Determinism: forward and backward data are per sample. Weight gradients
 * keep 8-lane accumulators per fixed chunk of NN_CHUNK samples (samples in
 * order), reduce the lanes in a fixed order into that chunk's partial, and
 * the partials are summed in chunk order: the scheme of layers_conv.c, so the
 * result does not depend on the thread count.
 *
 * Backward data stores instead of adding when dx->overwrite (net_plan.c marks
 * a gradient's first writer so that it need not be zeroed): each dx
 * position belongs to exactly one phase, and positions no tap reaches
 * (k < s) are zeroed first. The kernels' loops are orphaned `omp for`
 * (NN_TEAM, nn_internal.h): net_exec.c calls them on one 16-sample chunk at a
 * time inside its chunked executor.
 *
 * This file has the geometry, the selection rule and the entry points;
 * direct_kern.c the kernels, compiled once per kernel variant.
 *
 * net_plan.c asks nn_direct_conv_ok() first; SGD_NN_DIRECT=0 in the environment
 * disables this path (A/B timing, tests), SGD_NN_DIRECT=2 sends it every
 * convolution of at most 16 channels (tests). */
#include "nn/direct_internal.h"
#include "nn/nn_internal.h"
#include "core/isa.h"

#include <stdlib.h>
#include <string.h>

/* ---- geometry ---------------------------------------------------------- */

/* The fields of the padded x copy that follow from its row width pw. */
static void rows(dgeo *g, int pw)
{
    int k = g->k, s = g->s, maxoff = 0;
    g->pw = pw;
    g->plane = (size_t)g->ph * g->pw;
    g->m8 = (int)rnd((size_t)g->oh * g->pw);
    g->nt = 0;
    g->used = 0;
    for (int ki = 0; ki < k; ki++)
        for (int kj = 0; kj < k; kj++) {
            int pl = (ki % s) * s + kj % s;
            int o = (int)(pl * g->plane) + (ki / s) * g->pw + kj / s;
            g->off[g->nt++] = o;
            g->used |= 1u << pl;
            if (o > maxoff) maxoff = o;
        }
    size_t need = (size_t)g->m8 + (size_t)maxoff;
    g->xcs = rnd(need > (size_t)s * s * g->plane ? need : (size_t)s * s * g->plane);
}

int nn_direct_geo(dgeo *g, int cin, int cout, int h, int w, int k, int s, int p)
{
    memset(g, 0, sizeof *g);
    if (k < 1 || k > KMAX || s < 1 || s > 2 || p < 0 || p >= k || cin < 1 || cout < 1)
        return 0;
    int oh = (h + 2 * p - k) / s + 1, ow = (w + 2 * p - k) / s + 1;
    if (h + 2 * p < k || w + 2 * p < k || oh < 1 || ow < 1) return 0;
    *g = (dgeo){.cin = cin, .cout = cout, .h = h, .w = w, .k = k, .s = s, .p = p, .oh = oh, .ow = ow};
    int Hp = h + 2 * p, Wp = w + 2 * p;
    g->ph = (Hp + s - 1) / s;
    g->pw = (Wp + s - 1) / s;
    /* stride 1: a row's right padding is the next row's left padding (the
     * reads past a row's end land in the next row's p leading zeros, or in
     * the zero rows below), so rows are w + p wide: fewer thrown-away
     * positions (8x8: 9 instead of 10 per row) */
    if (s == 1) g->pw = w + p;
    rows(g, g->pw);

    /* Backward data. dx in padded coordinates Y = iy + p = s*a + ry takes
     * ki = ry + s*t from dy row oy = a - t, stored at dy-copy row a - t + Q. */
    int Q = (k - 1) / s, amax = 0, bmax = 0;
    g->Q = Q;
    for (int ry = 0; ry < s; ry++)
        for (int rx = 0; rx < s; rx++) {
            dphase *P = &g->ph_[ry * s + rx];
            P->a0 = p > ry ? (p - ry + s - 1) / s : 0;
            P->b0 = p > rx ? (p - rx + s - 1) / s : 0;
            int ae = (p + h - ry + s - 1) / s, be = (p + w - rx + s - 1) / s;
            P->na = ae - P->a0;
            P->nb = be - P->b0;
            if (P->na < 0) P->na = 0;
            if (P->nb < 0) P->nb = 0;
            if (ae > amax) amax = ae;
            if (be > bmax) bmax = be;
        }
    g->dr = (oh > amax ? oh : amax) + Q;
    /* reads past a row's end land in the next row's Q leading zeros:
     * enough that the row holds dy (ow + Q) and the widest phase (bmax) */
    g->dc = ow + Q > bmax ? ow + Q : bmax;
    size_t dneed = (size_t)g->dr * g->dc;
    for (int r = 0; r < s * s; r++) {
        dphase *P = &g->ph_[r];
        int ry = r / s, rx = r % s, mo = 0;
        P->m8 = (int)rnd((size_t)P->na * g->dc);
        if (P->na == 0 || P->nb == 0) continue;
        for (int t = 0; ry + s * t < k; t++)
            for (int u = 0; rx + s * u < k; u++) {
                int o = (P->a0 - t + Q) * g->dc + (P->b0 - u + Q);
                P->tap[P->nt] = (ry + s * t) * k + rx + s * u;
                P->off[P->nt++] = o;
                if (o > mo) mo = o;
            }
        if ((size_t)P->m8 + mo > dneed) dneed = (size_t)P->m8 + mo;
        if (P->m8 > g->dm8) g->dm8 = P->m8;
    }
    g->dcs = rnd(dneed);
    return 1;
}

/* ---- selection, scratch and the entry points ------------------------------
 * Compiled once; the entry points run the kernel variant chosen at start-up
 * (src/core/isa.h, direct_kern.c). */

/* Per-thread scratch, in floats, laid out by the functions below. */
static size_t fwd_floats(const dgeo *g)
{
    return (size_t)g->cin * g->xcs + (size_t)g->cout * g->m8 + (size_t)g->cin * g->nt + VL;
}
static size_t bwd_floats(const dgeo *g)
{
    size_t K = (size_t)g->cin * g->nt;
    return (size_t)g->cin * g->xcs             /* x copy */
           + (size_t)g->cout * g->m8           /* dy on the flat grid */
           + (size_t)g->cout * g->dcs          /* dy padded for backward data */
           + (size_t)g->cin * g->dm8           /* one phase of dx */
           + (size_t)g->cin * g->cout * TAPS   /* phase weights */
           + 2 * K * g->cout * VL              /* dW lane accumulators: chunk, sample */
           + K + (size_t)g->cout * TAPS        /* column offsets (ints) */
           + 8 * VL;
}

size_t nn_direct_scratch(int cin, int cout, int h, int w, int k, int stride, int pad)
{
    dgeo g;
    if (!nn_direct_geo(&g, cin, cout, h, w, k, stride, pad)) return 0;
    size_t a = fwd_floats(&g), b = bwd_floats(&g);
    return a > b ? a : b;
}

/* SGD_NN_DIRECT: 0 never, 2 every shape of at most 16 channels (tests of
 * the kernels on shapes the rule below gives oneDNN), else the rule. */
static int direct_mode(void)
{
    const char *e = getenv("SGD_NN_DIRECT");
    return e && (e[0] == '0' || e[0] == '2') ? e[0] - '0' : 1;
}

/* Selection rule (measured, docs/nn.md): at most 16 channels on both sides,
 * and a channel count that oneDNN would pad to 8, or both at most 8. */
int nn_direct_conv_ok(int cin, int cout, int h, int w, int k, int stride, int pad)
{
    int mode = direct_mode();
    if (!mode) return 0;
    dgeo g;
    if (!nn_direct_geo(&g, cin, cout, h, w, k, stride, pad)) return 0;
    if (cin > 16 || cout > 16) return 0;
    if (mode == 2) return 1;
    /* oneDNN pads channels to a multiple of 8: direct wins where it pads,
     * and on 8 -> 8; on 16 -> 16 at 32x32 (ResNet-20's first stage) oneDNN
     * was ~5% faster, and 8 <-> 16 measured even there. On inputs of at
     * most 16x16 direct wins (tiny ResNet's third stage, 8 -> 16 and
     * 16 -> 16 at 16x16 / 8x8: +15% for the whole net), as oneDNN's per-call
     * reorders dominate and a oneDNN call splits net_exec.c's team region. */
    return cin % 8 || cout % 8 || (cin <= 8 && cout <= 8) || h * w <= 16 * 16;
}

void nn_direct_conv_fwd(const nn_view *x, const float *wt, int k, int stride, int pad, nn_view *y,
                        size_t n, float **scratch)
{
    sgd_kern()->nn_direct_conv_fwd(x, wt, k, stride, pad, y, n, scratch);
}

void nn_direct_conv_bwd(const nn_view *x, const float *wt, int k, int stride, int pad,
                        const nn_view *dy, nn_view *dx, float *dw, size_t n, float **scratch,
                        float *wpart)
{
    sgd_kern()->nn_direct_conv_bwd(x, wt, k, stride, pad, dy, dx, dw, n, scratch, wpart);
}
