/* Files of a branch run: branch.csv, inner.npy, distances.csv/.npy,
 * finals.csv, summary.json, manifest.json and two figures. */
#include "probes/probe_internal.h"
#include "sgdscape/branch.h"
#include "sgdscape/error.h"
#include "sgdscape/io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int open_in(sgd_afile *af, const char *dir, const char *name)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return sgd_afile_open(af, path);
}

static int write_tables(const char *dir, const sgd_branch_result *R)
{
    size_t B = R->branches, E1 = R->epochs;
    sgd_afile af;
    int rc = open_in(&af, dir, "branch.csv");
    if (rc) return rc;
    fputs("branch,epoch,loss,grad_norm,inner_self,inner_min,inner_mean,inner_max,nonpositive,nonpositive_others\n",
          af.fp);
    for (size_t k = 0; k < B * E1; k++) {
        const sgd_branch_row *r = &R->row[k];
        fprintf(af.fp, "%d,%d,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%d,%d\n", r->branch, r->epoch, r->loss,
                r->grad_norm, r->inner_self, r->inner_min, r->inner_mean, r->inner_max, r->nonpositive,
                r->nonpositive_others);
    }
    if ((rc = sgd_afile_commit(&af)) || (rc = open_in(&af, dir, "distances.csv"))) return rc;
    fputs("i,j,distance\n", af.fp);
    for (size_t i = 0; i < B; i++)
        for (size_t j = i + 1; j < B; j++) fprintf(af.fp, "%zu,%zu,%.17g\n", i, j, R->dist[i * B + j]);
    if ((rc = sgd_afile_commit(&af)) || (rc = open_in(&af, dir, "finals.csv"))) return rc;
    fprintf(af.fp, "branch,seed,loss,dist_start,dist_nearest%s\n", R->sharpness ? ",sharpness,sharpness_resid" : "");
    for (size_t i = 0; i < B; i++) {
        double near = INFINITY;
        for (size_t j = 0; j < B; j++)
            if (j != i) near = fmin(near, R->dist[i * B + j]);
        fprintf(af.fp, "%zu,%llu,%.17g,%.17g,%.17g", i, (unsigned long long)R->branch_seed[i], R->final_loss[i],
                R->dist_start[i], B > 1 ? near : NAN);
        if (R->sharpness) fprintf(af.fp, ",%.17g,%.17g", R->sharpness[i], R->sharpness_resid[i]);
        fputc('\n', af.fp);
    }
    return sgd_afile_commit(&af);
}

static int write_arrays(const char *dir, const sgd_branch_result *R)
{
    char path[4400];
    size_t s3[3] = {R->branches, R->epochs, R->branches}, s2[2] = {R->branches, R->branches};
    snprintf(path, sizeof path, "%s/inner.npy", dir);
    int rc = sgd_npy_write(path, SGD_NPY_F64, R->inner, 3, s3);
    snprintf(path, sizeof path, "%s/distances.npy", dir);
    return rc ? rc : sgd_npy_write(path, SGD_NPY_F64, R->dist, 2, s2);
}

/* branch_hist: the inner products in 60 bins over [min, max], all and j != i;
 * branch_heat: min over epochs of inner(i, t, j) on the (i, j) grid. */
