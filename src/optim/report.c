/* What a trial run leaves behind: statistics, CSV, .npy and a histogram. */
#include "sgdscape/report.h"
#include "sgdscape/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *sgd_trial_status_name(int status)
{
    switch (status) {
    case SGD_TRIAL_RUNNING: return "running";
    case SGD_TRIAL_DONE: return "done";
    case SGD_TRIAL_HIT: return "hit";
    case SGD_TRIAL_DIVERGED: return "diverged";
    }
    return "?";
}

static double dist_to(const double *x, const double *xs, size_t d)
{
    double s = 0;
    for (size_t i = 0; i < d; i++) {
        double e = x[i] - (xs ? xs[i] : 0.0);
        s += e * e;
    }
    return sqrt(s);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void sgd_trials_stats_compute(const sgd_trials_result *r, const double *x_star, const double *radius,
                              size_t nradius, double tol, sgd_trials_stats *s)
{
    memset(s, 0, sizeof *s);
    size_t n = r->ntrials, d = r->d;
    s->n = n;
    s->nradius = nradius > 4 ? 4 : nradius;
    for (size_t k = 0; k < s->nradius; k++) s->radius[k] = radius[k];
    double *dist = malloc((n ? n : 1) * sizeof *dist);
    size_t nf = 0;
    double sumd = 0, sumf = 0;
    size_t within[4] = {0};
    for (size_t t = 0; t < n; t++) {
        if (r->status[t] == SGD_TRIAL_DIVERGED) {
            s->diverged++;
            continue;
        }
        if (r->status[t] == SGD_TRIAL_HIT) s->hit++;
        double dd = dist_to(r->x_final + t * d, x_star, d);
        dist[nf++] = dd;
        sumd += dd;
        sumf += r->f_final[t];
        for (size_t k = 0; k < s->nradius; k++) within[k] += dd <= radius[k];
    }
    for (size_t k = 0; k < s->nradius; k++) s->fraction_within[k] = n ? (double)within[k] / (double)n : NAN;
    s->mean_dist = nf ? sumd / (double)nf : NAN;
    s->mean_f = nf ? sumf / (double)nf : NAN;
    if (nf) {
        qsort(dist, nf, sizeof *dist, cmp_double);
        s->median_dist = nf % 2 ? dist[nf / 2] : 0.5 * (dist[nf / 2 - 1] + dist[nf / 2]);
    } else
        s->median_dist = NAN;
    free(dist);
    /* Distinct end points. */
    size_t distinct = 0;
    if (d == 1) {
        double *xs = malloc((n ? n : 1) * sizeof *xs);
        size_t m = 0;
        for (size_t t = 0; t < n; t++)
            if (r->status[t] != SGD_TRIAL_DIVERGED) xs[m++] = r->x_final[t];
        qsort(xs, m, sizeof *xs, cmp_double);
        for (size_t i = 0; i < m; i++)
            if (i == 0 || xs[i] - xs[i - 1] > tol) distinct++;
        free(xs);
    } else {
        size_t *rep = malloc((n ? n : 1) * sizeof *rep);
        for (size_t t = 0; t < n; t++) {
            if (r->status[t] == SGD_TRIAL_DIVERGED) continue;
            int found = 0;
            for (size_t q = 0; q < distinct && !found; q++) {
                double e = 0;
                for (size_t i = 0; i < d; i++) {
                    double df = r->x_final[t * d + i] - r->x_final[rep[q] * d + i];
                    e += df * df;
                }
                found = sqrt(e) <= tol;
            }
            if (!found) rep[distinct++] = t;
        }
        free(rep);
    }
    s->distinct_endpoints = distinct;
}

void sgd_trials_stats_json(const sgd_trials_stats *s, sgd_json *j)
{
    sgd_json_int(j, "trials", (long long)s->n);
    sgd_json_int(j, "diverged", (long long)s->diverged);
    sgd_json_int(j, "hit_stop_radius", (long long)s->hit);
    for (size_t k = 0; k < s->nradius; k++) {
        char key[64], num[32];
        snprintf(num, sizeof num, "%g", s->radius[k]);
        for (char *p = num; *p; p++)
            if (*p == '.') *p = '_';
        snprintf(key, sizeof key, "fraction_within_%s", num);
        sgd_json_num(j, key, s->fraction_within[k]);
    }
    sgd_json_num(j, "mean_dist_to_x_star", s->mean_dist);
    sgd_json_num(j, "median_dist_to_x_star", s->median_dist);
    sgd_json_num(j, "mean_f", s->mean_f);
    sgd_json_int(j, "distinct_endpoints", (long long)s->distinct_endpoints);
}

int sgd_trials_write_csv(const char *path, const sgd_trials_result *r, const double *x_star)
{
    sgd_afile af;
    int rc = sgd_afile_open(&af, path);
    if (rc) return rc;
    size_t d = r->d;
    FILE *fp = af.fp;
    fprintf(fp, "trial,status,steps");
    const char *pre[3] = {"x_start", "x_final", "y_final"};
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < d; i++) fprintf(fp, ",%s_%zu", pre[k], i + 1);
    fprintf(fp, ",f_final,dist_to_x_star\n");
    for (size_t t = 0; t < r->ntrials; t++) {
        fprintf(fp, "%zu,%s,%zu", t, sgd_trial_status_name(r->status[t]), r->steps[t]);
        const double *arr[3] = {r->x_start, r->x_final, r->y_final};
        for (int k = 0; k < 3; k++)
            for (size_t i = 0; i < d; i++) fprintf(fp, ",%.17g", arr[k][t * d + i]);
        fprintf(fp, ",%.17g,%.17g\n", r->f_final[t], dist_to(r->x_final + t * d, x_star, d));
    }
    return sgd_afile_commit(&af);
}

