/* Models from spec strings: CIFAR ResNets (6n+2), ImageNet-layout ResNet-34,
 * DenseNet-BC, MLP and a small plain convnet. Module names follow the
 * PyTorch modules in tools/torch_fixtures.py so x maps onto state_dict. */
#include "nn/nn_internal.h"
#include "sgdscape/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- builder ------------------------------------------------------------ */
static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap * 2 : 16;
    while (nc < need) nc *= 2;
    void *q = realloc(*p, nc * elem);
    if (!q) return -1;
    memset((char *)q + *cap * elem, 0, (nc - *cap) * elem);
    *p = q;
    *cap = nc;
    return 0;
}

typedef struct builder {
    sgd_net *net;
    int err;           /* first error code */
    int remat_blk;     /* 1 + the block shared by rematerialised tensors, 0: none yet */
} builder;

int nn_new_block(sgd_net *net, size_t per_sample)
{
    if (grow((void **)&net->blocks, &net->cap_blocks, net->nblocks + 1, sizeof(nn_block))) return -1;
    net->blocks[net->nblocks].per_sample = per_sample;
    return (int)net->nblocks++;
}

int nn_view_tensor(sgd_net *net, int block, size_t choff, int c, int h, int w)
{
    if (block < 0) return -1;
    if (grow((void **)&net->ts, &net->cap_ts, net->nts + 1, sizeof(nn_tensor))) return -1;
    nn_tensor *t = &net->ts[net->nts];
    t->block = block;
    t->off = choff * (size_t)h * w;
    t->c = c;
    t->h = h;
    t->w = w;
    return (int)net->nts++;
}

int nn_new_tensor(sgd_net *net, int c, int h, int w)
{
    int b = nn_new_block(net, (size_t)c * h * w);
    return nn_view_tensor(net, b, 0, c, h, w);
}

/* A new parameter or buffer tensor named name, or NULL when out of memory
 * (then net->oom is set: sgd_net_create refuses the network). */
static nn_ptensor *new_ptensor(sgd_net *net, const char *name)
{
    if (grow((void **)&net->pt, &net->cap_pt, net->npt + 1, sizeof(nn_ptensor))) {
        net->oom = 1;
        return NULL;
    }
    nn_ptensor *t = &net->pt[net->npt++];
    snprintf(t->t.name, sizeof t->t.name, "%s", name);
    return t;
}

size_t nn_add_param(sgd_net *net, const char *name, int ndim, const size_t *shape, int init,
                    size_t fan_in)
{
    nn_ptensor *t = new_ptensor(net, name);
    if (!t) return 0;
    t->t.ndim = ndim;
    t->t.count = 1;
    for (int i = 0; i < ndim; i++) {
        t->t.shape[i] = shape[i];
        t->t.count *= shape[i];
    }
    t->t.offset = net->p;
    t->t.is_buffer = 0;
    t->init = init;
    t->fan_in = fan_in;
    net->p += t->t.count;
    return t->t.offset;
}

size_t nn_add_buffer(sgd_net *net, const char *name, size_t c)
{
    nn_ptensor *t = new_ptensor(net, name);
    if (!t) return 0;
    t->t.ndim = 1;
    t->t.shape[0] = c;
    t->t.count = c;
    t->t.offset = net->nbuf;
    t->t.is_buffer = 1;
    t->init = strstr(name, "running_var") ? INIT_ONE : INIT_ZERO;
    t->fan_in = 0;
    net->nbuf += c;
    return t->t.offset;
}

