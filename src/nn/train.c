/* SGD with momentum and weight decay (schedules: train_lr.c), and the
 * checkpointed, resumable training loop. */
#include "nn/nn_internal.h"
#include "sgdscape/dist.h"
#include "sgdscape/error.h"
#include "sgdscape/io.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

void sgd_nn_sgd_step(float *x, const float *g, float *m, size_t p, double lr, double mu, double wd)
{
    float flr = (float)lr, fmu = (float)mu, fwd = (float)wd;
    if (mu != 0 && m) {
        for (size_t i = 0; i < p; i++) {
            float d = g[i] + fwd * x[i];
            m[i] = fmu * m[i] + d;
            x[i] -= flr * m[i];
        }
    } else {
        for (size_t i = 0; i < p; i++) x[i] -= flr * (g[i] + fwd * x[i]);
    }
}

void sgd_train_defaults(sgd_train_config *c)
{
    memset(c, 0, sizeof *c);
    c->seed = 1;
    c->epochs = 10;
    c->batch = 128;
    c->momentum = 0.9;
    c->weight_decay = 1e-4;
    sgd_lr_schedule_parse("const", 0.1, 10, &c->lr);
    c->save_every_x = 1;
}

/* ---- the training loop ------------------------------------------------ */
typedef struct trainer {
    const sgd_train_config *c;
    sgd_net *net;
    size_t p;
    float *x, *m, *buf, *g, *xb;
    int32_t *yb;
    sgd_rundir rd;           /* DIR.partial for a new run, renamed to DIR at the end */
    int have_ckpt;           /* a complete checkpoint is on disk: keep it on failure */
    int split, root;         /* data-parallel over the MPI ranks; this rank writes (rank 0) */
    char *csv; size_t csv_n, csv_cap;
} trainer;

static const char *const CKPT_KINDS[3] = {"x", "momentum", "buffers"};

/* CRC32 (zlib) and size of a file's bytes, read in pieces. */
static int file_crc(const char *path, unsigned long *crc, unsigned long long *size)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return sgd_error(SGD_EIO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char buf[1 << 16];
    uLong c = crc32(0L, Z_NULL, 0);
    unsigned long long n = 0;
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, fp)) > 0) {
        c = crc32(c, buf, (uInt)k);
        n += k;
    }
    int err = ferror(fp);
    fclose(fp);
    if (err) return sgd_error(SGD_EIO, "%s: read error", path);
    *crc = c;
    *size = n;
    return SGD_OK;
}

static int save_vec(const trainer *T, const char *name, const float *v, size_t n)
{
    char path[4400];
    int rc = sgd_rundir_file(&T->rd, name, path, sizeof path);
    if (rc) return rc;
    size_t shape[1] = {n};
    return sgd_npy_write(path, SGD_NPY_F32, v ? v : (const float *)"", 1, shape);
}

static int load_vec(const trainer *T, const char *name, float *v, size_t n)
{
    char path[4400];
    int rc = sgd_rundir_file(&T->rd, name, path, sizeof path);
    if (rc) return rc;
    sgd_npy a;
    rc = sgd_npy_read(path, &a);
    if (rc) return rc;
    if (a.dtype != SGD_NPY_F32 || a.count != n) {
        sgd_npy_free(&a);
        return sgd_error(SGD_EFORMAT, "%s: want %zu float32 values", path, n);
    }
    if (n) memcpy(v, a.data, sizeof(float) * n);
    sgd_npy_free(&a);
    return SGD_OK;
}

/* Checkpoint of the state at the start of `epoch`: files carry the epoch in
 * their names and state.json is written last, so a kill at any moment
 * leaves state.json pointing at a complete set. */
