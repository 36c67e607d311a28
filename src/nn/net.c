/* Running a network: allocation for a batch, forward over the op tape, the
 * loss, backward in reverse; the flat loss/gradient function; weight init;
 * layer table and layout manifest. */
#include "nn/nn_internal.h"
#include "sgdscape/error.h"
#include "sgdscape/io.h"
#include "sgdscape/rng.h"

#include <math.h>
#include <stdarg.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sgd_net_free(sgd_net *net)
{
    if (!net) return;
    nn_dnnl_free(net);
    for (size_t i = 0; i < net->nops; i++) {
        free(net->ops[i].mean);
        free(net->ops[i].invstd);
    }
    for (size_t i = 0; i < net->nblocks; i++) {
        free(net->blocks[i].data);
        free(net->blocks[i].grad);
    }
    if (net->scratch)
        for (int i = 0; i < net->nscratch; i++) free(net->scratch[i]);
    free(net->scratch);
    free(net->wpart);
    free(net->ops);
    free(net->ts);
    free(net->blocks);
    free(net->pt);
    free(net);
}

size_t sgd_net_nparams(const sgd_net *net) { return net->p; }
size_t sgd_net_nbuffers(const sgd_net *net) { return net->nbuf; }
int sgd_net_classes(const sgd_net *net) { return net->classes; }
const char *sgd_net_spec(const sgd_net *net) { return net->spec; }
void sgd_net_input_shape(const sgd_net *net, int *c, int *h, int *w)
{
    *c = net->in_c;
    *h = net->in_h;
    *w = net->in_w;
}

/* Params first (x order), then buffers (buffer order). */
size_t sgd_net_ntensors(const sgd_net *net) { return net->npt; }

int sgd_net_tensor_info(const sgd_net *net, size_t i, sgd_net_tensor *out)
{
    if (i >= net->npt) return sgd_error(SGD_EINVAL, "tensor index %zu out of range", i);
    size_t k = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t j = 0; j < net->npt; j++)
            if (net->pt[j].t.is_buffer == pass && k++ == i) {
                *out = net->pt[j].t;
                return SGD_OK;
            }
    return sgd_error(SGD_EINVAL, "tensor index %zu out of range", i);
}

nn_view nn_data(const sgd_net *net, int t)
{
    const nn_tensor *tt = &net->ts[t];
    const nn_block *b = &net->blocks[tt->block];
    nn_view v = {b->data + tt->off, b->per_sample, tt->c, tt->h, tt->w};
    return v;
}

nn_view nn_grad(const sgd_net *net, int t)
{
    const nn_tensor *tt = &net->ts[t];
    const nn_block *b = &net->blocks[tt->block];
    nn_view v = {b->grad + tt->off, b->per_sample, tt->c, tt->h, tt->w};
    return v;
}

static int ensure(sgd_net *net, size_t n)
{
    int nt = omp_get_max_threads();
    if (n > net->cap) {
        for (size_t i = 0; i < net->nblocks; i++) {
            nn_block *b = &net->blocks[i];
            free(b->data);
            free(b->grad);
            b->data = malloc(sizeof(float) * b->per_sample * n);
            b->grad = malloc(sizeof(float) * b->per_sample * n);
            if (!b->data || !b->grad) {
                net->cap = 0;
                return sgd_error(SGD_ENOMEM, "network: out of memory for a batch of %zu", n);
            }
        }
        net->cap = n;
    }
    size_t sl = 0, wl = 0;
    for (size_t i = 0; i < net->nops; i++) {
        const nn_op *op = &net->ops[i];
        if (op->type != OP_CONV) continue;
        const nn_tensor *ti = &net->ts[op->in], *to = &net->ts[op->out];
        size_t s = nn_conv_scratch(ti->c, op->k, to->h, to->w);
        const sgd_nn_ops *K = &nn_cpu_ops;
        if (K->conv_small_scratch) {
            size_t d = K->conv_small_scratch(ti->c, to->c, ti->h, ti->w, op->k, op->stride, op->pad);
            if (d > s) s = d;
        }
        size_t w = nn_conv_wpart(n, ti->c, to->c, op->k);
        if (s > sl) sl = s;
        if (w > wl) wl = w;
    }
    if (nt > net->nscratch || sl > net->scratch_len) {
        if (net->scratch)
            for (int i = 0; i < net->nscratch; i++) free(net->scratch[i]);
        free(net->scratch);
        net->scratch = calloc((size_t)nt, sizeof(float *));
        net->nscratch = net->scratch ? nt : 0;
        if (sl < net->scratch_len) sl = net->scratch_len;
        for (int i = 0; i < net->nscratch; i++) {
            net->scratch[i] = malloc(sizeof(float) * (sl ? sl : 1));
            if (!net->scratch[i]) return sgd_error(SGD_ENOMEM, "network: out of memory");
        }
        if (!net->scratch) return sgd_error(SGD_ENOMEM, "network: out of memory");
        net->scratch_len = sl;
    }
    if (wl > net->wpart_len) {
        free(net->wpart);
        net->wpart = malloc(sizeof(float) * wl);
        if (!net->wpart) {
            net->wpart_len = 0;
            return sgd_error(SGD_ENOMEM, "network: out of memory");
        }
        net->wpart_len = wl;
    }
    return SGD_OK;
}

