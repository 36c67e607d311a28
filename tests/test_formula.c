/* Formula landscapes: values and reverse-mode gradients against hand-derived
 * closed forms and central finite differences, Hessians against closed forms
 * and differences of gradients, the grammar (precedence, associativity),
 * error messages with columns, NaN propagation and concurrent evaluation. */
#include <stdio.h>

#include "check.h"
#include "landscape/formula_internal.h"
#include "sgdscape/error.h"
#include "sgdscape/landscape.h"

#include <stdint.h>
#include <string.h>

#define PI 3.14159265358979323846

/* A small deterministic generator so the random points are reproducible. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static double unif(double lo, double hi)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return lo + (hi - lo) * (double)(z >> 11) * 0x1.0p-53;
}

static double sig(double a) { return 1.0 / (1.0 + exp(-a)); }

/* ---- closed forms: value returned, gradient written into g ---- */
static double cf_spiky(const double *x, double *g)
{
    g[0] = 2 * x[0] + 3 * sin(60 * x[0]);
    return x[0] * x[0] + 0.05 * (1 - cos(60 * x[0]));
}
static double cf_gauss_sin(const double *x, double *g)
{
    double t = x[0], e = exp(-t * t / 2);
    g[0] = cos(t) * e - t * sin(t) * e;
    return sin(t) * e;
}
static double cf_logsqrt(const double *x, double *g)
{
    double t = x[0];
    g[0] = 2 * t / (1 + t * t) + t / sqrt(t * t + 1);
    return log(1 + t * t) + sqrt(t * t + 1);
}
static double cf_hyp(const double *x, double *g)
{
    double t = x[0], th = tanh(3 * t);
    g[0] = 3 * (1 - th * th) + 1 / (1 + t * t) - cosh(t / 2) / 2 + sinh(t / 3) / 3;
    return th + atan(t) - sinh(t / 2) + cosh(t / 3);
}
static double cf_sigsoft(const double *x, double *g)
{
    double t = x[0], s = sig(2 * t);
    g[0] = 2 * s * (1 - s) + sig(t - 1);
    return s + log1p(exp(t - 1));
}
static double cf_kinks(const double *x, double *g)
{
    double t = x[0];
    double m = t * t * t < -t ? t * t * t : -t;
    g[0] = (t > 0.3 ? 1 : -1) + (t > 0.5 ? 1 : 0) + (t * t * t < -t ? 3 * t * t : -1);
    return fabs(t - 0.3) + (t > 0.5 ? t : 0.5) + m;
}
static double cf_powers(const double *x, double *g)
{
    double t = x[0];
    g[0] = log(2.0) * pow(2, t) + 3 * t * t - t * t * t;
    return pow(2, t) + t * t * t - t * t * t * t / 4;
}
static double cf_powc(const double *x, double *g)
{
    double t = x[0];
    g[0] = 0.75 * pow(t * t + 1, -0.25) * 2 * t;
    return pow(t * t + 1, 0.75);
}
static double cf_tan_e(const double *x, double *g)
{
    double t = x[0], c = cos(t / 2);
    g[0] = 0.5 / (c * c) / (2 + t * t) - tan(t / 2) * 2 * t / ((2 + t * t) * (2 + t * t)) +
           exp(t / 2) / 2;
    return tan(t / 2) / (2 + t * t) + exp(t / 2);
}
static double cf_kdiv(const double *x, double *g)
{
    double q = 2 + sin(x[0]);
    g[0] = -3 * cos(x[0]) / (q * q);
    return 3 / q;
}
static double cf_rosenbrock(const double *x, double *g)
{
    double a = x[0] - 1, b = x[1] - x[0] * x[0];
    g[0] = 2 * a - 400 * x[0] * b;
    g[1] = 200 * b;
    return a * a + 100 * b * b;
}
static double cf_varpow(const double *x, double *g)
{
    double q = x[0] * x[0] + 1;
    g[0] = x[1] / x[2] + x[1] * pow(q, x[1] - 1) * 2 * x[0];
    g[1] = x[0] / x[2] + pow(q, x[1]) * log(q);
    g[2] = -x[0] * x[1] / (x[2] * x[2]);
    return x[0] * x[1] / x[2] + pow(q, x[1]);
}
static double cf_rastrigin5(const double *x, double *g)
{
    double f = 50;
    for (int i = 0; i < 5; i++) {
        f += x[i] * x[i] - 10 * cos(2 * PI * x[i]);
        g[i] = 2 * x[i] + 20 * PI * sin(2 * PI * x[i]);
    }
    return f;
}
static double cf_weighted4(const double *x, double *g)
{
    double f = 0;
    for (int i = 0; i < 4; i++) {
        f += (i + 1) * x[i] * x[i];
        g[i] = 2 * (i + 1) * x[i];
    }
    return f;
}
static double cf_prodcos3(const double *x, double *g)
{
    double p = cos(x[0]) * cos(x[1]) * cos(x[2]);
    g[0] = -sin(x[0]) * cos(x[1]) * cos(x[2]);
    g[1] = -cos(x[0]) * sin(x[1]) * cos(x[2]);
    g[2] = -cos(x[0]) * cos(x[1]) * sin(x[2]);
    return p;
}
static double cf_griewank4(const double *x, double *g)
{
    double s = 0, p = 1, c[4];
    for (int i = 0; i < 4; i++) {
        s += x[i] * x[i];
        c[i] = cos(x[i] / sqrt(i + 1.0));
        p *= c[i];
    }
    for (int i = 0; i < 4; i++) {
        double other = 1;
        for (int j = 0; j < 4; j++)
            if (j != i) other *= c[j];
        g[i] = 2 * x[i] / 4000 + other * sin(x[i] / sqrt(i + 1.0)) / sqrt(i + 1.0);
    }
    return s / 4000 - p + 1;
}
static double cf_anchor3(const double *x, double *g)
{
    double f = 0;
    g[0] = 0;
    for (int i = 0; i < 3; i++) {
        double r = x[i] - x[0];
        f += r * r;
        if (i) {
            g[i] = 2 * r;
            g[0] -= 2 * r;
        }
    }
    return f;
}
static double cf_minmax2(const double *x, double *g)
{
    /* max(x1, x2) + min(x1^2, 2*x2) */
    g[0] = (x[0] >= x[1] ? 1 : 0) + (x[0] * x[0] <= 2 * x[1] ? 2 * x[0] : 0);
    g[1] = (x[0] >= x[1] ? 0 : 1) + (x[0] * x[0] <= 2 * x[1] ? 0 : 2);
    return (x[0] >= x[1] ? x[0] : x[1]) + (x[0] * x[0] <= 2 * x[1] ? x[0] * x[0] : 2 * x[1]);
}