static int checkpoint(trainer *T, int epoch)
{
    char name[128], path[4400];
    int rc;
    snprintf(name, sizeof name, "checkpoint/x_%06d.npy", epoch);
    if ((rc = save_vec(T, name, T->x, T->p))) return rc;
    snprintf(name, sizeof name, "checkpoint/momentum_%06d.npy", epoch);
    if ((rc = save_vec(T, name, T->m, T->m ? T->p : 0))) return rc;
    snprintf(name, sizeof name, "checkpoint/buffers_%06d.npy", epoch);
    if ((rc = save_vec(T, name, T->buf, T->net->nbuf))) return rc;
    sgd_json *j = sgd_json_new();
    sgd_json_int(j, "epoch", epoch);
    sgd_json_str(j, "model", T->net->spec);
    sgd_json_int(j, "parameters", (long long)T->p);
    sgd_json_int(j, "seed_low32", (long long)(T->c->seed & 0xffffffffu));
    sgd_json_int(j, "seed_high32", (long long)(T->c->seed >> 32));
    /* sizes and CRC32s of the files as written, so --resume can tell a
     * damaged or truncated checkpoint from a good one */
    sgd_json *cs = sgd_json_obj(j, "crc32"), *sz = sgd_json_obj(j, "bytes");
    for (int k = 0; k < 3 && !rc; k++) {
        unsigned long crc = 0;
        unsigned long long size = 0;
        snprintf(name, sizeof name, "checkpoint/%s_%06d.npy", CKPT_KINDS[k], epoch);
        rc = sgd_rundir_file(&T->rd, name, path, sizeof path);
        if (!rc) rc = file_crc(path, &crc, &size);
        sgd_json_int(cs, CKPT_KINDS[k], (long long)crc);
        sgd_json_int(sz, CKPT_KINDS[k], (long long)size);
    }
    if (!rc) rc = sgd_rundir_file(&T->rd, "checkpoint/state.json", path, sizeof path);
    if (!rc) rc = sgd_json_write(j, path);
    sgd_json_free(j);
    if (rc) return rc;
    T->have_ckpt = 1;
    if (epoch > 0) {
        for (int k = 0; k < 3; k++) {
            snprintf(name, sizeof name, "checkpoint/%s_%06d.npy", CKPT_KINDS[k], epoch - 1);
            if (sgd_rundir_file(&T->rd, name, path, sizeof path) == SGD_OK) remove(path);
        }
    }
    return SGD_OK;
}

static void csv_add(trainer *T, const char *line)
{
    size_t k = strlen(line);
    if (T->csv_n + k + 1 > T->csv_cap) {
        size_t nc = T->csv_cap ? T->csv_cap * 2 : 4096;
        while (nc < T->csv_n + k + 1) nc *= 2;
        char *q = realloc(T->csv, nc);
        if (!q) return;
        T->csv = q;
        T->csv_cap = nc;
    }
    memcpy(T->csv + T->csv_n, line, k + 1);
    T->csv_n += k;
}

static const char CSV_HEADER[] =
    "epoch,lr,train_loss,train_acc,val_loss,val_acc,grad_norm,img_per_s,seconds\n";

/* On resume keep the rows of epochs before `epoch`. */
static void csv_reload(trainer *T, int epoch)
{
    char path[4400], *text = NULL;
    size_t n = 0;
    csv_add(T, CSV_HEADER);
    if (sgd_rundir_file(&T->rd, "train.csv", path, sizeof path) || sgd_read_file(path, &text, &n)) {
        sgd_error_clear();
        return;
    }
    char *save = NULL;
    int first = 1;
    for (char *ln = strtok_r(text, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save)) {
        if (first) {
            first = 0;
            continue;
        }
        if (atoi(ln) < epoch) {
            csv_add(T, ln);
            csv_add(T, "\n");
        }
    }
    free(text);
}

