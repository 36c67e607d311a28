/* sgd_hessian_run: the operator from the config, then the eigenvalues
 * (Lanczos), the trace (Hutchinson) and the density (SLQ) it asks for. */
#include "geometry/hessian_internal.h"
#include "sgdscape/io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sgd_hessian_defaults(sgd_hessian_config *c)
{
    memset(c, 0, sizeof *c);
    c->normalize = 1;
    c->precision = 64;
    c->fd_h = NAN;
    c->top = 1;
    c->tol = 1e-8;
    c->confidence = 0.95;
    c->sigma = NAN;
    c->grid = 1001;
    c->seed = 1;
}

void sgd_hessian_result_free(sgd_hessian_result *r)
{
    free(r->top); /* top, its residuals, bottom and theirs are one block; so are the others */
    free(r->top_vecs);
    free(r->trace_sample);
    free(r->slq_nodes);
    free(r->grid_t);
    memset(r, 0, sizeof *r);
}

/* Counts the products, reports progress and stops when asked. */
typedef struct counted {
    const sgd_linop *inner;
    size_t done, total;
    sgd_hessian_progress_fn progress;
    void *ctx;
    const sgd_hessian_config *c;
} counted;

static int counted_apply(void *ctx, const double *v, double *hv)
{
    counted *k = ctx;
    if (k->c->stop && k->c->stop(k->c->stop_ctx)) return sgd_error(SGD_EINVAL, "interrupted");
    int rc = k->inner->apply(k->inner->ctx, v, hv);
    k->done++;
    if (k->progress) k->progress(k->ctx, (double)k->done, (double)(k->total > k->done ? k->total : k->done));
    return rc;
}

/* Lanczos' own bound: pair i of T_j has residual |beta_j s_{j,i}|. */
typedef struct eig_stop {
    size_t top, bottom;
    double tol;
    double *theta, *S;
} eig_stop;

static int eig_converged(void *ctx, const sgd_lanczos *L)
{
    eig_stop *e = ctx;
    size_t j = L->m;
    if (j < e->top + e->bottom || L->beta[j - 1] == 0) return 0; /* a closed Krylov space may miss the ends */
    if (j > 60 && j % (j / 20) != 0) return 0;                   /* the test costs O(j^3): not every step */
    if (sgd_lanczos_ritz(L, e->theta, e->S)) return 0;
    double scale = fmax(fabs(e->theta[0]), fabs(e->theta[j - 1]));
    for (size_t i = 0; i < j; i++) {
        if (i >= e->bottom && i + e->top < j) continue;
        if (fabs(L->beta[j - 1] * e->S[(j - 1) + i * j]) > e->tol * scale) return 0;
    }
    return 1;
}

/* y = Q^T s, sign fixed (largest |entry| positive), and ||A y - theta y||. */
static int ritz_pair(const sgd_linop *A, const sgd_lanczos *L, const double *s, double theta, double *y, double *w,
                     double *resid)
{
    size_t n = L->n;
    memset(y, 0, n * sizeof *y);
    for (size_t j = 0; j < L->m; j++)
        for (size_t t = 0; t < n; t++) y[t] += s[j] * L->Q[j * n + t];
    size_t big = 0;
    for (size_t t = 1; t < n; t++)
        if (fabs(y[t]) > fabs(y[big])) big = t;
    if (y[big] < 0)
        for (size_t t = 0; t < n; t++) y[t] = -y[t];
    int rc = A->apply(A->ctx, y, w);
    if (rc) return rc;
    double acc = 0;
    for (size_t t = 0; t < n; t++) acc += (w[t] - theta * y[t]) * (w[t] - theta * y[t]);
    *resid = sqrt(acc);
    return SGD_OK;
}

