/* Smoothing: quadrature and Monte Carlo against closed forms and hand
 * computations; interval formulas; determinism across thread counts. */
#include "check.h"
#include "sgdscape/error.h"
#include "sgdscape/landscape.h"
#include "sgdscape/rng.h"
#include "sgdscape/smooth.h"
#include "smooth/smooth_internal.h"
#include "landscape/landscape_internal.h"

#include <omp.h>
#include <string.h>

static int eval(const sgd_landscape *f, sgd_noise_kind kind, double r, double eta, const double *y,
                const sgd_smooth_params *p, double *g, double *ge, double *grad, double *grad_err, size_t *n)
{
    sgd_noise W = {kind, r, NULL, NULL};
    sgd_smooth_workspace *w = sgd_smooth_workspace_alloc(f->d, p->limit);
    sgd_smooth_value v;
    memset(&v, 0, sizeof v);
    v.grad = grad;
    v.grad_err = grad_err;
    int rc = sgd_smooth_eval(f, &W, eta, y, p, w, &v);
    sgd_smooth_workspace_free(w);
    *g = v.g;
    if (ge) *ge = v.g_err;
    if (n) *n = v.n;
    return rc;
}

/* method vs closed form at points; every estimate within its reported error
 * (MC intervals at 99.9%: deterministic seeds, so this either holds or not) */
static void agree(const char *spec, size_t d, sgd_noise_kind kind, double r, double eta, sgd_smooth_method m,
                  size_t nsamples, const double *ys, size_t ny, double max_err)
{
    sgd_landscape *f = sgd_landscape_create(spec, d);
    CHECK(f != NULL);
    if (!f) return;
    sgd_smooth_params p, px;
    sgd_smooth_params_default(&p);
    p.method = m;
    p.nsamples = nsamples;
    p.confidence = 0.999;
    px = p;
    px.method = SGD_SMOOTH_EXACT;
    for (size_t k = 0; k < ny; k++) {
        const double *y = ys + k * d;
        double g, ge, gx, grad[2], gerr[2], gradx[2];
        CHECK(eval(f, kind, r, eta, y, &p, &g, &ge, grad, gerr, NULL) == SGD_OK);
        CHECK(eval(f, kind, r, eta, y, &px, &gx, NULL, gradx, NULL, NULL) == SGD_OK);
        if (ge > max_err) fprintf(stderr, "%s d=%zu method %d: error %g > %g\n", spec, d, (int)m, ge, max_err);
        CHECK(ge <= max_err);
        CHECK_CLOSE(g, gx, ge + 1e-12, 0);
        for (size_t i = 0; i < d; i++) {
            CHECK(gerr[i] <= max_err * 10);
            CHECK_CLOSE(grad[i], gradx[i], gerr[i] + 1e-12, 0);
        }
    }
    sgd_landscape_free(f);
}

