/* Private structures of the network engine.
 *
 * A network is a list of ops executed in order (a tape); backward walks it
 * in reverse. Activations live in storage blocks (one per op output, or one
 * shared block for a DenseNet dense block, whose layer outputs are channel
 * slices of it: concatenation costs nothing). A tensor is a view: block,
 * channel offset, c x h x w per sample; sample n of a view starts at
 * block.data + n * block.per_sample + offset, so a view is contiguous per
 * sample and only the batch stride differs from a plain tensor.
 *
 * The layer kernels are reached through a table (sgd_nn_ops, nn_cpu_ops);
 * the oneDNN convolutions (dnnl.c) are called by the executor (net_exec.c)
 * directly, before the
 * table's im2col kernels, because they need the op's cached primitives. */
#ifndef SGD_NN_INTERNAL_H
#define SGD_NN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "sgdscape/nn.h"

/* A pointer to one activation tensor for a batch. */
typedef struct nn_view {
    float *d;        /* sample 0 */
    size_t ns;       /* floats between samples */
    int c, h, w;
    int overwrite;   /* gradient views only: 1 = the backward kernel that gets
                      * this as its input gradient stores into it instead of
                      * adding (it is the tensor's first gradient writer and
                      * the contents are stale; saves zeroing it first) */
} nn_view;

/* Sample n of a view. */
static inline float *nn_smp(const nn_view *v, size_t n) { return v->d + n * v->ns; }

enum {
    OP_CONV = 1,
    OP_BN,
    OP_RELU,
    OP_AVGPOOL,   /* 2x2, stride 2 */
    OP_GAP,       /* global average pool -> c x 1 x 1 */
    OP_LINEAR,
    OP_ADD,       /* out = in + in2 (residual) */
    OP_PADSHORT   /* option-A shortcut: subsample by stride, zero-pad channels */
};

typedef struct nn_op {
    int type;
    int in, in2, out;        /* tensor ids */
    int k, stride, pad;      /* conv (k x k), padshort (stride, pad channels each side) */
    int relu;                /* BN, ADD: fused ReLU on the output (saves a tensor) */
    size_t w, b;             /* param offsets: conv/linear weight, linear bias;
                              * BN weight (w) and bias (b) */
    size_t rm, rv;           /* BN buffer offsets */
    int over_in, over_in2;   /* backward writes in's (in2's) gradient
                              * first: overwrite instead of add (net_plan.c's
                              * plan_grads, net_exec.c's stores_grad) */
    double *mean, *invstd;   /* BN statistics saved by forward (per channel) */
    double *part;            /* BN per-sample partials (3 per sample and
                              * channel, batch capacity) */
    float *coef;             /* BN backward dx coefficients (3 per channel),
                              * one copy per thread */
    double *tstat;           /* BN mean, invstd copies of threads 1.. */
    int small;               /* conv: the backend's small-channel kernels take it (set once, plan) */
    size_t slot;             /* direct conv: offset of its dW chunk slots in
                              * net->dwslot (nch + threads slots of the
                              * weight's size) */
    char name[80];           /* module name for describe */
} nn_op;

typedef struct nn_block {
    size_t per_sample;       /* floats per sample */
    float *data, *grad;      /* per_sample * cap */
} nn_block;

typedef struct nn_tensor {
    int block;
    size_t off;              /* floats from the sample start */
    int c, h, w;
    int remat;               /* 0, or 1 + index of the BN op that produced it:
                              * the tensor is not kept after its consumer ran
                              * (it lives in a block shared by all such
                              * tensors) and backward recomputes it */
} nn_tensor;

/* Param/buffer tensors with init rule. */
enum { INIT_HE = 1, INIT_UNIFORM_FANIN, INIT_ONE, INIT_ZERO };
typedef struct nn_ptensor {
    sgd_net_tensor t;
    int init;
    size_t fan_in;
} nn_ptensor;

/* A step of the chunked executor: what to do (net_exec.c's S_ codes) for op. */
typedef struct nn_step {
    int what;
    size_t op;
} nn_step;

