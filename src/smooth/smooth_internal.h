/* Smoothing internals shared by smooth.c (exact, dispatch), smooth_quad.c
 * (quadrature), smooth_mc.c (Monte Carlo, every noise model) and
 * smooth_cube.c (Monte Carlo layouts for cube noise); tests/test_smooth.c
 * reaches smooth_cube_x_block. */
#ifndef SGD_SMOOTH_INTERNAL_H
#define SGD_SMOOTH_INTERNAL_H

#include "sgdscape/smooth.h"
#include "core/fastmath.h"

#include <gsl/gsl_integration.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Words of scratch smooth_cube_x_block needs. */
#define SGD_SMOOTH_WORDS 4096

/* Scratch of sgd_smooth_eval: x, grad of one point; GSL's for quadrature (d <= 2). */
struct sgd_smooth_workspace {
    size_t d, limit;
    gsl_integration_workspace *outer, *inner;
    double *x, *grad, *omega;
};

/* Running statistics of one component (Welford), combined with Chan's
 * formula in chunk order. */
typedef struct {
    double n, mean, m2, lo, hi;
} mc_stat;

/* Counters generated per pass: small enough to stay in cache. */
#define SGD_SMOOTH_TILE 1024
_Static_assert(SGD_SMOOTH_TILE * 4 == SGD_SMOOTH_WORDS, "the word scratch of a tile");

/* Below SGD_SMOOTH_COLS blocks per sample (h = ceil(d/4)) a tile holds
 * columns of many samples (smooth_cube.c). */
#define SGD_SMOOTH_COLS 32

/* a[0] + ... + a[n-1]; from 32 terms on in 16 interleaved partial sums:
 * independent chains (a serial sum of a long row waits on the adder's
 * latency), added in a fixed order, so the bits depend on n alone, not on
 * how the compiler vectorises. */
static inline double sum16(const double *a, size_t n)
{
    if (n < 32) {
        double v = 0;
        for (size_t i = 0; i < n; i++) v += a[i];
        return v;
    }
    double v;
    SGD_SUM16(v, n, a[k_]);
    return v;
}

/* The running statistics of one chunk of samples in the thread's scratch.
 * The value: sums of v - K and (v - K)^2 with K the chunk's first value
 * (shifted data: no cancellation worth the name, and no division in the
 * chain that links one sample to the next, which Welford's update has; this
 * is the hot loop when d is small), in four partial sums: sample number m
 * of the chunk goes to sum m % 4 (four independent chains for the adder;
 * the bits depend on the chunk's samples alone, not on how they are passed
 * in). Each gradient coordinate, when wanted: Welford (independent across
 * coordinates, so it vectorises). */
typedef struct {
    double cnt, k, s[4], s2[4], lo, hi;
} mc_vstat;

typedef struct mc_chunk {
    size_t d;
    mc_vstat v;
    double *mean, *m2, *lo, *hi; /* d entries; lo, hi only for Hoeffding ranges */
} mc_chunk;

/* The totals of a Monte Carlo call: the value's statistics, and the
 * gradient's per coordinate (every coordinate has gn samples) in the arrays
 * of an mc_chunk, so that merging a chunk is one vector loop. */
typedef struct mc_acc {
    int want_grad, want_range;
    mc_stat g;
    double gn;
    mc_chunk gr; /* its arrays only (want_grad) */
} mc_acc;

/* The values x[0..n) of the next n samples. Returns 0, or 1 + the index of
 * the first that is not finite (the statistics then stop before it). The
 * sums live in locals: kept in a struct behind a pointer they were stored and
 * reloaded every sample, a chain that cost more than the arithmetic. */
static inline size_t vstat_add(mc_vstat *v, const double *x, size_t n)
{
    double k = v->k, lo = v->lo, hi = v->hi, s[4], s2[4];
    size_t m = (size_t)v->cnt, i = 0; /* m: samples so far (exact: far below 2^53) */
    memcpy(s, v->s, sizeof s);
    memcpy(s2, v->s2, sizeof s2);
    if (n && m == 0) k = x[0];
    /* one at a time up to a multiple of four, and at the end */
#define VSTAT_ONE(xi, j)                 \
    do {                                 \
        double u_ = (xi) - k;            \
        s[j] += u_;                      \
        s2[j] += u_ * u_;                \
        lo = (xi) < lo ? (xi) : lo;      \
        hi = (xi) > hi ? (xi) : hi;      \
    } while (0)
    for (; i < n && (m + i) % 4; i++) {
        if (!isfinite(x[i])) goto bad;
        VSTAT_ONE(x[i], (m + i) % 4);
    }
    for (; i + 4 <= n; i += 4) {
        if (!(isfinite(x[i]) && isfinite(x[i + 1]) && isfinite(x[i + 2]) && isfinite(x[i + 3]))) break;
        for (int j = 0; j < 4; j++) VSTAT_ONE(x[i + j], j);
    }
    for (; i < n; i++) {
        if (!isfinite(x[i])) goto bad;
        VSTAT_ONE(x[i], (m + i) % 4);
    }
#undef VSTAT_ONE
bad:
    v->cnt = (double)(m + i);
    v->k = k;
    memcpy(v->s, s, sizeof s);
    memcpy(v->s2, s2, sizeof s2);
    v->lo = lo;
    v->hi = hi;
    return i < n ? i + 1 : 0;
}

