/* Theorem 1, Corollary 2 and Theorem 3 of Kleinberg, Li, Yuan (2018) with
 * the constants exactly as printed in the paper. */
#include "sgdscape/theory.h"

#include "sgdscape/error.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void thm1_nan(sgd_thm1 *t)
{
    t->lambda = t->b = t->floor = t->radius2 = NAN;
    t->T1_real = t->T1 = t->zeta = t->mu = t->delta = NAN;
}

void sgd_bounds_explain(const sgd_thm1_input *in, const sgd_thm1 *t, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    static const char *names[3] = {"1/(2L)", "c/L^2", "1/(2c)"};
    for (int i = 0; i < 3; i++) {
        if (!(t->violated & (1u << i))) continue;
        int k = snprintf(buf + used, used < n ? n - used : 0, "%seta = %.6g >= %s = %.6g",
                         used ? "; " : "", in->eta, names[i], t->limit[i]);
        if (k > 0) used += (size_t)k;
    }
}

int sgd_bounds_theorem1(const sgd_thm1_input *in, sgd_thm1 *t)
{
    memset(t, 0, sizeof *t);
    thm1_nan(t);
    t->limit[0] = t->limit[1] = t->limit[2] = t->eta_max = NAN;
    const double eta = in->eta, c = in->c, L = in->L, r = in->r;
    if (isnan(eta) || isnan(c) || isnan(L) || isnan(r) || isnan(in->y0_dist2) || isnan(in->T2))
        return sgd_error(SGD_EINVAL, "Theorem 1: a parameter is NaN (eta=%g c=%g L=%g r=%g)", eta, c, L, r);
    if (!(c > 0) || !isfinite(c))
        return sgd_error(SGD_EINVAL,
                         "Theorem 1 needs Assumption 1 with c > 0 (got c = %g): with c <= 0 the smoothed "
                         "gradient does not point towards x* and the theorem says nothing",
                         c);
    if (!(L > 0) || !isfinite(L))
        return sgd_error(SGD_EINVAL, "Theorem 1 needs a finite smoothness constant L > 0 (got L = %g)", L);
    if (!(eta > 0) || !isfinite(eta))
        return sgd_error(SGD_EINVAL, "Theorem 1 needs a step size eta > 0 (got %g)", eta);
    if (r < 0) return sgd_error(SGD_EINVAL, "the noise radius r = max||omega|| cannot be negative (got %g)", r);
    if (!isfinite(r))
        return sgd_error(SGD_EINVAL,
                         "Theorem 1 needs bounded noise, max||omega|| <= r < inf (Gaussian noise has r = inf)");
    if (r == 0)
        return sgd_error(SGD_EINVAL,
                         "with r = 0 (no noise) b = 0, so 20b/lambda = 0 and T1 = log(inf)/lambda is infinite: "
                         "Theorem 1 needs r > 0");
    if (!(in->y0_dist2 >= 0) || !isfinite(in->y0_dist2))
        return sgd_error(SGD_EINVAL, "||y0 - x*||^2 must be finite and >= 0 (got %g)", in->y0_dist2);
    if (!(in->T2 >= 1) || !isfinite(in->T2))
        return sgd_error(SGD_EINVAL, "T2 must be a finite step count >= 1 (got %g)", in->T2);

    t->limit[0] = 1.0 / (2.0 * L);
    t->limit[1] = c / (L * L);
    t->limit[2] = 1.0 / (2.0 * c);
    t->eta_max = fmin(t->limit[0], fmin(t->limit[1], t->limit[2]));
    for (int i = 0; i < 3; i++)
        if (!(eta < t->limit[i])) t->violated |= 1u << i;
    if (t->violated) {
        char why[512];
        sgd_bounds_explain(in, t, why, sizeof why);
        return sgd_error(SGD_EINVAL, "Theorem 1 needs eta < min{1/(2L), c/L^2, 1/(2c)} = %.6g, but %s",
                         t->eta_max, why);
    }
    t->lambda = 2.0 * eta * c - eta * eta * L * L;
    double s = eta * r * (1.0 + eta * L);
    t->b = s * s;
    t->floor = t->b / t->lambda;
    t->radius2 = 20.0 * t->b / t->lambda;
    t->T1_real = in->y0_dist2 > 0 ? log(t->lambda * in->y0_dist2 / t->b) / t->lambda : -INFINITY;
    t->T1 = t->T1_real > 0 ? ceil(t->T1_real) : 0;
    t->zeta = 9.0 * in->T2 / 4.0;
    t->mu = fmax(8.0, 42.0 * sqrt(log(t->zeta)));
    t->delta = t->mu * sqrt(t->b / t->lambda);
    /* Extreme inputs (eta = 1e-300, r = 1e200) leave double precision: a
     * b of 0 or a T1 of inf would print as an answer. T1 alone may be 0 or
     * below (no steps needed), or -inf when y0 = x*. */
    const struct { const char *name; double v; } q[] = {
        {"lambda = 2 eta c - eta^2 L^2", t->lambda}, {"b = eta^2 r^2 (1 + eta L)^2", t->b},
        {"20 b/lambda", t->radius2},                 {"delta = mu sqrt(b/lambda)", t->delta},
        {"T1", in->y0_dist2 > 0 ? t->T1_real : 0}};
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
        int over = !isfinite(q[i].v), under = i < 4 && !isnormal(q[i].v);
        if (!over && !under) continue;
        char why[200];
        snprintf(why, sizeof why, "%s %s double precision (eta = %g, c = %g, L = %g, r = %g)", q[i].name,
                 over ? "overflows" : "underflows", eta, c, L, r);
        thm1_nan(t);
        return sgd_error(SGD_EINVAL, "Theorem 1: %s", why);
    }
    return SGD_OK;
}

