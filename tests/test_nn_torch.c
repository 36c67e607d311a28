/* The C engine against PyTorch 1.13 (float64 reference) on committed
 * fixtures from tools/torch_fixtures.py: tensor names and shapes, train-
 * and eval-mode loss, every gradient entry, and the loss and weights after
 * 3 SGD steps with momentum 0.9 and weight decay 1e-4 (the small nets).
 * The large fixtures (32x32, batch 16 and 128, several seeds) are
 * conditioned: no ReLU input lies within float32 rounding of its kink, so a
 * mismatch there is a bug, not a flipped mask; per tensor they must be as
 * close as PyTorch's own float32 pass (t32err.npy) or 1e-4. */
#include "check.h"
#include "sgdscape/error.h"
#include "sgdscape/io.h"
#include "sgdscape/nn.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int load(const char *dir, const char *name, sgd_npy *a)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fixtures/torch/%s/%s", check_source_dir(), dir, name);
    int rc = sgd_npy_read(path, a);
    if (rc) fprintf(stderr, "%s\n", sgd_errmsg());
    return rc;
}

static void one(const char *dir, const char *spec, int c, int h, int w, int classes)
{
    /* t32err.npy marks a large, conditioned fixture */
    char tp[4096];
    snprintf(tp, sizeof tp, "%s/tests/fixtures/torch/%s/t32err.npy", check_source_dir(), dir);
    sgd_npy T = {0};
    int big = access(tp, R_OK) == 0;
    if (big && load(dir, "t32err.npy", &T)) {
        CHECK(0);
        return;
    }
    sgd_npy X, Bf, In, Lb, G, R, X3;
    if (load(dir, "x.npy", &X) || load(dir, "buffers.npy", &Bf) || load(dir, "input.npy", &In) ||
        load(dir, "labels.npy", &Lb) || load(dir, "grad.npy", &G) || load(dir, "ref.npy", &R) ||
        load(dir, "x3.npy", &X3)) {
        CHECK(0);
        return;
    }
    sgd_net *net = sgd_net_create(spec, c, h, w, classes);
    CHECK(net != NULL);
    if (!net) return;
    size_t p = sgd_net_nparams(net), n = In.shape[0];
    CHECK(p == X.count && p == G.count && p == X3.count);
    CHECK(sgd_net_nbuffers(net) == Bf.count);
    CHECK(X.dtype == SGD_NPY_F32 && Lb.dtype == SGD_NPY_I32 && G.dtype == SGD_NPY_F64);
    if (p != X.count || p != G.count || sgd_net_nbuffers(net) != Bf.count) {
        sgd_net_free(net);
        return;
    }
    /* names.txt: "name AxBxC" per line, params then buffers. */
    char path[4096], line[256];
    snprintf(path, sizeof path, "%s/tests/fixtures/torch/%s/names.txt", check_source_dir(), dir);
    FILE *fp = fopen(path, "r");
    CHECK(fp != NULL);
    size_t i = 0, badname = 0;
    while (fp && fgets(line, sizeof line, fp)) {
        sgd_net_tensor t;
        char nm[128], shp[64], mine[64] = "";
        if (sscanf(line, "%127s %63s", nm, shp) != 2 || sgd_net_tensor_info(net, i++, &t)) {
            badname++;
            continue;
        }
        for (int d = 0; d < t.ndim; d++)
            snprintf(mine + strlen(mine), sizeof mine - strlen(mine), d ? "x%zu" : "%zu", t.shape[d]);
        if (strcmp(nm, t.name) || strcmp(shp, mine)) {
            fprintf(stderr, "%s: tensor %zu: torch %s %s, C %s %s\n", dir, i - 1, nm, shp, t.name, mine);
            badname++;
        }
    }
    if (fp) fclose(fp);
    CHECK(badname == 0 && i == sgd_net_ntensors(net));

    const double *ref = R.data, *gr = G.data;
    float *x = X.data, *g = malloc(sizeof(float) * p), *buf = Bf.data;
    double loss = 0, le = 0;
    size_t cor = 0;
    CHECK(sgd_net_run(net, x, NULL, SGD_NN_TRAIN, In.data, Lb.data, n, &loss, g, &cor) == 0);
    CHECK_CLOSE(loss, ref[0], 0, 1e-4);
    CHECK(cor == (size_t)ref[3]);
    double num = 0, den = 0, worst = 0;
    for (i = 0; i < p; i++) {
        num += (g[i] - gr[i]) * (g[i] - gr[i]);
        den += gr[i] * gr[i];
    }
    /* per tensor relative error too, so a small tensor cannot hide */
    size_t pt = 0;   /* parameter tensor index (t32err's) */
    for (size_t t = 0; t < sgd_net_ntensors(net); t++) {
        sgd_net_tensor info;
        sgd_net_tensor_info(net, t, &info);
        if (info.is_buffer) continue;
        double a = 0, b = 0;
        for (size_t j = info.offset; j < info.offset + info.count; j++) {
            a += (g[j] - gr[j]) * (g[j] - gr[j]);
            b += gr[j] * gr[j];
        }
        double e = sqrt(a / (b + 1e-30));
        /* 4x: our summation orders differ from PyTorch's, not their size */
        double tol = big && pt < T.count ? fmax(1e-4, 4 * ((const double *)T.data)[pt]) : 1e-4;
        pt++;
        if (b > 1e-20 && e / tol > worst) worst = e / tol;
        if (b > 1e-20 && e > tol)
            fprintf(stderr, "%s: %s grad rel err %.3g (tolerance %.3g)\n", dir, info.name, e, tol);
    }
    CHECK(!big || pt == T.count);
    printf("%s: loss %.10g (torch %.10g), grad rel err %.3g (worst tensor at %.2g of its tolerance)\n",
           dir, loss, ref[0], sqrt(num / den), worst);
    CHECK(sqrt(num / den) <= (big ? 2e-5 : 1e-4));
    CHECK(worst <= 1);
    CHECK(sgd_net_run(net, x, buf, SGD_NN_EVAL, In.data, Lb.data, n, &le, NULL, NULL) == 0);
    CHECK_CLOSE(le, ref[1], 0, 1e-4);

    /* 3 SGD steps on the same batch (BN buffers updated, unused in train
     * mode); the small nets only: the large ones' trajectories leave the
     * conditioned point (and would triple the test's time) */
    float *m = calloc(p, sizeof(float));
    if (!big) {
        for (int s = 0; s < 3; s++) {
            sgd_net_run(net, x, buf, SGD_NN_TRAIN, In.data, Lb.data, n, NULL, g, NULL);
            sgd_nn_sgd_step(x, g, m, p, 0.1, 0.9, 1e-4);
        }
        double l3 = 0;
        sgd_net_run(net, x, NULL, SGD_NN_TRAIN, In.data, Lb.data, n, &l3, NULL, NULL);
        printf("%s: loss after 3 steps %.10g (torch %.10g)\n", dir, l3, ref[2]);
        CHECK_CLOSE(l3, ref[2], 0, 1e-4);
        const float *x3 = X3.data;
        double dx = 0, nx = 0;
        for (i = 0; i < p; i++) {
            dx += ((double)x[i] - x3[i]) * ((double)x[i] - x3[i]);
            nx += (double)x3[i] * x3[i];
        }
        CHECK(sqrt(dx / nx) <= 1e-4);
    }
    free(m);
    free(g);
    sgd_net_free(net);
    sgd_npy_free(&X);
    sgd_npy_free(&Bf);
    sgd_npy_free(&In);
    sgd_npy_free(&Lb);
    sgd_npy_free(&G);
    sgd_npy_free(&R);
    sgd_npy_free(&X3);
    if (big) sgd_npy_free(&T);
}

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