static int write_figures(const char *dir, const sgd_branch_result *R)
{
    enum { NBIN = 60 };
    size_t B = R->branches, E1 = R->epochs, n = B * E1 * B, all[NBIN] = {0}, oth[NBIN] = {0};
    double lo = INFINITY, hi = -INFINITY;
    for (size_t k = 0; k < n; k++) {
        lo = fmin(lo, R->inner[k]);
        hi = fmax(hi, R->inner[k]);
    }
    double w = hi > lo ? (hi - lo) / NBIN : 1;
    for (size_t k = 0; k < n; k++) {
        size_t b = (size_t)((R->inner[k] - lo) / w);
        if (b >= NBIN) b = NBIN - 1;
        all[b]++;
        if (k % B != (k / (E1 * B))) oth[b]++; /* j = k mod B, i = k / (E1 B) */
    }
    sgd_afile af;
    int rc = open_in(&af, dir, "branch_hist.dat");
    if (rc) return rc;
    fprintf(af.fp, "# bin centre, count of all inner(i, t, j), count with j != i (bin width %.17g)\n", w);
    for (int b = 0; b < NBIN; b++) fprintf(af.fp, "%.17g %zu %zu\n", lo + (b + 0.5) * w, all[b], oth[b]);
    if ((rc = sgd_afile_commit(&af)) || (rc = open_in(&af, dir, "branch_heat.dat"))) return rc;
    fputs("# branch i, final j, min over epochs t of inner(i, t, j)\n", af.fp);
    double amax = 0;
    for (size_t i = 0; i < B; i++) {
        for (size_t j = 0; j < B; j++) {
            double mn = INFINITY;
            for (size_t t = 0; t < E1; t++) mn = fmin(mn, R->inner[(i * E1 + t) * B + j]);
            amax = fmax(amax, fabs(mn));
            fprintf(af.fp, "%zu %zu %.17g\n", i, j, mn);
        }
        fputc('\n', af.fp);
    }
    if ((rc = sgd_afile_commit(&af))) return rc;
    char gp[4096];
    int off = sgd_figure_preamble(gp, sizeof gp, 900, 560, SGD_FIGURE_FONTS), rendered;
    snprintf(gp + off, sizeof gp - (size_t)off,
             "set title 'Sec. 5.3: <-grad f(x_t^{(i)}), x_T^{(j)} - x_t^{(i)}> over branches i, epochs t, finals j'\n"
             "set xlabel 'inner product'\nset ylabel 'count'\nset grid\nset key top right\nset logscale y\n"
             "set yrange [0.7:*]\nset boxwidth %.17g absolute\nset arrow from 0, graph 0 to 0, graph 1 "
             "nohead dt 2 lc rgb 'black'\nplot 'branch_hist.dat' using 1:($2 > 0 ? $2 : 1/0) with boxes "
             "fs solid 0.35 noborder lc rgb '#3060c0' title 'all (i, t, j)', '' using 1:($3 > 0 ? $3 : 1/0) "
             "with boxes fs empty border lc rgb '#c03030' lc rgb '#c03030' lw 1.5 title 'j != i'\n",
             w);
    if ((rc = sgd_figure_render(dir, "branch_hist", gp, &rendered))) return rc;
    if (!(amax > 0)) amax = 1;
    off = sgd_figure_preamble(gp, sizeof gp, 700, 620, SGD_FIGURE_FONTS);
    snprintf(gp + off, sizeof gp - (size_t)off,
             "set title 'Sec. 5.3: min over epochs t of <-grad f(x_t^{(i)}), x_T^{(j)} - x_t^{(i)}>'\n"
             "set xlabel 'branch i'\nset ylabel 'final j'\nset size ratio -1\n"
             "set palette defined (-1 '#c03030', 0 'white', 1 '#3060c0')\nset cbrange [%.17g:%.17g]\n"
             "set xrange [-0.5:%zu.5]\nset yrange [-0.5:%zu.5]\n"
             "plot 'branch_heat.dat' using 1:2:3 with image notitle\n",
             -amax, amax, B - 1, B - 1);
    return sgd_figure_render(dir, "branch_heat", gp, &rendered);
}

static int write_summary(const char *dir, const sgd_branch_config *c, const sgd_branch_result *R)
{
    sgd_json *j = sgd_json_new();
    sgd_json_int(j, "branches", (long long)R->branches);
    sgd_json_int(j, "epochs", (long long)R->epochs);
    sgd_json_int(j, "shared_epochs", c->shared_epochs);
    sgd_json_int(j, "parameters", (long long)R->p);
    sgd_json *k = sgd_json_obj(j, "claims");
    sgd_json_int(k, "inner_count_others", (long long)R->count_others);
    sgd_json_int(k, "nonpositive_others", (long long)R->nonpositive_others);
    sgd_json_num(k, "fraction_nonpositive_others", R->frac_nonpositive_others);
    sgd_json_str(k, "fraction_nonpositive_others_paper",
                 "5.3: 2 of 343,000 = 49 x 140 x 50 not positive for the ~10K ResNet, 0.1% for the DenseNet");
    sgd_json_int(k, "inner_count", (long long)R->count);
    sgd_json_int(k, "nonpositive", (long long)R->nonpositive);
    sgd_json_num(k, "fraction_nonpositive", R->frac_nonpositive);
    sgd_json_num(k, "min_pairwise_distance", R->dist_min);
    sgd_json_str(k, "min_pairwise_distance_paper", "5.3: the 50 finals are far apart, minimum pairwise distance 40");
    sgd_json_num(j, "mean_pairwise_distance", R->dist_mean);
    sgd_json_num(j, "max_pairwise_distance", R->dist_max);
    sgd_json_num(j, "min_inner", R->inner_min);
    double fl = 0, ds = 0;
    for (size_t i = 0; i < R->branches; i++) {
        fl += R->final_loss[i];
        ds += R->dist_start[i];
    }
    sgd_json_num(j, "mean_final_loss", fl / (double)R->branches);
    sgd_json_num(j, "mean_dist_start", ds / (double)R->branches);
    return sgd_json_write_free(j, dir, "summary.json");
}

