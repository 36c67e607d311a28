/* Section 5.3 (sgd_branch_run): softmax regression is convex, so every
 * inner(i, t, j) >= f(x_t^(i)) - f(x_T^(j)) and, with finals below every
 * trajectory point, > 0; each value equals the inner product recomputed from
 * sgd_net_loss_grad (and sgd_probe_run's); 1 and 2 threads give the same
 * bits; a run stopped in training or in the rows resumes to the same bits;
 * a carried momentum (train's m0) continues SGD; bad input is refused before
 * any directory exists. */
#include "check.h"
#include "sgdscape/branch.h"
#include "sgdscape/data.h"
#include "sgdscape/io.h"
#include "sgdscape/nn.h"
#include "sgdscape/probes.h"

#include <omp.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

static char T[64], DATA[500];
enum { NIMG = 256, SIDE = 6, NCLS = 4, P_LIN = SIDE * SIDE * NCLS + NCLS }; /* mlp:d=0 */

/* NCLS classes, class k lights quadrant k of a SIDE x SIDE image over noise:
 * linearly separable. */
static int write_data(void)
{
    static uint8_t X[NIMG * SIDE * SIDE];
    uint8_t y[NIMG];
    uint64_t s = 88172645463325252ull;
    for (int n = 0; n < NIMG; n++) {
        y[n] = (uint8_t)((n * 7) % NCLS);
        for (int r = 0; r < SIDE; r++)
            for (int q = 0; q < SIDE; q++) {
                s ^= s << 13, s ^= s >> 7, s ^= s << 17;
                int quad = (r >= SIDE / 2) * 2 + (q >= SIDE / 2);
                X[(n * SIDE + r) * SIDE + q] = (uint8_t)(s % 100 + (quad == y[n] ? 130 : 0));
            }
    }
    char xp[200], yp[200];
    snprintf(xp, sizeof xp, "%s/X.npy", T);
    snprintf(yp, sizeof yp, "%s/y.npy", T);
    size_t xs[3] = {NIMG, SIDE, SIDE}, ys[1] = {NIMG};
    snprintf(DATA, sizeof DATA, "npy:%s,%s", xp, yp);
    return sgd_npy_write(xp, SGD_NPY_U8, X, 3, xs) || sgd_npy_write(yp, SGD_NPY_U8, y, 1, ys);
}

static int readies;
static int count_ready(void *ctx, const char **work)
{
    (void)ctx;
    (void)work;
    readies++;
    return 0;
}
static int stop_after;
static int stop_cb(void *ctx)
{
    (void)ctx;
    return stop_after-- <= 0;
}

static void config(sgd_branch_config *c, const char *work)
{
    sgd_branch_defaults(c);
    c->model = "mlp:d=0";
    c->data = DATA;
    c->batch = 64;
    c->lr = 0.05;
    c->shared_epochs = 2;
    c->branches = 3;
    c->epochs = 3;
    c->batches = 0; /* the whole split: f is the training loss */
    c->seed = 5;
    c->work = work;
    c->ready = count_ready;
}

static int same(const sgd_branch_result *a, const sgd_branch_result *b)
{
    size_t B = a->branches, E1 = a->epochs;
    return B == b->branches && E1 == b->epochs && !memcmp(a->row, b->row, B * E1 * sizeof *a->row) &&
           !memcmp(a->inner, b->inner, B * E1 * B * sizeof(double)) &&
           !memcmp(a->dist, b->dist, B * B * sizeof(double)) &&
           !memcmp(a->final_loss, b->final_loss, B * sizeof(double));
}

static float *load_f32(const char *path)
{
    sgd_npy a;
    if (sgd_npy_read(path, &a)) return NULL;
    if (a.count != P_LIN || a.dtype != SGD_NPY_F32) {
        sgd_npy_free(&a);
        return NULL;
    }
    return a.data;
}

/* inner(i, t, j) from sgd_net_loss_grad on the probe set built here, and
 * from sgd_probe_run on branch i towards final j. */
