/* Plugin landscapes: the example double-well plugin against its closed form
 * and finite differences, its metadata, and the failures a user will meet
 * (missing symbol, missing file, wrong dimension). */
#include <stdio.h>

#include "check.h"
#include "sgdscape/error.h"
#include "sgdscape/landscape.h"

#include <string.h>
#include <unistd.h>

static double quartic(const double *x, size_t d, double *g)
{
    double f = 0.25 * (double)d;
    for (size_t i = 0; i < d; i++) {
        f += pow(x[i], 4) / 4 - x[i] * x[i] / 2;
        g[i] = pow(x[i], 3) - x[i];
    }
    return f;
}

static void test_quartic(const char *path)
{
    sgd_error_clear();
    sgd_landscape *f = sgd_landscape_plugin(path, 3);
    CHECK(f != NULL);
    if (!f) {
        fprintf(stderr, "  %s\n", sgd_errmsg());
        return;
    }
    CHECK(f->d == 3);
    CHECK(!strcmp(f->name, "quartic-double-well"));
    CHECK(strstr(f->doc, "plugin_quartic.so") != NULL);
    CHECK(f->x_star && f->x_star[0] == 1 && f->x_star[1] == 1 && f->x_star[2] == 1);
    CHECK(f->lo == -2 && f->hi == 2);
    CHECK(isnan(f->L));
    CHECK(f->grad_batch != NULL);

    double g[3], gc[3];
    CHECK(sgd_landscape_eval(f, f->x_star, g) == 0 && g[0] == 0 && g[1] == 0 && g[2] == 0);
    const double pts[4][3] = {{0.3, -1.2, 1.7}, {-0.5, 0.0, 2.0}, {1.1, 1.9, -1.95}, {0, 0, 0}};
    for (int t = 0; t < 4; t++) {
        double v = sgd_landscape_eval(f, pts[t], g);
        CHECK_CLOSE(v, quartic(pts[t], 3, gc), 1e-14, 1e-14);
        for (int j = 0; j < 3; j++) {
            CHECK_CLOSE(g[j], gc[j], 1e-14, 1e-14);
            double xp[3], xm[3], h = 1e-6;
            memcpy(xp, pts[t], sizeof xp);
            memcpy(xm, pts[t], sizeof xm);
            xp[j] += h;
            xm[j] -= h;
            double fd = (sgd_landscape_eval(f, xp, NULL) - sgd_landscape_eval(f, xm, NULL)) / (2 * h);
            CHECK_CLOSE(g[j], fd, 1e-7, 1e-6);
        }
    }
    /* The default batch path goes through the plugin too. */
    double gb[12];
    f->grad_batch(f, 4, &pts[0][0], gb);
    for (int t = 0; t < 4; t++) {
        quartic(pts[t], 3, gc);
        for (int j = 0; j < 3; j++) CHECK_CLOSE(gb[t * 3 + j], gc[j], 1e-14, 1e-14);
    }
    sgd_landscape_free(f);

    /* Through the spec dispatcher, another dimension. */
    char spec[4200];
    snprintf(spec, sizeof spec, "plugin:%s", path);
    f = sgd_landscape_create(spec, 1);
    CHECK(f != NULL && f->d == 1);
    if (f) {
        double x = -1.5, gx;
        CHECK_CLOSE(sgd_landscape_eval(f, &x, &gx), 0.25 + pow(1.5, 4) / 4 - 1.125, 1e-14, 1e-14);
        CHECK_CLOSE(gx, -3.375 + 1.5, 1e-14, 1e-14);
        sgd_landscape_free(f);
    }
}

static void test_errors(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/plugin_missing_symbol.so", dir);
    sgd_error_clear();
    sgd_landscape *f = sgd_landscape_plugin(path, 2);
    CHECK(f == NULL);
    char want[4200];
    snprintf(want, sizeof want, "plugin %s: missing symbol 'sgd_plugin_fg'", path);
    CHECK(!strcmp(sgd_errmsg(), want));
    if (strcmp(sgd_errmsg(), want)) fprintf(stderr, "  got \"%s\"\n", sgd_errmsg());

    sgd_error_clear();
    f = sgd_landscape_plugin("/nonexistent/dir/nope.so", 2);
    CHECK(f == NULL);
    CHECK(strstr(sgd_errmsg(), "plugin /nonexistent/dir/nope.so: cannot load") != NULL);

    sgd_error_clear();
    f = sgd_landscape_plugin("", 2);
    CHECK(f == NULL && strstr(sgd_errmsg(), "plugin") != NULL);
}

