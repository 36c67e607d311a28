/* Landscapes f: R^d -> R with exact gradients.
 *
 * Three sources, one interface: the built-in catalog (sgd_landscape_catalog),
 * formula strings with exact reverse-mode gradients (sgd_landscape_formula),
 * and C plugins loaded with dlopen (sgd_landscape_plugin). */
#ifndef SGDSCAPE_LANDSCAPE_H
#define SGDSCAPE_LANDSCAPE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "sgdscape/noise.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sgd_landscape sgd_landscape;

/* f(x); writes grad f(x) into grad[0..d) when grad != NULL. */
typedef double (*sgd_fg_fn)(const sgd_landscape *f, const double *x, double *grad);

/* Gradients of n points at once: x and grad are n*d, row-major. The default
 * loops over fg; catalog functions provide vectorisable versions. */
typedef void (*sgd_grad_batch_fn)(const sgd_landscape *f, size_t n, const double *x, double *grad);

/* Values of n points at once (x is n*d, row-major), no gradients. May differ
 * from fg in the last bits where the sum over coordinates is reordered for
 * vector lanes. */
typedef void (*sgd_value_batch_fn)(const sgd_landscape *f, size_t n, const double *x, double *fx);

/* Values and gradients of n points at once, the bits of fg at each point.
 * The default loops over fg; compiled formulas run blocks of points. */
typedef void (*sgd_fg_batch_fn)(const sgd_landscape *f, size_t n, const double *x, double *fx, double *grad);

/* Exact convolution g(y) = E f(y - eta*omega), omega ~ W, and grad g.
 * Returns SGD_EUNSUPPORTED when no closed form exists for that noise. */
typedef int (*sgd_smooth_fn)(const sgd_landscape *f, const sgd_noise *W, double eta,
                             const double *y, double *g, double *grad);

/* Hessian at x into H[d*d] (row-major). */
typedef int (*sgd_hess_fn)(const sgd_landscape *f, const double *x, double *H);

struct sgd_landscape {
    char name[64];         /* catalog name, "formula" or the plugin's name */
    char doc[512];         /* the formula in words, for --list and manifests */
    size_t d;              /* dimension */
    sgd_fg_fn fg;
    sgd_grad_batch_fn grad_batch; /* never NULL after construction */
    sgd_value_batch_fn value_batch; /* never NULL after construction */
    sgd_fg_batch_fn fg_batch;       /* never NULL after construction */
    sgd_smooth_fn smooth;  /* NULL if no closed form at all */
    sgd_hess_fn hess;      /* NULL if not analytic */
    double L;              /* global smoothness constant if known, else NaN */
    double *x_star;        /* d entries, or NULL if unknown */
    double lo, hi;         /* natural domain [lo, hi]^d (starts are drawn here) */
    void *params;          /* implementation data */
    void (*destroy)(sgd_landscape *f);  /* frees params (not the struct) */
    /* The library's private fast paths (separable catalog entries), NULL
     * otherwise; constructors outside the library leave it NULL. */
    const struct sgd_landscape_fast *fast;
};

/* f(x) (and grad) — convenience over f->fg. */
static inline double sgd_landscape_eval(const sgd_landscape *f, const double *x, double *grad)
{
    return f->fg(f, x, grad);
}

/* Build a landscape from a spec:
 *   "NAME" or "NAME:key=value,key=value"   catalog entry (see --list)
 *   "formula:EXPR" or an expression containing 'x'       formula
 *   "plugin:PATH.so"                                      plugin
 * d is the dimension (>= 1). On error returns NULL and sets the message. */
sgd_landscape *sgd_landscape_create(const char *spec, size_t d);

/* Catalog entries by name, with "key=value,..." parameters (may be NULL). */
sgd_landscape *sgd_landscape_catalog(const char *name, const char *params, size_t d);

/* Formula over x (1-D) or x1..xd; sum(E) sums E over coordinates with x bound
 * to each x_i. A parse error names the column. */
sgd_landscape *sgd_landscape_formula(const char *expr, size_t d);

/* Runs a formula landscape compiled: its f and gradient written out as C,
 * compiled with $CC (default cc) into a shared object cached under
 * $XDG_CACHE_HOME/sgdscape (or ~/.cache/sgdscape), and loaded. Values and
 * gradients are bit-identical to the interpreter's. SGD_OK, or an error code
 * with a one-line reason in note[0..len) (no compiler, a compile error,
 * SGD_NO_JIT=1 in the environment, ...): f then keeps its interpreter and
 * stays usable. Call before the landscape is shared between threads. */
int sgd_landscape_formula_jit(sgd_landscape *f, char *note, size_t len);

/* Shared object exporting the interface in sgdscape/plugin.h. */
sgd_landscape *sgd_landscape_plugin(const char *path, size_t d);

void sgd_landscape_free(sgd_landscape *f);

/* Fill in defaults (grad_batch, value_batch and fg_batch from fg, NaN L, domain) after a constructor
 * set fg, d and name. Used by the catalog, formula and plugin constructors. */
void sgd_landscape_finish(sgd_landscape *f);

/* Print the catalog with formulas, x*, domain and L. */
void sgd_landscape_list(FILE *fp);

/* Names of catalog entries, NULL-terminated. */
const char *const *sgd_landscape_names(void);

#ifdef __cplusplus
}
#endif
#endif