static void check_values(const sgd_branch_config *c, const sgd_branch_result *R, const char *work)
{
    sgd_dataset tr;
    sgd_data_opts o = {0};
    CHECK(sgd_data_load(DATA, SGD_DATA_TRAIN, &o, &tr) == SGD_OK);
    sgd_data_loader_opts lo = {0};
    lo.batch = c->batch;
    lo.shuffle = 1;
    lo.seed = c->seed;
    CHECK(sgd_data_loader_opts_normalize_from(&lo, &tr) == SGD_OK);
    sgd_data_loader L;
    CHECK(sgd_data_loader_init(&L, &tr, &lo) == SGD_OK);
    sgd_net *net = sgd_net_create("mlp:d=0", 1, SIDE, SIDE, NCLS);
    double g[P_LIN], loss;
    char path[400];
    size_t B = R->branches, E1 = R->epochs;
    for (size_t i = 0; i < B; i++)
        for (size_t t = 0; t < E1; t++) {
            snprintf(path, sizeof path, "%s/branches/b%03zu/x/x_%04zu.npy", work, i, t);
            float *xt = load_f32(path);
            CHECK(xt && sgd_net_loss_grad(net, xt, NULL, SGD_NN_TRAIN, &L, 0, 0, 0, &loss, g, NULL) == SGD_OK);
            CHECK_CLOSE(R->row[i * E1 + t].loss, loss, 0, 1e-12);
            for (size_t j = 0; j < B && xt; j++) {
                snprintf(path, sizeof path, "%s/branches/b%03zu/x.npy", work, j);
                float *xT = load_f32(path);
                double in = 0;
                for (size_t k = 0; k < P_LIN && xT; k++) in -= g[k] * ((double)xT[k] - (double)xt[k]);
                CHECK_CLOSE(R->inner[(i * E1 + t) * B + j], in, 0, 1e-12);
                free(xT);
            }
            free(xt);
        }
    /* probe of branch 1 towards final 2: the same bits */
    char run[300], tgt[300], *runs[1] = {run};
    snprintf(run, sizeof run, "%s/branches/b001", work);
    snprintf(tgt, sizeof tgt, "%s/branches/b002/x.npy", work);
    sgd_probe_config pc;
    sgd_probe_defaults(&pc);
    pc.runs = (const char *const *)runs;
    pc.nruns = 1;
    pc.target = tgt;
    pc.batches = 0;
    pc.points = 0;
    pc.sg_batches = 0;
    pc.seed = c->seed;
    sgd_probe_result P;
    CHECK(sgd_probe_run(&pc, &P, NULL, NULL) == SGD_OK);
    CHECK(P.nepochs == E1);
    for (size_t t = 0; t < P.nepochs && t < E1; t++) {
        CHECK(P.row[t].inner == R->inner[(1 * E1 + t) * B + 2]);
        CHECK(P.row[t].grad_norm == R->row[1 * E1 + t].grad_norm);
    }
    sgd_probe_result_free(&P);
    sgd_net_free(net);
    sgd_data_loader_free(&L);
    sgd_data_free(&tr);
}

