/* The Hessian-vector executor for one precision: the tape walked forward
 * with R-forward and back with R-backward (hvp.c describes it). Included
 * by hvp_kern.c after hvp_layers_impl.h, once per precision, with HV_REAL,
 * HV_VIEW and HV_NAME defined as for hvp_layers_decl.h, and HV_DNNL (1:
 * convolutions by the training engine's oneDNN primitives where they take
 * the shape, float32 only); it undefines them. No include guard on
 * purpose. */
/* View of tensor t in array kind k. */
static HV_VIEW HV_NAME(view)(const sgd_net *net, int t, int k)
{
    const struct nn_hvp_state *S = net->hvp;
    const nn_tensor *T = &net->ts[t];
    int b = S->tblk[t];
    return (HV_VIEW){(HV_REAL *)S->arr[k * S->nblk + b] + S->toff[t], S->per[b], T->c, T->h, T->w};
}

#if HV_DNNL
/* The R-operator of a convolution is made of plain convolutions, which the
 * engine's oneDNN primitives (dnnl.c) compute as they do in training, with
 * the same fixed pieces and chunks (so the bits do not depend on the
 * thread count): forward y = conv(x, W), R{y} = conv(x, R{W}) + conv(R{x},
 * W); backward dx += conv^T(dy, W), dW += dy * x, R{dx} += conv^T(R{dy},
 * W) + conv^T(dy, R{W}), R{dW} += R{dy} * x + dy * R{x}. */
static nn_view HV_NAME(nnv)(const HV_VIEW *v) { return (nn_view){v->d, v->ns, v->c, v->h, v->w, 0}; }

/* 1: y and ry written; 0: a primitive did not take the shape (the im2col
 * kernel then writes both). tmp: scratch the shape of y (the output's
 * R{g}, cleared before backward). */
static int HV_NAME(conv_fwd_dnnl)(sgd_net *net, size_t i, const HV_VIEW *x, const HV_VIEW *rx, const HV_REAL *w,
                                  const HV_REAL *rw, HV_VIEW *y, HV_VIEW *ry, HV_VIEW *tmp, size_t n)
{
    nn_view X = HV_NAME(nnv)(x), Y = HV_NAME(nnv)(y);
    if (!nn_dnnl_conv_fwd(net, i, &X, w, &Y, n)) return 0;
    if (!ry) return 1;
    nn_view RY = HV_NAME(nnv)(ry);
    if (!nn_dnnl_conv_fwd(net, i, &X, rw, &RY, n)) return 0;
    if (!rx) return 1;
    nn_view RX = HV_NAME(nnv)(rx), T = HV_NAME(nnv)(tmp);
    if (!nn_dnnl_conv_fwd(net, i, &RX, w, &T, n)) return 0;
    size_t m = (size_t)y->c * y->h * y->w;
#pragma omp parallel for schedule(static)
    for (size_t s = 0; s < n; s++) {
        HV_REAL *r = HV_NAME(hv_smp)(ry, s);
        const HV_REAL *t = HV_NAME(hv_smp)(tmp, s);
        for (size_t j = 0; j < m; j++) r[j] += t[j];
    }
    return 1;
}

/* 1: done; 0: the first primitive did not take the shape (nothing
 * written: the im2col kernel does it all); -1: a later one failed after
 * the first had accumulated. */
static int HV_NAME(conv_bwd_dnnl)(sgd_net *net, size_t i, const HV_VIEW *x, const HV_VIEW *rx, const HV_REAL *w,
                                  const HV_REAL *rw, const HV_VIEW *dy, const HV_VIEW *rdy, HV_VIEW *dx,
                                  HV_VIEW *rdx, HV_REAL *dw, HV_REAL *rdw, size_t n)
{
    nn_view X = HV_NAME(nnv)(x), DY = HV_NAME(nnv)(dy), DX = dx ? HV_NAME(nnv)(dx) : X;
    int r = nn_dnnl_conv_bwd(net, i, &X, w, &DY, dx ? &DX : NULL, dw, n);
    if (r <= 0 || !rdy) return r;
    nn_view RDY = HV_NAME(nnv)(rdy), RDX = rdx ? HV_NAME(nnv)(rdx) : X;
    if (nn_dnnl_conv_bwd(net, i, &X, w, &RDY, rdx ? &RDX : NULL, rdw, n) != 1) return -1;
    if (rdx && nn_dnnl_conv_bwd(net, i, &X, rw, &DY, &RDX, NULL, n) != 1) return -1;
    if (rx) {
        nn_view RX = HV_NAME(nnv)(rx);
        if (nn_dnnl_conv_bwd(net, i, &RX, w, &DY, NULL, rdw, n) != 1) return -1;
    }
    return 1;
}
#endif

