/* Theorem 1's predictions against simulated SGD on the quadratic (where
 * Assumption 1 holds with c = a exactly), and Theorem 3 against a real GD step. */
#include "check.h"
#include "sgdscape/error.h"
#include "sgdscape/landscape.h"
#include "sgdscape/optim.h"
#include "sgdscape/theory.h"

#include <math.h>
#include <string.h>

int main(void)
{
    const size_t d = 2, n = 400;
    sgd_landscape *f = sgd_landscape_create("quadratic", d);
    CHECK(f != NULL);
    /* c from the Assumption-1 check (exact smoothing): c = a = 1 */
    sgd_onepoint_config oc;
    sgd_onepoint_defaults(&oc, f);
    oc.eta = 0.1;
    oc.W.scale = 1.0;
    oc.D.lo = -5;
    oc.D.hi = 5;
    oc.D.n = 200;
    sgd_onepoint_result orr;
    CHECK(sgd_onepoint_check(&oc, &orr) == SGD_OK);
    double c = orr.c_lower, L = orr.L_hess;
    CHECK_CLOSE(c, 1.0, 1e-12, 0);
    sgd_onepoint_result_free(&orr);

    double x0[2] = {3, 4};
    double d0 = 0.81 * 25; /* y0 = x0 - 0.1 x0 */
    sgd_thm1_input in = {0.1, c, L, 1.0, d0, 200};
    sgd_thm1 t;
    CHECK(sgd_bounds_theorem1(&in, &t) == SGD_OK);
    /* T1 = ceil(log(0.19 * 20.25 / 0.0121) / 0.19) = ceil(30.33) = 31 */
    CHECK(t.T1 == 31);
    size_t T1 = (size_t)t.T1, total = T1 + 200;

    /* the same run through the library's experiment: its statistics, not a recount here */
    sgd_verify_config vc;
    sgd_verify_defaults(&vc, f);
    vc.eta = 0.1;
    vc.W.scale = 1.0;
    vc.c = c;
    vc.L = L;
    vc.x0 = x0;
    vc.thm3_x = x0;
    vc.trials = n;
    vc.T2 = 200;
    vc.seed = 7;
    sgd_verify_result vr;
    CHECK(sgd_verify_prepare(&vc, &vr) == SGD_OK);
    CHECK(!vr.checked);
    CHECK_CLOSE(vr.y0_dist2, d0, 1e-12, 0);
    CHECK(vr.thm.T1 == t.T1);
    CHECK(sgd_verify_theorem1(&vc, &vr, NULL, NULL) == SGD_OK);
    CHECK(vr.T1 == T1 && vr.record_every == 1 && vr.nrec == total + 1);
    CHECK_CLOSE(vr.mean[0], d0, 1e-9, 0);
    printf("P(||y_T1||^2 <= 20b/lambda = %.4g) = %.4f, P(stay within delta) = %.4f, E||y_T1||^2 = %.4g (<= %.4g)\n",
           t.radius2, vr.p_radius, vr.p_stay, vr.mean_T1, 2 * t.floor);
    /* theory: >= 1/2; here near 1, and the Wilson interval brackets it */
    CHECK(vr.p_radius >= 0.99 && vr.p_stay >= 0.99);
    CHECK(vr.ci_radius[0] <= vr.p_radius && vr.p_radius <= vr.ci_radius[1] + 1e-12);
    CHECK(vr.joint <= vr.in_radius && vr.joint <= vr.stay && vr.diverged == 0);
    CHECK(vr.dist2_T1[0] <= vr.dist2_T1[1] && vr.dist2_T1[2] <= vr.dist2_T1[3]);
    /* the proof's Step 2: E||y_T1 - x*||^2 <= 2b/lambda, and the whole curve under b/lambda + (1-lambda)^t d0 */
    CHECK(vr.mean_T1 <= 2 * t.floor);
    double worst_ratio = 0;
    for (size_t q = 0; q < vr.nrec; q++)
        worst_ratio = fmax(worst_ratio, vr.mean[q] / (t.floor + pow(1 - t.lambda, (double)q) * d0));
    CHECK(worst_ratio <= 1.0);
    /* for this quadratic the recursion is exact: E D_{t+1} = (1-eta)^2 (E D_t + eta^2 E||w||^2), with
     * E||w||^2 = r^2 d/(d+2) = 0.5; stationary value 0.81 * 0.01 * 0.5 / 0.19 = 0.0213 */
    double stat = 0.81 * 0.01 * 0.5 / 0.19, tail = 0;
    for (size_t q = T1 + 100; q < vr.nrec; q++) tail += vr.mean[q] / (double)(vr.nrec - T1 - 100);
    CHECK_CLOSE(tail, stat, 0, 0.1);
    /* Theorem 3 at x0 = (3, 4): threshold 2, so 1.5 x 2 = 3 moves away and 1 moves closer */
    CHECK(vr.thm3 && vr.thm3_above.dist2_after >= vr.thm3_at.dist2 && vr.thm3_below.dist2_after < vr.thm3_at.dist2);
    sgd_verify_result_free(&vr);
    /* without c the experiment checks Assumption 1 on the box around x* reaching x0 */
    vc.c = NAN;
    vc.trials = 20;
    CHECK(sgd_verify_prepare(&vc, &vr) == SGD_OK);
    CHECK(vr.checked && vr.check_lo == -4 && vr.check_hi == 4);
    CHECK_CLOSE(vr.c, 1.0, 1e-12, 0);
    sgd_verify_result_free(&vr);

    /* the statistics on their own */
    {
        double lo, hi, s[5] = {1, 2, 3, 4, 5};
        sgd_stats_wilson95(0, 10, &lo, &hi);
        CHECK(lo == 0 && hi > 0.25 && hi < 0.35); /* 0.2775 */
        sgd_stats_wilson95(50, 100, &lo, &hi);
        CHECK_CLOSE(lo + hi, 1.0, 1e-12, 0);
        CHECK(sgd_stats_quantile(s, 5, 0.5) == 3 && sgd_stats_quantile(s, 5, 1.0) == 5);
        CHECK_CLOSE(sgd_stats_quantile(s, 5, 0.9), 4.6, 1e-14, 0);
        CHECK(isnan(sgd_stats_quantile(s, 0, 0.5)));
    }

    /* ---- Theorem 3 with a real GD step: threshold 2 c' ||x||^2/||grad||^2 = 2 for a = 1 ---- */
    {
        double x[2] = {3, 4}, y[2], xn[2], g[2], xs[2] = {0, 0};
        f->fg(f, x, g);
        sgd_thm3 o;
        CHECK(sgd_bounds_theorem3(d, x, g, xs, NAN, NAN, &o) == SGD_OK);
        CHECK_CLOSE(o.eta_threshold, 2.0, 1e-14, 0);
        sgd_step(f, 2.5, NULL, x, y, xn, g);
        CHECK(xn[0] * xn[0] + xn[1] * xn[1] > 25.0); /* 56.25 */
        CHECK_CLOSE(xn[0] * xn[0] + xn[1] * xn[1], 56.25, 1e-12, 0);
        sgd_step(f, 1.5, NULL, x, y, xn, g);
        CHECK(xn[0] * xn[0] + xn[1] * xn[1] < 25.0); /* 6.25 */
    }

    /* ---- where Theorem 1 does not apply it says so: the spiky f at eta = 0.01 has
     * c/L^2 ~ 1e-5 (L ~ 192), so eta is outside the window ---- */
    {
        sgd_landscape *s = sgd_landscape_create("spiky", 1);
        sgd_thm1_input bad = {0.01, 0.4, s->L, 15.0, 16.0, 100};
        CHECK(sgd_bounds_theorem1(&bad, &t) == SGD_EINVAL);
        CHECK(t.violated & SGD_THM1_ETA_C_L2);
        CHECK(isnan(t.radius2));
        sgd_landscape_free(s);
    }
    sgd_landscape_free(f);
    return check_done();
}
