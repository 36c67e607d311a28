/* im2col for one sample, written once for the training engine
 * (layers_conv.c, float) and the Hessian-vector products (hvp_conv_impl.h,
 * float and double): the includer defines IM2COL_T (the element type) and
 * IM2COL_NAME (the function's name). No include guard on purpose.
 * col[(ci k + ki) k + kj][oy ow + ox] = x[ci][oy s - p + ki][ox s - p + kj]
 * (0 outside). */
static void IM2COL_NAME(const IM2COL_T *x, int c, int h, int w, int k, int s, int p, int oh, int ow, IM2COL_T *col)
{
    size_t P = (size_t)oh * ow;
    for (int ci = 0; ci < c; ci++)
        for (int ki = 0; ki < k; ki++)
            for (int kj = 0; kj < k; kj++) {
                IM2COL_T *row = col + ((size_t)(ci * k + ki) * k + kj) * P;
                const IM2COL_T *xc = x + (size_t)ci * h * w;
                for (int oy = 0; oy < oh; oy++) {
                    int iy = oy * s - p + ki;
                    IM2COL_T *r = row + (size_t)oy * ow;
                    if (iy < 0 || iy >= h) {
                        memset(r, 0, sizeof(IM2COL_T) * ow);
                        continue;
                    }
                    const IM2COL_T *xr = xc + (size_t)iy * w;
                    if (s == 1) {
                        /* contiguous run with zero margins */
                        int lo = p - kj, hi = w + p - kj; /* valid ox in [lo, hi) */
                        if (lo < 0) lo = 0;
                        if (lo > ow) lo = ow;
                        if (hi > ow) hi = ow;
                        if (hi < lo) hi = lo;
                        /* plain loops: rows are short, a memcpy call per row costs more */
                        const IM2COL_T *xs = xr - p + kj + lo;
                        IM2COL_T *rs = r + lo;
                        int len = hi - lo;
                        for (int ox = 0; ox < lo; ox++) r[ox] = 0;
                        for (int t = 0; t < len; t++) rs[t] = xs[t];
                        for (int ox = hi; ox < ow; ox++) r[ox] = 0;
                    } else {
                        for (int ox = 0; ox < ow; ox++) {
                            int ix = ox * s - p + kj;
                            r[ox] = (ix >= 0 && ix < w) ? xr[ix] : (IM2COL_T)0;
                        }
                    }
                }
            }
}

#undef IM2COL_T
#undef IM2COL_NAME
