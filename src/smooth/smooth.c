/* g(y) = E f(y - eta*omega) and its gradient: closed form, GSL quadrature
 * (d <= 2) or Monte Carlo with CLT / Hoeffding intervals. */
#include "sgdscape/smooth.h"
#include "core/fastmath.h"

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

typedef struct {
    size_t d;
    int want_grad, want_range;
    mc_stat g;
    mc_stat *grad;  /* d entries when want_grad */
} mc_acc;

/* Chunks are fixed by (n, d, want_grad): never by the thread count. */
static size_t mc_nchunks(size_t n, size_t d, int want_grad)
{
    (void)want_grad;
    /* at least ~64K coordinate evaluations per chunk, at most one chunk per sample, at most 64 */
    double work = (double)n * (double)d / 65536.0;
    size_t k = work < 1 ? 1 : work > 64 ? 64 : (size_t)work;
    if (k > n) k = n;
    if (k < 1) k = 1;
    return k;
}

/* Philox4x32-10 over many counters at once (the shared kernel in
 * core/fastmath.h), in place; the loop vectorises across lanes. */
static void philox_lanes(uint64_t seed, size_t n, uint32_t *restrict c0, uint32_t *restrict c1,
                         uint32_t *restrict c2, uint32_t *restrict c3)
{
    const uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
#pragma omp simd
    for (size_t i = 0; i < n; i++) sgd_philox4x32_s(c0[i], c1[i], c2[i], c3[i], k0, k1, &c0[i], &c1[i], &c2[i], &c3[i]);
}

/* Counters generated per pass: small enough to stay in cache. */
#define SGD_SMOOTH_TILE 1024

/* Counters q0 .. q0+nq-1 of sample `step`, each giving coordinates 2q, 2q+1. */
static void cube_tile(double r, double eta, const double *y, size_t d, uint64_t seed, uint64_t stream,
                      uint64_t step, size_t q0, size_t nq, uint32_t *lanes, double *xs)
{
    uint32_t *c0 = lanes, *c1 = lanes + nq, *c2 = lanes + 2 * nq, *c3 = lanes + 3 * nq;
    double *e = (double *)(void *)(lanes + 4 * nq), *o = e + nq;
    uint32_t b1 = (uint32_t)step, b2 = (uint32_t)stream;
    uint32_t b3 = ((uint32_t)SGD_RNG_SMOOTH << 16) | (uint32_t)((step >> 32) & 0xff) << 8 |
                  (uint32_t)((stream >> 32) & 0xff);
    for (size_t k = 0; k < nq; k++) {
        c0[k] = (uint32_t)(q0 + k);
        c1[k] = b1;
        c2[k] = b2;
        c3[k] = b3;
    }
    philox_lanes(seed, nq, c0, c1, c2, c3);
    /* omega = r (2u - 1), u as sgd_u01 computes it */
    for (size_t k = 0; k < nq; k++) {
        double u0 = sgd_u01(c0[k], c1[k]);
        double u1 = sgd_u01(c2[k], c3[k]);
        e[k] = r * (2.0 * u0 - 1.0);
        o[k] = r * (2.0 * u1 - 1.0);
    }
    size_t full = 2 * (q0 + nq) <= d ? nq : nq - 1;
    for (size_t k = 0; k < full; k++) {
        size_t i = 2 * (q0 + k);
        xs[i] = y[i] - eta * e[k];
        xs[i + 1] = y[i + 1] - eta * o[k];
    }
    if (full < nq) xs[d - 1] = y[d - 1] - eta * e[nq - 1];
}

/* x = y - eta omega for samples step0 .. step0+m-1 of uniform cube noise (d >= 2),
 * omega exactly as sgd_noise_sample_domain draws it. */
static void cube_x_block(double r, double eta, const double *y, size_t d, uint64_t seed, uint64_t stream,
                         uint64_t step0, size_t m, uint32_t *lanes, double *x)
{
    size_t h = (d + 1) / 2;
    for (size_t s = 0; s < m; s++)
        for (size_t q0 = 0; q0 < h; q0 += SGD_SMOOTH_TILE) {
            size_t nq = h - q0 < SGD_SMOOTH_TILE ? h - q0 : SGD_SMOOTH_TILE;
            cube_tile(r, eta, y, d, seed, stream, step0 + s, q0, nq, lanes, x + s * d);
        }
}

