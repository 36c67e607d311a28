/* The independent parts of a Hessian run kept for a resume: each Hutchinson
 * sample and each SLQ run, as it finishes, in KEEP/KIND_IIIIII.bin under
 * KEEP/config.txt; a resumed run reads them instead of computing them again
 * (the eigenvalue Lanczos, one iteration, starts over). */
#include "geometry/hessian_internal.h"
#include "sgdscape/io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char KEEP_MAGIC[8] = "SGDHES1";

/* FNV-1a of the point x of a landscape: config.txt names it without its d values. */
static unsigned long long fnv(const double *x, size_t d)
{
    unsigned long long h = 1469598103934665603ull;
    const unsigned char *b = (const unsigned char *)x;
    for (size_t i = 0; x && i < d * sizeof *x; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

int hess_keep_open(hess_keep *k, const sgd_hessian_config *c, const hess_op *o)
{
    k->resumed = 0;
    k->fx = NAN;
    if (!k->dir) return SGD_OK;
    char *fp = malloc(8192);
    if (!fp) return sgd_error(SGD_ENOMEM, "out of memory");
    snprintf(fp, 8192,
             "sgdscape hessian parts v1\nsource %s\nwhat %s\nhvp %s\nn %zu\n--at fnv1a:%016llx\n--buffers %s\n--bn %s\n"
             "--no-normalize %d\n--subset %zu\n--classes %d\n--batch %zu\n--batches %zu\n--fd %d\n--fd-step %.17g\n"
             "--top %zu\n--bottom %zu\n--lanczos-steps %zu\n--tol %.17g\n--vectors %d\n--trace %zu\n"
             "--confidence %.17g\n--density %zu\n--density-steps %zu\n--sigma %.17g\n--grid %zu\n--seed %llu\n",
             o->source, o->what, o->hvp, o->op.n, fnv(c->f ? c->x : NULL, o->op.n), c->buffers ? c->buffers : "-",
             c->bn_eval ? "eval" : "train", !c->normalize, c->subset, c->classes, c->batch, c->batches, c->fd, c->fd_h,
             c->top, c->bottom, c->lanczos_steps, c->tol, c->vectors, c->trace_samples, c->confidence,
             c->density_runs, c->density_steps, c->sigma, c->grid, (unsigned long long)c->seed);
    int rc = sgd_mkdirs(k->dir);
    if (!rc) rc = sgd_rundir_claim(k->dir, fp, "parts there come from a hessian");
    free(fp);
    return rc;
}

static int part_path(const hess_keep *k, const char *kind, size_t i, char *out, size_t n)
{
    int w = snprintf(out, n, "%s/%s_%06zu.bin", k->dir, kind, i);
    return w > 0 && (size_t)w < n ? SGD_OK : sgd_error(SGD_EINVAL, "%s: path too long", k->dir);
}

int hess_keep_load(hess_keep *k, const char *kind, size_t i, double *v, size_t nv, size_t *products)
{
    char path[4400];
    double tail[2]; /* f(x), the products it took */
    if (!k->dir || part_path(k, kind, i, path, sizeof path)) {
        sgd_error_clear(); /* not kept: computed again */
        return 0;
    }
    if (!sgd_keep_load(path, KEEP_MAGIC, v, nv, tail, 2)) return 0;
    k->fx = tail[0];
    *products = (size_t)tail[1];
    k->resumed++;
    return 1;
}

int hess_keep_save(const hess_keep *k, const char *kind, size_t i, const double *v, size_t nv, double fx,
                   size_t products)
{
    if (!k->dir) return SGD_OK;
    char path[4400];
    double tail[2] = {fx, (double)products};
    int rc = part_path(k, kind, i, path, sizeof path);
    return rc ? rc : sgd_keep_save(path, KEEP_MAGIC, v, nv, tail, 2);
}
