/* sgdscape spectrum (Section 5.4, Figure 6) on softmax regression over a
 * tiny separable set: every number of a row against its recomputation from
 * the run directories' files (distances from the .npy weights, validation
 * from train.csv, the training loss by a direct forward pass, the one-point
 * fraction from a direct sgd_probe_run), the convex known answer (every
 * fine-tune is one-point convex to its end), threads 1 = 2, resume and
 * reuse of a base run giving the same bits, and the input errors. */
#include "check.h"
#include "sgdscape/data.h"
#include "sgdscape/io.h"
#include "sgdscape/nn.h"
#include "sgdscape/probes.h"
#include "sgdscape/spectrum.h"

#include <omp.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

static char T[64], DATA[1000];
enum { NTR = 240, NTE = 60, P_LIN = 8 * 8 * 3 + 3 }; /* mlp:d=0 on 1x8x8, 3 classes */

/* class k lights rows 3k..3k+1 a little (25 over noise 0..89 from an LCG):
 * separable, but not so far that the loss vanishes after a few epochs */
static int write_set(const char *x, const char *y, int n, uint32_t s)
{
    return chk_write_set(x, y, n, s, 25);
}

static int write_data(void)
{
    char p[4][200];
    const char *nm[4] = {"X", "y", "Xt", "yt"};
    for (int i = 0; i < 4; i++) snprintf(p[i], sizeof p[i], "%s/%s.npy", T, nm[i]);
    snprintf(DATA, sizeof DATA, "npy:%s,%s,%s,%s", p[0], p[1], p[2], p[3]);
    return write_set(p[0], p[1], NTR, 12345) || write_set(p[2], p[3], NTE, 777);
}

static float *load_f32(const char *path)
{
    sgd_npy a;
    if (sgd_npy_read(path, &a)) return NULL;
    if (a.dtype != SGD_NPY_F32 || a.count != P_LIN) {
        sgd_npy_free(&a);
        return NULL;
    }
    return a.data;
}

static double dist_files(const char *a, const char *b)
{
    float *x = load_f32(a), *y = load_f32(b);
    double s = NAN;
    if (x && y) {
        s = 0;
        for (size_t i = 0; i < P_LIN; i++) s += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
        s = sqrt(s);
    }
    free(x);
    free(y);
    return s;
}

/* the last row of a train.csv: its 9 columns */
static int last_csv_row(const char *dir, double *v)
{
    char path[400], line[1024], last[1024] = "";
    snprintf(path, sizeof path, "%s/train.csv", dir);
    FILE *fp = fopen(path, "r");
    if (!fp) return -1;
    while (fgets(line, sizeof line, fp)) snprintf(last, sizeof last, "%s", line);
    fclose(fp);
    return sscanf(last, "%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf", v, v + 1, v + 2, v + 3, v + 4, v + 5, v + 6, v + 7,
                  v + 8) == 9 ? 0 : -1;
}

/* the mean loss and accuracy at x over the 240 training images in one batch */
static void direct_loss(const char *xpath, double *loss, double *acc)
{
    sgd_dataset d;
    sgd_data_opts o = {0};
    *loss = *acc = NAN;
    if (sgd_data_load(DATA, SGD_DATA_TRAIN, &o, &d)) return;
    sgd_data_loader_opts lo = {0};
    lo.batch = NTR;
    sgd_data_loader L;
    float *xb = malloc(NTR * 64 * sizeof *xb), *x = load_f32(xpath);
    int32_t yb[NTR];
    size_t cnt, hits;
    sgd_net *net = sgd_net_create("mlp:d=0", 1, 8, 8, 3);
    if (net && x && xb && !sgd_data_loader_opts_normalize_from(&lo, &d) && !sgd_data_loader_init(&L, &d, &lo)) {
        if (!sgd_data_loader_batch(&L, 0, 0, xb, yb, &cnt) &&
            !sgd_net_run(net, x, NULL, SGD_NN_EVAL, xb, yb, cnt, loss, NULL, &hits))
            *acc = (double)hits / (double)cnt;
        sgd_data_loader_free(&L);
    }
    sgd_net_free(net);
    free(xb);
    free(x);
    sgd_data_free(&d);
}