struct sgd_net {
    char spec[256];
    int in_c, in_h, in_w, classes;
    size_t p, nbuf;
    nn_ptensor *pt;  size_t npt, cap_pt;
    size_t *listing;          /* listing index (params, then buffers) -> pt index */
    nn_op *ops;      size_t nops, cap_ops;
    nn_tensor *ts;   size_t nts, cap_ts;
    nn_block *blocks; size_t nblocks, cap_blocks;
    int input, logits;        /* tensor ids */
    size_t cap;               /* batch capacity of the allocated blocks */
    /* scratch */
    float **scratch; int nscratch;     /* per thread; also the threads the BN
                                        * coef and tstat copies are for */
    float *wpart; size_t wpart_len;    /* conv dW chunk partials */
    float *dwslot; size_t dwslot_len;  /* direct conv dW per chunk (net_exec.c) */
    nn_step *steps;          /* 3 nops + 1, the executor's; NULL until net_plan.c's
                              * plan (op->small, over_in, gclear) has run */
    int oom;                 /* a parameter tensor could not be added while building */
    float *gradp;             /* sgd_net_run's grad, for the backward ops */
    unsigned char *gclear;    /* per block: zero its gradient before backward
                               * (NULL: none) */
    void *dnnl;               /* oneDNN state (dnnl.c), NULL until used */
    struct nn_hvp_state *hvp; /* Hessian-vector executor's storage (hvp.c), NULL until used */
    int hvp_bits;             /* its precision: 64 (0: unset) or 32 (sgd_net_set_hvp_precision) */
    /* data-parallel runs over the MPI ranks (net_split.c) */
    int split;                /* set by train (sgd_train_config.split) */
    int spl;                  /* the current run is split: split and more than one rank */
    size_t c0, c1;            /* this rank's chunks of the current run (all when not split) */
    unsigned char *full;      /* split runs, per block b: [2b] its data, [2b + 1] its
                               * gradient holds every sample on this rank */
};

/* Builder (models.c). */
int nn_new_block(sgd_net *net, size_t per_sample);
int nn_new_tensor(sgd_net *net, int c, int h, int w);
int nn_view_tensor(sgd_net *net, int block, size_t choff, int c, int h, int w);
/* The offset of a new parameter (buffer) tensor in x (the buffers); on
 * allocation failure 0, and net->oom is set. */
size_t nn_add_param(sgd_net *net, const char *name, int ndim, const size_t *shape,
                    int init, size_t fan_in);
size_t nn_add_buffer(sgd_net *net, const char *name, size_t c);

/* Allocate everything a run of n samples needs (net_plan.c's ensure), so a
 * caller can fail on memory before it writes anything. */
int nn_reserve(sgd_net *net, size_t n);
/* Free the per-thread convolution scratch (net_plan.c; sgd_net_free). */
void nn_free_scratch(sgd_net *net);
/* SGD_EDIVERGED for a non-finite loss or gradient after the last run of n
 * samples at weights x: "loss is NaN at WHERE (cause)TAIL". One message for
 * train and the probes. */
/* Builds net->listing once the network is complete (sgd_net_tensor_info is then O(1)). */
int nn_index_tensors(sgd_net *net);
/* train.dat, train.gp and (with gnuplot) train.png/.svg in dir from train.csv's text */
int nn_train_figure(const char *dir, const char *csv);
int nn_nonfinite(const sgd_net *net, const float *x, size_t n, double loss, const char *where, const char *tail);

/* Data-parallel runs (net_split.c; docs/mpi.md). Rank k computes chunks
 * [c0, c1) of every chunked run; the BN partials and direct-conv weight
 * gradients of all chunks are shared (allgather) before their chunk-order
 * sums. A library convolution (oneDNN, im2col) runs on the rank's samples
 * with its dW chunk partials shared the same way; the linear layer and the
 * loss run on the whole batch on every rank once the tensors they read are
 * shared.
 * nn_split_begin sets c0, c1 (and spl) for a run of n samples; the others
 * do nothing when the run is not split. MPI from the calling thread only. */
int nn_split_begin(sgd_net *net, size_t n);
/* This rank's samples [*s0, *s1) of a run of n (its chunks'). */
void nn_split_samples(const sgd_net *net, size_t n, size_t *s0, size_t *s1);
/* Share rows of row_bytes per sample (chunk slices) of n samples at base. */
void nn_split_rows(const sgd_net *net, void *base, size_t row_bytes, size_t n);
/* Make tensor t's data (grad = 0) or gradient (grad = 1) block whole on
 * this rank (shared unless it already is). */
void nn_split_need(sgd_net *net, int t, int grad, size_t n);
/* Record a write to tensor t's data or gradient: on this rank's chunks
 * (whole = 0: the block is partial now), or on every sample of the tensor
 * stored (whole = 1: the block is whole if the tensor covers it). */
void nn_split_wrote(sgd_net *net, int t, int grad, int whole);

