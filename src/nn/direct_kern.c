/* Direct convolution kernels (direct.c has the design): copies in and out,
 * the gathered-GEMM inner kernels, forward and backward; compiled once per
 * kernel variant (src/core/isa.h), entry points named by SGD_KERN. */
#include "nn/direct_internal.h"
#include "nn/nn_internal.h"
#include "core/isa.h"

#include <omp.h>
#include <string.h>

#define OB 4                  /* output channels per register block */
#define JB 2                  /* vectors of j per register block */
#define KB 48                 /* most columns per register-held partial sum */
#define JBLK 64               /* most vectors of j per weight-gradient partial */

typedef float v8f __attribute__((vector_size(32)));
/* Only the static helpers below take or return a v8f by value, so GCC's note
 * that such calls have another ABI when the build lacks AVX (-Wpsabi, an
 * error under -Werror in a SGD_NATIVE=OFF build) concerns no interface. */
#if defined(__clang__)
#if __has_warning("-Wpsabi")
#pragma clang diagnostic ignored "-Wpsabi"
#endif
#elif defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

/* Pins a loaded vector in a register: without it GCC 12 folds the load
 * into every product that uses the value (one load per product), and the
 * inner loops become load-bound. No code is emitted. */
#if defined(__x86_64__) && defined(__AVX__)
#define KEEP(v) __asm__("" : "+x"(v))
#else
#define KEEP(v) (void)0
#endif

