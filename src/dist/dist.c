/* Ranks, slices, gathers and the agreement on failure (include/sgdscape/dist.h).
 * Built with MPI when SGD_HAVE_MPI is defined (CMake's SGD_MPI); without it,
 * or when the process was not started by a launcher, one rank and no MPI. */
#include "sgdscape/dist.h"
#include "sgdscape/error.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef SGD_HAVE_MPI
#include <mpi.h>
#endif

static int g_rank = 0, g_size = 1; /* the job */
static int g_handed;               /* this rank's results went to rank 0 */
static int g_local;                /* depth of sgd_dist_local(1): a job of one rank */

int sgd_dist_rank(void) { return g_local ? 0 : g_rank; }
int sgd_dist_size(void) { return g_local ? 1 : g_size; }

void sgd_dist_local(int on) { g_local += on ? 1 : (g_local > 0 ? -1 : 0); }

int sgd_dist_mpi_built(void)
{
#ifdef SGD_HAVE_MPI
    return 1;
#else
    return 0;
#endif
}

void sgd_dist_slice_of(size_t n, int rank, int size, size_t *lo, size_t *hi)
{
    /* n k / K without overflow for any n below 2^64 / K: split n = q K + m */
    size_t K = (size_t)(size > 0 ? size : 1), k = (size_t)rank, q = n / K, m = n % K;
    *lo = q * k + m * k / K;
    *hi = q * (k + 1) + m * (k + 1) / K;
}

void sgd_dist_slice(size_t n, size_t *lo, size_t *hi) { sgd_dist_slice_of(n, sgd_dist_rank(), sgd_dist_size(), lo, hi); }

void sgd_dist_hold(const char *msg) { sgd_error(SGD_EINVAL, "%s", msg); }

int sgd_dist_handed_off(void) { return g_handed; }

int sgd_dist_hand_off(void)
{
    if (sgd_dist_rank() == 0) return SGD_OK;
    g_handed = 1;
    return sgd_error(SGD_DIST_ELSEWHERE, "the results of rank %d went to rank 0", g_rank);
}

/* A launcher's environment: Open MPI's mpirun, PMI-2 (srun --mpi=pmi2, MPICH's
 * hydra) and PMIx (srun --mpi=pmix). A value of 0 if none. */
static long launcher_size(void)
{
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) return atol(v);
    }
    return getenv("PMIX_RANK") ? -1 : 0; /* PMIx without a size variable: the launcher knows */
}

#ifndef SGD_HAVE_MPI

int sgd_dist_init(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    long k = launcher_size();
    const char *rank = getenv("OMPI_COMM_WORLD_RANK") ? getenv("OMPI_COMM_WORLD_RANK") : getenv("PMI_RANK");
    if (k > 1 && rank) g_rank = atoi(rank); /* so that rank 0 alone says it */
    if (k > 1)
        return sgd_error(SGD_EUNSUPPORTED,
                         "this sgdscape was built without MPI (cmake -DSGD_MPI=OFF, or no MPI found) but was "
                         "started as %ld ranks: every rank would run the whole command into the same directory; "
                         "rebuild with MPI (libopenmpi-dev) or run it without mpirun/srun",
                         k);
    return SGD_OK;
}
void sgd_dist_finalize(void) {}
int sgd_dist_agree(int status) { return status; }
int sgd_dist_gather(void *full, const void *mine, size_t n, size_t item, int to_all)
{
    (void)to_all;
    if (full && mine && full != mine && n) memmove(full, mine, n * item);
    return SGD_OK;
}
int sgd_dist_bcast(void *buf, size_t n)
{
    (void)buf;
    (void)n;
    return SGD_OK;
}
int sgd_dist_send(const void *buf, size_t n, int to)
{
    (void)buf;
    (void)n;
    (void)to;
    return sgd_error(SGD_EUNSUPPORTED, "sgd_dist_send: one rank");
}
int sgd_dist_recv(void *buf, size_t n, int from)
{
    (void)buf;
    (void)n;
    (void)from;
    return sgd_error(SGD_EUNSUPPORTED, "sgd_dist_recv: one rank");
}
int sgd_dist_max(double *v, size_t n)
{
    (void)v;
    (void)n;
    return SGD_OK;
}
int sgd_dist_share_chunks(void *full, size_t nch, size_t chunk, size_t total)
{
    (void)full, (void)nch, (void)chunk, (void)total;
    return SGD_OK;
}
int sgd_dist_finish(int status, const char *prefix)
{
    (void)prefix;
    return status;
}