static int write_manifest(const trainer *T, int resumed_at)
{
    const sgd_train_config *c = T->c;
    sgd_json *j = sgd_json_new();
    sgd_json_manifest_header(j, c->argc, c->argv, c->threads);
    sgd_json_str(j, "command", "train");
    sgd_json_str(j, "model", T->net->spec);
    sgd_json_int(j, "parameters", (long long)T->p);
    sgd_json_int(j, "bn_buffers", (long long)T->net->nbuf);
    sgd_json_str(j, "data", c->data ? c->data : "");
    sgd_json_str(j, "train_set", c->train->name);
    sgd_json_int(j, "train_images", (long long)c->train->n);
    sgd_json_str(j, "val_set", c->val ? c->val->name : "");
    sgd_json_int(j, "val_images", c->val ? (long long)c->val->n : 0);
    double in[3] = {c->train->c, c->train->h, c->train->w};
    sgd_json_nums(j, "input", in, 3);
    sgd_json_int(j, "classes", c->train->classes);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)c->seed);
    sgd_json_str(j, "seed", seed);
    sgd_json_int(j, "epochs", c->epochs);
    sgd_json_int(j, "batch", (long long)c->batch);
    sgd_json_num(j, "momentum", c->momentum);
    sgd_json_num(j, "weight_decay", c->weight_decay);
    sgd_json *lr = sgd_json_obj(j, "lr_schedule");
    const char *kinds[4] = {"const", "step", "exp", "list"};
    sgd_json_str(lr, "kind", kinds[c->lr.kind]);
    sgd_json_num(lr, "base", c->lr.base);
    if (c->lr.kind == SGD_LR_EXP) sgd_json_num(lr, "factor", c->lr.factor);
    if (c->lr.npoints) {
        double e[SGD_LR_MAX_POINTS];
        for (int i = 0; i < c->lr.npoints; i++) e[i] = c->lr.epoch[i];
        sgd_json_nums(lr, "epochs", e, (size_t)c->lr.npoints);
        sgd_json_nums(lr, "values", c->lr.lr, (size_t)c->lr.npoints);
    }
    sgd_json *a = sgd_json_obj(j, "augmentation");
    sgd_json_int(a, "crop_pad", c->aug.crop_pad);
    sgd_json_bool(a, "flip", c->aug.flip);
    sgd_json_bool(a, "normalize", c->aug.normalize);
    if (c->aug.normalize) {
        sgd_json_nums(a, "mean", c->aug.mean, (size_t)c->train->c);
        sgd_json_nums(a, "std", c->aug.std, (size_t)c->train->c);
    }
    sgd_json_str(j, "bn", "batch statistics in training, running statistics (momentum 0.1) for validation");
    sgd_json_str(j, "loss", "mean softmax cross-entropy");
    sgd_json_bool(j, "save_every_x", c->save_every_x);
    sgd_json_bool(j, "initial_weights_given", c->x0 != NULL);
    if (c->m0) sgd_json_bool(j, "initial_momentum_given", 1);
    if (resumed_at >= 0) sgd_json_int(j, "resumed_at_epoch", resumed_at);
    char path[4400];
    int rc = sgd_rundir_file(&T->rd, "manifest.json", path, sizeof path);
    if (!rc) rc = sgd_json_write(j, path);
    sgd_json_free(j);
    return rc;
}

static int evaluate(trainer *T, sgd_data_loader *V, double *loss, double *acc)
{
    size_t nb = sgd_data_loader_batches(V), seen = 0, hits = 0;
    double ls = 0;
    for (size_t b = 0; b < nb; b++) {
        size_t cnt = 0, cor = 0;
        double l = 0;
        int rc = sgd_data_loader_batch(V, 0, b, T->xb, T->yb, &cnt);
        if (!rc) rc = sgd_net_run(T->net, T->x, T->buf, SGD_NN_EVAL, T->xb, T->yb, cnt, &l, NULL, &cor);
        if (rc) return rc;
        ls += l * (double)cnt;
        hits += cor;
        seen += cnt;
    }
    *loss = seen ? ls / (double)seen : NAN;
    *acc = seen ? (double)hits / (double)seen : NAN;
    return SGD_OK;
}

/* Check the checkpoint files of `epoch` against the sizes and CRC32s that
 * state.json recorded (checkpoints written before they were recorded pass). */
