/* Theorem 1, Corollary 2 and Theorem 3 as a table for a reader and as JSON
 * (bounds.c computes them): what `sgdscape bounds` prints and writes. */
#include "sgdscape/error.h"
#include "sgdscape/io.h"
#include "sgdscape/theory.h"

#include <math.h>
#include <stdio.h>

void sgd_bounds_theorem1_print(FILE *o, const sgd_thm1_input *in, const sgd_thm1 *t)
{
    fprintf(o, "Theorem 1 with eta = %.6g, c = %.6g, L = %.6g, r = %.6g, ||y0 - x*||^2 = %.6g, T2 = %.0f\n", in->eta,
            in->c, in->L, in->r, in->y0_dist2, in->T2);
    fprintf(o, "  window   eta < min{1/(2L) = %.6g, c/L^2 = %.6g, 1/(2c) = %.6g} = %.6g   ok\n", t->limit[0],
            t->limit[1], t->limit[2], t->eta_max);
    fprintf(o, "  lambda   2 eta c - eta^2 L^2            = %.10g\n", t->lambda);
    fprintf(o, "  b        eta^2 r^2 (1 + eta L)^2        = %.10g\n", t->b);
    fprintf(o, "  T1       ceil(log(lambda d0 / b)/lambda) = %.0f   (real %.6g)\n", t->T1, t->T1_real);
    fprintf(o, "  radius   ||y_T1 - x*||^2 <= 20 b/lambda = %.10g   (||.|| <= %.6g), prob >= 1/2\n", t->radius2,
            sqrt(t->radius2));
    fprintf(o, "  mu       max{8, 42 sqrt(log(9 T2/4))}   = %.10g\n", t->mu);
    fprintf(o, "  delta    mu sqrt(b/lambda)              = %.10g   (delta^2 = %.6g): ||y_t - x*|| <= delta for "
               "T1 <= t <= T1+T2\n",
            t->delta, t->delta * t->delta);
}

/* Theorem 1's input and numbers into j: the whole statement, or one stage of Corollary 2. */
static void thm1_fields(sgd_json *j, const sgd_thm1_input *in, const sgd_thm1 *t)
{
    sgd_json_num(j, "eta", in->eta);
    sgd_json_num(j, "c", in->c);
    sgd_json_num(j, "L", in->L);
    sgd_json_num(j, "r", in->r);
    sgd_json_num(j, "y0_dist2", in->y0_dist2);
    sgd_json_num(j, "T2", in->T2);
    sgd_json_nums(j, "eta_limits", t->limit, 3);
    sgd_json_num(j, "eta_max", t->eta_max);
    sgd_json_num(j, "lambda", t->lambda);
    sgd_json_num(j, "b", t->b);
    sgd_json_num(j, "T1", t->T1);
    sgd_json_num(j, "T1_real", t->T1_real);
    sgd_json_num(j, "radius2", t->radius2);
    sgd_json_num(j, "zeta", t->zeta);
    sgd_json_num(j, "mu", t->mu);
    sgd_json_num(j, "delta", t->delta);
}

sgd_json *sgd_bounds_theorem1_json(const sgd_thm1_input *in, const sgd_thm1 *t)
{
    sgd_json *j = sgd_json_new();
    sgd_json_str(j, "statement", "theorem1");
    thm1_fields(j, in, t);
    return j;
}

void sgd_bounds_corollary2_print(FILE *o, size_t K, const sgd_cor2_stage *st, double L, double y0_dist2, double T2,
                                 double prob)
{
    fprintf(o, "Corollary 2, %zu stages, L = %.6g, T2 = %.0f, ||y0 - x*||^2 = %.6g\n", K, L, T2, y0_dist2);
    fprintf(o, "  stage        eta          c          r     lambda          b    start d0      steps "
               "   20b/lambda      delta\n");
    double total = 0;
    for (size_t k = 0; k < K; k++) {
        fprintf(o, "  %5zu %10.4g %10.4g %10.4g %10.4g %10.4g %11.4g %10.0f %13.6g %10.4g\n", k + 1, st[k].eta,
                st[k].c, st[k].r, st[k].thm.lambda, st[k].thm.b, st[k].start_dist2, st[k].steps, st[k].thm.radius2,
                st[k].thm.delta);
        total += st[k].steps;
        if (!st[k].radius_shrinks)
            fprintf(o, "        note: stage %zu's radius does not shrink (the corollary claims 20b'/lambda' < "
                       "20b/lambda)\n",
                    k + 1);
    }
    fprintf(o, "  total steps %.0f; with probability >= %.6g: ||y - x*||^2 <= %.6g at the end\n", total, prob,
            st[K - 1].thm.radius2);
    fprintf(o, "  assumes Assumption 1 holds for stage k+1 (with c_{k+1}) on D' = {||x - x*||^2 <= 20 b_k/lambda_k}\n");
}

