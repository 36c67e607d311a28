/* The plan of a network's runs: what depends on its structure only (which
 * convolutions the small-channel kernels take, which activation gradients
 * backward stores instead of adding, the step list), decided on the first
 * run, and the storage a run of n samples needs (ensure), grown on demand.
 * The executor that follows the plan is net_exec.c. */
#include "nn/nn_internal.h"
#include "sgdscape/error.h"

#include <stdarg.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* SGD_ENOMEM naming the buffer and its size, so a failed run says what it
 * tried (a batch or thread count too large, usually). */
static int oom(size_t bytes, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int oom(size_t bytes, const char *fmt, ...)
{
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return sgd_error(SGD_ENOMEM, "network: out of memory for %s (%zu bytes)", what, bytes);
}

/* Does the backend's small-channel convolution take conv op `op`? */
static int small_conv(const sgd_nn_ops *K, const nn_op *op, const nn_view *in, const nn_view *out)
{
    return K->conv_small_ok &&
           K->conv_small_ok(in->c, out->c, in->h, in->w, op->k, op->stride, op->pad);
}

/* Does op write its input's (in2's when second) gradient in backward? */
static int writes_grad(const sgd_net *net, const nn_op *op, int second, int inblock)
{
    if (op->type == OP_ADD) return 1;   /* both inputs, always */
    return !second && net->ts[op->in].block != inblock;
}

/* Which gradients backward stores into instead of adding (op->over_in,
 * over_in2) and which blocks must be zeroed first (net->gclear, NULL when
 * none). The first writer of a tensor's gradient in backward order (its
 * last consumer) overwrites when the tensor is alone in its block (views of
 * a shared block, DenseNet's concatenations and rematerialised tensors,
 * overlap: those blocks are zeroed as before). Saves zeroing all activation
 * gradients (~25 MB per step for the tiny ResNet, 8% of its step). */
static int plan_grads(sgd_net *net)
{
    size_t nb = net->nblocks, nt = net->nts;
    int inblock = net->ts[net->input].block;
    /* The input's gradient is never computed (no dx for it) unless a
     * residual add reads the input directly; then it is cleared too. */
    int in_add = 0;
    for (size_t i = 0; i < net->nops; i++)
        if (net->ops[i].type == OP_ADD && (net->ts[net->ops[i].in].block == inblock ||
                                           net->ts[net->ops[i].in2].block == inblock))
            in_add = 1;
    int *cnt = calloc(nb + nt, sizeof(int)), *seen = cnt + nb;
    free(net->gclear);
    net->gclear = malloc(nb ? nb : 1);
    if (!cnt || !net->gclear) {
        free(cnt);
        return oom((nb + nt) * sizeof(int) + nb, "the gradient plan");
    }
    for (size_t t = 0; t < nt; t++) cnt[net->ts[t].block]++;
    for (size_t i = net->nops; i-- > 0;) {
        nn_op *op = &net->ops[i];
        op->over_in = op->over_in2 = 0;
        for (int sec = 0; sec < 2; sec++) {
            if (!writes_grad(net, op, sec, inblock)) continue;
            int t = sec ? op->in2 : op->in;
            int o = cnt[net->ts[t].block] == 1 && !seen[t];
            seen[t] = 1;
            if (sec) op->over_in2 = o;
            else op->over_in = o;
        }
    }
    int lb = net->ts[net->logits].block;
    for (size_t b = 0; b < nb; b++) net->gclear[b] = (int)b != lb && ((int)b != inblock || in_add);
    for (size_t t = 0; t < nt; t++)
        if (cnt[net->ts[t].block] == 1 && seen[t]) net->gclear[net->ts[t].block] = 0;
    free(cnt);
    size_t nclear = 0;
    for (size_t b = 0; b < nb; b++) nclear += net->gclear[b];
    if (!nclear) {   /* none for the ResNets: sgd_net_run saves a parallel region */
        free(net->gclear);
        net->gclear = NULL;
    }
    return SGD_OK;
}

/* What depends on the network's structure (and the environment) only,
 * decided on the first run: which convolutions the small-channel kernels
 * take (the executor asks for every op of every step), the gradient plan
 * and the executor's step list, allocated last (it marks the net planned). */
static int plan(sgd_net *net)
{
    for (size_t i = 0; i < net->nops; i++) {
        nn_op *op = &net->ops[i];
        if (op->type != OP_CONV) continue;
        nn_view a = nn_data(net, op->in), y = nn_data(net, op->out);
        op->small = small_conv(&nn_cpu_ops, op, &a, &y);
    }
    int rc = plan_grads(net);
    if (rc) return rc;
    net->steps = malloc(sizeof(nn_step) * (3 * net->nops + 1));
    if (!net->steps) return oom(sizeof(nn_step) * (3 * net->nops + 1), "the step list");
    return SGD_OK;
}

void nn_free_scratch(sgd_net *net)
{
    if (net->scratch)
        for (int i = 0; i < net->nscratch; i++) free(net->scratch[i]);
    free(net->scratch);
    net->scratch = NULL;
    net->nscratch = 0;
    free(net->full);   /* net_split.c's, made again when needed */
    net->full = NULL;
}

/* Per-thread storage for nt threads: convolution scratch (its size depends
 * on the shapes only) and the BN statistics and dx coefficient copies (the
 * executor's combine steps run on every thread: one barrier). nscratch
 * stays 0 until all of it is there. */
static int alloc_threads(sgd_net *net, int nt)
{
    nn_free_scratch(net);
    size_t sl = 0;
    for (size_t i = 0; i < net->nops; i++) {
        nn_op *op = &net->ops[i];
        const nn_tensor *ti = &net->ts[op->in], *to = &net->ts[op->out];
        if (op->type == OP_BN) {
            size_t C = (size_t)ti->c;
            free(op->coef);
            free(op->tstat);
            op->coef = malloc(sizeof(float) * 3 * C * (size_t)nt);
            op->tstat = malloc(sizeof(double) * 2 * C * (size_t)nt);
            if (!op->coef || !op->tstat)
                return oom((sizeof(float) * 3 + sizeof(double) * 2) * C * (size_t)nt,
                           "per-thread BN statistics of %s for %d threads", op->name, nt);
        }
        if (op->type != OP_CONV) continue;
        size_t s = nn_conv_scratch(ti->c, op->k, to->h, to->w);
        if (op->small) {
            size_t d = nn_cpu_ops.conv_small_scratch(ti->c, to->c, ti->h, ti->w, op->k, op->stride,
                                                     op->pad);
            if (d > s) s = d;
        }
        if (s > sl) sl = s;
    }
    net->scratch = calloc((size_t)nt, sizeof(float *));
    if (!net->scratch) return oom(sizeof(float *) * (size_t)nt, "the scratch table of %d threads", nt);
    net->nscratch = nt;
    for (int i = 0; i < nt; i++) {
        net->scratch[i] = malloc(sizeof(float) * (sl ? sl : 1));
        if (!net->scratch[i]) {
            nn_free_scratch(net);
            return oom(sizeof(float) * (sl ? sl : 1) * (size_t)nt, "convolution scratch of %d threads", nt);
        }
    }
    return SGD_OK;
}

static int ensure(sgd_net *net, size_t n)
{
    int nt = omp_get_max_threads(), rc;
    if (!net->steps && (rc = plan(net))) return rc;
    if (n > net->cap) {
        net->cap = 0;
        for (size_t i = 0; i < net->nblocks; i++) {
            nn_block *b = &net->blocks[i];
            free(b->data);
            free(b->grad);
            b->data = malloc(sizeof(float) * b->per_sample * n);
            b->grad = malloc(sizeof(float) * b->per_sample * n);
            if (!b->data || !b->grad)
                return oom(2 * sizeof(float) * b->per_sample * n,
                           "activations and their gradients, block %zu, batch of %zu", i, n);
        }
        /* BN per-sample partials for the batch */
        for (size_t i = 0; i < net->nops; i++) {
            nn_op *op = &net->ops[i];
            if (op->type != OP_BN) continue;
            free(op->part);
            op->part = malloc(sizeof(double) * 3 * (size_t)net->ts[op->in].c * n);
            if (!op->part)
                return oom(sizeof(double) * 3 * (size_t)net->ts[op->in].c * n,
                           "BN partial sums of %s, batch of %zu", op->name, n);
        }
        net->cap = n;
    }
    if (nt > net->nscratch && (rc = alloc_threads(net, nt))) return rc;
    /* direct conv dW: one slot per chunk and one per thread (net_exec.c's
     * chunked executor), per op */
    size_t nch = (n + NN_CHUNK - 1) / NN_CHUNK, dl = 0, wl = 0;
    for (size_t i = 0; i < net->nops; i++) {
        nn_op *op = &net->ops[i];
        if (op->type != OP_CONV) continue;
        const nn_tensor *ti = &net->ts[op->in], *to = &net->ts[op->out];
        /* + a spare dW: net_exec.c's split runs */
        size_t w = nn_conv_wpart(n, ti->c, to->c, op->k) + (size_t)to->c * ti->c * op->k * op->k;
        if (w > wl) wl = w;
        if (!op->small) continue;
        op->slot = dl;
        dl += (nch + (size_t)nt) * (size_t)to->c * ti->c * op->k * op->k;
    }
    if (dl > net->dwslot_len) {
        free(net->dwslot);
        net->dwslot = malloc(sizeof(float) * dl);
        net->dwslot_len = net->dwslot ? dl : 0;
        if (!net->dwslot) return oom(sizeof(float) * dl, "convolution weight-gradient slots, batch of %zu", n);
    }
    if (wl > net->wpart_len) {
        free(net->wpart);
        net->wpart = malloc(sizeof(float) * wl);
        if (!net->wpart) {
            net->wpart_len = 0;
            return oom(sizeof(float) * wl, "convolution weight-gradient partials, batch of %zu", n);
        }
        net->wpart_len = wl;
    }
    return SGD_OK;
}

int nn_reserve(sgd_net *net, size_t n) { return n ? ensure(net, n) : SGD_OK; }
