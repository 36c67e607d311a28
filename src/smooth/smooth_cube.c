/* Monte Carlo layouts for uniform cube noise: the draw of
 * sgd_rng_symmetric_fill many blocks at a time, and for separable f the
 * tile roads that never build a whole sample. The samples and their bits
 * are those of sgd_noise_sample_domain. */
#include "smooth/smooth_internal.h"
#include "landscape/landscape_internal.h"

#include "sgdscape/error.h"
#include "sgdscape/rng.h"
#include "core/rng_internal.h"
#include "core/isa.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

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

void SGD_KERN(smooth_cube_x_block)(double r, double eta, const double *y, size_t d, uint64_t seed, uint64_t stream,
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

/* ---- separable f under cube noise ---------------------------------------
 * For f = sum_i phi(x_i) (f->fast->phi_batch) a sample never has to exist as a
 * whole: a tile of Philox blocks gives four runs of coordinates, whose phi
 * and phi' are evaluated while in cache and folded into the statistics at
 * once. The samples and their bits are those of the general path; only the
 * order of the sum over coordinates differs. */

/* The scratch and the entry points (which run the variant chosen at
 * start-up) once, in the baseline variant's object; the kernels in every
 * variant (src/core/isa.h). */
#ifdef SGD_ISA_PRIMARY
int smooth_sep_tile_alloc(sep_tile *t)
{
    uint32_t *w = malloc(4 * SGD_SMOOTH_TILE * sizeof(uint32_t));
    for (int i = 0; i < 4; i++) t->w[i] = w ? w + i * SGD_SMOOTH_TILE : NULL;
    t->x = malloc(4 * SGD_SMOOTH_TILE * sizeof(double));
    t->ph = malloc(4 * SGD_SMOOTH_TILE * sizeof(double));
    t->dph = malloc(4 * SGD_SMOOTH_TILE * sizeof(double));
    t->yb = malloc(4 * SGD_SMOOTH_TILE * sizeof(double));
    return w && t->x && t->ph && t->dph && t->yb ? 0 : -1;
}

void smooth_sep_tile_free(sep_tile *t)
{
    free(t->w[0]);
    free(t->x);
    free(t->ph);
    free(t->dph);
    free(t->yb);
}

void smooth_cube_x_block(double r, double eta, const double *y, size_t d, uint64_t seed, uint64_t stream,
                         uint64_t step0, size_t m, uint32_t *words, double *x)
{
    sgd_kern()->smooth_cube_x_block(r, eta, y, d, seed, stream, step0, m, words, x);
}
size_t smooth_sep_cols_chunk(const mc_job *J, size_t a, size_t b, sep_tile *T, mc_chunk *c)
{
    return sgd_kern()->smooth_sep_cols_chunk(J, a, b, T, c);
}
size_t smooth_sep_rows_chunk(const mc_job *J, size_t a, size_t b, sep_tile *T, mc_chunk *c)
{
    return sgd_kern()->smooth_sep_rows_chunk(J, a, b, T, c);
}
int smooth_mc_run_sep_big(const mc_job *J, mc_acc *res, size_t *bad)
{
    return sgd_kern()->smooth_mc_run_sep_big(J, res, bad);
}
#endif

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
    if (ph || dph) f->fast->phi_batch(f, 4 * nl, T->x, ph ? T->ph : NULL, dph ? T->dph : NULL);
}

/* Samples a .. b-1 into c, a tile of columns at a time. Returns the first
 * non-finite sample + 1, or 0. */
