/* Convolution as im2col + OpenBLAS sgemm per sample, forward and backward
 * side by side, BLAS single-threaded inside an OpenMP loop over samples;
 * the executor (net_exec.c) uses it for the convolutions that the direct
 * small-channel kernels (direct.c) do not take, when the oneDNN convolution
 * (dnnl.c) is not built, disabled (SGD_NN_DNNL=0) or refuses a shape. Weight
 * gradients are accumulated per fixed chunk of NN_CHUNK samples (in sample
 * order) and the chunk partials are added in chunk order, so the bits do
 * not depend on the thread count (layers.c). */
#include "nn/nn_internal.h"

#include <omp.h>
#include <string.h>

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

#define IM2COL_T float
#define IM2COL_NAME im2col
#include "nn/im2col_impl.h"

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
