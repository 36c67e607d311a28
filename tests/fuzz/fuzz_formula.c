/* Formula strings (src/landscape/formula.c): parse, then value, gradient,
 * Hessian and the batch paths at a few points. Byte 0 picks d (1..4). */
#include "fuzz_common.h"
#include "sgdscape/landscape.h"
#include "sgdscape/error.h"

#include <math.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t d = 1 + data[0] % 4;
    char *expr = fuzz_str(data + 1, size - 1);
    sgd_landscape *f = sgd_landscape_formula(expr, d);
    free(expr);
    if (!f) {
        sgd_error_clear();
        return 0;
    }
    /* points where the functions have edges: 0, signs, large, tiny, inf, nan */
    static const double pts[] = {0.0, 1.0, -1.5, 0.5, 1e300, -1e-300, INFINITY, NAN};
    const size_t np = sizeof pts / sizeof pts[0];
    double x[4 * 8], g[4 * 8], H[16], fx[8];
    for (size_t k = 0; k < np; k++) {
        for (size_t i = 0; i < d; i++) x[k * d + i] = pts[(k + i) % np];
        double v = f->fg(f, x + k * d, g);
        (void)v;
        (void)f->fg(f, x + k * d, NULL);
        if (f->hess) (void)f->hess(f, x + k * d, H);
    }
    f->grad_batch(f, np, x, g);
    f->value_batch(f, np, x, fx);
    sgd_landscape_free(f);
    return 0;
}