/* Views of tensor id t for the current batch. */
nn_view nn_data(const sgd_net *net, int t);
nn_view nn_grad(const sgd_net *net, int t);

/* CPU kernels (layers.c, layers_conv.c, layers_bn.c): forward and backward
 * side by side. Backward
 * functions accumulate (+=) into input gradients and parameter gradients;
 * bn_bwd, add_bwd and the direct conv_small_bwd store instead into an input
 * gradient view marked overwrite (net_exec.c's stores_grad; it zeroes the
 * gradient before the others). */
/* OpenBLAS, loaded on first use (blas.c): nn_blas_load returns an error code
 * with the message set when it cannot be loaded; nn_sgemm is row-major
 * C = alpha op(A) op(B) + beta C. */
int nn_blas_load(void);
void nn_sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
              float beta, float *C, int ldc);
void nn_dgemm(int ta, int tb, int M, int N, int K, double alpha, const double *A, int lda, const double *B,
              int ldb, double beta, double *C, int ldc);
/* A LAPACK routine (dsyevd_, dstev_, ...) of the OpenBLAS nn_blas_load loaded
 * with one thread: its address, or NULL with an sgd_error naming it. Linking
 * LAPACK(E) instead would start OpenBLAS's thread pool in every process. */
void *nn_lapack_sym(const char *name);

/* sgd_net_hvp (hvp.h) at float64 weights x (finite differences need them);
 * v = hv = NULL: loss and grad only. nn_hvp_free: sgd_net_free's. */
int nn_hvp(sgd_net *net, const double *x, const float *buffers, int mode, const float *input,
           const int32_t *labels, size_t n, const double *v, double *hv, double *loss, double *grad);
void nn_hvp_free(sgd_net *net);

void nn_conv_fwd(const nn_view *x, const float *w, int k, int stride, int pad, nn_view *y,
                 size_t n, float **scratch);
void nn_conv_bwd(const nn_view *x, const float *w, int k, int stride, int pad, const nn_view *dy,
                 nn_view *dx, float *dw, size_t n, float **scratch, float *wpart);
size_t nn_conv_scratch(int cin, int k, int oh, int ow);
size_t nn_conv_wpart(size_t n, int cin, int cout, int k);

/* Direct convolution for small channel counts (direct.c), same contracts
 * as nn_conv_fwd / nn_conv_bwd (dW partials in wpart, nn_conv_wpart
 * floats). nn_direct_conv_ok says whether the selection rule picks it for
 * a shape (0 also when SGD_NN_DIRECT=0); nn_direct_scratch gives the
 * per-thread scratch in floats (0: shape not supported). */
int nn_direct_conv_ok(int cin, int cout, int h, int w, int k, int stride, int pad);
size_t nn_direct_scratch(int cin, int cout, int h, int w, int k, int stride, int pad);
void nn_direct_conv_fwd(const nn_view *x, const float *w, int k, int stride, int pad, nn_view *y,
                        size_t n, float **scratch);
void nn_direct_conv_bwd(const nn_view *x, const float *w, int k, int stride, int pad,
                        const nn_view *dy, nn_view *dx, float *dw, size_t n, float **scratch,
                        float *wpart);

/* Batch norm, split at its batch-wide reductions (layers_bn.c explains):
 * forward  nn_bn_stats (per sample: partials, 3 doubles per sample and
 * channel) | nn_bn_stats_combine (serial: mean, invstd, running stats) |
 * nn_bn_apply (per sample); backward nn_bn_bwd_sums (per sample: 2 doubles
 * per sample and channel) | nn_bn_bwd_combine (serial: dg, db += and the
 * dx coefficients, 3 floats per channel) | nn_bn_bwd_dx (per sample). relu
 * = 1: y = max(0, BN(x)) fused; backward masks dy where the ReLU cut
 * (recomputed from x, g, b and the statistics; y is not read). */
void nn_bn_stats(const nn_view *x, size_t n, double *part);
void nn_bn_stats_combine(int C, size_t hw, size_t n, const double *part, float *rm, float *rv,
                         int train, double *mean, double *invstd);
void nn_bn_apply(const nn_view *x, const float *g, const float *b, int relu, size_t n,
                 const double *mean, const double *invstd, nn_view *y);
void nn_bn_bwd_sums(const nn_view *x, const float *g, const float *b, int relu, size_t n,
                    const double *mean, const double *invstd, const nn_view *dy, double *part);
