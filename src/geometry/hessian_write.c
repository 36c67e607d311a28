/* Files of a hessian run: eigenvalues.csv, eigvecs_*.npy, trace.csv,
 * density.csv/.npy, slq_nodes.csv, the density figure, summary.json and
 * manifest.json. */
#include "geometry/hessian_internal.h"
#include "sgdscape/io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int path_in(const char *dir, const char *name, char *out, size_t n)
{
    if ((size_t)snprintf(out, n, "%s/%s", dir, name) >= n) return sgd_error(SGD_EINVAL, "%s/%s: path too long", dir, name);
    return SGD_OK;
}

static int open_in(const char *dir, const char *name, sgd_afile *af)
{
    char path[4400];
    int rc = path_in(dir, name, path, sizeof path);
    return rc ? rc : sgd_afile_open(af, path);
}

static int write_eigenvalues(const char *dir, const sgd_hessian_result *r)
{
    sgd_afile af;
    int rc = open_in(dir, "eigenvalues.csv", &af);
    if (rc) return rc;
    fprintf(af.fp, "end,k,eigenvalue,residual\n");
    for (size_t i = 0; i < r->ntop; i++) fprintf(af.fp, "top,%zu,%.17g,%.3e\n", i + 1, r->top[i], r->top_resid[i]);
    for (size_t i = 0; i < r->nbottom; i++)
        fprintf(af.fp, "bottom,%zu,%.17g,%.3e\n", i + 1, r->bottom[i], r->bottom_resid[i]);
    rc = sgd_afile_commit(&af);
    char path[4400];
    const double *v[2] = {r->top_vecs, r->bottom_vecs};
    const size_t k[2] = {r->ntop, r->nbottom};
    const char *name[2] = {"eigvecs_top.npy", "eigvecs_bottom.npy"};
    for (int e = 0; e < 2 && !rc; e++) {
        if (!v[e] || !k[e]) continue;
        size_t shape[2] = {k[e], r->n};
        if (!(rc = path_in(dir, name[e], path, sizeof path))) rc = sgd_npy_write(path, SGD_NPY_F64, v[e], 2, shape);
    }
    return rc;
}

static int write_trace(const char *dir, const sgd_hessian_result *r)
{
    sgd_afile af;
    int rc = open_in(dir, "trace.csv", &af);
    if (rc) return rc;
    fprintf(af.fp, "sample,zHz,running_mean\n");
    double acc = 0;
    for (size_t s = 0; s < r->trace_samples; s++) {
        acc += r->trace_sample[s];
        fprintf(af.fp, "%zu,%.17g,%.17g\n", s + 1, r->trace_sample[s], acc / (double)(s + 1));
    }
    return sgd_afile_commit(&af);
}

static int write_density(const char *dir, const sgd_hessian_result *r)
{
    sgd_afile af;
    int rc = open_in(dir, "density.csv", &af);
    if (rc) return rc;
    fprintf(af.fp, "t,density\n");
    for (size_t g = 0; g < r->grid; g++) fprintf(af.fp, "%.17g,%.17g\n", r->grid_t[g], r->density[g]);
    if ((rc = sgd_afile_commit(&af))) return rc;
    char path[4400];
    double *td = malloc(2 * r->grid * sizeof *td);
    if (!td) return sgd_error(SGD_ENOMEM, "out of memory");
    for (size_t g = 0; g < r->grid; g++) {
        td[2 * g] = r->grid_t[g];
        td[2 * g + 1] = r->density[g];
    }
    size_t shape[2] = {r->grid, 2};
    if (!(rc = path_in(dir, "density.npy", path, sizeof path))) rc = sgd_npy_write(path, SGD_NPY_F64, td, 2, shape);
    free(td);
    if (!rc) rc = open_in(dir, "slq_nodes.csv", &af);
    if (rc) return rc;
    fprintf(af.fp, "run,node,weight\n");
    for (size_t i = 0; i < r->density_runs * r->density_steps; i++)
        if (!isnan(r->slq_nodes[i]))
            fprintf(af.fp, "%zu,%.17g,%.17g\n", i / r->density_steps + 1, r->slq_nodes[i], r->slq_weights[i]);
    if ((rc = sgd_afile_commit(&af))) return rc;
    /* the figure: log density, as spectra span decades; the floor keeps gnuplot's log axis defined */
    double peak = 0;
    for (size_t g = 0; g < r->grid; g++) peak = fmax(peak, r->density[g]);
    if ((rc = open_in(dir, "density.dat", &af))) return rc;
    fprintf(af.fp, "# t density (floored at 1e-8 of the peak)\n");
    for (size_t g = 0; g < r->grid; g++) fprintf(af.fp, "%.10g %.10g\n", r->grid_t[g], fmax(r->density[g], 1e-8 * peak));
    if ((rc = sgd_afile_commit(&af))) return rc;
    char script[2048];
    int o = sgd_figure_preamble(script, sizeof script, 800, 500, SGD_FIGURE_FONTS);
    snprintf(script + o, sizeof script - (size_t)o,
             "set title 'Hessian spectral density (SLQ: %zu runs x %zu steps, sigma %.3g)'\n"
             "set autoscale xfix\nset xlabel 'eigenvalue'\nset ylabel 'density'\n"
             "set logscale y\nset format y '10^{%%L}'\nset grid\nunset key\n"
             "plot 'density.dat' using 1:2 with lines lw 2 lc rgb '#3060c0'\n",
             r->density_runs, r->density_steps, r->sigma);
    int rendered;
    return sgd_figure_render(dir, "density", script, &rendered);
}

