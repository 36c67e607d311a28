/* Files of a spectrum run: spectrum.csv, inner.npy, summary.json,
 * manifest.json and Figure 6 (6a losses, 6b accuracies, 6c distances to the
 * initialisation, 6d one-point convexity) against the start epoch. */
#include "probes/probe_internal.h"
#include "sgdscape/error.h"
#include "sgdscape/io.h"
#include "sgdscape/spectrum.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#define COL(f) offsetof(sgd_spectrum_row, f)
#define XL "set xlabel 'start epoch s of the fine-tune'\n" /* in place of probe_figure's 'epoch t' */
static double col(const sgd_spectrum_row *r, size_t off) { return *(const double *)((const char *)r + off); }

static const char *const CSV_NAMES[] = {"train_loss", "train_acc", "val_loss",        "val_acc",
                                        "fit_loss",   "fit_acc",   "dist_init",       "dist_start",
                                        "start_dist_init", "onepoint_frac", "inner_min",
                                        "sharpness", "sharpness_resid"};
static const size_t CSV_COLS[] = {COL(train_loss), COL(train_acc), COL(val_loss),        COL(val_acc),
                                  COL(fit_loss),   COL(fit_acc),   COL(dist_init),       COL(dist_start),
                                  COL(start_dist_init), COL(onepoint_frac), COL(inner_min),
                                  COL(sharpness), COL(sharpness_resid)};
enum { NCOLS = sizeof CSV_COLS / sizeof CSV_COLS[0] }; /* the last two with sharpness_steps only */

static void put(FILE *fp, double v, const char *sep)
{
    if (isnan(v)) fprintf(fp, "nan%s", sep);
    else fprintf(fp, "%.17g%s", v, sep);
}

/* A table: "start" then the columns cols of every row; a .dat starts with "# ". */
static int write_table(const char *dir, const char *name, const sgd_spectrum_result *R, const size_t *cols, int ncols,
                       const char *const *names, int dat)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    sgd_afile af;
    int rc = sgd_afile_open(&af, path);
    if (rc) return rc;
    fprintf(af.fp, "%sstart", dat ? "# " : "");
    for (int k = 0; k < ncols; k++) fprintf(af.fp, "%s%s", dat ? " " : ",", names[k]);
    fputc('\n', af.fp);
    for (size_t i = 0; i < R->nstarts; i++) {
        fprintf(af.fp, "%d%s", R->row[i].start, dat ? " " : ",");
        for (int k = 0; k < ncols; k++) put(af.fp, col(&R->row[i], cols[k]), k + 1 < ncols ? (dat ? " " : ",") : "\n");
    }
    return sgd_afile_commit(&af);
}

#define LP "with linespoints lw 2 pt 7 ps 0.6"
#define TRAIN_VAL(f) XL "plot '" f ".dat' using 1:2 " LP " lc rgb '#3060c0' title 'train', '' using 1:3 " LP \
                        " lc rgb '#c03030' title 'validation'"

static int write_figures(const char *dir, const sgd_spectrum_result *R)
{
    static const struct {
        const char *name, *title, *ylabel, *plot, *cols[3];
        size_t off[3];
        int n;
    } F[4] = {
        {"fig6a", "Fig. 6a: loss of the local minimum reached from epoch s", "loss", TRAIN_VAL("fig6a"),
         {"train_loss", "val_loss"}, {COL(train_loss), COL(val_loss)}, 2},
        {"fig6b", "Fig. 6b: accuracy of the local minimum reached from epoch s", "accuracy", TRAIN_VAL("fig6b"),
         {"train_acc", "val_acc"}, {COL(train_acc), COL(val_acc)}, 2},
        {"fig6c", "Fig. 6c: distance from the local minimum to the initialisation", "distance",
         XL "set key top left\nplot 'fig6c.dat' using 1:2 " LP " lc rgb '#30a040' title '|x_{min} - x_0|', "
            "'' using 1:3 with lines dt 2 lc rgb '#808080' title '|x_s - x_0|', "
            "'' using 1:4 with lines dt 3 lc rgb '#c03030' title '|x_{min} - x_s|'",
         {"dist_init", "start_dist_init", "dist_start"}, {COL(dist_init), COL(start_dist_init), COL(dist_start)}, 3},
        {"fig6d", "Fig. 6d: one-point convexity of each fine-tune towards its own minimum", "fraction of epochs",
         XL "set yrange [0:1.05]\nset key bottom right\nplot 'fig6d.dat' using 1:2 " LP
            " lc rgb '#8040a0' title 'epochs with <-grad f(x_t), x_{min} - x_t> > 0'",
         {"onepoint_frac", "inner_min"}, {COL(onepoint_frac), COL(inner_min)}, 2}};
    int rc = SGD_OK;
    char dat[32];
    for (int k = 0; k < 4 && !rc; k++) {
        snprintf(dat, sizeof dat, "%s.dat", F[k].name);
        rc = write_table(dir, dat, R, F[k].off, F[k].n, F[k].cols, 1);
        if (!rc) rc = probe_figure(dir, F[k].name, F[k].title, F[k].ylabel, F[k].plot);
    }
    return rc;
}