/* sin(P) + S^2 with P = prod(x_i/2), S = sum(x_i): the sums feed nonlinear
 * operations, so their tangents matter in the Hessian. */
static double cf_nested3(const double *x, double *g)
{
    double P = 1, S = 0;
    for (int i = 0; i < 3; i++) {
        P *= x[i] / 2;
        S += x[i];
    }
    for (int i = 0; i < 3; i++) {
        double other = 0.5;
        for (int j = 0; j < 3; j++)
            if (j != i) other *= x[j] / 2;
        g[i] = cos(P) * other + 2 * S;
    }
    return sin(P) + S * S;
}

/* Shared subexpressions (one tape value, several consumers): p = x1 x2
 * three times; u = x^2 + 1 three times inside a sum body; x1 * x1, one
 * value as both operands; a smoothstep of one value six times. */
static double cf_shared2(const double *x, double *g)
{
    double p = x[0] * x[1], dp = 2 * (p + 1) + cos(p) + 1;
    g[0] = dp * x[1] + 2 * x[0] + 2 * x[0] * x[1];
    g[1] = dp * x[0] + x[0] * x[0];
    return (p + 1) * (p + 1) + sin(p) + p + x[0] * x[0] + x[0] * x[1] * x[0];
}
static double cf_shared_body3(const double *x, double *g)
{
    double f = 0;
    for (int i = 0; i < 3; i++) {
        double u = x[i] * x[i] + 1;
        f += u * u + sin(u) + 2 * u;
        g[i] = (2 * u + cos(u) + 2) * 2 * x[i];
    }
    return f;
}
static double cf_smoothstep(const double *x, double *g)
{
    double t = (x[0] - 0.5) / 0.5, U = t < 0 ? 0 : t > 1 ? 1 : t, dU = t > 0 && t < 1 ? 2.0 : 0.0;
    double S = U * U * U * (10 - 15 * U + 6 * U * U), dS = 30 * U * U * (1 - U) * (1 - U) * dU;
    g[0] = dS * (1 - cos(20 * x[0])) + S * 20 * sin(20 * x[0]) + x[0];
    return S * (1 - cos(20 * x[0])) + x[0] * x[0] / 2;
}