/* samples handled together: enough to fill vector lanes when d is small */
static size_t mc_block(size_t d)
{
    size_t S = 8192 / d;
    if (S < 1) S = 1;
    if (S > 256) S = 256;
    return S;
}

static int mc_run(const sgd_landscape *f, const sgd_noise *W, double eta, const double *y,
                  const sgd_smooth_params *p, size_t n, uint64_t step0, mc_acc *res)
{
    size_t d = f->d, K = mc_nchunks(n, d, res->want_grad), S = mc_block(d);
    /* d = 1 goes through sgd_noise_sample_domain: there one Philox block serves two steps */
    int fast = W->kind == SGD_NOISE_CUBE && d >= 2;
    int want_g = !(p->grad_only && res->want_grad);
    int status = SGD_OK;
    size_t bad = 0;
    stat_init(&res->g);
    if (res->want_grad)
        for (size_t i = 0; i < d; i++) stat_init(&res->grad[i]);
    int par = !omp_in_parallel() && K > 1;
    /* Each chunk is reduced in its thread's scratch, then merged into res in chunk order
     * (an ordered region): the same bits for any thread count, no per-chunk storage. */
    #pragma omp parallel if (par)
    {
        double *omega = malloc(d * sizeof(double));
        double *x = malloc(S * d * sizeof(double));
        double *vals = malloc(S * sizeof(double));
        /* one tile: 4 words and 2 doubles per counter */
        uint32_t *lanes = fast ? malloc(SGD_SMOOTH_TILE * (4 * sizeof(uint32_t) + 2 * sizeof(double))) : NULL;
        double *gr = res->want_grad ? malloc(S * d * sizeof(double)) : NULL;
        double *mean = res->want_grad ? malloc(d * sizeof(double)) : NULL;
        double *m2 = res->want_grad ? malloc(d * sizeof(double)) : NULL;
        double *lo = res->want_grad && res->want_range ? malloc(d * sizeof(double)) : NULL;
        double *hi = res->want_grad && res->want_range ? malloc(d * sizeof(double)) : NULL;
        int scratch_ok = omega && x && vals && (!fast || lanes) && (!res->want_grad || (gr && mean && m2)) &&
                         (!(res->want_grad && res->want_range) || (lo && hi));
        #pragma omp for schedule(dynamic, 1) ordered
        for (size_t k = 0; k < K; k++) {
            size_t a = n * k / K, b = n * (k + 1) / K;
            int st = scratch_ok ? SGD_OK : SGD_ENOMEM;
            size_t where = 0;
            double cnt = 0, gm = 0, gm2 = 0, glo = INFINITY, ghi = -INFINITY;
            if (!st && mean) {
                memset(mean, 0, d * sizeof(double));
                memset(m2, 0, d * sizeof(double));
            }
            if (!st && lo)
                for (size_t i = 0; i < d; i++) {
                    lo[i] = INFINITY;
                    hi[i] = -INFINITY;
                }
            for (size_t j = a; j < b && !st; j += S) {
                size_t m = b - j < S ? b - j : S;
                if (fast)
                    cube_x_block(W->r, eta, y, d, p->seed, p->stream, step0 + j, m, lanes, x);
                else
                    for (size_t s = 0; s < m; s++) {
                        double *xs = x + s * d;
                        sgd_noise_sample_domain(W, d, p->seed, SGD_RNG_SMOOTH, p->stream, step0 + j + s, omega);
                        for (size_t i = 0; i < d; i++) xs[i] = y[i] - eta * omega[i];
                    }
                if (want_g && gr)
                    for (size_t s = 0; s < m; s++) vals[s] = f->fg(f, x + s * d, gr + s * d);
                else if (want_g)
                    f->value_batch(f, m, x, vals);
                else
                    f->grad_batch(f, m, x, gr);
                for (size_t s = 0; s < m; s++) {
                    cnt += 1.0;
                    double inv = 1.0 / cnt;
                    if (want_g) {
                        double v = vals[s];
                        if (!isfinite(v)) {
                            st = SGD_EDIVERGED;
                            where = j + s;
                            break;
                        }
                        double delta = v - gm;
                        gm += delta * inv;
                        gm2 += delta * (v - gm);
                        if (v < glo) glo = v;
                        if (v > ghi) ghi = v;
                    }
                    if (gr) {
                        const double *gs = gr + s * d;
                        for (size_t i = 0; i < d; i++) {
                            double u = gs[i], du = u - mean[i];
                            mean[i] += du * inv;
                            m2[i] += du * (u - mean[i]);
                        }
                        if (lo)
                            for (size_t i = 0; i < d; i++) {
                                if (gs[i] < lo[i]) lo[i] = gs[i];
                                if (gs[i] > hi[i]) hi[i] = gs[i];
                            }
                    }
                }
            }
            if (!st && gr)
                for (size_t i = 0; i < d; i++)
                    if (!isfinite(mean[i])) {
                        st = SGD_EDIVERGED;
                        where = a;
                        break;
                    }
            #pragma omp ordered
            {
                if (st) {
                    if (!status) {
                        status = st;
                        bad = where;
                    }
                } else if (!status) {
                    mc_stat c = {want_g ? cnt : 0, gm, gm2, glo, ghi};
                    stat_merge(&res->g, &c);
                    if (gr)
                        for (size_t i = 0; i < d; i++) {
                            mc_stat ci = {cnt, mean[i], m2[i], lo ? lo[i] : NAN, hi ? hi[i] : NAN};
                            stat_merge(&res->grad[i], &ci);
                        }
                }
            }
        }
        free(omega);
        free(x);
        free(vals);
        free(lanes);
        free(gr);
        free(mean);
        free(m2);
        free(lo);
        free(hi);
    }
    if (status == SGD_ENOMEM) return sgd_error(SGD_ENOMEM, "Monte Carlo smoothing: out of memory");
    if (status == SGD_EDIVERGED)
        return sgd_error(SGD_EDIVERGED, "Monte Carlo smoothing: f or grad f is not finite at y - eta*omega (near sample %zu)",
                         bad);
    return status;
}