static nn_op *new_op(builder *B, int type, int in, int out, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static nn_op *new_op(builder *B, int type, int in, int out, const char *fmt, ...)
{
    sgd_net *net = B->net;
    if (B->err || in < 0 || out < 0 ||
        grow((void **)&net->ops, &net->cap_ops, net->nops + 1, sizeof(nn_op))) {
        if (!B->err) B->err = SGD_ENOMEM;
        return NULL;
    }
    nn_op *op = &net->ops[net->nops++];
    memset(op, 0, sizeof *op);
    op->type = type;
    op->in = in;
    op->in2 = -1;
    op->out = out;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(op->name, sizeof op->name, fmt, ap);
    va_end(ap);
    return op;
}

#define T(B, id) (&(B)->net->ts[id])

/* conv k x k, no bias; out < 0: a fresh tensor, else write into tensor out. */
static int conv_to(builder *B, int in, int cout, int k, int s, int pad, int out, const char *name)
{
    if (B->err || in < 0) return -1;
    nn_tensor ti = *T(B, in);
    int oh = (ti.h + 2 * pad - k) / s + 1, ow = (ti.w + 2 * pad - k) / s + 1;
    if (oh < 1 || ow < 1) {
        B->err = sgd_error(SGD_EINVAL, "model: input %dx%d too small for layer %s", ti.h, ti.w, name);
        return -1;
    }
    if (out < 0) out = nn_new_tensor(B->net, cout, oh, ow);
    char pn[96];
    snprintf(pn, sizeof pn, "%s.weight", name);
    size_t shape[4] = {(size_t)cout, (size_t)ti.c, (size_t)k, (size_t)k};
    size_t w = nn_add_param(B->net, pn, 4, shape, INIT_HE, (size_t)ti.c * k * k);
    nn_op *op = new_op(B, OP_CONV, in, out, "%s", name);
    if (!op) return -1;
    op->k = k;
    op->stride = s;
    op->pad = pad;
    op->w = w;
    return out;
}

static int conv(builder *B, int in, int cout, int k, int s, const char *name)
{
    return conv_to(B, in, cout, k, s, k / 2, -1, name);
}

/* BN; out < 0: a fresh tensor, else write into tensor out. */
static int bn_to(builder *B, int in, int out, const char *name)
{
    if (B->err || in < 0) return -1;
    nn_tensor ti = *T(B, in);
    if (out < 0) out = nn_new_tensor(B->net, ti.c, ti.h, ti.w);
    char pn[96];
    size_t shape[1] = {(size_t)ti.c};
    snprintf(pn, sizeof pn, "%s.weight", name);
    size_t g = nn_add_param(B->net, pn, 1, shape, INIT_ONE, 0);
    snprintf(pn, sizeof pn, "%s.bias", name);
    size_t b = nn_add_param(B->net, pn, 1, shape, INIT_ZERO, 0);
    snprintf(pn, sizeof pn, "%s.running_mean", name);
    size_t rm = nn_add_buffer(B->net, pn, (size_t)ti.c);
    snprintf(pn, sizeof pn, "%s.running_var", name);
    size_t rv = nn_add_buffer(B->net, pn, (size_t)ti.c);
    nn_op *op = new_op(B, OP_BN, in, out, "%s", name);
    if (!op) return -1;
    op->w = g;
    op->b = b;
    op->rm = rm;
    op->rv = rv;
    op->mean = calloc((size_t)ti.c, sizeof(double));
    op->invstd = calloc((size_t)ti.c, sizeof(double));
    if (!op->mean || !op->invstd) B->err = SGD_ENOMEM;
    return out;
}

static int bn(builder *B, int in, const char *name) { return bn_to(B, in, -1, name); }

/* BN followed by ReLU as one op: the BN output is never stored. */
static int bnrelu(builder *B, int in, const char *name)
{
    int out = bn(B, in, name);
    if (out >= 0) B->net->ops[B->net->nops - 1].relu = 1;
    return out;
}

/* BN+ReLU whose output is not kept for backward: it is written into one
 * block shared by all such outputs, read by the next op (one conv) at
 * once, and recomputed from the BN input (saved statistics) when backward
 * reaches that conv (net_exec.c). DenseNet uses it for the bottleneck and
 * transition inputs, which otherwise grow quadratically with depth (5.8 GB
 * at DenseNet-BC-100, batch 128); the price is one more BN apply pass. */
static int bnrelu_remat(builder *B, int in, const char *name)
{
    if (B->err || in < 0) return -1;
    nn_tensor ti = *T(B, in);
    size_t need = (size_t)ti.c * ti.h * ti.w;
    if (!B->remat_blk) {
        int b = nn_new_block(B->net, need);
        if (b < 0) {
            B->err = SGD_ENOMEM;
            return -1;
        }
        B->remat_blk = b + 1;
    }
    nn_block *blk = &B->net->blocks[B->remat_blk - 1];
    if (blk->per_sample < need) blk->per_sample = need;  /* the largest one */
    int out = bn_to(B, in, nn_view_tensor(B->net, B->remat_blk - 1, 0, ti.c, ti.h, ti.w), name);
    if (out < 0) return -1;
    B->net->ops[B->net->nops - 1].relu = 1;
    B->net->ts[out].remat = (int)B->net->nops;  /* 1 + op index */
    return out;
}

static int relu(builder *B, int in)
{
    if (B->err || in < 0) return -1;
    nn_tensor ti = *T(B, in);
    int out = nn_new_tensor(B->net, ti.c, ti.h, ti.w);
    return new_op(B, OP_RELU, in, out, "relu") ? out : -1;
}

static int avgpool_to(builder *B, int in, int out)
{
    if (B->err || in < 0) return -1;
    nn_tensor ti = *T(B, in);
    if (ti.h < 2 || ti.w < 2) {
        B->err = sgd_error(SGD_EINVAL, "model: input too small for a 2x2 pooling layer");
        return -1;
    }
    if (out < 0) out = nn_new_tensor(B->net, ti.c, ti.h / 2, ti.w / 2);
    return new_op(B, OP_AVGPOOL, in, out, "avgpool2x2") ? out : -1;
}

static int gap(builder *B, int in)
{
    if (B->err || in < 0) return -1;
    nn_tensor ti = *T(B, in);
    int out = nn_new_tensor(B->net, ti.c, 1, 1);
    return new_op(B, OP_GAP, in, out, "global_avgpool") ? out : -1;
}

static int linear(builder *B, int in, int nout, const char *name)
{
    if (B->err || in < 0) return -1;
    nn_tensor ti = *T(B, in);
    size_t nin = (size_t)ti.c * ti.h * ti.w;
    int out = nn_new_tensor(B->net, nout, 1, 1);
    char pn[96];
    size_t shw[2] = {(size_t)nout, nin}, shb[1] = {(size_t)nout};
    snprintf(pn, sizeof pn, "%s.weight", name);
    size_t w = nn_add_param(B->net, pn, 2, shw, INIT_UNIFORM_FANIN, nin);
    snprintf(pn, sizeof pn, "%s.bias", name);
    size_t b = nn_add_param(B->net, pn, 1, shb, INIT_UNIFORM_FANIN, nin);
    nn_op *op = new_op(B, OP_LINEAR, in, out, "%s", name);
    if (!op) return -1;
    op->w = w;
    op->b = b;
    return out;
}

static int add(builder *B, int a, int b)
{
    if (B->err || a < 0 || b < 0) return -1;
    nn_tensor ta = *T(B, a);
    int out = nn_new_tensor(B->net, ta.c, ta.h, ta.w);
    nn_op *op = new_op(B, OP_ADD, a, out, "add");
    if (!op) return -1;
    op->in2 = b;
    return out;
}

static int padshort(builder *B, int in, int cout, int s)
{
    if (B->err || in < 0) return -1;
    nn_tensor ti = *T(B, in);
    int out = nn_new_tensor(B->net, cout, (ti.h - 1) / s + 1, (ti.w - 1) / s + 1);
    nn_op *op = new_op(B, OP_PADSHORT, in, out, "shortcut_A");
    if (!op) return -1;
    op->stride = s;
    op->pad = (cout - ti.c) / 2;
    return out;
}

/* ---- spec parsing --------------------------------------------------------- */
typedef struct kv {
    int n;
    char key[16][32];
    char val[16][64];
    int used[16];
} kv;

static int parse_kv(const char *params, kv *o)
{
    memset(o, 0, sizeof *o);
    if (!params || !*params) return 0;
    const char *p = params;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (!eq || eq == p || o->n == 16 || (size_t)(eq - p) >= 32 || len - (eq - p) - 1 >= 64 ||
            len - (eq - p) - 1 == 0)
            return sgd_error(SGD_EPARSE, "model spec: bad parameter '%.*s' (want key=value)",
                             (int)len, p);
        memcpy(o->key[o->n], p, eq - p);
        memcpy(o->val[o->n], eq + 1, len - (eq - p) - 1);
        /* a repeated key would otherwise let the last one win silently */
        for (int i = 0; i < o->n; i++)
            if (!strcmp(o->key[i], o->key[o->n]))
                return sgd_error(SGD_EPARSE, "model spec: key '%s' given twice", o->key[i]);
        o->n++;
        p += len;
        if (*p == ',') p++;
    }
    return 0;
}

