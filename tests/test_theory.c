/* Theorem 1 / Corollary 2 / Theorem 3 numbers against hand computations, and
 * the Assumption-1 check on landscapes whose c is known. */
#include "check.h"
#include "sgdscape/error.h"
#include "sgdscape/landscape.h"
#include "sgdscape/theory.h"

#include <omp.h>
#include <string.h>

int main(void)
{
    /* ---- Theorem 1, by hand ----
     * eta = 0.1, c = 1, L = 1, r = 1, ||y0-x*||^2 = 16, T2 = 1000:
     *   window min{1/2, 1, 1/2} = 0.5
     *   lambda = 0.2 - 0.01 = 0.19;  b = 0.01 * 1 * 1.1^2 = 0.0121
     *   T1 = ceil(log(0.19*16/0.0121)/0.19) = ceil(log(251.2397)/0.19) = ceil(29.08635) = 30
     *   20b/lambda = 0.242/0.19 = 1.27368421...
     *   mu = 42 sqrt(log(2250)) = 116.6866, delta = mu sqrt(0.0121/0.19) = 29.4467 */
    sgd_thm1_input in = {0.1, 1.0, 1.0, 1.0, 16.0, 1000};
    sgd_thm1 t;
    CHECK(sgd_bounds_theorem1(&in, &t) == SGD_OK);
    CHECK_CLOSE(t.eta_max, 0.5, 1e-15, 0);
    CHECK_CLOSE(t.lambda, 0.19, 1e-15, 0);
    CHECK_CLOSE(t.b, 0.0121, 1e-16, 0);
    CHECK(t.T1 == 30);
    CHECK_CLOSE(t.T1_real, 29.08635443051353, 1e-10, 0);
    CHECK_CLOSE(t.radius2, 1.2736842105263158, 1e-13, 0);
    CHECK_CLOSE(t.mu, 116.6865943, 1e-6, 0);
    CHECK_CLOSE(t.delta, 29.44671465, 1e-7, 0);
    /* eta = 0.05, c = 0.5, L = 2, r = 2, d0 = 1, T2 = 1:
     *   limits 0.25, 0.125, 1; lambda = 0.05 - 0.01 = 0.04; b = 0.0025*4*1.21 = 0.0121
     *   T1 = ceil(log(0.04/0.0121)/0.04) = ceil(29.892) = 30; mu = max{8, 42 sqrt(log 2.25)} = 37.8217 */
    sgd_thm1_input in2 = {0.05, 0.5, 2.0, 2.0, 1.0, 1};
    CHECK(sgd_bounds_theorem1(&in2, &t) == SGD_OK);
    CHECK_CLOSE(t.limit[1], 0.125, 1e-15, 0);
    CHECK_CLOSE(t.lambda, 0.04, 1e-15, 0);
    CHECK_CLOSE(t.b, 0.0121, 1e-15, 0);
    CHECK(t.T1 == 30);
    CHECK_CLOSE(t.mu, 37.82169881702307, 1e-10, 0);
    CHECK_CLOSE(t.radius2, 6.05, 1e-12, 0);
    /* already inside: T1 = 0 */
    sgd_thm1_input in3 = {0.1, 1.0, 1.0, 1.0, 0.01, 1000};
    CHECK(sgd_bounds_theorem1(&in3, &t) == SGD_OK && t.T1 == 0);
    /* which condition fails */
    sgd_thm1_input bad = {0.6, 1.0, 1.0, 1.0, 1.0, 10};
    CHECK(sgd_bounds_theorem1(&bad, &t) == SGD_EINVAL);
    CHECK(t.violated == (SGD_THM1_ETA_HALF_L | SGD_THM1_ETA_HALF_C));
    CHECK(isnan(t.lambda) && isnan(t.T1));
    CHECK(strstr(sgd_errmsg(), "1/(2L)") != NULL);
    bad = (sgd_thm1_input){0.3, 0.25, 1.0, 1.0, 1.0, 10};
    CHECK(sgd_bounds_theorem1(&bad, &t) == SGD_EINVAL && t.violated == SGD_THM1_ETA_C_L2);
    CHECK(strstr(sgd_errmsg(), "c/L^2") != NULL);
    /* impossible input */
    sgd_thm1_input imp[] = {{0.1, 0, 1, 1, 1, 10},   {0.1, -1, 1, 1, 1, 10},  {0.1, 1, 0, 1, 1, 10},
                            {0.1, 1, -2, 1, 1, 10},  {0.1, 1, 1, -1, 1, 10},  {0.1, 1, 1, 0, 1, 10},
                            {NAN, 1, 1, 1, 1, 10},   {0.1, NAN, 1, 1, 1, 10}, {0.1, 1, 1, INFINITY, 1, 10},
                            {-0.1, 1, 1, 1, 1, 10},  {0.1, 1, 1, 1, -1, 10},  {0.1, 1, 1, 1, 1, 0.5}};
    for (size_t i = 0; i < sizeof imp / sizeof imp[0]; i++) {
        CHECK(sgd_bounds_theorem1(&imp[i], &t) == SGD_EINVAL);
        CHECK(isnan(t.lambda) && isnan(t.radius2));
        CHECK(sgd_errmsg()[0] != '\0');
    }

    /* ---- Corollary 2, by hand ----
     * L = 2, d0 = 16; stage 1 (0.1, 1, 1): lambda = 0.16, b = 0.0144, T = ceil(log(177.78)/0.16) = 33,
     * radius 1.8; stage 2 (0.05, 1.5, 1): lambda = 0.14, b = 0.003025, starts at 1.8,
     * T = ceil(log(0.14*1.8/0.003025)/0.14) = ceil(31.59) = 32, radius 0.4321428...; prob 1/4 */
    sgd_cor2_stage st[3] = {{.eta = 0.1, .c = 1, .r = 1}, {.eta = 0.05, .c = 1.5, .r = 1}};
    double prob;
    CHECK(sgd_bounds_corollary2(2, st, 2.0, 16.0, 1000, &prob) == SGD_OK);
    CHECK(st[0].steps == 33 && st[1].steps == 32);
    CHECK_CLOSE(st[0].thm.radius2, 1.8, 1e-13, 0);
    CHECK_CLOSE(st[1].start_dist2, 1.8, 1e-13, 0);
    CHECK_CLOSE(st[1].thm.radius2, 0.43214285714285716, 1e-13, 0);
    CHECK(st[1].radius_shrinks && st[1].c_increases && st[1].eta_decreases);
    CHECK(prob == 0.25);
    sgd_cor2_stage st2[2] = {{.eta = 0.1, .c = 1, .r = 1}, {.eta = 0.05, .c = 0.8, .r = 1}};
    CHECK(sgd_bounds_corollary2(2, st2, 2.0, 16.0, 1000, &prob) == SGD_EINVAL);
    CHECK(strstr(sgd_errmsg(), "c' > c") != NULL);
    sgd_cor2_stage st3[2] = {{.eta = 0.1, .c = 1, .r = 1}, {.eta = 0.2, .c = 1.5, .r = 1}};
    CHECK(sgd_bounds_corollary2(2, st3, 2.0, 16.0, 1000, &prob) == SGD_EINVAL);

    /* ---- Theorem 3, by hand ---- */
    {
        double x[2] = {3, 4}, xs[2] = {0, 0}, g[2] = {1, 1};
        sgd_thm3 o;
        /* <-g, x*-x> = 7, ||x-x*||^2 = 25, ||g||^2 = 2: c' = 7/25, threshold = 2*7/2 = 7 (exact: iff) */
        CHECK(sgd_bounds_theorem3(2, x, g, xs, NAN, 6.99, &o) == SGD_OK);
        CHECK_CLOSE(o.c_point, 0.28, 1e-15, 0);
        CHECK_CLOSE(o.eta_threshold, 7.0, 1e-14, 0);
        CHECK(!o.moved_away && o.dist2_after < 25);
        CHECK(sgd_bounds_theorem3(2, x, g, xs, NAN, 7.01, &o) == SGD_OK);
        CHECK(o.moved_away && o.dist2_after > 25);
        /* a looser (larger) c' gives a larger threshold */
        CHECK(sgd_bounds_theorem3(2, x, g, xs, 0.5, NAN, &o) == SGD_OK);
        CHECK_CLOSE(o.eta_threshold, 12.5, 1e-14, 0);
        /* a c' below the pointwise value contradicts the hypothesis */
        CHECK(sgd_bounds_theorem3(2, x, g, xs, 0.2, NAN, &o) == SGD_EINVAL);
        /* gradient pointing away: threshold 0 */
        double ga[2] = {-1, -1};
        CHECK(sgd_bounds_theorem3(2, x, ga, xs, NAN, 0.01, &o) == SGD_OK);
        CHECK(o.eta_threshold == 0 && o.moved_away);
        CHECK(sgd_bounds_theorem3(2, xs, g, xs, NAN, NAN, &o) == SGD_EINVAL);
    }

    /* ---- spectral norm ---- */
    {
        double H2[4] = {2, 1, 1, 2}, H3[9] = {1, 0, 0, 0, -5, 0, 0, 0, 2};
        CHECK_CLOSE(sgd_theory_spectral_norm(2, H2), 3.0, 1e-14, 0);
        CHECK_CLOSE(sgd_theory_spectral_norm(3, H3), 5.0, 1e-12, 0);
    }

    /* ---- Assumption 1 on the quadratic: grad g = grad f (mean-zero noise), so
     * <-grad g(y), x*-y> = a ||y||^2 and c = a exactly ---- */
    {
        sgd_landscape *f = sgd_landscape_create("quadratic:a=2", 2);
        sgd_onepoint_config c;
        sgd_onepoint_defaults(&c, f);
        c.W.kind = SGD_NOISE_BALL;
        c.W.scale = 1.0;
        c.eta = 0.1;
        c.D.n = 300;
        sgd_onepoint_result r;
        CHECK(sgd_onepoint_check(&c, &r) == SGD_OK);
        CHECK(r.method == SGD_SMOOTH_EXACT);
        CHECK_CLOSE(r.c_hat, 2.0, 1e-12, 0);
        CHECK_CLOSE(r.c_lower, 2.0, 1e-12, 0);
        CHECK(r.nfail == 0);
        CHECK_CLOSE(r.L_hess, 2.0, 1e-12, 0);
        CHECK_CLOSE(r.L_lower, 2.0, 1e-6, 0);
        CHECK(r.r == 1.0);
        sgd_onepoint_result_free(&r);
        /* the same by Monte Carlo: the interval must contain 2 */
        c.sp.method = SGD_SMOOTH_MC;
        c.sp.nsamples = 2000;
        c.D.n = 100;
        CHECK(sgd_onepoint_check(&c, &r) == SGD_OK);
        CHECK(r.method == SGD_SMOOTH_MC);
        CHECK(r.c_lower <= 2.0 && 2.0 <= r.c_upper);
        CHECK(r.c_lower > 1.8);
        CHECK(r.mc_samples == 200000);
        double chat = r.c_hat;
        sgd_onepoint_result_free(&r);
        /* and it does not depend on the thread count */
        omp_set_num_threads(1);
        CHECK(sgd_onepoint_check(&c, &r) == SGD_OK);
        CHECK(r.c_hat == chat);
        sgd_onepoint_result_free(&r);
        omp_set_num_threads(2);
        /* quadrature on the disk */
        c.sp.method = SGD_SMOOTH_QUAD;
        c.D.n = 20;
        CHECK(sgd_onepoint_check(&c, &r) == SGD_OK);
        CHECK_CLOSE(r.c_hat, 2.0, 1e-7, 0);
        CHECK(r.c_lower <= 2.0 + 1e-12);
        sgd_onepoint_result_free(&r);
        sgd_landscape_free(f);
    }
    /* anisotropic: a = (1, 4); ratio = (y1^2 + 4 y2^2)/(y1^2 + y2^2) in [1, 4]; the grid has x2 = 0,
     * where the ratio is exactly 1 */
    {
        sgd_landscape *f = sgd_landscape_create("quadratic:a=1,cond=4", 2);
        sgd_onepoint_config c;
        sgd_onepoint_defaults(&c, f);
        c.eta = 0.1;
        c.D.kind = SGD_DOMAIN_GRID;
        c.D.lo = -2;
        c.D.hi = 2;
        c.D.n = 21;
        sgd_onepoint_result r;
        CHECK(sgd_onepoint_check(&c, &r) == SGD_OK);
        CHECK(r.n == 441 && r.nexcluded == 1); /* the centre has y = x* */
        CHECK_CLOSE(r.c_hat, 1.0, 1e-12, 0);
        CHECK_CLOSE(r.L_hess, 4.0, 1e-12, 0);
        CHECK_CLOSE(r.cprime_max, 4.0, 1e-12, 0);
        sgd_onepoint_result_free(&r);
        sgd_landscape_free(f);
    }

    /* ---- Figure 3's story on the spiky default, [-4, 4], x* = 0, eta = 0.01 ----
     * level 0.04: the ripples survive, Assumption 1 fails far from 0;
     * level 0.15: fails only next to x* (|x| <= 0.05: residual spikes), holds outside;
     * level 0.35: holds everywhere. */
    {
        sgd_landscape *f = sgd_landscape_create("spiky", 1);
        sgd_onepoint_config c;
        sgd_onepoint_defaults(&c, f);
        c.eta = 0.01;
        c.D.kind = SGD_DOMAIN_GRID;
        c.D.lo = -4;
        c.D.hi = 4;
        c.D.n = 801;
        sgd_onepoint_result r;
        c.W.scale = 0.04 / c.eta;
        CHECK(sgd_onepoint_check(&c, &r) == SGD_OK);
        CHECK(r.nfail > 100 && r.fail_radius > 2.0);
        sgd_onepoint_result_free(&r);
        c.W.scale = 0.15 / c.eta;
        CHECK(sgd_onepoint_check(&c, &r) == SGD_OK);
        CHECK(r.nfail > 0 && r.fail_radius <= 0.05);
        sgd_onepoint_result_free(&r);
        c.exclude_x = 0.1;
        CHECK(sgd_onepoint_check(&c, &r) == SGD_OK);
        CHECK(r.nfail == 0 && r.c_hat > 0.1);
        sgd_onepoint_result_free(&r);
        c.exclude_x = 0;
        c.W.scale = 0.35 / c.eta;
        CHECK(sgd_onepoint_check(&c, &r) == SGD_OK);
        CHECK(r.nfail == 0 && r.c_hat > 0.3);
        CHECK_CLOSE(r.L_hess, f->L, 1e-3, 1e-3);
        sgd_onepoint_result_free(&r);
        sgd_landscape_free(f);
    }
    return check_done();
}
