/* Model zoo acceptance numbers, layout, initialisation and determinism:
 *  - parameter counts of the specs the paper's experiments use;
 *  - bad specs fail with a message;
 *  - init is a pure function of the seed;
 *  - loss and gradient are bit-identical with 1 and 2 OpenMP threads
 *    (whichever thread count the net first ran with);
 *  - the LR schedules and the PyTorch SGD step. */
#include "check.h"
#include "sgdscape/error.h"
#include "sgdscape/nn.h"
#include "sgdscape/rng.h"

#include <omp.h>
#include <string.h>

static size_t count(const char *spec, int c, int h, int w, int classes)
{
    sgd_net *n = sgd_net_create(spec, c, h, w, classes);
    if (!n) {
        fprintf(stderr, "%s: %s\n", spec, sgd_errmsg());
        return 0;
    }
    size_t p = sgd_net_nparams(n);
    sgd_net_free(n);
    return p;
}

static void determinism(const char *spec, int c, int hw)
{
    sgd_net *net = sgd_net_create(spec, c, hw, hw, 10);
    CHECK(net != NULL);
    if (!net) return;
    size_t p = sgd_net_nparams(net), nb = sgd_net_nbuffers(net), n = 37; /* partial chunk */
    float *x = malloc(4 * p), *g1 = malloc(4 * p), *g2 = malloc(4 * p);
    float *b1 = malloc(4 * (nb + 1)), *b2 = malloc(4 * (nb + 1));
    float *in = malloc(sizeof(float) * n * c * hw * hw);
    int32_t *lab = malloc(sizeof(int32_t) * n);
    double z[2];
    for (size_t i = 0; i < n * c * hw * hw; i++) {
        sgd_rng_normal2(9, SGD_RNG_USER, 0, 0, (uint32_t)i, z);
        in[i] = (float)z[0];
    }
    for (size_t i = 0; i < n; i++) lab[i] = (int32_t)(i * 7 % 10);
    sgd_net_init(net, 5, x, b1);
    memcpy(b2, b1, 4 * (nb + 1));
    double l1, l2;
    omp_set_num_threads(1);
    sgd_net_run(net, x, b1, SGD_NN_TRAIN, in, lab, n, &l1, g1, NULL);
    omp_set_num_threads(2);
    sgd_net_run(net, x, b2, SGD_NN_TRAIN, in, lab, n, &l2, g2, NULL);
    CHECK(l1 == l2);
    CHECK(memcmp(g1, g2, 4 * p) == 0);
    CHECK(memcmp(b1, b2, 4 * nb) == 0);
    /* A fresh net whose first run has 2 threads: the oneDNN primitives
     * (src/nn/dnnl.c) are created then, and must still fix their internal
     * thread count to 1. */
    sgd_net *net2 = sgd_net_create(spec, c, hw, hw, 10);
    CHECK(net2 != NULL);
    if (net2) {
        sgd_net_init(net2, 5, x, b2);
        omp_set_num_threads(2);
        sgd_net_run(net2, x, b2, SGD_NN_TRAIN, in, lab, n, &l2, g2, NULL);
        CHECK(l1 == l2);
        CHECK(memcmp(g1, g2, 4 * p) == 0);
        CHECK(memcmp(b1, b2, 4 * nb) == 0);
        sgd_net_free(net2);
    }
    /* init: same seed same bits, other seed differs */
    float *x2 = malloc(4 * p);
    sgd_net_init(net, 5, x2, NULL);
    CHECK(memcmp(x, x2, 4 * p) == 0);
    sgd_net_init(net, 6, x2, NULL);
    CHECK(memcmp(x, x2, 4 * p) != 0);
    free(x2);
    free(x);
    free(g1);
    free(g2);
    free(b1);
    free(b2);
    free(in);
    free(lab);
    sgd_net_free(net);
}

