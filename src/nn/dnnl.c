/* Convolution through oneDNN (built when CMake finds libdnnl: SGD_HAVE_DNNL).
 *
 * Why: im2col + a small-M sgemm per sample spends most of its time copying
 * (im2col, col2im, OpenBLAS packing); oneDNN's direct JIT kernels work on
 * channel-blocked layouts (nChw8c on AVX2) and run 2-4x faster per core.
 *
 * Layout: the rest of the engine keeps NCHW activations (views with a batch
 * stride, see nn_internal.h), so every primitive reads and writes through
 * reorders between our strided NCHW and whatever layout the primitive chose
 * ("port" below; no reorder when the layouts already agree).
 *
 * Determinism: each primitive call takes a piece of the batch as its
 * minibatch; the pieces depend only on the layer shape and the batch size:
 * a few samples for forward and backward data (sub_size), the fixed chunks
 * of NN_CHUNK samples of the CPU kernels for backward weights. Primitives
 * are created while OpenMP's thread count is 1, so oneDNN fixes its
 * internal parallelism (and therefore its order of summation) to one
 * thread, and they run inside our own OpenMP loop over pieces. A piece's
 * result therefore does not depend on the thread count or on which thread
 * ran it. Weight gradients: one partial per chunk, summed in chunk order,
 * as in layers_conv.c.
 *
 * Any failure to create a primitive (an unsupported shape) marks the op and
 * net_exec.c falls back to the CPU kernels; SGD_NN_DNNL=0 in the environment
 * disables this file entirely (for A/B timing). */
#include "nn/nn_internal.h"
#include "sgdscape/dist.h"

#ifdef SGD_HAVE_DNNL

#include <dnnl.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define ALIGN_BYTES 64
#define NN_DNNL_PIECE_BYTES (256 * 1024)

/* One primitive argument: the layout the primitive wants, and the reorder
 * that moves data between it and our NCHW (NULL: use our buffer as is). */
typedef struct port {
    dnnl_memory_desc_t md;    /* primitive's layout */
    dnnl_memory_desc_t user;  /* ours */
    dnnl_primitive_t re;
    size_t bytes;             /* size in the primitive's layout */
} port;

/* Everything for one conv op at one chunk size m. */
typedef struct dconv {
    int m;
    dnnl_primitive_t fwd, bwd_d, bwd_w;
    port f_src, f_dst, f_w;          /* forward */
    port d_ddst, d_dsrc, d_w;        /* backward data (d_dsrc accumulates) */
    port w_src, w_ddst, w_dw;        /* backward weights (w_dw accumulates) */
    size_t pad_bytes;                /* largest scratchpad of the three */
    struct dconv *next;
} dconv;

typedef struct nn_dnnl {
    dnnl_engine_t eng;
    dnnl_stream_t *st;  int nst;     /* one stream per OpenMP thread */
    dconv **ops;        size_t nops; /* per op: list of chunk sizes */
    unsigned char *failed;           /* per op: oneDNN refused, use the CPU kernel */
    unsigned char **arena; size_t arena_len;  /* per thread */
    float *wbuf; size_t wbuf_len;    /* weights in the primitive's layout */
    float *dwpart; size_t dwpart_len;/* per-chunk dW partials + their sum */
} nn_dnnl;

static int dnnl_enabled(void)
{
    const char *e = getenv("SGD_NN_DNNL");
    return !(e && e[0] == '0');
}

static size_t al(size_t b) { return (b + ALIGN_BYTES - 1) / ALIGN_BYTES * ALIGN_BYTES; }

static void port_free(port *p)
{
    if (p->re) dnnl_primitive_destroy(p->re);
    p->re = NULL;
}

static void dconv_free(dconv *c)
{
    while (c) {
        dconv *nx = c->next;
        if (c->fwd) dnnl_primitive_destroy(c->fwd);
        if (c->bwd_d) dnnl_primitive_destroy(c->bwd_d);
        if (c->bwd_w) dnnl_primitive_destroy(c->bwd_w);
        port *ps[] = {&c->f_src, &c->f_dst, &c->f_w, &c->d_ddst, &c->d_dsrc,
                      &c->d_w, &c->w_src, &c->w_ddst, &c->w_dw};
        for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) port_free(ps[i]);
        free(c);
        c = nx;
    }
}

