/* Quadrature smoothing (d = 1, 2) with GSL's adaptive integrators. */
#include "smooth/smooth_internal.h"

#include "sgdscape/error.h"

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_integration.h>
#include <math.h>
#include <string.h>

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

int smooth_quad(const sgd_landscape *f, const sgd_noise *W, double eta, const double *y,
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
    q.r = W->scale;
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
