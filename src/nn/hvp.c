/* Exact Hessian-vector products (hvp.h): an executor of the op tape in
 * float64 (the default) or float32 (sgd_net_set_hvp_precision), separate
 * from the training engine (net_exec.c); one code for both precisions
 * (hvp_exec.h, hvp_layers_impl.h), compiled per kernel variant
 * (hvp_kern.c). This file holds the storage and the entry points.
 *
 * One call walks the tape forward with R-forward beside it (every
 * activation a and R{a}), takes the loss with its gradient and R of its
 * gradient, and walks back with R-backward beside backward (every
 * activation gradient g and R{g}, and the parameter gradient and its R,
 * which is H v).
 *
 * Storage mirrors the engine's blocks (hvp_layers.h's views): a tensor is
 * a view of a block, so DenseNet's concatenations are channel slices here
 * too, and gradients of overlapping views add up in the block. Tensors the
 * float32 engine rematerialises (models.c, bnrelu_remat: DenseNet's
 * bottleneck and transition inputs) share one block here too and are
 * recomputed, with their R, when backward reaches their consumer. Per
 * block four arrays (a, R{a}, g, R{g}) of the precision's element: 8 (4 in
 * float32) times the engine's activation memory, kept in net->hvp between
 * calls and rebuilt when the precision changes. */
#include "sgdscape/hvp.h"

#include "core/isa.h"
#include "nn/hvp_internal.h"
#include "sgdscape/error.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void nn_hvp_free(sgd_net *net)
{
    struct nn_hvp_state *S = net->hvp;
    if (!S) return;
    if (S->arr)
        for (size_t i = 0; i < A_KINDS * S->nblk; i++) free(S->arr[i]);
    free(S->arr);
    free(S->per);
    free(S->tblk);
    free(S->toff);
    free(S->soff);
    free(S->stat);
    free(S->scratch);
    free(S->wpart);
    free(S->xw);
    free(S->vw);
    free(S->hw);
    free(S->gw);
    free(S);
    net->hvp = NULL;
}

static int oom(sgd_net *net, const char *what, size_t n)
{
    nn_hvp_free(net);
    return sgd_error(SGD_ENOMEM, "Hessian-vector product: out of memory for %s (batch of %zu)", what, n);
}

/* The structure: blocks, tensor views, BN statistics (once per net and
 * precision). */
static int layout(sgd_net *net, int bits)
{
    struct nn_hvp_state *S = calloc(1, sizeof *S);
    if (!S) return SGD_ENOMEM;
    net->hvp = S;
    S->bits = bits;
    S->esz = bits == 32 ? sizeof(float) : sizeof(double);
    size_t nt = net->nts, nb = net->nblocks;
    int *map = malloc(sizeof(int) * (nb ? nb : 1));
    S->per = malloc(sizeof(size_t) * (nb ? nb : 1));
    S->tblk = malloc(sizeof(int) * (nt ? nt : 1));
    S->toff = malloc(sizeof(size_t) * (nt ? nt : 1));
    S->soff = malloc(sizeof(size_t) * (net->nops ? net->nops : 1));
    if (!map || !S->per || !S->tblk || !S->toff || !S->soff) {
        free(map);
        return SGD_ENOMEM;
    }
    for (size_t b = 0; b < nb; b++) map[b] = -1;
    for (size_t t = 0; t < nt; t++) {
        const nn_tensor *T = &net->ts[t];
        if (map[T->block] < 0) {
            map[T->block] = (int)S->nblk;
            S->per[S->nblk++] = net->blocks[T->block].per_sample;
        }
        S->tblk[t] = map[T->block];
        S->toff[t] = T->off;
    }
    free(map);
    size_t ns = 0;
    for (size_t i = 0; i < net->nops; i++) {
        S->soff[i] = ns;
        if (net->ops[i].type == OP_BN) ns += 4 * (size_t)net->ts[net->ops[i].in].c;
    }
    S->stat = malloc(sizeof(double) * (ns ? ns : 1));
    S->arr = calloc(A_KINDS * S->nblk, sizeof(void *));
    size_t pb = S->esz * (net->p ? net->p : 1);
    if (bits == 64) {
        S->xw = malloc(pb);
    } else {
        S->vw = malloc(pb);
        S->hw = malloc(pb);
    }
    S->gw = malloc(pb);
    int ok = bits == 64 ? S->xw != NULL : S->vw && S->hw;
    return S->stat && S->arr && ok && S->gw ? SGD_OK : SGD_ENOMEM;
}

/* Storage for a batch of n in the net's precision with the current thread
 * count. */
