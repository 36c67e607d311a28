/* The sharpness of a local minimum beside Section 5: the top eigenvalue of
 * the Hessian of the probe's f (K batches of epoch 0's shuffle of the probe
 * set, BN batch statistics: the f of 5.1 and 5.3) at x, by Lanczos on exact
 * Hessian-vector products (hessian.h, hvp.h). The paper says later
 * restarts find better minima; this says whether they are also flatter. */
#include "probes/probe_internal.h"
#include "sgdscape/error.h"
#include "sgdscape/hessian.h"
#include "sgdscape/hvp.h"

#include <math.h>
#include <string.h>

typedef struct sharp_op {
    probe_plan *P;
    sgd_data_loader *L;
    const float *x;
} sharp_op;

static int apply(void *ctx, const double *v, double *hv)
{
    sharp_op *o = ctx;
    return sgd_net_loss_hvp(o->P->net, o->x, NULL, SGD_NN_TRAIN, o->L, 0, 0, o->P->batches, v, hv, NULL);
}

int probe_sharpness(probe_plan *P, const float *x, size_t steps, int bits, uint64_t seed, double *lambda,
                    double *resid)
{
    *lambda = *resid = NAN;
    sgd_data_loader L;
    int rc = sgd_net_set_hvp_precision(P->net, bits);
    if (rc || (rc = sgd_data_loader_init(&L, &P->tr, &P->lo))) return rc;
    sharp_op o = {P, &L, x};
    sgd_linop A = {P->p, apply, &o};
    sgd_hessian_config c;
    sgd_hessian_defaults(&c);
    c.op = &A;
    c.top = 1;
    c.lanczos_steps = steps < P->p ? steps : P->p;
    c.tol = 1e-6; /* six digits: enough to rank minima, and most runs stop early */
    c.seed = seed;
    sgd_hessian_result r;
    if (!(rc = sgd_hessian_run(&c, &r, NULL, NULL))) {
        *lambda = r.top[0];
        *resid = r.top_resid[0];
        sgd_hessian_result_free(&r);
    }
    sgd_data_loader_free(&L);
    return rc;
}
