/* g(y) = E f(y - eta*omega) and its gradient: closed form, GSL quadrature
 * (d <= 2, smooth_quad.c) or Monte Carlo with CLT / Hoeffding intervals
 * (smooth_mc.c, smooth_cube.c). Here: parameters, workspace, the exact
 * method and the dispatch. */
#include "sgdscape/smooth.h"
#include "smooth/smooth_internal.h"

#include "sgdscape/error.h"
#include "sgdscape/isa.h"

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

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
    if (W->kind != SGD_NOISE_DATA && W->kind != SGD_NOISE_NONE && (!(W->scale >= 0) || !isfinite(W->scale)))
        return sgd_error(SGD_EINVAL, "smoothing: noise radius r must be finite and >= 0");
    if (!(p->confidence > 0 && p->confidence < 1))
        return sgd_error(SGD_EINVAL, "smoothing: confidence must be in (0, 1)");
    int isa_rc = sgd_isa_init(); /* an SGD_ISA this CPU cannot run */
    if (isa_rc) return isa_rc;
    if (p->method == SGD_SMOOTH_MC && p->nsamples == 0 && !(p->tol > 0))
        return sgd_error(SGD_EINVAL, "smoothing: give a sample count or a tolerance tol > 0");
    for (size_t i = 0; i < d; i++)
        if (!isfinite(y[i])) return sgd_error(SGD_EINVAL, "smoothing: y[%zu] is not finite", i);
    out->n = 0;
    out->range_from_sample = 0;
    out->quad_status = 0;
    /* No noise (or eta = 0): g = f exactly. */
    if (W->kind == SGD_NOISE_NONE || (W->kind != SGD_NOISE_DATA && (W->scale == 0 || eta == 0))) {
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
