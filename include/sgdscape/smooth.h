/* The convolved landscape of the paper's alternative view:
 *
 *     g(y) = E_{omega ~ W} f(y - eta*omega),   grad g(y) = E grad f(y - eta*omega)
 *
 * Three ways to compute it, each with an error statement:
 *   exact       the landscape's closed form (f->smooth); error 0
 *   quadrature  GSL adaptive quadrature, d = 1 (interval / Gaussian) and
 *               d = 2 (square, disk, Gaussian); error = GSL's estimate
 *   Monte Carlo any d; error = half-width of a two-sided confidence interval,
 *               CLT (z s / sqrt n) or Hoeffding (Lemma 6 of the paper:
 *               R sqrt(log(2/alpha) / (2n)), R the range of the summands)
 *
 * Monte Carlo sample j of a call uses omega = sgd_noise_sample_domain(W, d,
 * seed, SGD_RNG_SMOOTH, stream, j): the estimate depends only on the
 * parameters, never on the number of threads (samples are cut into a number
 * of chunks fixed by n and d, and chunks are combined in order). */
#ifndef SGDSCAPE_SMOOTH_H
#define SGDSCAPE_SMOOTH_H

#include <stddef.h>
#include <stdint.h>
#include "sgdscape/landscape.h"
#include "sgdscape/noise.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    SGD_SMOOTH_AUTO = 0,  /* exact if f has a closed form, else quadrature (d <= 2), else MC */
    SGD_SMOOTH_EXACT = 1,
    SGD_SMOOTH_QUAD = 2,
    SGD_SMOOTH_MC = 3
} sgd_smooth_method;

typedef enum {
    SGD_SMOOTH_CI_CLT = 0,       /* mean +- z_{1-alpha/2} s / sqrt(n): asymptotic */
    SGD_SMOOTH_CI_HOEFFDING = 1  /* mean +- R sqrt(log(2/alpha)/(2n)): needs a range R */
} sgd_smooth_interval;

typedef struct sgd_smooth_params {
    sgd_smooth_method method;
    /* Monte Carlo */
    size_t nsamples;        /* fixed sample count; 0 = choose it from tol */
    double tol;             /* requested CI half-width for every wanted component */
    double confidence;      /* two-sided level of each interval, in (0,1); default 0.95 */
    sgd_smooth_interval interval;
    double range;           /* Hoeffding: known width b-a of the f values; NaN = sample range widened */
    double grad_range;      /* Hoeffding: known width of each gradient coordinate; NaN = sample */
    double range_widen;     /* sample range is multiplied by this (default 1.5) */
    size_t pilot;           /* pilot samples when n comes from tol (default 1000) */
    size_t max_samples;     /* cap on n (default 1e8); the achieved half-width is reported */
    uint64_t seed, stream;
    int grad_only;          /* 1: only grad g is wanted (g = NaN): Monte Carlo then uses f->grad_batch */
    /* quadrature */
    double epsabs, epsrel;  /* GSL tolerances (default 1e-10, 1e-8) */
    size_t limit;           /* GSL subintervals (default 2000) */
    double gauss_sigmas;    /* Gaussian noise: truncate at this many sigmas (default 10); 0 = infinite range (qagi) */
} sgd_smooth_params;

void sgd_smooth_params_default(sgd_smooth_params *p);

typedef struct sgd_smooth_value {
    double g;               /* estimate of g(y) */
    double g_err;           /* MC: CI half-width; quad: GSL error estimate; exact: 0 */
    double *grad;           /* caller's array of d entries, or NULL: gradient not wanted */
    double *grad_err;       /* caller's array of d entries, or NULL */
    size_t n;               /* MC samples used (0 otherwise) */
    sgd_smooth_method method;  /* the method that produced the value */
    int range_from_sample;  /* Hoeffding: 1 if the range came from the samples (not a guarantee) */
    int quad_status;        /* quadrature: 0 or the first nonzero GSL status */
} sgd_smooth_value;

/* Workspace (GSL integration workspaces and scratch) for dimension d; one per
 * thread. */
typedef struct sgd_smooth_workspace sgd_smooth_workspace;
sgd_smooth_workspace *sgd_smooth_workspace_alloc(size_t d, size_t limit);
void sgd_smooth_workspace_free(sgd_smooth_workspace *w);

/* g(y) and, when out->grad != NULL, grad g(y). Returns SGD_EUNSUPPORTED when
 * the requested method cannot handle (f, W, d): no closed form, quadrature in
 * d > 2, data-dependent noise. Monte Carlo parallelises over OpenMP threads
 * when called outside a parallel region. */