int main(void)
{
    /* The acceptance numbers (DESIGN.md, issue 4). */
    CHECK(count("resnet20", 3, 32, 32, 10) == 272474);
    CHECK(count("resnet20:shortcut=A", 3, 32, 32, 10) == 269722);
    CHECK(count("resnet:n=3,w=16", 3, 32, 32, 10) == 272474);
    CHECK(count("resnet34:w=16", 3, 32, 32, 10) == 1334618);
    CHECK(count("resnet34", 3, 32, 32, 10) == 1334618);
    CHECK(count("densenet:depth=100,k=12", 3, 32, 32, 10) == 769162);
    CHECK(count("densenet:depth=100,k=12", 3, 32, 32, 100) == 800032);
    CHECK(count("resnet:n=1,w=6", 3, 32, 32, 10) == 11392);
    CHECK(count("resnet:n=1,w=4", 3, 32, 32, 10) == 5214);
    /* Closed forms: MLP and ResNet-56 (= 6n+2 with n = 9, option A: 853,018). */
    CHECK(count("mlp:w=100,d=1", 1, 28, 28, 10) == 784 * 100 + 100 + 100 * 10 + 10);
    CHECK(count("resnet56:shortcut=A", 3, 32, 32, 10) == 853018);
    CHECK(count("resnet110:shortcut=A", 3, 32, 32, 10) == 1727962);
    /* Fashion-MNIST input works (28 -> 14 -> 7). */
    CHECK(count("resnet:n=1,w=6", 1, 28, 28, 10) == 11392 - 2 * 54);

    /* Bad specs: NULL and a message. */
    const char *bad[] = {"foo", "resnet:n=0", "resnet:w=x", "resnet:q=1", "densenet:depth=101",
                         "resnet:n=1,w=5,shortcut=A", "resnet:shortcut=C", "", "mlp:w", NULL};
    for (int i = 0; bad[i]; i++) {
        sgd_error_clear();
        sgd_net *n = sgd_net_create(bad[i], 3, 32, 32, 10);
        CHECK(n == NULL);
        CHECK(sgd_errmsg()[0] != 0);
        sgd_net_free(n);
    }
    CHECK(sgd_net_create("resnet20", 3, 32, 32, 1) == NULL);

    /* Tensor table: params cover x exactly, in order, names as PyTorch. */
    sgd_net *net = sgd_net_create("resnet20", 3, 32, 32, 10);
    size_t off = 0, nt = sgd_net_ntensors(net), boff = 0;
    int ok = 1;
    for (size_t i = 0; i < nt; i++) {
        sgd_net_tensor t;
        sgd_net_tensor_info(net, i, &t);
        if (!t.is_buffer) {
            ok &= t.offset == off;
            off += t.count;
        } else {
            ok &= t.offset == boff;
            boff += t.count;
        }
    }
    CHECK(ok && off == sgd_net_nparams(net) && boff == sgd_net_nbuffers(net));
    sgd_net_tensor t0, tl;
    sgd_net_tensor_info(net, 0, &t0);
    CHECK(!strcmp(t0.name, "conv1.weight") && t0.ndim == 4 && t0.shape[0] == 16 && t0.shape[1] == 3);
    sgd_net_tensor_info(net, 3, &tl);
    CHECK(!strcmp(tl.name, "layer1.0.conv1.weight"));
    char *d = sgd_net_describe(net);
    CHECK(d && strstr(d, "parameters: 272474"));
    free(d);
    sgd_net_free(net);

    determinism("resnet:n=1,w=4", 3, 12);
    determinism("resnet:n=1,w=4,shortcut=A", 1, 9);
    determinism("densenet:depth=10,k=4", 3, 8);

    /* Schedules. */
    sgd_lr_schedule s;
    CHECK(sgd_lr_schedule_parse("step", 0.1, 300, &s) == 0);
    CHECK(sgd_lr_at(&s, 0) == 0.1 && sgd_lr_at(&s, 149) == 0.1);
    CHECK_CLOSE(sgd_lr_at(&s, 150), 0.01, 1e-15, 0);
    CHECK_CLOSE(sgd_lr_at(&s, 224), 0.01, 1e-15, 0);
    CHECK_CLOSE(sgd_lr_at(&s, 225), 0.001, 1e-15, 0);
    CHECK(sgd_lr_schedule_parse("exp", 0.1, 300, &s) == 0);
    CHECK_CLOSE(sgd_lr_at(&s, 10), 0.1 * pow(0.99, 10), 1e-15, 0);
    CHECK(sgd_lr_schedule_parse("list:0:0.5,3:0.05", 1, 10, &s) == 0);
    CHECK(sgd_lr_at(&s, 2) == 0.5 && sgd_lr_at(&s, 3) == 0.05 && sgd_lr_at(&s, 9) == 0.05);
    CHECK(sgd_lr_schedule_parse("list:1:0.5", 1, 10, &s) != 0);
    CHECK(sgd_lr_schedule_parse("list:0:0.5,0:0.1", 1, 10, &s) != 0);
    CHECK(sgd_lr_schedule_parse("cosine", 1, 10, &s) != 0);
    CHECK(sgd_lr_schedule_parse("const", 0.3, 10, &s) == 0 && sgd_lr_at(&s, 7) == 0.3);

    /* SGD step, PyTorch semantics, two steps by hand. */
    float x[2] = {1.0f, -2.0f}, g[2] = {0.5f, 0.25f}, m[2] = {0, 0};
    sgd_nn_sgd_step(x, g, m, 2, 0.1, 0.9, 0.01);
    /* d = g + 0.01 x = (0.51, 0.23); m = d; x = x - 0.1 m */
    CHECK_CLOSE(x[0], 1.0 - 0.051, 1e-6, 0);
    CHECK_CLOSE(x[1], -2.0 - 0.023, 1e-6, 0);
    double d0 = 0.5 + 0.01 * x[0], m0 = 0.9 * 0.51 + d0, x0 = x[0] - 0.1 * m0;
    sgd_nn_sgd_step(x, g, m, 2, 0.1, 0.9, 0.01);
    CHECK_CLOSE(x[0], x0, 1e-6, 0);
    float y[1] = {1.0f}, gy[1] = {1.0f};
    sgd_nn_sgd_step(y, gy, NULL, 1, 0.5, 0, 0);  /* plain SGD */
    CHECK_CLOSE(y[0], 0.5, 1e-7, 0);
    return check_done();
}
