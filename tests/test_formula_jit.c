/* Compiled formulas (formula_jit.c): values and gradients bit-identical to
 * the interpreter over the formula test corpus, batched and one point at a
 * time, including the interpreter's special lanes (vanishing prod() factors,
 * log of a negative number, sin/cos beyond the kernel's range); and every
 * way of not compiling (no compiler, a compile error, SGD_NO_JIT) leaves a
 * working interpreter and a one-line note. The cache is a fresh directory. */
#include "check.h"
#include "sgdscape/error.h"
#include "sgdscape/landscape.h"

#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t rng_state = 0x243f6a8885a308d3ULL;
static double unif(double lo, double hi)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return lo + (hi - lo) * (double)(rng_state >> 11) / 9007199254740992.0;
}

/* tests/test_formula.c's corpus and tests/cli_formula.sh's formulas. */
static const struct {
    const char *expr;
    size_t d;
    double lo, hi;
} corpus[] = {
    {"x^2 + 0.05*(1-cos(60*x))", 1, -3, 3},
    {"x^2 + (1-cos(6*x))*x^2/(x^2+1) + 0.05*(1-cos(60*x))", 1, -3, 3},
    {"sin(x)*exp(-x^2/2)", 1, -3, 3},
    {"log(1+x^2) + sqrt(x^2+1)", 1, -3, 3},
    {"tanh(3*x) + atan(x) - sinh(x/2) + cosh(x/3)", 1, -3, 3},
    {"sigmoid(2*x) + softplus(x-1)", 1, -5, 5},
    {"abs(x-0.3) + max(x, 0.5) + min(x^3, -x)", 1, -2, 2},
    /* shared values: across segments (x1^2 before and after a sum), within
     * a body ((x+1) twice, x1^2 apart from the top level's), as both
     * operands (x*x), and feeding a sin/cos */
    {"x1^2 + sum(x*x1^2 + (x+1)*(x+1) + x*x) * x1^2 + sin(x1^2)", 3, -2, 2},
    /* a NaN only in the second argument (the point with x = NaN) */
    {"max(0.5, x) + min(1 - x^2, x) * min(max((abs(x)-1.5)/0.5, 0), 1)", 1, -3, 3},
    {"2^x + x^3 - x**4 / 4", 1, -2, 2},
    {"pow(x^2+1, 0.75)", 1, -3, 3},
    {"tan(x/2)/(2+x^2) + e^(x/2)", 1, -2, 2},
    {"3/(2+sin(x))", 1, -4, 4},
    {"log(x)", 1, -2, 2},
    {"(x1-1)^2 + 100*(x2-x1^2)^2", 2, -2, 2},
    {"x1*x2/x3 + pow(x1^2+1, x2)", 3, 0.5, 2},
    {"sum(x^2 - 10*cos(2*pi*x)) + 10*d", 5, -5.12, 5.12},
    {"sum(i*x^2)", 4, -2, 2},
    {"prod(cos(x))", 3, -2, 2},
    {"sum(x^2)/4000 - prod(cos(x/sqrt(i))) + 1", 4, -10, 10},
    {"sum((x - x1)^2)", 3, -2, 2},
    {"max(x1, x2) + min(x1^2, 2*x2)", 2, -2, 2},
    {"sin(prod(x/2)) + sum(x)^2", 3, -3, 3},
    {"sin(prod(x/2)) + sum(x)^2 + x1*x2", 3, -3, 3},
    {"prod(x) + log(x1) + min(x2, x3) + max(x1, 2*x3) + abs(x2)^1.5", 3, -3, 3},
    {"tanh(x1)*sigmoid(x2) + softplus(x1-x2) + pow(x1^2+1, x2) + 3/(2+sin(x2))", 2, -3, 3},
    {"prod(sqrt(abs(x))) + x1", 3, -3, 3},
};

enum { NP = 45, MAXD = 5 };

/* The same bits; a NaN's sign and payload are not compared (C leaves them
 * unspecified, and a vector instruction may take them from the other operand). */
static int same_bits(const double *a, const double *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof *a) && !(isnan(a[i]) && isnan(b[i]))) return 0;
    return 1;
}

/* Compiled against interpreted: fg with and without the gradient, and
 * grad_batch, value_batch and fg_batch over several block sizes (partial
 * compiled blocks included). */
