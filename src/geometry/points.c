/* f at many independent points (the alphas of a line, the nodes of a grid):
 * each rank evaluates its contiguous slice one point after the other with
 * the engine's threads, and rank 0 gathers the values in order, so the
 * bytes do not depend on the rank or thread count. */
#include "geometry/geometry_internal.h"
#include "sgdscape/dist.h"

#include <stdlib.h>

int geom_points(geom_ctx *g, size_t n, geom_point_fn at, void *at_ctx, int with_val, double *v,
                sgd_geom_progress_fn progress, void *ctx)
{
    size_t lo, hi;
    sgd_dist_slice(n, &lo, &hi);
    float *x = malloc(g->p * sizeof *x);
    int rc = x ? SGD_OK : sgd_error(SGD_ENOMEM, "out of memory");
    for (size_t i = lo; i < hi && !rc; i++) {
        at(at_ctx, i, x);
        rc = geom_eval(g, x, with_val, v + i * GEOM_NV);
        if (progress) progress(ctx, (double)(i - lo + 1), (double)(hi - lo));
    }
    free(x);
    if ((rc = sgd_dist_agree(rc))) return rc;
    if ((rc = sgd_dist_gather_inplace(v, n, GEOM_NV * sizeof *v, 0))) return rc;
    return sgd_dist_rank() == 0 ? SGD_OK : sgd_dist_hand_off();
}
