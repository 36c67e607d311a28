/* g(y) = E f(y - eta*omega) and its gradient: closed form, GSL quadrature
 * (d <= 2) or Monte Carlo with CLT / Hoeffding intervals. */
#include "sgdscape/smooth.h"
#include "core/fastmath.h"
#include "smooth/smooth_internal.h"

#include "sgdscape/error.h"
#include "sgdscape/rng.h"

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_integration.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

struct sgd_smooth_workspace {
    size_t d, limit;
    gsl_integration_workspace *outer, *inner;
    double *x, *grad, *omega;
};

void sgd_smooth_params_default(sgd_smooth_params *p)
{
    memset(p, 0, sizeof *p);
    p->method = SGD_SMOOTH_AUTO;
    p->nsamples = 10000;
    p->tol = NAN;
    p->confidence = 0.95;
    p->interval = SGD_SMOOTH_CI_CLT;
    p->range = NAN;
    p->grad_range = NAN;
    p->range_widen = 1.5;
    p->pilot = 1000;
    p->max_samples = 100000000;
    p->seed = 1;
    p->stream = 0;
    p->epsabs = 1e-10;
    p->epsrel = 1e-8;
    p->limit = 2000;
    p->gauss_sigmas = 10.0;
}

sgd_smooth_workspace *sgd_smooth_workspace_alloc(size_t d, size_t limit)
{
    if (d == 0) {
        sgd_error(SGD_EINVAL, "smoothing workspace: dimension must be >= 1");
        return NULL;
    }
    if (limit < 16) limit = 16;
    /* GSL must return errors, never abort the process. */
    gsl_set_error_handler_off();
    sgd_smooth_workspace *w = calloc(1, sizeof *w);
    if (!w) goto oom;
    w->d = d;
    w->limit = limit;
    w->x = malloc(d * sizeof(double));
    w->grad = malloc(d * sizeof(double));
    w->omega = malloc(d * sizeof(double));
    if (!w->x || !w->grad || !w->omega) goto oom;
    if (d <= 2) {
        w->outer = gsl_integration_workspace_alloc(limit);
        w->inner = gsl_integration_workspace_alloc(limit);
        if (!w->outer || !w->inner) goto oom;
    }
    return w;
oom:
    sgd_smooth_workspace_free(w);
    sgd_error(SGD_ENOMEM, "smoothing workspace: out of memory (d = %zu)", d);
    return NULL;
}

void sgd_smooth_workspace_free(sgd_smooth_workspace *w)
{
    if (!w) return;
    if (w->outer) gsl_integration_workspace_free(w->outer);
    if (w->inner) gsl_integration_workspace_free(w->inner);
    free(w->x);
    free(w->grad);
    free(w->omega);
    free(w);
}

int sgd_smooth_method_parse(const char *s, sgd_smooth_method *m)
{
    if (!strcmp(s, "auto")) *m = SGD_SMOOTH_AUTO;
    else if (!strcmp(s, "exact")) *m = SGD_SMOOTH_EXACT;
    else if (!strcmp(s, "quad") || !strcmp(s, "quadrature")) *m = SGD_SMOOTH_QUAD;
    else if (!strcmp(s, "mc") || !strcmp(s, "montecarlo")) *m = SGD_SMOOTH_MC;
    else return sgd_error(SGD_EINVAL, "unknown smoothing method '%s' (auto, exact, quad, mc)", s);
    return SGD_OK;
}

const char *sgd_smooth_method_name(sgd_smooth_method m)
{
    switch (m) {
    case SGD_SMOOTH_EXACT: return "exact";
    case SGD_SMOOTH_QUAD: return "quad";
    case SGD_SMOOTH_MC: return "mc";
    default: return "auto";
    }
}

int sgd_smooth_interval_parse(const char *s, sgd_smooth_interval *ci)
{
    if (!strcmp(s, "clt")) *ci = SGD_SMOOTH_CI_CLT;
    else if (!strcmp(s, "hoeffding")) *ci = SGD_SMOOTH_CI_HOEFFDING;
    else return sgd_error(SGD_EINVAL, "unknown interval '%s' (clt, hoeffding)", s);
    return SGD_OK;
}

const char *sgd_smooth_interval_name(sgd_smooth_interval ci)
{
    return ci == SGD_SMOOTH_CI_HOEFFDING ? "hoeffding" : "clt";
}

double sgd_smooth_z(double confidence)
{
    if (!(confidence > 0 && confidence < 1)) return NAN;
    return gsl_cdf_ugaussian_Pinv(0.5 + 0.5 * confidence);
}

double sgd_smooth_hoeffding_halfwidth(double range, size_t n, double confidence)
{
    if (!(confidence > 0 && confidence < 1) || n == 0 || !(range >= 0)) return NAN;
    /* Lemma 6 on both tails: P(|mean - E| >= t) <= 2 exp(-2 n t^2 / R^2). */
    return range * sqrt(log(2.0 / (1.0 - confidence)) / (2.0 * (double)n));
}

size_t sgd_smooth_hoeffding_n(double range, double tol, double confidence)
{
    if (!(confidence > 0 && confidence < 1) || !(tol > 0) || !(range >= 0)) return 0;
    double n = ceil(range * range * log(2.0 / (1.0 - confidence)) / (2.0 * tol * tol));
    if (n < 1) n = 1;
    if (n > 1e18) n = 1e18;
    return (size_t)n;
}

/* ---------------------------------------------------------------------- */
/* Monte Carlo                                                              */

/* Running statistics of one component (Welford), combined with Chan's
 * formula in chunk order. */
typedef struct {
    double n, mean, m2, lo, hi;
} mc_stat;

static void stat_init(mc_stat *s)
{
    s->n = 0;
    s->mean = 0;
    s->m2 = 0;
    s->lo = INFINITY;
    s->hi = -INFINITY;
}

static void stat_merge(mc_stat *a, const mc_stat *b)
{
    if (b->n == 0) return;
    if (a->n == 0) {
        *a = *b;
        return;
    }
    double n = a->n + b->n, delta = b->mean - a->mean;
    a->mean += delta * (b->n / n);
    a->m2 += b->m2 + delta * delta * (a->n * b->n / n);
    a->n = n;
    if (b->lo < a->lo) a->lo = b->lo;
    if (b->hi > a->hi) a->hi = b->hi;
}


/* Chunks are fixed by (n, d): never by the thread count. */
static size_t mc_nchunks(size_t n, size_t d)
{
    /* at least ~64K coordinate evaluations per chunk, at most one chunk per sample, at most 64 */
    double work = (double)n * (double)d / 65536.0;
    size_t k = work < 1 ? 1 : work > 64 ? 64 : (size_t)work;
    if (k > n) k = n;
    if (k < 1) k = 1;
    return k;
}

/* Counters generated per pass: small enough to stay in cache. */
#define SGD_SMOOTH_TILE 1024
_Static_assert(SGD_SMOOTH_TILE * 4 == SGD_SMOOTH_WORDS, "smooth_internal.h: the word scratch of a tile");