static void test_bits(void)
{
    double X[NP * MAXD], G1[NP * MAXD], G2[NP * MAXD];
    for (size_t c = 0; c < sizeof corpus / sizeof corpus[0]; c++) {
        size_t d = corpus[c].d;
        sgd_landscape *fi = sgd_landscape_formula(corpus[c].expr, d);
        sgd_landscape *fc = sgd_landscape_formula(corpus[c].expr, d);
        CHECK(fi && fc);
        if (!fi || !fc) {
            sgd_landscape_free(fi);
            sgd_landscape_free(fc);
            continue;
        }
        char note[256];
        int rc = sgd_landscape_formula_jit(fc, note, sizeof note);
        CHECK(rc == SGD_OK);
        if (rc) fprintf(stderr, "  %s: %s\n", corpus[c].expr, note);
        CHECK(fc->fg != fi->fg && fc->grad_batch != fi->grad_batch);
        for (size_t j = 0; j < NP * d; j++) X[j] = unif(corpus[c].lo, corpus[c].hi);
        /* vanishing factors (one, two), a huge argument (libm's sin/cos),
         * an exact zero, a NaN */
        X[0] = 0.0;
        X[d] = X[d + (d > 1)] = 0.0;
        X[2 * d] = 3.0e6;
        X[3 * d + d - 1] = -2.5e5;
        X[4 * d] = NAN;
        int same = 1;
        for (size_t p = 0; p < NP; p++) {
            double gi[MAXD], gc[MAXD];
            double vi = fi->fg(fi, X + p * d, gi), vc = fc->fg(fc, X + p * d, gc);
            double ui = fi->fg(fi, X + p * d, NULL), uc = fc->fg(fc, X + p * d, NULL);
            same &= same_bits(&vi, &vc, 1) && same_bits(&ui, &uc, 1) && same_bits(gi, gc, d);
        }
        for (size_t nb = 1; nb <= NP; nb += 11) {
            double F1[NP], F2[NP], F3[NP];
            fi->grad_batch(fi, nb, X, G1);
            fc->grad_batch(fc, nb, X, G2);
            same &= same_bits(G1, G2, nb * d);
            /* values alone (the compiled forward sweep), and values with gradients */
            fi->value_batch(fi, nb, X, F1);
            fc->value_batch(fc, nb, X, F2);
            same &= same_bits(F1, F2, nb);
            fc->fg_batch(fc, nb, X, F3, G2);
            same &= same_bits(G1, G2, nb * d);
            for (size_t p = 0; p < nb; p++) F1[p] = fi->fg(fi, X + p * d, G1 + p * d);
            same &= same_bits(F1, F3, nb) && same_bits(G1, G2, nb * d);
        }
        /* the Hessian, 32 directions per compiled sweep (prod(): the interpreter's) */
        int has_prod = strstr(corpus[c].expr, "prod(") != NULL;
        CHECK(has_prod ? fc->hess == fi->hess : fc->hess != fi->hess);
        for (size_t p = 0; p < 12; p++) {
            double H1[MAXD * MAXD], H2[MAXD * MAXD];
            CHECK(fi->hess(fi, X + p * d, H1) == SGD_OK && fc->hess(fc, X + p * d, H2) == SGD_OK);
            same &= same_bits(H1, H2, d * d);
        }
        CHECK(same);
        if (!same) fprintf(stderr, "  compiled differs from the interpreter: %s\n", corpus[c].expr);
        sgd_landscape_free(fi);
        sgd_landscape_free(fc);
    }
}

static int count_objects(const char *dir)
{
    DIR *D = opendir(dir);
    if (!D) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(D)))
        if (strstr(e->d_name, ".so")) n++;
        else if (e->d_name[0] != '.') n += 1000; /* a temporary left behind */
    closedir(D);
    return n;
}

/* One object per formula structure: a second landscape loads it, and a
 * formula differing only in its constants shares it. */
/* The compiled Hessian over several blocks of 32 directions (d = 40, 70):
 * the interpreter's bits, row by row. */
static void test_hess_wide(void)
{
    static const size_t dims[] = {40, 70};
    for (size_t t = 0; t < 2; t++) {
        size_t d = dims[t];
        char expr[160];
        snprintf(expr, sizeof expr, "sum(atan(x)*exp(x/3)) + x1*x%zu + sum(x^2)*x2 + sin(x3*x%zu)", d, d - 1);
        sgd_landscape *fi = sgd_landscape_formula(expr, d), *fc = sgd_landscape_formula(expr, d);
        double *x = malloc(d * sizeof *x), *H1 = malloc(d * d * sizeof *H1), *H2 = malloc(d * d * sizeof *H2);
        CHECK(fi && fc && x && H1 && H2);
        if (fi && fc && x && H1 && H2) {
            CHECK(sgd_landscape_formula_jit(fc, NULL, 0) == SGD_OK && fc->hess != fi->hess);
            for (int p = 0; p < 3; p++) {
                for (size_t i = 0; i < d; i++) x[i] = unif(-2, 2);
                CHECK(fi->hess(fi, x, H1) == SGD_OK && fc->hess(fc, x, H2) == SGD_OK);
                CHECK(same_bits(H1, H2, d * d));
            }
        }
        free(x);
        free(H1);
        free(H2);
        sgd_landscape_free(fi);
        sgd_landscape_free(fc);
    }
}