/* Does the backend's small-channel convolution take conv op `op`? */
static int small_conv(const sgd_nn_ops *K, const nn_op *op, const nn_view *in, const nn_view *out)
{
    return K->conv_small_ok &&
           K->conv_small_ok(in->c, out->c, in->h, in->w, op->k, op->stride, op->pad);
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
    int rc = ensure(net, n);
    if (rc) return rc;
    net->last_n = (int)n;

    const sgd_nn_ops *K = &nn_cpu_ops;
    nn_view in = nn_data(net, net->input);
    memcpy(in.d, input, sizeof(float) * in.ns * n);
    for (size_t i = 0; i < net->nops; i++) {
        nn_op *op = &net->ops[i];
        nn_view a = nn_data(net, op->in), y = nn_data(net, op->out);
        switch (op->type) {
        case OP_CONV:
            /* small channel counts: direct kernels (direct.c); else oneDNN
             * when available (dnnl.c), else im2col + sgemm */
            if (small_conv(K, op, &a, &y))
                K->conv_small_fwd(&a, x + op->w, op->k, op->stride, op->pad, &y, n, net->scratch);
            else if (!nn_dnnl_conv_fwd(net, i, &a, x + op->w, &y, n))
                K->conv_fwd(&a, x + op->w, op->k, op->stride, op->pad, &y, n, net->scratch);
            break;
        case OP_BN:
            K->bn_fwd(&a, x + op->w, x + op->b, buffers ? buffers + op->rm : NULL,
                      buffers ? buffers + op->rv : NULL, train, op->relu, n, op->mean, op->invstd, &y);
            break;
        case OP_RELU: K->relu_fwd(&a, &y, n); break;
        case OP_AVGPOOL: K->avgpool_fwd(&a, &y, n); break;
        case OP_GAP: K->gap_fwd(&a, &y, n); break;
        case OP_LINEAR: K->linear_fwd(&a, x + op->w, x + op->b, &y, n); break;
        case OP_ADD: {
            nn_view b = nn_data(net, op->in2);
            K->add_fwd(&a, &b, op->relu, &y, n);
            break;
        }
        case OP_PADSHORT: K->padshort_fwd(&a, op->stride, op->pad, &y, n); break;
        case OP_COPY: K->copy_fwd(&a, &y, n); break;
        }
    }
    nn_view lg = nn_data(net, net->logits), dlg = nn_grad(net, net->logits);
    double L = nn_softmax_ce(lg.d, lg.ns, labels, n, net->classes, grad ? dlg.d : NULL, dlg.ns, correct);
    if (loss) *loss = L;
    if (!grad) return SGD_OK;

    memset(grad, 0, sizeof(float) * net->p);
    int inblock = net->ts[net->input].block;
    /* The input's gradient is never computed (dap is NULL for it) unless a
     * residual add reads the input directly; then it is cleared too. */
    int in_add = 0;
    for (size_t i = 0; i < net->nops; i++)
        if (net->ops[i].type == OP_ADD && (net->ts[net->ops[i].in].block == inblock ||
                                           net->ts[net->ops[i].in2].block == inblock))
            in_add = 1;
    for (size_t i = 0; i < net->nblocks; i++)
        if ((int)i != net->ts[net->logits].block && ((int)i != inblock || in_add))
            memset(net->blocks[i].grad, 0, sizeof(float) * net->blocks[i].per_sample * n);
    for (size_t i = net->nops; i-- > 0;) {
        nn_op *op = &net->ops[i];
        nn_view a = nn_data(net, op->in), y = nn_data(net, op->out);
        nn_view dy = nn_grad(net, op->out), da = nn_grad(net, op->in);
        nn_view *dap = net->ts[op->in].block == inblock ? NULL : &da;  /* no input gradient */
        int rm = net->ts[op->in].remat;
        if (rm) {
            /* the input was not kept (models.c, bnrelu_remat): recompute it
             * from its BN's input and saved statistics, and clear its
             * gradient, whose storage the later layers' backward used */
            const nn_op *p = &net->ops[rm - 1];
            nn_view pin = nn_data(net, p->in);
            K->bn_apply(&pin, x + p->w, x + p->b, p->relu, n, p->mean, p->invstd, &a);
            for (size_t s = 0; s < n; s++)
                memset(da.d + s * da.ns, 0, sizeof(float) * (size_t)da.c * da.h * da.w);
        }
        switch (op->type) {
        case OP_CONV: {
            if (small_conv(K, op, &a, &dy)) {
                K->conv_small_bwd(&a, x + op->w, op->k, op->stride, op->pad, &dy, dap, grad + op->w,
                                  n, net->scratch, net->wpart);
                break;
            }
            int r = nn_dnnl_conv_bwd(net, i, &a, x + op->w, &dy, dap, grad + op->w, n);
            if (r < 0) return sgd_error(SGD_EINVAL, "oneDNN convolution backward failed (%s)", op->name);
            if (!r)
                K->conv_bwd(&a, x + op->w, op->k, op->stride, op->pad, &dy, dap, grad + op->w, n,
                            net->scratch, net->wpart);
            break;
        }
        case OP_BN:
            K->bn_bwd(&a, x + op->w, x + op->b, train, op->relu, n, op->mean, op->invstd, &dy, dap,
                      grad + op->w, grad + op->b);
            break;
        case OP_RELU:
            if (dap) K->relu_bwd(&y, &dy, dap, n);
            break;
        case OP_AVGPOOL:
            if (dap) K->avgpool_bwd(&dy, dap, n);
            break;
        case OP_GAP:
            if (dap) K->gap_bwd(&dy, dap, n);
            break;
        case OP_LINEAR: K->linear_bwd(&a, x + op->w, &dy, dap, grad + op->w, grad + op->b, n); break;
        case OP_ADD: {
            nn_view db = nn_grad(net, op->in2);
            K->add_bwd(&y, &dy, op->relu, &da, &db, n);
            break;
        }
        case OP_PADSHORT:
            if (dap) K->padshort_bwd(&dy, op->stride, op->pad, dap, n);
            break;
        case OP_COPY:
            if (dap) K->copy_bwd(&dy, dap, n);
            break;
        }
    }
    return SGD_OK;
}