typedef struct {
    const char *expr;
    size_t d;
    double (*cf)(const double *x, double *g);
    double lo, hi; /* where the random points are drawn */
} fcase;

static const fcase cases[] = {
    {"x^2 + 0.05*(1-cos(60*x))", 1, cf_spiky, -3, 3},
    {"sin(x)*exp(-x^2/2)", 1, cf_gauss_sin, -3, 3},
    {"log(1+x^2) + sqrt(x^2+1)", 1, cf_logsqrt, -3, 3},
    {"tanh(3*x) + atan(x) - sinh(x/2) + cosh(x/3)", 1, cf_hyp, -3, 3},
    {"sigmoid(2*x) + softplus(x-1)", 1, cf_sigsoft, -5, 5},
    {"abs(x-0.3) + max(x, 0.5) + min(x^3, -x)", 1, cf_kinks, -2, 2},
    {"2^x + x^3 - x**4 / 4", 1, cf_powers, -2, 2},
    {"pow(x^2+1, 0.75)", 1, cf_powc, -3, 3},
    {"tan(x/2)/(2+x^2) + e^(x/2)", 1, cf_tan_e, -2, 2},
    {"3/(2+sin(x))", 1, cf_kdiv, -4, 4},
    {"(x1-1)^2 + 100*(x2-x1^2)^2", 2, cf_rosenbrock, -2, 2},
    {"x1*x2/x3 + pow(x1^2+1, x2)", 3, cf_varpow, 0.5, 2},
    {"sum(x^2 - 10*cos(2*pi*x)) + 10*d", 5, cf_rastrigin5, -5.12, 5.12},
    {"sum(i*x^2)", 4, cf_weighted4, -2, 2},
    {"prod(cos(x))", 3, cf_prodcos3, -2, 2},
    {"sum(x^2)/4000 - prod(cos(x/sqrt(i))) + 1", 4, cf_griewank4, -10, 10},
    {"sum((x - x1)^2)", 3, cf_anchor3, -2, 2},
    {"max(x1, x2) + min(x1^2, 2*x2)", 2, cf_minmax2, -2, 2},
    {"sin(prod(x/2)) + sum(x)^2", 3, cf_nested3, -3, 3},
    {"(x1*x2 + 1)^2 + sin(x1*x2) + x1*x2 + x1*x1 + x1*x2*x1", 2, cf_shared2, -2, 2},
    {"sum((x^2+1)*(x^2+1) + sin(x^2+1) + 2*(x^2+1))", 3, cf_shared_body3, -2, 2},
    {"min(max((x-0.5)/0.5, 0), 1)^3 * (10 - 15*min(max((x-0.5)/0.5, 0), 1) + "
     "6*min(max((x-0.5)/0.5, 0), 1)^2) * (1-cos(20*x)) + x^2/2",
     1, cf_smoothstep, -0.5, 1.5},
};

/* Central difference of f along coordinate j. */
static double fd_grad(const sgd_landscape *f, const double *x, size_t j)
{
    double xp[16], xm[16];
    memcpy(xp, x, f->d * sizeof *x);
    memcpy(xm, x, f->d * sizeof *x);
    double h = 1e-6 * fmax(1.0, fabs(x[j]));
    xp[j] += h;
    xm[j] -= h;
    return (sgd_landscape_eval(f, xp, NULL) - sgd_landscape_eval(f, xm, NULL)) / (xp[j] - xm[j]);
}

