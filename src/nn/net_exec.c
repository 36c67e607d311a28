/* Running a network: forward over the op tape, the loss, backward in
 * reverse (sgd_net_run), following the plan of net_plan.c; the flat
 * loss/gradient function over batches of a loader. */
#include "nn/nn_internal.h"
#include "sgdscape/dist.h"
#include "sgdscape/error.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Does op's backward kernel store into an input gradient marked overwrite?
 * BN, add and the direct convolution do; the others add, so the executor zeroes
 * that gradient first. */
static int stores_grad(const nn_op *op)
{
    return op->type == OP_BN || op->type == OP_ADD || (op->type == OP_CONV && op->small);
}

/* ---- executing the tape ------------------------------------------------
 *
 * Ops that need the whole batch at once or call a library (oneDNN and
 * im2col convolutions, linear) run one by one, each kernel with its own
 * OpenMP region. Every maximal run of the other ops (direct convolution,
 * BN, ReLU, pooling, add, option-A shortcut) runs inside ONE parallel region
 * and chunk by chunk: the run is cut into steps, per-chunk steps (a kernel
 * on one NN_CHUNK-sample piece of the batch) and sync steps (BN's
 * batch-wide reductions: a barrier, then every thread combines the
 * per-sample partials into its own copy, sync_step). Consecutive
 * per-chunk steps are done for one chunk after the other by the thread
 * that owns the chunk, so a chunk's activations (16 samples: 256 KB at
 * 4x32x32) stay in L2 from the conv that writes them to the BN that reads
 * them, and there is one barrier per BN instead of one per kernel (with
 * OMP_WAIT_POLICY=passive a region costs ~85 us and a barrier ~40 us on
 * the 2-core box). Inside a chunk step a kernel runs in a nested one-thread
 * region (~1 us), so its own work-sharing loop covers just that chunk.
 * Direct convolution weight gradients go to one slot per chunk and are
 * summed in chunk order at the end of the run: the same arithmetic as the
 * kernel's own chunk partials, so bit-identical for any thread count. */

enum {
    S_OP,          /* the op's kernel on a chunk (fwd or bwd) */
    S_BN_STATS,    /* BN forward partials on a chunk */
    S_BN_COMBINE,  /* sync: BN mean, invstd, running statistics */
    S_BN_APPLY,    /* BN(+ReLU) output on a chunk */
    S_ZERO,        /* zero the op's input gradient on a chunk (first writer
                    * that cannot overwrite) */
    S_BN_SUMS,     /* BN backward partials on a chunk */
    S_BN_BCOMBINE, /* sync: BN dg, db and dx coefficients */
    S_BN_DX        /* BN input gradient on a chunk */
};
static int is_sync(int what) { return what == S_BN_COMBINE || what == S_BN_BCOMBINE; }

/* BN statistics of thread tid's copy (thread 0's is the op's own, which
 * backward and rematerialisation read). */
static double *bn_mean(const nn_op *op, int tid, int C)
{
    return tid ? op->tstat + (size_t)(tid - 1) * 2 * C : op->mean;
}
static double *bn_invstd(const nn_op *op, int tid, int C)
{
    return tid ? op->tstat + ((size_t)(tid - 1) * 2 + 1) * C : op->invstd;
}

/* Sample i0 of a view. */
static nn_view at(nn_view v, size_t i0)
{
    v.d += i0 * v.ns;
    return v;
}

/* The op's input gradient view, NULL where it is not computed (the net's
 * input), with its overwrite flag (set only for kernels that store). */
static nn_view *grad_in(const sgd_net *net, const nn_op *op, nn_view *da, int inblock)
{
    *da = nn_grad(net, op->in);
    da->overwrite = op->over_in && stores_grad(op);
    return net->ts[op->in].block == inblock ? NULL : da;
}

/* Floats of convolution op's weight (its dW chunk partial). */
static size_t wsize(const sgd_net *net, const nn_op *op)
{
    return (size_t)net->ts[op->out].c * net->ts[op->in].c * op->k * op->k;
}

/* Can op i run in a chunked run (no whole-batch kernel, no library call,
 * no error exit)? */
static int team_op(const sgd_net *net, size_t i)
{
    const nn_op *op = &net->ops[i];
    switch (op->type) {
    case OP_CONV: return op->small;
    case OP_LINEAR: return 0;
    default: return 1;
    }
}