void nn_dnnl_free(sgd_net *net)
{
    nn_dnnl *D = net->dnnl;
    if (!D) return;
    for (size_t i = 0; i < D->nops; i++) dconv_free(D->ops[i]);
    for (int i = 0; i < D->nst; i++) {
        dnnl_stream_destroy(D->st[i]);
        free(D->arena[i]);
    }
    free(D->st);
    free(D->arena);
    free(D->ops);
    free(D->failed);
    free(D->wbuf);
    free(D->dwpart);
    if (D->eng) dnnl_engine_destroy(D->eng);
    free(D);
    net->dnnl = NULL;
}

/* Reorder primitive src -> dst; accumulate: dst += src (sum post-op). */
static int make_reorder(nn_dnnl *D, const dnnl_memory_desc_t *src, const dnnl_memory_desc_t *dst,
                        int accumulate, dnnl_primitive_t *out)
{
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    int ok = dnnl_primitive_attr_create(&attr) == dnnl_success;
    if (ok && accumulate) {
        ok = dnnl_post_ops_create(&po) == dnnl_success &&
             dnnl_post_ops_append_sum(po, 1.0f) == dnnl_success &&
             dnnl_primitive_attr_set_post_ops(attr, po) == dnnl_success;
    }
    ok = ok && dnnl_reorder_primitive_desc_create(&pd, src, D->eng, dst, D->eng, attr) == dnnl_success;
    ok = ok && dnnl_primitive_create(out, pd) == dnnl_success;
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (po) dnnl_post_ops_destroy(po);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return ok ? 0 : -1;
}

/* Input port: data arrives in `user` layout, the primitive wants `want`. */
static int port_in(nn_dnnl *D, port *p, const dnnl_memory_desc_t *user, const dnnl_memory_desc_t *want)
{
    p->md = *want;
    p->user = *user;
    p->bytes = dnnl_memory_desc_get_size(want);
    p->re = NULL;
    if (dnnl_memory_desc_equal(user, want)) return 0;
    return make_reorder(D, user, want, 0, &p->re);
}

/* Output port: the primitive writes `have`, we want it in `user`
 * (overwritten, or added to when accumulate). Accumulation always needs the
 * reorder (with its sum post-op), even between equal layouts. */
static int port_out(nn_dnnl *D, port *p, const dnnl_memory_desc_t *have, const dnnl_memory_desc_t *user,
                    int accumulate)
{
    p->md = *have;
    p->user = *user;
    p->bytes = dnnl_memory_desc_get_size(have);
    p->re = NULL;
    if (!accumulate && dnnl_memory_desc_equal(user, have)) return 0;
    return make_reorder(D, have, user, accumulate, &p->re);
}

/* Our NCHW view of m samples: strides (batch stride, h*w, w, 1). */
static void user_md(dnnl_memory_desc_t *md, int m, int c, int h, int w, size_t ns)
{
    dnnl_dims_t dims = {m, c, h, w};
    /* one sample: the batch stride is irrelevant, and a dense descriptor
     * lets oneDNN pick its specialised reorders */
    if (m == 1) ns = (size_t)c * h * w;
    dnnl_dims_t str = {(dnnl_dim_t)ns, (dnnl_dim_t)h * w, w, 1};
    dnnl_memory_desc_init_by_strides(md, 4, dims, dnnl_f32, str);
}

static size_t pad_size(const_dnnl_primitive_desc_t pd)
{
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    return md ? dnnl_memory_desc_get_size(md) : 0;
}

/* Build the three convolutions and their ports for chunk size m. Runs
 * serially with OpenMP's thread count set to 1 (see the file comment). */