int sgd_trials_write_npy(const char *dir, const sgd_trials_result *r)
{
    char path[4300];
    if (r->nstages > 1) {
        size_t sshape[3] = {r->nstages, r->ntrials, r->d};
        snprintf(path, sizeof path, "%s/stage_x.npy", dir);
        int rc = sgd_npy_write(path, SGD_NPY_F64, r->stage_x, 3, sshape);
        if (rc) return rc;
    }
    if (!r->nrec) return SGD_OK;
    size_t shape[3] = {r->ntrials, r->nrec, r->d};
    snprintf(path, sizeof path, "%s/traj_x.npy", dir);
    int rc = sgd_npy_write(path, SGD_NPY_F64, r->traj_x, 3, shape);
    if (rc) return rc;
    snprintf(path, sizeof path, "%s/traj_y.npy", dir);
    return sgd_npy_write(path, SGD_NPY_F64, r->traj_y, 3, shape);
}

int sgd_trials_write_histogram(const char *dir, const char *name, const sgd_trials_result *r, double lo,
                               double hi, size_t bins, int figure)
{
    if (!(hi > lo) || bins == 0) return sgd_error(SGD_EINVAL, "histogram: need lo < hi and bins >= 1");
    size_t *cnt = calloc(bins + 2, sizeof *cnt); /* [0] below lo, [bins+1] above hi */
    if (!cnt) return sgd_error(SGD_ENOMEM, "out of memory");
    for (size_t t = 0; t < r->ntrials; t++) {
        if (r->status[t] == SGD_TRIAL_DIVERGED) continue;
        double x = r->x_final[t * r->d];
        if (x < lo) cnt[0]++;
        else if (x >= hi) cnt[bins + 1]++;
        else cnt[1 + (size_t)((x - lo) / (hi - lo) * (double)bins)]++;
    }
    char path[4300];
    snprintf(path, sizeof path, "%s/%s.csv", dir, name);
    sgd_afile af;
    int rc = sgd_afile_open(&af, path);
    if (rc) {
        free(cnt);
        return rc;
    }
    fprintf(af.fp, "bin_lo,bin_hi,count,cumulative\n");
    size_t cum = cnt[0];
    fprintf(af.fp, "-inf,%.17g,%zu,%zu\n", lo, cnt[0], cum);
    for (size_t b = 0; b < bins; b++) {
        cum += cnt[b + 1];
        fprintf(af.fp, "%.17g,%.17g,%zu,%zu\n", lo + (hi - lo) * (double)b / (double)bins,
                lo + (hi - lo) * (double)(b + 1) / (double)bins, cnt[b + 1], cum);
    }
    cum += cnt[bins + 1];
    fprintf(af.fp, "%.17g,inf,%zu,%zu\n", hi, cnt[bins + 1], cum);
    free(cnt);
    rc = sgd_afile_commit(&af);
    if (rc || !figure) return rc;
    char script[2048];
    int off = sgd_figure_preamble(script, sizeof script, 800, 500, SGD_FIGURE_FONTS);
    snprintf(script + off, sizeof script - (size_t)off,
             "set datafile separator ','\nset key autotitle columnhead\n"
             "set xlabel 'x_T (first coordinate)'\nset ylabel 'trials'\nset style fill solid 0.6\n"
             "set title 'End points of %zu trials'\n"
             "plot '%s.csv' every ::2::%zu using (($1+$2)/2):3:($2-$1) with boxes lc rgb '#3060c0' title 'count'\n",
             r->ntrials, name, bins + 1);
    int rendered;
    return sgd_figure_render(dir, name, script, &rendered);
}

