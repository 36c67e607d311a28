/* Issue 12: the small-channel direct kernels (src/nn/direct.c) as exact as
 * PyTorch float32 on long sums. Fixture resnet_n1w16_b128 from
 * tools/torch_fixtures.py: ResNet-20's first stage (3 -> 16 and 16 -> 16
 * convolutions at 32x32), batch 128, float64 reference gradient, and
 * PyTorch float32's own relative error, of the whole gradient (t32all.npy)
 * and per tensor (t32err.npy). The engine's float32 gradient, with the
 * default kernel choice and with the direct kernels taking every
 * convolution of at most 16 channels (SGD_NN_DIRECT=2), must be at least as
 * close to float64 as PyTorch float32's: as a whole, and per tensor for the
 * convolutions the direct kernels run (each of them a sum over 131072
 * positions). The fixture is conditioned (no ReLU input within float32
 * rounding of its kink), so the difference is summation alone. */
#include "check.h"
#include "sgdscape/error.h"
#include "sgdscape/io.h"
#include "sgdscape/nn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FIX "resnet_n1w16_b128"

static int load(const char *name, sgd_npy *a)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fixtures/torch/" FIX "/%s", check_source_dir(), name);
    int rc = sgd_npy_read(path, a);
    if (rc) fprintf(stderr, "%s\n", sgd_errmsg());
    return rc;
}

/* sqrt(sum (g - r)^2 / sum r^2) over [a, b) */
static double relerr(const float *g, const double *r, size_t a, size_t b)
{
    double num = 0, den = 0;
    for (size_t j = a; j < b; j++) {
        num += (g[j] - r[j]) * (g[j] - r[j]);
        den += r[j] * r[j];
    }
    return sqrt(num / (den + 1e-300));
}

static void pass(const char *direct, const sgd_npy *X, const sgd_npy *In, const sgd_npy *Lb,
                 const sgd_npy *G, const sgd_npy *T, const sgd_npy *TA)
{
    setenv("SGD_NN_DIRECT", direct, 1);
    sgd_net *net = sgd_net_create("resnet:n=1,w=16", 3, 32, 32, 10);
    CHECK(net != NULL);
    if (!net) return;
    size_t p = sgd_net_nparams(net);
    CHECK(p == X->count && p == G->count);
    if (p != X->count || p != G->count) {
        sgd_net_free(net);
        return;
    }
    float *g = malloc(sizeof(float) * p);
    double loss = 0;
    CHECK(sgd_net_run(net, X->data, NULL, SGD_NN_TRAIN, In->data, Lb->data, In->shape[0], &loss, g,
                      NULL) == 0);
    const double *gr = G->data, *t32 = T->data, t32all = ((const double *)TA->data)[0];
    double all = relerr(g, gr, 0, p);
    printf("SGD_NN_DIRECT=%s: grad rel err %.3g (PyTorch float32 %.3g)\n", direct, all, t32all);
    CHECK(all <= t32all);
    size_t pt = 0;
    for (size_t t = 0; t < sgd_net_ntensors(net); t++) {
        sgd_net_tensor info;
        sgd_net_tensor_info(net, t, &info);
        if (info.is_buffer) continue;
        double e = relerr(g, gr, info.offset, info.offset + info.count);
        /* the convolutions with at most 16 channels on both sides: the
         * ones SGD_NN_DIRECT=2 gives the direct kernels */
        int small = info.ndim == 4 && info.shape[0] <= 16 && info.shape[1] <= 16;
        if (small) {
            printf("  %-22s rel err %.3g (PyTorch float32 %.3g)\n", info.name, e, t32[pt]);
            CHECK(e <= t32[pt]);
        }
        pt++;
    }
    CHECK(pt == T->count);
    free(g);
    sgd_net_free(net);
}

int main(void)
{
    sgd_npy X, In, Lb, G, T, TA;
    if (load("x.npy", &X) || load("input.npy", &In) || load("labels.npy", &Lb) ||
        load("grad.npy", &G) || load("t32err.npy", &T) || load("t32all.npy", &TA)) {
        CHECK(0);
        return check_done();
    }
    CHECK(X.dtype == SGD_NPY_F32 && G.dtype == SGD_NPY_F64 && Lb.dtype == SGD_NPY_I32);
    pass("1", &X, &In, &Lb, &G, &T, &TA);
    pass("2", &X, &In, &Lb, &G, &T, &TA);
    sgd_npy_free(&X);
    sgd_npy_free(&In);
    sgd_npy_free(&Lb);
    sgd_npy_free(&G);
    sgd_npy_free(&T);
    sgd_npy_free(&TA);
    return check_done();
}