static dconv *dconv_create(nn_dnnl *D, int m, int cin, int h, int w, int cout, int oh, int ow, int k,
                           int stride, int pad, size_t x_ns, size_t y_ns)
{
    dconv *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->m = m;
    dnnl_memory_desc_t src_any, w_any, dst_any, src_u, dst_u, w_u;
    dnnl_dims_t sd = {m, cin, h, w}, wd = {cout, cin, k, k}, dd = {m, cout, oh, ow};
    dnnl_dims_t strides = {stride, stride}, padl = {pad, pad};
    /* right padding so that the output size is exactly oh x ow */
    dnnl_dims_t padr = {(oh - 1) * stride + k - h - pad, (ow - 1) * stride + k - w - pad};
    dnnl_memory_desc_init_by_tag(&src_any, 4, sd, dnnl_f32, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&w_any, 4, wd, dnnl_f32, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&dst_any, 4, dd, dnnl_f32, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&w_u, 4, wd, dnnl_f32, dnnl_oihw);
    user_md(&src_u, m, cin, h, w, x_ns);
    user_md(&dst_u, m, cout, oh, ow, y_ns);

    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pf = NULL, pb = NULL, pw = NULL;
    dnnl_convolution_desc_t cf, cb, cw;
    int ok = dnnl_primitive_attr_create(&attr) == dnnl_success &&
             /* scratchpads are ours, one per thread: concurrent calls of one
              * primitive from several threads then share nothing */
             dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) == dnnl_success;
    ok = ok && dnnl_convolution_forward_desc_init(&cf, dnnl_forward_training, dnnl_convolution_direct,
                                                  &src_any, &w_any, NULL, &dst_any, strides, padl,
                                                  padr) == dnnl_success;
    ok = ok && dnnl_primitive_desc_create(&pf, &cf, attr, D->eng, NULL) == dnnl_success;
    ok = ok && dnnl_convolution_backward_data_desc_init(&cb, dnnl_convolution_direct, &src_any, &w_any,
                                                        &dst_any, strides, padl, padr) == dnnl_success;
    ok = ok && dnnl_primitive_desc_create(&pb, &cb, attr, D->eng, pf) == dnnl_success;
    ok = ok && dnnl_convolution_backward_weights_desc_init(&cw, dnnl_convolution_direct, &src_any,
                                                           &w_any, NULL, &dst_any, strides, padl,
                                                           padr) == dnnl_success;
    ok = ok && dnnl_primitive_desc_create(&pw, &cw, attr, D->eng, pf) == dnnl_success;
    ok = ok && dnnl_primitive_create(&c->fwd, pf) == dnnl_success &&
         dnnl_primitive_create(&c->bwd_d, pb) == dnnl_success &&
         dnnl_primitive_create(&c->bwd_w, pw) == dnnl_success;
#define MD(pd, q) dnnl_primitive_desc_query_md(pd, q, 0)
    ok = ok && !port_in(D, &c->f_src, &src_u, MD(pf, dnnl_query_src_md)) &&
         !port_in(D, &c->f_w, &w_u, MD(pf, dnnl_query_weights_md)) &&
         !port_out(D, &c->f_dst, MD(pf, dnnl_query_dst_md), &dst_u, 0) &&
         !port_in(D, &c->d_ddst, &dst_u, MD(pb, dnnl_query_diff_dst_md)) &&
         !port_in(D, &c->d_w, &w_u, MD(pb, dnnl_query_weights_md)) &&
         !port_out(D, &c->d_dsrc, MD(pb, dnnl_query_diff_src_md), &src_u, 1) &&
         !port_in(D, &c->w_src, &src_u, MD(pw, dnnl_query_src_md)) &&
         !port_in(D, &c->w_ddst, &dst_u, MD(pw, dnnl_query_diff_dst_md)) &&
         !port_out(D, &c->w_dw, MD(pw, dnnl_query_diff_weights_md), &w_u, 1);
