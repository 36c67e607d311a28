/* What the catalog's files share: catalog.c (the table, parameters, the
 * separable machinery, the non-separable entries) and catalog_sep.c (the
 * separable entries). */
#ifndef SGDSCAPE_CATALOG_INTERNAL_H
#define SGDSCAPE_CATALOG_INTERNAL_H

#include "sgdscape/landscape.h"

#include <stddef.h>

#define PI 3.14159265358979323846

/* ---- parameters "key=value,key=value" ---------------------------------- */
typedef struct kv { char key[32]; double val; int used; } kv;
typedef struct kvlist { kv item[16]; int n; } kvlist;
/* The value of parameter key (marking it used), or def if not given. */
double catalog_param(kvlist *l, const char *key, double def);

/* ---- separable landscapes ------------------------------------------------- */
/* One coordinate's function. p is the entry's parameter block, i the
 * coordinate (for anisotropic quadratics). */
typedef struct sep_ops {
    double (*phi)(const void *p, size_t i, double x, double *dphi, double *d2phi);
    double (*Phi)(const void *p, size_t i, double x);            /* antiderivative, or NULL */
    /* Gaussian-smoothed phi and its derivative, sigma = eta*r; or NULL. */
    double (*gauss)(const void *p, size_t i, double y, double sigma, double *dg);
} sep_ops;

typedef struct sep_params {
    const sep_ops *ops;
    double c0;          /* constant added to f */
    double buf[64];     /* entry parameters */
    double *a;          /* per-coordinate scale (quadratic), or NULL */
} sep_params;

/* A separable entry's landscape: fg, Hessian and smoothing from ops; the
 * maker fills *out's parameters, the domain, L and x*. NULL on failure. */
sgd_landscape *catalog_sep_new(const char *name, const char *doc, size_t d, const sep_ops *ops, sep_params **out);
/* The closed-form convolutions of a separable entry (f->smooth). */
int catalog_sep_smooth(const sgd_landscape *f, const sgd_noise *W, double eta, const double *y, double *g,
                       double *grad);
/* Largest |phi''| on [lo, hi] at n + 1 points. */
double catalog_L_scan(const sep_params *sp, double lo, double hi, size_t n);
/* Newton on phi' from x0: the entries' minimisers. */
double catalog_argmin(const sep_params *sp, double x0);
/* The end of a maker: x* = (v, ..., v), or NULL (message set, f freed) when
 * that allocation fails. */
sgd_landscape *catalog_with_xstar(sgd_landscape *f, double v);

/* The separable entries' makers (catalog_sep.c). */
sgd_landscape *catalog_spiky(kvlist *kl, size_t d);
sgd_landscape *catalog_quadratic(kvlist *kl, size_t d);
sgd_landscape *catalog_rastrigin(kvlist *kl, size_t d);
sgd_landscape *catalog_styblinski(kvlist *kl, size_t d);
sgd_landscape *catalog_double_well(kvlist *kl, size_t d);
sgd_landscape *catalog_sharp_flat(kvlist *kl, size_t d);

#endif
