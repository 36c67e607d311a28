/* Monte Carlo chunks over MPI ranks (docs/mpi.md): the samples of one call
 * are split into the same fixed chunks as in one process; each rank computes
 * a contiguous slice of them, rank 0 folds every chunk into the totals in
 * chunk order (Chan's formulas, as mc_run_chunks), so the bits are those of
 * one process for any rank count, and broadcasts the totals. */
#include "smooth/smooth_internal.h"

#include "sgdscape/dist.h"
#include "sgdscape/error.h"

#include <stdlib.h>
#include <string.h>

_Thread_local int smooth_mc_split;

/* Which rank computes chunk k of K. */
static int owner(size_t k, size_t K)
{
    for (int r = 0;; r++) {
        size_t a, b;
        sgd_dist_slice_of(K, r, sgd_dist_size(), &a, &b);
        if (k < b) return r;
    }
}

int smooth_mc_run_chunks_dist(const mc_job *J, mc_acc *res, size_t *badp)
{
    const size_t n = J->n, d = J->d, K = smooth_mc_nchunks(n, d), nv = res->want_range ? 4 : 2;
    const size_t vlen = res->want_grad ? nv * d : 0; /* doubles of a chunk's vectors */
    size_t ka, kb;
    sgd_dist_slice(K, &ka, &kb);
    const size_t m = kb - ka;
    const int root = sgd_dist_rank() == 0;
    mc_chunk_rec *rec = malloc((root ? K : m) * sizeof *rec + 1);
    double *vec = vlen ? malloc((m ? m : 1) * vlen * sizeof(double)) : NULL, *in = NULL;
    if (root && vlen) in = malloc(vlen * sizeof(double));
    int rc = !rec || (vlen && (!vec || (root && !in))) ? sgd_error(SGD_ENOMEM, "Monte Carlo smoothing: out of memory") : 0;
    if (!rc) smooth_mc_chunks_local(J, K, ka, kb, rec, vec, nv);
    if ((rc = sgd_dist_agree(rc))) { /* the others are ready to send */
        free(rec);
        free(vec);
        free(in);
        return rc;
    }
    /* rank 0: every chunk in order, its own or received, folded until the first that failed */
    int status = SGD_OK;
    size_t bad = 0;
    if (root) {
        for (size_t k = 0; k < K; k++) {
            int r = owner(k, K);
            mc_chunk_rec q = r == 0 ? rec[k] : (mc_chunk_rec){0};
            const double *v = r == 0 && vlen ? vec + k * vlen : in;
            if (r != 0) {
                sgd_dist_recv(&q, sizeof q, r);
                if (vlen && !q.st) sgd_dist_recv(in, vlen * sizeof(double), r);
            }
            if (status) continue;
            if (q.st) {
                status = q.st;
                bad = q.where;
                continue;
            }
            mc_chunk c = {d, q.v, NULL, NULL, NULL, NULL};
            if (vlen) {
                c.mean = (double *)v;
                c.m2 = (double *)v + d;
                if (nv == 4) {
                    c.lo = (double *)v + 2 * d;
                    c.hi = (double *)v + 3 * d;
                }
            }
            smooth_chunk_merge(res, &c, J->want_val);
        }
    } else
        for (size_t k = ka; k < kb; k++) {
            sgd_dist_send(&rec[k - ka], sizeof rec[k - ka], 0);
            if (vlen && !rec[k - ka].st) sgd_dist_send(vec + (k - ka) * vlen, vlen * sizeof(double), 0);
        }
    /* the totals to every rank: the caller goes on from them everywhere (--tol's pilot sets n) */
    struct {
        int status;
        size_t bad;
        mc_stat g;
        double gn;
    } t = {status, bad, res->g, res->gn};
    sgd_dist_bcast(&t, sizeof t);
    *badp = t.bad;
    res->g = t.g;
    res->gn = t.gn;
    if (res->want_grad) {
        sgd_dist_bcast(res->gr.mean, d * sizeof(double));
        sgd_dist_bcast(res->gr.m2, d * sizeof(double));
        if (res->gr.lo) {
            sgd_dist_bcast(res->gr.lo, d * sizeof(double));
            sgd_dist_bcast(res->gr.hi, d * sizeof(double));
        }
    }
    free(rec);
    free(vec);
    free(in);
    return t.status;
}
