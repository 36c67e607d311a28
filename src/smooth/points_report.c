/* The smoothing of many points for a reader: what `sgdscape smooth` prints
 * and its manifest (points.c computes and writes the rest). */
#include "sgdscape/io.h"
#include "sgdscape/smooth.h"

#include <stdio.h>

void sgd_smooth_points_print(FILE *o, const sgd_smooth_points_config *c, const sgd_smooth_points_result *r)
{
    size_t d = c->f->d;
    fprintf(o, "smoothed %s (d=%zu), %s noise, eta = %g, r = %g (level %g), method %s: %zu points in %.3g s\n",
            c->f->name, d, sgd_noise_name(c->W.kind), c->eta, c->W.scale, c->eta * c->W.scale,
            sgd_smooth_method_name(r->method), c->n, r->seconds);
    if (c->n <= 8)
        for (size_t j = 0; j < c->n; j++)
            fprintf(o, "  y%s = %.6g: g = %.10g +- %.3g\n", d > 1 ? "_1" : "", c->y[j * d], r->pt[j].g,
                    r->pt[j].g_err);
    if (c->compare)
        fprintf(o, "  vs closed form: max |diff| = %.3g, max |diff|/error = %.3g, %zu of %zu components within "
                   "their error\n",
                r->max_diff, r->max_ratio, r->covered, r->compared);
}

void sgd_smooth_points_manifest_json(struct sgd_json *man, const sgd_smooth_points_config *c, const char *landscape,
                                     const char *method)
{
    const sgd_smooth_params *sp = &c->sp;
    sgd_json_str(man, "command", "smooth");
    sgd_json_str(man, "landscape", landscape);
    sgd_json_str(man, "landscape_doc", c->f->doc);
    sgd_json_int(man, "d", (long long)c->f->d);
    sgd_json_str(man, "noise", sgd_noise_name(c->W.kind));
    sgd_json_num(man, "eta", c->eta);
    sgd_json_num(man, "r", c->W.scale);
    sgd_json_num(man, "noise_level", c->eta * c->W.scale);
    sgd_json_str(man, "method", method);
    sgd_json_int(man, "samples", (long long)sp->nsamples);
    sgd_json_num(man, "tol", sp->tol);
    sgd_json_num(man, "confidence", sp->confidence);
    sgd_json_str(man, "interval", sgd_smooth_interval_name(sp->interval));
    sgd_json_num(man, "range", sp->range);
    sgd_json_num(man, "grad_range", sp->grad_range);
    sgd_json_num(man, "gauss_sigmas", sp->gauss_sigmas);
    sgd_json_int(man, "seed", (long long)sp->seed);
}
