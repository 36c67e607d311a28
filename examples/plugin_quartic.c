/* An example landscape plugin: f(x) = sum_i (x_i^4/4 - x_i^2/2) + 0.25*d
 * (a double well per coordinate, minima at x_i = +-1, f = 0 there).
 *
 *   cc -shared -fPIC -O2 -I include examples/plugin_quartic.c -o plugin_quartic.so
 *   sgdscape run --f plugin:./plugin_quartic.so --d 2 ...
 */
#include <stddef.h>
#include "sgdscape/plugin.h"

double sgd_plugin_fg(const double *x, double *grad, size_t d, void *state)
{
    (void)state;
    double f = 0.25 * (double)d;
    for (size_t i = 0; i < d; i++) {
        double xi = x[i], x2 = xi * xi;
        f += 0.25 * x2 * x2 - 0.5 * x2;
        if (grad) grad[i] = x2 * xi - xi;
    }
    return f;
}

const char *sgd_plugin_name(void) { return "quartic-double-well"; }

int sgd_plugin_xstar(double *x_star, size_t d)
{
    for (size_t i = 0; i < d; i++) x_star[i] = 1.0;
    return 0;
}

void sgd_plugin_domain(double *lo, double *hi)
{
    *lo = -2.0;
    *hi = 2.0;
}