static void test_branch(void)
{
    char w1[200], w2[200], w3[200];
    snprintf(w1, sizeof w1, "%s/w1", T);
    snprintf(w2, sizeof w2, "%s/w2", T);
    snprintf(w3, sizeof w3, "%s/w3", T);
    sgd_branch_config c;
    config(&c, w1);
    sgd_branch_result R, R1;
    omp_set_num_threads(2);
    readies = 0;
    int rc = sgd_branch_run(&c, &R, NULL, NULL);
    CHECK(rc == SGD_OK);
    if (rc) {
        fprintf(stderr, "%s\n", sgd_errmsg());
        return;
    }
    CHECK(readies == 1 && R.branches == 3 && R.epochs == 3 && R.p == P_LIN);
    CHECK(R.momentum_from_prefix == 1 && R.count == 27 && R.count_others == 18);
    /* convexity: the tangent plane lies below f */
    size_t B = R.branches, E1 = R.epochs;
    for (size_t i = 0; i < B; i++)
        for (size_t t = 0; t < E1; t++)
            for (size_t j = 0; j < B; j++) {
                double in = R.inner[(i * E1 + t) * B + j], gap = R.row[i * E1 + t].loss - R.final_loss[j];
                CHECK(gap > 0);
                CHECK(in > 0 && in >= gap * (1 - 1e-9));
            }
    CHECK(R.nonpositive == 0 && R.frac_nonpositive == 0 && R.frac_nonpositive_others == 0);
    /* t = 0 is the shared branch point: one row for every branch */
    CHECK(R.row[0].loss == R.row[E1].loss && R.inner[0] == R.inner[E1 * B]);
    CHECK(R.dist_min > 0 && R.dist_min <= R.dist_mean && R.dist_mean <= R.dist_max);
    CHECK(R.dist[1] == R.dist[B] && R.dist[0] == 0);
    CHECK(R.branch_seed[0] == sgd_branch_seed(5, 0) && R.branch_seed[0] != R.branch_seed[1]);
    check_values(&c, &R, w1);

    /* one thread: the same bits, the same branch files */
    omp_set_num_threads(1);
    c.work = w2;
    CHECK(sgd_branch_run(&c, &R1, NULL, NULL) == SGD_OK);
    CHECK(same(&R, &R1));
    sgd_branch_result_free(&R1);
    char a[300], b[300], *fa = NULL, *fb = NULL;
    size_t na = 0, nb = 0;
    snprintf(a, sizeof a, "%s/branches/b002/x.npy", w1);
    snprintf(b, sizeof b, "%s/branches/b002/x.npy", w2);
    CHECK(sgd_read_file(a, &fa, &na) == SGD_OK && sgd_read_file(b, &fb, &nb) == SGD_OK);
    CHECK(na == nb && fa && fb && !memcmp(fa, fb, na));
    free(fa);
    free(fb);
    omp_set_num_threads(2);

    /* stopped inside branch 1's training, then in the rows: resumed, the same bits */
    c.work = w3;
    c.stop = stop_cb;
    stop_after = 7; /* polls: prefix epochs 0, 1; before b000; its epochs 0..2; before b001; b001's epoch 0 */
    CHECK(sgd_branch_run(&c, &R1, NULL, NULL) != SGD_OK);
    snprintf(a, sizeof a, "%s/branches/b001/checkpoint/state.json", w3);
    snprintf(b, sizeof b, "%s/branches/b001.partial/checkpoint/state.json", w3);
    struct stat st;
    CHECK(stat(a, &st) == 0 || stat(b, &st) == 0);
    stop_after = 12;
    CHECK(sgd_branch_run(&c, &R1, NULL, NULL) != SGD_OK);
    c.stop = NULL;
    CHECK(sgd_branch_run(&c, &R1, NULL, NULL) == SGD_OK);
    CHECK(R1.resumed_branches >= 2 && R1.resumed_rows > 0 && R1.resumed_rows < B * E1);
    CHECK(same(&R, &R1));
    sgd_branch_result_free(&R1);
    /* another configuration in the same work directory is refused */
    c.lr = 0.04;
    CHECK(sgd_branch_run(&c, &R1, NULL, NULL) != SGD_OK);
    CHECK(strstr(sgd_errmsg(), "other inputs") != NULL);
    c.lr = 0.05;

    /* fresh momentum: other branches from the same point */
    c.work = w2;
    snprintf(a, sizeof a, "/bin/rm -rf %s", w2);
    CHECK(system(a) == 0);
    c.fresh_momentum = 1;
    CHECK(sgd_branch_run(&c, &R1, NULL, NULL) == SGD_OK);
    CHECK(R1.row && R1.momentum_from_prefix == 0 && R1.row[0].loss == R.row[0].loss &&
          R1.final_loss[0] != R.final_loss[0]);
    sgd_branch_result_free(&R1);
    sgd_branch_result_free(&R);
}

/* m0 continues SGD: with one full batch per epoch, 1 epoch + 1 epoch from
 * (x, momentum) equals 2 epochs (the shuffle only reorders the sum). */
