/* The shared work queue and the bitwise merge (include/sgdscape/dist.h).
 *
 * Why: a static slice per rank waits for the slowest core at the end, where
 * OpenMP's dynamic schedule lets a faster thread take more blocks; measured
 * on a 2-core machine, ranks' slices of Figure-3 trials finished 3-4% apart
 * and the split ran up to 8% behind two threads (docs/bench.md). Here the
 * ranks of one machine take items from one counter in MPI shared memory,
 * with C11 atomics and no MPI call per item; machines take contiguous
 * slices. An RMA counter on rank 0 (MPI_Fetch_and_op) was tried first and
 * was slower than the static split. */
#include "sgdscape/dist.h"
#include "sgdscape/error.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef SGD_HAVE_MPI
#include <mpi.h>
#endif

struct sgd_dist_queue {
    _Atomic uint64_t *next; /* the counter: shared on the machine, or `own` */
    _Atomic uint64_t own;
    uint64_t hi;            /* end of this machine's items */
#ifdef SGD_HAVE_MPI
    int shared;
    MPI_Win win;
    MPI_Comm node;
#endif
};

int sgd_dist_queue_open(size_t n, sgd_dist_queue **out)
{
    sgd_dist_queue *q = calloc(1, sizeof *q);
    /* every rank must reach the collectives below, so a failed calloc is
     * agreed on first (the same answer on every rank) */
    int rc = sgd_dist_agree(q ? SGD_OK : sgd_error(SGD_ENOMEM, "out of memory"));
    if (rc) {
        free(q);
        *out = NULL;
        return rc;
    }
    atomic_init(&q->own, 0);
    q->next = &q->own;
    q->hi = n;
#ifdef SGD_HAVE_MPI
    if (sgd_dist_size() > 1) {
        int nrank, mach = 0, nmach = 1;
        MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, sgd_dist_rank(), MPI_INFO_NULL, &q->node);
        MPI_Comm_rank(q->node, &nrank);
        /* the machines: number them by their first rank's place */
        MPI_Comm leaders;
        MPI_Comm_split(MPI_COMM_WORLD, nrank == 0 ? 0 : MPI_UNDEFINED, sgd_dist_rank(), &leaders);
        if (nrank == 0) {
            MPI_Comm_rank(leaders, &mach);
            MPI_Comm_size(leaders, &nmach);
            MPI_Comm_free(&leaders);
        }
        int mm[2] = {mach, nmach};
        MPI_Bcast(mm, 2, MPI_INT, 0, q->node);
        size_t lo, hi;
        sgd_dist_slice_of(n, mm[0], mm[1], &lo, &hi);
        void *base;
        MPI_Win_allocate_shared(nrank == 0 ? (MPI_Aint)sizeof(_Atomic uint64_t) : 0, 1, MPI_INFO_NULL, q->node,
                                &base, &q->win);
        MPI_Aint sz;
        int du;
        MPI_Win_shared_query(q->win, 0, &sz, &du, &base);
        q->next = base;
        if (nrank == 0) atomic_store(q->next, (uint64_t)lo);
        q->hi = hi;
        q->shared = 1;
        MPI_Barrier(q->node); /* the counter is set before anyone takes from it */
    }
#endif
    *out = q;
    return SGD_OK;
}

size_t sgd_dist_queue_next(sgd_dist_queue *q)
{
    uint64_t i = atomic_fetch_add_explicit(q->next, 1, memory_order_relaxed);
    return i < q->hi ? (size_t)i : SIZE_MAX;
}

void sgd_dist_queue_close(sgd_dist_queue *q)
{
    if (!q) return;
#ifdef SGD_HAVE_MPI
    if (q->shared) {
        MPI_Win_free(&q->win);
        MPI_Comm_free(&q->node);
    }
#endif
    free(q);
}

int sgd_dist_merge(void *full, size_t bytes, int to_all)
{
#ifdef SGD_HAVE_MPI
    if (sgd_dist_size() > 1) {
        const size_t piece = (size_t)1 << 30; /* MPI counts are ints */
        for (size_t o = 0; o < bytes; o += piece) {
            int cnt = (int)(bytes - o < piece ? bytes - o : piece);
            char *p = (char *)full + o;
            if (to_all) MPI_Allreduce(MPI_IN_PLACE, p, cnt, MPI_BYTE, MPI_BOR, MPI_COMM_WORLD);
            else if (sgd_dist_rank() == 0) MPI_Reduce(MPI_IN_PLACE, p, cnt, MPI_BYTE, MPI_BOR, 0, MPI_COMM_WORLD);
            else MPI_Reduce(p, NULL, cnt, MPI_BYTE, MPI_BOR, 0, MPI_COMM_WORLD);
        }
    }
#else
    (void)full, (void)bytes, (void)to_all;
#endif
    return SGD_OK;
}
