/* The direct small-channel convolution (src/nn/direct.c) against a float64
 * loop reference and against the im2col + sgemm kernels (layers.c), on
 * random shapes: channels 1..20, odd and even sizes, k 1/3/5, stride 1/2,
 * padding 0..k-1, batches that cross the NN_CHUNK boundary, views with a
 * batch stride larger than one sample. Backward must accumulate into the dx
 * and dw it is given. Then bit identity of every output for 1 and 2 OpenMP
 * threads, the precision of the long sums at batch 128 of 32x32 (issue 12),
 * and the selection switch SGD_NN_DIRECT=0 / 2. */
#include "check.h"
#include "nn/nn_internal.h"
#include "sgdscape/rng.h"

#include <omp.h>
#include <string.h>

static uint32_t ctr;
static float rnd_normal(void)
{
    double z[2];
    sgd_rng_normal2(11, SGD_RNG_USER, 7, 0, ctr++, z);
    return (float)z[0];
}
static int rnd_int(int lo, int hi)  /* [lo, hi] */
{
    double u[2];
    sgd_rng_uniform2(11, SGD_RNG_USER, 8, 0, ctr++, u);
    int v = lo + (int)(u[0] * (hi - lo + 1));
    return v > hi ? hi : v;
}

typedef struct shape {
    int cin, cout, h, w, k, s, p, oh, ow;
    size_t n, xs, ys;   /* batch, batch strides of x and y (>= one sample) */
} shape;

/* float64 references: y = conv(x), dx = conv^T(dy), dw = sum dy (x) x. */
static void ref(const shape *S, const float *x, const float *w, const float *dy, double *y, double *dx,
                double *dw)
{
    int k = S->k;
    size_t xsz = (size_t)S->cin * S->h * S->w, ysz = (size_t)S->cout * S->oh * S->ow;
    memset(y, 0, sizeof(double) * S->n * ysz);
    memset(dx, 0, sizeof(double) * S->n * xsz);
    memset(dw, 0, sizeof(double) * S->cout * S->cin * k * k);
    for (size_t i = 0; i < S->n; i++)
        for (int o = 0; o < S->cout; o++)
            for (int c = 0; c < S->cin; c++)
                for (int ki = 0; ki < k; ki++)
                    for (int kj = 0; kj < k; kj++) {
                        double wv = w[((o * S->cin + c) * k + ki) * k + kj];
                        for (int oy = 0; oy < S->oh; oy++) {
                            int iy = oy * S->s - S->p + ki;
                            if (iy < 0 || iy >= S->h) continue;
                            for (int ox = 0; ox < S->ow; ox++) {
                                int ix = ox * S->s - S->p + kj;
                                if (ix < 0 || ix >= S->w) continue;
                                size_t xi = ((size_t)c * S->h + iy) * S->w + ix;
                                size_t yi = ((size_t)o * S->oh + oy) * S->ow + ox;
                                double xv = x[i * S->xs + xi], dv = dy[i * S->ys + yi];
                                y[i * ysz + yi] += wv * xv;
                                dx[i * xsz + xi] += wv * dv;
                                dw[((o * S->cin + c) * k + ki) * k + kj] += dv * xv;
                            }
                        }
                    }
}

typedef struct bufs {
    float *x, *w, *dy, *y, *dx, *dw;
    float **scr, *wpart;
} bufs;

/* over: dx is marked overwrite (the direct kernel stores into it) */
static void run_over(const shape *S, bufs *B, int direct, const float *dx0, const float *dw0, int over)
{
    nn_view x = {B->x, S->xs, S->cin, S->h, S->w, 0}, y = {B->y, S->ys, S->cout, S->oh, S->ow, 0};
    nn_view dy = {B->dy, S->ys, S->cout, S->oh, S->ow, 0};
    nn_view dx = {B->dx, S->xs, S->cin, S->h, S->w, over};
    size_t wn = (size_t)S->cout * S->cin * S->k * S->k;
    memcpy(B->dx, dx0, sizeof(float) * S->n * S->xs);
    memcpy(B->dw, dw0, sizeof(float) * wn);
    memset(B->y, 0, sizeof(float) * S->n * S->ys);
    if (direct) {
        nn_direct_conv_fwd(&x, B->w, S->k, S->s, S->p, &y, S->n, B->scr);
        nn_direct_conv_bwd(&x, B->w, S->k, S->s, S->p, &dy, &dx, B->dw, S->n, B->scr, B->wpart);
    } else {
        nn_conv_fwd(&x, B->w, S->k, S->s, S->p, &y, S->n, B->scr);
        nn_conv_bwd(&x, B->w, S->k, S->s, S->p, &dy, &dx, B->dw, S->n, B->scr, B->wpart);
    }
}

