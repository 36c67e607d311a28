/* The layer kernels of the Hessian-vector executor for one precision, with
 * what each computes (hvp_layers.h states the conventions; the code is in
 * hvp_layers_impl.h). Included by hvp_kern.c once per precision with
 * HV_REAL (the element type), HV_VIEW (its view) and HV_NAME (the name:
 * hv_x64 for float64, hv_x32 for float32) defined; static, so each kernel
 * variant has its own. No include guard on purpose. */
/* y = conv(x, w) (k x k, stride, pad, no bias); ry = conv(rx, w) + conv(x, rw). */
static void HV_NAME(hv_conv_fwd)(const HV_VIEW *x, const HV_VIEW *rx, const HV_REAL *w, const HV_REAL *rw, int k,
                 int stride, int pad, HV_VIEW *y, HV_VIEW *ry, size_t n, HV_REAL *scratch, size_t sl);
/* dx += conv^T(dy, w), dw += dy * x; rdx += conv^T(rdy, w) + conv^T(dy, rw),
 * rdw += rdy * x + dy * rx. dw NULL: not wanted (H v alone needs no dW). */
static void HV_NAME(hv_conv_bwd)(const HV_VIEW *x, const HV_VIEW *rx, const HV_REAL *w, const HV_REAL *rw, int k,
                 int stride, int pad, const HV_VIEW *dy, const HV_VIEW *rdy, HV_VIEW *dx, HV_VIEW *rdx,
                 HV_REAL *dw, HV_REAL *rdw, size_t n, HV_REAL *scratch, size_t sl, HV_REAL *wpart);

/* Batch norm (+ fused ReLU when relu). stat: 4 C doubles in both
 * precisions (mean, 1/std, and for R: mean(rx), mean(xhat rx) in train
 * mode, 0 in eval), written by forward, read by backward. train = 0: mean and variance from rm, rv. */
static void HV_NAME(hv_bn_fwd)(const HV_VIEW *x, const HV_VIEW *rx, const HV_REAL *g, const HV_REAL *b, const HV_REAL *rg,
               const HV_REAL *rb, int relu, int train, const float *rm, const float *rv, double *stat,
               HV_VIEW *y, HV_VIEW *ry, size_t n);
static void HV_NAME(hv_bn_bwd)(const HV_VIEW *x, const HV_VIEW *rx, const HV_REAL *g, const HV_REAL *rg, int relu, int train,
               const double *stat, const HV_VIEW *y, const HV_VIEW *dy, const HV_VIEW *rdy, HV_VIEW *dx,
               HV_VIEW *rdx, HV_REAL *dg, HV_REAL *db, HV_REAL *rdg, HV_REAL *rdb, size_t n);

static void HV_NAME(hv_relu_fwd)(const HV_VIEW *x, const HV_VIEW *rx, HV_VIEW *y, HV_VIEW *ry, size_t n);
static void HV_NAME(hv_relu_bwd)(const HV_VIEW *y, const HV_VIEW *dy, const HV_VIEW *rdy, HV_VIEW *dx, HV_VIEW *rdx, size_t n);
/* y = relu?(a + b) */
static void HV_NAME(hv_add_fwd)(const HV_VIEW *a, const HV_VIEW *b, const HV_VIEW *ra, const HV_VIEW *rb, int relu,
                HV_VIEW *y, HV_VIEW *ry, size_t n);
static void HV_NAME(hv_add_bwd)(const HV_VIEW *y, const HV_VIEW *dy, const HV_VIEW *rdy, int relu, HV_VIEW *da, HV_VIEW *db,
                HV_VIEW *rda, HV_VIEW *rdb, size_t n);

/* Linear maps without parameters: R-forward is the same map of R{x},
 * R-backward the same adjoint of R{dy} (the executor calls them twice). */
static void HV_NAME(hv_avgpool_fwd)(const HV_VIEW *x, HV_VIEW *y, size_t n);
static void HV_NAME(hv_avgpool_bwd)(const HV_VIEW *dy, HV_VIEW *dx, size_t n);
static void HV_NAME(hv_gap_fwd)(const HV_VIEW *x, HV_VIEW *y, size_t n);
static void HV_NAME(hv_gap_bwd)(const HV_VIEW *dy, HV_VIEW *dx, size_t n);
static void HV_NAME(hv_padshort_fwd)(const HV_VIEW *x, int stride, int pad, HV_VIEW *y, size_t n);
static void HV_NAME(hv_padshort_bwd)(const HV_VIEW *dy, int stride, int pad, HV_VIEW *dx, size_t n);

/* y = x w^T + b (w: out x in, x flattened); ry = rx w^T + x rw^T + rb. */
static void HV_NAME(hv_linear_fwd)(const HV_VIEW *x, const HV_VIEW *rx, const HV_REAL *w, const HV_REAL *b, const HV_REAL *rw,
                   const HV_REAL *rb, HV_VIEW *y, HV_VIEW *ry, size_t n);
static void HV_NAME(hv_linear_bwd)(const HV_VIEW *x, const HV_VIEW *rx, const HV_REAL *w, const HV_REAL *rw, const HV_VIEW *dy,
                   const HV_VIEW *rdy, HV_VIEW *dx, HV_VIEW *rdx, HV_REAL *dw, HV_REAL *db, HV_REAL *rdw,
                   HV_REAL *rdb, size_t n, HV_REAL *wpart);

/* Mean softmax cross-entropy of the logits z (n x classes); dz = its
 * gradient, rdz = R{dz} from rz (both stored). Returns the loss. */
static double HV_NAME(hv_softmax_ce)(const HV_VIEW *z, const HV_VIEW *rz, const int32_t *labels, size_t n, int classes,
                     HV_VIEW *dz, HV_VIEW *rdz);