/* Forward and R-forward of op i (rop: with R). */
static void HV_NAME(fwd)(sgd_net *net, size_t i, const HV_REAL *x, const HV_REAL *v, const float *buffers, int train,
                size_t n, int rop)
{
    struct nn_hvp_state *S = net->hvp;
    const nn_op *op = &net->ops[i];
    int fromin = net->ts[op->in].block == net->ts[net->input].block;
    HV_VIEW a = HV_NAME(view)(net, op->in, A_VAL), ra = HV_NAME(view)(net, op->in, A_RVAL);
    HV_VIEW y = HV_NAME(view)(net, op->out, A_VAL), ry = HV_NAME(view)(net, op->out, A_RVAL);
    HV_VIEW *RA = rop ? &ra : NULL, *RY = rop ? &ry : NULL, *RX = rop && !fromin ? &ra : NULL;
    switch (op->type) {
    case OP_CONV: {
#if HV_DNNL
        HV_VIEW tmp = HV_NAME(view)(net, op->out, A_RGRAD);
        if (HV_NAME(conv_fwd_dnnl)(net, i, &a, RX, x + op->w, v ? v + op->w : NULL, &y, RY, &tmp, n)) break;
#endif
        HV_NAME(hv_conv_fwd)(&a, RX, x + op->w, v ? v + op->w : NULL, op->k, op->stride, op->pad, &y, RY, n,
                    S->scratch, S->sl);
        break;
    }
    case OP_BN:
        HV_NAME(hv_bn_fwd)(&a, RA, x + op->w, x + op->b, v ? v + op->w : NULL, v ? v + op->b : NULL, op->relu, train,
                  buffers ? buffers + op->rm : NULL, buffers ? buffers + op->rv : NULL, S->stat + S->soff[i],
                  &y, RY, n);
        break;
    case OP_RELU: HV_NAME(hv_relu_fwd)(&a, RA, &y, RY, n); break;
    case OP_ADD: {
        HV_VIEW b = HV_NAME(view)(net, op->in2, A_VAL), rb = HV_NAME(view)(net, op->in2, A_RVAL);
        HV_NAME(hv_add_fwd)(&a, &b, RA, rop ? &rb : NULL, op->relu, &y, RY, n);
        break;
    }
    case OP_LINEAR:
        HV_NAME(hv_linear_fwd)(&a, RX, x + op->w, x + op->b, v ? v + op->w : NULL, v ? v + op->b : NULL, &y, RY, n);
        break;
    /* parameter-free linear maps: R-forward is the same map of R{x} */
    case OP_AVGPOOL:
        HV_NAME(hv_avgpool_fwd)(&a, &y, n);
        if (rop) HV_NAME(hv_avgpool_fwd)(&ra, &ry, n);
        break;
    case OP_GAP:
        HV_NAME(hv_gap_fwd)(&a, &y, n);
        if (rop) HV_NAME(hv_gap_fwd)(&ra, &ry, n);
        break;
    case OP_PADSHORT:
        HV_NAME(hv_padshort_fwd)(&a, op->stride, op->pad, &y, n);
        if (rop) HV_NAME(hv_padshort_fwd)(&ra, op->stride, op->pad, &ry, n);
        break;
    }
}

/* Backward and R-backward of op i: parameter gradient into g, its R into
 * hv. g NULL: the gradient is not wanted, and the convolutions skip their
 * dW (the other layers' small sums go to the state's scratch). An error
 * code (a oneDNN convolution that failed half-way). */
