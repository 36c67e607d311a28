/* The files of interp, surface and pca: CSV, .npy, summary.json,
 * manifest.json and gnuplot figures (.gp, .dat beside .png/.svg). */
#include "geometry/geometry_internal.h"
#include "sgdscape/io.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put(FILE *fp, double v, const char *sep)
{
    if (isnan(v)) fprintf(fp, "nan%s", sep);
    else fprintf(fp, "%.17g%s", v, sep);
}

/* DIR/NAME: the header line (comma-separated names; a .dat gets "# " and
 * spaces), then nrows rows of ncols values (row-major); in a .dat a blank
 * line after every `block` rows (gnuplot's grid format; 0: none). */
static int table(const char *dir, const char *name, const char *header, const double *v, size_t nrows, size_t ncols,
                 size_t block)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int dat = strstr(name, ".dat") != NULL;
    sgd_afile af;
    int rc = sgd_afile_open(&af, path);
    if (rc) return rc;
    if (dat) {
        fputs("# ", af.fp);
        for (const char *h = header; *h; h++) fputc(*h == ',' ? ' ' : *h, af.fp);
        fputc('\n', af.fp);
    } else {
        fprintf(af.fp, "%s\n", header);
    }
    for (size_t i = 0; i < nrows; i++) {
        for (size_t k = 0; k < ncols; k++) put(af.fp, v[i * ncols + k], k + 1 < ncols ? (dat ? " " : ",") : "\n");
        if (dat && block && (i + 1) % block == 0 && i + 1 < nrows) fputc('\n', af.fp);
    }
    return sgd_afile_commit(&af);
}

/* Both tables: NAME.csv and NAME.dat. */
static int tables(const char *dir, const char *name, const char *header, const double *v, size_t nrows, size_t ncols,
                  size_t block)
{
    char f[128];
    snprintf(f, sizeof f, "%s.csv", name);
    int rc = table(dir, f, header, v, nrows, ncols, block);
    snprintf(f, sizeof f, "%s.dat", name);
    return rc ? rc : table(dir, f, header, v, nrows, ncols, block);
}

static int figure(const char *dir, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int figure(const char *dir, const char *name, const char *fmt, ...)
{
    char gp[4096];
    int o = sgd_figure_preamble(gp, sizeof gp, 900, 640, SGD_FIGURE_FONTS);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(gp + o, sizeof gp - (size_t)o, fmt, ap);
    va_end(ap);
    int rendered;
    return sgd_figure_render(dir, name, gp, &rendered);
}

static int npy(const char *dir, const char *name, sgd_npy_dtype t, const void *data, int ndim, const size_t *shape)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return sgd_npy_write(path, t, data, ndim, shape);
}

static float *to_f32(const double *d, size_t n)
{
    float *f = malloc(n * sizeof *f);
    if (f)
        for (size_t i = 0; i < n; i++) f[i] = (float)d[i];
    return f;
}

static void source_manifest(sgd_json *m, const sgd_geom_source *s, const char *model, const char *data, size_t batch,
                            size_t batches, size_t images)
{
    sgd_json_str(m, "run", s->run ? s->run : "");
    sgd_json_str(m, "model", model);
    sgd_json_str(m, "data", data);
    sgd_json_int(m, "train_images", (long long)images);
    sgd_json_int(m, "batch", (long long)batch);
    sgd_json_int(m, "batches", (long long)batches);
    sgd_json_str(m, "bn", s->bn_recompute ? "recomputed (train-mode pass, equal weight per batch), then eval"
                          : s->bn == SGD_NN_EVAL ? "eval (running statistics)" : "train (batch statistics)");
    if (s->bn_recompute) sgd_json_int(m, "bn_batches", (long long)s->bn_batches);
    sgd_json_str(m, "buffers", s->buffers ? s->buffers : "");
    char sd[32];
    snprintf(sd, sizeof sd, "%llu", (unsigned long long)s->seed);
    sgd_json_str(m, "seed", sd);
}

/* The manifest's tail, then the points kept for a resume go: they are not
 * part of the result. */