static void put_config(sgd_json *m, const sgd_hessian_config *c, const sgd_hessian_result *r)
{
    sgd_json_str(m, "command", "hessian");
    sgd_json_str(m, "source", r->source);
    sgd_json_str(m, "point", r->what);
    sgd_json_str(m, "hvp", r->hvp);
    sgd_json_int(m, "n", (long long)r->n);
    if (!c->op && !c->f) {
        sgd_json_str(m, "model", c->model ? c->model : "");
        sgd_json_str(m, "weights", c->weights ? c->weights : "");
        sgd_json_str(m, "run", c->run ? c->run : "");
        sgd_json_str(m, "buffers", c->buffers ? c->buffers : "");
        sgd_json_str(m, "data", c->data ? c->data : "");
        sgd_json_int(m, "batches", (long long)c->batches);
        sgd_json_int(m, "batch", (long long)c->batch);
        sgd_json_int(m, "subset", (long long)c->subset);
        sgd_json_str(m, "bn", c->bn_eval ? "eval (running statistics)" : "train (batch statistics)");
        sgd_json_bool(m, "normalize", c->normalize);
        sgd_json_int(m, "precision", c->precision);
    }
    if (c->f && c->x) {
        sgd_json_str(m, "landscape", c->f->doc);
        sgd_json_nums(m, "at", c->x, c->f->d);
    }
    sgd_json_int(m, "top", (long long)c->top);
    sgd_json_int(m, "bottom", (long long)c->bottom);
    sgd_json_int(m, "lanczos_steps_max", (long long)c->lanczos_steps);
    sgd_json_num(m, "tol", c->tol);
    sgd_json_int(m, "trace_samples", (long long)c->trace_samples);
    sgd_json_num(m, "confidence", c->confidence);
    sgd_json_int(m, "density_runs", (long long)c->density_runs);
    sgd_json_int(m, "density_steps", (long long)r->density_steps);
    sgd_json_num(m, "sigma", r->density_runs ? r->sigma : c->sigma);
    sgd_json_int(m, "grid", (long long)c->grid);
    char s[32];
    snprintf(s, sizeof s, "%llu", (unsigned long long)c->seed);
    sgd_json_str(m, "seed", s);
    sgd_json_str(m, "random_vectors", "Rademacher, Philox counter (seed, domain 111, stream, step)");
}

