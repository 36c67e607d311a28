/* g and grad g at many points: the `smooth` experiment as a library call. */
#include "smooth/smooth_internal.h"
#include "sgdscape/dist.h"
#include "sgdscape/error.h"
#include "sgdscape/io.h"
#include "sgdscape/smooth.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int sgd_smooth_grid(size_t d, double lo, double hi, size_t n, double **y, size_t *npoints)
{
    if (d < 1 || d > 2 || n < 1) return sgd_error(SGD_EINVAL, "smooth grid: want d = 1 or 2 and n >= 1");
    size_t np = d == 1 ? n : n * n;
    double *p = malloc(np * d * sizeof(double));
    if (!p) return sgd_error(SGD_ENOMEM, "out of memory for %zu points (%.3g GB)", np, (double)np * (double)d * 8e-9);
    double step = n > 1 ? (hi - lo) / (double)(n - 1) : 0;
    for (size_t j = 0; j < np; j++) {
        if (d == 1) p[j] = lo + step * (double)j;
        else {
            p[2 * j] = lo + step * (double)(j % n);
            p[2 * j + 1] = lo + step * (double)(j / n);
        }
    }
    *y = p;
    *npoints = np;
    return SGD_OK;
}

void sgd_smooth_points_free(sgd_smooth_points_result *r)
{
    free(r->pt);
    free(r->grad);
    free(r->grad_err);
    free(r->grad_exact);
    memset(r, 0, sizeof *r);
}

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The statistics over every point and component. */
static void points_stats(const sgd_smooth_points_config *c, sgd_smooth_points_result *r)
{
    size_t gd = r->gd;
    for (size_t j = 0; j < r->n; j++) {
        const sgd_smooth_point *p = &r->pt[j];
        r->samples_total += p->n;
        r->range_from_sample |= p->range_from_sample;
        r->quad_warnings += p->quad_status != 0;
        r->max_error = fmax(r->max_error, p->g_err);
        for (size_t i = 0; i < gd; i++) r->max_error = fmax(r->max_error, r->grad_err[j * gd + i]);
        if (!c->compare) continue;
        /* g first, then each gradient coordinate */
        for (size_t i = 0; i <= gd; i++) {
            double est = i ? r->grad[j * gd + i - 1] : p->g, err = i ? r->grad_err[j * gd + i - 1] : p->g_err;
            double exact = i ? r->grad_exact[j * gd + i - 1] : p->g_exact, diff = fabs(est - exact);
            r->max_diff = fmax(r->max_diff, diff);
            r->covered += diff <= err + 1e-12 * fabs(exact);
            r->compared++;
            if (err > 0) r->max_ratio = fmax(r->max_ratio, diff / err);
        }
    }
}