static const char *kv_get(kv *o, const char *key)
{
    const char *r = NULL;
    for (int i = 0; i < o->n; i++)
        if (!strcmp(o->key[i], key)) {
            r = o->val[i];
            o->used[i] = 1;
        }
    return r;
}

static int kv_int(kv *o, const char *key, int def, int lo, int hi, int *out)
{
    const char *v = kv_get(o, key);
    if (!v) {
        *out = def;
        return 0;
    }
    char *end;
    long x = strtol(v, &end, 10);
    if (*end || end == v || x < lo || x > hi)
        return sgd_error(SGD_EPARSE, "model spec: %s=%s: want an integer in [%d, %d]", key, v, lo, hi);
    *out = (int)x;
    return 0;
}

static int kv_unused(kv *o, const char *model)
{
    for (int i = 0; i < o->n; i++)
        if (!o->used[i])
            return sgd_error(SGD_EPARSE, "model spec: unknown parameter '%s' for %s", o->key[i], model);
    return 0;
}

/* ---- models ------------------------------------------------------------- */
static int basic_block(builder *B, int in, int cout, int s, int optA, const char *name)
{
    char nm[80];
    if (B->err || in < 0) return -1;
    nn_tensor ti = *T(B, in);
    snprintf(nm, sizeof nm, "%s.conv1", name);
    int h = conv(B, in, cout, 3, s, nm);
    snprintf(nm, sizeof nm, "%s.bn1", name);
    h = bnrelu(B, h, nm);
    snprintf(nm, sizeof nm, "%s.conv2", name);
    h = conv(B, h, cout, 3, 1, nm);
    snprintf(nm, sizeof nm, "%s.bn2", name);
    h = bn(B, h, nm);
    int sc = in;
    if (s != 1 || ti.c != cout) {
        if (optA) {
            if ((cout - ti.c) % 2 || cout < ti.c) {
                if (!B->err)
                    B->err = sgd_error(SGD_EINVAL,
                                       "model: shortcut=A needs an even channel increase (%d -> %d)",
                                       ti.c, cout);
                return -1;
            }
            sc = padshort(B, in, cout, s);
        } else {
            snprintf(nm, sizeof nm, "%s.shortcut.0", name);
            sc = conv_to(B, in, cout, 1, s, 0, -1, nm);
            snprintf(nm, sizeof nm, "%s.shortcut.1", name);
            sc = bn(B, sc, nm);
        }
    }
    int out = add(B, h, sc);
    if (out >= 0) B->net->ops[B->net->nops - 1].relu = 1;  /* relu(h + shortcut), fused */
    return out;
}

