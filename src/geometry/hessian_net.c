/* The Hessian of a network's loss as an operator: Pearlmutter products
 * (sgd_net_loss_hvp, hvp.h) over K fixed loader batches of the training
 * split, at weights from a file or a `train` run directory. */
#include "geometry/hessian_internal.h"
#include "sgdscape/data.h"
#include "sgdscape/hvp.h"
#include "sgdscape/io.h"
#include "sgdscape/nn.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct net_state {
    sgd_dataset tr;
    sgd_net *net;
    sgd_npy W, B;
    int haveB, haveL, mode;
    sgd_data_loader L;
    size_t batches;
    double loss;
} net_state;

static int apply_net(void *ctx, const double *v, double *hv)
{
    net_state *s = ctx;
    return sgd_net_loss_hvp(s->net, s->W.data, s->haveB ? s->B.data : NULL, s->mode, &s->L, 0, 0, s->batches, v, hv,
                            &s->loss);
}

static void net_destroy(void *p)
{
    net_state *s = p;
    if (!s) return;
    if (s->haveL) sgd_data_loader_free(&s->L);
    sgd_net_free(s->net);
    sgd_data_free(&s->tr);
    sgd_npy_free(&s->W);
    if (s->haveB) sgd_npy_free(&s->B);
    free(s);
}

/* What a `train` run directory says about its network and data. */
typedef struct run_info {
    char model[256], data[1024], weights[4200], buffers[4200];
    double classes, batch, train_images;
    int normalize;
    double mean[SGD_DATA_MAX_CHANNELS], std[SGD_DATA_MAX_CHANNELS];
} run_info;

static const cJSON *item(const cJSON *j, const char *key) { return cJSON_GetObjectItemCaseSensitive(j, key); }

static int read_run(const char *run, run_info *ri)
{
    char path[4300], *buf;
    size_t len;
    snprintf(path, sizeof path, "%s/manifest.json", run);
    if (sgd_read_file(path, &buf, &len)) {
        char why[512];
        snprintf(why, sizeof why, "%s", sgd_errmsg());
        return sgd_error(SGD_EIO, "--run %s: %s", run, why);
    }
    cJSON *m = cJSON_ParseWithLength(buf, len);
    free(buf);
    if (!m) return sgd_error(SGD_EFORMAT, "%s: not valid JSON", path);
    const cJSON *model = item(m, "model"), *data = item(m, "data"), *cl = item(m, "classes"), *b = item(m, "batch"),
                *ti = item(m, "train_images"), *aug = item(m, "augmentation");
    const cJSON *mu = aug ? item(aug, "mean") : NULL, *sd = aug ? item(aug, "std") : NULL;
    int rc = SGD_OK, nc = cJSON_GetArraySize(mu);
    if (!cJSON_IsString(model) || !cJSON_IsString(data) || !cJSON_IsNumber(cl) || !cJSON_IsNumber(b) ||
        !cJSON_IsNumber(ti) || strlen(model->valuestring) >= sizeof ri->model ||
        strlen(data->valuestring) >= sizeof ri->data) {
        rc = sgd_error(SGD_EFORMAT, "%s: not a train manifest (model, data, classes, batch, train_images)", path);
    } else if ((ri->normalize = cJSON_IsTrue(aug ? item(aug, "normalize") : NULL)) &&
               (nc < 1 || nc > SGD_DATA_MAX_CHANNELS || nc != cJSON_GetArraySize(sd))) {
        rc = sgd_error(SGD_EFORMAT, "%s: augmentation.mean/std missing", path);
    } else {
        strcpy(ri->model, model->valuestring);
        strcpy(ri->data, data->valuestring);
        ri->classes = cl->valuedouble;
        ri->batch = b->valuedouble;
        ri->train_images = ti->valuedouble;
        for (int k = 0; ri->normalize && k < nc; k++) {
            ri->mean[k] = cJSON_GetArrayItem(mu, k)->valuedouble;
            ri->std[k] = cJSON_GetArrayItem(sd, k)->valuedouble;
        }
    }
    cJSON_Delete(m);
    if (rc) return rc;
    snprintf(ri->weights, sizeof ri->weights, "%s/x.npy", run);
    snprintf(ri->buffers, sizeof ri->buffers, "%s/buffers.npy", run);
    struct stat st;
    if (stat(ri->weights, &st)) return sgd_error(SGD_EIO, "--run %s: no x.npy (the final weights)", run);
    if (stat(ri->buffers, &st)) ri->buffers[0] = 0;
    return SGD_OK;
}