static int write_summary(const char *dir, const sgd_hessian_result *r)
{
    sgd_json *j = sgd_json_new();
    sgd_json_int(j, "n", (long long)r->n);
    sgd_json_num(j, "f", r->fx);
    if (r->ntop + r->nbottom) {
        sgd_json *e = sgd_json_obj(j, "eigenvalues");
        sgd_json_str(e, "method", "Lanczos, full reorthogonalisation; top and bottom from one Krylov space");
        sgd_json_nums(e, "top", r->top, r->ntop);
        sgd_json_nums(e, "top_residual", r->top_resid, r->ntop);
        sgd_json_nums(e, "bottom", r->bottom, r->nbottom);
        sgd_json_nums(e, "bottom_residual", r->bottom_resid, r->nbottom);
        sgd_json_int(e, "lanczos_steps", (long long)r->lanczos_steps);
        sgd_json_bool(e, "converged", r->converged);
        if (r->ntop && r->nbottom && r->bottom[0] != 0) sgd_json_num(e, "condition_ratio", r->top[0] / r->bottom[0]);
    }
    if (r->trace_samples) {
        sgd_json *t = sgd_json_obj(j, "trace");
        sgd_json_str(t, "method", "Hutchinson, Rademacher vectors; Student-t interval with N-1 degrees of freedom");
        sgd_json_int(t, "samples", (long long)r->trace_samples);
        sgd_json_num(t, "estimate", r->trace);
        sgd_json_num(t, "standard_error", r->trace_se);
        sgd_json_num(t, "confidence", r->confidence);
        sgd_json_num(t, "lo", r->trace_lo);
        sgd_json_num(t, "hi", r->trace_hi);
    }
    if (r->density_runs) {
        sgd_json *d = sgd_json_obj(j, "density");
        sgd_json_str(d, "method", "stochastic Lanczos quadrature, Rademacher starts, Gaussian smoothing");
        sgd_json_int(d, "runs", (long long)r->density_runs);
        sgd_json_int(d, "steps", (long long)r->density_steps);
        sgd_json_num(d, "sigma", r->sigma);
        sgd_json_num(d, "mass", r->density_mass);
        sgd_json_num(d, "mean", r->density_mean);
        sgd_json_num(d, "trace_estimate", r->density_mean * (double)r->n);
    }
    sgd_json_int(j, "hessian_vector_products", (long long)r->hvps);
    return sgd_json_write_free(j, dir, "summary.json");
}

void sgd_hessian_print(FILE *o, const sgd_hessian_result *r, const char *out)
{
    fprintf(o, "hessian: %s, n = %zu, f = %.10g\n", r->what, r->n, r->fx);
    for (size_t i = 0; i < r->ntop; i++)
        fprintf(o, "  top %zu     %.15g  (residual %.2e)\n", i + 1, r->top[i], r->top_resid[i]);
    for (size_t i = 0; i < r->nbottom; i++)
        fprintf(o, "  bottom %zu  %.15g  (residual %.2e)\n", i + 1, r->bottom[i], r->bottom_resid[i]);
    if (r->ntop + r->nbottom)
        fprintf(o, "  Lanczos: %zu steps, %s\n", r->lanczos_steps, r->converged ? "converged" : "NOT converged to --tol");
    if (r->trace_samples)
        fprintf(o, "  trace     %.10g  (%g%% interval [%.10g, %.10g], %zu samples)\n", r->trace, 100 * r->confidence,
                r->trace_lo, r->trace_hi, r->trace_samples);
    if (r->density_runs)
        fprintf(o, "  density   %zu SLQ runs x %zu steps, sigma %.3g, mass %.6f, mean %.10g (n x mean %.10g)\n",
                r->density_runs, r->density_steps, r->sigma, r->density_mass, r->density_mean,
                r->density_mean * (double)r->n);
    fprintf(o, "  %zu Hessian-vector products, %.2f s%s -> %s/\n", r->hvps, r->seconds,
            r->resumed ? " (resumed)" : "", out);
}

int sgd_hessian_write(const char *dir, const sgd_hessian_config *c, const sgd_hessian_result *r)
{
    int rc = SGD_OK;
    if (r->ntop + r->nbottom) rc = write_eigenvalues(dir, r);
    if (!rc && r->trace_samples) rc = write_trace(dir, r);
    if (!rc && r->density_runs) rc = write_density(dir, r);
    if (!rc) rc = write_summary(dir, r);
    if (rc) return rc;
    sgd_json *m = sgd_json_new();
    sgd_json_manifest_header(m, c->argc, c->argv, c->threads);
    put_config(m, c, r);
    sgd_json_num(m, "seconds", r->seconds);
    sgd_json_int(m, "resumed_parts", (long long)r->resumed);
    if ((rc = sgd_json_write_free(m, dir, "manifest.json"))) return rc;
    if (r->keep[0]) { /* the kept parts are not part of the result */
        sgd_rundir_drop(r->keep, "trace_");
        sgd_rundir_drop(r->keep, "slq_");
    }
    return SGD_OK;
}
