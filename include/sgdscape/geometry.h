/* The geometry of a network's loss surface around a training run
 * (docs/geometry.md): f along a line between two weight vectors
 * (Goodfellow-Vinyals interpolation), f on a plane through a point spanned
 * by two directions (Li et al. 2018: random filter-normalised, given as
 * files, or the top two principal directions of a trajectory), and the PCA
 * of a trajectory {x_t - x_T}.
 *
 * f at a point x is sgd_net_loss_grad (nn.h) over the first K batches of
 * epoch 0 of the training split shuffled with the seed (K = 0: the whole
 * split), BN with batch statistics (SGD_NN_TRAIN), with fixed running
 * statistics (SGD_NN_EVAL), or with statistics re-estimated at x (recompute:
 * see sgd_geom_source). The points of a line or grid are independent: they
 * are split over MPI ranks (dist.h) and gathered to rank 0 in order, and each
 * is evaluated with the engine's own threads, so the results are the same
 * bits for any thread and rank count. Ranks other than 0 return
 * SGD_DIST_ELSEWHERE from the run functions. */
#ifndef SGDSCAPE_GEOMETRY_H
#define SGDSCAPE_GEOMETRY_H

/* every function here returns or sets an SGD_* code; sgd_errmsg() says why */
#include "sgdscape/error.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* rng.h domain of the random surface directions (stream = direction 0 or 1) */
#define SGD_RNG_GEOMETRY 110u

/* Where the network, its data and f come from. */
typedef struct sgd_geom_source {
    const char *run;          /* a `train` run directory: model, data, split, batch,
                               * normalisation, x/x_EEEE.npy, x.npy, buffers.npy */
    const char *model;        /* without run: network spec (required) */
    const char *data;         /* without run: data spec (default fashion-mnist) */
    const char *buffers;      /* BN running statistics .npy (NULL: RUN/buffers.npy) */
    int classes;              /* without run: 0 = the labels' */
    size_t subset;            /* without run: the first K training images (0: all) */
    size_t batch;             /* 0: the run's (128) */
    size_t batches;           /* K batches of f (10; 0 = the whole split) */
    int bn;                   /* SGD_NN_TRAIN (batch statistics) or SGD_NN_EVAL (running) */
    int bn_recompute;         /* 1: at every point, running statistics re-estimated
                               * from bn_batches training batches in train mode, each
                               * batch's statistics averaged with equal weight (PyTorch's
                               * momentum=None), then f in eval mode */
    size_t bn_batches;        /* (10) */
    uint64_t seed;            /* the shuffle of f's batches (1) */
} sgd_geom_source;

void sgd_geom_source_defaults(sgd_geom_source *s);

/* A range "LO:HI:N" (LO < HI, N >= 2 points, ends included; or "V" alone,
 * one point) into lo, hi, n; SGD_EPARSE naming opt. */
int sgd_geom_parse_range(const char *opt, const char *s, double *lo, double *hi, size_t *n);

typedef void (*sgd_geom_progress_fn)(void *ctx, double done, double total);

/* Finished points kept for a resume (interp, surface): with dir set, rank 0
 * keeps each point as it finishes in DIR/point_IIIIII.bin, under
 * DIR/config.txt (the options that shape the points: another run's are
 * refused, naming the first option that differs), and computes only the
 * points missing there; the results are the same bytes. stop (may be NULL)
 * is asked between points: nonzero ends the run with "interrupted", the
 * kept points staying. sgd_interp_write and sgd_surface_write remove DIR. */
typedef struct sgd_geom_keep {
    const char *dir;          /* NULL: keep nothing */
    int (*stop)(void *ctx);
    void *stop_ctx;
} sgd_geom_keep;

/* ---- interp: f((1 - alpha) A + alpha B) ----------------------------------- */
typedef struct sgd_interp_config {
    sgd_geom_source src;
    const char *a, *b;        /* weight files (NULL: RUN/x/x_0000.npy and RUN/x.npy) */
    double alpha_lo, alpha_hi; /* (-0.5, 1.5) */
    size_t n;                 /* points, ends included (41) */
    int val;                  /* 1: also the validation split (when there is one) */
    sgd_geom_keep keep;       /* finished points kept for a resume (none) */
    int threads;              /* for the manifest */
    int argc; char **argv;    /* for the manifest */
} sgd_interp_config;