#else /* SGD_HAVE_MPI */

static int g_started; /* MPI_Init_thread was called */
static int g_seq;     /* agreements so far: ranks in step agree on the same one */

int sgd_dist_init(int *argc, char ***argv)
{
    if (g_started || launcher_size() == 0) return SGD_OK;
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return sgd_error(SGD_EUNSUPPORTED, "MPI_Init_thread failed");
    g_started = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    return SGD_OK;
}

void sgd_dist_finalize(void)
{
    if (!g_started) return;
    g_started = 0;
    MPI_Finalize();
}

/* Wait for a nonblocking collective without spinning: a rank that finished
 * its slice early leaves the cores to the threads of the others (and rank 0
 * writing the run directory). Sleeps grow from 20 us to 2 ms. */
static void wait_idle(MPI_Request *rq)
{
    long ns = 20000;
    for (;;) {
        int done = 0;
        MPI_Test(rq, &done, MPI_STATUS_IGNORE);
        if (done) return;
        struct timespec ts = {0, ns};
        nanosleep(&ts, NULL);
        if (ns < 2000000) ns *= 2;
    }
}

#define TAG_FINAL 0x40000000 /* sgd_dist_finish's rounds; phases count up from 1 */

typedef struct {
    int code;
    char msg[1024];
} dist_msg;

/* One round of agreement: every rank's tag (where it is) and whether it
 * failed; out: the highest and lowest tag, the lowest failing rank (g_size
 * if none) and, if there is one, its code and message. */
static void agree_round(int tag, int failed, int code, int *tmax, int *tmin, int *fail, dist_msg *m)
{
    int in[3] = {tag, -tag, -(failed ? g_rank : g_size)}, out[3];
    MPI_Request rq;
    MPI_Iallreduce(in, out, 3, MPI_INT, MPI_MAX, MPI_COMM_WORLD, &rq);
    wait_idle(&rq);
    *tmax = out[0];
    *tmin = -out[1];
    *fail = -out[2];
    memset(m, 0, sizeof *m);
    if (*fail < g_size) {
        if (g_rank == *fail) {
            m->code = code;
            snprintf(m->msg, sizeof m->msg, "%s", sgd_errmsg()[0] ? sgd_errmsg() : "failed");
        }
        MPI_Bcast(m, (int)sizeof *m, MPI_BYTE, *fail, MPI_COMM_WORLD);
    }
}

int sgd_dist_agree(int status)
{
    if (sgd_dist_size() == 1) return status;
    int tmax, tmin, fail;
    dist_msg m;
    agree_round(++g_seq, status != SGD_OK, status, &tmax, &tmin, &fail, &m);
    if (tmax != tmin) {
        /* some rank is elsewhere: it left the command on a failure only it saw */
        if (fail < g_size) return sgd_error(SGD_EINVAL, "rank %d: %s", fail, m.msg);
        fprintf(stderr, "sgdscape: rank %d: ranks out of step (agreement %d vs %d..%d); aborting\n", g_rank, g_seq,
                tmin, tmax);
        MPI_Abort(MPI_COMM_WORLD, 3);
    }
    if (fail < g_size) return sgd_error(m.code ? m.code : SGD_EINVAL, "%s", m.msg);
    return SGD_OK;
}

int sgd_dist_finish(int status, const char *prefix)
{
    if (!g_started) return status;
    if (g_handed) status = 0;
    int tmax, tmin, fail;
    dist_msg m;
    /* Ranks still in a phase fail there on meeting this round and come here:
     * go round until every rank is here. */
    do agree_round(TAG_FINAL, status != 0, status, &tmax, &tmin, &fail, &m);
    while (tmax != tmin);
    int out = fail < g_size ? (m.code ? m.code : 1) : 0;
    if (g_rank == 0 && status == 0 && fail < g_size)
        fprintf(stderr, "%s: rank %d: %s\n", prefix, fail, m.msg);
    sgd_dist_finalize();
    return out;
}

#define PIECE ((size_t)1 << 30) /* MPI counts are ints: send in pieces of 1 GiB */

static void send_bytes(const void *p, size_t n, int to)
{
    for (size_t o = 0; o < n; o += PIECE)
        MPI_Send((const char *)p + o, (int)(n - o < PIECE ? n - o : PIECE), MPI_BYTE, to, 7, MPI_COMM_WORLD);
}