static void test_gradients(void)
{
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const fcase *k = &cases[c];
        sgd_landscape *f = sgd_landscape_formula(k->expr, k->d);
        CHECK(f != NULL);
        if (!f) {
            fprintf(stderr, "  %s: %s\n", k->expr, sgd_errmsg());
            continue;
        }
        CHECK(f->d == k->d);
        CHECK(!strcmp(f->name, "formula"));
        CHECK(!strcmp(f->doc, k->expr));
        CHECK(f->hess != NULL);
        int bad = 0;
        for (int t = 0; t < 25; t++) {
            double x[16], g[16], gc[16];
            for (size_t j = 0; j < k->d; j++) x[j] = unif(k->lo, k->hi);
            double v = sgd_landscape_eval(f, x, g);
            double vc = k->cf(x, gc);
            double vn = sgd_landscape_eval(f, x, NULL);
            int ok = fabs(v - vc) <= 1e-12 * (1 + fabs(vc)) && v == vn;
            for (size_t j = 0; j < k->d; j++) {
                double fd = fd_grad(f, x, j);
                ok &= fabs(g[j] - gc[j]) <= 1e-11 * (1 + fabs(gc[j]));
                ok &= fabs(g[j] - fd) <= 1e-6 * (1 + fabs(g[j]));
                if (!ok && !bad)
                    fprintf(stderr, "  %s at x[%zu]=%.17g: f=%.17g (cf %.17g) g=%.17g cf=%.17g fd=%.17g\n",
                            k->expr, j, x[j], v, vc, g[j], gc[j], fd);
            }
            bad |= !ok;
        }
        CHECK(!bad);

        /* Hessian: symmetric, and equal to central differences of the exact
         * gradient (skip the kinked case, where it is 0 a.e. anyway). */
        double x[16], H[256];
        for (size_t j = 0; j < k->d; j++) x[j] = unif(k->lo, k->hi);
        CHECK(f->hess(f, x, H) == SGD_OK);
        int hbad = 0;
        for (size_t r = 0; r < k->d; r++) {
            double xp[16], xm[16], gp[16], gm[16];
            memcpy(xp, x, sizeof xp);
            memcpy(xm, x, sizeof xm);
            double h = 1e-5 * fmax(1.0, fabs(x[r]));
            xp[r] += h;
            xm[r] -= h;
            sgd_landscape_eval(f, xp, gp);
            sgd_landscape_eval(f, xm, gm);
            for (size_t s = 0; s < k->d; s++) {
                double fd = (gp[s] - gm[s]) / (xp[r] - xm[r]);
                double hrs = H[r * k->d + s], hsr = H[s * k->d + r];
                int ok = fabs(hrs - hsr) <= 1e-9 * (1 + fabs(hrs)) &&
                         fabs(hrs - fd) <= 2e-5 * (1 + fabs(hrs));
                if (!ok && !hbad)
                    fprintf(stderr, "  %s: H[%zu][%zu]=%.17g H[%zu][%zu]=%.17g fd=%.17g\n", k->expr, r,
                            s, hrs, s, r, hsr, fd);
                hbad |= !ok;
            }
        }
        CHECK(!hbad);
        sgd_landscape_free(f);
    }
}