sgd_json *sgd_bounds_corollary2_json(size_t K, const sgd_cor2_stage *st, double L, double y0_dist2, double T2,
                                     double prob)
{
    sgd_json *j = sgd_json_new();
    sgd_json_str(j, "statement", "corollary2");
    sgd_json_num(j, "L", L);
    sgd_json_num(j, "T2", T2);
    sgd_json_num(j, "y0_dist2", y0_dist2);
    double total = 0;
    for (size_t k = 0; k < K; k++) {
        total += st[k].steps;
        sgd_json *s = sgd_json_arr_obj(j, "stages");
        sgd_thm1_input in = {st[k].eta, st[k].c, L, st[k].r, st[k].start_dist2, T2};
        thm1_fields(s, &in, &st[k].thm);
        sgd_json_bool(s, "radius_shrinks", st[k].radius_shrinks);
    }
    sgd_json_num(j, "probability", prob);
    sgd_json_num(j, "total_steps", total);
    return j;
}

void sgd_bounds_theorem3_print(FILE *o, const sgd_thm3 *t, const char *name, double c_prime)
{
    fprintf(o, "Theorem 3 at x (||x - x*||^2 = %.10g, ||grad f(x)||^2 = %.10g) of %s\n", t->dist2, t->grad_norm2,
            name);
    fprintf(o, "  <-grad f(x), x* - x> / ||x* - x||^2 = %.10g  (the tightest c' at this point)\n", t->c_point);
    fprintf(o, "  c' used                             = %.10g%s\n", t->c_used,
            isnan(c_prime) ? " (pointwise)" : " (given)");
    fprintf(o, "  eta_threshold = 2 c' ||x-x*||^2/||grad f||^2 = %.10g: GD with eta > this ends no closer to x*\n",
            t->eta_threshold);
    if (t->c_point <= 0) fprintf(o, "  (the gradient does not point towards x* here: every eta > 0 moves away)\n");
    if (!isnan(t->eta))
        fprintf(o, "  GD step at eta = %.6g: ||x - x*||^2 %.10g -> %.10g  (%s)\n", t->eta, t->dist2, t->dist2_after,
                t->moved_away ? "moved away or stayed" : "moved closer");
}

sgd_json *sgd_bounds_theorem3_json(const sgd_thm3 *t, const char *landscape)
{
    sgd_json *j = sgd_json_new();
    sgd_json_str(j, "statement", "theorem3");
    sgd_json_str(j, "landscape", landscape);
    sgd_json_num(j, "dist2", t->dist2);
    sgd_json_num(j, "grad_norm2", t->grad_norm2);
    sgd_json_num(j, "c_point", t->c_point);
    sgd_json_num(j, "c_used", t->c_used);
    sgd_json_num(j, "eta_threshold", t->eta_threshold);
    sgd_json_num(j, "eta_gd", t->eta);
    sgd_json_num(j, "dist2_after", t->dist2_after);
    return j;
}

int sgd_bounds_write(const char *dir, const sgd_json *bounds, int argc, char **argv)
{
    sgd_json *man = sgd_json_new();
    sgd_json_manifest_header(man, argc, argv, 1);
    sgd_json_str(man, "command", "bounds");
    int rc = sgd_json_write_free(man, dir, "manifest.json");
    char path[4400];
    int n = snprintf(path, sizeof path, "%s/bounds.json", dir);
    if (!rc) rc = n < 0 || (size_t)n >= sizeof path ? sgd_error(SGD_EINVAL, "%s/bounds.json: path too long", dir)
                                                    : sgd_json_write(bounds, path);
    return rc;
}