/* A bare file name means the current directory, not the library path. */
static void test_bare_name(const char *dir)
{
    char old[4096];
    if (!getcwd(old, sizeof old) || chdir(dir) != 0) {
        CHECK(0);
        return;
    }
    sgd_landscape *f = sgd_landscape_plugin("plugin_quartic.so", 2);
    CHECK(f != NULL && !strcmp(f->name, "quartic-double-well"));
    sgd_landscape_free(f);
    CHECK(chdir(old) == 0);
}

/* The optional symbols (dim, init/fini, L, domain, no name), with a plugin
 * compiled here when a C compiler is on the PATH; skipped otherwise. */
static const char extra_src[] =
    "#include <stdio.h>\n#include <stdlib.h>\n#include <stddef.h>\n"
    "int sgd_plugin_dim(void) { return 2; }\n"
    "void *sgd_plugin_init(size_t d) { double *s = malloc(sizeof *s); *s = 3.0 * (double)d; return s; }\n"
    "void sgd_plugin_fini(void *s) { const char *m = getenv(\"SGD_TEST_FINI_MARK\");\n"
    "  if (m) { FILE *fp = fopen(m, \"w\"); if (fp) fclose(fp); } free(s); }\n"
    "double sgd_plugin_L(size_t d) { return 2.0 * (double)d; }\n"
    "void sgd_plugin_domain(double *lo, double *hi) { *lo = -1; *hi = 4; }\n"
    "int sgd_plugin_xstar(double *x, size_t d) { (void)x; (void)d; return 1; }\n"
    "double sgd_plugin_fg(const double *x, double *g, size_t d, void *st) {\n"
    "  double c = *(double *)st, f = 0;\n"
    "  for (size_t i = 0; i < d; i++) { f += c * x[i] * x[i]; if (g) g[i] = 2 * c * x[i]; }\n"
    "  return f; }\n";

static void test_optional_symbols(const char *dir)
{
    char src[4096], so[4096], mark[4096], cmd[12800];
    snprintf(src, sizeof src, "%s/test_plugin_extra.c", dir);
    snprintf(so, sizeof so, "%s/test_plugin_extra.so", dir);
    snprintf(mark, sizeof mark, "%s/test_plugin_extra.fini", dir);
    FILE *fp = fopen(src, "w");
    if (!fp) return;
    fputs(extra_src, fp);
    fclose(fp);
    snprintf(cmd, sizeof cmd, "cc -shared -fPIC -O1 '%s' -o '%s' 2>/dev/null", src, so);
    if (system(cmd) != 0) {
        printf("skipping optional-symbol checks: no working cc\n");
        return;
    }
    setenv("SGD_TEST_FINI_MARK", mark, 1);
    remove(mark);

    sgd_error_clear();
    sgd_landscape *f = sgd_landscape_plugin(so, 3);
    CHECK(f == NULL);
    CHECK(strstr(sgd_errmsg(), "dimension is 2") && strstr(sgd_errmsg(), "d=3"));

    f = sgd_landscape_plugin(so, 2);
    CHECK(f != NULL);
    if (f) {
        CHECK(!strcmp(f->name, "test_plugin_extra"));
        CHECK(f->L == 4.0);
        CHECK(f->lo == -1 && f->hi == 4);
        CHECK(f->x_star == NULL); /* xstar returned nonzero: unknown */
        double x[2] = {1.5, -2}, g[2];
        /* state from init: c = 3*d = 6 */
        CHECK(sgd_landscape_eval(f, x, g) == 6 * (2.25 + 4));
        CHECK(g[0] == 18 && g[1] == -24);
        sgd_landscape_free(f);
        CHECK(access(mark, F_OK) == 0); /* fini ran */
    }
    remove(mark);
    remove(src);
    remove(so);
}

int main(void)
{
    const char *dir = check_build_dir();
    char path[4096];
    snprintf(path, sizeof path, "%s/plugin_quartic.so", dir);
    test_quartic(path);
    test_errors(dir);
    test_bare_name(dir);
    test_optional_symbols(dir);
    return check_done();
}