#undef MD
    if (ok) {
        size_t a = pad_size(pf), b = pad_size(pb), d = pad_size(pw);
        c->pad_bytes = a > b ? a : b;
        if (d > c->pad_bytes) c->pad_bytes = d;
    }
    if (pf) dnnl_primitive_desc_destroy(pf);
    if (pb) dnnl_primitive_desc_destroy(pb);
    if (pw) dnnl_primitive_desc_destroy(pw);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (!ok) {
        dconv_free(c);
        return NULL;
    }
    return c;
}

/* Per-thread arena: the largest of forward (src, dst) and backward
 * (ddst for data, dsrc, src for weights, ddst for weights, dw) plus the
 * scratchpad. */
static size_t dconv_arena(const dconv *c)
{
    size_t f = al(c->f_src.bytes) + al(c->f_dst.bytes);
    size_t b = al(c->d_ddst.bytes) + al(c->d_dsrc.bytes) + al(c->w_src.bytes) + al(c->w_ddst.bytes) +
               al(c->w_dw.bytes);
    return (f > b ? f : b) + al(c->pad_bytes);
}

static nn_dnnl *ctx(sgd_net *net)
{
    if (net->dnnl) return net->dnnl;
    nn_dnnl *D = calloc(1, sizeof *D);
    if (!D) return NULL;
    if (dnnl_engine_create(&D->eng, dnnl_cpu, 0) != dnnl_success) {
        free(D);
        return NULL;
    }
    net->dnnl = D;
    return D;
}

/* The entry of op `oi` for chunk size m, created on first use. NULL: use
 * the CPU kernel. Called outside parallel regions only. */
static dconv *lookup(sgd_net *net, size_t oi, int m, const nn_view *x, const nn_view *y)
{
    nn_dnnl *D = net->dnnl;
    if (D->nops < net->nops) {
        dconv **o = realloc(D->ops, sizeof *o * net->nops);
        unsigned char *f = o ? realloc(D->failed, net->nops) : NULL;
        if (o) D->ops = o;
        if (!f) return NULL;
        D->failed = f;
        for (size_t i = D->nops; i < net->nops; i++) {
            D->ops[i] = NULL;
            D->failed[i] = 0;
        }
        D->nops = net->nops;
    }
    if (D->failed[oi]) return NULL;
    const nn_op *op = &net->ops[oi];
    for (dconv *c = D->ops[oi]; c; c = c->next)
        if (c->m == m) return c;
    /* fix oneDNN's internal thread count to 1 while it chooses its
     * decomposition (the primitive keeps it for its lifetime) */
    int nt = omp_get_max_threads();
    omp_set_num_threads(1);
    dconv *c = dconv_create(D, m, x->c, x->h, x->w, y->c, y->h, y->w, op->k, op->stride, op->pad,
                            x->ns, y->ns);
    omp_set_num_threads(nt);
    if (!c) {
        D->failed[oi] = 1;
        return NULL;
    }
    c->next = D->ops[oi];
    D->ops[oi] = c;
    return c;
}

/* Streams and arenas for every thread that may run, each arena at least
 * `need` bytes. */
static int ensure_threads(nn_dnnl *D, size_t need)
{
    int nt = omp_get_max_threads();
    if (nt > D->nst) {
        dnnl_stream_t *s = realloc(D->st, sizeof *s * nt);
        if (!s) return -1;
        D->st = s;
        unsigned char **a = realloc(D->arena, sizeof *a * nt);
        if (!a) return -1;
        D->arena = a;
        for (int i = D->nst; i < nt; i++) {
            D->arena[i] = NULL;
            if (dnnl_stream_create(&D->st[i], D->eng, dnnl_stream_default_flags) != dnnl_success)
                return -1;
            D->nst = i + 1;
        }
        D->arena_len = 0;  /* the new threads have none yet */
    }
    if (need > D->arena_len) {
        for (int i = 0; i < D->nst; i++) {
            free(D->arena[i]);
            D->arena[i] = aligned_alloc(ALIGN_BYTES, need);
            if (!D->arena[i]) {
                D->arena_len = 0;
                return -1;
            }
        }
        D->arena_len = need;
    }
    return 0;
}

