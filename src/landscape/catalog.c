/* The built-in catalog: the table and its lookup, "key=value" parameters,
 * what every separable entry shares, and the entries that are not separable
 * (Ackley, Levy). The separable entries, each phi with its batched kernels,
 * are in catalog_sep.c. Most entries are separable, f(x) = sum_i phi(x_i),
 * which gives exact gradients, a diagonal Hessian, and exact convolutions:
 * for uniform noise of half-width s = eta*r on a coordinate,
 *     g(y) = (Phi(y+s) - Phi(y-s)) / (2s),   g'(y) = (phi(y+s) - phi(y-s)) / (2s)
 * with Phi an antiderivative of phi; for Gaussian noise each entry gives its
 * own closed form where one exists. */
#include "sgdscape/landscape.h"
#include "sgdscape/error.h"
#include "landscape/catalog_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- parameters "key=value,key=value" ---------------------------------- */
static int kv_parse(const char *name, const char *s, kvlist *out)
{
    out->n = 0;
    if (!s || !*s) return SGD_OK;
    const char *p = s;
    while (*p) {
        const char *eq = strchr(p, '=');
        const char *comma = strchr(p, ',');
        if (!comma) comma = p + strlen(p);
        if (!eq || eq > comma || eq == p || out->n >= 16 || (size_t)(eq - p) >= sizeof out->item[0].key)
            return sgd_error(SGD_EINVAL, "--f %s: malformed parameter list '%s' (want key=value,...)", name, s);
        kv *it = &out->item[out->n++];
        memcpy(it->key, p, (size_t)(eq - p));
        it->key[eq - p] = '\0';
        char num[64];
        size_t len = (size_t)(comma - eq - 1);
        if (len == 0 || len >= sizeof num)
            return sgd_error(SGD_EINVAL, "--f %s: parameter '%s' has no value", name, it->key);
        memcpy(num, eq + 1, len);
        num[len] = '\0';
        char *end;
        it->val = strtod(num, &end);
        if (*end || !isfinite(it->val))
            return sgd_error(SGD_EINVAL, "--f %s: parameter '%s': '%s' is not a finite number", name, it->key, num);
        it->used = 0;
        p = *comma ? comma + 1 : comma;
    }
    return SGD_OK;
}

double catalog_param(kvlist *l, const char *key, double def)
{
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->item[i].key, key)) {
            l->item[i].used = 1;
            return l->item[i].val;
        }
    return def;
}

static int kv_check_used(const char *name, const kvlist *l)
{
    for (int i = 0; i < l->n; i++)
        if (!l->item[i].used)
            return sgd_error(SGD_EINVAL, "--f %s: unknown parameter '%s'", name, l->item[i].key);
    return SGD_OK;
}

/* ---- separable landscapes: what every entry shares ------------------------ */
static double sep_fg(const sgd_landscape *f, const double *x, double *grad)
{
    const sep_params *sp = f->params;
    double s = sp->c0, d1, d2;
    for (size_t i = 0; i < f->d; i++) {
        s += sp->ops->phi(sp, i, x[i], &d1, &d2);
        if (grad) grad[i] = d1;
    }
    return s;
}

static int sep_hess(const sgd_landscape *f, const double *x, double *H)
{
    const sep_params *sp = f->params;
    size_t d = f->d;
    memset(H, 0, d * d * sizeof *H);
    double d1, d2;
    for (size_t i = 0; i < d; i++) {
        sp->ops->phi(sp, i, x[i], &d1, &d2);
        H[i * d + i] = d2;
    }
    return SGD_OK;
}

/* Uniform interval (d = 1, ball or cube) and cube (any d) have the
 * antiderivative form; the Gaussian uses the entry's closed form. */
int catalog_sep_smooth(const sgd_landscape *f, const sgd_noise *W, double eta,
                       const double *y, double *g, double *grad)
{
    const sep_params *sp = f->params;
    double s = eta * W->scale;
    size_t d = f->d;
    int uniform = W->kind == SGD_NOISE_CUBE || (W->kind == SGD_NOISE_BALL && d == 1);
    if (W->kind == SGD_NOISE_NONE || s == 0.0) {
        double v = f->fg(f, y, grad);
        if (g) *g = v;
        return SGD_OK;
    }
    if (uniform && sp->ops->Phi) {
        double tot = sp->c0, d1, d2;
        for (size_t i = 0; i < d; i++) {
            tot += (sp->ops->Phi(sp, i, y[i] + s) - sp->ops->Phi(sp, i, y[i] - s)) / (2 * s);
            if (grad)
                grad[i] = (sp->ops->phi(sp, i, y[i] + s, &d1, &d2) - sp->ops->phi(sp, i, y[i] - s, &d1, &d2)) /
                          (2 * s);
        }
        if (g) *g = tot;
        return SGD_OK;
    }
    if (W->kind == SGD_NOISE_GAUSS && sp->ops->gauss) {
        double tot = sp->c0, dg;
        for (size_t i = 0; i < d; i++) {
            tot += sp->ops->gauss(sp, i, y[i], s, &dg);
            if (grad) grad[i] = dg;
        }
        if (g) *g = tot;
        return SGD_OK;
    }
    return sgd_error(SGD_EUNSUPPORTED, "%s: no closed-form convolution with %s noise in d=%zu",
                     f->name, sgd_noise_name(W->kind), d);
}