/* Below: the blocks of sgd_rng_symmetric_fill for counter (SGD_RNG_SMOOTH,
 * stream, step) (sgd_rng_counter's layout), many at once, the counters built
 * in registers (sgd_philox4x32_run). Word t of block q is coordinate t h + q,
 * h = ceil(d/4). */

/* Blocks q0 .. q0+nb-1 of sample `step`: word t into w[t][0 .. nb). */
static void cube_words_run(uint64_t seed, uint64_t stream, uint64_t step, size_t q0, size_t nb, uint32_t *const w[4])
{
    uint32_t ctr[4];
    sgd_rng_counter(SGD_RNG_SMOOTH, stream, step, (uint32_t)q0, ctr);
    sgd_philox4x32_run(nb, ctr, 0, (uint32_t)seed, (uint32_t)(seed >> 32), w);
}

/* One sample's words in coordinate order: W[t h + q] = word t of block q
 * (4 h words; those from d on are not coordinates). */
static void cube_words_sample(uint64_t seed, uint64_t stream, uint64_t step, size_t h, uint32_t *W)
{
    cube_words_run(seed, stream, step, 0, h, (uint32_t *const[4]){W, W + h, W + 2 * h, W + 3 * h});
}

/* Block q of samples step0 .. step0+n-1, the step word counting up (the
 * counters never touch memory): word t of sample step0 + s into o[t][s].
 * The step's low word must not wrap inside. */
static void cube_words_steps(uint64_t seed, uint64_t stream, uint64_t step0, size_t q, size_t n, uint32_t *const o[4])
{
    uint32_t ctr[4];
    sgd_rng_counter(SGD_RNG_SMOOTH, stream, step0, (uint32_t)q, ctr);
    sgd_philox4x32_run(n, ctr, 1, (uint32_t)seed, (uint32_t)(seed >> 32), o);
}

/* Small d (h < SGD_SMOOTH_COLS): a tile in columns, which fills the vector
 * lanes however small d is. Lane q ns + s is block q of sample step0 + s,
 * so word t of lanes q ns .. q ns + ns - 1 is coordinate t h + q of ns
 * consecutive samples. */
#define SGD_SMOOTH_COLS 32
static void cube_words_cols(uint64_t seed, uint64_t stream, uint64_t step0, size_t h, size_t ns, uint32_t *const w[4])
{
    /* where the step's low word wraps (the high byte steps), a second run */
    const uint32_t s_lo = (uint32_t)step0;
    const size_t m = (uint32_t)(s_lo + (uint32_t)ns) < s_lo ? (size_t)(0u - s_lo) : ns;
    for (size_t q = 0; q < h; q++) {
        uint32_t *const o[4] = {w[0] + q * ns, w[1] + q * ns, w[2] + q * ns, w[3] + q * ns};
        cube_words_steps(seed, stream, step0, q, m, o);
        if (m < ns)
            cube_words_steps(seed, stream, step0 + m, q, ns - m,
                             (uint32_t *const[4]){o[0] + m, o[1] + m, o[2] + m, o[3] + m});
    }
}

/* How many of the coordinates i0 .. i0+nb-1 are below d: word t of blocks
 * q0 .. q0+nb-1 covers i0 = t h + q0 onwards. */
static size_t run_len(size_t d, size_t i0, size_t nb)
{
    return i0 >= d ? 0 : (i0 + nb <= d ? nb : d - i0);
}

/* xs[t h + q] = y[t h + q] - eta r sym(w[t][q - q0]) for q0 <= q < q0 + nb:
 * four contiguous runs of one sample's coordinates. */
static void cube_x_runs(double r, double eta, const double *y, size_t d, size_t h, size_t q0, size_t nb,
                        uint32_t *const w[4], double *xs)
{
    const double r2 = r * 0x1.0p-31;
    for (size_t t = 0; t < 4 && t * h + q0 < d; t++) {
        size_t i0 = t * h + q0, cnt = run_len(d, i0, nb);
        for (size_t u = 0; u < cnt; u++) xs[i0 + u] = y[i0 + u] - eta * sgd_sym32_scaled(w[t][u], r2);
    }
}

/* smooth_internal.h */
void smooth_cube_x_block(double r, double eta, const double *y, size_t d, uint64_t seed, uint64_t stream,
                         uint64_t step0, size_t m, uint32_t *words, double *x)
{
    const size_t h = (d + 3) / 4;
    const double r2 = r * 0x1.0p-31;
    uint32_t *const w[4] = {words, words + SGD_SMOOTH_TILE, words + 2 * SGD_SMOOTH_TILE, words + 3 * SGD_SMOOTH_TILE};
    if (h < SGD_SMOOTH_COLS) { /* columns of many samples, turned into rows */
        const size_t spt = SGD_SMOOTH_TILE / h;
        for (size_t j = 0; j < m; j += spt) {
            const size_t ns = m - j < spt ? m - j : spt;
            cube_words_cols(seed, stream, step0 + j, h, ns, w);
            for (size_t s = 0; s < ns; s++)
                for (size_t t = 0, i = 0; i < d; t++)
                    for (size_t q = 0; q < h && i < d; q++, i++)
                        x[(j + s) * d + i] = y[i] - eta * sgd_sym32_scaled(w[t][q * ns + s], r2);
        }
    } else if (h <= SGD_SMOOTH_TILE) /* a sample's words in coordinate order */
        for (size_t s = 0; s < m; s++) {
            cube_words_sample(seed, stream, step0 + s, h, words);
            for (size_t i = 0; i < d; i++) x[s * d + i] = y[i] - eta * sgd_sym32_scaled(words[i], r2);
        }
    else
        for (size_t s = 0; s < m; s++)
            for (size_t q0 = 0; q0 < h; q0 += SGD_SMOOTH_TILE) {
                size_t nb = h - q0 < SGD_SMOOTH_TILE ? h - q0 : SGD_SMOOTH_TILE;
                cube_words_run(seed, stream, step0 + s, q0, nb, w);
                cube_x_runs(r, eta, y, d, h, q0, nb, w, x + s * d);
            }
}

/* a[0] + ... + a[n-1]; from 32 terms on in 16 interleaved partial sums:
 * independent chains (a serial sum of a long row waits on the adder's
 * latency), added in a fixed order, so the bits depend on n alone, not on
 * how the compiler vectorises. */
static double sum16(const double *a, size_t n)
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