/* Gradient coordinates i0 .. i0+n-1 of the sample. */
static inline void chunk_grad(mc_chunk *c, size_t i0, size_t n, const double *u, double inv)
{
    double *restrict mean = c->mean + i0, *restrict m2 = c->m2 + i0;
    for (size_t i = 0; i < n; i++) {
        double du = u[i] - mean[i];
        mean[i] += du * inv;
        m2[i] += du * (u[i] - mean[i]);
    }
    if (c->lo) {
        double *restrict lo = c->lo + i0, *restrict hi = c->hi + i0;
        for (size_t i = 0; i < n; i++) {
            if (u[i] < lo[i]) lo[i] = u[i];
            if (u[i] > hi[i]) hi[i] = u[i];
        }
    }
}

/* The next ns samples into c, in order: their values (when want_val) and
 * their gradient rows gr (ns x d, or NULL). Returns 0, or 1 + the index of
 * the first value that is not finite. */
static inline size_t chunk_add(mc_chunk *c, int want_val, const double *vals, const double *gr, size_t ns)
{
    const double cnt0 = c->v.cnt;
    if (want_val) {
        size_t e = vstat_add(&c->v, vals, ns);
        if (e) return e;
    } else
        c->v.cnt += (double)ns;
    for (size_t s = 0; gr && s < ns; s++) chunk_grad(c, 0, c->d, gr + s * c->d, 1.0 / (cnt0 + (double)s + 1.0));
    return 0;
}

/* Per-thread scratch of one tile. */
typedef struct sep_tile {
    uint32_t *w[4];
    double *x, *ph, *dph;
    double *yb;   /* 4 SGD_SMOOTH_TILE: large d, y of a tile whose last run passes d (zero-padded);
                   * smaller d, the tile's sample values */
} sep_tile;

/* The work of one Monte Carlo call; shared by the chunk runners. */
typedef struct mc_job {
    const sgd_landscape *f;
    const sgd_noise *W;
    double eta;
    const double *y;
    const sgd_smooth_params *p;
    size_t n, d;
    uint64_t step0;
    int want_val, want_grad, want_range; /* want_val: g itself (not with grad_only) */
    int cube; /* uniform cube noise drawn by the words (smooth_cube_x_block) */
    int sep;  /* ... and f separable: the tile roads */
} mc_job;

/* The statistics of a chunk (smooth_mc.c). */
int smooth_chunk_alloc(mc_chunk *c, size_t d, int want_grad, int want_range);
void smooth_chunk_free(mc_chunk *c);
void smooth_chunk_reset(mc_chunk *c);
int smooth_chunk_grad_finite(const mc_chunk *c);
void smooth_chunk_merge(mc_acc *res, const mc_chunk *c, int want_val);

/* x = y - eta omega for samples step0 .. step0+m-1 of cube noise of radius
 * r >= 2^-990 in d >= 2 (x is m rows of d), omega exactly as
 * sgd_noise_sample_domain(W, d, seed, SGD_RNG_SMOOTH, stream, step) draws
 * it (r times sgd_rng_symmetric_fill). Small d in columns of many samples
 * (h = ceil(d/4) < 32), larger d a sample at a time, d > 4096 in runs of
 * 1024 blocks. words: SGD_SMOOTH_WORDS words of scratch. */
void smooth_cube_x_block(double r, double eta, const double *y, size_t d, uint64_t seed, uint64_t stream,
                         uint64_t step0, size_t m, uint32_t *words, double *x);

/* Separable f under cube noise, tile by tile (smooth_cube.c): samples
 * a .. b-1 into c, h < SGD_SMOOTH_COLS (cols) or up to one tile (rows);
 * each returns the first non-finite sample + 1, or 0. Larger d: the whole
 * call (smooth_mc_run_sep_big), *bad the sample at fault. */
int smooth_sep_tile_alloc(sep_tile *t);
void smooth_sep_tile_free(sep_tile *t);
size_t smooth_sep_cols_chunk(const mc_job *J, size_t a, size_t b, sep_tile *T, mc_chunk *c);
size_t smooth_sep_rows_chunk(const mc_job *J, size_t a, size_t b, sep_tile *T, mc_chunk *c);
int smooth_mc_run_sep_big(const mc_job *J, mc_acc *res, size_t *bad);

/* Monte Carlo over MPI ranks (smooth_mc_dist.c, docs/mpi.md). While
 * smooth_mc_split is set (sgd_smooth_points, when there are fewer points
 * than ranks, sets it around a loop every rank runs over every point), a
 * Monte Carlo call is collective: each rank computes its slice of the fixed
 * chunks, rank 0 folds every chunk in chunk order (the one-process bits) and
 * broadcasts the totals. */
extern _Thread_local int smooth_mc_split;
/* One chunk's outcome: its status, the sample at fault, its statistics. */
typedef struct {
    int st;
    size_t where;
    mc_vstat v;
} mc_chunk_rec;
/* The number of chunks of a call (fixed by n and d). */
size_t smooth_mc_nchunks(size_t n, size_t d);
/* Chunks ka .. kb-1 in parallel: rec[k - ka], and with gradients their
 * vectors at vec + (k - ka) nv d (mean, m2, then lo, hi when nv = 4). */
int smooth_mc_chunks_local(const mc_job *J, size_t K, size_t ka, size_t kb, mc_chunk_rec *rec, double *vec, size_t nv);
/* mc_run_chunks across the ranks: the same status, *bad and totals on every rank. */
int smooth_mc_run_chunks_dist(const mc_job *J, mc_acc *res, size_t *bad);

/* The methods behind sgd_smooth_eval; arguments already checked. */
int smooth_quad(const sgd_landscape *f, const sgd_noise *W, double eta, const double *y,
                const sgd_smooth_params *p, sgd_smooth_workspace *w, sgd_smooth_value *out);
int smooth_mc(const sgd_landscape *f, const sgd_noise *W, double eta, const double *y,
              const sgd_smooth_params *p, sgd_smooth_value *out);

#endif
