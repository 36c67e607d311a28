/* Theorem 1 against simulated SGD: its promises (the radius at T1, staying
 * within delta up to T1 + T2) next to what the trials do, and Theorem 3's
 * step above and below its threshold. */
#include "sgdscape/dist.h"
#include "sgdscape/error.h"
#include "sgdscape/io.h"
#include "sgdscape/optim.h"
#include "sgdscape/theory.h"
#include "optim/trials_internal.h"
#include "theory/theory_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double sgd_stats_quantile(const double *s, size_t n, double q)
{
    if (n == 0) return NAN;
    double pos = q * (double)(n - 1);
    size_t i = (size_t)pos;
    if (i + 1 >= n) return s[n - 1];
    double w = pos - (double)i;
    return s[i] * (1 - w) + s[i + 1] * w;
}

void sgd_stats_wilson95(size_t k, size_t n, double *lo, double *hi)
{
    double z = 1.959963984540054, p = (double)k / (double)n, nn = (double)n;
    double den = 1 + z * z / nn, ctr = (p + z * z / (2 * nn)) / den;
    double h = z * sqrt(p * (1 - p) / nn + z * z / (4 * nn * nn)) / den;
    *lo = fmax(0, ctr - h);
    *hi = fmin(1, ctr + h);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void sgd_verify_defaults(sgd_verify_config *c, const sgd_landscape *f)
{
    memset(c, 0, sizeof *c);
    c->f = f;
    c->W = (sgd_noise){SGD_NOISE_BALL, 1.0, NULL, NULL};
    c->eta = 0.1;
    c->x_star = f ? f->x_star : NULL;
    c->c = c->L = NAN;
    c->c_source = "given";
    c->thm3_factor = 1.5;
    c->trials = c->T2 = 1000;
    c->max_cells = 2.5e7;
    c->seed = 1;
}

/* The trials' config: starts, noise and seed; the schedule is the caller's. */
static void trials_config(const sgd_verify_config *c, sgd_trials_config *t)
{
    sgd_trials_defaults(t, c->f);
    t->noise = c->W;
    t->ntrials = c->trials;
    t->seed = c->seed;
    t->threads = c->threads;
    t->x0 = c->x0;
    if (!c->x0) {
        t->start_lo = c->start_lo;
        t->start_hi = c->start_hi;
    }
}

static double dist2(size_t d, const double *y, const double *xs)
{
    double s = 0;
    for (size_t i = 0; i < d; i++) s += (y[i] - xs[i]) * (y[i] - xs[i]);
    return s;
}

/* Assumption 1 where the trials live: the start box, or the box around x* reaching x0. */
static int check_c(const sgd_verify_config *c, sgd_verify_result *r)
{
    size_t d = c->f->d;
    sgd_onepoint_config oc;
    sgd_onepoint_defaults(&oc, c->f);
    oc.W = c->W;
    oc.eta = c->eta;
    oc.x_star = c->x_star;
    oc.seed = c->seed;
    oc.D.kind = SGD_DOMAIN_BOX;
    double m = 0, xlo = INFINITY, xhi = -INFINITY;
    for (size_t i = 0; c->x0 && i < d; i++) {
        m = fmax(m, fabs(c->x0[i] - c->x_star[i]));
        xlo = fmin(xlo, c->x_star[i]);
        xhi = fmax(xhi, c->x_star[i]);
    }
    oc.D.lo = c->x0 ? xlo - m : c->start_lo;
    oc.D.hi = c->x0 ? xhi + m : c->start_hi;
    oc.D.n = 1000;
    sgd_onepoint_result res;
    int rc = sgd_onepoint_check_all(&oc, &res); /* every rank needs c for T1 */
    if (rc) return rc;
    r->c = res.c_lower;
    if (isnan(r->L)) r->L = res.L_hess;
    r->c_source = "Assumption-1 check on the start box (c_lower, 1000 points)";
    r->checked = 1;
    r->check_lo = oc.D.lo;
    r->check_hi = oc.D.hi;
    r->check_c_hat = res.c_hat;
    r->check_nfail = res.nfail;
    sgd_onepoint_result_free(&res);
    return SGD_OK;
}

/* max ||y_0 - x*||^2 over the starts, y_0 = x_0 - eta grad f(x_0). */
static int y0_dist2(const sgd_verify_config *c, double *out)
{
    const sgd_landscape *f = c->f;
    size_t d = f->d;
    *out = 0;
    if (c->x0) {
        double *g = malloc(d * sizeof(double)), *y = malloc(d * sizeof(double));
        if (!g || !y) {
            free(g);
            free(y);
            return sgd_error(SGD_ENOMEM, "out of memory");
        }
        f->fg(f, c->x0, g);
        for (size_t i = 0; i < d; i++) y[i] = c->x0[i] - c->eta * g[i];
        *out = dist2(d, y, c->x_star);
        free(g);
        free(y);
        return SGD_OK;
    }
    sgd_trials_config t;
    trials_config(c, &t);
    t.record_every = 1;
    sgd_trials_result r0 = {0};
    /* this rank's starts, then the max over ranks (exact, so the same bits) */
    int rc = sgd_schedule_parse("const", c->eta, c->W.scale, 1, &t.sched);
    if (!rc) rc = sgd_trials_run_slice(&t, &r0, NULL, NULL);
    if ((rc = sgd_dist_agree(rc))) {
        sgd_trials_result_free(&r0);
        return rc;
    }
    for (size_t j = 0; j < r0.ntrials; j++) *out = fmax(*out, dist2(d, r0.traj_y + (j * r0.nrec) * d, c->x_star));
    sgd_trials_result_free(&r0);
    return sgd_dist_max(out, 1);
}

int sgd_verify_prepare(const sgd_verify_config *c, sgd_verify_result *r)
{
    memset(r, 0, sizeof *r);
    if (c->W.kind != SGD_NOISE_BALL && c->W.kind != SGD_NOISE_CUBE)
        return sgd_error(SGD_EINVAL, "Theorem 1 needs bounded noise: --noise ball or cube");
    if (!c->x_star || c->trials < 1 || c->T2 < 1) return sgd_error(SGD_EINVAL, "verify: need x*, trials >= 1 and T2 >= 1");
    r->c = c->c;
    r->L = isnan(c->L) ? c->f->L : c->L;
    r->c_source = c->c_source;
    int rc = isnan(r->c) ? check_c(c, r) : SGD_OK;
    if (!rc) rc = y0_dist2(c, &r->y0_dist2);
    if (rc) return rc;
    r->in = (sgd_thm1_input){c->eta, r->c, r->L, sgd_noise_max_norm(&c->W, c->f->d), r->y0_dist2, (double)c->T2};
    if (sgd_bounds_theorem1(&r->in, &r->thm)) {
        char why[512];
        snprintf(why, sizeof why, "%s", sgd_errmsg());
        return sgd_error(SGD_EINVAL, "Theorem 1 does not apply: %s", why);
    }
    return SGD_OK;
}

/* ||y_t - x*||^2 of every trial (rows) at every record (columns) into D, inf where not finite. */
static void trial_dist2(const sgd_verify_config *c, const sgd_trials_result *tr, double *D)
{
    size_t d = c->f->d, nrec = tr->nrec;
    for (size_t j = 0; j < tr->ntrials; j++)
        for (size_t q = 0; q < nrec; q++) {
            double s = dist2(d, tr->traj_y + (j * nrec + q) * d, c->x_star);
            D[j * nrec + q] = isfinite(s) ? s : INFINITY;
        }
}

/* Per recorded row: mean and quantiles of ||y_t - x*||^2; per trial: at T1
 * and the max over the window. D: trial_dist2 of all trials (n x nrec). */
static int trial_stats(const sgd_verify_config *c, const double *D, const int *status, size_t nrec,
                       sgd_verify_result *r)
{
    size_t n = c->trials, k = r->record_every;
    size_t q1 = r->T1 / k, qe = (r->T1 + c->T2) / k;
    if (qe >= nrec) qe = nrec - 1;
    r->nrec = nrec;
    r->mean = calloc(nrec, sizeof(double));
    r->q50 = malloc(nrec * sizeof(double));
    r->q90 = malloc(nrec * sizeof(double));
    r->max = malloc(nrec * sizeof(double));
    double *D1 = malloc(n * sizeof(double)), *Dmax = malloc(n * sizeof(double)), *col = malloc(n * sizeof(double));
    int rc = !r->mean || !r->q50 || !r->q90 || !r->max || !D1 || !Dmax || !col;
    if (rc) rc = sgd_error(SGD_ENOMEM, "out of memory");
    double delta2 = r->thm.delta * r->thm.delta;
    for (size_t q = 0; !rc && q < nrec; q++) {
        for (size_t j = 0; j < n; j++) {
            double s = D[j * nrec + q];
            col[j] = s;
            r->mean[q] += s / (double)n;
            if (q == q1) D1[j] = Dmax[j] = s;
            else if (q > q1 && q <= qe) Dmax[j] = fmax(Dmax[j], s);
        }
        qsort(col, n, sizeof(double), cmp_d);
        r->q50[q] = sgd_stats_quantile(col, n, 0.5);
        r->q90[q] = sgd_stats_quantile(col, n, 0.9);
        r->max[q] = sgd_stats_quantile(col, n, 1.0);
    }
    for (size_t j = 0; !rc && j < n; j++) {
        int a = D1[j] <= r->thm.radius2, b = Dmax[j] <= delta2;
        r->in_radius += a;
        r->stay += b;
        r->joint += a && b;
        r->diverged += status[j] == SGD_TRIAL_DIVERGED;
        r->mean_T1 += D1[j] / (double)n;
    }
    if (!rc) {
        r->p_radius = (double)r->in_radius / (double)n;
        r->p_stay = (double)r->stay / (double)n;
        r->p_joint = (double)r->joint / (double)n;
        sgd_stats_wilson95(r->in_radius, n, &r->ci_radius[0], &r->ci_radius[1]);
        sgd_stats_wilson95(r->stay, n, &r->ci_stay[0], &r->ci_stay[1]);
        sgd_stats_wilson95(r->joint, n, &r->ci_joint[0], &r->ci_joint[1]);
        qsort(D1, n, sizeof(double), cmp_d);
        qsort(Dmax, n, sizeof(double), cmp_d);
        static const double qs[4] = {0.5, 0.9, 0.99, 1.0};
        for (int i = 0; i < 4; i++) r->dist2_T1[i] = sgd_stats_quantile(D1, n, qs[i]);
        r->window_max[0] = sgd_stats_quantile(Dmax, n, 0.5);
        r->window_max[1] = sgd_stats_quantile(Dmax, n, 1.0);
    }
    free(D1);
    free(Dmax);
    free(col);
    return rc;
}

/* One gradient step at thm3_x above and below Theorem 3's threshold. */
static int theorem3(const sgd_verify_config *c, sgd_verify_result *r)
{
    size_t d = c->f->d;
    const double *x = c->thm3_x ? c->thm3_x : c->x0;
    if (!x) return SGD_OK;
    double *g = malloc(d * sizeof(double));
    if (!g) return sgd_error(SGD_ENOMEM, "out of memory");
    c->f->fg(c->f, x, g);
    sgd_thm3 *th = &r->thm3_at;
    if (sgd_bounds_theorem3(d, x, g, c->x_star, NAN, NAN, th) == SGD_OK) {
        r->thm3 = 1;
        r->eta_above = th->eta_threshold > 0 ? c->thm3_factor * th->eta_threshold : c->thm3_factor;
        r->eta_below = 0.5 * th->eta_threshold;
        sgd_bounds_theorem3(d, x, g, c->x_star, NAN, r->eta_above, &r->thm3_above);
        sgd_bounds_theorem3(d, x, g, c->x_star, NAN, r->eta_below > 0 ? r->eta_below : NAN, &r->thm3_below);
    } else {
        r->eta_above = r->eta_below = NAN;
        sgd_error_clear();
    }
    free(g);
    return SGD_OK;
}

int sgd_verify_theorem1(const sgd_verify_config *c, sgd_verify_result *r, sgd_theory_progress_fn progress, void *ctx)
{
    size_t d = c->f->d;
    if (!(r->thm.T1 + (double)c->T2 <= 9007199254740992.0))
        return sgd_error(SGD_EINVAL, "T1 + T2 = %.4g steps is too many (at most 2^53)", r->thm.T1 + (double)c->T2);
    r->T1 = (size_t)r->thm.T1;
    size_t total = r->T1 + c->T2;
    double cells = (double)c->trials * (double)(total + 1) * (double)d;
    r->record_every = cells > c->max_cells ? (size_t)ceil(cells / c->max_cells) : 1;
    sgd_trials_config t;
    trials_config(c, &t);
    t.record_every = r->record_every;
    sgd_trials_result tr = {0};
    /* Under MPI: each rank's slice of the trials, reduced to its rows of
     * ||y_t - x*||^2 (not the d-dimensional trajectories), gathered to rank 0
     * in trial order for the statistics. */
    int rc = sgd_schedule_parse("const", c->eta, c->W.scale, total, &t.sched);
    if (!rc) rc = sgd_trials_run_slice(&t, &tr, progress, ctx);
    size_t n = c->trials, nrec = total / r->record_every + 1, lo, hi;
    sgd_dist_slice(n, &lo, &hi);
    const int root = sgd_dist_rank() == 0;
    double *D = malloc((root ? n : hi - lo) * nrec * sizeof(double) + 1);
    int *status = malloc((root ? n : hi - lo) * sizeof(int) + 1);
    if (!rc && (!D || !status)) rc = sgd_error(SGD_ENOMEM, "verify: out of memory for %zu x %zu distances", n, nrec);
    if (!rc) {
        double *mine = root ? D + lo * nrec : D;
        trial_dist2(c, &tr, mine);
        if (hi > lo) memcpy(root ? status + lo : status, tr.status, (hi - lo) * sizeof(int));
    }
    sgd_trials_result_free(&tr);
    rc = sgd_dist_agree(rc);
    if (!rc) {
        sgd_dist_gather(D, root ? D + lo * nrec : D, n, nrec * sizeof(double), 0);
        sgd_dist_gather(status, root ? status + lo : status, n, sizeof(int), 0);
    }
    if (!rc && root) rc = trial_stats(c, D, status, nrec, r);
    free(D);
    free(status);
    if (!rc && root) rc = theorem3(c, r);
    return rc ? rc : sgd_dist_hand_off();
}

void sgd_verify_result_free(sgd_verify_result *r)
{
    free(r->mean);
    free(r->q50);
    free(r->q90);
    free(r->max);
    r->mean = r->q50 = r->q90 = r->max = NULL;
}

static int write_table(const char *dir, const sgd_verify_result *r)
{
    const sgd_thm1 *t = &r->thm;
    double delta2 = t->delta * t->delta;
    const double *s1 = r->dist2_T1, *sm = r->window_max;
    char path[4400];
    sgd_afile af;
    snprintf(path, sizeof path, "%s/verify.csv", dir);
    if (sgd_afile_open(&af, path)) return SGD_EIO;
    FILE *o = af.fp;
    fprintf(o, "quantity,theory,observed,ci95_lo,ci95_hi\n");
    fprintf(o, "P(||y_T1-x*||^2 <= 20b/lambda),0.5,%.6g,%.6g,%.6g\n", r->p_radius, r->ci_radius[0], r->ci_radius[1]);
    fprintf(o, "P(||y_t-x*|| <= delta for T1..T1+T2),0.5,%.6g,%.6g,%.6g\n", r->p_stay, r->ci_stay[0], r->ci_stay[1]);
    fprintf(o, "P(both),0.5,%.6g,%.6g,%.6g\n", r->p_joint, r->ci_joint[0], r->ci_joint[1]);
    fprintf(o, "E||y_T1-x*||^2 (proof: <= 2b/lambda),%.10g,%.10g,,\n", 2 * t->floor, r->mean_T1);
    fprintf(o, "median ||y_T1-x*||^2 vs 20b/lambda,%.10g,%.10g,,\n", t->radius2, s1[0]);
    fprintf(o, "q90 ||y_T1-x*||^2,%.10g,%.10g,,\n", t->radius2, s1[1]);
    fprintf(o, "q99 ||y_T1-x*||^2,%.10g,%.10g,,\n", t->radius2, s1[2]);
    fprintf(o, "max ||y_T1-x*||^2,%.10g,%.10g,,\n", t->radius2, s1[3]);
    fprintf(o, "median max_t ||y_t-x*||^2 vs delta^2,%.10g,%.10g,,\n", delta2, sm[0]);
    fprintf(o, "max max_t ||y_t-x*||^2 vs delta^2,%.10g,%.10g,,\n", delta2, sm[1]);
    if (r->thm3) {
        fprintf(o, "thm3 eta_threshold,%.10g,,,\n", r->thm3_at.eta_threshold);
        fprintf(o, "thm3 ||x-x*||^2 before,,%.10g,,\n", r->thm3_at.dist2);
        fprintf(o, "thm3 ||x-x*||^2 after eta=%.6g (above),>= before,%.10g,,\n", r->eta_above,
                r->thm3_above.dist2_after);
        if (r->eta_below > 0)
            fprintf(o, "thm3 ||x-x*||^2 after eta=%.6g (below),,%.10g,,\n", r->eta_below, r->thm3_below.dist2_after);
    }
    return sgd_afile_commit(&af);
}

static int write_figure(const char *dir, const sgd_verify_config *c, const sgd_verify_result *r)
{
    const sgd_thm1 *t = &r->thm;
    char path[4400];
    sgd_afile af;   /* atomic: a failed write leaves no truncated verify.dat */
    snprintf(path, sizeof path, "%s/verify.dat", dir);
    if (sgd_afile_open(&af, path)) return SGD_EIO;
    for (size_t q = 0; q < r->nrec; q++) {
        double tt = (double)(q * r->record_every);
        double bound = t->floor + pow(1 - t->lambda, tt) * r->y0_dist2;
        fprintf(af.fp, "%.0f %.10g %.10g %.10g %.10g %.10g\n", tt, r->mean[q], r->q50[q], r->q90[q], r->max[q], bound);
    }
    if (sgd_afile_commit(&af)) return SGD_EIO;
    char script[3072];
    int off = sgd_figure_preamble(script, sizeof script, 960, 560, 0);
    snprintf(script + off, sizeof script - (size_t)off,
             "set title \"Theorem 1 on %s: ||y_t - x*||^2 over %zu trials (eta %g, r %g, c %.3g, L %.3g)\" noenhanced\n"
             "set logscale y\nset xlabel 't'\nset ylabel '||y_t - x*||^2'\nset grid\nset key right center opaque box\n"
             "set arrow from %zu, graph 0 to %zu, graph 1 nohead dt 3 lc rgb 'gray'\n"
             "set label 'T1' at %zu, graph 0.95 offset 0.5,0\n"
             "plot 'verify.dat' using 1:2 with lines lw 2 title 'mean', \\\n"
             "     'verify.dat' using 1:3 with lines title 'median', \\\n"
             "     'verify.dat' using 1:4 with lines title '90%%', \\\n"
             "     'verify.dat' using 1:5 with lines title 'max', \\\n"
             "     'verify.dat' using 1:6 with lines dt 2 lw 2 title 'proof: b/lambda + (1-lambda)^t d0', \\\n"
             "     %.10g with lines lw 2 lc rgb '#d62728' title '20b/lambda', \\\n"
             "     %.10g with lines lw 2 lc rgb '#9467bd' title 'delta^2'\n",
             c->f->name, c->trials, c->eta, c->W.scale, r->c, r->L, r->T1, r->T1, r->T1, t->radius2, t->delta * t->delta);
    int rendered;
    return sgd_figure_render(dir, "verify", script, &rendered);
}

static int write_summary(const char *dir, const sgd_verify_config *c, const sgd_verify_result *r)
{
    const sgd_thm1 *t = &r->thm;
    const double *s1 = r->dist2_T1;
    sgd_json *s = sgd_json_new();
    sgd_json_num(s, "eta", c->eta);
    sgd_json_num(s, "c", r->c);
    sgd_json_str(s, "c_source", r->c_source);
    sgd_json_num(s, "L", r->L);
    sgd_json_num(s, "r", r->in.r);
    sgd_json_num(s, "y0_dist2", r->y0_dist2);
    sgd_json_num(s, "lambda", t->lambda);
    sgd_json_num(s, "b", t->b);
    sgd_json_num(s, "T1", t->T1);
    sgd_json_int(s, "T2", (long long)c->T2);
    sgd_json_num(s, "radius2", t->radius2);
    sgd_json_num(s, "mu", t->mu);
    sgd_json_num(s, "delta", t->delta);
    sgd_json_num(s, "p_radius", r->p_radius);
    sgd_json_num(s, "p_radius_lo", r->ci_radius[0]);
    sgd_json_num(s, "p_radius_hi", r->ci_radius[1]);
    sgd_json_num(s, "p_stay", r->p_stay);
    sgd_json_num(s, "p_joint", r->p_joint);
    sgd_json_num(s, "mean_dist2_T1", r->mean_T1);
    sgd_json_nums(s, "dist2_T1_q50_q90_q99_max", s1, 4);
    sgd_json_num(s, "looseness_median", s1[0] > 0 ? t->radius2 / s1[0] : NAN);
    sgd_json_num(s, "looseness_max", s1[3] > 0 ? t->radius2 / s1[3] : NAN);
    sgd_json_num(s, "window_max_dist2_max", r->window_max[1]);
    sgd_json_int(s, "diverged", (long long)r->diverged);
    sgd_json_int(s, "record_every", (long long)r->record_every);
    if (r->thm3) {
        sgd_json_num(s, "thm3_eta_threshold", r->thm3_at.eta_threshold);
        sgd_json_num(s, "thm3_dist2_before", r->thm3_at.dist2);
        sgd_json_num(s, "thm3_eta_above", r->eta_above);
        sgd_json_num(s, "thm3_dist2_after_above", r->thm3_above.dist2_after);
        sgd_json_num(s, "thm3_eta_below", r->eta_below);
        sgd_json_num(s, "thm3_dist2_after_below", r->eta_below > 0 ? r->thm3_below.dist2_after : NAN);
    }
    return sgd_json_write_free(s, dir, "summary.json");
}

int sgd_verify_write(const char *dir, const sgd_verify_config *c, const sgd_verify_result *r)
{
    int rc = write_table(dir, r);
    if (!rc) rc = write_figure(dir, c, r);
    if (!rc) rc = write_summary(dir, c, r);
    return rc;
}