/* samples handled together: enough to fill vector lanes when d is small */
static size_t mc_block(size_t d)
{
    size_t S = 8192 / d;
    if (S < 1) S = 1;
    if (S > 256) S = 256;
    return S;
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

typedef struct {
    size_t d;
    mc_vstat v;
    double *mean, *m2, *lo, *hi; /* d entries; lo, hi only for Hoeffding ranges */
} mc_chunk;

/* The totals of a Monte Carlo call: the value's statistics, and the
 * gradient's per coordinate (every coordinate has gn samples) in the arrays
 * of an mc_chunk, so that merging a chunk is one vector loop. */
typedef struct {
    int want_grad, want_range;
    mc_stat g;
    double gn;
    mc_chunk gr; /* its arrays only (want_grad) */
} mc_acc;

static int chunk_alloc(mc_chunk *c, size_t d, int want_grad, int want_range)
{
    memset(c, 0, sizeof *c);
    c->d = d;
    if (!want_grad) return 0;
    c->mean = malloc(d * sizeof(double));
    c->m2 = malloc(d * sizeof(double));
    if (want_range) {
        c->lo = malloc(d * sizeof(double));
        c->hi = malloc(d * sizeof(double));
    }
    return c->mean && c->m2 && (!want_range || (c->lo && c->hi)) ? 0 : -1;
}

static void chunk_free(mc_chunk *c)
{
    free(c->mean);
    free(c->m2);
    free(c->lo);
    free(c->hi);
}

static void chunk_reset(mc_chunk *c)
{
    c->v = (mc_vstat){.lo = INFINITY, .hi = -INFINITY};
    if (c->mean) {
        memset(c->mean, 0, c->d * sizeof(double));
        memset(c->m2, 0, c->d * sizeof(double));
    }
    if (c->lo)
        for (size_t i = 0; i < c->d; i++) {
            c->lo[i] = INFINITY;
            c->hi[i] = -INFINITY;
        }
}

/* The values x[0..n) of the next n samples. Returns 0, or 1 + the index of
 * the first that is not finite (the statistics then stop before it). The
 * sums live in locals: kept in a struct behind a pointer they were stored and
 * reloaded every sample, a chain that cost more than the arithmetic. */
static size_t vstat_add(mc_vstat *v, const double *x, size_t n)
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
static void chunk_grad(mc_chunk *c, size_t i0, size_t n, const double *u, double inv)
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

/* 0 if every gradient mean is finite */
static int chunk_grad_finite(const mc_chunk *c)
{
    if (!c->mean) return 0;
    for (size_t i = 0; i < c->d; i++)
        if (!isfinite(c->mean[i])) return -1;
    return 0;
}

/* The next ns samples into c, in order: their values (when want_g) and
 * their gradient rows gr (ns x d, or NULL). Returns 0, or 1 + the index of
 * the first value that is not finite. */
static size_t chunk_add(mc_chunk *c, int want_g, const double *vals, const double *gr, size_t ns)
{
    const double cnt0 = c->v.cnt;
    if (want_g) {
        size_t e = vstat_add(&c->v, vals, ns);
        if (e) return e;
    } else
        c->v.cnt += (double)ns;
    for (size_t s = 0; gr && s < ns; s++) chunk_grad(c, 0, c->d, gr + s * c->d, 1.0 / (cnt0 + (double)s + 1.0));
    return 0;
}

/* Fold a finished chunk into the totals (called in chunk order): Chan's
 * formulas, as stat_merge, for every gradient coordinate at once. */
static void chunk_merge(mc_acc *res, const mc_chunk *c, int want_g)
{
    const mc_vstat *v = &c->v;
    const double vs = (v->s[0] + v->s[1]) + (v->s[2] + v->s[3]), vs2 = (v->s2[0] + v->s2[1]) + (v->s2[2] + v->s2[3]);
    double mean = v->cnt > 0 ? vs / v->cnt : 0, m2 = vs2 - vs * mean;
    mc_stat s = {want_g ? v->cnt : 0, v->k + mean, m2 > 0 ? m2 : 0, v->lo, v->hi};
    stat_merge(&res->g, &s);
    if (!c->mean || v->cnt == 0) return;
    const size_t d = c->d;
    if (res->gn == 0) {
        memcpy(res->gr.mean, c->mean, d * sizeof(double));
        memcpy(res->gr.m2, c->m2, d * sizeof(double));
        if (c->lo) {
            memcpy(res->gr.lo, c->lo, d * sizeof(double));
            memcpy(res->gr.hi, c->hi, d * sizeof(double));
        }
    } else {
        double n = res->gn + v->cnt, wb = v->cnt / n, wab = res->gn * v->cnt / n;
        for (size_t i = 0; i < d; i++) {
            double delta = c->mean[i] - res->gr.mean[i];
            res->gr.mean[i] += delta * wb;
            res->gr.m2[i] += c->m2[i] + delta * delta * wab;
        }
        if (c->lo)
            for (size_t i = 0; i < d; i++) {
                res->gr.lo[i] = c->lo[i] < res->gr.lo[i] ? c->lo[i] : res->gr.lo[i];
                res->gr.hi[i] = c->hi[i] > res->gr.hi[i] ? c->hi[i] : res->gr.hi[i];
            }
    }
    res->gn += v->cnt;
}

/* ---- separable f under cube noise ---------------------------------------
 * For f = sum_i phi(x_i) (f->phi_batch) a sample never has to exist as a
 * whole: a tile of Philox blocks gives four runs of coordinates, whose phi
 * and phi' are evaluated while in cache and folded into the statistics at
 * once. The samples and their bits are those of the general path; only the
 * order of the sum over coordinates differs. */

/* Per-thread scratch of one tile. */
typedef struct {
    uint32_t *w[4];
    double *x, *ph, *dph;
    double *yb;   /* 4 SGD_SMOOTH_TILE: large d, y of a tile whose last run passes d (zero-padded);
                   * smaller d, the tile's sample values */
} sep_tile;

static int sep_tile_alloc(sep_tile *t)
{
    uint32_t *w = malloc(4 * SGD_SMOOTH_TILE * sizeof(uint32_t));
    for (int i = 0; i < 4; i++) t->w[i] = w ? w + i * SGD_SMOOTH_TILE : NULL;
    t->x = malloc(4 * SGD_SMOOTH_TILE * sizeof(double));
    t->ph = malloc(4 * SGD_SMOOTH_TILE * sizeof(double));
    t->dph = malloc(4 * SGD_SMOOTH_TILE * sizeof(double));
    t->yb = malloc(4 * SGD_SMOOTH_TILE * sizeof(double));
    return w && t->x && t->ph && t->dph && t->yb ? 0 : -1;
}

static void sep_tile_free(sep_tile *t)
{
    free(t->w[0]);
    free(t->x);
    free(t->ph);
    free(t->dph);
    free(t->yb);
}

/* phi (when ph) and phi' (when dph) at x = ypat - eta r sym(w) for the nl
 * blocks of a coordinate tile; ypat[t * stride + k] is the y of word t of
 * block k. The values are laid out [t][k] with row length nl. */
static void sep_eval(const sgd_landscape *f, double r, double eta, const double *ypat, size_t stride, size_t nl,
                     sep_tile *T, int ph, int dph)
{
    const double r2 = r * 0x1.0p-31;
    for (int t = 0; t < 4; t++) {
        const uint32_t *wt = T->w[t];
        const double *yt = ypat + t * stride;
        double *xt = T->x + t * nl;
        for (size_t k = 0; k < nl; k++) xt[k] = yt[k] - eta * sgd_sym32_scaled(wt[k], r2);
    }
    if (ph || dph) f->phi_batch(f, 4 * nl, T->x, ph ? T->ph : NULL, dph ? T->dph : NULL);
}

/* The work of one Monte Carlo call; shared by the chunk runners. */
typedef struct {
    const sgd_landscape *f;
    const sgd_noise *W;
    double eta;
    const double *y;
    const sgd_smooth_params *p;
    size_t n, d;
    uint64_t step0;
    int want_g, want_grad, want_range;
    int cube; /* uniform cube noise drawn by the words (smooth_cube_x_block) */
    int sep;  /* ... and f separable: the tile roads */
} mc_job;

/* Samples a .. b-1 into c, a tile of columns at a time. Returns the first
 * non-finite sample + 1, or 0. */
static size_t sep_cols_chunk(const mc_job *J, size_t a, size_t b, sep_tile *T, mc_chunk *c)
{
    const size_t d = J->d, h = (d + 3) / 4, spt = SGD_SMOOTH_TILE / h;
    const double r2 = J->W->r * 0x1.0p-31, eta = J->eta;
    double *vals = T->yb;
    size_t off[4 * SGD_SMOOTH_COLS], ns_off = 0, valid[4]; /* valid[t]: blocks q with t h + q < d */
    for (size_t t = 0; t < 4; t++) valid[t] = run_len(d, t * h, h);
    const int draw = J->want_g && !J->want_grad && J->f->phi_cube_acc;
    for (size_t j = a; j < b; j += spt) {
        const size_t ns = b - j < spt ? b - j : spt, nl = ns * h;
        cube_words_cols(J->p->seed, J->p->stream, J->step0 + j, h, ns, T->w);
        if (draw) {
            /* values alone, the draw fused in: each coordinate's column added
             * to the samples' sums in order 0 .. d-1 (from -0, so the bits are
             * those of the sum below) */
            for (size_t s = 0; s < ns; s++) vals[s] = -0.0;
            for (size_t i = 0; i < d; i++)
                J->f->phi_cube_acc(J->f, ns, J->y[i], eta, r2, T->w[i / h] + (i % h) * ns, vals);
        } else {
            for (size_t t = 0; t < 4; t++) {
                for (size_t q = 0; q < valid[t]; q++) {
                    const double yi = J->y[t * h + q];
                    const uint32_t *wq = T->w[t] + q * ns;
                    double *xq = T->x + t * nl + q * ns;
                    for (size_t s = 0; s < ns; s++) xq[s] = yi - eta * sgd_sym32_scaled(wq[s], r2);
                }
                if (valid[t])
                    J->f->phi_batch(J->f, valid[t] * ns, T->x + t * nl, J->want_g ? T->ph + t * nl : NULL,
                                    J->want_grad ? T->dph + t * nl : NULL);
            }
            /* where coordinate i's column starts: row t = i / h, block q = i % h */
            if (ns != ns_off) {
                for (size_t i = 0; i < d; i++) off[i] = (i / h) * nl + (i % h) * ns;
                ns_off = ns;
            }
            /* the values: coordinates in order 0 .. d-1, eight samples at a time in registers */
            size_t s0 = 0;
            for (; J->want_g && s0 + 8 <= ns; s0 += 8) {
                double acc[8];
                for (int e = 0; e < 8; e++) acc[e] = T->ph[s0 + e];
                for (size_t i = 1; i < d; i++) {
                    const double *pi = T->ph + off[i] + s0;
                    for (int e = 0; e < 8; e++) acc[e] += pi[e];
                }
                for (int e = 0; e < 8; e++) vals[s0 + e] = acc[e];
            }
            for (; J->want_g && s0 < ns; s0++) {
                double v = T->ph[s0];
                for (size_t i = 1; i < d; i++) v += T->ph[off[i] + s0];
                vals[s0] = v;
            }
        }
        if (J->want_grad) /* the gradient rows of the samples, into x (free once phi' is known) */
            for (size_t s = 0; s < ns; s++)
                for (size_t i = 0; i < d; i++) T->x[s * d + i] = T->dph[off[i] + s];
        size_t e = chunk_add(c, J->want_g, vals, J->want_grad ? T->x : NULL, ns);
        if (e) return j + e;
    }
    return 0;
}

/* SGD_SMOOTH_COLS <= h <= one tile: a tile of whole samples, sample s's
 * words in coordinate order at W + 4 h s (cube_words_sample) and its points
 * at x + d s, so that one call covers a sample. Samples a .. b-1 into c.
 * Returns the first non-finite sample + 1, or 0. */
static size_t sep_rows_chunk(const mc_job *J, size_t a, size_t b, sep_tile *T, mc_chunk *c)
{
    const sgd_landscape *f = J->f;
    const size_t d = J->d, h = (d + 3) / 4, spt = SGD_SMOOTH_TILE / h;
    const double r2 = J->W->r * 0x1.0p-31, eta = J->eta;
    uint32_t *W = T->w[0]; /* the four rows are one array of 4 SGD_SMOOTH_TILE words */
    double *vals = T->yb;
    /* values alone: phi summed as it is computed (phi_sum), with the draw
     * fused in where f has phi_cube_sum (no points stored) */
    const int fused = J->want_g && !J->want_grad, draw = fused && f->phi_cube_sum;
    for (size_t j = a; j < b; j += spt) {
        const size_t ns = b - j < spt ? b - j : spt;
        if (draw)
            for (size_t s = 0; s < ns; s++) cube_words_sample(J->p->seed, J->p->stream, J->step0 + j + s, h, W + 4 * h * s);
        else {
            smooth_cube_x_block(J->W->r, eta, J->y, d, J->p->seed, J->p->stream, J->step0 + j, ns, W, T->x);
            if (!fused)
                f->phi_batch(f, ns * d, T->x, J->want_g ? T->ph : NULL, J->want_grad ? T->dph : NULL);
        }
        for (size_t s = 0; J->want_g && s < ns; s++)
            vals[s] = draw    ? f->phi_cube_sum(f, d, J->y, eta, r2, W + 4 * h * s)
                      : fused ? f->phi_sum(f, d, T->x + d * s)
                              : sum16(T->ph + d * s, d);
        size_t e = chunk_add(c, J->want_g, vals, J->want_grad ? T->dph : NULL, ns);
        if (e) return j + e;
    }
    return 0;
}

/* Large d: tile `ti` covers blocks [ti TB, ...) of every sample, i.e. four
 * runs of coordinates t h + q0 .. (word t of the tile's blocks). Samples j0 ..
 * j0+ns-1: their partial sums of phi into part[s * ntile + ti], and phi'
 * folded into c's statistics for these coordinates (c->v.cnt is the count
 * before sample j0). */
#define SGD_SMOOTH_BIG_TILE 1024 /* blocks: 4096 coordinates (256 measured 13% slower) */
_Static_assert(SGD_SMOOTH_BIG_TILE <= SGD_SMOOTH_TILE, "a coordinate tile fits the tile scratch");
static void sep_big_tile(const mc_job *J, size_t ti, size_t ntile, size_t j0, size_t ns, sep_tile *T, mc_chunk *c,
                         double *part)
{
    const size_t d = J->d, h = (d + 3) / 4, q0 = ti * SGD_SMOOTH_BIG_TILE;
    const size_t nb = h - q0 < SGD_SMOOTH_BIG_TILE ? h - q0 : SGD_SMOOTH_BIG_TILE;
    size_t len[4];
    for (size_t t = 0; t < 4; t++) {
        size_t i0 = t * h + q0;
        len[t] = run_len(d, i0, nb);
    }
    /* y of the four runs: in place (stride h), or a zero-padded copy where the
     * last run passes d */
    const double *ypat = J->y + q0;
    size_t stride = h;
    if (len[3] < nb) {
        for (size_t t = 0; t < 4; t++)
            for (size_t k = 0; k < nb; k++) T->yb[t * nb + k] = k < len[t] ? J->y[t * h + q0 + k] : 0.0;
        ypat = T->yb;
        stride = nb;
    }
    /* values alone: phi summed as it is computed, the draw fused in where f has phi_cube_sum */
    const int draw = J->want_g && !J->want_grad && J->f->phi_cube_sum;
    const double r2 = J->W->r * 0x1.0p-31;
    for (size_t s = 0; s < ns; s++) {
        cube_words_run(J->p->seed, J->p->stream, J->step0 + j0 + s, q0, nb, T->w);
        if (!draw) sep_eval(J->f, J->W->r, J->eta, ypat, stride, nb, T, J->want_g && J->want_grad, J->want_grad);
        if (J->want_g) {
            double v = 0;
            for (size_t t = 0; t < 4 && len[t]; t++) /* runs past d are empty, and only the last ones */
                v += J->want_grad ? sum16(T->ph + t * nb, len[t])
                     : draw       ? J->f->phi_cube_sum(J->f, len[t], J->y + t * h + q0, J->eta, r2, T->w[t])
                                  : J->f->phi_sum(J->f, len[t], T->x + t * nb);
            part[s * ntile + ti] = v;
        }
        if (J->want_grad) {
            double inv = 1.0 / (c->v.cnt + (double)s + 1.0);
            for (size_t t = 0; t < 4; t++) chunk_grad(c, t * h + q0, len[t], T->dph + t * nb, inv);
        }
    }
}

/* Large d: samples run in order in batches; within a batch the coordinate
 * tiles run in parallel, each owning its coordinates' statistics, so no
 * merging is needed and the bits do not depend on the thread count. */
static int mc_run_sep_big(const mc_job *J, mc_acc *res, size_t *bad)
{
    const size_t d = J->d, h = (d + 3) / 4, ntile = (h + SGD_SMOOTH_BIG_TILE - 1) / SGD_SMOOTH_BIG_TILE;
    const size_t SB = 64; /* samples per batch */
    double *part = malloc(SB * ntile * sizeof(double));
    mc_chunk c;
    int status = chunk_alloc(&c, d, J->want_grad, J->want_range) || !part ? SGD_ENOMEM : SGD_OK;
    if (!status) {
        chunk_reset(&c);
    }
    int par = !omp_in_parallel();
    /* one tile scratch per thread for the whole call (not per batch) */
    int nth = par ? omp_get_max_threads() : 1;
    sep_tile *tiles = calloc((size_t)nth, sizeof *tiles);
    if (!tiles) status = SGD_ENOMEM;
    for (int t = 0; t < nth && !status; t++)
        if (sep_tile_alloc(&tiles[t])) status = SGD_ENOMEM;
    for (size_t j0 = 0; j0 < J->n && !status; j0 += SB) {
        size_t ns = J->n - j0 < SB ? J->n - j0 : SB;
#pragma omp parallel for schedule(dynamic, 4) if (par) num_threads(nth)
        for (size_t ti = 0; ti < ntile; ti++) sep_big_tile(J, ti, ntile, j0, ns, &tiles[omp_get_thread_num()], &c, part);
        if (!J->want_g)
            c.v.cnt += (double)ns;
        for (size_t s = 0; s < ns && J->want_g && !status; s++) {
            double v = sum16(part + s * ntile, ntile);
            if (vstat_add(&c.v, &v, 1)) {
                status = SGD_EDIVERGED;
                *bad = j0 + s;
            }
        }
    }
    if (!status && chunk_grad_finite(&c)) {
        status = SGD_EDIVERGED;
        *bad = 0;
    }
    if (!status) chunk_merge(res, &c, J->want_g);
    for (int t = 0; tiles && t < nth; t++) sep_tile_free(&tiles[t]);
    free(tiles);
    chunk_free(&c);
    free(part);
    return status;
}

static int mc_run_chunks(const mc_job *J, mc_acc *res, size_t *badp);

static int mc_run(const sgd_landscape *f, const sgd_noise *W, double eta, const double *y,
                  const sgd_smooth_params *p, size_t n, uint64_t step0, mc_acc *res)
{
    size_t d = f->d, h = (d + 3) / 4;
    mc_job J = {f, W, eta, y, p, n, d, step0, 0, res->want_grad, res->want_range, 0, 0};
    J.want_g = !(p->grad_only && res->want_grad);
    /* d = 1 goes through sgd_noise_sample_domain: there one Philox block serves two steps;
     * so does r < 2^-990, where r 2^-31 is subnormal and sgd_sym32_scaled would round differently */
    J.cube = W->kind == SGD_NOISE_CUBE && d >= 2 && W->r >= 0x1.0p-990;
    J.sep = J.cube && f->phi_batch;
    int status = SGD_OK;
    size_t bad = 0;
    stat_init(&res->g);
    res->gn = 0;
    if (J.sep && h > SGD_SMOOTH_TILE)
        status = mc_run_sep_big(&J, res, &bad);
    else
        status = mc_run_chunks(&J, res, &bad);
    if (status == SGD_ENOMEM) return sgd_error(SGD_ENOMEM, "Monte Carlo smoothing: out of memory");
    if (status == SGD_EDIVERGED)
        return sgd_error(SGD_EDIVERGED, "Monte Carlo smoothing: f or grad f is not finite at y - eta*omega (near sample %zu)",
                         bad);
    return status;
}

/* Read-only inputs and per-thread scratch of the chunk runner. */
typedef struct {
    const mc_job *J;
    size_t K, S;
    /* per thread */
    mc_chunk c;
    sep_tile T;
    double *omega, *x, *vals, *gr;
    uint32_t *words; /* cube noise: 4 SGD_SMOOTH_TILE words */
    int ok;
} chunk_run;

static void chunk_run_alloc(chunk_run *R, const chunk_run *shared)
{
    *R = *shared;
    const size_t d = R->J->d, S = R->S;
    const int want_grad = R->J->want_grad, cube = R->J->cube;
    memset(&R->T, 0, sizeof R->T);
    R->omega = R->x = R->vals = R->gr = NULL;
    R->words = NULL;
    R->ok = !chunk_alloc(&R->c, d, want_grad, R->J->want_range);
    if (R->J->sep) {
        R->ok = R->ok && !sep_tile_alloc(&R->T);
        return;
    }
    R->omega = malloc(d * sizeof(double));
    R->x = malloc(S * d * sizeof(double));
    R->vals = malloc(S * sizeof(double));
    R->words = cube ? malloc(SGD_SMOOTH_TILE * 4 * sizeof(uint32_t)) : NULL;
    R->gr = want_grad ? malloc(S * d * sizeof(double)) : NULL;
    R->ok = R->ok && R->omega && R->x && R->vals && (!cube || R->words) && (!want_grad || R->gr);
}

static void chunk_run_free(chunk_run *R)
{
    chunk_free(&R->c);
    sep_tile_free(&R->T);
    free(R->omega);
    free(R->x);
    free(R->vals);
    free(R->words);
    free(R->gr);
}

/* Chunk k of K into R->c; returns the status, with *where the sample at fault. */
static int chunk_run_one(chunk_run *R, size_t k, size_t *where)
{
    const mc_job *J = R->J;
    const sgd_landscape *f = J->f;
    const sgd_smooth_params *p = J->p;
    const size_t n = J->n, d = J->d, K = R->K, S = R->S;
    const size_t a = n * k / K, b = n * (k + 1) / K;
    mc_chunk *c = &R->c;
    if (!R->ok) return SGD_ENOMEM;
    chunk_reset(c);
    if (J->sep) {
        size_t e = (d + 3) / 4 < SGD_SMOOTH_COLS ? sep_cols_chunk(J, a, b, &R->T, c)
                                                 : sep_rows_chunk(J, a, b, &R->T, c);
        if (e) {
            *where = e - 1;
            return SGD_EDIVERGED;
        }
    } else
        for (size_t j = a; j < b; j += S) {
            size_t m = b - j < S ? b - j : S;
            if (J->cube)
                smooth_cube_x_block(J->W->r, J->eta, J->y, d, p->seed, p->stream, J->step0 + j, m, R->words, R->x);
            else
                for (size_t s = 0; s < m; s++) {
                    double *xs = R->x + s * d;
                    sgd_noise_sample_domain(J->W, d, p->seed, SGD_RNG_SMOOTH, p->stream, J->step0 + j + s, R->omega);
                    for (size_t i = 0; i < d; i++) xs[i] = J->y[i] - J->eta * R->omega[i];
                }
            if (J->want_g && R->gr)
                for (size_t s = 0; s < m; s++) R->vals[s] = f->fg(f, R->x + s * d, R->gr + s * d);
            else if (J->want_g)
                f->value_batch(f, m, R->x, R->vals);
            else
                f->grad_batch(f, m, R->x, R->gr);
            size_t e = chunk_add(c, J->want_g, R->vals, R->gr, m);
            if (e) {
                *where = j + e - 1;
                return SGD_EDIVERGED;
            }
        }
    if (chunk_grad_finite(c)) {
        *where = a;
        return SGD_EDIVERGED;
    }
    return SGD_OK;
}

/* Chunks of samples in parallel, merged in chunk order: every noise model
 * and landscape; separable f under cube noise goes tile by tile. */
static int mc_run_chunks(const mc_job *J, mc_acc *res, size_t *badp)
{
    const size_t n = J->n, d = J->d, K = mc_nchunks(n, d);
    int status = SGD_OK;
    size_t bad = 0;
    /* values alone: each chunk's statistics (a few numbers) kept, merged after */
    struct {
        int st;
        size_t where;
        mc_vstat v;
    } *rec = res->want_grad ? NULL : malloc(K * sizeof *rec);
    if (!res->want_grad && !rec) return SGD_ENOMEM;
    chunk_run shared;
    memset(&shared, 0, sizeof shared);
    shared.J = J;
    shared.K = K;
    shared.S = mc_block(d);
    int par = !omp_in_parallel() && K > 1;
    /* Each chunk is reduced in its thread's scratch, then merged into res in
     * chunk order: the same bits for any thread count. With gradients the
     * merge of d-vectors happens in an ordered region (no per-chunk copies);
     * values alone keep each chunk's few numbers and merge after the loop, so
     * no thread waits for another's turn. */
    #pragma omp parallel if (par)
    {
        chunk_run R;
        chunk_run_alloc(&R, &shared);
        if (res->want_grad) {
            #pragma omp for schedule(dynamic, 1) ordered
            for (size_t k = 0; k < K; k++) {
                size_t where = 0;
                int st = chunk_run_one(&R, k, &where);
                #pragma omp ordered
                {
                    if (st) {
                        if (!status) {
                            status = st;
                            bad = where;
                        }
                    } else if (!status)
                        chunk_merge(res, &R.c, J->want_g);
                }
            }
        } else {
            #pragma omp for schedule(dynamic, 1)
            for (size_t k = 0; k < K; k++) {
                rec[k].where = 0;
                rec[k].st = chunk_run_one(&R, k, &rec[k].where);
                rec[k].v = R.c.v;
            }
        }
        chunk_run_free(&R);
    }
    for (size_t k = 0; rec && k < K && !status; k++) {
        if (rec[k].st) {
            status = rec[k].st;
            bad = rec[k].where;
            break;
        }
        mc_chunk ck;
        memset(&ck, 0, sizeof ck);
        ck.d = d;
        ck.v = rec[k].v;
        chunk_merge(res, &ck, J->want_g);
    }
    free(rec);
    *badp = bad;
    return status;
}

/* Half-width of the interval for one component. */
static double mc_halfwidth(const sgd_smooth_params *p, double z, const mc_stat *s, double known_range,
                           int *from_sample)
{
    if (s->n < 2) return INFINITY;
    if (p->interval == SGD_SMOOTH_CI_HOEFFDING) {
        double R = known_range;
        if (!(R >= 0)) {
            R = (s->hi - s->lo) * p->range_widen;
            *from_sample = 1;
        }
        return sgd_smooth_hoeffding_halfwidth(R, (size_t)s->n, p->confidence);
    }
    double var = s->m2 / (s->n - 1.0);
    if (var < 0) var = 0;
    return z * sqrt(var / s->n);
}

/* Samples needed for half-width tol on one component, from a pilot. */
static double mc_needed(const sgd_smooth_params *p, double z, const mc_stat *s, double known_range)
{
    if (p->interval == SGD_SMOOTH_CI_HOEFFDING) {
        double R = known_range >= 0 ? known_range : (s->hi - s->lo) * p->range_widen;
        return (double)sgd_smooth_hoeffding_n(R, p->tol, p->confidence);
    }
    double var = s->n > 1 ? s->m2 / (s->n - 1.0) : 0;
    return ceil(z * z * var / (p->tol * p->tol));
}

/* Coordinate i of the gradient totals as one statistic. */
static mc_stat mc_acc_coord(const mc_acc *a, size_t i)
{
    const mc_chunk *t = &a->gr;
    mc_stat s = {a->gn, t->mean[i], t->m2[i], t->lo ? t->lo[i] : NAN, t->hi ? t->hi[i] : NAN};
    return s;
}

/* The sample count --tol asks for at y (>= 2, before the max_samples cap):
 * from known Hoeffding ranges, else from a pilot run on its own samples. */
static int mc_plan(const sgd_landscape *f, const sgd_noise *W, double eta, const double *y,
                   const sgd_smooth_params *p, double z, mc_acc *res, double *need)
{
    int known = p->interval == SGD_SMOOTH_CI_HOEFFDING && p->range >= 0 && (!res->want_grad || p->grad_range >= 0);
    *need = 2;
    if (known) {
        *need = (double)sgd_smooth_hoeffding_n(p->range, p->tol, p->confidence);
        if (res->want_grad) {
            double ng = (double)sgd_smooth_hoeffding_n(p->grad_range, p->tol, p->confidence);
            if (ng > *need) *need = ng;
        }
    } else {
        size_t n0 = p->pilot >= 2 ? p->pilot : 2;
        int rc = mc_run(f, W, eta, y, p, n0, (uint64_t)1 << 40, res);
        if (rc) return rc;
        *need = p->grad_only && res->want_grad ? 2 : mc_needed(p, z, &res->g, p->range);
        if (res->want_grad)
            for (size_t i = 0; i < f->d; i++) {
                mc_stat si = mc_acc_coord(res, i);
                double ni = mc_needed(p, z, &si, p->grad_range);
                if (ni > *need) *need = ni;
            }
    }
    if (*need < 2) *need = 2;
    return SGD_OK;
}

int sgd_smooth_mc_samples(const sgd_landscape *f, const sgd_noise *W, double eta, const double *y,
                          const sgd_smooth_params *p, int want_grad, double *need)
{
    if (p->nsamples) {
        *need = (double)p->nsamples;
        return SGD_OK;
    }
    mc_acc res;
    memset(&res, 0, sizeof res);
    res.want_grad = want_grad;
    res.want_range = p->interval == SGD_SMOOTH_CI_HOEFFDING;
    int rc = chunk_alloc(&res.gr, f->d, res.want_grad, res.want_range)
                 ? sgd_error(SGD_ENOMEM, "Monte Carlo smoothing: out of memory")
                 : mc_plan(f, W, eta, y, p, sgd_smooth_z(p->confidence), &res, need);
    chunk_free(&res.gr);
    return rc;
}

static int smooth_mc(const sgd_landscape *f, const sgd_noise *W, double eta, const double *y,
                     const sgd_smooth_params *p, sgd_smooth_value *out)
{
    size_t d = f->d;
    if (W->kind == SGD_NOISE_DATA)
        return sgd_error(SGD_EUNSUPPORTED,
                         "Monte Carlo smoothing needs a noise model it can sample (ball, cube, gauss), not data noise");
    const double z = sgd_smooth_z(p->confidence); /* once: d calls to the inverse CDF showed up in profiles */
    mc_acc res;
    memset(&res, 0, sizeof res);
    res.want_grad = out->grad != NULL;
    res.want_range = p->interval == SGD_SMOOTH_CI_HOEFFDING;
    if (chunk_alloc(&res.gr, d, res.want_grad, res.want_range)) {
        chunk_free(&res.gr);
        return sgd_error(SGD_ENOMEM, "Monte Carlo smoothing: out of memory");
    }
    size_t n = p->nsamples;
    int rc = SGD_OK;
    if (n == 0) {
        double need;
        if ((rc = mc_plan(f, W, eta, y, p, z, &res, &need))) goto done;
        if (need > (double)p->max_samples) need = (double)p->max_samples;
        n = (size_t)need;
    }
    if (n < 2) n = 2;
    rc = mc_run(f, W, eta, y, p, n, 0, &res);
    if (rc) goto done;
    out->n = n;
    out->method = SGD_SMOOTH_MC;
    out->range_from_sample = 0;
    if (p->grad_only && res.want_grad) {
        out->g = NAN;
        out->g_err = NAN;
    } else {
        out->g = res.g.mean;
        out->g_err = mc_halfwidth(p, z, &res.g, p->range, &out->range_from_sample);
    }
    if (res.want_grad)
        for (size_t i = 0; i < d; i++) {
            mc_stat si = mc_acc_coord(&res, i);
            out->grad[i] = si.mean;
            double e = mc_halfwidth(p, z, &si, p->grad_range, &out->range_from_sample);
            if (out->grad_err) out->grad_err[i] = e;
        }
done:
    chunk_free(&res.gr);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* Quadrature (d = 1, 2), in the standardised variable t: omega = r t.       */

typedef struct {
    const sgd_landscape *f;
    sgd_noise_kind kind;
    double eta, r;
    const double *y;
    size_t comp;           /* 0: f, 1..d: d f / d x_comp */
    sgd_smooth_workspace *w;
    double t1;             /* outer variable (2-D) */
    double epsabs, epsrel, sig;
    double inner_err_max;
    int status;
} quad_ctx;

static const double INV_SQRT_2PI = 0.39894228040143267793994605993438;

/* h at the standardised point (t0, t1); quadrature runs only for d = 1 or 2, and
 * taking the coordinates as scalars (not a loop over d reading a t[2]) is what
 * lets the compiler see no read past them. */
static double quad_h(quad_ctx *q, double t0, double t1)
{
    q->w->x[0] = q->y[0] - q->eta * q->r * t0;
    if (q->f->d == 2) q->w->x[1] = q->y[1] - q->eta * q->r * t1;
    double v = q->f->fg(q->f, q->w->x, q->comp ? q->w->grad : NULL);
    return q->comp ? q->w->grad[q->comp - 1] : v;
}

/* 1-D integrand: weight times h. */
static double quad_1d(double t, void *ctx)
{
    quad_ctx *q = ctx;
    double w = q->kind == SGD_NOISE_GAUSS ? INV_SQRT_2PI * exp(-0.5 * t * t) : 0.5;
    if (w == 0) return 0;
    return w * quad_h(q, t, 0);
}

/* 2-D inner integrand (over t2 at fixed t1). */
static double quad_inner(double t2, void *ctx)
{
    quad_ctx *q = ctx;
    double w;
    if (q->kind == SGD_NOISE_GAUSS) w = INV_SQRT_2PI * exp(-0.5 * t2 * t2);
    else if (q->kind == SGD_NOISE_CUBE) w = 0.5;
    else w = 1.0;  /* disk: the 1/pi is in the outer weight */
    if (w == 0) return 0;
    return w * quad_h(q, q->t1, t2);
}

/* One GSL integral over [a, b] in the standardised variable, or over the
 * whole line (QAGI) for Gaussian noise without truncation (sig = 0). */
static int quad_run(gsl_function *F, double a, double b, quad_ctx *q, gsl_integration_workspace *ws,
                    double *res, double *err)
{
    if (q->kind == SGD_NOISE_GAUSS && q->sig == 0)
        return gsl_integration_qagi(F, q->epsabs, q->epsrel, q->w->limit, ws, res, err);
    return gsl_integration_qags(F, a, b, q->epsabs, q->epsrel, q->w->limit, ws, res, err);
}

static double quad_outer(double t1, void *ctx)
{
    quad_ctx *q = ctx;
    double w1, a, b;
    if (q->kind == SGD_NOISE_GAUSS) {
        w1 = INV_SQRT_2PI * exp(-0.5 * t1 * t1);
        a = -q->sig;
        b = q->sig;
    } else if (q->kind == SGD_NOISE_CUBE) {
        w1 = 0.5;
        a = -1;
        b = 1;
    } else {
        w1 = 1.0 / M_PI;
        double h = 1.0 - t1 * t1;
        b = h > 0 ? sqrt(h) : 0;
        a = -b;
    }
    if (w1 == 0 || b <= a) return 0;
    q->t1 = t1;
    gsl_function F = {quad_inner, q};
    double res = 0, err = 0;
    int st = quad_run(&F, a, b, q, q->w->inner, &res, &err);
    if (st && !q->status) q->status = st;
    if (err > q->inner_err_max) q->inner_err_max = err;
    return w1 * res;
}

static int smooth_quad(const sgd_landscape *f, const sgd_noise *W, double eta, const double *y,
                       const sgd_smooth_params *p, sgd_smooth_workspace *w, sgd_smooth_value *out)
{
    size_t d = f->d;
    if (d > 2)
        return sgd_error(SGD_EUNSUPPORTED, "quadrature smoothing is for d = 1 or 2 (d = %zu): use --method mc", d);
    if (W->kind != SGD_NOISE_BALL && W->kind != SGD_NOISE_CUBE && W->kind != SGD_NOISE_GAUSS)
        return sgd_error(SGD_EUNSUPPORTED, "quadrature smoothing needs ball, cube or gauss noise");
    if (!w->outer)
        return sgd_error(SGD_EINVAL, "smoothing workspace was allocated for another dimension");
    quad_ctx q;
    memset(&q, 0, sizeof q);
    q.f = f;
    q.kind = W->kind;
    q.eta = eta;
    q.r = W->r;
    q.y = y;
    q.w = w;
    q.epsabs = p->epsabs;
    q.epsrel = p->epsrel;
    q.sig = p->gauss_sigmas > 0 ? p->gauss_sigmas : 0;
    size_t ncomp = out->grad ? d + 1 : 1;
    int first = 0;
    for (size_t c = 0; c < ncomp; c++) {
        q.comp = c;
        q.inner_err_max = 0;
        q.status = 0;
        double res = 0, err = 0;
        /* 1-D: one integral; 2-D: the outer variable, each value an inner integral */
        gsl_function F = {d == 1 ? quad_1d : quad_outer, &q};
        double lim = W->kind == SGD_NOISE_GAUSS ? q.sig : 1.0;
        int st = quad_run(&F, -lim, lim, &q, w->outer, &res, &err);
        if (d == 2) err += q.inner_err_max; /* the inner errors integrate against a weight of mass <= 1 */
        if (!st) st = q.status;
        if (st && !first) first = st;
        if (!isfinite(res))
            return sgd_error(SGD_EDIVERGED, "quadrature smoothing: non-finite integral (%s)", gsl_strerror(st));
        if (W->kind == SGD_NOISE_GAUSS && q.sig > 0) {
            /* mass beyond sig sigmas is left out; it bounds the relative error */
            double tail = 2.0 * gsl_cdf_ugaussian_Q(q.sig) * (double)d;
            err += tail * fabs(res);
        }
        if (c == 0) {
            out->g = res;
            out->g_err = err;
        } else {
            out->grad[c - 1] = res;
            if (out->grad_err) out->grad_err[c - 1] = err;
        }
    }
    out->quad_status = first;
    out->method = SGD_SMOOTH_QUAD;
    out->n = 0;
    return SGD_OK;
}

/* ---------------------------------------------------------------------- */

static int smooth_exact(const sgd_landscape *f, const sgd_noise *W, double eta, const double *y,
                        sgd_smooth_workspace *w, sgd_smooth_value *out)
{
    if (!f->smooth)
        return sgd_error(SGD_EUNSUPPORTED, "landscape '%s' has no closed-form smoothing", f->name);
    double g = NAN;
    int rc = f->smooth(f, W, eta, y, &g, w->grad);
    if (rc == SGD_EUNSUPPORTED)
        return sgd_error(SGD_EUNSUPPORTED, "landscape '%s' has no closed-form smoothing for %s noise", f->name,
                         sgd_noise_name(W->kind));
    if (rc) return rc;
    out->g = g;
    out->g_err = 0;
    if (out->grad) {
        memcpy(out->grad, w->grad, f->d * sizeof(double));
        if (out->grad_err) memset(out->grad_err, 0, f->d * sizeof(double));
    }
    out->method = SGD_SMOOTH_EXACT;
    out->n = 0;
    return SGD_OK;
}

int sgd_smooth_eval(const sgd_landscape *f, const sgd_noise *W, double eta, const double *y,
                    const sgd_smooth_params *p, sgd_smooth_workspace *w, sgd_smooth_value *out)
{
    if (!f || !W || !y || !p || !w || !out) return sgd_error(SGD_EINVAL, "smoothing: NULL argument");
    size_t d = f->d;
    if (w->d != d)
        return sgd_error(SGD_EINVAL, "smoothing workspace has d = %zu, landscape has d = %zu", w->d, d);
    if (!(eta >= 0) || !isfinite(eta)) return sgd_error(SGD_EINVAL, "smoothing: eta must be finite and >= 0");
    if (W->kind != SGD_NOISE_DATA && W->kind != SGD_NOISE_NONE && (!(W->r >= 0) || !isfinite(W->r)))
        return sgd_error(SGD_EINVAL, "smoothing: noise radius r must be finite and >= 0");
    if (!(p->confidence > 0 && p->confidence < 1))
        return sgd_error(SGD_EINVAL, "smoothing: confidence must be in (0, 1)");
    if (p->method == SGD_SMOOTH_MC && p->nsamples == 0 && !(p->tol > 0))
        return sgd_error(SGD_EINVAL, "smoothing: give a sample count or a tolerance tol > 0");
    for (size_t i = 0; i < d; i++)
        if (!isfinite(y[i])) return sgd_error(SGD_EINVAL, "smoothing: y[%zu] is not finite", i);
    out->n = 0;
    out->range_from_sample = 0;
    out->quad_status = 0;
    /* No noise (or eta = 0): g = f exactly. */
    if (W->kind == SGD_NOISE_NONE || (W->kind != SGD_NOISE_DATA && (W->r == 0 || eta == 0))) {
        out->g = f->fg(f, y, out->grad ? w->grad : NULL);
        out->g_err = 0;
        if (out->grad) {
            memcpy(out->grad, w->grad, d * sizeof(double));
            if (out->grad_err) memset(out->grad_err, 0, d * sizeof(double));
        }
        out->method = SGD_SMOOTH_EXACT;
        return isfinite(out->g) ? SGD_OK : sgd_error(SGD_EDIVERGED, "smoothing: f(y) is not finite");
    }
    switch (p->method) {
    case SGD_SMOOTH_EXACT: return smooth_exact(f, W, eta, y, w, out);
    case SGD_SMOOTH_QUAD: return smooth_quad(f, W, eta, y, p, w, out);
    case SGD_SMOOTH_MC: return smooth_mc(f, W, eta, y, p, out);
    default: break;
    }
    if (f->smooth) {
        int rc = smooth_exact(f, W, eta, y, w, out);
        if (rc != SGD_EUNSUPPORTED) return rc;
        sgd_error_clear();
    }
    if (d <= 2 && W->kind != SGD_NOISE_DATA) return smooth_quad(f, W, eta, y, p, w, out);
    if (p->nsamples == 0 && !(p->tol > 0))
        return sgd_error(SGD_EINVAL, "smoothing: give a sample count or a tolerance tol > 0");
    return smooth_mc(f, W, eta, y, p, out);
}