size_t SGD_KERN(smooth_sep_cols_chunk)(const mc_job *J, size_t a, size_t b, sep_tile *T, mc_chunk *c)
{
    const size_t d = J->d, h = (d + 3) / 4, spt = SGD_SMOOTH_TILE / h;
    const double r2 = J->W->scale * 0x1.0p-31, eta = J->eta;
    double *vals = T->yb;
    size_t off[4 * SGD_SMOOTH_COLS], ns_off = 0, valid[4]; /* valid[t]: blocks q with t h + q < d */
    for (size_t t = 0; t < 4; t++) valid[t] = run_len(d, t * h, h);
    const int draw = J->want_val && !J->want_grad && J->f->fast->phi_cube_acc;
    for (size_t j = a; j < b; j += spt) {
        const size_t ns = b - j < spt ? b - j : spt, nl = ns * h;
        cube_words_cols(J->p->seed, J->p->stream, J->step0 + j, h, ns, T->w);
        if (draw) {
            /* values alone, the draw fused in: each coordinate's column added
             * to the samples' sums in order 0 .. d-1 (from -0, so the bits are
             * those of the sum below) */
            for (size_t s = 0; s < ns; s++) vals[s] = -0.0;
            for (size_t i = 0; i < d; i++)
                J->f->fast->phi_cube_acc(J->f, ns, J->y[i], eta, r2, T->w[i / h] + (i % h) * ns, vals);
        } else {
            for (size_t t = 0; t < 4; t++) {
                for (size_t q = 0; q < valid[t]; q++) {
                    const double yi = J->y[t * h + q];
                    const uint32_t *wq = T->w[t] + q * ns;
                    double *xq = T->x + t * nl + q * ns;
                    for (size_t s = 0; s < ns; s++) xq[s] = yi - eta * sgd_sym32_scaled(wq[s], r2);
                }
                if (valid[t])
                    J->f->fast->phi_batch(J->f, valid[t] * ns, T->x + t * nl, J->want_val ? T->ph + t * nl : NULL,
                                    J->want_grad ? T->dph + t * nl : NULL);
            }
            /* where coordinate i's column starts: row t = i / h, block q = i % h */
            if (ns != ns_off) {
                for (size_t i = 0; i < d; i++) off[i] = (i / h) * nl + (i % h) * ns;
                ns_off = ns;
            }
            /* the values: coordinates in order 0 .. d-1, eight samples at a time in registers */
            size_t s0 = 0;
            for (; J->want_val && s0 + 8 <= ns; s0 += 8) {
                double acc[8];
                for (int e = 0; e < 8; e++) acc[e] = T->ph[s0 + e];
                for (size_t i = 1; i < d; i++) {
                    const double *pi = T->ph + off[i] + s0;
                    for (int e = 0; e < 8; e++) acc[e] += pi[e];
                }
                for (int e = 0; e < 8; e++) vals[s0 + e] = acc[e];
            }
            for (; J->want_val && s0 < ns; s0++) {
                double v = T->ph[s0];
                for (size_t i = 1; i < d; i++) v += T->ph[off[i] + s0];
                vals[s0] = v;
            }
        }
        if (J->want_grad) /* the gradient rows of the samples, into x (free once phi' is known) */
            for (size_t s = 0; s < ns; s++)
                for (size_t i = 0; i < d; i++) T->x[s * d + i] = T->dph[off[i] + s];
        size_t e = chunk_add(c, J->want_val, vals, J->want_grad ? T->x : NULL, ns);
        if (e) return j + e;
    }
    return 0;
}

/* SGD_SMOOTH_COLS <= h <= one tile: a tile of whole samples, sample s's
 * words in coordinate order at W + 4 h s (cube_words_sample) and its points
 * at x + d s, so that one call covers a sample. Samples a .. b-1 into c.
 * Returns the first non-finite sample + 1, or 0. */
