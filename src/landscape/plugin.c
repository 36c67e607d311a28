/* Plugin landscapes: a shared object exporting sgd_plugin_fg (and optional
 * extras, see sgdscape/plugin.h), loaded with dlopen. The plugin owns its
 * gradient; we only adapt the calling convention and carry its metadata
 * (name, x*, L, domain) into the landscape. */
#include "sgdscape/landscape.h"
#include "sgdscape/error.h"
#include "sgdscape/plugin.h"

#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    void *handle;
    sgd_plugin_fg_fn fg;
    sgd_plugin_fini_fn fini;
    void *state; /* from sgd_plugin_init, passed back to every fg call */
} plugin_params;

static double plugin_fg(const sgd_landscape *f, const double *x, double *grad)
{
    const plugin_params *p = f->params;
    return p->fg(x, grad, f->d, p->state);
}

static void plugin_destroy(sgd_landscape *f)
{
    plugin_params *p = f->params;
    if (!p) return;
    if (p->fini) p->fini(p->state);
    if (p->handle) dlclose(p->handle);
    free(p);
    f->params = NULL;
}

/* dlsym returns an object pointer; POSIX guarantees it converts to a
 * function pointer, which ISO C alone does not. */
#define PLUGIN_SYM(h, T, name) ((T)dlsym((h), (name)))

/* "dir/myf.so" -> "myf": the display name when the plugin gives none. */
static void name_from_path(char *dst, size_t n, const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t len = strlen(base);
    const char *dot = strrchr(base, '.');
    if (dot && dot != base) len = (size_t)(dot - base);
    if (len >= n) len = n - 1;
    memcpy(dst, base, len);
    dst[len] = '\0';
}

sgd_landscape *sgd_landscape_plugin(const char *path, size_t d)
{
    if (!path || !*path) {
        sgd_error(SGD_EINVAL, "plugin: no path given (use plugin:./myf.so)");
        return NULL;
    }
    if (d < 1) {
        sgd_error(SGD_EINVAL, "plugin %s: dimension must be at least 1", path);
        return NULL;
    }
    /* dlopen searches the library path for a bare name; a user who writes
     * plugin:myf.so means the file in the current directory. */
    char local[4096];
    const char *open_path = path;
    if (!strchr(path, '/')) {
        if (snprintf(local, sizeof local, "./%s", path) >= (int)sizeof local) {
            sgd_error(SGD_EINVAL, "plugin %s: path too long", path);
            return NULL;
        }
        open_path = local;
    }

    dlerror();
    void *h = dlopen(open_path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        sgd_error(SGD_EPLUGIN, "plugin %s: cannot load: %s", path, why ? why : "unknown reason");
        return NULL;
    }

    sgd_landscape *f = calloc(1, sizeof *f);
    plugin_params *p = calloc(1, sizeof *p);
    if (!f || !p) {
        free(f);
        free(p);
        dlclose(h);
        sgd_error(SGD_ENOMEM, "plugin %s: out of memory", path);
        return NULL;
    }
    p->handle = h;
    f->params = p;
    f->destroy = plugin_destroy;
    f->d = d;
    f->L = NAN;

    p->fg = PLUGIN_SYM(h, sgd_plugin_fg_fn, "sgd_plugin_fg");
    if (!p->fg) {
        sgd_error(SGD_EPLUGIN, "plugin %s: missing symbol 'sgd_plugin_fg'", path);
        goto fail;
    }

    sgd_plugin_dim_fn dim = PLUGIN_SYM(h, sgd_plugin_dim_fn, "sgd_plugin_dim");
    if (dim) {
        int pd = dim();
        if (pd < 0 || (pd > 0 && (size_t)pd != d)) {
            sgd_error(SGD_EINVAL, "plugin %s: its dimension is %d (sgd_plugin_dim) but d=%zu was asked",
                      path, pd, d);
            goto fail;
        }
    }

    sgd_plugin_name_fn name = PLUGIN_SYM(h, sgd_plugin_name_fn, "sgd_plugin_name");
    const char *nm = name ? name() : NULL;
    if (nm && *nm) snprintf(f->name, sizeof f->name, "%s", nm);
    else name_from_path(f->name, sizeof f->name, path);
    snprintf(f->doc, sizeof f->doc, "plugin %s", path);

    sgd_plugin_init_fn init = PLUGIN_SYM(h, sgd_plugin_init_fn, "sgd_plugin_init");
    if (init) {
        /* A plugin that exports init needs its state: NULL means it failed. */
        p->state = init(d);
        if (!p->state) {
            sgd_error(SGD_EPLUGIN, "plugin %s: sgd_plugin_init(%zu) returned NULL", path, d);
            goto fail;
        }
        p->fini = PLUGIN_SYM(h, sgd_plugin_fini_fn, "sgd_plugin_fini");
    }

    sgd_plugin_xstar_fn xstar = PLUGIN_SYM(h, sgd_plugin_xstar_fn, "sgd_plugin_xstar");
    if (xstar) {
        f->x_star = malloc(d * sizeof *f->x_star);
        if (!f->x_star) {
            sgd_error(SGD_ENOMEM, "plugin %s: out of memory", path);
            goto fail;
        }
        /* Nonzero: the plugin does not know x* for this d. */
        if (xstar(f->x_star, d) != 0) {
            free(f->x_star);
            f->x_star = NULL;
        }
    }

    sgd_plugin_L_fn Lfn = PLUGIN_SYM(h, sgd_plugin_L_fn, "sgd_plugin_L");
    if (Lfn) {
        double L = Lfn(d);
        f->L = L > 0 && isfinite(L) ? L : NAN;
    }

    sgd_plugin_domain_fn dom = PLUGIN_SYM(h, sgd_plugin_domain_fn, "sgd_plugin_domain");
    if (dom) {
        double lo = NAN, hi = NAN;
        dom(&lo, &hi);
        if (!(isfinite(lo) && isfinite(hi) && hi > lo)) {
            sgd_error(SGD_EPLUGIN, "plugin %s: sgd_plugin_domain gave [%g, %g], not an interval",
                      path, lo, hi);
            goto fail;
        }
        f->lo = lo;
        f->hi = hi;
    }

    f->fg = plugin_fg;
    sgd_landscape_finish(f);
    return f;

fail:
    sgd_landscape_free(f);
    return NULL;
}