int hess_op_network(const sgd_hessian_config *c, hess_op *o)
{
    memset(o, 0, sizeof *o);
    if (!c->run && (!c->model || !c->weights)) return sgd_error(SGD_EINVAL, "give --f SPEC --at X, or --model and weights, or --run DIR");
    if (c->run && (c->model || c->weights))
        return sgd_error(SGD_EINVAL, "--run %s: the model and weights come from the run; drop --model and the weights", c->run);
    run_info ri;
    memset(&ri, 0, sizeof ri);
    int rc = c->run ? read_run(c->run, &ri) : SGD_OK;
    if (rc) return rc;
    net_state *s = calloc(1, sizeof *s);
    if (!s) return sgd_error(SGD_ENOMEM, "out of memory");
    o->state = s;
    o->destroy = net_destroy;
    const char *model = c->run ? ri.model : c->model, *weights = c->run ? ri.weights : c->weights;
    const char *buffers = c->buffers ? c->buffers : (c->run && ri.buffers[0] ? ri.buffers : NULL);
    const char *data = c->data ? c->data : c->run ? ri.data : "fashion-mnist";
    int classes = c->classes ? c->classes : (int)ri.classes;
    if ((rc = sgd_npy_read(weights, &s->W))) return rc;
    if (buffers) {
        if ((rc = sgd_npy_read(buffers, &s->B))) return rc;
        s->haveB = 1;
    }
    if (c->bn_eval && !buffers) return sgd_error(SGD_EINVAL, "--bn eval needs the BN running statistics (--buffers)");
    sgd_data_opts dopt = {0};
    dopt.subset = c->subset ? c->subset : (size_t)ri.train_images;
    dopt.classes = c->run ? 0 : c->classes;
    dopt.min_classes = 2;
    if ((rc = sgd_data_load(data, SGD_DATA_TRAIN, &dopt, &s->tr))) return rc;
    if (classes && s->tr.classes > classes)
        return sgd_error(SGD_EINVAL, "--classes %d: the labels of %s need %d", classes, s->tr.name, s->tr.classes);
    if (!(s->net = sgd_net_create(model, s->tr.c, s->tr.h, s->tr.w, classes ? classes : s->tr.classes))) return SGD_EINVAL;
    if ((rc = sgd_net_set_hvp_precision(s->net, c->precision))) return rc;
    size_t p = sgd_net_nparams(s->net);
    if (s->W.dtype != SGD_NPY_F32 || s->W.count != p)
        return sgd_error(SGD_EINVAL, "%s: want %zu float32 weights for model %s, the file has %zu%s", weights, p, model,
                         s->W.count, s->W.dtype != SGD_NPY_F32 ? " of another type" : "");
    if (s->haveB && (s->B.dtype != SGD_NPY_F32 || s->B.count != sgd_net_nbuffers(s->net)))
        return sgd_error(SGD_EINVAL, "%s: want %zu float32 BN buffer values for model %s", buffers,
                         sgd_net_nbuffers(s->net), model);
    if ((rc = sgd_net_check_finite(s->net, s->W.data, 0, weights))) return rc;
    if (s->haveB && (rc = sgd_net_check_finite(s->net, s->B.data, 1, buffers))) return rc;
    sgd_data_loader_opts lo = {0};
    lo.batch = c->batch ? c->batch : ri.batch > 0 ? (size_t)ri.batch : 128;
    lo.shuffle = 1;
    lo.seed = c->seed;
    if (c->run && !c->data && ri.normalize) { /* the run's own statistics, as it trained */
        lo.normalize = 1;
        memcpy(lo.mean, ri.mean, sizeof lo.mean);
        memcpy(lo.std, ri.std, sizeof lo.std);
    } else if (c->normalize && (!c->run || c->data) && (rc = sgd_data_loader_opts_normalize_from(&lo, &s->tr))) {
        return rc;
    }
    if ((rc = sgd_data_loader_init(&s->L, &s->tr, &lo))) return rc;
    s->haveL = 1;
    size_t nb = sgd_data_loader_batches(&s->L);
    if (c->batches > nb)
        return sgd_error(SGD_EINVAL, "--batches %zu: the split has %zu batches of %zu", c->batches, nb, lo.batch);
    s->batches = c->batches;
    s->mode = c->bn_eval ? SGD_NN_EVAL : SGD_NN_TRAIN;
    o->op.n = p;
    o->op.apply = apply_net;
    o->op.ctx = s;
    snprintf(o->source, sizeof o->source, "network");
    snprintf(o->hvp, sizeof o->hvp, "exact R-operator products (sgd_net_loss_hvp), float%d, BN %s",
             c->precision, c->bn_eval ? "eval" : "train");
    snprintf(o->what, sizeof o->what, "%.250s at %.600s on %.250s (%zu of %zu batches of %zu)", model, weights, data,
             c->batches ? c->batches : nb, nb, lo.batch);
    o->fx = NAN;
    o->loss = &s->loss; /* f(x) comes with every product */
    s->loss = NAN;
    return SGD_OK;
}