static inline v8f ld(const float *p)
{
    v8f v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void st(float *p, v8f v) { memcpy(p, &v, sizeof v); }

/* ---- copies in and out --------------------------------------------------- */

/* Interior of the padded, phase-split copy of one image (the zero border
 * was written once per kernel call, i.e. per 16-sample chunk in net_exec.c's
 * executor, and is never touched). */
static void x_in(const dgeo *g, const float *x, float *xp)
{
    int s = g->s, p = g->p, w = g->w;
    for (int c = 0; c < g->cin; c++) {
        float *dst = xp + c * g->xcs;
        for (int iy = 0; iy < g->h; iy++) {
            const float *src = x + ((size_t)c * g->h + iy) * w;
            int Y = iy + p;
            if (s == 1) {
                float *r = dst + (size_t)Y * g->pw + p;
                for (int ix = 0; ix < w; ix++) r[ix] = src[ix];
                continue;
            }
            /* s == 2: columns X = ix + p go to plane X & 1, index X >> 1 */
            int ry = Y & 1;
            float *r0 = dst + (size_t)(ry * 2) * g->plane + (size_t)(Y >> 1) * g->pw;
            float *r1 = r0 + g->plane;
            int e = p & 1;              /* first ix with even X */
            float *re = e ? r1 : r0, *ro = e ? r0 : r1;
            /* ix = 2q (X = 2q + p) and ix = 2q + 1 */
            int h0 = p >> 1, h1 = (p + 1) >> 1;
            if (g->used >> (ry * 2 + e) & 1)
                for (int q = 0; 2 * q < w; q++) re[q + h0] = src[2 * q];
            if (g->used >> (ry * 2 + (1 - e)) & 1)
                for (int q = 0; 2 * q + 1 < w; q++) ro[q + h1] = src[2 * q + 1];
        }
    }
}

/* dy of one sample on the flat output grid (row stride pw). */
static void dy_flat(const dgeo *g, const float *dy, float *f)
{
    for (int c = 0; c < g->cout; c++)
        for (int oy = 0; oy < g->oh; oy++) {
            const float *src = dy + ((size_t)c * g->oh + oy) * g->ow;
            float *r = f + (size_t)c * g->m8 + (size_t)oy * g->pw;
            for (int ox = 0; ox < g->ow; ox++) r[ox] = src[ox];
        }
}

/* dy of one sample, padded by Q at the top and left (row stride dc). */
static void dy_pad(const dgeo *g, const float *dy, float *d)
{
    for (int c = 0; c < g->cout; c++)
        for (int oy = 0; oy < g->oh; oy++) {
            const float *src = dy + ((size_t)c * g->oh + oy) * g->ow;
            float *r = d + c * g->dcs + (size_t)(oy + g->Q) * g->dc + g->Q;
            for (int ox = 0; ox < g->ow; ox++) r[ox] = src[ox];
        }
}

/* ---- the two inner kernels ------------------------------------------------ */

/* Split n into the fewest parts of at most most: parts of ceil(n / parts)
 * (equal, so that no short part costs a pass of its own). */
static inline int part_len(int n, int most)
{
    int parts = (n + most - 1) / most;
    return parts > 1 ? (n + parts - 1) / parts : n;
}

/* out[o][j] = sum_kc W[o * K + kc] * src[col[kc] + j] for one block of
 * NO <= OB output channels and NJ <= JB vectors of j: the accumulators stay
 * in registers across kb <= KB columns at a time; the partials are added
 * into out in column order, so a sum of K = 16 channels x 9 taps is 48 + 2
 * additions deep instead of 144 (precision, issue 12). Inlined with
 * constant NO, NJ. */
static inline __attribute__((always_inline)) void
gg_block(const float *src, const int *col, int K, int kb, const float *W, float *out, size_t os,
         int j, int NO, int NJ)
{
    for (int k0 = 0; k0 < K; k0 += kb) {
        int k1 = K - k0 < kb ? K : k0 + kb;
        v8f acc[OB][JB];
        for (int o = 0; o < NO; o++)
            for (int b = 0; b < NJ; b++) acc[o][b] = (v8f){0};
        for (int kc = k0; kc < k1; kc++) {
            const float *p = src + col[kc] + j;
            v8f xv[JB];
            for (int b = 0; b < NJ; b++) xv[b] = ld(p + b * VL);
            for (int o = 0; o < NO; o++) {
                float wv = W[(size_t)o * K + kc];
                for (int b = 0; b < NJ; b++) acc[o][b] += xv[b] * wv;
            }
        }
        for (int o = 0; o < NO; o++)
            for (int b = 0; b < NJ; b++) {
                float *q = out + o * os + j + b * VL;
                st(q, k0 ? ld(q) + acc[o][b] : acc[o][b]);
            }
    }
}

/* out (nout rows of os floats, m8 used) = W (nout x K) applied to the
 * gathered columns of src. */
static void gg(const float *src, const int *col, int K, const float *W, int nout, float *out,
               size_t os, int m8)
{
    int kb = part_len(K, KB);
    for (int o = 0; o < nout; o += OB) {
        int no = nout - o < OB ? nout - o : OB;
        const float *Wo = W + (size_t)o * K;
        float *oo = out + o * os;
        int j = 0;
#define GG_CASE(NO_)                                                      \
    case NO_:                                                             \
        for (; j + JB * VL <= m8; j += JB * VL)                           \
            gg_block(src, col, K, kb, Wo, oo, os, j, NO_, JB);            \
        for (; j < m8; j += VL) gg_block(src, col, K, kb, Wo, oo, os, j, NO_, 1); \
        break;
        switch (no) {
            GG_CASE(1)
            GG_CASE(2)
            GG_CASE(3)
            GG_CASE(4)
        }
#undef GG_CASE
    }
}

/* Where a weight-gradient block's register partial over one block of j
 * (at most JBLK vectors) goes: the first block of a sample stores into
 * sacc, the middle ones add to it, the last adds the sample's sum (sacc +
 * partial) into the chunk accumulator acc (a sample with one block adds
 * straight into acc).
 * So a sum over a 32x32 image (132 vectors) is 44 + 3 additions deep per
 * lane, then one per sample of the chunk (precision, issue 12). */
static inline __attribute__((always_inline)) void dw_put(float *acc, float *sacc, size_t at, v8f a,
                                                         int first, int last)
{
    if (!first) a = ld(sacc + at) + a;
    if (last) st(acc + at, ld(acc + at) + a);
    else st(sacc + at, a);
}

/* acc[o][kc] (8 lanes each) gets sum_j dyf[o][j] * src[col[kc] + j] over
 * j in [j0, j1) (dw_put), for one block of NO <= OB output channels and
 * NC <= 2 columns. */
static inline __attribute__((always_inline)) void
dw_block(const float *dyf, size_t ds, const float *src, const int *col, int K, int j0, int j1,
         float *acc, float *sacc, int first, int last, int o0, int kc0, int NO, int NC)
{
    v8f a[OB][2];
    for (int o = 0; o < NO; o++)
        for (int c = 0; c < NC; c++) a[o][c] = (v8f){0};
    const float *d0 = dyf + (size_t)o0 * ds;
    for (int j = j0; j < j1; j += VL) {
        v8f dv[OB];
        for (int o = 0; o < NO; o++) dv[o] = ld(d0 + o * ds + j);
        for (int c = 0; c < NC; c++) {
            v8f xv = ld(src + col[kc0 + c] + j);
            for (int o = 0; o < NO; o++) a[o][c] += dv[o] * xv;
        }
    }
    for (int o = 0; o < NO; o++)
        for (int c = 0; c < NC; c++)
            dw_put(acc, sacc, ((size_t)(o0 + o) * K + kc0 + c) * VL, a[o][c], first, last);
}

/* The common block, 4 output channels x 2 columns, spelled out: with the
 * generic block GCC reloaded every operand for each product (16 loads per
 * 8 products instead of 6), which made this loop load-bound. */
static void dw_block42(const float *dyf, size_t ds, const float *src, const int *col, int K, int j0,
                       int j1, float *acc, float *sacc, int first, int last, int o0, int kc0)
{
    v8f a00 = {0}, a01 = {0}, a10 = {0}, a11 = {0}, a20 = {0}, a21 = {0}, a30 = {0}, a31 = {0};
    const float *d0 = dyf + (size_t)o0 * ds, *d1 = d0 + ds, *d2 = d1 + ds, *d3 = d2 + ds;
    const float *x0 = src + col[kc0], *x1 = src + col[kc0 + 1];
    for (int j = j0; j < j1; j += VL) {
        v8f y0 = ld(d0 + j), y1 = ld(d1 + j), y2 = ld(d2 + j), y3 = ld(d3 + j);
        v8f u = ld(x0 + j), v = ld(x1 + j);
        KEEP(y0);
        KEEP(y1);
        KEEP(y2);
        KEEP(y3);
        KEEP(u);
        KEEP(v);
        a00 += y0 * u;
        a10 += y1 * u;
        a20 += y2 * u;
        a30 += y3 * u;
        a01 += y0 * v;
        a11 += y1 * v;
        a21 += y2 * v;
        a31 += y3 * v;
    }
    v8f r[4][2] = {{a00, a01}, {a10, a11}, {a20, a21}, {a30, a31}};
    for (int o = 0; o < 4; o++)
        for (int c = 0; c < 2; c++)
            dw_put(acc, sacc, ((size_t)(o0 + o) * K + kc0 + c) * VL, r[o][c], first, last);
}

/* One sample's products added into the chunk accumulator acc, by blocks
 * of j (dw_put; sacc holds the sample's running sum). */
static void dw_acc(const float *dyf, int nout, size_t ds, const float *src, const int *col, int K,
                   int m8, float *acc, float *sacc)
{
    int jb = part_len(m8 / VL, JBLK) * VL;
    for (int o = 0; o < nout; o += OB) {
        int no = nout - o < OB ? nout - o : OB;
        for (int kc = 0; kc < K; kc += 2) {
            int nc = K - kc < 2 ? 1 : 2;
            for (int j0 = 0; j0 < m8; j0 += jb) {
                int j1 = m8 - j0 < jb ? m8 : j0 + jb;
                int first = j0 == 0, last = j1 == m8;
#define DW_CASE(NO_)                                                                        \
    case NO_:                                                                               \
        if (NO_ == 4 && nc == 2)                                                            \
            dw_block42(dyf, ds, src, col, K, j0, j1, acc, sacc, first, last, o, kc);        \
        else if (nc == 2)                                                                   \
            dw_block(dyf, ds, src, col, K, j0, j1, acc, sacc, first, last, o, kc, NO_, 2);  \
        else                                                                                \
            dw_block(dyf, ds, src, col, K, j0, j1, acc, sacc, first, last, o, kc, NO_, 1);  \
        break;
                switch (no) {
                    DW_CASE(1)
                    DW_CASE(2)
                    DW_CASE(3)
                    DW_CASE(4)
                }
#undef DW_CASE
            }
        }
    }
}

/* Columns of the forward / weight-gradient product: (channel, tap). */
static void fwd_columns(const dgeo *g, int *col)
{
    for (int c = 0; c < g->cin; c++)
        for (int t = 0; t < g->nt; t++) col[c * g->nt + t] = (int)(c * g->xcs) + g->off[t];
}

/* ---- forward ------------------------------------------------------------ */

static void conv_fwd_team(const dgeo *gp, const nn_view *x, const float *wt, nn_view *y, size_t n,
                          float **scratch);

void SGD_KERN(nn_direct_conv_fwd)(const nn_view *x, const float *wt, int k, int stride, int pad, nn_view *y,
                                  size_t n, float **scratch)
{
    dgeo g;
    if (!nn_direct_geo(&g, x->c, y->c, x->h, x->w, k, stride, pad)) return;
    NN_TEAM(conv_fwd_team(&g, x, wt, y, n, scratch));
}

static void conv_fwd_team(const dgeo *gp, const nn_view *x, const float *wt, nn_view *y, size_t n,
                          float **scratch)
{
    const dgeo g = *gp;
    int K = g.cin * g.nt;
    {
        float *xp = scratch[omp_get_thread_num()];
        float *out = xp + (size_t)g.cin * g.xcs;
        int *cp = (int *)(out + (size_t)g.cout * g.m8);
        fwd_columns(&g, cp);
        memset(xp, 0, sizeof(float) * g.cin * g.xcs);
#pragma omp for schedule(static)
        for (size_t i = 0; i < n; i++) {
            x_in(&g, nn_smp(x, i), xp);
            gg(xp, cp, K, wt, g.cout, out, (size_t)g.m8, g.m8);
            float *yi = nn_smp(y, i);
            for (int c = 0; c < g.cout; c++)
                for (int oy = 0; oy < g.oh; oy++) {
                    const float *r = out + (size_t)c * g.m8 + (size_t)oy * g.pw;
                    float *q = yi + ((size_t)c * g.oh + oy) * g.ow;
                    for (int ox = 0; ox < g.ow; ox++) q[ox] = r[ox];
                }
        }
    }
}

/* ---- backward ----------------------------------------------------------- */

/* dx of one sample += the transposed convolution of its padded dy, phase
 * by phase; the phases' weights and columns are packed back to back in
 * wph and colp (phase_tables). */
static void bwd_data(const dgeo *g, const float *dyp, const float *wph, const int *colp, float *sub,
                     float *dx, int over)
{
    int s = g->s, p = g->p;
    size_t wo = 0, co = 0;
    for (int r = 0; r < s * s; r++) {
        const dphase *P = &g->ph_[r];
        if (!P->nt) continue;
        gg(dyp, colp + co, g->cout * P->nt, wph + wo, g->cin, sub, (size_t)g->dm8, P->m8);
        wo += (size_t)g->cin * g->cout * P->nt;
        co += (size_t)g->cout * P->nt;
        int ry = r / s, rx = r % s;
        for (int c = 0; c < g->cin; c++)
            for (int a = 0; a < P->na; a++) {
                const float *q = sub + (size_t)c * g->dm8 + (size_t)a * g->dc;
                int iy = s * (a + P->a0) + ry - p;
                float *d = dx + ((size_t)c * g->h + iy) * g->w + s * P->b0 + rx - p;
                /* each dx position belongs to exactly one phase: with
                 * over, store (phases without taps were zeroed) */
                if (over)
                    for (int b = 0; b < P->nb; b++) d[s * b] = q[b];
                else if (s == 1)
                    for (int b = 0; b < P->nb; b++) d[b] += q[b];
                else
                    for (int b = 0; b < P->nb; b++) d[s * b] += q[b];
            }
    }
}

/* Per phase of dx: weights W[ci][co, tap] and the columns (dy channel,
 * tap offset), packed back to back (at most k*k taps over all phases). */
static void phase_tables(const dgeo *g, const float *wt, float *wph, int *colp)
{
    size_t wo = 0, co = 0;
    for (int r = 0; r < g->s * g->s; r++) {
        const dphase *P = &g->ph_[r];
        for (int ci = 0; ci < g->cin; ci++)
            for (int o = 0; o < g->cout; o++)
                for (int t = 0; t < P->nt; t++)
                    wph[wo + ((size_t)ci * g->cout + o) * P->nt + t] =
                        wt[((size_t)o * g->cin + ci) * g->nt + P->tap[t]];
        for (int o = 0; o < g->cout; o++)
            for (int t = 0; t < P->nt; t++)
                colp[co + (size_t)o * P->nt + t] = (int)(o * g->dcs) + P->off[t];
        wo += (size_t)g->cin * g->cout * P->nt;
        co += (size_t)g->cout * P->nt;
    }
}

static void conv_bwd_team(const dgeo *gp, const nn_view *x, const float *wt, const nn_view *dy,
                          nn_view *dx, float *dw, size_t n, float **scratch, float *wpart);

void SGD_KERN(nn_direct_conv_bwd)(const nn_view *x, const float *wt, int k, int stride, int pad,
                                  const nn_view *dy, nn_view *dx, float *dw, size_t n, float **scratch,
                                  float *wpart)
{
    dgeo g;
    if (!nn_direct_geo(&g, x->c, dy->c, x->h, x->w, k, stride, pad)) return;
    NN_TEAM(conv_bwd_team(&g, x, wt, dy, dx, dw, n, scratch, wpart));
}

static void conv_bwd_team(const dgeo *gp, const nn_view *x, const float *wt, const nn_view *dy,
                          nn_view *dx, float *dw, size_t n, float **scratch, float *wpart)
{
    const dgeo g = *gp;
    int K = g.cin * g.nt;
    size_t nch = (n + NN_CHUNK - 1) / NN_CHUNK, wsz = (size_t)g.cout * K;
    /* overwrite: phases without taps (k < s) leave their dx positions
     * alone, so then the sample is zeroed first */
    int over = dx && dx->overwrite, zero_first = 0;
    for (int r = 0; r < g.s * g.s; r++)
        if (!g.ph_[r].nt && g.ph_[r].na && g.ph_[r].nb) zero_first = over;
    size_t xsz = (size_t)g.cin * g.h * g.w;
    {
        float *xp = scratch[omp_get_thread_num()];
        float *dyf = xp + (size_t)g.cin * g.xcs;
        float *dyp = dyf + (size_t)g.cout * g.m8;
        float *sub = dyp + (size_t)g.cout * g.dcs;
        float *wph = sub + (size_t)g.cin * g.dm8;             /* ss x cin x cout*TAPS */
        float *acc = wph + (size_t)g.cin * g.cout * TAPS;     /* cout x K x VL */
        float *sacc = acc + wsz * VL;                          /* the same, one sample */
        int *col = (int *)(sacc + wsz * VL);                   /* K, then phase columns */
        int *colp = col + K;
        fwd_columns(&g, col);
        phase_tables(&g, wt, wph, colp);
        memset(xp, 0, sizeof(float) * ((size_t)g.cin * g.xcs + (size_t)g.cout * g.m8 +
                                       (size_t)g.cout * g.dcs));
#pragma omp for schedule(static)
        for (size_t c = 0; c < nch; c++) {
            size_t end = (c + 1) * NN_CHUNK < n ? (c + 1) * NN_CHUNK : n;
            if (dw) memset(acc, 0, sizeof(float) * wsz * VL);
            for (size_t i = c * NN_CHUNK; i < end; i++) {
                if (dw) {
                    x_in(&g, nn_smp(x, i), xp);
                    dy_flat(&g, nn_smp(dy, i), dyf);
                    dw_acc(dyf, g.cout, (size_t)g.m8, xp, col, K, g.m8, acc, sacc);
                }
                if (dx) {
                    if (zero_first) memset(nn_smp(dx, i), 0, sizeof(float) * xsz);
                    dy_pad(&g, nn_smp(dy, i), dyp);
                    bwd_data(&g, dyp, wph, colp, sub, nn_smp(dx, i), over);
                }
            }
            if (dw) {
                float *part = wpart + c * wsz;
                for (size_t j = 0; j < wsz; j++) {
                    const float *q = acc + j * VL;
                    /* fixed lane order */
                    part[j] = ((q[0] + q[1]) + (q[2] + q[3])) + ((q[4] + q[5]) + (q[6] + q[7]));
                }
            }
        }
    }
    if (dw) {
        nn_chunk_sum(wpart, wsz, nch, wsz, dw, 1);
#pragma omp barrier
    }
}