void nn_bn_bwd_combine(int C, size_t hw, size_t n, const float *g, int train, const double *mean,
                       const double *invstd, const double *part, float *dg, float *db, float *coef);
void nn_bn_bwd_dx(const nn_view *x, const float *g, const float *b, int relu, size_t n,
                  const double *mean, const double *invstd, const float *coef, const nn_view *dy,
                  nn_view *dx);

void nn_relu_fwd(const nn_view *x, nn_view *y, size_t n);
void nn_relu_bwd(const nn_view *y, const nn_view *dy, nn_view *dx, size_t n);
void nn_avgpool_fwd(const nn_view *x, nn_view *y, size_t n);
void nn_avgpool_bwd(const nn_view *dy, nn_view *dx, size_t n);
void nn_gap_fwd(const nn_view *x, nn_view *y, size_t n);
void nn_gap_bwd(const nn_view *dy, nn_view *dx, size_t n);
void nn_linear_fwd(const nn_view *x, const float *w, const float *b, nn_view *y, size_t n);
void nn_linear_bwd(const nn_view *x, const float *w, const nn_view *dy, nn_view *dx, float *dw,
                   float *db, size_t n);
/* residual add, with the following ReLU fused when relu = 1 */
void nn_add_fwd(const nn_view *a, const nn_view *b, int relu, nn_view *y, size_t n);
void nn_add_bwd(const nn_view *y, const nn_view *dy, int relu, nn_view *da, nn_view *db, size_t n);
void nn_padshort_fwd(const nn_view *x, int stride, int pad, nn_view *y, size_t n);
void nn_padshort_bwd(const nn_view *dy, int stride, int pad, nn_view *dx, size_t n);
/* dx = 0 for n samples (gradients whose first writer cannot overwrite) */
void nn_zero(nn_view *dx, size_t n);
/* Mean softmax cross-entropy; dlogits (n x classes, may be NULL) gets its
 * gradient. Returns the loss; *correct gets arg-max hits. */
double nn_softmax_ce(const float *logits, size_t ls, const int32_t *labels, size_t n, int classes,
                     float *dlogits, size_t ds, size_t *correct);

/* Kernel table: the CPU kernels above (nn_cpu_ops). Every kernel the tape
 * calls except oneDNN's convolutions, which net_exec.c tries first (dnnl.c). */
typedef struct sgd_nn_ops {
    const char *name;
    void (*conv_fwd)(const nn_view *, const float *, int, int, int, nn_view *, size_t, float **);
    void (*conv_bwd)(const nn_view *, const float *, int, int, int, const nn_view *, nn_view *,
                     float *, size_t, float **, float *);
    void (*bn_stats)(const nn_view *, size_t, double *);
    void (*bn_stats_combine)(int, size_t, size_t, const double *, float *, float *, int, double *,
                             double *);
    void (*bn_apply)(const nn_view *, const float *, const float *, int, size_t, const double *,
                     const double *, nn_view *);
    void (*bn_bwd_sums)(const nn_view *, const float *, const float *, int, size_t, const double *,
                        const double *, const nn_view *, double *);
    void (*bn_bwd_combine)(int, size_t, size_t, const float *, int, const double *, const double *,
                           const double *, float *, float *, float *);
    void (*bn_bwd_dx)(const nn_view *, const float *, const float *, int, size_t, const double *,
                      const double *, const float *, const nn_view *, nn_view *);
    void (*relu_fwd)(const nn_view *, nn_view *, size_t);
    void (*relu_bwd)(const nn_view *, const nn_view *, nn_view *, size_t);
    void (*avgpool_fwd)(const nn_view *, nn_view *, size_t);
    void (*avgpool_bwd)(const nn_view *, nn_view *, size_t);
    void (*gap_fwd)(const nn_view *, nn_view *, size_t);
    void (*gap_bwd)(const nn_view *, nn_view *, size_t);
    void (*linear_fwd)(const nn_view *, const float *, const float *, nn_view *, size_t);
    void (*linear_bwd)(const nn_view *, const float *, const nn_view *, nn_view *, float *, float *,
                       size_t);
    void (*add_fwd)(const nn_view *, const nn_view *, int, nn_view *, size_t);
    void (*add_bwd)(const nn_view *, const nn_view *, int, nn_view *, nn_view *, size_t);
    void (*padshort_fwd)(const nn_view *, int, int, nn_view *, size_t);
    void (*padshort_bwd)(const nn_view *, int, int, nn_view *, size_t);
    void (*zero)(nn_view *, size_t);
    /* Optional second convolution for shapes where it wins (NULL: none):
     * when conv_small_ok(cin, cout, h, w, k, stride, pad) says yes, net_exec.c
     * calls conv_small_fwd / conv_small_bwd (same signatures as conv_fwd /
     * conv_bwd) instead of oneDNN and conv_fwd / conv_bwd; conv_small_scratch
     * gives their per-thread scratch in floats. */
    int (*conv_small_ok)(int, int, int, int, int, int, int);
    size_t (*conv_small_scratch)(int, int, int, int, int, int, int);
    void (*conv_small_fwd)(const nn_view *, const float *, int, int, int, nn_view *, size_t,
                           float **);
    void (*conv_small_bwd)(const nn_view *, const float *, int, int, int, const nn_view *,
                           nn_view *, float *, size_t, float **, float *);
} sgd_nn_ops;
extern const sgd_nn_ops nn_cpu_ops;