size_t SGD_KERN(smooth_sep_rows_chunk)(const mc_job *J, size_t a, size_t b, sep_tile *T, mc_chunk *c)
{
    const sgd_landscape *f = J->f;
    const size_t d = J->d, h = (d + 3) / 4, spt = SGD_SMOOTH_TILE / h;
    const double r2 = J->W->scale * 0x1.0p-31, eta = J->eta;
    uint32_t *W = T->w[0]; /* the four rows are one array of 4 SGD_SMOOTH_TILE words */
    double *vals = T->yb;
    /* values alone: phi summed as it is computed (phi_sum), with the draw
     * fused in where f has phi_cube_sum (no points stored) */
    const int fused = J->want_val && !J->want_grad, draw = fused && f->fast->phi_cube_sum;
    for (size_t j = a; j < b; j += spt) {
        const size_t ns = b - j < spt ? b - j : spt;
        if (draw)
            for (size_t s = 0; s < ns; s++) cube_words_sample(J->p->seed, J->p->stream, J->step0 + j + s, h, W + 4 * h * s);
        else {
            SGD_KERN(smooth_cube_x_block)(J->W->scale, eta, J->y, d, J->p->seed, J->p->stream, J->step0 + j, ns, W, T->x);
            if (!fused)
                f->fast->phi_batch(f, ns * d, T->x, J->want_val ? T->ph : NULL, J->want_grad ? T->dph : NULL);
        }
        for (size_t s = 0; J->want_val && s < ns; s++)
            vals[s] = draw    ? f->fast->phi_cube_sum(f, d, J->y, eta, r2, W + 4 * h * s)
                      : fused ? f->fast->phi_sum(f, d, T->x + d * s)
                              : sum16(T->ph + d * s, d);
        size_t e = chunk_add(c, J->want_val, vals, J->want_grad ? T->dph : NULL, ns);
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
    const int draw = J->want_val && !J->want_grad && J->f->fast->phi_cube_sum;
    const double r2 = J->W->scale * 0x1.0p-31;
    for (size_t s = 0; s < ns; s++) {
        cube_words_run(J->p->seed, J->p->stream, J->step0 + j0 + s, q0, nb, T->w);
        if (!draw) sep_eval(J->f, J->W->scale, J->eta, ypat, stride, nb, T, J->want_val && J->want_grad, J->want_grad);
        if (J->want_val) {
            double v = 0;
            for (size_t t = 0; t < 4 && len[t]; t++) /* runs past d are empty, and only the last ones */
                v += J->want_grad ? sum16(T->ph + t * nb, len[t])
                     : draw       ? J->f->fast->phi_cube_sum(J->f, len[t], J->y + t * h + q0, J->eta, r2, T->w[t])
                                  : J->f->fast->phi_sum(J->f, len[t], T->x + t * nb);
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
int SGD_KERN(smooth_mc_run_sep_big)(const mc_job *J, mc_acc *res, size_t *bad)
{
    const size_t d = J->d, h = (d + 3) / 4, ntile = (h + SGD_SMOOTH_BIG_TILE - 1) / SGD_SMOOTH_BIG_TILE;
    const size_t SB = 64; /* samples per batch */
    double *part = malloc(SB * ntile * sizeof(double));
    mc_chunk c;
    int status = smooth_chunk_alloc(&c, d, J->want_grad, J->want_range) || !part ? SGD_ENOMEM : SGD_OK;
    if (!status) {
        smooth_chunk_reset(&c);
    }
    int par = !omp_in_parallel();
    /* one tile scratch per thread for the whole call (not per batch) */
    int nth = par ? omp_get_max_threads() : 1;
    sep_tile *tiles = calloc((size_t)nth, sizeof *tiles);
    if (!tiles) status = SGD_ENOMEM;
    for (int t = 0; t < nth && !status; t++)
        if (smooth_sep_tile_alloc(&tiles[t])) status = SGD_ENOMEM;
    for (size_t j0 = 0; j0 < J->n && !status; j0 += SB) {
        size_t ns = J->n - j0 < SB ? J->n - j0 : SB;
#pragma omp parallel for schedule(dynamic, 4) if (par) num_threads(nth)
        for (size_t ti = 0; ti < ntile; ti++) sep_big_tile(J, ti, ntile, j0, ns, &tiles[omp_get_thread_num()], &c, part);
        if (!J->want_val)
            c.v.cnt += (double)ns;
        for (size_t s = 0; s < ns && J->want_val && !status; s++) {
            double v = sum16(part + s * ntile, ntile);
            if (vstat_add(&c.v, &v, 1)) {
                status = SGD_EDIVERGED;
                *bad = j0 + s;
            }
        }
    }
    if (!status && smooth_chunk_grad_finite(&c)) {
        status = SGD_EDIVERGED;
        *bad = 0;
    }
    if (!status) smooth_chunk_merge(res, &c, J->want_val);
    for (int t = 0; tiles && t < nth; t++) smooth_sep_tile_free(&tiles[t]);
    free(tiles);
    smooth_chunk_free(&c);
    free(part);
    return status;
}