void sgd_schedule_json(const sgd_schedule *s, sgd_json *j)
{
    for (size_t k = 0; k < s->nstages; k++) {
        const sgd_stage *st = &s->stage[k];
        sgd_json *o = sgd_json_arr_obj(j, "stages");
        sgd_json_int(o, "steps", (long long)st->steps);
        sgd_json_num(o, "eta", st->eta);
        sgd_json_num(o, "r", st->r);
        sgd_json_num(o, "noise_level", st->eta * st->r);
        sgd_json_num(o, "eta_decay_per_step", st->decay);
        sgd_json_num(o, "r_decay_per_step", st->rdecay);
        sgd_json_str(o, "start", st->start == SGD_START_FRESH ? "fresh" : "continue");
        if (st->start == SGD_START_FRESH) {
            sgd_json_num(o, "start_lo", st->start_lo);
            sgd_json_num(o, "start_hi", st->start_hi);
        }
    }
}

int sgd_trials_write_run(const char *dir, const sgd_trials_config *c, const sgd_trials_result *res,
                         const sgd_trials_run_info *info, sgd_trials_stats *st)
{
    const sgd_landscape *f = c->f;
    const size_t d = f->d;
    char path[4400];
    int n = snprintf(path, sizeof path, "%s/manifest.json", dir); /* the longest name written here */
    if (n < 0 || (size_t)n + 8 >= sizeof path) return sgd_error(SGD_EINVAL, "--out %s: path too long", dir);
    sgd_json *man = sgd_json_new();
    sgd_json_manifest_header(man, info->argc, info->argv, c->threads);
    sgd_json_str(man, "command", "run");
    sgd_json_str(man, "landscape", info->fspec);
    sgd_json_str(man, "landscape_name", f->name);
    sgd_json_str(man, "landscape_doc", f->doc);
    sgd_json_int(man, "d", (long long)d);
    if (f->x_star) sgd_json_nums(man, "x_star", f->x_star, d);
    sgd_json_num(man, "L", f->L);
    sgd_json_str(man, "noise", sgd_noise_name(c->noise.kind));
    sgd_json_num(man, "eta", info->eta);
    sgd_json_num(man, "r", info->r);
    sgd_json_num(man, "noise_level", info->eta * info->r);
    sgd_json_num(man, "momentum", c->momentum);
    sgd_json_str(man, "schedule", info->schedule);
    sgd_schedule_json(&c->sched, man);
    sgd_json_int(man, "trials", (long long)c->ntrials);
    sgd_json_num(man, "start_lo", c->start_lo);
    sgd_json_num(man, "start_hi", c->start_hi);
    sgd_json_num(man, "stop_radius", c->stop_radius);
    sgd_json_int(man, "record_every", (long long)c->record_every);
    sgd_json_int(man, "seed", (long long)c->seed);
    int rc = sgd_json_write(man, path);
    sgd_json_free(man);
    sgd_trials_stats_compute(res, f->x_star, info->within, info->nwithin, 1e-3, st);
    sgd_json *sum = sgd_json_new();
    sgd_trials_stats_json(st, sum);
    sgd_json_num(sum, "seconds", info->seconds);
    sgd_json_num(sum, "trial_steps_per_second", (double)c->ntrials * (double)sgd_schedule_total_steps(&c->sched) /
                                                    (info->seconds > 0 ? info->seconds : 1e-9));
    snprintf(path, sizeof path, "%s/summary.json", dir);
    if (!rc) rc = sgd_json_write(sum, path);
    sgd_json_free(sum);
    snprintf(path, sizeof path, "%s/trials.csv", dir);
    if (!rc) rc = sgd_trials_write_csv(path, res, f->x_star);
    if (!rc) rc = sgd_trials_write_npy(dir, res);
    if (!rc) rc = sgd_trials_write_histogram(dir, "histogram", res, c->start_lo, c->start_hi, 60, d == 1);
    return rc;
}
