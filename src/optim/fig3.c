/* Figure 3 of the paper, reproduced on the spiky landscape (or any 1-D f). */
#include "sgdscape/fig3.h"
#include "optim/trials_internal.h"
#include "sgdscape/dist.h"
#include "sgdscape/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void sgd_fig3_defaults(sgd_fig3_config *c, const sgd_landscape *f)
{
    memset(c, 0, sizeof *c);
    c->f = f;
    c->eta = 0.01;
    c->level[0] = 0.04;
    c->level[1] = 0.13;
    c->level[2] = 0.8;
    c->stage_level[0] = 0.04;
    c->stage_level[1] = 0.02;
    c->stage_level[2] = 0.01;
    c->stage_lo = -1.5;
    c->stage_hi = 1.5;
    c->steps = 20000;
    c->trials = 100;
    c->start_lo = -6;
    c->start_hi = 6;
    c->seed = 1;
}

void sgd_fig3_result_free(sgd_fig3_result *r)
{
    for (int p = 0; p < SGD_FIG3_PANELS; p++) sgd_trials_result_free(&r->panel[p].res);
}

typedef struct prog_ctx {
    sgd_trials_progress_fn fn;
    void *ctx;
    int panel;
} prog_ctx;

static void panel_progress(void *ctx, double done, double total)
{
    prog_ctx *pc = ctx;
    if (pc->fn) pc->fn(pc->ctx, pc->panel + done / total, SGD_FIG3_PANELS);
}

/* Stage k (0-based) of a multi-stage run as a result of its own: the same
 * numbers a run of stages 1..k alone gives, since every draw is addressed by
 * (trial, step), so row 3 runs its three stages once. */
static int stage_result(const sgd_trials_result *full, size_t k, size_t steps_done, const sgd_landscape *f,
                        double eta, sgd_trials_result *out)
{
    size_t n = full->ntrials, d = full->d;
    memset(out, 0, sizeof *out);
    out->d = d;
    if (n == 0) return SGD_OK; /* an MPI rank without trials */
    double *g = malloc(d * sizeof(double));
    if (!g || sgd_trials_result_alloc(out, n, d, 0, 0)) {
        free(g);
        return sgd_error(SGD_ENOMEM, "fig3: out of memory");
    }
    memcpy(out->x_start, full->x_start, n * d * sizeof(double));
    memcpy(out->x_final, full->stage_x + k * n * d, n * d * sizeof(double));
    for (size_t t = 0; t < n; t++) {
        const double *x = out->x_final + t * d;
        out->f_final[t] = f->fg(f, x, g);
        int finite = 1;
        for (size_t i = 0; i < d; i++) {
            out->y_final[t * d + i] = x[i] - eta * g[i];
            finite &= isfinite(x[i]);
        }
        out->status[t] = finite ? SGD_TRIAL_DONE : SGD_TRIAL_DIVERGED;
        out->steps[t] = full->steps[t] < steps_done ? full->steps[t] : steps_done;
    }
    free(g);
    return SGD_OK;
}

