/* Exact Hessian-vector products (hvp.h): a float64 executor of the op tape,
 * separate from the float32 one (net_exec.c). One call walks the tape
 * forward with R-forward beside it (every activation a and R{a}), takes
 * the loss with its gradient and R of its gradient, and walks back with
 * R-backward beside backward (every activation gradient g and R{g}, and
 * the parameter gradient and its R, which is H v). The kernels are in
 * hvp_layers.c.
 *
 * Storage mirrors the engine's blocks (hvp_layers.h's views): a tensor is
 * a view of a block, so DenseNet's concatenations are channel slices here
 * too, and gradients of overlapping views add up in the block. Tensors the
 * float32 engine rematerialises (models.c, bnrelu_remat: DenseNet's
 * bottleneck and transition inputs) share one block here too and are
 * recomputed, with their R, when backward reaches their consumer. Per
 * block four float64 arrays (a, R{a}, g, R{g}): 8 times the float32
 * engine's activation memory, kept in net->hvp between calls. */
#include "sgdscape/hvp.h"

#include "nn/hvp_layers.h"
#include "nn/nn_internal.h"
#include "sgdscape/error.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { A_VAL, A_RVAL, A_GRAD, A_RGRAD, A_KINDS };

struct nn_hvp_state {
    size_t nblk, cap;         /* blocks; batch capacity of their arrays */
    size_t *per;              /* per block: doubles per sample */
    double **arr;             /* per block and kind: A_KINDS * nblk arrays */
    int *tblk;                /* per tensor: its block here */
    size_t *toff;             /* per tensor: offset in the sample */
    size_t *soff;             /* per op: BN statistics offset in stat */
    double *stat;
    double *scratch;          /* nthr * sl: convolution columns */
    size_t sl;
    int nthr;
    double *wpart;            /* weight-gradient chunk partials */
    size_t wpart_len;
    double *xd, *gd;          /* float64 weights (sgd_net_hvp), gradient scratch */
};

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
    free(S->xd);
    free(S->gd);
    free(S);
    net->hvp = NULL;
}

static int oom(sgd_net *net, const char *what, size_t n)
{
    nn_hvp_free(net);
    return sgd_error(SGD_ENOMEM, "Hessian-vector product: out of memory for %s (batch of %zu)", what, n);
}

/* The structure: blocks, tensor views, BN statistics (once per net). */
static int layout(sgd_net *net)
{
    struct nn_hvp_state *S = calloc(1, sizeof *S);
    if (!S) return SGD_ENOMEM;
    net->hvp = S;
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
    S->arr = calloc(A_KINDS * S->nblk, sizeof(double *));
    S->xd = malloc(sizeof(double) * (net->p ? net->p : 1));
    S->gd = malloc(sizeof(double) * (net->p ? net->p : 1));
    return S->stat && S->arr && S->xd && S->gd ? SGD_OK : SGD_ENOMEM;
}