static int write_manifest(const char *dir, const sgd_branch_config *c, const sgd_branch_result *R)
{
    char s[32];
    sgd_json *m = sgd_json_new();
    sgd_json_manifest_header(m, c->argc, c->argv, c->threads);
    sgd_json_str(m, "command", "branch");
    sgd_json_str(m, "prefix", c->run ? c->run : "prefix (trained here)");
    sgd_json_str(m, "branch_point", "x/x_E0.npy of the prefix run, E0 = shared_epochs");
    sgd_json_str(m, "model", R->model);
    sgd_json_str(m, "data", R->data);
    sgd_json_int(m, "classes", R->classes);
    sgd_json_int(m, "parameters", (long long)R->p);
    sgd_json_int(m, "train_images", (long long)R->train_images);
    sgd_json_int(m, "shared_epochs", c->shared_epochs);
    sgd_json_int(m, "branches", c->branches);
    sgd_json_int(m, "epochs", c->epochs);
    sgd_json_num(m, "lr", c->lr);
    sgd_json_str(m, "lr_schedule", "const (prefix and branches)");
    sgd_json_int(m, "batch", (long long)R->batch);
    sgd_json_num(m, "momentum", R->momentum);
    sgd_json_num(m, "weight_decay", R->weight_decay);
    sgd_json_str(m, "momentum_start", R->momentum_from_prefix ? "the prefix's momentum buffer at E0"
                                      : R->momentum > 0    ? "zero (--fresh-momentum)"
                                                           : "none (momentum 0)");
    sgd_json_str(m, "buffers_start", R->buffers_from_prefix ? "the prefix's BN running statistics at E0"
                                                            : "initial (mean 0, var 1)");
    sgd_json_int(m, "crop_pad", R->crop);
    sgd_json_bool(m, "flip", R->flip);
    sgd_json_bool(m, "normalize", R->normalize);
    snprintf(s, sizeof s, "%llu", (unsigned long long)c->seed);
    sgd_json_str(m, "seed", s);
    sgd_json_str(m, "branch_seeds", "seed_i = Philox words 0,1 of (seed, SGD_RNG_BRANCH, stream i, step 0, index 0); "
                                    "finals.csv lists them");
    sgd_json_int(m, "batches", (long long)R->batches);
    sgd_json_int(m, "sharpness_steps", (long long)c->sharpness_steps);
    sgd_json_int(m, "sharpness_precision", c->sharpness_precision);
    sgd_json_str(m, "probe_set", "batches 0..K-1 of epoch 0 of the training split shuffled with the seed, "
                                 "no augmentation, BN with batch statistics (= sgdscape probe, grad --epoch 0)");
    sgd_json_int(m, "resumed_branches", (long long)R->resumed_branches);
    sgd_json_int(m, "resumed_rows", (long long)R->resumed_rows);
    sgd_json_int(m, "branch_epochs_trained", (long long)R->branch_epochs_trained);
    sgd_json_num(m, "train_seconds", R->train_seconds);
    sgd_json_num(m, "measure_seconds", R->measure_seconds);
    sgd_json_num(m, "seconds", R->seconds);
    return sgd_json_write_free(m, dir, "manifest.json");
}

int sgd_branch_write(const char *dir, const sgd_branch_config *c, const sgd_branch_result *R)
{
    int rc = write_tables(dir, R);
    if (!rc) rc = write_arrays(dir, R);
    if (!rc) rc = write_summary(dir, c, R);
    if (!rc) rc = write_manifest(dir, c, R);
    if (!rc) rc = write_figures(dir, R);
    if (!rc && R->rows_dir[0]) sgd_rundir_drop(R->rows_dir, "row_");
    return rc;
}