static void test_hessian_closed_form(void)
{
    sgd_landscape *f = sgd_landscape_formula("(x1-1)^2 + 100*(x2-x1^2)^2", 2);
    CHECK(f != NULL);
    if (!f) return;
    for (int t = 0; t < 10; t++) {
        double x[2] = {unif(-2, 2), unif(-2, 2)}, H[4];
        CHECK(f->hess(f, x, H) == SGD_OK);
        CHECK_CLOSE(H[0], 2 - 400 * (x[1] - x[0] * x[0]) + 800 * x[0] * x[0], 1e-10, 1e-12);
        CHECK_CLOSE(H[1], -400 * x[0], 1e-10, 1e-12);
        CHECK_CLOSE(H[2], -400 * x[0], 1e-10, 1e-12);
        CHECK_CLOSE(H[3], 200, 1e-10, 1e-12);
    }
    sgd_landscape_free(f);

    /* Rastrigin: diagonal 2 + 40 pi^2 cos(2 pi x_i). */
    f = sgd_landscape_formula("sum(x^2 - 10*cos(2*pi*x)) + 10*d", 3);
    double x[3] = {0.3, -1.7, 2.2}, H[9];
    CHECK(f && f->hess(f, x, H) == SGD_OK);
    for (int r = 0; r < 3; r++)
        for (int s = 0; s < 3; s++)
            CHECK_CLOSE(H[r * 3 + s], r == s ? 2 + 40 * PI * PI * cos(2 * PI * x[r]) : 0.0, 1e-10,
                        1e-12);
    sgd_landscape_free(f);

    /* prod() with a zero factor: H of x1*x2*x3 is [[0,x3,x2],[x3,0,x1],[x2,x1,0]]. */
    f = sgd_landscape_formula("prod(x)", 3);
    double z[3] = {0.0, 2.0, 3.0};
    CHECK(f && f->hess(f, z, H) == SGD_OK);
    double want[9] = {0, 3, 2, 3, 0, 0, 2, 0, 0};
    for (int r = 0; r < 9; r++) CHECK(H[r] == want[r]);
    sgd_landscape_free(f);
}

/* prod() gradients where factors vanish: exact products of the others. */
static void test_prod_zeros(void)
{
    sgd_landscape *f = sgd_landscape_formula("prod(x)", 3);
    CHECK(f != NULL);
    if (!f) return;
    double g[3];
    double a[3] = {0.0, 2.0, 3.0};
    CHECK(sgd_landscape_eval(f, a, g) == 0.0);
    CHECK(g[0] == 6.0 && g[1] == 0.0 && g[2] == 0.0);
    double b[3] = {0.0, 2.0, 0.0};
    CHECK(sgd_landscape_eval(f, b, g) == 0.0);
    CHECK(g[0] == 0.0 && g[1] == 0.0 && g[2] == 0.0);
    double c[3] = {-1.5, 2.0, 4.0};
    CHECK(sgd_landscape_eval(f, c, g) == -12.0);
    CHECK(g[0] == 8.0 && g[1] == -6.0 && g[2] == -3.0);
    sgd_landscape_free(f);
}

static double value_of(const char *expr, size_t d, double x0)
{
    sgd_landscape *f = sgd_landscape_formula(expr, d);
    if (!f) {
        fprintf(stderr, "  %s: %s\n", expr, sgd_errmsg());
        return NAN;
    }
    double x[4] = {x0, x0, x0, x0};
    double v = sgd_landscape_eval(f, x, NULL);
    sgd_landscape_free(f);
    return v;
}