/* Storage for a batch of n with the current thread count. */
static int ensure(sgd_net *net, size_t n)
{
    if (!net->hvp && layout(net)) return oom(net, "its layout", n);
    struct nn_hvp_state *S = net->hvp;
    if (n > S->cap) {
        S->cap = 0;
        for (size_t b = 0; b < S->nblk; b++)
            for (int k = 0; k < A_KINDS; k++) {
                double **a = &S->arr[k * S->nblk + b];
                free(*a);
                *a = malloc(sizeof(double) * S->per[b] * n);
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
        S->scratch = malloc(sizeof(double) * (sl ? sl : 1) * (size_t)nthr);
        if (!S->scratch) return oom(net, "convolution columns", n);
        S->nthr = nthr;
        S->sl = sl;
    }
    if (wl > S->wpart_len) {
        free(S->wpart);
        S->wpart_len = 0;
        S->wpart = malloc(sizeof(double) * wl);
        if (!S->wpart) return oom(net, "weight-gradient partials", n);
        S->wpart_len = wl;
    }
    return SGD_OK;
}

/* View of tensor t in array kind k. */
static hv_view view(const sgd_net *net, int t, int k)
{
    const struct nn_hvp_state *S = net->hvp;
    const nn_tensor *T = &net->ts[t];
    int b = S->tblk[t];
    return (hv_view){S->arr[k * S->nblk + b] + S->toff[t], S->per[b], T->c, T->h, T->w};
}

/* Forward and R-forward of op i (rop: with R). */
static void fwd(sgd_net *net, size_t i, const double *x, const double *v, const float *buffers, int train,
                size_t n, int rop)
{
    struct nn_hvp_state *S = net->hvp;
    const nn_op *op = &net->ops[i];
    int fromin = net->ts[op->in].block == net->ts[net->input].block;
    hv_view a = view(net, op->in, A_VAL), ra = view(net, op->in, A_RVAL);
    hv_view y = view(net, op->out, A_VAL), ry = view(net, op->out, A_RVAL);
    hv_view *RA = rop ? &ra : NULL, *RY = rop ? &ry : NULL, *RX = rop && !fromin ? &ra : NULL;
    switch (op->type) {
    case OP_CONV:
        hv_conv_fwd(&a, RX, x + op->w, v ? v + op->w : NULL, op->k, op->stride, op->pad, &y, RY, n,
                    S->scratch, S->sl);
        break;
    case OP_BN:
        hv_bn_fwd(&a, RA, x + op->w, x + op->b, v ? v + op->w : NULL, v ? v + op->b : NULL, op->relu, train,
                  buffers ? buffers + op->rm : NULL, buffers ? buffers + op->rv : NULL, S->stat + S->soff[i],
                  &y, RY, n);
        break;
    case OP_RELU: hv_relu_fwd(&a, RA, &y, RY, n); break;
    case OP_ADD: {
        hv_view b = view(net, op->in2, A_VAL), rb = view(net, op->in2, A_RVAL);
        hv_add_fwd(&a, &b, RA, rop ? &rb : NULL, op->relu, &y, RY, n);
        break;
    }
    case OP_LINEAR:
        hv_linear_fwd(&a, RX, x + op->w, x + op->b, v ? v + op->w : NULL, v ? v + op->b : NULL, &y, RY, n);
        break;
    /* parameter-free linear maps: R-forward is the same map of R{x} */
    case OP_AVGPOOL:
        hv_avgpool_fwd(&a, &y, n);
        if (rop) hv_avgpool_fwd(&ra, &ry, n);
        break;
    case OP_GAP:
        hv_gap_fwd(&a, &y, n);
        if (rop) hv_gap_fwd(&ra, &ry, n);
        break;
    case OP_PADSHORT:
        hv_padshort_fwd(&a, op->stride, op->pad, &y, n);
        if (rop) hv_padshort_fwd(&ra, op->stride, op->pad, &ry, n);
        break;
    }
}

/* Backward and R-backward of op i: parameter gradient into g, its R into hv. */
static void bwd(sgd_net *net, size_t i, const double *x, const double *v, int train, size_t n, double *g,
                double *hv)
{
    struct nn_hvp_state *S = net->hvp;
    const nn_op *op = &net->ops[i];
    int rop = v != NULL, fromin = net->ts[op->in].block == net->ts[net->input].block;
    hv_view a = view(net, op->in, A_VAL), ra = view(net, op->in, A_RVAL);
    hv_view da = view(net, op->in, A_GRAD), rda = view(net, op->in, A_RGRAD);
    hv_view y = view(net, op->out, A_VAL), dy = view(net, op->out, A_GRAD), rdy = view(net, op->out, A_RGRAD);
    hv_view *RA = rop ? &ra : NULL, *RX = rop && !fromin ? &ra : NULL, *RDY = rop ? &rdy : NULL;
    hv_view *DA = fromin ? NULL : &da, *RDA = rop && !fromin ? &rda : NULL;
    switch (op->type) {
    case OP_CONV:
        hv_conv_bwd(&a, RX, x + op->w, rop ? v + op->w : NULL, op->k, op->stride, op->pad, &dy, RDY, DA, RDA,
                    g + op->w, rop ? hv + op->w : NULL, n, S->scratch, S->sl, S->wpart);
        break;
    case OP_BN:
        hv_bn_bwd(&a, RA, x + op->w, rop ? v + op->w : NULL, op->relu, train, S->stat + S->soff[i], &y, &dy, RDY,
                  DA, RDA, g + op->w, g + op->b, rop ? hv + op->w : NULL, rop ? hv + op->b : NULL, n);
        break;
    case OP_RELU:
        if (DA) hv_relu_bwd(&y, &dy, RDY, DA, RDA, n);
        break;
    case OP_ADD: {
        hv_view db = view(net, op->in2, A_GRAD), rdb = view(net, op->in2, A_RGRAD);
        hv_add_bwd(&y, &dy, RDY, op->relu, DA, &db, RDA, rop ? &rdb : NULL, n);
        break;
    }
    case OP_LINEAR:
        hv_linear_bwd(&a, RX, x + op->w, rop ? v + op->w : NULL, &dy, RDY, DA, RDA, g + op->w, g + op->b,
                      rop ? hv + op->w : NULL, rop ? hv + op->b : NULL, n, S->wpart);
        break;
    case OP_AVGPOOL:
        if (!DA) break;
        hv_avgpool_bwd(&dy, DA, n);
        if (rop) hv_avgpool_bwd(&rdy, RDA, n);
        break;
    case OP_GAP:
        if (!DA) break;
        hv_gap_bwd(&dy, DA, n);
        if (rop) hv_gap_bwd(&rdy, RDA, n);
        break;
    case OP_PADSHORT:
        if (!DA) break;
        hv_padshort_bwd(&dy, op->stride, op->pad, DA, n);
        if (rop) hv_padshort_bwd(&rdy, op->stride, op->pad, RDA, n);
        break;
    }
}

static int all_finite(const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return 0;
    return 1;
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
    int rc = check_args(net, mode, buffers, labels, n);
    if (rc || (rc = ensure(net, n))) return rc;
    struct nn_hvp_state *S = net->hvp;
    int train = mode == SGD_NN_TRAIN, rop = v != NULL;
    double *g = grad ? grad : S->gd;
    hv_view in = view(net, net->input, A_VAL), rin = view(net, net->input, A_RVAL);
    for (size_t i = 0; i < n * in.ns; i++) in.d[i] = input[i];
    if (rop) memset(rin.d, 0, sizeof(double) * n * rin.ns);   /* the data does not move with x */
    for (size_t i = 0; i < net->nops; i++) fwd(net, i, x, v, train ? NULL : buffers, train, n, rop);

    /* every gradient accumulates: clear them (the loss stores its own) */
#pragma omp parallel for schedule(dynamic)
    for (size_t b = 0; b < S->nblk; b++) {
        memset(S->arr[A_GRAD * S->nblk + b], 0, sizeof(double) * S->per[b] * n);
        if (rop) memset(S->arr[A_RGRAD * S->nblk + b], 0, sizeof(double) * S->per[b] * n);
    }
    hv_view z = view(net, net->logits, A_VAL), rz = view(net, net->logits, A_RVAL);
    hv_view dz = view(net, net->logits, A_GRAD), rdz = view(net, net->logits, A_RGRAD);
    double L = hv_softmax_ce(&z, rop ? &rz : NULL, labels, n, net->classes, &dz, rop ? &rdz : NULL);
    memset(g, 0, sizeof(double) * net->p);
    if (rop) memset(hv, 0, sizeof(double) * net->p);
    for (size_t i = net->nops; i-- > 0;) {
        int r = net->ts[net->ops[i].in].remat;
        if (r) {   /* the input was not kept: recompute it and clear its gradients */
            fwd(net, (size_t)r - 1, x, v, train ? NULL : buffers, train, n, rop);
            for (int k = A_GRAD; k <= (rop ? A_RGRAD : A_GRAD); k++) {
                hv_view d = view(net, net->ops[i].in, k);
                for (size_t j = 0; j < n; j++) memset(hv_smp(&d, j), 0, sizeof(double) * d.c * d.h * d.w);
            }
        }
        bwd(net, i, x, v, train, n, g, hv);
    }
    if (loss) *loss = L;
    if (!isfinite(L) || !all_finite(g, net->p) || (rop && !all_finite(hv, net->p)))
        return sgd_error(SGD_EDIVERGED, "Hessian-vector product: %s is not finite (loss %g, batch of %zu)",
                         !isfinite(L) ? "the loss" : !all_finite(g, net->p) ? "the gradient" : "H v", L, n);
    return SGD_OK;
}

/* x in float64 (net->hvp's xd, which ensure allocates). */
static int widen(sgd_net *net, const float *x, size_t n)
{
    int rc = ensure(net, n);
    if (rc) return rc;
    for (size_t i = 0; i < net->p; i++) net->hvp->xd[i] = x[i];
    return SGD_OK;
}

int sgd_net_hvp(sgd_net *net, const float *x, const float *buffers, int mode, const float *input,
                const int32_t *labels, size_t n, const double *v, double *hv, double *loss, double *grad)
{
    if (!net || !x || !v || !hv || !input || !labels || n == 0)
        return sgd_error(SGD_EINVAL, "sgd_net_hvp: missing argument or empty batch");
    int rc = check_args(net, mode, buffers, labels, n);
    if (rc || (rc = widen(net, x, n))) return rc;
    return nn_hvp(net, net->hvp->xd, buffers, mode, input, labels, n, v, hv, loss, grad);
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
    int rc = widen(net, x, B);
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
        if (!rc) rc = nn_hvp(net, net->hvp->xd, buffers, mode, xb, yb, cnt, v, hb, &l, NULL);
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