static int verify_checkpoint(const trainer *T, const sgd_json *st, int epoch, const char *dir)
{
    for (int k = 0; k < 3; k++) {
        char key[32], name[128], path[4400];
        double want_crc, want_size;
        snprintf(key, sizeof key, "crc32.%s", CKPT_KINDS[k]);
        if (sgd_json_get_num(st, key, &want_crc)) continue;
        snprintf(key, sizeof key, "bytes.%s", CKPT_KINDS[k]);
        if (sgd_json_get_num(st, key, &want_size)) want_size = -1;
        snprintf(name, sizeof name, "checkpoint/%s_%06d.npy", CKPT_KINDS[k], epoch);
        int prc = sgd_rundir_file(&T->rd, name, path, sizeof path);
        if (prc) return prc;
        unsigned long crc = 0;
        unsigned long long size = 0;
        const char *what = NULL;
        char detail[96] = "";
        if (file_crc(path, &crc, &size)) what = "is missing";
        else if (want_size >= 0 && (double)size != want_size) {
            what = (double)size < want_size ? "is truncated" : "has grown";
            snprintf(detail, sizeof detail, " (%llu bytes, state.json recorded %.0f)", size, want_size);
        } else if ((double)crc != want_crc) {
            what = "fails its CRC32 check";
            /* want_crc comes from the file: only a 32-bit integer converts */
            if (want_crc >= 0 && want_crc <= 4294967295.0 && want_crc == floor(want_crc))
                snprintf(detail, sizeof detail, " (0x%08lx, state.json recorded 0x%08lx)", crc,
                         (unsigned long)want_crc);
            else
                snprintf(detail, sizeof detail, " (0x%08lx, state.json recorded %g)", crc, want_crc);
        }
        if (what)
            return sgd_error(SGD_EFORMAT,
                             "--resume: checkpoint of epoch %d in %s is damaged: %s %s%s; refusing it (start "
                             "over without --resume)",
                             epoch, dir, name, what, detail);
    }
    return SGD_OK;
}

static int has_state(const char *d)
{
    char path[4400];
    struct stat st;
    snprintf(path, sizeof path, "%s/checkpoint/state.json", d);
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Where --resume continues: DIR.partial (a new run that was killed; renamed
 * to DIR when it ends) before DIR itself (a finished or failed run, written
 * in place). Refuses a directory without a checkpoint rather than starting
 * afresh, which would silently discard what the user asked to continue. */
static int open_resume(trainer *T, const char *dir)
{
    char fin[4096], part[4200];
    if (!dir || !*dir || strlen(dir) >= sizeof fin) return sgd_error(SGD_EINVAL, "--out: bad directory name");
    snprintf(fin, sizeof fin, "%s", dir);
    size_t n = strlen(fin);
    while (n > 1 && fin[n - 1] == '/') fin[--n] = '\0';
    snprintf(part, sizeof part, "%s.partial", fin);
    if (has_state(part)) {
        memset(&T->rd, 0, sizeof T->rd);
        snprintf(T->rd.final, sizeof T->rd.final, "%s", fin);
        snprintf(T->rd.path, sizeof T->rd.path, "%s", part);
        T->rd.resumable = 0;  /* committed (renamed to DIR) at the end */
        return SGD_OK;
    }
    if (has_state(fin) && !T->root) {   /* only reads it: rank 0 opens it */
        memset(&T->rd, 0, sizeof T->rd);
        snprintf(T->rd.final, sizeof T->rd.final, "%s", fin);
        snprintf(T->rd.path, sizeof T->rd.path, "%s", fin);
        return SGD_OK;
    }
    if (has_state(fin)) return sgd_rundir_open_inplace(&T->rd, fin);
    return sgd_error(SGD_EINVAL,
                     "--resume: no checkpoint in %s (no checkpoint/state.json there or in %s); run without "
                     "--resume to start a new run",
                     dir, part);
}

/* The state at the checkpoint --resume continues from: x, momentum, BN
 * buffers of its epoch, after checking model and files. *start: its epoch. */
static int load_resume(trainer *T, const char *dir, int *start)
{
    char path[4400], name[128], model[256] = "";
    int prc = sgd_rundir_file(&T->rd, "checkpoint/state.json", path, sizeof path);
    if (prc) return prc;
    sgd_json *st = sgd_json_load(path);
    if (!st) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", sgd_errmsg());
        return sgd_error(SGD_EFORMAT, "--resume: %s; refusing the checkpoint (start over without --resume)", msg);
    }
    double e = -1, pp = 0;
    int bad = sgd_json_get_num(st, "epoch", &e) || sgd_json_get_num(st, "parameters", &pp) ||
              sgd_json_get_str(st, "model", model, sizeof model) || !(e >= 0 && e <= 1e9);
    int rc = SGD_OK;
    if (bad)
        rc = sgd_error(SGD_EFORMAT, "--resume: %s lacks epoch, model or parameters; refusing the checkpoint", path);
    else if (strcmp(model, T->net->spec) || pp != (double)T->p)   /* compared as doubles: pp may be anything */
        rc = sgd_error(SGD_EINVAL, "--resume: %s holds a run of model '%s', not '%s'", dir, model, T->net->spec);
    else
        rc = verify_checkpoint(T, st, (int)e, dir);
    sgd_json_free(st);
    if (rc) return rc;
    *start = (int)e;
    snprintf(name, sizeof name, "checkpoint/x_%06d.npy", *start);
    if ((rc = load_vec(T, name, T->x, T->p))) return rc;
    if (T->m) {
        snprintf(name, sizeof name, "checkpoint/momentum_%06d.npy", *start);
        if ((rc = load_vec(T, name, T->m, T->p))) return rc;
    }
    snprintf(name, sizeof name, "checkpoint/buffers_%06d.npy", *start);
    return load_vec(T, name, T->buf, T->net->nbuf);
}