static int eigen(const sgd_hessian_config *c, const sgd_linop *A, size_t m, sgd_hessian_result *r)
{
    size_t n = A->n, k = c->top + c->bottom;
    double *z = malloc(n * sizeof *z), *y = malloc(2 * n * sizeof *y);
    eig_stop e = {c->top, c->bottom, c->tol, malloc(m * sizeof(double)), malloc(m * m * sizeof(double))};
    r->top = malloc(2 * k * sizeof *r->top);
    if (c->vectors) r->top_vecs = malloc(k * n * sizeof *r->top_vecs);
    int rc = !z || !y || !e.theta || !e.S || !r->top || (c->vectors && !r->top_vecs)
                 ? sgd_error(SGD_ENOMEM, "out of memory for %zu Lanczos steps (n = %zu)", m, n) : SGD_OK;
    sgd_lanczos L = {0};
    if (!rc) {
        sgd_rademacher_fill(c->seed, HESS_STREAM_EIGEN, 0, z, n);
        rc = sgd_lanczos_run(A, z, m, c->seed, HESS_STREAM_EIGEN, eig_converged, &e, &L);
    }
    if (!rc) rc = sgd_lanczos_ritz(&L, e.theta, e.S);
    if (!rc) {
        r->lanczos_steps = L.m;
        r->ntop = c->top < L.m ? c->top : L.m;
        r->nbottom = c->bottom < L.m ? c->bottom : L.m;
        r->top_resid = r->top + r->ntop;
        r->bottom = r->top_resid + r->ntop;
        r->bottom_resid = r->bottom + r->nbottom;
        if (r->top_vecs) r->bottom_vecs = r->top_vecs + r->ntop * n;
        double scale = fmax(fabs(e.theta[0]), fabs(e.theta[L.m - 1]));
        r->converged = 1;
        for (size_t i = 0; i < r->ntop + r->nbottom && !rc; i++) {
            int top = i < r->ntop;
            size_t col = top ? L.m - 1 - i : i - r->ntop;
            double *val = top ? &r->top[i] : &r->bottom[i - r->ntop];
            double *res = top ? &r->top_resid[i] : &r->bottom_resid[i - r->ntop];
            *val = e.theta[col];
            rc = ritz_pair(A, &L, e.S + col * L.m, *val, y, y + n, res);
            if (*res > c->tol * scale) r->converged = 0;
            if (r->top_vecs) memcpy(top ? r->top_vecs + i * n : r->bottom_vecs + (i - r->ntop) * n, y, n * sizeof *y);
        }
    }
    sgd_lanczos_free(&L);
    free(z);
    free(y);
    free(e.theta);
    free(e.S);
    return rc;
}

/* f(x) as the latest product saw it (networks), for the kept parts */
static double fx_now(const hess_op *o) { return o->loss ? *o->loss : o->fx; }

/* Hutchinson, sample by sample: each kept, or taken from k. */
static int trace(const sgd_hessian_config *c, const sgd_linop *A, counted *cnt, hess_keep *k, const hess_op *o,
                 sgd_hessian_result *r)
{
    size_t N = c->trace_samples, used;
    r->trace_samples = N;
    r->trace_sample = malloc(N * sizeof(double));
    double *z = malloc(2 * A->n * sizeof *z);
    int rc = r->trace_sample && z ? SGD_OK : sgd_error(SGD_ENOMEM, "out of memory for two vectors of %zu entries", A->n);
    for (size_t s = 0; s < N && !rc; s++) {
        if (hess_keep_load(k, "trace", s, &r->trace_sample[s], 1, &used)) {
            cnt->done += used;
            continue;
        }
        size_t before = cnt->done;
        if (!(rc = hess_trace_sample(A, c->seed, s, z, &r->trace_sample[s])))
            rc = hess_keep_save(k, "trace", s, &r->trace_sample[s], 1, fx_now(o), cnt->done - before);
    }
    free(z);
    return rc ? rc : hess_trace_stats(r->trace_sample, N, c->confidence, &r->trace, &r->trace_se, &r->trace_lo, &r->trace_hi);
}

/* SLQ, run by run (each kept, or taken from k), into r's nodes and weights. */
static int slq(const sgd_hessian_config *c, const sgd_linop *A, size_t m, counted *cnt, hess_keep *k, const hess_op *o,
               sgd_hessian_result *r)
{
    double *z = malloc(A->n * sizeof *z), *S = malloc(m * m * sizeof *S), *v = malloc(2 * m * sizeof *v);
    int rc = z && S && v ? SGD_OK : sgd_error(SGD_ENOMEM, "out of memory for SLQ (%zu steps, n = %zu)", m, A->n);
    for (size_t i = 0; i < c->density_runs && !rc; i++) {
        double *nodes = r->slq_nodes + i * m, *weights = r->slq_weights + i * m;
        size_t used, before = cnt->done;
        if (hess_keep_load(k, "slq", i, v, 2 * m, &used)) {
            cnt->done += used;
        } else {
            if ((rc = hess_slq_run(A, m, c->seed, i, z, S, v, v + m))) break;
            rc = hess_keep_save(k, "slq", i, v, 2 * m, fx_now(o), cnt->done - before);
        }
        memcpy(nodes, v, m * sizeof *v);
        memcpy(weights, v + m, m * sizeof *v);
    }
    free(z);
    free(S);
    free(v);
    return rc;
}