int main(void)
{
    /* ---- interval formulas, by hand ---- */
    CHECK_CLOSE(sgd_smooth_z(0.95), 1.959963984540054, 1e-12, 0);
    CHECK_CLOSE(sgd_smooth_z(0.99), 2.5758293035489004, 1e-12, 0);
    /* Hoeffding: R sqrt(log(2/alpha)/(2n)) = 2 sqrt(log 40 / 2000) */
    CHECK_CLOSE(sgd_smooth_hoeffding_halfwidth(2.0, 1000, 0.95), 0.08589388166934750, 1e-14, 0);
    /* n = ceil(R^2 log(2/alpha) / (2 tol^2)) = ceil(log(40) / 2e-4) = 18445 */
    CHECK(sgd_smooth_hoeffding_n(1.0, 0.01, 0.95) == 18445);
    CHECK(isnan(sgd_smooth_z(1.5)));

    /* ---- Rastrigin, uniform cube noise: quadrature and MC vs closed form ---- */
    double y1[] = {-2.3, -0.41, 0.0, 0.77, 3.1};
    agree("rastrigin", 1, SGD_NOISE_CUBE, 1.0, 0.1, SGD_SMOOTH_QUAD, 0, y1, 5, 1e-8);
    agree("rastrigin", 1, SGD_NOISE_CUBE, 1.0, 0.1, SGD_SMOOTH_MC, 20000, y1, 5, 1.0);
    agree("rastrigin", 1, SGD_NOISE_GAUSS, 0.5, 0.2, SGD_SMOOTH_QUAD, 0, y1, 5, 1e-6);
    double y2[] = {0.3, -1.2, 2.0, 0.5, -0.7, -0.7};
    agree("rastrigin", 2, SGD_NOISE_CUBE, 1.0, 0.2, SGD_SMOOTH_QUAD, 0, y2, 3, 1e-6);
    agree("rastrigin", 2, SGD_NOISE_CUBE, 1.0, 0.2, SGD_SMOOTH_MC, 20000, y2, 3, 2.0);
    /* ---- the spiky Figure-3 function with interval noise (levels 0.04 and 0.15) ---- */
    double ys[] = {-3.3, -1.7, -0.5, 0.013, 0.9, 1.55, 2.8};
    agree("spiky", 1, SGD_NOISE_BALL, 0.4, 0.1, SGD_SMOOTH_QUAD, 0, ys, 7, 1e-7);
    agree("spiky", 1, SGD_NOISE_BALL, 1.5, 0.1, SGD_SMOOTH_QUAD, 0, ys, 7, 1e-7);
    agree("spiky", 1, SGD_NOISE_BALL, 1.5, 0.1, SGD_SMOOTH_MC, 20000, ys, 7, 0.5);
    /* disk noise in 2-D: quadratic, closed form f(y) + a eta^2 r^2 d/(2(d+2)) */
    double yq[] = {1.0, -2.0, 0.0, 0.5};
    agree("quadratic:a=3", 2, SGD_NOISE_BALL, 2.0, 0.1, SGD_SMOOTH_QUAD, 0, yq, 2, 1e-7);

    /* ---- Gaussian over the whole line (qagi) against the closed form ---- */
    {
        sgd_landscape *f = sgd_landscape_create("rastrigin", 1);
        sgd_smooth_params p, px;
        sgd_smooth_params_default(&p);
        p.method = SGD_SMOOTH_QUAD;
        p.gauss_sigmas = 0;
        px = p;
        px.method = SGD_SMOOTH_EXACT;
        double y = 0.77, g, ge, gr, gre, gx, grx;
        CHECK(eval(f, SGD_NOISE_GAUSS, 0.5, 0.2, &y, &p, &g, &ge, &gr, &gre, NULL) == SGD_OK);
        CHECK(eval(f, SGD_NOISE_GAUSS, 0.5, 0.2, &y, &px, &gx, NULL, &grx, NULL, NULL) == SGD_OK);
        CHECK(ge < 1e-6);
        CHECK_CLOSE(g, gx, ge + 1e-12, 0);
        CHECK_CLOSE(gr, grx, gre + 1e-12, 0);
        sgd_landscape_free(f);
    }

    /* ---- independent identity: for interval noise g'(y) = (f(y+s) - f(y-s)) / (2s) ---- */
    {
        sgd_landscape *f = sgd_landscape_create("spiky", 1);
        sgd_smooth_params p;
        sgd_smooth_params_default(&p);
        p.method = SGD_SMOOTH_QUAD;
        double s = 0.15, y = 1.234, g, ge, grad, gerr;
        CHECK(eval(f, SGD_NOISE_BALL, 1.5, 0.1, &y, &p, &g, &ge, &grad, &gerr, NULL) == SGD_OK);
        double a = y + s, b = y - s;
        double fd = (f->fg(f, &a, NULL) - f->fg(f, &b, NULL)) / (2 * s);
        CHECK_CLOSE(grad, fd, 1e-8, 0);
        sgd_landscape_free(f);
    }

    /* ---- MC in higher dimension: quadratic with ball noise, g = |y|^2/2 + eta^2 r^2 d/(2(d+2)) ---- */
    {
        size_t d = 300;
        sgd_landscape *f = sgd_landscape_create("quadratic", d);
        double *y = malloc(d * sizeof(double));
        for (size_t i = 0; i < d; i++) y[i] = 0.01 * (double)(i % 7) - 0.02;
        double ny2 = 0;
        for (size_t i = 0; i < d; i++) ny2 += y[i] * y[i];
        double eta = 0.5, r = 2.0, exact = 0.5 * ny2 + 0.5 * eta * eta * r * r * (double)d / ((double)d + 2.0);
        sgd_smooth_params p;
        sgd_smooth_params_default(&p);
        p.method = SGD_SMOOTH_MC;
        p.nsamples = 3000;
        p.confidence = 0.999;
        double g, ge;
        CHECK(eval(f, SGD_NOISE_BALL, r, eta, y, &p, &g, &ge, NULL, NULL, NULL) == SGD_OK);
        CHECK_CLOSE(g, exact, ge, 0);
        CHECK(ge < 0.01 * exact);
        /* Hoeffding with a user-given range is wider than CLT here (range of |y - eta w|^2/2) */
        p.interval = SGD_SMOOTH_CI_HOEFFDING;
        p.range = 0.5 * (1.0 + 1.0) * (1.0 + 1.0); /* crude but valid: |y-eta w| <= ~2 here */
        double gh, geh;
        CHECK(eval(f, SGD_NOISE_BALL, r, eta, y, &p, &gh, &geh, NULL, NULL, NULL) == SGD_OK);
        CHECK(gh == g); /* same samples */
        CHECK_CLOSE(geh, sgd_smooth_hoeffding_halfwidth(p.range, 3000, 0.999), 1e-15, 0);
        free(y);
        sgd_landscape_free(f);
    }

    /* ---- requested accuracy sets n: CLT pilot then n = (z s / tol)^2 ---- */
    {
        sgd_landscape *f = sgd_landscape_create("rastrigin", 1);
        sgd_smooth_params p;
        sgd_smooth_params_default(&p);
        p.method = SGD_SMOOTH_MC;
        p.nsamples = 0;
        p.tol = 0.05;
        double y = 0.3, g, ge, gx, grad, gerr;
        size_t n;
        CHECK(eval(f, SGD_NOISE_CUBE, 1.0, 0.1, &y, &p, &g, &ge, &grad, &gerr, &n) == SGD_OK);
        CHECK(n > 1000);
        CHECK(ge <= 0.05 * 1.15);
        CHECK(gerr <= 0.05 * 1.15);
        CHECK(fmax(ge, gerr) >= 0.05 * 0.5); /* n was not wildly over-chosen */
        sgd_smooth_params px = p;
        px.method = SGD_SMOOTH_EXACT;
        CHECK(eval(f, SGD_NOISE_CUBE, 1.0, 0.1, &y, &px, &gx, NULL, NULL, NULL, NULL) == SGD_OK);
        CHECK(fabs(g - gx) <= 3 * ge);
        /* Hoeffding with the sample range: n from the pilot's widened range */
        p.interval = SGD_SMOOTH_CI_HOEFFDING;
        sgd_noise W = {SGD_NOISE_CUBE, 1.0, NULL, NULL};
        sgd_smooth_workspace *w = sgd_smooth_workspace_alloc(1, p.limit);
        sgd_smooth_value v;
        memset(&v, 0, sizeof v);
        CHECK(sgd_smooth_eval(f, &W, 0.1, &y, &p, w, &v) == SGD_OK);
        CHECK(v.range_from_sample == 1);
        CHECK(v.g_err <= 0.05 * 1.05);
        sgd_smooth_workspace_free(w);
        sgd_landscape_free(f);
    }

    /* ---- sample j is sgd_noise_sample_domain(W, d, seed, SGD_RNG_SMOOTH, stream, j): a
     * sequential mean over those draws gives the estimate to rounding ---- */
    {
        /* d = 3: a tile in columns; 150: tiles of whole samples; 4100: coordinate tiles */
        const size_t dims[4] = {1, 3, 150, 4100};
        for (int k = 0; k < 4; k++) {
            size_t d = dims[k], n = d > 1000 ? 40 : 300;
            sgd_landscape *f = sgd_landscape_create("rastrigin", d);
            sgd_noise W = {k == 0 ? SGD_NOISE_BALL : SGD_NOISE_CUBE, 0.7, NULL, NULL};
            double *y = malloc(3 * d * sizeof(double)), *om = y + d, *x = y + 2 * d, mean = 0;
            for (size_t i = 0; i < d; i++) y[i] = (double[]){0.3, -1.1, 2.0}[i % 3];
            for (size_t j = 0; j < n; j++) {
                sgd_noise_sample_domain(&W, d, 99, SGD_RNG_SMOOTH, 5, j, om);
                for (size_t i = 0; i < d; i++) x[i] = y[i] - 0.2 * om[i];
                double v = f->fg(f, x, NULL);
                mean += (v - mean) * (1.0 / (double)(j + 1));
            }
            sgd_smooth_params p;
            sgd_smooth_params_default(&p);
            p.method = SGD_SMOOTH_MC;
            p.nsamples = n;
            p.seed = 99;
            p.stream = 5;
            double g;
            CHECK(eval(f, W.kind, W.scale, 0.2, y, &p, &g, NULL, NULL, NULL, NULL) == SGD_OK);
            /* to rounding (sums over coordinates in another order); other draws
             * would miss by ~1e-2 relative */
            CHECK_CLOSE(g, mean, 1e-14, 1e-14);
            free(y);
            sgd_landscape_free(f);
        }
    }

    /* ---- separable f under cube noise (tile by tile, f->fast->phi_batch) against the
     * same function as a formula (whole samples through fg): the same draws, so
     * the estimates agree to rounding; small d (chunks of whole samples) and
     * large d (coordinate tiles in parallel); and the same bits on 1 and 2
     * threads, with and without values, with and without Hoeffding ranges ---- */
    {
        /* columns (h = ceil(d/4) < 32), whole samples per tile, coordinate tiles */
        const size_t dims[7] = {10, 7, 2, 124, 128, 200, 5003};
        for (int k = 0; k < 7; k++) {
            size_t d = dims[k];
            sgd_landscape *fs = sgd_landscape_create("quadratic:a=1", d);
            sgd_landscape *ff = sgd_landscape_create("sum(0.5*x^2)", d);
            CHECK(fs && ff && fs->fast && fs->fast->phi_batch && !ff->fast);
            double *y = malloc(d * sizeof(double)), *gs = malloc(4 * d * sizeof(double));
            double *gf = gs + d, *es = gs + 2 * d, *ef = gs + 3 * d;
            for (size_t i = 0; i < d; i++) y[i] = 0.3 + 0.001 * (double)(i % 97);
            sgd_smooth_params p;
            sgd_smooth_params_default(&p);
            p.method = SGD_SMOOTH_MC;
            p.nsamples = d > 1000 ? 150 : 3000;
            p.seed = 7;
            double v1, v2, e1, e2;
            CHECK(eval(fs, SGD_NOISE_CUBE, 0.8, 0.5, y, &p, &v1, &e1, gs, es, NULL) == SGD_OK);
            CHECK(eval(ff, SGD_NOISE_CUBE, 0.8, 0.5, y, &p, &v2, &e2, gf, ef, NULL) == SGD_OK);
            CHECK_CLOSE(v1, v2, 1e-12, 0);
            CHECK_CLOSE(e1, e2, 1e-9, 0);
            double worst = 0;
            for (size_t i = 0; i < d; i++) {
                double a = fabs(gs[i] - gf[i]) / (fabs(gf[i]) + 1e-300), b = fabs(es[i] - ef[i]) / ef[i];
                if (a > worst) worst = a;
                if (b > worst) worst = b;
            }
            CHECK(worst < 1e-12);
            /* values alone (phi summed as computed, the draw fused in: phi_cube_sum/acc) */
            CHECK(eval(fs, SGD_NOISE_CUBE, 0.8, 0.5, y, &p, &v1, &e1, NULL, NULL, NULL) == SGD_OK);
            CHECK(eval(ff, SGD_NOISE_CUBE, 0.8, 0.5, y, &p, &v2, &e2, NULL, NULL, NULL) == SGD_OK);
            CHECK_CLOSE(v1, v2, 1e-12, 0);
            CHECK_CLOSE(e1, e2, 1e-9, 0);
            /* ... and the same bits without the fused draw (phi_batch or phi_sum on stored points) */
            {
                const struct sgd_landscape_fast *keep = fs->fast;
                struct sgd_landscape_fast plain = *keep;
                CHECK(plain.phi_cube_sum && plain.phi_cube_acc);
                plain.phi_cube_sum = NULL;
                plain.phi_cube_acc = NULL;
                fs->fast = &plain;
                CHECK(eval(fs, SGD_NOISE_CUBE, 0.8, 0.5, y, &p, &v2, &e2, NULL, NULL, NULL) == SGD_OK);
                CHECK(v1 == v2 && e1 == e2);
                fs->fast = keep;
            }
            /* bits on 1 vs 2 threads: Hoeffding (ranges) and grad_only too */
            for (int mode = 0; mode < 4; mode++) {
                sgd_smooth_params q = p;
                if (mode == 1) q.interval = SGD_SMOOTH_CI_HOEFFDING;
                if (mode == 2) q.grad_only = 1;
                int vo = mode == 3; /* values alone */
                memset(gs, 0, d * sizeof(double));
                memset(gf, 0, d * sizeof(double));
                memset(es, 0, d * sizeof(double));
                memset(ef, 0, d * sizeof(double));
                omp_set_num_threads(1);
                CHECK(eval(fs, SGD_NOISE_CUBE, 0.8, 0.5, y, &q, &v1, &e1, vo ? NULL : gs, vo ? NULL : es, NULL) == SGD_OK);
                omp_set_num_threads(2);
                CHECK(eval(fs, SGD_NOISE_CUBE, 0.8, 0.5, y, &q, &v2, &e2, vo ? NULL : gf, vo ? NULL : ef, NULL) == SGD_OK);
                CHECK(mode == 2 ? isnan(v1) && isnan(v2) : v1 == v2 && e1 == e2);
                CHECK(memcmp(gs, gf, d * sizeof(double)) == 0 && memcmp(es, ef, d * sizeof(double)) == 0);
            }
            free(y);
            free(gs);
            sgd_landscape_free(fs);
            sgd_landscape_free(ff);
        }
    }

    /* ---- the draw fused into phi (phi_cube_sum / phi_cube_acc) against phi on stored
     * points, bit for bit, for every catalog entry that has it, in the three layouts ---- */
    {
        const char *specs[3] = {"rastrigin", "styblinski-tang", "double-well"};
        const size_t dims[3] = {10, 200, 5003};
        for (int a = 0; a < 3; a++)
            for (int k = 0; k < 3; k++) {
                size_t d = dims[k];
                sgd_landscape *f = sgd_landscape_create(specs[a], d);
                CHECK(f && f->fast && f->fast->phi_cube_sum && f->fast->phi_cube_acc);
                if (!f || !f->fast) continue;
                double *y = malloc(d * sizeof(double)), v1, v2, e1, e2;
                for (size_t i = 0; i < d; i++) y[i] = -0.7 + 0.013 * (double)(i % 101);
                sgd_smooth_params p;
                sgd_smooth_params_default(&p);
                p.method = SGD_SMOOTH_MC;
                p.nsamples = d > 1000 ? 70 : 700;
                p.seed = 11;
                CHECK(eval(f, SGD_NOISE_CUBE, 0.6, 0.9, y, &p, &v1, &e1, NULL, NULL, NULL) == SGD_OK);
                const struct sgd_landscape_fast *keep = f->fast;
                struct sgd_landscape_fast plain = *keep;
                plain.phi_cube_sum = NULL;
                plain.phi_cube_acc = NULL;
                f->fast = &plain;
                CHECK(eval(f, SGD_NOISE_CUBE, 0.6, 0.9, y, &p, &v2, &e2, NULL, NULL, NULL) == SGD_OK);
                CHECK(v1 == v2 && e1 == e2);
                f->fast = keep;
                free(y);
                sgd_landscape_free(f);
            }
    }

    /* ---- the general path's cube draw (columns, rows, runs of blocks) is
     * y - eta sgd_noise_sample_domain bit for bit, also where the step's low
     * word wraps inside a tile (the counter's high byte steps there) ---- */
    {
        const size_t dims[6] = {2, 7, 124, 125, 4100, 5003};
        const uint64_t starts[3] = {0, ((uint64_t)5 << 32) - 101, ((uint64_t)0xff << 32) - 3};
        static uint32_t words[SGD_SMOOTH_WORDS];
        int same = 1;
        for (int k = 0; k < 6; k++)
            for (int a = 0; a < 3; a++) {
                size_t d = dims[k], m = d > 1000 ? 5 : 300;
                sgd_noise W = {SGD_NOISE_CUBE, 0.37, NULL, NULL};
                double *y = malloc((m * d + 2 * d) * sizeof(double)), *om = y + d, *x = om + d;
                for (size_t i = 0; i < d; i++) y[i] = 0.5 - 0.001 * (double)i;
                smooth_cube_x_block(W.scale, 0.3, y, d, 77, 9, starts[a], m, words, x);
                for (size_t j = 0; j < m; j++) {
                    sgd_noise_sample_domain(&W, d, 77, SGD_RNG_SMOOTH, 9, starts[a] + j, om);
                    for (size_t i = 0; i < d; i++) same &= x[j * d + i] == y[i] - 0.3 * om[i];
                }
                free(y);
            }
        CHECK(same);
    }

    /* ---- same numbers on 1 and 2 threads (n d = 5e5: 7 chunks merged in order) ---- */
    {
        const size_t d = 50;
        sgd_landscape *f = sgd_landscape_create("rastrigin", d);
        sgd_smooth_params p;
        sgd_smooth_params_default(&p);
        p.method = SGD_SMOOTH_MC;
        p.nsamples = 10000;
        double y[50], g1, g2, e1, e2, d1[50], d2[50], de1[50], de2[50];
        for (size_t i = 0; i < d; i++) y[i] = 0.05 * (double)i - 1.0;
        for (int kind = 0; kind < 2; kind++) {
            sgd_noise_kind nk = kind ? SGD_NOISE_BALL : SGD_NOISE_CUBE;
            omp_set_num_threads(1);
            CHECK(eval(f, nk, 1.0, 0.3, y, &p, &g1, &e1, d1, de1, NULL) == SGD_OK);
            omp_set_num_threads(2);
            CHECK(eval(f, nk, 1.0, 0.3, y, &p, &g2, &e2, d2, de2, NULL) == SGD_OK);
            CHECK(g1 == g2 && e1 == e2);
            CHECK(memcmp(d1, d2, sizeof d1) == 0 && memcmp(de1, de2, sizeof de1) == 0);
            /* grad_only (batched gradients) gives the same gradient estimate */
            p.grad_only = 1;
            CHECK(eval(f, nk, 1.0, 0.3, y, &p, &g2, &e2, d2, de2, NULL) == SGD_OK);
            CHECK(isnan(g2));
            for (size_t i = 0; i < d; i++) CHECK_CLOSE(d2[i], d1[i], 1e-12, 1e-12);
            p.grad_only = 0;
        }
        sgd_landscape_free(f);
    }

    /* ---- what is unsupported says so ---- */
    {
        sgd_landscape *f = sgd_landscape_create("rastrigin", 3);
        sgd_smooth_params p;
        sgd_smooth_params_default(&p);
        p.method = SGD_SMOOTH_QUAD;
        double y[3] = {0, 0, 0}, g;
        CHECK(eval(f, SGD_NOISE_CUBE, 1.0, 0.1, y, &p, &g, NULL, NULL, NULL, NULL) == SGD_EUNSUPPORTED);
        p.method = SGD_SMOOTH_MC;
        sgd_noise W = {SGD_NOISE_DATA, 1.0, NULL, NULL};
        sgd_smooth_workspace *w = sgd_smooth_workspace_alloc(3, p.limit);
        sgd_smooth_value v;
        memset(&v, 0, sizeof v);
        CHECK(sgd_smooth_eval(f, &W, 0.1, y, &p, w, &v) == SGD_EUNSUPPORTED);
        CHECK(sgd_smooth_eval(f, &(sgd_noise){SGD_NOISE_CUBE, -1, NULL, NULL}, 0.1, y, &p, w, &v) == SGD_EINVAL);
        sgd_smooth_workspace_free(w);
        sgd_landscape_free(f);
        /* no noise: g = f exactly */
        f = sgd_landscape_create("spiky", 1);
        double y1v = 0.37, gv, gr;
        p.method = SGD_SMOOTH_MC;
        CHECK(eval(f, SGD_NOISE_NONE, 0, 0.1, &y1v, &p, &gv, NULL, &gr, NULL, NULL) == SGD_OK);
        double gf;
        CHECK(gv == f->fg(f, &y1v, &gf));
        CHECK(gr == gf);
        sgd_landscape_free(f);
    }
    return check_done();
}