/* n elements of sz bytes (zeroed if zero), or NULL after an SGD_ENOMEM
 * message naming the buffer and its size (nothing is on disk yet). */
static void *talloc(size_t n, size_t sz, int zero, const char *what, int *rc)
{
    if (*rc) return NULL;
    void *p = n > SIZE_MAX / sz ? NULL : zero ? calloc(n ? n : 1, sz) : malloc(n ? n * sz : 1);
    if (!p) *rc = sgd_error(SGD_ENOMEM, "out of memory for %s: %.0f bytes", what, (double)n * (double)sz);
    return p;
}

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

/* The folders, CSV rows kept, layout and manifest of a run starting (or
 * resuming) at epoch start. */
static int write_start(trainer *T, int start, int resumed_at)
{
    char path[4400];
    int rc;
    if ((rc = sgd_rundir_file(&T->rd, "checkpoint", path, sizeof path)) || (rc = sgd_mkdirs(path))) return rc;
    if (T->c->save_every_x) {
        if ((rc = sgd_rundir_file(&T->rd, "x", path, sizeof path)) || (rc = sgd_mkdirs(path))) return rc;
    }
    csv_reload(T, start);
    if ((rc = sgd_rundir_file(&T->rd, "layout.json", path, sizeof path)) || (rc = sgd_net_write_layout(T->net, path)))
        return rc;
    return write_manifest(T, resumed_at);
}

