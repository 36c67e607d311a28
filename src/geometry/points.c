/* f at many independent points (the alphas of a line, the nodes of a grid),
 * in waves of one point per rank: each rank evaluates its point with the
 * engine's threads and rank 0 gathers the wave, so the bytes do not depend
 * on the rank or thread count. With a keep directory rank 0 keeps every
 * finished point there (KEEP/point_IIIIII.bin), and a resumed run computes
 * only the points missing from it. */
#include "geometry/geometry_internal.h"
#include "sgdscape/dist.h"
#include "sgdscape/io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char POINT_MAGIC[8] = "SGDGEO1";

static int point_path(const char *dir, size_t i, char *out, size_t n)
{
    int k = snprintf(out, n, "%s/point_%06zu.bin", dir, i);
    return k > 0 && (size_t)k < n ? SGD_OK : sgd_error(SGD_EINVAL, "%s: path too long", dir);
}

static int point_save(const char *dir, size_t i, const double *v)
{
    char path[4400];
    int rc = point_path(dir, i, path, sizeof path);
    return rc ? rc : sgd_keep_save(path, POINT_MAGIC, v, GEOM_NV, NULL, 0);
}

/* 1 when a whole point was kept (a damaged one is computed again) */
static int point_load(const char *dir, size_t i, double *v)
{
    char path[4400];
    if (point_path(dir, i, path, sizeof path)) {
        sgd_error_clear();
        return 0;
    }
    return sgd_keep_load(path, POINT_MAGIC, v, GEOM_NV, NULL, 0);
}

/* Rank 0: claim keep->dir for fp and read the points kept there into v. */
static int points_kept(const sgd_geom_keep *keep, const char *fp, const char *what, size_t n, double *v,
                       unsigned char *done, size_t *resumed)
{
    int rc = sgd_mkdirs(keep->dir);
    if (!rc) rc = sgd_rundir_claim(keep->dir, fp, what);
    for (size_t i = 0; i < n && !rc; i++)
        if ((done[i] = (unsigned char)point_load(keep->dir, i, v + i * GEOM_NV))) ++*resumed;
    return rc;
}

int geom_points(geom_ctx *g, const geom_points_spec *S, double *v, size_t *resumed, sgd_geom_progress_fn progress,
                void *ctx)
{
    size_t n = S->n, K = (size_t)sgd_dist_size(), npend = 0;
    const sgd_geom_keep *keep = S->keep;
    const char *dir = keep && keep->dir && sgd_dist_rank() == 0 ? keep->dir : NULL;
    float *x = malloc(g->p * sizeof *x);
    unsigned char *done = calloc(n + 1, 1);
    size_t *pend = malloc((n + 1) * sizeof *pend);
    double *wave = malloc(K * GEOM_NV * sizeof *wave);
    int rc = x && done && pend && wave ? SGD_OK : sgd_error(SGD_ENOMEM, "out of memory");
    *resumed = 0;
    if (!rc && dir) rc = points_kept(keep, S->fingerprint, S->what, n, v, done, resumed);
    /* every rank is here (one that failed above is found out now) */
    if ((rc = sgd_dist_agree(rc)) || (rc = sgd_dist_bcast(done, n))) goto out;
    for (size_t i = 0; i < n; i++)
        if (!done[i]) pend[npend++] = i;
    size_t finished = n - npend;
    for (size_t a = 0; a < npend; a += K) {
        size_t nw = npend - a < K ? npend - a : K, lo, hi;
        sgd_dist_slice(nw, &lo, &hi);
        /* rc: rank 0's failure to keep the last wave, agreed on here */
        if (!rc && keep && keep->stop && keep->stop(keep->stop_ctx)) rc = sgd_error(SGD_EINVAL, "interrupted");
        for (size_t w = lo; w < hi && !rc; w++) {
            S->at(S->at_ctx, pend[a + w], x);
            rc = geom_eval(g, x, S->with_val, wave + w * GEOM_NV);
        }
        if ((rc = sgd_dist_agree(rc)) || (rc = sgd_dist_gather(wave, wave + lo * GEOM_NV, nw, GEOM_NV * sizeof *wave, 0)))
            break;
        finished += nw;
        if (sgd_dist_rank() != 0) continue;
        for (size_t w = 0; w < nw && !rc; w++) {
            memcpy(v + pend[a + w] * GEOM_NV, wave + w * GEOM_NV, GEOM_NV * sizeof *v);
            if (dir) rc = point_save(dir, pend[a + w], wave + w * GEOM_NV);
        }
        if (progress) progress(ctx, (double)finished, (double)n);
    }
    if (!(rc = sgd_dist_agree(rc)) && sgd_dist_rank() != 0) rc = sgd_dist_hand_off();
out:
    free(x);
    free(done);
    free(pend);
    free(wave);
    return rc;
}