/* Forward of a library op (not team_op) on the whole batch; in a split
 * run a convolution on this rank's samples (per sample: the same bits),
 * the linear layer on the whole batch once its input is shared. */
static void fwd_op(sgd_net *net, const sgd_nn_ops *K, size_t i, const float *x, size_t n)
{
    nn_op *op = &net->ops[i];
    size_t s0 = 0, s1 = n;
    int part = net->spl && op->type != OP_LINEAR;
    if (part) nn_split_samples(net, n, &s0, &s1);
    else nn_split_need(net, op->in, 0, n);
    nn_view a = at(nn_data(net, op->in), s0), y = at(nn_data(net, op->out), s0);
    if (op->type == OP_LINEAR)
        K->linear_fwd(&a, x + op->w, x + op->b, &y, n);
    else if (s1 > s0 && !nn_dnnl_conv_fwd(net, i, &a, x + op->w, &y, s1 - s0))  /* oneDNN, else im2col */
        K->conv_fwd(&a, x + op->w, op->k, op->stride, op->pad, &y, s1 - s0, net->scratch);
    nn_split_wrote(net, op->out, 0, !part);
}

/* The im2col convolution's backward in a split run: dx and the dW chunk
 * partials of this rank's samples (its spare dW, after the nch partials
 * in net->wpart, takes the kernel's own sum), then every chunk's partial
 * shared and summed in chunk order as the kernel does. */
static void conv_bwd_split(sgd_net *net, const sgd_nn_ops *K, const nn_op *op, const float *x,
                           const nn_view *a, const nn_view *dy, const nn_view *dap, size_t n)
{
    size_t nch = (n + NN_CHUNK - 1) / NN_CHUNK, wsz = wsize(net, op), s0, s1;
    float *part = net->wpart, *spare = part + nch * wsz;
    nn_split_samples(net, n, &s0, &s1);
    if (s1 > s0) {
        nn_view a0 = at(*a, s0), d0 = at(*dy, s0), da0 = dap ? at(*dap, s0) : *a;
        memset(spare, 0, sizeof(float) * wsz);
        K->conv_bwd(&a0, x + op->w, op->k, op->stride, op->pad, &d0, dap ? &da0 : NULL, spare, s1 - s0,
                    net->scratch, part + net->c0 * wsz);
    }
    sgd_dist_share_chunks(part, nch, sizeof(float) * wsz, sizeof(float) * wsz * nch);
#pragma omp parallel
    nn_chunk_sum(part, wsz, nch, wsz, net->gradp + op->w, 1);
}

/* Backward of a library op on the whole batch (a split run as fwd_op);
 * an error code (oneDNN). */
static int bwd_op(sgd_net *net, const sgd_nn_ops *K, size_t i, const float *x, size_t n, int inblock)
{
    float *grad = net->gradp;
    nn_op *op = &net->ops[i];
    nn_view a = nn_data(net, op->in), dy = nn_grad(net, op->out), da;
    nn_view *dap = grad_in(net, op, &da, inblock);
    if (dap && op->over_in && !stores_grad(op)) K->zero(dap, n);
    if (op->type == OP_LINEAR) {
        nn_split_need(net, op->in, 0, n);
        nn_split_need(net, op->out, 1, n);
        K->linear_bwd(&a, x + op->w, &dy, dap, grad + op->w, grad + op->b, n);
        nn_split_wrote(net, op->in, 1, op->over_in);
        return SGD_OK;
    }
    int r = nn_dnnl_conv_bwd(net, i, &a, x + op->w, &dy, dap, grad + op->w, n);
    if (r < 0) return sgd_error(SGD_EINVAL, "oneDNN convolution backward failed (%s)", op->name);
    if (!r && net->spl) conv_bwd_split(net, K, op, x, &a, &dy, dap, n);
    else if (!r)
        K->conv_bwd(&a, x + op->w, op->k, op->stride, op->pad, &dy, dap, grad + op->w, n,
                    net->scratch, net->wpart);
    nn_split_wrote(net, op->in, 1, 0);
    return SGD_OK;
}

