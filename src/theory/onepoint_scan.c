/* Assumption 1 as an experiment: one check's files, and the check repeated
 * over eta or the noise level (the window where it holds). */
#include "sgdscape/dist.h"
#include "sgdscape/error.h"
#include "sgdscape/io.h"
#include "sgdscape/theory.h"
#include "theory/theory_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double sgd_onepoint_L(const sgd_landscape *f, const sgd_onepoint_result *r, const char **source)
{
    const char *src;
    double L;
    if (isfinite(f->L) && f->L > 0) {
        src = "landscape (global constant)";
        L = f->L;
    } else if (isfinite(r->L_hess) && r->L_hess > 0) {
        src = "max Hessian spectral norm over the points (estimate)";
        L = r->L_hess;
    } else {
        src = "lower bound from gradient differences (not an upper bound: Theorem 1 numbers are optimistic)";
        L = r->L_lower;
    }
    if (source) *source = src;
    return L;
}

void sgd_onepoint_verdict(const sgd_onepoint_config *c, const sgd_onepoint_result *r, char *buf, size_t n)
{
    const char *sampled = c->D.kind == SGD_DOMAIN_GRID ? "on the grid" : "on the sampled points";
    if (r->nfail == 0 && r->c_lower > 0)
        snprintf(buf, n, "holds %s with c >= %.6g at confidence %g (estimate c = %.6g)%s", sampled, r->c_lower,
                 c->confidence, r->c_hat,
                 c->D.kind == SGD_DOMAIN_GRID ? "" : "; the minimum over samples estimates the infimum over D");
    else if (r->nfail == 0)
        snprintf(buf, n, "inconclusive: every ratio > 0 (min %.6g) but error bars reach 0; use more samples",
                 r->c_hat);
    else
        snprintf(buf, n,
                 "fails at %zu of %zu points (ratio <= 0; %zu even at the interval's upper end), all within "
                 "||x - x*|| <= %.4g",
                 r->nfail, r->n - r->nexcluded, r->nfail_sure, r->fail_radius);
}

/* dir/name opened as an atomic file (written to a temporary, renamed on
 * commit: a failed write leaves no truncated file behind). */
static int open_atomic(const char *dir, const char *name, sgd_afile *af)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return sgd_afile_open(af, path) ? SGD_EIO : SGD_OK;
}

static int write_points(const char *dir, const sgd_onepoint_result *r)
{
    size_t d = r->d, dc = d <= 16 ? d : 1;
    char path[4400];
    sgd_afile af;
    snprintf(path, sizeof path, "%s/points.csv", dir);
    if (sgd_afile_open(&af, path)) return SGD_EIO;
    for (size_t i = 0; i < dc; i++) fprintf(af.fp, "x%zu,", i + 1);
    for (size_t i = 0; i < dc; i++) fprintf(af.fp, "y%zu,", i + 1);
    fprintf(af.fp, "ratio,ratio_err,f_ratio,fails\n");
    for (size_t j = 0; j < r->n; j++) {
        for (size_t i = 0; i < dc; i++) fprintf(af.fp, "%.17g,", r->x[j * d + i]);
        for (size_t i = 0; i < dc; i++) fprintf(af.fp, "%.17g,", r->y[j * d + i]);
        fprintf(af.fp, "%.17g,%.17g,%.17g,%d\n", r->ratio[j], r->ratio_err[j], r->f_ratio[j], r->ratio[j] <= 0);
    }
    return sgd_afile_commit(&af);
}