int main(void)
{
    /* Three times: small convolutions through the direct kernels and the
     * rest through oneDNN (when built with it); then without the direct
     * kernels (SGD_NN_DIRECT=0, src/nn/direct.c); then everything through
     * the im2col + sgemm kernels (also SGD_NN_DNNL=0, src/nn/dnnl.c). The
     * large fixtures take the first and last (and under the sanitizers,
     * ~10x slower, the first only): the middle pass changes which kernel
     * runs the small convolutions, which the small nets cover. */
    for (int pass = 0; pass < 3; pass++) {
        if (pass >= 1) setenv("SGD_NN_DIRECT", "0", 1);
        if (pass >= 2) setenv("SGD_NN_DNNL", "0", 1);
        one("resnet_n1w4", "resnet:n=1,w=4", 3, 16, 16, 10);
        one("resnet_n2w4A", "resnet:n=2,w=4,shortcut=A", 3, 16, 16, 10);
        one("resnet34_w2", "resnet34:w=2", 1, 16, 16, 5);
        one("densenet_d16k4", "densenet:depth=16,k=4", 3, 16, 16, 10);
        if (pass == 1 || (SANITIZED && pass > 0)) continue;
        one("densenet_d40k4_a", "densenet:depth=40,k=4", 3, 32, 32, 10);
        one("densenet_d40k4_b", "densenet:depth=40,k=4", 3, 32, 32, 10);
        one("densenet_d40k4_c", "densenet:depth=40,k=4", 3, 32, 32, 10);
        one("resnet_n1w8_b128", "resnet:n=1,w=8", 3, 32, 32, 10);
    }
    return check_done();
}
