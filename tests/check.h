/* Minimal test harness: every check prints on failure, and the test ends with
 * the line "N passed, N failed". Asserts compare computed values against
 * closed forms, finite differences or fixtures: never against themselves. */
#ifndef SGD_CHECK_H
#define SGD_CHECK_H

#include <math.h>
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

#endif
