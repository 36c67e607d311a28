/* Catalog landscapes: gradients and Hessians against float64 finite
 * differences, closed-form convolutions against numerical integration. */
#include "check.h"
#include "sgdscape/error.h"
#include "sgdscape/landscape.h"
#include "sgdscape/rng.h"
#include "landscape/landscape_internal.h"

#include <string.h>

static double fd_grad(const sgd_landscape *f, double *x, size_t i)
{
    double h = 1e-6 * (1 + fabs(x[i])), xi = x[i];
    x[i] = xi + h;
    double fp = f->fg(f, x, NULL);
    x[i] = xi - h;
    double fm = f->fg(f, x, NULL);
    x[i] = xi;
    return (fp - fm) / (2 * h);
}

static void check_gradients(const char *spec, size_t d)
{
    sgd_landscape *f = sgd_landscape_create(spec, d);
    CHECK(f != NULL);
    if (!f) {
        fprintf(stderr, "  %s: %s\n", spec, sgd_errmsg());
        return;
    }
    double x[8], g[8], H[64], gp[8], gm[8];
    for (int k = 0; k < 40; k++) {
        sgd_rng_uniform_fill(7, SGD_RNG_USER, (uint64_t)k, d, x, d);
        for (size_t i = 0; i < d; i++) x[i] = f->lo + (f->hi - f->lo) * x[i];
        f->fg(f, x, g);
        for (size_t i = 0; i < d; i++) {
            double fd = fd_grad(f, x, i);
            if (fabs(g[i] - fd) > 1e-6 * (1 + fabs(fd))) {
                fprintf(stderr, "  %s d=%zu grad[%zu] at x=%g: %.12g vs fd %.12g\n", spec, d, i, x[i], g[i], fd);
                chk_fail++;
            } else
                chk_pass++;
        }
        /* Hessian against differences of the exact gradient. */
        if (f->hess) {
            f->hess(f, x, H);
            for (size_t j = 0; j < d; j++) {
                double h = 1e-6 * (1 + fabs(x[j])), xj = x[j];
                x[j] = xj + h;
                f->fg(f, x, gp);
                x[j] = xj - h;
                f->fg(f, x, gm);
                x[j] = xj;
                for (size_t i = 0; i < d; i++) CHECK_CLOSE(H[i * d + j], (gp[i] - gm[i]) / (2 * h), 1e-4, 1e-5);
            }
            /* L bounds the Hessian (separable: diagonal) where L is known. */
            if (isfinite(f->L))
                for (size_t i = 0; i < d; i++) {
                    if (!(fabs(H[i * d + i]) <= f->L * (1 + 1e-9))) fprintf(stderr, "  %s: H=%g L=%g x=%g\n", spec, H[i * d + i], f->L, x[i]);
                    CHECK(fabs(H[i * d + i]) <= f->L * (1 + 1e-9));
                }
        }
    }
    /* x* is a stationary point. */
    if (f->x_star) {
        f->fg(f, f->x_star, g);
        for (size_t i = 0; i < d; i++) CHECK_CLOSE(g[i], 0.0, 1e-9, 0);
    }
    sgd_landscape_free(f);
}

/* Composite Simpson over [a, b] with n (even) intervals of the function
 * u -> f(y - u) in coordinate 0 (d = 1). */
static double simpson_f(const sgd_landscape *f, double y, double a, double b, int n, double (*w)(double, double),
                        double wp)
{
    double h = (b - a) / n, s = 0;
    for (int k = 0; k <= n; k++) {
        double u = a + h * k, x = y - u;
        double c = (k == 0 || k == n) ? 1 : (k % 2 ? 4 : 2);
        s += c * f->fg(f, &x, NULL) * w(u, wp);
    }
    return s * h / 3;
}
static double w_uniform(double u, double s) { (void)u; return 1 / (2 * s); }
static double w_gauss(double u, double s) { return exp(-0.5 * u * u / (s * s)) / (s * sqrt(2 * M_PI)); }

