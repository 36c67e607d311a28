/* Landscape construction shared by every source (catalog, formula, plugin). */
#include "sgdscape/landscape.h"
#include "sgdscape/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void grad_batch_default(const sgd_landscape *f, size_t n, const double *x, double *grad)
{
    size_t d = f->d;
    for (size_t k = 0; k < n; k++) f->fg(f, x + k * d, grad + k * d);
}

static void value_batch_default(const sgd_landscape *f, size_t n, const double *x, double *fx)
{
    for (size_t k = 0; k < n; k++) fx[k] = f->fg(f, x + k * f->d, NULL);
}

static void fg_batch_default(const sgd_landscape *f, size_t n, const double *x, double *fx, double *grad)
{
    size_t d = f->d;
    for (size_t k = 0; k < n; k++) fx[k] = f->fg(f, x + k * d, grad + k * d);
}

void sgd_landscape_finish(sgd_landscape *f)
{
    if (!f->grad_batch) f->grad_batch = grad_batch_default;
    if (!f->value_batch) f->value_batch = value_batch_default;
    if (!f->fg_batch) f->fg_batch = fg_batch_default;
    if (!(f->hi > f->lo)) {
        f->lo = -5.0;
        f->hi = 5.0;
    }
}

void sgd_landscape_free(sgd_landscape *f)
{
    if (!f) return;
    if (f->destroy) f->destroy(f);
    free(f->x_star);
    free(f);
}

sgd_landscape *sgd_landscape_create(const char *spec, size_t d)
{
    if (!spec || !*spec) {
        sgd_error(SGD_EINVAL, "--f: empty landscape spec");
        return NULL;
    }
    if (d < 1 || d > (size_t)1 << 28) {
        sgd_error(SGD_EINVAL, "--d: dimension must be between 1 and 2^28 (got %zu)", d);
        return NULL;
    }
    if (!strncmp(spec, "formula:", 8)) return sgd_landscape_formula(spec + 8, d);
    if (!strncmp(spec, "plugin:", 7)) return sgd_landscape_plugin(spec + 7, d);
    /* A catalog name is an identifier, optionally followed by ':params'. */
    const char *colon = strchr(spec, ':');
    size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
    int ident = n > 0;
    for (size_t i = 0; i < n; i++)
        if (!(spec[i] == '-' || spec[i] == '_' || (spec[i] >= 'a' && spec[i] <= 'z') ||
              (spec[i] >= '0' && spec[i] <= '9')))
            ident = 0;
    if (ident) {
        char name[64];
        if (n >= sizeof name) n = sizeof name - 1;
        memcpy(name, spec, n);
        name[n] = '\0';
        for (const char *const *p = sgd_landscape_names(); *p; p++)
            if (!strcmp(*p, name)) return sgd_landscape_catalog(name, colon ? colon + 1 : NULL, d);
        if (!strchr(spec, 'x') || colon) {
            sgd_error(SGD_EINVAL, "--f: unknown landscape '%s' (see sgdscape list)", name);
            return NULL;
        }
    }
    /* Anything else that mentions x is taken as a formula. */
    if (strchr(spec, 'x')) return sgd_landscape_formula(spec, d);
    sgd_error(SGD_EINVAL, "--f: unknown landscape '%s' (see sgdscape list)", spec);
    return NULL;
}
