/* Monte Carlo smoothing for every noise model: samples in fixed chunks run
 * in parallel and merged in chunk order (the same bits for any thread
 * count), CLT or Hoeffding intervals, and the sample count --tol asks for.
 * Separable f under cube noise takes the tile layouts of smooth_cube.c. */
#include "smooth/smooth_internal.h"
#include "landscape/landscape_internal.h"

#include "sgdscape/error.h"
#include "sgdscape/rng.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

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


/* Chunks are fixed by (n, d): never by the thread count, nor the rank count. */
size_t smooth_mc_nchunks(size_t n, size_t d)
{
    /* at least ~64K coordinate evaluations per chunk, at most one chunk per sample, at most 64 */
    double work = (double)n * (double)d / 65536.0;
    size_t k = work < 1 ? 1 : work > 64 ? 64 : (size_t)work;
    if (k > n) k = n;
    if (k < 1) k = 1;
    return k;
}

/* samples handled together: enough to fill vector lanes when d is small */
static size_t mc_block(size_t d)
{
    size_t S = 8192 / d;
    if (S < 1) S = 1;
    if (S > 256) S = 256;
    return S;
}

int smooth_chunk_alloc(mc_chunk *c, size_t d, int want_grad, int want_range)
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

void smooth_chunk_free(mc_chunk *c)
{
    free(c->mean);
    free(c->m2);
    free(c->lo);
    free(c->hi);
}

void smooth_chunk_reset(mc_chunk *c)
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

/* 0 if every gradient mean is finite */
int smooth_chunk_grad_finite(const mc_chunk *c)
{
    if (!c->mean) return 0;
    for (size_t i = 0; i < c->d; i++)
        if (!isfinite(c->mean[i])) return -1;
    return 0;
}

/* Fold a finished chunk into the totals (called in chunk order): Chan's
 * formulas, as stat_merge, for every gradient coordinate at once. */