static int ensure(sgd_net *net, size_t n)
{
    int bits = net->hvp_bits == 32 ? 32 : 64;
    if (net->hvp && net->hvp->bits != bits) nn_hvp_free(net);
    if (!net->hvp && layout(net, bits)) return oom(net, "its layout", n);
    struct nn_hvp_state *S = net->hvp;
    if (n > S->cap) {
        S->cap = 0;
        for (size_t b = 0; b < S->nblk; b++)
            for (int k = 0; k < A_KINDS; k++) {
                void **a = &S->arr[k * S->nblk + b];
                free(*a);
                *a = malloc(S->esz * S->per[b] * n);
                if (!*a) return oom(net, "activations", n);
            }
        S->cap = n;
    }
    size_t sl = 0, wl = 0;
    for (size_t i = 0; i < net->nops; i++) {
        const nn_op *op = &net->ops[i];
        const nn_tensor *ti = &net->ts[op->in], *to = &net->ts[op->out];
        size_t win = (size_t)ti->c * ti->h * ti->w;
        if (op->type == OP_CONV) {
            size_t s = hv_conv_scratch(ti->c, op->k, to->h, to->w);
            sl = s > sl ? s : sl;
            win = (size_t)ti->c * op->k * op->k;
        } else if (op->type != OP_LINEAR)
            continue;
        size_t w = hv_wpart(n, win * (size_t)to->c);
        wl = w > wl ? w : wl;
    }
    int nthr = omp_get_max_threads();
    if (nthr > S->nthr || sl > S->sl) {
        free(S->scratch);
        S->nthr = 0;
        S->scratch = malloc(S->esz * (sl ? sl : 1) * (size_t)nthr);
        if (!S->scratch) return oom(net, "convolution columns", n);
        S->nthr = nthr;
        S->sl = sl;
    }
    if (wl > S->wpart_len) {
        free(S->wpart);
        S->wpart_len = 0;
        S->wpart = malloc(S->esz * wl);
        if (!S->wpart) return oom(net, "weight-gradient partials", n);
        S->wpart_len = wl;
    }
    return SGD_OK;
}

/* The checks of both entry points: arguments, labels, BN buffers. */
static int check_args(const sgd_net *net, int mode, const float *buffers, const int32_t *labels, size_t n)
{
    if (mode != SGD_NN_TRAIN && mode != SGD_NN_EVAL)
        return sgd_error(SGD_EINVAL, "Hessian-vector product: mode %d is neither train nor eval", mode);
    if (mode == SGD_NN_EVAL && net->nbuf && !buffers)
        return sgd_error(SGD_EINVAL, "Hessian-vector product: eval mode needs the BN running statistics");
    for (size_t i = 0; labels && i < n; i++)
        if (labels[i] < 0 || labels[i] >= net->classes)
            return sgd_error(SGD_EINVAL, "label %d of image %zu outside [0, %d)", (int)labels[i], i, net->classes);
    return SGD_OK;
}

int nn_hvp(sgd_net *net, const double *x, const float *buffers, int mode, const float *input,
           const int32_t *labels, size_t n, const double *v, double *hv, double *loss, double *grad)
{
    if (!net || !x || !input || !labels || n == 0 || !v != !hv)
        return sgd_error(SGD_EINVAL, "Hessian-vector product: missing argument or empty batch");
    if (net->hvp_bits == 32)
        return sgd_error(SGD_EINVAL, "Hessian-vector product: float64 weights given to the float32 executor");
    int rc = check_args(net, mode, buffers, labels, n);
    if (rc || (rc = ensure(net, n))) return rc;
    return sgd_kern()->hvp_run64(net, x, buffers, mode == SGD_NN_TRAIN, input, labels, n, v, hv, loss, grad);
}

int sgd_net_set_hvp_precision(sgd_net *net, int bits)
{
    if (!net) return sgd_error(SGD_EINVAL, "sgd_net_set_hvp_precision: no network");
    if (bits != 32 && bits != 64)
        return sgd_error(SGD_EINVAL, "Hessian-vector precision %d: 64 (float64) or 32 (float32)", bits);
    net->hvp_bits = bits;
    return SGD_OK;
}

/* Storage for batches of up to n, and the operands in the net's precision,
 * once per call: float64 widens x, float32 rounds v to float. */
static int hvp_prepare(sgd_net *net, const float *x, const double *v, size_t n)
{
    int rc = ensure(net, n);
    if (rc) return rc;
    struct nn_hvp_state *S = net->hvp;
    if (S->bits == 64) {
        double *xd = S->xw;
        for (size_t i = 0; i < net->p; i++) xd[i] = x[i];
    } else {
        float *vf = S->vw;
        for (size_t i = 0; i < net->p; i++) vf[i] = (float)v[i];
    }
    return SGD_OK;
}