static void test_grammar(void)
{
    CHECK(value_of("2^3^2", 1, 0) == 512);
    CHECK(value_of("2**3**2", 1, 0) == 512);
    CHECK(value_of("(2^3)^2", 1, 0) == 64);
    CHECK(value_of("-x^2", 1, 3) == -9);
    CHECK(value_of("-2^2", 1, 0) == -4);
    CHECK(value_of("2^-1", 1, 0) == 0.5);
    CHECK(value_of("2^-x^2", 1, 1) == 0.5);
    CHECK(value_of("1-2-3", 1, 0) == -4);
    CHECK(value_of("8/4/2", 1, 0) == 1);
    CHECK(value_of("2*3+4*5", 1, 0) == 26);
    CHECK(value_of("2+3*4^2", 1, 0) == 50);
    CHECK(value_of("(1+2)*3", 1, 0) == 9);
    CHECK(value_of("- -x", 1, 5) == 5);
    CHECK(value_of("+x - -x", 1, 5) == 10);
    CHECK(value_of("1e-3*1000 + .5 + 2. + 1E+1", 1, 0) == 13.5);
    CHECK(value_of("  x\t*\n2 ", 1, 4) == 8);
    CHECK(value_of("d", 3, 0) == 3);
    CHECK(value_of("sum(1)", 4, 0) == 4);
    CHECK(value_of("sum(i)", 4, 0) == 10);
    CHECK(value_of("prod(i)", 4, 0) == 24);
    CHECK(value_of("x1 + x", 1, 2) == 4);
    CHECK_CLOSE(value_of("pi", 1, 0), PI, 0, 1e-16);
    CHECK_CLOSE(value_of("e", 1, 0), exp(1.0), 0, 1e-16);
    CHECK_CLOSE(value_of("e^x", 1, 2), exp(2.0), 0, 1e-15);
    CHECK(value_of("min(x, 1) + max(x, 1)", 1, 3) == 4);
    CHECK(value_of("x^1 + x^0", 1, 7) == 8);
    /* Constant exponents never differentiate through log(x): finite at x <= 0. */
    sgd_landscape *p = sgd_landscape_formula("x^0 + x^3 + x^2", 1);
    double x0 = 0.0, g0 = 1.0, xn = -2.0, gn = 0.0;
    CHECK(p && sgd_landscape_eval(p, &x0, &g0) == 1.0 && g0 == 0.0);
    CHECK(p && sgd_landscape_eval(p, &xn, &gn) == 1.0 - 8.0 + 4.0 && gn == 12.0 - 4.0);
    sgd_landscape_free(p);

    /* Via the spec dispatcher: "formula:" prefix and a bare expression. */
    sgd_landscape *f = sgd_landscape_create("formula:x^2 + 1", 1);
    CHECK(f != NULL);
    if (f) {
        double x = 3, g;
        CHECK(sgd_landscape_eval(f, &x, &g) == 10 && g == 6);
        CHECK(f->lo < f->hi && isnan(f->L) && f->x_star == NULL);
        CHECK(f->grad_batch != NULL);
        sgd_landscape_free(f);
    }
    f = sgd_landscape_create("(x1-1)^2 + 100*(x2-x1^2)^2", 2);
    CHECK(f != NULL);
    if (f) {
        double x[2] = {1, 1}, g[2];
        CHECK(sgd_landscape_eval(f, x, g) == 0 && g[0] == 0 && g[1] == 0);
        sgd_landscape_free(f);
    }
}

/* The formula must fail, and the message must contain every fragment. */
static void expect_error(const char *expr, size_t d, const char *frag1, const char *frag2)
{
    sgd_error_clear();
    sgd_landscape *f = sgd_landscape_formula(expr, d);
    const char *m = sgd_errmsg();
    int ok = f == NULL && strstr(m, frag1) && (!frag2 || strstr(m, frag2));
    CHECK(ok);
    if (!ok) fprintf(stderr, "  '%.60s' (d=%zu): got \"%s\"\n", expr, d, m);
    sgd_landscape_free(f);
}

static void test_errors(void)
{
    expect_error("x^2 + (3*x", 1, "formula: column 7: expected ')'", "in 'x^2 + (3*x'");
    expect_error("(x+1) 2)", 1, "column 7: unexpected '2'", NULL);
    expect_error("(x+1 2)", 1, "column 6: expected ')'", "found '2'");
    expect_error("x^2 + * 3", 1, "column 7: expected a number", NULL);
    expect_error("x^", 1, "column 3: expected a number", "end of the formula");
    expect_error("y + x", 1, "column 1: unknown name 'y'", NULL);
    expect_error("x1 + x5", 2, "column 6: no coordinate 'x5'", "d=2");
    expect_error("x0", 2, "column 1: no coordinate 'x0'", NULL);
    expect_error("x^2 + 1", 3, "column 1: 'x' is ambiguous", "x1..x3");
    expect_error("", 1, "formula: empty", NULL);
    expect_error("   ", 1, "formula: empty", NULL);
    expect_error("sin x", 1, "column 1: 'sin' is a function", NULL);
    expect_error("2 * foo(x)", 1, "column 5: unknown function 'foo'", NULL);
    expect_error("sum(sum(x))", 3, "column 5: sum() inside sum()/prod()", NULL);
    expect_error("pow(x)", 1, "column 1: pow() takes 2 arguments, got 1", NULL);
    expect_error("sin(x, 2)", 1, "column 1: sin() takes 1 argument, got 2", NULL);
    expect_error("sum(x^2", 2, "column 1: expected ')' to close sum(", NULL);
    expect_error("x 2", 1, "column 3: unexpected '2'", "missing operator");
    expect_error("2e", 1, "column 2: unexpected 'e'", NULL);
    expect_error("i*x", 1, "column 1: 'i'", "sum()");
    expect_error("x $ 2", 1, "column 3: unexpected '$'", NULL);
    expect_error("x\xc2\xb2 + 1", 1, "column 2: unexpected byte 0xc2 (non-ASCII", NULL);
    expect_error("x", 0, "dimension must be at least 1", NULL);
    sgd_error_clear();
    CHECK(sgd_landscape_formula(NULL, 1) == NULL && strstr(sgd_errmsg(), "formula") != NULL);

    /* Pathological sizes fail cleanly rather than exhausting the stack. */
    char deep[1024];
    int n = 0;
    for (int j = 0; j < 400; j++) deep[n++] = '(';
    deep[n++] = 'x';
    for (int j = 0; j < 400; j++) deep[n++] = ')';
    deep[n] = '\0';
    expect_error(deep, 1, "nested too deeply", NULL);
    size_t len = 5000 * 2;
    char *longf = malloc(len + 1);
    for (size_t j = 0; j < len; j += 2) {
        longf[j] = 'x';
        longf[j + 1] = '+';
    }
    longf[len - 1] = '\0';
    expect_error(longf, 1, "too long", NULL);
    free(longf);
}