static void sep_destroy(sgd_landscape *f)
{
    sep_params *sp = f->params;
    if (sp) free(sp->a);
    free(sp);
}

/* Largest |phi''| on [lo, hi] by dense sampling: the L of a separable f
 * (the Hessian is diagonal). Sampling is fine enough for the catalog's
 * frequencies (documented per entry). */
double catalog_L_scan(const sep_params *sp, double lo, double hi, size_t n)
{
    double L = 0, d1, d2;
    for (size_t k = 0; k <= n; k++) {
        double x = lo + (hi - lo) * (double)k / (double)n;
        sp->ops->phi(sp, 0, x, &d1, &d2);
        if (fabs(d2) > L) L = fabs(d2);
    }
    return L;
}

sgd_landscape *catalog_sep_new(const char *name, const char *doc, size_t d, const sep_ops *ops,
                               sep_params **out)
{
    sgd_landscape *f = calloc(1, sizeof *f);
    sep_params *sp = calloc(1, sizeof *sp);
    if (!f || !sp) {
        free(f);
        free(sp);
        sgd_error(SGD_ENOMEM, "out of memory");
        return NULL;
    }
    snprintf(f->name, sizeof f->name, "%s", name);
    snprintf(f->doc, sizeof f->doc, "%s", doc);
    f->d = d;
    f->fg = sep_fg;
    f->hess = sep_hess;
    f->smooth = catalog_sep_smooth;
    f->params = sp;
    f->destroy = sep_destroy;
    f->L = NAN;
    sp->ops = ops;
    *out = sp;
    return f;
}

static int set_xstar(sgd_landscape *f, double v)
{
    f->x_star = malloc(f->d * sizeof *f->x_star);
    if (!f->x_star) return sgd_error(SGD_ENOMEM, "out of memory");
    for (size_t i = 0; i < f->d; i++) f->x_star[i] = v;
    return SGD_OK;
}

/* The end of a maker: x* = (v, ..., v), or NULL (message set) when that
 * allocation fails. */
sgd_landscape *catalog_with_xstar(sgd_landscape *f, double v)
{
    if (set_xstar(f, v)) {
        sgd_landscape_free(f);
        return NULL;
    }
    return f;
}

/* Newton on phi' from x0: the entries' minimisers. */
double catalog_argmin(const sep_params *sp, double x0)
{
    double x = x0, d1, d2;
    for (int it = 0; it < 100; it++) {
        sp->ops->phi(sp, 0, x, &d1, &d2);
        if (d2 <= 0) break;
        double dx = d1 / d2;
        x -= dx;
        if (fabs(dx) < 1e-15 * (1 + fabs(x))) break;
    }
    return x;
}

/* ---- Ackley (not separable, not smooth at 0) -------------------------------- */
static double ackley_fg(const sgd_landscape *f, const double *x, double *grad)
{
    size_t d = f->d;
    const double a = 20, b = 0.2, w = 2 * PI;
    double s2 = 0, sc = 0;
    for (size_t i = 0; i < d; i++) {
        s2 += x[i] * x[i];
        sc += cos(w * x[i]);
    }
    double rms = sqrt(s2 / (double)d), e1 = exp(-b * rms), e2 = exp(sc / (double)d);
    if (grad) {
        for (size_t i = 0; i < d; i++) {
            /* d/dx_i of -a e^{-b rms}: a b e1 x_i / (d rms); at 0 take the subgradient 0. */
            double g1 = rms > 0 ? a * b * e1 * x[i] / ((double)d * rms) : 0.0;
            double g2 = e2 * w * sin(w * x[i]) / (double)d;
            grad[i] = g1 + g2;
        }
    }
    return -a * e1 - e2 + a + exp(1.0);
}

/* A non-separable entry: its own fg, a domain box, L and x* = (xs, ..., xs). */
static sgd_landscape *plain_new(const char *name, const char *doc, size_t d, sgd_fg_fn fg, double lo, double hi,
                                double L, double xs)
{
    sgd_landscape *f = calloc(1, sizeof *f);
    if (!f) {
        sgd_error(SGD_ENOMEM, "out of memory");
        return NULL;
    }
    snprintf(f->name, sizeof f->name, "%s", name);
    snprintf(f->doc, sizeof f->doc, "%s", doc);
    f->d = d;
    f->fg = fg;
    f->L = L;
    f->lo = lo;
    f->hi = hi;
    if (set_xstar(f, xs)) {
        free(f);
        return NULL;
    }
    return f;
}

