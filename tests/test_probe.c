/* The Section 5 probes: the ball sampler against (rho/R)^p (KS), the lower
 * bounds against hand computations, a convex known answer (softmax
 * regression, where <-grad f(x_t), x_T - x_t> >= f(x_t) - f(x_T)), each inner
 * product against `sgdscape grad`'s grad.npy, thread-count independence,
 * resume identity and the input errors. */
#include "check.h"
#include "sgdscape/data.h"
#include "sgdscape/io.h"
#include "sgdscape/nn.h"
#include "sgdscape/probes.h"

#include <omp.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void test_ball(void)
{
    enum { N = 2000 };
    const size_t ps[4] = {1, 2, 3, 5};
    double u[5], rho[N];
    for (int k = 0; k < 4; k++) {
        size_t p = ps[k];
        double R = 0.5, neg = 0;
        for (size_t j = 0; j < N; j++) {
            sgd_probe_ball_offset(7, 1, 3, j, p, R, u);
            double s = 0;
            for (size_t i = 0; i < p; i++) s += u[i] * u[i];
            rho[j] = sqrt(s);
            neg += u[0] < 0;
        }
        qsort(rho, N, sizeof *rho, cmp_d);
        double D = 0;
        for (size_t j = 0; j < N; j++) {
            double F = pow(rho[j] / R, (double)p);
            D = fmax(D, fmax(F - (double)j / N, (double)(j + 1) / N - F));
        }
        CHECK(rho[N - 1] <= R);
        CHECK(D < 1.95 / sqrt((double)N)); /* KS at alpha = 0.001 */
        CHECK(fabs(neg / N - 0.5) < 0.05); /* the direction is symmetric */
    }
    /* a pure function of (seed, trial, epoch, point) */
    double a[3], b[3];
    sgd_probe_ball_offset(7, 1, 3, 5, 3, 0.5, a);
    sgd_probe_ball_offset(7, 1, 3, 5, 3, 0.5, b);
    CHECK(!memcmp(a, b, sizeof a));
    sgd_probe_ball_offset(7, 2, 3, 5, 3, 0.5, b);
    CHECK(memcmp(a, b, sizeof a) != 0);
}

static void test_bounds(void)
{
    const double v[4] = {1, 2, 3, 4};
    sgd_probe_stats s;
    CHECK(sgd_probe_stats_of(v, 4, 0.9, &s) == SGD_OK);
    CHECK_CLOSE(s.mean, 2.5, 0, 1e-15);
    CHECK_CLOSE(s.min, 1, 0, 0);
    CHECK_CLOSE(s.max, 4, 0, 0);
    CHECK_CLOSE(s.std, 1.2909944487358056, 0, 1e-15); /* sqrt(5/3) */
    /* Hoeffding: 2.5 - 3 sqrt(ln 10 / 8) = 2.5 - 3 * 0.53649154... */
    CHECK_CLOSE(s.hoeffding_lower, 2.5 - 3 * 0.5364915065723368, 0, 1e-14);
    /* CLT: 2.5 - z_0.9 sqrt(5/3) / 2, z_0.9 = 1.2815515655446004 */
    CHECK_CLOSE(s.clt_lower, 2.5 - 1.2815515655446004 * 1.2909944487358056 / 2, 0, 1e-14);
    CHECK(sgd_probe_stats_of(v, 1, 0.95, &s) == SGD_OK);
    CHECK(s.std == 0 && s.hoeffding_lower == 1 && isnan(s.clt_lower));
    CHECK(sgd_probe_stats_of(v, 4, 1.0, &s) != SGD_OK);
}

static char T[64], CLI[4200], DATA[500];
enum { NIMG = 240, P_LIN = 8 * 8 * 3 + 3 }; /* mlp:d=0 on 1x8x8, 3 classes */

/* A small separable set in npy form (Fashion-MNIST takes a second to load):
 * class k lights rows 3k..3k+1, with noise from an LCG. */
static int write_data(void)
{
    static uint8_t X[NIMG * 64];
    int32_t y[NIMG];
    uint32_t s = 12345;
    for (int n = 0; n < NIMG; n++) {
        y[n] = n % 3;
        for (int i = 0; i < 64; i++) {
            s = s * 1664525u + 1013904223u;
            X[n * 64 + i] = (uint8_t)((s >> 24) % 90 + (i / 8 / 3 == y[n] ? 120 : 0));
        }
    }
    char xp[200], yp[200];
    snprintf(xp, sizeof xp, "%s/X.npy", T);
    snprintf(yp, sizeof yp, "%s/y.npy", T);
    size_t xs[3] = {NIMG, 8, 8}, ys[1] = {NIMG};
    snprintf(DATA, sizeof DATA, "npy:%s,%s", xp, yp);
    return sgd_npy_write(xp, SGD_NPY_U8, X, 3, xs) || sgd_npy_write(yp, SGD_NPY_I32, y, 1, ys);
}

