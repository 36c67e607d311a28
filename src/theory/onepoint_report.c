/* A check of Assumption 1 for a reader: its table or its scan's, its
 * manifest, and the numbers a finished check gives the theorems (onepoint.c
 * and onepoint_scan.c compute and write the rest). */
#include "sgdscape/error.h"
#include "sgdscape/io.h"
#include "sgdscape/theory.h"

#include <math.h>
#include <stdio.h>

void sgd_onepoint_print(FILE *o, const sgd_onepoint_config *c, const sgd_onepoint_result *res)
{
    size_t d = res->d, m = res->n - res->nexcluded;
    const char *lsrc;
    double L = sgd_onepoint_L(c->f, res, &lsrc);
    char vt[512];
    sgd_onepoint_verdict(c, res, vt, sizeof vt);
    fprintf(o, "Assumption 1 for %s (d=%zu), %s noise, eta = %g, r = %g (level %g), %zu points, grad g: %s\n",
            c->f->name, d, sgd_noise_name(c->W.kind), c->eta, c->W.scale, c->eta * c->W.scale, m,
            sgd_smooth_method_name(res->method));
    fprintf(o, "  c estimate (min ratio) = %.6g, one-sided bound c >= %.6g (confidence %g)\n", res->c_hat,
            res->c_lower, c->confidence);
    fprintf(o, "  ratio <= 0 at %zu points (%.4g%%)\n", res->nfail, 100.0 * (double)res->nfail / (double)m);
    for (size_t j = 0, shown = 0; j < res->n && shown < 5; j++)
        if (res->ratio[j] <= 0) {
            fprintf(o, "    x = %.6g%s: ratio %.4g\n", res->x[j * d], d > 1 ? ",..." : "", res->ratio[j]);
            shown++;
        }
    fprintf(o, "  L = %.6g (%s); L_hess = %.6g, L_lower = %.6g; r = max||w|| = %.6g\n", L, lsrc, res->L_hess,
            res->L_lower, res->r);
    fprintf(o, "  verdict: %s\n", vt);
}

void sgd_onepoint_scan_print(FILE *o, const sgd_onepoint_scan_config *sc, const sgd_onepoint_scan_result *res)
{
    const char *what = sc->kind == SGD_SCAN_ETA ? "eta" : "level";
    fprintf(o, "%-12s %-10s %-10s %-12s %-12s %-8s %-11s %-12s %-10s\n", what, "eta", "r", "c_hat", "c_lower", "fail",
            "fail_rad", "eta r^2/c", "20b/lambda");
    for (size_t k = 0; k < res->n; k++) {
        const sgd_onepoint_scan_row *w = &res->row[k];
        fprintf(o, "%-12.5g %-10.4g %-10.4g %-12.5g %-12.5g %-8.4f %-11.4g %-12.4g %-10.4g\n", w->value, w->eta, w->r,
                w->c_hat, w->c_lower, w->fail_fraction, w->fail_radius, w->remark_scale, w->radius2);
    }
    if (isnan(res->holds_from)) fprintf(o, "Assumption 1 holds at none of the scanned values\n");
    else
        fprintf(o, "Assumption 1 holds (c_lower > 0, no failing point) for %s in [%g, %g] of the scanned values\n",
                what, res->holds_from, res->holds_to);
}

void sgd_onepoint_manifest_json(struct sgd_json *man, const sgd_onepoint_scan_config *sc, const char *landscape,
                                const char *method)
{
    const sgd_onepoint_config *c = &sc->check;
    size_t d = c->f->d;
    sgd_json_str(man, "command", "check");
    sgd_json_str(man, "landscape", landscape);
    sgd_json_str(man, "landscape_doc", c->f->doc);
    sgd_json_int(man, "d", (long long)d);
    sgd_json_nums(man, "x_star", c->x_star, d <= 1000 ? d : 1000);
    sgd_json_str(man, "noise", sgd_noise_name(c->W.kind));
    sgd_json_num(man, "eta", c->eta);
    sgd_json_num(man, "r", c->W.scale);
    sgd_json_str(man, "domain", c->D.kind == SGD_DOMAIN_BALL ? "ball" : c->D.kind == SGD_DOMAIN_GRID ? "grid" : "box");
    sgd_json_num(man, "domain_lo", c->D.lo);
    sgd_json_num(man, "domain_hi", c->D.hi);
    sgd_json_num(man, "domain_radius", c->D.kind == SGD_DOMAIN_BALL ? c->D.radius : NAN);
    sgd_json_int(man, "points", (long long)c->D.n);
    sgd_json_str(man, "method", method);
    sgd_json_int(man, "samples", (long long)c->sp.nsamples);
    sgd_json_num(man, "tol", c->sp.tol);
    sgd_json_str(man, "interval", sgd_smooth_interval_name(c->sp.interval));
    sgd_json_num(man, "confidence", c->confidence);
    sgd_json_int(man, "seed", (long long)c->seed);
    if (sc->n) sgd_json_nums(man, sc->kind == SGD_SCAN_ETA ? "scan_eta" : "scan_level", sc->values, sc->n);
}

int sgd_onepoint_summary_load(const char *dir, sgd_onepoint_summary *s)
{
    char path[4400];
    int n = snprintf(path, sizeof path, "%s/summary.json", dir);
    if (n < 0 || (size_t)n >= sizeof path) return sgd_error(SGD_EINVAL, "%s/summary.json: path too long", dir);
    sgd_json *j = sgd_json_load(path);
    if (!j) return SGD_EIO; /* the message is set */
    static const char *const key[] = {"eta", "r", "noise_radius", "L", "c_hat", "c_lower"};
    double *field[] = {&s->eta, &s->r, &s->noise_radius, &s->L, &s->c_hat, &s->c_lower};
    for (size_t k = 0; k < sizeof key / sizeof key[0]; k++) {
        double v;
        if (!sgd_json_get_num(j, key[k], &v)) *field[k] = v;
    }
    sgd_json_free(j);
    return SGD_OK;
}