int sgd_smooth_points(const sgd_smooth_points_config *c, sgd_smooth_points_result *r,
                      void (*progress)(void *ctx, double done, double total), void *ctx)
{
    memset(r, 0, sizeof *r);
    const sgd_landscape *f = c->f;
    size_t d = f->d, np = c->n, gd = c->want_grad ? d : 0, ga = np * (gd ? gd : 1);
    int threads = c->threads > 0 ? c->threads : omp_get_max_threads();
    /* Under MPI: this rank's points, gathered below; with fewer points than
     * ranks every rank takes every point and Monte Carlo splits its chunks
     * instead (smooth_mc_dist.c). The count here sets the parallel loop. */
    size_t lo = 0, hi = np;
    const int split_mc = sgd_dist_size() > 1 && np < (size_t)sgd_dist_size();
    if (!split_mc) sgd_dist_slice(np, &lo, &hi);
    int outer_par = !split_mc && hi - lo >= 2 * (size_t)threads && hi - lo > 1, nws = outer_par ? threads : 1;
    r->n = np;
    r->d = d;
    r->gd = gd;
    r->method = c->sp.method;
    r->pt = calloc(np, sizeof *r->pt);
    r->grad = calloc(ga, sizeof(double));
    r->grad_err = calloc(ga, sizeof(double));
    r->grad_exact = calloc(ga, sizeof(double));
    int *status = calloc(np, sizeof(int));
    sgd_smooth_workspace **ws = calloc((size_t)nws, sizeof *ws);
    int rc = 0;
    if (!r->pt || !r->grad || !r->grad_err || !r->grad_exact || !status || !ws) rc = sgd_error(SGD_ENOMEM, "out of memory");
    for (int t = 0; !rc && t < nws; t++)
        if (!(ws[t] = sgd_smooth_workspace_alloc(d, c->sp.limit))) rc = SGD_ENOMEM;
    char errmsg[512] = "";
    sgd_smooth_params spx = c->sp;
    spx.method = SGD_SMOOTH_EXACT;
    double t0 = sgd_now(), c0 = cpu_now();
    size_t done = 0;
    double method0 = -1; /* the method at point 0, wherever it is */
    smooth_mc_split = split_mc;
    if (!rc) {
        #pragma omp parallel for schedule(dynamic, 1) if (outer_par) num_threads(nws)
        for (size_t j = lo; j < hi; j++) {
            sgd_smooth_workspace *w = ws[outer_par ? omp_get_thread_num() : 0];
            const double *y = c->y + j * d;
            sgd_smooth_point *p = &r->pt[j];
            sgd_smooth_params pj = c->sp;
            pj.stream = j;
            sgd_smooth_value v;
            memset(&v, 0, sizeof v);
            v.grad = gd ? r->grad + j * d : NULL;
            v.grad_err = gd ? r->grad_err + j * d : NULL;
            int e = sgd_smooth_eval(f, &c->W, c->eta, y, &pj, w, &v);
            if (!e && c->compare) {
                sgd_smooth_value x;
                memset(&x, 0, sizeof x);
                x.grad = gd ? r->grad_exact + j * d : NULL;
                e = sgd_smooth_eval(f, &c->W, c->eta, y, &spx, w, &x);
                p->g_exact = x.g;
            }
            if (e) {
                status[j] = e;
                #pragma omp critical(sgd_smooth_points_err)
                if (!errmsg[0]) snprintf(errmsg, sizeof errmsg, "at point %zu: %s", j, sgd_errmsg());
                continue;
            }
            p->g = v.g;
            p->g_err = v.g_err;
            size_t now;
            #pragma omp atomic capture
            now = ++done;
            if (progress && omp_get_thread_num() == 0) progress(ctx, (double)now, (double)(hi - lo));
            p->n = v.n;
            p->range_from_sample = v.range_from_sample;
            p->quad_status = v.quad_status;
            if (j == 0) method0 = (double)v.method;
        }
        for (size_t j = lo; j < hi && !rc; j++)
            if (status[j]) rc = sgd_error(status[j], "%s", errmsg);
    }
    smooth_mc_split = 0;
    r->cpu_seconds = cpu_now() - c0; /* this rank's */
    if (!(rc = sgd_dist_agree(rc)) && sgd_dist_size() > 1 && !split_mc) {
        sgd_dist_gather_inplace(r->pt, np, sizeof *r->pt, 0);
        for (double *a[3] = {r->grad, r->grad_err, r->grad_exact}, **p = a; gd && p < a + 3; p++)
            sgd_dist_gather_inplace(*p, np, gd * sizeof(double), 0);
        sgd_dist_max(&method0, 1);
        if (sgd_dist_rank() != 0) rc = sgd_dist_hand_off();
    }
    if (!rc && split_mc && sgd_dist_rank() != 0) rc = sgd_dist_hand_off();
    r->seconds = sgd_now() - t0; /* the job's: up to the last rank's points gathered */
    if (!rc && method0 >= 0) r->method = (sgd_smooth_method)method0;
    /* f(y) beside g(y): outside the timed estimate */
    for (size_t j = 0; j < np && !rc; j++) r->pt[j].f = f->fg(f, c->y + j * d, NULL);
    if (!rc) points_stats(c, r);
    for (int t = 0; ws && t < nws; t++) sgd_smooth_workspace_free(ws[t]);
    free(ws);
    free(status);
    if (rc) sgd_smooth_points_free(r);
    return rc ? rc : sgd_dist_hand_off();
}

static int write_csv(const char *dir, const sgd_smooth_points_config *c, const sgd_smooth_points_result *r)
{
    size_t d = r->d, gd = r->gd;
    char path[4400];
    sgd_afile af;
    snprintf(path, sizeof path, "%s/smooth.csv", dir);
    if (sgd_afile_open(&af, path)) return SGD_EIO;
    FILE *o = af.fp;
    size_t dcol = d <= 16 ? d : 0; /* wide points: print the first coordinate only */
    if (dcol)
        for (size_t i = 0; i < d; i++) fprintf(o, "y%zu,", i + 1);
    else
        fprintf(o, "y1,");
    fprintf(o, "f,g,g_err,n%s", c->compare ? ",g_exact" : "");
    size_t gcol = gd && gd <= 16 ? gd : 0;
    for (size_t i = 0; i < gcol; i++) fprintf(o, ",dg%zu,dg%zu_err", i + 1, i + 1);
    if (c->compare)
        for (size_t i = 0; i < gcol; i++) fprintf(o, ",dg%zu_exact", i + 1);
    fputc('\n', o);
    for (size_t j = 0; j < r->n; j++) {
        const sgd_smooth_point *p = &r->pt[j];
        for (size_t i = 0; i < (dcol ? dcol : 1); i++) fprintf(o, "%.17g,", c->y[j * d + i]);
        fprintf(o, "%.17g,%.17g,%.17g,%zu", p->f, p->g, p->g_err, p->n);
        if (c->compare) fprintf(o, ",%.17g", p->g_exact);
        for (size_t i = 0; i < gcol; i++) fprintf(o, ",%.17g,%.17g", r->grad[j * d + i], r->grad_err[j * d + i]);
        if (c->compare)
            for (size_t i = 0; i < gcol; i++) fprintf(o, ",%.17g", r->grad_exact[j * d + i]);
        fputc('\n', o);
    }
    return sgd_afile_commit(&af);
}