static int ready_calls;
static int count_ready(void *ctx, const char **work)
{
    (void)ctx;
    (void)work;
    ready_calls++;
    return SGD_OK;
}

static void config(sgd_spectrum_config *c, const char *work)
{
    sgd_spectrum_defaults(c);
    c->model = "mlp:d=0";
    c->data = DATA;
    c->epochs = 3;
    c->batch = 64;
    c->weight_decay = 0; /* wd would pull x_t off the minimum of f itself */
    c->starts = "0,2,3";
    c->epochs_fine = 3;
    c->probe_batches = 0; /* f is the training loss */
    c->work = work;
    c->ready = count_ready;
}

static int same(const sgd_spectrum_result *a, const sgd_spectrum_result *b)
{
    return a->nstarts == b->nstarts && a->epochs_fine == b->epochs_fine &&
           !memcmp(a->row, b->row, a->nstarts * sizeof *a->row) &&
           !memcmp(a->inner, b->inner, a->nstarts * a->epochs_fine * sizeof *a->inner);
}

/* rows without their timing, the one field that may differ (compare after this) */
static void untime(sgd_spectrum_result *r)
{
    for (size_t k = 0; k < r->nstarts; k++) r->row[k].epoch_seconds = 0;
}

static void test_starts(void)
{
    int *s;
    size_t n;
    CHECK(sgd_spectrum_parse_starts("0,2,3", 3, &s, &n) == SGD_OK && n == 3 && s[0] == 0 && s[1] == 2 && s[2] == 3);
    free(s);
    CHECK(sgd_spectrum_parse_starts("every:2", 5, &s, &n) == SGD_OK && n == 3 && s[2] == 4);
    free(s);
    CHECK(sgd_spectrum_parse_starts("every:1", 3, &s, &n) == SGD_OK && n == 4 && s[3] == 3);
    free(s);
    const char *bad[] = {"2,1", "0,,1", "", "every:0", "-1", "1,x", "every:", "1,"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK(sgd_spectrum_parse_starts(bad[i], 3, &s, &n) == SGD_EPARSE && !s && !n);
        CHECK(strstr(sgd_errmsg(), "--starts") != NULL);
    }
    CHECK(sgd_spectrum_parse_starts("0,4", 3, &s, &n) == SGD_EINVAL && !s);
    CHECK(strstr(sgd_errmsg(), "epoch 4 is beyond the base run's 3 epochs") != NULL);
}