static void recv_bytes(void *p, size_t n, int from)
{
    for (size_t o = 0; o < n; o += PIECE)
        MPI_Recv((char *)p + o, (int)(n - o < PIECE ? n - o : PIECE), MPI_BYTE, from, 7, MPI_COMM_WORLD,
                 MPI_STATUS_IGNORE);
}

int sgd_dist_send(const void *buf, size_t n, int to)
{
    send_bytes(buf, n, to);
    return SGD_OK;
}

int sgd_dist_recv(void *buf, size_t n, int from)
{
    recv_bytes(buf, n, from);
    return SGD_OK;
}

int sgd_dist_bcast(void *buf, size_t n)
{
    if (sgd_dist_size() == 1) return SGD_OK;
    for (size_t o = 0; o < n; o += PIECE)
        MPI_Bcast((char *)buf + o, (int)(n - o < PIECE ? n - o : PIECE), MPI_BYTE, 0, MPI_COMM_WORLD);
    return SGD_OK;
}

int sgd_dist_gather(void *full, const void *mine, size_t n, size_t item, int to_all)
{
    if (sgd_dist_size() == 1) {
        if (full && mine && full != mine && n) memmove(full, mine, n * item);
        return SGD_OK;
    }
    size_t lo, hi;
    sgd_dist_slice(n, &lo, &hi);
    if (g_rank == 0) {
        for (int r = 0; r < g_size; r++) {
            size_t a, b;
            sgd_dist_slice_of(n, r, g_size, &a, &b);
            char *dst = (char *)full + a * item;
            if (r == 0) {
                if (b > a && dst != (const char *)mine) memmove(dst, mine, (b - a) * item);
            } else if (b > a)
                recv_bytes(dst, (b - a) * item, r);
        }
    } else if (hi > lo)
        send_bytes(mine, (hi - lo) * item, 0);
    if (to_all) sgd_dist_bcast(full, n * item);
    return SGD_OK;
}

int sgd_dist_max(double *v, size_t n)
{
    if (sgd_dist_size() == 1) return SGD_OK;
    /* every rank's values in rank order, folded with fmax's rules (NaN loses) */
    double *all = malloc((size_t)g_size * n * sizeof(double));
    if (!all) return sgd_error(SGD_ENOMEM, "out of memory");
    MPI_Allgather(v, (int)n, MPI_DOUBLE, all, (int)n, MPI_DOUBLE, MPI_COMM_WORLD);
    for (size_t i = 0; i < n; i++) {
        v[i] = all[i];
        for (int r = 1; r < g_size; r++) v[i] = fmax(v[i], all[(size_t)r * n + i]);
    }
    free(all);
    return SGD_OK;
}

/* Byte range [*a, *b) of rank r's chunks. */
static void chunk_bytes(size_t nch, size_t chunk, size_t total, int r, size_t *a, size_t *b)
{
    sgd_dist_slice_of(nch, r, g_size, a, b);
    *a = *a * chunk < total ? *a * chunk : total;
    *b = *b * chunk < total ? *b * chunk : total;
}

int sgd_dist_share_chunks(void *full, size_t nch, size_t chunk, size_t total)
{
    if (sgd_dist_size() == 1 || nch == 0) return SGD_OK;
    if (total <= (size_t)INT32_MAX) {
        int *cnt = malloc(2 * sizeof(int) * (size_t)g_size);
        if (cnt) {
            int *dsp = cnt + g_size;
            for (int r = 0; r < g_size; r++) {
                size_t a, b;
                chunk_bytes(nch, chunk, total, r, &a, &b);
                dsp[r] = (int)a;
                cnt[r] = (int)(b - a);
            }
            MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, full, cnt, dsp, MPI_BYTE, MPI_COMM_WORLD);
            free(cnt);
            return SGD_OK;
        }
    }
    /* above 2 GiB (or no memory for the counts): each rank's bytes broadcast in pieces */
    for (int r = 0; r < g_size; r++) {
        size_t a, b;
        chunk_bytes(nch, chunk, total, r, &a, &b);
        for (size_t o = a; o < b; o += PIECE)
            MPI_Bcast((char *)full + o, (int)(b - o < PIECE ? b - o : PIECE), MPI_BYTE, r, MPI_COMM_WORLD);
    }
    return SGD_OK;
}

#endif /* SGD_HAVE_MPI */

int sgd_dist_gather_inplace(void *full, size_t n, size_t item, int to_all)
{
    size_t lo, hi;
    sgd_dist_slice(n, &lo, &hi);
    return sgd_dist_gather(full, (char *)full + lo * item, n, item, to_all);
}