static void test_nan(void)
{
    sgd_landscape *f = sgd_landscape_formula("log(x) + sqrt(x)", 1);
    double x = -1, g = 0;
    CHECK(f && isnan(sgd_landscape_eval(f, &x, &g)) && isnan(g));
    sgd_landscape_free(f);
    f = sgd_landscape_formula("1/x", 1);
    x = 0;
    CHECK(f && isinf(sgd_landscape_eval(f, &x, &g)));
    sgd_landscape_free(f);
    /* NaN survives min/max in either position. */
    f = sgd_landscape_formula("min(log(x1), x2) + max(x2, log(x1))", 2);
    double y[2] = {-1, 3}, gy[2];
    CHECK(f && isnan(sgd_landscape_eval(f, y, gy)));
    sgd_landscape_free(f);
    f = sgd_landscape_formula("sum(log(x))", 3);
    double z[3] = {1, -1, 2}, gz[3];
    CHECK(f && isnan(sgd_landscape_eval(f, z, gz)) && isnan(gz[1]));
    sgd_landscape_free(f);
}

/* Trials call fg from many threads: results must equal serial ones bit for bit. */
static void test_threads(void)
{
    enum { N = 2000, D = 5 };
    sgd_landscape *f = sgd_landscape_formula(
        "sum(x^2 - 10*cos(2*pi*x)) + 10*d + prod(cos(x/sqrt(i))) + (x1-x2)^2", D);
    CHECK(f != NULL);
    if (!f) return;
    static double X[N][D], V[N], G[N][D], Vp[N], Gp[N][D];
    for (int t = 0; t < N; t++)
        for (int j = 0; j < D; j++) X[t][j] = unif(-5, 5);
    for (int t = 0; t < N; t++) V[t] = sgd_landscape_eval(f, X[t], G[t]);
#pragma omp parallel for num_threads(4) schedule(dynamic, 7)
    for (int t = 0; t < N; t++) Vp[t] = sgd_landscape_eval(f, X[t], Gp[t]);
    CHECK(!memcmp(V, Vp, sizeof V));
    CHECK(!memcmp(G, Gp, sizeof G));
    sgd_landscape_free(f);
}

/* grad_batch (the trial runner's entry) must give formula_fg's bits for every
 * point, whatever the block size and the kind of sum()/prod(). */
