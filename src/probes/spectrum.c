/* Section 5.4, Figure 6: a base run at a large step, fine-tunes at a small
 * step from several of its epochs, and the local minima they reach. */
#include "probes/probe_internal.h"
#include "probes/spectrum_internal.h"
#include "sgdscape/dist.h"
#include "sgdscape/error.h"
#include "sgdscape/io.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void sgd_spectrum_defaults(sgd_spectrum_config *c)
{
    memset(c, 0, sizeof *c);
    c->momentum = NAN;
    c->weight_decay = NAN;
    c->crop = c->flip = c->normalize = -1;
    c->starts = "every:10";
    c->lr_fine = 0.01;
    c->epochs_fine = 150;
    c->probe_batches = 10;
    c->sharpness_precision = 64;
    c->seed = 1;
}

void sgd_spectrum_result_free(sgd_spectrum_result *r)
{
    free(r->row);
    free(r->inner);
    memset(r, 0, sizeof *r);
}

int sgd_spectrum_parse_starts(const char *s, int epochs, int **starts, size_t *n)
{
    *starts = NULL;
    *n = 0;
    const char *want = "--starts '%s': want increasing epochs (0,10,20) or every:K";
    if (!s || !*s) return sgd_error(SGD_EPARSE, want, s ? s : "");
    char *end;
    if (!strncmp(s, "every:", 6)) {
        long k = strtol(s + 6, &end, 10);
        if (end == s + 6 || *end || k < 1 || k > 1000000000L) return sgd_error(SGD_EPARSE, want, s);
        *n = (size_t)(epochs / k) + 1;
        if (!(*starts = malloc(*n * sizeof **starts))) return sgd_error(SGD_ENOMEM, "out of memory");
        for (size_t i = 0; i < *n; i++) (*starts)[i] = (int)((long)i * k);
        return SGD_OK;
    }
    size_t cap = 1;
    for (const char *q = s; *q; q++) cap += *q == ',';
    if (!(*starts = malloc(cap * sizeof **starts))) return sgd_error(SGD_ENOMEM, "out of memory");
    for (const char *q = s;; q = end + 1) {
        long e = strtol(q, &end, 10);
        if (end == q || (*end && *end != ',') || e < 0 || e > 1000000000L || (*n && e <= (*starts)[*n - 1])) {
            free(*starts);
            *starts = NULL;
            *n = 0;
            return sgd_error(SGD_EPARSE, want, s);
        }
        (*starts)[(*n)++] = (int)e;
        if (!*end) break;
    }
    if ((*starts)[*n - 1] > epochs) {
        int last = (*starts)[*n - 1];
        free(*starts);
        *starts = NULL;
        *n = 0;
        return sgd_error(SGD_EINVAL, "--starts %s: epoch %d is beyond the base run's %d epochs", s, last, epochs);
    }
    return SGD_OK;
}

/* ---- the base run's settings -------------------------------------------- */
static const cJSON *item(const cJSON *j, const char *key) { return cJSON_GetObjectItemCaseSensitive(j, key); }

