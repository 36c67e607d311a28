/* Assumption 1 on a domain: the ratio
 *     <-grad g(y), x* - y> / ||x* - y||^2,   y = x - eta grad f(x),  x in D
 * at sampled or grid points, with grad g from sgd_smooth_eval and its error
 * carried into a one-sided bound on c. Also estimates of L and r. */
#include "sgdscape/theory.h"
#include "theory/theory_internal.h"

#include "sgdscape/dist.h"
#include "sgdscape/error.h"
#include "sgdscape/io.h"
#include "sgdscape/rng.h"

#include <gsl/gsl_eigen.h>
#include <gsl/gsl_matrix.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sgd_onepoint_defaults(sgd_onepoint_config *c, const sgd_landscape *f)
{
    memset(c, 0, sizeof *c);
    c->f = f;
    c->W.kind = SGD_NOISE_BALL;
    c->W.scale = 1.0;
    c->eta = 0.1;
    c->x_star = f ? f->x_star : NULL;
    c->D.kind = SGD_DOMAIN_BOX;
    c->D.lo = f ? f->lo : -1;
    c->D.hi = f ? f->hi : 1;
    c->D.radius = 1;
    c->D.n = 1000;
    c->seed = 1;
    sgd_smooth_params_default(&c->sp);
    c->confidence = 0.95;
    c->exclude = 1e-9;
    c->estimate_L = 1;
}

double sgd_theory_spectral_norm(size_t d, const double *H)
{
    if (d == 1) return fabs(H[0]);
    if (d == 2) {
        double a = H[0], b = 0.5 * (H[1] + H[2]), c = H[3];
        double m = 0.5 * (a + c), s = hypot(0.5 * (a - c), b);
        return fmax(fabs(m + s), fabs(m - s));
    }
    if (d > 2000) return NAN;
    gsl_matrix *A = gsl_matrix_alloc(d, d);
    gsl_vector *ev = gsl_vector_alloc(d);
    gsl_eigen_symm_workspace *w = gsl_eigen_symm_alloc(d);
    double out = NAN;
    if (A && ev && w) {
        for (size_t i = 0; i < d; i++)
            for (size_t j = 0; j < d; j++) gsl_matrix_set(A, i, j, 0.5 * (H[i * d + j] + H[j * d + i]));
        if (gsl_eigen_symm(A, ev, w) == 0) {
            out = 0;
            for (size_t i = 0; i < d; i++) out = fmax(out, fabs(gsl_vector_get(ev, i)));
        }
    }
    if (w) gsl_eigen_symm_free(w);
    if (ev) gsl_vector_free(ev);
    if (A) gsl_matrix_free(A);
    return out;
}

void sgd_onepoint_result_free(sgd_onepoint_result *r)
{
    if (!r) return;
    free(r->x);
    free(r->y);
    free(r->ratio);
    free(r->ratio_err);
    free(r->f_ratio);
    memset(r, 0, sizeof *r);
}

static void domain_point(const sgd_onepoint_config *c, size_t j, double *x)
{
    size_t d = c->f->d;
    const sgd_domain *D = &c->D;
    if (D->kind == SGD_DOMAIN_GRID) {
        size_t n = D->n;
        double step = n > 1 ? (D->hi - D->lo) / (double)(n - 1) : 0;
        double base = n > 1 ? D->lo : 0.5 * (D->lo + D->hi);
        if (d == 1) x[0] = base + step * (double)j;
        else {
            x[0] = base + step * (double)(j % n);
            x[1] = base + step * (double)(j / n);
        }
    } else if (D->kind == SGD_DOMAIN_BALL) {
        const double *ctr = D->center ? D->center : c->x_star;
        sgd_rng_normal_fill(c->seed, SGD_RNG_CHECK, j, 0, x, d);
        double nrm = 0;
        for (size_t i = 0; i < d; i++) nrm += x[i] * x[i];
        nrm = sqrt(nrm);
        double u[2];
        sgd_rng_uniform2(c->seed, SGD_RNG_CHECK, j, 1, 0, u);
        double rad = D->radius * pow(u[0], 1.0 / (double)d);
        for (size_t i = 0; i < d; i++) x[i] = ctr[i] + (nrm > 0 ? rad * x[i] / nrm : 0);
    } else {
        sgd_rng_uniform_fill(c->seed, SGD_RNG_CHECK, j, 0, x, d);
        for (size_t i = 0; i < d; i++) x[i] = D->lo + (D->hi - D->lo) * x[i];
    }
}