/* Steps of the forward run [i, j). */
static size_t fwd_steps(sgd_net *net, size_t i, size_t j, int train)
{
    size_t ns = 0;
    for (size_t t = i; t < j; t++) {
        if (net->ops[t].type != OP_BN) {
            net->steps[ns++] = (nn_step){S_OP, t};
            continue;
        }
        if (train) net->steps[ns++] = (nn_step){S_BN_STATS, t};
        net->steps[ns++] = (nn_step){S_BN_COMBINE, t};
        net->steps[ns++] = (nn_step){S_BN_APPLY, t};
    }
    return ns;
}

/* Steps of the backward run: ops j-1 down to i. */
static size_t bwd_steps(sgd_net *net, size_t i, size_t j, int inblock)
{
    size_t ns = 0;
    for (size_t t = j; t-- > i;) {
        const nn_op *op = &net->ops[t];
        if (op->type == OP_BN) {
            net->steps[ns++] = (nn_step){S_BN_SUMS, t};
            net->steps[ns++] = (nn_step){S_BN_BCOMBINE, t};
            if (net->ts[op->in].block != inblock) net->steps[ns++] = (nn_step){S_BN_DX, t};
            continue;
        }
        if (op->over_in && !stores_grad(op) && net->ts[op->in].block != inblock)
            net->steps[ns++] = (nn_step){S_ZERO, t};
        net->steps[ns++] = (nn_step){S_OP, t};
    }
    return ns;
}

/* Forward chunk step: samples [i0, i0 + cnt); sc: this thread's scratch. */
static void fwd_chunk(sgd_net *net, const sgd_nn_ops *K, const nn_step *st, const float *x,
                      size_t i0, size_t cnt, int tid)
{
    float **sc = net->scratch + tid;
    const nn_op *op = &net->ops[st->op];
    nn_view a = at(nn_data(net, op->in), i0), y = at(nn_data(net, op->out), i0);
    switch (st->what) {
    case S_BN_STATS: K->bn_stats(&a, cnt, op->part + 3 * i0 * (size_t)a.c); return;
    case S_BN_APPLY:
        K->bn_apply(&a, x + op->w, x + op->b, op->relu, cnt, bn_mean(op, tid, a.c),
                    bn_invstd(op, tid, a.c), &y);
        return;
    }
    switch (op->type) {
    case OP_CONV: K->conv_small_fwd(&a, x + op->w, op->k, op->stride, op->pad, &y, cnt, sc); break;
    case OP_RELU: K->relu_fwd(&a, &y, cnt); break;
    case OP_AVGPOOL: K->avgpool_fwd(&a, &y, cnt); break;
    case OP_GAP: K->gap_fwd(&a, &y, cnt); break;
    case OP_ADD: {
        nn_view b = at(nn_data(net, op->in2), i0);
        K->add_fwd(&a, &b, op->relu, &y, cnt);
        break;
    }
    case OP_PADSHORT: K->padshort_fwd(&a, op->stride, op->pad, &y, cnt); break;
    }
}

/* Backward chunk step: samples [i0, i0 + cnt) = chunk c of nch; tid: this
 * thread (its scratch and its dW work slot). */
static void bwd_chunk(sgd_net *net, const sgd_nn_ops *K, const nn_step *st, const float *x,
                      size_t i0, size_t cnt, size_t c, size_t nch, int tid, int inblock)
{
    const nn_op *op = &net->ops[st->op];
    nn_view a = at(nn_data(net, op->in), i0), y = at(nn_data(net, op->out), i0);
    nn_view dy = at(nn_grad(net, op->out), i0), da;
    nn_view *dap = grad_in(net, op, &da, inblock);
    da = at(da, i0);
    switch (st->what) {
    case S_ZERO: K->zero(dap, cnt); return;
    case S_BN_SUMS:
        K->bn_bwd_sums(&a, x + op->w, x + op->b, op->relu, cnt, op->mean, op->invstd, &dy,
                       op->part + 2 * i0 * (size_t)a.c);
        return;
    case S_BN_DX:
        K->bn_bwd_dx(&a, x + op->w, x + op->b, op->relu, cnt, op->mean, op->invstd,
                     op->coef + (size_t)3 * a.c * tid, &dy, dap);
        return;
    }
    switch (op->type) {
    case OP_CONV: {
        size_t wsz = wsize(net, op);
        float *slot = net->dwslot + op->slot, *dw = slot + c * wsz;
        memset(dw, 0, sizeof(float) * wsz);
        K->conv_small_bwd(&a, x + op->w, op->k, op->stride, op->pad, &dy, dap, dw, cnt,
                          net->scratch + tid, slot + (nch + (size_t)tid) * wsz);
        break;
    }
    case OP_RELU:
        if (dap) K->relu_bwd(&y, &dy, dap, cnt);
        break;
    case OP_AVGPOOL:
        if (dap) K->avgpool_bwd(&dy, dap, cnt);
        break;
    case OP_GAP:
        if (dap) K->gap_bwd(&dy, dap, cnt);
        break;
    case OP_ADD: {
        nn_view db = at(nn_grad(net, op->in2), i0);
        db.overwrite = op->over_in2;
        K->add_bwd(&y, &dy, op->relu, &da, &db, cnt);
        break;
    }
    case OP_PADSHORT:
        if (dap) K->padshort_bwd(&dy, op->stride, op->pad, dap, cnt);
        break;
    }
}