void sgd_net_init(const sgd_net *net, uint64_t seed, float *x, float *buffers)
{
    size_t tix = 0;
    for (size_t j = 0; j < net->npt; j++, tix++) {
        const nn_ptensor *t = &net->pt[j];
        float *dst = t->t.is_buffer ? buffers : x;
        if (!dst) continue;
        dst += t->t.offset;
        size_t m = t->t.count;
        switch (t->init) {
        case INIT_ONE:
            for (size_t i = 0; i < m; i++) dst[i] = 1.0f;
            break;
        case INIT_ZERO: memset(dst, 0, sizeof(float) * m); break;
        case INIT_HE: {
            double sd = sqrt(2.0 / (double)t->fan_in), z[2];
            for (size_t i = 0; i < m; i += 2) {
                sgd_rng_normal2(seed, SGD_RNG_WEIGHTS, tix, 0, (uint32_t)(i / 2), z);
                dst[i] = (float)(sd * z[0]);
                if (i + 1 < m) dst[i + 1] = (float)(sd * z[1]);
            }
            break;
        }
        case INIT_UNIFORM_FANIN: {
            double a = 1.0 / sqrt((double)t->fan_in), u[2];
            for (size_t i = 0; i < m; i += 2) {
                sgd_rng_uniform2(seed, SGD_RNG_WEIGHTS, tix, 0, (uint32_t)(i / 2), u);
                dst[i] = (float)(a * (2 * u[0] - 1));
                if (i + 1 < m) dst[i + 1] = (float)(a * (2 * u[1] - 1));
            }
            break;
        }
        }
    }
}