static int write_figure(const char *dir, const sgd_smooth_points_config *c, const sgd_smooth_points_result *r)
{
    size_t d = r->d;
    char path[4400];
    sgd_afile af;
    snprintf(path, sizeof path, "%s/smooth.dat", dir);
    if (sgd_afile_open(&af, path)) return SGD_EIO;
    for (size_t j = 0; j < r->n; j++) {
        const sgd_smooth_point *p = &r->pt[j];
        if (d == 2 && j > 0 && j % c->grid_n == 0) fputc('\n', af.fp);
        if (d == 1) fprintf(af.fp, "%.10g %.10g %.10g %.10g\n", c->y[j], p->f, p->g, p->g_err);
        else fprintf(af.fp, "%.10g %.10g %.10g %.10g\n", c->y[2 * j], c->y[2 * j + 1], p->f, p->g);
    }
    if (sgd_afile_commit(&af)) return SGD_EIO;
    char script[4096];
    const char *noise = sgd_noise_name(c->W.kind), *method = sgd_smooth_method_name(r->method);
    double level = c->eta * c->W.scale;
    int off = d == 1 ? sgd_figure_preamble(script, sizeof script, 900, 560, 0)
                     : sgd_figure_preamble(script, sizeof script, 1100, 500, 0);
    if (d == 1)
        snprintf(script + off, sizeof script - (size_t)off,
                 "set title \"%s: f and g(y) = E f(y - eta w), %s noise, eta r = %g (%s)\" noenhanced\n"
                 "set xlabel 'y'\nset ylabel 'value'\nset key top center\nset grid\n"
                 "plot 'smooth.dat' using 1:2 with lines lw 1 lc rgb '#999999' title 'f', \\\n"
                 "     'smooth.dat' using 1:3 with lines lw 2 lc rgb '#1f77b4' title 'g'%s\n",
                 c->f->name, noise, level, method,
                 r->method == SGD_SMOOTH_MC ? ", \\\n     'smooth.dat' every 10 using 1:3:4 with yerrorbars pt 0 lc "
                                              "rgb '#d62728' title 'interval'"
                                            : "");
    else
        snprintf(script + off, sizeof script - (size_t)off,
                 "set multiplot layout 1,2 title \"%s, %s noise, eta r = %g (%s)\" noenhanced\n"
                 "set view map\nset size ratio -1\nset xlabel 'y_1'\nset ylabel 'y_2'\nset palette rgb 33,13,10\n"
                 "set title 'f'\nsplot 'smooth.dat' using 1:2:3 with pm3d notitle\n"
                 "set title 'g'\nsplot 'smooth.dat' using 1:2:4 with pm3d notitle\n"
                 "unset multiplot\n",
                 c->f->name, noise, level, method);
    int rendered = 0;
    return sgd_figure_render(dir, "smooth", script, &rendered);
}

static int write_summary(const char *dir, const sgd_smooth_points_config *c, const sgd_smooth_points_result *r)
{
    sgd_json *s = sgd_json_new();
    sgd_json_str(s, "method", sgd_smooth_method_name(r->method));
    sgd_json_int(s, "points", (long long)r->n);
    sgd_json_int(s, "mc_samples_total", (long long)r->samples_total);
    sgd_json_num(s, "max_error", r->max_error);
    sgd_json_str(s, "error_meaning",
                 r->method == SGD_SMOOTH_MC ? "half-width of a two-sided interval at `confidence`"
                 : r->method == SGD_SMOOTH_QUAD ? "GSL quadrature error estimate"
                                                : "closed form (0)");
    if (r->method == SGD_SMOOTH_MC && c->sp.interval == SGD_SMOOTH_CI_HOEFFDING)
        sgd_json_str(s, "hoeffding_range",
                     r->range_from_sample ? "sample range x 1.5 (estimate, not a guarantee)" : "user-given bound");
    sgd_json_int(s, "quad_warnings", (long long)r->quad_warnings);
    if (c->compare) {
        sgd_json_num(s, "max_abs_diff_exact", r->max_diff);
        sgd_json_num(s, "max_diff_over_error", r->max_ratio);
        sgd_json_num(s, "coverage", r->compared ? (double)r->covered / (double)r->compared : NAN);
        sgd_json_int(s, "components_compared", (long long)r->compared);
    }
    sgd_json_num(s, "seconds", r->seconds);
    sgd_json_num(s, "cpu_seconds", r->cpu_seconds);
    return sgd_json_write_free(s, dir, "summary.json");
}

int sgd_smooth_points_write(const char *dir, const sgd_smooth_points_config *c, const sgd_smooth_points_result *r)
{
    int rc = write_csv(dir, c, r);
    if (!rc && r->d <= 2 && c->grid_n) rc = write_figure(dir, c, r);
    if (!rc) rc = write_summary(dir, c, r);
    return rc;
}