static void check_smoothing(const char *spec, sgd_noise_kind kind, double eta, double r)
{
    sgd_landscape *f = sgd_landscape_create(spec, 1);
    CHECK(f != NULL);
    if (!f) return;
    sgd_noise W = {.kind = kind, .scale = r};
    double s = eta * r;
    for (int k = 0; k < 15; k++) {
        double y = f->lo + (f->hi - f->lo) * (k + 0.37) / 15, g, dg;
        int rc = f->smooth(f, &W, eta, &y, &g, &dg);
        CHECK(rc == SGD_OK);
        double ref = kind == SGD_NOISE_GAUSS ? simpson_f(f, y, -12 * s, 12 * s, 200000, w_gauss, s)
                                             : simpson_f(f, y, -s, s, 200000, w_uniform, s);
        if (fabs(g - ref) > 1e-8 * (1 + fabs(ref))) {
            fprintf(stderr, "  %s %s s=%g y=%g: g=%.15g quad=%.15g\n", spec, sgd_noise_name(kind), s, y, g, ref);
            chk_fail++;
        } else
            chk_pass++;
        /* grad g against a finite difference of the exact g. */
        double h = 1e-5, yp = y + h, ym = y - h, gp, gm;
        f->smooth(f, &W, eta, &yp, &gp, NULL);
        f->smooth(f, &W, eta, &ym, &gm, NULL);
        CHECK_CLOSE(dg, (gp - gm) / (2 * h), 1e-6, 1e-6);
    }
    sgd_landscape_free(f);
}

/* Batched gradients give the single-point bits; batched values agree up to
 * the reordered sum over coordinates. */
static void check_batch(const char *spec, size_t d)
{
    sgd_landscape *f = sgd_landscape_create(spec, d);
    CHECK(f != NULL);
    if (!f) return;
    enum { N = 13 };
    double x[N * 8], g[N * 8], fx[N], g1[8];
    sgd_rng_uniform_fill(5, SGD_RNG_USER, 1, 0, x, N * d);
    for (size_t e = 0; e < N * d; e++) x[e] = f->lo + (f->hi - f->lo) * x[e];
    f->grad_batch(f, N, x, g);
    f->value_batch(f, N, x, fx);
    int same = 1;
    for (size_t j = 0; j < N; j++) {
        double v = f->fg(f, x + j * d, g1);
        for (size_t i = 0; i < d; i++) same &= g1[i] == g[j * d + i];
        CHECK_CLOSE(fx[j], v, 1e-12, 1e-13);
    }
    if (!same) fprintf(stderr, "  %s: batched gradient differs from fg\n", spec);
    CHECK(same);
    /* separable entries: f = sum_i phi(x_i), and phi' is the gradient's bits */
    const struct sgd_landscape_fast *fp = f->fast;
    if (fp && fp->phi_batch) {
        double ph[N * 8], dph[N * 8], ph1[N * 8];
        fp->phi_batch(f, N * d, x, ph, dph);
        fp->phi_batch(f, N * d, x, ph1, NULL);
        int sameg = 1, samev = 1;
        for (size_t j = 0; j < N; j++) {
            double s = 0;
            for (size_t i = 0; i < d; i++) {
                s += ph[j * d + i];
                sameg &= dph[j * d + i] == g[j * d + i];
                samev &= ph1[j * d + i] == ph[j * d + i];
            }
            CHECK_CLOSE(s, f->fg(f, x + j * d, NULL), 1e-12, 1e-13);
        }
        /* phi_sum: the same terms, summed in its own (fixed) order */
        CHECK(fp->phi_sum != NULL);
        for (size_t m = 0; fp->phi_sum && m <= N * d; m += 5) {
            double t = 0;
            for (size_t k = 0; k < m; k++) t += ph[k];
            CHECK_CLOSE(fp->phi_sum(f, m, x), t, 1e-12, 1e-13);
        }
        if (!sameg) fprintf(stderr, "  %s: phi' differs from the gradient\n", spec);
        CHECK(sameg);
        CHECK(samev);
    }
    sgd_landscape_free(f);
}