int sgd_fig3_run(const sgd_fig3_config *c, sgd_fig3_result *r, sgd_trials_progress_fn progress, void *ctx)
{
    memset(r, 0, sizeof *r);
    if (!c->f || c->f->d != 1) return sgd_error(SGD_EINVAL, "fig3: the landscape must be 1-D");
    if (!(c->eta > 0) || !isfinite(c->eta)) return sgd_error(SGD_EINVAL, "--eta: must be a finite number > 0");
    for (int k = 0; k < 3; k++)
        if (!(c->level[k] > 0) || !isfinite(c->level[k]) || !(c->stage_level[k] > 0) || !isfinite(c->stage_level[k]))
            return sgd_error(SGD_EINVAL, "--levels/--stage-levels: noise levels must be finite and > 0");
    if (c->steps < 3) return sgd_error(SGD_EINVAL, "--steps: need at least 3 (row 3 splits them over 3 stages)");
    if (c->trials == 0) return sgd_error(SGD_EINVAL, "--trials: must be >= 1");
    double t0 = sgd_now();
    static const double radii[2] = {1.5, 0.1};
    const double zero = 0.0;
    const double *xs = c->f->x_star ? c->f->x_star : &zero;
    /* Panels 0-3 (row 2) and 6 (all three stages of row 3) run; 4 and 5 are
     * the stages inside panel 6's run. */
    static const int order[] = {0, 1, 2, 3, 6, 4, 5};
    /* Under MPI each running panel's trials are shared out and gathered to
     * rank 0 (sgd_trials_run_dist), which alone derives row 3's stages from
     * panel 6 and computes the statistics. */
    int rc = SGD_OK;
    for (int oi = 0; oi < SGD_FIG3_PANELS && !rc; oi++) {
        int p = order[oi];
        sgd_fig3_panel *P = &r->panel[p];
        sgd_trials_config tc;
        sgd_trials_defaults(&tc, c->f);
        tc.ntrials = c->trials;
        tc.seed = c->seed;
        tc.threads = c->threads;
        tc.start_lo = c->start_lo;
        tc.start_hi = c->start_hi;
        tc.noise.kind = SGD_NOISE_BALL;
        tc.sched.nstages = 1;
        sgd_stage *st = &tc.sched.stage[0];
        *st = (sgd_stage){.steps = c->steps, .eta = c->eta, .decay = 1, .rdecay = 1};
        if (p == 0) {
            snprintf(P->name, sizeof P->name, "GD");
            P->row = 2, P->col = 1;
            tc.noise.kind = SGD_NOISE_NONE;
            P->noise_level = 0;
        } else if (p <= 3) {
            snprintf(P->name, sizeof P->name, "SGD level %g", c->level[p - 1]);
            P->row = 2, P->col = p + 1;
            st->r = c->level[p - 1] / c->eta;
            P->noise_level = c->level[p - 1];
        } else {
            /* Row 3: stage k shows the end of stages 1..k; stage 1 restarts
             * in the given region, later stages continue from the previous ends. */
            int k = p - 3;
            snprintf(P->name, sizeof P->name, "stage %d level %g", k, c->stage_level[k - 1]);
            P->row = 3, P->col = k + 1;
            tc.sched.nstages = (size_t)k;
            for (int q = 0; q < k; q++) {
                tc.sched.stage[q] = (sgd_stage){.steps = c->steps / 3, .eta = c->eta,
                                                .r = c->stage_level[q] / c->eta, .decay = 1, .rdecay = 1,
                                                .start = q == 0 ? SGD_START_FRESH : SGD_START_CONTINUE,
                                                .start_lo = c->stage_lo, .start_hi = c->stage_hi};
            }
            P->noise_level = c->stage_level[k - 1];
        }
        prog_ctx pc = {progress, ctx, oi};
        if (p != 4 && p != 5) rc = sgd_trials_run_dist(&tc, &P->res, panel_progress, &pc, 0);
        else if (sgd_dist_rank() == 0) /* the last panels: no collective after them */
            rc = stage_result(&r->panel[6].res, (size_t)(p - 4), (size_t)(p - 3) * (c->steps / 3), c->f, c->eta,
                              &P->res);
    }
    rc = sgd_dist_agree(rc);
    for (int p = 0; p < SGD_FIG3_PANELS && !rc && sgd_dist_rank() == 0; p++)
        sgd_trials_stats_compute(&r->panel[p].res, xs, radii, 2, 1e-3, &r->panel[p].stats);
    if (rc) {
        sgd_fig3_result_free(r);
        return rc;
    }
    r->seconds = sgd_now() - t0;
    return sgd_dist_hand_off();
}

/* ---- output ------------------------------------------------------------------ */

static int write_landscape_dat(const char *path, const sgd_landscape *f, double eta, const double *levels,
                               double lo, double hi, size_t n)
{
    sgd_afile af;
    int rc = sgd_afile_open(&af, path);
    if (rc) return rc;
    fprintf(af.fp, "# x f g(level %g) g(level %g) g(level %g)   (exact uniform convolution where available)\n",
            levels[0], levels[1], levels[2]);
    for (size_t k = 0; k <= n; k++) {
        double x = lo + (hi - lo) * (double)k / (double)n;
        fprintf(af.fp, "%.10g %.10g", x, f->fg(f, &x, NULL));
        for (int q = 0; q < 3; q++) {
            sgd_noise W = {.kind = SGD_NOISE_BALL, .scale = levels[q] / eta};
            double g = NAN;
            if (!f->smooth || f->smooth(f, &W, eta, &x, &g, NULL)) g = NAN;
            fprintf(af.fp, " %.10g", g);
        }
        fputc('\n', af.fp);
    }
    return sgd_afile_commit(&af);
}