void sgd_interp_defaults(sgd_interp_config *c);

/* The barrier and monotonicity of one curve f(alpha) on [0, 1]: over the
 * alphas of the grid in [0, 1] (0 and 1 are f(A) and f(B), which must be on
 * the grid), barrier = max f(alpha) - max(f(0), f(1)) (>= 0), at argmax;
 * monotone = 1 when f never increases or never decreases from one grid
 * alpha to the next. */
typedef struct sgd_interp_path {
    double barrier, barrier_alpha;
    int monotone, increasing;
} sgd_interp_path;

typedef struct sgd_interp_result {
    size_t n, p;
    double *alpha;            /* n */
    double *train_loss, *train_acc, *val_loss, *val_acc; /* n each; val NaN without a split */
    sgd_interp_path train, val; /* of the losses */
    double dist;              /* |B - A| */
    int have_val;
    char model[256], data[1024], a[4200], b[4200];
    size_t batch, batches, train_images, val_images;
    size_t resumed;           /* points found kept (keep.dir) */
    char keep[4200];          /* keep.dir, removed by sgd_interp_write ("" none) */
    double seconds;
} sgd_interp_result;

int sgd_interp_run(const sgd_interp_config *c, sgd_interp_result *r, sgd_geom_progress_fn progress, void *ctx);
/* interp.csv, interp.npy (n x 5: alpha, train loss, acc, val loss, acc),
 * summary.json, manifest.json, interp.{gp,dat,png,svg} into dir. */
int sgd_interp_write(const char *dir, const sgd_interp_config *c, const sgd_interp_result *r);
void sgd_interp_result_free(sgd_interp_result *r);
/* The path measures of f[0..n) at alpha[0..n) (increasing). SGD_EINVAL when
 * 0 or 1 is not on the grid. */
int sgd_interp_path_of(const double *alpha, const double *f, size_t n, sgd_interp_path *out);

/* ---- directions -------------------------------------------------------- */
enum { SGD_DIRS_RANDOM = 0, SGD_DIRS_FILES = 1, SGD_DIRS_PCA = 2 };

/* Filter normalisation (Li et al. 2018) of d against x, p values in the
 * order of the net's tensors (nn.h): for every weight tensor of two or more
 * dimensions each filter (a slice along the first dimension: an output
 * channel, a linear layer's row) of d is scaled to the norm of the same
 * filter of x, d_f <- d_f |x_f| / (|d_f| + 1e-10); the entries of one-
 * dimensional tensors (biases, BN weights and biases) are set to 0, or with
 * keep_bias_bn to x's values (as loss-landscape's --xignore off). */
struct sgd_net;
int sgd_geom_filter_normalize(const struct sgd_net *net, const float *x, double *d, int keep_bias_bn);
/* Direction k (0 or 1): standard normal from the counter (seed,
 * SGD_RNG_GEOMETRY, k, 0), then filter-normalised against x. */
int sgd_geom_random_direction(const struct sgd_net *net, const float *x, uint64_t seed, int k, int keep_bias_bn,
                              double *d);

/* ---- surface: f(X + alpha d1 + beta d2) ------------------------------------- */
typedef struct sgd_surface_config {
    sgd_geom_source src;
    const char *x;            /* the centre (NULL: RUN/x.npy) */
    int dirs;                 /* SGD_DIRS_* (random) */
    const char *dir_files[2]; /* SGD_DIRS_FILES: float32 .npy of p values each */
    int keep_bias_bn;         /* random: keep the 1-D entries (see filter normalisation) */
    uint64_t dir_seed;        /* random directions (1) */
    double alpha_lo, alpha_hi, beta_lo, beta_hi; /* (-1, 1) each */
    size_t nalpha, nbeta;     /* (21 each) */
    sgd_geom_keep keep;       /* finished points kept for a resume (none) */
    int threads;
    int argc; char **argv;
} sgd_surface_config;