/* A sync step, on every thread of the team (after a barrier): each
 * computes the statistics (coefficients) into its own copy, the same bits
 * on every thread; thread 0 alone writes what is shared (running
 * statistics, dg, db). */
static void sync_step(sgd_net *net, const sgd_nn_ops *K, const nn_step *st, const float *x,
                      float *buffers, int train, size_t n, int tid)
{
    nn_op *op = &net->ops[st->op];
    const nn_tensor *ti = &net->ts[op->in];
    size_t hw = (size_t)ti->h * ti->w;
    if (st->what == S_BN_COMBINE) {
        int rs = buffers && (!train || tid == 0);   /* eval reads them */
        K->bn_stats_combine(ti->c, hw, n, op->part, rs ? buffers + op->rm : NULL,
                            rs ? buffers + op->rv : NULL, train, bn_mean(op, tid, ti->c),
                            bn_invstd(op, tid, ti->c));
    } else
        K->bn_bwd_combine(ti->c, hw, n, x + op->w, train, op->mean, op->invstd, op->part,
                          tid ? NULL : net->gradp + op->w, tid ? NULL : net->gradp + op->b,
                          op->coef + (size_t)3 * ti->c * tid);
}

/* Runs net->steps[0, ns) with the calling team (every thread calls it). */
static void run_steps(sgd_net *net, const sgd_nn_ops *K, size_t ns, int bwd, const float *x,
                      float *buffers, int train, size_t n, int inblock)
{
    size_t nch = (n + NN_CHUNK - 1) / NN_CHUNK;
    int tid = omp_get_thread_num();
    const nn_step *st = net->steps;
    for (size_t s0 = 0; s0 < ns;) {
        size_t s1 = s0;
        while (s1 < ns && !is_sync(st[s1].what)) s1++;
        if (s1 > s0) {
#pragma omp for schedule(static) nowait
            for (size_t c = net->c0; c < net->c1; c++) {
                size_t i0 = c * NN_CHUNK, cnt = n - i0 < NN_CHUNK ? n - i0 : NN_CHUNK;
                /* a one-thread team: the kernels' loops cover this chunk */
#pragma omp parallel num_threads(1)
                for (size_t q = s0; q < s1; q++)
                    if (bwd) bwd_chunk(net, K, &st[q], x, i0, cnt, c, nch, tid, inblock);
                    else fwd_chunk(net, K, &st[q], x, i0, cnt, tid);
            }
        }
        if (s1 < ns) {
#pragma omp barrier
            if (net->spl && (bwd || train)) {   /* every chunk's BN partials */
#pragma omp master
                nn_split_rows(net, net->ops[st[s1].op].part,
                              (bwd ? 2 : 3) * sizeof(double) * (size_t)net->ts[net->ops[st[s1].op].in].c, n);
#pragma omp barrier
            }
            sync_step(net, K, &st[s1], x, buffers, train, n, tid);
            s1++;
        }
        s0 = s1;
    }
}

/* Direct conv weight gradients of the backward run [i, j): the chunk slots
 * (all ranks' in a split run) summed in chunk order (after a barrier; every
 * thread calls it). */