int sgd_fig3_write(const char *dir, const sgd_fig3_config *c, const sgd_fig3_result *r)
{
    char path[4400];
    int rc;
    const sgd_landscape *f = c->f;
    int has_smooth = f->smooth != NULL;
    if (has_smooth) {
        sgd_noise W = {.kind = SGD_NOISE_BALL, .scale = 1};
        double y = 0, g;
        has_smooth = f->smooth(f, &W, c->eta, &y, &g, NULL) == SGD_OK;
    }
    /* Row 1 and row 3's landscape (zoomed on the restart region). */
    snprintf(path, sizeof path, "%s/row1_landscape.dat", dir);
    if ((rc = write_landscape_dat(path, f, c->eta, c->level, c->start_lo, c->start_hi, 2400))) return rc;
    snprintf(path, sizeof path, "%s/row3_landscape.dat", dir);
    if ((rc = write_landscape_dat(path, f, c->eta, c->stage_level, c->stage_lo, c->stage_hi, 2400))) return rc;
    /* F_{3,1} zooms in on the middle third of the restart region, where the
     * spikes are visible against the parabola. */
    double zlo = c->stage_lo / 3, zhi = c->stage_hi / 3;
    snprintf(path, sizeof path, "%s/row3_zoom.dat", dir);
    if ((rc = write_landscape_dat(path, f, c->eta, c->stage_level, zlo, zhi, 2400))) return rc;
    /* End points and cumulative histograms per panel. */
    for (int p = 0; p < SGD_FIG3_PANELS; p++) {
        const sgd_fig3_panel *P = &r->panel[p];
        double lo = P->row == 3 ? c->stage_lo : c->start_lo, hi = P->row == 3 ? c->stage_hi : c->start_hi;
        snprintf(path, sizeof path, "%s/panel_%d_%d.dat", dir, P->row, P->col);
        sgd_afile af;
        if ((rc = sgd_afile_open(&af, path))) return rc;
        fprintf(af.fp, "# %s: end points x_T and f(x_T) (index 0); histogram bin centre, count, cumulative (index 1)\n",
                P->name);
        for (size_t t = 0; t < P->res.ntrials; t++)
            if (P->res.status[t] != SGD_TRIAL_DIVERGED)
                fprintf(af.fp, "%.17g %.17g\n", P->res.x_final[t], P->res.f_final[t]);
        fprintf(af.fp, "\n\n");
        enum { NB = 60 };
        size_t cnt[NB] = {0}, cum = 0;
        for (size_t t = 0; t < P->res.ntrials; t++) {
            double x = P->res.x_final[t];
            if (P->res.status[t] == SGD_TRIAL_DIVERGED || !(x >= lo && x < hi)) continue;
            cnt[(size_t)((x - lo) / (hi - lo) * NB)]++;
        }
        for (int b = 0; b < NB; b++) {
            cum += cnt[b];
            fprintf(af.fp, "%.10g %zu %zu\n", lo + (hi - lo) * (b + 0.5) / NB, cnt[b], cum);
        }
        if ((rc = sgd_afile_commit(&af))) return rc;
    }
    /* Tables. */
    snprintf(path, sizeof path, "%s/panels.csv", dir);
    sgd_afile af;
    if ((rc = sgd_afile_open(&af, path))) return rc;
    fprintf(af.fp, "row,col,panel,noise_level,fraction_within_1_5,fraction_within_0_1,mean_abs_x,distinct_endpoints,diverged\n");
    for (int p = 0; p < SGD_FIG3_PANELS; p++) {
        const sgd_fig3_panel *P = &r->panel[p];
        fprintf(af.fp, "%d,%d,%s,%.17g,%.17g,%.17g,%.17g,%zu,%zu\n", P->row, P->col, P->name, P->noise_level,
                P->stats.fraction_within[0], P->stats.fraction_within[1], P->stats.mean_dist,
                P->stats.distinct_endpoints, P->stats.diverged);
    }
    if ((rc = sgd_afile_commit(&af))) return rc;
    snprintf(path, sizeof path, "%s/endpoints.csv", dir);
    if ((rc = sgd_afile_open(&af, path))) return rc;
    fprintf(af.fp, "row,col,trial,status,x_start,x_final,y_final,f_final\n");
    for (int p = 0; p < SGD_FIG3_PANELS; p++) {
        const sgd_fig3_panel *P = &r->panel[p];
        for (size_t t = 0; t < P->res.ntrials; t++)
            fprintf(af.fp, "%d,%d,%zu,%s,%.17g,%.17g,%.17g,%.17g\n", P->row, P->col, t,
                    sgd_trial_status_name(P->res.status[t]), P->res.x_start[t], P->res.x_final[t],
                    P->res.y_final[t], P->res.f_final[t]);
    }
    if ((rc = sgd_afile_commit(&af))) return rc;
    sgd_json *sum = sgd_json_new();
    sgd_json_num(sum, "seconds", r->seconds);
    for (int p = 0; p < SGD_FIG3_PANELS; p++) {
        const sgd_fig3_panel *P = &r->panel[p];
        sgd_json *o = sgd_json_arr_obj(sum, "panels");
        sgd_json_str(o, "panel", P->name);
        sgd_json_int(o, "row", P->row);
        sgd_json_int(o, "col", P->col);
        sgd_json_num(o, "noise_level", P->noise_level);
        sgd_json_num(o, "fraction_within_1_5", P->stats.fraction_within[0]);
        sgd_json_num(o, "fraction_within_0_1", P->stats.fraction_within[1]);
        sgd_json_num(o, "mean_abs_x", P->stats.mean_dist);
        sgd_json_int(o, "distinct_endpoints", (long long)P->stats.distinct_endpoints);
        sgd_json_int(o, "diverged", (long long)P->stats.diverged);
        sgd_json_int(o, "trials", (long long)P->stats.n);
    }
    rc = sgd_json_write_free(sum, dir, "summary.json");
    if (rc) return rc;

    /* The 3x4 figure. */
    size_t cap = 16384, off = 0;
    char *gp = malloc(cap);
    if (!gp) return sgd_error(SGD_ENOMEM, "out of memory");
#define GP(...) off += (size_t)snprintf(gp + off, cap - off, __VA_ARGS__)
    off += (size_t)sgd_figure_preamble(gp + off, cap - off, 1800, 1100, SGD_FIGURE_FONTS);
    GP("# Figure 3 of Kleinberg, Li, Yuan (ICML 2018), reproduced by sgdscape.\n"
       "# Data: row1_landscape.dat, row3_landscape.dat, row3_zoom.dat, panel_R_C.dat (index 0 end points, index 1 histogram).\n"
       "set multiplot layout 3,4 title 'Figure 3: SGD on a spiky function (%zu trials per panel, eta = %g)'\n"
       "set key top left font ',8' opaque\nset grid lc rgb '#dddddd'\nunset colorbox\n", c->trials, c->eta);
    /* Row 1 */
    GP("set xrange [%g:%g]\nset title 'F_{1,1}: f'\nplot 'row1_landscape.dat' using 1:2 with lines lc rgb 'black' notitle\n",
       c->start_lo, c->start_hi);
    for (int q = 0; q < 3; q++)
        GP("set title 'F_{1,%d}: f convolved, level %g'\nplot 'row1_landscape.dat' using 1:2 with lines lc rgb '#bbbbbb' "
           "title 'f', '' using 1:%d with lines lw 2 lc rgb '#2050b0' title '%s'\n",
           q + 2, c->level[q], q + 3, has_smooth ? "g (exact)" : "g unavailable");
    /* Rows 2 and 3 */
    for (int p = 0; p < SGD_FIG3_PANELS; p++) {
        const sgd_fig3_panel *P = &r->panel[p];
        if (p == 4) {
            GP("set xrange [%g:%g]\nset title 'F_{3,1}: f and its convolutions on [%g, %g]'\n"
               "plot 'row3_zoom.dat' using 1:2 with lines lc rgb '#bbbbbb' title 'f', "
               "'' using 1:3 with lines lw 2 title 'level %g', '' using 1:4 with lines lw 2 title 'level %g', "
               "'' using 1:5 with lines lw 2 title 'level %g'\n",
               zlo, zhi, zlo, zhi, c->stage_level[0], c->stage_level[1],
               c->stage_level[2]);
        }
        double lo = P->row == 3 ? c->stage_lo : c->start_lo, hi = P->row == 3 ? c->stage_hi : c->start_hi;
        GP("set xrange [%g:%g]\nset title 'F_{%d,%d}: %s (%.0f%% in [-1.5,1.5])'\nset y2tics\nset ytics nomirror\n"
           "set style fill solid 0.5 noborder\n"
           "plot '%s' using 1:2 with lines lc rgb '#cccccc' notitle, "
           "'panel_%d_%d.dat' index 1 using 1:3:(%g) axes x1y2 with boxes lc rgb '#3060c0' title 'cumulative count', "
           "'' index 0 using 1:2 with points pt 7 ps 0.6 lc rgb '#d02020' title 'x_T'\nunset y2tics\nset ytics mirror\n",
           lo, hi, P->row, P->col, P->name, 100 * P->stats.fraction_within[0],
           P->row == 3 ? "row3_landscape.dat" : "row1_landscape.dat", P->row, P->col, (hi - lo) / 60);
    }
    GP("unset multiplot\n");
#undef GP
    int rendered;
    rc = sgd_figure_render(dir, "fig3", gp, &rendered);
    free(gp);
    return rc;
}
