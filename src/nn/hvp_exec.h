/* The Hessian-vector executor for one precision: the tape walked forward
 * with R-forward and back with R-backward (hvp.c describes it). Included
 * by hvp_kern.c after hvp_layers_impl.h, once per precision, with HV_REAL,
 * HV_VIEW and HV_NAME defined as for hvp_layers_decl.h; it undefines
 * them. No include guard on purpose. */
/* View of tensor t in array kind k. */
static HV_VIEW HV_NAME(view)(const sgd_net *net, int t, int k)
{
    const struct nn_hvp_state *S = net->hvp;
    const nn_tensor *T = &net->ts[t];
    int b = S->tblk[t];
    return (HV_VIEW){(HV_REAL *)S->arr[k * S->nblk + b] + S->toff[t], S->per[b], T->c, T->h, T->w};
}

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
    case OP_CONV:
        HV_NAME(hv_conv_fwd)(&a, RX, x + op->w, v ? v + op->w : NULL, op->k, op->stride, op->pad, &y, RY, n,
                    S->scratch, S->sl);
        break;
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

/* Backward and R-backward of op i: parameter gradient into g, its R into hv. */
static void HV_NAME(bwd)(sgd_net *net, size_t i, const HV_REAL *x, const HV_REAL *v, int train, size_t n, HV_REAL *g,
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
    switch (op->type) {
    case OP_CONV:
        HV_NAME(hv_conv_bwd)(&a, RX, x + op->w, rop ? v + op->w : NULL, op->k, op->stride, op->pad, &dy, RDY, DA, RDA,
                    g + op->w, rop ? hv + op->w : NULL, n, S->scratch, S->sl, S->wpart);
        break;
    case OP_BN:
        HV_NAME(hv_bn_bwd)(&a, RA, x + op->w, rop ? v + op->w : NULL, op->relu, train, S->stat + S->soff[i], &y, &dy, RDY,
                  DA, RDA, g + op->w, g + op->b, rop ? hv + op->w : NULL, rop ? hv + op->b : NULL, n);
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
        HV_NAME(hv_linear_bwd)(&a, RX, x + op->w, rop ? v + op->w : NULL, &dy, RDY, DA, RDA, g + op->w, g + op->b,
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
}

static int HV_NAME(all_finite)(const HV_REAL *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return 0;
    return 1;
}

/* One product on a batch (ensure has run for this precision): loss, the
 * gradient into g (NULL: the state's scratch) and H v into hv (v = hv =
 * NULL: loss and gradient only). */
static int HV_NAME(run)(sgd_net *net, const HV_REAL *x, const float *buffers, int train, const float *input,
                        const int32_t *labels, size_t n, const HV_REAL *v, HV_REAL *hv, double *loss,
                        HV_REAL *g)
{
    struct nn_hvp_state *S = net->hvp;
    int rop = v != NULL;
    if (!g) g = S->gw;
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
    memset(g, 0, sizeof(HV_REAL) * net->p);
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
        HV_NAME(bwd)(net, i, x, v, train, n, g, hv);
    }
    if (loss) *loss = L;
    int gok = HV_NAME(all_finite)(g, net->p), hok = !rop || HV_NAME(all_finite)(hv, net->p);
    if (!isfinite(L) || !gok || !hok)
        return sgd_error(SGD_EDIVERGED, "Hessian-vector product: %s is not finite (loss %g, batch of %zu)",
                         !isfinite(L) ? "the loss" : !gok ? "the gradient" : "H v", L, n);
    return SGD_OK;
}

#undef HV_REAL
#undef HV_VIEW
#undef HV_NAME