/* map.dat and the map figure (d = 1, 2). */
static int write_map(const char *dir, const sgd_onepoint_config *c, const sgd_onepoint_result *r)
{
    size_t d = r->d;
    sgd_afile af;
    if (open_atomic(dir, "map.dat", &af)) return SGD_EIO;
    for (size_t j = 0; j < r->n; j++) {
        if (isnan(r->ratio[j])) continue;
        fprintf(af.fp, "%.10g %.10g %.10g %.10g %d\n", r->x[j * d], d == 2 ? r->x[j * d + 1] : 0.0, r->ratio[j],
                r->ratio_err[j], r->ratio[j] <= 0);
    }
    if (sgd_afile_commit(&af)) return SGD_EIO;
    char script[2048];
    double eta = c->eta, level = c->eta * c->W.scale;
    int off = sgd_figure_preamble(script, sizeof script, d == 1 ? 900 : 800, d == 1 ? 520 : 700, 0);
    if (d == 1)
        snprintf(script + off, sizeof script - (size_t)off,
                 "set title \"%s: <-grad g(y), x*-y>/||x*-y||^2 at y = x - eta grad f(x); eta %g, level %g\" noenhanced\n"
                 "set xlabel 'x'\nset ylabel 'ratio'\nset grid\nset logscale y 10\nset key top left\n"
                 "set ylabel 'ratio (log scale; failing points at the bottom)'\n"
                 "floor_v = %.10g\n"
                 "plot 'map.dat' using 1:($5 == 0 ? $3 : 1/0) with points pt 7 ps 0.4 lc rgb '#1f77b4' title 'holds (ratio > 0)', \\\n"
                 "     'map.dat' using 1:($5 == 1 ? floor_v : 1/0) with points pt 7 ps 0.6 lc rgb '#d62728' title 'fails (ratio <= 0)'\n",
                 c->f->name, eta, level, r->c_hat > 0 ? r->c_hat / 2 : 1e-3);
    else
        snprintf(script + off, sizeof script - (size_t)off,
                 "set title \"%s: Assumption-1 ratio over D (red: fails); eta %g, level %g\" noenhanced\n"
                 "set xlabel 'x_1'\nset ylabel 'x_2'\nset size ratio -1\nset palette rgb 33,13,10\n"
                 "plot 'map.dat' using 1:2:($5 == 0 ? $3 : 1/0) with points pt 7 ps 0.5 palette notitle, \\\n"
                 "     'map.dat' using 1:2:($5 == 1 ? 0 : 1/0) with points pt 7 ps 0.7 lc rgb '#d62728' title 'fails'\n",
                 c->f->name, eta, level);
    int rendered;
    return sgd_figure_render(dir, "map", script, &rendered);
}

static int write_summary(const char *dir, const sgd_onepoint_config *c, const sgd_onepoint_result *r)
{
    const sgd_landscape *f = c->f;
    size_t d = r->d, m = r->n - r->nexcluded;
    const char *lsrc;
    double L = sgd_onepoint_L(f, r, &lsrc);
    char vt[512];
    sgd_onepoint_verdict(c, r, vt, sizeof vt);
    sgd_json *s = sgd_json_new();
    sgd_json_str(s, "verdict", vt);
    sgd_json_num(s, "eta", c->eta);
    sgd_json_num(s, "r", r->r);
    sgd_json_num(s, "noise_radius", c->W.scale);
    sgd_json_num(s, "noise_level", c->eta * c->W.scale);
    sgd_json_num(s, "c_hat", r->c_hat);
    sgd_json_num(s, "c_lower", r->c_lower);
    sgd_json_num(s, "c_upper", r->c_upper);
    sgd_json_num(s, "confidence", c->confidence);
    sgd_json_num(s, "point_confidence", r->point_confidence);
    sgd_json_str(s, "c_lower_meaning",
                 r->method == SGD_SMOOTH_MC ? "min over points of ratio - err, err from Bonferroni-corrected MC intervals"
                 : r->method == SGD_SMOOTH_QUAD ? "min over points of ratio - quadrature error estimate"
                                                : "exact grad g: c_lower = c_hat");
    sgd_json_bool(s, "domain_sampled", c->D.kind != SGD_DOMAIN_GRID);
    sgd_json_int(s, "points", (long long)m);
    sgd_json_int(s, "excluded", (long long)r->nexcluded);
    sgd_json_int(s, "nfail", (long long)r->nfail);
    sgd_json_int(s, "nfail_sure", (long long)r->nfail_sure);
    sgd_json_num(s, "fail_radius", r->fail_radius);
    sgd_json_num(s, "fail_fraction", (double)r->nfail / (double)m);
    sgd_json_nums(s, "argmin_x", r->x + r->argmin * d, d <= 1000 ? d : 1000);
    sgd_json_num(s, "L", L);
    sgd_json_str(s, "L_source", lsrc);
    sgd_json_num(s, "L_landscape", f->L);
    sgd_json_num(s, "L_hess", r->L_hess);
    sgd_json_num(s, "L_lower", r->L_lower);
    sgd_json_num(s, "cprime_max", r->cprime_max);
    sgd_json_str(s, "method", sgd_smooth_method_name(r->method));
    sgd_json_int(s, "mc_samples", (long long)r->mc_samples);
    if (r->method == SGD_SMOOTH_MC && c->sp.interval == SGD_SMOOTH_CI_HOEFFDING)
        sgd_json_str(s, "hoeffding_range", r->range_from_sample ? "sample range x 1.5 (estimate)" : "user-given");
    sgd_json_num(s, "seconds", r->seconds);
    return sgd_json_write_free(s, dir, "summary.json");
}