static int build_resnet(builder *B, int in, const int *blocks, int nstages, int w, int optA, int classes)
{
    int h = conv(B, in, w, 3, 1, "conv1");
    h = bnrelu(B, h, "bn1");
    int width = w;
    for (int st = 0; st < nstages; st++) {
        for (int i = 0; i < blocks[st]; i++) {
            char nm[64];
            snprintf(nm, sizeof nm, "layer%d.%d", st + 1, i);
            h = basic_block(B, h, width, (st > 0 && i == 0) ? 2 : 1, optA, nm);
        }
        width *= 2;
    }
    return linear(B, gap(B, h), classes, "fc");
}

static int build_densenet(builder *B, int in, int depth, int k, double reduction, int classes)
{
    int nl = (depth - 4) / 6;
    nn_tensor ti = *T(B, in);
    int c = 2 * k, H = ti.h, W = ti.w;
    /* The stem conv writes straight into dense block 1's storage. */
    int blk = nn_new_block(B->net, (size_t)(c + nl * k) * H * W);
    int h = conv_to(B, in, c, 3, 1, 1, nn_view_tensor(B->net, blk, 0, c, H, W), "conv1");
    for (int d = 0; d < 3 && !B->err; d++) {
        for (int i = 0; i < nl; i++) {
            char nm[64];
            int x = nn_view_tensor(B->net, blk, 0, c + i * k, H, W);
            snprintf(nm, sizeof nm, "dense%d.%d.bn1", d + 1, i);
            int t = bnrelu_remat(B, x, nm);
            snprintf(nm, sizeof nm, "dense%d.%d.conv1", d + 1, i);
            t = conv(B, t, 4 * k, 1, 1, nm);
            snprintf(nm, sizeof nm, "dense%d.%d.bn2", d + 1, i);
            t = bnrelu_remat(B, t, nm);
            snprintf(nm, sizeof nm, "dense%d.%d.conv2", d + 1, i);
            conv_to(B, t, k, 3, 1, 1, nn_view_tensor(B->net, blk, c + i * k, k, H, W), nm);
        }
        c += nl * k;
        h = nn_view_tensor(B->net, blk, 0, c, H, W);
        if (d == 2) break;
        char nm[64];
        int co = (int)(reduction * c);
        if (co < 1) co = 1;
        snprintf(nm, sizeof nm, "trans%d.bn", d + 1);
        int t = bnrelu_remat(B, h, nm);
        snprintf(nm, sizeof nm, "trans%d.conv", d + 1);
        t = conv(B, t, co, 1, 1, nm);
        if (H < 2 || W < 2) {
            B->err = sgd_error(SGD_EINVAL, "model: input too small for densenet transitions");
            return -1;
        }
        H /= 2;
        W /= 2;
        c = co;
        blk = nn_new_block(B->net, (size_t)(c + nl * k) * H * W);
        avgpool_to(B, t, nn_view_tensor(B->net, blk, 0, c, H, W));
    }
    h = bnrelu(B, h, "bn");
    return linear(B, gap(B, h), classes, "fc");
}