void smooth_chunk_merge(mc_acc *res, const mc_chunk *c, int want_val)
{
    const mc_vstat *v = &c->v;
    const double vs = (v->s[0] + v->s[1]) + (v->s[2] + v->s[3]), vs2 = (v->s2[0] + v->s2[1]) + (v->s2[2] + v->s2[3]);
    double mean = v->cnt > 0 ? vs / v->cnt : 0, m2 = vs2 - vs * mean;
    mc_stat s = {want_val ? v->cnt : 0, v->k + mean, m2 > 0 ? m2 : 0, v->lo, v->hi};
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

static int mc_run_chunks(const mc_job *J, mc_acc *res, size_t *badp);

static int mc_run(const sgd_landscape *f, const sgd_noise *W, double eta, const double *y,
                  const sgd_smooth_params *p, size_t n, uint64_t step0, mc_acc *res)
{
    size_t d = f->d, h = (d + 3) / 4;
    mc_job J = {f, W, eta, y, p, n, d, step0, 0, res->want_grad, res->want_range, 0, 0};
    J.want_val = !(p->grad_only && res->want_grad);
    /* d = 1 goes through sgd_noise_sample_domain: there one Philox block serves four samples;
     * so does r < 2^-990, where r 2^-31 is subnormal and sgd_sym32_scaled would round differently */
    J.cube = W->kind == SGD_NOISE_CUBE && d >= 2 && W->scale >= 0x1.0p-990;
    J.sep = J.cube && f->fast && f->fast->phi_batch;
    int status = SGD_OK;
    size_t bad = 0;
    stat_init(&res->g);
    res->gn = 0;
    if (J.sep && h > SGD_SMOOTH_TILE)
        status = smooth_mc_run_sep_big(&J, res, &bad);
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
    R->ok = !smooth_chunk_alloc(&R->c, d, want_grad, R->J->want_range);
    if (R->J->sep) {
        R->ok = R->ok && !smooth_sep_tile_alloc(&R->T);
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
    smooth_chunk_free(&R->c);
    smooth_sep_tile_free(&R->T);
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
    smooth_chunk_reset(c);
    if (J->sep) {
        size_t e = (d + 3) / 4 < SGD_SMOOTH_COLS ? smooth_sep_cols_chunk(J, a, b, &R->T, c)
                                                 : smooth_sep_rows_chunk(J, a, b, &R->T, c);
        if (e) {
            *where = e - 1;
            return SGD_EDIVERGED;
        }
    } else
        for (size_t j = a; j < b; j += S) {
            size_t m = b - j < S ? b - j : S;
            if (J->cube)
                smooth_cube_x_block(J->W->scale, J->eta, J->y, d, p->seed, p->stream, J->step0 + j, m, R->words, R->x);
            else
                for (size_t s = 0; s < m; s++) {
                    double *xs = R->x + s * d;
                    sgd_noise_sample_domain(J->W, d, p->seed, SGD_RNG_SMOOTH, p->stream, J->step0 + j + s, R->omega);
                    for (size_t i = 0; i < d; i++) xs[i] = J->y[i] - J->eta * R->omega[i];
                }
            if (J->want_val && R->gr)
                f->fg_batch(f, m, R->x, R->vals, R->gr);
            else if (J->want_val)
                f->value_batch(f, m, R->x, R->vals);
            else
                f->grad_batch(f, m, R->x, R->gr);
            size_t e = chunk_add(c, J->want_val, R->vals, R->gr, m);
            if (e) {
                *where = j + e - 1;
                return SGD_EDIVERGED;
            }
        }
    if (smooth_chunk_grad_finite(c)) {
        *where = a;
        return SGD_EDIVERGED;
    }
    return SGD_OK;
}

/* Chunks of samples in parallel, merged in chunk order: every noise model
 * and landscape; separable f under cube noise goes tile by tile. */
static int mc_run_chunks(const mc_job *J, mc_acc *res, size_t *badp)
{
    if (smooth_mc_split) return smooth_mc_run_chunks_dist(J, res, badp);
    const size_t n = J->n, d = J->d, K = smooth_mc_nchunks(n, d);
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
                        smooth_chunk_merge(res, &R.c, J->want_val);
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
        smooth_chunk_merge(res, &ck, J->want_val);
    }
    free(rec);
    *badp = bad;
    return status;
}

int smooth_mc_chunks_local(const mc_job *J, size_t K, size_t ka, size_t kb, mc_chunk_rec *rec, double *vec, size_t nv)
{
    const size_t d = J->d;
    chunk_run shared;
    memset(&shared, 0, sizeof shared);
    shared.J = J;
    shared.K = K;
    shared.S = mc_block(d);
    #pragma omp parallel if (!omp_in_parallel() && kb - ka > 1)
    {
        chunk_run R;
        chunk_run_alloc(&R, &shared);
        #pragma omp for schedule(dynamic, 1)
        for (size_t k = ka; k < kb; k++) {
            mc_chunk_rec *q = &rec[k - ka];
            q->where = 0;
            q->st = chunk_run_one(&R, k, &q->where);
            q->v = R.c.v;
            double *o = vec ? vec + (k - ka) * nv * d : NULL;
            for (size_t t = 0; o && !q->st && t < nv; t++)
                memcpy(o + t * d, (t == 0 ? R.c.mean : t == 1 ? R.c.m2 : t == 2 ? R.c.lo : R.c.hi), d * sizeof(double));
        }
        chunk_run_free(&R);
    }
    return SGD_OK;
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
    int rc = smooth_chunk_alloc(&res.gr, f->d, res.want_grad, res.want_range)
                 ? sgd_error(SGD_ENOMEM, "Monte Carlo smoothing: out of memory")
                 : mc_plan(f, W, eta, y, p, sgd_smooth_z(p->confidence), &res, need);
    smooth_chunk_free(&res.gr);
    return rc;
}

int smooth_mc(const sgd_landscape *f, const sgd_noise *W, double eta, const double *y,
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
    if (smooth_chunk_alloc(&res.gr, d, res.want_grad, res.want_range)) {
        smooth_chunk_free(&res.gr);
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
    smooth_chunk_free(&res.gr);
    return rc;
}