static int write_summary(const char *dir, const sgd_spectrum_result *R)
{
    sgd_json *j = sgd_json_new();
    sgd_json_int(j, "minima", (long long)R->nstarts);
    sgd_json_int(j, "epochs_fine", (long long)R->epochs_fine);
    sgd_json_int(j, "parameters", (long long)R->p);
    sgd_json *c = sgd_json_obj(j, "claims");
    sgd_json_num(c, "spearman_start_train_loss", R->spearman_train_loss);
    sgd_json_num(c, "spearman_start_val_loss", R->spearman_val_loss);
    sgd_json_str(c, "loss_paper", "6a, 6b: later starts give minima with lower training and validation loss (< 0)");
    sgd_json_num(c, "spearman_start_dist_init", R->spearman_dist_init);
    sgd_json_str(c, "dist_init_paper", "6c: later starts give minima farther from the initialisation (> 0)");
    sgd_json_num(c, "fraction_minima_onepoint", R->frac_onepoint);
    sgd_json_num(c, "min_onepoint_fraction", R->min_onepoint_frac);
    sgd_json_str(c, "onepoint_paper", "every fine-tune trajectory is one point convex to its minimum (1)");
    if (!isnan(R->spearman_sharpness)) {
        sgd_json_num(c, "spearman_start_sharpness", R->spearman_sharpness);
        sgd_json_str(c, "sharpness_note", "not a claim of the paper: are later minima also flatter (< 0)?");
    }
    sgd_json_num(c, "min_pair_distance", R->min_pair_dist);
    sgd_json_num(c, "mean_pair_distance", R->mean_pair_dist);
    sgd_json_str(c, "pair_distance_paper", "the minima are not from the same region");
    double best = INFINITY, at = NAN;
    for (size_t i = 0; i < R->nstarts; i++)
        if (R->row[i].val_loss < best) {
            best = R->row[i].val_loss;
            at = R->row[i].start;
        }
    sgd_json_num(j, "best_val_loss", best);
    sgd_json_num(j, "best_val_loss_start", at);
    return sgd_json_write_free(j, dir, "summary.json");
}

static int write_manifest(const char *dir, const sgd_spectrum_config *c, const sgd_spectrum_result *R)
{
    char s[32];
    sgd_json *m = sgd_json_new();
    sgd_json_manifest_header(m, c->argc, c->argv, c->threads);
    sgd_json_str(m, "command", "spectrum");
    sgd_json_str(m, "base", c->run ? c->run : "base (trained here)");
    sgd_json_str(m, "model", R->model);
    sgd_json_str(m, "data", R->data);
    sgd_json_int(m, "parameters", (long long)R->p);
    sgd_json_int(m, "classes", R->classes);
    sgd_json_int(m, "train_images", (long long)R->train_images);
    sgd_json_int(m, "val_images", (long long)R->val_images);
    sgd_json_int(m, "epochs", R->epochs);
    sgd_json_num(m, "lr", R->lr);
    sgd_json_int(m, "batch", (long long)R->batch);
    sgd_json_num(m, "momentum", R->momentum);
    sgd_json_num(m, "weight_decay", R->weight_decay);
    sgd_json_int(m, "crop", R->crop);
    sgd_json_bool(m, "flip", R->flip);
    sgd_json_bool(m, "normalize", R->normalize);
    sgd_json_num(m, "lr_fine", c->lr_fine);
    sgd_json_int(m, "epochs_fine", c->epochs_fine);
    sgd_json_str(m, "fine_start", "x_s of the base run, momentum 0, BN buffers fresh (mean 0, var 1); the same "
                                  "seed for every fine-tune");
    double *e = malloc((R->nstarts + 1) * sizeof *e);
    if (e) {
        for (size_t k = 0; k < R->nstarts; k++) e[k] = R->row[k].start;
        sgd_json_nums(m, "starts", e, R->nstarts);
        for (size_t k = 0; k < R->nstarts; k++) e[k] = R->row[k].epoch_seconds;
        sgd_json_nums(m, "seconds_per_fine_epoch", e, R->nstarts);
        free(e);
    }
    sgd_json_int(m, "probe_batches", (long long)c->probe_batches);
    sgd_json_int(m, "sharpness_steps", (long long)c->sharpness_steps);
    sgd_json_int(m, "sharpness_precision", c->sharpness_precision);
    sgd_json_str(m, "onepoint", "sgd_probe_run (5.1) on each fine-tune: f on the probe set, x_T its final x");
    sgd_json_str(m, "train_eval", "train_loss/acc: whole training split at x_min, BN running statistics, no "
                                  "augmentation; fit_loss/acc: train.csv's last epoch");
    snprintf(s, sizeof s, "%llu", (unsigned long long)c->seed);
    sgd_json_str(m, "seed", s);
    sgd_json_bool(m, "base_trained", R->base_trained);
    sgd_json_int(m, "fine_trained", (long long)R->fine_trained);
    sgd_json_int(m, "fine_resumed", (long long)R->fine_resumed);
    sgd_json_int(m, "fine_reused", (long long)R->fine_reused);
    sgd_json_num(m, "seconds", R->seconds);
    return sgd_json_write_free(m, dir, "manifest.json");
}

int sgd_spectrum_write(const char *dir, const sgd_spectrum_config *c, const sgd_spectrum_result *R)
{
    char path[4400];
    int rc = write_table(dir, "spectrum.csv", R, CSV_COLS, c->sharpness_steps ? NCOLS : NCOLS - 2, CSV_NAMES, 0);
    size_t shape[2] = {R->nstarts, R->epochs_fine};
    snprintf(path, sizeof path, "%s/inner.npy", dir);
    if (!rc) rc = sgd_npy_write(path, SGD_NPY_F64, R->inner, 2, shape);
    if (!rc) rc = write_summary(dir, R);
    if (!rc) rc = write_manifest(dir, c, R);
    if (!rc) rc = write_figures(dir, R);
    return rc;
}
