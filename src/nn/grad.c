/* f(x) and grad f(x) of a network at given weights, as `sgdscape grad`
 * computes them: the experiment behind the command (nn.h, sgd_grad_*). The
 * checks come in the order a user meets them: the weights file, the buffers
 * file, the data, then the network they must fit. */
#include "sgdscape/io.h"
#include "sgdscape/nn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sgd_grad_defaults(sgd_grad_config *c)
{
    memset(c, 0, sizeof *c);
    c->data = "fashion-mnist";
    c->batches = 1;
    c->batch = 128;
    c->normalize = 1;
    c->seed = 1;
}

void sgd_grad_result_free(sgd_grad_result *r)
{
    free(r->grad);
    memset(r, 0, sizeof *r);
}

/* The weights (and buffers) against the network: count, dtype, finite. */
static int check_vectors(const sgd_grad_config *c, const sgd_net *net, const sgd_npy *W, const sgd_npy *B)
{
    size_t p = sgd_net_nparams(net);
    if (W->dtype != SGD_NPY_F32) return sgd_error(SGD_EINVAL, "--weights %s: want float32 values", c->weights);
    if (W->count != p) /* the class count comes from the labels unless given, and sizes the last layer */
        return sgd_error(SGD_EINVAL, "--weights %s: weights have %zu parameters, model %s with %d classes needs %zu%s",
                         c->weights, W->count, c->model, sgd_net_classes(net), p,
                         c->classes ? "" : "; pass --classes?");
    if (c->buffers && (B->dtype != SGD_NPY_F32 || B->count != sgd_net_nbuffers(net)))
        return sgd_error(SGD_EINVAL, "--buffers %s: %zu values, but model %s has %zu float32 BN buffer values",
                         c->buffers, B->count, c->model, sgd_net_nbuffers(net));
    char what[4200];
    snprintf(what, sizeof what, "--weights %s", c->weights);
    int rc = sgd_net_check_finite(net, W->data, 0, what);
    snprintf(what, sizeof what, "--buffers %s", c->buffers ? c->buffers : "");
    if (!rc && c->buffers) rc = sgd_net_check_finite(net, B->data, 1, what);
    return rc;
}

int sgd_grad_run(const sgd_grad_config *c, sgd_grad_result *r)
{
    memset(r, 0, sizeof *r);
    sgd_dataset tr = {0};
    sgd_npy W = {0}, B = {0};
    sgd_net *net = NULL;
    sgd_data_loader L = {0};
    int haveL = 0, rc;
    sgd_data_opts dopt = {0};
    dopt.subset = c->subset;
    dopt.classes = c->classes; /* npy: a label at or above it is an error */
    dopt.min_classes = 2;
    if ((rc = sgd_npy_read(c->weights, &W))) return rc;
    if (c->buffers && (rc = sgd_npy_read(c->buffers, &B))) goto done;
    if ((rc = sgd_data_load(c->data, SGD_DATA_TRAIN, &dopt, &tr))) goto done;
    if (c->classes && tr.classes > c->classes) {
        rc = sgd_error(SGD_EINVAL, "--classes %d: the labels of %s need %d", c->classes, tr.name, tr.classes);
        goto done;
    }
    if (!(net = sgd_net_create(c->model, tr.c, tr.h, tr.w, c->classes ? c->classes : tr.classes))) {
        rc = SGD_EINVAL;
        goto done;
    }
    if ((rc = check_vectors(c, net, &W, &B))) goto done;
    sgd_data_loader_opts lo = {0};
    lo.batch = c->batch;
    lo.shuffle = 1;
    lo.seed = c->seed;
    if (c->normalize && (rc = sgd_data_loader_opts_normalize_from(&lo, &tr))) goto done;
    if ((rc = sgd_data_loader_init(&L, &tr, &lo))) goto done;
    haveL = 1;
    r->p = sgd_net_nparams(net);
    if (!(r->grad = malloc(sizeof(double) * r->p))) {
        rc = sgd_error(SGD_ENOMEM, "out of memory for the gradient (%zu doubles)", r->p);
        goto done;
    }
    if ((rc = sgd_net_loss_grad(net, W.data, c->buffers ? B.data : NULL, c->eval ? SGD_NN_EVAL : SGD_NN_TRAIN, &L,
                                c->epoch, c->first, c->batches, &r->loss, r->grad, &r->accuracy)))
        goto done;
    double gn = 0;
    for (size_t i = 0; i < r->p; i++) gn += r->grad[i] * r->grad[i];
    r->grad_norm = sqrt(gn);
    r->batches = c->batches ? c->batches : sgd_data_loader_batches(&L) - c->first;
done:
    if (rc) sgd_grad_result_free(r);
    if (haveL) sgd_data_loader_free(&L);
    sgd_net_free(net);
    sgd_data_free(&tr);
    sgd_npy_free(&W);
    if (c->buffers) sgd_npy_free(&B);
    return rc;
}

int sgd_grad_write(const char *dir, const sgd_grad_config *c, const sgd_grad_result *r)
{
    char path[4400];
    size_t shape[1] = {r->p};
    snprintf(path, sizeof path, "%s/grad.npy", dir);
    int rc = sgd_npy_write(path, SGD_NPY_F64, r->grad, 1, shape);
    if (rc) return rc;
    sgd_json *s = sgd_json_new();
    sgd_json_num(s, "loss", r->loss);
    sgd_json_num(s, "accuracy", r->accuracy);
    sgd_json_num(s, "grad_norm", r->grad_norm);
    sgd_json_int(s, "parameters", (long long)r->p);
    if ((rc = sgd_json_write_free(s, dir, "summary.json"))) return rc;
    sgd_json *m = sgd_json_new();
    sgd_json_manifest_header(m, c->argc, c->argv, c->threads);
    sgd_json_str(m, "command", "grad");
    sgd_json_str(m, "model", c->model);
    sgd_json_str(m, "weights", c->weights);
    sgd_json_str(m, "buffers", c->buffers ? c->buffers : "");
    sgd_json_str(m, "data", c->data);
    sgd_json_str(m, "bn_mode", c->eval ? "eval (running statistics)" : "train (batch statistics)");
    sgd_json_int(m, "batch", (long long)c->batch);
    sgd_json_int(m, "first_batch", (long long)c->first);
    sgd_json_int(m, "batches", (long long)r->batches);
    sgd_json_int(m, "epoch", (long long)c->epoch);
    char sd[32];
    snprintf(sd, sizeof sd, "%llu", (unsigned long long)c->seed);
    sgd_json_str(m, "seed", sd);
    sgd_json_bool(m, "normalize", c->normalize);
    return sgd_json_write_free(m, dir, "manifest.json");
}