int sgd_smooth_eval(const sgd_landscape *f, const sgd_noise *W, double eta, const double *y,
                    const sgd_smooth_params *p, sgd_smooth_workspace *w, sgd_smooth_value *out);

/* The Monte Carlo sample count at y: p->nsamples, or the count p->tol asks
 * for (a pilot run, as sgd_smooth_eval does; before the max_samples cap), so
 * a caller can size the work first. want_grad: grad g is wanted too. */
int sgd_smooth_mc_samples(const sgd_landscape *f, const sgd_noise *W, double eta, const double *y,
                          const sgd_smooth_params *p, int want_grad, double *need);

/* ---- g and grad g at many points (src/smooth/points.c) ---- */

typedef struct sgd_smooth_points_config {
    const sgd_landscape *f;
    sgd_noise W;
    double eta;
    const double *y;        /* n points of f->d coordinates */
    size_t n;
    size_t grid_n;          /* the points are a grid of grid_n per axis (d <= 2: smooth.dat and the
                             * figure), or 0 */
    sgd_smooth_params sp;   /* point j uses stream j */
    int want_grad;          /* grad g too */
    int compare;            /* also the closed form, and the coverage of the reported errors */
    int threads;            /* <= 0: all; points in parallel when there are >= 2 per thread */
} sgd_smooth_points_config;

typedef struct sgd_smooth_point {
    double f, g, g_err;     /* f(y), g(y) and its error */
    double g_exact;         /* compare: the closed form */
    size_t n;               /* Monte Carlo samples */
    int range_from_sample, quad_status;
} sgd_smooth_point;

typedef struct sgd_smooth_points_result {
    size_t n, d, gd;        /* gd: gradient coordinates per point (d, or 0 without grad g) */
    sgd_smooth_point *pt;   /* n */
    double *grad, *grad_err, *grad_exact; /* n * gd (grad_exact with compare) */
    sgd_smooth_method method; /* the method used at the first point */
    size_t samples_total, quad_warnings;
    int range_from_sample;  /* some Hoeffding range came from the samples */
    double max_error;       /* over g and grad g */
    /* compare: |estimate - exact| over every component, and how many lie within their error */
    double max_diff, max_ratio;
    size_t covered, compared;
    double seconds, cpu_seconds; /* the estimates (f(y) aside) */
} sgd_smooth_points_result;

/* n points per axis on [lo, hi]^d (d = 1, 2; x fastest) into a malloc'ed *y. */
int sgd_smooth_grid(size_t d, double lo, double hi, size_t n, double **y, size_t *npoints);
/* Under MPI (dist.h) the points, or one point's Monte Carlo chunks, are
 * split over the ranks: rank 0 gets the whole result, the others
 * SGD_DIST_ELSEWHERE and none. */
int sgd_smooth_points(const sgd_smooth_points_config *c, sgd_smooth_points_result *r,
                      void (*progress)(void *ctx, double done, double total), void *ctx);
/* smooth.csv, summary.json and, for a grid, smooth.{dat,gp,png,svg} into dir. */
int sgd_smooth_points_write(const char *dir, const sgd_smooth_points_config *c, const sgd_smooth_points_result *r);
void sgd_smooth_points_free(sgd_smooth_points_result *r);

/* Method names: "auto", "exact", "quad", "mc". */
int sgd_smooth_method_parse(const char *s, sgd_smooth_method *m);
const char *sgd_smooth_method_name(sgd_smooth_method m);
int sgd_smooth_interval_parse(const char *s, sgd_smooth_interval *ci);
const char *sgd_smooth_interval_name(sgd_smooth_interval ci);

/* Two-sided normal quantile z with P(|Z| <= z) = confidence. */
double sgd_smooth_z(double confidence);
/* Hoeffding (Lemma 6, two-sided): half-width for n samples of range R, and
 * the n that reaches half-width tol. */
double sgd_smooth_hoeffding_halfwidth(double range, size_t n, double confidence);
size_t sgd_smooth_hoeffding_n(double range, double tol, double confidence);

/* For a reader (points_report.c): the lines `sgdscape smooth` prints, to o;
 * the parameters into a manifest the caller started (landscape, method: as
 * the user gave them). */
struct sgd_json;
void sgd_smooth_points_print(FILE *o, const sgd_smooth_points_config *c, const sgd_smooth_points_result *r);
void sgd_smooth_points_manifest_json(struct sgd_json *manifest, const sgd_smooth_points_config *c,
                                     const char *landscape, const char *method);

#ifdef __cplusplus
}
#endif
#endif