static int build(builder *B, const char *spec, int in, int classes)
{
    char name[64];
    const char *colon = strchr(spec, ':');
    size_t nlen = colon ? (size_t)(colon - spec) : strlen(spec);
    if (nlen == 0 || nlen >= sizeof name) return sgd_error(SGD_EPARSE, "model spec '%s': no model name", spec);
    memcpy(name, spec, nlen);
    name[nlen] = 0;
    kv o;
    int rc = parse_kv(colon ? colon + 1 : NULL, &o);
    if (rc) return rc;
    int out = -1;
    int cifar_n = 0;
    if (!strcmp(name, "resnet20")) cifar_n = 3;
    else if (!strcmp(name, "resnet32")) cifar_n = 5;
    else if (!strcmp(name, "resnet44")) cifar_n = 7;
    else if (!strcmp(name, "resnet56")) cifar_n = 9;
    else if (!strcmp(name, "resnet110")) cifar_n = 18;
    if (cifar_n || !strcmp(name, "resnet")) {
        int n = 0, w = 0;
        if ((rc = kv_int(&o, "n", cifar_n ? cifar_n : 3, 1, 1000, &n))) return rc;
        if ((rc = kv_int(&o, "w", 16, 1, 4096, &w))) return rc;
        const char *sc = kv_get(&o, "shortcut");
        if (sc && strcmp(sc, "A") && strcmp(sc, "B"))
            return sgd_error(SGD_EPARSE, "model spec: shortcut=%s: want A or B", sc);
        if ((rc = kv_unused(&o, name))) return rc;
        int blocks[3] = {n, n, n};
        out = build_resnet(B, in, blocks, 3, w, sc && !strcmp(sc, "A"), classes);
    } else if (!strcmp(name, "resnet34")) {
        int w = 0;
        if ((rc = kv_int(&o, "w", 16, 1, 4096, &w))) return rc;
        const char *sc = kv_get(&o, "shortcut");
        if (sc && strcmp(sc, "A") && strcmp(sc, "B"))
            return sgd_error(SGD_EPARSE, "model spec: shortcut=%s: want A or B", sc);
        if ((rc = kv_unused(&o, name))) return rc;
        int blocks[4] = {3, 4, 6, 3};
        out = build_resnet(B, in, blocks, 4, w, sc && !strcmp(sc, "A"), classes);
    } else if (!strcmp(name, "densenet")) {
        int depth = 0, k = 0;
        if ((rc = kv_int(&o, "depth", 100, 10, 1000, &depth))) return rc;
        if ((rc = kv_int(&o, "k", 12, 1, 1024, &k))) return rc;
        const char *r = kv_get(&o, "reduction");
        double red = 0.5;
        if (r) {
            char *end;
            red = strtod(r, &end);
            if (*end || end == r || !(red > 0 && red <= 1))
                return sgd_error(SGD_EPARSE, "model spec: reduction=%s: want a number in (0, 1]", r);
        }
        if ((rc = kv_unused(&o, name))) return rc;
        if ((depth - 4) % 6)
            return sgd_error(SGD_EINVAL, "model spec: densenet depth=%d: want depth = 6n+4", depth);
        out = build_densenet(B, in, depth, k, red, classes);
    } else if (!strcmp(name, "mlp")) {
        int w = 0, d = 0;
        if ((rc = kv_int(&o, "w", 128, 1, 1 << 20, &w))) return rc;
        if ((rc = kv_int(&o, "d", 2, 0, 100, &d))) return rc;
        if ((rc = kv_unused(&o, name))) return rc;
        int h = in;
        for (int i = 0; i < d; i++) {
            char nm[32];
            snprintf(nm, sizeof nm, "fc%d", i + 1);
            h = relu(B, linear(B, h, w, nm));
        }
        out = linear(B, h, classes, "fc");
    } else if (!strcmp(name, "convnet")) {
        int w = 0;
        if ((rc = kv_int(&o, "w", 16, 1, 4096, &w))) return rc;
        if ((rc = kv_unused(&o, name))) return rc;
        int h = bnrelu(B, conv(B, in, w, 3, 1, "conv1"), "bn1");
        h = avgpool_to(B, h, -1);
        h = bnrelu(B, conv(B, h, 2 * w, 3, 1, "conv2"), "bn2");
        h = avgpool_to(B, h, -1);
        h = bnrelu(B, conv(B, h, 4 * w, 3, 1, "conv3"), "bn3");
        out = linear(B, gap(B, h), classes, "fc");
    } else {
        return sgd_error(SGD_EPARSE,
                         "unknown model '%s' (resnet20|32|44|56|110, resnet:n=,w=, resnet34, "
                         "densenet, mlp, convnet)",
                         name);
    }
    if (B->err) return B->err;
    if (out < 0) return sgd_error(SGD_ENOMEM, "model: out of memory");
    B->net->logits = out;
    return 0;
}