static int HV_NAME(bwd)(sgd_net *net, size_t i, const HV_REAL *x, const HV_REAL *v, int train, size_t n, HV_REAL *g,
                HV_REAL *hv)
{
    struct nn_hvp_state *S = net->hvp;
    const nn_op *op = &net->ops[i];
    int rop = v != NULL, fromin = net->ts[op->in].block == net->ts[net->input].block;
    HV_VIEW a = HV_NAME(view)(net, op->in, A_VAL), ra = HV_NAME(view)(net, op->in, A_RVAL);
    HV_VIEW da = HV_NAME(view)(net, op->in, A_GRAD), rda = HV_NAME(view)(net, op->in, A_RGRAD);
    HV_VIEW y = HV_NAME(view)(net, op->out, A_VAL), dy = HV_NAME(view)(net, op->out, A_GRAD), rdy = HV_NAME(view)(net, op->out, A_RGRAD);
    HV_VIEW *RA = rop ? &ra : NULL, *RX = rop && !fromin ? &ra : NULL, *RDY = rop ? &rdy : NULL;
    HV_VIEW *DA = fromin ? NULL : &da, *RDA = rop && !fromin ? &rda : NULL;
    HV_REAL *gs = g ? g : (HV_REAL *)S->gw;
    switch (op->type) {
    case OP_CONV: {
#if HV_DNNL
        int r = HV_NAME(conv_bwd_dnnl)(net, i, &a, RX, x + op->w, rop ? v + op->w : NULL, &dy, RDY, DA, RDA,
                                       g ? g + op->w : NULL, rop ? hv + op->w : NULL, n);
        if (r < 0) return sgd_error(SGD_EINVAL, "Hessian-vector product: oneDNN convolution failed (%s)", op->name);
        if (r) break;
#endif
        HV_NAME(hv_conv_bwd)(&a, RX, x + op->w, rop ? v + op->w : NULL, op->k, op->stride, op->pad, &dy, RDY, DA, RDA,
                    g ? g + op->w : NULL, rop ? hv + op->w : NULL, n, S->scratch, S->sl, S->wpart);
        break;
    }
    case OP_BN:
        HV_NAME(hv_bn_bwd)(&a, RA, x + op->w, rop ? v + op->w : NULL, op->relu, train, S->stat + S->soff[i], &y, &dy, RDY,
                  DA, RDA, gs + op->w, gs + op->b, rop ? hv + op->w : NULL, rop ? hv + op->b : NULL, n);
        break;
    case OP_RELU:
        if (DA) HV_NAME(hv_relu_bwd)(&y, &dy, RDY, DA, RDA, n);
        break;
    case OP_ADD: {
        HV_VIEW db = HV_NAME(view)(net, op->in2, A_GRAD), rdb = HV_NAME(view)(net, op->in2, A_RGRAD);
        HV_NAME(hv_add_bwd)(&y, &dy, RDY, op->relu, DA, &db, RDA, rop ? &rdb : NULL, n);
        break;
    }
    case OP_LINEAR:
        HV_NAME(hv_linear_bwd)(&a, RX, x + op->w, rop ? v + op->w : NULL, &dy, RDY, DA, RDA, gs + op->w, gs + op->b,
                      rop ? hv + op->w : NULL, rop ? hv + op->b : NULL, n, S->wpart);
        break;
    case OP_AVGPOOL:
        if (!DA) break;
        HV_NAME(hv_avgpool_bwd)(&dy, DA, n);
        if (rop) HV_NAME(hv_avgpool_bwd)(&rdy, RDA, n);
        break;
    case OP_GAP:
        if (!DA) break;
        HV_NAME(hv_gap_bwd)(&dy, DA, n);
        if (rop) HV_NAME(hv_gap_bwd)(&rdy, RDA, n);
        break;
    case OP_PADSHORT:
        if (!DA) break;
        HV_NAME(hv_padshort_bwd)(&dy, op->stride, op->pad, DA, n);
        if (rop) HV_NAME(hv_padshort_bwd)(&rdy, op->stride, op->pad, RDA, n);
        break;
    }
    return SGD_OK;
}

