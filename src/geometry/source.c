/* The network, data and loaders behind f for interp, surface and pca: a
 * train run's (read as the probes read it, probe_plan_open) or a model and
 * data set given directly; f at a point, with BN in train, eval or
 * recomputed mode. */
#include "geometry/geometry_internal.h"
#include "probes/probe_internal.h"
#include "sgdscape/io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sgd_geom_source_defaults(sgd_geom_source *s)
{
    memset(s, 0, sizeof *s);
    s->batches = 10;
    s->bn = SGD_NN_TRAIN;
    s->bn_batches = 10;
    s->seed = 1;
}

int sgd_geom_parse_range(const char *opt, const char *s, double *lo, double *hi, size_t *n)
{
    char *end;
    const char *want = "%s '%s': want LO:HI:N (LO < HI, N >= 2 points) or one value";
    *lo = strtod(s, &end);
    if (end == s || !isfinite(*lo)) return sgd_error(SGD_EPARSE, want, opt, s);
    if (!*end) {
        *hi = *lo;
        *n = 1;
        return SGD_OK;
    }
    const char *q = end + 1;
    if (*end != ':') return sgd_error(SGD_EPARSE, want, opt, s);
    *hi = strtod(q, &end);
    if (end == q || *end != ':' || !isfinite(*hi) || !(*hi > *lo)) return sgd_error(SGD_EPARSE, want, opt, s);
    q = end + 1;
    long k = strtol(q, &end, 10);
    if (end == q || *end || k < 2 || k > 1000000L) return sgd_error(SGD_EPARSE, want, opt, s);
    *n = (size_t)k;
    return SGD_OK;
}

double geom_grid(double lo, double hi, size_t n, size_t k)
{
    if (n < 2) return lo;
    if (k == n - 1) return hi; /* exactly, so that an end of 1 is 1 */
    return lo + (hi - lo) * (double)k / (double)(n - 1);
}

void geom_combine(const float *base, double a, const double *d1, double b, const double *d2, size_t p, float *x)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < p; i++) x[i] = (float)((double)base[i] + a * d1[i] + (d2 ? b * d2[i] : 0.0));
}

int geom_source_fingerprint(const geom_ctx *g, char *out, size_t n)
{
    const sgd_geom_source *s = g->s;
    int k = snprintf(out, n,
                     "sgdscape geometry points v1\n--run %s\n--model %s\n--data %s\n--classes %d\n--subset %zu\n"
                     "--batch %zu\n--batches %zu\n--bn %s\n--bn-batches %zu\n--buffers %s\n--seed %llu\n",
                     s->run ? s->run : "-", g->model, g->data, g->classes, s->subset, g->Ltr.o.batch, g->batches,
                     s->bn_recompute ? "recompute" : s->bn == SGD_NN_EVAL ? "eval" : "train",
                     s->bn_recompute ? s->bn_batches : 0, s->buffers ? s->buffers : "-", (unsigned long long)s->seed);
    return k > 0 && (size_t)k < n ? SGD_OK : sgd_error(SGD_EINVAL, "the options are too long to keep");
}

int geom_read_x(const geom_ctx *g, const char *path, float *x)
{
    return probe_read_x(g->net, g->model, g->classes, path, x);
}

void geom_x_path(const geom_ctx *g, int epoch, char *out, size_t n)
{
    if (epoch < 0) snprintf(out, n, "%s/x.npy", g->run);
    else snprintf(out, n, "%s/x/x_%04d.npy", g->run, epoch);
}

/* The run's validation split, as train made it: the last V training images
 * (--val V, "…/val") or the first V test images. */
static int load_run_val(geom_ctx *g)
{
    char path[4400], vs[160];
    snprintf(path, sizeof path, "%s/manifest.json", g->run);
    sgd_json *m = sgd_json_load(path);
    if (!m) return SGD_EIO;
    double nv = 0;
    int rc = SGD_OK;
    if (sgd_json_get_num(m, "val_images", &nv) || sgd_json_get_str(m, "val_set", vs, sizeof vs) || !(nv >= 0))
        rc = sgd_error(SGD_EFORMAT, "%s: not a train manifest (val_images, val_set)", path);
    sgd_json_free(m);
    if (rc || nv < 1) return rc;
    sgd_data_opts o = {0};
    size_t len = strlen(vs);
    int held_out = len >= 4 && !strcmp(vs + len - 4, "/val");
    if (held_out) o.val = (size_t)nv;
    else o.subset = (size_t)nv;
    if ((rc = sgd_data_load(g->data, held_out ? SGD_DATA_VAL : SGD_DATA_TEST, &o, &g->va))) return rc;
    g->have_va = 1;
    return SGD_OK;
}