/* The check; under MPI each rank computes its slice of the points, and the
 * per-point results are gathered (to rank 0, or every rank with to_all)
 * before the reductions over points, which run in point order as in one
 * process. */
static int check_run(const sgd_onepoint_config *c, sgd_onepoint_result *res, int to_all)
{
    double t0 = sgd_now();
    memset(res, 0, sizeof *res);
    if (!c || !c->f) return sgd_error(SGD_EINVAL, "Assumption 1 check: no landscape");
    const sgd_landscape *f = c->f;
    size_t d = f->d;
    if (!c->x_star) return sgd_error(SGD_EINVAL, "Assumption 1 check: x* is unknown for '%s': give --x-star", f->name);
    if (!(c->eta > 0) || !isfinite(c->eta))
        return sgd_error(SGD_EINVAL, "Assumption 1 check: eta must be finite and > 0");
    if (!(c->confidence > 0 && c->confidence < 1))
        return sgd_error(SGD_EINVAL, "Assumption 1 check: confidence must be in (0, 1)");
    const sgd_domain *D = &c->D;
    if (D->n == 0) return sgd_error(SGD_EINVAL, "Assumption 1 check: the domain needs at least one point");
    if (D->kind == SGD_DOMAIN_BALL) {
        if (!(D->radius > 0) || !isfinite(D->radius))
            return sgd_error(SGD_EINVAL, "Assumption 1 check: ball radius must be finite and > 0");
    } else if (!(D->lo <= D->hi) || !isfinite(D->lo) || !isfinite(D->hi))
        return sgd_error(SGD_EINVAL, "Assumption 1 check: need a finite box lo <= hi (got [%g, %g])", D->lo, D->hi);
    size_t n = D->n;
    if (D->kind == SGD_DOMAIN_GRID) {
        if (d > 2) return sgd_error(SGD_EINVAL, "Assumption 1 check: a grid domain is for d = 1 or 2 (d = %zu)", d);
        if (d == 2) {
            if (D->n > 100000) return sgd_error(SGD_EINVAL, "Assumption 1 check: grid too large");
            n = D->n * D->n;
        }
    }
    res->n = n;
    res->d = d;
    res->x = malloc(n * d * sizeof(double));
    res->y = malloc(n * d * sizeof(double));
    res->ratio = malloc(n * sizeof(double));
    res->ratio_err = malloc(n * sizeof(double));
    res->f_ratio = malloc(n * sizeof(double));
    double *gfx = malloc(n * d * sizeof(double));
    double *Lpt = malloc(n * sizeof(double));
    double *Llow = malloc(n * sizeof(double));
    int *st = calloc(n, sizeof(int));
    size_t *ns = calloc(n, sizeof(size_t));
    int *meth = calloc(n, sizeof(int));
    int *rfs = calloc(n, sizeof(int));
    int nthreads = omp_in_parallel() ? 1 : omp_get_max_threads();
    sgd_smooth_workspace **ws = calloc((size_t)nthreads, sizeof *ws);
    /* Hessians only where d x d fits comfortably (the spectral norm gives up above 2000) */
    const int use_hess = c->estimate_L && f->hess && d <= 2000;
    /* the scale of the nearby pair that bounds L from below */
    const double lscale = D->kind == SGD_DOMAIN_BALL ? D->radius : fmax(D->hi - D->lo, 1e-300);
    /* per-thread scratch: 4 d-vectors and, with Hessians, a d x d matrix */
    double **tbuf = calloc((size_t)nthreads, sizeof *tbuf);
    int rc = SGD_OK;
    char errmsg[512] = "";
    size_t errj = (size_t)-1;
    if (!res->x || !res->y || !res->ratio || !res->ratio_err || !res->f_ratio || !gfx || !Lpt || !Llow || !st ||
        !ns || !meth || !rfs || !ws || !tbuf)
        rc = sgd_error(SGD_ENOMEM, "Assumption 1 check: out of memory");
    for (int t = 0; !rc && t < nthreads; t++) {
        ws[t] = sgd_smooth_workspace_alloc(d, c->sp.limit);
        tbuf[t] = malloc(4 * d * sizeof(double) + (use_hess ? d * d * sizeof(double) : 0));
        if (!ws[t] || !tbuf[t]) rc = sgd_error(SGD_ENOMEM, "Assumption 1 check: out of memory");
    }
    size_t lo, hi; /* this rank's points */
    sgd_dist_slice(n, &lo, &hi);
    if (rc) lo = hi;
    /* Bonferroni: every coordinate interval of every point at 1 - alpha/(n d),
     * so the bound on c holds for all points at once at `confidence`. */
    res->point_confidence = 1.0 - (1.0 - c->confidence) / ((double)n * (double)d);
    res->r = sgd_noise_max_norm(&c->W, d);

    #pragma omp parallel for schedule(dynamic, 4) num_threads(nthreads)
    for (size_t j = lo; j < hi; j++) {
        int tid = omp_get_thread_num();
        sgd_smooth_workspace *w = ws[tid];
        double *x = res->x + j * d, *y = res->y + j * d, *gx = gfx + j * d;
        double *buf = tbuf[tid];
        double *gg = buf, *ge = buf + d, *xp = buf + 2 * d, *gp = buf + 3 * d, *H = buf + 4 * d;
        domain_point(c, j, x);
        f->fg(f, x, gx);
        double dx2 = 0, inx = 0, dy2 = 0;
        for (size_t i = 0; i < d; i++) {
            double e = c->x_star[i] - x[i];
            dx2 += e * e;
            inx += -gx[i] * e;
            y[i] = x[i] - c->eta * gx[i];
        }
        res->f_ratio[j] = dx2 > 0 ? inx / dx2 : NAN;
        for (size_t i = 0; i < d; i++) {
            double e = c->x_star[i] - y[i];
            dy2 += e * e;
        }
        Lpt[j] = NAN;
        Llow[j] = 0;
        if (c->estimate_L) {
            if (use_hess && f->hess(f, x, H) == SGD_OK) {
                Lpt[j] = sgd_theory_spectral_norm(d, H);
                int ok = 1;
                for (size_t i = 0; i < d; i++) ok &= isfinite(y[i]);
                if (ok && f->hess(f, y, H) == SGD_OK) Lpt[j] = fmax(Lpt[j], sgd_theory_spectral_norm(d, H));
            }
            /* a nearby pair: ||grad f(x) - grad f(x')|| / ||x - x'|| <= L */
            double h = 1e-4 * lscale;
            sgd_rng_normal_fill(c->seed, SGD_RNG_CHECK, j, 2, xp, d);
            double nr = 0;
            for (size_t i = 0; i < d; i++) nr += xp[i] * xp[i];
            nr = sqrt(nr);
            if (nr > 0) {
                for (size_t i = 0; i < d; i++) xp[i] = x[i] + h * xp[i] / nr;
                f->fg(f, xp, gp);
                double dg = 0;
                for (size_t i = 0; i < d; i++) dg += (gp[i] - gx[i]) * (gp[i] - gx[i]);
                if (isfinite(dg)) Llow[j] = sqrt(dg) / h;
            }
        }
        if (!(sqrt(dy2) >= c->exclude) || !isfinite(dy2) || sqrt(dx2) < c->exclude_x) {
            res->ratio[j] = NAN;
            res->ratio_err[j] = NAN;
            continue;
        }
        sgd_smooth_params sp = c->sp;
        sp.confidence = res->point_confidence;
        sp.stream = j;
        sp.grad_only = 1;
        sgd_smooth_value v;
        memset(&v, 0, sizeof v);
        v.grad = gg;
        v.grad_err = ge;
        int e = sgd_smooth_eval(f, &c->W, c->eta, y, &sp, w, &v);
        if (e) {
            st[j] = e;
            #pragma omp critical(sgd_onepoint_err)
            {
                if (j < errj) {
                    errj = j;
                    snprintf(errmsg, sizeof errmsg, "%s", sgd_errmsg());
                }
            }
            res->ratio[j] = NAN;
            res->ratio_err[j] = NAN;
            continue;
        }
        double in = 0, err = 0;
        for (size_t i = 0; i < d; i++) {
            double dir = c->x_star[i] - y[i];
            in += -gg[i] * dir;
            err += ge[i] * fabs(dir);
        }
        res->ratio[j] = in / dy2;
        res->ratio_err[j] = err / dy2;
        ns[j] = v.n;
        meth[j] = (int)v.method;
        rfs[j] = v.range_from_sample;
    }
    for (size_t j = lo; j < hi && !rc; j++)
        if (st[j]) rc = sgd_error(st[j], "Assumption 1 check at point %zu: %s", j, j == errj ? errmsg : "out of memory");
    /* the lowest failing rank holds the lowest failing point: the message of one process */
    if ((rc = sgd_dist_agree(rc))) goto out;
    if (sgd_dist_size() > 1) {
        const size_t dd = d * sizeof(double);
        sgd_dist_gather_inplace(res->x, n, dd, to_all);
        sgd_dist_gather_inplace(res->y, n, dd, to_all);
        sgd_dist_gather_inplace(gfx, n, dd, to_all);
        sgd_dist_gather_inplace(res->ratio, n, sizeof(double), to_all);
        sgd_dist_gather_inplace(res->ratio_err, n, sizeof(double), to_all);
        sgd_dist_gather_inplace(res->f_ratio, n, sizeof(double), to_all);
        sgd_dist_gather_inplace(Lpt, n, sizeof(double), to_all);
        sgd_dist_gather_inplace(Llow, n, sizeof(double), to_all);
        sgd_dist_gather_inplace(ns, n, sizeof(size_t), to_all);
        sgd_dist_gather_inplace(meth, n, sizeof(int), to_all);
        sgd_dist_gather_inplace(rfs, n, sizeof(int), to_all);
        if (!to_all && sgd_dist_rank() != 0) {
            rc = sgd_dist_hand_off();
            goto out;
        }
    }
    res->c_hat = INFINITY;
    res->c_lower = INFINITY;
    res->c_upper = INFINITY;
    res->cprime_max = -INFINITY;
    res->L_hess = NAN;
    res->L_lower = 0;
    res->method = SGD_SMOOTH_AUTO;
    for (size_t j = 0; j < n; j++) {
        if (!isnan(res->f_ratio[j]) && res->f_ratio[j] > res->cprime_max) res->cprime_max = res->f_ratio[j];
        if (!isnan(Lpt[j])) res->L_hess = isnan(res->L_hess) ? Lpt[j] : fmax(res->L_hess, Lpt[j]);
        res->L_lower = fmax(res->L_lower, Llow[j]);
        if (c->estimate_L && j > 0) {
            double da = 0, dg = 0;
            for (size_t i = 0; i < d; i++) {
                double a = res->x[j * d + i] - res->x[(j - 1) * d + i];
                double g = gfx[j * d + i] - gfx[(j - 1) * d + i];
                da += a * a;
                dg += g * g;
            }
            if (da > 0 && isfinite(dg)) res->L_lower = fmax(res->L_lower, sqrt(dg / da));
        }
        if (isnan(res->ratio[j])) {
            res->nexcluded++;
            continue;
        }
        res->mc_samples += ns[j];
        res->method = (sgd_smooth_method)meth[j];
        res->range_from_sample |= rfs[j];
        if (res->ratio[j] <= 0) {
            res->nfail++;
            double dx = 0;
            for (size_t i = 0; i < d; i++) {
                double e = res->x[j * d + i] - c->x_star[i];
                dx += e * e;
            }
            res->fail_radius = fmax(res->fail_radius, sqrt(dx));
        }
        if (res->ratio[j] + res->ratio_err[j] <= 0) res->nfail_sure++;
        if (res->ratio[j] < res->c_hat) {
            res->c_hat = res->ratio[j];
            res->argmin = j;
        }
        res->c_lower = fmin(res->c_lower, res->ratio[j] - res->ratio_err[j]);
        res->c_upper = fmin(res->c_upper, res->ratio[j] + res->ratio_err[j]);
    }
    if (res->nexcluded == n) {
        size_t inf = 0; /* points so far out that ||x - x*||^2 is inf */
        for (size_t j = 0; j < n; j++) {
            double dx = 0;
            for (size_t i = 0; i < d; i++) dx += (res->x[j * d + i] - c->x_star[i]) * (res->x[j * d + i] - c->x_star[i]);
            inf += !isfinite(dx);
        }
        if (inf)
            rc = sgd_error(SGD_EINVAL, "Assumption 1 check: the domain is out of range: ||x - x*||^2 overflows at %zu of %zu points", inf, n);
        else
            rc = sgd_error(SGD_EINVAL, "Assumption 1 check: every point has y = x* (nothing to test)");
        goto out;
    }
out:
    if (ws)
        for (int t = 0; t < nthreads; t++) sgd_smooth_workspace_free(ws[t]);
    free(ws);
    if (tbuf)
        for (int t = 0; t < nthreads; t++) free(tbuf[t]);
    free(tbuf);
    free(gfx);
    free(Lpt);
    free(Llow);
    free(st);
    free(ns);
    free(meth);
    free(rfs);
    if (rc) sgd_onepoint_result_free(res);
    else res->seconds = sgd_now() - t0;
    return rc;
}

int sgd_onepoint_check(const sgd_onepoint_config *c, sgd_onepoint_result *res)
{
    int rc = check_run(c, res, 0);
    return rc ? rc : sgd_dist_hand_off();
}

int sgd_onepoint_check_all(const sgd_onepoint_config *c, sgd_onepoint_result *res) { return check_run(c, res, 1); }