static int HV_NAME(all_finite)(const HV_REAL *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return 0;
    return 1;
}

/* One product on a batch (ensure has run for this precision): loss, the
 * gradient into g (NULL: not wanted) and H v into hv (v = hv = NULL: loss
 * and gradient only). */
static int HV_NAME(run)(sgd_net *net, const HV_REAL *x, const float *buffers, int train, const float *input,
                        const int32_t *labels, size_t n, const HV_REAL *v, HV_REAL *hv, double *loss,
                        HV_REAL *g)
{
    struct nn_hvp_state *S = net->hvp;
    int rop = v != NULL;
    HV_REAL *gs = g ? g : (HV_REAL *)S->gw; /* BN and linear sum into it either way */
#if HV_DNNL
    /* the engine's convolution backward computes chunks [c0, c1): all */
    net->spl = 0;
    net->c0 = 0;
    net->c1 = (n + NN_CHUNK - 1) / NN_CHUNK;
#endif
    HV_VIEW in = HV_NAME(view)(net, net->input, A_VAL), rin = HV_NAME(view)(net, net->input, A_RVAL);
    for (size_t i = 0; i < n * in.ns; i++) in.d[i] = input[i];
    if (rop) memset(rin.d, 0, sizeof(HV_REAL) * n * rin.ns);   /* the data does not move with x */
    for (size_t i = 0; i < net->nops; i++) HV_NAME(fwd)(net, i, x, v, train ? NULL : buffers, train, n, rop);

    /* every gradient accumulates: clear them (the loss stores its own) */
#pragma omp parallel for schedule(dynamic)
    for (size_t b = 0; b < S->nblk; b++) {
        memset(S->arr[A_GRAD * S->nblk + b], 0, sizeof(HV_REAL) * S->per[b] * n);
        if (rop) memset(S->arr[A_RGRAD * S->nblk + b], 0, sizeof(HV_REAL) * S->per[b] * n);
    }
    HV_VIEW z = HV_NAME(view)(net, net->logits, A_VAL), rz = HV_NAME(view)(net, net->logits, A_RVAL);
    HV_VIEW dz = HV_NAME(view)(net, net->logits, A_GRAD), rdz = HV_NAME(view)(net, net->logits, A_RGRAD);
    double L = HV_NAME(hv_softmax_ce)(&z, rop ? &rz : NULL, labels, n, net->classes, &dz, rop ? &rdz : NULL);
    memset(gs, 0, sizeof(HV_REAL) * net->p);
    if (rop) memset(hv, 0, sizeof(HV_REAL) * net->p);
    for (size_t i = net->nops; i-- > 0;) {
        int r = net->ts[net->ops[i].in].remat;
        if (r) {   /* the input was not kept: recompute it and clear its gradients */
            HV_NAME(fwd)(net, (size_t)r - 1, x, v, train ? NULL : buffers, train, n, rop);
            for (int k = A_GRAD; k <= (rop ? A_RGRAD : A_GRAD); k++) {
                HV_VIEW d = HV_NAME(view)(net, net->ops[i].in, k);
                for (size_t j = 0; j < n; j++)
                    memset(HV_NAME(hv_smp)(&d, j), 0, sizeof(HV_REAL) * d.c * d.h * d.w);
            }
        }
        int rc = HV_NAME(bwd)(net, i, x, v, train, n, g, hv);
        if (rc) return rc;
    }
    if (loss) *loss = L;
    int gok = HV_NAME(all_finite)(gs, net->p), hok = !rop || HV_NAME(all_finite)(hv, net->p);
    if (!isfinite(L) || !gok || !hok)
        return sgd_error(SGD_EDIVERGED, "Hessian-vector product: %s is not finite (loss %g, batch of %zu)",
                         !isfinite(L) ? "the loss" : !gok ? "the gradient" : "H v", L, n);
    return SGD_OK;
}

#undef HV_REAL
#undef HV_VIEW
#undef HV_NAME
#undef HV_DNNL