sgd_net *sgd_net_create(const char *spec, int in_c, int in_h, int in_w, int classes)
{
    if (!spec || !*spec) {
        sgd_error(SGD_EPARSE, "empty model spec");
        return NULL;
    }
    if (in_c < 1 || in_h < 1 || in_w < 1 || in_c > 4096 || in_h > 65536 || in_w > 65536) {
        sgd_error(SGD_EINVAL, "model: bad input shape %dx%dx%d (C 1..4096, H and W 1..65536)", in_c, in_h, in_w);
        return NULL;
    }
    if (classes < 2 || classes > SGD_DATA_MAX_CLASSES) {
        sgd_error(SGD_EINVAL, "model: %d classes: need 2 to %d", classes, SGD_DATA_MAX_CLASSES);
        return NULL;
    }
    sgd_net *net = calloc(1, sizeof *net);
    if (!net) {
        sgd_error(SGD_ENOMEM, "model: out of memory");
        return NULL;
    }
    snprintf(net->spec, sizeof net->spec, "%s", spec);
    net->in_c = in_c;
    net->in_h = in_h;
    net->in_w = in_w;
    net->classes = classes;
    builder B = {net, 0, 0};
    net->input = nn_new_tensor(net, in_c, in_h, in_w);
    int rc = net->input < 0 ? sgd_error(SGD_ENOMEM, "model: out of memory") : build(&B, spec, net->input, classes);
    if (!rc && net->oom) rc = sgd_error(SGD_ENOMEM, "model: out of memory");
    if (!rc) rc = nn_index_tensors(net);
    if (rc) {
        if (!sgd_errmsg()[0]) sgd_error(rc, "model '%s': cannot build", spec);
        sgd_net_free(net);
        return NULL;
    }
    /* OpenBLAS (blas.c): loaded now, single-threaded; the engine parallelises around it */
    if (nn_blas_load()) {
        sgd_net_free(net);
        return NULL;
    }
    return net;
}

int sgd_nn_parse_shape(const char *s, int *c, int *h, int *w)
{
    char tail;
    if (!s || sscanf(s, "%dx%dx%d%c", c, h, w, &tail) != 3 || *c < 1 || *h < 1 || *w < 1 ||
        *c > 4096 || *h > 65536 || *w > 65536)
        return sgd_error(SGD_EPARSE, "input shape '%s': want CxHxW, e.g. 3x32x32", s ? s : "");
    return SGD_OK;
}
