/* Finite-difference checks of every layer's backward pass.
 *
 * The engine is float32, so a coordinate-wise difference quotient drowns in
 * rounding. Instead, per parameter tensor t we take the direction
 * v = g_t / |g_t| (g = the engine's gradient restricted to t) and compare
 * the central difference (f(x + hv) - f(x - hv)) / 2h, evaluated with the
 * loss accumulated in double, against g.v = |g_t|. A wrong backward in any
 * layer shows up either in its own tensors or, through the propagated input
 * gradient, in every tensor before it. Random directions are checked too,
 * so an error orthogonal to g cannot hide. Nets are tiny and cover conv
 * 3x3/1x1, stride 1/2, padding, BN (train and eval), ReLU, 2x2 avg pool,
 * global pool, linear, residual add, option-A shortcut and DenseNet
 * concatenation. Deeper nets (resnet34 layout, several blocks per stage)
 * are checked against PyTorch's float64 gradients in test_nn_torch.c: with
 * batch-statistics BN on a 6-image batch they are too curved for a float32
 * difference quotient. FD_SPEC / FD_IN / FD_MODE / FD_H run one net by hand. */
#include "check.h"
#include "sgdscape/error.h"
#include "sgdscape/nn.h"
#include "sgdscape/rng.h"

#include <omp.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

/* random whole-network directions per (net, mode, seed) */
#define NDIR 3

static double loss_at(sgd_net *net, const float *x, float *buf, int mode, const float *in,
                      const int32_t *lab, size_t n)
{
    double l = 0;
    sgd_net_run(net, x, buf, mode, in, lab, n, &l, NULL, NULL);
    return l;
}

static void check_net(const char *spec, int c, int h, int w, int classes, int mode, uint64_t seed)
{
    const size_t n = 6;
    sgd_net *net = sgd_net_create(spec, c, h, w, classes);
    CHECK(net != NULL);
    if (!net) {
        fprintf(stderr, "%s: %s\n", spec, sgd_errmsg());
        return;
    }
    size_t p = sgd_net_nparams(net), nb = sgd_net_nbuffers(net);
    float *x = malloc(sizeof(float) * p), *g = malloc(sizeof(float) * p),
          *xp = malloc(sizeof(float) * p);
    float *buf = malloc(sizeof(float) * (nb + 1));
    size_t per = (size_t)c * h * w;
    float *in = malloc(sizeof(float) * n * per);
    int32_t lab[6];
    sgd_net_init(net, seed, x, buf);
    /* Move BN weights/biases off 1/0 and make eval statistics non-trivial. */
    double z[2];
    for (size_t i = 0; i < p; i++) {
        sgd_rng_normal2(seed, SGD_RNG_USER, 1, 0, (uint32_t)i, z);
        x[i] += (float)(0.05 * z[0]);
    }
    for (size_t i = 0; i < nb; i++) {
        sgd_rng_uniform2(seed, SGD_RNG_USER, 2, 0, (uint32_t)i, z);
        buf[i] += (float)(0.3 * z[0]);
    }
    for (size_t i = 0; i < n * per; i++) {
        sgd_rng_normal2(seed, SGD_RNG_USER, 3, 0, (uint32_t)i, z);
        in[i] = (float)z[0];
    }
    for (size_t i = 0; i < n; i++) lab[i] = (int32_t)(i % (size_t)classes);

    double l0;
    int rc = sgd_net_run(net, x, mode == SGD_NN_EVAL ? buf : NULL, mode, in, lab, n, &l0, g, NULL);
    CHECK(rc == 0);
    CHECK(isfinite(l0));
    int bad = 0;
    size_t nt = sgd_net_ntensors(net);
    /* At most ~16 tensors per net (plus the random direction) keep the test
     * fast under sanitizers; the stride still visits every layer kind. */
    size_t stride = nt / 16 + 1;
    for (size_t t = 0; t < nt + NDIR; t = (t + stride > nt && t < nt) ? nt : t < nt ? t + stride : t + 1) {
        /* t < nt: parameter tensor t along its gradient; t >= nt: a random
         * direction over all of x (the whole network at once). */
        size_t off = 0, cnt = p;
        if (t < nt) {
            sgd_net_tensor info;
            sgd_net_tensor_info(net, t, &info);
            if (info.is_buffer) continue;
            off = info.offset;
            cnt = info.count;
        }
        double *v = calloc(p, sizeof(double)), nv = 0, gv = 0;
        for (size_t i = off; i < off + cnt; i++) {
            if (t < nt) v[i] = g[i];
            else {
                sgd_rng_normal2(seed, SGD_RNG_USER, 4, (uint32_t)(t - nt), (uint32_t)i, z);
                v[i] = z[0];
            }
            nv += v[i] * v[i];
        }
        nv = sqrt(nv);
        if (nv < 1e-7) {
            free(v);
            continue;
        }
        for (size_t i = 0; i < p; i++) {
            v[i] /= nv;
            gv += v[i] * g[i];
        }
        /* Richardson-extrapolated differences along v, in float64 from
         * float32 points: x + s v is rounded to float, so each quotient is
         * taken minus g.(x + s v - x) / s, g along the displacement actually
         * made. The central one has O(h^4) truncation; a ReLU kink within h
         * of x on one side (eval-mode nets are piecewise linear) spoils it,
         * so either one-sided estimate (O(h^2)) may pass instead: a wrong
         * gradient fails all three. */
        double h0 = getenv("FD_H") ? atof(getenv("FD_H")) : 4e-3;
        double f0 = loss_at(net, x, buf, mode, in, lab, n), q[2][2];  /* [h, h/2][+, -] */
        for (int k = 0; k < 2; k++)
            for (int sgn = 0; sgn < 2; sgn++) {
                double st = (sgn ? -h0 : h0) / (k + 1), gd = 0;
                for (size_t i = 0; i < p; i++) {
                    xp[i] = (float)(x[i] + st * v[i]);
                    gd += (double)g[i] * ((double)xp[i] - x[i]) / st;
                }
                q[k][sgn] = (loss_at(net, xp, buf, mode, in, lab, n) - f0) / st - gd;
            }
        double cen = gv + (4 * (q[1][0] + q[1][1]) - (q[0][0] + q[0][1])) / 6;
        double fwd = gv + 2 * q[1][0] - q[0][0], back = gv + 2 * q[1][1] - q[0][1];
        double tol = 2e-3 + 2e-2 * fabs(gv), tol1 = 2e-3 + 4e-2 * fabs(gv);
        if (getenv("FD_ALL"))
            fprintf(stderr, "  %zu fd %.6g (one-sided %.6g %.6g) grad %.6g\n", t, cen, fwd, back, gv);
        if (!(fabs(cen - gv) <= tol || fabs(fwd - gv) <= tol1 || fabs(back - gv) <= tol1)) {
            bad++;
            sgd_net_tensor info = {0};
            if (t < nt) sgd_net_tensor_info(net, t, &info);
            fprintf(stderr, "%s mode %d: %s: fd %.6g (one-sided %.6g, %.6g) vs grad %.6g\n", spec, mode,
                    t < nt ? info.name : "(random direction)", cen, fwd, back, gv);
        }
        free(v);
    }
    CHECK(bad == 0);
    printf("%s mode %d seed %llu: %zu tensors, %d random directions: %s\n", spec, mode,
           (unsigned long long)seed, nt, NDIR, bad ? "MISMATCH" : "ok");
    free(x);
    free(g);
    free(xp);
    free(buf);
    free(in);
    sgd_net_free(net);
}

