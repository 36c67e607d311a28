/* One local minimum of the spectrum: its losses, distances and one-point
 * convexity; and the paper's claims over all of them. */
#include "probes/probe_internal.h"
#include "probes/spectrum_internal.h"
#include "sgdscape/dist.h"
#include "sgdscape/error.h"
#include "sgdscape/io.h"
#include "sgdscape/probes.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double dist(const float *a, const float *b, size_t p)
{
    double s = 0;
    for (size_t i = 0; i < p; i++) {
        double d = (double)a[i] - (double)b[i];
        s += d * d;
    }
    return sqrt(s);
}

/* Loss and accuracy at x over the whole training split, as `train`
 * validates: BN running statistics, no augmentation, every image weighted
 * equally (each batch's mean loss times its size). */
static int evaluate(spectrum_plan *P, const float *x, const float *buf, double *loss, double *acc)
{
    sgd_data_loader L;
    sgd_data_loader_opts o = P->D.aug;
    o.batch = P->R->batch > 256 ? P->R->batch : 256;
    o.shuffle = 0;
    o.crop_pad = 0;
    o.flip = 0;
    o.drop_last = 0;
    int rc = sgd_data_loader_init(&L, &P->D.train, &o);
    if (rc) return rc;
    size_t nb = sgd_data_loader_batches(&L), n = P->D.train.n;
    double ls = 0, hits = 0;
    for (size_t b = 0; b < nb && !rc; b++) {
        double l, a;
        size_t cnt = n - b * o.batch < o.batch ? n - b * o.batch : o.batch;
        rc = sgd_net_loss_grad(P->net, x, buf, SGD_NN_EVAL, &L, 0, b, 1, &l, NULL, &a);
        ls += l * (double)cnt;
        hits += round(a * (double)cnt);
    }
    sgd_data_loader_free(&L);
    *loss = ls / (double)n;
    *acc = hits / (double)n;
    return rc;
}

/* The last row's train_loss, train_acc, val_loss, val_acc of a train.csv
 * ("epoch,lr,train_loss,train_acc,val_loss,val_acc,grad_norm,img_per_s,seconds")
 * and the mean of its seconds column. */
