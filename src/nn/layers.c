/* CPU layer kernels, forward and backward side by side: elementwise,
 * pooling, linear, residual add, option-A shortcut, the softmax
 * cross-entropy loss and the kernel table; convolution (im2col) is in
 * layers_conv.c, batch norm in layers_bn.c.
 *
 * Convolution there is im2col + OpenBLAS sgemm per sample, BLAS
 * single-threaded inside an OpenMP loop over samples; the executor
 * (net_exec.c) uses it only when the oneDNN convolution (dnnl.c) is not
 * built, disabled (SGD_NN_DNNL=0) or refuses a shape. Every sum over the
 * batch runs in a fixed order: conv weight gradients are accumulated per
 * fixed chunk of NN_CHUNK samples (in sample order) and the chunk partials
 * are added in chunk order; BN statistics and BN backward sums are per
 * (sample, channel) partials added per channel in sample order, in double.
 * Hence bit-identical results for any thread count. */
#include "nn/nn_internal.h"

#include <math.h>
#include <omp.h>
#include <string.h>

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
        for (size_t j = 0; j < m; j++) {
            float dv = d[j], qv = q[j]; /* both loaded: a select, not a branch, so it vectorises */
            q[j] = p[j] > 0 ? qv + dv : qv;
        }
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
    /* omp simd: p, q and d may be one buffer only index for index, and the
     * select must not become a branch (the mask is a coin flip: perf found
     * this loop scalar and mispredicting, 8.5% of a ResNet-20 step). */
#pragma omp simd
    for (size_t j = 0; j < m; j++) {
        float dj = d[j]; /* loaded unconditionally, so the select can be vector code */
        float dz = (!relu || o[j] > 0) ? dj : 0.0f;
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