int sgd_bounds_corollary2(size_t K, sgd_cor2_stage *st, double L, double y0_dist2, double T2,
                          double *prob)
{
    if (K == 0) return sgd_error(SGD_EINVAL, "Corollary 2: no stages");
    *prob = NAN;
    double start = y0_dist2;
    for (size_t k = 0; k < K; k++) {
        sgd_thm1_input in = {st[k].eta, st[k].c, L, st[k].r, start, T2};
        st[k].start_dist2 = start;
        int rc = sgd_bounds_theorem1(&in, &st[k].thm);
        if (rc) return sgd_error(rc, "stage %zu: %s", k + 1, sgd_errmsg());
        st[k].steps = st[k].thm.T1;
        st[k].c_increases = k == 0 || st[k].c > st[k - 1].c;
        st[k].eta_decreases = k == 0 || st[k].eta < st[k - 1].eta;
        st[k].radius_shrinks = k == 0 || st[k].thm.radius2 < st[k - 1].thm.radius2;
        if (!st[k].c_increases)
            return sgd_error(SGD_EINVAL, "Corollary 2 needs c' > c: stage %zu has c = %g <= %g", k + 1, st[k].c,
                             st[k - 1].c);
        if (!st[k].eta_decreases)
            return sgd_error(SGD_EINVAL, "Corollary 2 needs eta' < eta: stage %zu has eta = %g >= %g", k + 1,
                             st[k].eta, st[k - 1].eta);
        start = st[k].thm.radius2;
    }
    *prob = ldexp(1.0, -(int)K);
    return SGD_OK;
}

int sgd_bounds_theorem3(size_t d, const double *x, const double *grad, const double *x_star,
                        double c_prime, double eta, sgd_thm3 *o)
{
    memset(o, 0, sizeof *o);
    double dist2 = 0, gn2 = 0, inner = 0;
    for (size_t i = 0; i < d; i++) {
        if (!isfinite(x[i]) || !isfinite(grad[i]) || !isfinite(x_star[i]))
            return sgd_error(SGD_EINVAL, "Theorem 3: non-finite x, gradient or x* (coordinate %zu)", i);
        double e = x_star[i] - x[i];
        dist2 += e * e;
        gn2 += grad[i] * grad[i];
        inner += -grad[i] * e;
    }
    o->dist2 = dist2;
    o->grad_norm2 = gn2;
    o->inner = inner;
    o->eta = eta;
    o->dist2_after = NAN;
    if (dist2 == 0) return sgd_error(SGD_EINVAL, "Theorem 3: x = x*, nothing to move away from");
    if (gn2 == 0) return sgd_error(SGD_EINVAL, "Theorem 3: grad f(x) = 0, gradient descent does not move");
    o->c_point = inner / dist2;
    if (isnan(c_prime)) c_prime = o->c_point;
    else if (c_prime < o->c_point * (1 - 1e-12) - 1e-300)
        return sgd_error(SGD_EINVAL,
                         "Theorem 3: c' = %g contradicts its hypothesis at x, where "
                         "<-grad f(x), x*-x>/||x*-x||^2 = %g > c'",
                         c_prime, o->c_point);
    o->c_used = c_prime;
    o->eta_threshold = c_prime > 0 ? 2.0 * c_prime * dist2 / gn2 : 0.0;
    if (!isnan(eta)) {
        double a = 0;
        for (size_t i = 0; i < d; i++) {
            double e = x[i] - eta * grad[i] - x_star[i];
            a += e * e;
        }
        o->dist2_after = a;
        o->moved_away = a >= dist2;
    }
    return SGD_OK;
}
