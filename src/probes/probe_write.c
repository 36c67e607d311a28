/* Files of a probe run: probe.csv, neighbors.npy, summary.json,
 * manifest.json and Figures 5a, 5b, 5c. */
#include "probes/probe_internal.h"
#include "sgdscape/error.h"
#include "sgdscape/io.h"
#include "sgdscape/probes.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char CSV_HEADER[] = "trial,epoch,lr,loss,grad_norm,dist,inner,cos,nb_mean,nb_min,nb_max,nb_std,"
                                 "nb_hoeffding_lower,nb_clt_lower,sg_mean,sg_min,sg_max,step_bound\n";

static void put(FILE *fp, double v, const char *sep)
{
    if (isnan(v)) fprintf(fp, "nan%s", sep);
    else fprintf(fp, "%.17g%s", v, sep);
}

static int write_csv(const char *dir, const sgd_probe_result *R)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/probe.csv", dir);
    sgd_afile af;
    int rc = sgd_afile_open(&af, path);
    if (rc) return rc;
    fputs(CSV_HEADER, af.fp);
    for (size_t i = 0; i < R->trials * R->nepochs; i++) {
        const sgd_probe_row *r = &R->row[i];
        fprintf(af.fp, "%d,%d,", r->trial, r->epoch);
        const double v[16] = {r->lr,     r->loss,   r->grad_norm, r->dist, r->inner, r->cos,
                              r->nb_mean, r->nb_min, r->nb_max,   r->nb_std, r->nb_hoeffding_lower,
                              r->nb_clt_lower, r->sg_mean, r->sg_min, r->sg_max, r->step_bound};
        for (int k = 0; k < 16; k++) put(af.fp, v[k], k < 15 ? "," : "\n");
    }
    return sgd_afile_commit(&af);
}

/* Per epoch over the trials: min, mean and max of a column (offset into the row). */
static void over_trials(const sgd_probe_result *R, size_t k, size_t off, double *mn, double *mean, double *mx)
{
    *mn = INFINITY;
    *mx = -INFINITY;
    double s = 0;
    for (size_t i = 0; i < R->trials; i++) {
        double v = *(const double *)((const char *)&R->row[i * R->nepochs + k] + off);
        *mn = fmin(*mn, v);
        *mx = fmax(*mx, v);
        s += v;
    }
    *mean = s / (double)R->trials;
}

#define COL(f) offsetof(sgd_probe_row, f)

/* NAME.dat: epoch, then for each column the (min, mean, max) over trials. */
static int write_dat(const char *dir, const char *name, const sgd_probe_result *R, const size_t *cols, int ncols,
                     const char *header)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s.dat", dir, name);
    sgd_afile af;
    int rc = sgd_afile_open(&af, path);
    if (rc) return rc;
    fprintf(af.fp, "# %s\n", header);
    for (size_t k = 0; k < R->nepochs; k++) {
        fprintf(af.fp, "%d", R->epoch[k]);
        for (int c = 0; c < ncols; c++) {
            double mn, mean, mx;
            over_trials(R, k, cols[c], &mn, &mean, &mx);
            fprintf(af.fp, " %.17g %.17g %.17g", mn, mean, mx);
        }
        fputc('\n', af.fp);
    }
    return sgd_afile_commit(&af);
}

int probe_figure(const char *dir, const char *name, const char *title, const char *ylabel, const char *plot)
{
    char gp[4096];
    int off = sgd_figure_preamble(gp, sizeof gp, 900, 560, SGD_FIGURE_FONTS);
    snprintf(gp + off, sizeof gp - (size_t)off,
             "set title '%s'\nset xlabel 'epoch t'\nset ylabel '%s'\nset grid\nset key top right\n"
             "set datafile missing 'nan'\n%s\n",
             title, ylabel, plot);
    int rendered;
    return sgd_figure_render(dir, name, gp, &rendered);
}

static int write_figures(const char *dir, const sgd_probe_result *R)
{
    const size_t a[1] = {COL(inner)};
    const size_t b[3] = {COL(nb_mean), COL(nb_min), COL(nb_max)};
    const size_t c[4] = {COL(sg_mean), COL(sg_min), COL(sg_max), COL(step_bound)};
    int rc = write_dat(dir, "fig5a", R, a, 1, "epoch, inner: min mean max over trials");
    if (!rc) rc = probe_figure(dir, "fig5a", "Fig. 5a: <-grad f(x_t), x_T - x_t>, minimum over trials", "inner product",
                         "plot 'fig5a.dat' using 1:2 with linespoints lw 2 pt 7 ps 0.5 lc rgb '#c03030' "
                         "title 'min over trials', 0 with lines dt 2 lc rgb 'black' notitle");
    if (!rc) rc = write_dat(dir, "fig5b", R, b, 3, "epoch, nb_mean, nb_min, nb_max: each min mean max over trials");
    if (!rc)
        rc = probe_figure(dir, "fig5b", "Fig. 5b: <-grad f(w), x_T - x_t>, w uniform in the ball around x_t",
                    "inner product",
                    "set style fill transparent solid 0.3 noborder\n"
                    "plot 'fig5b.dat' using 1:5:10 with filledcurves lc rgb '#3060c0' title 'min-max', "
                    "'' using 1:3 with lines lw 2 lc rgb '#3060c0' title 'mean', "
                    "0 with lines dt 2 lc rgb 'black' notitle");
    if (!rc)
        rc = write_dat(dir, "fig5c", R, c, 4,
                       "epoch, sg_mean, sg_min, sg_max, step_bound: each min mean max over trials");
    if (!rc)
        rc = probe_figure(dir, "fig5c", "Fig. 5c: norm of the stochastic gradient", "|g|",
                    "set style fill transparent solid 0.3 noborder\nset y2label 'lr_t max |g|'\nset y2tics\n"
                    "plot 'fig5c.dat' using 1:5:10 with filledcurves lc rgb '#30a040' title 'min-max', "
                    "'' using 1:3 with lines lw 2 lc rgb '#30a040' title 'mean', "
                    "'' using 1:13 axes x1y2 with lines dt 3 lc rgb '#c03030' title 'step bound (y2)'");
    return rc;
}

