/* A network as a thing: freeing it, its sizes and tensors, views of its
 * activations, weight init, the layer table and layout manifest, and the
 * finiteness checks. Planning is net_plan.c, running net_exec.c. */
#include "nn/nn_internal.h"
#include "sgdscape/error.h"
#include "sgdscape/io.h"
#include "sgdscape/rng.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Set on every thread of the executor's team regions (net_exec.c, NN_TEAM). */
_Thread_local int nn_in_team;

void sgd_net_free(sgd_net *net)
{
    if (!net) return;
    nn_dnnl_free(net);
    nn_hvp_free(net);
    for (size_t i = 0; i < net->nops; i++) {
        free(net->ops[i].mean);
        free(net->ops[i].invstd);
        free(net->ops[i].part);
        free(net->ops[i].coef);
        free(net->ops[i].tstat);
    }
    for (size_t i = 0; i < net->nblocks; i++) {
        free(net->blocks[i].data);
        free(net->blocks[i].grad);
    }
    nn_free_scratch(net);
    free(net->wpart);
    free(net->gclear);
    free(net->dwslot);
    free(net->steps);
    free(net->ops);
    free(net->ts);
    free(net->blocks);
    free(net->pt);
    free(net->listing);
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
    if (i >= net->npt || !net->listing) return sgd_error(SGD_EINVAL, "tensor index %zu out of range", i);
    *out = net->pt[net->listing[i]].t;
    return SGD_OK;
}

/* The listing order is params (x order) then buffers; a table, not a scan per
 * call, so that listing every tensor of a deep network stays linear. */
int nn_index_tensors(sgd_net *net)
{
    free(net->listing);
    net->listing = malloc(sizeof(size_t) * (net->npt ? net->npt : 1));
    if (!net->listing) return sgd_error(SGD_ENOMEM, "model: out of memory");
    size_t k = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t j = 0; j < net->npt; j++)
            if (net->pt[j].t.is_buffer == pass) net->listing[k++] = j;
    return SGD_OK;
}

/* Views of tensor t's activations and gradients. Before the first run the
 * blocks are not allocated: the views then carry shapes only (d = NULL; an
 * offset from a null pointer would be undefined). */
nn_view nn_data(const sgd_net *net, int t)
{
    const nn_tensor *tt = &net->ts[t];
    const nn_block *b = &net->blocks[tt->block];
    nn_view v = {b->data ? b->data + tt->off : NULL, b->per_sample, tt->c, tt->h, tt->w, 0};
    return v;
}

nn_view nn_grad(const sgd_net *net, int t)
{
    const nn_tensor *tt = &net->ts[t];
    const nn_block *b = &net->blocks[tt->block];
    nn_view v = {b->grad ? b->grad + tt->off : NULL, b->per_sample, tt->c, tt->h, tt->w, 0};
    return v;
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
    default: snprintf(buf, n, "?"); break;
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


int sgd_net_check_finite(const sgd_net *net, const float *v, int buffers, const char *what)
{
    size_t n = buffers ? net->nbuf : net->p, i = 0;
    while (i < n && isfinite(v[i])) i++;
    if (i == n) return SGD_OK;
    const char *tn = "?";
    for (size_t j = 0; j < net->npt; j++) {
        const sgd_net_tensor *t = &net->pt[j].t;
        if (t->is_buffer == buffers && i >= t->offset && i - t->offset < t->count) tn = t->name;
    }
    return sgd_error(SGD_EINVAL, "%s hold %s at index %zu (tensor %s)", what,
                     isnan(v[i]) ? "NaN" : v[i] > 0 ? "+Inf" : "-Inf", i, tn);
}

int nn_nonfinite(const sgd_net *net, const float *x, size_t n, double loss, const char *where, const char *tail)
{
    float xm = 0;
    for (size_t i = 0; i < net->p; i++)
        if (fabsf(x[i]) > xm || isnan(x[i])) xm = isnan(x[i]) ? x[i] : fabsf(x[i]);
    /* non-finite logits: the forward pass itself overflowed float32 */
    nn_view lg = nn_data(net, net->logits);
    int ovf = 0;
    for (size_t i = 0; i < n && !ovf; i++)
        for (int j = 0; j < net->classes; j++) ovf |= !isfinite(lg.d[i * lg.ns + (size_t)j]);
    char what[64];
    if (isfinite(loss)) snprintf(what, sizeof what, "the gradient is not finite (loss %.6g)", loss);
    else snprintf(what, sizeof what, "the loss is %s", isnan(loss) ? "NaN" : "infinite");
    return sgd_error(SGD_EDIVERGED, "%s at %s (%s|x|max = %.3g)%s", what, where,
                     ovf ? "overflow: the logits are not finite; " : "", (double)xm, tail ? tail : "");
}
