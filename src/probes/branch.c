/* Section 5.3: B SGD branches from one point (the set-up and the training;
 * the inner products are branch_measure.c's). */
#include "probes/branch_internal.h"
#include "probes/probe_internal.h"
#include "sgdscape/dist.h"
#include "sgdscape/error.h"
#include "sgdscape/io.h"
#include "sgdscape/rng.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void sgd_branch_defaults(sgd_branch_config *c)
{
    memset(c, 0, sizeof *c);
    c->data = "fashion-mnist";
    c->batch = 128;
    c->momentum = 0.9;
    c->weight_decay = 1e-4;
    c->crop = c->flip = -1;
    c->normalize = 1;
    c->shared_epochs = 10;
    c->branches = 50;
    c->epochs = 140;
    c->lr = 0.1;
    c->batches = 10;
    c->sharpness_precision = 64;
    c->seed = 1;
}

uint64_t sgd_branch_seed(uint64_t seed, size_t i)
{
    uint32_t w[4];
    sgd_rng_words(seed, SGD_RNG_BRANCH, (uint64_t)i, 0, 0, w);
    return (uint64_t)w[0] | (uint64_t)w[1] << 32;
}

void branch_dir(const branch_setup *S, size_t i, char *out, size_t n)
{
    snprintf(out, n, "%s/branches/b%03zu", S->work, i);
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int copy_str(char *dst, size_t n, const char *src, const char *what)
{
    if (strlen(src) >= n) return sgd_error(SGD_EINVAL, "%s: too long", what);
    strcpy(dst, src);
    return SGD_OK;
}

/* ---- inputs --------------------------------------------------------------- */
/* The training set-up of --run DIR from its manifest.json: the branches
 * continue that run's SGD (model, data, split, batch, momentum, wd, crop, flip). */
static int read_run_manifest(const sgd_branch_config *c, sgd_branch_result *R, size_t *subset)
{
    char path[4300], *buf;
    size_t n;
    snprintf(path, sizeof path, "%s/manifest.json", c->run);
    struct stat st;
    if (stat(c->run, &st) != 0 || !S_ISDIR(st.st_mode)) return sgd_error(SGD_EIO, "--run %s: not a directory", c->run);
    if (sgd_read_file(path, &buf, &n)) return SGD_EIO;
    cJSON *m = cJSON_ParseWithLength(buf, n);
    free(buf);
    if (!m) return sgd_error(SGD_EFORMAT, "%s: not valid JSON", path);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(m, "model"),
                *data = cJSON_GetObjectItemCaseSensitive(m, "data"),
                *ti = cJSON_GetObjectItemCaseSensitive(m, "train_images"),
                *b = cJSON_GetObjectItemCaseSensitive(m, "batch"),
                *mu = cJSON_GetObjectItemCaseSensitive(m, "momentum"),
                *wd = cJSON_GetObjectItemCaseSensitive(m, "weight_decay"),
                *cl = cJSON_GetObjectItemCaseSensitive(m, "classes"),
                *aug = cJSON_GetObjectItemCaseSensitive(m, "augmentation");
    const cJSON *crop = cJSON_GetObjectItemCaseSensitive(aug, "crop_pad"),
                *flip = cJSON_GetObjectItemCaseSensitive(aug, "flip"),
                *nz = cJSON_GetObjectItemCaseSensitive(aug, "normalize");
    int rc = SGD_OK;
    if (!cJSON_IsString(model) || !cJSON_IsString(data) || !cJSON_IsNumber(ti) || !cJSON_IsNumber(b) ||
        !cJSON_IsNumber(mu) || !cJSON_IsNumber(wd) || !cJSON_IsNumber(cl) || !cJSON_IsNumber(crop) ||
        !cJSON_IsBool(flip) || !cJSON_IsBool(nz) || !(b->valuedouble >= 1) || !(ti->valuedouble >= 1))
        rc = sgd_error(SGD_EFORMAT, "%s: not a train manifest (model, data, train_images, batch, momentum, "
                       "weight_decay, classes, augmentation)", path);
    if (!rc) rc = copy_str(R->model, sizeof R->model, model->valuestring, path);
    if (!rc) rc = copy_str(R->data, sizeof R->data, data->valuestring, path);
    if (!rc) {
        *subset = (size_t)ti->valuedouble;
        R->batch = (size_t)b->valuedouble;
        R->momentum = mu->valuedouble;
        R->weight_decay = wd->valuedouble;
        R->classes = cl->valueint;
        R->crop = crop->valueint;
        R->flip = cJSON_IsTrue(flip);
        R->normalize = cJSON_IsTrue(nz);
    }
    cJSON_Delete(m);
    return rc;
}

/* The BN buffers: float32, nbuf values, finite. */
static int read_buffers(sgd_net *net, const char *path, size_t n, float **out)
{
    sgd_npy a;
    int rc = sgd_npy_read(path, &a);
    if (rc) return rc;
    if (a.dtype != SGD_NPY_F32 || a.count != n)
        rc = sgd_error(SGD_EFORMAT, "%s: %zu values, but the network has %zu float32 BN buffers", path, a.count, n);
    else rc = sgd_net_check_finite(net, a.data, 1, path);
    if (rc) sgd_npy_free(&a);
    else *out = a.data;
    return rc;
}

/* The branch point from a train run directory: x/x_E0.npy (x at the start
 * of epoch E0), else the checkpoint at E0 (the end of a run of E0 epochs),
 * and the momentum and BN buffers of that checkpoint (a run keeps only its
 * last: without it the momentum is an error unless fresh, the buffers start
 * anew). */
static int load_branch_point(const sgd_branch_config *c, sgd_net *net, branch_setup *S, const char *src,
                             sgd_branch_result *R)
{
    char path[4400];
    int E0 = c->shared_epochs, rc;
    if (!(S->x0 = malloc(S->p * sizeof *S->x0))) return sgd_error(SGD_ENOMEM, "out of memory");
    snprintf(path, sizeof path, "%s/checkpoint/x_%06d.npy", src, E0);
    if (!exists(path)) snprintf(path, sizeof path, "%s/x/x_%04d.npy", src, E0);
    if ((rc = probe_read_x(net, R->model, R->classes, path, S->x0))) return rc;
    if (R->momentum > 0 && !c->fresh_momentum) {
        snprintf(path, sizeof path, "%s/checkpoint/momentum_%06d.npy", src, E0);
        if (!exists(path))
            return sgd_error(SGD_EIO, "%s: missing: a train run keeps its momentum only at its last checkpoint; "
                             "branch at that epoch or give --fresh-momentum", path);
        if (!(S->m0 = malloc(S->p * sizeof *S->m0))) return sgd_error(SGD_ENOMEM, "out of memory");
        if ((rc = probe_read_x(net, R->model, R->classes, path, S->m0))) return rc;
        R->momentum_from_prefix = 1;
    }
    snprintf(path, sizeof path, "%s/checkpoint/buffers_%06d.npy", src, E0);
    if (S->nbuf && exists(path)) {
        if ((rc = read_buffers(net, path, S->nbuf, &S->buf0))) return rc;
        R->buffers_from_prefix = 1;
    }
    return SGD_OK;
}

/* Everything checked before anything is written: numbers, the run, the
 * data, the network, K, and with --run the branch point itself. */
static int setup(const sgd_branch_config *c, branch_setup *S, sgd_branch_result *R)
{
    if (c->branches < 1 || c->epochs < 1) return sgd_error(SGD_EINVAL, "--branches and --epochs must be >= 1");
    if (c->shared_epochs < (c->run ? 0 : 1))
        return sgd_error(SGD_EINVAL, "--shared-epochs must be >= %d", c->run ? 0 : 1);
    if (!(c->lr > 0) || !isfinite(c->lr)) return sgd_error(SGD_EINVAL, "--lr: must be > 0");
    if (c->sharpness_precision != 64 && c->sharpness_precision != 32)
        return sgd_error(SGD_EINVAL, "--sharpness-precision %d: 64 or 32", c->sharpness_precision);
    size_t subset = c->subset;
    int rc;
    if (c->run) {
        if ((rc = read_run_manifest(c, R, &subset))) return rc;
        snprintf(R->source, sizeof R->source, "%s", c->run);
    } else {
        if (!c->model) return sgd_error(SGD_EINVAL, "--model is required without --run");
        if (c->batch < 1) return sgd_error(SGD_EINVAL, "--batch must be >= 1");
        if (c->momentum < 0 || c->momentum >= 1 || c->weight_decay < 0)
            return sgd_error(SGD_EINVAL, "momentum must lie in [0, 1) and weight decay be >= 0");
        if ((rc = copy_str(R->model, sizeof R->model, c->model, "--model")) ||
            (rc = copy_str(R->data, sizeof R->data, c->data ? c->data : "fashion-mnist", "--data")))
            return rc;
        R->batch = c->batch;
        R->momentum = c->momentum;
        R->weight_decay = c->weight_decay;
    }
    /* the splits, crop, flip and normalisation as train resolves them (a
     * run's own settings with --run); the branches are not validated */
    sgd_train_data_spec ds = {R->data, 0, subset, 0, c->crop, c->flip, c->normalize != 0};
    if (c->run) {
        ds.crop = R->crop;
        ds.flip = R->flip;
        ds.normalize = R->normalize;
    }
    if ((rc = sgd_train_data_load(&ds, &S->td))) return rc;
    const sgd_dataset *D = &S->td.train;
    S->aug = S->td.aug;
    R->train_images = D->n;
    if (!c->run) R->classes = D->classes;
    R->crop = S->aug.crop_pad;
    R->flip = S->aug.flip;
    R->normalize = S->aug.normalize;
    sgd_data_loader L; /* the training batches' options, checked as train will use them */
    S->aug.batch = R->batch;
    if ((rc = sgd_data_loader_init(&L, D, &S->aug))) return rc;
    sgd_data_loader_free(&L);
    sgd_net *net = sgd_net_create(R->model, D->c, D->h, D->w, R->classes);
    if (!net) return SGD_EINVAL;
    S->p = sgd_net_nparams(net);
    S->nbuf = sgd_net_nbuffers(net);
    S->nb = (D->n + R->batch - 1) / R->batch;
    if (c->batches > S->nb)
        rc = sgd_error(SGD_EINVAL, "--batches %zu: the training split has %zu batches of %zu", c->batches, S->nb,
                       R->batch);
    S->probe_batches = c->batches ? c->batches : S->nb;
    R->batches = S->probe_batches;
    if (!rc && c->run) rc = load_branch_point(c, net, S, c->run, R);
    sgd_net_free(net);
    return rc;
}

/* ---- training --------------------------------------------------------------- */
typedef struct train_progress {
    branch_setup *S;
    double offset;
} train_progress;

static void on_train_progress(void *ctx, double done, double total)
{
    (void)total;
    train_progress *tp = ctx;
    if (tp->S->progress) tp->S->progress(tp->S->ctx, tp->offset + done, tp->S->total);
}

static int has_state(const char *dir, const char *suffix)
{
    char path[4700];
    snprintf(path, sizeof path, "%s%s/checkpoint/state.json", dir, suffix);
    return exists(path);
}

/* The epoch a resumed run continues from (its checkpoint/state.json). */
static int resume_epoch(const char *dir)
{
    char path[4700];
    snprintf(path, sizeof path, "%s%s/checkpoint/state.json", dir, has_state(dir, ".partial") ? ".partial" : "");
    sgd_json *st = sgd_json_load(path);
    double e = 0;
    if (!st || sgd_json_get_num(st, "epoch", &e) || !(e >= 0 && e < 1e9)) e = 0;
    sgd_json_free(st);
    sgd_error_clear();
    return (int)e;
}

/* One train run into dir, continued when work already holds part of it;
 * *trained: the epochs trained now. */
static int train_one(const sgd_branch_config *c, branch_setup *S, const sgd_branch_result *R, const char *dir,
                     uint64_t seed, int epochs, double offset, int *trained)
{
    char path[4700];
    snprintf(path, sizeof path, "%s/x.npy", dir);
    *trained = 0;
    if (exists(path)) return SGD_OK; /* finished */
    int resume = has_state(dir, ".partial") || has_state(dir, "");
    int start = resume ? resume_epoch(dir) : 0;
    sgd_train_config t;
    sgd_train_defaults(&t);
    t.spec = R->model;
    t.data = R->data;
    t.train = &S->td.train;
    t.aug = S->aug;
    t.seed = seed;
    t.epochs = epochs;
    t.batch = R->batch;
    t.momentum = R->momentum;
    t.weight_decay = R->weight_decay;
    sgd_lr_schedule_parse("const", c->lr, epochs, &t.lr);
    t.threads = c->threads;
    t.save_every_x = 1;
    t.quiet = 1;
    train_progress tp = {S, offset};
    t.progress = on_train_progress;
    t.progress_ctx = &tp;
    t.stop = c->stop;
    t.stop_ctx = c->stop_ctx;
    t.argc = c->argc;
    t.argv = c->argv;
    if (S->x0) { /* a branch; the prefix starts from the seed */
        t.x0 = S->x0;
        t.x0_count = S->p;
        t.x0_name = "the branch point";
        t.m0 = S->m0;
        t.buf0 = S->buf0;
    }
    int rc = sgd_train_run(&t, dir, resume);
    if (!rc) *trained = epochs - start;
    return rc;
}

/* A text that changes whenever anything that shapes the results changes:
 * work/config.txt, so that --resume never mixes two experiments. */
static char *fingerprint(const sgd_branch_config *c, const sgd_branch_result *R, const branch_setup *S)
{
    size_t cap = 8192;
    char *s = malloc(cap);
    if (!s) return NULL;
    size_t o = (size_t)snprintf(
        s, cap,
        "sgdscape branch v1\nrun %s\nmodel %s\ndata %s\ntrain_images %zu\nclasses %d\nbatch %zu\nmomentum %.17g\n"
        "weight_decay %.17g\ncrop %d\nflip %d\nnormalize %d\nshared_epochs %d\nbranches %d\nepochs %d\nlr %.17g\n"
        "fresh_momentum %d\nbatches %zu\nseed %llu\n",
        c->run ? c->run : "(own prefix)", R->model, R->data, R->train_images, R->classes, R->batch, R->momentum,
        R->weight_decay, R->crop, R->flip, R->normalize, c->shared_epochs, c->branches, c->epochs, c->lr,
        c->fresh_momentum, c->batches, (unsigned long long)c->seed);
    for (int k = 0; R->normalize && k < S->td.train.c && o < cap; k++)
        o += (size_t)snprintf(s + o, cap - o, "mean/std %.17g/%.17g\n", S->aug.mean[k], S->aug.std[k]);
    return s;
}

void sgd_branch_result_free(sgd_branch_result *r)
{
    free(r->row);
    free(r->inner);
    free(r->dist);
    free(r->final_loss);
    free(r->dist_start);
    free(r->sharpness);
    free(r->branch_seed);
    memset(r, 0, sizeof *r);
}

static int interrupted(const sgd_branch_config *c)
{
    return c->stop && c->stop(c->stop_ctx) ? sgd_error(SGD_EINVAL, "interrupted") : SGD_OK;
}

int sgd_branch_run(const sgd_branch_config *c, sgd_branch_result *R, sgd_branch_progress_fn progress, void *ctx)
{
    memset(R, 0, sizeof *R);
    double t0 = sgd_now();
    branch_setup S;
    memset(&S, 0, sizeof S);
    char *fp = NULL;
    int *epochs = NULL;
    int rc = setup(c, &S, R);
    if (rc) goto out;
    size_t B = (size_t)c->branches, E1 = (size_t)c->epochs;
    R->branches = B;
    R->epochs = E1;
    R->p = S.p;
    R->branch_seed = malloc(B * sizeof *R->branch_seed);
    if (!R->branch_seed) {
        rc = sgd_error(SGD_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < B; i++) R->branch_seed[i] = sgd_branch_seed(c->seed, i);
    /* Rank 0 opens the work directory and claims it; the others learn its
     * path (branches are trained by every rank into it: a shared file system). */
    const char *work = c->work;
    if (c->ready && (rc = c->ready(c->ready_ctx, &work))) goto out;
    char path[4400];
    if (sgd_dist_rank() == 0) {
        if (!work || !*work || strlen(work) >= sizeof S.work - 64)
            rc = sgd_error(SGD_EINVAL, "branch: no work directory, or its path is too long");
        else {
            snprintf(S.work, sizeof S.work, "%s", work);
            snprintf(path, sizeof path, "%s/branches", work);
            if (!(fp = fingerprint(c, R, &S))) rc = sgd_error(SGD_ENOMEM, "out of memory");
            else if (!(rc = sgd_mkdirs(path))) rc = sgd_rundir_claim(work, fp, "branch run there was made");
        }
    }
    if ((rc = sgd_dist_agree(rc)) || (rc = sgd_dist_bcast(S.work, sizeof S.work))) goto out;
    snprintf(R->work, sizeof R->work, "%s", S.work);
    S.progress = progress;
    S.ctx = ctx;
    double prefix_units = c->run ? 0 : (double)c->shared_epochs * (double)S.nb, branch_units = (double)E1 * (double)S.nb;
    S.total = prefix_units + (double)B * branch_units + (double)(B * E1 + B) * (double)S.probe_batches;
    double tt = sgd_now();
    int trained;
    if (!c->run) { /* rank 0 trains the prefix; every rank branches from it */
        snprintf(path, sizeof path, "%s/prefix", S.work);
        snprintf(R->source, sizeof R->source, "%s", path);
        if (sgd_dist_rank() == 0) rc = train_one(c, &S, R, path, c->seed, c->shared_epochs, 0, &trained);
        if ((rc = sgd_dist_agree(rc))) goto out;
        sgd_net *net = sgd_net_create(R->model, S.td.train.c, S.td.train.h, S.td.train.w, R->classes);
        if (!net) {
            rc = SGD_EINVAL;
            goto out;
        }
        rc = load_branch_point(c, net, &S, path, R);
        sgd_net_free(net);
        if ((rc = sgd_dist_agree(rc))) goto out;
    }
    /* the branches: a contiguous slice per rank; epochs[i] trained now, -1 if it was finished */
    if (!(epochs = calloc(B, sizeof *epochs))) {
        rc = sgd_error(SGD_ENOMEM, "out of memory");
        goto out;
    }
    size_t lo, hi;
    sgd_dist_slice(B, &lo, &hi);
    for (size_t i = lo; i < hi; i++) {
        if ((rc = interrupted(c))) break;
        branch_dir(&S, i, path, sizeof path);
        double off = prefix_units + (double)i * branch_units;
        if ((rc = train_one(c, &S, R, path, R->branch_seed[i], c->epochs, off, &trained))) break;
        epochs[i] = trained ? trained : -1;
        if (progress) progress(ctx, off + branch_units, S.total);
    }
    if ((rc = sgd_dist_agree(rc))) goto out;
    sgd_dist_gather_inplace(epochs, B, sizeof *epochs, 0);
    for (size_t i = 0; i < B; i++) {
        if (epochs[i] > 0) R->branch_epochs_trained += (size_t)epochs[i];
        else R->resumed_branches++;
    }
    R->train_seconds = sgd_now() - tt;
    S.offset = prefix_units + (double)B * branch_units;
    tt = sgd_now();
    rc = branch_measure(c, &S, R);
    R->measure_seconds = sgd_now() - tt;
    if (!rc && sgd_dist_rank() != 0) rc = sgd_dist_hand_off();
out:
    free(fp);
    free(epochs);
    free(S.x0);
    free(S.m0);
    free(S.buf0);
    sgd_train_data_free(&S.td);
    R->seconds = sgd_now() - t0;
    if (rc) sgd_branch_result_free(R);
    return rc;
}