static int density(const sgd_hessian_config *c, const sgd_linop *A, size_t m, counted *cnt, hess_keep *k,
                   const hess_op *o, sgd_hessian_result *r)
{
    size_t R = c->density_runs;
    r->density_runs = R;
    r->density_steps = m;
    r->grid = c->grid;
    r->sigma = c->sigma;
    r->slq_nodes = malloc(2 * R * m * sizeof(double));
    r->grid_t = malloc(2 * c->grid * sizeof(double));
    if (!r->slq_nodes || !r->grid_t) return sgd_error(SGD_ENOMEM, "out of memory for the density");
    r->slq_weights = r->slq_nodes + R * m;
    r->density = r->grid_t + c->grid;
    int rc = slq(c, A, m, cnt, k, o, r);
    if (!rc) rc = sgd_slq_density(r->slq_nodes, r->slq_weights, R, m, &r->sigma, c->grid, r->grid_t, r->density);
    if (rc) return rc;
    double mass = 0, mean = 0;
    for (size_t g = 1; g < c->grid; g++)
        mass += 0.5 * (r->density[g] + r->density[g - 1]) * (r->grid_t[g] - r->grid_t[g - 1]);
    for (size_t i = 0; i < R * m; i++)
        if (!isnan(r->slq_nodes[i])) mean += r->slq_weights[i] * r->slq_nodes[i];
    r->density_mass = mass;
    r->density_mean = mean / (double)R;
    return SGD_OK;
}

static int check_config(const sgd_hessian_config *c, size_t n, size_t *m_eig, size_t *m_slq)
{
    size_t k = c->top + c->bottom;
    if (!k && !c->trace_samples && !c->density_runs)
        return sgd_error(SGD_EINVAL, "nothing to compute: ask for --top, --bottom, --trace or --density");
    if (k > n) return sgd_error(SGD_EINVAL, "--top %zu --bottom %zu: %zu eigenvalues asked, the Hessian has n = %zu",
                                c->top, c->bottom, k, n);
    if (!(c->tol > 0)) return sgd_error(SGD_EINVAL, "--tol: must be > 0");
    if (!(c->confidence > 0 && c->confidence < 1)) return sgd_error(SGD_EINVAL, "--confidence: must be in (0, 1)");
    if (!isnan(c->sigma) && !(c->sigma > 0 && isfinite(c->sigma))) return sgd_error(SGD_EINVAL, "--sigma: must be > 0");
    if (c->density_runs && c->grid < 2) return sgd_error(SGD_EINVAL, "--grid: need at least 2 points");
    size_t m = c->lanczos_steps ? c->lanczos_steps : (4 * k > 100 ? 4 * k : 100);
    *m_eig = m < n ? m : n;
    if (k && *m_eig < k)
        return sgd_error(SGD_EINVAL, "--lanczos-steps %zu: fewer than the %zu eigenvalues asked", c->lanczos_steps, k);
    m = c->density_steps ? c->density_steps : 80;
    *m_slq = m < n ? m : n;
    return SGD_OK;
}

int sgd_hessian_run(const sgd_hessian_config *c, sgd_hessian_result *r, sgd_hessian_progress_fn progress, void *ctx)
{
    memset(r, 0, sizeof *r);
    double t0 = sgd_now();
    hess_op o = {0};
    int rc;
    if (c->op) {
        o.op = *c->op;
        o.fx = NAN;
        strcpy(o.source, "operator");
        strcpy(o.hvp, "the caller's operator");
        strcpy(o.what, "operator");
        rc = c->op->n && c->op->apply ? SGD_OK : sgd_error(SGD_EINVAL, "operator: need n >= 1 and apply");
    } else if (c->f) {
        rc = c->x ? hess_op_landscape(c->f, c->x, c->fd, c->fd_h, &o) : sgd_error(SGD_EINVAL, "--at: the point x is missing");
    } else {
        rc = hess_op_network(c, &o);
    }
    size_t m_eig = 0, m_slq = 0;
    if (!rc) rc = check_config(c, o.op.n, &m_eig, &m_slq);
    if (rc) {
        hess_op_free(&o);
        return rc;
    }
    r->n = o.op.n;
    r->fx = o.fx;
    memcpy(r->source, o.source, sizeof r->source);
    memcpy(r->hvp, o.hvp, sizeof r->hvp);
    memcpy(r->what, o.what, sizeof r->what);
    size_t k = c->top + c->bottom;
    counted cnt = {&o.op, 0, (k ? m_eig + k : 0) + c->trace_samples + c->density_runs * m_slq, progress, ctx, c};
    sgd_linop A = {o.op.n, counted_apply, &cnt};
    hess_keep kp = {c->keep_dir, 0, NAN};
    rc = hess_keep_open(&kp, c, &o);
    if (!rc && k) rc = eigen(c, &A, m_eig, r);
    r->confidence = c->confidence;
    if (!rc && c->trace_samples) rc = trace(c, &A, &cnt, &kp, &o, r);
    if (!rc && c->density_runs) rc = density(c, &A, m_slq, &cnt, &kp, &o, r);
    r->hvps = cnt.done;
    r->resumed = kp.resumed;
    if (c->keep_dir) snprintf(r->keep, sizeof r->keep, "%s", c->keep_dir);
    if (o.loss) r->fx = isnan(*o.loss) ? kp.fx : *o.loss; /* NaN: every product was kept */
    r->seconds = sgd_now() - t0;
    hess_op_free(&o);
    if (rc) sgd_hessian_result_free(r);
    return rc;
}
