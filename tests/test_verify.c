/* Theorem 1's predictions against simulated SGD on the quadratic (where
 * Assumption 1 holds with c = a exactly), and Theorem 3 against a real GD step. */
#include "check.h"
#include "sgdscape/error.h"
#include "sgdscape/landscape.h"
#include "sgdscape/optim.h"
#include "sgdscape/theory.h"

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
    oc.W.r = 1.0;
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

    sgd_trials_config cfg;
    sgd_trials_defaults(&cfg, f);
    cfg.noise.kind = SGD_NOISE_BALL;
    cfg.ntrials = n;
    cfg.seed = 7;
    cfg.x0 = x0;
    cfg.record_every = 1;
    CHECK(sgd_schedule_parse("const", 0.1, 1.0, total, &cfg.sched) == SGD_OK);
    sgd_trials_result tr;
    CHECK(sgd_trials_run(&cfg, &tr, NULL, NULL) == SGD_OK);
    CHECK(tr.nrec == total + 1);
    size_t inside = 0, stay = 0;
    double mean_T1 = 0, worst_ratio = 0;
    double *mean = calloc(tr.nrec, sizeof(double));
    for (size_t j = 0; j < n; j++) {
        double mx = 0;
        for (size_t q = 0; q < tr.nrec; q++) {
            const double *y = tr.traj_y + (j * tr.nrec + q) * d;
            double s = y[0] * y[0] + y[1] * y[1];
            mean[q] += s / (double)n;
            if (q == T1) {
                inside += s <= t.radius2;
                mean_T1 += s / (double)n;
            }
            if (q >= T1 && s > mx) mx = s;
        }
        stay += mx <= t.delta * t.delta;
    }
    /* y_0 of every trial is 0.9 x0 */
    CHECK_CLOSE(tr.traj_y[0], 2.7, 1e-12, 0);
    CHECK_CLOSE(mean[0], d0, 1e-9, 0);
    /* theory: >= 1/2; here near 1 */
    double p = (double)inside / (double)n;
    printf("P(||y_T1||^2 <= 20b/lambda = %.4g) = %.4f, P(stay within delta) = %.4f, E||y_T1||^2 = %.4g (<= %.4g)\n",
           t.radius2, p, (double)stay / (double)n, mean_T1, 2 * t.floor);
    CHECK(p >= 0.5);
    CHECK(p >= 0.99);
    CHECK((double)stay / (double)n >= 0.99);
    /* the proof's Step 2: E||y_T1 - x*||^2 <= 2b/lambda, and the whole curve under b/lambda + (1-lambda)^t d0 */
    CHECK(mean_T1 <= 2 * t.floor);
    for (size_t q = 0; q < tr.nrec; q++) {
        double bound = t.floor + pow(1 - t.lambda, (double)q) * d0;
        double ratio = mean[q] / bound;
        if (ratio > worst_ratio) worst_ratio = ratio;
    }
    CHECK(worst_ratio <= 1.0);
    /* for this quadratic the recursion is exact: E D_{t+1} = (1-eta)^2 (E D_t + eta^2 E||w||^2), with
     * E||w||^2 = r^2 d/(d+2) = 0.5; stationary value 0.81 * 0.01 * 0.5 / 0.19 = 0.0213 */
    double stat = 0.81 * 0.01 * 0.5 / 0.19, tail = 0;
    for (size_t q = T1 + 100; q < tr.nrec; q++) tail += mean[q] / (double)(tr.nrec - T1 - 100);
    CHECK_CLOSE(tail, stat, 0, 0.1);
    free(mean);
    sgd_trials_result_free(&tr);

    /* ---- Theorem 3 with a real GD step: threshold 2 c' ||x||^2/||grad||^2 = 2 for a = 1 ---- */
    {
        double x[2] = {3, 4}, y[2], xn[2], g[2], xs[2] = {0, 0};
        f->fg(f, x, g);
        sgd_thm3 o;
        CHECK(sgd_bounds_theorem3(d, x, g, xs, NAN, NAN, &o) == SGD_OK);
        CHECK_CLOSE(o.eta_threshold, 2.0, 1e-14, 0);
        sgd_sgd_step(f, 2.5, NULL, x, y, xn, g);
        CHECK(xn[0] * xn[0] + xn[1] * xn[1] > 25.0); /* 56.25 */
        CHECK_CLOSE(xn[0] * xn[0] + xn[1] * xn[1], 56.25, 1e-12, 0);
        sgd_sgd_step(f, 1.5, NULL, x, y, xn, g);
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