static int sh(const char *fmt, const char *a, const char *b)
{
    char cmd[9000];
    snprintf(cmd, sizeof cmd, fmt, CLI, a, b);
    return system(cmd);
}

/* sgdscape grad on the probe set of test_convex (batch 64, all of it, seed 1, epoch 0) */
static int grad(const char *weights, const char *out)
{
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "%s grad --model mlp:d=0 --data %s --batch 64 --batches 0 --weights %s --out %s >/dev/null",
             CLI, DATA, weights, out);
    return system(cmd);
}

static float *load_f32(const char *path, size_t *n)
{
    sgd_npy a;
    if (sgd_npy_read(path, &a)) return NULL;
    *n = a.count;
    return a.data;
}

static int same_result(const sgd_probe_result *a, const sgd_probe_result *b)
{
    size_t rows = a->trials * a->nepochs;
    return a->trials == b->trials && a->nepochs == b->nepochs && a->points == b->points &&
           !memcmp(a->row, b->row, rows * sizeof *a->row) &&
           !memcmp(a->neighbors, b->neighbors, rows * a->points * sizeof(double));
}

static int stop_after;
static int stop_cb(void *ctx)
{
    (void)ctx;
    return stop_after-- <= 0;
}

/* Softmax regression (mlp:d=0) is convex: along its own SGD trajectory
 * towards a final x_T with smaller loss every inner product is positive. */
static void test_convex(void)
{
    char run[200], *runs[1] = {run};
    snprintf(run, sizeof run, "%s/lin", T);
    CHECK(sh("%s train --model mlp:d=0 --data %s --batch 64 --epochs 4 --no-momentum --lr 0.05 --quiet "
             "--out %s >/dev/null",
             DATA, run) == 0);
    sgd_probe_config c;
    sgd_probe_defaults(&c);
    c.runs = (const char *const *)runs;
    c.nruns = 1;
    c.batches = 0; /* the whole split: f is the training loss */
    c.points = 4;
    c.sg_batches = 2;
    sgd_probe_result R;
    omp_set_num_threads(2);
    CHECK(sgd_probe_run(&c, &R, NULL, NULL) == SGD_OK);
    CHECK(R.nepochs == 4 && R.p == P_LIN && R.batches == 4);
    /* f(x_T) from grad (--batches 0, the same probe set) */
    char gdir[300], cmd[300], path[400];
    snprintf(gdir, sizeof gdir, "%s/gT", T);
    snprintf(cmd, sizeof cmd, "%s/x.npy", run);
    CHECK(grad(cmd, gdir) == 0);
    snprintf(path, sizeof path, "%s/summary.json", gdir);
    sgd_json *sj = sgd_json_load(path);
    double fT = NAN;
    CHECK(sj && sgd_json_get_num(sj, "loss", &fT) == 0);
    sgd_json_free(sj);
    size_t p = 0, n = 0;
    snprintf(path, sizeof path, "%s/x.npy", run);
    float *xT = load_f32(path, &p);
    CHECK(xT && p == P_LIN);
    for (size_t k = 0; k < R.nepochs && xT; k++) {
        const sgd_probe_row *r = &R.row[k];
        CHECK(r->inner > 0);
        CHECK(r->inner >= r->loss - fT);  /* convexity */
        CHECK(r->loss > fT);
        CHECK(r->lr == 0.05 && r->step_bound == 0.05 * r->sg_max);
        /* the inner product recomputed from sgdscape grad's grad.npy */
        char xp[400];
        snprintf(xp, sizeof xp, "%s/x/x_%04d.npy", run, R.epoch[k]);
        snprintf(gdir, sizeof gdir, "%s/g%d", T, R.epoch[k]);
        CHECK(grad(xp, gdir) == 0);
        float *xt = load_f32(xp, &n);
        snprintf(path, sizeof path, "%s/grad.npy", gdir);
        sgd_npy g;
        CHECK(sgd_npy_read(path, &g) == SGD_OK && g.count == p);
        double in = 0, gg = 0;
        for (size_t i = 0; i < p && xt; i++) {
            const double gi = ((const double *)g.data)[i];
            in -= gi * ((double)xT[i] - (double)xt[i]);
            gg += gi * gi;
        }
        CHECK_CLOSE(r->inner, in, 0, 1e-12);
        CHECK_CLOSE(r->grad_norm, sqrt(gg), 0, 1e-12);
        free(xt);
        sgd_npy_free(&g);
    }
    free(xT);

    /* one thread: the same bits */
    sgd_probe_result R1;
    omp_set_num_threads(1);
    CHECK(sgd_probe_run(&c, &R1, NULL, NULL) == SGD_OK);
    CHECK(same_result(&R, &R1));
    sgd_probe_result_free(&R1);
    omp_set_num_threads(2);

    /* stopped after two rows, then resumed: the same bits */
    char rows[200];
    snprintf(rows, sizeof rows, "%s/rows", T);
    c.rows_dir = rows;
    c.stop = stop_cb;
    stop_after = 2 * (int)(1 + c.points + c.sg_batches); /* asked before each gradient of a row */
    CHECK(sgd_probe_run(&c, &R1, NULL, NULL) != SGD_OK);
    c.stop = NULL;
    CHECK(sgd_probe_run(&c, &R1, NULL, NULL) == SGD_OK);
    CHECK(R1.resumed_rows == 2);
    CHECK(same_result(&R, &R1));
    sgd_probe_result_free(&R1);
    /* rows of another configuration are refused */
    c.points = 5;
    CHECK(sgd_probe_run(&c, &R1, NULL, NULL) != SGD_OK);
    CHECK(strstr(sgd_errmsg(), "other inputs") != NULL);
    c.points = 4;
    c.rows_dir = NULL;

    /* --epochs */
    c.epochs = "1:3:2";
    CHECK(sgd_probe_run(&c, &R1, NULL, NULL) == SGD_OK);
    CHECK(R1.nepochs == 2 && R1.epoch[0] == 1 && R1.epoch[1] == 3);
    CHECK(R1.nepochs == 2 && !memcmp(&R1.row[1], &R.row[3], sizeof R.row[0]));
    sgd_probe_result_free(&R1);
    c.epochs = NULL;
    sgd_probe_result_free(&R);
}