static void test_cache(const char *cache)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/sgdscape", cache);
    int before = count_objects(dir);
    sgd_landscape *a = sgd_landscape_formula("x^4 - 3*x + cos(x)", 1);
    sgd_landscape *b = sgd_landscape_formula("x^4 - 7.5*x + cos(x)", 1);
    CHECK(a && b);
    if (!a || !b) return;
    CHECK(sgd_landscape_formula_jit(a, NULL, 0) == SGD_OK);
    CHECK(count_objects(dir) == before + 1);
    CHECK(sgd_landscape_formula_jit(b, NULL, 0) == SGD_OK);
    CHECK(count_objects(dir) == before + 1);
    double x = 0.7, ga, gb;
    CHECK_CLOSE(a->fg(a, &x, &ga), pow(0.7, 4) - 2.1 + cos(0.7), 1e-15, 1e-15);
    CHECK_CLOSE(b->fg(b, &x, &gb), pow(0.7, 4) - 5.25 + cos(0.7), 1e-15, 1e-15);
    CHECK_CLOSE(ga, 4 * pow(0.7, 3) - 3 - sin(0.7), 1e-15, 1e-15);
    CHECK_CLOSE(gb, 4 * pow(0.7, 3) - 7.5 - sin(0.7), 1e-15, 1e-15);
    sgd_landscape_free(a);
    sgd_landscape_free(b);
}

/* Not compiling is never an error for the landscape: it keeps evaluating. */
static void expect_fallback(const char *what, const char *note_has)
{
    sgd_landscape *f = sgd_landscape_formula("x^3 + sin(5*x) + 0.5", 1);
    CHECK(f != NULL);
    if (!f) return;
    sgd_fg_fn interp = f->fg;
    char note[256] = "";
    int rc = sgd_landscape_formula_jit(f, note, sizeof note);
    CHECK(rc != SGD_OK);
    CHECK(strstr(note, note_has) != NULL);
    CHECK(strchr(note, '\n') == NULL);
    if (rc == SGD_OK || !strstr(note, note_has)) fprintf(stderr, "  %s: note '%s'\n", what, note);
    CHECK(f->fg == interp);
    double x = 0.5, g;
    CHECK_CLOSE(f->fg(f, &x, &g), 0.125 + sin(2.5) + 0.5, 1e-15, 1e-15);
    CHECK_CLOSE(g, 0.75 + 5 * cos(2.5), 1e-14, 1e-15);
    sgd_landscape_free(f);
}

static void test_fallback(void)
{
    setenv("CC", "/nonexistent/sgd-no-cc", 1);
    expect_fallback("no compiler", "no C compiler");
    setenv("CC", "cc -include /nonexistent/sgd-missing.h", 1);
    expect_fallback("compile error", "failed:");
    unsetenv("CC");
    setenv("SGD_NO_JIT", "1", 1);
    expect_fallback("SGD_NO_JIT", "SGD_NO_JIT");
    unsetenv("SGD_NO_JIT");
    /* Not a formula: refused, the landscape untouched. */
    sgd_landscape *q = sgd_landscape_create("quadratic", 2);
    CHECK(q != NULL);
    if (q) {
        CHECK(sgd_landscape_formula_jit(q, NULL, 0) == SGD_EINVAL);
        sgd_landscape_free(q);
    }
}

int main(void)
{
    char cache[] = "/tmp/sgd_jit_test_XXXXXX";
    if (!mkdtemp(cache)) {
        perror("mkdtemp");
        return 1;
    }
    setenv("XDG_CACHE_HOME", cache, 1);
    unsetenv("SGD_NO_JIT");
    unsetenv("CC");
    test_bits();
    /* clang too, where installed (./run installs it): the flags and the
     * emitted pragmas must keep the bits under either compiler */
    if (system("command -v clang >/dev/null 2>&1") == 0) {
        setenv("CC", "clang", 1);
        test_bits();
        unsetenv("CC");
    }
    test_hess_wide();
    test_cache(cache);
    test_fallback();
    /* No temporaries left behind: only the objects. */
    char dir[600];
    snprintf(dir, sizeof dir, "%s/sgdscape", cache);
    CHECK(count_objects(dir) < 1000);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", cache);
    CHECK(system(cmd) == 0);
    return check_done();
}