static void test_batch(void)
{
    static const struct {
        const char *expr;
        size_t d;
    } bc[] = {
        {"x^2 + 0.05*(1-cos(60*x))", 1},
        {"sum(x^2 - 10*cos(2*pi*x)) + 10*d", 3},                  /* eager sum */
        {"sin(prod(x/2)) + sum(x)^2 + x1*x2", 3},                  /* sums through nonlinearities */
        {"sum(x^2)/4000 - prod(cos(x/sqrt(i))) + 1", 4},
        {"prod(x) + log(x1) + min(x2, x3) + max(x1, 2*x3) + abs(x2)^1.5", 3}, /* zeros, NaN */
        {"tanh(x1)*sigmoid(x2) + softplus(x1-x2) + pow(x1^2+1, x2) + 3/(2+sin(x2))", 2},
        {"prod(sqrt(abs(x))) + x1", 3}, /* infinite partials where factors vanish */
    };
    enum { NP = 21 };
    double X[NP * 4], G1[NP * 4], G2[NP * 4];
    for (size_t c = 0; c < sizeof bc / sizeof bc[0]; c++) {
        sgd_landscape *f = sgd_landscape_formula(bc[c].expr, bc[c].d);
        CHECK(f != NULL);
        if (!f) continue;
        size_t d = bc[c].d;
        for (size_t j = 0; j < NP * d; j++) X[j] = unif(-3, 3);
        /* Lanes with vanishing factors (one zero, two zeros) and log(<0). */
        X[0] = 0.0;
        X[d] = 0.0;
        X[d + 1] = 0.0;
        for (size_t nb = 1; nb <= NP; nb += 4) {
            f->grad_batch(f, nb, X, G1);
            for (size_t p = 0; p < nb; p++) sgd_landscape_eval(f, X + p * d, G2 + p * d);
            int same = !memcmp(G1, G2, nb * d * sizeof *G1);
            CHECK(same);
            if (!same) fprintf(stderr, "  grad_batch differs from fg: %s, n=%zu\n", bc[c].expr, nb);
        }
        sgd_landscape_free(f);
    }
    /* A long formula: the batch works on the heap, with fg's bits. */
    char expr[8200];
    size_t len = 0;
    for (int j = 0; j < 300; j++) len += (size_t)snprintf(expr + len, sizeof expr - len, "%ssin(x%d)", j ? "+" : "", j % 2 + 1);
    sgd_landscape *f = sgd_landscape_formula(expr, 2);
    CHECK(f != NULL);
    if (f) {
        for (size_t j = 0; j < 2 * NP; j++) X[j] = unif(-3, 3);
        f->grad_batch(f, NP, X, G1);
        for (size_t p = 0; p < NP; p++) sgd_landscape_eval(f, X + 2 * p, G2 + 2 * p);
        CHECK(!memcmp(G1, G2, 2 * NP * sizeof *G1));
        CHECK_CLOSE(G1[0], 150 * cos(X[0]), 1e-9, 1e-12);
        /* The doc string keeps the start of a long formula and says it is cut. */
        CHECK(strlen(f->doc) == sizeof f->doc - 1 && !strncmp(f->doc, expr, 100) &&
              !strcmp(f->doc + sizeof f->doc - 4, "..."));
        sgd_landscape_free(f);
    }
}

/* Common subexpressions share one tape value, within one scope: the top
 * level, or one sum/prod body (a body never reads a value from outside). */
static void test_cse(void)
{
    static const struct {
        const char *expr;
        size_t d;
        int n;
    } want[] = {
        {"x*x + x*x", 1, 3},                       /* x, x*x, + */
        {"sin(x1*x2) + cos(x1*x2)", 2, 6},         /* x1, x2, *, sin, cos, + */
        {"2*x + 2*x + x*2", 1, 4},                 /* x*2 folds to the same MULK as 2*x */
        {"sum(x^2) + sum(x^2)", 3, 7},             /* two sums, each with its own body x, x^2 */
        {"sum(x1*x + x1*x) + x1", 3, 7},           /* the body's x1 is not the top level's: 6 if shared */
    };
    for (size_t c = 0; c < sizeof want / sizeof want[0]; c++) {
        sgd_landscape *f = sgd_landscape_formula(want[c].expr, want[c].d);
        CHECK(f != NULL);
        if (!f) continue;
        int n = ((const formula_prog *)f->params)->n;
        CHECK(n == want[c].n);
        if (n != want[c].n) fprintf(stderr, "  %s: %d instructions, want %d\n", want[c].expr, n, want[c].n);
        sgd_landscape_free(f);
    }
}

int main(void)
{
    test_cse();
    test_gradients();
    test_hessian_closed_form();
    test_prod_zeros();
    test_grammar();
    test_errors();
    test_nan();
    test_threads();
    test_batch();
    return check_done();
}