/* One batch after hvp_prepare, with float64 v, H v and gradient on both
 * sides: float32 widens H v and the gradient. */
static int hvp_batch(sgd_net *net, const float *x, const float *buffers, int mode, const float *input,
                     const int32_t *labels, size_t n, const double *v, double *hv, double *loss, double *grad)
{
    struct nn_hvp_state *S = net->hvp;
    int train = mode == SGD_NN_TRAIN;
    size_t p = net->p;
    if (S->bits == 64)
        return sgd_kern()->hvp_run64(net, S->xw, buffers, train, input, labels, n, v, hv, loss, grad);
    float *hf = S->hw, *gf = S->gw;
    int rc = sgd_kern()->hvp_run32(net, x, buffers, train, input, labels, n, S->vw, hf, loss, grad ? gf : NULL);
    for (size_t i = 0; i < p; i++) hv[i] = hf[i];
    if (grad)
        for (size_t i = 0; i < p; i++) grad[i] = gf[i];
    return rc;
}

int sgd_net_hvp(sgd_net *net, const float *x, const float *buffers, int mode, const float *input,
                const int32_t *labels, size_t n, const double *v, double *hv, double *loss, double *grad)
{
    if (!net || !x || !v || !hv || !input || !labels || n == 0)
        return sgd_error(SGD_EINVAL, "sgd_net_hvp: missing argument or empty batch");
    int rc = check_args(net, mode, buffers, labels, n);
    if (!rc) rc = hvp_prepare(net, x, v, n);
    return rc ? rc : hvp_batch(net, x, buffers, mode, input, labels, n, v, hv, loss, grad);
}

int sgd_net_loss_hvp(sgd_net *net, const float *x, const float *buffers, int mode, sgd_data_loader *L,
                     uint64_t epoch, size_t first, size_t k, const double *v, double *hv, double *loss)
{
    if (!net || !x || !L || !v || !hv) return sgd_error(SGD_EINVAL, "sgd_net_loss_hvp: missing argument");
    size_t nb = sgd_data_loader_batches(L);
    if (k == 0) {
        if (first >= nb) return sgd_error(SGD_EINVAL, "first batch %zu beyond the %zu batches", first, nb);
        k = nb - first;
    }
    if (first + k > nb)
        return sgd_error(SGD_EINVAL, "asked for batches %zu..%zu but an epoch has %zu", first, first + k - 1, nb);
    const sgd_dataset *d = L->d;
    if (d->c != net->in_c || d->h != net->in_h || d->w != net->in_w)
        return sgd_error(SGD_EINVAL, "data %dx%dx%d does not match the model input %dx%dx%d", d->c, d->h, d->w,
                         net->in_c, net->in_h, net->in_w);
    size_t B = L->o.batch, per = (size_t)d->c * d->h * d->w;
    int rc = check_args(net, mode, buffers, NULL, 0);
    if (!rc) rc = hvp_prepare(net, x, v, B);
    if (rc) return rc;
    float *xb = malloc(sizeof(float) * B * per);
    int32_t *yb = malloc(sizeof(int32_t) * B);
    double *hb = malloc(sizeof(double) * (net->p ? net->p : 1));
    if (!xb || !yb || !hb) {
        free(xb);
        free(yb);
        free(hb);
        return sgd_error(SGD_ENOMEM, "out of memory");
    }
    memset(hv, 0, sizeof(double) * net->p);
    double ls = 0;
    for (size_t b = first; b < first + k && !rc; b++) {
        size_t cnt = 0;
        double l = 0;
        rc = sgd_data_loader_batch(L, epoch, b, xb, yb, &cnt);
        if (!rc) rc = check_args(net, mode, buffers, yb, cnt);
        if (!rc) rc = hvp_batch(net, x, buffers, mode, xb, yb, cnt, v, hb, &l, NULL);
        if (rc == SGD_EDIVERGED) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", sgd_errmsg());
            rc = sgd_error(rc, "batch %zu: %s", b, msg);
        }
        if (rc) break;
        ls += l;
        for (size_t i = 0; i < net->p; i++) hv[i] += hb[i];
    }
    if (!rc) {
        for (size_t i = 0; i < net->p; i++) hv[i] /= (double)k;
        if (loss) *loss = ls / (double)k;
    }
    free(xb);
    free(yb);
    free(hb);
    return rc;
}
