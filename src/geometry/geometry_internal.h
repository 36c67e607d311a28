/* What interp, surface and pca share (geometry.h): the network, data and
 * loaders behind f (source.c), the evaluation of f at many independent
 * points split over MPI ranks (points.c), and the trajectory of a run. */
#ifndef SGD_GEOMETRY_INTERNAL_H
#define SGD_GEOMETRY_INTERNAL_H

#include "sgdscape/data.h"
#include "sgdscape/geometry.h"
#include "sgdscape/nn.h"

/* values of f per point: train loss, train accuracy, val loss, val accuracy */
#define GEOM_NV 4

typedef struct geom_ctx {
    const sgd_geom_source *s;
    sgd_net *net;
    size_t p, nbuf;
    char model[256], data[1024], run[4200];
    int classes;
    sgd_dataset tr, va;
    int have_tr, have_va;
    sgd_data_loader Ltr, Lva;
    int have_Ltr, have_Lva;
    size_t batches, val_batches; /* K of each split (resolved: never 0) */
    float *buffers;           /* the running statistics of eval mode (nbuf) or NULL */
    float *bnbuf, *bnacc;     /* recompute scratch (nbuf each) */
    int *epoch;               /* a run's stored epochs */
    size_t nepochs;
} geom_ctx;

/* Resolve s: the run (through probe_plan_open: manifest, training split,
 * normalisation, network, stored epochs) or model + data; with want_val the
 * validation split (the run's, or the spec's test split). Checks K and the
 * buffers. */
int geom_open(const sgd_geom_source *s, int want_val, geom_ctx *g);
void geom_close(geom_ctx *g);
/* A weight vector of g's network: float32, p values, finite (x may be NULL:
 * check only); errors name `what` and the file. */
int geom_read_x(const geom_ctx *g, const char *path, float *x);
/* RUN/x/x_EEEE.npy, or RUN/x.npy for epoch -1. */
void geom_x_path(const geom_ctx *g, int epoch, char *out, size_t n);
/* f at x into v[GEOM_NV] (val NaN without a validation split or with_val 0). */
int geom_eval(geom_ctx *g, const float *x, int with_val, double *v);

/* Fill x with point i of n (p floats). */
typedef void (*geom_point_fn)(void *ctx, size_t i, float *x);
typedef struct geom_points_spec {
    size_t n;                 /* points */
    geom_point_fn at;
    void *at_ctx;
    int with_val;             /* also the validation split */
    const sgd_geom_keep *keep; /* NULL, or keep->dir NULL: nothing kept */
    const char *fingerprint;  /* keep->dir/config.txt ("key value" lines) */
    const char *what;         /* its refusal: "points there come from an interp" */
} geom_points_spec;
/* f at S->n points, split over ranks; v (n x GEOM_NV) is complete on rank 0,
 * which returns SGD_OK; other ranks SGD_DIST_ELSEWHERE. *resumed: the
 * points found kept (rank 0). */
int geom_points(geom_ctx *g, const geom_points_spec *S, double *v, size_t *resumed, sgd_geom_progress_fn progress,
                void *ctx);
/* The lines of a config.txt that every source option shapes: --run, --model, ... */
int geom_source_fingerprint(const geom_ctx *g, char *out, size_t n);

/* x (float32) = base + a d1 + b d2, each entry in double then rounded. */
void geom_combine(const float *base, double a, const double *d1, double b, const double *d2, size_t p, float *x);

/* Least-squares coordinates ab[2] of y - X in the plane of d1, d2 and the
 * relative residual |y - X - a d1 - b d2| / |y - X| (0 when y = X). */
void geom_project(const float *y, const float *X, const double *d1, const double *d2, size_t p, double *ab,
                  double *resid);

/* The trajectory of g's run: rows x_t (every stored epoch) then x_T, as
 * float32 n x p into *x (malloc'ed), epochs into *epoch (-1 for x_T). */
int geom_load_traj(const geom_ctx *g, float **x, int **epoch, size_t *n);

/* Grid value k of n on [lo, hi]. */
double geom_grid(double lo, double hi, size_t n, size_t k);

/* OpenBLAS's LAPACK dsyevd (jobz 'V', uplo 'L') on the n x n symmetric a
 * (column-major = row-major for a symmetric matrix): eigenvalues ascending
 * into w, eigenvectors into a's columns. */
int geom_dsyevd(int n, double *a, double *w);

#endif