int main(void)
{
    /* Many tiny passes: one thread avoids OpenMP barrier spinning on a
     * shared machine (thread-count determinism is test_nn_models's job). */
    omp_set_num_threads(1);
    if (getenv("FD_SPEC")) {
        int c = 2, h = 8, w = 8;
        if (getenv("FD_IN")) sgd_nn_parse_shape(getenv("FD_IN"), &c, &h, &w);
        check_net(getenv("FD_SPEC"), c, h, w, 3, atoi(getenv("FD_MODE") ? getenv("FD_MODE") : "1"),
                  getenv("FD_SEED") ? strtoull(getenv("FD_SEED"), NULL, 10) : 7);
        return check_done();
    }
    /* Every model family, train and eval mode, three seeds (weights, BN
     * statistics, inputs and directions all follow the seed). */
    for (uint64_t seed = 7; seed < 10; seed++)
        for (int mode = 0; mode < 2; mode++) {
            check_net("resnet:n=1,w=4", 2, 8, 8, 3, mode, seed);              /* projection shortcut */
            check_net("resnet:n=1,w=4,shortcut=A", 2, 7, 7, 3, mode, seed);   /* option A, odd size */
            if (mode == SGD_NN_EVAL)   /* train mode: BN over 6 x 1 x 1 in layer4, too
                                          curved for float32 quotients (test_nn_torch) */
                check_net("resnet34:w=1", 1, 8, 8, 3, mode, seed);            /* 4 stages, 3-4-6-3 */
            check_net("densenet:depth=10,k=3", 2, 8, 8, 4, mode, seed);       /* concat, transitions */
            check_net("convnet:w=3", 1, 9, 9, 3, mode, seed);                 /* avg pool on odd size */
            check_net("mlp:w=7,d=2", 1, 4, 5, 3, mode, seed);
        }
    return check_done();
}