void sgd_surface_defaults(sgd_surface_config *c);

typedef struct sgd_surface_result {
    size_t nalpha, nbeta, p;
    double *alpha, *beta;     /* nalpha, nbeta */
    double *loss, *acc;       /* nalpha x nbeta, alpha-major: [i * nbeta + j] */
    double *d;                /* 2 x p: d1, d2 */
    double center_loss, center_acc;  /* f(X) */
    double min_loss, min_alpha, min_beta;
    double dir_norm[2], dir_cos;      /* |d1|, |d2|, cos(d1, d2) */
    size_t ntraj;             /* with a run: its stored epochs and x_T, projected */
    int *traj_epoch;          /* ntraj (-1: the final x.npy) */
    double *traj_xy;          /* ntraj x 2: least-squares coordinates of x_t - X in (d1, d2) */
    double *traj_resid;       /* ntraj: |x_t - X - a d1 - b d2| / |x_t - X| (0 at X) */
    char model[256], data[1024], x[4200];
    size_t batch, batches, train_images;
    size_t resumed;           /* points found kept (keep.dir) */
    char keep[4200];          /* keep.dir, removed by sgd_surface_write ("" none) */
    double seconds;
} sgd_surface_result;

int sgd_surface_run(const sgd_surface_config *c, sgd_surface_result *r, sgd_geom_progress_fn progress, void *ctx);
/* surface.npy (nalpha x nbeta x 2: train loss, accuracy), surface.csv,
 * directions.npy (2 x p float32), trajectory.csv (with a run), summary.json,
 * manifest.json, surface_contour and surface_3d .{gp,dat,png,svg}. */
int sgd_surface_write(const char *dir, const sgd_surface_config *c, const sgd_surface_result *r);
void sgd_surface_result_free(sgd_surface_result *r);

/* ---- pca of a trajectory ------------------------------------------------- */
typedef struct sgd_pca_config {
    const char *run;          /* a train run with x/ kept */
    int threads;
    int argc; char **argv;
} sgd_pca_config;

/* The rows m_t = x_t - x_T for every stored epoch t and the final x_T
 * (a zero row), centred by their mean as PCA does; the eigen-decomposition
 * of the n x n Gram matrix of the centred rows (LAPACK dsyevd, through the
 * engine's OpenBLAS) gives the principal directions v_k = M^T u_k / s_k
 * (unit, sign fixed so that the largest |entry| is positive) and their
 * variances s_k^2 / (n - 1). The path is the coordinates <x_t - x_T, v_k>
 * (x_T at the origin). */
typedef struct sgd_pca_result {
    size_t n, p, ncomp;       /* rows, parameters, components (n - 1 at most) */
    int *epoch;               /* n (-1: x_T) */
    double *variance, *ratio; /* ncomp: explained variance and its fraction */
    double *coords;           /* n x 2: the path on the top two components */
    float *dirs;              /* 2 x p: v_1, v_2 */
    double seconds;
} sgd_pca_result;

int sgd_pca_run(const sgd_pca_config *c, sgd_pca_result *r, sgd_geom_progress_fn progress, void *ctx);
/* The same from rows given in memory: x (n x p float32, row-major: x_t) and
 * the final point xT (p). Used by pca and surface --dirs pca. */
int sgd_pca_of(const float *x, size_t n, const float *xT, size_t p, sgd_pca_result *r);
/* pca.csv (component, variance, ratio, cumulative), path.csv (epoch, pc1,
 * pc2), directions.npy (2 x p float32, for surface --dirs FILES),
 * summary.json, manifest.json, pca_path.{gp,dat,png,svg}. */
int sgd_pca_write(const char *dir, const sgd_pca_config *c, const sgd_pca_result *r);
void sgd_pca_result_free(sgd_pca_result *r);

#ifdef __cplusplus
}
#endif
#endif