int sgd_train_run(const sgd_train_config *c, const char *dir, int resume)
{
    if (!c || !c->train || !c->spec) return sgd_error(SGD_EINVAL, "train: missing model or data");
    if (c->epochs < 1 || c->batch < 1) return sgd_error(SGD_EINVAL, "train: epochs and batch must be >= 1");
    if (c->momentum < 0 || c->momentum >= 1 || c->weight_decay < 0)
        return sgd_error(SGD_EINVAL, "train: momentum must lie in [0, 1) and weight decay be >= 0");
    const sgd_dataset *D = c->train;
    if (c->val && (c->val->c != D->c || c->val->h != D->h || c->val->w != D->w))
        return sgd_error(SGD_EINVAL, "train: validation images differ in shape from training images");
    trainer T = {0};
    sgd_data_loader L = {0}, V = {0};
    int haveL = 0, haveV = 0, opened = 0;
    T.c = c;
    /* split: every rank of the job is here and trains every batch's share
     * (net_split.c); rank 0 alone writes */
    T.split = c->split && sgd_dist_size() > 1;
    T.root = !T.split || sgd_dist_rank() == 0;
    int classes = D->classes;
    if (c->val && c->val->classes > classes) classes = c->val->classes;
    T.net = sgd_net_create(c->spec, D->c, D->h, D->w, classes);
    if (!T.net) return SGD_EPARSE;
    T.p = T.net->p;
    T.net->split = T.split;
    /* checked against the network actually trained (its class count may
     * come from the validation split) */
    if (c->x0 && c->x0_count != T.p) {
        sgd_net_free(T.net);
        return sgd_error(SGD_EINVAL, "initial weights: %zu values, but model %s has %zu parameters", c->x0_count,
                         c->spec, T.p);
    }
    int rc = c->x0 ? sgd_net_check_finite(T.net, c->x0, 0, c->x0_name ? c->x0_name : "initial weights") : 0;
    if (!rc && c->m0 && !(c->momentum > 0))
        rc = sgd_error(SGD_EINVAL, "train: an initial momentum needs momentum > 0");
    if (!rc && c->m0) rc = sgd_net_check_finite(T.net, c->m0, 0, "the initial momentum");
    if (rc) {
        sgd_net_free(T.net);
        return rc;
    }
    /* Loaders, memory and the checkpoint to resume first: a bad option, a
     * batch too large for memory or a damaged checkpoint must not leave a
     * run directory (or empty folders) behind. */
    sgd_data_loader_opts lo = c->aug;
    lo.batch = c->batch;
    lo.seed = c->seed;
    lo.shuffle = 1;
    lo.drop_last = 0;
    if ((rc = sgd_data_loader_init(&L, D, &lo))) goto out;
    haveL = 1;
    size_t vb = c->batch > 256 ? c->batch : 256;
    if (c->val) {
        sgd_data_loader_opts vo = c->aug;
        vo.batch = vb;
        vo.shuffle = 0;
        vo.crop_pad = 0;
        vo.flip = 0;
        vo.seed = c->seed;
        if ((rc = sgd_data_loader_init(&V, c->val, &vo))) goto out;
        haveV = 1;
    }

    size_t per = (size_t)D->c * D->h * D->w;
    char what[160];
    T.x = talloc(T.p, sizeof(float), 0, "the weights x", &rc);
    T.g = talloc(T.p, sizeof(float), 0, "the gradient", &rc);
    T.m = c->momentum > 0 ? talloc(T.p, sizeof(float), 1, "the momentum", &rc) : NULL;
    T.buf = talloc(T.net->nbuf + 1, sizeof(float), 0, "the BN buffers", &rc);
    snprintf(what, sizeof what, "the input batch (%zu images of %dx%dx%d floats; lower --batch)", vb, D->c, D->h,
             D->w);
    T.xb = per > SIZE_MAX / vb ? NULL : talloc(vb * per, sizeof(float), 0, what, &rc);
    if (!T.xb && !rc) rc = sgd_error(SGD_ENOMEM, "out of memory for %s: the size overflows", what);
    T.yb = talloc(vb, sizeof(int32_t), 0, "the batch labels", &rc);
    /* the network's activations for the largest batch it will see */
    size_t nmax = min_size(c->batch, D->n);
    if (c->val && min_size(vb, c->val->n) > nmax) nmax = min_size(vb, c->val->n);
    if (rc || (rc = nn_reserve(T.net, nmax))) goto out;

    int start = 0, resumed_at = -1;
    char path[4400];
    if (resume) {
        if ((rc = open_resume(&T, dir)) || (rc = load_resume(&T, dir, &start))) goto out;
        opened = T.root;
        T.have_ckpt = 1;
        resumed_at = start;
    } else {
        if (T.root && (rc = sgd_rundir_open(&T.rd, dir))) goto out;
        opened = T.root;
        sgd_net_init(T.net, c->seed, T.x, T.buf);
        if (c->x0) memcpy(T.x, c->x0, sizeof(float) * T.p);
        if (c->buf0) memcpy(T.buf, c->buf0, sizeof(float) * T.net->nbuf);
        if (c->m0) memcpy(T.m, c->m0, sizeof(float) * T.p);
    }
    if (T.root && (rc = write_start(&T, start, resumed_at))) goto out;
    /* every rank has read the checkpoint before rank 0 writes the next */
    if (T.split && (rc = sgd_dist_agree(rc))) goto out;

    size_t nb = sgd_data_loader_batches(&L);
    sgd_progress pr;
    int quiet = c->quiet || !T.root;
    if (!quiet && !c->progress) sgd_progress_start(&pr, "train");
    double vl = NAN, va = NAN;
    for (int e = start; e < c->epochs; e++) {
        if (T.root) rc = checkpoint(&T, e);
        if (!rc && T.root && c->save_every_x) {
            char name[64];
            snprintf(name, sizeof name, "x/x_%04d.npy", e);
            rc = save_vec(&T, name, T.x, T.p);
        }
        if (!rc && c->stop && c->stop(c->stop_ctx))
            rc = sgd_error(SGD_EINVAL, "interrupted at epoch %d; the checkpoint in %s continues it (--resume)", e, dir);
        if (T.split) rc = sgd_dist_agree(rc);   /* a write that failed on rank 0 ends every rank */
        if (rc) goto out;
        double lr = sgd_lr_at(&c->lr, e), t0 = sgd_now(), ls = 0, gn = 0;
        size_t hits = 0, seen = 0;
        for (size_t b = 0; b < nb; b++) {
            size_t cnt = 0, cor = 0;
            double l = 0;
            if ((rc = sgd_data_loader_batch(&L, (uint64_t)e, b, T.xb, T.yb, &cnt))) goto out;
            if ((rc = sgd_net_run(T.net, T.x, T.buf, SGD_NN_TRAIN, T.xb, T.yb, cnt, &l, T.g, &cor)))
                goto out;
            double g2 = 0;
            for (size_t i = 0; i < T.p; i++) g2 += (double)T.g[i] * T.g[i];
            if (!isfinite(l) || !isfinite(g2)) {
                char where[64], tail[4400];
                snprintf(where, sizeof where, "epoch %d step %zu", e, b);
                snprintf(tail, sizeof tail, "; last good checkpoint: epoch %d in %s", e, dir);
                rc = nn_nonfinite(T.net, T.x, cnt, l, where, tail);
                goto out;
            }
            sgd_nn_sgd_step(T.x, T.g, T.m, T.p, lr, c->momentum, c->weight_decay);
            ls += l * (double)cnt;
            hits += cor;
            seen += cnt;
            gn += sqrt(g2);
            if (c->progress) c->progress(c->progress_ctx, (double)e * nb + b + 1, (double)c->epochs * nb);
            else if (!quiet) sgd_progress_update(&pr, (double)(e - start) * nb + b + 1, (double)(c->epochs - start) * nb);
        }
        double secs = sgd_now() - t0;
        if (haveV && (rc = evaluate(&T, &V, &vl, &va))) goto out;
        char line[512];
        snprintf(line, sizeof line, "%d,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.6g,%.6g\n", e, lr,
                 ls / (double)seen, (double)hits / (double)seen, vl, va, gn / (double)nb,
                 (double)seen / secs, secs);
        csv_add(&T, line);
        if (T.root && ((rc = sgd_rundir_file(&T.rd, "train.csv", path, sizeof path)) ||
                       (rc = sgd_write_file(path, T.csv, T.csv_n))))
            goto out;
    }
    if (!quiet && !c->progress) sgd_progress_end(&pr);
    if (!T.root) goto out;
    if ((rc = checkpoint(&T, c->epochs))) goto out;
    if ((rc = save_vec(&T, "x.npy", T.x, T.p))) goto out;
    if ((rc = save_vec(&T, "buffers.npy", T.buf, T.net->nbuf))) goto out;
    if ((rc = nn_train_figure(T.rd.path, T.csv))) goto out;
    {
        sgd_json *s = sgd_json_new();
        sgd_json_int(s, "epochs", c->epochs);
        sgd_json_num(s, "val_loss", vl);
        sgd_json_num(s, "val_acc", va);
        double xn = 0;
        for (size_t i = 0; i < T.p; i++) xn += (double)T.x[i] * T.x[i];
        sgd_json_num(s, "x_norm", sqrt(xn));
        rc = sgd_rundir_file(&T.rd, "summary.json", path, sizeof path);
        if (!rc) rc = sgd_json_write(s, path);
        sgd_json_free(s);
    }
out:
    if (opened) {
        if (!rc) rc = sgd_rundir_commit(&T.rd);
        else if (!T.have_ckpt) sgd_rundir_abort(&T.rd);  /* nothing worth keeping: no folders left behind */
        else {
            /* a failed run keeps its last checkpoint, in DIR, where the
             * message and --resume look for it */
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", sgd_errmsg());
            sgd_rundir_commit(&T.rd);
            sgd_error(rc, "%s", msg);
        }
    }
    if (haveL) sgd_data_loader_free(&L);
    if (haveV) sgd_data_loader_free(&V);
    free(T.x);
    free(T.g);
    free(T.m);
    free(T.buf);
    free(T.xb);
    free(T.yb);
    free(T.csv);
    sgd_net_free(T.net);
    return rc;
}