static void dw_reduce(sgd_net *net, size_t i, size_t j, size_t n)
{
    size_t nch = (n + NN_CHUNK - 1) / NN_CHUNK;
    if (net->spl) {
#pragma omp master
        for (size_t t = i; t < j; t++)
            if (net->ops[t].type == OP_CONV) {
                size_t wb = sizeof(float) * wsize(net, &net->ops[t]);
                sgd_dist_share_chunks(net->dwslot + net->ops[t].slot, nch, wb, nch * wb);
            }
#pragma omp barrier
    }
    for (size_t t = i; t < j; t++) {
        const nn_op *op = &net->ops[t];
        if (op->type != OP_CONV) continue;
        size_t wsz = wsize(net, op);
        nn_chunk_sum(net->dwslot + op->slot, wsz, nch, wsz, net->gradp + op->w, 1);
    }
}

const float *sgd_net_logits(const sgd_net *net)
{
    return net->blocks[net->ts[net->logits].block].data;
}

int sgd_net_run(sgd_net *net, const float *x, float *buffers, int mode, const float *input,
                const int32_t *labels, size_t n, double *loss, float *grad, size_t *correct)
{
    if (!net || !x || !input || !labels || n == 0)
        return sgd_error(SGD_EINVAL, "sgd_net_run: missing argument or empty batch");
    int train = mode == SGD_NN_TRAIN;
    if (!train && net->nbuf && !buffers)
        return sgd_error(SGD_EINVAL, "sgd_net_run: eval mode needs the BN running statistics");
    for (size_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= net->classes)
            return sgd_error(SGD_EINVAL, "label %d of image %zu outside [0, %d)", (int)labels[i], i,
                             net->classes);
    int rc = nn_reserve(net, n);   /* n > 0: net_plan.c's ensure */
    if (!rc) rc = nn_split_begin(net, n);
    /* split: an allocation that failed on one rank (out of memory) must end
     * every rank here, not leave the others in the batch's first exchange */
    if (net->split) rc = sgd_dist_agree(rc);
    if (rc) return rc;
    net->gradp = grad;

    const sgd_nn_ops *K = &nn_cpu_ops;
    nn_view in = nn_data(net, net->input);
    memcpy(in.d, input, sizeof(float) * in.ns * n);
    for (size_t i = 0; i < net->nops;) {
        size_t j = i;
        while (j < net->nops && team_op(net, j)) j++;
        if (j == i) {
            fwd_op(net, K, i++, x, n);
            continue;
        }
        for (size_t t = i; t < j; t++) nn_split_wrote(net, net->ops[t].out, 0, 0);
        size_t ns = fwd_steps(net, i, j, train);
#pragma omp parallel
        {
            nn_in_team = 1;
            run_steps(net, K, ns, 0, x, buffers, train, n, -1);
            nn_in_team = 0;
        }
        i = j;
    }
    nn_split_need(net, net->logits, 0, n);   /* the loss on the whole batch */
    nn_view lg = nn_data(net, net->logits), dlg = nn_grad(net, net->logits);
    double L = nn_softmax_ce(lg.d, lg.ns, labels, n, net->classes, grad ? dlg.d : NULL, dlg.ns, correct);
    if (loss) *loss = L;
    if (!grad) return SGD_OK;
    nn_split_wrote(net, net->logits, 1, 1);

    memset(grad, 0, sizeof(float) * net->p);
    int inblock = net->ts[net->input].block;
    if (net->gclear)   /* plan_grads */
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < net->nblocks; i++)
            if (net->gclear[i])
                memset(net->blocks[i].grad, 0, sizeof(float) * net->blocks[i].per_sample * n);
    for (size_t j = net->nops; j > 0;) {
        size_t top = j - 1;
        if (net->ts[net->ops[top].in].remat) {
            /* the input was not kept (models.c, bnrelu_remat): recompute it
             * from its BN's input and saved statistics, and clear its
             * gradient, whose storage the later layers' backward used */
            const nn_op *op = &net->ops[top], *p = &net->ops[net->ts[op->in].remat - 1];
            nn_view pin = nn_data(net, p->in), a = nn_data(net, op->in), da = nn_grad(net, op->in);
            size_t i0, i1;
            nn_split_samples(net, n, &i0, &i1);
            if (i1 > i0) {   /* this rank's samples (all when not split) */
                nn_view p0 = at(pin, i0), a0 = at(a, i0);
                K->bn_apply(&p0, x + p->w, x + p->b, p->relu, i1 - i0, p->mean, p->invstd, &a0);
            }
            nn_split_wrote(net, op->in, 0, 0);
            K->zero(&da, n);
        }
        if (!team_op(net, top)) {
            rc = bwd_op(net, K, top, x, n, inblock);
            if (rc) return rc;
            j = top;
            continue;
        }
        /* a run [i, j); a rematerialised input only at its top */
        size_t i = top;
        while (i > 0 && team_op(net, i - 1) && !net->ts[net->ops[i - 1].in].remat) i--;
        for (size_t t = i; t < j; t++) {
            nn_split_wrote(net, net->ops[t].in, 1, 0);
            if (net->ops[t].type == OP_ADD) nn_split_wrote(net, net->ops[t].in2, 1, 0);
        }
        size_t ns = bwd_steps(net, i, j, inblock);
#pragma omp parallel
        {
            nn_in_team = 1;
            run_steps(net, K, ns, 1, x, NULL, train, n, inblock);
#pragma omp barrier
            dw_reduce(net, i, j, n);
            nn_in_team = 0;
        }
        j = i;
    }
    return SGD_OK;
}