static double num(const cJSON *j, const char *key, int *bad)
{
    const cJSON *v = item(j, key);
    if (!cJSON_IsNumber(v)) *bad = 1;
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* A value given in the config must agree with the run's. */
static int differs(const char *run, const char *opt, double given, double have)
{
    return sgd_error(SGD_EINVAL, "--run %s was trained with %s %.17g, not %.17g (leave it out to use the run's)", run,
                     opt, have, given);
}

/* The settings of a reused run from its manifest.json into R and *A. */
static int read_run(spectrum_plan *P, sgd_data_loader_opts *A)
{
    const sgd_spectrum_config *c = P->c;
    sgd_spectrum_result *R = P->R;
    char path[4300], *buf = NULL;
    size_t n;
    struct stat st;
    if (stat(c->run, &st) != 0 || !S_ISDIR(st.st_mode)) return sgd_error(SGD_EIO, "--run %s: not a directory", c->run);
    snprintf(path, sizeof path, "%s/manifest.json", c->run);
    if (sgd_read_file(path, &buf, &n)) return SGD_EIO;
    cJSON *m = cJSON_ParseWithLength(buf, n);
    free(buf);
    if (!m) return sgd_error(SGD_EFORMAT, "%s: not valid JSON", path);
    int bad = 0, rc = SGD_OK;
    const cJSON *model = item(m, "model"), *data = item(m, "data"), *aug = item(m, "augmentation"),
                *lr = item(m, "lr_schedule");
    R->epochs = (int)num(m, "epochs", &bad);
    R->batch = (size_t)num(m, "batch", &bad);
    R->momentum = num(m, "momentum", &bad);
    R->weight_decay = num(m, "weight_decay", &bad);
    R->train_images = (size_t)num(m, "train_images", &bad);
    R->val_images = (size_t)num(m, "val_images", &bad);
    R->lr = cJSON_IsObject(lr) ? num(lr, "base", &bad) : NAN;
    A->crop_pad = cJSON_IsObject(aug) ? (int)num(aug, "crop_pad", &bad) : 0;
    A->flip = cJSON_IsTrue(item(aug, "flip"));
    A->normalize = cJSON_IsTrue(item(aug, "normalize"));
    const cJSON *mu = item(aug, "mean"), *sd = item(aug, "std");
    int nc = A->normalize ? cJSON_GetArraySize(mu) : 0;
    if (!cJSON_IsString(model) || !cJSON_IsString(data) || !cJSON_IsObject(lr) || bad || R->epochs < 1 ||
        nc > SGD_DATA_MAX_CHANNELS || nc != (A->normalize ? cJSON_GetArraySize(sd) : 0) ||
        (A->normalize && nc < 1)) {
        rc = sgd_error(SGD_EFORMAT, "%s: not a train manifest (model, data, epochs, batch, momentum, weight_decay, "
                                    "lr_schedule, augmentation)", path);
        goto out;
    }
    for (int k = 0; k < nc; k++) {
        A->mean[k] = cJSON_GetArrayItem(mu, k)->valuedouble;
        A->std[k] = cJSON_GetArrayItem(sd, k)->valuedouble;
    }
    snprintf(R->model, sizeof R->model, "%s", model->valuestring);
    snprintf(R->data, sizeof R->data, "%s", data->valuestring);
    if (c->model && strcmp(c->model, R->model))
        rc = sgd_error(SGD_EINVAL, "--run %s holds model '%s', not '%s'", c->run, R->model, c->model);
    else if (c->data && strcmp(c->data, R->data))
        rc = sgd_error(SGD_EINVAL, "--run %s was trained on '%s', not '%s'", c->run, R->data, c->data);
    else if (c->epochs && c->epochs != R->epochs) rc = differs(c->run, "--epochs", c->epochs, R->epochs);
    else if (c->lr > 0 && c->lr != R->lr) rc = differs(c->run, "--lr", c->lr, R->lr);
    else if (c->batch && c->batch != R->batch) rc = differs(c->run, "--batch", (double)c->batch, (double)R->batch);
    else if (!isnan(c->momentum) && c->momentum != R->momentum)
        rc = differs(c->run, "--momentum", c->momentum, R->momentum);
    else if (!isnan(c->weight_decay) && c->weight_decay != R->weight_decay)
        rc = differs(c->run, "--wd", c->weight_decay, R->weight_decay);
    else if (c->crop >= 0 && c->crop != A->crop_pad) rc = differs(c->run, "--crop", c->crop, A->crop_pad);
    else if (c->flip >= 0 && c->flip != A->flip) rc = differs(c->run, "flip", c->flip, A->flip);
    else if (c->normalize >= 0 && c->normalize != A->normalize)
        rc = differs(c->run, "normalize", c->normalize, A->normalize);
out:
    cJSON_Delete(m);
    return rc;
}

/* The base settings: the run's, or the config's with the paper's defaults. */
static int resolve(spectrum_plan *P)
{
    const sgd_spectrum_config *c = P->c;
    sgd_spectrum_result *R = P->R;
    sgd_data_loader_opts run_aug = {0};
    int rc;
    if (c->run) {
        if ((rc = read_run(P, &run_aug))) return rc;
        snprintf(R->base, sizeof R->base, "%s", c->run);
    } else {
        if (!c->model) return sgd_error(SGD_EINVAL, "--model is required (or --run DIR)");
        snprintf(R->model, sizeof R->model, "%s", c->model);
        snprintf(R->data, sizeof R->data, "%s", c->data ? c->data : "fashion-mnist");
        R->epochs = c->epochs ? c->epochs : 300;
        R->lr = c->lr > 0 ? c->lr : 0.1;
        R->batch = c->batch ? c->batch : 128;
        R->momentum = isnan(c->momentum) ? 0.9 : c->momentum;
        R->weight_decay = isnan(c->weight_decay) ? 1e-4 : c->weight_decay;
        if (R->epochs < 1) return sgd_error(SGD_EINVAL, "--epochs: must be >= 1");
    }
    if (!(c->lr_fine > 0) || !isfinite(c->lr_fine)) return sgd_error(SGD_EINVAL, "--lr-fine: must be > 0");
    if (c->sharpness_precision != 64 && c->sharpness_precision != 32)
        return sgd_error(SGD_EINVAL, "--sharpness-precision %d: 64 or 32", c->sharpness_precision);
    if (c->epochs_fine < 1) return sgd_error(SGD_EINVAL, "--epochs-fine: must be >= 1");
    if (!(R->momentum >= 0 && R->momentum < 1) || !(R->weight_decay >= 0) || R->batch < 1)
        return sgd_error(SGD_EINVAL, "momentum must lie in [0, 1), weight decay be >= 0 and batch >= 1");
    /* the data, split as `train` splits it; a reused run's augmentation */
    sgd_train_data_spec ds = {R->data, c->val, c->subset, c->val_subset, c->crop, c->flip, c->normalize != 0};
    if (c->run) ds.crop = ds.flip = ds.normalize = 0;
    if ((rc = sgd_train_data_load(&ds, &P->D))) return rc;
    if (c->run) P->D.aug = run_aug;
    const sgd_dataset *tr = &P->D.train;
    size_t nv = P->D.have_val ? P->D.val.n : 0;
    if (c->run && (tr->n != R->train_images || nv != R->val_images))
        return sgd_error(SGD_EINVAL, "--run %s was trained on %zu images and validated on %zu; these options give %zu "
                         "and %zu (give the run's --val, --subset and --val-subset)", c->run, R->train_images,
                         R->val_images, tr->n, nv);
    R->train_images = tr->n;
    R->val_images = nv;
    R->crop = P->D.aug.crop_pad;
    R->flip = P->D.aug.flip;
    R->normalize = P->D.aug.normalize;
    R->classes = tr->classes;
    if (nv && P->D.val.classes > R->classes) R->classes = P->D.val.classes;
    if (!(P->net = sgd_net_create(R->model, tr->c, tr->h, tr->w, R->classes))) return SGD_EINVAL;
    R->p = sgd_net_nparams(P->net);
    size_t nb = (tr->n + R->batch - 1) / R->batch;
    if (c->probe_batches > nb)
        return sgd_error(SGD_EINVAL, "--batches %zu: the training split has %zu batches of %zu", c->probe_batches, nb,
                         R->batch);
    if ((rc = sgd_spectrum_parse_starts(c->starts, R->epochs, &P->start, &P->nstarts))) return rc;
    if (!c->run) return SGD_OK;
    /* a reused run: x_0 and every start point, read in full */
    char path[4400];
    snprintf(path, sizeof path, "%s/x/x_0000.npy", c->run);
    rc = spectrum_load_x(P, path, NULL);
    for (size_t k = 0; k < P->nstarts && !rc; k++) {
        spectrum_start_path(P, P->start[k], path, sizeof path);
        rc = spectrum_load_x(P, path, NULL);
    }
    return rc;
}

int spectrum_load_x(const spectrum_plan *P, const char *path, float *x)
{
    return probe_read_x(P->net, P->R->model, P->R->classes, path, x);
}

void spectrum_start_path(const spectrum_plan *P, int s, char *out, size_t n)
{
    if (s == P->R->epochs) snprintf(out, n, "%s/x.npy", P->R->base);
    else snprintf(out, n, "%s/x/x_%04d.npy", P->R->base, s);
}

/* ---- resume -------------------------------------------------------------- */
/* WORK/config.txt: everything that shapes the results (not the threads). */
static int claim(const spectrum_plan *P)
{
    const sgd_spectrum_config *c = P->c;
    const sgd_spectrum_result *R = P->R;
    char fp[8192];
    int o = snprintf(fp, sizeof fp,
                     "sgdscape spectrum v1\nrun %s\nmodel %s\ndata %s\nsplit %zu %zu %zu\nepochs %d\nlr %.17g\n"
                     "batch %zu\nmomentum %.17g\nwd %.17g\ncrop %d flip %d normalize %d\nlr_fine %.17g\n"
                     "epochs_fine %d\nprobe_batches %zu\nseed %llu\nstarts",
                     c->run ? c->run : "(trained)", R->model, R->data, c->val, c->subset, c->val_subset, R->epochs,
                     R->lr, R->batch, R->momentum, R->weight_decay, R->crop, R->flip, R->normalize, c->lr_fine,
                     c->epochs_fine, c->probe_batches, (unsigned long long)c->seed);
    for (int k = 0; P->D.aug.normalize && k < P->D.train.c; k++)
        o += snprintf(fp + o, sizeof fp - (size_t)o, " %.17g/%.17g", P->D.aug.mean[k], P->D.aug.std[k]);
    for (size_t k = 0; k < P->nstarts && (size_t)o < sizeof fp - 16; k++)
        o += snprintf(fp + o, sizeof fp - (size_t)o, " %d", P->start[k]);
    snprintf(fp + o, sizeof fp - (size_t)o, "\n");
    return sgd_rundir_claim(P->work, fp, "runs there come from a spectrum");
}

static int exists(const char *dir, const char *name)
{
    char path[4400];
    struct stat st;
    snprintf(path, sizeof path, "%s%s", dir, name);
    return stat(path, &st) == 0;
}

static void tick(void *ctx, double done, double total)
{
    const spectrum_tick *k = ctx;
    if (k->fn) k->fn(k->ctx, k->before + k->epochs * done / total, k->total);
}

/* Train the run in dir, or continue it, or reuse it (*reused: it was finished). */
static int train_into(spectrum_plan *P, const char *dir, int epochs, double lr, const float *x0, const char *x0_name,
                      spectrum_tick *k, int *reused, int *resumed)
{
    const sgd_spectrum_config *c = P->c;
    const sgd_spectrum_result *R = P->R;
    *reused = exists(dir, "/summary.json");
    *resumed = 0;
    if (*reused) return SGD_OK;
    sgd_train_config t;
    sgd_train_defaults(&t);
    t.spec = R->model;
    sgd_train_config_data(&t, &P->D, R->data);
    t.seed = c->seed;
    t.epochs = epochs;
    t.batch = R->batch;
    t.momentum = R->momentum;
    t.weight_decay = R->weight_decay;
    int rc = sgd_lr_schedule_parse("const", lr, epochs, &t.lr);
    if (rc) return rc;
    t.threads = c->threads;
    t.save_every_x = 1;
    t.x0 = x0;
    t.x0_count = x0 ? R->p : 0;
    t.x0_name = x0_name;
    k->epochs = epochs;
    t.progress = tick;
    t.progress_ctx = k;
    t.stop = c->stop;
    t.stop_ctx = c->stop_ctx;
    t.argc = c->argc;
    t.argv = c->argv;
    *resumed = exists(dir, ".partial/checkpoint/state.json") || exists(dir, "/checkpoint/state.json");
    return sgd_train_run(&t, dir, *resumed);
}

static void free_plan(spectrum_plan *P)
{
    sgd_train_data_free(&P->D);
    sgd_net_free(P->net);
    free(P->start);
}

int sgd_spectrum_run(const sgd_spectrum_config *c, sgd_spectrum_result *R, sgd_spectrum_progress_fn progress,
                     void *ctx)
{
    memset(R, 0, sizeof *R);
    double t0 = sgd_now();
    spectrum_plan P;
    memset(&P, 0, sizeof P);
    P.c = c;
    P.R = R;
    float *x0 = NULL, *xs = NULL;
    int *how = NULL;
    int rc = resolve(&P);
    if (rc) goto out;
    size_t p = R->p, F = (size_t)c->epochs_fine;
    R->nstarts = P.nstarts;
    R->epochs_fine = F;
    R->row = calloc(P.nstarts, sizeof *R->row);
    R->inner = malloc(P.nstarts * F * sizeof *R->inner);
    x0 = malloc(p * sizeof *x0);
    xs = malloc(p * sizeof *xs);
    if (!R->row || !R->inner || !x0 || !xs) {
        rc = sgd_error(SGD_ENOMEM, "out of memory for %zu starts x %zu epochs (p = %zu)", P.nstarts, F, p);
        goto out;
    }
    /* Rank 0 opens the work directory and claims it; the others learn its
     * path: the fine-tunes are split over the ranks, each trained into it. */
    const char *work = c->work;
    if (c->ready && (rc = c->ready(c->ready_ctx, &work))) goto out;
    char dir[4400], path[4400], name[64];
    if (sgd_dist_rank() == 0) {
        if (!work || strlen(work) >= sizeof P.work)
            rc = sgd_error(SGD_EINVAL, "spectrum: no work directory, or its path is too long");
        else {
            snprintf(P.work, sizeof P.work, "%s", work);
            snprintf(dir, sizeof dir, "%s/fine", P.work);
            if (!(rc = sgd_mkdirs(dir))) rc = claim(&P);
        }
    }
    if ((rc = sgd_dist_agree(rc)) || (rc = sgd_dist_bcast(P.work, sizeof P.work))) goto out;
    spectrum_tick k = {progress, ctx, 0, 0, (c->run ? 0 : R->epochs) + (double)(P.nstarts * F)};
    int reused = 0, resumed = 0;
    if (!c->run) { /* rank 0 trains the base */
        snprintf(R->base, sizeof R->base, "%s/base", P.work);
        if (sgd_dist_rank() == 0) rc = train_into(&P, R->base, R->epochs, R->lr, NULL, NULL, &k, &reused, &resumed);
        if ((rc = sgd_dist_agree(rc))) goto out;
        R->base_trained = sgd_dist_rank() == 0 && !reused;
    }
    snprintf(path, sizeof path, "%s/x/x_0000.npy", R->base);
    if ((rc = spectrum_load_x(&P, path, x0))) goto out;
    /* the fine-tunes: a contiguous slice of the starts per rank; how[i]: reused, resumed */
    if (!(how = calloc(2 * P.nstarts + 1, sizeof *how))) {
        rc = sgd_error(SGD_ENOMEM, "out of memory");
        goto out;
    }
    size_t lo, hi;
    sgd_dist_slice(P.nstarts, &lo, &hi);
    for (size_t i = lo; i < hi && !rc; i++) {
        k.before = (c->run ? 0 : R->epochs) + (double)(i * F);
        spectrum_start_path(&P, P.start[i], path, sizeof path);
        if ((rc = spectrum_load_x(&P, path, xs))) break;
        snprintf(name, sizeof name, "/fine/s%04d", P.start[i]);
        snprintf(dir, sizeof dir, "%s%s", P.work, name);
        if ((rc = train_into(&P, dir, c->epochs_fine, c->lr_fine, xs, path, &k, &reused, &resumed))) break;
        how[2 * i] = reused;
        how[2 * i + 1] = resumed;
        if ((rc = spectrum_measure(&P, i, dir, x0, xs))) break;
        if (progress) progress(ctx, k.before + (double)F, k.total);
    }
    if ((rc = sgd_dist_agree(rc))) goto out;
    sgd_dist_gather_inplace(R->row, P.nstarts, sizeof *R->row, 0);
    sgd_dist_gather_inplace(R->inner, P.nstarts, F * sizeof *R->inner, 0);
    sgd_dist_gather_inplace(how, P.nstarts, 2 * sizeof *how, 0);
    if (sgd_dist_rank() != 0) {
        rc = sgd_dist_hand_off();
        goto out;
    }
    for (size_t i = 0; i < P.nstarts; i++) {
        R->fine_reused += how[2 * i];
        R->fine_resumed += how[2 * i + 1];
        R->fine_trained += !how[2 * i];
    }
    rc = spectrum_claims(&P);
out:
    free(x0);
    free(xs);
    free(how);
    free_plan(&P);
    R->seconds = sgd_now() - t0;
    if (rc) sgd_spectrum_result_free(R);
    return rc;
}