static void check_rows(const sgd_spectrum_result *R, const char *work)
{
    char fine[300], a[400], b[400];
    for (size_t k = 0; k < R->nstarts; k++) {
        const sgd_spectrum_row *r = &R->row[k];
        snprintf(fine, sizeof fine, "%s/fine/s%04d", work, r->start);
        snprintf(a, sizeof a, "%s/x.npy", fine);
        snprintf(b, sizeof b, "%s/base/x/x_0000.npy", work);
        CHECK_CLOSE(r->dist_init, dist_files(a, b), 0, 1e-12);
        if (r->start == 3) snprintf(b, sizeof b, "%s/base/x.npy", work);
        else snprintf(b, sizeof b, "%s/base/x/x_%04d.npy", work, r->start);
        CHECK_CLOSE(r->dist_start, dist_files(a, b), 0, 1e-12);
        snprintf(a, sizeof a, "%s/base/x/x_0000.npy", work);
        CHECK_CLOSE(r->start_dist_init, dist_files(a, b), 0, 1e-12);
        /* the fine-tune starts at x_s: its x_0000 is the base's file */
        snprintf(a, sizeof a, "%s/x/x_0000.npy", fine);
        CHECK(dist_files(a, b) == 0);
        double v[9];
        CHECK(last_csv_row(fine, v) == 0 && v[0] == 2 && v[1] == 0.01);
        CHECK(r->val_loss == v[4] && r->val_acc == v[5] && r->fit_loss == v[2] && r->fit_acc == v[3]);
        double l, acc;
        snprintf(a, sizeof a, "%s/x.npy", fine);
        direct_loss(a, &l, &acc);
        CHECK_CLOSE(r->train_loss, l, 0, 1e-6);  /* float32 sums in another batch split */
        CHECK(r->train_acc == acc);
        /* the one-point fraction from the probe itself */
        const char *runs[1] = {fine};
        sgd_probe_config pc;
        sgd_probe_defaults(&pc);
        pc.runs = runs;
        pc.nruns = 1;
        pc.batches = 0;
        pc.points = 0;
        pc.sg_batches = 0;
        sgd_probe_result pr;
        CHECK(sgd_probe_run(&pc, &pr, NULL, NULL) == SGD_OK && pr.nepochs == 3);
        size_t pos = 0;
        for (size_t t = 0; t < pr.nepochs; t++) {
            CHECK(pr.row[t].inner == R->inner[k * 3 + t]);
            pos += pr.row[t].inner > 0;
        }
        CHECK(r->onepoint_frac == (double)pos / 3);
        /* convex: <-grad f(x_t), x_T - x_t> >= f(x_t) - f(x_T) > 0 */
        CHECK(r->onepoint_frac == 1 && r->inner_min > 0);
        sgd_probe_result_free(&pr);
        CHECK(r->train_acc > 0.9 && r->val_acc > 0.9);
    }
    /* the claims: the smallest distance between minima, from the files */
    double mn = INFINITY;
    for (size_t i = 0; i < R->nstarts; i++)
        for (size_t j = i + 1; j < R->nstarts; j++) {
            snprintf(a, sizeof a, "%s/fine/s%04d/x.npy", work, R->row[i].start);
            snprintf(b, sizeof b, "%s/fine/s%04d/x.npy", work, R->row[j].start);
            mn = fmin(mn, dist_files(a, b));
        }
    CHECK_CLOSE(R->min_pair_dist, mn, 0, 1e-12);
    CHECK(R->frac_onepoint == 1 && R->min_onepoint_frac == 1);
    CHECK(R->spearman_dist_init >= -1 && R->spearman_dist_init <= 1);
}