static int write_summary(const char *dir, const sgd_probe_result *R)
{
    sgd_json *j = sgd_json_new();
    sgd_json_int(j, "trials", (long long)R->trials);
    sgd_json_int(j, "epochs", (long long)R->nepochs);
    sgd_json_int(j, "points", (long long)R->points);
    sgd_json_int(j, "parameters", (long long)R->p);
    sgd_json *c = sgd_json_obj(j, "claims");
    sgd_json_num(c, "fraction_epochs_ge5_min_inner_positive", R->frac_min_inner_pos_5);
    sgd_json_str(c, "fraction_epochs_ge5_min_inner_positive_paper",
                 "5.1: the inner product is positive for every epoch t >= 5 (minimum over 5 trials)");
    sgd_json_num(c, "fraction_epochs_neighborhood_min_positive", R->frac_nb_min_pos);
    sgd_json_str(c, "fraction_epochs_neighborhood_min_positive_paper",
                 "5.2: every inner product in the radius-0.5 neighbourhood is positive");
    sgd_json_num(c, "fraction_epochs_hoeffding_lower_positive", R->frac_nb_hoeffding_pos);
    sgd_json_num(c, "max_step_bound", R->max_step_bound);
    sgd_json_str(c, "max_step_bound_paper", "5c: lr_t max|g| <= 0.5, the radius of 5.2");
    double mi = INFINITY, mnb = INFINITY;
    for (size_t i = 0; i < R->trials * R->nepochs; i++) {
        mi = fmin(mi, R->row[i].inner);
        mnb = fmin(mnb, R->row[i].nb_min);
    }
    sgd_json_num(j, "min_inner", mi);
    sgd_json_num(j, "min_neighborhood_inner", mnb);
    return sgd_json_write_free(j, dir, "summary.json");
}

static int write_manifest(const char *dir, const sgd_probe_config *c, const sgd_probe_result *R)
{
    char path[4400], s[32];
    sgd_json *m = sgd_json_new();
    sgd_json_manifest_header(m, c->argc, c->argv, c->threads);
    sgd_json_str(m, "command", "probe");
    for (size_t i = 0; i < c->nruns; i++) {
        sgd_json *t = sgd_json_arr_obj(m, "trials");
        sgd_json_str(t, "run", c->runs[i]);
        sgd_json_str(t, "target", c->target ? c->target : "x.npy of the run");
    }
    if (c->traj) {
        sgd_json_str(m, "traj", c->traj);
        sgd_json_str(m, "target", c->target);
    }
    sgd_json_str(m, "model", R->model);
    sgd_json_str(m, "data", R->data);
    sgd_json_int(m, "classes", R->classes);
    sgd_json_int(m, "parameters", (long long)R->p);
    sgd_json_int(m, "probe_images", (long long)R->probe_images);
    sgd_json_bool(m, "normalize", R->normalize);
    sgd_json_int(m, "batch", (long long)R->batch);
    sgd_json_int(m, "batches", (long long)R->batches);
    sgd_json_str(m, "probe_set", "batches 0..K-1 of epoch 0 of the training split shuffled with the seed, "
                                 "no augmentation, BN with batch statistics (= sgdscape grad --epoch 0)");
    sgd_json_int(m, "points", (long long)c->points);
    sgd_json_num(m, "radius", c->radius);
    sgd_json_num(m, "confidence", c->confidence);
    sgd_json_str(m, "hoeffding", "Lemma 6 with [a, b] the observed [min, max] of the points");
    sgd_json_int(m, "sg_batches", (long long)c->sg_batches);
    sgd_json_str(m, "sg", "mini-batch j of epoch 1+t+j/nb of the seed's shuffle, full batches, no augmentation");
    double *e = malloc((R->nepochs + 1) * sizeof *e);
    if (e) {
        for (size_t k = 0; k < R->nepochs; k++) e[k] = R->epoch[k];
        sgd_json_nums(m, "epochs", e, R->nepochs);
        free(e);
    }
    snprintf(s, sizeof s, "%llu", (unsigned long long)c->seed);
    sgd_json_str(m, "seed", s);
    sgd_json_int(m, "resumed_rows", (long long)R->resumed_rows);
    sgd_json_num(m, "seconds", R->seconds);
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    int rc = sgd_json_write(m, path);
    sgd_json_free(m);
    return rc;
}

int sgd_probe_write(const char *dir, const sgd_probe_config *c, const sgd_probe_result *R)
{
    char path[4400];
    int rc = write_csv(dir, R);
    size_t shape[3] = {R->trials, R->nepochs, R->points};
    snprintf(path, sizeof path, "%s/neighbors.npy", dir);
    if (!rc) rc = sgd_npy_write(path, SGD_NPY_F64, R->neighbors, 3, shape);
    if (!rc) rc = write_summary(dir, R);
    if (!rc) rc = write_manifest(dir, c, R);
    if (!rc) rc = write_figures(dir, R);
    if (!rc && R->rows_dir[0]) sgd_rundir_drop(R->rows_dir, "row_");
    return rc;
}
