/* f along the line (1 - alpha) A + alpha B (Goodfellow & Vinyals 2015):
 * by default from a run's initialisation to its final point. */
#include "geometry/geometry_internal.h"
#include "sgdscape/io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sgd_interp_defaults(sgd_interp_config *c)
{
    memset(c, 0, sizeof *c);
    sgd_geom_source_defaults(&c->src);
    c->alpha_lo = -0.5;
    c->alpha_hi = 1.5;
    c->n = 41;
    c->val = 1;
}

void sgd_interp_result_free(sgd_interp_result *r)
{
    free(r->alpha);
    free(r->train_loss);
    free(r->train_acc);
    free(r->val_loss);
    free(r->val_acc);
    memset(r, 0, sizeof *r);
}

int sgd_interp_path_of(const double *alpha, const double *f, size_t n, sgd_interp_path *out)
{
    size_t i0 = n, i1 = n;
    for (size_t i = 0; i < n; i++) {
        if (alpha[i] == 0) i0 = i;
        if (alpha[i] == 1) i1 = i;
    }
    if (i0 == n || i1 == n || i1 <= i0)
        return sgd_error(SGD_EINVAL, "alpha range: 0 and 1 must be grid points (e.g. -0.5:1.5:41)");
    double ends = fmax(f[i0], f[i1]), top = -INFINITY, at = NAN;
    int up = 1, down = 1;
    for (size_t i = i0; i <= i1; i++) {
        if (f[i] > top) {
            top = f[i];
            at = alpha[i];
        }
        if (i > i0 && f[i] > f[i - 1]) down = 0;
        if (i > i0 && f[i] < f[i - 1]) up = 0;
    }
    out->barrier = top - ends;
    out->barrier_alpha = at;
    out->monotone = up || down;
    out->increasing = up && !down;
    for (size_t i = i0; i <= i1; i++)
        if (isnan(f[i])) out->barrier = out->barrier_alpha = NAN, out->monotone = 0;
    return SGD_OK;
}

typedef struct line {
    const float *a, *b;
    const sgd_interp_result *r;
    size_t p;
} line;

static void line_at(void *ctx, size_t i, float *x)
{
    const line *L = ctx;
    double t = L->r->alpha[i];
#pragma omp parallel for schedule(static)
    for (size_t k = 0; k < L->p; k++) x[k] = (float)((1 - t) * (double)L->a[k] + t * (double)L->b[k]);
}

int sgd_interp_run(const sgd_interp_config *c, sgd_interp_result *r, sgd_geom_progress_fn progress, void *ctx)
{
    memset(r, 0, sizeof *r);
    double t0 = sgd_now();
    if (c->n < 2 || !(c->alpha_hi > c->alpha_lo))
        return sgd_error(SGD_EINVAL, "--alpha: want LO < HI and N >= 2 points");
    if ((!c->a || !c->b) && !c->src.run) return sgd_error(SGD_EINVAL, "give A and B weight files, or --run DIR");
    geom_ctx g;
    int rc = geom_open(&c->src, c->val, &g);
    float *a = NULL, *b = NULL;
    double *v = NULL;
    if (rc) goto out;
    if (c->a) snprintf(r->a, sizeof r->a, "%s", c->a);
    else geom_x_path(&g, 0, r->a, sizeof r->a);
    if (c->b) snprintf(r->b, sizeof r->b, "%s", c->b);
    else geom_x_path(&g, -1, r->b, sizeof r->b);
    r->n = c->n;
    r->p = g.p;
    a = malloc(g.p * sizeof *a);
    b = malloc(g.p * sizeof *b);
    v = malloc(c->n * GEOM_NV * sizeof *v);
    r->alpha = malloc(c->n * sizeof *r->alpha);
    r->train_loss = malloc(c->n * sizeof(double));
    r->train_acc = malloc(c->n * sizeof(double));
    r->val_loss = malloc(c->n * sizeof(double));
    r->val_acc = malloc(c->n * sizeof(double));
    if (!a || !b || !v || !r->alpha || !r->train_loss || !r->train_acc || !r->val_loss || !r->val_acc) {
        rc = sgd_error(SGD_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = geom_read_x(&g, r->a, a)) || (rc = geom_read_x(&g, r->b, b))) goto out;
    for (size_t i = 0; i < c->n; i++) r->alpha[i] = geom_grid(c->alpha_lo, c->alpha_hi, c->n, i);
    /* 0 and 1 exactly where the grid comes within rounding of them */
    for (size_t i = 0; i < c->n; i++) {
        double step = (c->alpha_hi - c->alpha_lo) / (double)(c->n - 1);
        if (fabs(r->alpha[i]) < 1e-9 * step) r->alpha[i] = 0;
        if (fabs(r->alpha[i] - 1) < 1e-9 * step) r->alpha[i] = 1;
    }
    double d2 = 0;
    for (size_t k = 0; k < g.p; k++) d2 += ((double)b[k] - a[k]) * ((double)b[k] - a[k]);
    r->dist = sqrt(d2);
    line L = {a, b, r, g.p};
    char fp[24000];
    if ((rc = geom_source_fingerprint(&g, fp, sizeof fp))) goto out;
    size_t o = strlen(fp);
    snprintf(fp + o, sizeof fp - o, "A %s\nB %s\n--alpha %.17g:%.17g:%zu\n--no-val %d\n", r->a, r->b,
             c->alpha_lo, c->alpha_hi, c->n, !c->val);
    geom_points_spec S = {c->n, line_at, &L, c->val, &c->keep, fp, "points there come from an interp"};
    if ((rc = geom_points(&g, &S, v, &r->resumed, progress, ctx))) goto out;
    if (c->keep.dir) snprintf(r->keep, sizeof r->keep, "%s", c->keep.dir);
    for (size_t i = 0; i < c->n; i++) {
        r->train_loss[i] = v[i * GEOM_NV];
        r->train_acc[i] = v[i * GEOM_NV + 1];
        r->val_loss[i] = v[i * GEOM_NV + 2];
        r->val_acc[i] = v[i * GEOM_NV + 3];
    }
    r->have_val = c->val && g.have_Lva;
    r->train.barrier = r->val.barrier = NAN;
    if (c->alpha_lo <= 0 && c->alpha_hi >= 1) {
        sgd_interp_path_of(r->alpha, r->train_loss, c->n, &r->train);
        if (r->have_val) sgd_interp_path_of(r->alpha, r->val_loss, c->n, &r->val);
        else r->val.barrier = NAN;
        sgd_error_clear(); /* 0 or 1 off the grid: no path measures */
    }
    snprintf(r->model, sizeof r->model, "%s", g.model);
    snprintf(r->data, sizeof r->data, "%s", g.data);
    r->batch = g.Ltr.o.batch;
    r->batches = g.batches;
    r->train_images = g.tr.n;
    r->val_images = g.have_va ? g.va.n : 0;
    r->seconds = sgd_now() - t0;
out:
    free(a);
    free(b);
    free(v);
    if (rc) sgd_interp_result_free(r);
    geom_close(&g);
    return rc;
}
