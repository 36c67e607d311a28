/* The Hessian of an analytic landscape as an operator: the exact matrix
 * (formed once, each row's product in index order, so threads only split
 * rows), or central differences of the exact gradient where the landscape
 * has no Hessian or d is too large to form it. */
#include "geometry/hessian_internal.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct land_state {
    const sgd_landscape *f;
    const double *x;
    size_t d;
    double *H;        /* d x d, or NULL: differences */
    double h;         /* relative step of the differences */
    double *xp, *gp, *gm;
} land_state;

static int apply_dense(void *ctx, const double *v, double *hv)
{
    const land_state *s = ctx;
    size_t d = s->d;
#pragma omp parallel for schedule(static) if (d >= 256)
    for (size_t i = 0; i < d; i++) {
        const double *row = s->H + i * d;
        double acc = 0;
        for (size_t j = 0; j < d; j++) acc += row[j] * v[j];
        hv[i] = acc;
    }
    return SGD_OK;
}

/* Hv ~ (grad f(x + e v) - grad f(x - e v)) / 2e, e = h max(1, |x|) / |v|:
 * error O(e^2 |f'''|) + O(eps |grad f| / e), both ~ eps^(2/3) at h = eps^(1/3). */
static int apply_fd(void *ctx, const double *v, double *hv)
{
    land_state *s = ctx;
    size_t d = s->d;
    double nx = 0, nv = 0;
    for (size_t i = 0; i < d; i++) {
        nx += s->x[i] * s->x[i];
        nv += v[i] * v[i];
    }
    if (nv == 0) {
        memset(hv, 0, d * sizeof *hv);
        return SGD_OK;
    }
    double e = s->h * fmax(1.0, sqrt(nx)) / sqrt(nv);
    for (size_t i = 0; i < d; i++) s->xp[i] = s->x[i] + e * v[i];
    s->f->fg(s->f, s->xp, s->gp);
    for (size_t i = 0; i < d; i++) s->xp[i] = s->x[i] - e * v[i];
    s->f->fg(s->f, s->xp, s->gm);
    for (size_t i = 0; i < d; i++) {
        hv[i] = (s->gp[i] - s->gm[i]) / (2 * e);
        if (!isfinite(hv[i]))
            return sgd_error(SGD_EDIVERGED, "--f %s: the gradient is not finite near x", s->f->name);
    }
    return SGD_OK;
}

static void land_destroy(void *p)
{
    land_state *s = p;
    if (!s) return;
    free(s->H);
    free(s->xp);
    free(s);
}

int hess_op_landscape(const sgd_landscape *f, const double *x, int fd, double h, hess_op *o)
{
    memset(o, 0, sizeof *o);
    size_t d = f->d;
    for (size_t i = 0; i < d; i++)
        if (!isfinite(x[i])) return sgd_error(SGD_EINVAL, "--at: coordinate %zu is not finite", i + 1);
    land_state *s = calloc(1, sizeof *s);
    if (!s) return sgd_error(SGD_ENOMEM, "out of memory");
    s->f = f;
    s->x = x;
    s->d = d;
    s->h = isnan(h) ? cbrt(DBL_EPSILON) : h;
    o->state = s;
    o->destroy = land_destroy;
    o->op.n = d;
    o->op.ctx = s;
    snprintf(o->source, sizeof o->source, "landscape");
    /* a formula's doc is its expression; a catalog entry's is a paragraph, left to the manifest */
    if (!strcmp(f->name, "formula")) snprintf(o->what, sizeof o->what, "%s (d = %zu): %s", f->name, d, f->doc);
    else snprintf(o->what, sizeof o->what, "%s (d = %zu)", f->name, d);
    o->fx = f->fg(f, x, NULL);
    if (!isfinite(o->fx)) return sgd_error(SGD_EDIVERGED, "--f %s: f(x) is not finite at --at", f->name);
    if (!fd && f->hess && d <= HESS_DENSE_MAX) {
        if (!(s->H = malloc(d * d * sizeof *s->H))) return sgd_error(SGD_ENOMEM, "out of memory for a %zu x %zu Hessian", d, d);
        int rc = f->hess(f, x, s->H);
        if (rc) return rc;
        for (size_t i = 0; i < d * d; i++)
            if (!isfinite(s->H[i])) return sgd_error(SGD_EDIVERGED, "--f %s: the Hessian is not finite at --at", f->name);
        /* the operator must be symmetric: symmetrise rounding in formula Hessians */
        for (size_t i = 0; i < d; i++)
            for (size_t j = 0; j < i; j++) s->H[i * d + j] = s->H[j * d + i] = 0.5 * (s->H[i * d + j] + s->H[j * d + i]);
        o->op.apply = apply_dense;
        snprintf(o->hvp, sizeof o->hvp, "exact Hessian of the landscape (d x d, formed once)");
        return SGD_OK;
    }
    if (!(s->xp = malloc(3 * d * sizeof *s->xp))) return sgd_error(SGD_ENOMEM, "out of memory");
    s->gp = s->xp + d;
    s->gm = s->gp + d;
    o->op.apply = apply_fd;
    snprintf(o->hvp, sizeof o->hvp, "central differences of the exact gradient, step %.3g max(1,|x|)/|v|%s", s->h,
             fd ? " (asked for)" : f->hess ? " (d too large to form the Hessian)" : " (the landscape has no Hessian)");
    return SGD_OK;
}

void hess_op_free(hess_op *o)
{
    if (o->destroy) o->destroy(o->state);
    memset(o, 0, sizeof *o);
}