static int open_run(const sgd_geom_source *s, int want_val, geom_ctx *g, sgd_data_loader_opts *lo)
{
    if (s->model || s->data || s->classes || s->subset)
        return sgd_error(SGD_EINVAL, "--run %s: the model, data, classes and split are the run's (leave them out)",
                         s->run);
    sgd_probe_config pc;
    sgd_probe_defaults(&pc);
    pc.runs = &s->run;
    pc.nruns = 1;
    pc.batch = s->batch;
    pc.batches = s->batches;
    pc.seed = s->seed;
    probe_plan P;
    int rc = probe_plan_open(&pc, &P, 0);
    if (!rc) {
        g->net = P.net;
        g->tr = P.tr;
        g->have_tr = 1;
        g->epoch = P.epoch;
        g->nepochs = P.nepochs;
        g->classes = P.classes;
        *lo = P.lo;
        snprintf(g->model, sizeof g->model, "%s", P.model);
        snprintf(g->data, sizeof g->data, "%s", P.data);
        snprintf(g->run, sizeof g->run, "%s", s->run);
        P.net = NULL;
        P.epoch = NULL;
        memset(&P.tr, 0, sizeof P.tr);
    }
    probe_plan_free(&P);
    if (!rc && want_val) rc = load_run_val(g);
    return rc;
}

static int open_direct(const sgd_geom_source *s, int want_val, geom_ctx *g, sgd_data_loader_opts *lo)
{
    if (!s->model) return sgd_error(SGD_EINVAL, "--model is required without --run");
    const char *data = s->data ? s->data : "fashion-mnist";
    if (strlen(s->model) >= sizeof g->model || strlen(data) >= sizeof g->data)
        return sgd_error(SGD_EINVAL, "--model or --data: too long");
    strcpy(g->model, s->model);
    strcpy(g->data, data);
    sgd_data_opts o = {0};
    o.subset = s->subset;
    o.classes = s->classes;
    o.min_classes = 2;
    int rc = sgd_data_load(data, SGD_DATA_TRAIN, &o, &g->tr);
    if (rc) return rc;
    g->have_tr = 1;
    g->classes = s->classes ? s->classes : g->tr.classes;
    if (g->tr.classes > g->classes)
        return sgd_error(SGD_EINVAL, "--classes %d: the labels of %s need %d", g->classes, g->tr.name, g->tr.classes);
    if (!(g->net = sgd_net_create(g->model, g->tr.c, g->tr.h, g->tr.w, g->classes))) return SGD_EINVAL;
    lo->batch = s->batch ? s->batch : 128;
    lo->shuffle = 1;
    lo->seed = s->seed;
    if ((rc = sgd_data_loader_opts_normalize_from(lo, &g->tr))) return rc;
    if (want_val && sgd_data_has_test(data)) {
        sgd_data_opts v = {0};
        v.classes = s->classes;
        if ((rc = sgd_data_load(data, SGD_DATA_TEST, &v, &g->va))) return rc;
        g->have_va = 1;
    }
    return SGD_OK;
}

static int read_buffers(geom_ctx *g, const char *path)
{
    sgd_npy a;
    int rc = sgd_npy_read(path, &a);
    if (rc) return rc;
    if (a.dtype != SGD_NPY_F32 || a.count != g->nbuf)
        rc = sgd_error(SGD_EFORMAT, "%s: %zu values, but model %s has %zu float32 BN buffer values", path, a.count,
                       g->model, g->nbuf);
    else rc = sgd_net_check_finite(g->net, a.data, 1, path);
    if (rc) sgd_npy_free(&a);
    else g->buffers = a.data;
    return rc;
}

int geom_open(const sgd_geom_source *s, int want_val, geom_ctx *g)
{
    memset(g, 0, sizeof *g);
    g->s = s;
    if (s->bn != SGD_NN_TRAIN && s->bn != SGD_NN_EVAL) return sgd_error(SGD_EINVAL, "bn: want train or eval");
    sgd_data_loader_opts lo = {0};
    int rc = s->run ? open_run(s, want_val, g, &lo) : open_direct(s, want_val, g, &lo);
    if (rc) return rc;
    g->p = sgd_net_nparams(g->net);
    g->nbuf = sgd_net_nbuffers(g->net);
    if ((rc = sgd_data_loader_init(&g->Ltr, &g->tr, &lo))) return rc;
    g->have_Ltr = 1;
    size_t nb = sgd_data_loader_batches(&g->Ltr);
    size_t nbn = s->bn_recompute ? s->bn_batches : 0;
    if (s->batches > nb || nbn > nb)
        return sgd_error(SGD_EINVAL, "--%s %zu: the training split has %zu batches of %zu",
                         s->batches > nb ? "batches" : "bn-batches", s->batches > nb ? s->batches : nbn, nb, lo.batch);
    g->batches = s->batches ? s->batches : nb;
    if (g->have_va) {
        if ((rc = sgd_data_loader_init(&g->Lva, &g->va, &lo))) return rc;
        g->have_Lva = 1;
        size_t nv = sgd_data_loader_batches(&g->Lva);
        g->val_batches = s->batches && s->batches < nv ? s->batches : nv;
    }
    if (g->nbuf && s->bn_recompute) {
        if (s->bn_batches < 1) return sgd_error(SGD_EINVAL, "--bn-batches: must be >= 1");
        g->bnbuf = malloc(g->nbuf * sizeof *g->bnbuf);
        g->bnacc = malloc(g->nbuf * sizeof *g->bnacc);
        if (!g->bnbuf || !g->bnacc) return sgd_error(SGD_ENOMEM, "out of memory");
    } else if (g->nbuf && s->bn == SGD_NN_EVAL) {
        char path[4400];
        if (s->buffers) snprintf(path, sizeof path, "%s", s->buffers);
        else if (s->run) snprintf(path, sizeof path, "%s/buffers.npy", s->run);
        else return sgd_error(SGD_EINVAL, "--bn eval: give --buffers FILE (the BN running statistics) or --run DIR");
        if ((rc = read_buffers(g, path))) return rc;
    }
    return SGD_OK;
}