static int grow(float **p, size_t *len, size_t bytes)
{
    if (bytes <= *len) return 0;
    free(*p);
    *p = aligned_alloc(ALIGN_BYTES, al(bytes));
    *len = *p ? bytes : 0;
    return *p ? 0 : -1;
}

/* Run primitive `pr` with up to 4 (arg, md, pointer) triples plus the
 * scratchpad. Memory objects wrap our pointers; they are cheap to create. */
typedef struct arg {
    int arg;
    const dnnl_memory_desc_t *md;
    void *ptr;
} arg;

static int exec(nn_dnnl *D, int t, dnnl_primitive_t pr, const arg *a, int na, void *pad, size_t padb)
{
    dnnl_exec_arg_t ea[6];
    dnnl_memory_t mem[6];
    int n = 0, ok = 1;
    for (int i = 0; i < na && ok; i++, n++) {
        ok = dnnl_memory_create(&mem[n], a[i].md, D->eng, a[i].ptr) == dnnl_success;
        ea[n].arg = a[i].arg;
        ea[n].memory = mem[n];
        if (!ok) break;
    }
    if (ok && padb) {
        dnnl_memory_desc_t md;
        dnnl_dims_t dims = {(dnnl_dim_t)padb};
        dnnl_memory_desc_init_by_tag(&md, 1, dims, dnnl_u8, dnnl_x);
        ok = dnnl_memory_create(&mem[n], &md, D->eng, pad) == dnnl_success;
        ea[n].arg = DNNL_ARG_SCRATCHPAD;
        ea[n].memory = mem[n];
        if (ok) n++;
    }
    if (ok) ok = dnnl_primitive_execute(pr, D->st[t], n, ea) == dnnl_success;
    for (int i = 0; i < n; i++) dnnl_memory_destroy(mem[i]);
    return ok ? 0 : -1;
}

/* Move data into a port's layout: returns the pointer the primitive reads. */
static void *port_load(nn_dnnl *D, int t, const port *p, const void *user, void *buf, int *err)
{
    if (!p->re) return (void *)user;
    arg a[2] = {{DNNL_ARG_FROM, &p->user, (void *)user}, {DNNL_ARG_TO, &p->md, buf}};
    if (exec(D, t, p->re, a, 2, NULL, 0)) *err = 1;
    return buf;
}

/* Move (or add) a port's result into our layout. */
static void port_store(nn_dnnl *D, int t, const port *p, const void *have, void *user, int *err)
{
    if (!p->re) return;
    arg a[2] = {{DNNL_ARG_FROM, &p->md, (void *)have}, {DNNL_ARG_TO, &p->user, user}};
    if (exec(D, t, p->re, a, 2, NULL, 0)) *err = 1;
}

/* Samples per oneDNN call for forward and backward data, where no sum
 * over samples is involved. Small enough that a piece's input and output
 * (after a reorder) are still in the core's L2 cache when the next step
 * reads them; no smaller, because each call costs a few microseconds of
 * overhead (narrow nets: measured). The size is a function of the layer
 * shape only, never of the thread count. SGD_NN_DNNL_SUB=N overrides (for
 * tuning; an empty or malformed value is ignored). */
static int sub_size(const nn_view *x, const nn_view *y)
{
    const char *e = getenv("SGD_NN_DNNL_SUB");
    size_t a = (size_t)x->c * x->h * x->w, b = (size_t)y->c * y->h * y->w;
    size_t per = sizeof(float) * (a + b);
    char *end = NULL;
    long v = e && e[0] ? strtol(e, &end, 10) : 0;
    if (!(v > 0 && *end == '\0')) v = (long)(NN_DNNL_PIECE_BYTES / per); /* unset, empty or malformed */
    return v < 1 ? 1 : v > NN_CHUNK ? NN_CHUNK : (int)v;
}

/* Prepare entries for the (at most two) sizes of pieces of csz samples of a
 * batch of n. */
