/* Data-set containers: freeing, subsets, validation splits, statistics and
 * the spec-driven loader. */
#include "data_internal.h"
#include "sgdscape/error.h"
#include "sgdscape/rng.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void sgd_data_free(sgd_dataset *d)
{
    if (!d) return;
    free(d->u8);
    free(d->f32);
    free(d->labels);
    memset(d, 0, sizeof *d);
}

void sgd_data_truncate(sgd_dataset *d, size_t k)
{
    /* Keeping the buffers' tails allocated is harmless and avoids a copy. */
    if (k < d->n) d->n = k;
}

int sgd_data_take(const sgd_dataset *src, const size_t *idx, size_t m, sgd_dataset *out)
{
    for (size_t i = 0; i < m; i++)
        if (idx[i] >= src->n)
            return sgd_error(SGD_EINVAL, "%s: index %zu out of range (n = %zu)", src->name, idx[i], src->n);
    int rc = dat_alloc(out, m, src->c, src->h, src->w, src->storage, src->name);
    if (rc) return rc;
    out->classes = src->classes;
    size_t per = (size_t)src->c * src->h * src->w;
    for (size_t i = 0; i < m; i++) {
        out->labels[i] = src->labels[idx[i]];
        if (src->storage == SGD_DATA_U8) memcpy(out->u8 + i * per, src->u8 + idx[i] * per, per);
        else memcpy(out->f32 + i * per, src->f32 + idx[i] * per, per * sizeof(float));
    }
    return SGD_OK;
}