static int all_finite(const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return 0;
    return 1;
}

/* ---- the flat loss/gradient function ----------------------------------- */
int sgd_net_loss_grad(sgd_net *net, const float *x, const float *buffers, int mode,
                      sgd_data_loader *L, uint64_t epoch, size_t first, size_t k, double *loss,
                      double *grad, double *acc)
{
    size_t nb = sgd_data_loader_batches(L);
    if (k == 0) {
        if (first >= nb) return sgd_error(SGD_EINVAL, "first batch %zu beyond the %zu batches", first, nb);
        k = nb - first;
    }
    if (first + k > nb)
        return sgd_error(SGD_EINVAL, "asked for batches %zu..%zu but an epoch has %zu", first,
                         first + k - 1, nb);
    const sgd_dataset *d = L->d;
    if (d->c != net->in_c || d->h != net->in_h || d->w != net->in_w)
        return sgd_error(SGD_EINVAL, "data %dx%dx%d does not match the model input %dx%dx%d", d->c,
                         d->h, d->w, net->in_c, net->in_h, net->in_w);
    size_t B = L->o.batch, per = (size_t)d->c * d->h * d->w;
    float *xb = malloc(sizeof(float) * B * per);
    int32_t *yb = malloc(sizeof(int32_t) * B);
    float *g = grad ? malloc(sizeof(float) * net->p) : NULL;
    if (!xb || !yb || (grad && !g)) {
        free(xb);
        free(yb);
        free(g);
        return sgd_error(SGD_ENOMEM, "out of memory");
    }
    if (grad) memset(grad, 0, sizeof(double) * net->p);
    double ls = 0;
    size_t hits = 0, seen = 0;
    int rc = SGD_OK;
    for (size_t b = first; b < first + k && !rc; b++) {
        size_t cnt = 0, cor = 0;
        double l = 0;
        rc = sgd_data_loader_batch(L, epoch, b, xb, yb, &cnt);
        if (!rc)
            rc = sgd_net_run(net, x, mode == SGD_NN_TRAIN ? NULL : (float *)buffers, mode, xb, yb, cnt,
                             &l, g, &cor);
        if (rc) break;
        if (!isfinite(l) || (g && !all_finite(g, net->p))) {
            char where[64];
            snprintf(where, sizeof where, "batch %zu", b);
            rc = nn_nonfinite(net, x, cnt, l, where, NULL);
            break;
        }
        ls += l;
        hits += cor;
        seen += cnt;
        if (grad)
            for (size_t i = 0; i < net->p; i++) grad[i] += g[i];
    }
    if (!rc) {
        if (grad)
            for (size_t i = 0; i < net->p; i++) grad[i] /= (double)k;
        if (loss) *loss = ls / (double)k;
        if (acc) *acc = seen ? (double)hits / (double)seen : 0;
    }
    free(xb);
    free(yb);
    free(g);
    return rc;
}