static int read_train_csv(const char *dir, sgd_spectrum_row *r)
{
    char path[4400], *buf;
    size_t n, rows = 0;
    snprintf(path, sizeof path, "%s/train.csv", dir);
    if (sgd_read_file(path, &buf, &n)) return SGD_EIO;
    double v[9] = {0}, secs = 0;
    for (char *line = strchr(buf, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
        char *q = line + 1, *end;
        int k = 0;
        for (; k < 9; k++, q = end + 1) {
            v[k] = strtod(q, &end);
            if (end == q || (k < 8 && *end != ',')) break;
        }
        if (k < 9) {
            free(buf);
            return sgd_error(SGD_EFORMAT, "%s: row %zu: want 9 numbers", path, rows + 1);
        }
        secs += v[8];
        rows++;
    }
    free(buf);
    if (!rows) return sgd_error(SGD_EFORMAT, "%s: no rows", path);
    r->fit_loss = v[2];
    r->fit_acc = v[3];
    r->val_loss = v[4];
    r->val_acc = v[5];
    r->epoch_seconds = secs / (double)rows;
    return SGD_OK;
}

/* Fraction of the fine-tune's epochs t with <-grad f(x_t), x_min - x_t> > 0:
 * sgd_probe_run on its run directory, 5.1 only. */
static int onepoint(spectrum_plan *P, size_t k, const char *dir, sgd_spectrum_row *r)
{
    const sgd_spectrum_config *c = P->c;
    size_t F = (size_t)c->epochs_fine;
    const char *runs[1] = {dir};
    sgd_probe_config pc;
    sgd_probe_defaults(&pc);
    pc.runs = runs;
    pc.nruns = 1;
    pc.batches = c->probe_batches;
    pc.points = 0;
    pc.sg_batches = 0;
    pc.seed = c->seed;
    pc.threads = c->threads;
    pc.stop = c->stop;
    pc.stop_ctx = c->stop_ctx;
    sgd_probe_result pr;
    sgd_dist_local(1); /* this rank's fine-tune: its probe runs here whole */
    int rc = sgd_probe_run(&pc, &pr, NULL, NULL);
    sgd_dist_local(0);
    if (rc) return rc;
    if (pr.nepochs != F) {
        sgd_probe_result_free(&pr);
        return sgd_error(SGD_EFORMAT, "%s/x: %zu stored epochs, want %zu", dir, pr.nepochs, F);
    }
    size_t pos = 0;
    r->inner_min = INFINITY;
    for (size_t t = 0; t < F; t++) {
        double in = pr.row[t].inner;
        P->R->inner[k * F + t] = in;
        pos += in > 0;
        r->inner_min = fmin(r->inner_min, in);
    }
    r->onepoint_frac = (double)pos / (double)F;
    sgd_probe_result_free(&pr);
    r->sharpness = r->sharpness_resid = NAN;
    if (!c->sharpness_steps) return SGD_OK;
    /* the same f as the probe's: its plan of this run directory */
    probe_plan PP;
    rc = probe_plan_open(&pc, &PP, 0);
    if (!rc) {
        float *xm = malloc(PP.p * sizeof *xm);
        char path[4400];
        snprintf(path, sizeof path, "%s/x.npy", dir);
        if (!xm) rc = sgd_error(SGD_ENOMEM, "out of memory");
        else if (!(rc = probe_load_x(&PP, path, xm)))
            rc = probe_sharpness(&PP, xm, c->sharpness_steps, c->sharpness_precision, c->seed, &r->sharpness,
                                 &r->sharpness_resid);
        free(xm);
    }
    probe_plan_free(&PP);
    return rc;
}

int spectrum_measure(spectrum_plan *P, size_t k, const char *dir, const float *x0, const float *xs)
{
    sgd_spectrum_row *r = &P->R->row[k];
    size_t p = P->R->p, nbuf = sgd_net_nbuffers(P->net);
    char path[4400];
    r->start = P->start[k];
    float *xm = malloc(p * sizeof *xm), *buf = malloc((nbuf + 1) * sizeof *buf);
    int rc = xm && buf ? SGD_OK : sgd_error(SGD_ENOMEM, "out of memory");
    snprintf(path, sizeof path, "%s/x.npy", dir);
    if (!rc) rc = spectrum_load_x(P, path, xm);
    if (!rc) {
        sgd_npy a;
        snprintf(path, sizeof path, "%s/buffers.npy", dir);
        if (!(rc = sgd_npy_read(path, &a))) {
            if (a.dtype != SGD_NPY_F32 || a.count != nbuf)
                rc = sgd_error(SGD_EFORMAT, "%s: want %zu float32 BN buffers", path, nbuf);
            else if (nbuf) memcpy(buf, a.data, nbuf * sizeof *buf);
            sgd_npy_free(&a);
        }
    }
    if (!rc) rc = evaluate(P, xm, buf, &r->train_loss, &r->train_acc);
    if (!rc) rc = read_train_csv(dir, r);
    if (!rc) {
        r->dist_init = dist(xm, x0, p);
        r->dist_start = dist(xm, xs, p);
        r->start_dist_init = dist(xs, x0, p);
        rc = onepoint(P, k, dir, r);
    }
    free(xm);
    free(buf);
    if (rc) {
        char why[1024];
        snprintf(why, sizeof why, "%s", sgd_errmsg());
        return sgd_error(rc, "start epoch %d (%s): %s", r->start, dir, why);
    }
    return SGD_OK;
}

/* ---- the paper's claims ------------------------------------------------- */
/* Ranks 1..n with ties given their average rank. */
static void ranks(const double *v, size_t n, double *rk)
{
    for (size_t i = 0; i < n; i++) {
        size_t less = 0, same = 0;
        for (size_t j = 0; j < n; j++) {
            less += v[j] < v[i];
            same += v[j] == v[i];
        }
        rk[i] = (double)less + (double)(same + 1) / 2;
    }
}

/* Spearman's rank correlation of the start epochs and column off of the rows. */
static double spearman(const sgd_spectrum_result *R, size_t off, double *a, double *b)
{
    size_t n = R->nstarts;
    for (size_t i = 0; i < n; i++) {
        a[i] = R->row[i].start;
        b[i] = *(const double *)((const char *)&R->row[i] + off);
        if (isnan(b[i])) return NAN;
    }
    if (n < 2) return NAN;
    ranks(a, n, a + n);
    ranks(b, n, b + n);
    double ma = (double)(n + 1) / 2, sab = 0, saa = 0, sbb = 0;
    for (size_t i = 0; i < n; i++) {
        double da = a[n + i] - ma, db = b[n + i] - ma;
        sab += da * db;
        saa += da * da;
        sbb += db * db;
    }
    return saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : NAN;
}

int spectrum_claims(spectrum_plan *P)
{
    sgd_spectrum_result *R = P->R;
    size_t n = R->nstarts, p = R->p, pairs = 0;
    double *a = malloc((4 * n + 1) * sizeof *a);
    float *xi = malloc(p * sizeof *xi), *xj = malloc(p * sizeof *xj);
    int rc = a && xi && xj ? SGD_OK : sgd_error(SGD_ENOMEM, "out of memory");
    if (!rc) {
        R->spearman_train_loss = spearman(R, offsetof(sgd_spectrum_row, train_loss), a, a + 2 * n);
        R->spearman_val_loss = spearman(R, offsetof(sgd_spectrum_row, val_loss), a, a + 2 * n);
        R->spearman_dist_init = spearman(R, offsetof(sgd_spectrum_row, dist_init), a, a + 2 * n);
        R->spearman_sharpness = spearman(R, offsetof(sgd_spectrum_row, sharpness), a, a + 2 * n);
    }
    size_t all = 0;
    R->min_onepoint_frac = INFINITY;
    for (size_t i = 0; i < n; i++) {
        all += R->row[i].onepoint_frac == 1;
        R->min_onepoint_frac = fmin(R->min_onepoint_frac, R->row[i].onepoint_frac);
    }
    R->frac_onepoint = n ? (double)all / (double)n : NAN;
    /* distances between the minima, each x_min read again (they may be large) */
    R->min_pair_dist = n > 1 ? INFINITY : NAN;
    R->mean_pair_dist = NAN;
    double sum = 0;
    char path[4400];
    for (size_t i = 0; i + 1 < n && !rc; i++) {
        snprintf(path, sizeof path, "%s/fine/s%04d/x.npy", P->work, R->row[i].start);
        rc = spectrum_load_x(P, path, xi);
        for (size_t j = i + 1; j < n && !rc; j++) {
            snprintf(path, sizeof path, "%s/fine/s%04d/x.npy", P->work, R->row[j].start);
            if ((rc = spectrum_load_x(P, path, xj))) break;
            double d = dist(xi, xj, p);
            R->min_pair_dist = fmin(R->min_pair_dist, d);
            sum += d;
            pairs++;
        }
    }
    if (pairs) R->mean_pair_dist = sum / (double)pairs;
    free(a);
    free(xi);
    free(xj);
    return rc;
}