/* One-line errors naming the file, for each bad input. */
static void test_errors(void)
{
    char traj[200], tgt[300], path[400];
    snprintf(traj, sizeof traj, "%s/traj", T);
    CHECK(sgd_mkdirs(traj) == SGD_OK);
    float x[P_LIN];
    for (size_t i = 0; i < P_LIN; i++) x[i] = 0.001f * (float)(i % 7);
    size_t shape[1] = {P_LIN};
    for (int e = 0; e < 3; e++) {
        snprintf(path, sizeof path, "%s/x_%04d.npy", traj, e);
        CHECK(sgd_npy_write(path, SGD_NPY_F32, x, 1, shape) == SGD_OK);
    }
    snprintf(tgt, sizeof tgt, "%s/target.npy", T);
    CHECK(sgd_npy_write(tgt, SGD_NPY_F32, x, 1, shape) == SGD_OK);
    sgd_probe_config c;
    sgd_probe_defaults(&c);
    c.traj = traj;
    c.target = tgt;
    c.model = "mlp:d=0";
    c.data = DATA;
    c.points = 2;
    c.sg_batches = 1;
    c.batches = 1;
    CHECK(sgd_probe_check(&c) == SGD_OK);
    /* missing epoch */
    c.epochs = "0:4";
    CHECK(sgd_probe_check(&c) != SGD_OK);
    CHECK(strstr(sgd_errmsg(), "x_0003.npy: missing") != NULL);
    c.epochs = NULL;
    /* missing target */
    char nt[300];
    snprintf(nt, sizeof nt, "%s/nothere.npy", T);
    c.target = nt;
    CHECK(sgd_probe_check(&c) != SGD_OK);
    CHECK(strstr(sgd_errmsg(), "nothere.npy") != NULL);
    c.target = tgt;
    /* wrong length */
    snprintf(path, sizeof path, "%s/x_0001.npy", traj);
    shape[0] = P_LIN - 1;
    CHECK(sgd_npy_write(path, SGD_NPY_F32, x, 1, shape) == SGD_OK);
    CHECK(sgd_probe_check(&c) != SGD_OK);
    CHECK(strstr(sgd_errmsg(), "x_0001.npy: 194 float32 values") != NULL);
    /* NaN */
    shape[0] = P_LIN;
    x[100] = NAN;
    CHECK(sgd_npy_write(path, SGD_NPY_F32, x, 1, shape) == SGD_OK);
    CHECK(sgd_probe_check(&c) != SGD_OK);
    CHECK(strstr(sgd_errmsg(), "x_0001.npy") != NULL && strstr(sgd_errmsg(), "NaN") != NULL);
    CHECK(strchr(sgd_errmsg(), '\n') == NULL);
}

int main(void)
{
    test_ball();
    test_bounds();
    snprintf(CLI, sizeof CLI, "%s/sgdscape", check_build_dir());
    if (access(CLI, X_OK) != 0) {
        printf("skipping the network checks: no %s\n", CLI);
        return check_done();
    }
    snprintf(T, sizeof T, "/tmp/sgd_probe_XXXXXX");
    if (!mkdtemp(T) || write_data()) return 1;
    setenv("SGD_QUIET", "1", 1);
    test_convex();
    test_errors();
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", T);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", T);
    return check_done();
}