static void run(const shape *S, bufs *B, int direct, const float *dx0, const float *dw0)
{
    run_over(S, B, direct, dx0, dw0, 0);
}

/* |got - want| <= tol * scale + tiny, counted over an array */
static size_t count_bad(const float *got, size_t gs, const double *want, size_t ws, const float *base,
                        size_t n, size_t m, double scale)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < m; j++) {
            double b = base ? base[i * gs + j] : 0;
            double e = fabs(got[i * gs + j] - (want[i * ws + j] + b));
            if (!(e <= 2e-5 * scale + 1e-6)) bad++;
        }
    return bad;
}

/* sqrt(sum (got - want)^2 / sum want^2) */
static double rel_err(const float *got, const double *want, size_t m)
{
    double a = 0, b = 0;
    for (size_t j = 0; j < m; j++) {
        a += (got[j] - want[j]) * (got[j] - want[j]);
        b += want[j] * want[j];
    }
    return sqrt(a / b);
}

/* prec: when given, gets the direct kernels' relative errors of dw and dx
 * against float64, computed from zero (not accumulated into random
 * values, whose rounding would hide the kernels' own). */
static void one_shape(const shape *S0, int verbose, double *prec)
{
    shape S = *S0;
    S.oh = (S.h + 2 * S.p - S.k) / S.s + 1;
    S.ow = (S.w + 2 * S.p - S.k) / S.s + 1;
    size_t xsz = (size_t)S.cin * S.h * S.w, ysz = (size_t)S.cout * S.oh * S.ow;
    S.xs = xsz + (size_t)rnd_int(0, 3);
    S.ys = ysz + (size_t)rnd_int(0, 3);
    size_t wn = (size_t)S.cout * S.cin * S.k * S.k;
    int nt = 2;
    bufs B = {0};
    B.x = malloc(sizeof(float) * S.n * S.xs);
    B.dx = malloc(sizeof(float) * S.n * S.xs);
    B.y = malloc(sizeof(float) * S.n * S.ys);
    B.dy = malloc(sizeof(float) * S.n * S.ys);
    B.w = malloc(sizeof(float) * wn);
    B.dw = malloc(sizeof(float) * wn);
    float *dx0 = malloc(sizeof(float) * S.n * S.xs), *dw0 = malloc(sizeof(float) * wn);
    for (size_t i = 0; i < S.n * S.xs; i++) {
        B.x[i] = rnd_normal();
        dx0[i] = rnd_normal();
    }
    for (size_t i = 0; i < S.n * S.ys; i++) B.dy[i] = rnd_normal();
    for (size_t i = 0; i < wn; i++) {
        B.w[i] = rnd_normal();
        dw0[i] = rnd_normal();
    }
    size_t sl = nn_conv_scratch(S.cin, S.k, S.oh, S.ow);
    size_t dl = nn_direct_scratch(S.cin, S.cout, S.h, S.w, S.k, S.s, S.p);
    CHECK(dl > 0);
    if (dl > sl) sl = dl;
    B.scr = malloc(sizeof(float *) * nt);
    for (int t = 0; t < nt; t++) B.scr[t] = malloc(sizeof(float) * sl);
    B.wpart = malloc(sizeof(float) * nn_conv_wpart(S.n, S.cin, S.cout, S.k));

    double *ry = malloc(sizeof(double) * S.n * ysz), *rdx = malloc(sizeof(double) * S.n * xsz),
           *rdw = malloc(sizeof(double) * wn);
    ref(&S, B.x, B.w, B.dy, ry, rdx, rdw);
    /* scales: a product sum over K terms of N(0,1) x N(0,1) is ~ sqrt(K) */
    double sy = sqrt((double)S.cin * S.k * S.k) + 1, sdx = sqrt((double)S.cout * S.k * S.k) + 1;
    double sdw = sqrt((double)S.n * S.oh * S.ow) + 1;

    float *keep[3][2];
    for (int direct = 1; direct >= 0; direct--) {
        omp_set_num_threads(2);
        run(&S, &B, direct, dx0, dw0);
        size_t b1 = count_bad(B.y, S.ys, ry, ysz, NULL, S.n, ysz, sy);
        /* dx and dw must have been accumulated into: compare with ref + start */
        size_t b2 = 0;
        for (size_t i = 0; i < S.n; i++)
            b2 += count_bad(B.dx + i * S.xs, 0, rdx + i * xsz, 0, dx0 + i * S.xs, 1, xsz, sdx);
        size_t b3 = count_bad(B.dw, 0, rdw, 0, dw0, 1, wn, sdw);
        if (verbose || b1 || b2 || b3)
            fprintf(stderr, "%s cin %d cout %d %dx%d k %d s %d p %d n %zu: bad y %zu dx %zu dw %zu\n",
                    direct ? "direct" : "im2col", S.cin, S.cout, S.h, S.w, S.k, S.s, S.p, S.n, b1, b2,
                    b3);
        CHECK(b1 == 0);
        CHECK(b2 == 0);
        CHECK(b3 == 0);
        /* the views' gaps between samples are left alone */
        size_t gap_bad = 0;
        for (size_t i = 0; i < S.n; i++)
            for (size_t j = xsz; j < S.xs; j++) gap_bad += B.dx[i * S.xs + j] != dx0[i * S.xs + j];
        CHECK(gap_bad == 0);
        keep[direct][0] = malloc(sizeof(float) * S.n * S.ys);
        keep[direct][1] = malloc(sizeof(float) * (S.n * S.xs + wn));
        memcpy(keep[direct][0], B.y, sizeof(float) * S.n * S.ys);
        memcpy(keep[direct][1], B.dx, sizeof(float) * S.n * S.xs);
        memcpy(keep[direct][1] + S.n * S.xs, B.dw, sizeof(float) * wn);
    }
    /* direct vs im2col: both float, both near the float64 reference */
    double worst = 0;
    for (size_t i = 0; i < S.n * S.ys; i++) {
        double e = fabs(keep[1][0][i] - keep[0][0][i]) / sy;
        if (e > worst) worst = e;
    }
    CHECK(worst <= 4e-5);
    /* 1 thread: bit-identical to 2 threads */
    omp_set_num_threads(1);
    run(&S, &B, 1, dx0, dw0);
    CHECK(memcmp(B.y, keep[1][0], sizeof(float) * S.n * S.ys) == 0);
    CHECK(memcmp(B.dx, keep[1][1], sizeof(float) * S.n * S.xs) == 0);
    CHECK(memcmp(B.dw, keep[1][1] + S.n * S.xs, sizeof(float) * wn) == 0);
    omp_set_num_threads(2);
    /* overwrite: the same bits as adding into zeros (every dx position gets
     * one contribution, or a zero where no tap reaches it), gaps untouched */
    {
        float *z = calloc(S.n * S.xs, sizeof(float)), *want = malloc(sizeof(float) * S.n * S.xs);
        run(&S, &B, 1, z, dw0);
        memcpy(want, B.dx, sizeof(float) * S.n * S.xs);
        run_over(&S, &B, 1, dx0, dw0, 1);
        size_t diff = 0;
        for (size_t i = 0; i < S.n; i++)
            for (size_t j = 0; j < S.xs; j++)
                diff += j < xsz ? memcmp(&B.dx[i * S.xs + j], &want[i * S.xs + j], sizeof(float)) != 0
                                : B.dx[i * S.xs + j] != dx0[i * S.xs + j];
        CHECK(diff == 0);
        free(z);
        free(want);
    }
    if (prec) {
        float *z = calloc(S.n * S.xs + wn, sizeof(float));
        run(&S, &B, 1, z, z + S.n * S.xs);
        prec[0] = rel_err(B.dw, rdw, wn);
        for (size_t i = 0; i < S.n; i++) memmove(B.dx + i * xsz, B.dx + i * S.xs, sizeof(float) * xsz);
        prec[1] = rel_err(B.dx, rdx, S.n * xsz);
        free(z);
    }
    for (int d = 0; d < 2; d++) {
        free(keep[d][0]);
        free(keep[d][1]);
    }
    for (int t = 0; t < nt; t++) free(B.scr[t]);
    free(B.scr);
    free(B.wpart);
    free(B.x);
    free(B.dx);
    free(B.y);
    free(B.dy);
    free(B.w);
    free(B.dw);
    free(dx0);
    free(dw0);
    free(ry);
    free(rdx);
    free(rdw);
}