static int kept_done(sgd_json *m, const char *dir, size_t resumed, const char *keep)
{
    sgd_json_int(m, "resumed_points", (long long)resumed);
    int rc = sgd_json_write_free(m, dir, "manifest.json");
    if (!rc && keep[0]) sgd_rundir_drop(keep, "point_");
    return rc;
}

static void path_json(sgd_json *j, const char *key, const sgd_interp_path *p)
{
    sgd_json *o = sgd_json_obj(j, key);
    sgd_json_num(o, "barrier", p->barrier);
    sgd_json_num(o, "barrier_alpha", p->barrier_alpha);
    sgd_json_bool(o, "monotone", p->monotone);
    sgd_json_bool(o, "increasing", p->increasing);
}

int sgd_interp_write(const char *dir, const sgd_interp_config *c, const sgd_interp_result *r)
{
    double *t = malloc(r->n * 5 * sizeof *t);
    if (!t) return sgd_error(SGD_ENOMEM, "out of memory");
    for (size_t i = 0; i < r->n; i++) {
        double row[5] = {r->alpha[i], r->train_loss[i], r->train_acc[i], r->val_loss[i], r->val_acc[i]};
        memcpy(t + i * 5, row, sizeof row);
    }
    size_t shape[2] = {r->n, 5};
    int rc = tables(dir, "interp", "alpha,train_loss,train_acc,val_loss,val_acc", t, r->n, 5, 0);
    if (!rc) rc = npy(dir, "interp.npy", SGD_NPY_F64, t, 2, shape);
    free(t);
    if (!rc)
        rc = figure(dir, "interp",
                    "set title 'f((1 - alpha) A + alpha B)'\nset xlabel 'alpha'\nset ylabel 'loss'\n"
                    "set y2label 'accuracy'\nset y2tics\nset ytics nomirror\nset key top center\n"
                    "set arrow from 0, graph 0 to 0, graph 1 nohead dt 2 lc rgb '#808080'\n"
                    "set arrow from 1, graph 0 to 1, graph 1 nohead dt 2 lc rgb '#808080'\n"
                    "plot 'interp.dat' using 1:2 with linespoints lw 2 pt 7 ps 0.5 lc rgb '#3060c0' title 'train loss'%s, "
                    "'' using 1:3 axes x1y2 with lines dt 3 lc rgb '#3060c0' title 'train accuracy'%s\n",
                    r->have_val ? ", '' using 1:4 with linespoints lw 2 pt 7 ps 0.5 lc rgb '#c03030' title 'validation loss'"
                                : "",
                    r->have_val ? ", '' using 1:5 axes x1y2 with lines dt 3 lc rgb '#c03030' title 'validation accuracy'"
                                : "");
    if (rc) return rc;
    sgd_json *s = sgd_json_new();
    sgd_json_num(s, "distance", r->dist);
    path_json(s, "train_loss", &r->train);
    if (r->have_val) path_json(s, "val_loss", &r->val);
    sgd_json_num(s, "seconds", r->seconds);
    if ((rc = sgd_json_write_free(s, dir, "summary.json"))) return rc;
    sgd_json *m = sgd_json_new();
    sgd_json_manifest_header(m, c->argc, c->argv, c->threads);
    sgd_json_str(m, "command", "interp");
    source_manifest(m, &c->src, r->model, r->data, r->batch, r->batches, r->train_images);
    sgd_json_int(m, "val_images", (long long)r->val_images);
    sgd_json_str(m, "a", r->a);
    sgd_json_str(m, "b", r->b);
    sgd_json_num(m, "alpha_lo", c->alpha_lo);
    sgd_json_num(m, "alpha_hi", c->alpha_hi);
    sgd_json_int(m, "points", (long long)r->n);
    sgd_json_int(m, "parameters", (long long)r->p);
    return kept_done(m, dir, r->resumed, r->keep);
}

