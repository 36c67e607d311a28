/* Theorem 1 against simulated SGD for a reader: the table `sgdscape verify`
 * prints and its manifest (verify.c runs the trials and writes the rest). */
#include "sgdscape/io.h"
#include "sgdscape/theory.h"

#include <math.h>
#include <stdio.h>

void sgd_verify_print_check(FILE *o, const sgd_verify_config *c, const sgd_verify_result *r)
{
    if (r->checked)
        fprintf(o, "Assumption 1 check on [%g, %g]^%zu: c_hat = %.6g, c_lower = %.6g, %zu failing points\n",
                r->check_lo, r->check_hi, c->f->d, r->check_c_hat, r->c, r->check_nfail);
}

void sgd_verify_print(FILE *o, const sgd_verify_config *c, const sgd_verify_result *r)
{
    const sgd_thm1 *t = &r->thm;
    const double *s1 = r->dist2_T1;
    fprintf(o, "Theorem 1 on %s (d=%zu), %s noise: eta = %g, c = %.6g (%s), L = %.6g, r = %.6g\n", c->f->name,
            c->f->d, sgd_noise_name(c->W.kind), c->eta, r->c, r->c_source, r->L, r->in.r);
    fprintf(o, "  lambda = %.6g, b = %.6g, ||y0 - x*||^2 = %.6g, T1 = %.0f, T2 = %zu, 20b/lambda = %.6g, delta = %.6g\n",
            t->lambda, t->b, r->y0_dist2, t->T1, c->T2, t->radius2, t->delta);
    fprintf(o, "  %zu trials%s:\n", c->trials, r->record_every > 1 ? " (trajectories recorded every k steps)" : "");
    fprintf(o, "    P(||y_T1 - x*||^2 <= 20b/lambda)           = %.4f  [%.4f, %.4f]   theory >= 0.5\n", r->p_radius,
            r->ci_radius[0], r->ci_radius[1]);
    fprintf(o, "    P(||y_t - x*|| <= delta, T1 <= t <= T1+T2)  = %.4f  [%.4f, %.4f]   theory >= 0.5 (jointly)\n",
            r->p_stay, r->ci_stay[0], r->ci_stay[1]);
    fprintf(o, "    both                                       = %.4f\n", r->p_joint);
    fprintf(o, "    ||y_T1 - x*||^2: mean %.4g (proof: <= 2b/lambda = %.4g); median %.4g, q90 %.4g, q99 %.4g, max "
               "%.4g vs bound %.4g (%.3gx the median)\n",
            r->mean_T1, 2 * t->floor, s1[0], s1[1], s1[2], s1[3], t->radius2, s1[0] > 0 ? t->radius2 / s1[0] : NAN);
    fprintf(o, "    max over T1..T1+T2 of ||y_t - x*||^2: median %.4g, max %.4g vs delta^2 = %.4g\n", r->window_max[0],
            r->window_max[1], t->delta * t->delta);
    if (r->thm3) {
        fprintf(o, "  Theorem 3 at x with ||x - x*||^2 = %.6g: threshold eta = %.6g\n", r->thm3_at.dist2,
                r->thm3_at.eta_threshold);
        fprintf(o, "    eta = %.6g (above): ||x - x*||^2 -> %.6g (%s)\n", r->eta_above, r->thm3_above.dist2_after,
                r->thm3_above.dist2_after >= r->thm3_at.dist2 ? "moved away, as predicted" : "moved closer: CONTRADICTS");
        if (r->eta_below > 0)
            fprintf(o, "    eta = %.6g (below): ||x - x*||^2 -> %.6g\n", r->eta_below, r->thm3_below.dist2_after);
    }
}

void sgd_verify_manifest_json(struct sgd_json *man, const sgd_verify_config *c, const char *landscape)
{
    sgd_json_str(man, "command", "verify");
    sgd_json_str(man, "landscape", landscape);
    sgd_json_int(man, "d", (long long)c->f->d);
    sgd_json_str(man, "noise", sgd_noise_name(c->W.kind));
    sgd_json_num(man, "eta", c->eta);
    sgd_json_num(man, "noise_radius", c->W.scale);
    sgd_json_int(man, "trials", (long long)c->trials);
    sgd_json_int(man, "T2", (long long)c->T2);
    sgd_json_bool(man, "random_start", c->x0 == NULL);
    sgd_json_int(man, "seed", (long long)c->seed);
}