/* ---- describe / layout ------------------------------------------------- */
typedef struct sbuf {
    char *s;
    size_t n, cap;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) return;
        if (b->s && b->n + (size_t)k < b->cap) {
            b->n += (size_t)k;
            return;
        }
        size_t nc = b->cap ? b->cap * 2 : 4096;
        while (nc < b->n + (size_t)k + 1) nc *= 2;
        char *q = realloc(b->s, nc);
        if (!q) return;
        b->s = q;
        b->cap = nc;
    }
}

static const char *op_kind(const nn_op *op, char *buf, size_t n)
{
    switch (op->type) {
    case OP_CONV: snprintf(buf, n, "conv%dx%d/s%d", op->k, op->k, op->stride); break;
    case OP_BN: snprintf(buf, n, op->relu ? "batchnorm+relu" : "batchnorm"); break;
    case OP_RELU: snprintf(buf, n, "relu"); break;
    case OP_AVGPOOL: snprintf(buf, n, "avgpool2x2"); break;
    case OP_GAP: snprintf(buf, n, "global_avgpool"); break;
    case OP_LINEAR: snprintf(buf, n, "linear"); break;
    case OP_ADD: snprintf(buf, n, op->relu ? "add+relu" : "add"); break;
    case OP_PADSHORT: snprintf(buf, n, "shortcut_A/s%d", op->stride); break;
    default: snprintf(buf, n, "copy"); break;
    }
    return buf;
}

static size_t op_params(const sgd_net *net, const nn_op *op)
{
    const nn_tensor *ti = &net->ts[op->in], *to = &net->ts[op->out];
    switch (op->type) {
    case OP_CONV: return (size_t)to->c * ti->c * op->k * op->k;
    case OP_BN: return 2 * (size_t)ti->c;
    case OP_LINEAR: return (size_t)to->c * ((size_t)ti->c * ti->h * ti->w + 1);
    default: return 0;
    }
}

char *sgd_net_describe(const sgd_net *net)
{
    sbuf b = {0};
    sb_printf(&b, "model %s  input %dx%dx%d  classes %d\n", net->spec, net->in_c, net->in_h,
              net->in_w, net->classes);
    sb_printf(&b, "%4s  %-16s %-26s %-12s %-12s %10s\n", "#", "layer", "name", "in", "out", "params");
    for (size_t i = 0; i < net->nops; i++) {
        const nn_op *op = &net->ops[i];
        const nn_tensor *ti = &net->ts[op->in], *to = &net->ts[op->out];
        char k[32], si[32], so[32];
        snprintf(si, sizeof si, "%dx%dx%d", ti->c, ti->h, ti->w);
        snprintf(so, sizeof so, "%dx%dx%d", to->c, to->h, to->w);
        sb_printf(&b, "%4zu  %-16s %-26s %-12s %-12s %10zu\n", i, op_kind(op, k, sizeof k), op->name,
                  si, so, op_params(net, op));
    }
    sb_printf(&b, "parameters: %zu\nBN buffers: %zu\n", net->p, net->nbuf);
    return b.s;
}

int sgd_net_write_layout(const sgd_net *net, const char *path)
{
    sgd_json *j = sgd_json_new();
    if (!j) return sgd_error(SGD_ENOMEM, "out of memory");
    sgd_json_str(j, "model", net->spec);
    double in[3] = {net->in_c, net->in_h, net->in_w};
    sgd_json_nums(j, "input", in, 3);
    sgd_json_int(j, "classes", net->classes);
    sgd_json_int(j, "parameters", (long long)net->p);
    sgd_json_int(j, "buffers", (long long)net->nbuf);
    sgd_json_str(j, "dtype", "float32");
    sgd_json_str(j, "order", "PyTorch state_dict order; params in x, BN running stats in buffers");
    for (size_t i = 0; i < net->npt; i++) {
        sgd_net_tensor t;
        sgd_net_tensor_info(net, i, &t);
        sgd_json *o = sgd_json_arr_obj(j, "tensors");
        sgd_json_str(o, "name", t.name);
        sgd_json_str(o, "in", t.is_buffer ? "buffers" : "x");
        sgd_json_int(o, "offset", (long long)t.offset);
        double sh[4];
        for (int d = 0; d < t.ndim; d++) sh[d] = (double)t.shape[d];
        sgd_json_nums(o, "shape", sh, (size_t)t.ndim);
    }
    int rc = sgd_json_write(j, path);
    sgd_json_free(j);
    return rc;
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