void geom_close(geom_ctx *g)
{
    if (g->have_Ltr) sgd_data_loader_free(&g->Ltr);
    if (g->have_Lva) sgd_data_loader_free(&g->Lva);
    sgd_net_free(g->net);
    if (g->have_tr) sgd_data_free(&g->tr);
    if (g->have_va) sgd_data_free(&g->va);
    free(g->buffers);
    free(g->bnbuf);
    free(g->bnacc);
    free(g->epoch);
    memset(g, 0, sizeof *g);
}

/* Running statistics at x: each of the first bn_batches training batches in
 * train mode from zero buffers, which leaves 0.1 x that batch's statistics
 * (layers_bn.c's momentum), averaged with equal weight. */
static int recompute_bn(geom_ctx *g, const float *x)
{
    const sgd_dataset *d = g->Ltr.d;
    size_t B = g->Ltr.o.batch, per = (size_t)d->c * d->h * d->w;
    float *xb = malloc(sizeof(float) * B * per);
    int32_t *yb = malloc(sizeof(int32_t) * B);
    double *acc = calloc(g->nbuf, sizeof *acc);
    int rc = !xb || !yb || !acc ? sgd_error(SGD_ENOMEM, "out of memory") : SGD_OK;
    size_t R = g->s->bn_batches;
    for (size_t b = 0; b < R && !rc; b++) {
        size_t cnt = 0;
        double l;
        memset(g->bnbuf, 0, g->nbuf * sizeof *g->bnbuf);
        if (!(rc = sgd_data_loader_batch(&g->Ltr, 0, b, xb, yb, &cnt)))
            rc = sgd_net_run(g->net, x, g->bnbuf, SGD_NN_TRAIN, xb, yb, cnt, &l, NULL, NULL);
        for (size_t i = 0; i < g->nbuf && !rc; i++) acc[i] += (double)g->bnbuf[i] / 0.1;
    }
    for (size_t i = 0; i < g->nbuf && !rc; i++) g->bnacc[i] = (float)(acc[i] / (double)R);
    free(xb);
    free(yb);
    free(acc);
    return rc;
}

/* f on one split; a loss that overflows is NaN at that point, not an error
 * (far along a line or out on a grid the network may blow up). */
static int eval_split(geom_ctx *g, const float *x, const float *buf, int mode, sgd_data_loader *L, size_t k,
                      double *v)
{
    int rc = sgd_net_loss_grad(g->net, x, buf, mode, L, 0, 0, k, &v[0], NULL, &v[1]);
    if (rc == SGD_EDIVERGED) {
        sgd_error_clear();
        v[0] = v[1] = NAN;
        rc = SGD_OK;
    }
    return rc;
}

int geom_eval(geom_ctx *g, const float *x, int with_val, double *v)
{
    const float *buf = g->buffers;
    int mode = g->s->bn, rc;
    if (g->bnbuf) {
        if ((rc = recompute_bn(g, x))) return rc;
        buf = g->bnacc;
        mode = SGD_NN_EVAL;
    }
    v[2] = v[3] = NAN;
    if ((rc = eval_split(g, x, buf, mode, &g->Ltr, g->batches, v))) return rc;
    if (with_val && g->have_Lva) rc = eval_split(g, x, buf, mode, &g->Lva, g->val_batches, v + 2);
    return rc;
}

int geom_load_traj(const geom_ctx *g, float **x, int **epoch, size_t *n)
{
    *n = g->nepochs + 1;
    *x = malloc(*n * g->p * sizeof **x);
    *epoch = malloc(*n * sizeof **epoch);
    if (!*x || !*epoch) return sgd_error(SGD_ENOMEM, "out of memory for the trajectory (%zu x %zu floats)", *n, g->p);
    char path[4400];
    int rc = SGD_OK;
    for (size_t t = 0; t < *n && !rc; t++) {
        (*epoch)[t] = t < g->nepochs ? g->epoch[t] : -1;
        geom_x_path(g, (*epoch)[t], path, sizeof path);
        rc = geom_read_x(g, path, *x + t * g->p);
    }
    return rc;
}