/* oneDNN convolution (dnnl.c), tried first by net_exec.c for op index oi.
 * conv_fwd returns 1 when it ran, 0 when the CPU kernel must run instead
 * (no oneDNN, SGD_NN_DNNL=0, or an unsupported shape). conv_bwd
 * accumulates like nn_conv_bwd and returns 1 (ran), 0 (use the CPU kernel)
 * or -1 (failed after writing: an error); it computes the chunks [c0, c1)
 * of the current sgd_net_run (all of them unless the run is split, when it
 * shares the dW partials: net_split.c). */
#ifdef SGD_HAVE_DNNL
int nn_dnnl_conv_fwd(sgd_net *net, size_t oi, const nn_view *x, const float *w, nn_view *y, size_t n);
int nn_dnnl_conv_bwd(sgd_net *net, size_t oi, const nn_view *x, const float *w, const nn_view *dy,
                     nn_view *dx, float *dw, size_t n);
void nn_dnnl_free(sgd_net *net);
#else
static inline int nn_dnnl_conv_fwd(sgd_net *net, size_t oi, const nn_view *x, const float *w,
                                   nn_view *y, size_t n)
{
    (void)net, (void)oi, (void)x, (void)w, (void)y, (void)n;
    return 0;
}
static inline int nn_dnnl_conv_bwd(sgd_net *net, size_t oi, const nn_view *x, const float *w,
                                   const nn_view *dy, nn_view *dx, float *dw, size_t n)
{
    (void)net, (void)oi, (void)x, (void)w, (void)dy, (void)dx, (void)dw, (void)n;
    return 0;
}
static inline void nn_dnnl_free(sgd_net *net) { (void)net; }
#endif

/* Team execution. With OMP_WAIT_POLICY=passive (the benchmark's setting)
 * opening a parallel region costs ~85 us and a barrier ~40 us on the 2-core
 * box (futex wake-ups), and the tiny ResNet ran ~45 kernels per step, each
 * with its own region. net_exec.c now runs runs of kernels inside one region
 * (its chunked executor), with nn_in_team set on every thread of it. A
 * kernel's parallel loops are orphaned work-sharing loops (`omp for`):
 * NN_TEAM(call) runs the kernel body `call` directly when nn_in_team is set
 * (the loops then bind to the innermost enclosing team: the executor's
 * nested one-thread team for a chunk step), and otherwise opens a region
 * of its own, so the kernels still work when called alone (tests). */
extern _Thread_local int nn_in_team;
#define NN_TEAM(call)                   \
    do {                                \
        if (nn_in_team) {               \
            call;                       \
        } else {                        \
            _Pragma("omp parallel") { call; } \
        }                               \
    } while (0)

/* Fixed batch partition for reductions: chunk size independent of threads. */
#define NN_CHUNK 16

/* out[j] = s or out[j] += s (add), s = the sum over chunks c < nch of
 * part[c * stride + j] in chunk order, for j < cnt: how per-chunk weight
 * gradients are reduced, so that the bits do not depend on the thread count.
 * An orphaned `omp for ... nowait`: inside a team the threads share the
 * coordinates; callers that read out next need a barrier. */
static inline void nn_chunk_sum(const float *part, size_t stride, size_t nch, size_t cnt, float *out, int add)
{
#pragma omp for schedule(static) nowait
    for (size_t j = 0; j < cnt; j++) {
        float s = 0;
        for (size_t c = 0; c < nch; c++) s += part[c * stride + j];
        out[j] = add ? out[j] + s : s;
    }
}

#endif