/* Half-width of the interval for one component. */
static double mc_halfwidth(const sgd_smooth_params *p, const mc_stat *s, double known_range,
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
    return sgd_smooth_z(p->confidence) * sqrt(var / s->n);
}

/* Samples needed for half-width tol on one component, from a pilot. */
static double mc_needed(const sgd_smooth_params *p, const mc_stat *s, double known_range)
{
    if (p->interval == SGD_SMOOTH_CI_HOEFFDING) {
        double R = known_range >= 0 ? known_range : (s->hi - s->lo) * p->range_widen;
        return (double)sgd_smooth_hoeffding_n(R, p->tol, p->confidence);
    }
    double var = s->n > 1 ? s->m2 / (s->n - 1.0) : 0;
    double z = sgd_smooth_z(p->confidence);
    return ceil(z * z * var / (p->tol * p->tol));
}

static int smooth_mc(const sgd_landscape *f, const sgd_noise *W, double eta, const double *y,
                     const sgd_smooth_params *p, sgd_smooth_value *out)
{
    size_t d = f->d;
    if (W->kind == SGD_NOISE_DATA)
        return sgd_error(SGD_EUNSUPPORTED,
                         "Monte Carlo smoothing needs a noise model it can sample (ball, cube, gauss), not data noise");
    mc_acc res;
    memset(&res, 0, sizeof res);
    res.d = d;
    res.want_grad = out->grad != NULL;
    res.want_range = p->interval == SGD_SMOOTH_CI_HOEFFDING;
    if (res.want_grad) {
        res.grad = malloc(d * sizeof(mc_stat));
        if (!res.grad) return sgd_error(SGD_ENOMEM, "Monte Carlo smoothing: out of memory");
    }
    size_t n = p->nsamples;
    int rc = SGD_OK;
    if (n == 0) {
        /* A requested accuracy: a pilot run (on its own samples) sets n. */
        int known = p->interval == SGD_SMOOTH_CI_HOEFFDING && p->range >= 0 &&
                    (!res.want_grad || p->grad_range >= 0);
        double need = 2;
        if (known) {
            need = (double)sgd_smooth_hoeffding_n(p->range, p->tol, p->confidence);
            if (res.want_grad) {
                double ng = (double)sgd_smooth_hoeffding_n(p->grad_range, p->tol, p->confidence);
                if (ng > need) need = ng;
            }
        } else {
            size_t n0 = p->pilot >= 2 ? p->pilot : 2;
            rc = mc_run(f, W, eta, y, p, n0, (uint64_t)1 << 40, &res);
            if (rc) goto done;
            need = p->grad_only && res.want_grad ? 2 : mc_needed(p, &res.g, p->range);
            if (res.want_grad)
                for (size_t i = 0; i < d; i++) {
                    double ni = mc_needed(p, &res.grad[i], p->grad_range);
                    if (ni > need) need = ni;
                }
        }
        if (need < 2) need = 2;
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
        out->g_err = mc_halfwidth(p, &res.g, p->range, &out->range_from_sample);
    }
    if (res.want_grad)
        for (size_t i = 0; i < d; i++) {
            out->grad[i] = res.grad[i].mean;
            double e = mc_halfwidth(p, &res.grad[i], p->grad_range, &out->range_from_sample);
            if (out->grad_err) out->grad_err[i] = e;
        }
done:
    free(res.grad);
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

static double quad_h(quad_ctx *q, const double *t)
{
    size_t d = q->f->d;
    for (size_t i = 0; i < d; i++) q->w->x[i] = q->y[i] - q->eta * q->r * t[i];
    double v = q->f->fg(q->f, q->w->x, q->comp ? q->w->grad : NULL);
    return q->comp ? q->w->grad[q->comp - 1] : v;
}

/* 1-D integrand: weight times h. */
static double quad_1d(double t, void *ctx)
{
    quad_ctx *q = ctx;
    double w = q->kind == SGD_NOISE_GAUSS ? INV_SQRT_2PI * exp(-0.5 * t * t) : 0.5;
    if (w == 0) return 0;
    return w * quad_h(q, &t);
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
    double t[2] = {q->t1, t2};
    return w * quad_h(q, t);
}

static int quad_finite(gsl_function *F, double a, double b, quad_ctx *q, gsl_integration_workspace *ws,
                       double *res, double *err)
{
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
    int st;
    if (q->kind == SGD_NOISE_GAUSS && q->sig == 0)
        st = gsl_integration_qagi(&F, q->epsabs, q->epsrel, q->w->limit, q->w->inner, &res, &err);
    else
        st = quad_finite(&F, a, b, q, q->w->inner, &res, &err);
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
        int st;
        if (d == 1) {
            gsl_function F = {quad_1d, &q};
            if (W->kind == SGD_NOISE_GAUSS && q.sig == 0)
                st = gsl_integration_qagi(&F, q.epsabs, q.epsrel, w->limit, w->outer, &res, &err);
            else {
                double lim = W->kind == SGD_NOISE_GAUSS ? q.sig : 1.0;
                st = quad_finite(&F, -lim, lim, &q, w->outer, &res, &err);
            }
        } else {
            gsl_function F = {quad_outer, &q};
            if (W->kind == SGD_NOISE_GAUSS && q.sig == 0)
                st = gsl_integration_qagi(&F, q.epsabs, q.epsrel, w->limit, w->outer, &res, &err);
            else {
                double lim = W->kind == SGD_NOISE_GAUSS ? q.sig : 1.0;
                st = quad_finite(&F, -lim, lim, &q, w->outer, &res, &err);
            }
            /* the inner errors integrate against a weight of mass <= 1 */
            err += q.inner_err_max;
        }
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
