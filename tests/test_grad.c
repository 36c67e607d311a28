/* sgd_grad_run / sgd_grad_write (the experiment behind `sgdscape grad`):
 * its f and grad f are exactly sgd_net_loss_grad's on the same batches, the
 * files hold them, and bad weights are refused with the file named. */
#include "check.h"
#include "sgdscape/error.h"
#include "sgdscape/io.h"
#include "sgdscape/nn.h"
#include "sgdscape/rng.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { N = 64, H = 8, W = 8, CLASSES = 4 };

static char dir[64] = "/tmp/sgd_test_grad_XXXXXX";
static char xs[128], ys[128], data[300];

static void make_data(void)
{
    float *X = malloc(sizeof(float) * N * H * W);
    int64_t y[N];
    double *z = malloc(sizeof(double) * N * H * W);
    sgd_rng_normal_fill(5, SGD_RNG_USER, 0, 0, z, (size_t)N * H * W);
    for (size_t i = 0; i < (size_t)N * H * W; i++) X[i] = (float)z[i];
    for (int i = 0; i < N; i++) y[i] = i % CLASSES;
    size_t sx[3] = {N, H, W}, sy[1] = {N};
    snprintf(xs, sizeof xs, "%s/X.npy", dir);
    snprintf(ys, sizeof ys, "%s/y.npy", dir);
    CHECK(sgd_npy_write(xs, SGD_NPY_F32, X, 3, sx) == SGD_OK);
    CHECK(sgd_npy_write(ys, SGD_NPY_I64, y, 1, sy) == SGD_OK);
    snprintf(data, sizeof data, "npy:%s,%s", xs, ys);
    free(X);
    free(z);
}

static void write_weights(const char *name, const float *x, size_t p, int as_f64)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t shape[1] = {p};
    if (!as_f64) {
        CHECK(sgd_npy_write(path, SGD_NPY_F32, x, 1, shape) == SGD_OK);
        return;
    }
    double *d = malloc(sizeof(double) * p);
    for (size_t i = 0; i < p; i++) d[i] = x[i];
    CHECK(sgd_npy_write(path, SGD_NPY_F64, d, 1, shape) == SGD_OK);
    free(d);
}

/* The run must fail, and its message must name what is wrong. */
static void check_refused(sgd_grad_config *c, const char *weights, const char *want)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, weights);
    c->weights = path;
    sgd_grad_result r;
    int rc = sgd_grad_run(c, &r);
    CHECK(rc != SGD_OK && strstr(sgd_errmsg(), want) && strstr(sgd_errmsg(), path));
    if (rc == SGD_OK) sgd_grad_result_free(&r);
    sgd_error_clear();
}

int main(void)
{
    CHECK(mkdtemp(dir) != NULL);
    make_data();
    const char *model = "mlp:w=8,d=1";
    sgd_net *net = sgd_net_create(model, 1, H, W, CLASSES);
    CHECK(net != NULL);
    size_t p = sgd_net_nparams(net);
    float *x = malloc(sizeof(float) * (p + 1));
    sgd_net_init(net, 7, x, NULL);
    write_weights("x.npy", x, p, 0);

    sgd_grad_config c;
    sgd_grad_defaults(&c);
    char wpath[256];
    snprintf(wpath, sizeof wpath, "%s/x.npy", dir);
    c.model = model;
    c.weights = wpath;
    c.data = data;
    c.batch = 16;
    c.first = 1;
    c.batches = 2;
    c.epoch = 2;
    c.seed = 3;
    sgd_grad_result r;
    CHECK(sgd_grad_run(&c, &r) == SGD_OK);
    CHECK(r.p == p && r.batches == 2);

    /* the same f and grad f straight from the engine: bit for bit */
    sgd_dataset d;
    CHECK(sgd_data_load(data, SGD_DATA_TRAIN, NULL, &d) == SGD_OK);
    sgd_data_loader_opts lo = {0};
    lo.batch = 16;
    lo.shuffle = 1;
    lo.seed = 3;
    CHECK(sgd_data_loader_opts_normalize_from(&lo, &d) == SGD_OK);
    sgd_data_loader L;
    CHECK(sgd_data_loader_init(&L, &d, &lo) == SGD_OK);
    double *g = malloc(sizeof(double) * p), loss, acc, g2 = 0;
    CHECK(sgd_net_loss_grad(net, x, NULL, SGD_NN_TRAIN, &L, 2, 1, 2, &loss, g, &acc) == SGD_OK);
    CHECK(loss == r.loss && acc == r.accuracy && memcmp(g, r.grad, sizeof(double) * p) == 0);
    for (size_t i = 0; i < p; i++) g2 += g[i] * g[i];
    CHECK(r.grad_norm == sqrt(g2) && r.grad_norm > 0);

    /* the files hold the same numbers */
    CHECK(sgd_grad_write(dir, &c, &r) == SGD_OK);
    char path[256];
    snprintf(path, sizeof path, "%s/grad.npy", dir);
    sgd_npy a;
    CHECK(sgd_npy_read(path, &a) == SGD_OK);
    CHECK(a.dtype == SGD_NPY_F64 && a.count == p && memcmp(a.data, r.grad, sizeof(double) * p) == 0);
    sgd_npy_free(&a);
    snprintf(path, sizeof path, "%s/summary.json", dir);
    sgd_json *s = sgd_json_load(path);
    double v = 0;
    CHECK(s && sgd_json_get_num(s, "loss", &v) == 0 && v == r.loss);
    sgd_json_free(s);
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    s = sgd_json_load(path);
    CHECK(s && sgd_json_get_num(s, "batches", &v) == 0 && v == 2);
    sgd_json_free(s);
    sgd_grad_result_free(&r);

    /* --batches 0: every batch from `first` (64 images / 16 = 4, less 1) */
    c.batches = 0;
    CHECK(sgd_grad_run(&c, &r) == SGD_OK && r.batches == 3);
    sgd_grad_result_free(&r);
    c.batches = 2;

    /* bad weights: the wrong type, count and values, each named */
    write_weights("x64.npy", x, p, 1);
    check_refused(&c, "x64.npy", "want float32");
    write_weights("short.npy", x, p - 1, 0);
    check_refused(&c, "short.npy", "needs");
    x[3] = NAN;
    write_weights("nan.npy", x, p, 0);
    check_refused(&c, "nan.npy", "NaN");

    sgd_data_loader_free(&L);
    sgd_data_free(&d);
    sgd_net_free(net);
    free(g);
    free(x);
    const char *names[] = {"X.npy", "y.npy", "x.npy", "x64.npy", "short.npy", "nan.npy", "grad.npy", "summary.json",
                           "manifest.json"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
    return check_done();
}
