/* Images and labels as a pair of .npy arrays, for data sets without a
 * reader of their own. */
#include "data_internal.h"
#include "sgdscape/error.h"
#include "sgdscape/io.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *dtype_name(sgd_npy_dtype t)
{
    switch (t) {
    case SGD_NPY_F64: return "float64";
    case SGD_NPY_F32: return "float32";
    case SGD_NPY_U8: return "uint8";
    case SGD_NPY_I64: return "int64";
    case SGD_NPY_I32: return "int32";
    }
    return "?";
}

int sgd_data_load_npy(const char *x_path, const char *y_path, int layout, int classes, sgd_dataset *out)
{
    memset(out, 0, sizeof *out);
    sgd_npy X, Y;
    memset(&Y, 0, sizeof Y);
    int rc = sgd_npy_read(x_path, &X);
    if (rc) return rc;
    if (X.dtype != SGD_NPY_U8 && X.dtype != SGD_NPY_F32 && X.dtype != SGD_NPY_F64) {
        rc = sgd_error(SGD_EFORMAT, "%s: images dtype %s unsupported (need uint8 or float32)", x_path,
                       dtype_name(X.dtype));
        goto done;
    }
    if (X.fortran_order) {
        rc = sgd_error(SGD_EFORMAT, "%s: fortran_order arrays unsupported (save with C order)", x_path);
        goto done;
    }
    if (X.ndim != 3 && X.ndim != 4) {
        rc = sgd_error(SGD_EFORMAT, "%s: images shape has %d dimensions (need N,H,W or 4-D NHWC/NCHW)", x_path,
                       X.ndim);
        goto done;
    }
    size_t n = X.shape[0], c, h, w;
    int nhwc = 0;
    if (X.ndim == 3) {
        c = 1;
        h = X.shape[1];
        w = X.shape[2];
    } else {
        if (layout == SGD_DATA_NHWC) nhwc = 1;
        else if (layout == SGD_DATA_NCHW) nhwc = 0;
        else if (layout == SGD_DATA_LAYOUT_AUTO) {
            /* Guess: a trailing 1 or 3 that is not also the second dim is channels. */
            size_t l = X.shape[3], s = X.shape[1];
            nhwc = (l == 1 || l == 3) && !(s == 1 || s == 3);
        } else {
            rc = sgd_error(SGD_EINVAL, "%s: unknown layout %d", x_path, layout);
            goto done;
        }
        c = nhwc ? X.shape[3] : X.shape[1];
        h = nhwc ? X.shape[1] : X.shape[2];
        w = nhwc ? X.shape[2] : X.shape[3];
    }
    size_t per = 1;
    if (n == 0 || c == 0 || h == 0 || w == 0 || !dat_mul(&per, c) || !dat_mul(&per, h) || !dat_mul(&per, w) ||
        per > INT_MAX) {
        rc = sgd_error(SGD_EFORMAT, "%s: images shape (%zu images of %zux%zux%zu) is empty or too large", x_path,
                       n, c, h, w);
        goto done;
    }
    rc = sgd_npy_read(y_path, &Y);
    if (rc) goto done;
    if (Y.dtype != SGD_NPY_I64 && Y.dtype != SGD_NPY_I32 && Y.dtype != SGD_NPY_U8) {
        rc = sgd_error(SGD_EFORMAT, "%s: labels dtype %s unsupported (need int64, int32 or uint8)", y_path,
                       dtype_name(Y.dtype));
        goto done;
    }
    if (!(Y.ndim == 1 || (Y.ndim == 2 && Y.shape[1] == 1)) || Y.fortran_order) {
        rc = sgd_error(SGD_EFORMAT, "%s: labels must be a 1-D array", y_path);
        goto done;
    }
    if (Y.shape[0] != n) {
        rc = sgd_error(SGD_EFORMAT, "%s: label count %zu differs from image count %zu in %s", y_path, Y.shape[0],
                       n, x_path);
        goto done;
    }
    if (classes < 0 || classes > SGD_DATA_MAX_CLASSES) {
        rc = sgd_error(SGD_EINVAL, "%s: classes %d outside [1, %d]", y_path, classes, SGD_DATA_MAX_CLASSES);
        goto done;
    }
    int st = X.dtype == SGD_NPY_U8 ? SGD_DATA_U8 : SGD_DATA_F32;
    rc = dat_alloc(out, n, (int)c, (int)h, (int)w, st, "npy");
    if (rc) goto done;
    long long maxl = -1;
    for (size_t i = 0; i < n; i++) {
        long long v = Y.dtype == SGD_NPY_I64   ? ((const int64_t *)Y.data)[i]
                      : Y.dtype == SGD_NPY_I32 ? ((const int32_t *)Y.data)[i]
                                               : ((const uint8_t *)Y.data)[i];
        if (v < 0 || (classes > 0 && v >= classes) || v >= SGD_DATA_MAX_CLASSES) {
            /* classes come from the largest label: an absurd one would make
             * every per-class array (and the network's last layer) huge */
            rc = classes > 0 && v >= classes
                     ? sgd_error(SGD_EFORMAT, "%s: label %lld at index %zu not below classes = %d", y_path, v, i,
                                 classes)
                 : v < 0 ? sgd_error(SGD_EFORMAT, "%s: label %lld at index %zu is negative", y_path, v, i)
                         : sgd_error(SGD_EFORMAT,
                                     "%s: label %lld at index %zu would mean %lld classes (at most %d; labels "
                                     "must be 0..K-1)",
                                     y_path, v, i, v + 1, SGD_DATA_MAX_CLASSES);
            goto done;
        }
        out->labels[i] = (int32_t)v;
        if (v > maxl) maxl = v;
    }
    out->classes = classes > 0 ? classes : (int)maxl + 1;
    /* Copy to CHW per image; float64 is narrowed to the float32 we train in. */
    for (size_t i = 0; i < n; i++)
        for (size_t ch = 0; ch < c; ch++)
            for (size_t y = 0; y < h; y++)
                for (size_t x = 0; x < w; x++) {
                    size_t dst = ((i * c + ch) * h + y) * w + x;
                    size_t src = nhwc ? ((i * h + y) * w + x) * c + ch : dst;
                    if (st == SGD_DATA_U8) out->u8[dst] = ((const uint8_t *)X.data)[src];
                    else {
                        double v = X.dtype == SGD_NPY_F32 ? ((const float *)X.data)[src]
                                                          : ((const double *)X.data)[src];
                        if (!isfinite(v) || fabs(v) > FLT_MAX) {
                            rc = sgd_error(SGD_EFORMAT, "%s: image %zu has a value that is not a finite float32", x_path, i);
                            goto done;
                        }
                        out->f32[dst] = (float)v;
                    }
                }
    snprintf(out->name, sizeof out->name, "npy:%s", x_path);
done:
    sgd_npy_free(&X);
    sgd_npy_free(&Y);
    if (rc) sgd_data_free(out);
    return rc;
}