static void test_run(void)
{
    char w1[200], w2[200], w3[200], path[400];
    snprintf(w1, sizeof w1, "%s/w1", T);
    snprintf(w2, sizeof w2, "%s/w2", T);
    snprintf(w3, sizeof w3, "%s/w3", T);
    sgd_spectrum_config c;
    config(&c, w1);
    sgd_spectrum_result R, R1;
    omp_set_num_threads(2);
    ready_calls = 0;
    CHECK(sgd_spectrum_run(&c, &R, NULL, NULL) == SGD_OK);
    CHECK(ready_calls == 1);
    CHECK(R.nstarts == 3 && R.epochs_fine == 3 && R.p == P_LIN && R.train_images == NTR && R.val_images == NTE);
    CHECK(R.base_trained == 1 && R.fine_trained == 3 && R.fine_reused == 0);
    check_rows(&R, w1);
    untime(&R);

    /* one thread: the same bits */
    omp_set_num_threads(1);
    config(&c, w2);
    CHECK(sgd_spectrum_run(&c, &R1, NULL, NULL) == SGD_OK);
    untime(&R1);
    CHECK(same(&R, &R1));
    sgd_spectrum_result_free(&R1);
    omp_set_num_threads(2);

    /* resume: all reused; one fine-tune gone; one left as a killed run */
    config(&c, w1);
    CHECK(sgd_spectrum_run(&c, &R1, NULL, NULL) == SGD_OK);
    CHECK(R1.base_trained == 0 && R1.fine_reused == 3 && R1.fine_trained == 0);
    untime(&R1);
    CHECK(same(&R, &R1));
    sgd_spectrum_result_free(&R1);
    char cmd[1200];
    snprintf(cmd, sizeof cmd,
             "rm -r %s/fine/s0003 && mv %s/fine/s0002 %s/fine/s0002.partial && rm %s/fine/s0002.partial/x.npy", w1,
             w1, w1, w1);
    CHECK(system(cmd) == 0);
    CHECK(sgd_spectrum_run(&c, &R1, NULL, NULL) == SGD_OK);
    CHECK(R1.fine_reused == 1 && R1.fine_trained == 2 && R1.fine_resumed == 1);
    untime(&R1);
    CHECK(same(&R, &R1));
    sgd_spectrum_result_free(&R1);
    /* another configuration in the same work directory is refused */
    c.epochs_fine = 2;
    CHECK(sgd_spectrum_run(&c, &R1, NULL, NULL) == SGD_EINVAL);
    CHECK(strstr(sgd_errmsg(), "other inputs or options") != NULL);

    /* reusing the base run: the same minima */
    snprintf(path, sizeof path, "%s/base", w1);
    sgd_spectrum_defaults(&c);
    c.run = path;
    c.starts = "0,2,3";
    c.epochs_fine = 3;
    c.probe_batches = 0;
    c.work = w3;
    CHECK(sgd_spectrum_run(&c, &R1, NULL, NULL) == SGD_OK);
    CHECK(R1.base_trained == 0 && R1.fine_trained == 3 && !strcmp(R1.model, "mlp:d=0") && R1.epochs == 3);
    untime(&R1);
    CHECK(same(&R, &R1));
    sgd_spectrum_result_free(&R1);

    /* errors: nothing is created (ready is not called) */
    ready_calls = 0;
    c.work = NULL;
    c.ready = count_ready;
    c.epochs = 5;
    CHECK(sgd_spectrum_run(&c, &R1, NULL, NULL) == SGD_EINVAL);
    CHECK(strstr(sgd_errmsg(), "trained with --epochs 3, not 5") != NULL);
    c.epochs = 0;
    c.model = "mlp:d=1";
    CHECK(sgd_spectrum_run(&c, &R1, NULL, NULL) == SGD_EINVAL);
    CHECK(strstr(sgd_errmsg(), "holds model 'mlp:d=0'") != NULL);
    c.model = NULL;
    c.starts = "0,4";
    CHECK(sgd_spectrum_run(&c, &R1, NULL, NULL) == SGD_EINVAL);
    c.starts = "0,2";
    c.subset = 100;
    CHECK(sgd_spectrum_run(&c, &R1, NULL, NULL) == SGD_EINVAL);
    CHECK(strstr(sgd_errmsg(), "trained on 240 images") != NULL);
    c.subset = 0;
    snprintf(cmd, sizeof cmd, "cp -r %s %s/bad && rm %s/bad/x/x_0002.npy", path, T, T);
    CHECK(system(cmd) == 0);
    snprintf(path, sizeof path, "%s/bad", T);
    CHECK(sgd_spectrum_run(&c, &R1, NULL, NULL) == SGD_EIO);
    CHECK(strstr(sgd_errmsg(), "bad/x/x_0002.npy: missing") != NULL);
    config(&c, NULL);
    c.probe_batches = 5; /* 240 images in batches of 64 */
    CHECK(sgd_spectrum_run(&c, &R1, NULL, NULL) == SGD_EINVAL);
    CHECK(strstr(sgd_errmsg(), "--batches 5") != NULL);
    c.probe_batches = 0;
    c.model = "nosuchnet";
    CHECK(sgd_spectrum_run(&c, &R1, NULL, NULL) != SGD_OK);
    CHECK(ready_calls == 0);
    sgd_spectrum_result_free(&R);
}

int main(void)
{
    test_starts();
    snprintf(T, sizeof T, "/tmp/sgd_spectrum_XXXXXX");
    if (!mkdtemp(T) || write_data()) return 1;
    setenv("SGD_QUIET", "1", 1);
    test_run();
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", T);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", T);
    return check_done();
}