int main(void)
{
    int verbose = getenv("DIRECT_VERBOSE") != NULL;
    /* the CIFAR ResNet shapes (small sizes), then random ones */
    const shape fixed[] = {
        {3, 4, 12, 12, 3, 1, 1, 0, 0, 20, 0, 0},   /* first conv */
        {4, 4, 12, 12, 3, 1, 1, 0, 0, 17, 0, 0},
        {4, 8, 12, 12, 3, 2, 1, 0, 0, 33, 0, 0},   /* downsampling */
        {4, 8, 12, 12, 1, 2, 0, 0, 0, 16, 0, 0},   /* projection shortcut */
        {16, 16, 8, 8, 3, 1, 1, 0, 0, 5, 0, 0},
        {8, 16, 9, 7, 3, 2, 1, 0, 0, 3, 0, 0},     /* odd sizes */
        {5, 3, 7, 9, 1, 1, 0, 0, 0, 2, 0, 0},
        {2, 3, 8, 8, 5, 2, 2, 0, 0, 2, 0, 0},      /* k = 5 */
        {1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0},
        {3, 2, 2, 2, 3, 2, 1, 0, 0, 1, 0, 0},
        /* weight-gradient sums over several j blocks (direct.c JBLK) */
        {4, 6, 32, 32, 3, 1, 1, 0, 0, 18, 0, 0},
        {3, 8, 50, 46, 3, 2, 1, 0, 0, 17, 0, 0},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) one_shape(&fixed[i], verbose, NULL);

    /* Precision (issue 12): ResNet-20's first convolutions at batch 128 of
     * 32x32, 131072 products per weight gradient, 144 per input gradient.
     * Summed in one accumulator per lane they were 3.7-3.8 and 3.6-3.7
     * units of float32 rounding (u = 2^-24) from float64 here; blocked
     * (direct.c), 2.7 and 2.2. */
    const shape big[] = {{3, 16, 32, 32, 3, 1, 1, 0, 0, 128, 0, 0},
                         {16, 16, 32, 32, 3, 1, 1, 0, 0, 128, 0, 0}};
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        double e[2], u = ldexp(1.0, -24);
        one_shape(&big[i], verbose, e);
        printf("%d -> %d 32x32 batch 128: direct dw rel err %.3g (%.2f u), dx %.3g (%.2f u)\n",
               big[i].cin, big[i].cout, e[0], e[0] / u, e[1], e[1] / u);
        CHECK(e[0] <= 3.2 * u);
        CHECK(e[1] <= 2.6 * u);
    }
    int nrand = getenv("DIRECT_SHAPES") ? atoi(getenv("DIRECT_SHAPES")) : 60;
    for (int r = 0; r < nrand; r++) {
        shape S = {0};
        S.cin = rnd_int(1, 20);
        S.cout = rnd_int(1, 20);
        S.k = rnd_int(0, 1) ? 3 : 1;
        S.s = rnd_int(1, 2);
        S.p = rnd_int(0, S.k - 1);
        S.h = rnd_int(S.k > 2 * S.p ? S.k - 2 * S.p : 1, 13);
        S.w = rnd_int(S.k > 2 * S.p ? S.k - 2 * S.p : 1, 13);
        S.n = (size_t)rnd_int(1, 36);
        one_shape(&S, verbose, NULL);
    }

    /* the selection switch */
    unsetenv("SGD_NN_DIRECT");
    CHECK(nn_direct_conv_ok(4, 4, 32, 32, 3, 1, 1) == 1);
    CHECK(nn_direct_conv_ok(3, 16, 32, 32, 3, 1, 1) == 1);
    CHECK(nn_direct_conv_ok(4, 4, 32, 32, 3, 3, 1) == 0);  /* stride 3: not handled */
    CHECK(nn_direct_scratch(4, 4, 32, 32, 3, 3, 1) == 0);
    CHECK(nn_direct_conv_ok(16, 16, 32, 32, 3, 1, 1) == 0);  /* oneDNN's (docs/nn.md) */
    setenv("SGD_NN_DIRECT", "0", 1);
    CHECK(nn_direct_conv_ok(4, 4, 32, 32, 3, 1, 1) == 0);
    setenv("SGD_NN_DIRECT", "2", 1);
    CHECK(nn_direct_conv_ok(16, 16, 32, 32, 3, 1, 1) == 1);
    CHECK(nn_direct_conv_ok(16, 32, 32, 32, 3, 1, 1) == 0);
    unsetenv("SGD_NN_DIRECT");
    return check_done();
}