static void test_m0(void)
{
    sgd_dataset tr;
    sgd_data_opts o = {0};
    CHECK(sgd_data_load(DATA, SGD_DATA_TRAIN, &o, &tr) == SGD_OK);
    sgd_train_config t;
    sgd_train_defaults(&t);
    t.spec = "mlp:d=0";
    t.data = DATA;
    t.train = &tr;
    t.batch = NIMG;
    t.quiet = 1;
    sgd_lr_schedule_parse("const", 0.5, 2, &t.lr);
    char d2[200], d1[200], dc[200], df[200], path[300];
    snprintf(d2, sizeof d2, "%s/m2", T);
    snprintf(d1, sizeof d1, "%s/m1", T);
    snprintf(dc, sizeof dc, "%s/mc", T);
    snprintf(df, sizeof df, "%s/mf", T);
    t.epochs = 2;
    CHECK(sgd_train_run(&t, d2, 0) == SGD_OK);
    t.epochs = 1;
    CHECK(sgd_train_run(&t, d1, 0) == SGD_OK);
    snprintf(path, sizeof path, "%s/x.npy", d1);
    float *x1 = load_f32(path);
    snprintf(path, sizeof path, "%s/checkpoint/momentum_000001.npy", d1);
    float *m1 = load_f32(path);
    CHECK(x1 && m1);
    t.x0 = x1;
    t.x0_count = P_LIN;
    t.m0 = m1;
    t.seed = 9;
    CHECK(sgd_train_run(&t, dc, 0) == SGD_OK);
    t.m0 = NULL;
    CHECK(sgd_train_run(&t, df, 0) == SGD_OK);
    snprintf(path, sizeof path, "%s/x.npy", d2);
    float *x2 = load_f32(path);
    snprintf(path, sizeof path, "%s/x.npy", dc);
    float *xc = load_f32(path);
    snprintf(path, sizeof path, "%s/x.npy", df);
    float *xf = load_f32(path);
    double ec = 0, ef = 0, n2 = 0;
    for (size_t k = 0; k < P_LIN && x2 && xc && xf; k++) {
        ec = fmax(ec, fabs((double)xc[k] - x2[k]));
        ef = fmax(ef, fabs((double)xf[k] - x2[k]));
        n2 = fmax(n2, fabs((double)x2[k] - x1[k]));
    }
    CHECK(n2 > 1e-2);     /* the second epoch moved x */
    CHECK(ec < 1e-5 * n2); /* carried momentum: the same step */
    CHECK(ef > 0.1 * n2);  /* without it: another step */
    /* m0 needs momentum */
    t.m0 = m1;
    t.momentum = 0;
    snprintf(path, sizeof path, "%s/mz", T);
    CHECK(sgd_train_run(&t, path, 0) == SGD_EINVAL);
    free(x1);
    free(m1);
    free(x2);
    free(xc);
    free(xf);
    sgd_data_free(&tr);
}

/* Bad input: an error naming what is wrong, before any directory is made. */
static void test_errors(void)
{
    char w[200], run[200];
    snprintf(w, sizeof w, "%s/we", T);
    sgd_branch_config c;
    sgd_branch_result R;
    const char *msg[6] = {"unknown model", "--batches 9", "nothere", "x_0007.npy: missing", "--branches", "momentum_000001"};
    for (int k = 0; k < 6; k++) {
        config(&c, w);
        if (k == 0) c.model = "mlpx";
        if (k == 1) c.batches = 9;
        if (k == 2) c.run = "/nothere";
        if (k == 3 || k == 5) {
            snprintf(run, sizeof run, "%s/m2", T); /* test_m0's 2-epoch run */
            c.run = run;
            c.shared_epochs = k == 3 ? 7 : 1;
        }
        if (k == 4) c.branches = 0;
        readies = 0;
        CHECK(sgd_branch_run(&c, &R, NULL, NULL) != SGD_OK);
        CHECK(strstr(sgd_errmsg(), msg[k]) != NULL && strchr(sgd_errmsg(), '\n') == NULL);
        if (!strstr(sgd_errmsg(), msg[k])) fprintf(stderr, "case %d: %s\n", k, sgd_errmsg());
        CHECK(readies == 0);
    }
    struct stat st;
    CHECK(stat(w, &st) != 0);
    /* the same run at its last epoch, or with fresh momentum, is a branch point */
    config(&c, w);
    c.run = run;
    c.shared_epochs = 1;
    c.fresh_momentum = 1;
    c.branches = 2;
    c.epochs = 1;
    CHECK(sgd_branch_run(&c, &R, NULL, NULL) == SGD_OK);
    CHECK(R.momentum_from_prefix == 0 && R.count == 4);
    sgd_branch_result_free(&R);
}

/* The ~10K DenseNet-BC of Sections 5.3 and 5.4 (docs/nn.md). */
static void test_small_densenet(void)
{
    sgd_net *n = sgd_net_create("densenet:depth=22,k=4,reduction=0.75", 3, 32, 32, 10);
    CHECK(n && sgd_net_nparams(n) == 9986);
    sgd_net_free(n);
    n = sgd_net_create("densenet:depth=22,k=4,reduction=0.75", 1, 28, 28, 10);
    CHECK(n && sgd_net_nparams(n) == 9842);
    sgd_net_free(n);
}

int main(void)
{
    test_small_densenet();
    snprintf(T, sizeof T, "/tmp/sgd_branch_XXXXXX");
    if (!mkdtemp(T) || write_data()) return 1;
    setenv("SGD_QUIET", "1", 1);
    /* no figures: gnuplot would take most of the time of these tiny runs */
    char *path = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
    setenv("PATH", "/nonexistent", 1);
    test_branch();
    test_m0();
    test_errors();
    if (path) setenv("PATH", path, 1);
    free(path);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", T);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", T);
    return check_done();
}
