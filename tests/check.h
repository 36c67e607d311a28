/* Minimal test harness: every check prints on failure, and the test ends with
 * the line "N passed, N failed". Asserts compare computed values against
 * closed forms, finite differences or fixtures: never against themselves. */
#ifndef SGD_CHECK_H
#define SGD_CHECK_H

#include "sgdscape/io.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int chk_pass, chk_fail;

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (cond) chk_pass++;                                                       \
        else {                                                                      \
            chk_fail++;                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                           \
    } while (0)

/* |a - b| <= atol + rtol*|b| */
#define CHECK_CLOSE(a, b, atol, rtol)                                                    \
    do {                                                                                 \
        double ca_ = (double)(a), cb_ = (double)(b);                                     \
        if (fabs(ca_ - cb_) <= (atol) + (rtol) * fabs(cb_)) chk_pass++;                  \
        else {                                                                           \
            chk_fail++;                                                                  \
            fprintf(stderr, "%s:%d: CHECK_CLOSE failed: %s = %.17g, %s = %.17g\n",       \
                    __FILE__, __LINE__, #a, ca_, #b, cb_);                               \
        }                                                                                \
    } while (0)

static inline int check_done(void)
{
    printf("%d passed, %d failed\n", chk_pass, chk_fail);
    return chk_fail ? 1 : 0;
}

/* Path of a file in the build or source tree (tests run with these set). */
static inline const char *check_build_dir(void)
{
    const char *d = getenv("SGD_BUILD_DIR");
    return d ? d : ".";
}
static inline const char *check_source_dir(void)
{
    const char *d = getenv("SGD_SOURCE_DIR");
    return d ? d : "..";
}

/* A small separable image set for the network tests: n 8x8 uint8 images, label
 * i mod 3, class k lifting rows 3k..3k+2 by `lift` over LCG noise 0..89 from
 * seed s; written as x (n, 8, 8) u8 and y (n,) i32 .npy. Nonzero on failure. */
static inline int chk_write_set(const char *x, const char *y, int n, uint32_t s, int lift)
{
    uint8_t *X = malloc((size_t)n * 64);
    int32_t *lab = malloc((size_t)n * sizeof *lab);
    int rc = !X || !lab;
    for (int i = 0; i < n && !rc; i++) {
        lab[i] = i % 3;
        for (int k = 0; k < 64; k++) {
            s = s * 1664525u + 1013904223u;
            X[i * 64 + k] = (uint8_t)((s >> 24) % 90 + (k / 8 / 3 == lab[i] ? lift : 0));
        }
    }
    size_t xs[3] = {(size_t)n, 8, 8}, ys[1] = {(size_t)n};
    if (!rc) rc = sgd_npy_write(x, SGD_NPY_U8, X, 3, xs) || sgd_npy_write(y, SGD_NPY_I32, lab, 1, ys);
    free(X);
    free(lab);
    return rc;
}

#endif