static int surface_figures(const char *dir, const sgd_surface_result *r)
{
    /* the trajectory at the smallest loss: inside the colour range */
    char traj[256] = "";
    if (r->ntraj)
        snprintf(traj, sizeof traj, ", 'trajectory.dat' using 2:3:(%.17g) with linespoints nocontour lw 2 pt 7 ps 0.6 "
                 "lc rgb '#ffffff' notitle", r->min_loss);
    int rc = figure(dir, "surface_contour",
                    "set title 'train loss on X + alpha d_1 + beta d_2%s'\nset xlabel 'alpha'\nset ylabel 'beta'\n"
                    "set view map\nset size ratio -1\nset autoscale fix\nset pm3d at b\nset contour base\nset cntrparam levels 15\n"
                    "unset clabel\nunset key\n"
                    "splot 'surface.dat' using 1:2:3 with pm3d, '' using 1:2:3 with lines nosurface "
                    "lc rgb '#202020'%s\n",
                    r->ntraj ? " (white: the trajectory of the run)" : "", traj);
    if (rc) return rc;
    return figure(dir, "surface_3d",
                  "set title 'train loss on X + alpha d_1 + beta d_2'\nset xlabel 'alpha'\nset ylabel 'beta'\n"
                  "set zlabel 'loss' rotate\nset view 55, 35\nset ticslevel 0\nset pm3d\nset hidden3d\n"
                  "splot 'surface.dat' using 1:2:3 with pm3d notitle\n");
}

int sgd_surface_write(const char *dir, const sgd_surface_config *c, const sgd_surface_result *r)
{
    size_t N = r->nalpha * r->nbeta;
    double *t = malloc(N * 4 * sizeof *t), *s2 = malloc(N * 2 * sizeof *s2);
    float *d = to_f32(r->d, 2 * r->p);
    int rc = t && s2 && d ? SGD_OK : sgd_error(SGD_ENOMEM, "out of memory");
    for (size_t q = 0; q < N && !rc; q++) {
        double row[4] = {r->alpha[q / r->nbeta], r->beta[q % r->nbeta], r->loss[q], r->acc[q]};
        memcpy(t + q * 4, row, sizeof row);
        s2[2 * q] = r->loss[q];
        s2[2 * q + 1] = r->acc[q];
    }
    size_t shape[3] = {r->nalpha, r->nbeta, 2}, dshape[2] = {2, r->p};
    if (!rc) rc = tables(dir, "surface", "alpha,beta,train_loss,train_acc", t, N, 4, r->nbeta);
    if (!rc) rc = npy(dir, "surface.npy", SGD_NPY_F64, s2, 3, shape);
    if (!rc) rc = npy(dir, "directions.npy", SGD_NPY_F32, d, 2, dshape);
    free(t);
    free(s2);
    free(d);
    if (!rc && r->ntraj) {
        double *tr = malloc(r->ntraj * 4 * sizeof *tr);
        if (!tr) return sgd_error(SGD_ENOMEM, "out of memory");
        for (size_t k = 0; k < r->ntraj; k++) {
            double row[4] = {r->traj_epoch[k], r->traj_xy[2 * k], r->traj_xy[2 * k + 1], r->traj_resid[k]};
            memcpy(tr + k * 4, row, sizeof row);
        }
        rc = tables(dir, "trajectory", "epoch,alpha,beta,residual", tr, r->ntraj, 4, 0);
        free(tr);
    }
    if (!rc) rc = surface_figures(dir, r);
    if (rc) return rc;
    sgd_json *s = sgd_json_new();
    sgd_json_num(s, "center_loss", r->center_loss);
    sgd_json_num(s, "center_accuracy", r->center_acc);
    sgd_json_num(s, "min_loss", r->min_loss);
    sgd_json_num(s, "min_alpha", r->min_alpha);
    sgd_json_num(s, "min_beta", r->min_beta);
    sgd_json_nums(s, "direction_norms", r->dir_norm, 2);
    sgd_json_num(s, "direction_cos", r->dir_cos);
    sgd_json_num(s, "seconds", r->seconds);
    if ((rc = sgd_json_write_free(s, dir, "summary.json"))) return rc;
    static const char *const kinds[] = {"random filter-normalised", "files", "pca of the run's trajectory"};
    sgd_json *m = sgd_json_new();
    sgd_json_manifest_header(m, c->argc, c->argv, c->threads);
    sgd_json_str(m, "command", "surface");
    source_manifest(m, &c->src, r->model, r->data, r->batch, r->batches, r->train_images);
    sgd_json_str(m, "x", r->x);
    sgd_json_str(m, "directions", kinds[c->dirs]);
    if (c->dirs == SGD_DIRS_FILES) {
        sgd_json_str(m, "d1", c->dir_files[0]);
        sgd_json_str(m, "d2", c->dir_files[1]);
    }
    if (c->dirs == SGD_DIRS_RANDOM) {
        char sd[32];
        snprintf(sd, sizeof sd, "%llu", (unsigned long long)c->dir_seed);
        sgd_json_str(m, "dir_seed", sd);
        sgd_json_bool(m, "keep_bias_bn", c->keep_bias_bn);
    }
    double ra[2] = {c->alpha_lo, c->alpha_hi}, rb[2] = {c->beta_lo, c->beta_hi};
    sgd_json_nums(m, "alpha_range", ra, 2);
    sgd_json_nums(m, "beta_range", rb, 2);
    sgd_json_int(m, "nalpha", (long long)r->nalpha);
    sgd_json_int(m, "nbeta", (long long)r->nbeta);
    sgd_json_int(m, "parameters", (long long)r->p);
    return kept_done(m, dir, r->resumed, r->keep);
}