int sgd_onepoint_write(const char *dir, const sgd_onepoint_config *c, const sgd_onepoint_result *r)
{
    int rc = write_points(dir, r);
    if (!rc && r->d <= 2) rc = write_map(dir, c, r);
    if (!rc) rc = write_summary(dir, c, r);
    return rc;
}

/* ---- the scan ---- */

int sgd_onepoint_scan(const sgd_onepoint_scan_config *c, sgd_onepoint_scan_result *r, sgd_theory_progress_fn progress,
                      void *ctx)
{
    memset(r, 0, sizeof *r);
    r->holds_from = r->holds_to = NAN;
    if (!c->n) return sgd_error(SGD_EINVAL, "Assumption 1 scan: no values");
    r->row = calloc(c->n, sizeof *r->row);
    if (!r->row) return sgd_error(SGD_ENOMEM, "Assumption 1 scan: out of memory");
    double eta0 = c->check.eta, r0 = c->check.W.scale;
    for (size_t k = 0; k < c->n; k++) {
        sgd_onepoint_config ck = c->check;
        double v = c->values[k];
        ck.eta = c->kind == SGD_SCAN_ETA ? v : eta0;
        ck.W.scale = c->kind == SGD_SCAN_ETA ? r0 : v / eta0;
        sgd_onepoint_result res;
        int rc = sgd_onepoint_check_all(&ck, &res); /* MPI: the rows on every rank, written by rank 0 */
        if (rc) {
            sgd_onepoint_scan_free(r);
            return rc;
        }
        sgd_onepoint_scan_row *w = &r->row[k];
        r->n = k + 1;
        w->value = v;
        w->eta = ck.eta;
        w->r = ck.W.scale;
        w->c_hat = res.c_hat;
        w->c_lower = res.c_lower;
        w->nfail = res.nfail;
        w->points = res.n - res.nexcluded;
        w->fail_fraction = (double)res.nfail / (double)w->points;
        w->fail_radius = res.fail_radius;
        w->L = sgd_onepoint_L(c->check.f, &res, NULL);
        sgd_thm1_input in = {ck.eta, res.c_lower, w->L, res.r, 1.0, 1000};
        sgd_thm1 t;
        int holds = res.nfail == 0 && res.c_lower > 0;
        w->window = holds && sgd_bounds_theorem1(&in, &t) == SGD_OK;
        sgd_error_clear();
        w->lambda = w->window ? t.lambda : NAN;
        w->b = w->window ? t.b : NAN;
        w->radius2 = w->window ? t.radius2 : NAN;
        w->remark_scale = res.c_lower > 0 ? ck.eta * res.r * res.r / res.c_lower : NAN;
        if (holds) {
            if (isnan(r->holds_from) || v < r->holds_from) r->holds_from = v;
            if (isnan(r->holds_to) || v > r->holds_to) r->holds_to = v;
        }
        sgd_onepoint_result_free(&res);
        if (progress) progress(ctx, (double)(k + 1), (double)c->n);
    }
    if (sgd_dist_rank() != 0) sgd_onepoint_scan_free(r); /* rank 0 alone writes the rows */
    return sgd_dist_hand_off();
}