static int prepare(sgd_net *net, size_t oi, size_t n, int csz, const nn_view *x, const nn_view *y,
                   dconv **full, dconv **last)
{
    if (!dnnl_enabled() || !ctx(net)) return -1;
    int m0 = n < (size_t)csz ? (int)n : csz, m1 = (int)(n % (size_t)csz);
    *full = lookup(net, oi, m0, x, y);
    *last = m1 && m1 != m0 ? lookup(net, oi, m1, x, y) : *full;
    if (!*full || !*last) return -1;
    size_t need = dconv_arena(*full), b = dconv_arena(*last);
    if (b > need) need = b;
    return ensure_threads(net->dnnl, need);
}

int nn_dnnl_conv_fwd(sgd_net *net, size_t oi, const nn_view *x, const float *wt, nn_view *y, size_t n)
{
    dconv *full, *last;
    int csz = sub_size(x, y);
    if (prepare(net, oi, n, csz, x, y, &full, &last)) return 0;
    nn_dnnl *D = net->dnnl;
    /* weights into the primitive's layout once, shared by all threads (the
     * two piece sizes choose the same weights layout; checked) */
    if (!dnnl_memory_desc_equal(&full->f_w.md, &last->f_w.md)) return 0;
    if (grow(&D->wbuf, &D->wbuf_len, full->f_w.bytes)) return 0;
    int err = 0;
    const void *w = port_load(D, 0, &full->f_w, wt, D->wbuf, &err);
    if (err) return 0;
    size_t np = (n + csz - 1) / csz;
#pragma omp parallel reduction(| : err)
    {
        int t = omp_get_thread_num();
#pragma omp for schedule(static)
        for (size_t pi = 0; pi < np; pi++) {
            size_t i0 = pi * csz, m = n - i0 < (size_t)csz ? n - i0 : (size_t)csz;
            const dconv *c = (int)m == full->m ? full : last;
            unsigned char *ar = D->arena[t];
            void *sb = ar, *db = ar + al(c->f_src.bytes), *pad = (unsigned char *)db + al(c->f_dst.bytes);
            void *s = port_load(D, t, &c->f_src, x->d + i0 * x->ns, sb, &err);
            void *d = c->f_dst.re ? db : (void *)(y->d + i0 * y->ns);
            arg a[3] = {{DNNL_ARG_SRC, &c->f_src.md, s},
                        {DNNL_ARG_WEIGHTS, &c->f_w.md, (void *)w},
                        {DNNL_ARG_DST, &c->f_dst.md, d}};
            if (exec(D, t, c->fwd, a, 3, pad, c->pad_bytes)) err = 1;
            port_store(D, t, &c->f_dst, d, y->d + i0 * y->ns, &err);
        }
    }
    /* a failed call leaves y partly written; the CPU kernel redoes it all */
    return !err;
}

/* Backward data in small pieces (no sums over samples), then backward
 * weights in the fixed chunks of NN_CHUNK samples with one partial per
 * chunk, summed in chunk order. A split run (net_split.c) does this rank's
 * chunks [c0, c1) and shares the partials before the sum. */