static sgd_landscape *make_ackley(kvlist *kl, size_t d)
{
    (void)kl;
    return plain_new("ackley",
                     "f(x) = -20 exp(-0.2 sqrt(mean x_i^2)) - exp(mean cos(2 pi x_i)) + 20 + e; x* = 0; "
                     "domain [-5, 5]; not differentiable at 0 (L infinite)",
                     d, ackley_fg, -5, 5, INFINITY, 0.0);
}

/* ---- Levy ---------------------------------------------------------------- */
static double levy_fg(const sgd_landscape *f, const double *x, double *grad)
{
    size_t d = f->d;
    double s = 0;
    for (size_t i = 0; i < d; i++) {
        double w = 1 + (x[i] - 1) / 4, dw = 0.25, g = 0;
        if (i == 0) {
            double sn = sin(PI * w);
            s += sn * sn;
            g += 2 * sn * cos(PI * w) * PI;
        }
        if (i + 1 < d) {
            double sn = sin(PI * w + 1), t = 1 + 10 * sn * sn;
            s += (w - 1) * (w - 1) * t;
            g += 2 * (w - 1) * t + (w - 1) * (w - 1) * 20 * sn * cos(PI * w + 1) * PI;
        }
        if (i + 1 == d) {
            double sn = sin(2 * PI * w), t = 1 + sn * sn;
            s += (w - 1) * (w - 1) * t;
            g += 2 * (w - 1) * t + (w - 1) * (w - 1) * 2 * sn * cos(2 * PI * w) * 2 * PI;
        }
        if (grad) grad[i] = g * dw;
    }
    return s;
}

static sgd_landscape *make_levy(kvlist *kl, size_t d)
{
    (void)kl;
    return plain_new("levy",
                     "Levy: w = 1 + (x-1)/4, f = sin^2(pi w_1) + sum_{i<d} (w_i-1)^2 (1 + 10 sin^2(pi w_i + 1)) + "
                     "(w_d-1)^2 (1 + sin^2(2 pi w_d)); x* = 1; domain [-10, 10]",
                     d, levy_fg, -10, 10, NAN, 1.0);
}

/* ---- the table -------------------------------------------------------------- */
typedef sgd_landscape *(*maker_fn)(kvlist *, size_t);
static const struct entry { const char *name; maker_fn make; } entries[] = {
    {"spiky", catalog_spiky},           {"quadratic", catalog_quadratic}, {"rastrigin", catalog_rastrigin},
    {"ackley", make_ackley},         {"levy", make_levy},           {"styblinski-tang", catalog_styblinski},
    {"double-well", catalog_double_well}, {"sharp-flat", catalog_sharp_flat}};
#define NENTRIES (sizeof entries / sizeof entries[0])

const char *const *sgd_landscape_names(void)
{
    static const char *names[NENTRIES + 1];
    for (size_t i = 0; i < NENTRIES; i++) names[i] = entries[i].name;
    names[NENTRIES] = NULL;
    return names;
}

sgd_landscape *sgd_landscape_catalog(const char *name, const char *params, size_t d)
{
    for (size_t i = 0; i < NENTRIES; i++) {
        if (strcmp(name, entries[i].name)) continue;
        kvlist kl;
        if (kv_parse(name, params, &kl)) return NULL;
        sgd_landscape *f = entries[i].make(&kl, d);
        if (!f) return NULL;
        if (kv_check_used(name, &kl)) {
            sgd_landscape_free(f);
            return NULL;
        }
        sgd_landscape_finish(f);
        return f;
    }
    sgd_error(SGD_EINVAL, "--f: unknown landscape '%s' (see sgdscape list)", name);
    return NULL;
}

void sgd_landscape_list(FILE *fp)
{
    for (size_t i = 0; i < NENTRIES; i++) {
        sgd_landscape *f = entries[i].make(&(kvlist){.n = 0}, 1);
        if (!f) continue;
        sgd_landscape_finish(f);
        fprintf(fp, "%-16s %s\n", f->name, f->doc);
        fprintf(fp, "%-16s   domain [%g, %g]^d, x* = %s%.6g, L (d=1) = %.6g, closed-form smoothing: %s\n", "",
                f->lo, f->hi, f->x_star ? "" : "unknown ", f->x_star ? f->x_star[0] : NAN, f->L,
                f->smooth ? "yes" : "no");
        sgd_landscape_free(f);
    }
}