/* Fisher-Yates on the counter stream (seed, SHUFFLE, stream, step). */
static void permute(uint64_t seed, uint64_t stream, uint64_t step, size_t n, size_t *perm)
{
    for (size_t i = 0; i < n; i++) perm[i] = i;
    for (size_t i = n; i-- > 1;) {
        size_t j = (size_t)sgd_rng_below(seed, SGD_RNG_SHUFFLE, stream, step, (uint32_t)i, (uint64_t)i + 1);
        size_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

void sgd_data_shuffle(uint64_t seed, uint64_t epoch, size_t n, size_t *perm)
{
    permute(seed, 0, epoch, n, perm);
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

int sgd_data_split(const sgd_dataset *src, size_t v, int random, uint64_t seed, sgd_dataset *train,
                   sgd_dataset *val)
{
    if (train) memset(train, 0, sizeof *train);
    if (val) memset(val, 0, sizeof *val);
    if (v >= src->n)
        return sgd_error(SGD_EINVAL, "%s: validation size %zu leaves no training images (n = %zu)", src->name, v,
                         src->n);
    size_t *idx = malloc(src->n * sizeof *idx);
    if (!idx) return sgd_error(SGD_ENOMEM, "%s: out of memory", src->name);
    if (random) {
        /* Stream 1 keeps this apart from the per-epoch shuffles (stream 0). */
        permute(seed, 1, 0, src->n, idx);
        size_t nt = src->n - v;
        /* Sorted, so each part keeps the file's order. */
        qsort(idx, nt, sizeof *idx, cmp_size);
        qsort(idx + nt, v, sizeof *idx, cmp_size);
    } else {
        for (size_t i = 0; i < src->n; i++) idx[i] = i;
    }
    int rc = SGD_OK;
    if (train) rc = sgd_data_take(src, idx, src->n - v, train);
    if (!rc && val) rc = sgd_data_take(src, idx + (src->n - v), v, val);
    free(idx);
    if (rc) {
        if (train) sgd_data_free(train);
        if (val) sgd_data_free(val);
    }
    return rc;
}

int sgd_data_channel_stats(const sgd_dataset *d, double *mean, double *std)
{
    if (d->n == 0) return sgd_error(SGD_EINVAL, "%s: no images for statistics", d->name);
    size_t hw = (size_t)d->h * d->w;
    int C = d->c;
    /* Channels are independent; each is summed in a fixed order, so the
     * result does not depend on the thread count. */
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        double cnt = (double)d->n * (double)hw;
        if (d->storage == SGD_DATA_U8) {
            /* Integer sums are exact, whatever the order. */
            uint64_t s = 0, ss = 0;
            for (size_t i = 0; i < d->n; i++) {
                const uint8_t *p = d->u8 + (i * C + c) * hw;
                for (size_t k = 0; k < hw; k++) {
                    s += p[k];
                    ss += (uint64_t)p[k] * p[k];
                }
            }
            double m = (double)s / cnt;
            double var = (double)ss / cnt - m * m;
            mean[c] = m / 255.0;
            std[c] = sqrt(var > 0 ? var : 0) / 255.0;
        } else {
            /* Two passes: the textbook one-pass formula cancels badly for floats. */
            double s = 0, ss = 0;
            for (size_t i = 0; i < d->n; i++) {
                const float *p = d->f32 + (i * C + c) * hw;
                for (size_t k = 0; k < hw; k++) s += p[k];
            }
            double m = s / cnt;
            for (size_t i = 0; i < d->n; i++) {
                const float *p = d->f32 + (i * C + c) * hw;
                for (size_t k = 0; k < hw; k++) ss += (p[k] - m) * (p[k] - m);
            }
            mean[c] = m;
            std[c] = sqrt(ss / cnt);
        }
    }
    return SGD_OK;
}

/* ---- spec loader ------------------------------------------------------ */

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int dir_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* DIR/NAME.gz or DIR/NAME (either may be compressed: the reader looks at
 * the magic). */
static int find_file(const char *dir, const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s/%s.gz", dir, name);
    if (file_exists(out)) return SGD_OK;
    snprintf(out, n, "%s/%s", dir, name);
    if (file_exists(out)) return SGD_OK;
    return sgd_error(SGD_EIO, "%s/%s: no such file (nor %s.gz)", dir, name, name);
}

static int load_idx_dir(const char *dir, int test, const char *label, sgd_dataset *out)
{
    char ip[4200], lp[4200];
    if (!dir_exists(dir)) return sgd_error(SGD_EIO, "%s: no such directory (for %s)", dir, label);
    int rc = find_file(dir, test ? "t10k-images-idx3-ubyte" : "train-images-idx3-ubyte", ip, sizeof ip);
    if (!rc) rc = find_file(dir, test ? "t10k-labels-idx1-ubyte" : "train-labels-idx1-ubyte", lp, sizeof lp);
    if (!rc) rc = sgd_data_load_idx(ip, lp, out);
    if (rc) return rc;
    if (out->classes > 10) {
        sgd_data_free(out);
        return sgd_error(SGD_EFORMAT, "%s: label above 9 in a %s label file", lp, label);
    }
    out->classes = 10;
    return SGD_OK;
}

static int load_cifar_dir(const char *dir, int test, int c100, sgd_dataset *out)
{
    char base[4200], paths[6][4300];
    const char *pp[6];
    if (!dir_exists(dir)) return sgd_error(SGD_EIO, "%s: no such directory (for %s)", dir, c100 ? "cifar100" : "cifar10");
    /* Accept the directory the archive unpacks to, or its parent. */
    snprintf(base, sizeof base, "%s/%s", dir, c100 ? "cifar-100-binary" : "cifar-10-batches-bin");
    if (!dir_exists(base)) snprintf(base, sizeof base, "%s", dir);
    int np = 0;
    if (c100) snprintf(paths[np++], sizeof paths[0], "%s/%s", base, test ? "test.bin" : "train.bin");
    else if (test) snprintf(paths[np++], sizeof paths[0], "%s/test_batch.bin", base);
    else
        for (int k = 1; k <= 5; k++) snprintf(paths[np++], sizeof paths[0], "%s/data_batch_%d.bin", base, k);
    for (int k = 0; k < np; k++) pp[k] = paths[k];
    return sgd_data_load_cifar(pp, np, c100, out);
}

/* npy:X,y[,Xtest,ytest] */
static int load_npy_spec(const char *rest, int test, const sgd_data_opts *o, sgd_dataset *out)
{
    char buf[8192], *parts[4];
    if (strlen(rest) >= sizeof buf) return sgd_error(SGD_EPARSE, "npy spec too long");
    memcpy(buf, rest, strlen(rest) + 1);
    int np = 0;
    char *s = buf;
    for (;;) {
        char *comma = strchr(s, ',');
        if (np == 4) return sgd_error(SGD_EPARSE, "npy:%s: more than 4 files (X,y[,Xtest,ytest])", rest);
        parts[np++] = s;
        if (!comma) break;
        *comma = '\0';
        s = comma + 1;
    }
    for (int i = 0; i < np; i++)
        if (!parts[i][0]) return sgd_error(SGD_EPARSE, "npy:%s: empty file name", rest);
    if (np != 2 && np != 4) return sgd_error(SGD_EPARSE, "npy:%s: need X.npy,y.npy[,Xtest.npy,ytest.npy]", rest);
    if (test && np != 4) return sgd_error(SGD_EINVAL, "npy:%s: no test files given (X,y,Xtest,ytest)", rest);
    int k = test ? 2 : 0;
    int rc = sgd_data_load_npy(parts[k], parts[k + 1], o->layout, o->classes, out);
    if (!rc && out->classes < o->min_classes) {
        /* The loader infers classes from the largest label; a network cannot
         * be built for fewer than two, so say so here, naming the file. */
        int k1 = out->classes;
        sgd_data_free(out);
        if (k1 == 1)
            return sgd_error(SGD_EFORMAT, "labels in %s hold only one class (0); need at least %d classes",
                             parts[k + 1], o->min_classes);
        return sgd_error(SGD_EFORMAT, "labels in %s hold only %d classes (0..%d); need at least %d",
                         parts[k + 1], k1, k1 - 1, o->min_classes);
    }
    return rc;
}

/* The number of files in the list of "npy:A,B[,C,D]". */
static int npy_nfiles(const char *rest)
{
    int n = 1;
    for (const char *p = rest; *p; p++) n += *p == ',';
    return n;
}

int sgd_data_has_test(const char *spec)
{
    if (!spec) return 0;
    if (!strncmp(spec, "npy:", 4)) return npy_nfiles(spec + 4) == 4;
    return 1;
}

/* The whole training (or test) set named by spec, and its kind. */
static int load_full(const char *spec, int test, const sgd_data_opts *o, const char **kindp, sgd_dataset *out)
{
    const char *colon = strchr(spec, ':');
    size_t kl = colon ? (size_t)(colon - spec) : strlen(spec);
    const char *rest = colon ? colon + 1 : NULL;
    const char *kind;
    int rc;
#define IS(k) (kl == strlen(k) && !strncmp(spec, k, kl))
    if (IS("fashion-mnist")) {
        kind = "fashion-mnist";
        rc = load_idx_dir(rest && *rest ? rest : SGD_DATA_FASHION_MNIST_DIR, test, kind, out);
    } else if (IS("mnist")) {
        kind = "mnist";
        rc = load_idx_dir(rest && *rest ? rest : "/usr/share/datasets/mnist", test, kind, out);
    } else if (IS("cifar10") || IS("cifar100")) {
        int c100 = IS("cifar100");
        kind = c100 ? "cifar100" : "cifar10";
        if (!rest || !*rest) return sgd_error(SGD_EPARSE, "%s: needs a directory (%s:DIR)", spec, kind);
        rc = load_cifar_dir(rest, test, c100, out);
    } else if (IS("npy")) {
        kind = "npy";
        if (!rest || !*rest) return sgd_error(SGD_EPARSE, "%s: needs files (npy:X.npy,y.npy)", spec);
        rc = load_npy_spec(rest, test, o, out);
    } else {
        return sgd_error(SGD_EPARSE,
                         "%s: unknown data set (fashion-mnist[:DIR], mnist:DIR, cifar10:DIR, cifar100:DIR, "
                         "npy:X.npy,y.npy)",
                         spec);
    }
#undef IS
    *kindp = kind;
    return rc;
}

/* The name of a split: "KIND/train", "KIND/test" or "KIND/val". */
static void name_split(sgd_dataset *d, const char *kind, int split)
{
    snprintf(d->name, sizeof d->name, "%s/%s", kind,
             split == SGD_DATA_TRAIN ? "train" : split == SGD_DATA_TEST ? "test" : "val");
}

/* The training set named by spec with the validation set split off: its
 * training part (tr) and validation part (va), NULL for one not wanted,
 * each truncated to its subset (0: all) and named. */
static int load_split(const char *spec, const sgd_data_opts *o, sgd_dataset *tr, size_t tr_subset,
                      sgd_dataset *va, size_t va_subset)
{
    if (!o || o->val == 0)
        return sgd_error(SGD_EINVAL, "%s: validation split requested but its size is 0", spec);
    const char *kind;
    sgd_dataset full;
    memset(&full, 0, sizeof full);
    int rc = load_full(spec, 0, o, &kind, &full);
    if (rc) return rc;
    rc = sgd_data_split(&full, o->val, o->val_random, o->val_seed, tr, va);
    sgd_data_free(&full);
    if (rc) return rc;
    if (tr) {
        if (tr_subset) sgd_data_truncate(tr, tr_subset);
        name_split(tr, kind, SGD_DATA_TRAIN);
    }
    if (va) {
        if (va_subset) sgd_data_truncate(va, va_subset);
        name_split(va, kind, SGD_DATA_VAL);
    }
    return SGD_OK;
}

int sgd_data_load(const char *spec, int split, const sgd_data_opts *opt, sgd_dataset *out)
{
    sgd_data_opts zero;
    memset(&zero, 0, sizeof zero);
    const sgd_data_opts *o = opt ? opt : &zero;
    memset(out, 0, sizeof *out);
    if (split != SGD_DATA_TRAIN && split != SGD_DATA_TEST && split != SGD_DATA_VAL)
        return sgd_error(SGD_EINVAL, "%s: unknown split %d", spec, split);
    if (split == SGD_DATA_VAL || (split == SGD_DATA_TRAIN && o->val > 0))
        return load_split(spec, o, split == SGD_DATA_TRAIN ? out : NULL, o->subset,
                          split == SGD_DATA_VAL ? out : NULL, o->subset);
    int test = split == SGD_DATA_TEST;
    const char *kind;
    int rc = load_full(spec, test, o, &kind, out);
    if (rc) return rc;
    if (o->subset) sgd_data_truncate(out, o->subset);
    name_split(out, kind, split);
    return SGD_OK;
}

int sgd_data_load_train_val(const char *spec, const sgd_data_opts *opt, size_t val_subset, sgd_dataset *tr,
                            sgd_dataset *va)
{
    memset(tr, 0, sizeof *tr);
    memset(va, 0, sizeof *va);
    return load_split(spec, opt, tr, opt ? opt->subset : 0, va, val_subset);
}