int sgd_pca_write(const char *dir, const sgd_pca_config *c, const sgd_pca_result *r)
{
    size_t k = r->ncomp, n = r->n;
    double *t = malloc((k > n ? k : n) * 4 * sizeof *t), cum = 0;
    if (!t) return sgd_error(SGD_ENOMEM, "out of memory");
    for (size_t i = 0; i < k; i++) {
        cum += r->ratio[i];
        double row[4] = {(double)(i + 1), r->variance[i], r->ratio[i], cum};
        memcpy(t + i * 4, row, sizeof row);
    }
    int rc = table(dir, "pca.csv", "component,variance,ratio,cumulative", t, k, 4, 0);
    for (size_t i = 0; i < n; i++) {
        double row[3] = {r->epoch[i], r->coords[2 * i], r->coords[2 * i + 1]};
        memcpy(t + i * 3, row, sizeof row);
    }
    if (!rc) rc = tables(dir, "path", "epoch,pc1,pc2", t, n, 3, 0);
    free(t);
    size_t dshape[2] = {2, r->p};
    if (!rc) rc = npy(dir, "directions.npy", SGD_NPY_F32, r->dirs, 2, dshape);
    if (!rc)
        rc = figure(dir, "pca_path",
                    "set title 'trajectory on its top two principal components (x_T at 0)'\n"
                    "set xlabel 'PC1 (%.1f%% of the variance)'\nset ylabel 'PC2 (%.1f%%)'\nset size ratio -1\n"
                    "plot 'path.dat' using 2:3 with linespoints lw 2 pt 7 ps 0.6 lc rgb '#3060c0' title 'x_t - x_T', "
                    "'' using 2:3:(sprintf('%%d', $1)) every 5 with labels offset 1,1 font ',8' notitle\n",
                    100 * r->ratio[0], 100 * r->ratio[1]);
    if (rc) return rc;
    sgd_json *s = sgd_json_new();
    sgd_json_nums(s, "explained_variance", r->variance, k);
    sgd_json_nums(s, "explained_ratio", r->ratio, k);
    sgd_json_int(s, "points", (long long)n);
    sgd_json_num(s, "seconds", r->seconds);
    if ((rc = sgd_json_write_free(s, dir, "summary.json"))) return rc;
    sgd_json *m = sgd_json_new();
    sgd_json_manifest_header(m, c->argc, c->argv, c->threads);
    sgd_json_str(m, "command", "pca");
    sgd_json_str(m, "run", c->run);
    sgd_json_str(m, "rows", "x_t - x_T for every stored epoch t and x_T, centred by their mean");
    sgd_json_int(m, "parameters", (long long)r->p);
    return sgd_json_write_free(m, dir, "manifest.json");
}