int nn_dnnl_conv_bwd(sgd_net *net, size_t oi, const nn_view *x, const float *wt, const nn_view *dy,
                     nn_view *dx, float *dw, size_t n)
{
    dconv *full, *last, *sfull = NULL, *slast = NULL;
    int csz = sub_size(x, dy);
    size_t s0, s1;   /* this rank's samples (all but in a split run) */
    nn_split_samples(net, n, &s0, &s1);
    if (s1 == s0) dx = NULL;
    if (prepare(net, oi, n, NN_CHUNK, x, dy, &full, &last)) return 0;
    if (dx && prepare(net, oi, s1 - s0, csz, x, dy, &sfull, &slast)) return 0;
    nn_dnnl *D = net->dnnl;
    if (!dnnl_memory_desc_equal(&full->w_dw.md, &last->w_dw.md) ||
        (dx && !dnnl_memory_desc_equal(&sfull->d_w.md, &slast->d_w.md)))
        return 0;
    size_t nch = (n + NN_CHUNK - 1) / NN_CHUNK, np = (s1 - s0 + csz - 1) / csz, dwb = al(full->w_dw.bytes);
    int err = 0;
    const void *w = NULL;
    if (dx) {
        if (grow(&D->wbuf, &D->wbuf_len, sfull->d_w.bytes)) return 0;
        w = port_load(D, 0, &sfull->d_w, wt, D->wbuf, &err);
        if (err) return 0;
    }
    /* nch chunk partials, then their sum */
    if (dw && grow(&D->dwpart, &D->dwpart_len, dwb * (nch + 1))) return 0;
    /* A failure past this point would leave dx partly accumulated and could
     * not be redone by the CPU kernel; oneDNN does not fail at execution for
     * primitives it created, so this is reported as a hard error. */
#pragma omp parallel reduction(| : err)
    {
        int t = omp_get_thread_num();
        if (dx) {
#pragma omp for schedule(static)
            for (size_t pi = 0; pi < np; pi++) {
                size_t i0 = s0 + pi * csz, m = s1 - i0 < (size_t)csz ? s1 - i0 : (size_t)csz;
                const dconv *c = (int)m == sfull->m ? sfull : slast;
                unsigned char *b_dd = D->arena[t], *b_ds = b_dd + al(c->d_ddst.bytes),
                              *pad = b_ds + al(c->d_dsrc.bytes);
                void *g = port_load(D, t, &c->d_ddst, dy->d + i0 * dy->ns, b_dd, &err);
                arg a[3] = {{DNNL_ARG_DIFF_DST, &c->d_ddst.md, g},
                            {DNNL_ARG_WEIGHTS, &c->d_w.md, (void *)w},
                            {DNNL_ARG_DIFF_SRC, &c->d_dsrc.md, b_ds}};
                if (exec(D, t, c->bwd_d, a, 3, pad, c->pad_bytes)) err = 1;
                port_store(D, t, &c->d_dsrc, b_ds, dx->d + i0 * dx->ns, &err);
            }
        }
        if (dw) {
#pragma omp for schedule(static)
            for (size_t ci = net->c0; ci < net->c1; ci++) {
                size_t i0 = ci * NN_CHUNK, m = n - i0 < NN_CHUNK ? n - i0 : NN_CHUNK;
                const dconv *c = (int)m == full->m ? full : last;
                unsigned char *b_s = D->arena[t], *b_wd = b_s + al(c->w_src.bytes),
                              *pad = b_wd + al(c->w_ddst.bytes);
                void *s = port_load(D, t, &c->w_src, x->d + i0 * x->ns, b_s, &err);
                void *g = port_load(D, t, &c->w_ddst, dy->d + i0 * dy->ns, b_wd, &err);
                float *part = (float *)((unsigned char *)D->dwpart + ci * dwb);
                arg a[3] = {{DNNL_ARG_SRC, &c->w_src.md, s},
                            {DNNL_ARG_DIFF_DST, &c->w_ddst.md, g},
                            {DNNL_ARG_DIFF_WEIGHTS, &c->w_dw.md, part}};
                if (exec(D, t, c->bwd_w, a, 3, pad, c->pad_bytes)) err = 1;
            }
            if (net->spl) {
#pragma omp barrier
#pragma omp master
                sgd_dist_share_chunks(D->dwpart, nch, dwb, nch * dwb);
#pragma omp barrier
            }
            /* sum the chunk partials in chunk order (fixed, thread-independent) */
            size_t cnt = full->w_dw.bytes / sizeof(float);
            float *sum = (float *)((unsigned char *)D->dwpart + nch * dwb);
            nn_chunk_sum((const float *)D->dwpart, dwb / sizeof(float), nch, cnt, sum, 0);
#pragma omp barrier
        }
    }
    if (dw) {
        /* dw += sum, reordered to OIHW */
        float *sum = (float *)((unsigned char *)D->dwpart + nch * dwb);
        port_store(D, 0, &full->w_dw, sum, dw, &err);
    }
    return err ? -1 : 1;
}

#endif
