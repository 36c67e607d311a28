/* The landscape plugin interface. A plugin is a shared object with C linkage:
 *
 *   required:
 *     double sgd_plugin_fg(const double *x, double *grad, size_t d, void *state);
 *         f(x); fill grad[0..d) with the exact gradient when grad != NULL.
 *   optional:
 *     int    sgd_plugin_dim(void);           fixed dimension (0 or absent: any d)
 *     const char *sgd_plugin_name(void);     display name
 *     int    sgd_plugin_xstar(double *x_star, size_t d);  fill x*, return 0
 *     void  *sgd_plugin_init(size_t d);       per-landscape state (passed to fg)
 *     void   sgd_plugin_fini(void *state);
 *     double sgd_plugin_L(size_t d);          smoothness constant
 *     void   sgd_plugin_domain(double *lo, double *hi);
 *
 * Build: cc -shared -fPIC -O2 myf.c -o myf.so ; use: --f plugin:./myf.so
 * See examples/plugin_quartic.c. fg must be thread-safe (trials run in
 * parallel). */
#ifndef SGDSCAPE_PLUGIN_H
#define SGDSCAPE_PLUGIN_H
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef double (*sgd_plugin_fg_fn)(const double *x, double *grad, size_t d, void *state);
typedef int (*sgd_plugin_dim_fn)(void);
typedef const char *(*sgd_plugin_name_fn)(void);
typedef int (*sgd_plugin_xstar_fn)(double *x_star, size_t d);
typedef void *(*sgd_plugin_init_fn)(size_t d);
typedef void (*sgd_plugin_fini_fn)(void *state);
typedef double (*sgd_plugin_L_fn)(size_t d);
typedef void (*sgd_plugin_domain_fn)(double *lo, double *hi);

#ifdef __cplusplus
}
#endif
#endif