static int scan_table(const char *dir, const sgd_onepoint_scan_result *r)
{
    sgd_afile af, daf;
    if (open_atomic(dir, "scan.csv", &af)) return SGD_EIO;
    if (open_atomic(dir, "scan.dat", &daf)) {
        sgd_afile_abort(&af);
        return SGD_EIO;
    }
    FILE *dat = daf.fp;
    fprintf(af.fp, "value,eta,r,level,c_hat,c_lower,fail_fraction,nfail,points,L,theorem1_window,"
                   "lambda,b,radius2,fail_radius,remark_scale\n");
    for (size_t k = 0; k < r->n; k++) {
        const sgd_onepoint_scan_row *w = &r->row[k];
        fprintf(af.fp, "%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%zu,%zu,%.17g,%d,%.17g,%.17g,%.17g,%.17g,%.17g\n",
                w->value, w->eta, w->r, w->eta * w->r, w->c_hat, w->c_lower, w->fail_fraction, w->nfail, w->points,
                w->L, w->window, w->lambda, w->b, w->radius2, w->fail_radius, w->remark_scale);
        fprintf(dat, "%.10g %.10g %.10g %.10g\n", w->value, w->c_hat, w->c_lower, w->fail_fraction);
    }
    if (sgd_afile_commit(&daf)) {
        sgd_afile_abort(&af);
        return SGD_EIO;
    }
    return sgd_afile_commit(&af);
}

int sgd_onepoint_scan_write(const char *dir, const sgd_onepoint_scan_config *c, const sgd_onepoint_scan_result *r)
{
    int rc = scan_table(dir, r);
    if (rc) return rc;
    const char *what = c->kind == SGD_SCAN_ETA ? "eta" : "level";
    sgd_json *s = sgd_json_new();
    for (size_t k = 0; k < r->n; k++) {
        const sgd_onepoint_scan_row *w = &r->row[k];
        sgd_json *e = sgd_json_arr_obj(s, "scan");
        sgd_json_num(e, "value", w->value);
        sgd_json_num(e, "eta", w->eta);
        sgd_json_num(e, "r", w->r);
        sgd_json_num(e, "c_hat", w->c_hat);
        sgd_json_num(e, "c_lower", w->c_lower);
        sgd_json_num(e, "fail_fraction", w->fail_fraction);
        sgd_json_num(e, "radius2", w->radius2);
        sgd_json_num(e, "fail_radius", w->fail_radius);
        sgd_json_num(e, "remark_scale", w->remark_scale);
    }
    sgd_json_str(s, "scanned", what);
    sgd_json_num(s, "holds_from", r->holds_from);
    sgd_json_num(s, "holds_to", r->holds_to);
    rc = sgd_json_write_free(s, dir, "summary.json");
    if (rc) return rc;
    char script[2048];
    int off = sgd_figure_preamble(script, sizeof script, 900, 520, 0);
    snprintf(script + off, sizeof script - (size_t)off,
             "set title \"Assumption 1 on %s: c(%s), %s noise\" noenhanced\n"
             "set logscale x\nset xlabel '%s'\nset ylabel 'c (min ratio)'\nset y2label 'fraction failing'\n"
             "set ytics nomirror\nset y2tics\nset y2range [0:1]\nset grid\nset key bottom right\n"
             "plot 'scan.dat' using 1:2 with linespoints lw 2 title 'c estimate', \\\n"
             "     'scan.dat' using 1:3 with linespoints dt 2 title 'c lower bound', \\\n"
             "     'scan.dat' using 1:4 axes x1y2 with linespoints lc rgb '#d62728' title 'fraction with ratio <= 0', \\\n"
             "     0 with lines lc rgb 'black' notitle\n",
             c->check.f->name, what, sgd_noise_name(c->check.W.kind),
             c->kind == SGD_SCAN_ETA ? "eta" : "noise level eta r");
    int rendered;
    return sgd_figure_render(dir, "scan", script, &rendered);
}

void sgd_onepoint_scan_free(sgd_onepoint_scan_result *r)
{
    free(r->row);
    r->row = NULL;
    r->n = 0;
}
