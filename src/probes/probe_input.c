/* Inputs of the probes: run manifests, train.csv, the stored epochs, the
 * network and the probe data, all checked before anything is computed. */
#include "probes/probe_internal.h"
#include "sgdscape/error.h"
#include "sgdscape/io.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static cJSON *load_json(const char *path)
{
    char *buf;
    size_t n;
    if (sgd_read_file(path, &buf, &n)) return NULL;
    cJSON *j = cJSON_ParseWithLength(buf, n);
    free(buf);
    if (!j) sgd_error(SGD_EFORMAT, "%s: not valid JSON", path);
    return j;
}

static const cJSON *item(const cJSON *j, const char *key) { return cJSON_GetObjectItemCaseSensitive(j, key); }

/* lr of every epoch from train.csv's second column ("epoch,lr,..."). */
static void read_train_csv(const char *run, probe_trial *T)
{
    char path[4300], *buf;
    size_t n;
    snprintf(path, sizeof path, "%s/train.csv", run);
    if (sgd_read_file(path, &buf, &n)) {
        sgd_error_clear(); /* optional: the schedule in the manifest serves */
        return;
    }
    for (char *line = strchr(buf, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
        char *end;
        long e = strtol(line + 1, &end, 10);
        if (*end != ',' || e < 0 || e > 100000000L) continue;
        double lr = strtod(end + 1, NULL);
        if ((size_t)e >= T->lr_n) {
            size_t m = (size_t)e + 64;
            double *q = realloc(T->lr_csv, m * sizeof *q);
            if (!q) break;
            for (size_t i = T->lr_n; i < m; i++) q[i] = NAN;
            T->lr_csv = q;
            T->lr_n = m;
        }
        T->lr_csv[e] = lr;
    }
    free(buf);
}

static void schedule_from_manifest(const cJSON *m, probe_trial *T)
{
    const cJSON *s = item(m, "lr_schedule"), *ep = item(m, "epochs");
    if (!cJSON_IsObject(s) || !cJSON_IsNumber(item(s, "base")) || !cJSON_IsString(item(s, "kind"))) return;
    const char *kind = item(s, "kind")->valuestring;
    double base = item(s, "base")->valuedouble;
    int epochs = cJSON_IsNumber(ep) ? ep->valueint : 0;
    if (!strcmp(kind, "exp")) {
        char spec[64];
        const cJSON *f = item(s, "factor");
        snprintf(spec, sizeof spec, "exp:%.17g", cJSON_IsNumber(f) ? f->valuedouble : 0.99);
        T->have_sched = !sgd_lr_schedule_parse(spec, base, epochs, &T->sched);
    } else if (!strcmp(kind, "const")) {
        T->have_sched = !sgd_lr_schedule_parse("const", base, epochs, &T->sched);
    } else {
        const cJSON *e = item(s, "epochs"), *v = item(s, "values");
        int k = cJSON_GetArraySize(e);
        if (k < 1 || k > SGD_LR_MAX_POINTS || k != cJSON_GetArraySize(v)) return;
        memset(&T->sched, 0, sizeof T->sched);
        T->sched.kind = SGD_LR_LIST;
        T->sched.npoints = k;
        for (int i = 0; i < k; i++) {
            T->sched.epoch[i] = cJSON_GetArrayItem(e, i)->valueint;
            T->sched.lr[i] = cJSON_GetArrayItem(v, i)->valuedouble;
        }
        T->sched.base = T->sched.lr[0];
        T->have_sched = 1;
    }
    sgd_error_clear();
}

static int copy_str(char *dst, size_t n, const char *src, const char *what)
{
    if (strlen(src) >= n) return sgd_error(SGD_EINVAL, "%s: too long", what);
    strcpy(dst, src);
    return SGD_OK;
}

/* Model, data, split size, classes, batch and normalisation of a run; every
 * trial must agree with the first, as all share one probe set. */
static int read_run(const sgd_probe_config *c, probe_plan *P, size_t i, double *mean, double *std, int *norm,
                    size_t *train_images)
{
    const char *run = c->runs[i];
    char path[4300];
    snprintf(path, sizeof path, "%s/manifest.json", run);
    if (!is_dir(run)) return sgd_error(SGD_EIO, "--run %s: not a directory", run);
    cJSON *m = load_json(path);
    if (!m) {
        char why[512];
        snprintf(why, sizeof why, "%s", sgd_errmsg());
        return sgd_error(SGD_EIO, "--run %s: %s", run, why);
    }
    int rc = SGD_OK;
    const cJSON *model = item(m, "model"), *data = item(m, "data"), *ti = item(m, "train_images"),
                *cl = item(m, "classes"), *b = item(m, "batch"), *aug = item(m, "augmentation");
    if (!cJSON_IsString(model) || !cJSON_IsString(data) || !cJSON_IsNumber(ti) || !cJSON_IsNumber(cl) ||
        !cJSON_IsNumber(b)) {
        rc = sgd_error(SGD_EFORMAT, "%s: not a train manifest (model, data, train_images, classes, batch)", path);
        goto out;
    }
    const cJSON *nz = aug ? item(aug, "normalize") : NULL, *mu = aug ? item(aug, "mean") : NULL,
                *sd = aug ? item(aug, "std") : NULL;
    int nrm = cJSON_IsTrue(nz);
    double mv[SGD_DATA_MAX_CHANNELS] = {0}, sv[SGD_DATA_MAX_CHANNELS] = {0};
    int nc = nrm ? cJSON_GetArraySize(mu) : 0;
    if (nrm && (nc < 1 || nc > SGD_DATA_MAX_CHANNELS || nc != cJSON_GetArraySize(sd))) {
        rc = sgd_error(SGD_EFORMAT, "%s: augmentation.mean/std missing", path);
        goto out;
    }
    for (int k = 0; k < nc; k++) {
        mv[k] = cJSON_GetArrayItem(mu, k)->valuedouble;
        sv[k] = cJSON_GetArrayItem(sd, k)->valuedouble;
    }
    if (i == 0) {
        if ((rc = copy_str(P->model, sizeof P->model, model->valuestring, path))) goto out;
        if ((rc = copy_str(P->data, sizeof P->data, data->valuestring, path))) goto out;
        P->classes = cl->valueint;
        P->lo.batch = (size_t)b->valuedouble;
        *train_images = (size_t)ti->valuedouble;
        *norm = nrm;
        memcpy(mean, mv, sizeof mv);
        memcpy(std, sv, sizeof sv);
    } else if (strcmp(P->model, model->valuestring) || strcmp(P->data, data->valuestring) ||
               P->classes != cl->valueint || *train_images != (size_t)ti->valuedouble || *norm != nrm ||
               memcmp(mean, mv, sizeof mv) || memcmp(std, sv, sizeof sv)) {
        rc = sgd_error(SGD_EINVAL, "--run %s: model, data or normalisation differ from --run %s (trials share one probe set)",
                       run, c->runs[0]);
        goto out;
    }
    probe_trial *T = &P->t[i];
    snprintf(T->xdir, sizeof T->xdir, "%s/x", run);
    if (c->target) snprintf(T->target, sizeof T->target, "%s", c->target);
    else snprintf(T->target, sizeof T->target, "%s/x.npy", run);
    read_train_csv(run, T);
    schedule_from_manifest(m, T);
out:
    cJSON_Delete(m);
    return rc;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* The epochs E of the files x_E.npy in dir, sorted. */
static int list_epochs(const char *dir, int **out, size_t *n)
{
    DIR *d = opendir(dir);
    if (!d) return sgd_error(SGD_EIO, "%s: cannot open the directory of x_EEEE.npy files", dir);
    size_t cap = 64, k = 0;
    int *e = malloc(cap * sizeof *e);
    struct dirent *de;
    while (e && (de = readdir(d))) {
        int v, len = 0;
        if (sscanf(de->d_name, "x_%9d.npy%n", &v, &len) != 1 || len == 0 || de->d_name[len] || v < 0) continue;
        if (k == cap) {
            int *q = realloc(e, 2 * cap * sizeof *e);
            if (!q) break;
            e = q;
            cap *= 2;
        }
        e[k++] = v;
    }
    closedir(d);
    if (!e) return sgd_error(SGD_ENOMEM, "out of memory");
    if (!k) {
        free(e);
        return sgd_error(SGD_EIO, "%s: no x_EEEE.npy files", dir);
    }
    qsort(e, k, sizeof *e, cmp_int);
    *out = e;
    *n = k;
    return SGD_OK;
}

static int parse_epochs(const char *s, long *a, long *b, long *step)
{
    char *end;
    *a = strtol(s, &end, 10);
    *b = *a;
    *step = 1;
    if (end != s && *end == ':') {
        const char *q = end + 1;
        *b = strtol(q, &end, 10);
        if (end == q) *b = -1;
        if (*end == ':') {
            q = end + 1;
            *step = strtol(q, &end, 10);
            if (end == q) *step = 0;
        }
    }
    if (end == s || *end || *a < 0 || (*b >= 0 && *b < *a) || *b > 100000000L || *step < 1)
        return sgd_error(SGD_EPARSE, "--epochs '%s': want A:B[:STEP] with 0 <= A <= B and STEP >= 1", s);
    return SGD_OK;
}

void probe_x_path(const probe_plan *P, size_t trial, int epoch, char *out, size_t n)
{
    snprintf(out, n, "%s/x_%04d.npy", P->t[trial].xdir, epoch);
}

int probe_read_x(sgd_net *net, const char *model, int classes, const char *path, float *x)
{
    struct stat st;
    if (stat(path, &st) != 0) return sgd_error(SGD_EIO, "%s: missing", path);
    sgd_npy a;
    int rc = sgd_npy_read(path, &a);
    if (rc) return rc;
    size_t p = sgd_net_nparams(net);
    if (a.dtype != SGD_NPY_F32 || a.count != p)
        rc = sgd_error(SGD_EFORMAT, "%s: %zu %s values, but model %s with %d classes has p = %zu float32 weights", path,
                       a.count, a.dtype == SGD_NPY_F32 ? "float32" : "non-float32", model, classes, p);
    else rc = sgd_net_check_finite(net, a.data, 0, path);
    if (!rc && x) memcpy(x, a.data, p * sizeof *x);
    sgd_npy_free(&a);
    return rc;
}

int probe_load_x(const probe_plan *P, const char *path, float *x)
{
    return probe_read_x(P->net, P->model, P->classes, path, x);
}

double probe_lr_at(const probe_plan *P, size_t trial, int epoch)
{
    const probe_trial *T = &P->t[trial];
    if ((size_t)epoch < T->lr_n && isfinite(T->lr_csv[epoch])) return T->lr_csv[epoch];
    return T->have_sched ? sgd_lr_at(&T->sched, epoch) : NAN;
}

static int choose_epochs(const sgd_probe_config *c, probe_plan *P)
{
    int *have;
    size_t nh;
    int rc = list_epochs(P->t[0].xdir, &have, &nh);
    if (rc) return rc;
    if (!c->epochs) {
        P->epoch = have;
        P->nepochs = nh;
        return SGD_OK;
    }
    long a, b, step;
    if ((rc = parse_epochs(c->epochs, &a, &b, &step))) {
        free(have);
        return rc;
    }
    int last = have[nh - 1];
    free(have);
    if (b < 0) b = last; /* "A:" runs to the last stored epoch */
    if (b < a) return sgd_error(SGD_EINVAL, "--epochs %s: the last stored epoch is %d", c->epochs, last);
    P->nepochs = (size_t)((b - a) / step + 1);
    P->epoch = malloc(P->nepochs * sizeof *P->epoch);
    if (!P->epoch) return sgd_error(SGD_ENOMEM, "out of memory");
    for (size_t k = 0; k < P->nepochs; k++) P->epoch[k] = (int)(a + (long)k * step);
    return SGD_OK;
}

int probe_plan_open(const sgd_probe_config *c, probe_plan *P, int check_files)
{
    memset(P, 0, sizeof *P);
    int rc = SGD_OK;
    if ((c->nruns > 0) == (c->traj != NULL)) return sgd_error(SGD_EINVAL, "give --run DIR (per trial) or --traj DIR");
    if (c->traj && (!c->target || !c->model || !c->data))
        return sgd_error(SGD_EINVAL, "--traj needs --target, --model and --data");
    if (!(c->radius > 0) || !isfinite(c->radius)) return sgd_error(SGD_EINVAL, "--radius: must be > 0");
    if (!(c->confidence > 0 && c->confidence < 1)) return sgd_error(SGD_EINVAL, "--confidence: must lie in (0, 1)");
    P->trials = c->traj ? 1 : c->nruns;
    P->t = calloc(P->trials, sizeof *P->t);
    if (!P->t) return sgd_error(SGD_ENOMEM, "out of memory");
    double mean[SGD_DATA_MAX_CHANNELS] = {0}, std[SGD_DATA_MAX_CHANNELS] = {0};
    int norm = 1;
    size_t train_images = 0;
    P->lo.batch = 128;
    if (c->traj) {
        if (!is_dir(c->traj)) return sgd_error(SGD_EIO, "--traj %s: not a directory", c->traj);
        snprintf(P->t[0].xdir, sizeof P->t[0].xdir, "%s", c->traj);
        snprintf(P->t[0].target, sizeof P->t[0].target, "%s", c->target);
        if (c->lr > 0) {
            /* "step" spans the stored epochs: largest + 1 */
            int *have;
            size_t nh;
            if ((rc = list_epochs(c->traj, &have, &nh))) return rc;
            int total = have[nh - 1] + 1;
            free(have);
            if ((rc = sgd_lr_schedule_parse(c->schedule, c->lr, total, &P->t[0].sched))) return rc;
            P->t[0].have_sched = 1;
        }
    } else {
        for (size_t i = 0; i < c->nruns && !rc; i++) rc = read_run(c, P, i, mean, std, &norm, &train_images);
        if (rc) return rc;
    }
    if (c->model && (rc = copy_str(P->model, sizeof P->model, c->model, "--model"))) return rc;
    if (c->data && (rc = copy_str(P->data, sizeof P->data, c->data, "--data"))) return rc;
    if (c->classes) P->classes = c->classes;
    if (c->batch) P->lo.batch = c->batch;
    /* the run's training split is the first train_images images whatever
     * --val held out (train keeps the last V for validation) */
    P->subset = c->subset ? c->subset : (c->data ? 0 : train_images);
    sgd_data_opts dopt = {0};
    dopt.subset = P->subset;
    dopt.classes = c->traj ? c->classes : 0;
    dopt.min_classes = 2;
    if ((rc = sgd_data_load(P->data, SGD_DATA_TRAIN, &dopt, &P->tr))) return rc;
    if (!P->classes) P->classes = P->tr.classes;
    if (P->tr.classes > P->classes)
        return sgd_error(SGD_EINVAL, "--classes %d: the labels of %s need %d", P->classes, P->tr.name, P->tr.classes);
    P->net = sgd_net_create(P->model, P->tr.c, P->tr.h, P->tr.w, P->classes);
    if (!P->net) return SGD_EINVAL;
    P->p = sgd_net_nparams(P->net);
    P->lo.shuffle = 1;
    P->lo.seed = c->seed;
    /* normalisation: the run's (what the network was trained on) unless the
     * data or the flag says otherwise */
    int want = c->normalize >= 0 ? c->normalize : (c->traj || c->data) ? 1 : norm;
    if (want && (c->normalize == 1 || c->traj || c->data)) {
        if ((rc = sgd_data_loader_opts_normalize_from(&P->lo, &P->tr))) return rc;
    } else if (want) {
        if (P->tr.c > SGD_DATA_MAX_CHANNELS) return sgd_error(SGD_EINVAL, "too many channels");
        P->lo.normalize = 1;
        memcpy(P->lo.mean, mean, sizeof mean);
        memcpy(P->lo.std, std, sizeof std);
    }
    P->batches = c->batches;
    if ((rc = choose_epochs(c, P))) return rc;
    if (!check_files) return SGD_OK;
    char path[4300];
    for (size_t i = 0; i < P->trials && !rc; i++) {
        rc = probe_load_x(P, P->t[i].target, NULL);
        for (size_t k = 0; k < P->nepochs && !rc; k++) {
            probe_x_path(P, i, P->epoch[k], path, sizeof path);
            rc = probe_load_x(P, path, NULL);
        }
    }
    return rc;
}

void probe_plan_free(probe_plan *P)
{
    for (size_t i = 0; P->t && i < P->trials; i++) free(P->t[i].lr_csv);
    free(P->t);
    free(P->epoch);
    sgd_net_free(P->net);
    sgd_data_free(&P->tr);
    memset(P, 0, sizeof *P);
}

char *probe_fingerprint(const sgd_probe_config *c, const probe_plan *P)
{
    size_t cap = 8192 + P->trials * 8500 + P->nepochs * 12;
    char *s = malloc(cap);
    if (!s) return NULL;
    size_t o = (size_t)snprintf(s, cap,
                                "sgdscape probe rows v1\nmodel %s\ndata %s\nclasses %d\nsubset %zu\nbatch %zu\n"
                                "batches %zu\npoints %zu\nradius %.17g\nconfidence %.17g\nsg_batches %zu\nseed %llu\n"
                                "normalize %d",
                                P->model, P->data, P->classes, P->subset, P->lo.batch, P->batches, c->points,
                                c->radius, c->confidence, c->sg_batches, (unsigned long long)c->seed, P->lo.normalize);
    for (int k = 0; P->lo.normalize && k < P->tr.c; k++)
        o += (size_t)snprintf(s + o, cap - o, " %.17g/%.17g", P->lo.mean[k], P->lo.std[k]);
    for (size_t i = 0; i < P->trials; i++)
        o += (size_t)snprintf(s + o, cap - o, "\ntrial %zu %s -> %s", i, P->t[i].xdir, P->t[i].target);
    o += (size_t)snprintf(s + o, cap - o, "\nepochs");
    for (size_t k = 0; k < P->nepochs; k++) o += (size_t)snprintf(s + o, cap - o, " %d", P->epoch[k]);
    snprintf(s + o, cap - o, "\n");
    return s;
}