int main(void)
{
    const char *const *names = sgd_landscape_names();
    for (const char *const *p = names; *p; p++) {
        check_gradients(*p, 1);
        check_gradients(*p, 3);
    }
    check_gradients("quadratic:a=2,cond=10", 4);
    for (const char *const *p = names; *p; p++) {
        check_batch(*p, 1);
        check_batch(*p, 7);
    }
    check_batch("quadratic:a=2,cond=10", 4);
    check_gradients("spiky:A1=0.02,w1=50", 2);

    /* Exact convolutions: uniform interval and Gaussian. */
    check_smoothing("spiky", SGD_NOISE_BALL, 0.01, 4.0);
    check_smoothing("spiky", SGD_NOISE_BALL, 0.01, 13.0);
    check_smoothing("spiky", SGD_NOISE_CUBE, 0.1, 8.0);
    check_smoothing("rastrigin", SGD_NOISE_BALL, 0.1, 2.0);
    check_smoothing("rastrigin", SGD_NOISE_GAUSS, 0.1, 1.5);
    check_smoothing("quadratic:a=3", SGD_NOISE_GAUSS, 0.5, 1.0);
    check_smoothing("styblinski-tang", SGD_NOISE_BALL, 0.1, 3.0);
    check_smoothing("styblinski-tang", SGD_NOISE_GAUSS, 0.1, 3.0);
    check_smoothing("double-well", SGD_NOISE_BALL, 0.1, 2.0);
    check_smoothing("double-well", SGD_NOISE_GAUSS, 0.1, 2.0);
    check_smoothing("sharp-flat", SGD_NOISE_BALL, 0.1, 2.0);
    check_smoothing("sharp-flat", SGD_NOISE_GAUSS, 0.1, 2.0);

    /* Spiky: smoothing multiplies each cosine by sin(ws)/(ws), so far from the
     * ripple region (|y| < 1.5 - s) g = y^2/2 + s^2/6 + A1 (1 - sinc(w1 s) cos(w1 y)). */
    {
        sgd_landscape *f = sgd_landscape_create("spiky", 1);
        double s = 0.04, y = 0.3, g;
        sgd_noise W = {.kind = SGD_NOISE_BALL, .scale = s / 0.01};
        f->smooth(f, &W, 0.01, &y, &g, NULL);
        double A1 = 0.008, w1 = 80, sinc = sin(w1 * s) / (w1 * s);
        CHECK_CLOSE(g, y * y / 2 + s * s / 6 + A1 * (1 - sinc * cos(w1 * y)), 1e-12, 0);
        sgd_landscape_free(f);
    }
    /* Quadratic in the d-ball: E f(y - eta w) = f(y) + eta^2 r^2 tr(A) / (2 (d+2)). */
    {
        sgd_landscape *f = sgd_landscape_create("quadratic:a=2", 3);
        double y[3] = {0.5, -1, 2}, g, grad[3];
        sgd_noise W = {.kind = SGD_NOISE_BALL, .scale = 3};
        CHECK(f->smooth(f, &W, 0.1, y, &g, grad) == SGD_OK);
        CHECK_CLOSE(g, 0.5 * 2 * (0.25 + 1 + 4) + 0.01 * 9 * 6 / (2 * 5), 1e-12, 0);
        CHECK_CLOSE(grad[2], 4.0, 1e-12, 0);
        sgd_landscape_free(f);
    }
    /* Ackley has no closed form: the method says so. */
    {
        sgd_landscape *f = sgd_landscape_create("rastrigin", 2);
        sgd_noise W = {.kind = SGD_NOISE_BALL, .scale = 1};
        double y[2] = {0, 0}, g;
        CHECK(f->smooth(f, &W, 0.1, y, &g, NULL) == SGD_EUNSUPPORTED);
        sgd_landscape_free(f);
    }
    /* Bad specs. */
    CHECK(sgd_landscape_create("nosuch", 1) == NULL);
    CHECK(strstr(sgd_errmsg(), "nosuch") != NULL);
    CHECK(sgd_landscape_create("spiky:A1=abc", 1) == NULL);
    CHECK(strstr(sgd_errmsg(), "A1") != NULL);
    CHECK(sgd_landscape_create("spiky:zzz=1", 1) == NULL);
    CHECK(strstr(sgd_errmsg(), "zzz") != NULL);
    CHECK(sgd_landscape_create("quadratic:a=-1", 1) == NULL);
    CHECK(sgd_landscape_create("spiky", 0) == NULL);
    return check_done();
}
